/* Einsum as one loop nest: the result's letters outside, the summed
 * letters inside, the product of the operands' elements accumulated.  A
 * reference lowering: exact for integers, one rounding order for floats. */
#include <string.h>

#include "cg_internal.h"

static LLVMValueRef I(Cg *c, int64_t v) { return cg_i64(c, v); }

void cg_lower_einsum(Cg *c, const Node *n)
{
	IrEinsum e;
	if (!ir_einsum_parse(ir_attr_str(n, "eq", ""), n->nin, &e))
		die("einsum equation was verified");
	const Type *y = ir_value_type(c->g, n->out);
	DType dt = y->dt;
	bool f = ir_dtype_is_float(dt);
	LLVMTypeRef et = dt == DT_F32 ? c->f32 : dt == DT_F64 ? LLVMDoubleTypeInContext(c->ctx)
				 : LLVMIntTypeInContext(c->ctx, 8 * ir_dtype_size(dt));
	/* letter -> length, and the summed letters */
	int64_t len[26] = {0};
	char sum[27] = "";
	int ns = 0;
	for (int k = 0; k < n->nin; k++) {
		const Type *t = ir_value_type(c->g, n->in[k]);
		for (int i = 0; i < t->rank; i++) {
			char l = e.op[k][i];
			len[l - 'a'] = t->dims[i];
			if (!strchr(e.out, l) && !strchr(sum, l))
				sum[ns++] = l;
		}
	}
	LLVMValueRef iv[26] = {0};
	Loop lo[IR_MAX_RANK], ls[26];
	LLVMValueRef yo = I(c, 0);
	int r = (int)strlen(e.out);
	for (int i = 0; i < r; i++) {
		iv[e.out[i] - 'a'] = cg_loop_begin(c, &lo[i], I(c, 0), I(c, len[e.out[i] - 'a']));
		yo = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, yo, I(c, y->dims[i]), ""), iv[e.out[i] - 'a'], "");
	}
	LLVMBuilderRef eb = LLVMCreateBuilderInContext(c->ctx);
	LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(c->fn);
	LLVMValueRef first = LLVMGetFirstInstruction(entry);
	if (first)
		LLVMPositionBuilderBefore(eb, first);
	else
		LLVMPositionBuilderAtEnd(eb, entry);
	LLVMValueRef acc = LLVMBuildAlloca(eb, et, "");
	LLVMDisposeBuilder(eb);
	LLVMBuildStore(c->b, LLVMConstNull(et), acc);
	for (int i = 0; i < ns; i++)
		iv[sum[i] - 'a'] = cg_loop_begin(c, &ls[i], I(c, 0), I(c, len[sum[i] - 'a']));
	LLVMValueRef prod = NULL;
	for (int k = 0; k < n->nin; k++) {
		const Type *t = ir_value_type(c->g, n->in[k]);
		LLVMValueRef off = I(c, 0);
		for (int i = 0; i < t->rank; i++)
			off = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, off, I(c, t->dims[i]), ""), iv[e.op[k][i] - 'a'], "");
		LLVMValueRef v = LLVMBuildLoad2(c->b, et, cg_gep(c, et, c->buf[n->in[k]], off), "");
		prod = !prod ? v : f ? LLVMBuildFMul(c->b, prod, v, "") : LLVMBuildMul(c->b, prod, v, "");
	}
	LLVMValueRef a = LLVMBuildLoad2(c->b, et, acc, "");
	LLVMBuildStore(c->b, f ? LLVMBuildFAdd(c->b, a, prod, "") : LLVMBuildAdd(c->b, a, prod, ""), acc);
	for (int i = ns - 1; i >= 0; i--)
		cg_loop_end(c, &ls[i], 1);
	LLVMBuildStore(c->b, LLVMBuildLoad2(c->b, et, acc, ""), cg_gep(c, et, c->buf[n->out], yo));
	for (int i = r - 1; i >= 0; i--)
		cg_loop_end(c, &lo[i], 1);
}
