/* The digits demo: classify the held-out 8x8 digit images with the
 * kiln-compiled CNN, print accuracy and per-inference latency.
 * Links with digits.o and nothing else (libc for file reading and timing). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "digits.h"

static _Alignas(digits_WORKSPACE_ALIGN) unsigned char workspace[digits_WORKSPACE_SIZE + 1];

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static long read_file(const char *path, void *buf, long max)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(1);
	}
	long n = (long)fread(buf, 1, max, f);
	fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	char path[4096];
	enum { MAX = 2000, PIX = digits_INPUT_0_NUMEL };
	static float images[MAX * PIX];
	static unsigned char labels[MAX];

	snprintf(path, sizeof path, "%s/test_images.f32", dir);
	long n = read_file(path, images, sizeof images) / (long)sizeof(float) / PIX;
	snprintf(path, sizeof path, "%s/test_labels.u8", dir);
	if (read_file(path, labels, sizeof labels) != n) {
		fprintf(stderr, "digits: images and labels disagree in count\n");
		return 1;
	}

	float logits[digits_OUTPUT_0_NUMEL];
	int correct = 0;
	double best = 1e30, total = 0;
	for (long i = 0; i < n; i++) {
		const void *in[1] = {images + i * PIX};
		void *out[1] = {logits};
		double t0 = now_us();
		int rc = digits_run(in, out, workspace);
		double dt = now_us() - t0;
		if (rc != 0) {
			fprintf(stderr, "digits: digits_run failed with status %d\n", rc);
			return 1;
		}
		total += dt;
		if (dt < best)
			best = dt;
		int arg = 0;
		for (int k = 1; k < digits_OUTPUT_0_NUMEL; k++)
			if (logits[k] > logits[arg])
				arg = k;
		correct += arg == labels[i];
	}
	printf("digits: %ld test images, accuracy %.2f%% (%d correct)\n", n, 100.0 * correct / n, correct);
	printf("digits: latency per inference: mean %.1f us, best %.1f us; workspace %u bytes\n",
	       total / n, best, (unsigned)digits_WORKSPACE_SIZE);
	return 0;
}
