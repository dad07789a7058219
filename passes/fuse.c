/* Fusion, as a table of rules run to a fixed point: an activation or a
 * residual Add that consumes the result of a conv, gemm or matmul is folded
 * into that producer, so the tensor is written once (SiLU's
 * x * sigmoid(x) too, though x has two readers); a zero Pad in front
 * of a conv (or a -inf one in front of a max pool) becomes its padding.
 * The fused node takes the consumer's place in the order (its operands are
 * all defined by then) and the consumer's result value. */
#include "passes.h"
#include "act.h"

#include <math.h>
#include <string.h>

/* The producer of v if it may take an epilogue: a fusable head whose
 * result feeds only this consumer and is not a graph output (nor
 * quantized: the qdq pass gave integer heads their bounds already). */
static Node *head_of(Graph *g, const Uses *u, ValueId v)
{
	Value *val = ir_value(g, v);
	if (val->kind != VAL_NODE || val->is_output || u->count[v] != 1 || ir_value_type(g, v)->q)
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
	/* memcpy's pointers must be valid even for 0 bytes, and a node
	 * without attributes or extras has NULL ones. */
	if (nin)
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
	if (na)
		memcpy(attrs, head->attr, na * sizeof *attrs);
	if (nextra)
		memcpy(attrs + na, extra, nextra * sizeof *attrs);
	na += nextra;
	ValueId *nin_arr = ir_arena_alloc(g->arena, (nin + 1) * sizeof *nin_arr);
	Attr *nattr = ir_arena_alloc(g->arena, (na + 1) * sizeof *nattr);
	if (!nin_arr || !nattr)
		return false;
	if (nin)
		memcpy(nin_arr, in, nin * sizeof *in);
	if (na)
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

/* A standalone activation (act.def) read only by a fusable head: the head
 * applies it in its epilogue, with the op's parameters as "act_<p>". */
static bool fuse_activation(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	Act a = ir_act_of_op(n);
	Node *h = a.k ? head_of(g, u, n->in[0]) : NULL;
	if (!h)
		return false;
	Attr extra[3];
	int ne = 0;
	extra[ne++] = ir_astr(ir_arena_strdup(g->arena, "act"), ir_arena_strdup(g->arena, ir_acts[a.k].name));
	char buf[32];
	for (int i = 0; i < 2; i++)
		if (ir_acts[a.k].param[i])
			extra[ne++] = ir_af(ir_arena_strdup(g->arena, ir_act_param_attr(a.k, i, buf, sizeof buf)), a.p[i]);
	for (int i = 0; i < ne; i++)
		if (!extra[i].name || (extra[i].kind == ATTR_STRING && !extra[i].s))
			return false;
	return absorb(g, h, n, extra, ne, -1);
}

/* mul(h, sigmoid(h)) (SiLU, Swish) with h from a fusable head read by
 * exactly these two: the head computes h * sigmoid(h) in its epilogue and
 * the sigmoid goes. */
static bool fuse_silu(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (n->op != OP_MUL || n->in[0] == n->in[1])
		return false;
	for (int side = 0; side < 2; side++) {
		ValueId v = n->in[side], sv = n->in[1 - side];
		Value *hv = ir_value(g, v), *svv = ir_value(g, sv);
		if (hv->kind != VAL_NODE || hv->is_output || u->count[v] != 2 || svv->kind != VAL_NODE ||
		    svv->is_output || u->count[sv] != 1)
			continue;
		Node *s = &g->nodes.v[svv->def], *h = &g->nodes.v[hv->def];
		if (s->dead || s->op != OP_SIGMOID || s->in[0] != v || h->dead || !(ir_ops[h->op].flags & OPF_FUSE_HEAD) ||
		    ir_attr(h, "act"))
			continue;
		Attr extra[1] = {ir_astr("act", "silu")};
		extra[0].name = ir_arena_strdup(g->arena, extra[0].name);
		extra[0].s = ir_arena_strdup(g->arena, ir_acts[ACT_SILU].name);
		if (!absorb(g, h, n, extra, 1, -1))
			return false;
		s->dead = true;
		(void)cx;
		return true;
	}
	return false;
}

/* The expression of an elementwise node: its own expr, or op(%0, %1, ..). */
static bool expr_of(const Node *n, IrEwExpr *e)
{
	char why[160];
	if (n->op == OP_FUSED_EW)
		return ir_ew_parse(ir_attr_str(n, "expr", ""), n->nin, e, why, sizeof why);
	e->n = 0;
	if (n->nin > 3 || n->nattr > IR_EW_MAXATTR || n->nin + 1 > IR_EW_MAX)
		return false;
	IrEwTerm t = {.op = n->op, .nkid = n->nin, .nattr = n->nattr};
	for (int a = 0; a < n->nattr; a++) {
		if (n->attr[a].kind != ATTR_INT && n->attr[a].kind != ATTR_FLOAT)
			return false;
		t.attr[a] = n->attr[a];
	}
	for (int k = 0; k < n->nin; k++) {
		e->t[e->n++] = (IrEwTerm){.op = OP_COUNT, .leaf = k};
		t.kid[k] = k;
	}
	e->t[e->n++] = t;
	return true;
}

/* Copy term i of src (and its subtree) to the end of dst, leaves mapped
 * through leafmap; returns the new index or -1 when dst is full. */
static int graft(IrEwExpr *dst, const IrEwExpr *src, int i, const int *leafmap, const IrEwExpr *sub, int subleaf,
		 const int *submap)
{
	const IrEwTerm *t = &src->t[i];
	if (t->op == OP_COUNT && sub && t->leaf == subleaf)
		return graft(dst, sub, sub->n - 1, submap, NULL, -1, NULL);
	IrEwTerm nt = *t;
	if (t->op == OP_COUNT)
		nt.leaf = leafmap[t->leaf];
	for (int k = 0; k < t->nkid; k++) {
		nt.kid[k] = graft(dst, src, t->kid[k], leafmap, sub, subleaf, submap);
		if (nt.kid[k] < 0)
			return -1;
	}
	if (dst->n == IR_EW_MAX)
		return -1;
	dst->t[dst->n] = nt;
	return dst->n++;
}

static bool ew_node(Graph *g, const Node *n)
{
	if (n->dead || (n->op != OP_FUSED_EW && !ir_ew_fusable(n->op)) || ir_value_type(g, n->out)->dt != DT_F32)
		return false;
	for (int k = 0; k < n->nin; k++)
		if (n->in[k] < 0 || ir_value_type(g, n->in[k])->dt != DT_F32)
			return false;
	return true;
}

/* Chains of elementwise ops become one loop: an elementwise producer
 * whose only reader is an elementwise node, with as many elements as that
 * node's result (a smaller, broadcast intermediate would be recomputed
 * per element: left alone), is substituted into the reader's expression,
 * so its tensor is never written.  Runs after the epilogue rules, which
 * take precedence (they also save the loop). */
static bool fuse_ew_chain(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (!ew_node(g, n))
		return false;
	int64_t numel = ir_type_numel(ir_value_type(g, n->out));
	for (int j = 0; j < n->nin; j++) {
		Value *pv = ir_value(g, n->in[j]);
		if (pv->kind != VAL_NODE || pv->is_output || u->count[n->in[j]] != 1)
			continue;
		Node *p = &g->nodes.v[pv->def];
		if (!ew_node(g, p) || ir_type_numel(ir_value_type(g, n->in[j])) != numel)
			continue;
		IrEwExpr en, ep, out = {0};
		if (!expr_of(n, &en) || !expr_of(p, &ep))
			continue;
		/* Operands: n's except slot j, then p's not already there. */
		ValueId ops[16];
		int nops = 0, nmap[16], pmap[16];
		bool fits = true;
		for (int k = 0; k < n->nin; k++)
			if (k != j)
				nmap[k] = nops, ops[nops++] = n->in[k];
		for (int k = 0; k < p->nin && fits; k++) {
			int at = -1;
			for (int q = 0; q < nops; q++)
				if (ops[q] == p->in[k])
					at = q;
			if (at < 0) {
				if (nops == 16)
					fits = false;
				else
					at = nops, ops[nops++] = p->in[k];
			}
			pmap[k] = at;
		}
		if (!fits || graft(&out, &en, en.n - 1, nmap, &ep, j, pmap) < 0)
			continue;
		char text[8192];
		if (!ir_ew_print(&out, text, sizeof text))
			continue;
		ValueId *in = ir_arena_alloc(g->arena, (size_t)nops * sizeof *in);
		Attr *attr = ir_arena_alloc(g->arena, sizeof *attr);
		const char *s = ir_arena_strdup(g->arena, text), *name = ir_arena_strdup(g->arena, "expr");
		if (!in || !attr || !s || !name)
			return false;
		memcpy(in, ops, (size_t)nops * sizeof *in);
		*attr = ir_astr(name, s);
		n->op = OP_FUSED_EW;
		n->in = in;
		n->nin = nops;
		n->attr = attr;
		n->nattr = 1;
		p->dead = true;
		(void)cx;
		return true;
	}
	return false;
}

/* add(gemm(a, b), c) with no C yet, either order: c becomes the gemm's C
 * (beta 1) when it broadcasts to the result as Gemm's C may ([N], [1, N],
 * [M, 1], [M, N], scalars) and the add does not broadcast the product. */
static bool fuse_gemm_bias(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (n->op != OP_ADD)
		return false;
	for (int side = 0; side < 2; side++) {
		Node *h = head_of(g, u, n->in[side]);
		ValueId cv = n->in[1 - side];
		if (!h || h->op != OP_GEMM || (h->nin > 2 && h->in[2] >= 0) || cv == n->in[side] ||
		    ir_value(g, n->out)->type != ir_value(g, n->in[side])->type)
			continue;
		const Type *ct = ir_value_type(g, cv), *yt = ir_value_type(g, n->out);
		if (ct->dt != yt->dt || ct->rank > 2)
			continue;
		bool ok = true;
		for (int d = 0; d < ct->rank; d++) {
			int64_t want = yt->dims[2 - ct->rank + d];
			ok &= ct->dims[d] == want || ct->dims[d] == 1;
		}
		if (!ok)
			continue;
		ValueId *in = ir_arena_alloc(g->arena, 3 * sizeof *in);
		Attr *attr = ir_arena_alloc(g->arena, ((size_t)h->nattr + 1) * sizeof *attr);
		if (!in || !attr)
			return false;
		in[0] = h->in[0];
		in[1] = h->in[1];
		in[2] = cv;
		int na = h->nattr;
		if (na)
			memcpy(attr, h->attr, (size_t)na * sizeof *attr);
		Attr *beta = NULL;
		for (int a = 0; a < na; a++)
			if (!strcmp(attr[a].name, "beta"))
				beta = &attr[a];
		if (!beta) {
			beta = &attr[na++];
			*beta = ir_af("beta", 1.0);
		}
		beta->kind = ATTR_FLOAT;
		beta->f = 1.0;
		n->op = OP_GEMM;
		n->in = in;
		n->nin = 3;
		n->attr = attr;
		n->nattr = na;
		n->src_op = h->src_op;
		n->name = h->name;
		h->dead = true;
		(void)cx;
		return true;
	}
	return false;
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

/* conv(pad(x)) with zeros on the spatial axes only, or maxpool(pad(x))
 * with -inf: the pad's amounts join the consumer's own pads and the padded
 * copy is never made (the pad goes when nothing else reads it). */
static bool fuse_pad(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if ((n->op != OP_CONV && n->op != OP_MAXPOOL) || n->in[0] < 0)
		return false;
	Value *pv = ir_value(g, n->in[0]);
	if (pv->kind != VAL_NODE)
		return false;
	Node *p = &g->nodes.v[pv->def];
	if (p->dead || p->op != OP_PAD || strcmp(ir_attr_str(p, "mode", "constant"), "constant"))
		return false;
	double want = n->op == OP_CONV ? 0.0 : -INFINITY;
	if (ir_attr_float(p, "value", 0) != want)
		return false;
	int r = ir_value_type(g, p->in[0])->rank, nsp = r - 2, cnt, kp;
	const int64_t *pp = ir_attr_ints(p, "pads", &cnt), *kpads = ir_attr_ints(n, "pads", &kp);
	if (nsp < 1 || cnt != 2 * r || kp != 2 * nsp || pp[0] || pp[1] || pp[r] || pp[r + 1])
		return false;
	for (int i = 0; i < 2 * r; i++)
		if (pp[i] < 0)
			return false;
	Attr *attrs = ir_arena_alloc(g->arena, ((size_t)n->nattr + 1) * sizeof *attrs);
	int64_t *np = ir_arena_alloc(g->arena, (size_t)(2 * nsp) * sizeof *np);
	if (!attrs || !np)
		return false;
	for (int i = 0; i < nsp; i++) {
		np[i] = kpads[i] + pp[2 + i];
		np[nsp + i] = kpads[nsp + i] + pp[r + 2 + i];
	}
	if (n->nattr)
		memcpy(attrs, n->attr, (size_t)n->nattr * sizeof *attrs);
	for (int i = 0; i < n->nattr; i++)
		if (!strcmp(attrs[i].name, "pads"))
			attrs[i].ints = np;
	n->attr = attrs;
	if (u->count[n->in[0]] == 1)  /* this was the pad's only reader */
		p->dead = true;
	n->in[0] = p->in[0];
	(void)cx;
	return true;
}

bool pass_fuse(Graph *g, PassCtx *cx)
{
	static const RewriteRule rules[] = {fuse_pad, fuse_residual, fuse_gemm_bias, fuse_activation, fuse_silu, fuse_ew_chain};
	return pass_rewrite_local(g, cx, rules, sizeof rules / sizeof rules[0]);
}
