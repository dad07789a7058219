/* Shapes and constants: every shape is static, so Shape, Size and the
 * constant generators become constants, and the shape changes (Reshape,
 * Flatten, Squeeze, Unsqueeze) one canonical reshape. */
#include "importer.h"

#include <math.h>

/* Constant(value | value_float(s) | value_int(s)) -> a constant */
static bool imp_constant(Ctx *c, const ValueId *in, int nin)
{
	const SrcNode *n = c->sn;
	if (n->nattr != 1)
		return fe_fail(c, "needs exactly one value attribute, got %d", n->nattr);
	const SrcAttr *a = &n->attr[0];
	SrcTensor t = {0};
	double one;
	int64_t ione;
	if (strcmp(a->name, "value") == 0) {
		t = *a->t;
	} else if (strcmp(a->name, "value_float") == 0) {
		one = a->f;
		float f = (float)one;
		t = (SrcTensor){.dt = DT_F32, .rank = 0};
		float *p = ir_arena_alloc(c->m->arena, 4);
		if (!p)
			return fe_oom(c);
		*p = f;
		t.data = p;
	} else if (strcmp(a->name, "value_int") == 0) {
		ione = a->i;
		t = (SrcTensor){.dt = DT_I64, .rank = 0, .data = &ione};
	} else if (strcmp(a->name, "value_floats") == 0 || strcmp(a->name, "value_ints") == 0) {
		bool fl = a->name[6] == 'f';
		t = (SrcTensor){.dt = fl ? DT_F32 : DT_I64, .rank = 1, .dims = {a->n}};
		void *p = ir_arena_alloc(c->m->arena, (size_t)a->n * (fl ? 4 : 8) + 1);
		if (!p)
			return fe_oom(c);
		for (int i = 0; i < a->n; i++)
			if (fl)
				src_store(p, DT_F32, i, a->floats[i]);
			else
				memcpy((char *)p + 8 * i, &a->ints[i], 8);
		t.data = p;
	} else
		return fe_fail(c, "unsupported attribute '%s'", a->name);
	TypeId ty = ir_type(c->g, t.dt, t.rank, t.dims, NULL);
	if (ty < 0)
		return fe_oom(c);
	ValueId v = ir_add_const(c->g, n->out[0], ty, t.data);
	if (v < 0)
		return fe_oom(c);
	return fe_define(c, v);
}

/* Shape(x; start, end) -> an i64 constant: the dims are static */
static bool imp_shape(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t r = t->rank, lo = sa_int(c->sn, "start", 0), hi = sa_int(c->sn, "end", r);
	lo = lo < 0 ? lo + r : lo;
	hi = hi < 0 ? hi + r : hi;
	lo = lo < 0 ? 0 : lo > r ? r : lo;
	hi = hi < 0 ? 0 : hi > r ? r : hi;
	int64_t n = hi > lo ? hi - lo : 0;
	return fe_define_const(c, DT_I64, 1, &n, t->dims + lo);
}

/* Size(x) -> an i64 constant */
static bool imp_size(Ctx *c, const ValueId *in, int nin)
{
	int64_t n = ir_type_numel(vtype(c, in[0]));
	return fe_define_const(c, DT_I64, 0, NULL, &n);
}

/* A constant shape operand (ConstantOfShape, Expand): no negative dims. */
static bool shape_operand(Ctx *c, ValueId v, int64_t *dims, int *n)
{
	if (!fe_const_ints(c, v, "the shape input", dims, IR_MAX_RANK, n))
		return false;
	for (int i = 0; i < *n; i++)
		if (dims[i] < 0)
			return fe_fail(c, "shape dimension %lld is negative", (long long)dims[i]);
	return true;
}

/* ConstantOfShape(shape; value) -> a constant filled with value */
static bool imp_constant_of_shape(Ctx *c, const ValueId *in, int nin)
{
	int64_t dims[IR_MAX_RANK + 1];
	int n;
	if (!shape_operand(c, in[0], dims, &n))
		return false;
	int64_t numel = ir_shape_numel(n, dims);
	if (numel < 0 || numel > ((int64_t)1 << 28))
		return fe_fail(c, "the shape has %lld elements; constants are limited to 2^28", (long long)numel);
	DType dt = DT_F32;
	unsigned char zero[8] = {0};
	const void *one = zero;
	const SrcAttr *a = sa_get(c->sn, "value");
	if (a) {
		if (a->kind != SA_TENSOR || !a->t || a->t->rank > 1 || ir_shape_numel(a->t->rank, a->t->dims) != 1)
			return fe_fail(c, "attribute 'value' must be a one-element tensor");
		dt = a->t->dt;
		one = a->t->data;
	}
	void *p = fe_filled(c, dt, numel, one);
	return p ? fe_define_const(c, dt, n, dims, p) : fe_oom(c);
}

/* Range(start, limit, delta), constants -> a constant */
static bool imp_range(Ctx *c, const ValueId *in, int nin)
{
	DType dt = vtype(c, in[0])->dt;
	for (int i = 1; i < 3; i++)
		if (!fe_same_dtype(c, in[0], in[i]))
			return false;
	double v[3];
	const char *what[3] = {"start", "limit", "delta"};
	for (int i = 0; i < 3; i++)
		if (!fe_const_scalar(c, in[i], what[i], &v[i]))
			return false;
	for (int i = 0; i < 3; i++)
		if (!isfinite(v[i]))
			return fe_fail(c, "%s is %g; the bounds and delta must be finite", what[i], v[i]);
	if (v[2] == 0)
		return fe_fail(c, "delta is zero");
	/* The count is judged as a double: converting a huge or non-finite
	 * quotient to int64 first is undefined. */
	double cnt = ceil((v[1] - v[0]) / v[2]);
	if (!(cnt <= (double)((int64_t)1 << 28)))
		return fe_fail(c, "the range has %g elements (at most %lld)", cnt, (long long)1 << 28);
	int64_t n = cnt > 0 ? (int64_t)cnt : 0;
	int esz = ir_dtype_size(dt);
	char *p = ir_arena_alloc(c->g->arena, (size_t)(n * esz) + 1);
	if (!p)
		return fe_oom(c);
	/* start + i*delta, in the dtype's own arithmetic for floats (ONNX's
	 * reference accumulates in that type). */
	for (int64_t i = 0; i < n; i++) {
		if (dt == DT_F32)
			src_store(p, dt, i, (float)v[0] + (float)i * (float)v[2]);
		else
			src_store(p, dt, i, v[0] + (double)i * v[2]);
	}
	return fe_define_const(c, dt, 1, &n, p);
}

/* EyeLike(x; dtype, k) -> a constant */
static bool imp_eyelike(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	if (t->rank != 2)
		return fe_fail(c, "input must be 2-D, got rank %d", t->rank);
	DType dt = t->dt;
	if (sa_get(c->sn, "dtype")) {
		dt = ir_dtype_from_onnx((int)sa_int(c->sn, "dtype", 1));
		if (dt == DT_UNDEF)
			return fe_fail(c, "unsupported dtype %lld", (long long)sa_int(c->sn, "dtype", 1));
	}
	int64_t k = sa_int(c->sn, "k", 0), r = t->dims[0], cl = t->dims[1];
	if (ir_type_numel(t) > ((int64_t)1 << 28))
		return fe_fail(c, "the matrix has %lld elements; constants are limited to 2^28", (long long)ir_type_numel(t));
	char *p = ir_arena_alloc(c->g->arena, (size_t)(r * cl * ir_dtype_size(dt)) + 1);
	if (!p)
		return fe_oom(c);
	for (int64_t i = 0; i < r; i++)
		if (i + k >= 0 && i + k < cl)
			src_store(p, dt, i * cl + i + k, 1.0);
	return fe_define_const(c, dt, 2, t->dims, p);
}

/* Expand(x, shape) -> expand, attr shape */
static bool imp_expand(Ctx *c, const ValueId *in, int nin)
{
	int64_t sh[IR_MAX_RANK + 1];
	int n;
	if (!shape_operand(c, in[1], sh, &n))
		return false;
	Attr a = ir_aints("shape", sh, n);
	return fe_emit_out(c, OP_EXPAND, in, 1, &a, 1);
}

/* Flatten(axis) -> reshape to 2-D */
static bool imp_flatten(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t axis = sa_int(c->sn, "axis", 1);
	if (axis < -t->rank || axis > t->rank)
		return fe_fail(c, "axis %lld is out of range for rank %d", (long long)axis, t->rank);
	if (axis < 0)
		axis += t->rank;
	int64_t d[2] = {ir_shape_numel((int)axis, t->dims), ir_shape_numel(t->rank - (int)axis, t->dims + axis)};
	if (d[0] < 0 || d[1] < 0)
		return fe_fail(c, "element count overflows");
	return fe_define(c, fe_reshape_to(c, in[0], 2, d, c->sn->out[0]));
}

/* Reshape(x, shape; allowzero) -> reshape, its 0 and -1 resolved */
static bool imp_reshape(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t sh[IR_MAX_RANK + 1];
	int n;
	bool have;
	if (!fe_ints_from(c, in, nin, 1, "shape", sh, IR_MAX_RANK, &n, &have))
		return false;
	if (!have)
		return fe_fail(c, "the target shape is missing");
	bool allowzero = sa_int(c->sn, "allowzero", 0) != 0;
	int minus = -1;
	int64_t known = 1;
	for (int i = 0; i < n; i++) {
		if (sh[i] == 0 && !allowzero) {
			if (i >= t->rank)
				return fe_fail(c, "shape[%d] = 0 copies a dimension the rank-%d input does not have", i, t->rank);
			sh[i] = t->dims[i];
		}
		if (sh[i] == -1) {
			if (minus >= 0)
				return fe_fail(c, "the target shape has more than one -1");
			minus = i;
			continue;
		}
		if (sh[i] < 0)
			return fe_fail(c, "invalid target dimension %lld", (long long)sh[i]);
		if (sh[i] != 0 && known > INT64_MAX / sh[i])
			return fe_fail(c, "the target shape's element count overflows");
		known *= sh[i];
	}
	int64_t numel = ir_type_numel(t);
	if (minus >= 0) {
		if (known == 0 || numel % known != 0) {
			char b[200];
			fe_fmt_dims(b, sizeof b, t->rank, t->dims);
			return fe_fail(c, "cannot infer the -1 dimension: %lld elements of %s do not divide by %lld",
				    (long long)numel, b, (long long)known);
		}
		sh[minus] = numel / known;
	} else if (known != numel) {
		char b1[200], b2[200];
		fe_fmt_dims(b1, sizeof b1, t->rank, t->dims);
		fe_fmt_dims(b2, sizeof b2, n, sh);
		return fe_fail(c, "cannot reshape %s (%lld elements) to %s", b1, (long long)numel, b2);
	}
	return fe_define(c, fe_reshape_to(c, in[0], n, sh, c->sn->out[0]));
}

/* Squeeze(x, axes?) -> reshape */
static bool imp_squeeze(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t axes[IR_MAX_RANK + 1], dims[IR_MAX_RANK];
	int n, r = 0;
	bool have, drop[IR_MAX_RANK] = {0};
	if (!fe_ints_from(c, in, nin, 1, "axes", axes, IR_MAX_RANK, &n, &have))
		return false;
	if (!have)
		for (int i = 0; i < t->rank; i++)
			drop[i] = t->dims[i] == 1;
	for (int i = 0; i < n; i++) {
		if (!fe_norm_axis(c, &axes[i], t->rank, "axis"))
			return false;
		if (t->dims[axes[i]] != 1)
			return fe_fail(c, "cannot squeeze axis %lld of size %lld", (long long)axes[i],
				    (long long)t->dims[axes[i]]);
		drop[axes[i]] = true;
	}
	for (int i = 0; i < t->rank; i++)
		if (!drop[i])
			dims[r++] = t->dims[i];
	return fe_define(c, fe_reshape_to(c, in[0], r, dims, c->sn->out[0]));
}

/* Unsqueeze(x, axes) -> reshape */
static bool imp_unsqueeze(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t axes[IR_MAX_RANK + 1], dims[IR_MAX_RANK];
	int n;
	bool have, ins[IR_MAX_RANK] = {0};
	if (!fe_ints_from(c, in, nin, 1, "axes", axes, IR_MAX_RANK, &n, &have))
		return false;
	if (!have)
		return fe_fail(c, "axes are required");
	int r = t->rank + n;
	if (r > IR_MAX_RANK)
		return fe_fail(c, "result rank %d exceeds the maximum %d", r, IR_MAX_RANK);
	for (int i = 0; i < n; i++) {
		if (!fe_norm_axis(c, &axes[i], r, "axis"))
			return false;
		if (ins[axes[i]])
			return fe_fail(c, "axis %lld appears twice", (long long)axes[i]);
		ins[axes[i]] = true;
	}
	for (int i = 0, j = 0; i < r; i++)
		dims[i] = ins[i] ? 1 : t->dims[j++];
	return fe_define(c, fe_reshape_to(c, in[0], r, dims, c->sn->out[0]));
}

const OpSpec imp_shape_ops[] = {
	{"Constant", 7, 22, 0, 0, 1, 0, imp_constant,
	 {{"value", SA_TENSOR}, {"value_float", SA_FLOAT, 12, 0}, {"value_floats", SA_FLOATS, 12, 0},
	  {"value_int", SA_INT, 12, 0}, {"value_ints", SA_INTS, 12, 0}}},
	{"Shape", 7, 22, 1, 1, 1, 0, imp_shape, {{"start", SA_INT, 15, 0}, {"end", SA_INT, 15, 0}}},
	{"Size", 7, 22, 1, 1, 1, 0, imp_size},
	{"ConstantOfShape", 9, 22, 1, 1, 1, 1, imp_constant_of_shape, {{"value", SA_TENSOR}}},
	{"Range", 11, 22, 3, 3, 1, 7, imp_range},
	{"EyeLike", 9, 22, 1, 1, 1, 0, imp_eyelike, {{"dtype", SA_INT}, {"k", SA_INT}}},
	{"Expand", 8, 22, 2, 2, 1, 2, imp_expand},
	{"Flatten", 7, 22, 1, 1, 1, 0, imp_flatten, {{"axis", SA_INT}}},
	{"Reshape", 7, 22, 2, 2, 1, 2, imp_reshape, {{"allowzero", SA_INT, 14, 0}, {"shape", SA_INTS, 0, 0, true}}},
	{"Squeeze", 7, 12, 1, 1, 1, 0, imp_squeeze, {{"axes", SA_INTS}}},
	{"Squeeze", 13, 22, 1, 2, 1, 2, imp_squeeze, {{"axes", SA_INTS, 0, 0, true}}},
	{"Unsqueeze", 7, 12, 1, 1, 1, 0, imp_unsqueeze, {{"axes", SA_INTS}}},
	{"Unsqueeze", 13, 22, 2, 2, 1, 2, imp_unsqueeze, {{"axes", SA_INTS, 0, 0, true}}},
	{NULL},
};
