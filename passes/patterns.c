/* Recognition of what exporters write out as primitive subgraphs, as a
 * table of rewrite rules run to a fixed point: the stable softmax
 * exp(x - max) / sum, layer norm as PyTorch exports it before opset 17 and
 * the scale and bias after it, GELU in its erf form (factors in any order
 * and grouping) and its tanh approximation.  Each becomes the one op that
 * is lowered as a whole.  A match rewrites only when every value inside
 * it is read only inside it and is not a graph output, its axes and shapes
 * agree, and its constants are within PAT_TOL of the exact ones.  The
 * match's root (its last node) becomes the op in place, keeping its result
 * value; the other nodes die.  Runs after fold, which makes the constants
 * these rules read (sqrt(2) and the like often arrive as computations). */
#include "passes.h"

#include <math.h>
#include <string.h>

#define PAT_TOL 1e-6    /* relative tolerance on constants: a few f32 ulps */
#define PAT_MAX 24      /* nodes in one match */
#define PAT_FACTORS 4   /* non-constant factors of one product */

/* The nodes of one match, the root first. */
typedef struct Match {
	Graph *g;
	const Uses *u;
	NodeId node[PAT_MAX];
	int n;
} Match;

/* v's producer when it is a live node of op `op`, else NULL. */
static Node *def(Graph *g, ValueId v, Op op)
{
	if (v < 0 || ir_value(g, v)->kind != VAL_NODE)
		return NULL;
	Node *n = &g->nodes.v[ir_value(g, v)->def];
	return !n->dead && n->op == op ? n : NULL;
}

/* Add n to the match (once); NULL if n is NULL or the match is full. */
static Node *take(Match *m, Node *n)
{
	if (!n)
		return NULL;
	NodeId id = (NodeId)(n - m->g->nodes.v);
	for (int i = 0; i < m->n; i++)
		if (m->node[i] == id)
			return n;
	if (m->n == PAT_MAX)
		return NULL;
	m->node[m->n++] = id;
	return n;
}

/* v's producer of op `op`, taken into the match. */
static Node *need(Match *m, ValueId v, Op op) { return take(m, def(m->g, v, op)); }

static bool in_match(const Match *m, NodeId id)
{
	for (int i = 0; i < m->n; i++)
		if (m->node[i] == id)
			return true;
	return false;
}

/* Is every value the match computes, but the root's, read only by nodes
 * of the match and not a graph output? */
static bool sealed(const Match *m)
{
	for (int i = 1; i < m->n; i++) {
		ValueId v = m->g->nodes.v[m->node[i]].out;
		if (ir_value(m->g, v)->is_output)
			return false;
		for (int k = m->u->start[v]; k < m->u->start[v + 1]; k++)
			if (!in_match(m, m->u->users[k]))
				return false;
	}
	return true;
}

/* The value of a one-element f32 constant. */
static bool scalar(Graph *g, ValueId v, double *x)
{
	if (v < 0)
		return false;
	const Value *val = ir_value(g, v);
	const Type *t = ir_value_type(g, v);
	if (val->kind != VAL_CONST || t->dt != DT_F32 || ir_type_numel(t) != 1 || !val->data)
		return false;
	float f;
	memcpy(&f, val->data, sizeof f);
	*x = f;
	return true;
}

static bool near(double x, double want) { return fabs(x - want) <= PAT_TOL * fabs(want); }

/* A product as factors: one-element constants multiplied into k, the
 * others listed (x^2 and x^3 written as pow count as x two or three times;
 * a division by a constant multiplies k by its inverse). */
typedef struct Prod {
	ValueId f[PAT_FACTORS];
	int n;
	double k;
} Prod;

/* Collect the factors of v into p.  The product's mul, div and pow nodes
 * join the match: v's own when `own` (the root, read by anyone), deeper
 * ones when read once (a node read twice is a factor in itself, so a
 * shared x stays x).  False with more than PAT_FACTORS factors. */
static bool factors(Match *m, ValueId v, bool own, Prod *p)
{
	Graph *g = m->g;
	double c;
	if (scalar(g, v, &c)) {
		p->k *= c;
		return true;
	}
	Value *val = ir_value(g, v);
	Node *n = val->kind == VAL_NODE && !g->nodes.v[val->def].dead ? &g->nodes.v[val->def] : NULL;
	if (n && (own || (!val->is_output && m->u->count[v] == 1))) {
		if (n->op == OP_MUL)
			return take(m, n) && factors(m, n->in[0], false, p) && factors(m, n->in[1], false, p);
		if (n->op == OP_DIV && scalar(g, n->in[1], &c) && c != 0) {
			p->k /= c;
			return take(m, n) && factors(m, n->in[0], false, p);
		}
		if (n->op == OP_POW && scalar(g, n->in[1], &c) && (c == 2 || c == 3)) {
			for (int i = 0; i < (int)c; i++)
				if (!take(m, n) || !factors(m, n->in[0], false, p))
					return false;
			return true;
		}
	}
	if (p->n == PAT_FACTORS)
		return false;
	p->f[p->n++] = v;
	return true;
}

/* Are p's factors exactly `count` copies of x? */
static bool powers_of(const Prod *p, ValueId x, int count)
{
	if (p->n != count)
		return false;
	for (int i = 0; i < p->n; i++)
		if (p->f[i] != x)
			return false;
	return true;
}

/* a = 1 + f(...) in either order, f's node of op `op`: that node, taken. */
static Node *one_plus(Match *m, Node *a, Op op)
{
	double c;
	for (int s = 0; s < 2; s++)
		if (scalar(m->g, a->in[s], &c) && c == 1)
			return need(m, a->in[1 - s], op);
	return NULL;
}

/* Rewrite the match's root into op(in...) {attrs}, keeping its result
 * value, and kill the rest of the match -- if the match is sealed, x
 * (in[0]) is f32 and has the root's type, and no operand is a value the
 * match computes. */
static bool become(Match *m, Op op, const ValueId *in, int nin, const Attr *attrs, int na)
{
	Graph *g = m->g;
	Node *root = &g->nodes.v[m->node[0]];
	if (!sealed(m) || ir_value_type(g, in[0])->dt != DT_F32 || ir_value(g, root->out)->type != ir_value(g, in[0])->type)
		return false;
	for (int i = 0; i < nin; i++)
		if (in[i] >= 0 && ir_value(g, in[i])->kind == VAL_NODE && in_match(m, ir_value(g, in[i])->def))
			return false;
	ValueId *vin = ir_arena_alloc(g->arena, (size_t)nin * sizeof *vin);
	Attr *va = ir_arena_alloc(g->arena, ((size_t)na + 1) * sizeof *va);
	if (!vin || !va)
		return false;
	memcpy(vin, in, (size_t)nin * sizeof *vin);
	for (int i = 0; i < na; i++) {
		va[i] = attrs[i];
		if (!(va[i].name = ir_arena_strdup(g->arena, attrs[i].name)))
			return false;
	}
	root->op = op;
	root->in = vin;
	root->nin = nin;
	root->attr = va;
	root->nattr = na;
	for (int i = 1; i < m->n; i++)
		g->nodes.v[m->node[i]].dead = true;
	return true;
}

/* The one axis of a keepdims reduce node, or -1. */
static int one_axis(const Node *r)
{
	int na;
	const int64_t *ax = ir_attr_ints(r, "axes", &na);
	return na == 1 && ir_attr_int(r, "keepdims", 0) == 1 ? (int)ax[0] : -1;
}

/* exp(x - max(x)) / sum(exp(x - max(x))) along one axis, the division also
 * as a product with a reciprocal -> softmax(x) {axis}.  The form without
 * the max is not rewritten: exp(x) / sum(exp(x)) overflows to inf/inf, or
 * underflows to 0/0 or to subnormals, where softmax does not, so the two
 * differ in results and not only in speed. */
static bool softmax(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (n->op != OP_DIV && n->op != OP_MUL)
		return false;
	Match m = {g, u};
	take(&m, n);
	Node *s = NULL;
	ValueId e = -1;
	for (int side = 0; side < 2 && !s; side++) {
		Match save = m;
		Node *r = n->op == OP_MUL ? need(&m, n->in[side], OP_RECIPROCAL) : NULL;
		if (n->op == OP_DIV && side == 0)
			s = need(&m, n->in[1], OP_REDUCE_SUM);
		else if (r)
			s = need(&m, r->in[0], OP_REDUCE_SUM);
		e = n->op == OP_DIV ? n->in[0] : n->in[1 - side];
		if (!s)
			m = save;
	}
	Node *ex = s && s->in[0] == e ? need(&m, e, OP_EXP) : NULL;
	Node *sub = ex ? need(&m, ex->in[0], OP_SUB) : NULL;
	Node *mx = sub ? need(&m, sub->in[1], OP_REDUCE_MAX) : NULL;
	if (!mx || mx->in[0] != sub->in[0] || one_axis(mx) < 0 || one_axis(mx) != one_axis(s))
		return false;
	Attr a = ir_ai("axis", one_axis(mx));
	(void)cx;
	return become(&m, OP_SOFTMAX, &sub->in[0], 1, &a, 1);
}

/* Are a reduce node's axes (keepdims) the trailing ones of a rank-r
 * tensor?  The first of them, or -1. */
static int trailing_axes(const Node *r, int rank)
{
	int na;
	const int64_t *ax = ir_attr_ints(r, "axes", &na);
	if (na < 1 || na > rank || ir_attr_int(r, "keepdims", 0) != 1)
		return -1;
	for (int i = 0; i < na; i++)
		if (ax[i] != rank - na + i)
			return -1;
	return rank - na;
}

/* (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) over the trailing
 * axes -> layer_norm(x) {axis, epsilon}: PyTorch's export before opset 17
 * (ReduceMean, Sub, Pow 2, ReduceMean, Add, Sqrt, Div), the square also as
 * a product, the division also as a product with a reciprocal (the ONNX
 * function's expansion). */
static bool layer_norm(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (n->op != OP_DIV && n->op != OP_MUL)
		return false;
	Match m = {g, u};
	take(&m, n);
	Node *sq = NULL;
	ValueId d = -1;
	for (int side = 0; side < 2 && !sq; side++) {
		Match save = m;
		if (n->op == OP_DIV && side == 0) {
			sq = need(&m, n->in[1], OP_SQRT);
		} else if (n->op == OP_MUL) {
			Node *r = need(&m, n->in[side], OP_RECIPROCAL);
			sq = r ? need(&m, r->in[0], OP_SQRT) : NULL;
		}
		d = n->op == OP_DIV ? n->in[0] : n->in[1 - side];
		if (!sq)
			m = save;
	}
	Node *a = sq ? need(&m, sq->in[0], OP_ADD) : NULL;
	if (!a)
		return false;
	double eps = -1;
	Node *var = NULL;
	for (int s = 0; s < 2 && !var; s++)
		if (scalar(g, a->in[s], &eps) && eps >= 0)
			var = need(&m, a->in[1 - s], OP_REDUCE_MEAN);
	Node *sub = var ? need(&m, d, OP_SUB) : NULL;
	Node *mean = sub ? need(&m, sub->in[1], OP_REDUCE_MEAN) : NULL;
	if (!mean || mean->in[0] != sub->in[0])
		return false;
	ValueId x = sub->in[0];
	int rank = ir_value_type(g, x)->rank, axis = trailing_axes(mean, rank);
	Prod p = {.k = 1};
	if (axis < 0 || trailing_axes(var, rank) != axis || !factors(&m, var->in[0], false, &p) || !powers_of(&p, d, 2) ||
	    p.k != 1 || ir_value(g, d)->type != ir_value(g, x)->type)
		return false;
	Attr at[2] = {ir_ai("axis", axis), ir_af("epsilon", eps)};
	(void)cx;
	return become(&m, OP_LAYER_NORM, &x, 1, at, 2);
}

/* Does p broadcast into the axes a layer_norm node normalizes (and is 1
 * along the others), with x's dtype? */
static bool fits_row(Graph *g, ValueId p, const Node *ln)
{
	const Type *t = ir_value_type(g, p), *x = ir_value_type(g, ln->in[0]);
	int64_t axis = ir_attr_int(ln, "axis", 0);
	if (t->dt != x->dt || t->rank > x->rank)
		return false;
	for (int j = 0; j < t->rank; j++) {
		int xi = x->rank - t->rank + j;
		if (t->dims[j] != 1 && (xi < axis || t->dims[j] != x->dims[xi]))
			return false;
	}
	return true;
}

/* mul(layer_norm(x), g) -> layer_norm(x, g), and add(layer_norm(x, g?), b)
 * -> layer_norm(x, g?, b), when g and b broadcast into the normalized
 * axes: the scale and bias exporters write after the normalization. */
static bool layer_norm_affine(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (n->op != OP_MUL && n->op != OP_ADD)
		return false;
	for (int side = 0; side < 2; side++) {
		Match m = {g, u};
		take(&m, n);
		Node *ln = need(&m, n->in[side], OP_LAYER_NORM);
		if (!ln)
			continue;
		bool has_s = ln->nin > 1 && ln->in[1] >= 0, has_b = ln->nin > 2 && ln->in[2] >= 0;
		ValueId p = n->in[1 - side];
		if (has_b || (n->op == OP_MUL && has_s) || !fits_row(g, p, ln))
			continue;
		ValueId in[3] = {ln->in[0], n->op == OP_MUL ? p : has_s ? ln->in[1] : -1, n->op == OP_ADD ? p : -1};
		(void)cx;
		return become(&m, OP_LAYER_NORM, in, n->op == OP_ADD ? 3 : 2, ln->attr, ln->nattr);
	}
	return false;
}

/* The root product of a GELU: x * 0.5 * (1 + f(...)) in any order and
 * grouping.  Tries each factor as x; `inner` checks the rest given x and
 * the 1 + f node's f (taken). */
typedef bool (*GeluInner)(Match *m, ValueId x, Node *f);

static bool gelu_root(Graph *g, const Uses *u, Node *n, Op f_op, GeluInner inner, bool tanh)
{
	if (n->op != OP_MUL && n->op != OP_DIV)
		return false;
	Match m = {g, u};
	take(&m, n);
	Prod p = {.k = 1};
	if (!factors(&m, n->out, true, &p) || p.n != 2 || !near(p.k, 0.5))
		return false;
	for (int i = 0; i < 2; i++) {
		Match mi = m;
		Node *a = need(&mi, p.f[1 - i], OP_ADD), *f = a ? one_plus(&mi, a, f_op) : NULL;
		if (!f || !inner(&mi, p.f[i], f))
			continue;
		Attr at = ir_ai("tanh", tanh);
		if (become(&mi, OP_GELU, &p.f[i], 1, &at, 1))
			return true;
	}
	return false;
}

/* erf's operand is x / sqrt(2) (or x * 0.70710678). */
static bool gelu_erf_inner(Match *m, ValueId x, Node *f)
{
	Prod z = {.k = 1};
	return factors(m, f->in[0], false, &z) && powers_of(&z, x, 1) && near(z.k, 0.70710678118654752);
}

/* v = lead + 0.044715 * x^power (either order), lead x or 1. */
static bool gelu_poly(Match *m, ValueId v, ValueId x, bool lead_one, int power)
{
	Node *a = need(m, v, OP_ADD);
	for (int s = 0; a && s < 2; s++) {
		double c;
		if (lead_one ? !(scalar(m->g, a->in[s], &c) && c == 1) : a->in[s] != x)
			continue;
		Match save = *m;
		Prod r = {.k = 1};
		if (factors(m, a->in[1 - s], false, &r) && powers_of(&r, x, power) && near(r.k, 0.044715))
			return true;
		*m = save;
	}
	return false;
}

/* tanh's operand is sqrt(2/pi) * (x + 0.044715 * x^3), or
 * x * sqrt(2/pi) * (1 + 0.044715 * x^2). */
static bool gelu_tanh_inner(Match *m, ValueId x, Node *f)
{
	Prod w = {.k = 1};
	if (!factors(m, f->in[0], false, &w) || !near(w.k, 0.79788456080286536))
		return false;
	if (w.n == 1)
		return gelu_poly(m, w.f[0], x, false, 3);
	return w.n == 2 && (w.f[0] == x || w.f[1] == x) && gelu_poly(m, w.f[w.f[0] == x], x, true, 2);
}

/* x * 0.5 * (1 + erf(x / sqrt 2)) -> gelu(x) {tanh=0}. */
static bool gelu_erf(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	(void)cx;
	return gelu_root(g, u, n, OP_ERF, gelu_erf_inner, false);
}

/* 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) -> gelu(x) {tanh=1}. */
static bool gelu_tanh(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	(void)cx;
	return gelu_root(g, u, n, OP_TANH, gelu_tanh_inner, true);
}

static int count_op(const Graph *g, Op op)
{
	int k = 0;
	for (int i = 0; i < g->nodes.n; i++)
		k += !g->nodes.v[i].dead && g->nodes.v[i].op == op;
	return k;
}

bool pass_patterns(Graph *g, PassCtx *cx)
{
	static const RewriteRule rules[] = {softmax, layer_norm, layer_norm_affine, gelu_erf, gelu_tanh};
	static const Op found[] = {OP_SOFTMAX, OP_LAYER_NORM, OP_GELU};
	int before[3];
	for (int i = 0; i < 3; i++)
		before[i] = count_op(g, found[i]);
	bool changed = pass_rewrite(g, cx, rules, sizeof rules / sizeof rules[0]);
	if (changed)
		pass_note(cx, "softmax +%d, layer_norm +%d, gelu +%d", count_op(g, OP_SOFTMAX) - before[0],
			  count_op(g, OP_LAYER_NORM) - before[1], count_op(g, OP_GELU) - before[2]);
	return changed;
}
