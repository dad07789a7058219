/* The broadcasting elementwise family: math, activations, comparisons,
 * logic, bit operations, Cast and Where, all lowered by one loop nest that
 * walks the output and reads each operand through its broadcast strides.
 * f16, bf16 and the float8 types are storage types: loaded into f32,
 * computed, rounded back to nearest-even on store.  4-bit integers are one
 * per byte: the low nibble, sign-extended for i4, canonical after a store. */
#include <math.h>
#include <string.h>

#include "cg_internal.h"

#define MAXR IR_MAX_RANK

static LLVMValueRef ki(LLVMTypeRef t, uint64_t v) { return LLVMConstInt(t, v, 0); }
static LLVMValueRef kf(Cg *c, LLVMTypeRef t, double v) { return LLVMConstReal(t, v); }
/* ---- storage types ---------------------------------------------------------------- */

static bool is_half(DType dt) { return dt == DT_F16 || dt == DT_BF16 || ir_dtype_is_f8(dt); }

/* The type values are computed in: f16/bf16/float8 widen to f32. */
static LLVMTypeRef calc_type(Cg *c, DType dt)
{
	if (is_half(dt))
		return c->f32;
	switch (dt) {
	case DT_F32: return c->f32;
	case DT_F64: return LLVMDoubleTypeInContext(c->ctx);
	case DT_BOOL: return LLVMInt1TypeInContext(c->ctx);
	default: return LLVMIntTypeInContext(c->ctx, 8 * ir_dtype_size(dt));
	}
}

static LLVMTypeRef store_type(Cg *c, DType dt)
{
	return dt == DT_BOOL || is_half(dt) ? LLVMIntTypeInContext(c->ctx, 8 * ir_dtype_size(dt)) : calc_type(c, dt);
}

/* f16 bits -> f32: move exponent and mantissa into place and rescale by
 * 2^112 (exact, and right for subnormals); inf/NaN get the f32 exponent. */
static LLVMValueRef f16_to_f32(Cg *c, LLVMValueRef h)
{
	LLVMValueRef u = LLVMBuildZExt(c->b, h, c->i32, "");
	LLVMValueRef mag = LLVMBuildShl(c->b, LLVMBuildAnd(c->b, u, ki(c->i32, 0x7fff), ""), ki(c->i32, 13), "");
	LLVMValueRef f = cg_fmul(c, LLVMBuildBitCast(c->b, mag, c->f32, ""), cg_f32(c, 0x1p112));
	LLVMValueRef special = cg_icmp(c, LLVMIntUGE, mag, ki(c->i32, 0x0f800000));
	LLVMValueRef fbits = cg_sel(c, special, LLVMBuildOr(c->b, mag, ki(c->i32, 0x7f800000), ""),
				 LLVMBuildBitCast(c->b, f, c->i32, ""));
	LLVMValueRef sign = LLVMBuildShl(c->b, LLVMBuildAnd(c->b, u, ki(c->i32, 0x8000), ""), ki(c->i32, 16), "");
	return LLVMBuildBitCast(c->b, LLVMBuildOr(c->b, fbits, sign, ""), c->f32, "");
}

/* f32 -> f16 bits, round to nearest even (overflow to inf, NaN quiet). */
static LLVMValueRef f32_to_f16(Cg *c, LLVMValueRef x)
{
	LLVMValueRef u = LLVMBuildBitCast(c->b, x, c->i32, "");
	LLVMValueRef sign = LLVMBuildAnd(c->b, LLVMBuildLShr(c->b, u, ki(c->i32, 16), ""), ki(c->i32, 0x8000), "");
	LLVMValueRef a = LLVMBuildAnd(c->b, u, ki(c->i32, 0x7fffffff), "");
	/* Normal results: rebias the exponent, round on bit 13. */
	LLVMValueRef odd = LLVMBuildAnd(c->b, LLVMBuildLShr(c->b, a, ki(c->i32, 13), ""), ki(c->i32, 1), "");
	LLVMValueRef nrm = LLVMBuildAdd(c->b, a, ki(c->i32, (uint32_t)(-(0x38000000)) + 0xfff), "");
	nrm = LLVMBuildLShr(c->b, LLVMBuildAdd(c->b, nrm, odd, ""), ki(c->i32, 13), "");
	/* Subnormal results: adding 0.5 lets the FPU round the mantissa. */
	LLVMValueRef sub = cg_fadd(c, LLVMBuildBitCast(c->b, a, c->f32, ""), cg_f32(c, 0.5));
	sub = LLVMBuildSub(c->b, LLVMBuildBitCast(c->b, sub, c->i32, ""), ki(c->i32, 0x3f000000), "");
	LLVMValueRef r = cg_sel(c, cg_icmp(c, LLVMIntULT, a, ki(c->i32, 0x38800000)), sub, nrm);
	r = cg_sel(c, cg_icmp(c, LLVMIntUGE, a, ki(c->i32, 0x477ff000)), ki(c->i32, 0x7c00), r);
	r = cg_sel(c, cg_icmp(c, LLVMIntUGT, a, ki(c->i32, 0x7f800000)), ki(c->i32, 0x7e00), r);
	return LLVMBuildTrunc(c->b, LLVMBuildOr(c->b, r, sign, ""), LLVMInt16TypeInContext(c->ctx), "");
}

static LLVMValueRef bf16_to_f32(Cg *c, LLVMValueRef h)
{
	LLVMValueRef u = LLVMBuildShl(c->b, LLVMBuildZExt(c->b, h, c->i32, ""), ki(c->i32, 16), "");
	return LLVMBuildBitCast(c->b, u, c->f32, "");
}

static LLVMValueRef f32_to_bf16(Cg *c, LLVMValueRef x)
{
	LLVMValueRef u = LLVMBuildBitCast(c->b, x, c->i32, "");
	LLVMValueRef odd = LLVMBuildAnd(c->b, LLVMBuildLShr(c->b, u, ki(c->i32, 16), ""), ki(c->i32, 1), "");
	LLVMValueRef r = LLVMBuildAdd(c->b, u, LLVMBuildAdd(c->b, ki(c->i32, 0x7fff), odd, ""), "");
	r = LLVMBuildLShr(c->b, r, ki(c->i32, 16), "");
	LLVMValueRef qnan = LLVMBuildOr(c->b, LLVMBuildLShr(c->b, u, ki(c->i32, 16), ""), ki(c->i32, 0x40), "");
	r = cg_sel(c, cg_fcmp(c, LLVMRealUNO, x, x), qnan, r);
	return LLVMBuildTrunc(c->b, r, LLVMInt16TypeInContext(c->ctx), "");
}

/* float8 bits -> f32, exactly: normals get the f32 exponent, subnormals
 * are m 2^(1 - bias - mbits) computed from an integer (no f32 subnormal
 * arithmetic, so flush-to-zero modes cannot change it). */
static LLVMValueRef f8_to_f32(Cg *c, DType dt, LLVMValueRef b)
{
	const IrF8Format *f = ir_f8_format(dt);
	LLVMValueRef u = LLVMBuildZExt(c->b, b, c->i32, "");
	LLVMValueRef mag = LLVMBuildAnd(c->b, u, ki(c->i32, 0x7f), "");
	LLVMValueRef e = LLVMBuildLShr(c->b, mag, ki(c->i32, (uint64_t)f->mbits), "");
	LLVMValueRef m = LLVMBuildAnd(c->b, mag, ki(c->i32, (1u << f->mbits) - 1), "");
	LLVMValueRef nrm = LLVMBuildOr(c->b, LLVMBuildShl(c->b, LLVMBuildAdd(c->b, e, ki(c->i32, (uint64_t)(127 - f->bias)), ""), ki(c->i32, 23), ""),
				       LLVMBuildShl(c->b, m, ki(c->i32, (uint64_t)(23 - f->mbits)), ""), "");
	LLVMValueRef sub = cg_fmul(c, LLVMBuildUIToFP(c->b, m, c->f32, ""), cg_f32(c, ldexp(1, 1 - f->bias - f->mbits)));
	LLVMValueRef bits = cg_sel(c, cg_icmp(c, LLVMIntEQ, e, ki(c->i32, 0)), LLVMBuildBitCast(c->b, sub, c->i32, ""), nrm);
	LLVMValueRef sign = LLVMBuildShl(c->b, LLVMBuildAnd(c->b, u, ki(c->i32, 0x80), ""), ki(c->i32, 24), "");
	LLVMValueRef nan;
	if (f->uz) {
		nan = cg_icmp(c, LLVMIntEQ, u, ki(c->i32, 0x80));
		sign = cg_sel(c, nan, ki(c->i32, 0), sign);  /* the one NaN is positive */
	} else if (f->inf) {
		nan = cg_icmp(c, LLVMIntUGT, mag, ki(c->i32, (uint64_t)f->maxcode + 1));
		bits = cg_sel(c, cg_icmp(c, LLVMIntEQ, mag, ki(c->i32, (uint64_t)f->maxcode + 1)), ki(c->i32, 0x7f800000), bits);
	} else {
		nan = cg_icmp(c, LLVMIntEQ, mag, ki(c->i32, 0x7f));
	}
	bits = cg_sel(c, nan, ki(c->i32, 0x7fc00000), bits);
	return LLVMBuildBitCast(c->b, LLVMBuildOr(c->b, bits, sign, ""), c->f32, "");
}

/* f32 -> float8 bits as ONNX Cast defines it (ir_f32_to_f8 is the same in
 * C): |x| = mant 2^(e - 23) is shifted down to the result's quantum
 * 2^(max(e, emin) - mbits) rounding to nearest even, then the exponent
 * field is added (a mantissa carry moves into it by itself; subnormals
 * have none).  Codes past the largest finite one, infinities included,
 * saturate or become inf/NaN. */
static LLVMValueRef f32_to_f8(Cg *c, DType dt, LLVMValueRef x, bool saturate)
{
	const IrF8Format *f = ir_f8_format(dt);
	int emin = 1 - f->bias;
	LLVMTypeRef i = c->i32;
	LLVMValueRef u = LLVMBuildBitCast(c->b, x, i, "");
	LLVMValueRef sign = LLVMBuildAnd(c->b, LLVMBuildLShr(c->b, u, ki(i, 24), ""), ki(i, 0x80), "");
	LLVMValueRef a = LLVMBuildAnd(c->b, u, ki(i, 0x7fffffff), "");
	LLVMValueRef e = LLVMBuildSub(c->b, LLVMBuildLShr(c->b, a, ki(i, 23), ""), ki(i, 127), "");
	LLVMValueRef mant = LLVMBuildOr(c->b, LLVMBuildAnd(c->b, a, ki(i, 0x7fffff), ""), ki(i, 0x800000), "");
	LLVMValueRef below = cg_icmp(c, LLVMIntSLT, e, LLVMConstInt(i, (uint64_t)(int64_t)emin, 1));
	LLVMValueRef d = cg_sel(c, below, LLVMBuildSub(c->b, LLVMConstInt(i, (uint64_t)(int64_t)emin, 1), e, ""), ki(i, 0));
	LLVMValueRef s = LLVMBuildAdd(c->b, d, ki(i, (uint64_t)(23 - f->mbits)), "");
	s = cg_sel(c, cg_icmp(c, LLVMIntUGT, s, ki(i, 25)), ki(i, 25), s);  /* mant < 2^24: rounds to 0 from here */
	LLVMValueRef half1 = LLVMBuildSub(c->b, LLVMBuildShl(c->b, ki(i, 1), LLVMBuildSub(c->b, s, ki(i, 1), ""), ""), ki(i, 1), "");
	LLVMValueRef odd = LLVMBuildAnd(c->b, LLVMBuildLShr(c->b, mant, s, ""), ki(i, 1), "");
	LLVMValueRef n = LLVMBuildLShr(c->b, LLVMBuildAdd(c->b, LLVMBuildAdd(c->b, mant, half1, ""), odd, ""), s, "");
	LLVMValueRef ef = LLVMBuildShl(c->b, cg_sel(c, below, ki(i, 0), LLVMBuildSub(c->b, e, LLVMConstInt(i, (uint64_t)(int64_t)emin, 1), "")),
				       ki(i, (uint64_t)f->mbits), "");
	LLVMValueRef code = LLVMBuildAdd(c->b, n, ef, "");
	LLVMValueRef nan = f->uz ? ki(i, 0x80) : LLVMBuildOr(c->b, sign, ki(i, 0x7f), "");
	LLVMValueRef ovf = saturate ? LLVMBuildOr(c->b, sign, ki(i, (uint64_t)f->maxcode), "")
			 : f->inf ? LLVMBuildOr(c->b, sign, ki(i, 0x7c), "") : nan;
	LLVMValueRef r = LLVMBuildOr(c->b, code, sign, "");
	if (f->uz)
		r = cg_sel(c, cg_icmp(c, LLVMIntEQ, code, ki(i, 0)), ki(i, 0), r);
	r = cg_sel(c, cg_icmp(c, LLVMIntUGT, code, ki(i, (uint64_t)f->maxcode)), ovf, r);
	r = cg_sel(c, cg_icmp(c, LLVMIntUGT, a, ki(i, 0x7f800000)), nan, r);
	return LLVMBuildTrunc(c->b, r, c->i8, "");
}

/* The 4-bit value in the low nibble of an i8: sign-extended or masked. */
static LLVMValueRef nibble(Cg *c, DType dt, LLVMValueRef v)
{
	if (dt == DT_U4)
		return LLVMBuildAnd(c->b, v, ki(c->i8, 0x0f), "");
	return LLVMBuildAShr(c->b, LLVMBuildShl(c->b, v, ki(c->i8, 4), ""), ki(c->i8, 4), "");
}

static LLVMValueRef load_elem(Cg *c, DType dt, LLVMValueRef p)
{
	LLVMValueRef v = LLVMBuildLoad2(c->b, store_type(c, dt), p, "");
	if (ir_dtype_is_f8(dt))
		return f8_to_f32(c, dt, v);
	switch (dt) {
	case DT_F16: return f16_to_f32(c, v);
	case DT_BF16: return bf16_to_f32(c, v);
	case DT_BOOL: return cg_icmp(c, LLVMIntNE, v, ki(c->i8, 0));
	case DT_I4: case DT_U4: return nibble(c, dt, v);
	default: return v;
	}
}

/* saturate: what float8 does with values out of its range (Cast's attribute). */
static void store_elem(Cg *c, DType dt, LLVMValueRef v, LLVMValueRef p, bool saturate)
{
	if (ir_dtype_is_f8(dt))
		v = f32_to_f8(c, dt, v, saturate);
	switch (dt) {
	case DT_F16: v = f32_to_f16(c, v); break;
	case DT_BF16: v = f32_to_bf16(c, v); break;
	case DT_BOOL: v = LLVMBuildZExt(c->b, v, c->i8, ""); break;
	case DT_I4: case DT_U4: v = nibble(c, dt, v); break;
	default: break;
	}
	LLVMBuildStore(c->b, v, p);
}

/* ---- Cast ------------------------------------------------------------------------------- */

/* nearest integer, ties to even, for |x| < 2^22 (f32) or 2^51 (f64): the
 * FPU rounds away the fraction bits of x + 1.5 2^p. */
static LLVMValueRef rint_small(Cg *c, LLVMValueRef x)
{
	LLVMTypeRef t = LLVMTypeOf(x);
	LLVMValueRef magic = LLVMConstReal(t, t == c->f32 ? 0x1.8p23 : 0x1.8p52);
	return cg_fsub(c, cg_fadd(c, x, magic), magic);
}

/* To i4/u4 (one per i8): clamp to the 4-bit range, floats rounded to
 * nearest even first, as the ONNX reference does; NaN gives 0. */
static LLVMValueRef convert_4bit(Cg *c, LLVMValueRef v, DType from, DType to)
{
	int lo = to == DT_I4 ? -8 : 0, hi = to == DT_I4 ? 7 : 15;
	LLVMTypeRef t = LLVMTypeOf(v);
	if (from == DT_BOOL)
		return LLVMBuildZExt(c->b, v, c->i8, "");
	if (ir_dtype_is_float(from)) {
		v = cg_sel(c, cg_fcmp(c, LLVMRealOLT, v, kf(c, t, lo)), kf(c, t, lo), v);
		v = cg_sel(c, cg_fcmp(c, LLVMRealOGT, v, kf(c, t, hi)), kf(c, t, hi), v);
		v = cg_sel(c, cg_fcmp(c, LLVMRealUNO, v, v), kf(c, t, 0), rint_small(c, v));
		return LLVMBuildFPToSI(c->b, v, c->i8, "");
	}
	bool s = ir_dtype_is_signed(from);
	if (s || lo)  /* unsigned values are never below 0 */
		v = cg_sel(c, cg_icmp(c, s ? LLVMIntSLT : LLVMIntULT, v, LLVMConstInt(t, (uint64_t)(int64_t)lo, 1)),
			LLVMConstInt(t, (uint64_t)(int64_t)lo, 1), v);
	v = cg_sel(c, cg_icmp(c, s ? LLVMIntSGT : LLVMIntUGT, v, ki(t, (uint64_t)hi)), ki(t, (uint64_t)hi), v);
	return LLVMGetIntTypeWidth(t) == 8 ? v : LLVMBuildTrunc(c->b, v, c->i8, "");
}

static LLVMValueRef convert(Cg *c, LLVMValueRef v, DType from, DType to)
{
	LLVMTypeRef tt = calc_type(c, to);
	bool ff = ir_dtype_is_float(from), tf = ir_dtype_is_float(to);
	if ((to == DT_I4 || to == DT_U4) && from != to)
		return convert_4bit(c, v, from, to);
	if (to == DT_BOOL) {
		if (ff)
			return cg_fcmp(c, LLVMRealUNE, v, LLVMConstNull(LLVMTypeOf(v)));
		return cg_icmp(c, LLVMIntNE, v, LLVMConstNull(LLVMTypeOf(v)));
	}
	if (from == DT_BOOL)
		return tf ? LLVMBuildUIToFP(c->b, v, tt, "") : LLVMBuildZExt(c->b, v, tt, "");
	if (ff && tf) {
		unsigned a = LLVMGetTypeKind(LLVMTypeOf(v)) == LLVMDoubleTypeKind ? 64 : 32;
		unsigned b = LLVMGetTypeKind(tt) == LLVMDoubleTypeKind ? 64 : 32;
		return a == b ? v : a < b ? LLVMBuildFPExt(c->b, v, tt, "") : LLVMBuildFPTrunc(c->b, v, tt, "");
	}
	if (ff) {
		/* Saturating conversion: NaN and out-of-range values must not
		 * become poison (ONNX leaves them undefined; we give 0/limits). */
		LLVMTypeRef tys[2] = {tt, LLVMTypeOf(v)};
		return cg_call_intr(c, ir_dtype_is_signed(to) ? "llvm.fptosi.sat" : "llvm.fptoui.sat", tys, 2, &v, 1);
	}
	if (tf)
		return ir_dtype_is_signed(from) ? LLVMBuildSIToFP(c->b, v, tt, "") : LLVMBuildUIToFP(c->b, v, tt, "");
	unsigned a = LLVMGetIntTypeWidth(LLVMTypeOf(v)), b = LLVMGetIntTypeWidth(tt);
	if (a == b)
		return v;
	if (a > b)
		return LLVMBuildTrunc(c->b, v, tt, "");
	return ir_dtype_is_signed(from) ? LLVMBuildSExt(c->b, v, tt, "") : LLVMBuildZExt(c->b, v, tt, "");
}

/* ---- the scalar computations -------------------------------------------------------------- */

/* Float math in f32 (f64 operands are narrowed for the transcendental
 * polynomials, which are f32 accurate; arithmetic stays in f64). */
static LLVMValueRef in_f32(Cg *c, LLVMValueRef x, LLVMValueRef (*fn)(Cg *, LLVMValueRef))
{
	LLVMTypeRef t = LLVMTypeOf(x);
	if (t == c->f32)
		return fn(c, x);
	return LLVMBuildFPExt(c->b, fn(c, LLVMBuildFPTrunc(c->b, x, c->f32, "")), t, "");
}

static LLVMValueRef softplus(Cg *c, LLVMValueRef x)
{
	/* log(1 + e^x) = max(x, 0) + log(1 + e^-|x|): no overflow. */
	LLVMValueRef e = cg_exp(c, LLVMBuildFNeg(c->b, cg_fabs(c, x), ""));
	LLVMValueRef l = cg_log(c, cg_fadd(c, cg_f32(c, 1), e));
	LLVMValueRef m = cg_sel(c, cg_fcmp(c, LLVMRealOGT, x, cg_f32(c, 0)), x, cg_f32(c, 0));
	/* NaN: max picks 0 above, so pass NaN through explicitly. */
	return cg_sel(c, cg_fcmp(c, LLVMRealUNO, x, x), x, cg_fadd(c, m, l));
}

static LLVMValueRef mish(Cg *c, LLVMValueRef x) { return cg_fmul(c, x, cg_tanh(c, softplus(c, x))); }

static LLVMValueRef expm1_(Cg *c, LLVMValueRef x) { return cg_fsub(c, cg_exp(c, x), cg_f32(c, 1)); }

/* The math ops without an activation form. */
static LLVMValueRef math_op(Cg *c, Op op, DType dt, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	bool f = ir_dtype_is_float(dt);
	switch (op) {
	case OP_ABS:
		if (f)
			return cg_call_intr(c, "llvm.fabs", &ty, 1, &x, 1);
		if (!ir_dtype_is_signed(dt))
			return x;
		return LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, x, LLVMConstNull(ty), ""), LLVMBuildNeg(c->b, x, ""), x, "");
	case OP_NEG: return f ? LLVMBuildFNeg(c->b, x, "") : LLVMBuildNeg(c->b, x, "");
	case OP_EXP: return cg_exp(c, x);
	case OP_LOG: return cg_log(c, x);
	case OP_SQRT: return cg_sqrt(c, x);
	case OP_RECIPROCAL: return LLVMBuildFDiv(c->b, cg_f32(c, 1), x, "");
	case OP_FLOOR: return cg_round_dir(c, x, false);
	case OP_CEIL: return cg_round_dir(c, x, true);
	default: die("not a math op");
	}
}

static LLVMValueRef binary_op(Cg *c, Op op, DType dt, LLVMValueRef a, LLVMValueRef b)
{
	bool f = ir_dtype_is_float(dt);
	switch (op) {
	case OP_ADD: return f ? LLVMBuildFAdd(c->b, a, b, "") : LLVMBuildAdd(c->b, a, b, "");
	case OP_SUB: return f ? LLVMBuildFSub(c->b, a, b, "") : LLVMBuildSub(c->b, a, b, "");
	case OP_MUL: return f ? LLVMBuildFMul(c->b, a, b, "") : LLVMBuildMul(c->b, a, b, "");
	case OP_DIV:
		if (f)
			return LLVMBuildFDiv(c->b, a, b, "");
		/* Integer division by zero is undefined in ONNX; keep it from
		 * trapping: divide by 1 instead. */
		b = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntEQ, b, LLVMConstNull(LLVMTypeOf(b)), ""),
				    LLVMConstInt(LLVMTypeOf(b), 1, 0), b, "");
		return ir_dtype_is_signed(dt) ? LLVMBuildSDiv(c->b, a, b, "") : LLVMBuildUDiv(c->b, a, b, "");
	default: die("not a binary op");
	}
}

static LLVMValueRef unary_float(Cg *c, const Node *n, LLVMValueRef x)
{
	LLVMTypeRef t = LLVMTypeOf(x);
	LLVMValueRef zero = kf(c, t, 0), one = kf(c, t, 1);
	switch (n->op) {
	case OP_SIN: return in_f32(c, x, cg_sin);
	case OP_COS: return in_f32(c, x, cg_cos);
	case OP_TAN: return in_f32(c, x, cg_tan);
	case OP_ASIN: return in_f32(c, x, cg_asin);
	case OP_ACOS: return in_f32(c, x, cg_acos);
	case OP_ATAN: return in_f32(c, x, cg_atan);
	case OP_SINH: return in_f32(c, x, cg_sinh);
	case OP_COSH: return in_f32(c, x, cg_cosh);
	case OP_ASINH: return in_f32(c, x, cg_asinh);
	case OP_ACOSH: return in_f32(c, x, cg_acosh);
	case OP_ATANH: return in_f32(c, x, cg_atanh);
	case OP_ERF: return in_f32(c, x, cg_erf);
	case OP_ROUND: return in_f32(c, x, cg_round_even);
	case OP_SOFTPLUS: return in_f32(c, x, softplus);
	case OP_MISH: return in_f32(c, x, mish);
	case OP_SOFTSIGN: return cg_fdiv(c, x, cg_fadd(c, one, cg_fabs(c, x)));
	case OP_ELU:
	case OP_SELU:
	case OP_CELU: {
		double a = ir_attr_float(n, "alpha", 1.0);
		LLVMValueRef neg;
		if (n->op == OP_CELU)
			neg = cg_fmul(c, kf(c, t, a), in_f32(c, cg_fdiv(c, x, kf(c, t, a)), expm1_));
		else
			neg = cg_fmul(c, kf(c, t, a), in_f32(c, x, expm1_));
		LLVMValueRef y = cg_sel(c, cg_fcmp(c, n->op == OP_SELU ? LLVMRealUGT : LLVMRealUGE, x, zero), x, neg);
		return n->op == OP_SELU ? cg_fmul(c, y, kf(c, t, ir_attr_float(n, "gamma", 1.0507))) : y;
	}
	case OP_THRESHOLDED_RELU:
		return cg_sel(c, cg_fcmp(c, LLVMRealULE, x, kf(c, t, ir_attr_float(n, "alpha", 1.0))), zero, x);
	case OP_SHRINK: {
		LLVMValueRef bias = kf(c, t, ir_attr_float(n, "bias", 0)), l = kf(c, t, ir_attr_float(n, "lambd", 0.5));
		LLVMValueRef y = cg_sel(c, cg_fcmp(c, LLVMRealOGT, x, l), cg_fsub(c, x, bias), zero);
		y = cg_sel(c, cg_fcmp(c, LLVMRealOLT, x, LLVMBuildFNeg(c->b, l, "")), cg_fadd(c, x, bias), y);
		return cg_sel(c, cg_fcmp(c, LLVMRealUNO, x, x), x, y);
	}
	default: die("not a float unary op");
	}
}

LLVMValueRef cg_ew_compute(Cg *c, const Node *n, DType dt, LLVMValueRef *v)
{
	LLVMValueRef a = v[0], b = v[1];
	bool f = ir_dtype_is_float(dt), s = ir_dtype_is_signed(dt);
	LLVMTypeRef t = LLVMTypeOf(a);
	switch (n->op) {
	case OP_SIGN: {
		if (f) {
			LLVMValueRef r = cg_sel(c, cg_fcmp(c, LLVMRealOGT, a, kf(c, t, 0)), kf(c, t, 1), kf(c, t, 0));
			r = cg_sel(c, cg_fcmp(c, LLVMRealOLT, a, kf(c, t, 0)), kf(c, t, -1), r);
			return cg_sel(c, cg_fcmp(c, LLVMRealUNO, a, a), a, r);
		}
		LLVMValueRef r = cg_sel(c, cg_icmp(c, s ? LLVMIntSGT : LLVMIntUGT, a, ki(t, 0)), ki(t, 1), ki(t, 0));
		return s ? cg_sel(c, cg_icmp(c, LLVMIntSLT, a, ki(t, 0)), LLVMConstAllOnes(t), r) : r;
	}
	case OP_NOT: return LLVMBuildNot(c->b, a, "");
	case OP_BITWISE_NOT: return LLVMBuildNot(c->b, a, "");
	case OP_ISNAN: return cg_fcmp(c, LLVMRealUNO, a, a);
	case OP_ISINF: {
		LLVMValueRef inf = kf(c, t, INFINITY), ninf = kf(c, t, -INFINITY);
		LLVMValueRef p = ir_attr_int(n, "pos", 1) ? cg_fcmp(c, LLVMRealOEQ, a, inf) : LLVMConstNull(LLVMInt1TypeInContext(c->ctx));
		LLVMValueRef q = ir_attr_int(n, "neg", 1) ? cg_fcmp(c, LLVMRealOEQ, a, ninf) : LLVMConstNull(LLVMInt1TypeInContext(c->ctx));
		return LLVMBuildOr(c->b, p, q, "");
	}
	case OP_CAST: return convert(c, a, dt, ir_dtype_from_name(ir_attr_str(n, "to", "f32")));
	case OP_POW:
		if (f) {
			if (t == c->f32)
				return cg_pow(c, a, b);
			LLVMValueRef r = cg_pow(c, LLVMBuildFPTrunc(c->b, a, c->f32, ""), LLVMBuildFPTrunc(c->b, b, c->f32, ""));
			return LLVMBuildFPExt(c->b, r, t, "");
		} else {
			/* Integer power by squaring over the 64 exponent bits
			 * (negative exponents give 0 unless the base is +-1). */
			LLVMValueRef r = ki(t, 1), base = a, e = b;
			for (unsigned i = 0; i < LLVMGetIntTypeWidth(t); i++) {
				LLVMValueRef bit = LLVMBuildTrunc(c->b, LLVMBuildLShr(c->b, e, ki(t, i), ""), LLVMInt1TypeInContext(c->ctx), "");
				r = cg_sel(c, bit, LLVMBuildMul(c->b, r, base, ""), r);
				base = LLVMBuildMul(c->b, base, base, "");
			}
			return r;
		}
	case OP_MOD:
		if (f) {
			if (t == c->f32)
				return cg_fmod(c, a, b);
			/* f64: a - trunc(a/b)*b (frem would call libm's fmod). */
			LLVMValueRef q = cg_fdiv(c, a, b);
			LLVMTypeRef tys[2] = {c->i64, t};
			LLVMValueRef tq = LLVMBuildSIToFP(c->b, cg_call_intr(c, "llvm.fptosi.sat", tys, 2, &q, 1), t, "");
			tq = cg_sel(c, cg_fcmp(c, LLVMRealOLT, cg_fabs(c, q), kf(c, t, 0x1p52)), tq, q);
			return cg_fsub(c, a, cg_fmul(c, tq, b));
		} else {
			LLVMValueRef z = cg_icmp(c, LLVMIntEQ, b, ki(t, 0));
			LLVMValueRef bb = cg_sel(c, z, ki(t, 1), b);
			if (!s)
				return cg_sel(c, z, ki(t, 0), LLVMBuildURem(c->b, a, bb, ""));
			/* -1 divisor: remainder 0 (avoids INT_MIN % -1 trapping). */
			bb = cg_sel(c, cg_icmp(c, LLVMIntEQ, bb, LLVMConstAllOnes(t)), ki(t, 1), bb);
			LLVMValueRef r = LLVMBuildSRem(c->b, a, bb, "");
			if (!ir_attr_int(n, "fmod", 0)) {
				/* Python-style: the sign of the divisor. */
				LLVMValueRef fix = LLVMBuildAnd(c->b, cg_icmp(c, LLVMIntNE, r, ki(t, 0)),
								 LLVMBuildXor(c->b, cg_icmp(c, LLVMIntSLT, r, ki(t, 0)),
									      cg_icmp(c, LLVMIntSLT, bb, ki(t, 0)), ""), "");
				r = cg_sel(c, fix, LLVMBuildAdd(c->b, r, bb, ""), r);
			}
			return cg_sel(c, z, ki(t, 0), r);
		}
	case OP_MIN:
	case OP_MAX: {
		bool mx = n->op == OP_MAX;
		if (f) {
			LLVMValueRef r = cg_sel(c, cg_fcmp(c, mx ? LLVMRealOGT : LLVMRealOLT, a, b), a, b);
			return cg_sel(c, cg_fcmp(c, LLVMRealUNO, a, a), a, r);
		}
		LLVMIntPredicate p = mx ? (s ? LLVMIntSGT : LLVMIntUGT) : (s ? LLVMIntSLT : LLVMIntULT);
		return cg_sel(c, cg_icmp(c, p, a, b), a, b);
	}
	case OP_EQUAL: return f ? cg_fcmp(c, LLVMRealOEQ, a, b) : cg_icmp(c, LLVMIntEQ, a, b);
	case OP_LESS: return f ? cg_fcmp(c, LLVMRealOLT, a, b) : cg_icmp(c, s ? LLVMIntSLT : LLVMIntULT, a, b);
	case OP_LESS_EQUAL: return f ? cg_fcmp(c, LLVMRealOLE, a, b) : cg_icmp(c, s ? LLVMIntSLE : LLVMIntULE, a, b);
	case OP_GREATER: return f ? cg_fcmp(c, LLVMRealOGT, a, b) : cg_icmp(c, s ? LLVMIntSGT : LLVMIntUGT, a, b);
	case OP_GREATER_EQUAL: return f ? cg_fcmp(c, LLVMRealOGE, a, b) : cg_icmp(c, s ? LLVMIntSGE : LLVMIntUGE, a, b);
	case OP_AND: case OP_BITWISE_AND: return LLVMBuildAnd(c->b, a, b, "");
	case OP_OR: case OP_BITWISE_OR: return LLVMBuildOr(c->b, a, b, "");
	case OP_XOR: case OP_BITWISE_XOR: return LLVMBuildXor(c->b, a, b, "");
	case OP_BIT_SHIFT: {
		unsigned w = LLVMGetIntTypeWidth(t);
		LLVMValueRef big = cg_icmp(c, LLVMIntUGE, b, ki(t, w));
		LLVMValueRef sb = cg_sel(c, big, ki(t, 0), b);
		LLVMValueRef r = ir_attr_int(n, "left", 1) ? LLVMBuildShl(c->b, a, sb, "") : LLVMBuildLShr(c->b, a, sb, "");
		return cg_sel(c, big, ki(t, 0), r);
	}
	case OP_PRELU: return cg_sel(c, cg_fcmp(c, LLVMRealOLT, a, kf(c, t, 0)), cg_fmul(c, a, b), a);
	case OP_WHERE: return cg_sel(c, a, b, v[2]);
	case OP_EXPAND: return a;
	case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV:
		return binary_op(c, n->op, dt, a, b);
	case OP_ABS: case OP_NEG: case OP_EXP: case OP_LOG: case OP_SQRT: case OP_RECIPROCAL: case OP_FLOOR: case OP_CEIL:
		return math_op(c, n->op, dt, a);
	default: {
		Act act = ir_act_of_op(n);  /* an activation of ir/act.def: its one formula */
		if (!act.k)
			return unary_float(c, n, a);
		if (t == c->f32 || (act.k != ACT_GELU && act.k != ACT_GELU_TANH))
			return cg_act_apply(c, act, a);
		/* f64 GELU: computed in f32, which its polynomials are accurate to */
		return LLVMBuildFPExt(c->b, cg_act_apply(c, act, LLVMBuildFPTrunc(c->b, a, c->f32, "")), t, "");
	}
	}
}

/* ---- the loop nest ------------------------------------------------------------------------ */

/* The loop over an elementwise result t[0] reading operands t[1..nin]:
 * one flat loop when no operand broadcasts (every element at the same
 * offset: the shape that vectorizes best), else a nest over the result's
 * dims (size-1 dims skipped) in which each operand's offset moves by its
 * broadcast strides.  off[k] is operand k's element offset, oy the
 * result's; close it with ew_end. */
typedef struct EwLoop {
	const Type *to;
	bool flat;
	Loop loops[MAXR];
	LLVMValueRef off[16], oy;
} EwLoop;

static void ew_begin(Cg *c, const Type *const *t, int nin, EwLoop *l)
{
	const Type *to = l->to = t[0];
	int64_t numel = ir_type_numel(to);
	l->flat = true;
	for (int k = 0; k < nin; k++)
		l->flat &= ir_type_numel(t[1 + k]) == numel;
	if (l->flat) {
		l->oy = cg_loop_begin(c, &l->loops[0], cg_i64(c, 0), cg_i64(c, numel));
		for (int k = 0; k < nin; k++)
			l->off[k] = l->oy;
		return;
	}
	int64_t st[16][MAXR];
	for (int k = 0; k < nin; k++) {
		cg_bcast_strides(t[1 + k], to->rank, to->dims, st[k]);
		l->off[k] = cg_i64(c, 0);
	}
	l->oy = cg_i64(c, 0);
	for (int d = 0; d < to->rank; d++) {
		if (to->dims[d] == 1)
			continue;
		LLVMValueRef i = cg_loop_begin(c, &l->loops[d], cg_i64(c, 0), cg_i64(c, to->dims[d]));
		for (int k = 0; k < nin; k++)
			if (st[k][d])
				l->off[k] = cg_add(c, l->off[k], cg_mul(c, i, cg_i64(c, st[k][d])));
		l->oy = cg_add(c, cg_mul(c, l->oy, cg_i64(c, to->dims[d])), i);
	}
}

static void ew_end(Cg *c, EwLoop *l)
{
	if (l->flat) {
		cg_loop_end(c, &l->loops[0], 1);
		return;
	}
	for (int d = l->to->rank - 1; d >= 0; d--)
		if (l->to->dims[d] != 1)
			cg_loop_end(c, &l->loops[d], 1);
}

/* The result's and operands' types as the loop walks them (t[0] the
 * result): for a result in channel blocks, their row-major views. */
static void ew_types(Cg *c, const Node *n, Type *view, const Type **t)
{
	t[0] = cg_ty(c, n->out);
	for (int k = 0; k < n->nin; k++)
		t[1 + k] = cg_ty(c, n->in[k]);
	if (t[0]->block)
		cg_blocked_views(t, n->nin, view);
}

void cg_lower_ew(Cg *c, const Node *n)
{
	Type view[4];
	const Type *t[4];
	ew_types(c, n, view, t);
	EwLoop l;
	ew_begin(c, t, n->nin, &l);
	LLVMValueRef v[3] = {0};
	for (int k = 0; k < n->nin; k++)
		v[k] = load_elem(c, t[1 + k]->dt, cg_gep(c, store_type(c, t[1 + k]->dt), c->buf[n->in[k]], l.off[k]));
	DType dt = t[n->op == OP_WHERE ? 2 : 1]->dt;
	LLVMValueRef y = cg_ew_compute(c, n, dt, v);
	bool saturate = n->op != OP_CAST || ir_attr_int(n, "saturate", 1);
	store_elem(c, t[0]->dt, y, cg_gep(c, store_type(c, t[0]->dt), c->buf[n->out], l.oy), saturate);
	ew_end(c, &l);
}

/* A fused chain: one loop over the result; each operand is loaded once
 * per element (broadcast by its strides) and the expression's terms are
 * computed in order, in registers, by the same cg_ew_compute. */
void cg_lower_fused_ew(Cg *c, const Node *n)
{
	IrEwExpr e;
	char why[160];
	if (!ir_ew_parse(ir_attr_str(n, "expr", ""), n->nin, &e, why, sizeof why))
		die("fused_ew not verified: %s", why);
	Type view[17];
	const Type *t[17];
	ew_types(c, n, view, t);
	EwLoop l;
	ew_begin(c, t, n->nin, &l);
	LLVMValueRef opv[16] = {0}, val[IR_EW_MAX] = {0};
	for (int i = 0; i < e.n; i++) {
		const IrEwTerm *tm = &e.t[i];
		if (tm->op == OP_COUNT) {
			if (!opv[tm->leaf])
				opv[tm->leaf] = cg_loadf(c, c->buf[n->in[tm->leaf]], l.off[tm->leaf]);
			val[i] = opv[tm->leaf];
			continue;
		}
		LLVMValueRef a[3];
		for (int k = 0; k < tm->nkid; k++)
			a[k] = val[tm->kid[k]];
		Node op = {.op = tm->op, .name = n->name, .src_op = n->src_op, .nin = tm->nkid, .nattr = tm->nattr,
			   .attr = (Attr *)tm->attr};
		val[i] = cg_ew_compute(c, &op, DT_F32, a);
	}
	cg_storef(c, val[e.n - 1], c->buf[n->out], l.oy);
	ew_end(c, &l);
}
