/* Activations: the one formula of each, used by the elementwise ops (and so
 * by fused_ew chains) and by the fused epilogues of conv, gemm and matmul.
 * act_kind() is the one place that turns the epilogue's "act" name into
 * one. */
#include <math.h>
#include <string.h>

#include "cg_internal.h"

static LLVMValueRef fsel_lt(Cg *c, LLVMValueRef x, LLVMValueRef y, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOLT, x, y, ""), a, b, "");
}

/* The activation an elementwise node computes (relu, leaky_relu, clip,
 * sigmoid, tanh, hard_sigmoid, hard_swish, gelu) with its attributes. */
Act cg_act_of_op(const Node *n)
{
	switch (n->op) {
	case OP_RELU: return (Act){ACT_RELU};
	case OP_LEAKY_RELU: return (Act){ACT_LEAKY, ir_attr_float(n, "alpha", 0.01)};
	case OP_CLIP: return (Act){ACT_CLIP, 0, ir_attr_float(n, "min", -INFINITY), ir_attr_float(n, "max", INFINITY)};
	case OP_SIGMOID: return (Act){ACT_SIGMOID};
	case OP_TANH: return (Act){ACT_TANH};
	case OP_HARD_SIGMOID: return (Act){ACT_HARD_SIGMOID, 0, ir_attr_float(n, "alpha", 0.2), ir_attr_float(n, "beta", 0.5)};
	case OP_HARD_SWISH: return (Act){ACT_HARD_SWISH};
	case OP_GELU: return (Act){ir_attr_int(n, "tanh", 0) ? ACT_GELU_TANH : ACT_GELU};
	default: die("not an activation op");
	}
}

/* The activation a fused epilogue's attr "act" names (ACT_NONE for none):
 * the one place that reads those names (ir/ops.def lists them). */
static ActKind act_kind(const char *name)
{
	static const struct { const char *name; ActKind k; } names[] = {
		{"relu", ACT_RELU}, {"leaky_relu", ACT_LEAKY}, {"clip", ACT_CLIP}, {"sigmoid", ACT_SIGMOID},
		{"tanh", ACT_TANH}, {"silu", ACT_SILU}, {"hard_sigmoid", ACT_HARD_SIGMOID},
		{"hard_swish", ACT_HARD_SWISH}, {"gelu", ACT_GELU}, {"gelu_tanh", ACT_GELU_TANH},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(name, names[i].name))
			return names[i].k;
	return ACT_NONE;
}

/* The fused epilogue of a conv/gemm/matmul: attr "act" and its parameters
 * (act_alpha, act_beta, act_min, act_max). */
Act cg_act_of_epilogue(const Node *n)
{
	Act a = {act_kind(ir_attr_str(n, "act", ""))};
	switch (a.k) {
	case ACT_LEAKY:
		a.alpha = ir_attr_float(n, "act_alpha", 0.01);
		break;
	case ACT_CLIP:
		a.lo = ir_attr_float(n, "act_min", -INFINITY);
		a.hi = ir_attr_float(n, "act_max", INFINITY);
		break;
	case ACT_HARD_SIGMOID:
		a.lo = ir_attr_float(n, "act_alpha", 0.2);
		a.hi = ir_attr_float(n, "act_beta", 0.5);
		break;
	default:
		break;
	}
	return a;
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
