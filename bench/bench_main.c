/* Latency harness for benchmarks: links one kiln object through its header,
 * runs it on a fixed pseudo-random input, prints the median latency.
 * Build: cc -O2 -DMODEL=name -include kiln.h -include name.h bench_main.c name.o */
#define _POSIX_C_SOURCE 200809L
#define _ISOC11_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define M(x) CAT(MODEL, x)

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? atoi(argv[1]) : 30;
	const kiln_model_info *info = &M(_info);
	const void *in[64];
	void *out[64];
	unsigned s = 12345;
	for (int i = 0; i < info->n_inputs; i++) {
		float *p = aligned_alloc(64, (info->inputs[i].bytes + 63) / 64 * 64);
		for (size_t k = 0; k < info->inputs[i].bytes / 4; k++) {
			s = s * 1103515245u + 12345u;
			p[k] = (float)((s >> 9) & 0xffff) / 65536.0f - 0.5f;
		}
		in[i] = p;
	}
	for (int i = 0; i < info->n_outputs; i++)
		out[i] = aligned_alloc(64, (info->outputs[i].bytes + 63) / 64 * 64);
	void *ws = aligned_alloc(M(_WORKSPACE_ALIGN), (M(_WORKSPACE_SIZE) + M(_WORKSPACE_ALIGN)) / M(_WORKSPACE_ALIGN) * M(_WORKSPACE_ALIGN));
	for (int w = 0; w < 5; w++)
		M(_run)(in, out, ws);
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
