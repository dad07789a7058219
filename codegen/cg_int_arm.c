/* The int8 kernels of AArch64, and the structure they share with the RVV
 * ones (cg_int_rvv.c): conv, gemm and matmul with constant 8-bit weights
 * as register-blocked products over K in units of `unit` bytes, one
 * ByteDot step per unit (or per two: `paired`).  AArch64 takes K in quads
 * (unit 4, an i32 lane per output): sdot by element with the dot-product
 * extension, else smull + sadalp (smull + smlal + sadalp on pair-safe
 * weights); RVV takes it a byte at a time (unit 1, 16 outputs a vector,
 * vwmacc.vx on i16).
 * Checked bit for bit under qemu-user against the plain lowerings
 * (cg_int.c) and against C with ir_requantize (tests/e2e/test_int_kernels.py).
 *
 * Both operands are s8: weights minus their zero point (checked to fit at
 * compile time, else the plain lowering runs), activations as they are
 * when i8 and with the top bit flipped (x - 128) when u8.  What that
 * shifts is folded into a per-channel bias at compile time:
 * sum (x - z_x)(w - z_w) = sum x'w' - z_x' sum w', with padding taps
 * reading z_x' so the fold holds for them too.  Accumulations are int32
 * and never wrap: 128 * sum |w'| + |bias'| < 2^31 or the plain lowering
 * runs.  A product of two s8 fits i16; two of them overflow i16 only as
 * (-128)(-128) + (-128)(-128), so the paired steps (two units summed in
 * i16 before widening) run only on weights with no byte position where
 * two paired units are both -128.
 *
 * conv: pixels in the lanes, output channels broadcast.  A band of output
 * rows is packed at run time into [tap][unit of channels][pixel][unit]
 * bytes on the stack (im2col; the pack reads 16 columns of each channel
 * plane at a time, flips, interleaves); a tile of MR channels x NR
 * vectors then runs over every unit of the band and its epilogue
 * requantizes whole vectors (cg_requant) into the output planes.
 * gemm/matmul: columns in the lanes, rows of A broadcast from a copy of
 * the tile's rows (flipped, K padded to whole units).  The weights are
 * packed at compile time as [tile][unit of K][channel of the tile][unit]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"
#include "targets.h"

#define BK_RMAX 16          /* broadcast rows of a tile */
#define BK_VMAX 8           /* vectors of a tile */
#define BK_RQ_MAX 16        /* pieces of a requantized vector */
#define BK_CHUNK 16         /* columns the band pack moves at once (then 8, 4, 2, 1) */
/* The packed band of activations lives on the stack: at most this many
 * bytes, or the conv is not taken (a single output row must fit). */
#define BK_BAND_BYTES (128 * 1024)
#define BK_BAND_MAX (1024 * 1024)

/* ---- the target --------------------------------------------------------------------- */

bool cg_bytedot_target(Cg *c, const char *arch, char *cpu, size_t cap, char **features)
{
	*features = NULL;
	const char *triple = LLVMGetTarget(c->mod);
	if (c->reference || strncmp(triple, arch, strlen(arch)))
		return false;
	unsigned len;
	LLVMAttributeRef ca = LLVMGetStringAttributeAtIndex(c->fn, LLVMAttributeFunctionIndex, "target-cpu", 10);
	LLVMAttributeRef fa = LLVMGetStringAttributeAtIndex(c->fn, LLVMAttributeFunctionIndex, "target-features", 15);
	cpu[0] = 0;
	if (ca) {
		const char *v = LLVMGetStringAttributeValue(ca, &len);
		snprintf(cpu, cap, "%.*s", (int)len, v);
	}
	char *feat = NULL;
	if (fa) {
		const char *v = LLVMGetStringAttributeValue(fa, &len);
		feat = strndup(v, len);
	}
	const Target *t = tgt_find(triple);
	if (!t || tgt_vec_bytes(t, cpu, feat) != 16) {
		free(feat);
		return false;
	}
	*features = feat;
	return true;
}

/* ---- the kernel's state --------------------------------------------------------------- */

typedef struct Bk {
	const ByteDot *d;
	int L, MR, NR;                 /* outputs per vector; tile */
	int64_t KK;                    /* units of K per output */
	LLVMTypeRef vb, va, vo;        /* <16 x i8>, the accumulator, <L x i32> */
	LLVMValueRef Wp, Bp, Rq;       /* packed weights, folded bias, [multipliers, shifts] */
	int64_t nrq;                   /* multipliers in Rq (the shifts follow) */
	bool flip;                     /* u8 activations: top bit flipped */
	int32_t zx;                    /* z_x as the kernel reads it (flipped: z_x - 128) */
	int32_t zy, lo, hi;
	LLVMValueRef acc[BK_RMAX][BK_VMAX];
} Bk;

static LLVMValueRef k32(Cg *c, int64_t v) { return LLVMConstInt(c->i32, (unsigned long long)v, 1); }
static LLVMValueRef at(Cg *c, LLVMValueRef base, LLVMValueRef off) { return cg_gep(c, c->i8, base, off); }
static LLVMValueRef atk(Cg *c, LLVMValueRef base, int64_t off) { return cg_gep(c, c->i8, base, cg_i64(c, off)); }

static LLVMValueRef load1(Cg *c, LLVMTypeRef t, LLVMValueRef p)
{
	LLVMValueRef v = LLVMBuildLoad2(c->b, t, p, "");
	LLVMSetAlignment(v, 1);
	return v;
}

static void store1(Cg *c, LLVMValueRef v, LLVMValueRef p) { LLVMSetAlignment(LLVMBuildStore(c->b, v, p), 1); }

/* Lanes [h*n, h*n + n) of v. */
static LLVMValueRef lanes(Cg *c, LLVMValueRef v, int h, int n)
{
	LLVMValueRef mask[16];
	for (int l = 0; l < n; l++)
		mask[l] = k32(c, h * n + l);
	return LLVMBuildShuffleVector(c->b, v, LLVMGetUndef(LLVMTypeOf(v)), LLVMConstVector(mask, (unsigned)n), "");
}

/* Element i of weights w (channel m) minus its zero point, as s8; false
 * when it does not fit. */
static bool centred_s8(const Type *tw, const void *w, int64_t i, int64_t m, int8_t *out)
{
	int32_t v = (tw->dt == DT_I8 ? ((const int8_t *)w)[i] : ((const uint8_t *)w)[i]) - tw->q->zero[tw->q->n > 1 ? m : 0];
	*out = (int8_t)v;
	return v >= -128 && v <= 127;
}

/* Dense weights [nch][KK][unit] (zero where K ends) are pair-safe: no
 * byte position where units 2j and 2j+1 of a channel are both -128. */
static bool pair_safe(const int8_t *wd, int64_t nch, int64_t KK, int u)
{
	for (int64_t m = 0; m < nch; m++)
		for (int64_t kk = 1; kk < KK; kk += 2)
			for (int i = 0; i < u; i++)
				if (wd[(m * KK + kk - 1) * u + i] == -128 && wd[(m * KK + kk) * u + i] == -128)
					return false;
	return true;
}

/* The dot for dense weights wd: d's paired form when there are pairs and
 * they are safe. */
static const ByteDot *choose_dot(const ByteDot *d, const int8_t *wd, int64_t nch, int64_t KK)
{
	return d->pairs && KK > 1 && pair_safe(wd, nch, KK, d->unit) ? d->pairs : d;
}

/* The kernel's constants from dense weights wd ([nch][KK][unit], freed
 * here), in tiles of G channels: the weights packed, the bias b (NULL: 0)
 * with z_x' * sum(w) taken off, the multipliers s_x * s_w[m] / s_y (a
 * ratio of the f32 scales in double, as cg_int.c's).  Sets how the
 * activations are read (flip, z_x').  False (nothing made) when an
 * accumulation could leave int32. */
static bool pack_weights(Cg *c, const Node *n, Bk *k, int8_t *wd, int64_t nch, int64_t G, const int32_t *b)
{
	const Type *tx = cg_ty(c, n->in[0]), *tw = cg_ty(c, n->in[1]), *ty = cg_ty(c, n->out);
	k->flip = tx->dt == DT_U8;
	k->zx = tx->q->zero[0] - (k->flip ? 128 : 0);
	int u = k->d->unit;
	int64_t KK = k->KK, nt = (nch + G - 1) / G, KU = KK * u;
	int8_t *w = calloc((size_t)(nt * KK * G * u + 16), 1);  /* + 16: whole-vector reads of a tile's rows */
	int32_t *bias = calloc((size_t)(nt * G + 1), sizeof *bias), *rq = calloc((size_t)(2 * nt * G + 1), sizeof *rq);
	if (!w || !bias || !rq)
		die("out of memory");
	bool ok = true;
	for (int64_t m = 0; m < nch && ok; m++) {
		int64_t sum = 0, mag = 0;
		for (int64_t i = 0; i < KU; i++) {
			sum += wd[m * KU + i];
			mag += abs(wd[m * KU + i]);
			w[((m / G * KK + i / u) * G + m % G) * u + i % u] = wd[m * KU + i];
		}
		int64_t bb = (b ? b[m] : 0) - (int64_t)k->zx * sum;
		ok = 128 * mag + (bb < 0 ? -bb : bb) <= INT32_MAX;
		Requant q = cg_requant_of(c, n, (double)tx->q->scale[0] * tw->q->scale[tw->q->n > 1 ? m : 0] / ty->q->scale[0]);
		bias[m] = (int32_t)bb, rq[m] = q.mult, rq[nt * G + m] = q.shift;
	}
	if (ok) {
		k->Wp = cg_const_blob(c, "kiln.qw", w, (size_t)(nt * KK * G * u + 16));
		k->Bp = cg_const_blob(c, "kiln.qb", bias, (size_t)(nt * G) * sizeof *bias);
		k->Rq = cg_const_blob(c, "kiln.qr", rq, (size_t)(2 * nt * G) * sizeof *rq);
		k->nrq = nt * G;
	}
	free(w), free(bias), free(rq), free(wd);
	return ok;
}

/* The kernel runs dot d: its tile, and outputs per vector. */
static void bk_use(Bk *k, const ByteDot *d)
{
	k->d = d;
	k->MR = d->MR, k->NR = d->NR;
	k->L = 16 / d->unit;
}

/* Before emitting: the dot's types, the result's bounds, the
 * accumulators; the kernel's loops are kept as built.  Returns the
 * previous keep_loops for the caller to restore. */
static bool bk_begin(Cg *c, Bk *k, const Node *n)
{
	const Type *ty = cg_ty(c, n->out);
	k->vb = LLVMVectorType(c->i8, 16);
	k->va = LLVMVectorType(c->i32, (unsigned)k->d->acc_lanes);
	k->vo = LLVMVectorType(c->i32, (unsigned)k->L);
	cg_int_bounds(n, ty, &k->lo, &k->hi);
	k->zy = ty->q->zero[0];
	bool keep = c->keep_loops;
	c->keep_loops = true;
	for (int r = 0; r < k->MR; r++)
		for (int v = 0; v < k->NR; v++)
			k->acc[r][v] = cg_entry_alloca(c, k->va);
	return keep;
}

/* ---- the k loop and the epilogue --------------------------------------------------------- */

/* A tile's operands: vectors at vbase + kk*vstride + v*16, broadcast rows
 * at bbase + kk*bstride + r*bstep (bytes). */
typedef struct BkSrc {
	LLVMValueRef vbase, bbase;
	int64_t vstride, bstride, bstep;
} BkSrc;

/* acc[r][v] of an R x V tile += the products of units kk (and kk + 1
 * when the dot is paired and both is 2; with 1, the second unit is zeros). */
static void kstep(Cg *c, Bk *k, int R, int V, const BkSrc *s, LLVMValueRef kk, int both)
{
	LLVMValueRef x[BK_VMAX][2], b[2][BK_RMAX];
	for (int i = 0; i < (k->d->paired ? 2 : 1); i++) {
		LLVMValueRef ki = cg_add(c, kk, cg_i64(c, i));
		for (int v = 0; v < V; v++)
			x[v][i] = i < both ? load1(c, k->vb, at(c, s->vbase, cg_add(c, cg_mul(c, ki, cg_i64(c, s->vstride)), cg_i64(c, 16 * v))))
					   : LLVMConstNull(k->vb);
		if (i < both)
			k->d->bcast(c, at(c, s->bbase, cg_mul(c, ki, cg_i64(c, s->bstride))), s->bstep, R, b[i]);
		else
			memcpy(b[i], b[0], sizeof b[i]);
	}
	for (int r = 0; r < R; r++)
		for (int v = 0; v < V; v++) {
			LLVMValueRef br[2] = {b[0][r], b[1][r]};
			LLVMValueRef a = LLVMBuildLoad2(c->b, k->va, k->acc[r][v], "");
			LLVMBuildStore(c->b, k->d->step(c, a, x[v], br), k->acc[r][v]);
		}
}

/* The tile's accumulators from zero over every unit of K. */
static void kloop(Cg *c, Bk *k, int R, int V, const BkSrc *s)
{
	for (int r = 0; r < R; r++)
		for (int v = 0; v < V; v++)
			LLVMBuildStore(c->b, LLVMConstNull(k->va), k->acc[r][v]);
	int np = k->d->paired ? 2 : 1;
	Loop l;
	LLVMValueRef j = cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, k->KK / np));
	kstep(c, k, R, V, s, cg_mul(c, j, cg_i64(c, np)), np);
	cg_loop_end(c, &l, 1);
	if (k->KK % np)  /* paired, an odd unit left */
		kstep(c, k, R, V, s, cg_i64(c, k->KK - 1), 1);
}

/* Accumulator acc (+ bias) requantized to the result's bytes, <L x i8>;
 * bias, mult and shift <L x i32>.  In pieces of rq_lanes: cg_requant
 * computes in i64 lanes. */
static LLVMValueRef requant_vec(Cg *c, Bk *k, LLVMValueRef acc, LLVMValueRef bias, LLVMValueRef mult, LLVMValueRef shift)
{
	LLVMValueRef a = LLVMBuildAdd(c->b, k->d->finish ? k->d->finish(c, acc) : acc, bias, ""), y[BK_RQ_MAX], mask[16];
	int n = k->d->rq_lanes < k->L ? k->d->rq_lanes : k->L, np = k->L / n;
	LLVMTypeRef vn = LLVMVectorType(c->i32, (unsigned)n);
	for (int i = 0; i < np; i++) {
		LLVMValueRef part[3] = {a, mult, shift};
		for (int j = 0; np > 1 && j < 3; j++)
			part[j] = lanes(c, part[j], i, n);
		LLVMValueRef v = cg_requant(c, part[0], part[1], part[2], cg_splat_const(k32(c, k->zy), vn),
					    cg_splat_const(k32(c, k->lo), vn), cg_splat_const(k32(c, k->hi), vn));
		y[i] = LLVMBuildTrunc(c->b, v, LLVMVectorType(c->i8, (unsigned)n), "");
	}
	for (int w = n; w < k->L; w *= 2)  /* the pieces joined, two by two */
		for (int i = 0; i < k->L / (2 * w); i++) {
			for (int l = 0; l < 2 * w; l++)
				mask[l] = k32(c, l);
			y[i] = LLVMBuildShuffleVector(c->b, y[2 * i], y[2 * i + 1], LLVMConstVector(mask, (unsigned)(2 * w)), "");
		}
	return y[0];
}

/* An epilogue's load of t at p (a bias, multiplier or shift).  Volatile so
 * that LICM leaves it, and cg_requant's sext of it, in the epilogue:
 * hoisted out of a loop over tiles, the sext'd multiplier reaches the i64
 * product from another block, where instruction selection no longer sees
 * the extension (AArch64 then multiplies lane by lane in general
 * registers; RVV keeps LMUL-8 values live across the kernel, spilled). */
static LLVMValueRef epi_load(Cg *c, LLVMTypeRef t, LLVMValueRef p)
{
	LLVMValueRef v = load1(c, t, p);
	LLVMSetVolatile(v, 1);
	return v;
}

/* The first `valid` bytes of y (<L x i8>) at p. */
static void store_valid(Cg *c, Bk *k, LLVMValueRef y, LLVMValueRef p, int valid)
{
	if (valid >= k->L) {
		store1(c, y, p);
		return;
	}
	for (int l = 0; l < valid; l++)
		LLVMBuildStore(c->b, LLVMBuildExtractElement(c->b, y, k32(c, l), ""), atk(c, p, l));
}

/* ---- conv --------------------------------------------------------------------------------- */

typedef struct BkConv {
	Bk k;
	Geo g;
	int64_t KQ, T, P;          /* units of channels per tap, taps, output pixels */
	int64_t RB, BW, PBV;       /* a band: RB rows of BW columns, its pixels in whole vectors */
	bool flat;                 /* a 1x1 conv as one row of all pixels, banded along it */
	uint8_t zq;                /* the padding byte, z_x' */
	LLVMValueRef X, Y, Xp, n;
} BkConv;

/* ch columns from each plane[i] (NULL: zq) at offset off with stride sw,
 * flipped, interleaved by unit into dst. */
static void pack_chunk(Cg *c, BkConv *q, LLVMValueRef *plane, LLVMValueRef off, int64_t sw, int ch, LLVMValueRef dst)
{
	int u = q->k.d->unit;
	LLVMTypeRef vc = LLVMVectorType(c->i8, (unsigned)ch);
	if (ch == 1)
		sw = 1;  /* one byte read, not a stride's worth */
	LLVMTypeRef vs = LLVMVectorType(c->i8, (unsigned)(ch * sw));
	LLVMValueRef part[4] = {0}, mask[64];
	for (int i = 0; i < u; i++) {
		if (!plane[i]) {
			part[i] = cg_splat_const(LLVMConstInt(c->i8, q->zq, 0), vc);
			continue;
		}
		LLVMValueRef v = load1(c, vs, at(c, plane[i], off));
		if (sw > 1) {
			for (int l = 0; l < ch; l++)
				mask[l] = k32(c, l * sw);
			v = LLVMBuildShuffleVector(c->b, v, LLVMGetUndef(vs), LLVMConstVector(mask, (unsigned)ch), "");
		}
		part[i] = q->k.flip ? LLVMBuildXor(c->b, v, cg_splat_const(LLVMConstInt(c->i8, 0x80, 0), vc), "") : v;
	}
	if (u == 4) {  /* byte 4l + i of the result: column l of plane i */
		for (int l = 0; l < 2 * ch; l++)
			mask[l] = k32(c, l);
		LLVMValueRef ab = LLVMBuildShuffleVector(c->b, part[0], part[1], LLVMConstVector(mask, (unsigned)(2 * ch)), "");
		LLVMValueRef cd = LLVMBuildShuffleVector(c->b, part[2], part[3], LLVMConstVector(mask, (unsigned)(2 * ch)), "");
		for (int l = 0; l < ch; l++)
			for (int i = 0; i < 4; i++)
				mask[4 * l + i] = k32(c, (i / 2) * 2 * ch + (i % 2) * ch + l);
		part[0] = LLVMBuildShuffleVector(c->b, ab, cd, LLVMConstVector(mask, (unsigned)(4 * ch)), "");
	}
	store1(c, part[0], dst);
}

/* Columns [0, cnt) of a band row for one tap and unit of channels
 * [chan0, chan0 + nvalid) (the rest of the unit reads zq): column j reads
 * src + iw0 + j*sw in each channel's plane, no read past src + limit. */
static void pack_cols(Cg *c, BkConv *q, LLVMValueRef chan0, int nvalid, LLVMValueRef src, int64_t iw0, int64_t sw,
		      int64_t limit, LLVMValueRef dst, int64_t cnt)
{
	int u = q->k.d->unit;
	LLVMValueRef plane[4];
	for (int i = 0; i < u; i++)
		plane[i] = i < nvalid ? at(c, q->X, cg_add(c, cg_mul(c, cg_add(c, chan0, cg_i64(c, i)), cg_i64(c, q->g.H * q->g.W)), src)) : NULL;
	int64_t j = 0;
	/* Chunks of 16 columns, then narrower; the last chunk of a width
	 * overlaps the one before rather than run short. */
	for (int ch = BK_CHUNK; ch >= 2; ch /= 2)
		while (j < cnt && cnt >= ch) {
			int64_t j0 = j + ch <= cnt ? j : cnt - ch;
			if (iw0 + (j0 + ch) * sw > limit)
				break;
			pack_chunk(c, q, plane, cg_i64(c, iw0 + j0 * sw), sw, ch, atk(c, dst, j0 * u));
			j = j0 + ch;
		}
	for (; j < cnt; j++)
		pack_chunk(c, q, plane, cg_i64(c, iw0 + j * sw), sw, 1, atk(c, dst, j * u));
}

/* cnt pixels of padding (zq) at dst. */
static void pack_fill(Cg *c, BkConv *q, LLVMValueRef dst, int64_t cnt)
{
	if (cnt > 0)
		LLVMBuildMemSet(c->b, dst, LLVMConstInt(c->i8, q->zq, 0), cg_i64(c, cnt * q->k.d->unit), 1);
}

/* Pack the band of output rows [oh0, oh0 + rows) (columns [ow0, ow0 +
 * BW)) into Xp[tap][unit][pixel][unit]: per row and tap, the columns whose
 * input is inside are copied, the others and whole rows outside read zq. */
static void conv_pack(Cg *c, BkConv *q, LLVMValueRef oh0, LLVMValueRef ow0, int64_t rows)
{
	Geo *g = &q->g;
	int u = q->k.d->unit;
	int64_t full = g->C / u, part = g->C % u, BW = q->BW;
	Loop lr;
	LLVMValueRef rr = cg_loop_begin(c, &lr, cg_i64(c, 0), cg_i64(c, rows));
	LLVMValueRef oh = cg_add(c, oh0, rr), img = cg_mul(c, q->n, cg_i64(c, g->C));
	LLVMValueRef row0 = cg_mul(c, rr, cg_i64(c, BW));  /* the row's first pixel in the band */
	for (int64_t kh = 0; kh < g->KH; kh++) {
		LLVMValueRef ih = cg_add(c, cg_mul(c, oh, cg_i64(c, g->sh)), cg_i64(c, kh * g->dh - g->ph));
		LLVMValueRef src = cg_add(c, cg_mul(c, ih, cg_i64(c, g->W)), cg_mul(c, ow0, cg_i64(c, g->sw)));
		LLVMBasicBlockRef inside = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "row");
		LLVMBasicBlockRef outside = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "pad");
		LLVMBasicBlockRef after = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "rowdone");
		LLVMBuildCondBr(c->b, cg_in_range(c, ih, g->H), inside, outside);
		for (int side = 0; side < 2; side++) {
			LLVMPositionBuilderAtEnd(c->b, side ? outside : inside);
			for (int64_t kw = 0; kw < g->KW; kw++) {
				int64_t t = kh * g->KW + kw, off = kw * g->dw - g->pw;
				/* columns ow with 0 <= ow*sw + off < W (flat: all) */
				int64_t lo = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
				int64_t hi = g->W - 1 - off < 0 ? 0 : (g->W - 1 - off) / g->sw + 1;
				if (q->flat)
					lo = 0, hi = BW;
				hi = hi > BW ? BW : hi;
				lo = lo > hi ? hi : lo;
				for (int last = 0; last < 2; last++) {  /* the whole units, then a partial one */
					if (!(last ? part : full))
						continue;
					Loop lq;
					LLVMValueRef qq = last ? cg_i64(c, full) : cg_loop_begin(c, &lq, cg_i64(c, 0), cg_i64(c, full));
					LLVMValueRef kk = cg_add(c, cg_i64(c, t * q->KQ), qq);
					LLVMValueRef dst = at(c, q->Xp, cg_mul(c, cg_add(c, cg_mul(c, kk, cg_i64(c, q->PBV)), row0), cg_i64(c, u)));
					if (side)
						pack_fill(c, q, dst, BW);
					else {
						pack_fill(c, q, dst, lo);
						pack_cols(c, q, cg_add(c, img, cg_mul(c, qq, cg_i64(c, u))), last ? (int)part : u, src,
							  lo * g->sw + off, g->sw, q->flat ? BW : g->W, atk(c, dst, lo * u), hi - lo);
						pack_fill(c, q, atk(c, dst, hi * u), BW - hi);
					}
					if (!last)
						cg_loop_end(c, &lq, 1);
				}
			}
			LLVMBuildBr(c->b, after);
		}
		LLVMPositionBuilderAtEnd(c->b, after);
	}
	cg_loop_end(c, &lr, 1);
}

/* One tile: channels [mt*MR, + rows) x V pixel vectors from vector v0 of
 * the band; `valid` pixels of the last vector are stored (L: all). */
static void conv_tile(Cg *c, BkConv *q, LLVMValueRef mt, int rows, LLVMValueRef v0, int V, int valid, LLVMValueRef ybase)
{
	Bk *k = &q->k;
	int u = k->d->unit, MR = k->MR;
	BkSrc s = {.vbase = at(c, q->Xp, cg_mul(c, v0, cg_i64(c, 16))), .vstride = q->PBV * u,
		   .bbase = at(c, k->Wp, cg_mul(c, mt, cg_i64(c, k->KK * MR * u))), .bstride = MR * u, .bstep = u};
	kloop(c, k, rows, V, &s);
	for (int r = 0; r < rows; r++) {
		LLVMValueRef m = cg_add(c, cg_mul(c, mt, cg_i64(c, MR)), cg_i64(c, r));
		LLVMValueRef bias = cg_splat(c, epi_load(c, c->i32, cg_gep(c, c->i32, k->Bp, m)), k->vo);
		LLVMValueRef mult = cg_splat(c, epi_load(c, c->i32, cg_gep(c, c->i32, k->Rq, m)), k->vo);
		LLVMValueRef sh = cg_splat(c, epi_load(c, c->i32, cg_gep(c, c->i32, k->Rq, cg_add(c, m, cg_i64(c, k->nrq)))), k->vo);
		LLVMValueRef yrow = at(c, ybase, cg_mul(c, m, cg_i64(c, q->P)));
		for (int v = 0; v < V; v++) {
			LLVMValueRef y = requant_vec(c, k, LLVMBuildLoad2(c->b, k->va, k->acc[r][v], ""), bias, mult, sh);
			store_valid(c, k, y, at(c, yrow, cg_mul(c, cg_add(c, v0, cg_i64(c, v)), cg_i64(c, k->L))), v == V - 1 ? valid : k->L);
		}
	}
}

/* Every tile over a packed band of pb pixels whose output starts at ybase
 * (channel 0's plane). */
static void conv_band(Cg *c, BkConv *q, int64_t pb, LLVMValueRef ybase)
{
	Bk *k = &q->k;
	int L = k->L, NR = k->NR;
	int64_t M = q->g.M, MR = k->MR, nv = (pb + L - 1) / L, last = pb - (nv - 1) * L;
	int64_t ntile = nv / NR, rest = nv % NR;
	if (last < L && !rest) {  /* the partial vector goes in a tile of its own */
		ntile--;
		rest = NR;
	}
	int64_t fullm = M / MR, remm = M % MR;
	for (int pm = 0; pm < 2; pm++) {
		if (!(pm ? remm : fullm))
			continue;
		Loop lm, lp;
		LLVMValueRef mt = pm ? cg_i64(c, fullm) : cg_loop_begin(c, &lm, cg_i64(c, 0), cg_i64(c, fullm));
		int rows = (int)(pm ? remm : MR);
		if (ntile) {
			LLVMValueRef pt = cg_loop_begin(c, &lp, cg_i64(c, 0), cg_i64(c, ntile));
			conv_tile(c, q, mt, rows, cg_mul(c, pt, cg_i64(c, NR)), NR, L, ybase);
			cg_loop_end(c, &lp, 1);
		}
		if (rest)
			conv_tile(c, q, mt, rows, cg_i64(c, ntile * NR), (int)rest, (int)last, ybase);
		if (!pm)
			cg_loop_end(c, &lm, 1);
	}
}

/* Conv weights minus zero points, dense [M][tap][unit][unit bytes] (zero
 * padded), *KK units per channel; NULL when one does not fit s8. */
static int8_t *conv_dense(const Type *tw, const void *data, const Geo *g, int u, int64_t *KK)
{
	int64_t KQ = (g->C + u - 1) / u, T = g->KH * g->KW, KC = T * KQ * u;
	*KK = T * KQ;
	int8_t *wd = calloc((size_t)(g->M * KC + 1), 1);
	if (!wd)
		die("out of memory");
	for (int64_t m = 0; m < g->M; m++)
		for (int64_t ci = 0; ci < g->C; ci++)
			for (int64_t t = 0; t < T; t++)
				if (!centred_s8(tw, data, (m * g->C + ci) * T + t, m, &wd[m * KC + (t * KQ + ci / u) * u + ci % u])) {
					free(wd);
					return NULL;
				}
	return wd;
}

/* Band geometry: rows of the whole width, or a flattened 1x1 conv's one
 * row in bands of columns; false when one output row does not fit. */
static bool conv_bands(BkConv *q)
{
	Geo *g = &q->g;
	int64_t L = q->k.L, unit_bytes = q->k.KK * q->k.d->unit;  /* packed bytes of one pixel */
	if (q->flat) {
		g->W = g->OW = g->H * g->W;
		g->H = g->OH = 1;
		q->RB = 1;
		q->BW = BK_BAND_BYTES / unit_bytes / L * L;
		q->BW = q->BW < L ? L : q->BW > g->OW ? g->OW : q->BW;
		int64_t nb = (g->OW + q->BW - 1) / q->BW;
		q->BW = (g->OW + nb - 1) / nb;
	} else {
		int64_t row = unit_bytes * g->OW;
		if (row > BK_BAND_MAX)
			return false;
		q->BW = g->OW;
		int64_t rb = BK_BAND_BYTES / row, nb;
		rb = rb < 1 ? 1 : rb > g->OH ? g->OH : rb;
		nb = (g->OH + rb - 1) / rb;
		q->RB = (g->OH + nb - 1) / nb;
	}
	q->PBV = (q->RB * q->BW + L - 1) / L * L;
	return true;
}

bool cg_bytedot_conv(Cg *c, const Node *n, const ByteDot *d)
{
	const Type *tx = cg_ty(c, n->in[0]), *tw = cg_ty(c, n->in[1]), *ty = cg_ty(c, n->out);
	const Value *wv = ir_value(c->g, n->in[1]);
	bool has_b = n->nin > 2 && n->in[2] >= 0;
	if ((tx->rank != 3 && tx->rank != 4) || tx->block || ty->block || !ir_type_numel(tx) || !ir_type_numel(ty) ||
	    wv->kind != VAL_CONST || (has_b && ir_value(c->g, n->in[2])->kind != VAL_CONST) || (n->nin > 3 && n->in[3] >= 0))
		return false;
	BkConv q = {.g = cg_geometry(c, n, true)};
	Bk *k = &q.k;
	Geo *g = &q.g;
	if (g->group != 1)
		return false;
	int8_t *wd = conv_dense(tw, wv->data, g, d->unit, &k->KK);
	if (!wd)
		return false;
	bk_use(k, choose_dot(d, wd, g->M, k->KK));
	q.T = g->KH * g->KW;
	q.KQ = k->KK / q.T;
	q.P = g->OH * g->OW;
	q.flat = g->KH == 1 && g->KW == 1 && g->sh == 1 && g->sw == 1 && !g->ph && !g->pw && !g->pe_h && !g->pe_w;
	if (!conv_bands(&q)) {
		free(wd);
		return false;
	}
	if (!pack_weights(c, n, k, wd, g->M, k->MR, has_b ? ir_value(c->g, n->in[2])->data : NULL))
		return false;
	q.zq = (uint8_t)k->zx;
	bool keep = bk_begin(c, k, n);
	int u = k->d->unit;
	q.Xp = cg_entry_alloca(c, LLVMArrayType(c->i8, (unsigned)(k->KK * q.PBV * u)));
	LLVMSetAlignment(q.Xp, 16);
	/* The pixels past a band's end are computed and never stored: give
	 * them defined bytes once. */
	int64_t along = q.flat ? g->OW : g->OH, step = q.flat ? q.BW : q.RB;
	if ((q.RB * q.BW) % k->L || along % step)
		LLVMBuildMemSet(c->b, q.Xp, LLVMConstInt(c->i8, q.zq, 0), cg_i64(c, k->KK * q.PBV * u), 16);
	q.X = cg_buf(c, n->in[0]);
	q.Y = cg_buf(c, n->out);
	Loop ln, lb;
	q.n = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, g->N));
	LLVMValueRef yimg = at(c, q.Y, cg_mul(c, q.n, cg_i64(c, g->M * q.P)));
	int64_t nfull = along / step, tail = along % step;
	for (int pt = 0; pt < 2; pt++) {  /* the whole bands, then a shorter last one */
		if (!(pt ? tail : nfull))
			continue;
		LLVMValueRef b = pt ? cg_i64(c, nfull) : cg_loop_begin(c, &lb, cg_i64(c, 0), cg_i64(c, nfull));
		int64_t cnt = pt ? tail : step;
		LLVMValueRef first = cg_mul(c, b, cg_i64(c, step));
		if (q.flat) {
			int64_t bw = q.BW;
			q.BW = cnt;  /* the pack reads this band's width */
			conv_pack(c, &q, cg_i64(c, 0), first, 1);
			q.BW = bw;
		} else
			conv_pack(c, &q, first, cg_i64(c, 0), cnt);
		conv_band(c, &q, q.flat ? cnt : cnt * g->OW, at(c, yimg, q.flat ? first : cg_mul(c, first, cg_i64(c, g->OW))));
		if (!pt)
			cg_loop_end(c, &lb, 1);
	}
	cg_loop_end(c, &ln, 1);
	c->keep_loops = keep;
	return true;
}

/* ---- gemm and matmul ----------------------------------------------------------------------- */

/* rows x K (A row-major) times the packed constant B -> rows x N: a tile
 * of R rows is first copied into Ap[R][KK*unit] (flipped, zero padded),
 * once for every column tile it meets; columns in tiles of G = NR*L. */
typedef struct BkGemm {
	Bk k;
	int64_t rows, K, N, G;
	LLVMValueRef A, Y, Ap;
} BkGemm;

static void gemm_pack_a(Cg *c, BkGemm *q, LLVMValueRef r0, int R)
{
	int64_t K = q->K, KU = q->k.KK * q->k.d->unit, nch = K / 16;
	LLVMTypeRef v16 = LLVMVectorType(c->i8, 16);
	LLVMValueRef flip = LLVMConstInt(c->i8, q->k.flip ? 0x80 : 0, 0);
	for (int r = 0; r < R; r++) {
		LLVMValueRef src = at(c, q->A, cg_mul(c, cg_add(c, r0, cg_i64(c, r)), cg_i64(c, K))), dst = atk(c, q->Ap, r * KU);
		if (nch) {
			Loop l;
			LLVMValueRef j = cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, nch * 16));
			store1(c, LLVMBuildXor(c->b, load1(c, v16, at(c, src, j)), cg_splat_const(flip, v16), ""), at(c, dst, j));
			cg_loop_end(c, &l, 16);
		}
		for (int64_t j = nch * 16; j < KU; j++)
			LLVMBuildStore(c->b, j < K ? LLVMBuildXor(c->b, cg_load(c, c->i8, src, cg_i64(c, j)), flip, "") : LLVMConstInt(c->i8, 0, 0),
				       atk(c, dst, j));
	}
}

/* R rows from r0 times column tile nt (V vectors, the last with `valid`
 * columns). */
static void gemm_tile(Cg *c, BkGemm *q, LLVMValueRef r0, int R, LLVMValueRef nt, int V, int valid)
{
	Bk *k = &q->k;
	int u = k->d->unit, L = k->L;
	BkSrc s = {.vbase = at(c, k->Wp, cg_mul(c, nt, cg_i64(c, k->KK * q->G * u))), .vstride = q->G * u,
		   .bbase = q->Ap, .bstride = u, .bstep = k->KK * u};
	kloop(c, k, R, V, &s);
	for (int v = 0; v < V; v++) {
		LLVMValueRef n0 = cg_add(c, cg_mul(c, nt, cg_i64(c, q->G)), cg_i64(c, v * L));
		LLVMValueRef bias = epi_load(c, k->vo, cg_gep(c, c->i32, k->Bp, n0));
		LLVMValueRef mult = epi_load(c, k->vo, cg_gep(c, c->i32, k->Rq, n0));
		LLVMValueRef sh = epi_load(c, k->vo, cg_gep(c, c->i32, k->Rq, cg_add(c, n0, cg_i64(c, k->nrq))));
		for (int r = 0; r < R; r++) {
			LLVMValueRef y = requant_vec(c, k, LLVMBuildLoad2(c->b, k->va, k->acc[r][v], ""), bias, mult, sh);
			LLVMValueRef yo = cg_add(c, cg_mul(c, cg_add(c, r0, cg_i64(c, r)), cg_i64(c, q->N)), n0);
			store_valid(c, k, y, at(c, q->Y, yo), v == V - 1 ? valid : L);
		}
	}
}

/* Every column tile for R rows from r0. */
static void gemm_rows(Cg *c, BkGemm *q, LLVMValueRef r0, int R)
{
	int L = q->k.L;
	int64_t full = q->N / q->G, rem = q->N % q->G;
	gemm_pack_a(c, q, r0, R);
	if (full) {
		Loop l;
		LLVMValueRef nt = cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, full));
		gemm_tile(c, q, r0, R, nt, q->k.NR, L);
		cg_loop_end(c, &l, 1);
	}
	if (rem) {
		int64_t nv = (rem + L - 1) / L;
		gemm_tile(c, q, r0, R, cg_i64(c, full), (int)nv, (int)(rem - (nv - 1) * L));
	}
}

/* B's columns minus zero points, dense [N][unit of K][unit]; NULL when one
 * does not fit s8. */
static int8_t *gemm_dense(const Type *tb, const void *bd, int64_t K, int64_t N, int64_t b_ks, int64_t b_ns, int u, int64_t *KK)
{
	*KK = (K + u - 1) / u;
	int64_t KC = *KK * u;
	int8_t *wd = calloc((size_t)(N * KC + 1), 1);
	if (!wd)
		die("out of memory");
	for (int64_t nn = 0; nn < N; nn++)
		for (int64_t kk = 0; kk < K; kk++)
			if (!centred_s8(tb, bd, kk * b_ks + nn * b_ns, nn, &wd[nn * KC + kk])) {
				free(wd);
				return NULL;
			}
	return wd;
}

/* gemm and matmul: B (K x N, element (k, n) at k*b_ks + n*b_ns) constant,
 * quantized per column or per tensor; cb the i32 bias per column (NULL:
 * none). */
static bool gemm_kernel(Cg *c, const Node *n, const ByteDot *d, int64_t rows, int64_t K, int64_t N, int64_t b_ks,
			int64_t b_ns, const int32_t *cb)
{
	BkGemm q = {.rows = rows, .K = K, .N = N};
	Bk *k = &q.k;
	const Type *tb = cg_ty(c, n->in[1]);
	if ((K + 3) / 4 * 4 * BK_RMAX > BK_BAND_MAX || (tb->q->n != 1 && tb->q->n != N))
		return false;
	int8_t *wd = gemm_dense(tb, ir_value(c->g, n->in[1])->data, K, N, b_ks, b_ns, d->unit, &k->KK);
	if (!wd)
		return false;
	bk_use(k, choose_dot(d, wd, N, k->KK));
	if (rows < k->MR) {  /* few rows (a GEMV): more vectors, as many accumulators at most */
		int nr = (int)(k->MR * k->NR / rows), fit = (32 - 3) / (int)(k->d->acc_regs * rows + (k->d->paired ? 2 : 1));
		k->MR = (int)rows;
		k->NR = nr < fit ? nr : fit;
		k->NR = k->NR > BK_VMAX ? BK_VMAX : k->NR < 1 ? 1 : k->NR;
	}
	q.G = k->NR * k->L;
	if (!pack_weights(c, n, k, wd, N, q.G, cb))
		return false;
	bool keep = bk_begin(c, k, n);
	q.Ap = cg_entry_alloca(c, LLVMArrayType(c->i8, (unsigned)(k->MR * k->KK * k->d->unit + 16)));
	q.A = cg_buf(c, n->in[0]);
	q.Y = cg_buf(c, n->out);
	int64_t full = rows / k->MR, rem = rows % k->MR;
	if (full) {
		Loop l;
		LLVMValueRef rt = cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, full));
		gemm_rows(c, &q, cg_mul(c, rt, cg_i64(c, k->MR)), k->MR);
		cg_loop_end(c, &l, 1);
	}
	if (rem)
		gemm_rows(c, &q, cg_i64(c, full * k->MR), (int)rem);
	c->keep_loops = keep;
	return true;
}

/* gemm: A not transposed, B constant, C absent or a constant row broadcast
 * down the rows ([N], [1,N] or a scalar).  matmul: B constant of rank <= 2
 * (one B for every row of A), A not transposed. */
bool cg_bytedot_matmul(Cg *c, const Node *n, const ByteDot *d)
{
	const Type *ta = cg_ty(c, n->in[0]), *tb = cg_ty(c, n->in[1]);
	bool tB = ir_attr_int(n, "trans_b", 0);
	if (ir_attr_int(n, "trans_a", 0) || ir_value(c->g, n->in[1])->kind != VAL_CONST || tb->rank > 2 ||
	    !ir_type_numel(ta) || !ir_type_numel(tb))
		return false;
	int64_t K = ta->dims[ta->rank - 1], N = tb->rank == 2 ? tb->dims[tB ? 0 : 1] : 1;
	int32_t *cb = NULL;
	if (n->op == OP_GEMM && n->nin > 2 && n->in[2] >= 0) {
		const Value *cv = ir_value(c->g, n->in[2]);
		const Type *tc = cg_ty(c, n->in[2]);
		int64_t last = tc->rank ? tc->dims[tc->rank - 1] : 1;
		if (cv->kind != VAL_CONST || (tc->rank == 2 && tc->dims[0] != 1))
			return false;
		cb = malloc(sizeof *cb * (size_t)N);
		if (!cb)
			die("out of memory");
		for (int64_t j = 0; j < N; j++)
			cb[j] = ((const int32_t *)cv->data)[last == 1 ? 0 : j];
	}
	bool ok = gemm_kernel(c, n, d, ir_type_numel(ta) / K, K, N, tb->rank == 2 && !tB ? N : 1, tB ? K : 1, cb);
	free(cb);
	return ok;
}

/* ---- AArch64 ------------------------------------------------------------------------------- */

/* The quads of cnt rows at p + r*stride, each splat over a <16 x i8>:
 * rows next to each other come four at a time from one 16-byte load (sdot
 * and smull then read them by element). */
static void arm_bcast(Cg *c, LLVMValueRef p, int64_t stride, int cnt, LLVMValueRef *out)
{
	LLVMTypeRef v4 = LLVMVectorType(c->i32, 4), v16 = LLVMVectorType(c->i8, 16);
	LLVMValueRef g = NULL, mask[4];
	for (int r = 0; r < cnt; r++) {
		LLVMValueRef s;
		if (stride == 4) {
			if (r % 4 == 0)
				g = load1(c, v4, atk(c, p, 4 * r));
			for (int l = 0; l < 4; l++)
				mask[l] = k32(c, r % 4);
			s = LLVMBuildShuffleVector(c->b, g, LLVMGetUndef(v4), LLVMConstVector(mask, 4), "");
		} else
			s = cg_splat(c, load1(c, c->i32, atk(c, p, r * stride)), v4);
		out[r] = LLVMBuildBitCast(c->b, s, v16, "");
	}
}

/* sdot: each i32 lane += its four s8 x s8 products. */
static LLVMValueRef sdot_step(Cg *c, LLVMValueRef acc, const LLVMValueRef *x, const LLVMValueRef *b)
{
	LLVMTypeRef t[2] = {LLVMTypeOf(acc), LLVMTypeOf(x[0])};
	return cg_call_intr(c, "llvm.aarch64.neon.sdot", t, 2, (LLVMValueRef[]){acc, x[0], b[0]}, 3);
}

/* smull then sadalp: the acc is <8 x i32>, lanes 0-3 the pairs of pixels
 * 0 and 1 (products of bytes 0-7), 4-7 of pixels 2 and 3 (bytes 8-15);
 * paired, smlal adds the second unit's products in i16 first. */
static LLVMValueRef smull_step(Cg *c, LLVMValueRef acc, const LLVMValueRef *x, const LLVMValueRef *b, int np)
{
	LLVMTypeRef v8h = LLVMVectorType(LLVMInt16TypeInContext(c->ctx), 8), v4 = LLVMVectorType(c->i32, 4);
	LLVMValueRef half[2], mask[8];
	for (int h = 0; h < 2; h++) {
		LLVMValueRef p = NULL;
		for (int i = 0; i < np; i++) {
			LLVMValueRef q = cg_call_intr(c, "llvm.aarch64.neon.smull", &v8h, 1,
						      (LLVMValueRef[]){lanes(c, x[i], h, 8), lanes(c, b[i], h, 8)}, 2);
			p = p ? LLVMBuildAdd(c->b, p, q, "") : q;
		}
		LLVMTypeRef t[2] = {v4, v8h};
		half[h] = LLVMBuildAdd(c->b, lanes(c, acc, h, 4), cg_call_intr(c, "llvm.aarch64.neon.saddlp", t, 2, &p, 1), "");
	}
	for (int l = 0; l < 8; l++)
		mask[l] = k32(c, l);
	return LLVMBuildShuffleVector(c->b, half[0], half[1], LLVMConstVector(mask, 8), "");
}

static LLVMValueRef smull1_step(Cg *c, LLVMValueRef acc, const LLVMValueRef *x, const LLVMValueRef *b)
{
	return smull_step(c, acc, x, b, 1);
}

static LLVMValueRef smull2_step(Cg *c, LLVMValueRef acc, const LLVMValueRef *x, const LLVMValueRef *b)
{
	return smull_step(c, acc, x, b, 2);
}

/* addp of the two halves: pixel l's pairs summed into lane l. */
static LLVMValueRef smull_finish(Cg *c, LLVMValueRef acc)
{
	LLVMTypeRef v4 = LLVMVectorType(c->i32, 4);
	return cg_call_intr(c, "llvm.aarch64.neon.addp", &v4, 1, (LLVMValueRef[]){lanes(c, acc, 0, 4), lanes(c, acc, 1, 4)}, 2);
}

/* Tiles for 32 registers: sdot 8 x 3 accumulators + 3 vectors + 2 weight
 * groups; smull 4 x 3 accumulators of two registers + 3 vectors + a
 * weight group + two products; paired, 4 x 2 and both units' operands. */
static const ByteDot arm_sdot = {.unit = 4, .acc_lanes = 4, .MR = 8, .NR = 3, .acc_regs = 1, .rq_lanes = 4, .bcast = arm_bcast,
				 .step = sdot_step};
static const ByteDot arm_smlal = {.unit = 4, .acc_lanes = 8, .MR = 4, .NR = 2, .acc_regs = 2, .rq_lanes = 4, .paired = true,
				  .bcast = arm_bcast, .step = smull2_step, .finish = smull_finish};
static const ByteDot arm_smull = {.unit = 4, .acc_lanes = 8, .MR = 4, .NR = 3, .acc_regs = 2, .rq_lanes = 4, .pairs = &arm_smlal,
				  .bcast = arm_bcast, .step = smull1_step, .finish = smull_finish};

/* The AArch64 dot for the node function's cpu and features. */
static const ByteDot *arm_dot(Cg *c)
{
	char cpu[64], *feat;
	if (!cg_bytedot_target(c, "aarch64", cpu, sizeof cpu, &feat))
		return NULL;
	bool dot = tgt_arm_has(cpu, feat, "dotprod");
	free(feat);
	return dot ? &arm_sdot : &arm_smull;
}

bool cg_int_conv_arm(Cg *c, const Node *n)
{
	const ByteDot *d = arm_dot(c);
	return d && cg_bytedot_conv(c, n, d);
}

bool cg_int_matmul_arm(Cg *c, const Node *n)
{
	const ByteDot *d = arm_dot(c);
	return d && cg_bytedot_matmul(c, n, d);
}
