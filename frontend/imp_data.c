/* Indexing and data movement: transposes, concatenation, padding, slices
 * and splits, gathers and scatters, and the ops built from them. */
#include "importer.h"

#include <stdlib.h>

/* Transpose(perm) -> transpose (no perm: the axes reversed) */
static bool imp_transpose(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t perm[IR_MAX_RANK];
	int n;
	const int64_t *p = sa_ints(c->sn, "perm", &n);
	if (p) {
		if (n != t->rank)
			return fe_fail(c, "perm has %d values for an input of rank %d", n, t->rank);
		bool seen[IR_MAX_RANK] = {0};
		for (int i = 0; i < n; i++) {
			perm[i] = p[i];
			if (!fe_norm_axis(c, &perm[i], t->rank, "perm value"))
				return false;
			if (seen[perm[i]])
				return fe_fail(c, "perm is not a permutation (%lld repeats)", (long long)perm[i]);
			seen[perm[i]] = true;
		}
	} else
		for (int i = 0; i < t->rank; i++)
			perm[i] = t->rank - 1 - i;
	Attr a = ir_aints("perm", perm, t->rank);
	return fe_emit_out(c, OP_TRANSPOSE, in, 1, &a, 1);
}

/* Concat(axis) -> concat */
static bool imp_concat(Ctx *c, const ValueId *in, int nin)
{
	const SrcAttr *ax = sa_get(c->sn, "axis");
	if (!ax)
		return fe_fail(c, "attribute 'axis' is required");
	if (nin > ir_ops[OP_CONCAT].max_in)
		return fe_fail(c, "%d inputs; at most %d supported", nin, ir_ops[OP_CONCAT].max_in);
	for (int i = 0; i < nin; i++)
		if (in[i] < 0)
			return fe_fail(c, "input %d is empty", i);
		else if (!fe_same_dtype(c, in[0], in[i]))
			return false;
	int64_t axis = ax->i;
	if (!fe_norm_axis(c, &axis, vtype(c, in[0])->rank, "axis"))
		return false;
	Attr a = ir_ai("axis", axis);
	return fe_emit_out(c, OP_CONCAT, in, nin, &a, 1);
}

/* Pad(x, pads, constant_value?, axes?; mode) -> pad, pads for every axis */
static bool imp_pad(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t p[2 * IR_MAX_RANK + 1], axes[IR_MAX_RANK + 1], pads[2 * IR_MAX_RANK] = {0};
	int np, na;
	bool have, have_axes;
	if (!fe_ints_from(c, in, nin, 1, "pads", p, 2 * IR_MAX_RANK, &np, &have))
		return false;
	if (!have)
		return fe_fail(c, "pads are required");
	if (!fe_ints_from(c, in, nin, 3, "axes", axes, IR_MAX_RANK, &na, &have_axes))
		return false;
	if (!have_axes) {
		na = t->rank;
		for (int i = 0; i < na; i++)
			axes[i] = i;
	}
	if (np != 2 * na)
		return fe_fail(c, "pads has %d values, expected %d", np, 2 * na);
	bool seen[IR_MAX_RANK] = {0};
	for (int i = 0; i < na; i++) {
		if (!fe_norm_axis(c, &axes[i], t->rank, "axis"))
			return false;
		if (seen[axes[i]])
			return fe_fail(c, "axis %lld appears twice", (long long)axes[i]);
		seen[axes[i]] = true;
		pads[axes[i]] = p[i];
		pads[t->rank + axes[i]] = p[na + i];
	}
	double value = sa_float(c->sn, "value", 0.0);
	if (nin > 2 && in[2] >= 0 && !fe_const_scalar(c, in[2], "the 'constant_value' input", &value))
		return false;
	const char *mode = sa_str(c->sn, "mode", "constant");
	Attr a[3] = {ir_aints("pads", pads, 2 * t->rank), ir_af("value", (double)(float)value), ir_astr("mode", mode)};
	return fe_emit_out(c, OP_PAD, in, 1, a, strcmp(mode, "constant") ? 3 : 2);
}

/* Python slicing of one axis of length dim: clamp start/end as ONNX says. */
static void clamp_slice(int64_t dim, int64_t s, int64_t e, int64_t step, int64_t *start, int64_t *count)
{
	if (s < 0)
		s += dim;
	if (e < 0)
		e += dim;
	if (step > 0) {
		s = s < 0 ? 0 : s > dim ? dim : s;
		e = e < 0 ? 0 : e > dim ? dim : e;
		*count = e > s ? (e - s + step - 1) / step : 0;
	} else {
		s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
		e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
		*count = s > e ? (s - e + (-step) - 1) / (-step) : 0;
	}
	*start = s;
}

/* Slice(x, starts, ends, axes?, steps?) -> slice, clamped per axis */
static bool imp_slice(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int r = t->rank;
	int64_t st[IR_MAX_RANK + 1], en[IR_MAX_RANK + 1], ax[IR_MAX_RANK + 1], sp[IR_MAX_RANK + 1];
	int ns, ne, na = 0, nsp = 0;
	bool have;
	if (!fe_ints_from(c, in, nin, 1, "starts", st, IR_MAX_RANK, &ns, &have) ||
	    !fe_ints_from(c, in, nin, 2, "ends", en, IR_MAX_RANK, &ne, &have) ||
	    !fe_ints_from(c, in, nin, 3, "axes", ax, IR_MAX_RANK, &na, &have) ||
	    !fe_ints_from(c, in, nin, 4, "steps", sp, IR_MAX_RANK, &nsp, &have))
		return false;
	if (ns != ne || (na && na != ns) || (nsp && nsp != ns))
		return fe_fail(c, "starts, ends, axes and steps must have the same length");
	int64_t start[IR_MAX_RANK], step[IR_MAX_RANK], count[IR_MAX_RANK];
	bool seen[IR_MAX_RANK] = {0};
	for (int i = 0; i < r; i++)
		start[i] = 0, step[i] = 1, count[i] = t->dims[i];
	for (int i = 0; i < ns; i++) {
		int64_t a = na ? ax[i] : i;
		if (!fe_norm_axis(c, &a, r, "axis"))
			return false;
		if (seen[a])
			return fe_fail(c, "axis %lld is sliced twice", (long long)a);
		seen[a] = true;
		step[a] = nsp ? sp[i] : 1;
		if (step[a] == 0)
			return fe_fail(c, "step is zero");
		clamp_slice(t->dims[a], st[i], en[i], step[a], &start[a], &count[a]);
	}
	return fe_define(c, fe_slice_of(c, in[0], start, step, count, c->sn->out[0]));
}

/* Split(x, split?; axis, num_outputs) -> one slice per output */
static bool imp_split(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t axis = sa_int(c->sn, "axis", 0);
	if (!fe_norm_axis(c, &axis, t->rank, "axis"))
		return false;
	int64_t parts[65];
	int np;
	bool have;
	if (!fe_ints_from(c, in, nin, 1, "split", parts, 64, &np, &have))
		return false;
	int64_t dim = t->dims[axis];
	if (!have) {
		int64_t k = sa_get(c->sn, "num_outputs") ? sa_int(c->sn, "num_outputs", 1) : c->sn->nout;
		if (k < 1 || k > 64)
			return fe_fail(c, "cannot split into %lld parts", (long long)k);
		/* ceil-sized chunks, the last one smaller (opset 18 rule) */
		int64_t each = (dim + k - 1) / k;
		np = (int)k;
		for (int i = 0; i < np; i++) {
			int64_t left = dim - each * i;
			parts[i] = left < 0 ? 0 : left < each ? left : each;
		}
	}
	int64_t sum = 0;
	for (int i = 0; i < np; i++) {
		if (parts[i] < 0)
			return fe_fail(c, "split size %lld is negative", (long long)parts[i]);
		sum += parts[i];
	}
	if (sum != dim)
		return fe_fail(c, "split sizes add up to %lld, the axis has %lld", (long long)sum, (long long)dim);
	if (np != c->sn->nout)
		return fe_fail(c, "%d split sizes for %d outputs", np, c->sn->nout);
	int64_t start[IR_MAX_RANK] = {0}, step[IR_MAX_RANK], count[IR_MAX_RANK];
	for (int i = 0; i < t->rank; i++)
		step[i] = 1, count[i] = t->dims[i];
	for (int i = 0; i < np; i++) {
		count[axis] = parts[i];
		if (*c->sn->out[i] && !fe_define_at(c, i, fe_slice_of(c, in[0], start, step, count, c->sn->out[i])))
			return false;
		start[axis] += parts[i];
	}
	return true;
}

/* Gather, GatherElements (axis) -> gather, gather_elements */
static bool imp_gather(Ctx *c, const ValueId *in, int nin)
{
	int64_t axis = sa_int(c->sn, "axis", 0);
	if (!fe_norm_axis(c, &axis, vtype(c, in[0])->rank, "axis"))
		return false;
	/* Constant indices are checked here: ONNX makes one outside [-d, d)
	 * an error, and the kernels would clamp it silently. */
	const Value *iv = ir_value(c->g, in[1]);
	const Type *it = vtype(c, in[1]);
	int64_t d = vtype(c, in[0])->dims[axis];
	if (iv->kind == VAL_CONST && (it->dt == DT_I64 || it->dt == DT_I32))
		for (int64_t i = 0; i < ir_type_numel(it); i++) {
			double k = src_load(iv->data, it->dt, i);
			if (k < (double)-d || k >= (double)d)
				return fe_fail(c, "index %.0f is out of range for axis %lld of size %lld", k, (long long)axis,
					       (long long)d);
		}
	Attr a = ir_ai("axis", axis);
	return fe_emit_out(c, strcmp(c->sn->op, "Gather") ? OP_GATHER_ELEMENTS : OP_GATHER, in, 2, &a, 1);
}

/* GatherND(batch_dims) -> gather_nd */
static bool imp_gather_nd(Ctx *c, const ValueId *in, int nin)
{
	Attr a = ir_ai("batch_dims", sa_int(c->sn, "batch_dims", 0));
	return fe_emit_out(c, OP_GATHER_ND, in, 2, &a, 1);
}

/* Scatter (opsets 9-10), ScatterElements, ScatterND -> scatter_elements,
 * scatter_nd; reductions on halves run in f32 between casts */
static bool imp_scatter(Ctx *c, const ValueId *in, int nin)
{
	static const char *const reds[] = {"none", "add", "mul", "max", "min"};
	const char *red = sa_str(c->sn, "reduction", "none");
	bool known = false;
	for (int i = 0; i < 5; i++)
		known |= !strcmp(red, reds[i]);
	if (!known)
		return fe_fail(c, "unsupported reduction '%s'", red);
	bool nd = !strcmp(c->sn->op, "ScatterND");
	int64_t axis = sa_int(c->sn, "axis", 0);
	if (!nd && !fe_norm_axis(c, &axis, vtype(c, in[0])->rank, "axis"))
		return false;
	Attr a[2] = {ir_astr("reduction", red), ir_ai("axis", axis)};
	Op op = nd ? OP_SCATTER_ND : OP_SCATTER_ELEMENTS;
	DType dt = vtype(c, in[0])->dt;
	if ((dt == DT_F16 || dt == DT_BF16) && strcmp(red, "none")) {
		ValueId w[3] = {fe_cast_to(c, in[0], DT_F32, NULL), in[1], fe_cast_to(c, in[2], DT_F32, NULL)};
		if (w[0] < 0 || w[2] < 0)
			return false;
		ValueId y = fe_emit(c, op, w, 3, a, nd ? 1 : 2, NULL);
		return y >= 0 && fe_define(c, fe_cast_to(c, y, dt, c->sn->out[0]));
	}
	return fe_emit_out(c, op, in, 3, a, nd ? 1 : 2);
}

/* Tile(x, repeats) -> tile, attr repeats */
static bool imp_tile(Ctx *c, const ValueId *in, int nin)
{
	int64_t rep[IR_MAX_RANK + 1];
	int n;
	if (!fe_const_ints(c, in[1], "the repeats input", rep, IR_MAX_RANK, &n))
		return false;
	if (n != vtype(c, in[0])->rank)
		return fe_fail(c, "%d repeats for a rank-%d input", n, vtype(c, in[0])->rank);
	Attr a = ir_aints("repeats", rep, n);
	return fe_emit_out(c, OP_TILE, in, 1, &a, 1);
}

/* Trilu(x, k?; upper) -> trilu */
static bool imp_trilu(Ctx *c, const ValueId *in, int nin)
{
	double k = 0;
	if (nin > 1 && in[1] >= 0 && !fe_const_scalar(c, in[1], "k", &k))
		return false;
	Attr a[2] = {ir_ai("upper", sa_int(c->sn, "upper", 1) != 0), ir_ai("k", (int64_t)k)};
	return fe_emit_out(c, OP_TRILU, in, 1, a, 2);
}

/* ArgMax, ArgMin (axis, keepdims, select_last_index) -> argmax, argmin */
static bool imp_arg(Ctx *c, const ValueId *in, int nin)
{
	int64_t axis = sa_int(c->sn, "axis", 0);
	if (!fe_norm_axis(c, &axis, vtype(c, in[0])->rank, "axis"))
		return false;
	Attr a[3] = {ir_ai("axis", axis), ir_ai("keepdims", sa_int(c->sn, "keepdims", 1) != 0),
		     ir_ai("last", sa_int(c->sn, "select_last_index", 0) != 0)};
	return fe_emit_out(c, strcmp(c->sn->op, "ArgMax") ? OP_ARGMIN : OP_ARGMAX, in, 1, a, 3);
}

/* CumSum(x, axis; exclusive, reverse) -> cumsum */
static bool imp_cumsum(Ctx *c, const ValueId *in, int nin)
{
	double ax;
	if (!fe_const_scalar(c, in[1], "axis", &ax))
		return false;
	int64_t axis = (int64_t)ax;
	if (!fe_norm_axis(c, &axis, vtype(c, in[0])->rank, "axis"))
		return false;
	Attr a[3] = {ir_ai("axis", axis), ir_ai("exclusive", sa_int(c->sn, "exclusive", 0) != 0),
		     ir_ai("reverse", sa_int(c->sn, "reverse", 0) != 0)};
	return fe_emit_out(c, OP_CUMSUM, in, 1, a, 3);
}

/* TopK -> topk (the positions) and gather_elements of the values through them */
static bool imp_topk(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t axis = sa_int(c->sn, "axis", -1), k = sa_int(c->sn, "k", -1);
	if (!fe_norm_axis(c, &axis, t->rank, "axis"))
		return false;
	if (c->opset < 10 && !sa_get(c->sn, "k"))
		return fe_fail(c, "attribute 'k' is required");
	if (c->opset >= 10) {
		int64_t kk[2];
		int n;
		if (!fe_const_ints(c, in[1], "K", kk, 1, &n))
			return false;
		if (n != 1)
			return fe_fail(c, "K must hold one value, got %d", n);
		k = kk[0];
	}
	if (k < 0 || k > t->dims[axis])
		return fe_fail(c, "K = %lld is outside 0..%lld (the size of axis %lld)", (long long)k, (long long)t->dims[axis],
			    (long long)axis);
	if (t->dt == DT_BOOL)
		return fe_fail(c, "bool input is not supported");
	/* Halves order exactly as their f32 values. */
	ValueId key = t->dt == DT_F16 || t->dt == DT_BF16 ? fe_cast_to(c, in[0], DT_F32, NULL) : in[0];
	if (key < 0)
		return false;
	Attr a[3] = {ir_ai("axis", axis), ir_ai("k", k), ir_ai("largest", sa_int(c->sn, "largest", 1) != 0)};
	const char *iname = c->sn->nout > 1 && *c->sn->out[1] ? c->sn->out[1] : NULL;
	ValueId idx = fe_emit(c, OP_TOPK, &key, 1, a, 3, iname);
	if (!fe_define_at(c, 1, idx))
		return false;
	if (!*c->sn->out[0])
		return true;
	ValueId g[2] = {in[0], idx};
	Attr ax = ir_ai("axis", axis);
	return fe_define(c, fe_emit(c, OP_GATHER_ELEMENTS, g, 2, &ax, 1, c->sn->out[0]));
}

/* OneHot(indices, depth, values; axis) -> one_hot */
static bool imp_onehot(Ctx *c, const ValueId *in, int nin)
{
	double depth;
	if (!fe_const_scalar(c, in[1], "depth", &depth))
		return false;
	if (!(depth >= 1 && depth < 1e15))
		return fe_fail(c, "depth %g must be at least 1", depth);
	int r = vtype(c, in[0])->rank;
	int64_t axis = sa_int(c->sn, "axis", -1);
	if (!fe_norm_axis(c, &axis, r + 1, "axis"))
		return false;
	DType dt = vtype(c, in[0])->dt;
	ValueId v[2] = {dt == DT_F16 || dt == DT_BF16 ? fe_cast_to(c, in[0], DT_F32, NULL) : in[0], in[2]};
	if (dt == DT_BOOL)
		return fe_fail(c, "bool indices are not supported");
	if (v[0] < 0)
		return false;
	Attr a[2] = {ir_ai("axis", axis), ir_ai("depth", (int64_t)depth)};
	return fe_emit_out(c, OP_ONE_HOT, v, 2, a, 2);
}

/* GridSample(mode, padding_mode, align_corners) -> grid_sample */
static bool imp_grid_sample(Ctx *c, const ValueId *in, int nin)
{
	const char *mode = sa_str(c->sn, "mode", c->opset < 20 ? "bilinear" : "linear");
	const char *pad = sa_str(c->sn, "padding_mode", "zeros");
	if (!strcmp(mode, "bilinear"))
		mode = "linear";
	else if (!strcmp(mode, "bicubic"))
		mode = "cubic";
	if (strcmp(mode, "linear") && strcmp(mode, "nearest") && strcmp(mode, "cubic"))
		return fe_fail(c, "unsupported mode '%s'", mode);
	if (strcmp(pad, "zeros") && strcmp(pad, "border") && strcmp(pad, "reflection"))
		return fe_fail(c, "unsupported padding_mode '%s'", pad);
	if (!fe_need_float(c, in[0], "the input") || !fe_need_float(c, in[1], "the grid"))
		return false;
	ValueId v[2] = {in[0], in[1]};
	if (vtype(c, in[1])->dt != vtype(c, in[0])->dt && (v[1] = fe_cast_to(c, in[1], vtype(c, in[0])->dt, NULL)) < 0)
		return false;
	Attr a[3] = {ir_astr("mode", mode), ir_astr("padding", pad), ir_ai("align_corners", sa_int(c->sn, "align_corners", 0) != 0)};
	return fe_emit_out(c, OP_GRID_SAMPLE, v, 2, a, 3);
}

/* AffineGrid -> a matmul: the base grid of homogeneous points [x, y, (z,) 1] is a
 * constant; the result is base . theta^T per batch, one matmul. */
static bool imp_affine_grid(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t size[IR_MAX_RANK];
	int n;
	if (!fe_need_float(c, in[0], "theta") || !fe_const_ints(c, in[1], "size", size, 5, &n))
		return false;
	int nsp = n - 2;
	if (nsp != 2 && nsp != 3)
		return fe_fail(c, "size must hold 4 or 5 values, got %d", n);
	if (t->rank != 3 || t->dims[0] != size[0] || t->dims[1] != nsp || t->dims[2] != nsp + 1)
		return fe_fail(c, "theta must be [%lld, %d, %d]", (long long)size[0], nsp, nsp + 1);
	bool align = sa_int(c->sn, "align_corners", 0) != 0;
	int64_t pts = 1;
	for (int i = 0; i < nsp; i++) {
		if (size[2 + i] < 1 || size[2 + i] > (1 << 24))
			return fe_fail(c, "size[%d] = %lld is invalid", 2 + i, (long long)size[2 + i]);
		pts *= size[2 + i];
	}
	if (pts > ((int64_t)1 << 26))
		return fe_fail(c, "the grid has too many points");
	DType dt = t->dt;
	void *base = malloc((size_t)(pts * (nsp + 1)) * (size_t)ir_dtype_size(dt));
	if (!base)
		return fe_oom(c);
	for (int64_t p = 0; p < pts; p++) {
		/* point p's coordinate along spatial axis d; the row lists x first */
		for (int64_t d = nsp - 1, r = p; d >= 0; r /= size[2 + d], d--) {
			int64_t dim = size[2 + d], i = r % dim;
			double v = align ? (dim > 1 ? -1 + 2.0 * (double)i / (double)(dim - 1) : -1)
					 : -1 + (2.0 * (double)i + 1) / (double)dim;
			src_store(base, dt, p * (nsp + 1) + (nsp - 1 - d), v);
		}
		src_store(base, dt, p * (nsp + 1) + nsp, 1);
	}
	int64_t bd[2] = {pts, nsp + 1};
	TypeId bt = ir_type(c->g, dt, 2, bd, NULL);
	const char *bname = fe_fresh_name(c, fe_sn_base(c), "base_grid");
	ValueId b = bt < 0 || !bname ? -1 : ir_add_const(c->g, bname, bt, base);
	free(base);
	if (b < 0)
		return fe_oom(c);
	int64_t perm[3] = {0, 2, 1};
	Attr pa = ir_aints("perm", perm, 3);
	ValueId tt = fe_emit(c, OP_TRANSPOSE, &in[0], 1, &pa, 1, NULL);
	ValueId g = fe_binary(c, OP_MATMUL, b, tt, NULL);
	if (g < 0)
		return false;
	int64_t od[5] = {size[0]};
	for (int i = 0; i < nsp; i++)
		od[1 + i] = size[2 + i];
	od[1 + nsp] = nsp;
	return fe_define(c, fe_reshape_to(c, g, nsp + 2, od, c->sn->out[0]));
}

/* ReverseSequence(batch_axis, time_axis) -> reverse_sequence */
static bool imp_reverse_sequence(Ctx *c, const ValueId *in, int nin)
{
	int r = vtype(c, in[0])->rank;
	int64_t ba = sa_int(c->sn, "batch_axis", 1), ta = sa_int(c->sn, "time_axis", 0);
	if (!fe_norm_axis(c, &ba, r, "batch_axis") || !fe_norm_axis(c, &ta, r, "time_axis"))
		return false;
	Attr a[2] = {ir_ai("batch_axis", ba), ir_ai("time_axis", ta)};
	return fe_emit_out(c, OP_REVERSE_SEQUENCE, in, 2, a, 2);
}

/* DepthToSpace, SpaceToDepth -> a reshape to 6-D, a transpose, a reshape. */
static bool imp_depth_space(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	if (t->rank != 4)
		return fe_fail(c, "input must be 4-D, got rank %d", t->rank);
	int64_t b = sa_int(c->sn, "blocksize", 0), N = t->dims[0], C = t->dims[1], H = t->dims[2], W = t->dims[3];
	bool d2s = strcmp(c->sn->op, "DepthToSpace") == 0;
	if (b < 1 || (d2s ? C % (b * b) : (H % b || W % b)))
		return fe_fail(c, "blocksize %lld does not divide the input", (long long)b);
	int64_t s6[6], perm[6], out[4];
	if (d2s) {
		bool crd = strcmp(sa_str(c->sn, "mode", "DCR"), "CRD") == 0;
		int64_t cc = C / (b * b);
		if (crd) {
			int64_t s[6] = {N, cc, b, b, H, W}, p[6] = {0, 1, 4, 2, 5, 3};
			memcpy(s6, s, sizeof s6), memcpy(perm, p, sizeof perm);
		} else {
			int64_t s[6] = {N, b, b, cc, H, W}, p[6] = {0, 3, 4, 1, 5, 2};
			memcpy(s6, s, sizeof s6), memcpy(perm, p, sizeof perm);
		}
		int64_t o[4] = {N, cc, H * b, W * b};
		memcpy(out, o, sizeof out);
	} else {
		int64_t s[6] = {N, C, H / b, b, W / b, b}, p[6] = {0, 3, 5, 1, 2, 4};
		int64_t o[4] = {N, C * b * b, H / b, W / b};
		memcpy(s6, s, sizeof s6), memcpy(perm, p, sizeof perm), memcpy(out, o, sizeof out);
	}
	ValueId x = fe_reshape_to(c, in[0], 6, s6, NULL);
	if (x < 0)
		return false;
	Attr a = ir_aints("perm", perm, 6);
	x = fe_emit(c, OP_TRANSPOSE, &x, 1, &a, 1, NULL);
	return x >= 0 && fe_define(c, fe_reshape_to(c, x, 4, out, c->sn->out[0]));
}

/* CenterCropPad -> slice and pad: per listed axis, crop or zero-pad symmetrically to the
 * target size (the extra element goes to the end when cropping and to the
 * end when padding, as the ONNX function does). */
static bool imp_center_crop_pad(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int r = t->rank;
	int64_t sh[IR_MAX_RANK + 1];
	int ns, na = r;
	if (!fe_const_ints(c, in[1], "shape", sh, IR_MAX_RANK, &ns))
		return false;
	int64_t axes[IR_MAX_RANK];
	const int64_t *aa = sa_ints(c->sn, "axes", &na);
	if (!aa)
		na = r;
	if (na != ns || na > r)
		return fe_fail(c, "%d axes for %d target sizes", na, ns);
	int64_t start[IR_MAX_RANK] = {0}, step[IR_MAX_RANK], count[IR_MAX_RANK], pads[2 * IR_MAX_RANK] = {0};
	for (int i = 0; i < r; i++)
		step[i] = 1, count[i] = t->dims[i];
	bool pad = false;
	for (int i = 0; i < na; i++) {
		axes[i] = aa ? aa[i] : i;
		if (!fe_norm_axis(c, &axes[i], r, "axis"))
			return false;
		int64_t a = axes[i], d = t->dims[a], want = sh[i];
		if (want < 0)
			return fe_fail(c, "target size %lld is negative", (long long)want);
		if (want < d) {
			start[a] = (d - want) / 2;
			count[a] = want;
		} else if (want > d) {
			pads[a] = (want - d) / 2;
			pads[r + a] = want - d - pads[a];
			pad = true;
		}
	}
	ValueId y = fe_slice_of(c, in[0], start, step, count, pad ? NULL : c->sn->out[0]);
	if (pad && y >= 0) {
		Attr a[2] = {ir_aints("pads", pads, 2 * r), ir_af("value", 0)};
		y = fe_emit(c, OP_PAD, &y, 1, a, 2, c->sn->out[0]);
	}
	return fe_define(c, y);
}

/* Compress(x, condition; axis) -> gather of the kept positions, the condition
 * known at compile time.  (A condition computed at run time would make the
 * result's shape depend on data, which a static plan cannot hold.) */
static bool imp_compress(Ctx *c, const ValueId *in, int nin)
{
	const Value *cv = fe_const_val(c, in[1], "the condition (its length sets the result's shape)");
	if (!cv)
		return false;
	const Type *t = vtype(c, in[0]), *ct = vtype(c, in[1]);
	ValueId x = in[0];
	int64_t axis = 0, len;
	if (sa_get(c->sn, "axis")) {
		axis = sa_int(c->sn, "axis", 0);
		if (!fe_norm_axis(c, &axis, t->rank, "axis"))
			return false;
		len = t->dims[axis];
	} else {
		len = ir_type_numel(t);
		x = fe_reshape_to(c, x, 1, &len, NULL);
	}
	int64_t n = ir_type_numel(ct);
	if (ct->rank != 1 || n > len)
		return fe_fail(c, "the condition must be 1-D and at most %lld long", (long long)len);
	int64_t *idx = ir_arena_alloc(c->g->arena, (size_t)(n + 1) * sizeof *idx), k = 0;
	if (!idx)
		return fe_oom(c);
	for (int64_t i = 0; i < n; i++)
		if (src_load(cv->data, ct->dt, i) != 0)
			idx[k++] = i;
	TypeId ty = ir_type(c->g, DT_I64, 1, &k, NULL);
	const char *name = fe_fresh_name(c, fe_sn_base(c), "kept");
	ValueId iv = ty < 0 || !name ? -1 : ir_add_const(c->g, name, ty, idx);
	if (iv < 0)
		return fe_oom(c);
	Attr a = ir_ai("axis", axis);
	ValueId g[2] = {x, iv};
	return x >= 0 && fe_emit_out(c, OP_GATHER, g, 2, &a, 1);
}

const OpSpec imp_data_ops[] = {
	{"Transpose", 7, 22, 1, 1, 1, 0, imp_transpose, {{"perm", SA_INTS}}},
	{"Concat", 7, 22, 1, 64, 1, 0, imp_concat, {{"axis", SA_INT}}},
	{"Pad", 7, 10, 1, 1, 1, 0, imp_pad, {{"pads", SA_INTS}, {"mode", SA_STRING}, {"value", SA_FLOAT}}},
	{"Pad", 11, 17, 2, 3, 1, 6, imp_pad,
	 {{"mode", SA_STRING}, {"pads", SA_INTS, 0, 0, true}, {"value", SA_FLOAT, 0, 0, true}}},
	{"Pad", 18, 22, 2, 4, 1, 14, imp_pad,
	 {{"mode", SA_STRING}, {"pads", SA_INTS, 0, 0, true}, {"value", SA_FLOAT, 0, 0, true},
	  {"axes", SA_INTS, 0, 0, true}}},
	{"Slice", 7, 9, 1, 1, 1, 0, imp_slice, {{"starts", SA_INTS}, {"ends", SA_INTS}, {"axes", SA_INTS}}},
	{"Slice", 10, 22, 3, 5, 1, 30, imp_slice},
	{"Split", 7, 12, 1, 2, 64, 2, imp_split, {{"axis", SA_INT}, {"split", SA_INTS}}, true},
	{"Split", 13, 22, 1, 2, 64, 2, imp_split, {{"axis", SA_INT}, {"num_outputs", SA_INT, 18, 0}}, true},
	{"Gather", 7, 22, 2, 2, 1, 0, imp_gather, {{"axis", SA_INT}}},
	{"GatherElements", 11, 22, 2, 2, 1, 0, imp_gather, {{"axis", SA_INT}}},
	{"GatherND", 11, 22, 2, 2, 1, 0, imp_gather_nd, {{"batch_dims", SA_INT, 12, 0}}},
	{"Scatter", 9, 10, 3, 3, 1, 0, imp_scatter, {{"axis", SA_INT}}},
	{"ScatterElements", 11, 22, 3, 3, 1, 0, imp_scatter, {{"axis", SA_INT}, {"reduction", SA_STRING, 16, 0}}},
	{"ScatterND", 11, 22, 3, 3, 1, 0, imp_scatter, {{"reduction", SA_STRING, 16, 0}}},
	{"Tile", 7, 22, 2, 2, 1, 2, imp_tile},
	{"Trilu", 14, 22, 1, 2, 1, 2, imp_trilu, {{"upper", SA_INT}}},
	{"ArgMax", 7, 22, 1, 1, 1, 0, imp_arg, {{"axis", SA_INT}, {"keepdims", SA_INT}, {"select_last_index", SA_INT, 12, 0}}},
	{"ArgMin", 7, 22, 1, 1, 1, 0, imp_arg, {{"axis", SA_INT}, {"keepdims", SA_INT}, {"select_last_index", SA_INT, 12, 0}}},
	{"CumSum", 11, 22, 2, 2, 1, 2, imp_cumsum, {{"exclusive", SA_INT}, {"reverse", SA_INT}}},
	{"TopK", 7, 9, 1, 1, 2, 0, imp_topk, {{"axis", SA_INT}, {"k", SA_INT}}, true},
	{"TopK", 10, 22, 2, 2, 2, 2, imp_topk, {{"axis", SA_INT}, {"largest", SA_INT, 11, 0}, {"sorted", SA_INT, 11, 0}}, true},
	{"OneHot", 9, 22, 3, 3, 1, 2, imp_onehot, {{"axis", SA_INT}}},
	{"GridSample", 16, 22, 2, 2, 1, 0, imp_grid_sample,
	 {{"mode", SA_STRING}, {"padding_mode", SA_STRING}, {"align_corners", SA_INT}}},
	{"AffineGrid", 20, 22, 2, 2, 1, 2, imp_affine_grid, {{"align_corners", SA_INT}}},
	{"ReverseSequence", 10, 22, 2, 2, 1, 0, imp_reverse_sequence, {{"batch_axis", SA_INT}, {"time_axis", SA_INT}}},
	{"DepthToSpace", 7, 22, 1, 1, 1, 0, imp_depth_space, {{"blocksize", SA_INT}, {"mode", SA_STRING, 11, 0}}},
	{"SpaceToDepth", 7, 22, 1, 1, 1, 0, imp_depth_space, {{"blocksize", SA_INT}}},
	{"CenterCropPad", 18, 22, 2, 2, 1, 2, imp_center_crop_pad, {{"axes", SA_INTS}}},
	{"Compress", 9, 22, 2, 2, 1, 2, imp_compress, {{"axis", SA_INT}}},
	{NULL},
};
