/* The pass manager: the pass table, the pipeline per -O level, and the
 * per-pass services (verify, print, time) that no pass implements itself. */
#include "passes.h"
#include "outfile.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

typedef struct PassInfo {
	const char *name;
	PassFn fn;
	const char *desc;
} PassInfo;

static const PassInfo passes[] = {
#define PASS(name, fn, desc) {#name, fn, desc},
#include "passes.def"
#undef PASS
};

/* The pipelines, one place.  plan always runs last: codegen needs it.
 * With a quantization plan (--quantize), quantize runs first. */
static const char *const pipelines[4] = {
	"plan",
	"qdq,simplify,fold,cse,dce,patterns,schedule,plan",
	"qdq,simplify,fold,cse,dce,patterns,fold_bn,fuse,layout,schedule,plan",
	"qdq,simplify,fold,cse,dce,patterns,fold_bn,fuse,layout,schedule,plan",
};

static const PassInfo *find_pass(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof passes / sizeof passes[0]; i++)
		if (strlen(passes[i].name) == len && strncmp(passes[i].name, name, len) == 0)
			return &passes[i];
	return NULL;
}

/* "dce, simplify, ..." into buf, for messages. */
static const char *pass_names(char *buf, size_t n)
{
	size_t k = 0;
	buf[0] = 0;
	for (size_t i = 0; i < sizeof passes / sizeof passes[0] && k < n; i++)
		k += snprintf(buf + k, n - k, "%s%s", i ? ", " : "", passes[i].name);
	return buf;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int live_nodes(const Graph *g)
{
	int n = 0;
	for (int i = 0; i < g->nodes.n; i++)
		n += !g->nodes.v[i].dead;
	return n;
}

void pass_note(PassCtx *cx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cx->note, sizeof cx->note, fmt, ap);
	va_end(ap);
}

static bool run_one(Graph *g, const PassInfo *p, PassCtx *cx)
{
	int before = cx->diag->nerr, nodes = live_nodes(g);
	cx->note[0] = 0;
	double t0 = now_ms();
	bool changed = p->fn(g, cx);
	double dt = now_ms() - t0;
	if (cx->nlog < PASS_MAX_RECORDS) {
		PassRecord *r = &cx->log[cx->nlog++];
		*r = (PassRecord){p->name, changed, nodes, live_nodes(g), dt};
		memcpy(r->note, cx->note, sizeof r->note);
	}
	if (cx->diag->nerr > before)
		return false;
	bool verify = cx->verify_each;
#ifdef KILN_VERIFY_EACH
	verify = true;
#endif
	if (verify) {
		Diag vd;
		diag_init(&vd);
		if (!ir_verify(g, &vd)) {
			/* The verifier's message already names the file and node. */
			diag_error(cx->diag, NULL, NULL, NULL, "internal: verifier failed after pass '%s': %s",
				   p->name, vd.nmsg ? vd.msgs[0] : "?");
			diag_free(&vd);
			return false;
		}
		diag_free(&vd);
	}
	if (cx->print_after_all || (cx->print_after && strcmp(cx->print_after, p->name) == 0)) {
		if (cx->dump_dir) {
			char path[4096];
			snprintf(path, sizeof path, "%s/%02d-%s.kir", cx->dump_dir, cx->nlog, p->name);
			OutFile out;
			if (!ir_out_open(&out, path, g->file, cx->diag))
				return false;
			ir_print(g, out.f);
			if (!ir_out_commit(&out, cx->diag))
				return false;
		} else {
			FILE *f = cx->print_to ? cx->print_to : stderr;
			fprintf(f, "# *** IR after %s ***\n", p->name);
			ir_print(g, f);
		}
	}
	return true;
}

/* --time-passes: one table per pipeline run, the records from `first` on. */
static void print_times(const PassCtx *cx, int first)
{
	double total = 0;
	fprintf(stderr, "kiln: pass timing\n  %-10s %10s  %-7s %-13s %s\n", "pass", "ms", "changed", "nodes", "what");
	for (int i = first; i < cx->nlog; i++) {
		const PassRecord *r = &cx->log[i];
		char nodes[32];
		snprintf(nodes, sizeof nodes, "%d -> %d", r->nodes_before, r->nodes_after);
		fprintf(stderr, "  %-10s %10.3f  %-7s %-*s%s%s\n", r->name, r->ms, r->changed ? "yes" : "no",
			r->note[0] ? 13 : 0, nodes, r->note[0] ? " " : "", r->note);
		total += r->ms;
	}
	fprintf(stderr, "  %-10s %10.3f\n", "total", total);
}

static bool run_list(Graph *g, const char *list, PassCtx *cx)
{
	if (!list) {
		int o = cx->opt_level < 0 ? 0 : cx->opt_level > 3 ? 3 : cx->opt_level;
		list = pipelines[o];
		if (cx->quant && !run_one(g, find_pass("quantize", 8), cx))
			return false;
	}
	if (strcmp(list, "none") == 0 || !*list)
		return true;
	/* Check every name before running anything. */
	for (const char *s = list; *s;) {
		size_t len = strcspn(s, ",");
		if (len && !find_pass(s, len)) {
			char known[256];
			diag_error(cx->diag, NULL, NULL, NULL, "unknown pass '%.*s' (known: %s)", (int)len, s, pass_names(known, sizeof known));
			return false;
		}
		s += len + (s[len] == ',');
	}
	for (const char *s = list; *s;) {
		size_t len = strcspn(s, ",");
		if (len && !run_one(g, find_pass(s, len), cx))
			return false;
		s += len + (s[len] == ',');
	}
	return true;
}

bool pass_run_pipeline(Graph *g, const char *list, PassCtx *cx)
{
	int first = cx->nlog;
	if (cx->print_after && !find_pass(cx->print_after, strlen(cx->print_after))) {
		char known[256];
		diag_error(cx->diag, NULL, NULL, NULL, "--print-after: unknown pass '%s' (known: %s)", cx->print_after,
			   pass_names(known, sizeof known));
		return false;
	}
	bool ok = run_list(g, list, cx);
	if (cx->time_passes && cx->nlog > first)
		print_times(cx, first);
	return ok;
}

bool pass_ensure_plan(Graph *g, PassCtx *cx)
{
	if (g->ws_size >= 0)
		return true;
	return pass_run_pipeline(g, "plan", cx);
}
