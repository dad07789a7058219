/* The one driver for pattern rewrites: run a table of rules over the live
 * nodes to a fixed point, with use counts fresh for every rule call. */
#include "passes.h"

bool pass_rewrite(Graph *g, PassCtx *cx, const RewriteRule *rules, int nrules)
{
	bool changed = false;
	for (bool again = true; again;) {
		again = false;
		Uses u;
		if (!ir_uses_build(g, &u)) {
			diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
			return false;
		}
		/* After a rewrite the uses are stale: compact and start over. */
		for (int i = 0; i < g->nodes.n && !again; i++)
			for (int r = 0; r < nrules && !again; r++)
				if (!g->nodes.v[i].dead && rules[r](g, &u, &g->nodes.v[i], cx))
					again = changed = true;
		if (again && !ir_compact(g)) {
			diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
			return false;
		}
	}
	return changed;
}
