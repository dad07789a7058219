/* Resize and Upsample: one resize op, its scales and sizes resolved. */
#include "importer.h"

#include <math.h>

/* Float values of a constant operand (any float dtype), at most max. */
static bool const_floats(Ctx *c, ValueId v, const char *what, double *out, int max, int *n)
{
	const Value *val = fe_const_val(c, v, what);
	if (!val)
		return false;
	const Type *t = vtype(c, v);
	int64_t k = ir_type_numel(t);
	if (t->rank > 1 || k > max)
		return fe_fail(c, "%s must be a 1-D tensor of at most %d values", what, max);
	for (int64_t i = 0; i < k; i++)
		out[i] = src_load(val->data, t->dt, i);
	*n = (int)k;
	return true;
}

/* The resize node: scales, sizes and roi for every axis, the node's
 * cubic, exclude_outside and extrapolation attributes. */
static bool emit_resize(Ctx *c, ValueId x, const double *scales, const int64_t *dims, const double *roi,
			const char *mode, const char *coord, const char *near)
{
	const Type *t = vtype(c, x);
	int r = t->rank;
	double sc[IR_MAX_RANK], ro[2 * IR_MAX_RANK];
	int64_t dm[IR_MAX_RANK];
	for (int i = 0; i < r; i++) {
		sc[i] = scales[i];
		dm[i] = dims[i];
		ro[i] = roi ? roi[i] : 0;
		ro[r + i] = roi ? roi[r + i] : 1;
	}
	bool aa = sa_int(c->sn, "antialias", 0) != 0 && strcmp(mode, "nearest");
	for (int i = 0; aa && i < r; i++)
		if (sc[i] < 1 && (strcmp(mode, "linear") ? 4 / sc[i] : 2 / sc[i]) > 28)
			return fe_fail(c, "antialiased downscaling by %g needs too wide a filter (at most 1/7 for cubic, 1/14 for linear)",
				    sc[i]);
	Attr a[10] = {ir_aints("dims", dm, r), ir_afloats("scales", sc, r), ir_afloats("roi", ro, 2 * r),
		      ir_astr("mode", mode), ir_astr("coord", coord), ir_astr("nearest", near),
		      ir_af("cubic_a", sa_float(c->sn, "cubic_coeff_a", -0.75)),
		      ir_ai("exclude_outside", sa_int(c->sn, "exclude_outside", 0) != 0),
		      ir_af("extrapolation", sa_float(c->sn, "extrapolation_value", 0)), ir_ai("antialias", 1)};
	return fe_emit_out(c, OP_RESIZE, &x, 1, a, aa ? 10 : 9);
}

/* Resize(x, roi?, scales?, sizes?; mode, coordinate_transformation_mode, ...)
 * -> resize with scales and sizes resolved for every axis */
static bool imp_resize(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int r = t->rank;
	if (!fe_need_float(c, in[0], "the input"))
		return false;
	const char *mode = sa_str(c->sn, "mode", "nearest");
	if (strcmp(mode, "nearest") && strcmp(mode, "linear") && strcmp(mode, "cubic"))
		return fe_fail(c, "unsupported mode '%s'", mode);

	bool v10 = c->opset < 11;
	const char *coord = v10 ? "asymmetric" : sa_str(c->sn, "coordinate_transformation_mode", "half_pixel");
	const char *near = v10 ? "floor" : sa_str(c->sn, "nearest_mode", "round_prefer_floor");
	if (v10 && !strcmp(mode, "linear"))
		coord = "asymmetric";
	/* Which axes the scales/sizes/roi talk about (opset 18 'axes'). */
	int na = r;
	int64_t axes[IR_MAX_RANK];
	const int64_t *aa = sa_ints(c->sn, "axes", &na);
	if (aa) {
		if (na > r)
			return fe_fail(c, "too many axes");
		for (int i = 0; i < na; i++) {
			axes[i] = aa[i];
			if (!fe_norm_axis(c, &axes[i], r, "axis"))
				return false;
		}
	} else {
		na = r;
		for (int i = 0; i < r; i++)
			axes[i] = i;
	}
	double scales[IR_MAX_RANK], roi[2 * IR_MAX_RANK], v[2 * IR_MAX_RANK];
	int64_t dims[IR_MAX_RANK];
	for (int i = 0; i < r; i++) {
		scales[i] = 1;
		dims[i] = t->dims[i];
		roi[i] = 0;
		roi[r + i] = 1;
	}
	int k;
	int si = v10 ? 1 : 2, zi = 3;
	bool have_roi = !v10 && nin > 1 && in[1] >= 0 && ir_type_numel(vtype(c, in[1])) > 0;
	if (have_roi) {
		if (!const_floats(c, in[1], "roi", v, 2 * IR_MAX_RANK, &k))
			return false;
		if (k != 2 * na)
			return fe_fail(c, "roi has %d values, expected %d", k, 2 * na);
		for (int i = 0; i < na; i++) {
			roi[axes[i]] = v[i];
			roi[r + axes[i]] = v[na + i];
		}
	}
	bool have_scales = nin > si && in[si] >= 0 && ir_type_numel(vtype(c, in[si])) > 0;
	bool have_sizes = !v10 && nin > zi && in[zi] >= 0 && ir_type_numel(vtype(c, in[zi])) > 0;
	if (have_scales == have_sizes)
		return fe_fail(c, "exactly one of scales and sizes must be given");
	if (have_scales) {
		if (!const_floats(c, in[si], "scales", v, IR_MAX_RANK, &k))
			return false;
		if (k != na)
			return fe_fail(c, "scales has %d values, expected %d", k, na);
		for (int i = 0; i < na; i++) {
			if (!(v[i] > 0))
				return fe_fail(c, "scale %g must be positive", v[i]);
			scales[axes[i]] = v[i];
			dims[axes[i]] = (int64_t)floor((double)t->dims[axes[i]] * v[i]);
			if (dims[axes[i]] < 1)
				return fe_fail(c, "axis %lld resizes to nothing", (long long)axes[i]);
		}
	} else {
		int64_t sz[IR_MAX_RANK + 1];
		if (!fe_const_ints(c, in[zi], "sizes", sz, IR_MAX_RANK, &k))
			return false;
		if (k != na)
			return fe_fail(c, "sizes has %d values, expected %d", k, na);
		const char *pol = sa_str(c->sn, "keep_aspect_ratio_policy", "stretch");
		bool larger = !strcmp(pol, "not_larger"), smaller = !strcmp(pol, "not_smaller");
		if (!larger && !smaller && strcmp(pol, "stretch"))
			return fe_fail(c, "unknown keep_aspect_ratio_policy '%s'", pol);
		double common = larger ? INFINITY : 0;
		for (int i = 0; i < na; i++) {
			double s = (double)sz[i] / (double)t->dims[axes[i]];
			if (larger)
				common = s < common ? s : common;
			if (smaller)
				common = s > common ? s : common;
		}
		for (int i = 0; i < na; i++) {
			int64_t a = axes[i];
			if (larger || smaller) {
				scales[a] = common;
				dims[a] = (int64_t)llround((double)t->dims[a] * common);
			} else {
				if (sz[i] < 1)
					return fe_fail(c, "size %lld must be positive", (long long)sz[i]);
				dims[a] = sz[i];
				scales[a] = (double)sz[i] / (double)t->dims[a];
			}
		}
	}
	return emit_resize(c, in[0], scales, dims, roi, mode, coord, near);
}

/* Upsample(x, scales) -> resize, nearest or linear, asymmetric coordinates */
static bool imp_upsample(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	double v[IR_MAX_RANK];
	int k = 0;
	if (!fe_need_float(c, in[0], "the input"))
		return false;
	if (nin > 1) {
		if (!const_floats(c, in[1], "scales", v, IR_MAX_RANK, &k))
			return false;
	} else {
		const SrcAttr *a = sa_get(c->sn, "scales");
		k = a ? a->n : 0;
		for (int i = 0; i < k && i < IR_MAX_RANK; i++)
			v[i] = a->floats[i];
	}
	if (k != t->rank)
		return fe_fail(c, "scales has %d values for a rank-%d input", k, t->rank);
	int64_t dims[IR_MAX_RANK];
	for (int i = 0; i < k; i++) {
		if (!(v[i] >= 1))
			return fe_fail(c, "scale %g must be >= 1", v[i]);
		dims[i] = (int64_t)floor((double)t->dims[i] * v[i]);
	}
	const char *mode = sa_str(c->sn, "mode", "nearest");
	if (strcmp(mode, "nearest") && strcmp(mode, "linear") && strcmp(mode, "bilinear"))
		return fe_fail(c, "unsupported mode '%s'", mode);
	return emit_resize(c, in[0], v, dims, NULL, strcmp(mode, "nearest") ? "linear" : "nearest", "asymmetric", "floor");
}

const OpSpec imp_resize_ops[] = {
	{"Resize", 10, 10, 2, 2, 1, 2, imp_resize, {{"mode", SA_STRING}}},
	{"Resize", 11, 22, 1, 4, 1, 14, imp_resize,
	 {{"mode", SA_STRING}, {"coordinate_transformation_mode", SA_STRING}, {"nearest_mode", SA_STRING},
	  {"cubic_coeff_a", SA_FLOAT}, {"exclude_outside", SA_INT}, {"extrapolation_value", SA_FLOAT},
	  {"antialias", SA_INT, 18, 0}, {"axes", SA_INTS, 18, 0}, {"keep_aspect_ratio_policy", SA_STRING, 18, 0}}},
	{"Upsample", 7, 8, 1, 1, 1, 0, imp_upsample, {{"mode", SA_STRING}, {"scales", SA_FLOATS}}},
	{"Upsample", 9, 9, 2, 2, 1, 2, imp_upsample, {{"mode", SA_STRING}}},
	{NULL},
};
