/* Convolution: the plain loop nests (the reference every conv kernel is
 * tested against, 2-D and N-d) and the choice among the vector kernels
 * (cg_conv_blocked.c, cg_conv_dw.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

#define MAXR IR_MAX_RANK

static void lower_conv_reference(Cg *c, const Node *n)
{
	Geo g = cg_geometry(c, n, true);
	int64_t Cg = g.C / g.group, Mg = g.M / g.group;
	LLVMValueRef X = cg_buf(c, n->in[0]), W = cg_buf(c, n->in[1]), Bi = n->nin > 2 ? cg_buf(c, n->in[2]) : NULL, Y = cg_buf(c, n->out);
	LLVMValueRef acc = cg_entry_alloca(c, c->f32);
	Loop ln, lg, lm, loh, low, lc, lkh, lkw;
	LLVMValueRef in = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, g.N));
	/* Groups as an outer loop: no 64-bit division (a libgcc call on 32-bit
	 * targets). */
	LLVMValueRef grp = cg_loop_begin(c, &lg, cg_i64(c, 0), cg_i64(c, g.group));
	LLVMValueRef m = cg_add(c, cg_mul(c, grp, cg_i64(c, Mg)), cg_loop_begin(c, &lm, cg_i64(c, 0), cg_i64(c, Mg)));
	LLVMValueRef oh = cg_loop_begin(c, &loh, cg_i64(c, 0), cg_i64(c, g.OH));
	LLVMValueRef ow = cg_loop_begin(c, &low, cg_i64(c, 0), cg_i64(c, g.OW));
	LLVMBuildStore(c->b, Bi ? cg_loadf(c, Bi, m) : cg_f32(c, 0), acc);
	LLVMValueRef ic = cg_loop_begin(c, &lc, cg_i64(c, 0), cg_i64(c, Cg));
	LLVMValueRef kh = cg_loop_begin(c, &lkh, cg_i64(c, 0), cg_i64(c, g.KH));
	LLVMValueRef ih = cg_add(c, cg_mul(c, oh, cg_i64(c, g.sh)), cg_add(c, cg_mul(c, kh, cg_i64(c, g.dh)), cg_i64(c, -g.ph)));
	LLVMBasicBlockRef endh = cg_if_begin(c, cg_in_range(c, ih, g.H));
	LLVMValueRef kw = cg_loop_begin(c, &lkw, cg_i64(c, 0), cg_i64(c, g.KW));
	LLVMValueRef iw = cg_add(c, cg_mul(c, ow, cg_i64(c, g.sw)), cg_add(c, cg_mul(c, kw, cg_i64(c, g.dw)), cg_i64(c, -g.pw)));
	LLVMBasicBlockRef endw = cg_if_begin(c, cg_in_range(c, iw, g.W));
	LLVMValueRef chan = cg_add(c, cg_mul(c, grp, cg_i64(c, Cg)), ic);
	LLVMValueRef xo = cg_plane_at(c, cg_ty(c, n->in[0]), cg_add(c, cg_mul(c, in, cg_i64(c, g.C)), chan), cg_add(c, cg_mul(c, ih, cg_i64(c, g.W)), iw));
	LLVMValueRef wo = cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, m, cg_i64(c, Cg)), ic), cg_i64(c, g.KH)), kh), cg_i64(c, g.KW)), kw);
	LLVMValueRef s = cg_fmuladd(c, cg_loadf(c, X, xo), cg_loadf(c, W, wo), LLVMBuildLoad2(c->b, c->f32, acc, ""));
	LLVMBuildStore(c->b, s, acc);
	cg_if_end(c, endw);
	cg_loop_end(c, &lkw, 1);
	cg_if_end(c, endh);
	cg_loop_end(c, &lkh, 1);
	cg_loop_end(c, &lc, 1);
	LLVMValueRef yo = cg_plane_at(c, cg_ty(c, n->out), cg_add(c, cg_mul(c, in, cg_i64(c, g.M)), m), cg_add(c, cg_mul(c, oh, cg_i64(c, g.OW)), ow));
	LLVMValueRef val = LLVMBuildLoad2(c->b, c->f32, acc, "");
	if (n->nin > 3 && n->in[3] >= 0)
		val = LLVMBuildFAdd(c->b, val, cg_loadf(c, cg_buf(c, n->in[3]), yo), "");
	cg_storef(c, cg_act_apply(c, ir_act_of_epilogue(n), val), Y, yo);
	cg_loop_end(c, &low, 1);
	cg_loop_end(c, &loh, 1);
	cg_loop_end(c, &lm, 1);
	cg_loop_end(c, &lg, 1);
	cg_loop_end(c, &ln, 1);
}

/* Convolution of any spatial rank (3-D and up): the same plain loop nest
 * with the spatial positions as loop arrays; taps in the padding are
 * masked, not branched around. */
static void lower_conv_nd(Cg *c, const Node *n)
{
	const Type *x = cg_ty(c, n->in[0]), *w = cg_ty(c, n->in[1]), *y = cg_ty(c, n->out);
	int nsp = x->rank - 2, cnt;
	const int64_t *st = ir_attr_ints(n, "strides", &cnt), *pd = ir_attr_ints(n, "pads", &cnt);
	const int64_t *dl = ir_attr_ints(n, "dilations", &cnt);
	int64_t G = ir_attr_int(n, "group", 1), C = x->dims[1], M = y->dims[1], Cg = C / G, Mg = M / G;
	int64_t xin = 1, yin = 1, kin = 1;
	for (int i = 0; i < nsp; i++) {
		xin *= x->dims[2 + i];
		yin *= y->dims[2 + i];
		kin *= w->dims[2 + i];
	}
	LLVMValueRef X = cg_buf(c, n->in[0]), W = cg_buf(c, n->in[1]), Y = cg_buf(c, n->out), acc = cg_entry_alloca(c, c->f32);
	LLVMValueRef Bi = n->nin > 2 && n->in[2] >= 0 ? cg_buf(c, n->in[2]) : NULL;
	Loop lb, lg, lm, lo[MAXR], lc, lk[MAXR];
	LLVMValueRef nb = cg_loop_begin(c, &lb, cg_i64(c, 0), cg_i64(c, x->dims[0]));
	LLVMValueRef grp = cg_loop_begin(c, &lg, cg_i64(c, 0), cg_i64(c, G));
	LLVMValueRef m = cg_add(c, cg_mul(c, grp, cg_i64(c, Mg)), cg_loop_begin(c, &lm, cg_i64(c, 0), cg_i64(c, Mg)));
	LLVMValueRef o[MAXR], yo = cg_i64(c, 0);
	for (int i = 0; i < nsp; i++) {
		o[i] = cg_loop_begin(c, &lo[i], cg_i64(c, 0), cg_i64(c, y->dims[2 + i]));
		yo = cg_add(c, cg_mul(c, yo, cg_i64(c, y->dims[2 + i])), o[i]);
	}
	LLVMBuildStore(c->b, Bi ? cg_loadf(c, Bi, m) : cg_f32(c, 0), acc);
	LLVMValueRef ic = cg_loop_begin(c, &lc, cg_i64(c, 0), cg_i64(c, Cg));
	LLVMValueRef ok = LLVMConstInt(LLVMInt1TypeInContext(c->ctx), 1, 0), xo = cg_i64(c, 0), ko = cg_i64(c, 0);
	for (int i = 0; i < nsp; i++) {
		LLVMValueRef k = cg_loop_begin(c, &lk[i], cg_i64(c, 0), cg_i64(c, w->dims[2 + i]));
		LLVMValueRef ix = cg_add(c, cg_mul(c, o[i], cg_i64(c, st[i])), cg_add(c, cg_mul(c, k, cg_i64(c, dl[i])), cg_i64(c, -pd[i])));
		ok = LLVMBuildAnd(c->b, ok, cg_in_range(c, ix, x->dims[2 + i]), "");
		xo = cg_add(c, cg_mul(c, xo, cg_i64(c, x->dims[2 + i])), ix);
		ko = cg_add(c, cg_mul(c, ko, cg_i64(c, w->dims[2 + i])), k);
	}
	LLVMValueRef chan = cg_add(c, cg_mul(c, grp, cg_i64(c, Cg)), ic);
	LLVMValueRef xa = cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, nb, cg_i64(c, C)), chan), cg_i64(c, xin)), LLVMBuildSelect(c->b, ok, xo, cg_i64(c, 0), ""));
	LLVMValueRef wa = cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, m, cg_i64(c, Cg)), ic), cg_i64(c, kin)), ko);
	LLVMValueRef a = LLVMBuildLoad2(c->b, c->f32, acc, "");
	LLVMValueRef sum = cg_fmuladd(c, cg_loadf(c, X, xa), cg_loadf(c, W, wa), a);
	LLVMBuildStore(c->b, LLVMBuildSelect(c->b, ok, sum, a, ""), acc);
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lk[i], 1);
	cg_loop_end(c, &lc, 1);
	LLVMValueRef ya = cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, nb, cg_i64(c, M)), m), cg_i64(c, yin)), yo);
	LLVMValueRef val = LLVMBuildLoad2(c->b, c->f32, acc, "");
	if (n->nin > 3 && n->in[3] >= 0)
		val = LLVMBuildFAdd(c->b, val, cg_loadf(c, cg_buf(c, n->in[3]), ya), "");
	cg_storef(c, cg_act_apply(c, ir_act_of_epilogue(n), val), Y, ya);
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lo[i], 1);
	cg_loop_end(c, &lm, 1);
	cg_loop_end(c, &lg, 1);
	cg_loop_end(c, &lb, 1);
}

void cg_lower_conv(Cg *c, const Node *n)
{
	if (cg_ty(c, n->in[0])->rank > 4) {
		lower_conv_nd(c, n);
		return;
	}
	Geo g = cg_geometry(c, n, true);
	bool wconst = ir_value(c->g, n->in[1])->kind == VAL_CONST;
	bool bconst = n->nin < 3 || n->in[2] < 0 || ir_value(c->g, n->in[2])->kind == VAL_CONST;
	if (c->reference || !wconst || !bconst || !cg_blocks_native(c, n))
		lower_conv_reference(c, n);
	else {
		c->keep_loops = true;
		bool blocked = cg_any_blocked(c, n);
		if (g.group == g.C && g.group > 1 && g.M == g.C && blocked)
			cg_dw_blocked(c, n);
		else if (g.group == g.C && g.group > 1 && g.M % g.C == 0 && !blocked)
			cg_conv_depthwise(c, n);  /* (a channel multiplier into blocks: the blocked kernel's groups) */
		else if (!blocked && cg_pw_wins(c, &g))
			cg_conv_pointwise(c, n);
		else
			cg_conv_blocked(c, n);
		c->keep_loops = false;
	}
}

/* Does conv n go through a kernel that honours c->part/c->nparts (the
 * blocked and depthwise ones), so it can run as tasks? */
bool cg_conv_splits(Cg *c, const Node *n)
{
	if (c->reference || cg_ty(c, n->in[0])->rank > 4 || !cg_blocks_native(c, n))
		return false;
	bool wconst = ir_value(c->g, n->in[1])->kind == VAL_CONST;
	bool bconst = n->nin < 3 || n->in[2] < 0 || ir_value(c->g, n->in[2])->kind == VAL_CONST;
	return wconst && bconst;
}
