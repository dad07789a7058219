/* The kiln driver: argument parsing and nothing clever.  Each subcommand
 * loads a model, runs the pass pipeline and hands the graph to codegen. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver.h"
#include "report.h"


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
					return driver_fail("too many --input files (at most %d)", MAX_FILES);
				o->inputs[o->ninputs++] = a;
				continue;
			}
			if (o->model)
				return driver_fail("unexpected argument '%s' (one model per command)", a);
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
			return driver_fail("unknown option '%s'", a);
		memcpy(key, a, kl);
		key[kl] = 0;
		static const char *const valued[] = {"-o", "--name", "--target", "--cpu", "--features", "--emit",
			"--passes", "--print-after", "--output-dir", "--test-dir", "--input", "--shape", "--max-ram", "--layout",
			"--runs", "--warmup", "--threads", "--rtol", "--atol", "--report", "--dump-dir", "--const", NULL};
		bool known = false;
		for (const char *const *k = valued; *k; k++)
			known |= !strcmp(*k, key);
		if (!known)
			return driver_fail("unknown option '%s' (see kiln --help)", key);
		if (val)
			val++;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return driver_fail("option '%s' needs a value", a);
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
				return driver_fail("too many --input files (at most %d)", MAX_FILES);
			o->inputs[o->ninputs++] = val;
		} else if (!strcmp(key, "--const")) {
			char *eq = strchr(val, '='), err[512];
			int k = o->imp.nconsts;
			if (!eq || eq == val || !eq[1])
				return driver_fail("--const '%s': expected NAME=FILE (a .pb or .npy tensor)", val);
			if (k == IMPORT_MAX_SHAPES)
				return driver_fail("too many --const bindings");
			*eq = 0;
			if (kiln_tensor_read(eq + 1, &o->const_vals[k], err, sizeof err))
				return driver_fail("%s", err);
			kiln_tensor *t = &o->const_vals[k];
			ConstBinding *b = &o->imp.consts[o->imp.nconsts++];
			*b = (ConstBinding){.name = val, .dt = ir_dtype_from_onnx(t->dtype), .rank = t->rank, .data = t->data};
			memcpy(b->dims, t->shape, sizeof b->dims);
			if (b->dt == DT_UNDEF)
				return driver_fail("--const %s: unsupported dtype", val);
		} else if (!strcmp(key, "--shape")) {
			if (o->imp.nshapes == IMPORT_MAX_SHAPES)
				return driver_fail("too many --shape bindings");
			if (!frontend_parse_shape_arg(val, &o->imp.shapes[o->imp.nshapes++]))
				return driver_fail("--shape '%s': expected NAME=d0,d1,... with non-negative dims", val);
		} else if (!strcmp(key, "--layout")) {
			static const char *const modes[] = {"auto", "rows", "blocks"};
			o->layout = -1;
			for (int m = 0; m < 3; m++)
				if (!strcmp(val, modes[m]))
					o->layout = m;
			if (o->layout < 0)
				return driver_fail("--layout '%s': expected auto, rows or blocks", val);
		} else if (!strcmp(key, "--max-ram")) {
			if (!parse_int(val, &n) || n <= 0)
				return driver_fail("--max-ram '%s': expected a positive number of bytes", val);
			o->max_ram = n;
		} else if (!strcmp(key, "--threads")) {
			if (!parse_int(val, &n) || n < 1 || n > 256)
				return driver_fail("--threads '%s': expected 1 to 256", val);
			o->threads = (int)n;
		} else if (!strcmp(key, "--runs") || !strcmp(key, "--warmup")) {
			if (!parse_int(val, &n) || n < (key[2] == 'r') || n > 1000000)
				return driver_fail("%s '%s': expected a count", key, val);
			*(key[2] == 'r' ? &o->runs : &o->warmup) = (int)n;
		} else if (!strcmp(key, "--rtol") || !strcmp(key, "--atol")) {
			double d;
			if (!parse_double(val, &d) || d < 0)
				return driver_fail("%s '%s': expected a non-negative number", key, val);
			*(key[2] == 'r' ? &o->rtol : &o->atol) = d;
		} else
			return driver_fail("unknown option '%s' (see kiln --help)", key);
	}
	return 0;
}

/* ---- common steps --------------------------------------------------------- */

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
		return driver_fail("compile: not writing bitcode to a terminal; give -o FILE");
	char tmp[] = "/tmp/kiln-emit-XXXXXX";
	int fd = mkstemp(tmp);
	if (fd < 0)
		return driver_fail("cannot create a temporary file");
	close(fd);
	int rc = 0;
	if (!cg_emit(g, cg, kind, tmp, d))
		rc = driver_fail_diag(d);
	else {
		FILE *f = fopen(tmp, "rb");
		char buf[65536];
		size_t n;
		while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
			fwrite(buf, 1, n, stdout);
		if (!f || ferror(f) || fflush(stdout) != 0)
			rc = driver_fail("cannot copy the output to stdout");
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
		return driver_fail("--emit '%s': expected obj, asm, llvm, bc, kir or header", emit);
	bool to_stdout = !o->out || !strcmp(o->out, "-");
	if (to_stdout && (kind == EMIT_OBJ && strcmp(emit, "kir") && strcmp(emit, "header")))
		return driver_fail("compile: -o OUT.o is required for --emit obj");
	CgOptions cg;
	if (!driver_setup_target(o, &cg))
		return 1;
	Diag d;
	diag_init(&d);
	PassCtx cx;
	int imported = 0;
	Graph *g = driver_load_and_optimize(o, &d, true, &cx, &imported);
	if (!g)
		return driver_fail_diag(&d);

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
			return driver_fail("%s: path too long", o->out);
		}
		memcpy(hdr, o->out, stem);
		strcpy(hdr + stem, ".h");
		if (!strcmp(hdr, o->out)) {
			ir_graph_free(g);
			diag_free(&d);
			return driver_fail("%s: the object would be overwritten by its header; name it .o", o->out);
		}
	}
	int rc = 0;
	if (!strcmp(emit, "kir")) {
		char tmp[4200];
		FILE *f = to_stdout ? stdout : open_tmp(o->out, tmp, sizeof tmp);
		if (!f)
			rc = driver_fail("%s: cannot create", o->out);
		else {
			ir_print(g, f);
			if (!to_stdout && !close_tmp(f, tmp, o->out))
				rc = driver_fail("%s: cannot write", o->out);
		}
	} else if (!strcmp(emit, "header")) {
		if (to_stdout)
			cg_write_header(g, &cg, stdout);
		else if (!cg_emit_header(g, &cg, o->out, &d))
			rc = driver_fail_diag(&d);
	} else if (!cg_check(g, &cg, &d)) {
		rc = driver_fail_diag(&d);
	} else if (to_stdout) {
		rc = emit_to_stdout(g, &cg, kind, &d);
	} else if (!cg_emit(g, &cg, kind, o->out, &d)) {
		rc = driver_fail_diag(&d);
	} else if (hdr[0] && !cg_emit_header(g, &cg, hdr, &d)) {
		remove(o->out);
		rc = driver_fail_diag(&d);
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
			rc = driver_fail("%s: cannot write the report", o->report);
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
	if (!driver_setup_target(o, &cg))
		return 1;
	if (!o->model)
		return driver_fail("check: no model file given");
	o->imp.check_all = true;
	Diag d;
	diag_init(&d);
	Graph *g = driver_load_verified(o, &d);
	if (!g)
		return driver_fail_diag(&d);
	/* Quantized patterns become integer ops first: what the check judges
	 * is what compile lowers. */
	PassCtx cx = {.diag = &d, .opt_level = o->opt_level, .fold = cg_fold};
	if (!pass_run_pipeline(g, "qdq,dce", &cx) || !cg_check(g, &cg, &d)) {
		ir_graph_free(g);
		return driver_fail_diag(&d);
	}
	int live = 0;
	for (int i = 0; i < g->nodes.n; i++)
		live += !g->nodes.v[i].dead;
	/* as the qdq pass recorded them: the report names the same */
	const QdqFloat *fl = cx.qfloat;
	int nfl = cx.nqfloat;
	for (int i = 0; i < nfl && i < 64; i++)
		fprintf(stderr, "kiln: note: %s: node '%s' (%s) runs in float: %s\n", o->model, fl[i].node, fl[i].op, fl[i].why);
	if (nfl > 64)
		fprintf(stderr, "kiln: note: %s: %d more nodes run in float among quantized values\n", o->model, nfl - 64);
	int nint = pass_qdq_integer_nodes(g);
	if (nint || nfl)
		printf("%s: ok (%d nodes, all supported; %d integer, %d in float among quantized values)\n", o->model, live,
		       nint, nfl);
	else
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
		return driver_fail("dump: --emit '%s': expected kir, dot or llvm", emit);
	CgOptions cg;
	if (!driver_setup_target(o, &cg))  /* the layout pass asks the target's vector width */
		return 1;
	Graph *g = driver_load_and_optimize(o, &d, false, NULL, NULL);
	if (!g)
		return driver_fail_diag(&d);
	if (!strcmp(emit, "dot"))
		ir_print_dot(g, stdout);
	else
		ir_print(g, stdout);
	ir_graph_free(g);
	return 0;
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
	return driver_fail("unknown command '%s' (see kiln --help)", o.cmd);
}
