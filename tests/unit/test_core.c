/* Unit tests for the IR core, the text form, the verifier, the memory
 * planner and the runtime tensor I/O. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen.h"
#include "ir.h"
#include "kiln_io.h"
#include "passes.h"

static char *print_to_string(const Graph *g)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ir_print(g, f);
	fclose(f);
	return buf;
}

static Graph *reparse(const char *text, Diag *d)
{
	return ir_parse(text, strlen(text), "t.kir", d);
}

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

START_TEST(types_are_interned)
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

START_TEST(numel_overflow)
{
	int64_t ok[] = {1 << 20, 1 << 20}, big[] = {1LL << 40, 1LL << 40}, neg[] = {3, -1};
	ck_assert_int_eq(ir_shape_numel(2, ok), 1LL << 40);
	ck_assert_int_eq(ir_shape_numel(2, big), -1);
	ck_assert_int_eq(ir_shape_numel(2, neg), -1);
}
END_TEST

START_TEST(shape_rules)
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

START_TEST(print_parse_roundtrip)
{
	Graph *g = small_graph();
	/* A quantized input type must round-trip too. */
	float sc[4] = {0.5f, 0.25f, 1e-3f, 3.0f};
	int32_t zp[4] = {0, -3, 7, 127};
	int64_t qs[] = {4, 2};
	ir_add_input(g, "q in", ir_type(g, DT_I8, 2, qs, ir_quant(g, 0, 4, sc, zp)));
	char *a = print_to_string(g);
	Diag d;
	diag_init(&d);
	Graph *h = reparse(a, &d);
	ck_assert_msg(h != NULL, "parse failed: %s", d.nmsg ? d.msgs[0] : "?");
	char *b = print_to_string(h);
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

START_TEST(parse_errors)
{
	Graph *g = small_graph();
	char *good = print_to_string(g);
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
		Graph *h = reparse(bad[i], &d);
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
		Graph *h = reparse(t, &d);
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

static int fail_at, allocs;
static void *failing_alloc(void *ud, size_t size)
{
	(void)ud;
	if (++allocs == fail_at)
		return NULL;
	return malloc(size);
}

START_TEST(allocation_failures)
{
	/* Build and print with the Nth allocation failing, for every N until
	 * one run needs no failure: each must fail cleanly. */
	for (fail_at = 1; fail_at < 200; fail_at++) {
		allocs = 0;
		ir_set_alloc_hook(failing_alloc, NULL);
		Diag d;
		diag_init(&d);
		Graph *g = ir_graph_new("t");
		bool ok = g != NULL;
		int64_t dims[] = {4, 4};
		TypeId t = ok ? ir_type(g, DT_F32, 2, dims, NULL) : -1;
		ValueId x = t >= 0 ? ir_add_input(g, "x", t) : -1;
		NodeId n = x >= 0 ? ir_build(g, OP_RELU, "r", &x, 1, NULL, 0, "y", &d) : -1;
		if (n >= 0)
			ok = ir_mark_output(g, g->nodes.v[n].out);
		ir_set_alloc_hook(NULL, NULL);
		ir_graph_free(g);
		diag_free(&d);
		if (allocs < fail_at && ok && n >= 0)
			break;  /* no allocation failed: done */
	}
	ck_assert_int_lt(fail_at, 200);
}
END_TEST

/* Random chains with branches: simultaneously live buffers never overlap,
 * reuse happens, outputs are not in the workspace, views alias. */
START_TEST(memory_plan)
{
	srand(7);
	for (int iter = 0; iter < 50; iter++) {
		Diag d;
		diag_init(&d);
		Graph *g = ir_graph_new("plan");
		int64_t dims[] = {1, 1 + rand() % 64};
		ValueId vals[64];
		int nv = 0;
		vals[nv++] = ir_add_input(g, "x", ir_type(g, DT_F32, 2, dims, NULL));
		int nodes = 5 + rand() % 30;
		for (int i = 0; i < nodes; i++) {
			ValueId a = vals[rand() % nv], b = vals[nv - 1];
			NodeId n;
			if (rand() % 4 == 0) {
				int64_t sh[] = {dims[1]};
				Attr ra = ir_aints("shape", sh, 1);
				int64_t back[] = {1, dims[1]};
				n = ir_build(g, OP_RESHAPE, NULL, &b, 1, &ra, 1, NULL, &d);
				ValueId r = g->nodes.v[n].out;
				Attr rb = ir_aints("shape", back, 2);
				n = ir_build(g, OP_RESHAPE, NULL, &r, 1, &rb, 1, NULL, &d);
			} else {
				ValueId in[2] = {a, b};
				n = ir_build(g, OP_ADD, NULL, in, 2, NULL, 0, NULL, &d);
			}
			ck_assert_int_ge(n, 0);
			if (nv < 64)
				vals[nv++] = g->nodes.v[n].out;
		}
		ir_mark_output(g, vals[nv - 1]);
		PassCtx cx = {.diag = &d, .ws_align = 64};
		pass_plan(g, &cx);
		ck_assert_int_eq(d.nerr, 0);
		ck_assert_int_ge(g->ws_size, 0);
		ck_assert_int_le(g->ws_lower_bound, g->ws_size);
		for (int v = 0; v < g->values.n; v++) {
			const Value *val = &g->values.v[v];
			if (val->is_output)
				ck_assert_int_eq(val->ws_offset, -1);
			if (val->ws_offset >= 0)
				ck_assert_int_eq(val->ws_offset % 64, 0);
			if (val->kind == VAL_NODE && g->nodes.v[val->def].op == OP_RESHAPE && !val->is_output)
				ck_assert_int_ge(val->alias, 0);
		}
		/* Plan-checker: pass_plan dies on overlap; also check the
		 * workspace is smaller than no reuse at all on long chains. */
		int64_t sum = 0;
		for (int v = 0; v < g->values.n; v++)
			if (g->values.v[v].ws_offset >= 0)
				sum += 64 * ((ir_type_bytes(ir_value_type(g, v)) + 63) / 64);
		ck_assert_int_le(g->ws_size, sum);
		ir_graph_free(g);
		diag_free(&d);
	}
}
END_TEST

START_TEST(plan_reuses_on_a_chain)
{
	Diag d;
	diag_init(&d);
	Graph *g = ir_graph_new("chain");
	int64_t dims[] = {256};
	ValueId v = ir_add_input(g, "x", ir_type(g, DT_F32, 1, dims, NULL));
	for (int i = 0; i < 10; i++) {
		NodeId n = ir_build(g, OP_RELU, NULL, &v, 1, NULL, 0, NULL, &d);
		ck_assert_int_ge(n, 0);
		v = g->nodes.v[n].out;  /* after the call: the node array may move */
	}
	ir_mark_output(g, v);
	PassCtx cx = {.diag = &d, .ws_align = 64, .max_ram = 1};
	pass_plan(g, &cx);
	/* 9 intermediates of 1 KiB, two live at a time. */
	ck_assert_int_eq(g->ws_size, 2048);
	ck_assert_int_eq(g->ws_lower_bound, 2048);
	ck_assert_int_eq(d.nerr, 1);  /* --max-ram 1 */
	ck_assert_ptr_nonnull(strstr(d.msgs[0], "max-ram"));
	ir_graph_free(g);
	diag_free(&d);
}
END_TEST

START_TEST(tensor_io_roundtrip)
{
	char dir[] = "/tmp/kiln-io-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	int64_t vals[6] = {1, -2, 3, -4, 1LL << 40, 0};
	kiln_tensor t = {.dtype = KILN_I64, .rank = 2, .shape = {2, 3}, .data = vals, .bytes = sizeof vals};
	strcpy(t.name, "ints");
	char err[256], pb[300], npy[300];
	snprintf(pb, sizeof pb, "%s/t.pb", dir);
	snprintf(npy, sizeof npy, "%s/t.npy", dir);
	ck_assert_int_eq(kiln_tensor_write_pb(pb, &t, err, sizeof err), 0);
	ck_assert_int_eq(kiln_tensor_write_npy(npy, &t, err, sizeof err), 0);
	const char *paths[] = {pb, npy};
	for (int i = 0; i < 2; i++) {
		kiln_tensor r;
		ck_assert_msg(kiln_tensor_read(paths[i], &r, err, sizeof err) == 0, "%s", err);
		ck_assert_int_eq(r.dtype, KILN_I64);
		ck_assert_int_eq(r.rank, 2);
		ck_assert_int_eq(r.shape[1], 3);
		ck_assert_int_eq(memcmp(r.data, vals, sizeof vals), 0);
		kiln_tensor_free(&r);
	}
	/* Every truncation of the .pb is an error or a valid tensor, never a crash. */
	FILE *f = fopen(pb, "rb");
	uint8_t buf[512];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	for (size_t cut = 0; cut < n; cut++) {
		kiln_tensor r;
		if (kiln_tensor_decode_pb(buf, cut, &r, err, sizeof err) == 0)
			kiln_tensor_free(&r);
	}
	srand(3);
	for (int i = 0; i < 2000; i++) {
		for (size_t k = 0; k < n; k++)
			buf[k] = rand() % 8 ? buf[k] : (uint8_t)rand();
		kiln_tensor r;
		if (kiln_tensor_decode_pb(buf, n, &r, err, sizeof err) == 0)
			kiln_tensor_free(&r);
	}
	remove(pb);
	remove(npy);
	rmdir(dir);
}
END_TEST

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
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, types_are_interned);
	tcase_add_test(tc, numel_overflow);
	tcase_add_test(tc, shape_rules);
	tcase_add_test(tc, print_parse_roundtrip);
	tcase_add_test(tc, parse_errors);
	tcase_add_test(tc, verifier_catches_breakage);
	tcase_add_test(tc, allocation_failures);
	tcase_add_test(tc, memory_plan);
	tcase_add_test(tc, plan_reuses_on_a_chain);
	tcase_add_test(tc, tensor_io_roundtrip);
	tcase_add_test(tc, jit_runs_small_graph);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
