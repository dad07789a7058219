/* The IR printer: the .kir text form (docs/ir.md).  Deterministic, and
 * ir_parse reads back exactly what it prints. */
#include "ir.h"

#include <math.h>
#include <string.h>

static bool bare(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '.'))
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

static void print_name(FILE *f, const char *s)
{
	fputc('%', f);
	if (bare(s))
		fputs(s, f);
	else
		print_str(f, s);
}

static void ir_print_float(FILE *f, double v)
{
	if (isnan(v))
		fputs("nan", f);
	else if (isinf(v))
		fputs(v < 0 ? "-inf" : "inf", f);
	else {
		/* Always looks like a float, so the parser keeps the kind. */
		char b[40];
		snprintf(b, sizeof b, "%.9g", v);
		fputs(b, f);
		if (!strpbrk(b, ".e"))
			fputs(".0", f);
	}
}

static void print_type(FILE *f, const Type *t)
{
	fprintf(f, "%s[", ir_dtype_name(t->dt));
	for (int i = 0; i < t->rank; i++)
		fprintf(f, "%s%lld", i ? "," : "", (long long)t->dims[i]);
	fputc(']', f);
	const Quant *q = t->q;
	if (!q)
		return;
	if (q->axis < 0) {
		fputs("{q: ", f);
		ir_print_float(f, q->scale[0]);
		fprintf(f, ", %d}", q->zero[0]);
		return;
	}
	fprintf(f, "{q axis=%d: [", q->axis);
	for (int i = 0; i < q->n; i++) {
		if (i)
			fputs(", ", f);
		ir_print_float(f, q->scale[i]);
	}
	fputs("], [", f);
	for (int i = 0; i < q->n; i++)
		fprintf(f, "%s%d", i ? ", " : "", q->zero[i]);
	fputs("]}", f);
}

static void print_attr(FILE *f, const Attr *a)
{
	fprintf(f, "%s=", a->name);
	switch (a->kind) {
	case ATTR_INT: fprintf(f, "%lld", (long long)a->i); break;
	case ATTR_FLOAT: ir_print_float(f, a->f); break;
	case ATTR_STRING: print_str(f, a->s); break;
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
			ir_print_float(f, a->floats[i]);
		}
		fputc(']', f);
		break;
	}
}

/* A few leading values of a small constant, as a comment for readers. */
static void print_values(FILE *f, const Type *t, const void *data)
{
	int64_t n = ir_type_numel(t);
	if (n > 8)
		return;
	fputs("  # [", f);
	for (int64_t i = 0; i < n; i++) {
		if (i)
			fputs(", ", f);
		switch (t->dt) {
		case DT_F32: { float v; memcpy(&v, (const char *)data + 4 * i, 4); ir_print_float(f, v); break; }
		case DT_F64: { double v; memcpy(&v, (const char *)data + 8 * i, 8); ir_print_float(f, v); break; }
		case DT_I64: { int64_t v; memcpy(&v, (const char *)data + 8 * i, 8); fprintf(f, "%lld", (long long)v); break; }
		case DT_I32: { int32_t v; memcpy(&v, (const char *)data + 4 * i, 4); fprintf(f, "%d", v); break; }
		case DT_I8: fprintf(f, "%d", ((const int8_t *)data)[i]); break;
		case DT_U8: case DT_BOOL: fprintf(f, "%u", ((const uint8_t *)data)[i]); break;
		default: fputs("?", f);
		}
	}
	fputc(']', f);
}

void ir_print(const Graph *g, FILE *f)
{
	fputs("kiln 1\ngraph @", f);
	if (bare(g->name))
		fputs(g->name, f);
	else
		print_str(f, g->name);
	fputs(" {\n", f);
	for (int i = 0; i < g->inputs.n; i++) {
		const Value *v = &g->values.v[g->inputs.v[i]];
		fputs("  ", f);
		print_name(f, v->name);
		fputs(" : ", f);
		print_type(f, ir_type_get(g, v->type));
		fputs(" = input\n", f);
	}
	int blob = 0;
	for (int i = 0; i < g->values.n; i++) {
		const Value *v = &g->values.v[i];
		if (v->kind != VAL_CONST)
			continue;
		fputs("  ", f);
		print_name(f, v->name);
		fputs(" : ", f);
		print_type(f, ir_type_get(g, v->type));
		fprintf(f, " = const @%d", blob++);
		print_values(f, ir_type_get(g, v->type), v->data);
		fputc('\n', f);
	}
	for (int i = 0; i < g->nodes.n; i++) {
		const Node *n = &g->nodes.v[i];
		if (n->dead)
			continue;
		const Value *out = &g->values.v[n->out];
		fputs("  ", f);
		print_name(f, out->name);
		fputs(" : ", f);
		print_type(f, ir_type_get(g, out->type));
		fprintf(f, " = %s(", ir_ops[n->op].name);
		for (int j = 0; j < n->nin; j++) {
			if (j)
				fputs(", ", f);
			if (n->in[j] < 0)
				fputc('_', f);
			else
				print_name(f, g->values.v[n->in[j]].name);
		}
		fputc(')', f);
		if (n->nattr) {
			fputs(" {", f);
			for (int j = 0; j < n->nattr; j++) {
				if (j)
					fputs(", ", f);
				print_attr(f, &n->attr[j]);
			}
			fputc('}', f);
		}
		fputs(" loc(", f);
		print_str(f, n->name);
		fputs(", ", f);
		print_str(f, n->src_op);
		fputs(")\n", f);
	}
	fputs("  output", f);
	for (int i = 0; i < g->outputs.n; i++) {
		fputs(i ? ", " : " ", f);
		print_name(f, g->values.v[g->outputs.v[i]].name);
	}
	fputs("\n}\n", f);
	blob = 0;
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < g->values.n; i++) {
		const Value *v = &g->values.v[i];
		if (v->kind != VAL_CONST)
			continue;
		fprintf(f, "data @%d = x\"", blob++);
		int64_t bytes = ir_type_bytes(ir_type_get(g, v->type));
		const unsigned char *p = v->data;
		for (int64_t k = 0; k < bytes; k++) {
			fputc(hex[p[k] >> 4], f);
			fputc(hex[p[k] & 15], f);
		}
		fputs("\"\n", f);
	}
}
