/* The register-blocked convolution kernels: direct convolution over
 * packed weights (any groups, row-major or channel-blocked operands) and
 * 1x1 convolution as a packed matrix product.  Their tiling is described
 * above each; both are checked against the reference conv lowering
 * (cg_conv.c) by tests/e2e/test_kernels.py. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* The blocked direct convolution.  Weights are packed per group into
 * [ob][kh][kw][ic][OB] with OB = 2 vectors of output channels (zero
 * padded); a tile of T output columns keeps 2*T vector accumulators in
 * registers; each (kh, kw, ic) step is 2 vector loads, T broadcasts and
 * 2*T FMAs. */
#define CONV_TMAX 14

typedef struct ConvK {
	Geo g;
	int64_t Cg, Mg, NOB, OB;
	LLVMValueRef X, Wp, Bp, Y;
	LLVMValueRef R;       /* fused residual, or NULL */
	Act act;              /* fused activation */
	int xb, yb;           /* channel blocks of the input and the result (and residual): 0 or lanes */
	LLVMValueRef n, grp;  /* current batch and group */
	int T;                /* widest tile, in output columns */
	LLVMValueRef acc[CONV_TMAX][2];
	LLVMValueRef spill;           /* CONV_TMAX * 2 vectors of floats, for the epilogue */
} ConvK;

/* Packed weights stream through the inner loop once per tile, too many
 * to stay in L1 (ResNet's last stage: 590 KB per channel block): fetch
 * them CONV_PF_AHEAD steps ahead (measured on ResNet-18 at 8, 16, 32 and
 * 64 steps; 32, 4 KB, was fastest). */
#define CONV_PF_AHEAD 32

static void conv_prefetch_w(Cg *c, ConvK *k, LLVMValueRef wo)
{
	for (int v = 0; v < 2; v++)
		cg_prefetch(c, cg_gep(c, c->f32, k->Wp, cg_add(c, wo, cg_i64(c, CONV_PF_AHEAD * k->OB + v * c->lanes))));
}

/* The input-channel loop of a tile: ic over [0, Cg), and in *xoff the
 * offset of channel ic from channel 0 at one pixel: planes apart, or in
 * channel blocks of b, (ic / b) * H*W*b + ic % b = ic + (ic / b) * (H*W - 1)*b
 * (one loop either way: two nested ones made the IR, and the compile
 * time, a third larger). */
static LLVMValueRef ic_begin(Cg *c, ConvK *k, Loop *l, LLVMValueRef *xoff)
{
	int64_t HW = k->g.H * k->g.W;
	LLVMValueRef ic = cg_loop_begin(c, l, cg_i64(c, 0), cg_i64(c, k->Cg));
	if (!k->xb)
		*xoff = cg_mul(c, ic, cg_i64(c, HW));
	else {
		LLVMValueRef blk = LLVMBuildLShr(c->b, ic, cg_i64(c, __builtin_ctz((unsigned)k->xb)), "");
		*xoff = cg_add(c, ic, cg_mul(c, blk, cg_i64(c, (HW - 1) * k->xb)));
	}
	return ic;
}

/* The taps of a checked tile whose columns (and, unless one_row, rows)
 * are compile-time constants: the column loop is unrolled, so which
 * pixels read padding is known per tap; those pixels skip the tap, and
 * the others read at constant offsets from one pointer.  (The generic
 * checked tile selects a pointer and a stride per pixel, which for a
 * dozen pixels leaves too few general registers in the inner loop.) */
static void conv_taps_const(Cg *c, ConvK *k, LLVMValueRef ob, LLVMValueRef *oh, LLVMValueRef *ow, int T, bool one_row)
{
	Geo *g = &k->g;
	int L = c->lanes;
	int64_t coh[CONV_TMAX], cow[CONV_TMAX];
	for (int j = 0; j < T; j++) {
		cow[j] = LLVMConstIntGetSExtValue(ow[j]);
		coh[j] = one_row ? 0 : LLVMConstIntGetSExtValue(oh[j]);
	}
	int64_t px = k->xb ? k->xb : 1;  /* input pixel stride */
	LLVMValueRef plane = cg_mul(c, cg_add(c, cg_mul(c, k->n, cg_i64(c, g->C)), cg_mul(c, k->grp, cg_i64(c, k->Cg))), cg_i64(c, g->H * g->W));
	LLVMValueRef wblk = cg_mul(c, cg_add(c, cg_mul(c, k->grp, cg_i64(c, k->NOB)), ob), cg_i64(c, g->KH));
	for (int64_t ckh = 0; ckh < (one_row ? 1 : g->KH); ckh++) {
		Loop lkh;
		LLVMValueRef kh = cg_i64(c, ckh), xrow = cg_gep(c, c->f32, k->X, plane);
		LLVMBasicBlockRef endh = NULL;
		if (one_row) {  /* a run-time row, the same for every pixel */
			kh = cg_loop_begin(c, &lkh, cg_i64(c, 0), cg_i64(c, g->KH));
			LLVMValueRef ih = cg_add(c, cg_mul(c, oh[0], cg_i64(c, g->sh)), cg_add(c, cg_mul(c, kh, cg_i64(c, g->dh)), cg_i64(c, -g->ph)));
			endh = cg_if_begin(c, cg_in_range(c, ih, g->H));
			xrow = cg_gep(c, c->f32, xrow, cg_mul(c, ih, cg_i64(c, g->W * px)));
		}
		for (int64_t kw = 0; kw < g->KW; kw++) {
			int js[CONV_TMAX], nj = 0;
			int64_t off[CONV_TMAX];
			for (int j = 0; j < T; j++) {
				int64_t iw = cow[j] * g->sw + kw * g->dw - g->pw, ih = coh[j] * g->sh + ckh * g->dh - g->ph;
				if (iw < 0 || iw >= g->W || (!one_row && (ih < 0 || ih >= g->H)))
					continue;
				off[nj] = (one_row ? iw : ih * g->W + iw) * px;
				js[nj++] = j;
			}
			if (!nj)
				continue;
			LLVMValueRef wbase = cg_mul(c, cg_add(c, cg_mul(c, cg_add(c, wblk, kh), cg_i64(c, g->KW)), cg_i64(c, kw)), cg_i64(c, k->Cg));
			Loop lic;
			LLVMValueRef xoff, ic = ic_begin(c, k, &lic, &xoff);
			LLVMValueRef xp = cg_gep(c, c->f32, xrow, xoff);
			LLVMValueRef wo = cg_mul(c, cg_add(c, wbase, ic), cg_i64(c, k->OB));
			LLVMValueRef w0 = cg_vload(c, k->Wp, wo), w1 = cg_vload(c, k->Wp, cg_add(c, wo, cg_i64(c, L)));
			conv_prefetch_w(c, k, wo);
			for (int q = 0; q < nj; q++) {
				LLVMValueRef xb = cg_splat(c, cg_loadf(c, xp, cg_i64(c, off[q])), c->vf);
				for (int v = 0; v < 2; v++) {
					LLVMValueRef a = LLVMBuildLoad2(c->b, c->vf, k->acc[js[q]][v], "");
					LLVMBuildStore(c->b, cg_fmuladd(c, xb, v ? w1 : w0, a), k->acc[js[q]][v]);
				}
			}
			cg_loop_end(c, &lic, 1);
		}
		if (one_row) {
			cg_if_end(c, endh);
			cg_loop_end(c, &lkh, 1);
		}
	}
}

/* One tile: T output pixels (pixel j at row oh[j], column ow[j]) times OB
 * output channels, accumulated in 2*T vector registers.  one_row: every
 * pixel is in row oh[0], so taps from rows outside the input are skipped
 * for the whole tile.  A checked tile tests each pixel's input position
 * per tap and reads zero where it falls into the padding; an unchecked
 * tile (every window inside the input) has no tests at all. */
static void conv_tile(Cg *c, ConvK *k, LLVMValueRef ob, int nvalid, LLVMValueRef *oh, LLVMValueRef *ow, int T,
		      bool checked, bool one_row)
{
	Geo *g = &k->g;
	int L = c->lanes;
	LLVMValueRef bofs = cg_mul(c, cg_add(c, cg_mul(c, k->grp, cg_i64(c, k->NOB)), ob), cg_i64(c, k->OB));
	LLVMValueRef acc[CONV_TMAX][2];
	for (int v = 0; v < 2; v++) {
		LLVMValueRef bv = cg_vload(c, k->Bp, cg_add(c, bofs, cg_i64(c, v * L)));
		for (int j = 0; j < T; j++)
			LLVMBuildStore(c->b, bv, k->acc[j][v]);
	}
	bool cols = checked;
	for (int j = 0; j < T; j++)
		cols &= LLVMIsConstant(ow[j]) && (one_row || LLVMIsConstant(oh[j]));
	if (cols && g->KW <= 16 && (one_row || g->KH <= 16)) {
		conv_taps_const(c, k, ob, oh, ow, T, one_row);
		goto epilogue;
	}
	Loop lkh, lkw, lic;
	LLVMValueRef kh = cg_loop_begin(c, &lkh, cg_i64(c, 0), cg_i64(c, g->KH));
	LLVMValueRef khd = cg_add(c, cg_mul(c, kh, cg_i64(c, g->dh)), cg_i64(c, -g->ph)), ih[CONV_TMAX];
	for (int j = 0; j < T; j++)
		ih[j] = j && one_row ? ih[0] : cg_add(c, cg_mul(c, oh[j], cg_i64(c, g->sh)), khd);
	LLVMBasicBlockRef endh = one_row ? cg_if_begin(c, cg_in_range(c, ih[0], g->H)) : NULL;
	LLVMValueRef kw = cg_loop_begin(c, &lkw, cg_i64(c, 0), cg_i64(c, g->KW));
	LLVMValueRef kwd = cg_add(c, cg_mul(c, kw, cg_i64(c, g->dw)), cg_i64(c, -g->pw));
	/* x[n][grp*Cg + ic][ih][iw] */
	LLVMValueRef plane = cg_mul(c, cg_add(c, cg_mul(c, k->n, cg_i64(c, g->C)), cg_mul(c, k->grp, cg_i64(c, k->Cg))), cg_i64(c, g->H * g->W));
	/* Pixel j reads xp[j][ic * xs[j]]: its input column, or for a tap in the
	 * padding a constant zero with stride 0, so the inner loop has no tests. */
	LLVMValueRef xp[CONV_TMAX], xs[CONV_TMAX];
	int64_t px = k->xb ? k->xb : 1;  /* input pixel stride */
	for (int j = 0; j < T; j++) {
		LLVMValueRef iw = cg_add(c, cg_mul(c, ow[j], cg_i64(c, g->sw)), kwd);
		LLVMValueRef pos = cg_add(c, plane, cg_mul(c, cg_add(c, cg_mul(c, ih[j], cg_i64(c, g->W)), iw), cg_i64(c, px)));
		/* per channel step: planes apart, or (blocks) the offset ic_begin gives */
		xs[j] = cg_i64(c, k->xb ? 1 : g->H * g->W);
		if (checked) {
			LLVMValueRef ok = cg_in_range(c, iw, g->W);
			if (!one_row)
				ok = LLVMBuildAnd(c->b, ok, cg_in_range(c, ih[j], g->H), "");
			pos = LLVMBuildSelect(c->b, ok, pos, plane, "");
			xp[j] = LLVMBuildSelect(c->b, ok, cg_gep(c, c->f32, k->X, pos), cg_zero_f32(c), "");
			xs[j] = LLVMBuildSelect(c->b, ok, xs[j], cg_i64(c, 0), "");
		} else
			xp[j] = cg_gep(c, c->f32, k->X, pos);
	}
	LLVMValueRef wbase = cg_mul(c, cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, k->grp, cg_i64(c, k->NOB)), ob), cg_i64(c, g->KH)), kh),
						    cg_i64(c, g->KW)), kw), cg_i64(c, k->Cg));
	LLVMValueRef xoff, ic = ic_begin(c, k, &lic, &xoff);
	LLVMValueRef xstep = k->xb ? xoff : ic;
	LLVMValueRef wo = cg_mul(c, cg_add(c, wbase, ic), cg_i64(c, k->OB));
	LLVMValueRef w0 = cg_vload(c, k->Wp, wo), w1 = cg_vload(c, k->Wp, cg_add(c, wo, cg_i64(c, L)));
	conv_prefetch_w(c, k, wo);
	for (int j = 0; j < T; j++) {
		LLVMValueRef xb = cg_splat(c, cg_loadf(c, xp[j], cg_mul(c, xstep, xs[j])), c->vf);
		for (int v = 0; v < 2; v++) {
			LLVMValueRef a = LLVMBuildLoad2(c->b, c->vf, k->acc[j][v], "");
			LLVMBuildStore(c->b, cg_fmuladd(c, xb, v ? w1 : w0, a), k->acc[j][v]);
		}
	}
	cg_loop_end(c, &lic, 1);
	cg_loop_end(c, &lkw, 1);
	if (one_row)
		cg_if_end(c, endh);
	cg_loop_end(c, &lkh, 1);
epilogue:;
	if (k->yb) {
		/* Channel blocks: each accumulator is one block of one pixel,
		 * stored (residual added, activation applied) as a whole vector. */
		LLVMValueRef blk0 = cg_add(c, cg_add(c, cg_mul(c, k->n, cg_i64(c, g->M / L)), cg_mul(c, k->grp, cg_i64(c, k->Mg / L))),
					cg_mul(c, ob, cg_i64(c, k->OB / L)));
		for (int v = 0; v < nvalid / L; v++)
			for (int j = 0; j < T; j++) {
				LLVMValueRef pix = cg_add(c, cg_mul(c, oh[j], cg_i64(c, g->OW)), ow[j]);
				LLVMValueRef yo = cg_mul(c, cg_add(c, cg_mul(c, cg_add(c, blk0, cg_i64(c, v)), cg_i64(c, g->OH * g->OW)), pix), cg_i64(c, L));
				LLVMValueRef a = LLVMBuildLoad2(c->b, c->vf, k->acc[j][v], "");
				if (k->R)
					a = LLVMBuildFAdd(c->b, a, cg_vload(c, k->R, yo), "");
				LLVMSetAlignment(LLVMBuildStore(c->b, cg_act_apply(c, k->act, a), cg_gep(c, c->f32, k->Y, yo)), 4);
			}
		return;
	}
	/* y[n][grp*Mg + ob*OB + lane][oh][ow] */
	LLVMValueRef m0 = cg_add(c, cg_mul(c, k->grp, cg_i64(c, k->Mg)), cg_mul(c, ob, cg_i64(c, k->OB)));
	LLVMValueRef ybase = cg_mul(c, cg_add(c, cg_mul(c, k->n, cg_i64(c, g->M)), m0), cg_i64(c, g->OH * g->OW)), ypix[CONV_TMAX];
	for (int j = 0; j < T; j++)
		ypix[j] = cg_add(c, ybase, cg_add(c, cg_mul(c, oh[j], cg_i64(c, g->OW)), ow[j]));
	/* The accumulators hold channels x pixels; the output plane is per
	 * channel.  Spill them and write one channel of every pixel per
	 * iteration of a (not unrolled) loop: unrolling this scatter for
	 * every lane made the IR, and the compile time, ten times larger. */
	/* Without a residual the activation is applied to whole vectors (a
	 * scalar SiLU per element cost more than the convolution in
	 * EfficientNet's stem); a residual, read per element from its planes,
	 * is added first, so then the activation is per element too. */
	for (int v = 0; v < 2; v++)
		for (int j = 0; j < T; j++) {
			acc[j][v] = LLVMBuildLoad2(c->b, c->vf, k->acc[j][v], "");
			if (!k->R)
				acc[j][v] = cg_act_apply(c, k->act, acc[j][v]);
			LLVMValueRef p = cg_gep(c, c->f32, k->spill, cg_i64(c, (int64_t)(j * 2 + v) * L));
			LLVMSetAlignment(LLVMBuildStore(c->b, acc[j][v], p), 4);
		}
	Loop lq;
	LLVMValueRef q = cg_loop_begin(c, &lq, cg_i64(c, 0), cg_i64(c, nvalid));
	LLVMValueRef plane_off = cg_mul(c, q, cg_i64(c, g->OH * g->OW));
	for (int j = 0; j < T; j++) {
		LLVMValueRef e = cg_loadf(c, k->spill, cg_add(c, q, cg_i64(c, (int64_t)j * 2 * L)));
		LLVMValueRef yo = cg_add(c, ypix[j], plane_off);
		if (k->R)
			e = cg_act_apply(c, k->act, LLVMBuildFAdd(c->b, e, cg_loadf(c, k->R, yo), ""));
		cg_storef(c, e, k->Y, yo);
	}
	cg_loop_end(c, &lq, 1);
}

/* Tile of T columns from ow0 in row oh. */
static void conv_row_tile(Cg *c, ConvK *k, LLVMValueRef ob, int nvalid, LLVMValueRef oh, LLVMValueRef ow0, int T,
			  bool checked)
{
	LLVMValueRef ohs[CONV_TMAX], ows[CONV_TMAX];
	for (int j = 0; j < T; j++) {
		ohs[j] = oh;
		ows[j] = j ? cg_add(c, ow0, cg_i64(c, j)) : ow0;
	}
	conv_tile(c, k, ob, nvalid, ohs, ows, T, checked, true);
}

/* A small image as one sequence of pixels across rows, in tiles of at
 * most k->T pixels, each emitted with constant positions. */
static void conv_image(Cg *c, ConvK *k, LLVMValueRef ob, int nvalid)
{
	Geo *g = &k->g;
	int64_t hlo, hhi, wlo, whi, npix = g->OH * g->OW;
	cg_interior(g->H, g->OH, g->KH, g->sh, g->dh, g->ph, &hlo, &hhi);
	cg_interior(g->W, g->OW, g->KW, g->sw, g->dw, g->pw, &wlo, &whi);
	int64_t ntiles = (npix + k->T - 1) / k->T, q = npix / ntiles, big = npix % ntiles, p = 0;
	for (int64_t t = 0; t < ntiles; t++) {
		int T = (int)(t < big ? q + 1 : q);
		LLVMValueRef ohs[CONV_TMAX], ows[CONV_TMAX];
		bool checked = false, one_row = true;
		for (int j = 0; j < T; j++) {
			int64_t oh = (p + j) / g->OW, ow = (p + j) % g->OW;
			ohs[j] = cg_i64(c, oh);
			ows[j] = cg_i64(c, ow);
			checked |= oh < hlo || oh >= hhi || ow < wlo || ow >= whi;
			one_row &= oh == p / g->OW;
		}
		conv_tile(c, k, ob, nvalid, ohs, ows, T, checked, one_row);
		p += T;
	}
}

/* One row of output columns in tiles of at most k->T columns, sizes
 * balanced (two sizes at most).  Tiles touching the left or right padding
 * are checked and emitted one by one; runs of interior tiles are loops. */
static void conv_row(Cg *c, ConvK *k, LLVMValueRef ob, int nvalid, LLVMValueRef oh)
{
	Geo *g = &k->g;
	int64_t lo, hi;
	cg_interior(g->W, g->OW, g->KW, g->sw, g->dw, g->pw, &lo, &hi);
	int64_t ntiles = (g->OW + k->T - 1) / k->T, q = g->OW / ntiles, big = g->OW % ntiles;
	int64_t ow = 0;
	for (int64_t t = 0; t < ntiles;) {
		int T = (int)(t < big ? q + 1 : q);
		bool checked = ow < lo || ow + T > hi;
		if (checked) {
			conv_row_tile(c, k, ob, nvalid, oh, cg_i64(c, ow), T, true);
			ow += T;
			t++;
			continue;
		}
		/* A run of unchecked tiles of the same size. */
		int64_t n = 0;
		while (t + n < ntiles && (t + n < big ? q + 1 : q) == T && ow + (n + 1) * T <= hi)
			n++;
		if (n == 1)
			conv_row_tile(c, k, ob, nvalid, oh, cg_i64(c, ow), T, false);
		else {
			Loop l;
			LLVMValueRef o = cg_loop_begin(c, &l, cg_i64(c, ow), cg_i64(c, ow + n * T));
			conv_row_tile(c, k, ob, nvalid, oh, o, T, false);
			cg_loop_end(c, &l, T);
		}
		ow += n * T;
		t += n;
	}
}

void cg_conv_blocked(Cg *c, const Node *n)
{
	ConvK k = {.g = cg_geometry(c, n, true)};
	Geo *g = &k.g;
	int L = c->lanes;
	k.Cg = g->C / g->group;
	k.Mg = g->M / g->group;
	if (g->KH == 1 && g->KW == 1 && g->sh == 1 && g->sw == 1 && !g->ph && !g->pw && !g->pe_h && !g->pe_w) {
		/* A 1x1 conv over the whole image is one over a single row of
		 * all its pixels (adjacent in either layout): row tiles in a
		 * loop instead of an image's worth of tiles emitted one by one. */
		g->W = g->OW = g->H * g->W;
		g->H = g->OH = 1;
	}
	k.OB = 2 * L;
	k.NOB = (k.Mg + k.OB - 1) / k.OB;
	/* Pack weights and bias. */
	const float *w = ir_value(c->g, n->in[1])->data;
	const float *bias = n->nin > 2 && n->in[2] >= 0 ? ir_value(c->g, n->in[2])->data : NULL;
	size_t wn = (size_t)(g->group * k.NOB * g->KH * g->KW * k.Cg * k.OB);
	float *wp = calloc(wn + 1, sizeof *wp), *bp = calloc(g->group * k.NOB * k.OB + 1, sizeof *bp);
	for (int64_t gr = 0; gr < g->group; gr++)
		for (int64_t m = 0; m < k.Mg; m++) {
			int64_t ob = m / k.OB, lane = m % k.OB, M = gr * k.Mg + m;
			bp[(gr * k.NOB + ob) * k.OB + lane] = bias ? bias[M] : 0;
			for (int64_t ic = 0; ic < k.Cg; ic++)
				for (int64_t kh = 0; kh < g->KH; kh++)
					for (int64_t kw = 0; kw < g->KW; kw++)
						wp[((((gr * k.NOB + ob) * g->KH + kh) * g->KW + kw) * k.Cg + ic) * k.OB + lane] =
							w[((M * k.Cg + ic) * g->KH + kh) * g->KW + kw];
		}
	k.Wp = cg_const_blob(c, "kiln.wp", wp, wn * sizeof *wp);
	k.Bp = cg_const_blob(c, "kiln.bp", bp, g->group * k.NOB * k.OB * sizeof *bp);
	free(wp);
	free(bp);
	k.X = cg_buf(c, n->in[0]);
	k.Y = cg_buf(c, n->out);
	k.R = n->nin > 3 && n->in[3] >= 0 ? cg_buf(c, n->in[3]) : NULL;
	k.act = ir_act_of_epilogue(n);
	k.xb = cg_ty(c, n->in[0])->block;
	k.yb = cg_ty(c, n->out)->block;
	/* 2*T accumulators, 2 weight vectors and a broadcast in registers. */
	k.T = (c->fregs - 4) / 2;
	k.T = k.T < 1 ? 1 : k.T > CONV_TMAX ? CONV_TMAX : k.T;
	for (int j = 0; j < k.T; j++)
		for (int v = 0; v < 2; v++)
			k.acc[j][v] = cg_entry_alloca(c, c->vf);
	k.spill = cg_entry_alloca(c, LLVMArrayType(c->f32, (unsigned)(CONV_TMAX * 2 * L)));
	Loop ln, lg, lob, loh;
	k.n = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, g->N));
	k.grp = cg_loop_begin(c, &lg, cg_i64(c, 0), cg_i64(c, g->group));
	int64_t full = k.Mg / k.OB, rem = k.Mg % k.OB;
	/* Rows narrower than two tiles waste accumulators in row tiles: small
	 * images go as one run of pixels instead. */
	bool image = g->OW < 2 * k.T && g->OH * g->OW <= 32 * k.T;
	/* This task's share of the channel blocks (the last, partial one
	 * included): [lo, hi) of full + (rem != 0). */
	LLVMValueRef lo, hi;
	cg_part_range(c, full + (rem != 0), &lo, &hi);
	for (int part = 0; part < 2; part++) {
		if (!(part ? rem : full))
			continue;
		LLVMBasicBlockRef skip = NULL;
		LLVMValueRef ob;
		if (part) {  /* block `full` is ours when lo <= full < hi */
			skip = cg_if_begin(c, cg_part_owns(c, lo, hi, full));
			ob = cg_i64(c, full);
		} else {
			ob = cg_loop_begin(c, &lob, lo, cg_part_whole_end(c, hi, full));
		}
		int nvalid = (int)(part ? rem : k.OB);
		if (image)
			conv_image(c, &k, ob, nvalid);
		else {
			LLVMValueRef oh = cg_loop_begin(c, &loh, cg_i64(c, 0), cg_i64(c, g->OH));
			conv_row(c, &k, ob, nvalid, oh);
			cg_loop_end(c, &loh, 1);
		}
		if (!part)
			cg_loop_end(c, &lob, 1);
		else
			cg_if_end(c, skip);
	}
	cg_loop_end(c, &lg, 1);
	cg_loop_end(c, &ln, 1);
}

/* 1x1 convolution with stride 1 and no padding, as the product
 * Y[m][p] = sum_k W[m][k] X[k][p] over the flattened pixels p, vectorized
 * along p: a tile keeps MR output channels x NR vectors of pixels in
 * registers; each k step is NR vector loads of X, MR weight broadcasts and
 * MR*NR FMAs, and the epilogue (bias, residual, activation) works on whole
 * vectors stored straight into the output planes.  The blocked kernel
 * above puts channels in the lanes instead and must scatter its results
 * into the planes one float at a time, which dominates when K is small
 * (MobileNet's expansions) or the image is large.  Weights are packed
 * per group as [mb][k][MR] (zero padded), read in order by the tiles. */
#define PW_MRMAX 8
#define PW_NRMAX 4

typedef struct PwK {
	int64_t P, Cg, Mg, NMB, MR, NR, group;
	LLVMValueRef X, Wp, Bp, Y, R;
	Act act;
	LLVMValueRef acc[PW_MRMAX][PW_NRMAX];
} PwK;

static void pw_shape(const Cg *c, int64_t *mr, int64_t *nr)
{
	*nr = c->fregs >= 32 ? 4 : 2;
	*mr = (c->fregs - *nr - 1) / *nr;
	*mr = *mr > PW_MRMAX ? PW_MRMAX : *mr < 1 ? 1 : *mr;
}

/* Is this conv a 1x1 product, and does the pixel-vectorized kernel beat
 * the blocked one by the FMA + scatter count? */
bool cg_pw_wins(Cg *c, const Geo *g)
{
	int L = c->lanes;
	int64_t P = g->OH * g->OW, Cg = g->C / g->group, Mg = g->M / g->group, mr, nr;
	if (L < 4 || g->KH != 1 || g->KW != 1 || g->sh != 1 || g->sw != 1 || g->ph || g->pw || g->pe_h || g->pe_w ||
	    P < L || g->H != g->OH || g->W != g->OW)
		return false;
	pw_shape(c, &mr, &nr);
	int64_t vecs = (P + L - 1) / L;
	double pw = (double)((Mg + mr - 1) / mr * mr) * Cg * vecs;
	double blocked = (double)((Mg + 2 * L - 1) / (2 * L) * 2) * Cg * P + 2.0 * Mg * P;
	return pw < blocked;
}

/* One tile: channels [mb*MR, mb*MR + rows) of the group, NR vectors of
 * pixels at offsets px[v], over the input channels [k0, k1).  first: the
 * accumulators start from the bias, else from the partial sums in y;
 * last: the epilogue (residual, activation) runs, else the partial sums
 * are stored. */
static void pw_tile(Cg *c, PwK *k, LLVMValueRef xg, LLVMValueRef yg, LLVMValueRef rg, LLVMValueRef mb, int rows,
		    LLVMValueRef *px, int nv, LLVMValueRef k0, LLVMValueRef k1, bool first, bool last)
{
	LLVMValueRef m0 = cg_mul(c, mb, cg_i64(c, k->MR)), ypos[PW_MRMAX][PW_NRMAX];
	for (int r = 0; r < rows; r++) {
		LLVMValueRef plane = cg_mul(c, cg_add(c, m0, cg_i64(c, r)), cg_i64(c, k->P));
		LLVMValueRef bv = first ? cg_splat(c, cg_loadf(c, k->Bp, cg_add(c, m0, cg_i64(c, r))), c->vf) : NULL;
		for (int v = 0; v < nv; v++) {
			ypos[r][v] = cg_add(c, plane, px[v]);
			LLVMBuildStore(c->b, first ? bv : cg_vload(c, yg, ypos[r][v]), k->acc[r][v]);
		}
	}
	Loop lk;
	LLVMValueRef kk = cg_loop_begin(c, &lk, k0, k1);
	LLVMValueRef xrow = cg_gep(c, c->f32, xg, cg_mul(c, kk, cg_i64(c, k->P)));
	LLVMValueRef xv[PW_NRMAX];
	for (int v = 0; v < nv; v++)
		xv[v] = cg_vload(c, xrow, px[v]);
	LLVMValueRef wo = cg_mul(c, cg_add(c, cg_mul(c, mb, cg_i64(c, k->Cg)), kk), cg_i64(c, k->MR));
	for (int r = 0; r < rows; r++) {
		LLVMValueRef wb = cg_splat(c, cg_loadf(c, k->Wp, cg_add(c, wo, cg_i64(c, r))), c->vf);
		for (int v = 0; v < nv; v++) {
			LLVMValueRef a = LLVMBuildLoad2(c->b, c->vf, k->acc[r][v], "");
			LLVMBuildStore(c->b, cg_fmuladd(c, xv[v], wb, a), k->acc[r][v]);
		}
	}
	cg_loop_end(c, &lk, 1);
	for (int r = 0; r < rows; r++)
		for (int v = 0; v < nv; v++) {
			LLVMValueRef a = LLVMBuildLoad2(c->b, c->vf, k->acc[r][v], "");
			if (last) {
				if (rg)
					a = LLVMBuildFAdd(c->b, a, cg_vload(c, rg, ypos[r][v]), "");
				a = cg_act_apply(c, k->act, a);
			}
			LLVMSetAlignment(LLVMBuildStore(c->b, a, cg_gep(c, c->f32, yg, ypos[r][v])), 4);
		}
}

/* All channel blocks of this task over the pixel tile px[0..nv), input
 * channels [k0, k1). */
static void pw_blocks(Cg *c, PwK *k, LLVMValueRef xg, LLVMValueRef yg, LLVMValueRef rg, LLVMValueRef lo,
		      LLVMValueRef hi, LLVMValueRef *px, int nv, LLVMValueRef k0, LLVMValueRef k1, bool first, bool last)
{
	int64_t full = k->Mg / k->MR, rem = k->Mg % k->MR;
	Loop lm;
	LLVMValueRef mb = cg_loop_begin(c, &lm, lo, cg_part_whole_end(c, hi, full));
	pw_tile(c, k, xg, yg, rg, mb, (int)k->MR, px, nv, k0, k1, first, last);
	cg_loop_end(c, &lm, 1);
	if (rem) {
		LLVMBasicBlockRef skip = cg_if_begin(c, cg_part_owns(c, lo, hi, full));
		pw_tile(c, k, xg, yg, rg, cg_i64(c, full), (int)rem, px, nv, k0, k1, first, last);
		cg_if_end(c, skip);
	}
}

/* The input channels in blocks whose slice of the pixel tile stays in L1
 * (KB rows of NR vectors, about 16 KB) while every channel block of the
 * output reads it; partial sums wait in y between blocks.  Without this
 * the tile's rows came from L2 once per channel block (SqueezeNet's last
 * conv: 512 x 64 pixels, 128 KB). */
static void pw_kblocks(Cg *c, PwK *k, LLVMValueRef xg, LLVMValueRef yg, LLVMValueRef rg, LLVMValueRef lo,
		       LLVMValueRef hi, LLVMValueRef *px, int nv)
{
	int64_t KB = 16384 / (k->NR * c->lanes * 4), K = k->Cg;
	KB = KB < 16 ? 16 : KB;
	if (K <= KB + KB / 2) {
		pw_blocks(c, k, xg, yg, rg, lo, hi, px, nv, cg_i64(c, 0), cg_i64(c, K), true, true);
		return;
	}
	int64_t nkb = (K + KB - 1) / KB;
	pw_blocks(c, k, xg, yg, rg, lo, hi, px, nv, cg_i64(c, 0), cg_i64(c, KB), true, false);
	if (nkb > 2) {
		Loop lb;
		LLVMValueRef k0 = cg_loop_begin(c, &lb, cg_i64(c, KB), cg_i64(c, (nkb - 1) * KB));
		pw_blocks(c, k, xg, yg, rg, lo, hi, px, nv, k0, cg_add(c, k0, cg_i64(c, KB)), false, false);
		cg_loop_end(c, &lb, KB);
	}
	pw_blocks(c, k, xg, yg, rg, lo, hi, px, nv, cg_i64(c, (nkb - 1) * KB), cg_i64(c, K), false, true);
}

void cg_conv_pointwise(Cg *c, const Node *n)
{
	Geo g = cg_geometry(c, n, true);
	int L = c->lanes;
	PwK k = {.P = g.OH * g.OW, .Cg = g.C / g.group, .Mg = g.M / g.group, .group = g.group};
	pw_shape(c, &k.MR, &k.NR);
	k.NMB = (k.Mg + k.MR - 1) / k.MR;
	const float *w = ir_value(c->g, n->in[1])->data;
	const float *bias = n->nin > 2 && n->in[2] >= 0 ? ir_value(c->g, n->in[2])->data : NULL;
	size_t wn = (size_t)(g.group * k.NMB * k.Cg * k.MR), bn = (size_t)(g.group * k.NMB * k.MR);
	float *wp = calloc(wn + 1, sizeof *wp), *bp = calloc(bn + 1, sizeof *bp);
	for (int64_t gr = 0; gr < g.group; gr++)
		for (int64_t m = 0; m < k.Mg; m++) {
			int64_t mb = gr * k.NMB + m / k.MR, r = m % k.MR, M = gr * k.Mg + m;
			bp[mb * k.MR + r] = bias ? bias[M] : 0;
			for (int64_t ic = 0; ic < k.Cg; ic++)
				wp[(mb * k.Cg + ic) * k.MR + r] = w[M * k.Cg + ic];
		}
	k.Wp = cg_const_blob(c, "kiln.wp", wp, wn * sizeof *wp);
	k.Bp = cg_const_blob(c, "kiln.bp", bp, bn * sizeof *bp);
	free(wp);
	free(bp);
	k.X = cg_buf(c, n->in[0]);
	k.Y = cg_buf(c, n->out);
	k.R = n->nin > 3 && n->in[3] >= 0 ? cg_buf(c, n->in[3]) : NULL;
	k.act = ir_act_of_epilogue(n);
	for (int r = 0; r < k.MR; r++)
		for (int v = 0; v < k.NR; v++)
			k.acc[r][v] = cg_entry_alloca(c, c->vf);
	LLVMValueRef lo, hi;  /* this task's channel blocks, per group */
	cg_part_range(c, k.NMB, &lo, &hi);
	Loop ln, lg, lt;
	LLVMValueRef in = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, g.N));
	LLVMValueRef grp = cg_loop_begin(c, &lg, cg_i64(c, 0), cg_i64(c, g.group));
	LLVMValueRef xg = cg_gep(c, c->f32, k.X, cg_mul(c, cg_add(c, cg_mul(c, in, cg_i64(c, g.C)), cg_mul(c, grp, cg_i64(c, k.Cg))), cg_i64(c, k.P)));
	LLVMValueRef ym = cg_add(c, cg_mul(c, in, cg_i64(c, g.M)), cg_mul(c, grp, cg_i64(c, k.Mg)));
	LLVMValueRef yg = cg_gep(c, c->f32, k.Y, cg_mul(c, ym, cg_i64(c, k.P)));
	LLVMValueRef rg = k.R ? cg_gep(c, c->f32, k.R, cg_mul(c, ym, cg_i64(c, k.P))) : NULL;
	int64_t tile = k.NR * L, ntiles = k.P / tile, done = ntiles * tile;
	LLVMValueRef px[PW_NRMAX];
	/* Packed blocks are numbered across groups; tiles index them from
	 * the group's first. */
	LLVMValueRef wg = k.Wp;
	k.Wp = cg_gep(c, c->f32, wg, cg_mul(c, grp, cg_i64(c, k.NMB * k.Cg * k.MR)));
	LLVMValueRef bg = k.Bp;
	k.Bp = cg_gep(c, c->f32, bg, cg_mul(c, grp, cg_i64(c, k.NMB * k.MR)));
	if (ntiles) {
		LLVMValueRef p0 = cg_loop_begin(c, &lt, cg_i64(c, 0), cg_i64(c, done));
		for (int v = 0; v < k.NR; v++)
			px[v] = cg_add(c, p0, cg_i64(c, v * L));
		pw_kblocks(c, &k, xg, yg, rg, lo, hi, px, (int)k.NR);
		cg_loop_end(c, &lt, tile);
	}
	if (done < k.P) {
		/* The rest in whole vectors, the last one ending at P (it may
		 * recompute pixels of its neighbour: same values). */
		int nv = (int)((k.P - done + L - 1) / L);
		for (int v = 0; v < nv; v++) {
			int64_t s = done + (int64_t)v * L;
			px[v] = cg_i64(c, s + L > k.P ? k.P - L : s);
		}
		pw_kblocks(c, &k, xg, yg, rg, lo, hi, px, nv);
	}
	k.Wp = wg;
	k.Bp = bg;
	cg_loop_end(c, &lg, 1);
	cg_loop_end(c, &ln, 1);
}
