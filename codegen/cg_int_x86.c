/* The x86 int8 kernels: conv, gemm and matmul with constant 8-bit weights
 * as register-blocked products of K in quads, one dot-product step per
 * quad: vpdpbusd (AVX-512 VNNI, AVX-VNNI), or vpmaddubsw + vpmaddwd
 * (AVX2, AVX-512BW), or the same structure with the dot in plain LLVM IR
 * (KILN_INT8_DOT=emulate: how the VNNI kernels run under test on a cpu
 * without VNNI).  Checked bit for bit against C computed with
 * ir_requantize (tests/unit/test_int_x86.c) and, after the merge, against
 * the reference integer lowerings.
 *
 * Both operands enter the dot as bytes: the unsigned one (activations,
 * i8 ones with 128 added: the byte's top bit flipped) and the signed one
 * (weights minus their zero point, checked to fit in s8 at compile time).
 * What that shifts is folded at compile time into a per-channel bias:
 * sum (x - z_x)(w - z_w) = sum x'w' - (z_x + 128 [i8]) * sum w', with the
 * padding taps reading z_x' so the fold holds for them too.
 *
 * conv: pixels in the lanes, output channels broadcast.  A band of output
 * rows is packed at run time into [tap][channel quad][pixel][4] bytes on
 * the stack (im2col in quads: the taps read the input once per output
 * row through vector interleaves of four channel planes); a tile of MR
 * channels x NR vectors of pixels then runs over every quad of the band,
 * and its epilogue requantizes whole vectors straight into the output
 * planes (cg_x86_requant).  A stem (fewer than 4 channels) has its quads
 * over the whole window, (tap, channel), read from a padded copy of the
 * band's input rows.  gemm/matmul: columns in the lanes, rows of A
 * broadcast (A's rows are already quads: no pack).
 *
 * vpmaddubsw adds two u8*s8 products into a saturating s16: exact unless
 * both weights have one sign and |w_2k + w_2k+1| > 128 (with opposite
 * signs the sum lies between 255 min(w) and 255 max(w)).  Such a pair
 * keeps weights summing to exactly +-128 in the packed operand, and the
 * rest d of its larger weight becomes a sparse correction entry (its
 * unit and byte, and d: 3 bytes for conv, 4 for gemm) that a short pass
 * after the main one adds for that channel alone (conv_fix, gemm_fix):
 * ResNet-18-like weights have one unsafe pair in 50-100 units, so the
 * entries cost ~1-2% of the time and the bytes.  A layer with many
 * (a uniform init, small trained nets) takes vpmaddwd on i16 pairs
 * instead (a unit of 4 bytes per lane is then 2 channels, not 4), exact
 * with no correction; its weights stay bytes in the object and are
 * widened on the way (conv: a channel tile per band into a stack copy,
 * gemm: vpmovsxbw as they load).  The per-channel multiplier is an i32,
 * the shift a byte. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"
#include "targets.h"

#define IK_RMAX 16  /* broadcast rows of a tile */
#define IK_VMAX 8   /* vectors of a tile */
/* The packed band of activations lives on the stack: at most this many
 * bytes, or the conv is not taken (a single output row must fit). */
#define IK_BAND_BYTES (128 * 1024)
#define IK_BAND_MAX (1024 * 1024)

/* ---- the dot product step ------------------------------------------------------- */

typedef enum Dot { DOT_VNNI, DOT_EMU, DOT_MADDUBS, DOT_PAIRS } Dot;

typedef struct IntIsa {
	Dot dot;
	bool simd;              /* AVX2 (32-byte vectors) or AVX-512BW (64): the kernels without a dot */
	int cpu;                /* channels per 4-byte unit: 4 u8 (a quad), or 2 i16 (a pair: DOT_PAIRS) */
	int L;                  /* i32 lanes of a vector */
	int regs;               /* vector registers */
	LLVMTypeRef vb, vw, vd; /* <4L x i8>, <2L x i16>, <L x i32> */
} IntIsa;

/* Which dot the cpu the code is compiled for has (the node function's
 * target-cpu and target-features, as cg_module.c set them); false when
 * none fits (not x86-64, no AVX2, the reference lowerings asked for). */
static bool int_isa(Cg *c, IntIsa *s)
{
	if (c->reference || strncmp(LLVMGetTarget(c->mod), "x86_64", 6))
		return false;
	unsigned len;
	LLVMAttributeRef ca = LLVMGetStringAttributeAtIndex(c->fn, LLVMAttributeFunctionIndex, "target-cpu", 10);
	LLVMAttributeRef fa = LLVMGetStringAttributeAtIndex(c->fn, LLVMAttributeFunctionIndex, "target-features", 15);
	char cpu[64] = "", *feat = NULL;
	if (ca) {
		const char *v = LLVMGetStringAttributeValue(ca, &len);
		snprintf(cpu, sizeof cpu, "%.*s", (int)len, v);
	}
	if (fa) {
		const char *v = LLVMGetStringAttributeValue(fa, &len);
		feat = strndup(v, len);
	}
	int vbytes = 4 * c->lanes;
	bool avx2 = tgt_x86_has(cpu, feat, "avx2"), bw = tgt_x86_has(cpu, feat, "avx512bw");
	bool vnni512 = tgt_x86_has(cpu, feat, "avx512vnni");
	bool vnni = vbytes == 64 ? vnni512 : (vnni512 && tgt_x86_has(cpu, feat, "avx512vl")) || tgt_x86_has(cpu, feat, "avxvnni");
	free(feat);
	const char *env = getenv("KILN_INT8_DOT");
	if (vbytes != 32 && vbytes != 64)
		return false;
	s->simd = vbytes == 32 ? avx2 : bw;
	if (env && !strcmp(env, "emulate"))
		s->dot = DOT_EMU;
	else if (vnni)
		s->dot = DOT_VNNI;
	else if (vbytes == 32 ? avx2 : bw)
		s->dot = env && !strcmp(env, "pairs") ? DOT_PAIRS : DOT_MADDUBS;
	else
		return false;
	s->cpu = s->dot == DOT_PAIRS ? 2 : 4;
	s->L = c->lanes;
	s->regs = c->fregs;
	s->vb = LLVMVectorType(c->i8, 4 * s->L);
	s->vw = LLVMVectorType(LLVMInt16TypeInContext(c->ctx), 2 * s->L);
	s->vd = LLVMVectorType(c->i32, s->L);
	return true;
}

/* acc + per lane the sum of its four u8 * s8 products (u unsigned bytes,
 * w signed; both <4L x i8>), or for DOT_PAIRS of its two i16 products
 * (u zero-extended bytes, w sign-extended: vpmaddwd, never saturating).
 * MADDUBS needs pair-safe w (see the top). */
static LLVMValueRef dot4(Cg *c, const IntIsa *s, LLVMValueRef acc, LLVMValueRef u, LLVMValueRef w)
{
	int L = s->L;
	if (s->dot == DOT_PAIRS) {
		LLVMValueRef a[2] = {LLVMBuildBitCast(c->b, u, s->vw, ""), LLVMBuildBitCast(c->b, w, s->vw, "")};
		return LLVMBuildAdd(c->b, acc, cg_call_intr(c, L == 8 ? "llvm.x86.avx2.pmadd.wd" : "llvm.x86.avx512.pmaddw.d.512", NULL, 0, a, 2), "");
	}
	if (s->dot == DOT_VNNI) {
		LLVMValueRef a[3] = {acc, LLVMBuildBitCast(c->b, u, s->vd, ""), LLVMBuildBitCast(c->b, w, s->vd, "")};
		return cg_call_intr(c, L == 8 ? "llvm.x86.avx512.vpdpbusd.256" : "llvm.x86.avx512.vpdpbusd.512", NULL, 0, a, 3);
	}
	if (s->dot == DOT_MADDUBS) {
		LLVMValueRef a[2] = {u, w};
		LLVMValueRef p = cg_call_intr(c, L == 8 ? "llvm.x86.avx2.pmadd.ub.sw" : "llvm.x86.avx512.pmaddubs.w.512", NULL, 0, a, 2);
		LLVMValueRef b[2] = {p, cg_splat_const(LLVMConstInt(LLVMInt16TypeInContext(c->ctx), 1, 0), s->vw)};
		return LLVMBuildAdd(c->b, acc, cg_call_intr(c, L == 8 ? "llvm.x86.avx2.pmadd.wd" : "llvm.x86.avx512.pmaddw.d.512", NULL, 0, b, 2), "");
	}
	/* Emulated: widen, multiply, add each lane's four neighbours. */
	LLVMTypeRef w32 = LLVMVectorType(c->i32, 4 * L);
	LLVMValueRef p = LLVMBuildMul(c->b, LLVMBuildZExt(c->b, u, w32, ""), LLVMBuildSExt(c->b, w, w32, ""), "");
	LLVMValueRef sum = acc, mask[64];
	for (int j = 0; j < 4; j++) {
		for (int l = 0; l < L; l++)
			mask[l] = LLVMConstInt(c->i32, 4 * l + j, 0);
		sum = LLVMBuildAdd(c->b, sum, LLVMBuildShuffleVector(c->b, p, LLVMGetUndef(w32), LLVMConstVector(mask, L), ""), "");
	}
	return sum;
}

/* ---- the rescale in whole vectors ------------------------------------------------------ */

static LLVMValueRef i32c(Cg *c, int64_t v) { return LLVMConstInt(c->i32, (unsigned long long)v, 1); }

LLVMValueRef cg_x86_blob(Cg *c, const char *name, const void *data, size_t bytes, unsigned align)
{
	LLVMValueRef g = cg_const_blob(c, name, data, bytes);
	LLVMSetAlignment(g, align);
	return g;
}

int cg_x86_int_lanes(Cg *c)
{
	IntIsa s;
	if (!int_isa(c, &s) || (!s.simd && s.dot != DOT_EMU))
		return 0;
	return s.dot == DOT_EMU ? 16 : s.L;
}

LLVMValueRef cg_x86_madd16(Cg *c, LLVMValueRef a, LLVMValueRef b)
{
	IntIsa s;
	unsigned n = LLVMGetVectorSize(LLVMTypeOf(a));
	if (int_isa(c, &s) && s.dot != DOT_EMU) {
		LLVMValueRef ab[2] = {a, b};
		return cg_call_intr(c, n == 16 ? "llvm.x86.avx2.pmadd.wd" : "llvm.x86.avx512.pmaddw.d.512", NULL, 0, ab, 2);
	}
	LLVMTypeRef w = LLVMVectorType(c->i32, n);
	LLVMValueRef p = LLVMBuildMul(c->b, LLVMBuildSExt(c->b, a, w, ""), LLVMBuildSExt(c->b, b, w, ""), ""), half[2], mask[64];
	for (int odd = 0; odd < 2; odd++) {
		for (unsigned l = 0; l < n / 2; l++)
			mask[l] = i32c(c, 2 * l + odd);
		half[odd] = LLVMBuildShuffleVector(c->b, p, LLVMGetUndef(w), LLVMConstVector(mask, n / 2), "");
	}
	return LLVMBuildAdd(c->b, half[0], half[1], "");
}

int cg_x86_requant_fits(Requant q, int64_t accmax, int32_t zero)
{
	if (q.shift < 1 || q.shift > 61 || accmax < 0 || accmax > ((int64_t)1 << 31))
		return 0;
	int64_t v = ((accmax * (int64_t)q.mult) >> q.shift) + 1;  /* |round(acc * r)| at most */
	if (v + (zero < 0 ? -(int64_t)zero : zero) >= ((int64_t)1 << 30))
		return 0;
	/* acc * mult is a tie when it has exactly s - 1 trailing zeros: acc
	 * would need s - 1 - (those of mult) of them */
	int k = q.shift - 1 - (q.mult ? __builtin_ctz((unsigned)q.mult) : 0);
	bool noties = !q.mult || k < 0 || k > 62 || ((int64_t)1 << k) > accmax;
	return X86RQ_FITS | (noties ? X86RQ_NOTIES : 0) | (q.shift >= 32 ? X86RQ_HIGH : 0);
}

/* v's even (odd = false) or odd i32 lanes sign-extended into i64 lanes;
 * a scalar is sign-extended and splat over n/2 lanes. */
static LLVMValueRef half_i64(Cg *c, LLVMValueRef v, unsigned n, bool odd)
{
	LLVMTypeRef h = LLVMVectorType(c->i64, n / 2);
	if (LLVMGetTypeKind(LLVMTypeOf(v)) != LLVMVectorTypeKind)
		return cg_splat(c, LLVMBuildSExt(c->b, v, c->i64, ""), h);
	LLVMValueRef w = LLVMBuildBitCast(c->b, v, h, ""), k = cg_splat_const(LLVMConstInt(c->i64, 32, 0), h);
	return LLVMBuildAShr(c->b, odd ? w : LLVMBuildShl(c->b, w, k, ""), k, "");
}

/* An i32 operand of the rescale as i64 for the lanes of one half: a scalar
 * as a scalar, a vector's even or odd lanes zero-extended. */
static LLVMValueRef lanes_u64(Cg *c, LLVMValueRef v, bool odd)
{
	if (LLVMGetTypeKind(LLVMTypeOf(v)) != LLVMVectorTypeKind)
		return LLVMBuildZExt(c->b, v, c->i64, "");
	unsigned n = LLVMGetVectorSize(LLVMTypeOf(v));
	LLVMValueRef mask[64];
	for (unsigned l = 0; l < n / 2; l++)
		mask[l] = i32c(c, 2 * l + odd);
	LLVMValueRef h = LLVMBuildShuffleVector(c->b, v, LLVMGetUndef(LLVMTypeOf(v)), LLVMConstVector(mask, n / 2), "");
	return LLVMBuildZExt(c->b, h, LLVMVectorType(c->i64, n / 2), "");
}

/* splat s over ty unless it is a vector already. */
static LLVMValueRef as_vec(Cg *c, LLVMValueRef s, LLVMTypeRef ty)
{
	return LLVMGetTypeKind(LLVMTypeOf(s)) == LLVMVectorTypeKind ? s : cg_splat(c, s, ty);
}

/* cg_requant in i64 lanes, its rounding in unsigned arithmetic: with
 * p = acc * mult (vpmuldq, |p| < 2^62) and B = 2^62, u = p + B + 2^(s-1)
 * - 1 + bit s of p is in (0, 2^64), and u >> s (logical) is
 * round_half_even(p / 2^s) + 2^(62-s): B is a multiple of 2^s, bit s of
 * p + B is bit s of p (s <= 61), the floor's parity.  With no tie
 * possible (X86RQ_NOTIES) rounding half up is the same: u = p + B +
 * 2^(s-1), no parity.  The low 32 bits carry the rounded value once
 * 2^(62-s) is taken off with the zero point (mod 2^32);
 * cg_x86_requant_fits makes it and the sum fit in an i32, so the clamp is
 * the i32 min/max.  Even and odd lanes go through vpmuldq apart; with
 * s >= 32 (X86RQ_HIGH) the odd ones shift by s - 32, which leaves their
 * 32 bits in the high half, where one blend takes them. */
LLVMValueRef cg_x86_requant(Cg *c, int fit, LLVMValueRef acc, LLVMValueRef mult, LLVMValueRef shift, LLVMValueRef zero,
			    LLVMValueRef lo, LLVMValueRef hi)
{
	LLVMTypeRef vt = LLVMTypeOf(acc);
	unsigned n = LLVMGetVectorSize(vt);
	LLVMTypeRef h = LLVMVectorType(c->i64, n / 2);
	bool ties = !(fit & X86RQ_NOTIES), high = fit & X86RQ_HIGH;
	LLVMValueRef v[2];
	for (int odd = 0; odd < 2; odd++) {
		LLVMValueRef p = LLVMBuildMul(c->b, half_i64(c, acc, n, odd), half_i64(c, mult, n, odd), "");
		LLVMValueRef s = lanes_u64(c, shift, odd);
		LLVMTypeRef st = LLVMTypeOf(s);
		LLVMValueRef one = cg_splat_const(cg_i64(c, 1), st);
		/* B + 2^(s-1) (- 1 when the parity is added) */
		LLVMValueRef bh = LLVMBuildAdd(c->b, LLVMBuildShl(c->b, one, LLVMBuildSub(c->b, s, one, ""), ""),
					       cg_splat_const(cg_i64(c, ((int64_t)1 << 62) - ties), st), "");
		LLVMValueRef u = LLVMBuildAdd(c->b, p, as_vec(c, bh, h), "");
		if (ties)
			u = LLVMBuildAdd(c->b, u, LLVMBuildAnd(c->b, LLVMBuildLShr(c->b, p, as_vec(c, s, h), ""), cg_splat_const(cg_i64(c, 1), h), ""), "");
		if (odd && high)
			s = LLVMBuildSub(c->b, s, cg_splat_const(cg_i64(c, 32), st), "");
		v[odd] = LLVMBuildBitCast(c->b, LLVMBuildLShr(c->b, u, as_vec(c, s, h), ""), vt, "");
	}
	LLVMValueRef mask[64];
	for (unsigned l = 0; l < n; l++)
		mask[l] = i32c(c, l % 2 ? n + l - !high : l);
	LLVMValueRef r = LLVMBuildShuffleVector(c->b, v[0], v[1], LLVMConstVector(mask, n), "");
	/* zero - 2^(62-s) mod 2^32, per lane or once */
	LLVMValueRef s64 = LLVMGetTypeKind(LLVMTypeOf(shift)) == LLVMVectorTypeKind
				   ? LLVMBuildZExt(c->b, shift, LLVMVectorType(c->i64, n), "")
				   : LLVMBuildZExt(c->b, shift, c->i64, "");
	LLVMValueRef k = LLVMBuildShl(c->b, cg_splat_const(cg_i64(c, 1), LLVMTypeOf(s64)),
				      LLVMBuildSub(c->b, cg_splat_const(cg_i64(c, 62), LLVMTypeOf(s64)), s64, ""), "");
	LLVMValueRef z = LLVMTypeOf(k) == c->i64 ? zero : as_vec(c, zero, vt);
	LLVMValueRef zf = LLVMBuildSub(c->b, z, LLVMBuildTrunc(c->b, k, LLVMTypeOf(z), ""), "");
	r = LLVMBuildAdd(c->b, r, as_vec(c, zf, vt), "");
	if (lo) {
		LLVMValueRef l = as_vec(c, lo, vt);
		r = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, r, l, ""), l, r, "");
	}
	if (hi) {
		LLVMValueRef m = as_vec(c, hi, vt);
		r = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSGT, r, m, ""), m, r, "");
	}
	return r;
}

/* ---- the packed constant operand ------------------------------------------------------ */

/* Can vpmaddubsw saturate on weights a, b (x in [0, 255])?  Only when
 * both push the sum one way past 128 * 255 = 32640. */
static bool pair_unsafe(int a, int b)
{
	return (a > 0 && b > 0 && a + b > 128) || (a < 0 && b < 0 && a + b < -128);
}

/* Weights minus their zero point, dense [nch][KK*cpu] (zero padded),
 * packed into [tile][KK][G][ub] bytes (ub: 4 for a quad, 2 for an i8
 * pair widened to i16 pairs when read): a tile of G channels (conv:
 * output channels, broadcast; gemm: columns, G = vectors * L) reads G
 * units in a row per k step.  Bias folded, requantization per channel:
 * the multiplier an i32, the shift a byte.
 *
 * maddubs: an unsafe pair (a, b) keeps a - d, b with d = a + b - 128 (or
 * + 128 for negatives) on the larger one, which makes the pair sum
 * exactly +-128, and d (|d| <= 128) becomes a sparse correction entry,
 * its unit and byte: the entries of a channel (conv: a broadcast row)
 * or of a tile (gemm: lanes) are added by kernels of their own
 * (conv_fix, gemm_fix), so only the unsafe weights cost anything. */
typedef struct Packed {
	int64_t nch, KK, G, ntiles, ncorr;
	int ub;             /* bytes of a unit as stored: 4, or 2 (i8 pairs) */
	int fastrq;         /* what cg_x86_requant_fits says for every channel (0: not all fit) */
	int8_t *w;          /* [ntiles][KK][G][ub] */
	int32_t *bias;      /* [ntiles*G]: bias - z_x' * sum(w) */
	int32_t *mult;      /* [ntiles*G] */
	uint8_t *shift;     /* [ntiles*G] */
	bool per_tile;      /* entries grouped by tile with their lane (gemm), else by channel (conv) */
	uint16_t *cstart;   /* conv: [nch+1] each channel's entries */
	uint16_t *cidx;     /* conv: [ncorr] unit * 4 + byte */
	int8_t *cd;         /* conv: [ncorr] d */
	int32_t *tstart;    /* gemm: [ntiles+1] each tile's entries */
	int32_t *tent;      /* gemm: [ncorr] (unit * 4 + byte) << 16 | lane << 8 | (uint8_t)d */
} Packed;

static void packed_free(Packed *p)
{
	free(p->w), free(p->bias), free(p->mult), free(p->shift);
	free(p->cstart), free(p->cidx), free(p->cd), free(p->tstart), free(p->tent);
}

/* The unsafe pairs of dense quads wd (nch x KK*4): how many correction
 * entries maddubs needs. */
static int64_t unsafe_pairs(const int8_t *wd, int64_t nch, int64_t KK)
{
	int64_t n = 0;
	for (int64_t i = 0; i < nch * KK * 4; i += 2)
		n += pair_unsafe(wd[i], wd[i + 1]);
	return n;
}

/* From dense wd (freed here), bias b (NULL: 0), the zero byte zx of the
 * unsigned operand and the per-channel multipliers r.  False when an
 * accumulator could leave int32 (then the reference lowering runs). */
static bool pack_weights(Cg *c, const Node *n, Packed *p, int8_t *wd, const int32_t *b, int32_t zx, const double *r,
			 Dot dot, bool per_tile)
{
	int cpu = dot == DOT_PAIRS ? 2 : 4;
	int64_t KK = p->KK, G = p->G, nt = (p->nch + G - 1) / G, K4 = KK * cpu;
	int ub = p->ub = cpu == 2 ? 2 : 4;
	p->ntiles = nt;
	p->per_tile = per_tile;
	p->w = calloc((size_t)(nt * KK * G * ub + 16), 1);
	p->bias = calloc((size_t)(nt * G + 1), sizeof *p->bias);
	p->mult = calloc((size_t)(nt * G + 1), sizeof *p->mult);
	p->shift = calloc((size_t)(nt * G + 1), 1);
	if (!p->w || !p->bias || !p->mult || !p->shift)
		die("out of memory");
	bool ok = true;
	int32_t zy = cg_ty(c, n->out)->q->zero[0];
	p->fastrq = X86RQ_FITS | X86RQ_NOTIES | X86RQ_HIGH;
	for (int64_t m = 0; m < p->nch && ok; m++) {
		int64_t sum = 0, mag = 0;
		for (int64_t k = 0; k < K4; k++) {
			sum += wd[m * K4 + k];
			mag += abs(wd[m * K4 + k]);
		}
		int64_t bb = (b ? b[m] : 0) - (int64_t)zx * sum;
		Requant q = cg_requant_of(c, n, r[m]);
		ok = bb >= INT32_MIN && bb <= INT32_MAX && 255 * mag + (bb < 0 ? -bb : bb) <= INT32_MAX && q.shift >= 0 &&
		     q.shift < 256;
		p->bias[m] = (int32_t)bb;
		p->mult[m] = q.mult;
		p->shift[m] = (uint8_t)q.shift;
		p->fastrq &= cg_x86_requant_fits(q, 255 * mag + (bb < 0 ? -bb : bb), zy);
		if (!(p->fastrq & X86RQ_FITS))
			p->fastrq = 0;
	}
	int64_t ne = dot == DOT_MADDUBS ? unsafe_pairs(wd, p->nch, KK) : 0, e = 0;
	p->ncorr = ne;
	if (ne) {
		if (per_tile) {
			p->tstart = calloc((size_t)(nt + 1), sizeof *p->tstart);
			p->tent = malloc(sizeof *p->tent * (size_t)ne);
		} else {
			p->cstart = calloc((size_t)(p->nch + 1), sizeof *p->cstart);
			p->cidx = malloc(sizeof *p->cidx * (size_t)ne);
			p->cd = malloc((size_t)ne);
		}
		if (!(per_tile ? p->tstart && p->tent : p->cstart && p->cidx && p->cd))
			die("out of memory");
	}
	for (int64_t t = 0; t < nt; t++) {
		if (p->tstart)
			p->tstart[t] = (int32_t)e;
		for (int64_t g = 0; g < G; g++) {
			int64_t m = t * G + g;
			if (m >= p->nch)
				break;
			if (p->cstart)
				p->cstart[m] = (uint16_t)e;
			for (int64_t kk = 0; kk < KK; kk++) {
				int8_t *dst = &p->w[((t * KK + kk) * G + g) * ub];
				const int8_t *src = &wd[m * K4 + kk * cpu];
				for (int i = 0; i < cpu; i++)
					dst[i] = src[i];
				for (int i = 0; ne && i < 4; i += 2) {
					int a = src[i], bw = src[i + 1];
					if (!pair_unsafe(a, bw))
						continue;
					int j = abs(a) >= abs(bw) ? i : i + 1, d = a + bw + (a > 0 ? -128 : 128);
					dst[j] = (int8_t)(src[j] - d);
					int64_t idx = kk * 4 + j;
					if (per_tile)
						p->tent[e] = (int32_t)((uint32_t)idx << 16 | (uint32_t)g << 8 | (uint8_t)(int8_t)d);
					else
						p->cidx[e] = (uint16_t)idx, p->cd[e] = (int8_t)d;
					e++;
				}
			}
		}
	}
	if (p->tstart)
		p->tstart[nt] = (int32_t)e;
	if (p->cstart)
		p->cstart[p->nch] = (uint16_t)e;
	free(wd);
	if (!ok)
		packed_free(p);
	return ok;
}

/* ---- shared pieces of the kernels ------------------------------------------------------ */

typedef struct IK {
	IntIsa s;
	int MR, NR;                          /* tile: broadcast rows x vectors */
	int64_t KK;                          /* quads per channel */
	int ub;                              /* bytes of a weight unit as stored (2: i8 pairs, widened when read) */
	LLVMValueRef Wp, Bp, Mq, Sq;         /* packed globals: weights, bias, multipliers, shifts (bytes) */
	LLVMValueRef CS, CI, CD, TS, TE;     /* correction entries (Packed), NULL when none */
	LLVMValueRef Acc;                    /* gemm with entries: the tile's accumulators in memory */
	bool vec_u;                          /* the vectors are the unsigned operand (conv) */
	int fastrq;                          /* rescale by cg_x86_requant, as it fits (0: cg_requant) */
	int32_t zy, lo, hi;
	LLVMValueRef acc[IK_RMAX][IK_VMAX];
} IK;

/* The four bytes at p broadcast to every lane, as <4L x i8>. */
static LLVMValueRef bcast4(Cg *c, IK *k, LLVMValueRef p)
{
	LLVMValueRef v = LLVMBuildLoad2(c->b, c->i32, p, "");
	LLVMSetAlignment(v, 1);
	return LLVMBuildBitCast(c->b, cg_splat(c, v, k->s.vd), k->s.vb, "");
}

static LLVMValueRef vload(Cg *c, LLVMTypeRef t, LLVMValueRef p)
{
	LLVMValueRef v = LLVMBuildLoad2(c->b, t, p, "");
	LLVMSetAlignment(v, 1);
	return v;
}

static LLVMValueRef bytes_at(Cg *c, LLVMValueRef base, LLVMValueRef off) { return cg_gep(c, c->i8, base, off); }

/* One k step of an R x V tile: acc[r][v] += dot(bc[r], vv[v]). */
static void kstep(Cg *c, IK *k, int R, int V, LLVMValueRef *bc, LLVMValueRef *vv)
{
	for (int r = 0; r < R; r++)
		for (int v = 0; v < V; v++) {
			LLVMValueRef a = LLVMBuildLoad2(c->b, k->s.vd, k->acc[r][v], "");
			a = k->vec_u ? dot4(c, &k->s, a, vv[v], bc[r]) : dot4(c, &k->s, a, bc[r], vv[v]);
			LLVMBuildStore(c->b, a, k->acc[r][v]);
		}
}

/* Where a k loop reads its two operands. */
typedef struct KSrc {
	LLVMValueRef vbase; int64_t vstride, vstep;  /* vectors: vbase + kk*vstride + v*vstep bytes */
	LLVMValueRef bbase; int64_t bstride, bstep;  /* broadcasts: bbase + kk*bstride + r*bstep bytes */
} KSrc;

/* The V vectors of unit kk; weights stored as i8 pairs (wvec, ub 2) are
 * widened to their i16 pairs as they load. */
static void load_vecs(Cg *c, IK *k, const KSrc *src, LLVMValueRef kk, int V, bool wvec, LLVMValueRef *vv)
{
	bool widen = wvec && k->ub == 2;
	LLVMTypeRef t = widen ? LLVMVectorType(c->i8, 2 * k->s.L) : k->s.vb;
	for (int v = 0; v < V; v++) {
		vv[v] = vload(c, t, bytes_at(c, src->vbase, cg_add(c, cg_mul(c, kk, cg_i64(c, src->vstride)), cg_i64(c, v * src->vstep))));
		if (widen)
			vv[v] = LLVMBuildBitCast(c->b, LLVMBuildSExt(c->b, vv[v], k->s.vw, ""), k->s.vb, "");
	}
}

/* The main pass: acc += the products of every unit kk in [0, KK). */
static void kloop(Cg *c, IK *k, int R, int V, const KSrc *src, bool wvec)
{
	Loop lk;
	LLVMValueRef kk = cg_loop_begin(c, &lk, cg_i64(c, 0), cg_i64(c, k->KK));
	LLVMValueRef vv[IK_VMAX], bc[IK_RMAX];
	load_vecs(c, k, src, kk, V, wvec, vv);
	for (int r = 0; r < R; r++)
		bc[r] = bcast4(c, k, bytes_at(c, src->bbase, cg_add(c, cg_mul(c, kk, cg_i64(c, src->bstride)), cg_i64(c, r * src->bstep))));
	kstep(c, k, R, V, bc, vv);
	cg_loop_end(c, &lk, 1);
}

/* conv (maddubs): the correction entries of channels m0 .. m0+R-1, row
 * by row: d times byte i of unit u of the activations, as a dot with the
 * word d << 8i broadcast. */
static void conv_fix(Cg *c, IK *k, int R, int V, const KSrc *src, LLVMValueRef m0)
{
	if (!k->CS)
		return;
	for (int r = 0; r < R; r++) {
		LLVMTypeRef i16 = LLVMInt16TypeInContext(c->ctx);
		LLVMValueRef m = cg_add(c, m0, cg_i64(c, r));
		LLVMValueRef e0 = LLVMBuildZExt(c->b, cg_load(c, i16, k->CS, m), c->i64, "");
		LLVMValueRef e1 = LLVMBuildZExt(c->b, cg_load(c, i16, k->CS, cg_add(c, m, cg_i64(c, 1))), c->i64, "");
		Loop le;
		LLVMValueRef e = cg_loop_begin(c, &le, e0, e1);
		LLVMValueRef idx = LLVMBuildZExt(c->b, cg_load(c, i16, k->CI, e), c->i32, "");
		LLVMValueRef d = LLVMBuildZExt(c->b, cg_load(c, c->i8, k->CD, e), c->i32, "");
		LLVMValueRef sh = LLVMBuildShl(c->b, LLVMBuildAnd(c->b, idx, i32c(c, 3), ""), i32c(c, 3), "");
		LLVMValueRef bc = LLVMBuildBitCast(c->b, cg_splat(c, LLVMBuildShl(c->b, d, sh, ""), k->s.vd), k->s.vb, "");
		LLVMValueRef u = LLVMBuildZExt(c->b, LLVMBuildLShr(c->b, idx, i32c(c, 2), ""), c->i64, "");
		LLVMValueRef vv[IK_VMAX];
		load_vecs(c, k, src, u, V, false, vv);
		for (int v = 0; v < V; v++) {
			LLVMValueRef a = LLVMBuildLoad2(c->b, k->s.vd, k->acc[r][v], "");
			LLVMBuildStore(c->b, dot4(c, &k->s, a, vv[v], bc), k->acc[r][v]);
		}
		cg_loop_end(c, &le, 1);
	}
}

/* An accumulator (the bias in it) requantized (<L x i32>), bounded by
 * bytes_of; mult and shift per lane (vectors) or for all (scalars). */
static LLVMValueRef requant_vec(Cg *c, IK *k, LLVMValueRef acc, LLVMValueRef mult, LLVMValueRef shift)
{
	LLVMTypeRef vd = k->s.vd;
	if (k->fastrq)
		return cg_x86_requant(c, k->fastrq, acc, mult, shift, i32c(c, k->zy), NULL, NULL);
	return cg_requant(c, acc, as_vec(c, mult, vd), as_vec(c, shift, vd), cg_splat_const(i32c(c, k->zy), vd),
			  cg_splat_const(i32c(c, k->lo), vd), cg_splat_const(i32c(c, k->hi), vd));
}

/* y[0..n) (vectors of one element type) as one vector, in order. */
static LLVMValueRef concat(Cg *c, LLVMValueRef *y, int n)
{
	if (n == 1)
		return y[0];
	LLVMValueRef a = concat(c, y, n / 2), b = concat(c, y + n / 2, n - n / 2), mask[128];
	unsigned la = LLVMGetVectorSize(LLVMTypeOf(a)), lb = LLVMGetVectorSize(LLVMTypeOf(b));  /* la <= lb */
	if (la < lb) {
		for (unsigned l = 0; l < lb; l++)
			mask[l] = l < la ? i32c(c, l) : LLVMGetUndef(c->i32);
		a = LLVMBuildShuffleVector(c->b, a, LLVMGetUndef(LLVMTypeOf(a)), LLVMConstVector(mask, lb), "");
	}
	for (unsigned l = 0; l < la + lb; l++)
		mask[l] = i32c(c, l < la ? l : lb + (l - la));
	return LLVMBuildShuffleVector(c->b, a, b, LLVMConstVector(mask, la + lb), "");
}

/* n requantized <L x i32> as n*L bytes, in order, bounded to [lo, hi]
 * after the concatenation (so that LLVM narrows by saturating packs). */
static LLVMValueRef bytes_of(Cg *c, IK *k, LLVMValueRef *y, int n)
{
	LLVMValueRef v = concat(c, y, n);
	LLVMValueRef lo = cg_splat_const(i32c(c, k->lo), LLVMTypeOf(v)), hi = cg_splat_const(i32c(c, k->hi), LLVMTypeOf(v));
	v = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, v, lo, ""), lo, v, "");
	v = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSGT, v, hi, ""), hi, v, "");
	return LLVMBuildTrunc(c->b, v, LLVMVectorType(c->i8, (unsigned)(n * k->s.L)), "");
}

/* The first `valid` bytes of v at p (all: one vector store). */
static void store_bytes(Cg *c, IK *k, LLVMValueRef v, LLVMValueRef p, int valid)
{
	if (valid >= k->s.L) {
		LLVMSetAlignment(LLVMBuildStore(c->b, v, p), 1);
		return;
	}
	for (int l = 0; l < valid; l++)
		LLVMBuildStore(c->b, LLVMBuildExtractElement(c->b, v, i32c(c, l), ""), bytes_at(c, p, cg_i64(c, l)));
}

/* The accumulators start at the bias: per row (rowb, splat) or per
 * vector of columns (colb). */
static void init_accs(Cg *c, IK *k, int R, int V, const LLVMValueRef *rowb, const LLVMValueRef *colb)
{
	for (int r = 0; r < R; r++)
		for (int v = 0; v < V; v++)
			LLVMBuildStore(c->b, rowb ? rowb[r] : colb[v], k->acc[r][v]);
}

/* Tile shape for the register file: R*V accumulators, V vectors, a
 * broadcast, and for maddubs the ones and a product. */
static void tile_shape(const IntIsa *s, int *R, int *V)
{
	int extra = s->dot == DOT_MADDUBS || s->dot == DOT_EMU ? 3 : s->dot == DOT_PAIRS ? 2 : 1;
	*V = s->regs >= 32 ? 4 : 2;
	*R = (s->regs - *V - extra) / *V;
	*R = *R > IK_RMAX ? IK_RMAX : *R < 1 ? 1 : *R;
}

static void ik_globals(Cg *c, IK *k, const Packed *p)
{
	size_t nw = (size_t)(p->ntiles * p->KK * p->G * p->ub), nc = (size_t)(p->ntiles * p->G);
	k->ub = p->ub;
	k->Wp = cg_const_blob(c, "kiln.qw", p->w, nw + (p->ub == 2 ? 16 : 0));  /* i8 pairs: widened by 16 bytes */
	k->Bp = cg_x86_blob(c, "kiln.qb", p->bias, nc * sizeof(int32_t), 4);
	k->Mq = cg_x86_blob(c, "kiln.qm", p->mult, nc * sizeof(int32_t), 4);
	k->Sq = cg_x86_blob(c, "kiln.qs", p->shift, nc, 1);
	k->CS = k->CI = k->CD = k->TS = k->TE = NULL;
	if (p->ncorr && p->per_tile) {
		k->TS = cg_x86_blob(c, "kiln.qts", p->tstart, (size_t)(p->ntiles + 1) * sizeof(int32_t), 4);
		k->TE = cg_x86_blob(c, "kiln.qte", p->tent, (size_t)p->ncorr * sizeof(int32_t), 4);
	} else if (p->ncorr) {
		k->CS = cg_x86_blob(c, "kiln.qcs", p->cstart, (size_t)(p->nch + 1) * sizeof(uint16_t), 2);
		k->CI = cg_x86_blob(c, "kiln.qci", p->cidx, (size_t)p->ncorr * sizeof(uint16_t), 2);
		k->CD = cg_x86_blob(c, "kiln.qcd", p->cd, (size_t)p->ncorr, 1);
	}
}

/* After packing: the result's bounds, the packed globals, the
 * accumulators; the kernel's loops are kept as built.  Returns the
 * previous keep_loops for the caller to restore. */
static bool ik_begin(Cg *c, IK *k, const Node *n, Packed *p, bool vec_u)
{
	const Type *ty = cg_ty(c, n->out);
	cg_int_bounds(n, ty, &k->lo, &k->hi);
	k->zy = ty->q->zero[0];
	k->vec_u = vec_u;
	k->fastrq = p->fastrq;
	ik_globals(c, k, p);
	packed_free(p);
	bool keep = c->keep_loops;
	c->keep_loops = true;
	for (int r = 0; r < k->MR; r++)
		for (int v = 0; v < k->NR; v++)
			k->acc[r][v] = cg_entry_alloca(c, k->s.vd);
	return keep;
}

/* Real multipliers s_x * s_w[ch] / s_y for nch channels. */
static double *multipliers(const Type *tx, const Type *tw, const Type *ty, int64_t nch)
{
	double *r = malloc(sizeof *r * (size_t)(nch + 1));
	if (!r)
		die("out of memory");
	for (int64_t m = 0; m < nch; m++)
		r[m] = (double)tx->q->scale[0] * tw->q->scale[tw->q->n > 1 ? m : 0] / ty->q->scale[0];
	return r;
}

/* w - z_w of channel m as s8, or false when it does not fit. */
static bool weight_s8(const Type *tw, const void *data, int64_t i, int64_t m, int8_t *out)
{
	int32_t v = tw->dt == DT_I8 ? ((const int8_t *)data)[i] : ((const uint8_t *)data)[i];
	v -= tw->q->zero[tw->q->n > 1 ? m : 0];
	*out = (int8_t)v;
	return v >= -128 && v <= 127;
}

/* Are the operands and the result of n 8-bit (what the kernels read and write)? */
static bool all_bytes(Cg *c, const Node *n)
{
	for (int i = -1; i < 2; i++) {
		DType dt = cg_ty(c, i < 0 ? n->out : n->in[i])->dt;
		if (dt != DT_U8 && dt != DT_I8)
			return false;
	}
	return true;
}

/* ---- conv ----------------------------------------------------------------------------- */

typedef struct ConvQ {
	IK k;
	Geo g;
	int64_t KQ, T, P;    /* channel quads, taps, output pixels */
	int64_t RB, BW;      /* a band: RB output rows of BW columns (BW < OW: a flattened 1x1) */
	int64_t PBV;         /* pixels of the packed band, whole vectors */
	bool flip;           /* i8 input: flip the top bit */
	bool flat;           /* a 1x1 conv as one row of all pixels, banded along it */
	bool stem;           /* units over the whole window (stem_units) */
	int64_t SR, SW;      /* a stem's padded copy of a band's input: rows, bytes per row */
	uint8_t zq;          /* the padding byte */
	LLVMValueRef X, Y, Xp, Xs, Wx, n;  /* Wx: a tile's i8 pairs widened (widen_tile) */
	LLVMValueRef Perm;   /* [C] u16: the channel at each position of the units (NULL: itself) */
} ConvQ;

/* Four <L x i8> as L units of 4 bytes: byte i of unit l is part[i][l]. */
static LLVMValueRef interleave4(Cg *c, int L, LLVMValueRef *part)
{
	LLVMValueRef mask[256];
	for (int l = 0; l < 2 * L; l++)
		mask[l] = i32c(c, l);
	LLVMValueRef ab = LLVMBuildShuffleVector(c->b, part[0], part[1], LLVMConstVector(mask, 2 * L), "");
	LLVMValueRef cd = LLVMBuildShuffleVector(c->b, part[2], part[3], LLVMConstVector(mask, 2 * L), "");
	for (int l = 0; l < L; l++)
		for (int i = 0; i < 4; i++)
			mask[4 * l + i] = i32c(c, (i / 2) * 2 * L + (i % 2) * L + l);
	return LLVMBuildShuffleVector(c->b, ab, cd, LLVMConstVector(mask, 4 * L), "");
}

/* Bytes of the channels at positions p0..p0+3 (nvalid of them real, the
 * rest zq; a position is its channel, or Perm's entry) of image img at
 * plane offset off, as one i32, for `cnt` consecutive columns with input
 * stride sw, stored to dst (4 bytes per column), vectorized in chunks of
 * L whose reads stay inside [.., limit). */
static void pack_cols(Cg *c, ConvQ *q, LLVMValueRef img, LLVMValueRef p0, int nvalid, LLVMValueRef src, int64_t iw0,
		      int64_t sw, int64_t limit, LLVMValueRef dst, int64_t cnt)
{
	int L = q->k.s.L;
	int64_t HW = q->g.H * q->g.W;
	LLVMTypeRef vl = LLVMVectorType(c->i8, L), vs = LLVMVectorType(c->i8, (unsigned)(sw * L));
	/* byte i of a unit: channel i of a quad, or of a pair the low byte
	 * of channel i/2 (odd bytes: 0, the i16's high byte) */
	LLVMValueRef plane[4];
	bool pairs = q->k.s.cpu == 2;
	for (int i = 0; i < 4; i++) {
		int ch = pairs ? i / 2 : i;
		plane[i] = NULL;
		if ((pairs && i % 2) || ch >= nvalid)
			continue;
		LLVMValueRef pos = cg_add(c, p0, cg_i64(c, ch));
		if (q->Perm)
			pos = LLVMBuildZExt(c->b, cg_load(c, LLVMInt16TypeInContext(c->ctx), q->Perm, pos), c->i64, "");
		plane[i] = bytes_at(c, q->X, cg_add(c, cg_mul(c, cg_add(c, img, pos), cg_i64(c, HW)), src));
	}
	LLVMValueRef zb = LLVMConstInt(c->i8, q->zq, 0), flip = cg_splat_const(LLVMConstInt(c->i8, 0x80, 0), vl);
	LLVMValueRef fill[4];
	for (int i = 0; i < 4; i++)
		fill[i] = pairs && i % 2 ? LLVMConstInt(c->i8, 0, 0) : zb;
	LLVMValueRef mask[256];
	int64_t j = 0;
	while (j < cnt) {
		int64_t j0 = j + L <= cnt ? j : cnt - L;  /* the last chunk overlaps the one before */
		if (j0 >= 0 && iw0 + (j0 + L) * sw <= limit && cnt >= L) {
			LLVMValueRef part[4];
			for (int i = 0; i < 4; i++) {
				if (!plane[i]) {
					part[i] = cg_splat_const(fill[i], vl);
					continue;
				}
				LLVMValueRef v = vload(c, vs, bytes_at(c, plane[i], cg_i64(c, iw0 + j0 * sw)));
				if (sw > 1) {
					for (int l = 0; l < L; l++)
						mask[l] = i32c(c, l * sw);
					v = LLVMBuildShuffleVector(c->b, v, LLVMGetUndef(vs), LLVMConstVector(mask, L), "");
				}
				part[i] = q->flip ? LLVMBuildXor(c->b, v, flip, "") : v;
			}
			LLVMSetAlignment(LLVMBuildStore(c->b, interleave4(c, L, part), bytes_at(c, dst, cg_i64(c, j0 * 4))), 1);
			j = j0 + L;
			continue;
		}
		/* One column at a time. */
		for (; j < cnt; j++) {
			LLVMValueRef v = LLVMGetUndef(LLVMVectorType(c->i8, 4));
			for (int i = 0; i < 4; i++) {
				LLVMValueRef b = plane[i] ? cg_load(c, c->i8, plane[i], cg_i64(c, iw0 + j * sw)) : fill[i];
				if (plane[i] && q->flip)
					b = LLVMBuildXor(c->b, b, LLVMConstInt(c->i8, 0x80, 0), "");
				v = LLVMBuildInsertElement(c->b, v, b, i32c(c, i), "");
			}
			LLVMSetAlignment(LLVMBuildStore(c->b, v, bytes_at(c, dst, cg_i64(c, j * 4))), 1);
		}
	}
}

/* cnt padding quads (zq bytes) at dst. */
static void pack_fill(Cg *c, ConvQ *q, LLVMValueRef dst, int64_t cnt)
{
	int L = q->k.s.L;
	uint32_t z4 = q->zq * (q->k.s.cpu == 4 ? 0x01010101u : 0x00010001u);
	int64_t j = 0;
	for (; j + L <= cnt; j += L)
		LLVMSetAlignment(LLVMBuildStore(c->b, cg_splat_const(i32c(c, (int32_t)z4), q->k.s.vd), bytes_at(c, dst, cg_i64(c, j * 4))), 1);
	for (; j < cnt; j++)
		LLVMSetAlignment(LLVMBuildStore(c->b, i32c(c, (int32_t)z4), bytes_at(c, dst, cg_i64(c, j * 4))), 1);
}

/* Pack the band of rows [oh0, oh0 + rows) (columns [ow0, ow0 + BW)) into
 * Xp[tap][quad][pixel][4]: per row and tap, the columns whose input is
 * inside are copied, the others and whole rows outside read zq. */
static void conv_pack(Cg *c, ConvQ *q, LLVMValueRef oh0, LLVMValueRef ow0, int64_t rows)
{
	Geo *g = &q->g;
	int cpu = q->k.s.cpu;
	int64_t full = g->C / cpu, part = g->C % cpu, KQ = q->KQ, BW = q->BW;
	Loop lr;
	LLVMValueRef rr = cg_loop_begin(c, &lr, cg_i64(c, 0), cg_i64(c, rows));
	LLVMValueRef oh = cg_add(c, oh0, rr);
	LLVMValueRef img = cg_mul(c, q->n, cg_i64(c, g->C));  /* plane of channel 0 */
	for (int64_t kh = 0; kh < g->KH; kh++) {
		LLVMValueRef ih = cg_add(c, cg_mul(c, oh, cg_i64(c, g->sh)), cg_i64(c, kh * g->dh - g->ph));
		LLVMValueRef rowok = cg_in_range(c, ih, g->H);
		LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "row");
		LLVMBasicBlockRef other = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "pad");
		LLVMBasicBlockRef after = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "rowdone");
		LLVMBuildCondBr(c->b, rowok, then, other);
		for (int side = 0; side < 2; side++) {
			LLVMPositionBuilderAtEnd(c->b, side ? other : then);
			for (int64_t kw = 0; kw < g->KW; kw++) {
				int64_t t = kh * g->KW + kw, off = kw * g->dw - g->pw;
				/* columns ow with 0 <= ow*sw + off < W (flat: all of them) */
				int64_t lo = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
				int64_t hi = g->W - 1 - off < 0 ? 0 : (g->W - 1 - off) / g->sw + 1;
				if (q->flat)
					lo = 0, hi = BW;
				hi = hi > BW ? BW : hi;
				lo = lo > hi ? hi : lo;
				Loop lq;
				LLVMValueRef qq = cg_loop_begin(c, &lq, cg_i64(c, 0), cg_i64(c, side ? KQ : full));
				LLVMValueRef dst = bytes_at(c, q->Xp, cg_mul(c, cg_add(c, cg_mul(c, cg_add(c, cg_i64(c, t * KQ), qq), cg_i64(c, q->PBV)),
										  cg_mul(c, rr, cg_i64(c, BW))), cg_i64(c, 4)));
				if (side)
					pack_fill(c, q, dst, BW);
				else {
					pack_fill(c, q, dst, lo);
					LLVMValueRef src = cg_add(c, cg_mul(c, ih, cg_i64(c, g->W)), cg_mul(c, ow0, cg_i64(c, g->sw)));
					pack_cols(c, q, img, cg_mul(c, qq, cg_i64(c, cpu)), cpu, src, lo * g->sw + off, g->sw,
						  q->flat ? BW : g->W, bytes_at(c, dst, cg_i64(c, lo * 4)), hi - lo);
					pack_fill(c, q, bytes_at(c, dst, cg_i64(c, hi * 4)), BW - hi);
				}
				cg_loop_end(c, &lq, 1);
				if (!side && part) {  /* the last unit: C % cpu channels, the rest zq */
					LLVMValueRef d2 = bytes_at(c, q->Xp, cg_mul(c, cg_add(c, cg_i64(c, (t * KQ + full) * q->PBV), cg_mul(c, rr, cg_i64(c, BW))), cg_i64(c, 4)));
					pack_fill(c, q, d2, lo);
					LLVMValueRef src = cg_add(c, cg_mul(c, ih, cg_i64(c, g->W)), cg_mul(c, ow0, cg_i64(c, g->sw)));
					pack_cols(c, q, img, cg_i64(c, full * cpu), (int)part, src, lo * g->sw + off, g->sw,
						  q->flat ? BW : g->W, bytes_at(c, d2, cg_i64(c, lo * 4)), hi - lo);
					pack_fill(c, q, bytes_at(c, d2, cg_i64(c, hi * 4)), BW - hi);
				}
			}
			LLVMBuildBr(c->b, after);
		}
		LLVMPositionBuilderAtEnd(c->b, after);
	}
	cg_loop_end(c, &lr, 1);
}

/* ---- the stem: units over the whole window ------------------------------------------------ */

/* dst[0, n) = src[0, n), flipped if the input is i8: vectors of 4L bytes,
 * the last overlapping the one before; shorter rows byte by byte. */
static void copy_row(Cg *c, ConvQ *q, LLVMValueRef dst, LLVMValueRef src, int64_t n)
{
	int64_t w = 4 * q->k.s.L;
	LLVMTypeRef vt = LLVMVectorType(c->i8, (unsigned)w);
	LLVMValueRef flip = cg_splat_const(LLVMConstInt(c->i8, 0x80, 0), vt);
	if (n < w) {
		for (int64_t j = 0; j < n; j++) {
			LLVMValueRef b = cg_load(c, c->i8, src, cg_i64(c, j));
			cg_store(c, c->i8, q->flip ? LLVMBuildXor(c->b, b, LLVMConstInt(c->i8, 0x80, 0), "") : b, dst, cg_i64(c, j));
		}
		return;
	}
	for (int part = 0; part < 2; part++) {
		if (part && n % w == 0)
			break;
		Loop l;
		LLVMValueRef j = part ? cg_i64(c, n - w) : cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, n / w * w));
		LLVMValueRef v = vload(c, vt, bytes_at(c, src, j));
		LLVMSetAlignment(LLVMBuildStore(c->b, q->flip ? LLVMBuildXor(c->b, v, flip, "") : v, bytes_at(c, dst, j)), 1);
		if (!part)
			cg_loop_end(c, &l, w);
	}
}

/* The input rows a band starting at output row oh0 reads, with their
 * padding, into Xs[channel][SR][SW] (flipped; outside the input: zq). */
static void stem_copy(Cg *c, ConvQ *q, LLVMValueRef oh0)
{
	Geo *g = &q->g;
	int64_t nin = g->W < q->SW - g->pw ? g->W : q->SW - g->pw, right = q->SW - g->pw - nin;
	LLVMValueRef zb = LLVMConstInt(c->i8, q->zq, 0);
	Loop lr;
	LLVMValueRef r = cg_loop_begin(c, &lr, cg_i64(c, 0), cg_i64(c, q->SR));
	LLVMValueRef ih = cg_add(c, cg_mul(c, oh0, cg_i64(c, g->sh)), cg_add(c, r, cg_i64(c, -g->ph)));
	LLVMBasicBlockRef in = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "row");
	LLVMBasicBlockRef out = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "pad");
	LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "copied");
	LLVMBuildCondBr(c->b, cg_in_range(c, ih, g->H), in, out);
	for (int side = 0; side < 2; side++) {
		LLVMPositionBuilderAtEnd(c->b, side ? out : in);
		for (int64_t ci = 0; ci < g->C; ci++) {
			LLVMValueRef dst = bytes_at(c, q->Xs, cg_add(c, cg_i64(c, ci * q->SR * q->SW), cg_mul(c, r, cg_i64(c, q->SW))));
			if (side) {
				LLVMBuildMemSet(c->b, dst, zb, cg_i64(c, q->SW), 1);
				continue;
			}
			LLVMValueRef plane = cg_add(c, cg_mul(c, q->n, cg_i64(c, g->C)), cg_i64(c, ci));
			LLVMValueRef src = bytes_at(c, q->X, cg_add(c, cg_mul(c, plane, cg_i64(c, g->H * g->W)), cg_mul(c, ih, cg_i64(c, g->W))));
			if (g->pw)
				LLVMBuildMemSet(c->b, dst, zb, cg_i64(c, g->pw), 1);
			copy_row(c, q, bytes_at(c, dst, cg_i64(c, g->pw)), src, nin);
			if (right > 0)
				LLVMBuildMemSet(c->b, bytes_at(c, dst, cg_i64(c, g->pw + nin)), zb, cg_i64(c, right), 1);
		}
		LLVMBuildBr(c->b, done);
	}
	LLVMPositionBuilderAtEnd(c->b, done);
	cg_loop_end(c, &lr, 1);
}

/* A stem's band of rows [oh0, oh0 + rows) into Xp[unit][pixel][4]: byte
 * i of unit u is window element f = u*4 + i (pairs: u*2 + i/2, odd bytes
 * 0), tap f / C, channel f % C, read from the padded copy with no bounds
 * to check; past the window's end, zq. */
static void stem_pack(Cg *c, ConvQ *q, LLVMValueRef oh0, int64_t rows)
{
	Geo *g = &q->g;
	int L = q->k.s.L, cpu = q->k.s.cpu;
	int64_t sw = g->sw, nel = g->KH * g->KW * g->C;
	stem_copy(c, q, oh0);
	LLVMTypeRef vl = LLVMVectorType(c->i8, (unsigned)L), vs = LLVMVectorType(c->i8, (unsigned)(sw * L));
	LLVMValueRef mask[256];
	for (int l = 0; l < L; l++)
		mask[l] = i32c(c, l * sw);
	Loop lr;
	LLVMValueRef r = cg_loop_begin(c, &lr, cg_i64(c, 0), cg_i64(c, rows));
	LLVMValueRef xrow = bytes_at(c, q->Xs, cg_mul(c, r, cg_i64(c, g->sh * q->SW)));
	for (int64_t u = 0; u < q->k.KK; u++) {
		LLVMValueRef src[4], fill[4];
		for (int i = 0; i < 4; i++) {
			int64_t f = cpu == 4 ? u * 4 + i : i % 2 ? -1 : u * 2 + i / 2, t = f / g->C, ci = f % g->C;
			fill[i] = LLVMConstInt(c->i8, f < 0 ? 0 : q->zq, 0);
			src[i] = f >= 0 && f < nel ? bytes_at(c, xrow, cg_i64(c, (ci * q->SR + t / g->KW * g->dh) * q->SW + t % g->KW * g->dw)) : NULL;
		}
		LLVMValueRef dst = bytes_at(c, q->Xp, cg_mul(c, cg_add(c, cg_i64(c, u * q->PBV), cg_mul(c, r, cg_i64(c, q->BW))), cg_i64(c, 4)));
		if (g->OW < L) {  /* column by column */
			for (int64_t ow = 0; ow < g->OW; ow++) {
				LLVMValueRef v = LLVMGetUndef(LLVMVectorType(c->i8, 4));
				for (int i = 0; i < 4; i++)
					v = LLVMBuildInsertElement(c->b, v, src[i] ? cg_load(c, c->i8, src[i], cg_i64(c, ow * sw)) : fill[i], i32c(c, i), "");
				LLVMSetAlignment(LLVMBuildStore(c->b, v, bytes_at(c, dst, cg_i64(c, ow * 4))), 1);
			}
			continue;
		}
		/* L columns at a time, the last chunk overlapping */
		for (int part = 0; part < 2; part++) {
			if (part && g->OW % L == 0)
				break;
			Loop lc;
			LLVMValueRef ow = part ? cg_i64(c, g->OW - L) : cg_loop_begin(c, &lc, cg_i64(c, 0), cg_i64(c, g->OW / L * L));
			LLVMValueRef v[4];
			for (int i = 0; i < 4; i++) {
				if (!src[i]) {
					v[i] = cg_splat_const(fill[i], vl);
					continue;
				}
				v[i] = vload(c, vs, bytes_at(c, src[i], cg_mul(c, ow, cg_i64(c, sw))));
				if (sw > 1)
					v[i] = LLVMBuildShuffleVector(c->b, v[i], LLVMGetUndef(vs), LLVMConstVector(mask, (unsigned)L), "");
			}
			LLVMSetAlignment(LLVMBuildStore(c->b, interleave4(c, L, v), bytes_at(c, dst, cg_mul(c, ow, cg_i64(c, 4)))), 1);
			if (!part)
				cg_loop_end(c, &lc, L);
		}
	}
	cg_loop_end(c, &lr, 1);
}

/* One tile: channels [mt*MR, +rows) x V pixel vectors from vector v0 of
 * the band; `valid` pixels of the last vector are stored (L: all). */
static void conv_tile(Cg *c, ConvQ *q, LLVMValueRef mt, int rows, LLVMValueRef v0, int V, int valid, LLVMValueRef ybase)
{
	IK *k = &q->k;
	int L = k->s.L, MR = k->MR;
	LLVMValueRef bias[IK_RMAX];
	for (int r = 0; r < rows; r++)
		bias[r] = cg_splat(c, cg_load(c, c->i32, k->Bp, cg_add(c, cg_mul(c, mt, cg_i64(c, MR)), cg_i64(c, r))), k->s.vd);
	init_accs(c, k, rows, V, bias, NULL);
	KSrc src = {.vbase = bytes_at(c, q->Xp, cg_mul(c, v0, cg_i64(c, 4 * L))), .vstride = q->PBV * 4, .vstep = 4 * L,
		    .bbase = k->ub == 2 ? q->Wx : bytes_at(c, k->Wp, cg_mul(c, mt, cg_i64(c, k->KK * MR * 4))), .bstride = MR * 4,
		    .bstep = 4};
	kloop(c, k, rows, V, &src, false);
	conv_fix(c, k, rows, V, &src, cg_mul(c, mt, cg_i64(c, MR)));
	/* a row's whole vectors go out as one store, a last partial one apart */
	int whole = valid == L ? V : V - 1;
	for (int r = 0; r < rows; r++) {
		LLVMValueRef m = cg_add(c, cg_mul(c, mt, cg_i64(c, MR)), cg_i64(c, r));
		LLVMValueRef mult = cg_load(c, c->i32, k->Mq, m), sh = LLVMBuildZExt(c->b, cg_load(c, c->i8, k->Sq, m), c->i32, "");
		LLVMValueRef yrow = bytes_at(c, ybase, cg_mul(c, m, cg_i64(c, q->P))), y[IK_VMAX];
		for (int v = 0; v < V; v++)
			y[v] = requant_vec(c, k, LLVMBuildLoad2(c->b, k->s.vd, k->acc[r][v], ""), mult, sh);
		LLVMValueRef at = bytes_at(c, yrow, cg_mul(c, v0, cg_i64(c, L)));
		if (whole)
			LLVMSetAlignment(LLVMBuildStore(c->b, bytes_of(c, k, y, whole), at), 1);
		if (whole < V)
			store_bytes(c, k, bytes_of(c, k, y + V - 1, 1), bytes_at(c, at, cg_i64(c, (V - 1) * L)), valid);
	}
}

#define IK_PIXEL_OUTER 40  /* channel tiles from which conv_band loops over pixel tiles outside */

/* i8 pairs: channel tile mt's weights widened into Wx as the i16 pairs
 * the broadcasts read (once per band, for every pixel tile of it). */
static void widen_tile(Cg *c, ConvQ *q, LLVMValueRef mt)
{
	IK *k = &q->k;
	int64_t n = k->KK * k->MR * 2;  /* bytes of the tile */
	LLVMTypeRef v16 = LLVMVectorType(c->i8, 16), w16 = LLVMVectorType(LLVMInt16TypeInContext(c->ctx), 16);
	LLVMValueRef src = bytes_at(c, k->Wp, cg_mul(c, mt, cg_i64(c, n)));
	Loop l;
	LLVMValueRef j = cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, (n + 15) / 16 * 16));
	LLVMValueRef v = LLVMBuildSExt(c->b, vload(c, v16, bytes_at(c, src, j)), w16, "");
	LLVMSetAlignment(LLVMBuildStore(c->b, v, bytes_at(c, q->Wx, cg_mul(c, j, cg_i64(c, 2)))), 1);
	cg_loop_end(c, &l, 16);
}

/* Every channel tile over a packed band of pb pixels whose output starts
 * at ybase (channel 0's plane). */
static void conv_band(Cg *c, ConvQ *q, int64_t pb, LLVMValueRef ybase)
{
	IK *k = &q->k;
	int L = k->s.L, NR = k->NR;
	int64_t M = q->g.M, MR = k->MR, nv = (pb + L - 1) / L, last = pb - (nv - 1) * L;
	int64_t ntile = nv / NR, rest = nv % NR;
	if (last < L && !rest) {  /* the partial vector goes in a tile of its own */
		ntile--;
		rest = NR;
	}
	int64_t fullm = M / MR, remm = M % MR;
	/* Many channel tiles: each would stream the whole band again (from
	 * L2); the pixel tiles outside instead stream the weights, fewer
	 * bytes then.  ResNet-18 on Zen 3, thread CPU time: its 14x14 and
	 * 7x7 layers (52 and 103 tiles of 5 channels) took 0.55-0.97x as
	 * long that way, its 56x56 and 28x28 ones (13, 26) 1.02-1.08x.  The
	 * i16 pairs keep the channel tiles outside: their weights are
	 * widened once per tile and band. */
	if (k->ub != 2 && (fullm + (remm != 0)) >= IK_PIXEL_OUTER) {
		for (int pp = 0; pp < 2; pp++) {
			if (!(pp ? rest : ntile))
				continue;
			Loop lp;
			LLVMValueRef v0 = pp ? cg_i64(c, ntile * NR) : cg_mul(c, cg_loop_begin(c, &lp, cg_i64(c, 0), cg_i64(c, ntile)), cg_i64(c, NR));
			int V = (int)(pp ? rest : NR), valid = (int)(pp ? last : L);
			for (int pm = 0; pm < 2; pm++) {
				if (!(pm ? remm : fullm))
					continue;
				Loop lm;
				LLVMValueRef mt = pm ? cg_i64(c, fullm) : cg_loop_begin(c, &lm, cg_i64(c, 0), cg_i64(c, fullm));
				conv_tile(c, q, mt, (int)(pm ? remm : MR), v0, V, valid, ybase);
				if (!pm)
					cg_loop_end(c, &lm, 1);
			}
			if (!pp)
				cg_loop_end(c, &lp, 1);
		}
		return;
	}
	for (int pm = 0; pm < 2; pm++) {
		if (!(pm ? remm : fullm))
			continue;
		Loop lm, lp;
		LLVMValueRef mt = pm ? cg_i64(c, fullm) : cg_loop_begin(c, &lm, cg_i64(c, 0), cg_i64(c, fullm));
		int rows = (int)(pm ? remm : MR);
		if (k->ub == 2)
			widen_tile(c, q, mt);
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

/* AVX2 without VNNI: vpmaddubsw and its sparse corrections (3 bytes
 * and a few instructions per unsafe pair) while the unsafe pairs are at
 * most this share of the units (channel x quad), else vpmaddwd on i16
 * pairs (never saturates, no correction, the weights stored as bytes and
 * widened as read, but twice the activation bytes and an add per 16
 * products instead of 32).  By instruction counts (R x V = 5 x 2 tile)
 * the plain vpmaddubsw pass costs ~7.4 instructions a unit, an entry ~14
 * and the pairs ~1.2x the plain pass, so time alone would switch near
 * 0.1; at 3 bytes an entry against 4 a unit that would grow the layer's
 * weights by 8%, and issue 12 wants int8 objects within 0.27x of float,
 * so the bound is half that: up to 3.75% more bytes on the layers that
 * take it.  Measured shares (unsafe pairs per unit): ResNet-18's 3x3
 * layers 0.015-0.03, MobileNetV2's projections 0.02-0.04 and expansions
 * ~0.1, a uniform init (SqueezeNet) ~0.4.  KILN_INT8_DOT=maddubs or
 * =pairs forces one. */
#define IK_PAIRS_ABOVE 0.05

/* Pairs for nu units with ne unsafe pairs?  fits: the entries' indices
 * fit their tables. */
static bool want_pairs(int64_t ne, int64_t nu, bool fits)
{
	const char *env = getenv("KILN_INT8_DOT");
	if (env && !strcmp(env, "maddubs") && fits)
		return false;
	return !fits || (double)ne > IK_PAIRS_ABOVE * (double)nu;
}

static void use_pairs(IntIsa *s)
{
	s->dot = DOT_PAIRS;
	s->cpu = 2;
}

/* A stem (fewer than 4 channels, not a whole number of units, a window
 * of several taps): its units run over the whole window, (tap, channel)
 * with the channel fastest, instead of over each tap's channels, where a
 * 3-channel quad wastes a quarter of the work. */
static bool stem_units(const Geo *g, int cpu)
{
	return g->KH * g->KW > 1 && g->C < 4 && g->C % cpu;
}

/* Conv weights minus zero points, dense [M][tap][unit][cpu] (a stem:
 * [M][unit][cpu] over (tap, channel)), zero padded, *KK units per
 * channel, position p of a tap holding channel perm[p] (NULL: p); NULL
 * when one does not fit s8. */
static int8_t *conv_dense(const Type *tw, const void *data, const Geo *g, int cpu, const uint16_t *perm, int64_t *KK)
{
	int64_t KU = (g->C + cpu - 1) / cpu, T = g->KH * g->KW, KC = T * KU * cpu;
	bool stem = stem_units(g, cpu);
	if (stem)
		KC = (T * g->C + cpu - 1) / cpu * cpu;
	*KK = KC / cpu;
	int8_t *wd = calloc((size_t)(g->M * KC + 1), 1);
	if (!wd)
		die("out of memory");
	for (int64_t m = 0; m < g->M; m++)
		for (int64_t ci = 0; ci < g->C; ci++)
			for (int64_t t = 0; t < T; t++)
				if (!weight_s8(tw, data, (m * g->C + (perm ? perm[ci] : ci)) * T + t, m,
					       &wd[m * KC + (stem ? t * g->C + ci : (t * KU + ci / cpu) * cpu + ci % cpu)])) {
					free(wd);
					return NULL;
				}
	return wd;
}

/* The order of the input channels in the units (maddubs): a pair is two
 * channels of one tap, the same two for every output channel and tap,
 * and it costs an entry wherever both weights share a sign past 128 in
 * sum.  Whether two channels clash is the count of (m, tap) where they
 * would; the pairs are taken greedily, fewest clashes first (a large
 * weight then mostly meets small ones).  NULL when the channels' own
 * order has no more unsafe pairs, or there is nothing to choose. */
typedef struct Clash { int32_t n; uint16_t i, j; } Clash;

static int clash_cmp(const void *a, const void *b)
{
	const Clash *x = a, *y = b;
	return x->n != y->n ? (x->n > y->n) - (x->n < y->n) : x->i != y->i ? x->i - y->i : x->j - y->j;
}

static uint16_t *pair_channels(const int8_t *wd, const Geo *g, int64_t KK, int64_t ne)
{
	int64_t C = g->C, T = g->KH * g->KW, K4 = KK * 4, KU = KK / T;
	if (C < 3 || C > 4096 || stem_units(g, 4) || !ne)
		return NULL;
	int32_t *n = calloc((size_t)(C * C), sizeof *n);
	Clash *e = malloc(sizeof *e * (size_t)(C * (C - 1) / 2 + 1));
	uint16_t *perm = malloc(sizeof *perm * (size_t)C);
	bool *used = calloc((size_t)C, 1);
	if (!n || !e || !perm || !used)
		die("out of memory");
	/* wd is in channel order here: channel ci of tap t at t*KU*4 + ci */
	for (int64_t m = 0; m < g->M; m++)
		for (int64_t t = 0; t < T; t++) {
			const int8_t *w = wd + m * K4 + t * KU * 4;
			for (int64_t i = 0; i < C; i++)
				if (w[i] > 64 || w[i] < -64)
					for (int64_t j = 0; j < C; j++)
						n[i * C + j] += j != i && pair_unsafe(w[i], w[j]);
		}
	int64_t ne2 = 0;
	for (int64_t i = 0; i < C; i++)
		for (int64_t j = i + 1; j < C; j++)
			e[ne2++] = (Clash){n[i * C + j] + n[j * C + i], (uint16_t)i, (uint16_t)j};
	qsort(e, (size_t)ne2, sizeof *e, clash_cmp);
	int64_t np = 0, cost = 0;
	for (int64_t k = 0; k < ne2 && np < C / 2 * 2; k++)
		if (!used[e[k].i] && !used[e[k].j]) {
			used[e[k].i] = used[e[k].j] = true;
			perm[np++] = e[k].i, perm[np++] = e[k].j;
			cost += e[k].n / 2;  /* each (m, t) was counted from both sides */
		}
	for (int64_t i = 0; i < C; i++)
		if (!used[i])
			perm[np++] = (uint16_t)i;
	free(n), free(e), free(used);
	if (cost >= ne) {
		free(perm);
		return NULL;
	}
	return perm;
}

bool cg_int_conv_fast(Cg *c, const Node *n)
{
	ConvQ q = {0};
	IK *k = &q.k;
	if (!int_isa(c, &k->s) || !all_bytes(c, n))
		return false;
	const Type *tx = cg_ty(c, n->in[0]), *tw = cg_ty(c, n->in[1]), *ty = cg_ty(c, n->out);
	const Value *wv = ir_value(c->g, n->in[1]);
	bool has_b = n->nin > 2 && n->in[2] >= 0;
	if ((tx->rank != 3 && tx->rank != 4) || tx->block || ty->block || wv->kind != VAL_CONST ||
	    (has_b && ir_value(c->g, n->in[2])->kind != VAL_CONST) || (n->nin > 3 && n->in[3] >= 0))
		return false;
	Geo g = cg_geometry(c, n, true);
	if (g.group != 1)
		return false;
	int L = k->s.L;
	int8_t *wd = conv_dense(tw, wv->data, &g, k->s.cpu, NULL, &k->KK);
	if (!wd)
		return false;
	tile_shape(&k->s, &k->MR, &k->NR);
	int64_t ne = k->s.dot == DOT_MADDUBS ? unsafe_pairs(wd, g.M, k->KK) : 0;
	uint16_t *perm = k->s.dot == DOT_MADDUBS ? pair_channels(wd, &g, k->KK, ne) : NULL;
	if (perm) {  /* the units in the chosen order */
		free(wd);
		wd = conv_dense(tw, wv->data, &g, k->s.cpu, perm, &k->KK);
		ne = unsafe_pairs(wd, g.M, k->KK);
	}
	if (k->s.dot == DOT_MADDUBS && want_pairs(ne, g.M * k->KK, k->KK < 16384 && ne < 65536)) {
		free(wd), free(perm);
		perm = NULL;
		use_pairs(&k->s);
		wd = conv_dense(tw, wv->data, &g, k->s.cpu, NULL, &k->KK);
		tile_shape(&k->s, &k->MR, &k->NR);
	}
	if (perm)
		q.Perm = cg_x86_blob(c, "kiln.qperm", perm, sizeof *perm * (size_t)g.C, 2);
	free(perm);
	q.T = g.KH * g.KW;
	q.KQ = k->KK / q.T;
	q.stem = stem_units(&g, k->s.cpu);
	q.flip = tx->dt == DT_I8;
	int32_t zx = tx->q->zero[0] + (q.flip ? 128 : 0);
	q.zq = (uint8_t)zx;
	Packed p = {.nch = g.M, .KK = k->KK, .G = k->MR};
	double *r = multipliers(tx, tw, ty, g.M);
	bool ok = pack_weights(c, n, &p, wd, has_b ? ir_value(c->g, n->in[2])->data : NULL, zx, r, k->s.dot, false);
	free(r);
	if (!ok)
		return false;
	/* A 1x1 conv over the whole image, stride 1, no padding: one row of
	 * all pixels, in bands of columns. */
	bool flat = g.KH == 1 && g.KW == 1 && g.sh == 1 && g.sw == 1 && !g.ph && !g.pw && !g.pe_h && !g.pe_w;
	q.flat = flat;
	if (flat) {
		g.W = g.OW = g.H * g.W;
		g.H = g.OH = 1;
	}
	q.g = g;
	q.P = g.OH * g.OW;
	int64_t row = k->KK * 4 * g.OW;  /* packed bytes of one output row */
	if (flat) {
		q.RB = 1;
		q.BW = IK_BAND_BYTES / (k->KK * 4) / L * L;
		q.BW = q.BW < L ? L : q.BW > g.OW ? g.OW : q.BW;
		int64_t nb = (g.OW + q.BW - 1) / q.BW;
		q.BW = (g.OW + nb - 1) / nb;
	} else {
		if (row > IK_BAND_MAX) {
			packed_free(&p);
			return false;
		}
		q.BW = g.OW;
		int64_t rb = IK_BAND_BYTES / row, nb;
		rb = rb < 1 ? 1 : rb > g.OH ? g.OH : rb;
		nb = (g.OH + rb - 1) / rb;
		q.RB = (g.OH + nb - 1) / nb;
	}
	q.PBV = (q.RB * q.BW + L - 1) / L * L;
	bool keep = ik_begin(c, k, n, &p, true);
	q.Xp = cg_entry_alloca(c, LLVMArrayType(c->i8, (unsigned)(k->KK * q.PBV * 4)));
	LLVMSetAlignment(q.Xp, 64);
	if (k->ub == 2)
		q.Wx = cg_entry_alloca(c, LLVMArrayType(c->i8, (unsigned)((k->KK * k->MR * 2 + 15) / 16 * 32)));
	if (q.stem) {
		q.SR = (q.RB - 1) * g.sh + (g.KH - 1) * g.dh + 1;
		q.SW = g.OW * g.sw + (g.KW - 1) * g.dw;
		q.Xs = cg_entry_alloca(c, LLVMArrayType(c->i8, (unsigned)(g.C * q.SR * q.SW)));
	}
	/* The pixels past a band's end are computed and never stored: give
	 * them defined bytes once. */
	int64_t along = flat ? g.OW : g.OH, step = flat ? q.BW : q.RB;
	if ((q.RB * q.BW) % L || along % step)
		LLVMBuildMemSet(c->b, q.Xp, LLVMConstInt(c->i8, q.zq, 0), cg_i64(c, k->KK * q.PBV * 4), 64);
	q.X = cg_buf(c, n->in[0]);
	q.Y = cg_buf(c, n->out);
	/* Bands: along rows, or along the flattened row's columns; this
	 * task's share of them, the last (shorter) one on its own. */
	int64_t nfull = along / step, tail = along % step;
	LLVMValueRef plo, phi;
	cg_part_range(c, nfull + (tail != 0), &plo, &phi);
	Loop ln, lb;
	q.n = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, g.N));
	LLVMValueRef yimg = bytes_at(c, q.Y, cg_mul(c, q.n, cg_i64(c, g.M * q.P)));
	for (int pt = 0; pt < 2; pt++) {
		if (!(pt ? tail : nfull))
			continue;
		LLVMBasicBlockRef skip = NULL;
		LLVMValueRef b;
		if (pt) {
			skip = cg_if_begin(c, cg_part_owns(c, plo, phi, nfull));
			b = cg_i64(c, nfull);
		} else
			b = cg_loop_begin(c, &lb, plo, cg_part_whole_end(c, phi, nfull));
		int64_t cnt = pt ? tail : step;
		LLVMValueRef first = cg_mul(c, b, cg_i64(c, step));
		LLVMValueRef pix0 = flat ? first : cg_mul(c, first, cg_i64(c, g.OW));
		if (flat) {
			q.BW = cnt;  /* the pack reads this band's width */
			conv_pack(c, &q, cg_i64(c, 0), first, 1);
			q.BW = step;
		} else if (q.stem)
			stem_pack(c, &q, first, cnt);
		else
			conv_pack(c, &q, first, cg_i64(c, 0), cnt);
		conv_band(c, &q, flat ? cnt : cnt * g.OW, bytes_at(c, yimg, pix0));
		if (pt)
			cg_if_end(c, skip);
		else
			cg_loop_end(c, &lb, 1);
	}
	cg_loop_end(c, &ln, 1);
	c->keep_loops = keep;
	return true;
}

/* ---- gemm and matmul ------------------------------------------------------------------- */

/* rows x K (A row-major) times the packed constant B -> rows x N.  A tile
 * of R rows is first copied into Ap[R][KK*4] (zero padded, i8 flipped to
 * u8): O(R*K) once for every column tile it meets.  Columns in tiles of
 * NR vectors of L (G = NR*L, the packing's channel group). */
typedef struct GemmQ {
	IK k;
	int64_t rows, K, N, G;
	bool flip;
	LLVMValueRef A, Y, Ap;
} GemmQ;

/* Copy rows [r0, r0+R) of A into Ap (pairs: each byte widened to i16). */
static void gemm_pack_a(Cg *c, GemmQ *q, LLVMValueRef r0, int R)
{
	int L = q->k.s.L, w = 4 / q->k.s.cpu;  /* bytes per element in Ap */
	int64_t K = q->K, KU = q->k.KK * q->k.s.cpu, chunk = 4 * L / w, nch = K / chunk;
	LLVMTypeRef vin = LLVMVectorType(c->i8, (unsigned)chunk), vout = w == 1 ? vin : q->k.s.vw;
	LLVMTypeRef et = w == 1 ? c->i8 : LLVMInt16TypeInContext(c->ctx);
	LLVMValueRef flip = cg_splat_const(LLVMConstInt(c->i8, 0x80, 0), vin);
	for (int r = 0; r < R; r++) {
		LLVMValueRef src = bytes_at(c, q->A, cg_mul(c, cg_add(c, r0, cg_i64(c, r)), cg_i64(c, K)));
		LLVMValueRef dst = bytes_at(c, q->Ap, cg_i64(c, r * KU * w));
		if (nch) {
			Loop l;
			LLVMValueRef j = cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, nch * chunk));
			LLVMValueRef v = vload(c, vin, bytes_at(c, src, j));
			if (q->flip)
				v = LLVMBuildXor(c->b, v, flip, "");
			v = LLVMBuildZExt(c->b, v, vout, "");
			LLVMSetAlignment(LLVMBuildStore(c->b, v, bytes_at(c, dst, cg_mul(c, j, cg_i64(c, w)))), 1);
			cg_loop_end(c, &l, chunk);
		}
		for (int64_t j = nch * chunk; j < KU; j++) {
			LLVMValueRef b = LLVMConstInt(c->i8, 0, 0);
			if (j < K) {
				b = cg_load(c, c->i8, src, cg_i64(c, j));
				if (q->flip)
					b = LLVMBuildXor(c->b, b, LLVMConstInt(c->i8, 0x80, 0), "");
			}
			LLVMSetAlignment(LLVMBuildStore(c->b, LLVMBuildZExt(c->b, b, et, ""), bytes_at(c, dst, cg_i64(c, j * w))), 1);
		}
	}
}

/* gemm (maddubs): the correction entries of column tile nt, through
 * the accumulators in memory: per entry and row, d times byte idx of the
 * row's packed A added to its lane. */
static void gemm_fix(Cg *c, GemmQ *q, int R, int V, LLVMValueRef nt)
{
	IK *k = &q->k;
	if (!k->TS)
		return;
	int L = k->s.L;
	for (int r = 0; r < R; r++)
		for (int v = 0; v < V; v++)
			LLVMSetAlignment(LLVMBuildStore(c->b, LLVMBuildLoad2(c->b, k->s.vd, k->acc[r][v], ""),
							cg_gep(c, c->i32, k->Acc, cg_i64(c, r * q->G + v * L))), 4);
	LLVMValueRef e0 = LLVMBuildSExt(c->b, cg_load(c, c->i32, k->TS, nt), c->i64, "");
	LLVMValueRef e1 = LLVMBuildSExt(c->b, cg_load(c, c->i32, k->TS, cg_add(c, nt, cg_i64(c, 1))), c->i64, "");
	Loop le;
	LLVMValueRef e = cg_loop_begin(c, &le, e0, e1);
	LLVMValueRef ent = cg_load(c, c->i32, k->TE, e);
	LLVMValueRef idx = LLVMBuildZExt(c->b, LLVMBuildLShr(c->b, ent, i32c(c, 16), ""), c->i64, "");
	LLVMValueRef lane = LLVMBuildZExt(c->b, LLVMBuildAnd(c->b, LLVMBuildLShr(c->b, ent, i32c(c, 8), ""), i32c(c, 255), ""), c->i64, "");
	LLVMValueRef d = LLVMBuildSExt(c->b, LLVMBuildTrunc(c->b, ent, c->i8, ""), c->i32, "");
	for (int r = 0; r < R; r++) {
		LLVMValueRef a = LLVMBuildZExt(c->b, cg_load(c, c->i8, q->Ap, cg_add(c, idx, cg_i64(c, r * k->KK * 4))), c->i32, "");
		LLVMValueRef at = cg_add(c, lane, cg_i64(c, r * q->G));
		cg_store(c, c->i32, LLVMBuildAdd(c->b, cg_load(c, c->i32, k->Acc, at), LLVMBuildMul(c->b, d, a, ""), ""), k->Acc, at);
	}
	cg_loop_end(c, &le, 1);
	for (int r = 0; r < R; r++)
		for (int v = 0; v < V; v++) {
			LLVMValueRef a = LLVMBuildLoad2(c->b, k->s.vd, cg_gep(c, c->i32, k->Acc, cg_i64(c, r * q->G + v * L)), "");
			LLVMSetAlignment(a, 4);
			LLVMBuildStore(c->b, a, k->acc[r][v]);
		}
}

/* R rows from r0 times column tile nt (V vectors, the last with `valid`
 * columns). */
static void gemm_tile(Cg *c, GemmQ *q, LLVMValueRef r0, int R, LLVMValueRef nt, int V, int valid)
{
	IK *k = &q->k;
	int L = k->s.L;
	LLVMValueRef bias[IK_VMAX];
	for (int v = 0; v < V; v++)
		bias[v] = vload(c, k->s.vd, cg_gep(c, c->i32, k->Bp, cg_add(c, cg_mul(c, nt, cg_i64(c, q->G)), cg_i64(c, v * L))));
	init_accs(c, k, R, V, NULL, bias);
	int ub = k->ub;
	KSrc src = {.vbase = bytes_at(c, k->Wp, cg_mul(c, nt, cg_i64(c, k->KK * q->G * ub))), .vstride = q->G * ub,
		    .vstep = ub * L, .bbase = q->Ap, .bstride = 4, .bstep = k->KK * 4};
	kloop(c, k, R, V, &src, true);
	gemm_fix(c, q, R, V, nt);
	for (int v = 0; v < V; v++) {
		LLVMValueRef n0 = cg_add(c, cg_mul(c, nt, cg_i64(c, q->G)), cg_i64(c, v * L));
		LLVMValueRef mult = vload(c, k->s.vd, cg_gep(c, c->i32, k->Mq, n0));
		LLVMValueRef sh = LLVMBuildZExt(c->b, vload(c, LLVMVectorType(c->i8, (unsigned)L), bytes_at(c, k->Sq, n0)), k->s.vd, "");
		for (int r = 0; r < R; r++) {
			LLVMValueRef y = requant_vec(c, k, LLVMBuildLoad2(c->b, k->s.vd, k->acc[r][v], ""), mult, sh);
			LLVMValueRef yo = cg_add(c, cg_mul(c, cg_add(c, r0, cg_i64(c, r)), cg_i64(c, q->N)), n0);
			store_bytes(c, k, bytes_of(c, k, &y, 1), bytes_at(c, q->Y, yo), v == V - 1 ? valid : L);
		}
	}
}

/* Every column tile for R rows from r0. */
static void gemm_rows(Cg *c, GemmQ *q, LLVMValueRef r0, int R)
{
	int L = q->k.s.L;
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

/* B's columns minus zero points, dense [N][unit][cpu]; NULL when one
 * does not fit s8. */
static int8_t *gemm_dense(const Type *tb, const void *bd, int64_t K, int64_t N, int64_t b_ks, int64_t b_ns, int cpu,
			  int64_t *KK)
{
	*KK = (K + cpu - 1) / cpu;
	int64_t KC = *KK * cpu;
	int8_t *wd = calloc((size_t)(N * KC + 1), 1);
	if (!wd)
		die("out of memory");
	for (int64_t nn = 0; nn < N; nn++)
		for (int64_t kk = 0; kk < K; kk++)
			if (!weight_s8(tb, bd, kk * b_ks + nn * b_ns, nn, &wd[nn * KC + kk])) {
				free(wd);
				return NULL;
			}
	return wd;
}

/* The common part of gemm and matmul: B (K x N, element (k, n) at
 * k*b_ks + n*b_ns) constant, its quantization along the columns or per
 * tensor; cb the i32 bias per column (NULL: none). */
static bool gemm_fast(Cg *c, const Node *n, int64_t rows, int64_t K, int64_t N, int64_t b_ks, int64_t b_ns,
		      const int32_t *cb)
{
	GemmQ q = {.rows = rows, .K = K, .N = N};
	IK *k = &q.k;
	if (!int_isa(c, &k->s) || !all_bytes(c, n))
		return false;
	const Type *ta = cg_ty(c, n->in[0]), *tb = cg_ty(c, n->in[1]), *ty = cg_ty(c, n->out);
	const void *bd = ir_value(c->g, n->in[1])->data;
	int L = k->s.L;
	if ((K + 3) / 4 * 4 * IK_RMAX > IK_BAND_MAX)
		return false;
	int8_t *wd = gemm_dense(tb, bd, K, N, b_ks, b_ns, k->s.cpu, &k->KK);
	if (!wd)
		return false;
	tile_shape(&k->s, &k->MR, &k->NR);
	int64_t ne = k->s.dot == DOT_MADDUBS ? unsafe_pairs(wd, N, k->KK) : 0;
	if (k->s.dot == DOT_MADDUBS && want_pairs(ne, N * k->KK, k->KK * 4 < 65536)) {
		free(wd);
		use_pairs(&k->s);
		wd = gemm_dense(tb, bd, K, N, b_ks, b_ns, k->s.cpu, &k->KK);
		tile_shape(&k->s, &k->MR, &k->NR);
	}
	if (rows < k->MR) {  /* few rows (a GEMV): more vectors keep the dots independent */
		int extra = k->s.dot == DOT_VNNI ? 1 : k->s.dot == DOT_PAIRS ? 2 : 3;
		k->MR = (int)rows;
		k->NR = (k->s.regs - extra) / (k->MR + 1);
		k->NR = k->NR > IK_VMAX ? IK_VMAX : k->NR < 1 ? 1 : k->NR;
	}
	q.G = k->NR * L;
	q.flip = ta->dt == DT_I8;
	int32_t zx = ta->q->zero[0] + (q.flip ? 128 : 0);
	Packed p = {.nch = N, .KK = k->KK, .G = q.G};
	double *r = multipliers(ta, tb, ty, N);
	bool ok = pack_weights(c, n, &p, wd, cb, zx, r, k->s.dot, true);
	free(r);
	if (!ok)
		return false;
	bool keep = ik_begin(c, k, n, &p, false);
	q.Ap = cg_entry_alloca(c, LLVMArrayType(c->i8, (unsigned)(k->MR * k->KK * 4)));
	if (k->TS)
		k->Acc = cg_entry_alloca(c, LLVMArrayType(c->i32, (unsigned)(k->MR * q.G)));
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

/* gemm: A not transposed, B constant, C absent or a constant row
 * broadcast down the rows ([N], [1,N] or a scalar). */
static bool int_gemm(Cg *c, const Node *n)
{
	const Type *ta = cg_ty(c, n->in[0]), *ty = cg_ty(c, n->out);
	if (ir_attr_int(n, "trans_a", 0) || ir_value(c->g, n->in[1])->kind != VAL_CONST)
		return false;
	bool tB = ir_attr_int(n, "trans_b", 0);
	int64_t M = ty->dims[0], N = ty->dims[1], K = ta->dims[1];
	int32_t *cb = NULL;
	if (n->nin > 2 && n->in[2] >= 0) {
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
	bool ok = gemm_fast(c, n, M, K, N, tB ? 1 : N, tB ? K : 1, cb);
	free(cb);
	return ok;
}

/* matmul: B constant of rank <= 2 (one B for every row of A), A not
 * transposed. */
static bool int_matmul(Cg *c, const Node *n)
{
	const Type *ta = cg_ty(c, n->in[0]), *tb = cg_ty(c, n->in[1]);
	if (ir_attr_int(n, "trans_a", 0) || tb->rank > 2 || ir_value(c->g, n->in[1])->kind != VAL_CONST)
		return false;
	bool tB = ir_attr_int(n, "trans_b", 0);
	int64_t K = ta->dims[ta->rank - 1], N = tb->rank == 2 ? tb->dims[tB ? 0 : 1] : 1;
	int64_t rows = ir_type_numel(ta) / K;
	return gemm_fast(c, n, rows, K, N, tb->rank == 2 && !tB ? N : 1, tB ? K : 1, NULL);
}

bool cg_int_matmul_fast(Cg *c, const Node *n)
{
	return n->op == OP_GEMM ? int_gemm(c, n) : int_matmul(c, n);
}
