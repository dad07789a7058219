/* Normalizations and reductions: batchnorm (folded when its parameters are
 * constants), reductions over any set of axes, softmax, layer norm (a
 * vector kernel beside the plain loops it is checked against). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

#define MAXR IR_MAX_RANK

/* ---- batchnorm: a per-channel scale and shift, folded at compile time
 * when the parameters are constants ---------------------------------------- */

static bool all_const(Cg *c, const Node *n, int from)
{
	for (int i = from; i < n->nin; i++)
		if (n->in[i] >= 0 && ir_value(c->g, n->in[i])->kind != VAL_CONST)
			return false;
	return true;
}

void cg_lower_batchnorm(Cg *c, const Node *n)
{
	const Type *t = cg_ty(c, n->out);
	int64_t C = t->dims[1], inner = 1;
	for (int i = 2; i < t->rank; i++)
		inner *= t->dims[i];
	double eps = ir_attr_float(n, "epsilon", 1e-5);
	LLVMValueRef k = NULL;
	if (all_const(c, n, 1)) {
		const float *sc = ir_value(c->g, n->in[1])->data, *bi = ir_value(c->g, n->in[2])->data,
			    *mu = ir_value(c->g, n->in[3])->data, *var = ir_value(c->g, n->in[4])->data;
		float *ab = malloc(2 * C * sizeof *ab);
		for (int64_t i = 0; i < C; i++) {
			double a = sc[i] / sqrt((double)var[i] + eps);
			ab[i] = (float)a;
			ab[C + i] = (float)(bi[i] - mu[i] * a);
		}
		k = cg_const_blob(c, "kiln.bn", ab, 2 * C * sizeof *ab);
		free(ab);
	}
	LLVMValueRef x = cg_buf(c, n->in[0]), y = cg_buf(c, n->out);
	Loop ln, lc, li;
	LLVMValueRef in = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, t->dims[0]));
	LLVMValueRef ic = cg_loop_begin(c, &lc, cg_i64(c, 0), cg_i64(c, C));
	LLVMValueRef a, b;
	if (k) {
		a = cg_loadf(c, k, ic);
		b = cg_loadf(c, k, cg_add(c, ic, cg_i64(c, C)));
	} else {
		/* a = scale / sqrt(var + eps); b = bias - mean * a */
		LLVMValueRef v = LLVMBuildFAdd(c->b, cg_loadf(c, cg_buf(c, n->in[4]), ic), cg_f32(c, eps), "");
		v = cg_sqrt(c, v);
		a = LLVMBuildFDiv(c->b, cg_loadf(c, cg_buf(c, n->in[1]), ic), v, "");
		b = LLVMBuildFSub(c->b, cg_loadf(c, cg_buf(c, n->in[2]), ic),
				  LLVMBuildFMul(c->b, cg_loadf(c, cg_buf(c, n->in[3]), ic), a, ""), "");
	}
	LLVMValueRef base = cg_mul(c, cg_add(c, cg_mul(c, in, cg_i64(c, C)), ic), cg_i64(c, inner));
	LLVMValueRef ii = cg_loop_begin(c, &li, cg_i64(c, 0), cg_i64(c, inner));
	LLVMValueRef o = cg_add(c, base, ii);
	cg_storef(c, cg_fmuladd(c, cg_loadf(c, x, o), a, b), y, o);
	cg_loop_end(c, &li, 1);
	cg_loop_end(c, &lc, 1);
	cg_loop_end(c, &ln, 1);
}

/* ---- reductions over any set of axes ------------------------------------------------- */

void cg_lower_reduce(Cg *c, const Node *n)
{
	const Type *t = cg_ty(c, n->in[0]);
	int cnt;
	const int64_t *axes = ir_attr_ints(n, "axes", &cnt);
	bool red[MAXR] = {0};
	for (int i = 0; i < cnt; i++)
		red[axes[i]] = true;
	int64_t st[MAXR], s = 1, count = 1;
	for (int i = t->rank - 1; i >= 0; i--) {
		st[i] = s;
		s *= t->dims[i];
		if (red[i])
			count *= t->dims[i];
	}
	LLVMValueRef X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out), acc = cg_entry_alloca(c, c->f32);
	Loop kept[MAXR], rl[MAXR];
	int nk = 0, nr = 0;
	LLVMValueRef xo = cg_i64(c, 0), yo = cg_i64(c, 0);
	for (int d = 0; d < t->rank; d++)
		if (!red[d]) {
			LLVMValueRef i = cg_loop_begin(c, &kept[nk++], cg_i64(c, 0), cg_i64(c, t->dims[d]));
			xo = cg_add(c, xo, cg_mul(c, i, cg_i64(c, st[d])));
			yo = cg_add(c, cg_mul(c, yo, cg_i64(c, t->dims[d])), i);
		}
	bool mx = n->op == OP_REDUCE_MAX, mn = n->op == OP_REDUCE_MIN, prod = n->op == OP_REDUCE_PROD;
	LLVMBuildStore(c->b, cg_f32(c, mx ? -INFINITY : mn ? INFINITY : prod ? 1 : 0), acc);
	for (int d = 0; d < t->rank; d++)
		if (red[d]) {
			LLVMValueRef i = cg_loop_begin(c, &rl[nr++], cg_i64(c, 0), cg_i64(c, t->dims[d]));
			xo = cg_add(c, xo, cg_mul(c, i, cg_i64(c, st[d])));
		}
	LLVMValueRef x = cg_loadf(c, X, xo), a = LLVMBuildLoad2(c->b, c->f32, acc, "");
	LLVMValueRef r;
	if (mx || mn)  /* NaN propagates: take x when it is NaN or beyond */
		r = LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, mx ? LLVMRealUGT : LLVMRealULT, x, a, ""), x, a, "");
	else if (prod)
		r = LLVMBuildFMul(c->b, a, x, "");
	else
		r = LLVMBuildFAdd(c->b, a, x, "");
	LLVMBuildStore(c->b, r, acc);
	while (nr > 0)
		cg_loop_end(c, &rl[--nr], 1);
	LLVMValueRef v = LLVMBuildLoad2(c->b, c->f32, acc, "");
	if (n->op == OP_REDUCE_MEAN)
		v = LLVMBuildFDiv(c->b, v, cg_f32(c, (double)count), "");
	cg_storef(c, v, Y, yo);
	while (nk > 0)
		cg_loop_end(c, &kept[--nk], 1);
}

/* ---- softmax ------------------------------------------------------------------------- */

/* Softmax over contiguous rows (inner == 1) of at least one vector: the
 * three passes (max, exp and sum, scale) on whole vectors, the row's tail
 * one by one; the sum is taken in a different order than the plain loop. */
static void softmax_rows(Cg *c, LLVMValueRef X, LLVMValueRef Y, int64_t rows, int64_t len)
{
	int L = c->lanes;
	int64_t nv = len / L, tail = nv * L;
	LLVMValueRef accp = cg_entry_alloca(c, c->vf), sp = cg_entry_alloca(c, c->f32);
	Loop lr, l1, l2, l3;
	LLVMValueRef r = cg_loop_begin(c, &lr, cg_i64(c, 0), cg_i64(c, rows));
	LLVMValueRef xr = cg_gep(c, c->f32, X, cg_mul(c, r, cg_i64(c, len))), yr = cg_gep(c, c->f32, Y, cg_mul(c, r, cg_i64(c, len)));
	LLVMBuildStore(c->b, cg_fconst(c, c->vf, -INFINITY), accp);
	LLVMValueRef i1 = cg_loop_begin(c, &l1, cg_i64(c, 0), cg_i64(c, tail));
	LLVMBuildStore(c->b, cg_max_nan(c, cg_vload(c, xr, i1), LLVMBuildLoad2(c->b, c->vf, accp, "")), accp);
	cg_loop_end(c, &l1, L);
	LLVMValueRef mv = LLVMBuildLoad2(c->b, c->vf, accp, "");
	LLVMValueRef m = LLVMBuildExtractElement(c->b, mv, LLVMConstInt(c->i32, 0, 0), "");
	for (int l = 1; l < L; l++)
		m = cg_max_nan(c, LLVMBuildExtractElement(c->b, mv, LLVMConstInt(c->i32, (unsigned)l, 0), ""), m);
	for (int64_t i = tail; i < len; i++)
		m = cg_max_nan(c, cg_loadf(c, xr, cg_i64(c, i)), m);
	LLVMValueRef ms = cg_splat(c, m, c->vf);
	LLVMBuildStore(c->b, LLVMConstNull(c->vf), accp);
	LLVMValueRef i2 = cg_loop_begin(c, &l2, cg_i64(c, 0), cg_i64(c, tail));
	LLVMValueRef e = cg_exp(c, LLVMBuildFSub(c->b, cg_vload(c, xr, i2), ms, ""));
	LLVMSetAlignment(LLVMBuildStore(c->b, e, cg_gep(c, c->f32, yr, i2)), 4);
	LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->vf, accp, ""), e, ""), accp);
	cg_loop_end(c, &l2, L);
	LLVMBuildStore(c->b, cg_hsum(c, LLVMBuildLoad2(c->b, c->vf, accp, "")), sp);
	for (int64_t i = tail; i < len; i++) {
		LLVMValueRef es = cg_exp(c, LLVMBuildFSub(c->b, cg_loadf(c, xr, cg_i64(c, i)), m, ""));
		cg_storef(c, es, yr, cg_i64(c, i));
		LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, sp, ""), es, ""), sp);
	}
	LLVMValueRef inv = LLVMBuildFDiv(c->b, cg_f32(c, 1), LLVMBuildLoad2(c->b, c->f32, sp, ""), "");
	LLVMValueRef iv = cg_splat(c, inv, c->vf);
	LLVMValueRef i3 = cg_loop_begin(c, &l3, cg_i64(c, 0), cg_i64(c, tail));
	LLVMValueRef yp = cg_gep(c, c->f32, yr, i3);
	LLVMSetAlignment(LLVMBuildStore(c->b, LLVMBuildFMul(c->b, cg_vload(c, yr, i3), iv, ""), yp), 4);
	cg_loop_end(c, &l3, L);
	for (int64_t i = tail; i < len; i++)
		cg_storef(c, LLVMBuildFMul(c->b, cg_loadf(c, yr, cg_i64(c, i)), inv, ""), yr, cg_i64(c, i));
	cg_loop_end(c, &lr, 1);
}

void cg_lower_softmax(Cg *c, const Node *n)
{
	const Type *t = cg_ty(c, n->out);
	int axis = (int)ir_attr_int(n, "axis", t->rank - 1);
	int64_t outer = 1, len = t->dims[axis], inner = 1;
	for (int i = 0; i < axis; i++)
		outer *= t->dims[i];
	for (int i = axis + 1; i < t->rank; i++)
		inner *= t->dims[i];
	LLVMValueRef X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out);
	if (!c->reference && inner == 1 && c->lanes >= 4 && len >= c->lanes) {
		c->keep_loops = true;
		softmax_rows(c, X, Y, outer, len);
		c->keep_loops = false;
		return;
	}
	LLVMValueRef mx = cg_entry_alloca(c, c->f32), sum = cg_entry_alloca(c, c->f32);
	Loop lo, li, l1, l2, l3;
	LLVMValueRef o = cg_loop_begin(c, &lo, cg_i64(c, 0), cg_i64(c, outer));
	LLVMValueRef ii = cg_loop_begin(c, &li, cg_i64(c, 0), cg_i64(c, inner));
	LLVMValueRef base = cg_add(c, cg_mul(c, o, cg_i64(c, len * inner)), ii);
	LLVMBuildStore(c->b, cg_f32(c, -INFINITY), mx);
	LLVMValueRef k1 = cg_loop_begin(c, &l1, cg_i64(c, 0), cg_i64(c, len));
	LLVMValueRef x = cg_loadf(c, X, cg_add(c, base, cg_mul(c, k1, cg_i64(c, inner))));
	LLVMValueRef m = LLVMBuildLoad2(c->b, c->f32, mx, "");
	LLVMBuildStore(c->b, cg_max_nan(c, x, m), mx);
	cg_loop_end(c, &l1, 1);
	LLVMValueRef mv = LLVMBuildLoad2(c->b, c->f32, mx, "");
	LLVMBuildStore(c->b, cg_f32(c, 0), sum);
	LLVMValueRef k2 = cg_loop_begin(c, &l2, cg_i64(c, 0), cg_i64(c, len));
	LLVMValueRef off = cg_add(c, base, cg_mul(c, k2, cg_i64(c, inner)));
	LLVMValueRef e = cg_exp(c, LLVMBuildFSub(c->b, cg_loadf(c, X, off), mv, ""));
	cg_storef(c, e, Y, off);
	LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, sum, ""), e, ""), sum);
	cg_loop_end(c, &l2, 1);
	LLVMValueRef inv = LLVMBuildFDiv(c->b, cg_f32(c, 1), LLVMBuildLoad2(c->b, c->f32, sum, ""), "");
	LLVMValueRef k3 = cg_loop_begin(c, &l3, cg_i64(c, 0), cg_i64(c, len));
	LLVMValueRef off3 = cg_add(c, base, cg_mul(c, k3, cg_i64(c, inner)));
	cg_storef(c, LLVMBuildFMul(c->b, cg_loadf(c, Y, off3), inv, ""), Y, off3);
	cg_loop_end(c, &l3, 1);
	cg_loop_end(c, &li, 1);
	cg_loop_end(c, &lo, 1);
}

/* ---- layer normalization ------------------------------------------------------------------ */

/* What a layer_norm node normalizes: outer rows of D elements (the dims
 * from axis on), and its optional scale and bias. */
typedef struct LnK {
	int64_t outer, D;
	int nn;                    /* normalized dims ... */
	const int64_t *rd;         /* ... and their sizes */
	LLVMValueRef X, S, Bi, Y;  /* S, Bi NULL when omitted */
	const Type *ts, *tb;
	LLVMValueRef eps;
} LnK;

static LnK ln_geometry(Cg *c, const Node *n)
{
	const Type *t = cg_ty(c, n->in[0]);
	int axis = (int)ir_attr_int(n, "axis", t->rank - 1);
	LnK k = {.outer = 1, .D = 1, .nn = t->rank - axis, .rd = t->dims + axis, .X = cg_buf(c, n->in[0]), .Y = cg_buf(c, n->out),
		 .eps = cg_f32(c, ir_attr_float(n, "epsilon", 1e-5))};
	for (int i = 0; i < t->rank; i++)
		*(i < axis ? &k.outer : &k.D) *= t->dims[i];
	if (n->nin > 1 && n->in[1] >= 0) {
		k.S = cg_buf(c, n->in[1]);
		k.ts = cg_ty(c, n->in[1]);
	}
	if (n->nin > 2 && n->in[2] >= 0) {
		k.Bi = cg_buf(c, n->in[2]);
		k.tb = cg_ty(c, n->in[2]);
	}
	return k;
}

/* 1 / sqrt(sumsq / D + eps) */
static LLVMValueRef ln_rstd(Cg *c, const LnK *k, LLVMValueRef sumsq)
{
	LLVMValueRef v = LLVMBuildFAdd(c->b, LLVMBuildFDiv(c->b, sumsq, cg_f32(c, (double)k->D), ""), k->eps, "");
	return LLVMBuildFDiv(c->b, cg_f32(c, 1), cg_sqrt(c, v), "");
}

/* The plain lowering: per row, the mean, the biased variance as the mean
 * of squared deviations, then each element, scale and bias read through
 * broadcast strides. */
static void lower_layer_norm_plain(Cg *c, const Node *n)
{
	LnK k = ln_geometry(c, n);
	int64_t ss[MAXR] = {0}, bs[MAXR] = {0};
	const Type *pt[2] = {k.ts, k.tb};
	int64_t *pst[2] = {ss, bs};
	for (int i = 0; i < 2; i++)
		if (pt[i]) {  /* the operand's dims before the row are 1: drop them */
			Type q = *pt[i];
			if (q.rank > k.nn) {
				memmove(q.dims, q.dims + q.rank - k.nn, (size_t)k.nn * sizeof *q.dims);
				q.rank = k.nn;
			}
			cg_bcast_strides(&q, k.nn, k.rd, pst[i]);
		}
	LLVMValueRef acc = cg_entry_alloca(c, c->f32);
	Loop lo, l1, l2, lr[MAXR];
	LLVMValueRef o = cg_loop_begin(c, &lo, cg_i64(c, 0), cg_i64(c, k.outer));
	LLVMValueRef xr = cg_gep(c, c->f32, k.X, cg_mul(c, o, cg_i64(c, k.D))), yr = cg_gep(c, c->f32, k.Y, cg_mul(c, o, cg_i64(c, k.D)));
	LLVMBuildStore(c->b, cg_f32(c, 0), acc);
	LLVMValueRef j = cg_loop_begin(c, &l1, cg_i64(c, 0), cg_i64(c, k.D));
	LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, acc, ""), cg_loadf(c, xr, j), ""), acc);
	cg_loop_end(c, &l1, 1);
	LLVMValueRef mean = LLVMBuildFDiv(c->b, LLVMBuildLoad2(c->b, c->f32, acc, ""), cg_f32(c, (double)k.D), "");
	LLVMBuildStore(c->b, cg_f32(c, 0), acc);
	j = cg_loop_begin(c, &l2, cg_i64(c, 0), cg_i64(c, k.D));
	LLVMValueRef d = LLVMBuildFSub(c->b, cg_loadf(c, xr, j), mean, "");
	LLVMBuildStore(c->b, cg_fmuladd(c, d, d, LLVMBuildLoad2(c->b, c->f32, acc, "")), acc);
	cg_loop_end(c, &l2, 1);
	LLVMValueRef rstd = ln_rstd(c, &k, LLVMBuildLoad2(c->b, c->f32, acc, ""));
	LLVMValueRef xo = cg_i64(c, 0), so = cg_i64(c, 0), bo = cg_i64(c, 0);
	for (int i = 0; i < k.nn; i++) {
		LLVMValueRef q = cg_loop_begin(c, &lr[i], cg_i64(c, 0), cg_i64(c, k.rd[i]));
		xo = cg_add(c, cg_mul(c, xo, cg_i64(c, k.rd[i])), q);
		so = cg_add(c, so, cg_mul(c, q, cg_i64(c, ss[i])));
		bo = cg_add(c, bo, cg_mul(c, q, cg_i64(c, bs[i])));
	}
	LLVMValueRef v = LLVMBuildFMul(c->b, LLVMBuildFSub(c->b, cg_loadf(c, xr, xo), mean, ""), rstd, "");
	if (k.S)
		v = LLVMBuildFMul(c->b, v, cg_loadf(c, k.S, so), "");
	if (k.Bi)
		v = LLVMBuildFAdd(c->b, v, cg_loadf(c, k.Bi, bo), "");
	cg_storef(c, v, yr, xo);
	for (int i = k.nn - 1; i >= 0; i--)
		cg_loop_end(c, &lr[i], 1);
	cg_loop_end(c, &lo, 1);
}

/* The sum over a row of (x[j] - mean)^2: whole vectors up to Dv, then the
 * scalar tail. */
static LLVMValueRef ln_sumsq(Cg *c, LLVMValueRef xr, LLVMValueRef mean, int64_t Dv, int64_t D)
{
	LLVMValueRef va = cg_entry_alloca(c, c->vf), sa = cg_entry_alloca(c, c->f32);
	LLVMBuildStore(c->b, LLVMConstNull(c->vf), va);
	if (Dv) {
		LLVMValueRef mv = cg_splat(c, mean, c->vf);
		Loop l;
		LLVMValueRef j = cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, Dv));
		LLVMValueRef x = LLVMBuildFSub(c->b, cg_vload(c, xr, j), mv, "");
		LLVMBuildStore(c->b, cg_fmuladd(c, x, x, LLVMBuildLoad2(c->b, c->vf, va, "")), va);
		cg_loop_end(c, &l, c->lanes);
	}
	LLVMBuildStore(c->b, cg_hsum(c, LLVMBuildLoad2(c->b, c->vf, va, "")), sa);
	if (D > Dv) {
		Loop l;
		LLVMValueRef j = cg_loop_begin(c, &l, cg_i64(c, Dv), cg_i64(c, D));
		LLVMValueRef x = LLVMBuildFSub(c->b, cg_loadf(c, xr, j), mean, "");
		LLVMBuildStore(c->b, cg_fmuladd(c, x, x, LLVMBuildLoad2(c->b, c->f32, sa, "")), sa);
		cg_loop_end(c, &l, 1);
	}
	return LLVMBuildLoad2(c->b, c->f32, sa, "");
}

/* A scale or bias as the vector kernel reads it: the whole row (numel D)
 * at j, or the one value `one`; NULL when omitted. */
static LLVMValueRef ln_param(Cg *c, LLVMValueRef p, const Type *t, LLVMValueRef j, LLVMValueRef one, bool vec)
{
	if (!p)
		return NULL;
	if (ir_type_numel(t) == 1)
		return one;
	return vec ? cg_vload(c, p, j) : cg_loadf(c, p, j);
}

/* y[j] = (x[j] - mean) * rstd * scale + bias: a vector at j, or one element. */
static void ln_apply(Cg *c, const LnK *k, LLVMValueRef xr, LLVMValueRef yr, LLVMValueRef j, LLVMValueRef mean,
		     LLVMValueRef rstd, LLVMValueRef s1, LLVMValueRef b1, bool vec)
{
	LLVMValueRef x = vec ? cg_vload(c, xr, j) : cg_loadf(c, xr, j);
	LLVMValueRef v = LLVMBuildFMul(c->b, LLVMBuildFSub(c->b, x, mean, ""), rstd, "");
	LLVMValueRef s = ln_param(c, k->S, k->ts, j, s1, vec), b = ln_param(c, k->Bi, k->tb, j, b1, vec);
	if (s && b)
		v = cg_fmuladd(c, v, s, b);
	else if (s)
		v = LLVMBuildFMul(c->b, v, s, "");
	else if (b)
		v = LLVMBuildFAdd(c->b, v, b, "");
	if (vec)
		LLVMSetAlignment(LLVMBuildStore(c->b, v, cg_gep(c, c->f32, yr, j)), 4);
	else
		cg_storef(c, v, yr, j);
}

/* The vector kernel, one row at a time: the sum, then the sum of squared
 * deviations, each one vector pass over the row (two passes keep the
 * variance accurate when the mean is large against the spread), then
 * (x - mean) * rstd * scale + bias a vector at a time. */
static void lower_layer_norm_vec(Cg *c, const Node *n)
{
	LnK k = ln_geometry(c, n);
	int64_t Dv = k.D / c->lanes * c->lanes;
	LLVMValueRef s1 = k.S && ir_type_numel(k.ts) == 1 ? cg_loadf(c, k.S, cg_i64(c, 0)) : NULL;
	LLVMValueRef b1 = k.Bi && ir_type_numel(k.tb) == 1 ? cg_loadf(c, k.Bi, cg_i64(c, 0)) : NULL;
	Loop lo, lv, lt;
	LLVMValueRef o = cg_loop_begin(c, &lo, cg_i64(c, 0), cg_i64(c, k.outer));
	LLVMValueRef xr = cg_gep(c, c->f32, k.X, cg_mul(c, o, cg_i64(c, k.D))), yr = cg_gep(c, c->f32, k.Y, cg_mul(c, o, cg_i64(c, k.D)));
	LLVMValueRef mean = LLVMBuildFDiv(c->b, cg_sum_f32(c, xr, k.D), cg_f32(c, (double)k.D), "");
	LLVMValueRef rstd = ln_rstd(c, &k, ln_sumsq(c, xr, mean, Dv, k.D));
	if (Dv) {
		LLVMValueRef j = cg_loop_begin(c, &lv, cg_i64(c, 0), cg_i64(c, Dv));
		ln_apply(c, &k, xr, yr, j, cg_splat(c, mean, c->vf), cg_splat(c, rstd, c->vf),
			 s1 ? cg_splat(c, s1, c->vf) : NULL, b1 ? cg_splat(c, b1, c->vf) : NULL, true);
		cg_loop_end(c, &lv, c->lanes);
	}
	if (k.D > Dv) {
		LLVMValueRef j = cg_loop_begin(c, &lt, cg_i64(c, Dv), cg_i64(c, k.D));
		ln_apply(c, &k, xr, yr, j, mean, rstd, s1, b1, false);
		cg_loop_end(c, &lt, 1);
	}
	cg_loop_end(c, &lo, 1);
}

void cg_lower_layer_norm(Cg *c, const Node *n)
{
	/* The vector kernel reads a scale or bias as the whole row or as one
	 * value; other broadcasts (rare) take the plain loops. */
	LnK k = ln_geometry(c, n);
	bool fast = !c->reference;
	if (k.S)
		fast &= ir_type_numel(k.ts) == 1 || ir_type_numel(k.ts) == k.D;
	if (k.Bi)
		fast &= ir_type_numel(k.tb) == 1 || ir_type_numel(k.tb) == k.D;
	if (!fast) {
		lower_layer_norm_plain(c, n);
		return;
	}
	c->keep_loops = true;
	lower_layer_norm_vec(c, n);
	c->keep_loops = false;
}
