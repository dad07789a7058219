/* kiln bisect: two builds of one model run on the same input, every
 * intermediate value compared in graph order (tools/tap.h observes them),
 * and the first node where the builds part ways named (issue 13).  Builds:
 * the optimized one against -O0's reference lowerings, the quantized one
 * against float, a cross target (its object run under qemu-user) against
 * the host. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver.h"
#include "ptq.h"
#include "tap.h"

typedef enum Kind { K_O0, K_FLOAT, K_CROSS } Kind;

/* Default tolerances (docs/cli.md): the largest difference relative to the
 * reference tensor's largest magnitude for O0 and cross builds (float
 * sums in another order and fused multiply-adds drift by a few ulps per
 * layer; a kernel bug moves whole elements), a per-value SQNR floor in dB
 * for quantized vs float (8-bit activations give about 30-45 dB). */
#define TOL_O0 1e-5
#define TOL_CROSS 1e-5
#define TOL_FLOAT_DB 15.0

typedef struct Row {
	const Node *node;     /* in the source graph (names, op) */
	const char *value;    /* its result's name there */
	int ta, tb;           /* tap indices in builds A and B; -1: not compared */
	const char *why;      /* not compared: why */
	const Node *anode;    /* the node computing it in build A, when not the source node (fusion) */
	double abs, rel, sqnr;
	bool past;
} Row;

/* The build under test (A) and the reference (B). */
typedef struct Side {
	Tap t;
	char *dir;            /* cross: the scratch folder (object, harness, files) */
	const Target *target; /* cross only */
	const char *features;
} Side;

static const char *node_op(const Node *n) { return n->src_op && n->src_op[0] ? n->src_op : ir_ops[n->op].name; }
static const char *node_name(const Graph *g, const Node *n) { return n->name[0] ? n->name : g->values.v[n->out].name; }

/* ---- inputs ---------------------------------------------------------------------- */

/* --input FILE..., or one folder: FOLDER/input_<i>.pb, or the first
 * FOLDER/test_data_set_* of an ONNX test-data folder. */
static int read_inputs(const Opts *o, const Graph *g, kiln_tensor *ins)
{
	char path[4600], err[512];
	int n = 0;
	struct stat st;
	if (o->ninputs == 1 && stat(o->inputs[0], &st) == 0 && S_ISDIR(st.st_mode)) {
		const char *dir = o->inputs[0];
		char sub[4200] = "";
		snprintf(path, sizeof path, "%s/input_0.pb", dir);
		if (access(path, F_OK) != 0) {
			DIR *dd = opendir(dir);
			struct dirent *e;
			while (dd && (e = readdir(dd)))
				if (!strncmp(e->d_name, "test_data_set_", 14) && (!sub[0] || strcmp(e->d_name, sub) < 0))
					snprintf(sub, sizeof sub, "%s", e->d_name);
			if (dd)
				closedir(dd);
			if (!sub[0])
				return -driver_fail("bisect: %s: no input_<i>.pb and no test_data_set_* folder", dir);
		}
		for (; n < MAX_FILES; n++) {
			snprintf(path, sizeof path, "%s%s%s/input_%d.pb", dir, sub[0] ? "/" : "", sub, n);
			if (access(path, F_OK) != 0)
				break;
			if (kiln_tensor_read(path, &ins[n], err, sizeof err))
				return -driver_fail("%s", err);
		}
	} else
		for (; n < o->ninputs; n++)
			if (kiln_tensor_read(o->inputs[n], &ins[n], err, sizeof err))
				return -driver_fail("%s", err);
	if (n != g->inputs.n)
		return -driver_fail("bisect: %s has %d input%s, %d given (--input FILE... in graph order, or a test-data folder)",
				    o->model, g->inputs.n, g->inputs.n == 1 ? "" : "s", n);
	for (int i = 0; i < n; i++) {
		const Value *v = &g->values.v[g->inputs.v[i]];
		const Type *ty = ir_type_get(g, v->type);
		if (ins[i].dtype != ir_dtype_onnx(ty->dt) || (int64_t)kiln_tensor_numel(&ins[i]) != ir_type_numel(ty))
			return -driver_fail("bisect: input %d '%s' must be %s with %lld elements, the file holds %s with %lld", i,
					    v->name, ir_dtype_name(ty->dt), (long long)ir_type_numel(ty),
					    kiln_dtype_name(ins[i].dtype), (long long)kiln_tensor_numel(&ins[i]));
	}
	return n;
}

/* ---- a cross target under qemu-user ---------------------------------------------- */

/* The harness the tapped object is linked with: raw input_<i>.bin in,
 * raw output_<i>.bin out; sizes on the command line. */
static const char harness_c[] =
	"#include <stdio.h>\n#include <stdlib.h>\n"
	"int RUN(const void *const *in, void *const *out, void *ws);\n"
	"static void *file(const char *dir, const char *k, int i, size_t n, int rd) {\n"
	"  char p[4200]; snprintf(p, sizeof p, \"%s/%s_%d.bin\", dir, k, i);\n"
	"  void *b = aligned_alloc(64, (n + 64) / 64 * 64);\n"
	"  FILE *f = fopen(p, rd ? \"rb\" : \"wb\");\n"
	"  if (!b || !f || (rd && fread(b, 1, n, f) != n)) { perror(p); exit(3); }\n"
	"  if (rd) fclose(f); else { fclose(f); } return b; }\n"
	"int main(int argc, char **argv) {\n"
	"  int nin = atoi(argv[2]), nout = atoi(argv[3]); size_t ws = strtoull(argv[4], 0, 10);\n"
	"  const void *in[256]; void *out[1024];\n"
	"  for (int i = 0; i < nin; i++) in[i] = file(argv[1], \"input\", i, strtoull(argv[5 + i], 0, 10), 1);\n"
	"  for (int i = 0; i < nout; i++) out[i] = aligned_alloc(64, (strtoull(argv[5 + nin + i], 0, 10) + 64) / 64 * 64);\n"
	"  int rc = RUN(in, out, aligned_alloc(64, (ws + 64) / 64 * 64));\n"
	"  for (int i = 0; !rc && i < nout; i++) {\n"
	"    char p[4200]; snprintf(p, sizeof p, \"%s/output_%d.bin\", argv[1], i);\n"
	"    FILE *f = fopen(p, \"wb\"); size_t n = strtoull(argv[5 + nin + i], 0, 10);\n"
	"    if (!f || fwrite(out[i], 1, n, f) != n || fclose(f)) { perror(p); return 3; } }\n"
	"  return rc; }\n";

/* Run argv (NULL-terminated), its output kept in DIR/log; the exit status. */
static int spawn(char *const *argv, const char *log)
{
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		FILE *f = freopen(log, "a", stdout);
		if (f)
			dup2(fileno(stdout), 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	if (p < 0 || waitpid(p, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* tap_open for a cross target: the same graph with the same outputs,
 * compiled to an object and linked with the harness by the target's
 * cross compiler.  g is owned by s->t from here. */
static bool cross_open(Side *s, Graph *g, const Opts *o, const char *const *names, int n, Diag *d)
{
	Tap *t = &s->t;
	memset(t, 0, sizeof *t);
	t->g = g;
	t->norig = g->outputs.n;
	t->ntap = n;
	CgOptions cg;
	if (!driver_setup_target(o, &cg))
		return false;
	s->target = cg.target;
	s->features = o->features;
	char tmpl[] = "/tmp/kiln-bisect-XXXXXX";
	if (!(t->tap_out = malloc((n + 1) * sizeof *t->tap_out)) || !mkdtemp(tmpl) || !(s->dir = strdup(tmpl)))
		goto oom;
	for (int i = 0; i < n; i++) {
		ValueId v = ir_find_value(g, names[i]);
		if (v < 0)
			die("bisect: no value '%s'", names[i]);
		if (!g->values.v[v].is_output && !ir_mark_output(g, v))
			goto oom;
		int k = 0;
		while (g->outputs.v[k] != v)
			k++;
		t->tap_out[i] = k;
	}
	PassCtx cx = {.diag = d, .opt_level = o->opt_level, .layout = o->layout, .ws_align = 64, .fold = cg_fold,
		      .vector_lanes = cg_vector_lanes(&cg)};
	if (!pass_run_pipeline(g, o->passes, &cx) || !pass_ensure_plan(g, &cx))
		return false;
	cg.name = "bisect_model";
	char obj[4200], src[4200], exe[4200], log[4200];
	snprintf(obj, sizeof obj, "%s/model.o", s->dir);
	snprintf(src, sizeof src, "%s/harness.c", s->dir);
	snprintf(exe, sizeof exe, "%s/model.exe", s->dir);
	snprintf(log, sizeof log, "%s/log", s->dir);
	if (!cg_check(g, &cg, d) || !cg_emit(g, &cg, EMIT_OBJ, obj, d))
		return false;
	FILE *f = fopen(src, "w");
	if (!f || fputs(harness_c, f) < 0 || fclose(f)) {
		diag_error(d, src, NULL, NULL, "cannot write the harness");
		return false;
	}
	char *cc[] = {(char *)cg.target->cross_cc, "-O1", "-std=c11", "-static", "-DRUN=bisect_model_run", src, obj,
		      "-o", exe, NULL};
	if (spawn(cc, log)) {
		diag_error(d, NULL, NULL, NULL, "bisect: %s could not link the %s object (see %s)", cg.target->cross_cc,
			   cg.target->name, log);
		return false;
	}
	return tap_alloc_outputs(t, g, d);
oom:
	diag_error(d, g->file, NULL, NULL, "out of memory");
	return false;
}

/* The object under qemu-user on ins; outputs into s->t.buf. */
static bool cross_run(Side *s, const kiln_tensor *ins, int nin, Diag *d)
{
	Tap *t = &s->t;
	char path[4200], log[4200], num[1100][24], exe[4200];
	char *argv[1100];
	int k = 0;
	snprintf(log, sizeof log, "%s/log", s->dir);
	snprintf(exe, sizeof exe, "%s/model.exe", s->dir);
	if (nin + t->nout > 1000) {
		diag_error(d, NULL, NULL, NULL, "bisect: too many values to tap for a cross run (%d)", nin + t->nout);
		return false;
	}
	argv[k++] = (char *)s->target->qemu;
	if (!strcmp(s->target->arch, "riscv64") && s->features && strstr(s->features, "+v")) {
		argv[k++] = "-cpu";  /* qemu's RVV 1.0 cpu, as the cross tests run it */
		argv[k++] = "rv64,v=true,vlen=128";
	}
	argv[k++] = exe;
	argv[k++] = s->dir;
	int nn = 0;
	snprintf(num[nn], 24, "%d", nin), argv[k++] = num[nn++];
	snprintf(num[nn], 24, "%d", t->nout), argv[k++] = num[nn++];
	snprintf(num[nn], 24, "%lld", (long long)t->g->ws_size), argv[k++] = num[nn++];
	for (int i = 0; i < nin; i++) {
		snprintf(path, sizeof path, "%s/input_%d.bin", s->dir, i);
		FILE *f = fopen(path, "wb");
		if (!f || fwrite(ins[i].data, 1, ins[i].bytes, f) != ins[i].bytes || fclose(f)) {
			diag_error(d, path, NULL, NULL, "cannot write");
			return false;
		}
		snprintf(num[nn], 24, "%zu", ins[i].bytes), argv[k++] = num[nn++];
	}
	for (int i = 0; i < t->nout; i++)
		snprintf(num[nn], 24, "%lld", (long long)ir_type_bytes(t->ty[i])), argv[k++] = num[nn++];
	argv[k] = NULL;
	int rc = spawn(argv, log);
	if (rc) {
		diag_error(d, NULL, NULL, NULL, "bisect: the %s build under %s exited with %d (see %s)", s->target->name,
			   s->target->qemu, rc, log);
		return false;
	}
	for (int i = 0; i < t->nout; i++) {
		snprintf(path, sizeof path, "%s/output_%d.bin", s->dir, i);
		FILE *f = fopen(path, "rb");
		size_t n = (size_t)ir_type_bytes(t->ty[i]);
		if (!f || fread(t->buf[i], 1, n, f) != n) {
			diag_error(d, path, NULL, NULL, "short output from the %s run", s->target->name);
			if (f)
				fclose(f);
			return false;
		}
		fclose(f);
	}
	return true;
}

static void side_close(Side *s)
{
	if (s->dir && !getenv("KILN_BISECT_KEEP")) {
		static const char *const files[] = {"model.o", "model.exe", "harness.c", "log", NULL};
		char p[4200];
		for (const char *const *f = files; *f; f++)
			snprintf(p, sizeof p, "%s/%s", s->dir, *f), remove(p);
		for (int i = 0; i < 2 * MAX_FILES + s->t.nout; i++) {
			snprintf(p, sizeof p, "%s/%s_%d.bin", s->dir, i < 2 * MAX_FILES ? "input" : "output",
				 i < 2 * MAX_FILES ? i : i - 2 * MAX_FILES);
			remove(p);
		}
		rmdir(s->dir);
	}
	free(s->dir);
	tap_close(&s->t);
}

/* ---- comparison ------------------------------------------------------------------- */

static void compare(Row *r, const float *a, const float *b, int64_t n)
{
	double mx = 0, err = 0, ss = 0, se = 0;
	bool inf = false;
	for (int64_t i = 0; i < n; i++) {
		if (isnan(a[i]) || isnan(b[i])) {
			inf |= isnan(a[i]) != isnan(b[i]);
			continue;
		}
		if (isinf(b[i]) || isinf(a[i])) {
			inf |= a[i] != b[i];
			continue;
		}
		double e = fabs((double)a[i] - b[i]);
		err = e > err ? e : err;
		mx = fabs(b[i]) > mx ? fabs(b[i]) : mx;
		ss += (double)b[i] * b[i];
		se += e * e;
	}
	r->abs = inf ? INFINITY : err;
	r->rel = inf ? INFINITY : err == 0 ? 0 : mx > 0 ? err / mx : INFINITY;
	r->sqnr = inf ? -INFINITY : se == 0 ? INFINITY : ss > 0 ? 10 * log10(ss / se) : -INFINITY;
}

/* ---- --emit-kir -------------------------------------------------------------------- */

static TypeId copy_type(Graph *h, const Type *t)
{
	const Quant *q = t->q ? ir_quant(h, t->q->axis, t->q->n, t->q->scale, t->q->zero) : NULL;
	return ir_type(h, t->dt, t->rank, t->dims, q);
}

/* The observed value of v: a model input, or a value the reference build
 * tapped; NULL if neither. */
static const void *observed(const Graph *g, ValueId v, const Row *rows, int nrows, const Tap *ref, const kiln_tensor *ins)
{
	for (int j = 0; j < g->inputs.n; j++)
		if (g->inputs.v[j] == v)
			return ins[j].data;
	for (int j = 0; j < nrows; j++)
		if (rows[j].tb >= 0 && !strcmp(rows[j].value, g->values.v[v].name))
			return ref->buf[ref->tap_out[rows[j].tb]];
	return NULL;
}

/* Mark in[] the source nodes that compute v from observed values and
 * constants (the node itself, and those fused into it); own, the value
 * compared, is computed even where it was observed. */
static void cone(const Graph *g, ValueId v, const char *own, const Row *rows, int nrows, const Tap *ref,
		 const kiln_tensor *ins, bool *in)
{
	const Value *x = &g->values.v[v];
	if (x->kind != VAL_NODE || in[x->def] || (strcmp(x->name, own) && observed(g, v, rows, nrows, ref, ins)))
		return;
	in[x->def] = true;
	const Node *n = &g->nodes.v[x->def];
	for (int i = 0; i < n->nin; i++)
		if (n->in[i] >= 0)
			cone(g, n->in[i], own, rows, nrows, ref, ins, in);
}

/* The diverging value's neighbourhood: the source nodes that compute it
 * from observed values (one node, or those fused into it), constants as
 * constants, the observed operands as graph inputs whose values (the
 * reference build's, or the model's inputs) are written beside path as
 * STEM.input_<i>.pb.  Prints the command that reproduces the comparison. */
static bool emit_kir(const char *path, const Graph *g, const Row *r, const char *top_name, const Row *rows, int nrows,
		     const Tap *ref, const kiln_tensor *ins, const Opts *o)
{
	Graph *h = ir_graph_new("bisect");
	bool *in = calloc(g->nodes.n + 1, sizeof *in);
	ValueId *map = malloc((g->values.n + 1) * sizeof *map);
	char stem[4096], pb[4200], err[512], cmd[8192];
	snprintf(stem, sizeof stem, "%s", path);
	char *dot = strrchr(stem, '.');
	if (dot && !strcmp(dot, ".kir"))
		*dot = 0;
	int k = snprintf(cmd, sizeof cmd, "kiln bisect %s", path), nin = 0, nnodes = 0;
	ValueId top = ir_find_value(g, top_name);
	bool ok = h && in && map && top >= 0;
	if (ok) {
		for (int i = 0; i < g->values.n; i++)
			map[i] = -1;
		cone(g, top, r->value, rows, nrows, ref, ins, in);
	}
	for (int i = 0; ok && i < g->nodes.n; i++) {
		if (!in[i])
			continue;
		const Node *n = &g->nodes.v[i];
		ValueId opnd[64];
		ok = n->nin <= 64;
		for (int j = 0; ok && j < n->nin; j++) {
			ValueId u = n->in[j];
			if (u < 0 || map[u] >= 0) {
				opnd[j] = u < 0 ? -1 : map[u];
				continue;
			}
			const Value *v = &g->values.v[u];
			const Type *t = ir_value_type(g, u);
			if (v->kind == VAL_CONST) {
				ok = (opnd[j] = map[u] = ir_add_const(h, v->name, copy_type(h, t), v->data)) >= 0;
				continue;
			}
			const void *data = observed(g, u, rows, nrows, ref, ins);
			if (!data)
				die("bisect: '%s' neither observed nor computed in the neighbourhood", v->name);
			ok = (opnd[j] = map[u] = ir_add_input(h, v->name, copy_type(h, t))) >= 0;
			kiln_tensor kt = {.dtype = ir_dtype_onnx(t->dt), .rank = t->rank, .data = (void *)data,
					  .bytes = (size_t)ir_type_bytes(t)};
			snprintf(kt.name, sizeof kt.name, "%s", v->name);
			memcpy(kt.shape, t->dims, sizeof(int64_t) * (t->rank < KILN_IO_MAX_RANK ? t->rank : KILN_IO_MAX_RANK));
			snprintf(pb, sizeof pb, "%s.input_%d.pb", stem, nin++);
			if (ok && kiln_tensor_write_pb(pb, &kt, err, sizeof err)) {
				fprintf(stderr, "kiln: error: %s\n", err);
				ok = false;
			}
			k += snprintf(cmd + k, sizeof cmd - k, " --input %s", pb);
		}
		if (!ok)
			break;
		NodeId id = ir_add_node(h, n->op, n->name, opnd, n->nin, n->attr, n->nattr, g->values.v[n->out].name,
					copy_type(h, ir_value_type(g, n->out)));
		ok = id >= 0;
		if (ok) {
			map[n->out] = h->nodes.v[id].out;
			if (n->src_op)
				h->nodes.v[id].src_op = ir_arena_strdup(h->arena, n->src_op);
			nnodes++;
		}
	}
	ok = ok && ir_mark_output(h, map[top]);
	FILE *f = ok ? fopen(path, "w") : NULL;
	if (f) {
		ir_print(h, f);
		ok = fclose(f) == 0;
	} else
		ok = false;
	if (h)
		ir_graph_free(h);
	free(in), free(map);
	if (!ok)
		return driver_fail("bisect: cannot write %s", path), false;
	k += snprintf(cmd + k, sizeof cmd - k, " --against %s", o->against);
	if (o->opt_level != 3)
		snprintf(cmd + k, sizeof cmd - k, " -O%d", o->opt_level);
	printf("wrote %s: %d node%s computing '%s' from its observed operands; reproduce with: %s\n", path, nnodes,
	       nnodes == 1 ? "" : "s", top_name, cmd);
	return true;
}

/* ---- the command ------------------------------------------------------------------- */

/* Which of the values names[] the optimized build o keeps (the others are fused
 * away, folded or simplified): the pipeline on an untapped graph, so that
 * tapping changes as little as possible of what is compared.  keep[i] is
 * cleared for a value the build lacks. */
static bool survivors(const Opts *o, const char *const *names, int nrows, bool *keep, Diag *d)
{
	Graph *g = driver_load_verified(o, d);
	CgOptions cg;
	if (!g || !driver_setup_target(o, &cg)) {
		if (g)
			ir_graph_free(g);
		return false;
	}
	PassCtx cx = {.diag = d, .opt_level = o->opt_level, .layout = o->layout, .ws_align = 64, .fold = cg_fold,
		      .vector_lanes = cg_vector_lanes(&cg)};
	bool ok = pass_run_pipeline(g, o->passes, &cx);
	for (int i = 0; ok && i < nrows; i++) {
		ValueId v = names[i] ? ir_find_value(g, names[i]) : -1;
		keep[i] &= v >= 0 && g->values.v[v].kind == VAL_NODE && !g->nodes.v[g->values.v[v].def].dead;
	}
	ir_graph_free(g);
	return ok;
}

/* A QDQ model's float form: each activation's quantize -> dequantize pair
 * taken out (its readers read the float value); weights stay dequantized
 * from their integers, as the model has no others. */
static void strip_activation_qdq(Graph *g)
{
	for (int i = 0; i < g->nodes.n; i++) {
		Node *n = &g->nodes.v[i];
		const Value *x = n->dead || n->op != OP_DEQUANTIZE ? NULL : &g->values.v[n->in[0]];
		if (!x || x->kind != VAL_NODE || g->nodes.v[x->def].op != OP_QUANTIZE)
			continue;
		ValueId f = g->nodes.v[x->def].in[0];
		if (ir_value_type(g, f)->q || g->values.v[n->out].is_output)
			continue;
		ir_replace_uses(g, n->out, f);
		n->dead = true;
	}
}

/* For a QDQ model: the quantized value of each row's float value (the
 * result of a quantize reading it), or the value itself. */
static void qdq_names(const Graph *g, const Row *rows, int nrows, const char **qn)
{
	for (int i = 0; i < nrows; i++) {
		ValueId v = rows[i].node->out;
		qn[i] = NULL;
		for (int j = 0; j < g->nodes.n && !qn[i]; j++)
			if (!g->nodes.v[j].dead && g->nodes.v[j].op == OP_QUANTIZE && g->nodes.v[j].in[0] == v)
				qn[i] = g->values.v[g->nodes.v[j].out].name;
		qn[i] = strdup(qn[i] ? qn[i] : rows[i].value);
	}
}

/* The names the quantize pass gives the float values of g (rows[i].value)
 * in the quantized build: an activation's quantized result, a value left
 * in float under its own name; NULL where the quantized build has none.
 * *gq: the graph after the quantize pass (QDQ form, what --emit-kir cuts
 * its neighbourhood from). */
static bool quant_names(const Opts *o, const QuantPlan *plan, Row *rows, int nrows, const char **qn, Graph **gq, Diag *d)
{
	Graph *g = driver_load_verified(o, d);
	if (!g)
		return false;
	QuantEdits ed = {0};
	PassCtx cx = {.diag = d, .quant = plan, .quant_edits = &ed};
	pass_quantize(g, &cx);
	for (int i = 0; !d->nerr && i < nrows; i++) {
		qn[i] = NULL;
		for (int j = 0; j < ed.n && !qn[i]; j++)
			if (ed.v[j].kind == QE_ACTIVATION && !strcmp(ed.v[j].value, rows[i].value))
				qn[i] = ed.v[j].q_name;
		if (!qn[i] && ir_find_value(g, rows[i].value) >= 0)
			qn[i] = rows[i].value;
		if (qn[i])
			qn[i] = strdup(qn[i]);
	}
	free(ed.v);
	*gq = g;
	return !d->nerr;
}

static const char *kind_title(Kind k, const Opts *o, char *buf, size_t n)
{
	if (k == K_FLOAT && !o->quantize)
		snprintf(buf, n, "the QDQ model's integer build vs its float form (activations unquantized, weights dequantized)");
	else if (k == K_O0)
		snprintf(buf, n, "-O%d vs -O0 (reference lowerings)", o->opt_level);
	else if (k == K_FLOAT)
		snprintf(buf, n, "int8 (--quantize, calibrated on %s) vs float", o->calib_dir);
	else
		snprintf(buf, n, "%s (under qemu-user) vs the host, -O%d", o->target, o->opt_level);
	return buf;
}

static void print_num(double x, bool db)
{
	if (isinf(x))
		printf(" %11s", x > 0 ? "inf" : "-inf");
	else
		printf(db ? " %11.1f" : " %11.3g", x);
}

int cmd_bisect(Opts *o)
{
	if (!o->model)
		return driver_fail("bisect: no model file given") + 1;
	if (!o->against)
		return driver_fail("bisect: --against float|O0|TARGET is required") + 1;
	if (!o->ninputs)
		return driver_fail("bisect: --input FILE... or --input FOLDER is required") + 1;
	Kind kind = !strcmp(o->against, "O0") || !strcmp(o->against, "-O0") ? K_O0
		    : !strcmp(o->against, "float")                        ? K_FLOAT
									  : K_CROSS;
	if (kind == K_CROSS) {
		if (o->target && strcmp(o->target, o->against))
			return driver_fail("bisect: --target %s and --against %s: give the target once", o->target,
					   o->against) + 1;
		o->target = o->against;
	} else if (o->target)
		return driver_fail("bisect: --target: the %s comparison runs on the host", o->against) + 1;
	if (kind == K_FLOAT && o->quantize && !o->calib_dir)
		return driver_fail("bisect: --quantize int8 needs --calib DIR") + 1;
	if (o->quantize && strcmp(o->quantize, "int8"))
		return driver_fail("--quantize '%s': expected int8", o->quantize) + 1;
	if (kind != K_FLOAT && o->quantize)
		return driver_fail("bisect: --quantize goes with --against float") + 1;
	CgOptions tcg;
	if (!driver_setup_target(o, &tcg))
		return 2;
	if (kind == K_CROSS && (!tcg.target->cross_cc || !tcg.target->qemu))
		return driver_fail("bisect: target %s has no cross compiler and qemu-user to run it with",
				   tcg.target->name) + 1;
	if (kind == K_O0 && o->opt_level == 0)
		return driver_fail("bisect: --against O0 compares an optimized build: -O1 or above") + 1;
	double tol = !isnan(o->tolerance) ? o->tolerance : kind == K_O0 ? TOL_O0 : kind == K_CROSS ? TOL_CROSS : TOL_FLOAT_DB;

	Diag d;
	diag_init(&d);
	Graph *g = driver_load_verified(o, &d);
	if (!g)
		return driver_fail_diag(&d) + 1;
	kiln_tensor ins[MAX_FILES];
	memset(ins, 0, sizeof ins);
	int nin = read_inputs(o, g, ins);
	Row *rows = calloc(g->nodes.n + 1, sizeof *rows);
	const char **na = calloc(g->nodes.n + 1, sizeof *na), **nb = calloc(g->nodes.n + 1, sizeof *nb);
	const char **qn = calloc(g->nodes.n + 1, sizeof *qn);
	Ptq ptq = {0};
	bool have_ptq = false;
	Graph *gq = NULL;  /* --quantize: the source graph in QDQ form */
	Side a = {0}, b = {0};
	bool a_open = false, b_open = false;
	int rc = 2, nrows = 0, ntap = 0;
	if (nin < 0 || !rows || !na || !nb || !qn)
		goto done;
	bool qdq = false;
	for (int i = 0; i < g->nodes.n; i++)
		qdq |= !g->nodes.v[i].dead && g->nodes.v[i].op == OP_QUANTIZE;
	if (kind == K_FLOAT && !o->quantize && !qdq) {
		driver_fail("bisect: --against float: %s has no quantized values; give --quantize int8 --calib DIR", o->model);
		goto done;
	}
	qdq &= kind == K_FLOAT && !o->quantize;
	for (int i = 0; i < g->nodes.n; i++) {
		const Node *n = &g->nodes.v[i];
		if (n->dead || (qdq && (n->op == OP_QUANTIZE || n->op == OP_DEQUANTIZE)))
			continue;
		rows[nrows] = (Row){.node = n, .value = g->values.v[n->out].name, .ta = -1, .tb = -1};
		nrows++;
	}
	if (qdq)
		qdq_names(g, rows, nrows, qn);
	else if (kind == K_FLOAT) {
		if (ptq_prepare(o, &ptq))
			goto done;
		have_ptq = true;
		if (!quant_names(o, &ptq.plan, rows, nrows, qn, &gq, &d))
			goto fail;
	}
	bool *keep = calloc(nrows + 1, sizeof *keep);
	if (!keep)
		goto done;
	for (int i = 0; i < nrows; i++)
		keep[i] = true;
	for (int i = 0; i < nrows; i++)
		na[i] = rows[i].value;
	if (kind != K_FLOAT || qdq) {
		Opts oh = *o;
		oh.target = NULL, oh.cpu = NULL, oh.features = NULL;
		bool ok = survivors(o, qdq ? qn : na, nrows, keep, &d) && (kind != K_CROSS || survivors(&oh, na, nrows, keep, &d));
		if (!ok) {
			free(keep);
			goto fail;
		}
	}
	for (int i = 0; i < nrows; i++) {
		Row *r = &rows[i];
		if (!keep[i]) {
			r->why = kind == K_O0 ? "not in the optimized build (fused into another node, folded or simplified)"
				 : qdq	      ? "not in the integer build (fused into another node)"
					      : "not in one of the builds (fused into another node, folded or simplified)";
			continue;
		}
		if (kind == K_FLOAT && !qn[i]) {
			r->why = "not in the quantized build (folded into the op before it)";
			continue;
		}
		na[ntap] = kind == K_FLOAT ? qn[i] : r->value;
		nb[ntap] = r->value;
		r->ta = r->tb = ntap++;
	}
	free(keep);

	/* The reference build B: on the host; -O0 with the plain lowerings
	 * (codegen reads KILN_CG_REFERENCE when it sets up a module). */
	Opts ob = *o;
	ob.target = NULL, ob.cpu = NULL, ob.features = NULL, ob.quant = NULL;
	if (kind == K_O0)
		ob.opt_level = 0;
	Graph *gb = driver_load_verified(&ob, &d);
	if (gb && qdq)
		strip_activation_qdq(gb);
	char *old_ref = getenv("KILN_CG_REFERENCE") ? strdup(getenv("KILN_CG_REFERENCE")) : NULL;
	if (kind == K_O0)
		setenv("KILN_CG_REFERENCE", "1", 1);
	b_open = gb && tap_open(&b.t, gb, &ob, NULL, nb, ntap, &d);
	if (kind == K_O0) {
		if (old_ref)
			setenv("KILN_CG_REFERENCE", old_ref, 1);
		else
			unsetenv("KILN_CG_REFERENCE");
	}
	free(old_ref);
	if (!b_open)
		goto fail;
	const void *inp[MAX_FILES];
	for (int i = 0; i < nin; i++)
		inp[i] = ins[i].data;
	if (!tap_run(&b.t, inp, &d))
		goto fail;

	/* The build under test A. */
	Opts oa = *o;
	Graph *ga = driver_load_verified(&oa, &d);
	if (!ga)
		goto fail;
	if (kind == K_CROSS) {
		a_open = true;
		if (!cross_open(&a, ga, &oa, na, ntap, &d) || !cross_run(&a, ins, nin, &d))
			goto fail;
	} else {
		oa.target = NULL;
		a_open = tap_open(&a.t, ga, &oa, have_ptq ? &ptq.plan : NULL, na, ntap, &d);
		if (!a_open || !tap_run(&a.t, inp, &d))
			goto fail;
	}

	/* Where fusion gave a value to another node, name that one. */
	for (int i = 0; (kind != K_FLOAT || qdq) && i < nrows; i++) {
		Row *r = &rows[i];
		ValueId v = r->ta >= 0 ? ir_find_value(a.t.g, na[r->ta]) : -1;
		const Node *n = v >= 0 && a.t.g->values.v[v].kind == VAL_NODE ? &a.t.g->nodes.v[a.t.g->values.v[v].def] : NULL;
		/* a float op between dequantize and quantize: the op, not the
		 * quantize; a tapped value the layout pass blocks: its producer,
		 * not the relayout to rows that makes it an output */
		while (n && (n->op == OP_QUANTIZE || n->op == OP_DEQUANTIZE || n->op == OP_RELAYOUT) &&
		       a.t.g->values.v[n->in[0]].kind == VAL_NODE)
			n = &a.t.g->nodes.v[a.t.g->values.v[n->in[0]].def];
		if (n && strcmp(n->name, r->node->name))
			r->anode = n;
	}

	/* Compare, in the source graph's order. */
	int64_t most = 1;
	for (int i = 0; i < ntap; i++) {
		int64_t x = a.t.numel[a.t.tap_out[i]], y = b.t.numel[b.t.tap_out[i]];
		most = x > most ? x : y > most ? y : most;
	}
	float *fa = malloc(most * sizeof *fa), *fb = malloc(most * sizeof *fb);
	if (!fa || !fb) {
		free(fa), free(fb);
		diag_error(&d, o->model, NULL, NULL, "out of memory");
		goto fail;
	}
	int first = -1, worst = -1, ncmp = 0;
	for (int i = 0; i < nrows; i++) {
		Row *r = &rows[i];
		if (r->ta < 0)
			continue;
		int ka = a.t.tap_out[r->ta], kb = b.t.tap_out[r->tb];
		if (a.t.numel[ka] != b.t.numel[kb]) {
			r->why = "the builds give it different shapes";
			r->ta = -1;
			continue;
		}
		tap_read_f32(&a.t, ka, fa);
		tap_read_f32(&b.t, kb, fb);
		compare(r, fa, fb, a.t.numel[ka]);
		ncmp++;
		r->past = kind == K_FLOAT ? !(r->sqnr >= tol) : !(r->rel <= tol);
		if (r->past && first < 0)
			first = i;
		if (kind == K_FLOAT && ir_value_type(g, r->node->out)->dt == DT_F32 && (worst < 0 || r->sqnr < rows[worst].sqnr))
			worst = i;
	}
	free(fa), free(fb);

	/* The table. */
	char title[512];
	int w = 4;
	for (int i = 0; i < nrows; i++) {
		int l = (int)strlen(node_name(g, rows[i].node));
		w = l > w ? l : w;
	}
	printf("kiln bisect: %s: %s\n", o->model, kind_title(kind, o, title, sizeof title));
	if (kind == K_FLOAT)
		printf("tolerance: SQNR >= %g dB per value\n", tol);
	else
		printf("tolerance: max rel err <= %g (largest difference / largest |value| of the reference)\n", tol);
	printf("%5s  %-*s  %-18s %11s %11s %11s\n", "#", w, "node", "op", "max abs err", "max rel err", "SQNR dB");
	for (int i = 0; i < nrows; i++) {
		const Row *r = &rows[i];
		printf("%5d  %-*s  %-18s", i + 1, w, node_name(g, r->node), node_op(r->node));
		if (r->ta < 0) {
			printf(" %11s %11s %11s  not compared: %s\n", "-", "-", "-", r->why);
			continue;
		}
		print_num(r->abs, false);
		print_num(r->rel, false);
		print_num(r->sqnr, true);
		printf("%s", i == first ? "  <- first past tolerance" : r->past ? "  past" : "");
		if (r->anode)
			printf("  (computed by '%s' (%s%s%s))", node_name(a.t.g, r->anode), ir_ops[r->anode->op].name,
			       ir_attr(r->anode, "act") ? "+" : "", ir_attr_str(r->anode, "act", ""));
		printf("\n");
	}
	printf("compared %d of %d values", ncmp, nrows);
	if (ncmp < nrows)
		printf(" (%d not compared: see the table)", nrows - ncmp);
	printf("\n");
	if (worst >= 0)
		printf("worst SQNR: node '%s' (%s): %.1f dB\n", node_name(g, rows[worst].node), node_op(rows[worst].node),
		       rows[worst].sqnr);
	if (first < 0) {
		printf("the builds agree within tolerance\n");
		rc = 0;
	} else {
		const Row *r = &rows[first];
		/* the node to look at is the one that computes the value in build A */
		if (r->anode)
			printf("first past tolerance: node '%s' (%s%s%s; the source's '%s' (%s) fused into it), value '%s': ",
			       node_name(a.t.g, r->anode), ir_ops[r->anode->op].name, ir_attr(r->anode, "act") ? "+" : "",
			       ir_attr_str(r->anode, "act", ""), node_name(g, r->node), node_op(r->node), r->value);
		else
			printf("first past tolerance: node '%s' (%s), value '%s': ", node_name(g, r->node), node_op(r->node),
			       r->value);
		if (kind == K_FLOAT)
			printf("SQNR %.1f dB < %g dB\n", r->sqnr, tol);
		else
			printf("max rel err %.3g > %g (max abs err %.3g)\n", r->rel, tol, r->abs);
		rc = 1;
		/* quantized: up to the quantized value compared, in the QDQ form */
		if (o->emit_kir && !emit_kir(o->emit_kir, gq ? gq : g, r, gq ? na[r->ta] : r->value, rows, nrows, &b.t, ins, o))
			rc = 2;
	}
	if (o->emit_kir && first < 0)
		fprintf(stderr, "kiln: note: bisect: nothing past tolerance, so no %s written\n", o->emit_kir);
	goto done;
fail:
	rc = driver_fail_diag(&d) + 1;
done:
	if (a_open)
		side_close(&a);
	if (b_open)
		side_close(&b);
	for (int i = 0; qn && i < nrows; i++)
		free((char *)qn[i]);
	free(qn), free(na), free(nb), free(rows);
	for (int i = 0; i < MAX_FILES; i++)
		if (ins[i].data)
			kiln_tensor_free(&ins[i]);
	if (have_ptq)
		ptq_free(&ptq);
	if (gq)
		ir_graph_free(gq);
	ir_graph_free(g);
	diag_free(&d);
	return rc;
}
