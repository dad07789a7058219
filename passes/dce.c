/* Dead-code elimination: drop nodes whose results nothing uses. */
#include "passes.h"

bool pass_dce(Graph *g, PassCtx *cx)
{
	bool changed = false;
	for (bool again = true; again;) {
		again = false;
		Uses u;
		if (!ir_uses_build(g, &u)) {
			diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
			return false;
		}
		for (int i = g->nodes.n - 1; i >= 0; i--) {
			Node *n = &g->nodes.v[i];
			if (!n->dead && u.count[n->out] == 0) {
				n->dead = true;
				again = changed = true;
			}
		}
		if (again && !ir_compact(g)) {
			diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
			return false;
		}
	}
	return changed;
}
