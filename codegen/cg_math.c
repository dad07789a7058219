/* Inline math beyond exp/log/tanh (those are in cg_module.c): trigonometric,
 * hyperbolic and inverse functions, erf, pow, fmod and round-half-even,
 * built from LLVM instructions so the object never calls libm.
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

#include <llvm-c/Analysis.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Object.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "cg_internal.h"

/* ---- small builders ------------------------------------------------------
 * k(), cg_fmuladd(), cg_fmin() and cg_fmax() mirror the static helpers of the same
 * jobs in cg_module.c; the rest are shorthands that keep the formulas below
 * readable. */

static bool is_vec(LLVMTypeRef ty) { return LLVMGetTypeKind(ty) == LLVMVectorTypeKind; }

/* i32 or <N x i32>, matching the lanes of ty. */
static LLVMTypeRef ity_of(Cg *c, LLVMTypeRef ty)
{
	return is_vec(ty) ? LLVMVectorType(c->i32, LLVMGetVectorSize(ty)) : c->i32;
}

static LLVMValueRef splat_const(LLVMValueRef s, LLVMTypeRef ty)
{
	if (!is_vec(ty))
		return s;
	unsigned n = LLVMGetVectorSize(ty);
	LLVMValueRef e[64];
	for (unsigned i = 0; i < n; i++)
		e[i] = s;
	return LLVMConstVector(e, n);
}


/* i32 constant with the lanes of the float type fty. */
static LLVMValueRef ki(Cg *c, LLVMTypeRef fty, int v)
{
	return splat_const(LLVMConstInt(c->i32, (unsigned long long)(long long)v, 1), ity_of(c, fty));
}

static LLVMValueRef fadd(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(c->b, a, b, ""); }
static LLVMValueRef fsub(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(c->b, a, b, ""); }
static LLVMValueRef fmul(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(c->b, a, b, ""); }
static LLVMValueRef fdiv(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFDiv(c->b, a, b, ""); }
static LLVMValueRef fneg(Cg *c, LLVMValueRef a) { return LLVMBuildFNeg(c->b, a, ""); }
static LLVMValueRef sel(Cg *c, LLVMValueRef m, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildSelect(c->b, m, a, b, ""); }
static LLVMValueRef fcmp(Cg *c, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFCmp(c->b, p, a, b, ""); }
static LLVMValueRef icmp(Cg *c, LLVMIntPredicate p, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildICmp(c->b, p, a, b, ""); }
static LLVMValueRef or_(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildOr(c->b, a, b, ""); }
static LLVMValueRef and_(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAnd(c->b, a, b, ""); }
static LLVMValueRef isnan_(Cg *c, LLVMValueRef a) { return fcmp(c, LLVMRealUNO, a, a); }

static LLVMValueRef intr1(Cg *c, const char *name, LLVMValueRef a)
{
	LLVMTypeRef ty = LLVMTypeOf(a);
	return cg_call_intr(c, name, &ty, 1, &a, 1);
}

static LLVMValueRef fabs_(Cg *c, LLVMValueRef a) { return intr1(c, "llvm.fabs", a); }
static LLVMValueRef sqrt_(Cg *c, LLVMValueRef a) { return intr1(c, "llvm.sqrt", a); }

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
	LLVMValueRef half = sel(c, fcmp(c, LLVMRealOLT, t, cg_fconst(c, ty, 0)), cg_fconst(c, ty, -0.5), cg_fconst(c, ty, 0.5));
	return LLVMBuildFPToSI(c->b, fadd(c, t, half), ity_of(c, ty), "");
}

/* Sign bit of a as an i1 (true for -0.0 as well). */
static LLVMValueRef signbit_(Cg *c, LLVMValueRef a)
{
	LLVMTypeRef ty = LLVMTypeOf(a);
	LLVMValueRef bits = LLVMBuildBitCast(c->b, a, ity_of(c, ty), "");
	return icmp(c, LLVMIntSLT, bits, ki(c, ty, 0));
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
	LLVMValueRef s = fadd(c, a, b);
	LLVMValueRef bb = fsub(c, s, a);
	LLVMValueRef err = fadd(c, fsub(c, a, fsub(c, s, bb)), fsub(c, b, bb));
	return (F2){s, err};
}

/* a + b exactly when |a| >= |b| (Dekker's Fast2Sum). */
static F2 fast_two_sum(Cg *c, LLVMValueRef a, LLVMValueRef b)
{
	LLVMValueRef s = fadd(c, a, b);
	return (F2){s, fsub(c, b, fsub(c, s, a))};
}

/* a = hi + lo with 12-bit halves (Veltkamp); |a| < 2^115. */
static void split(Cg *c, LLVMValueRef a, LLVMValueRef *hi, LLVMValueRef *lo)
{
	LLVMValueRef t = fmul(c, a, cg_fconst(c, LLVMTypeOf(a), 4097.0));
	*hi = fsub(c, t, fsub(c, t, a));
	*lo = fsub(c, a, *hi);
}

/* a * b exactly (Dekker's TwoProduct), without relying on a hardware fma. */
static F2 two_prod(Cg *c, LLVMValueRef a, LLVMValueRef b)
{
	LLVMValueRef p = fmul(c, a, b), ah, al, bh, bl;
	split(c, a, &ah, &al);
	split(c, b, &bh, &bl);
	LLVMValueRef e = fsub(c, fmul(c, ah, bh), p);
	e = fadd(c, e, fmul(c, ah, bl));
	e = fadd(c, e, fmul(c, al, bh));
	e = fadd(c, e, fmul(c, al, bl));
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
	LLVMValueRef t = fmul(c, x, cg_fconst(c, ty, 0.63661977236758134));
	/* NaN and huge |x| would make the conversion poison. */
	t = sel(c, isnan_(c, t), cg_fconst(c, ty, 0), t);
	t = cg_fmax(c, cg_fmin(c, t, cg_fconst(c, ty, 1 << 24)), cg_fconst(c, ty, -(1 << 24)));
	LLVMValueRef ni = round_i32(c, t);
	LLVMValueRef n = LLVMBuildSIToFP(c->b, ni, ty, "");
	LLVMValueRef r = x;
	for (int i = 0; i < 7; i++)
		r = cg_fmuladd(c, n, cg_fconst(c, ty, -piece[i]), r);
	*q = and_(c, ni, ki(c, ty, 3));
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
	LLVMValueRef z = fmul(c, r, r);
	*s = cg_fmuladd(c, fmul(c, r, z), poly(c, z, S, 3), r);
	/* 1 + (z^2 C - z/2): the tail is under 0.31, so 1 + tail rounds once
	 * and the tail's own roundings count little. */
	LLVMValueRef tail = cg_fmuladd(c, fmul(c, z, z), poly(c, z, C, 3), fmul(c, z, cg_fconst(c, ty, -0.5)));
	*co = fadd(c, cg_fconst(c, ty, 1.0), tail);
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
	LLVMValueRef odd = icmp(c, LLVMIntNE, and_(c, q, ki(c, ty, 1)), ki(c, ty, 0));
	LLVMValueRef neg = icmp(c, LLVMIntNE, and_(c, q, ki(c, ty, 2)), ki(c, ty, 0));
	LLVMValueRef v = sel(c, odd, co, s);
	v = sel(c, neg, fneg(c, v), v);
	if (!cosine)
		v = sel(c, fcmp(c, LLVMRealOEQ, x, cg_fconst(c, ty, 0)), x, v);  /* sin(-0) = -0 */
	return sel(c, fcmp(c, LLVMRealOEQ, fabs_(c, x), cg_fconst(c, ty, INFINITY)), cg_fconst(c, ty, NAN), v);
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
	LLVMValueRef odd = icmp(c, LLVMIntNE, and_(c, q, ki(c, ty, 1)), ki(c, ty, 0));
	LLVMValueRef v = fdiv(c, sel(c, odd, co, s), sel(c, odd, fneg(c, s), co));
	v = sel(c, fcmp(c, LLVMRealOEQ, x, cg_fconst(c, ty, 0)), x, v);
	return sel(c, fcmp(c, LLVMRealOEQ, fabs_(c, x), cg_fconst(c, ty, INFINITY)), cg_fconst(c, ty, NAN), v);
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
	LLVMValueRef a = fabs_(c, x), one = cg_fconst(c, ty, 1.0);
	LLVMValueRef big = fcmp(c, LLVMRealOGT, a, cg_fconst(c, ty, 2.4142135623730951));
	LLVMValueRef mid = fcmp(c, LLVMRealOGT, a, cg_fconst(c, ty, 0.41421356237309503));
	LLVMValueRef num = sel(c, big, cg_fconst(c, ty, -1.0), sel(c, mid, fsub(c, a, one), a));
	LLVMValueRef den = sel(c, big, a, sel(c, mid, fadd(c, a, one), one));
	LLVMValueRef t = fdiv(c, num, den);
	LLVMValueRef hi = sel(c, big, cg_fconst(c, ty, PIO2_HI), sel(c, mid, cg_fconst(c, ty, PIO2_HI / 2), cg_fconst(c, ty, 0)));
	LLVMValueRef lo = sel(c, big, cg_fconst(c, ty, PIO2_LO), sel(c, mid, cg_fconst(c, ty, PIO2_LO / 2), cg_fconst(c, ty, 0)));
	LLVMValueRef z = fmul(c, t, t);
	LLVMValueRef p = cg_fmuladd(c, fmul(c, t, z), poly(c, z, P, 5), lo);
	return copysign_(c, fadd(c, hi, fadd(c, t, p)), x);
}

/* asin w for w in [0, 0.5]: w + w^3 P(w^2). */
static LLVMValueRef asin_poly(Cg *c, LLVMValueRef w, LLVMValueRef z)
{
	static const double P[5] = {0.166667521, 0.0749529824, 0.0454703346, 0.0241797138, 0.0421659872};
	return cg_fmuladd(c, fmul(c, w, z), poly(c, z, P, 5), w);
}

/* For a = |x|: w = a (a <= 0.5) or sqrt((1-a)/2) (a > 0.5, 1-a exact), and
 * p = asin w, so asin a = p or pi/2 - 2p.  *hi says which. */
static LLVMValueRef asin_core(Cg *c, LLVMValueRef a, LLVMValueRef *hi)
{
	LLVMTypeRef ty = LLVMTypeOf(a);
	*hi = fcmp(c, LLVMRealOGT, a, cg_fconst(c, ty, 0.5));
	LLVMValueRef zh = fmul(c, fsub(c, cg_fconst(c, ty, 1.0), a), cg_fconst(c, ty, 0.5));
	LLVMValueRef z = sel(c, *hi, zh, fmul(c, a, a));
	LLVMValueRef w = sel(c, *hi, sqrt_(c, cg_fmax(c, zh, cg_fconst(c, ty, 0))), a);
	return asin_poly(c, w, z);
}

/* (hi + lo) - v, for a constant hi + lo near pi/2 or pi: lo enters
 * before the last rounding. */
static LLVMValueRef const_minus(Cg *c, double hi, double lo, LLVMValueRef v)
{
	LLVMTypeRef ty = LLVMTypeOf(v);
	return fsub(c, cg_fconst(c, ty, hi), fsub(c, v, cg_fconst(c, ty, lo)));
}

LLVMValueRef cg_asin(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef a = fabs_(c, x), hi;
	LLVMValueRef p = asin_core(c, a, &hi);
	LLVMValueRef r = copysign_(c, sel(c, hi, const_minus(c, PIO2_HI, PIO2_LO, fadd(c, p, p)), p), x);
	return sel(c, fcmp(c, LLVMRealOGT, a, cg_fconst(c, ty, 1.0)), cg_fconst(c, ty, NAN), r);
}

/* acos x = 2 asin sqrt((1-x)/2) for x > 1/2, pi - that for x < -1/2, and
 * pi/2 - asin x between: each form is small only where acos is. */
LLVMValueRef cg_acos(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef a = fabs_(c, x), hi;
	LLVMValueRef p = asin_core(c, a, &hi);
	LLVMValueRef p2 = fadd(c, p, p);
	LLVMValueRef mid = const_minus(c, PIO2_HI, PIO2_LO, copysign_(c, p, x));
	LLVMValueRef neg = const_minus(c, PI_HI, PI_LO, p2);
	LLVMValueRef r = sel(c, hi, sel(c, fcmp(c, LLVMRealOLT, x, cg_fconst(c, ty, 0)), neg, p2), mid);
	return sel(c, fcmp(c, LLVMRealOGT, a, cg_fconst(c, ty, 1.0)), cg_fconst(c, ty, NAN), r);
}

/* ---- hyperbolic -------------------------------------------------------- */

/* e^a / 2 for a >= 0, as e^(a - 2 ln2_hi) * 2 e^(-2 ln2_lo): the
 * subtraction is exact for 1 <= a < 4096, and the scaling comes after
 * cg_exp so results up to FLT_MAX do not overflow early.  (For a < 1
 * callers either do not use it or, as cosh, are insensitive to its error.) */
static LLVMValueRef half_exp(Cg *c, LLVMValueRef a)
{
	LLVMTypeRef ty = LLVMTypeOf(a);
	LLVMValueRef e = cg_exp(c, fsub(c, a, cg_fconst(c, ty, 1.38629150390625)));
	return fmul(c, e, cg_fconst(c, ty, 1.999994278));
}

/* sinh: odd polynomial below 1, e^a/2 - e^-a/2 above (no cancellation). */
LLVMValueRef cg_sinh(Cg *c, LLVMValueRef x)
{
	static const double P[4] = {0.166666672, 0.0083333496, 0.000198361595, 2.81695065e-06};
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef a = fabs_(c, x);
	LLVMValueRef z = fmul(c, a, a);
	LLVMValueRef small = cg_fmuladd(c, fmul(c, a, z), poly(c, z, P, 4), a);
	LLVMValueRef h = half_exp(c, a);
	LLVMValueRef big = fsub(c, h, fdiv(c, cg_fconst(c, ty, 0.25), h));
	return copysign_(c, sel(c, fcmp(c, LLVMRealOLT, a, cg_fconst(c, ty, 1.0)), small, big), x);
}

/* cosh = e^a/2 + e^-a/2: near 0 the error of e^a/2 cancels to first order. */
LLVMValueRef cg_cosh(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef h = half_exp(c, fabs_(c, x));
	return fadd(c, h, fdiv(c, cg_fconst(c, ty, 0.25), h));
}

/* log(1 + u) without losing u next to 1: with w = 1 + u rounded,
 * log1p(u) = log(w) * u / (w - 1) (Goldberg), w - 1 being exact. */
static LLVMValueRef log1p_(Cg *c, LLVMValueRef u)
{
	LLVMTypeRef ty = LLVMTypeOf(u);
	LLVMValueRef w = fadd(c, cg_fconst(c, ty, 1.0), u);
	LLVMValueRef r = fmul(c, cg_log(c, w), fdiv(c, u, fsub(c, w, cg_fconst(c, ty, 1.0))));
	r = sel(c, fcmp(c, LLVMRealOEQ, w, cg_fconst(c, ty, 1.0)), u, r);
	return sel(c, fcmp(c, LLVMRealOEQ, u, cg_fconst(c, ty, INFINITY)), u, r);
}

/* ln(2a) for a above 2^12, where asinh and acosh are that to float precision. */
static LLVMValueRef log_2a(Cg *c, LLVMValueRef a)
{
	return fadd(c, cg_log(c, a), cg_fconst(c, LLVMTypeOf(a), 0.693147182));
}

/* asinh a = log1p(a + a^2 / (1 + sqrt(1 + a^2))). */
LLVMValueRef cg_asinh(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef a = fabs_(c, x), one = cg_fconst(c, ty, 1.0);
	LLVMValueRef a2 = fmul(c, a, a);
	LLVMValueRef u = fadd(c, a, fdiv(c, a2, fadd(c, one, sqrt_(c, fadd(c, one, a2)))));
	LLVMValueRef big = fcmp(c, LLVMRealOGT, a, cg_fconst(c, ty, 4096.0));
	return copysign_(c, sel(c, big, log_2a(c, a), log1p_(c, u)), x);
}

/* acosh x = log1p(z + sqrt(z (z + 2))), z = x - 1 (exact near 1). */
LLVMValueRef cg_acosh(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef z = fsub(c, x, cg_fconst(c, ty, 1.0));
	LLVMValueRef u = fadd(c, z, sqrt_(c, fmul(c, z, fadd(c, z, cg_fconst(c, ty, 2.0)))));
	LLVMValueRef big = fcmp(c, LLVMRealOGT, x, cg_fconst(c, ty, 4096.0));
	LLVMValueRef r = sel(c, big, log_2a(c, x), log1p_(c, u));
	return sel(c, fcmp(c, LLVMRealOLT, x, cg_fconst(c, ty, 1.0)), cg_fconst(c, ty, NAN), r);
}

/* atanh a = log1p(2a / (1 - a)) / 2; a = 1 gives inf, a > 1 NaN. */
LLVMValueRef cg_atanh(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef a = fabs_(c, x);
	LLVMValueRef u = fdiv(c, fadd(c, a, a), fsub(c, cg_fconst(c, ty, 1.0), a));
	return copysign_(c, fmul(c, log1p_(c, u), cg_fconst(c, ty, 0.5)), x);
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
	LLVMValueRef a = fabs_(c, x), one = cg_fconst(c, ty, 1.0);
	LLVMValueRef a2 = fmul(c, a, a);
	LLVMValueRef small = cg_fmuladd(c, a, poly(c, a2, P, 7), a);
	LLVMValueRef erfc = fmul(c, cg_exp(c, fneg(c, a2)), poly(c, fdiv(c, one, a), Q, 8));
	LLVMValueRef r = sel(c, fcmp(c, LLVMRealOLT, a, one), small, fsub(c, one, erfc));
	r = sel(c, fcmp(c, LLVMRealOGE, a, cg_fconst(c, ty, 4.0)), one, r);
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
	LLVMValueRef sub = fcmp(c, LLVMRealOLT, a, cg_fconst(c, ty, 1.1754943508222875e-38));
	LLVMValueRef as = sel(c, sub, fmul(c, a, cg_fconst(c, ty, 8388608.0)), a);
	LLVMValueRef bits = LLVMBuildBitCast(c->b, as, ity_of(c, ty), "");
	LLVMValueRef e = LLVMBuildSub(c->b, LLVMBuildAShr(c->b, bits, ki(c, ty, 23), ""), ki(c, ty, 127), "");
	e = sel(c, sub, LLVMBuildSub(c->b, e, ki(c, ty, 23), ""), e);
	LLVMValueRef m = LLVMBuildBitCast(c->b, or_(c, and_(c, bits, ki(c, ty, 0x7fffff)), ki(c, ty, 0x3f800000)), ty, "");
	LLVMValueRef big = fcmp(c, LLVMRealOGT, m, cg_fconst(c, ty, 1.4142135623730951));
	m = sel(c, big, fmul(c, m, cg_fconst(c, ty, 0.5)), m);
	e = sel(c, big, LLVMBuildAdd(c->b, e, ki(c, ty, 1), ""), e);

	LLVMValueRef f = fsub(c, m, cg_fconst(c, ty, 1.0));
	F2 d = fast_two_sum(c, cg_fconst(c, ty, 2.0), f);
	LLVMValueRef sh = fdiv(c, f, d.hi);
	/* s_lo = (f - sh (d.hi + d.lo)) / d.hi; f - sh d.hi is exact. */
	F2 p = two_prod(c, sh, d.hi);
	LLVMValueRef res = fsub(c, fsub(c, fsub(c, f, p.hi), p.lo), fmul(c, sh, d.lo));
	LLVMValueRef sl = fdiv(c, res, d.hi);
	LLVMValueRef z = fmul(c, sh, sh);
	LLVMValueRef tail = fmul(c, fmul(c, sh, z), poly(c, z, Q, 6));
	/* (2/ln2) s = K (sh + sl), K = 2.88539004 + 3.85192607e-08 */
	F2 l = two_prod(c, sh, cg_fconst(c, ty, 2.88539004));
	LLVMValueRef lo = fadd(c, cg_fmuladd(c, sh, cg_fconst(c, ty, 3.85192607e-08), fmul(c, sl, cg_fconst(c, ty, 2.88539004))), tail);
	lo = fadd(c, l.lo, lo);
	F2 r = two_sum(c, LLVMBuildSIToFP(c->b, e, ty, ""), l.hi);
	return fast_two_sum(c, r.hi, fadd(c, r.lo, lo));
}

/* 2^(hi + lo) for |hi| <= 190 and |lo| small: 2^n * 2^r with r in
 * [-1/2, 1/2], the scale split in two normal factors so that underflow to
 * a subnormal rounds once and overflow gives inf. */
static LLVMValueRef exp2_f2(Cg *c, F2 t)
{
	static const double P[6] = {0.693147182, 0.240226477, 0.0555031933, 0.00961849, 0.00134041323, 0.000153491113};
	LLVMTypeRef ty = LLVMTypeOf(t.hi);
	LLVMValueRef ni = round_i32(c, t.hi);
	LLVMValueRef r = fadd(c, fsub(c, t.hi, LLVMBuildSIToFP(c->b, ni, ty, "")), t.lo);
	LLVMValueRef p = cg_fmuladd(c, r, poly(c, r, P, 6), cg_fconst(c, ty, 1.0));
	LLVMValueRef n1 = LLVMBuildAShr(c->b, ni, ki(c, ty, 1), "");
	LLVMValueRef n2 = LLVMBuildSub(c->b, ni, n1, "");
	return fmul(c, fmul(c, p, pow2i(c, ty, n1)), pow2i(c, ty, n2));
}

/* y is an integer (inf counts as one, NaN does not). */
static LLVMValueRef is_int(Cg *c, LLVMValueRef y)
{
	return fcmp(c, LLVMRealOEQ, cg_round_dir(c, y, false), y);
}

/* y is an odd integer (only possible below 2^24). */
static LLVMValueRef is_odd(Cg *c, LLVMValueRef y)
{
	LLVMTypeRef ty = LLVMTypeOf(y);
	LLVMValueRef small = fcmp(c, LLVMRealOLT, fabs_(c, y), cg_fconst(c, ty, 16777216.0));
	LLVMValueRef yi = LLVMBuildFPToSI(c->b, sel(c, small, y, cg_fconst(c, ty, 0)), ity_of(c, ty), "");
	LLVMValueRef odd = icmp(c, LLVMIntNE, and_(c, yi, ki(c, ty, 1)), ki(c, ty, 0));
	return and_(c, and_(c, small, is_int(c, y)), odd);
}

/* |x|^y for finite nonzero x and finite y: 2^(y log2|x|) with the product
 * as a double-float (an error d in it is a relative error d ln2 in the
 * result, and it reaches +-150).  |y| is clamped to 2^32, where any
 * |x| != 1 already overflows or underflows. */
static LLVMValueRef pow_finite(Cg *c, LLVMValueRef ax, LLVMValueRef y)
{
	LLVMTypeRef ty = LLVMTypeOf(ax);
	LLVMValueRef lim = cg_fconst(c, ty, 4294967296.0);
	y = sel(c, fcmp(c, LLVMRealOLT, fabs_(c, y), lim), y, copysign_(c, lim, y));
	F2 l = log2_f2(c, ax);
	F2 t = two_prod(c, y, l.hi);
	t.lo = cg_fmuladd(c, y, l.lo, t.lo);
	/* Past +-190 the result is 0 or inf whatever the low part says. */
	LLVMValueRef far = fcmp(c, LLVMRealOGT, fabs_(c, t.hi), cg_fconst(c, ty, 190.0));
	t.hi = sel(c, far, copysign_(c, cg_fconst(c, ty, 190.0), t.hi), t.hi);
	t.lo = sel(c, far, cg_fconst(c, ty, 0), t.lo);
	return exp2_f2(c, t);
}

/* C powf, specials as C99 F.9.4.4. */
LLVMValueRef cg_pow(Cg *c, LLVMValueRef x, LLVMValueRef y)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef zero = cg_fconst(c, ty, 0), one = cg_fconst(c, ty, 1.0), inf = cg_fconst(c, ty, INFINITY);
	LLVMValueRef ax = fabs_(c, x), ay = fabs_(c, y);
	LLVMValueRef xfin = and_(c, fcmp(c, LLVMRealOGT, ax, zero), fcmp(c, LLVMRealOLT, ax, inf));
	LLVMValueRef yfin = fcmp(c, LLVMRealOLT, ay, inf);
	LLVMValueRef r = pow_finite(c, sel(c, xfin, ax, one), sel(c, yfin, y, zero));
	/* x = +-0, x = +-inf or y = +-inf: 0, 1 or inf by whether |x| and
	 * y are on the same side of 1 and 0. */
	LLVMValueRef up = icmp(c, LLVMIntEQ, fcmp(c, LLVMRealOGT, y, zero), fcmp(c, LLVMRealOGT, ax, one));
	LLVMValueRef lim = sel(c, fcmp(c, LLVMRealOEQ, ax, one), one, sel(c, up, inf, zero));
	LLVMValueRef edge = or_(c, fcmp(c, LLVMRealOEQ, ax, zero), or_(c, fcmp(c, LLVMRealOEQ, ax, inf),
									   fcmp(c, LLVMRealOEQ, ay, inf)));
	r = sel(c, edge, lim, r);
	/* Negative x (or -0): odd integer y keeps the sign, other integers
	 * drop it, and a finite non-integer y has no real result. */
	r = sel(c, and_(c, signbit_(c, x), is_odd(c, y)), fneg(c, r), r);
	LLVMValueRef bad = and_(c, and_(c, fcmp(c, LLVMRealOLT, x, zero), xfin),
				and_(c, yfin, LLVMBuildNot(c->b, is_int(c, y), "")));
	r = sel(c, or_(c, bad, or_(c, isnan_(c, x), isnan_(c, y))), cg_fconst(c, ty, NAN), r);
	return sel(c, or_(c, fcmp(c, LLVMRealOEQ, y, zero), fcmp(c, LLVMRealOEQ, x, one)), one, r);
}

/* ---- rounding and remainder -------------------------------------------- */

/* Below 2^23, adding and subtracting 2^23 rounds |x| to an integer in the
 * default ties-to-even mode (the pair is not folded without fast-math);
 * above, x is already integral, inf or NaN. */
LLVMValueRef cg_round_even(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef two23 = cg_fconst(c, ty, 8388608.0);
	LLVMValueRef a = fabs_(c, x);
	LLVMValueRef r = copysign_(c, fsub(c, fadd(c, a, two23), two23), x);
	return sel(c, fcmp(c, LLVMRealOLT, a, two23), r, x);
}

/* A finite nonzero float as m 2^(e - 150) with integer m in [2^23, 2^24)
 * (subnormals normalized by a 2^23 scaling).  Zero, inf and NaN give some
 * m in that range too, so later conversions never see poison. */
static void unpack(Cg *c, LLVMValueRef a, LLVMValueRef *e, LLVMValueRef *m)
{
	LLVMTypeRef ty = LLVMTypeOf(a);
	LLVMValueRef sub = fcmp(c, LLVMRealOLT, a, cg_fconst(c, ty, 1.1754943508222875e-38));
	LLVMValueRef bits = LLVMBuildBitCast(c->b, sel(c, sub, fmul(c, a, cg_fconst(c, ty, 8388608.0)), a), ity_of(c, ty), "");
	*e = LLVMBuildLShr(c->b, bits, ki(c, ty, 23), "");
	*e = sel(c, sub, LLVMBuildSub(c->b, *e, ki(c, ty, 23), ""), *e);
	*m = or_(c, and_(c, bits, ki(c, ty, 0x7fffff)), ki(c, ty, 0x800000));
}

/* r = (r * 2^s) mod my for r < my < 2^24, s in [0, 23], in i32: the float
 * quotient of r 2^s (exact) by my is below 2^23, so its truncation q is the
 * true quotient or one more; r 2^s - q my then fits i32 even though both
 * terms wrap, and one add of my fixes the second case. */
static LLVMValueRef mod_step(Cg *c, LLVMTypeRef ty, LLVMValueRef r, LLVMValueRef s, LLVMValueRef my, LLVMValueRef myf)
{
	LLVMValueRef a = fmul(c, LLVMBuildSIToFP(c->b, r, ty, ""), pow2i(c, ty, s));
	LLVMValueRef q = LLVMBuildFPToSI(c->b, fdiv(c, a, myf), ity_of(c, ty), "");
	r = LLVMBuildSub(c->b, LLVMBuildShl(c->b, r, s, ""), LLVMBuildMul(c->b, q, my, ""), "");
	return sel(c, icmp(c, LLVMIntSLT, r, ki(c, ty, 0)), LLVMBuildAdd(c->b, r, my, ""), r);
}

/* fmodf, exact: with |x| = mx 2^(ex-150), |y| = my 2^(ey-150), the result
 * is ((mx 2^(ex-ey)) mod my) 2^(ey-150).  The shift ex - ey is at most 276,
 * done as twelve steps of up to 23 bits (always all twelve: no branches). */
LLVMValueRef cg_fmod(Cg *c, LLVMValueRef x, LLVMValueRef y)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef ax = fabs_(c, x), ay = fabs_(c, y), ex, mx, ey, my;
	unpack(c, ax, &ex, &mx);
	unpack(c, ay, &ey, &my);
	LLVMValueRef myf = LLVMBuildSIToFP(c->b, my, ty, "");
	LLVMValueRef r = sel(c, icmp(c, LLVMIntSGE, mx, my), LLVMBuildSub(c->b, mx, my, ""), mx);
	LLVMValueRef left = LLVMBuildSub(c->b, ex, ey, "");
	for (int i = 0; i < 12; i++) {
		LLVMValueRef s = sel(c, icmp(c, LLVMIntSLT, left, ki(c, ty, 0)), ki(c, ty, 0), left);
		s = sel(c, icmp(c, LLVMIntSGT, s, ki(c, ty, 23)), ki(c, ty, 23), s);
		left = LLVMBuildSub(c->b, left, s, "");
		r = mod_step(c, ty, r, s, my, myf);
	}
	/* r 2^(ey-150) is representable; scale by two normal factors so only
	 * the last multiply can go subnormal (and it is exact). */
	LLVMValueRef e = LLVMBuildSub(c->b, ey, ki(c, ty, 150), "");
	LLVMValueRef e1 = sel(c, icmp(c, LLVMIntSLT, e, ki(c, ty, -126)), ki(c, ty, -126), e);
	LLVMValueRef mag = fmul(c, fmul(c, LLVMBuildSIToFP(c->b, r, ty, ""), pow2i(c, ty, e1)),
				pow2i(c, ty, LLVMBuildSub(c->b, e, e1, "")));
	LLVMValueRef res = copysign_(c, mag, x);
	res = sel(c, fcmp(c, LLVMRealOLT, ax, ay), x, res);
	LLVMValueRef bad = or_(c, fcmp(c, LLVMRealOEQ, ay, cg_fconst(c, ty, 0)), fcmp(c, LLVMRealUEQ, ax, cg_fconst(c, ty, INFINITY)));
	return sel(c, or_(c, bad, isnan_(c, y)), cg_fconst(c, ty, NAN), res);
}

/* ---- test support -------------------------------------------------------
 * tests/unit/test_math.c measures the builders above against libm.  Only
 * codegen/ sees llvm-c (the test targets do not get its include path), so
 * the test reaches them through these functions, declared in
 * cg_internal.h and repeated in the test. */

typedef LLVMValueRef (*MathFn1)(Cg *, LLVMValueRef);
typedef LLVMValueRef (*MathFn2)(Cg *, LLVMValueRef, LLVMValueRef);

static const struct {
	const char *name;
	MathFn1 f1;
	MathFn2 f2;
} math_fns[] = {
	{"sin", cg_sin, NULL}, {"cos", cg_cos, NULL}, {"tan", cg_tan, NULL},
	{"asin", cg_asin, NULL}, {"acos", cg_acos, NULL}, {"atan", cg_atan, NULL},
	{"sinh", cg_sinh, NULL}, {"cosh", cg_cosh, NULL}, {"asinh", cg_asinh, NULL},
	{"acosh", cg_acosh, NULL}, {"atanh", cg_atanh, NULL}, {"erf", cg_erf, NULL},
	{"pow", NULL, cg_pow}, {"round_even", cg_round_even, NULL}, {"fmod", NULL, cg_fmod},
};
#define NMATH (int)(sizeof math_fns / sizeof math_fns[0])

struct CgMathJit {
	LLVMOrcLLJITRef jit;
	CgMathFn fn;
};

static char *dup_msg(const char *s)
{
	char *d = malloc(strlen(s) + 1);
	if (d)
		strcpy(d, s);
	return d;
}

static char *take_error(LLVMErrorRef e)
{
	char *s = LLVMGetErrorMessage(e);
	char *d = dup_msg(s);
	LLVMDisposeErrorMessage(s);
	return d;
}

/* Adds void kiln_math_NAME(const float *x, const float *y, float *out),
 * applying math_fns[i] to `lanes` floats (1: the scalar form). */
static void build_kernel(Cg *c, int i, int lanes)
{
	LLVMTypeRef ty = lanes > 1 ? LLVMVectorType(c->f32, (unsigned)lanes) : c->f32;
	LLVMTypeRef params[3] = {c->ptr, c->ptr, c->ptr};
	char name[64];
	snprintf(name, sizeof name, "kiln_math_%s", math_fns[i].name);
	c->fn = LLVMAddFunction(c->mod, name, LLVMFunctionType(LLVMVoidTypeInContext(c->ctx), params, 3, 0));
	LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, c->fn, "entry"));
	LLVMValueRef v[2];
	for (int j = 0; j < 2; j++) {
		v[j] = LLVMBuildLoad2(c->b, ty, LLVMGetParam(c->fn, (unsigned)j), "");
		LLVMSetAlignment(v[j], 4);  /* the caller's arrays are only float-aligned */
	}
	LLVMValueRef r = math_fns[i].f1 ? math_fns[i].f1(c, v[0]) : math_fns[i].f2(c, v[0], v[1]);
	LLVMSetAlignment(LLVMBuildStore(c->b, r, LLVMGetParam(c->fn, 2)), 4);
	LLVMBuildRetVoid(c->b);
}

static void test_cg_init(Cg *c, LLVMContextRef ctx)
{
	memset(c, 0, sizeof *c);
	c->ctx = ctx;
	c->mod = LLVMModuleCreateWithNameInContext("kiln_math", ctx);
	c->b = LLVMCreateBuilderInContext(ctx);
	c->f32 = LLVMFloatTypeInContext(ctx);
	c->i8 = LLVMInt8TypeInContext(ctx);
	c->i32 = LLVMInt32TypeInContext(ctx);
	c->i64 = LLVMInt64TypeInContext(ctx);
	c->ptr = LLVMPointerTypeInContext(ctx, 0);
}

/* Target machine for triple/cpu/features, NULL each meaning the host's. */
static LLVMTargetMachineRef test_tm(const char *triple, const char *cpu, const char *features, char **err)
{
	static bool inited;
	if (!inited) {
		LLVMInitializeAllTargetInfos();
		LLVMInitializeAllTargets();
		LLVMInitializeAllTargetMCs();
		LLVMInitializeAllAsmPrinters();
		inited = true;
	}
	char *ht = LLVMGetDefaultTargetTriple(), *hc = LLVMGetHostCPUName(), *hf = LLVMGetHostCPUFeatures();
	const char *tr = triple ? triple : ht;
	LLVMTargetRef t;
	LLVMTargetMachineRef tm = NULL;
	char *msg = NULL;
	if (LLVMGetTargetFromTriple(tr, &t, &msg)) {
		*err = dup_msg(msg ? msg : "unknown triple");
	} else {
		tm = LLVMCreateTargetMachine(t, tr, cpu ? cpu : hc, features ? features : cpu ? "" : hf,
					     LLVMCodeGenLevelAggressive, LLVMRelocPIC, LLVMCodeModelDefault);
		if (!tm)
			*err = dup_msg("cannot create the target machine");
	}
	LLVMDisposeMessage(msg);
	LLVMDisposeMessage(ht);
	LLVMDisposeMessage(hc);
	LLVMDisposeMessage(hf);
	return tm;
}

/* Verify, then the -O2 pipeline the driver uses for kiln -O2. */
static bool test_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, char **err)
{
	char *msg = NULL;
	if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
		*err = dup_msg(msg ? msg : "invalid module");
		LLVMDisposeMessage(msg);
		return false;
	}
	LLVMDisposeMessage(msg);
	LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
	LLVMPassBuilderOptionsSetLoopVectorization(po, 1);
	LLVMPassBuilderOptionsSetSLPVectorization(po, 1);
	LLVMErrorRef e = LLVMRunPasses(mod, "default<O2>", tm, po);
	LLVMDisposePassBuilderOptions(po);
	if (e) {
		*err = take_error(e);
		return false;
	}
	return true;
}

static int find_math(const char *name)
{
	for (int i = 0; i < NMATH; i++)
		if (!strcmp(math_fns[i].name, name))
			return i;
	return -1;
}

CgMathJit *cg_math_jit(const char *name, int lanes, const char *cpu, char **ir, char **err)
{
	*err = NULL;
	int i = find_math(name);
	if (i < 0) {
		*err = dup_msg("no such math function");
		return NULL;
	}
	LLVMTargetMachineRef tm = test_tm(NULL, cpu, NULL, err);
	if (!tm)
		return NULL;
	LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
	Cg c;
	test_cg_init(&c, LLVMOrcThreadSafeContextGetContext(tsc));
	build_kernel(&c, i, lanes);
	LLVMDisposeBuilder(c.b);
	CgMathJit *j = calloc(1, sizeof *j);
	if (!j || !test_optimize(c.mod, tm, err)) {
		if (!*err)
			*err = dup_msg("out of memory");
		free(j);
		LLVMDisposeModule(c.mod);
		LLVMOrcDisposeThreadSafeContext(tsc);
		LLVMDisposeTargetMachine(tm);
		return NULL;
	}
	if (ir) {
		char *s = LLVMPrintModuleToString(c.mod);
		*ir = dup_msg(s);
		LLVMDisposeMessage(s);
	}
	LLVMOrcLLJITBuilderRef jb = LLVMOrcCreateLLJITBuilder();
	LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(jb, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm));
	LLVMErrorRef e = LLVMOrcCreateLLJIT(&j->jit, jb);
	if (!e)
		e = LLVMOrcLLJITAddLLVMIRModule(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit),
						LLVMOrcCreateNewThreadSafeModule(c.mod, tsc));
	else
		LLVMDisposeModule(c.mod);
	LLVMOrcDisposeThreadSafeContext(tsc);
	char sym[64];
	snprintf(sym, sizeof sym, "kiln_math_%s", name);
	LLVMOrcExecutorAddress addr = 0;
	if (!e)
		e = LLVMOrcLLJITLookup(j->jit, &addr, sym);
	if (e) {
		*err = take_error(e);
		cg_math_jit_free(j);
		return NULL;
	}
	j->fn = (CgMathFn)(uintptr_t)addr;
	return j;
}

CgMathFn cg_math_jit_fn(CgMathJit *j) { return j->fn; }

void cg_math_jit_free(CgMathJit *j)
{
	if (!j)
		return;
	if (j->jit) {
		LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->jit);
		if (e)
			LLVMConsumeError(e);
	}
	free(j);
}

/* Appends the names of o's undefined symbols to *out (space-separated). */
static bool list_undefined(LLVMBinaryRef o, char **out)
{
	size_t len = 0;
	*out = dup_msg("");
	LLVMSymbolIteratorRef s = LLVMObjectFileCopySymbolIterator(o);
	LLVMSectionIteratorRef sec = LLVMObjectFileCopySectionIterator(o);
	for (; *out && !LLVMObjectFileIsSymbolIteratorAtEnd(o, s); LLVMMoveToNextSymbol(s)) {
		const char *name = LLVMGetSymbolName(s);
		LLVMMoveToContainingSection(sec, s);
		/* No section and a name: something the linker must find elsewhere
		 * (the file symbol is nameless here, the module having no source
		 * file name). */
		if (!name || !*name || !LLVMObjectFileIsSectionIteratorAtEnd(o, sec))
			continue;
		char *grown = realloc(*out, len + strlen(name) + 2);
		if (!grown) {
			free(*out);
			*out = NULL;
			break;
		}
		*out = grown;
		len += (size_t)sprintf(*out + len, "%s%s", len ? " " : "", name);
	}
	LLVMDisposeSectionIterator(sec);
	LLVMDisposeSymbolIterator(s);
	return *out != NULL;
}

char *cg_math_undefined(const char *triple, const char *cpu, const char *features, int lanes, char **err)
{
	*err = NULL;
	LLVMTargetMachineRef tm = test_tm(triple, cpu, features, err);
	if (!tm)
		return NULL;
	LLVMContextRef ctx = LLVMContextCreate();
	Cg c;
	test_cg_init(&c, ctx);
	LLVMSetSourceFileName(c.mod, "", 0);
	for (int i = 0; i < NMATH; i++)
		build_kernel(&c, i, lanes);
	LLVMDisposeBuilder(c.b);
	char *out = NULL, *msg = NULL;
	LLVMMemoryBufferRef buf = NULL;
	if (test_optimize(c.mod, tm, err)) {
		if (LLVMTargetMachineEmitToMemoryBuffer(tm, c.mod, LLVMObjectFile, &msg, &buf)) {
			*err = dup_msg(msg ? msg : "cannot emit");
		} else {
			LLVMBinaryRef o = LLVMCreateBinary(buf, ctx, &msg);
			if (!o)
				*err = dup_msg(msg ? msg : "cannot read the object back");
			else if (!list_undefined(o, &out))
				*err = dup_msg("out of memory");
			if (o)
				LLVMDisposeBinary(o);
			LLVMDisposeMemoryBuffer(buf);
		}
	}
	LLVMDisposeMessage(msg);
	LLVMDisposeModule(c.mod);
	LLVMContextDispose(ctx);
	LLVMDisposeTargetMachine(tm);
	return out;
}
