/* Constant folding through the code generator itself: the nodes that
 * compute the requested values from constants are copied into a small
 * graph, compiled in-process, run once, and the values become constants.
 * One lowering per op means a folded value is bit-for-bit what the compiled
 * model would have computed at run time. */
#include <stdlib.h>
#include <string.h>

#include "codegen.h"

/* Copy the producers of want[] (all constant expressions) into a new graph
 * whose outputs are want[] in order.  map: old value -> new value. */
static Graph *extract(Graph *g, const ValueId *want, int n, int *map)
{
	Graph *m = ir_graph_new("kiln_fold");
	char *need = calloc((size_t)g->nodes.n + 1, 1);
	ValueId *stack = malloc(((size_t)g->values.n + 1) * sizeof *stack);
	bool ok = m && need && stack;
	int sp = 0;
	for (int i = 0; ok && i < n; i++)
		stack[sp++] = want[i];
	while (ok && sp) {
		const Value *val = &g->values.v[stack[--sp]];
		if (val->kind != VAL_NODE || need[val->def])
			continue;
		need[val->def] = 1;
		const Node *nd = &g->nodes.v[val->def];
		for (int j = 0; j < nd->nin; j++)
			if (nd->in[j] >= 0)
				stack[sp++] = nd->in[j];
	}
	for (int i = 0; ok && i < g->nodes.n; i++) {
		if (!need[i])
			continue;
		const Node *nd = &g->nodes.v[i];
		ValueId in[64];
		for (int j = 0; ok && j < nd->nin; j++) {
			ValueId u = nd->in[j];
			if (u >= 0 && map[u] < 0) {
				const Value *uv = &g->values.v[u];
				const Type *t = ir_value_type(g, u);
				TypeId ty = ir_type(m, t->dt, t->rank, t->dims, t->q);
				map[u] = ty < 0 ? -1 : ir_add_const(m, uv->name, ty, uv->data);
				ok = map[u] >= 0;
			}
			in[j] = u >= 0 ? map[u] : -1;
		}
		const Type *t = ir_value_type(g, nd->out);
		TypeId ty = ok ? ir_type(m, t->dt, t->rank, t->dims, t->q) : -1;
		NodeId id = ty < 0 ? -1 : ir_add_node(m, nd->op, nd->name, in, nd->nin, nd->attr, nd->nattr,
						      g->values.v[nd->out].name, ty);
		ok = id >= 0;
		if (ok) {
			m->nodes.v[id].src_op = nd->src_op;
			map[nd->out] = m->nodes.v[id].out;
		}
	}
	for (int i = 0; ok && i < n; i++)
		ok = ir_mark_output(m, map[want[i]]);
	free(need);
	free(stack);
	if (!ok) {
		ir_graph_free(m);
		return NULL;
	}
	/* The simplest memory plan: every intermediate its own buffer. */
	int64_t off = 0;
	for (int i = 0; i < m->nodes.n; i++) {
		Value *v = &m->values.v[m->nodes.v[i].out];
		if (v->is_output)
			continue;
		v->ws_offset = off;
		off += (ir_type_bytes(ir_type_get(m, v->type)) + 63) / 64 * 64;
	}
	m->ws_size = off;
	m->ws_align = 64;
	m->ws_lower_bound = off;
	return m;
}

bool cg_fold(Graph *g, const ValueId *want, int n, Diag *d)
{
	ValueId w[64];
	int nw = 0;
	for (int i = 0; i < n; i++) {
		if (g->values.v[want[i]].kind == VAL_CONST)
			continue;
		if (!ir_is_const_expr(g, want[i]))
			die("cg_fold: '%s' is not computed from constants", g->values.v[want[i]].name);
		if (nw == 64) {  /* large batches go in pieces */
			if (!cg_fold(g, w, nw, d))
				return false;
			nw = 0;
		}
		w[nw++] = want[i];
	}
	if (!nw)
		return true;
	int *map = malloc(((size_t)g->values.n + 1) * sizeof *map);
	if (!map) {
		diag_error(d, g->file, NULL, NULL, "out of memory");
		return false;
	}
	for (int i = 0; i < g->values.n; i++)
		map[i] = -1;
	Graph *m = extract(g, w, nw, map);
	free(map);
	if (!m) {
		diag_error(d, g->file, NULL, NULL, "out of memory");
		return false;
	}
	m->file = g->file;
	CgOptions o = {.name = "kiln_fold", .opt_level = 1};
	CgJit *j = cg_jit_new(m, &o, d);
	void *outs[64] = {0};
	void *ws = NULL;
	bool ok = j != NULL;
	for (int i = 0; ok && i < nw; i++) {
		outs[i] = ir_arena_alloc(g->arena, (size_t)ir_type_bytes(ir_value_type(g, w[i])) + 1);
		ok = outs[i] != NULL;
	}
	if (ok && m->ws_size > 0) {
		ws = aligned_alloc(64, (size_t)m->ws_size);
		ok = ws != NULL;
	}
	if (ok) {
		const void *noin[1] = {0};
		int rc = cg_jit_fn(j)(noin, outs, ws);
		if (rc != 0)
			die("cg_fold: the folded graph returned status %d", rc);
		for (int i = 0; i < nw; i++) {
			Value *v = &g->values.v[w[i]];
			g->nodes.v[v->def].dead = true;
			v->kind = VAL_CONST;
			v->def = -1;
			v->data = outs[i];
		}
	} else if (j) {
		diag_error(d, g->file, NULL, NULL, "out of memory");
	}
	free(ws);
	cg_jit_free(j);
	ir_graph_free(m);
	return ok;
}
