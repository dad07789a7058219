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

/* One quantized tensor of a QDQ model to write (kiln quantize): an
 * activation gets QuantizeLinear -> DequantizeLinear after its producer; a
 * weight initializer becomes int8 read through DequantizeLinear. */
typedef struct OnnxQdqEdit {
	bool weight;
	const char *value;       /* the float tensor's name in the source model */
	const char *float_name;  /* its producer's result after the edit (!= value: a graph output) */
	const char *q_name, *dq_name;
	DType dtype;             /* DT_U8 or DT_I8 */
	int axis;                /* per channel along axis, or -1 */
	int nscale;
	const float *scale;
	const int32_t *zero;
	const int8_t *data;      /* weight: numel integers */
	int64_t numel;
} OnnxQdqEdit;
/* Write src again to dst with the edits (frontend/onnx_qdq.c); false with
 * a message in d.  dst is written whole or not at all. */
bool onnx_write_qdq(const char *src, const char *dst, const OnnxQdqEdit *ed, int ned, Diag *d);

/* Parse "NAME=1,3,224,224" into b (name points into arg).  false if malformed. */
bool frontend_parse_shape_arg(char *arg, ShapeBinding *b);

#endif
