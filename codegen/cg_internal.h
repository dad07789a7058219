/* Shared between the codegen files, bottom to top: the per-module state,
 * the builders (cg_build.c), inline math (cg_math.c), activations
 * (cg_act.c), layouts and windows (cg_layout.c, cg_geo.c), the op
 * families, integer quantization (cg_quant.c) and the integer forms
 * (cg_int.c), the table that lowers a node (cg_lower.c).  A file calls only
 * into the sections above its own in this list. */
#ifndef KILN_CG_INTERNAL_H
#define KILN_CG_INTERNAL_H

#include <llvm-c/Core.h>
#include <llvm-c/Orc.h>

#include "act.h"
#include "codegen.h"

typedef struct Cg {
	Graph *g;
	const CgOptions *o;
	Diag *d;
	LLVMContextRef ctx;
	LLVMOrcThreadSafeContextRef tsc;  /* JIT: owns ctx */
	LLVMModuleRef mod;
	LLVMBuilderRef b;
	LLVMValueRef fn;          /* NAME_run */
	LLVMTypeRef f32, i8, i32, i64, ptr, vf;  /* vf: <lanes x float> */
	int lanes;                /* float lanes of the target's native vector */
	int fregs;                /* registers that hold one vf (scalar targets: FP regs / lanes) */
	LLVMValueRef *buf;        /* per value: its buffer pointer in the function being built */
	LLVMValueRef *cbuf;       /* per constant: its global (module-wide) */
	LLVMValueRef args[3];     /* inputs, outputs, workspace */
	bool reference;           /* plain lowerings only (tests compare against them) */
	bool soft_float;          /* no FPU: float arithmetic is compiler-runtime calls, and
				   * what would be a libm call (sqrtf) is built inline instead */
	LLVMValueRef zero_f32;    /* a constant 0.0f global, made on first use */
	bool keep_loops;          /* loops being built are register-blocked kernels: not re-vectorized */
	LLVMValueRef part, nparts; /* i64 params of the node function: which share of its work */
} Cg;

/* ---- builders (cg_build.c) ------------------------------------------------ */

LLVMValueRef cg_i64(Cg *c, int64_t v);
LLVMValueRef cg_f32(Cg *c, double v);
/* A scalar constant s, or s splat over ty when ty is a vector type. */
LLVMValueRef cg_splat_const(LLVMValueRef s, LLVMTypeRef ty);
/* A float constant of type ty (f32, or f64 when ty's elements are): a
 * scalar, or splat over a vector. */
LLVMValueRef cg_fconst(Cg *c, LLVMTypeRef ty, double v);
/* Weights as read-only globals: raw bytes, 64-byte aligned. */
LLVMValueRef cg_const_blob(Cg *c, const char *name, const void *data, size_t bytes);
/* A read-only f32 zero in the module, for loads that must read zero. */
LLVMValueRef cg_zero_f32(Cg *c);
/* Elements moved as integers of their size (any dtype, bit-exact), and
 * elements computed on (f32, f64 or the integer itself). */
LLVMTypeRef cg_bits_type(Cg *c, DType dt);
LLVMTypeRef cg_num_type(Cg *c, DType dt);

/* &base[idx] for f32 (or the given element type). */
LLVMValueRef cg_gep(Cg *c, LLVMTypeRef elem, LLVMValueRef base, LLVMValueRef idx);
LLVMValueRef cg_loadf(Cg *c, LLVMValueRef base, LLVMValueRef idx);
void cg_storef(Cg *c, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx);
/* base[i] of element type t. */
LLVMValueRef cg_load(Cg *c, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef i);
void cg_store(Cg *c, LLVMTypeRef t, LLVMValueRef v, LLVMValueRef base, LLVMValueRef i);
/* A vector of c->lanes floats at &base[idx], only float-aligned. */
LLVMValueRef cg_vload(Cg *c, LLVMValueRef base, LLVMValueRef idx);
/* An alloca in the current function's entry block. */
LLVMValueRef cg_entry_alloca(Cg *c, LLVMTypeRef ty);
/* Element strides of a dense row-major tensor. */
void cg_row_strides(int rank, const int64_t *dims, int64_t *s);
/* Strides of t's elements as seen from an output of rank r with dims od
 * (0 where t broadcasts). */
void cg_bcast_strides(const Type *t, int r, const int64_t *od, int64_t *st);

/* Counted loop [start, end) with a constant step; iv is the i64 index. */
typedef struct Loop {
	LLVMBasicBlockRef head, body, exit, pre;
	LLVMValueRef iv, next;
} Loop;
LLVMValueRef cg_loop_begin(Cg *c, Loop *l, LLVMValueRef start, LLVMValueRef end);
void cg_loop_end(Cg *c, Loop *l, int64_t step);
/* cg_loop_end, the loop never unrolled: over constant weights a fully
 * unrolled nest lets LLVM fold the weights into wider vector constants. */
void cg_loop_end_rolled(Cg *c, Loop *l, int64_t step);
/* if (cond) { ... } : returns the block after; caller positions into then. */
LLVMBasicBlockRef cg_if_begin(Cg *c, LLVMValueRef cond);
void cg_if_end(Cg *c, LLVMBasicBlockRef after);
/* 0 <= i < n, as one unsigned compare. */
LLVMValueRef cg_in_range(Cg *c, LLVMValueRef i, int64_t n);
/* [lo, hi) of n items for this part: n*part/nparts in 32-bit arithmetic
 * (no 64-bit division helpers on 32-bit targets). */
void cg_part_range(Cg *c, int64_t n, LLVMValueRef *lo, LLVMValueRef *hi);

LLVMValueRef cg_call_intr(Cg *c, const char *name, LLVMTypeRef *tys, int ntys, LLVMValueRef *args, int nargs);
LLVMValueRef cg_splat(Cg *c, LLVMValueRef scalar, LLVMTypeRef ty);
LLVMValueRef cg_fabs(Cg *c, LLVMValueRef x);
/* a*b + d, fused or not as the target likes. */
LLVMValueRef cg_fmuladd(Cg *c, LLVMValueRef a, LLVMValueRef b, LLVMValueRef d);
/* min/max that keep a NaN in a (the comparison is false for NaN). */
LLVMValueRef cg_fmin(Cg *c, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_fmax(Cg *c, LLVMValueRef a, LLVMValueRef b);
void cg_prefetch(Cg *c, LLVMValueRef p);                      /* read hint, all cache levels */
LLVMValueRef cg_hsum(Cg *c, LLVMValueRef v);                 /* sum of a vector's lanes */
/* Sum of n contiguous floats from p, vectorized (not in serial order). */
LLVMValueRef cg_sum_f32(Cg *c, LLVMValueRef p, int64_t n);

/* ---- shorthands, one instruction each ------------------------------------ */

static inline LLVMValueRef cg_buf(Cg *c, ValueId v) { return v >= 0 ? c->buf[v] : NULL; }  /* v's buffer */
static inline const Type *cg_ty(Cg *c, ValueId v) { return ir_value_type(c->g, v); }
static inline LLVMValueRef cg_add(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWAdd(c->b, a, b, ""); }
static inline LLVMValueRef cg_sub(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWSub(c->b, a, b, ""); }
static inline LLVMValueRef cg_mul(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWMul(c->b, a, b, ""); }
static inline LLVMValueRef cg_and(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAnd(c->b, a, b, ""); }
static inline LLVMValueRef cg_or(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildOr(c->b, a, b, ""); }
static inline LLVMValueRef cg_fadd(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(c->b, a, b, ""); }
static inline LLVMValueRef cg_fsub(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(c->b, a, b, ""); }
static inline LLVMValueRef cg_fmul(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(c->b, a, b, ""); }
static inline LLVMValueRef cg_fdiv(Cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFDiv(c->b, a, b, ""); }
static inline LLVMValueRef cg_fneg(Cg *c, LLVMValueRef a) { return LLVMBuildFNeg(c->b, a, ""); }
static inline LLVMValueRef cg_sel(Cg *c, LLVMValueRef k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildSelect(c->b, k, a, b, ""); }
static inline LLVMValueRef cg_fcmp(Cg *c, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFCmp(c->b, p, a, b, ""); }
static inline LLVMValueRef cg_icmp(Cg *c, LLVMIntPredicate p, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildICmp(c->b, p, a, b, ""); }
/* NaN-propagating max of two values (x wins when it is NaN or larger). */
static inline LLVMValueRef cg_max_nan(Cg *c, LLVMValueRef x, LLVMValueRef m)
{
	return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealUGT, x, m, ""), x, m, "");
}

/* ---- inline math (cg_math.c) -------------------------------------------------
 * f32 scalars or vectors, no libm: results within a few ulp of the
 * correctly rounded value over the whole domain, IEEE specials as C99
 * Annex F says (NaN in, NaN out). */

LLVMValueRef cg_exp(Cg *c, LLVMValueRef x);
/* sqrt, correctly rounded: llvm.sqrt, or integer steps on a core without
 * an FPU (no libm). */
LLVMValueRef cg_sqrt(Cg *c, LLVMValueRef x);
LLVMValueRef cg_log(Cg *c, LLVMValueRef x);
LLVMValueRef cg_tanh(Cg *c, LLVMValueRef x);
LLVMValueRef cg_sigmoid(Cg *c, LLVMValueRef x);
/* floor (up = false) or ceil (up = true) without libm. */
LLVMValueRef cg_round_dir(Cg *c, LLVMValueRef x, bool up);
LLVMValueRef cg_hard_sigmoid(Cg *c, LLVMValueRef x, double a, double b);  /* max(0, min(1, a*x + b)) */
LLVMValueRef cg_gelu(Cg *c, LLVMValueRef x, bool tanh_form);               /* f32 only */
LLVMValueRef cg_sin(Cg *c, LLVMValueRef x);
LLVMValueRef cg_cos(Cg *c, LLVMValueRef x);
LLVMValueRef cg_tan(Cg *c, LLVMValueRef x);
LLVMValueRef cg_asin(Cg *c, LLVMValueRef x);
LLVMValueRef cg_acos(Cg *c, LLVMValueRef x);
LLVMValueRef cg_atan(Cg *c, LLVMValueRef x);
LLVMValueRef cg_sinh(Cg *c, LLVMValueRef x);
LLVMValueRef cg_cosh(Cg *c, LLVMValueRef x);
LLVMValueRef cg_asinh(Cg *c, LLVMValueRef x);
LLVMValueRef cg_acosh(Cg *c, LLVMValueRef x);
LLVMValueRef cg_atanh(Cg *c, LLVMValueRef x);
LLVMValueRef cg_erf(Cg *c, LLVMValueRef x);
LLVMValueRef cg_pow(Cg *c, LLVMValueRef x, LLVMValueRef y);   /* C powf semantics */
LLVMValueRef cg_round_even(Cg *c, LLVMValueRef x);             /* nearest, ties to even */
LLVMValueRef cg_fmod(Cg *c, LLVMValueRef x, LLVMValueRef y);   /* C fmodf: sign of x */

/* Test support for the above (cg_math_jit.c; tests/unit/test_math.c,
 * which cannot include llvm-c and so repeats these prototypes).  A kernel
 * applies the named builder ("sin", ..., "pow", "round_even", "fmod") to
 * `lanes` floats (1: the scalar form): out[i] = f(x[i]) or f(x[i], y[i]).
 * cpu NULL means the host's cpu and features.  Errors come back as
 * malloc'd *err. */
typedef struct CgMathJit CgMathJit;
typedef void (*CgMathFn)(const float *x, const float *y, float *out);
/* JIT-compiled at -O2 for the host; *ir (if ir) gets the optimized module. */
CgMathJit *cg_math_jit(const char *name, int lanes, const char *cpu, char **ir, char **err);
CgMathFn cg_math_jit_fn(CgMathJit *j);
void cg_math_jit_free(CgMathJit *j);
/* Every kernel compiled to one object for the target: its undefined
 * symbols, space-separated and malloc'd ("" when it links alone). */
char *cg_math_undefined(const char *triple, const char *cpu, const char *features, int lanes, char **err);

/* ---- activations (cg_act.c) -------------------------------------------------- */

/* An activation of the registry (ir/act.h): computed by an elementwise op
 * (ir_act_of_op) or a fused epilogue (ir_act_of_epilogue). */
LLVMValueRef cg_act_apply(Cg *c, Act a, LLVMValueRef x);        /* x: f32 scalar or vector */
void cg_act_inplace(Cg *c, Act a, LLVMValueRef y, int64_t num);  /* y[0..num) = act(y) */

/* ---- layouts (cg_layout.c) and windows (cg_geo.c) ------------------------------ */

/* Offset of pixel pix of plane p (= image * C + channel) in a 4-d value of
 * type t: row-major planes or channel blocks. */
LLVMValueRef cg_plane_at(Cg *c, const Type *t, LLVMValueRef p, LLVMValueRef pix);
/* For an elementwise result t[0] in channel blocks and its operands
 * t[1..nin]: point each at its row-major view, kept in view[]. */
void cg_blocked_views(const Type **t, int nin, Type *view);

/* Conv/pool geometry with 1-D mapped onto 2-D (H = 1). */
typedef struct Geo {
	int64_t N, C, H, W, M, KH, KW, OH, OW, sh, sw, dh, dw, ph, pw, pe_h, pe_w, group;
} Geo;
Geo cg_geometry(Cg *c, const Node *n, bool conv);
/* Are the channel-blocked operands and result of conv or pool n (if any)
 * in blocks of one vector, as the vector kernels read them? */
bool cg_blocks_native(Cg *c, const Node *n);
bool cg_any_blocked(Cg *c, const Node *n);
/* Output positions [lo, hi) along one spatial dim whose windows stay
 * inside the input. */
void cg_interior(int64_t in, int64_t out, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t *lo, int64_t *hi);
/* A task's share [lo, hi) of channel blocks whose last, `full`, may be
 * partial: where the loop over whole blocks ends; whether `full` is its. */
LLVMValueRef cg_part_whole_end(Cg *c, LLVMValueRef hi, int64_t full);
LLVMValueRef cg_part_owns(Cg *c, LLVMValueRef lo, LLVMValueRef hi, int64_t full);

/* ---- op families: lowerings, kernels, and what they cannot take ---------------- */

void cg_lower_ew(Cg *c, const Node *n);          /* cg_ew.c: every elementwise op */
void cg_lower_fused_ew(Cg *c, const Node *n);
/* One elementwise op (n's op and attributes) on values v of dtype dt. */
LLVMValueRef cg_ew_compute(Cg *c, const Node *n, DType dt, LLVMValueRef *v);
void cg_lower_relayout(Cg *c, const Node *n);    /* cg_layout.c */

void cg_conv_depthwise(Cg *c, const Node *n);    /* cg_conv_dw.c: also 2-D max pool */
void cg_dw_blocked(Cg *c, const Node *n);
void cg_conv_blocked(Cg *c, const Node *n);      /* cg_conv_blocked.c */
void cg_conv_pointwise(Cg *c, const Node *n);
bool cg_pw_wins(Cg *c, const Geo *g);
void cg_lower_conv(Cg *c, const Node *n);        /* cg_conv.c */
bool cg_conv_splits(Cg *c, const Node *n);
void cg_lower_gemm(Cg *c, const Node *n);        /* cg_matmul.c */
void cg_lower_matmul(Cg *c, const Node *n);

bool cg_pool_kernel(Cg *c, const Node *n);       /* cg_window.c: max pool through cg_conv_dw.c */
void cg_lower_pool(Cg *c, const Node *n);
void cg_lower_pool_nd(Cg *c, const Node *n);
void cg_lower_global_avgpool(Cg *c, const Node *n);
void cg_lower_global_maxpool(Cg *c, const Node *n);
void cg_lower_conv_transpose(Cg *c, const Node *n);
void cg_lower_col2im(Cg *c, const Node *n);

void cg_lower_batchnorm(Cg *c, const Node *n);   /* cg_norm.c */
void cg_lower_reduce(Cg *c, const Node *n);
void cg_lower_softmax(Cg *c, const Node *n);
void cg_lower_layer_norm(Cg *c, const Node *n);

void cg_lower_copy(Cg *c, const Node *n);        /* cg_data.c */
void cg_lower_transpose(Cg *c, const Node *n);
void cg_lower_concat(Cg *c, const Node *n);
void cg_lower_pad(Cg *c, const Node *n);
void cg_lower_slice(Cg *c, const Node *n);
void cg_lower_gather(Cg *c, const Node *n);
void cg_lower_tile(Cg *c, const Node *n);
void cg_lower_trilu(Cg *c, const Node *n);
void cg_lower_arg(Cg *c, const Node *n);
void cg_lower_cumsum(Cg *c, const Node *n);
void cg_lower_softmax_like(Cg *c, const Node *n);
const char *cg_data_unsupported(const Graph *g, const Node *n);

void cg_lower_scatter_elements(Cg *c, const Node *n);  /* cg_index.c */
void cg_lower_scatter_nd(Cg *c, const Node *n);
void cg_lower_gather_nd(Cg *c, const Node *n);
void cg_lower_topk(Cg *c, const Node *n);
void cg_lower_one_hot(Cg *c, const Node *n);
void cg_lower_grid_sample(Cg *c, const Node *n);
void cg_lower_reverse_sequence(Cg *c, const Node *n);
void cg_lower_max_unpool(Cg *c, const Node *n);
void cg_lower_maxpool_index(Cg *c, const Node *n);
const char *cg_index_unsupported(const Graph *g, const Node *n);

void cg_lower_resize(Cg *c, const Node *n);  /* cg_resize.c */
void cg_lower_einsum(Cg *c, const Node *n);  /* cg_einsum.c */
void cg_lower_det(Cg *c, const Node *n);     /* cg_einsum.c */
void cg_lower_tfidf(Cg *c, const Node *n);   /* cg_text.c */

/* ---- integer quantization (cg_quant.c) ---------------------------------- */

/* saturate(round_half_even(acc * mult / 2^shift) + zero, lo, hi): i32
 * scalars or vectors of one shape (ir_requantize bit for bit; shift >= 1). */
LLVMValueRef cg_requant(Cg *c, LLVMValueRef acc, LLVMValueRef mult, LLVMValueRef shift, LLVMValueRef zero,
			LLVMValueRef lo, LLVMValueRef hi);
/* ir_requant_of for node n's multiplier r (a multiplier 0 gets shift 1). */
Requant cg_requant_of(Cg *c, const Node *n, double r);
void cg_qrange(DType dt, int32_t *lo, int32_t *hi);   /* the dtype's integer range */
/* The range of n's quantized result narrowed by its fused relu or clip. */
void cg_int_bounds(const Node *n, const Type *ty, int32_t *lo, int32_t *hi);
/* base[i] of an integer dtype (at most 32 bits), widened to i32. */
LLVMValueRef cg_load_i32(Cg *c, DType dt, LLVMValueRef base, LLVMValueRef i);
void cg_lower_quantize(Cg *c, const Node *n);
void cg_lower_dequantize(Cg *c, const Node *n);
void cg_lower_lut(Cg *c, const Node *n);
void cg_lower_int_softmax(Cg *c, const Node *n);

/* ---- the integer forms (cg_int.c) -----------------------------------------------
 * The plain lowerings of the integer forms (quantized operands): i32
 * accumulation, one cg_requant, no float. */

void cg_lower_int_conv(Cg *c, const Node *n);
void cg_lower_int_gemm(Cg *c, const Node *n);
void cg_lower_int_matmul(Cg *c, const Node *n);
void cg_lower_int_ew(Cg *c, const Node *n);    /* add, mul */
void cg_lower_matmul_integer(Cg *c, const Node *n);  /* ONNX MatMulInteger, za at run time */
void cg_lower_conv_integer(Cg *c, const Node *n);    /* ONNX ConvInteger, zx at run time */
void cg_lower_int_pool(Cg *c, const Node *n);  /* maxpool, avgpool, global_maxpool, global_avgpool */

/* ---- x86 int8 kernels (cg_int_x86.c, cg_int_x86_dw.c) ------------------------------ */

/* The integer forms of conv and of gemm/matmul with constant 8-bit
 * weights through the target's dot-product instructions (AVX-512 VNNI,
 * AVX-VNNI, AVX2): true when the node's code was emitted, false (nothing
 * emitted) when the kernels do not take it: weights not constant, grouped
 * conv, transposed A, no fitting ISA, c->reference.  Bit-exact with
 * ir_requantize's definition.  KILN_INT8_DOT=emulate runs the VNNI
 * structure with the dot in plain LLVM IR (tests on cpus without VNNI). */
bool cg_int_conv_fast(Cg *c, const Node *n);
bool cg_int_matmul_fast(Cg *c, const Node *n);   /* gemm and matmul */
/* i32 lanes of these kernels' vectors on the node function's cpu (8 AVX2,
 * 16 AVX-512BW; 16 under KILN_INT8_DOT=emulate, the AVX-512 structure on
 * any x86), 0 when they do not apply (as cg_int_conv_fast's ISA). */
int cg_x86_int_lanes(Cg *c);
/* cg_const_blob aligned to `align` bytes only: the kernels' small
 * tables (bias, multipliers, shifts, corrections), which cg_const_blob's
 * 64 would pad by up to 63 bytes each. */
LLVMValueRef cg_x86_blob(Cg *c, const char *name, const void *data, size_t bytes, unsigned align);
/* vpmaddwd: <L x i32> sums of the products of a's and b's i16 pairs
 * (<2L x i16>); plain IR under KILN_INT8_DOT=emulate. */
LLVMValueRef cg_x86_madd16(Cg *c, LLVMValueRef a, LLVMValueRef b);
/* cg_requant of an <L x i32> acc in 10 to 18 instructions (vpmuldq, the
 * rounding in unsigned 64-bit lanes, i32 min/max), bit for bit the same
 * where cg_x86_requant_fits(q, accmax, zero) has X86RQ_FITS for every
 * lane's multiplier (|acc| <= accmax); `fit` is those answers and-ed
 * together: X86RQ_NOTIES (no acc * mult is a tie: no parity term) and
 * X86RQ_HIGH (shift >= 32) make it shorter.  mult, shift, zero, lo, hi:
 * i32 scalars (one for all lanes) or <L x i32>; lo, hi NULL: no bound. */
enum { X86RQ_FITS = 1, X86RQ_NOTIES = 2, X86RQ_HIGH = 4 };
int cg_x86_requant_fits(Requant q, int64_t accmax, int32_t zero);
LLVMValueRef cg_x86_requant(Cg *c, int fit, LLVMValueRef acc, LLVMValueRef mult, LLVMValueRef shift, LLVMValueRef zero,
			    LLVMValueRef lo, LLVMValueRef hi);
/* Over channel planes, pixels in the lanes (cg_int_x86_dw.c): depthwise
 * conv (group = C, any multiplier, constant weights) and max pool of 8-bit
 * values; as cg_int_conv_fast, true when emitted. */
bool cg_int_dw_fast(Cg *c, const Node *n);
bool cg_int_pool_fast(Cg *c, const Node *n);

/* ---- Arm and RISC-V int8 kernels (cg_int_arm.c, cg_int_rvv.c) ------------------------------- */

/* The integer forms of conv and of gemm/matmul with constant 8-bit
 * weights on AArch64 (sdot with the dot-product extension, smull/smlal +
 * sadalp without) and on rv64gcv (vwmacc.vx on bytes widened to i16): true when the
 * node's code was emitted, false (nothing emitted) for another target and
 * for what they do not take (as cg_int_conv_fast).  Bit-exact with
 * ir_requantize's definition. */
bool cg_int_conv_arm(Cg *c, const Node *n);
bool cg_int_matmul_arm(Cg *c, const Node *n);
bool cg_int_conv_rvv(Cg *c, const Node *n);
bool cg_int_matmul_rvv(Cg *c, const Node *n);

/* One ISA's step for the kernels cg_int_arm.c builds for both: products of
 * s8 bytes (u8 activations with their top bit flipped) over K in units of
 * `unit` bytes, 16-byte vectors of 16/unit outputs.  The accumulator is an
 * <acc_lanes x i32>; `paired` steps take two units at once, their
 * products summed in i16 (exact for pair-safe weights only: no byte
 * position where both units' weights are -128). */
typedef struct ByteDot ByteDot;
struct ByteDot {
	int unit;                /* k bytes of one output in a vector: 4 (one i32 lane) or 1 */
	int acc_lanes;           /* i32 lanes of an accumulator */
	int MR, NR;              /* tile: broadcast rows x vectors */
	int acc_regs;            /* vector registers an accumulator takes */
	int rq_lanes;            /* lanes requantized at once (cg_requant's i64 lanes: register pressure) */
	bool paired;             /* steps of two units */
	const ByteDot *pairs;    /* the paired form, for pair-safe weights (or NULL) */
	/* The broadcast operands of cnt rows at p + r*stride (r < cnt). */
	void (*bcast)(Cg *c, LLVMValueRef p, int64_t stride, int cnt, LLVMValueRef *out);
	/* acc + the products of x[i] (<16 x i8>) and b[i], i < (paired ? 2 : 1). */
	LLVMValueRef (*step)(Cg *c, LLVMValueRef acc, const LLVMValueRef *x, const LLVMValueRef *b);
	/* The accumulator as <16/unit x i32> (NULL: it is). */
	LLVMValueRef (*finish)(Cg *c, LLVMValueRef acc);
};
/* The kernels with dot d (cg_int_arm.c); false as above. */
bool cg_bytedot_conv(Cg *c, const Node *n, const ByteDot *d);
bool cg_bytedot_matmul(Cg *c, const Node *n, const ByteDot *d);
/* The node function's target: whether its triple starts with arch and its
 * vectors are 16 bytes (the kernels' width), and its cpu (cpu[cap]) and
 * malloc'd features. */
bool cg_bytedot_target(Cg *c, const char *arch, char *cpu, size_t cap, char **features);

/* ---- Cortex-M DSP int8 kernels (cg_int_dsp.c) ------------------------------------------- */

/* The integer forms of conv (one group: im2col; depthwise of kernel width
 * 3) and of gemm/matmul with constant 8-bit weights through SMLAD on
 * SXTB16-unpacked pairs, for cores with the DSP extension (thumbv7em:
 * Cortex-M4/M7; Armv8-M Mainline with +dsp: M33...): true when the node's
 * code was emitted, false (nothing emitted) otherwise: another target,
 * c->reference, weights not constant or not fitting int8 once their zero
 * point is taken off, a shape the kernels do not take.  Bit-exact with
 * ir_requantize's definition. */
bool cg_int_conv_dsp(Cg *c, const Node *n);
bool cg_int_matmul_dsp(Cg *c, const Node *n);    /* gemm and matmul */

/* ---- lowering a node (cg_lower.c) ------------------------------------------------ */

/* Lower one node; false with a diagnostic if unsupported. */
bool cg_lower_node(Cg *c, const Node *n);
/* Why a node cannot be lowered, or NULL. */
const char *cg_unsupported(const Graph *g, const Node *n);
/* Does this node's lowering honour c->part/c->nparts (so it can run as
 * tasks on several threads)? */
bool cg_node_splits(Cg *c, const Node *n);

#endif
