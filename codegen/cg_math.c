/* All of codegen's inline math: exp, log, tanh, sigmoid, floor/ceil, hard
 * sigmoid and GELU, the trigonometric, hyperbolic and inverse functions,
 * erf, pow, fmod and round-half-even, built from LLVM instructions so the
 * object never calls libm.  Test support is in cg_math_jit.c.
 *
 * Every builder takes float or <N x float> and is branch-free (selects), so
 * loops that call it still vectorize.  Only float and i32 arithmetic is
 * used: Cortex-M4F has no double unit (double would become __aeabi_d*
 * calls), and x86-64 without FMA turns llvm.fma into a call to fmaf.  So
 * products are fused only through llvm.fmuladd, and only where fused and
 * unfused results are both good; where an exact product is needed it is
 * made exact by construction (short constants) or by Dekker's splitting.
 * Polynomial coefficients are near-minimax fits on the stated intervals,
 * rounded to float. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* ---- small builders ------------------------------------------------------
 * Shorthands that keep the formulas below readable (the one-instruction
 * ones, cg_fadd() and the like, are in cg_internal.h). */

static bool is_vec(LLVMTypeRef ty) { return LLVMGetTypeKind(ty) == LLVMVectorTypeKind; }

/* i32 or <N x i32>, matching the lanes of ty. */
static LLVMTypeRef ity_of(Cg *c, LLVMTypeRef ty)
{
	return is_vec(ty) ? LLVMVectorType(c->i32, LLVMGetVectorSize(ty)) : c->i32;
}



/* i32 constant with the lanes of the float type fty. */
static LLVMValueRef ki(Cg *c, LLVMTypeRef fty, int v)
{
	return cg_splat_const(LLVMConstInt(c->i32, (unsigned long long)(long long)v, 1), ity_of(c, fty));
}

static LLVMValueRef isnan_(Cg *c, LLVMValueRef a) { return cg_fcmp(c, LLVMRealUNO, a, a); }

static LLVMValueRef intr1(Cg *c, const char *name, LLVMValueRef a)
{
	LLVMTypeRef ty = LLVMTypeOf(a);
	return cg_call_intr(c, name, &ty, 1, &a, 1);
}

/* sqrt(x) correctly rounded from integer operations, for cores without an
 * FPU, where llvm.sqrt would become a call to libm's sqrtf: fdlibm's
 * e_sqrtf.c bit by bit (25 result bits, one per step, unrolled into
 * selects), then round to nearest on the remainder.  Subnormals are scaled
 * by 2^24 first (exact) and the result by 2^-12; zeros, +inf and NaN come
 * back as they are, negatives give NaN. */
static LLVMValueRef sqrt_soft(Cg *c, LLVMValueRef x)
{
	LLVMBuilderRef b = c->b;
	LLVMTypeRef fty = LLVMTypeOf(x), ity = ity_of(c, fty);
	LLVMValueRef ix0 = LLVMBuildBitCast(b, x, ity, "");
	LLVMValueRef mag = LLVMBuildAnd(b, ix0, ki(c, fty, 0x7fffffff), "");
	LLVMValueRef sub = LLVMBuildICmp(b, LLVMIntULT, mag, ki(c, fty, 0x00800000), "");
	LLVMValueRef xs = cg_sel(c, sub, cg_fmul(c, x, cg_fconst(c, fty, 16777216.0)), x);
	LLVMValueRef ix = LLVMBuildBitCast(b, xs, ity, "");
	LLVMValueRef e = LLVMBuildSub(b, LLVMBuildAnd(b, LLVMBuildLShr(b, ix, ki(c, fty, 23), ""), ki(c, fty, 0xff), ""),
				      ki(c, fty, 127), "");
	LLVMValueRef m = LLVMBuildOr(b, LLVMBuildAnd(b, ix, ki(c, fty, 0x7fffff), ""), ki(c, fty, 0x800000), "");
	m = LLVMBuildShl(b, m, LLVMBuildAnd(b, e, ki(c, fty, 1), ""), "");  /* odd exponent: one more bit */
	m = LLVMBuildShl(b, m, ki(c, fty, 1), "");
	LLVMValueRef q = ki(c, fty, 0), sacc = ki(c, fty, 0);
	for (int r = 0x1000000; r; r >>= 1) {
		LLVMValueRef rr = ki(c, fty, r), t = LLVMBuildAdd(b, sacc, rr, "");
		LLVMValueRef le = LLVMBuildICmp(b, LLVMIntULE, t, m, "");
		sacc = cg_sel(c, le, LLVMBuildAdd(b, t, rr, ""), sacc);
		m = cg_sel(c, le, LLVMBuildSub(b, m, t, ""), m);
		q = cg_sel(c, le, LLVMBuildOr(b, q, rr, ""), q);
		m = LLVMBuildShl(b, m, ki(c, fty, 1), "");
	}
	LLVMValueRef inexact = LLVMBuildICmp(b, LLVMIntNE, m, ki(c, fty, 0), "");
	q = LLVMBuildAdd(b, q, cg_sel(c, inexact, LLVMBuildAnd(b, q, ki(c, fty, 1), ""), ki(c, fty, 0)), "");
	LLVMValueRef res = LLVMBuildAdd(b, LLVMBuildLShr(b, q, ki(c, fty, 1), ""), ki(c, fty, 0x3f000000), "");
	res = LLVMBuildAdd(b, res, LLVMBuildShl(b, LLVMBuildAShr(b, e, ki(c, fty, 1), ""), ki(c, fty, 23), ""), "");
	res = LLVMBuildSub(b, res, cg_sel(c, sub, ki(c, fty, 12 << 23), ki(c, fty, 0)), "");
	LLVMValueRef y = LLVMBuildBitCast(b, res, fty, "");
	/* x itself for +-0, +inf and NaN; NaN for x < 0 */
	LLVMValueRef keep = LLVMBuildOr(b, LLVMBuildICmp(b, LLVMIntEQ, mag, ki(c, fty, 0), ""),
					LLVMBuildOr(b, LLVMBuildICmp(b, LLVMIntEQ, ix0, ki(c, fty, 0x7f800000), ""),
						    LLVMBuildICmp(b, LLVMIntUGT, mag, ki(c, fty, 0x7f800000), ""), ""), "");
	LLVMValueRef neg = LLVMBuildICmp(b, LLVMIntSLT, ix0, ki(c, fty, 0), "");
	y = cg_sel(c, neg, cg_fconst(c, fty, NAN), y);
	return cg_sel(c, keep, x, y);
}

LLVMValueRef cg_sqrt(Cg *c, LLVMValueRef x)
{
	return c->soft_float ? sqrt_soft(c, x) : intr1(c, "llvm.sqrt", x);
}

static LLVMValueRef sqrt_(Cg *c, LLVMValueRef a) { return cg_sqrt(c, a); }

/* |mag| with the sign bit of sgn. */
static LLVMValueRef copysign_(Cg *c, LLVMValueRef mag, LLVMValueRef sgn)
{
	LLVMTypeRef ty = LLVMTypeOf(mag);
	LLVMValueRef args[2] = {mag, sgn};
	return cg_call_intr(c, "llvm.copysign", &ty, 1, args, 2);
}


/* Horner: coef[0] + coef[1] z + ... + coef[n-1] z^(n-1). */
static LLVMValueRef poly(Cg *c, LLVMValueRef z, const double *coef, int n)
{
	LLVMTypeRef ty = LLVMTypeOf(z);
	LLVMValueRef p = cg_fconst(c, ty, coef[n - 1]);
	for (int i = n - 2; i >= 0; i--)
		p = cg_fmuladd(c, p, z, cg_fconst(c, ty, coef[i]));
	return p;
}

/* 2^e as a float, for integer e in [-126, 127] (lanes of fty). */
static LLVMValueRef pow2i(Cg *c, LLVMTypeRef fty, LLVMValueRef e)
{
	LLVMValueRef bits = LLVMBuildShl(c->b, LLVMBuildAdd(c->b, e, ki(c, fty, 127), ""), ki(c, fty, 23), "");
	return LLVMBuildBitCast(c->b, bits, fty, "");
}

/* round(t) to i32, ties away from zero; t must be finite and well inside
 * the i32 range (conversions are instructions everywhere, llvm.rint is not). */
static LLVMValueRef round_i32(Cg *c, LLVMValueRef t)
{
	LLVMTypeRef ty = LLVMTypeOf(t);
	LLVMValueRef half = cg_sel(c, cg_fcmp(c, LLVMRealOLT, t, cg_fconst(c, ty, 0)), cg_fconst(c, ty, -0.5), cg_fconst(c, ty, 0.5));
	return LLVMBuildFPToSI(c->b, cg_fadd(c, t, half), ity_of(c, ty), "");
}

/* Sign bit of a as an i1 (true for -0.0 as well). */
static LLVMValueRef signbit_(Cg *c, LLVMValueRef a)
{
	LLVMTypeRef ty = LLVMTypeOf(a);
	LLVMValueRef bits = LLVMBuildBitCast(c->b, a, ity_of(c, ty), "");
	return cg_icmp(c, LLVMIntSLT, bits, ki(c, ty, 0));
}

/* ---- exp, log, tanh and what is built from them ---------------------------- */

/* e^x by range reduction and a degree-6 polynomial. */
LLVMValueRef cg_exp(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	bool vec = LLVMGetTypeKind(ty) == LLVMVectorTypeKind;
	LLVMTypeRef ity = vec ? LLVMVectorType(c->i32, LLVMGetVectorSize(ty)) : c->i32;
	/* NaN passes through the clamps and the polynomial, giving NaN; the
	 * exponent is computed from a NaN-free value (NaN to int is poison). */
	/* Down to -104 the split 2^n below still reaches the subnormals. */
	LLVMValueRef xc = cg_fmax(c, cg_fmin(c, x, cg_fconst(c, ty, 88.72283935546875)), cg_fconst(c, ty, -104.0));
	LLVMValueRef t = LLVMBuildFMul(c->b, xc, cg_fconst(c, ty, 1.4426950408889634), "");
	t = LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealUNO, t, t, ""), cg_fconst(c, ty, 0), t, "");
	/* n = round(t) by truncating t +- 0.5: conversions are instructions on
	 * every target, while llvm.rint becomes a libm call without SSE4.1. */
	LLVMValueRef half = LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOLT, t, cg_fconst(c, ty, 0), ""), cg_fconst(c, ty, -0.5),
					    cg_fconst(c, ty, 0.5), "");
	LLVMValueRef ni = LLVMBuildFPToSI(c->b, LLVMBuildFAdd(c->b, t, half, ""), ity, "");
	LLVMValueRef n = LLVMBuildSIToFP(c->b, ni, ty, "");
	LLVMValueRef r = cg_fmuladd(c, n, cg_fconst(c, ty, -0.693145751953125), xc);
	r = cg_fmuladd(c, n, cg_fconst(c, ty, -1.428606765330187e-06), r);
	/* e^r on [-ln2/2, ln2/2]: Taylor-like minimax coefficients. */
	LLVMValueRef p = cg_fconst(c, ty, 1.0 / 720);
	p = cg_fmuladd(c, p, r, cg_fconst(c, ty, 1.0 / 120));
	p = cg_fmuladd(c, p, r, cg_fconst(c, ty, 1.0 / 24));
	p = cg_fmuladd(c, p, r, cg_fconst(c, ty, 1.0 / 6));
	p = cg_fmuladd(c, p, r, cg_fconst(c, ty, 0.5));
	p = cg_fmuladd(c, p, r, cg_fconst(c, ty, 1.0));
	p = cg_fmuladd(c, p, r, cg_fconst(c, ty, 1.0));
	/* 2^n as float bits; n in [-150, 128].  Split in two halves so each
	 * factor is a normal float. */
	LLVMValueRef one = vec ? cg_splat(c, LLVMConstInt(c->i32, 1, 0), ity) : LLVMConstInt(c->i32, 1, 0);
	LLVMValueRef n1 = LLVMBuildAShr(c->b, ni, one, "");
	LLVMValueRef n2 = LLVMBuildSub(c->b, ni, n1, "");
	LLVMValueRef bias = vec ? cg_splat(c, LLVMConstInt(c->i32, 127, 0), ity) : LLVMConstInt(c->i32, 127, 0);
	LLVMValueRef sh = vec ? cg_splat(c, LLVMConstInt(c->i32, 23, 0), ity) : LLVMConstInt(c->i32, 23, 0);
	LLVMValueRef s1 = LLVMBuildBitCast(c->b, LLVMBuildShl(c->b, LLVMBuildAdd(c->b, n1, bias, ""), sh, ""), ty, "");
	LLVMValueRef s2 = LLVMBuildBitCast(c->b, LLVMBuildShl(c->b, LLVMBuildAdd(c->b, n2, bias, ""), sh, ""), ty, "");
	LLVMValueRef y = LLVMBuildFMul(c->b, LLVMBuildFMul(c->b, p, s1, ""), s2, "");
	/* Beyond the clamps: 0 below (e^-104 is under half the least
	 * subnormal), +inf above. */
	y = LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOLT, x, cg_fconst(c, ty, -104.0), ""), cg_fconst(c, ty, 0), y, "");
	return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOGT, x, cg_fconst(c, ty, 88.72283935546875), ""), cg_fconst(c, ty, INFINITY), y, "");
}


LLVMValueRef cg_sigmoid(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef e = cg_exp(c, LLVMBuildFNeg(c->b, x, ""));
	return LLVMBuildFDiv(c->b, cg_fconst(c, ty, 1.0), LLVMBuildFAdd(c->b, cg_fconst(c, ty, 1.0), e, ""), "");
}


LLVMValueRef cg_tanh(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMTypeRef tys[1] = {ty};
	LLVMValueRef ax = cg_call_intr(c, "llvm.fabs", tys, 1, &x, 1);
	/* Large |x|: 1 - 2/(e^{2|x|}+1), sign restored; small: odd series. */
	LLVMValueRef e = cg_exp(c, LLVMBuildFMul(c->b, ax, cg_fconst(c, ty, 2.0), ""));
	LLVMValueRef big = LLVMBuildFSub(c->b, cg_fconst(c, ty, 1.0),
					 LLVMBuildFDiv(c->b, cg_fconst(c, ty, 2.0), LLVMBuildFAdd(c->b, e, cg_fconst(c, ty, 1.0), ""), ""), "");
	LLVMValueRef args[2] = {big, x};
	big = cg_call_intr(c, "llvm.copysign", tys, 1, args, 2);
	LLVMValueRef x2 = LLVMBuildFMul(c->b, x, x, "");
	LLVMValueRef p = cg_fconst(c, ty, 62.0 / 2835);
	p = cg_fmuladd(c, p, x2, cg_fconst(c, ty, -17.0 / 315));
	p = cg_fmuladd(c, p, x2, cg_fconst(c, ty, 2.0 / 15));
	p = cg_fmuladd(c, p, x2, cg_fconst(c, ty, -1.0 / 3));
	p = LLVMBuildFMul(c->b, p, x2, "");
	LLVMValueRef small = cg_fmuladd(c, p, x, x);
	return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOLT, ax, cg_fconst(c, ty, 0.25), ""), small, big, "");
}


/* ln x: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), then
 * ln m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.172, by an odd series. */
LLVMValueRef cg_log(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	bool vec = LLVMGetTypeKind(ty) == LLVMVectorTypeKind;
	LLVMTypeRef ity = vec ? LLVMVectorType(c->i32, LLVMGetVectorSize(ty)) : c->i32;
#define IK(v) (vec ? cg_splat(c, LLVMConstInt(c->i32, (v), 1), ity) : LLVMConstInt(c->i32, (v), 1))
	/* Subnormals: scale up by 2^23 first. */
	LLVMValueRef sub = LLVMBuildFCmp(c->b, LLVMRealOLT, x, cg_fconst(c, ty, 1.1754943508222875e-38), "");
	LLVMValueRef xs = LLVMBuildSelect(c->b, sub, LLVMBuildFMul(c->b, x, cg_fconst(c, ty, 8388608.0), ""), x, "");
	LLVMValueRef bits = LLVMBuildBitCast(c->b, xs, ity, "");
	LLVMValueRef e = LLVMBuildSub(c->b, LLVMBuildAShr(c->b, bits, IK(23), ""), IK(127), "");
	e = LLVMBuildSelect(c->b, sub, LLVMBuildSub(c->b, e, IK(23), ""), e, "");
	LLVMValueRef mbits = LLVMBuildOr(c->b, LLVMBuildAnd(c->b, bits, IK(0x7fffff), ""), IK(0x3f800000), "");
	LLVMValueRef m = LLVMBuildBitCast(c->b, mbits, ty, "");
	LLVMValueRef big = LLVMBuildFCmp(c->b, LLVMRealOGT, m, cg_fconst(c, ty, 1.4142135623730951), "");
	m = LLVMBuildSelect(c->b, big, LLVMBuildFMul(c->b, m, cg_fconst(c, ty, 0.5), ""), m, "");
	e = LLVMBuildSelect(c->b, big, LLVMBuildAdd(c->b, e, IK(1), ""), e, "");
#undef IK
	LLVMValueRef sv = LLVMBuildFDiv(c->b, LLVMBuildFSub(c->b, m, cg_fconst(c, ty, 1), ""), LLVMBuildFAdd(c->b, m, cg_fconst(c, ty, 1), ""), "");
	LLVMValueRef z = LLVMBuildFMul(c->b, sv, sv, "");
	LLVMValueRef p = cg_fconst(c, ty, 2.0 / 11);
	p = cg_fmuladd(c, p, z, cg_fconst(c, ty, 2.0 / 9));
	p = cg_fmuladd(c, p, z, cg_fconst(c, ty, 2.0 / 7));
	p = cg_fmuladd(c, p, z, cg_fconst(c, ty, 2.0 / 5));
	p = cg_fmuladd(c, p, z, cg_fconst(c, ty, 2.0 / 3));
	p = cg_fmuladd(c, p, z, cg_fconst(c, ty, 2.0));
	LLVMValueRef lnm = LLVMBuildFMul(c->b, p, sv, "");
	LLVMValueRef ef = LLVMBuildSIToFP(c->b, e, ty, "");
	LLVMValueRef r = cg_fmuladd(c, ef, cg_fconst(c, ty, 0.693145751953125), cg_fmuladd(c, ef, cg_fconst(c, ty, 1.428606765330187e-06), lnm));
	/* Specials: 0 -> -inf, negative -> NaN, +inf -> +inf, NaN -> NaN. */
	r = LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOEQ, x, cg_fconst(c, ty, 0), ""), cg_fconst(c, ty, -INFINITY), r, "");
	r = LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOEQ, x, cg_fconst(c, ty, INFINITY), ""), x, r, "");
	r = LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOLT, x, cg_fconst(c, ty, 0), ""), cg_fconst(c, ty, NAN), r, "");
	return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealUNO, x, x, ""), x, r, "");
}


LLVMValueRef cg_round_dir(Cg *c, LLVMValueRef x, bool up)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	bool vec = LLVMGetTypeKind(ty) == LLVMVectorTypeKind;
	LLVMTypeRef ity = vec ? LLVMVectorType(c->i32, LLVMGetVectorSize(ty)) : c->i32;
	/* |x| >= 2^23 is already integral (and keeps inf/NaN); below that,
	 * truncate through an integer and step once. */
	LLVMTypeRef tys[1] = {ty};
	LLVMValueRef ax = cg_call_intr(c, "llvm.fabs", tys, 1, &x, 1);
	LLVMValueRef small = LLVMBuildFCmp(c->b, LLVMRealOLT, ax, cg_fconst(c, ty, 8388608.0), "");
	LLVMValueRef safe = LLVMBuildSelect(c->b, small, x, cg_fconst(c, ty, 0), "");
	LLVMValueRef t = LLVMBuildSIToFP(c->b, LLVMBuildFPToSI(c->b, safe, ity, ""), ty, "");
	LLVMValueRef step = up ? LLVMBuildFCmp(c->b, LLVMRealOLT, t, safe, "") : LLVMBuildFCmp(c->b, LLVMRealOGT, t, safe, "");
	t = LLVMBuildSelect(c->b, step, LLVMBuildFAdd(c->b, t, cg_fconst(c, ty, up ? 1 : -1), ""), t, "");
	/* keep the sign of zero: floor(-0.0) = -0.0, ceil(-0.5) = -0.0 */
	LLVMValueRef args[2] = {t, x};
	t = cg_call_intr(c, "llvm.copysign", tys, 1, args, 2);
	return LLVMBuildSelect(c->b, small, t, x, "");
}


/* max(0, min(1, a*x + b)), in x's type (NaN propagates through neither
 * comparison, so it comes out NaN). */
LLVMValueRef cg_hard_sigmoid(Cg *c, LLVMValueRef x, double a, double b)
{
	LLVMTypeRef t = LLVMTypeOf(x);
	LLVMValueRef zero = cg_fconst(c, t, 0), one = cg_fconst(c, t, 1);
	LLVMValueRef y = LLVMBuildFAdd(c->b, LLVMBuildFMul(c->b, x, cg_fconst(c, t, a), ""), cg_fconst(c, t, b), "");
	y = LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOLT, y, zero, ""), zero, y, "");
	return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOGT, y, one, ""), one, y, "");
}


/* x/2 * (1 + erf(x/sqrt 2)), or with tanh the approximation
 * x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))); f32 scalars or vectors. */
LLVMValueRef cg_gelu(Cg *c, LLVMValueRef x, bool tanh_form)
{
	LLVMTypeRef t = LLVMTypeOf(x);
	LLVMValueRef h = LLVMBuildFMul(c->b, x, cg_fconst(c, t, 0.5), ""), inner;
	if (tanh_form) {
		LLVMValueRef x3 = LLVMBuildFMul(c->b, LLVMBuildFMul(c->b, x, x, ""), x, "");
		inner = LLVMBuildFAdd(c->b, x, LLVMBuildFMul(c->b, cg_fconst(c, t, 0.044715), x3, ""), "");
		inner = cg_tanh(c, LLVMBuildFMul(c->b, cg_fconst(c, t, 0.7978845608028654), inner, ""));
	} else
		inner = cg_erf(c, LLVMBuildFMul(c->b, x, cg_fconst(c, t, 0.7071067811865476), ""));
	return LLVMBuildFMul(c->b, h, LLVMBuildFAdd(c->b, cg_fconst(c, t, 1), inner, ""), "");
}


/* ---- double-float arithmetic -------------------------------------------
 * hi + lo with |lo| <= ulp(hi)/2 carries about 48 bits; pow needs that for
 * y * log2(x).  Plain fmul/fadd are never contracted (no fast-math flags),
 * which these error-free transformations rely on. */

typedef struct F2 {
	LLVMValueRef hi, lo;
} F2;

/* a + b exactly (Knuth's TwoSum, any magnitudes). */
static F2 two_sum(Cg *c, LLVMValueRef a, LLVMValueRef b)
{
	LLVMValueRef s = cg_fadd(c, a, b);
	LLVMValueRef bb = cg_fsub(c, s, a);
	LLVMValueRef err = cg_fadd(c, cg_fsub(c, a, cg_fsub(c, s, bb)), cg_fsub(c, b, bb));
	return (F2){s, err};
}

/* a + b exactly when |a| >= |b| (Dekker's Fast2Sum). */
static F2 fast_two_sum(Cg *c, LLVMValueRef a, LLVMValueRef b)
{
	LLVMValueRef s = cg_fadd(c, a, b);
	return (F2){s, cg_fsub(c, b, cg_fsub(c, s, a))};
}

/* a = hi + lo with 12-bit halves (Veltkamp); |a| < 2^115. */
static void split(Cg *c, LLVMValueRef a, LLVMValueRef *hi, LLVMValueRef *lo)
{
	LLVMValueRef t = cg_fmul(c, a, cg_fconst(c, LLVMTypeOf(a), 4097.0));
	*hi = cg_fsub(c, t, cg_fsub(c, t, a));
	*lo = cg_fsub(c, a, *hi);
}

/* a * b exactly (Dekker's TwoProduct), without relying on a hardware fma. */
static F2 two_prod(Cg *c, LLVMValueRef a, LLVMValueRef b)
{
	LLVMValueRef p = cg_fmul(c, a, b), ah, al, bh, bl;
	split(c, a, &ah, &al);
	split(c, b, &bh, &bl);
	LLVMValueRef e = cg_fsub(c, cg_fmul(c, ah, bh), p);
	e = cg_fadd(c, e, cg_fmul(c, ah, bl));
	e = cg_fadd(c, e, cg_fmul(c, al, bh));
	e = cg_fadd(c, e, cg_fmul(c, al, bl));
	return (F2){p, e};
}

/* ---- sin, cos, tan ------------------------------------------------------ */

/* Cody-Waite: x = n*pi/2 + r with |r| <= pi/4 (+ a rounding of x*2/pi).
 * pi/2 is cut into six 8-bit pieces and a 24-bit tail (72 bits): for
 * |n| < 2^16 (|x| < 1.0e5) the six products n*piece are exact, the
 * subtractions are exact wherever r is small, and r is within 1.8e-7
 * relative over all those floats, even the one 2^-27.8 from a multiple
 * of pi/2 (tan needs that near its poles).  Larger |x| only gets some
 * value in range.  *q is n mod 4 (two's complement: right for n < 0). */
static LLVMValueRef reduce_pio2(Cg *c, LLVMValueRef x, LLVMValueRef *q)
{
	static const double piece[7] = {
		1.5703125, 0.000484466552734375, -6.4074993133544922e-07, 9.8953023552894592e-10,
		2.5579538487363607e-12, 5.3845816694320092e-15, 5.721188916458728e-18,
	};
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef t = cg_fmul(c, x, cg_fconst(c, ty, 0.63661977236758134));
	/* NaN and huge |x| would make the conversion poison. */
	t = cg_sel(c, isnan_(c, t), cg_fconst(c, ty, 0), t);
	t = cg_fmax(c, cg_fmin(c, t, cg_fconst(c, ty, 1 << 24)), cg_fconst(c, ty, -(1 << 24)));
	LLVMValueRef ni = round_i32(c, t);
	LLVMValueRef n = LLVMBuildSIToFP(c->b, ni, ty, "");
	LLVMValueRef r = x;
	for (int i = 0; i < 7; i++)
		r = cg_fmuladd(c, n, cg_fconst(c, ty, -piece[i]), r);
	*q = cg_and(c, ni, ki(c, ty, 3));
	/* Beyond 2^16 the pieces are inexact; keep r where the polynomials
	 * stay bounded (NaN passes). */
	return cg_fmax(c, cg_fmin(c, r, cg_fconst(c, ty, 1.0)), cg_fconst(c, ty, -1.0));
}

/* sin r and cos r for |r| <= pi/4 + 0.02; relative error < 1e-8 each. */
static void sincos_poly(Cg *c, LLVMValueRef r, LLVMValueRef *s, LLVMValueRef *co)
{
	static const double S[3] = {-0.166666523, 0.00833203644, -0.000194984998};
	static const double C[3] = {0.0416666418, -0.00138871477, 2.44139646e-05};
	LLVMTypeRef ty = LLVMTypeOf(r);
	LLVMValueRef z = cg_fmul(c, r, r);
	*s = cg_fmuladd(c, cg_fmul(c, r, z), poly(c, z, S, 3), r);
	/* 1 + (z^2 C - z/2): the tail is under 0.31, so 1 + tail rounds once
	 * and the tail's own roundings count little. */
	LLVMValueRef tail = cg_fmuladd(c, cg_fmul(c, z, z), poly(c, z, C, 3), cg_fmul(c, z, cg_fconst(c, ty, -0.5)));
	*co = cg_fadd(c, cg_fconst(c, ty, 1.0), tail);
}

/* sin (cosine = false) or cos of x. */
static LLVMValueRef sin_cos(Cg *c, LLVMValueRef x, bool cosine)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef q, s, co;
	LLVMValueRef r = reduce_pio2(c, x, &q);
	sincos_poly(c, r, &s, &co);
	/* sin: s, c, -s, -c by quadrant; cos: c, -s, -c, s. */
	if (cosine)
		q = LLVMBuildAdd(c->b, q, ki(c, ty, 1), "");
	LLVMValueRef odd = cg_icmp(c, LLVMIntNE, cg_and(c, q, ki(c, ty, 1)), ki(c, ty, 0));
	LLVMValueRef neg = cg_icmp(c, LLVMIntNE, cg_and(c, q, ki(c, ty, 2)), ki(c, ty, 0));
	LLVMValueRef v = cg_sel(c, odd, co, s);
	v = cg_sel(c, neg, cg_fneg(c, v), v);
	if (!cosine)
		v = cg_sel(c, cg_fcmp(c, LLVMRealOEQ, x, cg_fconst(c, ty, 0)), x, v);  /* sin(-0) = -0 */
	return cg_sel(c, cg_fcmp(c, LLVMRealOEQ, cg_fabs(c, x), cg_fconst(c, ty, INFINITY)), cg_fconst(c, ty, NAN), v);
}

LLVMValueRef cg_sin(Cg *c, LLVMValueRef x) { return sin_cos(c, x, false); }
LLVMValueRef cg_cos(Cg *c, LLVMValueRef x) { return sin_cos(c, x, true); }

/* tan = sin r / cos r, or -cos r / sin r in odd quadrants. */
LLVMValueRef cg_tan(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef q, s, co;
	LLVMValueRef r = reduce_pio2(c, x, &q);
	sincos_poly(c, r, &s, &co);
	LLVMValueRef odd = cg_icmp(c, LLVMIntNE, cg_and(c, q, ki(c, ty, 1)), ki(c, ty, 0));
	LLVMValueRef v = cg_fdiv(c, cg_sel(c, odd, co, s), cg_sel(c, odd, cg_fneg(c, s), co));
	v = cg_sel(c, cg_fcmp(c, LLVMRealOEQ, x, cg_fconst(c, ty, 0)), x, v);
	return cg_sel(c, cg_fcmp(c, LLVMRealOEQ, cg_fabs(c, x), cg_fconst(c, ty, INFINITY)), cg_fconst(c, ty, NAN), v);
}

/* ---- inverse trigonometric --------------------------------------------- */

/* pi/2 and pi as float hi + lo. */
#define PIO2_HI 1.57079637
#define PIO2_LO -4.37113883e-08
#define PI_HI 3.14159274
#define PI_LO -8.74227766e-08

/* atan: |x| > tan(3pi/8) -> pi/2 + atan(-1/|x|); |x| > tan(pi/8) ->
 * pi/4 + atan((|x|-1)/(|x|+1)); then an odd polynomial on [0, tan(pi/8)].
 * The offsets carry a low part so they add no error of their own. */
LLVMValueRef cg_atan(Cg *c, LLVMValueRef x)
{
	static const double P[5] = {-0.333333135, 0.199984446, -0.142429963, 0.105896212, -0.0606709681};
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef a = cg_fabs(c, x), one = cg_fconst(c, ty, 1.0);
	LLVMValueRef big = cg_fcmp(c, LLVMRealOGT, a, cg_fconst(c, ty, 2.4142135623730951));
	LLVMValueRef mid = cg_fcmp(c, LLVMRealOGT, a, cg_fconst(c, ty, 0.41421356237309503));
	LLVMValueRef num = cg_sel(c, big, cg_fconst(c, ty, -1.0), cg_sel(c, mid, cg_fsub(c, a, one), a));
	LLVMValueRef den = cg_sel(c, big, a, cg_sel(c, mid, cg_fadd(c, a, one), one));
	LLVMValueRef t = cg_fdiv(c, num, den);
	LLVMValueRef hi = cg_sel(c, big, cg_fconst(c, ty, PIO2_HI), cg_sel(c, mid, cg_fconst(c, ty, PIO2_HI / 2), cg_fconst(c, ty, 0)));
	LLVMValueRef lo = cg_sel(c, big, cg_fconst(c, ty, PIO2_LO), cg_sel(c, mid, cg_fconst(c, ty, PIO2_LO / 2), cg_fconst(c, ty, 0)));
	LLVMValueRef z = cg_fmul(c, t, t);
	LLVMValueRef p = cg_fmuladd(c, cg_fmul(c, t, z), poly(c, z, P, 5), lo);
	return copysign_(c, cg_fadd(c, hi, cg_fadd(c, t, p)), x);
}

/* asin w for w in [0, 0.5]: w + w^3 P(w^2). */
static LLVMValueRef asin_poly(Cg *c, LLVMValueRef w, LLVMValueRef z)
{
	static const double P[5] = {0.166667521, 0.0749529824, 0.0454703346, 0.0241797138, 0.0421659872};
	return cg_fmuladd(c, cg_fmul(c, w, z), poly(c, z, P, 5), w);
}

/* For a = |x|: w = a (a <= 0.5) or sqrt((1-a)/2) (a > 0.5, 1-a exact), and
 * p = asin w, so asin a = p or pi/2 - 2p.  *hi says which. */
static LLVMValueRef asin_core(Cg *c, LLVMValueRef a, LLVMValueRef *hi)
{
	LLVMTypeRef ty = LLVMTypeOf(a);
	*hi = cg_fcmp(c, LLVMRealOGT, a, cg_fconst(c, ty, 0.5));
	LLVMValueRef zh = cg_fmul(c, cg_fsub(c, cg_fconst(c, ty, 1.0), a), cg_fconst(c, ty, 0.5));
	LLVMValueRef z = cg_sel(c, *hi, zh, cg_fmul(c, a, a));
	LLVMValueRef w = cg_sel(c, *hi, sqrt_(c, cg_fmax(c, zh, cg_fconst(c, ty, 0))), a);
	return asin_poly(c, w, z);
}

/* (hi + lo) - v, for a constant hi + lo near pi/2 or pi: lo enters
 * before the last rounding. */
static LLVMValueRef const_minus(Cg *c, double hi, double lo, LLVMValueRef v)
{
	LLVMTypeRef ty = LLVMTypeOf(v);
	return cg_fsub(c, cg_fconst(c, ty, hi), cg_fsub(c, v, cg_fconst(c, ty, lo)));
}

LLVMValueRef cg_asin(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef a = cg_fabs(c, x), hi;
	LLVMValueRef p = asin_core(c, a, &hi);
	LLVMValueRef r = copysign_(c, cg_sel(c, hi, const_minus(c, PIO2_HI, PIO2_LO, cg_fadd(c, p, p)), p), x);
	return cg_sel(c, cg_fcmp(c, LLVMRealOGT, a, cg_fconst(c, ty, 1.0)), cg_fconst(c, ty, NAN), r);
}

/* acos x = 2 asin sqrt((1-x)/2) for x > 1/2, pi - that for x < -1/2, and
 * pi/2 - asin x between: each form is small only where acos is. */
LLVMValueRef cg_acos(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef a = cg_fabs(c, x), hi;
	LLVMValueRef p = asin_core(c, a, &hi);
	LLVMValueRef p2 = cg_fadd(c, p, p);
	LLVMValueRef mid = const_minus(c, PIO2_HI, PIO2_LO, copysign_(c, p, x));
	LLVMValueRef neg = const_minus(c, PI_HI, PI_LO, p2);
	LLVMValueRef r = cg_sel(c, hi, cg_sel(c, cg_fcmp(c, LLVMRealOLT, x, cg_fconst(c, ty, 0)), neg, p2), mid);
	return cg_sel(c, cg_fcmp(c, LLVMRealOGT, a, cg_fconst(c, ty, 1.0)), cg_fconst(c, ty, NAN), r);
}

/* ---- hyperbolic -------------------------------------------------------- */

/* e^a / 2 for a >= 0, as e^(a - 2 ln2_hi) * 2 e^(-2 ln2_lo): the
 * subtraction is exact for 1 <= a < 4096, and the scaling comes after
 * cg_exp so results up to FLT_MAX do not overflow early.  (For a < 1
 * callers either do not use it or, as cosh, are insensitive to its error.) */
static LLVMValueRef half_exp(Cg *c, LLVMValueRef a)
{
	LLVMTypeRef ty = LLVMTypeOf(a);
	LLVMValueRef e = cg_exp(c, cg_fsub(c, a, cg_fconst(c, ty, 1.38629150390625)));
	return cg_fmul(c, e, cg_fconst(c, ty, 1.999994278));
}

/* sinh: odd polynomial below 1, e^a/2 - e^-a/2 above (no cancellation). */
LLVMValueRef cg_sinh(Cg *c, LLVMValueRef x)
{
	static const double P[4] = {0.166666672, 0.0083333496, 0.000198361595, 2.81695065e-06};
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef a = cg_fabs(c, x);
	LLVMValueRef z = cg_fmul(c, a, a);
	LLVMValueRef small = cg_fmuladd(c, cg_fmul(c, a, z), poly(c, z, P, 4), a);
	LLVMValueRef h = half_exp(c, a);
	LLVMValueRef big = cg_fsub(c, h, cg_fdiv(c, cg_fconst(c, ty, 0.25), h));
	return copysign_(c, cg_sel(c, cg_fcmp(c, LLVMRealOLT, a, cg_fconst(c, ty, 1.0)), small, big), x);
}

/* cosh = e^a/2 + e^-a/2: near 0 the error of e^a/2 cancels to first order. */
LLVMValueRef cg_cosh(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef h = half_exp(c, cg_fabs(c, x));
	return cg_fadd(c, h, cg_fdiv(c, cg_fconst(c, ty, 0.25), h));
}

/* log(1 + u) without losing u next to 1: with w = 1 + u rounded,
 * log1p(u) = log(w) * u / (w - 1) (Goldberg), w - 1 being exact. */
static LLVMValueRef log1p_(Cg *c, LLVMValueRef u)
{
	LLVMTypeRef ty = LLVMTypeOf(u);
	LLVMValueRef w = cg_fadd(c, cg_fconst(c, ty, 1.0), u);
	LLVMValueRef r = cg_fmul(c, cg_log(c, w), cg_fdiv(c, u, cg_fsub(c, w, cg_fconst(c, ty, 1.0))));
	r = cg_sel(c, cg_fcmp(c, LLVMRealOEQ, w, cg_fconst(c, ty, 1.0)), u, r);
	return cg_sel(c, cg_fcmp(c, LLVMRealOEQ, u, cg_fconst(c, ty, INFINITY)), u, r);
}

/* ln(2a) for a above 2^12, where asinh and acosh are that to float precision. */
static LLVMValueRef log_2a(Cg *c, LLVMValueRef a)
{
	return cg_fadd(c, cg_log(c, a), cg_fconst(c, LLVMTypeOf(a), 0.693147182));
}

/* asinh a = log1p(a + a^2 / (1 + sqrt(1 + a^2))). */
LLVMValueRef cg_asinh(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef a = cg_fabs(c, x), one = cg_fconst(c, ty, 1.0);
	LLVMValueRef a2 = cg_fmul(c, a, a);
	LLVMValueRef u = cg_fadd(c, a, cg_fdiv(c, a2, cg_fadd(c, one, sqrt_(c, cg_fadd(c, one, a2)))));
	LLVMValueRef big = cg_fcmp(c, LLVMRealOGT, a, cg_fconst(c, ty, 4096.0));
	return copysign_(c, cg_sel(c, big, log_2a(c, a), log1p_(c, u)), x);
}

/* acosh x = log1p(z + sqrt(z (z + 2))), z = x - 1 (exact near 1). */
LLVMValueRef cg_acosh(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef z = cg_fsub(c, x, cg_fconst(c, ty, 1.0));
	LLVMValueRef u = cg_fadd(c, z, sqrt_(c, cg_fmul(c, z, cg_fadd(c, z, cg_fconst(c, ty, 2.0)))));
	LLVMValueRef big = cg_fcmp(c, LLVMRealOGT, x, cg_fconst(c, ty, 4096.0));
	LLVMValueRef r = cg_sel(c, big, log_2a(c, x), log1p_(c, u));
	return cg_sel(c, cg_fcmp(c, LLVMRealOLT, x, cg_fconst(c, ty, 1.0)), cg_fconst(c, ty, NAN), r);
}

/* atanh a = log1p(2a / (1 - a)) / 2; a = 1 gives inf, a > 1 NaN. */
LLVMValueRef cg_atanh(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef a = cg_fabs(c, x);
	LLVMValueRef u = cg_fdiv(c, cg_fadd(c, a, a), cg_fsub(c, cg_fconst(c, ty, 1.0), a));
	return copysign_(c, cg_fmul(c, log1p_(c, u), cg_fconst(c, ty, 0.5)), x);
}

/* ---- erf ----------------------------------------------------------------- */

/* |x| < 1: x + x P(x^2).  1 <= |x| < 4: 1 - e^(-x^2) Q(1/x), where Q fits
 * e^(x^2) erfc(x) to 3e-7 relative (erfc < 0.16 there, so erf gets 5e-8).
 * Beyond 4, erfc < 2e-8 and erf is 1 in float. */
LLVMValueRef cg_erf(Cg *c, LLVMValueRef x)
{
	static const double P[7] = {0.128379166, -0.37612626, 0.112835854, -0.0268538184,
				    0.00518833846, -0.000801027811, 7.85411976e-05};
	static const double Q[8] = {0.000332937605, 0.557979167, 0.0496132486, -0.501554251,
				    0.567833543, -0.345747262, 0.115805611, -0.0166792832};
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef a = cg_fabs(c, x), one = cg_fconst(c, ty, 1.0);
	LLVMValueRef a2 = cg_fmul(c, a, a);
	LLVMValueRef small = cg_fmuladd(c, a, poly(c, a2, P, 7), a);
	LLVMValueRef erfc = cg_fmul(c, cg_exp(c, cg_fneg(c, a2)), poly(c, cg_fdiv(c, one, a), Q, 8));
	LLVMValueRef r = cg_sel(c, cg_fcmp(c, LLVMRealOLT, a, one), small, cg_fsub(c, one, erfc));
	r = cg_sel(c, cg_fcmp(c, LLVMRealOGE, a, cg_fconst(c, ty, 4.0)), one, r);
	return copysign_(c, r, x);
}

/* ---- pow ----------------------------------------------------------------- */

/* log2 a as hi + lo (about 2^-31 relative) for finite a > 0.
 * a = m 2^e, m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact); with
 * s = f / (2 + f), log2 m = (2/ln2) (s + s^3/3 + s^5/5 + ...), s^2 < 0.03.
 * s and the leading product are carried as double-floats; the series tail
 * is under 1% of the result, so its float rounding stays below 2^-31. */
static F2 log2_f2(Cg *c, LLVMValueRef a)
{
	static const double Q[6] = {0.961796701, 0.577078044, 0.412198573, 0.3205989, 0.26230818, 0.221953079};
	LLVMTypeRef ty = LLVMTypeOf(a);
	LLVMValueRef sub = cg_fcmp(c, LLVMRealOLT, a, cg_fconst(c, ty, 1.1754943508222875e-38));
	LLVMValueRef as = cg_sel(c, sub, cg_fmul(c, a, cg_fconst(c, ty, 8388608.0)), a);
	LLVMValueRef bits = LLVMBuildBitCast(c->b, as, ity_of(c, ty), "");
	LLVMValueRef e = LLVMBuildSub(c->b, LLVMBuildAShr(c->b, bits, ki(c, ty, 23), ""), ki(c, ty, 127), "");
	e = cg_sel(c, sub, LLVMBuildSub(c->b, e, ki(c, ty, 23), ""), e);
	LLVMValueRef m = LLVMBuildBitCast(c->b, cg_or(c, cg_and(c, bits, ki(c, ty, 0x7fffff)), ki(c, ty, 0x3f800000)), ty, "");
	LLVMValueRef big = cg_fcmp(c, LLVMRealOGT, m, cg_fconst(c, ty, 1.4142135623730951));
	m = cg_sel(c, big, cg_fmul(c, m, cg_fconst(c, ty, 0.5)), m);
	e = cg_sel(c, big, LLVMBuildAdd(c->b, e, ki(c, ty, 1), ""), e);

	LLVMValueRef f = cg_fsub(c, m, cg_fconst(c, ty, 1.0));
	F2 d = fast_two_sum(c, cg_fconst(c, ty, 2.0), f);
	LLVMValueRef sh = cg_fdiv(c, f, d.hi);
	/* s_lo = (f - sh (d.hi + d.lo)) / d.hi; f - sh d.hi is exact. */
	F2 p = two_prod(c, sh, d.hi);
	LLVMValueRef res = cg_fsub(c, cg_fsub(c, cg_fsub(c, f, p.hi), p.lo), cg_fmul(c, sh, d.lo));
	LLVMValueRef sl = cg_fdiv(c, res, d.hi);
	LLVMValueRef z = cg_fmul(c, sh, sh);
	LLVMValueRef tail = cg_fmul(c, cg_fmul(c, sh, z), poly(c, z, Q, 6));
	/* (2/ln2) s = K (sh + sl), K = 2.88539004 + 3.85192607e-08 */
	F2 l = two_prod(c, sh, cg_fconst(c, ty, 2.88539004));
	LLVMValueRef lo = cg_fadd(c, cg_fmuladd(c, sh, cg_fconst(c, ty, 3.85192607e-08), cg_fmul(c, sl, cg_fconst(c, ty, 2.88539004))), tail);
	lo = cg_fadd(c, l.lo, lo);
	F2 r = two_sum(c, LLVMBuildSIToFP(c->b, e, ty, ""), l.hi);
	return fast_two_sum(c, r.hi, cg_fadd(c, r.lo, lo));
}

/* 2^(hi + lo) for |hi| <= 190 and |lo| small: 2^n * 2^r with r in
 * [-1/2, 1/2], the scale split in two normal factors so that underflow to
 * a subnormal rounds once and overflow gives inf. */
static LLVMValueRef exp2_f2(Cg *c, F2 t)
{
	static const double P[6] = {0.693147182, 0.240226477, 0.0555031933, 0.00961849, 0.00134041323, 0.000153491113};
	LLVMTypeRef ty = LLVMTypeOf(t.hi);
	LLVMValueRef ni = round_i32(c, t.hi);
	LLVMValueRef r = cg_fadd(c, cg_fsub(c, t.hi, LLVMBuildSIToFP(c->b, ni, ty, "")), t.lo);
	LLVMValueRef p = cg_fmuladd(c, r, poly(c, r, P, 6), cg_fconst(c, ty, 1.0));
	LLVMValueRef n1 = LLVMBuildAShr(c->b, ni, ki(c, ty, 1), "");
	LLVMValueRef n2 = LLVMBuildSub(c->b, ni, n1, "");
	return cg_fmul(c, cg_fmul(c, p, pow2i(c, ty, n1)), pow2i(c, ty, n2));
}

/* y is an integer (inf counts as one, NaN does not). */
static LLVMValueRef is_int(Cg *c, LLVMValueRef y)
{
	return cg_fcmp(c, LLVMRealOEQ, cg_round_dir(c, y, false), y);
}

/* y is an odd integer (only possible below 2^24). */
static LLVMValueRef is_odd(Cg *c, LLVMValueRef y)
{
	LLVMTypeRef ty = LLVMTypeOf(y);
	LLVMValueRef small = cg_fcmp(c, LLVMRealOLT, cg_fabs(c, y), cg_fconst(c, ty, 16777216.0));
	LLVMValueRef yi = LLVMBuildFPToSI(c->b, cg_sel(c, small, y, cg_fconst(c, ty, 0)), ity_of(c, ty), "");
	LLVMValueRef odd = cg_icmp(c, LLVMIntNE, cg_and(c, yi, ki(c, ty, 1)), ki(c, ty, 0));
	return cg_and(c, cg_and(c, small, is_int(c, y)), odd);
}

/* |x|^y for finite nonzero x and finite y: 2^(y log2|x|) with the product
 * as a double-float (an error d in it is a relative error d ln2 in the
 * result, and it reaches +-150).  |y| is clamped to 2^32, where any
 * |x| != 1 already overflows or underflows. */
static LLVMValueRef pow_finite(Cg *c, LLVMValueRef ax, LLVMValueRef y)
{
	LLVMTypeRef ty = LLVMTypeOf(ax);
	LLVMValueRef lim = cg_fconst(c, ty, 4294967296.0);
	y = cg_sel(c, cg_fcmp(c, LLVMRealOLT, cg_fabs(c, y), lim), y, copysign_(c, lim, y));
	F2 l = log2_f2(c, ax);
	F2 t = two_prod(c, y, l.hi);
	t.lo = cg_fmuladd(c, y, l.lo, t.lo);
	/* Past +-190 the result is 0 or inf whatever the low part says. */
	LLVMValueRef far = cg_fcmp(c, LLVMRealOGT, cg_fabs(c, t.hi), cg_fconst(c, ty, 190.0));
	t.hi = cg_sel(c, far, copysign_(c, cg_fconst(c, ty, 190.0), t.hi), t.hi);
	t.lo = cg_sel(c, far, cg_fconst(c, ty, 0), t.lo);
	return exp2_f2(c, t);
}

/* C powf, specials as C99 F.9.4.4. */
LLVMValueRef cg_pow(Cg *c, LLVMValueRef x, LLVMValueRef y)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef zero = cg_fconst(c, ty, 0), one = cg_fconst(c, ty, 1.0), inf = cg_fconst(c, ty, INFINITY);
	LLVMValueRef ax = cg_fabs(c, x), ay = cg_fabs(c, y);
	LLVMValueRef xfin = cg_and(c, cg_fcmp(c, LLVMRealOGT, ax, zero), cg_fcmp(c, LLVMRealOLT, ax, inf));
	LLVMValueRef yfin = cg_fcmp(c, LLVMRealOLT, ay, inf);
	LLVMValueRef r = pow_finite(c, cg_sel(c, xfin, ax, one), cg_sel(c, yfin, y, zero));
	/* x = +-0, x = +-inf or y = +-inf: 0, 1 or inf by whether |x| and
	 * y are on the same side of 1 and 0. */
	LLVMValueRef up = cg_icmp(c, LLVMIntEQ, cg_fcmp(c, LLVMRealOGT, y, zero), cg_fcmp(c, LLVMRealOGT, ax, one));
	LLVMValueRef lim = cg_sel(c, cg_fcmp(c, LLVMRealOEQ, ax, one), one, cg_sel(c, up, inf, zero));
	LLVMValueRef edge = cg_or(c, cg_fcmp(c, LLVMRealOEQ, ax, zero), cg_or(c, cg_fcmp(c, LLVMRealOEQ, ax, inf),
									   cg_fcmp(c, LLVMRealOEQ, ay, inf)));
	r = cg_sel(c, edge, lim, r);
	/* Negative x (or -0): odd integer y keeps the sign, other integers
	 * drop it, and a finite non-integer y has no real result. */
	r = cg_sel(c, cg_and(c, signbit_(c, x), is_odd(c, y)), cg_fneg(c, r), r);
	LLVMValueRef bad = cg_and(c, cg_and(c, cg_fcmp(c, LLVMRealOLT, x, zero), xfin),
				cg_and(c, yfin, LLVMBuildNot(c->b, is_int(c, y), "")));
	r = cg_sel(c, cg_or(c, bad, cg_or(c, isnan_(c, x), isnan_(c, y))), cg_fconst(c, ty, NAN), r);
	return cg_sel(c, cg_or(c, cg_fcmp(c, LLVMRealOEQ, y, zero), cg_fcmp(c, LLVMRealOEQ, x, one)), one, r);
}

/* ---- rounding and remainder -------------------------------------------- */

/* Below 2^23, adding and subtracting 2^23 rounds |x| to an integer in the
 * default ties-to-even mode (the pair is not folded without fast-math);
 * above, x is already integral, inf or NaN. */
LLVMValueRef cg_round_even(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef two23 = cg_fconst(c, ty, 8388608.0);
	LLVMValueRef a = cg_fabs(c, x);
	LLVMValueRef r = copysign_(c, cg_fsub(c, cg_fadd(c, a, two23), two23), x);
	return cg_sel(c, cg_fcmp(c, LLVMRealOLT, a, two23), r, x);
}

/* A finite nonzero float as m 2^(e - 150) with integer m in [2^23, 2^24)
 * (subnormals normalized by a 2^23 scaling).  Zero, inf and NaN give some
 * m in that range too, so later conversions never see poison. */
static void unpack(Cg *c, LLVMValueRef a, LLVMValueRef *e, LLVMValueRef *m)
{
	LLVMTypeRef ty = LLVMTypeOf(a);
	LLVMValueRef sub = cg_fcmp(c, LLVMRealOLT, a, cg_fconst(c, ty, 1.1754943508222875e-38));
	LLVMValueRef bits = LLVMBuildBitCast(c->b, cg_sel(c, sub, cg_fmul(c, a, cg_fconst(c, ty, 8388608.0)), a), ity_of(c, ty), "");
	*e = LLVMBuildLShr(c->b, bits, ki(c, ty, 23), "");
	*e = cg_sel(c, sub, LLVMBuildSub(c->b, *e, ki(c, ty, 23), ""), *e);
	*m = cg_or(c, cg_and(c, bits, ki(c, ty, 0x7fffff)), ki(c, ty, 0x800000));
}

/* r = (r * 2^s) mod my for r < my < 2^24, s in [0, 23], in i32: the float
 * quotient of r 2^s (exact) by my is below 2^23, so its truncation q is the
 * true quotient or one more; r 2^s - q my then fits i32 even though both
 * terms wrap, and one add of my fixes the second case. */
static LLVMValueRef mod_step(Cg *c, LLVMTypeRef ty, LLVMValueRef r, LLVMValueRef s, LLVMValueRef my, LLVMValueRef myf)
{
	LLVMValueRef a = cg_fmul(c, LLVMBuildSIToFP(c->b, r, ty, ""), pow2i(c, ty, s));
	LLVMValueRef q = LLVMBuildFPToSI(c->b, cg_fdiv(c, a, myf), ity_of(c, ty), "");
	r = LLVMBuildSub(c->b, LLVMBuildShl(c->b, r, s, ""), LLVMBuildMul(c->b, q, my, ""), "");
	return cg_sel(c, cg_icmp(c, LLVMIntSLT, r, ki(c, ty, 0)), LLVMBuildAdd(c->b, r, my, ""), r);
}

/* fmodf, exact: with |x| = mx 2^(ex-150), |y| = my 2^(ey-150), the result
 * is ((mx 2^(ex-ey)) mod my) 2^(ey-150).  The shift ex - ey is at most 276,
 * done as twelve steps of up to 23 bits (always all twelve: no branches). */
LLVMValueRef cg_fmod(Cg *c, LLVMValueRef x, LLVMValueRef y)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef ax = cg_fabs(c, x), ay = cg_fabs(c, y), ex, mx, ey, my;
	unpack(c, ax, &ex, &mx);
	unpack(c, ay, &ey, &my);
	LLVMValueRef myf = LLVMBuildSIToFP(c->b, my, ty, "");
	LLVMValueRef r = cg_sel(c, cg_icmp(c, LLVMIntSGE, mx, my), LLVMBuildSub(c->b, mx, my, ""), mx);
	LLVMValueRef left = LLVMBuildSub(c->b, ex, ey, "");
	for (int i = 0; i < 12; i++) {
		LLVMValueRef s = cg_sel(c, cg_icmp(c, LLVMIntSLT, left, ki(c, ty, 0)), ki(c, ty, 0), left);
		s = cg_sel(c, cg_icmp(c, LLVMIntSGT, s, ki(c, ty, 23)), ki(c, ty, 23), s);
		left = LLVMBuildSub(c->b, left, s, "");
		r = mod_step(c, ty, r, s, my, myf);
	}
	/* r 2^(ey-150) is representable; scale by two normal factors so only
	 * the last multiply can go subnormal (and it is exact). */
	LLVMValueRef e = LLVMBuildSub(c->b, ey, ki(c, ty, 150), "");
	LLVMValueRef e1 = cg_sel(c, cg_icmp(c, LLVMIntSLT, e, ki(c, ty, -126)), ki(c, ty, -126), e);
	LLVMValueRef mag = cg_fmul(c, cg_fmul(c, LLVMBuildSIToFP(c->b, r, ty, ""), pow2i(c, ty, e1)),
				pow2i(c, ty, LLVMBuildSub(c->b, e, e1, "")));
	LLVMValueRef res = copysign_(c, mag, x);
	res = cg_sel(c, cg_fcmp(c, LLVMRealOLT, ax, ay), x, res);
	LLVMValueRef bad = cg_or(c, cg_fcmp(c, LLVMRealOEQ, ay, cg_fconst(c, ty, 0)), cg_fcmp(c, LLVMRealUEQ, ax, cg_fconst(c, ty, INFINITY)));
	return cg_sel(c, cg_or(c, bad, isnan_(c, y)), cg_fconst(c, ty, NAN), res);
}
