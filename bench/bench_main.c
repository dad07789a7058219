/* Latency harness for benchmarks: links one kiln object through its header
 * and times NAME_run in C.  Inputs come from raw files (the exact bytes
 * the other engines get) or, without files, pseudo-random floats.
 * Build: cc -O2 -DMODEL=name -include kiln.h -include name.h bench_main.c name.o
 *
 *   bench RUNS [IN.bin...]       5 warm-up runs, then RUNS timed ones;
 *                                prints "median min max" in ms
 *   bench -s [-o OUT] [IN.bin...] serve: 5 warm-up runs (outputs written
 *                                to OUT, concatenated), then per line "N"
 *                                on stdin N timed runs, their ms on one
 *                                line; EOF ends.  Lets a driver interleave
 *                                this engine with others in one process
 *                                tree without recompiling or reloading. */
#define _POSIX_C_SOURCE 200809L
#define _ISOC11_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define M(x) CAT(MODEL, x)

/* KILN_BENCH_CLOCK=thread: this thread's CPU time instead of the wall
 * clock (a shared machine's other load then counts far less). */
static double now_ms(void)
{
	static int clk = -1;
	if (clk < 0) {
		const char *e = getenv("KILN_BENCH_CLOCK");
		clk = e && !strcmp(e, "thread") ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
	}
	struct timespec ts;
	clock_gettime(clk, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void *alloc64(size_t bytes)
{
	void *p = aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
	if (!p) {
		fprintf(stderr, "bench: out of memory\n");
		exit(1);
	}
	return p;
}

/* Reads exactly `bytes` bytes of `path` into p; the file must be that size. */
static void read_input(const char *path, void *p, size_t bytes)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(1);
	}
	size_t got = fread(p, 1, bytes, f);
	int extra = fgetc(f) != EOF;
	fclose(f);
	if (got != bytes || extra) {
		fprintf(stderr, "bench: %s: expected %zu bytes\n", path, bytes);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	const kiln_model_info *info = &M(_info);
	int serve = 0, runs = 30, a = 1;
	const char *outpath = NULL;
	if (a < argc && !strcmp(argv[a], "-s")) {
		serve = 1;
		a++;
		if (a + 1 < argc && !strcmp(argv[a], "-o")) {
			outpath = argv[a + 1];
			a += 2;
		}
	} else if (a < argc) {
		runs = atoi(argv[a++]);
	}
	if (runs < 1 || info->n_inputs > 64 || info->n_outputs > 64) {
		fprintf(stderr, "usage: bench RUNS [IN...] | bench -s [-o OUT] [IN...]\n");
		return 1;
	}
	if (a < argc && argc - a != info->n_inputs) {
		fprintf(stderr, "bench: the model has %d inputs, %d files given\n", info->n_inputs, argc - a);
		return 1;
	}
	const void *in[64];
	void *out[64];
	unsigned s = 12345;
	for (int i = 0; i < info->n_inputs; i++) {
		float *p = alloc64(info->inputs[i].bytes);
		if (a < argc)
			read_input(argv[a + i], p, info->inputs[i].bytes);
		else
			for (size_t k = 0; k < info->inputs[i].bytes / 4; k++) {
				s = s * 1103515245u + 12345u;
				p[k] = (float)((s >> 9) & 0xffff) / 65536.0f - 0.5f;
			}
		in[i] = p;
	}
	for (int i = 0; i < info->n_outputs; i++)
		out[i] = alloc64(info->outputs[i].bytes);
	void *ws = aligned_alloc(M(_WORKSPACE_ALIGN), (M(_WORKSPACE_SIZE) + M(_WORKSPACE_ALIGN)) / M(_WORKSPACE_ALIGN) * M(_WORKSPACE_ALIGN));
	for (int w = 0; w < 5; w++) {
		int st = M(_run)(in, out, ws);
		if (st != KILN_OK) {
			fprintf(stderr, "bench: run failed with status %d\n", st);
			return 1;
		}
	}
	if (outpath) {
		FILE *f = fopen(outpath, "wb");
		for (int i = 0; f && i < info->n_outputs; i++)
			fwrite(out[i], 1, info->outputs[i].bytes, f);
		if (!f || fclose(f)) {
			perror(outpath);
			return 1;
		}
	}
	if (serve) {
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
		printf("ready\n");
		fflush(stdout);
		int n;
		while (scanf("%d", &n) == 1 && n > 0) {
			double *t = malloc(n * sizeof *t);
			for (int r = 0; r < n; r++) {
				double t0 = now_ms();
				M(_run)(in, out, ws);
				t[r] = now_ms() - t0;
			}
			for (int r = 0; r < n; r++)
				printf("%.4f%c", t[r], r + 1 < n ? ' ' : '\n');
			fflush(stdout);
			free(t);
		}
		return 0;
	}
	double *t = malloc(runs * sizeof *t);
	for (int r = 0; r < runs; r++) {
		double t0 = now_ms();
		M(_run)(in, out, ws);
		t[r] = now_ms() - t0;
	}
	qsort(t, runs, sizeof *t, cmp);
	printf("%.3f %.3f %.3f\n", t[runs / 2], t[0], t[runs - 1]);
	return 0;
}
