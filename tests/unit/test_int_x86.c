/* Unit tests for codegen/cg_int_x86.c and cg_int_x86_dw.c: the int8
 * conv, gemm and matmul kernels, the depthwise conv and max pool ones and
 * the rescale at its ties, JIT-compiled for this machine (AVX2: as
 * chosen, and forced to vpmaddubsw with the pair-safe split and to
 * vpmaddwd on i16 pairs) and with KILN_INT8_DOT=emulate (the VNNI kernel
 * structure, its dot in plain IR), compared element for element with C
 * written here from docs/ir.md's integer form and ir_requantize, on
 * awkward shapes; and the instructions each ISA path emits, from the
 * assembly for VNNI, AVX-512BW and AVX2 cpus. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen.h"
#include "ir.h"
#include "passes.h"

/* ---- random numbers and the C reference ------------------------------------------- */

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
	rng = rng * 1664525u + 1013904223u;
	return rng >> 8;
}
static int rnd_in(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

/* The saturation bounds of a fused relu or clip (act 0 none, 1 relu, 2
 * clip(cmin, cmax)): the result range narrowed to the quantized bounds. */
static void bounds(DType dt, float s, int32_t z, int act, float cmin, float cmax, int32_t *lo, int32_t *hi)
{
	*lo = dt == DT_I8 ? -128 : dt == DT_I16 ? -32768 : 0;
	*hi = dt == DT_I8 ? 127 : dt == DT_I16 ? 32767 : 255;
	int32_t dlo = *lo, dhi = *hi;
	if (act == 1 && z > *lo)
		*lo = z;
	if (act == 2) {
		double a = z + (double)nearbyintf(cmin / s), b = z + (double)nearbyintf(cmax / s);
		a = a < dlo ? dlo : a > dhi ? dhi : a;
		b = b < dlo ? dlo : b > dhi ? dhi : b;
		*lo = (int32_t)a > *lo ? (int32_t)a : *lo;
		*hi = (int32_t)b < *hi ? (int32_t)b : *hi;
	}
}

static int32_t byte_at(DType dt, const void *p, int64_t i)
{
	return dt == DT_I8 ? ((const int8_t *)p)[i] : dt == DT_I16 ? ((const int16_t *)p)[i] : ((const uint8_t *)p)[i];
}

static void set_act(Attr *a, int *na, int act, float cmin, float cmax)
{
	if (act == 1)
		a[(*na)++] = ir_astr("act", "relu");
	if (act == 2) {
		a[(*na)++] = ir_astr("act", "clip");
		a[(*na)++] = ir_af("act_min", cmin);
		a[(*na)++] = ir_af("act_max", cmax);
	}
}

/* Random weights of dtype dt: big ones (1) break the pair-safe bound
 * (|w_2k| + |w_2k+1| > 128) often, small ones (0, and 2 before
 * plant_pairs) never. */
static void fill_weights(DType dt, void *w, int64_t n, int big, const int32_t *zw, int nz, int64_t per)
{
	for (int64_t i = 0; i < n; i++) {
		int32_t z = zw[nz > 1 ? i / per : 0];
		int v = big == 1 ? rnd_in(-128, 127) : big == 2 ? rnd_in(-40, 40) : rnd_in(-60, 60);
		if (dt == DT_U8) {
			v += z;
			v = v < 0 ? 0 : v > 255 ? 255 : v;
			((uint8_t *)w)[i] = (uint8_t)v;
		} else {
			v += z;
			v = v < -128 ? -128 : v > 127 ? 127 : v;
			((int8_t *)w)[i] = (int8_t)v;
		}
	}
}

/* Weights of the sparse kind (2): small ones with, per channel, one pair
 * of neighbours along K (two channels of one tap, as the conv pack pairs
 * them; two rows of B) set from a list of the pair-safe bound's edges:
 * both extremes of one sign (the correction d = -128 and 126), sums of
 * 128 and 129 either way, opposite signs.  Few enough per channel that
 * the native choice keeps vpmaddubsw with its sparse corrections.  at(m,
 * k) is the index of channel m's element k (i8 weights, zero point 0). */
static const int8_t edge_pairs[][2] = {{127, 127}, {-128, -128}, {64, 65}, {64, 64}, {-64, -65}, {-64, -64},
					{127, 2}, {-128, -1}, {100, -128}, {1, 127}, {-1, -128}, {65, 64}, {-127, -128}};

static void plant_pairs(int8_t *w, int64_t nch, int64_t K, int64_t (*at)(const void *ctx, int64_t m, int64_t k), const void *ctx)
{
	int ne = (int)(sizeof edge_pairs / sizeof edge_pairs[0]);
	for (int64_t m = 0; m < nch && K >= 2; m++) {
		int64_t k = (m * 7) % (K / 2) * 2;
		w[at(ctx, m, k)] = edge_pairs[m % ne][0];
		w[at(ctx, m, k + 1)] = edge_pairs[m % ne][1];
	}
}

static void fill_bytes(DType dt, void *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		if (dt == DT_U8)
			((uint8_t *)x)[i] = (uint8_t)rnd_in(0, 255);
		else
			((int8_t *)x)[i] = (int8_t)rnd_in(-128, 127);
	}
}

/* The fake pool: tasks one after another, last first. */
static void seq_for(void *pool, int n, void (*task)(void *ctx, int i), void *ctx)
{
	(void)pool;
	for (int i = n - 1; i >= 0; i--)
		task(ctx, i);
}

typedef struct KilnPar {
	void (*parallel_for)(void *pool, int n, void (*task)(void *ctx, int i), void *ctx);
	void *pool;
	int nthreads;
} KilnPar;

/* Compile g (planned here) by the JIT under the given KILN_INT8_DOT and
 * run it on x into y (run_parallel with 3 parts when par). */
static void run_graph(Graph *g, const char *dot, bool par, const void *x, void *y)
{
	Diag d;
	diag_init(&d);
	PassCtx cx = {.diag = &d, .ws_align = 64};
	ck_assert(pass_ensure_plan(g, &cx));
	if (dot)
		setenv("KILN_INT8_DOT", dot, 1);
	else
		unsetenv("KILN_INT8_DOT");
	unsetenv("KILN_CG_REFERENCE");
	CgOptions o = {.name = "q", .opt_level = 2};
	CgJit *j = cg_jit_new(g, &o, &d);
	ck_assert_msg(j != NULL, "%s", d.nmsg ? d.msgs[0] : "?");
	void *ws = aligned_alloc(64, g->ws_size ? (size_t)g->ws_size : 64);
	const void *in[1] = {x};
	void *out[1] = {y};
	KilnPar p = {seq_for, NULL, 3};
	if (par)
		ck_assert_int_eq(cg_jit_parallel_fn(j)(in, out, ws, &p), 0);
	else
		ck_assert_int_eq(cg_jit_fn(j)(in, out, ws), 0);
	free(ws);
	cg_jit_free(j);
	unsetenv("KILN_INT8_DOT");
	diag_free(&d);
}

/* Node nd's result becomes the graph's output; run with y poisoned first. */
static void finish_and_run(Graph *g, NodeId nd, Diag *d, const char *dot, bool par, const void *x, void *y, int64_t ny)
{
	ck_assert_msg(nd >= 0, "%s", d->nmsg ? d->msgs[0] : "?");
	ir_mark_output(g, g->nodes.v[nd].out);
	memset(y, 0xAB, (size_t)ny);
	run_graph(g, dot, par, x, y);
}

/* ---- conv -------------------------------------------------------------------------- */

typedef struct ConvCase {
	int N, C, H, W, M, KH, KW, sh, sw, pt, pl, pb, pr, dh, dw;
	DType xt, wt, yt;
	bool per_ch;
	int big;          /* weights: 0 small, 1 big, 2 small with edge pairs (plant_pairs) */
	int act;          /* 0 none, 1 relu, 2 clip */
	int zw;           /* weight zero point (per tensor) */
	bool one_d;       /* rank 3: H must be 1 */
	int G;            /* groups (0: 1) */
} ConvCase;

/* Element k of channel m for plant_pairs: k = (channel, tap) with
 * the channel fastest, so that neighbours are two channels of one tap. */
static int64_t conv_at(const void *ctx, int64_t m, int64_t k)
{
	const int64_t *d = ctx;  /* Cg, taps */
	return (m * d[0] + k % d[0]) * d[1] + k / d[0] % d[1];
}

static void check_conv(const ConvCase *cc, const char *dot, bool par)
{
	int N = cc->N, C = cc->C, H = cc->H, W = cc->W, M = cc->M, KH = cc->KH, KW = cc->KW, G = cc->G ? cc->G : 1;
	int Cg = C / G, Mg = M / G, ysz = cc->yt == DT_I16 ? 2 : 1;
	int OH = (H + cc->pt + cc->pb - cc->dh * (KH - 1) - 1) / cc->sh + 1;
	int OW = (W + cc->pl + cc->pr - cc->dw * (KW - 1) - 1) / cc->sw + 1;
	Graph *g = ir_graph_new("qconv");
	Diag d;
	diag_init(&d);
	float sx = 0.02f, sy = 0.11f, cmin = -0.3f, cmax = 2.5f;
	int32_t zx = cc->xt == DT_U8 ? 7 : -5, zy = cc->yt == DT_U8 ? 100 : -3;
	float *sw = malloc(sizeof(float) * M);
	int32_t *zw = malloc(sizeof(int32_t) * M);
	for (int m = 0; m < M; m++) {
		sw[m] = 0.001f + 0.004f * (float)(rnd() % 100) / 100.0f;
		zw[m] = cc->zw;
	}
	int nq = cc->per_ch ? M : 1;
	int64_t xd[4] = {N, C, H, W}, wd[4] = {M, Cg, KH, KW}, bd[1] = {M}, yd[4] = {N, M, OH, OW};
	if (cc->one_d) {
		xd[2] = W, wd[2] = KW, yd[2] = OW;
	}
	int rank = cc->one_d ? 3 : 4;
	TypeId tx = ir_type(g, cc->xt, rank, xd, ir_quant(g, -1, 1, &sx, &zx));
	TypeId tw = ir_type(g, cc->wt, rank, wd, ir_quant(g, cc->per_ch ? 0 : -1, nq, sw, zw));
	TypeId ty = ir_type(g, cc->yt, rank, yd, ir_quant(g, -1, 1, &sy, &zy));
	int64_t nx = (int64_t)N * C * H * W, nw = (int64_t)M * Cg * KH * KW, ny = (int64_t)N * M * OH * OW;
	void *x = malloc(nx), *w = malloc(nw), *y = malloc(ny * ysz);
	int32_t *b = malloc(sizeof(int32_t) * M);
	fill_bytes(cc->xt, x, nx);
	fill_weights(cc->wt, w, nw, cc->big, zw, nq, (int64_t)Cg * KH * KW);
	if (cc->big == 2) {  /* channels 2j, 2j+1 of tap t */
		int64_t dims[2] = {Cg, (int64_t)KH * KW};
		plant_pairs(w, M, (Cg & ~1) * dims[1], conv_at, dims);
	}
	for (int m = 0; m < M; m++)
		b[m] = rnd_in(-20000, 20000);
	ValueId xv = ir_add_input(g, "x", tx);
	ValueId in[3] = {xv, ir_add_const(g, "w", tw, w), ir_add_const(g, "b", ir_type(g, DT_I32, 1, bd, NULL), b)};
	int64_t st[2] = {cc->sh, cc->sw}, pd[4] = {cc->pt, cc->pl, cc->pb, cc->pr}, dl[2] = {cc->dh, cc->dw};
	int64_t st1[1] = {cc->sw}, pd1[2] = {cc->pl, cc->pr}, dl1[1] = {cc->dw};
	Attr a[8] = {cc->one_d ? ir_aints("strides", st1, 1) : ir_aints("strides", st, 2),
		     cc->one_d ? ir_aints("pads", pd1, 2) : ir_aints("pads", pd, 4),
		     cc->one_d ? ir_aints("dilations", dl1, 1) : ir_aints("dilations", dl, 2), ir_ai("group", G)};
	int na = 4;
	set_act(a, &na, cc->act, cmin, cmax);
	finish_and_run(g, ir_build_as(g, OP_CONV, "qconv", in, 3, a, na, "y", ty, &d), &d, dot, par, x, y, ny * ysz);
	int32_t lo, hi;
	bounds(cc->yt, sy, zy, cc->act, cmin, cmax, &lo, &hi);
	int64_t bad = 0;
	for (int n = 0; n < N; n++)
		for (int m = 0; m < M; m++) {
			Requant rq;
			ck_assert(ir_requant_of((double)sx * sw[cc->per_ch ? m : 0] / sy, &rq));
			for (int oh = 0; oh < OH; oh++)
				for (int ow = 0; ow < OW; ow++) {
					int32_t acc = b[m];
					for (int ci = m / Mg * Cg; ci < (m / Mg + 1) * Cg; ci++)
						for (int kh = 0; kh < KH; kh++)
							for (int kw = 0; kw < KW; kw++) {
								int ih = oh * cc->sh + kh * cc->dh - cc->pt, iw = ow * cc->sw + kw * cc->dw - cc->pl;
								if (ih < 0 || ih >= H || iw < 0 || iw >= W)
									continue;
								int32_t xv2 = byte_at(cc->xt, x, (((int64_t)n * C + ci) * H + ih) * W + iw) - zx;
								int32_t wv = byte_at(cc->wt, w, (((int64_t)m * Cg + ci % Cg) * KH + kh) * KW + kw) - zw[m];
								acc += xv2 * wv;
							}
					int32_t want = ir_requantize(acc, rq, zy, lo, hi);
					int64_t yi = (((int64_t)n * M + m) * OH + oh) * OW + ow;
					int32_t got = byte_at(cc->yt, y, yi);
					if (got != want && bad++ < 5)
						fprintf(stderr, "conv %s n%d m%d (%d,%d): got %d want %d (acc %d)\n", dot ? dot : "native", n, m, oh, ow, got, want, acc);
				}
		}
	ck_assert_msg(bad == 0, "conv C%d %dx%d M%d k%dx%d s%d,%d: %lld of %lld wrong (%s)", C, H, W, M, KH, KW, cc->sh, cc->sw,
		      (long long)bad, (long long)ny, dot ? dot : "native");
	free(x), free(w), free(y), free(b), free(sw), free(zw);
	diag_free(&d);
	ir_graph_free(g);
}

static const ConvCase conv_cases[] = {
	/* N  C   H   W   M  KH KW sh sw pt pl pb pr dh dw  x      w      y      perch  big   act zw */
	{1, 13, 7, 7, 5, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, DT_U8, DT_I8, DT_U8, true, true, 1, 0},     /* 1x1, K % 4 */
	{1, 8, 9, 9, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, DT_I8, DT_I8, DT_U8, false, true, 2, 0},   /* i8 x, clip */
	{1, 3, 11, 13, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, DT_U8, DT_I8, DT_I8, true, true, 0, 0},   /* stride 2, C 3 */
	{1, 3, 23, 23, 8, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, DT_U8, DT_I8, DT_U8, true, true, 1, 0},   /* a stem */
	{2, 16, 10, 10, 11, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, DT_U8, DT_I8, DT_U8, true, false, 0, 0}, /* 1x1 stride 2, batch */
	{1, 1, 5, 5, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, DT_U8, DT_I8, DT_U8, false, true, 0, 0},    /* ones */
	{1, 128, 41, 41, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, DT_U8, DT_I8, DT_U8, true, true, 1, 0}, /* flat, two bands, the last short */
	{1, 64, 31, 31, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, DT_U8, DT_I8, DT_U8, true, true, 1, 0},  /* row bands, the last short */
	{1, 6, 12, 11, 5, 3, 2, 1, 2, 2, 0, 1, 3, 2, 2, DT_I8, DT_I8, DT_I8, true, true, 2, 0},   /* dilation, odd pads */
	{1, 5, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, DT_U8, DT_U8, DT_U8, false, true, 1, 128}, /* u8 weights, z_w 128 */
	{1, 7, 9, 9, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, DT_U8, DT_I8, DT_U8, true, false, 0, 3},   /* z_w != 0 fitting s8 */
	{2, 9, 1, 29, 10, 1, 5, 1, 3, 0, 2, 0, 1, 1, 1, DT_I8, DT_I8, DT_U8, true, true, 1, 0, true}, /* 1-d */
	{1, 4, 3, 3, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, DT_U8, DT_I8, DT_U8, true, true, 0, 0},     /* image < a vector */
	{1, 32, 14, 14, 23, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, DT_U8, DT_I8, DT_U8, true, true, 1, 0}, /* 14x14 */
	{1, 16, 7, 7, 19, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, DT_I8, DT_I8, DT_I8, true, true, 0, 0},   /* 7x7 */
	{1, 8, 5, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, DT_U8, DT_I8, DT_I16, true, true, 1, 0},   /* an i16 result: not bytes */
	/* stems: units over the whole window */
	{1, 2, 13, 30, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, DT_I8, DT_I8, DT_U8, true, true, 1, 0},   /* C 2, i8 */
	{1, 3, 17, 19, 6, 3, 3, 2, 2, 0, 1, 1, 0, 2, 1, DT_U8, DT_I8, DT_U8, true, true, 2, 0},   /* dilation, asymmetric pads */
	{2, 1, 1, 40, 5, 1, 7, 1, 2, 0, 3, 0, 2, 1, 1, DT_U8, DT_I8, DT_I8, true, true, 0, 0, true}, /* 1-d, C 1 */
	{1, 3, 96, 96, 9, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, DT_U8, DT_I8, DT_U8, true, true, 1, 0},   /* ResNet's stem in three bands */
	/* edge pairs (plant_pairs): vpmaddubsw and its sparse corrections natively */
	{1, 32, 9, 10, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, DT_U8, DT_I8, DT_U8, true, 2, 1, 0},      /* 13 channels: a short tile */
	{1, 31, 8, 8, 7, 3, 3, 2, 1, 1, 1, 0, 1, 1, 1, DT_I8, DT_I8, DT_I8, true, 2, 0, 0},       /* C prime, stride 2,1 */
	{1, 96, 7, 9, 29, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, DT_U8, DT_I8, DT_U8, true, 2, 2, 0},      /* flat 1x1 */
	{1, 3, 19, 21, 11, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, DT_U8, DT_I8, DT_U8, true, 2, 1, 0},      /* a stem */
	{1, 24, 7, 9, 203, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, DT_U8, DT_I8, DT_U8, true, 2, 1, 0},     /* >= 40 channel tiles: pixel tiles outside */
	{1, 17, 5, 23, 211, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, DT_I8, DT_I8, DT_I8, true, 1, 0, 0},     /* the same, flat, big weights */
};

/* Depthwise (group = C): cg_int_x86_dw.c. */
static const ConvCase dw_cases[] = {
	/* N  C   H   W   M  KH KW sh sw pt pl pb pr dh dw  x      w      y      perch  big   act zw 1d  G */
	{1, 13, 9, 11, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, DT_U8, DT_I8, DT_U8, true, true, 1, 0, false, 13},   /* C % 8, relu */
	{1, 5, 15, 17, 5, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1, DT_I8, DT_I8, DT_I8, true, true, 2, 0, false, 5},     /* stride 2, odd, asymmetric pads, clip */
	{2, 7, 14, 14, 7, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, DT_U8, DT_I8, DT_U8, true, true, 0, 0, false, 7},     /* 5x5, a row under 2L, batch */
	{1, 6, 7, 7, 6, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, DT_U8, DT_I8, DT_I8, true, true, 1, 0, false, 6},       /* 5x5 stride 2, 4 wide */
	{1, 9, 1, 1, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, DT_I8, DT_I8, DT_U8, true, true, 0, 0, false, 9},       /* 1x1 images */
	{1, 4, 10, 9, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, DT_U8, DT_I8, DT_U8, true, true, 2, 0, false, 4},      /* multiplier 2 */
	{1, 3, 12, 13, 3, 3, 3, 1, 2, 2, 2, 2, 1, 2, 2, DT_U8, DT_U8, DT_U8, false, true, 1, 128, false, 3},  /* dilation 2, u8 weights */
	{1, 11, 1, 37, 11, 1, 3, 1, 1, 0, 1, 0, 1, 1, 1, DT_I8, DT_I8, DT_I8, true, true, 0, 0, true, 11},    /* 1-d */
	{1, 3, 56, 56, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, DT_U8, DT_I8, DT_U8, true, true, 1, 0, false, 3},     /* 56 wide: an overlapping last chunk */
	{1, 2, 400, 261, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, DT_U8, DT_I8, DT_U8, true, true, 0, 0, false, 2},   /* two bands of rows */
	{1, 5, 8, 21, 5, 3, 3, 3, 3, 1, 0, 1, 2, 1, 1, DT_I8, DT_I8, DT_U8, true, false, 0, 3, false, 5},     /* stride 3, z_w 3 */
	{1, 5, 6, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, DT_U8, DT_I8, DT_I16, true, true, 0, 0, false, 5},      /* i16 result: the plain lowering */
	{1, 4, 11, 19, 4, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, DT_U8, DT_I8, DT_U8, true, true, 1, 0, false, 4},     /* dilation 2, stride 1: taps alone */
	{1, 3, 23, 29, 3, 7, 7, 1, 1, 3, 3, 3, 3, 1, 1, DT_I8, DT_I8, DT_I8, true, true, 2, 0, false, 3},     /* 7x7 */
};

START_TEST(conv_native)
{
	check_conv(&conv_cases[_i], NULL, false);
}
END_TEST

START_TEST(conv_emulated_vnni)
{
	check_conv(&conv_cases[_i], "emulate", false);
}
END_TEST

/* AVX2 both ways, whatever the weights would choose. */
START_TEST(conv_maddubs)
{
	check_conv(&conv_cases[_i], "maddubs", false);
}
END_TEST

START_TEST(conv_pairs)
{
	check_conv(&conv_cases[_i], "pairs", false);
}
END_TEST

START_TEST(dw_native)
{
	check_conv(&dw_cases[_i], NULL, false);
}
END_TEST

START_TEST(dw_emulated)
{
	check_conv(&dw_cases[_i], "emulate", false);
}
END_TEST

START_TEST(dw_parts)
{
	check_conv(&dw_cases[_i], NULL, true);
}
END_TEST

/* One band, bands with a short last one, an image smaller than a vector. */
static const int multi_band[] = {2, 6, 7, 12};

START_TEST(conv_parts)
{
	/* three parts, run last first: every band written once, by its owner */
	check_conv(&conv_cases[multi_band[_i]], NULL, true);
}
END_TEST

/* ---- gemm and matmul ------------------------------------------------------------- */

typedef struct GemmCase {
	Op op;
	int rank_a, B0, M, K, N;   /* A [B0,] M x K */
	bool tb, bias, per_col;
	int big;                   /* as ConvCase's */
	DType at, bt, yt;
	int act;
} GemmCase;

/* B's element (k, column m) for plant_pairs. */
static int64_t gemm_at(const void *ctx, int64_t m, int64_t k)
{
	const int64_t *d = ctx;  /* K, N, transposed */
	return d[2] ? m * d[0] + k : k * d[1] + m;
}

static void check_gemm(const GemmCase *gc, const char *dot)
{
	int M = gc->M, K = gc->K, N = gc->N, B0 = gc->rank_a == 3 ? gc->B0 : 1;
	Graph *g = ir_graph_new("qgemm");
	Diag d;
	diag_init(&d);
	float sa = 0.03f, sy = 0.2f, cmin = 0.1f, cmax = 3.0f;
	int32_t za = gc->at == DT_U8 ? 120 : 4, zy = gc->yt == DT_U8 ? 10 : 0;
	float *sb = malloc(sizeof(float) * N);
	int32_t *zb = calloc(N, sizeof(int32_t));
	for (int j = 0; j < N; j++)
		sb[j] = 0.002f + 0.003f * (float)(rnd() % 100) / 100.0f;
	int64_t ad[3] = {B0, M, K}, bd2[2] = {gc->tb ? N : K, gc->tb ? K : N}, cd[1] = {N}, yd[3] = {B0, M, N};
	if (gc->rank_a == 2)
		ad[0] = M, ad[1] = K, yd[0] = M, yd[1] = N;
	int axis = gc->tb ? 0 : 1;
	TypeId ta = ir_type(g, gc->at, gc->rank_a, ad, ir_quant(g, -1, 1, &sa, &za));
	TypeId tbt = ir_type(g, gc->bt, 2, bd2, ir_quant(g, gc->per_col ? axis : -1, gc->per_col ? N : 1, sb, zb));
	TypeId ty = ir_type(g, gc->yt, gc->rank_a, yd, ir_quant(g, -1, 1, &sy, &zy));
	int64_t na_ = (int64_t)B0 * M * K, nb = (int64_t)K * N, ny = (int64_t)B0 * M * N;
	void *a = malloc(na_), *b = malloc(nb), *y = malloc(ny);
	int32_t *cb = malloc(sizeof(int32_t) * N);
	fill_bytes(gc->at, a, na_);
	fill_weights(gc->bt, b, nb, gc->big, zb, 1, nb);
	if (gc->big == 2) {
		int64_t dims[3] = {K, N, gc->tb};
		plant_pairs(b, N, K, gemm_at, dims);
	}
	for (int j = 0; j < N; j++)
		cb[j] = rnd_in(-5000, 5000);
	ValueId in[3] = {ir_add_input(g, "a", ta), ir_add_const(g, "b", tbt, b),
			 ir_add_const(g, "c", ir_type(g, DT_I32, 1, cd, NULL), cb)};
	Attr at[8];
	int nat = 0;
	if (gc->op == OP_GEMM) {
		at[nat++] = ir_af("alpha", 1);
		at[nat++] = ir_af("beta", 1);
		at[nat++] = ir_ai("trans_a", 0);
		at[nat++] = ir_ai("trans_b", gc->tb);
	} else if (gc->tb)
		at[nat++] = ir_ai("trans_b", 1);
	set_act(at, &nat, gc->act, cmin, cmax);
	finish_and_run(g, ir_build_as(g, gc->op, "qmm", in, gc->op == OP_GEMM && gc->bias ? 3 : 2, at, nat, "y", ty, &d), &d,
		       dot, false, a, y, ny);
	int32_t lo, hi;
	bounds(gc->yt, sy, zy, gc->act, cmin, cmax, &lo, &hi);
	int64_t bad = 0;
	for (int r = 0; r < B0 * M; r++)
		for (int j = 0; j < N; j++) {
			Requant rq;
			ck_assert(ir_requant_of((double)sa * sb[gc->per_col ? j : 0] / sy, &rq));
			int32_t acc = gc->op == OP_GEMM && gc->bias ? cb[j] : 0;
			for (int k = 0; k < K; k++)
				acc += (byte_at(gc->at, a, (int64_t)r * K + k) - za) *
				       byte_at(gc->bt, b, gc->tb ? (int64_t)j * K + k : (int64_t)k * N + j);
			int32_t want = ir_requantize(acc, rq, zy, lo, hi), got = byte_at(gc->yt, y, (int64_t)r * N + j);
			if (got != want && bad++ < 5)
				fprintf(stderr, "%s r%d c%d: got %d want %d\n", ir_ops[gc->op].name, r, j, got, want);
		}
	ck_assert_msg(bad == 0, "%s %dx%dx%d: %lld wrong (%s)", ir_ops[gc->op].name, B0 * M, K, N, (long long)bad,
		      dot ? dot : "native");
	free(a), free(b), free(y), free(cb), free(sb), free(zb);
	diag_free(&d);
	ir_graph_free(g);
}

static const GemmCase gemm_cases[] = {
	/* op       rank B0 M   K    N     tb     bias   percol big    a      b      y      act */
	{OP_GEMM, 2, 1, 1, 13, 7, true, true, true, true, DT_U8, DT_I8, DT_U8, 0},     /* a GEMV, K % 4 */
	{OP_GEMM, 2, 1, 5, 64, 33, false, true, false, true, DT_I8, DT_I8, DT_I8, 1},  /* i8 a, relu */
	{OP_GEMM, 2, 1, 11, 100, 17, true, false, true, false, DT_U8, DT_I8, DT_U8, 2},
	{OP_GEMM, 2, 1, 1, 512, 1000, true, true, true, true, DT_U8, DT_I8, DT_U8, 0}, /* ResNet's fc */
	{OP_MATMUL, 3, 2, 3, 29, 19, false, false, true, true, DT_U8, DT_I8, DT_U8, 0},
	{OP_MATMUL, 2, 1, 7, 8, 1, false, false, false, true, DT_I8, DT_I8, DT_U8, 1}, /* N 1 */
	{OP_MATMUL, 2, 1, 2, 1, 5, true, false, true, true, DT_U8, DT_I8, DT_I8, 0},   /* K 1 */
	/* edge pairs: vpmaddubsw and its sparse corrections natively */
	{OP_GEMM, 2, 1, 1, 256, 77, true, true, true, 2, DT_U8, DT_I8, DT_U8, 0},      /* a GEMV, a short tile */
	{OP_GEMM, 2, 1, 9, 131, 40, false, true, true, 2, DT_I8, DT_I8, DT_U8, 1},     /* K prime, rows in two tiles */
	{OP_MATMUL, 3, 3, 5, 96, 23, false, false, true, 2, DT_U8, DT_I8, DT_I8, 2},
};

START_TEST(gemm_native)
{
	check_gemm(&gemm_cases[_i], NULL);
}
END_TEST

START_TEST(gemm_emulated_vnni)
{
	check_gemm(&gemm_cases[_i], "emulate");
}
END_TEST

START_TEST(gemm_maddubs)
{
	check_gemm(&gemm_cases[_i], "maddubs");
}
END_TEST

START_TEST(gemm_pairs)
{
	check_gemm(&gemm_cases[_i], "pairs");
}
END_TEST

/* The rescale at its ties: a gemm with K = 1 over every byte a, weights
 * b[n] in [-3, 3] and scales s_a = 1, s_y = 1, s_b[n] = 2^-1 .. 2^-6 and
 * a few others, so acc = c[n] + (a - z_a) b[n] lands on halves often;
 * every column's shift and multiplier differ (the vectors' per-lane
 * path).  Case 2: multipliers in [0.5, 1) that no acc makes a tie, the
 * shift under 32 (the short rounding, the odd lanes blended from their
 * low halves).  Against ir_requantize. */
START_TEST(requant_ties)
{
	enum { R = 256, N = 19 };
	Graph *g = ir_graph_new("qties");
	Diag d;
	diag_init(&d);
	float sa = 1, sy = 1, sb[N];
	int32_t za = 128, zy = _i ? 3 : 100, zb[N] = {0};
	int8_t b[N];
	int32_t cb[N];
	uint8_t a[R];
	for (int n = 0; n < N; n++) {
		sb[n] = _i == 2 ? 0.51f + 0.0253f * (float)n : n < 6 ? ldexpf(1, -1 - n) : n < 12 ? ldexpf(3, -3 - n) : 0.0007f * (float)(n + 1);
		b[n] = (int8_t)(n % 7 - 3);
		cb[n] = rnd_in(-9, 9);
	}
	for (int r = 0; r < R; r++)
		a[r] = (uint8_t)r;
	int64_t ad[2] = {R, 1}, bd[2] = {1, N}, cd[1] = {N}, yd[2] = {R, N};
	DType yt = _i ? DT_I8 : DT_U8;
	ValueId in[3] = {ir_add_input(g, "a", ir_type(g, DT_U8, 2, ad, ir_quant(g, -1, 1, &sa, &za))),
			 ir_add_const(g, "b", ir_type(g, DT_I8, 2, bd, ir_quant(g, 1, N, sb, zb)), b),
			 ir_add_const(g, "c", ir_type(g, DT_I32, 1, cd, NULL), cb)};
	Attr at[4] = {ir_af("alpha", 1), ir_af("beta", 1), ir_ai("trans_a", 0), ir_ai("trans_b", 0)};
	uint8_t y[R * N];
	finish_and_run(g, ir_build_as(g, OP_GEMM, "qmm", in, 3, at, 4, "y", ir_type(g, yt, 2, yd, ir_quant(g, -1, 1, &sy, &zy)), &d),
		       &d, NULL, false, a, y, R * N);
	int32_t lo, hi;
	bounds(yt, sy, zy, 0, 0, 0, &lo, &hi);
	int64_t bad = 0;
	for (int r = 0; r < R; r++)
		for (int n = 0; n < N; n++) {
			Requant q;
			ck_assert(ir_requant_of((double)sa * sb[n] / sy, &q));
			int32_t want = ir_requantize(cb[n] + (r - za) * b[n], q, zy, lo, hi), got = byte_at(yt, y, (int64_t)r * N + n);
			if (got != want && bad++ < 5)
				fprintf(stderr, "ties a %d col %d: got %d want %d\n", r, n, got, want);
		}
	ck_assert_msg(bad == 0, "%lld wrong at the ties", (long long)bad);
	diag_free(&d);
	ir_graph_free(g);
}
END_TEST

/* ---- add and mul ------------------------------------------------------------------------ */

typedef struct EwCase {
	Op op;
	int64_t ad[4], bd[4];  /* rank 4 result; b's dims broadcast into a's */
	DType at, bt, yt;
	int act;
} EwCase;

/* add as docs/ir.md's integer form: (x - z) << 20 rescaled by s / (2 max
 * s_a s_b), the sum by 2 max / (2^20 s_y); mul: (a - z_a)(b - z_b) by
 * s_a s_b / s_y.  The plain lowering's loops, merged where the operands
 * walk alike, through the loop vectorizer. */
static void check_ew(const EwCase *ec)
{
	Graph *g = ir_graph_new("qew");
	Diag d;
	diag_init(&d);
	float sa = 0.031f, sb = 0.017f, sy = ec->op == OP_ADD ? 0.043f : 0.0041f, cmin = -0.2f, cmax = 2.0f;
	int32_t za = ec->at == DT_U8 ? 131 : -7, zb = ec->bt == DT_U8 ? 119 : 5, zy = ec->yt == DT_U8 ? 77 : -2;
	int64_t na = ec->ad[0] * ec->ad[1] * ec->ad[2] * ec->ad[3], nb = ec->bd[0] * ec->bd[1] * ec->bd[2] * ec->bd[3];
	void *a = malloc(na), *b = malloc(nb), *y = malloc(na);
	fill_bytes(ec->at, a, na);
	fill_bytes(ec->bt, b, nb);
	ValueId in[2] = {ir_add_input(g, "a", ir_type(g, ec->at, 4, ec->ad, ir_quant(g, -1, 1, &sa, &za))),
			 ir_add_const(g, "b", ir_type(g, ec->bt, 4, ec->bd, ir_quant(g, -1, 1, &sb, &zb)), b)};
	Attr at[3];
	int nat = 0;
	set_act(at, &nat, ec->act, cmin, cmax);
	finish_and_run(g, ir_build_as(g, ec->op, "qew", in, 2, at, nat, "y", ir_type(g, ec->yt, 4, ec->ad, ir_quant(g, -1, 1, &sy, &zy)), &d),
		       &d, NULL, false, a, y, na);
	int32_t lo, hi;
	bounds(ec->yt, sy, zy, ec->act, cmin, cmax, &lo, &hi);
	double smax2 = 2 * fmax(sa, sb);
	Requant qa, qb, qy, qm;
	ck_assert(ir_requant_of(sa / smax2, &qa) && ir_requant_of(sb / smax2, &qb));
	ck_assert(ir_requant_of(smax2 / ((double)(1 << 20) * sy), &qy) && ir_requant_of((double)sa * sb / sy, &qm));
	int64_t bad = 0, i = 0;
	for (int64_t i0 = 0; i0 < ec->ad[0]; i0++)
		for (int64_t i1 = 0; i1 < ec->ad[1]; i1++)
			for (int64_t i2 = 0; i2 < ec->ad[2]; i2++)
				for (int64_t i3 = 0; i3 < ec->ad[3]; i3++, i++) {
					const int64_t *bd = ec->bd;
					int64_t bi = ((i0 % bd[0] * bd[1] + i1 % bd[1]) * bd[2] + i2 % bd[2]) * bd[3] + i3 % bd[3];
					int32_t va = byte_at(ec->at, a, i) - za, vb = byte_at(ec->bt, b, bi) - zb, want;
					if (ec->op == OP_ADD)
						want = ir_requantize(ir_requantize(va * (1 << 20), qa, 0, INT32_MIN, INT32_MAX) +
									     ir_requantize(vb * (1 << 20), qb, 0, INT32_MIN, INT32_MAX), qy, zy, lo, hi);
					else
						want = ir_requantize(va * vb, qm, zy, lo, hi);
					int32_t got = byte_at(ec->yt, y, i);
					if (got != want && bad++ < 5)
						fprintf(stderr, "%s element %lld: got %d want %d\n", ir_ops[ec->op].name, (long long)i, got, want);
				}
	ck_assert_msg(bad == 0, "%s: %lld of %lld wrong", ir_ops[ec->op].name, (long long)bad, (long long)na);
	free(a), free(b), free(y);
	diag_free(&d);
	ir_graph_free(g);
}

static const EwCase ew_cases[] = {
	{OP_ADD, {1, 160, 7, 7}, {1, 160, 7, 7}, DT_U8, DT_U8, DT_U8, 0},   /* same shape, 7x7 planes */
	{OP_ADD, {2, 13, 5, 3}, {1, 13, 1, 1}, DT_I8, DT_I8, DT_U8, 1},     /* per channel, relu, i8 -> u8 */
	{OP_ADD, {1, 3, 11, 9}, {1, 1, 1, 1}, DT_U8, DT_U8, DT_I8, 2},      /* a scalar, clip, u8 -> i8 */
	{OP_ADD, {1, 5, 7, 33}, {1, 1, 7, 1}, DT_U8, DT_U8, DT_U8, 0},      /* along H only */
	{OP_MUL, {1, 19, 14, 14}, {1, 19, 1, 1}, DT_U8, DT_U8, DT_U8, 0},   /* per channel (a squeeze-excite) */
	{OP_MUL, {3, 1, 1, 37}, {3, 1, 1, 37}, DT_I8, DT_I8, DT_I8, 1},     /* same shape, relu */
};

START_TEST(ew_native)
{
	check_ew(&ew_cases[_i]);
}
END_TEST

/* ---- max pool ------------------------------------------------------------------------ */

typedef struct PoolCase {
	int N, C, H, W, KH, KW, sh, sw, pt, pl, pb, pr, dh, dw;
	bool ceil, one_d;
	DType dt;
} PoolCase;

/* ONNX's output size along one dim (with ceil_mode a last window must start
 * inside x or its begin pad). */
static int pool_out(int in, int k, int s, int d, int p0, int p1, bool ceil)
{
	int span = in + p0 + p1 - ((k - 1) * d + 1), o = (ceil ? (span + s - 1) / s : span / s) + 1;
	return ceil && (o - 1) * s >= in + p0 ? o - 1 : o;
}

/* The largest of the taps inside x, the dtype's least when none is. */
static void check_pool(const PoolCase *pc, const char *dot, bool par)
{
	int N = pc->N, C = pc->C, H = pc->H, W = pc->W, KH = pc->KH, KW = pc->KW;
	int OH = pool_out(H, KH, pc->sh, pc->dh, pc->pt, pc->pb, pc->ceil), OW = pool_out(W, KW, pc->sw, pc->dw, pc->pl, pc->pr, pc->ceil);
	Graph *g = ir_graph_new("qpool");
	Diag d;
	diag_init(&d);
	float sx = 0.05f;
	int32_t zx = pc->dt == DT_U8 ? 9 : -4;
	int64_t xd[4] = {N, C, H, W}, nx = (int64_t)N * C * H * W, ny = (int64_t)N * C * OH * OW;
	int64_t k2[2] = {KH, KW}, st[2] = {pc->sh, pc->sw}, pd[4] = {pc->pt, pc->pl, pc->pb, pc->pr}, dl[2] = {pc->dh, pc->dw};
	int64_t k1[1] = {KW}, st1[1] = {pc->sw}, pd1[2] = {pc->pl, pc->pr}, dl1[1] = {pc->dw};
	if (pc->one_d)
		xd[2] = W;
	void *x = malloc(nx), *y = malloc(ny);
	fill_bytes(pc->dt, x, nx);
	ValueId xv = ir_add_input(g, "x", ir_type(g, pc->dt, pc->one_d ? 3 : 4, xd, ir_quant(g, -1, 1, &sx, &zx)));
	Attr a[5] = {pc->one_d ? ir_aints("kernel", k1, 1) : ir_aints("kernel", k2, 2),
		     pc->one_d ? ir_aints("strides", st1, 1) : ir_aints("strides", st, 2),
		     pc->one_d ? ir_aints("pads", pd1, 2) : ir_aints("pads", pd, 4),
		     pc->one_d ? ir_aints("dilations", dl1, 1) : ir_aints("dilations", dl, 2), ir_ai("ceil_mode", pc->ceil)};
	finish_and_run(g, ir_build(g, OP_MAXPOOL, "qpool", &xv, 1, a, 5, "y", &d), &d, dot, par, x, y, ny);
	int64_t bad = 0;
	for (int p = 0; p < N * C; p++)
		for (int oh = 0; oh < OH; oh++)
			for (int ow = 0; ow < OW; ow++) {
				int32_t want = pc->dt == DT_I8 ? -128 : 0;
				for (int kh = 0; kh < KH; kh++)
					for (int kw = 0; kw < KW; kw++) {
						int ih = oh * pc->sh + kh * pc->dh - pc->pt, iw = ow * pc->sw + kw * pc->dw - pc->pl;
						if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
							int32_t v = byte_at(pc->dt, x, ((int64_t)p * H + ih) * W + iw);
							want = v > want ? v : want;
						}
					}
				int32_t got = byte_at(pc->dt, y, ((int64_t)p * OH + oh) * OW + ow);
				if (got != want && bad++ < 5)
					fprintf(stderr, "maxpool plane %d (%d,%d): got %d want %d\n", p, oh, ow, got, want);
			}
	ck_assert_msg(bad == 0, "maxpool %dx%d k%dx%d s%d,%d: %lld of %lld wrong", H, W, KH, KW, pc->sh, pc->sw, (long long)bad,
		      (long long)ny);
	free(x), free(y);
	diag_free(&d);
	ir_graph_free(g);
}

static const PoolCase pool_cases[] = {
	/* N  C   H    W  KH KW sh sw pt pl pb pr dh dw ceil   1d     dt */
	{1, 5, 112, 112, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false, false, DT_U8},  /* ResNet's, 56 wide */
	{2, 3, 9, 9, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, false, false, DT_I8},      /* odd, floor */
	{1, 4, 9, 11, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1, true, false, DT_I8},      /* ceil, asymmetric pads */
	{1, 3, 13, 13, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, false, false, DT_U8},    /* dilation 2 */
	{1, 7, 1, 45, 1, 3, 1, 2, 0, 1, 0, 1, 1, 1, false, true, DT_U8},      /* 1-d */
	{1, 2, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false, false, DT_I8},      /* smaller than a chunk */
	{1, 3, 71, 35, 5, 3, 3, 3, 2, 1, 2, 1, 1, 1, true, false, DT_U8},     /* stride 3, ceil */
};

START_TEST(pool_native)
{
	check_pool(&pool_cases[_i], NULL, false);
}
END_TEST

/* The AVX-512 structure (16 lanes) in plain IR, on any x86. */
START_TEST(pool_emulated)
{
	check_pool(&pool_cases[_i], "emulate", false);
}
END_TEST

START_TEST(pool_parts)
{
	check_pool(&pool_cases[_i], NULL, true);
}
END_TEST

/* ---- which instructions each ISA path emits ------------------------------------------ */

static char *graph_asm(Graph *g, const char *cpu);

/* Assembly of a small quantized conv for cpu (x86_64 target), its
 * weights big (pair-unsafe often) or small (pair-safe). */
static char *asm_for(const char *cpu, bool big)
{
	Graph *g = ir_graph_new("qasm");
	Diag d;
	diag_init(&d);
	float sx = 0.02f, sw = 0.003f, sy = 0.1f;
	int32_t z = 0;
	int64_t xd[4] = {1, 16, 8, 8}, wd[4] = {8, 16, 3, 3}, yd[4] = {1, 8, 8, 8};
	int8_t w[8 * 16 * 9];
	for (int i = 0; i < 8 * 16 * 9; i++)
		w[i] = (int8_t)(big ? rnd_in(-128, 127) : rnd_in(-60, 60));
	ValueId in[2] = {ir_add_input(g, "x", ir_type(g, DT_U8, 4, xd, ir_quant(g, -1, 1, &sx, &z))),
			 ir_add_const(g, "w", ir_type(g, DT_I8, 4, wd, ir_quant(g, -1, 1, &sw, &z)), w)};
	int64_t st[2] = {1, 1}, pd[4] = {1, 1, 1, 1}, dl[2] = {1, 1};
	Attr a[4] = {ir_aints("strides", st, 2), ir_aints("pads", pd, 4), ir_aints("dilations", dl, 2), ir_ai("group", 1)};
	NodeId nd = ir_build_as(g, OP_CONV, "qconv", in, 2, a, 4, "y", ir_type(g, DT_U8, 4, yd, ir_quant(g, -1, 1, &sy, &z)), &d);
	ck_assert_int_ge(nd, 0);
	ir_mark_output(g, g->nodes.v[nd].out);
	diag_free(&d);
	return graph_asm(g, cpu);
}

/* The assembly of g (planned, then freed here) compiled for cpu. */
static char *graph_asm(Graph *g, const char *cpu)
{
	Diag d;
	diag_init(&d);
	PassCtx cx = {.diag = &d, .ws_align = 64};
	ck_assert(pass_ensure_plan(g, &cx));
	char path[] = "/tmp/kiln_int_x86_XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	unsetenv("KILN_INT8_DOT");
	CgOptions o = {.name = "q", .target = tgt_find("x86_64-linux-gnu"), .cpu = cpu, .opt_level = 2};
	ck_assert_msg(cg_emit(g, &o, EMIT_ASM, path, &d), "%s", d.nmsg ? d.msgs[0] : "?");
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = calloc((size_t)len + 1, 1);
	ck_assert_int_eq((long)fread(s, 1, (size_t)len, f), len);
	fclose(f);
	unlink(path);
	diag_free(&d);
	ir_graph_free(g);
	return s;
}

START_TEST(asm_vnni)
{
	/* AVX-512 VNNI (512-bit), AVX-VNNI (the VEX form), Zen 4, AVX2 both
	 * ways, AVX-512BW. */
	char *s = asm_for("icelake-server", true);
	ck_assert_msg(strstr(s, "vpdpbusd") && strstr(s, "zmm"), "no 512-bit vpdpbusd for icelake-server");
	ck_assert_ptr_null(strstr(s, "vpmaddubsw"));
	free(s);
	s = asm_for("alderlake", true);
	ck_assert_msg(strstr(s, "{vex}\tvpdpbusd") || strstr(s, "{vex} vpdpbusd"), "no AVX-VNNI vpdpbusd for alderlake");
	free(s);
	s = asm_for("znver4", true);
	ck_assert_msg(strstr(s, "vpdpbusd"), "no vpdpbusd for znver4");
	free(s);
	s = asm_for("haswell", false);  /* pair-safe weights: vpmaddubsw */
	ck_assert_msg(strstr(s, "vpmaddubsw") && strstr(s, "vpmaddwd"), "no vpmaddubsw/vpmaddwd for haswell");
	ck_assert_ptr_null(strstr(s, "vpdpbusd"));
	free(s);
	s = asm_for("haswell", true);  /* many unsafe pairs: vpmaddwd on i16 pairs alone */
	ck_assert_msg(strstr(s, "vpmaddwd") && !strstr(s, "vpmaddubsw"), "not the i16 pairs for haswell's unsafe weights");
	free(s);
	s = asm_for("skylake-avx512", false);  /* AVX-512BW, no VNNI */
	ck_assert_msg(strstr(s, "vpmaddubsw") && strstr(s, "zmm"), "no 512-bit vpmaddubsw for skylake-avx512");
	free(s);
}
END_TEST

/* A depthwise 3x3 conv and a max pool 3x3/2 of 8-bit values for cpu. */
static char *dw_asm(const char *cpu, bool pool)
{
	Graph *g = ir_graph_new("qdw");
	Diag d;
	diag_init(&d);
	float sx = 0.02f, sw = 0.01f, sy = 0.1f;
	int32_t z = 0;
	int64_t xd[4] = {1, 8, 20, 20}, wd[4] = {8, 1, 3, 3}, st[2] = {1, 1}, s2[2] = {2, 2}, pd[4] = {1, 1, 1, 1}, k3[2] = {3, 3};
	int8_t w[8 * 9];
	for (int i = 0; i < 8 * 9; i++)
		w[i] = (int8_t)rnd_in(-128, 127);
	ValueId xv = ir_add_input(g, "x", ir_type(g, DT_U8, 4, xd, ir_quant(g, -1, 1, &sx, &z)));
	NodeId nd;
	if (pool) {
		Attr a[5] = {ir_aints("kernel", k3, 2), ir_aints("strides", s2, 2), ir_aints("pads", pd, 4), ir_aints("dilations", st, 2),
			     ir_ai("ceil_mode", 0)};
		nd = ir_build(g, OP_MAXPOOL, "qpool", &xv, 1, a, 5, "y", &d);
	} else {
		ValueId in[2] = {xv, ir_add_const(g, "w", ir_type(g, DT_I8, 4, wd, ir_quant(g, -1, 1, &sw, &z)), w)};
		Attr a[4] = {ir_aints("strides", st, 2), ir_aints("pads", pd, 4), ir_aints("dilations", st, 2), ir_ai("group", 8)};
		nd = ir_build_as(g, OP_CONV, "qdw", in, 2, a, 4, "y", ir_type(g, DT_U8, 4, xd, ir_quant(g, -1, 1, &sy, &z)), &d);
	}
	ck_assert_msg(nd >= 0, "%s", d.nmsg ? d.msgs[0] : "?");
	ir_mark_output(g, g->nodes.v[nd].out);
	diag_free(&d);
	return graph_asm(g, cpu);
}

START_TEST(asm_dw)
{
	/* the kernels' tables and instructions, AVX2 and AVX-512BW: vpmaddwd
	 * and the rescale's vpmuldq; vpmaxub */
	const char *cpus[] = {"znver3", "skylake-avx512"};
	for (int i = 0; i < 2; i++) {
		char *s = dw_asm(cpus[i], false);
		ck_assert_msg(strstr(s, "kiln.dw_w") && strstr(s, "vpmaddwd") && strstr(s, "vpmuldq"), "no depthwise kernel for %s", cpus[i]);
		ck_assert_msg(!i || strstr(s, "zmm"), "no 512-bit depthwise kernel for %s", cpus[i]);
		free(s);
		s = dw_asm(cpus[i], true);
		ck_assert_msg(strstr(s, "vpmaxub"), "no max pool kernel for %s", cpus[i]);
		free(s);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("int_x86");
	TCase *tc = tcase_create("int8");
	tcase_set_timeout(tc, 300);
	int nc = (int)(sizeof conv_cases / sizeof conv_cases[0]), ng = (int)(sizeof gemm_cases / sizeof gemm_cases[0]);
	tcase_add_loop_test(tc, conv_native, 0, nc);
	tcase_add_loop_test(tc, conv_emulated_vnni, 0, nc);
	tcase_add_loop_test(tc, conv_maddubs, 0, nc);
	tcase_add_loop_test(tc, conv_pairs, 0, nc);
	tcase_add_loop_test(tc, conv_parts, 0, (int)(sizeof multi_band / sizeof multi_band[0]));
	int nd = (int)(sizeof dw_cases / sizeof dw_cases[0]);
	tcase_add_loop_test(tc, dw_native, 0, nd);
	tcase_add_loop_test(tc, dw_emulated, 0, nd);
	tcase_add_loop_test(tc, dw_parts, 0, nd);
	tcase_add_loop_test(tc, gemm_native, 0, ng);
	tcase_add_loop_test(tc, gemm_emulated_vnni, 0, ng);
	tcase_add_loop_test(tc, gemm_maddubs, 0, ng);
	tcase_add_loop_test(tc, gemm_pairs, 0, ng);
	tcase_add_loop_test(tc, requant_ties, 0, 3);
	tcase_add_loop_test(tc, ew_native, 0, (int)(sizeof ew_cases / sizeof ew_cases[0]));
	tcase_add_test(tc, asm_vnni);
	tcase_add_test(tc, asm_dw);
	int np = (int)(sizeof pool_cases / sizeof pool_cases[0]);
	tcase_add_loop_test(tc, pool_native, 0, np);
	tcase_add_loop_test(tc, pool_emulated, 0, np);
	tcase_add_loop_test(tc, pool_parts, 0, np);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(suite());
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
