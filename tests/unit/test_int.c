/* Unit tests of the integer forms' lowerings (codegen/cg_int.c): small
 * quantized graphs through the JIT, plain and optimized lowerings, every
 * output element compared bit for bit with C written here from the ONNX
 * definitions and ir_requantize; awkward shapes, random data from fixed
 * seeds.  Also the memory plan of an integer graph (1 byte an i8, 4 an
 * i32) through the -O2 pipeline. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"
#include "ir.h"
#include "passes.h"

#define MAXR IR_MAX_RANK

/* ---- data --------------------------------------------------------------------------------- */

static uint32_t rng;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static int32_t rnd_in(int32_t lo, int32_t hi) { return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1)); }
static float rnd_scale(void) { return 0.005f + 0.045f * (float)(rnd() % 10000) / 10000.0f; }

static void qrange(DType dt, int32_t *lo, int32_t *hi)
{
	switch (dt) {
	case DT_I8: *lo = -128, *hi = 127; break;
	case DT_U8: *lo = 0, *hi = 255; break;
	case DT_I16: *lo = -32768, *hi = 32767; break;
	default: *lo = INT32_MIN, *hi = INT32_MAX; break;
	}
}

/* n random integers over dt's whole range. */
static int32_t *rnd_ints(DType dt, int64_t n)
{
	int32_t lo, hi, *v = malloc(sizeof *v * (size_t)(n ? n : 1));
	qrange(dt, &lo, &hi);
	for (int64_t i = 0; i < n; i++)
		v[i] = rnd_in(lo, hi);
	return v;
}

/* A zero point: near the middle of dt's range, never 0. */
static int32_t rnd_zero(DType dt)
{
	int32_t z = dt == DT_U8 ? rnd_in(100, 150) : rnd_in(-20, 20);
	return z ? z : 3;
}

/* v as dt's bytes (malloc'd), and element i of such bytes. */
static void *pack(DType dt, const int32_t *v, int64_t n)
{
	int sz = ir_dtype_size(dt);
	unsigned char *p = malloc((size_t)(n * sz + 1));
	for (int64_t i = 0; i < n; i++) {
		int8_t b = (int8_t)v[i];
		int16_t h = (int16_t)v[i];
		memcpy(p + i * sz, sz == 1 ? (void *)&b : sz == 2 ? (void *)&h : (void *)&v[i], (size_t)sz);
	}
	return p;
}

static int32_t unpack(DType dt, const void *p, int64_t i)
{
	switch (dt) {
	case DT_I8: return ((const int8_t *)p)[i];
	case DT_U8: return ((const uint8_t *)p)[i];
	case DT_I16: return ((const int16_t *)p)[i];
	default: return ((const int32_t *)p)[i];
	}
}

static int64_t prod(int r, const int64_t *d)
{
	int64_t p = 1;
	for (int i = 0; i < r; i++)
		p *= d[i];
	return p;
}

/* The next index of dims (row-major odometer); false after the last. */
static bool step(int r, const int64_t *dims, int64_t *i)
{
	for (int d = r - 1; d >= 0; d--) {
		if (++i[d] < dims[d])
			return true;
		i[d] = 0;
	}
	return false;
}

/* The offset in a row-major tensor of rank rt and dims td of the element
 * that numpy broadcasting reads at index idx of a result of rank r. */
static int64_t bcast_at(int r, const int64_t *idx, int rt, const int64_t *td)
{
	int64_t o = 0;
	for (int d = r - rt; d < r; d++)
		o = o * td[d - (r - rt)] + (td[d - (r - rt)] == 1 ? 0 : idx[d]);
	return o;
}

/* ---- results: the requantization and its bounds ------------------------------------------------- */

/* The result's range under a fused act, from ONNX: Clip(min, max) then
 * QuantizeLinear, which rounds min / s_y (f32) half to even and adds z_y;
 * relu is Clip(0, inf). */
static void act_range(DType dt, const char *act, float amin, float amax, float sy, int32_t zy, int32_t *lo, int32_t *hi)
{
	qrange(dt, lo, hi);
	if (!act)
		return;
	if (!strcmp(act, "relu"))
		amin = 0, amax = INFINITY;
	if (amax < INFINITY) {
		double q = (double)nearbyintf(amax / sy) + zy;
		*hi = q < *lo ? *lo : q > *hi ? *hi : (int32_t)q;
	}
	if (amin > -INFINITY) {
		double q = (double)nearbyintf(amin / sy) + zy;
		*lo = q < *lo ? *lo : q > *hi ? *hi : (int32_t)q;
	}
}

static Requant requant_of(double r)
{
	Requant q;
	ck_assert(ir_requant_of(r, &q));
	return q;
}

/* Attributes of a fused act (none when act is NULL): their count. */
static int act_attrs(Attr *a, const char *act, float amin, float amax)
{
	if (!act)
		return 0;
	a[0] = ir_astr("act", act);
	if (strcmp(act, "clip"))
		return 1;
	a[1] = ir_af("act_min", amin);
	a[2] = ir_af("act_max", amax);
	return 3;
}

/* The result's scale: a power of two at which the largest real
 * accumulation is 45 to 90 quanta (i16: 1500 to 3000), so that the clip
 * bounds below, a whole number and a half of quanta, are ties. */
static float scale_for(double max_real, DType ydt)
{
	return exp2f(ceilf(log2f((float)((max_real > 0 ? max_real : 1) / (ydt == DT_I16 ? 3000 : 90)))));
}

/* ---- graphs ---------------------------------------------------------------------------------------- */

static TypeId qtype(Graph *g, DType dt, int rank, const int64_t *dims, int axis, int n, const float *s, const int32_t *z)
{
	return ir_type(g, dt, rank, dims, ir_quant(g, axis, n, s, z));
}

/* Node `op` of g with a declared result type (per tensor, scale sy, zero
 * zy; its dims are the shape rule's business), marked as the output. */
static void build(Graph *g, Op op, const ValueId *in, int nin, const Attr *a, int na, DType ydt, float sy, int32_t zy)
{
	Diag d;
	diag_init(&d);
	int64_t one = 1;
	NodeId n = ir_build_as(g, op, "n", in, nin, a, na, "y", qtype(g, ydt, 1, &one, -1, 1, &sy, &zy), &d);
	ck_assert_msg(n >= 0, "%s", d.nmsg ? d.msgs[0] : "?");
	ir_mark_output(g, g->nodes.v[n].out);
	diag_free(&d);
}

/* Plan g (once), JIT it with the plain (ref) or optimized lowerings, run. */
static void jit_run(Graph *g, int ref, const void *const *in, void *const *out)
{
	Diag d;
	diag_init(&d);
	PassCtx cx = {.diag = &d, .ws_align = 64};
	ck_assert(pass_ensure_plan(g, &cx));
	setenv("KILN_CG_REFERENCE", ref ? "1" : "0", 1);
	CgOptions o = {.name = "t", .opt_level = 2};
	CgJit *j = cg_jit_new(g, &o, &d);
	unsetenv("KILN_CG_REFERENCE");
	ck_assert_msg(j != NULL, "%s", d.nmsg ? d.msgs[0] : "?");
	void *ws = aligned_alloc(64, (size_t)(g->ws_size > 0 ? (g->ws_size + 63) / 64 * 64 : 64));
	ck_assert_int_eq(cg_jit_fn(j)(in, out, ws), 0);
	free(ws);
	cg_jit_free(j);
	diag_free(&d);
}

/* The data is not degenerate: several values, some strictly inside the bounds. */
static void expect_varied(const int32_t *want, int64_t n, int32_t lo, int32_t hi, const char *what)
{
	int distinct = 0, inside = 0;
	for (int64_t i = 0; i < n; i++) {
		bool seen = false;
		for (int64_t j = 0; j < i && !seen; j++)
			seen = want[j] == want[i];
		distinct += !seen;
		inside += want[i] > lo && want[i] < hi;
	}
	ck_assert_msg(distinct >= (n < 6 ? 2 : 6) && inside > 0, "%s: degenerate test data (%d distinct)", what, distinct);
}

/* Run g's one output through both lowerings: every element as want[];
 * then free g. */
static void check_graph(Graph *g, const void *const *in, DType ydt, const int32_t *want, int64_t n, const char *what)
{
	void *y = malloc((size_t)(n * 4 + 4));
	for (int ref = 1; ref >= 0; ref--) {
		memset(y, 0xa5, (size_t)(n * 4 + 4));
		jit_run(g, ref, in, &y);
		for (int64_t i = 0; i < n; i++)
			ck_assert_msg(unpack(ydt, y, i) == want[i], "%s (%s lowering): element %lld is %d, expected %d", what,
				      ref ? "plain" : "optimized", (long long)i, unpack(ydt, y, i), want[i]);
	}
	free(y);
	ir_graph_free(g);
}

/* ---- conv ------------------------------------------------------------------------------------------- */

typedef struct ConvCase {
	const char *name;
	int nsp;
	int64_t N, C, M, G, in[3], k[3], st[3], dl[3], pd[6];
	DType xdt, wdt, ydt;
	bool per_channel, bias;
	const char *act;
	uint32_t seed;
} ConvCase;

static const ConvCase conv_cases[] = {
	{"2-d i8, weights per channel, stride 2, asymmetric pads, relu", 2, 2, 5, 3, 1, {7, 11}, {3, 3}, {2, 2}, {1, 1},
	 {1, 0, 2, 1}, DT_I8, DT_I8, DT_I8, true, true, "relu", 11},
	{"2-d u8 depthwise, dilation 2, per tensor, clip", 2, 1, 7, 7, 7, {9, 10}, {3, 5}, {1, 1}, {2, 2}, {2, 1, 0, 3},
	 DT_U8, DT_U8, DT_U8, false, true, "clip", 12},
	{"1-d, 3 groups, stride 2, dilation 2, i8 x u8 w", 1, 2, 6, 9, 3, {13}, {3}, {2}, {2}, {3, 1}, DT_I8, DT_U8, DT_U8,
	 true, false, NULL, 13},
	{"3-d, per channel, clip", 3, 1, 2, 3, 1, {3, 4, 5}, {2, 3, 2}, {1, 2, 1}, {1, 1, 2}, {1, 0, 1, 0, 1, 1}, DT_U8,
	 DT_I8, DT_I8, true, true, "clip", 14},
	{"1x1, 13 -> 17 channels", 2, 1, 13, 17, 1, {5, 3}, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, DT_I8, DT_I8, DT_I8, true,
	 true, NULL, 15},
	{"depthwise with multiplier 2, i16 result", 2, 1, 4, 8, 4, {6, 7}, {3, 3}, {2, 1}, {1, 1}, {0, 1, 1, 0}, DT_U8,
	 DT_I8, DT_I16, true, true, "relu", 16},
	{"ones: 1 channel, height 1", 2, 1, 1, 1, 1, {1, 5}, {1, 3}, {1, 1}, {1, 1}, {0, 1, 0, 1}, DT_I8, DT_U8, DT_I8,
	 false, true, NULL, 17},
};

/* Case k's graph, its input and the expected output (ny elements); the
 * caller frees them. */
static Graph *conv_graph(const ConvCase *k, void **xin_bytes, int32_t **want_out, int64_t *ny_out)
{
	rng = k->seed;
	int nsp = k->nsp, rank = nsp + 2;
	int64_t Cg = k->C / k->G, Mg = k->M / k->G, od[3];
	for (int i = 0; i < nsp; i++)
		od[i] = (k->in[i] + k->pd[i] + k->pd[nsp + i] - ((k->k[i] - 1) * k->dl[i] + 1)) / k->st[i] + 1;
	int64_t xin = prod(nsp, k->in), yin = prod(nsp, od), kin = prod(nsp, k->k);
	int64_t nx = k->N * k->C * xin, nw = k->M * Cg * kin, ny = k->N * k->M * yin;
	int32_t *x = rnd_ints(k->xdt, nx), *w = rnd_ints(k->wdt, nw), bias[32], zw[32], zx = rnd_zero(k->xdt);
	float sx = rnd_scale(), sw[32];
	int nq = k->per_channel ? (int)k->M : 1;
	for (int m = 0; m < nq; m++)
		sw[m] = rnd_scale(), zw[m] = rnd_zero(k->wdt);
	for (int m = 0; m < k->M; m++)
		bias[m] = rnd_in(-3000, 3000);
	/* acc[n, m, o] = b[m] + sum over the taps inside x of (x - z_x)(w - z_w[m]). */
	int32_t *acc = malloc(sizeof *acc * (size_t)ny), *want = malloc(sizeof *want * (size_t)ny);
	double max_real = 0;
	for (int64_t n = 0; n < k->N; n++)
		for (int64_t m = 0; m < k->M; m++) {
			int64_t grp = m / Mg, o[3] = {0}, yo = 0, q = k->per_channel ? m : 0;
			do {
				int32_t a = k->bias ? bias[m] : 0;
				for (int64_t ic = 0; ic < Cg; ic++) {
					int64_t t[3] = {0}, ko = 0;
					do {
						bool ok = true;
						int64_t xo = 0;
						for (int i = 0; i < nsp; i++) {
							int64_t ix = o[i] * k->st[i] + t[i] * k->dl[i] - k->pd[i];
							ok &= ix >= 0 && ix < k->in[i];
							xo = xo * k->in[i] + ix;
						}
						if (ok)
							a += (x[(n * k->C + grp * Cg + ic) * xin + xo] - zx) *
							     (w[(m * Cg + ic) * kin + ko] - zw[q]);
						ko++;
					} while (step(nsp, k->k, t));
				}
				acc[(n * k->M + m) * yin + yo] = a;
				max_real = fmax(max_real, fabs((double)a * sx * sw[q]));
				yo++;
			} while (step(nsp, od, o));
		}
	float sy = scale_for(max_real, k->ydt);
	int32_t zy = k->ydt == DT_I16 ? 100 : rnd_zero(k->ydt), lo, hi;
	float amin = -41.5f * sy, amax = 50.5f * sy;
	act_range(k->ydt, k->act, amin, amax, sy, zy, &lo, &hi);
	for (int64_t i = 0; i < ny; i++) {
		int64_t m = i / yin % k->M, q = k->per_channel ? m : 0;
		want[i] = ir_requantize(acc[i], requant_of((double)sx * sw[q] / sy), zy, lo, hi);
	}
	expect_varied(want, ny, lo, hi, k->name);

	Graph *g = ir_graph_new("conv");
	int64_t xd[5] = {k->N, k->C}, wd[5] = {k->M, Cg}, bd[1] = {k->M};
	memcpy(xd + 2, k->in, sizeof *xd * (size_t)nsp);
	memcpy(wd + 2, k->k, sizeof *wd * (size_t)nsp);
	void *xb = pack(k->xdt, x, nx), *wb = pack(k->wdt, w, nw);
	ValueId in[3] = {ir_add_input(g, "x", qtype(g, k->xdt, rank, xd, -1, 1, &sx, &zx)),
			 ir_add_const(g, "w", qtype(g, k->wdt, rank, wd, k->per_channel ? 0 : -1, nq, sw, zw), wb),
			 ir_add_const(g, "b", ir_type(g, DT_I32, 1, bd, NULL), bias)};
	Attr a[8] = {ir_aints("strides", (int64_t *)k->st, nsp), ir_aints("pads", (int64_t *)k->pd, 2 * nsp),
		     ir_aints("dilations", (int64_t *)k->dl, nsp), ir_ai("group", k->G)};
	int na = 4 + act_attrs(a + 4, k->act, amin, amax);
	build(g, OP_CONV, in, k->bias ? 3 : 2, a, na, k->ydt, sy, zy);
	free(x), free(w), free(wb), free(acc);
	*xin_bytes = xb, *want_out = want, *ny_out = ny;
	return g;
}

START_TEST(int_conv)
{
	const ConvCase *k = &conv_cases[_i];
	void *xb;
	int32_t *want;
	int64_t ny;
	Graph *g = conv_graph(k, &xb, &want, &ny);
	const void *inp[1] = {xb};
	check_graph(g, inp, k->ydt, want, ny, k->name);
	free(xb), free(want);
}
END_TEST

static int parallel_calls;

static void serial_for(void *pool, int n, void (*task)(void *ctx, int i), void *ctx)
{
	(void)pool;
	parallel_calls++;
	for (int i = 0; i < n; i++)
		task(ctx, i);
}

/* The integer forms never split into tasks (their lowerings do all of a
 * node's work each time they run): not even a conv with constant weights,
 * which the float kernels split. */
START_TEST(int_conv_not_split)
{
	const ConvCase *k = &conv_cases[0];
	void *xb, *y = NULL;
	int32_t *want;
	int64_t ny;
	Graph *g = conv_graph(k, &xb, &want, &ny);
	Diag d;
	diag_init(&d);
	PassCtx cx = {.diag = &d, .ws_align = 64};
	ck_assert(pass_ensure_plan(g, &cx));
	CgOptions o = {.name = "t", .opt_level = 2};
	CgJit *j = cg_jit_new(g, &o, &d);
	ck_assert_msg(j != NULL, "%s", d.nmsg ? d.msgs[0] : "?");
	struct {
		void (*parallel_for)(void *, int, void (*)(void *, int), void *);
		void *pool;
		int nthreads;
	} par = {serial_for, NULL, 4};  /* runtime/kiln.h's kiln_parallel */
	y = malloc((size_t)ny * 4);
	const void *inp[1] = {xb};
	parallel_calls = 0;
	ck_assert_int_eq(cg_jit_parallel_fn(j)(inp, &y, NULL, &par), 0);
	ck_assert_int_eq(parallel_calls, 0);
	for (int64_t i = 0; i < ny; i++)
		ck_assert_int_eq(unpack(k->ydt, y, i), want[i]);
	cg_jit_free(j);
	diag_free(&d);
	ir_graph_free(g);
	free(xb), free(want), free(y);
}
END_TEST

/* ---- gemm and matmul ------------------------------------------------------------------------------------ */

/* The reference product of one matrix pair: acc[r, n] = C(r, n) + sum_k
 * (A(r, k) - z_a)(B(k, n) - z_b[n]), elements at the given strides. */
static void ref_mm(const int32_t *A, int64_t a_rs, int64_t a_cs, const int32_t *B, int64_t b_ks, int64_t b_ns,
		   int64_t rows, int64_t K, int64_t N, int32_t za, const int32_t *zb, bool per_col, int32_t *acc)
{
	for (int64_t r = 0; r < rows; r++)
		for (int64_t n = 0; n < N; n++) {
			int32_t s = 0;
			for (int64_t k = 0; k < K; k++)
				s += (A[r * a_rs + k * a_cs] - za) * (B[k * b_ks + n * b_ns] - zb[per_col ? n : 0]);
			acc[r * N + n] += s;
		}
}

/* acc[i] (column i % N) -> want[i]; returns the bounds. */
static void requant_cols(const int32_t *acc, int32_t *want, int64_t n, int64_t N, float sa, const float *sb, bool per_col,
			 DType ydt, const char *act, float *sy, int32_t *zy, float *amin, float *amax, int32_t *lo, int32_t *hi)
{
	double max_real = 0;
	for (int64_t i = 0; i < n; i++)
		max_real = fmax(max_real, fabs((double)acc[i] * sa * sb[per_col ? i % N : 0]));
	*sy = scale_for(max_real, ydt);
	*zy = rnd_zero(ydt);
	*amin = -29.5f * *sy, *amax = 60.5f * *sy;
	act_range(ydt, act, *amin, *amax, *sy, *zy, lo, hi);
	for (int64_t i = 0; i < n; i++)
		want[i] = ir_requantize(acc[i], requant_of((double)sa * sb[per_col ? i % N : 0] / *sy), *zy, *lo, *hi);
}

typedef struct GemmCase {
	const char *name;
	int64_t M, K, N;
	bool ta, tb, per_col;
	int crank;
	int64_t cd[2];  /* C's dims (crank 0: no C) */
	DType adt, bdt, ydt;
	const char *act;
	uint32_t seed;
} GemmCase;

static const GemmCase gemm_cases[] = {
	{"trans_b, b per column, C [N], relu", 5, 13, 7, false, true, true, 1, {7}, DT_I8, DT_I8, DT_I8, "relu", 21},
	{"trans_a, u8 per tensor, C [M,1], clip", 3, 11, 5, true, false, false, 2, {3, 1}, DT_U8, DT_U8, DT_U8, "clip", 22},
	{"both transposed, one row, C [1,N]", 1, 17, 9, true, true, true, 2, {1, 9}, DT_I8, DT_U8, DT_I8, NULL, 23},
	{"K 1, no C", 4, 1, 3, false, false, true, 0, {0}, DT_U8, DT_I8, DT_U8, NULL, 24},
};

START_TEST(int_gemm)
{
	const GemmCase *k = &gemm_cases[_i];
	rng = k->seed;
	int64_t M = k->M, K = k->K, N = k->N, ad[2] = {k->ta ? K : M, k->ta ? M : K}, bd[2] = {k->tb ? N : K, k->tb ? K : N};
	int32_t *a = rnd_ints(k->adt, M * K), *b = rnd_ints(k->bdt, K * N), cb[64], zb[16], za = rnd_zero(k->adt);
	int64_t nc = k->crank ? prod(k->crank, k->cd) : 0, mn = M * N;
	for (int64_t i = 0; i < nc; i++)
		cb[i] = rnd_in(-2000, 2000);
	float sa = rnd_scale(), sb[16];
	int nq = k->per_col ? (int)N : 1;
	for (int i = 0; i < nq; i++)
		sb[i] = rnd_scale(), zb[i] = rnd_zero(k->bdt);
	int32_t *acc = calloc((size_t)mn, sizeof *acc), *want = malloc(sizeof *want * (size_t)mn);
	int64_t cm = k->crank == 2 ? k->cd[0] : 1, cn = nc ? k->cd[k->crank - 1] : 1;
	for (int64_t r = 0; r < M && nc; r++)  /* C broadcast to [M, N] */
		for (int64_t n = 0; n < N; n++)
			acc[r * N + n] = cb[(cm == 1 ? 0 : r) * cn + (cn == 1 ? 0 : n)];
	ref_mm(a, k->ta ? 1 : K, k->ta ? M : 1, b, k->tb ? 1 : N, k->tb ? K : 1, M, K, N, za, zb, k->per_col, acc);
	float sy, amin, amax;
	int32_t zy, lo, hi;
	requant_cols(acc, want, mn, N, sa, sb, k->per_col, k->ydt, k->act, &sy, &zy, &amin, &amax, &lo, &hi);
	expect_varied(want, mn, lo, hi, k->name);

	Graph *g = ir_graph_new("gemm");
	void *ab = pack(k->adt, a, M * K), *bb = pack(k->bdt, b, K * N);
	ValueId in[3] = {ir_add_input(g, "a", qtype(g, k->adt, 2, ad, -1, 1, &sa, &za)),
			 ir_add_const(g, "b", qtype(g, k->bdt, 2, bd, k->per_col ? (k->tb ? 0 : 1) : -1, nq, sb, zb), bb),
			 nc ? ir_add_const(g, "c", ir_type(g, DT_I32, k->crank, k->cd, NULL), cb) : -1};
	Attr at[7] = {ir_af("alpha", 1), ir_af("beta", 1), ir_ai("trans_a", k->ta), ir_ai("trans_b", k->tb)};
	int na = 4 + act_attrs(at + 4, k->act, amin, amax);
	build(g, OP_GEMM, in, nc ? 3 : 2, at, na, k->ydt, sy, zy);
	const void *inp[1] = {ab};
	check_graph(g, inp, k->ydt, want, mn, k->name);
	free(a), free(b), free(ab), free(bb), free(acc), free(want);
}
END_TEST

typedef struct MatmulCase {
	const char *name;
	int ra, rb;
	int64_t ad[4], bd[4];  /* as stored (trans_a: A's last two dims are [K, M]) */
	bool ta, tb, per_col;
	DType adt, bdt, ydt;
	const char *act;
	uint32_t seed;
} MatmulCase;

static const MatmulCase matmul_cases[] = {
	{"batched, broadcast [2,1,3,5] x [4,5,6], per column, relu", 4, 3, {2, 1, 3, 5}, {4, 5, 6}, false, false, true,
	 DT_I8, DT_I8, DT_I8, "relu", 31},
	{"1-d a [5] x [5,7]", 1, 2, {5}, {5, 7}, false, false, true, DT_U8, DT_I8, DT_U8, NULL, 32},
	{"[3,5] x 1-d b [5]", 2, 1, {3, 5}, {5}, false, false, false, DT_I8, DT_U8, DT_I8, NULL, 33},
	{"trans_a, trans_b, batch 2 x one b, clip", 3, 2, {2, 5, 3}, {6, 5}, true, true, true, DT_U8, DT_U8, DT_U8, "clip",
	 34},
	{"both broadcast [1,4,2,3] x [3,1,3,2]", 4, 4, {1, 4, 2, 3}, {3, 1, 3, 2}, false, false, false, DT_I8, DT_I8, DT_U8,
	 NULL, 35},
};

START_TEST(int_matmul)
{
	const MatmulCase *k = &matmul_cases[_i];
	rng = k->seed;
	int ra = k->ra, rb = k->rb;
	int64_t K = ra >= 2 && k->ta ? k->ad[ra - 2] : k->ad[ra - 1], M = ra >= 2 ? k->ad[k->ta ? ra - 1 : ra - 2] : 1;
	int64_t N = rb >= 2 ? k->bd[k->tb ? rb - 2 : rb - 1] : 1;
	/* The batch: numpy's broadcast of the leading dims. */
	int na_b = ra >= 2 ? ra - 2 : 0, nb_b = rb >= 2 ? rb - 2 : 0, nbat;
	int64_t bat[MAXR], yd[MAXR];
	ck_assert(ir_broadcast(na_b, k->ad, nb_b, k->bd, &nbat, bat));
	memcpy(yd, bat, sizeof bat);
	int yr = nbat;
	if (ra >= 2)
		yd[yr++] = M;
	if (rb >= 2)
		yd[yr++] = N;
	int64_t nA = prod(ra, k->ad), nB = prod(rb, k->bd), nbatch = prod(nbat, bat), ny = nbatch * M * N;
	int32_t *a = rnd_ints(k->adt, nA), *b = rnd_ints(k->bdt, nB), zb[16], za = rnd_zero(k->adt);
	float sa = rnd_scale(), sb[16];
	int nq = k->per_col ? (int)N : 1;
	for (int i = 0; i < nq; i++)
		sb[i] = rnd_scale(), zb[i] = rnd_zero(k->bdt);
	int32_t *acc = calloc((size_t)ny, sizeof *acc), *want = malloc(sizeof *want * (size_t)ny);
	int64_t idx[MAXR] = {0}, bi = 0;
	do {
		int64_t oa = bcast_at(nbat, idx, na_b, k->ad), ob = bcast_at(nbat, idx, nb_b, k->bd);
		ref_mm(a + oa * M * K, k->ta ? 1 : K, k->ta ? M : 1, b + ob * K * N, rb >= 2 && !k->tb ? N : 1, k->tb ? K : 1, M,
		       K, N, za, zb, k->per_col, acc + bi * M * N);
		bi++;
	} while (step(nbat, bat, idx));
	float sy, amin, amax;
	int32_t zy, lo, hi;
	requant_cols(acc, want, ny, N, sa, sb, k->per_col, k->ydt, k->act, &sy, &zy, &amin, &amax, &lo, &hi);
	expect_varied(want, ny, lo, hi, k->name);

	Graph *g = ir_graph_new("matmul");
	void *ab = pack(k->adt, a, nA), *bb = pack(k->bdt, b, nB);
	int baxis = k->per_col ? (k->tb ? rb - 2 : rb - 1) : -1;
	ValueId in[2] = {ir_add_input(g, "a", qtype(g, k->adt, ra, k->ad, -1, 1, &sa, &za)),
			 ir_add_input(g, "b", qtype(g, k->bdt, rb, k->bd, baxis, nq, sb, zb))};
	Attr at[5] = {ir_ai("trans_a", k->ta), ir_ai("trans_b", k->tb)};
	int na = 2 + act_attrs(at + 2, k->act, amin, amax);
	build(g, OP_MATMUL, in, 2, at, na, k->ydt, sy, zy);
	const Type *ty = ir_value_type(g, g->outputs.v[0]);
	ck_assert_int_eq(ty->rank, yr);
	ck_assert(!memcmp(ty->dims, yd, sizeof *yd * (size_t)yr));
	const void *inp[2] = {ab, bb};
	check_graph(g, inp, k->ydt, want, ny, k->name);
	free(a), free(b), free(ab), free(bb), free(acc), free(want);
}
END_TEST

/* ---- add and mul --------------------------------------------------------------------------------------- */

typedef struct EwCase {
	const char *name;
	Op op;
	int ra, rb;
	int64_t ad[3], bd[3];
	DType adt, bdt, ydt;
	const char *act;
	float s[3];  /* scales of a, b, y (0: random, y's from the data) */
	uint32_t seed;
} EwCase;

static const EwCase ew_cases[] = {
	{"add i8 [2,3,5] + [3,1]", OP_ADD, 3, 2, {2, 3, 5}, {3, 1}, DT_I8, DT_I8, DT_I8, NULL, {0}, 41},
	{"add u8 [4,1,7] + [1,6,1], clip", OP_ADD, 3, 3, {4, 1, 7}, {1, 6, 1}, DT_U8, DT_U8, DT_U8, "clip", {0}, 42},
	{"add i8 [2,13] + [1] -> u8, relu", OP_ADD, 2, 1, {2, 13}, {1}, DT_I8, DT_I8, DT_U8, "relu", {0}, 43},
	{"add, scales 100x apart", OP_ADD, 2, 2, {3, 11}, {3, 11}, DT_I8, DT_I8, DT_I8, NULL, {0.009f, 0.9f}, 44},
	/* y = (a + 3b) / 8 exactly: an eighth of the results are ties, where
	 * the inner roundings (a's ratio is 1/6) decide. */
	{"add at ties", OP_ADD, 2, 2, {9, 13}, {9, 13}, DT_I8, DT_I8, DT_I8, NULL, {0.25f, 0.75f, 2}, 47},
	{"mul i8 [2,3,5] * [5]", OP_MUL, 3, 1, {2, 3, 5}, {5}, DT_I8, DT_I8, DT_I8, NULL, {0}, 45},
	{"mul u8 [4,1,7] * [1,6,1], relu", OP_MUL, 3, 3, {4, 1, 7}, {1, 6, 1}, DT_U8, DT_U8, DT_U8, "relu", {0}, 46},
};

/* f32 QuantizeLinear: round_half_even(v / s) + z, saturated. */
static int32_t quantize_f32(float v, float s, int32_t z, int32_t lo, int32_t hi)
{
	double q = (double)nearbyintf(v / s) + z;
	return q < lo ? lo : q > hi ? hi : (int32_t)q;
}

START_TEST(int_add_mul)
{
	const EwCase *k = &ew_cases[_i];
	rng = k->seed;
	int64_t yd[3];
	int yr;
	ck_assert(ir_broadcast(k->ra, k->ad, k->rb, k->bd, &yr, yd));
	int64_t nA = prod(k->ra, k->ad), nB = prod(k->rb, k->bd), ny = prod(yr, yd);
	int32_t *a = rnd_ints(k->adt, nA), *b = rnd_ints(k->bdt, nB), za = rnd_zero(k->adt), zb = rnd_zero(k->bdt);
	int32_t *want = malloc(sizeof *want * (size_t)ny), *ia = malloc(sizeof *ia * (size_t)ny), *ib = malloc(sizeof *ib * (size_t)ny);
	float sa = k->s[0] ? k->s[0] : rnd_scale(), sb = k->s[1] ? k->s[1] : rnd_scale();
	int64_t idx[3] = {0}, i = 0;
	double max_real = 0;
	do {  /* each operand's element at result element i */
		ia[i] = a[bcast_at(yr, idx, k->ra, k->ad)] - za, ib[i] = b[bcast_at(yr, idx, k->rb, k->bd)] - zb;
		double ra = ia[i] * (double)sa, rb = ib[i] * (double)sb;
		max_real = fmax(max_real, k->op == OP_ADD ? fabs(ra) + fabs(rb) : fabs(ra * rb));
		i++;
	} while (step(yr, yd, idx));
	float sy = k->s[2] ? k->s[2] : scale_for(max_real, k->ydt), amin = -21.5f * sy, amax = 70.5f * sy;
	int32_t zy = rnd_zero(k->ydt), lo, hi;
	act_range(k->ydt, k->act, amin, amax, sy, zy, &lo, &hi);
	/* add as TFLite's reference: each side << 20 rescaled by s / (2 max s), the sum into y. */
	double smax2 = 2 * fmax(sa, sb);
	Requant qa = requant_of(sa / smax2), qb = requant_of(sb / smax2), qy = requant_of(smax2 / ((double)(1 << 20) * sy));
	Requant qm = requant_of((double)sa * sb / sy);
	for (i = 0; i < ny; i++) {
		if (k->op == OP_ADD) {
			int32_t va = ir_requantize(ia[i] * (1 << 20), qa, 0, INT32_MIN, INT32_MAX);
			int32_t vb = ir_requantize(ib[i] * (1 << 20), qb, 0, INT32_MIN, INT32_MAX);
			want[i] = ir_requantize(va + vb, qy, zy, lo, hi);
		} else
			want[i] = ir_requantize(ia[i] * ib[i], qm, zy, lo, hi);
		/* The float reference (dequantize, compute in f32, quantize) is one quantum away at most. */
		float fa = (float)ia[i] * sa, fb = (float)ib[i] * sb;
		int32_t f = quantize_f32(k->op == OP_ADD ? fa + fb : fa * fb, sy, zy, lo, hi);
		ck_assert_msg(abs(f - want[i]) <= 1, "%s: element %lld: %d, the float reference %d", k->name, (long long)i,
			      want[i], f);
	}
	expect_varied(want, ny, lo, hi, k->name);

	Graph *g = ir_graph_new("ew");
	void *ab = pack(k->adt, a, nA), *bb = pack(k->bdt, b, nB);
	ValueId in[2] = {ir_add_input(g, "a", qtype(g, k->adt, k->ra, k->ad, -1, 1, &sa, &za)),
			 ir_add_input(g, "b", qtype(g, k->bdt, k->rb, k->bd, -1, 1, &sb, &zb))};
	Attr at[3];
	int na = act_attrs(at, k->act, amin, amax);
	build(g, k->op, in, 2, at, na, k->ydt, sy, zy);
	const void *inp[2] = {ab, bb};
	check_graph(g, inp, k->ydt, want, ny, k->name);
	free(a), free(b), free(ab), free(bb), free(ia), free(ib), free(want);
}
END_TEST

/* ---- pools ----------------------------------------------------------------------------------------------- */

typedef struct PoolCase {
	const char *name;
	Op op;
	int nsp;
	int64_t N, C, in[3], k[3], st[3], dl[3], pd[6];
	bool ceil, cip;
	DType xdt, ydt;
	uint32_t seed;
} PoolCase;

static const PoolCase pool_cases[] = {
	{"maxpool 3x3 stride 2 pads 1, ceil", OP_MAXPOOL, 2, 2, 3, {7, 9}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, false,
	 DT_I8, DT_I8, 51},
	{"maxpool u8, dilation 2, asymmetric pads", OP_MAXPOOL, 2, 1, 5, {8, 8}, {2, 3}, {2, 1}, {2, 1}, {0, 1, 1, 0}, false,
	 false, DT_U8, DT_U8, 52},
	{"maxpool 1-d", OP_MAXPOOL, 1, 1, 3, {11}, {3}, {2}, {1}, {1, 2}, false, false, DT_I8, DT_I8, 53},
	{"avgpool, count_include_pad 0, ceil, asymmetric pads", OP_AVGPOOL, 2, 2, 3, {7, 9}, {3, 3}, {2, 2}, {1, 1},
	 {1, 0, 1, 2}, true, false, DT_I8, DT_U8, 54},
	{"avgpool, count_include_pad 1, ceil, asymmetric pads", OP_AVGPOOL, 2, 2, 3, {7, 9}, {3, 3}, {2, 2}, {1, 1},
	 {1, 0, 1, 2}, true, true, DT_I8, DT_U8, 55},
	{"avgpool 3-d u8", OP_AVGPOOL, 3, 1, 2, {5, 4, 3}, {2, 2, 3}, {2, 1, 2}, {1, 1, 1}, {1, 0, 1, 0, 1, 1}, false, false,
	 DT_U8, DT_I8, 56},
	{"avgpool 1-d, count_include_pad 1, ceil, dilation 2", OP_AVGPOOL, 1, 1, 2, {10}, {4}, {3}, {2}, {2, 3}, true, true,
	 DT_U8, DT_U8, 57},
	{"global maxpool", OP_GLOBAL_MAXPOOL, 2, 2, 5, {3, 7}, {0}, {0}, {0}, {0}, false, false, DT_I8, DT_I8, 58},
	{"global avgpool u8 -> i8", OP_GLOBAL_AVGPOOL, 2, 2, 5, {3, 7}, {0}, {0}, {0}, {0}, false, false, DT_U8, DT_I8, 59},
	{"global avgpool 3-d", OP_GLOBAL_AVGPOOL, 3, 1, 3, {2, 3, 4}, {0}, {0}, {0}, {0}, false, false, DT_I8, DT_I8, 60},
};

START_TEST(int_pool)
{
	const PoolCase *k = &pool_cases[_i];
	rng = k->seed;
	bool global = k->op == OP_GLOBAL_MAXPOOL || k->op == OP_GLOBAL_AVGPOOL;
	bool mx = k->op == OP_MAXPOOL || k->op == OP_GLOBAL_MAXPOOL;
	int nsp = k->nsp, rank = nsp + 2;
	int64_t ker[3], st[3], dl[3], pd[6] = {0}, od[3];
	for (int i = 0; i < nsp; i++) {
		ker[i] = global ? k->in[i] : k->k[i];
		st[i] = global ? 1 : k->st[i];
		dl[i] = global ? 1 : k->dl[i];
		pd[i] = global ? 0 : k->pd[i];
		pd[nsp + i] = global ? 0 : k->pd[nsp + i];
		/* ONNX's output size; with ceil_mode a last window must start inside x or its begin pad */
		int64_t span = k->in[i] + pd[i] + pd[nsp + i] - ((ker[i] - 1) * dl[i] + 1);
		od[i] = (k->ceil ? (span + st[i] - 1) / st[i] : span / st[i]) + 1;
		if (k->ceil && (od[i] - 1) * st[i] >= k->in[i] + pd[i])
			od[i]--;
	}
	int64_t planes = k->N * k->C, xin = prod(nsp, k->in), yin = prod(nsp, od), nx = planes * xin, ny = planes * yin;
	int32_t *x = rnd_ints(k->xdt, nx), zx = rnd_zero(k->xdt), *want = malloc(sizeof *want * (size_t)ny), xlo, xhi;
	float sx = rnd_scale(), sy = mx ? sx : sx * 1.3f;
	int32_t zy = mx ? zx : rnd_zero(k->ydt), lo, hi;
	DType ydt = mx ? k->xdt : k->ydt;
	qrange(k->xdt, &xlo, &xhi);
	qrange(ydt, &lo, &hi);
	for (int64_t p = 0; p < planes; p++) {
		int64_t o[3] = {0}, yo = 0;
		do {
			int32_t acc = mx ? xlo : 0, cnt = 0;
			int64_t t[3] = {0};
			do {
				bool ok = true, inpad = true;
				int64_t xo = 0;
				for (int i = 0; i < nsp; i++) {
					int64_t ix = o[i] * st[i] + t[i] * dl[i] - pd[i];
					ok &= ix >= 0 && ix < k->in[i];
					inpad &= ix >= -pd[i] && ix < k->in[i] + pd[nsp + i];
					xo = xo * k->in[i] + ix;
				}
				if (ok && mx && x[p * xin + xo] > acc)
					acc = x[p * xin + xo];
				if (ok && !mx)
					acc += x[p * xin + xo] - zx;
				cnt += k->cip ? inpad : ok;
			} while (step(nsp, ker, t));
			want[p * yin + yo++] = mx ? acc : ir_requantize(acc, requant_of(sx / (sy * (double)cnt)), zy, lo, hi);
		} while (step(nsp, od, o));
	}
	expect_varied(want, ny, lo, hi, k->name);

	Graph *g = ir_graph_new("pool");
	int64_t xd[5] = {k->N, k->C};
	memcpy(xd + 2, k->in, sizeof *xd * (size_t)nsp);
	void *xb = pack(k->xdt, x, nx);
	ValueId in = ir_add_input(g, "x", qtype(g, k->xdt, rank, xd, -1, 1, &sx, &zx));
	Attr a[6] = {ir_aints("kernel", ker, nsp), ir_aints("strides", st, nsp), ir_aints("pads", pd, 2 * nsp),
		     ir_aints("dilations", dl, nsp), ir_ai("ceil_mode", k->ceil), ir_ai("count_include_pad", k->cip)};
	if (mx) {  /* the result keeps x's quantization: no declared type */
		Diag d;
		diag_init(&d);
		NodeId n = ir_build(g, k->op, "n", &in, 1, a, global ? 0 : 5, "y", &d);
		ck_assert_msg(n >= 0, "%s", d.nmsg ? d.msgs[0] : "?");
		ck_assert_ptr_eq(ir_value_type(g, g->nodes.v[n].out)->q, ir_value_type(g, in)->q);
		ir_mark_output(g, g->nodes.v[n].out);
		diag_free(&d);
	} else
		build(g, k->op, &in, 1, a, global ? 0 : 6, ydt, sy, zy);
	const void *inp[1] = {xb};
	check_graph(g, inp, ydt, want, ny, k->name);
	free(x), free(xb), free(want);
}
END_TEST

/* ---- a graph of them through the -O2 pipeline and the memory plan ------------------------------------------ */

/* x -> conv (i8) -> avgpool (i32) -> quantize (i8) -> add(., conv) (i8) ->
 * maxpool -> y: the plan gives each element of an i8 value 1 byte and of
 * an i32 value 4, the add may overwrite its operand in place, and every
 * output element is as the chain computed in C. */
START_TEST(int_graph_planned)
{
	rng = 71;
	enum { C = 4, H = 9, HW = H * H, CHW = C * HW, K = 3 };
	int32_t *x = rnd_ints(DT_I8, CHW), *w = rnd_ints(DT_I8, C * C * K * K), bias[C], zw[C];
	int32_t zx = rnd_zero(DT_I8), zc = -3, zap = 7, zq = 2, zs = -5;
	float sx = 0.02f, sw[C], sc = 0.5f, sap = sc / 64, sq = 0.25f, ss = 0.5f;
	for (int m = 0; m < C; m++)
		sw[m] = rnd_scale(), zw[m] = rnd_zero(DT_I8), bias[m] = rnd_in(-500, 500);
	/* The chain in C. */
	int32_t c[CHW], ap[CHW], q[CHW], sum[CHW], want[C * 8 * 8];
	for (int m = 0; m < C; m++)
		for (int i = 0; i < H; i++)
			for (int j = 0; j < H; j++) {
				int32_t a = bias[m];
				for (int ic = 0; ic < C; ic++)
					for (int u = 0; u < K; u++)
						for (int v = 0; v < K; v++)
							if (i + u - 1 >= 0 && i + u - 1 < H && j + v - 1 >= 0 && j + v - 1 < H)
								a += (x[ic * HW + (i + u - 1) * H + j + v - 1] - zx) *
								     (w[((m * C + ic) * K + u) * K + v] - zw[m]);
				c[m * HW + i * H + j] = ir_requantize(a, requant_of((double)sx * sw[m] / sc), zc, -128, 127);
			}
	for (int m = 0; m < C; m++)
		for (int i = 0; i < H; i++)
			for (int j = 0; j < H; j++) {
				int32_t a = 0, cnt = 0;
				for (int u = -1; u <= 1; u++)
					for (int v = -1; v <= 1; v++)
						if (i + u >= 0 && i + u < H && j + v >= 0 && j + v < H)
							a += c[m * HW + (i + u) * H + j + v] - zc, cnt++;
				ap[m * HW + i * H + j] = ir_requantize(a, requant_of(sc / (sap * (double)cnt)), zap, INT32_MIN, INT32_MAX);
			}
	double smax2 = 2 * fmax(sq, sc);
	Requant ra = requant_of(sq / smax2), rb = requant_of(sc / smax2), ry = requant_of(smax2 / ((double)(1 << 20) * ss));
	for (int i = 0; i < CHW; i++) {
		q[i] = ir_requantize(ap[i] - zap, requant_of((double)sap / sq), zq, -128, 127);
		int32_t va = ir_requantize((q[i] - zq) * (1 << 20), ra, 0, INT32_MIN, INT32_MAX);
		int32_t vb = ir_requantize((c[i] - zc) * (1 << 20), rb, 0, INT32_MIN, INT32_MAX);
		sum[i] = ir_requantize(va + vb, ry, zs, -128, 127);
	}
	for (int m = 0; m < C; m++)
		for (int i = 0; i < 8; i++)
			for (int j = 0; j < 8; j++) {
				int32_t a = -128;
				for (int u = 0; u < 2; u++)
					for (int v = 0; v < 2; v++)
						a = sum[m * HW + (i + u) * H + j + v] > a ? sum[m * HW + (i + u) * H + j + v] : a;
				want[(m * 8 + i) * 8 + j] = a;
			}
	expect_varied(want, C * 64, -128, 127, "the chain");
	expect_varied(ap, CHW, INT32_MIN, INT32_MAX, "the i32 average");

	Graph *g = ir_graph_new("chain");
	Diag d;
	diag_init(&d);
	int64_t xd[4] = {1, C, H, H}, wd[4] = {C, C, K, K}, bd[1] = {C}, one = 1;
	int64_t st[2] = {1, 1}, pd[4] = {1, 1, 1, 1}, k3[2] = {3, 3}, k2[2] = {2, 2}, p0[4] = {0};
	void *xb = pack(DT_I8, x, CHW), *wb = pack(DT_I8, w, C * C * K * K);
	ValueId cin[3] = {ir_add_input(g, "x", qtype(g, DT_I8, 4, xd, -1, 1, &sx, &zx)),
			  ir_add_const(g, "w", qtype(g, DT_I8, 4, wd, 0, C, sw, zw), wb),
			  ir_add_const(g, "b", ir_type(g, DT_I32, 1, bd, NULL), bias)};
	Attr ca[] = {ir_aints("strides", st, 2), ir_aints("pads", pd, 4), ir_aints("dilations", st, 2), ir_ai("group", 1)};
	NodeId n = ir_build_as(g, OP_CONV, "conv", cin, 3, ca, 4, "c", qtype(g, DT_I8, 1, &one, -1, 1, &sc, &zc), &d);
	ck_assert_int_ge(n, 0);
	ValueId cv = g->nodes.v[n].out;
	Attr pa[] = {ir_aints("kernel", k3, 2), ir_aints("strides", st, 2), ir_aints("pads", pd, 4),
		     ir_aints("dilations", st, 2), ir_ai("ceil_mode", 0), ir_ai("count_include_pad", 0)};
	n = ir_build_as(g, OP_AVGPOOL, "avg", &cv, 1, pa, 6, "ap", qtype(g, DT_I32, 1, &one, -1, 1, &sap, &zap), &d);
	ck_assert_int_ge(n, 0);
	ValueId av = g->nodes.v[n].out;
	n = ir_build_as(g, OP_QUANTIZE, "requant", &av, 1, NULL, 0, "q", qtype(g, DT_I8, 4, xd, -1, 1, &sq, &zq), &d);
	ck_assert_int_ge(n, 0);
	ValueId sin[2] = {g->nodes.v[n].out, cv};
	n = ir_build_as(g, OP_ADD, "add", sin, 2, NULL, 0, "s", qtype(g, DT_I8, 1, &one, -1, 1, &ss, &zs), &d);
	ck_assert_int_ge(n, 0);
	ValueId sv = g->nodes.v[n].out;
	Attr ma[] = {ir_aints("kernel", k2, 2), ir_aints("strides", st, 2), ir_aints("pads", p0, 4),
		     ir_aints("dilations", st, 2), ir_ai("ceil_mode", 0)};
	n = ir_build(g, OP_MAXPOOL, "max", &sv, 1, ma, 5, "y", &d);
	ck_assert_msg(n >= 0, "%s", d.nmsg ? d.msgs[0] : "?");
	ir_mark_output(g, g->nodes.v[n].out);

	CgOptions o = {.name = "t", .opt_level = 2};
	PassCtx cx = {.diag = &d, .opt_level = 2, .ws_align = 64, .fold = cg_fold, .vector_lanes = cg_vector_lanes(&o)};
	ck_assert_msg(pass_run_pipeline(g, NULL, &cx), "%s", d.nmsg ? d.msgs[0] : "?");
	ck_assert(ir_verify(g, &d));
	/* Live at the requantization: c, ap and q, 64-byte aligned (the add
	 * then overwrites q, which dies there, in place). */
	int64_t want_ws = (CHW + 63) / 64 * 64 * 2 + (CHW * 4 + 63) / 64 * 64;
	ck_assert_int_eq(g->ws_size, want_ws);
	ck_assert_int_eq(g->ws_lower_bound, want_ws);
	int64_t off;
	ck_assert_int_eq(ir_value_home(g, ir_find_value(g, "s"), &off), ir_find_value(g, "q"));
	void *y = malloc(C * 64);
	const void *inp[1] = {xb};
	jit_run(g, 0, inp, &y);
	for (int i = 0; i < C * 64; i++)
		ck_assert_msg(((int8_t *)y)[i] == want[i], "element %d is %d, expected %d", i, ((int8_t *)y)[i], want[i]);
	diag_free(&d);
	ir_graph_free(g);
	free(x), free(w), free(xb), free(wb), free(y);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("int");
	TCase *tc = tcase_create("int");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, int_conv, 0, sizeof conv_cases / sizeof conv_cases[0]);
	tcase_add_test(tc, int_conv_not_split);
	tcase_add_loop_test(tc, int_gemm, 0, sizeof gemm_cases / sizeof gemm_cases[0]);
	tcase_add_loop_test(tc, int_matmul, 0, sizeof matmul_cases / sizeof matmul_cases[0]);
	tcase_add_loop_test(tc, int_add_mul, 0, sizeof ew_cases / sizeof ew_cases[0]);
	tcase_add_loop_test(tc, int_pool, 0, sizeof pool_cases / sizeof pool_cases[0]);
	tcase_add_test(tc, int_graph_planned);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
