/* The Cortex-M DSP int8 kernels (Armv7E-M: M4, M7; Armv8-M Mainline with
 * the DSP extension: M33, M35P, M55, M85): conv and gemm/matmul with
 * constant 8-bit weights through SMLAD (two 16x16 multiply-accumulates in
 * one instruction) on operands unpacked by SXTB16/UXTB16.  Checked bit
 * for bit against the plain lowerings of cg_int.c on awkward shapes by
 * running both on a Cortex-M4 under qemu-system-arm (tests/firmware).
 *
 * The products: acc = bias' + sum_k x_k w'_k with x the raw activations
 * (sign- or zero-extended, padding taps reading z_x) and w' = w - z_w
 * (checked to fit in int8 at compile time); bias' = bias - z_x sum_k w'_k
 * folds x's zero point, so each tap is one 16x16 product and the result
 * is the reference's sum of (x - z_x)(w - z_w) in int32 arithmetic (both
 * wrap alike).  A quad of k is held as the halfword pairs [k0, k2] and
 * [k1, k3] everywhere, as SXTB16 and SXTB16 of the word rotated by 8
 * split four bytes, so no operand is ever reordered.
 *
 * gemm (conv with one group: im2col; gemm and matmul: rows of A): two
 * pixels (rows) x two output channels per block.  The block's two pixels
 * are packed as int16 quads on the stack (a pointwise conv reads two
 * adjacent pixels of four channel planes as halfwords and splits them
 * with two SXTB16 per word; other convs gather tap by tap); the weights
 * of up to DSP_WEXP bytes of output channels are expanded to int16 on the
 * stack once per chunk; the K loop is then two LDRD of pixels, two of
 * weights and eight SMLAD per quad (12 instructions for 16 products),
 * unrolled up to 32 quads.  Stack: (chunk + 1) x 2 Kp bytes of weights
 * and 4 Kp of pixels (8.6 KB for a 64 x 64 pointwise layer).
 *
 * depthwise (one channel per group, kernel width 3, stride and dilation 1
 * along the width): the channel's plane is copied into a stack buffer
 * with borders of z_x; two adjacent outputs per step take one word of
 * four inputs per kernel row: E = [x0, x2] and O = [x1, x3] give
 * out0 += SMLAD(E, [w0, w2]) + SMLABB(O, w1) and out1 += SMLAD(O, [w0, w2])
 * + SMLATB(E, w1).
 *
 * Requantization: when no product can sit exactly on a tie,
 * round_half_even(acc mult / 2^s) = (hi + 2^(t-1)) >> t with hi the high
 * word of the 64-bit product and t = s - 32 >= 1.  Three forms, the first
 * that applies: uniform (uniform_s: every channel's weights and bias'
 * scaled by 2^(S - s) at compile or expansion time, so all shift by one
 * immediate and round by one constant with z_y folded in: SMMLA, ASR,
 * SSAT per output); per-channel shifts (fast_u: t and the rounding term
 * per channel, the accumulator saturated and shifted first when shifts
 * are small); cg_requant's 64-bit arithmetic.  Loop counters and indices
 * are 32-bit throughout. */
#include <stdlib.h>
#include <string.h>

#include <llvm-c/DebugInfo.h>  /* LLVMTemporaryMDNode */

#include "cg_internal.h"

#define DSP_WEXP 8192      /* stack bytes for a chunk of expanded (int16) weights */
#define DSP_MAX_KP 2048    /* largest K (padded to quads) the gemm kernel packs */
#define DSP_DW_PLANE 16384 /* stack bytes of a padded depthwise plane */

/* ---- the target ------------------------------------------------------------------------ */

/* The node function's string attribute, or "". */
static void fn_attr(Cg *c, const char *key, char *buf, size_t size)
{
	unsigned len = 0;
	LLVMAttributeRef a = LLVMGetStringAttributeAtIndex(c->fn, LLVMAttributeFunctionIndex, key, (unsigned)strlen(key));
	const char *v = a ? LLVMGetStringAttributeValue(a, &len) : "";
	snprintf(buf, size, "%.*s", (int)len, v);
}

/* Does the code being built run on a core with the DSP extension?  An
 * M-profile triple (thumbv7em, thumbv8m.main, thumbv8.1m.main) and a cpu
 * that has it, or "+dsp" in the features; "-dsp" turns it off.  The cpu
 * decides, not the triple: thumbv7em with --cpu cortex-m3 is code for an
 * M3, where SXTB16 cannot be selected. */
static bool dsp_target(Cg *c)
{
	if (c->reference)
		return false;
	const char *tr = LLVMGetTarget(c->mod);
	char cpu[64], feat[1024];
	fn_attr(c, "target-cpu", cpu, sizeof cpu);
	fn_attr(c, "target-features", feat, sizeof feat);
	if (strncmp(tr, "thumbv7em", 9) && strncmp(tr, "thumbv8m.main", 13) && strncmp(tr, "thumbv8.1m.main", 15))
		return false;
	if (strstr(feat, "-dsp"))
		return false;
	static const char *const dsp_cpus[] = {"cortex-m4", "cortex-m7", "cortex-m33", "cortex-m35p", "cortex-m52",
					       "cortex-m55", "cortex-m85", NULL};
	for (int i = 0; dsp_cpus[i]; i++)
		if (!strcmp(cpu, dsp_cpus[i]))
			return true;
	return strstr(feat, "+dsp") != NULL;
}

/* ---- 32-bit builders ----------------------------------------------------------------- */

static LLVMValueRef k32(Cg *c, int64_t v) { return LLVMConstInt(c->i32, (uint64_t)v, 1); }

/* A counted loop [start, end) with an i32 index (cg_loop_begin's is i64:
 * on a 32-bit core that is an adds/adc pair per step). */
typedef struct L32 {
	LLVMBasicBlockRef head, body, exit, pre;
	LLVMValueRef iv;
	bool keep;  /* not to be unrolled */
} L32;

static LLVMValueRef l32_begin(Cg *c, L32 *l, LLVMValueRef start, LLVMValueRef end)
{
	l->pre = LLVMGetInsertBlock(c->b);
	l->head = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "dsp.loop");
	l->body = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "dsp.body");
	l->exit = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "dsp.done");
	LLVMBuildBr(c->b, l->head);
	LLVMPositionBuilderAtEnd(c->b, l->head);
	l->iv = LLVMBuildPhi(c->b, c->i32, "");
	LLVMAddIncoming(l->iv, &start, &l->pre, 1);
	LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, l->iv, end, ""), l->body, l->exit);
	LLVMPositionBuilderAtEnd(c->b, l->body);
	return l->iv;
}

static void l32_end(Cg *c, L32 *l, int step)
{
	LLVMValueRef next = LLVMBuildNSWAdd(c->b, l->iv, k32(c, step), "");
	LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->b);
	LLVMValueRef br = LLVMBuildBr(c->b, l->head);
	if (l->keep) {  /* llvm.loop.unroll.disable, under a loop ID that refers to itself */
		LLVMMetadataRef u = LLVMMDStringInContext2(c->ctx, "llvm.loop.unroll.disable", 24);
		LLVMMetadataRef tmp = LLVMTemporaryMDNode(c->ctx, NULL, 0);
		LLVMMetadataRef ops[2] = {tmp, LLVMMDNodeInContext2(c->ctx, &u, 1)};
		LLVMMetadataRef id = LLVMMDNodeInContext2(c->ctx, ops, 2);
		LLVMMetadataReplaceAllUsesWith(tmp, id);
		LLVMSetMetadata(br, LLVMGetMDKindIDInContext(c->ctx, "llvm.loop", 9), LLVMMetadataAsValue(c->ctx, id));
	}
	LLVMAddIncoming(l->iv, &next, &latch, 1);
	LLVMPositionBuilderAtEnd(c->b, l->exit);
}

/* base + off bytes. */
static LLVMValueRef at(Cg *c, LLVMValueRef base, LLVMValueRef off)
{
	return LLVMBuildGEP2(c->b, c->i8, base, &off, 1, "");
}

static LLVMValueRef load(Cg *c, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef off, unsigned align)
{
	LLVMValueRef v = LLVMBuildLoad2(c->b, t, at(c, base, off), "");
	LLVMSetAlignment(v, align);
	return v;
}

static void store(Cg *c, LLVMValueRef v, LLVMValueRef base, LLVMValueRef off, unsigned align)
{
	LLVMSetAlignment(LLVMBuildStore(c->b, v, at(c, base, off)), align);
}

static LLVMValueRef add(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAdd(c->b, a, b, ""); }
static LLVMValueRef mul(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildMul(c->b, a, b, ""); }
static LLVMValueRef smin(Cg *c, LLVMValueRef a, LLVMValueRef b) { return cg_sel(c, cg_icmp(c, LLVMIntSLT, a, b), a, b); }

static LLVMValueRef arm(Cg *c, const char *name, LLVMValueRef *args, int n)
{
	return cg_call_intr(c, name, NULL, 0, args, n);
}

/* The two halfwords [b0, b2] of a word's bytes, sign- or zero-extended. */
static LLVMValueRef xtb16(Cg *c, LLVMValueRef w, bool u8)
{
	return arm(c, u8 ? "llvm.arm.uxtb16" : "llvm.arm.sxtb16", &w, 1);
}

/* The word rotated right by 8 (folded into SXTB16's operand). */
static LLVMValueRef ror8(Cg *c, LLVMValueRef w)
{
	LLVMTypeRef t = c->i32;
	return cg_call_intr(c, "llvm.fshr", &t, 1, (LLVMValueRef[]){w, w, k32(c, 8)}, 3);
}

static LLVMValueRef smlad(Cg *c, LLVMValueRef a, LLVMValueRef b, LLVMValueRef acc)
{
	return arm(c, "llvm.arm.smlad", (LLVMValueRef[]){a, b, acc}, 3);
}

/* A stack buffer of bytes, 8-byte aligned. */
static LLVMValueRef stack_bytes(Cg *c, int64_t bytes)
{
	LLVMValueRef a = cg_entry_alloca(c, LLVMArrayType2(c->i8, (uint64_t)bytes));
	LLVMSetAlignment(a, 8);
	return a;
}

/* ---- per-channel tables ------------------------------------------------------------ */

/* One node's constants in one read-only blob, 4-byte aligned: per output
 * channel bias' (i32) and multiplier (i32), then (unless packed) a shift
 * (i8), then the weights.  With the SMMUL requantization (fast) the shift
 * kept is t = s + u - 32, and when every bias' fits in 27 bits it rides in
 * the bias word's low 5 bits (packed: bias' << 5 | t). */
typedef struct Tabs {
	LLVMValueRef blob;
	int64_t M, mult_at, shift_at, w_at;  /* byte offsets */
	bool fast;                           /* every channel takes the SMMUL requantization */
	bool packed;                         /* t in the bias word */
	bool fold_zy;                        /* fast, and z_y 2^t + 2^(t-1) + 2^30 < 2^31 for every t */
	int u;                               /* fast: acc saturated to 31 - u bits and shifted left by u */
	int T;                               /* uniform: every channel shifts by 32 + T (weights and bias'
					      * scaled by 2^e, e in the bias word); 0: per-channel shifts */
	bool u8;                             /* x unsigned */
	int32_t zx, zy, lo, hi;
} Tabs;

/* Number of trailing zero bits of a non-zero v. */
static int tz(uint32_t v)
{
	int k = 0;
	while (!(v & 1))
		v >>= 1, k++;
	return k;
}

/* The smallest u that lets every channel (q[m], of M) take the SMMUL
 * requantization, or -1.  round_half_even(p / 2^s) is (hi + 2^(t-1)) >> t
 * (hi = p >> 32, t = s - 32 >= 1) unless p sits on a tie, p = 2^(s-1)
 * mod 2^s, which needs v2(acc) + v2(mult) = s - 1: impossible when
 * s - v2(mult) >= 33 (v2(acc) <= 31).  Layers with smaller shifts take
 * acc saturated to [-2^(30-u), 2^(30-u)) and shifted left by u (s grows
 * by u, v2(acc) <= 30): exact as long as the saturated accumulators still
 * saturate the result (|2^(30-u) r| >= 2^9, i.e. s + u <= 51). */
static int fast_u(const Requant *q, int64_t M)
{
	bool plain = true;
	int u = 1;
	for (int64_t m = 0; m < M; m++) {
		if (!q[m].mult)
			return -1;
		int s = q[m].shift, v = tz((uint32_t)q[m].mult);
		plain = plain && s >= 33 && s - v >= 33;
		u = 33 - s > u ? 33 - s : u;
		u = 32 + v - s > u ? 32 + v - s : u;
	}
	if (plain)
		return 0;
	for (int64_t m = 0; m < M; m++)
		if (q[m].shift + u > 51)
			return -1;
	return u;
}

/* The common shift S of the uniform requantization, or 0 when it cannot
 * be used: each channel's weights and bias' scaled by 2^(S - s) (exact,
 * when acc * 2^(S - s) cannot overflow: |acc| <= bound[m] is known at
 * compile time, and the weights stay int16) so that every channel shifts
 * by the same S >= 33: the shift an immediate, the rounding term a
 * constant.  No product may sit on a tie: that needs v2(acc) + v2(mult)
 * = s - 1 (scaling both sides keeps it), impossible when 2^(s - 1 -
 * v2(mult)) > bound. */
static int uniform_s(const Requant *q, const int64_t *bound, int64_t M, int wmax)
{
	int S = 33;
	for (int64_t m = 0; m < M; m++) {
		if (!q[m].mult)
			return 0;
		S = q[m].shift > S ? q[m].shift : S;
	}
	if (S - 32 > 21)  /* z_y folded into the rounding term: |hi| + |rnd| < 2^31 */
		return 0;
	for (int64_t m = 0; m < M; m++) {
		int u = S - q[m].shift, room = q[m].shift - 1 - tz((uint32_t)q[m].mult);
		if (u > 15 || bound[m] >= (INT64_C(1) << (31 - u)) || (wmax << u) > 32767 ||
		    (room < 62 && bound[m] >= (INT64_C(1) << room)))
			return 0;
	}
	return S;
}

/* The blob of node n for M channels of weights w' (rows of kw, int8, the
 * sums taken over all of a row) stored as wbytes of wdata; bias (NULL:
 * none). */
static void make_tabs(Cg *c, const Node *n, int64_t M, const int8_t *w, int64_t kw, const void *wdata, int64_t wbytes,
		      const int32_t *bias, Tabs *t)
{
	const Type *tx = cg_ty(c, n->in[0]), *tw = cg_ty(c, n->in[1]), *ty = cg_ty(c, n->out);
	*t = (Tabs){.M = M, .u8 = tx->dt == DT_U8, .zx = tx->q->zero[0], .zy = ty->q->zero[0]};
	cg_int_bounds(n, ty, &t->lo, &t->hi);
	Requant *q = malloc(sizeof *q * (size_t)M);
	int64_t *b = malloc(sizeof *b * (size_t)M), *bound = malloc(sizeof *bound * (size_t)M);
	int wmax = 0;
	if (!q || !b || !bound)
		die("out of memory");
	for (int64_t i = 0; i < M * kw; i++)
		wmax = abs(w[i]) > wmax ? abs(w[i]) : wmax;
	for (int64_t m = 0; m < M; m++) {
		int64_t sum = 0, mag = 0;
		for (int64_t k = 0; k < kw; k++)
			sum += w[m * kw + k], mag += w[m * kw + k] < 0 ? -w[m * kw + k] : w[m * kw + k];
		b[m] = (bias ? bias[m] : 0) - (int64_t)t->zx * sum;
		bound[m] = (b[m] < 0 ? -b[m] : b[m]) + mag * (t->u8 ? 255 : 128);
		q[m] = cg_requant_of(c, n, tx->q->scale[0] * (double)tw->q->scale[tw->q->n > 1 ? m : 0] / ty->q->scale[0]);
	}
	int S = uniform_s(q, bound, M, wmax);
	for (int64_t m = 0; m < M && S; m++) {  /* bias' scaled: it must fit beside the scale */
		int64_t bs = b[m] * (INT64_C(1) << (S - q[m].shift));
		S = bs >= -(1 << 26) && bs < (1 << 26) ? S : 0;
	}
	t->T = S ? S - 32 : 0;
	t->u = S ? 0 : fast_u(q, M);
	t->fast = S || t->u >= 0;
	int up = t->u > 0 ? t->u : 0;  /* (clamp mode: s grows by it) */
	t->fold_zy = t->packed = t->fast;
	for (int64_t m = 0; m < M; m++) {
		/* (int32 arithmetic wraps in the reference too: mod 2^32 is enough) */
		int32_t bs = (int32_t)((uint32_t)b[m] << (S ? S - q[m].shift : 0));
		b[m] = bs;
		t->packed = t->packed && bs >= -(1 << 26) && bs < (1 << 26);
		t->fold_zy = t->fold_zy && (S ? S : q[m].shift + up) - 32 <= 21;  /* |hi| <= 2^30 */
	}
	t->mult_at = 4 * M;
	t->shift_at = 8 * M;
	t->w_at = t->packed ? 8 * M : (9 * M + 3) / 4 * 4;
	size_t bytes = (size_t)(t->w_at + wbytes);
	uint8_t *blob = calloc(1, bytes);
	if (!blob)
		die("out of memory");
	for (int64_t m = 0; m < M; m++) {
		/* uniform: the channel's scale exponent S - s; else t or s */
		int sh = t->T ? S - q[m].shift : t->fast ? q[m].shift + up - 32 : q[m].shift;
		uint32_t word = t->packed ? (uint32_t)b[m] << 5 | (uint32_t)sh : (uint32_t)b[m];
		memcpy(blob + 4 * m, &word, 4);
		memcpy(blob + t->mult_at + 4 * m, &q[m].mult, 4);
		if (!t->packed)
			blob[t->shift_at + m] = (uint8_t)sh;
	}
	memcpy(blob + t->w_at, wdata, (size_t)wbytes);
	t->blob = cg_const_blob(c, "kiln.dsp", blob, bytes);
	LLVMSetAlignment(t->blob, 4);  /* (not 64: the tables are most of a small model's .rodata) */
	free(blob);
	free(q);
	free(b);
	free(bound);
}

/* A channel's requantization operands: bias', multiplier, shift (t when
 * fast, else s) and, when fast, the rounding term rnd = 2^(t-1) + z_y 2^t
 * (z_y folded in: adding a multiple of 2^t before the shift adds z_y
 * after it; fold_zy says it cannot overflow). */
typedef struct Chan {
	LLVMValueRef b, mult, sh, rnd;
	LLVMValueRef e;  /* uniform: the channel's weight scale exponent */
} Chan;

static Chan chan_params(Cg *c, const Tabs *t, LLVMValueRef m)
{
	Chan ch;
	LLVMValueRef m4 = mul(c, m, k32(c, 4));
	ch.b = load(c, c->i32, t->blob, m4, 4);
	ch.mult = load(c, c->i32, t->blob, add(c, m4, k32(c, t->mult_at)), 4);
	ch.e = NULL;
	if (t->packed) {
		ch.sh = cg_and(c, ch.b, k32(c, 31));
		ch.b = LLVMBuildAShr(c->b, ch.b, k32(c, 5), "");
	} else
		ch.sh = LLVMBuildZExt(c->b, load(c, c->i8, t->blob, add(c, m, k32(c, t->shift_at)), 1), c->i32, "");
	ch.rnd = NULL;
	if (t->T) {  /* uniform: an immediate shift, a constant rounding term */
		ch.e = ch.sh;
		ch.sh = k32(c, t->T);
		ch.rnd = k32(c, (1 << (t->T - 1)) + t->zy * (1 << t->T));
	} else if (t->fast) {
		ch.rnd = LLVMBuildShl(c->b, k32(c, 1), LLVMBuildSub(c->b, ch.sh, k32(c, 1), ""), "");
		if (t->fold_zy)
			ch.rnd = add(c, ch.rnd, LLVMBuildShl(c->b, k32(c, t->zy), ch.sh, ""));
	}
	return ch;
}

/* The output integer of acc (ir_requantize's value), as an i8. */
static LLVMValueRef requant(Cg *c, const Tabs *t, LLVMValueRef acc, const Chan *ch)
{
	LLVMValueRef v;
	if (t->fast) {
		if (t->u) {  /* SSAT #(31 - u), then LSL #u */
			LLVMValueRef lim = k32(c, 1 << (30 - t->u)), nlim = k32(c, -(1 << (30 - t->u)));
			acc = cg_sel(c, cg_icmp(c, LLVMIntSLT, acc, nlim), nlim, acc);
			acc = smin(c, acc, LLVMBuildSub(c->b, lim, k32(c, 1), ""));
			acc = LLVMBuildShl(c->b, acc, k32(c, t->u), "");
		}
		/* SMMLA: rnd + the high word of acc * mult */
		LLVMValueRef p = mul(c, LLVMBuildSExt(c->b, acc, c->i64, ""), LLVMBuildSExt(c->b, ch->mult, c->i64, ""));
		LLVMValueRef hi = LLVMBuildTrunc(c->b, LLVMBuildAShr(c->b, p, cg_i64(c, 32), ""), c->i32, "");
		v = LLVMBuildAShr(c->b, add(c, hi, ch->rnd), ch->sh, "");
		if (!t->fold_zy)
			v = add(c, v, k32(c, t->zy));
		LLVMValueRef lo = k32(c, t->lo), hh = k32(c, t->hi);
		v = cg_sel(c, cg_icmp(c, LLVMIntSLT, v, lo), lo, v);
		v = smin(c, v, hh);
	} else
		v = cg_requant(c, acc, ch->mult, ch->sh, k32(c, t->zy), k32(c, t->lo), k32(c, t->hi));
	return LLVMBuildTrunc(c->b, v, c->i8, "");
}

/* w - z_w of weight element i (output channel m) as int8, or false. */
static bool weight_s8(const Type *tw, const void *data, int64_t i, int64_t m, int8_t *out)
{
	int32_t v = tw->dt == DT_I8 ? ((const int8_t *)data)[i] : ((const uint8_t *)data)[i];
	v -= tw->q->zero[tw->q->n > 1 ? m : 0];
	if (v < -128 || v > 127)
		return false;
	*out = (int8_t)v;
	return true;
}

/* ---- the gemm kernel ------------------------------------------------------------------ */

/* How the block's pixels are gathered. */
typedef enum Pack { PACK_ROWS, PACK_PW, PACK_CONV } Pack;

/* One product: P pixels (rows) x M channels (columns) over K, per image
 * of a batch of NB; X(p, k) as pack says; Y(p, m) at
 * img*y_img + p*y_p + m*y_m. */
typedef struct MM {
	Pack pack;
	int64_t NB, P, M, K, Kp, Mc;
	int64_t y_img, y_p, y_m;
	LLVMValueRef X, Y;
	int64_t x_img, x_row;  /* PACK_ROWS: bytes of an image, of a row of A */
	Geo g;                 /* PACK_PW, PACK_CONV */
	Tabs t;
	LLVMValueRef xp, wexp; /* stack: two packed pixels, expanded weights */
} MM;

/* Position of k in its quad's halfword order [k0, k2, k1, k3]. */
static int64_t quad_pos(int64_t k) { return (k & ~3LL) | ((k & 1) << 1) | ((k >> 1) & 1); }

/* Store element k of a packed pixel (dst: its int16 row) from an i32 v. */
static void put_k(Cg *c, LLVMValueRef dst, LLVMValueRef pos, LLVMValueRef v)
{
	store(c, LLVMBuildTrunc(c->b, v, LLVMInt16TypeInContext(c->ctx), ""), dst, mul(c, pos, k32(c, 2)), 2);
}

/* Zero the packed positions of k in [K, Kp). */
static void pad_quads(Cg *c, const MM *q, LLVMValueRef dst)
{
	for (int64_t k = q->K; k < q->Kp; k++)
		put_k(c, dst, k32(c, quad_pos(k)), k32(c, 0));
}

/* The raw x element at byte offset off, as i32. */
static LLVMValueRef x_at(Cg *c, const MM *q, LLVMValueRef base, LLVMValueRef off)
{
	LLVMValueRef v = load(c, c->i8, base, off, 1);
	return q->t.u8 ? LLVMBuildZExt(c->b, v, c->i32, "") : LLVMBuildSExt(c->b, v, c->i32, "");
}

/* A row of A (K contiguous bytes at src) into dst: a word per quad. */
static void pack_row(Cg *c, const MM *q, LLVMValueRef src, LLVMValueRef dst)
{
	int64_t full = q->K / 4;
	if (full) {
		L32 l = {0};
		LLVMValueRef i = l32_begin(c, &l, k32(c, 0), k32(c, full));
		LLVMValueRef w = load(c, c->i32, src, mul(c, i, k32(c, 4)), 1), o = mul(c, i, k32(c, 8));
		store(c, xtb16(c, w, q->t.u8), dst, o, 4);
		store(c, xtb16(c, ror8(c, w), q->t.u8), dst, add(c, o, k32(c, 4)), 4);
		l32_end(c, &l, 1);
	}
	for (int64_t k = full * 4; k < q->K; k++)
		put_k(c, dst, k32(c, quad_pos(k)), x_at(c, q, src, k32(c, k)));
	pad_quads(c, q, dst);
}

/* Pixels p and p + 1 of image img of a pointwise conv (stride 1, no
 * padding, p + 1 < P): per quad of channels, four halfwords of two
 * adjacent pixels; the rest of C one by one. */
static void pack_pw2(Cg *c, const MM *q, LLVMValueRef img, LLVMValueRef p, LLVMValueRef d0, LLVMValueRef d1)
{
	int64_t HW = q->P, full = q->g.C / 4;
	LLVMValueRef base = add(c, mul(c, img, k32(c, q->x_img)), p);
	LLVMTypeRef i16 = LLVMInt16TypeInContext(c->ctx);
	if (full) {
		L32 l = {0};
		LLVMValueRef i = l32_begin(c, &l, k32(c, 0), k32(c, full));
		LLVMValueRef src = add(c, base, mul(c, i, k32(c, 4 * HW))), h[4];
		for (int j = 0; j < 4; j++)
			h[j] = LLVMBuildZExt(c->b, load(c, i16, q->X, add(c, src, k32(c, j * HW)), 1), c->i32, "");
		LLVMValueRef w02 = cg_or(c, h[0], LLVMBuildShl(c->b, h[2], k32(c, 16), ""));
		LLVMValueRef w13 = cg_or(c, h[1], LLVMBuildShl(c->b, h[3], k32(c, 16), ""));
		LLVMValueRef o = mul(c, i, k32(c, 8)), o4 = add(c, o, k32(c, 4));
		store(c, xtb16(c, w02, q->t.u8), d0, o, 4);
		store(c, xtb16(c, w13, q->t.u8), d0, o4, 4);
		store(c, xtb16(c, ror8(c, w02), q->t.u8), d1, o, 4);
		store(c, xtb16(c, ror8(c, w13), q->t.u8), d1, o4, 4);
		l32_end(c, &l, 1);
	}
	for (int64_t k = full * 4; k < q->K; k++) {
		LLVMValueRef src = add(c, base, k32(c, k * HW));
		put_k(c, d0, k32(c, quad_pos(k)), x_at(c, q, q->X, src));
		put_k(c, d1, k32(c, quad_pos(k)), x_at(c, q, q->X, add(c, src, k32(c, 1))));
	}
	pad_quads(c, q, d0);
	pad_quads(c, q, d1);
}

/* Pixel p of image img, tap by tap (any conv; a pointwise conv's odd last
 * pixel): taps outside x read z_x. */
static void pack_taps(Cg *c, const MM *q, LLVMValueRef img, LLVMValueRef p, LLVMValueRef dst)
{
	const Geo *g = &q->g;
	LLVMValueRef oh = LLVMBuildUDiv(c->b, p, k32(c, g->OW), ""), ow = LLVMBuildURem(c->b, p, k32(c, g->OW), "");
	LLVMValueRef ih0 = LLVMBuildSub(c->b, mul(c, oh, k32(c, g->sh)), k32(c, g->ph), "");
	LLVMValueRef iw0 = LLVMBuildSub(c->b, mul(c, ow, k32(c, g->sw)), k32(c, g->pw), "");
	/* a kernel row's taps unrolled: their columns' tests once per pixel */
	LLVMValueRef okw[16];
	bool unroll = g->KW <= 16;
	for (int64_t kw = 0; unroll && kw < g->KW; kw++)
		okw[kw] = LLVMBuildICmp(c->b, LLVMIntULT, add(c, iw0, k32(c, kw * g->dw)), k32(c, g->W), "");
	L32 lc = {0}, lh = {0}, lw = {0};
	LLVMValueRef ch = l32_begin(c, &lc, k32(c, 0), k32(c, g->C));
	LLVMValueRef kh = l32_begin(c, &lh, k32(c, 0), k32(c, g->KH));
	LLVMValueRef k0 = mul(c, add(c, mul(c, ch, k32(c, g->KH)), kh), k32(c, g->KW));
	LLVMValueRef ih = add(c, ih0, mul(c, kh, k32(c, g->dh)));
	LLVMValueRef okh = LLVMBuildICmp(c->b, LLVMIntULT, ih, k32(c, g->H), "");
	LLVMValueRef row = add(c, add(c, mul(c, img, k32(c, q->x_img)), mul(c, ch, k32(c, g->H * g->W))),
			       add(c, mul(c, ih, k32(c, g->W)), iw0));
	for (int64_t t = 0; t < (unroll ? g->KW : 1); t++) {
		LLVMValueRef kw = unroll ? k32(c, t) : l32_begin(c, &lw, k32(c, 0), k32(c, g->KW));
		LLVMValueRef ok = cg_and(c, okh, unroll ? okw[t] : LLVMBuildICmp(c->b, LLVMIntULT, add(c, iw0, mul(c, kw, k32(c, g->dw))), k32(c, g->W), ""));
		LLVMValueRef off = cg_sel(c, ok, add(c, row, mul(c, kw, k32(c, g->dw))), k32(c, 0));
		LLVMValueRef v = cg_sel(c, ok, x_at(c, q, q->X, off), k32(c, q->t.zx));
		/* quad_pos(k0 + kw): a constant offset when KW is a multiple of 4 */
		LLVMValueRef pos;
		if (unroll && g->KW % 4 == 0)
			pos = add(c, k0, k32(c, quad_pos(t)));
		else {
			LLVMValueRef k = add(c, k0, kw);
			pos = cg_or(c, cg_and(c, k, k32(c, ~3)),
				    cg_or(c, LLVMBuildShl(c->b, cg_and(c, k, k32(c, 1)), k32(c, 1), ""),
					  cg_and(c, LLVMBuildLShr(c->b, k, k32(c, 1), ""), k32(c, 1))));
		}
		put_k(c, dst, pos, v);
		if (!unroll)
			l32_end(c, &lw, 1);
	}
	l32_end(c, &lh, 1);
	l32_end(c, &lc, 1);
	pad_quads(c, q, dst);
}

/* Pack pixels p and p1 (p1 == p: the odd last one, twice) of image img into xp. */
static void pack_pair(Cg *c, const MM *q, LLVMValueRef img, LLVMValueRef p, LLVMValueRef p1, bool odd)
{
	LLVMValueRef d0 = q->xp, d1 = at(c, q->xp, k32(c, 2 * q->Kp));
	if (q->pack == PACK_ROWS) {
		LLVMValueRef row = add(c, mul(c, img, k32(c, q->x_img)), mul(c, p, k32(c, q->x_row)));
		pack_row(c, q, at(c, q->X, row), d0);
		pack_row(c, q, at(c, q->X, odd ? row : add(c, row, k32(c, q->x_row))), d1);
	} else if (q->pack == PACK_PW && !odd)
		pack_pw2(c, q, img, p, d0, d1);
	else {
		pack_taps(c, q, img, p, d0);
		pack_taps(c, q, img, p1, d1);
	}
}

/* The halfword pairs of a quad at base + off (off a multiple of 4 below
 * 1024): one LDRD, as volatile inline assembly.  LLVM splits an i64 load
 * into two LDR when its loop strength reduction picks register offsets,
 * and hoists loads of the packed pixels out of the channel loop (then
 * spills them); a volatile asm is neither split nor hoisted. */
static void load_quad(Cg *c, LLVMValueRef base, int off, LLVMValueRef *v)
{
	char text[48];
	snprintf(text, sizeof text, "ldrd $0, $1, [$2, #%d]", off);
	LLVMTypeRef pair = LLVMStructTypeInContext(c->ctx, (LLVMTypeRef[]){c->i32, c->i32}, 2, 0);
	LLVMTypeRef ft = LLVMFunctionType(pair, (LLVMTypeRef[]){c->ptr}, 1, 0);
	static const char cons[] = "=&r,=&r,r,~{memory}";
	LLVMValueRef fn = LLVMGetInlineAsm(ft, text, strlen(text), cons, strlen(cons), 1, 0, LLVMInlineAsmDialectATT, 0);
	LLVMValueRef r = LLVMBuildCall2(c->b, ft, fn, &base, 1, "");
	v[0] = LLVMBuildExtractValue(c->b, r, 0, "");
	v[1] = LLVMBuildExtractValue(c->b, r, 1, "");
}

/* Quads [0, n) from the pointers x0, x1 (the two packed pixels) and wa,
 * wb (the two weight rows), or with row2 > 0 from x0 and wa alone, the
 * second rows row2 bytes after the first (two registers fewer): 4 LDRD
 * and 8 SMLAD each. */
static void quads(Cg *c, LLVMValueRef *p, int row2, int n, LLVMValueRef *acc)
{
	for (int s = 0; s < n; s++) {
		LLVMValueRef xa[2], xb[2], wa[2], wb[2];
		load_quad(c, p[2], 8 * s, wa);
		load_quad(c, p[0], 8 * s, xa);
		load_quad(c, p[row2 ? 0 : 1], 8 * s + row2, xb);
		load_quad(c, p[row2 ? 2 : 3], 8 * s + row2, wb);
		for (int h = 0; h < 2; h++) {
			acc[0] = smlad(c, xa[h], wa[h], acc[0]);
			acc[1] = smlad(c, xb[h], wa[h], acc[1]);
			acc[2] = smlad(c, xa[h], wb[h], acc[2]);
			acc[3] = smlad(c, xb[h], wb[h], acc[3]);
		}
	}
}

/* The four products of the packed pixels (xp rows 0 and 1) and the
 * expanded weight rows at w and w + 2 Kp, each accumulated from acc[]:
 * all quads unrolled when there are at most DSP_UNROLL of them, else a
 * loop of DSP_STEP quads a step on pointers, the rest after it. */
#define DSP_UNROLL 32
#define DSP_STEP 4
static void block(Cg *c, const MM *q, LLVMValueRef w, LLVMValueRef *acc)
{
	int64_t nq = q->Kp / 4, steps = nq <= DSP_UNROLL ? 0 : nq / DSP_STEP;
	LLVMValueRef p[4] = {q->xp, at(c, q->xp, k32(c, 2 * q->Kp)), w, at(c, w, k32(c, 2 * q->Kp))};
	if (steps) {
		LLVMBasicBlockRef pre = LLVMGetInsertBlock(c->b);
		LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "dsp.k");
		LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "dsp.k.done");
		LLVMBuildBr(c->b, body);
		LLVMPositionBuilderAtEnd(c->b, body);
		LLVMValueRef i = LLVMBuildPhi(c->b, c->i32, ""), ph[8], a[8];
		for (int j = 0; j < 8; j++)
			ph[j] = a[j] = LLVMBuildPhi(c->b, j < 4 ? c->ptr : c->i32, "");
		quads(c, a, 0, DSP_STEP, a + 4);
		for (int j = 0; j < 4; j++)
			a[j] = at(c, ph[j], k32(c, 8 * DSP_STEP));
		LLVMValueRef in = LLVMBuildNSWAdd(c->b, i, k32(c, 1), "");
		LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, in, k32(c, steps), ""), body, done);
		LLVMBasicBlockRef from[2] = {pre, body};
		LLVMAddIncoming(i, (LLVMValueRef[]){k32(c, 0), in}, from, 2);
		for (int j = 0; j < 8; j++)
			LLVMAddIncoming(ph[j], (LLVMValueRef[]){j < 4 ? p[j] : acc[j - 4], a[j]}, from, 2);
		LLVMPositionBuilderAtEnd(c->b, done);
		for (int j = 0; j < 4; j++)
			p[j] = a[j], acc[j] = a[4 + j];
	}
	/* (unrolled: every offset fits LDRD's 1020, 2 Kp + 8 (nq - 1) <= 504) */
	quads(c, p, steps ? 0 : (int)(2 * q->Kp), (int)(nq - steps * DSP_STEP), acc);
}

/* Every channel pair of the chunk [m0, m0 + mc) for the packed pixels p, p1. */
static void chan_pairs(Cg *c, const MM *q, LLVMValueRef img, LLVMValueRef m0, LLVMValueRef mc, LLVMValueRef p,
		       LLVMValueRef p1)
{
	L32 l = {0};
	LLVMValueRef npairs = LLVMBuildLShr(c->b, add(c, mc, k32(c, 1)), k32(c, 1), "");
	LLVMValueRef r = mul(c, l32_begin(c, &l, k32(c, 0), npairs), k32(c, 2));
	LLVMValueRef r1 = smin(c, add(c, r, k32(c, 1)), LLVMBuildSub(c->b, mc, k32(c, 1), ""));
	LLVMValueRef m[2] = {add(c, m0, r), add(c, m0, r1)};
	Chan ch[2] = {chan_params(c, &q->t, m[0]), chan_params(c, &q->t, m[1])};
	LLVMValueRef acc[4] = {ch[0].b, ch[0].b, ch[1].b, ch[1].b};
	block(c, q, at(c, q->wexp, mul(c, r, k32(c, 2 * q->Kp))), acc);
	LLVMValueRef px[2] = {p, p1}, ybase = mul(c, img, k32(c, q->y_img));
	for (int i = 0; i < 4; i++) {
		LLVMValueRef off = add(c, ybase, add(c, mul(c, px[i & 1], k32(c, q->y_p)), mul(c, m[i >> 1], k32(c, q->y_m))));
		store(c, requant(c, &q->t, acc[i], &ch[i >> 1]), q->Y, off, 1);
	}
	l32_end(c, &l, 1);
}

/* A halfword pair times 2^e (each half stays in int16: checked). */
static LLVMValueRef scale_pair(Cg *c, LLVMValueRef v, LLVMValueRef e)
{
	LLVMValueRef hi = LLVMBuildShl(c->b, cg_and(c, v, k32(c, (int32_t)0xFFFF0000u)), e, "");
	return cg_or(c, hi, cg_and(c, LLVMBuildShl(c->b, v, e, ""), k32(c, 0xFFFF)));
}

/* Expand the weight rows [m0, m0 + mc) to int16 quads in wexp (uniform
 * requantization: each row scaled by its channel's 2^e), and row
 * m0 + mc - 1 once more after them when mc is odd (channel pairs read
 * two adjacent rows). */
static void expand(Cg *c, const MM *q, LLVMValueRef m0, LLVMValueRef mc)
{
	L32 lr = {0}, lq = {0};
	LLVMValueRef rows = add(c, mc, cg_and(c, mc, k32(c, 1))), nq = k32(c, q->Kp / 4);
	LLVMValueRef r = l32_begin(c, &lr, k32(c, 0), rows);
	LLVMValueRef m = add(c, m0, smin(c, r, LLVMBuildSub(c->b, mc, k32(c, 1), "")));  /* the duplicate: row mc - 1 */
	LLVMValueRef e = q->t.T ? cg_and(c, load(c, c->i32, q->t.blob, mul(c, m, k32(c, 4)), 4), k32(c, 31)) : NULL;
	LLVMValueRef i = l32_begin(c, &lq, k32(c, 0), nq);
	LLVMValueRef w = load(c, c->i32, q->t.blob, add(c, k32(c, q->t.w_at), mul(c, add(c, mul(c, m, nq), i), k32(c, 4))), 4);
	LLVMValueRef o = mul(c, add(c, mul(c, r, nq), i), k32(c, 8));
	LLVMValueRef v[2] = {xtb16(c, w, false), xtb16(c, ror8(c, w), false)};
	for (int j = 0; j < 2; j++)
		store(c, e ? scale_pair(c, v[j], e) : v[j], q->wexp, add(c, o, k32(c, 4 * j)), 4);
	l32_end(c, &lq, 1);
	l32_end(c, &lr, 1);
}

static void emit_mm(Cg *c, MM *q)
{
	q->xp = stack_bytes(c, 4 * q->Kp);
	q->wexp = stack_bytes(c, 2 * q->Kp * (q->Mc + 1));
	L32 lm = {0}, li = {0}, lp = {0};
	LLVMValueRef m0 = l32_begin(c, &lm, k32(c, 0), k32(c, q->M));
	LLVMValueRef mc = smin(c, k32(c, q->Mc), LLVMBuildSub(c->b, k32(c, q->M), m0, ""));
	expand(c, q, m0, mc);
	LLVMValueRef img = l32_begin(c, &li, k32(c, 0), k32(c, q->NB));
	if (q->P / 2) {
		LLVMValueRef p = mul(c, l32_begin(c, &lp, k32(c, 0), k32(c, q->P / 2)), k32(c, 2));
		LLVMValueRef p1 = add(c, p, k32(c, 1));
		pack_pair(c, q, img, p, p1, false);
		chan_pairs(c, q, img, m0, mc, p, p1);
		l32_end(c, &lp, 1);
	}
	if (q->P % 2) {
		LLVMValueRef p = k32(c, q->P - 1);
		pack_pair(c, q, img, p, p, true);
		chan_pairs(c, q, img, m0, mc, p, p);
	}
	l32_end(c, &li, 1);
	l32_end(c, &lm, (int)q->Mc);
}

/* Weights w'[m][k] (k < K, row-major as get(m, k) gives the flat index)
 * into rows of Kp, the tables with them; false if a weight does not fit. */
static bool mm_setup(Cg *c, const Node *n, MM *q, const void *wdata, int64_t wm, int64_t wk, const int32_t *bias)
{
	const Type *tw = cg_ty(c, n->in[1]);
	q->Kp = (q->K + 3) / 4 * 4;
	if (q->Kp > DSP_MAX_KP)
		return false;
	int8_t *w = calloc((size_t)(q->M * q->Kp), 1);
	if (!w)
		die("out of memory");
	for (int64_t m = 0; m < q->M; m++)
		for (int64_t k = 0; k < q->K; k++)
			if (!weight_s8(tw, wdata, m * wm + k * wk, m, &w[m * q->Kp + k])) {
				free(w);
				return false;
			}
	make_tabs(c, n, q->M, w, q->Kp, w, q->M * q->Kp, bias, &q->t);
	free(w);
	int64_t mc = DSP_WEXP / (2 * q->Kp) / 2 * 2;
	q->Mc = mc < 2 ? 2 : mc > q->M ? q->M : mc;
	return true;
}

/* ---- the depthwise kernel ------------------------------------------------------------- */

static void emit_dw(Cg *c, const Node *n, const Geo *g, const Tabs *t)
{
	int64_t Hp = g->H + g->ph + g->pe_h, Wr = (g->OW + 3 + 3) / 4 * 4, KH = g->KH;
	LLVMValueRef buf = stack_bytes(c, Hp * Wr + 4), X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out);
	/* borders of z_x, once: each channel rewrites the same interior */
	uint32_t z4 = (uint8_t)t->zx * 0x01010101u;
	L32 lf = {0};
	LLVMValueRef f = l32_begin(c, &lf, k32(c, 0), k32(c, (Hp * Wr + 4) / 4));
	LLVMValueRef st = LLVMBuildStore(c->b, k32(c, (int32_t)z4), at(c, buf, mul(c, f, k32(c, 4))));
	LLVMSetAlignment(st, 4);
	LLVMSetVolatile(st, 1);  /* not a memset call: the object links with nothing */
	l32_end(c, &lf, 1);
	L32 lc = {0}, lr = {0}, lo = {0}, lg = {0};
	LLVMValueRef pl = l32_begin(c, &lc, k32(c, 0), k32(c, g->N * g->C));  /* plane: image * C + channel */
	LLVMValueRef ch = LLVMBuildURem(c->b, pl, k32(c, g->C), "");
	/* the plane's rows into the buffer: words, then bytes */
	LLVMValueRef ih = l32_begin(c, &lr, k32(c, 0), k32(c, g->H));
	LLVMValueRef src = add(c, mul(c, pl, k32(c, g->H * g->W)), mul(c, ih, k32(c, g->W)));
	LLVMValueRef dst = add(c, mul(c, add(c, ih, k32(c, g->ph)), k32(c, Wr)), k32(c, g->pw));
	for (int64_t j = 0; j + 4 <= g->W; j += 4)
		store(c, load(c, c->i32, X, add(c, src, k32(c, j)), 1), buf, add(c, dst, k32(c, j)), 1);
	for (int64_t j = g->W / 4 * 4; j < g->W; j++)
		store(c, load(c, c->i8, X, add(c, src, k32(c, j)), 1), buf, add(c, dst, k32(c, j)), 1);
	l32_end(c, &lr, 1);
	Chan cp = chan_params(c, t, ch);
	/* the channel's weights: [w0, w2] and w1 per kernel row */
	LLVMValueRef w02[16], w1[16];
	for (int64_t kh = 0; kh < KH; kh++) {
		LLVMValueRef wv[3];
		for (int j = 0; j < 3; j++) {
			wv[j] = LLVMBuildSExt(c->b, load(c, c->i8, t->blob, add(c, k32(c, t->w_at + kh * 3 + j), mul(c, ch, k32(c, 3 * KH))), 1), c->i32, "");
			if (cp.e)  /* uniform requantization: scaled by 2^e */
				wv[j] = LLVMBuildShl(c->b, wv[j], cp.e, "");
		}
		w02[kh] = cg_or(c, cg_and(c, wv[0], k32(c, 0xFFFF)), LLVMBuildShl(c->b, wv[2], k32(c, 16), ""));
		w1[kh] = wv[1];
	}
	LLVMValueRef oh = l32_begin(c, &lo, k32(c, 0), k32(c, g->OH));
	LLVMValueRef row = mul(c, oh, k32(c, g->sh * Wr)), yrow = mul(c, add(c, mul(c, pl, k32(c, g->OH)), oh), k32(c, g->OW));
	for (int tail = 0; tail < 2; tail++) {
		LLVMValueRef col;
		if (!tail) {
			if (g->OW < 2)
				continue;
			col = mul(c, l32_begin(c, &lg, k32(c, 0), k32(c, g->OW / 2)), k32(c, 2));
		} else {
			if (g->OW % 2 == 0)
				break;
			col = k32(c, g->OW - 1);
		}
		LLVMValueRef a0 = cp.b, a1 = cp.b;
		for (int64_t kh = 0; kh < KH; kh++) {
			LLVMValueRef w = load(c, c->i32, buf, add(c, add(c, row, k32(c, kh * g->dh * Wr)), col), 1);
			LLVMValueRef E = xtb16(c, w, t->u8), O = xtb16(c, ror8(c, w), t->u8);
			a0 = smlad(c, E, w02[kh], a0);
			a0 = arm(c, "llvm.arm.smlabb", (LLVMValueRef[]){O, w1[kh], a0}, 3);
			a1 = smlad(c, O, w02[kh], a1);
			a1 = arm(c, "llvm.arm.smlatb", (LLVMValueRef[]){E, w1[kh], a1}, 3);
		}
		store(c, requant(c, t, a0, &cp), Y, add(c, yrow, col), 1);
		if (!tail) {
			store(c, requant(c, t, a1, &cp), Y, add(c, yrow, add(c, col, k32(c, 1))), 1);
			l32_end(c, &lg, 1);
		}
	}
	l32_end(c, &lo, 1);
	l32_end(c, &lc, 1);
}

/* ---- entries -------------------------------------------------------------------------- */

/* x, w and y as the kernels take them: 8-bit, w constant, a constant i32
 * bias or none; the result's dtype 8-bit. */
static bool operands_fit(Cg *c, const Node *n)
{
	const Type *tx = cg_ty(c, n->in[0]), *tw = cg_ty(c, n->in[1]), *ty = cg_ty(c, n->out);
	if ((tx->dt != DT_I8 && tx->dt != DT_U8) || (tw->dt != DT_I8 && tw->dt != DT_U8) ||
	    (ty->dt != DT_I8 && ty->dt != DT_U8) || tx->block || ty->block)
		return false;
	if (ir_value(c->g, n->in[1])->kind != VAL_CONST)
		return false;
	if (n->nin > 2 && n->in[2] >= 0 && ir_value(c->g, n->in[2])->kind != VAL_CONST)
		return false;
	return !(n->nin > 3 && n->in[3] >= 0);
}

bool cg_int_conv_dsp(Cg *c, const Node *n)
{
	if (!dsp_target(c) || !operands_fit(c, n))
		return false;
	const Type *tx = cg_ty(c, n->in[0]), *tw = cg_ty(c, n->in[1]);
	if (tx->rank != 3 && tx->rank != 4)
		return false;
	Geo g = cg_geometry(c, n, true);
	const void *wd = ir_value(c->g, n->in[1])->data;
	const int32_t *bias = n->nin > 2 && n->in[2] >= 0 ? ir_value(c->g, n->in[2])->data : NULL;
	int64_t T = g.KH * g.KW;
	if (g.group == g.C && g.M == g.C && g.KW == 3 && g.sw == 1 && g.dw == 1 && g.KH <= 16) {
		int64_t Wr = (g.OW + 6) / 4 * 4;
		if ((g.H + g.ph + g.pe_h) * Wr + 4 > DSP_DW_PLANE)
			return false;
		int8_t *w = malloc((size_t)(g.M * T));
		if (!w)
			die("out of memory");
		for (int64_t i = 0; i < g.M * T; i++)
			if (!weight_s8(tw, wd, i, i / T, &w[i])) {
				free(w);
				return false;
			}
		Tabs t;
		make_tabs(c, n, g.M, w, T, w, g.M * T, bias, &t);
		free(w);
		emit_dw(c, n, &g, &t);
		return true;
	}
	if (g.group != 1)
		return false;
	bool pw = T == 1 && g.sh == 1 && g.sw == 1 && !g.ph && !g.pw && !g.pe_h && !g.pe_w;
	MM q = {.pack = pw ? PACK_PW : PACK_CONV, .NB = g.N, .P = g.OH * g.OW, .M = g.M, .K = g.C * T,
		.y_img = g.M * g.OH * g.OW, .y_p = 1, .y_m = g.OH * g.OW, .X = cg_buf(c, n->in[0]),
		.Y = cg_buf(c, n->out), .x_img = g.C * g.H * g.W, .g = g};
	if (!mm_setup(c, n, &q, wd, q.K, 1, bias))
		return false;
	emit_mm(c, &q);
	return true;
}

/* gemm (A not transposed, C a constant row or none) and matmul (B
 * constant of rank <= 2, A not transposed): rows of A are the pixels. */
bool cg_int_matmul_dsp(Cg *c, const Node *n)
{
	if (!dsp_target(c) || !operands_fit(c, n) || ir_attr_int(n, "trans_a", 0))
		return false;
	const Type *ta = cg_ty(c, n->in[0]), *tb = cg_ty(c, n->in[1]), *ty = cg_ty(c, n->out);
	bool tB = ir_attr_int(n, "trans_b", 0);
	int64_t K, N, rows;
	int32_t *cb = NULL;
	if (n->op == OP_GEMM) {
		K = ta->dims[1], N = ty->dims[1], rows = ty->dims[0];
		if (n->nin > 2 && n->in[2] >= 0) {
			const Type *tc = cg_ty(c, n->in[2]);
			int64_t last = tc->rank ? tc->dims[tc->rank - 1] : 1;
			if (tc->rank == 2 && tc->dims[0] != 1)
				return false;
			cb = malloc(sizeof *cb * (size_t)N);
			if (!cb)
				die("out of memory");
			for (int64_t j = 0; j < N; j++)
				cb[j] = ((const int32_t *)ir_value(c->g, n->in[2])->data)[last == 1 ? 0 : j];
		}
	} else {
		if (tb->rank > 2)
			return false;
		K = ta->dims[ta->rank - 1], N = tb->rank == 2 ? tb->dims[tB ? 0 : 1] : 1;
		rows = ir_type_numel(ta) / K;
	}
	/* b's element (k, n) at k*b_k + n*b_n; the tables want rows of n */
	int64_t b_k = tb->rank == 2 && !tB ? N : 1, b_n = tB ? K : 1;
	MM q = {.pack = PACK_ROWS, .NB = 1, .P = rows, .M = N, .K = K, .y_img = 0, .y_p = N, .y_m = 1,
		.X = cg_buf(c, n->in[0]), .Y = cg_buf(c, n->out), .x_img = 0, .x_row = K};
	bool ok = mm_setup(c, n, &q, ir_value(c->g, n->in[1])->data, b_n, b_k, cb);
	free(cb);
	if (ok)
		emit_mm(c, &q);
	return ok;
}
