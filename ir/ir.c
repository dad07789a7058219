/* The graph core: arena, dtype and op tables, type interning, building and
 * compacting graphs, attributes and diagnostics. */
#include "ir.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- tables ------------------------------------------------------------ */

static const struct {
	const char *name;
	int onnx, bytes;
	const char *ctype;
} dtypes[DT_COUNT] = {
	[DT_UNDEF] = {"?", 0, 0, "void"},
#define DTYPE(E, text, onnx, bytes, ctype) [DT_##E] = {text, onnx, bytes, ctype},
#include "dtype.def"
#undef DTYPE
};

const OpInfo ir_ops[OP_COUNT] = {
#define OP(E, text, onnx, min_in, max_in, flags, sem) [OP_##E] = {text, onnx, min_in, max_in, flags, sem},
#include "ops.def"
#undef OP
};

const char *ir_dtype_name(DType dt) { return dt > 0 && dt < DT_COUNT ? dtypes[dt].name : "?"; }
int ir_dtype_size(DType dt) { return dt > 0 && dt < DT_COUNT ? dtypes[dt].bytes : 0; }
int ir_dtype_onnx(DType dt) { return dt > 0 && dt < DT_COUNT ? dtypes[dt].onnx : 0; }
const char *ir_dtype_ctype(DType dt) { return dt > 0 && dt < DT_COUNT ? dtypes[dt].ctype : "void"; }

DType ir_dtype_from_name(const char *s)
{
	for (int i = 1; i < DT_COUNT; i++)
		if (strcmp(dtypes[i].name, s) == 0)
			return (DType)i;
	return DT_UNDEF;
}

DType ir_dtype_from_onnx(int code)
{
	for (int i = 1; i < DT_COUNT; i++)
		if (dtypes[i].onnx == code)
			return (DType)i;
	return DT_UNDEF;
}

bool ir_dtype_is_float(DType dt)
{
	return dt == DT_F32 || dt == DT_F16 || dt == DT_F64 || dt == DT_BF16 || ir_dtype_is_f8(dt);
}

bool ir_dtype_is_signed(DType dt)
{
	return dt == DT_I8 || dt == DT_I16 || dt == DT_I32 || dt == DT_I64 || dt == DT_I4;
}

bool ir_dtype_is_f8(DType dt)
{
	return dt == DT_F8E4M3FN || dt == DT_F8E4M3FNUZ || dt == DT_F8E5M2 || dt == DT_F8E5M2FNUZ;
}

/* ---- float8 ------------------------------------------------------------ */

static const IrF8Format f8_formats[4] = {
	{3, 7, 0x7e, false, false},   /* e4m3fn: max 448, NaN s.1111.111 */
	{3, 8, 0x7f, false, true},    /* e4m3fnuz: max 240 */
	{2, 15, 0x7b, true, false},   /* e5m2: max 57344, IEEE-like */
	{2, 16, 0x7f, false, true},   /* e5m2fnuz: max 57344 */
};

const IrF8Format *ir_f8_format(DType dt)
{
	return ir_dtype_is_f8(dt) ? &f8_formats[dt - DT_F8E4M3FN] : NULL;
}

float ir_f8_to_f32(DType dt, uint8_t b)
{
	const IrF8Format *f = ir_f8_format(dt);
	if (!f)
		return NAN;
	int mag = b & 0x7f, e = mag >> f->mbits, m = mag & ((1 << f->mbits) - 1);
	float v;
	if (f->uz ? b == 0x80 : f->inf ? mag > f->maxcode + 1 : mag == 0x7f)
		return f->uz ? NAN : copysignf(NAN, b & 0x80 ? -1.0f : 1.0f);  /* sign kept as ONNX does */
	if (f->inf && mag == f->maxcode + 1)
		v = INFINITY;
	else if (e == 0)
		v = ldexpf((float)m, 1 - f->bias - f->mbits);
	else
		v = ldexpf((float)(m | 1 << f->mbits), e - f->bias - f->mbits);
	return b & 0x80 ? -v : v;
}

uint8_t ir_f32_to_f8(DType dt, float x, bool saturate)
{
	const IrF8Format *f = ir_f8_format(dt);
	if (!f)
		return 0;
	uint32_t u;
	memcpy(&u, &x, 4);
	unsigned sign = u >> 24 & 0x80;
	uint32_t a = u & 0x7fffffff;
	unsigned nan = f->uz ? 0x80 : 0x7f | sign;
	if (a > 0x7f800000)
		return (uint8_t)nan;
	/* |x| = mant 2^(e - 23); the result's quantum is 2^(max(e, emin) - mbits):
	 * shift mant by the difference, rounding to nearest even, and add the
	 * exponent field.  A mantissa carry moves into the exponent by itself,
	 * and subnormals come out right (their exponent field is 0). */
	int e = (int)(a >> 23) - 127, emin = 1 - f->bias;
	uint32_t mant = (a & 0x7fffff) | 0x800000;
	int s = 23 - f->mbits + (e < emin ? emin - e : 0);
	if (s > 25)
		s = 25;  /* mant < 2^24: everything shifted this far rounds to 0 */
	uint32_t n = (mant + (1u << (s - 1)) - 1 + (mant >> s & 1)) >> s;
	int64_t code = (int64_t)n + (e > emin ? (int64_t)(e - emin) << f->mbits : 0);
	if (code > f->maxcode)  /* infinities too: their e is 128 */
		return (uint8_t)(saturate ? f->maxcode | sign : f->inf ? 0x7c | sign : nan);
	if (code == 0 && f->uz)
		return 0;
	return (uint8_t)(code | sign);
}

Op ir_op_from_name(const char *s)
{
	for (int i = 0; i < OP_COUNT; i++)
		if (strcmp(ir_ops[i].name, s) == 0)
			return (Op)i;
	return OP_COUNT;
}

/* ---- allocation ----------------------------------------------------------- */

static IrAllocFn alloc_fn;
static void *alloc_ud;

void ir_set_alloc_hook(IrAllocFn fn, void *ud)
{
	alloc_fn = fn;
	alloc_ud = ud;
}

static void *raw_alloc(size_t size)
{
	return alloc_fn ? alloc_fn(alloc_ud, size) : malloc(size);
}

/* Chunks are a singly linked list; big requests get a chunk of their own. */
typedef struct Chunk {
	struct Chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char mem[];
} Chunk;

struct Arena {
	Chunk *head;
};

Arena *ir_arena_new(void)
{
	Arena *a = raw_alloc(sizeof *a);
	if (a)
		a->head = NULL;
	return a;
}

void ir_arena_free(Arena *a)
{
	if (!a)
		return;
	for (Chunk *c = a->head, *n; c; c = n) {
		n = c->next;
		free(c);
	}
	free(a);
}

void *ir_arena_alloc(Arena *a, size_t size)
{
	if (size > SIZE_MAX / 4)  /* rounding and the chunk header must not wrap */
		return NULL;
	size = (size + 15) & ~(size_t)15;
	Chunk *c = a->head;
	if (!c || c->cap - c->used < size) {
		size_t cap = size > 65536 ? size : 65536;
		Chunk *nc = raw_alloc(sizeof *nc + cap);
		if (!nc)
			return NULL;
		nc->used = 0;
		nc->cap = cap;
		/* Keep a partly used chunk at the head when the new one is a
		 * one-off big block. */
		if (c && cap == size) {
			nc->next = c->next;
			c->next = nc;
		} else {
			nc->next = c;
			a->head = nc;
		}
		c = nc;
	}
	void *p = c->mem + c->used;
	c->used += size;
	memset(p, 0, size);
	return p;
}

char *ir_arena_strdup(Arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = ir_arena_alloc(a, n);
	if (p)
		memcpy(p, s, n);
	return p;
}

bool ir_vec_grow_(Arena *a, void **v, int *cap, int need, size_t elem)
{
	if (need <= *cap)
		return true;
	int ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	void *nv = ir_arena_alloc(a, (size_t)ncap * elem);
	if (!nv)
		return false;
	if (*v)
		memcpy(nv, *v, (size_t)*cap * elem);
	*v = nv;
	*cap = ncap;
	return true;
}

/* ---- graphs and types ---------------------------------------------------------- */

Graph *ir_graph_new(const char *name)
{
	Arena *a = ir_arena_new();
	if (!a)
		return NULL;
	Graph *g = ir_arena_alloc(a, sizeof *g);
	if (!g) {
		ir_arena_free(a);
		return NULL;
	}
	g->arena = a;
	g->name = ir_arena_strdup(a, name ? name : "model");
	g->file = "";
	g->ws_size = -1;
	g->ws_align = 64;
	g->ws_lower_bound = -1;
	g->stack_size = -1;
	if (!g->name) {
		ir_arena_free(a);
		return NULL;
	}
	return g;
}

void ir_graph_free(Graph *g)
{
	if (g)
		ir_arena_free(g->arena);
}

int64_t ir_shape_numel(int rank, const int64_t *dims)
{
	/* The nonzero dimensions are multiplied even when one is zero: code
	 * that computes strides and byte offsets for an empty [0, 2^62]
	 * overflowed (ir_slice_is_view). */
	int64_t n = 1;
	bool empty = false;
	for (int i = 0; i < rank; i++) {
		if (dims[i] < 0)
			return -1;
		if (dims[i] == 0) {
			empty = true;
			continue;
		}
		if (n > IR_MAX_NUMEL / dims[i])
			return -1;
		n *= dims[i];
	}
	return empty ? 0 : n;
}

int64_t ir_type_numel(const Type *t) { return ir_shape_numel(t->rank, t->dims); }
int64_t ir_type_bytes(const Type *t) { return ir_type_numel(t) * ir_dtype_size(t->dt); }

const char *ir_type_str(const Type *t, char *buf, size_t n)
{
	int k = snprintf(buf, n, "%s[", ir_dtype_name(t->dt));
	for (int i = 0; i < t->rank && k < (int)n; i++)
		k += snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)t->dims[i]);
	if (k < (int)n)
		k += snprintf(buf + k, n - k, "]");
	/* the quantization, short: per tensor in full, per axis by its axis */
	if (t->q && t->q->axis < 0 && k < (int)n)
		k += snprintf(buf + k, n - k, "{q: %.9g, %d}", t->q->scale[0], t->q->zero[0]);
	else if (t->q && k < (int)n)
		k += snprintf(buf + k, n - k, "{q axis=%d}", t->q->axis);
	if (t->block && k < (int)n)
		snprintf(buf + k, n - k, "{nchw%dc}", t->block);
	return buf;
}

const Quant *ir_quant(Graph *g, int axis, int n, const float *scale, const int32_t *zero)
{
	for (int i = 0; i < g->quants.n; i++) {
		const Quant *q = g->quants.v[i];
		if (q->axis == axis && q->n == n && !memcmp(q->scale, scale, n * sizeof *scale) &&
		    !memcmp(q->zero, zero, n * sizeof *zero))
			return q;
	}
	Quant *q = ir_arena_alloc(g->arena, sizeof *q);
	float *s = ir_arena_alloc(g->arena, n * sizeof *s);
	int32_t *z = ir_arena_alloc(g->arena, n * sizeof *z);
	if (!q || !s || !z)
		return NULL;
	memcpy(s, scale, n * sizeof *s);
	memcpy(z, zero, n * sizeof *z);
	*q = (Quant){axis, n, s, z};
	if (!IR_VEC_PUSH(g, g->quants, q))
		return NULL;
	return q;
}

static TypeId intern(Graph *g, const Type *t)
{
	for (int i = 0; i < g->types.n; i++)
		if (!memcmp(&g->types.v[i], t, sizeof *t))
			return i;
	if (!IR_VEC_PUSH(g, g->types, *t))
		return -1;
	return g->types.n - 1;
}

TypeId ir_type(Graph *g, DType dt, int rank, const int64_t *dims, const Quant *q)
{
	if (rank < 0 || rank > IR_MAX_RANK)
		return -1;
	Type t = {.dt = dt, .rank = rank, .q = q};
	for (int i = 0; i < rank; i++)
		t.dims[i] = dims[i];
	return intern(g, &t);
}

TypeId ir_type_blocked(Graph *g, TypeId t, int block)
{
	Type x = g->types.v[t];
	if (x.block == block)
		return t;
	x.block = block;
	return intern(g, &x);
}

/* ---- values and nodes ---------------------------------------------------------------- */

static ValueId add_value(Graph *g, const char *name, TypeId t, ValueKind kind, NodeId def)
{
	char buf[32];
	if (!name || !*name) {
		/* Fresh, and distinct from every existing name (after ir_compact
		 * "v<count>" may already be taken). */
		for (int k = g->values.n;; k++) {
			snprintf(buf, sizeof buf, "v%d", k);
			if (ir_find_value(g, buf) < 0)
				break;
		}
		name = buf;
	}
	Value v = {.type = t, .kind = kind, .def = def, .ws_offset = -1, .alias = -1};
	v.name = ir_arena_strdup(g->arena, name);
	if (!v.name || !IR_VEC_PUSH(g, g->values, v))
		return -1;
	return g->values.n - 1;
}

ValueId ir_add_input(Graph *g, const char *name, TypeId t)
{
	ValueId v = add_value(g, name, t, VAL_INPUT, -1);
	if (v >= 0 && !IR_VEC_PUSH(g, g->inputs, v))
		return -1;
	return v;
}

ValueId ir_add_const(Graph *g, const char *name, TypeId t, const void *data)
{
	int64_t bytes = ir_type_bytes(ir_type_get(g, t));
	void *copy = ir_arena_alloc(g->arena, bytes > 0 ? (size_t)bytes : 1);
	if (!copy)
		return -1;
	if (bytes > 0 && data)
		memcpy(copy, data, (size_t)bytes);
	ValueId v = add_value(g, name, t, VAL_CONST, -1);
	if (v >= 0)
		g->values.v[v].data = copy;
	return v;
}

ValueId ir_find_value(const Graph *g, const char *name)
{
	for (int i = 0; i < g->values.n; i++)
		if (strcmp(g->values.v[i].name, name) == 0)
			return i;
	return -1;
}

bool ir_mark_output(Graph *g, ValueId v)
{
	g->values.v[v].is_output = true;
	return IR_VEC_PUSH(g, g->outputs, v);
}

static Attr *copy_attrs(Graph *g, const Attr *attrs, int nattr)
{
	if (!nattr)
		return NULL;
	Attr *a = ir_arena_alloc(g->arena, nattr * sizeof *a);
	if (!a)
		return NULL;
	for (int i = 0; i < nattr; i++) {
		a[i] = attrs[i];
		a[i].name = ir_arena_strdup(g->arena, attrs[i].name);
		if (!a[i].name)
			return NULL;
		if (attrs[i].kind == ATTR_INTS) {
			a[i].ints = ir_arena_alloc(g->arena, (attrs[i].n + 1) * sizeof *a[i].ints);
			if (!a[i].ints)
				return NULL;
			if (attrs[i].n)
				memcpy(a[i].ints, attrs[i].ints, attrs[i].n * sizeof *a[i].ints);
		} else if (attrs[i].kind == ATTR_FLOATS) {
			a[i].floats = ir_arena_alloc(g->arena, (attrs[i].n + 1) * sizeof *a[i].floats);
			if (!a[i].floats)
				return NULL;
			if (attrs[i].n)
				memcpy(a[i].floats, attrs[i].floats, attrs[i].n * sizeof *a[i].floats);
		} else if (attrs[i].kind == ATTR_STRING) {
			a[i].s = ir_arena_strdup(g->arena, attrs[i].s ? attrs[i].s : "");
			if (!a[i].s)
				return NULL;
		}
	}
	return a;
}

NodeId ir_add_node(Graph *g, Op op, const char *name, const ValueId *in, int nin,
		   const Attr *attrs, int nattr, const char *out_name, TypeId t)
{
	Node n = {.op = op, .nin = nin, .nattr = nattr};
	n.name = ir_arena_strdup(g->arena, name ? name : "");
	n.src_op = ir_ops[op].onnx[0] ? ir_ops[op].onnx : ir_ops[op].name;
	n.in = ir_arena_alloc(g->arena, (nin + 1) * sizeof *n.in);
	n.attr = copy_attrs(g, attrs, nattr);
	if (!n.name || !n.in || (nattr && !n.attr))
		return -1;
	memcpy(n.in, in, nin * sizeof *in);
	NodeId id = g->nodes.n;
	ValueId v = add_value(g, out_name, t, VAL_NODE, id);
	if (v < 0)
		return -1;
	n.out = v;
	if (!IR_VEC_PUSH(g, g->nodes, n))
		return -1;
	return id;
}

void ir_replace_uses(Graph *g, ValueId from, ValueId to)
{
	for (int i = 0; i < g->nodes.n; i++) {
		Node *n = &g->nodes.v[i];
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] == from)
				n->in[j] = to;
	}
	for (int i = 0; i < g->outputs.n; i++)
		if (g->outputs.v[i] == from) {
			g->outputs.v[i] = to;
			g->values.v[to].is_output = true;
		}
}

bool ir_order_nodes(Graph *g)
{
	int nn = g->nodes.n;
	/* state: 0 unvisited, 1 waiting for its operands, 2 placed */
	char *state = calloc((size_t)nn + 1, 1);
	NodeId *stack = malloc(((size_t)nn + 1) * sizeof *stack);
	Node *out = malloc(((size_t)nn + 1) * sizeof *out);
	bool ok = state && stack && out;
	int k = 0;
	for (int i = 0; ok && i < nn; i++) {
		if (state[i])
			continue;
		int sp = 0;
		stack[sp++] = i;
		state[i] = 1;
		while (sp) {
			const Node *n = &g->nodes.v[stack[sp - 1]];
			NodeId next = -1;
			for (int j = 0; j < n->nin && next < 0; j++) {
				const Value *v = n->in[j] >= 0 ? &g->values.v[n->in[j]] : NULL;
				if (v && v->kind == VAL_NODE && v->def >= 0 && !state[v->def])
					next = v->def;
			}
			if (next >= 0) {
				state[next] = 1;
				stack[sp++] = next;
			} else {
				out[k++] = *n;
				state[stack[--sp]] = 2;
			}
		}
	}
	if (ok) {
		memcpy(g->nodes.v, out, (size_t)nn * sizeof *out);
		for (int i = 0; i < nn; i++)
			g->values.v[g->nodes.v[i].out].def = i;
	}
	free(state);
	free(stack);
	free(out);
	return ok;
}

bool ir_compact(Graph *g)
{
	int nv = g->values.n;
	int *live = ir_arena_alloc(g->arena, (nv + 1) * sizeof *live);
	int *remap = ir_arena_alloc(g->arena, (g->nodes.n + 1) * sizeof *remap);
	if (!live || !remap)
		return false;
	for (int i = 0; i < g->inputs.n; i++)
		live[g->inputs.v[i]] = 1;
	for (int i = 0; i < g->outputs.n; i++)
		live[g->outputs.v[i]] = 1;
	for (int i = 0; i < g->nodes.n; i++) {
		Node *n = &g->nodes.v[i];
		if (n->dead)
			continue;
		live[n->out] = 1;
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] >= 0)
				live[n->in[j]] = 1;
	}
	int nn = 0;
	for (int i = 0; i < g->nodes.n; i++) {
		remap[i] = -1;
		if (!g->nodes.v[i].dead) {
			remap[i] = nn;
			g->nodes.v[nn++] = g->nodes.v[i];
		}
	}
	g->nodes.n = nn;
	int k = 0;
	for (int i = 0; i < nv; i++) {
		if (!live[i]) {
			live[i] = -1;
			continue;
		}
		Value v = g->values.v[i];
		if (v.kind == VAL_NODE)
			v.def = remap[v.def];
		v.alias = -1;  /* plans do not survive compaction */
		v.alias_off = 0;
		v.ws_offset = -1;
		g->values.v[k] = v;
		live[i] = k++;
	}
	g->values.n = k;
	g->ws_size = -1;
	for (int i = 0; i < g->nodes.n; i++) {
		Node *n = &g->nodes.v[i];
		n->out = live[n->out];
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] >= 0)
				n->in[j] = live[n->in[j]];
	}
	for (int i = 0; i < g->inputs.n; i++)
		g->inputs.v[i] = live[g->inputs.v[i]];
	for (int i = 0; i < g->outputs.n; i++)
		g->outputs.v[i] = live[g->outputs.v[i]];
	return true;
}

bool ir_uses_build(Graph *g, Uses *u)
{
	int nv = g->values.n;
	u->start = ir_arena_alloc(g->arena, (nv + 1) * sizeof *u->start);
	u->count = ir_arena_alloc(g->arena, (nv + 1) * sizeof *u->count);
	if (!u->start || !u->count)
		return false;
	int total = 0;
	for (int i = 0; i < g->nodes.n; i++) {
		const Node *n = &g->nodes.v[i];
		if (n->dead)
			continue;
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] >= 0) {
				u->count[n->in[j]]++;
				total++;
			}
	}
	int acc = 0;
	for (int v = 0; v < nv; v++) {
		u->start[v] = acc;
		acc += u->count[v];
	}
	u->start[nv] = acc;
	u->users = ir_arena_alloc(g->arena, (total + 1) * sizeof *u->users);
	int *fill = ir_arena_alloc(g->arena, (nv + 1) * sizeof *fill);
	if (!u->users || !fill)
		return false;
	for (int i = 0; i < g->nodes.n; i++) {
		const Node *n = &g->nodes.v[i];
		if (n->dead)
			continue;
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] >= 0) {
				int v = n->in[j];
				u->users[u->start[v] + fill[v]++] = i;
			}
	}
	for (int i = 0; i < g->outputs.n; i++)
		u->count[g->outputs.v[i]]++;
	return true;
}

/* ---- attributes ------------------------------------------------------------------- */

const Attr *ir_attr(const Node *n, const char *name)
{
	for (int i = 0; i < n->nattr; i++)
		if (strcmp(n->attr[i].name, name) == 0)
			return &n->attr[i];
	return NULL;
}

int64_t ir_attr_int(const Node *n, const char *name, int64_t dflt)
{
	const Attr *a = ir_attr(n, name);
	return a && a->kind == ATTR_INT ? a->i : dflt;
}

double ir_attr_float(const Node *n, const char *name, double dflt)
{
	const Attr *a = ir_attr(n, name);
	if (a && a->kind == ATTR_FLOAT)
		return a->f;
	if (a && a->kind == ATTR_INT)
		return (double)a->i;
	return dflt;
}

const int64_t *ir_attr_ints(const Node *n, const char *name, int *count)
{
	const Attr *a = ir_attr(n, name);
	if (!a || a->kind != ATTR_INTS) {
		*count = 0;
		return NULL;
	}
	*count = a->n;
	return a->ints;
}

const char *ir_attr_str(const Node *n, const char *name, const char *dflt)
{
	const Attr *a = ir_attr(n, name);
	return a && a->kind == ATTR_STRING ? a->s : dflt;
}

Attr ir_ai(const char *name, int64_t v) { return (Attr){.name = name, .kind = ATTR_INT, .i = v}; }
Attr ir_af(const char *name, double v) { return (Attr){.name = name, .kind = ATTR_FLOAT, .f = v}; }
Attr ir_aints(const char *name, int64_t *v, int n) { return (Attr){.name = name, .kind = ATTR_INTS, .n = n, .ints = v}; }
Attr ir_afloats(const char *name, double *v, int n) { return (Attr){.name = name, .kind = ATTR_FLOATS, .n = n, .floats = v}; }
Attr ir_astr(const char *name, const char *s) { return (Attr){.name = name, .kind = ATTR_STRING, .s = s}; }

/* ---- diagnostics --------------------------------------------------------------------- */

void diag_init(Diag *d) { memset(d, 0, sizeof *d); }

void diag_free(Diag *d)
{
	for (int i = 0; i < d->nmsg; i++)
		free(d->msgs[i]);
	free(d->msgs);
	memset(d, 0, sizeof *d);
}

/* A malloc'd copy of s with control characters as \xNN: names and paths
 * come from the model, and ESC, CR or LF reaching a terminal could rewrite
 * it or split one error over two lines. */
static char *escape_controls(const char *s)
{
	size_t n = strlen(s);
	char *e = malloc(4 * n + 1), *p = e;
	if (!e)
		return NULL;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch == 0x7f)
			p += sprintf(p, "\\x%02x", ch);
		else
			*p++ = (char)ch;
	}
	*p = 0;
	return e;
}

void diag_verror(Diag *d, const char *file, const char *node, const char *op,
		 const char *fmt, va_list ap)
{
	d->nerr++;
	if (d->max && d->nmsg >= d->max)
		return;
	char reason[1024], line[1600];
	vsnprintf(reason, sizeof reason, fmt, ap);
	int k = 0;
	/* snprintf returns the untruncated length: clamp k so a long file or
	 * node name cannot push the next write past the buffer. */
	if (file && *file)
		k = snprintf(line, sizeof line, "%s: ", file);
	if (k >= (int)sizeof line)
		k = sizeof line - 1;
	if (op)
		k += snprintf(line + k, sizeof line - k, "node '%s' (%s): ", node ? node : "", op);
	else if (node && *node)
		k += snprintf(line + k, sizeof line - k, "'%s': ", node);
	if (k >= (int)sizeof line)
		k = sizeof line - 1;
	snprintf(line + k, sizeof line - k, "%s", reason);
	char *s = escape_controls(line);
	if (!s)
		return;
	/* A rule that fails for each of a node's parts says the same thing
	 * several times: once is enough. */
	for (int i = d->nmsg - 1; i >= 0 && i >= d->nmsg - 8; i--)
		if (!strcmp(d->msgs[i], s)) {
			free(s);
			return;
		}
	if (d->nmsg == d->cap) {
		int ncap = d->cap ? d->cap * 2 : 8;
		char **nm = realloc(d->msgs, ncap * sizeof *nm);
		if (!nm) {
			free(s);
			return;
		}
		d->msgs = nm;
		d->cap = ncap;
	}
	d->msgs[d->nmsg++] = s;
}

void diag_error(Diag *d, const char *file, const char *node, const char *op, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_verror(d, file, node, op, fmt, ap);
	va_end(ap);
}

void diag_node(Diag *d, const Graph *g, const Node *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_verror(d, g ? g->file : NULL, n ? n->name : NULL, n ? n->src_op : NULL, fmt, ap);
	va_end(ap);
}

void diag_print(const Diag *d, FILE *f)
{
	for (int i = 0; i < d->nmsg; i++)
		fprintf(f, "kiln: error: %s\n", d->msgs[i]);
	if (d->max && d->nerr > d->nmsg)
		fprintf(f, "kiln: error: %d more errors not shown\n", d->nerr - d->nmsg);
}

_Noreturn void ir_die_(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "kiln: internal error at %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

bool ir_slice_is_view(const Graph *g, const Node *n, int64_t *byte_off)
{
	if (n->op != OP_SLICE || n->in[0] < 0)
		return false;
	const Type *x = ir_value_type(g, n->in[0]), *y = ir_value_type(g, n->out);
	int cs, cp;
	const int64_t *starts = ir_attr_ints(n, "starts", &cs), *steps = ir_attr_ints(n, "steps", &cp);
	if (!starts || !steps || cs != x->rank || cp != x->rank || y->rank != x->rank)
		return false;
	/* Axes before d have extent 1, axes after d are whole; d steps by 1. */
	int d = 0;
	while (d < x->rank - 1 && y->dims[d] == 1)
		d++;
	if (y->dims[d] > 1 && steps[d] != 1)
		return false;
	for (int a = d + 1; a < x->rank; a++)
		if (y->dims[a] != x->dims[a] || starts[a] != 0 || (y->dims[a] > 1 && steps[a] != 1))
			return false;
	int64_t off = 0, stride = ir_dtype_size(x->dt);
	for (int a = x->rank - 1; a >= 0; a--) {
		off += starts[a] * stride;
		stride *= x->dims[a];
	}
	*byte_off = off;
	return true;
}

ValueId ir_value_home(const Graph *g, ValueId v, int64_t *off)
{
	int64_t o = 0;
	for (int k = 0; g->values.v[v].alias >= 0; k++) {
		if (k > g->values.n)
			die("alias cycle at value '%s'", g->values.v[v].name);
		o += g->values.v[v].alias_off;
		v = g->values.v[v].alias;
	}
	*off = o;
	return v;
}

bool ir_is_const_expr(Graph *g, ValueId v)
{
	/* Constants are row-major: a value in channel blocks stays computed
	 * (folding evaluates row-major, which for the blocked values inside
	 * an expression with a row-major result computes the same). */
	if (ir_value_type(g, v)->block)
		return false;
	/* Depth-first over producers with an explicit stack: exported graphs
	 * can be thousands of nodes deep. */
	int nv = g->values.n;
	char *seen = calloc((size_t)nv + 1, 1);
	ValueId *stack = malloc(((size_t)nv + 1) * sizeof *stack);
	bool ok = seen && stack;
	int sp = 0;
	if (ok)
		stack[sp++] = v;
	while (ok && sp) {
		const Value *val = &g->values.v[stack[--sp]];
		if (val->kind == VAL_INPUT) {
			ok = false;
		} else if (val->kind == VAL_NODE) {
			const Node *n = &g->nodes.v[val->def];
			for (int j = 0; j < n->nin; j++) {
				ValueId u = n->in[j];
				if (u >= 0 && !seen[u]) {
					seen[u] = 1;
					stack[sp++] = u;
				}
			}
		}
	}
	free(seen);
	free(stack);
	return ok;
}
