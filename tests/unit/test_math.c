/* Unit tests for the inline math of codegen/cg_math.c: each builder is
 * JIT-compiled as a scalar and as an 8-lane vector kernel (and, on x86-64,
 * for the baseline cpu, whose fmuladd is not fused), compared with double
 * libm on dense sweeps and on C99 Annex F special values; and objects for
 * every target must not reference any outside symbol. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "targets.h"

/* From codegen/cg_internal.h, which needs llvm-c headers the tests do not
 * see (only codegen/ includes llvm-c). */
typedef struct CgMathJit CgMathJit;
typedef void (*CgMathFn)(const float *x, const float *y, float *out);
CgMathJit *cg_math_jit(const char *name, int lanes, const char *cpu, char **ir, char **err);
CgMathFn cg_math_jit_fn(CgMathJit *j);
void cg_math_jit_free(CgMathJit *j);
char *cg_math_undefined(const char *triple, const char *cpu, const char *features, int lanes, char **err);

#define BOUND 1e-6   /* relative error allowed against double libm */
#define VLANES 8

/* ---- inputs ---------------------------------------------------------------- */

typedef struct Sweep {
	float *x, *y;
	int n, cap;
} Sweep;

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t rnd32(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static double uniform(double lo, double hi) { return lo + (hi - lo) * (rnd32() / 4294967296.0); }

static float bits_f(uint32_t b)
{
	float f;
	memcpy(&f, &b, 4);
	return f;
}

static uint32_t f_bits(float f)
{
	uint32_t b;
	memcpy(&b, &f, 4);
	return b;
}

/* A random finite float, every exponent equally likely. */
static float any_finite(void)
{
	float f;
	do
		f = bits_f(rnd32());
	while (!isfinite(f));
	return f;
}

static void add(Sweep *s, double x, double y)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 4096;
		s->x = realloc(s->x, s->cap * sizeof *s->x);
		s->y = realloc(s->y, s->cap * sizeof *s->y);
		ck_assert(s->x && s->y);
	}
	s->x[s->n] = (float)x;
	s->y[s->n] = (float)y;
	s->n++;
}

/* n points log-spaced in |x| over [lo, hi], alternating signs if signed. */
static void add_log(Sweep *s, double lo, double hi, int n, bool signed_)
{
	for (int i = 0; i < n; i++) {
		double x = lo * pow(hi / lo, (i + 0.5) / n);
		add(s, signed_ && (i & 1) ? -x : x, 1.0);
	}
}

static void add_lin(Sweep *s, double lo, double hi, int n)
{
	for (int i = 0; i < n; i++)
		add(s, lo + (hi - lo) * (i + 0.5) / n, 1.0);
}

static void in_trig(Sweep *s)
{
	add_log(s, 1e-6, 1e5, 200000, true);
	add_log(s, 1e-44, 1e-6, 2000, true);
	/* Next to multiples of pi/2, where the reduction cancels, up to 1e5;
	 * 252.898209 comes closest of all floats below 1e5 (2^-27.8). */
	for (int k = 1; k < 63600; k += 7)
		for (int d = -2; d <= 2; d++)
			add(s, bits_f(f_bits((float)(k * 1.5707963267948966)) + d), 1.0);
	add(s, 252.898209, 1.0);
}

static void in_unit(Sweep *s)
{
	add_log(s, 1e-30, 1.0, 100000, true);
	add_lin(s, -1.0, 1.0, 100000);
	for (int i = 1; i < 2000; i++)
		add(s, bits_f(f_bits(1.0f) - i), 1.0), add(s, -bits_f(f_bits(1.0f) - i), 1.0);
}

static void in_all(Sweep *s) { add_log(s, 1e-44, 3e38, 200000, true); }
static void in_hyp(Sweep *s) { add_log(s, 1e-30, 89.4, 200000, true); }

static void in_acosh(Sweep *s)
{
	add_log(s, 1e-7, 3e38, 200000, false);
	for (int i = 0; i < s->n; i++)
		s->x[i] = 1.0f + s->x[i];
	for (int i = 1; i < 2000; i++)
		add(s, bits_f(f_bits(1.0f) + i), 1.0);
}

static void in_atanh(Sweep *s)
{
	add_log(s, 1e-30, 1.0, 150000, true);
	add_log(s, 1e-7, 1.0, 50000, false);
	for (int i = s->n - 50000; i < s->n; i++)
		s->x[i] = 1.0f - s->x[i];
}

static void in_erf(Sweep *s)
{
	add_log(s, 1e-40, 6.0, 100000, true);
	add_lin(s, -6.0, 6.0, 100000);
}

/* x over the float range with y spread so that y log2 x covers the range
 * of results up to overflow and underflow; x next to 1 with huge y;
 * negative x with integer y; subnormal x. */
static void in_pow(Sweep *s)
{
	for (int i = 0; i < 120000; i++) {
		double x = 1e-38 * pow(1e76, uniform(0, 1));
		double l = fabs(log2(x));
		add(s, x, uniform(-1.1, 1.1) * (l > 1e-3 ? 160 / l : 1000));
	}
	for (int i = 0; i < 20000; i++) {
		float x = bits_f(f_bits(1.0f) + (int)(rnd32() % 4000) - 2000);
		double l = fabs(log2(x));
		add(s, x, l > 0 ? uniform(-1.1, 1.1) * 160 / l : 1e30);
	}
	for (int i = 0; i < 30000; i++)
		add(s, -uniform(0.01, 30), (double)((int)(rnd32() % 61) - 30));
	for (int i = 0; i < 10000; i++)
		add(s, 1e-45 * pow(1e7, uniform(0, 1)), uniform(-1.2, 1.2));
	for (int i = 0; i < 20000; i++)
		add(s, uniform(0, 10), uniform(-10, 10));
}

static void in_round(Sweep *s)
{
	for (int i = 0; i < 150000; i++)
		add(s, any_finite(), 1.0);
	add_lin(s, -100, 100, 20000);
	for (int i = -20000; i <= 20000; i++)
		add(s, i + 0.5, 1.0);
	add(s, 8388607.5, 1.0), add(s, -8388607.5, 1.0), add(s, 4194303.5, 1.0), add(s, 8388609.0, 1.0);
	add(s, 0.49999997, 1.0), add(s, -0.49999997, 1.0), add(s, 2.5, 1.0), add(s, -2.5, 1.0);
}

/* Random pairs of any exponents (quotients up to 2^276, subnormals), and
 * pairs within a few binades of each other. */
static void in_fmod(Sweep *s)
{
	for (int i = 0; i < 120000; i++)
		add(s, any_finite(), any_finite());
	for (int i = 0; i < 80000; i++) {
		float x = any_finite();
		add(s, x, x * uniform(-1e-3, 1e-3) + (i & 1 ? FLT_TRUE_MIN : 0));
	}
}

/* Every kind of float: random bit patterns (subnormals, negatives), a
 * dense log sweep, the neighbours of perfect squares (where rounding is
 * decided by the last remainder bit). */
static void in_sqrt(Sweep *s)
{
	for (int i = 0; i < 150000; i++)
		add(s, any_finite(), 0);
	add_log(s, 1e-45, 3e38, 100000, false);
	for (int i = 1; i < 5000; i++) {
		float q = (float)i * (float)i;
		add(s, q, 0), add(s, bits_f(f_bits(q) + 1), 0), add(s, bits_f(f_bits(q) - 1), 0);
	}
}

/* ---- the functions ------------------------------------------------------------ */

static double round_even_ref(double x) { return rint(x); }  /* default mode: ties to even */

typedef struct Fn {
	const char *name;
	double (*ref1)(double);
	double (*ref2)(double, double);
	void (*inputs)(Sweep *);
	bool exact;   /* must match libm bit for bit */
} Fn;

static const Fn fns[] = {
	{"sin", sin, NULL, in_trig, false},      {"cos", cos, NULL, in_trig, false},
	{"tan", tan, NULL, in_trig, false},      {"asin", asin, NULL, in_unit, false},
	{"acos", acos, NULL, in_unit, false},    {"atan", atan, NULL, in_all, false},
	{"sinh", sinh, NULL, in_hyp, false},     {"cosh", cosh, NULL, in_hyp, false},
	{"asinh", asinh, NULL, in_all, false},   {"acosh", acosh, NULL, in_acosh, false},
	{"atanh", atanh, NULL, in_atanh, false}, {"erf", erf, NULL, in_erf, false},
	{"pow", NULL, pow, in_pow, false},       {"round_even", round_even_ref, NULL, in_round, true},
	{"fmod", NULL, fmod, in_fmod, true},
	/* correctly rounded: sqrt in double, rounded to float, is (53 >= 2*24+2) */
	{"sqrt_soft", sqrt, NULL, in_sqrt, true},
};
#define NFNS (int)(sizeof fns / sizeof fns[0])

static double ref_of(const Fn *f, float x, float y) { return f->ref1 ? f->ref1(x) : f->ref2(x, y); }

static CgMathJit *jit(const char *name, int lanes, const char *cpu, char **ir)
{
	char *err = NULL;
	CgMathJit *j = cg_math_jit(name, lanes, cpu, ir, &err);
	ck_assert_msg(j, "%s: %s", name, err ? err : "?");
	return j;
}

/* Runs a kernel over the sweep; n is padded to whole vectors. */
static float *run(CgMathFn fn, int lanes, const Sweep *s)
{
	int n = (s->n + VLANES - 1) / VLANES * VLANES;
	float *x = calloc(n, sizeof *x), *y = calloc(n, sizeof *y), *out = calloc(n, sizeof *out);
	ck_assert(x && y && out);
	memcpy(x, s->x, s->n * sizeof *x);
	memcpy(y, s->y, s->n * sizeof *y);
	for (int i = 0; i < n; i += lanes)
		fn(x + i, y + i, out + i);
	free(x);
	free(y);
	return out;
}

/* Relative error of got against the double result ref; 0 when both are the
 * same special or got is within one subnormal step (underflowed results
 * cannot do better); inf when got is the wrong kind of value.  Past the
 * float range both count as 2^128 (where rounding to inf starts for
 * sure), so a result rounded across FLT_MAX costs only its distance. */
static double rel_err(float got, double ref)
{
	if (isnan(ref))
		return isnan(got) ? 0 : INFINITY;
	if (isinf(ref) || isnan(got))
		return got == ref ? 0 : INFINITY;
	double g = isinf(got) ? copysign(0x1p128, got) : got;
	ref = fabs(ref) > 0x1p128 ? copysign(0x1p128, ref) : ref;
	double d = fabs(g - ref);
	if (d <= FLT_TRUE_MIN)
		return 0;
	return d / fabs(ref);
}

typedef struct Result {
	double max_rel;
	float worst_x, worst_y, worst_got;
	int bad;   /* points over the bound (or not bit-exact for exact functions) */
} Result;

static Result measure(const Fn *f, const Sweep *s, const float *out)
{
	Result r = {0};
	for (int i = 0; i < s->n; i++) {
		double ref = ref_of(f, s->x[i], s->y[i]);
		double e = rel_err(out[i], ref);
		bool bad = e > BOUND;
		if (f->exact && !isnan(ref))
			bad = f_bits(out[i]) != f_bits((float)ref);
		if (e > r.max_rel || (bad && !r.bad)) {
			r.max_rel = e > r.max_rel ? e : r.max_rel;
			r.worst_x = s->x[i], r.worst_y = s->y[i], r.worst_got = out[i];
		}
		r.bad += bad;
	}
	return r;
}

static void check_result(const Fn *f, const char *how, Result r)
{
	ck_assert_msg(r.bad == 0, "%s (%s): %d points off, max rel err %.3g at x=%.9g y=%.9g: got %.9g, libm %.9g",
		      f->name, how, r.bad, r.max_rel, r.worst_x, r.worst_y, r.worst_got,
		      ref_of(f, r.worst_x, r.worst_y));
}

/* sin and cos beyond 1e5 promise only finite values in [-1, 1]. */
static void check_far_trig(const Fn *f, CgMathFn fn, int lanes)
{
	if (strcmp(f->name, "sin") && strcmp(f->name, "cos") && strcmp(f->name, "tan"))
		return;
	Sweep s = {0};
	add_log(&s, 1e5, 3.4e38, 4000, true);
	float *out = run(fn, lanes, &s);
	for (int i = 0; i < s.n; i++)
		ck_assert_msg(isfinite(out[i]) && (f->name[0] == 't' || fabsf(out[i]) <= 1.0f), "%s(%g) = %g", f->name,
			      s.x[i], out[i]);
	free(out);
	free(s.x);
	free(s.y);
}

START_TEST(test_accuracy)
{
	const Fn *f = &fns[_i];
	Sweep s = {0};
	f->inputs(&s);
	struct {
		const char *how, *cpu;
		int lanes;
	} runs[3] = {{"scalar", NULL, 1}, {"vector", NULL, VLANES}, {"x86-64 scalar", "x86-64", 1}};
	int nruns = 2;
#if defined(__x86_64__)
	nruns = 3;  /* the baseline cpu has no FMA: fmuladd stays unfused */
#endif
	Result res[3];
	for (int k = 0; k < nruns; k++) {
		CgMathJit *j = jit(f->name, runs[k].lanes, runs[k].cpu, NULL);
		float *out = run(cg_math_jit_fn(j), runs[k].lanes, &s);
		res[k] = measure(f, &s, out);
		check_far_trig(f, cg_math_jit_fn(j), runs[k].lanes);
		free(out);
		cg_math_jit_free(j);
	}
	printf("%-10s %7d points  max rel err: scalar %.3g  vector %.3g", f->name, s.n, res[0].max_rel, res[1].max_rel);
	if (nruns == 3)
		printf("  no-FMA %.3g", res[2].max_rel);
	printf("\n");
	fflush(stdout);
	for (int k = 0; k < nruns; k++)
		check_result(f, runs[k].how, res[k]);
	free(s.x);
	free(s.y);
}
END_TEST

/* ---- special values ------------------------------------------------------------ */

typedef struct Special {
	const char *fn;
	float x, y, want;   /* want NaN: any NaN; otherwise the same value and sign */
} Special;

#define INF INFINITY
static const Special specials[] = {
	{"sqrt_soft", NAN, 0, NAN}, {"sqrt_soft", INF, 0, INF}, {"sqrt_soft", -INF, 0, NAN},
	{"sqrt_soft", -0.0f, 0, -0.0f}, {"sqrt_soft", 0.0f, 0, 0.0f}, {"sqrt_soft", -1e-40f, 0, NAN},
	{"sqrt_soft", -1, 0, NAN}, {"sqrt_soft", FLT_TRUE_MIN, 0, 3.74339207e-23f}, {"sqrt_soft", 4, 0, 2},
	{"sin", NAN, 0, NAN}, {"sin", INF, 0, NAN}, {"sin", -INF, 0, NAN}, {"sin", -0.0f, 0, -0.0f},
	{"sin", 0.0f, 0, 0.0f}, {"sin", -1e-40f, 0, -1e-40f},
	{"cos", NAN, 0, NAN}, {"cos", INF, 0, NAN}, {"cos", -0.0f, 0, 1}, {"cos", 0.0f, 0, 1},
	{"tan", NAN, 0, NAN}, {"tan", -INF, 0, NAN}, {"tan", -0.0f, 0, -0.0f}, {"tan", 1e-40f, 0, 1e-40f},
	{"asin", NAN, 0, NAN}, {"asin", 1.0000001f, 0, NAN}, {"asin", -2, 0, NAN}, {"asin", INF, 0, NAN},
	{"asin", -0.0f, 0, -0.0f}, {"asin", 1, 0, 1.57079637f}, {"asin", -1, 0, -1.57079637f},
	{"acos", NAN, 0, NAN}, {"acos", 1.0000001f, 0, NAN}, {"acos", -INF, 0, NAN}, {"acos", 1, 0, 0.0f},
	{"acos", -1, 0, 3.14159274f}, {"acos", 0, 0, 1.57079637f},
	{"atan", NAN, 0, NAN}, {"atan", INF, 0, 1.57079637f}, {"atan", -INF, 0, -1.57079637f},
	{"atan", -0.0f, 0, -0.0f}, {"atan", 1, 0, 0.785398185f},
	{"sinh", NAN, 0, NAN}, {"sinh", INF, 0, INF}, {"sinh", -INF, 0, -INF}, {"sinh", 90, 0, INF},
	{"sinh", -89.5f, 0, -INF}, {"sinh", -0.0f, 0, -0.0f}, {"sinh", 1e-40f, 0, 1e-40f},
	{"cosh", NAN, 0, NAN}, {"cosh", INF, 0, INF}, {"cosh", -INF, 0, INF}, {"cosh", -90, 0, INF},
	{"cosh", -0.0f, 0, 1}, {"cosh", 0.0f, 0, 1},
	{"asinh", NAN, 0, NAN}, {"asinh", INF, 0, INF}, {"asinh", -INF, 0, -INF}, {"asinh", -0.0f, 0, -0.0f},
	{"acosh", NAN, 0, NAN}, {"acosh", 0.99999994f, 0, NAN}, {"acosh", -2, 0, NAN}, {"acosh", -INF, 0, NAN},
	{"acosh", 1, 0, 0.0f}, {"acosh", INF, 0, INF},
	{"atanh", NAN, 0, NAN}, {"atanh", 1, 0, INF}, {"atanh", -1, 0, -INF}, {"atanh", 1.0000001f, 0, NAN},
	{"atanh", -2, 0, NAN}, {"atanh", INF, 0, NAN}, {"atanh", -0.0f, 0, -0.0f},
	{"erf", NAN, 0, NAN}, {"erf", INF, 0, 1}, {"erf", -INF, 0, -1}, {"erf", -0.0f, 0, -0.0f}, {"erf", 10, 0, 1},
	/* pow: C99 F.9.4.4 */
	{"pow", NAN, 0, 1}, {"pow", NAN, -0.0f, 1}, {"pow", 1, NAN, 1}, {"pow", 1, INF, 1}, {"pow", 1, -INF, 1},
	{"pow", NAN, 1, NAN}, {"pow", 2, NAN, NAN}, {"pow", -1, INF, 1}, {"pow", -1, -INF, 1},
	{"pow", 0.0f, -3, INF}, {"pow", -0.0f, -3, -INF}, {"pow", -0.0f, -2, INF}, {"pow", -0.0f, -0.5f, INF},
	{"pow", -0.0f, -INF, INF}, {"pow", 0.0f, 3, 0.0f}, {"pow", -0.0f, 3, -0.0f}, {"pow", -0.0f, 2, 0.0f},
	{"pow", -0.0f, 0.5f, 0.0f}, {"pow", -0.0f, INF, 0.0f},
	{"pow", 0.5f, -INF, INF}, {"pow", -0.5f, -INF, INF}, {"pow", 2, -INF, 0.0f}, {"pow", -2, -INF, 0.0f},
	{"pow", 0.5f, INF, 0.0f}, {"pow", -0.5f, INF, 0.0f}, {"pow", 2, INF, INF}, {"pow", -2, INF, INF},
	{"pow", -INF, -3, -0.0f}, {"pow", -INF, -2, 0.0f}, {"pow", -INF, -0.5f, 0.0f},
	{"pow", -INF, 3, -INF}, {"pow", -INF, 2, INF}, {"pow", -INF, 0.5f, INF},
	{"pow", INF, -1, 0.0f}, {"pow", INF, 0.5f, INF},
	{"pow", -2, 0.5f, NAN}, {"pow", -2, -1.5f, NAN}, {"pow", -2, 3, -8}, {"pow", -2, -3, -0.125f},
	{"pow", -2, 2, 4}, {"pow", -2, 16777216.0f, INF}, {"pow", -0.5f, 16777217.0f * 2, 0.0f},
	{"pow", 2, 128, INF}, {"pow", 2, -150, 0.0f}, {"pow", 2, -149, 1e-45f}, {"pow", 2, 127, 1.70141183e38f},
	{"pow", 10, 38, 1e38f}, {"pow", 4, 0.5f, 2}, {"pow", 1e-45f, 1, 1e-45f},
	{"round_even", NAN, 0, NAN}, {"round_even", INF, 0, INF}, {"round_even", -INF, 0, -INF},
	{"round_even", -0.0f, 0, -0.0f}, {"round_even", -0.5f, 0, -0.0f}, {"round_even", -0.2f, 0, -0.0f},
	{"round_even", 0.5f, 0, 0.0f}, {"round_even", 1.5f, 0, 2}, {"round_even", 2.5f, 0, 2},
	{"round_even", -3.5f, 0, -4}, {"round_even", 8388607.5f, 0, 8388608.0f}, {"round_even", 3e38f, 0, 3e38f},
	{"fmod", NAN, 1, NAN}, {"fmod", 1, NAN, NAN}, {"fmod", INF, 1, NAN}, {"fmod", 1, 0.0f, NAN},
	{"fmod", 0.0f, 0.0f, NAN}, {"fmod", 1.5f, INF, 1.5f}, {"fmod", -1.5f, -INF, -1.5f}, {"fmod", -0.0f, 2, -0.0f},
	{"fmod", -4, 2, -0.0f}, {"fmod", 4, -2, 0.0f}, {"fmod", -5.5f, 2, -1.5f}, {"fmod", 5.5f, -2, 1.5f},
	{"fmod", 3.4028235e38f, 1e-45f, 0.0f}, {"fmod", 3.4028235e38f, 11, 9}, {"fmod", 1e-45f, 3e-45f, 1e-45f},
};

START_TEST(test_specials)
{
	const Fn *f = &fns[_i];
	for (int lanes = 1; lanes <= VLANES; lanes += VLANES - 1) {
		CgMathJit *j = jit(f->name, lanes, NULL, NULL);
		CgMathFn fn = cg_math_jit_fn(j);
		int n = 0;
		for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
			const Special *sp = &specials[i];
			if (strcmp(sp->fn, f->name))
				continue;
			float x[VLANES], y[VLANES], out[VLANES];
			for (int l = 0; l < VLANES; l++)
				x[l] = sp->x, y[l] = sp->y;
			fn(x, y, out);
			bool ok = isnan(sp->want) ? isnan(out[0]) : f_bits(out[0]) == f_bits(sp->want);
			ck_assert_msg(ok, "%s(%g, %g) = %g, want %g (lanes %d)", f->name, sp->x, sp->y, out[0], sp->want, lanes);
			n++;
		}
		ck_assert_int_gt(n, 0);
		cg_math_jit_free(j);
	}
}
END_TEST

/* ---- nothing to link ------------------------------------------------------------ */

/* Intrinsics that stay instructions (is.fpclass comes from InstCombine
 * merging compares).  llvm.fma would not (x86-64 without FMA calls fmaf),
 * nor would sin, pow, exp, floor, rint, ... */
static bool allowed_call(const char *callee)
{
	static const char *const ok[] = {"llvm.fabs.", "llvm.copysign.", "llvm.fmuladd.", "llvm.sqrt.", "llvm.minnum.",
					 "llvm.maxnum.", "llvm.smin.", "llvm.smax.", "llvm.umin.", "llvm.umax.",
					 "llvm.abs.", "llvm.is.fpclass.", NULL};
	for (int i = 0; ok[i]; i++)
		if (!strncmp(callee, ok[i], strlen(ok[i])))
			return true;
	return false;
}

START_TEST(test_no_calls)
{
	for (int i = 0; i < NFNS; i++) {
		for (int lanes = 1; lanes <= VLANES; lanes += VLANES - 1) {
			char *ir = NULL;
			cg_math_jit_free(jit(fns[i].name, lanes, NULL, &ir));
			ck_assert_ptr_nonnull(ir);
			for (const char *p = strstr(ir, "call "); p; p = strstr(p + 1, "call ")) {
				const char *at = strchr(p, '@');
				ck_assert_ptr_nonnull(at);
				char callee[128];
				size_t len = strcspn(at + 1, "(");
				snprintf(callee, sizeof callee, "%.*s", (int)len, at + 1);
				ck_assert_msg(allowed_call(callee), "%s (lanes %d) calls %s", fns[i].name, lanes, callee);
			}
			ck_assert_ptr_null(strstr(ir, "invoke "));
			free(ir);
		}
	}
	/* The objects themselves, for every target with an FPU (soft-float
	 * targets call the compiler's runtime for every float add). */
	for (const Target *const *t = tgt_all(); *t; t++) {
		if ((*t)->vec_regs == 0)
			continue;
		int lanes = (*t)->vec_bytes / 4 > 1 ? (*t)->vec_bytes / 4 : 1;
		for (int l = 1; l <= lanes; l += lanes > 1 ? lanes - 1 : 1) {
			char *err = NULL;
			char *undef = cg_math_undefined((*t)->triple, (*t)->cpu, (*t)->features, l, &err);
			ck_assert_msg(undef, "%s: %s", (*t)->name, err ? err : "?");
			ck_assert_msg(!*undef, "%s (lanes %d) needs: %s", (*t)->name, l, undef);
			free(undef);
		}
	}
}
END_TEST

static Suite *math_suite(void)
{
	Suite *s = suite_create("math");
	TCase *tc = tcase_create("accuracy");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_accuracy, 0, NFNS);
	tcase_add_loop_test(tc, test_specials, 0, NFNS);
	tcase_add_test(tc, test_no_calls);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(math_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
