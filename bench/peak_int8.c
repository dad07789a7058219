/* One core's peak multiply-accumulates per nanosecond for the inner steps
 * of kiln's x86 kernels, each a register-blocked loop of independent
 * accumulators (operands in registers, no loads), timed:
 *   f32 FMA      vfmadd231ps                         8 MACs / instruction
 *   u8 x s8      vpmaddubsw + vpmaddwd(ones) + vpaddd 32 MACs / 3 (AVX2)
 *   i16 pairs    vpmaddwd + vpaddd                   16 MACs / 2 (AVX2)
 *   VNNI         vpdpbusd                            32 MACs / 1 (when the cpu has AVX-VNNI or AVX512-VNNI+VL)
 * plus the conv tile as cg_int_x86.c emits it (5 channels x 2 vectors of
 * pixels, a broadcast and two vector loads from L1 per k step) for the
 * u8 x s8 and f32 steps.  Issue 12's "ResNet-18 int8 >= 2.5x kiln's float
 * build" is bounded by the ratio of these peaks when both are
 * compute-bound.  Prints the best of several trials.
 * Build: gcc -O2 -mavx2 -mfma peak_int8.c -o peak_int8 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);  /* the machine may be shared */
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* 10 accumulators (ymm0-9): the multiplies are 3-cycle latency, two per
 * cycle on Zen 3, so 10 chains keep them busy with room for operands. */
#define ACC10(op) op(0) op(1) op(2) op(3) op(4) op(5) op(6) op(7) op(8) op(9)

#define FMA1(i) "vfmadd231ps %%ymm14, %%ymm15, %%ymm" #i "\n\t"
static void fma_loop(long n)
{
	__asm__ volatile("vxorps %%ymm14, %%ymm14, %%ymm14\n\tvxorps %%ymm15, %%ymm15, %%ymm15\n\t"
			 "1:\n\t" ACC10(FMA1) "dec %0\n\tjnz 1b" : "+r"(n) : : "memory", "ymm0", "ymm1", "ymm2", "ymm3", "ymm4",
			 "ymm5", "ymm6", "ymm7", "ymm8", "ymm9", "ymm10", "ymm11", "ymm12", "ymm13", "ymm14", "ymm15");
}

/* the product lands in ymm10-12 in turn so that consecutive steps do not
 * share a temporary */
#define UB3(a, b, c) "vpmaddubsw %%ymm14, %%ymm15, %%ymm10\n\tvpmaddwd %%ymm13, %%ymm10, %%ymm10\n\tvpaddd %%ymm10, %%ymm" #a ", %%ymm" #a "\n\t" \
	"vpmaddubsw %%ymm14, %%ymm15, %%ymm11\n\tvpmaddwd %%ymm13, %%ymm11, %%ymm11\n\tvpaddd %%ymm11, %%ymm" #b ", %%ymm" #b "\n\t" \
	"vpmaddubsw %%ymm14, %%ymm15, %%ymm12\n\tvpmaddwd %%ymm13, %%ymm12, %%ymm12\n\tvpaddd %%ymm12, %%ymm" #c ", %%ymm" #c "\n\t"
static void ubs_loop(long n)  /* 9 accumulators a round (3 x UB3) */
{
	__asm__ volatile("vpxor %%ymm14, %%ymm14, %%ymm14\n\tvpxor %%ymm15, %%ymm15, %%ymm15\n\tvpcmpeqw %%ymm13, %%ymm13, %%ymm13\n\t"
			 "1:\n\t" UB3(0, 1, 2) UB3(3, 4, 5) UB3(6, 7, 8) "dec %0\n\tjnz 1b" : "+r"(n) : : "memory", "ymm0", "ymm1",
			 "ymm2", "ymm3", "ymm4", "ymm5", "ymm6", "ymm7", "ymm8", "ymm9", "ymm10", "ymm11", "ymm12", "ymm13", "ymm14",
			 "ymm15");
}

#define WD3(a, b, c) "vpmaddwd %%ymm14, %%ymm15, %%ymm10\n\tvpaddd %%ymm10, %%ymm" #a ", %%ymm" #a "\n\t" \
	"vpmaddwd %%ymm14, %%ymm15, %%ymm11\n\tvpaddd %%ymm11, %%ymm" #b ", %%ymm" #b "\n\t" \
	"vpmaddwd %%ymm14, %%ymm15, %%ymm12\n\tvpaddd %%ymm12, %%ymm" #c ", %%ymm" #c "\n\t"
static void wd_loop(long n)  /* 9 accumulators a round */
{
	__asm__ volatile("vpxor %%ymm14, %%ymm14, %%ymm14\n\tvpxor %%ymm15, %%ymm15, %%ymm15\n\t"
			 "1:\n\t" WD3(0, 1, 2) WD3(3, 4, 5) WD3(6, 7, 8) "dec %0\n\tjnz 1b" : "+r"(n) : : "memory", "ymm0", "ymm1",
			 "ymm2", "ymm3", "ymm4", "ymm5", "ymm6", "ymm7", "ymm8", "ymm9", "ymm10", "ymm11", "ymm12", "ymm14", "ymm15");
}

/* The conv tile's k step from L1: two vectors of packed activations
 * (u8 quads) and five broadcast weight quads, 10 accumulators. */
static void ubs_tile(long n, const uint8_t *x, const int8_t *w)
{
	/* 5 rows: accumulators r (vector 0) and a shared 5 (vector 1) would
	 * be a chain; use 0-4 and 5-9 explicitly */
	__asm__ volatile("vpcmpeqw %%ymm15, %%ymm15, %%ymm15\n\tvpsrlw $15, %%ymm15, %%ymm15\n\t"
			 "1:\n\t"
			 "vmovdqu (%1), %%ymm10\n\tvmovdqu 32(%1), %%ymm11\n\t"
#define TR(r, s) "vpbroadcastd " #r "*4(%2), %%ymm12\n\t" \
	"vpmaddubsw %%ymm12, %%ymm10, %%ymm13\n\tvpmaddwd %%ymm15, %%ymm13, %%ymm13\n\tvpaddd %%ymm13, %%ymm" #r ", %%ymm" #r "\n\t" \
	"vpmaddubsw %%ymm12, %%ymm11, %%ymm14\n\tvpmaddwd %%ymm15, %%ymm14, %%ymm14\n\tvpaddd %%ymm14, %%ymm" #s ", %%ymm" #s "\n\t"
			 TR(0, 5) TR(1, 6) TR(2, 7) TR(3, 8) TR(4, 9)
			 "add $64, %1\n\tadd $20, %2\n\tand $4095, %1\n\tand $4095, %2\n\tor %3, %1\n\tor %4, %2\n\t"
			 "dec %0\n\tjnz 1b"
			 : "+&r"(n), "+&r"(x), "+&r"(w)
			 : "r"((uintptr_t)x), "r"((uintptr_t)w)
			 : "memory", "ymm0", "ymm1", "ymm2", "ymm3", "ymm4", "ymm5", "ymm6", "ymm7", "ymm8", "ymm9", "ymm10", "ymm11",
			   "ymm12", "ymm13", "ymm14", "ymm15");
}

/* kiln's float conv tile shape, for comparison: 2 vectors of 8 pixels x
 * 6 channels (12 accumulators), a broadcast each. */
static void fma_tile(long n, const float *x, const float *w)
{
	__asm__ volatile("1:\n\t"
			 "vmovups (%1), %%ymm12\n\tvmovups 32(%1), %%ymm13\n\t"
#define FR(r, s) "vbroadcastss " #r "*4(%2), %%ymm14\n\tvfmadd231ps %%ymm14, %%ymm12, %%ymm" #r "\n\tvfmadd231ps %%ymm14, %%ymm13, %%ymm" #s "\n\t"
			 FR(0, 6) FR(1, 7) FR(2, 8) FR(3, 9) FR(4, 10) FR(5, 11)
			 "add $64, %1\n\tadd $24, %2\n\tand $4095, %1\n\tand $4095, %2\n\tor %3, %1\n\tor %4, %2\n\t"
			 "dec %0\n\tjnz 1b"
			 : "+&r"(n), "+&r"(x), "+&r"(w)
			 : "r"((uintptr_t)x), "r"((uintptr_t)w)
			 : "memory", "ymm0", "ymm1", "ymm2", "ymm3", "ymm4", "ymm5", "ymm6", "ymm7", "ymm8", "ymm9", "ymm10", "ymm11",
			   "ymm12", "ymm13", "ymm14");
}

static _Alignas(8192) uint8_t xb[8192];
static _Alignas(8192) int8_t wb[8192];
static _Alignas(8192) float xf[2048];
static _Alignas(8192) float wf[2048];

typedef struct Row { const char *name; double macs_per_iter; int kind; } Row;

static double run(int kind, long n)
{
	double t = now_s();
	switch (kind) {
	case 0: fma_loop(n); break;
	case 1: ubs_loop(n); break;
	case 2: wd_loop(n); break;
	case 3: ubs_tile(n, xb, wb); break;
	case 4: fma_tile(n, xf, wf); break;
	}
	return now_s() - t;
}

int main(void)
{
	/* x and w pointers wrap inside 4 KB-aligned 4 KB blocks (the and/or) */
	memset(xb, 1, sizeof xb), memset(wb, 1, sizeof wb);
	Row rows[] = {
		{"f32 FMA (vfmadd231ps), registers", 10 * 8, 0},
		{"u8 x s8 (vpmaddubsw+vpmaddwd+vpaddd), registers", 9 * 32, 1},
		{"i16 pairs (vpmaddwd+vpaddd), registers", 9 * 16, 2},
		{"u8 x s8 conv tile 5x2 from L1 (kiln AVX2 int8)", 10 * 32, 3},
		{"f32 conv tile 6x2 from L1 (kiln AVX2 float)", 12 * 8, 4},
	};
	long n = 20000000;
	double best[5];
	for (int k = 0; k < 5; k++) {
		best[k] = 1e30;
		for (int trial = 0; trial < 7; trial++) {
			double t = run(rows[k].kind, n);
			best[k] = t < best[k] ? t : best[k];
		}
	}
	for (int k = 0; k < 5; k++)
		printf("%-52s %7.1f GMAC/s  %.2fx f32 FMA\n", rows[k].name, rows[k].macs_per_iter * n / best[k] / 1e9,
		       rows[k].macs_per_iter / best[k] / (rows[0].macs_per_iter / best[0]));
	return 0;
}
