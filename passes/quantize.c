/* Post-training quantization: a float graph becomes a QDQ graph with the
 * scales calibration chose (cx->quant), so that the qdq pass right after
 * it turns the quantized patterns into integer ops.  Nothing here computes
 * on integers; it only decides what is quantized and how:
 *   - each op with an integer form (the role table below) gets its float
 *     operands and its result through quantize -> dequantize pairs; a relu
 *     or clip read only by a compute op's result is quantized after it, so
 *     that qdq folds it into the saturation bounds;
 *   - activations: per tensor, u8 (or i8 when cx->quant says so),
 *     asymmetric over the calibrated range widened to hold 0;
 *   - weights (operand 1 of conv, gemm, matmul): constants become i8
 *     symmetric per output channel (conv: axis 0, gemm: b's column axis,
 *     matmul: b's last axis); other constant operands i8 per tensor;
 *   - moves (reshape, transpose, slice, max pools, ...) keep their operand's
 *     quantization, so their integers move unchanged.
 * Nodes named in cx->quant->float_nodes, and values without a range, stay
 * float.  Every rewrite is recorded in cx->quant_edits, from which
 * `kiln quantize` writes the same decisions as a QDQ ONNX model. */
#include "passes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum Role { R_NONE, R_COMPUTE, R_MOVE, R_TABLE, R_ABSORBED } Role;

/* What a float op's integer form needs: the role of every op qdq rewrites. */
static Role op_role(Op op)
{
	switch (op) {
	case OP_CONV: case OP_GEMM: case OP_MATMUL: case OP_ADD: case OP_MUL:
	case OP_AVGPOOL: case OP_GLOBAL_AVGPOOL: case OP_SOFTMAX: case OP_CONCAT:
		return R_COMPUTE;
	case OP_RESHAPE: case OP_TRANSPOSE: case OP_IDENTITY: case OP_SLICE: case OP_GATHER:
	case OP_MAXPOOL: case OP_GLOBAL_MAXPOOL:
		return R_MOVE;
	default:
		/* any other unary elementwise op: a 256-entry table */
		return (ir_ops[op].flags & OPF_UNARY) && (ir_ops[op].flags & OPF_EW) && op != OP_CAST ? R_TABLE : R_NONE;
	}
}

/* How many leading operands of a compute/move op are quantized. */
static int quantized_operands(const Node *n)
{
	switch (n->op) {
	case OP_CONV: case OP_GEMM: case OP_MATMUL: case OP_ADD: case OP_MUL:
		return 2;
	case OP_CONCAT:
		return n->nin;
	default:
		return 1;
	}
}

/* The weight operand's channel axis (per-channel scales), -1: per tensor. */
static int weight_axis(const Graph *g, const Node *n, int i)
{
	if (i != 1)
		return -1;
	const Type *w = ir_value_type(g, n->in[1]);
	switch (n->op) {
	case OP_CONV: return 0;
	case OP_GEMM: return w->rank == 2 ? (ir_attr_int(n, "trans_b", 0) ? 0 : 1) : -1;
	case OP_MATMUL: return w->rank >= 2 ? w->rank - 1 : -1;
	default: return -1;
	}
}

static bool listed(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (s && !strcmp(names[i], s))
			return true;
	return false;
}

/* Is node n a layer kept in float?  Named by its node name, or by its
 * result's name (unique, for nodes without one). */
static bool kept_float(const Graph *g, const QuantPlan *p, const Node *n)
{
	return (n->name && n->name[0] && listed(p->float_nodes, p->nfloat, n->name)) ||
	       listed(p->float_nodes, p->nfloat, g->values.v[n->out].name);
}

static const QuantRange *range_of(const QuantPlan *p, const char *name)
{
	for (int i = 0; i < p->nranges; i++)
		if (!strcmp(p->ranges[i].value, name))
			return &p->ranges[i];
	return NULL;
}

/* scale and zero for [lo, hi] widened to hold 0, in dt (u8 or i8). */
void pass_quant_params(double lo, double hi, DType dt, float *scale, int32_t *zero)
{
	lo = lo < 0 ? lo : 0;
	hi = hi > 0 ? hi : 0;
	double qlo = dt == DT_I8 ? -128 : 0, qhi = dt == DT_I8 ? 127 : 255;
	double s = (hi - lo) / (qhi - qlo);
	if (!(s > 1e-30) || !isfinite(s))
		s = 1;  /* a constant zero: any scale holds it exactly */
	*scale = (float)s;
	double z = nearbyint(qlo - lo / (double)*scale);
	*zero = (int32_t)(z < qlo ? qlo : z > qhi ? qhi : z);
}

/* Unique "base suffix" in the graph's arena. */
static const char *fresh(Graph *g, const char *base, const char *suffix)
{
	char buf[600];
	for (int i = 0;; i++) {
		if (i)
			snprintf(buf, sizeof buf, "%.500s%s_%d", base, suffix, i);
		else
			snprintf(buf, sizeof buf, "%.500s%s", base, suffix);
		if (ir_find_value(g, buf) < 0)
			return ir_arena_strdup(g->arena, buf);
	}
}

/* The next record of cx->quant_edits, or scratch when nobody asked for them. */
static QuantEdit *add_edit(PassCtx *cx, QuantEdit *scratch)
{
	QuantEdits *e = cx->quant_edits;
	if (!e)
		return scratch;
	if (e->n == e->cap) {
		int cap = e->cap ? 2 * e->cap : 64;
		QuantEdit *v = realloc(e->v, cap * sizeof *v);
		if (!v)
			return NULL;
		e->v = v, e->cap = cap;
	}
	memset(&e->v[e->n], 0, sizeof e->v[0]);
	return &e->v[e->n++];
}

/* Float value v read through dequantize(quantize(v)) by every reader.  A
 * graph output keeps its name on the dequantized value (the interface does
 * not change); v then takes "<name>_float". */
static bool insert_pair(Graph *g, PassCtx *cx, ValueId v, DType dt, const Quant *q)
{
	const char *orig = ir_value(g, v)->name;
	QuantEdit scratch, *e = add_edit(cx, &scratch);
	if (!e)
		return false;
	bool out = ir_value(g, v)->is_output;
	const char *fname = out ? fresh(g, orig, "_float") : orig;
	const char *qname = fresh(g, orig, "_quantized");
	if (!fname || !qname)
		return false;
	const Type *t = ir_value_type(g, v);
	TypeId ty = ir_type(g, dt, t->rank, t->dims, q);
	char nm[600];
	snprintf(nm, sizeof nm, "%s_QuantizeLinear", orig);
	NodeId qn = ty < 0 ? -1 : ir_build_as(g, OP_QUANTIZE, nm, &v, 1, NULL, 0, qname, ty, cx->diag);
	if (qn < 0)
		return false;
	g->nodes.v[qn].src_op = "QuantizeLinear";
	ValueId qv = g->nodes.v[qn].out;
	const char *dname = out ? orig : fresh(g, orig, "_dequantized");
	if (out)
		ir_value(g, v)->name = fname;
	snprintf(nm, sizeof nm, "%s_DequantizeLinear", orig);
	NodeId dn = dname ? ir_build(g, OP_DEQUANTIZE, nm, &qv, 1, NULL, 0, dname, cx->diag) : -1;
	if (dn < 0)
		return false;
	g->nodes.v[dn].src_op = "DequantizeLinear";
	ValueId dv = g->nodes.v[dn].out;
	ir_replace_uses(g, v, dv);
	g->nodes.v[qn].in[0] = v;  /* (replaced too) */
	if (out)
		ir_value(g, v)->is_output = false;
	*e = (QuantEdit){.kind = QE_ACTIVATION, .value = orig, .float_name = fname, .q_name = qname, .dq_name = dname,
			 .dt = dt, .q = q};
	return true;
}

/* Constant w (f32) as i8, symmetric, per channel along axis (or per
 * tensor), read through a dequantize by every reader. */
static bool quantize_const(Graph *g, PassCtx *cx, ValueId w, int axis)
{
	const Type *t = ir_value_type(g, w);
	int64_t n = ir_type_numel(t);
	int nc = axis >= 0 ? (int)t->dims[axis] : 1;
	int64_t inner = 1;
	for (int k = axis + 1; axis >= 0 && k < t->rank; k++)
		inner *= t->dims[k];
	const float *x = ir_value(g, w)->data;
	float *s = ir_arena_alloc(g->arena, (nc + 1) * sizeof *s);
	int32_t *z = ir_arena_alloc(g->arena, (nc + 1) * sizeof *z);
	int8_t *qd = ir_arena_alloc(g->arena, (size_t)n + 1);
	double *mx = calloc(nc + 1, sizeof *mx);
	if (!s || !z || !qd || !mx) {
		free(mx);
		return false;
	}
	for (int64_t i = 0; i < n; i++) {
		int c = axis >= 0 ? (int)(i / inner % nc) : 0;
		mx[c] = fmax(mx[c], fabs(x[i]));
	}
	for (int c = 0; c < nc; c++)
		s[c] = mx[c] > 0 ? (float)(mx[c] / 127) : 1.0f;
	free(mx);
	for (int64_t i = 0; i < n; i++) {
		int c = axis >= 0 ? (int)(i / inner % nc) : 0;
		double r = nearbyint(x[i] / (double)s[c]);
		qd[i] = (int8_t)(r < -127 ? -127 : r > 127 ? 127 : r);
	}
	const Quant *q = ir_quant(g, axis >= 0 ? axis : -1, nc, s, z);
	TypeId ty = q ? ir_type(g, DT_I8, t->rank, t->dims, q) : -1;
	const char *orig = ir_value(g, w)->name;
	const char *qname = fresh(g, orig, "_quantized"), *dname = fresh(g, orig, "_dequantized");
	ValueId k = ty < 0 || !qname || !dname ? -1 : ir_add_const(g, qname, ty, qd);
	char nm[600];
	snprintf(nm, sizeof nm, "%s_DequantizeLinear", orig);
	NodeId dn = k < 0 ? -1 : ir_build(g, OP_DEQUANTIZE, nm, &k, 1, NULL, 0, dname, cx->diag);
	QuantEdit scratch, *e = dn < 0 ? NULL : add_edit(cx, &scratch);
	if (!e)
		return false;
	g->nodes.v[dn].src_op = "DequantizeLinear";
	ir_replace_uses(g, w, g->nodes.v[dn].out);
	*e = (QuantEdit){.kind = QE_WEIGHT, .value = orig, .float_name = orig, .q_name = qname, .dq_name = dname,
			 .dt = DT_I8, .q = q, .data = qd};
	return true;
}

bool pass_quantize(Graph *g, PassCtx *cx)
{
	const QuantPlan *p = cx->quant;
	if (!p)
		return false;
	DType adt = p->act_dt == DT_I8 ? DT_I8 : DT_U8;
	int nv = g->values.n, nn = g->nodes.n;
	Uses u;
	Role *role = calloc(nn + 1, sizeof *role);
	char *want = calloc(nv + 1, 1);          /* 1: activation pair, 2: constant */
	int8_t *waxis = calloc(nv + 1, 1);      /* constants: channel axis + 1 */
	ValueId *from = malloc((nv + 1) * sizeof *from);  /* moves: the operand whose quantization it keeps */
	bool ok = role && want && waxis && from && ir_uses_build(g, &u);
	for (int i = 0; ok && i < nv; i++)
		from[i] = -1;
	/* Roles: only all-f32 nodes, not kept in float. */
	for (int i = 0; ok && i < nn; i++) {
		const Node *n = &g->nodes.v[i];
		if (n->dead || ir_value_type(g, n->out)->dt != DT_F32 || kept_float(g, p, n))
			continue;
		Role r = op_role(n->op);
		for (int j = 0; j < (r == R_NONE ? 0 : quantized_operands(n)); j++)
			if (j >= n->nin || n->in[j] < 0 || ir_value_type(g, n->in[j])->dt != DT_F32)
				r = R_NONE;
		if (n->op == OP_CONV && n->nin > 3 && n->in[3] >= 0)
			r = R_NONE;
		role[i] = r;
	}
	/* A relu or clip that only a compute op's result feeds is that op's
	 * epilogue: the pair goes after it. */
	for (int i = 0; ok && i < nn; i++) {
		Node *n = &g->nodes.v[i];
		if (n->dead || (n->op != OP_RELU && n->op != OP_CLIP))
			continue;
		const Value *x = ir_value(g, n->in[0]);
		if (x->kind != VAL_NODE || u.count[n->in[0]] != 1 || x->is_output)
			continue;
		const Node *k = &g->nodes.v[x->def];
		if (role[x->def] == R_COMPUTE && k->op != OP_CONCAT)
			role[i] = R_ABSORBED;
		else if (op_role(k->op) == R_COMPUTE && kept_float(g, p, k))
			role[i] = R_NONE;  /* (the epilogue of a layer kept in float) */
	}
	for (int i = 0; ok && i < nn; i++) {
		const Node *n = &g->nodes.v[i];
		if (role[i] == R_NONE || role[i] == R_ABSORBED || role[i] == R_MOVE)
			continue;
		int nq = role[i] == R_TABLE ? 1 : quantized_operands(n);
		for (int j = 0; j < nq; j++) {
			ValueId v = n->in[j];
			if (ir_value(g, v)->kind == VAL_CONST && role[i] == R_COMPUTE) {
				want[v] = 2;
				waxis[v] = (int8_t)(weight_axis(g, n, j) + 1);
			} else if (ir_value(g, v)->kind != VAL_CONST)
				want[v] = 1;
		}
		ValueId y = n->out;
		/* through an absorbed relu/clip */
		if (role[i] == R_COMPUTE && u.count[y] == 1 && !ir_value(g, y)->is_output &&
		    role[u.users[u.start[y]]] == R_ABSORBED)
			y = g->nodes.v[u.users[u.start[y]]].out;
		want[y] = 1;
	}
	/* Moves go with their neighbours: quantized when their operand or
	 * their result is (to a fixed point, for chains of them), keeping the
	 * operand's quantization; between float ops they stay float. */
	for (bool more = true; ok && more;) {
		more = false;
		for (int i = 0; i < nn; i++) {
			const Node *n = &g->nodes.v[i];
			if (role[i] != R_MOVE || ir_value(g, n->in[0])->kind == VAL_CONST || from[n->out] == n->in[0])
				continue;
			if (want[n->in[0]] || want[n->out]) {
				want[n->in[0]] = want[n->out] = 1;
				from[n->out] = n->in[0];
				more = true;
			}
		}
	}
	/* Quantizations in value order (operands before results). */
	const Quant **vq = calloc(nv + 1, sizeof *vq);
	DType *vdt = calloc(nv + 1, sizeof *vdt);
	int pairs = 0, consts = 0, kept = 0;
	ok = ok && vq && vdt;
	for (int i = 0; ok && i < nn; i++)
		kept += role[i] == R_NONE && !g->nodes.v[i].dead && ir_value_type(g, g->nodes.v[i].out)->dt == DT_F32;
	/* values are numbered inputs and constants first, then results in node order */
	for (ValueId v = 0; ok && v < nv; v++) {
		if (want[v] != 1 || ir_value_type(g, v)->dt != DT_F32)
			continue;
		if (from[v] >= 0 && vq[from[v]]) {
			vq[v] = vq[from[v]];
			vdt[v] = vdt[from[v]];
			continue;
		}
		const QuantRange *r = range_of(p, ir_value(g, v)->name);
		if (!r)
			continue;
		float s;
		int32_t z;
		pass_quant_params(r->lo, r->hi, adt, &s, &z);
		vq[v] = ir_quant(g, -1, 1, &s, &z);
		vdt[v] = adt;
		ok = vq[v] != NULL;
	}
	for (ValueId v = 0; ok && v < nv; v++) {
		if (want[v] == 1 && vq[v]) {
			ok = insert_pair(g, cx, v, vdt[v], vq[v]);
			pairs++;
		} else if (want[v] == 2 && ir_value_type(g, v)->dt == DT_F32) {
			ok = quantize_const(g, cx, v, waxis[v] - 1);
			consts++;
		}
	}
	free(role), free(want), free(waxis), free(from), free(vq), free(vdt);
	if (!ok || !ir_order_nodes(g)) {
		if (!cx->diag->nerr)
			diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
		return false;
	}
	pass_note(cx, "%d values quantized, %d constants to i8; %d float nodes left", pairs, consts, kept);
	return pairs + consts > 0;
}

bool pass_quantize_layer(Op op)
{
	Role r = op_role(op);
	return r == R_COMPUTE || r == R_TABLE;
}
