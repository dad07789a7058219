/* Reductions: the five the IR has, and the others as compositions of them. */
#include "importer.h"

/* The reductions the IR has. */
static const struct {
	const char *onnx;
	Op op;
} reduce_ops[] = {
	{"ReduceMean", OP_REDUCE_MEAN}, {"ReduceSum", OP_REDUCE_SUM}, {"ReduceMax", OP_REDUCE_MAX},
	{"ReduceMin", OP_REDUCE_MIN}, {"ReduceProd", OP_REDUCE_PROD},
};

/* The reduced axes of a Reduce* node, sorted (no axes: all of them); *noop
 * when it reduces nothing (noop_with_empty_axes, or a scalar).  Floats only,
 * but small integers too when ints_ok (max and min: computed through f32). */
static bool reduce_spec(Ctx *c, const ValueId *in, int nin, bool ints_ok, int64_t *sorted, int *k, bool *noop)
{
	const Type *t = vtype(c, in[0]);
	int64_t axes[IR_MAX_RANK + 1];
	int n;
	bool have, red[IR_MAX_RANK] = {0};
	*noop = false;
	if (!(ints_ok && small_int(t->dt)) && !fe_need_float(c, in[0], "the input"))
		return false;
	if (!fe_ints_from(c, in, nin, 1, "axes", axes, IR_MAX_RANK, &n, &have))
		return false;
	if (n == 0 && sa_int(c->sn, "noop_with_empty_axes", 0)) {
		*noop = true;
		return true;
	}
	for (int i = 0; i < n; i++) {
		if (!fe_norm_axis(c, &axes[i], t->rank, "axis"))
			return false;
		if (red[axes[i]])
			return fe_fail(c, "axis %lld appears twice", (long long)axes[i]);
		red[axes[i]] = true;
	}
	*k = 0;
	for (int i = 0; i < t->rank; i++)
		if (red[i] || n == 0)
			sorted[(*k)++] = i;
	*noop = *k == 0;
	return true;
}

/* ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd (x, axes?; keepdims,
 * noop_with_empty_axes) -> reduce_*, the axes sorted; no axes: all axes */
static bool imp_reduce(Ctx *c, const ValueId *in, int nin)
{
	Op op = OP_COUNT;
	for (size_t i = 0; i < sizeof reduce_ops / sizeof *reduce_ops; i++)
		if (!strcmp(reduce_ops[i].onnx, c->sn->op))
			op = reduce_ops[i].op;
	if (op == OP_COUNT)
		die("no IR reduction for %s", c->sn->op);
	int64_t sorted[IR_MAX_RANK];
	int k;
	bool noop;
	if (!reduce_spec(c, in, nin, order_only(op), sorted, &k, &noop))
		return false;
	if (noop)
		return fe_emit_out(c, OP_IDENTITY, in, 1, NULL, 0);
	Attr a[2] = {ir_aints("axes", sorted, k), ir_ai("keepdims", sa_int(c->sn, "keepdims", 1) != 0)};
	return fe_emit_out(c, op, in, 1, a, 2);
}

/* ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum, ReduceLogSumExp -> reduce_sum
 * of |x| or x*x (then sqrt, log), log(reduce_sum), max + log(sum(exp(x - max))) */
static bool imp_reduce_comp(Ctx *c, const ValueId *in, int nin)
{
	int64_t axes[IR_MAX_RANK];
	int k = 0;
	bool noop;
	if (!reduce_spec(c, in, nin, false, axes, &k, &noop))
		return false;
	const char *op = c->sn->op, *out = c->sn->out[0];
	bool keep = sa_int(c->sn, "keepdims", 1) != 0;
	ValueId x = in[0];
	if (!strcmp(op, "ReduceLogSumExp")) {
		/* max + log(sum(exp(x - max))): no overflow */
		if (noop)
			return fe_emit_out(c, OP_IDENTITY, in, 1, NULL, 0);
		ValueId m = fe_reduce_axes(c, OP_REDUCE_MAX, x, axes, k, true, NULL);
		ValueId e = fe_unary(c, OP_EXP, fe_binary(c, OP_SUB, x, m, NULL));
		ValueId l = fe_unary(c, OP_LOG, fe_reduce_axes(c, OP_REDUCE_SUM, e, axes, k, keep, NULL));
		ValueId mk = keep ? m : fe_reduce_axes(c, OP_REDUCE_MAX, x, axes, k, false, NULL);
		return fe_define(c, fe_binary(c, OP_ADD, l, mk, out));
	}
	if (!strcmp(op, "ReduceL1"))
		x = fe_unary(c, OP_ABS, x);
	else if (strcmp(op, "ReduceLogSum"))
		x = fe_binary(c, OP_MUL, x, x, NULL);
	if (noop)
		return fe_define(c, fe_emit(c, OP_IDENTITY, &x, 1, NULL, 0, out));
	bool post = !strcmp(op, "ReduceL2") || !strcmp(op, "ReduceLogSum");
	ValueId s = fe_reduce_axes(c, OP_REDUCE_SUM, x, axes, k, keep, post ? NULL : out);
	if (!post)
		return fe_define(c, s);
	return fe_define(c, s < 0 ? -1 : fe_emit(c, !strcmp(op, "ReduceL2") ? OP_SQRT : OP_LOG, &s, 1, NULL, 0, out));
}

#define REDUCE_OLD {{"axes", SA_INTS}, {"keepdims", SA_INT}}
#define REDUCE_NEW {{"axes", SA_INTS, 0, 0, true}, {"keepdims", SA_INT}, {"noop_with_empty_axes", SA_INT}}

const OpSpec imp_reduce_ops[] = {
	{"ReduceMean", 7, 17, 1, 1, 1, 0, imp_reduce, REDUCE_OLD},
	{"ReduceMean", 18, 22, 1, 2, 1, 2, imp_reduce, REDUCE_NEW},
	{"ReduceMax", 7, 17, 1, 1, 1, 0, imp_reduce, REDUCE_OLD},
	{"ReduceMax", 18, 22, 1, 2, 1, 2, imp_reduce, REDUCE_NEW},
	{"ReduceMin", 7, 17, 1, 1, 1, 0, imp_reduce, REDUCE_OLD},
	{"ReduceMin", 18, 22, 1, 2, 1, 2, imp_reduce, REDUCE_NEW},
	{"ReduceSum", 7, 12, 1, 1, 1, 0, imp_reduce, REDUCE_OLD},
	{"ReduceSum", 13, 22, 1, 2, 1, 2, imp_reduce, REDUCE_NEW},
	{"ReduceProd", 7, 17, 1, 1, 1, 0, imp_reduce, REDUCE_OLD},
	{"ReduceProd", 18, 22, 1, 2, 1, 2, imp_reduce, REDUCE_NEW},
	{"ReduceL1", 7, 17, 1, 1, 1, 0, imp_reduce_comp, REDUCE_OLD},
	{"ReduceL1", 18, 22, 1, 2, 1, 2, imp_reduce_comp, REDUCE_NEW},
	{"ReduceL2", 7, 17, 1, 1, 1, 0, imp_reduce_comp, REDUCE_OLD},
	{"ReduceL2", 18, 22, 1, 2, 1, 2, imp_reduce_comp, REDUCE_NEW},
	{"ReduceSumSquare", 7, 17, 1, 1, 1, 0, imp_reduce_comp, REDUCE_OLD},
	{"ReduceSumSquare", 18, 22, 1, 2, 1, 2, imp_reduce_comp, REDUCE_NEW},
	{"ReduceLogSum", 7, 17, 1, 1, 1, 0, imp_reduce_comp, REDUCE_OLD},
	{"ReduceLogSum", 18, 22, 1, 2, 1, 2, imp_reduce_comp, REDUCE_NEW},
	{"ReduceLogSumExp", 7, 17, 1, 1, 1, 0, imp_reduce_comp, REDUCE_OLD},
	{"ReduceLogSumExp", 18, 22, 1, 2, 1, 2, imp_reduce_comp, REDUCE_NEW},
	{NULL},
};
