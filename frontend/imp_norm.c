/* Normalizations: BatchNormalization is an IR op (LayerNormalization too,
 * without its statistics outputs); the others are compositions of
 * reductions and elementwise ops. */
#include "importer.h"

/* Per-channel scale and bias shaped [C, 1, ..., 1] to broadcast over NC... */
static ValueId per_channel(Ctx *c, ValueId v, int rank)
{
	int64_t d[IR_MAX_RANK];
	d[0] = ir_type_numel(vtype(c, v));
	for (int i = 1; i < rank - 1; i++)
		d[i] = 1;
	return fe_reshape_to(c, v, rank - 1, d, NULL);
}

/* (x - mean) / sqrt(var + eps) over axes, var the biased variance. */
static ValueId normalize(Ctx *c, ValueId x, const int64_t *axes, int k, double eps)
{
	DType dt = vtype(c, x)->dt;
	ValueId d = fe_binary(c, OP_SUB, x, fe_reduce_axes(c, OP_REDUCE_MEAN, x, axes, k, true, NULL), NULL);
	ValueId var = fe_reduce_axes(c, OP_REDUCE_MEAN, fe_binary(c, OP_MUL, d, d, NULL), axes, k, true, NULL);
	ValueId sd = fe_unary(c, OP_SQRT, fe_binary(c, OP_ADD, var, fe_scalar(c, dt, eps), NULL));
	return fe_binary(c, OP_DIV, d, sd, NULL);
}

/* BatchNormalization with training_mode: normalized by the batch's own
 * statistics; outputs 1 and 2 are the updated running mean and variance. */
static bool imp_batchnorm_training(Ctx *c, const ValueId *in)
{
	const Type *t = vtype(c, in[0]);
	int r = t->rank;
	if (r < 2)
		return fe_fail(c, "input must have rank >= 2");
	int64_t axes[IR_MAX_RANK];
	int k = 0;
	for (int i = 0; i < r; i++)
		if (i != 1)
			axes[k++] = i;
	DType dt = t->dt;
	double eps = sa_float(c->sn, "epsilon", 1e-5), mom = sa_float(c->sn, "momentum", 0.9);
	ValueId mean = fe_reduce_axes(c, OP_REDUCE_MEAN, in[0], axes, k, true, NULL);
	ValueId d = fe_binary(c, OP_SUB, in[0], mean, NULL);
	ValueId var = fe_reduce_axes(c, OP_REDUCE_MEAN, fe_binary(c, OP_MUL, d, d, NULL), axes, k, true, NULL);
	ValueId sd = fe_unary(c, OP_SQRT, fe_binary(c, OP_ADD, var, fe_scalar(c, dt, eps), NULL));
	ValueId y = fe_binary(c, OP_MUL, fe_binary(c, OP_DIV, d, sd, NULL), per_channel(c, in[1], r), NULL);
	if (!fe_define(c, fe_binary(c, OP_ADD, y, per_channel(c, in[2], r), c->sn->out[0])))
		return false;
	int64_t C = t->dims[1];
	ValueId cur[2] = {fe_reshape_to(c, mean, 1, &C, NULL), fe_reshape_to(c, var, 1, &C, NULL)};
	for (int o = 1; o < 3 && o < c->sn->nout; o++) {
		if (!*c->sn->out[o])
			continue;
		ValueId run = fe_binary(c, OP_MUL, in[2 + o], fe_scalar(c, dt, mom), NULL);
		ValueId upd = fe_binary(c, OP_ADD, run, fe_binary(c, OP_MUL, cur[o - 1], fe_scalar(c, dt, 1 - mom), NULL), c->sn->out[o]);
		if (!fe_define_at(c, o, upd))
			return false;
	}
	return true;
}

/* BatchNormalization(x, scale, b, mean, var) -> batchnorm (training_mode: the
 * composition above) */
static bool imp_batchnorm(Ctx *c, const ValueId *in, int nin)
{
	if (!fe_need_float(c, in[0], "the input"))
		return false;
	if (sa_int(c->sn, "training_mode", 0))
		return imp_batchnorm_training(c, in);
	Attr a = ir_af("epsilon", sa_float(c->sn, "epsilon", (double)1e-5f));
	return fe_emit_out(c, OP_BATCHNORM, in, 5, &a, 1);
}

/* LayerNormalization(x, scale, b?) -> layer_norm; when Mean or InvStdDev is
 * wanted too, a composition that has them */
static bool imp_layernorm(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t axis = sa_int(c->sn, "axis", -1);
	if (!fe_need_float(c, in[0], "the input") || !fe_norm_axis(c, &axis, t->rank, "axis"))
		return false;
	if (sa_int(c->sn, "stash_type", 1) != 1)
		return fe_fail(c, "stash_type other than float is not supported");
	int64_t axes[IR_MAX_RANK];
	int k = 0;
	for (int i = (int)axis; i < t->rank; i++)
		axes[k++] = i;
	double eps = sa_float(c->sn, "epsilon", 1e-5);
	DType dt = t->dt;
	bool has_b = nin > 2 && in[2] >= 0;
	bool stats = (c->sn->nout > 1 && *c->sn->out[1]) || (c->sn->nout > 2 && *c->sn->out[2]);
	if (!stats) {
		/* Y alone: the one op, normalized a row at a time. */
		Attr a[2] = {ir_ai("axis", axis), ir_af("epsilon", eps)};
		ValueId ops[3] = {in[0], in[1], has_b ? in[2] : -1};
		return fe_emit_out(c, OP_LAYER_NORM, ops, has_b ? 3 : 2, a, 2);
	}
	/* Mean or InvStdDev is wanted too: the composition, which has them. */
	ValueId mean = fe_reduce_axes(c, OP_REDUCE_MEAN, in[0], axes, k, true, NULL);
	ValueId d = fe_binary(c, OP_SUB, in[0], mean, NULL);
	ValueId var = fe_reduce_axes(c, OP_REDUCE_MEAN, fe_binary(c, OP_MUL, d, d, NULL), axes, k, true, NULL);
	ValueId sd = fe_unary(c, OP_SQRT, fe_binary(c, OP_ADD, var, fe_scalar(c, dt, eps), NULL));
	ValueId y = fe_binary(c, OP_MUL, fe_binary(c, OP_DIV, d, sd, NULL), in[1], has_b ? NULL : c->sn->out[0]);
	if (has_b)
		y = fe_binary(c, OP_ADD, y, in[2], c->sn->out[0]);
	if (!fe_define(c, y))
		return false;
	if (c->sn->nout > 1 && *c->sn->out[1] && !fe_define_at(c, 1, fe_emit(c, OP_IDENTITY, &mean, 1, NULL, 0, c->sn->out[1])))
		return false;
	if (c->sn->nout > 2 && *c->sn->out[2] &&
	    !fe_define_at(c, 2, fe_binary(c, OP_DIV, fe_scalar(c, dt, 1.0), sd, c->sn->out[2])))
		return false;
	return true;
}

/* InstanceNormalization(x, scale, b) -> normalized over the spatial axes,
 * times scale plus b per channel */
static bool imp_instancenorm(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	if (!fe_need_float(c, in[0], "the input") || t->rank < 3)
		return t->rank < 3 ? fe_fail(c, "input must have rank >= 3") : false;
	int64_t axes[IR_MAX_RANK];
	int k = 0;
	for (int i = 2; i < t->rank; i++)
		axes[k++] = i;
	ValueId y = normalize(c, in[0], axes, k, sa_float(c->sn, "epsilon", 1e-5));
	y = fe_binary(c, OP_MUL, y, per_channel(c, in[1], t->rank), NULL);
	return fe_define(c, fe_binary(c, OP_ADD, y, per_channel(c, in[2], t->rank), c->sn->out[0]));
}

/* GroupNormalization(x, scale, b) -> normalized over [N, G, C/G * spatial],
 * times scale plus b per channel */
static bool imp_groupnorm(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t g = sa_int(c->sn, "num_groups", 0);
	if (!fe_need_float(c, in[0], "the input") || t->rank < 3)
		return t->rank < 3 ? fe_fail(c, "input must have rank >= 3") : false;
	int64_t C = t->dims[1];
	if (g < 1 || C % g)
		return fe_fail(c, "num_groups %lld does not divide %lld channels", (long long)g, (long long)C);
	/* [N, G, C/G * spatial], normalized over the last axis. */
	int64_t d3[3] = {t->dims[0], g, ir_type_numel(t) / (t->dims[0] * g)};
	int64_t ax = 2, orig[IR_MAX_RANK];
	memcpy(orig, t->dims, sizeof orig);
	ValueId y = normalize(c, fe_reshape_to(c, in[0], 3, d3, NULL), &ax, 1, sa_float(c->sn, "epsilon", 1e-5));
	y = fe_reshape_to(c, y, t->rank, orig, NULL);
	ValueId sc = in[1], bi = in[2];
	if (ir_type_numel(vtype(c, sc)) == g) {
		/* opset 18: scale and bias per group; 21: per channel */
		return fe_fail(c, "per-group scale and bias (opset 18 GroupNormalization) are not supported");
	}
	y = fe_binary(c, OP_MUL, y, per_channel(c, sc, t->rank), NULL);
	return fe_define(c, fe_binary(c, OP_ADD, y, per_channel(c, bi, t->rank), c->sn->out[0]));
}

/* MeanVarianceNormalization(axes) -> (x - mean) / (sqrt(var) + 1e-9) over axes */
static bool imp_mvn(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int n = 0;
	const int64_t *a = sa_ints(c->sn, "axes", &n);
	int64_t axes[IR_MAX_RANK], def[3] = {0, 2, 3};
	if (!a) {
		a = def;
		n = 3;
	}
	if (n > t->rank || !fe_need_float(c, in[0], "the input"))
		return n > t->rank ? fe_fail(c, "too many axes") : false;
	bool red[IR_MAX_RANK] = {0};
	for (int i = 0; i < n; i++) {
		int64_t x = a[i];
		if (!fe_norm_axis(c, &x, t->rank, "axis"))
			return false;
		red[x] = true;
	}
	int k = 0;
	for (int i = 0; i < t->rank; i++)
		if (red[i])
			axes[k++] = i;
	/* MVN's epsilon is 1e-9, added to the standard deviation. */
	ValueId x = in[0];
	ValueId d = fe_binary(c, OP_SUB, x, fe_reduce_axes(c, OP_REDUCE_MEAN, x, axes, k, true, NULL), NULL);
	ValueId sd = fe_unary(c, OP_SQRT, fe_reduce_axes(c, OP_REDUCE_MEAN, fe_binary(c, OP_MUL, d, d, NULL), axes, k, true, NULL));
	return fe_define(c, fe_binary(c, OP_DIV, d, fe_binary(c, OP_ADD, sd, fe_scalar(c, t->dt, 1e-9), NULL), c->sn->out[0]));
}

/* LpNormalization(axis, p) -> x / sum |x| (p = 1) or x / sqrt(sum x^2) along axis */
static bool imp_lpnorm(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t axis = sa_int(c->sn, "axis", -1), p = sa_int(c->sn, "p", 2);
	if (!fe_need_float(c, in[0], "the input") || !fe_norm_axis(c, &axis, t->rank, "axis"))
		return false;
	if (p != 1 && p != 2)
		return fe_fail(c, "p must be 1 or 2, got %lld", (long long)p);
	ValueId x = in[0];
	ValueId s = p == 1 ? fe_unary(c, OP_ABS, x) : fe_binary(c, OP_MUL, x, x, NULL);
	s = fe_reduce_axes(c, OP_REDUCE_SUM, s, &axis, 1, true, NULL);
	if (p == 2)
		s = fe_unary(c, OP_SQRT, s);
	return fe_define(c, fe_binary(c, OP_DIV, x, s, c->sn->out[0]));
}

/* LRN -> x / (bias + alpha/size * sum of x^2 over a channel window)^beta; the
 * window sum is an average pool over channels with the padding counted. */
static bool imp_lrn(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	if (!fe_need_float(c, in[0], "the input") || t->rank < 3)
		return t->rank < 3 ? fe_fail(c, "input must have rank >= 3") : false;
	int64_t size = sa_int(c->sn, "size", 0);
	if (size < 1)
		return fe_fail(c, "size must be positive");
	double alpha = sa_float(c->sn, "alpha", 1e-4), beta = sa_float(c->sn, "beta", 0.75), bias = sa_float(c->sn, "bias", 1);
	int64_t N = t->dims[0], C = t->dims[1], rest = ir_type_numel(t) / (N * C), orig[IR_MAX_RANK];
	memcpy(orig, t->dims, sizeof orig);
	DType dt = t->dt;
	ValueId sq = fe_binary(c, OP_MUL, in[0], in[0], NULL);
	ValueId s4 = fe_reshape_to(c, sq, 4, (int64_t[]){N, 1, C, rest}, NULL);
	int64_t k[2] = {size, 1}, st[2] = {1, 1}, dl[2] = {1, 1}, pd[4] = {(size - 1) / 2, 0, size - 1 - (size - 1) / 2, 0};
	Attr a[6] = {ir_aints("kernel", k, 2), ir_aints("strides", st, 2), ir_aints("pads", pd, 4),
		     ir_aints("dilations", dl, 2), ir_ai("ceil_mode", 0), ir_ai("count_include_pad", 1)};
	ValueId avg = s4 < 0 ? -1 : fe_emit(c, OP_AVGPOOL, &s4, 1, a, 6, NULL);
	ValueId sum = fe_reshape_to(c, avg, t->rank, orig, NULL);
	/* avg = sum/size, so alpha/size * sum = alpha * avg */
	ValueId base = fe_binary(c, OP_ADD, fe_binary(c, OP_MUL, sum, fe_scalar(c, dt, alpha), NULL), fe_scalar(c, dt, bias), NULL);
	ValueId den = fe_binary(c, OP_POW, base, fe_scalar(c, dt, beta), NULL);
	return fe_define(c, fe_binary(c, OP_DIV, in[0], den, c->sn->out[0]));
}

const OpSpec imp_norm_ops[] = {
	{"BatchNormalization", 7, 22, 5, 5, 5, 0, imp_batchnorm,
	 {{"epsilon", SA_FLOAT}, {"momentum", SA_FLOAT}, {"spatial", SA_INT, 7, 8}, {"training_mode", SA_INT, 14, 0}}, true},
	{"LayerNormalization", 17, 22, 2, 3, 3, 0, imp_layernorm, {{"axis", SA_INT}, {"epsilon", SA_FLOAT}, {"stash_type", SA_INT}}, true},
	{"InstanceNormalization", 7, 22, 3, 3, 1, 0, imp_instancenorm, {{"epsilon", SA_FLOAT}}},
	{"GroupNormalization", 18, 22, 3, 3, 1, 0, imp_groupnorm, {{"epsilon", SA_FLOAT}, {"num_groups", SA_INT}, {"stash_type", SA_INT, 21, 0}}},
	{"MeanVarianceNormalization", 9, 22, 1, 1, 1, 0, imp_mvn, {{"axes", SA_INTS}}},
	{"LpNormalization", 7, 22, 1, 1, 1, 0, imp_lpnorm, {{"axis", SA_INT}, {"p", SA_INT}}},
	{"LRN", 7, 22, 1, 1, 1, 0, imp_lrn, {{"alpha", SA_FLOAT}, {"beta", SA_FLOAT}, {"bias", SA_FLOAT}, {"size", SA_INT}}},
	{NULL},
};
