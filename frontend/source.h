/* The neutral source model both readers (ONNX, JSON) produce and the one
 * importer (import.c and its op families) maps to IR.  Private to frontend/. */
#ifndef KILN_SOURCE_H
#define KILN_SOURCE_H

#include "frontend.h"

#define SRC_OPSET_MIN 1
#define SRC_OPSET_MAX 22

/* A dense constant: little-endian bytes of numel(dims) elements. */
typedef struct SrcTensor {
	const char *name;
	DType dt;
	int rank;
	int64_t dims[IR_MAX_RANK];
	const void *data;    /* not owned; lives as long as the SrcModel */
} SrcTensor;

typedef enum SrcAttrKind {
	SA_INT, SA_FLOAT, SA_INTS, SA_FLOATS, SA_STRING, SA_TENSOR, SA_STRINGS, SA_GRAPH, SA_OTHER
} SrcAttrKind;

typedef struct SrcAttr {
	const char *name;
	SrcAttrKind kind;
	int64_t i;
	double f;            /* f32 attributes are exact float values */
	int n;               /* INTS/FLOATS/STRINGS count */
	int64_t *ints;
	double *floats;
	const char *s;
	const char **strs;   /* SA_STRINGS */
	SrcTensor *t;        /* SA_TENSOR */
	struct SrcGraph *graph;  /* SA_GRAPH: an If branch */
	const char *other;   /* SA_OTHER: what it is, for messages ("graph") */
} SrcAttr;

typedef struct SrcNode {
	const char *name;    /* never NULL; "<Op>_<index>" when the model has none */
	const char *op;      /* source op type */
	const char *domain;  /* "" for the default domain */
	int nin, nout, nattr;
	const char **in;     /* "" for an omitted optional operand */
	const char **out;    /* "" for an output that is not produced */
	SrcAttr *attr;
	int index;           /* position in the source file */
} SrcNode;

/* A subgraph (If's branches): its own constants and nodes; it reads values
 * of the enclosing graph by name. */
typedef struct SrcGraph {
	IR_VEC(SrcTensor) consts;
	IR_VEC(SrcNode) nodes;
	IR_VEC(const char *) outputs;
} SrcGraph;

/* A graph input.  dims[i] < 0 means symbolic: param[i] names it (or NULL
 * when the model leaves the dimension unnamed). */
typedef struct SrcInput {
	const char *name;
	int elem;            /* source dtype code (ONNX), for messages */
	DType dt;            /* DT_UNDEF when unsupported */
	int rank;            /* -1: rank unknown */
	int64_t dims[IR_MAX_RANK];
	const char *param[IR_MAX_RANK];
} SrcInput;

typedef struct SrcModel {
	Arena *arena;        /* owns everything below except borrowed data */
	const char *file;    /* path, for messages */
	const char *name;
	int opset;           /* default-domain opset */
	bool lenient;        /* JSON: constant-operand attributes accepted at any opset */
	IR_VEC(SrcInput) inputs;
	IR_VEC(SrcTensor) consts;
	IR_VEC(SrcNode) nodes;
	IR_VEC(const char *) outputs;
} SrcModel;

/* Map a source model to a verified graph; NULL with errors in d.  Errors
 * the readers found (with d->nerr grown) should stop before this. */
Graph *src_import(SrcModel *m, const ImportOptions *o, Diag *d);

/* Copy the messages of tmp into d: all of them, or only the first (normal
 * mode stops at the first error). */
void src_diag_merge(Diag *d, const Diag *tmp, bool all);

/* Helpers shared by the readers. */
bool src_model_init(SrcModel *m, const char *file);
void src_model_free(SrcModel *m);
/* Store v (already range-checked by the caller) as element i of dt. */
void src_store(void *data, DType dt, int64_t i, double v);
/* Element i of dt as a double (exact for everything but huge 64-bit ints). */
double src_load(const void *data, DType dt, int64_t i);
/* Convert a float to IEEE half / bfloat16 bits (round to nearest even). */
uint16_t src_f32_to_f16(float f);
uint16_t src_f32_to_bf16(float f);
/* Read a whole file into malloc'd memory (*len bytes); NULL with errno set. */
char *src_read_file(const char *path, size_t *len);

#endif
