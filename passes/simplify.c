/* Algebraic simplification, as a table of rewrite rules run to a fixed
 * point: identities disappear, reshape chains collapse. */
#include "passes.h"

/* identity(x) -> x.  When the result y is a graph output, the output
 * buffer must still be written: the identity goes only if x is an
 * intermediate that is not an output already, and then x becomes the output
 * under y's name (its producer writes the output buffer directly).  An input
 * or constant passed through to an output keeps its copy. */
static bool drop_identity(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (n->op != OP_IDENTITY)
		return false;
	Value *y = ir_value(g, n->out), *x = ir_value(g, n->in[0]);
	if (y->is_output) {
		if (x->kind != VAL_NODE || x->is_output || x->type != y->type)
			return false;
		x->name = y->name;  /* y is unreferenced after this; compaction drops it */
	}
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
