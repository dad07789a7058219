/* The kiln graph IR: an SSA graph of tensor values and ops, with interned
 * types, owned by one arena per graph.  See docs/ir.md for the text form. */
#ifndef KILN_IR_H
#define KILN_IR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- element types ---------------------------------------------------- */

typedef enum DType {
	DT_UNDEF = 0,
#define DTYPE(E, text, onnx, bytes, ctype) DT_##E,
#include "dtype.def"
#undef DTYPE
	DT_COUNT
} DType;

const char *ir_dtype_name(DType dt);         /* "f32"; "?" for DT_UNDEF */
DType ir_dtype_from_name(const char *s);     /* DT_UNDEF if unknown */
int ir_dtype_size(DType dt);                 /* bytes per element */
int ir_dtype_onnx(DType dt);                 /* ONNX TensorProto.DataType */
DType ir_dtype_from_onnx(int code);          /* DT_UNDEF if unsupported */
const char *ir_dtype_ctype(DType dt);        /* C type for headers */
bool ir_dtype_is_float(DType dt);
bool ir_dtype_is_signed(DType dt);           /* signed integers (i4 too) */
bool ir_dtype_is_f8(DType dt);               /* the four float8 types */

/* A float8 format: sign, (8 - 1 - mbits) exponent bits, mbits mantissa bits.
 * FN types have no infinities, UZ ones no negative zero (0x80 is their NaN). */
typedef struct IrF8Format {
	int mbits, bias;
	int maxcode;       /* largest finite magnitude code (0x7e = 448 for e4m3fn) */
	bool inf;          /* 0x7c is infinity (e5m2 only) */
	bool uz;           /* NaN is 0x80 and zero has no sign */
} IrF8Format;
const IrF8Format *ir_f8_format(DType dt);    /* NULL unless a float8 dtype */
/* The conversions ONNX Cast defines, in plain C: the reference that the code
 * generator's lowering is tested against, and what the importer and `kiln run`
 * use for constants and outputs.  Rounding is to nearest even; out-of-range
 * values (infinities included) saturate to the largest finite value, or
 * without saturate become infinity (e5m2) or NaN. */
float ir_f8_to_f32(DType dt, uint8_t b);
uint8_t ir_f32_to_f8(DType dt, float x, bool saturate);

/* ---- ops ---------------------------------------------------------------- */

typedef enum Op {
#define OP(E, text, onnx, min_in, max_in, flags, sem) OP_##E,
#include "ops.def"
#undef OP
	OP_COUNT
} Op;

enum {
	OPF_EW = 1 << 0,
	OPF_UNARY = 1 << 1,
	OPF_FUSE_HEAD = 1 << 2,
	OPF_FUSE_TAIL = 1 << 3,
	OPF_QUANT = 1 << 4,
	OPF_VIEW = 1 << 5,
	OPF_F32 = 1 << 6,
};

typedef struct OpInfo {
	const char *name;  /* text form name */
	const char *onnx;  /* ONNX op mapped one-to-one, or "" */
	int min_in, max_in;
	unsigned flags;
	const char *sem;   /* one-line semantics */
} OpInfo;

extern const OpInfo ir_ops[OP_COUNT];
Op ir_op_from_name(const char *s);  /* OP_COUNT if unknown */

/* ---- memory: one arena per graph ---------------------------------------- */

/* Every allocation kiln makes for a graph goes through this hook, so tests
 * can make the Nth allocation fail.  Returns NULL on failure. */
typedef void *(*IrAllocFn)(void *ud, size_t size);
void ir_set_alloc_hook(IrAllocFn fn, void *ud);  /* NULL restores malloc */

typedef struct Arena Arena;
Arena *ir_arena_new(void);
void ir_arena_free(Arena *a);
/* Zeroed, 16-byte aligned; NULL when the hook refuses. */
void *ir_arena_alloc(Arena *a, size_t size);
char *ir_arena_strdup(Arena *a, const char *s);

/* ---- types -------------------------------------------------------------- */

#define IR_MAX_RANK 8

/* Quantization: real = scale * (q - zero).  axis < 0: per tensor (n == 1),
 * else per channel along axis (n == dims[axis]). */
typedef struct Quant {
	int axis;
	int n;
	const float *scale;
	const int32_t *zero;
} Quant;

/* Requantization without float (ir/requant.c): a real multiplier r (an
 * accumulator's scale over the result's, e.g. x_scale * w_scale / y_scale)
 * as mult * 2^-shift with mult in [2^30, 2^31), so integer code computes
 * round(acc * r) from one 32x32->64-bit product and a rounding shift.  What
 * every integer lowering and its reference share. */
typedef struct Requant {
	int32_t mult;    /* 0 when r < 2^-32: every int32 accumulator rounds to 0 */
	int shift;       /* 1..62 (0 with mult 0) */
} Requant;
/* false when r is not in (0, 2^30) or not finite. */
bool ir_requant_of(double r, Requant *q);
/* saturate(round_half_even(acc * mult / 2^shift) + zero, lo, hi): ONNX's
 * rounding (QuantizeLinear, QLinearConv); lo/hi carry a fused relu/clip. */
int32_t ir_requantize(int32_t acc, Requant q, int32_t zero, int32_t lo, int32_t hi);

/* A type is interned per graph: equal types have the same TypeId. */
typedef struct Type {
	DType dt;
	int rank;
	int64_t dims[IR_MAX_RANK];
	const Quant *q;  /* NULL: not quantized; interned, compare by pointer */
	int block;       /* memory layout: 0 = row-major as dims say; b > 0: an f32
			  * [N, C, H, W] stored as [N, C/b, H, W, b] (channel blocks,
			  * "nchw<b>c"; the layout pass chooses it, C % b == 0) */
} Type;

typedef int TypeId;
typedef int ValueId;
typedef int NodeId;
typedef struct Diag Diag;

/* ---- attributes ----------------------------------------------------------- */

typedef enum AttrKind { ATTR_INT, ATTR_FLOAT, ATTR_INTS, ATTR_FLOATS, ATTR_STRING } AttrKind;

typedef struct Attr {
	const char *name;
	AttrKind kind;
	int n;              /* element count for INTS/FLOATS */
	int64_t i;
	double f;           /* f32 attributes are stored widened; printed exactly */
	int64_t *ints;
	double *floats;
	const char *s;
} Attr;

/* ---- values and nodes ------------------------------------------------------ */

typedef enum ValueKind { VAL_INPUT, VAL_CONST, VAL_NODE } ValueKind;

typedef struct Value {
	const char *name;     /* unique in the graph; from the model when it had one */
	TypeId type;
	ValueKind kind;
	NodeId def;           /* defining node for VAL_NODE, else -1 */
	const void *data;     /* VAL_CONST: dense little-endian bytes, arena-owned */
	int64_t ws_offset;    /* workspace offset from the memory plan, -1 if none */
	ValueId alias;        /* memory plan: lives in the buffer of this root value (views,
			       * in-place results, concat operands), else -1 */
	int64_t alias_off;    /* memory plan: byte offset inside alias's buffer (0 unless a concat slice) */
	bool is_output;       /* a graph output (may also be an input or const) */
} Value;

typedef struct Node {
	Op op;
	const char *name;     /* from the model (ONNX node name), may be "" */
	const char *src_op;   /* op name in the source model, for messages */
	int nin;
	ValueId *in;          /* -1 for an omitted optional operand */
	ValueId out;          /* every op has one result */
	int nattr;
	Attr *attr;
	bool dead;            /* removed; dropped by ir_compact */
} Node;

/* Growable array of T in the graph's arena. */
#define IR_VEC(T) struct { T *v; int n, cap; }

typedef struct Graph {
	Arena *arena;
	const char *name;
	const char *file;          /* source path, for diagnostics */
	IR_VEC(Type) types;
	IR_VEC(const Quant *) quants;
	IR_VEC(Value) values;
	IR_VEC(Node) nodes;        /* in execution (topological) order */
	IR_VEC(ValueId) inputs;    /* graph inputs in order */
	IR_VEC(ValueId) outputs;   /* graph outputs in order */
	int64_t ws_size;           /* memory plan: workspace bytes, -1 if unplanned */
	int64_t ws_align;          /* memory plan: workspace alignment */
	int64_t ws_lower_bound;    /* memory plan: peak live bytes of the schedule */
	int64_t stack_size;        /* set by codegen when it writes an object or assembly:
				    * stack bytes NAME_run needs at most; -1 unknown */
} Graph;

Graph *ir_graph_new(const char *name);   /* NULL on allocation failure */
void ir_graph_free(Graph *g);

/* Growing arrays.  Returns false on allocation failure. */
bool ir_vec_grow_(Arena *a, void **v, int *cap, int need, size_t elem);
#define IR_VEC_PUSH(g, vec, x) \
	(ir_vec_grow_((g)->arena, (void **)&(vec).v, &(vec).cap, (vec).n + 1, sizeof *(vec).v) \
	 ? ((vec).v[(vec).n++] = (x), true) : false)

/* Types.  ir_type returns -1 on allocation failure. */
TypeId ir_type(Graph *g, DType dt, int rank, const int64_t *dims, const Quant *q);
const Quant *ir_quant(Graph *g, int axis, int n, const float *scale, const int32_t *zero);
static inline const Type *ir_type_get(const Graph *g, TypeId t) { return &g->types.v[t]; }
/* t with memory layout block (0: row-major); -1 on allocation failure. */
TypeId ir_type_blocked(Graph *g, TypeId t, int block);
/* Whether a value of type t may be stored in channel blocks of b. */
bool ir_block_ok(const Type *t, int b);
/* Whether node n's operands and result have layouts its lowering reads
 * and writes (ir/layout.c); NULL if so, else the reason. */
const char *ir_layout_error(const Graph *g, const Node *n);
/* A 2-d conv with one output channel per input channel (group == C == M). */
bool ir_conv_depthwise(const Graph *g, const Node *n);
/* Do the per-group channels of conv n's operand or result v fill whole
 * blocks of b (true for b == 0)? */
bool ir_conv_groups_whole(const Graph *g, const Node *n, ValueId v, int b);
/* How an elementwise operand x reads beside a channel-blocked result out. */
typedef enum IrBlockOperand {
	IR_BLOCK_NO,       /* it cannot */
	IR_BLOCK_SAME,     /* out's dims and layout: element for element */
	IR_BLOCK_CHANNEL,  /* row-major [C,1,1], [1,C,1,1] or [N,C,1,1]: one value per channel */
	IR_BLOCK_SCALAR,   /* one element */
} IrBlockOperand;
IrBlockOperand ir_block_operand(const Type *out, const Type *x);
int64_t ir_type_numel(const Type *t);    /* product of dims */
/* "f32[1,3,224,224]" into buf (truncated to n); returns buf. */
const char *ir_type_str(const Type *t, char *buf, size_t n);
int64_t ir_type_bytes(const Type *t);    /* numel * element size */
/* Product of dims, or -1 if any dim is negative or the product of the
 * nonzero dims exceeds IR_MAX_NUMEL (so byte sizes, strides and offsets,
 * even of an empty tensor, fit in int64). */
#define IR_MAX_NUMEL (INT64_MAX / 16)
int64_t ir_shape_numel(int rank, const int64_t *dims);

/* Values.  Names are copied; NULL name makes a fresh "%N" style name.
 * Return -1 on allocation failure. */
ValueId ir_add_input(Graph *g, const char *name, TypeId t);
ValueId ir_add_const(Graph *g, const char *name, TypeId t, const void *data); /* copies data; NULL = zeros */
static inline Value *ir_value(Graph *g, ValueId v) { return &g->values.v[v]; }
static inline const Type *ir_value_type(const Graph *g, ValueId v) { return &g->types.v[g->values.v[v].type]; }
ValueId ir_find_value(const Graph *g, const char *name);  /* -1 if absent */
bool ir_mark_output(Graph *g, ValueId v);

/* Nodes.  Appends a node computing a new value of type t named out_name.
 * Inputs and attrs are copied.  Returns the node id, -1 on failure. */
NodeId ir_add_node(Graph *g, Op op, const char *name, const ValueId *in, int nin,
		   const Attr *attrs, int nattr, const char *out_name, TypeId t);
/* Put the nodes in a topological order, keeping the present order where
 * it is one (a pass that appends nodes reading later ones calls it);
 * renumbers node ids.  False on allocation failure. */
bool ir_order_nodes(Graph *g);
/* Drop dead nodes and values no longer referenced; renumbers ids. */
bool ir_compact(Graph *g);
/* Replace every use of value `from` by `to` (operands and graph outputs). */
void ir_replace_uses(Graph *g, ValueId from, ValueId to);

/* Where the memory plan keeps v's bytes: the root value that owns the
 * buffer (v itself when not an alias) and, in *off, the byte offset in it. */
ValueId ir_value_home(const Graph *g, ValueId v, int64_t *off);
/* A slice whose result is one contiguous run of its operand (outer axes
 * of extent 1, inner axes whole, unit step): its byte offset there. */
bool ir_slice_is_view(const Graph *g, const Node *n, int64_t *byte_off);

/* True if v is a constant or computed by nodes from constants alone. */
bool ir_is_const_expr(Graph *g, ValueId v);
/* Evaluate values computed from constants (ir_is_const_expr) at compile
 * time and turn them into constants; their producing nodes become dead.
 * Codegen provides it (cg_fold); the importer and the fold pass take it as
 * a hook so the IR and frontend do not depend on LLVM. */
typedef bool (*IrFoldFn)(Graph *g, const ValueId *v, int n, Diag *d);

/* Derived use lists (rebuilt on demand, not maintained by passes). */
typedef struct Uses {
	int *start;   /* uses of value v: users[start[v] .. start[v+1]) */
	NodeId *users;
	int *count;   /* count[v] = number of operand uses + graph-output uses */
} Uses;
bool ir_uses_build(Graph *g, Uses *u);   /* arrays in the arena */

/* Attributes: lookups return the default when absent. */
const Attr *ir_attr(const Node *n, const char *name);
int64_t ir_attr_int(const Node *n, const char *name, int64_t dflt);
double ir_attr_float(const Node *n, const char *name, double dflt);
/* Pointer to the ints and their count (0 and NULL when absent). */
const int64_t *ir_attr_ints(const Node *n, const char *name, int *count);
const char *ir_attr_str(const Node *n, const char *name, const char *dflt);

/* Attribute constructors, for building attr arrays before ir_add_node. */
Attr ir_ai(const char *name, int64_t v);
Attr ir_af(const char *name, double v);
Attr ir_aints(const char *name, int64_t *v, int n);   /* v copied by ir_add_node */
Attr ir_afloats(const char *name, double *v, int n);
Attr ir_astr(const char *name, const char *s);

/* ---- diagnostics ------------------------------------------------------------ */

/* Errors are collected, not printed where found.  Library code never exits.
 * Each message prints as: kiln: error: FILE: node 'NAME' (OP): reason */
struct Diag {
	int nerr;
	int max;          /* stop recording after this many (0 = unlimited) */
	char **msgs;      /* malloc-owned */
	int nmsg, cap;
};

void diag_init(Diag *d);
void diag_free(Diag *d);
/* file may be NULL; node NULL or "" and op NULL mean "not about one node". */
void diag_error(Diag *d, const char *file, const char *node, const char *op,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The va_list form, for readers and rules that wrap diag_error with their
 * own context (file, node, op) instead of formatting twice. */
void diag_verror(Diag *d, const char *file, const char *node, const char *op, const char *fmt, va_list ap);
void diag_node(Diag *d, const Graph *g, const Node *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void diag_print(const Diag *d, FILE *f);

/* Our own bugs. */
#define die(...) ir_die_(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void ir_die_(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- shape rules, printer, parser, verifier ------------------------------------ */

/* Does op have a shape rule (ir/shape.c)?  For the completeness test. */
bool ir_op_has_rule(Op op);

/* Infer the result type of a node from its operands and attributes.
 * Returns the TypeId, or -1 with a diagnostic naming the node. */
TypeId ir_infer_type(Graph *g, Op op, const char *name, const ValueId *in, int nin,
		     const Attr *attrs, int nattr, Diag *d);

/* The same with the node's declared result type (-1: none): what the
 * rules of quantized results read (the result's quantization is the node's
 * choice: docs/ir.md, "Quantized values").  The parser and verifier pass
 * the type a node has. */
TypeId ir_infer_result(Graph *g, Op op, const char *name, const ValueId *in, int nin,
		       const Attr *attrs, int nattr, TypeId declared, Diag *d);

/* Append a node whose result type is inferred.  -1 with a diagnostic on error. */
NodeId ir_build(Graph *g, Op op, const char *name, const ValueId *in, int nin,
		const Attr *attrs, int nattr, const char *out_name, Diag *d);
/* ir_build with a declared result type (quantized results). */
NodeId ir_build_as(Graph *g, Op op, const char *name, const ValueId *in, int nin,
		   const Attr *attrs, int nattr, const char *out_name, TypeId declared, Diag *d);

/* Broadcast two shapes numpy-style; false if incompatible. */
bool ir_broadcast(int ra, const int64_t *a, int rb, const int64_t *b, int *rout, int64_t *out);

/* An explicit einsum equation "ab,bc->ac": per operand and for the result,
 * the letter of each axis.  False if malformed or nops does not match. */
typedef struct IrEinsum {
	int nops;
	char op[8][IR_MAX_RANK + 1];
	char out[IR_MAX_RANK + 1];
} IrEinsum;
bool ir_einsum_parse(const char *eq, int nops, IrEinsum *e);

/* The expression of a fused_ew node (ir/ew_expr.c): terms in evaluation
 * order, the last one the result.  A leaf (op == OP_COUNT) reads operand
 * `leaf`; other terms apply op to their kids with int/float attributes
 * (names point into `names`).  128 terms: a long elementwise chain becomes
 * few loops (LLVM's cost per function dominates a short one's). */
#define IR_EW_MAX 128
#define IR_EW_MAXATTR 3
typedef struct IrEwTerm {
	Op op;
	int leaf;
	int nkid, kid[3];
	int nattr;
	Attr attr[IR_EW_MAXATTR];
} IrEwTerm;
typedef struct IrEwExpr {
	int n;
	IrEwTerm t[IR_EW_MAX];
	char names[1024];
} IrEwExpr;
/* Ops a fused elementwise expression may contain. */
bool ir_ew_fusable(Op op);
/* Parse s over nin operands; false with a message in err on bad input. */
bool ir_ew_parse(const char *s, int nin, IrEwExpr *e, char *err, size_t errn);
/* Print e into buf; false if it does not fit. */
bool ir_ew_print(const IrEwExpr *e, char *buf, size_t n);

/* Text form (.kir).  Printing is deterministic; parse(print(g)) prints the
 * same bytes. */
void ir_print(const Graph *g, FILE *f);
Graph *ir_parse(const char *text, size_t len, const char *file, Diag *d);
/* Graphviz dot, fused nodes marked (ir/dot.c). */
void ir_print_dot(const Graph *g, FILE *f);

/* Checks single definition, topological order, operand counts, and that
 * each node's result type equals what its shape rule infers. */
bool ir_verify(Graph *g, Diag *d);

#endif
