/* IR -> LLVM module -> object/asm/bitcode, the generated header, and a JIT
 * for kiln run.  The only code that includes llvm-c. */
#ifndef KILN_CODEGEN_H
#define KILN_CODEGEN_H

#include "ir.h"
#include "targets.h"

/* KILN_VERSION (printed in generated headers and by kiln --version) comes
 * from CMake's project(VERSION). */

typedef enum CgEmit { EMIT_OBJ, EMIT_ASM, EMIT_LLVM, EMIT_BC } CgEmit;

typedef struct CgOptions {
	const char *name;        /* symbol prefix: NAME_run, NAME_info */
	const Target *target;    /* NULL: the host */
	const char *cpu;         /* NULL: target default ("native" features on host) */
	const char *features;    /* NULL: target default */
	int opt_level;           /* 0..3 */
	const char *weights_section; /* object files: the section of every weight blob, or NULL:
				      * one .rodata.NAME.* section each (as code: .text.NAME.*) */
} CgOptions;

/* The f32 lanes of the vectors the kernels use on this target (what the
 * layout pass blocks channels by); 0 for a target without vector registers. */
int cg_vector_lanes(const CgOptions *o);

/* Does the backend have a lowering for op (codegen/cg_lower.c's table)?
 * Every op of ir/ops.def should. */
bool cg_op_has_lowering(Op op);

/* Report (into d) every node this backend cannot lower; true if none. */
bool cg_check(const Graph *g, const CgOptions *o, Diag *d);

/* Compile a planned graph and write path (NULL: stdout) through an
 * exclusive temporary renamed into place (ir/outfile.h): on failure nothing
 * is left at path, and a path that is the model is refused. */
bool cg_emit(Graph *g, const CgOptions *o, CgEmit kind, const char *path, Diag *d);

/* The self-contained C header for the generated object (codegen/cg_header.c). */
bool cg_emit_header(const Graph *g, const CgOptions *o, const char *path, Diag *d);
/* Same text, to a stream. */
void cg_write_header(const Graph *g, const CgOptions *o, FILE *f);

/* In-process compilation for kiln run / bench: same lowering, same
 * optimization pipeline, host target. */
typedef int (*KilnRunFn)(const void *const *inputs, void *const *outputs, void *workspace);
typedef struct CgJit CgJit;
CgJit *cg_jit_new(Graph *g, const CgOptions *o, Diag *d);
KilnRunFn cg_jit_fn(CgJit *j);
/* NAME_run_parallel; par is a kiln_parallel (runtime/kiln.h). */
typedef int (*KilnRunParallelFn)(const void *const *inputs, void *const *outputs, void *workspace, const void *par);
KilnRunParallelFn cg_jit_parallel_fn(CgJit *j);
void cg_jit_free(CgJit *j);

/* IrFoldFn: evaluate constant expressions on the host through the same
 * lowering, in-process (codegen/cg_fold.c). */
bool cg_fold(Graph *g, const ValueId *want, int n, Diag *d);

/* A valid C identifier derived from s (the output file stem). */
void cg_sanitize_name(const char *s, char *out, size_t outlen);

#endif
