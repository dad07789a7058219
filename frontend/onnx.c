/* The ONNX reader: protobuf (our own schema, onnx.proto) -> source model,
 * validating every field it reads; import.c maps the result to IR. */
#include "source.h"
#include "onnx.pb-c.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ONNX reader assumes a little-endian host (raw_data is little-endian)"
#endif

typedef KilnOnnx__TensorProto TensorProto;

typedef struct Reader {
	SrcModel *m;
	Diag *d;
	const char *file;
	char *dir;            /* the model's folder, for external data */
	const char *node;     /* node being read (messages), or NULL */
	const char *op;
	bool complete;        /* every part was reached (kiln check may go on) */
	int depth;            /* subgraph nesting */
} Reader;

static const char *S(const char *s) { return s ? s : ""; }

static bool rfail(Reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool rfail(Reader *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_verror(r->d, r->file, r->node, r->op, fmt, ap);
	va_end(ap);
	return false;
}

static char *rdup(Reader *r, const char *s)
{
	return ir_arena_strdup(r->m->arena, S(s));
}

static const char *onnx_type_name(int code)
{
	switch (code) {
	case 0: return "undefined";
	case 8: return "string";
	case 14: return "complex64";
	case 15: return "complex128";
	case 17: case 18: case 19: case 20: return "float8";
	case 21: return "uint4";
	case 22: return "int4";
	case 23: return "float4";
	default: return "unknown";
	}
}

/* Strict non-negative decimal. */
static bool parse_offset(const char *s, int64_t *out)
{
	if (!s || !*s)
		return false;
	int64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return true;
}

/* Read bytes of external data for the tensor `what`.  The location must
 * stay inside the model's folder, also after resolving symlinks. */
static bool read_external(Reader *r, const TensorProto *t, const char *what, int64_t bytes, const void **out)
{
	const char *loc = NULL;
	int64_t offset = 0, length = -1;
	for (size_t i = 0; i < t->n_external_data; i++) {
		const char *k = S(t->external_data[i]->key), *v = S(t->external_data[i]->value);
		if (strcmp(k, "location") == 0)
			loc = v;
		else if (strcmp(k, "offset") == 0) {
			if (!parse_offset(v, &offset))
				return rfail(r, "%s: invalid external data offset '%s'", what, v);
		} else if (strcmp(k, "length") == 0) {
			if (!parse_offset(v, &length))
				return rfail(r, "%s: invalid external data length '%s'", what, v);
		}
	}
	if (!loc || !*loc)
		return rfail(r, "%s: external data has no location", what);
	if (loc[0] == '/' || loc[0] == '\\' || (loc[0] && loc[1] == ':'))
		return rfail(r, "%s: external data location '%s' is an absolute path; it must be relative to the "
			     "model's folder", what, loc);
	for (const char *p = loc; *p;) {
		size_t n = strcspn(p, "/\\");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return rfail(r, "%s: external data location '%s' escapes the model's folder", what, loc);
		p += n;
		if (*p)
			p++;
	}
	if (length >= 0 && length != bytes)
		return rfail(r, "%s: external data length %lld does not match the %lld bytes its shape needs", what,
			     (long long)length, (long long)bytes);
	size_t fl = strlen(r->dir) + strlen(loc) + 2;
	char *full = malloc(fl);
	if (!full)
		return rfail(r, "out of memory");
	snprintf(full, fl, "%s/%s", r->dir, loc);
	char *rfull = realpath(full, NULL);
	int err = errno;
	free(full);
	if (!rfull)
		return rfail(r, "%s: cannot open external data file '%s': %s", what, loc, strerror(err));
	char *rdir = realpath(r->dir, NULL);
	bool inside = false;
	if (rdir) {
		size_t n = strlen(rdir);
		if (n == 1 && rdir[0] == '/')
			n = 0;
		inside = strncmp(rfull, rdir, n) == 0 && rfull[n] == '/';
	}
	free(rdir);
	if (!inside) {
		free(rfull);
		return rfail(r, "%s: external data file '%s' resolves outside the model's folder", what, loc);
	}
	FILE *f = fopen(rfull, "rb");
	free(rfull);
	struct stat st;
	if (!f)
		return rfail(r, "%s: cannot open external data file '%s': %s", what, loc, strerror(errno));
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		return rfail(r, "%s: external data file '%s' is not a regular file", what, loc);
	}
	if (offset > st.st_size || bytes > st.st_size - offset) {
		fclose(f);
		return rfail(r, "%s: external data file '%s' is too short: needs %lld bytes at offset %lld, has %lld",
			     what, loc, (long long)bytes, (long long)offset, (long long)st.st_size);
	}
	void *buf = ir_arena_alloc(r->m->arena, (size_t)bytes + 1);
	if (!buf) {
		fclose(f);
		return rfail(r, "%s: out of memory reading %lld bytes of external data", what, (long long)bytes);
	}
	bool ok = fseeko(f, (off_t)offset, SEEK_SET) == 0 && fread(buf, 1, (size_t)bytes, f) == (size_t)bytes;
	fclose(f);
	if (!ok)
		return rfail(r, "%s: short read from external data file '%s'", what, loc);
	*out = buf;
	return true;
}

/* Number of elements held in typed field other than the one dt uses. */
static size_t typed_count(const TensorProto *t, DType dt, size_t *other)
{
	size_t n[5] = {t->n_float_data, t->n_int32_data, t->n_int64_data, t->n_double_data, t->n_uint64_data};
	int which;
	switch (dt) {
	case DT_F32: which = 0; break;
	case DT_I64: which = 2; break;
	case DT_F64: which = 3; break;
	case DT_U32: case DT_U64: which = 4; break;
	default: which = 1; break;
	}
	*other = 0;
	for (int i = 0; i < 5; i++)
		if (i != which)
			*other += n[i];
	return n[which];
}

static bool typed_values(Reader *r, const TensorProto *t, DType dt, size_t count, int64_t bytes, SrcTensor *out);

/* ONNX packs 4-bit integers two per byte, low nibble first; the IR holds
 * one per byte (i4 sign-extended).  Expands n elements of src into dst. */
static void unpack_4bit(unsigned char *dst, const unsigned char *src, int64_t n, bool sign)
{
	for (int64_t i = 0; i < n; i++) {
		int v = src[i / 2] >> (i % 2 * 4) & 0x0f;
		dst[i] = (unsigned char)(sign && v & 8 ? v - 16 : v);
	}
}

/* Decode a TensorProto into dense little-endian bytes. */
static bool decode_tensor(Reader *r, const TensorProto *t, const char *what, SrcTensor *out)
{
	memset(out, 0, sizeof *out);
	out->name = rdup(r, t->name);
	if (!out->name)
		return rfail(r, "out of memory");
	int code = t->has_data_type ? t->data_type : 0;
	DType dt = ir_dtype_from_onnx(code);
	if (dt == DT_UNDEF)
		return rfail(r, "%s has unsupported dtype %s (ONNX type %d)", what, onnx_type_name(code), code);
	out->dt = dt;
	if (t->n_dims > IR_MAX_RANK)
		return rfail(r, "%s has rank %zu; at most %d is supported", what, t->n_dims, IR_MAX_RANK);
	out->rank = (int)t->n_dims;
	for (size_t i = 0; i < t->n_dims; i++) {
		if (t->dims[i] < 0)
			return rfail(r, "%s has a negative dimension %lld", what, (long long)t->dims[i]);
		out->dims[i] = t->dims[i];
	}
	int64_t numel = ir_shape_numel(out->rank, out->dims);
	int size = ir_dtype_size(dt);
	if (numel < 0 || numel > INT64_MAX / 16)
		return rfail(r, "%s is too large (element count overflows)", what);
	int64_t bytes = numel * size;
	bool nib = dt == DT_I4 || dt == DT_U4;
	int64_t stored = nib ? (numel + 1) / 2 : bytes;  /* bytes (or int32_data values) in the file */
	if (t->segment)
		return rfail(r, "%s is segmented; segmented tensors are not supported", what);
	const void *packed = NULL;
	if (t->has_data_location && t->data_location == KILN_ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
		if (!read_external(r, t, what, stored, nib ? &packed : &out->data))
			return false;
	} else if (t->has_data_location && t->data_location != KILN_ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT) {
		return rfail(r, "%s has unknown data_location %d", what, (int)t->data_location);
	} else {
		size_t other;
		size_t count = typed_count(t, dt, &other);
		if (t->has_raw_data && (count || other))
			return rfail(r, "%s has both raw_data and typed data", what);
		if (t->has_raw_data) {
			if ((int64_t)t->raw_data.len != stored)
				return rfail(r, "%s has %zu bytes of raw_data, its shape needs %lld", what, t->raw_data.len,
					     (long long)stored);
			packed = t->raw_data.data ? (const void *)t->raw_data.data : (const void *)"";
			if (!nib)
				out->data = packed;
		} else {
			if (other)
				return rfail(r, "%s stores its data in a field that does not match its dtype %s", what,
					     ir_dtype_name(dt));
			if ((int64_t)count != (nib ? stored : numel))
				return rfail(r, "%s has %zu %s of data, its shape needs %lld", what, count,
					     nib ? "packed bytes" : "elements", (long long)(nib ? stored : numel));
			if (!nib)
				return typed_values(r, t, dt, count, bytes, out);
			unsigned char *q = ir_arena_alloc(r->m->arena, (size_t)stored + 1);
			if (!q)
				return rfail(r, "out of memory");
			for (size_t i = 0; i < count; i++)
				q[i] = (unsigned char)t->int32_data[i];
			packed = q;
		}
	}
	if (!nib)
		return true;
	unsigned char *p = ir_arena_alloc(r->m->arena, (size_t)bytes + 1);
	if (!p)
		return rfail(r, "out of memory");
	unpack_4bit(p, packed, numel, dt == DT_I4);
	out->data = p;
	return true;
}

/* The typed fields (float_data, int32_data, ...) as dense bytes. */
static bool typed_values(Reader *r, const TensorProto *t, DType dt, size_t count, int64_t bytes, SrcTensor *out)
{
	unsigned char *p = ir_arena_alloc(r->m->arena, (size_t)bytes + 1);
	if (!p)
		return rfail(r, "out of memory");
	for (size_t i = 0; i < count; i++) {
		switch (dt) {
		case DT_F32: memcpy(p + 4 * i, &t->float_data[i], 4); break;
		case DT_I64: memcpy(p + 8 * i, &t->int64_data[i], 8); break;
		case DT_F64: memcpy(p + 8 * i, &t->double_data[i], 8); break;
		case DT_U64: memcpy(p + 8 * i, &t->uint64_data[i], 8); break;
		case DT_U32: { uint32_t v = (uint32_t)t->uint64_data[i]; memcpy(p + 4 * i, &v, 4); break; }
		case DT_I32: memcpy(p + 4 * i, &t->int32_data[i], 4); break;
		case DT_I16: case DT_U16: case DT_F16: case DT_BF16: {
			uint16_t v = (uint16_t)t->int32_data[i];
			memcpy(p + 2 * i, &v, 2);
			break;
		}
		case DT_BOOL: p[i] = t->int32_data[i] != 0; break;
		default: p[i] = (uint8_t)t->int32_data[i]; break;  /* i8, u8, float8 bits */
		}
	}
	out->data = p;
	return true;
}

static bool read_node(Reader *r, const KilnOnnx__NodeProto *np, int index, SrcNode *n);

/* An If branch: constants, nodes and output names.  Nesting is bounded so
 * a hostile file cannot exhaust the stack. */
static bool read_subgraph(Reader *r, const KilnOnnx__GraphProto *gp, SrcGraph *g)
{
	SrcModel *m = r->m;
	memset(g, 0, sizeof *g);
	if (r->depth >= 8)
		return rfail(r, "subgraphs are nested too deeply");
	if (gp->n_node > INT_MAX / 64 || gp->n_initializer > INT_MAX / 64 || gp->n_output > INT_MAX / 64)
		return rfail(r, "a subgraph is too large");
	r->depth++;
	bool ok = true;
	for (size_t i = 0; ok && i < gp->n_initializer; i++) {
		const TensorProto *t = gp->initializer[i];
		char what[400];
		snprintf(what, sizeof what, "subgraph initializer '%.300s'", S(t->name));
		SrcTensor st;
		if (!t->name || !*t->name)
			ok = rfail(r, "a subgraph initializer has no name");
		else if (decode_tensor(r, t, what, &st) && !IR_VEC_PUSH(m, g->consts, st))
			ok = rfail(r, "out of memory");
	}
	for (size_t i = 0; ok && i < gp->n_output; i++) {
		const char *name = rdup(r, gp->output[i]->name);
		ok = name && *name && IR_VEC_PUSH(m, g->outputs, name);
		if (!ok)
			rfail(r, "a subgraph output has no name");
	}
	const char *node = r->node, *op = r->op;
	for (size_t i = 0; ok && i < gp->n_node; i++) {
		SrcNode n;
		ok = read_node(r, gp->node[i], (int)i, &n) && IR_VEC_PUSH(m, g->nodes, n);
	}
	r->node = node;
	r->op = op;
	r->depth--;
	return ok;
}

static bool read_attr(Reader *r, const KilnOnnx__AttributeProto *a, SrcAttr *out)
{
	memset(out, 0, sizeof *out);
	out->name = rdup(r, a->name);
	if (!out->name)
		return rfail(r, "out of memory");
	if (!*out->name)
		return rfail(r, "an attribute has no name");
	if (a->ref_attr_name && *a->ref_attr_name) {
		out->kind = SA_OTHER;
		out->other = "a reference to a function attribute";
		return true;
	}
	int type = a->has_type ? (int)a->type : 0;
	if (type == 0) {  /* IR version 1: guess from the fields present */
		type = a->has_f ? 1 : a->has_i ? 2 : a->has_s ? 3 : a->t ? 4 : a->n_floats ? 6 : a->n_ints ? 7 : 0;
	}
	Arena *ar = r->m->arena;
	switch (type) {
	case KILN_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
		out->kind = SA_FLOAT;
		out->f = a->f;
		break;
	case KILN_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
		out->kind = SA_INT;
		out->i = a->i;
		break;
	case KILN_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: {
		char *s = ir_arena_alloc(ar, a->s.len + 1);
		if (!s)
			return rfail(r, "out of memory");
		if (a->s.len)
			memcpy(s, a->s.data, a->s.len);
		out->kind = SA_STRING;
		out->s = s;
		break;
	}
	case KILN_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
	case KILN_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: {
		bool fl = type == KILN_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
		size_t n = fl ? a->n_floats : a->n_ints;
		if (n > INT_MAX / 16)
			return rfail(r, "attribute '%s' has too many values", out->name);
		out->kind = fl ? SA_FLOATS : SA_INTS;
		out->n = (int)n;
		if (fl) {
			out->floats = ir_arena_alloc(ar, (n + 1) * sizeof *out->floats);
			if (!out->floats)
				return rfail(r, "out of memory");
			for (size_t i = 0; i < n; i++)
				out->floats[i] = a->floats[i];
		} else {
			out->ints = ir_arena_alloc(ar, (n + 1) * sizeof *out->ints);
			if (!out->ints)
				return rfail(r, "out of memory");
			if (n)
				memcpy(out->ints, a->ints, n * sizeof *out->ints);
		}
		break;
	}
	case KILN_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: {
		if (!a->t)
			return rfail(r, "attribute '%s' is a tensor attribute without a tensor", out->name);
		char what[300];
		snprintf(what, sizeof what, "attribute '%s'", out->name);
		out->kind = SA_TENSOR;
		out->t = ir_arena_alloc(ar, sizeof *out->t);
		if (!out->t)
			return rfail(r, "out of memory");
		return decode_tensor(r, a->t, what, out->t);
	}
	case KILN_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR:
		out->kind = SA_OTHER;
		out->other = "a sparse tensor (sparse tensors are not supported)";
		break;
	case KILN_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: {
		size_t n = a->n_strings;
		if (n > INT_MAX / 16)
			return rfail(r, "attribute '%s' has too many values", out->name);
		out->kind = SA_STRINGS;
		out->n = (int)n;
		out->strs = ir_arena_alloc(ar, (n + 1) * sizeof *out->strs);
		if (!out->strs)
			return rfail(r, "out of memory");
		for (size_t i = 0; i < n; i++) {
			char *s = ir_arena_alloc(ar, a->strings[i].len + 1);
			if (!s)
				return rfail(r, "out of memory");
			if (a->strings[i].len)
				memcpy(s, a->strings[i].data, a->strings[i].len);
			out->strs[i] = s;
		}
		break;
	}
	case KILN_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
		if (!a->g)
			return rfail(r, "attribute '%s' is a graph attribute without a graph", out->name);
		out->kind = SA_GRAPH;
		out->graph = ir_arena_alloc(ar, sizeof *out->graph);
		if (!out->graph)
			return rfail(r, "out of memory");
		return read_subgraph(r, a->g, out->graph);
	case KILN_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS:
		out->kind = SA_OTHER;
		out->other = "a subgraph (control flow is not supported)";
		break;
	default:
		out->kind = SA_OTHER;
		out->other = "an attribute of an unsupported type";
		break;
	}
	return true;
}

static bool read_node(Reader *r, const KilnOnnx__NodeProto *np, int index, SrcNode *n)
{
	Arena *ar = r->m->arena;
	memset(n, 0, sizeof *n);
	n->index = index;
	n->op = rdup(r, np->op_type);
	n->domain = rdup(r, np->domain);
	if (!n->op || !n->domain)
		return rfail(r, "out of memory");
	if (!*n->op)
		n->op = "(no op type)";
	if (np->name && *np->name)
		n->name = rdup(r, np->name);
	else {
		char buf[200];
		snprintf(buf, sizeof buf, "%.150s_%d", n->op, index);
		n->name = ir_arena_strdup(ar, buf);
	}
	if (!n->name)
		return rfail(r, "out of memory");
	r->node = n->name;
	r->op = n->op;
	if (np->n_input > 1024 || np->n_output > 1024 || np->n_attribute > 1024)
		return rfail(r, "too many inputs, outputs or attributes");
	n->nin = (int)np->n_input;
	n->nout = (int)np->n_output;
	n->nattr = (int)np->n_attribute;
	n->in = ir_arena_alloc(ar, (np->n_input + 1) * sizeof *n->in);
	n->out = ir_arena_alloc(ar, (np->n_output + 1) * sizeof *n->out);
	n->attr = ir_arena_alloc(ar, (np->n_attribute + 1) * sizeof *n->attr);
	if (!n->in || !n->out || !n->attr)
		return rfail(r, "out of memory");
	for (int i = 0; i < n->nin; i++)
		if (!(n->in[i] = rdup(r, np->input[i])))
			return rfail(r, "out of memory");
	for (int i = 0; i < n->nout; i++)
		if (!(n->out[i] = rdup(r, np->output[i])))
			return rfail(r, "out of memory");
	bool ok = true;
	for (int i = 0; i < n->nattr; i++)
		if (!read_attr(r, np->attribute[i], &n->attr[i]))
			ok = false;
	return ok;
}

static bool read_input(Reader *r, const KilnOnnx__ValueInfoProto *vi, SrcInput *in)
{
	memset(in, 0, sizeof *in);
	in->name = rdup(r, vi->name);
	if (!in->name)
		return rfail(r, "out of memory");
	if (!*in->name)
		return rfail(r, "a graph input has no name");
	const KilnOnnx__TypeProto *tp = vi->type;
	if (!tp || tp->value_case != KILN_ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
		return rfail(r, "graph input '%s' is not a tensor (sequences, maps and optionals are not supported)",
			     in->name);
	const KilnOnnx__TypeProto__Tensor *tt = tp->tensor_type;
	in->elem = tt->has_elem_type ? tt->elem_type : 0;
	in->dt = ir_dtype_from_onnx(in->elem);
	in->rank = -1;
	const KilnOnnx__TensorShapeProto *sh = tt->shape;
	if (!sh)
		return true;
	if (sh->n_dim > IR_MAX_RANK)
		return rfail(r, "graph input '%s' has rank %zu; at most %d is supported", in->name, sh->n_dim, IR_MAX_RANK);
	in->rank = (int)sh->n_dim;
	for (size_t i = 0; i < sh->n_dim; i++) {
		const KilnOnnx__TensorShapeProto__Dimension *dm = sh->dim[i];
		in->dims[i] = -1;
		if (dm->value_case == KILN_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && dm->dim_value >= 0)
			in->dims[i] = dm->dim_value;
		else if (dm->value_case == KILN_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
			 dm->dim_param && *dm->dim_param) {
			in->param[i] = rdup(r, dm->dim_param);
			if (!in->param[i])
				return rfail(r, "out of memory");
		}
	}
	return true;
}

/* Fill m from the decoded model; all problems found are reported. */
static bool read_model(Reader *r, const KilnOnnx__ModelProto *mp)
{
	SrcModel *m = r->m;
	const KilnOnnx__GraphProto *gp = mp->graph;
	if (!gp)
		return rfail(r, "not a valid ONNX model (it has no graph)");
	bool ml = false;
	for (size_t i = 0; i < mp->n_opset_import; i++) {
		const KilnOnnx__OperatorSetIdProto *os = mp->opset_import[i];
		const char *dom = S(os->domain);
		if (!*dom || strcmp(dom, "ai.onnx") == 0) {
			int64_t v = os->has_version ? os->version : 0;
			m->opset = v < 0 || v > 1000000 ? 1000000 : (int)v;
		}
		ml |= strcmp(dom, "ai.onnx.ml") == 0;
	}
	/* A classical-ML graph may import only ai.onnx.ml: no default-domain
	 * op can appear then, so any supported default opset will do. */
	if (m->opset < 0 && ml)
		m->opset = SRC_OPSET_MAX;
	if (gp->name && *gp->name && !(m->name = rdup(r, gp->name)))
		return rfail(r, "out of memory");
	bool ok = true;
	if (gp->n_sparse_initializer)
		ok = rfail(r, "sparse initializers are not supported");
	if (gp->n_node > INT_MAX / 64 || gp->n_initializer > INT_MAX / 64 || gp->n_input > INT_MAX / 64)
		return rfail(r, "the graph is too large");
	for (size_t i = 0; i < gp->n_initializer; i++) {
		const TensorProto *t = gp->initializer[i];
		char what[400];
		snprintf(what, sizeof what, "initializer '%.300s'", S(t->name));
		SrcTensor st;
		if (!t->name || !*t->name) {
			ok = rfail(r, "initializer %zu has no name", i);
			continue;
		}
		if (!decode_tensor(r, t, what, &st)) {
			/* Keep the name as a broken constant so kiln check can go on
			 * checking the nodes without follow-on errors. */
			ok = false;
			st.dt = DT_UNDEF;
			st.data = NULL;
			if (!st.name)
				continue;
		}
		if (!IR_VEC_PUSH(m, m->consts, st))
			return rfail(r, "out of memory");
	}
	for (size_t i = 0; i < gp->n_input; i++) {
		SrcInput in;
		if (!read_input(r, gp->input[i], &in)) {
			ok = false;
			continue;
		}
		if (!IR_VEC_PUSH(m, m->inputs, in))
			return rfail(r, "out of memory");
	}
	for (size_t i = 0; i < gp->n_output; i++) {
		const char *name = rdup(r, gp->output[i]->name);
		if (!name)
			return rfail(r, "out of memory");
		if (!*name) {
			ok = rfail(r, "a graph output has no name");
			continue;
		}
		if (!IR_VEC_PUSH(m, m->outputs, name))
			return rfail(r, "out of memory");
	}
	for (size_t i = 0; i < gp->n_node; i++) {
		SrcNode n;
		bool nok = read_node(r, gp->node[i], (int)i, &n);
		r->node = r->op = NULL;
		if (!nok) {
			ok = false;
			continue;
		}
		if (!IR_VEC_PUSH(m, m->nodes, n))
			return rfail(r, "out of memory");
	}
	r->complete = true;
	return ok;
}

/* protobuf_c_message_unpack recurses once per nested message, so a file of
 * thousands of nested If branches would exhaust the stack before
 * read_subgraph's own limit is reached.  This walks the wire format first,
 * iteratively, following only the fields the schema says are messages, and
 * returns the deepest nesting: -1 when the bytes are not well formed, -2
 * when messages nest more than PB_MAX_NESTING deep (the walk stops there).
 * read_subgraph's eight levels of subgraphs are about 30 message levels. */
enum { PB_MAX_NESTING = 100 };

static bool pb_varint(const uint8_t *p, size_t end, size_t *pos, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (*pos >= end)
			return false;
		uint8_t b = p[(*pos)++];
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

static int pb_nesting(const uint8_t *p, size_t len)
{
	struct {
		const ProtobufCMessageDescriptor *desc;
		size_t end;
	} st[PB_MAX_NESTING + 1];
	int sp = 0, deepest = 1;
	size_t pos = 0;
	st[0].desc = &kiln_onnx__model_proto__descriptor;
	st[0].end = len;
	for (;;) {
		while (sp > 0 && pos == st[sp].end)
			sp--;
		if (pos == st[sp].end)
			return deepest;  /* sp == 0: the whole file */
		uint64_t key, v;
		if (!pb_varint(p, st[sp].end, &pos, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX)
			return -1;
		switch (key & 7) {
		case 0:
			if (!pb_varint(p, st[sp].end, &pos, &v))
				return -1;
			break;
		case 1:
		case 5: {
			size_t n = (key & 7) == 1 ? 8 : 4;
			if (st[sp].end - pos < n)
				return -1;
			pos += n;
			break;
		}
		case 2: {
			if (!pb_varint(p, st[sp].end, &pos, &v) || v > st[sp].end - pos)
				return -1;
			const ProtobufCFieldDescriptor *f =
				protobuf_c_message_descriptor_get_field(st[sp].desc, (unsigned)(key >> 3));
			if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && v > 0) {
				if (sp + 1 >= PB_MAX_NESTING)
					return -2;
				sp++;
				st[sp].desc = f->descriptor;
				st[sp].end = pos + v;
				deepest = sp + 1 > deepest ? sp + 1 : deepest;
			} else
				pos += v;
			break;
		}
		default:
			return -1;
		}
	}
}

Graph *onnx_import(const char *path, const ImportOptions *o, Diag *d)
{
	Diag tmp;
	diag_init(&tmp);
	SrcModel m;
	Reader r = {.m = &m, .d = &tmp, .file = path};
	Graph *g = NULL;
	KilnOnnx__ModelProto *mp = NULL;
	size_t len = 0;
	char *buf = NULL;
	if (!src_model_init(&m, path)) {
		rfail(&r, "out of memory");
		goto out;
	}
	buf = src_read_file(path, &len);
	if (!buf) {
		rfail(&r, "cannot read the model: %s", strerror(errno));
		goto out;
	}
	if (len == 0) {
		rfail(&r, "not a valid ONNX model (the file is empty)");
		goto out;
	}
	int depth = pb_nesting((const uint8_t *)buf, len);
	if (depth < 0) {
		if (depth == -2)
			rfail(&r, "not a valid ONNX model (messages nested more than %d deep; subgraphs are limited to 8 "
			      "levels)", PB_MAX_NESTING);
		else
			rfail(&r, "not a valid ONNX model (protobuf decoding failed)");
		goto out;
	}
	mp = kiln_onnx__model_proto__unpack(NULL, len, (const uint8_t *)buf);
	if (!mp) {
		rfail(&r, "not a valid ONNX model (protobuf decoding failed)");
		goto out;
	}
	const char *slash = strrchr(path, '/');
	r.dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (!r.dir) {
		rfail(&r, "out of memory");
		goto out;
	}
	if (read_model(&r, mp) || (o && o->check_all && r.complete))
		g = src_import(&m, o, &tmp);
out:
	src_diag_merge(d, &tmp, o && o->check_all);
	diag_free(&tmp);
	if (mp)
		kiln_onnx__model_proto__free_unpacked(mp, NULL);
	free(buf);
	free(r.dir);
	src_model_free(&m);
	return g;
}
