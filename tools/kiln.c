/* The kiln driver: argument parsing and nothing clever.  Each subcommand
 * loads a model, runs the pass pipeline and hands the graph to codegen. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include "codegen.h"
#include "frontend.h"
#include "kiln_io.h"
#include "kiln_pthread.h"
#include "passes.h"
#include "report.h"

#define KILN_VERSION "0.1.0"
#define MAX_FILES 64

typedef struct Opts {
	const char *cmd;
	const char *model;
	const char *out;
	const char *name;
	const char *target;
	const char *cpu;
	const char *features;
	const char *emit;
	const char *passes;
	const char *print_after;
	const char *output_dir;
	const char *test_dir;
	const char *report;
	const char *dump_dir;
	int opt_level;
	bool print_after_all, verify_each, time_passes;
	int64_t max_ram;
	int layout;   /* PassCtx.layout */
	int ninputs;
	const char *inputs[MAX_FILES];
	ImportOptions imp;
	kiln_tensor const_vals[IMPORT_MAX_SHAPES];  /* --const NAME=FILE values */
	double rtol, atol;
	int runs, warmup, threads;
} Opts;

static const char usage[] =
	"usage: kiln COMMAND [options]\n"
	"\n"
	"commands:\n"
	"  compile MODEL -o OUT.o   compile to an object file and OUT.h\n"
	"  run MODEL --input F...   run through the same codegen, in process\n"
	"  run --test-dir DIR       run an ONNX backend-test folder\n"
	"  check MODEL              list everything kiln cannot compile\n"
	"  dump MODEL               print the IR (after the pipeline)\n"
	"  bench MODEL              median latency of N runs\n"
	"\n"
	"options:\n"
	"  -o FILE                  output file (compile; '-' = stdout for text emits)\n"
	"  --name P                 symbol prefix (default: output file stem)\n"
	"  --target T               target triple (default: host); see --help targets\n"
	"  --cpu NAME, --features +a,-b\n"
	"  -O0 .. -O3               optimization level (default -O3)\n"
	"  --emit obj|asm|llvm|bc|kir|header\n"
	"  --shape NAME=d0,d1,...   bind an input's shape or a symbolic dim\n"
	"  --const NAME=FILE        make graph input NAME a constant (.pb or .npy value)\n"
	"  --passes a,b,c|none      run these passes instead of the -O pipeline\n"
	"  --print-after PASS, --print-after-all, --verify-each, --time-passes\n"
	"  --dump-dir DIR           --print-after output as DIR/NN-PASS.kir\n"
	"  --report FILE            (compile) JSON summary: nodes, weights, workspace, MACs\n"
"  --max-ram BYTES          fail if the workspace would exceed BYTES\n"
	"  --layout auto|rows|blocks  activation layout (layout pass): by gain (default), NCHW, all blockable\n"
	"  --input FILE             (run) input tensor, .pb or .npy, in graph order\n"
	"  --output-dir DIR         (run) write DIR/output_<i>.pb\n"
	"  --test-dir DIR           (run) ONNX backend-test folder\n"
	"  --rtol R, --atol A       (run --test-dir) tolerances (1e-4, 1e-5)\n"
	"  --runs N, --warmup W     (bench) repetitions (50, 5)\n"
	"  --version, --help\n";

/* kiln COMMAND --help, kiln help COMMAND. */
static const struct {
	const char *cmd, *text;
} cmd_help[] = {
	{"compile",
	 "usage: kiln compile MODEL -o OUT.o [options]\n"
	 "Compile MODEL (.onnx, .json or .kir) to an object file OUT.o and its header OUT.h.\n"
	 "  -o FILE                  output ('-' or absent: stdout, for asm/llvm/kir/header)\n"
	 "  --name P                 symbol prefix (default: output file stem)\n"
	 "  --target T               target triple (default: host)\n"
	 "  --cpu NAME, --features +a,-b\n"
	 "  -O0 .. -O3               optimization level (default -O3)\n"
	 "  --emit obj|asm|llvm|bc|kir|header\n"
	 "  --shape NAME=d0,d1,...   bind an input's shape or a symbolic dim (repeatable)\n"
	 "  --const NAME=FILE        make graph input NAME a constant (.pb or .npy value)\n"
	 "  --passes a,b,c|none      run these passes instead of the -O pipeline\n"
	 "  --print-after PASS, --print-after-all, --dump-dir DIR\n"
	 "  --verify-each, --time-passes\n"
	 "  --report FILE            JSON summary: nodes, weights, workspace, MACs\n"
	 "  --max-ram BYTES          fail if the workspace would exceed BYTES\n"
	 "  --layout auto|rows|blocks  activation layout: by gain (default), NCHW, every class that can be blocked\n"},
	{"run",
	 "usage: kiln run MODEL --input FILE... [--output-dir D]\n"
	 "       kiln run --test-dir DIR [--rtol R] [--atol A]\n"
	 "Run MODEL in process (JIT, same codegen as compile).\n"
	 "  --input FILE             input tensor (.pb or .npy), repeated in graph input order\n"
	 "  --output-dir DIR         write DIR/output_<i>.pb (default: print a summary)\n"
	 "  --test-dir DIR           ONNX backend-test folder: model.onnx, test_data_set_*/\n"
	 "  --rtol R, --atol A       tolerances for --test-dir (1e-4, 1e-5)\n"
	 "  also: -O0..-O3, --shape, --const, --passes, --print-after[-all], --verify-each, --time-passes\n"},
	{"check",
	 "usage: kiln check MODEL [--target T]\n"
	 "List everything in MODEL that kiln cannot compile, or print 'MODEL: ok'.\n"},
	{"dump",
	 "usage: kiln dump MODEL [--passes LIST] [--emit kir|dot|llvm]\n"
	 "Print the IR after the pipeline (--passes=none: as imported) to stdout.\n"
	 "  also: -O0..-O3, --shape, --const, --print-after[-all], --dump-dir, --verify-each, --time-passes\n"},
	{"bench",
	 "usage: kiln bench MODEL [--runs N] [--warmup W] [--threads T]\n"
	 "JIT-compile MODEL and print the median, min and max latency on fixed random inputs.\n"
	 "  --runs N                 timed runs (default 50)\n"
	 "  --warmup W               untimed runs first (default 5)\n"
	 "  --threads T              run through NAME_run_parallel on a pool of T threads (default 1)\n"},
};

static void print_help(const char *cmd)
{
	for (size_t i = 0; cmd && i < sizeof cmd_help / sizeof cmd_help[0]; i++)
		if (!strcmp(cmd, cmd_help[i].cmd)) {
			fputs(cmd_help[i].text, stdout);
			return;
		}
	fputs(usage, stdout);
}

static int fail(const char *fmt, ...)
{
	va_list ap;
	fputs("kiln: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int fail_diag(Diag *d)
{
	if (d->nmsg == 0)
		diag_error(d, NULL, NULL, NULL, "failed (no further detail)");
	diag_print(d, stderr);
	diag_free(d);
	return 1;
}

static bool parse_int(const char *s, int64_t *v)
{
	char *e;
	errno = 0;
	long long x = strtoll(s, &e, 10);
	if (errno || e == s || *e)
		return false;
	*v = x;
	return true;
}

static bool parse_double(const char *s, double *v)
{
	char *e;
	*v = strtod(s, &e);
	return e != s && !*e;
}

/* A model file by its extension (for telling `--input a.pb m.onnx` apart). */
static bool is_model_path(const char *s)
{
	const char *dot = strrchr(s, '.');
	return dot && (!strcmp(dot, ".onnx") || !strcmp(dot, ".json") || !strcmp(dot, ".kir"));
}

/* Parse argv into o; returns 0 or an exit status. */
static int parse_args(int argc, char **argv, Opts *o)
{
	o->opt_level = 3;
	o->rtol = 1e-4;
	o->atol = 1e-5;
	o->runs = 50;
	o->warmup = 5;
	o->threads = 1;
	bool in_inputs = false;  /* after --input: bare words are more inputs */
	for (int i = 2; i < argc; i++) {
		char *a = argv[i];
		if (a[0] != '-' || !a[1]) {
			if (in_inputs && (o->model || !is_model_path(a))) {
				if (o->ninputs == MAX_FILES)
					return fail("too many --input files (at most %d)", MAX_FILES);
				o->inputs[o->ninputs++] = a;
				continue;
			}
			if (o->model)
				return fail("unexpected argument '%s' (one model per command)", a);
			o->model = a;
			continue;
		}
		in_inputs = false;
		if (!strncmp(a, "-O", 2) && a[2] >= '0' && a[2] <= '3' && !a[3]) {
			o->opt_level = a[2] - '0';
			continue;
		}
		if (!strcmp(a, "--print-after-all")) { o->print_after_all = true; continue; }
		if (!strcmp(a, "--verify-each")) { o->verify_each = true; continue; }
		if (!strcmp(a, "--time-passes")) { o->time_passes = true; continue; }
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) { print_help(o->cmd); exit(0); }
		/* Options with a value: --opt=value or --opt value. */
		char *val = strchr(a, '=');
		char key[64];
		size_t kl = val ? (size_t)(val - a) : strlen(a);
		if (kl >= sizeof key)
			return fail("unknown option '%s'", a);
		memcpy(key, a, kl);
		key[kl] = 0;
		static const char *const valued[] = {"-o", "--name", "--target", "--cpu", "--features", "--emit",
			"--passes", "--print-after", "--output-dir", "--test-dir", "--input", "--shape", "--max-ram", "--layout",
			"--runs", "--warmup", "--threads", "--rtol", "--atol", "--report", "--dump-dir", "--const", NULL};
		bool known = false;
		for (const char *const *k = valued; *k; k++)
			known |= !strcmp(*k, key);
		if (!known)
			return fail("unknown option '%s' (see kiln --help)", key);
		if (val)
			val++;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return fail("option '%s' needs a value", a);
		int64_t n;
		if (!strcmp(key, "-o")) o->out = val;
		else if (!strcmp(key, "--name")) o->name = val;
		else if (!strcmp(key, "--target")) o->target = val;
		else if (!strcmp(key, "--cpu")) o->cpu = val;
		else if (!strcmp(key, "--features")) o->features = val;
		else if (!strcmp(key, "--emit")) o->emit = val;
		else if (!strcmp(key, "--passes")) o->passes = val;
		else if (!strcmp(key, "--print-after")) o->print_after = val;
		else if (!strcmp(key, "--output-dir")) o->output_dir = val;
		else if (!strcmp(key, "--test-dir")) o->test_dir = val;
		else if (!strcmp(key, "--report")) o->report = val;
		else if (!strcmp(key, "--dump-dir")) o->dump_dir = val;
		else if (!strcmp(key, "--input")) {
			in_inputs = true;
			if (o->ninputs == MAX_FILES)
				return fail("too many --input files (at most %d)", MAX_FILES);
			o->inputs[o->ninputs++] = val;
		} else if (!strcmp(key, "--const")) {
			char *eq = strchr(val, '='), err[512];
			int k = o->imp.nconsts;
			if (!eq || eq == val || !eq[1])
				return fail("--const '%s': expected NAME=FILE (a .pb or .npy tensor)", val);
			if (k == IMPORT_MAX_SHAPES)
				return fail("too many --const bindings");
			*eq = 0;
			if (kiln_tensor_read(eq + 1, &o->const_vals[k], err, sizeof err))
				return fail("%s", err);
			kiln_tensor *t = &o->const_vals[k];
			ConstBinding *b = &o->imp.consts[o->imp.nconsts++];
			*b = (ConstBinding){.name = val, .dt = ir_dtype_from_onnx(t->dtype), .rank = t->rank, .data = t->data};
			memcpy(b->dims, t->shape, sizeof b->dims);
			if (b->dt == DT_UNDEF)
				return fail("--const %s: unsupported dtype", val);
		} else if (!strcmp(key, "--shape")) {
			if (o->imp.nshapes == IMPORT_MAX_SHAPES)
				return fail("too many --shape bindings");
			if (!frontend_parse_shape_arg(val, &o->imp.shapes[o->imp.nshapes++]))
				return fail("--shape '%s': expected NAME=d0,d1,... with non-negative dims", val);
		} else if (!strcmp(key, "--layout")) {
			static const char *const modes[] = {"auto", "rows", "blocks"};
			o->layout = -1;
			for (int m = 0; m < 3; m++)
				if (!strcmp(val, modes[m]))
					o->layout = m;
			if (o->layout < 0)
				return fail("--layout '%s': expected auto, rows or blocks", val);
		} else if (!strcmp(key, "--max-ram")) {
			if (!parse_int(val, &n) || n <= 0)
				return fail("--max-ram '%s': expected a positive number of bytes", val);
			o->max_ram = n;
		} else if (!strcmp(key, "--threads")) {
			if (!parse_int(val, &n) || n < 1 || n > 256)
				return fail("--threads '%s': expected 1 to 256", val);
			o->threads = (int)n;
		} else if (!strcmp(key, "--runs") || !strcmp(key, "--warmup")) {
			if (!parse_int(val, &n) || n < (key[2] == 'r') || n > 1000000)
				return fail("%s '%s': expected a count", key, val);
			*(key[2] == 'r' ? &o->runs : &o->warmup) = (int)n;
		} else if (!strcmp(key, "--rtol") || !strcmp(key, "--atol")) {
			double d;
			if (!parse_double(val, &d) || d < 0)
				return fail("%s '%s': expected a non-negative number", key, val);
			*(key[2] == 'r' ? &o->rtol : &o->atol) = d;
		} else
			return fail("unknown option '%s' (see kiln --help)", key);
	}
	return 0;
}

/* ---- common steps --------------------------------------------------------- */

static bool setup_target(const Opts *o, CgOptions *cg)
{
	memset(cg, 0, sizeof *cg);
	cg->opt_level = o->opt_level;
	cg->cpu = o->cpu;
	cg->features = o->features;
	if (o->target) {
		cg->target = tgt_find(o->target);
		if (!cg->target) {
			char known[512] = "";
			size_t k = 0;
			for (const Target *const *t = tgt_all(); *t; t++)
				k += snprintf(known + k, sizeof known - k, "%s%s", k ? ", " : "", (*t)->name);
			fail("unknown target triple '%s' (known: %s)", o->target, known);
			return false;
		}
	}
	return true;
}

/* Load the model; the importers promise a verified graph, and we hold them
 * to it (a failure here is our bug, reported as one). */
static Graph *load_verified(const Opts *o, Diag *d)
{
	ImportOptions imp = o->imp;
	imp.fold = cg_fold;  /* shape programs are evaluated by the code generator */
	Graph *g = frontend_load(o->model, &imp, d);
	if (!g)
		return NULL;
	Diag vd;
	diag_init(&vd);
	if (!ir_verify(g, &vd)) {
		diag_error(d, NULL, NULL, NULL, "internal: the imported graph does not verify: %s",
			   vd.nmsg ? vd.msgs[0] : "?");
		diag_free(&vd);
		ir_graph_free(g);
		return NULL;
	}
	diag_free(&vd);
	return g;
}

/* Load the model and run the pipeline; cx (may be NULL) receives the pass
 * log, imported the node count before any pass. */
static Graph *load_and_optimize(const Opts *o, Diag *d, bool plan, PassCtx *cx_out, int *imported)
{
	if (!o->model) {
		fail("%s: no model file given", o->cmd);
		return NULL;
	}
	if (o->dump_dir && mkdir(o->dump_dir, 0777) != 0 && errno != EEXIST) {
		fail("%s: cannot create the folder", o->dump_dir);
		return NULL;
	}
	Graph *g = load_verified(o, d);
	if (!g)
		return NULL;
	if (imported)
		*imported = g->nodes.n;
	PassCtx local, *cx = cx_out ? cx_out : &local;
	*cx = (PassCtx){
		.diag = d, .opt_level = o->opt_level, .verify_each = o->verify_each,
		.print_after = o->print_after, .print_after_all = o->print_after_all,
		.time_passes = o->time_passes, .max_ram = o->max_ram, .layout = o->layout, .ws_align = 64, .dump_dir = o->dump_dir,
		.fold = cg_fold,  /* the fold pass evaluates through the code generator */
	};
	CgOptions cg;
	if (!setup_target(o, &cg)) {  /* the commands check it first; this is for the lanes */
		ir_graph_free(g);
		return NULL;
	}
	cx->vector_lanes = cg_vector_lanes(&cg);
	if (!pass_run_pipeline(g, o->passes, cx) || (plan && !pass_ensure_plan(g, cx))) {
		ir_graph_free(g);
		return NULL;
	}
	return g;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/* ---- compile ----------------------------------------------------------------- */

/* Text outputs are written beside their destination and renamed into
 * place, so a failure leaves nothing at path. */
static FILE *open_tmp(const char *path, char *tmp, size_t n)
{
	if ((size_t)snprintf(tmp, n, "%s.kiln-tmp", path) >= n)
		return NULL;
	return fopen(tmp, "wb");
}

static bool close_tmp(FILE *f, const char *tmp, const char *path)
{
	bool ok = !ferror(f);
	ok &= fclose(f) == 0;
	if (ok && rename(tmp, path) == 0)
		return true;
	remove(tmp);
	return false;
}

/* asm, llvm, bc to stdout: codegen writes files, so go through one. */
static int emit_to_stdout(Graph *g, const CgOptions *cg, CgEmit kind, Diag *d)
{
	if (kind == EMIT_BC && isatty(STDOUT_FILENO))
		return fail("compile: not writing bitcode to a terminal; give -o FILE");
	char tmp[] = "/tmp/kiln-emit-XXXXXX";
	int fd = mkstemp(tmp);
	if (fd < 0)
		return fail("cannot create a temporary file");
	close(fd);
	int rc = 0;
	if (!cg_emit(g, cg, kind, tmp, d))
		rc = fail_diag(d);
	else {
		FILE *f = fopen(tmp, "rb");
		char buf[65536];
		size_t n;
		while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
			fwrite(buf, 1, n, stdout);
		if (!f || ferror(f) || fflush(stdout) != 0)
			rc = fail("cannot copy the output to stdout");
		if (f)
			fclose(f);
	}
	remove(tmp);
	return rc;
}

static int cmd_compile(Opts *o)
{
	const char *emit = o->emit ? o->emit : "obj";
	CgEmit kind;
	if (!strcmp(emit, "obj")) kind = EMIT_OBJ;
	else if (!strcmp(emit, "asm")) kind = EMIT_ASM;
	else if (!strcmp(emit, "llvm")) kind = EMIT_LLVM;
	else if (!strcmp(emit, "bc")) kind = EMIT_BC;
	else if (!strcmp(emit, "kir") || !strcmp(emit, "header")) kind = EMIT_OBJ;
	else
		return fail("--emit '%s': expected obj, asm, llvm, bc, kir or header", emit);
	bool to_stdout = !o->out || !strcmp(o->out, "-");
	if (to_stdout && (kind == EMIT_OBJ && strcmp(emit, "kir") && strcmp(emit, "header")))
		return fail("compile: -o OUT.o is required for --emit obj");
	CgOptions cg;
	if (!setup_target(o, &cg))
		return 1;
	Diag d;
	diag_init(&d);
	PassCtx cx;
	int imported = 0;
	Graph *g = load_and_optimize(o, &d, true, &cx, &imported);
	if (!g)
		return fail_diag(&d);

	char name[256];
	cg_sanitize_name(o->name ? o->name : to_stdout ? g->name : base_name(o->out), name, sizeof name);
	cg.name = name;
	/* OUT.o -> OUT.h beside it. */
	char hdr[4096] = "";
	if (!to_stdout && !strcmp(emit, "obj")) {
		const char *dot = strrchr(base_name(o->out), '.');
		size_t stem = dot ? (size_t)(dot - o->out) : strlen(o->out);
		if (stem + 3 > sizeof hdr) {
			ir_graph_free(g);
			diag_free(&d);
			return fail("%s: path too long", o->out);
		}
		memcpy(hdr, o->out, stem);
		strcpy(hdr + stem, ".h");
		if (!strcmp(hdr, o->out)) {
			ir_graph_free(g);
			diag_free(&d);
			return fail("%s: the object would be overwritten by its header; name it .o", o->out);
		}
	}
	int rc = 0;
	if (!strcmp(emit, "kir")) {
		char tmp[4200];
		FILE *f = to_stdout ? stdout : open_tmp(o->out, tmp, sizeof tmp);
		if (!f)
			rc = fail("%s: cannot create", o->out);
		else {
			ir_print(g, f);
			if (!to_stdout && !close_tmp(f, tmp, o->out))
				rc = fail("%s: cannot write", o->out);
		}
	} else if (!strcmp(emit, "header")) {
		if (to_stdout)
			cg_write_header(g, &cg, stdout);
		else if (!cg_emit_header(g, &cg, o->out, &d))
			rc = fail_diag(&d);
	} else if (!cg_check(g, &cg, &d)) {
		rc = fail_diag(&d);
	} else if (to_stdout) {
		rc = emit_to_stdout(g, &cg, kind, &d);
	} else if (!cg_emit(g, &cg, kind, o->out, &d)) {
		rc = fail_diag(&d);
	} else if (hdr[0] && !cg_emit_header(g, &cg, hdr, &d)) {
		remove(o->out);
		rc = fail_diag(&d);
	}
	if (!rc && o->report) {
		char tmp[4200];
		FILE *f = open_tmp(o->report, tmp, sizeof tmp);
		if (f)
			report_write(f, g, imported, &cx);
		if (!f || !close_tmp(f, tmp, o->report)) {
			/* All or nothing: the outputs go with the report. */
			if (!to_stdout) {
				remove(o->out);
				if (hdr[0])
					remove(hdr);
			}
			rc = fail("%s: cannot write the report", o->report);
		}
	}
	ir_graph_free(g);
	diag_free(&d);
	return rc;
}

/* ---- check, dump -------------------------------------------------------------- */

static int cmd_check(Opts *o)
{
	CgOptions cg;
	if (!setup_target(o, &cg))
		return 1;
	if (!o->model)
		return fail("check: no model file given");
	o->imp.check_all = true;
	Diag d;
	diag_init(&d);
	Graph *g = load_verified(o, &d);
	if (!g)
		return fail_diag(&d);
	if (!cg_check(g, &cg, &d)) {
		ir_graph_free(g);
		return fail_diag(&d);
	}
	int live = 0;
	for (int i = 0; i < g->nodes.n; i++)
		live += !g->nodes.v[i].dead;
	printf("%s: ok (%d nodes, all supported)\n", o->model, live);
	ir_graph_free(g);
	diag_free(&d);
	return 0;
}

static int cmd_dump(Opts *o)
{
	const char *emit = o->emit ? o->emit : "kir";
	Diag d;
	diag_init(&d);
	if (!strcmp(emit, "llvm")) {
		o->emit = "llvm";
		return cmd_compile(o);
	}
	if (strcmp(emit, "kir") && strcmp(emit, "dot"))
		return fail("dump: --emit '%s': expected kir, dot or llvm", emit);
	CgOptions cg;
	if (!setup_target(o, &cg))  /* the layout pass asks the target's vector width */
		return 1;
	Graph *g = load_and_optimize(o, &d, false, NULL, NULL);
	if (!g)
		return fail_diag(&d);
	if (!strcmp(emit, "dot"))
		ir_print_dot(g, stdout);
	else
		ir_print(g, stdout);
	ir_graph_free(g);
	return 0;
}

/* ---- run, bench, test-dir --------------------------------------------------------- */

typedef struct Runner {
	Graph *g;
	CgJit *jit;
	KilnRunFn fn;
	void *ws;
} Runner;

static bool runner_open(Opts *o, Runner *r, Diag *d)
{
	memset(r, 0, sizeof *r);
	CgOptions cg;
	if (!setup_target(o, &cg))
		return false;
	if (cg.target) {
		fail("run: --target is not supported; kiln run executes on the host");
		return false;
	}
	r->g = load_and_optimize(o, d, true, NULL, NULL);
	if (!r->g)
		return false;
	char name[256];
	cg_sanitize_name(r->g->name, name, sizeof name);
	cg.name = name;
	if (!cg_check(r->g, &cg, d) || !(r->jit = cg_jit_new(r->g, &cg, d)))
		return false;
	r->fn = cg_jit_fn(r->jit);
	size_t al = r->g->ws_align, sz = r->g->ws_size;
	r->ws = aligned_alloc(al, (sz + al) / al * al);
	if (!r->ws) {
		diag_error(d, NULL, NULL, NULL, "out of memory for a %zu-byte workspace", sz);
		return false;
	}
	return true;
}

static void runner_close(Runner *r)
{
	free(r->ws);
	if (r->jit)
		cg_jit_free(r->jit);
	ir_graph_free(r->g);
}

/* Check a tensor against graph input i. */
static bool check_input(const Graph *g, int i, const kiln_tensor *t, const char *path, Diag *d)
{
	const Value *v = &g->values.v[g->inputs.v[i]];
	const Type *ty = ir_type_get(g, v->type);
	/* Equal up to dims of 1: a scalar, [1] and [1,1] hold the same
	 * bytes, as do [1,6] and [6]; [2,3] and [3,2] do not match. */
	/* ONNX's own test data stores bfloat16 as uint16 (numpy has no
	 * bfloat16): the same bits, accepted as such. */
	bool same = t->dtype == ir_dtype_onnx(ty->dt) || (ty->dt == DT_BF16 && t->dtype == KILN_U16);
	int a = 0, b = 0;
	while (same) {
		while (a < t->rank && t->shape[a] == 1)
			a++;
		while (b < ty->rank && ty->dims[b] == 1)
			b++;
		if (a == t->rank || b == ty->rank) {
			same = a == t->rank && b == ty->rank;
			break;
		}
		same = t->shape[a++] == ty->dims[b++];
	}
	if (!same) {
		char want[256], got[256];
		int k = snprintf(want, sizeof want, "%s[", ir_dtype_name(ty->dt));
		for (int j = 0; j < ty->rank; j++)
			k += snprintf(want + k, sizeof want - k, "%s%lld", j ? "," : "", (long long)ty->dims[j]);
		snprintf(want + k, sizeof want - k, "]");
		k = snprintf(got, sizeof got, "%s[", kiln_dtype_name(t->dtype));
		for (int j = 0; j < t->rank; j++)
			k += snprintf(got + k, sizeof got - k, "%s%lld", j ? "," : "", (long long)t->shape[j]);
		snprintf(got + k, sizeof got - k, "]");
		diag_error(d, path, NULL, NULL, "input %d '%s' must be %s, the file holds %s", i, v->name, want, got);
		return false;
	}
	return true;
}

/* Run with input tensors; fills outs (allocated, typed per graph outputs). */
static bool runner_exec(Runner *r, kiln_tensor *ins, kiln_tensor *outs, Diag *d)
{
	Graph *g = r->g;
	const void *inp[MAX_FILES];
	void *outp[MAX_FILES];
	if (g->outputs.n > MAX_FILES || g->inputs.n > MAX_FILES) {
		diag_error(d, g->file, NULL, NULL, "too many inputs or outputs for kiln run");
		return false;
	}
	for (int i = 0; i < g->inputs.n; i++)
		inp[i] = ins[i].data;
	for (int i = 0; i < g->outputs.n; i++) {
		const Value *v = &g->values.v[g->outputs.v[i]];
		const Type *ty = ir_type_get(g, v->type);
		kiln_tensor *t = &outs[i];
		memset(t, 0, sizeof *t);
		snprintf(t->name, sizeof t->name, "%s", v->name);
		t->dtype = ir_dtype_onnx(ty->dt);
		t->rank = ty->rank;
		for (int k = 0; k < ty->rank; k++)
			t->shape[k] = ty->dims[k];
		t->bytes = (size_t)ir_type_bytes(ty);
		t->data = malloc(t->bytes ? t->bytes : 1);
		if (!t->data) {
			diag_error(d, NULL, NULL, NULL, "out of memory");
			return false;
		}
		outp[i] = t->data;
	}
	int rc = r->fn(inp, outp, r->ws);
	if (rc) {
		diag_error(d, g->file, NULL, NULL, "the compiled model returned status %d", rc);
		return false;
	}
	return true;
}

static double half_to_double(uint16_t h)
{
	int e = h >> 10 & 31, m = h & 1023;
	double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m | 1024, e - 25);
	return h >> 15 ? -v : v;
}

static double elem(const kiln_tensor *t, size_t i)
{
	const void *p = t->data;
	switch (t->dtype) {
	case KILN_F16: return half_to_double(((const uint16_t *)p)[i]);
	case KILN_BF16: {
		uint32_t u = (uint32_t)((const uint16_t *)p)[i] << 16;
		float f;
		memcpy(&f, &u, sizeof f);
		return f;
	}
	case KILN_F32: return ((const float *)p)[i];
	case KILN_F64: return ((const double *)p)[i];
	case KILN_I8: case KILN_I4: return ((const int8_t *)p)[i];  /* i4/u4: one per byte */
	case KILN_U8: case KILN_U4: case KILN_BOOL: return ((const uint8_t *)p)[i];
	case KILN_I16: return ((const int16_t *)p)[i];
	case KILN_U16: return ((const uint16_t *)p)[i];
	case KILN_I32: return ((const int32_t *)p)[i];
	case KILN_U32: return ((const uint32_t *)p)[i];
	case KILN_I64: return (double)((const int64_t *)p)[i];
	case KILN_U64: return (double)((const uint64_t *)p)[i];
	default: {
		DType dt = ir_dtype_from_onnx(t->dtype);
		return ir_dtype_is_f8(dt) ? ir_f8_to_f32(dt, ((const uint8_t *)p)[i]) : 0;
	}
	}
}

/* " v0 v1 ... vN-1 ..." : the first n values of t, any dtype. */
static void print_values(const kiln_tensor *t, size_t n)
{
	size_t numel = kiln_tensor_numel(t);
	for (size_t k = 0; k < numel && k < n; k++)
		printf(" %.6g", elem(t, k));
	printf("%s\n", numel > n ? " ..." : "");
}

static int cmd_run_files(Opts *o)
{
	Diag d;
	diag_init(&d);
	Runner r;
	kiln_tensor ins[MAX_FILES] = {0}, outs[MAX_FILES] = {0};
	int rc = 1;
	if (!runner_open(o, &r, &d))
		goto done;
	if (o->ninputs != r.g->inputs.n) {
		diag_error(&d, o->model, NULL, NULL, "the model has %d inputs, %d --input files given",
			   r.g->inputs.n, o->ninputs);
		goto done;
	}
	for (int i = 0; i < o->ninputs; i++) {
		char err[512];
		if (kiln_tensor_read(o->inputs[i], &ins[i], err, sizeof err)) {
			diag_error(&d, NULL, NULL, NULL, "%s", err);
			goto done;
		}
		if (!check_input(r.g, i, &ins[i], o->inputs[i], &d))
			goto done;
	}
	if (!runner_exec(&r, ins, outs, &d))
		goto done;
	if (o->output_dir)
		mkdir(o->output_dir, 0777);
	for (int i = 0; i < r.g->outputs.n; i++) {
		if (o->output_dir) {
			char path[4096], err[512];
			snprintf(path, sizeof path, "%s/output_%d.pb", o->output_dir, i);
			if (kiln_tensor_write_pb(path, &outs[i], err, sizeof err)) {
				diag_error(&d, NULL, NULL, NULL, "%s", err);
				goto done;
			}
		} else {
			kiln_tensor *t = &outs[i];
			printf("output %d '%s' %s[", i, t->name, kiln_dtype_name(t->dtype));
			for (int k = 0; k < t->rank; k++)
				printf("%s%lld", k ? "," : "", (long long)t->shape[k]);
			printf("]");
			print_values(t, 8);
		}
	}
	rc = 0;
done:
	for (int i = 0; i < MAX_FILES; i++) {
		kiln_tensor_free(&ins[i]);
		kiln_tensor_free(&outs[i]);
	}
	if (r.g || r.jit)
		runner_close(&r);
	if (rc)
		return fail_diag(&d);
	diag_free(&d);
	return rc;
}

/* Compare: |got-exp| <= atol + rtol*|exp|; NaN matches NaN; ints exact. */
static bool compare(const kiln_tensor *got, const kiln_tensor *exp, double rtol, double atol, double *maxerr, char *why, size_t n)
{
	*maxerr = 0;
	kiln_tensor bf;
	if (got->dtype == KILN_BF16 && exp->dtype == KILN_U16) {  /* see check_input */
		bf = *exp;
		bf.dtype = KILN_BF16;
		exp = &bf;
	}
	if (got->dtype != exp->dtype || got->bytes != exp->bytes) {
		snprintf(why, n, "expected %s of %zu bytes, got %s of %zu bytes", kiln_dtype_name(exp->dtype),
			 exp->bytes, kiln_dtype_name(got->dtype), got->bytes);
		return false;
	}
	bool isfloat = ir_dtype_is_float(ir_dtype_from_onnx(exp->dtype));
	size_t esz = kiln_dtype_size(exp->dtype), bad = 0, nbad = 0;
	for (size_t i = 0; i < kiln_tensor_numel(exp); i++) {
		double a = elem(got, i), b = elem(exp, i);
		bool same;
		if (isfloat) {
			if (isnan(b) && isnan(a))
				continue;
			double e = fabs(a - b);
			if (isnan(e) || (isinf(b) && a != b))
				e = INFINITY;
			if (e > *maxerr)
				*maxerr = e;
			same = e <= atol + rtol * fabs(b);
		} else {
			/* Integers and bool: exact, on the bytes (i64 need not fit a double). */
			same = !memcmp((const char *)got->data + i * esz, (const char *)exp->data + i * esz, esz);
			if (fabs(a - b) > *maxerr)
				*maxerr = fabs(a - b);
		}
		if (!same && !nbad++)
			bad = i;
	}
	if (nbad)
		snprintf(why, n, "%zu of %zu values differ; first at index %zu: got %.9g, expected %.9g", nbad,
			 kiln_tensor_numel(exp), bad, elem(got, bad), elem(exp, bad));
	return nbad == 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read DIR/SET/input_<i>.pb for i = 0.. until one is missing. */
static int read_set_inputs(const char *dir, const char *set, kiln_tensor *ins, char *why, size_t n)
{
	int k = 0;
	for (; k < MAX_FILES; k++) {
		char path[4600], err[512];
		snprintf(path, sizeof path, "%s/%s/input_%d.pb", dir, set, k);
		if (access(path, F_OK) != 0)
			break;
		if (kiln_tensor_read(path, &ins[k], err, sizeof err)) {
			snprintf(why, n, "%s", err);
			return -1;
		}
	}
	return k;
}

/* Inputs a static compiler may take as constants when a model needs them
 * to be (shapes, axes, pads, clip bounds, resize scales): named integer
 * tensors, scalars and short 1-D tensors.  Returns how many were bound into o. */
static int bind_const_inputs(Opts *o, const kiln_tensor *ins, int nin, bool *bound)
{
	int nb = 0;
	o->imp.nconsts = 0;
	for (int i = 0; i < nin; i++) {
		const kiln_tensor *t = &ins[i];
		DType dt = ir_dtype_from_onnx(t->dtype);
		bound[i] = t->name[0] && dt != DT_UNDEF && o->imp.nconsts < IMPORT_MAX_SHAPES &&
			   (t->rank == 0 || (!ir_dtype_is_float(dt) && dt != DT_BOOL) ||
			    (t->rank == 1 && t->shape[0] <= 2 * IR_MAX_RANK));  /* scales, roi */
		if (!bound[i])
			continue;
		ConstBinding *k = &o->imp.consts[o->imp.nconsts++];
		*k = (ConstBinding){.name = t->name, .dt = dt, .rank = t->rank, .data = t->data};
		memcpy(k->dims, t->shape, sizeof k->dims);
		nb++;
	}
	return nb;
}

/* One data set: run, compare every output.  why gets the first problem. */
static bool run_set(Opts *o, Runner *r, const char *set, kiln_tensor *ins, const bool *bound, int nin,
		    double *worst, char *why, size_t n)
{
	kiln_tensor use[MAX_FILES], outs[MAX_FILES] = {0};
	int k = 0;
	for (int i = 0; i < nin; i++)
		if (!bound[i])
			use[k++] = ins[i];
	bool ok = true;
	*worst = 0;
	if (k != r->g->inputs.n) {
		snprintf(why, n, "the data set has %d inputs, the model %d", k, r->g->inputs.n);
		return false;
	}
	Diag cd;
	diag_init(&cd);
	for (int i = 0; ok && i < k; i++)
		if (!check_input(r->g, i, &use[i], set, &cd)) {
			snprintf(why, n, "%s", cd.msgs[0]);
			ok = false;
		}
	if (ok && !runner_exec(r, use, outs, &cd)) {
		snprintf(why, n, "%s", cd.nmsg ? cd.msgs[0] : "run failed");
		ok = false;
	}
	diag_free(&cd);
	for (int i = 0; ok && i < r->g->outputs.n; i++) {
		char path[4600], err[512], w[256];
		kiln_tensor exp;
		double e;
		snprintf(path, sizeof path, "%s/%s/output_%d.pb", o->test_dir, set, i);
		if (kiln_tensor_read(path, &exp, err, sizeof err)) {
			snprintf(why, n, "%s", err);
			ok = false;
			break;
		}
		if (!compare(&outs[i], &exp, o->rtol, o->atol, &e, w, sizeof w)) {
			snprintf(why, n, "output %d: %s", i, w);
			ok = false;
		}
		if (e > *worst)
			*worst = e;
		kiln_tensor_free(&exp);
	}
	for (int i = 0; i < MAX_FILES; i++)
		kiln_tensor_free(&outs[i]);
	return ok;
}

static int cmd_run_test_dir(Opts *o)
{
	char model[4096];
	snprintf(model, sizeof model, "%s/model.onnx", o->test_dir);
	o->model = model;
	DIR *dir = opendir(o->test_dir);
	char *sets[256];
	int nsets = 0;
	for (struct dirent *e; dir && (e = readdir(dir)) && nsets < 256;)
		if (!strncmp(e->d_name, "test_data_set_", 14))
			sets[nsets++] = strdup(e->d_name);
	if (dir)
		closedir(dir);
	qsort(sets, nsets, sizeof *sets, name_cmp);
	/* Compile once for every data set; if the model needs some inputs as
	 * constants, compile per data set with those inputs bound. */
	Diag d;
	diag_init(&d);
	Runner shared;
	bool have_shared = runner_open(o, &shared, &d);
	if (!have_shared && (shared.g || shared.jit))
		runner_close(&shared);
	int failed = 0, rc = 0;
	for (int s = 0; s < nsets && !rc; s++) {
		kiln_tensor ins[MAX_FILES] = {0};
		bool bound[MAX_FILES] = {0};
		char why[600] = "";
		double worst = 0;
		int nin = read_set_inputs(o->test_dir, sets[s], ins, why, sizeof why);
		bool ok = nin >= 0;
		Runner own = {0}, *r = &shared;
		if (!have_shared && !ok) {
			rc = fail_diag(&d);
			break;
		}
		if (ok && !have_shared) {
			Diag sd;
			diag_init(&sd);
			int nb = bind_const_inputs(o, ins, nin, bound);
			if (!nb || !runner_open(o, &own, &sd)) {
				/* Binding did not help: with bound inputs the model
				 * got further, so its error then is the real one. */
				if (own.g || own.jit)
					runner_close(&own);
				rc = nb ? fail_diag(&sd) : fail_diag(&d);
				diag_free(nb ? &d : &sd);
				for (int i = 0; i < MAX_FILES; i++)
					kiln_tensor_free(&ins[i]);
				break;
			}
			diag_free(&sd);
			r = &own;
		}
		if (ok)
			ok = run_set(o, r, sets[s], ins, bound, nin, &worst, why, sizeof why);
		if (r == &own)
			runner_close(&own);
		o->imp.nconsts = 0;
		printf("%s %s (max abs err %.3g)%s%s\n", ok ? "PASS" : "FAIL", sets[s], worst, ok ? "" : ": ", ok ? "" : why);
		failed += !ok;
		for (int i = 0; i < MAX_FILES; i++)
			kiln_tensor_free(&ins[i]);
	}
	for (int s = 0; s < nsets; s++)
		free(sets[s]);
	if (have_shared)
		runner_close(&shared);
	diag_free(&d);
	if (rc)
		return rc;
	if (!nsets)
		return fail("%s: no test_data_set_* folders", o->test_dir);
	return failed ? 1 : 0;
}

static int cmd_run(Opts *o)
{
	return o->test_dir ? cmd_run_test_dir(o) : cmd_run_files(o);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int cmd_bench(Opts *o)
{
	Diag d;
	diag_init(&d);
	Runner r;
	if (!runner_open(o, &r, &d)) {
		if (r.g || r.jit)
			runner_close(&r);
		return fail_diag(&d);
	}
	Graph *g = r.g;
	kiln_tensor ins[MAX_FILES] = {0}, outs[MAX_FILES] = {0};
	if (g->inputs.n > MAX_FILES || g->outputs.n > MAX_FILES) {
		runner_close(&r);
		diag_free(&d);
		return fail("%s: too many inputs or outputs for kiln bench (at most %d)", o->model, MAX_FILES);
	}
	uint32_t seed = 1;
	bool oom = false;
	for (int i = 0; i < g->inputs.n; i++) {
		const Type *ty = ir_value_type(g, g->inputs.v[i]);
		size_t bytes = (size_t)ir_type_bytes(ty);
		unsigned char *p = malloc(bytes + 1);
		if (!p) {
			oom = true;
			break;
		}
		for (size_t k = 0; k < bytes; k++) {
			seed = seed * 1664525u + 1013904223u;
			p[k] = (unsigned char)(seed >> 24);
		}
		if (ty->dt == DT_F32)  /* finite values in [-1, 1) */
			for (size_t k = 0; k < bytes / 4; k++)
				((float *)p)[k] = (float)(p[4 * k] - 128) / 128.0f;
		ins[i].data = p;
	}
	const void *inp[MAX_FILES];
	void *outp[MAX_FILES];
	for (int i = 0; i < g->inputs.n; i++)
		inp[i] = ins[i].data;
	for (int i = 0; i < g->outputs.n; i++) {
		outp[i] = outs[i].data = malloc((size_t)ir_type_bytes(ir_value_type(g, g->outputs.v[i])) + 1);
		oom |= !outp[i];
	}
	double *t = malloc(o->runs * sizeof *t);
	int rc = 0;
	if (oom || !t) {
		fail("%s: out of memory for the benchmark's tensors", o->model);
		rc = -1;
	}
	kiln_pool *pool = o->threads > 1 ? kiln_pool_new(o->threads) : NULL;
	kiln_parallel par = {0};
	if (pool)
		kiln_pool_parallel(pool, &par);
	else if (o->threads > 1 && !rc) {
		fail("%s: cannot start %d threads", o->model, o->threads);
		rc = -1;
	}
	KilnRunParallelFn prun = cg_jit_parallel_fn(r.jit);
	for (int k = -o->warmup; k < o->runs && !rc; k++) {
		double t0 = now_ms();
		rc = pool ? prun(inp, outp, r.ws, &par) : r.fn(inp, outp, r.ws);
		if (k >= 0)
			t[k] = now_ms() - t0;
	}
	if (rc > 0)
		fail("%s: the compiled model returned status %d", o->model, rc);
	else if (!rc) {
		qsort(t, o->runs, sizeof *t, dbl_cmp);
		printf("%s: median %.3f ms, min %.3f ms, max %.3f ms over %d runs (%d warm-up, %d thread%s)\n", o->model,
		       t[o->runs / 2], t[0], t[o->runs - 1], o->runs, o->warmup, o->threads, o->threads > 1 ? "s" : "");
	}
	kiln_pool_free(pool);
	free(t);
	for (int i = 0; i < MAX_FILES; i++) {
		kiln_tensor_free(&ins[i]);
		kiln_tensor_free(&outs[i]);
	}
	runner_close(&r);
	diag_free(&d);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return 1;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		print_help(argc > 2 ? argv[2] : NULL);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("kiln %s\n", KILN_VERSION);
		return 0;
	}
	Opts o = {.cmd = argv[1]};
	int rc = parse_args(argc, argv, &o);
	if (rc)
		return rc;
	if (!strcmp(o.cmd, "compile"))
		return cmd_compile(&o);
	if (!strcmp(o.cmd, "run"))
		return cmd_run(&o);
	if (!strcmp(o.cmd, "check"))
		return cmd_check(&o);
	if (!strcmp(o.cmd, "dump"))
		return cmd_dump(&o);
	if (!strcmp(o.cmd, "bench"))
		return cmd_bench(&o);
	return fail("unknown command '%s' (see kiln --help)", o.cmd);
}
