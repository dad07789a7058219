/* The op importer shared by the ONNX and JSON readers: one table of ONNX
 * ops (per opset range) mapping source nodes to canonical IR forms. */
#include "source.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- shared reader helpers ------------------------------------------------ */

bool src_model_init(SrcModel *m, const char *file)
{
	memset(m, 0, sizeof *m);
	m->arena = ir_arena_new();
	m->file = file ? file : "";
	m->name = "model";
	m->opset = -1;
	return m->arena != NULL;
}

void src_model_free(SrcModel *m)
{
	ir_arena_free(m->arena);
	m->arena = NULL;
}

char *src_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		errno = EISDIR;
		return NULL;
	}
	size_t n = (size_t)st.st_size;
	char *buf = malloc(n + 1);
	if (!buf) {
		fclose(f);
		errno = ENOMEM;
		return NULL;
	}
	size_t got = fread(buf, 1, n, f);
	fclose(f);
	if (got != n) {
		free(buf);
		errno = EIO;
		return NULL;
	}
	buf[n] = 0;
	*len = n;
	return buf;
}

uint16_t src_f32_to_f16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	uint32_t sign = (x >> 16) & 0x8000, e = (x >> 23) & 0xff, m = x & 0x7fffff;
	if (e == 0xff)
		return (uint16_t)(sign | 0x7c00 | (m ? 0x200 | (m >> 13) : 0));
	int32_t he = (int32_t)e - 127 + 15;
	if (he >= 0x1f)
		return (uint16_t)(sign | 0x7c00);
	if (he <= 0) {
		if (he < -10)
			return (uint16_t)sign;
		m |= 0x800000;
		int shift = 14 - he;
		uint32_t hm = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
		if (rem > half || (rem == half && (hm & 1)))
			hm++;
		return (uint16_t)(sign | hm);
	}
	uint32_t hm = m >> 13, rem = m & 0x1fff;
	uint32_t h = sign | ((uint32_t)he << 10) | hm;
	if (rem > 0x1000 || (rem == 0x1000 && (hm & 1)))
		h++;  /* a carry into the exponent is the correct rounding */
	return (uint16_t)h;
}

uint16_t src_f32_to_bf16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	if ((x & 0x7fffffff) > 0x7f800000)
		return (uint16_t)((x >> 16) | 0x40);
	return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

static float f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, x;
	if (e == 0x1f)
		x = sign | 0x7f800000 | (m << 13);
	else if (e)
		x = sign | ((e + 112) << 23) | (m << 13);
	else if (!m)
		x = sign;
	else {
		e = 113;
		while (!(m & 0x400)) {
			m <<= 1;
			e--;
		}
		x = sign | (e << 23) | ((m & 0x3ff) << 13);
	}
	float f;
	memcpy(&f, &x, 4);
	return f;
}

void src_store(void *data, DType dt, int64_t i, double v)
{
	unsigned char *p = data;
	switch (dt) {
	case DT_F32: { float x = (float)v; memcpy(p + 4 * i, &x, 4); break; }
	case DT_F64: memcpy(p + 8 * i, &v, 8); break;
	case DT_F16: { uint16_t x = src_f32_to_f16((float)v); memcpy(p + 2 * i, &x, 2); break; }
	case DT_BF16: { uint16_t x = src_f32_to_bf16((float)v); memcpy(p + 2 * i, &x, 2); break; }
	case DT_U8: p[i] = (uint8_t)v; break;
	case DT_I8: { int8_t x = (int8_t)v; memcpy(p + i, &x, 1); break; }
	case DT_BOOL: p[i] = v != 0; break;
	case DT_U16: { uint16_t x = (uint16_t)v; memcpy(p + 2 * i, &x, 2); break; }
	case DT_I16: { int16_t x = (int16_t)v; memcpy(p + 2 * i, &x, 2); break; }
	case DT_I32: { int32_t x = (int32_t)v; memcpy(p + 4 * i, &x, 4); break; }
	case DT_U32: { uint32_t x = (uint32_t)v; memcpy(p + 4 * i, &x, 4); break; }
	case DT_I64: { int64_t x = (int64_t)v; memcpy(p + 8 * i, &x, 8); break; }
	case DT_U64: { uint64_t x = (uint64_t)v; memcpy(p + 8 * i, &x, 8); break; }
	default: break;
	}
}

/* Element i of dt as a double (exact for everything but huge 64-bit ints). */
static double load_elem(const void *data, DType dt, int64_t i)
{
	const unsigned char *p = data;
	switch (dt) {
	case DT_F32: { float x; memcpy(&x, p + 4 * i, 4); return x; }
	case DT_F64: { double x; memcpy(&x, p + 8 * i, 8); return x; }
	case DT_F16: { uint16_t x; memcpy(&x, p + 2 * i, 2); return f16_to_f32(x); }
	case DT_BF16: { uint16_t x; memcpy(&x, p + 2 * i, 2); uint32_t u = (uint32_t)x << 16; float f; memcpy(&f, &u, 4); return f; }
	case DT_U8: case DT_BOOL: return p[i];
	case DT_I8: return (int8_t)p[i];
	case DT_U16: { uint16_t x; memcpy(&x, p + 2 * i, 2); return x; }
	case DT_I16: { int16_t x; memcpy(&x, p + 2 * i, 2); return x; }
	case DT_I32: { int32_t x; memcpy(&x, p + 4 * i, 4); return x; }
	case DT_U32: { uint32_t x; memcpy(&x, p + 4 * i, 4); return x; }
	case DT_I64: { int64_t x; memcpy(&x, p + 8 * i, 8); return (double)x; }
	case DT_U64: { uint64_t x; memcpy(&x, p + 8 * i, 8); return (double)x; }
	default: return 0;
	}
}

/* ---- a string -> int hash map in an arena ------------------------------------ */

typedef struct NameMap {
	Arena *a;
	const char **key;
	int *val;
	int cap, n;
} NameMap;

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static bool nm_alloc(NameMap *m, int cap)
{
	m->key = ir_arena_alloc(m->a, (size_t)cap * sizeof *m->key);
	m->val = ir_arena_alloc(m->a, (size_t)cap * sizeof *m->val);
	m->cap = cap;
	m->n = 0;
	return m->key && m->val;
}

static bool nm_init(NameMap *m, Arena *a)
{
	m->a = a;
	return nm_alloc(m, 64);
}

static int nm_find(const NameMap *m, const char *k)
{
	size_t i = hash_str(k) & (size_t)(m->cap - 1);
	while (m->key[i] && strcmp(m->key[i], k) != 0)
		i = (i + 1) & (size_t)(m->cap - 1);
	return (int)i;
}

static bool nm_put(NameMap *m, const char *k, int v)
{
	if (2 * (m->n + 1) > m->cap) {
		NameMap nw = {.a = m->a};
		if (!nm_alloc(&nw, m->cap * 2))
			return false;  /* m stays valid */
		for (int i = 0; i < m->cap; i++)
			if (m->key[i]) {
				int j = nm_find(&nw, m->key[i]);
				nw.key[j] = m->key[i];
				nw.val[j] = m->val[i];
				nw.n++;
			}
		*m = nw;
	}
	int i = nm_find(m, k);
	if (!m->key[i])
		m->n++;
	m->key[i] = k;
	m->val[i] = v;
	return true;
}

static int nm_get(const NameMap *m, const char *k, int dflt)
{
	int i = nm_find(m, k);
	return m->key[i] ? m->val[i] : dflt;
}

static bool nm_has(const NameMap *m, const char *k) { return m->key[nm_find(m, k)] != NULL; }

/* ---- the import context ---------------------------------------------------------- */

typedef struct Ctx {
	SrcModel *m;
	Graph *g;
	Diag *d;
	const char *file;
	int opset;
	NameMap vals;       /* source value name -> ValueId */
	NameMap names;      /* every value name in use, source or generated */
	NameMap consts;     /* values known to be constants before building */
	NameMap used;       /* values read by some node or listed as graph output */
	NameMap producer;   /* value name -> index of the producing node */
	const SrcNode *sn;  /* node being imported */
	const char *src_op; /* its op type, in the graph arena */
	bool oom;
} Ctx;

static bool fail(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(Ctx *c, const char *fmt, ...)
{
	char buf[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (c->sn)
		diag_error(c->d, c->file, c->sn->name, c->sn->op, "%s", buf);
	else
		diag_error(c->d, c->file, NULL, NULL, "%s", buf);
	return false;
}

static bool oom(Ctx *c)
{
	if (!c->oom)
		diag_error(c->d, c->file, NULL, NULL, "out of memory");
	c->oom = true;
	return false;
}

static void fmt_dims(char *buf, size_t cap, int rank, const int64_t *dims)
{
	size_t k = 0;
	k += snprintf(buf + k, cap - k, "[");
	for (int i = 0; i < rank && k < cap; i++)
		k += snprintf(buf + k, cap - k, i ? ",%lld" : "%lld", (long long)dims[i]);
	if (k < cap)
		snprintf(buf + k, cap - k, "]");
}

/* A fresh value name derived from base; unique among all names. */
static const char *fresh_name(Ctx *c, const char *base, const char *suffix)
{
	char buf[512];
	for (int i = 0;; i++) {
		if (i)
			snprintf(buf, sizeof buf, "%.400s/%s.%d", base, suffix, i);
		else
			snprintf(buf, sizeof buf, "%.400s/%s", base, suffix);
		if (!nm_has(&c->names, buf))
			break;
	}
	char *s = ir_arena_strdup(c->g->arena, buf);
	if (!s || !nm_put(&c->names, s, 1))
		return NULL;
	return s;
}

/* Re-emit messages of the shape rules with the source op type in place of
 * the IR op name, so errors name what the user wrote. */
static void forward_diag(Ctx *c, Diag *tmp)
{
	char prefix[700];
	snprintf(prefix, sizeof prefix, "%s%snode '%s' (", c->file, *c->file ? ": " : "", c->sn->name);
	size_t pl = strlen(prefix);
	for (int i = 0; i < tmp->nmsg; i++) {
		const char *msg = tmp->msgs[i];
		const char *close = strncmp(msg, prefix, pl) == 0 ? strstr(msg + pl, "): ") : NULL;
		if (close)
			diag_error(c->d, NULL, NULL, NULL, "%s%s%s", prefix, c->src_op, close);
		else
			diag_error(c->d, NULL, NULL, NULL, "%s", msg);
	}
	if (tmp->nmsg == 0)
		fail(c, "cannot build the node (out of memory)");
}

/* Append an IR node for the current source node; returns its result value
 * or -1 with a diagnostic.  out_name NULL: a fresh intermediate name. */
static ValueId emit(Ctx *c, Op op, const ValueId *in, int nin, const Attr *a, int na, const char *out_name)
{
	if (!out_name) {
		out_name = fresh_name(c, c->sn->out[0], ir_ops[op].name);
		if (!out_name)
			return oom(c), -1;
	}
	Diag tmp;
	diag_init(&tmp);
	NodeId id = ir_build(c->g, op, c->sn->name, in, nin, a, na, out_name, &tmp);
	if (id < 0) {
		forward_diag(c, &tmp);
		diag_free(&tmp);
		return -1;
	}
	diag_free(&tmp);
	c->g->nodes.v[id].src_op = c->src_op;
	return c->g->nodes.v[id].out;
}

/* Bind the source node's first output to v. */
static bool define(Ctx *c, ValueId v)
{
	if (v < 0)
		return false;
	if (!nm_put(&c->vals, c->sn->out[0], v))
		return oom(c);
	return true;
}

/* Emit the op's one node producing the source output. */
static bool emit_out(Ctx *c, Op op, const ValueId *in, int nin, const Attr *a, int na)
{
	return define(c, emit(c, op, in, nin, a, na, c->sn->out[0]));
}

/* ---- attribute access (kinds are normalized by the static check) ----------------- */

static const SrcAttr *sa_get(const SrcNode *n, const char *name)
{
	for (int i = 0; i < n->nattr; i++)
		if (strcmp(n->attr[i].name, name) == 0)
			return &n->attr[i];
	return NULL;
}

static int64_t sa_int(const SrcNode *n, const char *name, int64_t dflt)
{
	const SrcAttr *a = sa_get(n, name);
	return a && a->kind == SA_INT ? a->i : dflt;
}

static double sa_float(const SrcNode *n, const char *name, double dflt)
{
	const SrcAttr *a = sa_get(n, name);
	return a && a->kind == SA_FLOAT ? a->f : dflt;
}

static const char *sa_str(const SrcNode *n, const char *name, const char *dflt)
{
	const SrcAttr *a = sa_get(n, name);
	return a && a->kind == SA_STRING ? a->s : dflt;
}

static const int64_t *sa_ints(const SrcNode *n, const char *name, int *count)
{
	const SrcAttr *a = sa_get(n, name);
	if (!a || a->kind != SA_INTS) {
		*count = 0;
		return NULL;
	}
	*count = a->n;
	return a->ints;
}

static const char *kind_name(SrcAttrKind k)
{
	static const char *names[] = {"an int", "a float", "a list of ints", "a list of floats",
				      "a string", "a tensor", "something else"};
	return names[k];
}

/* ---- operand helpers ------------------------------------------------------------------ */

static const Type *vtype(Ctx *c, ValueId v) { return ir_value_type(c->g, v); }

static bool need_float(Ctx *c, ValueId v, const char *what)
{
	DType dt = vtype(c, v)->dt;
	if (ir_dtype_is_float(dt))
		return true;
	return fail(c, "%s has dtype %s; %s supports only floating-point tensors", what,
		    ir_dtype_name(dt), c->sn->op);
}

static bool same_dtype(Ctx *c, ValueId a, ValueId b)
{
	DType x = vtype(c, a)->dt, y = vtype(c, b)->dt;
	if (x == y)
		return true;
	return fail(c, "operands have different dtypes %s and %s", ir_dtype_name(x), ir_dtype_name(y));
}

/* The integers of a constant operand (rank 0 or 1, i32 or i64). */
static bool const_ints(Ctx *c, ValueId v, const char *what, int64_t *out, int max, int *n)
{
	const Value *val = ir_value(c->g, v);
	const Type *t = vtype(c, v);
	if (val->kind != VAL_CONST)
		return fail(c, "%s must be a constant", what);
	if (t->dt != DT_I64 && t->dt != DT_I32)
		return fail(c, "%s must be an int64 tensor, got %s", what, ir_dtype_name(t->dt));
	if (t->rank > 1)
		return fail(c, "%s must be a 1-D tensor, got rank %d", what, t->rank);
	int64_t k = ir_type_numel(t);
	if (k < 0 || k > max)
		return fail(c, "%s has %lld elements, at most %d supported", what, (long long)k, max);
	for (int64_t i = 0; i < k; i++) {
		if (t->dt == DT_I64)
			memcpy(&out[i], (const char *)val->data + 8 * i, 8);
		else {
			int32_t x;
			memcpy(&x, (const char *)val->data + 4 * i, 4);
			out[i] = x;
		}
	}
	*n = (int)k;
	return true;
}

/* A constant operand holding one number. */
static bool const_scalar(Ctx *c, ValueId v, const char *what, double *out)
{
	const Value *val = ir_value(c->g, v);
	const Type *t = vtype(c, v);
	if (val->kind != VAL_CONST)
		return fail(c, "%s must be a constant", what);
	if (ir_type_numel(t) != 1)
		return fail(c, "%s must be a scalar, got %lld elements", what, (long long)ir_type_numel(t));
	*out = load_elem(val->data, t->dt, 0);
	return true;
}

/* Integer list from operand i when present, else from attribute name.
 * *have is false when neither is given. */
static bool ints_from(Ctx *c, const ValueId *in, int nin, int i, const char *name,
		      int64_t *out, int max, int *n, bool *have)
{
	*have = false;
	*n = 0;
	if (i < nin && in[i] >= 0) {
		char what[200];
		snprintf(what, sizeof what, "input %d ('%s')", i, c->sn->in[i]);
		*have = true;
		return const_ints(c, in[i], what, out, max, n);
	}
	int k;
	const int64_t *a = sa_ints(c->sn, name, &k);
	if (!a)
		return true;
	if (k > max)
		return fail(c, "attribute '%s' has %d elements, at most %d supported", name, k, max);
	memcpy(out, a, (size_t)k * sizeof *out);
	*n = k;
	*have = true;
	return true;
}

static bool norm_axis(Ctx *c, int64_t *axis, int rank, const char *what)
{
	if (*axis < -rank || *axis >= rank)
		return fail(c, "%s %lld is out of range for rank %d", what, (long long)*axis, rank);
	if (*axis < 0)
		*axis += rank;
	return true;
}

/* Canonical reshape of x to dims. */
static ValueId reshape_to(Ctx *c, ValueId x, int rank, const int64_t *dims, const char *out_name)
{
	int64_t sh[IR_MAX_RANK];
	memcpy(sh, dims, (size_t)rank * sizeof *sh);
	Attr a = ir_aints("shape", sh, rank);
	return emit(c, OP_RESHAPE, &x, 1, &a, 1, out_name);
}

/* ---- the per-op importers ------------------------------------------------------------- */

typedef bool (*ImportFn)(Ctx *c, const ValueId *in, int nin);

static bool imp_unary(Ctx *c, Op op, const ValueId *in)
{
	return emit_out(c, op, in, 1, NULL, 0);
}

static bool imp_relu(Ctx *c, const ValueId *in, int nin) { return imp_unary(c, OP_RELU, in); }
static bool imp_identity(Ctx *c, const ValueId *in, int nin) { return imp_unary(c, OP_IDENTITY, in); }

static bool imp_abs(Ctx *c, const ValueId *in, int nin) { return imp_unary(c, OP_ABS, in); }
static bool imp_neg(Ctx *c, const ValueId *in, int nin) { return imp_unary(c, OP_NEG, in); }
static bool imp_exp(Ctx *c, const ValueId *in, int nin) { return imp_unary(c, OP_EXP, in); }
static bool imp_log(Ctx *c, const ValueId *in, int nin) { return imp_unary(c, OP_LOG, in); }
static bool imp_sqrt(Ctx *c, const ValueId *in, int nin) { return imp_unary(c, OP_SQRT, in); }
static bool imp_reciprocal(Ctx *c, const ValueId *in, int nin) { return imp_unary(c, OP_RECIPROCAL, in); }
static bool imp_floor(Ctx *c, const ValueId *in, int nin) { return imp_unary(c, OP_FLOOR, in); }
static bool imp_ceil(Ctx *c, const ValueId *in, int nin) { return imp_unary(c, OP_CEIL, in); }

static bool imp_sigmoid(Ctx *c, const ValueId *in, int nin)
{
	return need_float(c, in[0], "the input") && imp_unary(c, OP_SIGMOID, in);
}

static bool imp_tanh(Ctx *c, const ValueId *in, int nin)
{
	return need_float(c, in[0], "the input") && imp_unary(c, OP_TANH, in);
}

static bool imp_leaky_relu(Ctx *c, const ValueId *in, int nin)
{
	Attr a = ir_af("alpha", sa_float(c->sn, "alpha", (double)0.01f));
	return need_float(c, in[0], "the input") && emit_out(c, OP_LEAKY_RELU, in, 1, &a, 1);
}

static bool imp_binary(Ctx *c, Op op, const ValueId *in)
{
	return same_dtype(c, in[0], in[1]) && emit_out(c, op, in, 2, NULL, 0);
}

static bool imp_add(Ctx *c, const ValueId *in, int nin) { return imp_binary(c, OP_ADD, in); }
static bool imp_sub(Ctx *c, const ValueId *in, int nin) { return imp_binary(c, OP_SUB, in); }
static bool imp_mul(Ctx *c, const ValueId *in, int nin) { return imp_binary(c, OP_MUL, in); }
static bool imp_div(Ctx *c, const ValueId *in, int nin) { return imp_binary(c, OP_DIV, in); }
static bool imp_matmul(Ctx *c, const ValueId *in, int nin) { return imp_binary(c, OP_MATMUL, in); }

static bool imp_gemm(Ctx *c, const ValueId *in, int nin)
{
	if (!need_float(c, in[0], "input A") || !same_dtype(c, in[0], in[1]))
		return false;
	if (nin > 2 && in[2] >= 0 && !same_dtype(c, in[0], in[2]))
		return false;
	Attr a[4] = {ir_af("alpha", sa_float(c->sn, "alpha", 1.0)), ir_af("beta", sa_float(c->sn, "beta", 1.0)),
		     ir_ai("trans_a", sa_int(c->sn, "transA", 0)), ir_ai("trans_b", sa_int(c->sn, "transB", 0))};
	int n = nin > 2 && in[2] >= 0 ? 3 : 2;
	return emit_out(c, OP_GEMM, in, n, a, 4);
}

/* Explicit pads for a conv or pool from auto_pad / pads. */
static bool resolve_pads(Ctx *c, int nsp, const int64_t *sp, const int64_t *k, const int64_t *s,
			 const int64_t *dil, int64_t *pads)
{
	const char *ap = sa_str(c->sn, "auto_pad", "NOTSET");
	for (int i = 0; i < 2 * nsp; i++)
		pads[i] = 0;
	if (strcmp(ap, "NOTSET") == 0) {
		int n;
		const int64_t *p = sa_ints(c->sn, "pads", &n);
		if (!p)
			return true;
		if (n != 2 * nsp)
			return fail(c, "attribute 'pads' has %d values, expected %d", n, 2 * nsp);
		for (int i = 0; i < n; i++) {
			if (p[i] < 0)
				return fail(c, "negative padding %lld is not supported", (long long)p[i]);
			pads[i] = p[i];
		}
		return true;
	}
	if (strcmp(ap, "VALID") == 0)
		return true;
	bool upper = strcmp(ap, "SAME_UPPER") == 0;
	if (!upper && strcmp(ap, "SAME_LOWER") != 0)
		return fail(c, "unsupported auto_pad '%s'", ap);
	for (int i = 0; i < nsp; i++) {
		int64_t out = (sp[i] + s[i] - 1) / s[i];
		int64_t total = (out - 1) * s[i] + (k[i] - 1) * dil[i] + 1 - sp[i];
		if (total < 0)
			total = 0;
		pads[i] = upper ? total / 2 : total - total / 2;
		pads[nsp + i] = total - pads[i];
	}
	return true;
}

/* Per-spatial-dim ints attribute, default 1 each. */
static bool spatial_ints(Ctx *c, const char *name, int nsp, int64_t *out)
{
	int n;
	const int64_t *v = sa_ints(c->sn, name, &n);
	for (int i = 0; i < nsp; i++)
		out[i] = 1;
	if (!v)
		return true;
	if (n != nsp)
		return fail(c, "attribute '%s' has %d values, expected %d (one per spatial dimension)", name, n, nsp);
	for (int i = 0; i < n; i++) {
		if (v[i] < 1)
			return fail(c, "attribute '%s' must be positive, got %lld", name, (long long)v[i]);
		out[i] = v[i];
	}
	return true;
}

static bool imp_conv(Ctx *c, const ValueId *in, int nin)
{
	const Type *tx = vtype(c, in[0]), *tw = vtype(c, in[1]);
	if (!need_float(c, in[0], "the input") || !same_dtype(c, in[0], in[1]))
		return false;
	if (tx->rank < 3)
		return fail(c, "input must have rank >= 3 ([N,C,spatial...]), got rank %d", tx->rank);
	int nsp = tx->rank - 2;
	if (tw->rank != tx->rank)
		return fail(c, "weight rank %d does not match input rank %d", tw->rank, tx->rank);
	int64_t k[IR_MAX_RANK], s[IR_MAX_RANK], dil[IR_MAX_RANK], pads[2 * IR_MAX_RANK];
	for (int i = 0; i < nsp; i++)
		k[i] = tw->dims[2 + i];
	int nk;
	const int64_t *ks = sa_ints(c->sn, "kernel_shape", &nk);
	if (ks) {
		if (nk != nsp)
			return fail(c, "attribute 'kernel_shape' has %d values, expected %d", nk, nsp);
		for (int i = 0; i < nsp; i++)
			if (ks[i] != k[i])
				return fail(c, "kernel_shape[%d] = %lld does not match the weight's %lld", i,
					    (long long)ks[i], (long long)k[i]);
	}
	if (!spatial_ints(c, "strides", nsp, s) || !spatial_ints(c, "dilations", nsp, dil) ||
	    !resolve_pads(c, nsp, tx->dims + 2, k, s, dil, pads))
		return false;
	int64_t group = sa_int(c->sn, "group", 1);
	if (group < 1)
		return fail(c, "attribute 'group' must be positive, got %lld", (long long)group);
	Attr a[4] = {ir_aints("strides", s, nsp), ir_aints("pads", pads, 2 * nsp),
		     ir_aints("dilations", dil, nsp), ir_ai("group", group)};
	int n = nin > 2 && in[2] >= 0 ? 3 : 2;
	if (n == 3 && !same_dtype(c, in[0], in[2]))
		return false;
	return emit_out(c, OP_CONV, in, n, a, 4);
}

static bool imp_pool(Ctx *c, const ValueId *in, bool avg)
{
	const Type *tx = vtype(c, in[0]);
	if (!need_float(c, in[0], "the input"))
		return false;
	int nsp;
	const int64_t *ks = sa_ints(c->sn, "kernel_shape", &nsp);
	if (!ks)
		return fail(c, "attribute 'kernel_shape' is required");
	if (nsp < 1 || tx->rank != nsp + 2)
		return fail(c, "kernel_shape has %d values but the input has rank %d (needs %d spatial dimensions)",
			    nsp, tx->rank, tx->rank - 2);
	int64_t k[IR_MAX_RANK], s[IR_MAX_RANK], dil[IR_MAX_RANK], pads[2 * IR_MAX_RANK];
	for (int i = 0; i < nsp; i++) {
		if (ks[i] < 1)
			return fail(c, "kernel_shape must be positive, got %lld", (long long)ks[i]);
		k[i] = ks[i];
	}
	if (!spatial_ints(c, "strides", nsp, s) || !spatial_ints(c, "dilations", nsp, dil) ||
	    !resolve_pads(c, nsp, tx->dims + 2, k, s, dil, pads))
		return false;
	int64_t ceil_mode = sa_int(c->sn, "ceil_mode", 0);
	Attr a[6] = {ir_aints("kernel", k, nsp), ir_aints("strides", s, nsp), ir_aints("pads", pads, 2 * nsp),
		     ir_aints("dilations", dil, nsp), ir_ai("ceil_mode", ceil_mode != 0),
		     ir_ai("count_include_pad", sa_int(c->sn, "count_include_pad", 0) != 0)};
	return emit_out(c, avg ? OP_AVGPOOL : OP_MAXPOOL, in, 1, a, avg ? 6 : 5);
}

static bool imp_maxpool(Ctx *c, const ValueId *in, int nin) { return imp_pool(c, in, false); }
static bool imp_avgpool(Ctx *c, const ValueId *in, int nin) { return imp_pool(c, in, true); }

static bool imp_global_avgpool(Ctx *c, const ValueId *in, int nin)
{
	if (!need_float(c, in[0], "the input"))
		return false;
	if (vtype(c, in[0])->rank < 3)
		return fail(c, "input must have rank >= 3 ([N,C,spatial...]), got rank %d", vtype(c, in[0])->rank);
	return emit_out(c, OP_GLOBAL_AVGPOOL, in, 1, NULL, 0);
}

/* Reduce*: axes from the attribute (older opsets) or the optional second
 * operand; no axes means all axes unless noop_with_empty_axes. */
static bool imp_reduce(Ctx *c, Op op, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t axes[IR_MAX_RANK + 1];
	int n;
	bool have, red[IR_MAX_RANK] = {0};
	if (!need_float(c, in[0], "the input"))
		return false;
	if (!ints_from(c, in, nin, 1, "axes", axes, IR_MAX_RANK, &n, &have))
		return false;
	if (n == 0 && sa_int(c->sn, "noop_with_empty_axes", 0))
		return emit_out(c, OP_IDENTITY, in, 1, NULL, 0);
	for (int i = 0; i < n; i++) {
		if (!norm_axis(c, &axes[i], t->rank, "axis"))
			return false;
		if (red[axes[i]])
			return fail(c, "axis %lld appears twice", (long long)axes[i]);
		red[axes[i]] = true;
	}
	int64_t sorted[IR_MAX_RANK];
	int k = 0;
	for (int i = 0; i < t->rank; i++)
		if (red[i] || n == 0)
			sorted[k++] = i;
	if (k == 0)  /* a scalar: nothing to reduce */
		return emit_out(c, OP_IDENTITY, in, 1, NULL, 0);
	Attr a[2] = {ir_aints("axes", sorted, k), ir_ai("keepdims", sa_int(c->sn, "keepdims", 1) != 0)};
	return emit_out(c, op, in, 1, a, 2);
}

static bool imp_reduce_mean(Ctx *c, const ValueId *in, int nin) { return imp_reduce(c, OP_REDUCE_MEAN, in, nin); }
static bool imp_reduce_sum(Ctx *c, const ValueId *in, int nin) { return imp_reduce(c, OP_REDUCE_SUM, in, nin); }
static bool imp_reduce_max(Ctx *c, const ValueId *in, int nin) { return imp_reduce(c, OP_REDUCE_MAX, in, nin); }
static bool imp_reduce_min(Ctx *c, const ValueId *in, int nin) { return imp_reduce(c, OP_REDUCE_MIN, in, nin); }

static bool imp_batchnorm(Ctx *c, const ValueId *in, int nin)
{
	if (!need_float(c, in[0], "the input"))
		return false;
	Attr a = ir_af("epsilon", sa_float(c->sn, "epsilon", (double)1e-5f));
	return emit_out(c, OP_BATCHNORM, in, 5, &a, 1);
}

static bool imp_clip(Ctx *c, const ValueId *in, int nin)
{
	double lo = -INFINITY, hi = INFINITY;
	if (c->opset < 11 || (nin < 2 && sa_get(c->sn, "min")))
		lo = sa_float(c->sn, "min", -INFINITY);
	if (c->opset < 11 || (nin < 3 && sa_get(c->sn, "max")))
		hi = sa_float(c->sn, "max", INFINITY);
	if (nin > 1 && in[1] >= 0 && !const_scalar(c, in[1], "the 'min' input", &lo))
		return false;
	if (nin > 2 && in[2] >= 0 && !const_scalar(c, in[2], "the 'max' input", &hi))
		return false;
	if (isnan(lo) || isnan(hi))
		return fail(c, "clip bounds must not be NaN");
	Attr a[2] = {ir_af("min", isinf(lo) ? lo : (double)(float)lo), ir_af("max", isinf(hi) ? hi : (double)(float)hi)};
	return emit_out(c, OP_CLIP, in, 1, a, 2);
}

static bool imp_flatten(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t axis = sa_int(c->sn, "axis", 1);
	if (axis < -t->rank || axis > t->rank)
		return fail(c, "axis %lld is out of range for rank %d", (long long)axis, t->rank);
	if (axis < 0)
		axis += t->rank;
	int64_t d[2] = {ir_shape_numel((int)axis, t->dims), ir_shape_numel(t->rank - (int)axis, t->dims + axis)};
	if (d[0] < 0 || d[1] < 0)
		return fail(c, "element count overflows");
	return define(c, reshape_to(c, in[0], 2, d, c->sn->out[0]));
}

static bool imp_reshape(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t sh[IR_MAX_RANK + 1];
	int n;
	bool have;
	if (!ints_from(c, in, nin, 1, "shape", sh, IR_MAX_RANK, &n, &have))
		return false;
	if (!have)
		return fail(c, "the target shape is missing");
	bool allowzero = sa_int(c->sn, "allowzero", 0) != 0;
	int minus = -1;
	int64_t known = 1;
	for (int i = 0; i < n; i++) {
		if (sh[i] == 0 && !allowzero) {
			if (i >= t->rank)
				return fail(c, "shape[%d] = 0 copies a dimension the rank-%d input does not have", i, t->rank);
			sh[i] = t->dims[i];
		}
		if (sh[i] == -1) {
			if (minus >= 0)
				return fail(c, "the target shape has more than one -1");
			minus = i;
			continue;
		}
		if (sh[i] < 0)
			return fail(c, "invalid target dimension %lld", (long long)sh[i]);
		if (sh[i] != 0 && known > INT64_MAX / sh[i])
			return fail(c, "the target shape's element count overflows");
		known *= sh[i];
	}
	int64_t numel = ir_type_numel(t);
	if (minus >= 0) {
		if (known == 0 || numel % known != 0) {
			char b[200];
			fmt_dims(b, sizeof b, t->rank, t->dims);
			return fail(c, "cannot infer the -1 dimension: %lld elements of %s do not divide by %lld",
				    (long long)numel, b, (long long)known);
		}
		sh[minus] = numel / known;
	} else if (known != numel) {
		char b1[200], b2[200];
		fmt_dims(b1, sizeof b1, t->rank, t->dims);
		fmt_dims(b2, sizeof b2, n, sh);
		return fail(c, "cannot reshape %s (%lld elements) to %s", b1, (long long)numel, b2);
	}
	return define(c, reshape_to(c, in[0], n, sh, c->sn->out[0]));
}

static bool imp_squeeze(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t axes[IR_MAX_RANK + 1], dims[IR_MAX_RANK];
	int n, r = 0;
	bool have, drop[IR_MAX_RANK] = {0};
	if (!ints_from(c, in, nin, 1, "axes", axes, IR_MAX_RANK, &n, &have))
		return false;
	if (!have)
		for (int i = 0; i < t->rank; i++)
			drop[i] = t->dims[i] == 1;
	for (int i = 0; i < n; i++) {
		if (!norm_axis(c, &axes[i], t->rank, "axis"))
			return false;
		if (t->dims[axes[i]] != 1)
			return fail(c, "cannot squeeze axis %lld of size %lld", (long long)axes[i],
				    (long long)t->dims[axes[i]]);
		drop[axes[i]] = true;
	}
	for (int i = 0; i < t->rank; i++)
		if (!drop[i])
			dims[r++] = t->dims[i];
	return define(c, reshape_to(c, in[0], r, dims, c->sn->out[0]));
}

static bool imp_unsqueeze(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t axes[IR_MAX_RANK + 1], dims[IR_MAX_RANK];
	int n;
	bool have, ins[IR_MAX_RANK] = {0};
	if (!ints_from(c, in, nin, 1, "axes", axes, IR_MAX_RANK, &n, &have))
		return false;
	if (!have)
		return fail(c, "axes are required");
	int r = t->rank + n;
	if (r > IR_MAX_RANK)
		return fail(c, "result rank %d exceeds the maximum %d", r, IR_MAX_RANK);
	for (int i = 0; i < n; i++) {
		if (!norm_axis(c, &axes[i], r, "axis"))
			return false;
		if (ins[axes[i]])
			return fail(c, "axis %lld appears twice", (long long)axes[i]);
		ins[axes[i]] = true;
	}
	for (int i = 0, j = 0; i < r; i++)
		dims[i] = ins[i] ? 1 : t->dims[j++];
	return define(c, reshape_to(c, in[0], r, dims, c->sn->out[0]));
}

static bool imp_transpose(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t perm[IR_MAX_RANK];
	int n;
	const int64_t *p = sa_ints(c->sn, "perm", &n);
	if (p) {
		if (n != t->rank)
			return fail(c, "perm has %d values for an input of rank %d", n, t->rank);
		bool seen[IR_MAX_RANK] = {0};
		for (int i = 0; i < n; i++) {
			perm[i] = p[i];
			if (!norm_axis(c, &perm[i], t->rank, "perm value"))
				return false;
			if (seen[perm[i]])
				return fail(c, "perm is not a permutation (%lld repeats)", (long long)perm[i]);
			seen[perm[i]] = true;
		}
	} else
		for (int i = 0; i < t->rank; i++)
			perm[i] = t->rank - 1 - i;
	Attr a = ir_aints("perm", perm, t->rank);
	return emit_out(c, OP_TRANSPOSE, in, 1, &a, 1);
}

static bool imp_concat(Ctx *c, const ValueId *in, int nin)
{
	const SrcAttr *ax = sa_get(c->sn, "axis");
	if (!ax)
		return fail(c, "attribute 'axis' is required");
	if (nin > ir_ops[OP_CONCAT].max_in)
		return fail(c, "%d inputs; at most %d supported", nin, ir_ops[OP_CONCAT].max_in);
	for (int i = 0; i < nin; i++)
		if (in[i] < 0)
			return fail(c, "input %d is empty", i);
		else if (!same_dtype(c, in[0], in[i]))
			return false;
	int64_t axis = ax->i;
	if (!norm_axis(c, &axis, vtype(c, in[0])->rank, "axis"))
		return false;
	Attr a = ir_ai("axis", axis);
	return emit_out(c, OP_CONCAT, in, nin, &a, 1);
}

static bool imp_softmax(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	if (!need_float(c, in[0], "the input"))
		return false;
	bool old = c->opset < 13;
	int64_t axis = sa_int(c->sn, "axis", old ? 1 : -1);
	int rank = t->rank;
	if (rank == 0)
		return fail(c, "input must have rank >= 1");
	if (!norm_axis(c, &axis, rank, "axis"))
		return false;
	/* Before opset 13, softmax normalizes over all dims from axis on (the
	 * input coerced to 2-D).  That equals a one-axis softmax when the dims
	 * after axis are all 1. */
	if (old && ir_shape_numel(rank - (int)axis - 1, t->dims + axis + 1) != 1) {
		int64_t d2[2] = {ir_shape_numel((int)axis, t->dims), ir_shape_numel(rank - (int)axis, t->dims + axis)};
		int64_t orig[IR_MAX_RANK];
		memcpy(orig, t->dims, (size_t)rank * sizeof *orig);
		ValueId x2 = reshape_to(c, in[0], 2, d2, NULL);
		if (x2 < 0)
			return false;
		Attr a = ir_ai("axis", 1);
		ValueId s = emit(c, OP_SOFTMAX, &x2, 1, &a, 1, NULL);
		if (s < 0)
			return false;
		return define(c, reshape_to(c, s, rank, orig, c->sn->out[0]));
	}
	Attr a = ir_ai("axis", axis);
	return emit_out(c, OP_SOFTMAX, in, 1, &a, 1);
}

static bool imp_dropout(Ctx *c, const ValueId *in, int nin)
{
	if (nin > 2 && in[2] >= 0) {
		double v;
		if (!const_scalar(c, in[2], "the 'training_mode' input", &v))
			return false;
		if (v != 0)
			return fail(c, "training_mode is true; only inference is supported");
	}
	return imp_unary(c, OP_IDENTITY, in);
}

static bool imp_pad(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t p[2 * IR_MAX_RANK + 1], axes[IR_MAX_RANK + 1], pads[2 * IR_MAX_RANK] = {0};
	int np, na;
	bool have, have_axes;
	if (!ints_from(c, in, nin, 1, "pads", p, 2 * IR_MAX_RANK, &np, &have))
		return false;
	if (!have)
		return fail(c, "pads are required");
	if (!ints_from(c, in, nin, 3, "axes", axes, IR_MAX_RANK, &na, &have_axes))
		return false;
	if (!have_axes) {
		na = t->rank;
		for (int i = 0; i < na; i++)
			axes[i] = i;
	}
	if (np != 2 * na)
		return fail(c, "pads has %d values, expected %d", np, 2 * na);
	bool seen[IR_MAX_RANK] = {0};
	for (int i = 0; i < na; i++) {
		if (!norm_axis(c, &axes[i], t->rank, "axis"))
			return false;
		if (seen[axes[i]])
			return fail(c, "axis %lld appears twice", (long long)axes[i]);
		seen[axes[i]] = true;
		pads[axes[i]] = p[i];
		pads[t->rank + axes[i]] = p[na + i];
	}
	double value = sa_float(c->sn, "value", 0.0);
	if (nin > 2 && in[2] >= 0 && !const_scalar(c, in[2], "the 'constant_value' input", &value))
		return false;
	Attr a[2] = {ir_aints("pads", pads, 2 * t->rank), ir_af("value", (double)(float)value)};
	return emit_out(c, OP_PAD, in, 1, a, 2);
}

/* A constant tensor from a Constant node's attribute. */
static bool imp_constant(Ctx *c, const ValueId *in, int nin)
{
	const SrcNode *n = c->sn;
	if (n->nattr != 1)
		return fail(c, "needs exactly one value attribute, got %d", n->nattr);
	const SrcAttr *a = &n->attr[0];
	SrcTensor t = {0};
	double one;
	int64_t ione;
	if (strcmp(a->name, "value") == 0) {
		t = *a->t;
	} else if (strcmp(a->name, "value_float") == 0) {
		one = a->f;
		float f = (float)one;
		t = (SrcTensor){.dt = DT_F32, .rank = 0};
		float *p = ir_arena_alloc(c->m->arena, 4);
		if (!p)
			return oom(c);
		*p = f;
		t.data = p;
	} else if (strcmp(a->name, "value_int") == 0) {
		ione = a->i;
		t = (SrcTensor){.dt = DT_I64, .rank = 0, .data = &ione};
	} else if (strcmp(a->name, "value_floats") == 0 || strcmp(a->name, "value_ints") == 0) {
		bool fl = a->name[6] == 'f';
		t = (SrcTensor){.dt = fl ? DT_F32 : DT_I64, .rank = 1, .dims = {a->n}};
		void *p = ir_arena_alloc(c->m->arena, (size_t)a->n * (fl ? 4 : 8) + 1);
		if (!p)
			return oom(c);
		for (int i = 0; i < a->n; i++)
			if (fl)
				src_store(p, DT_F32, i, a->floats[i]);
			else
				memcpy((char *)p + 8 * i, &a->ints[i], 8);
		t.data = p;
	} else
		return fail(c, "unsupported attribute '%s'", a->name);
	TypeId ty = ir_type(c->g, t.dt, t.rank, t.dims, NULL);
	if (ty < 0)
		return oom(c);
	ValueId v = ir_add_const(c->g, n->out[0], ty, t.data);
	if (v < 0)
		return oom(c);
	return define(c, v);
}

/* ---- the op table ----------------------------------------------------------------------- */

typedef struct AttrSpec {
	const char *name;
	SrcAttrKind kind;
	int lo, hi;      /* opset range where the attribute exists; 0 = unbounded */
	bool lenient;    /* stands for a constant operand: accepted only in JSON */
} AttrSpec;

typedef struct OpSpec {
	const char *op;
	int lo, hi;          /* opset range of this entry */
	int min_in, max_in;  /* source operand counts */
	int max_out;         /* declared outputs allowed; only output 0 may be used */
	unsigned const_in;   /* bit i: operand i must be a constant */
	ImportFn fn;
	AttrSpec attrs[9];
} OpSpec;

#define CONV_ATTRS {"kernel_shape", SA_INTS}, {"strides", SA_INTS}, {"pads", SA_INTS}, \
	{"dilations", SA_INTS}, {"group", SA_INT}, {"auto_pad", SA_STRING}

static const OpSpec op_table[] = {
	{"Conv", 7, 22, 2, 3, 1, 0, imp_conv, {CONV_ATTRS}},
	{"Gemm", 7, 10, 3, 3, 1, 0, imp_gemm, {{"alpha", SA_FLOAT}, {"beta", SA_FLOAT}, {"transA", SA_INT}, {"transB", SA_INT}}},
	{"Gemm", 11, 22, 2, 3, 1, 0, imp_gemm, {{"alpha", SA_FLOAT}, {"beta", SA_FLOAT}, {"transA", SA_INT}, {"transB", SA_INT}}},
	{"MatMul", 7, 22, 2, 2, 1, 0, imp_matmul},
	{"Add", 7, 22, 2, 2, 1, 0, imp_add},
	{"Sub", 7, 22, 2, 2, 1, 0, imp_sub},
	{"Mul", 7, 22, 2, 2, 1, 0, imp_mul},
	{"Div", 7, 22, 2, 2, 1, 0, imp_div},
	{"Relu", 7, 22, 1, 1, 1, 0, imp_relu},
	{"Abs", 7, 22, 1, 1, 1, 0, imp_abs},
	{"Neg", 7, 22, 1, 1, 1, 0, imp_neg},
	{"Exp", 7, 22, 1, 1, 1, 0, imp_exp},
	{"Log", 7, 22, 1, 1, 1, 0, imp_log},
	{"Sqrt", 7, 22, 1, 1, 1, 0, imp_sqrt},
	{"Reciprocal", 7, 22, 1, 1, 1, 0, imp_reciprocal},
	{"Floor", 7, 22, 1, 1, 1, 0, imp_floor},
	{"Ceil", 7, 22, 1, 1, 1, 0, imp_ceil},
	{"LeakyRelu", 7, 22, 1, 1, 1, 0, imp_leaky_relu, {{"alpha", SA_FLOAT}}},
	{"Sigmoid", 7, 22, 1, 1, 1, 0, imp_sigmoid},
	{"Tanh", 7, 22, 1, 1, 1, 0, imp_tanh},
	{"Clip", 7, 10, 1, 1, 1, 0, imp_clip, {{"min", SA_FLOAT}, {"max", SA_FLOAT}}},
	{"Clip", 11, 22, 1, 3, 1, 6, imp_clip, {{"min", SA_FLOAT, 0, 0, true}, {"max", SA_FLOAT, 0, 0, true}}},
	{"BatchNormalization", 7, 22, 5, 5, 5, 0, imp_batchnorm,
	 {{"epsilon", SA_FLOAT}, {"momentum", SA_FLOAT}, {"spatial", SA_INT, 7, 8}, {"training_mode", SA_INT, 14, 0}}},
	{"MaxPool", 7, 22, 1, 1, 2, 0, imp_maxpool,
	 {{"kernel_shape", SA_INTS}, {"strides", SA_INTS}, {"pads", SA_INTS}, {"auto_pad", SA_STRING},
	  {"storage_order", SA_INT, 8, 0}, {"dilations", SA_INTS, 10, 0}, {"ceil_mode", SA_INT, 10, 0}}},
	{"AveragePool", 7, 22, 1, 1, 1, 0, imp_avgpool,
	 {{"kernel_shape", SA_INTS}, {"strides", SA_INTS}, {"pads", SA_INTS}, {"auto_pad", SA_STRING},
	  {"count_include_pad", SA_INT}, {"ceil_mode", SA_INT, 10, 0}, {"dilations", SA_INTS, 19, 0}}},
	{"GlobalAveragePool", 7, 22, 1, 1, 1, 0, imp_global_avgpool},
#define REDUCE_OLD {{"axes", SA_INTS}, {"keepdims", SA_INT}}
#define REDUCE_NEW {{"axes", SA_INTS, 0, 0, true}, {"keepdims", SA_INT}, {"noop_with_empty_axes", SA_INT}}
	{"ReduceMean", 7, 17, 1, 1, 1, 0, imp_reduce_mean, REDUCE_OLD},
	{"ReduceMean", 18, 22, 1, 2, 1, 2, imp_reduce_mean, REDUCE_NEW},
	{"ReduceMax", 7, 17, 1, 1, 1, 0, imp_reduce_max, REDUCE_OLD},
	{"ReduceMax", 18, 22, 1, 2, 1, 2, imp_reduce_max, REDUCE_NEW},
	{"ReduceMin", 7, 17, 1, 1, 1, 0, imp_reduce_min, REDUCE_OLD},
	{"ReduceMin", 18, 22, 1, 2, 1, 2, imp_reduce_min, REDUCE_NEW},
	{"ReduceSum", 7, 12, 1, 1, 1, 0, imp_reduce_sum, REDUCE_OLD},
	{"ReduceSum", 13, 22, 1, 2, 1, 2, imp_reduce_sum, REDUCE_NEW},
	{"Flatten", 7, 22, 1, 1, 1, 0, imp_flatten, {{"axis", SA_INT}}},
	{"Reshape", 7, 22, 2, 2, 1, 2, imp_reshape, {{"allowzero", SA_INT, 14, 0}, {"shape", SA_INTS, 0, 0, true}}},
	{"Transpose", 7, 22, 1, 1, 1, 0, imp_transpose, {{"perm", SA_INTS}}},
	{"Concat", 7, 22, 1, 64, 1, 0, imp_concat, {{"axis", SA_INT}}},
	{"Softmax", 7, 22, 1, 1, 1, 0, imp_softmax, {{"axis", SA_INT}}},
	{"Constant", 7, 22, 0, 0, 1, 0, imp_constant,
	 {{"value", SA_TENSOR}, {"value_float", SA_FLOAT, 12, 0}, {"value_floats", SA_FLOATS, 12, 0},
	  {"value_int", SA_INT, 12, 0}, {"value_ints", SA_INTS, 12, 0}}},
	{"Identity", 7, 22, 1, 1, 1, 0, imp_identity},
	{"Dropout", 7, 11, 1, 1, 2, 0, imp_dropout, {{"ratio", SA_FLOAT}}},
	{"Dropout", 12, 22, 1, 3, 2, 4, imp_dropout, {{"seed", SA_INT}}},
	{"Squeeze", 7, 12, 1, 1, 1, 0, imp_squeeze, {{"axes", SA_INTS}}},
	{"Squeeze", 13, 22, 1, 2, 1, 2, imp_squeeze, {{"axes", SA_INTS, 0, 0, true}}},
	{"Unsqueeze", 7, 12, 1, 1, 1, 0, imp_unsqueeze, {{"axes", SA_INTS}}},
	{"Unsqueeze", 13, 22, 2, 2, 1, 2, imp_unsqueeze, {{"axes", SA_INTS, 0, 0, true}}},
	{"Pad", 7, 10, 1, 1, 1, 0, imp_pad, {{"pads", SA_INTS}, {"mode", SA_STRING}, {"value", SA_FLOAT}}},
	{"Pad", 11, 17, 2, 3, 1, 6, imp_pad,
	 {{"mode", SA_STRING}, {"pads", SA_INTS, 0, 0, true}, {"value", SA_FLOAT, 0, 0, true}}},
	{"Pad", 18, 22, 2, 4, 1, 14, imp_pad,
	 {{"mode", SA_STRING}, {"pads", SA_INTS, 0, 0, true}, {"value", SA_FLOAT, 0, 0, true},
	  {"axes", SA_INTS, 0, 0, true}}},
};

#define NOPS ((int)(sizeof op_table / sizeof op_table[0]))

/* The entry for op at opset; *known tells whether the op exists at all. */
static const OpSpec *find_spec(const char *op, int opset, bool *known, int *lo, int *hi)
{
	*known = false;
	*lo = 1000;
	*hi = 0;
	const OpSpec *found = NULL;
	for (int i = 0; i < NOPS; i++) {
		const OpSpec *s = &op_table[i];
		if (strcmp(s->op, op) != 0)
			continue;
		*known = true;
		*lo = s->lo < *lo ? s->lo : *lo;
		*hi = s->hi > *hi ? s->hi : *hi;
		if (opset >= s->lo && opset <= s->hi)
			found = s;
	}
	return found;
}

/* In JSON a constant operand may be given as an attribute instead (Reshape
 * "shape", Pad "pads", ...); then the op needs only its data operand. */
static int min_inputs(const Ctx *c, const OpSpec *s, const SrcNode *n)
{
	if (c->m->lenient)
		for (int i = 0; i < 9 && s->attrs[i].name; i++)
			if (s->attrs[i].lenient && sa_get(n, s->attrs[i].name))
				return 1;
	return s->min_in;
}

/* ---- static checks: everything knowable without shapes ------------------------------------ */

static bool check_attr(Ctx *c, const OpSpec *s, SrcAttr *a)
{
	const AttrSpec *as = NULL;
	for (int i = 0; i < 9 && s->attrs[i].name; i++)
		if (strcmp(s->attrs[i].name, a->name) == 0)
			as = &s->attrs[i];
	bool ok = as && (!as->lenient || c->m->lenient) &&
		  (c->m->lenient || ((!as->lo || c->opset >= as->lo) && (!as->hi || c->opset <= as->hi)));
	if (!ok) {
		if (strcmp(c->sn->op, "Constant") == 0)
			return fail(c, "unsupported attribute '%s' (kiln supports value, value_float(s), value_int(s))", a->name);
		return fail(c, "unsupported attribute '%s' at opset %d", a->name, c->opset);
	}
	if (a->kind == as->kind)
		return true;
	if (as->kind == SA_FLOAT && a->kind == SA_INT) {
		a->kind = SA_FLOAT;
		a->f = (double)(float)a->i;
		return true;
	}
	if (as->kind == SA_FLOATS && a->kind == SA_INTS) {
		double *f = ir_arena_alloc(c->m->arena, ((size_t)a->n + 1) * sizeof *f);
		if (!f)
			return oom(c);
		for (int i = 0; i < a->n; i++)
			f[i] = (double)(float)a->ints[i];
		a->kind = SA_FLOATS;
		a->floats = f;
		return true;
	}
	if (as->kind == SA_INTS && a->kind == SA_FLOATS && a->n == 0) {
		a->kind = SA_INTS;
		return true;
	}
	if (a->kind == SA_OTHER)
		return fail(c, "attribute '%s' must be %s, got %s", a->name, kind_name(as->kind), a->other);
	return fail(c, "attribute '%s' must be %s, got %s", a->name, kind_name(as->kind), kind_name(a->kind));
}

/* Attribute values that are never supported, whatever the shapes. */
static bool check_values(Ctx *c, const SrcNode *n)
{
	bool ok = true;
	const char *ap = sa_str(n, "auto_pad", NULL);
	if (ap && strcmp(ap, "NOTSET") && strcmp(ap, "VALID") && strcmp(ap, "SAME_UPPER") && strcmp(ap, "SAME_LOWER"))
		ok = fail(c, "unsupported auto_pad '%s'", ap);
	const char *mode = sa_str(n, "mode", NULL);
	if (mode && strcmp(n->op, "Pad") == 0 && strcmp(mode, "constant") != 0)
		ok = fail(c, "unsupported pad mode '%s' (only 'constant')", mode);
	if (sa_int(n, "spatial", 1) != 1)
		ok = fail(c, "spatial=0 is not supported");
	if (sa_int(n, "training_mode", 0) != 0)
		ok = fail(c, "training_mode=1 is not supported; only inference");
	if (strcmp(n->op, "Constant") == 0) {
		if (n->nattr != 1)
			ok = fail(c, "needs exactly one value attribute, got %d", n->nattr);
		else if (n->attr[0].kind == SA_TENSOR && !n->attr[0].t)
			ok = fail(c, "attribute 'value' has no tensor");
	}
	return ok;
}

static bool is_used(Ctx *c, const char *name) { return *name && nm_has(&c->used, name); }

static bool check_node(Ctx *c, SrcNode *n)
{
	c->sn = n;
	if (*n->domain && strcmp(n->domain, "ai.onnx") != 0)
		return fail(c, "unsupported op (domain '%s')", n->domain);
	bool known;
	int lo, hi;
	const OpSpec *s = find_spec(n->op, c->opset, &known, &lo, &hi);
	if (!known)
		return fail(c, "unsupported op");
	if (!s)
		return fail(c, "unsupported op at opset %d (kiln supports %s at opsets %d to %d)", c->opset, n->op, lo, hi);
	bool ok = true;
	for (int i = 0; i < n->nattr; i++) {
		for (int j = 0; j < i; j++)
			if (strcmp(n->attr[i].name, n->attr[j].name) == 0) {
				ok = fail(c, "attribute '%s' appears twice", n->attr[i].name);
				break;
			}
		if (ok && !check_attr(c, s, &n->attr[i]))
			ok = false;
	}
	if (!ok)
		return false;
	int nin = n->nin;
	while (nin > 0 && !*n->in[nin - 1])
		nin--;
	int min_in = min_inputs(c, s, n);
	if (nin < min_in)
		return fail(c, "needs at least %d inputs, got %d", min_in, nin);
	if (nin > s->max_in)
		return fail(c, "takes at most %d inputs, got %d", s->max_in, nin);
	for (int i = 0; i < min_in; i++)
		if (!*n->in[i])
			return fail(c, "input %d is required but empty", i);
	for (int i = 0; i < nin; i++)
		if ((s->const_in >> i & 1) && *n->in[i] && !nm_has(&c->consts, n->in[i]))
			ok = fail(c, "input %d ('%s') must be a constant (an initializer or a Constant output)", i, n->in[i]);
	if (n->nout < 1 || !*n->out[0])
		return fail(c, "has no output");
	for (int i = 1; i < n->nout; i++) {
		if (i >= s->max_out && *n->out[i])
			return fail(c, "has %d outputs; %s has at most %d", n->nout, n->op, s->max_out);
		if (is_used(c, n->out[i]))
			ok = fail(c, "output %d ('%s') is used, but kiln only supports the first output of %s", i,
				  n->out[i], n->op);
	}
	return check_values(c, n) && ok;
}

/* ---- graph-level work ------------------------------------------------------------------------ */

static const ShapeBinding *find_binding(const ImportOptions *o, const char *name, bool *used)
{
	for (int i = 0; o && i < o->nshapes; i++)
		if (o->shapes[i].name && strcmp(o->shapes[i].name, name) == 0) {
			used[i] = true;
			return &o->shapes[i];
		}
	return NULL;
}

/* An input bound to a constant (--const): checked against its declared
 * type, then added as a constant of the same name. */
static bool add_bound_input(Ctx *c, const SrcInput *in, const ConstBinding *k)
{
	if (k->dt != in->dt)
		return fail(c, "--const %s= holds %s, the input is %s", in->name, ir_dtype_name(k->dt), ir_dtype_name(in->dt));
	if (in->rank >= 0 && k->rank != in->rank)
		return fail(c, "--const %s= has rank %d, the input has rank %d", in->name, k->rank, in->rank);
	for (int i = 0; in->rank >= 0 && i < k->rank; i++)
		if (in->dims[i] >= 0 && in->dims[i] != k->dims[i])
			return fail(c, "--const %s= has dimension %d of %lld, the input fixes it to %lld", in->name, i,
				    (long long)k->dims[i], (long long)in->dims[i]);
	int64_t numel = ir_shape_numel(k->rank, k->dims);
	if (numel < 0 || numel > INT64_MAX / 16)
		return fail(c, "--const %s= is too large", in->name);
	TypeId t = ir_type(c->g, k->dt, k->rank, k->dims, NULL);
	ValueId v = t >= 0 ? ir_add_const(c->g, in->name, t, k->data) : -1;
	if (v < 0 || !nm_put(&c->vals, in->name, v))
		return oom(c);
	return true;
}

static bool add_input(Ctx *c, const ImportOptions *o, const SrcInput *in, bool *used)
{
	if (in->dt == DT_UNDEF)
		return fail(c, "input '%s' has unsupported dtype (ONNX type %d)", in->name, in->elem);
	for (int i = 0; o && i < o->nconsts; i++)
		if (!strcmp(o->consts[i].name, in->name))
			return add_bound_input(c, in, &o->consts[i]);
	int64_t dims[IR_MAX_RANK];
	int rank = in->rank;
	const ShapeBinding *b = find_binding(o, in->name, used);
	if (b) {
		if (rank >= 0 && b->rank != rank)
			return fail(c, "--shape %s= gives rank %d, but the model declares rank %d", in->name, b->rank, rank);
		rank = b->rank;
		for (int i = 0; i < rank; i++) {
			if (b->dims[i] < 0)
				return fail(c, "--shape %s= has a negative dimension", in->name);
			if (in->rank >= 0 && in->dims[i] >= 0 && in->dims[i] != b->dims[i])
				return fail(c, "--shape %s= gives dimension %d as %lld, but the model fixes it to %lld",
					    in->name, i, (long long)b->dims[i], (long long)in->dims[i]);
			dims[i] = b->dims[i];
		}
	} else {
		if (rank < 0)
			return fail(c, "input '%s' has no shape; bind it with --shape %s=...", in->name, in->name);
		for (int i = 0; i < rank; i++) {
			dims[i] = in->dims[i];
			if (dims[i] >= 0)
				continue;
			const ShapeBinding *p = in->param[i] ? find_binding(o, in->param[i], used) : NULL;
			if (!p) {
				if (in->param[i])
					return fail(c, "input '%s' has symbolic dimension '%s'; bind it with --shape %s=... "
						    "(or --shape %s=VALUE)", in->name, in->param[i], in->name, in->param[i]);
				return fail(c, "input '%s' has unknown dimension %d; bind it with --shape %s=...",
					    in->name, i, in->name);
			}
			if (p->rank != 1 || p->dims[0] < 0)
				return fail(c, "--shape %s= must give one non-negative value for a symbolic dimension",
					    in->param[i]);
			dims[i] = p->dims[0];
		}
	}
	int64_t numel = ir_shape_numel(rank, dims);
	if (numel < 0 || numel > INT64_MAX / 16) {
		char buf[300];
		fmt_dims(buf, sizeof buf, rank, dims);
		return fail(c, "input '%s' shape %s is too large (element count overflows)", in->name, buf);
	}
	TypeId t = ir_type(c->g, in->dt, rank, dims, NULL);
	if (t < 0)
		return oom(c);
	ValueId v = ir_add_input(c->g, in->name, t);
	if (v < 0 || !nm_put(&c->vals, in->name, v))
		return oom(c);
	return true;
}

static bool add_const(Ctx *c, const SrcTensor *t)
{
	if (t->dt == DT_UNDEF)
		return true;  /* the reader already reported it */
	if (nm_has(&c->vals, t->name))
		return fail(c, "initializer '%s' is defined twice", t->name);
	int64_t numel = ir_shape_numel(t->rank, t->dims);
	if (numel < 0 || numel > INT64_MAX / 16)
		return fail(c, "initializer '%s' is too large (element count overflows)", t->name);
	TypeId ty = ir_type(c->g, t->dt, t->rank, t->dims, NULL);
	if (ty < 0)
		return oom(c);
	ValueId v = ir_add_const(c->g, t->name, ty, t->data);
	if (v < 0 || !nm_put(&c->vals, t->name, v))
		return oom(c);
	return true;
}

/* A node on a cycle, starting from a node that never became ready. */
static int on_cycle(Ctx *c, const int *indeg, int start)
{
	int cur = start;
	for (int step = 0; step < c->m->nodes.n; step++) {
		const SrcNode *n = &c->m->nodes.v[cur];
		int next = -1;
		for (int i = 0; i < n->nin && next < 0; i++) {
			int p = *n->in[i] ? nm_get(&c->producer, n->in[i], -1) : -1;
			if (p >= 0 && indeg[p] > 0)
				next = p;
		}
		if (next < 0)
			break;
		cur = next;
	}
	return cur;
}

/* Execution order of the source nodes: the file order when it is already
 * topological, else Kahn's algorithm.  Checks definitions and cycles. */
static int *order_nodes(Ctx *c)
{
	int nn = c->m->nodes.n;
	Arena *a = c->m->arena;
	int *order = ir_arena_alloc(a, ((size_t)nn + 1) * sizeof *order);
	if (!order)
		return oom(c), NULL;
	bool ok = true, sorted = true;
	for (int i = 0; i < nn; i++) {
		SrcNode *n = &c->m->nodes.v[i];
		c->sn = n;
		for (int j = 0; j < n->nout; j++) {
			const char *o = n->out[j];
			if (!*o)
				continue;
			if (nm_has(&c->vals, o) || nm_has(&c->producer, o)) {
				ok = fail(c, "value '%s' is defined more than once", o);
				continue;
			}
			if (!nm_put(&c->producer, o, i) || !nm_put(&c->names, o, 1))
				return oom(c), NULL;
		}
	}
	for (int i = 0; i < nn && ok; i++) {
		SrcNode *n = &c->m->nodes.v[i];
		c->sn = n;
		for (int j = 0; j < n->nin; j++) {
			const char *s = n->in[j];
			if (!*s || nm_has(&c->vals, s))
				continue;
			int p = nm_get(&c->producer, s, -1);
			if (p < 0)
				ok = fail(c, "input '%s' is not produced by any node, graph input or initializer", s);
			else if (p >= i)
				sorted = false;
		}
	}
	c->sn = NULL;
	if (!ok)
		return NULL;
	for (int i = 0; i < nn; i++)
		order[i] = i;
	if (sorted)
		return order;
	int *indeg = ir_arena_alloc(a, ((size_t)nn + 1) * sizeof *indeg);
	int *start = ir_arena_alloc(a, ((size_t)nn + 2) * sizeof *start);
	if (!indeg || !start)
		return oom(c), NULL;
	/* Edges producer -> consumer, one per operand occurrence. */
	int nedge = 0;
	for (int i = 0; i < nn; i++) {
		SrcNode *n = &c->m->nodes.v[i];
		for (int j = 0; j < n->nin; j++) {
			int p = *n->in[j] ? nm_get(&c->producer, n->in[j], -1) : -1;
			if (p >= 0) {
				indeg[i]++;
				start[p + 1]++;
				nedge++;
			}
		}
	}
	for (int i = 0; i < nn; i++)
		start[i + 1] += start[i];
	int *succ = ir_arena_alloc(a, ((size_t)nedge + 1) * sizeof *succ);
	int *fill = ir_arena_alloc(a, ((size_t)nn + 1) * sizeof *fill);
	if (!succ || !fill)
		return oom(c), NULL;
	for (int i = 0; i < nn; i++) {
		SrcNode *n = &c->m->nodes.v[i];
		for (int j = 0; j < n->nin; j++) {
			int p = *n->in[j] ? nm_get(&c->producer, n->in[j], -1) : -1;
			if (p >= 0)
				succ[start[p] + fill[p]++] = i;
		}
	}
	int head = 0, tail = 0;
	for (int i = 0; i < nn; i++)
		if (!indeg[i])
			order[tail++] = i;
	while (head < tail) {
		int p = order[head++];
		for (int e = start[p]; e < start[p + 1]; e++)
			if (--indeg[succ[e]] == 0)
				order[tail++] = succ[e];
	}
	if (tail < nn) {
		for (int i = 0; i < nn; i++)
			if (indeg[i] > 0) {
				c->sn = &c->m->nodes.v[on_cycle(c, indeg, i)];
				fail(c, "the graph has a cycle through this node");
				c->sn = NULL;
				return NULL;
			}
	}
	return order;
}

/* Build the graph.  Errors stop the import; in check_all mode the static
 * checks of every node run (and report) before anything is built. */
static Graph *import_graph(Ctx *c, const ImportOptions *o)
{
	SrcModel *m = c->m;
	bool check_all = o && o->check_all;
	int start_err = c->d->nerr;
#define STOP() (c->oom || (c->d->nerr > start_err && !check_all))
	if (m->opset < 0)
		return fail(c, "the model does not import the default ONNX opset"), NULL;
	if (m->opset < SRC_OPSET_MIN || m->opset > SRC_OPSET_MAX)
		return fail(c, "opset %d of the default domain is not supported (kiln supports %d to %d)", m->opset,
			    SRC_OPSET_MIN, SRC_OPSET_MAX), NULL;
	bool used_binding[IMPORT_MAX_SHAPES] = {0};
	for (int i = 0; i < m->consts.n; i++) {
		if (!nm_put(&c->names, m->consts.v[i].name, 1) || !nm_put(&c->consts, m->consts.v[i].name, 1))
			return oom(c), NULL;
		if (!add_const(c, &m->consts.v[i]) && STOP())
			return NULL;
	}
	for (int i = 0; i < m->inputs.n; i++) {
		const SrcInput *in = &m->inputs.v[i];
		if (nm_has(&c->consts, in->name))
			continue;  /* an initializer overrides the input: a constant */
		if (nm_has(&c->vals, in->name)) {
			fail(c, "graph input '%s' is listed twice", in->name);
			if (STOP())
				return NULL;
			continue;
		}
		if (!nm_put(&c->names, in->name, 1))
			return oom(c), NULL;
		if (!add_input(c, o, in, used_binding) && STOP())
			return NULL;
	}
	for (int i = 0; o && i < o->nconsts; i++) {
		bool found = false;
		for (int k = 0; k < m->inputs.n; k++)
			found |= !strcmp(m->inputs.v[k].name, o->consts[i].name);
		if (!found) {
			fail(c, "--const %s: the model has no graph input of that name", o->consts[i].name);
			if (STOP())
				return NULL;
		}
	}
	for (int i = 0; o && i < o->nshapes; i++)
		if (!used_binding[i]) {
			fail(c, "--shape %s: no graph input or symbolic dimension has that name", o->shapes[i].name);
			if (STOP())
				return NULL;
		}
	for (int i = 0; i < m->outputs.n; i++)
		if (!nm_put(&c->used, m->outputs.v[i], 1))
			return oom(c), NULL;
	for (int i = 0; i < m->nodes.n; i++) {
		SrcNode *n = &m->nodes.v[i];
		for (int j = 0; j < n->nin; j++)
			if (*n->in[j] && !nm_put(&c->used, n->in[j], 1))
				return oom(c), NULL;
		if (strcmp(n->op, "Constant") == 0 && n->nout > 0 && *n->out[0] && !nm_put(&c->consts, n->out[0], 1))
			return oom(c), NULL;
	}
	for (int i = 0; o && i < o->nconsts; i++)  /* inputs bound with --const are constants too */
		if (!nm_put(&c->consts, o->consts[i].name, 1))
			return oom(c), NULL;
	for (int i = 0; i < m->nodes.n; i++)
		if (!check_node(c, &m->nodes.v[i]) && STOP())
			return NULL;
	c->sn = NULL;
	if (c->d->nerr > 0)
		return NULL;  /* also errors the reader found (kiln check goes on to here) */
	int *order = order_nodes(c);
	if (!order)
		return NULL;
	ValueId in[64 + 1];
	for (int k = 0; k < m->nodes.n; k++) {
		const SrcNode *n = &m->nodes.v[order[k]];
		c->sn = n;
		bool known;
		int lo, hi;
		const OpSpec *s = find_spec(n->op, c->opset, &known, &lo, &hi);
		int nin = n->nin;
		while (nin > 0 && !*n->in[nin - 1])
			nin--;
		if (!s || nin > 64)
			die("node passed the static checks but has no spec");
		for (int i = 0; i < nin; i++)
			in[i] = *n->in[i] ? nm_get(&c->vals, n->in[i], -1) : -1;
		for (int i = 0; i < nin; i++)
			if (*n->in[i] && in[i] < 0)
				die("operand '%s' has no value after ordering", n->in[i]);
		c->src_op = ir_arena_strdup(c->g->arena, n->op);
		if (!c->src_op)
			return oom(c), NULL;
		if (!s->fn(c, in, nin))
			return NULL;
	}
	c->sn = NULL;
	for (int i = 0; i < m->outputs.n; i++) {
		const char *name = m->outputs.v[i];
		ValueId v = nm_get(&c->vals, name, -1);
		if (v < 0)
			return fail(c, "graph output '%s' is not produced by any node, input or initializer", name), NULL;
		if (!ir_mark_output(c->g, v))
			return oom(c), NULL;
	}
	if (m->outputs.n == 0)
		return fail(c, "the graph has no outputs"), NULL;
#undef STOP
	return c->g;
}

Graph *src_import(SrcModel *m, const ImportOptions *o, Diag *d)
{
	Ctx c = {.m = m, .d = d, .file = m->file, .opset = m->opset};
	c.g = ir_graph_new(m->name && *m->name ? m->name : "model");
	if (!c.g) {
		diag_error(d, m->file, NULL, NULL, "out of memory");
		return NULL;
	}
	c.g->file = ir_arena_strdup(c.g->arena, m->file);
	if (!c.g->file || !nm_init(&c.vals, m->arena) || !nm_init(&c.names, m->arena) ||
	    !nm_init(&c.consts, m->arena) || !nm_init(&c.used, m->arena) || !nm_init(&c.producer, m->arena)) {
		diag_error(d, m->file, NULL, NULL, "out of memory");
		ir_graph_free(c.g);
		return NULL;
	}
	Graph *g = import_graph(&c, o);
	if (g && !ir_verify(g, d))
		g = NULL;
	if (!g)
		ir_graph_free(c.g);
	return g;
}

void src_diag_merge(Diag *d, const Diag *tmp, bool all)
{
	for (int i = 0; i < tmp->nmsg && (all || i < 1); i++)
		diag_error(d, NULL, NULL, NULL, "%s", tmp->msgs[i]);
	if (all && tmp->nerr > tmp->nmsg)
		d->nerr += tmp->nerr - tmp->nmsg;
	if (tmp->nerr && !tmp->nmsg)
		diag_error(d, NULL, NULL, NULL, "out of memory");
}
