/* Constant folding: every value computed from constants alone that a
 * run-time node reads (or that is a graph output) is evaluated now through
 * the code generator (cx->fold, codegen's cg_fold), all in one batch, and
 * becomes a constant; the nodes that computed it go. */
#include "passes.h"

#include <stdlib.h>

/* Folding trades code for data.  A result much bigger than the constants
 * it is computed from (Expand, Tile, ConstantOfShape-style blow-ups, a bias
 * broadcast over a whole feature map) would swell the object's read-only
 * data by megabytes to save a cheap loop, so it stays a node and runs at
 * run time: over FOLD_MAX_BYTES and over FOLD_MAX_GROWTH times the bytes
 * of the distinct constants it reads. */
#define FOLD_MAX_BYTES ((int64_t)1 << 20)
#define FOLD_MAX_GROWTH 2

/* Bytes of the distinct constants v is computed from.  stamp/mark tell
 * values seen in this walk; stack holds values.n entries. */
static int64_t leaf_bytes(Graph *g, ValueId v, int *stamp, int mark, ValueId *stack)
{
	int64_t bytes = 0;
	int sp = 0;
	stack[sp++] = v;
	stamp[v] = mark;
	while (sp) {
		const Value *val = ir_value(g, stack[--sp]);
		if (val->kind == VAL_CONST) {
			bytes += ir_type_bytes(ir_type_get(g, val->type));
			continue;
		}
		const Node *n = &g->nodes.v[val->def];
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] >= 0 && stamp[n->in[j]] != mark) {
				stamp[n->in[j]] = mark;
				stack[sp++] = n->in[j];
			}
	}
	return bytes;
}

bool pass_fold(Graph *g, PassCtx *cx)
{
	if (!cx->fold)
		return false;
	int nv = g->values.n, nn = g->nodes.n;
	char *konst = calloc((size_t)nv + 1, 1);    /* a constant, or computed from constants alone */
	char *runtime = calloc((size_t)nv + 1, 1);  /* read at run time: by a run-time node, or an output */
	char *keep = calloc((size_t)nn + 1, 1);     /* a constant node too large to fold: runs at run time */
	int *stamp = calloc((size_t)nv + 1, sizeof *stamp);
	ValueId *stack = malloc(((size_t)nv + 1) * sizeof *stack);
	ValueId *want = malloc(((size_t)nn + 1) * sizeof *want);
	bool ok = konst && runtime && keep && stamp && stack && want, changed = false;
	if (!ok) {
		diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
		goto out;
	}
	for (int v = 0; v < nv; v++)
		konst[v] = g->values.v[v].kind == VAL_CONST;
	for (int i = 0; i < nn; i++) {
		const Node *n = &g->nodes.v[i];
		if (n->dead)
			continue;
		bool k = true;
		for (int j = 0; j < n->nin; j++)
			k &= n->in[j] < 0 || konst[n->in[j]];
		konst[n->out] = k;
	}
	for (int i = 0; i < g->outputs.n; i++)
		runtime[g->outputs.v[i]] = 1;
	/* From the last node back, so every reader of a value is seen before
	 * its producer: a constant node is folded when something at run time
	 * reads it; one kept for size makes its own operands read at run time. */
	int nwant = 0, nkept = 0;
	int64_t folded_bytes = 0;
	for (int i = nn - 1; i >= 0; i--) {
		const Node *n = &g->nodes.v[i];
		if (n->dead)
			continue;
		if (konst[n->out] && ir_value_type(g, n->out)->block) {
			keep[i] = 1;  /* constants are row-major: this one is computed at run time */
		} else if (konst[n->out]) {
			if (!runtime[n->out])
				continue;
			int64_t bytes = ir_type_bytes(ir_value_type(g, n->out));
			if (!(bytes > FOLD_MAX_BYTES && bytes > FOLD_MAX_GROWTH * leaf_bytes(g, n->out, stamp, i + 1, stack))) {
				want[nn - 1 - nwant++] = n->out;
				folded_bytes += bytes;
				continue;
			}
			keep[i] = 1;
			nkept++;
		}
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] >= 0)
				runtime[n->in[j]] = 1;
	}
	/* One batch, in execution order. */
	if (nwant && !cx->fold(g, want + nn - nwant, nwant, cx->diag))
		goto out;
	/* Every other constant node fed only folded ones, or nothing. */
	int ndropped = 0;
	for (int i = 0; i < nn; i++) {
		Node *n = &g->nodes.v[i];
		if (!n->dead && konst[n->out] && !keep[i] && g->values.v[n->out].kind == VAL_NODE) {
			n->dead = true;
			ndropped++;
		}
	}
	changed = nwant || ndropped;
	if (changed && !ir_compact(g)) {
		diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
		goto out;
	}
	if (changed || nkept)
		pass_note(cx, "folded %d values (%lld bytes) computed by %d nodes; %d too large to fold", nwant,
			  (long long)folded_bytes, nwant + ndropped, nkept);
out:
	free(konst);
	free(runtime);
	free(keep);
	free(stamp);
	free(stack);
	free(want);
	return changed;
}
