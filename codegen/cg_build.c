/* The bottom of codegen: builders every lowering uses (constants, loops,
 * ifs, loads, stores, geps, intrinsic calls, entry allocas, a task's share
 * of the work) and nothing that knows an op. */
#include <string.h>

#include <llvm-c/DebugInfo.h>

#include "cg_internal.h"

/* ---- constants and types ----------------------------------------------------- */

LLVMValueRef cg_i64(Cg *c, int64_t v) { return LLVMConstInt(c->i64, (unsigned long long)v, 1); }

LLVMValueRef cg_f32(Cg *c, double v) { return LLVMConstReal(c->f32, (float)v); }

LLVMValueRef cg_splat_const(LLVMValueRef s, LLVMTypeRef ty)
{
	if (LLVMGetTypeKind(ty) != LLVMVectorTypeKind)
		return s;
	unsigned n = LLVMGetVectorSize(ty);
	LLVMValueRef e[64];
	for (unsigned i = 0; i < n; i++)
		e[i] = s;
	return LLVMConstVector(e, n);
}

LLVMValueRef cg_fconst(Cg *c, LLVMTypeRef ty, double v)
{
	LLVMTypeRef et = LLVMGetTypeKind(ty) == LLVMVectorTypeKind ? LLVMGetElementType(ty) : ty;
	if (LLVMGetTypeKind(et) == LLVMDoubleTypeKind)  /* f64 elementwise ops: the constant in f64 */
		return cg_splat_const(LLVMConstReal(et, v), ty);
	return cg_splat_const(LLVMConstReal(c->f32, (float)v), ty);
}


LLVMValueRef cg_const_blob(Cg *c, const char *name, const void *data, size_t bytes)
{
	LLVMValueRef init = LLVMConstStringInContext2(c->ctx, data, bytes, 1);
	LLVMValueRef g = LLVMAddGlobal(c->mod, LLVMTypeOf(init), name);
	LLVMSetInitializer(g, init);
	LLVMSetGlobalConstant(g, 1);
	LLVMSetLinkage(g, LLVMPrivateLinkage);
	LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
	LLVMSetAlignment(g, 64);
	if (c->o && c->o->weights_section)  /* every blob is the model's data, repacked or not */
		LLVMSetSection(g, c->o->weights_section);
	return g;
}


LLVMTypeRef cg_bits_type(Cg *c, DType dt) { return LLVMIntTypeInContext(c->ctx, 8 * ir_dtype_size(dt)); }

LLVMTypeRef cg_num_type(Cg *c, DType dt)
{
	if (dt == DT_F32)
		return c->f32;
	if (dt == DT_F64)
		return LLVMDoubleTypeInContext(c->ctx);
	return cg_bits_type(c, dt);
}


/* ---- addresses, loads and stores --------------------------------------------- */

LLVMValueRef cg_gep(Cg *c, LLVMTypeRef elem, LLVMValueRef base, LLVMValueRef idx)
{
	return LLVMBuildInBoundsGEP2(c->b, elem, base, &idx, 1, "");
}


LLVMValueRef cg_loadf(Cg *c, LLVMValueRef base, LLVMValueRef idx)
{
	return LLVMBuildLoad2(c->b, c->f32, cg_gep(c, c->f32, base, idx), "");
}


void cg_storef(Cg *c, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx)
{
	LLVMBuildStore(c->b, v, cg_gep(c, c->f32, base, idx));
}


LLVMValueRef cg_load(Cg *c, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef i)
{
	return LLVMBuildLoad2(c->b, t, cg_gep(c, t, base, i), "");
}


void cg_store(Cg *c, LLVMTypeRef t, LLVMValueRef v, LLVMValueRef base, LLVMValueRef i)
{
	LLVMBuildStore(c->b, v, cg_gep(c, t, base, i));
}


void cg_row_strides(int rank, const int64_t *dims, int64_t *s)
{
	int64_t k = 1;
	for (int i = rank - 1; i >= 0; i--) {
		s[i] = k;
		k *= dims[i];
	}
}


/* Allocas go in the entry block, where SROA/mem2reg promote them. */
LLVMValueRef cg_entry_alloca(Cg *c, LLVMTypeRef ty)
{
	LLVMBuilderRef eb = LLVMCreateBuilderInContext(c->ctx);
	LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(c->fn);
	LLVMValueRef first = LLVMGetFirstInstruction(entry);
	if (first)
		LLVMPositionBuilderBefore(eb, first);
	else
		LLVMPositionBuilderAtEnd(eb, entry);
	LLVMValueRef a = LLVMBuildAlloca(eb, ty, "");
	LLVMDisposeBuilder(eb);
	return a;
}


/* ---- control flow ------------------------------------------------------------ */

LLVMValueRef cg_loop_begin(Cg *c, Loop *l, LLVMValueRef start, LLVMValueRef end)
{
	l->pre = LLVMGetInsertBlock(c->b);
	l->head = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "loop");
	l->body = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "body");
	l->exit = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "done");
	LLVMBuildBr(c->b, l->head);
	LLVMPositionBuilderAtEnd(c->b, l->head);
	l->iv = LLVMBuildPhi(c->b, c->i64, "i");
	LLVMAddIncoming(l->iv, &start, &l->pre, 1);
	LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, l->iv, end, ""), l->body, l->exit);
	LLVMPositionBuilderAtEnd(c->b, l->body);
	return l->iv;
}


/* Loop metadata telling the optimizer to leave a loop as it is: no
 * vectorizing, no unrolling.  The explicitly vectorized kernels are built
 * register-blocked already; letting -O2 re-vectorize and unroll their loops
 * buys nothing and costs most of the compile time. */
static LLVMMetadataRef keep_loop_md(Cg *c)
{
	LLVMMetadataRef v[2] = {LLVMMDStringInContext2(c->ctx, "llvm.loop.vectorize.enable", 26),
				LLVMValueAsMetadata(LLVMConstInt(LLVMInt1TypeInContext(c->ctx), 0, 0))};
	LLVMMetadataRef u = LLVMMDStringInContext2(c->ctx, "llvm.loop.unroll.disable", 24);
	LLVMMetadataRef tmp = LLVMTemporaryMDNode(c->ctx, NULL, 0);
	LLVMMetadataRef ops[3] = {tmp, LLVMMDNodeInContext2(c->ctx, v, 2), LLVMMDNodeInContext2(c->ctx, &u, 1)};
	LLVMMetadataRef id = LLVMMDNodeInContext2(c->ctx, ops, 3);
	LLVMMetadataReplaceAllUsesWith(tmp, id);  /* a loop ID refers to itself */
	return id;
}


/* Loop metadata: no unrolling (vectorizing allowed). */
static LLVMMetadataRef rolled_loop_md(Cg *c)
{
	LLVMMetadataRef u = LLVMMDStringInContext2(c->ctx, "llvm.loop.unroll.disable", 24);
	LLVMMetadataRef tmp = LLVMTemporaryMDNode(c->ctx, NULL, 0);
	LLVMMetadataRef ops[2] = {tmp, LLVMMDNodeInContext2(c->ctx, &u, 1)};
	LLVMMetadataRef id = LLVMMDNodeInContext2(c->ctx, ops, 2);
	LLVMMetadataReplaceAllUsesWith(tmp, id);
	return id;
}

static void loop_close(Cg *c, Loop *l, int64_t step, bool rolled)
{
	LLVMValueRef next = LLVMBuildNSWAdd(c->b, l->iv, cg_i64(c, step), "");
	LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->b);
	LLVMValueRef br = LLVMBuildBr(c->b, l->head);
	if (c->keep_loops || rolled)
		LLVMSetMetadata(br, LLVMGetMDKindIDInContext(c->ctx, "llvm.loop", 9),
				LLVMMetadataAsValue(c->ctx, c->keep_loops ? keep_loop_md(c) : rolled_loop_md(c)));
	LLVMAddIncoming(l->iv, &next, &latch, 1);
	LLVMPositionBuilderAtEnd(c->b, l->exit);
}

void cg_loop_end(Cg *c, Loop *l, int64_t step) { loop_close(c, l, step, false); }

void cg_loop_end_rolled(Cg *c, Loop *l, int64_t step) { loop_close(c, l, step, true); }


LLVMBasicBlockRef cg_if_begin(Cg *c, LLVMValueRef cond)
{
	LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "then");
	LLVMBasicBlockRef after = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "endif");
	LLVMBuildCondBr(c->b, cond, then, after);
	LLVMPositionBuilderAtEnd(c->b, then);
	return after;
}


void cg_if_end(Cg *c, LLVMBasicBlockRef after)
{
	LLVMBuildBr(c->b, after);
	LLVMPositionBuilderAtEnd(c->b, after);
}


/* ---- vectors and intrinsics -------------------------------------------------- */

LLVMValueRef cg_call_intr(Cg *c, const char *name, LLVMTypeRef *tys, int ntys, LLVMValueRef *args, int nargs)
{
	unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
	LLVMValueRef f = LLVMGetIntrinsicDeclaration(c->mod, id, tys, ntys);
	LLVMTypeRef ft = LLVMIntrinsicGetType(c->ctx, id, tys, ntys);
	return LLVMBuildCall2(c->b, ft, f, args, nargs, "");
}


LLVMValueRef cg_fabs(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef t = LLVMTypeOf(x);
	return cg_call_intr(c, "llvm.fabs", &t, 1, &x, 1);
}

LLVMValueRef cg_splat(Cg *c, LLVMValueRef s, LLVMTypeRef ty)
{
	if (LLVMGetTypeKind(ty) != LLVMVectorTypeKind)
		return s;
	unsigned n = LLVMGetVectorSize(ty);
	LLVMValueRef v = LLVMBuildInsertElement(c->b, LLVMGetUndef(ty), s, LLVMConstInt(c->i32, 0, 0), "");
	LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(c->i32, n));
	return LLVMBuildShuffleVector(c->b, v, LLVMGetUndef(ty), zeros, "");
}


LLVMValueRef cg_fmuladd(Cg *c, LLVMValueRef a, LLVMValueRef b, LLVMValueRef d)
{
	LLVMTypeRef ty = LLVMTypeOf(a);
	LLVMValueRef args[3] = {a, b, d};
	return cg_call_intr(c, "llvm.fmuladd", &ty, 1, args, 3);
}


/* min/max that keep a NaN in a (the comparison is false for NaN). */
LLVMValueRef cg_fmin(Cg *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOGT, a, b, ""), b, a, "");
}


LLVMValueRef cg_fmax(Cg *c, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOLT, a, b, ""), b, a, "");
}


/* A read prefetch into all cache levels (a hint: it never faults, and
 * targets without one drop it). */
void cg_prefetch(Cg *c, LLVMValueRef p)
{
	LLVMValueRef a[4] = {p, LLVMConstInt(c->i32, 0, 0), LLVMConstInt(c->i32, 3, 0), LLVMConstInt(c->i32, 1, 0)};
	LLVMTypeRef pt = c->ptr;
	cg_call_intr(c, "llvm.prefetch", &pt, 1, a, 4);
}


/* Sum of a vector's lanes, by halving (lanes a power of two). */
LLVMValueRef cg_hsum(Cg *c, LLVMValueRef v)
{
	unsigned n = LLVMGetVectorSize(LLVMTypeOf(v));
	for (unsigned h = n / 2; h >= 1; h /= 2) {
		LLVMValueRef idx[64];
		for (unsigned l = 0; l < n; l++)
			idx[l] = LLVMConstInt(c->i32, l < h ? l + h : l, 0);
		v = LLVMBuildFAdd(c->b, v, LLVMBuildShuffleVector(c->b, v, LLVMGetUndef(LLVMTypeOf(v)),
								LLVMConstVector(idx, n), ""), "");
	}
	return LLVMBuildExtractElement(c->b, v, LLVMConstInt(c->i32, 0, 0), "");
}


/* Sum of the n floats at p: whole vectors into two accumulators (so the
 * adds overlap), the rest one by one.  The order differs from a serial
 * sum; the result is as accurate (pairwise-like). */
LLVMValueRef cg_sum_f32(Cg *c, LLVMValueRef p, int64_t n)
{
	int L = c->lanes;
	int64_t nv = L > 1 ? n / L : 0;
	LLVMValueRef s = cg_f32(c, 0);
	if (nv) {
		LLVMValueRef acc[2];
		for (int a = 0; a < 2; a++) {
			acc[a] = cg_entry_alloca(c, c->vf);
			LLVMBuildStore(c->b, LLVMConstNull(c->vf), acc[a]);
		}
		Loop l;
		LLVMValueRef i = cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, nv / 2 * 2 * L));
		for (int a = 0; a < 2; a++) {
			LLVMValueRef x = LLVMBuildLoad2(c->b, c->vf, cg_gep(c, c->f32, p, LLVMBuildNSWAdd(c->b, i, cg_i64(c, a * L), "")), "");
			LLVMSetAlignment(x, 4);
			LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->vf, acc[a], ""), x, ""), acc[a]);
		}
		cg_loop_end(c, &l, 2 * L);
		LLVMValueRef v = LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->vf, acc[0], ""),
					      LLVMBuildLoad2(c->b, c->vf, acc[1], ""), "");
		if (nv % 2) {
			LLVMValueRef x = LLVMBuildLoad2(c->b, c->vf, cg_gep(c, c->f32, p, cg_i64(c, (nv - 1) * L)), "");
			LLVMSetAlignment(x, 4);
			v = LLVMBuildFAdd(c->b, v, x, "");
		}
		s = cg_hsum(c, v);
	}
	for (int64_t i = nv * L; i < n; i++)
		s = LLVMBuildFAdd(c->b, s, cg_loadf(c, p, cg_i64(c, i)), "");
	return s;
}


/* ---- kernel support ---------------------------------------------------------- */

LLVMValueRef cg_in_range(Cg *c, LLVMValueRef i, int64_t n)
{
	/* 0 <= i < n as one unsigned compare. */
	return LLVMBuildICmp(c->b, LLVMIntULT, i, cg_i64(c, n), "");
}


/* A read-only f32 zero in the module, for loads that must read zero. */
LLVMValueRef cg_zero_f32(Cg *c)
{
	if (!c->zero_f32) {
		float z = 0;
		c->zero_f32 = cg_const_blob(c, "kiln.zero", &z, sizeof z);
	}
	return c->zero_f32;
}


LLVMValueRef cg_vload(Cg *c, LLVMValueRef base, LLVMValueRef idx)
{
	LLVMValueRef p = cg_gep(c, c->f32, base, idx);
	LLVMValueRef v = LLVMBuildLoad2(c->b, c->vf, p, "");
	LLVMSetAlignment(v, 4);
	return v;
}


void cg_part_range(Cg *c, int64_t n, LLVMValueRef *lo, LLVMValueRef *hi)
{
	LLVMValueRef p = LLVMBuildTrunc(c->b, c->part, c->i32, ""), np = LLVMBuildTrunc(c->b, c->nparts, c->i32, "");
	LLVMValueRef n32 = LLVMConstInt(c->i32, (unsigned long long)n, 0);
	LLVMValueRef a = LLVMBuildUDiv(c->b, LLVMBuildMul(c->b, n32, p, ""), np, "");
	LLVMValueRef b = LLVMBuildUDiv(c->b, LLVMBuildMul(c->b, n32, LLVMBuildAdd(c->b, p, LLVMConstInt(c->i32, 1, 0), ""), ""), np, "");
	*lo = LLVMBuildZExt(c->b, a, c->i64, "");
	*hi = LLVMBuildZExt(c->b, b, c->i64, "");
}

/* Strides of t's elements as seen from an output of rank r (0 where t
 * broadcasts). */
void cg_bcast_strides(const Type *t, int r, const int64_t *od, int64_t *st)
{
	int64_t s = 1;
	for (int i = r - 1; i >= 0; i--) {
		int ti = i - (r - t->rank);
		if (ti < 0 || t->dims[ti] == 1 || od[i] == 1) {
			st[i] = 0;
			if (ti >= 0)
				s *= t->dims[ti];
		} else {
			st[i] = s;
			s *= t->dims[ti];
		}
	}
}
