/* Memory layouts: which ops may read and write channel-blocked values
 * ([N, C/b, H, W, b], chosen by passes/layout.c) and how; the verifier
 * holds every graph to it and codegen relies on it. */
#include "ir.h"

bool ir_block_ok(const Type *t, int b)
{
	return b >= 2 && b <= 64 && !(b & (b - 1)) && t->dt == DT_F32 && !t->q && t->rank == 4 && t->dims[1] > 0 &&
	       t->dims[1] % b == 0;
}

IrBlockOperand ir_block_operand(const Type *out, const Type *x)
{
	if (x->block)
		return x->block == out->block && x->rank == 4 && x->dims[0] == out->dims[0] && x->dims[1] == out->dims[1] &&
			       x->dims[2] == out->dims[2] && x->dims[3] == out->dims[3]
			       ? IR_BLOCK_SAME
			       : IR_BLOCK_NO;
	if (ir_type_numel(x) == 1)
		return IR_BLOCK_SCALAR;
	/* [C,1,1], [1,C,1,1] or [N,C,1,1]: one value per channel. */
	int r = x->rank;
	if (r < 3 || r > 4 || x->dims[r - 1] != 1 || x->dims[r - 2] != 1 || x->dims[r - 3] != out->dims[1] ||
	    (r == 4 && x->dims[0] != 1 && x->dims[0] != out->dims[0]))
		return IR_BLOCK_NO;
	return IR_BLOCK_CHANNEL;
}

static int blk(const Graph *g, ValueId v) { return v >= 0 ? ir_value_type(g, v)->block : 0; }

bool ir_conv_depthwise(const Graph *g, const Node *n)
{
	const Type *x = ir_value_type(g, n->in[0]), *y = ir_value_type(g, n->out);
	int64_t group = ir_attr_int(n, "group", 1);
	return n->op == OP_CONV && x->rank == 4 && group > 1 && group == x->dims[1] && y->dims[1] == group;
}

bool ir_conv_groups_whole(const Graph *g, const Node *n, ValueId v, int b)
{
	return !b || (ir_value_type(g, v)->dims[1] / ir_attr_int(n, "group", 1)) % b == 0;
}

const char *ir_layout_error(const Graph *g, const Node *n)
{
	const Type *y = ir_value_type(g, n->out);
	int b = y->block;
	bool any = b;
	for (int i = 0; i < n->nin; i++)
		any |= blk(g, n->in[i]) != 0;
	if (!any)
		return NULL;
	switch (n->op) {
	case OP_RELAYOUT:
		return NULL;
	case OP_CONV:
		if (y->rank != 4)
			return "only 2-d convolutions take channel-blocked values";
		if (blk(g, n->in[1]) || blk(g, n->nin > 2 ? n->in[2] : -1))
			return "weights and bias are row-major";
		if (n->nin > 3 && n->in[3] >= 0 && blk(g, n->in[3]) != b)
			return "the fused residual has another layout than the result";
		if (ir_attr_int(n, "group", 1) == 1)
			return NULL;
		if (ir_conv_depthwise(g, n))
			return blk(g, n->in[0]) == b ? NULL : "a depthwise convolution's operand and result share one layout";
		if (!ir_conv_groups_whole(g, n, n->in[0], blk(g, n->in[0])) || !ir_conv_groups_whole(g, n, n->out, b))
			return "a grouped convolution's channel blocks must not straddle its groups";
		return NULL;
	case OP_MAXPOOL:
		return y->rank == 4 && blk(g, n->in[0]) == b ? NULL : "a max pool's operand and result share one layout";
	case OP_GLOBAL_AVGPOOL:
		return b ? "a global average pool's result is row-major" : NULL;
	case OP_CONCAT:
		for (int i = 0; i < n->nin; i++)
			if (blk(g, n->in[i]) != b)
				return "a concat's operands and result share one layout";
		return ir_attr_int(n, "axis", 0) == 1 ? NULL : "channel blocks are joined along the channel axis only";
	default:
		break;
	}
	if ((ir_ops[n->op].flags & OPF_EW) || n->op == OP_FUSED_EW) {
		if (!b)
			return "a row-major result needs row-major operands";
		for (int i = 0; i < n->nin; i++)
			if (n->in[i] >= 0 && ir_block_operand(y, ir_value_type(g, n->in[i])) == IR_BLOCK_NO)
				return "an elementwise operand must be in the result's layout, per channel, or a scalar";
		return NULL;
	}
	return "this op reads and writes row-major values only";
}
