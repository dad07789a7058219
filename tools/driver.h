/* What the driver's files share: the parsed command line and the steps
 * every subcommand takes (driver.c); private to tools/. */
#ifndef KILN_DRIVER_H
#define KILN_DRIVER_H

#include "codegen.h"
#include "frontend.h"
#include "kiln_io.h"
#include "passes.h"

#define MAX_FILES 64

typedef struct Opts {
	const char *cmd;
	const char *model;
	const char *out;
	const char *name;
	const char *target;
	const char *cpu;
	const char *features;
	const char *emit;
	const char *passes;
	const char *print_after;
	const char *output_dir;
	const char *test_dir;
	const char *report;
	const char *dump_dir;
	const char *weights_section;  /* --weights-section */
	int opt_level;
	bool print_after_all, verify_each, time_passes;
	int64_t max_ram;
	int layout;   /* PassCtx.layout */
	int ninputs;
	const char *inputs[MAX_FILES];
	ImportOptions imp;
	kiln_tensor const_vals[IMPORT_MAX_SHAPES];  /* --const NAME=FILE values */
	double rtol, atol;
	int runs, warmup, threads;
	const char *quantize;      /* --quantize int8 (compile) */
	const char *calib_dir, *eval_dir, *calib_method;
	double max_drop;           /* --max-accuracy-drop P (points); < 0: none */
	const QuantPlan *quant;    /* the quantize pass's plan (tools/ptq.c) */
	const char *against;       /* (bisect) float, O0 or a target */
	const char *emit_kir;      /* (bisect) the first diverging node's neighbourhood */
	double tolerance;          /* (bisect) NAN: the comparison's default */
} Opts;

/* "kiln: error: ..." on stderr; returns the exit code 1. */
int driver_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print and free d's messages; returns 1. */
int driver_fail_diag(Diag *d);
/* The codegen options for --target/--cpu/--features; false after a message. */
bool driver_setup_target(const Opts *o, CgOptions *cg);
/* Load the model and verify it (no passes). */
Graph *driver_load_verified(const Opts *o, Diag *d);
/* Load the model, run the pipeline (and the plan when plan is set);
 * cx_out, imported may be NULL. */
Graph *driver_load_and_optimize(const Opts *o, Diag *d, bool plan, PassCtx *cx_out, int *imported);

/* kiln run and kiln bench (tools/run.c). */
int cmd_run(Opts *o);
int cmd_bench(Opts *o);
/* kiln quantize (tools/kiln.c) is built on tools/ptq.c. */
/* kiln bisect (tools/bisect.c): 0 agree, 1 parted, 2 error. */
int cmd_bisect(Opts *o);

#endif
