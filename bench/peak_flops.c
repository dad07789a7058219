/* One core's FP32 peak: a register-blocked loop of independent vector FMAs,
 * timed; prints the best GFLOP/s of several trials and the vector ISA used.
 * Build: gcc -O3 -march=native peak_flops.c -o peak_flops */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <immintrin.h>

/* 16 accumulators: an FMA has 4-cycle latency on recent x86 and two issue
 * per cycle, so 8 independent chains are the minimum to keep both FMA
 * ports busy; 16 leaves slack and still fits the 16 (AVX2) or 32
 * (AVX-512) vector registers with room for the two operands. */
#define NACC 16

#if defined(__AVX512F__)
#define ISA "AVX-512"
typedef __m512 vec;
#define LANES 16
#define SET1(x) _mm512_set1_ps(x)
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
static float hsum(vec v) { return _mm512_reduce_add_ps(v); }
#elif defined(__AVX2__) && defined(__FMA__)
#define ISA "AVX2+FMA"
typedef __m256 vec;
#define LANES 8
#define SET1(x) _mm256_set1_ps(x)
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
static float hsum(vec v)
{
	float t[8];
	_mm256_storeu_ps(t, v);
	return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
#else
#error "peak_flops.c needs AVX2+FMA or AVX-512 (compile with -march=native on such a CPU)"
#endif

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* iters rounds of NACC independent FMAs acc = acc * a + b.  a slightly
 * below 1 and a tiny b keep every value normal and finite.  The sum is
 * returned so the compiler cannot drop the loop. */
static float kernel(long iters, float a0, float b0)
{
	vec acc[NACC];
	vec a = SET1(a0), b = SET1(b0);
	for (int i = 0; i < NACC; i++)
		acc[i] = SET1(1.0f + i * 1e-3f);
	for (long n = 0; n < iters; n++) {
#pragma GCC unroll 16
		for (int i = 0; i < NACC; i++)
			acc[i] = FMA(acc[i], a, b);
	}
	float s = 0;
	for (int i = 0; i < NACC; i++)
		s += hsum(acc[i]);
	return s;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 20000000;
	int trials = argc > 2 ? atoi(argv[2]) : 7;
	/* volatile: the constants must not be known at compile time. */
	volatile float a0 = 0.99999994f, b0 = 1e-7f;
	double best = 0, sink = 0;
	kernel(iters / 10, a0, b0); /* warm-up: frequency ramp, AVX-512 license */
	for (int t = 0; t < trials; t++) {
		double t0 = now_s();
		sink += kernel(iters, a0, b0);
		double s = now_s() - t0;
		double gflops = 2.0 * NACC * LANES * (double)iters / s * 1e-9;
		if (gflops > best)
			best = gflops;
	}
	printf("%.1f GFLOP/s %s (%d accumulators x %d lanes; checksum %g)\n", best, ISA, NACC, LANES, sink);
	return 0;
}
