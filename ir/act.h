/* Fused activations (ir/act.def): names, the ops they come from, their
 * parameters.  Read by shape rules, the fuse pass and codegen, so an
 * activation's name and parameters exist once. */
#ifndef KILN_ACT_H
#define KILN_ACT_H

#include "ir.h"

typedef enum ActKind {
	ACT_NONE,
#define ACT(e, name, op, sel, sv, p0, d0, p1, d1) ACT_##e,
#include "act.def"
#undef ACT
	ACT_COUNT
} ActKind;

typedef struct ActInfo {
	const char *name;      /* attr "act" value */
	Op op;                 /* standalone op it fuses; OP_COUNT: none */
	const char *sel;       /* int attr of op telling activations apart, or NULL */
	int sel_val;
	const char *param[2];  /* float attrs of op (head: "act_" + param), or NULL */
	double dflt[2];
} ActInfo;

extern const ActInfo ir_acts[ACT_COUNT];  /* [ACT_NONE] is all zero */

/* An activation with its parameters resolved (p[i] for ir_acts[k].param[i]). */
typedef struct Act {
	ActKind k;
	double p[2];
} Act;

/* The activation named s; ACT_NONE if none is. */
ActKind ir_act_find(const char *s);
/* The activation a standalone node computes (ACT_NONE: n's op is none). */
Act ir_act_of_op(const Node *n);
/* The epilogue of a fused head (attr "act"); ACT_NONE without one. */
Act ir_act_of_epilogue(const Node *n);
/* "act_" + param i of k, in buf. */
const char *ir_act_param_attr(ActKind k, int i, char *buf, size_t len);

#endif
