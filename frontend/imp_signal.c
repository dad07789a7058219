/* Signal processing: DFT and STFT as matrix products with constant tables,
 * the window functions and MelWeightMatrix as constants. */
#include "importer.h"

#include <math.h>
#include <stdlib.h>

/* HannWindow, HammingWindow, BlackmanWindow (size) -> constants of that size */
static bool imp_window(Ctx *c, const ValueId *in, int nin)
{
	double sz;
	if (!fe_const_scalar(c, in[0], "size", &sz))
		return false;
	int64_t n = (int64_t)sz;
	if (n < 0 || n > (1 << 24))
		return fe_fail(c, "window size %lld is out of range", (long long)n);
	DType dt = ir_dtype_from_onnx((int)sa_int(c->sn, "output_datatype", 1));
	if (dt == DT_UNDEF)
		return fe_fail(c, "unsupported output_datatype");
	bool periodic = sa_int(c->sn, "periodic", 1) != 0;
	double den = (double)(periodic ? n : n - 1), a0, a1, a2 = 0;
	if (!strcmp(c->sn->op, "HannWindow"))
		a0 = 0.5, a1 = 0.5;
	else if (!strcmp(c->sn->op, "HammingWindow"))
		a0 = 25.0 / 46, a1 = 1 - 25.0 / 46;
	else
		a0 = 0.42, a1 = 0.5, a2 = 0.08;
	char *p = ir_arena_alloc(c->g->arena, (size_t)(n * ir_dtype_size(dt)) + 1);
	if (!p)
		return fe_oom(c);
	for (int64_t i = 0; i < n; i++) {
		double t = den > 0 ? 2 * M_PI * (double)i / den : 0;
		src_store(p, dt, i, a0 - a1 * cos(t) + a2 * cos(2 * t));
	}
	return fe_define_const(c, dt, 1, &n, p);
}

/* The DFT of x [.., n (at axis), .., 1|2] at length N: [.., K, .., 2], as two
 * matrix products with constant cos/sin tables: the signal axis moved last,
 * real and imaginary parts multiplied by [N, K] matrices, the parts stacked
 * again on the trailing axis of 2. */
static ValueId dft_of(Ctx *c, ValueId x, int64_t axis, int64_t N, bool inv, bool one, const char *out_name)
{
	const Type *t = vtype(c, x);
	int r = t->rank;
	int64_t n = t->dims[axis];
	int64_t K = one ? N / 2 + 1 : N;
	if (N < 1 || N > 4096 || (inv && one))
		return fail_v(c, "unsupported dft_length %lld or inverse with onesided", (long long)N);
	DType dt = t->dt;
	/* [.., n, .., 2] -> [.., .., 2, n]: the signal last, parts before it */
	int64_t perm[IR_MAX_RANK], back[IR_MAX_RANK];
	int k = 0;
	for (int i = 0; i < r - 1; i++)
		if (i != axis)
			perm[k++] = i;
	perm[k++] = r - 1;
	perm[k++] = axis;
	Attr pa = ir_aints("perm", perm, r);
	ValueId xt = fe_emit(c, OP_TRANSPOSE, &x, 1, &pa, 1, NULL);
	if (xt < 0)
		return -1;
	const Type *tt = vtype(c, xt);
	int64_t lead = ir_type_numel(tt) / (t->dims[r - 1] * n), parts = t->dims[r - 1];
	ValueId x3 = fe_reshape_to(c, xt, 3, (int64_t[]){lead, parts, n}, NULL);
	/* pad or cut the signal to N */
	if (N != n && x3 >= 0) {
		if (N < n)
			x3 = fe_slice_of(c, x3, (int64_t[]){0, 0, 0}, (int64_t[]){1, 1, 1}, (int64_t[]){lead, parts, N}, NULL);
		else {
			Attr a[2] = {ir_aints("pads", (int64_t[]){0, 0, 0, 0, 0, N - n}, 6), ir_af("value", 0)};
			x3 = fe_emit(c, OP_PAD, &x3, 1, a, 2, NULL);
		}
	}
	ValueId xr = fe_slice_of(c, x3, (int64_t[]){0, 0, 0}, (int64_t[]){1, 1, 1}, (int64_t[]){lead, 1, N}, NULL);
	xr = fe_reshape_to(c, xr, 2, (int64_t[]){lead, N}, NULL);
	ValueId xi = -1;
	if (parts == 2) {
		xi = fe_slice_of(c, x3, (int64_t[]){0, 1, 0}, (int64_t[]){1, 1, 1}, (int64_t[]){lead, 1, N}, NULL);
		xi = fe_reshape_to(c, xi, 2, (int64_t[]){lead, N}, NULL);
	}
	/* C[n][k] = cos(2 pi n k / N), S = sin; forward: e^{-i...} */
	TypeId mt = ir_type(c->g, dt, 2, (int64_t[]){N, K}, NULL);
	char *cm = ir_arena_alloc(c->g->arena, (size_t)(N * K * ir_dtype_size(dt)) + 1);
	char *sm = ir_arena_alloc(c->g->arena, (size_t)(N * K * ir_dtype_size(dt)) + 1);
	if (mt < 0 || !cm || !sm)
		return fe_oom(c), -1;
	double scale = inv ? 1.0 / (double)N : 1;
	for (int64_t a = 0; a < N; a++)
		for (int64_t b = 0; b < K; b++) {
			double ang = 2 * M_PI * (double)((a * b) % N) / (double)N;
			src_store(cm, dt, a * K + b, cos(ang) * scale);
			src_store(sm, dt, a * K + b, (inv ? sin(ang) : -sin(ang)) * scale);
		}
	ValueId C = ir_add_const(c->g, fe_fresh_name(c, fe_sn_base(c), "cos"), mt, cm);
	ValueId S = ir_add_const(c->g, fe_fresh_name(c, fe_sn_base(c), "sin"), mt, sm);
	if (C < 0 || S < 0)
		return fe_oom(c), -1;
	/* (xr + i xi)(C + i S) */
	ValueId yr = fe_binary(c, OP_MATMUL, xr, C, NULL), yi = fe_binary(c, OP_MATMUL, xr, S, NULL);
	if (xi >= 0) {
		yr = fe_binary(c, OP_SUB, yr, fe_binary(c, OP_MATMUL, xi, S, NULL), NULL);
		yi = fe_binary(c, OP_ADD, yi, fe_binary(c, OP_MATMUL, xi, C, NULL), NULL);
	}
	ValueId st[2] = {fe_reshape_to(c, yr, 3, (int64_t[]){lead, 1, K}, NULL), fe_reshape_to(c, yi, 3, (int64_t[]){lead, 1, K}, NULL)};
	Attr ca = ir_ai("axis", 1);
	ValueId y = st[0] < 0 || st[1] < 0 ? -1 : fe_emit(c, OP_CONCAT, st, 2, &ca, 1, NULL);
	/* back to [.., K, .., 2] */
	int64_t dims[IR_MAX_RANK];
	for (int i = 0; i < r; i++)
		dims[i] = tt->dims[i];
	dims[r - 2] = 2;
	dims[r - 1] = K;
	y = fe_reshape_to(c, y, r, dims, NULL);
	for (int i = 0; i < r; i++)
		back[perm[i]] = i;
	Attr ba = ir_aints("perm", back, r);
	return y < 0 ? -1 : fe_emit(c, OP_TRANSPOSE, &y, 1, &ba, 1, out_name);
}

/* DFT(x, dft_length?, axis?; inverse, onesided) -> dft_of */
static bool imp_dft(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int r = t->rank;
	if (!fe_need_float(c, in[0], "the input") || r < 3 || (t->dims[r - 1] != 1 && t->dims[r - 1] != 2))
		return r < 3 || ir_dtype_is_float(t->dt) ? fe_fail(c, "input must be [batch, ..., signal, 1 or 2]") : false;
	int64_t axis = c->opset >= 20 ? -2 : sa_int(c->sn, "axis", 1);
	double v;
	if (c->opset >= 20 && nin > 2 && in[2] >= 0) {
		if (!fe_const_scalar(c, in[2], "axis", &v))
			return false;
		axis = (int64_t)v;
	}
	if (!fe_norm_axis(c, &axis, r, "axis") || axis == 0 || axis == r - 1)
		return axis == 0 || axis == r - 1 ? fe_fail(c, "axis must be a signal axis, not batch or the complex axis") : false;
	int64_t n = t->dims[axis], N = n;
	if (nin > 1 && in[1] >= 0) {
		if (!fe_const_scalar(c, in[1], "dft_length", &v))
			return false;
		N = (int64_t)v;
	}
	return fe_define(c, dft_of(c, in[0], axis, N, sa_int(c->sn, "inverse", 0) != 0, sa_int(c->sn, "onesided", 0) != 0,
				c->sn->out[0]));
}

/* STFT -> frames gathered with a constant index table, weighted by the
 * window, then the DFT of each frame. */
static bool imp_stft(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	double v;
	if (!fe_need_float(c, in[0], "the signal") || t->rank != 3 || (t->dims[2] != 1 && t->dims[2] != 2))
		return t->rank != 3 ? fe_fail(c, "signal must be [batch, length, 1 or 2]") : false;
	if (!fe_const_scalar(c, in[1], "frame_step", &v))
		return false;
	int64_t step = (int64_t)v, L = t->dims[1], W = -1, flen = -1;
	bool win = nin > 2 && in[2] >= 0;
	if (win)
		W = ir_type_numel(vtype(c, in[2]));
	if (nin > 3 && in[3] >= 0) {
		if (!fe_const_scalar(c, in[3], "frame_length", &v))
			return false;
		flen = (int64_t)v;
	}
	if (flen < 0)
		flen = W;
	if (W < 0)
		W = flen;
	if (step < 1 || flen < 1 || W != flen || flen > L)
		return fe_fail(c, "frame_step, window and frame_length do not fit the signal");
	int64_t frames = 1 + (L - flen) / step;
	int64_t *idx = ir_arena_alloc(c->g->arena, (size_t)(frames * W + 1) * sizeof *idx);
	if (!idx)
		return fe_oom(c);
	for (int64_t f = 0; f < frames; f++)
		for (int64_t w = 0; w < W; w++)
			idx[f * W + w] = f * step + w;
	TypeId ty = ir_type(c->g, DT_I64, 2, (int64_t[]){frames, W}, NULL);
	ValueId iv = ty < 0 ? -1 : ir_add_const(c->g, fe_fresh_name(c, fe_sn_base(c), "frames"), ty, idx);
	if (iv < 0)
		return fe_oom(c);
	Attr a = ir_ai("axis", 1);
	ValueId g[2] = {in[0], iv};
	ValueId x = fe_emit(c, OP_GATHER, g, 2, &a, 1, NULL);  /* [B, frames, W, parts] */
	if (win)
		x = fe_binary(c, OP_MUL, x, fe_reshape_to(c, in[2], 4, (int64_t[]){1, 1, W, 1}, NULL), NULL);
	return x >= 0 && fe_define(c, dft_of(c, x, 2, flen, false, sa_int(c->sn, "onesided", 1) != 0, c->sn->out[0]));
}

/* MelWeightMatrix -> the triangular mel filter bank, a constant. */
static bool imp_mel(Ctx *c, const ValueId *in, int nin)
{
	double v[5];
	const char *what[5] = {"num_mel_bins", "dft_length", "sample_rate", "lower_edge_hertz", "upper_edge_hertz"};
	for (int i = 0; i < 5; i++)
		if (!fe_const_scalar(c, in[i], what[i], &v[i]))
			return false;
	int64_t bins = (int64_t)v[0], dftl = (int64_t)v[1], rate = (int64_t)v[2];
	double lo = v[3], hi = v[4];
	DType dt = ir_dtype_from_onnx((int)sa_int(c->sn, "output_datatype", 1));
	int64_t nspec = dftl / 2 + 1;
	if (bins < 1 || dftl < 1 || rate < 1 || bins > 4096 || nspec > 65536 || dt == DT_UNDEF || !(hi > lo))
		return fe_fail(c, "bad mel parameters");
	/* ONNX's reference: bin edges on the mel scale, mapped to FFT bins and
	 * truncated to integers; triangles between consecutive edges. */
	int64_t *fb = calloc((size_t)bins + 2, sizeof *fb);
	char *p = ir_arena_alloc(c->g->arena, (size_t)(nspec * bins * ir_dtype_size(dt)) + 1);
	if (!fb || !p) {
		free(fb);
		return fe_oom(c);
	}
	/* the reference steps by (mhi - mlo) / (bins + 2) and floors */
	double mlo = 2595 * log10(1 + lo / 700), mhi = 2595 * log10(1 + hi / 700);
	for (int64_t i = 0; i < bins + 2; i++) {
		double m = mlo + (mhi - mlo) / (double)(bins + 2) * (double)i;
		double hz = 700 * (pow(10, m / 2595) - 1);
		fb[i] = (int64_t)floor((double)(dftl + 1) * hz / (double)rate);
	}
	bool ok = true;
	for (int64_t i = 0; i < bins + 2; i++)
		ok &= fb[i] >= 0 && fb[i] < nspec;
	for (int64_t i = 0; ok && i < bins; i++) {
		int64_t l = fb[i], ctr = fb[i + 1], r = fb[i + 2];
		if (ctr == l)
			src_store(p, dt, ctr * bins + i, 1);
		for (int64_t j = l; ctr > l && j <= ctr; j++)
			src_store(p, dt, j * bins + i, (double)(j - l) / (double)(ctr - l));
		for (int64_t j = ctr; r > ctr && j < r; j++)
			src_store(p, dt, j * bins + i, (double)(r - j) / (double)(r - ctr));
	}
	if (!ok) {
		free(fb);
		return fe_fail(c, "the mel edges fall outside the %lld spectrogram bins", (long long)nspec);
	}
	free(fb);
	return fe_define_const(c, dt, 2, (int64_t[]){nspec, bins}, p);
}

const OpSpec imp_signal_ops[] = {
	{"DFT", 17, 19, 1, 2, 1, 2, imp_dft, {{"axis", SA_INT}, {"inverse", SA_INT}, {"onesided", SA_INT}}},
	{"DFT", 20, 22, 1, 3, 1, 6, imp_dft, {{"inverse", SA_INT}, {"onesided", SA_INT}}},
	{"STFT", 17, 22, 2, 4, 1, 10, imp_stft, {{"onesided", SA_INT}}},
	{"MelWeightMatrix", 17, 22, 5, 5, 1, 31, imp_mel, {{"output_datatype", SA_INT}}},
	{"HannWindow", 17, 22, 1, 1, 1, 1, imp_window, {{"output_datatype", SA_INT}, {"periodic", SA_INT}}},
	{"HammingWindow", 17, 22, 1, 1, 1, 1, imp_window, {{"output_datatype", SA_INT}, {"periodic", SA_INT}}},
	{"BlackmanWindow", 17, 22, 1, 1, 1, 1, imp_window, {{"output_datatype", SA_INT}, {"periodic", SA_INT}}},
	{NULL},
};
