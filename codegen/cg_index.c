/* Data-dependent indexing: scatters (ScatterElements, ScatterND), GatherND,
 * TopK, OneHot, ReverseSequence, MaxUnpool, MaxPool's argmax, and grid
 * sampling.  Plain loop nests like cg_data.c.  Every index read from a
 * tensor is checked: reads clamp it into its axis, writes skip it, so no
 * input can make these loops touch memory outside their buffers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

#define MAXR IR_MAX_RANK

static LLVMValueRef I(Cg *c, int64_t v) { return cg_i64(c, v); }
static LLVMValueRef add(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWAdd(c->b, a, b, ""); }
static LLVMValueRef sub(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWSub(c->b, a, b, ""); }
static LLVMValueRef mul(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWMul(c->b, a, b, ""); }
static LLVMValueRef sel(Cg *c, LLVMValueRef k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildSelect(c->b, k, a, b, ""); }
static LLVMValueRef icmp(Cg *c, LLVMIntPredicate p, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildICmp(c->b, p, a, b, ""); }
static LLVMValueRef fcmp(Cg *c, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFCmp(c->b, p, a, b, ""); }
static LLVMValueRef and(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAnd(c->b, a, b, ""); }
static LLVMValueRef or(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildOr(c->b, a, b, ""); }
static const Type *TY(Cg *c, ValueId v) { return ir_value_type(c->g, v); }
static LLVMValueRef BUF(Cg *c, ValueId v) { return c->buf[v]; }
static LLVMValueRef i1(Cg *c, bool v) { return LLVMConstInt(LLVMInt1TypeInContext(c->ctx), v, 0); }


static int64_t prod(const int64_t *d, int from, int to)
{
	int64_t k = 1;
	for (int i = from; i < to; i++)
		k *= d[i];
	return k;
}

/* Loops over every element of a shape: returns the linear index and the
 * per-dimension indices in iv[].  Close with end_all. */
static LLVMValueRef loop_all(Cg *c, int rank, const int64_t *dims, Loop *l, LLVMValueRef *iv)
{
	LLVMValueRef lin = I(c, 0);
	for (int d = 0; d < rank; d++) {
		iv[d] = cg_loop_begin(c, &l[d], I(c, 0), I(c, dims[d]));
		lin = add(c, mul(c, lin, I(c, dims[d])), iv[d]);
	}
	return lin;
}

static void end_all(Cg *c, int rank, Loop *l)
{
	for (int d = rank - 1; d >= 0; d--)
		cg_loop_end(c, &l[d], 1);
}

/* An index operand element as i64, a negative one counted from the end of
 * an axis of dim; *ok (if asked) tells whether it is inside the axis.
 * Without ok the index is clamped into [0, dim). */
static LLVMValueRef load_index(Cg *c, ValueId idx, LLVMValueRef at, int64_t dim, LLVMValueRef *ok)
{
	DType dt = TY(c, idx)->dt;
	LLVMValueRef k = cg_load(c, cg_bits_type(c, dt), BUF(c, idx), at);
	if (dt != DT_I64)
		k = LLVMBuildSExt(c->b, k, c->i64, "");
	k = sel(c, icmp(c, LLVMIntSLT, k, I(c, 0)), add(c, k, I(c, dim)), k);
	if (ok) {
		*ok = icmp(c, LLVMIntULT, k, I(c, dim));
		return k;
	}
	k = sel(c, icmp(c, LLVMIntSLT, k, I(c, 0)), I(c, 0), k);
	return sel(c, icmp(c, LLVMIntSGE, k, I(c, dim)), I(c, dim - 1), k);
}

static LLVMValueRef is_nan(Cg *c, LLVMValueRef v) { return fcmp(c, LLVMRealUNO, v, v); }

/* a ranks before b: a > b (largest) or a < b; a NaN is larger than any
 * number, as in numpy's sort. */
static LLVMValueRef ranks_before(Cg *c, DType dt, bool largest, LLVMValueRef a, LLVMValueRef b)
{
	if (ir_dtype_is_float(dt)) {
		LLVMValueRef an = is_nan(c, a), bn = is_nan(c, b);
		if (largest)
			return or(c, fcmp(c, LLVMRealOGT, a, b), and(c, an, LLVMBuildNot(c->b, bn, "")));
		return or(c, fcmp(c, LLVMRealOLT, a, b), and(c, bn, LLVMBuildNot(c->b, an, "")));
	}
	bool s = ir_dtype_is_signed(dt);
	return icmp(c, largest ? (s ? LLVMIntSGT : LLVMIntUGT) : (s ? LLVMIntSLT : LLVMIntULT), a, b);
}

/* ---- scatters ------------------------------------------------------------------------------ */

typedef enum Red { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN } Red;

static Red reduction(const Node *n)
{
	static const char *const names[] = {"none", "add", "mul", "max", "min"};
	const char *s = ir_attr_str(n, "reduction", "none");
	for (int i = 0; i < 5; i++)
		if (!strcmp(s, names[i]))
			return (Red)i;
	return RED_NONE;
}

/* The value a reduction leaves in y given the old y and the update u;
 * max and min propagate NaN (numpy's maximum/minimum). */
static LLVMValueRef reduce(Cg *c, Red r, DType dt, LLVMValueRef y, LLVMValueRef u)
{
	bool f = ir_dtype_is_float(dt), s = ir_dtype_is_signed(dt);
	switch (r) {
	case RED_ADD: return f ? LLVMBuildFAdd(c->b, y, u, "") : LLVMBuildAdd(c->b, y, u, "");
	case RED_MUL: return f ? LLVMBuildFMul(c->b, y, u, "") : LLVMBuildMul(c->b, y, u, "");
	case RED_MAX: case RED_MIN: {
		bool mx = r == RED_MAX;
		if (!f)
			return sel(c, icmp(c, mx ? (s ? LLVMIntSGT : LLVMIntUGT) : (s ? LLVMIntSLT : LLVMIntULT), y, u), y, u);
		LLVMValueRef v = sel(c, fcmp(c, mx ? LLVMRealOGT : LLVMRealOLT, y, u), y, u);
		return sel(c, is_nan(c, y), y, v);  /* a NaN u is already chosen */
	}
	default: return u;
	}
}

/* y starts as a copy of data (memmove: a graph output may share it). */
static void copy_data(Cg *c, const Node *n)
{
	int64_t bytes = ir_type_bytes(TY(c, n->out));
	if (bytes > 0 && BUF(c, n->out) != BUF(c, n->in[0]))
		LLVMBuildMemMove(c->b, BUF(c, n->out), 1, BUF(c, n->in[0]), 1, I(c, bytes));
}

/* y[at] = reduce(y[at], upd[from]) */
static void scatter_one(Cg *c, const Node *n, Red r, LLVMValueRef at, LLVMValueRef from)
{
	DType dt = TY(c, n->out)->dt;
	LLVMTypeRef et = r == RED_NONE ? cg_bits_type(c, dt) : cg_num_type(c, dt);
	LLVMValueRef u = cg_load(c, et, BUF(c, n->in[2]), from);
	if (r != RED_NONE)
		u = reduce(c, r, dt, cg_load(c, et, BUF(c, n->out), at), u);
	cg_store(c, et, u, BUF(c, n->out), at);
}

static void lower_scatter_elements(Cg *c, const Node *n)
{
	const Type *y = TY(c, n->out), *ix = TY(c, n->in[1]);
	int axis = (int)ir_attr_int(n, "axis", 0);
	Red r = reduction(n);
	int64_t ys[MAXR];
	cg_row_strides(y->rank, y->dims, ys);
	copy_data(c, n);
	Loop l[MAXR];
	LLVMValueRef iv[MAXR], ok;
	LLVMValueRef at = loop_all(c, ix->rank, ix->dims, l, iv);
	LLVMValueRef k = load_index(c, n->in[1], at, y->dims[axis], &ok), yo = I(c, 0);
	for (int d = 0; d < y->rank; d++)
		yo = add(c, yo, mul(c, d == axis ? k : iv[d], I(c, ys[d])));
	LLVMBasicBlockRef after = cg_if_begin(c, ok);
	scatter_one(c, n, r, yo, at);
	cg_if_end(c, after);
	end_all(c, ix->rank, l);
}

static void lower_scatter_nd(Cg *c, const Node *n)
{
	const Type *y = TY(c, n->out), *ix = TY(c, n->in[1]);
	Red r = reduction(n);
	int q = ix->rank, m = (int)ix->dims[q - 1];
	int64_t ys[MAXR];
	cg_row_strides(y->rank, y->dims, ys);
	int64_t outer = prod(ix->dims, 0, q - 1), inner = prod(y->dims, m, y->rank);
	copy_data(c, n);
	Loop lo, li;
	LLVMValueRef o = cg_loop_begin(c, &lo, I(c, 0), I(c, outer));
	LLVMValueRef yo = I(c, 0), all = i1(c, true);
	for (int j = 0; j < m; j++) {
		LLVMValueRef ok, k = load_index(c, n->in[1], add(c, mul(c, o, I(c, m)), I(c, j)), y->dims[j], &ok);
		all = and(c, all, ok);
		yo = add(c, yo, mul(c, k, I(c, ys[j])));
	}
	LLVMBasicBlockRef after = cg_if_begin(c, all);
	LLVMValueRef i = cg_loop_begin(c, &li, I(c, 0), I(c, inner));
	scatter_one(c, n, r, add(c, yo, i), add(c, mul(c, o, I(c, inner)), i));
	cg_loop_end(c, &li, 1);
	cg_if_end(c, after);
	cg_loop_end(c, &lo, 1);
}

/* ---- gathers and moves ------------------------------------------------------------------------ */

static void lower_gather_nd(Cg *c, const Node *n)
{
	const Type *x = TY(c, n->in[0]), *ix = TY(c, n->in[1]);
	int b = (int)ir_attr_int(n, "batch_dims", 0), q = ix->rank, m = (int)ix->dims[q - 1];
	int64_t xs[MAXR];
	cg_row_strides(x->rank, x->dims, xs);
	int64_t rows = prod(ix->dims, 0, q - 1), per_batch = prod(ix->dims, b, q - 1), inner = prod(x->dims, b + m, x->rank);
	LLVMTypeRef et = cg_bits_type(c, x->dt);
	Loop lo, li;
	LLVMValueRef o = cg_loop_begin(c, &lo, I(c, 0), I(c, rows));
	/* row o of the indices belongs to batch o / per_batch */
	LLVMValueRef xo = b ? mul(c, LLVMBuildUDiv(c->b, o, I(c, per_batch ? per_batch : 1), ""), I(c, xs[b - 1])) : I(c, 0);
	for (int j = 0; j < m; j++) {
		LLVMValueRef k = load_index(c, n->in[1], add(c, mul(c, o, I(c, m)), I(c, j)), x->dims[b + j], NULL);
		xo = add(c, xo, mul(c, k, I(c, xs[b + j])));
	}
	LLVMValueRef i = cg_loop_begin(c, &li, I(c, 0), I(c, inner));
	cg_store(c, et, cg_load(c, et, BUF(c, n->in[0]), add(c, xo, i)), BUF(c, n->out), add(c, mul(c, o, I(c, inner)), i));
	cg_loop_end(c, &li, 1);
	cg_loop_end(c, &lo, 1);
}

static void lower_reverse_sequence(Cg *c, const Node *n)
{
	const Type *y = TY(c, n->out);
	int ba = (int)ir_attr_int(n, "batch_axis", 1), ta = (int)ir_attr_int(n, "time_axis", 0);
	int64_t ys[MAXR], steps = y->dims[ta];
	cg_row_strides(y->rank, y->dims, ys);
	LLVMTypeRef et = cg_bits_type(c, y->dt);
	Loop l[MAXR];
	LLVMValueRef iv[MAXR];
	LLVMValueRef at = loop_all(c, y->rank, y->dims, l, iv);
	DType ldt = TY(c, n->in[1])->dt;
	LLVMValueRef len = cg_load(c, cg_bits_type(c, ldt), BUF(c, n->in[1]), iv[ba]);
	if (ldt != DT_I64)
		len = LLVMBuildSExt(c->b, len, c->i64, "");
	len = sel(c, icmp(c, LLVMIntSLT, len, I(c, 0)), I(c, 0), len);
	len = sel(c, icmp(c, LLVMIntSGT, len, I(c, steps)), I(c, steps), len);
	LLVMValueRef t = iv[ta];
	LLVMValueRef src = sel(c, icmp(c, LLVMIntSLT, t, len), sub(c, sub(c, len, I(c, 1)), t), t);
	LLVMValueRef from = add(c, at, mul(c, sub(c, src, t), I(c, ys[ta])));
	cg_store(c, et, cg_load(c, et, BUF(c, n->in[0]), from), BUF(c, n->out), at);
	end_all(c, y->rank, l);
}

static void lower_one_hot(Cg *c, const Node *n)
{
	const Type *y = TY(c, n->out), *ix = TY(c, n->in[0]);
	int axis = (int)ir_attr_int(n, "axis", 0);
	int64_t depth = ir_attr_int(n, "depth", 1);
	LLVMTypeRef et = cg_bits_type(c, y->dt);
	LLVMValueRef off = cg_load(c, et, BUF(c, n->in[1]), I(c, 0)), on = cg_load(c, et, BUF(c, n->in[1]), I(c, 1));
	Loop l[MAXR];
	LLVMValueRef iv[MAXR];
	LLVMValueRef at = loop_all(c, y->rank, y->dims, l, iv), io = I(c, 0);
	for (int d = 0; d < y->rank; d++)
		if (d != axis)
			io = add(c, mul(c, io, I(c, y->dims[d])), iv[d]);
	LLVMValueRef k = cg_load(c, cg_num_type(c, ix->dt), BUF(c, n->in[0]), io);
	if (ir_dtype_is_float(ix->dt)) {
		/* Truncate; NaN and values beyond +-2^31 match nothing.  Through
		 * i32: a float-to-i64 conversion is a libgcc call on 32-bit targets. */
		double lim = 2147483520.0;  /* the largest float below 2^31 */
		LLVMTypeRef ft = LLVMTypeOf(k);
		LLVMValueRef fine = and(c, fcmp(c, LLVMRealOGE, k, LLVMConstReal(ft, -lim)), fcmp(c, LLVMRealOLE, k, LLVMConstReal(ft, lim)));
		LLVMValueRef t = LLVMBuildFPToSI(c->b, sel(c, fine, k, LLVMConstReal(ft, 0)), c->i32, "");
		k = sel(c, fine, LLVMBuildSExt(c->b, t, c->i64, ""), I(c, INT64_MIN / 2));
	} else if (ir_dtype_size(ix->dt) < 8) {
		k = ir_dtype_is_signed(ix->dt) ? LLVMBuildSExt(c->b, k, c->i64, "") : LLVMBuildZExt(c->b, k, c->i64, "");
	} else if (ix->dt == DT_U64) {  /* beyond INT64_MAX: matches nothing */
		k = sel(c, icmp(c, LLVMIntSLT, k, I(c, 0)), I(c, INT64_MIN / 2), k);
	}
	k = sel(c, icmp(c, LLVMIntSLT, k, I(c, 0)), LLVMBuildAdd(c->b, k, I(c, depth), ""), k);
	cg_store(c, et, sel(c, icmp(c, LLVMIntEQ, k, iv[axis]), on, off), BUF(c, n->out), at);
	end_all(c, y->rank, l);
}

/* Zeros, then each x element at its flat position in the pooled shape,
 * placed at the same coordinates of the (possibly larger) result. */
static void lower_max_unpool(Cg *c, const Node *n)
{
	const Type *x = TY(c, n->in[0]), *y = TY(c, n->out);
	int r = y->rank, cnt;
	const int64_t *pl = ir_attr_ints(n, "pooled", &cnt);
	int64_t ps[MAXR], ys[MAXR];
	cg_row_strides(r, pl, ps);
	cg_row_strides(r, y->dims, ys);
	bool same = !memcmp(pl, y->dims, sizeof(int64_t) * (size_t)r);
	LLVMTypeRef et = cg_bits_type(c, y->dt);
	int64_t bytes = ir_type_bytes(y);
	if (bytes > 0)
		LLVMBuildMemSet(c->b, BUF(c, n->out), LLVMConstInt(c->i8, 0, 0), I(c, bytes), 1);
	Loop l;
	LLVMValueRef e = cg_loop_begin(c, &l, I(c, 0), I(c, ir_type_numel(x)));
	DType idt = TY(c, n->in[1])->dt;
	LLVMValueRef k = cg_load(c, cg_bits_type(c, idt), BUF(c, n->in[1]), e);
	if (idt != DT_I64)
		k = LLVMBuildSExt(c->b, k, c->i64, "");
	LLVMValueRef ok = icmp(c, LLVMIntULT, k, I(c, prod(pl, 0, r)));
	k = sel(c, ok, k, I(c, 0));
	LLVMValueRef at = k;
	if (!same) {
		at = I(c, 0);
		for (int d = 0; d < r; d++) {
			LLVMValueRef cd = LLVMBuildURem(c->b, LLVMBuildUDiv(c->b, k, I(c, ps[d]), ""), I(c, pl[d] ? pl[d] : 1), "");
			if (pl[d] > y->dims[d])
				ok = and(c, ok, icmp(c, LLVMIntULT, cd, I(c, y->dims[d])));
			at = add(c, at, mul(c, cd, I(c, ys[d])));
		}
	}
	LLVMBasicBlockRef after = cg_if_begin(c, ok);
	cg_store(c, et, cg_load(c, et, BUF(c, n->in[0]), e), BUF(c, n->out), at);
	cg_if_end(c, after);
	cg_loop_end(c, &l, 1);
}

/* ---- top-k ----------------------------------------------------------------------------------- */

/* Per lane along the axis, an insertion into the k best seen so far, kept
 * in the result itself (positions; values are read back through them).
 * Elements arrive in order and only a strictly better one moves ahead,
 * so equal values keep the lower position first.  O(len * k). */
static void lower_topk(Cg *c, const Node *n)
{
	const Type *x = TY(c, n->in[0]);
	int axis = (int)ir_attr_int(n, "axis", 0);
	int64_t k = ir_attr_int(n, "k", 1), len = x->dims[axis];
	bool largest = ir_attr_int(n, "largest", 1) != 0;
	int64_t outer = prod(x->dims, 0, axis), inner = prod(x->dims, axis + 1, x->rank);
	if (k == 0 || outer * inner == 0)
		return;
	LLVMTypeRef et = cg_num_type(c, x->dt);
	LLVMValueRef X = BUF(c, n->in[0]), Y = BUF(c, n->out);
	LLVMValueRef cnt = cg_entry_alloca(c, c->i64), jp = cg_entry_alloca(c, c->i64);
	Loop lo, li, lk;
	LLVMValueRef o = cg_loop_begin(c, &lo, I(c, 0), I(c, outer));
	LLVMValueRef ii = cg_loop_begin(c, &li, I(c, 0), I(c, inner));
	LLVMValueRef xb = add(c, mul(c, o, I(c, len * inner)), ii), yb = add(c, mul(c, o, I(c, k * inner)), ii);
	LLVMBuildStore(c->b, I(c, 0), cnt);
	LLVMValueRef i = cg_loop_begin(c, &lk, I(c, 0), I(c, len));
	LLVMValueRef v = cg_load(c, et, X, add(c, xb, mul(c, i, I(c, inner))));
	LLVMValueRef n0 = LLVMBuildLoad2(c->b, c->i64, cnt, "");
	LLVMValueRef full = icmp(c, LLVMIntEQ, n0, I(c, k));
	/* Full: v must beat the current last (read only when it exists). */
	LLVMBasicBlockRef from = LLVMGetInsertBlock(c->b);
	LLVMBasicBlockRef chk = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "topk.last");
	LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "topk.take");
	LLVMBuildCondBr(c->b, full, chk, join);
	LLVMPositionBuilderAtEnd(c->b, chk);
	LLVMValueRef last = cg_load(c, c->i64, Y, add(c, yb, I(c, (k - 1) * inner)));
	LLVMValueRef beats = ranks_before(c, x->dt, largest, v, cg_load(c, et, X, add(c, xb, mul(c, last, I(c, inner)))));
	LLVMBasicBlockRef chk_end = LLVMGetInsertBlock(c->b);
	LLVMBuildBr(c->b, join);
	LLVMPositionBuilderAtEnd(c->b, join);
	LLVMValueRef take = LLVMBuildPhi(c->b, LLVMInt1TypeInContext(c->ctx), "");
	LLVMValueRef tv[2] = {i1(c, true), beats};
	LLVMBasicBlockRef tb[2] = {from, chk_end};
	LLVMAddIncoming(take, tv, tb, 2);
	LLVMBasicBlockRef done = cg_if_begin(c, take);
	/* Shift worse entries down from slot min(n0, k-1), then insert. */
	LLVMBuildStore(c->b, sel(c, full, I(c, k - 1), n0), jp);
	LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "topk.head");
	LLVMBasicBlockRef cmp = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "topk.cmp");
	LLVMBasicBlockRef shift = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "topk.shift");
	LLVMBasicBlockRef put = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "topk.put");
	LLVMBuildBr(c->b, head);
	LLVMPositionBuilderAtEnd(c->b, head);
	LLVMValueRef j = LLVMBuildLoad2(c->b, c->i64, jp, "");
	LLVMBuildCondBr(c->b, icmp(c, LLVMIntSGT, j, I(c, 0)), cmp, put);
	LLVMPositionBuilderAtEnd(c->b, cmp);
	LLVMValueRef prev_at = add(c, yb, mul(c, sub(c, j, I(c, 1)), I(c, inner)));
	LLVMValueRef prev = cg_load(c, c->i64, Y, prev_at);
	LLVMValueRef better = ranks_before(c, x->dt, largest, v, cg_load(c, et, X, add(c, xb, mul(c, prev, I(c, inner)))));
	LLVMBuildCondBr(c->b, better, shift, put);
	LLVMPositionBuilderAtEnd(c->b, shift);
	cg_store(c, c->i64, prev, Y, add(c, yb, mul(c, j, I(c, inner))));
	LLVMBuildStore(c->b, sub(c, j, I(c, 1)), jp);
	LLVMBuildBr(c->b, head);
	LLVMPositionBuilderAtEnd(c->b, put);
	LLVMValueRef jf = LLVMBuildLoad2(c->b, c->i64, jp, "");
	cg_store(c, c->i64, i, Y, add(c, yb, mul(c, jf, I(c, inner))));
	LLVMBuildStore(c->b, sel(c, full, n0, add(c, n0, I(c, 1))), cnt);
	cg_if_end(c, done);
	cg_loop_end(c, &lk, 1);
	cg_loop_end(c, &li, 1);
	cg_loop_end(c, &lo, 1);
}

/* ---- max pooling's argmax ----------------------------------------------------------------------- */

/* The flat position in x of each window's first maximum: (n*C + c) times
 * the spatial size plus the spatial offset, row-major or (storage_order 1)
 * column-major.  As the ONNX reference: the first element inside the input
 * is taken, then only a strictly greater one; a window wholly in padding
 * gives coordinates -1. */
static void lower_maxpool_index(Cg *c, const Node *n)
{
	const Type *x = TY(c, n->in[0]), *y = TY(c, n->out);
	int nsp = x->rank - 2, cnt;
	const int64_t *k = ir_attr_ints(n, "kernel", &cnt), *st_ = ir_attr_ints(n, "strides", &cnt);
	const int64_t *pd = ir_attr_ints(n, "pads", &cnt), *dl = ir_attr_ints(n, "dilations", &cnt);
	bool colmajor = ir_attr_int(n, "storage_order", 0) != 0;
	int64_t xin = prod(x->dims, 2, x->rank), yin = prod(y->dims, 2, y->rank);
	int64_t rs[MAXR], cs[MAXR], none = 0;
	cg_row_strides(nsp, x->dims + 2, rs);
	for (int64_t i = 0, s = 1; i < nsp; s *= x->dims[2 + i], i++)
		cs[i] = s;
	for (int i = 0; i < nsp; i++)
		none -= colmajor ? cs[i] : rs[i];
	LLVMTypeRef et = cg_num_type(c, x->dt);
	LLVMValueRef X = BUF(c, n->in[0]), Y = BUF(c, n->out);
	LLVMValueRef best = cg_entry_alloca(c, et), bi = cg_entry_alloca(c, c->i64), found = cg_entry_alloca(c, LLVMInt1TypeInContext(c->ctx));
	Loop lp, lo[MAXR], lk[MAXR];
	LLVMValueRef pc = cg_loop_begin(c, &lp, I(c, 0), I(c, x->dims[0] * x->dims[1]));
	LLVMValueRef o[MAXR], yo = I(c, 0);
	for (int i = 0; i < nsp; i++) {
		o[i] = cg_loop_begin(c, &lo[i], I(c, 0), I(c, y->dims[2 + i]));
		yo = add(c, mul(c, yo, I(c, y->dims[2 + i])), o[i]);
	}
	LLVMBuildStore(c->b, LLVMConstNull(et), best);
	LLVMBuildStore(c->b, I(c, none), bi);
	LLVMBuildStore(c->b, i1(c, false), found);
	LLVMValueRef ok = i1(c, true), xo = I(c, 0), so = I(c, 0);
	for (int i = 0; i < nsp; i++) {
		LLVMValueRef kk = cg_loop_begin(c, &lk[i], I(c, 0), I(c, k[i]));
		LLVMValueRef ix = add(c, mul(c, o[i], I(c, st_[i])), add(c, mul(c, kk, I(c, dl[i])), I(c, -pd[i])));
		ok = and(c, ok, icmp(c, LLVMIntULT, ix, I(c, x->dims[2 + i])));
		xo = add(c, mul(c, xo, I(c, x->dims[2 + i])), ix);
		so = add(c, so, mul(c, ix, I(c, colmajor ? cs[i] : rs[i])));
	}
	LLVMValueRef v = cg_load(c, et, X, add(c, mul(c, pc, I(c, xin)), sel(c, ok, xo, I(c, 0))));
	LLVMValueRef b = LLVMBuildLoad2(c->b, et, best, ""), f = LLVMBuildLoad2(c->b, LLVMInt1TypeInContext(c->ctx), found, "");
	LLVMValueRef gt = ir_dtype_is_float(x->dt) ? fcmp(c, LLVMRealOGT, v, b)
			  : icmp(c, ir_dtype_is_signed(x->dt) ? LLVMIntSGT : LLVMIntUGT, v, b);
	LLVMValueRef upd = and(c, ok, or(c, LLVMBuildNot(c->b, f, ""), gt));
	LLVMBuildStore(c->b, sel(c, upd, v, b), best);
	LLVMBuildStore(c->b, sel(c, upd, so, LLVMBuildLoad2(c->b, c->i64, bi, "")), bi);
	LLVMBuildStore(c->b, or(c, f, ok), found);
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lk[i], 1);
	LLVMValueRef res = add(c, mul(c, pc, I(c, xin)), LLVMBuildLoad2(c->b, c->i64, bi, ""));
	cg_store(c, c->i64, res, Y, add(c, mul(c, pc, I(c, yin)), yo));
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lo[i], 1);
	cg_loop_end(c, &lp, 1);
}

/* ---- grid sampling ------------------------------------------------------------------------------- */

typedef enum GsPad { GS_ZEROS, GS_BORDER, GS_REFLECT } GsPad;

static LLVMValueRef F(Cg *c, double v) { return cg_f32(c, v); }
static LLVMValueRef fadd(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(c->b, a, b, ""); }
static LLVMValueRef fsub(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(c->b, a, b, ""); }
static LLVMValueRef fmul(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(c->b, a, b, ""); }
static LLVMValueRef ffloor(Cg *c, LLVMValueRef a) { return cg_round_dir(c, a, false); }

static LLVMValueRef fclamp(Cg *c, LLVMValueRef v, double lo, double hi)
{
	v = sel(c, fcmp(c, LLVMRealOLT, v, F(c, lo)), F(c, lo), v);
	return sel(c, fcmp(c, LLVMRealOGT, v, F(c, hi)), F(c, hi), v);
}

/* Reflect v by the borders lo and hi until it lies between them (as the
 * ONNX reference: whole spans flip the side). */
static LLVMValueRef reflect(Cg *c, LLVMValueRef v, double lo, double hi)
{
	double span = hi - lo;
	if (span <= 0)
		return sel(c, is_nan(c, v), v, F(c, lo));
	LLVMValueRef below = fcmp(c, LLVMRealOLT, v, F(c, lo)), above = fcmp(c, LLVMRealOGT, v, F(c, hi));
	LLVMValueRef dx = sel(c, below, fsub(c, F(c, lo), v), fsub(c, v, F(c, hi)));
	LLVMValueRef nspan = ffloor(c, LLVMBuildFDiv(c->b, dx, F(c, span), ""));
	LLVMValueRef r = fsub(c, dx, fmul(c, nspan, F(c, span)));
	LLVMValueRef half = fmul(c, nspan, F(c, 0.5));
	LLVMValueRef even = fcmp(c, LLVMRealOEQ, ffloor(c, half), half);
	LLVMValueRef near_lo = fadd(c, F(c, lo), r), near_hi = fsub(c, F(c, hi), r);
	LLVMValueRef fb = sel(c, even, near_lo, near_hi), fa = sel(c, even, near_hi, near_lo);
	return sel(c, below, fb, sel(c, above, fa, v));
}

/* A float that holds an integer (or NaN, or something huge) as i64: out
 * of +-2^30 becomes -2^30, which every padding mode handles safely.  The
 * conversion goes through i32 (float/i64 conversions are libgcc calls on
 * 32-bit targets). */
static LLVMValueRef to_index(Cg *c, LLVMValueRef f)
{
	double lim = 1073741824.0;
	LLVMValueRef fine = and(c, fcmp(c, LLVMRealOGE, f, F(c, -lim)), fcmp(c, LLVMRealOLE, f, F(c, lim)));
	LLVMValueRef i = LLVMBuildSExt(c->b, LLVMBuildFPToSI(c->b, sel(c, fine, f, F(c, 0)), c->i32, ""), c->i64, "");
	return sel(c, fine, i, I(c, -(int64_t)lim));
}

/* One tap position along an axis of dim: the index to read and whether it
 * contributes (zeros padding: only inside). */
static void tap_index(Cg *c, GsPad pad, LLVMValueRef i, int64_t dim, double lo, double hi, LLVMValueRef *at,
		      LLVMValueRef *valid)
{
	*valid = i1(c, true);
	if (pad == GS_ZEROS) {
		*valid = icmp(c, LLVMIntULT, i, I(c, dim));
		*at = sel(c, *valid, i, I(c, 0));
		return;
	}
	if (pad == GS_REFLECT)
		i = to_index(c, reflect(c, LLVMBuildSIToFP(c->b, LLVMBuildTrunc(c->b, i, c->i32, ""), c->f32, ""), lo, hi));
	/* border, and reflection's rounding at the edges */
	i = sel(c, icmp(c, LLVMIntSLT, i, I(c, 0)), I(c, 0), i);
	*at = sel(c, icmp(c, LLVMIntSGT, i, I(c, dim - 1)), I(c, dim - 1), i);
}

/* Keys' cubic convolution weights (a = -0.75) for fraction t. */
static void cubic_weights(Cg *c, LLVMValueRef t, LLVMValueRef *w)
{
	const double A = -0.75;
	LLVMValueRef one = F(c, 1);
	LLVMValueRef d[4] = {fadd(c, t, one), t, fsub(c, one, t), fsub(c, F(c, 2), t)};
	for (int i = 0; i < 4; i++) {
		LLVMValueRef x = d[i];
		if (i == 0 || i == 3)  /* ((A x - 5A) x + 8A) x - 4A */
			w[i] = fsub(c, fmul(c, fadd(c, fmul(c, fsub(c, fmul(c, F(c, A), x), F(c, 5 * A)), x), F(c, 8 * A)), x), F(c, 4 * A));
		else  /* ((A+2) x - (A+3)) x x + 1 */
			w[i] = fadd(c, fmul(c, fmul(c, fsub(c, fmul(c, F(c, A + 2), x), F(c, A + 3)), x), x), one);
	}
}

static void lower_grid_sample(Cg *c, const Node *n)
{
	const Type *x = TY(c, n->in[0]), *y = TY(c, n->out);
	int nsp = x->rank - 2;
	const char *mode = ir_attr_str(n, "mode", "linear"), *pads = ir_attr_str(n, "padding", "zeros");
	bool align = ir_attr_int(n, "align_corners", 0) != 0;
	int taps = !strcmp(mode, "nearest") ? 1 : !strcmp(mode, "linear") ? 2 : 4;
	GsPad pad = !strcmp(pads, "border") ? GS_BORDER : !strcmp(pads, "reflection") ? GS_REFLECT : GS_ZEROS;
	int64_t xin = prod(x->dims, 2, x->rank), yin = prod(y->dims, 2, y->rank), xs[MAXR];
	cg_row_strides(nsp, x->dims + 2, xs);
	LLVMValueRef X = BUF(c, n->in[0]), G = BUF(c, n->in[1]), Y = BUF(c, n->out);
	Loop ln, lp, lc;
	LLVMValueRef nb = cg_loop_begin(c, &ln, I(c, 0), I(c, x->dims[0]));
	LLVMValueRef p = cg_loop_begin(c, &lp, I(c, 0), I(c, yin));
	LLVMValueRef gb = mul(c, add(c, mul(c, nb, I(c, yin)), p), I(c, nsp));
	/* Per spatial axis: the taps' indices, validity and weights. */
	LLVMValueRef at[MAXR][4], ok[MAXR][4], w[MAXR][4];
	for (int d = 0; d < nsp; d++) {
		double dim = (double)x->dims[2 + d];
		double lo = align ? 0 : -0.5, hi = align ? dim - 1 : dim - 0.5;
		/* the grid lists coordinates innermost axis first */
		LLVMValueRef g = cg_loadf(c, G, add(c, gb, I(c, nsp - 1 - d)));
		LLVMValueRef v = align ? fmul(c, fmul(c, fadd(c, g, F(c, 1)), F(c, 0.5)), F(c, dim - 1))
				       : fmul(c, fsub(c, fmul(c, fadd(c, g, F(c, 1)), F(c, dim)), F(c, 1)), F(c, 0.5));
		if (taps == 1)
			v = cg_round_even(c, v);  /* nearest: half to even, as PyTorch */
		if (pad != GS_ZEROS) {
			LLVMValueRef out = or(c, fcmp(c, LLVMRealOLT, v, F(c, lo)), fcmp(c, LLVMRealOGT, v, F(c, hi)));
			v = sel(c, out, pad == GS_BORDER ? fclamp(c, v, 0, dim - 1) : reflect(c, v, lo, hi), v);
		}
		if (taps == 1) {
			/* nearest reads the coordinate truncated (it is whole already) */
			tap_index(c, pad, to_index(c, v), x->dims[2 + d], lo, hi, &at[d][0], &ok[d][0]);
			w[d][0] = F(c, 1);
			continue;
		}
		LLVMValueRef f = ffloor(c, v), i0 = to_index(c, f), t = fsub(c, v, f);
		if (taps == 2) {
			w[d][0] = fsub(c, F(c, 1), t);
			w[d][1] = t;
		} else {
			cubic_weights(c, t, w[d]);
		}
		int first = taps == 4 ? -1 : 0;
		for (int j = 0; j < taps; j++)
			tap_index(c, pad, add(c, i0, I(c, first + j)), x->dims[2 + d], lo, hi, &at[d][j], &ok[d][j]);
	}
	/* Every tap combination, unrolled: its offset, validity and weight. */
	int ncomb = 1;
	for (int d = 0; d < nsp; d++)
		ncomb *= taps;
	LLVMValueRef *co = malloc(sizeof(LLVMValueRef) * 3 * (size_t)ncomb);
	if (!co)
		die("out of memory");
	for (int t = 0; t < ncomb; t++) {
		LLVMValueRef off = I(c, 0), valid = i1(c, true), wt = NULL;
		for (int d = 0, r = t; d < nsp; d++, r /= taps) {
			int j = r % taps;
			off = add(c, off, mul(c, at[d][j], I(c, xs[d])));
			valid = and(c, valid, ok[d][j]);
			wt = wt ? fmul(c, wt, w[d][j]) : w[d][j];
		}
		co[3 * t] = off, co[3 * t + 1] = valid, co[3 * t + 2] = wt;
	}
	LLVMValueRef ch = cg_loop_begin(c, &lc, I(c, 0), I(c, x->dims[1]));
	LLVMValueRef plane = mul(c, add(c, mul(c, nb, I(c, x->dims[1])), ch), I(c, xin));
	LLVMValueRef acc = NULL;
	for (int t = 0; t < ncomb; t++) {
		LLVMValueRef v = cg_loadf(c, X, add(c, plane, co[3 * t]));
		v = fmul(c, co[3 * t + 2], sel(c, co[3 * t + 1], v, F(c, 0)));
		acc = acc ? fadd(c, acc, v) : v;
	}
	free(co);
	LLVMValueRef yo = add(c, mul(c, add(c, mul(c, nb, I(c, x->dims[1])), ch), I(c, yin)), p);
	cg_storef(c, acc, Y, yo);
	cg_loop_end(c, &lc, 1);
	cg_loop_end(c, &lp, 1);
	cg_loop_end(c, &ln, 1);
}

/* ---- dispatch ------------------------------------------------------------------------------------ */

bool cg_is_index(Op op) { return op >= OP_SCATTER_ELEMENTS && op <= OP_MAXPOOL_INDEX; }

bool cg_lower_index(Cg *c, const Node *n)
{
	switch (n->op) {
	case OP_SCATTER_ELEMENTS: lower_scatter_elements(c, n); return true;
	case OP_SCATTER_ND: lower_scatter_nd(c, n); return true;
	case OP_GATHER_ND: lower_gather_nd(c, n); return true;
	case OP_TOPK: lower_topk(c, n); return true;
	case OP_ONE_HOT: lower_one_hot(c, n); return true;
	case OP_GRID_SAMPLE: lower_grid_sample(c, n); return true;
	case OP_REVERSE_SEQUENCE: lower_reverse_sequence(c, n); return true;
	case OP_MAX_UNPOOL: lower_max_unpool(c, n); return true;
	case OP_MAXPOOL_INDEX: lower_maxpool_index(c, n); return true;
	default: return false;
	}
}

const char *cg_index_unsupported(const Graph *g, const Node *n)
{
	DType dt = ir_type_get(g, g->values.v[n->in[0]].type)->dt;
	bool half = dt == DT_F16 || dt == DT_BF16;
	switch (n->op) {
	case OP_SCATTER_ELEMENTS: case OP_SCATTER_ND:
		return half && strcmp(ir_attr_str(n, "reduction", "none"), "none") ? "f16/bf16 scatter reductions are not supported" : NULL;
	case OP_GRID_SAMPLE: {
		if (dt != DT_F32)
			return "only f32 is supported for this op";
		int64_t taps = !strcmp(ir_attr_str(n, "mode", ""), "cubic") ? 4 : 2, combos = 1;
		for (int i = 2; i < ir_type_get(g, g->values.v[n->in[0]].type)->rank; i++)
			combos *= taps;
		return combos > 4096 ? "too many spatial axes for this interpolation (its taps are unrolled)" : NULL;
	}
	case OP_MAXPOOL_INDEX:
		return half || dt == DT_BOOL ? "f16, bf16 and bool are not supported for this op" : NULL;
	default:
		return NULL;
	}
}
