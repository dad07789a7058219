/* Sliding windows of any spatial rank: pooling (max, average, Lp) for the
 * shapes the 2-D kernels in cg_ops.c do not take, global max pooling, and
 * transposed convolution: written as a gather (each output sums the inputs
 * that map onto it), and in 2-d by output phases. */
#include <math.h>

#include "cg_internal.h"

#define MAXR IR_MAX_RANK

static LLVMValueRef I(Cg *c, int64_t v) { return cg_i64(c, v); }
static LLVMValueRef add(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWAdd(c->b, a, b, ""); }
static LLVMValueRef mul(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWMul(c->b, a, b, ""); }
static LLVMValueRef fsel(Cg *c, LLVMValueRef cond, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildSelect(c->b, cond, a, b, "");
}

/* 0 <= i < n */
static LLVMValueRef in_range(Cg *c, LLVMValueRef i, int64_t n)
{
	return LLVMBuildICmp(c->b, LLVMIntULT, i, I(c, n), "");
}

static LLVMValueRef pow_p(Cg *c, LLVMValueRef x, int64_t p)
{
	LLVMValueRef r = x;
	for (int64_t i = 1; i < p; i++)
		r = LLVMBuildFMul(c->b, r, x, "");
	return r;
}

static void lower_pool_nd(Cg *c, const Node *n)
{
	const Type *x = ir_value_type(c->g, n->in[0]), *y = ir_value_type(c->g, n->out);
	int nsp = x->rank - 2, cnt;
	const int64_t *k = ir_attr_ints(n, "kernel", &cnt), *st = ir_attr_ints(n, "strides", &cnt);
	const int64_t *pd = ir_attr_ints(n, "pads", &cnt), *dl = ir_attr_ints(n, "dilations", &cnt);
	bool mx = n->op == OP_MAXPOOL, avg = n->op == OP_AVGPOOL, cip = ir_attr_int(n, "count_include_pad", 0) != 0;
	int64_t p = ir_attr_int(n, "p", 2);
	int64_t xin = 1, yin = 1;
	for (int i = 0; i < nsp; i++) {
		xin *= x->dims[2 + i];
		yin *= y->dims[2 + i];
	}
	LLVMValueRef X = c->buf[n->in[0]], Y = c->buf[n->out];
	LLVMValueRef acc = cg_entry_alloca(c, c->f32), count = cg_entry_alloca(c, c->f32);
	Loop lp, lo[MAXR], lk[MAXR];
	LLVMValueRef pc = cg_loop_begin(c, &lp, I(c, 0), I(c, x->dims[0] * x->dims[1]));
	LLVMValueRef o[MAXR], yo = I(c, 0);
	for (int i = 0; i < nsp; i++) {
		o[i] = cg_loop_begin(c, &lo[i], I(c, 0), I(c, y->dims[2 + i]));
		yo = add(c, mul(c, yo, I(c, y->dims[2 + i])), o[i]);
	}
	LLVMBuildStore(c->b, cg_f32(c, mx ? -INFINITY : 0), acc);
	LLVMBuildStore(c->b, cg_f32(c, 0), count);
	LLVMValueRef ok = LLVMConstInt(LLVMInt1TypeInContext(c->ctx), 1, 0), inpad = ok, xo = I(c, 0);
	for (int i = 0; i < nsp; i++) {
		LLVMValueRef kk = cg_loop_begin(c, &lk[i], I(c, 0), I(c, k[i]));
		LLVMValueRef ix = add(c, mul(c, o[i], I(c, st[i])), add(c, mul(c, kk, I(c, dl[i])), I(c, -pd[i])));
		ok = LLVMBuildAnd(c->b, ok, in_range(c, ix, x->dims[2 + i]), "");
		inpad = LLVMBuildAnd(c->b, inpad, in_range(c, add(c, ix, I(c, pd[i])), x->dims[2 + i] + pd[i] + pd[nsp + i]), "");
		xo = add(c, mul(c, xo, I(c, x->dims[2 + i])), ix);
	}
	/* Out-of-range positions read element 0 and are masked. */
	LLVMValueRef at = add(c, mul(c, pc, I(c, xin)), fsel(c, ok, xo, I(c, 0)));
	LLVMValueRef v = cg_loadf(c, X, at), a = LLVMBuildLoad2(c->b, c->f32, acc, "");
	LLVMValueRef r;
	if (mx) {
		r = fsel(c, LLVMBuildAnd(c->b, ok, LLVMBuildFCmp(c->b, LLVMRealUGT, v, a, ""), ""), v, a);
	} else {
		LLVMValueRef term = avg ? v : pow_p(c, cg_call_intr(c, "llvm.fabs", &c->f32, 1, &v, 1), p);
		r = LLVMBuildFAdd(c->b, a, fsel(c, ok, term, cg_f32(c, 0)), "");
		LLVMValueRef counted = cip ? inpad : ok;
		LLVMValueRef one = fsel(c, counted, cg_f32(c, 1), cg_f32(c, 0));
		LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, count, ""), one, ""), count);
	}
	LLVMBuildStore(c->b, r, acc);
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lk[i], 1);
	LLVMValueRef res = LLVMBuildLoad2(c->b, c->f32, acc, "");
	if (avg) {
		res = LLVMBuildFDiv(c->b, res, LLVMBuildLoad2(c->b, c->f32, count, ""), "");
	} else if (!mx && p != 1) {
		/* s^(1/p): sqrt for p = 2, else exp(log(s)/p) */
		if (p == 2)
			res = cg_call_intr(c, "llvm.sqrt", &c->f32, 1, &res, 1);
		else
			res = cg_exp(c, LLVMBuildFDiv(c->b, cg_log(c, res), cg_f32(c, (double)p), ""));
	}
	cg_storef(c, res, Y, add(c, mul(c, pc, I(c, yin)), yo));
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lo[i], 1);
	cg_loop_end(c, &lp, 1);
}

static void lower_global_maxpool(Cg *c, const Node *n)
{
	const Type *x = ir_value_type(c->g, n->in[0]);
	int64_t sp = 1;
	for (int i = 2; i < x->rank; i++)
		sp *= x->dims[i];
	LLVMValueRef X = c->buf[n->in[0]], Y = c->buf[n->out], acc = cg_entry_alloca(c, c->f32);
	Loop lp, li;
	LLVMValueRef pc = cg_loop_begin(c, &lp, I(c, 0), I(c, x->dims[0] * x->dims[1]));
	LLVMBuildStore(c->b, cg_f32(c, -INFINITY), acc);
	LLVMValueRef i = cg_loop_begin(c, &li, I(c, 0), I(c, sp));
	LLVMValueRef v = cg_loadf(c, X, add(c, mul(c, pc, I(c, sp)), i)), a = LLVMBuildLoad2(c->b, c->f32, acc, "");
	LLVMBuildStore(c->b, fsel(c, LLVMBuildFCmp(c->b, LLVMRealUGT, v, a, ""), v, a), acc);
	cg_loop_end(c, &li, 1);
	cg_storef(c, LLVMBuildLoad2(c->b, c->f32, acc, ""), Y, pc);
	cg_loop_end(c, &lp, 1);
}

/* The 2-d transposed convolution by output phases: the outputs
 * o = q*s + r of one phase r (per axis) read exactly the taps t with
 * r + pad - t*dil a multiple of s, at input q + (r + pad - t*dil)/s, both
 * known at compile time.  A phase's output row starts as the bias and
 * takes one input channel and tap pair at a time along the row:
 * contiguous inputs, outputs s apart, in a loop the vectorizer takes (the
 * gather below divides per output, channel and tap: U-Net's 2x2 upsampling
 * spent 70% of the model there). */
static void lower_conv_transpose_2d(Cg *c, const Node *n)
{
	const Type *x = ir_value_type(c->g, n->in[0]), *w = ir_value_type(c->g, n->in[1]), *y = ir_value_type(c->g, n->out);
	int cnt;
	const int64_t *st = ir_attr_ints(n, "strides", &cnt), *pd = ir_attr_ints(n, "pads", &cnt);
	const int64_t *dl = ir_attr_ints(n, "dilations", &cnt);
	int64_t G = ir_attr_int(n, "group", 1), C = x->dims[1], M = y->dims[1], cg = C / G, mg = M / G;
	int64_t H = x->dims[2], W = x->dims[3], OH = y->dims[2], OW = y->dims[3], KH = w->dims[2], KW = w->dims[3];
	LLVMValueRef X = c->buf[n->in[0]], Wt = c->buf[n->in[1]], Y = c->buf[n->out];
	LLVMValueRef Bi = n->nin > 2 && n->in[2] >= 0 ? c->buf[n->in[2]] : NULL;
	Loop ln, lg, lm, lq, lc, lb;
	LLVMValueRef in = cg_loop_begin(c, &ln, I(c, 0), I(c, x->dims[0]));
	LLVMValueRef grp = cg_loop_begin(c, &lg, I(c, 0), I(c, G));
	LLVMValueRef mi = cg_loop_begin(c, &lm, I(c, 0), I(c, mg)), m = add(c, mul(c, grp, I(c, mg)), mi);
	for (int64_t ra = 0; ra < st[0] && ra < OH; ra++)
		for (int64_t rb = 0; rb < st[1] && rb < OW; rb++) {
			int64_t QA = (OH - ra + st[0] - 1) / st[0], QB = (OW - rb + st[1] - 1) / st[1];
			int64_t oa[64], ob[64], ta[64], tb[64], na = 0, nb = 0;
			for (int64_t t = 0; t < KH && na < 64; t++) {
				int64_t d = ra + pd[0] - t * dl[0];
				if (d % st[0] == 0)
					ta[na] = t, oa[na++] = d / st[0];
			}
			for (int64_t t = 0; t < KW && nb < 64; t++) {
				int64_t d = rb + pd[1] - t * dl[1];
				if (d % st[1] == 0)
					tb[nb] = t, ob[nb++] = d / st[1];
			}
			LLVMValueRef qa = cg_loop_begin(c, &lq, I(c, 0), I(c, QA));
			LLVMValueRef yrow = cg_gep(c, c->f32, Y,
						   add(c, mul(c, add(c, mul(c, add(c, mul(c, in, I(c, M)), m), I(c, OH)),
								      add(c, mul(c, qa, I(c, st[0])), I(c, ra))), I(c, OW)), I(c, rb)));
			LLVMValueRef bias = Bi ? cg_loadf(c, Bi, m) : cg_f32(c, 0);
			LLVMValueRef qb = cg_loop_begin(c, &lb, I(c, 0), I(c, QB));
			cg_storef(c, bias, yrow, mul(c, qb, I(c, st[1])));
			cg_loop_end(c, &lb, 1);
			LLVMValueRef ci = cg_loop_begin(c, &lc, I(c, 0), I(c, cg)), ch = add(c, mul(c, grp, I(c, cg)), ci);
			for (int64_t a = 0; a < na; a++) {
				LLVMValueRef i = add(c, qa, I(c, oa[a]));
				LLVMBasicBlockRef end = cg_if_begin(c, in_range(c, i, H));
				LLVMValueRef xrow = cg_gep(c, c->f32, X, mul(c, add(c, mul(c, add(c, mul(c, in, I(c, C)), ch), I(c, H)), i), I(c, W)));
				for (int64_t b = 0; b < nb; b++) {
					int64_t lo = ob[b] < 0 ? -ob[b] : 0, hi = W - ob[b] < QB ? W - ob[b] : QB;
					if (lo >= hi)
						continue;
					LLVMValueRef wo = add(c, mul(c, add(c, mul(c, add(c, mul(c, ch, I(c, mg)), mi), I(c, KH)), I(c, ta[a])), I(c, KW)),
							      I(c, tb[b]));
					LLVMValueRef wv = cg_loadf(c, Wt, wo);
					LLVMValueRef j = cg_loop_begin(c, &lb, I(c, lo), I(c, hi)), yo = mul(c, j, I(c, st[1]));
					LLVMValueRef s = LLVMBuildFAdd(c->b, cg_loadf(c, yrow, yo),
								       LLVMBuildFMul(c->b, cg_loadf(c, xrow, add(c, j, I(c, ob[b]))), wv, ""), "");
					cg_storef(c, s, yrow, yo);
					cg_loop_end(c, &lb, 1);
				}
				cg_if_end(c, end);
			}
			cg_loop_end(c, &lc, 1);
			cg_loop_end(c, &lq, 1);
		}
	cg_loop_end(c, &lm, 1);
	cg_loop_end(c, &lg, 1);
	cg_loop_end(c, &ln, 1);
}

/* y[n, m, o] = b[m] + sum over c in m's group, kernel taps t with
 * o + pad - t*dil = i*stride: x[n, c, i] * w[c, m % (M/G), t]. */
static void lower_conv_transpose(Cg *c, const Node *n)
{
	if (!c->reference && ir_value_type(c->g, n->in[0])->rank == 4 && ir_value_type(c->g, n->in[1])->dims[2] <= 64 &&
	    ir_value_type(c->g, n->in[1])->dims[3] <= 64) {
		lower_conv_transpose_2d(c, n);
		return;
	}
	const Type *x = ir_value_type(c->g, n->in[0]), *w = ir_value_type(c->g, n->in[1]), *y = ir_value_type(c->g, n->out);
	int nsp = x->rank - 2, cnt;
	const int64_t *st = ir_attr_ints(n, "strides", &cnt), *pd = ir_attr_ints(n, "pads", &cnt);
	const int64_t *dl = ir_attr_ints(n, "dilations", &cnt);
	int64_t G = ir_attr_int(n, "group", 1), C = x->dims[1], M = y->dims[1], cg = C / G, mg = M / G;
	int64_t xin = 1, yin = 1, kin = 1;
	for (int i = 0; i < nsp; i++) {
		xin *= x->dims[2 + i];
		yin *= y->dims[2 + i];
		kin *= w->dims[2 + i];
	}
	bool bias = n->nin > 2 && n->in[2] >= 0;
	LLVMValueRef X = c->buf[n->in[0]], W = c->buf[n->in[1]], Y = c->buf[n->out], acc = cg_entry_alloca(c, c->f32);
	Loop lb, lm, lo[MAXR], lc, lk[MAXR];
	LLVMValueRef nb = cg_loop_begin(c, &lb, I(c, 0), I(c, x->dims[0]));
	LLVMValueRef m = cg_loop_begin(c, &lm, I(c, 0), I(c, M));
	LLVMValueRef g = LLVMBuildUDiv(c->b, m, I(c, mg), ""), mi = LLVMBuildURem(c->b, m, I(c, mg), "");
	LLVMValueRef o[MAXR], yo = I(c, 0);
	for (int i = 0; i < nsp; i++) {
		o[i] = cg_loop_begin(c, &lo[i], I(c, 0), I(c, y->dims[2 + i]));
		yo = add(c, mul(c, yo, I(c, y->dims[2 + i])), o[i]);
	}
	LLVMBuildStore(c->b, bias ? cg_loadf(c, c->buf[n->in[2]], m) : cg_f32(c, 0), acc);
	LLVMValueRef ci = cg_loop_begin(c, &lc, I(c, 0), I(c, cg));
	LLVMValueRef ch = add(c, mul(c, g, I(c, cg)), ci);
	LLVMValueRef ok = LLVMConstInt(LLVMInt1TypeInContext(c->ctx), 1, 0), xo = I(c, 0), ko = I(c, 0);
	for (int i = 0; i < nsp; i++) {
		LLVMValueRef t = cg_loop_begin(c, &lk[i], I(c, 0), I(c, w->dims[2 + i]));
		LLVMValueRef num = LLVMBuildNSWSub(c->b, add(c, o[i], I(c, pd[i])), mul(c, t, I(c, dl[i])), "");
		/* num must be a non-negative multiple of the stride below the input size */
		LLVMValueRef q = LLVMBuildSDiv(c->b, num, I(c, st[i]), "");
		LLVMValueRef exact = LLVMBuildICmp(c->b, LLVMIntEQ, mul(c, q, I(c, st[i])), num, "");
		ok = LLVMBuildAnd(c->b, ok, LLVMBuildAnd(c->b, exact, in_range(c, num, st[i] * (x->dims[2 + i] - 1) + 1), ""), "");
		xo = add(c, mul(c, xo, I(c, x->dims[2 + i])), q);
		ko = add(c, mul(c, ko, I(c, w->dims[2 + i])), t);
	}
	LLVMValueRef xa = add(c, mul(c, add(c, mul(c, nb, I(c, C)), ch), I(c, xin)), fsel(c, ok, xo, I(c, 0)));
	LLVMValueRef wa = add(c, mul(c, add(c, mul(c, ch, I(c, mg)), mi), I(c, kin)), ko);
	LLVMValueRef prod = LLVMBuildFMul(c->b, cg_loadf(c, X, xa), cg_loadf(c, W, wa), "");
	LLVMValueRef a = LLVMBuildLoad2(c->b, c->f32, acc, "");
	LLVMBuildStore(c->b, fsel(c, ok, LLVMBuildFAdd(c->b, a, prod, ""), a), acc);
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lk[i], 1);
	cg_loop_end(c, &lc, 1);
	LLVMValueRef ya = add(c, mul(c, add(c, mul(c, nb, I(c, M)), m), I(c, yin)), yo);
	cg_storef(c, LLVMBuildLoad2(c->b, c->f32, acc, ""), Y, ya);
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lo[i], 1);
	cg_loop_end(c, &lm, 1);
	cg_loop_end(c, &lb, 1);
}

/* Col2Im: y[n, c, p] = sum over block offsets k with p + pad - k*dil a
 * multiple of the stride, q = that / stride inside the grid:
 * x[n, c*K + k, q] -- a gather, like the transposed convolution. */
static void lower_col2im(Cg *c, const Node *n)
{
	const Type *x = ir_value_type(c->g, n->in[0]), *y = ir_value_type(c->g, n->out);
	int nsp = y->rank - 2, cnt;
	const int64_t *bk = ir_attr_ints(n, "block", &cnt), *st = ir_attr_ints(n, "strides", &cnt);
	const int64_t *pd = ir_attr_ints(n, "pads", &cnt), *dl = ir_attr_ints(n, "dilations", &cnt);
	int64_t grid[MAXR], K = 1, L = x->dims[2], C = y->dims[1];
	for (int i = 0; i < nsp; i++) {
		grid[i] = (y->dims[2 + i] + pd[i] + pd[nsp + i] - (bk[i] - 1) * dl[i] - 1) / st[i] + 1;
		K *= bk[i];
	}
	LLVMValueRef X = c->buf[n->in[0]], Y = c->buf[n->out], acc = cg_entry_alloca(c, c->f32);
	Loop lp, lo[MAXR], lk[MAXR];
	int64_t yin = 1;
	for (int i = 0; i < nsp; i++)
		yin *= y->dims[2 + i];
	LLVMValueRef pc = cg_loop_begin(c, &lp, I(c, 0), I(c, y->dims[0] * C));
	LLVMValueRef o[MAXR], yo = I(c, 0);
	for (int i = 0; i < nsp; i++) {
		o[i] = cg_loop_begin(c, &lo[i], I(c, 0), I(c, y->dims[2 + i]));
		yo = add(c, mul(c, yo, I(c, y->dims[2 + i])), o[i]);
	}
	LLVMBuildStore(c->b, cg_f32(c, 0), acc);
	LLVMValueRef ok = LLVMConstInt(LLVMInt1TypeInContext(c->ctx), 1, 0), qo = I(c, 0), ko = I(c, 0);
	for (int i = 0; i < nsp; i++) {
		LLVMValueRef k = cg_loop_begin(c, &lk[i], I(c, 0), I(c, bk[i]));
		LLVMValueRef num = LLVMBuildNSWSub(c->b, add(c, o[i], I(c, pd[i])), mul(c, k, I(c, dl[i])), "");
		LLVMValueRef q = LLVMBuildSDiv(c->b, num, I(c, st[i]), "");
		LLVMValueRef exact = LLVMBuildICmp(c->b, LLVMIntEQ, mul(c, q, I(c, st[i])), num, "");
		ok = LLVMBuildAnd(c->b, ok, LLVMBuildAnd(c->b, exact, in_range(c, num, st[i] * (grid[i] - 1) + 1), ""), "");
		qo = add(c, mul(c, qo, I(c, grid[i])), q);
		ko = add(c, mul(c, ko, I(c, bk[i])), k);
	}
	/* x[n][c*K + k][q]: plane pc = n*C + c */
	LLVMValueRef xa = add(c, mul(c, add(c, mul(c, pc, I(c, K)), ko), I(c, L)), fsel(c, ok, qo, I(c, 0)));
	LLVMValueRef a = LLVMBuildLoad2(c->b, c->f32, acc, "");
	LLVMBuildStore(c->b, fsel(c, ok, LLVMBuildFAdd(c->b, a, cg_loadf(c, X, xa), ""), a), acc);
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lk[i], 1);
	cg_storef(c, LLVMBuildLoad2(c->b, c->f32, acc, ""), Y, add(c, mul(c, pc, I(c, yin)), yo));
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lo[i], 1);
	cg_loop_end(c, &lp, 1);
}

bool cg_lower_window(Cg *c, const Node *n)
{
	int nsp = ir_value_type(c->g, n->in[0])->rank - 2;
	switch (n->op) {
	case OP_CONV_TRANSPOSE: lower_conv_transpose(c, n); return true;
	case OP_LPPOOL: lower_pool_nd(c, n); return true;
	case OP_GLOBAL_MAXPOOL: lower_global_maxpool(c, n); return true;
	case OP_COL2IM: lower_col2im(c, n); return true;
	case OP_MAXPOOL: case OP_AVGPOOL:
		if (nsp == 1 || nsp == 2)
			return false;  /* the 2-D kernels in cg_ops.c */
		lower_pool_nd(c, n);
		return true;
	default: return false;
	}
}
