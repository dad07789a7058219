/* kiln runtime ABI: what a program that handles several generated models
 * generically may include.  Freestanding C99: no libc needed.
 * A generated header (NAME.h) is self-contained and does not need this one;
 * when both are included, NAME.h also declares NAME_info. */
#ifndef KILN_H
#define KILN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes returned by NAME_run. */
#define KILN_OK 0
#define KILN_ERR_NULL 1      /* inputs, outputs, workspace or an entry is NULL */
#define KILN_ERR_ALIGN 2     /* workspace is not NAME_WORKSPACE_ALIGN aligned */

/* Element types: the ONNX TensorProto.DataType codes.  The float8 types
 * are one byte of raw bits each.  KILN_U4/KILN_I4 buffers hold ONE ELEMENT
 * PER BYTE, not ONNX's two-per-byte packing: the value in the low 4 bits
 * (outputs have i4 sign-extended and u4 zero-extended; the high 4 bits of
 * inputs are ignored), so kiln_dtype_size() is 1 for them too. */
enum kiln_dtype {
	KILN_F32 = 1, KILN_U8 = 2, KILN_I8 = 3, KILN_U16 = 4, KILN_I16 = 5,
	KILN_I32 = 6, KILN_I64 = 7, KILN_BOOL = 9, KILN_F16 = 10, KILN_F64 = 11,
	KILN_U32 = 12, KILN_U64 = 13, KILN_BF16 = 16,
	KILN_F8E4M3FN = 17, KILN_F8E4M3FNUZ = 18, KILN_F8E5M2 = 19, KILN_F8E5M2FNUZ = 20,
	KILN_U4 = 21, KILN_I4 = 22
};

typedef struct kiln_tensor_info {
	const char *name;        /* name in the model */
	int32_t dtype;           /* enum kiln_dtype */
	int32_t rank;
	const int64_t *shape;    /* rank dims, row-major */
	uint64_t bytes;          /* dense size */
} kiln_tensor_info;

typedef int (*kiln_run_fn)(const void *const *inputs, void *const *outputs, void *workspace);

#ifndef KILN_PARALLEL_DEFINED
#define KILN_PARALLEL_DEFINED
/* For NAME_run_parallel: parallel_for must run task(ctx, i) for every i in
 * [0, n), on up to nthreads threads, and return when all have finished.
 * The generated code creates no threads; runtime/kiln_pthread.c is one
 * implementation, an RTOS or an application pool can be another. */
typedef struct kiln_parallel {
	void (*parallel_for)(void *pool, int n, void (*task)(void *ctx, int i), void *ctx);
	void *pool;
	int nthreads;
} kiln_parallel;
#endif

typedef int (*kiln_run_parallel_fn)(const void *const *inputs, void *const *outputs, void *workspace,
				    const kiln_parallel *par);

/* NAME_info, a read-only object in every generated object file. */
typedef struct kiln_model_info {
	uint32_t abi_version;    /* KILN_ABI_VERSION */
	const char *name;        /* the symbol prefix */
	int32_t n_inputs, n_outputs;
	const kiln_tensor_info *inputs;
	const kiln_tensor_info *outputs;
	uint64_t workspace_size;
	uint64_t workspace_align;
	kiln_run_fn run;
} kiln_model_info;

#define KILN_ABI_VERSION 1

const char *kiln_status_str(int status);
const char *kiln_dtype_name(int dtype);   /* "f32"..., "?" */
size_t kiln_dtype_size(int dtype);        /* bytes per element in a buffer; 0 if unknown */

#ifdef __cplusplus
}
#endif
#endif
