/* The plain integer lowerings of the integer forms (docs/ir.md, "Quantized
 * values"): conv, gemm, matmul, add, mul and the pools on 8-bit quantized
 * operands, and matmul_integer (dynamic quantization's product, its zero
 * point a run-time operand).  No float in the generated code (cores without an FPU run
 * it): each result is an i32 accumulation rescaled once by cg_requant
 * (ir/requant.c bit for bit), its multipliers computed here at compile
 * time from the f32 scales (ratios in double) and kept as module tables.
 * Plain loop nests as the float references' (cg_conv.c's lower_conv_nd,
 * cg_window.c's cg_lower_pool_nd, cg_matmul.c's matmul_plain), one nest
 * for every spatial rank (quantized values are never in channel blocks),
 * no tiling, no parts (they never split).  Conv, gemm, matmul and the
 * pools try the targets' kernels first (cg_int_x86.c, cg_int_x86_dw.c,
 * cg_int_arm.c, cg_int_rvv.c, cg_int_dsp.c) and come here for what those do not take,
 * or always under KILN_CG_REFERENCE.  Assumes zero points inside
 * their dtype's range and accumulations that fit in i32 (they wrap);
 * checked bit for bit against C written from the ONNX definitions with
 * ir_requantize (tests/unit/test_int.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

#define MAXR IR_MAX_RANK
#define ADD_SHIFT 20  /* add's common fixed point: 2^20 units of 2*max(s_a, s_b) */

/* ---- arithmetic and results ------------------------------------------------------------- */

static LLVMValueRef k32(Cg *c, int64_t v) { return LLVMConstInt(c->i32, (uint64_t)v, 1); }  /* an i32 constant */

/* i*si + j*sj: an element offset from two indices and their strides. */
static LLVMValueRef off2(Cg *c, LLVMValueRef i, int64_t si, LLVMValueRef j, int64_t sj)
{
	return cg_add(c, cg_mul(c, i, cg_i64(c, si)), cg_mul(c, j, cg_i64(c, sj)));
}

/* base[i] - zero as i32. */
static LLVMValueRef load_centred(Cg *c, DType dt, LLVMValueRef base, LLVMValueRef i, LLVMValueRef zero)
{
	return LLVMBuildSub(c->b, cg_load_i32(c, dt, base, i), zero, "");
}

/* *acc += v, wrapping as an int32 accumulator does. */
static void accumulate(Cg *c, LLVMValueRef acc, LLVMValueRef v)
{
	LLVMBuildStore(c->b, LLVMBuildAdd(c->b, LLVMBuildLoad2(c->b, c->i32, acc, ""), v, ""), acc);
}

/* Y[at] = an i32 v in dt (an integer of at most 32 bits, v in its range). */
static void store_int(Cg *c, DType dt, LLVMValueRef v, LLVMValueRef Y, LLVMValueRef at)
{
	LLVMTypeRef t = cg_bits_type(c, dt);
	cg_store(c, t, LLVMBuildTrunc(c->b, v, t, ""), Y, at);
}

/* How a lowering's i32 accumulators become the result: per channel k (nch
 * of them; 1 when per tensor) the multiplier and shift of r[k] and the
 * weights' zero point, one module table [mult..., shift..., zero...]; the
 * result's dtype, zero point and bounds. */
typedef struct IntOut {
	LLVMValueRef tab;
	int nch;
	DType dt;
	int32_t zy, lo, hi;
} IntOut;

/* The IntOut of n's result for the nch multipliers r[] (zero points from
 * qw, none when NULL). */
static IntOut int_out(Cg *c, const Node *n, int nch, const double *r, const Quant *qw)
{
	const Type *ty = cg_ty(c, n->out);
	IntOut o = {.nch = nch, .dt = ty->dt, .zy = ty->q->zero[0]};
	int32_t *t = malloc(3 * sizeof *t * (size_t)nch);
	if (!t)
		die("out of memory");
	for (int k = 0; k < nch; k++) {
		Requant q = cg_requant_of(c, n, r[k]);
		t[k] = q.mult, t[nch + k] = q.shift, t[2 * nch + k] = qw ? qw->zero[k] : 0;
	}
	o.tab = cg_const_blob(c, "kiln.requant", t, 3 * sizeof *t * (size_t)nch);
	free(t);
	cg_int_bounds(n, ty, &o.lo, &o.hi);
	return o;
}

/* Channel k's index in o's tables (always 0 when per tensor). */
static LLVMValueRef chan(Cg *c, const IntOut *o, LLVMValueRef k) { return o->nch > 1 ? k : cg_i64(c, 0); }

/* Entry k of o's table `part` (0 mult, 1 shift, 2 zero point). */
static LLVMValueRef tab_at(Cg *c, const IntOut *o, int part, LLVMValueRef k)
{
	return cg_load(c, c->i32, o->tab, cg_add(c, k, cg_i64(c, (int64_t)part * o->nch)));
}

/* Y[at] = requant(acc) by channel k's multiplier. */
static void store_requant(Cg *c, const IntOut *o, LLVMValueRef acc, LLVMValueRef k, LLVMValueRef Y, LLVMValueRef at)
{
	LLVMValueRef v = cg_requant(c, acc, tab_at(c, o, 0, k), tab_at(c, o, 1, k), k32(c, o->zy), k32(c, o->lo), k32(c, o->hi));
	store_int(c, o->dt, v, Y, at);
}

/* r[k] = s_x * s_w[k] / s_y per channel of w's quantization (malloc'd). */
static double *scale_ratios(double sx, const Quant *qw, double sy)
{
	double *r = malloc(sizeof *r * (size_t)qw->n);
	if (!r)
		die("out of memory");
	for (int k = 0; k < qw->n; k++)
		r[k] = sx * qw->scale[k] / sy;
	return r;
}

/* ---- loop nests ------------------------------------------------------------------------- */

/* Loops over the dims d[0..r) of a result moving two operands' offsets
 * off[] through their broadcast strides; oy is the result's offset.  As
 * cg_ew.c's nest, with extent-1 dims skipped and neighbours that both
 * operands walk alike (contiguous, or both broadcast) merged into one
 * loop: a same-shape add is one loop over all its elements, a
 * per-channel one a loop over the channels and one over each plane, long
 * enough for the loop vectorizer where the last dim alone (7, 14) is
 * not. */
typedef struct Bcast {
	int r;
	int64_t d[MAXR];
	Loop l[MAXR];
	LLVMValueRef off[2], oy;
} Bcast;

/* Opens the loops over d[0..r); off[0], off[1] follow t0's and t1's elements. */
static void bcast_begin(Cg *c, Bcast *b, int r, const int64_t *d, const Type *t0, const Type *t1)
{
	const Type *t[2] = {t0, t1};
	int64_t st[2][MAXR], mst[2][MAXR];
	for (int k = 0; k < 2; k++)
		cg_bcast_strides(t[k], r, d, st[k]);
	b->r = 0;
	for (int i = 0; i < r; i++) {
		if (d[i] == 1)
			continue;
		int j = b->r - 1;
		if (j >= 0 && mst[0][j] == st[0][i] * d[i] && mst[1][j] == st[1][i] * d[i]) {
			b->d[j] *= d[i];
			mst[0][j] = st[0][i], mst[1][j] = st[1][i];
			continue;
		}
		b->d[++j] = d[i];
		mst[0][j] = st[0][i], mst[1][j] = st[1][i];
		b->r++;
	}
	b->oy = b->off[0] = b->off[1] = cg_i64(c, 0);
	for (int i = 0; i < b->r; i++) {
		LLVMValueRef v = cg_loop_begin(c, &b->l[i], cg_i64(c, 0), cg_i64(c, b->d[i]));
		for (int k = 0; k < 2; k++)
			b->off[k] = cg_add(c, b->off[k], cg_mul(c, v, cg_i64(c, mst[k][i])));
		b->oy = cg_add(c, cg_mul(c, b->oy, cg_i64(c, b->d[i])), v);
	}
}

/* Closes bcast_begin's loops. */
static void bcast_end(Cg *c, Bcast *b)
{
	for (int i = b->r - 1; i >= 0; i--)
		cg_loop_end(c, &b->l[i], 1);
}

/* The windows of conv and the pools over the spatial dims (a global pool:
 * one window over the plane): the loops over the output positions (yo
 * their offset in a plane), then over the taps of one window.  At a tap,
 * ok says it is inside x, inpad inside x with its pads; xo is its offset
 * in x's plane (0 outside: masked by ok), ko in the kernel. */
typedef struct Win {
	int nsp;
	int64_t k[MAXR], st[MAXR], pd[2 * MAXR], dl[MAXR];
	Loop lo[MAXR], lk[MAXR];
	LLVMValueRef o[MAXR], yo, ok, inpad, xo, ko;
} Win;

/* n's windows over x: kernel is conv's weight dims (NULL: attr "kernel"). */
static void win_geometry(const Node *n, const Type *x, const int64_t *kernel, Win *w)
{
	bool global = n->op == OP_GLOBAL_MAXPOOL || n->op == OP_GLOBAL_AVGPOOL;
	int nsp = w->nsp = x->rank - 2, cnt;
	const int64_t *k = kernel ? kernel : ir_attr_ints(n, "kernel", &cnt), *st = ir_attr_ints(n, "strides", &cnt);
	const int64_t *pd = ir_attr_ints(n, "pads", &cnt), *dl = ir_attr_ints(n, "dilations", &cnt);
	for (int i = 0; i < nsp; i++) {
		w->k[i] = global ? x->dims[2 + i] : k[i];
		w->st[i] = global ? 1 : st[i];
		w->dl[i] = global ? 1 : dl[i];
		w->pd[i] = global ? 0 : pd[i];
		w->pd[nsp + i] = global ? 0 : pd[nsp + i];
	}
}

/* Opens the loops over the output positions of y. */
static void win_out_begin(Cg *c, Win *w, const Type *y)
{
	w->yo = cg_i64(c, 0);
	for (int i = 0; i < w->nsp; i++) {
		w->o[i] = cg_loop_begin(c, &w->lo[i], cg_i64(c, 0), cg_i64(c, y->dims[2 + i]));
		w->yo = cg_add(c, cg_mul(c, w->yo, cg_i64(c, y->dims[2 + i])), w->o[i]);
	}
}

/* Opens the loops over one window's taps in x. */
static void win_taps_begin(Cg *c, Win *w, const Type *x)
{
	w->ok = w->inpad = LLVMConstInt(LLVMInt1TypeInContext(c->ctx), 1, 0);
	w->xo = w->ko = cg_i64(c, 0);
	for (int i = 0; i < w->nsp; i++) {
		int64_t X = x->dims[2 + i];
		LLVMValueRef t = cg_loop_begin(c, &w->lk[i], cg_i64(c, 0), cg_i64(c, w->k[i]));
		LLVMValueRef ix = cg_add(c, off2(c, w->o[i], w->st[i], t, w->dl[i]), cg_i64(c, -w->pd[i]));
		w->ok = cg_and(c, w->ok, cg_in_range(c, ix, X));
		w->inpad = cg_and(c, w->inpad, cg_in_range(c, cg_add(c, ix, cg_i64(c, w->pd[i])), X + w->pd[i] + w->pd[w->nsp + i]));
		w->xo = cg_add(c, cg_mul(c, w->xo, cg_i64(c, X)), ix);
		w->ko = cg_add(c, cg_mul(c, w->ko, cg_i64(c, w->k[i])), t);
	}
	w->xo = cg_sel(c, w->ok, w->xo, cg_i64(c, 0));
}

/* Closes them, then (win_out_end) the output positions' loops. */
static void win_taps_end(Cg *c, Win *w)
{
	for (int i = w->nsp - 1; i >= 0; i--)
		cg_loop_end(c, &w->lk[i], 1);
}

static void win_out_end(Cg *c, Win *w)
{
	for (int i = w->nsp - 1; i >= 0; i--)
		cg_loop_end(c, &w->lo[i], 1);
}

/* Elements of one plane (all dims after the first two). */
static int64_t plane(const Type *t)
{
	int64_t p = 1;
	for (int i = 2; i < t->rank; i++)
		p *= t->dims[i];
	return p;
}

/* ---- conv --------------------------------------------------------------------------------- */

/* The targets' kernels for conv, gemm/matmul and the pools, tried in order: each
 * emits the node's code and returns true, or returns false having emitted
 * nothing (another target, a shape or operand it does not take,
 * c->reference).  A target's kernel file adds its row. */
typedef bool (*IntKernel)(Cg *c, const Node *n);
static const IntKernel conv_kernels[] = {cg_int_conv_fast, cg_int_dw_fast, cg_int_conv_arm, cg_int_conv_rvv, cg_int_conv_dsp,
					    NULL};
static const IntKernel matmul_kernels[] = {cg_int_matmul_fast, cg_int_matmul_arm, cg_int_matmul_rvv, cg_int_matmul_dsp, NULL};
static const IntKernel pool_kernels[] = {cg_int_pool_fast, NULL};

static bool try_kernels(Cg *c, const Node *n, const IntKernel *k)
{
	for (; *k; k++)
		if ((*k)(c, n))
			return true;
	return false;
}

/* The loop nest of conv's integer form and conv_integer: conv_nest_begin
 * opens the loops over the batch (nb), the groups (grp: no 64-bit
 * division, a libgcc call on 32-bit targets) and a group's output channels
 * (m); conv_nest_sum those over the output positions and, for each, sets
 * *acc = init + the sum over m's input channels and the taps inside x of
 * (x - zx)(w - zw), ya the output's offset; conv_nest_end closes them. */
typedef struct ConvNest {
	Win w;
	Loop lb, lg, lm;
	LLVMValueRef nb, grp, m, ya;
} ConvNest;

static void conv_nest_begin(Cg *c, const Node *n, ConvNest *k)
{
	const Type *x = cg_ty(c, n->in[0]), *wt = cg_ty(c, n->in[1]);
	int64_t G = ir_attr_int(n, "group", 1), Mg = cg_ty(c, n->out)->dims[1] / G;
	win_geometry(n, x, wt->dims + 2, &k->w);
	k->nb = cg_loop_begin(c, &k->lb, cg_i64(c, 0), cg_i64(c, x->dims[0]));
	k->grp = cg_loop_begin(c, &k->lg, cg_i64(c, 0), cg_i64(c, G));
	k->m = cg_add(c, cg_mul(c, k->grp, cg_i64(c, Mg)), cg_loop_begin(c, &k->lm, cg_i64(c, 0), cg_i64(c, Mg)));
}

static void conv_nest_sum(Cg *c, const Node *n, ConvNest *k, LLVMValueRef acc, LLVMValueRef init, LLVMValueRef zx,
			  LLVMValueRef zw)
{
	const Type *x = cg_ty(c, n->in[0]), *wt = cg_ty(c, n->in[1]), *y = cg_ty(c, n->out);
	int64_t C = x->dims[1], M = y->dims[1], Cg = C / ir_attr_int(n, "group", 1), xin = plane(x), kin = plane(wt);
	LLVMValueRef X = cg_buf(c, n->in[0]), W = cg_buf(c, n->in[1]);
	Loop lc;
	win_out_begin(c, &k->w, y);
	LLVMBuildStore(c->b, init, acc);
	LLVMValueRef ic = cg_loop_begin(c, &lc, cg_i64(c, 0), cg_i64(c, Cg));
	win_taps_begin(c, &k->w, x);
	LLVMValueRef xa = cg_add(c, cg_mul(c, off2(c, k->nb, C, cg_add(c, cg_mul(c, k->grp, cg_i64(c, Cg)), ic), 1), cg_i64(c, xin)),
				 k->w.xo);
	LLVMValueRef wa = cg_add(c, cg_mul(c, off2(c, k->m, Cg, ic, 1), cg_i64(c, kin)), k->w.ko);
	LLVMValueRef p = LLVMBuildMul(c->b, load_centred(c, x->dt, X, xa, zx), load_centred(c, wt->dt, W, wa, zw), "");
	accumulate(c, acc, cg_sel(c, k->w.ok, p, k32(c, 0)));
	win_taps_end(c, &k->w);
	cg_loop_end(c, &lc, 1);
	k->ya = cg_add(c, cg_mul(c, off2(c, k->nb, M, k->m, 1), cg_i64(c, plane(y))), k->w.yo);
}

static void conv_nest_end(Cg *c, ConvNest *k)
{
	win_out_end(c, &k->w);
	cg_loop_end(c, &k->lm, 1);
	cg_loop_end(c, &k->lg, 1);
	cg_loop_end(c, &k->lb, 1);
}

/* y[n, m, o] = requant(b[m] + sum over c in m's group and the taps t inside
 * x of (x[n, c, o*s + t*d - p] - z_x)(w[m, c, t] - z_w[m])) by
 * r[m] = s_x * s_w[m] / s_y: taps in the padding add nothing (it is the
 * real 0 = z_x). */
void cg_lower_int_conv(Cg *c, const Node *n)
{
	if (try_kernels(c, n, conv_kernels))  /* a target's dot-product kernel took it */
		return;
	const Type *x = cg_ty(c, n->in[0]), *wt = cg_ty(c, n->in[1]), *y = cg_ty(c, n->out);
	double *r = scale_ratios(x->q->scale[0], wt->q, y->q->scale[0]);
	IntOut o = int_out(c, n, wt->q->n, r, wt->q);
	free(r);
	LLVMValueRef Bi = n->nin > 2 && n->in[2] >= 0 ? cg_buf(c, n->in[2]) : NULL, acc = cg_entry_alloca(c, c->i32);
	ConvNest k;
	conv_nest_begin(c, n, &k);
	LLVMValueRef ch = chan(c, &o, k.m);
	conv_nest_sum(c, n, &k, acc, Bi ? cg_load(c, c->i32, Bi, k.m) : k32(c, 0), k32(c, x->q->zero[0]), tab_at(c, &o, 2, ch));
	store_requant(c, &o, LLVMBuildLoad2(c->b, c->i32, acc, ""), ch, cg_buf(c, n->out), k.ya);
	conv_nest_end(c, &k);
}

/* ---- gemm and matmul ------------------------------------------------------------------------ */

/* One product, rows x K times K x N, operand elements A(r, k) at
 * r*a_rs + k*a_cs and B(k, n) at k*b_ks + n*b_ns, an optional i32 bias
 * C(r, n) at r*c_rs + n*c_ns; Y row-major. */
typedef struct IntMM {
	LLVMValueRef A, B, C, Y;
	int64_t rows, K, N, a_rs, a_cs, b_ks, b_ns, c_rs, c_ns;
} IntMM;

/* Y(r, n) = requant(C(r, n) + sum_k (A(r, k) - z_a)(B(k, n) - z_b[n])) by
 * r[n] = s_a * s_b[n] / s_y: n's operands a and b, o per column of b. */
static void int_mm(Cg *c, const Node *n, const IntMM *p, const IntOut *o)
{
	const Type *ta = cg_ty(c, n->in[0]), *tb = cg_ty(c, n->in[1]);
	LLVMValueRef acc = cg_entry_alloca(c, c->i32), za = k32(c, ta->q->zero[0]);
	Loop lr, ln, lk;
	LLVMValueRef r = cg_loop_begin(c, &lr, cg_i64(c, 0), cg_i64(c, p->rows));
	LLVMValueRef nn = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, p->N)), ch = chan(c, o, nn), zb = tab_at(c, o, 2, ch);
	LLVMBuildStore(c->b, p->C ? cg_load(c, c->i32, p->C, off2(c, r, p->c_rs, nn, p->c_ns)) : k32(c, 0), acc);
	LLVMValueRef k = cg_loop_begin(c, &lk, cg_i64(c, 0), cg_i64(c, p->K));
	LLVMValueRef a = load_centred(c, ta->dt, p->A, off2(c, r, p->a_rs, k, p->a_cs), za);
	LLVMValueRef b = load_centred(c, tb->dt, p->B, off2(c, k, p->b_ks, nn, p->b_ns), zb);
	accumulate(c, acc, LLVMBuildMul(c->b, a, b, ""));
	cg_loop_end(c, &lk, 1);
	store_requant(c, o, LLVMBuildLoad2(c->b, c->i32, acc, ""), ch, p->Y, off2(c, r, p->N, nn, 1));
	cg_loop_end(c, &ln, 1);
	cg_loop_end(c, &lr, 1);
}

/* The IntOut of gemm or matmul n with N columns (b per tensor or per column). */
static IntOut mm_out(Cg *c, const Node *n, int64_t N)
{
	const Quant *qa = cg_ty(c, n->in[0])->q, *qb = cg_ty(c, n->in[1])->q;
	if (qb->n != 1 && qb->n != N)  /* a 1-D b quantized along its only axis, K */
		die("node '%s': b is quantized along its inner dimension, not per column", n->name);
	double *r = scale_ratios(qa->scale[0], qb, cg_ty(c, n->out)->q->scale[0]);
	IntOut o = int_out(c, n, qb->n, r, qb);
	free(r);
	return o;
}

/* gemm (alpha = beta = 1): y = requant(C + op(a) op(b)), C an i32 bias
 * broadcast to [M, N]. */
void cg_lower_int_gemm(Cg *c, const Node *n)
{
	if (try_kernels(c, n, matmul_kernels))
		return;
	const Type *ta = cg_ty(c, n->in[0]), *ty = cg_ty(c, n->out);
	bool tA = ir_attr_int(n, "trans_a", 0), tB = ir_attr_int(n, "trans_b", 0);
	int64_t M = ty->dims[0], N = ty->dims[1], K = tA ? ta->dims[0] : ta->dims[1], st[MAXR] = {0};
	bool bias = n->nin > 2 && n->in[2] >= 0;
	if (bias)
		cg_bcast_strides(cg_ty(c, n->in[2]), 2, ty->dims, st);
	IntMM p = {.A = cg_buf(c, n->in[0]), .B = cg_buf(c, n->in[1]), .C = bias ? cg_buf(c, n->in[2]) : NULL,
		   .Y = cg_buf(c, n->out), .rows = M, .K = K, .N = N, .a_rs = tA ? 1 : K, .a_cs = tA ? M : 1,
		   .b_ks = tB ? 1 : N, .b_ns = tB ? K : 1, .c_rs = st[0], .c_ns = st[1]};
	IntOut o = mm_out(c, n, N);
	int_mm(c, n, &p, &o);
}

/* matmul: numpy's batched product (batch dims broadcast; a 1-D a is one
 * row, a 1-D b one column), trans_a/trans_b swapping an operand's last two
 * dims; each product as gemm's. */
void cg_lower_int_matmul(Cg *c, const Node *n)
{
	if (try_kernels(c, n, matmul_kernels))
		return;
	const Type *ta = cg_ty(c, n->in[0]), *tb = cg_ty(c, n->in[1]), *ty = cg_ty(c, n->out);
	bool tA = ir_attr_int(n, "trans_a", 0), tB = ir_attr_int(n, "trans_b", 0);
	int ra = ta->rank, rb = tb->rank;
	/* A is [.., M, K] ([.., K, M] with trans_a); B is [.., K, N] ([.., N, K]). */
	int64_t K = ra >= 2 && tA ? ta->dims[ra - 2] : ta->dims[ra - 1];
	int64_t M = ra >= 2 ? ta->dims[tA ? ra - 1 : ra - 2] : 1, N = rb >= 2 ? tb->dims[tB ? rb - 2 : rb - 1] : 1;
	IntMM p = {.rows = M, .K = K, .N = N, .a_rs = tA ? 1 : K, .a_cs = tA ? M : 1, .b_ks = rb >= 2 && !tB ? N : 1,
		   .b_ns = tB ? K : 1};
	IntOut o = mm_out(c, n, N);
	/* The batch: the result's leading dims, each operand's broadcast into them. */
	Type ba = {.rank = ra >= 2 ? ra - 2 : 0}, bb = {.rank = rb >= 2 ? rb - 2 : 0};
	memcpy(ba.dims, ta->dims, sizeof *ba.dims * (size_t)ba.rank);
	memcpy(bb.dims, tb->dims, sizeof *bb.dims * (size_t)bb.rank);
	Bcast l;
	bcast_begin(c, &l, ty->rank - (ra >= 2) - (rb >= 2), ty->dims, &ba, &bb);
	p.A = cg_gep(c, cg_bits_type(c, ta->dt), cg_buf(c, n->in[0]), cg_mul(c, l.off[0], cg_i64(c, M * K)));
	p.B = cg_gep(c, cg_bits_type(c, tb->dt), cg_buf(c, n->in[1]), cg_mul(c, l.off[1], cg_i64(c, K * N)));
	p.Y = cg_gep(c, cg_bits_type(c, ty->dt), cg_buf(c, n->out), cg_mul(c, l.oy, cg_i64(c, M * N)));
	int_mm(c, n, &p, &o);
	bcast_end(c, &l);
}

/* ---- add and mul ---------------------------------------------------------------------------- */

/* add: the reals (a - z_a) s_a + (b - z_b) s_b at s_y, integers only, as
 * TFLite's reference add: each (x - z) << 20 is rescaled by
 * s / (2 max(s_a, s_b)) (at most 1/2: the sum fits in 29 bits), the sum by
 * 2 max(s_a, s_b) / (2^20 s_y) into y.  The two inner roundings are 2^-20
 * of the larger quantum, so y is the float reference (dequantize, add,
 * quantize) or next to it, one quantum away at most.
 * mul: (a - z_a)(b - z_b) by s_a s_b / s_y.  Both broadcast and walk the
 * result in order, reading an element's operands before writing it (the
 * memory plan's in-place results rely on it); a fused relu or clip bounds
 * the result. */
void cg_lower_int_ew(Cg *c, const Node *n)
{
	const Type *ta = cg_ty(c, n->in[0]), *tb = cg_ty(c, n->in[1]), *ty = cg_ty(c, n->out);
	double sa = ta->q->scale[0], sb = tb->q->scale[0], sy = ty->q->scale[0], smax2 = 2 * (sa > sb ? sa : sb);
	bool add = n->op == OP_ADD;
	double r[3] = {sa * sb / sy};
	if (add) {
		r[0] = sa / smax2, r[1] = sb / smax2;
		r[2] = smax2 / ((double)(1 << ADD_SHIFT) * sy);
	}
	IntOut o = int_out(c, n, add ? 3 : 1, r, NULL);
	Bcast l;
	bcast_begin(c, &l, ty->rank, ty->dims, ta, tb);
	LLVMValueRef a = load_centred(c, ta->dt, cg_buf(c, n->in[0]), l.off[0], k32(c, ta->q->zero[0]));
	LLVMValueRef b = load_centred(c, tb->dt, cg_buf(c, n->in[1]), l.off[1], k32(c, tb->q->zero[0]));
	LLVMValueRef acc, k = cg_i64(c, add ? 2 : 0);
	if (add) {
		LLVMValueRef v[2] = {a, b};
		for (int i = 0; i < 2; i++) {
			LLVMValueRef sh = LLVMBuildShl(c->b, v[i], k32(c, ADD_SHIFT), "");
			v[i] = cg_requant(c, sh, tab_at(c, &o, 0, cg_i64(c, i)), tab_at(c, &o, 1, cg_i64(c, i)), k32(c, 0),
					  k32(c, INT32_MIN), k32(c, INT32_MAX));
		}
		acc = LLVMBuildAdd(c->b, v[0], v[1], "");
	} else
		acc = LLVMBuildMul(c->b, a, b, "");
	store_requant(c, &o, acc, k, cg_buf(c, n->out), l.oy);
	bcast_end(c, &l);
}

/* ---- pools ------------------------------------------------------------------------------------ */

/* The fewest and the most taps an average window counts: those inside x,
 * or with count_include_pad inside x and its pads, as the float op counts
 * (per dim: the least over the output positions; a window is their product). */
static void count_range(const Win *w, const Type *x, const Type *y, bool cip, int64_t *least, int64_t *most)
{
	*least = *most = 1;
	for (int i = 0; i < w->nsp; i++) {
		int64_t X = x->dims[2 + i], lo = w->k[i];
		for (int64_t o = 0; o < y->dims[2 + i]; o++) {
			int64_t cnt = 0;
			for (int64_t t = 0; t < w->k[i]; t++) {
				int64_t ix = o * w->st[i] + t * w->dl[i] - w->pd[i];
				cnt += cip ? ix >= -w->pd[i] && ix < X + w->pd[w->nsp + i] : ix >= 0 && ix < X;
			}
			lo = cnt < lo ? cnt : lo;
		}
		*least *= lo;
		*most *= w->k[i];
	}
}

/* maxpool, avgpool and the global ones (one window over the plane).
 * max: the largest integer among the taps inside x, in x's quantization
 * (padding never wins; a window with no tap inside gets the dtype's least,
 * the float op's -inf).  avg: the sum of (x - z_x) over the taps inside x
 * by s_x / (s_y * count), count as count_range says, its multiplier from
 * a table by count (count 0: the sum is 0, y = z_y). */
void cg_lower_int_pool(Cg *c, const Node *n)
{
	if (try_kernels(c, n, pool_kernels))
		return;
	const Type *x = cg_ty(c, n->in[0]), *y = cg_ty(c, n->out);
	bool mx = n->op == OP_MAXPOOL || n->op == OP_GLOBAL_MAXPOOL, cip = ir_attr_int(n, "count_include_pad", 0);
	int64_t xin = plane(x), yin = plane(y), least = 0, most = 0;
	int32_t xlo, xhi;
	cg_qrange(x->dt, &xlo, &xhi);
	Win w;
	win_geometry(n, x, NULL, &w);
	IntOut o = {0};
	if (!mx) {
		count_range(&w, x, y, cip, &least, &most);
		double *r = malloc(sizeof *r * (size_t)(most - least + 1));
		if (!r)
			die("out of memory");
		for (int64_t k = least; k <= most; k++)
			r[k - least] = x->q->scale[0] / (y->q->scale[0] * (double)(k ? k : 1));
		o = int_out(c, n, (int)(most - least + 1), r, NULL);
		free(r);
	}
	LLVMValueRef X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out), zx = k32(c, x->q->zero[0]);
	LLVMValueRef acc = cg_entry_alloca(c, c->i32), cnt = cg_entry_alloca(c, c->i32);
	Loop lp;
	LLVMValueRef pc = cg_loop_begin(c, &lp, cg_i64(c, 0), cg_i64(c, x->dims[0] * x->dims[1]));
	win_out_begin(c, &w, y);
	LLVMBuildStore(c->b, k32(c, mx ? xlo : 0), acc);
	LLVMBuildStore(c->b, k32(c, 0), cnt);
	win_taps_begin(c, &w, x);
	LLVMValueRef v = cg_load_i32(c, x->dt, X, cg_add(c, cg_mul(c, pc, cg_i64(c, xin)), w.xo));
	if (mx) {
		LLVMValueRef a = LLVMBuildLoad2(c->b, c->i32, acc, "");
		LLVMBuildStore(c->b, cg_sel(c, cg_and(c, w.ok, cg_icmp(c, LLVMIntSGT, v, a)), v, a), acc);
	} else {
		accumulate(c, acc, cg_sel(c, w.ok, LLVMBuildSub(c->b, v, zx, ""), k32(c, 0)));
		accumulate(c, cnt, LLVMBuildZExt(c->b, cip ? w.inpad : w.ok, c->i32, ""));
	}
	win_taps_end(c, &w);
	LLVMValueRef ya = cg_add(c, cg_mul(c, pc, cg_i64(c, yin)), w.yo), sum = LLVMBuildLoad2(c->b, c->i32, acc, "");
	if (mx)
		store_int(c, x->dt, sum, Y, ya);
	else {
		LLVMValueRef k = LLVMBuildSExt(c->b, LLVMBuildLoad2(c->b, c->i32, cnt, ""), c->i64, "");
		store_requant(c, &o, sum, chan(c, &o, cg_sub(c, k, cg_i64(c, least))), Y, ya);
	}
	win_out_end(c, &w);
	cg_loop_end(c, &lp, 1);
}

/* ---- matmul_integer ----------------------------------------------------------------------- */

/* matmul_integer (ONNX MatMulInteger): y(r, n) = sum_k (a(r, k) - za)(b(k, n) - zb[n])
 * in i32, za read at run time (a dynamic quantization's zero point).
 * With b and zb constants (b 1-D or 2-D: the weights of quantize_dynamic)
 * the run-time zero point leaves the inner loop: the sum is computed as
 *     sum_k a(r, k)(b(k, n) - zb[n]) - za * colsum[n],
 * colsum[n] = sum_k (b(k, n) - zb[n]) a module table made here at compile
 * time (the same integers modulo 2^32; i16 entries when they all fit), so
 * the loop is a plain 8-bit dot product.  Otherwise the sum as written.  Numpy batching as matmul's. */
void cg_lower_matmul_integer(Cg *c, const Node *n)
{
	const Type *ta = cg_ty(c, n->in[0]), *tb = cg_ty(c, n->in[1]), *ty = cg_ty(c, n->out);
	const Type *tza = cg_ty(c, n->in[2]), *tzb = cg_ty(c, n->in[3]);
	const Value *bv = ir_value(c->g, n->in[1]), *zv = ir_value(c->g, n->in[3]);
	int ra = ta->rank, rb = tb->rank;
	int64_t K = ta->dims[ra - 1], M = ra >= 2 ? ta->dims[ra - 2] : 1, N = rb >= 2 ? tb->dims[rb - 1] : 1;
	bool per_col = ir_type_numel(tzb) > 1, folded = bv->kind == VAL_CONST && zv->kind == VAL_CONST && rb <= 2;
	LLVMValueRef sums = NULL;
	bool narrow = true;  /* every sum fits in i16: a table half the size */
	if (folded) {
		int32_t *s = malloc(sizeof *s * (size_t)(N + 1));
		int16_t *s16 = malloc(sizeof *s16 * (size_t)(N + 1));
		if (!s || !s16)
			die("out of memory");
		for (int64_t j = 0; j < N; j++) {
			uint32_t sum = 0;  /* wraps as the i32 accumulator does */
			int32_t zb = (int32_t)(tzb->dt == DT_I8 ? ((const int8_t *)zv->data)[per_col ? j : 0]
								 : ((const uint8_t *)zv->data)[per_col ? j : 0]);
			for (int64_t k = 0; k < K; k++) {
				int64_t i = k * N + j;
				int32_t b = tb->dt == DT_I8 ? ((const int8_t *)bv->data)[i] : ((const uint8_t *)bv->data)[i];
				sum += (uint32_t)(b - zb);
			}
			s[j] = (int32_t)sum;
			s16[j] = (int16_t)s[j];
			narrow &= s16[j] == s[j];
		}
		sums = narrow ? cg_const_blob(c, "kiln.colsum", s16, sizeof *s16 * (size_t)N)
			      : cg_const_blob(c, "kiln.colsum", s, sizeof *s * (size_t)N);
		free(s);
		free(s16);
	}
	LLVMValueRef za = cg_load_i32(c, tza->dt, cg_buf(c, n->in[2]), cg_i64(c, 0)), Zb = cg_buf(c, n->in[3]);
	/* The batch: the result's leading dims, each operand's broadcast into them. */
	Type ba = {.rank = ra >= 2 ? ra - 2 : 0}, bb = {.rank = rb >= 2 ? rb - 2 : 0};
	memcpy(ba.dims, ta->dims, sizeof *ba.dims * (size_t)ba.rank);
	memcpy(bb.dims, tb->dims, sizeof *bb.dims * (size_t)bb.rank);
	Bcast l;
	bcast_begin(c, &l, ty->rank - (ra >= 2) - (rb >= 2), ty->dims, &ba, &bb);
	LLVMValueRef A = cg_gep(c, cg_bits_type(c, ta->dt), cg_buf(c, n->in[0]), cg_mul(c, l.off[0], cg_i64(c, M * K)));
	LLVMValueRef B = cg_gep(c, cg_bits_type(c, tb->dt), cg_buf(c, n->in[1]), cg_mul(c, l.off[1], cg_i64(c, K * N)));
	LLVMValueRef Y = cg_gep(c, c->i32, cg_buf(c, n->out), cg_mul(c, l.oy, cg_i64(c, M * N)));
	/* Row by row, the i32 result as the accumulator: k outer, the columns
	 * inner (contiguous in b and y, so the loop vectorizes). */
	Loop lr, ln, lk, ln2;
	LLVMValueRef r = cg_loop_begin(c, &lr, cg_i64(c, 0), cg_i64(c, M));
	LLVMValueRef col = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, N));
	LLVMValueRef init = folded ? LLVMBuildNeg(c->b, LLVMBuildMul(c->b, za, cg_load_i32(c, narrow ? DT_I16 : DT_I32, sums, col), ""), "")
				   : k32(c, 0);
	cg_store(c, c->i32, init, Y, off2(c, r, N, col, 1));
	cg_loop_end_rolled(c, &ln, 1);  /* (the column sums stay one shared table) */
	LLVMValueRef k = cg_loop_begin(c, &lk, cg_i64(c, 0), cg_i64(c, K));
	LLVMValueRef a = cg_load_i32(c, ta->dt, A, off2(c, r, K, k, 1));
	if (!folded)
		a = LLVMBuildSub(c->b, a, za, "");
	col = cg_loop_begin(c, &ln2, cg_i64(c, 0), cg_i64(c, N));
	LLVMValueRef zb = cg_load_i32(c, tzb->dt, Zb, per_col ? col : cg_i64(c, 0));
	LLVMValueRef at = off2(c, r, N, col, 1);
	LLVMValueRef p = LLVMBuildMul(c->b, a, load_centred(c, tb->dt, B, off2(c, k, N, col, 1), zb), "");
	cg_store(c, c->i32, LLVMBuildAdd(c->b, cg_load(c, c->i32, Y, at), p, ""), Y, at);
	cg_loop_end(c, &ln2, 1);
	cg_loop_end_rolled(c, &lk, 1);  /* (k rolled: the weights stay 8-bit data, not folded vector constants) */
	cg_loop_end(c, &lr, 1);
	bcast_end(c, &l);
}

/* conv_integer (ONNX ConvInteger): y[n, m, o] = sum over c in m's group and
 * the taps t inside x of (x[n, c, o*s + t*d - p] - zx)(w[m, c, t] - zw[m])
 * in i32, zx read at run time; taps in the padding add nothing (ONNX pads
 * with zx).  Which taps fall inside x changes at the borders, so the
 * run-time zero point is subtracted at each tap rather than folded into
 * per-channel sums as matmul_integer's is. */
void cg_lower_conv_integer(Cg *c, const Node *n)
{
	const Type *tzx = cg_ty(c, n->in[2]), *tzw = cg_ty(c, n->in[3]);
	LLVMValueRef zx = cg_load_i32(c, tzx->dt, cg_buf(c, n->in[2]), cg_i64(c, 0)), acc = cg_entry_alloca(c, c->i32);
	ConvNest k;
	conv_nest_begin(c, n, &k);
	LLVMValueRef zw = cg_load_i32(c, tzw->dt, cg_buf(c, n->in[3]), ir_type_numel(tzw) > 1 ? k.m : cg_i64(c, 0));
	conv_nest_sum(c, n, &k, acc, k32(c, 0), zx, zw);
	cg_store(c, c->i32, LLVMBuildLoad2(c->b, c->i32, acc, ""), cg_buf(c, n->out), k.ya);
	conv_nest_end(c, &k);
}
