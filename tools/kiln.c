/* The kiln driver: argument parsing and nothing clever.  Each subcommand
 * loads a model, runs the pass pipeline and hands the graph to codegen. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver.h"
#include "ptq.h"
#include "report.h"
#include "outfile.h"


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
	"  quantize MODEL --calib DIR -o Q.onnx  write an int8 QDQ model (post-training quantization)\n"
	"  bisect MODEL --input F --against float|O0|TARGET  the first node where two builds part ways\n"
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
	"  --quantize int8 --calib DIR [--eval DIR] [--calib-method M] [--max-accuracy-drop P]\n"
	"                           (compile) post-training quantization; see kiln help compile\n"
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
	 "  --layout auto|rows|blocks  activation layout: by gain (default), NCHW, every class that can be blocked\n"
	 "  --quantize int8          post-training quantization (needs --calib; docs/quantization.md)\n"
	 "  --calib DIR              calibration inputs: .pb/.npy tensors or test_data_set_* folders\n"
	 "  --calib-method M         auto (default), minmax, percentile, mse or entropy\n"
	 "  --eval DIR               held-out data to measure the quantized model on (labels if given)\n"
	 "  --max-accuracy-drop P    keep the most sensitive layers in float until the drop is <= P points\n"},
	{"quantize",
	 "usage: kiln quantize MODEL.onnx --calib DIR -o Q.onnx [options]\n"
	 "Write MODEL again as a QDQ model with the decisions of compile --quantize int8\n"
	 "(u8 activations per tensor, i8 weights per output channel); onnxruntime runs it.\n"
	 "  --calib DIR, --calib-method M, --eval DIR, --max-accuracy-drop P   as for compile\n"
	 "  --report FILE            JSON: the calibration and evaluation summary\n"},
	{"bisect",
	 "usage: kiln bisect MODEL --input FILE...|DIR --against O0|float|TARGET [options]\n"
	 "Run two builds of MODEL on one input, compare every intermediate value in order, print\n"
	 "a table and name the first node past tolerance.  Exit 0: they agree, 1: they part, 2: error.\n"
	 "  --against O0             the -O level given (default -O3) vs -O0's reference lowerings\n"
	 "  --against float          --quantize int8 --calib DIR [--calib-method M] vs float (SQNR per value)\n"
	 "  --against TARGET         the target's object under qemu-user vs the host (--cpu, --features)\n"
	 "  --tolerance T            max rel err (O0: 1e-5, TARGET: 1e-5) or SQNR floor in dB (float: 15)\n"
	 "  --emit-kir FILE          write the first node past tolerance alone as FILE (.kir) and its\n"
	 "                           observed operands as FILE-stem.input_<i>.pb\n"},
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

/* kiln targets, kiln --help targets: every target descriptor. */
static int cmd_targets(void)
{
	printf("%-28s %-8s %-6s %-11s %s\n", "target", "vector", "FPU", "float ABI", "CPUs (first: the default)");
	for (const Target *const *tp = tgt_all(); *tp; tp++) {
		const Target *t = *tp;
		char vec[16];
		snprintf(vec, sizeof vec, t->vec_bytes >= 16 ? "%d-bit" : "scalar", 8 * t->vec_bytes);
		const char *abi = t->float_abi;
		char abibuf[16];
		if (strchr(abi, ' '))  /* riscv32: per CPU, below */
			abi = "per CPU";
		else if (!t->abi)
			snprintf(abibuf, sizeof abibuf, "%s", abi), abi = abibuf;
		printf("%-28s %-8s %-6s %-11s", t->name, vec, t->fpu ? "yes" : "no", abi);
		if (!t->cpus) {
			printf(" any LLVM %s CPU (default %s)\n", t->arch, t->cpu);
			continue;
		}
		for (const TargetCpu *c = t->cpus; c->name; c++)
			printf("%s %s", c == t->cpus ? "" : ",", c->name);
		printf("\n");
		for (const TargetCpu *c = t->cpus; c->name; c++)
			printf("    %-16s %s\n", c->name, c->note);
		if (*t->helpers)
			printf("    helpers: %s\n", t->helpers);
		if (*t->helpers64)
			printf("    int64 helpers: %s\n", t->helpers64);
	}
	printf("\nA target's CPU can be named as the target (--target cortex-m7, --target rv32imafc).\n"
	       "A --cpu outside a bare-metal target's list is refused: it would contradict the object's\n"
	       "float ABI or instruction set.  Objects call no library beyond memcpy, memset and memmove,\n"
	       "except the compiler-runtime helpers listed (libgcc / compiler-rt: soft float on cores\n"
	       "without an FPU, division on cores without a divider) and, only where the model itself\n"
	       "divides int64 values or converts int64 <-> float on a 32-bit core, the int64 helpers\n"
	       "(docs/cli.md, \"Targets\").\n");
	return 0;
}

static void print_help(const char *cmd)
{
	if (cmd && !strcmp(cmd, "targets")) {
		cmd_targets();
		return;
	}
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
	o->max_drop = -1;
	o->tolerance = NAN;
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
			"--runs", "--warmup", "--threads", "--rtol", "--atol", "--report", "--dump-dir", "--const", "--weights-section",
			"--quantize", "--calib", "--eval", "--calib-method", "--max-accuracy-drop", "--against", "--tolerance",
			"--emit-kir", NULL};
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
		else if (!strcmp(key, "--weights-section")) {
			/* a name an assembler and a linker script take as it is */
			bool ok = *val && strlen(val) < 200;
			for (const char *p = val; *p && ok; p++)
				ok = isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '$';
			if (!ok)
				return driver_fail("--weights-section '%s': expected a section name (letters, digits, '.', '_', '$')", val);
			o->weights_section = val;
		}
		else if (!strcmp(key, "--quantize")) o->quantize = val;
		else if (!strcmp(key, "--calib")) o->calib_dir = val;
		else if (!strcmp(key, "--eval")) o->eval_dir = val;
		else if (!strcmp(key, "--calib-method")) o->calib_method = val;
		else if (!strcmp(key, "--against")) o->against = val;
		else if (!strcmp(key, "--emit-kir")) o->emit_kir = val;
		else if (!strcmp(key, "--tolerance")) {
			if (!parse_double(val, &o->tolerance) || !(o->tolerance >= 0))
				return driver_fail("--tolerance '%s': expected a non-negative number", val);
		}
		else if (!strcmp(key, "--max-accuracy-drop")) {
			if (!parse_double(val, &o->max_drop) || !(o->max_drop >= 0) || o->max_drop > 100)
				return driver_fail("--max-accuracy-drop '%s': expected 0 to 100 (points of top-1 accuracy)", val);
		}
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

/* asm, llvm, bc to stdout. */
static int emit_to_stdout(Graph *g, const CgOptions *cg, CgEmit kind, Diag *d)
{
	if (kind == EMIT_BC && isatty(STDOUT_FILENO))
		return driver_fail("compile: not writing bitcode to a terminal; give -o FILE");
	return cg_emit(g, cg, kind, NULL, d) ? 0 : driver_fail_diag(d);
}

/* Every destination may be written (a regular file or a new name, not the
 * model) and no two are the same file: checked before the work, so a
 * refusal costs nothing.  ir/outfile.c checks again as it renames. */
static bool check_outputs(const Opts *o, const char *const *paths, int n, Diag *d)
{
	for (int i = 0; i < n; i++) {
		if (!paths[i])
			continue;
		if (!ir_out_check(paths[i], o->model, d))
			return false;
		for (int j = 0; j < i; j++)
			if (paths[j] && !strcmp(paths[i], paths[j])) {
				diag_error(d, paths[i], NULL, NULL, "is named for two outputs");
				return false;
			}
	}
	return true;
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
	/* OUT.o -> OUT.h beside it. */
	char hdr[4096] = "";
	if (!to_stdout && !strcmp(emit, "obj")) {
		const char *dot = strrchr(base_name(o->out), '.');
		size_t stem = dot ? (size_t)(dot - o->out) : strlen(o->out);
		if (stem + 3 > sizeof hdr)
			return driver_fail("%s: path too long", o->out);
		memcpy(hdr, o->out, stem);
		strcpy(hdr + stem, ".h");
		if (!strcmp(hdr, o->out))
			return driver_fail("%s: the object would be overwritten by its header; name it .o", o->out);
	}
	const char *dests[3] = {to_stdout ? NULL : o->out, hdr[0] ? hdr : NULL, o->report};
	if (!check_outputs(o, dests, 3, &d))
		return driver_fail_diag(&d);
	Ptq ptq = {0};
	if (!o->quantize && (o->calib_dir || o->eval_dir || o->calib_method || o->max_drop >= 0))
		return driver_fail("compile: --calib, --eval, --calib-method and --max-accuracy-drop go with --quantize int8");
	if (o->quantize) {
		int prc = ptq_prepare(o, &ptq);
		if (prc)
			return prc;
		o->quant = &ptq.plan;
	}
	PassCtx cx;
	int imported = 0;
	Graph *g = driver_load_and_optimize(o, &d, true, &cx, &imported);
	if (!g) {
		ptq_free(&ptq);
		return driver_fail_diag(&d);
	}

	char name[256];
	cg_sanitize_name(o->name ? o->name : to_stdout ? g->name : base_name(o->out), name, sizeof name);
	cg.name = name;
	int rc = 0;
	if (!strcmp(emit, "kir")) {
		OutFile out;
		if (to_stdout) {
			ir_print(g, stdout);
			if (fflush(stdout) != 0 || ferror(stdout))
				rc = driver_fail("cannot write to stdout: %s", strerror(errno));
		} else if (!ir_out_open(&out, o->out, o->model, &d))
			rc = driver_fail_diag(&d);
		else {
			ir_print(g, out.f);
			if (!ir_out_commit(&out, &d))
				rc = driver_fail_diag(&d);
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
		OutFile out;
		bool ok = ir_out_open(&out, o->report, o->model, &d);
		if (ok) {
			report_write(out.f, g, imported, &cx, ptq.json);
			ok = ir_out_commit(&out, &d);
		}
		if (!ok) {
			/* All or nothing: the outputs go with the report. */
			if (!to_stdout) {
				remove(o->out);
				if (hdr[0])
					remove(hdr);
			}
			rc = driver_fail_diag(&d);
		}
	}
	ir_graph_free(g);
	diag_free(&d);
	ptq_free(&ptq);
	return rc;
}

/* ---- quantize ---------------------------------------------------------------- */

/* kiln quantize M.onnx --calib DIR -o q.onnx: the decisions --quantize
 * int8 would compile, written as a QDQ ONNX model. */
static int cmd_quantize(Opts *o)
{
	if (!o->model)
		return driver_fail("quantize: no model file given");
	const char *dot = strrchr(o->model, '.');
	if (!dot || strcmp(dot, ".onnx"))
		return driver_fail("quantize: %s: writes ONNX, so it reads an .onnx model", o->model);
	if (!o->out || !strcmp(o->out, "-"))
		return driver_fail("quantize: -o OUT.onnx is required");
	if (o->quantize && strcmp(o->quantize, "int8"))
		return driver_fail("--quantize '%s': expected int8", o->quantize);
	Diag d;
	diag_init(&d);
	const char *dests[2] = {o->out, o->report};
	if (!check_outputs(o, dests, 2, &d))
		return driver_fail_diag(&d);
	Ptq ptq;
	int rc = ptq_prepare(o, &ptq);
	if (rc) {
		diag_free(&d);
		return rc;
	}
	Graph *g = driver_load_verified(o, &d);
	QuantEdits ed = {0};
	PassCtx cx = {.diag = &d, .quant = &ptq.plan, .quant_edits = &ed};
	OnnxQdqEdit *oe = NULL;
	if (g && (pass_quantize(g, &cx), !d.nerr) && (oe = calloc(ed.n + 1, sizeof *oe))) {
		for (int i = 0; i < ed.n; i++) {
			const QuantEdit *e = &ed.v[i];
			ValueId qv = ir_find_value(g, e->q_name);
			oe[i] = (OnnxQdqEdit){.weight = e->kind == QE_WEIGHT, .value = e->value, .float_name = e->float_name,
					      .q_name = e->q_name, .dq_name = e->dq_name, .dtype = e->dt, .axis = e->q->axis,
					      .nscale = e->q->n, .scale = e->q->scale, .zero = e->q->zero, .data = e->data,
					      .numel = ir_type_numel(ir_value_type(g, qv))};
		}
		if (!onnx_write_qdq(o->model, o->out, oe, ed.n, &d))
			rc = 1;
	} else
		rc = 1;
	if (!rc && o->report) {
		OutFile out;
		bool ok = ir_out_open(&out, o->report, o->model, &d);
		if (ok) {
			FILE *f = out.f;
			fprintf(f, "{\n  \"model\": ");
			report_json_str(f, o->model);
			fprintf(f, ",\n  \"quantized_model\": ");
			report_json_str(f, o->out);
			fprintf(f, ",\n  \"ptq\": %s\n}\n", ptq.json ? ptq.json : "null");
			ok = ir_out_commit(&out, &d);
		}
		if (!ok) {
			remove(o->out);
			rc = 1;
		}
	}
	if (rc && d.nmsg)
		driver_fail_diag(&d);
	else if (rc && !o->report)
		driver_fail("quantize: out of memory");
	free(oe);
	free(ed.v);
	if (g)
		ir_graph_free(g);
	diag_free(&d);
	ptq_free(&ptq);
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
	if (!strcmp(o.cmd, "quantize"))
		return cmd_quantize(&o);
	if (!strcmp(o.cmd, "bisect"))
		return cmd_bisect(&o);
	bool ptq_opts = o.quantize || o.calib_dir || o.eval_dir || o.calib_method || o.max_drop >= 0;
	if (ptq_opts && strcmp(o.cmd, "run") && strcmp(o.cmd, "bench") && strcmp(o.cmd, "dump"))
		return driver_fail("%s: --quantize and its options go with compile, quantize, run, bench and dump", o.cmd);
	if (ptq_opts && !o.quantize)
		return driver_fail("%s: --calib, --eval, --calib-method and --max-accuracy-drop go with --quantize int8", o.cmd);
	/* run, bench, dump: the quantized model, as compile would build it */
	Ptq ptq = {0};
	if (o.quantize) {
		if (o.test_dir)
			return driver_fail("run: --test-dir compares with expected outputs; quantize with compile or kiln quantize");
		int prc = ptq_prepare(&o, &ptq);
		if (prc)
			return prc;
		o.quant = &ptq.plan;
	}
	rc = -1;
	if (!strcmp(o.cmd, "run"))
		rc = cmd_run(&o);
	else if (!strcmp(o.cmd, "check"))
		rc = cmd_check(&o);
	else if (!strcmp(o.cmd, "dump"))
		rc = cmd_dump(&o);
	else if (!strcmp(o.cmd, "bench"))
		rc = cmd_bench(&o);
	else if (!strcmp(o.cmd, "targets"))
		rc = cmd_targets();
	ptq_free(&ptq);
	return rc >= 0 ? rc : driver_fail("unknown command '%s' (see kiln --help)", o.cmd);
}
