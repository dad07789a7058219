/* Sliding windows: 2-D (and 1-D) max and average pooling (max pooling
 * through the depthwise kernels of cg_conv_dw.c where they apply, the plain
 * loops here being their reference), pooling of any other spatial rank
 * (max, average, Lp), global pooling, col2im, and transposed convolution:
 * written as a gather (each output sums the inputs that map onto it), and
 * in 2-d by output phases. */
#include <math.h>

#include "cg_internal.h"

#define MAXR IR_MAX_RANK

static LLVMValueRef pow_p(Cg *c, LLVMValueRef x, int64_t p)
{
	LLVMValueRef r = x;
	for (int64_t i = 1; i < p; i++)
		r = LLVMBuildFMul(c->b, r, x, "");
	return r;
}

void cg_lower_pool_nd(Cg *c, const Node *n)
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
	LLVMValueRef pc = cg_loop_begin(c, &lp, cg_i64(c, 0), cg_i64(c, x->dims[0] * x->dims[1]));
	LLVMValueRef o[MAXR], yo = cg_i64(c, 0);
	for (int i = 0; i < nsp; i++) {
		o[i] = cg_loop_begin(c, &lo[i], cg_i64(c, 0), cg_i64(c, y->dims[2 + i]));
		yo = cg_add(c, cg_mul(c, yo, cg_i64(c, y->dims[2 + i])), o[i]);
	}
	LLVMBuildStore(c->b, cg_f32(c, mx ? -INFINITY : 0), acc);
	LLVMBuildStore(c->b, cg_f32(c, 0), count);
	LLVMValueRef ok = LLVMConstInt(LLVMInt1TypeInContext(c->ctx), 1, 0), inpad = ok, xo = cg_i64(c, 0);
	for (int i = 0; i < nsp; i++) {
		LLVMValueRef kk = cg_loop_begin(c, &lk[i], cg_i64(c, 0), cg_i64(c, k[i]));
		LLVMValueRef ix = cg_add(c, cg_mul(c, o[i], cg_i64(c, st[i])), cg_add(c, cg_mul(c, kk, cg_i64(c, dl[i])), cg_i64(c, -pd[i])));
		ok = LLVMBuildAnd(c->b, ok, cg_in_range(c, ix, x->dims[2 + i]), "");
		inpad = LLVMBuildAnd(c->b, inpad, cg_in_range(c, cg_add(c, ix, cg_i64(c, pd[i])), x->dims[2 + i] + pd[i] + pd[nsp + i]), "");
		xo = cg_add(c, cg_mul(c, xo, cg_i64(c, x->dims[2 + i])), ix);
	}
	/* Out-of-range positions read element 0 and are masked. */
	LLVMValueRef at = cg_add(c, cg_mul(c, pc, cg_i64(c, xin)), cg_sel(c, ok, xo, cg_i64(c, 0)));
	LLVMValueRef v = cg_loadf(c, X, at), a = LLVMBuildLoad2(c->b, c->f32, acc, "");
	LLVMValueRef r;
	if (mx) {
		r = cg_sel(c, LLVMBuildAnd(c->b, ok, LLVMBuildFCmp(c->b, LLVMRealUGT, v, a, ""), ""), v, a);
	} else {
		LLVMValueRef term = avg ? v : pow_p(c, cg_call_intr(c, "llvm.fabs", &c->f32, 1, &v, 1), p);
		r = LLVMBuildFAdd(c->b, a, cg_sel(c, ok, term, cg_f32(c, 0)), "");
		LLVMValueRef counted = cip ? inpad : ok;
		LLVMValueRef one = cg_sel(c, counted, cg_f32(c, 1), cg_f32(c, 0));
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
			res = cg_sqrt(c, res);
		else
			res = cg_exp(c, LLVMBuildFDiv(c->b, cg_log(c, res), cg_f32(c, (double)p), ""));
	}
	cg_storef(c, res, Y, cg_add(c, cg_mul(c, pc, cg_i64(c, yin)), yo));
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lo[i], 1);
	cg_loop_end(c, &lp, 1);
}

void cg_lower_global_maxpool(Cg *c, const Node *n)
{
	const Type *x = ir_value_type(c->g, n->in[0]);
	int64_t sp = 1;
	for (int i = 2; i < x->rank; i++)
		sp *= x->dims[i];
	LLVMValueRef X = c->buf[n->in[0]], Y = c->buf[n->out], acc = cg_entry_alloca(c, c->f32);
	Loop lp, li;
	LLVMValueRef pc = cg_loop_begin(c, &lp, cg_i64(c, 0), cg_i64(c, x->dims[0] * x->dims[1]));
	LLVMBuildStore(c->b, cg_f32(c, -INFINITY), acc);
	LLVMValueRef i = cg_loop_begin(c, &li, cg_i64(c, 0), cg_i64(c, sp));
	LLVMValueRef v = cg_loadf(c, X, cg_add(c, cg_mul(c, pc, cg_i64(c, sp)), i)), a = LLVMBuildLoad2(c->b, c->f32, acc, "");
	LLVMBuildStore(c->b, cg_sel(c, LLVMBuildFCmp(c->b, LLVMRealUGT, v, a, ""), v, a), acc);
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
	LLVMValueRef in = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, x->dims[0]));
	LLVMValueRef grp = cg_loop_begin(c, &lg, cg_i64(c, 0), cg_i64(c, G));
	LLVMValueRef mi = cg_loop_begin(c, &lm, cg_i64(c, 0), cg_i64(c, mg)), m = cg_add(c, cg_mul(c, grp, cg_i64(c, mg)), mi);
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
			LLVMValueRef qa = cg_loop_begin(c, &lq, cg_i64(c, 0), cg_i64(c, QA));
			LLVMValueRef yrow = cg_gep(c, c->f32, Y,
						   cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, in, cg_i64(c, M)), m), cg_i64(c, OH)),
								      cg_add(c, cg_mul(c, qa, cg_i64(c, st[0])), cg_i64(c, ra))), cg_i64(c, OW)), cg_i64(c, rb)));
			LLVMValueRef bias = Bi ? cg_loadf(c, Bi, m) : cg_f32(c, 0);
			LLVMValueRef qb = cg_loop_begin(c, &lb, cg_i64(c, 0), cg_i64(c, QB));
			cg_storef(c, bias, yrow, cg_mul(c, qb, cg_i64(c, st[1])));
			cg_loop_end(c, &lb, 1);
			LLVMValueRef ci = cg_loop_begin(c, &lc, cg_i64(c, 0), cg_i64(c, cg)), ch = cg_add(c, cg_mul(c, grp, cg_i64(c, cg)), ci);
			for (int64_t a = 0; a < na; a++) {
				LLVMValueRef i = cg_add(c, qa, cg_i64(c, oa[a]));
				LLVMBasicBlockRef end = cg_if_begin(c, cg_in_range(c, i, H));
				LLVMValueRef xrow = cg_gep(c, c->f32, X, cg_mul(c, cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, in, cg_i64(c, C)), ch), cg_i64(c, H)), i), cg_i64(c, W)));
				for (int64_t b = 0; b < nb; b++) {
					int64_t lo = ob[b] < 0 ? -ob[b] : 0, hi = W - ob[b] < QB ? W - ob[b] : QB;
					if (lo >= hi)
						continue;
					LLVMValueRef wo = cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, ch, cg_i64(c, mg)), mi), cg_i64(c, KH)), cg_i64(c, ta[a])), cg_i64(c, KW)),
							      cg_i64(c, tb[b]));
					LLVMValueRef wv = cg_loadf(c, Wt, wo);
					LLVMValueRef j = cg_loop_begin(c, &lb, cg_i64(c, lo), cg_i64(c, hi)), yo = cg_mul(c, j, cg_i64(c, st[1]));
					LLVMValueRef s = LLVMBuildFAdd(c->b, cg_loadf(c, yrow, yo),
								       LLVMBuildFMul(c->b, cg_loadf(c, xrow, cg_add(c, j, cg_i64(c, ob[b]))), wv, ""), "");
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
void cg_lower_conv_transpose(Cg *c, const Node *n)
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
	LLVMValueRef nb = cg_loop_begin(c, &lb, cg_i64(c, 0), cg_i64(c, x->dims[0]));
	LLVMValueRef m = cg_loop_begin(c, &lm, cg_i64(c, 0), cg_i64(c, M));
	LLVMValueRef g = LLVMBuildUDiv(c->b, m, cg_i64(c, mg), ""), mi = LLVMBuildURem(c->b, m, cg_i64(c, mg), "");
	LLVMValueRef o[MAXR], yo = cg_i64(c, 0);
	for (int i = 0; i < nsp; i++) {
		o[i] = cg_loop_begin(c, &lo[i], cg_i64(c, 0), cg_i64(c, y->dims[2 + i]));
		yo = cg_add(c, cg_mul(c, yo, cg_i64(c, y->dims[2 + i])), o[i]);
	}
	LLVMBuildStore(c->b, bias ? cg_loadf(c, c->buf[n->in[2]], m) : cg_f32(c, 0), acc);
	LLVMValueRef ci = cg_loop_begin(c, &lc, cg_i64(c, 0), cg_i64(c, cg));
	LLVMValueRef ch = cg_add(c, cg_mul(c, g, cg_i64(c, cg)), ci);
	LLVMValueRef ok = LLVMConstInt(LLVMInt1TypeInContext(c->ctx), 1, 0), xo = cg_i64(c, 0), ko = cg_i64(c, 0);
	for (int i = 0; i < nsp; i++) {
		LLVMValueRef t = cg_loop_begin(c, &lk[i], cg_i64(c, 0), cg_i64(c, w->dims[2 + i]));
		LLVMValueRef num = LLVMBuildNSWSub(c->b, cg_add(c, o[i], cg_i64(c, pd[i])), cg_mul(c, t, cg_i64(c, dl[i])), "");
		/* num must be a non-negative multiple of the stride below the input size */
		LLVMValueRef q = LLVMBuildSDiv(c->b, num, cg_i64(c, st[i]), "");
		LLVMValueRef exact = LLVMBuildICmp(c->b, LLVMIntEQ, cg_mul(c, q, cg_i64(c, st[i])), num, "");
		ok = LLVMBuildAnd(c->b, ok, LLVMBuildAnd(c->b, exact, cg_in_range(c, num, st[i] * (x->dims[2 + i] - 1) + 1), ""), "");
		xo = cg_add(c, cg_mul(c, xo, cg_i64(c, x->dims[2 + i])), q);
		ko = cg_add(c, cg_mul(c, ko, cg_i64(c, w->dims[2 + i])), t);
	}
	LLVMValueRef xa = cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, nb, cg_i64(c, C)), ch), cg_i64(c, xin)), cg_sel(c, ok, xo, cg_i64(c, 0)));
	LLVMValueRef wa = cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, ch, cg_i64(c, mg)), mi), cg_i64(c, kin)), ko);
	LLVMValueRef prod = LLVMBuildFMul(c->b, cg_loadf(c, X, xa), cg_loadf(c, W, wa), "");
	LLVMValueRef a = LLVMBuildLoad2(c->b, c->f32, acc, "");
	LLVMBuildStore(c->b, cg_sel(c, ok, LLVMBuildFAdd(c->b, a, prod, ""), a), acc);
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lk[i], 1);
	cg_loop_end(c, &lc, 1);
	LLVMValueRef ya = cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, nb, cg_i64(c, M)), m), cg_i64(c, yin)), yo);
	cg_storef(c, LLVMBuildLoad2(c->b, c->f32, acc, ""), Y, ya);
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lo[i], 1);
	cg_loop_end(c, &lm, 1);
	cg_loop_end(c, &lb, 1);
}

/* Col2Im: y[n, c, p] = sum over block offsets k with p + pad - k*dil a
 * multiple of the stride, q = that / stride inside the grid:
 * x[n, c*K + k, q] -- a gather, like the transposed convolution. */
void cg_lower_col2im(Cg *c, const Node *n)
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
	LLVMValueRef pc = cg_loop_begin(c, &lp, cg_i64(c, 0), cg_i64(c, y->dims[0] * C));
	LLVMValueRef o[MAXR], yo = cg_i64(c, 0);
	for (int i = 0; i < nsp; i++) {
		o[i] = cg_loop_begin(c, &lo[i], cg_i64(c, 0), cg_i64(c, y->dims[2 + i]));
		yo = cg_add(c, cg_mul(c, yo, cg_i64(c, y->dims[2 + i])), o[i]);
	}
	LLVMBuildStore(c->b, cg_f32(c, 0), acc);
	LLVMValueRef ok = LLVMConstInt(LLVMInt1TypeInContext(c->ctx), 1, 0), qo = cg_i64(c, 0), ko = cg_i64(c, 0);
	for (int i = 0; i < nsp; i++) {
		LLVMValueRef k = cg_loop_begin(c, &lk[i], cg_i64(c, 0), cg_i64(c, bk[i]));
		LLVMValueRef num = LLVMBuildNSWSub(c->b, cg_add(c, o[i], cg_i64(c, pd[i])), cg_mul(c, k, cg_i64(c, dl[i])), "");
		LLVMValueRef q = LLVMBuildSDiv(c->b, num, cg_i64(c, st[i]), "");
		LLVMValueRef exact = LLVMBuildICmp(c->b, LLVMIntEQ, cg_mul(c, q, cg_i64(c, st[i])), num, "");
		ok = LLVMBuildAnd(c->b, ok, LLVMBuildAnd(c->b, exact, cg_in_range(c, num, st[i] * (grid[i] - 1) + 1), ""), "");
		qo = cg_add(c, cg_mul(c, qo, cg_i64(c, grid[i])), q);
		ko = cg_add(c, cg_mul(c, ko, cg_i64(c, bk[i])), k);
	}
	/* x[n][c*K + k][q]: plane pc = n*C + c */
	LLVMValueRef xa = cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, pc, cg_i64(c, K)), ko), cg_i64(c, L)), cg_sel(c, ok, qo, cg_i64(c, 0)));
	LLVMValueRef a = LLVMBuildLoad2(c->b, c->f32, acc, "");
	LLVMBuildStore(c->b, cg_sel(c, ok, LLVMBuildFAdd(c->b, a, cg_loadf(c, X, xa), ""), a), acc);
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lk[i], 1);
	cg_storef(c, LLVMBuildLoad2(c->b, c->f32, acc, ""), Y, cg_add(c, cg_mul(c, pc, cg_i64(c, yin)), yo));
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lo[i], 1);
	cg_loop_end(c, &lp, 1);
}

/* ---- 2-D pooling ------------------------------------------------------------------------ */

/* Does max pool n go through a depthwise kernel (which splits its work)? */
bool cg_pool_kernel(Cg *c, const Node *n)
{
	return n->op == OP_MAXPOOL && !c->reference && cg_ty(c, n->in[0])->rank <= 4 && cg_ty(c, n->in[0])->dt == DT_F32 &&
	       cg_blocks_native(c, n);
}

/* Max and average pooling: the 2-D (and 1-D) ones here or through the
 * depthwise kernels, any other spatial rank by cg_lower_pool_nd. */
void cg_lower_pool(Cg *c, const Node *n)
{
	int nsp = cg_ty(c, n->in[0])->rank - 2;
	if (nsp != 1 && nsp != 2) {
		cg_lower_pool_nd(c, n);
		return;
	}
	Geo g = cg_geometry(c, n, false);
	if (cg_pool_kernel(c, n)) {
		c->keep_loops = true;
		if (cg_any_blocked(c, n))
			cg_dw_blocked(c, n);  /* along channel vectors */
		else
			cg_conv_depthwise(c, n);  /* vectorized: the windows of a depthwise conv */
		c->keep_loops = false;
		return;
	}
	bool avg = n->op == OP_AVGPOOL, cip = ir_attr_int(n, "count_include_pad", 0);
	LLVMValueRef X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out);
	LLVMValueRef acc = cg_entry_alloca(c, c->f32), cnt = cg_entry_alloca(c, c->f32);
	Loop lp, loh, low, lkh, lkw;
	LLVMValueRef p = cg_loop_begin(c, &lp, cg_i64(c, 0), cg_i64(c, g.N * g.C));
	LLVMValueRef oh = cg_loop_begin(c, &loh, cg_i64(c, 0), cg_i64(c, g.OH));
	LLVMValueRef ow = cg_loop_begin(c, &low, cg_i64(c, 0), cg_i64(c, g.OW));
	LLVMBuildStore(c->b, cg_f32(c, avg ? 0 : -INFINITY), acc);
	LLVMBuildStore(c->b, cg_f32(c, 0), cnt);
	LLVMValueRef kh = cg_loop_begin(c, &lkh, cg_i64(c, 0), cg_i64(c, g.KH));
	LLVMValueRef ih = cg_add(c, cg_mul(c, oh, cg_i64(c, g.sh)), cg_add(c, cg_mul(c, kh, cg_i64(c, g.dh)), cg_i64(c, -g.ph)));
	LLVMValueRef kw = cg_loop_begin(c, &lkw, cg_i64(c, 0), cg_i64(c, g.KW));
	LLVMValueRef iw = cg_add(c, cg_mul(c, ow, cg_i64(c, g.sw)), cg_add(c, cg_mul(c, kw, cg_i64(c, g.dw)), cg_i64(c, -g.pw)));
	if (avg && cip) {
		/* Positions inside the padded input count, real or not. */
		LLVMValueRef inpad = LLVMBuildAnd(c->b, cg_in_range(c, cg_add(c, ih, cg_i64(c, g.ph)), g.H + g.ph + g.pe_h),
						  cg_in_range(c, cg_add(c, iw, cg_i64(c, g.pw)), g.W + g.pw + g.pe_w), "");
		LLVMValueRef one = LLVMBuildSelect(c->b, inpad, cg_f32(c, 1), cg_f32(c, 0), "");
		LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, cnt, ""), one, ""), cnt);
	}
	LLVMValueRef ok = LLVMBuildAnd(c->b, cg_in_range(c, ih, g.H), cg_in_range(c, iw, g.W), "");
	LLVMBasicBlockRef end = cg_if_begin(c, ok);
	LLVMValueRef x = cg_loadf(c, X, cg_plane_at(c, cg_ty(c, n->in[0]), p, cg_add(c, cg_mul(c, ih, cg_i64(c, g.W)), iw)));
	LLVMValueRef a = LLVMBuildLoad2(c->b, c->f32, acc, "");
	if (avg) {
		LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, a, x, ""), acc);
		if (!cip)
			LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, cnt, ""), cg_f32(c, 1), ""), cnt);
	} else {
		/* NaN propagates: take x when it is NaN or larger. */
		LLVMValueRef take = LLVMBuildFCmp(c->b, LLVMRealUGT, x, a, "");
		LLVMBuildStore(c->b, LLVMBuildSelect(c->b, take, x, a, ""), acc);
	}
	cg_if_end(c, end);
	cg_loop_end(c, &lkw, 1);
	cg_loop_end(c, &lkh, 1);
	LLVMValueRef r = LLVMBuildLoad2(c->b, c->f32, acc, "");
	if (avg)
		r = LLVMBuildFDiv(c->b, r, LLVMBuildLoad2(c->b, c->f32, cnt, ""), "");
	cg_storef(c, r, Y, cg_plane_at(c, cg_ty(c, n->out), p, cg_add(c, cg_mul(c, oh, cg_i64(c, g.OW)), ow)));
	cg_loop_end(c, &low, 1);
	cg_loop_end(c, &loh, 1);
	cg_loop_end(c, &lp, 1);
}

void cg_lower_global_avgpool(Cg *c, const Node *n)
{
	const Type *t = cg_ty(c, n->in[0]);
	int64_t planes = t->dims[0] * t->dims[1], inner = ir_type_numel(t) / (planes ? planes : 1);
	LLVMValueRef X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out), acc = cg_entry_alloca(c, c->f32);
	Loop lp, li;
	if (t->block) {
		/* Channel blocks: a block's pixels are vectors of its channels
		 * (summed as vectors when a block is one), then the block's means
		 * in a row of the result. */
		int b = t->block;
		bool vec = !c->reference && b == c->lanes;
		LLVMTypeRef vt = vec ? c->vf : c->f32;
		LLVMValueRef vacc = cg_entry_alloca(c, vt);
		LLVMValueRef blk = cg_loop_begin(c, &lp, cg_i64(c, 0), cg_i64(c, planes / b));
		LLVMValueRef xb = cg_gep(c, c->f32, X, cg_mul(c, blk, cg_i64(c, inner * b)));
		for (int l = 0; l < (vec ? 1 : b); l++) {
			LLVMBuildStore(c->b, LLVMConstNull(vt), vacc);
			LLVMValueRef px = cg_loop_begin(c, &li, cg_i64(c, 0), cg_i64(c, inner));
			LLVMValueRef at = cg_add(c, cg_mul(c, px, cg_i64(c, b)), cg_i64(c, l));
			LLVMValueRef x = vec ? cg_vload(c, xb, at) : cg_loadf(c, xb, at);
			LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, vt, vacc, ""), x, ""), vacc);
			cg_loop_end(c, &li, 1);
			LLVMValueRef m = LLVMBuildFDiv(c->b, LLVMBuildLoad2(c->b, vt, vacc, ""), cg_fconst(c, vt, (double)inner), "");
			LLVMValueRef yo = cg_add(c, cg_mul(c, blk, cg_i64(c, b)), cg_i64(c, l));
			if (vec)
				LLVMSetAlignment(LLVMBuildStore(c->b, m, cg_gep(c, c->f32, Y, yo)), 4);
			else
				cg_storef(c, m, Y, yo);
		}
		cg_loop_end(c, &lp, 1);
		return;
	}
	LLVMValueRef p = cg_loop_begin(c, &lp, cg_i64(c, 0), cg_i64(c, planes));
	LLVMValueRef xp = cg_gep(c, c->f32, X, cg_mul(c, p, cg_i64(c, inner)));
	LLVMValueRef sum;
	if (c->reference) {
		LLVMBuildStore(c->b, cg_f32(c, 0), acc);
		LLVMValueRef i = cg_loop_begin(c, &li, cg_i64(c, 0), cg_i64(c, inner));
		LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, acc, ""), cg_loadf(c, xp, i), ""), acc);
		cg_loop_end(c, &li, 1);
		sum = LLVMBuildLoad2(c->b, c->f32, acc, "");
	} else
		sum = cg_sum_f32(c, xp, inner);
	cg_storef(c, LLVMBuildFDiv(c->b, sum, cg_f32(c, (double)inner), ""), Y, p);
	cg_loop_end(c, &lp, 1);
}

