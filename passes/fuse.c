/* Epilogue fusion, as a table of rules run to a fixed point: an
 * activation or a residual Add that consumes the result of a conv, gemm or
 * matmul is folded into that producer, so the tensor is written once.
 * The fused node takes the consumer's place in the order (its operands are
 * all defined by then) and the consumer's result value. */
#include "passes.h"

#include <string.h>

/* The producer of v if it may take an epilogue: a fusable head whose
 * result feeds only this consumer and is not a graph output. */
static Node *head_of(Graph *g, const Uses *u, ValueId v)
{
	Value *val = ir_value(g, v);
	if (val->kind != VAL_NODE || val->is_output || u->count[v] != 1)
		return NULL;
	Node *h = &g->nodes.v[val->def];
	if (h->dead || !(ir_ops[h->op].flags & OPF_FUSE_HEAD) || ir_attr(h, "act"))
		return NULL;
	return h;
}

/* Rewrite `tail` into `head` plus extra attributes and operands. */
static bool absorb(Graph *g, Node *head, Node *tail, const Attr *extra, int nextra, ValueId residual)
{
	int nin = head->nin;
	ValueId in[8];
	memcpy(in, head->in, nin * sizeof *in);
	if (residual >= 0) {
		while (nin < 3)
			in[nin++] = -1;
		in[nin++] = residual;
	}
	Attr attrs[24];
	int na = head->nattr;
	if (na + nextra > 24)
		return false;
	memcpy(attrs, head->attr, na * sizeof *attrs);
	memcpy(attrs + na, extra, nextra * sizeof *attrs);
	na += nextra;
	ValueId *nin_arr = ir_arena_alloc(g->arena, (nin + 1) * sizeof *nin_arr);
	Attr *nattr = ir_arena_alloc(g->arena, (na + 1) * sizeof *nattr);
	if (!nin_arr || !nattr)
		return false;
	memcpy(nin_arr, in, nin * sizeof *in);
	memcpy(nattr, attrs, na * sizeof *attrs);
	tail->op = head->op;
	tail->in = nin_arr;
	tail->nin = nin;
	tail->attr = nattr;
	tail->nattr = na;
	tail->src_op = head->src_op;
	tail->name = head->name;
	head->dead = true;
	return true;
}

static bool fuse_activation(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	static const struct { Op op; const char *act; } acts[] = {
		{OP_RELU, "relu"}, {OP_LEAKY_RELU, "leaky_relu"}, {OP_CLIP, "clip"}, {OP_SIGMOID, "sigmoid"}, {OP_TANH, "tanh"},
	};
	const char *act = NULL;
	for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
		if (n->op == acts[i].op)
			act = acts[i].act;
	Node *h = act ? head_of(g, u, n->in[0]) : NULL;
	if (!h)
		return false;
	Attr extra[3] = {ir_astr("act", act)};
	int ne = 1;
	if (n->op == OP_LEAKY_RELU)
		extra[ne++] = ir_af("act_alpha", ir_attr_float(n, "alpha", 0.01));
	if (n->op == OP_CLIP) {
		extra[ne++] = ir_af("act_min", ir_attr_float(n, "min", 0));
		extra[ne++] = ir_af("act_max", ir_attr_float(n, "max", 0));
	}
	for (int i = 0; i < ne; i++)
		extra[i].name = ir_arena_strdup(g->arena, extra[i].name);
	if (extra[0].kind == ATTR_STRING)
		extra[0].s = ir_arena_strdup(g->arena, act);
	return absorb(g, h, n, extra, ne, -1);
}

/* add(conv(...), r) or add(r, conv(...)) with r of the same type: a
 * residual the conv adds before its (later fused) activation. */
static bool fuse_residual(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (n->op != OP_ADD)
		return false;
	for (int side = 0; side < 2; side++) {
		Node *h = head_of(g, u, n->in[side]);
		ValueId r = n->in[1 - side];
		if (!h || h->op != OP_CONV || (h->nin > 3 && h->in[3] >= 0) || r == n->in[side] ||
		    ir_value(g, r)->type != ir_value(g, n->in[side])->type)
			continue;
		return absorb(g, h, n, NULL, 0, r);
	}
	return false;
}

bool pass_fuse(Graph *g, PassCtx *cx)
{
	static const RewriteRule rules[] = {fuse_residual, fuse_activation};
	return pass_rewrite(g, cx, rules, sizeof rules / sizeof rules[0]);
}
