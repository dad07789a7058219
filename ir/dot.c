/* Graphviz view of a graph (kiln dump --emit dot): one box per node, its
 * fused epilogue listed inside the box, weights folded into their node. */
#include "ir.h"

#include <string.h>

static void dot_str(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
}

static void dot_shape(FILE *f, const Type *t)
{
	fprintf(f, "%s[", ir_dtype_name(t->dt));
	for (int i = 0; i < t->rank; i++)
		fprintf(f, "%s%lld", i ? "," : "", (long long)t->dims[i]);
	fputc(']', f);
	if (t->block)
		fprintf(f, " nchw%dc", t->block);
}

void ir_print_dot(const Graph *g, FILE *f)
{
	fputs("digraph \"", f);
	dot_str(f, g->name);
	fputs("\" {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n", f);
	for (int i = 0; i < g->inputs.n; i++) {
		const Value *v = &g->values.v[g->inputs.v[i]];
		fprintf(f, "  v%d [shape=ellipse, label=\"", g->inputs.v[i]);
		dot_str(f, v->name);
		fputs("\\n", f);
		dot_shape(f, ir_type_get(g, v->type));
		fputs("\"];\n", f);
	}
	for (int i = 0; i < g->nodes.n; i++) {
		const Node *n = &g->nodes.v[i];
		if (n->dead)
			continue;
		bool fused = ir_attr(n, "act") || (n->op == OP_CONV && n->nin > 3 && n->in[3] >= 0) || n->op == OP_FUSED_EW;
		fprintf(f, "  n%d [shape=box, style=\"rounded%s\", label=\"%s", i, fused ? ",filled\", fillcolor=\"#e8f0ff" : "",
			ir_ops[n->op].name);
		if (n->op == OP_CONV && n->nin > 3 && n->in[3] >= 0)
			fputs(" + add", f);
		if (ir_attr(n, "act"))
			fprintf(f, " + %s", ir_attr_str(n, "act", ""));
		if (n->op == OP_FUSED_EW) {
			fputs("\\n", f);
			dot_str(f, ir_attr_str(n, "expr", ""));
		}
		fputs("\\n", f);
		dot_str(f, n->name);
		fputs("\\n", f);
		dot_shape(f, ir_value_type(g, n->out));
		fputs("\"];\n", f);
		for (int j = 0; j < n->nin; j++) {
			ValueId v = n->in[j];
			if (v < 0 || g->values.v[v].kind == VAL_CONST)
				continue;
			if (g->values.v[v].kind == VAL_INPUT)
				fprintf(f, "  v%d -> n%d;\n", v, i);
			else
				fprintf(f, "  n%d -> n%d;\n", g->values.v[v].def, i);
		}
	}
	for (int i = 0; i < g->outputs.n; i++) {
		ValueId v = g->outputs.v[i];
		const Value *val = &g->values.v[v];
		fprintf(f, "  o%d [shape=ellipse, style=bold, label=\"", i);
		dot_str(f, val->name);
		fputs("\"];\n", f);
		if (val->kind == VAL_NODE)
			fprintf(f, "  n%d -> o%d;\n", val->def, i);
		else if (val->kind == VAL_INPUT)
			fprintf(f, "  v%d -> o%d;\n", v, i);
	}
	fputs("}\n", f);
}
