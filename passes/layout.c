/* Activation layout: store 4-d f32 values in channel blocks of the
 * target's vector width ([N, C/b, H, W, b], ir/layout.c) where the
 * kernels that read and write them gain from it, with relayout nodes only
 * where row-major and blocked code meet.
 *
 * Values that must share a layout (an elementwise op's full-shape operands
 * and its result, a depthwise conv's or max pool's operand and result, a
 * concat's operands and result, a conv's fused residual and its result)
 * form classes.  A class can go into blocks when every value in it can be
 * stored so (f32, C a multiple of b, more than one pixel); it does when it
 * gains more than it costs: each conv result or pool window in it gains
 * one (a vector store per pixel instead of a scatter into planes; windows
 * along channel vectors), and each value costs one relayout if it has
 * row-major readers (they read a row-major copy), is a graph output (the
 * producer writes blocks, a relayout the output: inputs and outputs keep
 * the ABI's NCHW) or has a producer that writes rows only, or is a graph
 * input (a blocked copy for the readers in the class). */
#include "passes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Lay {
	Graph *g;
	int b;
	int *up;           /* union-find parent per value */
	bool *poison;      /* per root: some value in the class cannot be blocked */
	int *gain, *cost;  /* per root */
	bool *writes;      /* per value: its producer can write blocks */
	bool *rows;        /* per value: some reader needs it row-major */
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
		l->poison[b] |= l->poison[a];
		l->gain[b] += l->gain[a];
	}
}

static const Type *T(Lay *l, ValueId v) { return ir_value_type(l->g, v); }

static bool conv2d(Lay *l, const Node *n) { return n->op == OP_CONV && T(l, n->out)->rank == 4; }

/* A conv whose result (and so its residual) may be in blocks: 2-d, and
 * ungrouped, depthwise (one output channel per input channel) or with
 * groups of whole blocks. */
static bool conv_blocks(Lay *l, const Node *n)
{
	return conv2d(l, n) && (ir_conv_depthwise(l->g, n) || ir_conv_groups_whole(l->g, n, n->out, l->b));
}

static bool is_ew(const Node *n) { return (ir_ops[n->op].flags & OPF_EW) || n->op == OP_FUSED_EW; }

/* An elementwise op that can compute in blocks: an f32 4-d result whose
 * operands are each of its shape, per channel or one element. */
static bool ew_blocks(Lay *l, const Node *n)
{
	Type out = *T(l, n->out);
	if (!is_ew(n) || out.dt != DT_F32 || out.rank != 4)
		return false;
	out.block = l->b;
	for (int j = 0; j < n->nin; j++) {
		if (n->in[j] < 0)
			continue;
		Type x = *T(l, n->in[j]);
		bool same = x.rank == 4 && !memcmp(x.dims, out.dims, sizeof x.dims[0] * 4);
		x.block = same ? l->b : 0;
		if (ir_block_operand(&out, &x) == IR_BLOCK_NO)
			return false;
	}
	return true;
}

/* Whether n may read operand j in blocks (the ties of visit() holding). */
static bool reads_blocks(Lay *l, const Node *n, int j)
{
	switch (n->op) {
	case OP_CONV:  /* the operand (either way; grouped: in whole blocks per group) or the residual,
			* when the result can be in blocks */
		if (j == 0 && conv2d(l, n) && !ir_conv_depthwise(l->g, n))
			return ir_conv_groups_whole(l->g, n, n->in[0], l->b);
		return (j == 0 || j == 3) && conv_blocks(l, n);
	case OP_MAXPOOL:
	case OP_GLOBAL_AVGPOOL:
		return T(l, n->out)->rank == 4;
	case OP_CONCAT:
		return ir_attr_int(n, "axis", 0) == 1;
	default:
		break;
	}
	if (!ew_blocks(l, n))
		return false;
	const Type *y = T(l, n->out), *x = T(l, n->in[j]);
	return x->rank == 4 && !memcmp(x->dims, y->dims, sizeof x->dims[0] * 4);
}

/* Must n read operand j in the layout of its result (tied)? */
static bool tied(Lay *l, const Node *n, int j)
{
	if (n->op == OP_CONV)
		return conv2d(l, n) && ((j == 3 && conv_blocks(l, n)) || (j == 0 && ir_conv_depthwise(l->g, n)));
	return n->op != OP_GLOBAL_AVGPOOL && reads_blocks(l, n, j);
}

/* Ties, gains and whether n writes blocks. */
static void visit(Lay *l, const Node *n)
{
	ValueId y = n->out;
	int gain = 0;
	if (conv2d(l, n)) {
		l->writes[y] = conv_blocks(l, n);
		gain = l->writes[y];
	} else if (n->op == OP_MAXPOOL && T(l, y)->rank == 4) {
		l->writes[y] = true;
		gain = 1;
	} else
		l->writes[y] = (n->op == OP_CONCAT && ir_attr_int(n, "axis", 0) == 1) || ew_blocks(l, n);
	for (int j = 0; j < n->nin; j++)
		if (n->in[j] >= 0 && tied(l, n, j))
			tie(l, n->in[j], y);
	l->gain[find(l, y)] += gain;
}

/* Put each relayout node (ids from `first` on) right after the producer
 * of its operand (first of all for a graph input), keeping the order
 * topological. */
static bool place(Graph *g, int first)
{
	int nn = g->nodes.n;
	Node *nodes = malloc((nn + 1) * sizeof *nodes);
	if (!nodes)
		return false;
	int k = 0;
	for (int i = -1; i < first; i++) {
		if (i >= 0)
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

/* A relayout of v into type t, named after v; its result or -1. */
static ValueId relayout(Graph *g, ValueId v, TypeId t, const char *what)
{
	char name[200];
	snprintf(name, sizeof name, "%s.%s", ir_value(g, v)->name, what);
	NodeId id = t < 0 ? -1 : ir_add_node(g, OP_RELAYOUT, "", &v, 1, NULL, 0, ir_find_value(g, name) < 0 ? name : NULL, t);
	if (id < 0)
		return -1;
	g->nodes.v[id].src_op = "relayout";
	return g->nodes.v[id].out;
}

/* Point v's readers that read blocks (or, blocks false, the others) at w. */
static void redirect(Lay *l, const Uses *u, ValueId v, ValueId w, bool blocks)
{
	for (int k = u->start[v]; k < u->start[v + 1]; k++) {
		Node *n = &l->g->nodes.v[u->users[k]];
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] == v && reads_blocks(l, n, j) == blocks)
				n->in[j] = w;
	}
}

static bool block_readers(Lay *l, const Uses *u, ValueId v)
{
	for (int k = u->start[v]; k < u->start[v + 1]; k++) {
		const Node *n = &l->g->nodes.v[u->users[k]];
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] == v && reads_blocks(l, n, j))
				return true;
	}
	return false;
}

/* Put v (in a class going into blocks) there: blocked itself, or beside a
 * relayout.  Returns the relayouts added (0 or 1), -1 out of memory. */
static int block_value(Lay *l, const Uses *u, ValueId v)
{
	Graph *g = l->g;
	Value *val = ir_value(g, v);
	TypeId bt = ir_type_blocked(g, val->type, l->b), rt = val->type;
	if (bt < 0)
		return -1;
	if (val->kind != VAL_NODE || !l->writes[v]) {
		/* Rows from the producer; a blocked copy for the class. */
		ValueId w = relayout(g, v, bt, "blocks");
		if (w < 0)
			return -1;
		redirect(l, u, v, w, true);
		return 1;
	}
	val->type = bt;
	if (!val->is_output && !l->rows[v])
		return 0;
	/* (for an output, names are swapped below: the blocked value's is
	 * the one that says so) */
	ValueId w = relayout(g, v, rt, val->is_output ? "blocks" : "rows");
	if (w < 0)
		return -1;
	redirect(l, u, v, w, false);
	if (ir_value(g, v)->is_output) {
		/* The output keeps its name and place; the producer writes the
		 * blocked value under the copy's name. */
		Value *a = ir_value(g, v), *c = ir_value(g, w);
		const char *name = a->name;
		a->name = c->name;
		c->name = name;
		a->is_output = false;
		c->is_output = true;
		for (int i = 0; i < g->outputs.n; i++)
			if (g->outputs.v[i] == v)
				g->outputs.v[i] = w;
	}
	return 1;
}

/* A graph with relayouts or blocked values has its layout (a dump after
 * this pass, read back): it is left as it is. */
static bool layout_chosen(const Graph *g)
{
	for (int i = 0; i < g->nodes.n; i++)
		if (!g->nodes.v[i].dead && g->nodes.v[i].op == OP_RELAYOUT)
			return true;
	for (int v = 0; v < g->values.n; v++)
		if (ir_value_type(g, v)->block)
			return true;
	return false;
}

bool pass_layout(Graph *g, PassCtx *cx)
{
	int b = cx->vector_lanes;
	if (b < 4 || (b & (b - 1)) || b > 64 || cx->layout == 1)
		return false;
	if (layout_chosen(g)) {
		pass_note(cx, "the layout is chosen already");
		return false;
	}
	int nv = g->values.n;
	Lay l = {g, b};
	l.up = malloc((nv + 1) * sizeof *l.up);
	l.poison = calloc(nv + 1, sizeof *l.poison);
	l.gain = calloc(nv + 1, sizeof *l.gain);
	l.cost = calloc(nv + 1, sizeof *l.cost);
	l.writes = calloc(nv + 1, sizeof *l.writes);
	l.rows = calloc(nv + 1, sizeof *l.rows);
	Uses u;
	bool ok = l.up && l.poison && l.gain && l.cost && l.writes && l.rows && ir_uses_build(g, &u);
	bool changed = false;
	if (!ok)
		goto oom;
	for (int v = 0; v < nv; v++)
		l.up[v] = v;
	for (int i = 0; i < g->nodes.n; i++)
		if (!g->nodes.v[i].dead)
			visit(&l, &g->nodes.v[i]);
	for (int v = 0; v < nv; v++) {
		const Type *t = T(&l, v);
		if (!ir_block_ok(t, b) || t->dims[2] * t->dims[3] <= 1)
			l.poison[find(&l, v)] = true;
		for (int k = u.start[v]; k < u.start[v + 1]; k++) {
			const Node *n = &g->nodes.v[u.users[k]];
			for (int j = 0; j < n->nin; j++)
				l.rows[v] |= n->in[j] == v && !reads_blocks(&l, n, j);
		}
		const Value *val = ir_value(g, v);
		bool needs = val->kind != VAL_NODE || !l.writes[v] || val->is_output || l.rows[v];
		l.cost[find(&l, v)] += needs && (u.count[v] > 0 || val->is_output);
	}
	int nblocked = 0, nconv = 0, first = g->nodes.n;
	for (int v = 0; v < nv; v++) {
		int r = find(&l, v);
		const Value *val = ir_value(g, v);
		bool want = cx->layout == 2 ? l.gain[r] + l.cost[r] > 0 : l.gain[r] > l.cost[r];
		if (l.poison[r] || !want || ((val->kind != VAL_NODE || !l.writes[v]) && !block_readers(&l, &u, v)))
			continue;
		int k = block_value(&l, &u, v);
		if (k < 0)
			goto oom;
		nconv += k;
		nblocked++;
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
	free(l.poison);
	free(l.gain);
	free(l.cost);
	free(l.writes);
	free(l.rows);
	return changed;
}
