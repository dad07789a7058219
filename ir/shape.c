/* Shape and type rules: one function per op family, dispatched through a
 * table indexed by Op.  Used by importers (ir_build), the parser and the
 * verifier, so every producer of IR agrees on what a node computes. */
#include "ir.h"

#include <stdarg.h>
#include <string.h>

typedef struct Ctx {
	Graph *g;
	Op op;
	const char *name;
	const ValueId *in;
	int nin;
	const Attr *attrs;
	int nattr;
	Diag *d;
	Type out;  /* the rule fills this */
} Ctx;

static bool err(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool err(Ctx *c, const char *fmt, ...)
{
	char buf[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	const char *op = ir_ops[c->op].onnx[0] ? ir_ops[c->op].onnx : ir_ops[c->op].name;
	diag_error(c->d, c->g->file, c->name ? c->name : "", op, "%s", buf);
	return false;
}

static const Type *T(Ctx *c, int i) { return ir_type_get(c->g, c->g->values.v[c->in[i]].type); }

static const Attr *A(Ctx *c, const char *name)
{
	for (int i = 0; i < c->nattr; i++)
		if (strcmp(c->attrs[i].name, name) == 0)
			return &c->attrs[i];
	return NULL;
}

static bool need_int(Ctx *c, const char *name, int64_t *v)
{
	const Attr *a = A(c, name);
	if (!a || a->kind != ATTR_INT)
		return err(c, "attribute '%s' (int) is missing", name);
	*v = a->i;
	return true;
}

static bool need_float(Ctx *c, const char *name)
{
	const Attr *a = A(c, name);
	if (!a || a->kind != ATTR_FLOAT)
		return err(c, "attribute '%s' (float) is missing", name);
	return true;
}

static const int64_t *need_ints(Ctx *c, const char *name, int n)
{
	const Attr *a = A(c, name);
	if (!a || a->kind != ATTR_INTS)
		return err(c, "attribute '%s' (ints) is missing", name), NULL;
	if (n >= 0 && a->n != n)
		return err(c, "attribute '%s' has %d values, expected %d", name, a->n, n), NULL;
	static const int64_t none[1];
	return a->ints ? a->ints : none;
}

static bool need_float_dtype(Ctx *c, int i)
{
	if (T(c, i)->dt != DT_F32 && !ir_dtype_is_float(T(c, i)->dt)) {
		char b[128];
		return err(c, "operand %d is %s; this op needs a floating-point dtype", i, ir_type_str(T(c, i), b, sizeof b));
	}
	return true;
}

static bool same_dtype(Ctx *c, int i, int j)
{
	if (T(c, i)->dt != T(c, j)->dt) {
		char a[128], b[128];
		return err(c, "operand dtypes differ: %s and %s", ir_type_str(T(c, i), a, sizeof a), ir_type_str(T(c, j), b, sizeof b));
	}
	return true;
}

static void set_out(Ctx *c, DType dt, int rank, const int64_t *dims)
{
	c->out.dt = dt;
	c->out.rank = rank;
	for (int i = 0; i < rank; i++)
		c->out.dims[i] = dims[i];
}

bool ir_broadcast(int ra, const int64_t *a, int rb, const int64_t *b, int *rout, int64_t *out)
{
	int r = ra > rb ? ra : rb;
	if (r > IR_MAX_RANK)
		return false;
	for (int i = 0; i < r; i++) {
		int64_t x = i < r - ra ? 1 : a[i - (r - ra)];
		int64_t y = i < r - rb ? 1 : b[i - (r - rb)];
		if (x != y && x != 1 && y != 1)
			return false;
		out[i] = x == 1 ? y : x;
	}
	*rout = r;
	return true;
}

/* ---- rules ------------------------------------------------------------ */

static bool r_unary(Ctx *c)
{
	*(&c->out) = *T(c, 0);
	c->out.q = NULL;
	if (c->op == OP_IDENTITY)
		c->out.q = T(c, 0)->q;
	if (c->op == OP_ABS || c->op == OP_NEG) {
		DType dt = T(c, 0)->dt;
		if (dt == DT_BOOL || (!ir_dtype_is_float(dt) && !ir_dtype_is_signed(dt) && c->op == OP_NEG))
			return err(c, "operand is %s; this op needs a signed or floating-point dtype", ir_dtype_name(dt));
	} else if (c->op != OP_IDENTITY && !need_float_dtype(c, 0))
		return false;
	if (c->op == OP_LEAKY_RELU && !need_float(c, "alpha"))
		return false;
	if (c->op == OP_CLIP && (!need_float(c, "min") || !need_float(c, "max")))
		return false;
	return true;
}

static bool r_binary(Ctx *c)
{
	if (!same_dtype(c, 0, 1))
		return false;
	if (T(c, 0)->dt == DT_BOOL)
		return err(c, "arithmetic on bool operands is not supported");
	int r;
	int64_t d[IR_MAX_RANK];
	if (!ir_broadcast(T(c, 0)->rank, T(c, 0)->dims, T(c, 1)->rank, T(c, 1)->dims, &r, d)) {
		char a[128], b[128];
		return err(c, "input shapes %s and %s cannot be broadcast", ir_type_str(T(c, 0), a, sizeof a),
			   ir_type_str(T(c, 1), b, sizeof b));
	}
	set_out(c, T(c, 0)->dt, r, d);
	return true;
}

/* Spatial output size; ceil rounding drops a window that would start in
 * the right padding. */
static bool window_out(Ctx *c, int64_t in, int64_t k, int64_t s, int64_t dil, int64_t pb, int64_t pe,
		       bool ceil, int64_t *out)
{
	if (s < 1 || dil < 1 || k < 1 || pb < 0 || pe < 0)
		return err(c, "kernel %lld, stride %lld, dilation %lld, pads %lld/%lld are invalid", (long long)k,
			   (long long)s, (long long)dil, (long long)pb, (long long)pe);
	int64_t span = in + pb + pe - dil * (k - 1) - 1;
	if (span < 0)
		return err(c, "window of %lld (dilation %lld) does not fit the padded input of %lld", (long long)k,
			   (long long)dil, (long long)(in + pb + pe));
	int64_t o = (ceil ? (span + s - 1) / s : span / s) + 1;
	if (ceil && (o - 1) * s >= in + pb)
		o--;
	*out = o;
	return true;
}

static bool r_conv(Ctx *c)
{
	const Type *x = T(c, 0), *w = T(c, 1);
	char a[128], b[128];
	if (!need_float_dtype(c, 0) || !same_dtype(c, 0, 1))
		return false;
	if (x->rank < 3 || w->rank != x->rank)
		return err(c, "input %s and weights %s must both have rank >= 3", ir_type_str(x, a, sizeof a), ir_type_str(w, b, sizeof b));
	int nsp = x->rank - 2;
	int64_t group;
	const int64_t *st = need_ints(c, "strides", nsp), *pd = need_ints(c, "pads", 2 * nsp),
		      *dl = need_ints(c, "dilations", nsp);
	if (!st || !pd || !dl || !need_int(c, "group", &group))
		return false;
	if (group < 1 || x->dims[1] % group || w->dims[0] % group)
		return err(c, "group %lld does not divide input channels %lld and output channels %lld",
			   (long long)group, (long long)x->dims[1], (long long)w->dims[0]);
	if (w->dims[1] * group != x->dims[1])
		return err(c, "weights %s expect %lld input channels, input %s has %lld", ir_type_str(w, a, sizeof a),
			   (long long)(w->dims[1] * group), ir_type_str(x, b, sizeof b), (long long)x->dims[1]);
	if (c->nin > 2 && c->in[2] >= 0) {
		const Type *bt = T(c, 2);
		if (bt->rank != 1 || bt->dims[0] != w->dims[0] || bt->dt != x->dt)
			return err(c, "bias %s must be %s[%lld]", ir_type_str(bt, a, sizeof a), ir_dtype_name(x->dt),
				   (long long)w->dims[0]);
	}
	int64_t d[IR_MAX_RANK] = {x->dims[0], w->dims[0]};
	for (int i = 0; i < nsp; i++)
		if (!window_out(c, x->dims[2 + i], w->dims[2 + i], st[i], dl[i], pd[i], pd[nsp + i], false, &d[2 + i]))
			return false;
	set_out(c, x->dt, x->rank, d);
	if (c->nin > 3 && c->in[3] >= 0) {
		const Type *r = T(c, 3);
		if (r->dt != x->dt || r->rank != x->rank || memcmp(r->dims, d, x->rank * sizeof *d))
			return err(c, "fused residual %s does not have the result's shape", ir_type_str(r, a, sizeof a));
	}
	return true;
}

static bool r_pool(Ctx *c)
{
	const Type *x = T(c, 0);
	char a[128];
	if (!need_float_dtype(c, 0))
		return false;
	if (x->rank < 3)
		return err(c, "input %s must have rank >= 3", ir_type_str(x, a, sizeof a));
	int nsp = x->rank - 2;
	int64_t ceil;
	const int64_t *k = need_ints(c, "kernel", nsp), *st = need_ints(c, "strides", nsp),
		      *pd = need_ints(c, "pads", 2 * nsp), *dl = need_ints(c, "dilations", nsp);
	if (!k || !st || !pd || !dl || !need_int(c, "ceil_mode", &ceil))
		return false;
	int64_t cip;
	if (c->op == OP_AVGPOOL && !need_int(c, "count_include_pad", &cip))
		return false;
	int64_t d[IR_MAX_RANK] = {x->dims[0], x->dims[1]};
	for (int i = 0; i < nsp; i++) {
		if (pd[i] >= k[i] * dl[i] || pd[nsp + i] >= k[i] * dl[i])
			return err(c, "pads must be smaller than the kernel");
		if (!window_out(c, x->dims[2 + i], k[i], st[i], dl[i], pd[i], pd[nsp + i], ceil != 0, &d[2 + i]))
			return false;
	}
	set_out(c, x->dt, x->rank, d);
	return true;
}

static bool r_global_pool(Ctx *c)
{
	const Type *x = T(c, 0);
	char a[128];
	if (!need_float_dtype(c, 0))
		return false;
	if (x->rank < 3)
		return err(c, "input %s must have rank >= 3", ir_type_str(x, a, sizeof a));
	int64_t d[IR_MAX_RANK];
	for (int i = 0; i < x->rank; i++)
		d[i] = i < 2 ? x->dims[i] : 1;
	set_out(c, x->dt, x->rank, d);
	return true;
}

static bool r_gemm(Ctx *c)
{
	const Type *a = T(c, 0), *b = T(c, 1);
	char s1[128], s2[128];
	int64_t ta, tb;
	if (!need_float_dtype(c, 0) || !same_dtype(c, 0, 1) || !need_float(c, "alpha") || !need_float(c, "beta") ||
	    !need_int(c, "trans_a", &ta) || !need_int(c, "trans_b", &tb))
		return false;
	if (a->rank != 2 || b->rank != 2)
		return err(c, "operands %s and %s must be matrices", ir_type_str(a, s1, sizeof s1), ir_type_str(b, s2, sizeof s2));
	int64_t m = ta ? a->dims[1] : a->dims[0], k = ta ? a->dims[0] : a->dims[1];
	int64_t k2 = tb ? b->dims[1] : b->dims[0], n = tb ? b->dims[0] : b->dims[1];
	if (k != k2)
		return err(c, "inner dimensions differ: %s%s times %s%s", ir_type_str(a, s1, sizeof s1), ta ? "^T" : "",
			   ir_type_str(b, s2, sizeof s2), tb ? "^T" : "");
	int64_t d[2] = {m, n};
	if (c->nin > 2 && c->in[2] >= 0) {
		const Type *ct = T(c, 2);
		int r;
		int64_t bd[IR_MAX_RANK];
		if (ct->dt != a->dt || !ir_broadcast(2, d, ct->rank, ct->dims, &r, bd) || r != 2 || bd[0] != m || bd[1] != n)
			return err(c, "C %s cannot be broadcast to %s[%lld,%lld]", ir_type_str(ct, s1, sizeof s1),
				   ir_dtype_name(a->dt), (long long)m, (long long)n);
	}
	set_out(c, a->dt, 2, d);
	return true;
}

static bool r_matmul(Ctx *c)
{
	const Type *a = T(c, 0), *b = T(c, 1);
	char s1[128], s2[128];
	if (!need_float_dtype(c, 0) || !same_dtype(c, 0, 1))
		return false;
	if (a->rank < 1 || b->rank < 1)
		return err(c, "matmul operands must have rank >= 1");
	int64_t ad[IR_MAX_RANK + 1], bd[IR_MAX_RANK + 1];
	int ra = a->rank, rb = b->rank;
	memcpy(ad, a->dims, ra * sizeof *ad);
	memcpy(bd, b->dims, rb * sizeof *bd);
	if (ra == 1) {  /* [k] -> [1,k] */
		ad[1] = ad[0];
		ad[0] = 1;
		ra = 2;
	}
	if (rb == 1) {  /* [k] -> [k,1] */
		bd[1] = 1;
		rb = 2;
	}
	if (ad[ra - 1] != bd[rb - 2])
		return err(c, "inner dimensions differ: %s times %s", ir_type_str(a, s1, sizeof s1), ir_type_str(b, s2, sizeof s2));
	int r;
	int64_t d[IR_MAX_RANK];
	if (!ir_broadcast(ra - 2, ad, rb - 2, bd, &r, d))
		return err(c, "batch dimensions of %s and %s cannot be broadcast", ir_type_str(a, s1, sizeof s1), ir_type_str(b, s2, sizeof s2));
	if (a->rank > 1)
		d[r++] = ad[ra - 2];
	if (b->rank > 1)
		d[r++] = bd[rb - 1];
	if (r > IR_MAX_RANK)
		return err(c, "result rank exceeds %d", IR_MAX_RANK);
	set_out(c, a->dt, r, d);
	return true;
}

static bool r_batchnorm(Ctx *c)
{
	const Type *x = T(c, 0);
	char a[128];
	if (!need_float_dtype(c, 0) || !need_float(c, "epsilon"))
		return false;
	if (x->rank < 2)
		return err(c, "input %s must have rank >= 2", ir_type_str(x, a, sizeof a));
	static const char *const names[] = {"", "scale", "bias", "mean", "var"};
	for (int i = 1; i < 5; i++) {
		const Type *p = T(c, i);
		if (p->rank != 1 || p->dims[0] != x->dims[1] || p->dt != x->dt)
			return err(c, "%s %s must be %s[%lld]", names[i], ir_type_str(p, a, sizeof a), ir_dtype_name(x->dt),
				   (long long)x->dims[1]);
	}
	c->out = *x;
	c->out.q = NULL;
	return true;
}

static bool r_reshape(Ctx *c)
{
	const Type *x = T(c, 0);
	const Attr *s = A(c, "shape");
	char a[128];
	if (!s || s->kind != ATTR_INTS)
		return err(c, "attribute 'shape' (ints) is missing");
	if (s->n > IR_MAX_RANK)
		return err(c, "target rank %d exceeds %d", s->n, IR_MAX_RANK);
	for (int i = 0; i < s->n; i++)
		if (s->ints[i] < 0)
			return err(c, "target shape has a negative dimension %lld", (long long)s->ints[i]);
	int64_t n = ir_shape_numel(s->n, s->ints);
	if (n < 0)
		return err(c, "target shape has too many elements");
	if (n != ir_type_numel(x))
		return err(c, "cannot reshape %s (%lld elements) to %d dims holding %lld elements", ir_type_str(x, a, sizeof a),
			   (long long)ir_type_numel(x), s->n, (long long)n);
	set_out(c, x->dt, s->n, s->ints);
	c->out.q = x->q && x->q->axis < 0 ? x->q : NULL;
	return true;
}

static bool r_transpose(Ctx *c)
{
	const Type *x = T(c, 0);
	const int64_t *p = need_ints(c, "perm", x->rank);
	if (!p)
		return false;
	bool seen[IR_MAX_RANK] = {0};
	int64_t d[IR_MAX_RANK];
	for (int i = 0; i < x->rank; i++) {
		if (p[i] < 0 || p[i] >= x->rank || seen[p[i]])
			return err(c, "perm is not a permutation of 0..%d", x->rank - 1);
		seen[p[i]] = true;
		d[i] = x->dims[p[i]];
	}
	set_out(c, x->dt, x->rank, d);
	return true;
}

static bool r_concat(Ctx *c)
{
	const Type *x = T(c, 0);
	int64_t axis;
	char a[128], b[128];
	if (!need_int(c, "axis", &axis))
		return false;
	if (axis < 0 || axis >= x->rank)
		return err(c, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
	int64_t d[IR_MAX_RANK];
	memcpy(d, x->dims, x->rank * sizeof *d);
	for (int i = 1; i < c->nin; i++) {
		const Type *y = T(c, i);
		if (y->dt != x->dt || y->rank != x->rank)
			return err(c, "operand %s does not match %s", ir_type_str(y, a, sizeof a), ir_type_str(x, b, sizeof b));
		for (int k = 0; k < x->rank; k++)
			if (k != axis && y->dims[k] != x->dims[k])
				return err(c, "operand %s does not match %s outside axis %lld", ir_type_str(y, a, sizeof a),
					   ir_type_str(x, b, sizeof b), (long long)axis);
		d[axis] += y->dims[axis];
	}
	set_out(c, x->dt, x->rank, d);
	return ir_shape_numel(x->rank, d) >= 0 || err(c, "result has too many elements");
}

static bool r_softmax(Ctx *c)
{
	const Type *x = T(c, 0);
	int64_t axis;
	if (!need_float_dtype(c, 0) || !need_int(c, "axis", &axis))
		return false;
	if (axis < 0 || axis >= x->rank)
		return err(c, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
	c->out = *x;
	c->out.q = NULL;
	return true;
}

static bool r_pad(Ctx *c)
{
	const Type *x = T(c, 0);
	const int64_t *p = need_ints(c, "pads", 2 * x->rank);
	if (!p || !need_float(c, "value"))
		return false;
	int64_t d[IR_MAX_RANK];
	for (int i = 0; i < x->rank; i++) {
		d[i] = x->dims[i] + p[i] + p[x->rank + i];
		if (d[i] < 0)
			return err(c, "pads remove more than dimension %d holds", i);
	}
	set_out(c, x->dt, x->rank, d);
	return true;
}

static bool r_reduce(Ctx *c)
{
	const Type *x = T(c, 0);
	const Attr *ax = A(c, "axes");
	int64_t keep;
	if (!need_float_dtype(c, 0) || !need_int(c, "keepdims", &keep))
		return false;
	if (!ax || ax->kind != ATTR_INTS || ax->n < 1 || ax->n > x->rank)
		return err(c, "attribute 'axes' must list 1 to %d axes", x->rank);
	bool red[IR_MAX_RANK] = {0};
	for (int i = 0; i < ax->n; i++) {
		if (ax->ints[i] < 0 || ax->ints[i] >= x->rank || (i && ax->ints[i] <= ax->ints[i - 1]))
			return err(c, "axes must be sorted, distinct and in 0..%d", x->rank - 1);
		red[ax->ints[i]] = true;
	}
	int64_t d[IR_MAX_RANK];
	int r = 0;
	for (int i = 0; i < x->rank; i++)
		if (!red[i])
			d[r++] = x->dims[i];
		else if (keep)
			d[r++] = 1;
	set_out(c, x->dt, r, d);
	return true;
}

/* The fused epilogue of OPF_FUSE_HEAD ops: an optional activation. */
static bool check_epilogue(Ctx *c)
{
	const Attr *a = A(c, "act");
	if (!a)
		return true;
	if (a->kind != ATTR_STRING)
		return err(c, "attribute 'act' must be a string");
	if (!strcmp(a->s, "relu") || !strcmp(a->s, "sigmoid") || !strcmp(a->s, "tanh"))
		return true;
	if (!strcmp(a->s, "leaky_relu"))
		return need_float(c, "act_alpha");
	if (!strcmp(a->s, "clip"))
		return need_float(c, "act_min") && need_float(c, "act_max");
	return err(c, "unknown fused activation '%s'", a->s);
}

typedef bool (*Rule)(Ctx *c);

static const Rule rules[OP_COUNT] = {
	[OP_CONV] = r_conv, [OP_GEMM] = r_gemm, [OP_MATMUL] = r_matmul,
	[OP_ADD] = r_binary, [OP_SUB] = r_binary, [OP_MUL] = r_binary, [OP_DIV] = r_binary,
	[OP_RELU] = r_unary, [OP_LEAKY_RELU] = r_unary, [OP_SIGMOID] = r_unary, [OP_TANH] = r_unary,
	[OP_CLIP] = r_unary, [OP_IDENTITY] = r_unary,
	[OP_ABS] = r_unary, [OP_NEG] = r_unary, [OP_EXP] = r_unary, [OP_LOG] = r_unary, [OP_SQRT] = r_unary,
	[OP_RECIPROCAL] = r_unary, [OP_FLOOR] = r_unary, [OP_CEIL] = r_unary,
	[OP_BATCHNORM] = r_batchnorm, [OP_MAXPOOL] = r_pool, [OP_AVGPOOL] = r_pool,
	[OP_GLOBAL_AVGPOOL] = r_global_pool, [OP_RESHAPE] = r_reshape, [OP_TRANSPOSE] = r_transpose,
	[OP_CONCAT] = r_concat, [OP_SOFTMAX] = r_softmax, [OP_PAD] = r_pad,
	[OP_REDUCE_MEAN] = r_reduce, [OP_REDUCE_SUM] = r_reduce, [OP_REDUCE_MAX] = r_reduce, [OP_REDUCE_MIN] = r_reduce,
};

TypeId ir_infer_type(Graph *g, Op op, const char *name, const ValueId *in, int nin,
		     const Attr *attrs, int nattr, Diag *d)
{
	Ctx c = {g, op, name, in, nin, attrs, nattr, d, {0}};
	if (op < 0 || op >= OP_COUNT || !rules[op])
		return err(&c, "no shape rule for this op"), -1;
	if (nin < ir_ops[op].min_in || nin > ir_ops[op].max_in)
		return err(&c, "has %d operands, expected %d to %d", nin, ir_ops[op].min_in, ir_ops[op].max_in), -1;
	for (int i = 0; i < nin; i++) {
		bool optional = i >= ir_ops[op].min_in;
		if (in[i] < 0 ? !optional : in[i] >= g->values.n)
			return err(&c, "operand %d is missing or invalid", i), -1;
	}
	if (!rules[op](&c) || ((ir_ops[op].flags & OPF_FUSE_HEAD) && !check_epilogue(&c)))
		return -1;
	if (ir_shape_numel(c.out.rank, c.out.dims) < 0 ||
	    ir_shape_numel(c.out.rank, c.out.dims) > INT64_MAX / 16)
		return err(&c, "result shape has too many elements"), -1;
	TypeId t = ir_type(g, c.out.dt, c.out.rank, c.out.dims, c.out.q);
	if (t < 0)
		err(&c, "out of memory");
	return t;
}

NodeId ir_build(Graph *g, Op op, const char *name, const ValueId *in, int nin,
		const Attr *attrs, int nattr, const char *out_name, Diag *d)
{
	TypeId t = ir_infer_type(g, op, name, in, nin, attrs, nattr, d);
	if (t < 0)
		return -1;
	NodeId n = ir_add_node(g, op, name, in, nin, attrs, nattr, out_name, t);
	if (n < 0)
		diag_error(d, g->file, name, ir_ops[op].name, "out of memory");
	return n;
}
