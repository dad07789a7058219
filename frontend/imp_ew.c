/* The elementwise family: every ONNX op that maps one-to-one to an IR op
 * (ops.def's onnx column) goes through imp_ew; the others here translate
 * attributes (Gelu, IsInf, BitShift, Mod), convert operands (Pow, Cast) or
 * fold several operands (Sum, Mean, Min, Max, Clip's integer form). */
#include "importer.h"

#include <math.h>

/* The IR op an ONNX op maps to one-to-one (ops.def's onnx column). */
static Op op_for_onnx(const char *name)
{
	for (int i = 0; i < OP_COUNT; i++)
		if (strcmp(ir_ops[i].onnx, name) == 0)
			return (Op)i;
	return OP_COUNT;
}

/* Relu, Add, Sin, Where, LeakyRelu(alpha), ... -> the op of ops.def's onnx
 * column; operands of one dtype (Where: its two branches); the row's float
 * attributes copied with their defaults.  float_in rows want a float x. */
static bool imp_ew(Ctx *c, const ValueId *in, int nin)
{
	Op op = op_for_onnx(c->sn->op);
	if (op == OP_COUNT)
		die("no IR op for %s", c->sn->op);
	for (int i = op == OP_WHERE ? 2 : 1; i < nin; i++)
		if (!fe_same_dtype(c, in[op == OP_WHERE ? 1 : 0], in[i]))
			return false;
	Attr a[IMP_MAX_ATTRS];
	int na = 0;
	for (const AttrSpec *s = c->spec->attrs; s < c->spec->attrs + IMP_MAX_ATTRS && s->name; s++) {
		if (s->kind != SA_FLOAT)
			die("%s: imp_ew copies float attributes only", c->sn->op);
		a[na++] = ir_af(s->name, (double)(float)sa_float(c->sn, s->name, s->dflt));
	}
	return fe_emit_out(c, op, in, nin, na ? a : NULL, na);
}

/* Gelu(approximate) -> gelu, attr tanh */
static bool imp_gelu(Ctx *c, const ValueId *in, int nin)
{
	const char *ap = sa_str(c->sn, "approximate", "none");
	if (strcmp(ap, "none") && strcmp(ap, "tanh"))
		return fe_fail(c, "unsupported approximate '%s' (none or tanh)", ap);
	Attr a = ir_ai("tanh", strcmp(ap, "tanh") == 0);
	return fe_emit_out(c, OP_GELU, in, 1, &a, 1);
}

/* IsInf(detect_positive, detect_negative) -> isinf, attrs pos, neg */
static bool imp_isinf(Ctx *c, const ValueId *in, int nin)
{
	Attr a[2] = {ir_ai("pos", sa_int(c->sn, "detect_positive", 1) != 0),
		     ir_ai("neg", sa_int(c->sn, "detect_negative", 1) != 0)};
	return fe_emit_out(c, OP_ISINF, in, 1, a, 2);
}

/* BitShift(direction) -> bit_shift, attr left */
static bool imp_bitshift(Ctx *c, const ValueId *in, int nin)
{
	const char *dir = sa_str(c->sn, "direction", "");
	if (strcmp(dir, "LEFT") && strcmp(dir, "RIGHT"))
		return fe_fail(c, "attribute 'direction' must be LEFT or RIGHT, got '%s'", dir);
	Attr a = ir_ai("left", strcmp(dir, "LEFT") == 0);
	return fe_same_dtype(c, in[0], in[1]) && fe_emit_out(c, OP_BIT_SHIFT, in, 2, &a, 1);
}

/* Mod(fmod) -> mod, attr fmod (fmod=0 on integers only) */
static bool imp_mod(Ctx *c, const ValueId *in, int nin)
{
	int64_t fm = sa_int(c->sn, "fmod", 0);
	if (fm == 0 && ir_dtype_is_float(vtype(c, in[0])->dt))
		return fe_fail(c, "fmod=0 is not defined for floating-point inputs");
	Attr a = ir_ai("fmod", fm != 0);
	return fe_same_dtype(c, in[0], in[1]) && fe_emit_out(c, OP_MOD, in, 2, &a, 1);
}

/* Pow(x, y) -> pow(x, y cast to x's dtype) */
static bool imp_pow(Ctx *c, const ValueId *in, int nin)
{
	DType dt = vtype(c, in[0])->dt;
	if (!ir_dtype_is_float(dt) && dt != DT_I32 && dt != DT_I64)
		return fe_fail(c, "base dtype %s is not supported", ir_dtype_name(dt));
	ValueId v[2] = {in[0], fe_cast_to(c, in[1], dt, NULL)};
	return v[1] >= 0 && fe_emit_out(c, OP_POW, v, 2, NULL, 0);
}

/* Cast(to, saturate) -> cast */
static bool imp_cast(Ctx *c, const ValueId *in, int nin)
{
	int64_t code = sa_int(c->sn, "to", 0);
	DType to = ir_dtype_from_onnx((int)code);
	if (to == DT_UNDEF)
		return fe_fail(c, "cast to ONNX dtype %lld is not supported", (long long)code);
	return fe_define(c, fe_emit_cast(c, in[0], to, sa_int(c->sn, "saturate", 1) != 0, c->sn->out[0]));
}

/* CastLike(x, like, saturate) -> cast to like's dtype */
static bool imp_castlike(Ctx *c, const ValueId *in, int nin)
{
	return fe_define(c, fe_emit_cast(c, in[0], vtype(c, in[1])->dt, sa_int(c->sn, "saturate", 1) != 0, c->sn->out[0]));
}

/* Sum, Mean, Min, Max (x0, x1, ...) -> a left fold of add, add (then div
 * by the count), min, max; one operand -> identity */
static bool imp_variadic(Ctx *c, const ValueId *in, int nin)
{
	const char *name = c->sn->op;
	bool mean = !strcmp(name, "Mean");
	Op step = !strcmp(name, "Min") ? OP_MIN : !strcmp(name, "Max") ? OP_MAX : OP_ADD;
	for (int i = 1; i < nin; i++)
		if (!fe_same_dtype(c, in[0], in[i]))
			return false;
	ValueId acc = in[0];
	if (nin == 1)
		return fe_emit_out(c, OP_IDENTITY, in, 1, NULL, 0);
	for (int i = 1; i < nin; i++) {
		ValueId v[2] = {acc, in[i]};
		acc = fe_emit(c, step, v, 2, NULL, 0, i == nin - 1 && !mean ? c->sn->out[0] : NULL);
		if (acc < 0)
			return false;
	}
	if (mean) {
		DType dt = vtype(c, in[0])->dt;
		TypeId ty = ir_type(c->g, dt, 0, NULL, NULL);
		unsigned char buf[8];
		src_store(buf, dt, 0, (double)nin);
		ValueId k = ty < 0 ? -1 : ir_add_const(c->g, fe_fresh_name(c, fe_sn_base(c), "count"), ty, buf);
		if (k < 0)
			return fe_oom(c);
		ValueId v[2] = {acc, k};
		acc = fe_emit(c, OP_DIV, v, 2, NULL, 0, c->sn->out[0]);
	}
	return fe_define(c, acc);
}

/* Clip on integers: max then min with constants of the dtype. */
static bool clip_int(Ctx *c, ValueId x, double lo, double hi)
{
	DType dt = vtype(c, x)->dt;
	ValueId y = x;
	if (!isinf(lo))
		y = fe_binary(c, OP_MAX, y, fe_scalar(c, dt, lo), NULL);
	if (!isinf(hi))
		y = fe_binary(c, OP_MIN, y, fe_scalar(c, dt, hi), NULL);
	return fe_define(c, y < 0 ? -1 : fe_emit(c, OP_IDENTITY, &y, 1, NULL, 0, c->sn->out[0]));
}

/* Clip(x, min?, max?) or Clip(min, max) -> clip with constant bounds
 * (integers: max, min with constants of the dtype) */
static bool imp_clip(Ctx *c, const ValueId *in, int nin)
{
	double lo = -INFINITY, hi = INFINITY;
	if (c->opset < 11 || (nin < 2 && sa_get(c->sn, "min")))
		lo = sa_float(c->sn, "min", -INFINITY);
	if (c->opset < 11 || (nin < 3 && sa_get(c->sn, "max")))
		hi = sa_float(c->sn, "max", INFINITY);
	if (nin > 1 && in[1] >= 0 && !fe_const_scalar(c, in[1], "the 'min' input", &lo))
		return false;
	if (nin > 2 && in[2] >= 0 && !fe_const_scalar(c, in[2], "the 'max' input", &hi))
		return false;
	if (isnan(lo) || isnan(hi))
		return fe_fail(c, "clip bounds must not be NaN");
	if (!ir_dtype_is_float(vtype(c, in[0])->dt))
		return clip_int(c, in[0], lo, hi);
	Attr a[2] = {ir_af("min", isinf(lo) ? lo : (double)(float)lo), ir_af("max", isinf(hi) ? hi : (double)(float)hi)};
	return fe_emit_out(c, OP_CLIP, in, 1, a, 2);
}

/* Rows of ops imp_ew imports list their float attributes with the ONNX
 * default (.dflt); the IR attribute has the same name. */
const OpSpec imp_ew_ops[] = {
	{"Identity", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Abs", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Neg", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Exp", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Log", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Sqrt", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Reciprocal", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Floor", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Ceil", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Sin", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Cos", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Tan", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Asin", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Acos", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Atan", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Sinh", 9, 22, 1, 1, 1, 0, imp_ew},
	{"Cosh", 9, 22, 1, 1, 1, 0, imp_ew},
	{"Asinh", 9, 22, 1, 1, 1, 0, imp_ew},
	{"Acosh", 9, 22, 1, 1, 1, 0, imp_ew},
	{"Atanh", 9, 22, 1, 1, 1, 0, imp_ew},
	{"Erf", 9, 22, 1, 1, 1, 0, imp_ew},
	{"Round", 11, 22, 1, 1, 1, 0, imp_ew},
	{"Sign", 9, 22, 1, 1, 1, 0, imp_ew},
	{"Relu", 7, 22, 1, 1, 1, 0, imp_ew},
	{"LeakyRelu", 7, 22, 1, 1, 1, 0, imp_ew, {{"alpha", SA_FLOAT, .dflt = 0.01}}, .float_in = true},
	{"Sigmoid", 7, 22, 1, 1, 1, 0, imp_ew, .float_in = true},
	{"Tanh", 7, 22, 1, 1, 1, 0, imp_ew, .float_in = true},
	{"Softplus", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Softsign", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Mish", 18, 22, 1, 1, 1, 0, imp_ew},
	{"HardSwish", 14, 22, 1, 1, 1, 0, imp_ew},
	{"HardSigmoid", 7, 22, 1, 1, 1, 0, imp_ew, {{"alpha", SA_FLOAT, .dflt = 0.2}, {"beta", SA_FLOAT, .dflt = 0.5}}},
	{"Elu", 7, 22, 1, 1, 1, 0, imp_ew, {{"alpha", SA_FLOAT, .dflt = 1.0}}},
	{"Selu", 7, 22, 1, 1, 1, 0, imp_ew,
	 {{"alpha", SA_FLOAT, .dflt = 1.67326319217681884765625}, {"gamma", SA_FLOAT, .dflt = 1.05070102214813232421875}}},
	{"Celu", 12, 22, 1, 1, 1, 0, imp_ew, {{"alpha", SA_FLOAT, .dflt = 1.0}}},
	{"ThresholdedRelu", 10, 22, 1, 1, 1, 0, imp_ew, {{"alpha", SA_FLOAT, .dflt = 1.0}}},
	{"Shrink", 9, 22, 1, 1, 1, 0, imp_ew, {{"bias", SA_FLOAT, .dflt = 0.0}, {"lambd", SA_FLOAT, .dflt = 0.5}}},
	{"Gelu", 20, 22, 1, 1, 1, 0, imp_gelu, {{"approximate", SA_STRING}}},
	{"Not", 1, 22, 1, 1, 1, 0, imp_ew},
	{"BitwiseNot", 18, 22, 1, 1, 1, 0, imp_ew},
	{"IsNaN", 9, 22, 1, 1, 1, 0, imp_ew},
	{"IsInf", 10, 22, 1, 1, 1, 0, imp_isinf, {{"detect_positive", SA_INT}, {"detect_negative", SA_INT}}},
	{"Add", 7, 22, 2, 2, 1, 0, imp_ew},
	{"Sub", 7, 22, 2, 2, 1, 0, imp_ew},
	{"Mul", 7, 22, 2, 2, 1, 0, imp_ew},
	{"Div", 7, 22, 2, 2, 1, 0, imp_ew},
	{"Pow", 7, 22, 2, 2, 1, 0, imp_pow},
	{"Mod", 10, 22, 2, 2, 1, 0, imp_mod, {{"fmod", SA_INT}}},
	{"PRelu", 7, 22, 2, 2, 1, 0, imp_ew},
	{"Equal", 7, 22, 2, 2, 1, 0, imp_ew},
	{"Less", 7, 22, 2, 2, 1, 0, imp_ew},
	{"LessOrEqual", 12, 22, 2, 2, 1, 0, imp_ew},
	{"Greater", 7, 22, 2, 2, 1, 0, imp_ew},
	{"GreaterOrEqual", 12, 22, 2, 2, 1, 0, imp_ew},
	{"And", 1, 22, 2, 2, 1, 0, imp_ew},
	{"Or", 1, 22, 2, 2, 1, 0, imp_ew},
	{"Xor", 1, 22, 2, 2, 1, 0, imp_ew},
	{"BitwiseAnd", 18, 22, 2, 2, 1, 0, imp_ew},
	{"BitwiseOr", 18, 22, 2, 2, 1, 0, imp_ew},
	{"BitwiseXor", 18, 22, 2, 2, 1, 0, imp_ew},
	{"BitShift", 11, 22, 2, 2, 1, 0, imp_bitshift, {{"direction", SA_STRING}}},
	{"Where", 9, 22, 3, 3, 1, 0, imp_ew},
	{"Cast", 7, 22, 1, 1, 1, 0, imp_cast, {{"to", SA_INT}, {"saturate", SA_INT, 19, 0}}},
	{"CastLike", 15, 22, 2, 2, 1, 0, imp_castlike, {{"saturate", SA_INT, 19, 0}}},
	{"Sum", 7, 22, 1, 64, 1, 0, imp_variadic},
	{"Mean", 7, 22, 1, 64, 1, 0, imp_variadic},
	{"Min", 7, 22, 1, 64, 1, 0, imp_variadic},
	{"Max", 7, 22, 1, 64, 1, 0, imp_variadic},
	{"Clip", 7, 10, 1, 1, 1, 0, imp_clip, {{"min", SA_FLOAT}, {"max", SA_FLOAT}}},
	{"Clip", 11, 22, 1, 3, 1, 6, imp_clip, {{"min", SA_FLOAT, 0, 0, true}, {"max", SA_FLOAT, 0, 0, true}}},
	{NULL},
};
