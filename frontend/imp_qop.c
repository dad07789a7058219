/* The quantized operators (the "QOperator" format): the standard domain's
 * QLinearConv, QLinearMatMul, ConvInteger and MatMulInteger, and the
 * com.microsoft ops onnxruntime.quantization writes (its contrib op
 * schemas, opset 1).  Each imports to the float op between dequantize and
 * quantize,
 *
 *     quantize(OP(dequantize(x), dequantize(w), dequantize(bias)))
 *
 * the quantization in the types when scales and zero points are constants
 * (imp_quant.c's fe_dequant and fe_quant), the shape the qdq pass turns into
 * the op's integer form (docs/ir.md, "Quantized values").  Weights stay
 * dequantize(a constant with a quantized type); an i32 bias at scale
 * s_x * s_w is dequantize(the i32 constant typed i32{q: s_x * s_w, 0}), per
 * output channel (its last axis) when the weights are.  Scales known only
 * at run time give the same arithmetic in f32 ops.
 *
 * ConvInteger and MatMulInteger have zero points but no scales: their
 * integers are read at scale 1, so the float op computes the int32
 * accumulator itself, quantized to i32{q: 1, 0} (round(acc) = acc) and
 * read back as plain i32 through a qview.  The float path is exact while
 * every partial sum stays below 2^24 in magnitude, which 8-bit data
 * guarantees only for K <= 258 terms (|x - z_x| * |w - z_w| <= 255 * 255);
 * past that f32 rounds the sums and only the integer form the qdq pass
 * makes of the pattern is exact.
 *
 * Dynamic quantization (quantize_dynamic: a zero point or scale computed
 * at run time, by DynamicQuantizeLinear) has no constant quantization to
 * put in a type.  MatMulInteger and ConvInteger with a run-time zero point
 * import to matmul_integer and conv_integer, whose zero points are operands; MatMulIntegerToFloat,
 * DynamicQuantizeMatMul and DynamicQuantizeLSTM to fe_int_product, that
 * op scaled to f32 by the run-time scale times the weights'. */
#include "importer.h"

#include <math.h>
#include <stdio.h>

#define MS "com.microsoft"

static ValueId opt_in(const ValueId *in, int nin, int i) { return i < nin ? in[i] : -1; }

/* v is int8 or uint8 (every quantized tensor here but QLinearMatMul's). */
static bool need_q8(Ctx *c, ValueId v, const char *what)
{
	DType dt = vtype(c, v)->dt;
	if (dt == DT_I8 || dt == DT_U8)
		return true;
	return fe_fail(c, "%s has dtype %s; %s takes int8 or uint8", what, ir_dtype_name(dt), c->sn->op);
}

/* The operands in bits of mask that are present hold one number each
 * (per-tensor scales and zero points). */
static bool need_scalars(Ctx *c, const ValueId *in, int nin, unsigned mask)
{
	for (int i = 0; i < nin; i++)
		if ((mask >> i & 1) && in[i] >= 0 && ir_type_numel(vtype(c, in[i])) != 1)
			return fe_fail(c, "input %d ('%s') must be a scalar (per-tensor quantization), got %lld values", i,
				    c->sn->in[i], (long long)ir_type_numel(vtype(c, in[i])));
	return true;
}

/* The inputs in bits of mask are present (required ones after an optional
 * one, which the op row's min_in cannot say). */
static bool need_inputs(Ctx *c, const ValueId *in, int nin, unsigned mask)
{
	for (int i = 0; i < 32; i++)
		if ((mask >> i & 1) && (i >= nin || in[i] < 0))
			return fe_fail(c, "input %d is required but empty", i);
	return true;
}

/* The dtype of a quantized result: its zero point's, else like's. */
static DType qdtype(Ctx *c, ValueId zp, ValueId like) { return vtype(c, zp >= 0 ? zp : like)->dt; }

/* An i32 bias b at scale sa * sb and zero 0 as f32: dequantize(b typed
 * i32{q: sa * sb[k], 0}) when both scales are constants (sa one number, sb
 * one or one per index of b's last axis, the product computed in f32),
 * else the f32 product. */
static ValueId bias_f32(Ctx *c, ValueId b, ValueId sa, ValueId sb)
{
	const Type *tb = vtype(c, b), *ta = vtype(c, sa), *ts = vtype(c, sb);
	if (tb->dt != DT_I32)
		return fail_v(c, "the bias has dtype %s; it must be int32", ir_dtype_name(tb->dt));
	int64_t n = ir_type_numel(ts);
	int axis = n == 1 ? -1 : tb->rank - 1;
	if (ir_value(c->g, sa)->kind == VAL_CONST && ir_value(c->g, sb)->kind == VAL_CONST && ta->dt == DT_F32 &&
	    ts->dt == DT_F32 && ir_type_numel(ta) == 1 && ts->rank <= 1 && n <= INT32_MAX &&
	    (n == 1 || (axis >= 0 && tb->dims[axis] == n))) {
		float *s = fe_filled(c, DT_F32, n, &(float){0});
		int32_t *z = fe_filled(c, DT_I32, n, &(int32_t){0});
		if (!s || !z)
			return fe_oom(c), -1;
		const float *fa = ir_value(c->g, sa)->data, *fb = ir_value(c->g, sb)->data;
		bool ok = true;
		for (int64_t k = 0; k < n; k++) {
			s[k] = fa[0] * fb[k];
			ok &= s[k] > 0 && isfinite(s[k]);
		}
		if (ok) {
			const Quant *q = ir_quant(c->g, axis, (int)n, s, z);
			ValueId bq = q ? fe_as_quantized(c, b, q) : (fe_oom(c), -1);
			return bq < 0 ? -1 : fe_emit(c, OP_DEQUANTIZE, &bq, 1, NULL, 0, NULL);
		}
	}
	ValueId s = fe_binary(c, OP_MUL, fe_to_f32(c, sa), fe_to_f32(c, sb), NULL);
	return fe_binary(c, OP_MUL, fe_to_f32(c, b), s, NULL);
}

/* f32 y holding an int32 accumulator, as plain i32: quantized to
 * i32{q: 1, 0}, then a qview without the quantization. */
static ValueId accumulator(Ctx *c, ValueId y, const char *out_name)
{
	ValueId q = fe_quant(c, y, -1, -1, 0, DT_I32, NULL);
	if (q < 0)
		return -1;
	const Type *t = vtype(c, q);
	TypeId plain = ir_type(c->g, DT_I32, t->rank, t->dims, NULL);
	return plain < 0 ? (fe_oom(c), -1) : fe_emit_as(c, OP_QVIEW, &q, 1, NULL, 0, out_name, plain);
}

/* The permutation from channels last ([N, spatial..., C]) to channels
 * first, or back. */
static void channels_perm(int r, bool to_first, int64_t *p)
{
	p[0] = 0;
	for (int i = 1; i < r; i++)
		p[i] = to_first ? (i == 1 ? r - 1 : i - 1) : (i == r - 1 ? 1 : i + 1);
}

static ValueId transpose(Ctx *c, ValueId x, const int64_t *perm, const char *out_name)
{
	if (x < 0)
		return -1;
	int64_t p[IR_MAX_RANK];
	int r = vtype(c, x)->rank;
	memcpy(p, perm, (size_t)r * sizeof *p);
	Attr a = ir_aints("perm", p, r);
	return fe_emit(c, OP_TRANSPOSE, &x, 1, &a, 1, out_name);
}

/* ---- the standard domain ----------------------------------------------------------------- */

/* QLinearConv(x, sx, zx, w, sw, zw, sy, zy, B?) ->
 *   quantize(conv(dequantize(x), dequantize(w), dequantize(B at sx * sw)), sy, zy) */
static bool imp_qlinear_conv(Ctx *c, const ValueId *in, int nin)
{
	if (!need_q8(c, in[0], "x") || !need_q8(c, in[3], "w") || !need_q8(c, in[7], "y_zero_point") ||
	    !need_scalars(c, in, nin, 1u << 1 | 1u << 2 | 1u << 6 | 1u << 7))
		return false;
	ValueId cv[3] = {fe_dequant(c, in[0], in[1], in[2], 0, NULL), fe_dequant(c, in[3], in[4], in[5], 0, NULL), -1};
	int n = 2;
	if (nin > 8 && in[8] >= 0) {
		cv[2] = bias_f32(c, in[8], in[1], in[4]);
		n = 3;
	}
	if (cv[0] < 0 || cv[1] < 0 || (n == 3 && cv[2] < 0))
		return false;
	ValueId y = fe_conv_of(c, cv, n, NULL);
	return fe_define(c, fe_quant(c, y, in[6], in[7], 0, vtype(c, in[7])->dt, c->sn->out[0]));
}

/* QLinearMatMul(a, sa, za, b, sb, zb, sy, zy) ->
 *   quantize(matmul(dequantize(a), dequantize(b)), sy, zy); a's scales
 *   per tensor or per row, b's per tensor or per column (float8: f32 ops) */
static bool imp_qlinear_matmul(Ctx *c, const ValueId *in, int nin)
{
	if (!need_scalars(c, in, nin, 1u << 6 | 1u << 7))
		return false;
	int ra = vtype(c, in[0])->rank, rb = vtype(c, in[3])->rank;
	ValueId a = fe_dequant(c, in[0], in[1], in[2], ra >= 2 ? ra - 2 : 0, NULL);
	ValueId b = fe_dequant(c, in[3], in[4], in[5], rb - 1, NULL);
	ValueId y = fe_binary(c, OP_MATMUL, a, b, NULL);
	return fe_define(c, fe_quant(c, y, in[6], in[7], 0, vtype(c, in[7])->dt, c->sn->out[0]));
}

/* A zero point or scale computed at run time (not a constant). */
static bool run_time(Ctx *c, ValueId v) { return v >= 0 && ir_value(c->g, v)->kind != VAL_CONST; }

/* ConvInteger(x, w, zx?, zw?) -> conv_integer(x, w, zx, zw) when a zero
 *   point is computed at run time (zw one or one per output channel); else
 *   qview(quantize(conv(dequantize(x), dequantize(w)) to i32{q: 1, 0})) as
 *   i32, x and w at scale 1 */
static bool imp_conv_integer(Ctx *c, const ValueId *in, int nin)
{
	if (!need_q8(c, in[0], "x") || !need_q8(c, in[1], "w") || !need_scalars(c, in, nin, 1u << 2))
		return false;
	ValueId zx = opt_in(in, nin, 2), zw = opt_in(in, nin, 3);
	const Type *tw = vtype(c, in[1]);
	if ((run_time(c, zx) || run_time(c, zw)) &&
	    (zw < 0 || ir_type_numel(vtype(c, zw)) == 1 || (vtype(c, zw)->rank == 1 && vtype(c, zw)->dims[0] == tw->dims[0]))) {
		ValueId ci[4] = {in[0], in[1], zx >= 0 ? zx : fe_scalar(c, vtype(c, in[0])->dt, 0),
				 zw >= 0 ? zw : fe_scalar(c, tw->dt, 0)};
		return fe_define(c, ci[2] < 0 || ci[3] < 0 ? -1 : fe_conv_integer_of(c, ci, c->sn->out[0]));
	}
	ValueId cv[2] = {fe_dequant(c, in[0], -1, opt_in(in, nin, 2), 0, NULL),
			 fe_dequant(c, in[1], -1, opt_in(in, nin, 3), 0, NULL)};
	ValueId y = cv[0] < 0 || cv[1] < 0 ? -1 : fe_conv_of(c, cv, 2, NULL);
	return fe_define(c, y < 0 ? -1 : accumulator(c, y, c->sn->out[0]));
}

/* Zero points matmul_integer takes: za one number, zb one or one per column of b. */
static bool int_zero_points(Ctx *c, ValueId b, ValueId za, ValueId zb)
{
	const Type *tb = vtype(c, b);
	int64_t n = tb->rank >= 2 ? tb->dims[tb->rank - 1] : 1;
	return (za < 0 || ir_type_numel(vtype(c, za)) == 1) &&
	       (zb < 0 || ir_type_numel(vtype(c, zb)) == 1 || (vtype(c, zb)->rank == 1 && vtype(c, zb)->dims[0] == n));
}

ValueId fe_int_product(Ctx *c, ValueId a, ValueId b, ValueId sa, ValueId za, ValueId sb, ValueId zb, const char *out_name)
{
	if (a < 0 || b < 0 || sa < 0 || sb < 0)
		return -1;
	ValueId mi[4] = {a, b, za >= 0 ? za : fe_scalar(c, vtype(c, a)->dt, 0), zb >= 0 ? zb : fe_scalar(c, vtype(c, b)->dt, 0)};
	ValueId acc = mi[2] < 0 || mi[3] < 0 ? -1 : fe_emit(c, OP_MATMUL_INTEGER, mi, 4, NULL, 0, NULL);
	ValueId s = fe_binary(c, OP_MUL, fe_to_f32(c, sa), fe_to_f32(c, sb), NULL);
	return fe_binary(c, OP_MUL, fe_to_f32(c, acc), s, out_name);
}

/* MatMulInteger(a, b, za?, zb?) -> matmul_integer(a, b, za, zb) when a zero
 *   point is computed at run time; else qview(quantize(matmul(dequantize(a),
 *   dequantize(b)) to i32{q: 1, 0})) as i32, a and b at scale 1; za per
 *   tensor or per row, zb per tensor or per column */
static bool imp_matmul_integer(Ctx *c, const ValueId *in, int nin)
{
	if (!need_q8(c, in[0], "A") || !need_q8(c, in[1], "B"))
		return false;
	ValueId za = opt_in(in, nin, 2), zb = opt_in(in, nin, 3);
	if ((run_time(c, za) || run_time(c, zb)) && int_zero_points(c, in[1], za, zb)) {
		ValueId mi[4] = {in[0], in[1], za >= 0 ? za : fe_scalar(c, vtype(c, in[0])->dt, 0),
				 zb >= 0 ? zb : fe_scalar(c, vtype(c, in[1])->dt, 0)};
		return fe_define(c, mi[2] < 0 || mi[3] < 0 ? -1 : fe_emit(c, OP_MATMUL_INTEGER, mi, 4, NULL, 0, c->sn->out[0]));
	}
	int ra = vtype(c, in[0])->rank, rb = vtype(c, in[1])->rank;
	ValueId a = fe_dequant(c, in[0], -1, opt_in(in, nin, 2), ra >= 2 ? ra - 2 : 0, NULL);
	ValueId b = fe_dequant(c, in[1], -1, opt_in(in, nin, 3), rb - 1, NULL);
	ValueId y = fe_binary(c, OP_MATMUL, a, b, NULL);
	return fe_define(c, y < 0 ? -1 : accumulator(c, y, c->sn->out[0]));
}

/* ---- com.microsoft ------------------------------------------------------------------------- */

/* QLinearAdd, QLinearMul(a, sa, za?, b, sb, zb?, sc, zc?) ->
 *   quantize(add|mul(dequantize(a), dequantize(b)), sc, zc), broadcasting */
static bool imp_qlinear_binary(Ctx *c, const ValueId *in, int nin)
{
	if (!need_inputs(c, in, nin, 0x58) || !need_q8(c, in[0], "A") || !need_q8(c, in[3], "B") ||
	    !fe_same_dtype(c, in[0], in[3]) || !need_scalars(c, in, nin, 0xf6))
		return false;
	Op op = !strcmp(c->sn->op, "QLinearAdd") ? OP_ADD : OP_MUL;
	ValueId a = fe_dequant(c, in[0], in[1], opt_in(in, nin, 2), 0, NULL);
	ValueId b = fe_dequant(c, in[3], in[4], opt_in(in, nin, 5), 0, NULL);
	ValueId y = fe_binary(c, op, a, b, NULL);
	return fe_define(c, fe_quant(c, y, in[6], opt_in(in, nin, 7), 0, qdtype(c, opt_in(in, nin, 7), in[0]), c->sn->out[0]));
}

/* QLinearConcat(sy, zy, (x, sx, zx)...; axis) ->
 *   quantize(concat(dequantize(x)...; axis), sy, zy) */
static bool imp_qlinear_concat(Ctx *c, const ValueId *in, int nin)
{
	int k = (nin - 2) / 3;
	if (nin < 5 || (nin - 2) % 3)
		return fe_fail(c, "takes Y_scale, Y_zero_point, then (tensor, scale, zero point) triples; got %d inputs", nin);
	if (!sa_get(c->sn, "axis"))
		return fe_fail(c, "attribute 'axis' is required");
	int64_t axis = sa_int(c->sn, "axis", 0);
	if (!need_q8(c, in[1], "Y_zero_point") || !need_scalars(c, in, nin, 3) ||
	    !fe_norm_axis(c, &axis, vtype(c, in[2])->rank, "axis"))
		return false;
	ValueId parts[21];
	for (int i = 0; i < k; i++) {
		const ValueId *t = in + 2 + 3 * i;
		char what[64];
		snprintf(what, sizeof what, "tensor %d", i);
		if (!need_q8(c, t[0], what) || !need_scalars(c, in, nin, 3u << (3 + 3 * i)) ||
		    (parts[i] = fe_dequant(c, t[0], t[1], t[2], 0, NULL)) < 0)
			return false;
	}
	Attr a = ir_ai("axis", axis);
	ValueId y = fe_emit(c, OP_CONCAT, parts, k, &a, 1, NULL);
	return fe_define(c, fe_quant(c, y, in[0], in[1], 0, vtype(c, in[1])->dt, c->sn->out[0]));
}

/* QLinearGlobalAveragePool(x, sx, zx, sy, zy; channels_last),
 * QLinearAveragePool(x, sx, zx?, sy, zy?; window, channels_last) ->
 *   quantize(global_avgpool|avgpool(dequantize(x)), sy, zy); channels_last:
 *   the integers transposed to channels first before, and back after */
static bool imp_qlinear_pool(Ctx *c, const ValueId *in, int nin)
{
	int r = vtype(c, in[0])->rank;
	bool last = sa_int(c->sn, "channels_last", 0) != 0;
	if (!need_inputs(c, in, nin, 8) || !need_q8(c, in[0], "X") || !need_scalars(c, in, nin, 0x1e))
		return false;
	if (r < 3)
		return fe_fail(c, "input must have rank >= 3, got rank %d", r);
	int64_t first[IR_MAX_RANK], back[IR_MAX_RANK];
	channels_perm(r, true, first);
	channels_perm(r, false, back);
	ValueId x = last ? transpose(c, in[0], first, NULL) : in[0];
	x = fe_dequant(c, x, in[1], opt_in(in, nin, 2), 0, NULL);
	ValueId y = !strcmp(c->sn->op, "QLinearGlobalAveragePool") ? fe_unary(c, OP_GLOBAL_AVGPOOL, x) : fe_avgpool_of(c, x, NULL);
	ValueId zy = opt_in(in, nin, 4);
	y = fe_quant(c, y, in[3], zy, 0, qdtype(c, zy, in[0]), last ? NULL : c->sn->out[0]);
	return fe_define(c, last ? transpose(c, y, back, c->sn->out[0]) : y);
}

/* QLinearLeakyRelu, QLinearSigmoid(x, sx, zx?, sy, zy?; alpha) ->
 *   quantize(leaky_relu|sigmoid(dequantize(x)), sy, zy) */
static bool imp_qlinear_unary(Ctx *c, const ValueId *in, int nin)
{
	if (!need_inputs(c, in, nin, 8) || !need_q8(c, in[0], "X") || !need_scalars(c, in, nin, 0x1e))
		return false;
	ValueId x = fe_dequant(c, in[0], in[1], opt_in(in, nin, 2), 0, NULL), y;
	if (!strcmp(c->sn->op, "QLinearLeakyRelu")) {
		Attr a = ir_af("alpha", sa_float(c->sn, "alpha", 0.01f));
		y = x < 0 ? -1 : fe_emit(c, OP_LEAKY_RELU, &x, 1, &a, 1, NULL);
	} else {
		y = fe_unary(c, OP_SIGMOID, x);
	}
	ValueId zy = opt_in(in, nin, 4);
	return fe_define(c, fe_quant(c, y, in[3], zy, 0, qdtype(c, zy, in[0]), c->sn->out[0]));
}

/* QLinearSoftmax(x, sx, zx?, sy, zy; axis = -1, opset) ->
 *   quantize(softmax(dequantize(x)), sy, zy), Softmax's meaning at the
 *   opset attribute (before 13: over all axes from axis on) */
static bool imp_qlinear_softmax(Ctx *c, const ValueId *in, int nin)
{
	if (!sa_get(c->sn, "opset"))
		return fe_fail(c, "attribute 'opset' is required");
	if (!need_inputs(c, in, nin, 8) || !need_q8(c, in[0], "X") || !need_scalars(c, in, nin, 0x1e))
		return false;
	bool old = sa_int(c->sn, "opset", 13) < 13;
	ValueId x = fe_dequant(c, in[0], in[1], opt_in(in, nin, 2), 0, NULL);
	ValueId y = x < 0 ? -1 : fe_softmax_of(c, OP_SOFTMAX, x, sa_int(c->sn, "axis", -1), old, NULL);
	ValueId zy = opt_in(in, nin, 4);
	return fe_define(c, fe_quant(c, y, in[3], zy, 0, qdtype(c, zy, in[0]), c->sn->out[0]));
}

/* QGemm(a, sa, za, b, sb, zb, C?, sy?, zy?; alpha, transA, transB) ->
 *   gemm(dequantize(a), dequantize(b), dequantize(C at sa * sb); alpha,
 *   beta = alpha), then quantize(sy, zy) when sy is given (else f32); b's
 *   scales per tensor or per column of op(b).  The spec's C scale is
 *   alpha / beta * sa * sb with beta 1: beta = alpha gives exactly that. */
static bool imp_qgemm(Ctx *c, const ValueId *in, int nin)
{
	int64_t ta = sa_int(c->sn, "transA", 0) != 0, tb = sa_int(c->sn, "transB", 0) != 0;
	double alpha = sa_float(c->sn, "alpha", 1.0);
	ValueId sy = opt_in(in, nin, 7), zy = opt_in(in, nin, 8);
	if (!need_q8(c, in[0], "A") || !need_q8(c, in[3], "B") || !need_scalars(c, in, nin, 0x186))
		return false;
	if (vtype(c, in[3])->rank != 2)
		return fe_fail(c, "B must be a matrix");
	ValueId g[3] = {fe_dequant(c, in[0], in[1], in[2], 0, NULL), fe_dequant(c, in[3], in[4], in[5], tb ? 0 : 1, NULL),
			nin > 6 && in[6] >= 0 ? bias_f32(c, in[6], in[1], in[4]) : -1};
	if (g[0] < 0 || g[1] < 0 || (nin > 6 && in[6] >= 0 && g[2] < 0))
		return false;
	Attr a[4] = {ir_af("alpha", alpha), ir_af("beta", alpha), ir_ai("trans_a", ta), ir_ai("trans_b", tb)};
	ValueId y = fe_emit(c, OP_GEMM, g, g[2] >= 0 ? 3 : 2, a, 4, sy >= 0 ? NULL : c->sn->out[0]);
	if (sy < 0 || y < 0)
		return fe_define(c, y);
	return fe_define(c, fe_quant(c, y, sy, zy, 0, qdtype(c, zy, in[0]), c->sn->out[0]));
}

/* DynamicQuantizeMatMul(a, b, sb, zb?, bias?) ->
 *   fe_int_product(a quantized to u8 over its range (DynamicQuantizeLinear), b) + bias;
 *   b's scales per tensor or per column (else the same numbers through
 *   matmul(dequantize(a), dequantize(b)) in f32) */
static bool imp_dynamic_quantize_matmul(Ctx *c, const ValueId *in, int nin)
{
	if (!need_q8(c, in[1], "B"))
		return false;
	ValueId sa, za, bias = opt_in(in, nin, 4), zb = opt_in(in, nin, 3);
	ValueId aq = fe_dynamic_quant(c, in[0], &sa, &za, NULL, NULL);
	if (int_zero_points(c, in[1], -1, zb) && int_zero_points(c, in[1], -1, in[2]) && vtype(c, in[2])->dt == DT_F32) {
		ValueId y = fe_int_product(c, aq, in[1], sa, za, in[2], zb, bias >= 0 ? NULL : c->sn->out[0]);
		return fe_define(c, bias >= 0 ? fe_binary(c, OP_ADD, y, fe_to_f32(c, bias), c->sn->out[0]) : y);
	}
	ValueId a = fe_dequant(c, aq, sa, za, 0, NULL);
	ValueId b = fe_dequant(c, in[1], in[2], opt_in(in, nin, 3), vtype(c, in[1])->rank - 1, NULL);
	ValueId y = a < 0 || b < 0 ? -1 : fe_emit(c, OP_MATMUL, (ValueId[]){a, b}, 2, NULL, 0, bias >= 0 ? NULL : c->sn->out[0]);
	return fe_define(c, bias >= 0 ? fe_binary(c, OP_ADD, y, bias, c->sn->out[0]) : y);
}

/* MatMulIntegerToFloat(a, b, sa, sb, za?, zb?, bias?) ->
 *   fe_int_product(a, b) + bias when a's scale or zero point is computed at
 *   run time (one number each), else matmul(dequantize(a), dequantize(b)) +
 *   bias; in the scales' float type; scales and zero points per tensor or
 *   per column (each operand's last axis) */
static bool imp_matmul_integer_to_float(Ctx *c, const ValueId *in, int nin)
{
	if (!need_q8(c, in[0], "A") || !need_q8(c, in[1], "B"))
		return false;
	DType dt = vtype(c, in[2])->dt;
	if (!ir_dtype_is_float(dt))
		return fe_fail(c, "a_scale has dtype %s; it must be float", ir_dtype_name(dt));
	const char *out = dt == DT_F32 ? c->sn->out[0] : NULL;
	ValueId bias = opt_in(in, nin, 6), za = opt_in(in, nin, 4), zb = opt_in(in, nin, 5), y;
	/* a's scale or zero point computed at run time: the integer product */
	if ((run_time(c, in[2]) || run_time(c, za)) && ir_type_numel(vtype(c, in[2])) == 1 &&
	    int_zero_points(c, in[1], za, zb) && int_zero_points(c, in[1], -1, in[3])) {
		y = fe_int_product(c, in[0], in[1], in[2], za, in[3], zb, bias >= 0 ? NULL : out);
		if (bias >= 0)
			y = fe_binary(c, OP_ADD, y, fe_to_f32(c, bias), out);
		return fe_define(c, y < 0 || out ? y : fe_cast_to(c, y, dt, c->sn->out[0]));
	}
	ValueId a = fe_dequant(c, in[0], in[2], opt_in(in, nin, 4), vtype(c, in[0])->rank - 1, NULL);
	ValueId b = fe_dequant(c, in[1], in[3], opt_in(in, nin, 5), vtype(c, in[1])->rank - 1, NULL);
	y = a < 0 || b < 0 ? -1 : fe_emit(c, OP_MATMUL, (ValueId[]){a, b}, 2, NULL, 0, bias >= 0 ? NULL : out);
	if (bias >= 0)
		y = fe_binary(c, OP_ADD, y, fe_to_f32(c, bias), out);
	return fe_define(c, y < 0 || out ? y : fe_cast_to(c, y, dt, c->sn->out[0]));
}

/* DynamicQuantizeLSTM(X, W, R, B?, sequence_lens?, initial_h?, initial_c?, P?,
 *   W_scale, W_zero_point, R_scale, R_zero_point) -> fe_lstm_dynamic: LSTM
 *   with W [dirs, in, 4h] and R [dirs, h, 4h] int8 and every product
 *   integer, X and the hidden state quantized at run time (onnxruntime's
 *   numerics) */
static bool imp_dynamic_quantize_lstm(Ctx *c, const ValueId *in, int nin)
{
	if (!need_inputs(c, in, nin, 0xf00))  /* W_scale, W_zero_point, R_scale, R_zero_point */
		return false;
	for (int i = 1; i <= 2; i++) {
		const char *what = i == 1 ? "W" : "R";
		const Type *t = vtype(c, in[i]), *ts = vtype(c, in[6 + 2 * i]), *tz = vtype(c, in[7 + 2 * i]);
		if (!need_q8(c, in[i], what))
			return false;
		if (t->rank != 3)
			return fe_fail(c, "%s must have rank 3 ([directions, rows, 4*hidden_size]), got rank %d", what, t->rank);
		int64_t dirs = t->dims[0], g = t->dims[2], ns = ir_type_numel(ts);
		bool shape_ok = ts->rank == tz->rank && ir_type_numel(tz) == ns &&
				(ns == dirs ? ts->rank == 1 : ns == dirs * g && ts->rank == 2);
		if (!shape_ok || tz->dt != t->dt || ts->dt != DT_F32)
			return fe_fail(c, "%s's scale (f32) and zero point (of %s's dtype) must both have [%lld] or [%lld, %lld] entries",
				       what, what, (long long)dirs, (long long)dirs, (long long)g);
	}
	return fe_lstm_dynamic(c, in, nin);
}

#define Q_POOL_ATTRS {"auto_pad", SA_STRING}, {"ceil_mode", SA_INT}, {"channels_last", SA_INT}, \
	{"count_include_pad", SA_INT}, {"kernel_shape", SA_INTS}, {"pads", SA_INTS}, {"strides", SA_INTS}

const OpSpec imp_qop_ops[] = {
	{"QLinearConv", 10, 22, 8, 9, 1, 0, imp_qlinear_conv, {CONV_ATTRS}},
	{"QLinearMatMul", 10, 22, 8, 8, 1, 0, imp_qlinear_matmul},
	{"ConvInteger", 10, 22, 2, 4, 1, 0, imp_conv_integer, {CONV_ATTRS}},
	{"MatMulInteger", 10, 22, 2, 4, 1, 0, imp_matmul_integer},
	/* com.microsoft, opset 1 (onnxruntime's contrib ops) */
	{"QuantizeLinear", 1, 22, 2, 3, 1, 0, fe_quantize_linear, {{"axis", SA_INT}}, false, MS},
	{"DequantizeLinear", 1, 22, 2, 3, 1, 0, fe_dequantize_linear, {{"axis", SA_INT}}, false, MS},
	{"QLinearAdd", 1, 22, 2, 8, 1, 0, imp_qlinear_binary, {{0}}, false, MS},
	{"QLinearMul", 1, 22, 2, 8, 1, 0, imp_qlinear_binary, {{0}}, false, MS},
	{"QLinearConcat", 1, 22, 5, 62, 1, 0, imp_qlinear_concat, {{"axis", SA_INT}}, false, MS},
	{"QLinearGlobalAveragePool", 1, 22, 5, 5, 1, 0, imp_qlinear_pool, {{"channels_last", SA_INT}}, false, MS},
	{"QLinearAveragePool", 1, 22, 2, 5, 1, 0, imp_qlinear_pool, {Q_POOL_ATTRS}, false, MS},
	{"QLinearLeakyRelu", 1, 22, 2, 5, 1, 0, imp_qlinear_unary, {{"alpha", SA_FLOAT}}, false, MS},
	{"QLinearSigmoid", 1, 22, 2, 5, 1, 0, imp_qlinear_unary, {{0}}, false, MS},
	{"QLinearSoftmax", 1, 22, 2, 5, 1, 0, imp_qlinear_softmax, {{"axis", SA_INT}, {"opset", SA_INT}}, false, MS},
	{"QGemm", 1, 22, 6, 9, 1, 0, imp_qgemm, {{"alpha", SA_FLOAT}, {"transA", SA_INT}, {"transB", SA_INT}}, false, MS},
	{"DynamicQuantizeMatMul", 1, 22, 3, 5, 1, 0, imp_dynamic_quantize_matmul, {{0}}, false, MS, true},
	{"MatMulIntegerToFloat", 1, 22, 4, 7, 1, 0, imp_matmul_integer_to_float, {{0}}, false, MS},
	{"DynamicQuantizeLSTM", 1, 22, 3, 12, 3, 0, imp_dynamic_quantize_lstm,
	 {{"activation_alpha", SA_FLOATS}, {"activation_beta", SA_FLOATS}, {"activations", SA_STRINGS}, {"clip", SA_FLOAT},
	  {"direction", SA_STRING}, {"hidden_size", SA_INT}, {"input_forget", SA_INT}}, true, MS},
	{NULL},
};
