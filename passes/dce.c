/* Dead-code elimination: drop nodes whose results nothing uses. */
#include "passes.h"

static bool drop_unused(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (u->count[n->out] != 0)
		return false;
	n->dead = true;
	return true;
}

bool pass_dce(Graph *g, PassCtx *cx)
{
	static const RewriteRule rules[] = {drop_unused};
	return pass_rewrite(g, cx, rules, 1);
}
