/* The network layers that are IR ops of their own: convolutions, pools,
 * Gemm and MatMul, Einsum and Det, the softmax family, Dropout. */
#include "importer.h"

/* Gemm(A, B, C?; alpha, beta, transA, transB) -> gemm */
static bool imp_gemm(Ctx *c, const ValueId *in, int nin)
{
	if (!fe_need_float(c, in[0], "input A") || !fe_same_dtype(c, in[0], in[1]))
		return false;
	if (nin > 2 && in[2] >= 0 && !fe_same_dtype(c, in[0], in[2]))
		return false;
	Attr a[4] = {ir_af("alpha", sa_float(c->sn, "alpha", 1.0)), ir_af("beta", sa_float(c->sn, "beta", 1.0)),
		     ir_ai("trans_a", sa_int(c->sn, "transA", 0)), ir_ai("trans_b", sa_int(c->sn, "transB", 0))};
	int n = nin > 2 && in[2] >= 0 ? 3 : 2;
	return fe_emit_out(c, OP_GEMM, in, n, a, 4);
}

/* MatMul(a, b) -> matmul */
static bool imp_matmul(Ctx *c, const ValueId *in, int nin)
{
	return fe_same_dtype(c, in[0], in[1]) && fe_emit_out(c, OP_MATMUL, in, 2, NULL, 0);
}

/* Explicit pads for a conv or pool from auto_pad / pads. */
static bool resolve_pads(Ctx *c, int nsp, const int64_t *sp, const int64_t *k, const int64_t *s,
			 const int64_t *dil, int64_t *pads)
{
	const char *ap = sa_str(c->sn, "auto_pad", "NOTSET");
	for (int i = 0; i < 2 * nsp; i++)
		pads[i] = 0;
	if (strcmp(ap, "NOTSET") == 0) {
		int n;
		const int64_t *p = sa_ints(c->sn, "pads", &n);
		if (!p)
			return true;
		if (n != 2 * nsp)
			return fe_fail(c, "attribute 'pads' has %d values, expected %d", n, 2 * nsp);
		for (int i = 0; i < n; i++) {
			if (p[i] < 0)
				return fe_fail(c, "negative padding %lld is not supported", (long long)p[i]);
			pads[i] = p[i];
		}
		return true;
	}
	if (strcmp(ap, "VALID") == 0)
		return true;
	bool upper = strcmp(ap, "SAME_UPPER") == 0;
	if (!upper && strcmp(ap, "SAME_LOWER") != 0)
		return fe_fail(c, "unsupported auto_pad '%s'", ap);
	for (int i = 0; i < nsp; i++) {
		int64_t out = (sp[i] + s[i] - 1) / s[i];
		int64_t total = (out - 1) * s[i] + (k[i] - 1) * dil[i] + 1 - sp[i];
		if (total < 0)
			total = 0;
		pads[i] = upper ? total / 2 : total - total / 2;
		pads[nsp + i] = total - pads[i];
	}
	return true;
}

/* Per-spatial-dim ints attribute, default 1 each. */
bool fe_spatial_ints(Ctx *c, const char *name, int nsp, int64_t *out)
{
	int n;
	const int64_t *v = sa_ints(c->sn, name, &n);
	for (int i = 0; i < nsp; i++)
		out[i] = 1;
	if (!v)
		return true;
	if (n != nsp)
		return fe_fail(c, "attribute '%s' has %d values, expected %d (one per spatial dimension)", name, n, nsp);
	for (int i = 0; i < n; i++) {
		if (v[i] < 1)
			return fe_fail(c, "attribute '%s' must be positive, got %lld", name, (long long)v[i]);
		out[i] = v[i];
	}
	return true;
}

/* op (conv, or conv_integer with its four operands) of in[0..nin) with the
 * source node's attributes, pads resolved from auto_pad. */
static ValueId conv_node(Ctx *c, Op op, const ValueId *in, int nin, const char *out_name)
{
	const Type *tx = vtype(c, in[0]), *tw = vtype(c, in[1]);
	if (op == OP_CONV && (!fe_need_float(c, in[0], "the input") || !fe_same_dtype(c, in[0], in[1])))
		return -1;
	if (tx->rank < 3)
		return fail_v(c, "input must have rank >= 3 ([N,C,spatial...]), got rank %d", tx->rank);
	int nsp = tx->rank - 2;
	if (tw->rank != tx->rank)
		return fail_v(c, "weight rank %d does not match input rank %d", tw->rank, tx->rank);
	int64_t k[IR_MAX_RANK], s[IR_MAX_RANK], dil[IR_MAX_RANK], pads[2 * IR_MAX_RANK];
	for (int i = 0; i < nsp; i++)
		k[i] = tw->dims[2 + i];
	int nk;
	const int64_t *ks = sa_ints(c->sn, "kernel_shape", &nk);
	if (ks) {
		if (nk != nsp)
			return fail_v(c, "attribute 'kernel_shape' has %d values, expected %d", nk, nsp);
		for (int i = 0; i < nsp; i++)
			if (ks[i] != k[i])
				return fail_v(c, "kernel_shape[%d] = %lld does not match the weight's %lld", i,
					    (long long)ks[i], (long long)k[i]);
	}
	if (!fe_spatial_ints(c, "strides", nsp, s) || !fe_spatial_ints(c, "dilations", nsp, dil) ||
	    !resolve_pads(c, nsp, tx->dims + 2, k, s, dil, pads))
		return -1;
	int64_t group = sa_int(c->sn, "group", 1);
	if (group < 1)
		return fail_v(c, "attribute 'group' must be positive, got %lld", (long long)group);
	Attr a[4] = {ir_aints("strides", s, nsp), ir_aints("pads", pads, 2 * nsp),
		     ir_aints("dilations", dil, nsp), ir_ai("group", group)};
	if (op == OP_CONV_INTEGER)
		return fe_emit(c, op, in, nin, a, 4, out_name);
	int n = nin > 2 && in[2] >= 0 ? 3 : 2;
	if (n == 3 && !fe_same_dtype(c, in[0], in[2]))
		return -1;
	return fe_emit(c, OP_CONV, in, n, a, 4, out_name);
}

/* A Conv of in[0..nin) named out_name (NULL: fresh) with the source node's
 * attributes; the result value or -1.  ConvInteger and QLinearConv use it too. */
ValueId fe_conv_of(Ctx *c, const ValueId *in, int nin, const char *out_name)
{
	return conv_node(c, OP_CONV, in, nin, out_name);
}

ValueId fe_conv_integer_of(Ctx *c, const ValueId *in, const char *out_name)
{
	return conv_node(c, OP_CONV_INTEGER, in, 4, out_name);
}

/* Conv(x, w, b?) -> conv, its pads resolved from auto_pad */
static bool imp_conv(Ctx *c, const ValueId *in, int nin)
{
	return fe_define(c, fe_conv_of(c, in, nin, c->sn->out[0]));
}

/* A pooling window from the source node's attributes over an input of
 * type tx: a[0..6) are kernel, strides, pads (resolved from auto_pad),
 * dilations, ceil_mode, count_include_pad, pointing into the arrays. */
typedef struct PoolWin {
	int64_t k[IR_MAX_RANK], s[IR_MAX_RANK], dil[IR_MAX_RANK], pads[2 * IR_MAX_RANK];
	Attr a[6];
} PoolWin;

static bool pool_window(Ctx *c, const Type *tx, PoolWin *w)
{
	int nsp;
	const int64_t *ks = sa_ints(c->sn, "kernel_shape", &nsp);
	if (!ks)
		return fe_fail(c, "attribute 'kernel_shape' is required");
	if (nsp < 1 || tx->rank != nsp + 2)
		return fe_fail(c, "kernel_shape has %d values but the input has rank %d (needs %d spatial dimensions)",
			    nsp, tx->rank, tx->rank - 2);
	for (int i = 0; i < nsp; i++) {
		if (ks[i] < 1)
			return fe_fail(c, "kernel_shape must be positive, got %lld", (long long)ks[i]);
		w->k[i] = ks[i];
	}
	if (!fe_spatial_ints(c, "strides", nsp, w->s) || !fe_spatial_ints(c, "dilations", nsp, w->dil) ||
	    !resolve_pads(c, nsp, tx->dims + 2, w->k, w->s, w->dil, w->pads))
		return false;
	w->a[0] = ir_aints("kernel", w->k, nsp);
	w->a[1] = ir_aints("strides", w->s, nsp);
	w->a[2] = ir_aints("pads", w->pads, 2 * nsp);
	w->a[3] = ir_aints("dilations", w->dil, nsp);
	w->a[4] = ir_ai("ceil_mode", sa_int(c->sn, "ceil_mode", 0) != 0);
	w->a[5] = ir_ai("count_include_pad", sa_int(c->sn, "count_include_pad", 0) != 0);
	return true;
}

ValueId fe_avgpool_of(Ctx *c, ValueId x, const char *out_name)
{
	PoolWin w;
	if (x < 0 || !pool_window(c, vtype(c, x), &w))
		return -1;
	return fe_emit(c, OP_AVGPOOL, &x, 1, w.a, 6, out_name);
}

/* MaxPool, AveragePool, LpPool -> maxpool (indices: maxpool_index), avgpool,
 * lppool; pads resolved from auto_pad */
static bool imp_pool(Ctx *c, const ValueId *in, int nin)
{
	const Type *tx = vtype(c, in[0]);
	bool avg = strcmp(c->sn->op, "AveragePool") == 0;
	if (!(!avg && small_int(tx->dt)) && !fe_need_float(c, in[0], "the input"))
		return false;  /* max pooling of small integers goes through f32 (emit) */
	if (avg)
		return fe_define(c, fe_avgpool_of(c, in[0], c->sn->out[0]));
	PoolWin w;
	if (!pool_window(c, tx, &w))
		return false;
	Attr *a = w.a;
	if (strcmp(c->sn->op, "LpPool") == 0) {
		a[5] = ir_ai("p", sa_int(c->sn, "p", 2));
		if (a[5].i < 1 || a[5].i > 64)
			return fe_fail(c, "p must be 1 to 64, got %lld", (long long)a[5].i);
		return fe_emit_out(c, OP_LPPOOL, in, 1, a, 6);
	}
	/* MaxPool's indices: their own op over the same windows, on f32 for halves. */
	if (c->sn->nout > 1 && *c->sn->out[1]) {
		ValueId x = tx->dt == DT_F16 || tx->dt == DT_BF16 ? fe_cast_to(c, in[0], DT_F32, NULL) : in[0];
		a[5] = ir_ai("storage_order", sa_int(c->sn, "storage_order", 0) != 0);
		if (x < 0 || !fe_define_at(c, 1, fe_emit(c, OP_MAXPOOL_INDEX, &x, 1, a, 6, c->sn->out[1])))
			return false;
	}
	return !*c->sn->out[0] || fe_emit_out(c, OP_MAXPOOL, in, 1, a, 5);
}

/* GlobalMaxPool -> global_maxpool */
static bool imp_global_maxpool(Ctx *c, const ValueId *in, int nin)
{
	return fe_need_float(c, in[0], "the input") && fe_emit_out(c, OP_GLOBAL_MAXPOOL, in, 1, NULL, 0);
}

/* GlobalAveragePool -> global_avgpool */
static bool imp_global_avgpool(Ctx *c, const ValueId *in, int nin)
{
	if (!fe_need_float(c, in[0], "the input"))
		return false;
	if (vtype(c, in[0])->rank < 3)
		return fe_fail(c, "input must have rank >= 3 ([N,C,spatial...]), got rank %d", vtype(c, in[0])->rank);
	return fe_emit_out(c, OP_GLOBAL_AVGPOOL, in, 1, NULL, 0);
}

/* ConvTranspose(x, w, b?) -> conv_transpose, pads and output_padding
 * resolved from output_shape or auto_pad */
static bool imp_conv_transpose(Ctx *c, const ValueId *in, int nin)
{
	const Type *tx = vtype(c, in[0]), *tw = vtype(c, in[1]);
	if (!fe_need_float(c, in[0], "the input") || !fe_same_dtype(c, in[0], in[1]))
		return false;
	int nsp = tx->rank - 2;
	if (nsp < 1 || tw->rank != tx->rank)
		return fe_fail(c, "input and weights must have the same rank, at least 3");
	int64_t k[IR_MAX_RANK], s[IR_MAX_RANK], dil[IR_MAX_RANK], op[IR_MAX_RANK], pads[2 * IR_MAX_RANK] = {0};
	for (int i = 0; i < nsp; i++)
		k[i] = tw->dims[2 + i];
	int n;
	const int64_t *ks = sa_ints(c->sn, "kernel_shape", &n);
	if (ks && (n != nsp || memcmp(ks, k, (size_t)nsp * sizeof *k)))
		return fe_fail(c, "kernel_shape does not match the weights");
	if (!fe_spatial_ints(c, "strides", nsp, s) || !fe_spatial_ints(c, "dilations", nsp, dil))
		return false;
	const int64_t *o = sa_ints(c->sn, "output_padding", &n);
	for (int i = 0; i < nsp; i++)
		op[i] = o && n == nsp ? o[i] : 0;
	if (o && n != nsp)
		return fe_fail(c, "output_padding has %d values, expected %d", n, nsp);
	const int64_t *osh = sa_ints(c->sn, "output_shape", &n);
	const char *ap = sa_str(c->sn, "auto_pad", "NOTSET");
	bool same = !strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER");
	if (osh || same) {
		/* The output size is given (or is input * stride): pad to it. */
		if (osh && n != nsp && n != nsp + 2)
			return fe_fail(c, "output_shape has %d values", n);
		for (int i = 0; i < nsp; i++) {
			int64_t want = osh ? osh[n == nsp ? i : i + 2] : tx->dims[2 + i] * s[i];
			int64_t total = s[i] * (tx->dims[2 + i] - 1) + op[i] + (k[i] - 1) * dil[i] + 1 - want;
			if (total < 0) {  /* the output is larger: the extra goes to output_padding */
				op[i] -= total;
				total = 0;
			}
			bool upper = strcmp(ap, "SAME_LOWER") != 0;
			pads[i] = upper ? total / 2 : total - total / 2;
			pads[nsp + i] = total - pads[i];
		}
	} else if (strcmp(ap, "VALID") != 0) {
		const int64_t *p = sa_ints(c->sn, "pads", &n);
		if (p && n != 2 * nsp)
			return fe_fail(c, "attribute 'pads' has %d values, expected %d", n, 2 * nsp);
		for (int i = 0; p && i < n; i++)
			pads[i] = p[i];
	}
	Attr a[5] = {ir_aints("strides", s, nsp), ir_aints("pads", pads, 2 * nsp), ir_aints("dilations", dil, nsp),
		     ir_ai("group", sa_int(c->sn, "group", 1)), ir_aints("output_padding", op, nsp)};
	return fe_emit_out(c, OP_CONV_TRANSPOSE, in, nin, a, 5);
}

/* MaxUnpool(x, indices, output_shape?) -> max_unpool: indices address the unpooled shape the pooling parameters
 * give; an output_shape (constant) may be larger and gets it at its origin. */
static bool imp_max_unpool(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int nsp, r = t->rank;
	const int64_t *ks = sa_ints(c->sn, "kernel_shape", &nsp);
	if (!ks)
		return fe_fail(c, "attribute 'kernel_shape' is required");
	if (nsp < 1 || r != nsp + 2)
		return fe_fail(c, "kernel_shape has %d values but the input has rank %d", nsp, r);
	int64_t s[IR_MAX_RANK], pooled[IR_MAX_RANK], dims[IR_MAX_RANK + 1];
	int np;
	const int64_t *p = sa_ints(c->sn, "pads", &np);
	if (p && np != 2 * nsp)
		return fe_fail(c, "attribute 'pads' has %d values, expected %d", np, 2 * nsp);
	if (!fe_spatial_ints(c, "strides", nsp, s))
		return false;
	pooled[0] = t->dims[0], pooled[1] = t->dims[1];
	for (int i = 0; i < nsp; i++) {
		if (ks[i] < 1 || s[i] < 1)
			return fe_fail(c, "kernel_shape and strides must be positive");
		pooled[2 + i] = (t->dims[2 + i] - 1) * s[i] - (p ? p[i] + p[nsp + i] : 0) + ks[i];
		if (pooled[2 + i] < 0)
			return fe_fail(c, "pads are larger than the unpooled size along spatial axis %d", i);
	}
	memcpy(dims, pooled, sizeof pooled);
	if (nin > 2 && in[2] >= 0) {
		int n;
		if (!fe_const_ints(c, in[2], "output_shape", dims, r, &n))
			return false;
		if (n != r)
			return fe_fail(c, "output_shape has %d values, the input rank is %d", n, r);
		for (int i = 0; i < r; i++)
			if (dims[i] < pooled[i] || (i < 2 && dims[i] != pooled[i]))
				return fe_fail(c, "output_shape[%d] = %lld is smaller than the unpooled %lld", i, (long long)dims[i],
					    (long long)pooled[i]);
	}
	Attr a[2] = {ir_aints("dims", dims, r), ir_aints("pooled", pooled, r)};
	return fe_emit_out(c, OP_MAX_UNPOOL, in, 2, a, 2);
}

/* Col2Im(x, image_shape, block_shape) -> col2im */
static bool imp_col2im(Ctx *c, const ValueId *in, int nin)
{
	int64_t img[IR_MAX_RANK + 1], blk[IR_MAX_RANK + 1];
	int ni, nb;
	if (!fe_need_float(c, in[0], "the input") || !fe_const_ints(c, in[1], "image_shape", img, IR_MAX_RANK - 2, &ni) ||
	    !fe_const_ints(c, in[2], "block_shape", blk, IR_MAX_RANK - 2, &nb))
		return false;
	if (ni != nb || ni < 1)
		return fe_fail(c, "image_shape and block_shape differ in length");
	int64_t s[IR_MAX_RANK], dil[IR_MAX_RANK], pads[2 * IR_MAX_RANK] = {0};
	if (!fe_spatial_ints(c, "strides", ni, s) || !fe_spatial_ints(c, "dilations", ni, dil))
		return false;
	int n;
	const int64_t *p = sa_ints(c->sn, "pads", &n);
	if (p && n != 2 * ni)
		return fe_fail(c, "pads has %d values, expected %d", n, 2 * ni);
	for (int i = 0; p && i < n; i++)
		pads[i] = p[i];
	Attr a[5] = {ir_aints("dims", img, ni), ir_aints("block", blk, ni), ir_aints("strides", s, ni),
		     ir_aints("pads", pads, 2 * ni), ir_aints("dilations", dil, ni)};
	return fe_emit_out(c, OP_COL2IM, in, 1, a, 5);
}

ValueId fe_softmax_of(Ctx *c, Op op, ValueId x, int64_t axis, bool old, const char *out_name)
{
	const Type *t = vtype(c, x);
	int rank = t->rank;
	if (rank == 0)
		return fail_v(c, "input must have rank >= 1");
	if (!fe_norm_axis(c, &axis, rank, "axis"))
		return -1;
	/* Before opset 13, softmax normalizes over all dims from axis on (the
	 * input coerced to 2-D).  That equals a one-axis softmax when the dims
	 * after axis are all 1. */
	if (old && ir_shape_numel(rank - (int)axis - 1, t->dims + axis + 1) != 1) {
		int64_t d2[2] = {ir_shape_numel((int)axis, t->dims), ir_shape_numel(rank - (int)axis, t->dims + axis)};
		int64_t orig[IR_MAX_RANK];
		memcpy(orig, t->dims, (size_t)rank * sizeof *orig);
		ValueId x2 = fe_reshape_to(c, x, 2, d2, NULL);
		if (x2 < 0)
			return -1;
		Attr a = ir_ai("axis", 1);
		ValueId s = fe_emit(c, op, &x2, 1, &a, 1, NULL);
		return s < 0 ? -1 : fe_reshape_to(c, s, rank, orig, out_name);
	}
	Attr a = ir_ai("axis", axis);
	return fe_emit(c, op, &x, 1, &a, 1, out_name);
}

/* Softmax, LogSoftmax, Hardmax -> softmax, log_softmax, hardmax (before
 * opset 13, over all axes from axis on: a reshape to 2-D around the op) */
static bool imp_softmax(Ctx *c, const ValueId *in, int nin)
{
	Op op = !strcmp(c->sn->op, "LogSoftmax") ? OP_LOG_SOFTMAX : !strcmp(c->sn->op, "Hardmax") ? OP_HARDMAX : OP_SOFTMAX;
	if (!fe_need_float(c, in[0], "the input"))
		return false;
	bool old = c->opset < 13;
	return fe_define(c, fe_softmax_of(c, op, in[0], sa_int(c->sn, "axis", old ? 1 : -1), old, c->sn->out[0]));
}

/* Dropout (inference only) -> identity; its mask a constant of all true */
static bool imp_dropout(Ctx *c, const ValueId *in, int nin)
{
	if (nin > 2 && in[2] >= 0) {
		double v;
		if (!fe_const_scalar(c, in[2], "the 'training_mode' input", &v))
			return false;
		double ratio = 0.5;
		if (v != 0 && (nin < 2 || in[1] < 0 || !fe_const_scalar(c, in[1], "ratio", &ratio) || ratio != 0))
			return fe_fail(c, "training_mode is true with a non-zero ratio (random dropout); only inference is supported");
	}
	if (!fe_emit_out(c, OP_IDENTITY, in, 1, NULL, 0))
		return false;
	if (c->sn->nout > 1 && *c->sn->out[1]) {  /* the mask: all kept */
		const Type *t = vtype(c, in[0]);
		unsigned char one = 1;
		void *p = fe_filled(c, DT_BOOL, ir_type_numel(t), &one);
		TypeId ty = ir_type(c->g, DT_BOOL, t->rank, t->dims, NULL);
		ValueId m = !p || ty < 0 ? -1 : ir_add_const(c->g, c->sn->out[1], ty, p);
		return m >= 0 ? fe_define_at(c, 1, m) : fe_oom(c);
	}
	return true;
}

/* Einsum -> einsum, the equation relabelled to an explicit lowercase form (letters
 * in order of appearance, '...' expanded to fresh letters, the implicit
 * result made explicit) so the IR carries one canonical spelling. */
static bool imp_einsum(Ctx *c, const ValueId *in, int nin)
{
	const char *eq = sa_str(c->sn, "equation", "");
	char map[128] = {0}, next = 'a', ell[IR_MAX_RANK + 1] = "", out[64] = "", canon[256];
	int count[128] = {0}, nell = 0, k = 0, pos = 0;
	const char *arrow = strstr(eq, "->");
	size_t lhs = arrow ? (size_t)(arrow - eq) : strlen(eq);
	char ops[8][64] = {{0}};
	int nops = 0, n = 0;
	for (size_t i = 0; i <= lhs; i++) {
		char ch = i < lhs ? eq[i] : ',';
		if (ch == ' ')
			continue;
		if (ch == ',') {
			if (nops == 8)
				return fe_fail(c, "more than 8 operands");
			ops[nops][n] = 0;
			if (nops >= nin)
				return fe_fail(c, "the equation has more terms than the %d inputs", nin);
			/* '...' stands for the dims the letters leave over */
			char *dots = strstr(ops[nops], "...");
			if (dots) {
				int r = vtype(c, in[nops])->rank, explicit = n - 3, m = r - explicit;
				if (m < 0 || (nell && m != nell))
					return fe_fail(c, "'...' covers different numbers of axes");
				if (!nell)
					for (; nell < m; nell++) {
						if (next > 'z')
							return fe_fail(c, "too many distinct letters");
						ell[nell] = next++;
					}
				char buf[64];
				snprintf(buf, sizeof buf, "%.*s%.*s%s", (int)(dots - ops[nops]), ops[nops], nell, ell, dots + 3);
				snprintf(ops[nops], sizeof ops[nops], "%s", buf);
			}
			nops++;
			n = 0;
			continue;
		}
		if (ch == '.') {
			if (n + 1 < 64)
				ops[nops][n++] = '.';
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
			return fe_fail(c, "bad character '%c' in equation '%s'", ch, eq);
		if (!map[(int)ch]) {
			if (next > 'z')
				return fe_fail(c, "too many distinct letters");
			map[(int)ch] = next++;
		}
		if (n + 1 < 64)
			ops[nops][n++] = map[(int)ch];
		count[(int)map[(int)ch]]++;
	}
	if (nops != nin)
		return fe_fail(c, "the equation has %d terms for %d inputs", nops, nin);
	if (arrow) {
		for (const char *p = arrow + 2; *p; p++) {
			if (*p == ' ')
				continue;
			if (*p == '.' && !strncmp(p, "...", 3)) {
				for (int i = 0; i < nell && pos < 60; i++)
					out[pos++] = ell[i];
				p += 2;
			} else if (*p > 0 && map[(int)*p] && pos < 60) {
				out[pos++] = map[(int)*p];
			} else {
				return fe_fail(c, "result letter '%c' is in no input", *p);
			}
		}
	} else {
		/* implicit form: '...' first, then the letters used once, in the
		 * alphabetical order of the original spelling */
		for (int i = 0; i < nell; i++)
			out[pos++] = ell[i];
		for (int ch = 'A'; ch <= 'z'; ch++)
			if (map[ch] && count[(int)map[ch]] == 1)
				out[pos++] = map[ch];
	}
	out[pos] = 0;
	for (int i = 0; i < nops; i++)
		k += snprintf(canon + k, sizeof canon - k, "%s%s", i ? "," : "", ops[i]);
	snprintf(canon + k, sizeof canon - k, "->%s", out);
	Attr a = ir_astr("eq", canon);
	return fe_emit_out(c, OP_EINSUM, in, nin, &a, 1);
}

/* Det -> det */
static bool imp_det(Ctx *c, const ValueId *in, int nin)
{
	return fe_need_float(c, in[0], "the input") && fe_emit_out(c, OP_DET, in, 1, NULL, 0);
}

const OpSpec imp_nn_ops[] = {
	{"Conv", 7, 22, 2, 3, 1, 0, imp_conv, {CONV_ATTRS}},
	{"ConvTranspose", 7, 22, 2, 3, 1, 0, imp_conv_transpose,
	 {CONV_ATTRS, {"output_padding", SA_INTS}, {"output_shape", SA_INTS}}},
	{"Gemm", 7, 10, 3, 3, 1, 0, imp_gemm, {{"alpha", SA_FLOAT}, {"beta", SA_FLOAT}, {"transA", SA_INT}, {"transB", SA_INT}}},
	{"Gemm", 11, 22, 2, 3, 1, 0, imp_gemm, {{"alpha", SA_FLOAT}, {"beta", SA_FLOAT}, {"transA", SA_INT}, {"transB", SA_INT}}},
	{"MatMul", 7, 22, 2, 2, 1, 0, imp_matmul},
	{"MaxPool", 7, 22, 1, 1, 2, 0, imp_pool,
	 {{"kernel_shape", SA_INTS}, {"strides", SA_INTS}, {"pads", SA_INTS}, {"auto_pad", SA_STRING},
	  {"storage_order", SA_INT, 8, 0}, {"dilations", SA_INTS, 10, 0}, {"ceil_mode", SA_INT, 10, 0}}, true},
	{"AveragePool", 7, 22, 1, 1, 1, 0, imp_pool,
	 {{"kernel_shape", SA_INTS}, {"strides", SA_INTS}, {"pads", SA_INTS}, {"auto_pad", SA_STRING},
	  {"count_include_pad", SA_INT}, {"ceil_mode", SA_INT, 10, 0}, {"dilations", SA_INTS, 19, 0}}},
	{"LpPool", 7, 22, 1, 1, 1, 0, imp_pool,
	 {{"kernel_shape", SA_INTS}, {"strides", SA_INTS}, {"pads", SA_INTS}, {"dilations", SA_INTS, 18, 0},
	  {"auto_pad", SA_STRING}, {"ceil_mode", SA_INT, 18, 0}, {"p", SA_INT}}},
	{"GlobalMaxPool", 7, 22, 1, 1, 1, 0, imp_global_maxpool},
	{"GlobalAveragePool", 7, 22, 1, 1, 1, 0, imp_global_avgpool},
	{"MaxUnpool", 9, 22, 2, 3, 1, 4, imp_max_unpool, {{"kernel_shape", SA_INTS}, {"pads", SA_INTS}, {"strides", SA_INTS}}},
	{"Col2Im", 18, 22, 3, 3, 1, 6, imp_col2im, {{"dilations", SA_INTS}, {"pads", SA_INTS}, {"strides", SA_INTS}}},
	{"Softmax", 7, 22, 1, 1, 1, 0, imp_softmax, {{"axis", SA_INT}}},
	{"LogSoftmax", 7, 22, 1, 1, 1, 0, imp_softmax, {{"axis", SA_INT}}},
	{"Hardmax", 7, 22, 1, 1, 1, 0, imp_softmax, {{"axis", SA_INT}}},
	{"Dropout", 7, 11, 1, 1, 2, 0, imp_dropout, {{"ratio", SA_FLOAT}}, true},
	{"Dropout", 12, 22, 1, 3, 2, 4, imp_dropout, {{"seed", SA_INT}}, true},
	{"Einsum", 12, 22, 1, 8, 1, 0, imp_einsum, {{"equation", SA_STRING}}},
	{"Det", 11, 22, 1, 1, 1, 0, imp_det},
	{NULL},
};
