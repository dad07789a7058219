/* kiln run and kiln bench: the model compiled in-process (the JIT), fed
 * tensor files or an ONNX test-data folder, outputs printed, written or
 * compared with the expected ones. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "driver.h"
#include "kiln_pthread.h"

/* ---- run, bench, test-dir --------------------------------------------------------- */

typedef struct Runner {
	Graph *g;
	CgJit *jit;
	KilnRunFn fn;
	void *ws;
} Runner;

static bool runner_open(Opts *o, Runner *r, Diag *d)
{
	memset(r, 0, sizeof *r);
	CgOptions cg;
	if (!driver_setup_target(o, &cg))
		return false;
	if (cg.target) {
		driver_fail("run: --target is not supported; kiln run executes on the host");
		return false;
	}
	r->g = driver_load_and_optimize(o, d, true, NULL, NULL);
	if (!r->g)
		return false;
	char name[256];
	cg_sanitize_name(r->g->name, name, sizeof name);
	cg.name = name;
	if (!cg_check(r->g, &cg, d) || !(r->jit = cg_jit_new(r->g, &cg, d)))
		return false;
	r->fn = cg_jit_fn(r->jit);
	size_t al = r->g->ws_align, sz = r->g->ws_size;
	r->ws = aligned_alloc(al, (sz + al) / al * al);
	if (!r->ws) {
		diag_error(d, NULL, NULL, NULL, "out of memory for a %zu-byte workspace", sz);
		return false;
	}
	return true;
}

static void runner_close(Runner *r)
{
	free(r->ws);
	if (r->jit)
		cg_jit_free(r->jit);
	ir_graph_free(r->g);
}

/* Check a tensor against graph input i. */
static bool check_input(const Graph *g, int i, const kiln_tensor *t, const char *path, Diag *d)
{
	const Value *v = &g->values.v[g->inputs.v[i]];
	const Type *ty = ir_type_get(g, v->type);
	/* Equal up to dims of 1: a scalar, [1] and [1,1] hold the same
	 * bytes, as do [1,6] and [6]; [2,3] and [3,2] do not match. */
	/* ONNX's own test data stores bfloat16 as uint16 (numpy has no
	 * bfloat16): the same bits, accepted as such. */
	bool same = t->dtype == ir_dtype_onnx(ty->dt) || (ty->dt == DT_BF16 && t->dtype == KILN_U16);
	int a = 0, b = 0;
	while (same) {
		while (a < t->rank && t->shape[a] == 1)
			a++;
		while (b < ty->rank && ty->dims[b] == 1)
			b++;
		if (a == t->rank || b == ty->rank) {
			same = a == t->rank && b == ty->rank;
			break;
		}
		same = t->shape[a++] == ty->dims[b++];
	}
	if (!same) {
		char want[256], got[256];
		int k = snprintf(want, sizeof want, "%s[", ir_dtype_name(ty->dt));
		for (int j = 0; j < ty->rank; j++)
			k += snprintf(want + k, sizeof want - k, "%s%lld", j ? "," : "", (long long)ty->dims[j]);
		snprintf(want + k, sizeof want - k, "]");
		k = snprintf(got, sizeof got, "%s[", kiln_dtype_name(t->dtype));
		for (int j = 0; j < t->rank; j++)
			k += snprintf(got + k, sizeof got - k, "%s%lld", j ? "," : "", (long long)t->shape[j]);
		snprintf(got + k, sizeof got - k, "]");
		diag_error(d, path, NULL, NULL, "input %d '%s' must be %s, the file holds %s", i, v->name, want, got);
		return false;
	}
	return true;
}

/* Run with input tensors; fills outs (allocated, typed per graph outputs). */
static bool runner_exec(Runner *r, kiln_tensor *ins, kiln_tensor *outs, Diag *d)
{
	Graph *g = r->g;
	const void *inp[MAX_FILES];
	void *outp[MAX_FILES];
	if (g->outputs.n > MAX_FILES || g->inputs.n > MAX_FILES) {
		diag_error(d, g->file, NULL, NULL, "too many inputs or outputs for kiln run");
		return false;
	}
	for (int i = 0; i < g->inputs.n; i++)
		inp[i] = ins[i].data;
	for (int i = 0; i < g->outputs.n; i++) {
		const Value *v = &g->values.v[g->outputs.v[i]];
		const Type *ty = ir_type_get(g, v->type);
		kiln_tensor *t = &outs[i];
		memset(t, 0, sizeof *t);
		snprintf(t->name, sizeof t->name, "%s", v->name);
		t->dtype = ir_dtype_onnx(ty->dt);
		t->rank = ty->rank;
		for (int k = 0; k < ty->rank; k++)
			t->shape[k] = ty->dims[k];
		t->bytes = (size_t)ir_type_bytes(ty);
		t->data = malloc(t->bytes ? t->bytes : 1);
		if (!t->data) {
			diag_error(d, NULL, NULL, NULL, "out of memory");
			return false;
		}
		outp[i] = t->data;
	}
	int rc = r->fn(inp, outp, r->ws);
	if (rc) {
		diag_error(d, g->file, NULL, NULL, "the compiled model returned status %d", rc);
		return false;
	}
	return true;
}

static double half_to_double(uint16_t h)
{
	int e = h >> 10 & 31, m = h & 1023;
	double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m | 1024, e - 25);
	return h >> 15 ? -v : v;
}

static double elem(const kiln_tensor *t, size_t i)
{
	const void *p = t->data;
	switch (t->dtype) {
	case KILN_F16: return half_to_double(((const uint16_t *)p)[i]);
	case KILN_BF16: {
		uint32_t u = (uint32_t)((const uint16_t *)p)[i] << 16;
		float f;
		memcpy(&f, &u, sizeof f);
		return f;
	}
	case KILN_F32: return ((const float *)p)[i];
	case KILN_F64: return ((const double *)p)[i];
	case KILN_I8: case KILN_I4: return ((const int8_t *)p)[i];  /* i4/u4: one per byte */
	case KILN_U8: case KILN_U4: case KILN_BOOL: return ((const uint8_t *)p)[i];
	case KILN_I16: return ((const int16_t *)p)[i];
	case KILN_U16: return ((const uint16_t *)p)[i];
	case KILN_I32: return ((const int32_t *)p)[i];
	case KILN_U32: return ((const uint32_t *)p)[i];
	case KILN_I64: return (double)((const int64_t *)p)[i];
	case KILN_U64: return (double)((const uint64_t *)p)[i];
	default: {
		DType dt = ir_dtype_from_onnx(t->dtype);
		return ir_dtype_is_f8(dt) ? ir_f8_to_f32(dt, ((const uint8_t *)p)[i]) : 0;
	}
	}
}

/* " v0 v1 ... vN-1 ..." : the first n values of t, any dtype. */
static void print_values(const kiln_tensor *t, size_t n)
{
	size_t numel = kiln_tensor_numel(t);
	for (size_t k = 0; k < numel && k < n; k++)
		printf(" %.6g", elem(t, k));
	printf("%s\n", numel > n ? " ..." : "");
}

static int cmd_run_files(Opts *o)
{
	Diag d;
	diag_init(&d);
	Runner r;
	kiln_tensor ins[MAX_FILES] = {0}, outs[MAX_FILES] = {0};
	int rc = 1;
	if (!runner_open(o, &r, &d))
		goto done;
	if (o->ninputs != r.g->inputs.n) {
		diag_error(&d, o->model, NULL, NULL, "the model has %d inputs, %d --input files given",
			   r.g->inputs.n, o->ninputs);
		goto done;
	}
	for (int i = 0; i < o->ninputs; i++) {
		char err[512];
		if (kiln_tensor_read(o->inputs[i], &ins[i], err, sizeof err)) {
			diag_error(&d, NULL, NULL, NULL, "%s", err);
			goto done;
		}
		if (!check_input(r.g, i, &ins[i], o->inputs[i], &d))
			goto done;
	}
	if (!runner_exec(&r, ins, outs, &d))
		goto done;
	if (o->output_dir)
		mkdir(o->output_dir, 0777);
	for (int i = 0; i < r.g->outputs.n; i++) {
		if (o->output_dir) {
			char path[4096], err[512];
			snprintf(path, sizeof path, "%s/output_%d.pb", o->output_dir, i);
			if (kiln_tensor_write_pb(path, &outs[i], err, sizeof err)) {
				diag_error(&d, NULL, NULL, NULL, "%s", err);
				goto done;
			}
		} else {
			kiln_tensor *t = &outs[i];
			printf("output %d '%s' %s[", i, t->name, kiln_dtype_name(t->dtype));
			for (int k = 0; k < t->rank; k++)
				printf("%s%lld", k ? "," : "", (long long)t->shape[k]);
			printf("]");
			print_values(t, 8);
		}
	}
	rc = 0;
done:
	for (int i = 0; i < MAX_FILES; i++) {
		kiln_tensor_free(&ins[i]);
		kiln_tensor_free(&outs[i]);
	}
	if (r.g || r.jit)
		runner_close(&r);
	if (rc)
		return driver_fail_diag(&d);
	diag_free(&d);
	return rc;
}

/* Compare: |got-exp| <= atol + rtol*|exp|; NaN matches NaN; ints exact. */
static bool compare(const kiln_tensor *got, const kiln_tensor *exp, double rtol, double atol, double *maxerr, char *why, size_t n)
{
	*maxerr = 0;
	kiln_tensor bf;
	if (got->dtype == KILN_BF16 && exp->dtype == KILN_U16) {  /* see check_input */
		bf = *exp;
		bf.dtype = KILN_BF16;
		exp = &bf;
	}
	if (got->dtype != exp->dtype || got->bytes != exp->bytes) {
		snprintf(why, n, "expected %s of %zu bytes, got %s of %zu bytes", kiln_dtype_name(exp->dtype),
			 exp->bytes, kiln_dtype_name(got->dtype), got->bytes);
		return false;
	}
	bool isfloat = ir_dtype_is_float(ir_dtype_from_onnx(exp->dtype));
	size_t esz = kiln_dtype_size(exp->dtype), bad = 0, nbad = 0;
	for (size_t i = 0; i < kiln_tensor_numel(exp); i++) {
		double a = elem(got, i), b = elem(exp, i);
		bool same;
		if (isfloat) {
			if (isnan(b) && isnan(a))
				continue;
			double e = fabs(a - b);
			if (isnan(e) || (isinf(b) && a != b))
				e = INFINITY;
			if (e > *maxerr)
				*maxerr = e;
			same = e <= atol + rtol * fabs(b);
		} else {
			/* Integers and bool: exact, on the bytes (i64 need not fit a double). */
			same = !memcmp((const char *)got->data + i * esz, (const char *)exp->data + i * esz, esz);
			if (fabs(a - b) > *maxerr)
				*maxerr = fabs(a - b);
		}
		if (!same && !nbad++)
			bad = i;
	}
	if (nbad)
		snprintf(why, n, "%zu of %zu values differ; first at index %zu: got %.9g, expected %.9g", nbad,
			 kiln_tensor_numel(exp), bad, elem(got, bad), elem(exp, bad));
	return nbad == 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read DIR/SET/input_<i>.pb for i = 0.. until one is missing. */
static int read_set_inputs(const char *dir, const char *set, kiln_tensor *ins, char *why, size_t n)
{
	int k = 0;
	for (; k < MAX_FILES; k++) {
		char path[4600], err[512];
		snprintf(path, sizeof path, "%s/%s/input_%d.pb", dir, set, k);
		if (access(path, F_OK) != 0)
			break;
		if (kiln_tensor_read(path, &ins[k], err, sizeof err)) {
			snprintf(why, n, "%s", err);
			return -1;
		}
	}
	return k;
}

/* Inputs a static compiler may take as constants when a model needs them
 * to be (shapes, axes, pads, clip bounds, resize scales): named integer
 * tensors, scalars and short 1-D tensors.  Returns how many were bound into o. */
static int bind_const_inputs(Opts *o, const kiln_tensor *ins, int nin, bool *bound)
{
	int nb = 0;
	o->imp.nconsts = 0;
	for (int i = 0; i < nin; i++) {
		const kiln_tensor *t = &ins[i];
		DType dt = ir_dtype_from_onnx(t->dtype);
		bound[i] = t->name[0] && dt != DT_UNDEF && o->imp.nconsts < IMPORT_MAX_SHAPES &&
			   (t->rank == 0 || (!ir_dtype_is_float(dt) && dt != DT_BOOL) ||
			    (t->rank == 1 && t->shape[0] <= 2 * IR_MAX_RANK));  /* scales, roi */
		if (!bound[i])
			continue;
		ConstBinding *k = &o->imp.consts[o->imp.nconsts++];
		*k = (ConstBinding){.name = t->name, .dt = dt, .rank = t->rank, .data = t->data};
		memcpy(k->dims, t->shape, sizeof k->dims);
		nb++;
	}
	return nb;
}

/* One data set: run, compare every output.  why gets the first problem. */
static bool run_set(Opts *o, Runner *r, const char *set, kiln_tensor *ins, const bool *bound, int nin,
		    double *worst, char *why, size_t n)
{
	kiln_tensor use[MAX_FILES], outs[MAX_FILES] = {0};
	int k = 0;
	for (int i = 0; i < nin; i++)
		if (!bound[i])
			use[k++] = ins[i];
	bool ok = true;
	*worst = 0;
	if (k != r->g->inputs.n) {
		snprintf(why, n, "the data set has %d inputs, the model %d", k, r->g->inputs.n);
		return false;
	}
	Diag cd;
	diag_init(&cd);
	for (int i = 0; ok && i < k; i++)
		if (!check_input(r->g, i, &use[i], set, &cd)) {
			snprintf(why, n, "%s", cd.msgs[0]);
			ok = false;
		}
	if (ok && !runner_exec(r, use, outs, &cd)) {
		snprintf(why, n, "%s", cd.nmsg ? cd.msgs[0] : "run failed");
		ok = false;
	}
	diag_free(&cd);
	for (int i = 0; ok && i < r->g->outputs.n; i++) {
		char path[4600], err[512], w[256];
		kiln_tensor exp;
		double e;
		snprintf(path, sizeof path, "%s/%s/output_%d.pb", o->test_dir, set, i);
		if (kiln_tensor_read(path, &exp, err, sizeof err)) {
			snprintf(why, n, "%s", err);
			ok = false;
			break;
		}
		if (!compare(&outs[i], &exp, o->rtol, o->atol, &e, w, sizeof w)) {
			snprintf(why, n, "output %d: %s", i, w);
			ok = false;
		}
		if (e > *worst)
			*worst = e;
		kiln_tensor_free(&exp);
	}
	for (int i = 0; i < MAX_FILES; i++)
		kiln_tensor_free(&outs[i]);
	return ok;
}

static int cmd_run_test_dir(Opts *o)
{
	char model[4096];
	snprintf(model, sizeof model, "%s/model.onnx", o->test_dir);
	o->model = model;
	DIR *dir = opendir(o->test_dir);
	char *sets[256];
	int nsets = 0;
	for (struct dirent *e; dir && (e = readdir(dir)) && nsets < 256;)
		if (!strncmp(e->d_name, "test_data_set_", 14))
			sets[nsets++] = strdup(e->d_name);
	if (dir)
		closedir(dir);
	qsort(sets, nsets, sizeof *sets, name_cmp);
	/* Compile once for every data set; if the model needs some inputs as
	 * constants, compile per data set with those inputs bound. */
	Diag d;
	diag_init(&d);
	Runner shared;
	bool have_shared = runner_open(o, &shared, &d);
	if (!have_shared && (shared.g || shared.jit))
		runner_close(&shared);
	int failed = 0, rc = 0;
	for (int s = 0; s < nsets && !rc; s++) {
		kiln_tensor ins[MAX_FILES] = {0};
		bool bound[MAX_FILES] = {0};
		char why[600] = "";
		double worst = 0;
		int nin = read_set_inputs(o->test_dir, sets[s], ins, why, sizeof why);
		bool ok = nin >= 0;
		Runner own = {0}, *r = &shared;
		if (!have_shared && !ok) {
			rc = driver_fail_diag(&d);
			break;
		}
		if (ok && !have_shared) {
			Diag sd;
			diag_init(&sd);
			int nb = bind_const_inputs(o, ins, nin, bound);
			if (!nb || !runner_open(o, &own, &sd)) {
				/* Binding did not help: with bound inputs the model
				 * got further, so its error then is the real one. */
				if (own.g || own.jit)
					runner_close(&own);
				rc = nb ? driver_fail_diag(&sd) : driver_fail_diag(&d);
				diag_free(nb ? &d : &sd);
				for (int i = 0; i < MAX_FILES; i++)
					kiln_tensor_free(&ins[i]);
				break;
			}
			diag_free(&sd);
			r = &own;
		}
		if (ok)
			ok = run_set(o, r, sets[s], ins, bound, nin, &worst, why, sizeof why);
		if (r == &own)
			runner_close(&own);
		o->imp.nconsts = 0;
		printf("%s %s (max abs err %.3g)%s%s\n", ok ? "PASS" : "FAIL", sets[s], worst, ok ? "" : ": ", ok ? "" : why);
		failed += !ok;
		for (int i = 0; i < MAX_FILES; i++)
			kiln_tensor_free(&ins[i]);
	}
	for (int s = 0; s < nsets; s++)
		free(sets[s]);
	if (have_shared)
		runner_close(&shared);
	diag_free(&d);
	if (rc)
		return rc;
	if (!nsets)
		return driver_fail("%s: no test_data_set_* folders", o->test_dir);
	return failed ? 1 : 0;
}

int cmd_run(Opts *o)
{
	return o->test_dir ? cmd_run_test_dir(o) : cmd_run_files(o);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int cmd_bench(Opts *o)
{
	Diag d;
	diag_init(&d);
	Runner r;
	if (!runner_open(o, &r, &d)) {
		if (r.g || r.jit)
			runner_close(&r);
		return driver_fail_diag(&d);
	}
	Graph *g = r.g;
	kiln_tensor ins[MAX_FILES] = {0}, outs[MAX_FILES] = {0};
	if (g->inputs.n > MAX_FILES || g->outputs.n > MAX_FILES) {
		runner_close(&r);
		diag_free(&d);
		return driver_fail("%s: too many inputs or outputs for kiln bench (at most %d)", o->model, MAX_FILES);
	}
	uint32_t seed = 1;
	bool oom = false;
	for (int i = 0; i < g->inputs.n; i++) {
		const Type *ty = ir_value_type(g, g->inputs.v[i]);
		size_t bytes = (size_t)ir_type_bytes(ty);
		unsigned char *p = malloc(bytes + 1);
		if (!p) {
			oom = true;
			break;
		}
		for (size_t k = 0; k < bytes; k++) {
			seed = seed * 1664525u + 1013904223u;
			p[k] = (unsigned char)(seed >> 24);
		}
		if (ty->dt == DT_F32)  /* finite values in [-1, 1) */
			for (size_t k = 0; k < bytes / 4; k++)
				((float *)p)[k] = (float)(p[4 * k] - 128) / 128.0f;
		ins[i].data = p;
	}
	const void *inp[MAX_FILES];
	void *outp[MAX_FILES];
	for (int i = 0; i < g->inputs.n; i++)
		inp[i] = ins[i].data;
	for (int i = 0; i < g->outputs.n; i++) {
		outp[i] = outs[i].data = malloc((size_t)ir_type_bytes(ir_value_type(g, g->outputs.v[i])) + 1);
		oom |= !outp[i];
	}
	double *t = malloc(o->runs * sizeof *t);
	int rc = 0;
	if (oom || !t) {
		driver_fail("%s: out of memory for the benchmark's tensors", o->model);
		rc = -1;
	}
	kiln_pool *pool = o->threads > 1 ? kiln_pool_new(o->threads) : NULL;
	kiln_parallel par = {0};
	if (pool)
		kiln_pool_parallel(pool, &par);
	else if (o->threads > 1 && !rc) {
		driver_fail("%s: cannot start %d threads", o->model, o->threads);
		rc = -1;
	}
	KilnRunParallelFn prun = cg_jit_parallel_fn(r.jit);
	for (int k = -o->warmup; k < o->runs && !rc; k++) {
		double t0 = now_ms();
		rc = pool ? prun(inp, outp, r.ws, &par) : r.fn(inp, outp, r.ws);
		if (k >= 0)
			t[k] = now_ms() - t0;
	}
	if (rc > 0)
		driver_fail("%s: the compiled model returned status %d", o->model, rc);
	else if (!rc) {
		qsort(t, o->runs, sizeof *t, dbl_cmp);
		printf("%s: median %.3f ms, min %.3f ms, max %.3f ms over %d runs (%d warm-up, %d thread%s)\n", o->model,
		       t[o->runs / 2], t[0], t[o->runs - 1], o->runs, o->warmup, o->threads, o->threads > 1 ? "s" : "");
	}
	kiln_pool_free(pool);
	free(t);
	for (int i = 0; i < MAX_FILES; i++) {
		kiln_tensor_free(&ins[i]);
		kiln_tensor_free(&outs[i]);
	}
	runner_close(&r);
	diag_free(&d);
	return rc ? 1 : 0;
}

