/* Host helpers for kiln run and examples: read and write tensors as ONNX
 * TensorProto (.pb) and NumPy (.npy) files.  Hosted C (uses stdio/malloc). */
#ifndef KILN_IO_H
#define KILN_IO_H

#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

#define KILN_IO_MAX_RANK 8

typedef struct kiln_tensor {
	char name[256];           /* TensorProto name; "" for .npy */
	int dtype;                /* enum kiln_dtype */
	int rank;
	int64_t shape[KILN_IO_MAX_RANK];
	void *data;               /* malloc-owned, dense row-major little-endian; i4/u4 one per byte (see kiln.h) */
	size_t bytes;
} kiln_tensor;

/* Read a .pb TensorProto or a .npy file (detected by content).  Returns 0,
 * or -1 with a one-line reason in err. */
int kiln_tensor_read(const char *path, kiln_tensor *t, char *err, size_t errlen);
/* Decode from memory: a TensorProto, a .npy image, or either (by the npy
 * magic).  On failure t holds no data. */
int kiln_tensor_decode(const uint8_t *buf, size_t len, kiln_tensor *t, char *err, size_t errlen);
int kiln_tensor_decode_pb(const uint8_t *buf, size_t len, kiln_tensor *t, char *err, size_t errlen);
int kiln_tensor_decode_npy(const uint8_t *buf, size_t len, kiln_tensor *t, char *err, size_t errlen);
/* Write atomically (temporary file renamed into place); dense raw_data
 * (i4/u4 packed two per byte, as ONNX stores them). */
int kiln_tensor_write_pb(const char *path, const kiln_tensor *t, char *err, size_t errlen);
int kiln_tensor_write_npy(const char *path, const kiln_tensor *t, char *err, size_t errlen);
void kiln_tensor_free(kiln_tensor *t);
size_t kiln_tensor_numel(const kiln_tensor *t);

#endif
