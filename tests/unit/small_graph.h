/* A small graph with a little of everything, shared by the unit tests of
 * ir/ (print, parse, verify) and codegen/ (the JIT against C). */
#ifndef KILN_TEST_SMALL_GRAPH_H
#define KILN_TEST_SMALL_GRAPH_H

#include <check.h>

#include "ir.h"

/* x -> conv -> relu -> add(x') -> reshape -> gemm: a little of everything. */
static Graph *small_graph(void)
{
	Diag d;
	diag_init(&d);
	Graph *g = ir_graph_new("small");
	ck_assert_ptr_nonnull(g);
	int64_t xs[] = {1, 3, 5, 5}, ws[] = {4, 3, 3, 3}, bs[] = {4}, fs[] = {2, 100};
	ValueId x = ir_add_input(g, "x", ir_type(g, DT_F32, 4, xs, NULL));
	float w[108], b[4], f[200];
	for (int i = 0; i < 108; i++)
		w[i] = (float)((i * 37) % 11) / 7.0f - 0.6f;
	for (int i = 0; i < 4; i++)
		b[i] = 0.25f * i - 0.3f;
	for (int i = 0; i < 200; i++)
		f[i] = (float)((i * 13) % 17) / 9.0f - 1.0f;
	ValueId wv = ir_add_const(g, "onnx::weird name", ir_type(g, DT_F32, 4, ws, NULL), w);
	ValueId bv = ir_add_const(g, "b", ir_type(g, DT_F32, 1, bs, NULL), b);
	ValueId fv = ir_add_const(g, "fc", ir_type(g, DT_F32, 2, fs, NULL), f);
	int64_t st[] = {1, 1}, pd[] = {1, 1, 1, 1}, dl[] = {1, 1}, shape[] = {1, 100};
	Attr ca[] = {ir_aints("strides", st, 2), ir_aints("pads", pd, 4), ir_aints("dilations", dl, 2), ir_ai("group", 1)};
	ValueId in[3] = {x, wv, bv};
	NodeId c = ir_build(g, OP_CONV, "conv/0", in, 3, ca, 4, "c", &d);
	ck_assert_int_ge(c, 0);
	ValueId cv = g->nodes.v[c].out;
	NodeId r = ir_build(g, OP_RELU, "relu", &cv, 1, NULL, 0, "r", &d);
	ValueId rv = g->nodes.v[r].out;
	Attr ra = ir_aints("shape", shape, 2);
	NodeId rs = ir_build(g, OP_RESHAPE, "flat", &rv, 1, &ra, 1, "flat", &d);
	ValueId gin[2] = {g->nodes.v[rs].out, fv};
	Attr ga[] = {ir_af("alpha", 1), ir_af("beta", 1), ir_ai("trans_a", 0), ir_ai("trans_b", 1)};
	NodeId gm = ir_build(g, OP_GEMM, "fc", gin, 2, ga, 4, "y", &d);
	ck_assert_int_ge(gm, 0);
	ir_mark_output(g, g->nodes.v[gm].out);
	ir_mark_output(g, rv);
	ck_assert_int_eq(d.nerr, 0);
	diag_free(&d);
	return g;
}

#endif
