/* The static memory plan: every intermediate gets a workspace offset, and
 * buffers whose lifetimes do not overlap share bytes.  Some values need no
 * buffer of their own: views (reshape, identity) alias their operand's;
 * from -O1 on, an elementwise result takes the buffer of an operand that
 * dies at its node, and a concat's operands are written straight into
 * their slices of its result.  Placement is first fit in several orders
 * (greedy by size as TFLite Micro, by lifetime, by area, by start),
 * improved by a local search; when that misses the lower bound, the
 * buffers of less sharing are placed too, and the smallest wins. */
#include "passes.h"

#include <stdlib.h>
#include <string.h>

/* Which values share buffers when the live nodes run in a given order,
 * and each buffer's lifetime.  Sharing is a union-find over values with
 * byte offsets: parent[v] is the value whose buffer v lives in, at
 * poff[v] bytes; a root owns its buffer. */
struct PlanEval {
	Graph *g;
	bool share;       /* in place and copy-free concat (-O1 and up) */
	int64_t align;
	int *last;        /* per value: position of its last reader, -1 if none */
	ValueId *parent;  /* per value: -1 for a root */
	int64_t *poff;
	int *start, *end; /* per root: first and last position its buffer is live (start -1: no node defines it) */
	int64_t *delta;   /* sweep scratch, one per position + 2 */
	int64_t *woff;    /* per root: workspace offset placed */
	int64_t *woff_best; /* plan_order's best so far */
	int64_t work;     /* placement work in the current plan_order */
	char *noslice;    /* per value: keep this concat operand out of its slice */
	int nsl;          /* concat operands placed in their slices by the last share_buffers: */
	ValueId *sl_val;  /*   the operand */
	int *sl_from, *sl_to; /*   the positions over which that stretched the concat's buffer */
};

int64_t pass_ws_align(const PassCtx *cx)
{
	/* A power of two, at least 16 (what vector loads want); 64 by default. */
	return cx->ws_align >= 16 && !(cx->ws_align & (cx->ws_align - 1)) ? cx->ws_align : 64;
}

PlanEval *pass_plan_eval_new(Graph *g, PassCtx *cx)
{
	PlanEval *e = calloc(1, sizeof *e);
	int nv = g->values.n + 1, nn = g->nodes.n + 2;
	if (!e)
		return NULL;
	e->g = g;
	e->share = cx->opt_level >= 1;
	e->align = pass_ws_align(cx);
	e->last = malloc(nv * sizeof *e->last);
	e->parent = malloc(nv * sizeof *e->parent);
	e->poff = malloc(nv * sizeof *e->poff);
	e->start = malloc(nv * sizeof *e->start);
	e->end = malloc(nv * sizeof *e->end);
	e->delta = malloc(nn * sizeof *e->delta);
	e->woff = malloc(nv * sizeof *e->woff);
	e->woff_best = malloc(nv * sizeof *e->woff_best);
	e->noslice = calloc(nv, 1);
	e->sl_val = malloc(nv * sizeof *e->sl_val);
	e->sl_from = malloc(nv * sizeof *e->sl_from);
	e->sl_to = malloc(nv * sizeof *e->sl_to);
	if (!e->last || !e->parent || !e->poff || !e->start || !e->end || !e->delta || !e->woff || !e->woff_best ||
	    !e->noslice || !e->sl_val || !e->sl_from || !e->sl_to) {
		pass_plan_eval_free(e);
		return NULL;
	}
	return e;
}

void pass_plan_eval_free(PlanEval *e)
{
	if (!e)
		return;
	free(e->last);
	free(e->parent);
	free(e->poff);
	free(e->start);
	free(e->end);
	free(e->delta);
	free(e->woff);
	free(e->woff_best);
	free(e->noslice);
	free(e->sl_val);
	free(e->sl_from);
	free(e->sl_to);
	free(e);
}

/* The root whose buffer holds v, and v's byte offset in it (*off).  Path
 * compression points every value on the way straight at the root. */
static ValueId find(PlanEval *e, ValueId v, int64_t *off)
{
	ValueId r = v;
	int64_t o = 0;
	while (e->parent[r] >= 0) {
		o += e->poff[r];
		r = e->parent[r];
	}
	for (int64_t ov = o; e->parent[v] >= 0 && e->parent[v] != r;) {
		ValueId next = e->parent[v];
		int64_t step = e->poff[v];
		e->parent[v] = r;
		e->poff[v] = ov;
		ov -= step;
		v = next;
	}
	*off = o;
	return r;
}

/* A root that owns workspace bytes: computed by a node that ran, not a
 * graph output (those live in the caller's buffers). */
static bool in_workspace(const PlanEval *e, ValueId r)
{
	const Value *v = &e->g->values.v[r];
	return v->kind == VAL_NODE && !v->is_output && e->start[r] >= 0;
}

static int64_t bytes_of(const Graph *g, ValueId v) { return ir_type_bytes(ir_value_type(g, v)); }

/* Element by element the same layout: the same element size and count
 * (an operand with as many elements as the broadcast result is not
 * broadcast, so its element i sits where the result's element i does). */
static bool same_elements(const Graph *g, ValueId x, ValueId y)
{
	const Type *tx = ir_value_type(g, x), *ty = ir_value_type(g, y);
	return ir_dtype_size(tx->dt) == ir_dtype_size(ty->dt) && ir_type_numel(tx) == ir_type_numel(ty);
}

/* An elementwise result may overwrite an operand whose buffer dies at its
 * node.  The elementwise lowerings (cg_lower_ew and cg_lower_fused_ew, one
 * loop for every elementwise op) walk the result in order and, for each element, load the
 * operands' elements and then store the result's; an operand laid out like
 * the result is read at exactly the bytes about to be written, never after
 * they were.  A broadcast operand is read again after its bytes were
 * overwritten, and one with a wider or narrower element would be read
 * behind or ahead of the write: those never share, and neither does any
 * other operand in the same buffer unless it is read at the same bytes. */
static bool try_in_place(PlanEval *e, const Node *n, int p)
{
	Graph *g = e->g;
	ValueId y = n->out;
	if (bytes_of(g, y) == 0)
		return false;
	for (int j = 0; j < n->nin; j++) {
		ValueId x = n->in[j];
		int64_t ox;
		ValueId r = x >= 0 ? find(e, x, &ox) : -1;
		if (r < 0 || !in_workspace(e, r) || e->end[r] > p || !same_elements(g, x, y))
			continue;
		bool ok = true;
		for (int k = 0; k < n->nin && ok; k++) {
			int64_t ko;
			if (n->in[k] >= 0 && find(e, n->in[k], &ko) == r)
				ok = ko == ox && same_elements(g, n->in[k], y);
		}
		if (!ok)
			continue;
		e->parent[y] = r;
		e->poff[y] = ox;
		if (e->end[y] > e->end[r])
			e->end[r] = e->end[y];
		return true;
	}
	return false;
}

/* When every dim before the axis is 1, each operand of a concat is one
 * contiguous block of the result.  An operand that fills its whole buffer,
 * appears once in this concat and whose buffer dies here (nothing later
 * reads it, a view of it or anything else in that buffer) is computed in
 * its slice instead: the buffer moves there with all that shares it (views
 * of it, in-place results that led to it; earlier readers find it there),
 * and lower_concat copies only the other operands.  The result's buffer
 * then lives from the first such operand's definition.  A concat that is
 * a graph output works the same, in the caller's output buffer, which is
 * valid for the whole run. */
static int concat_in_slices(PlanEval *e, const Node *n, int p)
{
	Graph *g = e->g;
	ValueId y = n->out;
	const Type *ty = ir_value_type(g, y);
	int axis = (int)ir_attr_int(n, "axis", 0), placed = 0;
	for (int i = 0; i < axis; i++)
		if (ty->dims[i] != 1)
			return 0;
	int64_t off = 0;
	for (int j = 0; j < n->nin; j++) {
		ValueId x = n->in[j];
		int64_t bytes = bytes_of(g, x), ox;
		ValueId r = find(e, x, &ox);
		int times = 0;
		for (int k = 0; k < n->nin; k++)
			times += n->in[k] == x;
		if (bytes > 0 && !e->noslice[x] && times == 1 && r != y && in_workspace(e, r) && ox == 0 &&
		    bytes_of(g, r) == bytes && e->end[r] <= p) {
			e->sl_val[e->nsl] = x;
			e->sl_from[e->nsl] = e->start[r];
			e->sl_to[e->nsl++] = p;
			e->parent[r] = y;
			e->poff[r] = off;
			if (e->start[r] < e->start[y])
				e->start[y] = e->start[r];
			placed++;
		}
		off += bytes;
	}
	return placed;
}

/* Sharing decisions and lifetimes for `order` (m live node ids); counts of
 * in-place results and of concat operands placed in their slices. */
static void share_buffers(PlanEval *e, const NodeId *order, int m, int *inplace, int *slices)
{
	Graph *g = e->g;
	*inplace = *slices = e->nsl = 0;
	for (int v = 0; v < g->values.n; v++) {
		e->last[v] = e->start[v] = e->end[v] = -1;
		e->parent[v] = -1;
		e->poff[v] = 0;
	}
	for (int p = 0; p < m; p++) {
		const Node *n = &g->nodes.v[order[p]];
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] >= 0)
				e->last[n->in[j]] = p;
	}
	for (int p = 0; p < m; p++) {
		const Node *n = &g->nodes.v[order[p]];
		ValueId y = n->out;
		bool out = g->values.v[y].is_output;  /* in the caller's buffer */
		e->start[y] = p;
		e->end[y] = e->last[y] > p ? e->last[y] : p;
		/* Views (and a contiguous slice, a view at its byte offset: the
		 * RNNs' gates and time steps copy nothing); a read of a view is a
		 * read of the buffer it views. */
		int64_t voff = 0;
		if (!out && n->in[0] >= 0 &&
		    ((ir_ops[n->op].flags & OPF_VIEW) || (ir_slice_is_view(g, n, &voff) && bytes_of(g, y) > 0))) {
			int64_t o;
			ValueId r = find(e, n->in[0], &o);
			e->parent[y] = n->in[0];
			e->poff[y] = voff;
			if (e->end[y] > e->end[r])
				e->end[r] = e->end[y];
			continue;
		}
		if (!e->share)
			continue;
		if (!out && ((ir_ops[n->op].flags & OPF_EW) || n->op == OP_FUSED_EW))
			*inplace += try_in_place(e, n, p);
		else if (n->op == OP_CONCAT)
			*slices += concat_in_slices(e, n, p);
	}
}

static int64_t aligned_bytes(const PlanEval *e, ValueId v)
{
	return (bytes_of(e->g, v) + e->align - 1) / e->align * e->align;
}

/* The most bytes live at once over m positions (the lower bound of any
 * placement) and where (*at, -1 if nothing is live): a sweep over births
 * and deaths of the roots. */
static int64_t sweep(PlanEval *e, int m, int *at)
{
	Graph *g = e->g;
	memset(e->delta, 0, (m + 2) * sizeof *e->delta);
	for (int v = 0; v < g->values.n; v++)
		if (e->parent[v] < 0 && in_workspace(e, v)) {
			e->delta[e->start[v]] += aligned_bytes(e, v);
			e->delta[e->end[v] + 1] -= aligned_bytes(e, v);
		}
	int64_t peak = 0, live = 0;
	*at = -1;
	for (int p = 0; p < m; p++) {
		live += e->delta[p];
		if (live > peak) {
			peak = live;
			*at = p;
		}
	}
	return peak;
}

static int64_t share_and_sweep(PlanEval *e, const NodeId *order, int m, int *at, int *inplace, int *slices)
{
	share_buffers(e, order, m, inplace, slices);
	return sweep(e, m, at);
}

/* Writing concat operands in their slices saves their buffers and the
 * copies, but the concat's buffer then lives from the first of them on,
 * which can raise the peak somewhere before the concat.  Keep out of their
 * slices the operands that stretch a concat's buffer over the peak while
 * that lowers it, then let back in any that no longer raise it; never end
 * above the peak with no slices at all.  Leaves e planned with the choice;
 * returns its peak. */
static int64_t choose_slices(PlanEval *e, const NodeId *order, int m, int *at, int *inplace, int *slices)
{
	int nv = e->g->values.n;
	memset(e->noslice, 1, nv);
	int64_t none = share_and_sweep(e, order, m, at, inplace, slices);
	memset(e->noslice, 0, nv);
	int64_t peak = share_and_sweep(e, order, m, at, inplace, slices);
	if (e->nsl == 0)
		return peak;
	for (;;) {
		int vetoed = 0, q = *at;
		for (int k = 0; k < e->nsl; k++)
			if (e->sl_from[k] <= q && q < e->sl_to[k]) {
				e->noslice[e->sl_val[k]] = 2;  /* 2: this round's */
				vetoed++;
			}
		if (!vetoed)
			break;
		int64_t t = share_and_sweep(e, order, m, at, inplace, slices);
		bool better = t < peak;
		for (int v = 0; v < nv; v++)
			if (e->noslice[v] == 2)
				e->noslice[v] = better;
		if (!better)
			break;
		peak = t;
	}
	for (int v = 0; v < nv; v++)
		if (e->noslice[v]) {
			e->noslice[v] = 0;
			int64_t t = share_and_sweep(e, order, m, at, inplace, slices);
			if (t <= peak)
				peak = t;
			else
				e->noslice[v] = 1;
		}
	peak = share_and_sweep(e, order, m, at, inplace, slices);
	if (peak > none) {
		memset(e->noslice, 1, nv);
		peak = share_and_sweep(e, order, m, at, inplace, slices);
	}
	return peak;
}

int64_t pass_plan_peak(PlanEval *e, const NodeId *order, int m, bool exact)
{
	int at, inplace, slices;
	if (!exact)
		return share_and_sweep(e, order, m, &at, &inplace, &slices);
	return choose_slices(e, order, m, &at, &inplace, &slices);
}

/* ---- placement ------------------------------------------------------------------- */

typedef struct Buf {
	ValueId v;
	int start, end;  /* inclusive positions: live from start through end */
	int64_t size;    /* aligned bytes */
	int64_t off;
} Buf;

/* One plan's figures. */
typedef struct PlanResult {
	int64_t total;       /* workspace bytes */
	int64_t peak;        /* the lower bound */
	int64_t by_size;     /* first fit in greedy by size order, for the note */
	int peak_at;         /* position of the peak, -1 if nothing is live */
	int inplace, slices;
	const char *how;     /* the placement order that won */
	const char *share;   /* "" or how much less sharing won */
} PlanResult;

typedef struct Placer {
	Buf *b;
	int nb;
	int *adj_at, *adj;   /* buffers live at the same time as b: adj[adj_at[b] .. adj_at[b+1]) */
	int64_t *gaps;       /* scratch: offset and size of the placed neighbours, pairs */
	char *placed;
	int64_t *work;       /* neighbour visits so far in this plan: the local search's budget */
} Placer;

static bool overlap(const Buf *x, const Buf *y) { return x->start <= y->end && y->start <= x->end; }

static int by_gap(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;
	return (x[0] > y[0]) - (x[0] < y[0]);
}

/* First fit in the order perm: each buffer at the lowest offset that no
 * placed buffer live at the same time occupies.  Returns the size. */
static int64_t place(Placer *pl, const int *perm)
{
	int64_t total = 0;
	memset(pl->placed, 0, pl->nb);
	for (int i = 0; i < pl->nb; i++) {
		Buf *b = &pl->b[perm[i]];
		int np = 0;
		for (int k = pl->adj_at[perm[i]]; k < pl->adj_at[perm[i] + 1]; k++)
			if (pl->placed[pl->adj[k]]) {
				pl->gaps[2 * np] = pl->b[pl->adj[k]].off;
				pl->gaps[2 * np++ + 1] = pl->b[pl->adj[k]].size;
			}
		*pl->work += np + 1;
		qsort(pl->gaps, np, 2 * sizeof *pl->gaps, by_gap);
		int64_t off = 0;
		for (int k = 0; k < np; k++) {
			if (pl->gaps[2 * k] - off >= b->size)
				break;
			if (pl->gaps[2 * k] + pl->gaps[2 * k + 1] > off)
				off = pl->gaps[2 * k] + pl->gaps[2 * k + 1];
		}
		b->off = off;
		pl->placed[perm[i]] = 1;
		if (off + b->size > total)
			total = off + b->size;
	}
	return total;
}

/* The orders first fit is tried in; ties fall back to the value id, so
 * every order is deterministic.  Greedy by size comes first: the result
 * is never worse than it. */
enum { BY_SIZE, BY_LIFETIME, BY_AREA, BY_START, NORDERS };
static const char *const order_names[NORDERS] = {"size", "lifetime", "area", "start"};
static int sort_key;
static const Buf *sort_bufs;

static int by_key(const void *pa, const void *pb)
{
	const Buf *x = &sort_bufs[*(const int *)pa], *y = &sort_bufs[*(const int *)pb];
	int64_t lx = x->end - x->start + 1, ly = y->end - y->start + 1, kx = 0, ky = 0;
	switch (sort_key) {
	case BY_LIFETIME: kx = ly, ky = lx; break;
	case BY_AREA: kx = ly * y->size, ky = lx * x->size; break;
	case BY_START: kx = x->start, ky = y->start; break;
	}
	if (kx != ky)
		return kx < ky ? -1 : 1;
	if (x->size != y->size)
		return x->size < y->size ? 1 : -1;
	return x->v - y->v;
}

/* The local search's budget in neighbour visits: a few tenths of a second
 * at worst, and a fixed count so the plan does not depend on the machine. */
#define PLACE_WORK 5000000

/* Moves in the placement order that claim lower offsets for one buffer:
 * to the front, or one step earlier.  A move is kept when the workspace
 * shrinks; rounds repeat until none helps, the lower bound is reached or
 * the budget is spent. */
static int64_t improve(Placer *pl, int *perm, int64_t best, int64_t bound)
{
	int *try = malloc((pl->nb + 1) * sizeof *try);
	if (!try)
		return best;
	for (bool again = true; again && best > bound && *pl->work < PLACE_WORK;) {
		again = false;
		for (int k = 1; k < pl->nb && best > bound && *pl->work < PLACE_WORK; k++) {
			for (int mv = 0; mv < 2; mv++) {
				int to = mv ? k - 1 : 0;
				if (mv && to == 0)
					continue;  /* the same as to the front */
				memcpy(try, perm, pl->nb * sizeof *try);
				memmove(try + to + 1, try + to, (k - to) * sizeof *try);
				try[to] = perm[k];
				int64_t t = place(pl, try);
				if (t < best) {
					best = t;
					memcpy(perm, try, pl->nb * sizeof *perm);
					again = true;
					break;
				}
			}
		}
	}
	free(try);
	return best;
}

/* Offsets for the buffers: the best of the first-fit orders, then the
 * local search from it.  *by_size: greedy by size's result, for the note. */
static bool place_buffers(Placer *pl, int64_t bound, int64_t *total, int64_t *by_size, const char **how)
{
	int nb = pl->nb;
	int *perm = malloc((nb + 1) * sizeof *perm), *best = malloc((nb + 1) * sizeof *best);
	if (!perm || !best) {
		free(perm);
		free(best);
		return false;
	}
	*total = -1;
	for (int o = 0; o < NORDERS && *total != bound; o++) {
		for (int i = 0; i < nb; i++)
			perm[i] = i;
		sort_key = o;
		sort_bufs = pl->b;
		qsort(perm, nb, sizeof *perm, by_key);
		int64_t t = place(pl, perm);
		if (o == BY_SIZE)
			*by_size = t;
		if (*total < 0 || t < *total) {
			*total = t;
			*how = order_names[o];
			memcpy(best, perm, nb * sizeof *best);
		}
	}
	int64_t t = improve(pl, best, *total, bound);
	if (t < *total)
		*how = "local search";
	*total = place(pl, best);
	if (*total != t)
		die("memory plan: placement is not deterministic");
	free(perm);
	free(best);
	return true;
}

/* The interval graph of the buffers as adjacency lists. */
static bool build_adjacency(Placer *pl)
{
	int nb = pl->nb;
	int64_t pairs = 0;
	pl->adj_at = calloc(nb + 2, sizeof *pl->adj_at);
	if (!pl->adj_at)
		return false;
	for (int a = 0; a < nb; a++)
		for (int b = 0; b < nb; b++)
			if (a != b && overlap(&pl->b[a], &pl->b[b])) {
				pl->adj_at[a + 1]++;
				pairs++;
			}
	if (pairs > (1 << 28))
		return false;
	for (int a = 0; a < nb; a++)
		pl->adj_at[a + 1] += pl->adj_at[a];
	pl->adj = malloc((pairs + 1) * sizeof *pl->adj);
	pl->gaps = malloc((2 * nb + 2) * sizeof *pl->gaps);
	pl->placed = malloc(nb + 1);
	if (!pl->adj || !pl->gaps || !pl->placed)
		return false;
	for (int a = 0, k = 0; a < nb; a++)
		for (int b = 0; b < nb; b++)
			if (a != b && overlap(&pl->b[a], &pl->b[b]))
				pl->adj[k++] = b;
	return true;
}

static void placer_free(Placer *pl)
{
	free(pl->b);
	free(pl->adj_at);
	free(pl->adj);
	free(pl->gaps);
	free(pl->placed);
}

/* How much the plan shares, most first: what choose_slices picks, in
 * place but no concat slices, views only (the plan of -O0). */
enum { SHARE_ALL, SHARE_NO_SLICES, SHARE_VIEWS, NSHARES };
static const char *const share_names[NSHARES] = {"", ", no slices", ", views only"};

/* Set e up with sharing s for order; returns the peak. */
static int64_t share_as(PlanEval *e, const NodeId *order, int m, int s, PlanResult *r)
{
	bool share = e->share;
	if (s == SHARE_ALL)
		return choose_slices(e, order, m, &r->peak_at, &r->inplace, &r->slices);
	memset(e->noslice, 1, e->g->values.n);
	e->share = s == SHARE_NO_SLICES;
	int64_t peak = share_and_sweep(e, order, m, &r->peak_at, &r->inplace, &r->slices);
	e->share = share;
	return peak;
}

/* Place the roots e holds (share_as set them up); offsets into e->woff. */
static bool place_roots(PlanEval *e, PlanResult *r)
{
	Graph *g = e->g;
	Placer pl = {.work = &e->work};
	pl.b = malloc((g->values.n + 1) * sizeof *pl.b);
	if (!pl.b)
		return false;
	for (int v = 0; v < g->values.n; v++)
		if (e->parent[v] < 0 && in_workspace(e, v))
			pl.b[pl.nb++] = (Buf){v, e->start[v], e->end[v], aligned_bytes(e, v), -1};
	if (!build_adjacency(&pl) || !place_buffers(&pl, r->peak, &r->total, &r->by_size, &r->how)) {
		placer_free(&pl);
		return false;
	}
	/* Self-check: buffers live at the same time never overlap. */
	for (int a = 0; a < pl.nb; a++)
		for (int b = a + 1; b < pl.nb; b++)
			if (overlap(&pl.b[a], &pl.b[b]) && pl.b[a].off < pl.b[b].off + pl.b[b].size &&
			    pl.b[b].off < pl.b[a].off + pl.b[a].size)
				die("memory plan overlaps values %d and %d", pl.b[a].v, pl.b[b].v);
	for (int b = 0; b < pl.nb; b++)
		e->woff[pl.b[b].v] = pl.b[b].off;
	placer_free(&pl);
	return true;
}

/* The whole plan for one order, leaving e with the sharing chosen and
 * e->woff with the offsets.  Sharing lowers the peak, but the buffers it
 * makes (a concat's, living from its first slice on; merged in-place
 * chains) can pack worse: when the placement misses its lower bound, less
 * sharing is placed too and the smallest workspace wins (ties: the most
 * sharing).  Views only is the plan without sharing, first fit in greedy
 * by size order among others, so the result is never above TFLite Micro's
 * greedy by size for this order. */
static bool plan_order(PlanEval *e, const NodeId *order, int m, PlanResult *r)
{
	int best = -1, nv = e->g->values.n;
	PlanResult t;
	e->work = 0;  /* one budget for all tries */
	for (int s = 0; s < (e->share ? NSHARES : 1); s++) {
		t = (PlanResult){0};
		t.peak = share_as(e, order, m, s, &t);
		if (best >= 0 && t.peak >= r->total)
			break;  /* less sharing has a peak no lower: it cannot win */
		if (!place_roots(e, &t))
			return false;
		if (best < 0 || t.total < r->total) {
			best = s;
			*r = t;
			memcpy(e->woff_best, e->woff, nv * sizeof *e->woff);
		}
		if (r->total == r->peak)
			break;
	}
	/* Leave e with the winner's sharing and offsets. */
	r->share = share_names[best];
	share_as(e, order, m, best, &t);
	memcpy(e->woff, e->woff_best, nv * sizeof *e->woff);
	return true;
}

int64_t pass_plan_workspace(PlanEval *e, const NodeId *order, int m)
{
	PlanResult r;
	return plan_order(e, order, m, &r) ? r.total : -1;
}

bool pass_plan(Graph *g, PassCtx *cx)
{
	PlanEval *e = pass_plan_eval_new(g, cx);
	NodeId *order = malloc((g->nodes.n + 1) * sizeof *order);
	PlanResult r;
	int m = 0;
	for (int i = 0; order && i < g->nodes.n; i++)
		if (!g->nodes.v[i].dead)
			order[m++] = i;
	if (!e || !order || !plan_order(e, order, m, &r)) {
		pass_plan_eval_free(e);
		free(order);
		diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
		return false;
	}
	for (int v = 0; v < g->values.n; v++) {
		Value *val = &g->values.v[v];
		val->ws_offset = -1;
		val->alias = -1;
		val->alias_off = 0;
		if (e->parent[v] >= 0)
			val->alias = find(e, v, &val->alias_off);
		else if (in_workspace(e, v))
			val->ws_offset = e->woff[v];
	}
	g->ws_size = r.total;
	g->ws_align = e->align;
	g->ws_lower_bound = r.peak;
	pass_note(cx, "%lld bytes (bound %lld, by size %lld, best %s%s); %d in place, %d in concat slices",
		  (long long)r.total, (long long)r.peak, (long long)r.by_size, r.how, r.share, r.inplace, r.slices);
	pass_plan_eval_free(e);
	if (cx->max_ram > 0 && r.total > cx->max_ram) {
		const Node *n = r.peak_at >= 0 ? &g->nodes.v[order[r.peak_at]] : NULL;
		diag_node(cx->diag, g, n, "workspace needs %lld bytes (peak at this node), over --max-ram %lld",
			  (long long)r.total, (long long)cx->max_ram);
	}
	free(order);
	return false;  /* the plan annotates; the graph itself is unchanged */
}
