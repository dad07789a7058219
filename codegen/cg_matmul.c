/* Matrix products: Gemm and MatMul, a register-blocked GEMM over packed
 * constant B, dot products for transposed constant B, and a plain loop
 * nest (the reference, KILN_CG_REFERENCE=1) for the rest. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

#define MAXR IR_MAX_RANK
#define GEMM_TMAX 14  /* widest row tile, as the blocked conv's */

/* rows x K times packed constant [NB][K][OB] -> rows x N, row-tiled. */
typedef struct GemmK {
	int64_t rows, K, N, NB, OB;
	int64_t a_rs, a_cs;   /* A element (r, k) at r*a_rs + k*a_cs */
	LLVMValueRef A, Wp, Y;
	int budget;           /* accumulator pairs that fit in registers */
	LLVMValueRef acc[GEMM_TMAX][2];
} GemmK;

/* T rows from r0 times G column blocks from nb (each OB wide; the last
 * one has nvalid columns): T*G accumulator pairs.  G > 1 is for few rows
 * (batch 1: a GEMV), where one block would leave the FMAs waiting on each
 * other. */
static void gemm_tile(Cg *c, GemmK *k, LLVMValueRef r0, int T, LLVMValueRef nb, int G, int nvalid)
{
	int L = c->lanes;
	LLVMValueRef zero = LLVMConstNull(c->vf);
	for (int j = 0; j < T * G; j++)
		for (int v = 0; v < 2; v++)
			LLVMBuildStore(c->b, zero, k->acc[j][v]);
	Loop lk;
	LLVMValueRef kk = cg_loop_begin(c, &lk, cg_i64(c, 0), cg_i64(c, k->K));
	LLVMValueRef w[GEMM_TMAX][2];
	for (int q = 0; q < G; q++) {
		LLVMValueRef wo = cg_mul(c, cg_add(c, cg_mul(c, cg_add(c, nb, cg_i64(c, q)), cg_i64(c, k->K)), kk), cg_i64(c, k->OB));
		w[q][0] = cg_vload(c, k->Wp, wo);
		w[q][1] = cg_vload(c, k->Wp, cg_add(c, wo, cg_i64(c, L)));
	}
	for (int j = 0; j < T; j++) {
		LLVMValueRef ao = cg_add(c, cg_mul(c, cg_add(c, r0, cg_i64(c, j)), cg_i64(c, k->a_rs)), cg_mul(c, kk, cg_i64(c, k->a_cs)));
		LLVMValueRef ab = cg_splat(c, cg_loadf(c, k->A, ao), c->vf);
		for (int q = 0; q < G; q++)
			for (int v = 0; v < 2; v++) {
				LLVMValueRef a = LLVMBuildLoad2(c->b, c->vf, k->acc[j * G + q][v], "");
				LLVMBuildStore(c->b, cg_fmuladd(c, ab, w[q][v], a), k->acc[j * G + q][v]);
			}
	}
	cg_loop_end(c, &lk, 1);
	for (int j = 0; j < T; j++)
		for (int q = 0; q < G; q++) {
			int nv = q == G - 1 ? nvalid : (int)k->OB;
			LLVMValueRef yo = cg_add(c, cg_mul(c, cg_add(c, r0, cg_i64(c, j)), cg_i64(c, k->N)), cg_mul(c, cg_add(c, nb, cg_i64(c, q)), cg_i64(c, k->OB)));
			for (int v = 0; v < 2; v++) {
				LLVMValueRef a = LLVMBuildLoad2(c->b, c->vf, k->acc[j * G + q][v], "");
				if (nv >= (v + 1) * L) {
					LLVMValueRef st = LLVMBuildStore(c->b, a, cg_gep(c, c->f32, k->Y, cg_add(c, yo, cg_i64(c, v * L))));
					LLVMSetAlignment(st, 4);
				} else
					for (int l = 0; v * L + l < nv; l++)
						cg_storef(c, LLVMBuildExtractElement(c->b, a, LLVMConstInt(c->i32, l, 0), ""), k->Y,
							  cg_add(c, yo, cg_i64(c, v * L + l)));
			}
		}
}

/* All column blocks for T rows from r0: groups of G full blocks in a loop,
 * then the leftover full blocks, then the partial block. */
static void gemm_rows(Cg *c, GemmK *k, LLVMValueRef r0, int T)
{
	int64_t full = k->N / k->OB, rem = k->N % k->OB;
	int G = k->budget / T;
	G = G < 1 ? 1 : G > full ? (int)(full ? full : 1) : G;
	int64_t groups = full / G, left = full % G;
	if (groups == 1)
		gemm_tile(c, k, r0, T, cg_i64(c, 0), G, (int)k->OB);
	else if (groups > 1) {
		Loop ln;
		LLVMValueRef g = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, groups));
		gemm_tile(c, k, r0, T, cg_mul(c, g, cg_i64(c, G)), G, (int)k->OB);
		cg_loop_end(c, &ln, 1);
	}
	if (left)
		gemm_tile(c, k, r0, T, cg_i64(c, groups * G), (int)left, (int)k->OB);
	if (rem)
		gemm_tile(c, k, r0, T, cg_i64(c, full), 1, (int)rem);
}

/* Pack constant B (element (k, n) at k*b_ks + n*b_ns, times alpha) into
 * [NB][K][OB] at compile time: a transposed B is only packed differently. */
static void gemm_pack(Cg *c, GemmK *k, const float *bmat, int64_t b_ks, int64_t b_ns, double alpha)
{
	int L = c->lanes;
	k->OB = 2 * L;
	k->NB = (k->N + k->OB - 1) / k->OB;
	size_t wn = (size_t)(k->NB * k->K * k->OB);
	float *wp = calloc(wn + 1, sizeof *wp);
	for (int64_t nn = 0; nn < k->N; nn++)
		for (int64_t kk = 0; kk < k->K; kk++)
			wp[((nn / k->OB) * k->K + kk) * k->OB + nn % k->OB] = (float)(alpha * bmat[kk * b_ks + nn * b_ns]);
	k->Wp = cg_const_blob(c, "kiln.gp", wp, wn * sizeof *wp);
	free(wp);
	/* Row tiles of T rows: 2*T accumulators, 2 weight vectors, a broadcast. */
	int T = (c->fregs - 4) / 2;
	T = T < 1 ? 1 : T > GEMM_TMAX ? GEMM_TMAX : T;
	k->budget = T;
	for (int j = 0; j < T; j++)
		for (int v = 0; v < 2; v++)
			k->acc[j][v] = cg_entry_alloca(c, c->vf);
}

/* k->rows rows of k->A times the packed B into k->Y, in row tiles; the
 * leftover rows are one smaller tile. */
static void gemm_run(Cg *c, GemmK *k)
{
	int T = k->budget;
	int64_t rtiles = k->rows / T * T;
	if (rtiles) {
		Loop lr;
		LLVMValueRef r0 = cg_loop_begin(c, &lr, cg_i64(c, 0), cg_i64(c, rtiles));
		gemm_rows(c, k, r0, T);
		cg_loop_end(c, &lr, T);
	}
	if (k->rows > rtiles)
		gemm_rows(c, k, cg_i64(c, rtiles), (int)(k->rows - rtiles));
}

static void gemm_blocked(Cg *c, GemmK *k, const float *bmat, int64_t b_ks, int64_t b_ns, double alpha)
{
	gemm_pack(c, k, bmat, b_ks, b_ns, alpha);
	gemm_run(c, k);
}

/* Columns n0 .. n0+cnt-1 of row y = a * B^T for B stored transposed ([N, K],
 * row n at Bt + n*K): each a dot product along k of two contiguous rows,
 * a vector at a time (one accumulator per column keeps the FMAs
 * independent), then the tail of k. */
#define DOT_COLS 4

static void dot_cols(Cg *c, LLVMValueRef arow, LLVMValueRef Bt, LLVMValueRef yrow, LLVMValueRef n0, int cnt, int64_t K)
{
	int L = c->lanes;
	int64_t Kv = K / L * L;
	LLVMValueRef acc[DOT_COLS], sum[DOT_COLS], brow[DOT_COLS];
	for (int q = 0; q < cnt; q++) {
		acc[q] = cg_entry_alloca(c, c->vf);
		sum[q] = cg_entry_alloca(c, c->f32);
		LLVMBuildStore(c->b, LLVMConstNull(c->vf), acc[q]);
		brow[q] = cg_gep(c, c->f32, Bt, cg_mul(c, cg_add(c, n0, cg_i64(c, q)), cg_i64(c, K)));
	}
	if (Kv) {
		Loop l;
		LLVMValueRef kk = cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, Kv));
		LLVMValueRef av = cg_vload(c, arow, kk);
		for (int q = 0; q < cnt; q++)
			LLVMBuildStore(c->b, cg_fmuladd(c, av, cg_vload(c, brow[q], kk), LLVMBuildLoad2(c->b, c->vf, acc[q], "")), acc[q]);
		cg_loop_end(c, &l, L);
	}
	for (int q = 0; q < cnt; q++)
		LLVMBuildStore(c->b, cg_hsum(c, LLVMBuildLoad2(c->b, c->vf, acc[q], "")), sum[q]);
	if (K > Kv) {
		Loop l;
		LLVMValueRef kk = cg_loop_begin(c, &l, cg_i64(c, Kv), cg_i64(c, K));
		LLVMValueRef a = cg_loadf(c, arow, kk);
		for (int q = 0; q < cnt; q++)
			LLVMBuildStore(c->b, cg_fmuladd(c, a, cg_loadf(c, brow[q], kk), LLVMBuildLoad2(c->b, c->f32, sum[q], "")), sum[q]);
		cg_loop_end(c, &l, 1);
	}
	for (int q = 0; q < cnt; q++)
		cg_storef(c, LLVMBuildLoad2(c->b, c->f32, sum[q], ""), yrow, cg_add(c, n0, cg_i64(c, q)));
}

/* rows x K (row stride a_rs, contiguous along k) times a runtime B^T
 * stored [N, K]: the matmul whose B operand was a transpose (folded in by
 * simplify).  The plain loops would read B with stride K. */
static void matmul_dot(Cg *c, LLVMValueRef A, int64_t a_rs, LLVMValueRef Bt, LLVMValueRef Y, int64_t rows, int64_t K,
		       int64_t N)
{
	bool keep = c->keep_loops;
	c->keep_loops = true;
	Loop lr, ln;
	LLVMValueRef r = cg_loop_begin(c, &lr, cg_i64(c, 0), cg_i64(c, rows));
	LLVMValueRef arow = cg_gep(c, c->f32, A, cg_mul(c, r, cg_i64(c, a_rs))), yrow = cg_gep(c, c->f32, Y, cg_mul(c, r, cg_i64(c, N)));
	int64_t Nq = N / DOT_COLS * DOT_COLS;
	if (Nq) {
		LLVMValueRef n0 = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, Nq));
		dot_cols(c, arow, Bt, yrow, n0, DOT_COLS, K);
		cg_loop_end(c, &ln, DOT_COLS);
	}
	if (N > Nq)
		dot_cols(c, arow, Bt, yrow, cg_i64(c, Nq), (int)(N - Nq), K);
	cg_loop_end(c, &lr, 1);
	c->keep_loops = keep;
}

/* y[r][n] = sum_k A(r,k) * Bm(k,n) for runtime B (plain loops). */
static void matmul_plain(Cg *c, LLVMValueRef A, int64_t a_rs, int64_t a_cs, LLVMValueRef Bm, int64_t b_ks, int64_t b_ns,
			 LLVMValueRef Y, int64_t rows, int64_t K, int64_t N, double alpha)
{
	Loop lr, ln, lk, ln2;
	LLVMValueRef r = cg_loop_begin(c, &lr, cg_i64(c, 0), cg_i64(c, rows));
	LLVMValueRef yrow = cg_gep(c, c->f32, Y, cg_mul(c, r, cg_i64(c, N)));
	LLVMValueRef nn = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, N));
	cg_storef(c, cg_f32(c, 0), yrow, nn);
	cg_loop_end(c, &ln, 1);
	LLVMValueRef kk = cg_loop_begin(c, &lk, cg_i64(c, 0), cg_i64(c, K));
	LLVMValueRef a = LLVMBuildFMul(c->b, cg_loadf(c, A, cg_add(c, cg_mul(c, r, cg_i64(c, a_rs)), cg_mul(c, kk, cg_i64(c, a_cs)))),
				       cg_f32(c, alpha), "");
	LLVMValueRef n2 = cg_loop_begin(c, &ln2, cg_i64(c, 0), cg_i64(c, N));
	LLVMValueRef bv = cg_loadf(c, Bm, cg_add(c, cg_mul(c, kk, cg_i64(c, b_ks)), cg_mul(c, n2, cg_i64(c, b_ns))));
	cg_storef(c, cg_fmuladd(c, a, bv, cg_loadf(c, yrow, n2)), yrow, n2);
	cg_loop_end(c, &ln2, 1);
	cg_loop_end(c, &lk, 1);
	cg_loop_end(c, &lr, 1);
}

void cg_lower_gemm(Cg *c, const Node *n)
{
	const Type *ta = cg_ty(c, n->in[0]), *ty = cg_ty(c, n->out);
	bool tA = ir_attr_int(n, "trans_a", 0), tB = ir_attr_int(n, "trans_b", 0);
	double alpha = ir_attr_float(n, "alpha", 1), beta = ir_attr_float(n, "beta", 1);
	int64_t M = ty->dims[0], N = ty->dims[1], K = tA ? ta->dims[0] : ta->dims[1];
	int64_t a_rs = tA ? 1 : K, a_cs = tA ? M : 1, b_ks = tB ? 1 : N, b_ns = tB ? K : 1;
	const Value *bv = ir_value(c->g, n->in[1]);
	if (!c->reference && bv->kind == VAL_CONST) {
		GemmK k = {.rows = M, .K = K, .N = N, .a_rs = a_rs, .a_cs = a_cs, .A = cg_buf(c, n->in[0]), .Y = cg_buf(c, n->out)};
		gemm_blocked(c, &k, bv->data, b_ks, b_ns, alpha);
	} else
		matmul_plain(c, cg_buf(c, n->in[0]), a_rs, a_cs, cg_buf(c, n->in[1]), b_ks, b_ns, cg_buf(c, n->out), M, K, N, alpha);
	if (n->nin > 2 && n->in[2] >= 0 && beta != 0) {
		const Type *tc = cg_ty(c, n->in[2]);
		int64_t st[MAXR];
		cg_bcast_strides(tc, 2, ty->dims, st);
		LLVMValueRef C = cg_buf(c, n->in[2]), Y = cg_buf(c, n->out);
		Loop lm, ln;
		LLVMValueRef m = cg_loop_begin(c, &lm, cg_i64(c, 0), cg_i64(c, M));
		LLVMValueRef nn = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, N));
		LLVMValueRef yo = cg_add(c, cg_mul(c, m, cg_i64(c, N)), nn);
		LLVMValueRef cv = cg_loadf(c, C, cg_add(c, cg_mul(c, m, cg_i64(c, st[0])), cg_mul(c, nn, cg_i64(c, st[1]))));
		cg_storef(c, cg_fmuladd(c, cv, cg_f32(c, beta), cg_loadf(c, Y, yo)), Y, yo);
		cg_loop_end(c, &ln, 1);
		cg_loop_end(c, &lm, 1);
	}
	cg_act_inplace(c, ir_act_of_epilogue(n), cg_buf(c, n->out), M * N);
}

/* One matrix product of a batch: A(r, k) at a_rs, a_cs strides, B(k, n)
 * at b_ks, b_ns.  k->Wp set: B is the packed constant. */
static void matmul_one(Cg *c, GemmK *k, LLVMValueRef Bm, int64_t b_ks, int64_t b_ns)
{
	if (k->Wp)
		gemm_run(c, k);
	else if (!c->reference && b_ks == 1 && b_ns != 1 && k->a_cs == 1)
		matmul_dot(c, k->A, k->a_rs, Bm, k->Y, k->rows, k->K, k->N);
	else
		matmul_plain(c, k->A, k->a_rs, k->a_cs, Bm, b_ks, b_ns, k->Y, k->rows, k->K, k->N, 1.0);
}

static void lower_matmul_body(Cg *c, const Node *n)
{
	const Type *ta = cg_ty(c, n->in[0]), *tb = cg_ty(c, n->in[1]), *ty = cg_ty(c, n->out);
	bool tA = ir_attr_int(n, "trans_a", 0), tB = ir_attr_int(n, "trans_b", 0);
	int ra = ta->rank, rb = tb->rank;
	/* A is [.., M, K] ([.., K, M] with trans_a); B is [.., K, N] ([.., N, K]). */
	int64_t K = ra >= 2 && tA ? ta->dims[ra - 2] : ta->dims[ra - 1];
	int64_t M = ra >= 2 ? ta->dims[tA ? ra - 1 : ra - 2] : 1;
	int64_t N = rb >= 2 ? tb->dims[tB ? rb - 2 : rb - 1] : 1;
	int64_t b_ks = rb >= 2 && !tB ? N : 1, b_ns = tB ? K : 1;
	const Value *bv = ir_value(c->g, n->in[1]);
	bool packed = !c->reference && bv->kind == VAL_CONST && rb <= 2;
	GemmK k = {.K = K, .N = N, .a_rs = tA ? 1 : K, .a_cs = tA ? M : 1, .A = cg_buf(c, n->in[0]), .Y = cg_buf(c, n->out)};
	if (rb <= 2 && !tA) {
		/* One B for every row of A: all of A's dims but the last. */
		k.rows = ir_shape_numel(ra - 1, ta->dims);
		if (packed)
			gemm_pack(c, &k, bv->data, b_ks, b_ns, 1.0);
		matmul_one(c, &k, cg_buf(c, n->in[1]), b_ks, b_ns);
		return;
	}
	/* Batched: iterate over the broadcast batch dims of the output. */
	k.rows = M;
	if (packed)  /* once, for every batch */
		gemm_pack(c, &k, bv->data, b_ks, b_ns, 1.0);
	int nb = ty->rank - (ra >= 2) - (rb >= 2);
	int64_t bd[MAXR], sa[MAXR], sb[MAXR];
	for (int i = 0; i < nb; i++)
		bd[i] = ty->dims[i];
	Type ba = {.dt = ta->dt, .rank = ra >= 2 ? ra - 2 : 0}, bb = {.dt = tb->dt, .rank = rb >= 2 ? rb - 2 : 0};
	memcpy(ba.dims, ta->dims, ba.rank * sizeof *ba.dims);
	memcpy(bb.dims, tb->dims, bb.rank * sizeof *bb.dims);
	cg_bcast_strides(&ba, nb, bd, sa);
	cg_bcast_strides(&bb, nb, bd, sb);
	Loop loops[MAXR];
	LLVMValueRef oa = cg_i64(c, 0), ob = cg_i64(c, 0), oy = cg_i64(c, 0);
	for (int d = 0; d < nb; d++) {
		LLVMValueRef i = cg_loop_begin(c, &loops[d], cg_i64(c, 0), cg_i64(c, bd[d]));
		oa = cg_add(c, oa, cg_mul(c, i, cg_i64(c, sa[d] * M * K)));
		ob = cg_add(c, ob, cg_mul(c, i, cg_i64(c, sb[d] * K * N)));
		oy = cg_add(c, cg_mul(c, oy, cg_i64(c, bd[d])), i);
	}
	k.A = cg_gep(c, c->f32, cg_buf(c, n->in[0]), oa);
	k.Y = cg_gep(c, c->f32, cg_buf(c, n->out), cg_mul(c, oy, cg_i64(c, M * N)));
	matmul_one(c, &k, cg_gep(c, c->f32, cg_buf(c, n->in[1]), ob), b_ks, b_ns);
	for (int d = nb - 1; d >= 0; d--)
		cg_loop_end(c, &loops[d], 1);
}

void cg_lower_matmul(Cg *c, const Node *n)
{
	lower_matmul_body(c, n);
	cg_act_inplace(c, ir_act_of_epilogue(n), cg_buf(c, n->out), ir_type_numel(cg_ty(c, n->out)));
}
