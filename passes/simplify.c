/* Algebraic simplification, as a table of rewrite rules run to a fixed
 * point: identities, no-op casts and multiplications by one (additions of
 * zero) disappear, reshape and transpose chains collapse, a transpose
 * feeding a gemm or matmul becomes its trans flag. */
#include "passes.h"

#include <string.h>

/* identity(x) -> x.  When the result y is a graph output, the output
 * buffer must still be written: the identity goes only if x is an
 * intermediate that is not an output already, and then x becomes the output
 * under y's name (its producer writes the output buffer directly).  An input
 * or constant passed through to an output keeps its copy. */
static bool drop_identity(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (n->op != OP_IDENTITY)
		return false;
	Value *y = ir_value(g, n->out), *x = ir_value(g, n->in[0]);
	if (y->is_output) {
		if (x->kind != VAL_NODE || x->is_output || x->type != y->type)
			return false;
		x->name = y->name;  /* y is unreferenced after this; compaction drops it */
	}
	ir_replace_uses(g, n->out, n->in[0]);
	n->dead = true;
	return true;
}

/* reshape(reshape(x)) -> reshape(x): the outer one names the final shape. */
static bool merge_reshapes(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (n->op != OP_RESHAPE)
		return false;
	Value *src = ir_value(g, n->in[0]);
	if (src->kind != VAL_NODE || g->nodes.v[src->def].op != OP_RESHAPE)
		return false;
	n->in[0] = g->nodes.v[src->def].in[0];
	return true;
}

/* reshape to the same shape -> its operand. */
static bool drop_noop_reshape(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (n->op != OP_RESHAPE || ir_value(g, n->out)->is_output ||
	    ir_value(g, n->out)->type != ir_value(g, n->in[0])->type)
		return false;
	ir_replace_uses(g, n->out, n->in[0]);
	n->dead = true;
	return true;
}

/* The producer of v when it is a live node of op `op`, else NULL. */
static Node *producer(Graph *g, ValueId v, Op op)
{
	Value *val = ir_value(g, v);
	if (val->kind != VAL_NODE || g->nodes.v[val->def].dead || g->nodes.v[val->def].op != op)
		return NULL;
	return &g->nodes.v[val->def];
}

/* Flip the 0/1 attribute `flag` of n (absent counts as 0); false when out
 * of memory. */
static bool toggle_flag(Graph *g, Node *n, const char *flag)
{
	Attr *a = ir_arena_alloc(g->arena, ((size_t)n->nattr + 2) * sizeof *a);
	if (!a)
		return false;
	if (n->nattr)  /* n->attr is NULL when there are none */
		memcpy(a, n->attr, (size_t)n->nattr * sizeof *a);
	int i = 0;
	while (i < n->nattr && strcmp(a[i].name, flag))
		i++;
	if (i == n->nattr) {
		a[i] = ir_ai(flag, 0);
		if (!(a[i].name = ir_arena_strdup(g->arena, flag)))
			return false;
		n->nattr++;
	}
	a[i].i = !a[i].i;
	n->attr = a;
	return true;
}

/* Does transpose node t swap the last two axes and keep the others? */
static bool swaps_last_two(Graph *g, const Node *t)
{
	int np, r = ir_value_type(g, t->in[0])->rank;
	const int64_t *perm = ir_attr_ints(t, "perm", &np);
	if (r < 2 || np != r || perm[r - 2] != r - 1 || perm[r - 1] != r - 2)
		return false;
	for (int i = 0; i < r - 2; i++)
		if (perm[i] != i)
			return false;
	return true;
}

/* The transpose of the last two axes that value v is, perhaps through up
 * to SCALAR_CHAIN add/sub/mul/div nodes with a one-element other operand
 * (elementwise by one value commutes with a transpose: PyTorch's
 * attention scales K^T just before the matmul).  The chain's values feed
 * only the next and are not outputs; chain[0] reads the transpose.  NULL
 * if there is no such transpose. */
#define SCALAR_CHAIN 4

static Node *transpose_of(Graph *g, const Uses *u, ValueId v, Node **chain, int *side, int *nchain)
{
	*nchain = 0;
	for (;;) {
		Node *t = producer(g, v, OP_TRANSPOSE);
		if (t)
			return swaps_last_two(g, t) ? t : NULL;
		/* A chain value gets x's shape: nothing else may read it. */
		Value *val = ir_value(g, v);
		if (val->kind != VAL_NODE || val->is_output || u->count[v] != 1 || *nchain == SCALAR_CHAIN)
			return NULL;
		Node *e = &g->nodes.v[val->def];
		if (e->dead || (e->op != OP_ADD && e->op != OP_SUB && e->op != OP_MUL && e->op != OP_DIV))
			return NULL;
		int s = ir_type_numel(ir_value_type(g, e->in[1])) == 1 ? 0 : 1;  /* the side that continues */
		if (ir_type_numel(ir_value_type(g, e->in[1 - s])) != 1 || ir_value(g, e->in[s])->type != val->type)
			return NULL;
		for (int i = *nchain; i > 0; i--) {
			chain[i] = chain[i - 1];
			side[i] = side[i - 1];
		}
		chain[0] = e;
		side[0] = s;
		(*nchain)++;
		v = e->in[s];
	}
}

/* A transpose of the last two axes feeding a gemm or matmul operand (or
 * feeding it through elementwise ops by one value) becomes the operand's
 * trans flag: the product reads the operand the other way round, and the
 * copy goes (when nothing else reads it). */
static bool fold_transpose(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (n->op != OP_GEMM && n->op != OP_MATMUL)
		return false;
	for (int side = 0; side < 2; side++) {
		Node *chain[SCALAR_CHAIN];
		int cs[SCALAR_CHAIN], nc;
		Node *t = transpose_of(g, u, n->in[side], chain, cs, &nc);
		if (!t)
			continue;
		if (!toggle_flag(g, n, side ? "trans_b" : "trans_a"))
			return false;
		/* The scalar ops now compute on x untransposed. */
		TypeId xt = ir_value(g, t->in[0])->type;
		for (int i = 0; i < nc; i++)
			ir_value(g, chain[i]->out)->type = xt;
		if (nc)
			chain[0]->in[cs[0]] = t->in[0];
		else
			n->in[side] = t->in[0];
		return true;
	}
	return false;
}

/* transpose(transpose(x, p), q) -> transpose(x, p[q]), or x when that is
 * the identity (and the result is not a graph output). */
static bool merge_transposes(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (n->op != OP_TRANSPOSE)
		return false;
	Node *t = producer(g, n->in[0], OP_TRANSPOSE);
	if (!t)
		return false;
	int r, r2;
	const int64_t *q = ir_attr_ints(n, "perm", &r), *p = ir_attr_ints(t, "perm", &r2);
	if (r != r2 || r > IR_MAX_RANK)
		return false;
	int64_t *c = ir_arena_alloc(g->arena, (size_t)(r + 1) * sizeof *c);
	if (!c)
		return false;
	bool ident = true;
	for (int i = 0; i < r; i++) {
		c[i] = p[q[i]];
		ident &= c[i] == i;
	}
	if (ident && !ir_value(g, n->out)->is_output) {
		ir_replace_uses(g, n->out, t->in[0]);
		n->dead = true;
		return true;
	}
	Attr *a = ir_arena_alloc(g->arena, ((size_t)n->nattr + 1) * sizeof *a);
	if (!a)
		return false;
	memcpy(a, n->attr, (size_t)n->nattr * sizeof *a);
	for (int i = 0; i < n->nattr; i++)
		if (!strcmp(a[i].name, "perm"))
			a[i].ints = c;
	n->attr = a;
	n->in[0] = t->in[0];
	return true;
}

/* transpose by the identity permutation -> its operand. */
static bool drop_noop_transpose(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (n->op != OP_TRANSPOSE || ir_value(g, n->out)->is_output)
		return false;
	int r;
	const int64_t *p = ir_attr_ints(n, "perm", &r);
	for (int i = 0; i < r; i++)
		if (p[i] != i)
			return false;
	ir_replace_uses(g, n->out, n->in[0]);
	n->dead = true;
	return true;
}

/* cast to the dtype x already has -> x. */
static bool drop_noop_cast(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	if (n->op != OP_CAST || ir_value(g, n->out)->is_output ||
	    ir_value(g, n->out)->type != ir_value(g, n->in[0])->type)
		return false;
	ir_replace_uses(g, n->out, n->in[0]);
	n->dead = true;
	return true;
}

/* Is every element of constant v equal to `want` (f32/f64 only)? */
static bool const_all(Graph *g, ValueId v, double want)
{
	const Value *val = ir_value(g, v);
	const Type *t = ir_value_type(g, v);
	if (val->kind != VAL_CONST || !val->data || (t->dt != DT_F32 && t->dt != DT_F64))
		return false;
	int64_t n = ir_type_numel(t);
	for (int64_t i = 0; i < n; i++) {
		double x = t->dt == DT_F32 ? ((const float *)val->data)[i] : ((const double *)val->data)[i];
		if (x != want)
			return false;
	}
	return true;
}

/* x * 1, 1 * x, x / 1, x + 0, 0 + x, x - 0 -> x, when the constant does
 * not broadcast x to a larger result.  (x + 0 turns a -0.0 into +0.0; a
 * sign of zero no comparison sees, dropped as LLVM's nsz would.) */
static bool drop_neutral(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	bool mul = n->op == OP_MUL || n->op == OP_DIV, add = n->op == OP_ADD || n->op == OP_SUB;
	if ((!mul && !add) || ir_value(g, n->out)->is_output)
		return false;
	bool commutes = n->op == OP_MUL || n->op == OP_ADD;
	for (int side = 1; side >= (commutes ? 0 : 1); side--) {
		ValueId k = n->in[side], x = n->in[1 - side];
		if (ir_value(g, x)->type != ir_value(g, n->out)->type || !const_all(g, k, mul ? 1.0 : 0.0))
			continue;
		ir_replace_uses(g, n->out, x);
		n->dead = true;
		return true;
	}
	return false;
}

bool pass_simplify(Graph *g, PassCtx *cx)
{
	static const RewriteRule rules[] = {drop_identity, merge_reshapes, drop_noop_reshape, fold_transpose,
					    merge_transposes, drop_noop_transpose, drop_noop_cast, drop_neutral};
	return pass_rewrite(g, cx, rules, sizeof rules / sizeof rules[0]);
}
