/* Op lowerings: a plain loop nest for every op (the reference), and beside
 * it vector kernels for the heavy ones: blocked direct convolution (packed
 * weights, register tiles of output pixels x 2 vectors of channels),
 * depthwise convolution vectorized along rows, and a register-blocked GEMM
 * with packed constant B.  KILN_CG_REFERENCE=1 selects the plain ones. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

#define MAXR IR_MAX_RANK

/* A task's share [lo, hi) of nblk channel blocks (cg_part_range), the
 * last of which (index full) may be partial: where the loop over the
 * whole blocks ends, and whether block `full` is this task's. */
static LLVMValueRef part_whole_end(Cg *c, LLVMValueRef hi, int64_t full)
{
	return LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSGT, hi, cg_i64(c, full), ""), cg_i64(c, full), hi, "");
}

static LLVMValueRef part_owns(Cg *c, LLVMValueRef lo, LLVMValueRef hi, int64_t full)
{
	return LLVMBuildAnd(c->b, LLVMBuildICmp(c->b, LLVMIntSLE, lo, cg_i64(c, full), ""),
			    LLVMBuildICmp(c->b, LLVMIntSGT, hi, cg_i64(c, full), ""), "");
}

/* ---- elementwise ------------------------------------------------------------ */

static LLVMValueRef fsel_lt(Cg *c, LLVMValueRef x, LLVMValueRef y, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOLT, x, y, ""), a, b, "");
}

/* NaN-propagating max of two values (x wins when it is NaN or larger). */
static LLVMValueRef max_nan(Cg *c, LLVMValueRef x, LLVMValueRef m)
{
	return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealUGT, x, m, ""), x, m, "");
}

/* An activation: a standalone unary op or a fused epilogue. */
typedef enum ActKind {
	ACT_NONE, ACT_RELU, ACT_LEAKY, ACT_CLIP, ACT_SIGMOID, ACT_TANH,
	ACT_SILU, ACT_HARD_SIGMOID, ACT_HARD_SWISH, ACT_GELU, ACT_GELU_TANH
} ActKind;
typedef struct Act {
	ActKind k;
	double alpha, lo, hi;  /* leaky slope; clip bounds; hard sigmoid alpha (lo) and beta (hi) */
} Act;

static Act act_of_unary(const Node *n)
{
	switch (n->op) {
	case OP_RELU: return (Act){ACT_RELU};
	case OP_LEAKY_RELU: return (Act){ACT_LEAKY, ir_attr_float(n, "alpha", 0.01)};
	case OP_CLIP: return (Act){ACT_CLIP, 0, ir_attr_float(n, "min", -INFINITY), ir_attr_float(n, "max", INFINITY)};
	case OP_SIGMOID: return (Act){ACT_SIGMOID};
	case OP_TANH: return (Act){ACT_TANH};
	default: die("not a unary op");
	}
}

/* The fused epilogue of a conv/gemm/matmul (attr "act"). */
static Act act_of_epilogue(const Node *n)
{
	const char *a = ir_attr_str(n, "act", "");
	if (!strcmp(a, "relu")) return (Act){ACT_RELU};
	if (!strcmp(a, "leaky_relu")) return (Act){ACT_LEAKY, ir_attr_float(n, "act_alpha", 0.01)};
	if (!strcmp(a, "clip")) return (Act){ACT_CLIP, 0, ir_attr_float(n, "act_min", -INFINITY), ir_attr_float(n, "act_max", INFINITY)};
	if (!strcmp(a, "sigmoid")) return (Act){ACT_SIGMOID};
	if (!strcmp(a, "tanh")) return (Act){ACT_TANH};
	if (!strcmp(a, "silu")) return (Act){ACT_SILU};
	if (!strcmp(a, "hard_sigmoid"))
		return (Act){ACT_HARD_SIGMOID, 0, ir_attr_float(n, "act_alpha", 0.2), ir_attr_float(n, "act_beta", 0.5)};
	if (!strcmp(a, "hard_swish")) return (Act){ACT_HARD_SWISH};
	if (!strcmp(a, "gelu")) return (Act){ACT_GELU};
	if (!strcmp(a, "gelu_tanh")) return (Act){ACT_GELU_TANH};
	return (Act){ACT_NONE};
}

/* x is an f32 scalar or vector. */
static LLVMValueRef act_apply(Cg *c, Act a, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	LLVMValueRef zero = cg_fconst(c, ty, 0);
	switch (a.k) {
	case ACT_NONE: return x;
	case ACT_RELU: return fsel_lt(c, x, zero, zero, x);  /* NaN stays NaN */
	case ACT_LEAKY: return fsel_lt(c, x, zero, LLVMBuildFMul(c->b, x, cg_fconst(c, ty, a.alpha), ""), x);
	case ACT_SIGMOID: return cg_sigmoid(c, x);
	case ACT_TANH: return cg_tanh(c, x);
	case ACT_SILU: return LLVMBuildFMul(c->b, x, cg_sigmoid(c, x), "");
	case ACT_HARD_SIGMOID: return cg_hard_sigmoid(c, x, a.lo, a.hi);
	case ACT_HARD_SWISH: return LLVMBuildFMul(c->b, x, cg_hard_sigmoid(c, x, 1.0 / 6, 0.5), "");
	case ACT_GELU: return cg_gelu(c, x, false);
	case ACT_GELU_TANH: return cg_gelu(c, x, true);
	case ACT_CLIP: {
		LLVMValueRef y = x;
		if (!isinf(a.lo))
			y = fsel_lt(c, y, cg_fconst(c, ty, a.lo), cg_fconst(c, ty, a.lo), y);
		if (!isinf(a.hi))
			y = LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOGT, y, cg_fconst(c, ty, a.hi), ""),
					    cg_fconst(c, ty, a.hi), y, "");
		return y;
	}
	}
	return x;
}

/* In place over a whole tensor: y = act(y). */
static void act_inplace(Cg *c, Act a, LLVMValueRef y, int64_t num)
{
	if (a.k == ACT_NONE)
		return;
	Loop l;
	LLVMValueRef i = cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, num));
	cg_storef(c, act_apply(c, a, cg_loadf(c, y, i)), y, i);
	cg_loop_end(c, &l, 1);
}

/* The math ops without an activation form. */
static LLVMValueRef math_op(Cg *c, Op op, DType dt, LLVMValueRef x)
{
	LLVMTypeRef ty = LLVMTypeOf(x);
	bool f = ir_dtype_is_float(dt);
	switch (op) {
	case OP_ABS:
		if (f)
			return cg_call_intr(c, "llvm.fabs", &ty, 1, &x, 1);
		if (!ir_dtype_is_signed(dt))
			return x;
		return LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, x, LLVMConstNull(ty), ""), LLVMBuildNeg(c->b, x, ""), x, "");
	case OP_NEG: return f ? LLVMBuildFNeg(c->b, x, "") : LLVMBuildNeg(c->b, x, "");
	case OP_EXP: return cg_exp(c, x);
	case OP_LOG: return cg_log(c, x);
	case OP_SQRT: return cg_call_intr(c, "llvm.sqrt", &ty, 1, &x, 1);
	case OP_RECIPROCAL: return LLVMBuildFDiv(c->b, cg_f32(c, 1), x, "");
	case OP_FLOOR: return cg_round_dir(c, x, false);
	case OP_CEIL: return cg_round_dir(c, x, true);
	default: die("not a math op");
	}
}

static void lower_unary(Cg *c, const Node *n)
{
	const Type *t = cg_ty(c, n->out);
	LLVMTypeRef et = cg_num_type(c, t->dt);
	LLVMValueRef x = cg_buf(c, n->in[0]), y = cg_buf(c, n->out);
	bool act = n->op == OP_RELU || n->op == OP_LEAKY_RELU || n->op == OP_SIGMOID || n->op == OP_TANH || n->op == OP_CLIP;
	Loop l;
	LLVMValueRef i = cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, ir_type_numel(t)));
	LLVMValueRef v = LLVMBuildLoad2(c->b, et, cg_gep(c, et, x, i), "");
	v = act ? act_apply(c, act_of_unary(n), v) : math_op(c, n->op, t->dt, v);
	LLVMBuildStore(c->b, v, cg_gep(c, et, y, i));
	cg_loop_end(c, &l, 1);
}

/* Strides of t's elements as seen from an output of rank r (0 where t
 * broadcasts). */
static void bcast_strides(const Type *t, int r, const int64_t *od, int64_t *st)
{
	int64_t s = 1;
	for (int i = r - 1; i >= 0; i--) {
		int ti = i - (r - t->rank);
		if (ti < 0 || t->dims[ti] == 1 || od[i] == 1) {
			st[i] = 0;
			if (ti >= 0)
				s *= t->dims[ti];
		} else {
			st[i] = s;
			s *= t->dims[ti];
		}
	}
}

static LLVMValueRef binary_op(Cg *c, Op op, DType dt, LLVMValueRef a, LLVMValueRef b)
{
	bool f = ir_dtype_is_float(dt);
	switch (op) {
	case OP_ADD: return f ? LLVMBuildFAdd(c->b, a, b, "") : LLVMBuildAdd(c->b, a, b, "");
	case OP_SUB: return f ? LLVMBuildFSub(c->b, a, b, "") : LLVMBuildSub(c->b, a, b, "");
	case OP_MUL: return f ? LLVMBuildFMul(c->b, a, b, "") : LLVMBuildMul(c->b, a, b, "");
	case OP_DIV:
		if (f)
			return LLVMBuildFDiv(c->b, a, b, "");
		/* Integer division by zero is undefined in ONNX; keep it from
		 * trapping: divide by 1 instead. */
		b = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntEQ, b, LLVMConstNull(LLVMTypeOf(b)), ""),
				    LLVMConstInt(LLVMTypeOf(b), 1, 0), b, "");
		return ir_dtype_is_signed(dt) ? LLVMBuildSDiv(c->b, a, b, "") : LLVMBuildUDiv(c->b, a, b, "");
	default: die("not a binary op");
	}
}

/* One fusable elementwise op on f32 values (scalars or vectors). */
LLVMValueRef cg_ew_apply(Cg *c, const Node *n, LLVMValueRef *v)
{
	switch (n->op) {
	case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV:
		return binary_op(c, n->op, DT_F32, v[0], v[1]);
	case OP_RELU: case OP_LEAKY_RELU: case OP_SIGMOID: case OP_TANH: case OP_CLIP:
		return act_apply(c, act_of_unary(n), v[0]);
	case OP_ABS: case OP_NEG: case OP_EXP: case OP_LOG: case OP_SQRT: case OP_RECIPROCAL: case OP_FLOOR: case OP_CEIL:
		return math_op(c, n->op, DT_F32, v[0]);
	default:
		return cg_ew_compute(c, n, DT_F32, v);
	}
}

static void lower_binary(Cg *c, const Node *n)
{
	const Type *to = cg_ty(c, n->out), *ta = cg_ty(c, n->in[0]), *tb = cg_ty(c, n->in[1]);
	int r = to->rank;
	int64_t sa[MAXR], sb[MAXR];
	bcast_strides(ta, r, to->dims, sa);
	bcast_strides(tb, r, to->dims, sb);
	LLVMTypeRef et = cg_num_type(c, to->dt);
	LLVMValueRef pa = cg_buf(c, n->in[0]), pb = cg_buf(c, n->in[1]), py = cg_buf(c, n->out);
	if (r == 0) {
		LLVMValueRef a = LLVMBuildLoad2(c->b, et, pa, ""), b = LLVMBuildLoad2(c->b, et, pb, "");
		LLVMBuildStore(c->b, binary_op(c, n->op, to->dt, a, b), py);
		return;
	}
	/* Nested loops; offsets accumulate per level. */
	Loop loops[MAXR];
	LLVMValueRef oa = cg_i64(c, 0), ob = cg_i64(c, 0), oy = cg_i64(c, 0);
	for (int d = 0; d < r; d++) {
		LLVMValueRef i = cg_loop_begin(c, &loops[d], cg_i64(c, 0), cg_i64(c, to->dims[d]));
		oa = cg_add(c, oa, cg_mul(c, i, cg_i64(c, sa[d])));
		ob = cg_add(c, ob, cg_mul(c, i, cg_i64(c, sb[d])));
		oy = cg_add(c, cg_mul(c, oy, cg_i64(c, to->dims[d])), i);
	}
	LLVMValueRef a = LLVMBuildLoad2(c->b, et, cg_gep(c, et, pa, oa), "");
	LLVMValueRef b = LLVMBuildLoad2(c->b, et, cg_gep(c, et, pb, ob), "");
	LLVMBuildStore(c->b, binary_op(c, n->op, to->dt, a, b), cg_gep(c, et, py, oy));
	for (int d = r - 1; d >= 0; d--)
		cg_loop_end(c, &loops[d], 1);
}

/* ---- batchnorm: a per-channel scale and shift, folded at compile time
 * when the parameters are constants ---------------------------------------- */

static bool all_const(Cg *c, const Node *n, int from)
{
	for (int i = from; i < n->nin; i++)
		if (n->in[i] >= 0 && ir_value(c->g, n->in[i])->kind != VAL_CONST)
			return false;
	return true;
}

static void lower_batchnorm(Cg *c, const Node *n)
{
	const Type *t = cg_ty(c, n->out);
	int64_t C = t->dims[1], inner = 1;
	for (int i = 2; i < t->rank; i++)
		inner *= t->dims[i];
	double eps = ir_attr_float(n, "epsilon", 1e-5);
	LLVMValueRef k = NULL;
	if (all_const(c, n, 1)) {
		const float *sc = ir_value(c->g, n->in[1])->data, *bi = ir_value(c->g, n->in[2])->data,
			    *mu = ir_value(c->g, n->in[3])->data, *var = ir_value(c->g, n->in[4])->data;
		float *ab = malloc(2 * C * sizeof *ab);
		for (int64_t i = 0; i < C; i++) {
			double a = sc[i] / sqrt((double)var[i] + eps);
			ab[i] = (float)a;
			ab[C + i] = (float)(bi[i] - mu[i] * a);
		}
		k = cg_const_blob(c, "kiln.bn", ab, 2 * C * sizeof *ab);
		free(ab);
	}
	LLVMValueRef x = cg_buf(c, n->in[0]), y = cg_buf(c, n->out);
	Loop ln, lc, li;
	LLVMValueRef in = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, t->dims[0]));
	LLVMValueRef ic = cg_loop_begin(c, &lc, cg_i64(c, 0), cg_i64(c, C));
	LLVMValueRef a, b;
	if (k) {
		a = cg_loadf(c, k, ic);
		b = cg_loadf(c, k, cg_add(c, ic, cg_i64(c, C)));
	} else {
		/* a = scale / sqrt(var + eps); b = bias - mean * a */
		LLVMValueRef v = LLVMBuildFAdd(c->b, cg_loadf(c, cg_buf(c, n->in[4]), ic), cg_f32(c, eps), "");
		LLVMTypeRef ft = c->f32;
		v = cg_call_intr(c, "llvm.sqrt", &ft, 1, &v, 1);
		a = LLVMBuildFDiv(c->b, cg_loadf(c, cg_buf(c, n->in[1]), ic), v, "");
		b = LLVMBuildFSub(c->b, cg_loadf(c, cg_buf(c, n->in[2]), ic),
				  LLVMBuildFMul(c->b, cg_loadf(c, cg_buf(c, n->in[3]), ic), a, ""), "");
	}
	LLVMValueRef base = cg_mul(c, cg_add(c, cg_mul(c, in, cg_i64(c, C)), ic), cg_i64(c, inner));
	LLVMValueRef ii = cg_loop_begin(c, &li, cg_i64(c, 0), cg_i64(c, inner));
	LLVMValueRef o = cg_add(c, base, ii);
	cg_storef(c, cg_fmuladd(c, cg_loadf(c, x, o), a, b), y, o);
	cg_loop_end(c, &li, 1);
	cg_loop_end(c, &lc, 1);
	cg_loop_end(c, &ln, 1);
}

/* ---- convolution ------------------------------------------------------------------ */

/* Conv/pool geometry with 1-D mapped onto 2-D (H = 1). */
typedef struct Geo {
	int64_t N, C, H, W, M, KH, KW, OH, OW, sh, sw, dh, dw, ph, pw, pe_h, pe_w, group;
} Geo;

static Geo geometry(Cg *c, const Node *n, bool conv)
{
	const Type *x = cg_ty(c, n->in[0]), *y = cg_ty(c, n->out);
	int nsp = x->rank - 2, cnt;
	const int64_t *st = ir_attr_ints(n, "strides", &cnt), *pd = ir_attr_ints(n, "pads", &cnt),
		      *dl = ir_attr_ints(n, "dilations", &cnt);
	const int64_t *k = conv ? NULL : ir_attr_ints(n, "kernel", &cnt);
	Geo g = {.N = x->dims[0], .C = x->dims[1], .M = y->dims[1], .group = ir_attr_int(n, "group", 1)};
	if (nsp == 1) {
		g.H = g.OH = g.KH = g.sh = g.dh = 1;
		g.W = x->dims[2];
		g.OW = y->dims[2];
		g.KW = conv ? cg_ty(c, n->in[1])->dims[2] : k[0];
		g.sw = st[0];
		g.dw = dl[0];
		g.pw = pd[0];
		g.pe_w = pd[1];
	} else {
		g.H = x->dims[2];
		g.W = x->dims[3];
		g.OH = y->dims[2];
		g.OW = y->dims[3];
		g.KH = conv ? cg_ty(c, n->in[1])->dims[2] : k[0];
		g.KW = conv ? cg_ty(c, n->in[1])->dims[3] : k[1];
		g.sh = st[0];
		g.sw = st[1];
		g.dh = dl[0];
		g.dw = dl[1];
		g.ph = pd[0];
		g.pw = pd[1];
		g.pe_h = pd[2];
		g.pe_w = pd[3];
	}
	return g;
}

/* Are the channel-blocked operands and result of conv or pool n (if any)
 * in blocks of one vector, as the vectorized kernels read them? */
static bool blocks_native(Cg *c, const Node *n)
{
	for (int i = -1; i < n->nin; i++) {
		ValueId v = i < 0 ? n->out : n->in[i];
		if (v >= 0 && cg_ty(c, v)->block && cg_ty(c, v)->block != c->lanes)
			return false;
	}
	return true;
}

static bool any_blocked(Cg *c, const Node *n)
{
	bool b = cg_ty(c, n->out)->block;
	for (int i = 0; i < n->nin; i++)
		b |= n->in[i] >= 0 && cg_ty(c, n->in[i])->block;
	return b;
}

static void lower_conv_reference(Cg *c, const Node *n)
{
	Geo g = geometry(c, n, true);
	int64_t Cg = g.C / g.group, Mg = g.M / g.group;
	LLVMValueRef X = cg_buf(c, n->in[0]), W = cg_buf(c, n->in[1]), Bi = n->nin > 2 ? cg_buf(c, n->in[2]) : NULL, Y = cg_buf(c, n->out);
	LLVMValueRef acc = cg_entry_alloca(c, c->f32);
	Loop ln, lg, lm, loh, low, lc, lkh, lkw;
	LLVMValueRef in = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, g.N));
	/* Groups as an outer loop: no 64-bit division (a libgcc call on 32-bit
	 * targets). */
	LLVMValueRef grp = cg_loop_begin(c, &lg, cg_i64(c, 0), cg_i64(c, g.group));
	LLVMValueRef m = cg_add(c, cg_mul(c, grp, cg_i64(c, Mg)), cg_loop_begin(c, &lm, cg_i64(c, 0), cg_i64(c, Mg)));
	LLVMValueRef oh = cg_loop_begin(c, &loh, cg_i64(c, 0), cg_i64(c, g.OH));
	LLVMValueRef ow = cg_loop_begin(c, &low, cg_i64(c, 0), cg_i64(c, g.OW));
	LLVMBuildStore(c->b, Bi ? cg_loadf(c, Bi, m) : cg_f32(c, 0), acc);
	LLVMValueRef ic = cg_loop_begin(c, &lc, cg_i64(c, 0), cg_i64(c, Cg));
	LLVMValueRef kh = cg_loop_begin(c, &lkh, cg_i64(c, 0), cg_i64(c, g.KH));
	LLVMValueRef ih = cg_add(c, cg_mul(c, oh, cg_i64(c, g.sh)), cg_add(c, cg_mul(c, kh, cg_i64(c, g.dh)), cg_i64(c, -g.ph)));
	LLVMBasicBlockRef endh = cg_if_begin(c, cg_in_range(c, ih, g.H));
	LLVMValueRef kw = cg_loop_begin(c, &lkw, cg_i64(c, 0), cg_i64(c, g.KW));
	LLVMValueRef iw = cg_add(c, cg_mul(c, ow, cg_i64(c, g.sw)), cg_add(c, cg_mul(c, kw, cg_i64(c, g.dw)), cg_i64(c, -g.pw)));
	LLVMBasicBlockRef endw = cg_if_begin(c, cg_in_range(c, iw, g.W));
	LLVMValueRef chan = cg_add(c, cg_mul(c, grp, cg_i64(c, Cg)), ic);
	LLVMValueRef xo = cg_plane_at(c, cg_ty(c, n->in[0]), cg_add(c, cg_mul(c, in, cg_i64(c, g.C)), chan), cg_add(c, cg_mul(c, ih, cg_i64(c, g.W)), iw));
	LLVMValueRef wo = cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, m, cg_i64(c, Cg)), ic), cg_i64(c, g.KH)), kh), cg_i64(c, g.KW)), kw);
	LLVMValueRef s = cg_fmuladd(c, cg_loadf(c, X, xo), cg_loadf(c, W, wo), LLVMBuildLoad2(c->b, c->f32, acc, ""));
	LLVMBuildStore(c->b, s, acc);
	cg_if_end(c, endw);
	cg_loop_end(c, &lkw, 1);
	cg_if_end(c, endh);
	cg_loop_end(c, &lkh, 1);
	cg_loop_end(c, &lc, 1);
	LLVMValueRef yo = cg_plane_at(c, cg_ty(c, n->out), cg_add(c, cg_mul(c, in, cg_i64(c, g.M)), m), cg_add(c, cg_mul(c, oh, cg_i64(c, g.OW)), ow));
	LLVMValueRef val = LLVMBuildLoad2(c->b, c->f32, acc, "");
	if (n->nin > 3 && n->in[3] >= 0)
		val = LLVMBuildFAdd(c->b, val, cg_loadf(c, cg_buf(c, n->in[3]), yo), "");
	cg_storef(c, act_apply(c, act_of_epilogue(n), val), Y, yo);
	cg_loop_end(c, &low, 1);
	cg_loop_end(c, &loh, 1);
	cg_loop_end(c, &lm, 1);
	cg_loop_end(c, &lg, 1);
	cg_loop_end(c, &ln, 1);
}

/* Convolution of any spatial rank (3-D and up): the same plain loop nest
 * with the spatial positions as loop arrays; taps in the padding are
 * masked, not branched around. */
static void lower_conv_nd(Cg *c, const Node *n)
{
	const Type *x = cg_ty(c, n->in[0]), *w = cg_ty(c, n->in[1]), *y = cg_ty(c, n->out);
	int nsp = x->rank - 2, cnt;
	const int64_t *st = ir_attr_ints(n, "strides", &cnt), *pd = ir_attr_ints(n, "pads", &cnt);
	const int64_t *dl = ir_attr_ints(n, "dilations", &cnt);
	int64_t G = ir_attr_int(n, "group", 1), C = x->dims[1], M = y->dims[1], Cg = C / G, Mg = M / G;
	int64_t xin = 1, yin = 1, kin = 1;
	for (int i = 0; i < nsp; i++) {
		xin *= x->dims[2 + i];
		yin *= y->dims[2 + i];
		kin *= w->dims[2 + i];
	}
	LLVMValueRef X = cg_buf(c, n->in[0]), W = cg_buf(c, n->in[1]), Y = cg_buf(c, n->out), acc = cg_entry_alloca(c, c->f32);
	LLVMValueRef Bi = n->nin > 2 && n->in[2] >= 0 ? cg_buf(c, n->in[2]) : NULL;
	Loop lb, lg, lm, lo[MAXR], lc, lk[MAXR];
	LLVMValueRef nb = cg_loop_begin(c, &lb, cg_i64(c, 0), cg_i64(c, x->dims[0]));
	LLVMValueRef grp = cg_loop_begin(c, &lg, cg_i64(c, 0), cg_i64(c, G));
	LLVMValueRef m = cg_add(c, cg_mul(c, grp, cg_i64(c, Mg)), cg_loop_begin(c, &lm, cg_i64(c, 0), cg_i64(c, Mg)));
	LLVMValueRef o[MAXR], yo = cg_i64(c, 0);
	for (int i = 0; i < nsp; i++) {
		o[i] = cg_loop_begin(c, &lo[i], cg_i64(c, 0), cg_i64(c, y->dims[2 + i]));
		yo = cg_add(c, cg_mul(c, yo, cg_i64(c, y->dims[2 + i])), o[i]);
	}
	LLVMBuildStore(c->b, Bi ? cg_loadf(c, Bi, m) : cg_f32(c, 0), acc);
	LLVMValueRef ic = cg_loop_begin(c, &lc, cg_i64(c, 0), cg_i64(c, Cg));
	LLVMValueRef ok = LLVMConstInt(LLVMInt1TypeInContext(c->ctx), 1, 0), xo = cg_i64(c, 0), ko = cg_i64(c, 0);
	for (int i = 0; i < nsp; i++) {
		LLVMValueRef k = cg_loop_begin(c, &lk[i], cg_i64(c, 0), cg_i64(c, w->dims[2 + i]));
		LLVMValueRef ix = cg_add(c, cg_mul(c, o[i], cg_i64(c, st[i])), cg_add(c, cg_mul(c, k, cg_i64(c, dl[i])), cg_i64(c, -pd[i])));
		ok = LLVMBuildAnd(c->b, ok, cg_in_range(c, ix, x->dims[2 + i]), "");
		xo = cg_add(c, cg_mul(c, xo, cg_i64(c, x->dims[2 + i])), ix);
		ko = cg_add(c, cg_mul(c, ko, cg_i64(c, w->dims[2 + i])), k);
	}
	LLVMValueRef chan = cg_add(c, cg_mul(c, grp, cg_i64(c, Cg)), ic);
	LLVMValueRef xa = cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, nb, cg_i64(c, C)), chan), cg_i64(c, xin)), LLVMBuildSelect(c->b, ok, xo, cg_i64(c, 0), ""));
	LLVMValueRef wa = cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, m, cg_i64(c, Cg)), ic), cg_i64(c, kin)), ko);
	LLVMValueRef a = LLVMBuildLoad2(c->b, c->f32, acc, "");
	LLVMValueRef sum = cg_fmuladd(c, cg_loadf(c, X, xa), cg_loadf(c, W, wa), a);
	LLVMBuildStore(c->b, LLVMBuildSelect(c->b, ok, sum, a, ""), acc);
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lk[i], 1);
	cg_loop_end(c, &lc, 1);
	LLVMValueRef ya = cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, nb, cg_i64(c, M)), m), cg_i64(c, yin)), yo);
	LLVMValueRef val = LLVMBuildLoad2(c->b, c->f32, acc, "");
	if (n->nin > 3 && n->in[3] >= 0)
		val = LLVMBuildFAdd(c->b, val, cg_loadf(c, cg_buf(c, n->in[3]), ya), "");
	cg_storef(c, act_apply(c, act_of_epilogue(n), val), Y, ya);
	for (int i = nsp - 1; i >= 0; i--)
		cg_loop_end(c, &lo[i], 1);
	cg_loop_end(c, &lm, 1);
	cg_loop_end(c, &lg, 1);
	cg_loop_end(c, &lb, 1);
}

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
		return max_nan(c, xv, acc);
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
		acc = act_apply(c, k->act, acc);
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
	acc = act_apply(c, k->act, acc);
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
		acc = act_apply(c, k->act, acc);
		LLVMSetAlignment(LLVMBuildStore(c->b, acc, cg_gep(c, c->f32, k->yp, cg_i64(c, s))), 4);
	}
}

/* Depthwise conv, or (pool) a 2-D max pool: the same windows, combined by
 * max over -inf padding instead of by weights over zeros. */
static void lower_conv_depthwise(Cg *c, const Node *n)
{
	bool pool = n->op == OP_MAXPOOL;
	DwK k = {.g = geometry(c, n, !pool), .pool = pool};
	Geo *g = &k.g;
	int L = c->lanes;
	if (pool)
		g->M = g->group = g->C;
	k.pad = pool ? cg_fconst(c, c->vf, -INFINITY) : LLVMConstNull(c->vf);
	k.mult = g->M / g->C;
	k.act = pool ? (Act){ACT_NONE} : act_of_epilogue(n);
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
				a[j] = k->pool ? max_nan(c, xv, a[j]) : cg_fmuladd(c, xv, wv, a[j]);
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
		LLVMSetAlignment(LLVMBuildStore(c->b, act_apply(c, k->act, v), cg_gep(c, c->f32, k->yp, yo)), 4);
	}
}

static void interior(int64_t in, int64_t out, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t *lo, int64_t *hi);

static void lower_dw_blocked(Cg *c, const Node *n)
{
	bool pool = n->op == OP_MAXPOOL;
	DbK k = {.g = geometry(c, n, !pool), .pool = pool};
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
		k.act = act_of_epilogue(n);
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
	interior(g->W, g->OW, g->KW, g->sw, g->dw, g->pw, &wlo, &whi);
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

/* The blocked direct convolution.  Weights are packed per group into
 * [ob][kh][kw][ic][OB] with OB = 2 vectors of output channels (zero
 * padded); a tile of T output columns keeps 2*T vector accumulators in
 * registers; each (kh, kw, ic) step is 2 vector loads, T broadcasts and
 * 2*T FMAs. */
#define CONV_TMAX 14

typedef struct ConvK {
	Geo g;
	int64_t Cg, Mg, NOB, OB;
	LLVMValueRef X, Wp, Bp, Y;
	LLVMValueRef R;       /* fused residual, or NULL */
	Act act;              /* fused activation */
	int xb, yb;           /* channel blocks of the input and the result (and residual): 0 or lanes */
	LLVMValueRef n, grp;  /* current batch and group */
	int T;                /* widest tile, in output columns */
	LLVMValueRef acc[CONV_TMAX][2];
	LLVMValueRef spill;           /* CONV_TMAX * 2 vectors of floats, for the epilogue */
} ConvK;

/* Packed weights stream through the inner loop once per tile, too many
 * to stay in L1 (ResNet's last stage: 590 KB per channel block): fetch
 * them CONV_PF_AHEAD steps ahead (measured on ResNet-18 at 8, 16, 32 and
 * 64 steps; 32, 4 KB, was fastest). */
#define CONV_PF_AHEAD 32

static void conv_prefetch_w(Cg *c, ConvK *k, LLVMValueRef wo)
{
	for (int v = 0; v < 2; v++)
		cg_prefetch(c, cg_gep(c, c->f32, k->Wp, cg_add(c, wo, cg_i64(c, CONV_PF_AHEAD * k->OB + v * c->lanes))));
}

/* The input-channel loop of a tile: ic over [0, Cg), and in *xoff the
 * offset of channel ic from channel 0 at one pixel: planes apart, or in
 * channel blocks of b, (ic / b) * H*W*b + ic % b = ic + (ic / b) * (H*W - 1)*b
 * (one loop either way: two nested ones made the IR, and the compile
 * time, a third larger). */
static LLVMValueRef ic_begin(Cg *c, ConvK *k, Loop *l, LLVMValueRef *xoff)
{
	int64_t HW = k->g.H * k->g.W;
	LLVMValueRef ic = cg_loop_begin(c, l, cg_i64(c, 0), cg_i64(c, k->Cg));
	if (!k->xb)
		*xoff = cg_mul(c, ic, cg_i64(c, HW));
	else {
		LLVMValueRef blk = LLVMBuildLShr(c->b, ic, cg_i64(c, __builtin_ctz((unsigned)k->xb)), "");
		*xoff = cg_add(c, ic, cg_mul(c, blk, cg_i64(c, (HW - 1) * k->xb)));
	}
	return ic;
}

/* The taps of a checked tile whose columns (and, unless one_row, rows)
 * are compile-time constants: the column loop is unrolled, so which
 * pixels read padding is known per tap; those pixels skip the tap, and
 * the others read at constant offsets from one pointer.  (The generic
 * checked tile selects a pointer and a stride per pixel, which for a
 * dozen pixels leaves too few general registers in the inner loop.) */
static void conv_taps_const(Cg *c, ConvK *k, LLVMValueRef ob, LLVMValueRef *oh, LLVMValueRef *ow, int T, bool one_row)
{
	Geo *g = &k->g;
	int L = c->lanes;
	int64_t coh[CONV_TMAX], cow[CONV_TMAX];
	for (int j = 0; j < T; j++) {
		cow[j] = LLVMConstIntGetSExtValue(ow[j]);
		coh[j] = one_row ? 0 : LLVMConstIntGetSExtValue(oh[j]);
	}
	int64_t px = k->xb ? k->xb : 1;  /* input pixel stride */
	LLVMValueRef plane = cg_mul(c, cg_add(c, cg_mul(c, k->n, cg_i64(c, g->C)), cg_mul(c, k->grp, cg_i64(c, k->Cg))), cg_i64(c, g->H * g->W));
	LLVMValueRef wblk = cg_mul(c, cg_add(c, cg_mul(c, k->grp, cg_i64(c, k->NOB)), ob), cg_i64(c, g->KH));
	for (int64_t ckh = 0; ckh < (one_row ? 1 : g->KH); ckh++) {
		Loop lkh;
		LLVMValueRef kh = cg_i64(c, ckh), xrow = cg_gep(c, c->f32, k->X, plane);
		LLVMBasicBlockRef endh = NULL;
		if (one_row) {  /* a run-time row, the same for every pixel */
			kh = cg_loop_begin(c, &lkh, cg_i64(c, 0), cg_i64(c, g->KH));
			LLVMValueRef ih = cg_add(c, cg_mul(c, oh[0], cg_i64(c, g->sh)), cg_add(c, cg_mul(c, kh, cg_i64(c, g->dh)), cg_i64(c, -g->ph)));
			endh = cg_if_begin(c, cg_in_range(c, ih, g->H));
			xrow = cg_gep(c, c->f32, xrow, cg_mul(c, ih, cg_i64(c, g->W * px)));
		}
		for (int64_t kw = 0; kw < g->KW; kw++) {
			int js[CONV_TMAX], nj = 0;
			int64_t off[CONV_TMAX];
			for (int j = 0; j < T; j++) {
				int64_t iw = cow[j] * g->sw + kw * g->dw - g->pw, ih = coh[j] * g->sh + ckh * g->dh - g->ph;
				if (iw < 0 || iw >= g->W || (!one_row && (ih < 0 || ih >= g->H)))
					continue;
				off[nj] = (one_row ? iw : ih * g->W + iw) * px;
				js[nj++] = j;
			}
			if (!nj)
				continue;
			LLVMValueRef wbase = cg_mul(c, cg_add(c, cg_mul(c, cg_add(c, wblk, kh), cg_i64(c, g->KW)), cg_i64(c, kw)), cg_i64(c, k->Cg));
			Loop lic;
			LLVMValueRef xoff, ic = ic_begin(c, k, &lic, &xoff);
			LLVMValueRef xp = cg_gep(c, c->f32, xrow, xoff);
			LLVMValueRef wo = cg_mul(c, cg_add(c, wbase, ic), cg_i64(c, k->OB));
			LLVMValueRef w0 = cg_vload(c, k->Wp, wo), w1 = cg_vload(c, k->Wp, cg_add(c, wo, cg_i64(c, L)));
			conv_prefetch_w(c, k, wo);
			for (int q = 0; q < nj; q++) {
				LLVMValueRef xb = cg_splat(c, cg_loadf(c, xp, cg_i64(c, off[q])), c->vf);
				for (int v = 0; v < 2; v++) {
					LLVMValueRef a = LLVMBuildLoad2(c->b, c->vf, k->acc[js[q]][v], "");
					LLVMBuildStore(c->b, cg_fmuladd(c, xb, v ? w1 : w0, a), k->acc[js[q]][v]);
				}
			}
			cg_loop_end(c, &lic, 1);
		}
		if (one_row) {
			cg_if_end(c, endh);
			cg_loop_end(c, &lkh, 1);
		}
	}
}

/* One tile: T output pixels (pixel j at row oh[j], column ow[j]) times OB
 * output channels, accumulated in 2*T vector registers.  one_row: every
 * pixel is in row oh[0], so taps from rows outside the input are skipped
 * for the whole tile.  A checked tile tests each pixel's input position
 * per tap and reads zero where it falls into the padding; an unchecked
 * tile (every window inside the input) has no tests at all. */
static void conv_tile(Cg *c, ConvK *k, LLVMValueRef ob, int nvalid, LLVMValueRef *oh, LLVMValueRef *ow, int T,
		      bool checked, bool one_row)
{
	Geo *g = &k->g;
	int L = c->lanes;
	LLVMValueRef bofs = cg_mul(c, cg_add(c, cg_mul(c, k->grp, cg_i64(c, k->NOB)), ob), cg_i64(c, k->OB));
	LLVMValueRef acc[CONV_TMAX][2];
	for (int v = 0; v < 2; v++) {
		LLVMValueRef bv = cg_vload(c, k->Bp, cg_add(c, bofs, cg_i64(c, v * L)));
		for (int j = 0; j < T; j++)
			LLVMBuildStore(c->b, bv, k->acc[j][v]);
	}
	bool cols = checked;
	for (int j = 0; j < T; j++)
		cols &= LLVMIsConstant(ow[j]) && (one_row || LLVMIsConstant(oh[j]));
	if (cols && g->KW <= 16 && (one_row || g->KH <= 16)) {
		conv_taps_const(c, k, ob, oh, ow, T, one_row);
		goto epilogue;
	}
	Loop lkh, lkw, lic;
	LLVMValueRef kh = cg_loop_begin(c, &lkh, cg_i64(c, 0), cg_i64(c, g->KH));
	LLVMValueRef khd = cg_add(c, cg_mul(c, kh, cg_i64(c, g->dh)), cg_i64(c, -g->ph)), ih[CONV_TMAX];
	for (int j = 0; j < T; j++)
		ih[j] = j && one_row ? ih[0] : cg_add(c, cg_mul(c, oh[j], cg_i64(c, g->sh)), khd);
	LLVMBasicBlockRef endh = one_row ? cg_if_begin(c, cg_in_range(c, ih[0], g->H)) : NULL;
	LLVMValueRef kw = cg_loop_begin(c, &lkw, cg_i64(c, 0), cg_i64(c, g->KW));
	LLVMValueRef kwd = cg_add(c, cg_mul(c, kw, cg_i64(c, g->dw)), cg_i64(c, -g->pw));
	/* x[n][grp*Cg + ic][ih][iw] */
	LLVMValueRef plane = cg_mul(c, cg_add(c, cg_mul(c, k->n, cg_i64(c, g->C)), cg_mul(c, k->grp, cg_i64(c, k->Cg))), cg_i64(c, g->H * g->W));
	/* Pixel j reads xp[j][ic * xs[j]]: its input column, or for a tap in the
	 * padding a constant zero with stride 0, so the inner loop has no tests. */
	LLVMValueRef xp[CONV_TMAX], xs[CONV_TMAX];
	int64_t px = k->xb ? k->xb : 1;  /* input pixel stride */
	for (int j = 0; j < T; j++) {
		LLVMValueRef iw = cg_add(c, cg_mul(c, ow[j], cg_i64(c, g->sw)), kwd);
		LLVMValueRef pos = cg_add(c, plane, cg_mul(c, cg_add(c, cg_mul(c, ih[j], cg_i64(c, g->W)), iw), cg_i64(c, px)));
		/* per channel step: planes apart, or (blocks) the offset ic_begin gives */
		xs[j] = cg_i64(c, k->xb ? 1 : g->H * g->W);
		if (checked) {
			LLVMValueRef ok = cg_in_range(c, iw, g->W);
			if (!one_row)
				ok = LLVMBuildAnd(c->b, ok, cg_in_range(c, ih[j], g->H), "");
			pos = LLVMBuildSelect(c->b, ok, pos, plane, "");
			xp[j] = LLVMBuildSelect(c->b, ok, cg_gep(c, c->f32, k->X, pos), cg_zero_f32(c), "");
			xs[j] = LLVMBuildSelect(c->b, ok, xs[j], cg_i64(c, 0), "");
		} else
			xp[j] = cg_gep(c, c->f32, k->X, pos);
	}
	LLVMValueRef wbase = cg_mul(c, cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, cg_add(c, cg_mul(c, k->grp, cg_i64(c, k->NOB)), ob), cg_i64(c, g->KH)), kh),
						    cg_i64(c, g->KW)), kw), cg_i64(c, k->Cg));
	LLVMValueRef xoff, ic = ic_begin(c, k, &lic, &xoff);
	LLVMValueRef xstep = k->xb ? xoff : ic;
	LLVMValueRef wo = cg_mul(c, cg_add(c, wbase, ic), cg_i64(c, k->OB));
	LLVMValueRef w0 = cg_vload(c, k->Wp, wo), w1 = cg_vload(c, k->Wp, cg_add(c, wo, cg_i64(c, L)));
	conv_prefetch_w(c, k, wo);
	for (int j = 0; j < T; j++) {
		LLVMValueRef xb = cg_splat(c, cg_loadf(c, xp[j], cg_mul(c, xstep, xs[j])), c->vf);
		for (int v = 0; v < 2; v++) {
			LLVMValueRef a = LLVMBuildLoad2(c->b, c->vf, k->acc[j][v], "");
			LLVMBuildStore(c->b, cg_fmuladd(c, xb, v ? w1 : w0, a), k->acc[j][v]);
		}
	}
	cg_loop_end(c, &lic, 1);
	cg_loop_end(c, &lkw, 1);
	if (one_row)
		cg_if_end(c, endh);
	cg_loop_end(c, &lkh, 1);
epilogue:;
	if (k->yb) {
		/* Channel blocks: each accumulator is one block of one pixel,
		 * stored (residual added, activation applied) as a whole vector. */
		LLVMValueRef blk0 = cg_add(c, cg_add(c, cg_mul(c, k->n, cg_i64(c, g->M / L)), cg_mul(c, k->grp, cg_i64(c, k->Mg / L))),
					cg_mul(c, ob, cg_i64(c, k->OB / L)));
		for (int v = 0; v < nvalid / L; v++)
			for (int j = 0; j < T; j++) {
				LLVMValueRef pix = cg_add(c, cg_mul(c, oh[j], cg_i64(c, g->OW)), ow[j]);
				LLVMValueRef yo = cg_mul(c, cg_add(c, cg_mul(c, cg_add(c, blk0, cg_i64(c, v)), cg_i64(c, g->OH * g->OW)), pix), cg_i64(c, L));
				LLVMValueRef a = LLVMBuildLoad2(c->b, c->vf, k->acc[j][v], "");
				if (k->R)
					a = LLVMBuildFAdd(c->b, a, cg_vload(c, k->R, yo), "");
				LLVMSetAlignment(LLVMBuildStore(c->b, act_apply(c, k->act, a), cg_gep(c, c->f32, k->Y, yo)), 4);
			}
		return;
	}
	/* y[n][grp*Mg + ob*OB + lane][oh][ow] */
	LLVMValueRef m0 = cg_add(c, cg_mul(c, k->grp, cg_i64(c, k->Mg)), cg_mul(c, ob, cg_i64(c, k->OB)));
	LLVMValueRef ybase = cg_mul(c, cg_add(c, cg_mul(c, k->n, cg_i64(c, g->M)), m0), cg_i64(c, g->OH * g->OW)), ypix[CONV_TMAX];
	for (int j = 0; j < T; j++)
		ypix[j] = cg_add(c, ybase, cg_add(c, cg_mul(c, oh[j], cg_i64(c, g->OW)), ow[j]));
	/* The accumulators hold channels x pixels; the output plane is per
	 * channel.  Spill them and write one channel of every pixel per
	 * iteration of a (not unrolled) loop: unrolling this scatter for
	 * every lane made the IR, and the compile time, ten times larger. */
	/* Without a residual the activation is applied to whole vectors (a
	 * scalar SiLU per element cost more than the convolution in
	 * EfficientNet's stem); a residual, read per element from its planes,
	 * is added first, so then the activation is per element too. */
	for (int v = 0; v < 2; v++)
		for (int j = 0; j < T; j++) {
			acc[j][v] = LLVMBuildLoad2(c->b, c->vf, k->acc[j][v], "");
			if (!k->R)
				acc[j][v] = act_apply(c, k->act, acc[j][v]);
			LLVMValueRef p = cg_gep(c, c->f32, k->spill, cg_i64(c, (int64_t)(j * 2 + v) * L));
			LLVMSetAlignment(LLVMBuildStore(c->b, acc[j][v], p), 4);
		}
	Loop lq;
	LLVMValueRef q = cg_loop_begin(c, &lq, cg_i64(c, 0), cg_i64(c, nvalid));
	LLVMValueRef plane_off = cg_mul(c, q, cg_i64(c, g->OH * g->OW));
	for (int j = 0; j < T; j++) {
		LLVMValueRef e = cg_loadf(c, k->spill, cg_add(c, q, cg_i64(c, (int64_t)j * 2 * L)));
		LLVMValueRef yo = cg_add(c, ypix[j], plane_off);
		if (k->R)
			e = act_apply(c, k->act, LLVMBuildFAdd(c->b, e, cg_loadf(c, k->R, yo), ""));
		cg_storef(c, e, k->Y, yo);
	}
	cg_loop_end(c, &lq, 1);
}

/* Tile of T columns from ow0 in row oh. */
static void conv_row_tile(Cg *c, ConvK *k, LLVMValueRef ob, int nvalid, LLVMValueRef oh, LLVMValueRef ow0, int T,
			  bool checked)
{
	LLVMValueRef ohs[CONV_TMAX], ows[CONV_TMAX];
	for (int j = 0; j < T; j++) {
		ohs[j] = oh;
		ows[j] = j ? cg_add(c, ow0, cg_i64(c, j)) : ow0;
	}
	conv_tile(c, k, ob, nvalid, ohs, ows, T, checked, true);
}

/* Output positions [lo, hi) along one spatial dim whose windows stay
 * inside the input. */
static void interior(int64_t in, int64_t out, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t *lo, int64_t *hi)
{
	int64_t last = in - 1 - (k - 1) * d + pb;
	*lo = (pb + s - 1) / s;
	*hi = last < 0 ? 0 : last / s + 1;
	if (*hi > out)
		*hi = out;
	if (*lo > *hi)
		*lo = *hi;
}

/* A small image as one sequence of pixels across rows, in tiles of at
 * most k->T pixels, each emitted with constant positions. */
static void conv_image(Cg *c, ConvK *k, LLVMValueRef ob, int nvalid)
{
	Geo *g = &k->g;
	int64_t hlo, hhi, wlo, whi, npix = g->OH * g->OW;
	interior(g->H, g->OH, g->KH, g->sh, g->dh, g->ph, &hlo, &hhi);
	interior(g->W, g->OW, g->KW, g->sw, g->dw, g->pw, &wlo, &whi);
	int64_t ntiles = (npix + k->T - 1) / k->T, q = npix / ntiles, big = npix % ntiles, p = 0;
	for (int64_t t = 0; t < ntiles; t++) {
		int T = (int)(t < big ? q + 1 : q);
		LLVMValueRef ohs[CONV_TMAX], ows[CONV_TMAX];
		bool checked = false, one_row = true;
		for (int j = 0; j < T; j++) {
			int64_t oh = (p + j) / g->OW, ow = (p + j) % g->OW;
			ohs[j] = cg_i64(c, oh);
			ows[j] = cg_i64(c, ow);
			checked |= oh < hlo || oh >= hhi || ow < wlo || ow >= whi;
			one_row &= oh == p / g->OW;
		}
		conv_tile(c, k, ob, nvalid, ohs, ows, T, checked, one_row);
		p += T;
	}
}

/* One row of output columns in tiles of at most k->T columns, sizes
 * balanced (two sizes at most).  Tiles touching the left or right padding
 * are checked and emitted one by one; runs of interior tiles are loops. */
static void conv_row(Cg *c, ConvK *k, LLVMValueRef ob, int nvalid, LLVMValueRef oh)
{
	Geo *g = &k->g;
	int64_t lo, hi;
	interior(g->W, g->OW, g->KW, g->sw, g->dw, g->pw, &lo, &hi);
	int64_t ntiles = (g->OW + k->T - 1) / k->T, q = g->OW / ntiles, big = g->OW % ntiles;
	int64_t ow = 0;
	for (int64_t t = 0; t < ntiles;) {
		int T = (int)(t < big ? q + 1 : q);
		bool checked = ow < lo || ow + T > hi;
		if (checked) {
			conv_row_tile(c, k, ob, nvalid, oh, cg_i64(c, ow), T, true);
			ow += T;
			t++;
			continue;
		}
		/* A run of unchecked tiles of the same size. */
		int64_t n = 0;
		while (t + n < ntiles && (t + n < big ? q + 1 : q) == T && ow + (n + 1) * T <= hi)
			n++;
		if (n == 1)
			conv_row_tile(c, k, ob, nvalid, oh, cg_i64(c, ow), T, false);
		else {
			Loop l;
			LLVMValueRef o = cg_loop_begin(c, &l, cg_i64(c, ow), cg_i64(c, ow + n * T));
			conv_row_tile(c, k, ob, nvalid, oh, o, T, false);
			cg_loop_end(c, &l, T);
		}
		ow += n * T;
		t += n;
	}
}

static void lower_conv_blocked(Cg *c, const Node *n)
{
	ConvK k = {.g = geometry(c, n, true)};
	Geo *g = &k.g;
	int L = c->lanes;
	k.Cg = g->C / g->group;
	k.Mg = g->M / g->group;
	if (g->KH == 1 && g->KW == 1 && g->sh == 1 && g->sw == 1 && !g->ph && !g->pw && !g->pe_h && !g->pe_w) {
		/* A 1x1 conv over the whole image is one over a single row of
		 * all its pixels (adjacent in either layout): row tiles in a
		 * loop instead of an image's worth of tiles emitted one by one. */
		g->W = g->OW = g->H * g->W;
		g->H = g->OH = 1;
	}
	k.OB = 2 * L;
	k.NOB = (k.Mg + k.OB - 1) / k.OB;
	/* Pack weights and bias. */
	const float *w = ir_value(c->g, n->in[1])->data;
	const float *bias = n->nin > 2 && n->in[2] >= 0 ? ir_value(c->g, n->in[2])->data : NULL;
	size_t wn = (size_t)(g->group * k.NOB * g->KH * g->KW * k.Cg * k.OB);
	float *wp = calloc(wn + 1, sizeof *wp), *bp = calloc(g->group * k.NOB * k.OB + 1, sizeof *bp);
	for (int64_t gr = 0; gr < g->group; gr++)
		for (int64_t m = 0; m < k.Mg; m++) {
			int64_t ob = m / k.OB, lane = m % k.OB, M = gr * k.Mg + m;
			bp[(gr * k.NOB + ob) * k.OB + lane] = bias ? bias[M] : 0;
			for (int64_t ic = 0; ic < k.Cg; ic++)
				for (int64_t kh = 0; kh < g->KH; kh++)
					for (int64_t kw = 0; kw < g->KW; kw++)
						wp[((((gr * k.NOB + ob) * g->KH + kh) * g->KW + kw) * k.Cg + ic) * k.OB + lane] =
							w[((M * k.Cg + ic) * g->KH + kh) * g->KW + kw];
		}
	k.Wp = cg_const_blob(c, "kiln.wp", wp, wn * sizeof *wp);
	k.Bp = cg_const_blob(c, "kiln.bp", bp, g->group * k.NOB * k.OB * sizeof *bp);
	free(wp);
	free(bp);
	k.X = cg_buf(c, n->in[0]);
	k.Y = cg_buf(c, n->out);
	k.R = n->nin > 3 && n->in[3] >= 0 ? cg_buf(c, n->in[3]) : NULL;
	k.act = act_of_epilogue(n);
	k.xb = cg_ty(c, n->in[0])->block;
	k.yb = cg_ty(c, n->out)->block;
	/* 2*T accumulators, 2 weight vectors and a broadcast in registers. */
	k.T = (c->fregs - 4) / 2;
	k.T = k.T < 1 ? 1 : k.T > CONV_TMAX ? CONV_TMAX : k.T;
	for (int j = 0; j < k.T; j++)
		for (int v = 0; v < 2; v++)
			k.acc[j][v] = cg_entry_alloca(c, c->vf);
	k.spill = cg_entry_alloca(c, LLVMArrayType(c->f32, (unsigned)(CONV_TMAX * 2 * L)));
	Loop ln, lg, lob, loh;
	k.n = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, g->N));
	k.grp = cg_loop_begin(c, &lg, cg_i64(c, 0), cg_i64(c, g->group));
	int64_t full = k.Mg / k.OB, rem = k.Mg % k.OB;
	/* Rows narrower than two tiles waste accumulators in row tiles: small
	 * images go as one run of pixels instead. */
	bool image = g->OW < 2 * k.T && g->OH * g->OW <= 32 * k.T;
	/* This task's share of the channel blocks (the last, partial one
	 * included): [lo, hi) of full + (rem != 0). */
	LLVMValueRef lo, hi;
	cg_part_range(c, full + (rem != 0), &lo, &hi);
	for (int part = 0; part < 2; part++) {
		if (!(part ? rem : full))
			continue;
		LLVMBasicBlockRef skip = NULL;
		LLVMValueRef ob;
		if (part) {  /* block `full` is ours when lo <= full < hi */
			skip = cg_if_begin(c, part_owns(c, lo, hi, full));
			ob = cg_i64(c, full);
		} else {
			ob = cg_loop_begin(c, &lob, lo, part_whole_end(c, hi, full));
		}
		int nvalid = (int)(part ? rem : k.OB);
		if (image)
			conv_image(c, &k, ob, nvalid);
		else {
			LLVMValueRef oh = cg_loop_begin(c, &loh, cg_i64(c, 0), cg_i64(c, g->OH));
			conv_row(c, &k, ob, nvalid, oh);
			cg_loop_end(c, &loh, 1);
		}
		if (!part)
			cg_loop_end(c, &lob, 1);
		else
			cg_if_end(c, skip);
	}
	cg_loop_end(c, &lg, 1);
	cg_loop_end(c, &ln, 1);
}

/* 1x1 convolution with stride 1 and no padding, as the product
 * Y[m][p] = sum_k W[m][k] X[k][p] over the flattened pixels p, vectorized
 * along p: a tile keeps MR output channels x NR vectors of pixels in
 * registers; each k step is NR vector loads of X, MR weight broadcasts and
 * MR*NR FMAs, and the epilogue (bias, residual, activation) works on whole
 * vectors stored straight into the output planes.  The blocked kernel
 * above puts channels in the lanes instead and must scatter its results
 * into the planes one float at a time, which dominates when K is small
 * (MobileNet's expansions) or the image is large.  Weights are packed
 * per group as [mb][k][MR] (zero padded), read in order by the tiles. */
#define PW_MRMAX 8
#define PW_NRMAX 4

typedef struct PwK {
	int64_t P, Cg, Mg, NMB, MR, NR, group;
	LLVMValueRef X, Wp, Bp, Y, R;
	Act act;
	LLVMValueRef acc[PW_MRMAX][PW_NRMAX];
} PwK;

static void pw_shape(const Cg *c, int64_t *mr, int64_t *nr)
{
	*nr = c->fregs >= 32 ? 4 : 2;
	*mr = (c->fregs - *nr - 1) / *nr;
	*mr = *mr > PW_MRMAX ? PW_MRMAX : *mr < 1 ? 1 : *mr;
}

/* Is this conv a 1x1 product, and does the pixel-vectorized kernel beat
 * the blocked one by the FMA + scatter count? */
static bool pw_wins(Cg *c, const Geo *g)
{
	int L = c->lanes;
	int64_t P = g->OH * g->OW, Cg = g->C / g->group, Mg = g->M / g->group, mr, nr;
	if (L < 4 || g->KH != 1 || g->KW != 1 || g->sh != 1 || g->sw != 1 || g->ph || g->pw || g->pe_h || g->pe_w ||
	    P < L || g->H != g->OH || g->W != g->OW)
		return false;
	pw_shape(c, &mr, &nr);
	int64_t vecs = (P + L - 1) / L;
	double pw = (double)((Mg + mr - 1) / mr * mr) * Cg * vecs;
	double blocked = (double)((Mg + 2 * L - 1) / (2 * L) * 2) * Cg * P + 2.0 * Mg * P;
	return pw < blocked;
}

/* One tile: channels [mb*MR, mb*MR + rows) of the group, NR vectors of
 * pixels at offsets px[v], over the input channels [k0, k1).  first: the
 * accumulators start from the bias, else from the partial sums in y;
 * last: the epilogue (residual, activation) runs, else the partial sums
 * are stored. */
static void pw_tile(Cg *c, PwK *k, LLVMValueRef xg, LLVMValueRef yg, LLVMValueRef rg, LLVMValueRef mb, int rows,
		    LLVMValueRef *px, int nv, LLVMValueRef k0, LLVMValueRef k1, bool first, bool last)
{
	LLVMValueRef m0 = cg_mul(c, mb, cg_i64(c, k->MR)), ypos[PW_MRMAX][PW_NRMAX];
	for (int r = 0; r < rows; r++) {
		LLVMValueRef plane = cg_mul(c, cg_add(c, m0, cg_i64(c, r)), cg_i64(c, k->P));
		LLVMValueRef bv = first ? cg_splat(c, cg_loadf(c, k->Bp, cg_add(c, m0, cg_i64(c, r))), c->vf) : NULL;
		for (int v = 0; v < nv; v++) {
			ypos[r][v] = cg_add(c, plane, px[v]);
			LLVMBuildStore(c->b, first ? bv : cg_vload(c, yg, ypos[r][v]), k->acc[r][v]);
		}
	}
	Loop lk;
	LLVMValueRef kk = cg_loop_begin(c, &lk, k0, k1);
	LLVMValueRef xrow = cg_gep(c, c->f32, xg, cg_mul(c, kk, cg_i64(c, k->P)));
	LLVMValueRef xv[PW_NRMAX];
	for (int v = 0; v < nv; v++)
		xv[v] = cg_vload(c, xrow, px[v]);
	LLVMValueRef wo = cg_mul(c, cg_add(c, cg_mul(c, mb, cg_i64(c, k->Cg)), kk), cg_i64(c, k->MR));
	for (int r = 0; r < rows; r++) {
		LLVMValueRef wb = cg_splat(c, cg_loadf(c, k->Wp, cg_add(c, wo, cg_i64(c, r))), c->vf);
		for (int v = 0; v < nv; v++) {
			LLVMValueRef a = LLVMBuildLoad2(c->b, c->vf, k->acc[r][v], "");
			LLVMBuildStore(c->b, cg_fmuladd(c, xv[v], wb, a), k->acc[r][v]);
		}
	}
	cg_loop_end(c, &lk, 1);
	for (int r = 0; r < rows; r++)
		for (int v = 0; v < nv; v++) {
			LLVMValueRef a = LLVMBuildLoad2(c->b, c->vf, k->acc[r][v], "");
			if (last) {
				if (rg)
					a = LLVMBuildFAdd(c->b, a, cg_vload(c, rg, ypos[r][v]), "");
				a = act_apply(c, k->act, a);
			}
			LLVMSetAlignment(LLVMBuildStore(c->b, a, cg_gep(c, c->f32, yg, ypos[r][v])), 4);
		}
}

/* All channel blocks of this task over the pixel tile px[0..nv), input
 * channels [k0, k1). */
static void pw_blocks(Cg *c, PwK *k, LLVMValueRef xg, LLVMValueRef yg, LLVMValueRef rg, LLVMValueRef lo,
		      LLVMValueRef hi, LLVMValueRef *px, int nv, LLVMValueRef k0, LLVMValueRef k1, bool first, bool last)
{
	int64_t full = k->Mg / k->MR, rem = k->Mg % k->MR;
	Loop lm;
	LLVMValueRef mb = cg_loop_begin(c, &lm, lo, part_whole_end(c, hi, full));
	pw_tile(c, k, xg, yg, rg, mb, (int)k->MR, px, nv, k0, k1, first, last);
	cg_loop_end(c, &lm, 1);
	if (rem) {
		LLVMBasicBlockRef skip = cg_if_begin(c, part_owns(c, lo, hi, full));
		pw_tile(c, k, xg, yg, rg, cg_i64(c, full), (int)rem, px, nv, k0, k1, first, last);
		cg_if_end(c, skip);
	}
}

/* The input channels in blocks whose slice of the pixel tile stays in L1
 * (KB rows of NR vectors, about 16 KB) while every channel block of the
 * output reads it; partial sums wait in y between blocks.  Without this
 * the tile's rows came from L2 once per channel block (SqueezeNet's last
 * conv: 512 x 64 pixels, 128 KB). */
static void pw_kblocks(Cg *c, PwK *k, LLVMValueRef xg, LLVMValueRef yg, LLVMValueRef rg, LLVMValueRef lo,
		       LLVMValueRef hi, LLVMValueRef *px, int nv)
{
	int64_t KB = 16384 / (k->NR * c->lanes * 4), K = k->Cg;
	KB = KB < 16 ? 16 : KB;
	if (K <= KB + KB / 2) {
		pw_blocks(c, k, xg, yg, rg, lo, hi, px, nv, cg_i64(c, 0), cg_i64(c, K), true, true);
		return;
	}
	int64_t nkb = (K + KB - 1) / KB;
	pw_blocks(c, k, xg, yg, rg, lo, hi, px, nv, cg_i64(c, 0), cg_i64(c, KB), true, false);
	if (nkb > 2) {
		Loop lb;
		LLVMValueRef k0 = cg_loop_begin(c, &lb, cg_i64(c, KB), cg_i64(c, (nkb - 1) * KB));
		pw_blocks(c, k, xg, yg, rg, lo, hi, px, nv, k0, cg_add(c, k0, cg_i64(c, KB)), false, false);
		cg_loop_end(c, &lb, KB);
	}
	pw_blocks(c, k, xg, yg, rg, lo, hi, px, nv, cg_i64(c, (nkb - 1) * KB), cg_i64(c, K), false, true);
}

static void lower_conv_pointwise(Cg *c, const Node *n)
{
	Geo g = geometry(c, n, true);
	int L = c->lanes;
	PwK k = {.P = g.OH * g.OW, .Cg = g.C / g.group, .Mg = g.M / g.group, .group = g.group};
	pw_shape(c, &k.MR, &k.NR);
	k.NMB = (k.Mg + k.MR - 1) / k.MR;
	const float *w = ir_value(c->g, n->in[1])->data;
	const float *bias = n->nin > 2 && n->in[2] >= 0 ? ir_value(c->g, n->in[2])->data : NULL;
	size_t wn = (size_t)(g.group * k.NMB * k.Cg * k.MR), bn = (size_t)(g.group * k.NMB * k.MR);
	float *wp = calloc(wn + 1, sizeof *wp), *bp = calloc(bn + 1, sizeof *bp);
	for (int64_t gr = 0; gr < g.group; gr++)
		for (int64_t m = 0; m < k.Mg; m++) {
			int64_t mb = gr * k.NMB + m / k.MR, r = m % k.MR, M = gr * k.Mg + m;
			bp[mb * k.MR + r] = bias ? bias[M] : 0;
			for (int64_t ic = 0; ic < k.Cg; ic++)
				wp[(mb * k.Cg + ic) * k.MR + r] = w[M * k.Cg + ic];
		}
	k.Wp = cg_const_blob(c, "kiln.wp", wp, wn * sizeof *wp);
	k.Bp = cg_const_blob(c, "kiln.bp", bp, bn * sizeof *bp);
	free(wp);
	free(bp);
	k.X = cg_buf(c, n->in[0]);
	k.Y = cg_buf(c, n->out);
	k.R = n->nin > 3 && n->in[3] >= 0 ? cg_buf(c, n->in[3]) : NULL;
	k.act = act_of_epilogue(n);
	for (int r = 0; r < k.MR; r++)
		for (int v = 0; v < k.NR; v++)
			k.acc[r][v] = cg_entry_alloca(c, c->vf);
	LLVMValueRef lo, hi;  /* this task's channel blocks, per group */
	cg_part_range(c, k.NMB, &lo, &hi);
	Loop ln, lg, lt;
	LLVMValueRef in = cg_loop_begin(c, &ln, cg_i64(c, 0), cg_i64(c, g.N));
	LLVMValueRef grp = cg_loop_begin(c, &lg, cg_i64(c, 0), cg_i64(c, g.group));
	LLVMValueRef xg = cg_gep(c, c->f32, k.X, cg_mul(c, cg_add(c, cg_mul(c, in, cg_i64(c, g.C)), cg_mul(c, grp, cg_i64(c, k.Cg))), cg_i64(c, k.P)));
	LLVMValueRef ym = cg_add(c, cg_mul(c, in, cg_i64(c, g.M)), cg_mul(c, grp, cg_i64(c, k.Mg)));
	LLVMValueRef yg = cg_gep(c, c->f32, k.Y, cg_mul(c, ym, cg_i64(c, k.P)));
	LLVMValueRef rg = k.R ? cg_gep(c, c->f32, k.R, cg_mul(c, ym, cg_i64(c, k.P))) : NULL;
	int64_t tile = k.NR * L, ntiles = k.P / tile, done = ntiles * tile;
	LLVMValueRef px[PW_NRMAX];
	/* Packed blocks are numbered across groups; tiles index them from
	 * the group's first. */
	LLVMValueRef wg = k.Wp;
	k.Wp = cg_gep(c, c->f32, wg, cg_mul(c, grp, cg_i64(c, k.NMB * k.Cg * k.MR)));
	LLVMValueRef bg = k.Bp;
	k.Bp = cg_gep(c, c->f32, bg, cg_mul(c, grp, cg_i64(c, k.NMB * k.MR)));
	if (ntiles) {
		LLVMValueRef p0 = cg_loop_begin(c, &lt, cg_i64(c, 0), cg_i64(c, done));
		for (int v = 0; v < k.NR; v++)
			px[v] = cg_add(c, p0, cg_i64(c, v * L));
		pw_kblocks(c, &k, xg, yg, rg, lo, hi, px, (int)k.NR);
		cg_loop_end(c, &lt, tile);
	}
	if (done < k.P) {
		/* The rest in whole vectors, the last one ending at P (it may
		 * recompute pixels of its neighbour: same values). */
		int nv = (int)((k.P - done + L - 1) / L);
		for (int v = 0; v < nv; v++) {
			int64_t s = done + (int64_t)v * L;
			px[v] = cg_i64(c, s + L > k.P ? k.P - L : s);
		}
		pw_kblocks(c, &k, xg, yg, rg, lo, hi, px, nv);
	}
	k.Wp = wg;
	k.Bp = bg;
	cg_loop_end(c, &lg, 1);
	cg_loop_end(c, &ln, 1);
}

static void lower_conv(Cg *c, const Node *n)
{
	if (cg_ty(c, n->in[0])->rank > 4) {
		lower_conv_nd(c, n);
		return;
	}
	Geo g = geometry(c, n, true);
	bool wconst = ir_value(c->g, n->in[1])->kind == VAL_CONST;
	bool bconst = n->nin < 3 || n->in[2] < 0 || ir_value(c->g, n->in[2])->kind == VAL_CONST;
	if (c->reference || !wconst || !bconst || !blocks_native(c, n))
		lower_conv_reference(c, n);
	else {
		c->keep_loops = true;
		bool blocked = any_blocked(c, n);
		if (g.group == g.C && g.group > 1 && g.M == g.C && blocked)
			lower_dw_blocked(c, n);
		else if (g.group == g.C && g.group > 1 && g.M % g.C == 0 && !blocked)
			lower_conv_depthwise(c, n);  /* (a channel multiplier into blocks: the blocked kernel's groups) */
		else if (!blocked && pw_wins(c, &g))
			lower_conv_pointwise(c, n);
		else
			lower_conv_blocked(c, n);
		c->keep_loops = false;
	}
}

/* ---- matrix products ------------------------------------------------------------- */

/* rows x K times packed constant [NB][K][OB] -> rows x N, row-tiled. */
typedef struct GemmK {
	int64_t rows, K, N, NB, OB;
	int64_t a_rs, a_cs;   /* A element (r, k) at r*a_rs + k*a_cs */
	LLVMValueRef A, Wp, Y;
	int budget;           /* accumulator pairs that fit in registers */
	LLVMValueRef acc[CONV_TMAX][2];
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
	LLVMValueRef w[CONV_TMAX][2];
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
	T = T < 1 ? 1 : T > CONV_TMAX ? CONV_TMAX : T;
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

static void lower_gemm(Cg *c, const Node *n)
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
		bcast_strides(tc, 2, ty->dims, st);
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
	act_inplace(c, act_of_epilogue(n), cg_buf(c, n->out), M * N);
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
	bcast_strides(&ba, nb, bd, sa);
	bcast_strides(&bb, nb, bd, sb);
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

static void lower_matmul(Cg *c, const Node *n)
{
	lower_matmul_body(c, n);
	act_inplace(c, act_of_epilogue(n), cg_buf(c, n->out), ir_type_numel(cg_ty(c, n->out)));
}

/* ---- pooling ------------------------------------------------------------------------ */

/* Does max pool n go through a depthwise kernel (which splits its work)? */
static bool pool_kernel(Cg *c, const Node *n)
{
	return n->op == OP_MAXPOOL && !c->reference && cg_ty(c, n->in[0])->rank <= 4 && cg_ty(c, n->in[0])->dt == DT_F32 &&
	       blocks_native(c, n);
}

static void lower_pool(Cg *c, const Node *n)
{
	Geo g = geometry(c, n, false);
	if (pool_kernel(c, n)) {
		c->keep_loops = true;
		if (any_blocked(c, n))
			lower_dw_blocked(c, n);  /* along channel vectors */
		else
			lower_conv_depthwise(c, n);  /* vectorized: the windows of a depthwise conv */
		c->keep_loops = false;
		return;
	}
	bool avg = n->op == OP_AVGPOOL, cip = ir_attr_int(n, "count_include_pad", 0);
	LLVMValueRef X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out);
	LLVMValueRef acc = cg_entry_alloca(c, c->f32), cnt = cg_entry_alloca(c, c->f32);
	Loop lp, loh, low, lkh, lkw;
	LLVMValueRef p = cg_loop_begin(c, &lp, cg_i64(c, 0), cg_i64(c, g.N * g.C));
	LLVMValueRef oh = cg_loop_begin(c, &loh, cg_i64(c, 0), cg_i64(c, g.OH));
	LLVMValueRef ow = cg_loop_begin(c, &low, cg_i64(c, 0), cg_i64(c, g.OW));
	LLVMBuildStore(c->b, cg_f32(c, avg ? 0 : -INFINITY), acc);
	LLVMBuildStore(c->b, cg_f32(c, 0), cnt);
	LLVMValueRef kh = cg_loop_begin(c, &lkh, cg_i64(c, 0), cg_i64(c, g.KH));
	LLVMValueRef ih = cg_add(c, cg_mul(c, oh, cg_i64(c, g.sh)), cg_add(c, cg_mul(c, kh, cg_i64(c, g.dh)), cg_i64(c, -g.ph)));
	LLVMValueRef kw = cg_loop_begin(c, &lkw, cg_i64(c, 0), cg_i64(c, g.KW));
	LLVMValueRef iw = cg_add(c, cg_mul(c, ow, cg_i64(c, g.sw)), cg_add(c, cg_mul(c, kw, cg_i64(c, g.dw)), cg_i64(c, -g.pw)));
	if (avg && cip) {
		/* Positions inside the padded input count, real or not. */
		LLVMValueRef inpad = LLVMBuildAnd(c->b, cg_in_range(c, cg_add(c, ih, cg_i64(c, g.ph)), g.H + g.ph + g.pe_h),
						  cg_in_range(c, cg_add(c, iw, cg_i64(c, g.pw)), g.W + g.pw + g.pe_w), "");
		LLVMValueRef one = LLVMBuildSelect(c->b, inpad, cg_f32(c, 1), cg_f32(c, 0), "");
		LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, cnt, ""), one, ""), cnt);
	}
	LLVMValueRef ok = LLVMBuildAnd(c->b, cg_in_range(c, ih, g.H), cg_in_range(c, iw, g.W), "");
	LLVMBasicBlockRef end = cg_if_begin(c, ok);
	LLVMValueRef x = cg_loadf(c, X, cg_plane_at(c, cg_ty(c, n->in[0]), p, cg_add(c, cg_mul(c, ih, cg_i64(c, g.W)), iw)));
	LLVMValueRef a = LLVMBuildLoad2(c->b, c->f32, acc, "");
	if (avg) {
		LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, a, x, ""), acc);
		if (!cip)
			LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, cnt, ""), cg_f32(c, 1), ""), cnt);
	} else {
		/* NaN propagates: take x when it is NaN or larger. */
		LLVMValueRef take = LLVMBuildFCmp(c->b, LLVMRealUGT, x, a, "");
		LLVMBuildStore(c->b, LLVMBuildSelect(c->b, take, x, a, ""), acc);
	}
	cg_if_end(c, end);
	cg_loop_end(c, &lkw, 1);
	cg_loop_end(c, &lkh, 1);
	LLVMValueRef r = LLVMBuildLoad2(c->b, c->f32, acc, "");
	if (avg)
		r = LLVMBuildFDiv(c->b, r, LLVMBuildLoad2(c->b, c->f32, cnt, ""), "");
	cg_storef(c, r, Y, cg_plane_at(c, cg_ty(c, n->out), p, cg_add(c, cg_mul(c, oh, cg_i64(c, g.OW)), ow)));
	cg_loop_end(c, &low, 1);
	cg_loop_end(c, &loh, 1);
	cg_loop_end(c, &lp, 1);
}

static void lower_global_avgpool(Cg *c, const Node *n)
{
	const Type *t = cg_ty(c, n->in[0]);
	int64_t planes = t->dims[0] * t->dims[1], inner = ir_type_numel(t) / (planes ? planes : 1);
	LLVMValueRef X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out), acc = cg_entry_alloca(c, c->f32);
	Loop lp, li;
	if (t->block) {
		/* Channel blocks: a block's pixels are vectors of its channels
		 * (summed as vectors when a block is one), then the block's means
		 * in a row of the result. */
		int b = t->block;
		bool vec = !c->reference && b == c->lanes;
		LLVMTypeRef vt = vec ? c->vf : c->f32;
		LLVMValueRef vacc = cg_entry_alloca(c, vt);
		LLVMValueRef blk = cg_loop_begin(c, &lp, cg_i64(c, 0), cg_i64(c, planes / b));
		LLVMValueRef xb = cg_gep(c, c->f32, X, cg_mul(c, blk, cg_i64(c, inner * b)));
		for (int l = 0; l < (vec ? 1 : b); l++) {
			LLVMBuildStore(c->b, LLVMConstNull(vt), vacc);
			LLVMValueRef px = cg_loop_begin(c, &li, cg_i64(c, 0), cg_i64(c, inner));
			LLVMValueRef at = cg_add(c, cg_mul(c, px, cg_i64(c, b)), cg_i64(c, l));
			LLVMValueRef x = vec ? cg_vload(c, xb, at) : cg_loadf(c, xb, at);
			LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, vt, vacc, ""), x, ""), vacc);
			cg_loop_end(c, &li, 1);
			LLVMValueRef m = LLVMBuildFDiv(c->b, LLVMBuildLoad2(c->b, vt, vacc, ""), cg_fconst(c, vt, (double)inner), "");
			LLVMValueRef yo = cg_add(c, cg_mul(c, blk, cg_i64(c, b)), cg_i64(c, l));
			if (vec)
				LLVMSetAlignment(LLVMBuildStore(c->b, m, cg_gep(c, c->f32, Y, yo)), 4);
			else
				cg_storef(c, m, Y, yo);
		}
		cg_loop_end(c, &lp, 1);
		return;
	}
	LLVMValueRef p = cg_loop_begin(c, &lp, cg_i64(c, 0), cg_i64(c, planes));
	LLVMValueRef xp = cg_gep(c, c->f32, X, cg_mul(c, p, cg_i64(c, inner)));
	LLVMValueRef sum;
	if (c->reference) {
		LLVMBuildStore(c->b, cg_f32(c, 0), acc);
		LLVMValueRef i = cg_loop_begin(c, &li, cg_i64(c, 0), cg_i64(c, inner));
		LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, acc, ""), cg_loadf(c, xp, i), ""), acc);
		cg_loop_end(c, &li, 1);
		sum = LLVMBuildLoad2(c->b, c->f32, acc, "");
	} else
		sum = cg_sum_f32(c, xp, inner);
	cg_storef(c, LLVMBuildFDiv(c->b, sum, cg_f32(c, (double)inner), ""), Y, p);
	cg_loop_end(c, &lp, 1);
}

/* ---- reductions over any set of axes ------------------------------------------------- */

static void lower_reduce(Cg *c, const Node *n)
{
	const Type *t = cg_ty(c, n->in[0]);
	int cnt;
	const int64_t *axes = ir_attr_ints(n, "axes", &cnt);
	bool red[MAXR] = {0};
	for (int i = 0; i < cnt; i++)
		red[axes[i]] = true;
	int64_t st[MAXR], s = 1, count = 1;
	for (int i = t->rank - 1; i >= 0; i--) {
		st[i] = s;
		s *= t->dims[i];
		if (red[i])
			count *= t->dims[i];
	}
	LLVMValueRef X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out), acc = cg_entry_alloca(c, c->f32);
	Loop kept[MAXR], rl[MAXR];
	int nk = 0, nr = 0;
	LLVMValueRef xo = cg_i64(c, 0), yo = cg_i64(c, 0);
	for (int d = 0; d < t->rank; d++)
		if (!red[d]) {
			LLVMValueRef i = cg_loop_begin(c, &kept[nk++], cg_i64(c, 0), cg_i64(c, t->dims[d]));
			xo = cg_add(c, xo, cg_mul(c, i, cg_i64(c, st[d])));
			yo = cg_add(c, cg_mul(c, yo, cg_i64(c, t->dims[d])), i);
		}
	bool mx = n->op == OP_REDUCE_MAX, mn = n->op == OP_REDUCE_MIN, prod = n->op == OP_REDUCE_PROD;
	LLVMBuildStore(c->b, cg_f32(c, mx ? -INFINITY : mn ? INFINITY : prod ? 1 : 0), acc);
	for (int d = 0; d < t->rank; d++)
		if (red[d]) {
			LLVMValueRef i = cg_loop_begin(c, &rl[nr++], cg_i64(c, 0), cg_i64(c, t->dims[d]));
			xo = cg_add(c, xo, cg_mul(c, i, cg_i64(c, st[d])));
		}
	LLVMValueRef x = cg_loadf(c, X, xo), a = LLVMBuildLoad2(c->b, c->f32, acc, "");
	LLVMValueRef r;
	if (mx || mn)  /* NaN propagates: take x when it is NaN or beyond */
		r = LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, mx ? LLVMRealUGT : LLVMRealULT, x, a, ""), x, a, "");
	else if (prod)
		r = LLVMBuildFMul(c->b, a, x, "");
	else
		r = LLVMBuildFAdd(c->b, a, x, "");
	LLVMBuildStore(c->b, r, acc);
	while (nr > 0)
		cg_loop_end(c, &rl[--nr], 1);
	LLVMValueRef v = LLVMBuildLoad2(c->b, c->f32, acc, "");
	if (n->op == OP_REDUCE_MEAN)
		v = LLVMBuildFDiv(c->b, v, cg_f32(c, (double)count), "");
	cg_storef(c, v, Y, yo);
	while (nk > 0)
		cg_loop_end(c, &kept[--nk], 1);
}

/* ---- softmax ------------------------------------------------------------------------- */

/* Softmax over contiguous rows (inner == 1) of at least one vector: the
 * three passes (max, exp and sum, scale) on whole vectors, the row's tail
 * one by one; the sum is taken in a different order than the plain loop. */
static void softmax_rows(Cg *c, LLVMValueRef X, LLVMValueRef Y, int64_t rows, int64_t len)
{
	int L = c->lanes;
	int64_t nv = len / L, tail = nv * L;
	LLVMValueRef accp = cg_entry_alloca(c, c->vf), sp = cg_entry_alloca(c, c->f32);
	Loop lr, l1, l2, l3;
	LLVMValueRef r = cg_loop_begin(c, &lr, cg_i64(c, 0), cg_i64(c, rows));
	LLVMValueRef xr = cg_gep(c, c->f32, X, cg_mul(c, r, cg_i64(c, len))), yr = cg_gep(c, c->f32, Y, cg_mul(c, r, cg_i64(c, len)));
	LLVMBuildStore(c->b, cg_fconst(c, c->vf, -INFINITY), accp);
	LLVMValueRef i1 = cg_loop_begin(c, &l1, cg_i64(c, 0), cg_i64(c, tail));
	LLVMBuildStore(c->b, max_nan(c, cg_vload(c, xr, i1), LLVMBuildLoad2(c->b, c->vf, accp, "")), accp);
	cg_loop_end(c, &l1, L);
	LLVMValueRef mv = LLVMBuildLoad2(c->b, c->vf, accp, "");
	LLVMValueRef m = LLVMBuildExtractElement(c->b, mv, LLVMConstInt(c->i32, 0, 0), "");
	for (int l = 1; l < L; l++)
		m = max_nan(c, LLVMBuildExtractElement(c->b, mv, LLVMConstInt(c->i32, (unsigned)l, 0), ""), m);
	for (int64_t i = tail; i < len; i++)
		m = max_nan(c, cg_loadf(c, xr, cg_i64(c, i)), m);
	LLVMValueRef ms = cg_splat(c, m, c->vf);
	LLVMBuildStore(c->b, LLVMConstNull(c->vf), accp);
	LLVMValueRef i2 = cg_loop_begin(c, &l2, cg_i64(c, 0), cg_i64(c, tail));
	LLVMValueRef e = cg_exp(c, LLVMBuildFSub(c->b, cg_vload(c, xr, i2), ms, ""));
	LLVMSetAlignment(LLVMBuildStore(c->b, e, cg_gep(c, c->f32, yr, i2)), 4);
	LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->vf, accp, ""), e, ""), accp);
	cg_loop_end(c, &l2, L);
	LLVMBuildStore(c->b, cg_hsum(c, LLVMBuildLoad2(c->b, c->vf, accp, "")), sp);
	for (int64_t i = tail; i < len; i++) {
		LLVMValueRef es = cg_exp(c, LLVMBuildFSub(c->b, cg_loadf(c, xr, cg_i64(c, i)), m, ""));
		cg_storef(c, es, yr, cg_i64(c, i));
		LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, sp, ""), es, ""), sp);
	}
	LLVMValueRef inv = LLVMBuildFDiv(c->b, cg_f32(c, 1), LLVMBuildLoad2(c->b, c->f32, sp, ""), "");
	LLVMValueRef iv = cg_splat(c, inv, c->vf);
	LLVMValueRef i3 = cg_loop_begin(c, &l3, cg_i64(c, 0), cg_i64(c, tail));
	LLVMValueRef yp = cg_gep(c, c->f32, yr, i3);
	LLVMSetAlignment(LLVMBuildStore(c->b, LLVMBuildFMul(c->b, cg_vload(c, yr, i3), iv, ""), yp), 4);
	cg_loop_end(c, &l3, L);
	for (int64_t i = tail; i < len; i++)
		cg_storef(c, LLVMBuildFMul(c->b, cg_loadf(c, yr, cg_i64(c, i)), inv, ""), yr, cg_i64(c, i));
	cg_loop_end(c, &lr, 1);
}

static void lower_softmax(Cg *c, const Node *n)
{
	const Type *t = cg_ty(c, n->out);
	int axis = (int)ir_attr_int(n, "axis", t->rank - 1);
	int64_t outer = 1, len = t->dims[axis], inner = 1;
	for (int i = 0; i < axis; i++)
		outer *= t->dims[i];
	for (int i = axis + 1; i < t->rank; i++)
		inner *= t->dims[i];
	LLVMValueRef X = cg_buf(c, n->in[0]), Y = cg_buf(c, n->out);
	if (!c->reference && inner == 1 && c->lanes >= 4 && len >= c->lanes) {
		c->keep_loops = true;
		softmax_rows(c, X, Y, outer, len);
		c->keep_loops = false;
		return;
	}
	LLVMValueRef mx = cg_entry_alloca(c, c->f32), sum = cg_entry_alloca(c, c->f32);
	Loop lo, li, l1, l2, l3;
	LLVMValueRef o = cg_loop_begin(c, &lo, cg_i64(c, 0), cg_i64(c, outer));
	LLVMValueRef ii = cg_loop_begin(c, &li, cg_i64(c, 0), cg_i64(c, inner));
	LLVMValueRef base = cg_add(c, cg_mul(c, o, cg_i64(c, len * inner)), ii);
	LLVMBuildStore(c->b, cg_f32(c, -INFINITY), mx);
	LLVMValueRef k1 = cg_loop_begin(c, &l1, cg_i64(c, 0), cg_i64(c, len));
	LLVMValueRef x = cg_loadf(c, X, cg_add(c, base, cg_mul(c, k1, cg_i64(c, inner))));
	LLVMValueRef m = LLVMBuildLoad2(c->b, c->f32, mx, "");
	LLVMBuildStore(c->b, max_nan(c, x, m), mx);
	cg_loop_end(c, &l1, 1);
	LLVMValueRef mv = LLVMBuildLoad2(c->b, c->f32, mx, "");
	LLVMBuildStore(c->b, cg_f32(c, 0), sum);
	LLVMValueRef k2 = cg_loop_begin(c, &l2, cg_i64(c, 0), cg_i64(c, len));
	LLVMValueRef off = cg_add(c, base, cg_mul(c, k2, cg_i64(c, inner)));
	LLVMValueRef e = cg_exp(c, LLVMBuildFSub(c->b, cg_loadf(c, X, off), mv, ""));
	cg_storef(c, e, Y, off);
	LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, sum, ""), e, ""), sum);
	cg_loop_end(c, &l2, 1);
	LLVMValueRef inv = LLVMBuildFDiv(c->b, cg_f32(c, 1), LLVMBuildLoad2(c->b, c->f32, sum, ""), "");
	LLVMValueRef k3 = cg_loop_begin(c, &l3, cg_i64(c, 0), cg_i64(c, len));
	LLVMValueRef off3 = cg_add(c, base, cg_mul(c, k3, cg_i64(c, inner)));
	cg_storef(c, LLVMBuildFMul(c->b, cg_loadf(c, Y, off3), inv, ""), Y, off3);
	cg_loop_end(c, &l3, 1);
	cg_loop_end(c, &li, 1);
	cg_loop_end(c, &lo, 1);
}

/* ---- layer normalization ------------------------------------------------------------------ */

/* What a layer_norm node normalizes: outer rows of D elements (the dims
 * from axis on), and its optional scale and bias. */
typedef struct LnK {
	int64_t outer, D;
	int nn;                    /* normalized dims ... */
	const int64_t *rd;         /* ... and their sizes */
	LLVMValueRef X, S, Bi, Y;  /* S, Bi NULL when omitted */
	const Type *ts, *tb;
	LLVMValueRef eps;
} LnK;

static LnK ln_geometry(Cg *c, const Node *n)
{
	const Type *t = cg_ty(c, n->in[0]);
	int axis = (int)ir_attr_int(n, "axis", t->rank - 1);
	LnK k = {.outer = 1, .D = 1, .nn = t->rank - axis, .rd = t->dims + axis, .X = cg_buf(c, n->in[0]), .Y = cg_buf(c, n->out),
		 .eps = cg_f32(c, ir_attr_float(n, "epsilon", 1e-5))};
	for (int i = 0; i < t->rank; i++)
		*(i < axis ? &k.outer : &k.D) *= t->dims[i];
	if (n->nin > 1 && n->in[1] >= 0) {
		k.S = cg_buf(c, n->in[1]);
		k.ts = cg_ty(c, n->in[1]);
	}
	if (n->nin > 2 && n->in[2] >= 0) {
		k.Bi = cg_buf(c, n->in[2]);
		k.tb = cg_ty(c, n->in[2]);
	}
	return k;
}

/* 1 / sqrt(sumsq / D + eps) */
static LLVMValueRef ln_rstd(Cg *c, const LnK *k, LLVMValueRef sumsq)
{
	LLVMValueRef v = LLVMBuildFAdd(c->b, LLVMBuildFDiv(c->b, sumsq, cg_f32(c, (double)k->D), ""), k->eps, "");
	LLVMTypeRef ft = c->f32;
	return LLVMBuildFDiv(c->b, cg_f32(c, 1), cg_call_intr(c, "llvm.sqrt", &ft, 1, &v, 1), "");
}

/* The plain lowering: per row, the mean, the biased variance as the mean
 * of squared deviations, then each element, scale and bias read through
 * broadcast strides. */
static void lower_layer_norm_plain(Cg *c, const Node *n)
{
	LnK k = ln_geometry(c, n);
	int64_t ss[MAXR] = {0}, bs[MAXR] = {0};
	const Type *pt[2] = {k.ts, k.tb};
	int64_t *pst[2] = {ss, bs};
	for (int i = 0; i < 2; i++)
		if (pt[i]) {  /* the operand's dims before the row are 1: drop them */
			Type q = *pt[i];
			if (q.rank > k.nn) {
				memmove(q.dims, q.dims + q.rank - k.nn, (size_t)k.nn * sizeof *q.dims);
				q.rank = k.nn;
			}
			bcast_strides(&q, k.nn, k.rd, pst[i]);
		}
	LLVMValueRef acc = cg_entry_alloca(c, c->f32);
	Loop lo, l1, l2, lr[MAXR];
	LLVMValueRef o = cg_loop_begin(c, &lo, cg_i64(c, 0), cg_i64(c, k.outer));
	LLVMValueRef xr = cg_gep(c, c->f32, k.X, cg_mul(c, o, cg_i64(c, k.D))), yr = cg_gep(c, c->f32, k.Y, cg_mul(c, o, cg_i64(c, k.D)));
	LLVMBuildStore(c->b, cg_f32(c, 0), acc);
	LLVMValueRef j = cg_loop_begin(c, &l1, cg_i64(c, 0), cg_i64(c, k.D));
	LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, acc, ""), cg_loadf(c, xr, j), ""), acc);
	cg_loop_end(c, &l1, 1);
	LLVMValueRef mean = LLVMBuildFDiv(c->b, LLVMBuildLoad2(c->b, c->f32, acc, ""), cg_f32(c, (double)k.D), "");
	LLVMBuildStore(c->b, cg_f32(c, 0), acc);
	j = cg_loop_begin(c, &l2, cg_i64(c, 0), cg_i64(c, k.D));
	LLVMValueRef d = LLVMBuildFSub(c->b, cg_loadf(c, xr, j), mean, "");
	LLVMBuildStore(c->b, cg_fmuladd(c, d, d, LLVMBuildLoad2(c->b, c->f32, acc, "")), acc);
	cg_loop_end(c, &l2, 1);
	LLVMValueRef rstd = ln_rstd(c, &k, LLVMBuildLoad2(c->b, c->f32, acc, ""));
	LLVMValueRef xo = cg_i64(c, 0), so = cg_i64(c, 0), bo = cg_i64(c, 0);
	for (int i = 0; i < k.nn; i++) {
		LLVMValueRef q = cg_loop_begin(c, &lr[i], cg_i64(c, 0), cg_i64(c, k.rd[i]));
		xo = cg_add(c, cg_mul(c, xo, cg_i64(c, k.rd[i])), q);
		so = cg_add(c, so, cg_mul(c, q, cg_i64(c, ss[i])));
		bo = cg_add(c, bo, cg_mul(c, q, cg_i64(c, bs[i])));
	}
	LLVMValueRef v = LLVMBuildFMul(c->b, LLVMBuildFSub(c->b, cg_loadf(c, xr, xo), mean, ""), rstd, "");
	if (k.S)
		v = LLVMBuildFMul(c->b, v, cg_loadf(c, k.S, so), "");
	if (k.Bi)
		v = LLVMBuildFAdd(c->b, v, cg_loadf(c, k.Bi, bo), "");
	cg_storef(c, v, yr, xo);
	for (int i = k.nn - 1; i >= 0; i--)
		cg_loop_end(c, &lr[i], 1);
	cg_loop_end(c, &lo, 1);
}

/* The sum over a row of (x[j] - mean)^2: whole vectors up to Dv, then the
 * scalar tail. */
static LLVMValueRef ln_sumsq(Cg *c, LLVMValueRef xr, LLVMValueRef mean, int64_t Dv, int64_t D)
{
	LLVMValueRef va = cg_entry_alloca(c, c->vf), sa = cg_entry_alloca(c, c->f32);
	LLVMBuildStore(c->b, LLVMConstNull(c->vf), va);
	if (Dv) {
		LLVMValueRef mv = cg_splat(c, mean, c->vf);
		Loop l;
		LLVMValueRef j = cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, Dv));
		LLVMValueRef x = LLVMBuildFSub(c->b, cg_vload(c, xr, j), mv, "");
		LLVMBuildStore(c->b, cg_fmuladd(c, x, x, LLVMBuildLoad2(c->b, c->vf, va, "")), va);
		cg_loop_end(c, &l, c->lanes);
	}
	LLVMBuildStore(c->b, cg_hsum(c, LLVMBuildLoad2(c->b, c->vf, va, "")), sa);
	if (D > Dv) {
		Loop l;
		LLVMValueRef j = cg_loop_begin(c, &l, cg_i64(c, Dv), cg_i64(c, D));
		LLVMValueRef x = LLVMBuildFSub(c->b, cg_loadf(c, xr, j), mean, "");
		LLVMBuildStore(c->b, cg_fmuladd(c, x, x, LLVMBuildLoad2(c->b, c->f32, sa, "")), sa);
		cg_loop_end(c, &l, 1);
	}
	return LLVMBuildLoad2(c->b, c->f32, sa, "");
}

/* A scale or bias as the vector kernel reads it: the whole row (numel D)
 * at j, or the one value `one`; NULL when omitted. */
static LLVMValueRef ln_param(Cg *c, LLVMValueRef p, const Type *t, LLVMValueRef j, LLVMValueRef one, bool vec)
{
	if (!p)
		return NULL;
	if (ir_type_numel(t) == 1)
		return one;
	return vec ? cg_vload(c, p, j) : cg_loadf(c, p, j);
}

/* y[j] = (x[j] - mean) * rstd * scale + bias: a vector at j, or one element. */
static void ln_apply(Cg *c, const LnK *k, LLVMValueRef xr, LLVMValueRef yr, LLVMValueRef j, LLVMValueRef mean,
		     LLVMValueRef rstd, LLVMValueRef s1, LLVMValueRef b1, bool vec)
{
	LLVMValueRef x = vec ? cg_vload(c, xr, j) : cg_loadf(c, xr, j);
	LLVMValueRef v = LLVMBuildFMul(c->b, LLVMBuildFSub(c->b, x, mean, ""), rstd, "");
	LLVMValueRef s = ln_param(c, k->S, k->ts, j, s1, vec), b = ln_param(c, k->Bi, k->tb, j, b1, vec);
	if (s && b)
		v = cg_fmuladd(c, v, s, b);
	else if (s)
		v = LLVMBuildFMul(c->b, v, s, "");
	else if (b)
		v = LLVMBuildFAdd(c->b, v, b, "");
	if (vec)
		LLVMSetAlignment(LLVMBuildStore(c->b, v, cg_gep(c, c->f32, yr, j)), 4);
	else
		cg_storef(c, v, yr, j);
}

/* The vector kernel, one row at a time: the sum, then the sum of squared
 * deviations, each one vector pass over the row (two passes keep the
 * variance accurate when the mean is large against the spread), then
 * (x - mean) * rstd * scale + bias a vector at a time. */
static void lower_layer_norm_vec(Cg *c, const Node *n)
{
	LnK k = ln_geometry(c, n);
	int64_t Dv = k.D / c->lanes * c->lanes;
	LLVMValueRef s1 = k.S && ir_type_numel(k.ts) == 1 ? cg_loadf(c, k.S, cg_i64(c, 0)) : NULL;
	LLVMValueRef b1 = k.Bi && ir_type_numel(k.tb) == 1 ? cg_loadf(c, k.Bi, cg_i64(c, 0)) : NULL;
	Loop lo, lv, lt;
	LLVMValueRef o = cg_loop_begin(c, &lo, cg_i64(c, 0), cg_i64(c, k.outer));
	LLVMValueRef xr = cg_gep(c, c->f32, k.X, cg_mul(c, o, cg_i64(c, k.D))), yr = cg_gep(c, c->f32, k.Y, cg_mul(c, o, cg_i64(c, k.D)));
	LLVMValueRef mean = LLVMBuildFDiv(c->b, cg_sum_f32(c, xr, k.D), cg_f32(c, (double)k.D), "");
	LLVMValueRef rstd = ln_rstd(c, &k, ln_sumsq(c, xr, mean, Dv, k.D));
	if (Dv) {
		LLVMValueRef j = cg_loop_begin(c, &lv, cg_i64(c, 0), cg_i64(c, Dv));
		ln_apply(c, &k, xr, yr, j, cg_splat(c, mean, c->vf), cg_splat(c, rstd, c->vf),
			 s1 ? cg_splat(c, s1, c->vf) : NULL, b1 ? cg_splat(c, b1, c->vf) : NULL, true);
		cg_loop_end(c, &lv, c->lanes);
	}
	if (k.D > Dv) {
		LLVMValueRef j = cg_loop_begin(c, &lt, cg_i64(c, Dv), cg_i64(c, k.D));
		ln_apply(c, &k, xr, yr, j, mean, rstd, s1, b1, false);
		cg_loop_end(c, &lt, 1);
	}
	cg_loop_end(c, &lo, 1);
}

static void lower_layer_norm(Cg *c, const Node *n)
{
	/* The vector kernel reads a scale or bias as the whole row or as one
	 * value; other broadcasts (rare) take the plain loops. */
	LnK k = ln_geometry(c, n);
	bool fast = !c->reference;
	if (k.S)
		fast &= ir_type_numel(k.ts) == 1 || ir_type_numel(k.ts) == k.D;
	if (k.Bi)
		fast &= ir_type_numel(k.tb) == 1 || ir_type_numel(k.tb) == k.D;
	if (!fast) {
		lower_layer_norm_plain(c, n);
		return;
	}
	c->keep_loops = true;
	lower_layer_norm_vec(c, n);
	c->keep_loops = false;
}

/* ---- data movement ----------------------------------------------------------------------- */

static void lower_copy(Cg *c, const Node *n)
{
	/* reshape/identity whose result has its own buffer (a graph output). */
	int64_t bytes = ir_type_bytes(cg_ty(c, n->out));
	if (cg_buf(c, n->out) != cg_buf(c, n->in[0]) && bytes > 0)
		LLVMBuildMemMove(c->b, cg_buf(c, n->out), 1, cg_buf(c, n->in[0]), 1, cg_i64(c, bytes));
}

static void lower_transpose(Cg *c, const Node *n)
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

static void lower_concat(Cg *c, const Node *n)
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

static void lower_pad(Cg *c, const Node *n)
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

/* ---- dispatch ------------------------------------------------------------------------------ */

bool cg_node_splits(Cg *c, const Node *n)
{
	if (n->op == OP_MAXPOOL)  /* the depthwise kernel's channel split */
		return pool_kernel(c, n);
	if (n->op != OP_CONV || c->reference || cg_ty(c, n->in[0])->rank > 4 || !blocks_native(c, n))
		return false;
	bool wconst = ir_value(c->g, n->in[1])->kind == VAL_CONST;
	bool bconst = n->nin < 3 || n->in[2] < 0 || ir_value(c->g, n->in[2])->kind == VAL_CONST;
	return wconst && bconst;  /* the blocked and depthwise kernels */
}

const char *cg_unsupported(const Graph *g, const Node *n)
{
	const Type *t = ir_type_get(g, g->values.v[n->out].type);
	DType dt = t->dt;
	if (cg_is_ew(n->op))
		return NULL;  /* every dtype: halves are widened to f32 */
	if (cg_is_data(n->op))
		return cg_data_unsupported(g, n);
	if (n->op == OP_EINSUM || n->op == OP_TFIDF)
		return NULL;  /* the shape rules admit only what these lower */
	if (cg_is_index(n->op))
		return cg_index_unsupported(g, n);
	switch (n->op) {
	case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_ABS: case OP_NEG:
		if (dt != DT_F32 && dt != DT_F64 && dt != DT_I32 && dt != DT_I64 && dt != DT_I8 && dt != DT_U8 &&
		    dt != DT_I16 && dt != DT_U16 && dt != DT_U32 && dt != DT_U64)
			return "dtype not supported by the backend yet (f32, f64 and integers only)";
		return NULL;
	case OP_RESHAPE: case OP_IDENTITY: case OP_TRANSPOSE: case OP_CONCAT: case OP_PAD:
		if (dt == DT_F16 || dt == DT_BF16)
			return "f16/bf16 tensors are not supported by the backend yet";
		/* Data movement only copies bytes, but Pad's fill value would need
		 * encoding as float8 or a 4-bit integer. */
		return n->op == OP_PAD && (ir_dtype_is_f8(dt) || dt == DT_I4 || dt == DT_U4)
			       ? "pad of float8 or 4-bit tensors is not supported by the backend yet" : NULL;
	default:
		break;
	}
	if (dt != DT_F32)
		return "only f32 is supported for this op by the backend yet";
	return NULL;
}

bool cg_lower_node(Cg *c, const Node *n)
{
	const char *why = cg_unsupported(c->g, n);
	if (why) {
		diag_node(c->d, c->g, n, "%s", why);
		return false;
	}
	if (cg_lower_layout(c, n))
		return true;
	if (cg_is_ew(n->op)) {
		cg_lower_ew(c, n);
		return true;
	}
	if (cg_lower_data(c, n) || cg_lower_index(c, n))
		return true;
	if (cg_lower_window(c, n))
		return true;
	switch (n->op) {
	case OP_CONV: lower_conv(c, n); break;
	case OP_GEMM: lower_gemm(c, n); break;
	case OP_MATMUL: lower_matmul(c, n); break;
	case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: lower_binary(c, n); break;
	case OP_RELU: case OP_LEAKY_RELU: case OP_SIGMOID: case OP_TANH: case OP_CLIP:
	case OP_ABS: case OP_NEG: case OP_EXP: case OP_LOG: case OP_SQRT: case OP_RECIPROCAL: case OP_FLOOR: case OP_CEIL:
		lower_unary(c, n);
		break;
	case OP_BATCHNORM: lower_batchnorm(c, n); break;
	case OP_MAXPOOL: case OP_AVGPOOL: lower_pool(c, n); break;
	case OP_GLOBAL_AVGPOOL: lower_global_avgpool(c, n); break;
	case OP_RESHAPE: case OP_IDENTITY: lower_copy(c, n); break;
	case OP_TRANSPOSE: lower_transpose(c, n); break;
	case OP_CONCAT: lower_concat(c, n); break;
	case OP_SOFTMAX: lower_softmax(c, n); break;
	case OP_LAYER_NORM: lower_layer_norm(c, n); break;
	case OP_REDUCE_MEAN: case OP_REDUCE_SUM: case OP_REDUCE_MAX: case OP_REDUCE_MIN: case OP_REDUCE_PROD:
		lower_reduce(c, n);
		break;
	case OP_PAD: lower_pad(c, n); break;
	case OP_FUSED_EW: cg_lower_fused_ew(c, n); break;
	case OP_RESIZE: cg_lower_resize(c, n); break;
	case OP_EINSUM: cg_lower_einsum(c, n); break;
	case OP_TFIDF: cg_lower_tfidf(c, n); break;
	case OP_DET: cg_lower_det(c, n); break;
	default:
		diag_node(c->d, c->g, n, "no lowering for op %d", (int)n->op);
		return false;
	}
	return true;
}
