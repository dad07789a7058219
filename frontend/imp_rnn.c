/* Recurrent layers (RNN, GRU, LSTM, and DynamicQuantizeLSTM's integer
 * products), unrolled over the static sequence. */
#include "importer.h"

#include <stdlib.h>

/* An activation function with its alpha and beta. */
typedef struct Act1 {
	char name[32];
	double alpha, beta;
} Act1;

/* f(x) for an ONNX RNN activation name. */
static ValueId rnn_act(Ctx *c, const Act1 *f, ValueId x)
{
	DType dt = x >= 0 ? vtype(c, x)->dt : DT_F32;
	const char *n = f->name;
	if (!strcmp(n, "Sigmoid"))
		return fe_unary(c, OP_SIGMOID, x);
	if (!strcmp(n, "Tanh"))
		return fe_unary(c, OP_TANH, x);
	if (!strcmp(n, "Relu"))
		return fe_unary(c, OP_RELU, x);
	if (!strcmp(n, "Softsign"))
		return fe_unary(c, OP_SOFTSIGN, x);
	if (!strcmp(n, "Softplus"))
		return fe_unary(c, OP_SOFTPLUS, x);
	if (!strcmp(n, "Affine"))
		return fe_binary(c, OP_ADD, fe_binary(c, OP_MUL, x, fe_scalar(c, dt, f->alpha), NULL), fe_scalar(c, dt, f->beta), NULL);
	if (!strcmp(n, "ScaledTanh"))
		return fe_binary(c, OP_MUL, fe_unary(c, OP_TANH, fe_binary(c, OP_MUL, x, fe_scalar(c, dt, f->beta), NULL)), fe_scalar(c, dt, f->alpha), NULL);
	Op op = !strcmp(n, "LeakyRelu") ? OP_LEAKY_RELU : !strcmp(n, "HardSigmoid") ? OP_HARD_SIGMOID
		: !strcmp(n, "Elu") ? OP_ELU : !strcmp(n, "ThresholdedRelu") ? OP_THRESHOLDED_RELU : OP_COUNT;
	if (op == OP_COUNT || x < 0)
		return x < 0 ? -1 : (fe_fail(c, "unsupported activation '%s'", n), -1);
	Attr a[2] = {ir_af("alpha", f->alpha), ir_af("beta", f->beta)};
	return fe_emit(c, op, &x, 1, a, op == OP_HARD_SIGMOID ? 2 : 1, NULL);
}

/* The activations attribute, defaults filled in: nper per direction. */
static bool rnn_acts(Ctx *c, int dirs, int nper, const char *const *dflt, Act1 *out)
{
	const SrcAttr *a = sa_get(c->sn, "activations");
	int na = 0, nb = 0;
	const double *al = NULL, *be = NULL;
	const SrcAttr *aa = sa_get(c->sn, "activation_alpha"), *ab = sa_get(c->sn, "activation_beta");
	if (aa)
		al = aa->floats, na = aa->n;
	if (ab)
		be = ab->floats, nb = ab->n;
	if (a && a->n != dirs * nper)
		return fe_fail(c, "activations lists %d functions, expected %d", a->n, dirs * nper);
	for (int i = 0; i < dirs * nper; i++) {
		const char *n = a ? a->strs[i] : dflt[i % nper];
		static const char *const known[] = {"Sigmoid", "Tanh", "Relu", "Softsign", "Softplus", "Affine", "ScaledTanh",
						    "LeakyRelu", "HardSigmoid", "Elu", "ThresholdedRelu"};
		bool ok = false;
		for (size_t k = 0; k < sizeof known / sizeof *known && !ok; k++)
			ok = !strcmp(n, known[k]);
		if (!ok)  /* here, once, rather than at every gate of every step */
			return fe_fail(c, "unsupported activation '%s'", n);
		snprintf(out[i].name, sizeof out[i].name, "%s", n);
		/* ONNX defaults per function */
		bool hs = !strcmp(n, "HardSigmoid");
		out[i].alpha = i < na ? al[i] : hs ? 0.2 : !strcmp(n, "LeakyRelu") ? 0.01 : 1.0;
		out[i].beta = i < nb ? be[i] : hs ? 0.5 : 0.0;
	}
	return true;
}

/* t[d] of a [dirs, ...] tensor, without the leading axis. */
static ValueId dir_slice(Ctx *c, ValueId v, int d)
{
	const Type *t = vtype(c, v);
	int64_t st[IR_MAX_RANK] = {0}, sp[IR_MAX_RANK], n[IR_MAX_RANK], dims[IR_MAX_RANK];
	for (int i = 0; i < t->rank; i++)
		sp[i] = 1, n[i] = t->dims[i];
	st[0] = d;
	n[0] = 1;
	memcpy(dims, t->dims + 1, sizeof(int64_t) * (size_t)(t->rank - 1));
	return fe_reshape_to(c, fe_slice_of(c, v, st, sp, n, NULL), t->rank - 1, dims, NULL);
}

/* Columns [k*h, (k+1)*h) of a [b, G*h] matrix. */
static ValueId gate(Ctx *c, ValueId m, int k, int64_t h)
{
	const Type *t = vtype(c, m);
	int64_t st[2] = {0, k * h}, sp[2] = {1, 1}, n[2] = {t->dims[0], h};
	return fe_slice_of(c, m, st, sp, n, NULL);
}

/* Concatenate vals along axis, 64 at a time. */
static ValueId concat_all(Ctx *c, ValueId *vals, int n, int64_t axis, const char *out_name)
{
	Attr a = ir_ai("axis", axis);
	while (n > 64) {
		int k = 0;
		for (int i = 0; i < n; i += 64) {
			int m = n - i < 64 ? n - i : 64;
			vals[k++] = m == 1 ? vals[i] : fe_emit(c, OP_CONCAT, vals + i, m, &a, 1, NULL);
			if (vals[k - 1] < 0)
				return -1;
		}
		n = k;
	}
	if (n == 1)
		return fe_emit(c, OP_IDENTITY, vals, 1, NULL, 0, out_name);
	return fe_emit(c, OP_CONCAT, vals, n, &a, 1, out_name);
}

/* Operand v (optional when v < 0) has exactly the shape want. */
static bool rnn_shape(Ctx *c, ValueId v, const char *what, int rank, const int64_t *want)
{
	if (v < 0)
		return true;
	const Type *t = vtype(c, v);
	bool same = t->rank == rank;
	for (int i = 0; same && i < rank; i++)
		same = t->dims[i] == want[i];
	if (same)
		return true;
	char got[300], exp[300];
	fe_fmt_dims(got, sizeof got, t->rank, t->dims);
	fe_fmt_dims(exp, sizeof exp, rank, want);
	return fe_fail(c, "%s has shape %s, expected %s", what, got, exp);
}

enum { CELL_RNN, CELL_GRU, CELL_LSTM };

/* v[d] without the leading axis: a constant of its own when v is one (so
 * the code generator sees constant weights), else a slice. */
static ValueId dir_const(Ctx *c, ValueId v, int d)
{
	const Value *val = ir_value(c->g, v);
	const Type *t = vtype(c, v);
	if (val->kind != VAL_CONST)
		return dir_slice(c, v, d);
	TypeId ty = ir_type(c->g, t->dt, t->rank - 1, t->dims + 1, NULL);
	const char *name = fe_fresh_name(c, val->name, "dir");
	size_t stride = (size_t)(ir_type_numel(t) / t->dims[0]) * ir_dtype_size(t->dt);
	ValueId k = ty < 0 || !name ? -1 : ir_add_const(c->g, name, ty, (const char *)val->data + (size_t)d * stride);
	return k < 0 ? (fe_oom(c), -1) : k;
}

/* a [rows, in] times int8 weights q[0] [in, G*h] (scales q[1], zero points
 * q[2]) as DynamicQuantizeLSTM's products: a quantized to u8 at run time
 * over its range (DynamicQuantizeLinear), the integer product scaled to f32. */
static ValueId dyn_product(Ctx *c, ValueId a, const ValueId *q)
{
	ValueId sa, za;
	ValueId aq = fe_dynamic_quant(c, a, &sa, &za, NULL, NULL);
	return fe_int_product(c, aq, q[0], sa, za, q[1], q[2], NULL);
}

/* RNN, GRU, LSTM -> per direction one gemm for all input projections, then
 * per step gemms and elementwise gates; Y, Y_h, Y_c concatenated.
 * dynq (DynamicQuantizeLSTM): W [dirs, in, G*h] and R [dirs, h, G*h] are
 * int8 with scales and zero points in in[8..11], and each gemm is
 * dyn_product's integer product, the bias added after. */
static bool rnn_of(Ctx *c, const ValueId *in, int nin, int cell, bool dynq)
{
	int G = cell == CELL_LSTM ? 4 : cell == CELL_GRU ? 3 : 1;
	if (!fe_need_float(c, in[0], "X"))
		return false;
	const char *dir = sa_str(c->sn, "direction", "forward");
	bool bidi = !strcmp(dir, "bidirectional"), rev = !strcmp(dir, "reverse");
	if (!bidi && !rev && strcmp(dir, "forward"))
		return fe_fail(c, "unknown direction '%s'", dir);
	int dirs = bidi ? 2 : 1;
	int64_t h = sa_int(c->sn, "hidden_size", 0), layout = sa_int(c->sn, "layout", 0);
	double clip = sa_float(c->sn, "clip", 0);
	bool coupled = sa_int(c->sn, "input_forget", 0) != 0, lbr = sa_int(c->sn, "linear_before_reset", 0) != 0;
	ValueId X = in[0];
	const Type *xt = vtype(c, X), *wt = vtype(c, in[1]);
	DType dt = xt->dt;
	if (xt->rank != 3 || wt->rank != 3 || wt->dims[0] != dirs)
		return fe_fail(c, dynq ? "X must be 3-D and W [%d, input, %d*hidden]" : "X must be 3-D and W [%d, %d*hidden, input]",
			       dirs, G);
	int64_t wg = wt->dims[dynq ? 2 : 1];  /* G*h */
	if (h <= 0)
		h = wg / G;
	if (h > (int64_t)1 << 24 || wg != G * h)
		return fe_fail(c, "W has %lld gate rows, expected %lld", (long long)wg, (long long)(G * h));
	/* Every other operand's shape follows from X, W and hidden_size; the
	 * slices below take them on trust. */
	int64_t Bx = xt->dims[layout ? 0 : 1], In0 = wt->dims[dynq ? 1 : 2];
	if (!rnn_shape(c, in[0], "X", 3, (int64_t[]){xt->dims[0], xt->dims[1], In0}) ||
	    !rnn_shape(c, in[2], "R", 3, dynq ? (int64_t[]){dirs, h, G * h} : (int64_t[]){dirs, G * h, h}) ||
	    !rnn_shape(c, nin > 3 ? in[3] : -1, "B", 2, (int64_t[]){dirs, 2 * G * h}) ||
	    !rnn_shape(c, nin > 4 ? in[4] : -1, "sequence_lens", 1, (int64_t[]){Bx}) ||
	    !rnn_shape(c, nin > 5 ? in[5] : -1, layout ? "initial_h (layout 1)" : "initial_h", 3,
		       layout ? (int64_t[]){Bx, dirs, h} : (int64_t[]){dirs, Bx, h}) ||
	    !rnn_shape(c, nin > 6 && cell == CELL_LSTM ? in[6] : -1, layout ? "initial_c (layout 1)" : "initial_c", 3,
		       layout ? (int64_t[]){Bx, dirs, h} : (int64_t[]){dirs, Bx, h}) ||
	    !rnn_shape(c, nin > 7 && cell == CELL_LSTM ? in[7] : -1, "P", 2, (int64_t[]){dirs, 3 * h}))
		return false;
	if (nin > 4 && in[4] >= 0 && vtype(c, in[4])->dt != DT_I32)
		return fe_fail(c, "sequence_lens must be int32, got %s", ir_dtype_name(vtype(c, in[4])->dt));
	/* sequence_lens: steps past a batch's length leave its state alone and
	 * give zeros in Y; known to be all full, they are ignored. */
	ValueId lens = nin > 4 && in[4] >= 0 ? in[4] : -1;
	if (lens >= 0 && ir_value(c->g, lens)->kind == VAL_CONST) {
		const Type *lt = vtype(c, lens);
		bool full = true;
		for (int64_t i = 0; i < ir_type_numel(lt); i++)
			full &= src_load(ir_value(c->g, lens)->data, lt->dt, i) == (double)(layout ? xt->dims[1] : xt->dims[0]);
		if (full)
			lens = -1;
	}
	ValueId h0 = nin > 5 ? in[5] : -1, c0 = nin > 6 ? in[6] : -1;
	if (layout) {  /* [b, seq, in] -> [seq, b, in]; [b, dirs, h] -> [dirs, b, h] */
		int64_t p[3] = {1, 0, 2};
		Attr a = ir_aints("perm", p, 3);
		X = fe_emit(c, OP_TRANSPOSE, &X, 1, &a, 1, NULL);
		if (h0 >= 0)
			h0 = fe_emit(c, OP_TRANSPOSE, &h0, 1, &a, 1, NULL);
		if (c0 >= 0 && cell == CELL_LSTM)
			c0 = fe_emit(c, OP_TRANSPOSE, &c0, 1, &a, 1, NULL);
		if (X < 0 || (nin > 5 && in[5] >= 0 && h0 < 0) || (cell == CELL_LSTM && nin > 6 && in[6] >= 0 && c0 < 0))
			return false;
		xt = vtype(c, X);
	}
	int64_t S = xt->dims[0], Bt = xt->dims[1], In = xt->dims[2];
	static const char *const d_lstm[] = {"Sigmoid", "Tanh", "Tanh"}, *const d_gru[] = {"Sigmoid", "Tanh"},
				 *const d_rnn[] = {"Tanh"};
	int nper = cell == CELL_LSTM ? 3 : cell == CELL_GRU ? 2 : 1;
	Act1 acts[6];
	if (!rnn_acts(c, dirs, nper, cell == CELL_LSTM ? d_lstm : cell == CELL_GRU ? d_gru : d_rnn, acts))
		return false;
	if (S > 4096)
		return fe_fail(c, "sequence of %lld steps is too long to unroll", (long long)S);
	ValueId *ys = malloc(sizeof(ValueId) * (size_t)(S * 2 + 1));
	if (!ys)
		return fe_oom(c);
	ValueId yd[2], hlast[2], clast[2];
	int64_t x2[2] = {S * Bt, In};
	ValueId Xf = fe_reshape_to(c, X, 2, x2, NULL);
	bool ok = Xf >= 0;
	ValueId Xfr = -1;  /* each batch's own steps reversed, for masked backward runs */
	if (lens >= 0 && (rev || bidi)) {
		Attr ra[2] = {ir_ai("batch_axis", 1), ir_ai("time_axis", 0)};
		ValueId rs[2] = {X, lens};
		Xfr = fe_reshape_to(c, fe_emit(c, OP_REVERSE_SEQUENCE, rs, 2, ra, 2, NULL), 2, x2, NULL);
		ok = Xfr >= 0;
	}
	for (int d = 0; ok && d < dirs; d++) {
		bool back = rev || d == 1;
		const Act1 *f = &acts[d * nper];
		ValueId Xin = Xf;
		if (back && lens >= 0) {  /* run forward over the reversed steps */
			Xin = Xfr;
			back = false;
		}
		ValueId W = -1, R = -1, qw[3], qr[3];
		if (dynq) {
			for (int i = 0; i < 3; i++) {
				qw[i] = dir_const(c, i ? in[7 + i] : in[1], d);
				qr[i] = dir_const(c, i ? in[9 + i] : in[2], d);
				ok &= qw[i] >= 0 && qr[i] >= 0;
			}
			if (!ok)
				break;
		} else {
			W = dir_slice(c, in[1], d);
			R = dir_slice(c, in[2], d);
		}
		ValueId wb = -1, rb = -1;
		if (nin > 3 && in[3] >= 0) {
			ValueId Bd = dir_slice(c, in[3], d);  /* [2*G*h]: Wb then Rb */
			int64_t s0 = 0, s1 = G * h, one = 1, n1 = G * h;
			wb = fe_slice_of(c, Bd, &s0, &one, &n1, NULL);
			rb = fe_slice_of(c, Bd, &s1, &one, &n1, NULL);
		}
		/* All input projections at once: [S*B, G*h] (+ Wb, and Rb when
		 * it is not needed separately). */
		Attr ga[4] = {ir_af("alpha", 1), ir_af("beta", 1), ir_ai("trans_a", 0), ir_ai("trans_b", 1)};
		ValueId bias = wb;
		if (wb >= 0 && cell != CELL_GRU)
			bias = fe_binary(c, OP_ADD, wb, rb, NULL);
		ValueId gi[3] = {Xin, W, bias}, XW;
		if (dynq) {
			XW = dyn_product(c, Xin, qw);
			if (bias >= 0)
				XW = fe_binary(c, OP_ADD, XW, bias, NULL);
		} else
			XW = fe_emit(c, OP_GEMM, gi, bias >= 0 ? 3 : 2, ga, 4, NULL);
		int64_t x3[3] = {S, Bt, G * h};
		XW = fe_reshape_to(c, XW, 3, x3, NULL);
		ValueId H, C = -1;
		int64_t bh[2] = {Bt, h};
		if (h0 >= 0)
			H = dir_slice(c, h0, d);
		else {
			void *z = ir_arena_alloc(c->g->arena, (size_t)(Bt * h * ir_dtype_size(dt)) + 1);
			TypeId ty = ir_type(c->g, dt, 2, bh, NULL);
			H = !z || ty < 0 ? -1 : ir_add_const(c->g, fe_fresh_name(c, fe_sn_base(c), "h0"), ty, z);
		}
		if (cell == CELL_LSTM) {
			if (c0 >= 0)
				C = dir_slice(c, c0, d);
			else
				C = fe_binary(c, OP_MUL, H, fe_scalar(c, dt, 0), NULL);
		}
		ValueId P = nin > 7 && in[7] >= 0 ? dir_slice(c, in[7], d) : -1;
		ValueId Pi = -1, Po = -1, Pf = -1;
		if (P >= 0) {
			int64_t one = 1, n1 = h, s[3] = {0, h, 2 * h};
			Pi = fe_slice_of(c, P, &s[0], &one, &n1, NULL);
			Po = fe_slice_of(c, P, &s[1], &one, &n1, NULL);
			Pf = fe_slice_of(c, P, &s[2], &one, &n1, NULL);
		}
		ValueId rbh = -1;
		if (cell == CELL_GRU && rb >= 0) {
			int64_t s2 = 2 * h, one = 1, n1 = h;
			rbh = fe_slice_of(c, rb, &s2, &one, &n1, NULL);
		}
		for (int64_t k = 0; ok && k < S; k++) {
			int64_t t = back ? S - 1 - k : k;
			int64_t st[3] = {t, 0, 0}, sp[3] = {1, 1, 1}, n[3] = {1, Bt, G * h};
			ValueId xt_ = fe_reshape_to(c, fe_slice_of(c, XW, st, sp, n, NULL), 2, (int64_t[]){Bt, G * h}, NULL);
			ValueId Ht, Cold = C;
			if (cell == CELL_GRU) {
				/* z and r from x + H R^T (+ Rb); h from its own rule */
				ValueId hr[3] = {H, R, rb};
				ValueId HR = fe_emit(c, OP_GEMM, hr, rb >= 0 ? 3 : 2, ga, 4, NULL);
				ValueId pre = fe_binary(c, OP_ADD, xt_, HR, NULL);
				ValueId z = rnn_act(c, &f[0], gate(c, pre, 0, h));
				ValueId r = rnn_act(c, &f[0], gate(c, pre, 1, h));
				ValueId xh = gate(c, xt_, 2, h), hh;
				if (lbr) {
					hh = fe_binary(c, OP_MUL, r, gate(c, HR, 2, h), NULL);
				} else {
					ValueId Rh = fe_reshape_to(c, fe_slice_of(c, R, (int64_t[]){2 * h, 0}, (int64_t[]){1, 1},
									  (int64_t[]){h, h}, NULL), 2, (int64_t[]){h, h}, NULL);
					ValueId rh[3] = {fe_binary(c, OP_MUL, r, H, NULL), Rh, rbh};
					hh = fe_emit(c, OP_GEMM, rh, rbh >= 0 ? 3 : 2, ga, 4, NULL);
				}
				ValueId cand = rnn_act(c, &f[1], fe_binary(c, OP_ADD, xh, hh, NULL));
				/* H = (1 - z) * cand + z * H = cand + z * (H - cand) */
				Ht = fe_binary(c, OP_ADD, cand, fe_binary(c, OP_MUL, z, fe_binary(c, OP_SUB, H, cand, NULL), NULL), NULL);
			} else {
				ValueId hr[2] = {H, R};
				ValueId HR = dynq ? dyn_product(c, H, qr) : fe_emit(c, OP_GEMM, hr, 2, ga, 4, NULL);
				ValueId pre = fe_binary(c, OP_ADD, xt_, HR, NULL);
				if (clip > 0 && pre >= 0) {
					Attr ca[2] = {ir_af("min", -clip), ir_af("max", clip)};
					pre = fe_emit(c, OP_CLIP, &pre, 1, ca, 2, NULL);
				}
				if (cell == CELL_RNN) {
					Ht = rnn_act(c, &f[0], pre);
				} else {
					ValueId gi_ = gate(c, pre, 0, h), go = gate(c, pre, 1, h), gf = gate(c, pre, 2, h), gc = gate(c, pre, 3, h);
					if (Pi >= 0) {
						gi_ = fe_binary(c, OP_ADD, gi_, fe_binary(c, OP_MUL, Pi, C, NULL), NULL);
						gf = fe_binary(c, OP_ADD, gf, fe_binary(c, OP_MUL, Pf, C, NULL), NULL);
					}
					ValueId it = rnn_act(c, &f[0], gi_);
					ValueId ft = coupled ? fe_binary(c, OP_SUB, fe_scalar(c, dt, 1), it, NULL) : rnn_act(c, &f[0], gf);
					ValueId ct = rnn_act(c, &f[1], gc);
					C = fe_binary(c, OP_ADD, fe_binary(c, OP_MUL, ft, C, NULL), fe_binary(c, OP_MUL, it, ct, NULL), NULL);
					if (Po >= 0)
						go = fe_binary(c, OP_ADD, go, fe_binary(c, OP_MUL, Po, C, NULL), NULL);
					Ht = fe_binary(c, OP_MUL, rnn_act(c, &f[0], go), rnn_act(c, &f[2], C), NULL);
				}
			}
			ValueId Yt = Ht;
			if (lens >= 0 && Ht >= 0) {
				/* m = t < lens[b]: past the end the state holds, Y is 0 */
				DType lt = vtype(c, lens)->dt;
				ValueId m = fe_binary(c, OP_LESS, fe_scalar(c, lt, (double)t), lens, NULL);
				m = fe_reshape_to(c, m, 2, (int64_t[]){Bt, 1}, NULL);
				ValueId w1[3] = {m, Ht, H};
				Ht = fe_emit(c, OP_WHERE, w1, 3, NULL, 0, NULL);
				if (cell == CELL_LSTM) {
					ValueId w2[3] = {m, C, Cold};
					C = fe_emit(c, OP_WHERE, w2, 3, NULL, 0, NULL);
				}
				ValueId w3[3] = {m, Yt, fe_scalar(c, dt, 0)};
				Yt = fe_emit(c, OP_WHERE, w3, 3, NULL, 0, NULL);
			}
			H = Ht;
			ok = H >= 0 && Yt >= 0;
			ys[d * S + t] = ok ? fe_reshape_to(c, Yt, 4, (int64_t[]){1, 1, Bt, h}, NULL) : -1;
			ok = ok && ys[d * S + t] >= 0;
		}
		hlast[d] = H;
		clast[d] = C;
		yd[d] = ok ? concat_all(c, ys + d * S, (int)S, 0, NULL) : -1;
		if (Xin == Xfr && yd[d] >= 0) {  /* put the reversed steps back in place */
			Attr ra[2] = {ir_ai("batch_axis", 1), ir_ai("time_axis", 0)};
			ValueId rs[2] = {fe_reshape_to(c, yd[d], 3, (int64_t[]){S, Bt, h}, NULL), lens};
			yd[d] = fe_reshape_to(c, rs[0] < 0 ? -1 : fe_emit(c, OP_REVERSE_SEQUENCE, rs, 2, ra, 2, NULL), 4,
					   (int64_t[]){S, 1, Bt, h}, NULL);
		}
		ok = ok && yd[d] >= 0;
	}
	free(ys);
	if (!ok)
		return false;
	const char *const *out = (const char *const *)c->sn->out;
	int nout = c->sn->nout;
	/* Y [S, dirs, B, h] (layout 1: [B, S, dirs, h]) */
	if (nout > 0 && *out[0]) {
		ValueId Y = dirs == 2 ? concat_all(c, yd, 2, 1, layout ? NULL : out[0]) : fe_emit(c, OP_IDENTITY, yd, 1, NULL, 0, layout ? NULL : out[0]);
		if (layout && Y >= 0) {
			Attr a = ir_aints("perm", (int64_t[]){2, 0, 1, 3}, 4);
			Y = fe_emit(c, OP_TRANSPOSE, &Y, 1, &a, 1, out[0]);
		}
		if (!fe_define_at(c, 0, Y))
			return false;
	}
	for (int o = 1; o < nout && o < (cell == CELL_LSTM ? 3 : 2); o++) {
		if (!*out[o])
			continue;
		ValueId *src = o == 1 ? hlast : clast, parts[2];
		for (int d = 0; d < dirs; d++)
			parts[d] = fe_reshape_to(c, src[d], 3, (int64_t[]){1, Bt, h}, NULL);
		ValueId v = concat_all(c, parts, dirs, 0, layout ? NULL : out[o]);
		if (layout && v >= 0) {
			Attr a = ir_aints("perm", (int64_t[]){1, 0, 2}, 3);
			v = fe_emit(c, OP_TRANSPOSE, &v, 1, &a, 1, out[o]);
		}
		if (!fe_define_at(c, o, v))
			return false;
	}
	return true;
}

static bool imp_rnn(Ctx *c, const ValueId *in, int nin)
{
	return rnn_of(c, in, nin, !strcmp(c->sn->op, "LSTM") ? CELL_LSTM : !strcmp(c->sn->op, "GRU") ? CELL_GRU : CELL_RNN, false);
}

bool fe_lstm(Ctx *c, const ValueId *in, int nin) { return rnn_of(c, in, nin, CELL_LSTM, false); }
bool fe_lstm_dynamic(Ctx *c, const ValueId *in, int nin) { return rnn_of(c, in, nin, CELL_LSTM, true); }

#define RNN_ATTRS_COMMON {"activation_alpha", SA_FLOATS}, {"activation_beta", SA_FLOATS}, \
	{"activations", SA_STRINGS}, {"clip", SA_FLOAT}, {"direction", SA_STRING}, {"hidden_size", SA_INT}
#define RNN_ATTRS {RNN_ATTRS_COMMON, {"layout", SA_INT, 14, 0}}

const OpSpec imp_rnn_ops[] = {
	{"RNN", 7, 22, 3, 6, 2, 0, imp_rnn, RNN_ATTRS, true},
	{"GRU", 7, 22, 3, 6, 2, 0, imp_rnn, {RNN_ATTRS_COMMON, {"linear_before_reset", SA_INT}, {"layout", SA_INT, 14, 0}}, true},
	{"LSTM", 7, 22, 3, 8, 3, 0, imp_rnn, {RNN_ATTRS_COMMON, {"input_forget", SA_INT}, {"layout", SA_INT, 14, 0}}, true},
	{NULL},
};
