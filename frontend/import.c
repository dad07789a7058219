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
	case DT_U4: p[i] = (uint8_t)((uint8_t)v & 0x0f); break;
	case DT_I4: { int x = (int8_t)v & 0x0f; p[i] = (uint8_t)(int8_t)(x & 8 ? x - 16 : x); break; }
	case DT_BOOL: p[i] = v != 0; break;
	case DT_U16: { uint16_t x = (uint16_t)v; memcpy(p + 2 * i, &x, 2); break; }
	case DT_I16: { int16_t x = (int16_t)v; memcpy(p + 2 * i, &x, 2); break; }
	case DT_I32: { int32_t x = (int32_t)v; memcpy(p + 4 * i, &x, 4); break; }
	case DT_U32: { uint32_t x = (uint32_t)v; memcpy(p + 4 * i, &x, 4); break; }
	case DT_I64: { int64_t x = (int64_t)v; memcpy(p + 8 * i, &x, 8); break; }
	case DT_U64: { uint64_t x = (uint64_t)v; memcpy(p + 8 * i, &x, 8); break; }
	default:
		if (ir_dtype_is_f8(dt))
			p[i] = ir_f32_to_f8(dt, (float)v, true);
		break;
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
	case DT_U8: case DT_U4: case DT_BOOL: return p[i];
	case DT_I8: case DT_I4: return (int8_t)p[i];
	case DT_U16: { uint16_t x; memcpy(&x, p + 2 * i, 2); return x; }
	case DT_I16: { int16_t x; memcpy(&x, p + 2 * i, 2); return x; }
	case DT_I32: { int32_t x; memcpy(&x, p + 4 * i, 4); return x; }
	case DT_U32: { uint32_t x; memcpy(&x, p + 4 * i, 4); return x; }
	case DT_I64: { int64_t x; memcpy(&x, p + 8 * i, 8); return (double)x; }
	case DT_U64: { uint64_t x; memcpy(&x, p + 8 * i, 8); return (double)x; }
	default: return ir_dtype_is_f8(dt) ? ir_f8_to_f32(dt, p[i]) : 0;
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
	IrFoldFn fold;      /* evaluates constant expressions, or NULL */
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

#define fail_v(c, ...) (fail((c), __VA_ARGS__), -1)

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

/* The node's first named output: the base of its intermediate names. */
static const char *sn_base(const Ctx *c)
{
	for (int i = 0; i < c->sn->nout; i++)
		if (*c->sn->out[i])
			return c->sn->out[i];
	return c->sn->name;
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

static ValueId emit(Ctx *c, Op op, const ValueId *in, int nin, const Attr *a, int na, const char *out_name);
static ValueId cast_to(Ctx *c, ValueId x, DType to, const char *out_name);
static bool define_at(Ctx *c, int i, ValueId v);
static void *filled(Ctx *c, DType dt, int64_t numel, const void *one);

/* A cast node to dt: attributes "to" and, for float8, "saturate". */
static ValueId emit_cast(Ctx *c, ValueId x, DType to, bool saturate, const char *out_name)
{
	Attr a[2] = {ir_astr("to", ir_dtype_name(to)), ir_ai("saturate", saturate)};
	return emit(c, OP_CAST, &x, 1, a, ir_dtype_is_f8(to) ? 2 : 1, out_name);
}

/* Integers (and bool) that f32 holds exactly. */
static bool small_int(DType dt)
{
	return dt == DT_BOOL || dt == DT_U8 || dt == DT_I8 || dt == DT_U16 || dt == DT_I16;
}

/* Ops that only compare values: on small integers they give the same result
 * through f32 (a monotone, exact conversion). */
static bool order_only(Op op)
{
	return op == OP_MAXPOOL || op == OP_GLOBAL_MAXPOOL || op == OP_REDUCE_MAX || op == OP_REDUCE_MIN;
}

/* An OPF_F32 op on f64/f16/bf16 operands (or an order_only one on small
 * integers): computed in f32 between casts
 * (the backend's kernels for it are f32; 1e-7 relative is kept). */
static ValueId emit_widened(Ctx *c, Op op, const ValueId *in, int nin, const Attr *a, int na, const char *out_name,
			    DType dt)
{
	ValueId w[64];
	for (int i = 0; i < nin; i++) {
		w[i] = in[i];
		if (in[i] >= 0 && ir_value_type(c->g, in[i])->dt == dt) {
			w[i] = emit_cast(c, in[i], DT_F32, true, NULL);
			if (w[i] < 0)
				return -1;
		}
	}
	ValueId y = emit(c, op, w, nin, a, na, NULL);
	if (y < 0)
		return -1;
	return emit_cast(c, y, dt, true, out_name);
}

/* Append an IR node for the current source node; returns its result value
 * or -1 with a diagnostic.  out_name NULL: a fresh intermediate name. */
static ValueId emit(Ctx *c, Op op, const ValueId *in, int nin, const Attr *a, int na, const char *out_name)
{
	if (ir_ops[op].flags & OPF_F32)
		for (int i = 0; i < nin; i++) {
			DType dt = in[i] >= 0 ? ir_value_type(c->g, in[i])->dt : DT_F32;
			if ((ir_dtype_is_float(dt) && dt != DT_F32) || (order_only(op) && small_int(dt)))
				return emit_widened(c, op, in, nin, a, na, out_name, dt);
		}
	if (!out_name) {
		out_name = fresh_name(c, sn_base(c), ir_ops[op].name);
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
				      "a string", "a tensor", "a list of strings", "a graph", "something else"};
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

/* A constant operand; values computed from constants (shape programs)
 * are evaluated now, through the fold hook.  NULL with an error if v
 * depends on a graph input. */
static const Value *const_val(Ctx *c, ValueId v, const char *what)
{
	if (ir_value(c->g, v)->kind != VAL_CONST && c->fold && ir_is_const_expr(c->g, v)) {
		Diag tmp;
		diag_init(&tmp);
		bool ok = c->fold(c->g, &v, 1, &tmp);
		if (!ok)
			forward_diag(c, &tmp);
		diag_free(&tmp);
		if (!ok)
			return NULL;
	}
	const Value *val = ir_value(c->g, v);
	if (val->kind != VAL_CONST)
		return fail(c, "%s must be a constant (it depends on a graph input)", what), NULL;
	return val;
}

/* The integers of a constant operand (rank 0 or 1, i32 or i64). */
static bool const_ints(Ctx *c, ValueId v, const char *what, int64_t *out, int max, int *n)
{
	const Value *val = const_val(c, v, what);
	const Type *t = vtype(c, v);
	if (!val)
		return false;
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
	const Value *val = const_val(c, v, what);
	const Type *t = vtype(c, v);
	if (!val)
		return false;
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

static ValueId cast_to(Ctx *c, ValueId x, DType to, const char *out_name);
static bool define_at(Ctx *c, int i, ValueId v);
static ValueId bin(Ctx *c, Op op, ValueId a, ValueId b, const char *out_name);

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

/* A Conv of in[0..nin) named out_name (NULL: fresh) with the source node's
 * attributes; the result value or -1. */
static ValueId conv_of(Ctx *c, const ValueId *in, int nin, const char *out_name);

static bool imp_conv(Ctx *c, const ValueId *in, int nin)
{
	return define(c, conv_of(c, in, nin, c->sn->out[0]));
}

static ValueId conv_of(Ctx *c, const ValueId *in, int nin, const char *out_name)
{
	const Type *tx = vtype(c, in[0]), *tw = vtype(c, in[1]);
	if (!need_float(c, in[0], "the input") || !same_dtype(c, in[0], in[1]))
		return -1;
	if (tx->rank < 3)
		return fail_v(c, "input must have rank >= 3 ([N,C,spatial...]), got rank %d", tx->rank);
	int nsp = tx->rank - 2;
	if (tw->rank != tx->rank)
		return fail_v(c, "weight rank %d does not match input rank %d", tw->rank, tx->rank);
	int64_t k[IR_MAX_RANK], s[IR_MAX_RANK], dil[IR_MAX_RANK], pads[2 * IR_MAX_RANK];
	for (int i = 0; i < nsp; i++)
		k[i] = tw->dims[2 + i];
	int nk;
	const int64_t *ks = sa_ints(c->sn, "kernel_shape", &nk);
	if (ks) {
		if (nk != nsp)
			return fail_v(c, "attribute 'kernel_shape' has %d values, expected %d", nk, nsp);
		for (int i = 0; i < nsp; i++)
			if (ks[i] != k[i])
				return fail_v(c, "kernel_shape[%d] = %lld does not match the weight's %lld", i,
					    (long long)ks[i], (long long)k[i]);
	}
	if (!spatial_ints(c, "strides", nsp, s) || !spatial_ints(c, "dilations", nsp, dil) ||
	    !resolve_pads(c, nsp, tx->dims + 2, k, s, dil, pads))
		return -1;
	int64_t group = sa_int(c->sn, "group", 1);
	if (group < 1)
		return fail_v(c, "attribute 'group' must be positive, got %lld", (long long)group);
	Attr a[4] = {ir_aints("strides", s, nsp), ir_aints("pads", pads, 2 * nsp),
		     ir_aints("dilations", dil, nsp), ir_ai("group", group)};
	int n = nin > 2 && in[2] >= 0 ? 3 : 2;
	if (n == 3 && !same_dtype(c, in[0], in[2]))
		return -1;
	return emit(c, OP_CONV, in, n, a, 4, out_name);
}

static bool imp_pool(Ctx *c, const ValueId *in, bool avg)
{
	const Type *tx = vtype(c, in[0]);
	if (!(!avg && small_int(tx->dt)) && !need_float(c, in[0], "the input"))
		return false;  /* max pooling of small integers goes through f32 (emit) */
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
	bool lp = strcmp(c->sn->op, "LpPool") == 0;
	Attr a[6] = {ir_aints("kernel", k, nsp), ir_aints("strides", s, nsp), ir_aints("pads", pads, 2 * nsp),
		     ir_aints("dilations", dil, nsp), ir_ai("ceil_mode", ceil_mode != 0),
		     ir_ai("count_include_pad", sa_int(c->sn, "count_include_pad", 0) != 0)};
	if (lp) {
		a[5] = ir_ai("p", sa_int(c->sn, "p", 2));
		if (a[5].i < 1 || a[5].i > 64)
			return fail(c, "p must be 1 to 64, got %lld", (long long)a[5].i);
		return emit_out(c, OP_LPPOOL, in, 1, a, 6);
	}
	if (avg)
		return emit_out(c, OP_AVGPOOL, in, 1, a, 6);
	/* MaxPool's indices: their own op over the same windows, on f32 for halves. */
	if (c->sn->nout > 1 && *c->sn->out[1]) {
		ValueId x = tx->dt == DT_F16 || tx->dt == DT_BF16 ? cast_to(c, in[0], DT_F32, NULL) : in[0];
		a[5] = ir_ai("storage_order", sa_int(c->sn, "storage_order", 0) != 0);
		if (x < 0 || !define_at(c, 1, emit(c, OP_MAXPOOL_INDEX, &x, 1, a, 6, c->sn->out[1])))
			return false;
	}
	return !*c->sn->out[0] || emit_out(c, OP_MAXPOOL, in, 1, a, 5);
}

static bool imp_lppool(Ctx *c, const ValueId *in, int nin) { return imp_pool(c, in, false); }

static bool imp_conv_transpose(Ctx *c, const ValueId *in, int nin)
{
	const Type *tx = vtype(c, in[0]), *tw = vtype(c, in[1]);
	if (!need_float(c, in[0], "the input") || !same_dtype(c, in[0], in[1]))
		return false;
	int nsp = tx->rank - 2;
	if (nsp < 1 || tw->rank != tx->rank)
		return fail(c, "input and weights must have the same rank, at least 3");
	int64_t k[IR_MAX_RANK], s[IR_MAX_RANK], dil[IR_MAX_RANK], op[IR_MAX_RANK], pads[2 * IR_MAX_RANK] = {0};
	for (int i = 0; i < nsp; i++)
		k[i] = tw->dims[2 + i];
	int n;
	const int64_t *ks = sa_ints(c->sn, "kernel_shape", &n);
	if (ks && (n != nsp || memcmp(ks, k, (size_t)nsp * sizeof *k)))
		return fail(c, "kernel_shape does not match the weights");
	if (!spatial_ints(c, "strides", nsp, s) || !spatial_ints(c, "dilations", nsp, dil))
		return false;
	const int64_t *o = sa_ints(c->sn, "output_padding", &n);
	for (int i = 0; i < nsp; i++)
		op[i] = o && n == nsp ? o[i] : 0;
	if (o && n != nsp)
		return fail(c, "output_padding has %d values, expected %d", n, nsp);
	const int64_t *osh = sa_ints(c->sn, "output_shape", &n);
	const char *ap = sa_str(c->sn, "auto_pad", "NOTSET");
	bool same = !strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER");
	if (osh || same) {
		/* The output size is given (or is input * stride): pad to it. */
		if (osh && n != nsp && n != nsp + 2)
			return fail(c, "output_shape has %d values", n);
		for (int i = 0; i < nsp; i++) {
			int64_t want = osh ? osh[n == nsp ? i : i + 2] : tx->dims[2 + i] * s[i];
			int64_t total = s[i] * (tx->dims[2 + i] - 1) + op[i] + (k[i] - 1) * dil[i] + 1 - want;
			if (total < 0) {  /* the output is larger: the extra goes to output_padding */
				op[i] -= total;
				total = 0;
			}
			bool upper = strcmp(ap, "SAME_LOWER") != 0;
			pads[i] = upper ? total / 2 : total - total / 2;
			pads[nsp + i] = total - pads[i];
		}
	} else if (strcmp(ap, "VALID") != 0) {
		const int64_t *p = sa_ints(c->sn, "pads", &n);
		if (p && n != 2 * nsp)
			return fail(c, "attribute 'pads' has %d values, expected %d", n, 2 * nsp);
		for (int i = 0; p && i < n; i++)
			pads[i] = p[i];
	}
	Attr a[5] = {ir_aints("strides", s, nsp), ir_aints("pads", pads, 2 * nsp), ir_aints("dilations", dil, nsp),
		     ir_ai("group", sa_int(c->sn, "group", 1)), ir_aints("output_padding", op, nsp)};
	return emit_out(c, OP_CONV_TRANSPOSE, in, nin, a, 5);
}

static bool imp_global_maxpool(Ctx *c, const ValueId *in, int nin)
{
	return need_float(c, in[0], "the input") && emit_out(c, OP_GLOBAL_MAXPOOL, in, 1, NULL, 0);
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
	if (!(order_only(op) && small_int(t->dt)) && !need_float(c, in[0], "the input"))
		return false;  /* max/min of small integers go through f32 (emit) */
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
static bool imp_reduce_prod(Ctx *c, const ValueId *in, int nin) { return imp_reduce(c, OP_REDUCE_PROD, in, nin); }

static bool imp_batchnorm_training(Ctx *c, const ValueId *in);

static bool imp_batchnorm(Ctx *c, const ValueId *in, int nin)
{
	if (!need_float(c, in[0], "the input"))
		return false;
	if (sa_int(c->sn, "training_mode", 0))
		return imp_batchnorm_training(c, in);
	Attr a = ir_af("epsilon", sa_float(c->sn, "epsilon", (double)1e-5f));
	return emit_out(c, OP_BATCHNORM, in, 5, &a, 1);
}

static bool clip_int(Ctx *c, ValueId x, double lo, double hi);

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
	if (!ir_dtype_is_float(vtype(c, in[0])->dt))
		return clip_int(c, in[0], lo, hi);
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
	Op op = !strcmp(c->sn->op, "LogSoftmax") ? OP_LOG_SOFTMAX : !strcmp(c->sn->op, "Hardmax") ? OP_HARDMAX : OP_SOFTMAX;
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
		ValueId s = emit(c, op, &x2, 1, &a, 1, NULL);
		if (s < 0)
			return false;
		return define(c, reshape_to(c, s, rank, orig, c->sn->out[0]));
	}
	Attr a = ir_ai("axis", axis);
	return emit_out(c, op, in, 1, &a, 1);
}

static bool imp_dropout(Ctx *c, const ValueId *in, int nin)
{
	if (nin > 2 && in[2] >= 0) {
		double v;
		if (!const_scalar(c, in[2], "the 'training_mode' input", &v))
			return false;
		double ratio = 0.5;
		if (v != 0 && (nin < 2 || in[1] < 0 || !const_scalar(c, in[1], "ratio", &ratio) || ratio != 0))
			return fail(c, "training_mode is true with a non-zero ratio (random dropout); only inference is supported");
	}
	if (!imp_unary(c, OP_IDENTITY, in))
		return false;
	if (c->sn->nout > 1 && *c->sn->out[1]) {  /* the mask: all kept */
		const Type *t = vtype(c, in[0]);
		unsigned char one = 1;
		void *p = filled(c, DT_BOOL, ir_type_numel(t), &one);
		TypeId ty = ir_type(c->g, DT_BOOL, t->rank, t->dims, NULL);
		ValueId m = !p || ty < 0 ? -1 : ir_add_const(c->g, c->sn->out[1], ty, p);
		return m >= 0 ? define_at(c, 1, m) : oom(c);
	}
	return true;
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
	const char *mode = sa_str(c->sn, "mode", "constant");
	Attr a[3] = {ir_aints("pads", pads, 2 * t->rank), ir_af("value", (double)(float)value), ir_astr("mode", mode)};
	return emit_out(c, OP_PAD, in, 1, a, strcmp(mode, "constant") ? 3 : 2);
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

/* ---- the elementwise family ---------------------------------------------------------------- */

/* The IR op an ONNX op maps to one-to-one (ops.def's onnx column). */
static Op op_for_onnx(const char *name)
{
	for (int i = 0; i < OP_COUNT; i++)
		if (strcmp(ir_ops[i].onnx, name) == 0)
			return (Op)i;
	return OP_COUNT;
}

/* Ops whose operands share a dtype and whose only attributes are canonical
 * already: emitted as is. */
static bool imp_ew(Ctx *c, const ValueId *in, int nin)
{
	Op op = op_for_onnx(c->sn->op);
	if (op == OP_COUNT)
		die("no IR op for %s", c->sn->op);
	for (int i = op == OP_WHERE ? 2 : 1; i < nin; i++)
		if (!same_dtype(c, in[op == OP_WHERE ? 1 : 0], in[i]))
			return false;
	return emit_out(c, op, in, nin, NULL, 0);
}

/* Float attributes with their ONNX defaults, copied to the IR node. */
static bool imp_ew_attrs(Ctx *c, const ValueId *in, const char *a1, double d1, const char *a2, double d2)
{
	Attr a[2];
	int na = 0;
	if (a1)
		a[na++] = ir_af(a1, (double)(float)sa_float(c->sn, a1, d1));
	if (a2)
		a[na++] = ir_af(a2, (double)(float)sa_float(c->sn, a2, d2));
	return emit_out(c, op_for_onnx(c->sn->op), in, 1, a, na);
}

static bool imp_hard_sigmoid(Ctx *c, const ValueId *in, int nin) { return imp_ew_attrs(c, in, "alpha", 0.2, "beta", 0.5); }
static bool imp_elu(Ctx *c, const ValueId *in, int nin) { return imp_ew_attrs(c, in, "alpha", 1.0, NULL, 0); }
static bool imp_celu(Ctx *c, const ValueId *in, int nin) { return imp_ew_attrs(c, in, "alpha", 1.0, NULL, 0); }
static bool imp_thresholded_relu(Ctx *c, const ValueId *in, int nin) { return imp_ew_attrs(c, in, "alpha", 1.0, NULL, 0); }
static bool imp_shrink(Ctx *c, const ValueId *in, int nin) { return imp_ew_attrs(c, in, "bias", 0.0, "lambd", 0.5); }
static bool imp_selu(Ctx *c, const ValueId *in, int nin)
{
	return imp_ew_attrs(c, in, "alpha", 1.67326319217681884765625, "gamma", 1.05070102214813232421875);
}

static bool imp_gelu(Ctx *c, const ValueId *in, int nin)
{
	const char *ap = sa_str(c->sn, "approximate", "none");
	if (strcmp(ap, "none") && strcmp(ap, "tanh"))
		return fail(c, "unsupported approximate '%s' (none or tanh)", ap);
	Attr a = ir_ai("tanh", strcmp(ap, "tanh") == 0);
	return emit_out(c, OP_GELU, in, 1, &a, 1);
}

static bool imp_isinf(Ctx *c, const ValueId *in, int nin)
{
	Attr a[2] = {ir_ai("pos", sa_int(c->sn, "detect_positive", 1) != 0),
		     ir_ai("neg", sa_int(c->sn, "detect_negative", 1) != 0)};
	return emit_out(c, OP_ISINF, in, 1, a, 2);
}

static bool imp_bitshift(Ctx *c, const ValueId *in, int nin)
{
	const char *dir = sa_str(c->sn, "direction", "");
	if (strcmp(dir, "LEFT") && strcmp(dir, "RIGHT"))
		return fail(c, "attribute 'direction' must be LEFT or RIGHT, got '%s'", dir);
	Attr a = ir_ai("left", strcmp(dir, "LEFT") == 0);
	return same_dtype(c, in[0], in[1]) && emit_out(c, OP_BIT_SHIFT, in, 2, &a, 1);
}

static bool imp_mod(Ctx *c, const ValueId *in, int nin)
{
	int64_t fm = sa_int(c->sn, "fmod", 0);
	if (fm == 0 && ir_dtype_is_float(vtype(c, in[0])->dt))
		return fail(c, "fmod=0 is not defined for floating-point inputs");
	Attr a = ir_ai("fmod", fm != 0);
	return same_dtype(c, in[0], in[1]) && emit_out(c, OP_MOD, in, 2, &a, 1);
}

static ValueId cast_to(Ctx *c, ValueId x, DType to, const char *out_name)
{
	if (vtype(c, x)->dt == to && out_name == NULL)
		return x;
	return emit_cast(c, x, to, true, out_name);
}

static bool imp_pow(Ctx *c, const ValueId *in, int nin)
{
	DType dt = vtype(c, in[0])->dt;
	if (!ir_dtype_is_float(dt) && dt != DT_I32 && dt != DT_I64)
		return fail(c, "base dtype %s is not supported", ir_dtype_name(dt));
	ValueId v[2] = {in[0], cast_to(c, in[1], dt, NULL)};
	return v[1] >= 0 && emit_out(c, OP_POW, v, 2, NULL, 0);
}

static bool imp_cast(Ctx *c, const ValueId *in, int nin)
{
	int64_t code = sa_int(c->sn, "to", 0);
	DType to = ir_dtype_from_onnx((int)code);
	if (to == DT_UNDEF)
		return fail(c, "cast to ONNX dtype %lld is not supported", (long long)code);
	return define(c, emit_cast(c, in[0], to, sa_int(c->sn, "saturate", 1) != 0, c->sn->out[0]));
}

static bool imp_castlike(Ctx *c, const ValueId *in, int nin)
{
	return define(c, emit_cast(c, in[0], vtype(c, in[1])->dt, sa_int(c->sn, "saturate", 1) != 0, c->sn->out[0]));
}

/* Sum, Mean, Min, Max: a left fold of the binary op over the operands. */
static bool imp_variadic(Ctx *c, Op op, const ValueId *in, int nin)
{
	for (int i = 1; i < nin; i++)
		if (!same_dtype(c, in[0], in[i]))
			return false;
	bool mean = op == OP_DIV;
	Op step = mean ? OP_ADD : op;
	ValueId acc = in[0];
	if (nin == 1 || (mean && nin == 1))
		return emit_out(c, OP_IDENTITY, in, 1, NULL, 0);
	for (int i = 1; i < nin; i++) {
		ValueId v[2] = {acc, in[i]};
		acc = emit(c, step, v, 2, NULL, 0, i == nin - 1 && !mean ? c->sn->out[0] : NULL);
		if (acc < 0)
			return false;
	}
	if (mean) {
		DType dt = vtype(c, in[0])->dt;
		TypeId ty = ir_type(c->g, dt, 0, NULL, NULL);
		unsigned char buf[8];
		src_store(buf, dt, 0, (double)nin);
		ValueId k = ty < 0 ? -1 : ir_add_const(c->g, fresh_name(c, sn_base(c), "count"), ty, buf);
		if (k < 0)
			return oom(c);
		ValueId v[2] = {acc, k};
		acc = emit(c, OP_DIV, v, 2, NULL, 0, c->sn->out[0]);
	}
	return define(c, acc);
}

static bool imp_sum(Ctx *c, const ValueId *in, int nin) { return imp_variadic(c, OP_ADD, in, nin); }
static bool imp_mean(Ctx *c, const ValueId *in, int nin) { return imp_variadic(c, OP_DIV, in, nin); }
static bool imp_min(Ctx *c, const ValueId *in, int nin) { return imp_variadic(c, OP_MIN, in, nin); }
static bool imp_max(Ctx *c, const ValueId *in, int nin) { return imp_variadic(c, OP_MAX, in, nin); }

/* ---- shapes as constants ------------------------------------------------------------------------ */

/* A new constant named like the source node's output i. */
static bool define_const(Ctx *c, DType dt, int rank, const int64_t *dims, const void *data)
{
	TypeId ty = ir_type(c->g, dt, rank, dims, NULL);
	if (ty < 0)
		return oom(c);
	ValueId v = ir_add_const(c->g, c->sn->out[0], ty, data);
	if (v < 0)
		return oom(c);
	return define(c, v);
}

static bool imp_shape(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t r = t->rank, lo = sa_int(c->sn, "start", 0), hi = sa_int(c->sn, "end", r);
	lo = lo < 0 ? lo + r : lo;
	hi = hi < 0 ? hi + r : hi;
	lo = lo < 0 ? 0 : lo > r ? r : lo;
	hi = hi < 0 ? 0 : hi > r ? r : hi;
	int64_t n = hi > lo ? hi - lo : 0;
	return define_const(c, DT_I64, 1, &n, t->dims + lo);
}

static bool imp_size(Ctx *c, const ValueId *in, int nin)
{
	int64_t n = ir_type_numel(vtype(c, in[0]));
	return define_const(c, DT_I64, 0, NULL, &n);
}

/* Fill a fresh buffer of numel elements of dt with value v. */
static void *filled(Ctx *c, DType dt, int64_t numel, const void *one)
{
	int esz = ir_dtype_size(dt);
	char *p = ir_arena_alloc(c->g->arena, (size_t)(numel * esz) + 1);
	for (int64_t i = 0; p && i < numel; i++)
		memcpy(p + i * esz, one, (size_t)esz);
	return p;
}

/* A constant shape operand (ConstantOfShape, Expand): no negative dims. */
static bool shape_operand(Ctx *c, ValueId v, int64_t *dims, int *n)
{
	if (!const_ints(c, v, "the shape input", dims, IR_MAX_RANK, n))
		return false;
	for (int i = 0; i < *n; i++)
		if (dims[i] < 0)
			return fail(c, "shape dimension %lld is negative", (long long)dims[i]);
	return true;
}

static bool imp_constant_of_shape(Ctx *c, const ValueId *in, int nin)
{
	int64_t dims[IR_MAX_RANK + 1];
	int n;
	if (!shape_operand(c, in[0], dims, &n))
		return false;
	int64_t numel = ir_shape_numel(n, dims);
	if (numel < 0 || numel > ((int64_t)1 << 28))
		return fail(c, "the shape has %lld elements; constants are limited to 2^28", (long long)numel);
	DType dt = DT_F32;
	unsigned char zero[8] = {0};
	const void *one = zero;
	const SrcAttr *a = sa_get(c->sn, "value");
	if (a) {
		if (a->kind != SA_TENSOR || !a->t || a->t->rank > 1 || ir_shape_numel(a->t->rank, a->t->dims) != 1)
			return fail(c, "attribute 'value' must be a one-element tensor");
		dt = a->t->dt;
		one = a->t->data;
	}
	void *p = filled(c, dt, numel, one);
	return p ? define_const(c, dt, n, dims, p) : oom(c);
}

static bool imp_range(Ctx *c, const ValueId *in, int nin)
{
	DType dt = vtype(c, in[0])->dt;
	for (int i = 1; i < 3; i++)
		if (!same_dtype(c, in[0], in[i]))
			return false;
	double v[3];
	const char *what[3] = {"start", "limit", "delta"};
	for (int i = 0; i < 3; i++)
		if (!const_scalar(c, in[i], what[i], &v[i]))
			return false;
	if (v[2] == 0)
		return fail(c, "delta is zero");
	double cnt = ceil((v[1] - v[0]) / v[2]);
	int64_t n = cnt > 0 ? (int64_t)cnt : 0;
	if (n > ((int64_t)1 << 28))
		return fail(c, "the range has %lld elements", (long long)n);
	int esz = ir_dtype_size(dt);
	char *p = ir_arena_alloc(c->g->arena, (size_t)(n * esz) + 1);
	if (!p)
		return oom(c);
	/* start + i*delta, in the dtype's own arithmetic for floats (ONNX's
	 * reference accumulates in that type). */
	for (int64_t i = 0; i < n; i++) {
		if (dt == DT_F32)
			src_store(p, dt, i, (float)v[0] + (float)i * (float)v[2]);
		else
			src_store(p, dt, i, v[0] + (double)i * v[2]);
	}
	return define_const(c, dt, 1, &n, p);
}

static bool imp_eyelike(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	if (t->rank != 2)
		return fail(c, "input must be 2-D, got rank %d", t->rank);
	DType dt = t->dt;
	if (sa_get(c->sn, "dtype")) {
		dt = ir_dtype_from_onnx((int)sa_int(c->sn, "dtype", 1));
		if (dt == DT_UNDEF)
			return fail(c, "unsupported dtype %lld", (long long)sa_int(c->sn, "dtype", 1));
	}
	int64_t k = sa_int(c->sn, "k", 0), r = t->dims[0], cl = t->dims[1];
	if (ir_type_numel(t) > ((int64_t)1 << 28))
		return fail(c, "the matrix has %lld elements; constants are limited to 2^28", (long long)ir_type_numel(t));
	char *p = ir_arena_alloc(c->g->arena, (size_t)(r * cl * ir_dtype_size(dt)) + 1);
	if (!p)
		return oom(c);
	for (int64_t i = 0; i < r; i++)
		if (i + k >= 0 && i + k < cl)
			src_store(p, dt, i * cl + i + k, 1.0);
	return define_const(c, dt, 2, t->dims, p);
}

static bool imp_expand(Ctx *c, const ValueId *in, int nin)
{
	int64_t sh[IR_MAX_RANK + 1];
	int n;
	if (!shape_operand(c, in[1], sh, &n))
		return false;
	Attr a = ir_aints("shape", sh, n);
	return emit_out(c, OP_EXPAND, in, 1, &a, 1);
}

/* ---- indexing and data movement ------------------------------------------------------------- */

/* Bind the source node's output i (multi-output ops). */
static bool define_at(Ctx *c, int i, ValueId v)
{
	if (v < 0)
		return false;
	if (i >= c->sn->nout || !*c->sn->out[i])
		return true;
	if (!nm_put(&c->vals, c->sn->out[i], v))
		return oom(c);
	return true;
}

/* A slice of x: per-axis start, step and count (full rank). */
static ValueId slice_of(Ctx *c, ValueId x, const int64_t *start, const int64_t *step, const int64_t *count,
			const char *out_name)
{
	int r = vtype(c, x)->rank;
	int64_t a[IR_MAX_RANK], b[IR_MAX_RANK], d[IR_MAX_RANK];
	memcpy(a, start, (size_t)r * sizeof *a);
	memcpy(b, step, (size_t)r * sizeof *b);
	memcpy(d, count, (size_t)r * sizeof *d);
	/* An empty axis: any in-range start will do. */
	for (int i = 0; i < r; i++)
		if (d[i] == 0)
			a[i] = 0, b[i] = 1;
	Attr at[3] = {ir_aints("starts", a, r), ir_aints("steps", b, r), ir_aints("dims", d, r)};
	return emit(c, OP_SLICE, &x, 1, at, 3, out_name);
}

/* Python slicing of one axis of length dim: clamp start/end as ONNX says. */
static void clamp_slice(int64_t dim, int64_t s, int64_t e, int64_t step, int64_t *start, int64_t *count)
{
	if (s < 0)
		s += dim;
	if (e < 0)
		e += dim;
	if (step > 0) {
		s = s < 0 ? 0 : s > dim ? dim : s;
		e = e < 0 ? 0 : e > dim ? dim : e;
		*count = e > s ? (e - s + step - 1) / step : 0;
	} else {
		s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
		e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
		*count = s > e ? (s - e + (-step) - 1) / (-step) : 0;
	}
	*start = s;
}

static bool imp_slice(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int r = t->rank;
	int64_t st[IR_MAX_RANK + 1], en[IR_MAX_RANK + 1], ax[IR_MAX_RANK + 1], sp[IR_MAX_RANK + 1];
	int ns, ne, na = 0, nsp = 0;
	bool have;
	if (!ints_from(c, in, nin, 1, "starts", st, IR_MAX_RANK, &ns, &have) ||
	    !ints_from(c, in, nin, 2, "ends", en, IR_MAX_RANK, &ne, &have) ||
	    !ints_from(c, in, nin, 3, "axes", ax, IR_MAX_RANK, &na, &have) ||
	    !ints_from(c, in, nin, 4, "steps", sp, IR_MAX_RANK, &nsp, &have))
		return false;
	if (ns != ne || (na && na != ns) || (nsp && nsp != ns))
		return fail(c, "starts, ends, axes and steps must have the same length");
	int64_t start[IR_MAX_RANK], step[IR_MAX_RANK], count[IR_MAX_RANK];
	bool seen[IR_MAX_RANK] = {0};
	for (int i = 0; i < r; i++)
		start[i] = 0, step[i] = 1, count[i] = t->dims[i];
	for (int i = 0; i < ns; i++) {
		int64_t a = na ? ax[i] : i;
		if (!norm_axis(c, &a, r, "axis"))
			return false;
		if (seen[a])
			return fail(c, "axis %lld is sliced twice", (long long)a);
		seen[a] = true;
		step[a] = nsp ? sp[i] : 1;
		if (step[a] == 0)
			return fail(c, "step is zero");
		clamp_slice(t->dims[a], st[i], en[i], step[a], &start[a], &count[a]);
	}
	return define(c, slice_of(c, in[0], start, step, count, c->sn->out[0]));
}

static bool imp_split(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t axis = sa_int(c->sn, "axis", 0);
	if (!norm_axis(c, &axis, t->rank, "axis"))
		return false;
	int64_t parts[65];
	int np;
	bool have;
	if (!ints_from(c, in, nin, 1, "split", parts, 64, &np, &have))
		return false;
	int64_t dim = t->dims[axis];
	if (!have) {
		int64_t k = sa_get(c->sn, "num_outputs") ? sa_int(c->sn, "num_outputs", 1) : c->sn->nout;
		if (k < 1 || k > 64)
			return fail(c, "cannot split into %lld parts", (long long)k);
		/* ceil-sized chunks, the last one smaller (opset 18 rule) */
		int64_t each = (dim + k - 1) / k;
		np = (int)k;
		for (int i = 0; i < np; i++) {
			int64_t left = dim - each * i;
			parts[i] = left < 0 ? 0 : left < each ? left : each;
		}
	}
	int64_t sum = 0;
	for (int i = 0; i < np; i++) {
		if (parts[i] < 0)
			return fail(c, "split size %lld is negative", (long long)parts[i]);
		sum += parts[i];
	}
	if (sum != dim)
		return fail(c, "split sizes add up to %lld, the axis has %lld", (long long)sum, (long long)dim);
	if (np != c->sn->nout)
		return fail(c, "%d split sizes for %d outputs", np, c->sn->nout);
	int64_t start[IR_MAX_RANK] = {0}, step[IR_MAX_RANK], count[IR_MAX_RANK];
	for (int i = 0; i < t->rank; i++)
		step[i] = 1, count[i] = t->dims[i];
	for (int i = 0; i < np; i++) {
		count[axis] = parts[i];
		if (*c->sn->out[i] && !define_at(c, i, slice_of(c, in[0], start, step, count, c->sn->out[i])))
			return false;
		start[axis] += parts[i];
	}
	return true;
}

static bool imp_gather(Ctx *c, const ValueId *in, int nin)
{
	int64_t axis = sa_int(c->sn, "axis", 0);
	if (!norm_axis(c, &axis, vtype(c, in[0])->rank, "axis"))
		return false;
	Attr a = ir_ai("axis", axis);
	return emit_out(c, strcmp(c->sn->op, "Gather") ? OP_GATHER_ELEMENTS : OP_GATHER, in, 2, &a, 1);
}

static bool imp_tile(Ctx *c, const ValueId *in, int nin)
{
	int64_t rep[IR_MAX_RANK + 1];
	int n;
	if (!const_ints(c, in[1], "the repeats input", rep, IR_MAX_RANK, &n))
		return false;
	if (n != vtype(c, in[0])->rank)
		return fail(c, "%d repeats for a rank-%d input", n, vtype(c, in[0])->rank);
	Attr a = ir_aints("repeats", rep, n);
	return emit_out(c, OP_TILE, in, 1, &a, 1);
}

static bool imp_trilu(Ctx *c, const ValueId *in, int nin)
{
	double k = 0;
	if (nin > 1 && in[1] >= 0 && !const_scalar(c, in[1], "k", &k))
		return false;
	Attr a[2] = {ir_ai("upper", sa_int(c->sn, "upper", 1) != 0), ir_ai("k", (int64_t)k)};
	return emit_out(c, OP_TRILU, in, 1, a, 2);
}

static bool imp_arg(Ctx *c, const ValueId *in, int nin)
{
	int64_t axis = sa_int(c->sn, "axis", 0);
	if (!norm_axis(c, &axis, vtype(c, in[0])->rank, "axis"))
		return false;
	Attr a[3] = {ir_ai("axis", axis), ir_ai("keepdims", sa_int(c->sn, "keepdims", 1) != 0),
		     ir_ai("last", sa_int(c->sn, "select_last_index", 0) != 0)};
	return emit_out(c, strcmp(c->sn->op, "ArgMax") ? OP_ARGMIN : OP_ARGMAX, in, 1, a, 3);
}

static bool imp_cumsum(Ctx *c, const ValueId *in, int nin)
{
	double ax;
	if (!const_scalar(c, in[1], "axis", &ax))
		return false;
	int64_t axis = (int64_t)ax;
	if (!norm_axis(c, &axis, vtype(c, in[0])->rank, "axis"))
		return false;
	Attr a[3] = {ir_ai("axis", axis), ir_ai("exclusive", sa_int(c->sn, "exclusive", 0) != 0),
		     ir_ai("reverse", sa_int(c->sn, "reverse", 0) != 0)};
	return emit_out(c, OP_CUMSUM, in, 1, a, 3);
}

/* Scatter (opsets 9-10), ScatterElements, ScatterND.  Reductions on
 * halves run in f32 between casts. */
static bool imp_scatter(Ctx *c, const ValueId *in, int nin)
{
	static const char *const reds[] = {"none", "add", "mul", "max", "min"};
	const char *red = sa_str(c->sn, "reduction", "none");
	bool known = false;
	for (int i = 0; i < 5; i++)
		known |= !strcmp(red, reds[i]);
	if (!known)
		return fail(c, "unsupported reduction '%s'", red);
	bool nd = !strcmp(c->sn->op, "ScatterND");
	int64_t axis = sa_int(c->sn, "axis", 0);
	if (!nd && !norm_axis(c, &axis, vtype(c, in[0])->rank, "axis"))
		return false;
	Attr a[2] = {ir_astr("reduction", red), ir_ai("axis", axis)};
	Op op = nd ? OP_SCATTER_ND : OP_SCATTER_ELEMENTS;
	DType dt = vtype(c, in[0])->dt;
	if ((dt == DT_F16 || dt == DT_BF16) && strcmp(red, "none")) {
		ValueId w[3] = {cast_to(c, in[0], DT_F32, NULL), in[1], cast_to(c, in[2], DT_F32, NULL)};
		if (w[0] < 0 || w[2] < 0)
			return false;
		ValueId y = emit(c, op, w, 3, a, nd ? 1 : 2, NULL);
		return y >= 0 && define(c, cast_to(c, y, dt, c->sn->out[0]));
	}
	return emit_out(c, op, in, 3, a, nd ? 1 : 2);
}

static bool imp_gather_nd(Ctx *c, const ValueId *in, int nin)
{
	Attr a = ir_ai("batch_dims", sa_int(c->sn, "batch_dims", 0));
	return emit_out(c, OP_GATHER_ND, in, 2, &a, 1);
}

/* TopK: the positions (topk) and the values gathered through them. */
static bool imp_topk(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t axis = sa_int(c->sn, "axis", -1), k = sa_int(c->sn, "k", -1);
	if (!norm_axis(c, &axis, t->rank, "axis"))
		return false;
	if (c->opset < 10 && !sa_get(c->sn, "k"))
		return fail(c, "attribute 'k' is required");
	if (c->opset >= 10) {
		int64_t kk[2];
		int n;
		if (!const_ints(c, in[1], "K", kk, 1, &n))
			return false;
		if (n != 1)
			return fail(c, "K must hold one value, got %d", n);
		k = kk[0];
	}
	if (k < 0 || k > t->dims[axis])
		return fail(c, "K = %lld is outside 0..%lld (the size of axis %lld)", (long long)k, (long long)t->dims[axis],
			    (long long)axis);
	if (t->dt == DT_BOOL)
		return fail(c, "bool input is not supported");
	/* Halves order exactly as their f32 values. */
	ValueId key = t->dt == DT_F16 || t->dt == DT_BF16 ? cast_to(c, in[0], DT_F32, NULL) : in[0];
	if (key < 0)
		return false;
	Attr a[3] = {ir_ai("axis", axis), ir_ai("k", k), ir_ai("largest", sa_int(c->sn, "largest", 1) != 0)};
	const char *iname = c->sn->nout > 1 && *c->sn->out[1] ? c->sn->out[1] : NULL;
	ValueId idx = emit(c, OP_TOPK, &key, 1, a, 3, iname);
	if (!define_at(c, 1, idx))
		return false;
	if (!*c->sn->out[0])
		return true;
	ValueId g[2] = {in[0], idx};
	Attr ax = ir_ai("axis", axis);
	return define(c, emit(c, OP_GATHER_ELEMENTS, g, 2, &ax, 1, c->sn->out[0]));
}

static bool imp_onehot(Ctx *c, const ValueId *in, int nin)
{
	double depth;
	if (!const_scalar(c, in[1], "depth", &depth))
		return false;
	if (!(depth >= 1 && depth < 1e15))
		return fail(c, "depth %g must be at least 1", depth);
	int r = vtype(c, in[0])->rank;
	int64_t axis = sa_int(c->sn, "axis", -1);
	if (!norm_axis(c, &axis, r + 1, "axis"))
		return false;
	DType dt = vtype(c, in[0])->dt;
	ValueId v[2] = {dt == DT_F16 || dt == DT_BF16 ? cast_to(c, in[0], DT_F32, NULL) : in[0], in[2]};
	if (dt == DT_BOOL)
		return fail(c, "bool indices are not supported");
	if (v[0] < 0)
		return false;
	Attr a[2] = {ir_ai("axis", axis), ir_ai("depth", (int64_t)depth)};
	return emit_out(c, OP_ONE_HOT, v, 2, a, 2);
}

static bool imp_grid_sample(Ctx *c, const ValueId *in, int nin)
{
	const char *mode = sa_str(c->sn, "mode", c->opset < 20 ? "bilinear" : "linear");
	const char *pad = sa_str(c->sn, "padding_mode", "zeros");
	if (!strcmp(mode, "bilinear"))
		mode = "linear";
	else if (!strcmp(mode, "bicubic"))
		mode = "cubic";
	if (strcmp(mode, "linear") && strcmp(mode, "nearest") && strcmp(mode, "cubic"))
		return fail(c, "unsupported mode '%s'", mode);
	if (strcmp(pad, "zeros") && strcmp(pad, "border") && strcmp(pad, "reflection"))
		return fail(c, "unsupported padding_mode '%s'", pad);
	if (!need_float(c, in[0], "the input") || !need_float(c, in[1], "the grid"))
		return false;
	ValueId v[2] = {in[0], in[1]};
	if (vtype(c, in[1])->dt != vtype(c, in[0])->dt && (v[1] = cast_to(c, in[1], vtype(c, in[0])->dt, NULL)) < 0)
		return false;
	Attr a[3] = {ir_astr("mode", mode), ir_astr("padding", pad), ir_ai("align_corners", sa_int(c->sn, "align_corners", 0) != 0)};
	return emit_out(c, OP_GRID_SAMPLE, v, 2, a, 3);
}

/* AffineGrid: the base grid of homogeneous points [x, y, (z,) 1] is a
 * constant; the result is base . theta^T per batch, one matmul. */
static bool imp_affine_grid(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t size[IR_MAX_RANK];
	int n;
	if (!need_float(c, in[0], "theta") || !const_ints(c, in[1], "size", size, 5, &n))
		return false;
	int nsp = n - 2;
	if (nsp != 2 && nsp != 3)
		return fail(c, "size must hold 4 or 5 values, got %d", n);
	if (t->rank != 3 || t->dims[0] != size[0] || t->dims[1] != nsp || t->dims[2] != nsp + 1)
		return fail(c, "theta must be [%lld, %d, %d]", (long long)size[0], nsp, nsp + 1);
	bool align = sa_int(c->sn, "align_corners", 0) != 0;
	int64_t pts = 1;
	for (int i = 0; i < nsp; i++) {
		if (size[2 + i] < 1 || size[2 + i] > (1 << 24))
			return fail(c, "size[%d] = %lld is invalid", 2 + i, (long long)size[2 + i]);
		pts *= size[2 + i];
	}
	if (pts > ((int64_t)1 << 26))
		return fail(c, "the grid has too many points");
	DType dt = t->dt;
	void *base = malloc((size_t)(pts * (nsp + 1)) * (size_t)ir_dtype_size(dt));
	if (!base)
		return oom(c);
	for (int64_t p = 0; p < pts; p++) {
		/* point p's coordinate along spatial axis d; the row lists x first */
		for (int64_t d = nsp - 1, r = p; d >= 0; r /= size[2 + d], d--) {
			int64_t dim = size[2 + d], i = r % dim;
			double v = align ? (dim > 1 ? -1 + 2.0 * (double)i / (double)(dim - 1) : -1)
					 : -1 + (2.0 * (double)i + 1) / (double)dim;
			src_store(base, dt, p * (nsp + 1) + (nsp - 1 - d), v);
		}
		src_store(base, dt, p * (nsp + 1) + nsp, 1);
	}
	int64_t bd[2] = {pts, nsp + 1};
	TypeId bt = ir_type(c->g, dt, 2, bd, NULL);
	const char *bname = fresh_name(c, sn_base(c), "base_grid");
	ValueId b = bt < 0 || !bname ? -1 : ir_add_const(c->g, bname, bt, base);
	free(base);
	if (b < 0)
		return oom(c);
	int64_t perm[3] = {0, 2, 1};
	Attr pa = ir_aints("perm", perm, 3);
	ValueId tt = emit(c, OP_TRANSPOSE, &in[0], 1, &pa, 1, NULL);
	ValueId g = bin(c, OP_MATMUL, b, tt, NULL);
	if (g < 0)
		return false;
	int64_t od[5] = {size[0]};
	for (int i = 0; i < nsp; i++)
		od[1 + i] = size[2 + i];
	od[1 + nsp] = nsp;
	return define(c, reshape_to(c, g, nsp + 2, od, c->sn->out[0]));
}

static bool imp_reverse_sequence(Ctx *c, const ValueId *in, int nin)
{
	int r = vtype(c, in[0])->rank;
	int64_t ba = sa_int(c->sn, "batch_axis", 1), ta = sa_int(c->sn, "time_axis", 0);
	if (!norm_axis(c, &ba, r, "batch_axis") || !norm_axis(c, &ta, r, "time_axis"))
		return false;
	Attr a[2] = {ir_ai("batch_axis", ba), ir_ai("time_axis", ta)};
	return emit_out(c, OP_REVERSE_SEQUENCE, in, 2, a, 2);
}

/* MaxUnpool: indices address the unpooled shape the pooling parameters
 * give; an output_shape (constant) may be larger and gets it at its origin. */
static bool imp_max_unpool(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int nsp, r = t->rank;
	const int64_t *ks = sa_ints(c->sn, "kernel_shape", &nsp);
	if (!ks)
		return fail(c, "attribute 'kernel_shape' is required");
	if (nsp < 1 || r != nsp + 2)
		return fail(c, "kernel_shape has %d values but the input has rank %d", nsp, r);
	int64_t s[IR_MAX_RANK], pooled[IR_MAX_RANK], dims[IR_MAX_RANK + 1];
	int np;
	const int64_t *p = sa_ints(c->sn, "pads", &np);
	if (p && np != 2 * nsp)
		return fail(c, "attribute 'pads' has %d values, expected %d", np, 2 * nsp);
	if (!spatial_ints(c, "strides", nsp, s))
		return false;
	pooled[0] = t->dims[0], pooled[1] = t->dims[1];
	for (int i = 0; i < nsp; i++) {
		if (ks[i] < 1 || s[i] < 1)
			return fail(c, "kernel_shape and strides must be positive");
		pooled[2 + i] = (t->dims[2 + i] - 1) * s[i] - (p ? p[i] + p[nsp + i] : 0) + ks[i];
		if (pooled[2 + i] < 0)
			return fail(c, "pads are larger than the unpooled size along spatial axis %d", i);
	}
	memcpy(dims, pooled, sizeof pooled);
	if (nin > 2 && in[2] >= 0) {
		int n;
		if (!const_ints(c, in[2], "output_shape", dims, r, &n))
			return false;
		if (n != r)
			return fail(c, "output_shape has %d values, the input rank is %d", n, r);
		for (int i = 0; i < r; i++)
			if (dims[i] < pooled[i] || (i < 2 && dims[i] != pooled[i]))
				return fail(c, "output_shape[%d] = %lld is smaller than the unpooled %lld", i, (long long)dims[i],
					    (long long)pooled[i]);
	}
	Attr a[2] = {ir_aints("dims", dims, r), ir_aints("pooled", pooled, r)};
	return emit_out(c, OP_MAX_UNPOOL, in, 2, a, 2);
}

/* DepthToSpace / SpaceToDepth: a reshape to 6-D, a transpose, a reshape. */
static bool imp_depth_space(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	if (t->rank != 4)
		return fail(c, "input must be 4-D, got rank %d", t->rank);
	int64_t b = sa_int(c->sn, "blocksize", 0), N = t->dims[0], C = t->dims[1], H = t->dims[2], W = t->dims[3];
	bool d2s = strcmp(c->sn->op, "DepthToSpace") == 0;
	if (b < 1 || (d2s ? C % (b * b) : (H % b || W % b)))
		return fail(c, "blocksize %lld does not divide the input", (long long)b);
	int64_t s6[6], perm[6], out[4];
	if (d2s) {
		bool crd = strcmp(sa_str(c->sn, "mode", "DCR"), "CRD") == 0;
		int64_t cc = C / (b * b);
		if (crd) {
			int64_t s[6] = {N, cc, b, b, H, W}, p[6] = {0, 1, 4, 2, 5, 3};
			memcpy(s6, s, sizeof s6), memcpy(perm, p, sizeof perm);
		} else {
			int64_t s[6] = {N, b, b, cc, H, W}, p[6] = {0, 3, 4, 1, 5, 2};
			memcpy(s6, s, sizeof s6), memcpy(perm, p, sizeof perm);
		}
		int64_t o[4] = {N, cc, H * b, W * b};
		memcpy(out, o, sizeof out);
	} else {
		int64_t s[6] = {N, C, H / b, b, W / b, b}, p[6] = {0, 3, 5, 1, 2, 4};
		int64_t o[4] = {N, C * b * b, H / b, W / b};
		memcpy(s6, s, sizeof s6), memcpy(perm, p, sizeof perm), memcpy(out, o, sizeof out);
	}
	ValueId x = reshape_to(c, in[0], 6, s6, NULL);
	if (x < 0)
		return false;
	Attr a = ir_aints("perm", perm, 6);
	x = emit(c, OP_TRANSPOSE, &x, 1, &a, 1, NULL);
	return x >= 0 && define(c, reshape_to(c, x, 4, out, c->sn->out[0]));
}

/* ---- compositions: ops expressed through simpler IR ops ------------------------------------- */

static ValueId un(Ctx *c, Op op, ValueId x) { return x < 0 ? -1 : emit(c, op, &x, 1, NULL, 0, NULL); }

static ValueId bin(Ctx *c, Op op, ValueId a, ValueId b, const char *out_name)
{
	if (a < 0 || b < 0)
		return -1;
	ValueId v[2] = {a, b};
	return emit(c, op, v, 2, NULL, 0, out_name);
}

/* A scalar constant of dtype dt. */
static ValueId scalar(Ctx *c, DType dt, double v)
{
	unsigned char buf[8] = {0};
	src_store(buf, dt, 0, v);
	TypeId ty = ir_type(c->g, dt, 0, NULL, NULL);
	const char *name = fresh_name(c, sn_base(c), "k");
	ValueId k = ty < 0 || !name ? -1 : ir_add_const(c->g, name, ty, buf);
	if (k < 0)
		oom(c);
	return k;
}

static ValueId reduce_axes(Ctx *c, Op op, ValueId x, const int64_t *axes, int n, bool keep, const char *out_name)
{
	if (x < 0)
		return -1;
	int64_t a[IR_MAX_RANK];
	memcpy(a, axes, (size_t)n * sizeof *a);
	Attr at[2] = {ir_aints("axes", a, n), ir_ai("keepdims", keep)};
	return emit(c, op, &x, 1, at, 2, out_name);
}

/* The reduced axes of a Reduce* node as imp_reduce resolves them: sorted;
 * *n = 0 and *noop when the op is an identity. */
static bool reduce_spec(Ctx *c, const ValueId *in, int nin, int64_t *sorted, int *k, bool *noop)
{
	const Type *t = vtype(c, in[0]);
	int64_t axes[IR_MAX_RANK + 1];
	int n;
	bool have, red[IR_MAX_RANK] = {0};
	*noop = false;
	if (!need_float(c, in[0], "the input") || !ints_from(c, in, nin, 1, "axes", axes, IR_MAX_RANK, &n, &have))
		return false;
	if (n == 0 && sa_int(c->sn, "noop_with_empty_axes", 0)) {
		*noop = true;
		return true;
	}
	for (int i = 0; i < n; i++) {
		if (!norm_axis(c, &axes[i], t->rank, "axis"))
			return false;
		if (red[axes[i]])
			return fail(c, "axis %lld appears twice", (long long)axes[i]);
		red[axes[i]] = true;
	}
	*k = 0;
	for (int i = 0; i < t->rank; i++)
		if (red[i] || n == 0)
			sorted[(*k)++] = i;
	*noop = *k == 0;
	return true;
}

/* ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum, ReduceLogSumExp. */
static bool imp_reduce_comp(Ctx *c, const ValueId *in, int nin)
{
	int64_t axes[IR_MAX_RANK];
	int k = 0;
	bool noop;
	if (!reduce_spec(c, in, nin, axes, &k, &noop))
		return false;
	const char *op = c->sn->op, *out = c->sn->out[0];
	bool keep = sa_int(c->sn, "keepdims", 1) != 0;
	ValueId x = in[0];
	if (!strcmp(op, "ReduceLogSumExp")) {
		/* max + log(sum(exp(x - max))): no overflow */
		if (noop)
			return emit_out(c, OP_IDENTITY, in, 1, NULL, 0);
		ValueId m = reduce_axes(c, OP_REDUCE_MAX, x, axes, k, true, NULL);
		ValueId e = un(c, OP_EXP, bin(c, OP_SUB, x, m, NULL));
		ValueId l = un(c, OP_LOG, reduce_axes(c, OP_REDUCE_SUM, e, axes, k, keep, NULL));
		ValueId mk = keep ? m : reduce_axes(c, OP_REDUCE_MAX, x, axes, k, false, NULL);
		return define(c, bin(c, OP_ADD, l, mk, out));
	}
	if (!strcmp(op, "ReduceL1"))
		x = un(c, OP_ABS, x);
	else if (strcmp(op, "ReduceLogSum"))
		x = bin(c, OP_MUL, x, x, NULL);
	if (noop)
		return define(c, emit(c, OP_IDENTITY, &x, 1, NULL, 0, out));
	bool post = !strcmp(op, "ReduceL2") || !strcmp(op, "ReduceLogSum");
	ValueId s = reduce_axes(c, OP_REDUCE_SUM, x, axes, k, keep, post ? NULL : out);
	if (!post)
		return define(c, s);
	return define(c, s < 0 ? -1 : emit(c, !strcmp(op, "ReduceL2") ? OP_SQRT : OP_LOG, &s, 1, NULL, 0, out));
}

/* (x - mean) / sqrt(var + eps) over axes, var the biased variance. */
static ValueId normalize(Ctx *c, ValueId x, const int64_t *axes, int k, double eps)
{
	DType dt = vtype(c, x)->dt;
	ValueId d = bin(c, OP_SUB, x, reduce_axes(c, OP_REDUCE_MEAN, x, axes, k, true, NULL), NULL);
	ValueId var = reduce_axes(c, OP_REDUCE_MEAN, bin(c, OP_MUL, d, d, NULL), axes, k, true, NULL);
	ValueId sd = un(c, OP_SQRT, bin(c, OP_ADD, var, scalar(c, dt, eps), NULL));
	return bin(c, OP_DIV, d, sd, NULL);
}

static bool imp_layernorm(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t axis = sa_int(c->sn, "axis", -1);
	if (!need_float(c, in[0], "the input") || !norm_axis(c, &axis, t->rank, "axis"))
		return false;
	if (sa_int(c->sn, "stash_type", 1) != 1)
		return fail(c, "stash_type other than float is not supported");
	int64_t axes[IR_MAX_RANK];
	int k = 0;
	for (int i = (int)axis; i < t->rank; i++)
		axes[k++] = i;
	double eps = sa_float(c->sn, "epsilon", 1e-5);
	DType dt = t->dt;
	bool has_b = nin > 2 && in[2] >= 0;
	bool stats = (c->sn->nout > 1 && *c->sn->out[1]) || (c->sn->nout > 2 && *c->sn->out[2]);
	if (!stats) {
		/* Y alone: the one op, normalized a row at a time. */
		Attr a[2] = {ir_ai("axis", axis), ir_af("epsilon", eps)};
		ValueId ops[3] = {in[0], in[1], has_b ? in[2] : -1};
		return emit_out(c, OP_LAYER_NORM, ops, has_b ? 3 : 2, a, 2);
	}
	/* Mean or InvStdDev is wanted too: the composition, which has them. */
	ValueId mean = reduce_axes(c, OP_REDUCE_MEAN, in[0], axes, k, true, NULL);
	ValueId d = bin(c, OP_SUB, in[0], mean, NULL);
	ValueId var = reduce_axes(c, OP_REDUCE_MEAN, bin(c, OP_MUL, d, d, NULL), axes, k, true, NULL);
	ValueId sd = un(c, OP_SQRT, bin(c, OP_ADD, var, scalar(c, dt, eps), NULL));
	ValueId y = bin(c, OP_MUL, bin(c, OP_DIV, d, sd, NULL), in[1], has_b ? NULL : c->sn->out[0]);
	if (has_b)
		y = bin(c, OP_ADD, y, in[2], c->sn->out[0]);
	if (!define(c, y))
		return false;
	if (c->sn->nout > 1 && *c->sn->out[1] && !define_at(c, 1, emit(c, OP_IDENTITY, &mean, 1, NULL, 0, c->sn->out[1])))
		return false;
	if (c->sn->nout > 2 && *c->sn->out[2] &&
	    !define_at(c, 2, bin(c, OP_DIV, scalar(c, dt, 1.0), sd, c->sn->out[2])))
		return false;
	return true;
}

/* Per-channel scale and bias shaped [C, 1, ..., 1] to broadcast over NC... */
static ValueId per_channel(Ctx *c, ValueId v, int rank)
{
	int64_t d[IR_MAX_RANK];
	d[0] = ir_type_numel(vtype(c, v));
	for (int i = 1; i < rank - 1; i++)
		d[i] = 1;
	return reshape_to(c, v, rank - 1, d, NULL);
}

static bool imp_instancenorm(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	if (!need_float(c, in[0], "the input") || t->rank < 3)
		return t->rank < 3 ? fail(c, "input must have rank >= 3") : false;
	int64_t axes[IR_MAX_RANK];
	int k = 0;
	for (int i = 2; i < t->rank; i++)
		axes[k++] = i;
	ValueId y = normalize(c, in[0], axes, k, sa_float(c->sn, "epsilon", 1e-5));
	y = bin(c, OP_MUL, y, per_channel(c, in[1], t->rank), NULL);
	return define(c, bin(c, OP_ADD, y, per_channel(c, in[2], t->rank), c->sn->out[0]));
}

static bool imp_groupnorm(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t g = sa_int(c->sn, "num_groups", 0);
	if (!need_float(c, in[0], "the input") || t->rank < 3)
		return t->rank < 3 ? fail(c, "input must have rank >= 3") : false;
	int64_t C = t->dims[1];
	if (g < 1 || C % g)
		return fail(c, "num_groups %lld does not divide %lld channels", (long long)g, (long long)C);
	/* [N, G, C/G * spatial], normalized over the last axis. */
	int64_t d3[3] = {t->dims[0], g, ir_type_numel(t) / (t->dims[0] * g)};
	int64_t ax = 2, orig[IR_MAX_RANK];
	memcpy(orig, t->dims, sizeof orig);
	ValueId y = normalize(c, reshape_to(c, in[0], 3, d3, NULL), &ax, 1, sa_float(c->sn, "epsilon", 1e-5));
	y = reshape_to(c, y, t->rank, orig, NULL);
	ValueId sc = in[1], bi = in[2];
	if (ir_type_numel(vtype(c, sc)) == g) {
		/* opset 18: scale and bias per group; 21: per channel */
		return fail(c, "per-group scale and bias (opset 18 GroupNormalization) are not supported");
	}
	y = bin(c, OP_MUL, y, per_channel(c, sc, t->rank), NULL);
	return define(c, bin(c, OP_ADD, y, per_channel(c, bi, t->rank), c->sn->out[0]));
}

static bool imp_mvn(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int n = 0;
	const int64_t *a = sa_ints(c->sn, "axes", &n);
	int64_t axes[IR_MAX_RANK], def[3] = {0, 2, 3};
	if (!a) {
		a = def;
		n = 3;
	}
	if (n > t->rank || !need_float(c, in[0], "the input"))
		return n > t->rank ? fail(c, "too many axes") : false;
	bool red[IR_MAX_RANK] = {0};
	for (int i = 0; i < n; i++) {
		int64_t x = a[i];
		if (!norm_axis(c, &x, t->rank, "axis"))
			return false;
		red[x] = true;
	}
	int k = 0;
	for (int i = 0; i < t->rank; i++)
		if (red[i])
			axes[k++] = i;
	/* MVN's epsilon is 1e-9, added to the standard deviation. */
	ValueId x = in[0];
	ValueId d = bin(c, OP_SUB, x, reduce_axes(c, OP_REDUCE_MEAN, x, axes, k, true, NULL), NULL);
	ValueId sd = un(c, OP_SQRT, reduce_axes(c, OP_REDUCE_MEAN, bin(c, OP_MUL, d, d, NULL), axes, k, true, NULL));
	return define(c, bin(c, OP_DIV, d, bin(c, OP_ADD, sd, scalar(c, t->dt, 1e-9), NULL), c->sn->out[0]));
}

static bool imp_lpnorm(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int64_t axis = sa_int(c->sn, "axis", -1), p = sa_int(c->sn, "p", 2);
	if (!need_float(c, in[0], "the input") || !norm_axis(c, &axis, t->rank, "axis"))
		return false;
	if (p != 1 && p != 2)
		return fail(c, "p must be 1 or 2, got %lld", (long long)p);
	ValueId x = in[0];
	ValueId s = p == 1 ? un(c, OP_ABS, x) : bin(c, OP_MUL, x, x, NULL);
	s = reduce_axes(c, OP_REDUCE_SUM, s, &axis, 1, true, NULL);
	if (p == 2)
		s = un(c, OP_SQRT, s);
	return define(c, bin(c, OP_DIV, x, s, c->sn->out[0]));
}

/* ---- losses ---------------------------------------------------------------------------------- */

/* NegativeLogLikelihoodLoss on x [N, C, d...] and target [N, d...]:
 * loss = -x[n, t, d...] * w[t], 0 where t == ignore_index; reduced to a
 * sum or a weighted mean, or kept per element. */
static ValueId nll(Ctx *c, ValueId x, ValueId t, ValueId w, const char *out_name)
{
	const Type *xt = vtype(c, x), *tt = vtype(c, t);
	DType dt = xt->dt, it = tt->dt;
	const char *red = sa_str(c->sn, "reduction", "mean");
	bool has_ii = sa_get(c->sn, "ignore_index") != NULL;
	if (strcmp(red, "none") && strcmp(red, "sum") && strcmp(red, "mean"))
		return fail(c, "unsupported reduction '%s'", red), -1;
	if (xt->rank < 2 || tt->rank != xt->rank - 1 || tt->dims[0] != xt->dims[0])
		return fail(c, "input must be [N, C, ...] and target [N, ...]"), -1;
	ValueId valid = -1, ts = t;
	if (has_ii) {
		valid = un(c, OP_NOT, bin(c, OP_EQUAL, t, scalar(c, it, (double)sa_int(c->sn, "ignore_index", 0)), NULL));
		ValueId v[3] = {valid, t, scalar(c, it, 0)};
		ts = emit(c, OP_WHERE, v, 3, NULL, 0, NULL);
	}
	/* x[n, t[n, d], d] by GatherElements along the class axis. */
	int64_t d1[IR_MAX_RANK], dr[IR_MAX_RANK];
	d1[0] = tt->dims[0];
	d1[1] = 1;
	for (int i = 1; i < tt->rank; i++)
		d1[i + 1] = tt->dims[i];
	memcpy(dr, tt->dims, sizeof dr);
	int rank = tt->rank;
	Attr ax = ir_ai("axis", 1);
	ValueId g[2] = {x, reshape_to(c, ts, rank + 1, d1, NULL)};
	ValueId picked = g[1] < 0 ? -1 : emit(c, OP_GATHER_ELEMENTS, g, 2, &ax, 1, NULL);
	picked = reshape_to(c, picked, rank, dr, NULL);
	ValueId wt = -1;
	if (w >= 0) {
		Attr a0 = ir_ai("axis", 0);
		ValueId gw[2] = {w, ts};
		wt = emit(c, OP_GATHER, gw, 2, &a0, 1, NULL);
	}
	if (valid >= 0) {
		ValueId vf = cast_to(c, valid, dt, NULL);
		wt = wt >= 0 ? bin(c, OP_MUL, wt, vf, NULL) : vf;
	}
	ValueId loss = un(c, OP_NEG, picked);
	bool none = !strcmp(red, "none");
	if (wt >= 0)
		loss = bin(c, OP_MUL, loss, wt, none ? out_name : NULL);
	else if (none)
		loss = emit(c, OP_IDENTITY, &loss, 1, NULL, 0, out_name);
	if (none)
		return loss;
	int64_t all[IR_MAX_RANK];
	for (int i = 0; i < rank; i++)
		all[i] = i;
	bool mean = !strcmp(red, "mean");
	ValueId s = reduce_axes(c, OP_REDUCE_SUM, loss, all, rank, false, mean ? NULL : out_name);
	if (!mean)
		return s;
	ValueId den = wt >= 0 ? reduce_axes(c, OP_REDUCE_SUM, wt, all, rank, false, NULL)
			      : scalar(c, dt, (double)ir_type_numel(tt));
	return bin(c, OP_DIV, s, den, out_name);
}

static bool imp_nll(Ctx *c, const ValueId *in, int nin)
{
	if (!need_float(c, in[0], "the input"))
		return false;
	return define(c, nll(c, in[0], in[1], nin > 2 ? in[2] : -1, c->sn->out[0]));
}

static bool imp_sce(Ctx *c, const ValueId *in, int nin)
{
	if (!need_float(c, in[0], "the scores"))
		return false;
	Attr ax = ir_ai("axis", 1);
	bool want_lp = c->sn->nout > 1 && *c->sn->out[1];
	ValueId lp = emit(c, OP_LOG_SOFTMAX, in, 1, &ax, 1, want_lp ? c->sn->out[1] : NULL);
	if (lp < 0 || (want_lp && !define_at(c, 1, lp)))
		return false;
	return define(c, nll(c, lp, in[1], nin > 2 ? in[2] : -1, c->sn->out[0]));
}

/* ---- Resize and Upsample ------------------------------------------------------------------------ */

/* Float values of a constant operand (any float dtype), at most max. */
static bool const_floats(Ctx *c, ValueId v, const char *what, double *out, int max, int *n)
{
	const Value *val = const_val(c, v, what);
	if (!val)
		return false;
	const Type *t = vtype(c, v);
	int64_t k = ir_type_numel(t);
	if (t->rank > 1 || k > max)
		return fail(c, "%s must be a 1-D tensor of at most %d values", what, max);
	for (int64_t i = 0; i < k; i++)
		out[i] = load_elem(val->data, t->dt, i);
	*n = (int)k;
	return true;
}

static bool emit_resize(Ctx *c, ValueId x, const double *scales, const int64_t *dims, const double *roi,
			const char *mode, const char *coord, const char *near)
{
	const Type *t = vtype(c, x);
	int r = t->rank;
	double sc[IR_MAX_RANK], ro[2 * IR_MAX_RANK];
	int64_t dm[IR_MAX_RANK];
	for (int i = 0; i < r; i++) {
		sc[i] = scales[i];
		dm[i] = dims[i];
		ro[i] = roi ? roi[i] : 0;
		ro[r + i] = roi ? roi[r + i] : 1;
	}
	bool aa = sa_int(c->sn, "antialias", 0) != 0 && strcmp(mode, "nearest");
	for (int i = 0; aa && i < r; i++)
		if (sc[i] < 1 && (strcmp(mode, "linear") ? 4 / sc[i] : 2 / sc[i]) > 28)
			return fail(c, "antialiased downscaling by %g needs too wide a filter (at most 1/7 for cubic, 1/14 for linear)",
				    sc[i]);
	Attr a[10] = {ir_aints("dims", dm, r), ir_afloats("scales", sc, r), ir_afloats("roi", ro, 2 * r),
		      ir_astr("mode", mode), ir_astr("coord", coord), ir_astr("nearest", near),
		      ir_af("cubic_a", sa_float(c->sn, "cubic_coeff_a", -0.75)),
		      ir_ai("exclude_outside", sa_int(c->sn, "exclude_outside", 0) != 0),
		      ir_af("extrapolation", sa_float(c->sn, "extrapolation_value", 0)), ir_ai("antialias", 1)};
	return emit_out(c, OP_RESIZE, &x, 1, a, aa ? 10 : 9);
}

static bool imp_resize(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int r = t->rank;
	if (!need_float(c, in[0], "the input"))
		return false;
	const char *mode = sa_str(c->sn, "mode", "nearest");
	if (strcmp(mode, "nearest") && strcmp(mode, "linear") && strcmp(mode, "cubic"))
		return fail(c, "unsupported mode '%s'", mode);

	bool v10 = c->opset < 11;
	const char *coord = v10 ? "asymmetric" : sa_str(c->sn, "coordinate_transformation_mode", "half_pixel");
	const char *near = v10 ? "floor" : sa_str(c->sn, "nearest_mode", "round_prefer_floor");
	if (v10 && !strcmp(mode, "linear"))
		coord = "asymmetric";
	/* Which axes the scales/sizes/roi talk about (opset 18 'axes'). */
	int na = r;
	int64_t axes[IR_MAX_RANK];
	const int64_t *aa = sa_ints(c->sn, "axes", &na);
	if (aa) {
		if (na > r)
			return fail(c, "too many axes");
		for (int i = 0; i < na; i++) {
			axes[i] = aa[i];
			if (!norm_axis(c, &axes[i], r, "axis"))
				return false;
		}
	} else {
		na = r;
		for (int i = 0; i < r; i++)
			axes[i] = i;
	}
	double scales[IR_MAX_RANK], roi[2 * IR_MAX_RANK], v[2 * IR_MAX_RANK];
	int64_t dims[IR_MAX_RANK];
	for (int i = 0; i < r; i++) {
		scales[i] = 1;
		dims[i] = t->dims[i];
		roi[i] = 0;
		roi[r + i] = 1;
	}
	int k;
	int si = v10 ? 1 : 2, zi = 3;
	bool have_roi = !v10 && nin > 1 && in[1] >= 0 && ir_type_numel(vtype(c, in[1])) > 0;
	if (have_roi) {
		if (!const_floats(c, in[1], "roi", v, 2 * IR_MAX_RANK, &k))
			return false;
		if (k != 2 * na)
			return fail(c, "roi has %d values, expected %d", k, 2 * na);
		for (int i = 0; i < na; i++) {
			roi[axes[i]] = v[i];
			roi[r + axes[i]] = v[na + i];
		}
	}
	bool have_scales = nin > si && in[si] >= 0 && ir_type_numel(vtype(c, in[si])) > 0;
	bool have_sizes = !v10 && nin > zi && in[zi] >= 0 && ir_type_numel(vtype(c, in[zi])) > 0;
	if (have_scales == have_sizes)
		return fail(c, "exactly one of scales and sizes must be given");
	if (have_scales) {
		if (!const_floats(c, in[si], "scales", v, IR_MAX_RANK, &k))
			return false;
		if (k != na)
			return fail(c, "scales has %d values, expected %d", k, na);
		for (int i = 0; i < na; i++) {
			if (!(v[i] > 0))
				return fail(c, "scale %g must be positive", v[i]);
			scales[axes[i]] = v[i];
			dims[axes[i]] = (int64_t)floor((double)t->dims[axes[i]] * v[i]);
			if (dims[axes[i]] < 1)
				return fail(c, "axis %lld resizes to nothing", (long long)axes[i]);
		}
	} else {
		int64_t sz[IR_MAX_RANK + 1];
		if (!const_ints(c, in[zi], "sizes", sz, IR_MAX_RANK, &k))
			return false;
		if (k != na)
			return fail(c, "sizes has %d values, expected %d", k, na);
		const char *pol = sa_str(c->sn, "keep_aspect_ratio_policy", "stretch");
		bool larger = !strcmp(pol, "not_larger"), smaller = !strcmp(pol, "not_smaller");
		if (!larger && !smaller && strcmp(pol, "stretch"))
			return fail(c, "unknown keep_aspect_ratio_policy '%s'", pol);
		double common = larger ? INFINITY : 0;
		for (int i = 0; i < na; i++) {
			double s = (double)sz[i] / (double)t->dims[axes[i]];
			if (larger)
				common = s < common ? s : common;
			if (smaller)
				common = s > common ? s : common;
		}
		for (int i = 0; i < na; i++) {
			int64_t a = axes[i];
			if (larger || smaller) {
				scales[a] = common;
				dims[a] = (int64_t)llround((double)t->dims[a] * common);
			} else {
				if (sz[i] < 1)
					return fail(c, "size %lld must be positive", (long long)sz[i]);
				dims[a] = sz[i];
				scales[a] = (double)sz[i] / (double)t->dims[a];
			}
		}
	}
	return emit_resize(c, in[0], scales, dims, roi, mode, coord, near);
}

static bool imp_upsample(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	double v[IR_MAX_RANK];
	int k = 0;
	if (!need_float(c, in[0], "the input"))
		return false;
	if (nin > 1) {
		if (!const_floats(c, in[1], "scales", v, IR_MAX_RANK, &k))
			return false;
	} else {
		const SrcAttr *a = sa_get(c->sn, "scales");
		k = a ? a->n : 0;
		for (int i = 0; i < k && i < IR_MAX_RANK; i++)
			v[i] = a->floats[i];
	}
	if (k != t->rank)
		return fail(c, "scales has %d values for a rank-%d input", k, t->rank);
	int64_t dims[IR_MAX_RANK];
	for (int i = 0; i < k; i++) {
		if (!(v[i] >= 1))
			return fail(c, "scale %g must be >= 1", v[i]);
		dims[i] = (int64_t)floor((double)t->dims[i] * v[i]);
	}
	const char *mode = sa_str(c->sn, "mode", "nearest");
	if (strcmp(mode, "nearest") && strcmp(mode, "linear") && strcmp(mode, "bilinear"))
		return fail(c, "unsupported mode '%s'", mode);
	return emit_resize(c, in[0], v, dims, NULL, strcmp(mode, "nearest") ? "linear" : "nearest", "asymmetric", "floor");
}

/* ---- quantization: reference lowerings through f32 ------------------------------------------- */

/* v (a scale or zero point: scalar or 1-D along axis) shaped to broadcast
 * against a rank-r tensor. */
static ValueId along_axis(Ctx *c, ValueId v, int r, int64_t axis)
{
	const Type *t = vtype(c, v);
	if (t->rank == 0 || ir_type_numel(t) == 1 || r == 0 || t->rank == r)
		return v;  /* broadcasts as it is (full rank: blocked scales, expanded) */
	int64_t d[IR_MAX_RANK];
	for (int i = 0; i < r - axis; i++)
		d[i] = i == 0 ? t->dims[0] : 1;
	return reshape_to(c, v, (int)(r - axis), d, NULL);
}

static ValueId to_f32(Ctx *c, ValueId v) { return v < 0 ? -1 : cast_to(c, v, DT_F32, NULL); }

/* (x - zp) * scale in f32. */
static ValueId dequant(Ctx *c, ValueId x, ValueId scale, ValueId zp, int64_t axis)
{
	int r = vtype(c, x)->rank;
	ValueId xf = to_f32(c, x);
	if (zp >= 0)
		xf = bin(c, OP_SUB, xf, to_f32(c, along_axis(c, zp, r, axis)), NULL);
	return bin(c, OP_MUL, xf, to_f32(c, along_axis(c, scale, r, axis)), NULL);
}

static void qrange(DType dt, double *lo, double *hi)
{
	switch (dt) {
	case DT_U8: *lo = 0, *hi = 255; break;
	case DT_I8: *lo = -128, *hi = 127; break;
	case DT_U16: *lo = 0, *hi = 65535; break;
	case DT_I16: *lo = -32768, *hi = 32767; break;
	case DT_I32: *lo = -2147483648.0, *hi = 2147483647.0; break;
	case DT_U4: *lo = 0, *hi = 15; break;
	case DT_I4: *lo = -8, *hi = 7; break;
	default: *lo = 0, *hi = 0;
	}
}

/* saturate(round_half_even(x / scale) + zp) as dt; for float8, x / scale
 * cast with the saturate flag (ONNX defines the zero point as 0 there). */
static ValueId quant(Ctx *c, ValueId xf, ValueId scale, ValueId zp, int64_t axis, DType dt, bool saturate,
		     const char *out_name)
{
	int r = vtype(c, xf)->rank;
	if (ir_dtype_is_f8(dt)) {
		ValueId q = bin(c, OP_DIV, xf, to_f32(c, along_axis(c, scale, r, axis)), NULL);
		return q < 0 ? -1 : emit_cast(c, q, dt, saturate, out_name);
	}
	double lo, hi;
	qrange(dt, &lo, &hi);
	if (lo == hi)
		return fail(c, "quantization to %s is not supported", ir_dtype_name(dt)), -1;
	ValueId q = un(c, OP_ROUND, bin(c, OP_DIV, xf, to_f32(c, along_axis(c, scale, r, axis)), NULL));
	if (zp >= 0)
		q = bin(c, OP_ADD, q, to_f32(c, along_axis(c, zp, r, axis)), NULL);
	if (q < 0)
		return -1;
	Attr a[2] = {ir_af("min", lo), ir_af("max", hi)};
	q = emit(c, OP_CLIP, &q, 1, a, 2, NULL);
	return q < 0 ? -1 : cast_to(c, q, dt, out_name);
}

/* Blocked quantization (opset 21): v has x's shape but ceil(D/B) entries
 * along axis; repeat each B times (and cut to D) so it lines up with x. */
static ValueId unblock(Ctx *c, ValueId v, ValueId x, int64_t axis, int64_t B)
{
	const Type *t = vtype(c, v), *tx = vtype(c, x);
	int r = t->rank;
	int64_t Db = t->dims[axis], D = tx->dims[axis];
	if (r != tx->rank || r >= IR_MAX_RANK || Db != (D + B - 1) / B)
		return fail_v(c, "blocked scale or zero point has the wrong shape for block_size %lld", (long long)B);
	int64_t d1[IR_MAX_RANK], d2[IR_MAX_RANK], d3[IR_MAX_RANK];
	for (int i = 0, k = 0; i < r; i++) {
		d1[k] = d2[k] = t->dims[i];
		k++;
		if (i == axis) {
			d1[k] = 1;
			d2[k++] = B;
		}
		d3[i] = i == axis ? Db * B : t->dims[i];
	}
	ValueId e = reshape_to(c, v, r + 1, d1, NULL);
	Attr sh = ir_aints("shape", d2, r + 1);
	e = e < 0 ? -1 : emit(c, OP_EXPAND, &e, 1, &sh, 1, NULL);
	e = reshape_to(c, e, r, d3, NULL);
	if (Db * B != D && e >= 0) {
		int64_t st[IR_MAX_RANK] = {0}, sp[IR_MAX_RANK], n[IR_MAX_RANK];
		for (int i = 0; i < r; i++)
			sp[i] = 1, n[i] = i == axis ? D : d3[i];
		e = slice_of(c, e, st, sp, n, NULL);
	}
	return e;
}

/* The quantization axis (it only matters for per-axis scales); blocked
 * scales and zero points are expanded to x's shape in place. */
static bool quant_axis(Ctx *c, ValueId x, ValueId *scale, ValueId *zp, int64_t *axis)
{
	*axis = sa_int(c->sn, "axis", 1);
	int r = vtype(c, x)->rank;
	int64_t B = sa_int(c->sn, "block_size", 0);
	if (B < 0)
		return fail(c, "block_size must be positive");
	if (B > 0) {
		if (!norm_axis(c, axis, r, "axis"))
			return false;
		*scale = unblock(c, *scale, x, *axis, B);
		if (*zp >= 0)
			*zp = unblock(c, *zp, x, *axis, B);
		return *scale >= 0 && (*zp >= 0 || *zp == -1);
	}
	if (ir_type_numel(vtype(c, *scale)) == 1) {
		*axis = 0;
		return true;
	}
	return norm_axis(c, axis, r, "axis");
}

static bool imp_quantize(Ctx *c, const ValueId *in, int nin)
{
	int64_t axis;
	ValueId scale = in[1], zp = nin > 2 ? in[2] : -1;
	DType dt = zp >= 0 ? vtype(c, zp)->dt : DT_U8;
	if (!need_float(c, in[0], "the input") || !quant_axis(c, in[0], &scale, &zp, &axis))
		return false;
	if (sa_get(c->sn, "output_dtype") && sa_int(c->sn, "output_dtype", 0))
		dt = ir_dtype_from_onnx((int)sa_int(c->sn, "output_dtype", 0));
	return define(c, quant(c, to_f32(c, in[0]), scale, zp, axis, dt, sa_int(c->sn, "saturate", 1) != 0, c->sn->out[0]));
}

static bool imp_dequantize(Ctx *c, const ValueId *in, int nin)
{
	int64_t axis;
	ValueId scale = in[1], zp = nin > 2 ? in[2] : -1;
	if (!quant_axis(c, in[0], &scale, &zp, &axis))
		return false;
	ValueId y = dequant(c, in[0], scale, zp, axis);
	DType dt = vtype(c, in[1])->dt;
	return define(c, y < 0 ? -1 : emit(c, dt == DT_F32 ? OP_IDENTITY : OP_CAST, &y, 1,
					   (Attr[]){ir_astr("to", ir_dtype_name(dt))}, dt == DT_F32 ? 0 : 1, c->sn->out[0]));
}

static bool imp_dynamic_quantize(Ctx *c, const ValueId *in, int nin)
{
	if (!need_float(c, in[0], "the input"))
		return false;
	const Type *t = vtype(c, in[0]);
	int64_t all[IR_MAX_RANK];
	for (int i = 0; i < t->rank; i++)
		all[i] = i;
	ValueId x = to_f32(c, in[0]), zero = scalar(c, DT_F32, 0);
	ValueId lo = t->rank ? reduce_axes(c, OP_REDUCE_MIN, x, all, t->rank, false, NULL) : x;
	ValueId hi = t->rank ? reduce_axes(c, OP_REDUCE_MAX, x, all, t->rank, false, NULL) : x;
	lo = bin(c, OP_MIN, lo, zero, NULL);
	hi = bin(c, OP_MAX, hi, zero, NULL);
	ValueId scale = bin(c, OP_DIV, bin(c, OP_SUB, hi, lo, NULL), scalar(c, DT_F32, 255), NULL);
	/* zp = saturate(round(0 - lo / scale)) */
	ValueId zf = un(c, OP_ROUND, un(c, OP_NEG, bin(c, OP_DIV, lo, scale, NULL)));
	if (zf < 0)
		return false;
	Attr a[2] = {ir_af("min", 0), ir_af("max", 255)};
	zf = emit(c, OP_CLIP, &zf, 1, a, 2, NULL);
	ValueId zp = zf < 0 ? -1 : cast_to(c, zf, DT_U8, c->sn->nout > 2 && *c->sn->out[2] ? c->sn->out[2] : NULL);
	ValueId y = quant(c, x, scale, zp, 0, DT_U8, true, c->sn->out[0]);
	if (!define(c, y) || !define_at(c, 2, zp))
		return false;
	if (c->sn->nout > 1 && *c->sn->out[1])
		return define_at(c, 1, emit(c, OP_IDENTITY, &scale, 1, NULL, 0, c->sn->out[1]));
	return true;
}

static bool imp_qlinear_matmul(Ctx *c, const ValueId *in, int nin)
{
	/* a's scales are per row (axis -2), b's per column (axis -1) */
	int ra = vtype(c, in[0])->rank;
	ValueId a = dequant(c, in[0], in[1], in[2], ra >= 2 ? ra - 2 : 0);
	ValueId b = dequant(c, in[3], in[4], in[5], vtype(c, in[3])->rank - 1);
	ValueId y = bin(c, OP_MATMUL, a, b, NULL);
	return define(c, y < 0 ? -1 : quant(c, y, in[6], in[7], 0, vtype(c, in[7])->dt, true, c->sn->out[0]));
}

static bool imp_matmul_integer(Ctx *c, const ValueId *in, int nin)
{
	int ra = vtype(c, in[0])->rank;
	ValueId a = to_f32(c, in[0]), b = to_f32(c, in[1]);
	if (nin > 2 && in[2] >= 0)
		a = bin(c, OP_SUB, a, to_f32(c, along_axis(c, in[2], ra, ra >= 2 ? ra - 2 : 0)), NULL);
	if (nin > 3 && in[3] >= 0)
		b = bin(c, OP_SUB, b, to_f32(c, along_axis(c, in[3], vtype(c, in[1])->rank, vtype(c, in[1])->rank - 1)), NULL);
	ValueId y = bin(c, OP_MATMUL, a, b, NULL);
	return define(c, y < 0 ? -1 : cast_to(c, y, DT_I32, c->sn->out[0]));
}

/* ---- recurrent layers, unrolled over the (static) sequence ----------------------------------- */

typedef struct Act1 {
	char name[32];
	double alpha, beta;
} Act1;

/* f(x) for an ONNX RNN activation name. */
static ValueId rnn_act(Ctx *c, const Act1 *f, ValueId x)
{
	DType dt = x >= 0 ? vtype(c, x)->dt : DT_F32;
	const char *n = f->name;
	if (!strcmp(n, "Sigmoid"))
		return un(c, OP_SIGMOID, x);
	if (!strcmp(n, "Tanh"))
		return un(c, OP_TANH, x);
	if (!strcmp(n, "Relu"))
		return un(c, OP_RELU, x);
	if (!strcmp(n, "Softsign"))
		return un(c, OP_SOFTSIGN, x);
	if (!strcmp(n, "Softplus"))
		return un(c, OP_SOFTPLUS, x);
	if (!strcmp(n, "Affine"))
		return bin(c, OP_ADD, bin(c, OP_MUL, x, scalar(c, dt, f->alpha), NULL), scalar(c, dt, f->beta), NULL);
	if (!strcmp(n, "ScaledTanh"))
		return bin(c, OP_MUL, un(c, OP_TANH, bin(c, OP_MUL, x, scalar(c, dt, f->beta), NULL)), scalar(c, dt, f->alpha), NULL);
	Op op = !strcmp(n, "LeakyRelu") ? OP_LEAKY_RELU : !strcmp(n, "HardSigmoid") ? OP_HARD_SIGMOID
		: !strcmp(n, "Elu") ? OP_ELU : !strcmp(n, "ThresholdedRelu") ? OP_THRESHOLDED_RELU : OP_COUNT;
	if (op == OP_COUNT || x < 0)
		return x < 0 ? -1 : (fail(c, "unsupported activation '%s'", n), -1);
	Attr a[2] = {ir_af("alpha", f->alpha), ir_af("beta", f->beta)};
	return emit(c, op, &x, 1, a, op == OP_HARD_SIGMOID ? 2 : 1, NULL);
}

/* The activations attribute, defaults filled in: nper per direction. */
static bool rnn_acts(Ctx *c, int dirs, int nper, const char *const *dflt, Act1 *out)
{
	const SrcAttr *a = sa_get(c->sn, "activations");
	int na = 0, nb = 0;
	const double *al = NULL, *be = NULL;
	const SrcAttr *aa = sa_get(c->sn, "activation_alpha"), *ab = sa_get(c->sn, "activation_beta");
	if (aa)
		al = aa->floats, na = aa->n;
	if (ab)
		be = ab->floats, nb = ab->n;
	if (a && a->n != dirs * nper)
		return fail(c, "activations lists %d functions, expected %d", a->n, dirs * nper);
	for (int i = 0; i < dirs * nper; i++) {
		const char *n = a ? a->strs[i] : dflt[i % nper];
		snprintf(out[i].name, sizeof out[i].name, "%s", n);
		/* ONNX defaults per function */
		bool hs = !strcmp(n, "HardSigmoid");
		out[i].alpha = i < na ? al[i] : hs ? 0.2 : !strcmp(n, "LeakyRelu") ? 0.01 : 1.0;
		out[i].beta = i < nb ? be[i] : hs ? 0.5 : 0.0;
	}
	return true;
}

/* t[d] of a [dirs, ...] tensor, without the leading axis. */
static ValueId dir_slice(Ctx *c, ValueId v, int d)
{
	const Type *t = vtype(c, v);
	int64_t st[IR_MAX_RANK] = {0}, sp[IR_MAX_RANK], n[IR_MAX_RANK], dims[IR_MAX_RANK];
	for (int i = 0; i < t->rank; i++)
		sp[i] = 1, n[i] = t->dims[i];
	st[0] = d;
	n[0] = 1;
	memcpy(dims, t->dims + 1, sizeof(int64_t) * (size_t)(t->rank - 1));
	return reshape_to(c, slice_of(c, v, st, sp, n, NULL), t->rank - 1, dims, NULL);
}

/* Columns [k*h, (k+1)*h) of a [b, G*h] matrix. */
static ValueId gate(Ctx *c, ValueId m, int k, int64_t h)
{
	const Type *t = vtype(c, m);
	int64_t st[2] = {0, k * h}, sp[2] = {1, 1}, n[2] = {t->dims[0], h};
	return slice_of(c, m, st, sp, n, NULL);
}

/* Concatenate vals along axis, 64 at a time. */
static ValueId concat_all(Ctx *c, ValueId *vals, int n, int64_t axis, const char *out_name)
{
	Attr a = ir_ai("axis", axis);
	while (n > 64) {
		int k = 0;
		for (int i = 0; i < n; i += 64) {
			int m = n - i < 64 ? n - i : 64;
			vals[k++] = m == 1 ? vals[i] : emit(c, OP_CONCAT, vals + i, m, &a, 1, NULL);
			if (vals[k - 1] < 0)
				return -1;
		}
		n = k;
	}
	if (n == 1)
		return emit(c, OP_IDENTITY, vals, 1, NULL, 0, out_name);
	return emit(c, OP_CONCAT, vals, n, &a, 1, out_name);
}

enum { CELL_RNN, CELL_GRU, CELL_LSTM };

static bool imp_rnn(Ctx *c, const ValueId *in, int nin)
{
	int cell = !strcmp(c->sn->op, "LSTM") ? CELL_LSTM : !strcmp(c->sn->op, "GRU") ? CELL_GRU : CELL_RNN;
	int G = cell == CELL_LSTM ? 4 : cell == CELL_GRU ? 3 : 1;
	if (!need_float(c, in[0], "X"))
		return false;
	const char *dir = sa_str(c->sn, "direction", "forward");
	bool bidi = !strcmp(dir, "bidirectional"), rev = !strcmp(dir, "reverse");
	if (!bidi && !rev && strcmp(dir, "forward"))
		return fail(c, "unknown direction '%s'", dir);
	int dirs = bidi ? 2 : 1;
	int64_t h = sa_int(c->sn, "hidden_size", 0), layout = sa_int(c->sn, "layout", 0);
	double clip = sa_float(c->sn, "clip", 0);
	bool coupled = sa_int(c->sn, "input_forget", 0) != 0, lbr = sa_int(c->sn, "linear_before_reset", 0) != 0;
	ValueId X = in[0];
	const Type *xt = vtype(c, X), *wt = vtype(c, in[1]);
	DType dt = xt->dt;
	if (xt->rank != 3 || wt->rank != 3 || wt->dims[0] != dirs)
		return fail(c, "X must be 3-D and W [%d, %d*hidden, input]", dirs, G);
	if (h <= 0)
		h = wt->dims[1] / G;
	if (wt->dims[1] != G * h)
		return fail(c, "W has %lld rows, expected %lld", (long long)wt->dims[1], (long long)(G * h));
	/* sequence_lens: steps past a batch's length leave its state alone and
	 * give zeros in Y; known to be all full, they are ignored. */
	ValueId lens = nin > 4 && in[4] >= 0 ? in[4] : -1;
	if (lens >= 0 && ir_value(c->g, lens)->kind == VAL_CONST) {
		const Type *lt = vtype(c, lens);
		bool full = true;
		for (int64_t i = 0; i < ir_type_numel(lt); i++)
			full &= load_elem(ir_value(c->g, lens)->data, lt->dt, i) == (double)(layout ? xt->dims[1] : xt->dims[0]);
		if (full)
			lens = -1;
	}
	if (layout) {  /* [b, seq, in] -> [seq, b, in] */
		int64_t p[3] = {1, 0, 2};
		Attr a = ir_aints("perm", p, 3);
		X = emit(c, OP_TRANSPOSE, &X, 1, &a, 1, NULL);
		if (X < 0)
			return false;
		xt = vtype(c, X);
	}
	int64_t S = xt->dims[0], Bt = xt->dims[1], In = xt->dims[2];
	static const char *const d_lstm[] = {"Sigmoid", "Tanh", "Tanh"}, *const d_gru[] = {"Sigmoid", "Tanh"},
				 *const d_rnn[] = {"Tanh"};
	int nper = cell == CELL_LSTM ? 3 : cell == CELL_GRU ? 2 : 1;
	Act1 acts[6];
	if (!rnn_acts(c, dirs, nper, cell == CELL_LSTM ? d_lstm : cell == CELL_GRU ? d_gru : d_rnn, acts))
		return false;
	if (S > 4096)
		return fail(c, "sequence of %lld steps is too long to unroll", (long long)S);
	ValueId *ys = malloc(sizeof(ValueId) * (size_t)(S * 2 + 1));
	if (!ys)
		return oom(c);
	ValueId yd[2], hlast[2], clast[2];
	int64_t x2[2] = {S * Bt, In};
	ValueId Xf = reshape_to(c, X, 2, x2, NULL);
	bool ok = Xf >= 0;
	ValueId Xfr = -1;  /* each batch's own steps reversed, for masked backward runs */
	if (lens >= 0 && (rev || bidi)) {
		Attr ra[2] = {ir_ai("batch_axis", 1), ir_ai("time_axis", 0)};
		ValueId rs[2] = {X, lens};
		Xfr = reshape_to(c, emit(c, OP_REVERSE_SEQUENCE, rs, 2, ra, 2, NULL), 2, x2, NULL);
		ok = Xfr >= 0;
	}
	for (int d = 0; ok && d < dirs; d++) {
		bool back = rev || d == 1;
		const Act1 *f = &acts[d * nper];
		ValueId Xin = Xf;
		if (back && lens >= 0) {  /* run forward over the reversed steps */
			Xin = Xfr;
			back = false;
		}
		ValueId W = dir_slice(c, in[1], d), R = dir_slice(c, in[2], d);
		ValueId wb = -1, rb = -1;
		if (nin > 3 && in[3] >= 0) {
			ValueId Bd = dir_slice(c, in[3], d);  /* [2*G*h]: Wb then Rb */
			int64_t s0 = 0, s1 = G * h, one = 1, n1 = G * h;
			wb = slice_of(c, Bd, &s0, &one, &n1, NULL);
			rb = slice_of(c, Bd, &s1, &one, &n1, NULL);
		}
		/* All input projections at once: [S*B, G*h] (+ Wb, and Rb when
		 * it is not needed separately). */
		Attr ga[4] = {ir_af("alpha", 1), ir_af("beta", 1), ir_ai("trans_a", 0), ir_ai("trans_b", 1)};
		ValueId bias = wb;
		if (wb >= 0 && cell != CELL_GRU)
			bias = bin(c, OP_ADD, wb, rb, NULL);
		ValueId gi[3] = {Xin, W, bias};
		ValueId XW = emit(c, OP_GEMM, gi, bias >= 0 ? 3 : 2, ga, 4, NULL);
		int64_t x3[3] = {S, Bt, G * h};
		XW = reshape_to(c, XW, 3, x3, NULL);
		ValueId H, C = -1;
		int64_t bh[2] = {Bt, h};
		if (nin > 5 && in[5] >= 0)
			H = dir_slice(c, in[5], d);
		else {
			void *z = ir_arena_alloc(c->g->arena, (size_t)(Bt * h * ir_dtype_size(dt)) + 1);
			TypeId ty = ir_type(c->g, dt, 2, bh, NULL);
			H = !z || ty < 0 ? -1 : ir_add_const(c->g, fresh_name(c, sn_base(c), "h0"), ty, z);
		}
		if (cell == CELL_LSTM) {
			if (nin > 6 && in[6] >= 0)
				C = dir_slice(c, in[6], d);
			else
				C = bin(c, OP_MUL, H, scalar(c, dt, 0), NULL);
		}
		ValueId P = nin > 7 && in[7] >= 0 ? dir_slice(c, in[7], d) : -1;
		ValueId Pi = -1, Po = -1, Pf = -1;
		if (P >= 0) {
			int64_t one = 1, n1 = h, s[3] = {0, h, 2 * h};
			Pi = slice_of(c, P, &s[0], &one, &n1, NULL);
			Po = slice_of(c, P, &s[1], &one, &n1, NULL);
			Pf = slice_of(c, P, &s[2], &one, &n1, NULL);
		}
		ValueId rbh = -1;
		if (cell == CELL_GRU && rb >= 0) {
			int64_t s2 = 2 * h, one = 1, n1 = h;
			rbh = slice_of(c, rb, &s2, &one, &n1, NULL);
		}
		for (int64_t k = 0; ok && k < S; k++) {
			int64_t t = back ? S - 1 - k : k;
			int64_t st[3] = {t, 0, 0}, sp[3] = {1, 1, 1}, n[3] = {1, Bt, G * h};
			ValueId xt_ = reshape_to(c, slice_of(c, XW, st, sp, n, NULL), 2, (int64_t[]){Bt, G * h}, NULL);
			ValueId Ht, Cold = C;
			if (cell == CELL_GRU) {
				/* z and r from x + H R^T (+ Rb); h from its own rule */
				ValueId hr[3] = {H, R, rb};
				ValueId HR = emit(c, OP_GEMM, hr, rb >= 0 ? 3 : 2, ga, 4, NULL);
				ValueId pre = bin(c, OP_ADD, xt_, HR, NULL);
				ValueId z = rnn_act(c, &f[0], gate(c, pre, 0, h));
				ValueId r = rnn_act(c, &f[0], gate(c, pre, 1, h));
				ValueId xh = gate(c, xt_, 2, h), hh;
				if (lbr) {
					hh = bin(c, OP_MUL, r, gate(c, HR, 2, h), NULL);
				} else {
					ValueId Rh = reshape_to(c, slice_of(c, R, (int64_t[]){2 * h, 0}, (int64_t[]){1, 1},
									  (int64_t[]){h, h}, NULL), 2, (int64_t[]){h, h}, NULL);
					ValueId rh[3] = {bin(c, OP_MUL, r, H, NULL), Rh, rbh};
					hh = emit(c, OP_GEMM, rh, rbh >= 0 ? 3 : 2, ga, 4, NULL);
				}
				ValueId cand = rnn_act(c, &f[1], bin(c, OP_ADD, xh, hh, NULL));
				/* H = (1 - z) * cand + z * H = cand + z * (H - cand) */
				Ht = bin(c, OP_ADD, cand, bin(c, OP_MUL, z, bin(c, OP_SUB, H, cand, NULL), NULL), NULL);
			} else {
				ValueId hr[2] = {H, R};
				ValueId pre = bin(c, OP_ADD, xt_, emit(c, OP_GEMM, hr, 2, ga, 4, NULL), NULL);
				if (clip > 0 && pre >= 0) {
					Attr ca[2] = {ir_af("min", -clip), ir_af("max", clip)};
					pre = emit(c, OP_CLIP, &pre, 1, ca, 2, NULL);
				}
				if (cell == CELL_RNN) {
					Ht = rnn_act(c, &f[0], pre);
				} else {
					ValueId gi_ = gate(c, pre, 0, h), go = gate(c, pre, 1, h), gf = gate(c, pre, 2, h), gc = gate(c, pre, 3, h);
					if (Pi >= 0) {
						gi_ = bin(c, OP_ADD, gi_, bin(c, OP_MUL, Pi, C, NULL), NULL);
						gf = bin(c, OP_ADD, gf, bin(c, OP_MUL, Pf, C, NULL), NULL);
					}
					ValueId it = rnn_act(c, &f[0], gi_);
					ValueId ft = coupled ? bin(c, OP_SUB, scalar(c, dt, 1), it, NULL) : rnn_act(c, &f[0], gf);
					ValueId ct = rnn_act(c, &f[1], gc);
					C = bin(c, OP_ADD, bin(c, OP_MUL, ft, C, NULL), bin(c, OP_MUL, it, ct, NULL), NULL);
					if (Po >= 0)
						go = bin(c, OP_ADD, go, bin(c, OP_MUL, Po, C, NULL), NULL);
					Ht = bin(c, OP_MUL, rnn_act(c, &f[0], go), rnn_act(c, &f[2], C), NULL);
				}
			}
			ValueId Yt = Ht;
			if (lens >= 0 && Ht >= 0) {
				/* m = t < lens[b]: past the end the state holds, Y is 0 */
				DType lt = vtype(c, lens)->dt;
				ValueId m = bin(c, OP_LESS, scalar(c, lt, (double)t), lens, NULL);
				m = reshape_to(c, m, 2, (int64_t[]){Bt, 1}, NULL);
				ValueId w1[3] = {m, Ht, H};
				Ht = emit(c, OP_WHERE, w1, 3, NULL, 0, NULL);
				if (cell == CELL_LSTM) {
					ValueId w2[3] = {m, C, Cold};
					C = emit(c, OP_WHERE, w2, 3, NULL, 0, NULL);
				}
				ValueId w3[3] = {m, Yt, scalar(c, dt, 0)};
				Yt = emit(c, OP_WHERE, w3, 3, NULL, 0, NULL);
			}
			H = Ht;
			ok = H >= 0 && Yt >= 0;
			ys[d * S + t] = ok ? reshape_to(c, Yt, 4, (int64_t[]){1, 1, Bt, h}, NULL) : -1;
			ok = ok && ys[d * S + t] >= 0;
		}
		hlast[d] = H;
		clast[d] = C;
		yd[d] = ok ? concat_all(c, ys + d * S, (int)S, 0, NULL) : -1;
		if (Xin == Xfr && yd[d] >= 0) {  /* put the reversed steps back in place */
			Attr ra[2] = {ir_ai("batch_axis", 1), ir_ai("time_axis", 0)};
			ValueId rs[2] = {reshape_to(c, yd[d], 3, (int64_t[]){S, Bt, h}, NULL), lens};
			yd[d] = reshape_to(c, rs[0] < 0 ? -1 : emit(c, OP_REVERSE_SEQUENCE, rs, 2, ra, 2, NULL), 4,
					   (int64_t[]){S, 1, Bt, h}, NULL);
		}
		ok = ok && yd[d] >= 0;
	}
	free(ys);
	if (!ok)
		return false;
	const char *const *out = (const char *const *)c->sn->out;
	int nout = c->sn->nout;
	/* Y [S, dirs, B, h] (layout 1: [B, S, dirs, h]) */
	if (nout > 0 && *out[0]) {
		ValueId Y = dirs == 2 ? concat_all(c, yd, 2, 1, layout ? NULL : out[0]) : emit(c, OP_IDENTITY, yd, 1, NULL, 0, layout ? NULL : out[0]);
		if (layout && Y >= 0) {
			Attr a = ir_aints("perm", (int64_t[]){2, 0, 1, 3}, 4);
			Y = emit(c, OP_TRANSPOSE, &Y, 1, &a, 1, out[0]);
		}
		if (!define_at(c, 0, Y))
			return false;
	}
	for (int o = 1; o < nout && o < (cell == CELL_LSTM ? 3 : 2); o++) {
		if (!*out[o])
			continue;
		ValueId *src = o == 1 ? hlast : clast, parts[2];
		for (int d = 0; d < dirs; d++)
			parts[d] = reshape_to(c, src[d], 3, (int64_t[]){1, Bt, h}, NULL);
		ValueId v = concat_all(c, parts, dirs, 0, layout ? NULL : out[o]);
		if (layout && v >= 0) {
			Attr a = ir_aints("perm", (int64_t[]){1, 0, 2}, 3);
			v = emit(c, OP_TRANSPOSE, &v, 1, &a, 1, out[o]);
		}
		if (!define_at(c, o, v))
			return false;
	}
	return true;
}

/* ---- more compositions ----------------------------------------------------------------------- */

/* Clip on integers: max then min with constants of the dtype. */
static bool clip_int(Ctx *c, ValueId x, double lo, double hi)
{
	DType dt = vtype(c, x)->dt;
	ValueId y = x;
	if (!isinf(lo))
		y = bin(c, OP_MAX, y, scalar(c, dt, lo), NULL);
	if (!isinf(hi))
		y = bin(c, OP_MIN, y, scalar(c, dt, hi), NULL);
	return define(c, y < 0 ? -1 : emit(c, OP_IDENTITY, &y, 1, NULL, 0, c->sn->out[0]));
}

/* HannWindow, HammingWindow, BlackmanWindow: constants of the given size. */
static bool imp_window(Ctx *c, const ValueId *in, int nin)
{
	double sz;
	if (!const_scalar(c, in[0], "size", &sz))
		return false;
	int64_t n = (int64_t)sz;
	if (n < 0 || n > (1 << 24))
		return fail(c, "window size %lld is out of range", (long long)n);
	DType dt = ir_dtype_from_onnx((int)sa_int(c->sn, "output_datatype", 1));
	if (dt == DT_UNDEF)
		return fail(c, "unsupported output_datatype");
	bool periodic = sa_int(c->sn, "periodic", 1) != 0;
	double den = (double)(periodic ? n : n - 1), a0, a1, a2 = 0;
	if (!strcmp(c->sn->op, "HannWindow"))
		a0 = 0.5, a1 = 0.5;
	else if (!strcmp(c->sn->op, "HammingWindow"))
		a0 = 25.0 / 46, a1 = 1 - 25.0 / 46;
	else
		a0 = 0.42, a1 = 0.5, a2 = 0.08;
	char *p = ir_arena_alloc(c->g->arena, (size_t)(n * ir_dtype_size(dt)) + 1);
	if (!p)
		return oom(c);
	for (int64_t i = 0; i < n; i++) {
		double t = den > 0 ? 2 * M_PI * (double)i / den : 0;
		src_store(p, dt, i, a0 - a1 * cos(t) + a2 * cos(2 * t));
	}
	return define_const(c, dt, 1, &n, p);
}

/* CenterCropPad: per listed axis, crop or zero-pad symmetrically to the
 * target size (the extra element goes to the end when cropping and to the
 * end when padding, as the ONNX function does). */
static bool imp_center_crop_pad(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int r = t->rank;
	int64_t sh[IR_MAX_RANK + 1];
	int ns, na = r;
	if (!const_ints(c, in[1], "shape", sh, IR_MAX_RANK, &ns))
		return false;
	int64_t axes[IR_MAX_RANK];
	const int64_t *aa = sa_ints(c->sn, "axes", &na);
	if (!aa)
		na = r;
	if (na != ns || na > r)
		return fail(c, "%d axes for %d target sizes", na, ns);
	int64_t start[IR_MAX_RANK] = {0}, step[IR_MAX_RANK], count[IR_MAX_RANK], pads[2 * IR_MAX_RANK] = {0};
	for (int i = 0; i < r; i++)
		step[i] = 1, count[i] = t->dims[i];
	bool pad = false;
	for (int i = 0; i < na; i++) {
		axes[i] = aa ? aa[i] : i;
		if (!norm_axis(c, &axes[i], r, "axis"))
			return false;
		int64_t a = axes[i], d = t->dims[a], want = sh[i];
		if (want < 0)
			return fail(c, "target size %lld is negative", (long long)want);
		if (want < d) {
			start[a] = (d - want) / 2;
			count[a] = want;
		} else if (want > d) {
			pads[a] = (want - d) / 2;
			pads[r + a] = want - d - pads[a];
			pad = true;
		}
	}
	ValueId y = slice_of(c, in[0], start, step, count, pad ? NULL : c->sn->out[0]);
	if (pad && y >= 0) {
		Attr a[2] = {ir_aints("pads", pads, 2 * r), ir_af("value", 0)};
		y = emit(c, OP_PAD, &y, 1, a, 2, c->sn->out[0]);
	}
	return define(c, y);
}

/* LRN: x / (bias + alpha/size * sum of x^2 over a channel window)^beta; the
 * window sum is an average pool over channels with the padding counted. */
static bool imp_lrn(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	if (!need_float(c, in[0], "the input") || t->rank < 3)
		return t->rank < 3 ? fail(c, "input must have rank >= 3") : false;
	int64_t size = sa_int(c->sn, "size", 0);
	if (size < 1)
		return fail(c, "size must be positive");
	double alpha = sa_float(c->sn, "alpha", 1e-4), beta = sa_float(c->sn, "beta", 0.75), bias = sa_float(c->sn, "bias", 1);
	int64_t N = t->dims[0], C = t->dims[1], rest = ir_type_numel(t) / (N * C), orig[IR_MAX_RANK];
	memcpy(orig, t->dims, sizeof orig);
	DType dt = t->dt;
	ValueId sq = bin(c, OP_MUL, in[0], in[0], NULL);
	ValueId s4 = reshape_to(c, sq, 4, (int64_t[]){N, 1, C, rest}, NULL);
	int64_t k[2] = {size, 1}, st[2] = {1, 1}, dl[2] = {1, 1}, pd[4] = {(size - 1) / 2, 0, size - 1 - (size - 1) / 2, 0};
	Attr a[6] = {ir_aints("kernel", k, 2), ir_aints("strides", st, 2), ir_aints("pads", pd, 4),
		     ir_aints("dilations", dl, 2), ir_ai("ceil_mode", 0), ir_ai("count_include_pad", 1)};
	ValueId avg = s4 < 0 ? -1 : emit(c, OP_AVGPOOL, &s4, 1, a, 6, NULL);
	ValueId sum = reshape_to(c, avg, t->rank, orig, NULL);
	/* avg = sum/size, so alpha/size * sum = alpha * avg */
	ValueId base = bin(c, OP_ADD, bin(c, OP_MUL, sum, scalar(c, dt, alpha), NULL), scalar(c, dt, bias), NULL);
	ValueId den = bin(c, OP_POW, base, scalar(c, dt, beta), NULL);
	return define(c, bin(c, OP_DIV, in[0], den, c->sn->out[0]));
}

/* Einsum: the equation relabelled to an explicit lowercase form (letters
 * in order of appearance, '...' expanded to fresh letters, the implicit
 * result made explicit) so the IR carries one canonical spelling. */
static bool imp_einsum(Ctx *c, const ValueId *in, int nin)
{
	const char *eq = sa_str(c->sn, "equation", "");
	char map[128] = {0}, next = 'a', ell[IR_MAX_RANK + 1] = "", out[64] = "", canon[256];
	int count[128] = {0}, nell = 0, k = 0, pos = 0;
	const char *arrow = strstr(eq, "->");
	size_t lhs = arrow ? (size_t)(arrow - eq) : strlen(eq);
	char ops[8][64] = {{0}};
	int nops = 0, n = 0;
	for (size_t i = 0; i <= lhs; i++) {
		char ch = i < lhs ? eq[i] : ',';
		if (ch == ' ')
			continue;
		if (ch == ',') {
			if (nops == 8)
				return fail(c, "more than 8 operands");
			ops[nops][n] = 0;
			if (nops >= nin)
				return fail(c, "the equation has more terms than the %d inputs", nin);
			/* '...' stands for the dims the letters leave over */
			char *dots = strstr(ops[nops], "...");
			if (dots) {
				int r = vtype(c, in[nops])->rank, explicit = n - 3, m = r - explicit;
				if (m < 0 || (nell && m != nell))
					return fail(c, "'...' covers different numbers of axes");
				if (!nell)
					for (; nell < m; nell++) {
						if (next > 'z')
							return fail(c, "too many distinct letters");
						ell[nell] = next++;
					}
				char buf[64];
				snprintf(buf, sizeof buf, "%.*s%.*s%s", (int)(dots - ops[nops]), ops[nops], nell, ell, dots + 3);
				snprintf(ops[nops], sizeof ops[nops], "%s", buf);
			}
			nops++;
			n = 0;
			continue;
		}
		if (ch == '.') {
			if (n + 1 < 64)
				ops[nops][n++] = '.';
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
			return fail(c, "bad character '%c' in equation '%s'", ch, eq);
		if (!map[(int)ch]) {
			if (next > 'z')
				return fail(c, "too many distinct letters");
			map[(int)ch] = next++;
		}
		if (n + 1 < 64)
			ops[nops][n++] = map[(int)ch];
		count[(int)map[(int)ch]]++;
	}
	if (nops != nin)
		return fail(c, "the equation has %d terms for %d inputs", nops, nin);
	if (arrow) {
		for (const char *p = arrow + 2; *p; p++) {
			if (*p == ' ')
				continue;
			if (*p == '.' && !strncmp(p, "...", 3)) {
				for (int i = 0; i < nell && pos < 60; i++)
					out[pos++] = ell[i];
				p += 2;
			} else if (*p > 0 && map[(int)*p] && pos < 60) {
				out[pos++] = map[(int)*p];
			} else {
				return fail(c, "result letter '%c' is in no input", *p);
			}
		}
	} else {
		/* implicit form: '...' first, then the letters used once, in the
		 * alphabetical order of the original spelling */
		for (int i = 0; i < nell; i++)
			out[pos++] = ell[i];
		for (int ch = 'A'; ch <= 'z'; ch++)
			if (map[ch] && count[(int)map[ch]] == 1)
				out[pos++] = map[ch];
	}
	out[pos] = 0;
	for (int i = 0; i < nops; i++)
		k += snprintf(canon + k, sizeof canon - k, "%s%s", i ? "," : "", ops[i]);
	snprintf(canon + k, sizeof canon - k, "->%s", out);
	Attr a = ir_astr("eq", canon);
	return emit_out(c, OP_EINSUM, in, nin, &a, 1);
}

/* Compress with a condition known at compile time: a Gather of the kept
 * positions.  (A condition computed at run time would make the result's
 * shape depend on data, which a static plan cannot hold.) */
static bool imp_compress(Ctx *c, const ValueId *in, int nin)
{
	const Value *cv = const_val(c, in[1], "the condition (its length sets the result's shape)");
	if (!cv)
		return false;
	const Type *t = vtype(c, in[0]), *ct = vtype(c, in[1]);
	ValueId x = in[0];
	int64_t axis = 0, len;
	if (sa_get(c->sn, "axis")) {
		axis = sa_int(c->sn, "axis", 0);
		if (!norm_axis(c, &axis, t->rank, "axis"))
			return false;
		len = t->dims[axis];
	} else {
		len = ir_type_numel(t);
		x = reshape_to(c, x, 1, &len, NULL);
	}
	int64_t n = ir_type_numel(ct);
	if (ct->rank != 1 || n > len)
		return fail(c, "the condition must be 1-D and at most %lld long", (long long)len);
	int64_t *idx = ir_arena_alloc(c->g->arena, (size_t)(n + 1) * sizeof *idx), k = 0;
	if (!idx)
		return oom(c);
	for (int64_t i = 0; i < n; i++)
		if (load_elem(cv->data, ct->dt, i) != 0)
			idx[k++] = i;
	TypeId ty = ir_type(c->g, DT_I64, 1, &k, NULL);
	const char *name = fresh_name(c, sn_base(c), "kept");
	ValueId iv = ty < 0 || !name ? -1 : ir_add_const(c->g, name, ty, idx);
	if (iv < 0)
		return oom(c);
	Attr a = ir_ai("axis", axis);
	ValueId g[2] = {x, iv};
	return x >= 0 && emit_out(c, OP_GATHER, g, 2, &a, 1);
}

static bool imp_conv_integer(Ctx *c, const ValueId *in, int nin)
{
	int r = vtype(c, in[1])->rank;
	ValueId x = to_f32(c, in[0]), w = to_f32(c, in[1]);
	if (nin > 2 && in[2] >= 0)
		x = bin(c, OP_SUB, x, to_f32(c, in[2]), NULL);
	if (nin > 3 && in[3] >= 0)
		w = bin(c, OP_SUB, w, to_f32(c, along_axis(c, in[3], r, 0)), NULL);
	ValueId cv[2] = {x, w};
	ValueId y = x < 0 || w < 0 ? -1 : conv_of(c, cv, 2, NULL);
	return define(c, y < 0 ? -1 : cast_to(c, y, DT_I32, c->sn->out[0]));
}

static bool imp_qlinear_conv(Ctx *c, const ValueId *in, int nin)
{
	ValueId x = dequant(c, in[0], in[1], in[2], 1);
	ValueId w = dequant(c, in[3], in[4], in[5], 0);
	ValueId cv[3] = {x, w, -1};
	int n = 2;
	if (nin > 8 && in[8] >= 0) {  /* int32 bias at scale x_scale * w_scale */
		ValueId sc = bin(c, OP_MUL, to_f32(c, in[1]), to_f32(c, in[4]), NULL);
		if (ir_type_numel(vtype(c, in[4])) > 1 && sc >= 0)
			sc = reshape_to(c, sc, 1, (int64_t[]){ir_type_numel(vtype(c, in[4]))}, NULL);
		cv[2] = bin(c, OP_MUL, to_f32(c, in[8]), sc, NULL);
		n = 3;
	}
	ValueId y = x < 0 || w < 0 ? -1 : conv_of(c, cv, n, NULL);
	return define(c, y < 0 ? -1 : quant(c, y, in[6], in[7], 1, vtype(c, in[7])->dt, true, c->sn->out[0]));
}

/* DFT as two matrix products with constant cos/sin tables: the signal
 * axis moved last, real and imaginary parts multiplied by [N, K] matrices,
 * the parts stacked again on the trailing axis of 2. */
static ValueId dft_of(Ctx *c, ValueId x, int64_t axis, int64_t N, bool inv, bool one, const char *out_name);

static bool imp_dft(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	int r = t->rank;
	if (!need_float(c, in[0], "the input") || r < 3 || (t->dims[r - 1] != 1 && t->dims[r - 1] != 2))
		return r < 3 || ir_dtype_is_float(t->dt) ? fail(c, "input must be [batch, ..., signal, 1 or 2]") : false;
	int64_t axis = c->opset >= 20 ? -2 : sa_int(c->sn, "axis", 1);
	double v;
	if (c->opset >= 20 && nin > 2 && in[2] >= 0) {
		if (!const_scalar(c, in[2], "axis", &v))
			return false;
		axis = (int64_t)v;
	}
	if (!norm_axis(c, &axis, r, "axis") || axis == 0 || axis == r - 1)
		return axis == 0 || axis == r - 1 ? fail(c, "axis must be a signal axis, not batch or the complex axis") : false;
	int64_t n = t->dims[axis], N = n;
	if (nin > 1 && in[1] >= 0) {
		if (!const_scalar(c, in[1], "dft_length", &v))
			return false;
		N = (int64_t)v;
	}
	return define(c, dft_of(c, in[0], axis, N, sa_int(c->sn, "inverse", 0) != 0, sa_int(c->sn, "onesided", 0) != 0,
				c->sn->out[0]));
}

/* The DFT of x [.., n (at axis), .., 1|2] at length N: [.., K, .., 2]. */
static ValueId dft_of(Ctx *c, ValueId x, int64_t axis, int64_t N, bool inv, bool one, const char *out_name)
{
	const Type *t = vtype(c, x);
	int r = t->rank;
	int64_t n = t->dims[axis];
	int64_t K = one ? N / 2 + 1 : N;
	if (N < 1 || N > 4096 || (inv && one))
		return fail_v(c, "unsupported dft_length %lld or inverse with onesided", (long long)N);
	DType dt = t->dt;
	/* [.., n, .., 2] -> [.., .., 2, n]: the signal last, parts before it */
	int64_t perm[IR_MAX_RANK], back[IR_MAX_RANK];
	int k = 0;
	for (int i = 0; i < r - 1; i++)
		if (i != axis)
			perm[k++] = i;
	perm[k++] = r - 1;
	perm[k++] = axis;
	Attr pa = ir_aints("perm", perm, r);
	ValueId xt = emit(c, OP_TRANSPOSE, &x, 1, &pa, 1, NULL);
	if (xt < 0)
		return -1;
	const Type *tt = vtype(c, xt);
	int64_t lead = ir_type_numel(tt) / (t->dims[r - 1] * n), parts = t->dims[r - 1];
	ValueId x3 = reshape_to(c, xt, 3, (int64_t[]){lead, parts, n}, NULL);
	/* pad or cut the signal to N */
	if (N != n && x3 >= 0) {
		if (N < n)
			x3 = slice_of(c, x3, (int64_t[]){0, 0, 0}, (int64_t[]){1, 1, 1}, (int64_t[]){lead, parts, N}, NULL);
		else {
			Attr a[2] = {ir_aints("pads", (int64_t[]){0, 0, 0, 0, 0, N - n}, 6), ir_af("value", 0)};
			x3 = emit(c, OP_PAD, &x3, 1, a, 2, NULL);
		}
	}
	ValueId xr = slice_of(c, x3, (int64_t[]){0, 0, 0}, (int64_t[]){1, 1, 1}, (int64_t[]){lead, 1, N}, NULL);
	xr = reshape_to(c, xr, 2, (int64_t[]){lead, N}, NULL);
	ValueId xi = -1;
	if (parts == 2) {
		xi = slice_of(c, x3, (int64_t[]){0, 1, 0}, (int64_t[]){1, 1, 1}, (int64_t[]){lead, 1, N}, NULL);
		xi = reshape_to(c, xi, 2, (int64_t[]){lead, N}, NULL);
	}
	/* C[n][k] = cos(2 pi n k / N), S = sin; forward: e^{-i...} */
	TypeId mt = ir_type(c->g, dt, 2, (int64_t[]){N, K}, NULL);
	char *cm = ir_arena_alloc(c->g->arena, (size_t)(N * K * ir_dtype_size(dt)) + 1);
	char *sm = ir_arena_alloc(c->g->arena, (size_t)(N * K * ir_dtype_size(dt)) + 1);
	if (mt < 0 || !cm || !sm)
		return oom(c), -1;
	double scale = inv ? 1.0 / (double)N : 1;
	for (int64_t a = 0; a < N; a++)
		for (int64_t b = 0; b < K; b++) {
			double ang = 2 * M_PI * (double)((a * b) % N) / (double)N;
			src_store(cm, dt, a * K + b, cos(ang) * scale);
			src_store(sm, dt, a * K + b, (inv ? sin(ang) : -sin(ang)) * scale);
		}
	ValueId C = ir_add_const(c->g, fresh_name(c, sn_base(c), "cos"), mt, cm);
	ValueId S = ir_add_const(c->g, fresh_name(c, sn_base(c), "sin"), mt, sm);
	if (C < 0 || S < 0)
		return oom(c), -1;
	/* (xr + i xi)(C + i S) */
	ValueId yr = bin(c, OP_MATMUL, xr, C, NULL), yi = bin(c, OP_MATMUL, xr, S, NULL);
	if (xi >= 0) {
		yr = bin(c, OP_SUB, yr, bin(c, OP_MATMUL, xi, S, NULL), NULL);
		yi = bin(c, OP_ADD, yi, bin(c, OP_MATMUL, xi, C, NULL), NULL);
	}
	ValueId st[2] = {reshape_to(c, yr, 3, (int64_t[]){lead, 1, K}, NULL), reshape_to(c, yi, 3, (int64_t[]){lead, 1, K}, NULL)};
	Attr ca = ir_ai("axis", 1);
	ValueId y = st[0] < 0 || st[1] < 0 ? -1 : emit(c, OP_CONCAT, st, 2, &ca, 1, NULL);
	/* back to [.., K, .., 2] */
	int64_t dims[IR_MAX_RANK];
	for (int i = 0; i < r; i++)
		dims[i] = tt->dims[i];
	dims[r - 2] = 2;
	dims[r - 1] = K;
	y = reshape_to(c, y, r, dims, NULL);
	for (int i = 0; i < r; i++)
		back[perm[i]] = i;
	Attr ba = ir_aints("perm", back, r);
	return y < 0 ? -1 : emit(c, OP_TRANSPOSE, &y, 1, &ba, 1, out_name);
}

/* Optionals of plain tensors: a present tensor is the value itself, an
 * omitted input is "empty".  (Optional-typed graph values are out of scope.) */
static bool imp_optional_has(Ctx *c, const ValueId *in, int nin)
{
	unsigned char has = nin > 0 && in[0] >= 0;
	return define_const(c, DT_BOOL, 0, NULL, &has);
}

static bool imp_optional_get(Ctx *c, const ValueId *in, int nin)
{
	return emit_out(c, OP_IDENTITY, in, 1, NULL, 0);
}

static bool imp_optional(Ctx *c, const ValueId *in, int nin)
{
	if (nin < 1 || in[0] < 0)
		return fail(c, "an empty optional has no tensor value; kiln supports only optionals holding a tensor");
	return emit_out(c, OP_IDENTITY, in, 1, NULL, 0);
}

/* BatchNormalization with training_mode: normalized by the batch's own
 * statistics; outputs 1 and 2 are the updated running mean and variance. */
static bool imp_batchnorm_training(Ctx *c, const ValueId *in)
{
	const Type *t = vtype(c, in[0]);
	int r = t->rank;
	if (r < 2)
		return fail(c, "input must have rank >= 2");
	int64_t axes[IR_MAX_RANK];
	int k = 0;
	for (int i = 0; i < r; i++)
		if (i != 1)
			axes[k++] = i;
	DType dt = t->dt;
	double eps = sa_float(c->sn, "epsilon", 1e-5), mom = sa_float(c->sn, "momentum", 0.9);
	ValueId mean = reduce_axes(c, OP_REDUCE_MEAN, in[0], axes, k, true, NULL);
	ValueId d = bin(c, OP_SUB, in[0], mean, NULL);
	ValueId var = reduce_axes(c, OP_REDUCE_MEAN, bin(c, OP_MUL, d, d, NULL), axes, k, true, NULL);
	ValueId sd = un(c, OP_SQRT, bin(c, OP_ADD, var, scalar(c, dt, eps), NULL));
	ValueId y = bin(c, OP_MUL, bin(c, OP_DIV, d, sd, NULL), per_channel(c, in[1], r), NULL);
	if (!define(c, bin(c, OP_ADD, y, per_channel(c, in[2], r), c->sn->out[0])))
		return false;
	int64_t C = t->dims[1];
	ValueId cur[2] = {reshape_to(c, mean, 1, &C, NULL), reshape_to(c, var, 1, &C, NULL)};
	for (int o = 1; o < 3 && o < c->sn->nout; o++) {
		if (!*c->sn->out[o])
			continue;
		ValueId run = bin(c, OP_MUL, in[2 + o], scalar(c, dt, mom), NULL);
		ValueId upd = bin(c, OP_ADD, run, bin(c, OP_MUL, cur[o - 1], scalar(c, dt, 1 - mom), NULL), c->sn->out[o]);
		if (!define_at(c, o, upd))
			return false;
	}
	return true;
}

static bool imp_col2im(Ctx *c, const ValueId *in, int nin)
{
	int64_t img[IR_MAX_RANK + 1], blk[IR_MAX_RANK + 1];
	int ni, nb;
	if (!need_float(c, in[0], "the input") || !const_ints(c, in[1], "image_shape", img, IR_MAX_RANK - 2, &ni) ||
	    !const_ints(c, in[2], "block_shape", blk, IR_MAX_RANK - 2, &nb))
		return false;
	if (ni != nb || ni < 1)
		return fail(c, "image_shape and block_shape differ in length");
	int64_t s[IR_MAX_RANK], dil[IR_MAX_RANK], pads[2 * IR_MAX_RANK] = {0};
	if (!spatial_ints(c, "strides", ni, s) || !spatial_ints(c, "dilations", ni, dil))
		return false;
	int n;
	const int64_t *p = sa_ints(c->sn, "pads", &n);
	if (p && n != 2 * ni)
		return fail(c, "pads has %d values, expected %d", n, 2 * ni);
	for (int i = 0; p && i < n; i++)
		pads[i] = p[i];
	Attr a[5] = {ir_aints("dims", img, ni), ir_aints("block", blk, ni), ir_aints("strides", s, ni),
		     ir_aints("pads", pads, 2 * ni), ir_aints("dilations", dil, ni)};
	return emit_out(c, OP_COL2IM, in, 1, a, 5);
}

/* TfIdfVectorizer over integer tokens: the pool's n-grams of the counted
 * sizes become rows of a table (padded to the longest), each with its
 * output column. */
static bool imp_tfidf(Ctx *c, const ValueId *in, int nin)
{
	int np, nc, ni, nw = 0;
	const int64_t *pool = sa_ints(c->sn, "pool_int64s", &np), *counts = sa_ints(c->sn, "ngram_counts", &nc);
	const int64_t *index = sa_ints(c->sn, "ngram_indexes", &ni);
	const SrcAttr *wa = sa_get(c->sn, "weights");
	int64_t lo = sa_int(c->sn, "min_gram_length", 1), hi = sa_int(c->sn, "max_gram_length", 1);
	int64_t skip = sa_int(c->sn, "max_skip_count", 0);
	const char *m = sa_str(c->sn, "mode", "TF");
	int64_t mode = !strcmp(m, "TF") ? 0 : !strcmp(m, "IDF") ? 1 : !strcmp(m, "TFIDF") ? 2 : -1;
	if (!pool || !counts || !index)
		return fail(c, "pool_int64s, ngram_counts and ngram_indexes are required (string pools are not supported)");
	if (mode < 0 || lo < 1 || hi < lo || hi > 64 || skip < 0)
		return fail(c, "bad mode, gram lengths or max_skip_count");
	int64_t width = 0;
	for (int i = 0; i < ni; i++)
		width = index[i] + 1 > width ? index[i] + 1 : width;
	int64_t *grams = ir_arena_alloc(c->g->arena, (size_t)(np * hi + 1) * sizeof *grams);
	int64_t *sizes = ir_arena_alloc(c->g->arena, (size_t)(np + 1) * sizeof *sizes);
	int64_t *outix = ir_arena_alloc(c->g->arena, (size_t)(np + 1) * sizeof *outix);
	if (!grams || !sizes || !outix)
		return oom(c);
	int G = 0, id = 0;
	for (int i = 0; i < nc; i++) {
		int64_t n = i + 1, start = counts[i], end = i + 1 < nc ? counts[i + 1] : np;
		if (start < 0 || end > np || end < start || (end - start) % n)
			return fail(c, "ngram_counts do not split the pool into %lld-grams", (long long)n);
		for (int64_t p = start; p < end; p += n, id++) {
			if (id >= ni)
				return fail(c, "fewer ngram_indexes than n-grams");
			if (n < lo || n > hi)
				continue;
			for (int64_t k = 0; k < hi; k++)
				grams[G * hi + k] = k < n ? pool[p + k] : 0;
			sizes[G] = n;
			outix[G++] = index[id];
		}
	}
	double *w = NULL;
	if (wa && wa->kind == SA_FLOATS && wa->n) {
		nw = wa->n;
		w = wa->floats;
	}
	if (G == 0)
		return fail(c, "no n-gram of the counted lengths");
	Attr a[8] = {ir_aints("grams", grams, G * (int)hi), ir_aints("sizes", sizes, G), ir_aints("index", outix, G),
		     ir_afloats("weights", w, nw), ir_ai("width", width), ir_ai("maxn", hi), ir_ai("skip", skip),
		     ir_ai("mode", mode)};
	return emit_out(c, OP_TFIDF, in, 1, a, 8);
}

/* STFT: frames gathered with a constant index table, weighted by the
 * window, then the DFT of each frame. */
static bool imp_stft(Ctx *c, const ValueId *in, int nin)
{
	const Type *t = vtype(c, in[0]);
	double v;
	if (!need_float(c, in[0], "the signal") || t->rank != 3 || (t->dims[2] != 1 && t->dims[2] != 2))
		return t->rank != 3 ? fail(c, "signal must be [batch, length, 1 or 2]") : false;
	if (!const_scalar(c, in[1], "frame_step", &v))
		return false;
	int64_t step = (int64_t)v, L = t->dims[1], W = -1, flen = -1;
	bool win = nin > 2 && in[2] >= 0;
	if (win)
		W = ir_type_numel(vtype(c, in[2]));
	if (nin > 3 && in[3] >= 0) {
		if (!const_scalar(c, in[3], "frame_length", &v))
			return false;
		flen = (int64_t)v;
	}
	if (flen < 0)
		flen = W;
	if (W < 0)
		W = flen;
	if (step < 1 || flen < 1 || W != flen || flen > L)
		return fail(c, "frame_step, window and frame_length do not fit the signal");
	int64_t frames = 1 + (L - flen) / step;
	int64_t *idx = ir_arena_alloc(c->g->arena, (size_t)(frames * W + 1) * sizeof *idx);
	if (!idx)
		return oom(c);
	for (int64_t f = 0; f < frames; f++)
		for (int64_t w = 0; w < W; w++)
			idx[f * W + w] = f * step + w;
	TypeId ty = ir_type(c->g, DT_I64, 2, (int64_t[]){frames, W}, NULL);
	ValueId iv = ty < 0 ? -1 : ir_add_const(c->g, fresh_name(c, sn_base(c), "frames"), ty, idx);
	if (iv < 0)
		return oom(c);
	Attr a = ir_ai("axis", 1);
	ValueId g[2] = {in[0], iv};
	ValueId x = emit(c, OP_GATHER, g, 2, &a, 1, NULL);  /* [B, frames, W, parts] */
	if (win)
		x = bin(c, OP_MUL, x, reshape_to(c, in[2], 4, (int64_t[]){1, 1, W, 1}, NULL), NULL);
	return x >= 0 && define(c, dft_of(c, x, 2, flen, false, sa_int(c->sn, "onesided", 1) != 0, c->sn->out[0]));
}

/* MelWeightMatrix: the triangular mel filter bank, a constant. */
static bool imp_mel(Ctx *c, const ValueId *in, int nin)
{
	double v[5];
	const char *what[5] = {"num_mel_bins", "dft_length", "sample_rate", "lower_edge_hertz", "upper_edge_hertz"};
	for (int i = 0; i < 5; i++)
		if (!const_scalar(c, in[i], what[i], &v[i]))
			return false;
	int64_t bins = (int64_t)v[0], dftl = (int64_t)v[1], rate = (int64_t)v[2];
	double lo = v[3], hi = v[4];
	DType dt = ir_dtype_from_onnx((int)sa_int(c->sn, "output_datatype", 1));
	int64_t nspec = dftl / 2 + 1;
	if (bins < 1 || dftl < 1 || rate < 1 || bins > 4096 || nspec > 65536 || dt == DT_UNDEF || !(hi > lo))
		return fail(c, "bad mel parameters");
	/* ONNX's reference: bin edges on the mel scale, mapped to FFT bins and
	 * truncated to integers; triangles between consecutive edges. */
	int64_t *fb = calloc((size_t)bins + 2, sizeof *fb);
	char *p = ir_arena_alloc(c->g->arena, (size_t)(nspec * bins * ir_dtype_size(dt)) + 1);
	if (!fb || !p) {
		free(fb);
		return oom(c);
	}
	/* the reference steps by (mhi - mlo) / (bins + 2) and floors */
	double mlo = 2595 * log10(1 + lo / 700), mhi = 2595 * log10(1 + hi / 700);
	for (int64_t i = 0; i < bins + 2; i++) {
		double m = mlo + (mhi - mlo) / (double)(bins + 2) * (double)i;
		double hz = 700 * (pow(10, m / 2595) - 1);
		fb[i] = (int64_t)floor((double)(dftl + 1) * hz / (double)rate);
	}
	bool ok = true;
	for (int64_t i = 0; i < bins + 2; i++)
		ok &= fb[i] >= 0 && fb[i] < nspec;
	for (int64_t i = 0; ok && i < bins; i++) {
		int64_t l = fb[i], ctr = fb[i + 1], r = fb[i + 2];
		if (ctr == l)
			src_store(p, dt, ctr * bins + i, 1);
		for (int64_t j = l; ctr > l && j <= ctr; j++)
			src_store(p, dt, j * bins + i, (double)(j - l) / (double)(ctr - l));
		for (int64_t j = ctr; r > ctr && j < r; j++)
			src_store(p, dt, j * bins + i, (double)(r - j) / (double)(r - ctr));
	}
	if (!ok) {
		free(fb);
		return fail(c, "the mel edges fall outside the %lld spectrogram bins", (long long)nspec);
	}
	free(fb);
	return define_const(c, dt, 2, (int64_t[]){nspec, bins}, p);
}

static bool imp_det(Ctx *c, const ValueId *in, int nin)
{
	return need_float(c, in[0], "the input") && emit_out(c, OP_DET, in, 1, NULL, 0);
}

/* ai.onnx.ml: Binarizer and ArrayFeatureExtractor. */
static bool imp_binarizer(Ctx *c, const ValueId *in, int nin)
{
	DType dt = vtype(c, in[0])->dt;
	ValueId gt = bin(c, OP_GREATER, in[0], scalar(c, dt, sa_float(c->sn, "threshold", 0)), NULL);
	return define(c, gt < 0 ? -1 : cast_to(c, gt, dt, c->sn->out[0]));
}

static bool imp_array_feature_extractor(Ctx *c, const ValueId *in, int nin)
{
	int r = vtype(c, in[0])->rank;
	if (r < 1)
		return fail(c, "input must have rank >= 1");
	Attr a = ir_ai("axis", r - 1);
	return emit_out(c, OP_GATHER, in, 2, &a, 1);
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
	bool multi_out;      /* the importer binds every output, not only the first */
	const char *domain;  /* NULL: the default domain; else e.g. "ai.onnx.ml" */
} OpSpec;

#define CONV_ATTRS {"kernel_shape", SA_INTS}, {"strides", SA_INTS}, {"pads", SA_INTS}, \
	{"dilations", SA_INTS}, {"group", SA_INT}, {"auto_pad", SA_STRING}

#define RNN_ATTRS_COMMON {"activation_alpha", SA_FLOATS}, {"activation_beta", SA_FLOATS}, \
	{"activations", SA_STRINGS}, {"clip", SA_FLOAT}, {"direction", SA_STRING}, {"hidden_size", SA_INT}
#define RNN_ATTRS {RNN_ATTRS_COMMON, {"layout", SA_INT, 14, 0}}

static bool imp_if(Ctx *c, const ValueId *in, int nin);

static const OpSpec op_table[] = {
	{"If", 7, 22, 1, 1, 64, 0, imp_if, {{"then_branch", SA_GRAPH}, {"else_branch", SA_GRAPH}}, true},
	{"RNN", 7, 22, 3, 6, 2, 0, imp_rnn, RNN_ATTRS, true},
	{"GRU", 7, 22, 3, 6, 2, 0, imp_rnn, {RNN_ATTRS_COMMON, {"linear_before_reset", SA_INT}, {"layout", SA_INT, 14, 0}}, true},
	{"LSTM", 7, 22, 3, 8, 3, 0, imp_rnn, {RNN_ATTRS_COMMON, {"input_forget", SA_INT}, {"layout", SA_INT, 14, 0}}, true},
	{"QuantizeLinear", 10, 22, 2, 3, 1, 0, imp_quantize,
	 {{"axis", SA_INT, 13, 0}, {"saturate", SA_INT, 19, 0}, {"block_size", SA_INT, 21, 0}, {"output_dtype", SA_INT, 21, 0}}},
	{"DequantizeLinear", 10, 22, 2, 3, 1, 0, imp_dequantize, {{"axis", SA_INT, 13, 0}, {"block_size", SA_INT, 21, 0}}},
	{"DynamicQuantizeLinear", 11, 22, 1, 1, 3, 0, imp_dynamic_quantize, {{0}}, true},
	{"QLinearMatMul", 10, 22, 8, 8, 1, 0, imp_qlinear_matmul},
	{"MatMulInteger", 10, 22, 2, 4, 1, 0, imp_matmul_integer},
	{"Resize", 10, 10, 2, 2, 1, 2, imp_resize, {{"mode", SA_STRING}}},
	{"Resize", 11, 22, 1, 4, 1, 14, imp_resize,
	 {{"mode", SA_STRING}, {"coordinate_transformation_mode", SA_STRING}, {"nearest_mode", SA_STRING},
	  {"cubic_coeff_a", SA_FLOAT}, {"exclude_outside", SA_INT}, {"extrapolation_value", SA_FLOAT},
	  {"antialias", SA_INT, 18, 0}, {"axes", SA_INTS, 18, 0}, {"keep_aspect_ratio_policy", SA_STRING, 18, 0}}},
	{"Upsample", 7, 8, 1, 1, 1, 0, imp_upsample, {{"mode", SA_STRING}, {"scales", SA_FLOATS}}},
	{"Upsample", 9, 9, 2, 2, 1, 2, imp_upsample, {{"mode", SA_STRING}}},
	{"NegativeLogLikelihoodLoss", 12, 22, 2, 3, 1, 0, imp_nll, {{"reduction", SA_STRING}, {"ignore_index", SA_INT}}},
	{"SoftmaxCrossEntropyLoss", 12, 22, 2, 3, 2, 0, imp_sce, {{"reduction", SA_STRING}, {"ignore_index", SA_INT}}, true},
	{"LogSoftmax", 7, 22, 1, 1, 1, 0, imp_softmax, {{"axis", SA_INT}}},
	{"Hardmax", 7, 22, 1, 1, 1, 0, imp_softmax, {{"axis", SA_INT}}},
	{"Slice", 7, 9, 1, 1, 1, 0, imp_slice, {{"starts", SA_INTS}, {"ends", SA_INTS}, {"axes", SA_INTS}}},
	{"Slice", 10, 22, 3, 5, 1, 30, imp_slice},
	{"Split", 7, 12, 1, 2, 64, 2, imp_split, {{"axis", SA_INT}, {"split", SA_INTS}}, true},
	{"Split", 13, 22, 1, 2, 64, 2, imp_split, {{"axis", SA_INT}, {"num_outputs", SA_INT, 18, 0}}, true},
	{"Gather", 7, 22, 2, 2, 1, 0, imp_gather, {{"axis", SA_INT}}},
	{"GatherElements", 11, 22, 2, 2, 1, 0, imp_gather, {{"axis", SA_INT}}},
	{"GatherND", 11, 22, 2, 2, 1, 0, imp_gather_nd, {{"batch_dims", SA_INT, 12, 0}}},
	{"Scatter", 9, 10, 3, 3, 1, 0, imp_scatter, {{"axis", SA_INT}}},
	{"ScatterElements", 11, 22, 3, 3, 1, 0, imp_scatter, {{"axis", SA_INT}, {"reduction", SA_STRING, 16, 0}}},
	{"ScatterND", 11, 22, 3, 3, 1, 0, imp_scatter, {{"reduction", SA_STRING, 16, 0}}},
	{"TopK", 7, 9, 1, 1, 2, 0, imp_topk, {{"axis", SA_INT}, {"k", SA_INT}}, true},
	{"TopK", 10, 22, 2, 2, 2, 2, imp_topk, {{"axis", SA_INT}, {"largest", SA_INT, 11, 0}, {"sorted", SA_INT, 11, 0}}, true},
	{"OneHot", 9, 22, 3, 3, 1, 2, imp_onehot, {{"axis", SA_INT}}},
	{"GridSample", 16, 22, 2, 2, 1, 0, imp_grid_sample,
	 {{"mode", SA_STRING}, {"padding_mode", SA_STRING}, {"align_corners", SA_INT}}},
	{"AffineGrid", 20, 22, 2, 2, 1, 2, imp_affine_grid, {{"align_corners", SA_INT}}},
	{"ReverseSequence", 10, 22, 2, 2, 1, 0, imp_reverse_sequence, {{"batch_axis", SA_INT}, {"time_axis", SA_INT}}},
	{"MaxUnpool", 9, 22, 2, 3, 1, 4, imp_max_unpool, {{"kernel_shape", SA_INTS}, {"pads", SA_INTS}, {"strides", SA_INTS}}},
	{"Tile", 7, 22, 2, 2, 1, 2, imp_tile},
	{"Trilu", 14, 22, 1, 2, 1, 2, imp_trilu, {{"upper", SA_INT}}},
	{"ArgMax", 7, 22, 1, 1, 1, 0, imp_arg, {{"axis", SA_INT}, {"keepdims", SA_INT}, {"select_last_index", SA_INT, 12, 0}}},
	{"ArgMin", 7, 22, 1, 1, 1, 0, imp_arg, {{"axis", SA_INT}, {"keepdims", SA_INT}, {"select_last_index", SA_INT, 12, 0}}},
	{"CumSum", 11, 22, 2, 2, 1, 2, imp_cumsum, {{"exclusive", SA_INT}, {"reverse", SA_INT}}},
	{"DepthToSpace", 7, 22, 1, 1, 1, 0, imp_depth_space, {{"blocksize", SA_INT}, {"mode", SA_STRING, 11, 0}}},
	{"SpaceToDepth", 7, 22, 1, 1, 1, 0, imp_depth_space, {{"blocksize", SA_INT}}},
	{"Sin", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Cos", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Tan", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Asin", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Acos", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Atan", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Sinh", 9, 22, 1, 1, 1, 0, imp_ew},
	{"Cosh", 9, 22, 1, 1, 1, 0, imp_ew},
	{"Asinh", 9, 22, 1, 1, 1, 0, imp_ew},
	{"Acosh", 9, 22, 1, 1, 1, 0, imp_ew},
	{"Atanh", 9, 22, 1, 1, 1, 0, imp_ew},
	{"Erf", 9, 22, 1, 1, 1, 0, imp_ew},
	{"Round", 11, 22, 1, 1, 1, 0, imp_ew},
	{"Sign", 9, 22, 1, 1, 1, 0, imp_ew},
	{"Softplus", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Softsign", 7, 22, 1, 1, 1, 0, imp_ew},
	{"Mish", 18, 22, 1, 1, 1, 0, imp_ew},
	{"HardSwish", 14, 22, 1, 1, 1, 0, imp_ew},
	{"HardSigmoid", 7, 22, 1, 1, 1, 0, imp_hard_sigmoid, {{"alpha", SA_FLOAT}, {"beta", SA_FLOAT}}},
	{"Elu", 7, 22, 1, 1, 1, 0, imp_elu, {{"alpha", SA_FLOAT}}},
	{"Selu", 7, 22, 1, 1, 1, 0, imp_selu, {{"alpha", SA_FLOAT}, {"gamma", SA_FLOAT}}},
	{"Celu", 12, 22, 1, 1, 1, 0, imp_celu, {{"alpha", SA_FLOAT}}},
	{"ThresholdedRelu", 10, 22, 1, 1, 1, 0, imp_thresholded_relu, {{"alpha", SA_FLOAT}}},
	{"Shrink", 9, 22, 1, 1, 1, 0, imp_shrink, {{"bias", SA_FLOAT}, {"lambd", SA_FLOAT}}},
	{"Gelu", 20, 22, 1, 1, 1, 0, imp_gelu, {{"approximate", SA_STRING}}},
	{"Not", 1, 22, 1, 1, 1, 0, imp_ew},
	{"BitwiseNot", 18, 22, 1, 1, 1, 0, imp_ew},
	{"IsNaN", 9, 22, 1, 1, 1, 0, imp_ew},
	{"IsInf", 10, 22, 1, 1, 1, 0, imp_isinf, {{"detect_positive", SA_INT}, {"detect_negative", SA_INT}}},
	{"Cast", 7, 22, 1, 1, 1, 0, imp_cast, {{"to", SA_INT}, {"saturate", SA_INT, 19, 0}}},
	{"CastLike", 15, 22, 2, 2, 1, 0, imp_castlike, {{"saturate", SA_INT, 19, 0}}},
	{"Pow", 7, 22, 2, 2, 1, 0, imp_pow},
	{"Mod", 10, 22, 2, 2, 1, 0, imp_mod, {{"fmod", SA_INT}}},
	{"Min", 7, 22, 1, 64, 1, 0, imp_min},
	{"Max", 7, 22, 1, 64, 1, 0, imp_max},
	{"Sum", 7, 22, 1, 64, 1, 0, imp_sum},
	{"Mean", 7, 22, 1, 64, 1, 0, imp_mean},
	{"Equal", 7, 22, 2, 2, 1, 0, imp_ew},
	{"Less", 7, 22, 2, 2, 1, 0, imp_ew},
	{"LessOrEqual", 12, 22, 2, 2, 1, 0, imp_ew},
	{"Greater", 7, 22, 2, 2, 1, 0, imp_ew},
	{"GreaterOrEqual", 12, 22, 2, 2, 1, 0, imp_ew},
	{"And", 1, 22, 2, 2, 1, 0, imp_ew},
	{"Or", 1, 22, 2, 2, 1, 0, imp_ew},
	{"Xor", 1, 22, 2, 2, 1, 0, imp_ew},
	{"BitwiseAnd", 18, 22, 2, 2, 1, 0, imp_ew},
	{"BitwiseOr", 18, 22, 2, 2, 1, 0, imp_ew},
	{"BitwiseXor", 18, 22, 2, 2, 1, 0, imp_ew},
	{"BitShift", 11, 22, 2, 2, 1, 0, imp_bitshift, {{"direction", SA_STRING}}},
	{"PRelu", 7, 22, 2, 2, 1, 0, imp_ew},
	{"Where", 9, 22, 3, 3, 1, 0, imp_ew},
	{"Shape", 7, 22, 1, 1, 1, 0, imp_shape, {{"start", SA_INT, 15, 0}, {"end", SA_INT, 15, 0}}},
	{"Size", 7, 22, 1, 1, 1, 0, imp_size},
	{"ConstantOfShape", 9, 22, 1, 1, 1, 1, imp_constant_of_shape, {{"value", SA_TENSOR}}},
	{"Range", 11, 22, 3, 3, 1, 7, imp_range},
	{"EyeLike", 9, 22, 1, 1, 1, 0, imp_eyelike, {{"dtype", SA_INT}, {"k", SA_INT}}},
	{"Expand", 8, 22, 2, 2, 1, 2, imp_expand},
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
	 {{"epsilon", SA_FLOAT}, {"momentum", SA_FLOAT}, {"spatial", SA_INT, 7, 8}, {"training_mode", SA_INT, 14, 0}}, true},
	{"MaxPool", 7, 22, 1, 1, 2, 0, imp_maxpool,
	 {{"kernel_shape", SA_INTS}, {"strides", SA_INTS}, {"pads", SA_INTS}, {"auto_pad", SA_STRING},
	  {"storage_order", SA_INT, 8, 0}, {"dilations", SA_INTS, 10, 0}, {"ceil_mode", SA_INT, 10, 0}}, true},
	{"AveragePool", 7, 22, 1, 1, 1, 0, imp_avgpool,
	 {{"kernel_shape", SA_INTS}, {"strides", SA_INTS}, {"pads", SA_INTS}, {"auto_pad", SA_STRING},
	  {"count_include_pad", SA_INT}, {"ceil_mode", SA_INT, 10, 0}, {"dilations", SA_INTS, 19, 0}}},
	{"GlobalAveragePool", 7, 22, 1, 1, 1, 0, imp_global_avgpool},
	{"ConvTranspose", 7, 22, 2, 3, 1, 0, imp_conv_transpose,
	 {CONV_ATTRS, {"output_padding", SA_INTS}, {"output_shape", SA_INTS}}},
	{"LpPool", 7, 22, 1, 1, 1, 0, imp_lppool,
	 {{"kernel_shape", SA_INTS}, {"strides", SA_INTS}, {"pads", SA_INTS}, {"dilations", SA_INTS, 18, 0},
	  {"auto_pad", SA_STRING}, {"ceil_mode", SA_INT, 18, 0}, {"p", SA_INT}}},
	{"GlobalMaxPool", 7, 22, 1, 1, 1, 0, imp_global_maxpool},
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
	{"ReduceL1", 7, 17, 1, 1, 1, 0, imp_reduce_comp, REDUCE_OLD},
	{"ReduceL1", 18, 22, 1, 2, 1, 2, imp_reduce_comp, REDUCE_NEW},
	{"ReduceL2", 7, 17, 1, 1, 1, 0, imp_reduce_comp, REDUCE_OLD},
	{"ReduceL2", 18, 22, 1, 2, 1, 2, imp_reduce_comp, REDUCE_NEW},
	{"ReduceSumSquare", 7, 17, 1, 1, 1, 0, imp_reduce_comp, REDUCE_OLD},
	{"ReduceSumSquare", 18, 22, 1, 2, 1, 2, imp_reduce_comp, REDUCE_NEW},
	{"ReduceLogSum", 7, 17, 1, 1, 1, 0, imp_reduce_comp, REDUCE_OLD},
	{"ReduceLogSum", 18, 22, 1, 2, 1, 2, imp_reduce_comp, REDUCE_NEW},
	{"ReduceLogSumExp", 7, 17, 1, 1, 1, 0, imp_reduce_comp, REDUCE_OLD},
	{"ReduceLogSumExp", 18, 22, 1, 2, 1, 2, imp_reduce_comp, REDUCE_NEW},
	{"LayerNormalization", 17, 22, 2, 3, 3, 0, imp_layernorm, {{"axis", SA_INT}, {"epsilon", SA_FLOAT}, {"stash_type", SA_INT}}, true},
	{"InstanceNormalization", 7, 22, 3, 3, 1, 0, imp_instancenorm, {{"epsilon", SA_FLOAT}}},
	{"GroupNormalization", 18, 22, 3, 3, 1, 0, imp_groupnorm, {{"epsilon", SA_FLOAT}, {"num_groups", SA_INT}, {"stash_type", SA_INT, 21, 0}}},
	{"MeanVarianceNormalization", 9, 22, 1, 1, 1, 0, imp_mvn, {{"axes", SA_INTS}}},
	{"LpNormalization", 7, 22, 1, 1, 1, 0, imp_lpnorm, {{"axis", SA_INT}, {"p", SA_INT}}},
	{"ReduceProd", 7, 17, 1, 1, 1, 0, imp_reduce_prod, REDUCE_OLD},
	{"ReduceProd", 18, 22, 1, 2, 1, 2, imp_reduce_prod, REDUCE_NEW},
	{"Flatten", 7, 22, 1, 1, 1, 0, imp_flatten, {{"axis", SA_INT}}},
	{"Reshape", 7, 22, 2, 2, 1, 2, imp_reshape, {{"allowzero", SA_INT, 14, 0}, {"shape", SA_INTS, 0, 0, true}}},
	{"Transpose", 7, 22, 1, 1, 1, 0, imp_transpose, {{"perm", SA_INTS}}},
	{"Concat", 7, 22, 1, 64, 1, 0, imp_concat, {{"axis", SA_INT}}},
	{"Softmax", 7, 22, 1, 1, 1, 0, imp_softmax, {{"axis", SA_INT}}},
	{"Constant", 7, 22, 0, 0, 1, 0, imp_constant,
	 {{"value", SA_TENSOR}, {"value_float", SA_FLOAT, 12, 0}, {"value_floats", SA_FLOATS, 12, 0},
	  {"value_int", SA_INT, 12, 0}, {"value_ints", SA_INTS, 12, 0}}},
	{"Identity", 7, 22, 1, 1, 1, 0, imp_identity},
	{"Einsum", 12, 22, 1, 8, 1, 0, imp_einsum, {{"equation", SA_STRING}}},
	{"Compress", 9, 22, 2, 2, 1, 2, imp_compress, {{"axis", SA_INT}}},
	{"ConvInteger", 10, 22, 2, 4, 1, 0, imp_conv_integer, {CONV_ATTRS}},
	{"QLinearConv", 10, 22, 8, 9, 1, 0, imp_qlinear_conv, {CONV_ATTRS}},
	{"DFT", 17, 19, 1, 2, 1, 2, imp_dft, {{"axis", SA_INT}, {"inverse", SA_INT}, {"onesided", SA_INT}}},
	{"DFT", 20, 22, 1, 3, 1, 6, imp_dft, {{"inverse", SA_INT}, {"onesided", SA_INT}}},
	{"OptionalHasElement", 15, 22, 0, 1, 1, 0, imp_optional_has},
	{"OptionalGetElement", 15, 22, 1, 1, 1, 0, imp_optional_get},
	{"Optional", 15, 22, 0, 1, 1, 0, imp_optional, {{"type", SA_OTHER}}},
	{"Col2Im", 18, 22, 3, 3, 1, 6, imp_col2im, {{"dilations", SA_INTS}, {"pads", SA_INTS}, {"strides", SA_INTS}}},
	{"TfIdfVectorizer", 9, 22, 1, 1, 1, 0, imp_tfidf,
	 {{"max_gram_length", SA_INT}, {"min_gram_length", SA_INT}, {"max_skip_count", SA_INT}, {"mode", SA_STRING},
	  {"ngram_counts", SA_INTS}, {"ngram_indexes", SA_INTS}, {"pool_int64s", SA_INTS}, {"weights", SA_FLOATS}}},
	{"STFT", 17, 22, 2, 4, 1, 10, imp_stft, {{"onesided", SA_INT}}},
	{"MelWeightMatrix", 17, 22, 5, 5, 1, 31, imp_mel, {{"output_datatype", SA_INT}}},
	{"Det", 11, 22, 1, 1, 1, 0, imp_det},
	{"Binarizer", 1, 22, 1, 1, 1, 0, imp_binarizer, {{"threshold", SA_FLOAT}}, false, "ai.onnx.ml"},
	{"ArrayFeatureExtractor", 1, 22, 2, 2, 1, 0, imp_array_feature_extractor, {{0}}, false, "ai.onnx.ml"},
	{"HannWindow", 17, 22, 1, 1, 1, 1, imp_window, {{"output_datatype", SA_INT}, {"periodic", SA_INT}}},
	{"HammingWindow", 17, 22, 1, 1, 1, 1, imp_window, {{"output_datatype", SA_INT}, {"periodic", SA_INT}}},
	{"BlackmanWindow", 17, 22, 1, 1, 1, 1, imp_window, {{"output_datatype", SA_INT}, {"periodic", SA_INT}}},
	{"CenterCropPad", 18, 22, 2, 2, 1, 2, imp_center_crop_pad, {{"axes", SA_INTS}}},
	{"LRN", 7, 22, 1, 1, 1, 0, imp_lrn, {{"alpha", SA_FLOAT}, {"beta", SA_FLOAT}, {"bias", SA_FLOAT}, {"size", SA_INT}}},
	{"Dropout", 7, 11, 1, 1, 2, 0, imp_dropout, {{"ratio", SA_FLOAT}}, true},
	{"Dropout", 12, 22, 1, 3, 2, 4, imp_dropout, {{"seed", SA_INT}}, true},
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
static bool default_domain(const char *d) { return !*d || !strcmp(d, "ai.onnx"); }

static const OpSpec *find_spec(const SrcNode *n, int opset, bool *known, int *lo, int *hi)
{
	*known = false;
	*lo = 1000;
	*hi = 0;
	const OpSpec *found = NULL;
	for (int i = 0; i < NOPS; i++) {
		const OpSpec *s = &op_table[i];
		if (strcmp(s->op, n->op) != 0 || (s->domain ? strcmp(s->domain, n->domain) : !default_domain(n->domain)))
			continue;
		if (s->domain) {  /* the ML domain's opsets are its own; one entry covers them */
			*known = true;
			return s;
		}
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
	if (mode && strcmp(n->op, "Pad") == 0 && strcmp(mode, "constant") && strcmp(mode, "edge") &&
	    strcmp(mode, "reflect") && strcmp(mode, "wrap"))
		ok = fail(c, "unsupported pad mode '%s' (constant, edge, reflect or wrap)", mode);
	if (sa_int(n, "spatial", 1) != 1)
		ok = fail(c, "spatial=0 is not supported");

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
	bool known;
	int lo, hi;
	const OpSpec *s = find_spec(n, c->opset, &known, &lo, &hi);
	if (!known && !default_domain(n->domain))
		return fail(c, "unsupported op (domain '%s')", n->domain);
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
	bool any = false;
	for (int i = 0; i < n->nout; i++)
		any |= *n->out[i] && (i == 0 || s->multi_out);
	if (!any)
		return fail(c, "has no output");
	for (int i = 1; i < n->nout; i++) {
		if (i >= s->max_out && *n->out[i])
			return fail(c, "has %d outputs; %s has at most %d", n->nout, n->op, s->max_out);
		if (is_used(c, n->out[i]) && !s->multi_out)
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
static bool derive_consts_in(Ctx *c, const SrcNode *nodes, int nn);

/* Import one checked node.  sub: a node of an If branch, whose operands
 * may be missing if the model is malformed. */
static bool import_node(Ctx *c, const SrcNode *n, bool sub)
{
	ValueId in[64 + 1];
	c->sn = n;
	bool known;
	int lo, hi;
	const OpSpec *s = find_spec(n, c->opset, &known, &lo, &hi);
	int nin = n->nin;
	while (nin > 0 && !*n->in[nin - 1])
		nin--;
	if (!s || nin > 64)
		die("node passed the static checks but has no spec");
	for (int i = 0; i < nin; i++) {
		in[i] = *n->in[i] ? nm_get(&c->vals, n->in[i], -1) : -1;
		if (*n->in[i] && in[i] < 0) {
			if (!sub)
				die("operand '%s' has no value after ordering", n->in[i]);
			return fail(c, "operand '%s' is not defined before this node", n->in[i]);
		}
	}
	c->src_op = ir_arena_strdup(c->g->arena, n->op);
	if (!c->src_op)
		return oom(c);
	return s->fn(c, in, nin);
}

/* If on a constant condition: the taken branch's nodes are imported in
 * place and its outputs become the If's. */
static bool imp_if(Ctx *c, const ValueId *in, int nin)
{
	double cond;
	const SrcNode *self = c->sn;
	const char *self_op = c->src_op;
	if (!const_scalar(c, in[0], "the condition (kiln needs it known at compile time)", &cond))
		return false;
	const SrcAttr *br = sa_get(self, cond != 0 ? "then_branch" : "else_branch");
	if (!br || br->kind != SA_GRAPH)
		return fail(c, "attribute '%s' (a graph) is missing", cond != 0 ? "then_branch" : "else_branch");
	SrcGraph *g = br->graph;
	if (g->outputs.n != self->nout)
		return fail(c, "the branch has %d outputs, the node %d", g->outputs.n, self->nout);
	for (int i = 0; i < g->consts.n; i++)
		if (!add_const(c, &g->consts.v[i]) || !nm_put(&c->consts, g->consts.v[i].name, 1))
			return false;
	for (int i = 0; i < g->nodes.n; i++) {
		SrcNode *n = &g->nodes.v[i];
		for (int j = 0; j < n->nin; j++)
			if (*n->in[j] && !nm_put(&c->used, n->in[j], 1))
				return oom(c);
		if (!strcmp(n->op, "Constant") && n->nout > 0 && *n->out[0] && !nm_put(&c->consts, n->out[0], 1))
			return oom(c);
	}
	for (int i = 0; i < g->outputs.n; i++)
		if (!nm_put(&c->used, g->outputs.v[i], 1))
			return oom(c);
	if (!derive_consts_in(c, g->nodes.v, g->nodes.n))
		return oom(c);
	for (int i = 0; i < g->nodes.n; i++)
		if (!check_node(c, &g->nodes.v[i]) || !import_node(c, &g->nodes.v[i], true))
			return false;
	c->sn = self;
	c->src_op = self_op;
	for (int i = 0; i < self->nout; i++) {
		if (!*self->out[i])
			continue;
		ValueId v = nm_get(&c->vals, g->outputs.v[i], -1);
		if (v < 0)
			return fail(c, "branch output '%s' is not produced", g->outputs.v[i]);
		if (!define_at(c, i, emit(c, OP_IDENTITY, &v, 1, NULL, 0, self->out[i])))
			return false;
	}
	return true;
}

/* Values computed from constants are constants too (the importer folds
 * them when it needs their numbers), and so are Shape and Size of anything,
 * as every shape is static.  A fixed point: nodes need not be sorted. */
/* Every value an If branch reads from the enclosing graph is a constant
 * (then the If's outputs are too, once its condition is). */
static bool branch_reads_consts(Ctx *c, const SrcGraph *g)
{
	for (int i = 0; i < g->nodes.n; i++) {
		const SrcNode *n = &g->nodes.v[i];
		for (int j = 0; j < n->nin; j++) {
			const char *name = n->in[j];
			if (!*name || nm_has(&c->consts, name))
				continue;
			bool inner = false;
			for (int k = 0; k < g->consts.n && !inner; k++)
				inner = !strcmp(g->consts.v[k].name, name);
			for (int k = 0; k < i && !inner; k++)
				for (int o = 0; o < g->nodes.v[k].nout && !inner; o++)
					inner = !strcmp(g->nodes.v[k].out[o], name);
			if (!inner)
				return false;
		}
	}
	return true;
}

static bool if_is_const(Ctx *c, const SrcNode *n)
{
	if (n->nin < 1 || !*n->in[0] || !nm_has(&c->consts, n->in[0]))
		return false;
	for (int i = 0; i < n->nattr; i++)
		if (n->attr[i].kind == SA_GRAPH && !branch_reads_consts(c, n->attr[i].graph))
			return false;
	return true;
}

static bool derive_consts_in(Ctx *c, const SrcNode *nodes, int nn)
{
	/* Random ops differ per run; If reads values its inputs do not list. */
	static const char *const random_ops[] = {"RandomNormal", "RandomUniform", "RandomNormalLike",
						 "RandomUniformLike", "Bernoulli", "Multinomial", "If"};
	for (bool grew = true; grew;) {
		grew = false;
		for (int i = 0; i < nn; i++) {
			const SrcNode *n = &nodes[i];
			if (n->nout < 1 || !*n->out[0] || nm_has(&c->consts, n->out[0]))
				continue;
			bool k = !strcmp(n->op, "Shape") || !strcmp(n->op, "Size") || (!strcmp(n->op, "If") && if_is_const(c, n));
			if (!k && n->nin > 0) {
				k = true;
				for (int j = 0; j < n->nin; j++)
					k &= !*n->in[j] || nm_has(&c->consts, n->in[j]);
				for (unsigned r = 0; r < sizeof random_ops / sizeof *random_ops; r++)
					k &= strcmp(n->op, random_ops[r]) != 0;
			}
			for (int j = 0; k && j < n->nout; j++)
				if (*n->out[j] && !nm_put(&c->consts, n->out[j], 1))
					return false;
			grew |= k;
		}
	}
	return true;
}

static bool derive_consts(Ctx *c) { return derive_consts_in(c, c->m->nodes.v, c->m->nodes.n); }

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
	if (!derive_consts(c))
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
	for (int k = 0; k < m->nodes.n; k++)
		if (!import_node(c, &m->nodes.v[order[k]], false))
			return NULL;
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
	Ctx c = {.m = m, .d = d, .file = m->file, .opset = m->opset, .fold = o ? o->fold : NULL};
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
