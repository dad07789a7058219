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
	LLVMValueRef lin = cg_i64(c, 0);
	for (int d = 0; d < rank; d++) {
		iv[d] = cg_loop_begin(c, &l[d], cg_i64(c, 0), cg_i64(c, dims[d]));
		lin = cg_add(c, cg_mul(c, lin, cg_i64(c, dims[d])), iv[d]);
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
	DType dt = cg_ty(c, idx)->dt;
	LLVMValueRef k = cg_load(c, cg_bits_type(c, dt), cg_buf(c, idx), at);
	if (dt != DT_I64)
		k = LLVMBuildSExt(c->b, k, c->i64, "");
	k = cg_sel(c, cg_icmp(c, LLVMIntSLT, k, cg_i64(c, 0)), cg_add(c, k, cg_i64(c, dim)), k);
	if (ok) {
		*ok = cg_icmp(c, LLVMIntULT, k, cg_i64(c, dim));
		return k;
	}
	k = cg_sel(c, cg_icmp(c, LLVMIntSLT, k, cg_i64(c, 0)), cg_i64(c, 0), k);
	return cg_sel(c, cg_icmp(c, LLVMIntSGE, k, cg_i64(c, dim)), cg_i64(c, dim - 1), k);
}

static LLVMValueRef is_nan(Cg *c, LLVMValueRef v) { return cg_fcmp(c, LLVMRealUNO, v, v); }

/* a ranks before b: a > b (largest) or a < b; a NaN is larger than any
 * number, as in numpy's sort. */
static LLVMValueRef ranks_before(Cg *c, DType dt, bool largest, LLVMValueRef a, LLVMValueRef b)
{
	if (ir_dtype_is_float(dt)) {
		LLVMValueRef an = is_nan(c, a), bn = is_nan(c, b);
		if (largest)
			return cg_or(c, cg_fcmp(c, LLVMRealOGT, a, b), cg_and(c, an, LLVMBuildNot(c->b, bn, "")));
		return cg_or(c, cg_fcmp(c, LLVMRealOLT, a, b), cg_and(c, bn, LLVMBuildNot(c->b, an, "")));
	}
	bool s = ir_dtype_is_signed(dt);
	return cg_icmp(c, largest ? (s ? LLVMIntSGT : LLVMIntUGT) : (s ? LLVMIntSLT : LLVMIntULT), a, b);
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
			return cg_sel(c, cg_icmp(c, mx ? (s ? LLVMIntSGT : LLVMIntUGT) : (s ? LLVMIntSLT : LLVMIntULT), y, u), y, u);
		LLVMValueRef v = cg_sel(c, cg_fcmp(c, mx ? LLVMRealOGT : LLVMRealOLT, y, u), y, u);
		return cg_sel(c, is_nan(c, y), y, v);  /* a NaN u is already chosen */
	}
	default: return u;
	}
}

/* y starts as a copy of data (memmove: a graph output may share it). */
static void copy_data(Cg *c, const Node *n)
{
	int64_t bytes = ir_type_bytes(cg_ty(c, n->out));
	if (bytes > 0 && cg_buf(c, n->out) != cg_buf(c, n->in[0]))
		LLVMBuildMemMove(c->b, cg_buf(c, n->out), 1, cg_buf(c, n->in[0]), 1, cg_i64(c, bytes));
}

/* y[at] = reduce(y[at], upd[from]) */
static void scatter_one(Cg *c, const Node *n, Red r, LLVMValueRef at, LLVMValueRef from)
{
	DType dt = cg_ty(c, n->out)->dt;
	LLVMTypeRef et = r == RED_NONE ? cg_bits_type(c, dt) : cg_num_type(c, dt);
	LLVMValueRef u = cg_load(c, et, cg_buf(c, n->in[2]), from);
	if (r != RED_NONE)
		u = reduce(c, r, dt, cg_load(c, et, cg_buf(c, n->out), at), u);
	cg_store(c, et, u, cg_buf(c, n->out), at);
}

void cg_lower_scatter_elements(Cg *c, const Node *n)
{
	const Type *y = cg_ty(c, n->out), *ix = cg_ty(c, n->in[1]);
	int axis = (int)ir_attr_int(n, "axis", 0);
	Red r = reduction(n);
	int64_t ys[MAXR];
	cg_row_strides(y->rank, y->dims, ys);
	copy_data(c, n);
	Loop l[MAXR];
	LLVMValueRef iv[MAXR], ok;
	LLVMValueRef at = loop_all(c, ix->rank, ix->dims, l, iv);
	LLVMValueRef k = load_index(c, n->in[1], at, y->dims[axis], &ok), yo = cg_i64(c, 0);
	for (int d = 0; d < y->rank; d++)
		yo = cg_add(c, yo, cg_mul(c, d == axis ? k : iv[d], cg_i64(c, ys[d])));
	LLVMBasicBlockRef after = cg_if_begin(c, ok);
	scatter_one(c, n, r, yo, at);
	cg_if_end(c, after);
	end_all(c, ix->rank, l);
}

void cg_lower_scatter_nd(Cg *c, const Node *n)
{
	const Type *y = cg_ty(c, n->out), *ix = cg_ty(c, n->in[1]);
	Red r = reduction(n);
	int q = ix->rank, m = (int)ix->dims[q - 1];
	int64_t ys[MAXR];
	cg_row_strides(y->rank, y->dims, ys);
	int64_t outer = prod(ix->dims, 0, q - 1), inner = prod(y->dims, m, y->rank);
	copy_data(c, n);
	Loop lo, li;
	LLVMValueRef o = cg_loop_begin(c, &lo, cg_i64(c, 0), cg_i64(c, outer));
	LLVMValueRef yo = cg_i64(c, 0), all = i1(c, true);
	for (int j = 0; j < m; j++) {
		LLVMValueRef ok, k = load_index(c, n->in[1], cg_add(c, cg_mul(c, o, cg_i64(c, m)), cg_i64(c, j)), y->dims[j], &ok);
		all = cg_and(c, all, ok);
		yo = cg_add(c, yo, cg_mul(c, k, cg_i64(c, ys[j])));
	}
	LLVMBasicBlockRef after = cg_if_begin(c, all);
	LLVMValueRef i = cg_loop_begin(c, &li, cg_i64(c, 0), cg_i64(c, inner));
	scatter_one(c, n, r, cg_add(c, yo, i), cg_add(c, cg_mul(c, o, cg_i64(c, inner)), i));
	cg_loop_end(c, &li, 1);
	cg_if_end(c, after);
	cg_loop_end(c, &lo, 1);
}

/* ---- gathers and moves ------------------------------------------------------------------------ */

void cg_lower_gather_nd(Cg *c, const Node *n)
{
	const Type *x = cg_ty(c, n->in[0]), *ix = cg_ty(c, n->in[1]);
	int b = (int)ir_attr_int(n, "batch_dims", 0), q = ix->rank, m = (int)ix->dims[q - 1];
	int64_t xs[MAXR];
	cg_row_strides(x->rank, x->dims, xs);
	int64_t rows = prod(ix->dims, 0, q - 1), per_batch = prod(ix->dims, b, q - 1), inner = prod(x->dims, b + m, x->rank);
	LLVMTypeRef et = cg_bits_type(c, x->dt);
	Loop lo, li;
	LLVMValueRef o = cg_loop_begin(c, &lo, cg_i64(c, 0), cg_i64(c, rows));
	/* row o of the indices belongs to batch o / per_batch */
	LLVMValueRef xo = b ? cg_mul(c, LLVMBuildUDiv(c->b, o, cg_i64(c, per_batch ? per_batch : 1), ""), cg_i64(c, xs[b - 1])) : cg_i64(c, 0);
	for (int j = 0; j < m; j++) {
		LLVMValueRef k = load_index(c, n->in[1], cg_add(c, cg_mul(c, o, cg_i64(c, m)), cg_i64(c, j)), x->dims[b + j], NULL);
		xo = cg_add(c, xo, cg_mul(c, k, cg_i64(c, xs[b + j])));
	}
	LLVMValueRef i = cg_loop_begin(c, &li, cg_i64(c, 0), cg_i64(c, inner));
	cg_store(c, et, cg_load(c, et, cg_buf(c, n->in[0]), cg_add(c, xo, i)), cg_buf(c, n->out), cg_add(c, cg_mul(c, o, cg_i64(c, inner)), i));
	cg_loop_end(c, &li, 1);
	cg_loop_end(c, &lo, 1);
}

void cg_lower_reverse_sequence(Cg *c, const Node *n)
{
	const Type *y = cg_ty(c, n->out);
	int ba = (int)ir_attr_int(n, "batch_axis", 1), ta = (int)ir_attr_int(n, "time_axis", 0);
	int64_t ys[MAXR], steps = y->dims[ta];
	cg_row_strides(y->rank, y->dims, ys);
	LLVMTypeRef et = cg_bits_type(c, y->dt);
	Loop l[MAXR];
	LLVMValueRef iv[MAXR];
	LLVMValueRef at = loop_all(c, y->rank, y->dims, l, iv);
	DType ldt = cg_ty(c, n->in[1])->dt;
	LLVMValueRef len = cg_load(c, cg_bits_type(c, ldt), cg_buf(c, n->in[1]), iv[ba]);
	if (ldt != DT_I64)
		len = LLVMBuildSExt(c->b, len, c->i64, "");
	len = cg_sel(c, cg_icmp(c, LLVMIntSLT, len, cg_i64(c, 0)), cg_i64(c, 0), len);
	len = cg_sel(c, cg_icmp(c, LLVMIntSGT, len, cg_i64(c, steps)), cg_i64(c, steps), len);
	LLVMValueRef t = iv[ta];
	LLVMValueRef src = cg_sel(c, cg_icmp(c, LLVMIntSLT, t, len), cg_sub(c, cg_sub(c, len, cg_i64(c, 1)), t), t);
	LLVMValueRef from = cg_add(c, at, cg_mul(c, cg_sub(c, src, t), cg_i64(c, ys[ta])));
	cg_store(c, et, cg_load(c, et, cg_buf(c, n->in[0]), from), cg_buf(c, n->out), at);
	end_all(c, y->rank, l);
}

void cg_lower_one_hot(Cg *c, const Node *n)
{
	const Type *y = cg_ty(c, n->out), *ix = cg_ty(c, n->in[0]);
	int axis = (int)ir_attr_int(n, "axis", 0);
	int64_t depth = ir_attr_int(n, "depth", 1);
	LLVMTypeRef et = cg_bits_type(c, y->dt);
	LLVMValueRef off = cg_load(c, et, cg_buf(c, n->in[1]), cg_i64(c, 0)), on = cg_load(c, et, cg_buf(c, n->in[1]), cg_i64(c, 1));
	Loop l[MAXR];
	LLVMValueRef iv[MAXR];
	LLVMValueRef at = loop_all(c, y->rank, y->dims, l, iv), io = cg_i64(c, 0);
	for (int d = 0; d < y->rank; d++)
		if (d != axis)
			io = cg_add(c, cg_mul(c, io, cg_i64(c, y->dims[d])), iv[d]);
	LLVMValueRef k = cg_load(c, cg_num_type(c, ix->dt), cg_buf(c, n->in[0]), io);
	if (ir_dtype_is_float(ix->dt)) {
		/* Truncate; NaN and values beyond +-2^31 match nothing.  Through
		 * i32: a float-to-i64 conversion is a libgcc call on 32-bit targets. */
		double lim = 2147483520.0;  /* the largest float below 2^31 */
		LLVMTypeRef ft = LLVMTypeOf(k);
		LLVMValueRef fine = cg_and(c, cg_fcmp(c, LLVMRealOGE, k, LLVMConstReal(ft, -lim)), cg_fcmp(c, LLVMRealOLE, k, LLVMConstReal(ft, lim)));
		LLVMValueRef t = LLVMBuildFPToSI(c->b, cg_sel(c, fine, k, LLVMConstReal(ft, 0)), c->i32, "");
		k = cg_sel(c, fine, LLVMBuildSExt(c->b, t, c->i64, ""), cg_i64(c, INT64_MIN / 2));
	} else if (ir_dtype_size(ix->dt) < 8) {
		k = ir_dtype_is_signed(ix->dt) ? LLVMBuildSExt(c->b, k, c->i64, "") : LLVMBuildZExt(c->b, k, c->i64, "");
	} else if (ix->dt == DT_U64) {  /* beyond INT64_MAX: matches nothing */
		k = cg_sel(c, cg_icmp(c, LLVMIntSLT, k, cg_i64(c, 0)), cg_i64(c, INT64_MIN / 2), k);
	}
	k = cg_sel(c, cg_icmp(c, LLVMIntSLT, k, cg_i64(c, 0)), LLVMBuildAdd(c->b, k, cg_i64(c, depth), ""), k);
	cg_store(c, et, cg_sel(c, cg_icmp(c, LLVMIntEQ, k, iv[axis]), on, off), cg_buf(c, n->out), at);
	end_all(c, y->rank, l);
}

/* Zeros, then each x element at its flat position in the pooled shape,
 * placed at the same coordinates of the (possibly larger) result. */
void cg_lower_max_unpool(Cg *c, const Node *n)
{
	const Type *x = cg_ty(c, n->in[0]), *y = cg_ty(c, n->out);
	int r = y->rank, cnt;
	const int64_t *pl = ir_attr_ints(n, "pooled", &cnt);
	int64_t ps[MAXR], ys[MAXR];
	cg_row_strides(r, pl, ps);
	cg_row_strides(r, y->dims, ys);
	bool same = !memcmp(pl, y->dims, sizeof(int64_t) * (size_t)r);
	LLVMTypeRef et = cg_bits_type(c, y->dt);
	int64_t bytes = ir_type_bytes(y);
	if (bytes > 0)
		LLVMBuildMemSet(c->b, cg_buf(c, n->out), LLVMConstInt(c->i8, 0, 0), cg_i64(c, bytes), 1);
	Loop l;
	LLVMValueRef e = cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, ir_type_numel(x)));
	DType idt = cg_ty(c, n->in[1])->dt;
	LLVMValueRef k = cg_load(c, cg_bits_type(c, idt), cg_buf(c, n->in[1]), e);
	if (idt != DT_I64)
		k = LLVMBuildSExt(c->b, k, c->i64, "");
	LLVMValueRef ok = cg_icmp(c, LLVMIntULT, k, cg_i64(c, prod(pl, 0, r)));
	k = cg_sel(c, ok, k, cg_i64(c, 0));
	LLVMValueRef at = k;
	if (!same) {
		at = cg_i64(c, 0);
		for (int d = 0; d < r; d++) {
			LLVMValueRef cd = LLVMBuildURem(c->b, LLVMBuildUDiv(c->b, k, cg_i64(c, ps[d]), ""), cg_i64(c, pl[d] ? pl[d] : 1), "");
			if (pl[d] > y->dims[d])
				ok = cg_and(c, ok, cg_icmp(c, LLVMIntULT, cd, cg_i64(c, y->dims[d])));
			at = cg_add(c, at, cg_mul(c, cd, cg_i64(c, ys[d])));
		}
	}
	LLVMBasicBlockRef after = cg_if_begin(c, ok);
	cg_store(c, et, cg_load(c, et, cg_buf(c, n->in[0]), e), cg_buf(c, n->out), at);
	cg_if_end(c, after);
	cg_loop_end(c, &l, 1);
}

/* ---- top-k ----------------------------------------------------------------------------------- */

/* Per lane along the axis, an insertion into the k best seen so far, kept
 * in the result itself (positions; values are read back through them).
 * Elements arrive in order and only a strictly better one moves ahead,
 * so equal values keep the lower position first.  O(len * k). */
void cg_lower_topk(Cg *c, const Node *n)
{
	const Type *x = cg_ty(c, n->in[0]);
	int axis = (int)ir_attr_int(n, "axis", 0);
	int64_t k = ir_attr_int(n, "k", 1), len = x->dims[axis];
	bool largest = ir_attr_int(n, "largest", 1) != 0;
	int64_t outer = prod(x->dims, 0, axis), inner = prod(x->dims, axis + 1, x->rank);
	if (k == 0 || outer * inner == 0)
		return;
	LLVMTypeRef et = cg_num_type(c, x->dt);
	LLVMValueRef X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out);
	LLVMValueRef cnt = cg_entry_alloca(c, c->i64), jp = cg_entry_alloca(c, c->i64);
	Loop lo, li, lk;
	LLVMValueRef o = cg_loop_begin(c, &lo, cg_i64(c, 0), cg_i64(c, outer));
	LLVMValueRef ii = cg_loop_begin(c, &li, cg_i64(c, 0), cg_i64(c, inner));
	LLVMValueRef xb = cg_add(c, cg_mul(c, o, cg_i64(c, len * inner)), ii), yb = cg_add(c, cg_mul(c, o, cg_i64(c, k * inner)), ii);
	LLVMBuildStore(c->b, cg_i64(c, 0), cnt);
	LLVMValueRef i = cg_loop_begin(c, &lk, cg_i64(c, 0), cg_i64(c, len));
	LLVMValueRef v = cg_load(c, et, X, cg_add(c, xb, cg_mul(c, i, cg_i64(c, inner))));
	LLVMValueRef n0 = LLVMBuildLoad2(c->b, c->i64, cnt, "");
	LLVMValueRef full = cg_icmp(c, LLVMIntEQ, n0, cg_i64(c, k));
	/* Full: v must beat the current last (read only when it exists). */
	LLVMBasicBlockRef from = LLVMGetInsertBlock(c->b);
	LLVMBasicBlockRef chk = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "topk.last");
	LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "topk.take");
	LLVMBuildCondBr(c->b, full, chk, join);
	LLVMPositionBuilderAtEnd(c->b, chk);
	LLVMValueRef last = cg_load(c, c->i64, Y, cg_add(c, yb, cg_i64(c, (k - 1) * inner)));
	LLVMValueRef beats = ranks_before(c, x->dt, largest, v, cg_load(c, et, X, cg_add(c, xb, cg_mul(c, last, cg_i64(c, inner)))));
	LLVMBasicBlockRef chk_end = LLVMGetInsertBlock(c->b);
	LLVMBuildBr(c->b, join);
	LLVMPositionBuilderAtEnd(c->b, join);
	LLVMValueRef take = LLVMBuildPhi(c->b, LLVMInt1TypeInContext(c->ctx), "");
	LLVMValueRef tv[2] = {i1(c, true), beats};
	LLVMBasicBlockRef tb[2] = {from, chk_end};
	LLVMAddIncoming(take, tv, tb, 2);
	LLVMBasicBlockRef done = cg_if_begin(c, take);
	/* Shift worse entries down from slot min(n0, k-1), then insert. */
	LLVMBuildStore(c->b, cg_sel(c, full, cg_i64(c, k - 1), n0), jp);
	LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "topk.head");
	LLVMBasicBlockRef cmp = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "topk.cmp");
	LLVMBasicBlockRef shift = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "topk.shift");
	LLVMBasicBlockRef put = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "topk.put");
	LLVMBuildBr(c->b, head);
	LLVMPositionBuilderAtEnd(c->b, head);
	LLVMValueRef j = LLVMBuildLoad2(c->b, c->i64, jp, "");
	LLVMBuildCondBr(c->b, cg_icmp(c, LLVMIntSGT, j, cg_i64(c, 0)), cmp, put);
	LLVMPositionBuilderAtEnd(c->b, cmp);
	LLVMValueRef prev_at = cg_add(c, yb, cg_mul(c, cg_sub(c, j, cg_i64(c, 1)), cg_i64(c, inner)));
	LLVMValueRef prev = cg_load(c, c->i64, Y, prev_at);
	LLVMValueRef better = ranks_before(c, x->dt, largest, v, cg_load(c, et, X, cg_add(c, xb, cg_mul(c, prev, cg_i64(c, inner)))));
	LLVMBuildCondBr(c->b, better, shift, put);
	LLVMPositionBuilderAtEnd(c->b, shift);
	cg_store(c, c->i64, prev, Y, cg_add(c, yb, cg_mul(c, j, cg_i64(c, inner))));
	LLVMBuildStore(c->b, cg_sub(c, j, cg_i64(c, 1)), jp);
	LLVMBuildBr(c->b, head);
	LLVMPositionBuilderAtEnd(c->b, put);
	LLVMValueRef jf = LLVMBuildLoad2(c->b, c->i64, jp, "");
	cg_store(c, c->i64, i, Y, cg_add(c, yb, cg_mul(c, jf, cg_i64(c, inner))));
	LLVMBuildStore(c->b, cg_sel(c, full, n0, cg_add(c, n0, cg_i64(c, 1))), cnt);
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
void cg_lower_maxpool_index(Cg *c, const Node *n)
{
	const Type *x = cg_ty(c, n->in[0]), *y = cg_ty(c, n->out);
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
	LLVMValueRef X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out);
	LLVMValueRef best = cg_entry_alloca(c, et), bi = cg_entry_alloca(c, c->i64), found = cg_entry_alloca(c, LLVMInt1TypeInContext(c->ctx));
	Loop lp, lo[MAXR], lk[MAXR];
	LLVMValueRef pc = cg_loop_begin(c, &lp, cg_i64(c, 0), cg_i64(c, x->dims[0] * x->dims[1]));
	LLVMValueRef o[MAXR], yo = cg_i64(c, 0);
	for (int i = 0; i < nsp; i++) {
		o[i] = cg_loop_begin(c, &lo[i], cg_i64(c, 0), cg_i64(c, y->dims[2 + i]));
		yo = cg_add(c, cg_mul(c, yo, cg_i64(c, y->dims[2 + i])), o[i]);
	}
	LLVMBuildStore(c->b, LLVMConstNull(et), best);
	LLVMBuildStore(c->b, cg_i64(c, none), bi);
	LLVMBuildStore(c->b, i1(c, false), found);
	LLVMValueRef ok = i1(c, true), xo = cg_i64(c, 0), so = cg_i64(c, 0);
	for (int i = 0; i < nsp; i++) {
		LLVMValueRef kk = cg_loop_begin(c, &lk[i], cg_i64(c, 0), cg_i64(c, k[i]));
		LLVMValueRef ix = cg_add(c, cg_mul(c, o[i], cg_i64(c, st_[i])), cg_add(c, cg_mul(c, kk, cg_i64(c, dl[i])), cg_i64(c, -pd[i])));
		ok = cg_and(c, ok, cg_icmp(c, LLVMIntULT, ix, cg_i64(c, x->dims[2 + i])));
		xo = cg_add(c, cg_mul(c, xo, cg_i64(c, x->dims[2 + i])), ix);
		so = cg_add(c, so, cg_mul(c, ix, cg_i64(c, colmajor ? cs[i] : rs[i])));
	}
	LLVMValueRef v = cg_load(c, et, X, cg_add(c, cg_mul(c, pc, cg_i64(c, xin)), cg_sel(c, ok, xo, cg_i64(c, 0))));
	LLVMValueRef b = LLVMBuildLoad2(c->b, et, best, ""), f = LLVMBuildLoad2(c->b, LLVMInt1TypeInContext(c->ctx), found, "");
	LLVMValueRef gt = ir_dtype_is_float(x->dt) ? cg_fcmp(c, LLVMRealOGT, v, b)
			  : cg_icmp(c, ir_dtype_is_signed(x->dt) ? LLVMIntSGT : LLVMIntUGT, v, b);
	LLVMValueRef upd = cg_and(c, ok, cg_or(c, LLVMBuildNot(c->b, f, ""), gt));
	LLVMBuildStore(c->b, cg_sel(c, upd, v, b), best);
	LLVMBuildStore(c->b, cg_sel(c, upd, so, LLVMBuildLoad2(c->b, c->i64, bi, "")), bi);
	LLVMBuildStore(c->b, cg_or(c, f, ok), found);
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lk[i], 1);
	LLVMValueRef res = cg_add(c, cg_mul(c, pc, cg_i64(c, xin)), LLVMBuildLoad2(c->b, c->i64, bi, ""));
	cg_store(c, c->i64, res, Y, cg_add(c, cg_mul(c, pc, cg_i64(c, yin)), yo));
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lo[i], 1);
	cg_loop_end(c, &lp, 1);
}

/* ---- grid sampling ------------------------------------------------------------------------------- */

typedef enum GsPad { GS_ZEROS, GS_BORDER, GS_REFLECT } GsPad;

static LLVMValueRef ffloor(Cg *c, LLVMValueRef a) { return cg_round_dir(c, a, false); }

static LLVMValueRef fclamp(Cg *c, LLVMValueRef v, double lo, double hi)
{
	v = cg_sel(c, cg_fcmp(c, LLVMRealOLT, v, cg_f32(c, lo)), cg_f32(c, lo), v);
	return cg_sel(c, cg_fcmp(c, LLVMRealOGT, v, cg_f32(c, hi)), cg_f32(c, hi), v);
}

/* Reflect v by the borders lo and hi until it lies between them (as the
 * ONNX reference: whole spans flip the side). */
static LLVMValueRef reflect(Cg *c, LLVMValueRef v, double lo, double hi)
{
	double span = hi - lo;
	if (span <= 0)
		return cg_sel(c, is_nan(c, v), v, cg_f32(c, lo));
	LLVMValueRef below = cg_fcmp(c, LLVMRealOLT, v, cg_f32(c, lo)), above = cg_fcmp(c, LLVMRealOGT, v, cg_f32(c, hi));
	LLVMValueRef dx = cg_sel(c, below, cg_fsub(c, cg_f32(c, lo), v), cg_fsub(c, v, cg_f32(c, hi)));
	LLVMValueRef nspan = ffloor(c, LLVMBuildFDiv(c->b, dx, cg_f32(c, span), ""));
	LLVMValueRef r = cg_fsub(c, dx, cg_fmul(c, nspan, cg_f32(c, span)));
	LLVMValueRef half = cg_fmul(c, nspan, cg_f32(c, 0.5));
	LLVMValueRef even = cg_fcmp(c, LLVMRealOEQ, ffloor(c, half), half);
	LLVMValueRef near_lo = cg_fadd(c, cg_f32(c, lo), r), near_hi = cg_fsub(c, cg_f32(c, hi), r);
	LLVMValueRef fb = cg_sel(c, even, near_lo, near_hi), fa = cg_sel(c, even, near_hi, near_lo);
	return cg_sel(c, below, fb, cg_sel(c, above, fa, v));
}

/* A float that holds an integer (or NaN, or something huge) as i64: out
 * of +-2^30 becomes -2^30, which every padding mode handles safely.  The
 * conversion goes through i32 (float/i64 conversions are libgcc calls on
 * 32-bit targets). */
static LLVMValueRef to_index(Cg *c, LLVMValueRef f)
{
	double lim = 1073741824.0;
	LLVMValueRef fine = cg_and(c, cg_fcmp(c, LLVMRealOGE, f, cg_f32(c, -lim)), cg_fcmp(c, LLVMRealOLE, f, cg_f32(c, lim)));
	LLVMValueRef i = LLVMBuildSExt(c->b, LLVMBuildFPToSI(c->b, cg_sel(c, fine, f, cg_f32(c, 0)), c->i32, ""), c->i64, "");
	return cg_sel(c, fine, i, cg_i64(c, -(int64_t)lim));
}

/* One tap position along an axis of dim: the index to read and whether it
 * contributes (zeros padding: only inside). */
static void tap_index(Cg *c, GsPad pad, LLVMValueRef i, int64_t dim, double lo, double hi, LLVMValueRef *at,
		      LLVMValueRef *valid)
{
	*valid = i1(c, true);
	if (pad == GS_ZEROS) {
		*valid = cg_icmp(c, LLVMIntULT, i, cg_i64(c, dim));
		*at = cg_sel(c, *valid, i, cg_i64(c, 0));
		return;
	}
	if (pad == GS_REFLECT)
		i = to_index(c, reflect(c, LLVMBuildSIToFP(c->b, LLVMBuildTrunc(c->b, i, c->i32, ""), c->f32, ""), lo, hi));
	/* border, and reflection's rounding at the edges */
	i = cg_sel(c, cg_icmp(c, LLVMIntSLT, i, cg_i64(c, 0)), cg_i64(c, 0), i);
	*at = cg_sel(c, cg_icmp(c, LLVMIntSGT, i, cg_i64(c, dim - 1)), cg_i64(c, dim - 1), i);
}

/* Keys' cubic convolution weights (a = -0.75) for fraction t. */
static void cubic_weights(Cg *c, LLVMValueRef t, LLVMValueRef *w)
{
	const double A = -0.75;
	LLVMValueRef one = cg_f32(c, 1);
	LLVMValueRef d[4] = {cg_fadd(c, t, one), t, cg_fsub(c, one, t), cg_fsub(c, cg_f32(c, 2), t)};
	for (int i = 0; i < 4; i++) {
		LLVMValueRef x = d[i];
		if (i == 0 || i == 3)  /* ((A x - 5A) x + 8A) x - 4A */
			w[i] = cg_fsub(c, cg_fmul(c, cg_fadd(c, cg_fmul(c, cg_fsub(c, cg_fmul(c, cg_f32(c, A), x), cg_f32(c, 5 * A)), x), cg_f32(c, 8 * A)), x), cg_f32(c, 4 * A));
		else  /* ((A+2) x - (A+3)) x x + 1 */
			w[i] = cg_fadd(c, cg_fmul(c, cg_fmul(c, cg_fsub(c, cg_fmul(c, cg_f32(c, A + 2), x), cg_f32(c, A + 3)), x), x), one);
	}
}

void cg_lower_grid_sample(Cg *c, const Node *n)
{
	const Type *x = cg_ty(c, n->in[0]), *y = cg_ty(c, n->out);
	int nsp = x->rank - 2;
	const char *mode = ir_attr_str(n, "mode", "linear"), *pads = ir_attr_str(n, "padding", "zeros");
	bool align = ir_attr_int(n, "align_corners", 0) != 0;
	int taps = !strcmp(mode, "nearest") ? 1 : !strcmp(mode, "linear") ? 2 : 4;
	GsPad pad = !strcmp(pads, "border") ? GS_BORDER : !strcmp(pads, "reflection") ? GS_REFLECT : GS_ZEROS;
	int64_t xin = prod(x->dims, 2, x->rank), yin = prod(y->dims, 2, y->rank), xs[MAXR];
	cg_row_strides(nsp, x->dims + 2, xs);
	LLVMValueRef X = cg_buf(c, n->in[0]), G = cg_buf(c, n->in[1]), Y = cg_buf(c, n->out);
	Loop ln, lp, lc;
	LLVMValueRef nb = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, x->dims[0]));
	LLVMValueRef p = cg_loop_begin(c, &lp, cg_i64(c, 0), cg_i64(c, yin));
	LLVMValueRef gb = cg_mul(c, cg_add(c, cg_mul(c, nb, cg_i64(c, yin)), p), cg_i64(c, nsp));
	/* Per spatial axis: the taps' indices, validity and weights. */
	LLVMValueRef at[MAXR][4], ok[MAXR][4], w[MAXR][4];
	for (int d = 0; d < nsp; d++) {
		double dim = (double)x->dims[2 + d];
		double lo = align ? 0 : -0.5, hi = align ? dim - 1 : dim - 0.5;
		/* the grid lists coordinates innermost axis first */
		LLVMValueRef g = cg_loadf(c, G, cg_add(c, gb, cg_i64(c, nsp - 1 - d)));
		LLVMValueRef v = align ? cg_fmul(c, cg_fmul(c, cg_fadd(c, g, cg_f32(c, 1)), cg_f32(c, 0.5)), cg_f32(c, dim - 1))
				       : cg_fmul(c, cg_fsub(c, cg_fmul(c, cg_fadd(c, g, cg_f32(c, 1)), cg_f32(c, dim)), cg_f32(c, 1)), cg_f32(c, 0.5));
		if (taps == 1)
			v = cg_round_even(c, v);  /* nearest: half to even, as PyTorch */
		if (pad != GS_ZEROS) {
			LLVMValueRef out = cg_or(c, cg_fcmp(c, LLVMRealOLT, v, cg_f32(c, lo)), cg_fcmp(c, LLVMRealOGT, v, cg_f32(c, hi)));
			v = cg_sel(c, out, pad == GS_BORDER ? fclamp(c, v, 0, dim - 1) : reflect(c, v, lo, hi), v);
		}
		if (taps == 1) {
			/* nearest reads the coordinate truncated (it is whole already) */
			tap_index(c, pad, to_index(c, v), x->dims[2 + d], lo, hi, &at[d][0], &ok[d][0]);
			w[d][0] = cg_f32(c, 1);
			continue;
		}
		LLVMValueRef f = ffloor(c, v), i0 = to_index(c, f), t = cg_fsub(c, v, f);
		if (taps == 2) {
			w[d][0] = cg_fsub(c, cg_f32(c, 1), t);
			w[d][1] = t;
		} else {
			cubic_weights(c, t, w[d]);
		}
		int first = taps == 4 ? -1 : 0;
		for (int j = 0; j < taps; j++)
			tap_index(c, pad, cg_add(c, i0, cg_i64(c, first + j)), x->dims[2 + d], lo, hi, &at[d][j], &ok[d][j]);
	}
	/* Every tap combination, unrolled: its offset, validity and weight. */
	int ncomb = 1;
	for (int d = 0; d < nsp; d++)
		ncomb *= taps;
	LLVMValueRef *co = malloc(sizeof(LLVMValueRef) * 3 * (size_t)ncomb);
	if (!co)
		die("out of memory");
	for (int t = 0; t < ncomb; t++) {
		LLVMValueRef off = cg_i64(c, 0), valid = i1(c, true), wt = NULL;
		for (int d = 0, r = t; d < nsp; d++, r /= taps) {
			int j = r % taps;
			off = cg_add(c, off, cg_mul(c, at[d][j], cg_i64(c, xs[d])));
			valid = cg_and(c, valid, ok[d][j]);
			wt = wt ? cg_fmul(c, wt, w[d][j]) : w[d][j];
		}
		co[3 * t] = off, co[3 * t + 1] = valid, co[3 * t + 2] = wt;
	}
	LLVMValueRef ch = cg_loop_begin(c, &lc, cg_i64(c, 0), cg_i64(c, x->dims[1]));
	LLVMValueRef plane = cg_mul(c, cg_add(c, cg_mul(c, nb, cg_i64(c, x->dims[1])), ch), cg_i64(c, xin));
	LLVMValueRef acc = NULL;
	for (int t = 0; t < ncomb; t++) {
		LLVMValueRef v = cg_loadf(c, X, cg_add(c, plane, co[3 * t]));
		v = cg_fmul(c, co[3 * t + 2], cg_sel(c, co[3 * t + 1], v, cg_f32(c, 0)));
		acc = acc ? cg_fadd(c, acc, v) : v;
	}
	free(co);
	LLVMValueRef yo = cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, nb, cg_i64(c, x->dims[1])), ch), cg_i64(c, yin)), p);
	cg_storef(c, acc, Y, yo);
	cg_loop_end(c, &lc, 1);
	cg_loop_end(c, &lp, 1);
	cg_loop_end(c, &ln, 1);
}

/* ---- what these lowerings cannot take ------------------------------------------------------------ */

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
