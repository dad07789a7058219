/* The pass manager and every pass: IR -> IR.  One file per pass, one
 * signature; the pipelines per -O level are listed in passes.c. */
#ifndef KILN_PASSES_H
#define KILN_PASSES_H

#include "ir.h"

/* What one pass run did, for --report and --time-passes. */
typedef struct PassRecord {
	const char *name;
	bool changed;
	int nodes_before, nodes_after;
	double ms;
	char note[160];          /* what the pass did, in its own words ("" if nothing to say) */
} PassRecord;

#define PASS_MAX_RECORDS 64

/* A node computing in float among quantized values, and why the qdq pass
 * left it there (passes/qdq.c): for `kiln check` and --report. */
typedef struct QdqFloat {
	const char *node, *op;  /* its name and ONNX op (strings of the graph) */
	char why[200];
} QdqFloat;

/* Post-training quantization (passes/quantize.c): what calibration chose,
 * by value name.  A float value without a range stays float. */
typedef struct QuantRange {
	const char *value;       /* a float activation's name */
	double lo, hi;           /* its clipping range */
} QuantRange;
typedef struct QuantPlan {
	int nranges;
	const QuantRange *ranges;
	int nfloat;
	const char *const *float_nodes;  /* nodes kept in float (--max-accuracy-drop): node names, or result names */
	DType act_dt;            /* activations: DT_U8 (default, DT_UNDEF) or DT_I8 */
} QuantPlan;

/* One rewrite the quantize pass made, for writing the same decisions as a
 * QDQ ONNX model.  Names are the graph's (arena-owned). */
typedef enum QuantEditKind { QE_ACTIVATION, QE_WEIGHT } QuantEditKind;
typedef struct QuantEdit {
	QuantEditKind kind;
	const char *value;       /* the float tensor's name in the source model */
	const char *float_name;  /* what its producer's result is called now (a graph output: "<value>_float") */
	const char *q_name;      /* activation: the quantize result; weight: the integer constant */
	const char *dq_name;     /* the dequantize result (a graph output keeps value) */
	DType dt;                /* u8/i8 */
	const Quant *q;          /* scale and zero, per tensor or per axis */
	const int8_t *data;      /* weight: the integers (numel of the float tensor) */
} QuantEdit;
typedef struct QuantEdits {
	QuantEdit *v;            /* malloc-owned */
	int n, cap;
} QuantEdits;
/* scale and zero point for the range [lo, hi] widened to hold 0, as dt
 * (u8 or i8), round half to even. */
void pass_quant_params(double lo, double hi, DType dt, float *scale, int32_t *zero);
/* Does the quantize pass give op an integer form of its own (a "layer"
 * that --max-accuracy-drop may keep in float)?  Moves follow their operand. */
bool pass_quantize_layer(Op op);

typedef struct PassCtx {
	Diag *diag;
	int opt_level;           /* 0..3 */
	bool verify_each;        /* run ir_verify after every pass */
	const char *print_after; /* pass name, or NULL */
	bool print_after_all;
	FILE *print_to;          /* where --print-after goes (stderr if NULL) */
	bool time_passes;
	int64_t max_ram;         /* fail when the workspace exceeds this; 0 = no limit */
	int64_t ws_align;        /* workspace/buffer alignment in bytes (>= 16) */
	const char *dump_dir;    /* --print-after output as DIR/NN-PASS.kir instead of stderr */
	int vector_lanes;        /* f32 lanes of the target's vectors (0: scalar target, no layout choice) */
	int layout;              /* the layout pass: 0 by gain and cost, 1 row-major only, 2 every class it can block */
	const QuantPlan *quant;  /* the quantize pass's decisions; NULL: it does nothing */
	QuantEdits *quant_edits; /* where the quantize pass records its rewrites (may be NULL) */
	IrFoldFn fold;           /* evaluates constant expressions (codegen's cg_fold); NULL: `fold` does nothing */
	char note[160];          /* set by the running pass (pass_note), copied into its record */
	PassRecord log[PASS_MAX_RECORDS];  /* filled by the pass manager */
	int nlog;
	/* The nodes the qdq pass left in float, recorded as it ends (NULL: it
	 * did not run): `kiln check` and --report both name these, whatever
	 * later passes fuse or rename. */
	QdqFloat *qfloat;
	int nqfloat;
} PassCtx;

typedef bool (*PassFn)(Graph *g, PassCtx *cx);


/* A pass's one-line summary for the log (--report, --time-passes). */
void pass_note(PassCtx *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A rewrite rule: look at one live node (use counts in u are current) and
 * rewrite the graph around it; true if it changed anything. */
typedef bool (*RewriteRule)(Graph *g, const Uses *u, Node *n, PassCtx *cx);
/* Run rules to a fixed point (passes/rewrite.c); true if anything changed.
 * Errors (out of memory) go to cx->diag. */
bool pass_rewrite(Graph *g, PassCtx *cx, const RewriteRule *rules, int nrules);
/* The same fixed point in O(nodes) per sweep, for rules that are local:
 * they change only n's operands and attributes and may kill producers of
 * n's operands, add no values or nodes, and read only u->count (kept
 * current incrementally; u's user lists go stale).  A sweep goes on after
 * a rewrite instead of starting over, and sweeps repeat until one changes
 * nothing. */
bool pass_rewrite_local(Graph *g, PassCtx *cx, const RewriteRule *rules, int nrules);

#define PASS(name, fn, desc) bool fn(Graph *g, PassCtx *cx);
#include "passes.def"
#undef PASS

/* The nodes that read dequantized values or whose result is quantized
 * again but that compute in float; the first max of them into out (each
 * with its reason).  Returns how many there are. */
int pass_qdq_float_nodes(Graph *g, QdqFloat *out, int max);
/* The nodes computing on integers (quantized operands or result), the
 * quantize and dequantize at the float edges not counted. */
int pass_qdq_integer_nodes(const Graph *g);

/* The memory plan's accounting, for passes that compare node orders
 * (passes/plan.c), so that they and the plan never disagree.
 * pass_plan_peak: the most bytes live at once when the live nodes run in
 * `order` (m node ids, a topological order), with the buffer sharing the
 * plan would do at cx's -O level: exact, the lower bound the plan would
 * report; not exact, keeping the last exact call's choice of which concat
 * operands go in their slices (one pass instead of a few dozen, for
 * searches that try many orders). */
typedef struct PlanEval PlanEval;
int64_t pass_ws_align(const PassCtx *cx);  /* cx->ws_align made valid: the buffers' alignment */
PlanEval *pass_plan_eval_new(Graph *g, PassCtx *cx);  /* NULL: out of memory */
int64_t pass_plan_peak(PlanEval *e, const NodeId *order, int m, bool exact);
/* The workspace bytes the plan would place for that order (-1: out of memory). */
int64_t pass_plan_workspace(PlanEval *e, const NodeId *order, int m);
void pass_plan_eval_free(PlanEval *e);

/* Run a comma-separated list of pass names ("none" = no passes; NULL = the
 * default pipeline for cx->opt_level).  Returns false if a pass reported an
 * error or a name is unknown. */
bool pass_run_pipeline(Graph *g, const char *list, PassCtx *cx);
/* Every graph handed to codegen has a memory plan; this plans if needed. */
bool pass_ensure_plan(Graph *g, PassCtx *cx);

#endif
