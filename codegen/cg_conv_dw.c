/* Depthwise convolution and 2-D max pooling, which are the same windows:
 * vectorized along the output row for row-major planes, or along the
 * channel vector for channel blocks (nchw<L>c).  Checked against the
 * reference conv and pool lowerings (tests/e2e/test_kernels.py). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* Depthwise convolution (group == C, M = C * mult): vectorized along the
 * output row, one vector of L columns per step with the kernel taps
 * unrolled.  Interior chunks load whole vectors (stride 2: two vectors and
 * a shuffle); chunks at the left/right border sit at constant columns, so
 * which lanes read padding is known at compile time and those lanes are
 * zeros, not loads.  Rows above/below the input skip their taps. */
#define DW_HOIST 16  /* taps kept in registers across a channel */

typedef struct DwK {
	Geo g;
	int64_t mult;
	LLVMValueRef xp, yp, rp;      /* this channel's input and output planes, residual plane */
	LLVMValueRef w[DW_HOIST];     /* per tap, splat, when taps <= DW_HOIST */
	LLVMValueRef Wt, m;           /* weights, output channel (for taps not hoisted) */
	LLVMValueRef bias;            /* splat */
	Act act;
	int64_t span;                 /* elements a chunk reads past its first lane's */
	bool pool;                    /* a max pool: taps combine by max, padding is -inf */
	LLVMValueRef pad;             /* what lanes in the padding read: zeros, or -inf for pools */
} DwK;

static LLVMValueRef dw_tap(Cg *c, DwK *k, int64_t t)
{
	if (t < DW_HOIST && k->w[t])
		return k->w[t];
	LLVMValueRef s = cg_loadf(c, k->Wt, cg_add(c, cg_mul(c, k->m, cg_i64(c, k->g.KH * k->g.KW)), cg_i64(c, t)));
	return cg_splat(c, s, c->vf);
}

/* One tap into the accumulator: an FMA, or for a max pool the larger
 * value (NaN propagates: x is taken when it is NaN or larger). */
static LLVMValueRef dw_combine(Cg *c, DwK *k, LLVMValueRef xv, int64_t t, LLVMValueRef acc)
{
	if (k->pool)
		return cg_max_nan(c, xv, acc);
	return cg_fmuladd(c, xv, dw_tap(c, k, t), acc);
}

/* Does the chunk of L columns at ow stay inside the output row and read
 * only inside the input row for every tap? */
static bool dw_inner(const DwK *k, int64_t ow, int L)
{
	const Geo *g = &k->g;
	return ow + L <= g->OW && ow * g->sw - g->pw >= 0 &&
	       ow * g->sw + (g->KW - 1) * g->dw - g->pw + k->span <= g->W - 1;
}

/* x[ih][ow0*sw + off + l*sw] for lanes l.  cow0 >= 0: ow0 is that constant
 * and out-of-row lanes become zero. */
static LLVMValueRef dw_xvec(Cg *c, DwK *k, LLVMValueRef xrow, LLVMValueRef ow0, int64_t cow0, int64_t off)
{
	Geo *g = &k->g;
	int L = c->lanes;
	if (cow0 >= 0 && (g->sw == 1 || g->sw == 2) && g->W > k->span) {
		/* Load the vector(s) at the nearest in-row position, then move
		 * each lane's element into place and zero the padding lanes. */
		int64_t p0 = cow0 * g->sw + off, b = p0 < 0 ? 0 : p0 > g->W - 1 - k->span ? g->W - 1 - k->span : p0;
		LLVMValueRef a = cg_vload(c, xrow, cg_i64(c, b));
		LLVMValueRef a2 = g->sw == 2 ? cg_vload(c, xrow, cg_i64(c, b + L)) : LLVMGetUndef(c->vf);
		LLVMValueRef idx[64], keep[64];
		bool any = false;
		for (int l = 0; l < L; l++) {
			int64_t iw = p0 + l * g->sw;
			bool ok = iw >= 0 && iw < g->W;
			idx[l] = ok ? LLVMConstInt(c->i32, iw - b, 0) : LLVMGetUndef(c->i32);
			keep[l] = LLVMConstInt(LLVMInt1TypeInContext(c->ctx), ok, 0);
			any |= !ok;
		}
		LLVMValueRef v = LLVMBuildShuffleVector(c->b, a, a2, LLVMConstVector(idx, L), "");
		return any ? LLVMBuildSelect(c->b, LLVMConstVector(keep, L), v, k->pad, "") : v;
	}
	if (cow0 >= 0) {
		LLVMValueRef v = k->pad;
		for (int l = 0; l < L; l++) {
			int64_t iw = (cow0 + l) * g->sw + off;
			if (iw >= 0 && iw < g->W)
				v = LLVMBuildInsertElement(c->b, v, cg_loadf(c, xrow, cg_i64(c, iw)), LLVMConstInt(c->i32, l, 0), "");
		}
		return v;
	}
	LLVMValueRef base = cg_add(c, cg_mul(c, ow0, cg_i64(c, g->sw)), cg_i64(c, off));
	if (g->sw == 1)
		return cg_vload(c, xrow, base);
	if (g->sw == 2) {
		LLVMValueRef a = cg_vload(c, xrow, base), b = cg_vload(c, xrow, cg_add(c, base, cg_i64(c, L)));
		LLVMValueRef idx[64];
		for (int l = 0; l < L; l++)
			idx[l] = LLVMConstInt(c->i32, 2 * l, 0);
		return LLVMBuildShuffleVector(c->b, a, b, LLVMConstVector(idx, L), "");
	}
	LLVMValueRef v = LLVMGetUndef(c->vf);
	for (int l = 0; l < L; l++)
		v = LLVMBuildInsertElement(c->b, v, cg_loadf(c, xrow, cg_add(c, base, cg_i64(c, l * g->sw))),
					   LLVMConstInt(c->i32, l, 0), "");
	return v;
}

/* One chunk of output columns [ow0, ow0 + nv) of row oh, nv <= L. */
static void dw_chunk(Cg *c, DwK *k, LLVMValueRef oh, LLVMValueRef ow0, int64_t cow0, int nv)
{
	Geo *g = &k->g;
	LLVMValueRef accp = cg_entry_alloca(c, c->vf);
	LLVMBuildStore(c->b, k->bias, accp);
	for (int64_t kh = 0; kh < g->KH; kh++) {
		LLVMValueRef ih = cg_add(c, cg_mul(c, oh, cg_i64(c, g->sh)), cg_i64(c, kh * g->dh - g->ph));
		LLVMBasicBlockRef endh = cg_if_begin(c, cg_in_range(c, ih, g->H));
		LLVMValueRef xrow = cg_gep(c, c->f32, k->xp, cg_mul(c, ih, cg_i64(c, g->W)));
		LLVMValueRef acc = LLVMBuildLoad2(c->b, c->vf, accp, "");
		for (int64_t kw = 0; kw < g->KW; kw++) {
			LLVMValueRef xv = dw_xvec(c, k, xrow, ow0, cow0, kw * g->dw - g->pw);
			acc = dw_combine(c, k, xv, kh * g->KW + kw, acc);
		}
		LLVMBuildStore(c->b, acc, accp);
		cg_if_end(c, endh);
	}
	LLVMValueRef acc = LLVMBuildLoad2(c->b, c->vf, accp, "");
	LLVMValueRef yo = cg_add(c, cg_mul(c, oh, cg_i64(c, g->OW)), ow0);
	if (nv == c->lanes) {
		if (k->rp)
			acc = LLVMBuildFAdd(c->b, acc, cg_vload(c, k->rp, yo), "");
		acc = cg_act_apply(c, k->act, acc);
		LLVMValueRef st = LLVMBuildStore(c->b, acc, cg_gep(c, c->f32, k->yp, yo));
		LLVMSetAlignment(st, 4);
		return;
	}
	/* A partial chunk: residual lanes gathered, the activation on the
	 * whole vector, then lane by lane out. */
	if (k->rp) {
		LLVMValueRef rv = LLVMConstNull(c->vf);
		for (int l = 0; l < nv; l++)
			rv = LLVMBuildInsertElement(c->b, rv, cg_loadf(c, k->rp, cg_add(c, yo, cg_i64(c, l))), LLVMConstInt(c->i32, l, 0), "");
		acc = LLVMBuildFAdd(c->b, acc, rv, "");
	}
	acc = cg_act_apply(c, k->act, acc);
	for (int l = 0; l < nv; l++)
		cg_storef(c, LLVMBuildExtractElement(c->b, acc, LLVMConstInt(c->i32, l, 0), ""), k->yp, cg_add(c, yo, cg_i64(c, l)));
}

/* Planes whose rows are narrower than a vector waste most lanes when
 * vectorized along the row (KWS's 25x5, the 7x7 of ImageNet nets): those
 * go as one run of pixels instead, every chunk of L outputs at a constant
 * position (the last one overlapping its neighbour so it is whole).  Per
 * tap a chunk's lanes read input positions known at compile time: one
 * vector load (two for a wider spread) and a constant shuffle that also
 * puts zeros in the lanes reading padding. */
#define DW_PLANE_MAX 64  /* chunks per plane, unrolled */

/* Input positions for tap (kh, kw) of the chunk of outputs from s; -1 in
 * the padding.  Returns the spread (max - min + 1) of the valid ones, 0 if
 * none is valid. */
static int64_t dw_plane_idx(const Geo *g, int L, int64_t s, int64_t kh, int64_t kw, int64_t *idx, int64_t *lo)
{
	int64_t mn = INT64_MAX, mx = -1;
	for (int l = 0; l < L; l++) {
		int64_t oh = (s + l) / g->OW, ow = (s + l) % g->OW;
		int64_t ih = oh * g->sh + kh * g->dh - g->ph, iw = ow * g->sw + kw * g->dw - g->pw;
		idx[l] = ih >= 0 && ih < g->H && iw >= 0 && iw < g->W ? ih * g->W + iw : -1;
		if (idx[l] >= 0) {
			mn = idx[l] < mn ? idx[l] : mn;
			mx = idx[l] > mx ? idx[l] : mx;
		}
	}
	*lo = mn;
	return mx < 0 ? 0 : mx - mn + 1;
}

static int64_t dw_plane_start(const Geo *g, int L, int64_t q)
{
	int64_t s = q * L;
	return s + L > g->OH * g->OW ? g->OH * g->OW - L : s;
}

/* Is the run-of-pixels form possible (every tap of every chunk within two
 * vector loads of the plane) and worth it (a fifth fewer vectors)? */
static bool dw_plane_ok(const Geo *g, int L)
{
	int64_t P = g->OH * g->OW, chunks = (P + L - 1) / L, row = g->OH * ((g->OW + L - 1) / L);
	if (L < 4 || P < L || g->H * g->W < L || chunks > DW_PLANE_MAX || chunks * 5 > row * 4)
		return false;
	int64_t idx[64], lo;
	for (int64_t q = 0; q < chunks; q++)
		for (int64_t kh = 0; kh < g->KH; kh++)
			for (int64_t kw = 0; kw < g->KW; kw++) {
				int64_t spread = dw_plane_idx(g, L, dw_plane_start(g, L, q), kh, kw, idx, &lo);
				if (spread > 2 * L || (spread > L && g->H * g->W < 2 * L))
					return false;
			}
	return true;
}

static void dw_plane(Cg *c, DwK *k)
{
	Geo *g = &k->g;
	int L = c->lanes;
	int64_t HW = g->H * g->W, chunks = (g->OH * g->OW + L - 1) / L;
	LLVMValueRef zero = k->pad;
	for (int64_t q = 0; q < chunks; q++) {
		int64_t s = dw_plane_start(g, L, q);
		LLVMValueRef acc = k->bias;
		for (int64_t kh = 0; kh < g->KH; kh++)
			for (int64_t kw = 0; kw < g->KW; kw++) {
				int64_t idx[64], lo;
				int64_t spread = dw_plane_idx(g, L, s, kh, kw, idx, &lo);
				if (!spread)
					continue;
				int nl = spread > L ? 2 : 1;
				int64_t b = lo > HW - nl * L ? HW - nl * L : lo;
				LLVMValueRef a = cg_vload(c, k->xp, cg_i64(c, b));
				LLVMValueRef a2 = nl == 2 ? cg_vload(c, k->xp, cg_i64(c, b + L)) : zero;
				LLVMValueRef sh[64], keep[64];
				bool ident = true, pad = false;
				for (int l = 0; l < L; l++) {
					/* One load: padding lanes take lane 0 of the zero vector. */
					int64_t e = idx[l] >= 0 ? idx[l] - b : nl == 1 ? L : 0;
					sh[l] = LLVMConstInt(c->i32, (unsigned long long)e, 0);
					keep[l] = LLVMConstInt(LLVMInt1TypeInContext(c->ctx), idx[l] >= 0, 0);
					ident &= e == l;
					pad |= idx[l] < 0;
				}
				LLVMValueRef xv = ident ? a : LLVMBuildShuffleVector(c->b, a, a2, LLVMConstVector(sh, L), "");
				if (nl == 2 && pad)
					xv = LLVMBuildSelect(c->b, LLVMConstVector(keep, L), xv, zero, "");
				acc = dw_combine(c, k, xv, kh * g->KW + kw, acc);
			}
		if (k->rp)
			acc = LLVMBuildFAdd(c->b, acc, cg_vload(c, k->rp, cg_i64(c, s)), "");
		acc = cg_act_apply(c, k->act, acc);
		LLVMSetAlignment(LLVMBuildStore(c->b, acc, cg_gep(c, c->f32, k->yp, cg_i64(c, s))), 4);
	}
}

/* Depthwise conv, or (pool) a 2-D max pool: the same windows, combined by
 * max over -inf padding instead of by weights over zeros. */
void cg_conv_depthwise(Cg *c, const Node *n)
{
	bool pool = n->op == OP_MAXPOOL;
	DwK k = {.g = cg_geometry(c, n, !pool), .pool = pool};
	Geo *g = &k.g;
	int L = c->lanes;
	if (pool)
		g->M = g->group = g->C;
	k.pad = pool ? cg_fconst(c, c->vf, -INFINITY) : LLVMConstNull(c->vf);
	k.mult = g->M / g->C;
	k.act = pool ? (Act){ACT_NONE} : ir_act_of_epilogue(n);
	k.Wt = pool ? NULL : cg_buf(c, n->in[1]);
	LLVMValueRef X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out);
	LLVMValueRef Bi = !pool && n->nin > 2 && n->in[2] >= 0 ? cg_buf(c, n->in[2]) : NULL;
	LLVMValueRef R = !pool && n->nin > 3 && n->in[3] >= 0 ? cg_buf(c, n->in[3]) : NULL;
	/* What one chunk reads past its first lane's position (stride 2 loads
	 * two whole vectors). */
	k.span = g->sw == 2 ? 2 * L - 1 : (L - 1) * g->sw;
	Loop ln, lc, lr, loh;
	LLVMValueRef in = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, g->N));
	LLVMValueRef clo, chi;  /* this task's channels */
	cg_part_range(c, g->C, &clo, &chi);
	LLVMValueRef ch = cg_loop_begin(c, &lc, clo, chi);
	LLVMValueRef r = k.mult > 1 ? cg_loop_begin(c, &lr, cg_i64(c, 0), cg_i64(c, k.mult)) : cg_i64(c, 0);
	k.m = cg_add(c, cg_mul(c, ch, cg_i64(c, k.mult)), r);
	LLVMValueRef xplane = cg_add(c, cg_mul(c, in, cg_i64(c, g->C)), ch), yplane = cg_add(c, cg_mul(c, in, cg_i64(c, g->M)), k.m);
	k.xp = cg_gep(c, c->f32, X, cg_mul(c, xplane, cg_i64(c, g->H * g->W)));
	k.yp = cg_gep(c, c->f32, Y, cg_mul(c, yplane, cg_i64(c, g->OH * g->OW)));
	k.rp = R ? cg_gep(c, c->f32, R, cg_mul(c, yplane, cg_i64(c, g->OH * g->OW))) : NULL;
	k.bias = pool ? k.pad : cg_splat(c, Bi ? cg_loadf(c, Bi, k.m) : cg_f32(c, 0), c->vf);
	int64_t taps = g->KH * g->KW;
	for (int64_t t = 0; t < taps && taps <= DW_HOIST && !pool; t++)
		k.w[t] = cg_splat(c, cg_loadf(c, k.Wt, cg_add(c, cg_mul(c, k.m, cg_i64(c, taps)), cg_i64(c, t))), c->vf);
	if (dw_plane_ok(g, L))
		dw_plane(c, &k);
	else {
		LLVMValueRef oh = cg_loop_begin(c, &loh, cg_i64(c, 0), cg_i64(c, g->OH));
		for (int64_t ow = 0; ow < g->OW;) {
			int nv = g->OW - ow < L ? (int)(g->OW - ow) : L;
			if (!dw_inner(&k, ow, L)) {
				dw_chunk(c, &k, oh, cg_i64(c, ow), ow, nv);
				ow += nv;
				continue;
			}
			/* A loop over the run of interior chunks. */
			int64_t e = ow;
			while (dw_inner(&k, e, L))
				e += L;
			if (e - ow == L)
				dw_chunk(c, &k, oh, cg_i64(c, ow), -1, L);
			else {
				Loop l;
				LLVMValueRef o = cg_loop_begin(c, &l, cg_i64(c, ow), cg_i64(c, e));
				dw_chunk(c, &k, oh, o, -1, L);
				cg_loop_end(c, &l, L);
			}
			ow = e;
		}
		cg_loop_end(c, &loh, 1);
	}
	if (k.mult > 1)
		cg_loop_end(c, &lr, 1);
	cg_loop_end(c, &lc, 1);
	cg_loop_end(c, &ln, 1);
}

/* Depthwise convolution (one weight set per channel) and max pooling over
 * channel blocks of one vector (nchw<L>c): the block's channels at one
 * pixel are one vector, so a tap is one vector load and an FMA with the
 * tap's L weights (or a max).  A tile of T pixels along a row keeps T
 * accumulators; tiles touching the left or right padding sit at constant
 * columns and drop the taps that fall into it, rows outside the input
 * skip their taps. */
#define DB_TMAX 14

typedef struct DbK {
	Geo g;
	bool pool;
	Act act;
	LLVMValueRef xp, yp, rp;   /* this block's planes: input, output, residual */
	LLVMValueRef wp, bias;     /* this block's packed taps [KH*KW][L]; bias vector */
	int T;
	LLVMValueRef acc[DB_TMAX];
} DbK;

static void db_tile(Cg *c, DbK *k, LLVMValueRef oh, LLVMValueRef ow0, int64_t cow0, int T)
{
	Geo *g = &k->g;
	int L = c->lanes;
	for (int j = 0; j < T; j++)
		LLVMBuildStore(c->b, k->bias, k->acc[j]);
	for (int64_t kh = 0; kh < g->KH; kh++) {
		LLVMValueRef ih = cg_add(c, cg_mul(c, oh, cg_i64(c, g->sh)), cg_i64(c, kh * g->dh - g->ph));
		LLVMBasicBlockRef endh = cg_if_begin(c, cg_in_range(c, ih, g->H));
		LLVMValueRef xrow = cg_gep(c, c->f32, k->xp, cg_mul(c, ih, cg_i64(c, g->W * L)));
		LLVMValueRef a[DB_TMAX];
		for (int j = 0; j < T; j++)
			a[j] = LLVMBuildLoad2(c->b, c->vf, k->acc[j], "");
		for (int64_t kw = 0; kw < g->KW; kw++) {
			LLVMValueRef wv = k->pool ? NULL : cg_vload(c, k->wp, cg_i64(c, (kh * g->KW + kw) * L));
			for (int j = 0; j < T; j++) {
				LLVMValueRef at;
				if (cow0 >= 0) {
					int64_t iw = (cow0 + j) * g->sw + kw * g->dw - g->pw;
					if (iw < 0 || iw >= g->W)
						continue;
					at = cg_i64(c, iw * L);
				} else
					at = cg_mul(c, cg_add(c, cg_mul(c, cg_add(c, ow0, cg_i64(c, j)), cg_i64(c, g->sw)), cg_i64(c, kw * g->dw - g->pw)), cg_i64(c, L));
				LLVMValueRef xv = cg_vload(c, xrow, at);
				a[j] = k->pool ? cg_max_nan(c, xv, a[j]) : cg_fmuladd(c, xv, wv, a[j]);
			}
		}
		for (int j = 0; j < T; j++)
			LLVMBuildStore(c->b, a[j], k->acc[j]);
		cg_if_end(c, endh);
	}
	for (int j = 0; j < T; j++) {
		LLVMValueRef yo = cg_mul(c, cg_add(c, cg_mul(c, oh, cg_i64(c, g->OW)), cg_add(c, ow0, cg_i64(c, j))), cg_i64(c, L));
		LLVMValueRef v = LLVMBuildLoad2(c->b, c->vf, k->acc[j], "");
		if (k->rp)
			v = LLVMBuildFAdd(c->b, v, cg_vload(c, k->rp, yo), "");
		LLVMSetAlignment(LLVMBuildStore(c->b, cg_act_apply(c, k->act, v), cg_gep(c, c->f32, k->yp, yo)), 4);
	}
}

void cg_dw_blocked(Cg *c, const Node *n)
{
	bool pool = n->op == OP_MAXPOOL;
	DbK k = {.g = cg_geometry(c, n, !pool), .pool = pool};
	Geo *g = &k.g;
	int L = c->lanes;
	int64_t CB = g->C / L, taps = g->KH * g->KW, HW = g->H * g->W, OHW = g->OH * g->OW;
	LLVMValueRef Wp = NULL, Bi = NULL, R = NULL;
	if (!pool) {
		/* [C, 1, KH, KW] -> [C/L][KH*KW][L] */
		const float *w = ir_value(c->g, n->in[1])->data;
		float *wp = malloc((size_t)(g->C * taps + 1) * sizeof *wp);
		if (!wp)
			die("out of memory");
		for (int64_t ch = 0; ch < g->C; ch++)
			for (int64_t t = 0; t < taps; t++)
				wp[((ch / L) * taps + t) * L + ch % L] = w[ch * taps + t];
		Wp = cg_const_blob(c, "kiln.dwp", wp, (size_t)(g->C * taps) * sizeof *wp);
		free(wp);
		Bi = n->nin > 2 && n->in[2] >= 0 ? cg_buf(c, n->in[2]) : NULL;
		R = n->nin > 3 && n->in[3] >= 0 ? cg_buf(c, n->in[3]) : NULL;
		k.act = ir_act_of_epilogue(n);
	}
	k.T = c->fregs - 4;
	k.T = k.T < 1 ? 1 : k.T > DB_TMAX ? DB_TMAX : k.T;
	if (k.T > g->OW)
		k.T = (int)g->OW;
	for (int j = 0; j < k.T; j++)
		k.acc[j] = cg_entry_alloca(c, c->vf);
	Loop ln, lb, loh;
	LLVMValueRef in = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, g->N));
	LLVMValueRef lo, hi;  /* this task's blocks */
	cg_part_range(c, CB, &lo, &hi);
	LLVMValueRef cb = cg_loop_begin(c, &lb, lo, hi);
	LLVMValueRef blk = cg_add(c, cg_mul(c, in, cg_i64(c, CB)), cb);
	k.xp = cg_gep(c, c->f32, cg_buf(c, n->in[0]), cg_mul(c, blk, cg_i64(c, HW * L)));
	k.yp = cg_gep(c, c->f32, cg_buf(c, n->out), cg_mul(c, blk, cg_i64(c, OHW * L)));
	k.rp = R ? cg_gep(c, c->f32, R, cg_mul(c, blk, cg_i64(c, OHW * L))) : NULL;
	k.wp = pool ? NULL : cg_gep(c, c->f32, Wp, cg_mul(c, cb, cg_i64(c, taps * L)));
	k.bias = pool ? cg_fconst(c, c->vf, -INFINITY) : Bi ? cg_vload(c, Bi, cg_mul(c, cb, cg_i64(c, L))) : LLVMConstNull(c->vf);
	int64_t wlo, whi;
	cg_interior(g->W, g->OW, g->KW, g->sw, g->dw, g->pw, &wlo, &whi);
	LLVMValueRef oh = cg_loop_begin(c, &loh, cg_i64(c, 0), cg_i64(c, g->OH));
	for (int64_t ow = 0; ow < g->OW;) {
		int T = g->OW - ow < k.T ? (int)(g->OW - ow) : k.T;
		if (ow < wlo || ow + T > whi) {
			db_tile(c, &k, oh, cg_i64(c, ow), ow, T);
			ow += T;
			continue;
		}
		int64_t cnt = (whi - ow) / T;
		if (cnt == 1)
			db_tile(c, &k, oh, cg_i64(c, ow), -1, T);
		else {
			Loop l;
			LLVMValueRef o = cg_loop_begin(c, &l, cg_i64(c, ow), cg_i64(c, ow + cnt * T));
			db_tile(c, &k, oh, o, -1, T);
			cg_loop_end(c, &l, T);
		}
		ow += cnt * T;
	}
	cg_loop_end(c, &loh, 1);
	cg_loop_end(c, &lb, 1);
	cg_loop_end(c, &ln, 1);
}
