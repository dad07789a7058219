/* Indexing and data movement (Slice, Gather, GatherElements, Tile, Trilu),
 * arg-reductions and scans (ArgMax/ArgMin, CumSum), and the softmax
 * relatives (LogSoftmax, Hardmax).  Plain loop nests over the output:
 * these ops move little data next to the convolutions around them. */
#include <math.h>
#include <string.h>

#include "cg_internal.h"

#define MAXR IR_MAX_RANK

/* outer x len x inner around axis. */
static void split_axis(const Type *t, int axis, int64_t *outer, int64_t *len, int64_t *inner)
{
	*outer = *inner = 1;
	for (int i = 0; i < axis; i++)
		*outer *= t->dims[i];
	for (int i = axis + 1; i < t->rank; i++)
		*inner *= t->dims[i];
	*len = t->dims[axis];
}

/* Loops over every output element: returns the output's linear index and
 * the per-dimension indices in iv[].  Close with end_all. */
static LLVMValueRef loop_all(Cg *c, const Type *t, Loop *l, LLVMValueRef *iv)
{
	LLVMValueRef lin = cg_i64(c, 0);
	for (int d = 0; d < t->rank; d++) {
		iv[d] = cg_loop_begin(c, &l[d], cg_i64(c, 0), cg_i64(c, t->dims[d]));
		lin = cg_add(c, cg_mul(c, lin, cg_i64(c, t->dims[d])), iv[d]);
	}
	return lin;
}

static void end_all(Cg *c, const Type *t, Loop *l)
{
	for (int d = t->rank - 1; d >= 0; d--)
		cg_loop_end(c, &l[d], 1);
}

/* An index operand element as i64, negative counted from the end, clamped
 * into [0, dim) so a bad index cannot read outside the tensor. */
static LLVMValueRef load_index(Cg *c, ValueId idx, LLVMValueRef at, int64_t dim)
{
	DType dt = cg_ty(c, idx)->dt;
	LLVMValueRef k = cg_load(c, cg_bits_type(c, dt), cg_buf(c, idx), at);
	if (dt != DT_I64)
		k = LLVMBuildSExt(c->b, k, c->i64, "");
	LLVMValueRef neg = LLVMBuildICmp(c->b, LLVMIntSLT, k, cg_i64(c, 0), "");
	k = LLVMBuildSelect(c->b, neg, cg_add(c, k, cg_i64(c, dim)), k, "");
	k = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, k, cg_i64(c, 0), ""), cg_i64(c, 0), k, "");
	return LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSGE, k, cg_i64(c, dim), ""), cg_i64(c, dim - 1), k, "");
}

void cg_lower_slice(Cg *c, const Node *n)
{
	int64_t off, ox, oy;
	if (ir_slice_is_view(c->g, n, &off) && ir_value_home(c->g, n->out, &oy) == ir_value_home(c->g, n->in[0], &ox) &&
	    oy == ox + off)
		return;  /* the plan made it a view: the bytes are already there */
	const Type *x = cg_ty(c, n->in[0]), *y = cg_ty(c, n->out);
	int cnt;
	const int64_t *starts = ir_attr_ints(n, "starts", &cnt), *steps = ir_attr_ints(n, "steps", &cnt);
	int64_t xs[MAXR];
	cg_row_strides(x->rank, x->dims, xs);
	LLVMTypeRef et = cg_bits_type(c, y->dt);
	Loop l[MAXR];
	LLVMValueRef iv[MAXR];
	LLVMValueRef yo = loop_all(c, y, l, iv), xo = cg_i64(c, 0);
	int64_t base = 0;
	for (int d = 0; d < x->rank; d++) {
		base += starts[d] * xs[d];
		xo = cg_add(c, xo, cg_mul(c, iv[d], cg_i64(c, steps[d] * xs[d])));
	}
	xo = cg_add(c, xo, cg_i64(c, base));
	cg_store(c, et, cg_load(c, et, cg_buf(c, n->in[0]), xo), cg_buf(c, n->out), yo);
	end_all(c, y, l);
}

void cg_lower_gather(Cg *c, const Node *n)
{
	const Type *x = cg_ty(c, n->in[0]), *ix = cg_ty(c, n->in[1]), *y = cg_ty(c, n->out);
	int axis = (int)ir_attr_int(n, "axis", 0);
	int64_t xs[MAXR];
	cg_row_strides(x->rank, x->dims, xs);
	LLVMTypeRef et = cg_bits_type(c, y->dt);
	Loop l[MAXR];
	LLVMValueRef iv[MAXR];
	LLVMValueRef yo = loop_all(c, y, l, iv), xo = cg_i64(c, 0);
	if (n->op == OP_GATHER_ELEMENTS) {
		/* indices have the result's shape */
		LLVMValueRef k = load_index(c, n->in[1], yo, x->dims[axis]);
		for (int d = 0; d < x->rank; d++)
			xo = cg_add(c, xo, cg_mul(c, d == axis ? k : iv[d], cg_i64(c, xs[d])));
	} else {
		LLVMValueRef io = cg_i64(c, 0);
		for (int j = 0; j < ix->rank; j++)
			io = cg_add(c, cg_mul(c, io, cg_i64(c, ix->dims[j])), iv[axis + j]);
		LLVMValueRef k = load_index(c, n->in[1], io, x->dims[axis]);
		for (int d = 0; d < axis; d++)
			xo = cg_add(c, xo, cg_mul(c, iv[d], cg_i64(c, xs[d])));
		xo = cg_add(c, xo, cg_mul(c, k, cg_i64(c, xs[axis])));
		for (int d = axis + 1; d < x->rank; d++)
			xo = cg_add(c, xo, cg_mul(c, iv[d - 1 + ix->rank], cg_i64(c, xs[d])));
	}
	cg_store(c, et, cg_load(c, et, cg_buf(c, n->in[0]), xo), cg_buf(c, n->out), yo);
	end_all(c, y, l);
}

void cg_lower_tile(Cg *c, const Node *n)
{
	const Type *x = cg_ty(c, n->in[0]), *y = cg_ty(c, n->out);
	int64_t xs[MAXR];
	cg_row_strides(x->rank, x->dims, xs);
	LLVMTypeRef et = cg_bits_type(c, y->dt);
	Loop l[MAXR];
	LLVMValueRef iv[MAXR];
	LLVMValueRef yo = loop_all(c, y, l, iv), xo = cg_i64(c, 0);
	for (int d = 0; d < x->rank; d++)
		xo = cg_add(c, xo, cg_mul(c, LLVMBuildURem(c->b, iv[d], cg_i64(c, x->dims[d]), ""), cg_i64(c, xs[d])));
	cg_store(c, et, cg_load(c, et, cg_buf(c, n->in[0]), xo), cg_buf(c, n->out), yo);
	end_all(c, y, l);
}

void cg_lower_trilu(Cg *c, const Node *n)
{
	const Type *y = cg_ty(c, n->out);
	int r = y->rank;
	bool upper = ir_attr_int(n, "upper", 1) != 0;
	int64_t k = ir_attr_int(n, "k", 0);
	LLVMTypeRef et = cg_bits_type(c, y->dt);
	Loop l[MAXR];
	LLVMValueRef iv[MAXR];
	LLVMValueRef yo = loop_all(c, y, l, iv);
	/* upper keeps j - i >= k, lower keeps j - i <= k */
	LLVMValueRef diff = LLVMBuildNSWSub(c->b, iv[r - 1], iv[r - 2], "");
	LLVMValueRef keep = LLVMBuildICmp(c->b, upper ? LLVMIntSGE : LLVMIntSLE, diff, cg_i64(c, k), "");
	LLVMValueRef v = cg_load(c, et, cg_buf(c, n->in[0]), yo);
	cg_store(c, et, LLVMBuildSelect(c->b, keep, v, LLVMConstNull(et), ""), cg_buf(c, n->out), yo);
	end_all(c, y, l);
}

/* ArgMax/ArgMin: one scan along the axis per (outer, inner) position.
 * NaN counts as the extreme (the first NaN wins, as in numpy). */
void cg_lower_arg(Cg *c, const Node *n)
{
	const Type *x = cg_ty(c, n->in[0]);
	int axis = (int)ir_attr_int(n, "axis", 0);
	bool last = ir_attr_int(n, "last", 0) != 0, mx = n->op == OP_ARGMAX;
	int64_t outer, len, inner;
	split_axis(x, axis, &outer, &len, &inner);
	LLVMTypeRef et = cg_num_type(c, x->dt);
	bool f = ir_dtype_is_float(x->dt), s = ir_dtype_is_signed(x->dt);
	LLVMValueRef best = cg_entry_alloca(c, et), bi = cg_entry_alloca(c, c->i64);
	Loop lo, li, lk;
	LLVMValueRef o = cg_loop_begin(c, &lo, cg_i64(c, 0), cg_i64(c, outer));
	LLVMValueRef ii = cg_loop_begin(c, &li, cg_i64(c, 0), cg_i64(c, inner));
	LLVMValueRef base = cg_add(c, cg_mul(c, o, cg_i64(c, len * inner)), ii);
	LLVMBuildStore(c->b, cg_load(c, et, cg_buf(c, n->in[0]), base), best);
	LLVMBuildStore(c->b, cg_i64(c, 0), bi);
	LLVMValueRef k = cg_loop_begin(c, &lk, cg_i64(c, 1), cg_i64(c, len));
	LLVMValueRef v = cg_load(c, et, cg_buf(c, n->in[0]), cg_add(c, base, cg_mul(c, k, cg_i64(c, inner))));
	LLVMValueRef b = LLVMBuildLoad2(c->b, et, best, "");
	LLVMValueRef better;
	if (f) {
		LLVMRealPredicate p = mx ? (last ? LLVMRealOGE : LLVMRealOGT) : (last ? LLVMRealOLE : LLVMRealOLT);
		better = LLVMBuildFCmp(c->b, p, v, b, "");
		/* a NaN beats everything but an earlier NaN */
		LLVMValueRef vn = LLVMBuildFCmp(c->b, LLVMRealUNO, v, v, ""), bn = LLVMBuildFCmp(c->b, LLVMRealUNO, b, b, "");
		better = LLVMBuildAnd(c->b, LLVMBuildOr(c->b, better, vn, ""), LLVMBuildNot(c->b, bn, ""), "");
	} else {
		LLVMIntPredicate p = mx ? (last ? (s ? LLVMIntSGE : LLVMIntUGE) : (s ? LLVMIntSGT : LLVMIntUGT))
					: (last ? (s ? LLVMIntSLE : LLVMIntULE) : (s ? LLVMIntSLT : LLVMIntULT));
		better = LLVMBuildICmp(c->b, p, v, b, "");
	}
	LLVMBuildStore(c->b, LLVMBuildSelect(c->b, better, v, b, ""), best);
	LLVMBuildStore(c->b, LLVMBuildSelect(c->b, better, k, LLVMBuildLoad2(c->b, c->i64, bi, ""), ""), bi);
	cg_loop_end(c, &lk, 1);
	cg_store(c, c->i64, LLVMBuildLoad2(c->b, c->i64, bi, ""), cg_buf(c, n->out), cg_add(c, cg_mul(c, o, cg_i64(c, inner)), ii));
	cg_loop_end(c, &li, 1);
	cg_loop_end(c, &lo, 1);
}

void cg_lower_cumsum(Cg *c, const Node *n)
{
	const Type *x = cg_ty(c, n->in[0]);
	int axis = (int)ir_attr_int(n, "axis", 0);
	bool excl = ir_attr_int(n, "exclusive", 0) != 0, rev = ir_attr_int(n, "reverse", 0) != 0;
	int64_t outer, len, inner;
	split_axis(x, axis, &outer, &len, &inner);
	LLVMTypeRef et = cg_num_type(c, x->dt);
	bool f = ir_dtype_is_float(x->dt);
	LLVMValueRef acc = cg_entry_alloca(c, et);
	Loop lo, li, lk;
	LLVMValueRef o = cg_loop_begin(c, &lo, cg_i64(c, 0), cg_i64(c, outer));
	LLVMValueRef ii = cg_loop_begin(c, &li, cg_i64(c, 0), cg_i64(c, inner));
	LLVMValueRef base = cg_add(c, cg_mul(c, o, cg_i64(c, len * inner)), ii);
	LLVMBuildStore(c->b, LLVMConstNull(et), acc);
	LLVMValueRef k = cg_loop_begin(c, &lk, cg_i64(c, 0), cg_i64(c, len));
	if (rev)
		k = LLVMBuildNSWSub(c->b, cg_i64(c, len - 1), k, "");
	LLVMValueRef at = cg_add(c, base, cg_mul(c, k, cg_i64(c, inner)));
	LLVMValueRef v = cg_load(c, et, cg_buf(c, n->in[0]), at), a = LLVMBuildLoad2(c->b, et, acc, "");
	LLVMValueRef sum = f ? LLVMBuildFAdd(c->b, a, v, "") : LLVMBuildAdd(c->b, a, v, "");
	cg_store(c, et, excl ? a : sum, cg_buf(c, n->out), at);
	LLVMBuildStore(c->b, sum, acc);
	cg_loop_end(c, &lk, 1);
	cg_loop_end(c, &li, 1);
	cg_loop_end(c, &lo, 1);
}

/* LogSoftmax: x - max - log(sum(exp(x - max))).  Hardmax: 1 at the first
 * maximum. */
void cg_lower_softmax_like(Cg *c, const Node *n)
{
	const Type *t = cg_ty(c, n->out);
	int axis = (int)ir_attr_int(n, "axis", t->rank - 1);
	int64_t outer, len, inner;
	split_axis(t, axis, &outer, &len, &inner);
	LLVMTypeRef et = cg_num_type(c, t->dt);
	LLVMValueRef X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out);
	LLVMValueRef mx = cg_entry_alloca(c, et), sum = cg_entry_alloca(c, et), at = cg_entry_alloca(c, c->i64);
	Loop lo, li, l1, l2, l3;
	LLVMValueRef o = cg_loop_begin(c, &lo, cg_i64(c, 0), cg_i64(c, outer));
	LLVMValueRef ii = cg_loop_begin(c, &li, cg_i64(c, 0), cg_i64(c, inner));
	LLVMValueRef base = cg_add(c, cg_mul(c, o, cg_i64(c, len * inner)), ii);
	LLVMBuildStore(c->b, LLVMConstReal(et, -INFINITY), mx);
	LLVMBuildStore(c->b, cg_i64(c, 0), at);
	LLVMValueRef k1 = cg_loop_begin(c, &l1, cg_i64(c, 0), cg_i64(c, len));
	LLVMValueRef x = cg_load(c, et, X, cg_add(c, base, cg_mul(c, k1, cg_i64(c, inner))));
	LLVMValueRef m = LLVMBuildLoad2(c->b, et, mx, "");
	LLVMValueRef gt = LLVMBuildFCmp(c->b, LLVMRealUGT, x, m, "");
	LLVMBuildStore(c->b, LLVMBuildSelect(c->b, gt, x, m, ""), mx);
	LLVMBuildStore(c->b, LLVMBuildSelect(c->b, gt, k1, LLVMBuildLoad2(c->b, c->i64, at, ""), ""), at);
	cg_loop_end(c, &l1, 1);
	LLVMValueRef mv = LLVMBuildLoad2(c->b, et, mx, "");
	if (n->op == OP_HARDMAX) {
		LLVMValueRef am = LLVMBuildLoad2(c->b, c->i64, at, "");
		LLVMValueRef k = cg_loop_begin(c, &l2, cg_i64(c, 0), cg_i64(c, len));
		LLVMValueRef hit = LLVMBuildICmp(c->b, LLVMIntEQ, k, am, "");
		cg_store(c, et, LLVMBuildSelect(c->b, hit, LLVMConstReal(et, 1), LLVMConstReal(et, 0), ""), Y,
		   cg_add(c, base, cg_mul(c, k, cg_i64(c, inner))));
		cg_loop_end(c, &l2, 1);
	} else {
		LLVMBuildStore(c->b, LLVMConstReal(et, 0), sum);
		LLVMValueRef k2 = cg_loop_begin(c, &l2, cg_i64(c, 0), cg_i64(c, len));
		LLVMValueRef d = LLVMBuildFSub(c->b, cg_load(c, et, X, cg_add(c, base, cg_mul(c, k2, cg_i64(c, inner)))), mv, "");
		if (et != c->f32)
			d = LLVMBuildFPTrunc(c->b, d, c->f32, "");
		LLVMValueRef e = cg_exp(c, d);
		if (et != c->f32)
			e = LLVMBuildFPExt(c->b, e, et, "");
		LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, et, sum, ""), e, ""), sum);
		cg_loop_end(c, &l2, 1);
		LLVMValueRef s = LLVMBuildLoad2(c->b, et, sum, "");
		if (et != c->f32)
			s = LLVMBuildFPTrunc(c->b, s, c->f32, "");
		LLVMValueRef ls = cg_log(c, s);
		if (et != c->f32)
			ls = LLVMBuildFPExt(c->b, ls, et, "");
		/* (x - max) - log(sum): x - (max + log(sum)) would round the
		 * small log against a large max. */
		LLVMValueRef k3 = cg_loop_begin(c, &l3, cg_i64(c, 0), cg_i64(c, len));
		LLVMValueRef off = cg_add(c, base, cg_mul(c, k3, cg_i64(c, inner)));
		cg_store(c, et, LLVMBuildFSub(c->b, LLVMBuildFSub(c->b, cg_load(c, et, X, off), mv, ""), ls, ""), Y, off);
		cg_loop_end(c, &l3, 1);
	}
	cg_loop_end(c, &li, 1);
	cg_loop_end(c, &lo, 1);
}

/* ---- data movement ----------------------------------------------------------------------- */

void cg_lower_copy(Cg *c, const Node *n)
{
	/* reshape/identity whose result has its own buffer (a graph output). */
	int64_t bytes = ir_type_bytes(cg_ty(c, n->out));
	if (cg_buf(c, n->out) != cg_buf(c, n->in[0]) && bytes > 0)
		LLVMBuildMemMove(c->b, cg_buf(c, n->out), 1, cg_buf(c, n->in[0]), 1, cg_i64(c, bytes));
}

void cg_lower_transpose(Cg *c, const Node *n)
{
	const Type *tx = cg_ty(c, n->in[0]), *ty = cg_ty(c, n->out);
	int cnt, r = ty->rank;
	const int64_t *perm = ir_attr_ints(n, "perm", &cnt);
	int64_t xs[MAXR], s = 1;
	for (int i = tx->rank - 1; i >= 0; i--) {
		xs[i] = s;
		s *= tx->dims[i];
	}
	LLVMTypeRef et = cg_num_type(c, ty->dt);
	LLVMValueRef X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out);
	if (r == 0) {
		LLVMBuildStore(c->b, LLVMBuildLoad2(c->b, et, X, ""), Y);
		return;
	}
	Loop loops[MAXR];
	LLVMValueRef ox = cg_i64(c, 0), oy = cg_i64(c, 0);
	for (int d = 0; d < r; d++) {
		LLVMValueRef i = cg_loop_begin(c, &loops[d], cg_i64(c, 0), cg_i64(c, ty->dims[d]));
		ox = cg_add(c, ox, cg_mul(c, i, cg_i64(c, xs[perm[d]])));
		oy = cg_add(c, cg_mul(c, oy, cg_i64(c, ty->dims[d])), i);
	}
	LLVMBuildStore(c->b, LLVMBuildLoad2(c->b, et, cg_gep(c, et, X, ox), ""), cg_gep(c, et, Y, oy));
	for (int d = r - 1; d >= 0; d--)
		cg_loop_end(c, &loops[d], 1);
}

/* Is operand j already where the concat would copy it?  The memory plan
 * lets producers write straight into their slice of the result when the
 * slices are contiguous (outer == 1); such operands move no data. */
static bool concat_in_place(Cg *c, const Node *n, int j, int64_t outer, int64_t off)
{
	int64_t oy, ox;
	ValueId ry = ir_value_home(c->g, n->out, &oy), rx = ir_value_home(c->g, n->in[j], &ox);
	return outer == 1 && rx == ry && ox == oy + off;
}

void cg_lower_concat(Cg *c, const Node *n)
{
	const Type *ty = cg_ty(c, n->out);
	int axis = (int)ir_attr_int(n, "axis", 0);
	int64_t es = ir_dtype_size(ty->dt), outer = 1, inner = 1;
	for (int i = 0; i < axis; i++)
		outer *= ty->dims[i];
	for (int i = axis + 1; i < ty->rank; i++)
		inner *= ty->dims[i];
	int64_t orow = ty->dims[axis] * inner * es, off = 0;
	for (int j = 0; j < n->nin; j++) {
		int64_t chunk = cg_ty(c, n->in[j])->dims[axis] * inner * es;
		if (chunk && !concat_in_place(c, n, j, outer, off)) {
			Loop l;
			LLVMValueRef o = cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, outer));
			LLVMValueRef dst = cg_gep(c, c->i8, cg_buf(c, n->out), cg_add(c, cg_mul(c, o, cg_i64(c, orow)), cg_i64(c, off)));
			LLVMValueRef src = cg_gep(c, c->i8, cg_buf(c, n->in[j]), cg_mul(c, o, cg_i64(c, chunk)));
			LLVMBuildMemCpy(c->b, dst, 1, src, 1, cg_i64(c, chunk));
			cg_loop_end(c, &l, 1);
		}
		off += chunk;
	}
}

void cg_lower_pad(Cg *c, const Node *n)
{
	const Type *tx = cg_ty(c, n->in[0]), *ty = cg_ty(c, n->out);
	int cnt, r = ty->rank;
	const int64_t *pads = ir_attr_ints(n, "pads", &cnt);
	double value = ir_attr_float(n, "value", 0);
	LLVMTypeRef et = cg_num_type(c, ty->dt);
	LLVMValueRef fill = ir_dtype_is_float(ty->dt) ? LLVMConstReal(et, value) : LLVMConstInt(et, (long long)value, 1);
	int64_t xs[MAXR], s = 1;
	for (int i = r - 1; i >= 0; i--) {
		xs[i] = s;
		s *= tx->dims[i];
	}
	LLVMValueRef X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out);
	if (r == 0) {
		LLVMBuildStore(c->b, LLVMBuildLoad2(c->b, et, X, ""), Y);
		return;
	}
	const char *mode = ir_attr_str(n, "mode", "constant");
	bool edge = !strcmp(mode, "edge"), reflect = !strcmp(mode, "reflect"), wrap = !strcmp(mode, "wrap");
	Loop loops[MAXR];
	LLVMValueRef ox = cg_i64(c, 0), oy = cg_i64(c, 0), inside = LLVMConstInt(LLVMInt1TypeInContext(c->ctx), 1, 0);
	for (int d = 0; d < r; d++) {
		LLVMValueRef i = cg_loop_begin(c, &loops[d], cg_i64(c, 0), cg_i64(c, ty->dims[d]));
		LLVMValueRef xi = cg_add(c, i, cg_i64(c, -pads[d]));
		int64_t dim = tx->dims[d];
		LLVMValueRef lo = LLVMBuildICmp(c->b, LLVMIntSLT, xi, cg_i64(c, 0), "");
		LLVMValueRef hi = LLVMBuildICmp(c->b, LLVMIntSGE, xi, cg_i64(c, dim), "");
		if (edge) {  /* clamp */
			xi = LLVMBuildSelect(c->b, lo, cg_i64(c, 0), LLVMBuildSelect(c->b, hi, cg_i64(c, dim - 1), xi, ""), "");
		} else if (reflect) {  /* mirror without repeating the edge (pads < dim) */
			xi = LLVMBuildSelect(c->b, lo, LLVMBuildNeg(c->b, xi, ""),
					     LLVMBuildSelect(c->b, hi, LLVMBuildNSWSub(c->b, cg_i64(c, 2 * (dim - 1)), xi, ""), xi, ""), "");
		} else if (wrap) {  /* ((xi mod dim) + dim) mod dim */
			LLVMValueRef m = LLVMBuildSRem(c->b, xi, cg_i64(c, dim), "");
			xi = LLVMBuildSRem(c->b, cg_add(c, m, cg_i64(c, dim)), cg_i64(c, dim), "");
		} else {
			inside = LLVMBuildAnd(c->b, inside, cg_in_range(c, xi, dim), "");
		}
		ox = cg_add(c, ox, cg_mul(c, xi, cg_i64(c, xs[d])));
		oy = cg_add(c, cg_mul(c, oy, cg_i64(c, ty->dims[d])), i);
	}
	LLVMValueRef yp = cg_gep(c, et, Y, oy);
	if (edge || reflect || wrap) {
		LLVMBuildStore(c->b, LLVMBuildLoad2(c->b, et, cg_gep(c, et, X, ox), ""), yp);
		for (int d = r - 1; d >= 0; d--)
			cg_loop_end(c, &loops[d], 1);
		return;
	}
	LLVMBuildStore(c->b, fill, yp);
	LLVMBasicBlockRef end = cg_if_begin(c, inside);
	LLVMBuildStore(c->b, LLVMBuildLoad2(c->b, et, cg_gep(c, et, X, ox), ""), yp);
	cg_if_end(c, end);
	for (int d = r - 1; d >= 0; d--)
		cg_loop_end(c, &loops[d], 1);
}

const char *cg_data_unsupported(const Graph *g, const Node *n)
{
	DType dt = ir_type_get(g, g->values.v[n->in[0]].type)->dt;
	switch (n->op) {
	case OP_LOG_SOFTMAX: case OP_HARDMAX:
		return dt == DT_F32 || dt == DT_F64 ? NULL : "only f32 and f64 are supported for this op";
	case OP_ARGMAX: case OP_ARGMIN: case OP_CUMSUM:
		if (ir_dtype_is_f8(dt) || dt == DT_I4 || dt == DT_U4)
			return "float8 and 4-bit integers are not supported for this op";
		return dt == DT_F16 || dt == DT_BF16 || dt == DT_BOOL ? "f16, bf16 and bool are not supported for this op" : NULL;
	default:
		return NULL;
	}
}
