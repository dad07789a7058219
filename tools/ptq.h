/* Post-training quantization in the driver (tools/ptq.c): calibration data,
 * ranges and the methods that clip them, evaluation of the quantized model
 * against the float one, and the choice of layers kept in float. */
#ifndef KILN_PTQ_H
#define KILN_PTQ_H

#include "driver.h"

typedef struct Ptq {
	QuantPlan plan;          /* what the quantize pass reads */
	QuantRange *ranges;      /* plan.ranges; names malloc-owned */
	char **float_names;      /* plan.float_nodes */
	char *json;              /* the report's "quantization_ptq" object (malloc-owned) */
} Ptq;

/* Calibrate o->model on o->calib_dir, choose the scales (o->calib_method),
 * evaluate (o->eval_dir, or the calibration set) and apply
 * o->max_drop.  0, or an exit status after a message. */
int ptq_prepare(Opts *o, Ptq *p);
void ptq_free(Ptq *p);

#endif
