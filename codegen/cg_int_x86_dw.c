/* The x86 int8 kernels over channel planes: depthwise conv (group = C, any
 * channel multiplier) and max pool, output pixels in the lanes.
 *
 * Each input plane is first packed on the stack with its padding (conv:
 * the zero point, an i8 input flipped to u8 as cg_int_x86.c does, each
 * byte zero-extended to i16; max pool: bytes, the padding the dtype's
 * least, which never wins) and, for a stride S along W, split into S
 * phase rows (phase p holds the padded columns p, p+S, ...), so that a tap
 * of a run of output pixels is one unaligned load at a compile-time
 * offset.  Rows go in bands when a plane would not fit the buffer (the
 * bands re-pack their halo).
 *
 * conv: a chunk is 2L pixels (L i32 lanes), the even ones in one
 * accumulator and the odd ones in another.  Two taps of a row and phase
 * whose offsets differ by one are a pair: an i32 lane loaded at element
 * ow + o of the i16 row holds x[ow + o] and x[ow + o + 1], the pair's two
 * taps of pixel ow, so one load (at ow0 for the even pixels, ow0 + 1 for
 * the odd) and one vpmaddwd with the pair's weights (w - z_w, s8 checked
 * at compile time; a tap alone has 0 as its partner) add both taps for L
 * pixels, with no shuffle: a u8 x s8 pair never leaves an i32 lane.  The
 * zero points fold into a per-channel bias, b - z_x' * sum w, as in
 * cg_int_x86.c (the padding reads z_x', so its taps add nothing); whole
 * vectors are requantized by cg_x86_requant (cg_requant when a channel's
 * rescale does not fit it) and interleaved back into pixel order.  max
 * pool: chunks of 4L bytes, vpmaxub/vpmaxsb over the taps.  A row
 * narrower than a chunk is computed whole and only its pixels stored; a
 * wider one's last chunk overlaps the one before.
 *
 * Checked bit for bit against C computed with ir_requantize and against
 * the plain lowerings of cg_int.c (tests/unit/test_int_x86.c). */
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

#define DW_BUF_BYTES (96 * 1024)  /* the packed band on the stack */
#define DW_MAX_TAPS 64
#define DW_MAX_STRIDE 4

typedef struct Plane {
	Geo g;
	int L;            /* i32 lanes */
	int64_t S, Wq;    /* phases (the stride along W), elements of a phase row */
	int64_t RB, RBp;  /* output rows of a band, padded input rows it reads */
	int64_t P;        /* pixels of a chunk */
	bool flip;        /* flip the top bit while packing (conv, i8 input) */
	uint8_t fill;     /* the padding byte (after the flip) */
	LLVMTypeRef et;   /* the packed elements: i8, or i16 (conv: bytes zero-extended) */
	int ntap;
	int64_t toff[DW_MAX_TAPS];  /* a tap's offset in the band from its output row's first phase row */
	LLVMValueRef X, Y, buf;
} Plane;

static LLVMValueRef k32(Cg *c, int64_t v) { return LLVMConstInt(c->i32, (unsigned long long)v, 1); }
static LLVMValueRef at(Cg *c, LLVMValueRef p, LLVMValueRef off) { return cg_gep(c, c->i8, p, off); }
static LLVMValueRef atk(Cg *c, LLVMValueRef p, int64_t off) { return cg_gep(c, c->i8, p, cg_i64(c, off)); }
/* Element off of the packed band at p. */
static LLVMValueRef el(Cg *c, Plane *pl, LLVMValueRef p, LLVMValueRef off) { return cg_gep(c, pl->et, p, off); }
static LLVMValueRef elk(Cg *c, Plane *pl, LLVMValueRef p, int64_t off) { return cg_gep(c, pl->et, p, cg_i64(c, off)); }
static bool wide(Plane *pl) { return LLVMGetIntTypeWidth(pl->et) == 16; }

/* A byte of x (scalar or vector) as a packed element: flipped, widened. */
static LLVMValueRef as_elem(Cg *c, Plane *pl, LLVMValueRef v)
{
	LLVMTypeRef t = LLVMTypeOf(v);
	if (pl->flip)
		v = LLVMBuildXor(c->b, v, cg_splat_const(LLVMConstInt(c->i8, 0x80, 0), t), "");
	if (!wide(pl))
		return v;
	return LLVMBuildZExt(c->b, v, LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMVectorType(pl->et, LLVMGetVectorSize(t)) : pl->et, "");
}

static LLVMValueRef loadv(Cg *c, LLVMTypeRef t, LLVMValueRef p)
{
	LLVMValueRef v = LLVMBuildLoad2(c->b, t, p, "");
	LLVMSetAlignment(v, 1);
	return v;
}

static void storev(Cg *c, LLVMValueRef v, LLVMValueRef p) { LLVMSetAlignment(LLVMBuildStore(c->b, v, p), 1); }

/* ceil(a / b) for b > 0 and any a. */
static int64_t cdiv(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -(-a / b); }
static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---- packing --------------------------------------------------------------------------- */

/* w elements from src (every S-th byte) to dst, one vector load: forward
 * reads bytes [0, S*w) from src, else [-(S-1), S*w - S + 1). */
static void copy_chunk(Cg *c, Plane *pl, LLVMValueRef dst, LLVMValueRef src, int64_t w, bool forward)
{
	int64_t S = pl->S;
	LLVMTypeRef vs = LLVMVectorType(c->i8, (unsigned)(S * w)), vw = LLVMVectorType(c->i8, (unsigned)w);
	LLVMValueRef v = loadv(c, vs, forward ? src : atk(c, src, -(S - 1)));
	if (S > 1) {
		LLVMValueRef mask[256];
		for (int64_t j = 0; j < w; j++)
			mask[j] = k32(c, S * j + (forward ? 0 : S - 1));
		v = LLVMBuildShuffleVector(c->b, v, LLVMGetUndef(vs), LLVMConstVector(mask, (unsigned)w), "");
	}
	(void)vw;
	storev(c, as_elem(c, pl, v), dst);
}

/* dst[0, n) = src[0], src[S], ..., src[S*(n-1)] (as elements), with
 * `before` bytes readable before src and `after` after src[S*(n-1)]. */
static void copy_strided(Cg *c, Plane *pl, LLVMValueRef dst, LLVMValueRef src, int64_t n, int64_t before, int64_t after)
{
	int64_t S = pl->S, w = 4 * pl->L;
	while (w > n && w > 4)
		w /= 2;
	if (n < w) {  /* fewer than 4: byte by byte */
		for (int64_t e = 0; e < n; e++)
			storev(c, as_elem(c, pl, loadv(c, c->i8, atk(c, src, S * e))), elk(c, pl, dst, e));
		return;
	}
	/* chunks at e0 = 0, w, ..., and n - w; the forward window fits while
	 * S*e0 + S*w - 1 <= S*(n-1) + after */
	int64_t nfull = n / w, nfw = 0;
	while (nfw < nfull && S * nfw * w + S * w - 1 <= S * (n - 1) + after)
		nfw++;
	if (nfw > 1) {
		Loop l;
		LLVMValueRef e = cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, nfw * w));
		copy_chunk(c, pl, el(c, pl, dst, e), at(c, src, cg_mul(c, e, cg_i64(c, S))), w, true);
		cg_loop_end(c, &l, w);
	} else if (nfw == 1)
		copy_chunk(c, pl, dst, src, w, true);
	for (int64_t k = nfw; k <= nfull; k++) {
		int64_t e0 = k < nfull ? k * w : n - w;
		if (k == nfull && n % w == 0)
			break;
		bool fwd = S * e0 + S * w - 1 <= S * (n - 1) + after, bwd = S * e0 - (S - 1) >= -before;
		if (fwd || bwd) {
			copy_chunk(c, pl, elk(c, pl, dst, e0), atk(c, src, S * e0), w, fwd);
			continue;
		}
		for (int64_t e = e0; e < e0 + w; e++)
			storev(c, as_elem(c, pl, loadv(c, c->i8, atk(c, src, S * e))), elk(c, pl, dst, e));
	}
}

/* n padding elements at dst. */
static void fill(Cg *c, Plane *pl, LLVMValueRef dst, int64_t n)
{
	if (n <= 0)
		return;
	if (!wide(pl)) {
		LLVMBuildMemSet(c->b, dst, LLVMConstInt(c->i8, pl->fill, 0), cg_i64(c, n), 1);
		return;
	}
	int64_t w = 2 * pl->L;  /* one vector of i16 */
	LLVMValueRef z = LLVMConstInt(pl->et, pl->fill, 0), zv = cg_splat_const(z, LLVMVectorType(pl->et, (unsigned)w));
	if (n < w) {
		for (int64_t e = 0; e < n; e++)
			storev(c, z, elk(c, pl, dst, e));
		return;
	}
	for (int64_t e = 0; e + w <= n; e += w)
		storev(c, zv, elk(c, pl, dst, e));
	if (n % w)
		storev(c, zv, elk(c, pl, dst, n - w));
}

/* Pack the band's padded rows [r0, r0 + RBp) of the plane at xp into buf:
 * phase p of padded row r at ((r - r0)*S + p)*Wq. */
static void pack_band(Cg *c, Plane *pl, LLVMValueRef xp, LLVMValueRef r0)
{
	Geo *g = &pl->g;
	int64_t S = pl->S, Wq = pl->Wq;
	Loop lr;
	LLVMValueRef r = cg_loop_begin(c, &lr, cg_i64(c, 0), cg_i64(c, pl->RBp));
	LLVMValueRef ih = cg_add(c, cg_add(c, r0, r), cg_i64(c, -g->ph));
	LLVMValueRef dst = el(c, pl, pl->buf, cg_mul(c, r, cg_i64(c, S * Wq)));
	LLVMBasicBlockRef in = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "row");
	LLVMBasicBlockRef out = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "pad");
	LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "packed");
	LLVMBuildCondBr(c->b, cg_in_range(c, ih, g->H), in, out);
	LLVMPositionBuilderAtEnd(c->b, in);
	LLVMValueRef src = at(c, xp, cg_mul(c, ih, cg_i64(c, g->W)));
	for (int64_t p = 0; p < S; p++) {
		/* phase element i is padded column p + S*i, input column p + S*i - pw */
		int64_t ilo = clamp64(cdiv(g->pw - p, S), 0, Wq), ihi = clamp64(cdiv(g->W + g->pw - p, S), ilo, Wq);
		LLVMValueRef d = elk(c, pl, dst, p * Wq);
		fill(c, pl, d, ilo);
		if (ihi > ilo) {
			int64_t c0 = p + S * ilo - g->pw;
			copy_strided(c, pl, elk(c, pl, d, ilo), atk(c, src, c0), ihi - ilo, c0, g->W - 1 - (c0 + S * (ihi - ilo - 1)));
		}
		fill(c, pl, elk(c, pl, d, ihi), Wq - ihi);
	}
	LLVMBuildBr(c->b, done);
	LLVMPositionBuilderAtEnd(c->b, out);
	fill(c, pl, dst, S * Wq);
	LLVMBuildBr(c->b, done);
	LLVMPositionBuilderAtEnd(c->b, done);
	cg_loop_end(c, &lr, 1);
}

/* The geometry of n's windows over planes, chunks of P pixels (P = 0:
 * 2L), elements of type et: false when the kernel does not take it. */
static bool plane_setup(Cg *c, const Node *n, Plane *pl, bool conv, int64_t P, LLVMTypeRef et)
{
	Geo g = cg_geometry(c, n, conv);
	pl->g = g;
	pl->L = cg_x86_int_lanes(c);
	pl->S = g.sw;
	pl->P = P = P ? P : 2 * pl->L;
	pl->et = et;
	pl->ntap = (int)(g.KH * g.KW);
	if (g.KH * g.KW > DW_MAX_TAPS || g.sw > DW_MAX_STRIDE || g.sh < 1 || g.sw < 1 || g.OH < 1 || g.OW < 1 || g.N * g.C < 1)
		return false;
	/* the reads reach element max(OW, P) - 1 + the largest tap offset,
	 * i16 pairs one more */
	pl->Wq = (g.OW > P ? g.OW : P) + (g.KW - 1) * g.dw / pl->S + wide(pl);
	int64_t per_row = pl->S * pl->Wq * (wide(pl) ? 2 : 1);
	/* RB output rows read (RB-1)*sh + (KH-1)*dh + 1 padded rows */
	int64_t rb = ((DW_BUF_BYTES / per_row) - (g.KH - 1) * g.dh - 1) / g.sh + 1;
	if ((g.KH - 1) * g.dh + 1 > DW_BUF_BYTES / per_row)
		return false;
	rb = rb > g.OH ? g.OH : rb;
	int64_t nb = (g.OH + rb - 1) / rb;
	pl->RB = (g.OH + nb - 1) / nb;
	pl->RBp = (pl->RB - 1) * g.sh + (g.KH - 1) * g.dh + 1;
	for (int64_t kh = 0; kh < g.KH; kh++)
		for (int64_t kw = 0; kw < g.KW; kw++)
			pl->toff[kh * g.KW + kw] = (kh * g.dh * pl->S + kw * g.dw % pl->S) * pl->Wq + kw * g.dw / pl->S;
	return true;
}

/* The chunks of an output row: starts [0, P, ..) while whole, then one at
 * OW - P (overlapping) or, in a row narrower than P, the row's part of one. */
typedef void (*ChunkFn)(Cg *c, Plane *pl, void *ctx, LLVMValueRef band, LLVMValueRef yrow, LLVMValueRef ow0, int64_t valid);

static void row_chunks(Cg *c, Plane *pl, void *ctx, LLVMValueRef band, LLVMValueRef yrow, ChunkFn f)
{
	int64_t OW = pl->g.OW, P = pl->P;
	if (OW < P) {
		f(c, pl, ctx, band, yrow, cg_i64(c, 0), OW);
		return;
	}
	int64_t nfull = OW / P;
	if (nfull > 1) {
		Loop l;
		LLVMValueRef o = cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, nfull * P));
		f(c, pl, ctx, band, yrow, o, P);
		cg_loop_end(c, &l, P);
	} else
		f(c, pl, ctx, band, yrow, cg_i64(c, 0), P);
	if (OW % P)
		f(c, pl, ctx, band, yrow, cg_i64(c, OW - P), P);
}

/* The first `valid` bytes of v (<P x i8>) to p. */
static void store_chunk(Cg *c, Plane *pl, LLVMValueRef v, LLVMValueRef p, int64_t valid)
{
	if (valid == pl->P) {
		storev(c, v, p);
		return;
	}
	LLVMValueRef tmp = cg_entry_alloca(c, LLVMTypeOf(v));
	LLVMBuildStore(c->b, v, tmp);
	LLVMBuildMemCpy(c->b, p, 1, tmp, 1, cg_i64(c, valid));
}

/* The planes [lo, hi) of n's input (image * C + channel), band by band:
 * pack, then per output plane (mult of them per input plane) and row
 * run f over the row's chunks; start(ctx, m) first per output channel. */
typedef void (*ChanFn)(Cg *c, Plane *pl, void *ctx, LLVMValueRef m);

static void over_planes(Cg *c, Plane *pl, void *ctx, int64_t mult, ChanFn start, ChunkFn f)
{
	Geo *g = &pl->g;
	LLVMValueRef lo, hi;
	cg_part_range(c, g->N * g->C, &lo, &hi);
	Loop lp, lb, lj, lr;
	LLVMValueRef pi = cg_loop_begin(c, &lp, lo, hi);
	LLVMValueRef img = LLVMBuildUDiv(c->b, pi, cg_i64(c, g->C), ""), ci = LLVMBuildURem(c->b, pi, cg_i64(c, g->C), "");
	LLVMValueRef xp = at(c, pl->X, cg_mul(c, pi, cg_i64(c, g->H * g->W)));
	int64_t nb = (g->OH + pl->RB - 1) / pl->RB;
	LLVMValueRef b = cg_loop_begin(c, &lb, cg_i64(c, 0), cg_i64(c, nb));
	LLVMValueRef oh0 = cg_mul(c, b, cg_i64(c, pl->RB));
	pack_band(c, pl, xp, cg_mul(c, oh0, cg_i64(c, g->sh)));
	LLVMValueRef left = cg_sub(c, cg_i64(c, g->OH), oh0);
	LLVMValueRef rows = cg_sel(c, cg_icmp(c, LLVMIntSLT, left, cg_i64(c, pl->RB)), left, cg_i64(c, pl->RB));
	LLVMValueRef j = cg_loop_begin(c, &lj, cg_i64(c, 0), cg_i64(c, mult));
	LLVMValueRef m = cg_add(c, cg_mul(c, ci, cg_i64(c, mult)), j);
	if (start)
		start(c, pl, ctx, m);
	LLVMValueRef yp = at(c, pl->Y, cg_mul(c, cg_add(c, cg_mul(c, img, cg_i64(c, g->M)), m), cg_i64(c, g->OH * g->OW)));
	LLVMValueRef r = cg_loop_begin(c, &lr, cg_i64(c, 0), rows);
	LLVMValueRef band = el(c, pl, pl->buf, cg_mul(c, r, cg_i64(c, g->sh * pl->S * pl->Wq)));
	row_chunks(c, pl, ctx, band, at(c, yp, cg_mul(c, cg_add(c, oh0, r), cg_i64(c, g->OW))), f);
	cg_loop_end(c, &lr, 1);
	cg_loop_end(c, &lj, 1);
	cg_loop_end(c, &lb, 1);
	cg_loop_end(c, &lp, 1);
}

static void plane_buffer(Cg *c, Plane *pl)
{
	pl->buf = cg_entry_alloca(c, LLVMArrayType(pl->et, (unsigned)(pl->RBp * pl->S * pl->Wq)));
	LLVMSetAlignment(pl->buf, 64);
}

/* ---- depthwise conv ------------------------------------------------------------------------ */

typedef struct DwQ {
	int npair;
	int tap[DW_MAX_TAPS][2];   /* a pair's taps (the second -1: alone, its partner weight 0) */
	int64_t poff[DW_MAX_TAPS]; /* its first tap's element in the band from the output row's */
	LLVMValueRef Wt, Bt, Mq, Sq; /* [M][npair][2] s8 weight pairs; [M] i32 bias, multiplier; [M] u8 shift */
	int fast;                  /* cg_x86_requant_fits for every channel (0: cg_requant) */
	int32_t zy, lo, hi;
	LLVMValueRef w[DW_MAX_TAPS], bias, mult, shift;  /* the current channel's */
} DwQ;

/* The taps in pairs: per row and phase, in the order of their offsets,
 * two whose offsets differ by one go together, any other alone. */
static void dw_pairs(Plane *pl, DwQ *q)
{
	Geo *g = &pl->g;
	q->npair = 0;
	for (int64_t kh = 0; kh < g->KH; kh++)
		for (int64_t p = 0; p < pl->S; p++) {
			int64_t prev = -1;
			for (int64_t kw = 0; kw < g->KW; kw++) {
				if (kw * g->dw % pl->S != p)
					continue;
				int t = (int)(kh * g->KW + kw);
				if (prev >= 0 && pl->toff[t] == pl->toff[prev] + 1) {
					q->tap[q->npair - 1][1] = t;
					prev = -1;
					continue;
				}
				q->tap[q->npair][0] = t;
				q->tap[q->npair][1] = -1;
				q->poff[q->npair++] = pl->toff[t];
				prev = t;
			}
		}
}

static void dw_channel(Cg *c, Plane *pl, void *ctx, LLVMValueRef m)
{
	DwQ *q = ctx;
	LLVMTypeRef vd = LLVMVectorType(c->i32, (unsigned)pl->L);
	LLVMTypeRef i16 = LLVMInt16TypeInContext(c->ctx);
	for (int k = 0; k < q->npair; k++) {  /* the two bytes as the i16 pair of an i32 */
		LLVMValueRef p = cg_load(c, i16, q->Wt, cg_add(c, cg_mul(c, m, cg_i64(c, q->npair)), cg_i64(c, k)));
		LLVMValueRef w0 = LLVMBuildSExt(c->b, LLVMBuildTrunc(c->b, p, c->i8, ""), c->i32, "");
		LLVMValueRef w1 = LLVMBuildAShr(c->b, LLVMBuildShl(c->b, LLVMBuildZExt(c->b, p, c->i32, ""), k32(c, 16), ""), k32(c, 8), "");
		w1 = LLVMBuildAnd(c->b, w1, k32(c, (int32_t)0xffff0000u), "");
		w0 = LLVMBuildAnd(c->b, w0, k32(c, 0xffff), "");
		q->w[k] = cg_splat(c, LLVMBuildOr(c->b, w0, w1, ""), vd);
	}
	q->bias = cg_splat(c, cg_load(c, c->i32, q->Bt, m), vd);
	q->mult = cg_load(c, c->i32, q->Mq, m);
	q->shift = LLVMBuildZExt(c->b, cg_load(c, c->i8, q->Sq, m), c->i32, "");
}

/* 2L pixels from ow0: the even ones from loads at ow0 + o, the odd ones at
 * ow0 + o + 1, each lane a pair of taps for one pixel. */
static void dw_chunk(Cg *c, Plane *pl, void *ctx, LLVMValueRef band, LLVMValueRef yrow, LLVMValueRef ow0, int64_t valid)
{
	DwQ *q = ctx;
	int L = pl->L;
	LLVMTypeRef h16 = LLVMVectorType(pl->et, (unsigned)(2 * L)), vd = LLVMVectorType(c->i32, (unsigned)L);
	LLVMValueRef base = el(c, pl, band, ow0), acc[2] = {q->bias, q->bias}, mask[64];
	for (int k = 0; k < q->npair; k++) {
		LLVMValueRef w = LLVMBuildBitCast(c->b, q->w[k], h16, "");
		for (int odd = 0; odd < 2; odd++)
			acc[odd] = LLVMBuildAdd(c->b, acc[odd], cg_x86_madd16(c, loadv(c, h16, elk(c, pl, base, q->poff[k] + odd)), w), "");
	}
	LLVMValueRef y[2];
	for (int odd = 0; odd < 2; odd++) {
		if (q->fast)  /* bounded below, after the interleave (then a saturating pack) */
			y[odd] = cg_x86_requant(c, q->fast, acc[odd], q->mult, q->shift, k32(c, q->zy), NULL, NULL);
		else
			y[odd] = cg_requant(c, acc[odd], cg_splat(c, q->mult, vd), cg_splat(c, q->shift, vd), cg_splat_const(k32(c, q->zy), vd),
					    cg_splat_const(k32(c, q->lo), vd), cg_splat_const(k32(c, q->hi), vd));
	}
	for (int j = 0; j < L; j++) {
		mask[2 * j] = k32(c, j);
		mask[2 * j + 1] = k32(c, L + j);
	}
	LLVMValueRef v = LLVMBuildShuffleVector(c->b, y[0], y[1], LLVMConstVector(mask, (unsigned)(2 * L)), "");
	LLVMTypeRef v2 = LLVMTypeOf(v);
	LLVMValueRef lo = cg_splat_const(k32(c, q->lo), v2), hi = cg_splat_const(k32(c, q->hi), v2);
	v = cg_sel(c, cg_icmp(c, LLVMIntSLT, v, lo), lo, v);
	v = cg_sel(c, cg_icmp(c, LLVMIntSGT, v, hi), hi, v);
	store_chunk(c, pl, LLVMBuildTrunc(c->b, v, LLVMVectorType(c->i8, (unsigned)(2 * L)), ""), at(c, yrow, ow0), valid);
}

/* w - z_w of weight i (channel m) as s8, false when it does not fit. */
static bool weight_s8(const Type *tw, const void *data, int64_t i, int64_t m, int32_t *out)
{
	int32_t v = tw->dt == DT_I8 ? ((const int8_t *)data)[i] : ((const uint8_t *)data)[i];
	v -= tw->q->zero[tw->q->n > 1 ? m : 0];
	*out = v;
	return v >= -128 && v <= 127;
}

/* The constant tables of a depthwise conv: false when a weight does not
 * fit s8 or an accumulator could leave int32. */
static bool dw_tables(Cg *c, const Node *n, Plane *pl, DwQ *q)
{
	const Type *tx = cg_ty(c, n->in[0]), *tw = cg_ty(c, n->in[1]), *ty = cg_ty(c, n->out);
	const void *wd = ir_value(c->g, n->in[1])->data;
	const int32_t *bd = n->nin > 2 && n->in[2] >= 0 ? ir_value(c->g, n->in[2])->data : NULL;
	int64_t M = pl->g.M, T = pl->ntap, np = q->npair;
	int32_t zx = tx->q->zero[0] + (pl->flip ? 128 : 0);
	int8_t *wt = calloc((size_t)(2 * M * np + 1), 1);
	int32_t *bt = malloc(sizeof *bt * (size_t)M), *rq = malloc(sizeof *rq * (size_t)M);
	uint8_t *sh = malloc((size_t)M);
	if (!wt || !bt || !rq || !sh)
		die("out of memory");
	bool ok = true;
	q->fast = X86RQ_FITS | X86RQ_NOTIES | X86RQ_HIGH;
	cg_int_bounds(n, ty, &q->lo, &q->hi);
	q->zy = ty->q->zero[0];
	for (int64_t m = 0; m < M && ok; m++) {
		int64_t sum = 0, mag = 0;
		for (int64_t k = 0; k < np && ok; k++)
			for (int i = 0; i < 2 && ok; i++) {
				int32_t v = 0, t = q->tap[k][i];
				if (t < 0)
					continue;
				ok = weight_s8(tw, wd, m * T + t, m, &v);
				sum += v;
				mag += abs(v);
				wt[2 * (m * np + k) + i] = (int8_t)v;
			}
		int64_t b = (bd ? bd[m] : 0) - (int64_t)zx * sum, acc = 255 * mag + (b < 0 ? -b : b);
		ok = ok && acc <= INT32_MAX;
		bt[m] = (int32_t)b;
		Requant r = cg_requant_of(c, n, (double)tx->q->scale[0] * tw->q->scale[tw->q->n > 1 ? m : 0] / ty->q->scale[0]);
		rq[m] = r.mult;
		sh[m] = (uint8_t)r.shift;
		ok = ok && r.shift >= 0 && r.shift < 256;
		q->fast &= cg_x86_requant_fits(r, acc, q->zy);
		if (!(q->fast & X86RQ_FITS))
			q->fast = 0;
	}
	if (ok) {
		q->Wt = cg_x86_blob(c, "kiln.dw_w", wt, (size_t)(2 * M * np), 2);
		q->Bt = cg_x86_blob(c, "kiln.dw_b", bt, sizeof *bt * (size_t)M, 4);
		q->Mq = cg_x86_blob(c, "kiln.dw_m", rq, sizeof *rq * (size_t)M, 4);
		q->Sq = cg_x86_blob(c, "kiln.dw_s", sh, (size_t)M, 1);
	}
	free(wt), free(bt), free(rq), free(sh);
	return ok;
}

static bool is_byte(DType dt) { return dt == DT_U8 || dt == DT_I8; }

bool cg_int_dw_fast(Cg *c, const Node *n)
{
	if (!cg_x86_int_lanes(c))
		return false;
	const Type *tx = cg_ty(c, n->in[0]), *ty = cg_ty(c, n->out);
	if (!is_byte(tx->dt) || !is_byte(cg_ty(c, n->in[1])->dt) || !is_byte(ty->dt))
		return false;
	bool has_b = n->nin > 2 && n->in[2] >= 0;
	if ((tx->rank != 3 && tx->rank != 4) || tx->block || ty->block || ir_value(c->g, n->in[1])->kind != VAL_CONST ||
	    (has_b && ir_value(c->g, n->in[2])->kind != VAL_CONST) || (n->nin > 3 && n->in[3] >= 0))
		return false;
	Geo g = cg_geometry(c, n, true);
	if (g.group != g.C || g.M % g.C)
		return false;
	Plane pl = {.flip = tx->dt == DT_I8, .X = cg_buf(c, n->in[0]), .Y = cg_buf(c, n->out)};
	if (!plane_setup(c, n, &pl, true, 0, LLVMInt16TypeInContext(c->ctx)))
		return false;
	DwQ q = {0};
	dw_pairs(&pl, &q);
	if (!dw_tables(c, n, &pl, &q))
		return false;
	pl.fill = (uint8_t)(tx->q->zero[0] + (pl.flip ? 128 : 0));
	bool keep = c->keep_loops;
	c->keep_loops = true;
	plane_buffer(c, &pl);
	over_planes(c, &pl, &q, g.M / g.C, dw_channel, dw_chunk);
	c->keep_loops = keep;
	return true;
}

/* ---- max pool ------------------------------------------------------------------------------- */

static void max_chunk(Cg *c, Plane *pl, void *ctx, LLVMValueRef band, LLVMValueRef yrow, LLVMValueRef ow0, int64_t valid)
{
	bool sgn = *(bool *)ctx;
	LLVMTypeRef vp = LLVMVectorType(c->i8, (unsigned)pl->P);
	LLVMValueRef base = at(c, band, ow0), v = NULL;
	for (int t = 0; t < pl->ntap; t++) {
		LLVMValueRef x = loadv(c, vp, atk(c, base, pl->toff[t]));
		v = !v ? x : cg_sel(c, cg_icmp(c, sgn ? LLVMIntSGT : LLVMIntUGT, x, v), x, v);
	}
	store_chunk(c, pl, v, at(c, yrow, ow0), valid);
}

bool cg_int_pool_fast(Cg *c, const Node *n)
{
	int L = cg_x86_int_lanes(c);
	const Type *tx = cg_ty(c, n->in[0]), *ty = cg_ty(c, n->out);
	if (!L || n->op != OP_MAXPOOL || (tx->rank != 3 && tx->rank != 4) || tx->block || ty->block || !is_byte(tx->dt))
		return false;
	Plane pl = {.X = cg_buf(c, n->in[0]), .Y = cg_buf(c, n->out), .fill = tx->dt == DT_I8 ? 0x80 : 0};
	if (!plane_setup(c, n, &pl, false, 4 * L, c->i8))
		return false;
	bool sgn = tx->dt == DT_I8, keep = c->keep_loops;
	c->keep_loops = true;
	plane_buffer(c, &pl);
	over_planes(c, &pl, &sgn, 1, NULL, max_chunk);
	c->keep_loops = keep;
	return true;
}
