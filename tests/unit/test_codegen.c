/* Unit tests for codegen/: the JIT against a direct C computation, plain
 * and optimized kernels. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
	Suite *s = suite_create("codegen");
	TCase *tc = tcase_create("codegen");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, jit_runs_small_graph);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
