/* Taps: intermediate values observed as extra graph outputs (tap.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "tap.h"

void tap_close(Tap *t)
{
	for (int i = 0; t->buf && i < t->nout; i++)
		free(t->buf[i]);
	free(t->buf);
	free(t->ty);
	free(t->numel);
	free(t->tap_out);
	free(t->ws);
	if (t->jit)
		cg_jit_free(t->jit);
	if (t->g)
		ir_graph_free(t->g);
	memset(t, 0, sizeof *t);
}

/* One buffer per output of g, with its type and element count, into t
 * (t->nout = g's outputs).  False with "out of memory" in d; what was
 * allocated is t's to free (tap_close). */
bool tap_alloc_outputs(Tap *t, const Graph *g, Diag *d)
{
	t->nout = g->outputs.n;
	t->buf = calloc(t->nout + 1, sizeof *t->buf);
	t->ty = calloc(t->nout + 1, sizeof *t->ty);
	t->numel = calloc(t->nout + 1, sizeof *t->numel);
	bool ok = t->buf && t->ty && t->numel;
	for (int i = 0; ok && i < t->nout; i++) {
		t->ty[i] = ir_value_type(g, g->outputs.v[i]);
		t->numel[i] = ir_type_numel(t->ty[i]);
		ok = (t->buf[i] = malloc((size_t)ir_type_bytes(t->ty[i]) + 1)) != NULL;
	}
	if (!ok)
		diag_error(d, g->file, NULL, NULL, "out of memory");
	return ok;
}

bool tap_open(Tap *t, Graph *g, const Opts *o, const QuantPlan *quant, const char *const *names, int n, Diag *d)
{
	memset(t, 0, sizeof *t);
	t->g = g;
	t->norig = g->outputs.n;
	t->ntap = n;
	t->tap_out = malloc((n + 1) * sizeof *t->tap_out);
	if (!t->tap_out)
		goto oom;
	PassCtx cx = {
		.diag = d, .opt_level = o->opt_level, .max_ram = 0, .layout = o->layout, .ws_align = 64,
		.fold = cg_fold, .quant = quant,
	};
	/* Quantized: the names to tap are the quantize pass's, so it runs
	 * first (and is then a no-op in the pipeline). */
	if (quant && (!pass_run_pipeline(g, "quantize", &cx) || (cx.quant = NULL)))
		goto fail;
	for (int i = 0; i < n; i++) {
		ValueId v = ir_find_value(g, names[i]);
		if (v < 0)
			die("tap: no value '%s'", names[i]);
		int k = -1;
		for (int j = 0; j < g->outputs.n && k < 0; j++)
			if (g->outputs.v[j] == v)
				k = j;
		if (k < 0) {
			k = g->outputs.n;
			if (!ir_mark_output(g, v))
				goto oom;
		}
		t->tap_out[i] = k;
	}
	/* Always the host (the JIT): the integer lowerings of every target
	 * agree bit for bit, so what runs here is what the target computes. */
	Opts host = *o;
	host.target = host.cpu = host.features = NULL;
	CgOptions cg;
	if (!driver_setup_target(&host, &cg))
		goto fail;
	cx.vector_lanes = cg_vector_lanes(&cg);
	if (!pass_run_pipeline(g, o->passes, &cx) || !pass_ensure_plan(g, &cx))
		goto fail;
	char name[256];
	cg_sanitize_name(g->name, name, sizeof name);
	cg.name = name;
	if (!cg_check(g, &cg, d) || !(t->jit = cg_jit_new(g, &cg, d)))
		goto fail;
	t->fn = cg_jit_fn(t->jit);
	size_t al = g->ws_align, sz = g->ws_size;
	t->ws = aligned_alloc(al, (sz + al) / al * al);
	if (!t->ws) {
		diag_error(d, g->file, NULL, NULL, "out of memory");
		goto fail;
	}
	if (tap_alloc_outputs(t, g, d))
		return true;
	goto fail;
oom:
	diag_error(d, g->file, NULL, NULL, "out of memory");
fail:
	tap_close(t);
	return false;
}

bool tap_run(Tap *t, const void *const *ins, Diag *d)
{
	int rc = t->fn(ins, t->buf, t->ws);
	if (rc)
		diag_error(d, t->g->file, NULL, NULL, "the compiled model returned status %d", rc);
	return rc == 0;
}

void tap_read_f32(const Tap *t, int k, float *dst)
{
	const Type *ty = t->ty[k];
	const Quant *q = ty->q;
	int64_t n = t->numel[k], inner = 1;
	for (int a = q && q->axis >= 0 ? q->axis + 1 : ty->rank; a < ty->rank; a++)
		inner *= ty->dims[a];
	for (int64_t i = 0; i < n; i++) {
		double x;
		switch (ty->dt) {
		case DT_F32: x = ((const float *)t->buf[k])[i]; break;
		case DT_U8: x = ((const uint8_t *)t->buf[k])[i]; break;
		case DT_I8: x = ((const int8_t *)t->buf[k])[i]; break;
		case DT_I32: x = ((const int32_t *)t->buf[k])[i]; break;
		case DT_I64: x = (double)((const int64_t *)t->buf[k])[i]; break;
		default: x = 0;
		}
		if (q) {
			int c = q->axis >= 0 ? (int)(i / inner % q->n) : 0;
			x = (x - q->zero[c]) * q->scale[c];
		}
		dst[i] = (float)x;
	}
}
