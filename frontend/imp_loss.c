/* Losses, as compositions of gathers, reductions and elementwise ops. */
#include "importer.h"

/* NegativeLogLikelihoodLoss on x [N, C, d...] and target [N, d...]:
 * loss = -x[n, t, d...] * w[t], 0 where t == ignore_index; reduced to a
 * sum or a weighted mean, or kept per element. */
static ValueId nll(Ctx *c, ValueId x, ValueId t, ValueId w, const char *out_name)
{
	const Type *xt = vtype(c, x), *tt = vtype(c, t);
	DType dt = xt->dt, it = tt->dt;
	const char *red = sa_str(c->sn, "reduction", "mean");
	bool has_ii = sa_get(c->sn, "ignore_index") != NULL;
	if (strcmp(red, "none") && strcmp(red, "sum") && strcmp(red, "mean"))
		return fe_fail(c, "unsupported reduction '%s'", red), -1;
	if (xt->rank < 2 || tt->rank != xt->rank - 1 || tt->dims[0] != xt->dims[0])
		return fe_fail(c, "input must be [N, C, ...] and target [N, ...]"), -1;
	ValueId valid = -1, ts = t;
	if (has_ii) {
		valid = fe_unary(c, OP_NOT, fe_binary(c, OP_EQUAL, t, fe_scalar(c, it, (double)sa_int(c->sn, "ignore_index", 0)), NULL));
		ValueId v[3] = {valid, t, fe_scalar(c, it, 0)};
		ts = fe_emit(c, OP_WHERE, v, 3, NULL, 0, NULL);
	}
	/* x[n, t[n, d], d] by GatherElements along the class axis. */
	int64_t d1[IR_MAX_RANK], dr[IR_MAX_RANK];
	d1[0] = tt->dims[0];
	d1[1] = 1;
	for (int i = 1; i < tt->rank; i++)
		d1[i + 1] = tt->dims[i];
	memcpy(dr, tt->dims, sizeof dr);
	int rank = tt->rank;
	Attr ax = ir_ai("axis", 1);
	ValueId g[2] = {x, fe_reshape_to(c, ts, rank + 1, d1, NULL)};
	ValueId picked = g[1] < 0 ? -1 : fe_emit(c, OP_GATHER_ELEMENTS, g, 2, &ax, 1, NULL);
	picked = fe_reshape_to(c, picked, rank, dr, NULL);
	ValueId wt = -1;
	if (w >= 0) {
		Attr a0 = ir_ai("axis", 0);
		ValueId gw[2] = {w, ts};
		wt = fe_emit(c, OP_GATHER, gw, 2, &a0, 1, NULL);
	}
	if (valid >= 0) {
		ValueId vf = fe_cast_to(c, valid, dt, NULL);
		wt = wt >= 0 ? fe_binary(c, OP_MUL, wt, vf, NULL) : vf;
	}
	ValueId loss = fe_unary(c, OP_NEG, picked);
	bool none = !strcmp(red, "none");
	if (wt >= 0)
		loss = fe_binary(c, OP_MUL, loss, wt, none ? out_name : NULL);
	else if (none)
		loss = fe_emit(c, OP_IDENTITY, &loss, 1, NULL, 0, out_name);
	if (none)
		return loss;
	int64_t all[IR_MAX_RANK];
	for (int i = 0; i < rank; i++)
		all[i] = i;
	bool mean = !strcmp(red, "mean");
	ValueId s = fe_reduce_axes(c, OP_REDUCE_SUM, loss, all, rank, false, mean ? NULL : out_name);
	if (!mean)
		return s;
	ValueId den = wt >= 0 ? fe_reduce_axes(c, OP_REDUCE_SUM, wt, all, rank, false, NULL)
			      : fe_scalar(c, dt, (double)ir_type_numel(tt));
	return fe_binary(c, OP_DIV, s, den, out_name);
}

/* NegativeLogLikelihoodLoss(x, target, weight?; reduction, ignore_index) -> nll() */
static bool imp_nll(Ctx *c, const ValueId *in, int nin)
{
	if (!fe_need_float(c, in[0], "the input"))
		return false;
	return fe_define(c, nll(c, in[0], in[1], nin > 2 ? in[2] : -1, c->sn->out[0]));
}

/* SoftmaxCrossEntropyLoss(scores, labels, weight?) -> nll() of log_softmax */
static bool imp_sce(Ctx *c, const ValueId *in, int nin)
{
	if (!fe_need_float(c, in[0], "the scores"))
		return false;
	Attr ax = ir_ai("axis", 1);
	bool want_lp = c->sn->nout > 1 && *c->sn->out[1];
	ValueId lp = fe_emit(c, OP_LOG_SOFTMAX, in, 1, &ax, 1, want_lp ? c->sn->out[1] : NULL);
	if (lp < 0 || (want_lp && !fe_define_at(c, 1, lp)))
		return false;
	return fe_define(c, nll(c, lp, in[1], nin > 2 ? in[2] : -1, c->sn->out[0]));
}

const OpSpec imp_loss_ops[] = {
	{"NegativeLogLikelihoodLoss", 12, 22, 2, 3, 1, 0, imp_nll, {{"reduction", SA_STRING}, {"ignore_index", SA_INT}}},
	{"SoftmaxCrossEntropyLoss", 12, 22, 2, 3, 2, 0, imp_sce, {{"reduction", SA_STRING}, {"ignore_index", SA_INT}}, true},
	{NULL},
};
