/* Model readers: bytes on disk -> IR.  The only code that includes
 * protobuf-c or cJSON.  Every reader validates everything it reads. */
#ifndef KILN_FRONTEND_H
#define KILN_FRONTEND_H

#include "ir.h"

#define IMPORT_MAX_SHAPES 32

/* --shape NAME=d0,d1,...: NAME is a graph input (the whole shape) or a
 * symbolic dimension name (then exactly one value). */
typedef struct ShapeBinding {
	const char *name;
	int rank;
	int64_t dims[IR_MAX_RANK];
} ShapeBinding;

/* --const NAME=FILE: graph input NAME becomes a constant with this value
 * (an AOT compiler may specialize on inputs that never change). */
typedef struct ConstBinding {
	const char *name;
	DType dt;
	int rank;
	int64_t dims[IR_MAX_RANK];
	const void *data;    /* borrowed; dense little-endian */
} ConstBinding;

typedef struct ImportOptions {
	int nshapes;
	ShapeBinding shapes[IMPORT_MAX_SHAPES];
	int nconsts;
	ConstBinding consts[IMPORT_MAX_SHAPES];
	/* kiln check: report every unsupported op, attribute and dtype in the
	 * model instead of stopping at the first problem. */
	bool check_all;
	/* Evaluates constant subexpressions the importer needs as numbers
	 * (shape programs: Shape -> Gather -> Concat -> Reshape).  NULL: such
	 * operands must be constants in the file. */
	IrFoldFn fold;
} ImportOptions;

/* Each returns a verified graph, or NULL with errors in d.  The graph's
 * file is set to path for later diagnostics. */
Graph *onnx_import(const char *path, const ImportOptions *o, Diag *d);
Graph *json_import(const char *path, const ImportOptions *o, Diag *d);
/* Dispatch on content/extension: .onnx (protobuf), .json, .kir (IR text). */
Graph *frontend_load(const char *path, const ImportOptions *o, Diag *d);

/* Parse "NAME=1,3,224,224" into b (name points into arg).  false if malformed. */
bool frontend_parse_shape_arg(char *arg, ShapeBinding *b);

#endif
