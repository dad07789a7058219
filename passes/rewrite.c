/* The one driver for pattern rewrites: run a table of rules over the live
 * nodes to a fixed point, with use counts fresh for every rule call. */
#include "passes.h"

static bool oom(Graph *g, PassCtx *cx)
{
	diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
	return false;
}

bool pass_rewrite(Graph *g, PassCtx *cx, const RewriteRule *rules, int nrules)
{
	bool changed = false;
	for (bool again = true; again;) {
		again = false;
		Uses u;
		if (!ir_uses_build(g, &u))
			return oom(g, cx);
		/* After a rewrite the uses are stale: compact and start over. */
		for (int i = 0; i < g->nodes.n && !again; i++)
			for (int r = 0; r < nrules && !again; r++)
				if (!g->nodes.v[i].dead && rules[r](g, &u, &g->nodes.v[i], cx))
					again = changed = true;
		if (again && !ir_compact(g))
			return oom(g, cx);
	}
	return changed;
}

/* Use counts after rule changed n: its operands went from old[0..nold) to
 * n->in, and producers of old operands may have died (absorbed into n or
 * left unread). */
static void recount(Graph *g, Uses *u, const Node *n, const ValueId *old, int nold, const NodeId *prod,
		    const bool *was_dead)
{
	for (int k = 0; k < nold; k++)
		if (old[k] >= 0)
			u->count[old[k]]--;
	for (int k = 0; k < n->nin; k++)
		if (n->in[k] >= 0)
			u->count[n->in[k]]++;
	for (int k = 0; k < nold; k++) {
		if (prod[k] < 0 || was_dead[k] || !g->nodes.v[prod[k]].dead)
			continue;
		bool seen = false;  /* one producer may feed several operands */
		for (int j = 0; j < k && !seen; j++)
			seen = prod[j] == prod[k] && !was_dead[j];
		if (seen)
			continue;
		const Node *q = &g->nodes.v[prod[k]];
		for (int j = 0; j < q->nin; j++)
			if (q->in[j] >= 0)
				u->count[q->in[j]]--;
	}
}

bool pass_rewrite_local(Graph *g, PassCtx *cx, const RewriteRule *rules, int nrules)
{
	enum { MAXIN = 64 };
	bool changed = false;
	for (bool again = true; again;) {
		again = false;
		Uses u;
		if (!ir_uses_build(g, &u))
			return oom(g, cx);
		int nv = g->values.n, nn = g->nodes.n;
		for (int i = 0; i < nn; i++) {
			for (int r = 0; r < nrules && !g->nodes.v[i].dead;) {
				Node *n = &g->nodes.v[i];
				if (n->nin > MAXIN) {  /* no rule joins so wide a node; not worth a copy */
					r++;
					continue;
				}
				ValueId old[MAXIN];
				NodeId prod[MAXIN];
				bool was_dead[MAXIN];
				int nold = n->nin;
				for (int k = 0; k < nold; k++) {
					old[k] = n->in[k];
					const Value *v = old[k] >= 0 ? ir_value(g, old[k]) : NULL;
					prod[k] = v && v->kind == VAL_NODE ? v->def : -1;
					was_dead[k] = prod[k] >= 0 && g->nodes.v[prod[k]].dead;
				}
				if (!rules[r](g, &u, n, cx)) {
					r++;
					continue;
				}
				if (g->values.n != nv || g->nodes.n != nn)
					die("a local rewrite rule added values or nodes");
				recount(g, &u, n, old, nold, prod, was_dead);
				again = changed = true;
				r = 0;  /* the node may match again (a chain grows at its end) */
			}
		}
		if (again && !ir_compact(g))
			return oom(g, cx);
	}
	return changed;
}
