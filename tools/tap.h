/* Taps: a model's intermediate values observed by running it (in process,
 * JIT) on a graph where they are outputs, so that fusion and the memory
 * plan keep them.  What calibration and evaluation read (tools/ptq.c) and
 * what `kiln bisect` will compare between two builds. */
#ifndef KILN_TAP_H
#define KILN_TAP_H

#include "driver.h"

typedef struct Tap {
	Graph *g;          /* after the pipeline; owned */
	CgJit *jit;
	KilnRunFn fn;
	void *ws;
	int nout;          /* the model's own outputs (first) and the taps */
	int norig;         /* the model's own outputs */
	int ntap;
	int *tap_out;      /* tap i is output tap_out[i] */
	void **buf;        /* one buffer per output */
	const Type **ty;   /* each output's type (quantized: read through its scale) */
	int64_t *numel;
} Tap;

/* Mark the values named in names[0..n) outputs of g (an unoptimized graph;
 * a missing name is our bug), run the pipeline of o (with cx's quantization
 * plan when set) and JIT-compile for the host.  False with errors in d;
 * t is then closed. */
bool tap_open(Tap *t, Graph *g, const Opts *o, const QuantPlan *quant, const char *const *names, int n, Diag *d);
/* One buffer per output of g (with its type and count) into t: for a
 * graph run some other way (bisect's cross targets).  False with errors in
 * d; t then holds what was allocated, for tap_close. */
bool tap_alloc_outputs(Tap *t, const Graph *g, Diag *d);
/* Run on one input set (ins[i] for graph input i, already checked). */
bool tap_run(Tap *t, const void *const *ins, Diag *d);
/* Output k (0..nout) after tap_run, as float (dequantized) into dst[numel]. */
void tap_read_f32(const Tap *t, int k, float *dst);
void tap_close(Tap *t);

#endif
