/* Unit tests for the pass manager, dce, simplify, fold, cse and the static
 * memory plan: plan invariants checked independently on random DAGs, and
 * random graphs run through the JIT before and after the -O3 pipeline. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "codegen.h"
#include "ir.h"
#include "passes.h"

/* ---- helpers ------------------------------------------------------------------ */

static Diag d;

static void setup(void) { diag_init(&d); }
static void teardown(void) { diag_free(&d); }

static ValueId input(Graph *g, const char *name, int64_t n)
{
	int64_t dims[] = {1, n};
	return ir_add_input(g, name, ir_type(g, DT_F32, 2, dims, NULL));
}

/* Append a node (name = result name) and return its result value. */
static ValueId node(Graph *g, Op op, const char *name, ValueId a, ValueId b)
{
	ValueId in[2] = {a, b};
	NodeId n = ir_build(g, op, name, in, b >= 0 ? 2 : 1, NULL, 0, name, &d);
	ck_assert_msg(n >= 0, "%s", d.nmsg ? d.msgs[d.nmsg - 1] : "?");
	return g->nodes.v[n].out;
}

static ValueId reshape(Graph *g, const char *name, ValueId x, int rank, const int64_t *dims)
{
	int64_t sh[IR_MAX_RANK];
	memcpy(sh, dims, rank * sizeof *sh);
	Attr a = ir_aints("shape", sh, rank);
	NodeId n = ir_build(g, OP_RESHAPE, name, &x, 1, &a, 1, name, &d);
	ck_assert_msg(n >= 0, "%s", d.nmsg ? d.msgs[d.nmsg - 1] : "?");
	return g->nodes.v[n].out;
}

static int live_nodes(const Graph *g, Op op)
{
	int k = 0;
	for (int i = 0; i < g->nodes.n; i++)
		k += !g->nodes.v[i].dead && (op == OP_COUNT || g->nodes.v[i].op == op);
	return k;
}

static const char *out_name(Graph *g, int i) { return ir_value(g, g->outputs.v[i])->name; }

static int64_t aligned(int64_t bytes, int64_t align) { return (bytes + align - 1) / align * align; }

/* Nodes that write nothing: views, and contiguous slices (lower_slice
 * leaves them where the plan put them, in their operand). */
static bool is_view(Graph *g, const Node *n)
{
	int64_t off;
	return (ir_ops[n->op].flags & OPF_VIEW) || ir_slice_is_view(g, n, &off);
}

/* May node n, writing its result y at at_y, touch bytes [at_a, +sa) of a
 * value a that is live at n (offsets within one region)?  An in-place
 * elementwise (or fused_ew) node may overwrite an operand it reads at exactly those
 * bytes, element by element, when n is its last reader.  A concat whose
 * slices are contiguous writes only the slices of the operands that are
 * not already in place (lower_concat copies those); anything else writes
 * all of y. */
static bool write_ok(Graph *g, const Node *n, ValueId a, int64_t at_a, int64_t sa, int64_t at_y, bool last)
{
	const Type *ta = ir_value_type(g, a), *ty = ir_value_type(g, n->out);
	if ((ir_ops[n->op].flags & OPF_EW) || n->op == OP_FUSED_EW) {
		bool operand = false;
		for (int j = 0; j < n->nin; j++)
			operand |= n->in[j] == a;
		return last && operand && at_a == at_y && ir_dtype_size(ta->dt) == ir_dtype_size(ty->dt) &&
		       ir_type_numel(ta) == ir_type_numel(ty);
	}
	if (n->op != OP_CONCAT)
		return false;
	int axis = (int)ir_attr_int(n, "axis", 0);
	for (int i = 0; i < axis; i++)
		if (ty->dims[i] != 1)
			return false;
	int64_t off = 0, oy, ox;
	ValueId ry = ir_value_home(g, n->out, &oy);
	for (int j = 0; j < n->nin; j++) {
		int64_t bytes = ir_type_bytes(ir_value_type(g, n->in[j]));
		bool in_place = ir_value_home(g, n->in[j], &ox) == ry && ox == oy + off;
		if (!in_place && at_a < at_y + off + bytes && at_y + off < at_a + sa)
			return false;
		off += bytes;
	}
	return true;
}

/* The plan's invariants, recomputed from scratch.  Inputs, consts and
 * outputs own no workspace; every other result has one home: a buffer of
 * its own (an aligned workspace offset) or a place in a root value's
 * buffer (alias, alias_off), which is how views, in-place results and
 * concat operands written in their slices share.  At -O0 only views
 * share.  Correctness, checked pairwise: no value's bytes change while it
 * is live (from its node through its last reader); what each node writes
 * is write_ok's (a view writes nothing).  Also recomputes the lower bound:
 * a root buffer lives from the first definition to the last read of any
 * value in it. */
static void check_plan(Graph *g, int64_t align, bool share)
{
	int nv = g->values.n, nn = g->nodes.n;
	ck_assert_int_ge(g->ws_size, 0);
	ck_assert_int_eq(g->ws_align, align);
	ck_assert_int_eq(g->ws_size % align, 0);
	int *first = calloc(nv + 1, sizeof *first), *last = calloc(nv + 1, sizeof *last);
	int *gfirst = calloc(nv + 1, sizeof *gfirst), *glast = calloc(nv + 1, sizeof *glast);
	ValueId *region = calloc(nv + 1, sizeof *region);  /* -2: the workspace, -1: none, else an output */
	int64_t *at = calloc(nv + 1, sizeof *at);
	for (int v = 0; v < nv; v++) {
		const Value *val = &g->values.v[v];
		first[v] = last[v] = gfirst[v] = glast[v] = -1;
		region[v] = -1;
		if (val->kind != VAL_NODE || val->is_output) {
			ck_assert_msg(val->ws_offset == -1, "'%s' is an input, const or output but has a workspace slot", val->name);
			ck_assert_msg(val->alias == -1, "'%s' is an input, const or output but aliases", val->name);
			if (val->is_output && val->kind == VAL_NODE)
				region[v] = v, first[v] = last[v] = val->def;
			continue;
		}
		first[v] = last[v] = val->def;
		ck_assert_msg((val->ws_offset >= 0) != (val->alias >= 0), "'%s': offset %lld alias %d", val->name,
			      (long long)val->ws_offset, val->alias);
		int64_t bytes = ir_type_bytes(ir_value_type(g, v));
		const Node *def = &g->nodes.v[val->def];
		if (val->alias >= 0) {
			const Value *r = &g->values.v[val->alias];
			ck_assert_msg(r->alias == -1, "alias of '%s' is not a root", val->name);
			ck_assert(val->alias_off >= 0);
			ck_assert_int_le(val->alias_off + bytes, ir_type_bytes(ir_value_type(g, val->alias)));
			if (!share)
				ck_assert_msg(is_view(g, def), "'%s' shares at -O0 but is no view", val->name);
			if (r->kind != VAL_NODE)
				ck_assert(is_view(g, def));
			if (r->kind == VAL_NODE && !r->is_output) {
				region[v] = -2;
				at[v] = r->ws_offset + val->alias_off;
			} else if (r->is_output && r->kind == VAL_NODE) {
				region[v] = val->alias;
				at[v] = val->alias_off;
			}
		} else {
			ck_assert_int_eq(val->ws_offset % align, 0);
			ck_assert_int_le(val->ws_offset + bytes, g->ws_size);
			region[v] = -2;
			at[v] = val->ws_offset;
		}
		int64_t soff = 0;
		if (!val->is_output && ((ir_ops[def->op].flags & OPF_VIEW) || ir_slice_is_view(g, def, &soff))) {
			/* a view is its operand's bytes (a contiguous slice: from soff) */
			int64_t o1, o2;
			ck_assert_int_eq(ir_value_home(g, v, &o1), ir_value_home(g, def->in[0], &o2));
			ck_assert_int_eq(o1, o2 + soff);
		}
	}
	for (int i = 0; i < nn; i++) {
		const Node *n = &g->nodes.v[i];
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] >= 0 && first[n->in[j]] >= 0 && last[n->in[j]] < i)
				last[n->in[j]] = i;
	}
	/* Pairwise: b's node writes while a is live. */
	for (int a = 0; a < nv; a++)
		for (int b = 0; b < nv; b++) {
			if (a == b || region[a] == -1 || region[a] != region[b])
				continue;
			int64_t sa = ir_type_bytes(ir_value_type(g, a)), sb = ir_type_bytes(ir_value_type(g, b));
			const Node *w = &g->nodes.v[first[b]];
			if (!sa || !sb || at[a] + sa <= at[b] || at[b] + sb <= at[a] || is_view(g, w))
				continue;
			if (first[b] <= first[a] || first[b] > last[a])
				continue;
			ck_assert_msg(write_ok(g, w, a, at[a], sa, at[b], first[b] == last[a]),
				      "'%s' [%lld,+%lld) is written while '%s' [%lld,+%lld) is live", g->values.v[b].name,
				      (long long)at[b], (long long)sb, g->values.v[a].name, (long long)at[a], (long long)sa);
		}
	/* The lower bound, from the root buffers' lifetimes. */
	for (int v = 0; v < nv; v++) {
		if (region[v] != -2)
			continue;
		int64_t off;
		ValueId r = ir_value_home(g, v, &off);
		if (gfirst[r] < 0 || first[v] < gfirst[r])
			gfirst[r] = first[v];
		if (last[v] > glast[r])
			glast[r] = last[v];
	}
	int64_t peak = 0;
	for (int i = 0; i < nn; i++) {
		int64_t live = 0;
		for (int v = 0; v < nv; v++)
			if (gfirst[v] >= 0 && gfirst[v] <= i && i <= glast[v])
				live += aligned(ir_type_bytes(ir_value_type(g, v)), align);
		peak = live > peak ? live : peak;
	}
	ck_assert_int_eq(g->ws_lower_bound, peak);
	ck_assert_int_le(g->ws_lower_bound, g->ws_size);
	free(first);
	free(last);
	free(gfirst);
	free(glast);
	free(region);
	free(at);
}

static bool run(Graph *g, const char *list, int opt, int64_t align)
{
	PassCtx cx = {.diag = &d, .opt_level = opt, .verify_each = true, .ws_align = align, .fold = cg_fold};
	bool ok = pass_run_pipeline(g, list, &cx) && pass_ensure_plan(g, &cx);
	return ok;
}

/* A random DAG of f32 [1,n] tensors: unary ops, adds of equal shapes,
 * concats (sizes vary), reshapes and identities (views), some chained;
 * a few random values (inputs and views included) are outputs. */
static Graph *random_dag(unsigned seed, int nodes)
{
	srand(seed);
	Graph *g = ir_graph_new("dag");
	ValueId pool[256];
	int np = 0;
	pool[np++] = input(g, "x0", 1 + rand() % 40);
	pool[np++] = input(g, "x1", 1 + rand() % 40);
	int64_t cd[] = {1, ir_value_type(g, pool[0])->dims[1]};
	float cv[64];
	for (int i = 0; i < 64; i++)
		cv[i] = (float)((i * 29) % 23) / 11.0f - 1.0f;
	pool[np++] = ir_add_const(g, "c", ir_type(g, DT_F32, 2, cd, NULL), cv);
	int64_t one[] = {1, 1};
	ValueId c1 = ir_add_const(g, "c1", ir_type(g, DT_F32, 2, one, NULL), cv + 5);
	static const Op unary[] = {OP_RELU, OP_SIGMOID, OP_TANH, OP_NEG, OP_ABS};
	for (int i = 0; i < nodes && np < 256; i++) {
		char name[32];
		snprintf(name, sizeof name, "n%d", i);
		/* Prefer recent values: long-lived and short-lived buffers mix. */
		ValueId a = pool[rand() % 3 ? np - 1 - rand() % (np < 4 ? np : 4) : rand() % np];
		const Type *ta = ir_value_type(g, a);
		int k = rand() % 10;
		ValueId r = -1;
		if (k < 3) {
			r = node(g, unary[rand() % 5], name, a, -1);
		} else if (k < 5) {
			ValueId b = -1;
			for (int t = 0; t < 8 && b < 0; t++) {
				ValueId c = pool[rand() % np];
				if (ir_value(g, c)->type == ir_value(g, a)->type)
					b = c;
			}
			/* Else a broadcast: a [1,1] operand (which is never
			 * overwritten in place) or a [1,1] result. */
			if (b < 0 && ta->rank == 2 && rand() % 2) {
				char bn[40];
				snprintf(bn, sizeof bn, "%s_b", name);
				b = rand() % 2 ? c1 : node(g, OP_SIGMOID, bn, c1, -1);
			}
			if (b >= 0 && ir_value(g, b)->type != ir_value(g, a)->type && rand() % 2)
				r = node(g, rand() % 2 ? OP_MUL : OP_SUB, name, b, a);
			else
				r = b >= 0 ? node(g, OP_ADD, name, a, b) : node(g, OP_RELU, name, a, -1);
		} else if (k < 6 && ta->rank == 2) {
			ValueId b = pool[rand() % np];
			const Type *tb = ir_value_type(g, b);
			if (tb->rank == 2 && ta->dims[1] + tb->dims[1] <= 400) {
				ValueId in[2] = {a, b};
				Attr ax = ir_ai("axis", 1);
				NodeId n = ir_build(g, OP_CONCAT, name, in, 2, &ax, 1, name, &d);
				ck_assert_int_ge(n, 0);
				r = g->nodes.v[n].out;
			} else {
				r = node(g, OP_SIGMOID, name, a, -1);
			}
		} else if (k < 9) {
			/* [1,n] <-> [n], sometimes twice in a row. */
			int64_t n = ir_type_numel(ta), to1[] = {n}, to2[] = {1, n};
			r = ta->rank == 2 ? reshape(g, name, a, 1, to1) : reshape(g, name, a, 2, to2);
			if (rand() % 3 == 0) {
				snprintf(name, sizeof name, "n%d_again", i);
				r = ta->rank == 2 ? reshape(g, name, r, 2, to2) : reshape(g, name, r, 1, to1);
			}
		} else {
			r = node(g, OP_IDENTITY, name, a, -1);
		}
		pool[np++] = r;
	}
	ir_mark_output(g, pool[np - 1]);
	for (int i = rand() % 3; i > 0; i--)
		ir_mark_output(g, pool[rand() % np]);
	ck_assert_int_eq(d.nerr, 0);
	return g;
}

/* ---- the memory plan ------------------------------------------------------------ */

START_TEST(plan_random_dags)
{
	static const int64_t aligns[] = {16, 64, 128};
	for (unsigned seed = 1; seed <= 300; seed++) {
		int64_t align = aligns[seed % 3];
		Graph *g = random_dag(seed, 3 + (int)(seed % 60));
		ck_assert(run(g, "plan", 0, align));
		check_plan(g, align, false);
		/* Sharing, then a new order: never a larger workspace (the
		 * verifier checks the order is topological). */
		ck_assert(run(g, "plan", 3, align));
		check_plan(g, align, true);
		int64_t before = g->ws_size;
		ck_assert(run(g, "schedule,plan", 3, align));
		check_plan(g, align, true);
		ck_assert_int_le(g->ws_size, before);
		/* After the full pipeline too (the graph changed under the plan). */
		ck_assert_msg(run(g, NULL, 3, align), "seed %u: %s", seed, d.nmsg ? d.msgs[0] : "?");
		check_plan(g, align, true);
		ck_assert_int_eq(d.nerr, 0);
		ir_graph_free(g);
	}
}
END_TEST

/* Ten relus on 1 KiB: two buffers alternate. */
START_TEST(plan_reuses_on_a_chain)
{
	Graph *g = ir_graph_new("chain");
	ValueId v = input(g, "x", 256);
	for (int i = 0; i < 10; i++) {
		char name[8];
		snprintf(name, sizeof name, "r%d", i);
		v = node(g, OP_RELU, name, v, -1);
	}
	ir_mark_output(g, v);
	ck_assert(run(g, "plan", 0, 64));
	check_plan(g, 64, false);
	ck_assert_int_eq(g->ws_size, 2048);
	ck_assert_int_eq(g->ws_lower_bound, 2048);
	/* Neighbours never share, every other one does. */
	for (int i = 0; i + 1 < 9; i++)
		ck_assert_int_ne(ir_value(g, g->nodes.v[i].out)->ws_offset, ir_value(g, g->nodes.v[i + 1].out)->ws_offset);
	ck_assert_int_eq(ir_value(g, g->nodes.v[0].out)->ws_offset, ir_value(g, g->nodes.v[2].out)->ws_offset);
	ir_graph_free(g);
}
END_TEST

/* a feeds b and c, d = b + c: three buffers live at c. */
START_TEST(plan_diamond_and_sizes)
{
	Graph *g = ir_graph_new("diamond");
	ValueId x = input(g, "x", 256);
	ValueId a = node(g, OP_RELU, "a", x, -1);
	ValueId b = node(g, OP_SIGMOID, "b", a, -1);
	ValueId c = node(g, OP_TANH, "c", a, -1);
	ValueId s = node(g, OP_ADD, "s", b, c);
	ir_mark_output(g, node(g, OP_NEG, "y", s, -1));
	ck_assert(run(g, "plan", 0, 64));
	check_plan(g, 64, false);
	ck_assert_int_eq(g->ws_lower_bound, 3 * 1024);
	ck_assert_int_eq(g->ws_size, 3 * 1024);
	ir_graph_free(g);

	/* Greedy by size: the big buffer first at 0, small ones reuse around it. */
	g = ir_graph_new("sizes");
	x = input(g, "x", 16);
	int64_t w = 16;
	ValueId v = x;
	for (int i = 0; i < 6; i++) {
		ValueId in[2] = {v, v};
		Attr ax = ir_ai("axis", 1);
		char name[8];
		snprintf(name, sizeof name, "cat%d", i);
		NodeId n = ir_build(g, OP_CONCAT, name, in, 2, &ax, 1, name, &d);
		ck_assert_int_ge(n, 0);
		v = g->nodes.v[n].out;
		w *= 2;
	}
	ir_mark_output(g, node(g, OP_RELU, "y", v, -1));
	ck_assert(run(g, "plan", 0, 16));
	check_plan(g, 16, false);
	/* Chain of doubling sizes: peak is the last two (w/2 + w floats). */
	ck_assert_int_eq(g->ws_lower_bound, (w / 2 + w) * 4);
	ck_assert_int_le(g->ws_size, g->ws_lower_bound * 3 / 2);
	ir_graph_free(g);
}
END_TEST

START_TEST(plan_alignment)
{
	/* At s, a, b, c and s are live: four 4-byte tensors at alignment 128. */
	Graph *g = ir_graph_new("align");
	ValueId x = input(g, "x", 1);
	ValueId a = node(g, OP_RELU, "a", x, -1);
	ValueId b = node(g, OP_NEG, "b", x, -1);
	ValueId c = node(g, OP_ABS, "c", x, -1);
	ValueId s = node(g, OP_ADD, "s", a, b);
	ir_mark_output(g, node(g, OP_ADD, "y", s, c));
	ck_assert(run(g, "plan", 0, 128));
	check_plan(g, 128, false);
	ck_assert_int_eq(g->ws_size, 4 * 128);
	ck_assert_int_eq(g->ws_lower_bound, 4 * 128);
	ir_graph_free(g);

	/* Nothing in the workspace: size 0. */
	g = ir_graph_new("empty");
	x = input(g, "x", 5);
	ir_mark_output(g, node(g, OP_RELU, "y", x, -1));
	ck_assert(run(g, "plan", 0, 64));
	ck_assert_int_eq(g->ws_size, 0);
	ck_assert_int_eq(g->ws_lower_bound, 0);
	ir_graph_free(g);
}
END_TEST

START_TEST(plan_views_alias)
{
	Graph *g = ir_graph_new("views");
	ValueId x = input(g, "x", 64);
	ValueId rx = reshape(g, "rx", x, 1, (int64_t[]){64});          /* view of an input */
	ValueId a = node(g, OP_RELU, "a", x, -1);
	ValueId r = reshape(g, "r", a, 1, (int64_t[]){64});
	ValueId i = node(g, OP_IDENTITY, "i", r, -1);                  /* view of a view */
	ValueId z = node(g, OP_SIGMOID, "z", i, -1);                   /* reads a through two views */
	ValueId s = node(g, OP_ADD, "s", z, rx);
	ValueId ro = reshape(g, "ro", s, 2, (int64_t[]){1, 64});       /* a view that is an output */
	ir_mark_output(g, ro);
	ck_assert(run(g, "plan", 0, 64));
	check_plan(g, 64, false);
	ck_assert_int_eq(ir_value(g, rx)->alias, x);
	ck_assert_int_eq(ir_value(g, r)->alias, a);
	ck_assert_int_eq(ir_value(g, i)->alias, a);     /* the root, not r */
	ck_assert_int_eq(ir_value(g, i)->ws_offset, -1);
	/* z is written while a is read through i: different bytes. */
	ck_assert_int_ne(ir_value(g, z)->ws_offset, ir_value(g, a)->ws_offset);
	/* The output view is copied into the output buffer, not aliased. */
	ck_assert_int_eq(ir_value(g, ro)->alias, -1);
	ck_assert_int_eq(ir_value(g, ro)->ws_offset, -1);
	/* s is live until ro copies it. */
	ck_assert_int_ge(ir_value(g, s)->ws_offset, 0);
	ir_graph_free(g);
}
END_TEST

START_TEST(plan_max_ram)
{
	Graph *g = ir_graph_new("ram");
	ValueId v = input(g, "x", 256);
	for (int i = 0; i < 5; i++) {
		char name[8];
		snprintf(name, sizeof name, "r%d", i);
		v = node(g, OP_RELU, name, v, -1);
	}
	ir_mark_output(g, v);
	g->file = "m.kir";
	PassCtx cx = {.diag = &d, .ws_align = 64, .max_ram = 2047};
	ck_assert(!pass_run_pipeline(g, "plan", &cx));
	ck_assert_int_eq(d.nerr, 1);
	ck_assert_msg(strstr(d.msgs[0], "m.kir: node 'r1' (Relu): workspace needs 2048 bytes") &&
		      strstr(d.msgs[0], "over --max-ram 2047"), "%s", d.msgs[0]);
	diag_free(&d);
	diag_init(&d);
	cx = (PassCtx){.diag = &d, .ws_align = 64, .max_ram = 2048};
	ck_assert(pass_run_pipeline(g, "plan", &cx));
	ck_assert_int_eq(d.nerr, 0);
	ir_graph_free(g);
}
END_TEST

START_TEST(plan_random_chains_with_views)
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

/* ---- fuse: the activation registry ------------------------------------------------ */

/* Every activation of act.def with a standalone op folds into a matmul's
 * epilogue under its registry name, parameters carried as act_<p>; the
 * head then reads back as the same activation. */
START_TEST(fuse_every_registry_activation)
{
	for (int k = 1; k < ACT_COUNT; k++) {
		const ActInfo *ai = &ir_acts[k];
		if (ai->op == OP_COUNT)
			continue;
		Graph *g = ir_graph_new("act");
		int64_t dx[] = {1, 3}, dw[] = {3, 2};
		ValueId x = ir_add_input(g, "x", ir_type(g, DT_F32, 2, dx, NULL));
		ValueId w = ir_add_input(g, "w", ir_type(g, DT_F32, 2, dw, NULL));
		ValueId m = node(g, OP_MATMUL, "m", x, w);
		Attr attrs[3];
		int na = 0;
		double want[2] = {0.25 + k, 4.5 + k};  /* not the defaults */
		if (ai->sel)
			attrs[na++] = ir_ai(ai->sel, ai->sel_val);
		for (int i = 0; i < 2; i++)
			if (ai->param[i])
				attrs[na++] = ir_af(ai->param[i], want[i]);
		NodeId an = ir_build(g, ai->op, "a", &m, 1, attrs, na, "a", &d);
		ck_assert_msg(an >= 0, "%s: %s", ai->name, d.nmsg ? d.msgs[d.nmsg - 1] : "?");
		ir_mark_output(g, g->nodes.v[an].out);
		PassCtx cx = {.diag = &d, .verify_each = true};
		ck_assert(pass_run_pipeline(g, "fuse,dce", &cx));
		ck_assert_int_eq(live_nodes(g, OP_COUNT), 1);
		const Node *h = &g->nodes.v[ir_value(g, g->outputs.v[0])->def];
		ck_assert_int_eq(h->op, OP_MATMUL);
		ck_assert_str_eq(ir_attr_str(h, "act", ""), ai->name);
		Act a = ir_act_of_epilogue(h);
		ck_assert_int_eq(a.k, k);
		for (int i = 0; i < 2; i++)
			if (ai->param[i])
				ck_assert_msg(a.p[i] == want[i], "%s: param %s", ai->name, ai->param[i]);
		ir_graph_free(g);
	}
	ck_assert_int_eq(ir_act_find("nope"), ACT_NONE);
	ck_assert_int_eq(ir_act_find(NULL), ACT_NONE);
}
END_TEST

/* ---- dce, simplify -------------------------------------------------------------- */

START_TEST(dce_removes_unused)
{
	Graph *g = ir_graph_new("dce");
	ValueId x = input(g, "x", 8);
	ValueId a = node(g, OP_RELU, "a", x, -1);
	ValueId dead1 = node(g, OP_SIGMOID, "dead1", a, -1);
	node(g, OP_ADD, "dead2", dead1, a);               /* a chain nothing reads */
	ValueId y = node(g, OP_TANH, "y", a, -1);
	ValueId o2 = node(g, OP_NEG, "o2", x, -1);        /* unused but an output */
	ir_mark_output(g, y);
	ir_mark_output(g, o2);
	PassCtx cx = {.diag = &d, .verify_each = true};
	ck_assert(pass_run_pipeline(g, "dce", &cx));
	ck_assert_int_eq(cx.nlog, 1);
	ck_assert(cx.log[0].changed);
	ck_assert_int_eq(cx.log[0].nodes_before, 5);
	ck_assert_int_eq(cx.log[0].nodes_after, 3);
	ck_assert_int_eq(g->nodes.n, 3);                  /* compacted */
	ck_assert_int_eq(ir_find_value(g, "dead1"), -1);
	ck_assert_int_eq(ir_find_value(g, "dead2"), -1);
	ck_assert_str_eq(out_name(g, 0), "y");
	ck_assert_str_eq(out_name(g, 1), "o2");
	/* A second run changes nothing. */
	ck_assert(!pass_dce(g, &cx));
	ir_graph_free(g);
}
END_TEST

/* Bytes the graph's arena takes from the allocator while fuse runs over
 * an elementwise chain of n nodes (Add with the input every 7th node). */
static size_t chain_bytes;
static void *counting_alloc(void *ud, size_t size)
{
	(void)ud;
	chain_bytes += size;
	return malloc(size);
}

static size_t fuse_chain_bytes(int n, int *left)
{
	Graph *g = ir_graph_new("chain");
	ValueId x = input(g, "x", 64), v = x;
	static const Op ops[] = {OP_RELU, OP_NEG, OP_ABS, OP_SIGMOID};
	char name[32];
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof name, "t%d", i);
		v = i % 7 ? node(g, ops[i % 4], name, v, -1) : node(g, OP_ADD, name, v, x);
	}
	ir_mark_output(g, v);
	PassCtx cx = {.diag = &d};
	chain_bytes = 0;
	ir_set_alloc_hook(counting_alloc, NULL);
	bool changed = pass_fuse(g, &cx);
	ir_set_alloc_hook(NULL, NULL);
	ck_assert(changed);
	*left = 0;
	for (int i = 0; i < g->nodes.n; i++)
		*left += !g->nodes.v[i].dead;
	ir_graph_free(g);
	return chain_bytes;
}

/* Issue 17: fuse rebuilt the use lists (in the arena) and started over
 * after every rewrite, quadratic in time and memory (a 20,000-node chain
 * took 5.7 GB).  Its memory must now grow linearly: twice the chain, at
 * most about twice the bytes (quadratic would be four times). */
START_TEST(fuse_chain_is_linear)
{
	int left1, left2;
	size_t b1 = fuse_chain_bytes(1500, &left1), b2 = fuse_chain_bytes(3000, &left2);
	ck_assert_msg(b2 < 3 * b1, "fuse took %zu bytes for 1500 nodes, %zu for 3000", b1, b2);
	/* and it still fuses: each loop takes up to IR_EW_MAX terms */
	ck_assert_int_lt(left1, 1500 / 8);
	ck_assert_int_lt(left2, 3000 / 8);
	ck_assert_int_ge(left2, 3000 / IR_EW_MAX);
}
END_TEST

START_TEST(simplify_identities)
{
	Graph *g = ir_graph_new("simp");
	ValueId x = input(g, "x", 6);
	ValueId i1 = node(g, OP_IDENTITY, "i1", x, -1);     /* intermediate: goes */
	ValueId a = node(g, OP_RELU, "a", i1, -1);
	ValueId y = node(g, OP_IDENTITY, "y", a, -1);       /* output of a node result: goes, a becomes "y" */
	ValueId xo = node(g, OP_IDENTITY, "xo", x, -1);     /* output passing an input through: stays */
	ValueId b = node(g, OP_SIGMOID, "b", x, -1);
	ValueId b2 = node(g, OP_IDENTITY, "b2", b, -1);     /* b is an output itself: stays */
	ir_mark_output(g, y);
	ir_mark_output(g, xo);
	ir_mark_output(g, b);
	ir_mark_output(g, b2);
	PassCtx cx = {.diag = &d, .verify_each = true};
	ck_assert(pass_run_pipeline(g, "simplify,dce", &cx));
	ck_assert(cx.log[0].changed);
	ck_assert_int_eq(live_nodes(g, OP_IDENTITY), 2);
	ck_assert_int_eq(live_nodes(g, OP_COUNT), 4);
	ck_assert_int_eq(g->outputs.n, 4);
	ck_assert_str_eq(out_name(g, 0), "y");
	ck_assert_str_eq(out_name(g, 1), "xo");
	ck_assert_str_eq(out_name(g, 2), "b");
	ck_assert_str_eq(out_name(g, 3), "b2");
	/* The relu now writes the output "y" directly, from the input. */
	const Value *yv = ir_value(g, g->outputs.v[0]);
	ck_assert_int_eq(yv->kind, VAL_NODE);
	ck_assert_int_eq(g->nodes.v[yv->def].op, OP_RELU);
	ck_assert_int_eq(g->nodes.v[yv->def].in[0], ir_find_value(g, "x"));
	ck_assert_int_eq(ir_find_value(g, "a"), -1);
	ck_assert_int_eq(ir_find_value(g, "i1"), -1);
	ir_graph_free(g);
}
END_TEST

START_TEST(simplify_reshapes)
{
	Graph *g = ir_graph_new("rs");
	ValueId x = input(g, "x", 6);
	ValueId r1 = reshape(g, "r1", x, 2, (int64_t[]){3, 2});
	ValueId r2 = reshape(g, "r2", r1, 1, (int64_t[]){6});
	ValueId r3 = reshape(g, "r3", r2, 2, (int64_t[]){2, 3});
	ValueId y = node(g, OP_RELU, "y", r3, -1);
	ValueId same = reshape(g, "same", y, 2, (int64_t[]){1, 6});  /* [2,3] -> [1,6]: a real reshape */
	ValueId n0 = reshape(g, "n0", x, 2, (int64_t[]){1, 6});      /* no-op reshape of x */
	ValueId z = node(g, OP_ADD, "z", n0, same);
	ir_mark_output(g, z);
	ir_mark_output(g, y);
	PassCtx cx = {.diag = &d, .verify_each = true};
	ck_assert(pass_run_pipeline(g, "simplify,dce", &cx));
	/* r1..r3 collapse into one reshape of x; n0 disappears; "same" stays. */
	ck_assert_int_eq(live_nodes(g, OP_RESHAPE), 2);
	ValueId r3n = ir_find_value(g, "r3");
	ck_assert_int_ge(r3n, 0);
	ck_assert_int_eq(g->nodes.v[ir_value(g, r3n)->def].in[0], ir_find_value(g, "x"));
	ck_assert_int_eq(ir_find_value(g, "r1"), -1);
	ck_assert_int_eq(ir_find_value(g, "r2"), -1);
	ck_assert_int_eq(ir_find_value(g, "n0"), -1);
	ValueId zn = ir_find_value(g, "z");
	ck_assert_int_eq(g->nodes.v[ir_value(g, zn)->def].in[0], ir_find_value(g, "x"));
	ir_graph_free(g);
}
END_TEST

/* ---- fold, cse -------------------------------------------------------------------- */

START_TEST(fold_through_hook)
{
	Graph *g = ir_graph_new("fold");
	ValueId x = input(g, "x", 4);
	int64_t dims[] = {1, 4};
	float cv[4] = {-1, 2, -3, 4};
	ValueId c = ir_add_const(g, "c", ir_type(g, DT_F32, 2, dims, NULL), cv);
	ValueId a = node(g, OP_ABS, "a", c, -1);
	ValueId n = node(g, OP_NEG, "n", a, -1);
	ValueId y = node(g, OP_ADD, "y", x, n);
	ir_mark_output(g, y);
	ir_mark_output(g, a);                               /* a constant expression that is an output */
	/* Without the hook (no code generator linked) the pass does nothing. */
	PassCtx cx = {.diag = &d, .verify_each = true};
	ck_assert(pass_run_pipeline(g, "fold", &cx));
	ck_assert(!cx.log[0].changed);
	ck_assert_int_eq(live_nodes(g, OP_COUNT), 3);
	cx = (PassCtx){.diag = &d, .verify_each = true, .fold = cg_fold};
	ck_assert(pass_run_pipeline(g, "fold", &cx));
	ck_assert(cx.log[0].changed);
	ck_assert_int_eq(g->nodes.n, 1);                  /* only the add reads x */
	ck_assert_int_eq(g->nodes.v[0].op, OP_ADD);
	const Value *nv = ir_value(g, ir_find_value(g, "n")), *av = ir_value(g, ir_find_value(g, "a"));
	ck_assert_int_eq(nv->kind, VAL_CONST);
	ck_assert_int_eq(av->kind, VAL_CONST);
	ck_assert(av->is_output);
	for (int k = 0; k < 4; k++) {
		ck_assert_float_eq(((const float *)nv->data)[k], -fabsf(cv[k]));
		ck_assert_float_eq(((const float *)av->data)[k], fabsf(cv[k]));
	}
	ck_assert_ptr_nonnull(strstr(cx.log[0].note, "folded 2 values (32 bytes) computed by 2 nodes"));
	ck_assert_str_eq(out_name(g, 0), "y");
	ck_assert_str_eq(out_name(g, 1), "a");
	/* Nothing left to fold. */
	ck_assert(!pass_fold(g, &cx));
	ir_graph_free(g);
}
END_TEST

START_TEST(cse_merges_chains)
{
	Graph *g = ir_graph_new("cse");
	ValueId x = input(g, "x", 5);
	ValueId a1 = node(g, OP_RELU, "a1", x, -1), a2 = node(g, OP_RELU, "a2", x, -1);
	ValueId m1 = node(g, OP_MUL, "m1", a1, x), m2 = node(g, OP_MUL, "m2", x, a2);  /* commuted */
	ValueId s1 = node(g, OP_SUB, "s1", m1, x), s2 = node(g, OP_SUB, "s2", x, m2);  /* not commutative */
	ir_mark_output(g, node(g, OP_ADD, "y", s1, s2));
	ir_mark_output(g, m2);                             /* a duplicate that is an output keeps its name */
	PassCtx cx = {.diag = &d, .verify_each = true};
	ck_assert(pass_run_pipeline(g, "cse", &cx));
	ck_assert(cx.log[0].changed);
	ck_assert_int_eq(g->nodes.n, 5);
	ck_assert_int_eq(live_nodes(g, OP_RELU), 1);
	ck_assert_int_eq(live_nodes(g, OP_MUL), 1);
	ck_assert_int_eq(live_nodes(g, OP_SUB), 2);
	ck_assert_str_eq(out_name(g, 0), "y");
	ck_assert_str_eq(out_name(g, 1), "m2");
	ck_assert_int_eq(ir_find_value(g, "m1"), -1);
	ck_assert_str_eq(cx.log[0].note, "merged 2 nodes, 0 constants");
	ck_assert(!pass_cse(g, &cx));
	ir_graph_free(g);
}
END_TEST

/* ---- the pass manager ------------------------------------------------------------------ */

static Graph *tiny(void)
{
	Graph *g = ir_graph_new("tiny");
	ValueId x = input(g, "x", 4);
	ValueId i = node(g, OP_IDENTITY, "i", x, -1);
	ValueId a = node(g, OP_RELU, "a", i, -1);
	node(g, OP_SIGMOID, "dead", a, -1);
	ir_mark_output(g, node(g, OP_TANH, "y", a, -1));
	return g;
}

START_TEST(pipelines_per_level)
{
	static const char *const want[4][12] = {
		{"plan"},
		{"qdq", "simplify", "fold", "cse", "dce", "patterns", "schedule", "plan"},
		{"qdq", "simplify", "fold", "cse", "dce", "patterns", "fold_bn", "fuse", "layout", "schedule", "plan"},
		{"qdq", "simplify", "fold", "cse", "dce", "patterns", "fold_bn", "fuse", "layout", "schedule", "plan"},
	};
	for (int o = 0; o < 4; o++) {
		Graph *g = tiny();
		PassCtx cx = {.diag = &d, .opt_level = o, .ws_align = 64};
		ck_assert(pass_run_pipeline(g, NULL, &cx));
		int n = 0;
		while (n < 12 && want[o][n])
			n++;
		ck_assert_int_eq(cx.nlog, n);
		for (int k = 0; k < n; k++)
			ck_assert_str_eq(cx.log[k].name, want[o][k]);
		ck_assert_int_ge(g->ws_size, 0);       /* plan ran */
		/* O1 drops the identity and the dead node; O2 also fuses relu
		 * and tanh into one loop. */
		ck_assert_int_eq(live_nodes(g, OP_COUNT), o == 0 ? 4 : o == 1 ? 2 : 1);
		/* Planned already: ensure_plan does not run it again. */
		ck_assert(pass_ensure_plan(g, &cx));
		ck_assert_int_eq(cx.nlog, n);
		ir_graph_free(g);
	}
}
END_TEST

START_TEST(pass_lists)
{
	Graph *g = tiny();
	PassCtx cx = {.diag = &d, .ws_align = 64};
	ck_assert(pass_run_pipeline(g, "none", &cx));
	ck_assert_int_eq(cx.nlog, 0);
	ck_assert_int_eq(g->ws_size, -1);
	/* An unknown name: nothing runs, one message naming it. */
	ck_assert(!pass_run_pipeline(g, "dce,bogus,plan", &cx));
	ck_assert_int_eq(cx.nlog, 0);
	ck_assert_int_eq(live_nodes(g, OP_COUNT), 4);
	ck_assert_int_eq(d.nerr, 1);
	ck_assert_ptr_nonnull(strstr(d.msgs[0], "unknown pass 'bogus'"));
	diag_free(&d);
	diag_init(&d);
	/* Empty items are ignored; order is the list's. */
	ck_assert(pass_run_pipeline(g, "dce,,simplify", &cx));
	ck_assert_int_eq(cx.nlog, 2);
	ck_assert_str_eq(cx.log[0].name, "dce");
	ck_assert_str_eq(cx.log[1].name, "simplify");
	/* ensure_plan plans an unplanned graph. */
	ck_assert_int_eq(g->ws_size, -1);
	ck_assert(pass_ensure_plan(g, &cx));
	ck_assert_int_ge(g->ws_size, 0);
	ck_assert_str_eq(cx.log[cx.nlog - 1].name, "plan");
	ir_graph_free(g);
}
END_TEST

START_TEST(print_after)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	Graph *g = tiny();
	PassCtx cx = {.diag = &d, .opt_level = 1, .ws_align = 64, .print_after = "dce", .print_to = f};
	ck_assert(pass_run_pipeline(g, NULL, &cx));
	fclose(f);
	ck_assert_ptr_nonnull(strstr(buf, "# *** IR after dce ***\n"));
	ck_assert_ptr_null(strstr(buf, "after simplify"));
	ck_assert_ptr_nonnull(strstr(buf, "graph @tiny"));
	ck_assert_ptr_null(strstr(buf, "sigmoid("));     /* printed after dce ran */
	free(buf);
	ir_graph_free(g);

	buf = NULL;
	f = open_memstream(&buf, &len);
	g = tiny();
	cx = (PassCtx){.diag = &d, .opt_level = 3, .ws_align = 64, .print_after_all = true, .print_to = f};
	ck_assert(pass_run_pipeline(g, NULL, &cx));
	fclose(f);
	const char *p = buf;
	static const char *const order[] = {"simplify", "fold", "cse", "dce", "fold_bn", "fuse", "schedule", "plan"};
	for (int i = 0; i < 8; i++) {
		char h[64];
		snprintf(h, sizeof h, "# *** IR after %s ***", order[i]);
		p = strstr(p, h);
		ck_assert_msg(p != NULL, "no '%s' in order", h);
	}
	free(buf);
	/* An unknown --print-after name is an error, not silence. */
	cx = (PassCtx){.diag = &d, .ws_align = 64, .print_after = "nope"};
	ck_assert(!pass_run_pipeline(g, "dce", &cx));
	ck_assert_ptr_nonnull(strstr(d.msgs[0], "unknown pass 'nope'"));
	ir_graph_free(g);
}
END_TEST

START_TEST(verify_each_reports_broken_ir)
{
	Graph *g = tiny();
	/* Break the graph behind the passes' back: a result type that the
	 * shape rule does not produce. */
	int64_t dims[] = {3};
	ir_value(g, ir_find_value(g, "y"))->type = ir_type(g, DT_F32, 1, dims, NULL);
	PassCtx cx = {.diag = &d, .ws_align = 64, .verify_each = true};
	ck_assert(!pass_run_pipeline(g, "dce,plan", &cx));
	ck_assert_int_eq(cx.nlog, 1);               /* stopped after dce */
	ck_assert_msg(strstr(d.msgs[0], "internal: verifier failed after pass 'dce'") &&
		      strstr(d.msgs[0], "node 'y'"), "%s", d.msgs[0]);
	ir_graph_free(g);
}
END_TEST

/* ---- the pipeline keeps meaning: random graphs through the JIT -------------------- */

static void run_jit(Graph *g, float *const *ins, float **outs)
{
	CgOptions o = {.name = "t", .opt_level = 1};
	CgJit *j = cg_jit_new(g, &o, &d);
	ck_assert_msg(j != NULL, "%s", d.nmsg ? d.msgs[0] : "?");
	size_t ws = g->ws_size ? (size_t)g->ws_size : 64;
	void *w = aligned_alloc(64, (ws + 63) / 64 * 64);
	memset(w, 0xcd, ws);  /* garbage: nothing may read a slot before writing it */
	void *out[8];
	for (int i = 0; i < g->outputs.n; i++) {
		size_t bytes = (size_t)ir_type_bytes(ir_value_type(g, g->outputs.v[i]));
		outs[i] = malloc(bytes + 4);
		memset(outs[i], 0xab, bytes);
		out[i] = outs[i];
	}
	ck_assert_int_eq(cg_jit_fn(j)((const void *const *)ins, out, w), 0);
	free(w);
	cg_jit_free(j);
}

START_TEST(pipeline_preserves_results)
{
	for (unsigned seed = 1000; seed < 1040; seed++) {
		Graph *g0 = random_dag(seed, 5 + (int)(seed % 40));
		Graph *g3 = random_dag(seed, 5 + (int)(seed % 40));
		ck_assert(run(g0, "plan", 0, 64));
		ck_assert(run(g3, NULL, 3, 64));
		check_plan(g3, 64, true);
		ck_assert_int_eq(g0->outputs.n, g3->outputs.n);
		/* Fewer, shorter-lived buffers: the peak cannot grow. */
		ck_assert_int_le(g3->ws_lower_bound, g0->ws_lower_bound);
		float *ins[2];
		for (int i = 0; i < 2; i++) {
			int64_t n = ir_type_numel(ir_value_type(g0, g0->inputs.v[i]));
			ins[i] = malloc(n * sizeof(float));
			for (int64_t k = 0; k < n; k++)
				ins[i][k] = (float)((k * 7 + i * 3 + seed) % 19) / 6.0f - 1.5f;
		}
		float *o0[8], *o3[8];
		run_jit(g0, ins, o0);
		run_jit(g3, ins, o3);
		for (int i = 0; i < g0->outputs.n; i++) {
			int64_t n = ir_type_numel(ir_value_type(g0, g0->outputs.v[i]));
			ck_assert_int_eq(n, ir_type_numel(ir_value_type(g3, g3->outputs.v[i])));
			ck_assert_str_eq(out_name(g0, i), out_name(g3, i));
			for (int64_t k = 0; k < n; k++)
				ck_assert_msg(fabsf(o0[i][k] - o3[i][k]) <= 1e-5f * (1 + fabsf(o0[i][k])),
					      "seed %u output %d [%lld]: %g vs %g", seed, i, (long long)k, o0[i][k], o3[i][k]);
			free(o0[i]);
			free(o3[i]);
		}
		free(ins[0]);
		free(ins[1]);
		ir_graph_free(g0);
		ir_graph_free(g3);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("passes");
	TCase *tc = tcase_create("passes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, plan_random_dags);
	tcase_add_test(tc, plan_reuses_on_a_chain);
	tcase_add_test(tc, plan_diamond_and_sizes);
	tcase_add_test(tc, plan_alignment);
	tcase_add_test(tc, plan_views_alias);
	tcase_add_test(tc, plan_max_ram);
	tcase_add_test(tc, dce_removes_unused);
	tcase_add_test(tc, fuse_chain_is_linear);
	tcase_add_test(tc, simplify_identities);
	tcase_add_test(tc, simplify_reshapes);
	tcase_add_test(tc, fold_through_hook);
	tcase_add_test(tc, cse_merges_chains);
	tcase_add_test(tc, pipelines_per_level);
	tcase_add_test(tc, pass_lists);
	tcase_add_test(tc, print_after);
	tcase_add_test(tc, plan_random_chains_with_views);
	tcase_add_test(tc, fuse_every_registry_activation);
	tcase_add_test(tc, verify_each_reports_broken_ir);
	tcase_add_test(tc, pipeline_preserves_results);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
