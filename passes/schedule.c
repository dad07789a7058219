/* Node scheduling: every topological order computes the same results, so
 * run the nodes in one that keeps fewer bytes live at once.  Memory-aware
 * list schedulers propose orders, the memory plan's own accounting
 * (pass_plan_peak) judges them, and a local search then moves single
 * nodes as late or as early as their operands and readers allow while the
 * peak falls.  The original order stays unless another is strictly
 * better. */
#include "passes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Sched {
	Graph *g;
	int m;               /* live nodes */
	NodeId *node;        /* live node ids in the original order */
	int *idx;            /* per node id: its index in node[], -1 if dead */
	int *pred_at, *pred; /* distinct live producers of node k's operands: pred[pred_at[k] .. pred_at[k+1]) */
	int *succ_at, *succ; /* and the nodes reading node k's result */
	/* The list schedulers' cost model: a result takes its aligned bytes
	 * (a view its root's) until every node reading it has run. */
	ValueId *root;       /* per value: the buffer it occupies, -1 if none (inputs, consts, outputs) */
	int64_t *size;       /* per root: aligned bytes */
	int *readers;        /* per root: nodes reading it */
	int *rd_at, *rd;     /* distinct roots node k reads */
} Sched;

/* Proposed orders; the best by the plan's peak wins, ties to the earlier. */
enum { BY_NET, DEPTH_FIRST, FREES_FIRST, NSTRATEGIES };
static const char *const strategy_names[NSTRATEGIES] = {"net bytes", "depth first", "frees first"};

static void sched_free(Sched *s)
{
	free(s->node);
	free(s->idx);
	free(s->pred_at);
	free(s->pred);
	free(s->succ_at);
	free(s->succ);
	free(s->root);
	free(s->size);
	free(s->readers);
	free(s->rd_at);
	free(s->rd);
}

/* Distinct entries of a[0..n) (n small: quadratic is fine), in order. */
static int distinct(int *a, int n)
{
	int k = 0;
	for (int i = 0; i < n; i++) {
		int j = 0;
		while (j < k && a[j] != a[i])
			j++;
		if (j == k)
			a[k++] = a[i];
	}
	return k;
}

static bool sched_init(Sched *s, Graph *g, int64_t align)
{
	int nn = g->nodes.n, nv = g->values.n;
	int64_t ops = 0;
	for (int i = 0; i < nn; i++)
		ops += g->nodes.v[i].dead ? 0 : g->nodes.v[i].nin;
	s->g = g;
	s->node = malloc((nn + 1) * sizeof *s->node);
	s->idx = malloc((nn + 1) * sizeof *s->idx);
	s->pred_at = calloc(nn + 2, sizeof *s->pred_at);
	s->pred = malloc((ops + 1) * sizeof *s->pred);
	s->succ_at = calloc(nn + 2, sizeof *s->succ_at);
	s->succ = malloc((ops + 1) * sizeof *s->succ);
	s->root = malloc((nv + 1) * sizeof *s->root);
	s->size = calloc(nv + 1, sizeof *s->size);
	s->readers = calloc(nv + 1, sizeof *s->readers);
	s->rd_at = calloc(nn + 2, sizeof *s->rd_at);
	s->rd = malloc((ops + 1) * sizeof *s->rd);
	if (!s->node || !s->idx || !s->pred_at || !s->pred || !s->succ_at || !s->succ || !s->root || !s->size ||
	    !s->readers || !s->rd_at || !s->rd)
		return false;
	s->m = 0;
	for (int i = 0; i < nn; i++) {
		s->idx[i] = -1;
		if (!g->nodes.v[i].dead) {
			s->idx[i] = s->m;
			s->node[s->m++] = i;
		}
	}
	for (int v = 0; v < nv; v++)
		s->root[v] = -1;
	for (int k = 0; k < s->m; k++) {  /* in node order: operands first */
		const Node *n = &g->nodes.v[s->node[k]];
		ValueId y = n->out;
		if (g->values.v[y].is_output)
			continue;
		if ((ir_ops[n->op].flags & OPF_VIEW) && n->in[0] >= 0) {
			s->root[y] = s->root[n->in[0]];
			continue;
		}
		s->root[y] = y;
		s->size[y] = (ir_type_bytes(ir_value_type(g, y)) + align - 1) / align * align;
	}
	/* Producers and roots read, per node. */
	int np = 0, nr = 0;
	for (int k = 0; k < s->m; k++) {
		const Node *n = &g->nodes.v[s->node[k]];
		int p0 = np, r0 = nr;
		for (int j = 0; j < n->nin; j++) {
			ValueId x = n->in[j];
			if (x < 0)
				continue;
			if (g->values.v[x].kind == VAL_NODE && s->idx[g->values.v[x].def] >= 0)
				s->pred[np++] = s->idx[g->values.v[x].def];
			if (s->root[x] >= 0)
				s->rd[nr++] = s->root[x];
		}
		np = p0 + distinct(s->pred + p0, np - p0);
		nr = r0 + distinct(s->rd + r0, nr - r0);
		s->pred_at[k + 1] = np;
		s->rd_at[k + 1] = nr;
		for (int i = r0; i < nr; i++)
			s->readers[s->rd[i]]++;
		for (int i = p0; i < np; i++)
			s->succ_at[s->pred[i] + 1]++;
	}
	for (int k = 0; k < s->m; k++)
		s->succ_at[k + 1] += s->succ_at[k];
	int *fill = calloc(s->m + 1, sizeof *fill);
	if (!fill)
		return false;
	for (int k = 0; k < s->m; k++)
		for (int i = s->pred_at[k]; i < s->pred_at[k + 1]; i++) {
			int p = s->pred[i];
			s->succ[s->succ_at[p] + fill[p]++] = k;
		}
	free(fill);
	return true;
}

/* One memory-aware list schedule: repeatedly run the ready node the
 * strategy likes best.  Scratch arrays come from the caller. */
static void list_schedule(const Sched *s, int strategy, NodeId *out, int *indeg, int *left, int *when, int *ready)
{
	int nr = 0;
	for (int k = 0; k < s->m; k++) {
		indeg[k] = s->pred_at[k + 1] - s->pred_at[k];
		when[k] = -1;
		if (!indeg[k])
			ready[nr++] = k;
	}
	memcpy(left, s->readers, (s->g->values.n + 1) * sizeof *left);
	for (int step = 0; step < s->m; step++) {
		int best = -1;
		int64_t bkey[3] = {0};
		for (int i = 0; i < nr; i++) {
			int k = ready[i];
			ValueId y = s->g->nodes.v[s->node[k]].out;
			int64_t alloc = s->root[y] == y ? s->size[y] : 0, freed = 0, recent = -1;
			if (s->root[y] == y && !s->readers[y])
				freed += alloc;  /* nothing reads it: dead right after */
			for (int j = s->rd_at[k]; j < s->rd_at[k + 1]; j++)
				if (left[s->rd[j]] == 1)
					freed += s->size[s->rd[j]];
			for (int j = s->pred_at[k]; j < s->pred_at[k + 1]; j++)
				if (when[s->pred[j]] > recent)
					recent = when[s->pred[j]];
			int64_t key[3];
			switch (strategy) {
			case BY_NET: key[0] = alloc - freed, key[1] = alloc, key[2] = -recent; break;
			case DEPTH_FIRST: key[0] = -recent, key[1] = alloc - freed, key[2] = alloc; break;
			default: key[0] = -freed, key[1] = alloc, key[2] = -recent; break;
			}
			/* Ties: the original order (ready[] is not sorted, so compare k). */
			bool better = best < 0;
			for (int t = 0; t < 3 && !better; t++) {
				if (key[t] != bkey[t]) {
					better = key[t] < bkey[t];
					break;
				}
				if (t == 2)
					better = k < ready[best];
			}
			if (better) {
				best = i;
				memcpy(bkey, key, sizeof key);
			}
		}
		int k = ready[best];
		ready[best] = ready[--nr];
		out[step] = s->node[k];
		when[k] = step;
		for (int j = s->rd_at[k]; j < s->rd_at[k + 1]; j++)
			left[s->rd[j]]--;
		for (int j = s->succ_at[k]; j < s->succ_at[k + 1]; j++)
			if (--indeg[s->succ[j]] == 0)
				ready[nr++] = s->succ[j];
	}
}

/* The local search's budget: plan evaluations times nodes, a fixed count
 * so the order does not depend on the machine. */
#define SCHED_WORK 10000000

/* Move single nodes to the last position before their first reader (a
 * result born later dies sooner) or the first after their last operand's
 * producer (operands freed sooner), keeping moves that lower the peak.
 * pos[k]: node index k's position in ord. */
static int64_t improve(const Sched *s, PlanEval *e, NodeId *ord, int *pos, int64_t best)
{
	int m = s->m;
	int64_t work = 0;
	for (bool again = true; again && work < SCHED_WORK;) {
		again = false;
		for (int k = 0; k < m && work < SCHED_WORK; k++) {
			int p = pos[k], lo = 0, hi = m - 1;
			for (int j = s->pred_at[k]; j < s->pred_at[k + 1]; j++)
				if (pos[s->pred[j]] + 1 > lo)
					lo = pos[s->pred[j]] + 1;
			for (int j = s->succ_at[k]; j < s->succ_at[k + 1]; j++)
				if (pos[s->succ[j]] - 1 < hi)
					hi = pos[s->succ[j]] - 1;
			for (int mv = 0; mv < 2; mv++) {
				int to = mv ? lo : hi;
				if (to == p)
					continue;
				/* Rotate ord[p..to] (or ord[to..p]) so node k lands at to. */
				NodeId nk = ord[p];
				if (to > p)
					memmove(ord + p, ord + p + 1, (to - p) * sizeof *ord);
				else
					memmove(ord + to + 1, ord + to, (p - to) * sizeof *ord);
				ord[to] = nk;
				int64_t t = pass_plan_peak(e, ord, m, false);
				work += m;
				if (t < best) {
					best = t;
					for (int i = to < p ? to : p; i <= (to < p ? p : to); i++)
						pos[s->idx[ord[i]]] = i;
					again = true;
					break;
				}
				if (to > p)
					memmove(ord + p + 1, ord + p, (to - p) * sizeof *ord);
				else
					memmove(ord + to, ord + to + 1, (p - to) * sizeof *ord);
				ord[p] = nk;
			}
		}
	}
	return best;
}

/* Put the live nodes in `ord` order, dead ones after them, and point each
 * result at its node's new index. */
static bool reorder(Graph *g, const NodeId *ord, int m)
{
	Node *nodes = malloc((g->nodes.n + 1) * sizeof *nodes);
	if (!nodes)
		return false;
	int k = 0;
	for (int i = 0; i < m; i++)
		nodes[k++] = g->nodes.v[ord[i]];
	for (int i = 0; i < g->nodes.n; i++)
		if (g->nodes.v[i].dead)
			nodes[k++] = g->nodes.v[i];
	memcpy(g->nodes.v, nodes, g->nodes.n * sizeof *nodes);
	free(nodes);
	for (int i = 0; i < g->nodes.n; i++)
		g->values.v[g->nodes.v[i].out].def = i;
	g->ws_size = -1;  /* a plan made for the old order is stale */
	return true;
}

bool pass_schedule(Graph *g, PassCtx *cx)
{
	Sched s = {0};
	PlanEval *e = pass_plan_eval_new(g, cx);
	int nn = g->nodes.n + 1, nv = g->values.n + 1;
	NodeId *ord = malloc(nn * sizeof *ord), *best = malloc(nn * sizeof *best);
	int *indeg = malloc(nn * sizeof *indeg), *when = malloc(nn * sizeof *when), *ready = malloc(nn * sizeof *ready);
	int *left = malloc(nv * sizeof *left);
	bool ok = e && ord && best && indeg && when && ready && left && sched_init(&s, g, pass_ws_align(cx));
	bool changed = false;
	if (ok) {
		int m = s.m;
		int64_t before = pass_plan_peak(e, s.node, m, true), peak = before;
		const char *how = NULL;
		memcpy(best, s.node, m * sizeof *best);
		for (int st = 0; st < NSTRATEGIES; st++) {
			list_schedule(&s, st, ord, indeg, left, when, ready);
			int64_t t = pass_plan_peak(e, ord, m, true);
			if (t < peak) {
				peak = t;
				how = strategy_names[st];
				memcpy(best, ord, m * sizeof *best);
			}
		}
		/* The local search from the best, with its choice of concat
		 * slices fixed; the result is judged exactly again. */
		memcpy(ord, best, m * sizeof *ord);
		for (int i = 0; i < m; i++)
			when[s.idx[ord[i]]] = i;  /* positions, for the local search */
		int64_t t = improve(&s, e, ord, when, pass_plan_peak(e, ord, m, true));
		char how2[64];
		if (t < peak && (t = pass_plan_peak(e, ord, m, true)) < peak) {
			snprintf(how2, sizeof how2, "%s%smoves", how ? how : "", how ? ", then " : "");
			how = how2;
			peak = t;
			memcpy(best, ord, m * sizeof *best);
		}
		/* What counts is the workspace the plan places: a lower peak
		 * that packs worse is no gain. */
		int64_t ws0 = 0, ws1 = 0;
		if (peak < before) {
			ws0 = pass_plan_workspace(e, s.node, m);
			ws1 = pass_plan_workspace(e, best, m);
			ok = ws0 >= 0 && ws1 >= 0;
			changed = ws1 <= ws0;
		}
		if (ok && changed) {
			ok = reorder(g, best, m);
			pass_note(cx, "peak %lld -> %lld, workspace %lld -> %lld bytes (%s)", (long long)before,
				  (long long)peak, (long long)ws0, (long long)ws1, how);
		} else if (ok && peak < before) {
			pass_note(cx, "kept the order: peak %lld -> %lld but workspace %lld -> %lld bytes", (long long)before,
				  (long long)peak, (long long)ws0, (long long)ws1);
		} else if (ok) {
			pass_note(cx, "kept the order (peak %lld bytes)", (long long)before);
		}
	}
	if (!ok)
		diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
	sched_free(&s);
	pass_plan_eval_free(e);
	free(ord);
	free(best);
	free(indeg);
	free(when);
	free(ready);
	free(left);
	return ok && changed;
}
