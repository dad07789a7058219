/* The verifier: single definition, topological order, arity, and each
 * node's result type equal to what its shape rule infers. */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

bool ir_verify(Graph *g, Diag *d)
{
	int before = d->nerr;
	int nv = g->values.n;
	char *defined = calloc(nv + 1, 1);
	if (!defined) {
		diag_error(d, g->file, NULL, NULL, "out of memory");
		return false;
	}
	for (int v = 0; v < nv; v++) {
		const Value *val = &g->values.v[v];
		if (val->type < 0 || val->type >= g->types.n)
			diag_error(d, g->file, val->name, NULL, "value has an invalid type id %d", val->type);
		if (val->kind != VAL_NODE)
			defined[v] = 1;
	}
	for (int i = 0; i < g->inputs.n; i++)
		if (g->inputs.v[i] < 0 || g->inputs.v[i] >= nv || g->values.v[g->inputs.v[i]].kind != VAL_INPUT)
			diag_error(d, g->file, NULL, NULL, "graph input %d is not an input value", i);
	for (int i = 0; i < g->nodes.n; i++) {
		const Node *n = &g->nodes.v[i];
		if (n->dead)
			continue;
		if (n->op < 0 || n->op >= OP_COUNT) {
			diag_node(d, g, n, "invalid op %d", (int)n->op);
			continue;
		}
		bool ok = true;
		for (int j = 0; j < n->nin; j++) {
			int v = n->in[j];
			if (v < 0 && j >= ir_ops[n->op].min_in)
				continue;
			if (v < 0 || v >= nv) {
				diag_node(d, g, n, "operand %d is an invalid value id %d", j, v);
				ok = false;
			} else if (!defined[v]) {
				diag_node(d, g, n, "operand %d '%s' is used before it is defined", j, g->values.v[v].name);
				ok = false;
			}
		}
		if (n->out < 0 || n->out >= nv) {
			diag_node(d, g, n, "result is an invalid value id %d", n->out);
			continue;
		}
		const Value *out = &g->values.v[n->out];
		if (out->kind != VAL_NODE || out->def != i)
			diag_node(d, g, n, "result '%s' does not name this node as its definition", out->name);
		if (defined[n->out])
			diag_node(d, g, n, "result '%s' is defined twice", out->name);
		defined[n->out] = 1;
		if (!ok)
			continue;
		TypeId t = ir_infer_type(g, n->op, n->name, n->in, n->nin, n->attr, n->nattr, d);
		if (t >= 0 && t != out->type) {
			char s1[160], s2[160];
			diag_node(d, g, n, "result type %s does not match the inferred %s",
				  ir_type_str(ir_type_get(g, out->type), s1, sizeof s1), ir_type_str(ir_type_get(g, t), s2, sizeof s2));
		}
	}
	for (int i = 0; i < g->outputs.n; i++) {
		int v = g->outputs.v[i];
		if (v < 0 || v >= nv || !defined[v])
			diag_error(d, g->file, NULL, NULL, "graph output %d is not a defined value", i);
	}
	/* Names are unique: the text form and the header depend on it. */
	for (int i = 0; i < g->inputs.n; i++)
		for (int j = i + 1; j < g->inputs.n; j++)
			if (!strcmp(g->values.v[g->inputs.v[i]].name, g->values.v[g->inputs.v[j]].name))
				diag_error(d, g->file, NULL, NULL, "two graph inputs are named '%s'",
					   g->values.v[g->inputs.v[i]].name);
	free(defined);
	return d->nerr == before;
}
