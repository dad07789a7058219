/* Example data for calibration and evaluation (dataset.h). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"

void ds_free(Dataset *ds)
{
	for (int i = 0; i < ds->n * ds->nin; i++)
		free(ds->in[i]);
	free(ds->in);
	free(ds->label);
	memset(ds, 0, sizeof *ds);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* How many examples tensor t holds for graph input ty: the same shape (1),
 * or a batch of k along axis 0 (a model of batch b: k*b rows). 0: neither. */
static int64_t examples_in(const kiln_tensor *t, const Type *ty)
{
	if (t->dtype != ir_dtype_onnx(ty->dt))
		return 0;
	int64_t n = 1;
	for (int k = 0; k < t->rank; k++)
		n *= t->shape[k];
	if (n == ir_type_numel(ty))
		return 1;
	if (t->rank != ty->rank || ty->rank == 0 || ty->dims[0] <= 0 || t->shape[0] % ty->dims[0])
		return 0;
	for (int k = 1; k < ty->rank; k++)
		if (t->shape[k] != ty->dims[k])
			return 0;
	return t->shape[0] / ty->dims[0];
}

static bool ds_grow(Dataset *ds, int64_t more)
{
	if (ds->n + more <= ds->cap)
		return true;
	int cap = (int)(ds->n + more) * 2;
	void **in = realloc(ds->in, (size_t)cap * ds->nin * sizeof *in);
	if (in)
		ds->in = in;
	int *lb = realloc(ds->label, (size_t)cap * sizeof *lb);
	if (lb)
		ds->label = lb;
	if (!in || !lb)
		return false;
	ds->cap = cap;
	return true;
}

/* Labels of k examples from a tensor: integers (one each), or expected
 * outputs whose arg max is the label (k rows). */
static bool labels_of(const kiln_tensor *t, int64_t k, int *out)
{
	size_t n = kiln_tensor_numel(t);
	if (!k || n % k)
		return false;
	size_t row = n / k;
	for (int64_t e = 0; e < k; e++) {
		if (t->dtype == KILN_F32) {
			const float *x = (const float *)t->data + e * row;
			size_t best = 0;
			for (size_t j = 1; j < row; j++)
				best = x[j] > x[best] ? j : best;
			out[e] = (int)best;
		} else if (row == 1 && t->dtype == KILN_I64)
			out[e] = (int)((const int64_t *)t->data)[e];
		else if (row == 1 && t->dtype == KILN_I32)
			out[e] = ((const int32_t *)t->data)[e];
		else if (row == 1 && t->dtype == KILN_U8)
			out[e] = ((const uint8_t *)t->data)[e];
		else
			return false;
	}
	return true;
}

/* Add the examples of one input set (tensors ts[0..nin), the same count in
 * each); labels from lab (may be NULL). */
static bool ds_add(Dataset *ds, const Graph *g, kiln_tensor *ts, const kiln_tensor *lab, const char *where, char *err,
		   size_t en)
{
	int64_t k = -1;
	for (int i = 0; i < ds->nin; i++) {
		const Type *ty = ir_value_type(g, g->inputs.v[i]);
		int64_t m = examples_in(&ts[i], ty);
		if (!m || (k >= 0 && m != k)) {
			char want[128], got[160];
			ir_type_str(ty, want, sizeof want);
			int w = snprintf(got, sizeof got, "%s[", kiln_dtype_name(ts[i].dtype));
			for (int j = 0; j < ts[i].rank; j++)
				w += snprintf(got + w, sizeof got - w, "%s%lld", j ? "," : "", (long long)ts[i].shape[j]);
			snprintf(got + w, sizeof got - w, "]");
			snprintf(err, en, "%.300s: holds %s; input '%s' is %s (or a batch of them along axis 0)", where, got,
				 g->values.v[g->inputs.v[i]].name, want);
			return false;
		}
		k = m;
	}
	if (!ds_grow(ds, k)) {
		snprintf(err, en, "out of memory");
		return false;
	}
	for (int64_t e = 0; e < k; e++)
		ds->label[ds->n + e] = -1;
	if (lab) {
		if (!labels_of(lab, k, &ds->label[ds->n])) {
			snprintf(err, en, "%.300s: the expected output holds no label per example", where);
			return false;
		}
		ds->labelled = true;
	}
	for (int64_t e = 0; e < k; e++) {
		for (int i = 0; i < ds->nin; i++) {
			size_t b = ts[i].bytes / k;
			void *p = malloc(b + 1);
			if (!p) {
				snprintf(err, en, "out of memory");
				return false;
			}
			memcpy(p, (char *)ts[i].data + e * b, b);
			ds->in[(ds->n + e) * ds->nin + i] = p;
		}
	}
	ds->n += (int)k;
	return true;
}

/* dir: ONNX test-data folders (test_data_set_N/input_<i>.pb, labels or
 * expected outputs in output_0.pb), or tensor files (.pb, .npy) in name
 * order for a one-input model, labels.npy/labels.pb beside them. */
bool ds_read(const char *dir, const Graph *g, Dataset *ds, char *err, size_t en)
{
	memset(ds, 0, sizeof *ds);
	ds->nin = g->inputs.n;
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, en, "%s: cannot open the folder", dir);
		return false;
	}
	char **names = NULL;
	int nn = 0, cap = 0;
	bool sets = false;
	for (struct dirent *e; (e = readdir(d));) {
		const char *s = e->d_name, *dot = strrchr(s, '.');
		bool set = !strncmp(s, "test_data_set_", 14);
		if (!set && !(dot && (!strcmp(dot, ".pb") || !strcmp(dot, ".npy"))))
			continue;
		sets |= set;
		if (nn == cap) {
			cap = cap ? 2 * cap : 64;
			char **v = realloc(names, cap * sizeof *v);
			if (!v)
				break;
			names = v;
		}
		names[nn++] = strdup(s);
	}
	closedir(d);
	qsort(names, nn, sizeof *names, cmp_str);
	bool ok = true;
	char path[4600], e2[512];
	kiln_tensor lab = {0};
	bool have_lab = false;
	if (!sets && ds->nin != 1) {
		snprintf(err, en, "%s: the model has %d inputs; give test_data_set_*/input_<i>.pb folders", dir, ds->nin);
		ok = false;
	}
	for (int f = 0; ok && !sets && f < nn; f++)
		if (!strncmp(names[f], "labels.", 7)) {
			snprintf(path, sizeof path, "%s/%s", dir, names[f]);
			if (kiln_tensor_read(path, &lab, e2, sizeof e2)) {
				snprintf(err, en, "%s", e2);
				ok = false;
			}
			have_lab = ok;
		}
	for (int f = 0; ok && f < nn; f++) {
		kiln_tensor ts[MAX_FILES] = {0}, out = {0};
		bool has_out = false;
		if (sets) {
			if (strncmp(names[f], "test_data_set_", 14))
				continue;
			for (int i = 0; ok && i < ds->nin; i++) {
				snprintf(path, sizeof path, "%s/%s/input_%d.pb", dir, names[f], i);
				if (kiln_tensor_read(path, &ts[i], e2, sizeof e2)) {
					snprintf(err, en, "%s", e2);
					ok = false;
				}
			}
			snprintf(path, sizeof path, "%s/%s/output_0.pb", dir, names[f]);
			has_out = ok && access(path, F_OK) == 0 && kiln_tensor_read(path, &out, e2, sizeof e2) == 0;
			snprintf(path, sizeof path, "%s/%s", dir, names[f]);
		} else {
			if (!strncmp(names[f], "labels.", 7) || !strncmp(names[f], "test_data_set_", 14))
				continue;
			snprintf(path, sizeof path, "%s/%s", dir, names[f]);
			if (kiln_tensor_read(path, &ts[0], e2, sizeof e2)) {
				snprintf(err, en, "%s", e2);
				ok = false;
			}
		}
		ok = ok && ds_add(ds, g, ts, has_out ? &out : NULL, path, err, en);
		for (int i = 0; i < MAX_FILES; i++)
			kiln_tensor_free(&ts[i]);
		kiln_tensor_free(&out);
	}
	if (ok && have_lab) {
		if (!labels_of(&lab, ds->n, ds->label) || kiln_tensor_numel(&lab) != (size_t)ds->n ||
		    lab.dtype == KILN_F32) {
			snprintf(err, en, "%s/labels: expected %d integer labels, one per example", dir, ds->n);
			ok = false;
		}
		ds->labelled = ok;
	}
	kiln_tensor_free(&lab);
	for (int f = 0; f < nn; f++)
		free(names[f]);
	free(names);
	if (ok && ds->n == 0) {
		snprintf(err, en, "%s: no examples (.pb or .npy tensors, or test_data_set_* folders)", dir);
		ok = false;
	}
	if (!ok)
		ds_free(ds);
	return ok;
}

