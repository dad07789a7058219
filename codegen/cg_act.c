/* Activations: the one formula of each activation of ir/act.def, used by
 * the elementwise ops (and so by fused_ew chains) and by the fused
 * epilogues of conv, gemm and matmul.  Names and parameters are the
 * registry's (ir_act_of_op, ir_act_of_epilogue). */
#include <math.h>

#include "cg_internal.h"

static LLVMValueRef fsel_lt(Cg *c, LLVMValueRef x, LLVMValueRef y, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOLT, x, y, ""), a, b, "");
}

/* x is an f32 scalar or vector; a.p holds the parameters in act.def's order. */
LLVMValueRef cg_act_apply(Cg *c, Act a, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef zero = cg_fconst(c, ty, 0);
	switch (a.k) {
	case ACT_NONE: return x;
	case ACT_RELU: return fsel_lt(c, x, zero, zero, x);  /* NaN stays NaN */
	case ACT_LEAKY_RELU: return fsel_lt(c, x, zero, LLVMBuildFMul(c->b, x, cg_fconst(c, ty, a.p[0]), ""), x);
	case ACT_SIGMOID: return cg_sigmoid(c, x);
	case ACT_TANH: return cg_tanh(c, x);
	case ACT_SILU: return LLVMBuildFMul(c->b, x, cg_sigmoid(c, x), "");
	case ACT_HARD_SIGMOID: return cg_hard_sigmoid(c, x, a.p[0], a.p[1]);
	case ACT_HARD_SWISH: return LLVMBuildFMul(c->b, x, cg_hard_sigmoid(c, x, 1.0 / 6, 0.5), "");
	case ACT_GELU: return cg_gelu(c, x, false);
	case ACT_GELU_TANH: return cg_gelu(c, x, true);
	case ACT_CLIP: {
		double lo = a.p[0], hi = a.p[1];
		LLVMValueRef y = x;
		if (!isinf(lo))
			y = fsel_lt(c, y, cg_fconst(c, ty, lo), cg_fconst(c, ty, lo), y);
		if (!isinf(hi))
			y = LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOGT, y, cg_fconst(c, ty, hi), ""),
					    cg_fconst(c, ty, hi), y, "");
		return y;
	}
	case ACT_COUNT:
		break;
	}
	return x;
}

/* In place over a whole tensor: y = act(y). */
void cg_act_inplace(Cg *c, Act a, LLVMValueRef y, int64_t num)
{
	if (a.k == ACT_NONE)
		return;
	Loop l;
	LLVMValueRef i = cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, num));
	cg_storef(c, cg_act_apply(c, a, cg_loadf(c, y, i)), y, i);
	cg_loop_end(c, &l, 1);
}
