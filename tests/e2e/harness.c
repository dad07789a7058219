/* End-to-end harness: links one kiln-generated object through its header
 * and nothing else.  Reads DIR/input_<i>.bin (raw tensor bytes), runs the
 * model twice in two workspaces (checking reentrancy and that outputs need
 * no zeroing), once through NAME_run_parallel on a 3-thread pool (the same
 * bytes), writes DIR/output_<i>.bin.
 * Build: cc -DMODEL=name -include kiln.h -include name.h harness.c name.o */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln_pthread.h"

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define M(x) CAT(MODEL, x)

static void *load(const char *dir, const char *kind, int i, size_t bytes)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s_%d.bin", dir, kind, i);
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(3);
	}
	/* Allocate exactly the tensor size (+0 slack) so overruns show under
	 * valgrind/ASan; align to 64. */
	void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
	if (!p || fread(p, 1, bytes, f) != bytes) {
		fprintf(stderr, "%s: short read\n", path);
		exit(3);
	}
	fclose(f);
	return p;
}

typedef struct Job {
	const void *const *in;
	void *const *out;
	void *ws;
	int rc;
} Job;

static void *run_job(void *arg)
{
	Job *j = arg;
	for (int k = 0; k < 3 && !j->rc; k++)  /* a few times, so the runs overlap */
		j->rc = M(_run)(j->in, j->out, j->ws);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	const kiln_model_info *info = &M(_info);

	/* The header's macros and the object's info must agree. */
	if (info->n_inputs != M(_NUM_INPUTS) || info->n_outputs != M(_NUM_OUTPUTS) ||
	    info->workspace_size != M(_WORKSPACE_SIZE) || info->workspace_align != M(_WORKSPACE_ALIGN) ||
	    info->inputs[0].bytes != M(_INPUT_0_SIZE) || info->outputs[0].bytes != M(_OUTPUT_0_SIZE)) {
		fprintf(stderr, "harness: header macros disagree with %s_info\n", info->name);
		return 4;
	}
	const void *in[64];
	void *out[2][64];
	for (int i = 0; i < info->n_inputs; i++)
		in[i] = load(dir, "input", i, info->inputs[i].bytes);
	size_t wsz = M(_WORKSPACE_SIZE) ? M(_WORKSPACE_SIZE) : 1;
	void *ws[2];
	for (int r = 0; r < 2; r++) {
		ws[r] = aligned_alloc(M(_WORKSPACE_ALIGN), (wsz + M(_WORKSPACE_ALIGN) - 1) / M(_WORKSPACE_ALIGN) * M(_WORKSPACE_ALIGN));
		memset(ws[r], r ? 0x5a : 0xa5, wsz);  /* garbage: the model must not rely on zeroed scratch */
		for (int i = 0; i < info->n_outputs; i++) {
			out[r][i] = aligned_alloc(64, (info->outputs[i].bytes + 63) / 64 * 64);
			memset(out[r][i], r ? 0xff : 0x7f, info->outputs[i].bytes);
		}
	}
	Job jobs[2];
	pthread_t th[2];
	for (int r = 0; r < 2; r++) {
		jobs[r] = (Job){in, out[r], ws[r], 0};
		if (pthread_create(&th[r], NULL, run_job, &jobs[r]) != 0) {
			fprintf(stderr, "harness: cannot start a thread\n");
			return 5;
		}
	}
	for (int r = 0; r < 2; r++) {
		pthread_join(th[r], NULL);
		if (jobs[r].rc != 0) {
			fprintf(stderr, "harness: run %d returned %d\n", r, jobs[r].rc);
			return 5;
		}
	}
	for (int i = 0; i < info->n_outputs; i++) {
		if (memcmp(out[0][i], out[1][i], info->outputs[i].bytes) != 0) {
			fprintf(stderr, "harness: output %d differs between two runs\n", i);
			return 6;
		}
		char path[4096];
		snprintf(path, sizeof path, "%s/output_%d.bin", dir, i);
		FILE *f = fopen(path, "wb");
		if (!f || fwrite(out[0][i], 1, info->outputs[i].bytes, f) != info->outputs[i].bytes) {
			perror(path);
			return 3;
		}
		fclose(f);
	}
	/* NAME_run_parallel on a pool of 3 threads gives the same bytes. */
	kiln_pool *pool = kiln_pool_new(3);
	if (!pool) {
		fprintf(stderr, "harness: cannot start the pool\n");
		return 5;
	}
	kiln_parallel par;
	kiln_pool_parallel(pool, &par);
	for (int i = 0; i < info->n_outputs; i++)
		memset(out[1][i], 0xee, info->outputs[i].bytes);
	memset(ws[1], 0x33, wsz);
	int prc = M(_run_parallel)(in, out[1], ws[1], &par);
	kiln_pool_free(pool);
	if (prc != 0) {
		fprintf(stderr, "harness: run_parallel returned %d\n", prc);
		return 5;
	}
	for (int i = 0; i < info->n_outputs; i++)
		if (memcmp(out[0][i], out[1][i], info->outputs[i].bytes) != 0) {
			fprintf(stderr, "harness: output %d of run_parallel differs from run\n", i);
			return 6;
		}
	/* A misaligned workspace is refused, not used. */
	if (M(_WORKSPACE_SIZE) && M(_WORKSPACE_ALIGN) > 1 &&
	    M(_run)(in, out[0], (char *)ws[0] + 1) != KILN_ERR_ALIGN) {
		fprintf(stderr, "harness: misaligned workspace not refused\n");
		return 7;
	}
	if (M(_run)(NULL, out[0], ws[0]) != KILN_ERR_NULL) {
		fprintf(stderr, "harness: NULL inputs not refused\n");
		return 7;
	}
	return 0;
}
