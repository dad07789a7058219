/* Resize: separable interpolation with the taps computed at compile time.
 * For every axis and output coordinate the source indices and weights are
 * known before the program runs (shapes and scales are static), so they go
 * into read-only tables; the generated loop only gathers and weighs.  An
 * axis that maps one-to-one gets a single tap and no table. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

#define MAXR IR_MAX_RANK
#define MAXT 32  /* taps per axis: antialiased downscaling widens the filter */

typedef struct Axis {
	int taps;        /* 1, 2 (linear) or 4 (cubic) */
	int64_t in, out;
	int32_t *idx;    /* out * taps source indices, clamped into [0, in) */
	float *w;        /* out * taps weights */
	uint8_t *outside;  /* tf_crop_and_resize: coordinate outside the input */
	bool identity;
} Axis;

/* The source coordinate of output coordinate o along an axis. */
static double source_coord(const char *mode, double o, double s, int64_t in, int64_t out, double r0, double r1)
{
	/* ONNX measures the resized length as in * scale, unrounded. */
	double len = (double)in * s;
	if (!strcmp(mode, "asymmetric"))
		return o / s;
	if (!strcmp(mode, "align_corners"))
		return len == 1 ? 0 : o * (double)(in - 1) / (len - 1);
	if (!strcmp(mode, "pytorch_half_pixel"))
		return len > 1 ? (o + 0.5) / s - 0.5 : 0;
	if (!strcmp(mode, "tf_crop_and_resize"))
		return len > 1 ? r0 * (double)(in - 1) + o * (r1 - r0) * (double)(in - 1) / (len - 1)
			       : 0.5 * (r0 + r1) * (double)(in - 1);
	if (!strcmp(mode, "half_pixel_symmetric")) {
		double adj = (double)out / (s * (double)in), center = (double)in / 2;
		return center * (1 - adj) + (o + 0.5) / s - 0.5;
	}
	return (o + 0.5) / s - 0.5;  /* half_pixel */
}

static int64_t nearest_index(const char *mode, double x)
{
	double f = floor(x), frac = x - f;
	if (!strcmp(mode, "floor"))
		return (int64_t)f;
	if (!strcmp(mode, "ceil"))
		return (int64_t)ceil(x);
	if (frac == 0.5)
		return (int64_t)(strcmp(mode, "round_prefer_ceil") ? f : f + 1);
	return (int64_t)floor(x + 0.5);
}

static void cubic_coeffs(double r, double a, double *c)
{
	double t0 = r + 1, t1 = r, t2 = 1 - r, t3 = 2 - r;
	c[0] = ((a * t0 - 5 * a) * t0 + 8 * a) * t0 - 4 * a;
	c[1] = ((a + 2) * t1 - (a + 3)) * t1 * t1 + 1;
	c[2] = ((a + 2) * t2 - (a + 3)) * t2 * t2 + 1;
	c[3] = ((a * t3 - 5 * a) * t3 + 8 * a) * t3 - 4 * a;
}

static int64_t clampi(int64_t v, int64_t n) { return v < 0 ? 0 : v >= n ? n - 1 : v; }

static bool build_axis(const Node *n, int ax, int64_t in, int64_t out, Axis *a)
{
	const char *mode = ir_attr_str(n, "mode", "nearest"), *coord = ir_attr_str(n, "coord", "half_pixel");
	const char *near = ir_attr_str(n, "nearest", "round_prefer_floor");
	const Attr *sa = ir_attr(n, "scales"), *ra = ir_attr(n, "roi");
	double s = sa->floats[ax], r0 = ra->floats[ax], r1 = ra->floats[ra->n / 2 + ax];
	double ca = ir_attr_float(n, "cubic_a", -0.75);
	bool excl = ir_attr_int(n, "exclude_outside", 0) != 0, crop = !strcmp(coord, "tf_crop_and_resize");
	bool linear = !strcmp(mode, "linear"), cubic = !strcmp(mode, "cubic");
	int T = linear ? 2 : cubic ? 4 : 1;
	/* Antialiasing (downscaling only): the filter stretches by 1/scale. */
	double fs = s < 1 ? s : 1;
	int64_t first = linear ? -1 : -2;  /* first tap relative to floor(x) */
	if (ir_attr_int(n, "antialias", 0) && (linear || cubic)) {
		first = (int64_t)floor((linear ? -1 : -2) / fs) + 1;
		T = (int)(2 - 2 * first);
		first -= 1;  /* offsets below are from floor(x) - 1 (ratio in (0, 1]) */
	} else {
		fs = 0;  /* the plain filters */
	}
	if (T > MAXT)
		return false;
	a->in = in;
	a->out = out;
	a->taps = T;
	a->idx = calloc((size_t)(out * T), sizeof *a->idx);
	a->w = calloc((size_t)(out * T), sizeof *a->w);
	a->outside = calloc((size_t)out, 1);
	if (!a->idx || !a->w || !a->outside)
		return false;
	a->identity = in == out && !crop;
	for (int64_t o = 0; o < out; o++) {
		double x = source_coord(coord, (double)o, s, in, out, r0, r1);
		if (crop && (x < 0 || x > (double)(in - 1)))
			a->outside[o] = 1;
		int32_t *ix = a->idx + o * T;
		float *w = a->w + o * T;
		if (T == 1) {
			ix[0] = (int32_t)clampi(nearest_index(near, x), in);
			w[0] = 1;
		} else {
			double f = floor(x), r = x - f, cw[MAXT];
			int64_t base = (int64_t)f - (T == 4 ? 1 : 0);
			if (fs > 0) {
				/* taps floor(x)+first+1 .. as ONNX's reference picks them:
				 * a whole x counts as ratio 1 from the index below */
				if (r == 0)
					f -= 1, r = 1;
				base = (int64_t)f + first + 1;
				double tot = 0;
				for (int t = 0; t < T; t++) {
					double d = fabs(((double)(first + 1 + t) - r) * fs);
					cw[t] = linear ? (d < 1 ? 1 - d : 0)
						: d <= 1 ? ((ca + 2) * d - (ca + 3)) * d * d + 1
						: d < 2 ? ((ca * d - 5 * ca) * d + 8 * ca) * d - 4 * ca : 0;
					tot += cw[t];
				}
				for (int t = 0; t < T; t++)
					cw[t] /= tot;
			} else if (T == 2) {
				cw[0] = 1 - r;
				cw[1] = r;
			} else {
				cubic_coeffs(r, ca, cw);
			}
			double sum = 0;
			for (int t = 0; t < T; t++) {
				int64_t k = base + t;
				if (excl && (k < 0 || k >= in))
					cw[t] = 0;
				sum += cw[t];
			}
			for (int t = 0; t < T; t++) {
				ix[t] = (int32_t)clampi(base + t, in);
				w[t] = (float)(excl && sum != 0 ? cw[t] / sum : cw[t]);
			}
		}
		/* one-to-one: all weight on source index o */
		for (int t = 0; t < T && a->identity; t++)
			if (w[t] != 0 && !(w[t] == 1 && ix[t] == o))
				a->identity = false;
	}
	return true;
}

/* A constant table as a global; returns its pointer. */
static LLVMValueRef table(Cg *c, const void *data, size_t bytes)
{
	return cg_const_blob(c, "kiln.resize", data, bytes);
}

void cg_lower_resize(Cg *c, const Node *n)
{
	const Type *x = ir_value_type(c->g, n->in[0]), *y = ir_value_type(c->g, n->out);
	int r = y->rank;
	Axis ax[MAXR] = {0};
	LLVMValueRef tidx[MAXR] = {0}, tw[MAXR] = {0}, tout[MAXR] = {0};
	bool crop = !strcmp(ir_attr_str(n, "coord", ""), "tf_crop_and_resize");
	for (int d = 0; d < r; d++) {
		if (!build_axis(n, d, x->dims[d], y->dims[d], &ax[d]))
			die("resize tables: out of memory or too many taps (the importer bounds them)");
		if (ax[d].identity)
			continue;
		tidx[d] = table(c, ax[d].idx, (size_t)(ax[d].out * ax[d].taps) * sizeof(int32_t));
		tw[d] = table(c, ax[d].w, (size_t)(ax[d].out * ax[d].taps) * sizeof(float));
		if (crop)
			tout[d] = table(c, ax[d].outside, (size_t)ax[d].out);
	}
	int64_t xs[MAXR], k = 1;
	for (int d = r - 1; d >= 0; d--) {
		xs[d] = k;
		k *= x->dims[d];
	}
	Loop l[MAXR];
	LLVMValueRef iv[MAXR], yo = cg_i64(c, 0);
	for (int d = 0; d < r; d++) {
		iv[d] = cg_loop_begin(c, &l[d], cg_i64(c, 0), cg_i64(c, y->dims[d]));
		yo = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, yo, cg_i64(c, y->dims[d]), ""), iv[d], "");
	}
	/* Per axis: tap offsets (index * stride) and weights. */
	LLVMValueRef off[MAXR][MAXT], wt[MAXR][MAXT];
	int taps[MAXR];
	LLVMValueRef outside = LLVMConstInt(LLVMInt1TypeInContext(c->ctx), 0, 0);
	for (int d = 0; d < r; d++) {
		if (ax[d].identity) {
			taps[d] = 1;
			off[d][0] = LLVMBuildNSWMul(c->b, iv[d], cg_i64(c, xs[d]), "");
			wt[d][0] = NULL;
			continue;
		}
		taps[d] = ax[d].taps;
		for (int t = 0; t < taps[d]; t++) {
			LLVMValueRef at = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, iv[d], cg_i64(c, taps[d]), ""),
							  cg_i64(c, t), "");
			LLVMValueRef i = LLVMBuildLoad2(c->b, c->i32, cg_gep(c, c->i32, tidx[d], at), "");
			off[d][t] = LLVMBuildNSWMul(c->b, LLVMBuildSExt(c->b, i, c->i64, ""), cg_i64(c, xs[d]), "");
			wt[d][t] = taps[d] == 1 ? NULL : cg_loadf(c, tw[d], at);
		}
		if (crop) {
			LLVMValueRef o = LLVMBuildLoad2(c->b, c->i8, cg_gep(c, c->i8, tout[d], iv[d]), "");
			outside = LLVMBuildOr(c->b, outside, LLVMBuildICmp(c->b, LLVMIntNE, o, LLVMConstInt(c->i8, 0, 0), ""), "");
		}
	}
	/* Sum over every combination of taps (at most 4^axes, unrolled). */
	int combos = 1;
	for (int d = 0; d < r; d++)
		combos *= taps[d];
	LLVMValueRef acc = cg_f32(c, 0);
	for (int cb = 0; cb < combos; cb++) {
		int rest = cb;
		LLVMValueRef o = cg_i64(c, 0), w = NULL;
		for (int d = r - 1; d >= 0; d--) {
			int t = rest % taps[d];
			rest /= taps[d];
			o = LLVMBuildNSWAdd(c->b, o, off[d][t], "");
			if (wt[d][t])
				w = w ? LLVMBuildFMul(c->b, w, wt[d][t], "") : wt[d][t];
		}
		LLVMValueRef v = cg_loadf(c, c->buf[n->in[0]], o);
		acc = combos == 1 ? v : LLVMBuildFAdd(c->b, acc, w ? LLVMBuildFMul(c->b, v, w, "") : v, "");
	}
	if (crop)
		acc = LLVMBuildSelect(c->b, outside, cg_f32(c, ir_attr_float(n, "extrapolation", 0)), acc, "");
	cg_storef(c, acc, c->buf[n->out], yo);
	for (int d = r - 1; d >= 0; d--)
		cg_loop_end(c, &l[d], 1);
	for (int d = 0; d < r; d++) {
		free(ax[d].idx);
		free(ax[d].w);
		free(ax[d].outside);
	}
}
