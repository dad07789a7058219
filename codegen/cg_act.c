/* Activations: the one formula of each, used by the standalone ops and by
 * the fused epilogues of conv, gemm, matmul and fused_ew.  The attribute
 * "act" names one (ir/ops.def lists them); act_kind() is the one place that
 * reads the name. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

static LLVMValueRef fsel_lt(Cg *c, LLVMValueRef x, LLVMValueRef y, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOLT, x, y, ""), a, b, "");
}

Act cg_act_of_op(const Node *n)
{
	switch (n->op) {
	case OP_RELU: return (Act){ACT_RELU};
	case OP_LEAKY_RELU: return (Act){ACT_LEAKY, ir_attr_float(n, "alpha", 0.01)};
	case OP_CLIP: return (Act){ACT_CLIP, 0, ir_attr_float(n, "min", -INFINITY), ir_attr_float(n, "max", INFINITY)};
	case OP_SIGMOID: return (Act){ACT_SIGMOID};
	case OP_TANH: return (Act){ACT_TANH};
	default: die("not a unary op");
	}
}

/* The fused epilogue of a conv/gemm/matmul (attr "act"). */
Act cg_act_of_epilogue(const Node *n)
{
	const char *a = ir_attr_str(n, "act", "");
	if (!strcmp(a, "relu")) return (Act){ACT_RELU};
	if (!strcmp(a, "leaky_relu")) return (Act){ACT_LEAKY, ir_attr_float(n, "act_alpha", 0.01)};
	if (!strcmp(a, "clip")) return (Act){ACT_CLIP, 0, ir_attr_float(n, "act_min", -INFINITY), ir_attr_float(n, "act_max", INFINITY)};
	if (!strcmp(a, "sigmoid")) return (Act){ACT_SIGMOID};
	if (!strcmp(a, "tanh")) return (Act){ACT_TANH};
	if (!strcmp(a, "silu")) return (Act){ACT_SILU};
	if (!strcmp(a, "hard_sigmoid"))
		return (Act){ACT_HARD_SIGMOID, 0, ir_attr_float(n, "act_alpha", 0.2), ir_attr_float(n, "act_beta", 0.5)};
	if (!strcmp(a, "hard_swish")) return (Act){ACT_HARD_SWISH};
	if (!strcmp(a, "gelu")) return (Act){ACT_GELU};
	if (!strcmp(a, "gelu_tanh")) return (Act){ACT_GELU_TANH};
	return (Act){ACT_NONE};
}

/* x is an f32 scalar or vector. */
LLVMValueRef cg_act_apply(Cg *c, Act a, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef zero = cg_fconst(c, ty, 0);
	switch (a.k) {
	case ACT_NONE: return x;
	case ACT_RELU: return fsel_lt(c, x, zero, zero, x);  /* NaN stays NaN */
	case ACT_LEAKY: return fsel_lt(c, x, zero, LLVMBuildFMul(c->b, x, cg_fconst(c, ty, a.alpha), ""), x);
	case ACT_SIGMOID: return cg_sigmoid(c, x);
	case ACT_TANH: return cg_tanh(c, x);
	case ACT_SILU: return LLVMBuildFMul(c->b, x, cg_sigmoid(c, x), "");
	case ACT_HARD_SIGMOID: return cg_hard_sigmoid(c, x, a.lo, a.hi);
	case ACT_HARD_SWISH: return LLVMBuildFMul(c->b, x, cg_hard_sigmoid(c, x, 1.0 / 6, 0.5), "");
	case ACT_GELU: return cg_gelu(c, x, false);
	case ACT_GELU_TANH: return cg_gelu(c, x, true);
	case ACT_CLIP: {
		LLVMValueRef y = x;
		if (!isinf(a.lo))
			y = fsel_lt(c, y, cg_fconst(c, ty, a.lo), cg_fconst(c, ty, a.lo), y);
		if (!isinf(a.hi))
			y = LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOGT, y, cg_fconst(c, ty, a.hi), ""),
					    cg_fconst(c, ty, a.hi), y, "");
		return y;
	}
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
