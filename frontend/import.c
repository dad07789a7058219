/* The importer shared by the ONNX and JSON readers: checks every node
 * against the op table (the rows each op family imp_*.c declares), orders
 * the nodes, and imports them one by one into a verified graph.
 *
 * The work is in two passes.  The static checks (fe_check_node) need no
 * shapes: op and opset, attributes and their kinds, operand counts,
 * operands that must be constants; kiln check runs them over every node.
 * Then each node's importer (emit.c has the helpers they are written in)
 * maps it to canonical IR: defaults resolved, constant operands read,
 * compositions for ops the IR does not have. */
#include "importer.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- the op table: one list of the op families --------------------------- */

/* Rows of one op stay in one family and in order (the last row whose opset
 * range holds the model's opset wins), so the families' order is free. */
static const OpSpec *const families[] = {
	imp_ew_ops, imp_nn_ops, imp_norm_ops, imp_reduce_ops, imp_shape_ops, imp_data_ops, imp_resize_ops,
	imp_quant_ops, imp_qop_ops, imp_rnn_ops, imp_signal_ops, imp_loss_ops, imp_control_ops, imp_ml_ops,
};

static bool default_domain(const char *d) { return !*d || !strcmp(d, "ai.onnx"); }

static bool same_domain(const OpSpec *a, const OpSpec *b)
{
	return a->domain == b->domain || (a->domain && b->domain && !strcmp(a->domain, b->domain));
}

bool fe_check_op_tables(char *why, size_t n)
{
	size_t nf = sizeof families / sizeof *families;
	for (size_t f = 0; f < nf; f++)
		for (const OpSpec *s = families[f]; s->op; s++) {
			if (s->lo > s->hi)
				return snprintf(why, n, "%s: opsets %d to %d are empty", s->op, s->lo, s->hi), false;
			for (size_t g = 0; g < nf; g++)
				for (const OpSpec *t = families[g]; t->op; t++) {
					if (t == s || strcmp(t->op, s->op) || !same_domain(s, t))
						continue;
					if (g != f)
						return snprintf(why, n, "%s has rows in two op families", s->op), false;
					if (t > s && !s->domain && t->lo <= s->hi && s->lo <= t->hi)
						return snprintf(why, n, "%s: rows for opsets %d-%d and %d-%d overlap", s->op,
								s->lo, s->hi, t->lo, t->hi), false;
				}
		}
	/* ops.def's ONNX column promises a one-to-one import. */
	for (int op = 0; op < OP_COUNT; op++) {
		const char *onnx = ir_ops[op].onnx;
		bool found = !*onnx;
		for (size_t f = 0; f < nf && !found; f++)
			for (const OpSpec *s = families[f]; s->op && !found; s++)
				found = !s->domain && !strcmp(s->op, onnx);
		if (!found)
			return snprintf(why, n, "ir/ops.def maps %s to '%s', which no family imports", onnx,
					ir_ops[op].name), false;
	}
	return true;
}

/* The entry for op at opset; *known tells whether the op exists at all,
 * [*lo, *hi] the opsets it is supported at (for messages). */
static const OpSpec *find_spec(const SrcNode *n, int opset, bool *known, int *lo, int *hi)
{
	*known = false;
	*lo = 1000;
	*hi = 0;
	const OpSpec *found = NULL;
	for (size_t f = 0; f < sizeof families / sizeof *families; f++) {
		for (const OpSpec *s = families[f]; s->op; s++) {
			if (strcmp(s->op, n->op) != 0 ||
			    (s->domain ? strcmp(s->domain, n->domain) : !default_domain(n->domain)))
				continue;
			if (s->domain) {  /* the ML domain's opsets are its own; one entry covers them */
				*known = true;
				return s;
			}
			*known = true;
			*lo = s->lo < *lo ? s->lo : *lo;
			*hi = s->hi > *hi ? s->hi : *hi;
			if (opset >= s->lo && opset <= s->hi)
				found = s;
		}
	}
	return found;
}

/* In JSON a constant operand may be given as an attribute instead (Reshape
 * "shape", Pad "pads", ...); then the op needs only its data operand. */
static int min_inputs(const Ctx *c, const OpSpec *s, const SrcNode *n)
{
	if (c->m->lenient)
		for (int i = 0; i < IMP_MAX_ATTRS && s->attrs[i].name; i++)
			if (s->attrs[i].lenient && sa_get(n, s->attrs[i].name))
				return 1;
	return s->min_in;
}

/* ---- static checks: everything knowable without shapes ------------------- */

static const char *kind_name(SrcAttrKind k)
{
	static const char *names[] = {"an int", "a float", "a list of ints", "a list of floats",
				      "a string", "a tensor", "a list of strings", "a graph", "something else"};
	return names[k];
}

static bool check_attr(Ctx *c, const OpSpec *s, SrcAttr *a)
{
	const AttrSpec *as = NULL;
	for (int i = 0; i < IMP_MAX_ATTRS && s->attrs[i].name; i++)
		if (strcmp(s->attrs[i].name, a->name) == 0)
			as = &s->attrs[i];
	bool ok = as && (!as->lenient || c->m->lenient) &&
		  (c->m->lenient || ((!as->lo || c->opset >= as->lo) && (!as->hi || c->opset <= as->hi)));
	if (!ok) {
		if (strcmp(c->sn->op, "Constant") == 0)
			return fe_fail(c, "unsupported attribute '%s' (kiln supports value, value_float(s), value_int(s))", a->name);
		return fe_fail(c, "unsupported attribute '%s' at opset %d", a->name, c->opset);
	}
	if (a->kind == as->kind)
		return true;
	if (as->kind == SA_FLOAT && a->kind == SA_INT) {
		a->kind = SA_FLOAT;
		a->f = (double)(float)a->i;
		return true;
	}
	if (as->kind == SA_FLOATS && a->kind == SA_INTS) {
		double *f = ir_arena_alloc(c->m->arena, ((size_t)a->n + 1) * sizeof *f);
		if (!f)
			return fe_oom(c);
		for (int i = 0; i < a->n; i++)
			f[i] = (double)(float)a->ints[i];
		a->kind = SA_FLOATS;
		a->floats = f;
		return true;
	}
	if (as->kind == SA_INTS && a->kind == SA_FLOATS && a->n == 0) {
		a->kind = SA_INTS;
		return true;
	}
	if (a->kind == SA_OTHER)
		return fe_fail(c, "attribute '%s' must be %s, got %s", a->name, kind_name(as->kind), a->other);
	return fe_fail(c, "attribute '%s' must be %s, got %s", a->name, kind_name(as->kind), kind_name(a->kind));
}

/* Attribute values that are never supported, whatever the shapes. */
static bool check_values(Ctx *c, const SrcNode *n)
{
	bool ok = true;
	const char *ap = sa_str(n, "auto_pad", NULL);
	if (ap && strcmp(ap, "NOTSET") && strcmp(ap, "VALID") && strcmp(ap, "SAME_UPPER") && strcmp(ap, "SAME_LOWER"))
		ok = fe_fail(c, "unsupported auto_pad '%s'", ap);
	const char *mode = sa_str(n, "mode", NULL);
	if (mode && strcmp(n->op, "Pad") == 0 && strcmp(mode, "constant") && strcmp(mode, "edge") &&
	    strcmp(mode, "reflect") && strcmp(mode, "wrap"))
		ok = fe_fail(c, "unsupported pad mode '%s' (constant, edge, reflect or wrap)", mode);
	if (sa_int(n, "spatial", 1) != 1)
		ok = fe_fail(c, "spatial=0 is not supported");

	if (strcmp(n->op, "Constant") == 0) {
		if (n->nattr != 1)
			ok = fe_fail(c, "needs exactly one value attribute, got %d", n->nattr);
		else if (n->attr[0].kind == SA_TENSOR && !n->attr[0].t)
			ok = fe_fail(c, "attribute 'value' has no tensor");
	}
	return ok;
}

static bool is_used(Ctx *c, const char *name) { return *name && fe_nm_has(&c->used, name); }

bool fe_check_node(Ctx *c, SrcNode *n)
{
	c->sn = n;
	bool known;
	int lo, hi;
	const OpSpec *s = find_spec(n, c->opset, &known, &lo, &hi);
	if (!known && !default_domain(n->domain))
		return fe_fail(c, "unsupported op (domain '%s')", n->domain);
	if (!known)
		return fe_fail(c, "unsupported op");
	if (!s)
		return fe_fail(c, "unsupported op at opset %d (kiln supports %s at opsets %d to %d)", c->opset, n->op, lo, hi);
	bool ok = true;
	for (int i = 0; i < n->nattr; i++) {
		for (int j = 0; j < i; j++)
			if (strcmp(n->attr[i].name, n->attr[j].name) == 0) {
				ok = fe_fail(c, "attribute '%s' appears twice", n->attr[i].name);
				break;
			}
		if (ok && !check_attr(c, s, &n->attr[i]))
			ok = false;
	}
	if (!ok)
		return false;
	int nin = n->nin;
	while (nin > 0 && !*n->in[nin - 1])
		nin--;
	int min_in = min_inputs(c, s, n);
	if (nin < min_in)
		return fe_fail(c, "needs at least %d inputs, got %d", min_in, nin);
	if (nin > s->max_in)
		return fe_fail(c, "takes at most %d inputs, got %d", s->max_in, nin);
	for (int i = 0; i < min_in; i++)
		if (!*n->in[i])
			return fe_fail(c, "input %d is required but empty", i);
	for (int i = 0; i < nin; i++)
		if ((s->const_in >> i & 1) && *n->in[i] && !fe_nm_has(&c->consts, n->in[i]))
			ok = fe_fail(c, "input %d ('%s') must be a constant (an initializer or a Constant output)", i, n->in[i]);
	bool any = false;
	for (int i = 0; i < n->nout; i++)
		any |= *n->out[i] && (i == 0 || s->multi_out);
	if (!any)
		return fe_fail(c, "has no output");
	for (int i = 1; i < n->nout; i++) {
		if (i >= s->max_out && *n->out[i])
			return fe_fail(c, "has %d outputs; %s has at most %d", n->nout, n->op, s->max_out);
		if (is_used(c, n->out[i]) && !s->multi_out)
			ok = fe_fail(c, "output %d ('%s') is used, but kiln only supports the first output of %s", i,
				  n->out[i], n->op);
	}
	return check_values(c, n) && ok;
}

/* ---- graph-level work ---------------------------------------------------- */

static const ShapeBinding *find_binding(const ImportOptions *o, const char *name, bool *used)
{
	for (int i = 0; o && i < o->nshapes; i++)
		if (o->shapes[i].name && strcmp(o->shapes[i].name, name) == 0) {
			used[i] = true;
			return &o->shapes[i];
		}
	return NULL;
}

/* An input bound to a constant (--const): checked against its declared
 * type, then added as a constant of the same name. */
static bool add_bound_input(Ctx *c, const SrcInput *in, const ConstBinding *k)
{
	if (k->dt != in->dt)
		return fe_fail(c, "--const %s= holds %s, the input is %s", in->name, ir_dtype_name(k->dt), ir_dtype_name(in->dt));
	if (in->rank >= 0 && k->rank != in->rank)
		return fe_fail(c, "--const %s= has rank %d, the input has rank %d", in->name, k->rank, in->rank);
	for (int i = 0; in->rank >= 0 && i < k->rank; i++)
		if (in->dims[i] >= 0 && in->dims[i] != k->dims[i])
			return fe_fail(c, "--const %s= has dimension %d of %lld, the input fixes it to %lld", in->name, i,
				    (long long)k->dims[i], (long long)in->dims[i]);
	int64_t numel = ir_shape_numel(k->rank, k->dims);
	if (numel < 0 || numel > INT64_MAX / 16)
		return fe_fail(c, "--const %s= is too large", in->name);
	TypeId t = ir_type(c->g, k->dt, k->rank, k->dims, NULL);
	ValueId v = t >= 0 ? ir_add_const(c->g, in->name, t, k->data) : -1;
	if (v < 0 || !fe_nm_put(&c->vals, in->name, v))
		return fe_oom(c);
	return true;
}

static bool add_input(Ctx *c, const ImportOptions *o, const SrcInput *in, bool *used)
{
	if (in->dt == DT_UNDEF)
		return fe_fail(c, "input '%s' has unsupported dtype (ONNX type %d)", in->name, in->elem);
	for (int i = 0; o && i < o->nconsts; i++)
		if (!strcmp(o->consts[i].name, in->name))
			return add_bound_input(c, in, &o->consts[i]);
	int64_t dims[IR_MAX_RANK];
	int rank = in->rank;
	const ShapeBinding *b = find_binding(o, in->name, used);
	if (b) {
		if (rank >= 0 && b->rank != rank)
			return fe_fail(c, "--shape %s= gives rank %d, but the model declares rank %d", in->name, b->rank, rank);
		rank = b->rank;
		for (int i = 0; i < rank; i++) {
			if (b->dims[i] < 0)
				return fe_fail(c, "--shape %s= has a negative dimension", in->name);
			if (in->rank >= 0 && in->dims[i] >= 0 && in->dims[i] != b->dims[i])
				return fe_fail(c, "--shape %s= gives dimension %d as %lld, but the model fixes it to %lld",
					    in->name, i, (long long)b->dims[i], (long long)in->dims[i]);
			dims[i] = b->dims[i];
		}
	} else {
		if (rank < 0)
			return fe_fail(c, "input '%s' has no shape; bind it with --shape %s=...", in->name, in->name);
		for (int i = 0; i < rank; i++) {
			dims[i] = in->dims[i];
			if (dims[i] >= 0)
				continue;
			const ShapeBinding *p = in->param[i] ? find_binding(o, in->param[i], used) : NULL;
			if (!p) {
				if (in->param[i])
					return fe_fail(c, "input '%s' has symbolic dimension '%s'; bind it with --shape %s=... "
						    "(or --shape %s=VALUE)", in->name, in->param[i], in->name, in->param[i]);
				return fe_fail(c, "input '%s' has unknown dimension %d; bind it with --shape %s=...",
					    in->name, i, in->name);
			}
			if (p->rank != 1 || p->dims[0] < 0)
				return fe_fail(c, "--shape %s= must give one non-negative value for a symbolic dimension",
					    in->param[i]);
			dims[i] = p->dims[0];
		}
	}
	int64_t numel = ir_shape_numel(rank, dims);
	if (numel < 0 || numel > INT64_MAX / 16) {
		char buf[300];
		fe_fmt_dims(buf, sizeof buf, rank, dims);
		return fe_fail(c, "input '%s' shape %s is too large (element count overflows)", in->name, buf);
	}
	TypeId t = ir_type(c->g, in->dt, rank, dims, NULL);
	if (t < 0)
		return fe_oom(c);
	ValueId v = ir_add_input(c->g, in->name, t);
	if (v < 0 || !fe_nm_put(&c->vals, in->name, v))
		return fe_oom(c);
	return true;
}

bool fe_add_const(Ctx *c, const SrcTensor *t)
{
	if (t->dt == DT_UNDEF)
		return true;  /* the reader already reported it */
	if (fe_nm_has(&c->vals, t->name))
		return fe_fail(c, "initializer '%s' is defined twice", t->name);
	int64_t numel = ir_shape_numel(t->rank, t->dims);
	if (numel < 0 || numel > INT64_MAX / 16)
		return fe_fail(c, "initializer '%s' is too large (element count overflows)", t->name);
	TypeId ty = ir_type(c->g, t->dt, t->rank, t->dims, NULL);
	if (ty < 0)
		return fe_oom(c);
	ValueId v = ir_add_const(c->g, t->name, ty, t->data);
	if (v < 0 || !fe_nm_put(&c->vals, t->name, v))
		return fe_oom(c);
	return true;
}

/* A node on a cycle, starting from a node that never became ready. */
static int on_cycle(Ctx *c, const int *indeg, int start)
{
	int cur = start;
	for (int step = 0; step < c->m->nodes.n; step++) {
		const SrcNode *n = &c->m->nodes.v[cur];
		int next = -1;
		for (int i = 0; i < n->nin && next < 0; i++) {
			int p = *n->in[i] ? fe_nm_get(&c->producer, n->in[i], -1) : -1;
			if (p >= 0 && indeg[p] > 0)
				next = p;
		}
		if (next < 0)
			break;
		cur = next;
	}
	return cur;
}

/* Execution order of the source nodes: the file order when it is already
 * topological, else Kahn's algorithm.  Checks definitions and cycles. */
static int *order_nodes(Ctx *c)
{
	int nn = c->m->nodes.n;
	Arena *a = c->m->arena;
	int *order = ir_arena_alloc(a, ((size_t)nn + 1) * sizeof *order);
	if (!order)
		return fe_oom(c), NULL;
	bool ok = true, sorted = true;
	for (int i = 0; i < nn; i++) {
		SrcNode *n = &c->m->nodes.v[i];
		c->sn = n;
		for (int j = 0; j < n->nout; j++) {
			const char *o = n->out[j];
			if (!*o)
				continue;
			if (fe_nm_has(&c->vals, o) || fe_nm_has(&c->producer, o)) {
				ok = fe_fail(c, "value '%s' is defined more than once", o);
				continue;
			}
			if (!fe_nm_put(&c->producer, o, i) || !fe_nm_put(&c->names, o, 1))
				return fe_oom(c), NULL;
		}
	}
	for (int i = 0; i < nn && ok; i++) {
		SrcNode *n = &c->m->nodes.v[i];
		c->sn = n;
		for (int j = 0; j < n->nin; j++) {
			const char *s = n->in[j];
			if (!*s || fe_nm_has(&c->vals, s))
				continue;
			int p = fe_nm_get(&c->producer, s, -1);
			if (p < 0)
				ok = fe_fail(c, "input '%s' is not produced by any node, graph input or initializer", s);
			else if (p >= i)
				sorted = false;
		}
	}
	c->sn = NULL;
	if (!ok)
		return NULL;
	for (int i = 0; i < nn; i++)
		order[i] = i;
	if (sorted)
		return order;
	int *indeg = ir_arena_alloc(a, ((size_t)nn + 1) * sizeof *indeg);
	int *start = ir_arena_alloc(a, ((size_t)nn + 2) * sizeof *start);
	if (!indeg || !start)
		return fe_oom(c), NULL;
	/* Edges producer -> consumer, one per operand occurrence. */
	int nedge = 0;
	for (int i = 0; i < nn; i++) {
		SrcNode *n = &c->m->nodes.v[i];
		for (int j = 0; j < n->nin; j++) {
			int p = *n->in[j] ? fe_nm_get(&c->producer, n->in[j], -1) : -1;
			if (p >= 0) {
				indeg[i]++;
				start[p + 1]++;
				nedge++;
			}
		}
	}
	for (int i = 0; i < nn; i++)
		start[i + 1] += start[i];
	int *succ = ir_arena_alloc(a, ((size_t)nedge + 1) * sizeof *succ);
	int *fill = ir_arena_alloc(a, ((size_t)nn + 1) * sizeof *fill);
	if (!succ || !fill)
		return fe_oom(c), NULL;
	for (int i = 0; i < nn; i++) {
		SrcNode *n = &c->m->nodes.v[i];
		for (int j = 0; j < n->nin; j++) {
			int p = *n->in[j] ? fe_nm_get(&c->producer, n->in[j], -1) : -1;
			if (p >= 0)
				succ[start[p] + fill[p]++] = i;
		}
	}
	int head = 0, tail = 0;
	for (int i = 0; i < nn; i++)
		if (!indeg[i])
			order[tail++] = i;
	while (head < tail) {
		int p = order[head++];
		for (int e = start[p]; e < start[p + 1]; e++)
			if (--indeg[succ[e]] == 0)
				order[tail++] = succ[e];
	}
	if (tail < nn) {
		for (int i = 0; i < nn; i++)
			if (indeg[i] > 0) {
				c->sn = &c->m->nodes.v[on_cycle(c, indeg, i)];
				fe_fail(c, "the graph has a cycle through this node");
				c->sn = NULL;
				return NULL;
			}
	}
	return order;
}

/* Import one checked node.  sub: a node of an If branch, whose operands
 * may be missing if the model is malformed. */
bool fe_import_node(Ctx *c, const SrcNode *n, bool sub)
{
	ValueId in[64 + 1];
	c->sn = n;
	bool known;
	int lo, hi;
	const OpSpec *s = find_spec(n, c->opset, &known, &lo, &hi);
	int nin = n->nin;
	while (nin > 0 && !*n->in[nin - 1])
		nin--;
	if (!s || nin > 64)
		die("node passed the static checks but has no spec");
	for (int i = 0; i < nin; i++) {
		in[i] = *n->in[i] ? fe_nm_get(&c->vals, n->in[i], -1) : -1;
		if (*n->in[i] && in[i] < 0) {
			if (!sub)
				die("operand '%s' has no value after ordering", n->in[i]);
			return fe_fail(c, "operand '%s' is not defined before this node", n->in[i]);
		}
	}
	c->src_op = ir_arena_strdup(c->g->arena, n->op);
	if (!c->src_op)
		return fe_oom(c);
	c->spec = s;
	if (s->float_in && nin > 0 && in[0] >= 0 && !fe_need_float(c, in[0], "the input"))
		return false;
	return s->fn(c, in, nin);
}

/* Every value an If branch reads from the enclosing graph is a constant
 * (then the If's outputs are too, once its condition is). */
static bool branch_reads_consts(Ctx *c, const SrcGraph *g)
{
	for (int i = 0; i < g->nodes.n; i++) {
		const SrcNode *n = &g->nodes.v[i];
		for (int j = 0; j < n->nin; j++) {
			const char *name = n->in[j];
			if (!*name || fe_nm_has(&c->consts, name))
				continue;
			bool inner = false;
			for (int k = 0; k < g->consts.n && !inner; k++)
				inner = !strcmp(g->consts.v[k].name, name);
			for (int k = 0; k < i && !inner; k++)
				for (int o = 0; o < g->nodes.v[k].nout && !inner; o++)
					inner = !strcmp(g->nodes.v[k].out[o], name);
			if (!inner)
				return false;
		}
	}
	return true;
}

static bool if_is_const(Ctx *c, const SrcNode *n)
{
	if (n->nin < 1 || !*n->in[0] || !fe_nm_has(&c->consts, n->in[0]))
		return false;
	for (int i = 0; i < n->nattr; i++)
		if (n->attr[i].kind == SA_GRAPH && !branch_reads_consts(c, n->attr[i].graph))
			return false;
	return true;
}

/* Values computed from constants are constants too (the importer folds
 * them when it needs their numbers), and so are Shape and Size of anything,
 * as every shape is static.  A fixed point: nodes need not be sorted. */
bool fe_derive_consts_in(Ctx *c, const SrcNode *nodes, int nn)
{
	/* Random ops differ per run; If reads values its inputs do not list. */
	static const char *const random_ops[] = {"RandomNormal", "RandomUniform", "RandomNormalLike",
						 "RandomUniformLike", "Bernoulli", "Multinomial", "If"};
	for (bool grew = true; grew;) {
		grew = false;
		for (int i = 0; i < nn; i++) {
			const SrcNode *n = &nodes[i];
			if (n->nout < 1 || !*n->out[0] || fe_nm_has(&c->consts, n->out[0]))
				continue;
			bool k = !strcmp(n->op, "Shape") || !strcmp(n->op, "Size") || (!strcmp(n->op, "If") && if_is_const(c, n));
			if (!k && n->nin > 0) {
				k = true;
				for (int j = 0; j < n->nin; j++)
					k &= !*n->in[j] || fe_nm_has(&c->consts, n->in[j]);
				for (unsigned r = 0; r < sizeof random_ops / sizeof *random_ops; r++)
					k &= strcmp(n->op, random_ops[r]) != 0;
			}
			for (int j = 0; k && j < n->nout; j++)
				if (*n->out[j] && !fe_nm_put(&c->consts, n->out[j], 1))
					return false;
			grew |= k;
		}
	}
	return true;
}

static bool derive_consts(Ctx *c) { return fe_derive_consts_in(c, c->m->nodes.v, c->m->nodes.n); }

/* Build the graph.  Errors stop the import; in check_all mode the static
 * checks of every node run (and report) before anything is built. */
static Graph *import_graph(Ctx *c, const ImportOptions *o)
{
	SrcModel *m = c->m;
	bool check_all = o && o->check_all;
	int start_err = c->d->nerr;
#define STOP() (c->oom || (c->d->nerr > start_err && !check_all))
	if (m->opset < 0)
		return fe_fail(c, "the model does not import the default ONNX opset"), NULL;
	if (m->opset < SRC_OPSET_MIN || m->opset > SRC_OPSET_MAX)
		return fe_fail(c, "opset %d of the default domain is not supported (kiln supports %d to %d)", m->opset,
			    SRC_OPSET_MIN, SRC_OPSET_MAX), NULL;
	bool used_binding[IMPORT_MAX_SHAPES] = {0};
	for (int i = 0; i < m->consts.n; i++) {
		if (!fe_nm_put(&c->names, m->consts.v[i].name, 1) || !fe_nm_put(&c->consts, m->consts.v[i].name, 1))
			return fe_oom(c), NULL;
		if (!fe_add_const(c, &m->consts.v[i]) && STOP())
			return NULL;
	}
	for (int i = 0; i < m->inputs.n; i++) {
		const SrcInput *in = &m->inputs.v[i];
		if (fe_nm_has(&c->consts, in->name))
			continue;  /* an initializer overrides the input: a constant */
		if (fe_nm_has(&c->vals, in->name)) {
			fe_fail(c, "graph input '%s' is listed twice", in->name);
			if (STOP())
				return NULL;
			continue;
		}
		if (!fe_nm_put(&c->names, in->name, 1))
			return fe_oom(c), NULL;
		if (!add_input(c, o, in, used_binding) && STOP())
			return NULL;
	}
	for (int i = 0; o && i < o->nconsts; i++) {
		bool found = false;
		for (int k = 0; k < m->inputs.n; k++)
			found |= !strcmp(m->inputs.v[k].name, o->consts[i].name);
		if (!found) {
			fe_fail(c, "--const %s: the model has no graph input of that name", o->consts[i].name);
			if (STOP())
				return NULL;
		}
	}
	for (int i = 0; o && i < o->nshapes; i++)
		if (!used_binding[i]) {
			fe_fail(c, "--shape %s: no graph input or symbolic dimension has that name", o->shapes[i].name);
			if (STOP())
				return NULL;
		}
	for (int i = 0; i < m->outputs.n; i++)
		if (!fe_nm_put(&c->used, m->outputs.v[i], 1))
			return fe_oom(c), NULL;
	for (int i = 0; i < m->nodes.n; i++) {
		SrcNode *n = &m->nodes.v[i];
		for (int j = 0; j < n->nin; j++)
			if (*n->in[j] && !fe_nm_put(&c->used, n->in[j], 1))
				return fe_oom(c), NULL;
		if (strcmp(n->op, "Constant") == 0 && n->nout > 0 && *n->out[0] && !fe_nm_put(&c->consts, n->out[0], 1))
			return fe_oom(c), NULL;
	}
	for (int i = 0; o && i < o->nconsts; i++)  /* inputs bound with --const are constants too */
		if (!fe_nm_put(&c->consts, o->consts[i].name, 1))
			return fe_oom(c), NULL;
	if (!derive_consts(c))
		return fe_oom(c), NULL;
	for (int i = 0; i < m->nodes.n; i++)
		if (!fe_check_node(c, &m->nodes.v[i]) && STOP())
			return NULL;
	c->sn = NULL;
	if (c->d->nerr > 0)
		return NULL;  /* also errors the reader found (kiln check goes on to here) */
	int *order = order_nodes(c);
	if (!order)
		return NULL;
	for (int k = 0; k < m->nodes.n; k++)
		if (!fe_import_node(c, &m->nodes.v[order[k]], false))
			return NULL;
	c->sn = NULL;
	for (int i = 0; i < m->outputs.n; i++) {
		const char *name = m->outputs.v[i];
		ValueId v = fe_nm_get(&c->vals, name, -1);
		if (v < 0)
			return fe_fail(c, "graph output '%s' is not produced by any node, input or initializer", name), NULL;
		if (!ir_mark_output(c->g, v))
			return fe_oom(c), NULL;
	}
	if (m->outputs.n == 0)
		return fe_fail(c, "the graph has no outputs"), NULL;
#undef STOP
	return c->g;
}

Graph *src_import(SrcModel *m, const ImportOptions *o, Diag *d)
{
	Ctx c = {.m = m, .d = d, .file = m->file, .opset = m->opset, .fold = o ? o->fold : NULL};
	c.g = ir_graph_new(m->name && *m->name ? m->name : "model");
	if (!c.g) {
		diag_error(d, m->file, NULL, NULL, "out of memory");
		return NULL;
	}
	c.g->file = ir_arena_strdup(c.g->arena, m->file);
	if (!c.g->file || !fe_nm_init(&c.vals, m->arena) || !fe_nm_init(&c.names, m->arena) ||
	    !fe_nm_init(&c.consts, m->arena) || !fe_nm_init(&c.used, m->arena) || !fe_nm_init(&c.producer, m->arena)) {
		diag_error(d, m->file, NULL, NULL, "out of memory");
		ir_graph_free(c.g);
		return NULL;
	}
	Graph *g = import_graph(&c, o);
	if (g && !ir_verify(g, d))
		g = NULL;
	if (!g)
		ir_graph_free(c.g);
	return g;
}

void src_diag_merge(Diag *d, const Diag *tmp, bool all)
{
	for (int i = 0; i < tmp->nmsg && (all || i < 1); i++)
		diag_error(d, NULL, NULL, NULL, "%s", tmp->msgs[i]);
	if (all && tmp->nerr > tmp->nmsg)
		d->nerr += tmp->nerr - tmp->nmsg;
	if (tmp->nerr && !tmp->nmsg)
		diag_error(d, NULL, NULL, NULL, "out of memory");
}
