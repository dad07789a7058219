/* Quantization at the edges of the integer path: quantize (float in, or a
 * requantization of integers), dequantize, the 8-bit table lookup, and the
 * one rescale every integer lowering shares (cg_requant, ir/requant.c's
 * arithmetic bit for bit).  Plain loops over (outer, channel, inner): the
 * per-axis scales are tables indexed by the channel. */
#include <math.h>
#include <stdlib.h>

#include "cg_internal.h"

/* ---- the rescale ----------------------------------------------------------------------- */

/* sext/trunc a scalar or vector integer to the i64 lanes of like. */
static LLVMValueRef to_i64(Cg *c, LLVMValueRef v, LLVMValueRef like)
{
	LLVMTypeRef t = LLVMTypeOf(like);
	LLVMTypeRef w = LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMVectorType(c->i64, LLVMGetVectorSize(t)) : c->i64;
	return LLVMBuildSExt(c->b, v, w, "");
}

LLVMValueRef cg_requant(Cg *c, LLVMValueRef acc, LLVMValueRef mult, LLVMValueRef shift, LLVMValueRef zero,
			LLVMValueRef lo, LLVMValueRef hi)
{
	/* round_half_even(p / 2^s) = (p + 2^(s-1) - 1 + ((p >> s) & 1)) >> s
	 * (arithmetic shifts; |p| < 2^62 so the sum does not overflow). */
	LLVMValueRef p = LLVMBuildMul(c->b, to_i64(c, acc, acc), to_i64(c, mult, acc), "");
	LLVMValueRef s = to_i64(c, shift, acc);
	LLVMValueRef one = cg_splat_const(LLVMConstInt(c->i64, 1, 0), LLVMTypeOf(p));
	LLVMValueRef odd = LLVMBuildAnd(c->b, LLVMBuildAShr(c->b, p, s, ""), one, "");
	LLVMValueRef half = LLVMBuildSub(c->b, LLVMBuildShl(c->b, one, LLVMBuildSub(c->b, s, one, ""), ""), one, "");
	LLVMValueRef v = LLVMBuildAShr(c->b, LLVMBuildAdd(c->b, p, LLVMBuildAdd(c->b, half, odd, ""), ""), s, "");
	v = LLVMBuildAdd(c->b, v, to_i64(c, zero, acc), "");
	LLVMValueRef l = to_i64(c, lo, acc), h = to_i64(c, hi, acc);
	v = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, v, l, ""), l, v, "");
	v = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSGT, v, h, ""), h, v, "");
	return LLVMBuildTrunc(c->b, v, LLVMTypeOf(acc), "");
}

Requant cg_requant_of(Cg *c, const Node *n, double r)
{
	Requant q;
	if (!ir_requant_of(r, &q))
		die("node '%s': requantization multiplier %g out of range (the shape rules admit only scales whose "
		    "ratio fits)", n->name, r);
	if (!q.mult)
		q.shift = 1;  /* 0 * anything: the rounding formula needs shift >= 1 */
	return q;
}

void cg_qrange(DType dt, int32_t *lo, int32_t *hi)
{
	switch (dt) {
	case DT_I8: *lo = -128, *hi = 127; break;
	case DT_U8: *lo = 0, *hi = 255; break;
	case DT_I16: *lo = -32768, *hi = 32767; break;
	case DT_U16: *lo = 0, *hi = 65535; break;
	case DT_I32: *lo = INT32_MIN, *hi = INT32_MAX; break;
	default: die("not an integer quantized dtype: %s", ir_dtype_name(dt));
	}
}

/* A bound of a fused clip in the result's integers: quantize(v) as ONNX's
 * QuantizeLinear computes it, round_half_even(v / s_y) + z_y (an f32
 * division), saturated to [lo, hi].  Quantizing is monotone, so clamping
 * the integers to [quantize(min), quantize(max)] equals clipping the reals
 * and then quantizing them. */
static int32_t quantize_bound(double v, const Quant *q, int32_t lo, int32_t hi)
{
	double r = (double)nearbyintf((float)v / q->scale[0]) + q->zero[0];
	return r < lo ? lo : r > hi ? hi : (int32_t)r;
}

/* The result dtype's range narrowed by n's fused activation: relu is clip
 * at [0, inf); a bound at +-inf (or NaN) is none; min > max gives max, as
 * Clip does (min(max(x, min), max)). */
void cg_int_bounds(const Node *n, const Type *ty, int32_t *lo, int32_t *hi)
{
	cg_qrange(ty->dt, lo, hi);
	Act a = ir_act_of_epilogue(n);
	double amin = a.k == ACT_RELU ? 0 : a.k == ACT_CLIP ? a.p[0] : -INFINITY;
	double amax = a.k == ACT_CLIP ? a.p[1] : INFINITY;
	if (amax < INFINITY)
		*hi = quantize_bound(amax, ty->q, *lo, *hi);
	if (amin > -INFINITY)
		*lo = quantize_bound(amin, ty->q, *lo, *hi);
}

LLVMValueRef cg_load_i32(Cg *c, DType dt, LLVMValueRef base, LLVMValueRef i)
{
	LLVMValueRef v = cg_load(c, cg_bits_type(c, dt), base, i);
	if (dt == DT_I32)
		return v;
	return ir_dtype_is_signed(dt) ? LLVMBuildSExt(c->b, v, c->i32, "") : LLVMBuildZExt(c->b, v, c->i32, "");
}

/* A module-wide i32 table. */
static LLVMValueRef i32_table(Cg *c, const char *name, const int32_t *v, int n)
{
	return cg_const_blob(c, name, v, (size_t)n * sizeof *v);
}

/* ---- quantize, dequantize ------------------------------------------------------------- */

/* outer x channels x inner around the quantization axis of t (channels 1
 * when per tensor). */
static void around_axis(const Type *t, int axis, int64_t *outer, int64_t *ch, int64_t *inner)
{
	*outer = *ch = *inner = 1;
	for (int i = 0; i < t->rank; i++) {
		if (axis < 0 || i > axis)
			*inner *= t->dims[i];
		else if (i < axis)
			*outer *= t->dims[i];
		else
			*ch = t->dims[i];
	}
}

/* The loops of a per-channel op: yields the linear index and the channel. */
typedef struct ChanLoops {
	Loop o, k, i;
} ChanLoops;

static LLVMValueRef chan_begin(Cg *c, ChanLoops *l, const Type *t, int axis, LLVMValueRef *chan)
{
	int64_t outer, ch, inner;
	around_axis(t, axis, &outer, &ch, &inner);
	LLVMValueRef o = cg_loop_begin(c, &l->o, cg_i64(c, 0), cg_i64(c, outer));
	*chan = cg_loop_begin(c, &l->k, cg_i64(c, 0), cg_i64(c, ch));
	LLVMValueRef i = cg_loop_begin(c, &l->i, cg_i64(c, 0), cg_i64(c, inner));
	return cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, o, cg_i64(c, ch)), *chan), cg_i64(c, inner)), i);
}

static void chan_end(Cg *c, ChanLoops *l)
{
	cg_loop_end(c, &l->i, 1);
	cg_loop_end(c, &l->k, 1);
	cg_loop_end(c, &l->o, 1);
}

/* The channel's entry of a table of n (a constant when n == 1). */
static LLVMValueRef table_at(Cg *c, LLVMTypeRef t, LLVMValueRef tab, int n, LLVMValueRef chan, LLVMValueRef one)
{
	return n == 1 ? one : cg_load(c, t, tab, chan);
}

/* Loops over t's elements (chan_begin) with the scale (f32) and zero
 * point (i32) of q at each one. */
static LLVMValueRef quant_loops(Cg *c, ChanLoops *l, const Type *t, const Quant *q, LLVMValueRef *s, LLVMValueRef *z)
{
	LLVMValueRef S = cg_const_blob(c, "qscale", q->scale, (size_t)q->n * sizeof *q->scale);
	LLVMValueRef Z = i32_table(c, "qzero", q->zero, q->n), chan;
	LLVMValueRef i = chan_begin(c, l, t, q->axis, &chan);
	*s = table_at(c, c->f32, S, q->n, chan, cg_f32(c, q->scale[0]));
	*z = table_at(c, c->i32, Z, q->n, chan, LLVMConstInt(c->i32, (uint64_t)q->zero[0], 1));
	return i;
}

/* f32 x -> saturate(round_half_even(x / s) + z), as ONNX's QuantizeLinear
 * computes it (an f32 division, then rounding). */
static void quantize_float(Cg *c, const Node *n)
{
	const Type *tx = cg_ty(c, n->in[0]), *ty = cg_ty(c, n->out);
	const Quant *q = ty->q;
	int32_t lo, hi;
	cg_qrange(ty->dt, &lo, &hi);
	LLVMValueRef X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out), s, z;
	ChanLoops l;
	LLVMValueRef i = quant_loops(c, &l, tx, q, &s, &z);
	LLVMValueRef v = cg_round_even(c, LLVMBuildFDiv(c->b, cg_loadf(c, X, i), s, ""));
	/* Saturate in float first: NaN and values past the int32 range. */
	v = cg_fmax(c, cg_fmin(c, v, cg_f32(c, 2147483520.0)), cg_f32(c, -2147483648.0));  /* the f32 below 2^31 */
	LLVMValueRef isnan = LLVMBuildFCmp(c->b, LLVMRealUNO, v, v, "");
	/* to i32, then i64 for the zero point (an f32 -> i64 conversion is a
	 * library call on 32-bit cores) */
	LLVMValueRef k = LLVMBuildFPToSI(c->b, LLVMBuildSelect(c->b, isnan, cg_f32(c, 0), v, ""), c->i32, "");
	k = LLVMBuildAdd(c->b, LLVMBuildSExt(c->b, k, c->i64, ""), LLVMBuildSExt(c->b, z, c->i64, ""), "");
	LLVMValueRef l64 = cg_i64(c, lo), h64 = cg_i64(c, hi);
	k = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, k, l64, ""), l64, k, "");
	k = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSGT, k, h64, ""), h64, k, "");
	cg_store(c, cg_bits_type(c, ty->dt), LLVMBuildTrunc(c->b, k, cg_bits_type(c, ty->dt), ""), Y, i);
	chan_end(c, &l);
}

/* quantized x -> y at y's scale and zero: (x - z_x) rescaled by s_x / s_y,
 * integer only.  Per axis on either side (the same axis when both are). */
static void requantize(Cg *c, const Node *n)
{
	const Type *tx = cg_ty(c, n->in[0]), *ty = cg_ty(c, n->out);
	const Quant *qx = tx->q, *qy = ty->q;
	int axis = qx->axis >= 0 ? qx->axis : qy->axis, nch = qx->n > qy->n ? qx->n : qy->n;
	int32_t *m = malloc(sizeof(int32_t) * 3 * (size_t)nch), lo, hi;
	if (!m)
		die("out of memory");
	for (int k = 0; k < nch; k++) {
		double sx = qx->scale[qx->n > 1 ? k : 0], sy = qy->scale[qy->n > 1 ? k : 0];
		Requant r = cg_requant_of(c, n, sx / sy);
		m[k] = r.mult, m[nch + k] = r.shift, m[2 * nch + k] = qx->zero[qx->n > 1 ? k : 0];
	}
	cg_qrange(ty->dt, &lo, &hi);
	LLVMValueRef T = i32_table(c, "requant", m, 3 * nch);
	LLVMValueRef X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out), chan;
	ChanLoops l;
	LLVMValueRef i = chan_begin(c, &l, tx, nch > 1 ? axis : -1, &chan);
	LLVMValueRef k = nch > 1 ? chan : cg_i64(c, 0);
	LLVMValueRef mult = cg_load(c, c->i32, T, k), sh = cg_load(c, c->i32, T, cg_add(c, k, cg_i64(c, nch)));
	LLVMValueRef zx = cg_load(c, c->i32, T, cg_add(c, k, cg_i64(c, 2 * nch)));
	LLVMValueRef zy = table_at(c, c->i32, i32_table(c, "qzero", qy->zero, qy->n), qy->n, chan,
				   LLVMConstInt(c->i32, (uint64_t)qy->zero[0], 1));
	/* x - z_x in 64 bits: an i32 x may span the whole range. */
	LLVMValueRef x = LLVMBuildSub(c->b, LLVMBuildSExt(c->b, cg_load_i32(c, tx->dt, X, i), c->i64, ""),
				      LLVMBuildSExt(c->b, zx, c->i64, ""), "");
	x = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSGT, x, cg_i64(c, INT32_MAX), ""), cg_i64(c, INT32_MAX), x, "");
	x = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, x, cg_i64(c, INT32_MIN), ""), cg_i64(c, INT32_MIN), x, "");
	x = LLVMBuildTrunc(c->b, x, c->i32, "");
	LLVMValueRef v = cg_requant(c, x, mult, sh, zy, LLVMConstInt(c->i32, (uint64_t)lo, 1), LLVMConstInt(c->i32, (uint64_t)hi, 1));
	cg_store(c, cg_bits_type(c, ty->dt), LLVMBuildTrunc(c->b, v, cg_bits_type(c, ty->dt), ""), Y, i);
	chan_end(c, &l);
	free(m);
}

void cg_lower_quantize(Cg *c, const Node *n)
{
	if (cg_ty(c, n->in[0])->q)
		requantize(c, n);
	else
		quantize_float(c, n);
}

/* y = (x - z) * s in f32, as ONNX's DequantizeLinear. */
void cg_lower_dequantize(Cg *c, const Node *n)
{
	const Type *tx = cg_ty(c, n->in[0]);
	const Quant *q = tx->q;
	LLVMValueRef X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out), s, z;
	ChanLoops l;
	LLVMValueRef i = quant_loops(c, &l, tx, q, &s, &z);
	/* (float(x) - float(z)) * s: each int converted exactly for 8/16-bit x. */
	LLVMValueRef x = cg_load_i32(c, tx->dt, X, i);
	LLVMValueRef d = LLVMBuildFSub(c->b, LLVMBuildSIToFP(c->b, x, c->f32, ""), LLVMBuildSIToFP(c->b, z, c->f32, ""), "");
	cg_storef(c, LLVMBuildFMul(c->b, d, s, ""), Y, i);
	chan_end(c, &l);
}

/* y[i] = table[x[i] - min]: an 8-bit function. */
void cg_lower_lut(Cg *c, const Node *n)
{
	const Type *tx = cg_ty(c, n->in[0]), *ty = cg_ty(c, n->out);
	LLVMValueRef X = cg_buf(c, n->in[0]), T = cg_buf(c, n->in[1]), Y = cg_buf(c, n->out);
	Loop l;
	LLVMValueRef i = cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, ir_type_numel(tx)));
	LLVMValueRef x = cg_load(c, c->i8, X, i);
	/* i8: x + 128 is x's byte with its top bit flipped; u8: the byte. */
	LLVMValueRef k = LLVMBuildZExt(c->b, tx->dt == DT_I8 ? LLVMBuildXor(c->b, x, LLVMConstInt(c->i8, 0x80, 0), "") : x, c->i64, "");
	cg_store(c, c->i8, cg_load(c, cg_bits_type(c, ty->dt), T, k), Y, i);
	cg_loop_end(c, &l, 1);
}

/* ---- softmax ------------------------------------------------------------------------------ */

/* An i32 constant. */
static LLVMValueRef ci32(Cg *c, int64_t v) { return LLVMConstInt(c->i32, (uint64_t)v, 1); }
static LLVMValueRef ci64(Cg *c, int64_t v) { return LLVMConstInt(c->i64, (uint64_t)v, 1); }

/* Integer softmax along an axis, no float: per row, m = max x; e_j =
 * T[m - x_j] with T[d] = round(2^b exp(-s_x d)) (b = min(24, 30 -
 * ceil(log2 len)) so the row's sum S < 2^31); 1/S by three Newton steps
 * in Q30 on S normalized into [2^30, 2^31) (k = its shift), from the
 * classic 48/17 - 32/17 d start; a_j = e_j / S in Q(30 - k); y_j =
 * requant(a_j, 1 / s_y) with the shift grown by 30 - k.  Within one
 * quantum of the float reference (softmax(dequantize(x)), quantized):
 * the table, the reciprocal and a_j each carry under 2^-16 of error. */
void cg_lower_int_softmax(Cg *c, const Node *n)
{
	const Type *tx = cg_ty(c, n->in[0]), *ty = cg_ty(c, n->out);
	int axis = (int)ir_attr_int(n, "axis", tx->rank - 1);
	int64_t outer, len, inner;
	around_axis(tx, axis, &outer, &len, &inner);
	int lg = 0;
	while (((int64_t)1 << lg) < len)
		lg++;
	int b = 30 - lg < 24 ? 30 - lg : 24;
	int32_t tab[256], lo, hi;
	for (int d = 0; d < 256; d++)
		tab[d] = (int32_t)llround(ldexp(exp(-(double)tx->q->scale[0] * d), b));
	Requant r = cg_requant_of(c, n, 1.0 / ty->q->scale[0]);
	cg_qrange(ty->dt, &lo, &hi);
	LLVMValueRef T = i32_table(c, "softmax_exp", tab, 256), X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out);
	LLVMValueRef mx = cg_entry_alloca(c, c->i32), sum = cg_entry_alloca(c, c->i32);
	Loop lo_, li, l1, l2, l3;
	LLVMValueRef o = cg_loop_begin(c, &lo_, cg_i64(c, 0), cg_i64(c, outer));
	LLVMValueRef ii = cg_loop_begin(c, &li, cg_i64(c, 0), cg_i64(c, inner));
	LLVMValueRef base = cg_add(c, cg_mul(c, o, cg_i64(c, len * inner)), ii);
	/* m = max x */
	LLVMBuildStore(c->b, ci32(c, INT32_MIN), mx);
	LLVMValueRef k1 = cg_loop_begin(c, &l1, cg_i64(c, 0), cg_i64(c, len));
	LLVMValueRef x = cg_load_i32(c, tx->dt, X, cg_add(c, base, cg_mul(c, k1, cg_i64(c, inner))));
	LLVMValueRef m = LLVMBuildLoad2(c->b, c->i32, mx, "");
	LLVMBuildStore(c->b, LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSGT, x, m, ""), x, m, ""), mx);
	cg_loop_end(c, &l1, 1);
	LLVMValueRef mv = LLVMBuildLoad2(c->b, c->i32, mx, "");
	/* S = sum of T[m - x] */
	LLVMBuildStore(c->b, ci32(c, 0), sum);
	LLVMValueRef k2 = cg_loop_begin(c, &l2, cg_i64(c, 0), cg_i64(c, len));
	LLVMValueRef x2 = cg_load_i32(c, tx->dt, X, cg_add(c, base, cg_mul(c, k2, cg_i64(c, inner))));
	LLVMValueRef e2 = cg_load(c, c->i32, T, LLVMBuildZExt(c->b, LLVMBuildSub(c->b, mv, x2, ""), c->i64, ""));
	LLVMBuildStore(c->b, LLVMBuildAdd(c->b, LLVMBuildLoad2(c->b, c->i32, sum, ""), e2, ""), sum);
	cg_loop_end(c, &l2, 1);
	/* 1/S: D = S << k in [2^30, 2^31), rq ~ 2^30 / (D / 2^31) */
	LLVMValueRef S = LLVMBuildLoad2(c->b, c->i32, sum, "");
	LLVMTypeRef ti32 = c->i32;
	LLVMValueRef clz = cg_call_intr(c, "llvm.ctlz", &ti32, 1, (LLVMValueRef[]){S, LLVMConstInt(LLVMInt1TypeInContext(c->ctx), 1, 0)}, 2);
	LLVMValueRef k = LLVMBuildSub(c->b, clz, ci32(c, 1), "");
	LLVMValueRef D = LLVMBuildZExt(c->b, LLVMBuildShl(c->b, S, k, ""), c->i64, "");
	LLVMValueRef rq = LLVMBuildSub(c->b, ci64(c, 3031741620LL), LLVMBuildAShr(c->b, LLVMBuildMul(c->b, ci64(c, 2021161080LL), D, ""), ci64(c, 31), ""), "");
	for (int it = 0; it < 3; it++) {
		LLVMValueRef err = LLVMBuildSub(c->b, ci64(c, 1LL << 30), LLVMBuildAShr(c->b, LLVMBuildMul(c->b, D, rq, ""), ci64(c, 31), ""), "");
		rq = LLVMBuildAdd(c->b, rq, LLVMBuildAShr(c->b, LLVMBuildMul(c->b, rq, err, ""), ci64(c, 30), ""), "");
	}
	LLVMValueRef shift = LLVMBuildSub(c->b, ci32(c, r.shift + 30), k, "");
	LLVMValueRef k3 = cg_loop_begin(c, &l3, cg_i64(c, 0), cg_i64(c, len));
	LLVMValueRef off3 = cg_add(c, base, cg_mul(c, k3, cg_i64(c, inner)));
	LLVMValueRef x3 = cg_load_i32(c, tx->dt, X, off3);
	LLVMValueRef e3 = cg_load(c, c->i32, T, LLVMBuildZExt(c->b, LLVMBuildSub(c->b, mv, x3, ""), c->i64, ""));
	/* a = round(e * rq / 2^31) = (e / S) 2^(30 - k) */
	LLVMValueRef a = LLVMBuildAShr(c->b, LLVMBuildAdd(c->b, LLVMBuildMul(c->b, LLVMBuildSExt(c->b, e3, c->i64, ""), rq, ""), ci64(c, 1LL << 30), ""), ci64(c, 31), "");
	LLVMValueRef y = cg_requant(c, LLVMBuildTrunc(c->b, a, c->i32, ""), ci32(c, r.mult), shift, ci32(c, ty->q->zero[0]), ci32(c, lo), ci32(c, hi));
	cg_store(c, cg_bits_type(c, ty->dt), LLVMBuildTrunc(c->b, y, cg_bits_type(c, ty->dt), ""), Y, off3);
	cg_loop_end(c, &l3, 1);
	cg_loop_end(c, &li, 1);
	cg_loop_end(c, &lo_, 1);
}
