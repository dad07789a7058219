/* Example data for calibration and evaluation (and later kiln bisect):
 * the tensors of a folder, one example per graph input set, with labels
 * when the folder gives them. */
#ifndef KILN_DATASET_H
#define KILN_DATASET_H

#include "driver.h"

typedef struct Dataset {
	int n, cap, nin;
	void **in;           /* in[e * nin + i]: example e, input i (malloc-owned) */
	int *label;          /* per example, -1: none */
	bool labelled;
} Dataset;

/* Read dir for graph g's inputs: ONNX test-data folders
 * (test_data_set_N/input_<i>.pb; labels or expected outputs in
 * output_0.pb), or tensor files (.pb, .npy) in name order for a one-input
 * model with labels.npy/labels.pb beside them.  A tensor holds one example
 * or a batch along axis 0.  False with a one-line reason in err. */
bool ds_read(const char *dir, const Graph *g, Dataset *ds, char *err, size_t en);
void ds_free(Dataset *ds);

#endif
