/* Control flow and optionals: If on a condition known at compile time, and
 * the Optional ops on plain tensors. */
#include "importer.h"

/* If(cond, then_branch, else_branch) -> the taken branch's nodes, imported in
 * place (cond must be known at compile time); its outputs become the If's. */
static bool imp_if(Ctx *c, const ValueId *in, int nin)
{
	double cond;
	const SrcNode *self = c->sn;
	const char *self_op = c->src_op;
	const struct OpSpec *self_spec = c->spec;
	if (!fe_const_scalar(c, in[0], "the condition (kiln needs it known at compile time)", &cond))
		return false;
	const SrcAttr *br = sa_get(self, cond != 0 ? "then_branch" : "else_branch");
	if (!br || br->kind != SA_GRAPH)
		return fe_fail(c, "attribute '%s' (a graph) is missing", cond != 0 ? "then_branch" : "else_branch");
	SrcGraph *g = br->graph;
	if (g->outputs.n != self->nout)
		return fe_fail(c, "the branch has %d outputs, the node %d", g->outputs.n, self->nout);
	for (int i = 0; i < g->consts.n; i++)
		if (!fe_add_const(c, &g->consts.v[i]) || !fe_nm_put(&c->consts, g->consts.v[i].name, 1))
			return false;
	for (int i = 0; i < g->nodes.n; i++) {
		SrcNode *n = &g->nodes.v[i];
		for (int j = 0; j < n->nin; j++)
			if (*n->in[j] && !fe_nm_put(&c->used, n->in[j], 1))
				return fe_oom(c);
		if (!strcmp(n->op, "Constant") && n->nout > 0 && *n->out[0] && !fe_nm_put(&c->consts, n->out[0], 1))
			return fe_oom(c);
	}
	for (int i = 0; i < g->outputs.n; i++)
		if (!fe_nm_put(&c->used, g->outputs.v[i], 1))
			return fe_oom(c);
	if (!fe_derive_consts_in(c, g->nodes.v, g->nodes.n))
		return fe_oom(c);
	for (int i = 0; i < g->nodes.n; i++)
		if (!fe_check_node(c, &g->nodes.v[i]) || !fe_import_node(c, &g->nodes.v[i], true))
			return false;
	c->sn = self;
	c->src_op = self_op;
	c->spec = self_spec;
	for (int i = 0; i < self->nout; i++) {
		if (!*self->out[i])
			continue;
		ValueId v = fe_nm_get(&c->vals, g->outputs.v[i], -1);
		if (v < 0)
			return fe_fail(c, "branch output '%s' is not produced", g->outputs.v[i]);
		if (!fe_define_at(c, i, fe_emit(c, OP_IDENTITY, &v, 1, NULL, 0, self->out[i])))
			return false;
	}
	return true;
}

/* Optionals of plain tensors: a present tensor is the value itself, an
 * omitted input is "empty".  (Optional-typed graph values are out of scope.) */

/* OptionalHasElement(x?) -> a bool constant: whether x is given */
static bool imp_optional_has(Ctx *c, const ValueId *in, int nin)
{
	unsigned char has = nin > 0 && in[0] >= 0;
	return fe_define_const(c, DT_BOOL, 0, NULL, &has);
}

/* OptionalGetElement(x) -> identity */
static bool imp_optional_get(Ctx *c, const ValueId *in, int nin)
{
	return fe_emit_out(c, OP_IDENTITY, in, 1, NULL, 0);
}

/* Optional(x) -> identity; an empty optional is refused */
static bool imp_optional(Ctx *c, const ValueId *in, int nin)
{
	if (nin < 1 || in[0] < 0)
		return fe_fail(c, "an empty optional has no tensor value; kiln supports only optionals holding a tensor");
	return fe_emit_out(c, OP_IDENTITY, in, 1, NULL, 0);
}

const OpSpec imp_control_ops[] = {
	{"If", 7, 22, 1, 1, 64, 0, imp_if, {{"then_branch", SA_GRAPH}, {"else_branch", SA_GRAPH}}, true},
	{"OptionalHasElement", 15, 22, 0, 1, 1, 0, imp_optional_has},
	{"OptionalGetElement", 15, 22, 1, 1, 1, 0, imp_optional_get},
	{"Optional", 15, 22, 0, 1, 1, 0, imp_optional, {{"type", SA_OTHER}}},
	{NULL},
};
