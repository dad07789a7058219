/* kiln compile --report: the compile summary as JSON. */
#ifndef KILN_REPORT_H
#define KILN_REPORT_H

#include "passes.h"

/* s as a JSON string literal. */
void report_json_str(FILE *f, const char *s);
/* Multiply-accumulates one node performs (0 for ops without a product). */
int64_t report_node_macs(const Graph *g, const Node *n);
/* ptq: the post-training quantization object (tools/ptq.c) or NULL. */
void report_write(FILE *f, Graph *g, int nodes_imported, const PassCtx *cx, const char *ptq);

#endif
