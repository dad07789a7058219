/* Building IR for the node being imported: its diagnostics and fresh names,
 * emitting nodes (OPF_F32 ops widened to f32), binding its outputs, reading
 * its operands. */
#include "importer.h"

#include <stdarg.h>
#include <stdio.h>

/* ---- diagnostics and names ----------------------------------------------- */

bool fe_fail(Ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_verror(c->d, c->file, c->sn ? c->sn->name : NULL, c->sn ? c->sn->op : NULL, fmt, ap);
	va_end(ap);
	return false;
}

bool fe_oom(Ctx *c)
{
	if (!c->oom)
		diag_error(c->d, c->file, NULL, NULL, "out of memory");
	c->oom = true;
	return false;
}

void fe_fmt_dims(char *buf, size_t cap, int rank, const int64_t *dims)
{
	size_t k = 0;
	k += snprintf(buf + k, cap - k, "[");
	for (int i = 0; i < rank && k < cap; i++)
		k += snprintf(buf + k, cap - k, i ? ",%lld" : "%lld", (long long)dims[i]);
	if (k < cap)
		snprintf(buf + k, cap - k, "]");
}

/* The node's first named output: the base of its intermediate names. */
const char *fe_sn_base(const Ctx *c)
{
	for (int i = 0; i < c->sn->nout; i++)
		if (*c->sn->out[i])
			return c->sn->out[i];
	return c->sn->name;
}

/* A fresh value name derived from base; unique among all names. */
const char *fe_fresh_name(Ctx *c, const char *base, const char *suffix)
{
	char buf[512];
	for (int i = 0;; i++) {
		if (i)
			snprintf(buf, sizeof buf, "%.400s/%s.%d", base, suffix, i);
		else
			snprintf(buf, sizeof buf, "%.400s/%s", base, suffix);
		if (!fe_nm_has(&c->names, buf))
			break;
	}
	char *s = ir_arena_strdup(c->g->arena, buf);
	if (!s || !fe_nm_put(&c->names, s, 1))
		return NULL;
	return s;
}

/* Re-emit messages of the shape rules with the source op type in place of
 * the IR op name, so errors name what the user wrote. */
static void forward_diag(Ctx *c, Diag *tmp)
{
	char prefix[700];
	snprintf(prefix, sizeof prefix, "%s%snode '%s' (", c->file, *c->file ? ": " : "", c->sn->name);
	size_t pl = strlen(prefix);
	for (int i = 0; i < tmp->nmsg; i++) {
		const char *msg = tmp->msgs[i];
		const char *close = strncmp(msg, prefix, pl) == 0 ? strstr(msg + pl, "): ") : NULL;
		if (close)
			diag_error(c->d, NULL, NULL, NULL, "%s%s%s", prefix, c->src_op, close);
		else
			diag_error(c->d, NULL, NULL, NULL, "%s", msg);
	}
	if (tmp->nmsg == 0)
		fe_fail(c, "cannot build the node (out of memory)");
}

/* ---- emitting nodes and binding outputs ---------------------------------- */

/* A cast node to dt: attributes "to" and, for float8, "saturate". */
ValueId fe_emit_cast(Ctx *c, ValueId x, DType to, bool saturate, const char *out_name)
{
	Attr a[2] = {ir_astr("to", ir_dtype_name(to)), ir_ai("saturate", saturate)};
	return fe_emit(c, OP_CAST, &x, 1, a, ir_dtype_is_f8(to) ? 2 : 1, out_name);
}

/* A cast to dt unless x has it already (and needs no name of its own). */
ValueId fe_cast_to(Ctx *c, ValueId x, DType to, const char *out_name)
{
	if (vtype(c, x)->dt == to && out_name == NULL)
		return x;
	return fe_emit_cast(c, x, to, true, out_name);
}

/* An OPF_F32 op on f64/f16/bf16 operands (or an order_only one on small
 * integers): computed in f32 between casts
 * (the backend's kernels for it are f32; 1e-7 relative is kept). */
static ValueId emit_widened(Ctx *c, Op op, const ValueId *in, int nin, const Attr *a, int na, const char *out_name,
			    DType dt)
{
	ValueId w[64];
	for (int i = 0; i < nin; i++) {
		w[i] = in[i];
		if (in[i] >= 0 && ir_value_type(c->g, in[i])->dt == dt) {
			w[i] = fe_emit_cast(c, in[i], DT_F32, true, NULL);
			if (w[i] < 0)
				return -1;
		}
	}
	ValueId y = fe_emit(c, op, w, nin, a, na, NULL);
	if (y < 0)
		return -1;
	return fe_emit_cast(c, y, dt, true, out_name);
}

/* Append an IR node for the current source node; returns its result value
 * or -1 with a diagnostic.  out_name NULL: a fresh intermediate name. */
ValueId fe_emit(Ctx *c, Op op, const ValueId *in, int nin, const Attr *a, int na, const char *out_name)
{
	return fe_emit_as(c, op, in, nin, a, na, out_name, -1);
}

/* An ONNX op reads a quantized value (the result of a quantized op) as its
 * integers.  A node whose integer form takes the operands as they are gets
 * them (data movement and max keep the quantization); any other node, and
 * one computed through f32 (emit_widened), reads them through a qview to
 * the plain integers.  in is rewritten into w; false on an error. */
static bool plain_operands(Ctx *c, Op op, const ValueId **in, int nin, const Attr *a, int na, ValueId *w)
{
	bool any = false;
	for (int i = 0; i < nin; i++)
		any |= (*in)[i] >= 0 && ir_value_type(c->g, (*in)[i])->q;
	if (!any)
		return true;
	if (!((ir_ops[op].flags & OPF_F32) && order_only(op))) {
		Diag tmp;
		diag_init(&tmp);
		bool takes = ir_infer_result(c->g, op, c->sn->name, *in, nin, a, na, -1, &tmp) >= 0;
		diag_free(&tmp);
		if (takes)
			return true;
	}
	for (int i = 0; i < nin; i++) {
		w[i] = (*in)[i];
		const Type *t = w[i] >= 0 ? ir_value_type(c->g, w[i]) : NULL;
		if (!t || !t->q)
			continue;
		TypeId plain = ir_type(c->g, t->dt, t->rank, t->dims, NULL);
		if (plain < 0)
			return fe_oom(c);
		if ((w[i] = fe_emit_as(c, OP_QVIEW, &w[i], 1, NULL, 0, NULL, plain)) < 0)
			return false;
	}
	*in = w;
	return true;
}

ValueId fe_emit_as(Ctx *c, Op op, const ValueId *in, int nin, const Attr *a, int na, const char *out_name, TypeId declared)
{
	ValueId plain[64];
	if (declared < 0 && nin <= 64 && !plain_operands(c, op, &in, nin, a, na, plain))
		return -1;
	if ((ir_ops[op].flags & OPF_F32) && declared < 0)
		for (int i = 0; i < nin; i++) {
			DType dt = in[i] >= 0 ? ir_value_type(c->g, in[i])->dt : DT_F32;
			if ((ir_dtype_is_float(dt) && dt != DT_F32) || (order_only(op) && small_int(dt)))
				return emit_widened(c, op, in, nin, a, na, out_name, dt);
		}
	if (!out_name) {
		out_name = fe_fresh_name(c, fe_sn_base(c), ir_ops[op].name);
		if (!out_name)
			return fe_oom(c), -1;
	}
	Diag tmp;
	diag_init(&tmp);
	NodeId id = ir_build_as(c->g, op, c->sn->name, in, nin, a, na, out_name, declared, &tmp);
	if (id < 0) {
		forward_diag(c, &tmp);
		diag_free(&tmp);
		return -1;
	}
	diag_free(&tmp);
	c->g->nodes.v[id].src_op = c->src_op;
	return c->g->nodes.v[id].out;
}

/* Bind the source node's first output to v. */
bool fe_define(Ctx *c, ValueId v)
{
	if (v < 0)
		return false;
	if (!fe_nm_put(&c->vals, c->sn->out[0], v))
		return fe_oom(c);
	return true;
}

/* Bind the source node's output i (multi-output ops). */
bool fe_define_at(Ctx *c, int i, ValueId v)
{
	if (v < 0)
		return false;
	if (i >= c->sn->nout || !*c->sn->out[i])
		return true;
	if (!fe_nm_put(&c->vals, c->sn->out[i], v))
		return fe_oom(c);
	return true;
}

/* A new constant bound to the source node's first output. */
bool fe_define_const(Ctx *c, DType dt, int rank, const int64_t *dims, const void *data)
{
	TypeId ty = ir_type(c->g, dt, rank, dims, NULL);
	if (ty < 0)
		return fe_oom(c);
	ValueId v = ir_add_const(c->g, c->sn->out[0], ty, data);
	if (v < 0)
		return fe_oom(c);
	return fe_define(c, v);
}

/* Fill a fresh buffer of numel elements of dt with value v. */
void *fe_filled(Ctx *c, DType dt, int64_t numel, const void *one)
{
	int esz = ir_dtype_size(dt);
	char *p = ir_arena_alloc(c->g->arena, (size_t)(numel * esz) + 1);
	for (int64_t i = 0; p && i < numel; i++)
		memcpy(p + i * esz, one, (size_t)esz);
	return p;
}

/* ---- operand helpers ----------------------------------------------------- */

bool fe_need_float(Ctx *c, ValueId v, const char *what)
{
	DType dt = vtype(c, v)->dt;
	if (ir_dtype_is_float(dt))
		return true;
	return fe_fail(c, "%s has dtype %s; %s supports only floating-point tensors", what,
		    ir_dtype_name(dt), c->sn->op);
}

bool fe_same_dtype(Ctx *c, ValueId a, ValueId b)
{
	DType x = vtype(c, a)->dt, y = vtype(c, b)->dt;
	if (x == y)
		return true;
	return fe_fail(c, "operands have different dtypes %s and %s", ir_dtype_name(x), ir_dtype_name(y));
}

/* A constant operand; values computed from constants (shape programs)
 * are evaluated now, through the fold hook.  NULL with an error if v
 * depends on a graph input. */
const Value *fe_const_val(Ctx *c, ValueId v, const char *what)
{
	if (ir_value(c->g, v)->kind != VAL_CONST && c->fold && ir_is_const_expr(c->g, v)) {
		Diag tmp;
		diag_init(&tmp);
		bool ok = c->fold(c->g, &v, 1, &tmp);
		if (!ok)
			forward_diag(c, &tmp);
		diag_free(&tmp);
		if (!ok)
			return NULL;
	}
	const Value *val = ir_value(c->g, v);
	if (val->kind != VAL_CONST)
		return fe_fail(c, "%s must be a constant (it depends on a graph input)", what), NULL;
	return val;
}

/* The integers of a constant operand (rank 0 or 1, i32 or i64). */
bool fe_const_ints(Ctx *c, ValueId v, const char *what, int64_t *out, int max, int *n)
{
	const Value *val = fe_const_val(c, v, what);
	const Type *t = vtype(c, v);
	if (!val)
		return false;
	if (t->dt != DT_I64 && t->dt != DT_I32)
		return fe_fail(c, "%s must be an int64 tensor, got %s", what, ir_dtype_name(t->dt));
	if (t->rank > 1)
		return fe_fail(c, "%s must be a 1-D tensor, got rank %d", what, t->rank);
	int64_t k = ir_type_numel(t);
	if (k < 0 || k > max)
		return fe_fail(c, "%s has %lld elements, at most %d supported", what, (long long)k, max);
	for (int64_t i = 0; i < k; i++) {
		if (t->dt == DT_I64)
			memcpy(&out[i], (const char *)val->data + 8 * i, 8);
		else {
			int32_t x;
			memcpy(&x, (const char *)val->data + 4 * i, 4);
			out[i] = x;
		}
	}
	*n = (int)k;
	return true;
}

/* A constant operand holding one number. */
bool fe_const_scalar(Ctx *c, ValueId v, const char *what, double *out)
{
	const Value *val = fe_const_val(c, v, what);
	const Type *t = vtype(c, v);
	if (!val)
		return false;
	if (ir_type_numel(t) != 1)
		return fe_fail(c, "%s must be a scalar, got %lld elements", what, (long long)ir_type_numel(t));
	*out = src_load(val->data, t->dt, 0);
	return true;
}

/* Integer list from operand i when present, else from attribute name.
 * *have is false when neither is given. */
bool fe_ints_from(Ctx *c, const ValueId *in, int nin, int i, const char *name,
		      int64_t *out, int max, int *n, bool *have)
{
	*have = false;
	*n = 0;
	if (i < nin && in[i] >= 0) {
		char what[200];
		snprintf(what, sizeof what, "input %d ('%s')", i, c->sn->in[i]);
		*have = true;
		return fe_const_ints(c, in[i], what, out, max, n);
	}
	int k;
	const int64_t *a = sa_ints(c->sn, name, &k);
	if (!a)
		return true;
	if (k > max)
		return fe_fail(c, "attribute '%s' has %d elements, at most %d supported", name, k, max);
	memcpy(out, a, (size_t)k * sizeof *out);
	*n = k;
	*have = true;
	return true;
}

bool fe_norm_axis(Ctx *c, int64_t *axis, int rank, const char *what)
{
	if (*axis < -rank || *axis >= rank)
		return fe_fail(c, "%s %lld is out of range for rank %d", what, (long long)*axis, rank);
	if (*axis < 0)
		*axis += rank;
	return true;
}

/* ---- small nodes compositions are built from ----------------------------- */

/* Canonical reshape of x to dims. */
ValueId fe_reshape_to(Ctx *c, ValueId x, int rank, const int64_t *dims, const char *out_name)
{
	int64_t sh[IR_MAX_RANK];
	memcpy(sh, dims, (size_t)rank * sizeof *sh);
	Attr a = ir_aints("shape", sh, rank);
	return fe_emit(c, OP_RESHAPE, &x, 1, &a, 1, out_name);
}

/* A slice of x: per-axis start, step and count (full rank). */
ValueId fe_slice_of(Ctx *c, ValueId x, const int64_t *start, const int64_t *step, const int64_t *count,
			const char *out_name)
{
	int r = vtype(c, x)->rank;
	int64_t a[IR_MAX_RANK], b[IR_MAX_RANK], d[IR_MAX_RANK];
	memcpy(a, start, (size_t)r * sizeof *a);
	memcpy(b, step, (size_t)r * sizeof *b);
	memcpy(d, count, (size_t)r * sizeof *d);
	/* An empty axis: any in-range start will do. */
	for (int i = 0; i < r; i++)
		if (d[i] == 0)
			a[i] = 0, b[i] = 1;
	Attr at[3] = {ir_aints("starts", a, r), ir_aints("steps", b, r), ir_aints("dims", d, r)};
	return fe_emit(c, OP_SLICE, &x, 1, at, 3, out_name);
}

/* A scalar constant of dtype dt. */
ValueId fe_scalar(Ctx *c, DType dt, double v)
{
	unsigned char buf[8] = {0};
	src_store(buf, dt, 0, v);
	TypeId ty = ir_type(c->g, dt, 0, NULL, NULL);
	const char *name = fe_fresh_name(c, fe_sn_base(c), "k");
	ValueId k = ty < 0 || !name ? -1 : ir_add_const(c->g, name, ty, buf);
	if (k < 0)
		fe_oom(c);
	return k;
}

ValueId fe_reduce_axes(Ctx *c, Op op, ValueId x, const int64_t *axes, int n, bool keep, const char *out_name)
{
	if (x < 0)
		return -1;
	int64_t a[IR_MAX_RANK];
	memcpy(a, axes, (size_t)n * sizeof *a);
	Attr at[2] = {ir_aints("axes", a, n), ir_ai("keepdims", keep)};
	return fe_emit(c, op, &x, 1, at, 2, out_name);
}

/* Emit the op's one node producing the source output. */
bool fe_emit_out(Ctx *c, Op op, const ValueId *in, int nin, const Attr *a, int na)
{
	return fe_define(c, fe_emit(c, op, in, nin, a, na, c->sn->out[0]));
}

/* One-operand and two-operand nodes with fresh names; -1 operands pass
 * through, so compositions chain them and check once at the end. */
ValueId fe_unary(Ctx *c, Op op, ValueId x)
{
	return x < 0 ? -1 : fe_emit(c, op, &x, 1, NULL, 0, NULL);
}

ValueId fe_binary(Ctx *c, Op op, ValueId a, ValueId b, const char *out_name)
{
	if (a < 0 || b < 0)
		return -1;
	ValueId v[2] = {a, b};
	return fe_emit(c, op, v, 2, NULL, 0, out_name);
}

ValueId fe_to_f32(Ctx *c, ValueId v) { return v < 0 ? -1 : fe_cast_to(c, v, DT_F32, NULL); }
