/* Writing a float ONNX model again as a QDQ model (kiln quantize): the
 * source ModelProto rewritten in place with QuantizeLinear/DequantizeLinear
 * pairs after the quantized activations and int8 initializers read through
 * DequantizeLinear for the weights, everything else (and every field kiln's
 * schema does not know, kept by protobuf-c as unknown fields) as it was. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outfile.h"
#include "frontend.h"
#include "onnx.pb-c.h"
#include "source.h"

typedef KilnOnnx__NodeProto NodeP;
typedef KilnOnnx__TensorProto TensorP;

/* A scalar or 1-D initializer of n values (f32 scales or 8-bit zeros). */
static TensorP *initializer(const char *name, int dtype, int n, bool vector, const void *data, size_t esz)
{
	TensorP *t = malloc(sizeof *t);
	if (!t)
		return NULL;
	*t = (TensorP)KILN_ONNX__TENSOR_PROTO__INIT;
	t->name = strdup(name);
	t->has_data_type = 1;
	t->data_type = dtype;
	if (vector) {
		t->n_dims = 1;
		t->dims = malloc(sizeof *t->dims);
		if (t->dims)
			t->dims[0] = n;
	}
	t->has_raw_data = 1;
	t->raw_data.len = (size_t)n * esz;
	t->raw_data.data = malloc(t->raw_data.len + 1);
	if (t->raw_data.data)
		memcpy(t->raw_data.data, data, t->raw_data.len);
	return t;
}

static NodeP *node(const char *op, const char *name, const char *a, const char *b, const char *c, const char *out, int axis)
{
	NodeP *n = malloc(sizeof *n);
	if (!n)
		return NULL;
	*n = (NodeP)KILN_ONNX__NODE_PROTO__INIT;
	n->op_type = strdup(op);
	n->name = strdup(name);
	n->n_input = 3;
	n->input = malloc(3 * sizeof *n->input);
	n->n_output = 1;
	n->output = malloc(sizeof *n->output);
	if (n->input) {
		n->input[0] = strdup(a), n->input[1] = strdup(b), n->input[2] = strdup(c);
	}
	if (n->output)
		n->output[0] = strdup(out);
	if (axis >= 0) {
		KilnOnnx__AttributeProto *at = malloc(sizeof *at);
		n->attribute = malloc(sizeof *n->attribute);
		if (at && n->attribute) {
			*at = (KilnOnnx__AttributeProto)KILN_ONNX__ATTRIBUTE_PROTO__INIT;
			at->name = strdup("axis");
			at->has_i = at->has_type = 1;
			at->i = axis;
			at->type = KILN_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
			n->attribute[0] = at;
			n->n_attribute = 1;
		}
	}
	return n;
}

/* Every node input named from becomes to. */
static void rename_inputs(KilnOnnx__GraphProto *gp, const char *from, const char *to)
{
	for (size_t i = 0; i < gp->n_node; i++)
		for (size_t j = 0; j < gp->node[i]->n_input; j++)
			if (!strcmp(gp->node[i]->input[j], from)) {
				free(gp->node[i]->input[j]);
				gp->node[i]->input[j] = strdup(to);
			}
}

bool onnx_write_qdq(const char *src, const char *dst, const OnnxQdqEdit *ed, int ned, Diag *d)
{
	size_t len = 0;
	char *buf = src_read_file(src, &len);
	KilnOnnx__ModelProto *mp = buf ? kiln_onnx__model_proto__unpack(NULL, len, (const uint8_t *)buf) : NULL;
	free(buf);
	if (!mp || !mp->graph) {
		diag_error(d, src, NULL, NULL, "cannot read the model again to write it quantized");
		if (mp)
			kiln_onnx__model_proto__free_unpacked(mp, NULL);
		return false;
	}
	KilnOnnx__GraphProto *gp = mp->graph;
	int64_t opset = 0;
	for (size_t i = 0; i < mp->n_opset_import; i++)
		if (!mp->opset_import[i]->domain || !*mp->opset_import[i]->domain || !strcmp(mp->opset_import[i]->domain, "ai.onnx"))
			opset = mp->opset_import[i]->version;
	if (opset < 13) {
		diag_error(d, src, NULL, NULL, "writing per-channel QDQ needs opset 13 or later (the model has %lld)", (long long)opset);
		kiln_onnx__model_proto__free_unpacked(mp, NULL);
		return false;
	}
	/* New nodes: weights' dequantizations first, each activation's pair
	 * right after its producer (graph inputs: first too). */
	size_t cap = gp->n_node + 2 * (size_t)ned + 1, nn = 0;
	NodeP **nodes = malloc(cap * sizeof *nodes);
	size_t ninit = gp->n_initializer, first_new = ninit;
	TensorP **inits = malloc((ninit + 3 * (size_t)ned + 1) * sizeof *inits);
	bool ok = nodes && inits;
	if (ok)
		memcpy(inits, gp->initializer, ninit * sizeof *inits);
	for (int k = 0; ok && k < ned; k++) {
		const OnnxQdqEdit *e = &ed[k];
		int nc = e->axis >= 0 ? e->nscale : 1;
		int8_t zeros8[1] = {0};
		uint8_t *z = malloc((size_t)nc + 1);
		if (!z) {
			ok = false;
			break;
		}
		for (int c = 0; c < nc; c++)
			z[c] = e->dtype == DT_I8 ? (uint8_t)(int8_t)e->zero[c] : (uint8_t)e->zero[c];
		(void)zeros8;
		char sname[600], zname[600], nm[600];
		snprintf(sname, sizeof sname, "%s_scale", e->q_name);
		snprintf(zname, sizeof zname, "%s_zero_point", e->q_name);
		inits[ninit++] = initializer(sname, 1 /* FLOAT */, nc, e->axis >= 0, e->scale, 4);
		inits[ninit++] = initializer(zname, e->dtype == DT_I8 ? 3 : 2, nc, e->axis >= 0, z, 1);
		free(z);
		if (e->weight) {
			/* the float initializer goes; its integers come in */
			for (size_t i = 0; i < ninit; i++)
				if (inits[i] && inits[i]->name && !strcmp(inits[i]->name, e->value)) {
					TensorP *w = inits[i];
					TensorP *q = initializer(e->q_name, 3 /* INT8 */, 0, false, "", 1);
					if (!q) {
						ok = false;
						break;
					}
					q->n_dims = w->n_dims;
					q->dims = malloc((w->n_dims + 1) * sizeof *q->dims);
					if (q->dims)
						memcpy(q->dims, w->dims, w->n_dims * sizeof *q->dims);
					free(q->raw_data.data);
					q->raw_data.len = (size_t)e->numel;
					q->raw_data.data = malloc(e->numel + 1);
					if (q->raw_data.data)
						memcpy(q->raw_data.data, e->data, e->numel);
					kiln_onnx__tensor_proto__free_unpacked(w, NULL);
					inits[i] = q;
					break;
				}
			/* older models list initializers among the inputs too */
			for (size_t i = 0; i < gp->n_input; i++)
				if (!strcmp(gp->input[i]->name, e->value)) {
					kiln_onnx__value_info_proto__free_unpacked(gp->input[i], NULL);
					memmove(&gp->input[i], &gp->input[i + 1], (gp->n_input - i - 1) * sizeof *gp->input);
					gp->n_input--;
					break;
				}
			rename_inputs(gp, e->value, e->dq_name);
			snprintf(nm, sizeof nm, "%s_DequantizeLinear", e->value);
			nodes[nn++] = node("DequantizeLinear", nm, e->q_name, sname, zname, e->dq_name, e->axis);
		} else if (strcmp(e->float_name, e->value)) {
			/* a graph output: its producer's result takes float_name, the
			 * dequantized value keeps the name its readers and the
			 * interface know */
			for (size_t i = 0; i < gp->n_node; i++)
				for (size_t j = 0; j < gp->node[i]->n_output; j++)
					if (!strcmp(gp->node[i]->output[j], e->value)) {
						free(gp->node[i]->output[j]);
						gp->node[i]->output[j] = strdup(e->float_name);
					}
		} else
			rename_inputs(gp, e->value, e->dq_name);
	}
	/* The original nodes with the activation pairs after their producers. */
	for (int pass = 0; ok && pass <= (int)gp->n_node; pass++) {
		/* pass 0: pairs of graph inputs; pass i: node i-1 and its pairs */
		NodeP *p = pass ? gp->node[pass - 1] : NULL;
		if (p)
			nodes[nn++] = p;
		for (int k = 0; k < ned; k++) {
			const OnnxQdqEdit *e = &ed[k];
			if (e->weight)
				continue;
			bool here = false;
			for (size_t j = 0; p && j < p->n_output; j++)
				here |= !strcmp(p->output[j], e->float_name);
			if (!p) {
				for (size_t j = 0; j < gp->n_input; j++)
					here |= !strcmp(gp->input[j]->name, e->float_name);
			}
			if (!here)
				continue;
			char sname[600], zname[600], nm[600];
			snprintf(sname, sizeof sname, "%s_scale", e->q_name);
			snprintf(zname, sizeof zname, "%s_zero_point", e->q_name);
			snprintf(nm, sizeof nm, "%s_QuantizeLinear", e->value);
			nodes[nn++] = node("QuantizeLinear", nm, e->float_name, sname, zname, e->q_name, -1);
			snprintf(nm, sizeof nm, "%s_DequantizeLinear", e->value);
			nodes[nn++] = node("DequantizeLinear", nm, e->q_name, sname, zname, e->dq_name, -1);
		}
	}
	for (size_t i = 0; ok && i < nn; i++)
		ok = nodes[i] && (nodes[i]->input || !nodes[i]->n_input) && (nodes[i]->output || !nodes[i]->n_output);
	for (size_t i = first_new; ok && i < ninit; i++)
		ok = inits[i] && inits[i]->raw_data.data;
	for (int k = 0; ok && k < ned; k++)  /* the weights' integers, in place of their floats */
		for (size_t i = 0; ed[k].weight && i < first_new; i++)
			if (inits[i] && inits[i]->name && !strcmp(inits[i]->name, ed[k].q_name))
				ok = inits[i]->raw_data.data != NULL;
	if (!ok) {
		diag_error(d, dst, NULL, NULL, "out of memory");
		free(nodes), free(inits);
		kiln_onnx__model_proto__free_unpacked(mp, NULL);
		return false;
	}
	free(gp->node);
	gp->node = nodes;
	gp->n_node = nn;
	free(gp->initializer);
	gp->initializer = inits;
	gp->n_initializer = ninit;
	/* The new graph's intermediate types are left to the reader. */
	for (size_t i = 0; i < gp->n_value_info; i++)
		kiln_onnx__value_info_proto__free_unpacked(gp->value_info[i], NULL);
	gp->n_value_info = 0;
	free(mp->producer_name);
	mp->producer_name = strdup("kiln quantize");
	size_t sz = kiln_onnx__model_proto__get_packed_size(mp);
	uint8_t *out = malloc(sz + 1);
	if (out) {
		kiln_onnx__model_proto__pack(mp, out);
		ok = ir_out_write(dst, src, out, sz, d);  /* exclusive temporary, renamed only onto a file or a new name */
	} else {
		diag_error(d, dst, NULL, NULL, "out of memory");
		ok = false;
	}
	free(out);
	kiln_onnx__model_proto__free_unpacked(mp, NULL);
	return ok;
}
