/* Activation layout: store 4-d f32 values in channel blocks of the
 * target's vector width ([N, C/b, H, W, b], ir/layout.c) where the
 * kernels that read and write them gain from it, with relayout nodes only
 * where a row-major reader meets a blocked value.
 *
 * Values that must share a layout (an elementwise op's full-shape operands
 * and its result, a depthwise conv's or max pool's operand and result, a
 * concat's operands and result, a conv's fused residual and its result)
 * form classes.  A class goes blocked when every member can (computed,
 * not a graph output, C a multiple of b, more than one pixel) and every
 * producer writes blocks, and when it gains more than it costs: each conv
 * result or pool window in it counts one (a vector store per pixel instead
 * of a scatter into planes; windows along channel vectors), each value a
 * row-major reader needs converted costs one.  Graph inputs and outputs
 * stay row-major: that is the ABI. */
#include "passes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Lay {
	Graph *g;
	int b;
	int *up;           /* union-find parent per value */
	bool *bad;         /* per root: cannot be blocked */
	int *gain, *cost;  /* per root */
	bool *convert;     /* per value: a row-major reader needs it converted */
} Lay;

static int find(Lay *l, int v)
{
	while (l->up[v] != v)
		v = l->up[v] = l->up[l->up[v]];
	return v;
}

static void tie(Lay *l, ValueId a, ValueId b)
{
	a = find(l, a);
	b = find(l, b);
	if (a != b) {
		l->up[a] = b;
		l->bad[b] |= l->bad[a];
		l->gain[b] += l->gain[a];
	}
}

static const Type *T(Lay *l, ValueId v) { return ir_value_type(l->g, v); }

static bool candidate(Lay *l, ValueId v)
{
	const Value *val = ir_value(l->g, v);
	const Type *t = T(l, v);
	return val->kind == VAL_NODE && !val->is_output && ir_block_ok(t, l->b) && t->dims[2] * t->dims[3] > 1;
}

static bool depthwise(Lay *l, const Node *n)
{
	const Type *x = T(l, n->in[0]), *y = T(l, n->out);
	int64_t group = ir_attr_int(n, "group", 1);
	return x->rank == 4 && group > 1 && group == x->dims[1] && y->dims[1] == group;
}

static bool conv2d(Lay *l, const Node *n) { return n->op == OP_CONV && T(l, n->out)->rank == 4; }

/* Whether n may read operand j in blocks (given ties hold). */
static bool reads_blocks(Lay *l, const Node *n, int j)
{
	switch (n->op) {
	case OP_CONV:
		return conv2d(l, n) && (j == 3 || (j == 0 && (ir_attr_int(n, "group", 1) == 1 || depthwise(l, n))));
	case OP_MAXPOOL:
	case OP_GLOBAL_AVGPOOL:
		return T(l, n->out)->rank == 4;
	case OP_CONCAT:
		return ir_attr_int(n, "axis", 0) == 1;
	default:
		break;
	}
	if ((ir_ops[n->op].flags & OPF_EW) || n->op == OP_FUSED_EW) {
		const Type *y = T(l, n->out), *x = T(l, n->in[j]);
		return y->rank == 4 && x->rank == 4 && !memcmp(x->dims, y->dims, sizeof x->dims[0] * 4);
	}
	return false;
}

/* Ties and gains of node n; its result is bad unless n writes blocks. */
static void visit(Lay *l, const Node *n)
{
	ValueId y = n->out;
	bool writes = false;
	int gain = 0;
	if (conv2d(l, n)) {
		writes = ir_attr_int(n, "group", 1) == 1 || depthwise(l, n);
		gain = 1;
		if (depthwise(l, n))
			tie(l, n->in[0], y);
		if (n->nin > 3 && n->in[3] >= 0)
			tie(l, n->in[3], y);
	} else if (n->op == OP_MAXPOOL && T(l, y)->rank == 4) {
		writes = true;
		gain = 1;
		tie(l, n->in[0], y);
	} else if (n->op == OP_CONCAT && ir_attr_int(n, "axis", 0) == 1) {
		writes = true;
		for (int j = 0; j < n->nin; j++)
			tie(l, n->in[j], y);
	} else if ((ir_ops[n->op].flags & OPF_EW) || n->op == OP_FUSED_EW) {
		writes = T(l, y)->dt == DT_F32;
		Type out = *T(l, y);
		out.block = l->b;
		for (int j = 0; j < n->nin; j++) {
			if (n->in[j] < 0)
				continue;
			if (reads_blocks(l, n, j))
				tie(l, n->in[j], y);
			else if (ir_block_operand(&out, T(l, n->in[j])) == IR_BLOCK_NO)
				writes = false;
		}
	}
	y = find(l, y);
	l->bad[y] |= !writes;
	l->gain[y] += gain;
}

/* Put each relayout node (ids from `first` on) right after the producer
 * of its operand, keeping the order topological. */
static bool place(Graph *g, int first)
{
	int nn = g->nodes.n;
	Node *nodes = malloc((nn + 1) * sizeof *nodes);
	if (!nodes)
		return false;
	int k = 0;
	for (int i = 0; i < first; i++) {
		nodes[k++] = g->nodes.v[i];
		for (int j = first; j < nn; j++)
			if (ir_value(g, g->nodes.v[j].in[0])->def == i)
				nodes[k++] = g->nodes.v[j];
	}
	memcpy(g->nodes.v, nodes, nn * sizeof *nodes);
	free(nodes);
	for (int i = 0; i < nn; i++)
		g->values.v[g->nodes.v[i].out].def = i;
	return true;
}

bool pass_layout(Graph *g, PassCtx *cx)
{
	int b = cx->vector_lanes;
	if (b < 4 || (b & (b - 1)) || b > 64)
		return false;
	int nv = g->values.n;
	Lay l = {g, b};
	l.up = malloc((nv + 1) * sizeof *l.up);
	l.bad = calloc(nv + 1, sizeof *l.bad);
	l.gain = calloc(nv + 1, sizeof *l.gain);
	l.cost = calloc(nv + 1, sizeof *l.cost);
	l.convert = calloc(nv + 1, sizeof *l.convert);
	Uses u;
	bool ok = l.up && l.bad && l.gain && l.cost && l.convert && ir_uses_build(g, &u);
	bool changed = false;
	if (!ok)
		goto out;
	for (int v = 0; v < nv; v++)
		l.up[v] = v;
	for (int i = 0; i < g->nodes.n; i++)
		if (!g->nodes.v[i].dead)
			visit(&l, &g->nodes.v[i]);
	for (int v = 0; v < nv; v++)
		if (!candidate(&l, v))
			l.bad[find(&l, v)] = true;
	for (int v = 0; v < nv; v++) {
		for (int k = u.start[v]; k < u.start[v + 1]; k++) {
			const Node *n = &g->nodes.v[u.users[k]];
			for (int j = 0; j < n->nin; j++)
				if (n->in[j] == v && !reads_blocks(&l, n, j))
					l.convert[v] = true;
		}
		l.cost[find(&l, v)] += l.convert[v];
	}
	int nblocked = 0, nconv = 0, first = g->nodes.n;
	for (int v = 0; v < nv; v++) {
		int r = find(&l, v);
		if (l.bad[r] || l.gain[r] <= l.cost[r])
			continue;
		TypeId t = ir_type_blocked(g, ir_value(g, v)->type, b);
		if (t < 0)
			goto oom;
		ir_value(g, v)->type = t;
		nblocked++;
		if (!l.convert[v])
			continue;
		/* One row-major copy for the readers that need it. */
		TypeId plain = ir_type_blocked(g, t, 0);
		char name[200];
		snprintf(name, sizeof name, "%s.rows", ir_value(g, v)->name);
		NodeId id = plain < 0 ? -1 : ir_add_node(g, OP_RELAYOUT, "", &v, 1, NULL, 0, ir_find_value(g, name) < 0 ? name : NULL, plain);
		if (id < 0)
			goto oom;
		g->nodes.v[id].src_op = "relayout";
		ValueId pv = g->nodes.v[id].out;
		if (!ir_uses_build(g, &u))
			goto oom;
		for (int k = u.start[v]; k < u.start[v + 1]; k++) {
			Node *n = &g->nodes.v[u.users[k]];
			for (int j = 0; j < n->nin && n != &g->nodes.v[id]; j++)
				if (n->in[j] == v && !reads_blocks(&l, n, j))
					n->in[j] = pv;
		}
		nconv++;
	}
	if (nconv && !place(g, first))
		goto oom;
	changed = nblocked > 0;
	if (changed)
		pass_note(cx, "%d values in nchw%dc, %d relayouts", nblocked, b, nconv);
	goto out;
oom:
	diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
out:
	free(l.up);
	free(l.bad);
	free(l.gain);
	free(l.cost);
	free(l.convert);
	return changed;
}
