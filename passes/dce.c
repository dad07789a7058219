/* Dead-code elimination: drop nodes whose results nothing uses. */
#include "passes.h"

/* One sweep from the last node back: a node is dead when its result has no
 * uses left (graph outputs count as uses), and killing it releases its
 * operands.  Nodes come in topological order, so every user of a value is
 * visited before its producer and one sweep finds whole dead chains (the
 * rule driver would restart once per node). */
bool pass_dce(Graph *g, PassCtx *cx)
{
	Uses u;
	if (!ir_uses_build(g, &u)) {
		diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
		return false;
	}
	bool changed = false;
	for (int i = g->nodes.n - 1; i >= 0; i--) {
		Node *n = &g->nodes.v[i];
		if (n->dead || u.count[n->out] != 0)
			continue;
		n->dead = true;
		changed = true;
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] >= 0)
				u.count[n->in[j]]--;
	}
	if (changed && !ir_compact(g)) {
		diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
		return false;
	}
	return changed;
}
