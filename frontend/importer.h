/* The importer's insides, shared by import.c (dispatch, checks, graph-level
 * work), emit.c (building IR for a node) and the op families imp_*.c. */
#ifndef KILN_IMPORTER_H
#define KILN_IMPORTER_H

#include "source.h"

#include <string.h>

/* ---- a string -> int hash map in an arena (import.c) --------------------- */

typedef struct NameMap {
	Arena *a;
	const char **key;
	int *val;
	int cap, n;
} NameMap;

bool fe_nm_init(NameMap *m, Arena *a);
bool fe_nm_put(NameMap *m, const char *k, int v);  /* false: out of memory */
int fe_nm_get(const NameMap *m, const char *k, int dflt);
bool fe_nm_has(const NameMap *m, const char *k);

/* ---- the import context -------------------------------------------------- */

typedef struct Ctx {
	SrcModel *m;
	Graph *g;
	Diag *d;
	const char *file;
	int opset;
	NameMap vals;       /* source value name -> ValueId */
	NameMap names;      /* every value name in use, source or generated */
	NameMap consts;     /* values known to be constants before building */
	NameMap used;       /* values read by some node or listed as graph output */
	NameMap producer;   /* value name -> index of the producing node */
	const SrcNode *sn;  /* node being imported */
	const char *src_op; /* its op type, in the graph arena */
	const struct OpSpec *spec;  /* its op table row */
	IrFoldFn fold;      /* evaluates constant expressions, or NULL */
	bool oom;
} Ctx;

/* An importer: maps the node c->sn, whose operands are in[0..nin) (-1 for
 * an omitted one), to IR and binds its outputs; false with a diagnostic. */
typedef bool (*ImportFn)(Ctx *c, const ValueId *in, int nin);

/* ---- the op table: each family file imp_*.c holds the rows of its ops ---- */

#define IMP_MAX_ATTRS 9

typedef struct AttrSpec {
	const char *name;
	SrcAttrKind kind;
	int lo, hi;      /* opset range where the attribute exists; 0 = unbounded */
	bool lenient;    /* stands for a constant operand: accepted only in JSON */
	double dflt;     /* an SA_FLOAT attribute imp_ew copies: its ONNX default */
} AttrSpec;

typedef struct OpSpec {
	const char *op;
	int lo, hi;          /* opset range of this entry */
	int min_in, max_in;  /* source operand counts */
	int max_out;         /* declared outputs allowed; only output 0 may be used */
	unsigned const_in;   /* bit i: operand i must be a constant */
	ImportFn fn;
	AttrSpec attrs[IMP_MAX_ATTRS];
	bool multi_out;      /* the importer binds every output, not only the first */
	const char *domain;  /* NULL: the default domain; else e.g. "ai.onnx.ml" */
	bool float_in;       /* operand 0 must be floating-point (checked before fn runs) */
} OpSpec;

#define CONV_ATTRS {"kernel_shape", SA_INTS}, {"strides", SA_INTS}, {"pads", SA_INTS}, \
	{"dilations", SA_INTS}, {"group", SA_INT}, {"auto_pad", SA_STRING}

/* Each family's rows, ended by a row whose op is NULL; import.c lists the
 * families.  Several rows of one op (opset ranges) stay in one file. */
extern const OpSpec imp_control_ops[], imp_ew_ops[], imp_nn_ops[], imp_norm_ops[], imp_shape_ops[],
	imp_data_ops[], imp_reduce_ops[], imp_resize_ops[], imp_quant_ops[], imp_rnn_ops[], imp_signal_ops[],
	imp_loss_ops[], imp_ml_ops[], imp_qop_ops[];
/* The tables' invariants, for the unit tests: each ONNX op's rows in one
 * family, disjoint opset ranges, and every ONNX name of ir/ops.def
 * imported.  false with the first problem in why. */
bool fe_check_op_tables(char *why, size_t n);

/* ---- graph-level work the If importer reuses (import.c) ------------------ */

bool fe_check_node(Ctx *c, SrcNode *n);
bool fe_import_node(Ctx *c, const SrcNode *n, bool sub);
bool fe_add_const(Ctx *c, const SrcTensor *t);
bool fe_derive_consts_in(Ctx *c, const SrcNode *nodes, int nn);

/* ---- diagnostics and IR building for the current node (emit.c) ----------- */

/* An error about the current node (or the model when c->sn is NULL); false. */
bool fe_fail(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define fail_v(c, ...) (fe_fail((c), __VA_ARGS__), -1)
bool fe_oom(Ctx *c);  /* reports out of memory once; false */
void fe_fmt_dims(char *buf, size_t cap, int rank, const int64_t *dims);  /* "[2,3]" */
const char *fe_sn_base(const Ctx *c);  /* the node's first named output */
const char *fe_fresh_name(Ctx *c, const char *base, const char *suffix);  /* "base/suffix.N" */

/* Append an IR node for the current source node; returns its result value
 * or -1 with a diagnostic.  out_name NULL: a fresh intermediate name.  An
 * OPF_F32 op on other float types is computed in f32 between casts. */
ValueId fe_emit(Ctx *c, Op op, const ValueId *in, int nin, const Attr *a, int na, const char *out_name);
/* fe_emit with a declared result type (a quantized result: the node's choice). */
ValueId fe_emit_as(Ctx *c, Op op, const ValueId *in, int nin, const Attr *a, int na, const char *out_name, TypeId declared);
ValueId fe_emit_cast(Ctx *c, ValueId x, DType to, bool saturate, const char *out_name);
ValueId fe_cast_to(Ctx *c, ValueId x, DType to, const char *out_name);  /* x if it has dt and out_name is NULL */
bool fe_define(Ctx *c, ValueId v);            /* binds the node's first output; false if v < 0 */
bool fe_define_at(Ctx *c, int i, ValueId v);  /* binds output i, if the node has it */
bool fe_define_const(Ctx *c, DType dt, int rank, const int64_t *dims, const void *data);
void *fe_filled(Ctx *c, DType dt, int64_t numel, const void *one);  /* numel copies, in the graph arena */

/* Emit the op's one node producing the source output. */
bool fe_emit_out(Ctx *c, Op op, const ValueId *in, int nin, const Attr *a, int na);
/* One-operand and two-operand nodes with fresh names; -1 operands pass
 * through, so compositions chain them and check once at the end. */
ValueId fe_unary(Ctx *c, Op op, ValueId x);
ValueId fe_binary(Ctx *c, Op op, ValueId a, ValueId b, const char *out_name);
ValueId fe_to_f32(Ctx *c, ValueId v);  /* v converted to f32 (v itself if it is) */

/* ---- attribute access (kinds are normalized by the static check) --------- */

static inline const SrcAttr *sa_get(const SrcNode *n, const char *name)
{
	for (int i = 0; i < n->nattr; i++)
		if (strcmp(n->attr[i].name, name) == 0)
			return &n->attr[i];
	return NULL;
}

static inline int64_t sa_int(const SrcNode *n, const char *name, int64_t dflt)
{
	const SrcAttr *a = sa_get(n, name);
	return a && a->kind == SA_INT ? a->i : dflt;
}

static inline double sa_float(const SrcNode *n, const char *name, double dflt)
{
	const SrcAttr *a = sa_get(n, name);
	return a && a->kind == SA_FLOAT ? a->f : dflt;
}

static inline const char *sa_str(const SrcNode *n, const char *name, const char *dflt)
{
	const SrcAttr *a = sa_get(n, name);
	return a && a->kind == SA_STRING ? a->s : dflt;
}

static inline const int64_t *sa_ints(const SrcNode *n, const char *name, int *count)
{
	const SrcAttr *a = sa_get(n, name);
	if (!a || a->kind != SA_INTS) {
		*count = 0;
		return NULL;
	}
	*count = a->n;
	return a->ints;
}

/* ---- operand helpers (emit.c) -------------------------------------------- */

static inline const Type *vtype(Ctx *c, ValueId v) { return ir_value_type(c->g, v); }

/* Integers (and bool) that f32 holds exactly. */
static inline bool small_int(DType dt)
{
	return dt == DT_BOOL || dt == DT_U8 || dt == DT_I8 || dt == DT_U16 || dt == DT_I16;
}

/* Ops that only compare values: on small integers they give the same result
 * through f32 (a monotone, exact conversion). */
static inline bool order_only(Op op)
{
	return op == OP_MAXPOOL || op == OP_GLOBAL_MAXPOOL || op == OP_REDUCE_MAX || op == OP_REDUCE_MIN;
}

bool fe_need_float(Ctx *c, ValueId v, const char *what);
bool fe_same_dtype(Ctx *c, ValueId a, ValueId b);
const Value *fe_const_val(Ctx *c, ValueId v, const char *what);
bool fe_const_ints(Ctx *c, ValueId v, const char *what, int64_t *out, int max, int *n);
bool fe_const_scalar(Ctx *c, ValueId v, const char *what, double *out);
bool fe_ints_from(Ctx *c, const ValueId *in, int nin, int i, const char *name, int64_t *out, int max, int *n,
	       bool *have);
bool fe_norm_axis(Ctx *c, int64_t *axis, int rank, const char *what);
ValueId fe_reshape_to(Ctx *c, ValueId x, int rank, const int64_t *dims, const char *out_name);
ValueId fe_slice_of(Ctx *c, ValueId x, const int64_t *start, const int64_t *step, const int64_t *count,
		 const char *out_name);
ValueId fe_scalar(Ctx *c, DType dt, double v);
ValueId fe_reduce_axes(Ctx *c, Op op, ValueId x, const int64_t *axes, int n, bool keep, const char *out_name);

/* ---- shared by families (imp_nn.c, imp_rnn.c) ---------------------------- */

bool fe_spatial_ints(Ctx *c, const char *name, int nsp, int64_t *out);
ValueId fe_conv_of(Ctx *c, const ValueId *in, int nin, const char *out_name);
/* conv_integer(x, w, zx, zw) with the source node's attributes (ConvInteger
 * with a zero point computed at run time). */
ValueId fe_conv_integer_of(Ctx *c, const ValueId *in, const char *out_name);
/* An avgpool of x with the source node's window attributes (kernel_shape,
 * strides, pads or auto_pad, ceil_mode, count_include_pad). */
ValueId fe_avgpool_of(Ctx *c, ValueId x, const char *out_name);
/* op (softmax, log_softmax, hardmax) of x along axis; old: the meaning
 * before opset 13 (over all axes from axis on). */
ValueId fe_softmax_of(Ctx *c, Op op, ValueId x, int64_t axis, bool old, const char *out_name);
/* ONNX LSTM of in[0..nin) (X, W, R, B, sequence_lens, initial_h,
 * initial_c, P) with the source node's attributes; binds Y, Y_h, Y_c. */
bool fe_lstm(Ctx *c, const ValueId *in, int nin);
/* DynamicQuantizeLSTM's recurrence: fe_lstm's with every product integer
 * (fe_int_product), W and R int8 [dirs, rows, 4*hidden] constants with
 * their scales and zero points ([dirs] or [dirs, 4*hidden]) in in[8..11]:
 * X quantized at run time once for all steps, the hidden state each step,
 * as onnxruntime does. */
bool fe_lstm_dynamic(Ctx *c, const ValueId *in, int nin);

/* ---- quantization (imp_quant.c), for the quantized ops (imp_qop.c) -------- */

/* The quantization (scale, zp) give a rank-r value of dtype dt: NULL (no
 * error) unless both are constants, the scale f32, positive and finite,
 * each one entry (per tensor) or one per index of axis (scale < 0: 1,
 * zp < 0: 0), dt an integer type the IR quantizes (8, 16 or 32 bits). */
const Quant *fe_const_quant(Ctx *c, ValueId scale, ValueId zp, int64_t axis, int r, const int64_t *dims, DType dt);
/* x read as quantized by q: a constant gets the quantized type itself,
 * anything else a qview. */
ValueId fe_as_quantized(Ctx *c, ValueId x, const Quant *q);
/* (x - zp) * scale as f32: dequantize(x typed with the quantization) when
 * fe_const_quant gives one, else the same in f32 ops (scale < 0: 1, zp < 0:
 * 0; a 1-D scale or zero point runs along axis). */
ValueId fe_dequant(Ctx *c, ValueId x, ValueId scale, ValueId zp, int64_t axis, const char *out_name);
/* y quantized to dt as QuantizeLinear does: quantize to the type with the
 * quantization when fe_const_quant gives one, else f32 ops and a cast. */
ValueId fe_quant(Ctx *c, ValueId y, ValueId scale, ValueId zp, int64_t axis, DType dt, const char *out_name);
/* DynamicQuantizeLinear's arithmetic: x as u8 over its range widened to
 * hold 0; *scale and *zp (f32, u8 scalars) are computed at run time. */
ValueId fe_dynamic_quant(Ctx *c, ValueId x, ValueId *scale, ValueId *zp, const char *y_name, const char *zp_name);
/* The integer product of a dynamically quantized activation and 8-bit
 * weights, in f32: cast(matmul_integer(a, b, za, zb)) * (sa * sb), za and
 * sa known at run time (absent zero points: 0; sb and zb one, or one per
 * column of b). */
ValueId fe_int_product(Ctx *c, ValueId a, ValueId b, ValueId sa, ValueId za, ValueId sb, ValueId zb, const char *out_name);
bool fe_quantize_linear(Ctx *c, const ValueId *in, int nin);    /* ImportFns the com.microsoft */
bool fe_dequantize_linear(Ctx *c, const ValueId *in, int nin);  /* rows share */

#endif
