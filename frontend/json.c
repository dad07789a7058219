/* The JSON graph reader (docs/json-format.md): hand-written models and
 * tests -> source model; import.c maps it to IR like an ONNX model. */
#include "source.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define JSON_VERSION 1
#define JSON_DEFAULT_OPSET SRC_OPSET_MAX
#define FILL_MAX_BYTES ((int64_t)1 << 30)

typedef struct JReader {
	SrcModel *m;
	Diag *d;
	const char *file;
	const char *node;   /* node being read, or NULL */
	const char *op;
	char where[300];    /* "constants[2] ('w')" for non-node messages */
	bool complete;      /* every part was reached (kiln check may go on) */
} JReader;

static bool jfail(JReader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool jfail(JReader *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (r->op || !r->where[0]) {
		diag_verror(r->d, r->file, r->op ? r->node : NULL, r->op, fmt, ap);
	} else {  /* the place goes before the reason: formatted here */
		char buf[900];
		vsnprintf(buf, sizeof buf, fmt, ap);
		diag_error(r->d, r->file, NULL, NULL, "%s: %s", r->where, buf);
	}
	va_end(ap);
	return false;
}

static char *jdup(JReader *r, const char *s)
{
	char *p = ir_arena_strdup(r->m->arena, s);
	if (!p)
		jfail(r, "out of memory");
	return p;
}

/* Every key of obj must be one of the allowed names (catches typos). */
static bool known_keys(JReader *r, const cJSON *obj, const char *const *allowed)
{
	bool ok = true;
	for (const cJSON *it = obj->child; it; it = it->next) {
		bool found = false;
		for (int i = 0; allowed[i]; i++)
			if (it->string && strcmp(it->string, allowed[i]) == 0)
				found = true;
		if (!found) {
			char list[300] = "";
			for (int i = 0; allowed[i]; i++)
				snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", allowed[i]);
			ok = jfail(r, "unknown field '%s' (expected %s)", it->string ? it->string : "", list);
		}
	}
	return ok;
}

static bool is_int(double v) { return isfinite(v) && v == floor(v) && fabs(v) <= 9007199254740992.0; }

static const cJSON *field(const cJSON *obj, const char *name) { return cJSON_GetObjectItemCaseSensitive(obj, name); }

static bool get_string(JReader *r, const cJSON *obj, const char *name, bool required, const char **out)
{
	const cJSON *f = field(obj, name);
	if (!f) {
		if (required)
			return jfail(r, "field '%s' is required", name);
		return true;
	}
	if (!cJSON_IsString(f) || !f->valuestring)
		return jfail(r, "field '%s' must be a string", name);
	*out = jdup(r, f->valuestring);
	return *out != NULL;
}

static DType get_dtype(JReader *r, const cJSON *obj)
{
	const char *s = NULL;
	if (!get_string(r, obj, "dtype", true, &s))
		return DT_UNDEF;
	DType dt = ir_dtype_from_name(s);
	if (dt == DT_UNDEF)
		jfail(r, "unknown dtype '%s' (expected one of f32, f16, bf16, f64, i8, u8, i16, u16, i32, u32, i64, "
		      "u64, bool, f8e4m3fn, f8e4m3fnuz, f8e5m2, f8e5m2fnuz, i4, u4)", s);
	return dt;
}

/* ---- tensor data ----------------------------------------------------------- */

typedef struct Fill {
	void *data;
	DType dt;
	int64_t n, cap;
	bool ok;
} Fill;

static bool store_number(JReader *r, Fill *f, const cJSON *it)
{
	double v;
	if (cJSON_IsBool(it))
		v = cJSON_IsTrue(it);
	else if (cJSON_IsNumber(it))
		v = it->valuedouble;
	else if (cJSON_IsString(it) && ir_dtype_is_float(f->dt) && it->valuestring &&
		 (!strcmp(it->valuestring, "nan") || !strcmp(it->valuestring, "inf") || !strcmp(it->valuestring, "-inf")))
		v = it->valuestring[0] == 'n' ? NAN : it->valuestring[0] == '-' ? -INFINITY : INFINITY;
	else
		return jfail(r, "element %lld of 'data' is not a number", (long long)f->n);
	if (!ir_dtype_is_float(f->dt)) {
		double lo, hi;
		switch (f->dt) {
		case DT_BOOL: lo = 0; hi = 1; break;
		case DT_U8: lo = 0; hi = 255; break;
		case DT_I8: lo = -128; hi = 127; break;
		case DT_U4: lo = 0; hi = 15; break;
		case DT_I4: lo = -8; hi = 7; break;
		case DT_U16: lo = 0; hi = 65535; break;
		case DT_I16: lo = -32768; hi = 32767; break;
		case DT_U32: lo = 0; hi = 4294967295.0; break;
		case DT_I32: lo = -2147483648.0; hi = 2147483647.0; break;
		case DT_U64: lo = 0; hi = 9007199254740992.0; break;
		default: lo = -9007199254740992.0; hi = 9007199254740992.0; break;
		}
		if (!is_int(v) || v < lo || v > hi)
			return jfail(r, "element %lld of 'data' (%.17g) is not a valid %s", (long long)f->n, v,
				     ir_dtype_name(f->dt));
	}
	if (f->n >= f->cap)
		return jfail(r, "'data' has more elements than the shape's %lld", (long long)f->cap);
	src_store(f->data, f->dt, f->n++, v);
	return true;
}

/* Numbers of a (possibly nested) array in row-major order. */
static bool store_array(JReader *r, Fill *f, const cJSON *a, int depth)
{
	if (depth > IR_MAX_RANK + 1)
		return jfail(r, "'data' is nested too deeply");
	if (!cJSON_IsArray(a))
		return store_number(r, f, a);
	for (const cJSON *it = a->child; it; it = it->next)
		if (!store_array(r, f, it, depth + 1))
			return false;
	return true;
}

/* Numbers in a (nested) array, -1 when nested deeper than any rank. */
static int64_t count_leaves(const cJSON *a, int depth)
{
	if (!cJSON_IsArray(a))
		return 1;
	if (depth > IR_MAX_RANK)
		return -1;
	int64_t n = 0;
	for (const cJSON *it = a->child; it; it = it->next) {
		int64_t k = count_leaves(it, depth + 1);
		if (k < 0)
			return -1;
		n += k;
	}
	return n;
}

static int b64_value(int ch)
{
	if (ch >= 'A' && ch <= 'Z') return ch - 'A';
	if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9') return ch - '0' + 52;
	if (ch == '+' || ch == '-') return 62;
	if (ch == '/' || ch == '_') return 63;
	return -1;
}

static bool decode_b64(JReader *r, const char *s, unsigned char *out, int64_t bytes)
{
	int64_t n = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (const char *p = s; *p && *p != '='; p++) {
		if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
			continue;
		int v = b64_value((unsigned char)*p);
		if (v < 0)
			return jfail(r, "'data_b64' has an invalid character '%c'", *p);
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= bytes)
				return jfail(r, "'data_b64' holds more than the %lld bytes the shape needs", (long long)bytes);
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	if (n != bytes)
		return jfail(r, "'data_b64' holds %lld bytes, the shape needs %lld", (long long)n, (long long)bytes);
	return true;
}

static bool decode_hex(JReader *r, const char *s, unsigned char *out, int64_t bytes)
{
	int64_t n = 0;
	int hi = -1;
	for (const char *p = s; *p; p++) {
		int ch = (unsigned char)*p, v;
		if (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r')
			continue;
		if (ch >= '0' && ch <= '9') v = ch - '0';
		else if (ch >= 'a' && ch <= 'f') v = ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F') v = ch - 'A' + 10;
		else
			return jfail(r, "'data_hex' has an invalid character '%c'", ch);
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n >= bytes)
			return jfail(r, "'data_hex' holds more than the %lld bytes the shape needs", (long long)bytes);
		out[n++] = (unsigned char)(hi << 4 | v);
		hi = -1;
	}
	if (hi >= 0)
		return jfail(r, "'data_hex' has an odd number of digits");
	if (n != bytes)
		return jfail(r, "'data_hex' holds %lld bytes, the shape needs %lld", (long long)n, (long long)bytes);
	return true;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double uniform01(uint64_t *s) { return (double)(splitmix64(s) >> 11) * 0x1.0p-53; }

static bool fill_tensor(JReader *r, const cJSON *fo, Fill *f)
{
	static const char *const keys[] = {"value", "random", "seed", "scale", NULL};
	if (!cJSON_IsObject(fo))
		return jfail(r, "'fill' must be an object");
	if (!known_keys(r, fo, keys))
		return false;
	const cJSON *value = field(fo, "value"), *random = field(fo, "random");
	if (!value == !random)
		return jfail(r, "'fill' needs exactly one of 'value' or 'random'");
	if (value) {
		for (int64_t i = 0; i < f->cap; i++) {
			f->n = 0;
			if (!store_number(r, f, value))
				return false;
			if (i)
				memcpy((char *)f->data + i * ir_dtype_size(f->dt), f->data, (size_t)ir_dtype_size(f->dt));
		}
		f->n = f->cap;
		return true;
	}
	if (!cJSON_IsString(random) || (strcmp(random->valuestring, "uniform") && strcmp(random->valuestring, "normal")))
		return jfail(r, "'random' must be \"uniform\" or \"normal\"");
	if (!ir_dtype_is_float(f->dt))
		return jfail(r, "random fill needs a floating-point dtype, not %s", ir_dtype_name(f->dt));
	const cJSON *seed = field(fo, "seed"), *scale = field(fo, "scale");
	if (seed && (!cJSON_IsNumber(seed) || !is_int(seed->valuedouble) || seed->valuedouble < 0))
		return jfail(r, "'seed' must be a non-negative integer");
	if (scale && (!cJSON_IsNumber(scale) || !isfinite(scale->valuedouble)))
		return jfail(r, "'scale' must be a number");
	uint64_t st = seed ? (uint64_t)seed->valuedouble : 0;
	double sc = scale ? scale->valuedouble : 1.0;
	bool normal = random->valuestring[0] == 'n';
	for (int64_t i = 0; i < f->cap; i++) {
		double v;
		if (normal) {
			double u1 = 1.0 - uniform01(&st), u2 = uniform01(&st);
			v = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
		} else
			v = 2.0 * uniform01(&st) - 1.0;
		src_store(f->data, f->dt, i, v * sc);
	}
	f->n = f->cap;
	return true;
}

static bool read_shape_ints(JReader *r, const cJSON *sh, int *rank, int64_t *dims)
{
	if (!cJSON_IsArray(sh))
		return jfail(r, "'shape' must be an array of non-negative integers");
	int n = cJSON_GetArraySize(sh);
	if (n > IR_MAX_RANK)
		return jfail(r, "'shape' has rank %d; at most %d is supported", n, IR_MAX_RANK);
	int i = 0;
	for (const cJSON *it = sh->child; it; it = it->next, i++) {
		if (!cJSON_IsNumber(it) || !is_int(it->valuedouble) || it->valuedouble < 0)
			return jfail(r, "'shape' must be an array of non-negative integers");
		dims[i] = (int64_t)it->valuedouble;
	}
	*rank = n;
	return true;
}

/* A tensor object: {"name", "dtype", "shape", data|data_b64|data_hex|fill}. */
static bool read_tensor(JReader *r, const cJSON *o, bool need_name, SrcTensor *t)
{
	static const char *const keys[] = {"name", "dtype", "shape", "data", "data_b64", "data_hex", "fill", NULL};
	memset(t, 0, sizeof *t);
	if (!cJSON_IsObject(o))
		return jfail(r, "a tensor must be an object");
	if (!known_keys(r, o, keys))
		return false;
	t->name = "";
	if (!get_string(r, o, "name", need_name, &t->name))
		return false;
	if (need_name && !*t->name)
		return jfail(r, "the name is empty");
	if ((t->dt = get_dtype(r, o)) == DT_UNDEF)
		return false;
	const cJSON *sh = field(o, "shape");
	if (sh && !read_shape_ints(r, sh, &t->rank, t->dims))
		return false;
	int64_t numel = ir_shape_numel(t->rank, t->dims);
	if (numel < 0 || numel > INT64_MAX / 16)
		return jfail(r, "the shape is too large (element count overflows)");
	int64_t bytes = numel * ir_dtype_size(t->dt);
	const cJSON *data = field(o, "data"), *b64 = field(o, "data_b64"), *hex = field(o, "data_hex"),
		    *fill = field(o, "fill");
	if ((data != NULL) + (b64 != NULL) + (hex != NULL) + (fill != NULL) != 1)
		return jfail(r, "needs exactly one of 'data', 'data_b64', 'data_hex' or 'fill'");
	if ((b64 || hex) && !cJSON_IsString(b64 ? b64 : hex))
		return jfail(r, "'%s' must be a string", b64 ? "data_b64" : "data_hex");
	/* Data given inline cannot be larger than the text; a fill can. */
	if (fill && bytes > FILL_MAX_BYTES)
		return jfail(r, "%lld bytes is too large for a fill", (long long)bytes);
	/* Sizes given inline are checked before allocating: the text bounds them. */
	if (data) {
		int64_t k = count_leaves(data, 0);
		if (k < 0)
			return jfail(r, "'data' is nested too deeply");
		if (k != numel)
			return jfail(r, "'data' has %lld elements, the shape needs %lld", (long long)k, (long long)numel);
	}
	if ((b64 && (int64_t)strlen(b64->valuestring) < bytes) || (hex && (int64_t)strlen(hex->valuestring) < bytes))
		return jfail(r, "'%s' is too short for the %lld bytes the shape needs", b64 ? "data_b64" : "data_hex",
			     (long long)bytes);
	void *p = ir_arena_alloc(r->m->arena, (size_t)bytes + 1);
	if (!p)
		return jfail(r, "out of memory (%lld bytes)", (long long)bytes);
	t->data = p;
	if (b64)
		return decode_b64(r, b64->valuestring, p, bytes);
	if (hex)
		return decode_hex(r, hex->valuestring, p, bytes);
	Fill f = {.data = p, .dt = t->dt, .cap = numel};
	if (fill)
		return fill_tensor(r, fill, &f);
	if (!store_array(r, &f, data, 0))
		return false;
	if (f.n != numel)
		return jfail(r, "'data' has %lld elements, the shape needs %lld", (long long)f.n, (long long)numel);
	return true;
}

/* ---- graph parts ---------------------------------------------------------------- */

static bool read_input(JReader *r, const cJSON *o, SrcInput *in)
{
	static const char *const keys[] = {"name", "dtype", "shape", NULL};
	memset(in, 0, sizeof *in);
	if (!cJSON_IsObject(o))
		return jfail(r, "an input must be an object {\"name\", \"dtype\", \"shape\"}");
	if (!known_keys(r, o, keys) || !get_string(r, o, "name", true, &in->name))
		return false;
	if (!*in->name)
		return jfail(r, "the name is empty");
	snprintf(r->where, sizeof r->where, "input '%.200s'", in->name);
	if ((in->dt = get_dtype(r, o)) == DT_UNDEF)
		return false;
	in->elem = ir_dtype_onnx(in->dt);
	const cJSON *sh = field(o, "shape");
	if (!sh)
		return jfail(r, "field 'shape' is required");
	if (!cJSON_IsArray(sh))
		return jfail(r, "'shape' must be an array of non-negative integers or dimension names");
	int n = cJSON_GetArraySize(sh);
	if (n > IR_MAX_RANK)
		return jfail(r, "'shape' has rank %d; at most %d is supported", n, IR_MAX_RANK);
	in->rank = n;
	int i = 0;
	for (const cJSON *it = sh->child; it; it = it->next, i++) {
		if (cJSON_IsString(it) && it->valuestring && *it->valuestring) {
			in->dims[i] = -1;
			if (!(in->param[i] = jdup(r, it->valuestring)))
				return false;
		} else if (cJSON_IsNumber(it) && is_int(it->valuedouble) && it->valuedouble >= 0)
			in->dims[i] = (int64_t)it->valuedouble;
		else
			return jfail(r, "'shape' must be an array of non-negative integers or dimension names");
	}
	return true;
}

static bool read_attr(JReader *r, const cJSON *it, SrcAttr *a)
{
	memset(a, 0, sizeof *a);
	if (!(a->name = jdup(r, it->string ? it->string : "")))
		return false;
	if (cJSON_IsBool(it)) {
		a->kind = SA_INT;
		a->i = cJSON_IsTrue(it);
	} else if (cJSON_IsNumber(it)) {
		double v = it->valuedouble;
		if (is_int(v)) {
			a->kind = SA_INT;
			a->i = (int64_t)v;
		} else {
			a->kind = SA_FLOAT;
			a->f = (double)(float)v;
		}
	} else if (cJSON_IsString(it)) {
		a->kind = SA_STRING;
		if (!(a->s = jdup(r, it->valuestring)))
			return false;
	} else if (cJSON_IsArray(it)) {
		int n = cJSON_GetArraySize(it);
		bool ints = true;
		for (const cJSON *e = it->child; e; e = e->next) {
			if (!cJSON_IsNumber(e))
				return jfail(r, "attribute '%s' must be a list of numbers", a->name);
			ints = ints && is_int(e->valuedouble);
		}
		a->kind = ints ? SA_INTS : SA_FLOATS;
		a->n = n;
		a->ints = ir_arena_alloc(r->m->arena, ((size_t)n + 1) * sizeof *a->ints);
		a->floats = ir_arena_alloc(r->m->arena, ((size_t)n + 1) * sizeof *a->floats);
		if (!a->ints || !a->floats)
			return jfail(r, "out of memory");
		int i = 0;
		for (const cJSON *e = it->child; e; e = e->next, i++) {
			if (ints)
				a->ints[i] = (int64_t)e->valuedouble;
			a->floats[i] = (double)(float)e->valuedouble;
		}
	} else if (cJSON_IsObject(it)) {
		a->kind = SA_TENSOR;
		a->t = ir_arena_alloc(r->m->arena, sizeof *a->t);
		if (!a->t)
			return jfail(r, "out of memory");
		char save[sizeof r->where];
		memcpy(save, r->where, sizeof save);
		bool ok = read_tensor(r, it, false, a->t);
		memcpy(r->where, save, sizeof save);
		if (!ok)
			return jfail(r, "attribute '%s' is not a valid tensor", a->name);
	} else {
		a->kind = SA_OTHER;
		a->other = "null";
	}
	return true;
}

static bool read_names(JReader *r, const cJSON *arr, const char *what, bool allow_empty, int *n, const char ***out)
{
	if (!cJSON_IsArray(arr))
		return jfail(r, "'%s' must be an array of value names", what);
	int k = cJSON_GetArraySize(arr);
	const char **v = ir_arena_alloc(r->m->arena, ((size_t)k + 1) * sizeof *v);
	if (!v)
		return jfail(r, "out of memory");
	int i = 0;
	for (const cJSON *it = arr->child; it; it = it->next, i++) {
		if (!cJSON_IsString(it) || !it->valuestring)
			return jfail(r, "'%s' must be an array of value names", what);
		if (!allow_empty && !*it->valuestring)
			return jfail(r, "'%s' has an empty name", what);
		if (!(v[i] = jdup(r, it->valuestring)))
			return false;
	}
	*n = k;
	*out = v;
	return true;
}

static bool read_node(JReader *r, const cJSON *o, int index, SrcNode *n)
{
	static const char *const keys[] = {"name", "op", "domain", "inputs", "outputs", "attrs", NULL};
	memset(n, 0, sizeof *n);
	n->index = index;
	snprintf(r->where, sizeof r->where, "nodes[%d]", index);
	if (!cJSON_IsObject(o))
		return jfail(r, "a node must be an object");
	const char *op = NULL, *name = NULL;
	n->domain = "";
	if (!get_string(r, o, "op", true, &op) || !get_string(r, o, "name", false, &name) ||
	    !get_string(r, o, "domain", false, &n->domain))
		return false;
	n->op = *op ? op : "(no op type)";
	if (name && *name)
		n->name = name;
	else {
		char buf[200];
		snprintf(buf, sizeof buf, "%.150s_%d", n->op, index);
		if (!(n->name = jdup(r, buf)))
			return false;
	}
	r->node = n->name;
	r->op = n->op;
	if (!known_keys(r, o, keys))
		return false;
	const cJSON *ins = field(o, "inputs"), *outs = field(o, "outputs"), *attrs = field(o, "attrs");
	n->in = NULL;
	if (ins && !read_names(r, ins, "inputs", true, &n->nin, &n->in))
		return false;
	if (!ins && !(n->in = ir_arena_alloc(r->m->arena, sizeof *n->in)))
		return jfail(r, "out of memory");
	if (!outs)
		return jfail(r, "field 'outputs' is required");
	if (!read_names(r, outs, "outputs", true, &n->nout, &n->out))
		return false;
	if (attrs && !cJSON_IsObject(attrs))
		return jfail(r, "'attrs' must be an object");
	int na = attrs ? cJSON_GetArraySize(attrs) : 0;
	n->attr = ir_arena_alloc(r->m->arena, ((size_t)na + 1) * sizeof *n->attr);
	if (!n->attr)
		return jfail(r, "out of memory");
	for (const cJSON *it = attrs ? attrs->child : NULL; it; it = it->next)
		if (!read_attr(r, it, &n->attr[n->nattr++]))
			return false;
	return true;
}

static bool read_json_model(JReader *r, const cJSON *root)
{
	static const char *const keys[] = {"kiln", "name", "opset", "inputs", "constants", "nodes", "outputs", NULL};
	SrcModel *m = r->m;
	if (!cJSON_IsObject(root))
		return jfail(r, "the top level must be an object");
	const cJSON *ver = field(root, "kiln");
	if (!ver)
		return jfail(r, "not a kiln JSON graph (no \"kiln\": %d field)", JSON_VERSION);
	if (!cJSON_IsNumber(ver) || ver->valuedouble != JSON_VERSION)
		return jfail(r, "unsupported kiln JSON version (this kiln reads version %d)", JSON_VERSION);
	if (!known_keys(r, root, keys))
		return false;
	const char *name = NULL;
	if (!get_string(r, root, "name", false, &name))
		return false;
	if (name && *name)
		m->name = name;
	const cJSON *opset = field(root, "opset");
	m->opset = JSON_DEFAULT_OPSET;
	if (opset) {
		if (!cJSON_IsNumber(opset) || !is_int(opset->valuedouble))
			return jfail(r, "'opset' must be an integer");
		double v = opset->valuedouble;
		m->opset = v < 0 || v > 1000000 ? 1000000 : (int)v;
	}
	bool ok = true;
	const cJSON *inputs = field(root, "inputs"), *consts = field(root, "constants"),
		    *nodes = field(root, "nodes"), *outputs = field(root, "outputs");
	if (!inputs || !cJSON_IsArray(inputs))
		return jfail(r, "field 'inputs' must be an array");
	if (consts && !cJSON_IsArray(consts))
		return jfail(r, "field 'constants' must be an array");
	if (!nodes || !cJSON_IsArray(nodes))
		return jfail(r, "field 'nodes' must be an array");
	if (!outputs)
		return jfail(r, "field 'outputs' is required");
	int i = 0;
	for (const cJSON *it = inputs->child; it; it = it->next, i++) {
		SrcInput in;
		snprintf(r->where, sizeof r->where, "inputs[%d]", i);
		if (!read_input(r, it, &in))
			ok = false;
		else if (!IR_VEC_PUSH(m, m->inputs, in))
			return jfail(r, "out of memory");
	}
	i = 0;
	for (const cJSON *it = consts ? consts->child : NULL; it; it = it->next, i++) {
		SrcTensor t;
		const cJSON *nm = cJSON_IsObject(it) ? field(it, "name") : NULL;
		snprintf(r->where, sizeof r->where, "constant '%.200s'",
			 nm && cJSON_IsString(nm) ? nm->valuestring : "?");
		if (!nm || !cJSON_IsString(nm))
			snprintf(r->where, sizeof r->where, "constants[%d]", i);
		if (!read_tensor(r, it, true, &t)) {
			ok = false;
			if (!t.name || !*t.name)
				continue;
			t.dt = DT_UNDEF;  /* a broken constant; kiln check goes on */
			t.data = NULL;
		}
		if (!IR_VEC_PUSH(m, m->consts, t))
			return jfail(r, "out of memory");
	}
	i = 0;
	for (const cJSON *it = nodes->child; it; it = it->next, i++) {
		SrcNode n;
		bool nok = read_node(r, it, i, &n);
		r->node = r->op = NULL;
		if (!nok)
			ok = false;
		else if (!IR_VEC_PUSH(m, m->nodes, n))
			return jfail(r, "out of memory");
	}
	r->where[0] = 0;
	r->complete = true;
	int no;
	const char **outs;
	if (!read_names(r, outputs, "outputs", false, &no, &outs))
		return false;
	for (int k = 0; k < no; k++)
		if (!IR_VEC_PUSH(m, m->outputs, outs[k]))
			return jfail(r, "out of memory");
	return ok;
}

/* Line and column of byte offset off in text, 1-based. */
static void line_col(const char *text, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n') {
			++*line;
			*col = 1;
		} else
			++*col;
	}
}

Graph *json_import(const char *path, const ImportOptions *o, Diag *d)
{
	Diag tmp;
	diag_init(&tmp);
	SrcModel m;
	JReader r = {.m = &m, .d = &tmp, .file = path};
	Graph *g = NULL;
	cJSON *root = NULL;
	size_t len = 0;
	char *buf = NULL;
	if (!src_model_init(&m, path)) {
		jfail(&r, "out of memory");
		goto out;
	}
	m.lenient = true;
	buf = src_read_file(path, &len);
	if (!buf) {
		jfail(&r, "cannot read the model: %s", strerror(errno));
		goto out;
	}
	const char *end = NULL;
	root = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	if (!root) {
		int line, col;
		size_t off = end && end >= buf && end <= buf + len ? (size_t)(end - buf) : 0;
		line_col(buf, off, &line, &col);
		jfail(&r, "invalid JSON at line %d, column %d", line, col);
		goto out;
	}
	if (end) {
		while (end < buf + len && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
			end++;
		if (end < buf + len) {
			int line, col;
			line_col(buf, (size_t)(end - buf), &line, &col);
			jfail(&r, "invalid JSON: unexpected text after the top-level value at line %d, column %d",
			      line, col);
			goto out;
		}
	}
	if (read_json_model(&r, root) || (o && o->check_all && r.complete))
		g = src_import(&m, o, &tmp);
out:
	src_diag_merge(d, &tmp, o && o->check_all);
	diag_free(&tmp);
	cJSON_Delete(root);
	free(buf);
	src_model_free(&m);
	return g;
}
