/* Channel-blocked layouts in codegen: where a pixel of a plane is, the
 * relayout op, and the row-major views through which the elementwise loop
 * walks blocked values (ir/layout.c says which operands they may have). */
#include "cg_internal.h"

/* Offset of pixel pix of plane p (= image * C + channel) in a value of
 * type t: row-major planes, or channel blocks of t->block (ir/layout.c). */
LLVMValueRef cg_plane_at(Cg *c, const Type *t, LLVMValueRef p, LLVMValueRef pix)
{
	int64_t planes = t->dims[0] * t->dims[1], hw = planes ? ir_type_numel(t) / planes : 0;
	int b = t->block;
	if (!b)
		return cg_add(c, cg_mul(c, p, cg_i64(c, hw)), pix);
	int sh = __builtin_ctz((unsigned)b);
	LLVMValueRef blk = LLVMBuildLShr(c->b, p, cg_i64(c, sh), ""), lane = LLVMBuildAnd(c->b, p, cg_i64(c, b - 1), "");
	return cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, blk, cg_i64(c, hw)), pix), cg_i64(c, b)), lane);
}

/* y = x in y's layout: per image and block of channels, every pixel's
 * lanes, so one side is read or written contiguously. */
void cg_lower_relayout(Cg *c, const Node *n)
{
	const Type *tx = ir_value_type(c->g, n->in[0]), *ty = ir_value_type(c->g, n->out);
	int64_t bb = tx->block > ty->block ? tx->block : ty->block;
	if (!bb)
		bb = 1;
	int64_t N = ty->dims[0], C = ty->dims[1], HW = ty->dims[2] * ty->dims[3];
	LLVMValueRef X = c->buf[n->in[0]], Y = c->buf[n->out];
	Loop ln, lc, lp;
	LLVMValueRef in = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, N));
	LLVMValueRef cb = cg_loop_begin(c, &lc, cg_i64(c, 0), cg_i64(c, C / bb));
	LLVMValueRef p = cg_loop_begin(c, &lp, cg_i64(c, 0), cg_i64(c, HW));
	LLVMValueRef plane0 = cg_add(c, cg_mul(c, in, cg_i64(c, C)), cg_mul(c, cb, cg_i64(c, bb)));
	for (int64_t l = 0; l < bb; l++) {
		LLVMValueRef plane = cg_add(c, plane0, cg_i64(c, l));
		cg_storef(c, cg_loadf(c, X, cg_plane_at(c, tx, plane, p)), Y, cg_plane_at(c, ty, plane, p));
	}
	cg_loop_end(c, &lp, 1);
	cg_loop_end(c, &lc, 1);
	cg_loop_end(c, &ln, 1);
}

/* The row-major view of a blocked result [N, C, H, W]{b}: [N, C/b, HW, b];
 * of a per-channel operand [n, C, 1, 1]: [n, C/b, 1, b]; a scalar operand
 * is its own view.  t[0] is the result, t[1..nin] its operands: each is
 * pointed at its view, written into view[] (the IR is not touched). */
void cg_blocked_views(const Type **t, int nin, Type *view)
{
	const Type *out = t[0];
	int64_t b = out->block;
	for (int i = 0; i <= nin; i++) {
		const Type *x = t[i];
		int64_t d[4] = {out->dims[0], out->dims[1] / b, out->dims[2] * out->dims[3], b};
		switch (i ? ir_block_operand(out, x) : IR_BLOCK_SAME) {
		case IR_BLOCK_SAME:
			break;
		case IR_BLOCK_CHANNEL:
			d[0] = x->rank == 4 ? x->dims[0] : 1;
			d[2] = 1;
			break;
		case IR_BLOCK_SCALAR:
			continue;
		default:
			die("no blocked view of this operand");
		}
		view[i] = (Type){.dt = x->dt, .rank = 4, .dims = {d[0], d[1], d[2], d[3]}};
		t[i] = &view[i];
	}
}
