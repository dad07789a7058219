/* QDQ to integer: the quantized patterns exporters and quantizers write
 * (onnxruntime's quantize_static, NNCF, PyTorch) as
 *     quantize(OP(dequantize(x), dequantize(w), bias))
 * become the integer form of OP (docs/ir.md, "Quantized values"): the
 * quantize node turns into OP itself on the quantized operands, keeping its
 * result value (its name, its quantized type).  A table of rules run to a
 * fixed point, every one rooted at a quantize of a float value:
 *   compute  conv, gemm, matmul, add, mul, avgpool, global_avgpool, softmax, with a
 *            relu or clip between them and the quantize folded into the
 *            saturation bounds; biases become i32 at s_x * s_w;
 *   move     reshape, transpose, identity, slice, gather, max pools,
 *            concat: the integers move (concat operands of another
 *            quantization are requantized first);
 *   table    any other unary elementwise op of an 8-bit value: a 256-entry
 *            table computed at compile time by the code generator from the
 *            float op itself (dequantize, op, quantize), so it equals the
 *            float path element for element;
 *   pair     quantize(dequantize(x)): x requantized, or x itself.
 * A match rewrites only when every float value inside it is read only
 * inside it and is not a graph output.  What is left reading dequantized
 * values computes in float; pass_qdq_float_nodes names it and says why.
 * Runs first in the pipeline, before fold would turn dequantized weights
 * into float constants. */
#include "passes.h"
#include "act.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXIN 64  /* concat operands */

/* v's producer when v is the result of a live node, else NULL. */
static Node *producer(Graph *g, ValueId v)
{
	if (v < 0 || ir_value(g, v)->kind != VAL_NODE)
		return NULL;
	Node *n = &g->nodes.v[ir_value(g, v)->def];
	return n->dead ? NULL : n;
}

/* Read only once (by the match) and not a graph output. */
static bool private_value(Graph *g, const Uses *u, ValueId v)
{
	return u->count[v] == 1 && !ir_value(g, v)->is_output;
}

/* x when v = dequantize(x), else -1. */
static ValueId dq_source(Graph *g, ValueId v)
{
	Node *d = producer(g, v);
	return d && d->op == OP_DEQUANTIZE ? d->in[0] : -1;
}

static const Type *vty(const Graph *g, ValueId v) { return ir_value_type(g, v); }

/* A planned rewrite of the root quantize node n: n becomes op(in) with attrs. */
typedef struct Plan {
	Op op;
	const char *name, *src_op;  /* of the node whose place n takes */
	ValueId in[MAXIN];
	int nin;
	Attr attr[24];
	int nattr;
	char why[200];        /* a refusal, for pass_qdq_float_nodes */
} Plan;

static bool refuse(Plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool refuse(Plan *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof p->why, fmt, ap);
	va_end(ap);
	return false;
}

static bool copy_attrs(Plan *p, const Node *k)
{
	if (k->nattr > (int)(sizeof p->attr / sizeof *p->attr) - 3)
		return refuse(p, "too many attributes");
	if (k->nattr)  /* k->attr is NULL when there are none */
		memcpy(p->attr, k->attr, k->nattr * sizeof *p->attr);
	p->nattr = k->nattr;
	return true;
}

/* The plan takes k's op and place; k's float result v must be private. */
static bool take(Graph *g, const Uses *u, const Node *k, ValueId v, Plan *p)
{
	p->op = k->op;
	p->name = k->name;
	p->src_op = k->src_op;
	return private_value(g, u, v) || refuse(p, "its float result is read elsewhere too");
}

/* Does the integer form of the plan give exactly n's result type?  The
 * shape rules decide what the integer lowerings take. */
static bool plan_types(Graph *g, const Node *n, Plan *p)
{
	Diag d;
	diag_init(&d);
	TypeId want = ir_value(g, n->out)->type;
	TypeId t = ir_infer_result(g, p->op, p->name, p->in, p->nin, p->attr, p->nattr, want, &d);
	if (t < 0) {
		/* the rule's message after "kiln: error: ...: " */
		const char *m = d.nmsg ? d.msgs[0] : "invalid";
		const char *r = strstr(m, "): ");
		refuse(p, "the integer form does not apply: %s", r ? r + 3 : m);
	} else if (t != want)
		refuse(p, "the integer form would change the result type");
	diag_free(&d);
	return p->why[0] == 0;
}

/* ---- compute: conv, gemm, matmul, add, mul, average pools ---------------------------- */

/* The real values of a constant bias (dequantized when quantized). */
static bool bias_reals(Graph *g, PassCtx *cx, ValueId b, double *out, int64_t n, Plan *p)
{
	ValueId src = dq_source(g, b);
	ValueId v = src >= 0 ? src : b;
	if (ir_value(g, v)->kind != VAL_CONST && cx->fold && ir_is_const_expr(g, v) && !cx->fold(g, &v, 1, cx->diag))
		return false;
	const Value *val = ir_value(g, v);
	const Type *t = vty(g, v);
	if (val->kind != VAL_CONST)
		return refuse(p, "the bias is not a constant");
	if (src >= 0 && (t->dt != DT_I32 || (t->q->axis >= 0 && t->rank != 1)))
		return refuse(p, "the bias is quantized as %s, not i32", ir_dtype_name(t->dt));
	if (src < 0 && t->dt != DT_F32)
		return refuse(p, "the bias is %s, not f32 or quantized i32", ir_dtype_name(t->dt));
	for (int64_t i = 0; i < n; i++) {
		if (src < 0) {
			out[i] = ((const float *)val->data)[i];
			continue;
		}
		const Quant *q = t->q;
		int k = q->axis >= 0 ? (int)i : 0;
		out[i] = (double)q->scale[k] * ((double)((const int32_t *)val->data)[i] - q->zero[k]);
	}
	return true;
}

/* The bias of an integer conv/gemm: i32 at s_x * s_w[col], col an
 * element's index along the bias' last axis (of ncol).  A constant quantized exactly so keeps its
 * integers (b * s_b / (s_x s_w) rounds back to b); others are rounded
 * half to even and saturated. */
static ValueId int_bias(Graph *g, PassCtx *cx, ValueId b, const Quant *qx, const Quant *qw, int64_t ncol, Plan *p)
{
	const Type *t = vty(g, b);
	int64_t n = ir_type_numel(t);
	double *re = ir_arena_alloc(g->arena, (size_t)(n + 1) * sizeof *re);
	int32_t *bi = ir_arena_alloc(g->arena, (size_t)(n + 1) * sizeof *bi);
	if (!re || !bi)
		return diag_error(cx->diag, g->file, NULL, NULL, "out of memory"), -1;
	if (!bias_reals(g, cx, b, re, n, p))
		return -1;
	for (int64_t i = 0; i < n; i++) {
		int64_t col = i % ncol;
		double s = (double)qx->scale[0] * qw->scale[qw->n > 1 ? col : 0];
		double r = nearbyint(re[i] / s);  /* the default rounding mode: half to even */
		bi[i] = r > INT32_MAX ? INT32_MAX : r < INT32_MIN ? INT32_MIN : (int32_t)r;
	}
	char name[256];
	snprintf(name, sizeof name, "%s.i32", ir_value(g, b)->name);
	TypeId ty = ir_type(g, DT_I32, t->rank, t->dims, NULL);
	ValueId k = ty < 0 ? -1 : ir_add_const(g, ir_find_value(g, name) < 0 ? name : NULL, ty, bi);
	if (k < 0)
		diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
	return k;
}

/* The fused activation a relu or clip node k makes. */
static bool act_attrs(Graph *g, const Node *k, Plan *p)
{
	Act a = ir_act_of_op(k);
	if (a.k != ACT_RELU && a.k != ACT_CLIP)
		return false;
	p->attr[p->nattr++] = ir_astr("act", ir_acts[a.k].name);
	char buf[32];
	for (int i = 0; i < 2 && a.k == ACT_CLIP; i++) {
		const char *nm = ir_arena_strdup(g->arena, ir_act_param_attr(a.k, i, buf, sizeof buf));
		if (!nm)
			return false;
		p->attr[p->nattr++] = ir_af(nm, a.p[i]);
	}
	return true;
}

static bool compute_op(Op op)
{
	return op == OP_CONV || op == OP_GEMM || op == OP_MATMUL || op == OP_ADD || op == OP_MUL || op == OP_AVGPOOL ||
	       op == OP_GLOBAL_AVGPOOL || op == OP_SOFTMAX;
}

static bool match_compute(Graph *g, const Uses *u, const Node *n, PassCtx *cx, Plan *p, bool apply)
{
	ValueId v = n->in[0];
	Node *k = producer(g, v), *act = NULL;
	if (k && (k->op == OP_RELU || k->op == OP_CLIP) && private_value(g, u, v)) {
		act = k;
		v = k->in[0];
		k = producer(g, v);
	}
	if (!k || !compute_op(k->op) || !take(g, u, k, v, p))
		return false;
	if (k->op == OP_CONV && k->nin > 3 && k->in[3] >= 0)
		return refuse(p, "it has a fused residual");
	if (!copy_attrs(p, k) || (act && !act_attrs(g, act, p)))
		return p->why[0] ? false : refuse(p, "its activation is not relu or clip");
	int nq = k->op == OP_CONV || k->op == OP_GEMM || k->op == OP_MATMUL || k->op == OP_ADD || k->op == OP_MUL ? 2 : 1;
	for (int i = 0; i < nq; i++) {
		p->in[i] = dq_source(g, k->in[i]);
		if (p->in[i] < 0)
			return refuse(p, "operand %d is not dequantized (it is computed in float)", i);
	}
	p->nin = nq;
	if ((k->op == OP_CONV || k->op == OP_GEMM) && k->nin > 2 && k->in[2] >= 0) {
		const Quant *qx = vty(g, p->in[0])->q, *qw = vty(g, p->in[1])->q;
		const Type *tb = vty(g, k->in[2]);
		if (!qx || !qw)
			return refuse(p, "an operand is not quantized");
		/* conv: [M]; gemm: C broadcast to [m, n], its last axis the column */
		int64_t ncol = tb->rank ? tb->dims[tb->rank - 1] : 1;
		if (qw->n > 1 && ncol != qw->n)
			return refuse(p, "the bias does not run along the weights' channels");
		if (!apply) {  /* a check only: the bias must be readable, the rest as without it */
			double *re = ir_arena_alloc(g->arena, (size_t)(ir_type_numel(tb) + 1) * sizeof *re);
			if (!re || !bias_reals(g, cx, k->in[2], re, ir_type_numel(tb), p))
				return false;
			return plan_types(g, n, p);
		}
		p->in[2] = int_bias(g, cx, k->in[2], qx, qw, ncol, p);
		if (p->in[2] < 0)
			return false;
		p->nin = 3;
	}
	return plan_types(g, n, p);
}

/* ---- move: data movement and max pools keep the integers ----------------------------- */

static bool move_op(Op op)
{
	return op == OP_RESHAPE || op == OP_TRANSPOSE || op == OP_IDENTITY || op == OP_SLICE || op == OP_GATHER ||
	       op == OP_MAXPOOL || op == OP_GLOBAL_MAXPOOL || op == OP_CONCAT;
}

/* A requantization of x to dt/q (same shape), appended; -1 on error. */
static ValueId requant_to(Graph *g, PassCtx *cx, const char *node, ValueId x, DType dt, const Quant *q)
{
	const Type *t = vty(g, x);
	TypeId ty = ir_type(g, dt, t->rank, t->dims, q);
	char name[256];
	snprintf(name, sizeof name, "%s.rq", ir_value(g, x)->name);
	NodeId id = ty < 0 ? -1 : ir_build_as(g, OP_QUANTIZE, node, &x, 1, NULL, 0, ir_find_value(g, name) < 0 ? name : NULL, ty,
					      cx->diag);
	if (id < 0)
		return -1;
	g->nodes.v[id].src_op = "QuantizeLinear";
	return g->nodes.v[id].out;
}

static bool match_move(Graph *g, const Uses *u, const Node *n, PassCtx *cx, Plan *p, bool apply)
{
	ValueId v = n->in[0];
	Node *k = producer(g, v);
	if (!k || !move_op(k->op) || !take(g, u, k, v, p))
		return false;
	if (!copy_attrs(p, k))
		return false;
	int nq = k->op == OP_CONCAT ? k->nin : 1;
	if (k->nin > MAXIN)
		return refuse(p, "too many operands");
	const Type *ty = vty(g, n->out);
	for (int i = 0; i < k->nin; i++) {
		p->in[i] = i < nq ? dq_source(g, k->in[i]) : k->in[i];
		if (p->in[i] < 0)
			return refuse(p, "operand %d is not dequantized (it is computed in float)", i);
		const Type *tx = vty(g, p->in[i]);
		if (i < nq && (tx->q->axis >= 0 || (tx->dt != DT_I8 && tx->dt != DT_U8)))
			return refuse(p, "operand %d is not 8-bit quantized per tensor", i);
		/* concat: every operand in the result's quantization */
		if (apply && k->op == OP_CONCAT && (tx->q != ty->q || tx->dt != ty->dt) &&
		    (p->in[i] = requant_to(g, cx, p->name, p->in[i], ty->dt, ty->q)) < 0)
			return false;
	}
	p->nin = k->nin;
	if (k->op == OP_CONCAT)
		return apply ? plan_types(g, n, p) : true;
	/* The integers keep their quantization through the move; a quantize
	 * after it to another one stays, as a requantization. */
	Diag d;
	diag_init(&d);
	TypeId t = ir_infer_result(g, p->op, p->name, p->in, p->nin, p->attr, p->nattr, -1, &d);
	diag_free(&d);
	if (t < 0)
		return refuse(p, "the integer form does not apply");
	return true;
}

/* ---- table: an 8-bit function ------------------------------------------------------- */

static bool match_table(Graph *g, const Uses *u, const Node *n, PassCtx *cx, Plan *p)
{
	ValueId v = n->in[0];
	Node *k = producer(g, v);
	const Type *ty = vty(g, n->out);
	if (!k || !(ir_ops[k->op].flags & OPF_UNARY) || !(ir_ops[k->op].flags & OPF_EW) || k->op == OP_IDENTITY ||
	    k->op == OP_CAST)
		return false;
	p->op = OP_LUT;
	p->name = k->name;
	p->src_op = k->src_op;
	if (!private_value(g, u, v))
		return refuse(p, "its float result is read elsewhere too");
	ValueId x = dq_source(g, k->in[0]);
	if (x < 0)
		return refuse(p, "its operand is not dequantized");
	const Type *tx = vty(g, x);
	if (tx->q->axis >= 0 || (tx->dt != DT_I8 && tx->dt != DT_U8) || ty->q->axis >= 0 || (ty->dt != DT_I8 && ty->dt != DT_U8))
		return refuse(p, "a table needs 8-bit values quantized per tensor in and out");
	if (!cx->fold)
		return refuse(p, "no code generator to compute its table");
	p->in[0] = x;
	p->nin = 2;
	return true;
}

/* The table: quantize(op(dequantize(every code))) evaluated now. */
static ValueId make_table(Graph *g, PassCtx *cx, ValueId y, Node k, ValueId x)
{
	const Type *tx = vty(g, x), *ty = vty(g, y);
	uint8_t codes[256];
	for (int i = 0; i < 256; i++)
		codes[i] = (uint8_t)(tx->dt == DT_I8 ? i - 128 : i);
	int64_t d = 256;
	TypeId tc = ir_type(g, tx->dt, 1, &d, tx->q), tt = ir_type(g, ty->dt, 1, &d, ty->q);
	char name[256];
	snprintf(name, sizeof name, "%s.table", ir_value(g, y)->name);
	ValueId c = tc < 0 ? -1 : ir_add_const(g, NULL, tc, codes);
	NodeId a = c < 0 ? -1 : ir_build(g, OP_DEQUANTIZE, "", &c, 1, NULL, 0, NULL, cx->diag);
	ValueId av = a < 0 ? -1 : g->nodes.v[a].out;
	NodeId f = av < 0 ? -1 : ir_build(g, k.op, k.name, &av, 1, k.attr, k.nattr, NULL, cx->diag);
	ValueId fv = f < 0 ? -1 : g->nodes.v[f].out;
	NodeId q = fv < 0 || tt < 0 ? -1 : ir_build_as(g, OP_QUANTIZE, "", &fv, 1, NULL, 0,
						       ir_find_value(g, name) < 0 ? name : NULL, tt, cx->diag);
	ValueId t = q < 0 ? -1 : g->nodes.v[q].out;
	if (t < 0 || !cx->fold(g, &t, 1, cx->diag))
		return -1;
	return t;
}

/* ---- the rules ------------------------------------------------------------------------- */

/* n becomes the plan's op, keeping its result value. */
static bool rewrite(Graph *g, Node *n, const Plan *p)
{
	ValueId *in = ir_arena_alloc(g->arena, (size_t)(p->nin + 1) * sizeof *in);
	Attr *at = ir_arena_alloc(g->arena, (size_t)(p->nattr + 1) * sizeof *at);
	if (!in || !at)
		return false;
	memcpy(in, p->in, p->nin * sizeof *in);
	memcpy(at, p->attr, p->nattr * sizeof *at);
	n->op = p->op;
	n->in = in;
	n->nin = p->nin;
	n->attr = at;
	n->nattr = p->nattr;
	n->name = p->name;
	n->src_op = p->src_op;
	return true;
}

static bool float_quantize(Graph *g, const Node *n)
{
	return n->op == OP_QUANTIZE && !vty(g, n->in[0])->q;
}

static bool rule_compute(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	Plan p = {0};
	return float_quantize(g, n) && match_compute(g, u, n, cx, &p, true) && rewrite(g, n, &p);
}

static bool rule_move(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	Plan p = {0};
	ValueId out = n->out;
	if (!float_quantize(g, n) || !match_move(g, u, n, cx, &p, true))
		return false;
	n = &g->nodes.v[ir_value(g, out)->def];  /* requantizations may have grown the node array */
	if (p.op == OP_CONCAT)
		return rewrite(g, n, &p);
	/* The move on the integers, then n: the same type (n becomes the
	 * move) or a requantization of the moved integers. */
	Diag d;
	diag_init(&d);
	TypeId t = ir_infer_result(g, p.op, p.name, p.in, p.nin, p.attr, p.nattr, -1, &d);
	diag_free(&d);
	if (t == ir_value(g, out)->type)
		return rewrite(g, n, &p);
	char name[256];
	snprintf(name, sizeof name, "%s.int", ir_value(g, n->in[0])->name);
	NodeId id = ir_build(g, p.op, p.name, p.in, p.nin, p.attr, p.nattr, ir_find_value(g, name) < 0 ? name : NULL,
			     cx->diag);
	if (id < 0)
		return false;
	g->nodes.v[id].src_op = p.src_op;
	n = &g->nodes.v[ir_value(g, out)->def];  /* (the node array may have moved) */
	n->in[0] = g->nodes.v[id].out;
	return true;
}

static bool rule_table(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	Plan p = {0};
	if (!float_quantize(g, n) || !match_table(g, u, n, cx, &p))
		return false;
	ValueId out = n->out;
	ValueId t = make_table(g, cx, out, *producer(g, n->in[0]), p.in[0]);
	if (t < 0)
		return false;
	n = &g->nodes.v[ir_value(g, out)->def];
	p.in[1] = t;
	return rewrite(g, n, &p);
}

/* quantize(dequantize(x)): the integers of x, requantized when the
 * quantizations differ. */
static bool rule_pair(Graph *g, const Uses *u, Node *n, PassCtx *cx)
{
	(void)u, (void)cx;
	if (!float_quantize(g, n))
		return false;
	ValueId x = dq_source(g, n->in[0]);
	if (x < 0)
		return false;
	if (ir_value(g, x)->type == ir_value(g, n->out)->type)
		n->op = OP_IDENTITY;
	n->in[0] = x;
	return true;
}

static const RewriteRule rules[] = {rule_compute, rule_move, rule_table, rule_pair};

/* A plain integer graph input read only through qviews of one quantization
 * (a QOperator model's u8 input) takes that quantization itself, so the
 * header states its scale and zero point. */
static bool quantize_inputs(Graph *g, const Uses *u)
{
	bool changed = false;
	for (int i = 0; i < g->inputs.n; i++) {
		ValueId x = g->inputs.v[i];
		TypeId want = -1;
		bool ok = !vty(g, x)->q && !ir_value(g, x)->is_output && u->start[x] < u->start[x + 1];
		for (int k = u->start[x]; ok && k < u->start[x + 1]; k++) {
			const Node *r = &g->nodes.v[u->users[k]];
			TypeId t = ir_value(g, r->out)->type;
			ok = r->op == OP_QVIEW && !ir_value(g, r->out)->is_output && ir_type_get(g, t)->q && (want < 0 || t == want);
			want = t;
		}
		if (!ok)
			continue;
		for (int k = u->start[x]; k < u->start[x + 1]; k++) {
			Node *r = &g->nodes.v[u->users[k]];
			ir_replace_uses(g, r->out, x);
			r->dead = true;
		}
		ir_value(g, x)->type = want;
		changed = true;
	}
	return changed;
}

bool pass_qdq(Graph *g, PassCtx *cx)
{
	Uses u;
	if (!ir_uses_build(g, &u)) {
		diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
		return false;
	}
	bool retyped = quantize_inputs(g, &u);
	if (retyped && !ir_compact(g)) {
		diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
		return false;
	}
	int before = 0;
	for (int i = 0; i < g->nodes.n; i++)
		before += !g->nodes.v[i].dead && g->nodes.v[i].op == OP_QUANTIZE;
	bool changed = pass_rewrite(g, cx, rules, (int)(sizeof rules / sizeof *rules)) || retyped;
	if (cx->diag->nerr)
		return false;
	if (changed && !ir_order_nodes(g)) {
		diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
		return false;
	}
	/* What is left in float, named now: later passes fuse and rename
	 * nodes (GELU's Div and Erf become one gelu), and check, which stops
	 * here, and the report must name the same nodes. */
	int nfl = pass_qdq_float_nodes(g, NULL, 0);
	cx->qfloat = ir_arena_alloc(g->arena, (size_t)(nfl + 1) * sizeof *cx->qfloat);
	if (!cx->qfloat) {
		diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
		return false;
	}
	cx->nqfloat = pass_qdq_float_nodes(g, cx->qfloat, nfl);
	if (before)
		pass_note(cx, "%d integer nodes; %d nodes left in float among quantized values", pass_qdq_integer_nodes(g),
			  cx->nqfloat);
	return changed;
}

/* ---- what is left in float --------------------------------------------------------------- */

int pass_qdq_integer_nodes(const Graph *g)
{
	int n = 0;
	for (int i = 0; i < g->nodes.n; i++) {
		const Node *k = &g->nodes.v[i];
		if (k->dead || k->op == OP_DEQUANTIZE || (k->op == OP_QUANTIZE && !vty(g, k->in[0])->q))
			continue;
		/* matmul_integer, conv_integer: plain integers in, i32 out, integer by definition */
		bool q = vty(g, k->out)->q || k->op == OP_MATMUL_INTEGER || k->op == OP_CONV_INTEGER;
		for (int j = 0; j < k->nin; j++)
			q |= k->in[j] >= 0 && vty(g, k->in[j])->q;
		n += q;
	}
	return n;
}

int pass_qdq_float_nodes(Graph *g, QdqFloat *out, int max)
{
	Uses u;
	if (!ir_uses_build(g, &u))
		return 0;
	/* The matchers in a dry run: no folding, no new values. */
	Diag d;
	diag_init(&d);
	PassCtx dry = {.diag = &d}, *cx = &dry;
	/* Which nodes an output depends on (the nodes are in topological
	 * order): the matches leave the float ops they replaced, a conv and
	 * its relu, unread, for dce to remove; they do not run. */
	bool *live = calloc((size_t)g->nodes.n + 1, 1);
	if (!live)
		return 0;
	for (int i = g->nodes.n - 1; i >= 0; i--) {
		const Node *k = &g->nodes.v[i];
		live[i] = !k->dead && ir_value(g, k->out)->is_output;
		for (int j = u.start[k->out]; !k->dead && !live[i] && j < u.start[k->out + 1]; j++)
			live[i] = live[u.users[j]];
	}
	int cnt = 0;
	for (int i = 0; i < g->nodes.n; i++) {
		const Node *k = &g->nodes.v[i];
		/* (a node of constants alone runs at compile time, not in float at run time) */
		if (!live[i] || k->op == OP_QUANTIZE || k->op == OP_DEQUANTIZE || vty(g, k->out)->q ||
		    ir_dtype_size(vty(g, k->out)->dt) > 4 || ir_is_const_expr(g, k->out))
			continue;
		bool reads_dq = false, feeds_q = false;
		for (int j = 0; j < k->nin; j++)
			reads_dq |= dq_source(g, k->in[j]) >= 0;
		const Node *q = NULL;
		for (int j = u.start[k->out]; j < u.start[k->out + 1]; j++) {
			const Node *r = &g->nodes.v[u.users[j]];
			if (r->op == OP_QUANTIZE || ((r->op == OP_RELU || r->op == OP_CLIP) && u.count[r->out] == 1))
				q = r;
		}
		if (q && q->op != OP_QUANTIZE) {  /* through a relu or clip */
			const Node *r = &g->nodes.v[u.users[u.start[q->out]]];
			q = u.count[q->out] == 1 && r->op == OP_QUANTIZE ? r : NULL;
		}
		feeds_q = q != NULL;
		if (!reads_dq && !feeds_q)
			continue;
		if (cnt < max) {
			QdqFloat *f = &out[cnt];
			f->node = k->name;
			f->op = k->src_op ? k->src_op : ir_ops[k->op].name;
			Plan p = {0};
			if (!feeds_q)
				snprintf(f->why, sizeof f->why, "its result is not quantized again (no QuantizeLinear after it)");
			else if (!reads_dq)
				snprintf(f->why, sizeof f->why, "its operands are not dequantized values");
			else if ((compute_op(k->op) && !match_compute(g, &u, q, cx, &p, false)) ||
				 (move_op(k->op) && !match_move(g, &u, q, cx, &p, false)) ||
				 (!compute_op(k->op) && !move_op(k->op) && !match_table(g, &u, q, cx, &p)))
				snprintf(f->why, sizeof f->why, "%s", p.why[0] ? p.why : "no integer form for this op in kiln");
			else
				snprintf(f->why, sizeof f->why, "not rewritten (the qdq pass did not run)");
		}
		cnt++;
	}
	free(live);
	diag_free(&d);
	return cnt;
}
