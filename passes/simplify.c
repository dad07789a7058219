/* Algebraic simplification, as a table of rewrite rules run to a fixed
 * point: identities disappear, reshape chains collapse. */
#include "passes.h"

/* identity(x) -> x, unless the result is a graph output (the output buffer
 * must still be written) . */
static bool drop_identity(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (n->op != OP_IDENTITY || ir_value(g, n->out)->is_output)
		return false;
	ir_replace_uses(g, n->out, n->in[0]);
	n->dead = true;
	return true;
}

/* reshape(reshape(x)) -> reshape(x): the outer one names the final shape. */
static bool merge_reshapes(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (n->op != OP_RESHAPE)
		return false;
	Value *src = ir_value(g, n->in[0]);
	if (src->kind != VAL_NODE || g->nodes.v[src->def].op != OP_RESHAPE)
		return false;
	n->in[0] = g->nodes.v[src->def].in[0];
	return true;
}

/* reshape to the same shape -> its operand. */
static bool drop_noop_reshape(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (n->op != OP_RESHAPE || ir_value(g, n->out)->is_output ||
	    ir_value(g, n->out)->type != ir_value(g, n->in[0])->type)
		return false;
	ir_replace_uses(g, n->out, n->in[0]);
	n->dead = true;
	return true;
}

bool pass_simplify(Graph *g, PassCtx *cx)
{
	static const RewriteRule rules[] = {drop_identity, merge_reshapes, drop_noop_reshape};
	return pass_rewrite(g, cx, rules, sizeof rules / sizeof rules[0]);
}
