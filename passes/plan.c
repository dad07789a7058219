/* The static memory plan: every intermediate gets a workspace offset,
 * buffers whose lifetimes do not overlap share bytes.  Views (reshape,
 * identity) alias their operand's buffer.  Placement is greedy by size
 * (largest first, lowest fitting offset), as TFLite Micro's planner. */
#include "passes.h"

#include <stdlib.h>

typedef struct Buf {
	ValueId v;
	int start, end;  /* inclusive node indices: defined at start, last read at end */
	int64_t size;    /* aligned bytes */
	int64_t off;
} Buf;

static int by_size_desc(const void *a, const void *b)
{
	const Buf *x = a, *y = b;
	if (x->size != y->size)
		return x->size < y->size ? 1 : -1;
	return x->v - y->v;  /* deterministic */
}

static int by_off(const void *a, const void *b)
{
	const Buf *x = *(Buf *const *)a, *y = *(Buf *const *)b;
	return (x->off > y->off) - (x->off < y->off);
}

static ValueId root_of(Graph *g, ValueId v)
{
	while (g->values.v[v].alias >= 0)
		v = g->values.v[v].alias;
	return v;
}

bool pass_plan(Graph *g, PassCtx *cx)
{
	/* A power of two, at least 16 (what vector loads want); 64 by default. */
	int64_t align = cx->ws_align >= 16 && !(cx->ws_align & (cx->ws_align - 1)) ? cx->ws_align : 64;
	int nv = g->values.n;
	int *bufidx = ir_arena_alloc(g->arena, (nv + 1) * sizeof *bufidx);
	Buf *bufs = ir_arena_alloc(g->arena, (g->nodes.n + 1) * sizeof *bufs);
	Buf **placed = ir_arena_alloc(g->arena, (g->nodes.n + 1) * sizeof *placed);
	if (!bufidx || !bufs || !placed) {
		diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
		return false;
	}
	for (int v = 0; v < nv; v++) {
		bufidx[v] = -1;
		g->values.v[v].alias = -1;
		g->values.v[v].ws_offset = -1;
	}
	/* Buffers and aliases in execution order. */
	int nb = 0;
	for (int i = 0; i < g->nodes.n; i++) {
		Node *n = &g->nodes.v[i];
		Value *out = &g->values.v[n->out];
		if (n->dead || out->is_output)
			continue;
		if ((ir_ops[n->op].flags & OPF_VIEW) && n->in[0] >= 0) {
			out->alias = root_of(g, n->in[0]);
			continue;
		}
		int64_t bytes = ir_type_bytes(ir_type_get(g, out->type));
		bufidx[n->out] = nb;
		bufs[nb++] = (Buf){n->out, i, i, (bytes + align - 1) / align * align, -1};
	}
	/* Lifetimes: a read of a value (or of a view of it) extends its root. */
	for (int i = 0; i < g->nodes.n; i++) {
		Node *n = &g->nodes.v[i];
		if (n->dead)
			continue;
		for (int j = 0; j < n->nin; j++) {
			if (n->in[j] < 0)
				continue;
			int b = bufidx[root_of(g, n->in[j])];
			if (b >= 0 && bufs[b].end < i)
				bufs[b].end = i;
		}
	}
	/* Lower bound and the peak node: the most bytes live at once, by a
	 * sweep over births and deaths (delta[i]: bytes born at i minus bytes
	 * that died before i). */
	int64_t *delta = calloc(g->nodes.n + 2, sizeof *delta);
	if (!delta) {
		diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
		return false;
	}
	for (int b = 0; b < nb; b++) {
		delta[bufs[b].start] += bufs[b].size;
		delta[bufs[b].end + 1] -= bufs[b].size;
	}
	int64_t peak = 0, live = 0;
	int peak_node = -1;
	for (int i = 0; i < g->nodes.n; i++) {
		live += delta[i];
		if (live > peak) {
			peak = live;
			peak_node = i;
		}
	}
	free(delta);
	/* Greedy by size. */
	Buf *order = malloc((nb + 1) * sizeof *order);
	if (!order) {
		diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
		return false;
	}
	for (int b = 0; b < nb; b++)
		order[b] = bufs[b];
	qsort(order, nb, sizeof *order, by_size_desc);
	int64_t total = 0;
	for (int b = 0; b < nb; b++) {
		int np = 0;
		for (int k = 0; k < b; k++)
			if (order[k].start <= order[b].end && order[b].start <= order[k].end)
				placed[np++] = &order[k];
		qsort(placed, np, sizeof *placed, by_off);
		int64_t off = 0;
		for (int k = 0; k < np; k++) {
			if (placed[k]->off - off >= order[b].size)
				break;
			if (placed[k]->off + placed[k]->size > off)
				off = placed[k]->off + placed[k]->size;
		}
		order[b].off = off;
		if (off + order[b].size > total)
			total = off + order[b].size;
	}
	/* Self-check: simultaneously live buffers never overlap. */
	for (int a = 0; a < nb; a++)
		for (int b = a + 1; b < nb; b++)
			if (order[a].start <= order[b].end && order[b].start <= order[a].end &&
			    order[a].off < order[b].off + order[b].size && order[b].off < order[a].off + order[a].size)
				die("memory plan overlaps values %d and %d", order[a].v, order[b].v);
	for (int b = 0; b < nb; b++)
		g->values.v[order[b].v].ws_offset = order[b].off;
	free(order);
	g->ws_size = total;
	g->ws_align = align;
	g->ws_lower_bound = peak;
	if (cx->max_ram > 0 && total > cx->max_ram) {
		const Node *n = peak_node >= 0 ? &g->nodes.v[peak_node] : NULL;
		diag_node(cx->diag, g, n, "workspace needs %lld bytes (peak at this node), over --max-ram %lld",
			  (long long)total, (long long)cx->max_ram);
		return false;
	}
	return false;  /* the plan annotates; the graph itself is unchanged */
}
