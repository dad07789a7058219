/* Linear algebra: Einsum and Det.
 *
 * Einsum as one loop nest: the result's letters outside, the summed
 * letters inside, the product of the operands' elements accumulated.  A
 * reference lowering: exact for integers, one rounding order for floats. */
#include <string.h>

#include "cg_internal.h"

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
	LLVMValueRef yo = cg_i64(c, 0);
	int r = (int)strlen(e.out);
	for (int i = 0; i < r; i++) {
		iv[e.out[i] - 'a'] = cg_loop_begin(c, &lo[i], cg_i64(c, 0), cg_i64(c, len[e.out[i] - 'a']));
		yo = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, yo, cg_i64(c, y->dims[i]), ""), iv[e.out[i] - 'a'], "");
	}
	LLVMValueRef acc = cg_entry_alloca(c, et);
	LLVMBuildStore(c->b, LLVMConstNull(et), acc);
	for (int i = 0; i < ns; i++)
		iv[sum[i] - 'a'] = cg_loop_begin(c, &ls[i], cg_i64(c, 0), cg_i64(c, len[sum[i] - 'a']));
	LLVMValueRef prod = NULL;
	for (int k = 0; k < n->nin; k++) {
		const Type *t = ir_value_type(c->g, n->in[k]);
		LLVMValueRef off = cg_i64(c, 0);
		for (int i = 0; i < t->rank; i++)
			off = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, off, cg_i64(c, t->dims[i]), ""), iv[e.op[k][i] - 'a'], "");
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

/* Det: each matrix copied to a stack buffer and reduced by Gaussian
 * elimination with partial pivoting; the determinant is the product of the
 * pivots, negated per row swap.  A zero pivot gives 0 (no division). */
void cg_lower_det(Cg *c, const Node *n)
{
	const Type *x = ir_value_type(c->g, n->in[0]);
	int64_t M = x->dims[x->rank - 1], nb = ir_type_numel(x) / (M * M);
	LLVMValueRef A = cg_entry_alloca(c, LLVMArrayType(c->f32, (unsigned)(M * M)));
	LLVMValueRef det = cg_entry_alloca(c, c->f32), piv = cg_entry_alloca(c, c->i64), best = cg_entry_alloca(c, c->f32);
	LLVMTypeRef fty = c->f32;
	Loop lb, lc, lk, li, ls, le, lf;
	LLVMValueRef b = cg_loop_begin(c, &lb, cg_i64(c, 0), cg_i64(c, nb));
	LLVMValueRef src = LLVMBuildNSWMul(c->b, b, cg_i64(c, M * M), "");
	LLVMValueRef e = cg_loop_begin(c, &lc, cg_i64(c, 0), cg_i64(c, M * M));
	cg_storef(c, cg_loadf(c, c->buf[n->in[0]], LLVMBuildNSWAdd(c->b, src, e, "")), A, e);
	cg_loop_end(c, &lc, 1);
	LLVMBuildStore(c->b, cg_f32(c, 1), det);
	LLVMValueRef k = cg_loop_begin(c, &lk, cg_i64(c, 0), cg_i64(c, M));
	LLVMValueRef kk = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, k, cg_i64(c, M), ""), k, "");
	LLVMValueRef a0 = cg_loadf(c, A, kk);
	LLVMBuildStore(c->b, cg_call_intr(c, "llvm.fabs", &fty, 1, &a0, 1), best);
	LLVMBuildStore(c->b, k, piv);
	LLVMValueRef i = cg_loop_begin(c, &li, LLVMBuildNSWAdd(c->b, k, cg_i64(c, 1), ""), cg_i64(c, M));
	LLVMValueRef ai = cg_loadf(c, A, LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, i, cg_i64(c, M), ""), k, ""));
	LLVMValueRef av = cg_call_intr(c, "llvm.fabs", &fty, 1, &ai, 1);
	LLVMValueRef gt = LLVMBuildFCmp(c->b, LLVMRealOGT, av, LLVMBuildLoad2(c->b, c->f32, best, ""), "");
	LLVMBuildStore(c->b, LLVMBuildSelect(c->b, gt, av, LLVMBuildLoad2(c->b, c->f32, best, ""), ""), best);
	LLVMBuildStore(c->b, LLVMBuildSelect(c->b, gt, i, LLVMBuildLoad2(c->b, c->i64, piv, ""), ""), piv);
	cg_loop_end(c, &li, 1);
	/* swap rows k and p (a no-op when p == k) */
	LLVMValueRef p = LLVMBuildLoad2(c->b, c->i64, piv, "");
	LLVMValueRef rk = LLVMBuildNSWMul(c->b, k, cg_i64(c, M), ""), rp = LLVMBuildNSWMul(c->b, p, cg_i64(c, M), "");
	LLVMValueRef j = cg_loop_begin(c, &ls, cg_i64(c, 0), cg_i64(c, M));
	LLVMValueRef x1 = cg_loadf(c, A, LLVMBuildNSWAdd(c->b, rk, j, "")), x2 = cg_loadf(c, A, LLVMBuildNSWAdd(c->b, rp, j, ""));
	cg_storef(c, x2, A, LLVMBuildNSWAdd(c->b, rk, j, ""));
	cg_storef(c, x1, A, LLVMBuildNSWAdd(c->b, rp, j, ""));
	cg_loop_end(c, &ls, 1);
	LLVMValueRef swapped = LLVMBuildICmp(c->b, LLVMIntNE, p, k, "");
	LLVMValueRef pv = cg_loadf(c, A, kk);
	LLVMValueRef d = LLVMBuildFMul(c->b, LLVMBuildLoad2(c->b, c->f32, det, ""), pv, "");
	LLVMBuildStore(c->b, LLVMBuildSelect(c->b, swapped, LLVMBuildFNeg(c->b, d, ""), d, ""), det);
	LLVMValueRef zero = LLVMBuildFCmp(c->b, LLVMRealOEQ, pv, cg_f32(c, 0), "");
	LLVMValueRef ie = cg_loop_begin(c, &le, LLVMBuildNSWAdd(c->b, k, cg_i64(c, 1), ""), cg_i64(c, M));
	LLVMValueRef ri = LLVMBuildNSWMul(c->b, ie, cg_i64(c, M), "");
	LLVMValueRef f = LLVMBuildFDiv(c->b, cg_loadf(c, A, LLVMBuildNSWAdd(c->b, ri, k, "")), pv, "");
	f = LLVMBuildSelect(c->b, zero, cg_f32(c, 0), f, "");
	LLVMValueRef jf = cg_loop_begin(c, &lf, k, cg_i64(c, M));
	LLVMValueRef at = LLVMBuildNSWAdd(c->b, ri, jf, "");
	LLVMValueRef upd = LLVMBuildFSub(c->b, cg_loadf(c, A, at),
					 LLVMBuildFMul(c->b, f, cg_loadf(c, A, LLVMBuildNSWAdd(c->b, rk, jf, "")), ""), "");
	cg_storef(c, upd, A, at);
	cg_loop_end(c, &lf, 1);
	cg_loop_end(c, &le, 1);
	cg_loop_end(c, &lk, 1);
	cg_storef(c, LLVMBuildLoad2(c->b, c->f32, det, ""), c->buf[n->out], b);
	cg_loop_end(c, &lb, 1);
}
