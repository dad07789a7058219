/* Unit tests for ir/: type interning, every op's shape rule, the .kir
 * printer and parser (round trips, hostile input), the verifier and
 * allocation-failure injection. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "small_graph.h"

/* ---- helpers ------------------------------------------------------------ */

static char *print_str(const Graph *g)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	ir_print(g, f);
	fclose(f);
	return buf;
}

static Graph *parse_str(const char *text, Diag *d)
{
	return ir_parse(text, strlen(text), "t.kir", d);
}

/* "f32[1,3,8]" (optionally "i8[4]{q}" for a per-tensor quant) -> TypeId. */
static TypeId ty(Graph *g, const char *s)
{
	char dt[16];
	size_t k = strcspn(s, "[");
	ck_assert_uint_lt(k, sizeof dt);
	memcpy(dt, s, k);
	dt[k] = 0;
	DType d = ir_dtype_from_name(dt);
	ck_assert_int_ne(d, DT_UNDEF);
	int64_t dims[IR_MAX_RANK];
	int rank = 0;
	const char *p = s + k + 1;
	while (*p && *p != ']') {
		char *e;
		dims[rank++] = strtoll(p, &e, 10);
		p = *e == ',' ? e + 1 : e;
	}
	const Quant *q = NULL;
	if (strstr(s, "{q}")) {
		float sc = 0.5f;
		int32_t z = 3;
		q = ir_quant(g, -1, 1, &sc, &z);
	}
	TypeId t = ir_type(g, d, rank, dims, q);
	ck_assert_int_ge(t, 0);
	return t;
}

/* Infer op over inputs of the given types ("_" = omitted operand).
 * Returns the result type text or "ERR: message" in a static buffer. */
static const char *infer(Op op, const char *const *types, int nin, const Attr *attrs, int nattr)
{
	static char out[1024];
	Graph *g = ir_graph_new("t");
	Diag d;
	diag_init(&d);
	ValueId in[64];
	for (int i = 0; i < nin; i++)
		in[i] = strcmp(types[i], "_") ? ir_add_input(g, NULL, ty(g, types[i])) : -1;
	TypeId t = ir_infer_type(g, op, "n", in, nin, attrs, nattr, &d);
	if (t >= 0) {
		ck_assert_int_eq(d.nerr, 0);
		ir_type_str(ir_type_get(g, t), out, sizeof out);
	} else {
		ck_assert_int_ge(d.nmsg, 1);
		snprintf(out, sizeof out, "ERR: %s", d.msgs[0]);
	}
	diag_free(&d);
	ir_graph_free(g);
	return out;
}

#define TYPES(...) ((const char *const[]){__VA_ARGS__}), (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *))
#define ATTRS(...) ((const Attr[]){__VA_ARGS__}), (int)(sizeof((const Attr[]){__VA_ARGS__}) / sizeof(Attr))
#define NOATTRS NULL, 0

#define ck_infer(expect, ...) ck_assert_str_eq(infer(__VA_ARGS__), expect)
#define ck_infer_err(substr, ...)                                                                    \
	do {                                                                                         \
		const char *r_ = infer(__VA_ARGS__);                                                 \
		ck_assert_msg(!strncmp(r_, "ERR: ", 5) && strstr(r_, substr), "got '%s', want error '%s'", r_, substr); \
	} while (0)

static int64_t I2[2] = {1, 1}, Z4[4] = {0, 0, 0, 0};

static Attr conv_attrs_buf[8];
/* strides, pads, dilations (2-D) and group. */
static const Attr *conv2d(int64_t *st, int64_t *pd, int64_t *dl, int64_t group)
{
	conv_attrs_buf[0] = ir_aints("strides", st, 2);
	conv_attrs_buf[1] = ir_aints("pads", pd, 4);
	conv_attrs_buf[2] = ir_aints("dilations", dl, 2);
	conv_attrs_buf[3] = ir_ai("group", group);
	return conv_attrs_buf;
}

/* ---- types ---------------------------------------------------------------------- */

START_TEST(type_interning)
{
	Graph *g = ir_graph_new("t");
	int64_t a[] = {2, 3}, b[] = {2, 3}, c[] = {3, 2};
	TypeId t1 = ir_type(g, DT_F32, 2, a, NULL);
	ck_assert_int_eq(t1, ir_type(g, DT_F32, 2, b, NULL));
	ck_assert_int_ne(t1, ir_type(g, DT_F32, 2, c, NULL));
	ck_assert_int_ne(t1, ir_type(g, DT_F16, 2, a, NULL));
	ck_assert_int_ne(t1, ir_type(g, DT_F32, 1, a, NULL));
	/* Rank 0 is its own type. */
	ck_assert_int_eq(ir_type(g, DT_F32, 0, NULL, NULL), ir_type(g, DT_F32, 0, a, NULL));
	float s1 = 0.5f, s2 = 0.25f;
	int32_t z1 = 3, z2 = 4;
	const Quant *q1 = ir_quant(g, -1, 1, &s1, &z1);
	ck_assert_ptr_eq(q1, ir_quant(g, -1, 1, &s1, &z1));
	ck_assert_ptr_ne(q1, ir_quant(g, -1, 1, &s1, &z2));
	ck_assert_ptr_ne(q1, ir_quant(g, -1, 1, &s2, &z1));
	float sv[2] = {0.5f, 0.5f};
	int32_t zv[2] = {3, 3};
	const Quant *qa = ir_quant(g, 0, 2, sv, zv);
	ck_assert_ptr_ne(q1, qa);
	ck_assert_ptr_ne(qa, ir_quant(g, 1, 2, sv, zv));
	TypeId tq = ir_type(g, DT_I8, 2, a, q1);
	ck_assert_int_eq(tq, ir_type(g, DT_I8, 2, b, ir_quant(g, -1, 1, &s1, &z1)));
	ck_assert_int_ne(tq, ir_type(g, DT_I8, 2, a, NULL));
	ck_assert_int_ne(tq, ir_type(g, DT_I8, 2, a, ir_quant(g, -1, 1, &s1, &z2)));
	ck_assert_int_ne(tq, ir_type(g, DT_I8, 2, a, qa));
	ck_assert_int_lt(ir_type(g, DT_F32, IR_MAX_RANK + 1, a, NULL), 0);
	ir_graph_free(g);
}
END_TEST

START_TEST(numel_overflow)
{
	int64_t ok[] = {1 << 20, 1 << 20}, big[] = {1LL << 40, 1LL << 40}, neg[] = {3, -1};
	int64_t zero[] = {0, 5, 7}, edge[] = {IR_MAX_NUMEL, 1}, edge2[] = {2, IR_MAX_NUMEL / 2 + 1};
	/* An empty tensor's other dims still bound its strides (issue 17:
	 * [0, 2^62] overflowed a byte offset in ir_slice_is_view). */
	int64_t empty_huge[] = {0, 1LL << 62}, empty_huge2[] = {1LL << 31, 0, 1LL << 31};
	ck_assert_int_eq(ir_shape_numel(2, ok), 1LL << 40);
	ck_assert_int_eq(ir_shape_numel(2, big), -1);
	ck_assert_int_eq(ir_shape_numel(2, neg), -1);
	ck_assert_int_eq(ir_shape_numel(3, zero), 0);
	ck_assert_int_eq(ir_shape_numel(2, empty_huge), -1);
	ck_assert_int_eq(ir_shape_numel(3, empty_huge2), -1);
	ck_assert_int_eq(ir_shape_numel(2, edge), IR_MAX_NUMEL);
	ck_assert_int_eq(ir_shape_numel(2, edge2), -1);
	ck_assert_int_eq(ir_shape_numel(0, NULL), 1);
	/* A result whose element count overflows is an error, not a wrap. */
	ck_infer_err("shape has too many elements", OP_ADD, TYPES("f32[1099511627776,1]", "f32[1,1099511627776]"), NOATTRS);
	ck_infer_err("shape has too many elements", OP_CONCAT, TYPES("f32[4611686018427387904]", "f32[4611686018427387904]"),
		     ATTRS(ir_ai("axis", 0)));
	int64_t huge[] = {1LL << 40, 1LL << 40};
	ck_infer_err("too many elements", OP_RESHAPE, TYPES("f32[4]"), ATTRS(ir_aints("shape", huge, 2)));
}
END_TEST

START_TEST(broadcast)
{
	int64_t a[] = {2, 1, 5}, b[] = {3, 1}, out[IR_MAX_RANK];
	int r;
	ck_assert(ir_broadcast(3, a, 2, b, &r, out));
	ck_assert_int_eq(r, 3);
	ck_assert_int_eq(out[0], 2);
	ck_assert_int_eq(out[1], 3);
	ck_assert_int_eq(out[2], 5);
	ck_assert(ir_broadcast(0, NULL, 2, b, &r, out));
	ck_assert_int_eq(r, 2);
	int64_t c[] = {4}, z[] = {0}, one[] = {1};
	ck_assert(!ir_broadcast(3, a, 1, c, &r, out));
	ck_assert(ir_broadcast(1, z, 1, one, &r, out));
	ck_assert_int_eq(out[0], 0);
}
END_TEST

/* ---- shape rules ---------------------------------------------------------------- */

START_TEST(shape_conv)
{
	int64_t s1[] = {1, 1}, s2[] = {2, 2}, p3[] = {3, 3, 3, 3}, p1[] = {1, 1, 1, 1};
	ck_infer("f32[1,64,112,112]", OP_CONV, TYPES("f32[1,3,224,224]", "f32[64,3,7,7]", "f32[64]"),
		 conv2d(s2, p3, I2, 1), 4);
	/* Depthwise: 32 groups, odd sizes. */
	ck_infer("f32[1,32,9,7]", OP_CONV, TYPES("f32[1,32,17,13]", "f32[32,1,3,3]"), conv2d(s2, p1, I2, 32), 4);
	/* Grouped, dilated, strided, asymmetric pads:
	 * H (10+1+2 - 2*2 - 1)/3 + 1 = 3;  W (11+0+1 - 3*1 - 1)/1 + 1 = 9. */
	int64_t st[] = {3, 1}, pd[] = {1, 0, 2, 1}, dl[] = {2, 3};
	ck_infer("f32[2,6,3,9]", OP_CONV, TYPES("f32[2,4,10,11]", "f32[6,2,3,2]"), conv2d(st, pd, dl, 2), 4);
	/* Omitted bias with a fused residual operand. */
	ck_infer("f32[1,4,5,5]", OP_CONV, TYPES("f32[1,3,5,5]", "f32[4,3,3,3]", "_", "f32[1,4,5,5]"),
		 conv2d(s1, p1, I2, 1), 4);
	ck_infer_err("fused residual f32[1,4,4,5]", OP_CONV, TYPES("f32[1,3,5,5]", "f32[4,3,3,3]", "_", "f32[1,4,4,5]"),
		     conv2d(s1, p1, I2, 1), 4);
	/* 1-D and 3-D. */
	int64_t one[] = {1}, zz[] = {0, 0}, o3[] = {1, 1, 1}, z6[6] = {0};
	ck_infer("f32[1,3,5]", OP_CONV, TYPES("f32[1,2,7]", "f32[3,2,3]"),
		 ATTRS(ir_aints("strides", one, 1), ir_aints("pads", zz, 2), ir_aints("dilations", one, 1), ir_ai("group", 1)));
	ck_infer("f32[1,2,3,4,5]", OP_CONV, TYPES("f32[1,1,4,5,6]", "f32[2,1,2,2,2]"),
		 ATTRS(ir_aints("strides", o3, 3), ir_aints("pads", z6, 6), ir_aints("dilations", o3, 3), ir_ai("group", 1)));
	/* Errors. */
	ck_infer_err("node 'n' (Conv): group 4 does not divide input channels 6", OP_CONV,
		     TYPES("f32[1,6,8,8]", "f32[8,1,3,3]"), conv2d(s1, p1, I2, 4), 4);
	ck_infer_err("expect 2 input channels per group", OP_CONV, TYPES("f32[1,6,8,8]", "f32[8,2,3,3]"),
		     conv2d(s1, p1, I2, 1), 4);
	ck_infer_err("bias f32[7] must be f32[8]", OP_CONV, TYPES("f32[1,6,8,8]", "f32[8,6,3,3]", "f32[7]"),
		     conv2d(s1, p1, I2, 1), 4);
	ck_infer_err("does not fit the padded input", OP_CONV, TYPES("f32[1,1,2,2]", "f32[1,1,5,5]"),
		     conv2d(s1, Z4, I2, 1), 4);
	int64_t s0[] = {1, 0}, d0[] = {0, 1}, pn[] = {0, -1, 0, 0};
	ck_infer_err("stride 0 along spatial axis 1 must be >= 1", OP_CONV, TYPES("f32[1,1,4,4]", "f32[1,1,3,3]"),
		     conv2d(s0, Z4, I2, 1), 4);
	ck_infer_err("dilation 0 along spatial axis 0", OP_CONV, TYPES("f32[1,1,4,4]", "f32[1,1,3,3]"),
		     conv2d(s1, Z4, d0, 1), 4);
	ck_infer_err("must not be negative", OP_CONV, TYPES("f32[1,1,4,4]", "f32[1,1,3,3]"), conv2d(s1, pn, I2, 1), 4);
	int64_t bigp[] = {INT64_MAX, 0, 1, 0};
	ck_infer_err("too large", OP_CONV, TYPES("f32[1,1,4,4]", "f32[1,1,3,3]"), conv2d(s1, bigp, I2, 1), 4);
	ck_infer_err("attribute 'group' (an int) is missing", OP_CONV, TYPES("f32[1,1,4,4]", "f32[1,1,3,3]"),
		     conv2d(s1, Z4, I2, 1), 3);
	ck_infer_err("attribute 'strides' has 1 values, expected 2", OP_CONV, TYPES("f32[1,1,4,4]", "f32[1,1,3,3]"),
		     ATTRS(ir_aints("strides", one, 1), ir_aints("pads", Z4, 4), ir_aints("dilations", I2, 2), ir_ai("group", 1)));
	ck_infer_err("attribute 'group' must be an int, not a float", OP_CONV, TYPES("f32[1,1,4,4]", "f32[1,1,3,3]"),
		     ATTRS(ir_aints("strides", I2, 2), ir_aints("pads", Z4, 4), ir_aints("dilations", I2, 2), ir_af("group", 1)));
	ck_infer_err("floating-point", OP_CONV, TYPES("i32[1,1,4,4]", "i32[1,1,3,3]"), conv2d(s1, Z4, I2, 1), 4);
	ck_infer_err("operand dtypes differ", OP_CONV, TYPES("f32[1,1,4,4]", "f16[1,1,3,3]"), conv2d(s1, Z4, I2, 1), 4);
	ck_infer_err("same rank, at least 3", OP_CONV, TYPES("f32[1,4]", "f32[1,4]"), conv2d(s1, Z4, I2, 1), 4);
	ck_infer_err("has 1 operands, expected 2 to 4", OP_CONV, TYPES("f32[1,1,4,4]"), conv2d(s1, Z4, I2, 1), 4);
	ck_infer_err("required operand 1 is omitted", OP_CONV, TYPES("f32[1,1,4,4]", "_"), conv2d(s1, Z4, I2, 1), 4);
	/* Fused epilogues. */
	Attr act[6];
	memcpy(act, conv2d(s1, Z4, I2, 1), 4 * sizeof *act);
	act[4] = ir_astr("act", "clip");
	ck_infer_err("attribute 'act_min' (a float) is missing", OP_CONV, TYPES("f32[1,1,4,4]", "f32[1,1,3,3]"), act, 5);
	act[4] = ir_astr("act", "swish6");
	ck_infer_err("unknown fused activation 'swish6'", OP_CONV, TYPES("f32[1,1,4,4]", "f32[1,1,3,3]"), act, 5);
	act[4] = ir_astr("act", "leaky_relu");
	act[5] = ir_af("act_alpha", 0.1);
	ck_infer("f32[1,1,2,2]", OP_CONV, TYPES("f32[1,1,4,4]", "f32[1,1,3,3]"), act, 6);
}
END_TEST

static Attr pool_buf[8];
static const Attr *pool2d(int64_t *k, int64_t *s, int64_t *p, int64_t *d, int64_t ceil, int n)
{
	pool_buf[0] = ir_aints("kernel", k, 2);
	pool_buf[1] = ir_aints("strides", s, 2);
	pool_buf[2] = ir_aints("pads", p, 4);
	pool_buf[3] = ir_aints("dilations", d, 2);
	pool_buf[4] = ir_ai("ceil_mode", ceil);
	pool_buf[5] = ir_ai("count_include_pad", 0);
	(void)n;
	return pool_buf;
}

START_TEST(shape_pool)
{
	int64_t k3[] = {3, 3}, s2[] = {2, 2}, k2[] = {2, 2}, s3[] = {3, 3};
	/* 13 and 14 with k3 s2: floor 6,6; ceil 6,7. */
	ck_infer("f32[1,1,6,6]", OP_MAXPOOL, TYPES("f32[1,1,13,14]"), pool2d(k3, s2, Z4, I2, 0, 5), 5);
	ck_infer("f32[1,1,6,7]", OP_MAXPOOL, TYPES("f32[1,1,13,14]"), pool2d(k3, s2, Z4, I2, 1, 5), 5);
	/* Ceil would add a window starting in the right padding: dropped.
	 * 5 + pad (0,1), k2 s3: ceil(4/3)+1 = 3, but (3-1)*3 = 6 >= 5, so 2. */
	int64_t pe[] = {0, 0, 1, 1};
	ck_infer("f32[1,1,2,2]", OP_MAXPOOL, TYPES("f32[1,1,5,5]"), pool2d(k2, s3, pe, I2, 1, 5), 5);
	ck_infer("f32[1,1,2,2]", OP_MAXPOOL, TYPES("f32[1,1,5,5]"), pool2d(k2, s3, pe, I2, 0, 5), 5);
	/* Ceil that keeps its extra window: 6 + pads (1,1), k3 s2 -> 4. */
	int64_t p1[] = {1, 1, 1, 1};
	ck_infer("f32[2,3,4,4]", OP_AVGPOOL, TYPES("f32[2,3,6,6]"), pool2d(k3, s2, p1, I2, 1, 6), 6);
	ck_infer("f32[2,3,3,3]", OP_AVGPOOL, TYPES("f32[2,3,6,6]"), pool2d(k3, s2, p1, I2, 0, 6), 6);
	/* Dilation 2: window 5. */
	int64_t d2[] = {2, 2};
	ck_infer("f32[1,1,6,6]", OP_MAXPOOL, TYPES("f32[1,1,10,10]"), pool2d(k3, I2, Z4, d2, 0, 5), 5);
	/* Errors. */
	ck_infer_err("attribute 'count_include_pad' (an int) is missing", OP_AVGPOOL, TYPES("f32[1,1,6,6]"),
		     pool2d(k3, s2, Z4, I2, 0, 5), 5);
	int64_t p3[] = {3, 0, 0, 0};
	ck_infer_err("must be smaller than the window of 3", OP_MAXPOOL, TYPES("f32[1,1,6,6]"),
		     pool2d(k3, s2, p3, I2, 0, 5), 5);
	ck_infer_err("attribute 'ceil_mode' is 2; it must be 0 or 1", OP_MAXPOOL, TYPES("f32[1,1,6,6]"),
		     pool2d(k3, s2, Z4, I2, 2, 5), 5);
	ck_infer_err("rank >= 3", OP_MAXPOOL, TYPES("f32[6,6]"), pool2d(k3, s2, Z4, I2, 0, 5), 5);
	int64_t k0[] = {0, 3};
	ck_infer_err("kernel size 0 along spatial axis 0", OP_MAXPOOL, TYPES("f32[1,1,6,6]"), pool2d(k0, s2, Z4, I2, 0, 5), 5);
	ck_infer_err("floating-point", OP_MAXPOOL, TYPES("i8[1,1,6,6]"), pool2d(k3, s2, Z4, I2, 0, 5), 5);
	/* global */
	ck_infer("f32[2,5,1,1]", OP_GLOBAL_AVGPOOL, TYPES("f32[2,5,7,3]"), NOATTRS);
	ck_infer("f32[2,5,1]", OP_GLOBAL_AVGPOOL, TYPES("f32[2,5,7]"), NOATTRS);
	ck_infer_err("rank >= 3", OP_GLOBAL_AVGPOOL, TYPES("f32[2,5]"), NOATTRS);
}
END_TEST

static Attr gemm_buf[4];
static const Attr *gemm(int64_t ta, int64_t tb)
{
	gemm_buf[0] = ir_af("alpha", 1);
	gemm_buf[1] = ir_af("beta", 0.5);
	gemm_buf[2] = ir_ai("trans_a", ta);
	gemm_buf[3] = ir_ai("trans_b", tb);
	return gemm_buf;
}

START_TEST(shape_gemm_matmul)
{
	ck_infer("f32[3,5]", OP_GEMM, TYPES("f32[3,4]", "f32[4,5]"), gemm(0, 0), 4);
	ck_infer("f32[3,5]", OP_GEMM, TYPES("f32[4,3]", "f32[4,5]"), gemm(1, 0), 4);
	ck_infer("f32[3,5]", OP_GEMM, TYPES("f32[3,4]", "f32[5,4]"), gemm(0, 1), 4);
	ck_infer("f32[3,5]", OP_GEMM, TYPES("f32[4,3]", "f32[5,4]"), gemm(1, 1), 4);
	ck_infer("f32[3,5]", OP_GEMM, TYPES("f32[3,4]", "f32[4,5]", "f32[5]"), gemm(0, 0), 4);
	ck_infer("f32[3,5]", OP_GEMM, TYPES("f32[3,4]", "f32[4,5]", "f32[3,1]"), gemm(0, 0), 4);
	ck_infer("f32[3,5]", OP_GEMM, TYPES("f32[3,4]", "f32[4,5]", "f32[]"), gemm(0, 0), 4);
	ck_infer("f32[3,5]", OP_GEMM, TYPES("f32[3,4]", "f32[4,5]", "_"), gemm(0, 0), 4);
	ck_infer_err("C f32[3,4] cannot be broadcast to f32[3,5]", OP_GEMM, TYPES("f32[3,4]", "f32[4,5]", "f32[3,4]"),
		     gemm(0, 0), 4);
	ck_infer_err("inner dimensions differ: f32[3,4] times f32[4,5]^T", OP_GEMM, TYPES("f32[3,4]", "f32[4,5]"),
		     gemm(0, 1), 4);
	ck_infer_err("must be matrices", OP_GEMM, TYPES("f32[3,4,1]", "f32[4,5]"), gemm(0, 0), 4);
	ck_infer_err("'trans_a' is 2", OP_GEMM, TYPES("f32[3,4]", "f32[4,5]"), gemm(2, 0), 4);
	ck_infer_err("attribute 'beta' (a float) is missing", OP_GEMM, TYPES("f32[3,4]", "f32[4,5]"), gemm(0, 0), 1);
	/* matmul: batch broadcasting and rank-1 promotion. */
	ck_infer("f32[2,3,4,6]", OP_MATMUL, TYPES("f32[2,1,4,5]", "f32[3,5,6]"), NOATTRS);
	ck_infer("f32[4,6]", OP_MATMUL, TYPES("f32[4,5]", "f32[5,6]"), NOATTRS);
	ck_infer("f32[]", OP_MATMUL, TYPES("f32[5]", "f32[5]"), NOATTRS);
	ck_infer("f32[2,3]", OP_MATMUL, TYPES("f32[5]", "f32[2,5,3]"), NOATTRS);
	ck_infer("f32[2,4]", OP_MATMUL, TYPES("f32[2,4,5]", "f32[5]"), NOATTRS);
	ck_infer("f32[7,1,3]", OP_MATMUL, TYPES("f32[7,1,2]", "f32[1,2,3]"), NOATTRS);
	ck_infer_err("batch dimensions of f32[2,4,5] and f32[3,5,6] cannot be broadcast", OP_MATMUL,
		     TYPES("f32[2,4,5]", "f32[3,5,6]"), NOATTRS);
	ck_infer_err("inner dimensions differ: f32[4,5] times f32[4,6]", OP_MATMUL, TYPES("f32[4,5]", "f32[4,6]"), NOATTRS);
	ck_infer_err("inner dimensions differ", OP_MATMUL, TYPES("f32[4]", "f32[5]"), NOATTRS);
	ck_infer_err("floating-point", OP_MATMUL, TYPES("i32[4,5]", "i32[5,6]"), NOATTRS);
	ck_infer_err("rank >= 1", OP_MATMUL, TYPES("f32[]", "f32[5,6]"), NOATTRS);
}
END_TEST

START_TEST(shape_elementwise)
{
	ck_infer_err("node 'n' (Add): input shapes f32[1,3,8] and f32[4] cannot be broadcast", OP_ADD,
		     TYPES("f32[1,3,8]", "f32[4]"), NOATTRS);
	ck_infer("f32[2,3,5]", OP_SUB, TYPES("f32[2,1,5]", "f32[3,1]"), NOATTRS);
	ck_infer("f32[4]", OP_MUL, TYPES("f32[]", "f32[4]"), NOATTRS);
	ck_infer("i32[2,0]", OP_DIV, TYPES("i32[2,1]", "i32[0]"), NOATTRS);
	ck_infer_err("operand dtypes differ: f32[2] and i32[2]", OP_ADD, TYPES("f32[2]", "i32[2]"), NOATTRS);
	ck_infer_err("bool", OP_ADD, TYPES("bool[2]", "bool[2]"), NOATTRS);
	ck_infer_err("has 3 operands, expected 2", OP_ADD, TYPES("f32[2]", "f32[2]", "f32[2]"), NOATTRS);
	/* Unary float ops. */
	static const Op fl[] = {OP_RELU, OP_SIGMOID, OP_TANH, OP_EXP, OP_LOG, OP_SQRT, OP_RECIPROCAL, OP_FLOOR, OP_CEIL};
	for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) {
		ck_infer("f32[3,1,7]", fl[i], TYPES("f32[3,1,7]"), NOATTRS);
		ck_infer("f16[2]", fl[i], TYPES("f16[2]"), NOATTRS);
		ck_infer_err("floating-point", fl[i], TYPES("i64[2]"), NOATTRS);
		ck_infer_err("has 2 operands, expected 1", fl[i], TYPES("f32[2]", "f32[2]"), NOATTRS);
	}
	ck_infer("i8[5]", OP_NEG, TYPES("i8[5]"), NOATTRS);
	ck_infer_err("signed or floating-point", OP_NEG, TYPES("u8[5]"), NOATTRS);
	ck_infer("u8[5]", OP_ABS, TYPES("u8[5]"), NOATTRS);
	ck_infer_err("numeric", OP_ABS, TYPES("bool[5]"), NOATTRS);
	ck_infer("f32[2]", OP_LEAKY_RELU, TYPES("f32[2]"), ATTRS(ir_af("alpha", 0.01)));
	ck_infer_err("attribute 'alpha' (a float) is missing", OP_LEAKY_RELU, TYPES("f32[2]"), NOATTRS);
	ck_infer("f32[2]", OP_CLIP, TYPES("f32[2]"), ATTRS(ir_af("min", -INFINITY), ir_af("max", 6)));
	ck_infer_err("attribute 'max' (a float) is missing", OP_CLIP, TYPES("f32[2]"), ATTRS(ir_af("min", 0)));
	/* identity keeps everything, including quantization; relu drops it. */
	ck_infer("bool[3]", OP_IDENTITY, TYPES("bool[3]"), NOATTRS);
	Graph *g = ir_graph_new("q");
	Diag d;
	diag_init(&d);
	TypeId tq = ty(g, "i8[4]{q}");
	ValueId x = ir_add_input(g, "x", tq);
	ck_assert_int_eq(ir_infer_type(g, OP_IDENTITY, "i", &x, 1, NULL, 0, &d), tq);
	int64_t sh[] = {2, 2};
	Attr ra = ir_aints("shape", sh, 2);
	TypeId tr = ir_infer_type(g, OP_RESHAPE, "r", &x, 1, &ra, 1, &d);
	ck_assert_ptr_eq(ir_type_get(g, tr)->q, ir_type_get(g, tq)->q);
	ck_assert_int_eq(d.nerr, 0);
	diag_free(&d);
	ir_graph_free(g);
}
END_TEST

/* Cast to float8 carries saturate (0/1); no other cast may. */
START_TEST(shape_cast_saturate)
{
	ck_infer("f8e4m3fn[3]", OP_CAST, TYPES("f32[3]"), ATTRS(ir_astr("to", "f8e4m3fn"), ir_ai("saturate", 0)));
	ck_infer("f32[3]", OP_CAST, TYPES("f8e5m2fnuz[3]"), ATTRS(ir_astr("to", "f32")));
	ck_infer("i4[2]", OP_CAST, TYPES("f16[2]"), ATTRS(ir_astr("to", "i4")));
	ck_infer_err("attribute 'saturate' (an int) is missing", OP_CAST, TYPES("f32[3]"), ATTRS(ir_astr("to", "f8e5m2")));
	ck_infer_err("it must be 0 or 1", OP_CAST, TYPES("f32[3]"), ATTRS(ir_astr("to", "f8e5m2"), ir_ai("saturate", 2)));
	ck_infer_err("applies only to casts to float8", OP_CAST, TYPES("f32[3]"), ATTRS(ir_astr("to", "u4"), ir_ai("saturate", 1)));
}
END_TEST

/* The C float8 conversions (the reference for codegen's lowering, which
 * tests/e2e checks against onnx): known values, rounding, specials. */
START_TEST(float8_conversions)
{
	static const struct {
		DType dt;
		float x;
		int sat, code;
	} c[] = {
		{DT_F8E4M3FN, 1.0f, 1, 0x38}, {DT_F8E4M3FN, -448.0f, 1, 0xfe}, {DT_F8E4M3FN, 464.0f, 0, 0x7e},  /* tie: even */
		{DT_F8E4M3FN, 465.0f, 0, 0x7f}, {DT_F8E4M3FN, 465.0f, 1, 0x7e}, {DT_F8E4M3FN, -INFINITY, 1, 0xfe},
		{DT_F8E4M3FN, INFINITY, 0, 0x7f}, {DT_F8E4M3FN, -NAN, 1, 0xff}, {DT_F8E4M3FN, -0.0f, 1, 0x80},
		{DT_F8E4M3FN, 0x1p-9f, 1, 0x01}, {DT_F8E4M3FN, 0x1p-10f, 1, 0x00}, {DT_F8E4M3FN, 0x1.8p-9f, 1, 0x02},
		{DT_F8E4M3FN, -0x1.02p-10f, 1, 0x81}, {DT_F8E4M3FN, 0x1.0cp-6f, 1, 0x08},  /* 1.046875 2^-6: down */
		{DT_F8E4M3FNUZ, -0.0f, 1, 0x00}, {DT_F8E4M3FNUZ, -1e-30f, 0, 0x00}, {DT_F8E4M3FNUZ, 248.0f, 1, 0x7f},
		{DT_F8E4M3FNUZ, 248.0f, 0, 0x80}, {DT_F8E4M3FNUZ, NAN, 1, 0x80}, {DT_F8E4M3FNUZ, -240.0f, 0, 0xff},
		{DT_F8E5M2, 57344.0f, 0, 0x7b}, {DT_F8E5M2, 61440.0f, 0, 0x7c}, {DT_F8E5M2, -61440.0f, 1, 0xfb},
		{DT_F8E5M2, -INFINITY, 0, 0xfc}, {DT_F8E5M2, 0x1p-16f, 1, 0x01}, {DT_F8E5M2, 0x1.4p-15f, 1, 0x02},
		{DT_F8E5M2FNUZ, 0x1p-17f, 1, 0x01}, {DT_F8E5M2FNUZ, 1e9f, 0, 0x80}, {DT_F8E5M2FNUZ, -1e9f, 1, 0xff},
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
		ck_assert_msg(ir_f32_to_f8(c[i].dt, c[i].x, c[i].sat) == c[i].code, "case %zu: %a -> 0x%02x, want 0x%02x", i,
			      (double)c[i].x, ir_f32_to_f8(c[i].dt, c[i].x, c[i].sat), c[i].code);
	/* Every code decodes to a value that encodes back to it, but NaNs
	 * (and e5m2's payloads) which all come back as the one NaN code. */
	for (DType dt = DT_F8E4M3FN; dt <= DT_F8E5M2FNUZ; dt++) {
		const IrF8Format *f = ir_f8_format(dt);
		for (int b = 0; b < 256; b++) {
			float v = ir_f8_to_f32(dt, (uint8_t)b);
			if (isnan(v)) {
				ck_assert_int_eq(ir_f32_to_f8(dt, v, 1), f->uz ? 0x80 : (b & 0x80) | 0x7f);
				continue;
			}
			ck_assert_msg(ir_f32_to_f8(dt, v, 0) == b, "%s 0x%02x -> %a", ir_dtype_name(dt), b, (double)v);
		}
	}
	ck_assert(ir_f8_to_f32(DT_F8E4M3FN, 0x7e) == 448.0f && ir_f8_to_f32(DT_F8E4M3FNUZ, 0x7f) == 240.0f);
	ck_assert(ir_f8_to_f32(DT_F8E5M2, 0x7b) == 57344.0f && ir_f8_to_f32(DT_F8E5M2, 0xfc) == -INFINITY);
	ck_assert(ir_f8_to_f32(DT_F8E5M2FNUZ, 0x01) == 0x1p-17f && ir_f8_to_f32(DT_F8E4M3FN, 0x01) == 0x1p-9f);
	ck_assert_ptr_null(ir_f8_format(DT_F16));
}
END_TEST

START_TEST(shape_misc)
{
	/* batchnorm */
	ck_infer("f32[2,3,4,4]", OP_BATCHNORM, TYPES("f32[2,3,4,4]", "f32[3]", "f32[3]", "f32[3]", "f32[3]"),
		 ATTRS(ir_af("epsilon", 1e-5)));
	ck_infer_err("var f32[4] must be f32[3]", OP_BATCHNORM,
		     TYPES("f32[2,3,4,4]", "f32[3]", "f32[3]", "f32[3]", "f32[4]"), ATTRS(ir_af("epsilon", 1e-5)));
	ck_infer_err("'epsilon'", OP_BATCHNORM, TYPES("f32[2,3]", "f32[3]", "f32[3]", "f32[3]", "f32[3]"), NOATTRS);
	/* reshape */
	int64_t s64[] = {6, 4}, s55[] = {5, 5}, sneg[] = {-1, 24}, s9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 24};
	ck_infer("f32[6,4]", OP_RESHAPE, TYPES("f32[2,3,4]"), ATTRS(ir_aints("shape", s64, 2)));
	ck_infer("i64[]", OP_RESHAPE, TYPES("i64[1,1]"), ATTRS(ir_aints("shape", s64, 0)));
	ck_infer_err("cannot reshape f32[2,3,4] (24 elements) to 2 dims holding 25 elements", OP_RESHAPE,
		     TYPES("f32[2,3,4]"), ATTRS(ir_aints("shape", s55, 2)));
	ck_infer_err("negative dimension -1", OP_RESHAPE, TYPES("f32[2,3,4]"), ATTRS(ir_aints("shape", sneg, 2)));
	ck_infer_err("target rank 9 exceeds 8", OP_RESHAPE, TYPES("f32[2,3,4]"), ATTRS(ir_aints("shape", s9, 9)));
	ck_infer_err("attribute 'shape' (ints) is missing", OP_RESHAPE, TYPES("f32[2,3,4]"), NOATTRS);
	/* transpose */
	int64_t p201[] = {2, 0, 1}, p001[] = {0, 0, 1};
	ck_infer("u8[4,2,3]", OP_TRANSPOSE, TYPES("u8[2,3,4]"), ATTRS(ir_aints("perm", p201, 3)));
	ck_infer_err("perm is not a permutation of 0..2", OP_TRANSPOSE, TYPES("f32[2,3,4]"), ATTRS(ir_aints("perm", p001, 3)));
	ck_infer_err("'perm' has 2 values, expected 3", OP_TRANSPOSE, TYPES("f32[2,3,4]"), ATTRS(ir_aints("perm", p201, 2)));
	/* concat */
	ck_infer("f32[2,8]", OP_CONCAT, TYPES("f32[2,3]", "f32[2,5]"), ATTRS(ir_ai("axis", 1)));
	ck_infer("f32[9,3]", OP_CONCAT, TYPES("f32[2,3]", "f32[0,3]", "f32[7,3]"), ATTRS(ir_ai("axis", 0)));
	ck_infer("f32[2,3]", OP_CONCAT, TYPES("f32[2,3]"), ATTRS(ir_ai("axis", 0)));
	ck_infer_err("operand 1 f32[3,5] does not match operand 0 f32[2,3] outside axis 1", OP_CONCAT,
		     TYPES("f32[2,3]", "f32[3,5]"), ATTRS(ir_ai("axis", 1)));
	ck_infer_err("axis 2 is out of range for rank 2", OP_CONCAT, TYPES("f32[2,3]", "f32[2,3]"), ATTRS(ir_ai("axis", 2)));
	ck_infer_err("does not match", OP_CONCAT, TYPES("f32[2,3]", "i32[2,3]"), ATTRS(ir_ai("axis", 0)));
	/* softmax */
	ck_infer("f32[2,3]", OP_SOFTMAX, TYPES("f32[2,3]"), ATTRS(ir_ai("axis", 1)));
	ck_infer_err("axis 3 is out of range for rank 2", OP_SOFTMAX, TYPES("f32[2,3]"), ATTRS(ir_ai("axis", 3)));
	ck_infer_err("floating-point", OP_SOFTMAX, TYPES("i32[2,3]"), ATTRS(ir_ai("axis", 1)));
	/* pad */
	int64_t pd[] = {1, 0, 2, -1}, pbad[] = {0, -2, 0, -2}, pbig[] = {INT64_MAX, 0, 1, 0};
	ck_infer("f32[5,2]", OP_PAD, TYPES("f32[2,3]"), ATTRS(ir_aints("pads", pd, 4), ir_af("value", 0)));
	ck_infer_err("remove more than axis 1 holds (3)", OP_PAD, TYPES("f32[2,3]"),
		     ATTRS(ir_aints("pads", pbad, 4), ir_af("value", 0)));
	ck_infer_err("too large", OP_PAD, TYPES("f32[2,3]"), ATTRS(ir_aints("pads", pbig, 4), ir_af("value", 0)));
	ck_infer_err("'pads' has 2 values, expected 4", OP_PAD, TYPES("f32[2,3]"), ATTRS(ir_aints("pads", pd, 2), ir_af("value", 0)));
	/* reductions */
	int64_t a1[] = {1}, a02[] = {0, 2}, a012[] = {0, 1, 2}, a10[] = {1, 0};
	ck_infer("f32[2,1,4]", OP_REDUCE_MEAN, TYPES("f32[2,3,4]"), ATTRS(ir_aints("axes", a1, 1), ir_ai("keepdims", 1)));
	ck_infer("f32[2,4]", OP_REDUCE_SUM, TYPES("f32[2,3,4]"), ATTRS(ir_aints("axes", a1, 1), ir_ai("keepdims", 0)));
	ck_infer("f32[3]", OP_REDUCE_MAX, TYPES("f32[2,3,4]"), ATTRS(ir_aints("axes", a02, 2), ir_ai("keepdims", 0)));
	ck_infer("f32[]", OP_REDUCE_MIN, TYPES("f32[2,3,4]"), ATTRS(ir_aints("axes", a012, 3), ir_ai("keepdims", 0)));
	ck_infer_err("axes must be sorted", OP_REDUCE_MEAN, TYPES("f32[2,3,4]"), ATTRS(ir_aints("axes", a10, 2), ir_ai("keepdims", 0)));
	ck_infer_err("must list 1 to 3 axes", OP_REDUCE_MEAN, TYPES("f32[2,3,4]"), ATTRS(ir_aints("axes", a1, 0), ir_ai("keepdims", 0)));
}
END_TEST

/* Every op has a rule, and a bad operand id or type id is a diagnostic. */
START_TEST(shape_rule_guards)
{
	Graph *g = ir_graph_new("t");
	Diag d;
	diag_init(&d);
	ValueId x = ir_add_input(g, "x", ty(g, "f32[2]"));
	for (int op = 0; op < OP_COUNT; op++) {
		ValueId bad[5] = {99, 99, 99, 99, 99};
		int before = d.nerr;
		ck_assert_int_lt(ir_infer_type(g, (Op)op, "n", bad, ir_ops[op].min_in, NULL, 0, &d), 0);
		ck_assert_int_eq(d.nerr, before + 1);
		ck_assert_ptr_nonnull(strstr(d.msgs[d.nmsg - 1], "operand 0 is an invalid value id 99"));
	}
	ValueId bad = 42;
	ck_assert_int_lt(ir_infer_type(g, OP_RELU, "n", &bad, 1, NULL, 0, &d), 0);
	ck_assert_int_lt(ir_infer_type(g, OP_COUNT, "n", &x, 1, NULL, 0, &d), 0);
	g->values.v[x].type = 1000;
	ck_assert_int_lt(ir_infer_type(g, OP_RELU, "n", &x, 1, NULL, 0, &d), 0);
	bool found = false;
	for (int i = 0; i < d.nmsg; i++)
		found |= strstr(d.msgs[i], "operand 0 has an invalid type id 1000") != NULL;
	ck_assert(found);
	diag_free(&d);
	ir_graph_free(g);
}
END_TEST

/* ---- printer and parser -------------------------------------------------------- */

/* A graph with a little of everything the text form must carry. */
static Graph *rich_graph(void)
{
	Diag d;
	diag_init(&d);
	Graph *g = ir_graph_new("resnet-ish \"v2\"");
	ck_assert_ptr_nonnull(g);
	ValueId x = ir_add_input(g, "input.1", ty(g, "f32[1,3,5,5]"));
	ValueId x2 = ir_add_input(g, "second input", ty(g, "f32[1,4,5,5]"));
	float w[108], b[4];
	for (int i = 0; i < 108; i++)
		w[i] = (float)((i * 37) % 11) / 7.0f - 0.6f;
	for (int i = 0; i < 4; i++)
		b[i] = 0.25f * i - 0.3f;
	w[5] = -0.0f;
	w[6] = 1e-45f;        /* denormal */
	w[7] = 3.4028235e38f; /* FLT_MAX */
	ValueId wv = ir_add_const(g, "onnx::Conv_123", ty(g, "f32[4,3,3,3]"), w);
	ValueId bv = ir_add_const(g, "/layer1/0/conv.bias", ty(g, "f32[4]"), b);
	int64_t shape[] = {1, -1};
	ValueId sv = ir_add_const(g, "shape", ty(g, "i64[2]"), shape);
	(void)sv;
	uint16_t hf[3] = {0x3c00, 0xc000, 0x7c00};  /* 1, -2, inf */
	ir_add_const(g, "half", ty(g, "f16[3]"), hf);
	uint16_t bf[2] = {0x3f80, 0xbf00};  /* 1, -0.5 */
	ir_add_const(g, "brain", ty(g, "bf16[2]"), bf);
	uint8_t bl[3] = {1, 0, 1};
	ir_add_const(g, "flags", ty(g, "bool[3]"), bl);
	uint64_t u[1] = {UINT64_MAX};
	ir_add_const(g, "big", ty(g, "u64[1]"), u);
	ir_add_const(g, "empty", ty(g, "f32[0,3]"), NULL);
	float sc = 2.5f;
	ValueId scalar = ir_add_const(g, "scalar", ir_type(g, DT_F32, 0, NULL, NULL), &sc);
	/* Quantized types, per tensor and per axis. */
	float qs[3] = {0.5f, 0.25f, 1e-3f};
	int32_t qz[3] = {0, -3, 127};
	int64_t qd[] = {3, 2};
	ir_add_input(g, "q per axis", ir_type(g, DT_I8, 2, qd, ir_quant(g, 0, 3, qs, qz)));
	float s1 = 0.05f;
	int32_t z1 = -128;
	int64_t q1d[] = {1, 16};
	int8_t qdata[16];
	for (int i = 0; i < 16; i++)
		qdata[i] = (int8_t)(i * 17 - 100);
	ir_add_const(g, "q const", ir_type(g, DT_I8, 2, q1d, ir_quant(g, -1, 1, &s1, &z1)), qdata);

	int64_t st[] = {1, 1}, pd[] = {1, 1, 1, 1}, dl[] = {1, 1};
	Attr ca[] = {ir_aints("strides", st, 2), ir_aints("pads", pd, 4), ir_aints("dilations", dl, 2), ir_ai("group", 1)};
	ValueId in[3] = {x, wv, bv};
	NodeId c = ir_build(g, OP_CONV, "/conv1/Conv", in, 3, ca, 4, "/layer1/0/Relu_output_0", &d);
	ck_assert_int_ge(c, 0);
	ValueId cv = g->nodes.v[c].out;
	/* Conv without bias but with a residual, odd attributes of every kind. */
	double fl[] = {1.5, -0.0, INFINITY, -INFINITY, NAN};
	int64_t none[1];
	Attr ca2[] = {ir_aints("strides", st, 2), ir_aints("pads", pd, 4), ir_aints("dilations", dl, 2), ir_ai("group", 1),
		      ir_astr("act", "clip"), ir_af("act_min", -INFINITY), ir_af("act_max", 6.0),
		      ir_astr("note", "quote \" backslash \\ tab\t nl\n utf8 \xc3\xa9"), ir_afloats("fl", fl, 5),
		      ir_afloats("nofl", NULL, 0), ir_aints("noint", none, 0), ir_ai("neg", INT64_MIN),
		      ir_af("tiny", 1e-45), ir_af("weird name=", 0.1)};
	ValueId in2[4] = {x, wv, -1, x2};
	NodeId c2 = ir_build(g, OP_CONV, "node \"two\"\n", in2, 4, ca2, sizeof ca2 / sizeof ca2[0], "c2", &d);
	ck_assert_msg(c2 >= 0, "%s", d.nmsg ? d.msgs[0] : "");
	ValueId in3[2] = {cv, g->nodes.v[c2].out};
	NodeId a = ir_build(g, OP_ADD, "", in3, 2, NULL, 0, "sum", &d);
	ValueId av = g->nodes.v[a].out;
	ValueId in4[2] = {av, scalar};
	NodeId m = ir_build(g, OP_MUL, "scale", in4, 2, NULL, 0, "scaled", &d);
	ValueId mv = g->nodes.v[m].out;
	int64_t rs[] = {1, 100};
	Attr ra = ir_aints("shape", rs, 2);
	NodeId r = ir_build(g, OP_RESHAPE, "flat", &mv, 1, &ra, 1, "flat", &d);
	ck_assert_int_ge(r, 0);
	/* Outputs: a node, an input, a constant, and one value twice. */
	ir_mark_output(g, g->nodes.v[r].out);
	ir_mark_output(g, x);
	ir_mark_output(g, bv);
	ir_mark_output(g, g->nodes.v[r].out);
	ck_assert_int_eq(d.nerr, 0);
	diag_free(&d);
	return g;
}

/* print -> parse -> print gives the same bytes; the reparsed graph
 * verifies and holds the same constant bytes. */
static char *check_roundtrip(Graph *g)
{
	char *a = print_str(g);
	Diag d;
	diag_init(&d);
	Graph *h = parse_str(a, &d);
	ck_assert_msg(h != NULL, "parse failed: %s\n%s", d.nmsg ? d.msgs[0] : "?", a);
	ck_assert_msg(ir_verify(h, &d), "verify failed: %s", d.nmsg ? d.msgs[0] : "?");
	char *b = print_str(h);
	ck_assert_str_eq(a, b);
	ck_assert_str_eq(h->name, g->name);
	ck_assert_str_eq(h->file, "t.kir");
	ck_assert_int_eq(h->outputs.n, g->outputs.n);
	ck_assert_int_eq(h->inputs.n, g->inputs.n);
	for (int i = 0; i < g->values.n; i++) {
		const Value *v = &g->values.v[i];
		if (v->kind != VAL_CONST)
			continue;
		ValueId hv = ir_find_value(h, v->name);
		ck_assert_int_ge(hv, 0);
		int64_t n = ir_type_bytes(ir_value_type(g, i));
		ck_assert_int_eq(n, ir_type_bytes(ir_value_type(h, hv)));
		ck_assert(n == 0 || !memcmp(v->data, ir_value(h, hv)->data, n));
	}
	for (int i = 0; i < g->outputs.n; i++)
		ck_assert_str_eq(g->values.v[g->outputs.v[i]].name, h->values.v[h->outputs.v[i]].name);
	free(b);
	diag_free(&d);
	ir_graph_free(h);
	return a;
}

START_TEST(roundtrip_rich)
{
	Graph *g = rich_graph();
	Diag d;
	diag_init(&d);
	ck_assert(ir_verify(g, &d));
	char *a = check_roundtrip(g);
	/* Names: bare when simple, quoted with escapes otherwise. */
	ck_assert_ptr_nonnull(strstr(a, "graph @\"resnet-ish \\\"v2\\\"\" {\n"));
	ck_assert_ptr_nonnull(strstr(a, "  %input.1 : f32[1,3,5,5] = input\n"));
	ck_assert_ptr_nonnull(strstr(a, "  %\"second input\" : f32[1,4,5,5] = input\n"));
	ck_assert_ptr_nonnull(strstr(a, "%\"onnx::Conv_123\" : f32[4,3,3,3] = const @0  # 108 elems\n"));
	ck_assert_ptr_nonnull(strstr(a, "%shape : i64[2] = const @2  # [1, -1]\n"));
	ck_assert_ptr_nonnull(strstr(a, "%half : f16[3] = const @3  # [1.0, -2.0, inf]\n"));
	ck_assert_ptr_nonnull(strstr(a, "%brain : bf16[2] = const @4  # [1.0, -0.5]\n"));
	ck_assert_ptr_nonnull(strstr(a, "%flags : bool[3] = const @5  # [true, false, true]\n"));
	ck_assert_ptr_nonnull(strstr(a, "%big : u64[1] = const @6  # [18446744073709551615]\n"));
	ck_assert_ptr_nonnull(strstr(a, "%empty : f32[0,3] = const @7  # []\n"));
	ck_assert_ptr_nonnull(strstr(a, "%scalar : f32[] = const @8  # [2.5]\n"));
	ck_assert_ptr_nonnull(strstr(a, "%\"q per axis\" : i8[3,2]{q axis=0: [0.5, 0.25, 0.00100000005], [0, -3, 127]} = input\n"));
	ck_assert_ptr_nonnull(strstr(a, "%\"q const\" : i8[1,16]{q: 0.0500000007, -128} = const @9  # 16 elems\n"));
	ck_assert_ptr_nonnull(strstr(a, "%\"/layer1/0/Relu_output_0\" : f32[1,4,5,5] = conv(%input.1, %\"onnx::Conv_123\", "
				 "%\"/layer1/0/conv.bias\") {strides=[1, 1], pads=[1, 1, 1, 1], dilations=[1, 1], group=1} "
				 "loc(\"/conv1/Conv\", \"Conv\")\n"));
	ck_assert_ptr_nonnull(strstr(a, "= conv(%input.1, %\"onnx::Conv_123\", _, %\"second input\")"));
	ck_assert_ptr_nonnull(strstr(a, "act_min=-inf, act_max=6.0, note=\"quote \\\" backslash \\\\ tab\\x09 nl\\x0a utf8 \\xc3\\xa9\", "
				 "fl=f[1.5, -0.0, inf, -inf, nan], nofl=f[], noint=[], neg=-9223372036854775808, "
				 "tiny=1.40129846e-45, \"weird name=\"=0.100000001} loc(\"node \\\"two\\\"\\x0a\", \"Conv\")\n"));
	ck_assert_ptr_nonnull(strstr(a, "= add(%\"/layer1/0/Relu_output_0\", %c2) loc(\"\", \"Add\")\n"));
	ck_assert_ptr_nonnull(strstr(a, "  output %flat, %input.1, %\"/layer1/0/conv.bias\", %flat\n}\n"));
	/* Short data on one line, long data wrapped at 32 bytes. */
	ck_assert_ptr_nonnull(strstr(a, "data @2 = x\"0100000000000000ffffffffffffffff\"\n"));
	ck_assert_ptr_nonnull(strstr(a, "data @7 = x\"\"\n"));
	const char *w = strstr(a, "data @0 = x\"\n  ");
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(strcspn(w + 15, "\n"), 64);
	/* Consts print in value order, before the nodes. */
	ck_assert(strstr(a, "const @9") < strstr(a, "= conv("));
	free(a);
	diag_free(&d);
	ir_graph_free(g);
}
END_TEST

START_TEST(roundtrip_edge_graphs)
{
	/* No outputs, no nodes. */
	Graph *g = ir_graph_new("empty");
	ir_add_input(g, "x", ty(g, "f32[2]"));
	char *a = check_roundtrip(g);
	ck_assert_str_eq(a, "kiln 1\ngraph @empty {\n  %x : f32[2] = input\n}\n");
	free(a);
	ir_graph_free(g);
	/* Nothing at all. */
	g = ir_graph_new("");
	free(check_roundtrip(g));
	ir_graph_free(g);
	/* Dead nodes are not printed; a graph whose output is only an input. */
	g = rich_graph();
	for (int i = 0; i < g->nodes.n; i++)
		g->nodes.v[i].dead = true;
	g->outputs.n = 0;
	ir_mark_output(g, g->inputs.v[0]);
	a = check_roundtrip(g);
	ck_assert_ptr_null(strstr(a, "conv("));
	ck_assert_ptr_nonnull(strstr(a, "output %input.1\n"));
	free(a);
	/* After compaction too. */
	ck_assert(ir_compact(g));
	free(check_roundtrip(g));
	ir_graph_free(g);
}
END_TEST

/* Hand-written text: comments, blank lines, no loc, spacing; parses and
 * then round-trips. */
START_TEST(parse_handwritten)
{
	const char *text =
		"# a comment before the header\n"
		"kiln 1\n"
		"graph @g {   # trailing comment\n"
		"\n"
		"  %x:f32[2,3]=input\n"
		"  %w : f32[3,2] = const @7\n"
		"  %\"odd name\" : f32[2,2] = matmul(%x, %w)\n"
		"  %y : f32[2,2] = leaky_relu(%\"odd name\") {alpha = 0.25}\n"
		"  output %y\n"
		"  output %x\n"
		"}\n"
		"# data follows\n"
		"data @7 = x\"0000803f 00000040\n0000404000008040 \r\n 0000a0400000c040\"\n";
	Diag d;
	diag_init(&d);
	Graph *g = parse_str(text, &d);
	ck_assert_msg(g != NULL, "%s", d.nmsg ? d.msgs[0] : "");
	ck_assert(ir_verify(g, &d));
	ValueId w = ir_find_value(g, "w");
	ck_assert_int_ge(w, 0);
	const float *wd = ir_value(g, w)->data;
	ck_assert(wd[0] == 1.0f && wd[1] == 2.0f && wd[5] == 6.0f);
	const Node *n = &g->nodes.v[1];
	ck_assert_int_eq(n->op, OP_LEAKY_RELU);
	ck_assert_str_eq(n->name, "");
	ck_assert_str_eq(n->src_op, "LeakyRelu");
	ck_assert(ir_attr_float(n, "alpha", 0) == 0.25);
	ck_assert_int_eq(g->outputs.n, 2);
	char *a = check_roundtrip(g);
	ck_assert_ptr_nonnull(strstr(a, "%w : f32[3,2] = const @0  # [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]\n"));
	ck_assert_ptr_nonnull(strstr(a, "%y : f32[2,2] = leaky_relu(%\"odd name\") {alpha=0.25} loc(\"\", \"LeakyRelu\")\n"));
	free(a);
	diag_free(&d);
	ir_graph_free(g);
}
END_TEST

/* Each bad text fails with a message containing the expected text. */
START_TEST(parse_errors)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{"", "t.kir:1:1: expected 'kiln', found end of file"},
		{"kiln 1\ngraph @g {\n  %x : f32[1,2] = input\n  %y : f32[1,4] = concat(%x, _) {axis=1} loc(\"c\", \"Concat\")\n}\n",
		 "node 'c' (Concat): operand 1 is omitted; concat reads every operand"},
		/* layouts: the name, what may be blocked, which ops read blocks */
		{"kiln 1\ngraph @g {\n  %x : f32[1,8,2,2] = input\n  %y : f32[1,8,2,2]{nchw3c} = relayout(%x)\n}\n",
		 "t.kir:4:21: unknown layout 'nchw3c' (expected nchw<B>c, B a power of two from 2 to 64)"},
		{"kiln 1\ngraph @g {\n  %x : f32[1,8,2,2] = input\n  %y : f32[1,8,2,2]{nchw8c {q: 1.0, 0} = relayout(%x)\n}\n",
		 "expected '}' after the layout"},
		{"kiln 1\ngraph @g {\n  %x : f32[1,6,2,2] = input\n  %y : f32[1,6,2,2]{nchw4c} = relayout(%x)\n}\n",
		 "t.kir:4:8: layout nchw4c needs an f32 [N, C, H, W] with C a multiple of 4"},
		{"kiln 1\ngraph @g {\n  %x : f32[8,2,2]{nchw4c} = input\n}\n", "layout nchw4c needs an f32 [N, C, H, W]"},
		{"kiln 1\ngraph @g {\n  %x : f32[1,8,2,2]{nchw4c} = input\n}\n",
		 "t.kir:3:3: '%x': graph inputs and constants are row-major (no layout)"},
		{"kiln 1\ngraph @g {\n  %x : f32[1,8,2,2] = input\n  %a : f32[1,8,2,2]{nchw4c} = relayout(%x)\n"
		 "  %y : f32[1,8,2,2] = relu(%a) loc(\"r\", \"Relu\")\n}\n",
		 "t.kir:5:3: node 'r' (Relu): layout: a row-major result needs row-major operands"},
		{"kiln 1\ngraph @g {\n  %x : f32[1,8,2,2] = input\n  %a : f32[1,8,2,2]{nchw4c} = relayout(%x)\n"
		 "  %y : f32[1,8,2,2] = softmax(%a) {axis=1} loc(\"s\", \"Softmax\")\n}\n",
		 "node 's' (Softmax): layout: this op reads and writes row-major values only"},
		{"kiln 1\ngraph @g {\n  %x : f32[1,8,2,2] = input\n  %a : f32[1,8,2,2]{nchw4c} = relayout(%x)\n  output %a\n}\n",
		 "t.kir:5:10: graph outputs are row-major: '%a' is in channel blocks"},
		{"kiln 1\ngraph @g {\n  %x : f32[1,8,2,2] = input\n  %a : f32[1,8,2,2]{nchw4c} = relayout(%x)\n"
		 "  %b : f32[1,8,2,2]{nchw8c} = relu(%a) loc(\"r\", \"Relu\")\n}\n",
		 "node 'r' (Relu): layout: an elementwise operand must be in the result's layout, per channel, or a scalar"},
		{"kiln 2\ngraph @g {\n}\n", "t.kir:1:6: unsupported .kir version '2'"},
		{"kiln 1\ngraph g {}\n", "t.kir:2:7: expected '@' before the graph name, found 'g'"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  %y : f32[2] = frob(%x)\n}\n", "t.kir:4:17: unknown op 'frob'"},
		{"kiln 1\ngraph @g {\n  %y : f32[2] = relu(%x)\n  %x : f32[2] = input\n}\n",
		 "t.kir:3:22: '%x' is used before it is defined"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  %x : f32[2] = input\n}\n", "t.kir:4:3: '%x' is defined twice"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  output %nope\n}\n", "t.kir:4:10: '%nope' is used before"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  %y : f32[3] = relu(%x) loc(\"r1\", \"Relu\")\n}\n",
		 "t.kir:4:3: node 'r1' (Relu): '%y' is declared f32[3] but relu produces f32[2]"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  %z : f32[3] = input\n  %y : f32[3] = add(%x, %z) loc(\"a\", \"Add\")\n}\n",
		 "t.kir:5:3: node 'a' (Add): input shapes f32[2] and f32[3] cannot be broadcast"},
		{"kiln 1\ngraph @g {\n  %w : f32[2] = const @0\n}\ndata @0 = x\"0000\"\n",
		 "t.kir:5:1: data @0 has 2 bytes, '%w' needs 8"},
		{"kiln 1\ngraph @g {\n  %w : f32[1] = const @0\n}\ndata @0 = x\"0000803f00\"\n",
		 "data @0 has more than the 4 bytes '%w' needs"},
		{"kiln 1\ngraph @g {\n  %w : u8[1] = const @0\n}\ndata @0 = x\"0\"\n", "odd number of hex digits"},
		{"kiln 1\ngraph @g {\n  %w : u8[1] = const @0\n}\ndata @0 = x\"0g\"\n", "t.kir:5:14: bad hex digit in data @0"},
		{"kiln 1\ngraph @g {\n  %w : u8[1] = const @0\n}\ndata @0 = x\"00", "data @0 is not terminated"},
		{"kiln 1\ngraph @g {\n  %w : u8[1] = const @0\n}\ndata @0 = x \"00\"\n", "expected '\"' to open the hex data"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input\n}\ndata @0 = x\"00\"\n", "data @0 belongs to no constant"},
		{"kiln 1\ngraph @g {\n  %w : u8[1] = const @0\n}\ndata @0 = x\"00\"\ndata @0 = x\"00\"\n", "data @0 is given twice"},
		{"kiln 1\ngraph @g {\n  %w : u8[1] = const @0\n}\n", "t.kir:3:3: constant '%w' has no data @0"},
		{"kiln 1\ngraph @g {\n  %w : u8[1] = const @0\n  %v : u8[1] = const @0\n}\ndata @0 = x\"00\"\ndata @1 = x\"00\"\n",
		 "t.kir:4:3: const @0 is used by two constants"},
		{"kiln 1\ngraph @g {\n  %w : f32[1000000] = const @0\n}\ndata @0 = x\"00\"\n", "the file is too short"},
		{"kiln 1\ngraph @g {\n  %x : f32[99999999999,99999999999,9999999999] = input\n}\n",
		 "t.kir:3:8: shape has too many elements"},
		{"kiln 1\ngraph @g {\n  %x : f32[99999999999999999999] = input\n}\n", "dimension 99999999999999999999 is out of range"},
		{"kiln 1\ngraph @g {\n  %x : f32[-1] = input\n}\n", "dimension -1 is out of range"},
		{"kiln 1\ngraph @g {\n  %x : f32[1,1,1,1,1,1,1,1,1] = input\n}\n", "rank exceeds 8"},
		{"kiln 1\ngraph @g {\n  %x : f33[2] = input\n}\n", "t.kir:3:8: unknown dtype 'f33'"},
		{"kiln 1\ngraph @g {\n  %x : f32[2 = input\n}\n", "expected ',' between dimensions, found '='"},
		{"kiln 1\ngraph @g {\n  %\"x : f32[2] = input\n}\n", "t.kir:3:4: unterminated string"},
		{"kiln 1\ngraph @g {\n  %\"x\\q\" : f32[2] = input\n}\n", "t.kir:3:6: unknown escape"},
		{"kiln 1\ngraph @g {\n  %\"x\\x0\" : f32[2] = input\n}\n", "two hex digits"},
		{"kiln 1\ngraph @g {\n  %\"x\\x00\" : f32[2] = input\n}\n", "cannot contain a NUL byte"},
		{"kiln 1\ngraph @g {\n  %\"\" : f32[2] = input\n}\n", "a value name cannot be empty"},
		{"kiln 1\ngraph @g {\n  % : f32[2] = input\n}\n", "expected a value name, found ':'"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  %y : f32[2] = leaky_relu(%x) {alpha=0.5, alpha=0.5}\n}\n",
		 "attribute 'alpha' is given twice"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  %y : f32[2] = leaky_relu(%x) {alpha=1e39}\n}\n",
		 "out of float32 range"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  %y : f32[2] = leaky_relu(%x) {alpha=1x}\n}\n", "'1x' is not a number"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  %y : f32[2] = leaky_relu(%x) {alpha=[1, 2.5]}\n}\n",
		 "'2.5' is not an integer"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  %y : f32[2] = leaky_relu(%x) {alpha}\n}\n", "expected '=' after"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  %y : f32[2] = leaky_relu(%x) {alpha=0.5} loc(\"a\")\n}\n",
		 "expected ',' after the node name"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  %y : f32[2] = relu(%x, %x)\n}\n", "has 2 operands, expected 1"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  %y : f32[2] = relu(_)\n}\n", "required operand 0 is omitted"},
		{"kiln 1\ngraph @g {\n  %x : i8[2]{q axis=1: [1.0], [0]} = input\n}\n", "quantization axis 1 is out of range for rank 1"},
		{"kiln 1\ngraph @g {\n  %x : i8[2]{q axis=0: [1.0], [0]} = input\n}\n", "has 1 scales and 1 zero points; axis 0 has 2"},
		{"kiln 1\ngraph @g {\n  %x : i8[2]{q: 1.0, 2147483648} = input\n}\n", "zero point 2147483648 is out of range"},
		{"kiln 1\ngraph @g {\n  %x : i8[2]{r: 1.0, 0} = input\n}\n", "expected 'q', found 'r'"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  junk\n}\n", "t.kir:4:3: expected a definition"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input\n}\ngarbage\n", "t.kir:5:1: expected 'data', found 'garbage'"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input\n", "expected a definition '%name : type = ...', 'output' or '}', found end of file"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input \x01\n}\n", "found byte 0x01"},
		{"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  %y : f32[2] = relu(%x) loc(\"n\", \"Relu\") {a=1}\n}\n",
		 "t.kir:4:43: expected a definition"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		Diag d;
		diag_init(&d);
		Graph *h = parse_str(cases[i].text, &d);
		ck_assert_msg(h == NULL, "case %zu parsed", i);
		ck_assert_msg(d.nerr == 1 && d.nmsg == 1, "case %zu: %d errors", i, d.nerr);
		ck_assert_msg(strstr(d.msgs[0], cases[i].msg), "case %zu: got '%s', want '%s'", i, d.msgs[0], cases[i].msg);
		diag_free(&d);
	}
	/* With no file name the position leads the message. */
	Diag d;
	diag_init(&d);
	ck_assert_ptr_null(ir_parse("kiln 1\nfoo", 11, NULL, &d));
	ck_assert_str_eq(d.msgs[0], "2:1: expected 'graph', found 'foo'");
	diag_free(&d);
	/* Length is honoured: no reading past it even without a NUL. */
	diag_init(&d);
	char nonul[6] = {'k', 'i', 'l', 'n', ' ', '1'};
	ck_assert_ptr_null(ir_parse(nonul, sizeof nonul, "t.kir", &d));
	ck_assert_ptr_nonnull(strstr(d.msgs[0], "expected 'graph', found end of file"));
	diag_free(&d);
}
END_TEST

/* Truncations, random garbage and random mutations of good text never
 * crash; whatever parses also verifies and round-trips. */
START_TEST(parse_hostile)
{
	Graph *g = rich_graph();
	char *good = print_str(g);
	ir_graph_free(g);
	size_t n = strlen(good);
	int parsed = 0;
	for (size_t cut = 0; cut < n; cut++) {
		char *t = malloc(cut + 1);
		memcpy(t, good, cut);
		Diag d;
		diag_init(&d);
		Graph *h = ir_parse(t, cut, "t.kir", &d);
		ck_assert(h != NULL || d.nerr == 1);
		if (h) {
			parsed++;
			ck_assert(ir_verify(h, &d));
		}
		ir_graph_free(h);
		diag_free(&d);
		free(t);
	}
	ck_assert_int_le(parsed, 2);  /* only the full text, maybe without its last newline */
	srand(12345);
	char *buf = malloc(n + 64);
	for (int iter = 0; iter < 3000; iter++) {
		size_t len;
		if (iter < 500) {  /* garbage bytes */
			len = rand() % 200;
			for (size_t i = 0; i < len; i++)
				buf[i] = (char)(rand() % 256);
			if (iter % 2 && len > 20)
				memcpy(buf, "kiln 1\ngraph @g {\n", 18);
		} else {  /* mutations of good text */
			memcpy(buf, good, n);
			len = n;
			int edits = 1 + rand() % 4;
			for (int e = 0; e < edits; e++) {
				size_t at = rand() % len;
				static const char pool[] = "%@:=(){}[],\"_#\n \\x0fq-9.e";
				switch (rand() % 3) {
				case 0: buf[at] = pool[rand() % (sizeof pool - 1)]; break;
				case 1: memmove(buf + at, buf + at + 1, len - at - 1); len--; break;
				default:
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = pool[rand() % (sizeof pool - 1)];
					len++;
				}
			}
		}
		/* An exact-size copy, so reading past len is caught by valgrind. */
		char *exact = malloc(len ? len : 1);
		memcpy(exact, buf, len);
		Diag d;
		diag_init(&d);
		Graph *h = ir_parse(exact, len, "t.kir", &d);
		free(exact);
		if (h) {
			ck_assert_msg(ir_verify(h, &d), "iter %d: verify: %s", iter, d.msgs[0]);
			free(check_roundtrip(h));
			ir_graph_free(h);
		} else {
			ck_assert_int_eq(d.nerr, 1);
		}
		diag_free(&d);
	}
	free(buf);
	free(good);
}
END_TEST

/* ---- verifier ---------------------------------------------------------------- */

static bool has_msg(const Diag *d, const char *s)
{
	for (int i = 0; i < d->nmsg; i++)
		if (strstr(d->msgs[i], s))
			return true;
	return false;
}

/* Break g with `breaker`, expect ir_verify to report `msg`. */
#define CK_BROKEN(msg, ...)                                                                  \
	do {                                                                                 \
		Graph *g = rich_graph();                                                     \
		Diag d;                                                                      \
		diag_init(&d);                                                               \
		__VA_ARGS__;                                                                 \
		ck_assert(!ir_verify(g, &d));                                                \
		ck_assert_msg(has_msg(&d, msg), "want '%s', got '%s'", msg, d.nmsg ? d.msgs[0] : ""); \
		diag_free(&d);                                                               \
		ir_graph_free(g);                                                            \
	} while (0)

START_TEST(verifier)
{
	Graph *g0 = rich_graph();
	Diag d0;
	diag_init(&d0);
	ck_assert(ir_verify(g0, &d0));
	ck_assert_int_eq(d0.nerr, 0);
	diag_free(&d0);
	ir_graph_free(g0);
	/* An operand referencing a later node's result. */
	CK_BROKEN("node '/conv1/Conv' (Conv): operand 0 'sum' is used before it is defined",
		  g->nodes.v[0].in[0] = g->nodes.v[2].out);
	/* A node using its own result. */
	CK_BROKEN("operand 1 'sum' is used before", g->nodes.v[2].in[1] = g->nodes.v[2].out);
	/* A result type its op does not produce. */
	CK_BROKEN("node 'scale' (Mul): result type f32[7] does not match inferred f32[1,4,5,5]",
		  int64_t dims[] = {7}; g->values.v[g->nodes.v[3].out].type = ir_type(g, DT_F32, 1, dims, NULL));
	CK_BROKEN("is an invalid value id 12345", g->nodes.v[1].in[1] = 12345);
	CK_BROKEN("has 1 operands, expected 2", g->nodes.v[2].nin = 1);
	CK_BROKEN("has 0 operands, expected 1", g->nodes.v[4].nin = 0);
	CK_BROKEN("does not name this node as its definition", g->values.v[g->nodes.v[1].out].def = 0);
	CK_BROKEN("is defined twice", g->nodes.v[2].out = g->nodes.v[1].out);
	CK_BROKEN("graph output 1 is not a defined value", g->outputs.v[1] = 4242);
	CK_BROKEN("graph output 0 is not a defined value", g->nodes.v[4].dead = true);
	CK_BROKEN("two values are named 'shape'", g->values.v[0].name = "shape");
	CK_BROKEN("listed twice as a graph input", g->inputs.v[1] = g->inputs.v[0]);
	CK_BROKEN("graph input 0 is not an input value", g->inputs.v[0] = g->nodes.v[0].out);
	CK_BROKEN("has an invalid type id 777", g->values.v[2].type = 777);
	CK_BROKEN("invalid op 999", g->nodes.v[1].op = (Op)999);
	CK_BROKEN("constant 'shape' has no data", g->values.v[ir_find_value(g, "shape")].data = NULL);
	CK_BROKEN("attribute 'group' (an int) is missing", g->nodes.v[0].nattr = 3);
	CK_BROKEN("names an invalid node 99", g->values.v[g->nodes.v[2].out].def = 99);
}
END_TEST

/* ---- allocation failure --------------------------------------------------------- */

static int fail_at, allocs;
static void *failing_alloc(void *ud, size_t size)
{
	(void)ud;
	if (++allocs == fail_at)
		return NULL;
	return malloc(size);
}

/* The Nth allocation fails, for every N until a run needs no failure:
 * building fails cleanly with a diagnostic, nothing crashes or leaks
 * (valgrind), and a graph that was built prints and reparses. */
START_TEST(allocation_failures)
{
	Graph *ref = rich_graph();
	char *text = print_str(ref);
	ir_graph_free(ref);
	bool build_done = false, parse_done = false;
	for (fail_at = 1; fail_at < 400 && !(build_done && parse_done); fail_at++) {
		/* Build a small graph and print it. */
		allocs = 0;
		ir_set_alloc_hook(failing_alloc, NULL);
		Diag d;
		diag_init(&d);
		Graph *g = ir_graph_new("t");
		bool ok = g != NULL;
		int64_t xs[] = {1, 2, 4, 4}, ws[] = {3, 2, 3, 3}, sh[] = {1, 48};
		TypeId tx = ok ? ir_type(g, DT_F32, 4, xs, NULL) : -1;
		TypeId tw = tx >= 0 ? ir_type(g, DT_F32, 4, ws, NULL) : -1;
		ValueId x = tw >= 0 ? ir_add_input(g, "x", tx) : -1;
		ValueId w = x >= 0 ? ir_add_const(g, "w", tw, NULL) : -1;
		int64_t st[] = {1, 1}, pd[] = {1, 1, 1, 1}, dl[] = {1, 1};
		Attr ca[] = {ir_aints("strides", st, 2), ir_aints("pads", pd, 4), ir_aints("dilations", dl, 2), ir_ai("group", 1)};
		ValueId in[2] = {x, w};
		NodeId c = w >= 0 ? ir_build(g, OP_CONV, "c", in, 2, ca, 4, "y", &d) : -1;
		ValueId y = c >= 0 ? g->nodes.v[c].out : -1;
		Attr ra = ir_aints("shape", sh, 2);
		NodeId r = y >= 0 ? ir_build(g, OP_RESHAPE, "r", &y, 1, &ra, 1, "z", &d) : -1;
		float s = 0.5f;
		int32_t z = 1;
		const Quant *q = r >= 0 ? ir_quant(g, -1, 1, &s, &z) : NULL;
		TypeId tq = q ? ir_type(g, DT_I8, 2, sh, q) : -1;
		ValueId qi = tq >= 0 ? ir_add_input(g, "qi", tq) : -1;
		if (qi >= 0)
			ok = ir_mark_output(g, g->nodes.v[r].out);
		if ((w >= 0 && c < 0) || (y >= 0 && r < 0))
			ck_assert_msg(d.nerr == 1, "fail_at %d: a node build failed without one diagnostic", fail_at);
		bool complete = ok && qi >= 0;
		ir_set_alloc_hook(NULL, NULL);
		if (complete) {
			Diag v;
			diag_init(&v);
			ck_assert(ir_verify(g, &v));
			free(print_str(g));
			diag_free(&v);
		}
		if (allocs < fail_at) {
			ck_assert(complete);
			build_done = true;
		}
		ir_graph_free(g);
		diag_free(&d);

		/* Parse the rich graph's text. */
		allocs = 0;
		ir_set_alloc_hook(failing_alloc, NULL);
		diag_init(&d);
		Graph *h = parse_str(text, &d);
		ir_set_alloc_hook(NULL, NULL);
		if (h) {
			char *again = print_str(h);
			ck_assert_str_eq(again, text);
			free(again);
		} else {
			ck_assert_int_eq(d.nerr, 1);
		}
		if (allocs < fail_at) {
			ck_assert_ptr_nonnull(h);
			parse_done = true;
		}
		ir_graph_free(h);
		diag_free(&d);
	}
	ck_assert(build_done && parse_done);
	free(text);
}
END_TEST

/* ---- requantization (ir/requant.c) ----------------------------------------- */

/* round_half_even(acc * r) exactly: r = m * 2^e with a 53-bit integer m. */
static int64_t exact_round(int32_t acc, double r, double *dist)
{
	int e;
	double f = frexp(r, &e);
	int64_t m = (int64_t)ldexp(f, 53);
	e -= 53;  /* r = m * 2^e, e < 0 here */
	__int128 p = (__int128)acc * m, one = (__int128)1 << -e;
	__int128 fl = p >= 0 ? p / one : -((-p + one - 1) / one), rem = p - fl * one;
	*dist = fabs((double)rem / (double)one - 0.5);  /* how far from a tie */
	return (int64_t)(fl + (2 * rem > one || (2 * rem == one && (fl & 1))));
}

START_TEST(requantize_rounds_half_even)
{
	Requant q;
	/* Ties go to even, both signs (r = 1/2 and 1/4 are exact). */
	ck_assert(ir_requant_of(0.5, &q));
	ck_assert_int_eq(q.mult, 1 << 30);
	ck_assert_int_eq(q.shift, 31);
	const int32_t acc[] = {1, 3, 5, -1, -3, -5, 0, 7, -7}, want[] = {0, 2, 2, 0, -2, -2, 0, 4, -4};
	for (int i = 0; i < 9; i++)
		ck_assert_int_eq(ir_requantize(acc[i], q, 0, INT32_MIN, INT32_MAX), want[i]);
	ck_assert(ir_requant_of(0.25, &q));
	ck_assert_int_eq(ir_requantize(2, q, 0, -128, 127), 0);
	ck_assert_int_eq(ir_requantize(6, q, 0, -128, 127), 2);
	/* Zero point, then saturation (a fused relu6 is just lo/hi). */
	ck_assert_int_eq(ir_requantize(1000, q, 3, -128, 127), 127);
	ck_assert_int_eq(ir_requantize(-1000, q, 3, -128, 127), -128);
	ck_assert_int_eq(ir_requantize(-8, q, 3, 3, 27), 3);
	ck_assert_int_eq(ir_requantize(20, q, 3, 3, 27), 8);
	/* Out of range multipliers are refused; tiny ones round everything to 0. */
	ck_assert(!ir_requant_of(0, &q) && !ir_requant_of(-1e-3, &q) && !ir_requant_of(NAN, &q));
	ck_assert(!ir_requant_of(INFINITY, &q) && !ir_requant_of(2e9, &q));
	ck_assert(ir_requant_of(1e-12, &q));
	ck_assert_int_eq(ir_requantize(INT32_MAX, q, 5, -128, 127), 5);
	ck_assert_int_eq(ir_requantize(INT32_MIN, q, 5, -128, 127), 5);
	/* Random accumulators and log-uniform multipliers against the exact
	 * value: equal, except within the multiplier's 2^-31 relative error of
	 * a tie, and never by more than one. */
	srand(11);
	int near = 0, tried = 0;
	for (int i = 0; i < 400000; i++) {
		/* Half the multipliers have at most 30 significant bits, which
		 * mult holds exactly: those must agree always. */
		bool exact = i & 1;
		double f = exact ? (double)((1 << 29) + rand() % (1 << 29)) / (1 << 30)
				 : 0.5 + 0.5 * rand() / ((double)RAND_MAX + 1) + 0x1p-45 * (rand() % 1024);
		double r = ldexp(f, -(rand() % 40) + 8);
		int32_t a = (int32_t)(((uint32_t)rand() << 16) ^ (uint32_t)rand());
		if (i % 3 == 0)
			a %= 1 << (rand() % 20 + 1);  /* small accumulators too */
		if (fabs((double)a * r) > 1e15 || !ir_requant_of(r, &q))
			continue;
		double dist;
		int64_t e = exact_round(a, r, &dist), got = ir_requantize(a, q, 0, INT32_MIN, INT32_MAX);
		if (e < INT32_MIN || e > INT32_MAX)
			continue;
		tried++;
		if (got != e) {
			ck_assert_msg(!exact && llabs(got - e) == 1 && dist <= fabs((double)a) * r * 0x1p-30 + 1e-12,
				      "acc %d r %.17g: %lld, exact %lld", a, r, (long long)got, (long long)e);
			near++;
		}
	}
	ck_assert_int_gt(tried, 300000);
	ck_assert_msg(near < tried / 200, "%d of %d off by one", near, tried);
}
END_TEST

/* ---- on the shared small graph (small_graph.h) ---------------------------------- */

START_TEST(types_are_interned_small)
{
	Graph *g = ir_graph_new("t");
	int64_t a[] = {2, 3}, b[] = {2, 3}, c[] = {3, 2};
	TypeId t1 = ir_type(g, DT_F32, 2, a, NULL), t2 = ir_type(g, DT_F32, 2, b, NULL);
	ck_assert_int_eq(t1, t2);
	ck_assert_int_ne(t1, ir_type(g, DT_F32, 2, c, NULL));
	ck_assert_int_ne(t1, ir_type(g, DT_I8, 2, a, NULL));
	float s = 0.5f;
	int32_t z = 3, z2 = 4;
	const Quant *q1 = ir_quant(g, -1, 1, &s, &z), *q2 = ir_quant(g, -1, 1, &s, &z), *q3 = ir_quant(g, -1, 1, &s, &z2);
	ck_assert_ptr_eq(q1, q2);
	ck_assert_ptr_ne(q1, q3);
	TypeId tq = ir_type(g, DT_I8, 2, a, q1);
	ck_assert_int_eq(tq, ir_type(g, DT_I8, 2, a, q2));
	ck_assert_int_ne(tq, ir_type(g, DT_I8, 2, a, q3));
	ck_assert_int_ne(tq, ir_type(g, DT_I8, 2, a, NULL));
	ir_graph_free(g);
}
END_TEST

START_TEST(shape_rules_small_graph)
{
	Diag d;
	diag_init(&d);
	Graph *g = ir_graph_new("t");
	int64_t xs[] = {1, 6, 11, 13}, ws[] = {9, 2, 3, 3};
	ValueId x = ir_add_input(g, "x", ir_type(g, DT_F32, 4, xs, NULL));
	ValueId w = ir_add_const(g, "w", ir_type(g, DT_F32, 4, ws, NULL), NULL);
	int64_t st[] = {2, 1}, pd[] = {1, 0, 2, 0}, dl[] = {2, 1};
	Attr ca[] = {ir_aints("strides", st, 2), ir_aints("pads", pd, 4), ir_aints("dilations", dl, 2), ir_ai("group", 3)};
	ValueId in[2] = {x, w};
	TypeId t = ir_infer_type(g, OP_CONV, "c", in, 2, ca, 4, &d);
	ck_assert_int_ge(t, 0);
	const Type *ty = ir_type_get(g, t);
	/* H: (11 + 1 + 2 - 2*2 - 1)/2 + 1 = 5; W: (13 - 3)/1 + 1 = 11 */
	ck_assert_int_eq(ty->dims[1], 9);
	ck_assert_int_eq(ty->dims[2], 5);
	ck_assert_int_eq(ty->dims[3], 11);
	/* group 4 does not divide 6 channels */
	ca[3] = ir_ai("group", 4);
	ck_assert_int_lt(ir_infer_type(g, OP_CONV, "c2", in, 2, ca, 4, &d), 0);
	ck_assert_ptr_nonnull(strstr(d.msgs[0], "node 'c2' (Conv)"));
	/* matmul batch broadcast [2,1,4,5] x [3,5,6] -> [2,3,4,6] */
	int64_t as[] = {2, 1, 4, 5}, bs[] = {3, 5, 6};
	ValueId a = ir_add_input(g, "a", ir_type(g, DT_F32, 4, as, NULL));
	ValueId b = ir_add_input(g, "b", ir_type(g, DT_F32, 3, bs, NULL));
	ValueId mm[2] = {a, b};
	t = ir_infer_type(g, OP_MATMUL, "mm", mm, 2, NULL, 0, &d);
	ck_assert_int_ge(t, 0);
	ty = ir_type_get(g, t);
	ck_assert_int_eq(ty->rank, 4);
	ck_assert_int_eq(ty->dims[1], 3);
	ck_assert_int_eq(ty->dims[3], 6);
	/* broadcast failure */
	ck_assert_int_lt(ir_infer_type(g, OP_ADD, "bad", mm, 2, NULL, 0, &d), 0);
	/* maxpool ceil mode: 13 with k3 s2 -> 6 (floor) vs 6 (ceil drops the window starting at 13?) */
	int64_t ps[] = {1, 1, 13, 14};
	ValueId p = ir_add_input(g, "p", ir_type(g, DT_F32, 4, ps, NULL));
	int64_t k[] = {3, 3}, s2[] = {2, 2}, z4[] = {0, 0, 0, 0}, d1[] = {1, 1};
	Attr pa[] = {ir_aints("kernel", k, 2), ir_aints("strides", s2, 2), ir_aints("pads", z4, 4), ir_aints("dilations", d1, 2),
		     ir_ai("ceil_mode", 1)};
	t = ir_infer_type(g, OP_MAXPOOL, "mp", &p, 1, pa, 5, &d);
	ck_assert_int_ge(t, 0);
	ck_assert_int_eq(ir_type_get(g, t)->dims[2], 6);
	ck_assert_int_eq(ir_type_get(g, t)->dims[3], 7);
	ir_graph_free(g);
	diag_free(&d);
}
END_TEST

START_TEST(print_parse_roundtrip_small)
{
	Graph *g = small_graph();
	/* A quantized input type must round-trip too. */
	float sc[4] = {0.5f, 0.25f, 1e-3f, 3.0f};
	int32_t zp[4] = {0, -3, 7, 127};
	int64_t qs[] = {4, 2};
	ir_add_input(g, "q in", ir_type(g, DT_I8, 2, qs, ir_quant(g, 0, 4, sc, zp)));
	char *a = print_str(g);
	Diag d;
	diag_init(&d);
	Graph *h = parse_str(a, &d);
	ck_assert_msg(h != NULL, "parse failed: %s", d.nmsg ? d.msgs[0] : "?");
	char *b = print_str(h);
	ck_assert_str_eq(a, b);
	ck_assert_ptr_nonnull(strstr(a, "%\"onnx::weird name\""));
	ck_assert_ptr_nonnull(strstr(a, "{q axis=0: [0.5, 0.25, 0.00100000005, 3.0], [0, -3, 7, 127]}"));
	free(a);
	free(b);
	ir_graph_free(g);
	ir_graph_free(h);
	diag_free(&d);
}
END_TEST

START_TEST(parse_errors_small_graph)
{
	Graph *g = small_graph();
	char *good = print_str(g);
	ir_graph_free(g);
	const char *bad[] = {
		"",
		"kiln 2\ngraph @g {\n}\n",
		"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  %y : f32[2] = frob(%x) loc(\"\", \"\")\n  output %y\n}\n",
		"kiln 1\ngraph @g {\n  %y : f32[2] = relu(%x) loc(\"\", \"\")\n  %x : f32[2] = input\n  output %y\n}\n",
		"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  %x : f32[2] = input\n  output %x\n}\n",
		"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  %y : f32[3] = relu(%x) loc(\"\", \"\")\n  output %y\n}\n",
		"kiln 1\ngraph @g {\n  %w : f32[2] = const @0\n  output %w\n}\ndata @0 = x\"0000\"\n",
		"kiln 1\ngraph @g {\n  %x : f32[99999999999,99999999999,9999999999] = input\n  output %x\n}\n",
		"kiln 1\ngraph @g {\n  %x : f32[2] = input\n  output %x\n}\ndata @0 = x\"00\"\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		Diag d;
		diag_init(&d);
		Graph *h = parse_str(bad[i], &d);
		ck_assert_msg(h == NULL, "case %zu parsed", i);
		ck_assert_int_ge(d.nerr, 1);
		diag_free(&d);
	}
	/* Every truncation of a good file fails cleanly or parses; never crashes. */
	size_t n = strlen(good);
	for (size_t cut = 0; cut < n; cut += 1 + cut / 50) {
		char *t = strndup(good, cut);
		Diag d;
		diag_init(&d);
		Graph *h = parse_str(t, &d);
		ir_graph_free(h);
		diag_free(&d);
		free(t);
	}
	free(good);
}
END_TEST

START_TEST(verifier_catches_breakage)
{
	Diag d;
	diag_init(&d);
	Graph *g = small_graph();
	ck_assert(ir_verify(g, &d));
	/* Use of a later node's result. */
	int saved = g->nodes.v[0].in[0];
	g->nodes.v[0].in[0] = g->nodes.v[1].out;
	ck_assert(!ir_verify(g, &d));
	g->nodes.v[0].in[0] = saved;
	diag_free(&d);
	diag_init(&d);
	ck_assert(ir_verify(g, &d));
	/* A result type that its op does not produce. */
	int64_t dims[] = {7};
	g->values.v[g->nodes.v[1].out].type = ir_type(g, DT_F32, 1, dims, NULL);
	ck_assert(!ir_verify(g, &d));
	bool named = false;
	for (int i = 0; i < d.nmsg; i++)
		named |= strstr(d.msgs[i], "node 'relu' (Relu): result type f32[7] does not match") != NULL;
	ck_assert(named);
	diag_free(&d);
	ir_graph_free(g);
}
END_TEST

static Suite *ir_suite(void)
{
	Suite *s = suite_create("ir");
	TCase *tc = tcase_create("ir");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, type_interning);
	tcase_add_test(tc, numel_overflow);
	tcase_add_test(tc, broadcast);
	tcase_add_test(tc, shape_conv);
	tcase_add_test(tc, shape_pool);
	tcase_add_test(tc, shape_gemm_matmul);
	tcase_add_test(tc, shape_elementwise);
	tcase_add_test(tc, shape_misc);
	tcase_add_test(tc, shape_cast_saturate);
	tcase_add_test(tc, float8_conversions);
	tcase_add_test(tc, shape_rule_guards);
	tcase_add_test(tc, roundtrip_rich);
	tcase_add_test(tc, roundtrip_edge_graphs);
	tcase_add_test(tc, parse_handwritten);
	tcase_add_test(tc, parse_errors);
	tcase_add_test(tc, parse_hostile);
	tcase_add_test(tc, verifier);
	tcase_add_test(tc, allocation_failures);
	tcase_add_test(tc, requantize_rounds_half_even);
	tcase_add_test(tc, types_are_interned_small);
	tcase_add_test(tc, shape_rules_small_graph);
	tcase_add_test(tc, print_parse_roundtrip_small);
	tcase_add_test(tc, parse_errors_small_graph);
	tcase_add_test(tc, verifier_catches_breakage);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ir_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
