/* Unit tests of the frontend: ONNX models are encoded here with a small
 * protobuf writer (so malformed files are easy to make), JSON is written
 * as text; both go through the public import entry points. */
#define _GNU_SOURCE
#include <check.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frontend.h"
#include "importer.h"

/* ---- a protobuf writer ------------------------------------------------------ */

typedef struct Buf {
	unsigned char *p;
	size_t n, cap;
} Buf;

static void put_raw(Buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void put_varint(Buf *b, uint64_t v)
{
	unsigned char c[10];
	int k = 0;
	do {
		c[k] = v & 0x7f;
		v >>= 7;
		if (v)
			c[k] |= 0x80;
		k++;
	} while (v);
	put_raw(b, c, k);
}

static void put_tag(Buf *b, int field, int wire) { put_varint(b, (uint64_t)field << 3 | wire); }
static void put_int(Buf *b, int field, int64_t v) { put_tag(b, field, 0); put_varint(b, (uint64_t)v); }

static void put_bytes(Buf *b, int field, const void *p, size_t n)
{
	put_tag(b, field, 2);
	put_varint(b, n);
	put_raw(b, p, n);
}

static void put_str(Buf *b, int field, const char *s) { put_bytes(b, field, s, strlen(s)); }

static void put_float(Buf *b, int field, float f)
{
	put_tag(b, field, 5);
	put_raw(b, &f, 4);
}

/* Append sub as a length-delimited field and free it. */
static void put_msg(Buf *b, int field, Buf *sub)
{
	put_bytes(b, field, sub->p, sub->n);
	free(sub->p);
	*sub = (Buf){0};
}

/* ---- ONNX message builders (field numbers from the ONNX spec) -------------------- */

enum { F32 = 1, U8 = 2, I8 = 3, I32 = 6, I64 = 7, STRING = 8, BOOL = 9, F16 = 10, F64 = 11, U32 = 12 };

/* Parse "1,3,N,?" into dims; names become -1 with the name kept. */
static int parse_shape(const char *s, int64_t *dims, char names[][24])
{
	int r = 0;
	if (!s || !*s)
		return 0;
	for (const char *p = s; *p;) {
		size_t n = strcspn(p, ",");
		char tok[24] = {0};
		memcpy(tok, p, n < 23 ? n : 23);
		if (tok[0] >= '0' && tok[0] <= '9') {
			dims[r] = atoll(tok);
			names[r][0] = 0;
		} else {
			dims[r] = -1;
			strcpy(names[r], tok);
		}
		r++;
		p += n;
		if (*p)
			p++;
	}
	return r;
}

static void put_dims(Buf *t, const char *shape)
{
	int64_t dims[16];
	char names[16][24];
	int r = parse_shape(shape, dims, names);
	for (int i = 0; i < r; i++)
		put_int(t, 1, dims[i]);
}

/* Initializer with raw_data. */
static void g_init_raw(Buf *g, const char *name, int dt, const char *shape, const void *data, size_t bytes)
{
	Buf t = {0};
	put_dims(&t, shape);
	put_int(&t, 2, dt);
	put_str(&t, 8, name);
	put_bytes(&t, 9, data, bytes);
	put_msg(g, 5, &t);
}

static void g_init_f32(Buf *g, const char *name, const char *shape, const float *v, int n, bool raw)
{
	if (raw) {
		g_init_raw(g, name, F32, shape, v, (size_t)n * 4);
		return;
	}
	Buf t = {0}, packed = {0};
	put_dims(&t, shape);
	put_int(&t, 2, F32);
	put_raw(&packed, v, (size_t)n * 4);
	put_msg(&t, 4, &packed);
	put_str(&t, 8, name);
	put_msg(g, 5, &t);
}

static void g_init_i64(Buf *g, const char *name, const char *shape, const int64_t *v, int n)
{
	Buf t = {0}, packed = {0};
	put_dims(&t, shape);
	put_int(&t, 2, I64);
	for (int i = 0; i < n; i++)
		put_varint(&packed, (uint64_t)v[i]);
	put_msg(&t, 7, &packed);
	put_str(&t, 8, name);
	put_msg(g, 5, &t);
}

/* Typed int32_data for the narrow types (i8, u8, bool, f16, i32). */
static void g_init_i32data(Buf *g, const char *name, int dt, const char *shape, const int32_t *v, int n)
{
	Buf t = {0}, packed = {0};
	put_dims(&t, shape);
	put_int(&t, 2, dt);
	for (int i = 0; i < n; i++)
		put_varint(&packed, (uint64_t)(int64_t)v[i]);
	put_msg(&t, 5, &packed);
	put_str(&t, 8, name);
	put_msg(g, 5, &t);
}

static void g_init_external(Buf *g, const char *name, const char *shape, const char *loc, const char *offset)
{
	Buf t = {0}, e = {0};
	put_dims(&t, shape);
	put_int(&t, 2, F32);
	put_str(&t, 8, name);
	put_str(&e, 1, "location");
	put_str(&e, 2, loc);
	put_msg(&t, 13, &e);
	if (offset) {
		put_str(&e, 1, "offset");
		put_str(&e, 2, offset);
		put_msg(&t, 13, &e);
	}
	put_int(&t, 14, 1);
	put_msg(g, 5, &t);
}

/* A graph input/output value info; shape NULL: no shape at all. */
static void put_value_info(Buf *g, int field, const char *name, int elem, const char *shape)
{
	Buf vi = {0}, tp = {0}, tt = {0}, sh = {0}, dim = {0};
	put_str(&vi, 1, name);
	put_int(&tt, 1, elem);
	if (shape) {
		int64_t dims[16];
		char names[16][24];
		int r = parse_shape(shape, dims, names);
		for (int i = 0; i < r; i++) {
			if (dims[i] >= 0)
				put_int(&dim, 1, dims[i]);
			else if (strcmp(names[i], "?") != 0)
				put_str(&dim, 2, names[i]);
			put_msg(&sh, 1, &dim);
		}
		put_msg(&tt, 2, &sh);
		free(sh.p);
	}
	put_msg(&tp, 1, &tt);
	put_msg(&vi, 2, &tp);
	put_msg(g, field, &vi);
}

static void g_input(Buf *g, const char *name, int elem, const char *shape) { put_value_info(g, 11, name, elem, shape); }

static void g_output(Buf *g, const char *name)
{
	Buf vi = {0};
	put_str(&vi, 1, name);
	put_msg(g, 12, &vi);
}

/* Attributes accumulate in a Buf as NodeProto field 5 entries. */
static void a_int(Buf *a, const char *name, int64_t v)
{
	Buf x = {0};
	put_str(&x, 1, name);
	put_int(&x, 3, v);
	put_int(&x, 20, 2);
	put_msg(a, 5, &x);
}

static void a_float(Buf *a, const char *name, float v)
{
	Buf x = {0};
	put_str(&x, 1, name);
	put_float(&x, 2, v);
	put_int(&x, 20, 1);
	put_msg(a, 5, &x);
}

static void a_ints(Buf *a, const char *name, int n, ...)
{
	Buf x = {0};
	va_list ap;
	put_str(&x, 1, name);
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		put_int(&x, 8, va_arg(ap, int));
	va_end(ap);
	put_int(&x, 20, 7);
	put_msg(a, 5, &x);
}

static void a_str(Buf *a, const char *name, const char *s)
{
	Buf x = {0};
	put_str(&x, 1, name);
	put_str(&x, 4, s);
	put_int(&x, 20, 3);
	put_msg(a, 5, &x);
}

/* Value lists are comma separated; an empty item is an omitted operand. */
static void put_names(Buf *n, int field, const char *list)
{
	if (!list)
		return;
	for (const char *p = list;;) {
		size_t k = strcspn(p, ",");
		put_bytes(n, field, p, k);
		p += k;
		if (!*p)
			break;
		p++;
	}
}

static void g_node(Buf *g, const char *op, const char *name, const char *ins, const char *outs, Buf *attrs)
{
	Buf n = {0};
	put_names(&n, 1, ins);
	put_names(&n, 2, outs);
	if (name)
		put_str(&n, 3, name);
	put_str(&n, 4, op);
	if (attrs && attrs->n) {
		put_raw(&n, attrs->p, attrs->n);
		free(attrs->p);
		*attrs = (Buf){0};
	}
	put_msg(g, 1, &n);
}

static Buf model(Buf *g, int opset)
{
	Buf m = {0}, os = {0};
	put_int(&m, 1, 7);
	put_str(g, 2, "test_graph");
	put_msg(&m, 7, g);
	put_str(&os, 1, "");
	put_int(&os, 2, opset);
	put_msg(&m, 8, &os);
	return m;
}

/* ---- files and imports ------------------------------------------------------------ */

static char tmpdir[256];
static int file_no;

static char *tmp_path(const char *name)
{
	static char path[512];
	if (name)
		snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	else
		snprintf(path, sizeof path, "%s/m%d.onnx", tmpdir, file_no++);
	return path;
}

static char *write_file(const char *name, const void *p, size_t n)
{
	char *path = tmp_path(name);
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	fclose(f);
	return path;
}

static Diag diag;

/* Import the model in g (freed); errors land in the global diag. */
static Graph *import_opts(Buf *g, int opset, const ImportOptions *o)
{
	Buf m = model(g, opset);
	char *path = write_file(NULL, m.p, m.n);
	free(m.p);
	diag_free(&diag);
	diag_init(&diag);
	return onnx_import(path, o, &diag);
}

static Graph *import(Buf *g, int opset) { return import_opts(g, opset, NULL); }

static bool diag_has(const char *needle)
{
	for (int i = 0; i < diag.nmsg; i++)
		if (strstr(diag.msgs[i], needle))
			return true;
	return false;
}

#define ck_fails_with(g, needle) do { \
	ck_assert_msg((g) == NULL, "import should fail"); \
	ck_assert_msg(diag_has(needle), "no message containing \"%s\"; first: %s", needle, \
		      diag.nmsg ? diag.msgs[0] : "(none)"); \
} while (0)

static void dump_diag(void)
{
	for (int i = 0; i < diag.nmsg; i++)
		fprintf(stderr, "  diag: %s\n", diag.msgs[i]);
}

#define ck_ok(g) do { if (!(g)) dump_diag(); ck_assert_msg((g) != NULL, "import failed"); } while (0)

static const Node *node_of(Graph *g, const char *value)
{
	ValueId v = ir_find_value(g, value);
	ck_assert_msg(v >= 0, "no value %s", value);
	ck_assert_int_eq(g->values.v[v].kind, VAL_NODE);
	return &g->nodes.v[g->values.v[v].def];
}

static void ck_dims(const Graph *g, ValueId v, int rank, ...)
{
	const Type *t = ir_value_type(g, v);
	ck_assert_int_eq(t->rank, rank);
	va_list ap;
	va_start(ap, rank);
	for (int i = 0; i < rank; i++)
		ck_assert_int_eq(t->dims[i], va_arg(ap, int));
	va_end(ap);
}

static void ck_ints(const Node *n, const char *attr, int count, ...)
{
	int k;
	const int64_t *v = ir_attr_ints(n, attr, &k);
	ck_assert_msg(v != NULL, "attribute %s missing", attr);
	ck_assert_int_eq(k, count);
	va_list ap;
	va_start(ap, count);
	for (int i = 0; i < count; i++)
		ck_assert_int_eq(v[i], va_arg(ap, int));
	va_end(ap);
}

static const float w27[27] = {1, -2, 3, 0.5f, 5, 6, -7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
			      19, 20, 21, 22, 23, 24, 25, 26, 27.25f};

/* x[1,3,5,5] -> Conv(w[1,3,3,3]) -> Relu -> y */
static void conv_relu(Buf *g, bool raw)
{
	Buf a = {0};
	g_input(g, "x", F32, "1,3,5,5");
	g_init_f32(g, "w", "1,3,3,3", w27, 27, raw);
	a_ints(&a, "pads", 4, 1, 1, 1, 1);
	g_node(g, "Conv", "conv1", "x,w", "c", &a);
	g_node(g, "Relu", "relu1", "c", "y", NULL);
	g_output(g, "y");
}

/* ---- tests: basics and tensors --------------------------------------------------------- */

START_TEST(basic_conv_relu)
{
	Buf g = {0};
	conv_relu(&g, true);
	Graph *gr = import(&g, 13);
	ck_ok(gr);
	ck_assert_int_eq(gr->inputs.n, 1);
	ck_assert_int_eq(gr->outputs.n, 1);
	const Node *c = node_of(gr, "c");
	ck_assert_int_eq(c->op, OP_CONV);
	ck_assert_str_eq(c->name, "conv1");
	ck_assert_str_eq(c->src_op, "Conv");
	ck_ints(c, "strides", 2, 1, 1);
	ck_ints(c, "pads", 4, 1, 1, 1, 1);
	ck_ints(c, "dilations", 2, 1, 1);
	ck_assert_int_eq(ir_attr_int(c, "group", -1), 1);
	ck_dims(gr, c->out, 4, 1, 1, 5, 5);
	ck_assert_int_eq(node_of(gr, "y")->op, OP_RELU);
	ck_assert(gr->values.v[gr->outputs.v[0]].is_output);
	ir_graph_free(gr);
}
END_TEST

START_TEST(raw_vs_typed)
{
	Graph *gr[2];
	for (int raw = 0; raw < 2; raw++) {
		Buf g = {0};
		conv_relu(&g, raw);
		gr[raw] = import(&g, 13);
		ck_ok(gr[raw]);
	}
	const Value *a = &gr[0]->values.v[ir_find_value(gr[0], "w")], *b = &gr[1]->values.v[ir_find_value(gr[1], "w")];
	ck_assert_int_eq(a->kind, VAL_CONST);
	ck_assert_int_eq(memcmp(a->data, w27, sizeof w27), 0);
	ck_assert_int_eq(memcmp(b->data, w27, sizeof w27), 0);
	ir_graph_free(gr[0]);
	ir_graph_free(gr[1]);
}
END_TEST

START_TEST(typed_narrow_types)
{
	Buf g = {0};
	int32_t i8v[3] = {-128, 5, 127}, boolv[3] = {0, 1, 1}, f16v[2] = {0x3e00, 0xc000}, u8v[2] = {0, 255};
	int64_t i64v[2] = {-5, 1LL << 40};
	g_input(&g, "x", F32, "3");
	g_init_i32data(&g, "a", I8, "3", i8v, 3);
	g_init_i32data(&g, "b", BOOL, "3", boolv, 3);
	g_init_i32data(&g, "h", F16, "2", f16v, 2);
	g_init_i32data(&g, "u", U8, "2", u8v, 2);
	g_init_i64(&g, "l", "2", i64v, 2);
	g_node(&g, "Relu", "r", "x", "y", NULL);
	g_output(&g, "y");
	Graph *gr = import(&g, 13);
	ck_ok(gr);
	const Value *a = ir_value(gr, ir_find_value(gr, "a"));
	ck_assert_int_eq(ir_value_type(gr, ir_find_value(gr, "a"))->dt, DT_I8);
	ck_assert_int_eq(((const int8_t *)a->data)[0], -128);
	ck_assert_int_eq(((const int8_t *)a->data)[2], 127);
	ck_assert_int_eq(((const uint8_t *)ir_value(gr, ir_find_value(gr, "b"))->data)[1], 1);
	ck_assert_int_eq(((const uint16_t *)ir_value(gr, ir_find_value(gr, "h"))->data)[1], 0xc000);
	ck_assert_int_eq(((const uint8_t *)ir_value(gr, ir_find_value(gr, "u"))->data)[1], 255);
	ck_assert_int_eq(((const int64_t *)ir_value(gr, ir_find_value(gr, "l"))->data)[1], 1LL << 40);
	ir_graph_free(gr);
}
END_TEST

START_TEST(data_size_mismatch)
{
	Buf g = {0};
	g_input(&g, "x", F32, "3");
	g_init_f32(&g, "w", "2,2", w27, 3, false);
	g_node(&g, "Add", "add", "x,w", "y", NULL);
	g_output(&g, "y");
	ck_fails_with(import(&g, 13), "initializer 'w' has 3 elements of data, its shape needs 4");
	g = (Buf){0};
	g_input(&g, "x", F32, "3");
	g_init_raw(&g, "w", F32, "3", w27, 11);
	g_node(&g, "Add", "add", "x,w", "y", NULL);
	g_output(&g, "y");
	ck_fails_with(import(&g, 13), "11 bytes of raw_data");
}
END_TEST

START_TEST(initializer_as_input)
{
	Buf g = {0};
	g_input(&g, "x", F32, "1,3,5,5");
	g_input(&g, "w", F32, "1,3,3,3");
	g_init_f32(&g, "w", "1,3,3,3", w27, 27, true);
	g_node(&g, "Conv", "conv1", "x,w", "y", NULL);
	g_output(&g, "y");
	Graph *gr = import(&g, 13);
	ck_ok(gr);
	ck_assert_int_eq(gr->inputs.n, 1);
	ck_assert_str_eq(gr->values.v[gr->inputs.v[0]].name, "x");
	ck_assert_int_eq(ir_value(gr, ir_find_value(gr, "w"))->kind, VAL_CONST);
	ck_dims(gr, node_of(gr, "y")->out, 4, 1, 1, 3, 3);
	ir_graph_free(gr);
}
END_TEST

START_TEST(unsupported_dtype)
{
	Buf g = {0};
	g_input(&g, "x", F32, "2");
	g_init_raw(&g, "s", STRING, "1", "ab", 2);
	g_node(&g, "Relu", "r", "x", "y", NULL);
	g_output(&g, "y");
	ck_fails_with(import(&g, 13), "initializer 's' has unsupported dtype string");
	g = (Buf){0};
	g_input(&g, "x", 14, "2");
	g_node(&g, "Relu", "r", "x", "y", NULL);
	g_output(&g, "y");
	ck_fails_with(import(&g, 13), "input 'x' has unsupported dtype");
}
END_TEST

START_TEST(wrong_operand_dtype)
{
	Buf g = {0};
	g_input(&g, "a", F32, "2,3");
	g_input(&g, "b", I64, "2,3");
	g_node(&g, "Add", "add_mixed", "a,b", "y", NULL);
	g_output(&g, "y");
	ck_fails_with(import(&g, 13), "node 'add_mixed' (Add)");
	g = (Buf){0};
	int32_t w[27] = {0};
	g_input(&g, "x", I32, "1,3,5,5");
	g_init_raw(&g, "w", I32, "1,3,3,3", w, sizeof w);
	g_node(&g, "Conv", "conv_int", "x,w", "y", NULL);
	g_output(&g, "y");
	ck_fails_with(import(&g, 13), "node 'conv_int' (Conv)");
}
END_TEST

START_TEST(inconsistent_shapes)
{
	Buf g = {0};
	g_input(&g, "a", F32, "2,3");
	g_input(&g, "b", F32, "4,5");
	g_node(&g, "Add", "add_bad", "a,b", "y", NULL);
	g_output(&g, "y");
	Graph *gr = import(&g, 13);
	ck_fails_with(gr, "node 'add_bad' (Add): ");
	ck_assert_int_eq(diag.nmsg, 1);
}
END_TEST

/* ---- tests: op forms ------------------------------------------------------------------- */

static Graph *clip_model(int opset, bool lo_const)
{
	Buf g = {0}, a = {0};
	float lo = 0.5f, hi = 6;
	g_input(&g, "x", F32, "2,3");
	if (opset < 11) {
		a_float(&a, "min", lo);
		a_float(&a, "max", hi);
		g_node(&g, "Clip", "clip", "x", "y", &a);
	} else {
		if (lo_const)
			g_init_f32(&g, "lo", "", &lo, 1, true);
		else
			g_input(&g, "lo", F32, "");
		g_init_f32(&g, "hi", "", &hi, 1, false);
		g_node(&g, "Clip", "clip", "x,lo,hi", "y", NULL);
	}
	g_output(&g, "y");
	return import(&g, opset);
}

START_TEST(clip_forms)
{
	for (int k = 0; k < 2; k++) {
		Graph *gr = clip_model(k ? 13 : 9, true);
		ck_ok(gr);
		const Node *n = node_of(gr, "y");
		ck_assert_int_eq(n->op, OP_CLIP);
		ck_assert_int_eq(n->nin, 1);
		ck_assert(ir_attr_float(n, "min", 0) == 0.5);
		ck_assert(ir_attr_float(n, "max", 0) == 6);
		ir_graph_free(gr);
	}
	ck_fails_with(clip_model(13, false), "must be a constant");
	/* Omitted bounds are infinite. */
	Buf g = {0};
	float hi = 1;
	g_input(&g, "x", F32, "2");
	g_init_f32(&g, "hi", "", &hi, 1, true);
	g_node(&g, "Clip", "clip", "x,,hi", "y", NULL);
	g_output(&g, "y");
	Graph *gr = import(&g, 13);
	ck_ok(gr);
	ck_assert(isinf(ir_attr_float(node_of(gr, "y"), "min", 0)) && ir_attr_float(node_of(gr, "y"), "min", 0) < 0);
	ir_graph_free(gr);
}
END_TEST

START_TEST(squeeze_unsqueeze_forms)
{
	for (int k = 0; k < 2; k++) {
		Buf g = {0}, a = {0};
		g_input(&g, "x", F32, "2,3");
		if (k == 0) {
			a_ints(&a, "axes", 2, 0, -1);
			g_node(&g, "Unsqueeze", "u", "x", "u", &a);
			a_ints(&a, "axes", 1, 3);
			g_node(&g, "Squeeze", "s", "u", "y", &a);
		} else {
			int64_t ax[2] = {0, -1}, ax2[1] = {3};
			g_init_i64(&g, "ax", "2", ax, 2);
			g_init_i64(&g, "ax2", "1", ax2, 1);
			g_node(&g, "Unsqueeze", "u", "x,ax", "u", NULL);
			g_node(&g, "Squeeze", "s", "u,ax2", "y", NULL);
		}
		g_node(&g, "Squeeze", "s_all", "u", "z", NULL);
		g_output(&g, "y");
		g_output(&g, "z");
		Graph *gr = import(&g, k ? 13 : 11);
		ck_ok(gr);
		const Node *u = node_of(gr, "u"), *s = node_of(gr, "y"), *z = node_of(gr, "z");
		ck_assert_int_eq(u->op, OP_RESHAPE);
		ck_ints(u, "shape", 4, 1, 2, 3, 1);
		ck_ints(s, "shape", 3, 1, 2, 3);
		ck_ints(z, "shape", 2, 2, 3);
		ck_assert_str_eq(u->src_op, "Unsqueeze");
		ck_assert_str_eq(s->src_op, "Squeeze");
		ir_graph_free(gr);
	}
	Buf g = {0}, a = {0};
	g_input(&g, "x", F32, "2,3");
	a_ints(&a, "axes", 1, 1);
	g_node(&g, "Squeeze", "sq", "x", "y", &a);
	g_output(&g, "y");
	ck_fails_with(import(&g, 11), "cannot squeeze axis 1 of size 3");
	/* The attribute form does not exist at opset 13. */
	g = (Buf){0};
	g_input(&g, "x", F32, "1,3");
	a_ints(&a, "axes", 1, 0);
	g_node(&g, "Squeeze", "sq", "x", "y", &a);
	g_output(&g, "y");
	ck_fails_with(import(&g, 13), "unsupported attribute 'axes'");
}
END_TEST

static Graph *softmax_model(int opset, int axis, bool set_axis)
{
	Buf g = {0}, a = {0};
	g_input(&g, "x", F32, "2,3,4");
	if (set_axis)
		a_int(&a, "axis", axis);
	g_node(&g, "Softmax", "sm", "x", "y", &a);
	g_output(&g, "y");
	return import(&g, opset);
}

START_TEST(softmax_opsets)
{
	/* Opset 11, default axis 1: coerce to [2,12], softmax, back. */
	Graph *gr = softmax_model(11, 1, false);
	ck_ok(gr);
	ck_assert_int_eq(gr->nodes.n, 3);
	ck_assert_int_eq(gr->nodes.v[0].op, OP_RESHAPE);
	ck_ints(&gr->nodes.v[0], "shape", 2, 2, 12);
	ck_assert_int_eq(gr->nodes.v[1].op, OP_SOFTMAX);
	ck_assert_int_eq(ir_attr_int(&gr->nodes.v[1], "axis", -1), 1);
	ck_assert_int_eq(gr->nodes.v[2].op, OP_RESHAPE);
	ck_dims(gr, gr->outputs.v[0], 3, 2, 3, 4);
	ck_assert_str_eq(gr->values.v[gr->outputs.v[0]].name, "y");
	for (int i = 0; i < 3; i++)
		ck_assert_str_eq(gr->nodes.v[i].src_op, "Softmax");
	ir_graph_free(gr);
	/* Opset 11 on the last axis is a plain softmax. */
	gr = softmax_model(11, -1, true);
	ck_ok(gr);
	ck_assert_int_eq(gr->nodes.n, 1);
	ck_assert_int_eq(ir_attr_int(&gr->nodes.v[0], "axis", -1), 2);
	ir_graph_free(gr);
	/* Opset 13: one axis, default -1, normalized. */
	gr = softmax_model(13, 1, true);
	ck_ok(gr);
	ck_assert_int_eq(gr->nodes.n, 1);
	ck_assert_int_eq(ir_attr_int(&gr->nodes.v[0], "axis", -1), 1);
	ir_graph_free(gr);
	gr = softmax_model(13, 0, false);
	ck_ok(gr);
	ck_assert_int_eq(ir_attr_int(&gr->nodes.v[0], "axis", -1), 2);
	ir_graph_free(gr);
}
END_TEST

static Graph *autopad_model(const char *mode, const char *op)
{
	Buf g = {0}, a = {0};
	g_input(&g, "x", F32, "1,3,7,6");
	a_str(&a, "auto_pad", mode);
	a_ints(&a, "strides", 2, 2, 2);
	if (strcmp(op, "Conv") == 0) {
		g_init_f32(&g, "w", "1,3,3,3", w27, 27, true);
		g_node(&g, op, "n", "x,w", "y", &a);
	} else {
		a_ints(&a, "kernel_shape", 2, 3, 2);
		g_node(&g, op, "n", "x", "y", &a);
	}
	g_output(&g, "y");
	return import(&g, 13);
}

START_TEST(auto_pad)
{
	/* in 7, k 3, s 2: out 4, total pad 2.  in 6, k 3, s 2: out 3, total 1. */
	Graph *gr = autopad_model("SAME_UPPER", "Conv");
	ck_ok(gr);
	ck_ints(node_of(gr, "y"), "pads", 4, 1, 0, 1, 1);
	ck_dims(gr, gr->outputs.v[0], 4, 1, 1, 4, 3);
	ir_graph_free(gr);
	gr = autopad_model("SAME_LOWER", "Conv");
	ck_ok(gr);
	ck_ints(node_of(gr, "y"), "pads", 4, 1, 1, 1, 0);
	ir_graph_free(gr);
	gr = autopad_model("VALID", "Conv");
	ck_ok(gr);
	ck_ints(node_of(gr, "y"), "pads", 4, 0, 0, 0, 0);
	ck_dims(gr, gr->outputs.v[0], 4, 1, 1, 3, 2);
	ir_graph_free(gr);
	/* MaxPool kernel [3,2], s 2: in 7 -> out 4, total 2; in 6 -> out 3, total 0. */
	gr = autopad_model("SAME_UPPER", "MaxPool");
	ck_ok(gr);
	const Node *n = node_of(gr, "y");
	ck_assert_int_eq(n->op, OP_MAXPOOL);
	ck_ints(n, "pads", 4, 1, 0, 1, 0);
	ck_ints(n, "kernel", 2, 3, 2);
	ck_ints(n, "dilations", 2, 1, 1);
	ck_assert_int_eq(ir_attr_int(n, "ceil_mode", -1), 0);
	ir_graph_free(gr);
	gr = autopad_model("SAME_LOWER", "AveragePool");
	ck_ok(gr);
	n = node_of(gr, "y");
	ck_assert_int_eq(n->op, OP_AVGPOOL);
	ck_assert_int_eq(ir_attr_int(n, "count_include_pad", -1), 0);
	ir_graph_free(gr);
	ck_fails_with(autopad_model("SAME_MIDDLE", "Conv"), "unsupported auto_pad 'SAME_MIDDLE'");
}
END_TEST

static Graph *reshape_model(const int64_t *shape, int n, bool allowzero)
{
	Buf g = {0}, a = {0};
	g_input(&g, "x", F32, "2,3,4");
	char sh[8];
	snprintf(sh, sizeof sh, "%d", n);
	g_init_i64(&g, "s", sh, shape, n);
	if (allowzero)
		a_int(&a, "allowzero", 1);
	g_node(&g, "Reshape", "rs", "x,s", "y", &a);
	g_output(&g, "y");
	return import(&g, 14);
}

START_TEST(reshape_zero_minus_one)
{
	int64_t s1[2] = {0, -1}, s2[3] = {-1, 0, 2}, s3[2] = {5, -1}, s4[2] = {0, 24}, s5[2] = {1LL << 62, 8};
	Graph *gr = reshape_model(s1, 2, false);
	ck_ok(gr);
	ck_ints(node_of(gr, "y"), "shape", 2, 2, 12);
	ck_dims(gr, gr->outputs.v[0], 2, 2, 12);
	ir_graph_free(gr);
	gr = reshape_model(s2, 3, false);
	ck_ok(gr);
	ck_ints(node_of(gr, "y"), "shape", 3, 4, 3, 2);
	ir_graph_free(gr);
	ck_fails_with(reshape_model(s3, 2, false), "node 'rs' (Reshape): cannot infer the -1 dimension");
	ck_fails_with(reshape_model(s4, 2, true), "cannot reshape [2,3,4]");
	ck_fails_with(reshape_model(s5, 2, false), "node 'rs' (Reshape): ");
	/* A computed shape is refused up front. */
	Buf g = {0};
	g_input(&g, "x", F32, "2,3");
	g_input(&g, "s", I64, "2");
	g_node(&g, "Reshape", "rs", "x,s", "y", NULL);
	g_output(&g, "y");
	ck_fails_with(import(&g, 13), "input 1 ('s') must be a constant");
}
END_TEST

START_TEST(pad_forms)
{
	Buf g = {0}, a = {0};
	g_input(&g, "x", F32, "2,3");
	a_ints(&a, "pads", 4, 0, 1, 1, 2);
	a_float(&a, "value", 1.5f);
	g_node(&g, "Pad", "p", "x", "y", &a);
	g_output(&g, "y");
	Graph *gr = import(&g, 10);
	ck_ok(gr);
	ck_ints(node_of(gr, "y"), "pads", 4, 0, 1, 1, 2);
	ck_assert(ir_attr_float(node_of(gr, "y"), "value", 0) == 1.5);
	ck_dims(gr, gr->outputs.v[0], 2, 3, 6);
	ir_graph_free(gr);
	/* Opset 18 with axes: pads only the last axis, one negative. */
	g = (Buf){0};
	int64_t p[2] = {2, -1}, ax[1] = {-1};
	g_input(&g, "x", F32, "2,3");
	g_init_i64(&g, "p", "2", p, 2);
	g_init_i64(&g, "ax", "1", ax, 1);
	g_node(&g, "Pad", "p", "x,p,,ax", "y", NULL);
	g_output(&g, "y");
	gr = import(&g, 18);
	ck_ok(gr);
	ck_ints(node_of(gr, "y"), "pads", 4, 0, 2, 0, -1);
	ck_assert(ir_attr_float(node_of(gr, "y"), "value", 1) == 0);
	ir_graph_free(gr);
	g = (Buf){0};
	int64_t p4[4] = {0, 1, 0, 1};
	g_input(&g, "x", F32, "2,3");
	g_init_i64(&g, "p", "4", p4, 4);
	a_str(&a, "mode", "mirror");
	g_node(&g, "Pad", "pr", "x,p", "y", &a);
	g_output(&g, "y");
	ck_fails_with(import(&g, 13), "node 'pr' (Pad): unsupported pad mode 'mirror'");
}
END_TEST

START_TEST(misc_ops)
{
	/* BatchNorm -> Flatten -> Gemm -> Dropout -> LeakyRelu, MaxPool's
	 * Indices output unused, Constant nodes, Transpose, Concat. */
	Buf g = {0}, a = {0};
	float ones[18 * 5];
	for (int i = 0; i < 18 * 5; i++)
		ones[i] = (float)i / 7;
	g_input(&g, "x", F32, "1,2,3,3");
	const char *bn[4] = {"s", "b", "m", "v"};
	for (int i = 0; i < 4; i++)
		g_init_f32(&g, bn[i], "2", ones + 1, 2, true);
	g_init_f32(&g, "gw", "5,18", ones, 90, false);
	a_float(&a, "epsilon", 1e-3f);
	g_node(&g, "BatchNormalization", "bn", "x,s,b,m,v", "y", &a);
	a_ints(&a, "kernel_shape", 2, 2, 2);
	g_node(&g, "MaxPool", "mp", "y", "mp,idx", &a);
	g_node(&g, "Flatten", "fl", "y", "f", NULL);
	a_int(&a, "transB", 1);
	a_float(&a, "alpha", 0.5f);
	g_node(&g, "Gemm", "gemm", "f,gw", "gm", &a);
	g_node(&g, "Dropout", "drop", "gm", "d", NULL);
	g_node(&g, "LeakyRelu", "lr", "d", "l", NULL);
	a_ints(&a, "value_ints", 2, 3, 4);
	g_node(&g, "Constant", "k", NULL, "kc", &a);
	g_node(&g, "Transpose", "tr", "y", "t", NULL);
	g_node(&g, "Concat", "cat", "y,y", "cc", NULL);
	g_output(&g, "l");
	g_output(&g, "mp");
	g_output(&g, "t");
	g_output(&g, "kc");
	Graph *gr = import(&g, 13);
	ck_fails_with(gr, "node 'cat' (Concat): attribute 'axis' is required");
	/* Fix Concat and check everything. */
	g = (Buf){0};
	g_input(&g, "x", F32, "1,2,3,3");
	for (int i = 0; i < 4; i++)
		g_init_f32(&g, bn[i], "2", ones + 1, 2, true);
	g_init_f32(&g, "gw", "5,18", ones, 90, false);
	a_float(&a, "epsilon", 1e-3f);
	g_node(&g, "BatchNormalization", "bn", "x,s,b,m,v", "y", &a);
	a_ints(&a, "kernel_shape", 2, 2, 2);
	g_node(&g, "MaxPool", "mp", "y", "mp,idx", &a);
	g_node(&g, "Flatten", "fl", "y", "f", NULL);
	a_int(&a, "transB", 1);
	a_float(&a, "alpha", 0.5f);
	g_node(&g, "Gemm", "gemm", "f,gw", "gm", &a);
	g_node(&g, "Dropout", "drop", "gm", "d", NULL);
	g_node(&g, "LeakyRelu", "lr", "d", "l", NULL);
	a_ints(&a, "value_ints", 2, 3, 4);
	g_node(&g, "Constant", "k", NULL, "kc", &a);
	g_node(&g, "Transpose", "tr", "y", "t", NULL);
	a_int(&a, "axis", -3);
	g_node(&g, "Concat", "cat", "y,y", "cc", &a);
	g_output(&g, "l");
	g_output(&g, "mp");
	g_output(&g, "t");
	g_output(&g, "kc");
	g_output(&g, "cc");
	gr = import(&g, 13);
	ck_ok(gr);
	ck_assert(ir_attr_float(node_of(gr, "y"), "epsilon", 0) == (double)1e-3f);
	ck_ints(node_of(gr, "f"), "shape", 2, 1, 18);
	const Node *gm = node_of(gr, "gm");
	ck_assert(ir_attr_float(gm, "alpha", 0) == 0.5 && ir_attr_float(gm, "beta", 0) == 1);
	ck_assert_int_eq(ir_attr_int(gm, "trans_b", 0), 1);
	ck_assert_int_eq(ir_attr_int(gm, "trans_a", 1), 0);
	ck_assert_int_eq(node_of(gr, "d")->op, OP_IDENTITY);
	ck_assert_str_eq(node_of(gr, "d")->src_op, "Dropout");
	ck_assert(ir_attr_float(node_of(gr, "l"), "alpha", 0) == (double)0.01f);
	ck_ints(node_of(gr, "t"), "perm", 4, 3, 2, 1, 0);
	ck_assert_int_eq(ir_attr_int(node_of(gr, "cc"), "axis", -1), 1);
	ValueId kc = ir_find_value(gr, "kc");
	ck_assert_int_eq(gr->values.v[kc].kind, VAL_CONST);
	ck_assert_int_eq(((const int64_t *)gr->values.v[kc].data)[1], 4);
	ir_graph_free(gr);
	/* A used Indices output is its own node over the same windows. */
	g = (Buf){0};
	g_input(&g, "x", F32, "1,2,4,4");
	a_ints(&a, "kernel_shape", 2, 2, 2);
	a_int(&a, "storage_order", 1);
	g_node(&g, "MaxPool", "mp", "x", "y,idx", &a);
	g_output(&g, "idx");
	gr = import(&g, 13);
	ck_assert_ptr_nonnull(gr);
	const Node *mi = node_of(gr, "idx");
	ck_assert_int_eq(mi->op, OP_MAXPOOL_INDEX);
	ck_assert_int_eq(ir_attr_int(mi, "storage_order", 0), 1);
	ck_ints(mi, "kernel", 2, 2, 2);
	ck_assert_int_eq(ir_value_type(gr, mi->out)->dt, DT_I64);
	ir_graph_free(gr);
}
END_TEST

/* ---- tests: graph-level problems --------------------------------------------------------- */

START_TEST(symbolic_dims)
{
	for (int k = 0; k < 4; k++) {
		Buf g = {0};
		g_input(&g, "x", F32, k == 3 ? "?,3" : "N,3");
		g_node(&g, "Relu", "r", "x", "y", NULL);
		g_output(&g, "y");
		ImportOptions o = {0};
		char arg[2][32] = {"N=5", "x=7,3"};
		if (k == 1 || k == 2) {
			ck_assert(frontend_parse_shape_arg(arg[k - 1], &o.shapes[0]));
			o.nshapes = 1;
		}
		Graph *gr = import_opts(&g, 13, &o);
		if (k == 0) {
			ck_fails_with(gr, "input 'x' has symbolic dimension 'N'; bind it with --shape x=...");
		} else if (k == 3) {
			ck_fails_with(gr, "input 'x' has unknown dimension 0");
		} else {
			ck_ok(gr);
			ck_dims(gr, gr->inputs.v[0], 2, k == 1 ? 5 : 7, 3);
			ir_graph_free(gr);
		}
	}
	/* A binding that names nothing. */
	Buf g = {0};
	conv_relu(&g, true);
	ImportOptions o = {0};
	char arg[] = "nothing=1";
	ck_assert(frontend_parse_shape_arg(arg, &o.shapes[0]));
	o.nshapes = 1;
	ck_fails_with(import_opts(&g, 13, &o), "--shape nothing");
}
END_TEST

START_TEST(shape_args)
{
	ShapeBinding b;
	char a1[] = "input=1,3,224,224", a2[] = "N=4", a3[] = "x=", a4[] = "=3", a5[] = "x=1,,2", a6[] = "x=-1",
	     a7[] = "x=1,2,3,4,5,6,7,8,9", a8[] = "x=2a";
	ck_assert(frontend_parse_shape_arg(a1, &b));
	ck_assert_str_eq(b.name, "input");
	ck_assert_int_eq(b.rank, 4);
	ck_assert_int_eq(b.dims[3], 224);
	ck_assert(frontend_parse_shape_arg(a2, &b));
	ck_assert_int_eq(b.rank, 1);
	ck_assert(!frontend_parse_shape_arg(a3, &b));
	ck_assert(!frontend_parse_shape_arg(a4, &b));
	ck_assert(!frontend_parse_shape_arg(a5, &b));
	ck_assert(!frontend_parse_shape_arg(a6, &b));
	ck_assert(!frontend_parse_shape_arg(a7, &b));
	ck_assert(!frontend_parse_shape_arg(a8, &b));
}
END_TEST

START_TEST(dims_overflow)
{
	Buf g = {0};
	g_input(&g, "x", F32, "1099511627776,1099511627776,1099511627776");
	g_node(&g, "Relu", "r", "x", "y", NULL);
	g_output(&g, "y");
	ck_fails_with(import(&g, 13), "too large");
	g = (Buf){0};
	g_input(&g, "x", F32, "2");
	g_init_raw(&g, "w", F32, "4611686018427387904,4", w27, 8);
	g_node(&g, "Relu", "r", "x", "y", NULL);
	g_output(&g, "y");
	ck_fails_with(import(&g, 13), "initializer 'w' is too large");
	g = (Buf){0};
	g_input(&g, "x", F32, "2");
	g_init_raw(&g, "w", F32, "-4", w27, 16);
	g_node(&g, "Relu", "r", "x", "y", NULL);
	g_output(&g, "y");
	ck_fails_with(import(&g, 13), "negative dimension");
}
END_TEST

START_TEST(cycle_and_order)
{
	Buf g = {0};
	g_input(&g, "x", F32, "2");
	g_node(&g, "Relu", "r1", "t2", "t1", NULL);
	g_node(&g, "Relu", "r2", "t1", "t2", NULL);
	g_node(&g, "Add", "a", "x,t2", "y", NULL);
	g_output(&g, "y");
	Graph *gr = import(&g, 13);
	ck_assert_ptr_null(gr);
	ck_assert_int_eq(diag.nmsg, 1);
	ck_assert(strstr(diag.msgs[0], "cycle") &&
		  (strstr(diag.msgs[0], "node 'r1' (Relu)") || strstr(diag.msgs[0], "node 'r2' (Relu)")));
	/* Out of order but acyclic: sorted. */
	g = (Buf){0};
	g_input(&g, "x", F32, "2");
	g_node(&g, "Relu", "r2", "t1", "y", NULL);
	g_node(&g, "Sigmoid", "r1", "x", "t1", NULL);
	g_output(&g, "y");
	gr = import(&g, 13);
	ck_ok(gr);
	ck_assert_int_eq(gr->nodes.n, 2);
	ck_assert_int_eq(gr->nodes.v[0].op, OP_SIGMOID);
	ck_assert_int_eq(gr->nodes.v[1].op, OP_RELU);
	ir_graph_free(gr);
	/* Undefined operand, double definition, missing output. */
	g = (Buf){0};
	g_input(&g, "x", F32, "2");
	g_node(&g, "Relu", "r", "ghost", "y", NULL);
	g_output(&g, "y");
	ck_fails_with(import(&g, 13), "node 'r' (Relu): input 'ghost' is not produced");
	g = (Buf){0};
	g_input(&g, "x", F32, "2");
	g_node(&g, "Relu", "r", "x", "x", NULL);
	g_output(&g, "x");
	ck_fails_with(import(&g, 13), "defined more than once");
	g = (Buf){0};
	g_input(&g, "x", F32, "2");
	g_node(&g, "Relu", "r", "x", "y", NULL);
	g_output(&g, "zz");
	ck_fails_with(import(&g, 13), "graph output 'zz'");
}
END_TEST

START_TEST(unknown_op_and_opset)
{
	Buf g = {0};
	g_input(&g, "x", F32, "2");
	g_node(&g, "FrobnicateV2", "relu1", "x", "y", NULL);
	g_output(&g, "y");
	ck_fails_with(import(&g, 13), "node 'relu1' (FrobnicateV2): unsupported op");
	g = (Buf){0};
	conv_relu(&g, true);
	ck_fails_with(import(&g, 99), "opset 99");
	g = (Buf){0};
	conv_relu(&g, true);
	ck_fails_with(import(&g, 6), "opset 6");
	/* Unnamed nodes get a generated name. */
	g = (Buf){0};
	g_input(&g, "x", F32, "2");
	g_node(&g, "Relu", NULL, "x", "a", NULL);
	g_node(&g, "Zap", NULL, "a", "y", NULL);
	g_output(&g, "y");
	ck_fails_with(import(&g, 13), "node 'Zap_1' (Zap): unsupported op");
}
END_TEST

START_TEST(check_all_lists_everything)
{
	Buf g = {0}, a = {0};
	g_input(&g, "x", F32, "3");
	g_node(&g, "Relu", "ok1", "x", "a", NULL);
	g_node(&g, "Frob", "bad1", "a", "b", NULL);
	g_node(&g, "Relu", "ok2", "b", "c", NULL);
	g_node(&g, "Wibble", "bad2", "c", "d", NULL);
	g_node(&g, "Zap", "bad3", "d", "e", NULL);
	a_int(&a, "bogus", 1);
	g_node(&g, "Relu", "bad4", "e", "y", &a);
	g_output(&g, "y");
	ImportOptions o = {.check_all = true};
	Graph *gr = import_opts(&g, 13, &o);
	ck_assert_ptr_null(gr);
	ck_assert_int_eq(diag.nmsg, 4);
	ck_assert(diag_has("node 'bad1' (Frob): unsupported op"));
	ck_assert(diag_has("node 'bad2' (Wibble): unsupported op"));
	ck_assert(diag_has("node 'bad3' (Zap): unsupported op"));
	ck_assert(diag_has("node 'bad4' (Relu): unsupported attribute 'bogus'"));
	ck_assert(!diag_has("ok1") && !diag_has("ok2"));
	/* Without check_all only the first is reported. */
	g = (Buf){0};
	g_input(&g, "x", F32, "3");
	g_node(&g, "Frob", "bad1", "x", "b", NULL);
	g_node(&g, "Zap", "bad3", "b", "y", NULL);
	g_output(&g, "y");
	ck_assert_ptr_null(import(&g, 13));
	ck_assert_int_eq(diag.nmsg, 1);
	/* check_all also lists a bad initializer next to a bad op. */
	g = (Buf){0};
	g_input(&g, "x", F32, "3");
	g_init_raw(&g, "s", STRING, "1", "ab", 2);
	g_node(&g, "Add", "add", "x,s", "a", NULL);
	g_node(&g, "Zap", "bad3", "a", "y", NULL);
	g_output(&g, "y");
	ck_assert_ptr_null(import_opts(&g, 13, &o));
	ck_assert_int_eq(diag.nmsg, 2);
	ck_assert(diag_has("initializer 's' has unsupported dtype string"));
	ck_assert(diag_has("node 'bad3' (Zap)"));
}
END_TEST

/* ---- tests: external data --------------------------------------------------------------- */

static Graph *external_model(const char *loc, const char *offset)
{
	Buf g = {0};
	g_input(&g, "x", F32, "1,3,5,5");
	g_init_external(&g, "w", "1,3,3,3", loc, offset);
	g_node(&g, "Conv", "conv1", "x,w", "y", NULL);
	g_output(&g, "y");
	return import(&g, 13);
}

START_TEST(external_data)
{
	unsigned char blob[16 + sizeof w27];
	memset(blob, 0xee, 16);
	memcpy(blob + 16, w27, sizeof w27);
	write_file("weights.bin", blob, sizeof blob);
	Graph *gr = external_model("weights.bin", "16");
	ck_ok(gr);
	ck_assert_int_eq(memcmp(ir_value(gr, ir_find_value(gr, "w"))->data, w27, sizeof w27), 0);
	ir_graph_free(gr);
	ck_fails_with(external_model("missing.bin", NULL), "initializer 'w': cannot open external data file 'missing.bin'");
	ck_fails_with(external_model("weights.bin", "100"), "too short");
	ck_fails_with(external_model("../secret.bin", NULL), "'w': external data location '../secret.bin' escapes");
	ck_fails_with(external_model("a/../../secret.bin", NULL), "escapes");
	ck_fails_with(external_model("/etc/passwd", NULL), "'w': external data location '/etc/passwd' is an absolute path");
	ck_fails_with(external_model("weights.bin", "-1"), "invalid external data offset");
	/* A symlink inside the folder that points outside it. */
	char *link = tmp_path("link.bin");
	ck_assert_int_eq(symlink("/", link), 0);
	ck_fails_with(external_model("link.bin", NULL), "resolves outside the model's folder");
}
END_TEST

/* ---- tests: hostile bytes ------------------------------------------------------------------ */

START_TEST(truncated_and_garbage)
{
	Buf g = {0};
	conv_relu(&g, true);
	Buf m = model(&g, 13);
	for (size_t cut = 1; cut < m.n; cut += 1 + m.n / 97) {
		char *path = write_file("cut.onnx", m.p, cut);
		diag_free(&diag);
		diag_init(&diag);
		Graph *gr = onnx_import(path, NULL, &diag);
		if (gr)
			ir_graph_free(gr);
		else
			ck_assert_int_ge(diag.nmsg, 1);
	}
	char *path = write_file("half.onnx", m.p, m.n / 2);
	diag_free(&diag);
	diag_init(&diag);
	ck_fails_with(onnx_import(path, NULL, &diag), "not a valid ONNX model");
	path = write_file("empty.onnx", "", 0);
	ck_fails_with(onnx_import(path, NULL, &diag), "not a valid ONNX model");
	/* Random bytes, and random byte flips of a valid model. */
	unsigned char buf[4096];
	uint64_t s = 12345;
	for (int seed = 0; seed < 300; seed++) {
		size_t n;
		if (seed % 2) {
			n = 1 + seed * 13 % sizeof buf;
			for (size_t i = 0; i < n; i++) {
				s = s * 6364136223846793005ull + 1442695040888963407ull;
				buf[i] = (unsigned char)(s >> 33);
			}
		} else {
			n = m.n;
			memcpy(buf, m.p, n);
			for (int k = 0; k < 1 + seed % 5; k++) {
				s = s * 6364136223846793005ull + 1442695040888963407ull;
				buf[(s >> 33) % n] ^= (unsigned char)(1u << (s >> 20) % 8);
			}
		}
		path = write_file("rnd.onnx", buf, n);
		diag_free(&diag);
		diag_init(&diag);
		ImportOptions o = {.check_all = seed % 3 == 0};
		Graph *gr = onnx_import(path, &o, &diag);
		if (gr)
			ir_graph_free(gr);
		else
			ck_assert_int_ge(diag.nmsg, 1);
	}
	free(m.p);
}
END_TEST

/* frontend_load dispatches on the file kind; .kir text reads back. */
START_TEST(load_dispatch)
{
	Buf g = {0};
	conv_relu(&g, true);
	Buf m = model(&g, 13);
	char *p = write_file("noext", m.p, m.n);
	free(m.p);
	diag_free(&diag);
	diag_init(&diag);
	Graph *gr = frontend_load(p, NULL, &diag);
	ck_ok(gr);
	char *kir = strdup(tmp_path("model.kir"));
	FILE *f = fopen(kir, "w");
	ck_assert_ptr_nonnull(f);
	ir_print(gr, f);
	fclose(f);
	Graph *back = frontend_load(kir, NULL, &diag);
	ck_ok(back);
	ck_assert_int_eq(back->nodes.n, gr->nodes.n);
	ck_assert_int_eq(node_of(back, "c")->op, OP_CONV);
	ck_assert_str_eq(node_of(back, "c")->name, "conv1");
	ir_graph_free(back);
	ir_graph_free(gr);
	free(kir);
	diag_free(&diag);
	diag_init(&diag);
	ck_fails_with(frontend_load(tmp_path("does-not-exist.onnx"), NULL, &diag), "cannot read the model");
}
END_TEST

/* Every allocation failure is an error, never a crash. */
static int alloc_budget;

static void *failing_alloc(void *ud, size_t size)
{
	if (alloc_budget-- <= 0)
		return NULL;
	return malloc(size);
}

START_TEST(allocation_failures)
{
	Buf g = {0}, a = {0};
	g_input(&g, "x", F32, "1,3,5,5");
	g_init_f32(&g, "w", "1,3,3,3", w27, 27, false);
	a_str(&a, "auto_pad", "SAME_UPPER");
	g_node(&g, "Conv", "conv1", "x,w", "c", &a);
	g_node(&g, "Softmax", "sm", "c", "y", NULL);
	g_output(&g, "y");
	Buf m = model(&g, 11);
	char *path = write_file("alloc.onnx", m.p, m.n);
	free(m.p);
	bool succeeded = false;
	for (int n = 0; n < 200 && !succeeded; n++) {
		for (int all = 0; all < 2; all++) {
			ImportOptions o = {.check_all = all};
			diag_free(&diag);
			diag_init(&diag);
			alloc_budget = n;
			ir_set_alloc_hook(failing_alloc, NULL);
			Graph *gr = onnx_import(path, &o, &diag);
			ir_set_alloc_hook(NULL, NULL);
			if (gr) {
				succeeded = true;
				ir_graph_free(gr);
			} else
				ck_assert_msg(diag.nmsg >= 1, "failure without a message at budget %d", n);
		}
	}
	ck_assert(succeeded);
}
END_TEST

/* ---- tests: JSON ------------------------------------------------------------------------------ */

static Graph *json_text(const char *text)
{
	char *path = write_file("model.json", text, strlen(text));
	diag_free(&diag);
	diag_init(&diag);
	return frontend_load(path, NULL, &diag);
}

START_TEST(json_model)
{
	Graph *gr = json_text(
		"{\"kiln\": 1, \"name\": \"tiny\",\n"
		" \"inputs\": [{\"name\": \"x\", \"dtype\": \"f32\", \"shape\": [1, 2, 4, 4]}],\n"
		" \"constants\": [\n"
		"  {\"name\": \"w\", \"dtype\": \"f32\", \"shape\": [3, 2, 1, 1], \"data\": [[1, 2], [3, 4], [5, -6.5]]},\n"
		"  {\"name\": \"b\", \"dtype\": \"f32\", \"shape\": [3], \"data_b64\": \"AACAPwAAAEAAAEBA\"},\n"
		"  {\"name\": \"r\", \"dtype\": \"f32\", \"shape\": [3, 1, 1], \"fill\": {\"random\": \"normal\", \"seed\": 1, \"scale\": 0.1}},\n"
		"  {\"name\": \"h\", \"dtype\": \"u8\", \"shape\": [2], \"data_hex\": \"00ff\"}],\n"
		" \"nodes\": [\n"
		"  {\"name\": \"c1\", \"op\": \"Conv\", \"inputs\": [\"x\", \"w\", \"b\"], \"outputs\": [\"c\"], \"attrs\": {\"pads\": [0,0,0,0]}},\n"
		"  {\"op\": \"Add\", \"inputs\": [\"c\", \"r\"], \"outputs\": [\"a\"]},\n"
		"  {\"name\": \"rs\", \"op\": \"Reshape\", \"inputs\": [\"a\"], \"outputs\": [\"f\"], \"attrs\": {\"shape\": [1, -1]}},\n"
		"  {\"name\": \"cl\", \"op\": \"Clip\", \"inputs\": [\"f\"], \"outputs\": [\"y\"], \"attrs\": {\"min\": 0, \"max\": 6}}],\n"
		" \"outputs\": [\"y\"]}\n");
	ck_ok(gr);
	ck_assert_str_eq(gr->name, "tiny");
	const float *w = ir_value(gr, ir_find_value(gr, "w"))->data;
	ck_assert(w[5] == -6.5f);
	const float *b = ir_value(gr, ir_find_value(gr, "b"))->data;
	ck_assert(b[0] == 1 && b[1] == 2 && b[2] == 3);
	const float *r = ir_value(gr, ir_find_value(gr, "r"))->data;
	ck_assert(r[0] != 0 && r[0] != r[1] && fabsf(r[0]) < 1);
	ck_assert_int_eq(((const uint8_t *)ir_value(gr, ir_find_value(gr, "h"))->data)[1], 255);
	ck_ints(node_of(gr, "f"), "shape", 2, 1, 48);
	ck_assert(ir_attr_float(node_of(gr, "y"), "max", 0) == 6);
	ck_assert_str_eq(node_of(gr, "a")->name, "Add_1");
	ck_dims(gr, gr->outputs.v[0], 2, 1, 48);
	ir_graph_free(gr);
}
END_TEST

START_TEST(json_lenient_and_constants)
{
	/* Constant operands written as attributes, a Constant node with a
	 * tensor value, a value fill, symbolic dims bound, nodes out of order. */
	const char *text =
		"{\"kiln\": 1, \"opset\": 13,\n"
		" \"inputs\": [{\"name\": \"x\", \"dtype\": \"f32\", \"shape\": [\"N\", 3]}],\n"
		" \"constants\": [{\"name\": \"two\", \"dtype\": \"f32\", \"fill\": {\"value\": 2}},\n"
		"                {\"name\": \"m\", \"dtype\": \"bool\", \"shape\": [2], \"data\": [true, false]}],\n"
		" \"nodes\": [\n"
		"  {\"name\": \"sq\", \"op\": \"Squeeze\", \"inputs\": [\"u\"], \"outputs\": [\"s\"], \"attrs\": {\"axes\": [0]}},\n"
		"  {\"name\": \"un\", \"op\": \"Unsqueeze\", \"inputs\": [\"p\"], \"outputs\": [\"u\"], \"attrs\": {\"axes\": [0]}},\n"
		"  {\"name\": \"pd\", \"op\": \"Pad\", \"inputs\": [\"k\"], \"outputs\": [\"p\"], \"attrs\": {\"pads\": [0, 1, 0, 0], \"value\": 0.25}},\n"
		"  {\"name\": \"kn\", \"op\": \"Constant\", \"outputs\": [\"kc\"], \"attrs\": {\"value\": {\"dtype\": \"f32\", \"shape\": [3], \"data\": [1, \"inf\", -0.5]}}},\n"
		"  {\"name\": \"mul\", \"op\": \"Mul\", \"inputs\": [\"x\", \"kc\"], \"outputs\": [\"k0\"]},\n"
		"  {\"name\": \"mul2\", \"op\": \"Mul\", \"inputs\": [\"k0\", \"two\"], \"outputs\": [\"k\"]}],\n"
		" \"outputs\": [\"s\"]}\n";
	char *path = write_file("lenient.json", text, strlen(text));
	ImportOptions o = {0};
	char arg[] = "N=2";
	ck_assert(frontend_parse_shape_arg(arg, &o.shapes[0]));
	o.nshapes = 1;
	diag_free(&diag);
	diag_init(&diag);
	Graph *gr = json_import(path, &o, &diag);
	ck_ok(gr);
	ck_dims(gr, gr->inputs.v[0], 2, 2, 3);
	ck_ints(node_of(gr, "p"), "pads", 4, 0, 1, 0, 0);
	ck_assert(ir_attr_float(node_of(gr, "p"), "value", 0) == 0.25);
	ck_dims(gr, gr->outputs.v[0], 2, 2, 4);
	const float *kc = ir_value(gr, ir_find_value(gr, "kc"))->data;
	ck_assert(kc[0] == 1 && isinf(kc[1]) && kc[2] == -0.5f);
	ck_assert(*(const float *)ir_value(gr, ir_find_value(gr, "two"))->data == 2);
	ck_assert_int_eq(((const uint8_t *)ir_value(gr, ir_find_value(gr, "m"))->data)[0], 1);
	ir_graph_free(gr);
	/* Without the binding. */
	diag_free(&diag);
	diag_init(&diag);
	ck_fails_with(json_import(path, NULL, &diag), "input 'x' has symbolic dimension 'N'");
	/* check_all on JSON lists every problem. */
	const char *bad =
		"{\"kiln\": 1, \"inputs\": [{\"name\": \"x\", \"dtype\": \"f32\", \"shape\": [2]}],\n"
		" \"nodes\": [{\"name\": \"a\", \"op\": \"Frob\", \"inputs\": [\"x\"], \"outputs\": [\"y\"]},\n"
		"           {\"name\": \"b\", \"op\": \"Pad\", \"inputs\": [\"y\"], \"outputs\": [\"z\"], \"attrs\": {\"pads\": [1, 1], \"mode\": \"mirror\"}}],\n"
		" \"outputs\": [\"z\"]}\n";
	path = write_file("bad.json", bad, strlen(bad));
	ImportOptions all = {.check_all = true};
	diag_free(&diag);
	diag_init(&diag);
	ck_assert_ptr_null(frontend_load(path, &all, &diag));
	ck_assert_int_eq(diag.nmsg, 2);
	ck_assert(diag_has("node 'a' (Frob): unsupported op"));
	ck_assert(diag_has("node 'b' (Pad): unsupported pad mode 'mirror'"));
}
END_TEST

START_TEST(json_errors)
{
	static const struct {
		const char *text, *needle;
	} cases[] = {
		{"{\"kiln\": 1, \"inputs\": [", "invalid JSON at line 1"},
		{"{\"kiln\": 1,\n \"inputs\": [] ,,}", "invalid JSON at line 2"},
		{"[1, 2]", "top level must be an object"},
		{"{\"inputs\": [], \"nodes\": [], \"outputs\": []}", "not a kiln JSON graph"},
		{"{\"kiln\": 2, \"inputs\": [], \"nodes\": [], \"outputs\": []}", "unsupported kiln JSON version"},
		{"{\"kiln\": 1, \"inputs\": [], \"nodes\": [], \"outputs\": [], \"nodez\": 1}", "unknown field 'nodez'"},
		{"{\"kiln\": 1, \"inputs\": [{\"name\": \"x\", \"dtype\": \"float99\", \"shape\": [2]}], \"nodes\": [], \"outputs\": [\"x\"]}",
		 "input 'x': unknown dtype 'float99'"},
		{"{\"kiln\": 1, \"inputs\": [{\"name\": \"x\", \"dtype\": \"f32\", \"shape\": [2, -1]}], \"nodes\": [], \"outputs\": [\"x\"]}",
		 "'shape' must be an array"},
		{"{\"kiln\": 1, \"inputs\": [{\"name\": \"x\", \"dtype\": \"f32\", \"shape\": [2]}], \"constants\": "
		 "[{\"name\": \"w\", \"dtype\": \"f32\", \"shape\": [3], \"data\": [1, 2]}], \"nodes\": [], \"outputs\": [\"x\"]}",
		 "constant 'w': 'data' has 2 elements, the shape needs 3"},
		{"{\"kiln\": 1, \"inputs\": [{\"name\": \"x\", \"dtype\": \"f32\", \"shape\": [2]}], \"constants\": "
		 "[{\"name\": \"w\", \"dtype\": \"i8\", \"shape\": [1], \"data\": [300]}], \"nodes\": [], \"outputs\": [\"x\"]}",
		 "not a valid i8"},
		{"{\"kiln\": 1, \"inputs\": [{\"name\": \"x\", \"dtype\": \"f32\", \"shape\": [2]}], \"constants\": "
		 "[{\"name\": \"w\", \"dtype\": \"f32\", \"shape\": [1], \"data_b64\": \"!!!!\"}], \"nodes\": [], \"outputs\": [\"x\"]}",
		 "invalid character"},
		{"{\"kiln\": 1, \"inputs\": [{\"name\": \"x\", \"dtype\": \"f32\", \"shape\": [2]}], \"nodes\": "
		 "[{\"name\": \"n1\", \"op\": \"Relu\", \"inputs\": [\"x\"]}], \"outputs\": [\"x\"]}",
		 "node 'n1' (Relu): field 'outputs' is required"},
		{"{\"kiln\": 1, \"inputs\": [{\"name\": \"x\", \"dtype\": \"f32\", \"shape\": [2]}], \"nodes\": "
		 "[{\"name\": \"n1\", \"op\": \"Relu\", \"inputs\": [\"x\"], \"outputs\": [\"y\"], \"atrs\": {}}], \"outputs\": [\"y\"]}",
		 "node 'n1' (Relu): unknown field 'atrs'"},
		{"{\"kiln\": 1, \"inputs\": [{\"name\": \"x\", \"dtype\": \"f32\", \"shape\": [2]}], \"nodes\": "
		 "[{\"name\": \"n1\", \"op\": \"LeakyRelu\", \"inputs\": [\"x\"], \"outputs\": [\"y\"], \"attrs\": {\"alpha\": \"big\"}}], \"outputs\": [\"y\"]}",
		 "node 'n1' (LeakyRelu): attribute 'alpha' must be a float"},
		{"{\"kiln\": 1, \"inputs\": [{\"name\": \"x\", \"dtype\": \"f32\", \"shape\": [2]}], \"nodes\": "
		 "[{\"name\": \"n1\", \"op\": \"Relu\", \"inputs\": [\"x\"], \"outputs\": [\"y\"]}], \"outputs\": [\"q\"]}",
		 "graph output 'q'"},
		{"{\"kiln\": 1, \"inputs\": [{\"name\": \"x\", \"dtype\": \"f32\", \"shape\": [\"N\"]}], \"nodes\": "
		 "[{\"name\": \"n1\", \"op\": \"Relu\", \"inputs\": [\"x\"], \"outputs\": [\"y\"]}], \"outputs\": [\"y\"]}",
		 "symbolic dimension 'N'"},
		{"", "invalid JSON"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		Graph *gr = json_text(cases[i].text);
		ck_assert_msg(gr == NULL, "case %zu should fail", i);
		ck_assert_msg(diag_has(cases[i].needle), "case %zu: no \"%s\" in: %s", i, cases[i].needle,
			      diag.nmsg ? diag.msgs[0] : "(none)");
		ck_assert_msg(strstr(diag.msgs[0], "model.json: "), "case %zu: message does not name the file", i);
	}
}
END_TEST

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* The op families' rows (frontend/imp_*.c): one family per ONNX op, no
 * overlapping opset ranges (the lookup would shadow one), and an importer
 * for every ONNX name ops.def maps one to one. */
START_TEST(op_tables_consistent)
{
	char why[256] = "";
	ck_assert_msg(fe_check_op_tables(why, sizeof why), "%s", why);
}
END_TEST

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/kiln-fe-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	diag_init(&diag);
	Suite *s = suite_create("frontend");
	TCase *tc = tcase_create("onnx");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, op_tables_consistent);
	tcase_add_test(tc, basic_conv_relu);
	tcase_add_test(tc, raw_vs_typed);
	tcase_add_test(tc, typed_narrow_types);
	tcase_add_test(tc, data_size_mismatch);
	tcase_add_test(tc, initializer_as_input);
	tcase_add_test(tc, unsupported_dtype);
	tcase_add_test(tc, wrong_operand_dtype);
	tcase_add_test(tc, inconsistent_shapes);
	tcase_add_test(tc, clip_forms);
	tcase_add_test(tc, squeeze_unsqueeze_forms);
	tcase_add_test(tc, softmax_opsets);
	tcase_add_test(tc, auto_pad);
	tcase_add_test(tc, reshape_zero_minus_one);
	tcase_add_test(tc, pad_forms);
	tcase_add_test(tc, misc_ops);
	tcase_add_test(tc, symbolic_dims);
	tcase_add_test(tc, shape_args);
	tcase_add_test(tc, dims_overflow);
	tcase_add_test(tc, cycle_and_order);
	tcase_add_test(tc, unknown_op_and_opset);
	tcase_add_test(tc, check_all_lists_everything);
	tcase_add_test(tc, external_data);
	tcase_add_test(tc, truncated_and_garbage);
	tcase_add_test(tc, allocation_failures);
	tcase_add_test(tc, load_dispatch);
	suite_add_tcase(s, tc);
	TCase *tj = tcase_create("json");
	tcase_add_test(tj, json_model);
	tcase_add_test(tj, json_lenient_and_constants);
	tcase_add_test(tj, json_errors);
	suite_add_tcase(s, tj);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	diag_free(&diag);
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return failed ? 1 : 0;
}
