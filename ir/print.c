/* The IR printer: the .kir text form (docs/ir.md).  Deterministic, and
 * ir_parse reads back exactly what it prints. */
#include "ir.h"

#include <math.h>
#include <string.h>

enum {
	SMALL_CONST = 8,   /* constants up to this many elements show their values */
	HEX_LINE = 32,     /* data bytes per line (eight f32) */
};

/* Names printed without quotes: [A-Za-z0-9_.]+ (ir/parse.c agrees). */
static bool bare(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '.'))
			return false;
	return true;
}

static void print_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 32 || c >= 127)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void print_word(FILE *f, const char *s)
{
	if (bare(s))
		fputs(s, f);
	else
		print_str(f, s);
}

/* %name of a value id; an id out of range prints as a name that cannot
 * parse back, so a broken graph can still be dumped for debugging. */
static void print_ref(FILE *f, const Graph *g, ValueId v)
{
	if (v < 0 || v >= g->values.n || !g->values.v[v].name) {
		fprintf(f, "%%<bad value %d>", v);
		return;
	}
	fputc('%', f);
	print_word(f, g->values.v[v].name);
}

/* A float32 exactly: 9 significant digits identify every float, and the
 * text always looks like a float (".0" added) so attribute kinds survive. */
static void print_f32(FILE *f, double v)
{
	float x = (float)v;
	if (isnan(x))
		fputs("nan", f);
	else if (isinf(x))
		fputs(x < 0 ? "-inf" : "inf", f);
	else {
		char b[40];
		snprintf(b, sizeof b, "%.9g", (double)x);
		fputs(b, f);
		if (!strpbrk(b, ".e"))
			fputs(".0", f);
	}
}

static void print_f64(FILE *f, double v)
{
	if (isnan(v))
		fputs("nan", f);
	else if (isinf(v))
		fputs(v < 0 ? "-inf" : "inf", f);
	else
		fprintf(f, "%.17g", v);
}

static void print_quant(FILE *f, const Quant *q);

static void print_type(FILE *f, const Graph *g, TypeId id)
{
	if (id < 0 || id >= g->types.n) {
		fprintf(f, "<bad type %d>", id);
		return;
	}
	const Type *t = ir_type_get(g, id);
	fprintf(f, "%s[", ir_dtype_name(t->dt));
	for (int i = 0; i < t->rank && i < IR_MAX_RANK; i++)
		fprintf(f, "%s%lld", i ? "," : "", (long long)t->dims[i]);
	fputc(']', f);
	print_quant(f, t->q);
	if (t->block)
		fprintf(f, "{nchw%dc}", t->block);
}

static void print_quant(FILE *f, const Quant *q)
{
	if (!q)
		return;
	if (q->axis < 0) {
		fputs("{q: ", f);
		print_f32(f, q->n > 0 ? q->scale[0] : 0.0);
		fprintf(f, ", %d}", q->n > 0 ? q->zero[0] : 0);
		return;
	}
	fprintf(f, "{q axis=%d: [", q->axis);
	for (int i = 0; i < q->n; i++) {
		if (i)
			fputs(", ", f);
		print_f32(f, q->scale[i]);
	}
	fputs("], [", f);
	for (int i = 0; i < q->n; i++)
		fprintf(f, "%s%d", i ? ", " : "", q->zero[i]);
	fputs("]}", f);
}

static void print_attr(FILE *f, const Attr *a)
{
	print_word(f, a->name ? a->name : "");
	fputc('=', f);
	switch (a->kind) {
	case ATTR_INT:
		fprintf(f, "%lld", (long long)a->i);
		break;
	case ATTR_FLOAT:
		print_f32(f, a->f);
		break;
	case ATTR_STRING:
		print_str(f, a->s ? a->s : "");
		break;
	case ATTR_INTS:
		fputc('[', f);
		for (int i = 0; i < a->n; i++)
			fprintf(f, "%s%lld", i ? ", " : "", (long long)a->ints[i]);
		fputc(']', f);
		break;
	case ATTR_FLOATS:
		fputs("f[", f);
		for (int i = 0; i < a->n; i++) {
			if (i)
				fputs(", ", f);
			print_f32(f, a->floats[i]);
		}
		fputc(']', f);
		break;
	}
}

/* IEEE half to float, for showing f16 constants. */
static float half_to_float(uint16_t h)
{
	int e = (h >> 10) & 31, m = h & 1023;
	float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), e - 25);
	return h & 0x8000 ? -v : v;
}

/* One element of a constant, for the trailing comment. */
static void print_elem(FILE *f, DType dt, const unsigned char *p)
{
	union { uint8_t b[8]; float f32; double f64; int64_t i64; uint64_t u64; int32_t i32; uint32_t u32;
		int16_t i16; uint16_t u16; int8_t i8; uint8_t u8; } u;
	int size = ir_dtype_size(dt);
	memcpy(u.b, p, size > 0 && size <= 8 ? (size_t)size : 0);
	switch (dt) {
	case DT_F32: print_f32(f, u.f32); break;
	case DT_F64: print_f64(f, u.f64); break;
	case DT_F16: print_f32(f, half_to_float(u.u16)); break;
	case DT_BF16: { uint32_t bits = (uint32_t)u.u16 << 16; float x; memcpy(&x, &bits, 4); print_f32(f, x); break; }
	case DT_I64: fprintf(f, "%lld", (long long)u.i64); break;
	case DT_U64: fprintf(f, "%llu", (unsigned long long)u.u64); break;
	case DT_I32: fprintf(f, "%d", u.i32); break;
	case DT_U32: fprintf(f, "%u", u.u32); break;
	case DT_I16: fprintf(f, "%d", u.i16); break;
	case DT_U16: fprintf(f, "%u", u.u16); break;
	case DT_I8: case DT_I4: fprintf(f, "%d", u.i8); break;
	case DT_U8: case DT_U4: fprintf(f, "%u", u.u8); break;
	case DT_BOOL: fputs(u.u8 ? "true" : "false", f); break;
	default:
		if (ir_dtype_is_f8(dt))
			print_f32(f, ir_f8_to_f32(dt, u.u8));
		else
			fputc('?', f);
	}
}

/* Trailing comment: the values of a small constant, the size of a big one. */
static void print_const_comment(FILE *f, const Type *t, const void *data)
{
	int64_t n = ir_type_numel(t);
	if (n > SMALL_CONST || !data) {
		fprintf(f, "  # %lld elems", (long long)n);
		return;
	}
	fputs("  # [", f);
	for (int64_t i = 0; i < n; i++) {
		if (i)
			fputs(", ", f);
		print_elem(f, t->dt, (const unsigned char *)data + i * ir_dtype_size(t->dt));
	}
	fputc(']', f);
}

static void print_value_head(FILE *f, const Graph *g, ValueId v)
{
	fputs("  ", f);
	print_ref(f, g, v);
	fputs(" : ", f);
	print_type(f, g, g->values.v[v].type);
}

static void print_node(FILE *f, const Graph *g, const Node *n)
{
	if (n->out < 0 || n->out >= g->values.n) {
		fprintf(f, "  # node '%s' has an invalid result id %d\n", n->name ? n->name : "", n->out);
		return;
	}
	print_value_head(f, g, n->out);
	fprintf(f, " = %s(", n->op >= 0 && n->op < OP_COUNT ? ir_ops[n->op].name : "<bad op>");
	for (int j = 0; j < n->nin; j++) {
		if (j)
			fputs(", ", f);
		if (n->in[j] < 0)
			fputc('_', f);
		else
			print_ref(f, g, n->in[j]);
	}
	fputc(')', f);
	if (n->nattr > 0) {
		fputs(" {", f);
		for (int j = 0; j < n->nattr; j++) {
			if (j)
				fputs(", ", f);
			print_attr(f, &n->attr[j]);
		}
		fputc('}', f);
	}
	fputs(" loc(", f);
	print_str(f, n->name ? n->name : "");
	fputs(", ", f);
	print_str(f, n->src_op ? n->src_op : "");
	fputs(")\n", f);
}

/* data @N = x"hex": short blobs on one line, long ones wrapped. */
static void print_data(FILE *f, int id, const unsigned char *p, int64_t bytes)
{
	static const char hex[] = "0123456789abcdef";
	fprintf(f, "data @%d = x\"", id);
	bool wrap = bytes > HEX_LINE;
	for (int64_t k = 0; k < bytes; k++) {
		if (wrap && k % HEX_LINE == 0)
			fputs("\n  ", f);
		int b = p ? p[k] : 0;
		fputc(hex[b >> 4], f);
		fputc(hex[b & 15], f);
	}
	fputs(wrap ? "\n\"\n" : "\"\n", f);
}

void ir_print(const Graph *g, FILE *f)
{
	fputs("kiln 1\ngraph @", f);
	print_word(f, g->name ? g->name : "");
	fputs(" {\n", f);
	for (int i = 0; i < g->inputs.n; i++) {
		ValueId v = g->inputs.v[i];
		if (v < 0 || v >= g->values.n) {
			fprintf(f, "  # graph input %d is an invalid value id %d\n", i, v);
			continue;
		}
		print_value_head(f, g, v);
		fputs(" = input\n", f);
	}
	int blob = 0;
	for (int i = 0; i < g->values.n; i++) {
		const Value *v = &g->values.v[i];
		if (v->kind != VAL_CONST)
			continue;
		print_value_head(f, g, i);
		fprintf(f, " = const @%d", blob++);
		if (v->type >= 0 && v->type < g->types.n)
			print_const_comment(f, ir_type_get(g, v->type), v->data);
		fputc('\n', f);
	}
	for (int i = 0; i < g->nodes.n; i++)
		if (!g->nodes.v[i].dead)
			print_node(f, g, &g->nodes.v[i]);
	if (g->outputs.n) {
		fputs("  output", f);
		for (int i = 0; i < g->outputs.n; i++) {
			fputs(i ? ", " : " ", f);
			print_ref(f, g, g->outputs.v[i]);
		}
		fputc('\n', f);
	}
	fputs("}\n", f);
	blob = 0;
	for (int i = 0; i < g->values.n; i++) {
		const Value *v = &g->values.v[i];
		if (v->kind != VAL_CONST)
			continue;
		int64_t bytes = v->type >= 0 && v->type < g->types.n ? ir_type_bytes(ir_type_get(g, v->type)) : 0;
		print_data(f, blob++, v->data, bytes > 0 ? bytes : 0);
	}
}
