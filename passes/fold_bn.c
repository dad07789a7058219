/* BatchNormalization with constant parameters after a conv (or a 2-d gemm
 * or matmul over constant weights, which becomes a gemm with a bias) is
 * folded into that producer's weights
 * and bias: y = a*(conv(x,w)+b-mean)+beta with a = scale/sqrt(var+eps)
 * becomes conv(x, a*w, a*(b-mean)+beta).  Failing that, into the conv that
 * follows it, when that conv has no padding (a padded conv would read
 * zeros where the normalized input has beta - a*mean): per input channel
 * c, conv(a*x+t, w) = conv(x, w*a[c]) + sum w*t[c] with t = beta - a*mean. */
#include "passes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A value name not yet in the graph: base/what, base/what.1, ... */
static void fresh_name(Graph *g, const char *base, const char *what, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", base, what);
	for (int k = 1; ir_find_value(g, out) >= 0; k++)
		snprintf(out, n, "%s/%s.%d", base, what, k);
}

static bool is_const(Graph *g, ValueId v) { return v >= 0 && ir_value(g, v)->kind == VAL_CONST; }

static const float *cdata(Graph *g, ValueId v) { return ir_value(g, v)->data; }

/* The folded weights (of type wt) and bias [M] as new constants named
 * after w; frees nw and nb.  False (with a diagnostic) when out of memory. */
static bool add_folded(Graph *g, ValueId w, TypeId wt, float *nw, float *nb, int64_t M, ValueId *wv, ValueId *bv,
		       PassCtx *cx)
{
	char name[512];
	*wv = *bv = -1;
	if (nw && nb) {
		fresh_name(g, ir_value(g, w)->name, "bn_folded", name, sizeof name);
		*wv = ir_add_const(g, name, wt, nw);
		int64_t bd[1] = {M};
		fresh_name(g, ir_value(g, w)->name, "bn_folded_bias", name, sizeof name);
		TypeId bt = ir_type(g, DT_F32, 1, bd, NULL);
		*bv = bt >= 0 ? ir_add_const(g, name, bt, nb) : -1;
	}
	free(nw);
	free(nb);
	if (*wv < 0 || *bv < 0) {
		diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
		return false;
	}
	return true;
}

/* n's operands become in[0..nin) (copied into the arena). */
static bool set_operands(Graph *g, Node *n, const ValueId *in, int nin, PassCtx *cx)
{
	ValueId *a = ir_arena_alloc(g->arena, (size_t)nin * sizeof *a);
	if (!a) {
		diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
		return false;
	}
	memcpy(a, in, (size_t)nin * sizeof *a);
	n->in = a;
	n->nin = nin;
	return true;
}

/* Fold bn into its producer; false if not applicable. */
static bool fold_one(Graph *g, const Uses *u, Node *bn, PassCtx *cx)
{
	if (bn->op != OP_BATCHNORM)
		return false;
	for (int k = 1; k < 5; k++)
		if (!is_const(g, bn->in[k]))
			return false;
	Value *src = ir_value(g, bn->in[0]);
	if (src->kind != VAL_NODE || src->is_output || u->count[bn->in[0]] != 1)
		return false;
	Node *p = &g->nodes.v[src->def];
	bool conv = p->op == OP_CONV && !ir_attr(p, "act") && (p->nin < 4 || p->in[3] < 0);
	/* A 2-d product by constant weights (gemm with a bias of [M] or none,
	 * or matmul) becomes a gemm over [M, K] weights (trans_b = 1). */
	bool gemm = p->op == OP_GEMM && !ir_attr(p, "act") &&
		    (p->nin < 3 || p->in[2] < 0 ||
		     (ir_value_type(g, p->in[2])->rank == 1 &&
		      ir_value_type(g, p->in[2])->dims[0] == ir_value_type(g, bn->in[0])->dims[1]));
	bool matmul = p->op == OP_MATMUL && !ir_attr(p, "act") && ir_value_type(g, p->in[0])->rank == 2;
	if ((!conv && !gemm && !matmul) || !is_const(g, p->in[1]) || ir_value_type(g, p->in[1])->dt != DT_F32)
		return false;
	if ((gemm || matmul) && (ir_value_type(g, bn->in[0])->rank != 2 || ir_value_type(g, p->in[1])->rank != 2))
		return false;
	bool has_b = p->nin > 2 && p->in[2] >= 0 && !matmul;
	if (has_b && !is_const(g, p->in[2]))
		return false;
	const Type *wt = ir_value_type(g, p->in[1]);
	bool tb = conv || ir_attr_int(p, "trans_b", 0);  /* w is [M, per] (else [per, M]) */
	int64_t M = ir_value_type(g, bn->in[0])->dims[1], per = ir_type_numel(wt) / M;
	double eps = ir_attr_float(bn, "epsilon", 1e-5);
	double alpha = gemm ? ir_attr_float(p, "alpha", 1) : 1, beta = gemm ? ir_attr_float(p, "beta", 1) : 1;
	const float *w = cdata(g, p->in[1]), *b = has_b ? cdata(g, p->in[2]) : NULL;
	const float *sc = cdata(g, bn->in[1]), *bb = cdata(g, bn->in[2]), *mu = cdata(g, bn->in[3]), *var = cdata(g, bn->in[4]);
	float *nw = malloc(ir_type_bytes(wt)), *nb = malloc(M * sizeof *nb);
	for (int64_t m = 0; m < M && nw && nb; m++) {
		double a = sc[m] / sqrt((double)var[m] + eps);
		for (int64_t k = 0; k < per; k++)
			nw[m * per + k] = (float)(a * alpha * w[tb ? m * per + k : k * M + m]);
		nb[m] = (float)(a * ((b ? beta * b[m] : 0) - mu[m]) + bb[m]);
	}
	ValueId wv, bv;
	int64_t mk[2] = {M, per};
	TypeId mkt = tb ? ir_value(g, p->in[1])->type : ir_type(g, DT_F32, 2, mk, NULL);
	if (mkt < 0 || !add_folded(g, p->in[1], mkt, nw, nb, M, &wv, &bv, cx))
		return false;
	/* Constants live in the value array; node pointers stay valid. */
	if (!set_operands(g, p, (ValueId[]){p->in[0], wv, bv}, 3, cx))
		return false;
	if (!conv) {
		Attr *at = ir_arena_alloc(g->arena, 4 * sizeof *at);
		if (!at) {
			diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
			return false;
		}
		at[0] = ir_af("alpha", 1.0);
		at[1] = ir_af("beta", 1.0);
		at[2] = ir_ai("trans_a", ir_attr_int(p, "trans_a", 0));
		at[3] = ir_ai("trans_b", 1);
		p->op = OP_GEMM;
		p->attr = at;
		p->nattr = 4;
	}
	/* The producer takes the batchnorm's place and result value, so the
	 * result keeps its name (it may be a graph output). */
	ValueId out = bn->out;
	*bn = *p;
	bn->out = out;
	p->dead = true;
	return true;
}

/* batchnorm -> conv without padding: fold into the conv's weights and
 * bias (the batchnorm's only reader). */
static bool fold_into_next(Graph *g, const Uses *u, Node *c, PassCtx *cx)
{
	if (c->op != OP_CONV || !is_const(g, c->in[1]) || ir_value_type(g, c->in[1])->dt != DT_F32)
		return false;
	int np;
	const int64_t *pads = ir_attr_ints(c, "pads", &np);
	for (int i = 0; i < np; i++)
		if (pads[i])
			return false;
	bool has_b = c->nin > 2 && c->in[2] >= 0;
	if (has_b && !is_const(g, c->in[2]))
		return false;
	Value *src = ir_value(g, c->in[0]);
	if (src->kind != VAL_NODE || src->is_output || u->count[c->in[0]] != 1)
		return false;
	Node *bn = &g->nodes.v[src->def];
	if (bn->dead || bn->op != OP_BATCHNORM)
		return false;
	for (int k = 1; k < 5; k++)
		if (!is_const(g, bn->in[k]))
			return false;
	const Type *wt = ir_value_type(g, c->in[1]), *xt = ir_value_type(g, c->in[0]);
	int64_t M = wt->dims[0], Cg = wt->dims[1], taps = ir_type_numel(wt) / (M * Cg);
	int64_t group = ir_attr_int(c, "group", 1), Mg = M / group;
	if (xt->dims[1] != Cg * group)
		return false;
	double eps = ir_attr_float(bn, "epsilon", 1e-5);
	const float *w = cdata(g, c->in[1]), *b = has_b ? cdata(g, c->in[2]) : NULL;
	const float *sc = cdata(g, bn->in[1]), *bb = cdata(g, bn->in[2]), *mu = cdata(g, bn->in[3]), *var = cdata(g, bn->in[4]);
	float *nw = malloc(ir_type_bytes(wt)), *nb = malloc(M * sizeof *nb);
	for (int64_t m = 0; m < M && nw && nb; m++) {
		double acc = b ? b[m] : 0;
		for (int64_t i = 0; i < Cg; i++) {
			int64_t ch = m / Mg * Cg + i;  /* the input channel, across groups */
			double a = sc[ch] / sqrt((double)var[ch] + eps), t = bb[ch] - a * mu[ch];
			for (int64_t k = 0; k < taps; k++) {
				int64_t at = (m * Cg + i) * taps + k;
				nw[at] = (float)(a * w[at]);
				acc += w[at] * t;
			}
		}
		nb[m] = (float)acc;
	}
	ValueId wv, bv;
	if (!add_folded(g, c->in[1], ir_value(g, c->in[1])->type, nw, nb, M, &wv, &bv, cx))
		return false;
	if (!set_operands(g, c, (ValueId[]){bn->in[0], wv, bv, c->nin > 3 ? c->in[3] : -1}, c->nin > 3 ? 4 : 3, cx))
		return false;
	bn->dead = true;
	return true;
}

bool pass_fold_bn(Graph *g, PassCtx *cx)
{
	static const RewriteRule rules[] = {fold_one, fold_into_next};
	return pass_rewrite(g, cx, rules, 2);
}
