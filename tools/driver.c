/* The steps every subcommand of the driver takes: errors to stderr, the
 * target's options, loading a model and running the pass pipeline. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "driver.h"

int driver_fail(const char *fmt, ...)
{
	/* Through a Diag, which escapes control characters from paths. */
	Diag d;
	diag_init(&d);
	va_list ap;
	va_start(ap, fmt);
	diag_verror(&d, NULL, NULL, NULL, fmt, ap);
	va_end(ap);
	if (d.nmsg)
		diag_print(&d, stderr);
	else
		fputs("kiln: error: out of memory\n", stderr);
	diag_free(&d);
	return 1;
}

int driver_fail_diag(Diag *d)
{
	if (d->nmsg == 0)
		diag_error(d, NULL, NULL, NULL, "failed (no further detail)");
	diag_print(d, stderr);
	diag_free(d);
	return 1;
}

bool driver_setup_target(const Opts *o, CgOptions *cg)
{
	memset(cg, 0, sizeof *cg);
	cg->opt_level = o->opt_level;
	cg->cpu = o->cpu;
	cg->features = o->features;
	cg->weights_section = o->weights_section;
	if (o->target) {
		cg->target = tgt_find(o->target);
		if (!cg->target) {
			char known[512] = "";
			size_t k = 0;
			for (const Target *const *t = tgt_all(); *t; t++)
				k += snprintf(known + k, sizeof known - k, "%s%s", k ? ", " : "", (*t)->name);
			driver_fail("unknown target triple '%s' (known: %s)", o->target, known);
			return false;
		}
		/* --target cortex-m7 / rv32imafc: that CPU of its target. */
		const char *implied = tgt_implied_cpu(cg->target, o->target);
		if (!cg->cpu && implied)
			cg->cpu = implied;
		char why[512];
		if (!tgt_check_cpu(cg->target, cg->cpu, why, sizeof why)) {
			driver_fail("%s", why);
			return false;
		}
	}
	return true;
}

/* Load the model; the importers promise a verified graph, and we hold them
 * to it (a failure here is our bug, reported as one). */
Graph *driver_load_verified(const Opts *o, Diag *d)
{
	ImportOptions imp = o->imp;
	imp.fold = cg_fold;  /* shape programs are evaluated by the code generator */
	Graph *g = frontend_load(o->model, &imp, d);
	if (!g)
		return NULL;
	Diag vd;
	diag_init(&vd);
	if (!ir_verify(g, &vd)) {
		diag_error(d, NULL, NULL, NULL, "internal: the imported graph does not verify: %s",
			   vd.nmsg ? vd.msgs[0] : "?");
		diag_free(&vd);
		ir_graph_free(g);
		return NULL;
	}
	diag_free(&vd);
	return g;
}

/* Load the model and run the pipeline; cx (may be NULL) receives the pass
 * log, imported the node count before any pass. */
Graph *driver_load_and_optimize(const Opts *o, Diag *d, bool plan, PassCtx *cx_out, int *imported)
{
	if (!o->model) {
		driver_fail("%s: no model file given", o->cmd);
		return NULL;
	}
	if (o->dump_dir && mkdir(o->dump_dir, 0777) != 0 && errno != EEXIST) {
		driver_fail("%s: cannot create the folder", o->dump_dir);
		return NULL;
	}
	Graph *g = driver_load_verified(o, d);
	if (!g)
		return NULL;
	if (imported)
		*imported = g->nodes.n;
	PassCtx local, *cx = cx_out ? cx_out : &local;
	*cx = (PassCtx){
		.diag = d, .opt_level = o->opt_level, .verify_each = o->verify_each,
		.print_after = o->print_after, .print_after_all = o->print_after_all,
		.time_passes = o->time_passes, .max_ram = o->max_ram, .layout = o->layout, .ws_align = 64, .dump_dir = o->dump_dir,
		.fold = cg_fold,  /* the fold pass evaluates through the code generator */
		.quant = o->quant,
	};
	CgOptions cg;
	if (!driver_setup_target(o, &cg)) {  /* the commands check it first; this is for the lanes */
		ir_graph_free(g);
		return NULL;
	}
	cx->vector_lanes = cg_vector_lanes(&cg);
	if (!pass_run_pipeline(g, o->passes, cx) || (plan && !pass_ensure_plan(g, cx))) {
		ir_graph_free(g);
		return NULL;
	}
	return g;
}

