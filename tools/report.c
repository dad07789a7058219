/* kiln compile --report: what the compiler did to a model, as JSON. */
#include <stdio.h>
#include <string.h>

#include "report.h"

void report_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 32)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_shape(FILE *f, const Type *t)
{
	fputc('[', f);
	for (int i = 0; i < t->rank; i++)
		fprintf(f, "%s%lld", i ? ", " : "", (long long)t->dims[i]);
	fputc(']', f);
}

int64_t report_node_macs(const Graph *g, const Node *n)
{
	const Type *y = ir_value_type(g, n->out);
	switch (n->op) {
	case OP_CONV: {
		const Type *w = ir_value_type(g, n->in[1]);
		return ir_type_numel(y) * (ir_type_numel(w) / w->dims[0]);
	}
	case OP_GEMM: {
		const Type *a = ir_value_type(g, n->in[0]);
		return ir_type_numel(y) * (ir_attr_int(n, "trans_a", 0) ? a->dims[0] : a->dims[1]);
	}
	case OP_MATMUL: {
		const Type *a = ir_value_type(g, n->in[0]);
		return ir_type_numel(y) * a->dims[a->rank - 1];
	}
	case OP_CONV_TRANSPOSE: {
		/* every input element times its weights [C, M/G, k...] row */
		const Type *x = ir_value_type(g, n->in[0]), *w = ir_value_type(g, n->in[1]);
		return ir_type_numel(x) * (ir_type_numel(w) / w->dims[0]);
	}
	default:
		return 0;
	}
}

void report_write(FILE *f, Graph *g, int nodes_imported, const PassCtx *cx, const char *ptq)
{
	int64_t weights = 0, macs = 0;
	int compiled = 0;
	for (int i = 0; i < g->values.n; i++)
		if (g->values.v[i].kind == VAL_CONST)
			weights += ir_type_bytes(ir_value_type(g, i));
	for (int i = 0; i < g->nodes.n; i++)
		if (!g->nodes.v[i].dead) {
			compiled++;
			macs += report_node_macs(g, &g->nodes.v[i]);
		}
	fprintf(f, "{\n  \"model\": ");
	report_json_str(f, g->file ? g->file : "");
	fprintf(f, ",\n  \"nodes_imported\": %d,\n  \"nodes_compiled\": %d,\n", nodes_imported, compiled);
	fprintf(f, "  \"weights_bytes\": %lld,\n  \"workspace_bytes\": %lld,\n", (long long)weights, (long long)g->ws_size);
	fprintf(f, "  \"workspace_lower_bound_bytes\": %lld,\n  \"workspace_align\": %lld,\n", (long long)g->ws_lower_bound,
		(long long)g->ws_align);
	fprintf(f, "  \"macs\": %lld,\n", (long long)macs);
	/* Quantized models: what runs on integers, and what stayed in float and why. */
	/* (as the qdq pass left them, which `kiln check` names too; now when it did not run) */
	QdqFloat buf[256];
	const QdqFloat *fl = cx->qfloat ? cx->qfloat : buf;
	int nfl = cx->qfloat ? cx->nqfloat : pass_qdq_float_nodes(g, buf, 256);
	fprintf(f, "  \"quantization\": {\"integer_nodes\": %d, \"float_nodes\": [", pass_qdq_integer_nodes(g));
	for (int i = 0; i < nfl && (cx->qfloat || i < 256); i++) {
		fprintf(f, "%s\n    {\"node\": ", i ? "," : "");
		report_json_str(f, fl[i].node);
		fprintf(f, ", \"op\": ");
		report_json_str(f, fl[i].op);
		fprintf(f, ", \"why\": ");
		report_json_str(f, fl[i].why);
		fputc('}', f);
	}
	fprintf(f, "%s]},\n  \"passes\": [", nfl ? "\n  " : "");
	for (int i = 0; i < cx->nlog; i++) {
		const PassRecord *r = &cx->log[i];
		fprintf(f, "%s\n    {\"name\": \"%s\", \"changed\": %s, \"nodes_before\": %d, \"nodes_after\": %d, \"ms\": %.3f, \"note\": ",
			i ? "," : "", r->name, r->changed ? "true" : "false", r->nodes_before, r->nodes_after, r->ms);
		report_json_str(f, r->note);
		fputc('}', f);
	}
	fprintf(f, "\n  ],\n  \"nodes\": [");
	int k = 0;
	for (int i = 0; i < g->nodes.n; i++) {
		const Node *n = &g->nodes.v[i];
		if (n->dead)
			continue;
		const Value *out = &g->values.v[n->out];
		fprintf(f, "%s\n    {\"name\": ", k++ ? "," : "");
		report_json_str(f, n->name);
		fprintf(f, ", \"op\": \"%s\", \"source_op\": ", ir_ops[n->op].name);
		report_json_str(f, n->src_op);
		fprintf(f, ", \"fused\": [");
		const char *act = ir_attr_str(n, "act", NULL);
		bool residual = n->op == OP_CONV && n->nin > 3 && n->in[3] >= 0;
		if (residual)
			fprintf(f, "\"add\"");
		if (act)
			fprintf(f, "%s\"%s\"", residual ? ", " : "", act);
		IrEwExpr e;
		char why[160];
		if (n->op == OP_FUSED_EW && ir_ew_parse(ir_attr_str(n, "expr", ""), n->nin, &e, why, sizeof why))
			for (int t = 0, m = 0; t < e.n; t++)  /* the chain's ops in evaluation order */
				if (e.t[t].op != OP_COUNT)
					fprintf(f, "%s\"%s\"", m++ ? ", " : "", ir_ops[e.t[t].op].name);
		fprintf(f, "], \"inputs\": [");
		for (int j = 0; j < n->nin; j++) {
			if (j)
				fputs(", ", f);
			if (n->in[j] < 0)
				fputs("null", f);
			else
				json_shape(f, ir_value_type(g, n->in[j]));
		}
		fprintf(f, "], \"output\": ");
		json_shape(f, ir_value_type(g, n->out));
		if (ir_value_type(g, n->out)->block)
			fprintf(f, ", \"layout\": \"nchw%dc\"", ir_value_type(g, n->out)->block);
		fprintf(f, ", \"macs\": %lld, ", (long long)report_node_macs(g, n));
		int64_t off;
		ValueId home = ir_value_home(g, n->out, &off);
		if (out->is_output) {
			fprintf(f, "\"buffer\": \"output\"");
		} else if (home == n->out) {
			fprintf(f, "\"buffer\": \"workspace\", \"workspace_offset\": %lld", (long long)out->ws_offset);
		} else {
			/* A view, an in-place result or a concat operand written in
			 * its slice: it lives in another value's buffer. */
			const Value *h = &g->values.v[home];
			fprintf(f, "\"buffer\": \"%s\", \"shares\": ", ir_ops[n->op].flags & OPF_VIEW ? "view" : "shared");
			report_json_str(f, h->name);
			if (h->ws_offset >= 0)
				fprintf(f, ", \"workspace_offset\": %lld", (long long)(h->ws_offset + off));
		}
		fprintf(f, ", \"bytes\": %lld}", (long long)ir_type_bytes(ir_value_type(g, n->out)));
	}
	fprintf(f, "\n  ]");
	if (ptq)
		fprintf(f, ",\n  \"ptq\": %s", ptq);
	fprintf(f, "\n}\n");
}
