/* Lowering one node: a table with a row per op, in the manner of
 * ir/shape.c's rules[]: the function that emits the op's code, whether
 * that code honours c->part/c->nparts (the node can then run as tasks on
 * several threads), and what the lowering cannot take.  Adding an op is a
 * row here; nothing else in codegen dispatches on ops. */
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* ---- what the lowerings cannot take ------------------------------------------------------ */

/* Most float lowerings: f32 only (the importer converts other floats). */
static const char *only_f32(const Graph *g, const Node *n)
{
	return ir_type_get(g, g->values.v[n->out].type)->dt == DT_F32 ? NULL
	       : "only f32 is supported for this op by the backend yet";
}

/* The arithmetic ops that also take f64 and integers. */
static const char *numeric(const Graph *g, const Node *n)
{
	DType dt = ir_type_get(g, g->values.v[n->out].type)->dt;
	if (dt != DT_F32 && dt != DT_F64 && dt != DT_I32 && dt != DT_I64 && dt != DT_I8 && dt != DT_U8 &&
	    dt != DT_I16 && dt != DT_U16 && dt != DT_U32 && dt != DT_U64)
		return "dtype not supported by the backend yet (f32, f64 and integers only)";
	return NULL;
}

/* Data movement copies bytes of any type but f16/bf16. */
static const char *movable(const Graph *g, const Node *n)
{
	DType dt = ir_type_get(g, g->values.v[n->out].type)->dt;
	return dt == DT_F16 || dt == DT_BF16 ? "f16/bf16 tensors are not supported by the backend yet" : NULL;
}

/* Pad also needs its fill value in the element type. */
static const char *pad_fill(const Graph *g, const Node *n)
{
	DType dt = ir_type_get(g, g->values.v[n->out].type)->dt;
	const char *why = movable(g, n);
	if (!why && (ir_dtype_is_f8(dt) || dt == DT_I4 || dt == DT_U4))
		why = "pad of float8 or 4-bit tensors is not supported by the backend yet";
	return why;
}

/* ---- the table ----------------------------------------------------------------------------- */

typedef struct CgRule {
	void (*lower)(Cg *c, const Node *n);                        /* emits n's code */
	const char *(*unsupported)(const Graph *g, const Node *n);  /* why n cannot be lowered, or NULL; NULL: all it admits */
	bool (*splits)(Cg *c, const Node *n);                       /* the code honours c->part/c->nparts; NULL: never (integer forms: never) */
	void (*lower_int)(Cg *c, const Node *n);                    /* the integer form (quantized operands), or NULL */
} CgRule;

/* Elementwise ops, every one through the one broadcasting loop (cg_ew.c);
 * the arithmetic ones take f64 and integers, the first activations and
 * math f32, the rest every dtype (halves widened to f32). */
#define EW_NUMERIC {cg_lower_ew, numeric}
#define EW_F32 {cg_lower_ew, only_f32}
#define EW_ANY {cg_lower_ew, NULL}

static const CgRule rules[OP_COUNT] = {
	/* convolution and matrix products (cg_conv*.c, cg_matmul.c) */
	[OP_CONV] = {cg_lower_conv, only_f32, cg_conv_splits, cg_lower_int_conv},
	[OP_GEMM] = {cg_lower_gemm, only_f32, NULL, cg_lower_int_gemm},
	[OP_MATMUL] = {cg_lower_matmul, only_f32, NULL, cg_lower_int_matmul},
	[OP_CONV_TRANSPOSE] = {cg_lower_conv_transpose, only_f32},
	[OP_COL2IM] = {cg_lower_col2im, only_f32},
	[OP_EINSUM] = {cg_lower_einsum},  /* the shape rules admit only what it lowers */
	[OP_DET] = {cg_lower_det, only_f32},

	/* elementwise (cg_ew.c) */
	[OP_ADD] = {cg_lower_ew, numeric, NULL, cg_lower_int_ew}, [OP_SUB] = EW_NUMERIC,
	[OP_MUL] = {cg_lower_ew, numeric, NULL, cg_lower_int_ew}, [OP_DIV] = EW_NUMERIC,
	[OP_ABS] = EW_NUMERIC, [OP_NEG] = EW_NUMERIC,
	[OP_RELU] = EW_F32, [OP_LEAKY_RELU] = EW_F32, [OP_SIGMOID] = EW_F32, [OP_TANH] = EW_F32, [OP_CLIP] = EW_F32,
	[OP_EXP] = EW_F32, [OP_LOG] = EW_F32, [OP_SQRT] = EW_F32, [OP_RECIPROCAL] = EW_F32,
	[OP_FLOOR] = EW_F32, [OP_CEIL] = EW_F32,
	[OP_SIN] = EW_ANY, [OP_COS] = EW_ANY, [OP_TAN] = EW_ANY, [OP_ASIN] = EW_ANY, [OP_ACOS] = EW_ANY,
	[OP_ATAN] = EW_ANY, [OP_SINH] = EW_ANY, [OP_COSH] = EW_ANY, [OP_ASINH] = EW_ANY, [OP_ACOSH] = EW_ANY,
	[OP_ATANH] = EW_ANY, [OP_ERF] = EW_ANY, [OP_ROUND] = EW_ANY, [OP_SIGN] = EW_ANY, [OP_SOFTPLUS] = EW_ANY,
	[OP_SOFTSIGN] = EW_ANY, [OP_MISH] = EW_ANY, [OP_HARD_SWISH] = EW_ANY, [OP_HARD_SIGMOID] = EW_ANY,
	[OP_ELU] = EW_ANY, [OP_SELU] = EW_ANY, [OP_CELU] = EW_ANY, [OP_THRESHOLDED_RELU] = EW_ANY,
	[OP_SHRINK] = EW_ANY, [OP_GELU] = EW_ANY, [OP_NOT] = EW_ANY, [OP_BITWISE_NOT] = EW_ANY,
	[OP_ISNAN] = EW_ANY, [OP_ISINF] = EW_ANY, [OP_CAST] = EW_ANY, [OP_EXPAND] = EW_ANY,
	[OP_POW] = EW_ANY, [OP_MOD] = EW_ANY, [OP_MIN] = EW_ANY, [OP_MAX] = EW_ANY,
	[OP_EQUAL] = EW_ANY, [OP_LESS] = EW_ANY, [OP_LESS_EQUAL] = EW_ANY, [OP_GREATER] = EW_ANY,
	[OP_GREATER_EQUAL] = EW_ANY, [OP_AND] = EW_ANY, [OP_OR] = EW_ANY, [OP_XOR] = EW_ANY,
	[OP_BITWISE_AND] = EW_ANY, [OP_BITWISE_OR] = EW_ANY, [OP_BITWISE_XOR] = EW_ANY, [OP_BIT_SHIFT] = EW_ANY,
	[OP_PRELU] = EW_ANY, [OP_WHERE] = EW_ANY,
	[OP_FUSED_EW] = {cg_lower_fused_ew, only_f32},

	/* pooling (cg_window.c, max pool also through cg_conv_dw.c) */
	[OP_MAXPOOL] = {cg_lower_pool, only_f32, cg_pool_kernel, cg_lower_int_pool},
	[OP_AVGPOOL] = {cg_lower_pool, only_f32, NULL, cg_lower_int_pool},
	[OP_LPPOOL] = {cg_lower_pool_nd, only_f32},
	[OP_GLOBAL_AVGPOOL] = {cg_lower_global_avgpool, only_f32, NULL, cg_lower_int_pool},
	[OP_GLOBAL_MAXPOOL] = {cg_lower_global_maxpool, only_f32, NULL, cg_lower_int_pool},

	/* normalization and reductions (cg_norm.c) */
	[OP_BATCHNORM] = {cg_lower_batchnorm, only_f32},
	[OP_SOFTMAX] = {cg_lower_softmax, only_f32, NULL, cg_lower_int_softmax},
	[OP_LAYER_NORM] = {cg_lower_layer_norm, only_f32},
	[OP_REDUCE_MEAN] = {cg_lower_reduce, only_f32},
	[OP_REDUCE_SUM] = {cg_lower_reduce, only_f32},
	[OP_REDUCE_MAX] = {cg_lower_reduce, only_f32},
	[OP_REDUCE_MIN] = {cg_lower_reduce, only_f32},
	[OP_REDUCE_PROD] = {cg_lower_reduce, only_f32},

	/* data movement and indexing (cg_data.c) */
	/* (data movement moves quantized integers as they are: the same lowering) */
	[OP_RESHAPE] = {cg_lower_copy, movable, NULL, cg_lower_copy},   /* views: code only when the result has a buffer of its own */
	[OP_IDENTITY] = {cg_lower_copy, movable, NULL, cg_lower_copy},  /* (a graph output); otherwise it aliases its input */
	[OP_TRANSPOSE] = {cg_lower_transpose, movable, NULL, cg_lower_transpose},
	[OP_CONCAT] = {cg_lower_concat, movable, NULL, cg_lower_concat},  /* operands written in place move nothing */
	[OP_PAD] = {cg_lower_pad, pad_fill},
	[OP_SLICE] = {cg_lower_slice, NULL, NULL, cg_lower_slice},
	[OP_GATHER] = {cg_lower_gather, NULL, NULL, cg_lower_gather},
	[OP_GATHER_ELEMENTS] = {cg_lower_gather},
	[OP_TILE] = {cg_lower_tile},
	[OP_TRILU] = {cg_lower_trilu},
	[OP_ARGMAX] = {cg_lower_arg, cg_data_unsupported},
	[OP_ARGMIN] = {cg_lower_arg, cg_data_unsupported},
	[OP_CUMSUM] = {cg_lower_cumsum, cg_data_unsupported},
	[OP_LOG_SOFTMAX] = {cg_lower_softmax_like, cg_data_unsupported},
	[OP_HARDMAX] = {cg_lower_softmax_like, cg_data_unsupported},

	/* data-dependent indexing (cg_index.c) */
	[OP_SCATTER_ELEMENTS] = {cg_lower_scatter_elements, cg_index_unsupported},
	[OP_SCATTER_ND] = {cg_lower_scatter_nd, cg_index_unsupported},
	[OP_GATHER_ND] = {cg_lower_gather_nd},
	[OP_TOPK] = {cg_lower_topk},
	[OP_ONE_HOT] = {cg_lower_one_hot},
	[OP_GRID_SAMPLE] = {cg_lower_grid_sample, cg_index_unsupported},
	[OP_REVERSE_SEQUENCE] = {cg_lower_reverse_sequence},
	[OP_MAX_UNPOOL] = {cg_lower_max_unpool},
	[OP_MAXPOOL_INDEX] = {cg_lower_maxpool_index, cg_index_unsupported},

	/* the rest */
	[OP_RESIZE] = {cg_lower_resize, only_f32},    /* cg_resize.c */
	[OP_TFIDF] = {cg_lower_tfidf},                /* cg_text.c; the shape rules admit only what it lowers */
	[OP_RELAYOUT] = {cg_lower_relayout, only_f32},  /* cg_layout.c */

	/* quantization (cg_quant.c): always integer forms */
	[OP_QUANTIZE] = {cg_lower_quantize, NULL, NULL, cg_lower_quantize},
	[OP_DEQUANTIZE] = {cg_lower_dequantize, NULL, NULL, cg_lower_dequantize},
	[OP_QVIEW] = {cg_lower_copy, NULL, NULL, cg_lower_copy},
	[OP_LUT] = {cg_lower_lut, NULL, NULL, cg_lower_lut},
	[OP_MATMUL_INTEGER] = {cg_lower_matmul_integer},  /* cg_int.c: plain integers, on every target */
	[OP_CONV_INTEGER] = {cg_lower_conv_integer},
};

/* Does n compute on quantized operands (its integer form)? */
static bool integer_form(const Graph *g, const Node *n)
{
	for (int i = 0; i < n->nin; i++)
		if (n->in[i] >= 0 && ir_type_get(g, g->values.v[n->in[i]].type)->q)
			return true;
	return ir_type_get(g, g->values.v[n->out].type)->q != NULL;
}

bool cg_op_has_lowering(Op op)
{
	return op >= 0 && op < OP_COUNT && rules[op].lower;
}

const char *cg_unsupported(const Graph *g, const Node *n)
{
	const CgRule *r = &rules[n->op];
	if (integer_form(g, n))  /* the shape rules admit only what the integer lowerings take */
		return r->lower_int ? NULL : "no integer lowering for this op in the backend yet";
	if (!r->lower)
		return "no lowering for this op in the backend";
	return r->unsupported ? r->unsupported(g, n) : NULL;
}

bool cg_node_splits(Cg *c, const Node *n)
{
	const CgRule *r = &rules[n->op];
	/* splits speaks of the float lowering; the integer ones do all the work */
	return r->splits && !integer_form(c->g, n) && r->splits(c, n);
}

/* TEST ONLY: KILN_FAULT=NODE[@WHERE] perturbs the result of the node named
 * NODE after its lowering, so that tests can check that `kiln bisect`
 * finds a known fault (tests/e2e/test_bisect.py).  Element 0 moves by one
 * part in a thousand of (|x| + 1) for f32, by its lowest bit for any other
 * type.  WHERE limits it to the builds at -O1 and above ("opt") or to one
 * target architecture (Target.arch: "aarch64", "riscv64", ...); without it
 * every build is perturbed.  Never set it outside a test. */
static bool fault_here(Cg *c, const Node *n)
{
	const char *f = getenv("KILN_FAULT"), *at;
	if (!f || !*f || !n->name[0])
		return false;
	at = strchr(f, '@');
	size_t len = at ? (size_t)(at - f) : strlen(f);
	if (strlen(n->name) != len || strncmp(n->name, f, len))
		return false;
	if (!at)
		return true;
	if (!strcmp(at + 1, "opt"))
		return c->o->opt_level > 0;
	return c->o->target && !strcmp(c->o->target->arch, at + 1);
}

static void fault_inject(Cg *c, const Node *n)
{
	const Type *t = cg_ty(c, n->out);
	if (ir_type_numel(t) <= 0 || ir_dtype_size(t->dt) < 1)
		return;
	LLVMValueRef out = cg_buf(c, n->out), zero = cg_i64(c, 0);
	/* element 0 is in part 0 of a node split into parts */
	LLVMBasicBlockRef after = c->part ? cg_if_begin(c, cg_icmp(c, LLVMIntEQ, c->part, zero)) : NULL;
	if (t->dt == DT_F32) {
		LLVMValueRef x = cg_loadf(c, out, zero);
		LLVMValueRef d = cg_fmul(c, cg_fadd(c, cg_fabs(c, x), cg_f32(c, 1)), cg_f32(c, 1e-3));
		cg_storef(c, cg_fadd(c, x, d), out, zero);
	} else {
		LLVMTypeRef bt = cg_bits_type(c, t->dt);
		LLVMValueRef x = cg_load(c, bt, out, zero);
		cg_store(c, bt, LLVMBuildXor(c->b, x, LLVMConstInt(bt, 1, 0), ""), out, zero);
	}
	if (after)
		cg_if_end(c, after);
}

bool cg_lower_node(Cg *c, const Node *n)
{
	const char *why = cg_unsupported(c->g, n);
	if (why) {
		diag_node(c->d, c->g, n, "%s", why);
		return false;
	}
	(integer_form(c->g, n) ? rules[n->op].lower_int : rules[n->op].lower)(c, n);
	if (fault_here(c, n))
		fault_inject(c, n);
	return true;
}
