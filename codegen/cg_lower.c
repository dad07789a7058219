/* Lowering one node: which function lowers each op, whether its work
 * splits across threads, and what it cannot take. */
#include "cg_internal.h"

/* ---- dispatch ------------------------------------------------------------------------------ */

bool cg_node_splits(Cg *c, const Node *n)
{
	if (n->op == OP_MAXPOOL)  /* the depthwise kernel's channel split */
		return cg_pool_kernel(c, n);
	if (n->op != OP_CONV || c->reference || cg_ty(c, n->in[0])->rank > 4 || !cg_blocks_native(c, n))
		return false;
	bool wconst = ir_value(c->g, n->in[1])->kind == VAL_CONST;
	bool bconst = n->nin < 3 || n->in[2] < 0 || ir_value(c->g, n->in[2])->kind == VAL_CONST;
	return wconst && bconst;  /* the blocked and depthwise kernels */
}

const char *cg_unsupported(const Graph *g, const Node *n)
{
	const Type *t = ir_type_get(g, g->values.v[n->out].type);
	DType dt = t->dt;
	if (cg_is_ew(n->op))
		return NULL;  /* every dtype: halves are widened to f32 */
	if (cg_is_data(n->op))
		return cg_data_unsupported(g, n);
	if (n->op == OP_EINSUM || n->op == OP_TFIDF)
		return NULL;  /* the shape rules admit only what these lower */
	if (cg_is_index(n->op))
		return cg_index_unsupported(g, n);
	switch (n->op) {
	case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_ABS: case OP_NEG:
		if (dt != DT_F32 && dt != DT_F64 && dt != DT_I32 && dt != DT_I64 && dt != DT_I8 && dt != DT_U8 &&
		    dt != DT_I16 && dt != DT_U16 && dt != DT_U32 && dt != DT_U64)
			return "dtype not supported by the backend yet (f32, f64 and integers only)";
		return NULL;
	case OP_RESHAPE: case OP_IDENTITY: case OP_TRANSPOSE: case OP_CONCAT: case OP_PAD:
		if (dt == DT_F16 || dt == DT_BF16)
			return "f16/bf16 tensors are not supported by the backend yet";
		/* Data movement only copies bytes, but Pad's fill value would need
		 * encoding as float8 or a 4-bit integer. */
		return n->op == OP_PAD && (ir_dtype_is_f8(dt) || dt == DT_I4 || dt == DT_U4)
			       ? "pad of float8 or 4-bit tensors is not supported by the backend yet" : NULL;
	default:
		break;
	}
	if (dt != DT_F32)
		return "only f32 is supported for this op by the backend yet";
	return NULL;
}

bool cg_lower_node(Cg *c, const Node *n)
{
	const char *why = cg_unsupported(c->g, n);
	if (why) {
		diag_node(c->d, c->g, n, "%s", why);
		return false;
	}
	if (cg_lower_layout(c, n))
		return true;
	if (cg_is_ew(n->op)) {
		cg_lower_ew(c, n);
		return true;
	}
	if (cg_lower_data(c, n) || cg_lower_index(c, n))
		return true;
	if (cg_lower_window(c, n))
		return true;
	switch (n->op) {
	case OP_CONV: cg_lower_conv(c, n); break;
	case OP_GEMM: cg_lower_gemm(c, n); break;
	case OP_MATMUL: cg_lower_matmul(c, n); break;
	case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: cg_lower_binary(c, n); break;
	case OP_RELU: case OP_LEAKY_RELU: case OP_SIGMOID: case OP_TANH: case OP_CLIP:
	case OP_ABS: case OP_NEG: case OP_EXP: case OP_LOG: case OP_SQRT: case OP_RECIPROCAL: case OP_FLOOR: case OP_CEIL:
		cg_lower_unary(c, n);
		break;
	case OP_BATCHNORM: cg_lower_batchnorm(c, n); break;
	case OP_MAXPOOL: case OP_AVGPOOL: cg_lower_pool(c, n); break;
	case OP_GLOBAL_AVGPOOL: cg_lower_global_avgpool(c, n); break;
	case OP_RESHAPE: case OP_IDENTITY: cg_lower_copy(c, n); break;
	case OP_TRANSPOSE: cg_lower_transpose(c, n); break;
	case OP_CONCAT: cg_lower_concat(c, n); break;
	case OP_SOFTMAX: cg_lower_softmax(c, n); break;
	case OP_LAYER_NORM: cg_lower_layer_norm(c, n); break;
	case OP_REDUCE_MEAN: case OP_REDUCE_SUM: case OP_REDUCE_MAX: case OP_REDUCE_MIN: case OP_REDUCE_PROD:
		cg_lower_reduce(c, n);
		break;
	case OP_PAD: cg_lower_pad(c, n); break;
	case OP_FUSED_EW: cg_lower_fused_ew(c, n); break;
	case OP_RESIZE: cg_lower_resize(c, n); break;
	case OP_EINSUM: cg_lower_einsum(c, n); break;
	case OP_TFIDF: cg_lower_tfidf(c, n); break;
	case OP_DET: cg_lower_det(c, n); break;
	default:
		diag_node(c->d, c->g, n, "no lowering for op %d", (int)n->op);
		return false;
	}
	return true;
}

