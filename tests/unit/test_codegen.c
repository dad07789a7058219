/* Unit tests for codegen/: the JIT against a direct C computation, plain
 * and optimized kernels; and the op completeness check of
 * docs/adding-an-op.md across the layers. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "codegen.h"
#include "ir.h"
#include "passes.h"
#include "small_graph.h"

START_TEST(jit_runs_small_graph)
{
	/* The same lowering through the JIT, plain and optimized kernels,
	 * against a direct C computation of conv+relu. */
	Graph *g = small_graph();
	Diag d;
	diag_init(&d);
	PassCtx cx = {.diag = &d, .ws_align = 64};
	ck_assert(pass_ensure_plan(g, &cx));
	float x[75], y[2], r[100], yref[2] = {0, 0}, rref[200];
	for (int i = 0; i < 75; i++)
		x[i] = (float)((i * 7) % 13) / 5.0f - 1.2f;
	const float *w = ir_value(g, 1)->data, *b = ir_value(g, 2)->data, *fc = ir_value(g, 3)->data;
	for (int m = 0; m < 4; m++)
		for (int oh = 0; oh < 5; oh++)
			for (int ow = 0; ow < 5; ow++) {
				float acc = b[m];
				for (int c = 0; c < 3; c++)
					for (int kh = 0; kh < 3; kh++)
						for (int kw = 0; kw < 3; kw++) {
							int ih = oh + kh - 1, iw = ow + kw - 1;
							if (ih >= 0 && ih < 5 && iw >= 0 && iw < 5)
								acc += x[(c * 5 + ih) * 5 + iw] * w[((m * 3 + c) * 3 + kh) * 3 + kw];
						}
				rref[(m * 5 + oh) * 5 + ow] = acc > 0 ? acc : 0;
			}
	for (int j = 0; j < 2; j++)
		for (int i = 0; i < 100; i++)
			yref[j] += rref[i] * fc[j * 100 + i];
	for (int ref = 0; ref < 2; ref++) {
		setenv("KILN_CG_REFERENCE", ref ? "1" : "0", 1);
		CgOptions o = {.name = "t", .opt_level = 2};
		CgJit *j = cg_jit_new(g, &o, &d);
		ck_assert_msg(j != NULL, "%s", d.nmsg ? d.msgs[0] : "?");
		void *ws = aligned_alloc(64, g->ws_size ? (size_t)g->ws_size : 64);
		const void *in[1] = {x};
		void *out[2] = {y, r};
		ck_assert_int_eq(cg_jit_fn(j)(in, out, ws), 0);
		for (int i = 0; i < 100; i++)
			ck_assert_float_eq_tol(r[i], rref[i], 1e-4);
		for (int i = 0; i < 2; i++)
			ck_assert_float_eq_tol(y[i], yref[i], 1e-3);
		ck_assert_int_eq(cg_jit_fn(j)(in, out, (char *)ws + 4), g->ws_size ? 2 : 0);
		ck_assert_int_eq(cg_jit_fn(j)(NULL, out, ws), 1);
		free(ws);
		cg_jit_free(j);
	}
	unsetenv("KILN_CG_REFERENCE");
	ir_graph_free(g);
	diag_free(&d);
}
END_TEST

/* docs/ir.md, read whole (KILN_SRC is the source tree). */
static char *read_docs_ir(void)
{
	const char *src = getenv("KILN_SRC");
	ck_assert_msg(src != NULL, "KILN_SRC is not set");
	char path[4096];
	snprintf(path, sizeof path, "%s/docs/ir.md", src);
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

/* Every op of ir/ops.def has its parts (docs/adding-an-op.md): a shape
 * rule, a lowering, a row in docs/ir.md's generated table; every
 * activation of ir/act.def fuses from an op marked OPF_FUSE_TAIL and has
 * its row in the docs.  A new row without them fails here, by name. */
START_TEST(every_op_complete)
{
	const char *docs = read_docs_ir();
	char row[128];
	int missing = 0;
	for (int op = 0; op < OP_COUNT; op++) {
		const char *name = ir_ops[op].name;
		snprintf(row, sizeof row, "\n| `%s` | ", name);
		bool rule = ir_op_has_rule((Op)op), low = cg_op_has_lowering((Op)op), doc = strstr(docs, row) != NULL;
		if (!rule || !low || !doc) {
			fprintf(stderr, "op '%s':%s%s%s\n", name, rule ? "" : " no shape rule (ir/shape.c)",
				low ? "" : " no lowering (codegen/cg_lower.c)",
				doc ? "" : " no row in docs/ir.md (python3 tests/ir/ops_doc.py .)");
			missing++;
		}
	}
	for (int k = 1; k < ACT_COUNT; k++) {
		const ActInfo *a = &ir_acts[k];
		snprintf(row, sizeof row, "\n| `%s` | ", a->name);
		bool tail = a->op == OP_COUNT || (ir_ops[a->op].flags & OPF_FUSE_TAIL);
		if (!tail || !strstr(docs, row)) {
			fprintf(stderr, "activation '%s':%s%s\n", a->name, tail ? "" : " its op lacks OPF_FUSE_TAIL",
				strstr(docs, row) ? "" : " no row in docs/ir.md");
			missing++;
		}
	}
	ck_assert_msg(missing == 0, "%d ops or activations lack a part (listed above)", missing);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("codegen");
	TCase *tc = tcase_create("codegen");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, jit_runs_small_graph);
	tcase_add_test(tc, every_op_complete);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
