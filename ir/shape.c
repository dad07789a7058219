/* Shape and type rules: one function per op family, dispatched through a
 * table indexed by Op.  Used by importers (ir_build), the parser and the
 * verifier, so every producer of IR agrees on what a node computes. */
#include "ir.h"
#include "act.h"

#include <stdarg.h>
#include <string.h>

/* One inference request.  Rules read operands and attributes through the
 * helpers below, which report a diagnostic and return false/NULL on any
 * problem, and fill `out`. */
typedef struct Ctx {
	Graph *g;
	Op op;
	const char *name;     /* node name for messages */
	const ValueId *in;
	int nin;
	const Attr *attrs;
	int nattr;
	Diag *d;
	const Type *declared; /* the node's declared result type, or NULL (quantized results read it) */
	Type out;             /* the rule fills this */
} Ctx;

static bool err(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool err(Ctx *c, const char *fmt, ...)
{
	const char *op = "?";
	if (c->op >= 0 && c->op < OP_COUNT)
		op = ir_ops[c->op].onnx[0] ? ir_ops[c->op].onnx : ir_ops[c->op].name;
	va_list ap;
	va_start(ap, fmt);
	diag_verror(c->d, c->g->file, c->name ? c->name : "", op, fmt, ap);
	va_end(ap);
	return false;
}

/* Operand i's type; only called for operands ir_infer_type validated. */
static const Type *T(Ctx *c, int i) { return ir_type_get(c->g, c->g->values.v[c->in[i]].type); }
static bool present(Ctx *c, int i) { return i < c->nin && c->in[i] >= 0; }

/* Type text for messages; each call site passes its own buffer. */
#define TS(t, buf) ir_type_str((t), (buf), sizeof (buf))

/* ---- attribute access ----------------------------------------------------- */

static const Attr *A(Ctx *c, const char *name)
{
	for (int i = 0; i < c->nattr; i++)
		if (c->attrs[i].name && strcmp(c->attrs[i].name, name) == 0)
			return &c->attrs[i];
	return NULL;
}

static const char *kind_name(AttrKind k)
{
	static const char *const names[] = {"an int", "a float", "ints", "floats", "a string"};
	return k >= ATTR_INT && k <= ATTR_STRING ? names[k] : "of an unknown kind";
}

static const Attr *need_attr(Ctx *c, const char *name, AttrKind kind)
{
	const Attr *a = A(c, name);
	if (!a)
		return err(c, "attribute '%s' (%s) is missing", name, kind_name(kind)), NULL;
	if (a->kind != kind)
		return err(c, "attribute '%s' must be %s, not %s", name, kind_name(kind), kind_name(a->kind)), NULL;
	return a;
}

static bool need_int(Ctx *c, const char *name, int64_t *v)
{
	const Attr *a = need_attr(c, name, ATTR_INT);
	if (a)
		*v = a->i;
	return a != NULL;
}

/* An int attribute that is a flag: 0 or 1. */
static bool need_flag(Ctx *c, const char *name, int64_t *v)
{
	if (!need_int(c, name, v))
		return false;
	return (*v == 0 || *v == 1) || err(c, "attribute '%s' is %lld; it must be 0 or 1", name, (long long)*v);
}

static bool need_float(Ctx *c, const char *name)
{
	return need_attr(c, name, ATTR_FLOAT) != NULL;
}

/* ints attribute with exactly n values (any count when n < 0). */
static const int64_t *need_ints(Ctx *c, const char *name, int n)
{
	const Attr *a = need_attr(c, name, ATTR_INTS);
	if (!a)
		return NULL;
	if (a->n < 0 || (n >= 0 && a->n != n))
		return err(c, "attribute '%s' has %d values, expected %d", name, a->n, n), NULL;
	static const int64_t none[1];
	return a->ints ? a->ints : none;
}

/* ---- operand checks --------------------------------------------------------- */

static bool need_float_dtype(Ctx *c, int i)
{
	if (!ir_dtype_is_float(T(c, i)->dt)) {
		char b[128];
		return err(c, "operand %d is %s; this op needs a floating-point dtype", i, TS(T(c, i), b));
	}
	return true;
}

static bool same_dtype(Ctx *c, int i, int j)
{
	if (T(c, i)->dt != T(c, j)->dt) {
		char a[128], b[128];
		return err(c, "operand dtypes differ: %s and %s", TS(T(c, i), a), TS(T(c, j), b));
	}
	return true;
}

static bool need_rank_min(Ctx *c, int i, int rank)
{
	if (T(c, i)->rank < rank) {
		char b[128];
		return err(c, "operand %d is %s; it must have rank >= %d", i, TS(T(c, i), b), rank);
	}
	return true;
}

/* ---- results ------------------------------------------------------------------ */

static void set_out(Ctx *c, DType dt, int rank, const int64_t *dims)
{
	c->out.dt = dt;
	c->out.rank = rank;
	for (int i = 0; i < rank; i++)
		c->out.dims[i] = dims[i];
}

static void same_as_operand(Ctx *c, int i, bool keep_quant)
{
	c->out = *T(c, i);
	if (!keep_quant)
		c->out.q = NULL;
}

/* ---- quantized operands and results (docs/ir.md, "Quantized values") ---------------- */

static bool is_q8(DType dt) { return dt == DT_I8 || dt == DT_U8; }

static bool quantized(Ctx *c, int i) { return present(c, i) && T(c, i)->q; }

/* Operand i is quantized per tensor and 8-bit (what the integer kernels take). */
static bool need_q8(Ctx *c, int i, const char *what)
{
	const Type *t = T(c, i);
	char b[128];
	if (!t->q || t->q->axis >= 0 || !is_q8(t->dt))
		return err(c, "%s %s must be i8 or u8 quantized per tensor", what, TS(t, b));
	return true;
}

/* Weights: 8-bit, quantized per tensor or per channel along axis (n ==
 * dims[axis]; axis -1: per tensor only). */
static bool need_q8_weights(Ctx *c, int i, int axis)
{
	const Type *t = T(c, i);
	char b[128];
	if (!t->q || !is_q8(t->dt) || (t->q->axis >= 0 && (t->q->axis != axis || t->q->n != t->dims[axis]))) {
		if (axis < 0)
			return err(c, "weights %s must be i8 or u8 quantized per tensor", TS(t, b));
		return err(c, "weights %s must be i8 or u8 quantized per tensor or along axis %d", TS(t, b), axis);
	}
	return true;
}

static double max_scale(const Quant *q)
{
	double m = 0;
	for (int i = 0; i < q->n; i++)
		m = q->scale[i] > m ? q->scale[i] : m;
	return m;
}

/* The integer code rescales by r (e.g. s_x * s_w / s_y) with a 31-bit
 * multiplier and a shift (ir_requant_of): r must be below 2^30. */
static bool ratio_ok(Ctx *c, double r)
{
	if (!(r > 0) || !(r < 1073741824.0))
		return err(c, "the integer form cannot rescale to the result's scale: ratio %g is outside (0, 2^30)", r);
	return true;
}

/* The rescale each integer form does, checked once the result's
 * quantization is known: products of the operands' scales over the
 * result's (conv, gemm, matmul, mul), the larger operand's (add: its
 * rescale works at 2^-20 of it), the operand's (pools; quantize: per channel),
 * 1 (softmax). */
static bool integer_ratio(Ctx *c)
{
	double sy = max_scale(c->out.q), s0 = max_scale(T(c, 0)->q), s1 = c->nin > 1 && quantized(c, 1) ? max_scale(T(c, 1)->q) : 1;
	switch (c->op) {
	case OP_CONV: case OP_GEMM: case OP_MATMUL: case OP_MUL: return ratio_ok(c, s0 * s1 / sy);
	case OP_ADD: return ratio_ok(c, 2 * (s0 > s1 ? s0 : s1) / (1048576.0 * sy));
	case OP_SOFTMAX: return ratio_ok(c, 1 / sy);
	case OP_QUANTIZE: {  /* per channel on either side */
		const Quant *qx = T(c, 0)->q, *qy = c->out.q;
		for (int k = 0; k < (qx->n > qy->n ? qx->n : qy->n); k++)
			if (!ratio_ok(c, (double)qx->scale[qx->n > 1 ? k : 0] / qy->scale[qy->n > 1 ? k : 0]))
				return false;
		return true;
	}
	default: return ratio_ok(c, s0 / sy);
	}
}

/* The result's quantization is the node's choice: take dtype and
 * quantization from the declared result type (an integer type quantized
 * per tensor; per_axis also admits a quantization along an axis). */
static bool declared_quant(Ctx *c, bool per_axis)
{
	const Type *t = c->declared;
	char b[128];
	if (!t || !t->q)
		return err(c, "a quantized %s needs a declared quantized result type", ir_ops[c->op].name);
	bool dt_ok = t->dt == DT_I8 || t->dt == DT_U8 || t->dt == DT_I16 || t->dt == DT_U16 || t->dt == DT_I32;
	if (!dt_ok || (!per_axis && t->q->axis >= 0))
		return err(c, "declared result %s must be i8, u8, i16, u16 or i32 quantized per tensor%s", TS(t, b),
			   per_axis ? " or per axis" : "");
	c->out.dt = t->dt;
	c->out.q = t->q;
	if (t->q->axis >= 0 && (t->q->axis >= c->out.rank || t->q->n != c->out.dims[t->q->axis]))
		return err(c, "declared result %s: its quantization axis does not fit the shape", TS(t, b));
	return true;
}

/* Data movement keeps a per-tensor quantization (per axis: not yet). */
static bool keep_tensor_quant(Ctx *c)
{
	const Type *x = T(c, 0);
	if (x->q && x->q->axis >= 0)
		return err(c, "%s of a value quantized per axis is not supported", ir_ops[c->op].name);
	c->out.q = x->q;
	return true;
}

/* A fused activation of an integer op must be a bound on the result (relu, clip). */
static bool integer_epilogue(Ctx *c)
{
	const Attr *a = A(c, "act");
	if (a && a->kind == ATTR_STRING && a->s && strcmp(a->s, "relu") && strcmp(a->s, "clip"))
		return err(c, "the integer form takes only relu or clip as its activation, not '%s'", a->s);
	return true;
}

bool ir_broadcast(int ra, const int64_t *a, int rb, const int64_t *b, int *rout, int64_t *out)
{
	int r = ra > rb ? ra : rb;
	if (ra < 0 || rb < 0 || r > IR_MAX_RANK)
		return false;
	for (int i = 0; i < r; i++) {
		int64_t x = i < r - ra ? 1 : a[i - (r - ra)];
		int64_t y = i < r - rb ? 1 : b[i - (r - rb)];
		if (x != y && x != 1 && y != 1)
			return false;
		out[i] = x == 1 ? y : x;
	}
	*rout = r;
	return true;
}

/* ---- elementwise ------------------------------------------------------------------ */

static bool r_identity(Ctx *c)
{
	same_as_operand(c, 0, true);
	return true;
}

/* ---- the broadcasting elementwise family: every OPF_EW op but identity ------------------- */

/* Which dtypes an elementwise op accepts and what it yields. */
typedef enum EwKind {
	EW_FLOAT,      /* floats in, same out (the default) */
	EW_NUMERIC,    /* any non-bool, same out */
	EW_SIGNED,     /* signed integers or floats, same out */
	EW_BOOL,       /* bool in, bool out */
	EW_INT,        /* integers in, same out */
	EW_UINT,       /* unsigned integers in, same out */
	EW_CMP,        /* same dtype in (bool allowed for equal), bool out */
	EW_TEST,       /* floats in, bool out */
	EW_CAST,       /* any in, attr to out */
	EW_ANY,        /* any in, same out */
	EW_WHERE,      /* bool, T, T -> T */
} EwKind;

/* What each kind needs, for messages. */
static const char *const ew_needs[] = {
	[EW_FLOAT] = "a floating-point dtype", [EW_NUMERIC] = "a numeric dtype",
	[EW_SIGNED] = "a signed or floating-point dtype", [EW_BOOL] = "bool", [EW_INT] = "an integer dtype",
	[EW_UINT] = "an unsigned integer dtype", [EW_CMP] = "a numeric dtype", [EW_TEST] = "a floating-point dtype",
	[EW_CAST] = "any dtype", [EW_ANY] = "any dtype", [EW_WHERE] = "a bool condition",
};

/* Ops not listed are EW_FLOAT. */
static const EwKind ew_kinds[OP_COUNT] = {
	[OP_ADD] = EW_NUMERIC, [OP_SUB] = EW_NUMERIC, [OP_MUL] = EW_NUMERIC, [OP_DIV] = EW_NUMERIC,
	[OP_ABS] = EW_NUMERIC, [OP_NEG] = EW_SIGNED,
	[OP_SIGN] = EW_NUMERIC, [OP_MIN] = EW_NUMERIC, [OP_MAX] = EW_NUMERIC, [OP_MOD] = EW_NUMERIC, [OP_POW] = EW_NUMERIC,
	[OP_NOT] = EW_BOOL, [OP_AND] = EW_BOOL, [OP_OR] = EW_BOOL, [OP_XOR] = EW_BOOL,
	[OP_BITWISE_NOT] = EW_INT, [OP_BITWISE_AND] = EW_INT, [OP_BITWISE_OR] = EW_INT, [OP_BITWISE_XOR] = EW_INT,
	[OP_BIT_SHIFT] = EW_UINT,
	[OP_EQUAL] = EW_CMP, [OP_LESS] = EW_CMP, [OP_LESS_EQUAL] = EW_CMP, [OP_GREATER] = EW_CMP, [OP_GREATER_EQUAL] = EW_CMP,
	[OP_ISNAN] = EW_TEST, [OP_ISINF] = EW_TEST,
	[OP_CAST] = EW_CAST, [OP_EXPAND] = EW_ANY, [OP_WHERE] = EW_WHERE,
};

/* Float attributes each op needs. */
static bool ew_attrs(Ctx *c)
{
	static const struct { Op op; const char *a[2]; } need[] = {
		{OP_LEAKY_RELU, {"alpha"}}, {OP_CLIP, {"min", "max"}}, {OP_HARD_SIGMOID, {"alpha", "beta"}}, {OP_ELU, {"alpha"}}, {OP_SELU, {"alpha", "gamma"}},
		{OP_CELU, {"alpha"}}, {OP_THRESHOLDED_RELU, {"alpha"}}, {OP_SHRINK, {"bias", "lambd"}},
	};
	int64_t v;
	for (unsigned i = 0; i < sizeof need / sizeof need[0]; i++)
		if (need[i].op == c->op)
			for (int k = 0; k < 2 && need[i].a[k]; k++)
				if (!need_float(c, need[i].a[k]))
					return false;
	switch (c->op) {
	case OP_GELU: return need_flag(c, "tanh", &v);
	case OP_ISINF: return need_flag(c, "pos", &v) && need_flag(c, "neg", &v);
	case OP_MOD: return need_flag(c, "fmod", &v);
	case OP_BIT_SHIFT: return need_flag(c, "left", &v);
	default: return true;
	}
}

/* Ops that read every operand (variadic ones among them): none omitted. */
static bool all_present(Ctx *c)
{
	for (int i = 0; i < c->nin; i++)
		if (c->in[i] < 0)
			return err(c, "operand %d is omitted; %s reads every operand", i, ir_ops[c->op].name);
	return true;
}

static bool r_ew(Ctx *c)
{
	if (!all_present(c))
		return false;
	if (quantized(c, 0) || (c->nin > 1 && quantized(c, 1))) {
		if (c->op == OP_IDENTITY)
			return r_identity(c);
		for (int i = 0; i < c->nin; i++)
			if (!need_q8(c, i, "operand"))
				return false;
	}
	EwKind k = ew_kinds[c->op];
	int first = k == EW_WHERE ? 1 : 0;
	DType dt = T(c, first)->dt;
	char s1[128], s2[128];
	for (int i = first + 1; i < c->nin; i++)
		if (!same_dtype(c, first, i))
			return false;
	bool ok;
	switch (k) {
	case EW_FLOAT: case EW_TEST: ok = ir_dtype_is_float(dt); break;
	case EW_NUMERIC: ok = dt != DT_BOOL; break;
	case EW_SIGNED: ok = ir_dtype_is_float(dt) || ir_dtype_is_signed(dt); break;
	case EW_BOOL: ok = dt == DT_BOOL; break;
	case EW_INT: ok = dt != DT_BOOL && !ir_dtype_is_float(dt); break;
	case EW_UINT: ok = dt == DT_U8 || dt == DT_U16 || dt == DT_U32 || dt == DT_U64; break;
	case EW_CMP: ok = dt != DT_BOOL || c->op == OP_EQUAL; break;
	case EW_WHERE: ok = T(c, 0)->dt == DT_BOOL; break;
	default: ok = true;
	}
	if (!ok)
		return err(c, "operand %d is %s; %s needs %s", first, TS(T(c, first), s1), ir_ops[c->op].name, ew_needs[k]);
	if (!ew_attrs(c))
		return false;
	int r = T(c, 0)->rank;
	int64_t d[IR_MAX_RANK];
	memcpy(d, T(c, 0)->dims, sizeof d);
	for (int i = 1; i < c->nin; i++) {
		const Type *b = T(c, i);
		int64_t prev[IR_MAX_RANK];
		memcpy(prev, d, sizeof prev);
		if (!ir_broadcast(r, prev, b->rank, b->dims, &r, d))
			return err(c, "input shapes %s and %s cannot be broadcast", TS(T(c, 0), s1), TS(b, s2));
	}
	if (c->op == OP_EXPAND) {
		const Attr *sh = need_attr(c, "shape", ATTR_INTS);
		if (!sh)
			return false;
		int64_t prev[IR_MAX_RANK];
		memcpy(prev, d, sizeof prev);
		if (sh->n > IR_MAX_RANK || !ir_broadcast(r, prev, sh->n, sh->ints, &r, d))
			return err(c, "%s cannot be expanded to the attr shape", TS(T(c, 0), s1));
	}
	DType out = dt;
	if (k == EW_CMP || k == EW_TEST)
		out = DT_BOOL;
	if (k == EW_CAST) {
		const Attr *to = need_attr(c, "to", ATTR_STRING);
		if (!to)
			return false;
		out = ir_dtype_from_name(to->s);
		if (out == DT_UNDEF)
			return err(c, "attribute 'to' names no dtype: '%s'", to->s);
		/* saturate: what a cast to float8 does out of range (ONNX's attribute). */
		int64_t v;
		if (ir_dtype_is_f8(out) && !need_flag(c, "saturate", &v))
			return false;
		if (!ir_dtype_is_f8(out) && A(c, "saturate"))
			return err(c, "attribute 'saturate' applies only to casts to float8");
	}
	if (c->op == OP_PRELU) {
		const Type *x = T(c, 0);
		if (r != x->rank || memcmp(d, x->dims, sizeof(int64_t) * (size_t)r) != 0)
			return err(c, "slope %s does not broadcast to x %s", TS(T(c, 1), s1), TS(x, s2));
	}
	set_out(c, out, r, d);
	return !quantized(c, 0) || (declared_quant(c, false) && integer_ratio(c));
}

/* fused_ew: f32 operands broadcast together; the expression names only
 * fusable elementwise ops, each with the attributes it needs. */
static bool r_fused_ew(Ctx *c)
{
	if (!all_present(c))
		return false;
	const Attr *ex = need_attr(c, "expr", ATTR_STRING);
	if (!ex)
		return false;
	IrEwExpr e;
	char why[160], s1[128], s2[128];
	if (!ir_ew_parse(ex->s, c->nin, &e, why, sizeof why))
		return err(c, "%s", why);
	for (int t = 0; t < e.n; t++) {
		if (e.t[t].op == OP_COUNT)
			continue;
		Ctx sub = *c;
		sub.op = e.t[t].op;
		sub.attrs = e.t[t].attr;
		sub.nattr = e.t[t].nattr;
		if (!ew_attrs(&sub))
			return false;
	}
	int r = 0;
	int64_t d[IR_MAX_RANK] = {0};
	for (int i = 0; i < c->nin; i++) {
		const Type *b = T(c, i);
		if (b->dt != DT_F32)
			return err(c, "operand %d is %s; fused elementwise nodes compute in f32", i, TS(b, s1));
		int64_t prev[IR_MAX_RANK];
		memcpy(prev, d, sizeof prev);
		if (!ir_broadcast(r, prev, b->rank, b->dims, &r, d))
			return err(c, "input shapes %s and %s cannot be broadcast", TS(T(c, 0), s1), TS(b, s2));
	}
	set_out(c, DT_F32, r, d);
	return true;
}

/* ---- indexing and data movement ------------------------------------------------------ */

static bool need_axis(Ctx *c, int rank, int64_t *axis)
{
	if (!need_int(c, "axis", axis))
		return false;
	if (*axis < 0 || *axis >= rank)
		return err(c, "axis %lld is out of range for rank %d", (long long)*axis, rank);
	return true;
}

static bool need_index_dtype(Ctx *c, int i)
{
	DType dt = T(c, i)->dt;
	if (dt != DT_I32 && dt != DT_I64) {
		char b[128];
		return err(c, "indices are %s; they must be i32 or i64", TS(T(c, i), b));
	}
	return true;
}

static bool r_softmax_like(Ctx *c)
{
	int64_t axis;
	if (!need_float_dtype(c, 0) || !need_axis(c, T(c, 0)->rank, &axis))
		return false;
	same_as_operand(c, 0, false);
	return true;
}

static bool r_slice(Ctx *c)
{
	const Type *x = T(c, 0);
	const int64_t *st = need_ints(c, "starts", x->rank), *sp = need_ints(c, "steps", x->rank);
	const int64_t *dm = need_ints(c, "dims", x->rank);
	if (!st || !sp || !dm)
		return false;
	for (int i = 0; i < x->rank; i++) {
		if (dm[i] < 0 || sp[i] == 0)
			return err(c, "axis %d: dims must be >= 0 and steps non-zero", i);
		if (dm[i] == 0)
			continue;
		int64_t last = st[i] + (dm[i] - 1) * sp[i];
		if (st[i] < 0 || st[i] >= x->dims[i] || last < 0 || last >= x->dims[i])
			return err(c, "axis %d: elements %lld..%lld are outside 0..%lld", i, (long long)st[i], (long long)last,
				   (long long)x->dims[i] - 1);
	}
	set_out(c, x->dt, x->rank, dm);
	return keep_tensor_quant(c);
}

static bool r_gather(Ctx *c)
{
	const Type *x = T(c, 0), *ix = T(c, 1);
	int64_t axis;
	if (!need_index_dtype(c, 1) || !need_axis(c, x->rank, &axis))
		return false;
	if (c->op == OP_GATHER_ELEMENTS) {
		if (ix->rank != x->rank)
			return err(c, "indices have rank %d, data rank %d", ix->rank, x->rank);
		set_out(c, x->dt, ix->rank, ix->dims);
		return keep_tensor_quant(c);
	}
	int r = x->rank - 1 + ix->rank;
	if (r > IR_MAX_RANK)
		return err(c, "result rank %d exceeds %d", r, IR_MAX_RANK);
	int64_t d[IR_MAX_RANK];
	int k = 0;
	for (int i = 0; i < axis; i++)
		d[k++] = x->dims[i];
	for (int i = 0; i < ix->rank; i++)
		d[k++] = ix->dims[i];
	for (int i = (int)axis + 1; i < x->rank; i++)
		d[k++] = x->dims[i];
	set_out(c, x->dt, r, d);
	return keep_tensor_quant(c);
}

static bool r_trilu(Ctx *c)
{
	int64_t v;
	if (!need_rank_min(c, 0, 2) || !need_flag(c, "upper", &v) || !need_int(c, "k", &v))
		return false;
	same_as_operand(c, 0, false);
	return true;
}

static bool r_arg(Ctx *c)
{
	const Type *x = T(c, 0);
	int64_t axis, keep, last;
	if (x->dt == DT_BOOL || !need_axis(c, x->rank, &axis) || !need_flag(c, "keepdims", &keep) ||
	    !need_flag(c, "last", &last))
		return x->dt == DT_BOOL ? err(c, "bool input") : false;
	int64_t d[IR_MAX_RANK];
	int r = 0;
	for (int i = 0; i < x->rank; i++)
		if (i != axis)
			d[r++] = x->dims[i];
		else if (keep)
			d[r++] = 1;
	set_out(c, DT_I64, r, d);
	return true;
}

static bool r_cumsum(Ctx *c)
{
	int64_t axis, v;
	const Type *x = T(c, 0);
	if (x->dt == DT_BOOL || !need_axis(c, x->rank, &axis) || !need_flag(c, "exclusive", &v) ||
	    !need_flag(c, "reverse", &v))
		return x->dt == DT_BOOL ? err(c, "bool input") : false;
	same_as_operand(c, 0, false);
	return true;
}

static bool r_tile(Ctx *c)
{
	const Type *x = T(c, 0);
	const int64_t *rep = need_ints(c, "repeats", x->rank);
	if (!rep)
		return false;
	int64_t d[IR_MAX_RANK];
	for (int i = 0; i < x->rank; i++) {
		if (rep[i] < 0 || (x->dims[i] && rep[i] > INT64_MAX / 16 / x->dims[i]))
			return err(c, "repeats[%d] = %lld is invalid", i, (long long)rep[i]);
		d[i] = x->dims[i] * rep[i];
	}
	set_out(c, x->dt, x->rank, d);
	return true;
}

static bool r_resize(Ctx *c)
{
	const Type *x = T(c, 0);
	const int64_t *dm = need_ints(c, "dims", x->rank);
	int64_t v;
	if (!dm || !need_float_dtype(c, 0) || !need_flag(c, "exclude_outside", &v) || !need_float(c, "cubic_a") ||
	    !need_float(c, "extrapolation"))
		return false;
	const Attr *sc = need_attr(c, "scales", ATTR_FLOATS), *roi = need_attr(c, "roi", ATTR_FLOATS);
	const Attr *mode = need_attr(c, "mode", ATTR_STRING), *coord = need_attr(c, "coord", ATTR_STRING);
	const Attr *near = need_attr(c, "nearest", ATTR_STRING);
	if (!sc || !roi || !mode || !coord || !near)
		return false;
	if (sc->n != x->rank || roi->n != 2 * x->rank)
		return err(c, "scales need %d values and roi %d", x->rank, 2 * x->rank);
	static const char *const modes[] = {"nearest", "linear", "cubic"};
	static const char *const coords[] = {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
					     "asymmetric", "tf_crop_and_resize"};
	static const char *const nears[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
	bool ok1 = false, ok2 = false, ok3 = false;
	for (int i = 0; i < 3; i++)
		ok1 |= !strcmp(mode->s, modes[i]);
	for (int i = 0; i < 6; i++)
		ok2 |= !strcmp(coord->s, coords[i]);
	for (int i = 0; i < 4; i++)
		ok3 |= !strcmp(near->s, nears[i]);
	if (!ok1 || !ok2 || !ok3)
		return err(c, "unknown mode, coordinate mode or nearest mode");
	for (int i = 0; i < x->rank; i++)
		if (dm[i] < 1 || !(sc->floats[i] > 0))
			return err(c, "axis %d: dims must be >= 1 and scales > 0", i);
	set_out(c, x->dt, x->rank, dm);
	return true;
}

/* ---- einsum ---------------------------------------------------------------------------------- */

bool ir_einsum_parse(const char *eq, int nops, IrEinsum *e)
{
	memset(e, 0, sizeof *e);
	const char *arrow = strstr(eq, "->");
	if (!arrow || nops < 1 || nops > 8)
		return false;
	int k = 0, n = 0;
	for (const char *p = eq; p < arrow; p++) {
		if (*p == ',') {
			e->op[k++][n] = 0;
			n = 0;
			if (k >= nops)
				return false;
		} else if (*p >= 'a' && *p <= 'z' && n < IR_MAX_RANK) {
			e->op[k][n++] = *p;
		} else if (*p != ' ') {
			return false;
		}
	}
	if (k != nops - 1)
		return false;
	n = 0;
	for (const char *p = arrow + 2; *p; p++) {
		if (*p >= 'a' && *p <= 'z' && n < IR_MAX_RANK && !strchr(e->out, *p))
			e->out[n++] = *p;
		else if (*p != ' ')
			return false;
	}
	e->nops = nops;
	return true;
}

static bool r_einsum(Ctx *c)
{
	if (!all_present(c))
		return false;
	const Attr *a = need_attr(c, "eq", ATTR_STRING);
	IrEinsum e;
	if (!a)
		return false;
	if (!ir_einsum_parse(a->s, c->nin, &e))
		return err(c, "malformed equation '%s' for %d operands", a->s, c->nin);
	int64_t dim[26];
	for (int i = 0; i < 26; i++)
		dim[i] = -1;
	for (int k = 0; k < c->nin; k++) {
		const Type *t = T(c, k);
		if ((int)strlen(e.op[k]) != t->rank || !same_dtype(c, 0, k))
			return t->dt == T(c, 0)->dt ? err(c, "operand %d has rank %d, the equation gives %zu letters", k,
							  t->rank, strlen(e.op[k])) : false;
		for (int i = 0; i < t->rank; i++) {
			int l = e.op[k][i] - 'a';
			if (dim[l] >= 0 && dim[l] != t->dims[i])
				return err(c, "letter '%c' is %lld and %lld long", e.op[k][i], (long long)dim[l], (long long)t->dims[i]);
			dim[l] = t->dims[i];
		}
	}
	int64_t d[IR_MAX_RANK];
	int r = (int)strlen(e.out);
	for (int i = 0; i < r; i++) {
		if (dim[e.out[i] - 'a'] < 0)
			return err(c, "result letter '%c' is in no operand", e.out[i]);
		d[i] = dim[e.out[i] - 'a'];
	}
	if (T(c, 0)->dt == DT_BOOL || T(c, 0)->dt == DT_F16 || T(c, 0)->dt == DT_BF16)
		return err(c, "einsum needs f32, f64 or integer operands");
	set_out(c, T(c, 0)->dt, r, d);
	return true;
}

/* ---- windows: conv and pools ------------------------------------------------------- */

/* Effective extent of a dilated kernel, (k-1)*dil + 1; false on overflow. */
static bool window_extent(int64_t k, int64_t dil, int64_t *ext)
{
	int64_t t;
	return !__builtin_mul_overflow(k - 1, dil, &t) && !__builtin_add_overflow(t, 1, ext);
}

/* One spatial output size; with ceil rounding a last window that would
 * start in the right padding is dropped. */
static bool window_out(Ctx *c, int axis, int64_t in, int64_t k, int64_t s, int64_t dil, int64_t pb, int64_t pe,
		       bool ceil, int64_t *out)
{
	if (k < 1)
		return err(c, "kernel size %lld along spatial axis %d must be >= 1", (long long)k, axis);
	if (s < 1)
		return err(c, "stride %lld along spatial axis %d must be >= 1", (long long)s, axis);
	if (dil < 1)
		return err(c, "dilation %lld along spatial axis %d must be >= 1", (long long)dil, axis);
	if (pb < 0 || pe < 0)
		return err(c, "pads %lld/%lld along spatial axis %d must not be negative", (long long)pb,
			   (long long)pe, axis);
	int64_t ext, padded, span;
	if (!window_extent(k, dil, &ext) || __builtin_add_overflow(in, pb, &padded) ||
	    __builtin_add_overflow(padded, pe, &padded))
		return err(c, "kernel, dilation or pads along spatial axis %d are too large", axis);
	span = padded - ext;
	if (span < 0)
		return err(c, "window of %lld (kernel %lld, dilation %lld) does not fit the padded input of %lld "
			   "along spatial axis %d", (long long)ext, (long long)k, (long long)dil, (long long)padded, axis);
	int64_t o = (ceil ? span / s + (span % s != 0) : span / s) + 1, start;
	if (ceil && (__builtin_mul_overflow(o - 1, s, &start) || start >= in + pb))
		o--;
	if (o < 1)
		return err(c, "output size along spatial axis %d would be %lld", axis, (long long)o);
	*out = o;
	return true;
}

/* Fused epilogue of OPF_FUSE_HEAD ops: an optional activation of the
 * registry (act.def) with its parameters. */
static bool check_epilogue(Ctx *c)
{
	const Attr *a = A(c, "act");
	if (!a)
		return true;
	if (a->kind != ATTR_STRING || !a->s)
		return err(c, "attribute 'act' must be a string");
	ActKind k = ir_act_find(a->s);
	if (!k)
		return err(c, "unknown fused activation '%s'", a->s);
	char buf[32];
	for (int i = 0; i < 2; i++)
		if (ir_acts[k].param[i] && !need_float(c, ir_act_param_attr(k, i, buf, sizeof buf)))
			return false;
	return true;
}

/* The integer form of conv: x and w 8-bit quantized, w per tensor or
 * per output channel, the bias i32 at scale s_x * s_w (zero 0), no
 * residual; the result's quantization declared. */
static bool integer_conv_operands(Ctx *c)
{
	char s1[128];
	if (!need_q8(c, 0, "input") || !need_q8_weights(c, 1, 0))
		return false;
	if (present(c, 2) && (T(c, 2)->dt != DT_I32 || T(c, 2)->q || T(c, 2)->rank != 1 || T(c, 2)->dims[0] != T(c, 1)->dims[0]))
		return err(c, "bias %s must be i32[%lld] (at the scale of input times weights)", TS(T(c, 2), s1),
			   (long long)T(c, 1)->dims[0]);
	if (present(c, 3))
		return err(c, "the integer form takes no fused residual");
	return integer_epilogue(c);
}

static bool conv_shape(Ctx *c, DType dt);
static bool integer_operands(Ctx *c, int64_t n, const char *along, const char *n0, const char *n1);

static bool r_conv(Ctx *c)
{
	const Type *x = T(c, 0), *w = T(c, 1);
	char s1[128];
	bool q = quantized(c, 0);
	if (q ? !integer_conv_operands(c) : !need_float_dtype(c, 0) || !same_dtype(c, 0, 1))
		return false;
	if (!conv_shape(c, x->dt))
		return false;
	int64_t cout = w->dims[0];
	if (present(c, 2) && !q) {
		const Type *bt = T(c, 2);
		if (bt->rank != 1 || bt->dims[0] != cout || bt->dt != x->dt)
			return err(c, "bias %s must be %s[%lld]", TS(bt, s1), ir_dtype_name(x->dt), (long long)cout);
	}
	if (present(c, 3)) {
		const Type *r = T(c, 3);
		if (r->dt != x->dt || r->rank != x->rank || memcmp(r->dims, c->out.dims, x->rank * sizeof *c->out.dims))
			return err(c, "fused residual %s does not have the result's shape", TS(r, s1));
	}
	return check_epilogue(c) && (!q || (declared_quant(c, false) && integer_ratio(c)));
}

/* conv's geometry of operands 0 (x) and 1 (w) and attrs strides, pads,
 * dilations, group: the result's shape, of dtype dt. */
static bool conv_shape(Ctx *c, DType dt)
{
	const Type *x = T(c, 0), *w = T(c, 1);
	char s1[128], s2[128];
	if (x->rank < 3 || w->rank != x->rank)
		return err(c, "input %s and weights %s must have the same rank, at least 3", TS(x, s1), TS(w, s2));
	int nsp = x->rank - 2;
	int64_t group;
	const int64_t *st = need_ints(c, "strides", nsp), *pd = st ? need_ints(c, "pads", 2 * nsp) : NULL;
	const int64_t *dl = pd ? need_ints(c, "dilations", nsp) : NULL;
	if (!dl || !need_int(c, "group", &group))
		return false;
	int64_t cin = x->dims[1], cout = w->dims[0];
	if (group < 1 || cin % group || cout % group)
		return err(c, "group %lld does not divide input channels %lld and output channels %lld",
			   (long long)group, (long long)cin, (long long)cout);
	if (w->dims[1] != cin / group)
		return err(c, "weights %s expect %lld input channels per group, input %s has %lld in %lld group%s",
			   TS(w, s1), (long long)w->dims[1], TS(x, s2), (long long)cin, (long long)group,
			   group == 1 ? "" : "s");
	int64_t d[IR_MAX_RANK] = {x->dims[0], cout};
	for (int i = 0; i < nsp; i++)
		if (!window_out(c, i, x->dims[2 + i], w->dims[2 + i], st[i], dl[i], pd[i], pd[nsp + i], false, &d[2 + i]))
			return false;
	set_out(c, dt, x->rank, d);
	return true;
}

/* conv_integer(x, w, zx, zw): x and w plain i8/u8 (a quantized type is
 * refused before the rule), zx one number of x's dtype, zw one or one per
 * output channel of w's dtype; i32 of conv's shape. */
static bool r_conv_integer(Ctx *c)
{
	const Type *w = T(c, 1);
	return integer_operands(c, w->rank ? w->dims[0] : 1, "output channel", "zx", "zw") && conv_shape(c, DT_I32);
}

/* matmul_integer's and conv_integer's operands: 0 (a, x) and 1 (b, w)
 * plain i8/u8, 2 (named z0) their zero point, one number of operand 0's
 * dtype, 3 (z1) one or n (one per `along`) of operand 1's dtype. */
static bool integer_operands(Ctx *c, int64_t n, const char *along, const char *n0, const char *n1)
{
	const Type *z0 = T(c, 2), *z1 = T(c, 3);
	const char *name[2] = {n0, n1};
	char s[128];
	for (int i = 0; i < 2; i++)
		if (!is_q8(T(c, i)->dt))
			return err(c, "operand %d %s must be i8 or u8", i, TS(T(c, i), s));
	if (z0->dt != T(c, 0)->dt || ir_type_numel(z0) != 1)
		return err(c, "zero point %s %s must be one %s (operand 0's dtype)", name[0], TS(z0, s), ir_dtype_name(T(c, 0)->dt));
	if (z1->dt != T(c, 1)->dt || (ir_type_numel(z1) != 1 && (z1->rank != 1 || z1->dims[0] != n)))
		return err(c, "zero point %s %s must be one %s (operand 1's dtype) or one per %s (%lld)", name[1], TS(z1, s),
			   ir_dtype_name(T(c, 1)->dt), along, (long long)n);
	return true;
}

/* Pooling of quantized values: max keeps the quantization (max commutes
 * with dequantization), average declares its own. */
static bool pool_result_quant(Ctx *c)
{
	if (!quantized(c, 0))
		return true;
	if (c->op == OP_MAXPOOL || c->op == OP_GLOBAL_MAXPOOL) {
		c->out.q = T(c, 0)->q;
		return true;
	}
	return declared_quant(c, false) && integer_ratio(c);
}

static bool r_pool(Ctx *c)
{
	const Type *x = T(c, 0);
	if ((quantized(c, 0) ? !need_q8(c, 0, "input") : !need_float_dtype(c, 0)) || !need_rank_min(c, 0, 3))
		return false;
	int nsp = x->rank - 2;
	int64_t ceil, cip;
	const int64_t *k = need_ints(c, "kernel", nsp), *st = k ? need_ints(c, "strides", nsp) : NULL;
	const int64_t *pd = st ? need_ints(c, "pads", 2 * nsp) : NULL, *dl = pd ? need_ints(c, "dilations", nsp) : NULL;
	if (!dl || !need_flag(c, "ceil_mode", &ceil))
		return false;
	if (c->op == OP_AVGPOOL && !need_flag(c, "count_include_pad", &cip))
		return false;
	if (c->op == OP_LPPOOL && (!need_int(c, "p", &cip) || cip < 1 || cip > 64))
		return c->op == OP_LPPOOL && A(c, "p") ? err(c, "p must be 1 to 64") : false;
	int64_t d[IR_MAX_RANK] = {x->dims[0], x->dims[1]};
	for (int i = 0; i < nsp; i++) {
		if (!window_out(c, i, x->dims[2 + i], k[i], st[i], dl[i], pd[i], pd[nsp + i], ceil != 0, &d[2 + i]))
			return false;
		/* A window wholly inside padding has no input element. */
		int64_t ext = 0;
		window_extent(k[i], dl[i], &ext);
		if (pd[i] >= ext || pd[nsp + i] >= ext)
			return err(c, "pads %lld/%lld along spatial axis %d must be smaller than the window of %lld",
				   (long long)pd[i], (long long)pd[nsp + i], i, (long long)ext);
	}
	set_out(c, x->dt, x->rank, d);
	return pool_result_quant(c);
}

static bool r_conv_transpose(Ctx *c)
{
	const Type *x = T(c, 0), *w = T(c, 1);
	char s1[128], s2[128];
	if (!need_float_dtype(c, 0) || !same_dtype(c, 0, 1))
		return false;
	if (x->rank < 3 || w->rank != x->rank)
		return err(c, "input %s and weights %s must have the same rank, at least 3", TS(x, s1), TS(w, s2));
	int nsp = x->rank - 2;
	int64_t group;
	const int64_t *st = need_ints(c, "strides", nsp), *pd = st ? need_ints(c, "pads", 2 * nsp) : NULL;
	const int64_t *dl = pd ? need_ints(c, "dilations", nsp) : NULL;
	const int64_t *op = dl ? need_ints(c, "output_padding", nsp) : NULL;
	if (!op || !need_int(c, "group", &group))
		return false;
	if (group < 1 || x->dims[1] % group || w->dims[0] != x->dims[1])
		return err(c, "weights %s do not match input %s in %lld groups", TS(w, s1), TS(x, s2), (long long)group);
	int64_t m = w->dims[1] * group;
	if (present(c, 2)) {
		const Type *bt = T(c, 2);
		if (bt->rank != 1 || bt->dims[0] != m || bt->dt != x->dt)
			return err(c, "bias %s must be %s[%lld]", TS(bt, s1), ir_dtype_name(x->dt), (long long)m);
	}
	int64_t d[IR_MAX_RANK] = {x->dims[0], m};
	for (int i = 0; i < nsp; i++) {
		if (st[i] < 1 || dl[i] < 1 || op[i] < 0 || pd[i] < 0 || pd[nsp + i] < 0)
			return err(c, "invalid strides, dilations, pads or output_padding on spatial axis %d", i);
		d[2 + i] = st[i] * (x->dims[2 + i] - 1) + op[i] + (w->dims[2 + i] - 1) * dl[i] + 1 - pd[i] - pd[nsp + i];
		if (d[2 + i] < 1)
			return err(c, "spatial axis %d has no output", i);
	}
	set_out(c, x->dt, x->rank, d);
	return true;
}

static bool r_col2im(Ctx *c)
{
	const Type *x = T(c, 0);
	const Attr *dm = need_attr(c, "dims", ATTR_INTS);
	if (!dm || !need_float_dtype(c, 0) || x->rank != 3)
		return dm && x->rank != 3 ? err(c, "input must be [N, C*block, L]") : false;
	int nsp = dm->n;
	const int64_t *bk = need_ints(c, "block", nsp), *st = bk ? need_ints(c, "strides", nsp) : NULL;
	const int64_t *pd = st ? need_ints(c, "pads", 2 * nsp) : NULL, *dl = pd ? need_ints(c, "dilations", nsp) : NULL;
	if (!dl || nsp < 1 || nsp + 2 > IR_MAX_RANK)
		return dl ? err(c, "bad image rank %d", nsp) : false;
	int64_t K = 1, L = 1, d[IR_MAX_RANK];
	for (int i = 0; i < nsp; i++) {
		int64_t o;
		if (bk[i] < 1 || !window_out(c, i, dm->ints[i], bk[i], st[i], dl[i], pd[i], pd[nsp + i], false, &o))
			return bk[i] < 1 ? err(c, "block must be positive") : false;
		K *= bk[i];
		L *= o;
		d[2 + i] = dm->ints[i];
	}
	if (x->dims[1] % K || x->dims[2] != L)
		return err(c, "input [%lld, %lld, %lld] does not hold blocks of %lld over %lld positions", (long long)x->dims[0],
			   (long long)x->dims[1], (long long)x->dims[2], (long long)K, (long long)L);
	d[0] = x->dims[0];
	d[1] = x->dims[1] / K;
	set_out(c, x->dt, nsp + 2, d);
	return true;
}

static bool r_tfidf(Ctx *c)
{
	const Type *x = T(c, 0);
	int64_t width, maxn, skip, mode;
	if (!need_int(c, "width", &width) || !need_int(c, "maxn", &maxn) || !need_int(c, "skip", &skip) ||
	    !need_int(c, "mode", &mode))
		return false;
	const Attr *sz = need_attr(c, "sizes", ATTR_INTS);
	const int64_t *ix = sz ? need_ints(c, "index", sz->n) : NULL, *gr = ix ? need_ints(c, "grams", sz->n * (int)maxn) : NULL;
	const Attr *w = need_attr(c, "weights", ATTR_FLOATS);
	if (!gr || !w)
		return false;
	if ((x->dt != DT_I32 && x->dt != DT_I64) || x->rank < 1 || x->rank > 2)
		return err(c, "input must be [L] or [B, L] of i32 or i64");
	if (width < 1 || maxn < 1 || skip < 0 || mode < 0 || mode > 2 || (w->n && w->n != width))
		return err(c, "inconsistent n-gram tables");
	for (int i = 0; i < sz->n; i++)
		if (sz->ints[i] < 1 || sz->ints[i] > maxn || ix[i] < 0 || ix[i] >= width)
			return err(c, "n-gram %d has size %lld or index %lld out of range", i, (long long)sz->ints[i], (long long)ix[i]);
	int64_t d[2] = {x->dims[0], width};
	set_out(c, DT_F32, x->rank, x->rank == 1 ? d + 1 : d);
	return true;
}

/* ---- quantization ---------------------------------------------------------------- */

/* quantize: float or quantized integer in, the declared quantized type out. */
static bool r_quantize(Ctx *c)
{
	const Type *x = T(c, 0);
	char b[128];
	if (!ir_dtype_is_float(x->dt) && !x->q)
		return err(c, "operand %s must be floating-point or quantized", TS(x, b));
	set_out(c, x->dt, x->rank, x->dims);
	return declared_quant(c, !x->q) && (!x->q || integer_ratio(c));
}

static bool r_dequantize(Ctx *c)
{
	const Type *x = T(c, 0);
	char b[128];
	if (!x->q)
		return err(c, "operand %s is not quantized", TS(x, b));
	set_out(c, DT_F32, x->rank, x->dims);
	return true;
}

/* qview: the declared type is the operand's but for its quantization. */
static bool r_qview(Ctx *c)
{
	const Type *x = T(c, 0), *t = c->declared;
	char b[128], b2[128];
	if (ir_dtype_is_float(x->dt) || x->dt == DT_BOOL || ir_dtype_size(x->dt) > 4)
		return err(c, "operand %s must be an integer type of at most 32 bits", TS(x, b));
	set_out(c, x->dt, x->rank, x->dims);
	if (!t)
		return err(c, "qview needs a declared result type");
	if (t->dt != x->dt || t->rank != x->rank || memcmp(t->dims, x->dims, x->rank * sizeof *x->dims))
		return err(c, "declared result %s is not operand %s requantized", TS(t, b), TS(x, b2));
	c->out.q = t->q;
	if (t->q && t->q->axis >= 0 && (t->q->axis >= x->rank || t->q->n != x->dims[t->q->axis]))
		return err(c, "declared result %s: its quantization axis does not fit the shape", TS(t, b));
	return true;
}

static bool r_lut(Ctx *c)
{
	const Type *x = T(c, 0), *tb = T(c, 1);
	char b[128];
	if (!is_q8(x->dt))
		return err(c, "operand %s must be i8 or u8", TS(x, b));
	if (tb->rank != 1 || tb->dims[0] != 256 || !is_q8(tb->dt) || (tb->q && tb->q->axis >= 0))
		return err(c, "table %s must be i8[256] or u8[256], quantized per tensor or not", TS(tb, b));
	set_out(c, tb->dt, x->rank, x->dims);
	c->out.q = tb->q;
	return true;
}

static bool r_det(Ctx *c)
{
	const Type *x = T(c, 0);
	if (!need_float_dtype(c, 0) || !need_rank_min(c, 0, 2))
		return false;
	int64_t m = x->dims[x->rank - 1];
	if (x->dims[x->rank - 2] != m || m > 64)
		return err(c, "needs square matrices of at most 64 x 64");
	set_out(c, x->dt, x->rank - 2, x->dims);
	return true;
}

static bool r_global_pool(Ctx *c)
{
	const Type *x = T(c, 0);
	if ((quantized(c, 0) ? !need_q8(c, 0, "input") : !need_float_dtype(c, 0)) || !need_rank_min(c, 0, 3))
		return false;
	int64_t d[IR_MAX_RANK];
	for (int i = 0; i < x->rank; i++)
		d[i] = i < 2 ? x->dims[i] : 1;
	set_out(c, x->dt, x->rank, d);
	return pool_result_quant(c);
}

/* ---- matrix products ------------------------------------------------------------------ */

static bool r_gemm(Ctx *c)
{
	const Type *a = T(c, 0), *b = T(c, 1);
	char s1[128], s2[128];
	int64_t ta, tb;
	bool q = quantized(c, 0);
	if ((q ? !need_q8(c, 0, "operand a") : !need_float_dtype(c, 0) || !same_dtype(c, 0, 1)) || !need_float(c, "alpha") ||
	    !need_float(c, "beta") || !need_flag(c, "trans_a", &ta) || !need_flag(c, "trans_b", &tb))
		return false;
	/* The integer form: b per tensor or per column, C an i32 bias at s_a * s_b. */
	if (q && (!need_q8_weights(c, 1, tb ? 0 : 1) || !integer_epilogue(c)))
		return false;
	if (q && (A(c, "alpha")->f != 1 || A(c, "beta")->f != 1))
		return err(c, "the integer form needs alpha and beta 1");
	if (a->rank != 2 || b->rank != 2)
		return err(c, "operands %s and %s must be matrices", TS(a, s1), TS(b, s2));
	int64_t m = ta ? a->dims[1] : a->dims[0], k = ta ? a->dims[0] : a->dims[1];
	int64_t k2 = tb ? b->dims[1] : b->dims[0], n = tb ? b->dims[0] : b->dims[1];
	if (k != k2)
		return err(c, "inner dimensions differ: %s%s times %s%s", TS(a, s1), ta ? "^T" : "", TS(b, s2),
			   tb ? "^T" : "");
	int64_t d[2] = {m, n};
	if (present(c, 2)) {
		const Type *ct = T(c, 2);
		int r;
		int64_t bd[IR_MAX_RANK];
		DType cdt = q ? DT_I32 : a->dt;
		if (ct->dt != cdt || ct->q || !ir_broadcast(2, d, ct->rank, ct->dims, &r, bd) || r != 2 || bd[0] != m || bd[1] != n)
			return err(c, "C %s cannot be broadcast to %s[%lld,%lld]", TS(ct, s1), ir_dtype_name(cdt),
				   (long long)m, (long long)n);
	}
	set_out(c, a->dt, 2, d);
	return check_epilogue(c) && (!q || (declared_quant(c, false) && integer_ratio(c)));
}

static bool matmul_shape(Ctx *c, DType dt, int64_t ta, int64_t tb);

/* matmul: optional trans_a, trans_b (absent: 0) swap an operand's last two
 * dims, a transpose the simplify pass folded in. */
static bool r_matmul(Ctx *c)
{
	const Type *a = T(c, 0), *b = T(c, 1);
	int64_t ta = 0, tb = 0;
	bool q = quantized(c, 0);
	if ((q ? !need_q8(c, 0, "operand a") : !need_float_dtype(c, 0) || !same_dtype(c, 0, 1)) ||
	    (A(c, "trans_a") && !need_flag(c, "trans_a", &ta)) || (A(c, "trans_b") && !need_flag(c, "trans_b", &tb)))
		return false;
	/* The integer form: b per tensor or per column (its last axis, before trans_b). */
	if (q && (!need_q8_weights(c, 1, b->rank < 2 ? -1 : tb ? b->rank - 2 : b->rank - 1) || !integer_epilogue(c)))
		return false;
	return matmul_shape(c, a->dt, ta, tb) && check_epilogue(c) && (!q || (declared_quant(c, false) && integer_ratio(c)));
}

/* numpy's matmul shape of operands 0 and 1 (trans_a, trans_b: their last
 * two dims swapped) as the result, of dtype dt. */
static bool matmul_shape(Ctx *c, DType dt, int64_t ta, int64_t tb)
{
	const Type *a = T(c, 0), *b = T(c, 1);
	char s1[128], s2[128];
	if (a->rank < 1 || b->rank < 1)
		return err(c, "operands %s and %s must have rank >= 1", TS(a, s1), TS(b, s2));
	if ((ta && a->rank < 2) || (tb && b->rank < 2))
		return err(c, "trans_a/trans_b need an operand of rank >= 2: %s and %s", TS(a, s1), TS(b, s2));
	int64_t ad[IR_MAX_RANK + 1], bd[IR_MAX_RANK + 1];
	int ra = a->rank, rb = b->rank;
	memcpy(ad, a->dims, ra * sizeof *ad);
	memcpy(bd, b->dims, rb * sizeof *bd);
	if (ta) {
		int64_t t = ad[ra - 1];
		ad[ra - 1] = ad[ra - 2];
		ad[ra - 2] = t;
	}
	if (tb) {
		int64_t t = bd[rb - 1];
		bd[rb - 1] = bd[rb - 2];
		bd[rb - 2] = t;
	}
	if (ra == 1) {  /* [k] -> [1,k] */
		ad[1] = ad[0];
		ad[0] = 1;
		ra = 2;
	}
	if (rb == 1) {  /* [k] -> [k,1] */
		bd[1] = 1;
		rb = 2;
	}
	if (ad[ra - 1] != bd[rb - 2])
		return err(c, "inner dimensions differ: %s%s times %s%s", TS(a, s1), ta ? "^T" : "", TS(b, s2), tb ? "^T" : "");
	int r;
	int64_t d[IR_MAX_RANK + 2];
	if (!ir_broadcast(ra - 2, ad, rb - 2, bd, &r, d))
		return err(c, "batch dimensions of %s and %s cannot be broadcast", TS(a, s1), TS(b, s2));
	if (a->rank > 1)
		d[r++] = ad[ra - 2];
	if (b->rank > 1)
		d[r++] = bd[rb - 1];
	if (r > IR_MAX_RANK)
		return err(c, "result rank %d exceeds %d", r, IR_MAX_RANK);
	set_out(c, dt, r, d);
	return true;
}

/* matmul_integer(a, b, za, zb): a and b plain i8/u8 (quantized types are
 * refused before the rule: a dynamic quantization's scale is not a
 * constant, so it is no part of a type), za one number of a's dtype, zb
 * one or one per column of b of b's dtype; i32. */
static bool r_matmul_integer(Ctx *c)
{
	const Type *b = T(c, 1);
	return integer_operands(c, b->rank >= 2 ? b->dims[b->rank - 1] : 1, "column of b", "za", "zb") &&
	       matmul_shape(c, DT_I32, 0, 0);
}

/* ---- normalization ------------------------------------------------------------------- */

static bool r_batchnorm(Ctx *c)
{
	const Type *x = T(c, 0);
	char s[128];
	if (!need_float_dtype(c, 0) || !need_rank_min(c, 0, 2) || !need_float(c, "epsilon"))
		return false;
	static const char *const names[] = {"", "scale", "bias", "mean", "var"};
	for (int i = 1; i < 5; i++) {
		const Type *p = T(c, i);
		if (p->rank != 1 || p->dims[0] != x->dims[1] || p->dt != x->dt)
			return err(c, "%s %s must be %s[%lld]", names[i], TS(p, s), ir_dtype_name(x->dt), (long long)x->dims[1]);
	}
	same_as_operand(c, 0, false);
	return true;
}

/* layer_norm: scale and bias (each optional) broadcast into the
 * normalized axes [axis, rank) and are 1 along the others. */
static bool r_layer_norm(Ctx *c)
{
	const Type *x = T(c, 0);
	char s1[128], s2[128];
	int64_t axis;
	if (!need_float_dtype(c, 0) || !need_rank_min(c, 0, 1) || !need_int(c, "axis", &axis) ||
	    !need_float(c, "epsilon"))
		return false;
	if (axis < 0 || axis >= x->rank)
		return err(c, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
	static const char *const names[] = {"", "scale", "bias"};
	for (int i = 1; i < 3; i++) {
		if (!present(c, i))
			continue;
		const Type *p = T(c, i);
		if (!same_dtype(c, 0, i))
			return false;
		bool ok = p->rank <= x->rank;
		for (int j = 0; ok && j < p->rank; j++) {
			int xi = x->rank - p->rank + j;
			ok = p->dims[j] == 1 || (xi >= axis && p->dims[j] == x->dims[xi]);
		}
		if (!ok)
			return err(c, "%s %s does not broadcast into the normalized axes %lld.. of %s", names[i], TS(p, s1),
				   (long long)axis, TS(x, s2));
	}
	same_as_operand(c, 0, false);
	return true;
}

static bool r_softmax(Ctx *c)
{
	const Type *x = T(c, 0);
	int64_t axis;
	if ((quantized(c, 0) ? !need_q8(c, 0, "operand") : !need_float_dtype(c, 0)) || !need_int(c, "axis", &axis))
		return false;
	if (axis < 0 || axis >= x->rank)
		return err(c, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
	same_as_operand(c, 0, false);
	if (quantized(c, 0) && x->dims[axis] > (1 << 14))
		return err(c, "the integer form takes rows of at most 16384 elements, not %lld", (long long)x->dims[axis]);
	return !quantized(c, 0) || (declared_quant(c, false) && integer_ratio(c));
}

static bool r_reduce(Ctx *c)
{
	const Type *x = T(c, 0);
	int64_t keep;
	if (!need_float_dtype(c, 0) || !need_flag(c, "keepdims", &keep))
		return false;
	const Attr *ax = need_attr(c, "axes", ATTR_INTS);
	if (!ax)
		return false;
	if (ax->n < 1 || ax->n > x->rank)
		return err(c, "attribute 'axes' has %d values; it must list 1 to %d axes", ax->n, x->rank);
	bool red[IR_MAX_RANK] = {0};
	for (int i = 0; i < ax->n; i++) {
		if (ax->ints[i] < 0 || ax->ints[i] >= x->rank || (i && ax->ints[i] <= ax->ints[i - 1]))
			return err(c, "axes must be sorted, distinct and in 0..%d", x->rank - 1);
		red[ax->ints[i]] = true;
	}
	int64_t d[IR_MAX_RANK];
	int r = 0;
	for (int i = 0; i < x->rank; i++)
		if (!red[i])
			d[r++] = x->dims[i];
		else if (keep)
			d[r++] = 1;
	set_out(c, x->dt, r, d);
	return true;
}

/* ---- data movement ------------------------------------------------------------------- */

static bool r_reshape(Ctx *c)
{
	const Type *x = T(c, 0);
	char s[128];
	const Attr *a = need_attr(c, "shape", ATTR_INTS);
	if (!a)
		return false;
	if (a->n < 0 || a->n > IR_MAX_RANK)
		return err(c, "target rank %d exceeds %d", a->n, IR_MAX_RANK);
	for (int i = 0; i < a->n; i++)
		if (a->ints[i] < 0)
			return err(c, "target shape has a negative dimension %lld", (long long)a->ints[i]);
	int64_t n = ir_shape_numel(a->n, a->ints);
	if (n < 0)
		return err(c, "target shape has too many elements");
	if (n != ir_type_numel(x))
		return err(c, "cannot reshape %s (%lld elements) to %d dims holding %lld elements", TS(x, s),
			   (long long)ir_type_numel(x), a->n, (long long)n);
	set_out(c, x->dt, a->n, a->ints);
	c->out.q = x->q && x->q->axis < 0 ? x->q : NULL;  /* per-axis has no meaning after a reshape */
	return true;
}

static bool r_transpose(Ctx *c)
{
	const Type *x = T(c, 0);
	const int64_t *p = need_ints(c, "perm", x->rank);
	if (!p)
		return false;
	bool seen[IR_MAX_RANK] = {0};
	int64_t d[IR_MAX_RANK];
	int qaxis = -1;
	for (int i = 0; i < x->rank; i++) {
		if (p[i] < 0 || p[i] >= x->rank || seen[p[i]])
			return err(c, "perm is not a permutation of 0..%d", x->rank - 1);
		seen[p[i]] = true;
		d[i] = x->dims[p[i]];
		if (x->q && p[i] == x->q->axis)
			qaxis = i;
	}
	set_out(c, x->dt, x->rank, d);
	/* Quantization moves with its axis. */
	if (x->q && x->q->axis < 0)
		c->out.q = x->q;
	else if (x->q && !(c->out.q = ir_quant(c->g, qaxis, x->q->n, x->q->scale, x->q->zero)))
		return err(c, "out of memory");
	return true;
}

static bool r_concat(Ctx *c)
{
	if (!all_present(c))
		return false;
	const Type *x = T(c, 0);
	int64_t axis;
	char s1[128], s2[128];
	if (!need_int(c, "axis", &axis))
		return false;
	if (axis < 0 || axis >= x->rank)
		return err(c, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
	int64_t d[IR_MAX_RANK];
	memcpy(d, x->dims, x->rank * sizeof *d);
	for (int i = 1; i < c->nin; i++) {
		const Type *y = T(c, i);
		/* Quantized operands share one quantization (requantize the others first). */
		if (y->dt != x->dt || y->rank != x->rank || y->q != x->q)
			return err(c, "operand %d %s does not match operand 0 %s", i, TS(y, s1), TS(x, s2));
		for (int k = 0; k < x->rank; k++)
			if (k != axis && y->dims[k] != x->dims[k])
				return err(c, "operand %d %s does not match operand 0 %s outside axis %lld", i, TS(y, s1),
					   TS(x, s2), (long long)axis);
		if (__builtin_add_overflow(d[axis], y->dims[axis], &d[axis]))
			return err(c, "shape has too many elements");
	}
	if (x->q && x->q->axis >= 0)
		return err(c, "a concat of values quantized per axis is not supported");
	set_out(c, x->dt, x->rank, d);
	c->out.q = x->q;
	return true;
}

static bool r_pad(Ctx *c)
{
	const Type *x = T(c, 0);
	const int64_t *p = need_ints(c, "pads", 2 * x->rank);
	if (!p || !need_float(c, "value"))
		return false;
	const Attr *m = A(c, "mode");
	const char *mode = m && m->kind == ATTR_STRING ? m->s : "constant";
	if (strcmp(mode, "constant") && strcmp(mode, "edge") && strcmp(mode, "reflect") && strcmp(mode, "wrap"))
		return err(c, "unknown pad mode '%s'", mode);
	int64_t d[IR_MAX_RANK];
	for (int i = 0; i < x->rank && strcmp(mode, "constant"); i++) {
		int64_t lim = !strcmp(mode, "reflect") ? x->dims[i] - 1 : !strcmp(mode, "wrap") ? x->dims[i] : INT64_MAX;
		if (x->dims[i] == 0 || p[i] > lim || p[x->rank + i] > lim)
			return err(c, "%s padding of %lld/%lld does not fit axis %d of size %lld", mode, (long long)p[i],
				   (long long)p[x->rank + i], i, (long long)x->dims[i]);
	}
	for (int i = 0; i < x->rank; i++) {
		if (__builtin_add_overflow(x->dims[i], p[i], &d[i]) ||
		    __builtin_add_overflow(d[i], p[x->rank + i], &d[i]))
			return err(c, "pads along axis %d are too large", i);
		if (d[i] < 0)
			return err(c, "pads %lld/%lld remove more than axis %d holds (%lld)", (long long)p[i],
				   (long long)p[x->rank + i], i, (long long)x->dims[i]);
	}
	set_out(c, x->dt, x->rank, d);
	return true;
}

/* ---- scatter, gather-nd, top-k, one-hot, sampling, unpooling ------------------------- */

/* A string attribute naming one of n choices; *out gets the match. */
static bool need_one_of(Ctx *c, const char *name, const char *const *allowed, int n, const char **out)
{
	const Attr *a = need_attr(c, name, ATTR_STRING);
	if (!a)
		return false;
	char list[256] = "";
	for (int i = 0; i < n; i++) {
		if (a->s && !strcmp(a->s, allowed[i])) {
			*out = allowed[i];
			return true;
		}
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", allowed[i]);
	}
	return err(c, "attribute '%s' is '%s'; it must be one of %s", name, a->s ? a->s : "", list);
}

/* data, indices, updates: updates has data's dtype, indices are integers,
 * and a reduction other than none needs a numeric dtype. */
static bool scatter_common(Ctx *c)
{
	static const char *const reds[] = {"none", "add", "mul", "max", "min"};
	const char *red;
	if (!need_index_dtype(c, 1) || !same_dtype(c, 0, 2) || !need_one_of(c, "reduction", reds, 5, &red))
		return false;
	if (strcmp(red, "none") && T(c, 0)->dt == DT_BOOL)
		return err(c, "reduction '%s' on bool data", red);
	return true;
}

static bool r_scatter_elements(Ctx *c)
{
	const Type *x = T(c, 0), *ix = T(c, 1), *u = T(c, 2);
	char s1[128], s2[128];
	int64_t axis;
	if (!scatter_common(c) || !need_axis(c, x->rank, &axis))
		return false;
	if (ix->rank != x->rank || u->rank != ix->rank || memcmp(u->dims, ix->dims, sizeof(int64_t) * (size_t)ix->rank))
		return err(c, "indices %s and updates %s must have one shape, of data's rank %d", TS(ix, s1), TS(u, s2), x->rank);
	for (int i = 0; i < x->rank; i++)
		if (i != axis && ix->dims[i] > x->dims[i])
			return err(c, "indices %s exceed data %s along axis %d", TS(ix, s1), TS(x, s2), i);
	same_as_operand(c, 0, false);
	return true;
}

static bool r_scatter_nd(Ctx *c)
{
	const Type *x = T(c, 0), *ix = T(c, 1), *u = T(c, 2);
	char s1[128], s2[128], s3[128];
	if (!scatter_common(c))
		return false;
	int q = ix->rank;
	int64_t m = q ? ix->dims[q - 1] : 0;
	if (q < 1 || m < 1 || m > x->rank)
		return err(c, "indices %s must end in a dimension of 1 to %d (data's rank)", TS(ix, s1), x->rank);
	int64_t want[2 * IR_MAX_RANK];
	int k = 0;
	for (int i = 0; i < q - 1; i++)
		want[k++] = ix->dims[i];
	for (int i = (int)m; i < x->rank; i++)
		want[k++] = x->dims[i];
	if (u->rank != k || memcmp(u->dims, want, sizeof(int64_t) * (size_t)k))
		return err(c, "updates %s do not have the shape indices %s select from data %s", TS(u, s1), TS(ix, s2),
			   TS(x, s3));
	same_as_operand(c, 0, false);
	return true;
}

static bool r_gather_nd(Ctx *c)
{
	const Type *x = T(c, 0), *ix = T(c, 1);
	char s1[128], s2[128];
	int64_t b;
	if (!need_index_dtype(c, 1) || !need_int(c, "batch_dims", &b))
		return false;
	int q = ix->rank, r = x->rank;
	if (b < 0 || b >= q || b >= r)
		return err(c, "batch_dims %lld must be below the ranks of data %s and indices %s", (long long)b, TS(x, s1),
			   TS(ix, s2));
	int64_t m = ix->dims[q - 1];
	if (m < 1 || m > r - b)
		return err(c, "indices %s must end in a dimension of 1 to %lld", TS(ix, s1), (long long)(r - b));
	for (int i = 0; i < b; i++)
		if (ix->dims[i] != x->dims[i])
			return err(c, "batch dimension %d differs: data %s, indices %s", i, TS(x, s1), TS(ix, s2));
	int64_t d[2 * IR_MAX_RANK];
	int k = 0;
	for (int i = 0; i < q - 1; i++)
		d[k++] = ix->dims[i];
	for (int i = (int)(b + m); i < r; i++)
		d[k++] = x->dims[i];
	if (k > IR_MAX_RANK)
		return err(c, "result rank %d exceeds %d", k, IR_MAX_RANK);
	/* Reads clamp indices into their axis, which must then hold something. */
	if (ir_shape_numel(k, d) > 0)
		for (int i = (int)b; i < b + m; i++)
			if (x->dims[i] < 1)
				return err(c, "indices select along axis %d of data %s, which is empty", i, TS(x, s1));
	set_out(c, x->dt, k, d);
	return true;
}

static bool r_topk(Ctx *c)
{
	const Type *x = T(c, 0);
	int64_t axis, k, v;
	if (x->dt == DT_BOOL || x->dt == DT_F16 || x->dt == DT_BF16)
		return err(c, "input is %s; topk takes f32, f64 and integers", ir_dtype_name(x->dt));
	if (!need_axis(c, x->rank, &axis) || !need_int(c, "k", &k) || !need_flag(c, "largest", &v))
		return false;
	if (k < 0 || k > x->dims[axis])
		return err(c, "k = %lld is outside 0..%lld (the axis)", (long long)k, (long long)x->dims[axis]);
	int64_t d[IR_MAX_RANK];
	memcpy(d, x->dims, sizeof d);
	d[axis] = k;
	set_out(c, DT_I64, x->rank, d);
	return true;
}

static bool r_one_hot(Ctx *c)
{
	const Type *ix = T(c, 0), *val = T(c, 1);
	char s[128];
	int64_t axis, depth;
	if (ix->dt == DT_BOOL || ix->dt == DT_F16 || ix->dt == DT_BF16)
		return err(c, "indices are %s; one_hot takes f32, f64 and integer indices", ir_dtype_name(ix->dt));
	if (val->rank != 1 || val->dims[0] != 2)
		return err(c, "values %s must hold two elements, [off, on]", TS(val, s));
	if (!need_int(c, "axis", &axis) || !need_int(c, "depth", &depth))
		return false;
	if (ix->rank + 1 > IR_MAX_RANK || axis < 0 || axis > ix->rank)
		return err(c, "axis %lld is out of range for a rank-%d result", (long long)axis, ix->rank + 1);
	if (depth < 1 || depth > INT64_MAX / 16)
		return err(c, "depth %lld is invalid", (long long)depth);
	int64_t d[IR_MAX_RANK];
	int k = 0;
	for (int i = 0; i <= ix->rank; i++)
		d[k++] = i == axis ? depth : ix->dims[i - (i > axis)];
	set_out(c, val->dt, k, d);
	return true;
}

static bool r_grid_sample(Ctx *c)
{
	static const char *const modes[] = {"linear", "nearest", "cubic"}, *const pads[] = {"zeros", "border", "reflection"};
	const Type *x = T(c, 0), *gr = T(c, 1);
	char s1[128], s2[128];
	const char *mode, *pad;
	int64_t ac;
	if (!need_float_dtype(c, 0) || !same_dtype(c, 0, 1) || !need_rank_min(c, 0, 3) ||
	    !need_one_of(c, "mode", modes, 3, &mode) || !need_one_of(c, "padding", pads, 3, &pad) ||
	    !need_flag(c, "align_corners", &ac))
		return false;
	int r = x->rank;
	if (gr->rank != r || gr->dims[0] != x->dims[0] || gr->dims[r - 1] != r - 2)
		return err(c, "grid %s must be [N, out..., %d] for input %s", TS(gr, s1), r - 2, TS(x, s2));
	int64_t d[IR_MAX_RANK] = {x->dims[0], x->dims[1]};
	for (int i = 2; i < r; i++) {
		if (x->dims[i] < 1)
			return err(c, "input %s has an empty spatial axis", TS(x, s1));
		d[i] = gr->dims[i - 1];
	}
	set_out(c, x->dt, r, d);
	return true;
}

static bool r_reverse_sequence(Ctx *c)
{
	const Type *x = T(c, 0), *l = T(c, 1);
	char s1[128], s2[128];
	int64_t ba, ta;
	if (!need_index_dtype(c, 1) || !need_int(c, "batch_axis", &ba) || !need_int(c, "time_axis", &ta))
		return false;
	if (ba < 0 || ta < 0 || ba >= x->rank || ta >= x->rank || ba == ta)
		return err(c, "batch_axis %lld and time_axis %lld must be distinct axes of %s", (long long)ba, (long long)ta,
			   TS(x, s1));
	if (l->rank != 1 || l->dims[0] != x->dims[ba])
		return err(c, "sequence lengths %s must have one element per batch of %s", TS(l, s1), TS(x, s2));
	same_as_operand(c, 0, false);
	return true;
}

static bool r_max_unpool(Ctx *c)
{
	const Type *x = T(c, 0), *ix = T(c, 1);
	char s1[128], s2[128];
	if (!need_index_dtype(c, 1) || !need_rank_min(c, 0, 3))
		return false;
	if (ix->rank != x->rank || memcmp(ix->dims, x->dims, sizeof(int64_t) * (size_t)x->rank))
		return err(c, "indices %s must have the shape of x %s", TS(ix, s1), TS(x, s2));
	const int64_t *dm = need_ints(c, "dims", x->rank), *pl = dm ? need_ints(c, "pooled", x->rank) : NULL;
	if (!pl)
		return false;
	for (int i = 0; i < x->rank; i++)
		if (dm[i] < 0 || pl[i] < 0 || (i < 2 && (dm[i] != x->dims[i] || pl[i] != x->dims[i])))
			return err(c, "dims and pooled must be non-negative and keep x's first two dimensions");
	if (ir_shape_numel(x->rank, pl) < 0)
		return err(c, "shape has too many elements");
	set_out(c, x->dt, x->rank, dm);
	return true;
}

static bool r_maxpool_index(Ctx *c)
{
	int64_t so;
	if (!r_pool(c) || !need_flag(c, "storage_order", &so))
		return false;
	c->out.dt = DT_I64;
	return true;
}

/* ---- the table ---------------------------------------------------------------------- */

typedef bool (*Rule)(Ctx *c);

static const Rule rules[OP_COUNT] = {
	[OP_CONV] = r_conv,
	[OP_GEMM] = r_gemm,
	[OP_MATMUL] = r_matmul,
	[OP_ADD] = r_ew,
	[OP_SUB] = r_ew,
	[OP_MUL] = r_ew,
	[OP_DIV] = r_ew,
	[OP_RELU] = r_ew,
	[OP_LEAKY_RELU] = r_ew,
	[OP_SIGMOID] = r_ew,
	[OP_TANH] = r_ew,
	[OP_ABS] = r_ew,
	[OP_NEG] = r_ew,
	[OP_EXP] = r_ew,
	[OP_LOG] = r_ew,
	[OP_SQRT] = r_ew,
	[OP_RECIPROCAL] = r_ew,
	[OP_FLOOR] = r_ew,
	[OP_CEIL] = r_ew,
	[OP_CLIP] = r_ew,
	[OP_BATCHNORM] = r_batchnorm,
	[OP_MAXPOOL] = r_pool,
	[OP_AVGPOOL] = r_pool,
	[OP_GLOBAL_AVGPOOL] = r_global_pool,
	[OP_RESHAPE] = r_reshape,
	[OP_TRANSPOSE] = r_transpose,
	[OP_CONCAT] = r_concat,
	[OP_SOFTMAX] = r_softmax,
	[OP_PAD] = r_pad,
	[OP_REDUCE_MEAN] = r_reduce,
	[OP_REDUCE_SUM] = r_reduce,
	[OP_REDUCE_MAX] = r_reduce,
	[OP_REDUCE_MIN] = r_reduce,
	[OP_IDENTITY] = r_identity,
	[OP_DET] = r_det,
	[OP_TFIDF] = r_tfidf,
	[OP_COL2IM] = r_col2im,
	[OP_EINSUM] = r_einsum,
	[OP_CONV_TRANSPOSE] = r_conv_transpose,
	[OP_LPPOOL] = r_pool,
	[OP_GLOBAL_MAXPOOL] = r_global_pool,
	[OP_RESIZE] = r_resize,
	[OP_LOG_SOFTMAX] = r_softmax_like,
	[OP_HARDMAX] = r_softmax_like,
	[OP_SLICE] = r_slice,
	[OP_GATHER] = r_gather,
	[OP_GATHER_ELEMENTS] = r_gather,
	[OP_TRILU] = r_trilu,
	[OP_ARGMAX] = r_arg,
	[OP_ARGMIN] = r_arg,
	[OP_CUMSUM] = r_cumsum,
	[OP_TILE] = r_tile,
	[OP_REDUCE_PROD] = r_reduce,
	[OP_FUSED_EW] = r_fused_ew,
	[OP_SIN] = r_ew,
	[OP_COS] = r_ew,
	[OP_TAN] = r_ew,
	[OP_ASIN] = r_ew,
	[OP_ACOS] = r_ew,
	[OP_ATAN] = r_ew,
	[OP_SINH] = r_ew,
	[OP_COSH] = r_ew,
	[OP_ASINH] = r_ew,
	[OP_ACOSH] = r_ew,
	[OP_ATANH] = r_ew,
	[OP_ERF] = r_ew,
	[OP_ROUND] = r_ew,
	[OP_SIGN] = r_ew,
	[OP_SOFTPLUS] = r_ew,
	[OP_SOFTSIGN] = r_ew,
	[OP_MISH] = r_ew,
	[OP_HARD_SWISH] = r_ew,
	[OP_HARD_SIGMOID] = r_ew,
	[OP_ELU] = r_ew,
	[OP_SELU] = r_ew,
	[OP_CELU] = r_ew,
	[OP_THRESHOLDED_RELU] = r_ew,
	[OP_SHRINK] = r_ew,
	[OP_GELU] = r_ew,
	[OP_NOT] = r_ew,
	[OP_BITWISE_NOT] = r_ew,
	[OP_ISNAN] = r_ew,
	[OP_ISINF] = r_ew,
	[OP_CAST] = r_ew,
	[OP_POW] = r_ew,
	[OP_MOD] = r_ew,
	[OP_MIN] = r_ew,
	[OP_MAX] = r_ew,
	[OP_EQUAL] = r_ew,
	[OP_LESS] = r_ew,
	[OP_LESS_EQUAL] = r_ew,
	[OP_GREATER] = r_ew,
	[OP_GREATER_EQUAL] = r_ew,
	[OP_AND] = r_ew,
	[OP_OR] = r_ew,
	[OP_XOR] = r_ew,
	[OP_BITWISE_AND] = r_ew,
	[OP_BITWISE_OR] = r_ew,
	[OP_BITWISE_XOR] = r_ew,
	[OP_BIT_SHIFT] = r_ew,
	[OP_PRELU] = r_ew,
	[OP_WHERE] = r_ew,
	[OP_EXPAND] = r_ew,
	[OP_SCATTER_ELEMENTS] = r_scatter_elements,
	[OP_SCATTER_ND] = r_scatter_nd,
	[OP_GATHER_ND] = r_gather_nd,
	[OP_TOPK] = r_topk,
	[OP_ONE_HOT] = r_one_hot,
	[OP_GRID_SAMPLE] = r_grid_sample,
	[OP_REVERSE_SEQUENCE] = r_reverse_sequence,
	[OP_MAX_UNPOOL] = r_max_unpool,
	[OP_MAXPOOL_INDEX] = r_maxpool_index,
	[OP_LAYER_NORM] = r_layer_norm,
	[OP_RELAYOUT] = r_identity,
	[OP_QUANTIZE] = r_quantize,
	[OP_DEQUANTIZE] = r_dequantize,
	[OP_QVIEW] = r_qview,
	[OP_LUT] = r_lut,
	[OP_MATMUL_INTEGER] = r_matmul_integer,
	[OP_CONV_INTEGER] = r_conv_integer,
};

bool ir_op_has_rule(Op op) { return op >= 0 && op < OP_COUNT && rules[op]; }

TypeId ir_infer_type(Graph *g, Op op, const char *name, const ValueId *in, int nin,
		     const Attr *attrs, int nattr, Diag *d)
{
	return ir_infer_result(g, op, name, in, nin, attrs, nattr, -1, d);
}

TypeId ir_infer_result(Graph *g, Op op, const char *name, const ValueId *in, int nin,
		       const Attr *attrs, int nattr, TypeId declared, Diag *d)
{
	Ctx c = {g, op, name, in, nin, attrs, nattr, d, NULL, {0}};
	if (declared >= 0 && declared < g->types.n)
		c.declared = ir_type_get(g, declared);
	if (op < 0 || op >= OP_COUNT || !rules[op])
		return err(&c, "no shape rule for op %d", (int)op), -1;
	if (nin < ir_ops[op].min_in || nin > ir_ops[op].max_in) {
		if (ir_ops[op].min_in == ir_ops[op].max_in)
			return err(&c, "has %d operands, expected %d", nin, ir_ops[op].min_in), -1;
		return err(&c, "has %d operands, expected %d to %d", nin, ir_ops[op].min_in, ir_ops[op].max_in), -1;
	}
	if (nin > 0 && !in)
		return err(&c, "operand list is missing"), -1;
	if (nattr < 0 || (nattr > 0 && !attrs))
		return err(&c, "attribute list is invalid"), -1;
	for (int i = 0; i < nin; i++) {
		if (in[i] < 0) {
			if (i < ir_ops[op].min_in)
				return err(&c, "required operand %d is omitted", i), -1;
			continue;
		}
		if (in[i] >= g->values.n)
			return err(&c, "operand %d is an invalid value id %d", i, in[i]), -1;
		TypeId t = g->values.v[in[i]].type;
		if (t < 0 || t >= g->types.n)
			return err(&c, "operand %d has an invalid type id %d", i, t), -1;
		char b[128];
		if (ir_type_get(g, t)->q && !(ir_ops[op].flags & OPF_QUANT))
			return err(&c, "operand %d is quantized (%s); %s has no integer form", i, TS(ir_type_get(g, t), b),
				   ir_ops[op].name), -1;
	}
	if (!rules[op](&c))
		return -1;
	int64_t n = ir_shape_numel(c.out.rank, c.out.dims);
	if (n < 0 || n > INT64_MAX / 16)  /* the byte size must fit too */
		return err(&c, "shape has too many elements"), -1;
	TypeId t = ir_type(g, c.out.dt, c.out.rank, c.out.dims, c.out.q);
	if (t < 0)
		err(&c, "out of memory");
	return t;
}

NodeId ir_build(Graph *g, Op op, const char *name, const ValueId *in, int nin,
		const Attr *attrs, int nattr, const char *out_name, Diag *d)
{
	return ir_build_as(g, op, name, in, nin, attrs, nattr, out_name, -1, d);
}

NodeId ir_build_as(Graph *g, Op op, const char *name, const ValueId *in, int nin,
		   const Attr *attrs, int nattr, const char *out_name, TypeId declared, Diag *d)
{
	TypeId t = ir_infer_result(g, op, name, in, nin, attrs, nattr, declared, d);
	if (t < 0)
		return -1;
	NodeId n = ir_add_node(g, op, name, in, nin, attrs, nattr, out_name, t);
	if (n < 0)
		diag_error(d, g->file, name ? name : "", ir_ops[op].onnx[0] ? ir_ops[op].onnx : ir_ops[op].name,
			   "out of memory");
	return n;
}
