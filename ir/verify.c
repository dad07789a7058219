/* The verifier: ids in range, single definition, topological order,
 * arity from the registry, unique names, and each node's result type
 * identical to what its shape rule infers. */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

typedef struct V {
	Graph *g;
	Diag *d;
	char *defined;        /* per value: defined by an input, a const or an earlier node */
} V;

static const char *vname(const Graph *g, ValueId v)
{
	return g->values.v[v].name ? g->values.v[v].name : "?";
}

static bool type_ok(const Graph *g, TypeId t) { return t >= 0 && t < g->types.n; }

/* Values: kinds, types and back links; inputs and consts are defined. */
static void check_values(V *x)
{
	Graph *g = x->g;
	for (ValueId v = 0; v < g->values.n; v++) {
		const Value *val = &g->values.v[v];
		if (!val->name)
			diag_error(x->d, g->file, NULL, NULL, "value %d has no name", v);
		if (!type_ok(g, val->type))
			diag_error(x->d, g->file, NULL, NULL, "value '%s' has an invalid type id %d", vname(g, v), val->type);
		else if (ir_type_get(g, val->type)->block &&
			 (val->kind != VAL_NODE || val->is_output || !ir_block_ok(ir_type_get(g, val->type), ir_type_get(g, val->type)->block)))
			diag_error(x->d, g->file, NULL, NULL, "value '%s' is in channel blocks, which only computed values "
				   "that are not graph outputs, f32 [N, C, H, W] with C a multiple of the block, may be", vname(g, v));
		switch (val->kind) {
		case VAL_INPUT:
		case VAL_CONST:
			x->defined[v] = 1;
			if (val->def != -1)
				diag_error(x->d, g->file, NULL, NULL, "%s '%s' names node %d as its definition",
					   val->kind == VAL_INPUT ? "input" : "constant", vname(g, v), val->def);
			if (val->kind == VAL_CONST && !val->data)
				diag_error(x->d, g->file, NULL, NULL, "constant '%s' has no data", vname(g, v));
			break;
		case VAL_NODE:
			if (val->def < 0 || val->def >= g->nodes.n)
				diag_error(x->d, g->file, NULL, NULL, "value '%s' names an invalid node %d as its definition",
					   vname(g, v), val->def);
			else if (!g->nodes.v[val->def].dead && g->nodes.v[val->def].out != v)
				diag_error(x->d, g->file, NULL, NULL, "value '%s' names node %d as its definition, "
					   "which computes another value", vname(g, v), val->def);
			break;
		default:
			diag_error(x->d, g->file, NULL, NULL, "value %d has an invalid kind %d", v, (int)val->kind);
		}
	}
}

static void check_inputs(V *x)
{
	Graph *g = x->g;
	for (int i = 0; i < g->inputs.n; i++) {
		ValueId v = g->inputs.v[i];
		if (v < 0 || v >= g->values.n || g->values.v[v].kind != VAL_INPUT) {
			diag_error(x->d, g->file, NULL, NULL, "graph input %d is not an input value", i);
			continue;
		}
		for (int j = 0; j < i; j++)
			if (g->inputs.v[j] == v)
				diag_error(x->d, g->file, NULL, NULL, "'%s' is listed twice as a graph input", vname(g, v));
	}
}

static void check_node(V *x, NodeId id)
{
	Graph *g = x->g;
	const Node *n = &g->nodes.v[id];
	Diag *d = x->d;
	if (n->op < 0 || n->op >= OP_COUNT) {
		diag_error(d, g->file, n->name ? n->name : "", "?", "invalid op %d", (int)n->op);
		return;
	}
	bool ok = true;
	const OpInfo *info = &ir_ops[n->op];
	if (n->nin < info->min_in || n->nin > info->max_in || (n->nin > 0 && !n->in)) {
		if (info->min_in == info->max_in)
			diag_node(d, g, n, "has %d operands, expected %d", n->nin, info->min_in);
		else
			diag_node(d, g, n, "has %d operands, expected %d to %d", n->nin, info->min_in, info->max_in);
		ok = false;
	}
	for (int j = 0; ok && j < n->nin; j++) {
		ValueId v = n->in[j];
		if (v < 0 && j >= info->min_in)
			continue;  /* an omitted optional operand */
		if (v < 0 || v >= g->values.n) {
			diag_node(d, g, n, "operand %d is an invalid value id %d", j, v);
			ok = false;
		} else if (!x->defined[v]) {
			diag_node(d, g, n, "operand %d '%s' is used before it is defined", j, vname(g, v));
			ok = false;
		} else if (!type_ok(g, g->values.v[v].type)) {
			ok = false;  /* reported with the value */
		}
	}
	if (n->out < 0 || n->out >= g->values.n) {
		diag_node(d, g, n, "result is an invalid value id %d", n->out);
		return;
	}
	const Value *out = &g->values.v[n->out];
	if (out->kind != VAL_NODE || out->def != id)
		diag_node(d, g, n, "result '%s' does not name this node as its definition", vname(g, n->out));
	if (x->defined[n->out])
		diag_node(d, g, n, "result '%s' is defined twice", vname(g, n->out));
	x->defined[n->out] = 1;
	if (!ok || !type_ok(g, out->type) || n->nattr < 0 || (n->nattr > 0 && !n->attr))
		return;
	TypeId t = ir_infer_result(g, n->op, n->name, n->in, n->nin, n->attr, n->nattr, out->type, d);
	/* Shape rules infer row-major types; the layout is checked apart. */
	TypeId tl = t >= 0 ? ir_type_blocked(g, t, ir_type_get(g, out->type)->block) : t;
	const char *why = ir_layout_error(g, n);
	if (why)
		diag_node(d, g, n, "layout: %s", why);
	if (t >= 0 && tl != out->type) {
		char s1[160], s2[160];
		diag_node(d, g, n, "result type %s does not match inferred %s",
			  ir_type_str(ir_type_get(g, out->type), s1, sizeof s1), ir_type_str(ir_type_get(g, t), s2, sizeof s2));
	}
}

static void check_outputs(V *x)
{
	Graph *g = x->g;
	for (int i = 0; i < g->outputs.n; i++) {
		ValueId v = g->outputs.v[i];
		if (v < 0 || v >= g->values.n || !x->defined[v])
			diag_error(x->d, g->file, NULL, NULL, "graph output %d is not a defined value", i);
		else if (!g->values.v[v].is_output)
			diag_error(x->d, g->file, NULL, NULL, "graph output '%s' is not marked as an output", vname(g, v));
	}
}

typedef struct Named {
	const char *name;
	ValueId v;
} Named;

static int cmp_named(const void *a, const void *b)
{
	return strcmp(((const Named *)a)->name, ((const Named *)b)->name);
}

/* Live values have distinct names: the text form and the generated
 * header refer to values by name. */
static void check_names(V *x)
{
	Graph *g = x->g;
	Named *live = malloc((g->values.n + 1) * sizeof *live);
	if (!live) {
		diag_error(x->d, g->file, NULL, NULL, "out of memory");
		return;
	}
	int n = 0;
	for (ValueId v = 0; v < g->values.n; v++)
		if (x->defined[v] && g->values.v[v].name)
			live[n++] = (Named){g->values.v[v].name, v};
	qsort(live, n, sizeof *live, cmp_named);
	for (int i = 1; i < n; i++)
		if (!strcmp(live[i - 1].name, live[i].name) && (i < 2 || strcmp(live[i - 2].name, live[i].name)))
			diag_error(x->d, g->file, NULL, NULL, "two values are named '%s'", live[i].name);
	free(live);
}

bool ir_verify(Graph *g, Diag *d)
{
	int before = d->nerr;
	V x = {g, d, calloc(g->values.n + 1, 1)};
	if (!x.defined) {
		diag_error(d, g->file, NULL, NULL, "out of memory");
		return false;
	}
	check_values(&x);
	check_inputs(&x);
	for (NodeId i = 0; i < g->nodes.n; i++)
		if (!g->nodes.v[i].dead)
			check_node(&x, i);
	check_outputs(&x);
	check_names(&x);
	free(x.defined);
	return d->nerr == before;
}
