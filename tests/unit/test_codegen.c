/* Unit tests for codegen: every op through the JIT, optimized and reference
 * lowerings, against a plain C interpreter of the IR written here; object
 * emission for every target; a generated object linked into a C program. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codegen.h"
#include "ir.h"
#include "passes.h"

/* ---- building graphs ------------------------------------------------------ */

#define D(...) (int64_t[]){__VA_ARGS__}, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

typedef struct GB {
	Graph *g;
	Diag d;
	unsigned seed;
	int nnode;
} GB;

static unsigned rnd(unsigned *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

static double urand(unsigned *s, double lo, double hi) { return lo + (hi - lo) * (rnd(s) & 0xffffff) / 16777216.0; }

static GB gb_new(const char *name, unsigned seed)
{
	GB b = {.g = ir_graph_new(name), .seed = seed};
	ck_assert_ptr_nonnull(b.g);
	diag_init(&b.d);
	return b;
}

static void gb_free(GB *b)
{
	ir_graph_free(b->g);
	diag_free(&b->d);
}

static TypeId tyd(Graph *g, DType dt, const int64_t *dims, int rank) { return ir_type(g, dt, rank, dims, NULL); }

static ValueId gb_in(GB *b, DType dt, const int64_t *dims, int rank)
{
	char name[32];
	snprintf(name, sizeof name, "in%d", b->g->inputs.n);
	ValueId v = ir_add_input(b->g, name, ir_type(b->g, dt, rank, dims, NULL));
	ck_assert_int_ge(v, 0);
	return v;
}

/* Random elements of dt: floats in [lo, hi), integers small enough not to
 * overflow, never zero for divisors (nonzero). */
static void fill(unsigned *s, DType dt, void *p, int64_t n, double lo, double hi, bool nonzero)
{
	for (int64_t i = 0; i < n; i++) {
		double x = urand(s, lo, hi);
		int64_t k = (int64_t)floor(x);
		if (nonzero && k == 0)
			k = 3;
		switch (dt) {
		case DT_F32: ((float *)p)[i] = (float)x; break;
		case DT_F64: ((double *)p)[i] = x; break;
		case DT_I8: ((int8_t *)p)[i] = (int8_t)k; break;
		case DT_U8: ((uint8_t *)p)[i] = (uint8_t)(k < 0 ? -k : k); break;
		case DT_I16: ((int16_t *)p)[i] = (int16_t)k; break;
		case DT_U16: ((uint16_t *)p)[i] = (uint16_t)(k < 0 ? -k : k); break;
		case DT_I32: ((int32_t *)p)[i] = (int32_t)k; break;
		case DT_U32: ((uint32_t *)p)[i] = (uint32_t)(k < 0 ? -k : k); break;
		case DT_I64: ((int64_t *)p)[i] = k; break;
		case DT_U64: ((uint64_t *)p)[i] = (uint64_t)(k < 0 ? -k : k); break;
		default: ((uint8_t *)p)[i * ir_dtype_size(dt)] = (uint8_t)k; break;
		}
	}
}

static ValueId gb_const(GB *b, DType dt, const int64_t *dims, int rank)
{
	TypeId t = ir_type(b->g, dt, rank, dims, NULL);
	int64_t n = ir_type_numel(ir_type_get(b->g, t));
	void *data = calloc(n + 1, ir_dtype_size(dt));
	fill(&b->seed, dt, data, n, -1.5, 1.5, false);
	char name[32];
	snprintf(name, sizeof name, "w%d", b->g->values.n);
	ValueId v = ir_add_const(b->g, name, t, data);
	free(data);
	ck_assert_int_ge(v, 0);
	return v;
}

static ValueId gb_node(GB *b, Op op, const ValueId *in, int nin, const Attr *a, int na)
{
	char name[32];
	snprintf(name, sizeof name, "%s_%d", ir_ops[op].name, b->nnode++);
	NodeId n = ir_build(b->g, op, name, in, nin, a, na, name, &b->d);
	ck_assert_msg(n >= 0, "building %s: %s", name, b->d.nmsg ? b->d.msgs[b->d.nmsg - 1] : "?");
	return b->g->nodes.v[n].out;
}

static ValueId gb_out(GB *b, ValueId v)
{
	ck_assert(ir_mark_output(b->g, v));
	return v;
}

/* ---- the reference interpreter ------------------------------------------------ */

static double getf(DType dt, const void *p, int64_t i)
{
	return dt == DT_F64 ? ((const double *)p)[i] : ((const float *)p)[i];
}

static void setf(DType dt, void *p, int64_t i, double v)
{
	if (dt == DT_F64)
		((double *)p)[i] = v;
	else
		((float *)p)[i] = (float)v;
}

static int64_t geti(DType dt, const void *p, int64_t i)
{
	switch (dt) {
	case DT_I8: return ((const int8_t *)p)[i];
	case DT_U8: case DT_BOOL: return ((const uint8_t *)p)[i];
	case DT_I16: return ((const int16_t *)p)[i];
	case DT_U16: return ((const uint16_t *)p)[i];
	case DT_I32: return ((const int32_t *)p)[i];
	case DT_U32: return ((const uint32_t *)p)[i];
	case DT_I64: return ((const int64_t *)p)[i];
	case DT_U64: return (int64_t)((const uint64_t *)p)[i];
	default: ck_abort_msg("geti on %s", ir_dtype_name(dt));
	}
	return 0;
}

static void seti(DType dt, void *p, int64_t i, int64_t v)
{
	switch (dt) {
	case DT_I8: ((int8_t *)p)[i] = (int8_t)v; break;
	case DT_U8: case DT_BOOL: ((uint8_t *)p)[i] = (uint8_t)v; break;
	case DT_I16: ((int16_t *)p)[i] = (int16_t)v; break;
	case DT_U16: ((uint16_t *)p)[i] = (uint16_t)v; break;
	case DT_I32: ((int32_t *)p)[i] = (int32_t)v; break;
	case DT_U32: ((uint32_t *)p)[i] = (uint32_t)v; break;
	case DT_I64: ((int64_t *)p)[i] = v; break;
	case DT_U64: ((uint64_t *)p)[i] = (uint64_t)v; break;
	default: ck_abort_msg("seti on %s", ir_dtype_name(dt));
	}
}

/* Element offset in t for the output multi-index idx of rank r (numpy
 * broadcasting: t's dims align right, size-1 dims repeat). */
static int64_t bcast_off(const Type *t, int r, const int64_t *idx)
{
	int64_t off = 0;
	for (int i = 0; i < t->rank; i++) {
		int oi = i + (r - t->rank);
		int64_t k = t->dims[i] == 1 ? 0 : idx[oi];
		off = off * t->dims[i] + k;
	}
	return off;
}

static void unravel(const Type *t, int64_t flat, int64_t *idx)
{
	for (int i = t->rank - 1; i >= 0; i--) {
		idx[i] = t->dims[i] ? flat % t->dims[i] : 0;
		flat = t->dims[i] ? flat / t->dims[i] : 0;
	}
}

static double act(const Node *n, const char *kind, double x)
{
	if (!strcmp(kind, "relu"))
		return isnan(x) ? x : x < 0 ? 0 : x;
	if (!strcmp(kind, "leaky_relu"))
		return x < 0 ? x * ir_attr_float(n, n->op == OP_LEAKY_RELU ? "alpha" : "act_alpha", 0.01) : x;
	if (!strcmp(kind, "sigmoid"))
		return 1.0 / (1.0 + exp(-x));
	if (!strcmp(kind, "tanh"))
		return tanh(x);
	if (!strcmp(kind, "clip")) {
		bool fused = n->op != OP_CLIP;
		double lo = ir_attr_float(n, fused ? "act_min" : "min", -INFINITY);
		double hi = ir_attr_float(n, fused ? "act_max" : "max", INFINITY);
		return x < lo ? lo : x > hi ? hi : x;
	}
	return x;
}

typedef struct Geo2 {
	int64_t N, C, H, W, M, KH, KW, OH, OW, sh, sw, dh, dw, ph, pw, peh, pew;
} Geo2;

/* 1-D maps onto 2-D with H = 1. */
static Geo2 geo2(const Graph *g, const Node *n, const int64_t *kernel)
{
	const Type *x = ir_value_type(g, n->in[0]), *y = ir_value_type(g, n->out);
	int c, nsp = x->rank - 2;
	const int64_t *st = ir_attr_ints(n, "strides", &c), *pd = ir_attr_ints(n, "pads", &c),
		      *dl = ir_attr_ints(n, "dilations", &c);
	Geo2 o = {.N = x->dims[0], .C = x->dims[1], .M = y->dims[1], .H = 1, .OH = 1, .KH = 1, .sh = 1, .dh = 1};
	if (nsp == 2) {
		o.H = x->dims[2], o.OH = y->dims[2], o.KH = kernel[0], o.sh = st[0], o.dh = dl[0];
		o.ph = pd[0], o.peh = pd[2];
	}
	o.W = x->dims[x->rank - 1], o.OW = y->dims[y->rank - 1], o.KW = kernel[nsp - 1];
	o.sw = st[nsp - 1], o.dw = dl[nsp - 1], o.pw = pd[nsp - 1], o.pew = pd[2 * nsp - 1];
	return o;
}

static void eval_node(const Graph *g, const Node *n, void **buf)
{
	const Type *ty = ir_value_type(g, n->out);
	DType dt = ty->dt;
	int64_t numel = ir_type_numel(ty), idx[IR_MAX_RANK];
	void *y = buf[n->out];
	const void *x = buf[n->in[0]];
	const Type *tx = ir_value_type(g, n->in[0]);
	const char *fused = ir_attr_str(n, "act", "");
	switch (n->op) {
	case OP_CONV: {
		const Type *tw = ir_value_type(g, n->in[1]);
		int64_t k[2] = {tw->dims[2], tw->rank > 3 ? tw->dims[3] : 0};
		Geo2 o = geo2(g, n, tw->rank > 3 ? k : k);
		int64_t grp = ir_attr_int(n, "group", 1), Cg = o.C / grp, Mg = o.M / grp;
		const float *X = x, *W = buf[n->in[1]];
		const float *Bi = n->nin > 2 && n->in[2] >= 0 ? buf[n->in[2]] : NULL;
		const float *R = n->nin > 3 && n->in[3] >= 0 ? buf[n->in[3]] : NULL;
		float *Y = y;
		for (int64_t b = 0; b < o.N; b++)
			for (int64_t m = 0; m < o.M; m++)
				for (int64_t oh = 0; oh < o.OH; oh++)
					for (int64_t ow = 0; ow < o.OW; ow++) {
						double acc = Bi ? Bi[m] : 0;
						int64_t gr = m / Mg;
						for (int64_t c = 0; c < Cg; c++)
							for (int64_t kh = 0; kh < o.KH; kh++)
								for (int64_t kw = 0; kw < o.KW; kw++) {
									int64_t ih = oh * o.sh + kh * o.dh - o.ph, iw = ow * o.sw + kw * o.dw - o.pw;
									if (ih < 0 || ih >= o.H || iw < 0 || iw >= o.W)
										continue;
									acc += (double)X[((b * o.C + gr * Cg + c) * o.H + ih) * o.W + iw] *
									       W[((m * Cg + c) * o.KH + kh) * o.KW + kw];
								}
						int64_t yo = ((b * o.M + m) * o.OH + oh) * o.OW + ow;
						if (R)
							acc += R[yo];
						Y[yo] = (float)act(n, fused, (float)acc);
					}
		return;
	}
	case OP_GEMM: {
		const Type *ta = tx;
		bool tA = ir_attr_int(n, "trans_a", 0), tB = ir_attr_int(n, "trans_b", 0);
		double al = ir_attr_float(n, "alpha", 1), be = ir_attr_float(n, "beta", 1);
		int64_t M = ty->dims[0], N = ty->dims[1], K = tA ? ta->dims[0] : ta->dims[1];
		const float *A = x, *Bm = buf[n->in[1]], *C = n->nin > 2 && n->in[2] >= 0 ? buf[n->in[2]] : NULL;
		for (int64_t i = 0; i < M; i++)
			for (int64_t j = 0; j < N; j++) {
				double acc = 0;
				for (int64_t kk = 0; kk < K; kk++)
					acc += (double)A[tA ? kk * M + i : i * K + kk] * Bm[tB ? j * K + kk : kk * N + j];
				acc *= al;
				if (C) {
					int64_t ij[2] = {i, j};
					acc += be * C[bcast_off(ir_value_type(g, n->in[2]), 2, ij)];
				}
				((float *)y)[i * N + j] = (float)act(n, fused, acc);
			}
		return;
	}
	case OP_MATMUL: {
		const Type *ta = tx, *tb = ir_value_type(g, n->in[1]);
		int64_t K = ta->dims[ta->rank - 1];
		int64_t M = ta->rank >= 2 ? ta->dims[ta->rank - 2] : 1, N = tb->rank >= 2 ? tb->dims[tb->rank - 1] : 1;
		int rb = ty->rank - (ta->rank >= 2) - (tb->rank >= 2);
		Type bty = {.dt = dt, .rank = rb}, bta = {.dt = dt, .rank = ta->rank >= 2 ? ta->rank - 2 : 0},
		     btb = {.dt = dt, .rank = tb->rank >= 2 ? tb->rank - 2 : 0};
		memcpy(bty.dims, ty->dims, rb * sizeof(int64_t));
		memcpy(bta.dims, ta->dims, bta.rank * sizeof(int64_t));
		memcpy(btb.dims, tb->dims, btb.rank * sizeof(int64_t));
		const float *A = x, *Bm = buf[n->in[1]];
		int64_t nb = ir_type_numel(&bty);
		for (int64_t bi = 0; bi < nb; bi++) {
			unravel(&bty, bi, idx);
			const float *a = A + bcast_off(&bta, rb, idx) * M * K, *bm = Bm + bcast_off(&btb, rb, idx) * K * N;
			for (int64_t i = 0; i < M; i++)
				for (int64_t j = 0; j < N; j++) {
					double acc = 0;
					for (int64_t kk = 0; kk < K; kk++)
						acc += (double)a[i * K + kk] * bm[kk * N + j];
					((float *)y)[(bi * M + i) * N + j] = (float)act(n, fused, acc);
				}
		}
		return;
	}
	case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: {
		const Type *ta = tx, *tb = ir_value_type(g, n->in[1]);
		const void *bp = buf[n->in[1]];
		for (int64_t i = 0; i < numel; i++) {
			unravel(ty, i, idx);
			int64_t oa = bcast_off(ta, ty->rank, idx), ob = bcast_off(tb, ty->rank, idx);
			if (ir_dtype_is_float(dt)) {
				double a = getf(dt, x, oa), b = getf(dt, bp, ob);
				float fa = (float)a, fb = (float)b;
				double r = n->op == OP_ADD ? a + b : n->op == OP_SUB ? a - b : n->op == OP_MUL ? a * b : a / b;
				if (dt == DT_F32)  /* round like the f32 op does */
					r = n->op == OP_ADD ? fa + fb : n->op == OP_SUB ? fa - fb : n->op == OP_MUL ? fa * fb : fa / fb;
				setf(dt, y, i, r);
			} else {
				int64_t a = geti(dt, x, oa), b = geti(dt, bp, ob), r;
				if (n->op == OP_ADD) r = a + b;
				else if (n->op == OP_SUB) r = a - b;
				else if (n->op == OP_MUL) r = a * b;
				else r = b ? a / b : a;
				seti(dt, y, i, r);
			}
		}
		return;
	}
	case OP_RELU: case OP_LEAKY_RELU: case OP_SIGMOID: case OP_TANH: case OP_CLIP: {
		const char *k = n->op == OP_RELU ? "relu" : n->op == OP_LEAKY_RELU ? "leaky_relu" : n->op == OP_SIGMOID ? "sigmoid"
			      : n->op == OP_TANH ? "tanh" : "clip";
		for (int64_t i = 0; i < numel; i++)
			setf(dt, y, i, act(n, k, getf(dt, x, i)));
		return;
	}
	case OP_BATCHNORM: {
		int64_t C = ty->dims[1], inner = numel / (ty->dims[0] * C);
		double eps = ir_attr_float(n, "epsilon", 1e-5);
		const float *sc = buf[n->in[1]], *bi = buf[n->in[2]], *mu = buf[n->in[3]], *va = buf[n->in[4]];
		for (int64_t i = 0; i < numel; i++) {
			int64_t c = i / inner % C;
			double v = ((const float *)x)[i];
			((float *)y)[i] = (float)((v - mu[c]) / sqrt((double)va[c] + eps) * sc[c] + bi[c]);
		}
		return;
	}
	case OP_MAXPOOL: case OP_AVGPOOL: {
		int cnt;
		Geo2 o = geo2(g, n, ir_attr_ints(n, "kernel", &cnt));
		bool cip = ir_attr_int(n, "count_include_pad", 0);
		const float *X = x;
		for (int64_t p = 0; p < o.N * o.C; p++)
			for (int64_t oh = 0; oh < o.OH; oh++)
				for (int64_t ow = 0; ow < o.OW; ow++) {
					double acc = n->op == OP_MAXPOOL ? -INFINITY : 0, count = 0;
					for (int64_t kh = 0; kh < o.KH; kh++)
						for (int64_t kw = 0; kw < o.KW; kw++) {
							int64_t ih = oh * o.sh + kh * o.dh - o.ph, iw = ow * o.sw + kw * o.dw - o.pw;
							bool inpad = ih >= -o.ph && ih < o.H + o.peh && iw >= -o.pw && iw < o.W + o.pew;
							if (cip && inpad)
								count++;
							if (ih < 0 || ih >= o.H || iw < 0 || iw >= o.W)
								continue;
							double v = X[(p * o.H + ih) * o.W + iw];
							if (!cip)
								count++;
							if (n->op == OP_MAXPOOL)
								acc = v > acc || isnan(v) ? v : acc;
							else
								acc += v;
						}
					((float *)y)[(p * o.OH + oh) * o.OW + ow] = (float)(n->op == OP_MAXPOOL ? acc : acc / count);
				}
		return;
	}
	case OP_GLOBAL_AVGPOOL: {
		int64_t planes = tx->dims[0] * tx->dims[1], inner = ir_type_numel(tx) / planes;
		for (int64_t p = 0; p < planes; p++) {
			double s = 0;
			for (int64_t i = 0; i < inner; i++)
				s += ((const float *)x)[p * inner + i];
			((float *)y)[p] = (float)(s / inner);
		}
		return;
	}
	case OP_RESHAPE: case OP_IDENTITY:
		memcpy(y, x, ir_type_bytes(ty));
		return;
	case OP_TRANSPOSE: {
		int cnt, es = ir_dtype_size(dt);
		const int64_t *perm = ir_attr_ints(n, "perm", &cnt);
		for (int64_t i = 0; i < numel; i++) {
			unravel(ty, i, idx);
			int64_t xi[IR_MAX_RANK], off = 0;
			for (int d = 0; d < ty->rank; d++)
				xi[perm[d]] = idx[d];
			for (int d = 0; d < tx->rank; d++)
				off = off * tx->dims[d] + xi[d];
			memcpy((char *)y + i * es, (const char *)x + off * es, es);
		}
		return;
	}
	case OP_CONCAT: {
		int axis = (int)ir_attr_int(n, "axis", 0), es = ir_dtype_size(dt);
		for (int64_t i = 0; i < numel; i++) {
			unravel(ty, i, idx);
			int j = 0;
			while (idx[axis] >= ir_value_type(g, n->in[j])->dims[axis])
				idx[axis] -= ir_value_type(g, n->in[j++])->dims[axis];
			const Type *tj = ir_value_type(g, n->in[j]);
			int64_t off = 0;
			for (int d = 0; d < tj->rank; d++)
				off = off * tj->dims[d] + idx[d];
			memcpy((char *)y + i * es, (const char *)buf[n->in[j]] + off * es, es);
		}
		return;
	}
	case OP_SOFTMAX: {
		int axis = (int)ir_attr_int(n, "axis", 0);
		int64_t len = ty->dims[axis], inner = 1;
		for (int d = axis + 1; d < ty->rank; d++)
			inner *= ty->dims[d];
		for (int64_t o = 0; o < numel / (len * inner); o++)
			for (int64_t i = 0; i < inner; i++) {
				const float *xp = (const float *)x + o * len * inner + i;
				float *yp = (float *)y + o * len * inner + i;
				double mx = -INFINITY, s = 0;
				for (int64_t k = 0; k < len; k++)
					mx = xp[k * inner] > mx ? xp[k * inner] : mx;
				for (int64_t k = 0; k < len; k++)
					s += exp(xp[k * inner] - mx);
				for (int64_t k = 0; k < len; k++)
					yp[k * inner] = (float)(exp(xp[k * inner] - mx) / s);
			}
		return;
	}
	case OP_PAD: {
		int cnt, es = ir_dtype_size(dt);
		const int64_t *pads = ir_attr_ints(n, "pads", &cnt);
		double value = ir_attr_float(n, "value", 0);
		for (int64_t i = 0; i < numel; i++) {
			unravel(ty, i, idx);
			int64_t off = 0;
			bool inside = true;
			for (int d = 0; d < ty->rank; d++) {
				int64_t xi = idx[d] - pads[d];
				inside &= xi >= 0 && xi < tx->dims[d];
				off = off * tx->dims[d] + xi;
			}
			if (inside)
				memcpy((char *)y + i * es, (const char *)x + off * es, es);
			else if (ir_dtype_is_float(dt))
				setf(dt, y, i, value);
			else
				seti(dt, y, i, (int64_t)value);
		}
		return;
	}
	case OP_REDUCE_MEAN: case OP_REDUCE_SUM: case OP_REDUCE_MAX: case OP_REDUCE_MIN: {
		int cnt;
		const int64_t *axes = ir_attr_ints(n, "axes", &cnt);
		bool red[IR_MAX_RANK] = {0};
		for (int i = 0; i < cnt; i++)
			red[axes[i]] = true;
		double *acc = malloc((numel + 1) * sizeof *acc);
		int64_t count = ir_type_numel(tx) / (numel ? numel : 1);
		for (int64_t i = 0; i < numel; i++)
			acc[i] = n->op == OP_REDUCE_MAX ? -INFINITY : n->op == OP_REDUCE_MIN ? INFINITY : 0;
		for (int64_t i = 0; i < ir_type_numel(tx); i++) {
			unravel(tx, i, idx);
			int64_t o = 0;
			for (int d = 0; d < tx->rank; d++)
				if (!red[d])
					o = o * tx->dims[d] + idx[d];
			double v = ((const float *)x)[i];
			if (n->op == OP_REDUCE_MAX)
				acc[o] = v > acc[o] ? v : acc[o];
			else if (n->op == OP_REDUCE_MIN)
				acc[o] = v < acc[o] ? v : acc[o];
			else
				acc[o] += v;
		}
		for (int64_t i = 0; i < numel; i++)
			((float *)y)[i] = (float)(n->op == OP_REDUCE_MEAN ? acc[i] / count : acc[i]);
		free(acc);
		return;
	}
	default:
		ck_abort_msg("interpreter: no rule for %s", ir_ops[n->op].name);
	}
}

/* ---- running and comparing ------------------------------------------------------ */

typedef struct Run {
	void **in;        /* per graph input */
	void **out;       /* per graph output: the interpreter's results */
} Run;

static void *xalloc(int64_t bytes)
{
	void *p = aligned_alloc(64, (size_t)((bytes + 64) / 64 * 64));
	ck_assert_ptr_nonnull(p);
	return p;
}

/* Random inputs (seeded), then the interpreter over the whole graph. */
static Run interpret(Graph *g, unsigned seed, double lo, double hi, bool nonzero)
{
	void **buf = calloc(g->values.n, sizeof *buf);
	Run r = {calloc(g->inputs.n + 1, sizeof(void *)), calloc(g->outputs.n + 1, sizeof(void *))};
	for (int i = 0; i < g->values.n; i++) {
		const Value *v = &g->values.v[i];
		const Type *t = ir_type_get(g, v->type);
		buf[i] = xalloc(ir_type_bytes(t));
		if (v->kind == VAL_CONST)
			memcpy(buf[i], v->data, ir_type_bytes(t));
	}
	for (int i = 0; i < g->inputs.n; i++) {
		ValueId v = g->inputs.v[i];
		const Type *t = ir_value_type(g, v);
		fill(&seed, t->dt, buf[v], ir_type_numel(t), lo, hi, nonzero);
		r.in[i] = xalloc(ir_type_bytes(t));
		memcpy(r.in[i], buf[v], ir_type_bytes(t));
	}
	for (int i = 0; i < g->nodes.n; i++)
		if (!g->nodes.v[i].dead)
			eval_node(g, &g->nodes.v[i], buf);
	for (int i = 0; i < g->outputs.n; i++) {
		ValueId v = g->outputs.v[i];
		int64_t bytes = ir_type_bytes(ir_value_type(g, v));
		r.out[i] = xalloc(bytes);
		memcpy(r.out[i], buf[v], bytes);
	}
	for (int i = 0; i < g->values.n; i++)
		free(buf[i]);
	free(buf);
	return r;
}

static void run_free(Graph *g, Run *r)
{
	for (int i = 0; i < g->inputs.n; i++)
		free(r->in[i]);
	for (int i = 0; i < g->outputs.n; i++)
		free(r->out[i]);
	free(r->in);
	free(r->out);
}

static CgJit *jit(Graph *g, bool reference, int opt)
{
	Diag d;
	diag_init(&d);
	setenv("KILN_CG_REFERENCE", reference ? "1" : "0", 1);
	CgOptions o = {.name = "t", .opt_level = opt};
	CgJit *j = cg_jit_new(g, &o, &d);
	unsetenv("KILN_CG_REFERENCE");
	ck_assert_msg(j != NULL, "jit: %s", d.nmsg ? d.msgs[0] : "?");
	diag_free(&d);
	return j;
}

static void plan(Graph *g)
{
	Diag d;
	diag_init(&d);
	PassCtx cx = {.diag = &d, .ws_align = 64};
	ck_assert_msg(pass_ensure_plan(g, &cx), "plan: %s", d.nmsg ? d.msgs[0] : "?");
	diag_free(&d);
}

/* Compare a generated result with the interpreter's: floats within
 * tol*(1 + |ref|) (NaN where NaN), integers exactly. */
static void compare(const Graph *g, ValueId v, const void *got, const void *want, double tol, const char *what)
{
	const Type *t = ir_value_type(g, v);
	int64_t n = ir_type_numel(t);
	for (int64_t i = 0; i < n; i++) {
		if (ir_dtype_is_float(t->dt)) {
			double a = getf(t->dt, got, i), b = getf(t->dt, want, i);
			bool ok = isnan(b) ? isnan(a) : fabs(a - b) <= tol * (1 + fabs(b));
			ck_assert_msg(ok, "%s: %s[%lld] = %.9g, want %.9g", what, g->values.v[v].name, (long long)i, a, b);
		} else {
			int64_t a = geti(t->dt, got, i), b = geti(t->dt, want, i);
			ck_assert_msg(a == b, "%s: %s[%lld] = %lld, want %lld", what, g->values.v[v].name, (long long)i,
				      (long long)a, (long long)b);
		}
	}
}

/* Plan the graph, interpret it, then run it through the JIT with the
 * optimized and the reference lowerings.  Output buffers and workspace
 * start as garbage (all-ones bytes: NaN for floats) so unwritten elements
 * and reads of unwritten workspace show. */
static void check_graph_in(Graph *g, double tol, double lo, double hi, bool nonzero)
{
	plan(g);
	Run r = interpret(g, 1234, lo, hi, nonzero);
	for (int ref = 0; ref < 2; ref++) {
		CgJit *j = jit(g, ref, 3);
		void *ws = xalloc(g->ws_size ? g->ws_size : 1);
		memset(ws, 0xff, g->ws_size ? g->ws_size : 1);
		void **out = calloc(g->outputs.n + 1, sizeof *out);
		for (int i = 0; i < g->outputs.n; i++) {
			int64_t bytes = ir_type_bytes(ir_value_type(g, g->outputs.v[i]));
			out[i] = xalloc(bytes);
			memset(out[i], 0xff, bytes);
		}
		ck_assert_int_eq(cg_jit_fn(j)((const void *const *)r.in, out, ws), 0);
		for (int i = 0; i < g->outputs.n; i++)
			compare(g, g->outputs.v[i], out[i], r.out[i], tol, ref ? "reference" : "optimized");
		/* A second run with the same workspace gives the same results. */
		ck_assert_int_eq(cg_jit_fn(j)((const void *const *)r.in, out, ws), 0);
		for (int i = 0; i < g->outputs.n; i++)
			compare(g, g->outputs.v[i], out[i], r.out[i], tol, ref ? "reference (again)" : "optimized (again)");
		for (int i = 0; i < g->outputs.n; i++)
			free(out[i]);
		free(out);
		free(ws);
		cg_jit_free(j);
	}
	run_free(g, &r);
}

static void check_graph(Graph *g) { check_graph_in(g, 1e-4, -2, 2, false); }

/* ---- attribute helpers ------------------------------------------------------------ */

typedef struct ConvCfg {
	int64_t N, C, H, W, M, KH, KW, sh, sw, pt, pl, pb, pr, dh, dw, group;
	bool bias, residual, wrun;  /* wrun: weights are a runtime input */
	const char *act;
	bool oned;       /* 1-D: uses W, KW, sw, pl, pr, dw only */
} ConvCfg;

static void conv_case(const ConvCfg *k, unsigned seed)
{
	GB b = gb_new("conv", seed);
	ValueId x, w, in[4];
	int nin = 2;
	Attr a[8];
	int na = 0;
	/* Attribute arrays live until ir_build copies them. */
	int64_t st1[] = {k->sw}, pd1[] = {k->pl, k->pr}, dl1[] = {k->dw};
	int64_t st[] = {k->sh, k->sw}, pd[] = {k->pt, k->pl, k->pb, k->pr}, dl[] = {k->dh, k->dw};
	if (k->oned) {
		x = gb_in(&b, DT_F32, D(k->N, k->C, k->W));
		w = !k->wrun ? gb_const(&b, DT_F32, D(k->M, k->C / k->group, k->KW))
			      : gb_in(&b, DT_F32, D(k->M, k->C / k->group, k->KW));
		a[na++] = ir_aints("strides", st1, 1);
		a[na++] = ir_aints("pads", pd1, 2);
		a[na++] = ir_aints("dilations", dl1, 1);
	} else {
		x = gb_in(&b, DT_F32, D(k->N, k->C, k->H, k->W));
		w = !k->wrun ? gb_const(&b, DT_F32, D(k->M, k->C / k->group, k->KH, k->KW))
			      : gb_in(&b, DT_F32, D(k->M, k->C / k->group, k->KH, k->KW));
		a[na++] = ir_aints("strides", st, 2);
		a[na++] = ir_aints("pads", pd, 4);
		a[na++] = ir_aints("dilations", dl, 2);
	}
	a[na++] = ir_ai("group", k->group);
	if (k->act) {
		a[na++] = ir_astr("act", k->act);
		a[na++] = ir_af("act_alpha", 0.125);
		if (!strcmp(k->act, "clip")) {
			a[na++] = ir_af("act_min", -0.5);
			a[na++] = ir_af("act_max", 0.75);
		}
	}
	in[0] = x;
	in[1] = w;
	if (k->bias || k->residual)
		in[nin++] = k->bias ? gb_const(&b, DT_F32, D(k->M)) : -1;
	if (k->residual) {
		/* The residual's shape is the result's: infer it from a plain conv. */
		TypeId t = ir_infer_type(b.g, OP_CONV, "probe", in, 2, a, 4, &b.d);
		ck_assert_int_ge(t, 0);
		const Type *ty = ir_type_get(b.g, t);
		in[nin++] = ir_add_input(b.g, "res", t);
		(void)ty;
	}
	gb_out(&b, gb_node(&b, OP_CONV, in, nin, a, na));
	check_graph(b.g);
	gb_free(&b);
}

static const ConvCfg convs[] = {
	/* N  C  H   W   M  KH KW sh sw pt pl pb pr dh dw grp */
	{1, 3, 7, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},                      /* plain 3x3 */
	{2, 4, 11, 13, 17, 3, 5, 2, 2, 0, 2, 1, 0, 1, 1, 1, true},                  /* stride 2, odd M, asymmetric pads */
	{1, 6, 9, 10, 9, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 3, false},                   /* dilation 2, groups 3, no bias */
	{1, 8, 10, 9, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 8, true},                    /* depthwise */
	{1, 7, 12, 11, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 7, true, .act = "relu"},    /* depthwise stride 2, fused */
	{1, 5, 9, 9, 5, 5, 5, 1, 1, 2, 2, 2, 2, 2, 1, 5, true},                     /* depthwise 5x5 dilated in H */
	{1, 4, 6, 7, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, true},                    /* channel multiplier 3 */
	{1, 37, 5, 7, 19, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, true},                   /* 1x1 */
	{1, 16, 9, 9, 40, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, true},                   /* 1x1 stride 2 */
	{2, 32, 8, 8, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, .act = "relu"}, /* residual + relu */
	{1, 3, 1, 1, 4, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, true},                     /* 1x1 image */
	{1, 2, 2, 3, 3, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1, true},                     /* kernel larger than the input */
	{1, 3, 23, 29, 16, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1, true},                  /* ResNet stem shape, smaller */
	{1, 5, 6, 6, 6, 3, 3, 3, 2, 0, 1, 2, 0, 1, 1, 1, true, .act = "clip"},
	{1, 5, 6, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, .act = "leaky_relu"},
	{1, 5, 6, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, .act = "sigmoid"},
	{1, 5, 6, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, false, true, .act = "tanh"}, /* residual, no bias */
	{1, 4, 5, 6, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, .wrun = true},       /* runtime weights */
	{2, 5, 1, 23, 7, 1, 4, 1, 3, 0, 2, 0, 1, 1, 2, 1, true, .oned = true},      /* 1-D */
	{1, 6, 1, 17, 6, 1, 3, 1, 1, 0, 1, 0, 1, 1, 1, 6, true, .oned = true},      /* 1-D depthwise */
	{1, 64, 14, 14, 72, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, .act = "relu"},  /* bigger */
	{1, 24, 10, 10, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 24, false, true, .act = "relu"}, /* depthwise + residual */
	{1, 3, 4, 50, 33, 1, 3, 1, 1, 0, 1, 0, 1, 1, 1, 1, true},                   /* long rows: many tiles */
};

START_TEST(conv_ops)
{
	conv_case(&convs[_i], 100 + _i);
}
END_TEST

/* ---- matrix products --------------------------------------------------------------- */

static void gemm_case(int64_t M, int64_t K, int64_t N, bool tA, bool tB, double alpha, double beta, int crank,
		      bool bconst, const char *actk, unsigned seed)
{
	GB b = gb_new("gemm", seed);
	ValueId in[3];
	in[0] = tA ? gb_in(&b, DT_F32, D(K, M)) : gb_in(&b, DT_F32, D(M, K));
	in[1] = bconst ? (tB ? gb_const(&b, DT_F32, D(N, K)) : gb_const(&b, DT_F32, D(K, N)))
		       : (tB ? gb_in(&b, DT_F32, D(N, K)) : gb_in(&b, DT_F32, D(K, N)));
	int nin = 2;
	if (crank == 1)
		in[nin++] = gb_const(&b, DT_F32, D(N));
	else if (crank == 2)
		in[nin++] = gb_in(&b, DT_F32, D(M, N));
	else if (crank == 3)  /* a column: [M,1] */
		in[nin++] = gb_const(&b, DT_F32, D(M, 1));
	Attr a[6] = {ir_af("alpha", alpha), ir_af("beta", beta), ir_ai("trans_a", tA), ir_ai("trans_b", tB)};
	int na = 4;
	if (actk)
		a[na++] = ir_astr("act", actk);
	gb_out(&b, gb_node(&b, OP_GEMM, in, nin, a, na));
	check_graph(b.g);
	gb_free(&b);
}

START_TEST(gemm_ops)
{
	gemm_case(1, 512, 10, false, true, 1, 1, 1, true, NULL, 1);      /* GEMV, classifier head */
	gemm_case(1, 64, 1000, false, true, 1, 1, 1, true, "relu", 2);
	gemm_case(7, 13, 33, false, false, 0.5, 2, 2, true, NULL, 3);
	gemm_case(5, 3, 17, true, true, 1.5, 1, 3, true, NULL, 4);
	gemm_case(9, 31, 16, true, false, 1, 0, 2, true, NULL, 5);       /* beta 0 ignores C */
	gemm_case(6, 11, 5, false, false, 1, 1, 1, false, NULL, 6);      /* runtime B */
	gemm_case(4, 8, 32, false, true, 1, 1, 0, true, "sigmoid", 7);
	gemm_case(13, 1, 3, false, false, 1, 1, 2, true, NULL, 8);       /* K = 1 */
}
END_TEST

static void matmul_case(const int64_t *ad, int ar, const int64_t *bd, int br, bool bconst, unsigned seed)
{
	GB b = gb_new("matmul", seed);
	ValueId in[2] = {gb_in(&b, DT_F32, ad, ar), bconst ? gb_const(&b, DT_F32, bd, br) : gb_in(&b, DT_F32, bd, br)};
	gb_out(&b, gb_node(&b, OP_MATMUL, in, 2, NULL, 0));
	check_graph(b.g);
	gb_free(&b);
}

START_TEST(matmul_ops)
{
	matmul_case(D(3, 5), D(5, 7), true, 1);
	matmul_case(D(3, 5), D(5, 7), false, 2);
	matmul_case(D(5), D(5, 7), true, 3);                /* rank-1 A */
	matmul_case(D(4, 5), D(5), false, 4);               /* rank-1 B */
	matmul_case(D(5), D(5), false, 5);                  /* dot product: a scalar */
	matmul_case(D(2, 3, 4, 5), D(5, 19), true, 6);      /* batch of A, one constant B */
	matmul_case(D(2, 1, 4, 5), D(3, 5, 2), false, 7);   /* broadcast batches */
	matmul_case(D(3, 4, 5), D(3, 5, 6), true, 8);       /* constant batched B */
	matmul_case(D(1, 130), D(130, 70), true, 9);
}
END_TEST

/* ---- elementwise --------------------------------------------------------------------- */

static void binary_case(Op op, DType dt, const int64_t *ad, int ar, const int64_t *bd, int br, bool bconst,
			unsigned seed)
{
	GB b = gb_new("binary", seed);
	ValueId in[2] = {gb_in(&b, dt, ad, ar), bconst ? gb_const(&b, dt, bd, br) : gb_in(&b, dt, bd, br)};
	if (bconst && op == OP_DIV && !ir_dtype_is_float(dt)) {
		/* Nonzero integer divisors. */
		Value *v = ir_value(b.g, in[1]);
		int64_t nb = ir_type_numel(ir_value_type(b.g, in[1]));
		unsigned s = seed;
		fill(&s, dt, (void *)v->data, nb, -9, 9, true);
	}
	gb_out(&b, gb_node(&b, op, in, 2, NULL, 0));
	check_graph_in(b.g, 1e-5, -30, 30, true);
	gb_free(&b);
}

START_TEST(binary_ops)
{
	static const Op ops[] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV};
	static const DType dts[] = {DT_F32, DT_I32, DT_I64, DT_I8, DT_U8, DT_I16, DT_U16, DT_U32, DT_U64, DT_F64};
	for (int o = 0; o < 4; o++) {
		binary_case(ops[o], DT_F32, D(2, 3, 4, 5), D(3, 1, 5), false, 10 + o);
		binary_case(ops[o], DT_F32, D(4, 1), D(1, 5), true, 20 + o);
		binary_case(ops[o], DT_F32, D(7, 3), NULL, 0, true, 30 + o);   /* scalar constant */
		binary_case(ops[o], DT_F32, D(1), D(2, 1, 3), false, 40 + o);
		binary_case(ops[o], DT_F32, D(1, 64, 7, 7), D(64, 1, 1), true, 45 + o);  /* per-channel */
		for (size_t k = 1; k < sizeof dts / sizeof dts[0]; k++) {
			binary_case(ops[o], dts[k], D(3, 5), D(3, 5), false, 50 + o * 10 + k);
			binary_case(ops[o], dts[k], D(2, 3, 1), D(4), true, 90 + o * 10 + k);
		}
	}
}
END_TEST

static void unary_case(Op op, const Attr *a, int na, const int64_t *d, int r, double lo, double hi, double tol)
{
	GB b = gb_new("unary", 7);
	ValueId x = gb_in(&b, DT_F32, d, r);
	gb_out(&b, gb_node(&b, op, &x, 1, a, na));
	check_graph_in(b.g, tol, lo, hi, false);
	gb_free(&b);
}

START_TEST(unary_ops)
{
	Attr leaky = ir_af("alpha", 0.2);
	Attr clip[2] = {ir_af("min", -1.25), ir_af("max", 3)};
	Attr clip_lo[2] = {ir_af("min", 0), ir_af("max", INFINITY)};
	unary_case(OP_RELU, NULL, 0, D(3, 37), -5, 5, 0);
	unary_case(OP_LEAKY_RELU, &leaky, 1, D(2, 3, 11), -5, 5, 1e-7);
	unary_case(OP_CLIP, clip, 2, D(101), -5, 5, 0);
	unary_case(OP_CLIP, clip_lo, 2, D(5, 5), -5, 5, 0);
	unary_case(OP_SIGMOID, NULL, 0, D(4, 129), -20, 20, 1e-6);
	unary_case(OP_TANH, NULL, 0, D(4, 129), -12, 12, 1e-6);
	unary_case(OP_TANH, NULL, 0, D(301), -0.4, 0.4, 1e-6);
	unary_case(OP_IDENTITY, NULL, 0, D(3, 4), -5, 5, 0);
}
END_TEST

/* exp, sigmoid and tanh are inline polynomials: relative error against
 * libm in double stays under 1e-5 (plus a tiny absolute floor) over a
 * sweep, at both lowerings; NaN propagates. */
START_TEST(math_accuracy)
{
	enum { NPTS = 4001 };
	static const Op ops[] = {OP_SIGMOID, OP_TANH, OP_SOFTMAX};
	for (int o = 0; o < 3; o++) {
		GB b = gb_new("math", 1);
		ValueId x = o == 2 ? gb_in(&b, DT_F32, D(NPTS, 2)) : gb_in(&b, DT_F32, D(NPTS));
		Attr ax = ir_ai("axis", 1);
		gb_out(&b, gb_node(&b, ops[o], &x, 1, &ax, o == 2));
		plan(b.g);
		float *in = xalloc(NPTS * 2 * sizeof(float)), *out = xalloc(NPTS * 2 * sizeof(float));
		for (int i = 0; i < NPTS; i++) {
			double t = -30 + 60.0 * i / (NPTS - 1);
			if (o < 2)
				in[i] = (float)t;
			/* softmax of (0, t) = (1/(1+e^t), e^t/(1+e^t)): exercises exp to +-88 */
			if (o == 2) {
				in[2 * i] = 0;
				in[2 * i + 1] = (float)(t * 2.9);
			}
		}
		if (o < 2) {
			in[0] = NAN;
			in[1] = INFINITY;
			in[2] = -INFINITY;
			in[3] = 1e-30f;
			in[4] = -0.0f;
			in[5] = 100;
			in[6] = -100;
		}
		for (int ref = 0; ref < 2; ref++) {
			CgJit *j = jit(b.g, ref, 3);
			const void *ins[1] = {in};
			void *outs[1] = {out};
			void *ws = xalloc(b.g->ws_size + 1);
			ck_assert_int_eq(cg_jit_fn(j)(ins, outs, ws), 0);
			for (int i = 0; i < NPTS * (o == 2 ? 2 : 1); i++) {
				double xv = in[i], want;
				if (o == 0)
					want = 1 / (1 + exp(-xv));
				else if (o == 1)
					want = tanh(xv);
				else {
					double t = in[i | 1];
					want = (i & 1) ? 1 / (1 + exp(-t)) : 1 / (1 + exp(t));
				}
				if (isnan(want)) {
					ck_assert_msg(isnan(out[i]), "op %d: f(NaN) = %g", o, out[i]);
					continue;
				}
				double err = fabs(out[i] - want);
				ck_assert_msg(err <= 1e-5 * fabs(want) + 1e-37, "op %d ref %d: f(%.9g) = %.9g, want %.9g", o, ref,
					      xv, out[i], want);
			}
			free(ws);
			cg_jit_free(j);
		}
		free(in);
		free(out);
		gb_free(&b);
	}
}
END_TEST

/* ---- normalization, pooling, reductions ---------------------------------------------- */

START_TEST(batchnorm_ops)
{
	for (int k = 0; k < 4; k++) {
		GB b = gb_new("bn", 40 + k);
		const int64_t *dims = k == 0 ? (int64_t[]){2, 5, 3, 7} : k == 1 ? (int64_t[]){3, 9} : (int64_t[]){1, 6, 11};
		int rank = k == 0 ? 4 : k == 1 ? 2 : 3;
		int64_t C = dims[1];
		ValueId in[5] = {gb_in(&b, DT_F32, dims, rank)};
		for (int i = 1; i < 5; i++)
			in[i] = k == 3 ? gb_in(&b, DT_F32, &C, 1) : gb_const(&b, DT_F32, &C, 1);
		/* Variances must be positive. */
		if (k != 3) {
			float *var = (float *)ir_value(b.g, in[4])->data;
			for (int i = 0; i < C; i++)
				var[i] = fabsf(var[i]) + 0.1f;
		}
		Attr eps = ir_af("epsilon", (double)1e-3f);
		gb_out(&b, gb_node(&b, OP_BATCHNORM, in, 5, &eps, 1));
		if (k == 3)  /* runtime variance in [0.5, 2) */
			check_graph_in(b.g, 1e-4, 0.5, 2, false);
		else
			check_graph(b.g);
		gb_free(&b);
	}
}
END_TEST

typedef struct PoolCfg {
	Op op;
	int64_t N, C, H, W, KH, KW, sh, sw, pt, pl, pb, pr, dh, dw, ceil, cip;
	bool oned;
} PoolCfg;

static const PoolCfg pools[] = {
	{OP_MAXPOOL, 1, 3, 12, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0},   /* ResNet */
	{OP_MAXPOOL, 2, 2, 9, 10, 2, 3, 2, 2, 0, 1, 1, 2, 1, 1, 1},   /* ceil, asymmetric */
	{OP_MAXPOOL, 1, 4, 11, 9, 3, 2, 1, 2, 2, 0, 2, 1, 2, 3, 0},   /* dilation */
	{OP_AVGPOOL, 1, 3, 8, 9, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0},
	{OP_AVGPOOL, 1, 3, 8, 9, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 1},
	{OP_AVGPOOL, 2, 3, 7, 7, 2, 2, 2, 2, 0, 0, 1, 1, 1, 1, 1, 1},  /* ceil + count_include_pad */
	{OP_AVGPOOL, 1, 5, 10, 10, 3, 3, 3, 3, 0, 0, 0, 0, 1, 1, 1, 0}, /* ceil, window past the end */
	{OP_AVGPOOL, 1, 2, 1, 15, 1, 4, 1, 3, 0, 1, 0, 2, 1, 1, 1, 1, true},
	{OP_MAXPOOL, 1, 2, 1, 15, 1, 3, 1, 2, 0, 1, 0, 1, 1, 2, 0, 0, true},
};

START_TEST(pool_ops)
{
	const PoolCfg *p = &pools[_i];
	GB b = gb_new("pool", 60 + _i);
	Attr a[6];
	ValueId x;
	int64_t k1[] = {p->KW}, st1[] = {p->sw}, pd1[] = {p->pl, p->pr}, dl1[] = {p->dw};
	int64_t k[] = {p->KH, p->KW}, st[] = {p->sh, p->sw}, pd[] = {p->pt, p->pl, p->pb, p->pr}, dl[] = {p->dh, p->dw};
	if (p->oned) {
		x = gb_in(&b, DT_F32, D(p->N, p->C, p->W));
		a[0] = ir_aints("kernel", k1, 1), a[1] = ir_aints("strides", st1, 1), a[2] = ir_aints("pads", pd1, 2);
		a[3] = ir_aints("dilations", dl1, 1);
	} else {
		x = gb_in(&b, DT_F32, D(p->N, p->C, p->H, p->W));
		a[0] = ir_aints("kernel", k, 2), a[1] = ir_aints("strides", st, 2), a[2] = ir_aints("pads", pd, 4);
		a[3] = ir_aints("dilations", dl, 2);
	}
	a[4] = ir_ai("ceil_mode", p->ceil);
	a[5] = ir_ai("count_include_pad", p->cip);
	gb_out(&b, gb_node(&b, p->op, &x, 1, a, p->op == OP_AVGPOOL ? 6 : 5));
	check_graph(b.g);
	gb_free(&b);
}
END_TEST

START_TEST(global_pool_and_reduce_ops)
{
	{
		GB b = gb_new("gap", 1);
		ValueId x = gb_in(&b, DT_F32, D(2, 13, 7, 5));
		gb_out(&b, gb_node(&b, OP_GLOBAL_AVGPOOL, &x, 1, NULL, 0));
		ValueId x1 = gb_in(&b, DT_F32, D(1, 3, 17));
		gb_out(&b, gb_node(&b, OP_GLOBAL_AVGPOOL, &x1, 1, NULL, 0));
		check_graph(b.g);
		gb_free(&b);
	}
	static const Op rops[] = {OP_REDUCE_MEAN, OP_REDUCE_SUM, OP_REDUCE_MAX, OP_REDUCE_MIN};
	for (int o = 0; o < 4; o++)
		for (int k = 0; k < 4; k++) {
			GB b = gb_new("reduce", 10 * o + k);
			ValueId x = gb_in(&b, DT_F32, D(2, 5, 3, 7));
			int64_t ax[4][4] = {{1}, {0, 2}, {2, 3}, {0, 1, 2, 3}};
			int nax[4] = {1, 2, 2, 4};
			Attr a[2] = {ir_aints("axes", ax[k], nax[k]), ir_ai("keepdims", k & 1)};
			gb_out(&b, gb_node(&b, rops[o], &x, 1, a, 2));
			check_graph(b.g);
			gb_free(&b);
		}
}
END_TEST

START_TEST(softmax_ops)
{
	for (int k = 0; k < 4; k++) {
		GB b = gb_new("softmax", k);
		ValueId x = k == 3 ? gb_in(&b, DT_F32, D(1, 1000)) : gb_in(&b, DT_F32, D(3, 5, 7));
		Attr a = ir_ai("axis", k == 3 ? 1 : k);
		gb_out(&b, gb_node(&b, OP_SOFTMAX, &x, 1, &a, 1));
		check_graph_in(b.g, 1e-5, -40, 40, false);
		gb_free(&b);
	}
}
END_TEST

/* ---- data movement, any dtype --------------------------------------------------------- */

START_TEST(data_movement_ops)
{
	static const DType dts[] = {DT_F32, DT_U8, DT_I16, DT_I32, DT_I64, DT_F64, DT_BOOL};
	for (size_t t = 0; t < sizeof dts / sizeof dts[0]; t++) {
		DType dt = dts[t];
		GB b = gb_new("move", 70 + t);
		ValueId x = gb_in(&b, dt, D(2, 3, 4, 5));
		int64_t p1[] = {0, 2, 3, 1}, p2[] = {3, 2, 1, 0}, p3[] = {2, 0, 1};
		Attr ta = ir_aints("perm", p1, 4), tb = ir_aints("perm", p2, 4);
		gb_out(&b, gb_node(&b, OP_TRANSPOSE, &x, 1, &ta, 1));
		gb_out(&b, gb_node(&b, OP_TRANSPOSE, &x, 1, &tb, 1));
		ValueId y = gb_in(&b, dt, D(3, 1, 6));
		Attr tc = ir_aints("perm", p3, 3);
		gb_out(&b, gb_node(&b, OP_TRANSPOSE, &y, 1, &tc, 1));
		/* concat along every axis, with a constant operand */
		for (int axis = 0; axis < 4; axis++) {
			int64_t cd[4] = {2, 3, 4, 5};
			cd[axis] = axis + 1;
			ValueId in[3] = {x, gb_const(&b, dt, cd, 4), x};
			Attr ca = ir_ai("axis", axis);
			gb_out(&b, gb_node(&b, OP_CONCAT, in, 3, &ca, 1));
		}
		/* pads: growing, shrinking, mixed */
		int64_t pa[] = {0, 1, 2, 0, 1, 0, 1, 3}, pb[] = {0, -1, 1, -2, -1, 0, -1, 2};
		Attr pd1[2] = {ir_aints("pads", pa, 8), ir_af("value", 1.5)};
		Attr pd2[2] = {ir_aints("pads", pb, 8), ir_af("value", -2)};
		gb_out(&b, gb_node(&b, OP_PAD, &x, 1, pd1, 2));
		gb_out(&b, gb_node(&b, OP_PAD, &x, 1, pd2, 2));
		/* reshape of an intermediate that is also an output, and of an input */
		int64_t sh[] = {6, 20}, sh2[] = {120};
		Attr ra = ir_aints("shape", sh, 2), rb = ir_aints("shape", sh2, 1);
		ValueId r1 = gb_node(&b, OP_RESHAPE, &x, 1, &ra, 1);
		gb_out(&b, gb_node(&b, OP_RESHAPE, &r1, 1, &rb, 1));
		gb_out(&b, gb_node(&b, OP_IDENTITY, &x, 1, NULL, 0));
		check_graph_in(b.g, 0, -40, 40, false);
		gb_free(&b);
	}
}
END_TEST

/* ---- graph-level buffer cases ------------------------------------------------------------ */

START_TEST(output_edge_cases)
{
	GB b = gb_new("edges", 5);
	ValueId x = gb_in(&b, DT_F32, D(3, 4));
	ValueId c = gb_const(&b, DT_F32, D(3, 4));
	ValueId r = gb_node(&b, OP_RELU, &x, 1, NULL, 0);
	ValueId in2[2] = {r, c};
	ValueId s = gb_node(&b, OP_ADD, in2, 2, NULL, 0);
	int64_t sh[] = {12};
	Attr ra = ir_aints("shape", sh, 1);
	ValueId v = gb_node(&b, OP_RESHAPE, &s, 1, &ra, 1);
	ValueId in3[2] = {s, s};
	ValueId m = gb_node(&b, OP_MUL, in3, 2, NULL, 0);
	gb_out(&b, x);      /* an input passed through */
	gb_out(&b, c);      /* a constant */
	gb_out(&b, r);      /* an intermediate read later, from the output buffer */
	gb_out(&b, s);
	gb_out(&b, s);      /* the same value twice */
	gb_out(&b, v);      /* a view of an output */
	gb_out(&b, m);
	check_graph(b.g);
	gb_free(&b);
}
END_TEST

START_TEST(status_codes)
{
	GB b = gb_new("status", 5);
	ValueId x = gb_in(&b, DT_F32, D(64));
	ValueId r = gb_node(&b, OP_RELU, &x, 1, NULL, 0);
	ValueId s = gb_node(&b, OP_SIGMOID, &r, 1, NULL, 0);
	gb_out(&b, s);
	plan(b.g);
	ck_assert_int_gt(b.g->ws_size, 0);
	CgJit *j = jit(b.g, false, 2);
	KilnRunFn f = cg_jit_fn(j);
	float in[64] = {1}, out[64];
	char *ws = xalloc(b.g->ws_size + 64);
	const void *ins[1] = {in}, *nullin[1] = {NULL};
	void *outs[1] = {out}, *nullout[1] = {NULL};
	ck_assert_int_eq(f(ins, outs, ws), 0);
	ck_assert_int_eq(f(NULL, outs, ws), 1);
	ck_assert_int_eq(f(ins, NULL, ws), 1);
	ck_assert_int_eq(f(ins, outs, NULL), 1);
	ck_assert_int_eq(f(nullin, outs, ws), 1);
	ck_assert_int_eq(f(ins, nullout, ws), 1);
	ck_assert_int_eq(f(ins, outs, ws + 4), 2);
	ck_assert_int_eq(f(ins, outs, ws + 32), 2);
	cg_jit_free(j);
	free(ws);
	gb_free(&b);

	/* No workspace needed: NULL is fine, alignment not checked. */
	GB c = gb_new("nows", 5);
	x = gb_in(&c, DT_F32, D(64));
	gb_out(&c, gb_node(&c, OP_RELU, &x, 1, NULL, 0));
	plan(c.g);
	ck_assert_int_eq(c.g->ws_size, 0);
	j = jit(c.g, false, 2);
	f = cg_jit_fn(j);
	ck_assert_int_eq(f(ins, outs, NULL), 0);
	ck_assert_int_eq(f(ins, outs, (char *)in + 1), 0);
	ck_assert_int_eq(f(ins, nullout, NULL), 1);
	cg_jit_free(j);
	gb_free(&c);
}
END_TEST

START_TEST(check_lists_every_unsupported_node)
{
	GB b = gb_new("check", 5);
	ValueId x = gb_in(&b, DT_F16, D(1, 2, 4, 4));
	ValueId w = gb_in(&b, DT_F16, D(2, 2, 1, 1));
	int64_t st[] = {1, 1}, pd[] = {0, 0, 0, 0}, dl[] = {1, 1};
	Attr ca[] = {ir_aints("strides", st, 2), ir_aints("pads", pd, 4), ir_aints("dilations", dl, 2), ir_ai("group", 1)};
	ValueId in[2] = {x, w};
	ir_add_node(b.g, OP_CONV, "half conv", in, 2, ca, 4, "y", tyd(b.g, DT_F16, D(1, 2, 4, 4)));
	ValueId i = gb_in(&b, DT_I32, D(3, 3));
	ValueId ii[2] = {i, i};
	ir_add_node(b.g, OP_MATMUL, "int mm", ii, 2, NULL, 0, "z", tyd(b.g, DT_I32, D(3, 3)));
	ValueId f3 = gb_in(&b, DT_F32, D(1, 1, 3, 3, 3));
	ValueId w3 = gb_const(&b, DT_F32, D(1, 1, 1, 1, 1));
	int64_t st3[] = {1, 1, 1}, pd3[] = {0, 0, 0, 0, 0, 0}, dl3[] = {1, 1, 1};
	Attr ca3[] = {ir_aints("strides", st3, 3), ir_aints("pads", pd3, 6), ir_aints("dilations", dl3, 3), ir_ai("group", 1)};
	ValueId in3[2] = {f3, w3};
	ir_add_node(b.g, OP_CONV, "conv3d", in3, 2, ca3, 4, "v", tyd(b.g, DT_F32, D(1, 1, 3, 3, 3)));
	ValueId ok = gb_node(&b, OP_RELU, &f3, 1, NULL, 0);
	gb_out(&b, ok);
	Diag d;
	diag_init(&d);
	CgOptions o = {.name = "t", .opt_level = 2};
	ck_assert(!cg_check(b.g, &o, &d));
	ck_assert_int_eq(d.nerr, 3);
	char all[4096] = "";
	for (int k = 0; k < d.nmsg; k++)
		strncat(all, d.msgs[k], sizeof all - strlen(all) - 1);
	ck_assert_ptr_nonnull(strstr(all, "half conv"));
	ck_assert_ptr_nonnull(strstr(all, "int mm"));
	ck_assert_ptr_nonnull(strstr(all, "conv3d"));
	diag_free(&d);
	gb_free(&b);
}
END_TEST

/* ---- objects, headers, linking --------------------------------------------------------- */

static char tmpdir[256];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/kiln-cgtest-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool have(const char *prog)
{
	return prog && sh("command -v %s >/dev/null 2>&1", prog) == 0;
}

/* A little network: conv (depthwise and full), pool, gemm, softmax. */
static Graph *tiny_net(void)
{
	GB b = gb_new("tiny \"net\"", 9);
	ValueId x = gb_in(&b, DT_F32, D(1, 3, 9, 9));
	int64_t st[] = {1, 1}, pd[] = {1, 1, 1, 1}, dl[] = {1, 1};
	Attr ca[] = {ir_aints("strides", st, 2), ir_aints("pads", pd, 4), ir_aints("dilations", dl, 2), ir_ai("group", 1),
		     ir_astr("act", "relu")};
	ValueId in[3] = {x, gb_const(&b, DT_F32, D(8, 3, 3, 3)), gb_const(&b, DT_F32, D(8))};
	ValueId c = gb_node(&b, OP_CONV, in, 3, ca, 5);
	ca[3] = ir_ai("group", 8);
	ValueId in2[3] = {c, gb_const(&b, DT_F32, D(8, 1, 3, 3)), gb_const(&b, DT_F32, D(8))};
	ValueId dw = gb_node(&b, OP_CONV, in2, 3, ca, 5);
	int64_t k[] = {2, 2}, s2[] = {2, 2}, p0[] = {0, 0, 0, 0};
	Attr pa[] = {ir_aints("kernel", k, 2), ir_aints("strides", s2, 2), ir_aints("pads", p0, 4),
		     ir_aints("dilations", dl, 2), ir_ai("ceil_mode", 0)};
	ValueId p = gb_node(&b, OP_MAXPOOL, &dw, 1, pa, 5);
	int64_t sh2[] = {1, 128};
	Attr ra = ir_aints("shape", sh2, 2);
	ValueId f = gb_node(&b, OP_RESHAPE, &p, 1, &ra, 1);
	Attr ga[] = {ir_af("alpha", 1), ir_af("beta", 1), ir_ai("trans_a", 0), ir_ai("trans_b", 1)};
	ValueId in3[3] = {f, gb_const(&b, DT_F32, D(10, 128)), gb_const(&b, DT_F32, D(10))};
	ValueId y = gb_node(&b, OP_GEMM, in3, 3, ga, 4);
	Attr sa = ir_ai("axis", 1);
	gb_out(&b, gb_node(&b, OP_SOFTMAX, &y, 1, &sa, 1));
	gb_out(&b, y);
	Graph *g = b.g;
	diag_free(&b.d);
	plan(g);
	return g;
}

static void read_file(const char *path, unsigned char *buf, size_t n, size_t *got)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	*got = fread(buf, 1, n, f);
	fclose(f);
}

static const struct {
	const char *target;
	int machine;          /* ELF e_machine */
	const char *cpu, *features;
} elf_targets[] = {
	{"x86_64-linux-gnu", 62},
	{"x86_64-linux-gnu", 62, "haswell", "+avx2,+fma"},
	{"x86_64-linux-gnu", 62, "skylake-avx512", "+avx512f,+avx512vl,+avx2,+fma"},
	{"aarch64-linux-gnu", 183},
	{"riscv64-linux-gnu", 243},
	{"thumbv7em-none-eabihf", 40},
};

START_TEST(emit_objects_for_every_target)
{
	Graph *g = tiny_net();
	make_tmpdir();
	for (size_t t = 0; t < sizeof elf_targets / sizeof elf_targets[0]; t++) {
		const Target *tg = tgt_find(elf_targets[t].target);
		ck_assert_msg(tg != NULL, "no target %s", elf_targets[t].target);
		CgOptions o = {.name = "tiny", .target = tg, .cpu = elf_targets[t].cpu, .features = elf_targets[t].features,
			       .opt_level = 3};
		char path[512];
		snprintf(path, sizeof path, "%s/tiny%zu.o", tmpdir, t);
		Diag d;
		diag_init(&d);
		ck_assert_msg(cg_emit(g, &o, EMIT_OBJ, path, &d), "%s: %s", tg->name, d.nmsg ? d.msgs[0] : "?");
		unsigned char h[64];
		size_t n;
		read_file(path, h, sizeof h, &n);
		ck_assert_uint_eq(n, 64);
		ck_assert(!memcmp(h, "\177ELF", 4));
		ck_assert_int_eq(h[4], tg->arch[strlen(tg->arch) - 2] == '6' ? 2 : 1);  /* ELFCLASS64 for *64 */
		ck_assert_int_eq(h[16], 1);                                            /* ET_REL */
		ck_assert_int_eq(h[18] | h[19] << 8, elf_targets[t].machine);
		if (elf_targets[t].machine == 243)  /* EF_RISCV_FLOAT_ABI_DOUBLE: links with lp64d code */
			ck_assert_int_eq(h[48] & 6, 4);
		/* Nothing but memcpy/memset (or ARM EABI spellings) undefined. */
		ck_assert_int_eq(sh("nm -u %s | grep -v -E ' (memcpy|memset|memmove|__aeabi_mem.*)$' | grep -q .", path), 1);
		diag_free(&d);
	}
	/* asm, IR, bitcode */
	const Target *a64 = tgt_find("aarch64-linux-gnu");
	CgOptions o = {.name = "tiny", .target = a64, .opt_level = 2};
	static const CgEmit kinds[] = {EMIT_ASM, EMIT_LLVM, EMIT_BC};
	static const char *const ext[] = {"s", "ll", "bc"};
	for (int k = 0; k < 3; k++) {
		char path[512];
		snprintf(path, sizeof path, "%s/tiny.%s", tmpdir, ext[k]);
		Diag d;
		diag_init(&d);
		ck_assert(cg_emit(g, &o, kinds[k], path, &d));
		unsigned char buf[4096];
		size_t n;
		read_file(path, buf, sizeof buf - 1, &n);
		buf[n] = 0;
		ck_assert_uint_gt(n, 16);
		if (k == 0)
			ck_assert_int_eq(sh("grep -q '^tiny_run:' %s", path), 0);
		if (k == 1)
			ck_assert_ptr_nonnull(strstr((char *)buf, "aarch64"));
		if (k == 2)
			ck_assert(!memcmp(buf, "BC\xc0\xde", 4));
		diag_free(&d);
	}
	/* Unwritable path: an error, nothing left behind. */
	char bad[512];
	snprintf(bad, sizeof bad, "%s/no/such/dir/x.o", tmpdir);
	Diag d;
	diag_init(&d);
	CgOptions ho = {.name = "tiny", .opt_level = 1};
	ck_assert(!cg_emit(g, &ho, EMIT_OBJ, bad, &d));
	ck_assert_int_ge(d.nerr, 1);
	diag_free(&d);
	ck_assert_int_eq(sh("ls -A %s | grep -q kiln-tmp", tmpdir), 1);
	sh("rm -rf %s", tmpdir);
	ir_graph_free(g);
}
END_TEST

START_TEST(targets_table)
{
	ck_assert_ptr_null(tgt_find("sparc-sun-solaris"));
	ck_assert_ptr_null(tgt_find(NULL));
	ck_assert_str_eq(tgt_find("x86_64-pc-linux-gnu")->name, "x86_64-linux-gnu");
	ck_assert_str_eq(tgt_find("aarch64-unknown-linux-gnu")->name, "aarch64-linux-gnu");
	ck_assert_str_eq(tgt_find("riscv64-linux-gnu")->cpu, "generic-rv64");
	ck_assert_str_eq(tgt_find("riscv64-linux-gnu")->qemu, "qemu-riscv64");
	ck_assert_str_eq(tgt_find("aarch64-linux-gnu")->cross_cc, "aarch64-linux-gnu-gcc");
	const Target *x = tgt_find("x86_64-linux-gnu");
	ck_assert_int_eq(tgt_vec_bytes(x, NULL, NULL), 16);
	ck_assert_int_eq(tgt_vec_bytes(x, "haswell", NULL), 32);
	ck_assert_int_eq(tgt_vec_bytes(x, NULL, "+avx2,+fma"), 32);
	ck_assert_int_eq(tgt_vec_bytes(x, NULL, "+avx512f,+avx2"), 64);
	ck_assert_int_eq(tgt_vec_bytes(x, "skylake-avx512", "-avx512f"), 32);
	ck_assert_int_eq(tgt_vec_bytes(x, "znver4", NULL), 64);
	ck_assert_int_eq(tgt_vec_bytes(tgt_find("aarch64-linux-gnu"), NULL, NULL), 16);
	ck_assert_int_eq(tgt_vec_bytes(tgt_find("riscv64-linux-gnu"), NULL, NULL), 4);
	int n = 0;
	for (const Target *const *t = tgt_all(); *t; t++, n++)
		ck_assert_ptr_eq(tgt_find((*t)->name), *t);
	ck_assert_int_ge(n, 4);
}
END_TEST

static char *header_text(const Graph *g, const CgOptions *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cg_write_header(g, o, f);
	fclose(f);
	return buf;
}

START_TEST(header_contents)
{
	Graph *g = tiny_net();
	CgOptions o = {.name = "tiny", .opt_level = 2};
	char *h = header_text(g, &o);
	char want[256];
	snprintf(want, sizeof want, "#define tiny_WORKSPACE_SIZE %lldu", (long long)g->ws_size);
	ck_assert_ptr_nonnull(strstr(h, want));
	ck_assert_ptr_nonnull(strstr(h, "#ifndef TINY_H"));
	ck_assert_ptr_nonnull(strstr(h, "#define tiny_WORKSPACE_ALIGN 64u"));
	ck_assert_ptr_nonnull(strstr(h, "#define tiny_NUM_INPUTS 1"));
	ck_assert_ptr_nonnull(strstr(h, "#define tiny_NUM_OUTPUTS 2"));
	ck_assert_ptr_nonnull(strstr(h, "#define tiny_INPUT_0_NAME \"in0\""));
	ck_assert_ptr_nonnull(strstr(h, "#define tiny_INPUT_0_SHAPE {1, 3, 9, 9}"));
	ck_assert_ptr_nonnull(strstr(h, "#define tiny_INPUT_0_SIZE 972u"));
	ck_assert_ptr_nonnull(strstr(h, "#define tiny_INPUT_0_NUMEL 243u"));
	ck_assert_ptr_nonnull(strstr(h, "#define tiny_INPUT_0_DTYPE 1"));
	ck_assert_ptr_nonnull(strstr(h, "#define tiny_INPUT_0_RANK 4"));
	ck_assert_ptr_nonnull(strstr(h, "#define tiny_OUTPUT_1_SHAPE {1, 10}"));
	ck_assert_ptr_nonnull(strstr(h, "#define tiny_INPUT_IN0_INDEX 0"));
	ck_assert_ptr_nonnull(strstr(h, "extern const kiln_model_info tiny_info;"));
	ck_assert_ptr_nonnull(strstr(h, "int tiny_run(const void *const *inputs, void *const *outputs, void *workspace);"));
	ck_assert_ptr_nonnull(strstr(h, "extern \"C\""));
	ck_assert_ptr_null(strstr(h, "#include <stdio.h>"));
	free(h);
	/* Awkward tensor names are escaped; no named macros for them. */
	GB b = gb_new("names", 1);
	ValueId x = ir_add_input(b.g, "in\"put\\1\n?" "?=", tyd(b.g, DT_F32, D(3)));
	gb_out(&b, gb_node(&b, OP_RELU, &x, 1, NULL, 0));
	plan(b.g);
	h = header_text(b.g, &o);
	ck_assert_ptr_nonnull(strstr(h, "#define tiny_INPUT_0_NAME \"in\\\"put\\\\1\\012\\077\\077=\""));
	ck_assert_ptr_null(strstr(h, "tiny_INPUT_IN"));
	free(h);
	gb_free(&b);
	ir_graph_free(g);
}
END_TEST

/* The object and its header in a C program: hosted here, and under qemu
 * for the cross targets when their toolchains are installed. */
static void link_and_run(const Target *tg)
{
	Graph *g = tiny_net();
	make_tmpdir();
	Run r = interpret(g, 77, -1, 1, false);
	CgOptions o = {.name = "tiny", .target = tg, .opt_level = 3};
	char obj[512], hdr[512], src[512], exe[512], outp[512];
	snprintf(obj, sizeof obj, "%s/tiny.o", tmpdir);
	snprintf(hdr, sizeof hdr, "%s/tiny.h", tmpdir);
	snprintf(src, sizeof src, "%s/main.c", tmpdir);
	snprintf(exe, sizeof exe, "%s/main", tmpdir);
	snprintf(outp, sizeof outp, "%s/out.txt", tmpdir);
	Diag d;
	diag_init(&d);
	ck_assert_msg(cg_emit(g, &o, EMIT_OBJ, obj, &d), "%s", d.nmsg ? d.msgs[0] : "?");
	ck_assert(cg_emit_header(g, &o, hdr, &d));
	diag_free(&d);
	FILE *f = fopen(src, "w");
	fprintf(f, "#include <stdio.h>\n#include <stdlib.h>\n#include \"kiln.h\"\n#include \"tiny.h\"\n");
	fprintf(f, "static const float x[tiny_INPUT_0_NUMEL] = {");
	for (int i = 0; i < 243; i++)
		fprintf(f, "%a,", ((float *)r.in[0])[i]);
	fprintf(f, "};\nstatic float y0[tiny_OUTPUT_0_NUMEL], y1[tiny_OUTPUT_1_NUMEL];\n");
	fprintf(f, "static _Alignas(tiny_WORKSPACE_ALIGN) unsigned char ws[tiny_WORKSPACE_SIZE];\n");
	fprintf(f, "int main(void) {\n"
		   "  const void *in[tiny_NUM_INPUTS] = {x}; void *out[tiny_NUM_OUTPUTS] = {y0, y1};\n"
		   "  int64_t shape[] = tiny_OUTPUT_0_SHAPE;\n"
		   "  if (shape[1] != 10 || tiny_info.n_outputs != 2 || tiny_info.run != tiny_run) return 3;\n"
		   "  if (tiny_info.workspace_size != tiny_WORKSPACE_SIZE || tiny_info.inputs[0].shape[2] != 9) return 4;\n"
		   "  int st = tiny_run(in, out, ws);\n"
		   "  if (st) return 10 + st;\n"
		   "  for (int i = 0; i < 10; i++) printf(\"%%a %%a\\n\", y0[i], y1[i]);\n"
		   "  return 0;\n}\n");
	fclose(f);
	const char *cc = tg ? tg->cross_cc : "cc";
	if (!have(cc) || (tg && tg->qemu && !have(tg->qemu))) {
		fprintf(stderr, "skipping link test for %s: %s not installed\n", tg ? tg->name : "host", cc);
	} else {
		ck_assert_int_eq(sh("%s -std=c11 -O1 %s -I%s/runtime -I%s %s %s -o %s", cc, tg && tg->qemu ? "-static" : "",
				    getenv("KILN_SRC") ? getenv("KILN_SRC") : "../..", tmpdir, src, obj, exe), 0);
		ck_assert_int_eq(sh("%s %s > %s", tg && tg->qemu ? tg->qemu : "", exe, outp), 0);
		FILE *o2 = fopen(outp, "r");
		for (int i = 0; i < 10; i++) {
			float a, b;
			ck_assert_int_eq(fscanf(o2, "%a %a", &a, &b), 2);
			ck_assert_msg(fabsf(a - ((float *)r.out[0])[i]) < 1e-5f, "softmax[%d] %g vs %g", i, a, ((float *)r.out[0])[i]);
			ck_assert_msg(fabsf(b - ((float *)r.out[1])[i]) < 1e-4f * (1 + fabsf(b)), "logit[%d]", i);
		}
		fclose(o2);
	}
	run_free(g, &r);
	sh("rm -rf %s", tmpdir);
	ir_graph_free(g);
}

START_TEST(link_host) { link_and_run(NULL); }
END_TEST

START_TEST(link_cross)
{
	link_and_run(tgt_find(_i ? "riscv64-linux-gnu" : "aarch64-linux-gnu"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("codegen");
	TCase *tc = tcase_create("codegen");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, conv_ops, 0, sizeof convs / sizeof convs[0]);
	tcase_add_test(tc, gemm_ops);
	tcase_add_test(tc, matmul_ops);
	tcase_add_test(tc, binary_ops);
	tcase_add_test(tc, unary_ops);
	tcase_add_test(tc, math_accuracy);
	tcase_add_test(tc, batchnorm_ops);
	tcase_add_loop_test(tc, pool_ops, 0, sizeof pools / sizeof pools[0]);
	tcase_add_test(tc, global_pool_and_reduce_ops);
	tcase_add_test(tc, softmax_ops);
	tcase_add_test(tc, data_movement_ops);
	tcase_add_test(tc, output_edge_cases);
	tcase_add_test(tc, status_codes);
	tcase_add_test(tc, check_lists_every_unsupported_node);
	tcase_add_test(tc, targets_table);
	tcase_add_test(tc, emit_objects_for_every_target);
	tcase_add_test(tc, header_contents);
	tcase_add_test(tc, link_host);
	tcase_add_loop_test(tc, link_cross, 0, 2);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
