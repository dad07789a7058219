/* The int8 kernels of rv64gcv: cg_int_arm.c's conv, gemm and matmul
 * structure with K a byte at a time, 16 outputs (pixels or columns) in
 * the lanes of a 16-byte vector and a weight (conv) or an activation of A
 * (gemm) broadcast as a scalar.  The step: the vector's s8 bytes
 * sign-extended to i16 once (vsext.vf2, shared by the tile's rows), then
 * per row vwmacc.vx, i16 x i16 -> i32 added into the <16 x i32>
 * accumulator: exact for any s8 operands (no i16 sum to overflow, so no
 * pair-safe weights needed), one instruction per unit and row, all at one
 * element width (no vsetvli between the products).  The vectors are the
 * 16 bytes the target says (tgt_vec_bytes with +v: VLEN >= 128, which the
 * V extension guarantees), LLVM's fixed-length vectors, so the code runs
 * unchanged on wider machines (tests/e2e/test_int_kernels.py runs it on
 * VLEN 128 and 256). */
#include <stdlib.h>

#include "cg_internal.h"

/* The bytes of cnt rows at p + r*stride, each widened to i16 and splat:
 * the .vx operand (kept an i16 splat: LLVM selects vwmacc.vx from a sext
 * of it, not from a splat of an i32). */
static void rvv_bcast(Cg *c, LLVMValueRef p, int64_t stride, int cnt, LLVMValueRef *out)
{
	LLVMTypeRef i16 = LLVMInt16TypeInContext(c->ctx);
	for (int r = 0; r < cnt; r++) {
		LLVMValueRef b = cg_load(c, c->i8, p, cg_i64(c, r * stride));
		out[r] = cg_splat(c, LLVMBuildSExt(c->b, b, i16, ""), LLVMVectorType(i16, 16));
	}
}

/* acc (<16 x i32>) + x[0] * b[0], both widened to i32. */
static LLVMValueRef rvv_step(Cg *c, LLVMValueRef acc, const LLVMValueRef *x, const LLVMValueRef *b)
{
	LLVMTypeRef t = LLVMTypeOf(acc);
	LLVMValueRef xw = LLVMBuildSExt(c->b, LLVMBuildSExt(c->b, x[0], LLVMVectorType(LLVMInt16TypeInContext(c->ctx), 16), ""), t, "");
	return LLVMBuildAdd(c->b, acc, LLVMBuildMul(c->b, xw, LLVMBuildSExt(c->b, b[0], t, ""), ""), "");
}

/* Tiles for 32 registers: an accumulator is LMUL 4, so 6 of them (24
 * registers), a vector widened to i16 (LMUL 2) and its bytes; the
 * broadcasts are scalars.  Requantized 8 lanes at a time (i64 at LMUL 4). */
static const ByteDot rvv_vwmacc = {.unit = 1, .acc_lanes = 16, .MR = 6, .NR = 1, .acc_regs = 4, .rq_lanes = 8,
				   .bcast = rvv_bcast, .step = rvv_step};

static bool rvv_target(Cg *c)
{
	char cpu[64], *feat;
	bool ok = cg_bytedot_target(c, "riscv64", cpu, sizeof cpu, &feat);
	free(feat);
	return ok;
}

bool cg_int_conv_rvv(Cg *c, const Node *n)
{
	return rvv_target(c) && cg_bytedot_conv(c, n, &rvv_vwmacc);
}

bool cg_int_matmul_rvv(Cg *c, const Node *n)
{
	return rvv_target(c) && cg_bytedot_matmul(c, n, &rvv_vwmacc);
}
