/* Unit tests for the quantize pass (passes/quantize.c): where it puts the
 * quantize/dequantize pairs, the scales it derives from a plan's ranges and
 * from the weights, what a layer kept in float keeps, and that the qdq pass
 * after it makes the quantized ops integer ones. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "passes.h"

static Diag d;

static void setup(void) { diag_init(&d); }
static void teardown(void) { diag_free(&d); }

static ValueId out_of(Graph *g, NodeId n)
{
	ck_assert_msg(n >= 0, "%s", d.nmsg ? d.msgs[d.nmsg - 1] : "?");
	return g->nodes.v[n].out;
}

/* x[1,2,4,4] -> conv 1x1 (3 channels) -> relu -> maxpool 2 -> reshape [1,12]
 * -> gemm (trans_b, 4 columns) -> y */
static Graph *model(float *w_out)
{
	Graph *g = ir_graph_new("m");
	int64_t dx[] = {1, 2, 4, 4}, dw[] = {3, 2, 1, 1}, db[] = {3}, dw2[] = {4, 12}, db2[] = {4};
	ValueId x = ir_add_input(g, "x", ir_type(g, DT_F32, 4, dx, NULL));
	float w[6] = {0.5f, -1.27f, 0.25f, 0.125f, -0.03f, 0.02f}, b[3] = {0.1f, -0.2f, 0.3f}, w2[48], b2[4] = {0};
	for (int i = 0; i < 48; i++)
		w2[i] = (float)((i * 37 % 23) - 11) / 16;
	memcpy(w_out, w, sizeof w);
	ValueId wc = ir_add_const(g, "w", ir_type(g, DT_F32, 4, dw, NULL), w);
	ValueId bc = ir_add_const(g, "b", ir_type(g, DT_F32, 1, db, NULL), b);
	ValueId w2c = ir_add_const(g, "w2", ir_type(g, DT_F32, 2, dw2, NULL), w2);
	ValueId b2c = ir_add_const(g, "b2", ir_type(g, DT_F32, 1, db2, NULL), b2);
	int64_t one[] = {1, 1}, zero4[] = {0, 0, 0, 0}, two[] = {2, 2}, shape[] = {1, 12};
	Attr ca[] = {ir_aints("strides", one, 2), ir_aints("pads", zero4, 4), ir_aints("dilations", one, 2), ir_ai("group", 1)};
	ValueId cin[] = {x, wc, bc};
	ValueId c = out_of(g, ir_build(g, OP_CONV, "conv", cin, 3, ca, 4, "c", &d));
	ValueId r = out_of(g, ir_build(g, OP_RELU, "relu", &c, 1, NULL, 0, "r", &d));
	Attr pa[] = {ir_aints("kernel", two, 2), ir_aints("strides", two, 2), ir_aints("pads", zero4, 4),
		     ir_aints("dilations", one, 2), ir_ai("ceil_mode", 0)};
	ValueId m = out_of(g, ir_build(g, OP_MAXPOOL, "pool", &r, 1, pa, 5, "m", &d));
	Attr ra = ir_aints("shape", shape, 2);
	ValueId f = out_of(g, ir_build(g, OP_RESHAPE, "flat", &m, 1, &ra, 1, "f", &d));
	Attr ga[] = {ir_af("alpha", 1), ir_af("beta", 1), ir_ai("trans_a", 0), ir_ai("trans_b", 1)};
	ValueId gin[] = {f, w2c, b2c};
	ValueId y = out_of(g, ir_build(g, OP_GEMM, "fc", gin, 3, ga, 4, "y", &d));
	ck_assert(ir_mark_output(g, y));
	return g;
}

static const QuantRange ranges[] = {{"x", 0, 1}, {"c", -3, 7}, {"r", 0, 6}, {"m", 0, 5}, {"f", 0, 5}, {"y", -5, 5}};

/* The node reading v, when exactly one does. */
static const Node *only_reader(Graph *g, ValueId v)
{
	const Node *k = NULL;
	int n = 0;
	for (int i = 0; i < g->nodes.n; i++)
		for (int j = 0; !g->nodes.v[i].dead && j < g->nodes.v[i].nin; j++)
			if (g->nodes.v[i].in[j] == v) {
				k = &g->nodes.v[i];
				n++;
			}
	return n == 1 ? k : NULL;
}

static const Node *node_named(Graph *g, const char *name)
{
	for (int i = 0; i < g->nodes.n; i++)
		if (!g->nodes.v[i].dead && !strcmp(g->nodes.v[i].name, name))
			return &g->nodes.v[i];
	return NULL;
}

START_TEST(pairs_and_scales)
{
	float w[6];
	Graph *g = model(w);
	QuantPlan plan = {.nranges = 6, .ranges = ranges};
	QuantEdits ed = {0};
	PassCtx cx = {.diag = &d, .quant = &plan, .quant_edits = &ed};
	ck_assert(pass_quantize(g, &cx));
	ck_assert_int_eq(d.nerr, 0);
	Diag vd;
	diag_init(&vd);
	ck_assert_msg(ir_verify(g, &vd), "%s", vd.nmsg ? vd.msgs[0] : "");
	diag_free(&vd);
	/* The conv reads its weights through a dequantize of i8 per output
	 * channel, scale max|w_c| / 127. */
	const Node *conv = node_named(g, "conv");
	const Node *dw = &g->nodes.v[ir_value(g, conv->in[1])->def];
	ck_assert_int_eq(ir_value(g, conv->in[1])->kind, VAL_NODE);
	ck_assert_int_eq(dw->op, OP_DEQUANTIZE);
	const Type *tw = ir_value_type(g, dw->in[0]);
	ck_assert_int_eq(tw->dt, DT_I8);
	ck_assert_int_eq(tw->q->axis, 0);
	ck_assert_int_eq(tw->q->n, 3);
	for (int c = 0; c < 3; c++) {
		float mx = fmaxf(fabsf(w[2 * c]), fabsf(w[2 * c + 1]));
		ck_assert_float_eq(tw->q->scale[c], mx / 127);
		ck_assert_int_eq(tw->q->zero[c], 0);
	}
	const int8_t *wq = ir_value(g, dw->in[0])->data;
	ck_assert_int_eq(wq[1], -127);   /* the channel's largest magnitude */
	ck_assert_int_eq(wq[0], (int)nearbyint(0.5 / (1.27 / 127)));
	/* The bias stays float (qdq makes it i32 at s_x * s_w). */
	ck_assert_int_eq(ir_value(g, conv->in[2])->kind, VAL_CONST);
	/* The relu is the conv's epilogue: no pair between them. */
	ValueId c = conv->out;
	const Node *k = only_reader(g, c);
	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(k->op, OP_RELU);
	/* The relu's result: u8, 6/255, zero 0; the pool keeps it. */
	const Node *q = only_reader(g, k->out);
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(q->op, OP_QUANTIZE);
	const Type *tq = ir_value_type(g, q->out);
	ck_assert_int_eq(tq->dt, DT_U8);
	ck_assert_float_eq_tol(tq->q->scale[0], 6.0 / 255, 1e-9);
	ck_assert_int_eq(tq->q->zero[0], 0);
	const Node *pool = node_named(g, "pool");
	const Node *qm = only_reader(g, pool->out);
	ck_assert_int_eq(qm->op, OP_QUANTIZE);
	ck_assert_ptr_eq(ir_value_type(g, qm->out)->q, tq->q);
	/* The input: [0, 1] in u8 */
	const Node *qx = only_reader(g, g->inputs.v[0]);
	ck_assert_int_eq(qx->op, OP_QUANTIZE);
	ck_assert_float_eq_tol(ir_value_type(g, qx->out)->q->scale[0], 1.0 / 255, 1e-9);
	/* gemm: weights per column (trans_b: axis 0 of [4,12]); the output
	 * keeps its name on the dequantized value, asymmetric [-5, 5]. */
	const Node *fc = node_named(g, "fc");
	const Type *tw2 = ir_value_type(g, g->nodes.v[ir_value(g, fc->in[1])->def].in[0]);
	ck_assert_int_eq(tw2->q->axis, 0);
	ck_assert_int_eq(tw2->q->n, 4);
	ValueId y = g->outputs.v[0];
	ck_assert_str_eq(ir_value(g, y)->name, "y");
	ck_assert_int_eq(g->nodes.v[ir_value(g, y)->def].op, OP_DEQUANTIZE);
	ck_assert_str_eq(ir_value(g, fc->out)->name, "y_float");
	const Type *ty = ir_value_type(g, only_reader(g, fc->out)->out);
	ck_assert_float_eq_tol(ty->q->scale[0], 10.0 / 255, 1e-7);
	ck_assert(ty->q->zero[0] == 127 || ty->q->zero[0] == 128);  /* 127.5, give or take the f32 scale */
	/* The edits name what kiln quantize writes. */
	int acts = 0, weights = 0;
	for (int i = 0; i < ed.n; i++)
		*(ed.v[i].kind == QE_WEIGHT ? &weights : &acts) += 1;
	ck_assert_int_eq(weights, 2);
	ck_assert_int_eq(acts, 5);  /* x, r, m, f, y (not c) */
	free(ed.v);
	/* qdq then makes the conv and the gemm integer. */
	PassCtx qc = {.diag = &d};
	ck_assert(pass_run_pipeline(g, "qdq,dce", &qc));
	conv = node_named(g, "conv");
	ck_assert_ptr_nonnull(conv);
	ck_assert_int_eq(ir_value_type(g, conv->out)->dt, DT_U8);
	ck_assert_str_eq(ir_attr_str(conv, "act", ""), "relu");
	fc = node_named(g, "fc");
	ck_assert_int_eq(ir_value_type(g, fc->out)->dt, DT_U8);
	ck_assert_int_eq(pass_qdq_float_nodes(g, NULL, 0), 0);
	ir_graph_free(g);
}
END_TEST

START_TEST(float_layers_and_missing_ranges)
{
	float w[6];
	Graph *g = model(w);
	const char *fl[] = {"conv"};
	/* no range for y: the gemm's result stays float */
	QuantPlan plan = {.nranges = 5, .ranges = ranges, .nfloat = 1, .float_nodes = fl};
	PassCtx cx = {.diag = &d, .quant = &plan};
	ck_assert(pass_quantize(g, &cx));
	const Node *conv = node_named(g, "conv");
	ck_assert_int_eq(ir_value(g, conv->in[1])->kind, VAL_CONST);    /* float weights */
	ck_assert_int_eq(ir_value_type(g, conv->in[1])->dt, DT_F32);
	ck_assert_int_eq(ir_value(g, conv->in[0])->kind, VAL_INPUT);   /* x read as it is */
	/* its relu is no longer an epilogue: nothing between them, and the
	 * relu stays float (the pool after it reads it quantized) */
	const Node *relu = only_reader(g, conv->out);
	ck_assert_int_eq(relu->op, OP_RELU);
	ck_assert_int_eq(only_reader(g, relu->out)->op, OP_QUANTIZE);
	const Node *fc = node_named(g, "fc");
	ck_assert_str_eq(ir_value(g, fc->out)->name, "y");
	ck_assert_int_eq(g->outputs.v[0], fc->out);
	ck_assert_int_eq(g->nodes.v[ir_value(g, fc->in[1])->def].op, OP_DEQUANTIZE);  /* its weights are i8 */
	ir_graph_free(g);
	/* Without a plan the pass does nothing. */
	g = model(w);
	PassCtx none = {.diag = &d};
	int before = g->nodes.n;
	ck_assert(!pass_quantize(g, &none));
	ck_assert_int_eq(g->nodes.n, before);
	ir_graph_free(g);
}
END_TEST

START_TEST(params)
{
	float s;
	int32_t z;
	pass_quant_params(0.5, 2.0, DT_U8, &s, &z);  /* widened to hold 0 */
	ck_assert_float_eq_tol(s, 2.0 / 255, 1e-9);
	ck_assert_int_eq(z, 0);
	pass_quant_params(-1, 3, DT_U8, &s, &z);
	ck_assert_float_eq_tol(s, 4.0 / 255, 1e-9);
	ck_assert_int_eq(z, 64);  /* round(255/4) = 63.75 */
	pass_quant_params(-1, 3, DT_I8, &s, &z);
	ck_assert_int_eq(z, -64);
	pass_quant_params(0, 0, DT_U8, &s, &z);
	ck_assert_float_eq(s, 1);
	ck_assert_int_eq(z, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("quantize");
	TCase *tc = tcase_create("quantize");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, pairs_and_scales);
	tcase_add_test(tc, float_layers_and_missing_ranges);
	tcase_add_test(tc, params);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
