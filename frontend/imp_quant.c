/* Quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
 * and the helpers the quantized operators' importers (imp_qop.c) are built
 * on.  Scales and zero points that are constants become the quantization
 * of a type (docs/ir.md, "Quantized values"): dequantize(x typed with it)
 * and quantize to it, the patterns the qdq pass turns into integer ops.
 * The other forms (scales computed at run time, blocked scales, float8,
 * 4-bit) go through f32 arithmetic, the same numbers. */
#include "importer.h"

#include <math.h>
#include <string.h>

/* v (a scale or zero point: scalar or 1-D along axis) shaped to broadcast
 * against a rank-r tensor. */
static ValueId along_axis(Ctx *c, ValueId v, int r, int64_t axis)
{
	const Type *t = vtype(c, v);
	if (t->rank == 0 || ir_type_numel(t) == 1 || r == 0 || t->rank == r)
		return v;  /* broadcasts as it is (full rank: blocked scales, expanded) */
	int64_t d[IR_MAX_RANK];
	for (int i = 0; i < r - axis; i++)
		d[i] = i == 0 ? t->dims[0] : 1;
	return fe_reshape_to(c, v, (int)(r - axis), d, NULL);
}

/* (x - zp) * scale in f32 (scale < 0: 1). */
static ValueId dequant(Ctx *c, ValueId x, ValueId scale, ValueId zp, int64_t axis)
{
	int r = vtype(c, x)->rank;
	ValueId xf = fe_to_f32(c, x);
	if (zp >= 0)
		xf = fe_binary(c, OP_SUB, xf, fe_to_f32(c, along_axis(c, zp, r, axis)), NULL);
	return scale < 0 ? xf : fe_binary(c, OP_MUL, xf, fe_to_f32(c, along_axis(c, scale, r, axis)), NULL);
}

/* The range of an integer quantized dtype (lo == hi: not one). */
static void qrange(DType dt, double *lo, double *hi)
{
	switch (dt) {
	case DT_U8: *lo = 0, *hi = 255; break;
	case DT_I8: *lo = -128, *hi = 127; break;
	case DT_U16: *lo = 0, *hi = 65535; break;
	case DT_I16: *lo = -32768, *hi = 32767; break;
	case DT_I32: *lo = -2147483648.0, *hi = 2147483647.0; break;
	case DT_U4: *lo = 0, *hi = 15; break;
	case DT_I4: *lo = -8, *hi = 7; break;
	default: *lo = 0, *hi = 0;
	}
}

/* saturate(round_half_even(x / scale) + zp) as dt (scale < 0: 1); for
 * float8, x / scale cast with the saturate flag (ONNX defines the zero
 * point as 0 there). */
static ValueId quant(Ctx *c, ValueId xf, ValueId scale, ValueId zp, int64_t axis, DType dt, bool saturate,
		     const char *out_name)
{
	int r = vtype(c, xf)->rank;
	if (ir_dtype_is_f8(dt)) {
		ValueId q = fe_binary(c, OP_DIV, xf, fe_to_f32(c, along_axis(c, scale, r, axis)), NULL);
		return q < 0 ? -1 : fe_emit_cast(c, q, dt, saturate, out_name);
	}
	double lo, hi;
	qrange(dt, &lo, &hi);
	if (lo == hi)
		return fe_fail(c, "quantization to %s is not supported", ir_dtype_name(dt)), -1;
	ValueId q = scale < 0 ? xf : fe_binary(c, OP_DIV, xf, fe_to_f32(c, along_axis(c, scale, r, axis)), NULL);
	q = fe_unary(c, OP_ROUND, q);
	if (zp >= 0)
		q = fe_binary(c, OP_ADD, q, fe_to_f32(c, along_axis(c, zp, r, axis)), NULL);
	if (q < 0)
		return -1;
	Attr a[2] = {ir_af("min", lo), ir_af("max", hi)};
	q = fe_emit(c, OP_CLIP, &q, 1, a, 2, NULL);
	return q < 0 ? -1 : fe_cast_to(c, q, dt, out_name);
}

/* Blocked quantization (opset 21): v has x's shape but ceil(D/B) entries
 * along axis; repeat each B times (and cut to D) so it lines up with x. */
static ValueId unblock(Ctx *c, ValueId v, ValueId x, int64_t axis, int64_t B)
{
	const Type *t = vtype(c, v), *tx = vtype(c, x);
	int r = t->rank;
	int64_t Db = t->dims[axis], D = tx->dims[axis];
	if (r != tx->rank || r >= IR_MAX_RANK || Db != (D + B - 1) / B)
		return fail_v(c, "blocked scale or zero point has the wrong shape for block_size %lld", (long long)B);
	int64_t d1[IR_MAX_RANK], d2[IR_MAX_RANK], d3[IR_MAX_RANK];
	for (int i = 0, k = 0; i < r; i++) {
		d1[k] = d2[k] = t->dims[i];
		k++;
		if (i == axis) {
			d1[k] = 1;
			d2[k++] = B;
		}
		d3[i] = i == axis ? Db * B : t->dims[i];
	}
	ValueId e = fe_reshape_to(c, v, r + 1, d1, NULL);
	Attr sh = ir_aints("shape", d2, r + 1);
	e = e < 0 ? -1 : fe_emit(c, OP_EXPAND, &e, 1, &sh, 1, NULL);
	e = fe_reshape_to(c, e, r, d3, NULL);
	if (Db * B != D && e >= 0) {
		int64_t st[IR_MAX_RANK] = {0}, sp[IR_MAX_RANK], n[IR_MAX_RANK];
		for (int i = 0; i < r; i++)
			sp[i] = 1, n[i] = i == axis ? D : d3[i];
		e = fe_slice_of(c, e, st, sp, n, NULL);
	}
	return e;
}

/* The quantization axis (it only matters for per-axis scales); blocked
 * scales and zero points are expanded to x's shape in place. */
static bool quant_axis(Ctx *c, ValueId x, ValueId *scale, ValueId *zp, int64_t *axis)
{
	*axis = sa_int(c->sn, "axis", 1);
	int r = vtype(c, x)->rank;
	int64_t B = sa_int(c->sn, "block_size", 0);
	if (B < 0)
		return fe_fail(c, "block_size must be positive");
	if (B > 0) {
		if (!fe_norm_axis(c, axis, r, "axis"))
			return false;
		*scale = unblock(c, *scale, x, *axis, B);
		if (*zp >= 0)
			*zp = unblock(c, *zp, x, *axis, B);
		return *scale >= 0 && (*zp >= 0 || *zp == -1);
	}
	if (ir_type_numel(vtype(c, *scale)) == 1) {
		*axis = 0;
		return true;
	}
	return fe_norm_axis(c, axis, r, "axis");
}

/* n entries of a constant scale (f32) or zero point (dt) that is a scalar
 * or 1-D; false unless it is. */
static bool const_entries(Ctx *c, ValueId v, DType dt, int64_t *n)
{
	const Type *t = vtype(c, v);
	*n = ir_type_numel(t);
	return ir_value(c->g, v)->kind == VAL_CONST && t->dt == dt && t->rank <= 1 && *n >= 1 && *n <= INT32_MAX;
}

const Quant *fe_const_quant(Ctx *c, ValueId scale, ValueId zp, int64_t axis, int r, const int64_t *dims, DType dt)
{
	if (dt != DT_I8 && dt != DT_U8 && dt != DT_I16 && dt != DT_U16 && dt != DT_I32)
		return NULL;
	int64_t ns = 1, nz = 1;
	if ((scale >= 0 && !const_entries(c, scale, DT_F32, &ns)) || (zp >= 0 && !const_entries(c, zp, dt, &nz)))
		return NULL;
	/* One entry on either side stands for all of the other's. */
	int64_t n = ns > nz ? ns : nz;
	if ((ns != 1 && ns != n) || (nz != 1 && nz != n) || (n != 1 && (axis < 0 || axis >= r || n != dims[axis])))
		return NULL;
	float *s = fe_filled(c, DT_F32, n, &(float){1});
	int32_t *z = fe_filled(c, DT_I32, n, &(int32_t){0});
	if (!s || !z)
		return fe_oom(c), NULL;
	for (int64_t i = 0; i < n; i++) {
		if (scale >= 0)
			s[i] = ((const float *)ir_value(c->g, scale)->data)[ns == 1 ? 0 : i];
		if (!(s[i] > 0) || !isfinite(s[i]))
			return NULL;
		if (zp >= 0)
			z[i] = (int32_t)src_load(ir_value(c->g, zp)->data, dt, nz == 1 ? 0 : i);
	}
	const Quant *q = ir_quant(c->g, n == 1 ? -1 : (int)axis, (int)n, s, z);
	if (!q)
		fe_oom(c);
	return q;
}

ValueId fe_as_quantized(Ctx *c, ValueId x, const Quant *q)
{
	const Type *t = vtype(c, x);
	if (t->q == q)
		return x;
	TypeId ty = ir_type(c->g, t->dt, t->rank, t->dims, q);
	if (ty < 0)
		return fe_oom(c), -1;
	const Value *v = ir_value(c->g, x);
	if (v->kind == VAL_CONST) {
		const char *name = fe_fresh_name(c, v->name, "q");
		ValueId k = name ? ir_add_const(c->g, name, ty, v->data) : -1;
		return k < 0 ? (fe_oom(c), -1) : k;
	}
	return fe_emit_as(c, OP_QVIEW, &x, 1, NULL, 0, NULL, ty);
}

ValueId fe_dequant(Ctx *c, ValueId x, ValueId scale, ValueId zp, int64_t axis, const char *out_name)
{
	if (x < 0)
		return -1;
	const Type *t = vtype(c, x);
	const Quant *q = fe_const_quant(c, scale, zp, axis, t->rank, t->dims, t->dt);
	if (q) {
		ValueId xq = fe_as_quantized(c, x, q);
		return xq < 0 ? -1 : fe_emit(c, OP_DEQUANTIZE, &xq, 1, NULL, 0, out_name);
	}
	if (c->oom)
		return -1;
	ValueId y = dequant(c, x, scale, zp, axis);
	return y < 0 || !out_name ? y : fe_emit(c, OP_IDENTITY, &y, 1, NULL, 0, out_name);
}

ValueId fe_quant(Ctx *c, ValueId y, ValueId scale, ValueId zp, int64_t axis, DType dt, const char *out_name)
{
	if (y < 0)
		return -1;
	const Type *t = vtype(c, y);
	const Quant *q = fe_const_quant(c, scale, zp, axis, t->rank, t->dims, dt);
	if (q) {
		TypeId ty = ir_type(c->g, dt, t->rank, t->dims, q);
		ValueId x = fe_to_f32(c, y);
		return ty < 0 ? (fe_oom(c), -1) : x < 0 ? -1 : fe_emit_as(c, OP_QUANTIZE, &x, 1, NULL, 0, out_name, ty);
	}
	if (c->oom)
		return -1;
	return quant(c, fe_to_f32(c, y), scale, zp, axis, dt, true, out_name);
}

/* QuantizeLinear(x, scale, zp?; axis, saturate, block_size, output_dtype) ->
 * quantize(x) to dt{q: scale, zp}; else round(x / scale) + zp, clipped and cast */
bool fe_quantize_linear(Ctx *c, const ValueId *in, int nin)
{
	int64_t axis;
	ValueId scale = in[1], zp = nin > 2 ? in[2] : -1;
	DType dt = zp >= 0 ? vtype(c, zp)->dt : DT_U8;
	if (!fe_need_float(c, in[0], "the input") || !quant_axis(c, in[0], &scale, &zp, &axis))
		return false;
	if (sa_get(c->sn, "output_dtype") && sa_int(c->sn, "output_dtype", 0))
		dt = ir_dtype_from_onnx((int)sa_int(c->sn, "output_dtype", 0));
	bool sat = sa_int(c->sn, "saturate", 1) != 0;
	if (!sa_int(c->sn, "block_size", 0) && (sat || !ir_dtype_is_f8(dt)))
		return fe_define(c, fe_quant(c, in[0], scale, zp, axis, dt, c->sn->out[0]));
	return fe_define(c, quant(c, fe_to_f32(c, in[0]), scale, zp, axis, dt, sat, c->sn->out[0]));
}

/* DequantizeLinear(x, scale, zp?; axis, block_size) -> dequantize(x typed
 * {q: scale, zp}); else (x - zp) * scale in f32, cast to scale's dtype */
bool fe_dequantize_linear(Ctx *c, const ValueId *in, int nin)
{
	int64_t axis;
	ValueId scale = in[1], zp = nin > 2 ? in[2] : -1;
	if (!quant_axis(c, in[0], &scale, &zp, &axis))
		return false;
	DType dt = vtype(c, in[1])->dt;
	if (dt == DT_F32 && !sa_int(c->sn, "block_size", 0))
		return fe_define(c, fe_dequant(c, in[0], scale, zp, axis, c->sn->out[0]));
	ValueId y = dequant(c, in[0], scale, zp, axis);
	return fe_define(c, y < 0 ? -1 : fe_emit(c, dt == DT_F32 ? OP_IDENTITY : OP_CAST, &y, 1,
					   (Attr[]){ir_astr("to", ir_dtype_name(dt))}, dt == DT_F32 ? 0 : 1, c->sn->out[0]));
}

ValueId fe_dynamic_quant(Ctx *c, ValueId x, ValueId *scale, ValueId *zp, const char *y_name, const char *zp_name)
{
	const Type *t = vtype(c, x);
	int64_t all[IR_MAX_RANK];
	for (int i = 0; i < t->rank; i++)
		all[i] = i;
	x = fe_to_f32(c, x);
	ValueId zero = fe_scalar(c, DT_F32, 0);
	ValueId lo = t->rank ? fe_reduce_axes(c, OP_REDUCE_MIN, x, all, t->rank, false, NULL) : x;
	ValueId hi = t->rank ? fe_reduce_axes(c, OP_REDUCE_MAX, x, all, t->rank, false, NULL) : x;
	lo = fe_binary(c, OP_MIN, lo, zero, NULL);
	hi = fe_binary(c, OP_MAX, hi, zero, NULL);
	*scale = fe_binary(c, OP_DIV, fe_binary(c, OP_SUB, hi, lo, NULL), fe_scalar(c, DT_F32, 255), NULL);
	/* x all zeros: the spec's scale 0 would divide 0 by 0; onnxruntime
	 * takes 1 (then y = zp = 0), and so does kiln */
	ValueId w[3] = {fe_binary(c, OP_EQUAL, *scale, zero, NULL), fe_scalar(c, DT_F32, 1), *scale};
	*scale = w[0] < 0 || w[1] < 0 || w[2] < 0 ? -1 : fe_emit(c, OP_WHERE, w, 3, NULL, 0, NULL);
	/* zp = saturate(round(0 - lo / scale)) */
	ValueId zf = fe_unary(c, OP_ROUND, fe_unary(c, OP_NEG, fe_binary(c, OP_DIV, lo, *scale, NULL)));
	*zp = -1;
	if (zf < 0)
		return -1;
	Attr a[2] = {ir_af("min", 0), ir_af("max", 255)};
	zf = fe_emit(c, OP_CLIP, &zf, 1, a, 2, NULL);
	*zp = zf < 0 ? -1 : fe_cast_to(c, zf, DT_U8, zp_name);
	return *zp < 0 ? -1 : quant(c, x, *scale, *zp, 0, DT_U8, true, y_name);
}

/* DynamicQuantizeLinear(x) -> y, scale, zp: u8 over the range of x and 0,
 * in f32 arithmetic (the scale is known only at run time, so it is a value,
 * not part of y's type: y is plain u8, read by matmul_integer with zp as an
 * operand) */
static bool imp_dynamic_quantize(Ctx *c, const ValueId *in, int nin)
{
	if (!fe_need_float(c, in[0], "the input"))
		return false;
	ValueId scale, zp;
	ValueId y = fe_dynamic_quant(c, in[0], &scale, &zp, c->sn->out[0], c->sn->nout > 2 && *c->sn->out[2] ? c->sn->out[2] : NULL);
	if (!fe_define(c, y) || !fe_define_at(c, 2, zp))
		return false;
	if (c->sn->nout > 1 && *c->sn->out[1])
		return fe_define_at(c, 1, fe_emit(c, OP_IDENTITY, &scale, 1, NULL, 0, c->sn->out[1]));
	return true;
}

const OpSpec imp_quant_ops[] = {
	{"QuantizeLinear", 10, 22, 2, 3, 1, 0, fe_quantize_linear,
	 {{"axis", SA_INT, 13, 0}, {"saturate", SA_INT, 19, 0}, {"block_size", SA_INT, 21, 0}, {"output_dtype", SA_INT, 21, 0}}},
	{"DequantizeLinear", 10, 22, 2, 3, 1, 0, fe_dequantize_linear, {{"axis", SA_INT, 13, 0}, {"block_size", SA_INT, 21, 0}}},
	{"DynamicQuantizeLinear", 11, 22, 1, 1, 3, 0, imp_dynamic_quantize, {{0}}, true},
	{NULL},
};
