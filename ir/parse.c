/* The IR parser: reads the .kir text that ir_print writes.  Hostile input
 * gets a "line N: reason" diagnostic, never a crash; every node's declared
 * type is checked against its shape rule. */
#include "ir.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>

typedef struct P {
	const char *s, *end, *file;
	int line;
	Diag *d;
	Graph *g;
	bool failed;
	char tok[256];       /* identifier or number text */
	char *str;           /* last string literal (malloc) */
	size_t strlen_;
} P;

static bool perr(P *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool perr(P *p, const char *fmt, ...)
{
	if (p->failed)
		return false;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	diag_error(p->d, p->file, NULL, NULL, "line %d: %s", p->line, buf);
	p->failed = true;
	return false;
}

static void skip(P *p)
{
	while (p->s < p->end) {
		if (*p->s == '\n') {
			p->line++;
			p->s++;
		} else if (*p->s == ' ' || *p->s == '\t' || *p->s == '\r')
			p->s++;
		else if (*p->s == '#')
			while (p->s < p->end && *p->s != '\n')
				p->s++;
		else
			break;
	}
}

static bool peek(P *p, char c)
{
	skip(p);
	return p->s < p->end && *p->s == c;
}

static bool expect(P *p, char c)
{
	if (!peek(p, c))
		return perr(p, "expected '%c'", c);
	p->s++;
	return true;
}

static bool accept(P *p, char c)
{
	if (!peek(p, c))
		return false;
	p->s++;
	return true;
}

static bool is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
	       c == '-' || c == '+';
}

/* A word: identifier or number (into p->tok). */
static bool word(P *p)
{
	skip(p);
	size_t n = 0;
	while (p->s < p->end && is_word(*p->s)) {
		if (n + 1 >= sizeof p->tok)
			return perr(p, "token too long");
		p->tok[n++] = *p->s++;
	}
	p->tok[n] = 0;
	return n > 0 || perr(p, "expected a name or number");
}

static bool keyword(P *p, const char *kw)
{
	if (!word(p))
		return false;
	return strcmp(p->tok, kw) == 0 || perr(p, "expected '%s', found '%s'", kw, p->tok);
}

static bool string(P *p)
{
	if (!expect(p, '"'))
		return false;
	size_t cap = 64, n = 0;
	free(p->str);
	p->str = malloc(cap);
	if (!p->str)
		return perr(p, "out of memory");
	for (;;) {
		if (p->s >= p->end || *p->s == '\n')
			return perr(p, "unterminated string");
		char c = *p->s++;
		if (c == '"')
			break;
		if (c == '\\') {
			if (p->s >= p->end)
				return perr(p, "unterminated string");
			c = *p->s++;
			if (c == 'x') {
				if (p->end - p->s < 2)
					return perr(p, "bad \\x escape");
				char h[3] = {p->s[0], p->s[1], 0}, *e;
				long v = strtol(h, &e, 16);
				if (*e)
					return perr(p, "bad \\x escape");
				c = (char)v;
				p->s += 2;
			} else if (c != '"' && c != '\\')
				return perr(p, "unknown escape '\\%c'", c);
		}
		if (n + 2 >= cap) {
			char *ns = realloc(p->str, cap *= 2);
			if (!ns)
				return perr(p, "out of memory");
			p->str = ns;
		}
		p->str[n++] = c;
	}
	p->str[n] = 0;
	p->strlen_ = n;
	if (memchr(p->str, 0, n))
		return perr(p, "NUL byte in a string");
	return true;
}

/* %name or %"name" into p->str. */
static bool vname(P *p)
{
	if (!expect(p, '%'))
		return false;
	if (p->s < p->end && *p->s == '"')
		return string(p);
	if (!word(p))
		return false;
	free(p->str);
	p->str = strdup(p->tok);
	return p->str || perr(p, "out of memory");
}

static bool parse_int(P *p, int64_t *v)
{
	if (!word(p))
		return false;
	char *e;
	errno = 0;
	long long x = strtoll(p->tok, &e, 10);
	if (errno || *e)
		return perr(p, "'%s' is not an integer", p->tok);
	*v = x;
	return true;
}

static bool parse_float(P *p, double *v)
{
	if (!word(p))
		return false;
	char *e;
	float x = strtof(p->tok, &e);
	if (*e || e == p->tok)
		return perr(p, "'%s' is not a number", p->tok);
	*v = x;
	return true;
}

static TypeId parse_type(P *p)
{
	if (!word(p))
		return -1;
	DType dt = ir_dtype_from_name(p->tok);
	if (dt == DT_UNDEF)
		return perr(p, "unknown dtype '%s'", p->tok), -1;
	if (!expect(p, '['))
		return -1;
	int64_t dims[IR_MAX_RANK];
	int rank = 0;
	while (!accept(p, ']')) {
		if (rank && !expect(p, ','))
			return -1;
		if (rank == IR_MAX_RANK)
			return perr(p, "rank exceeds %d", IR_MAX_RANK), -1;
		if (!parse_int(p, &dims[rank]))
			return -1;
		if (dims[rank] < 0)
			return perr(p, "negative dimension"), -1;
		rank++;
	}
	if (ir_shape_numel(rank, dims) < 0 || ir_shape_numel(rank, dims) > INT64_MAX / 16)
		return perr(p, "shape has too many elements"), -1;
	const Quant *q = NULL;
	if (accept(p, '{')) {
		if (!keyword(p, "q"))
			return -1;
		int axis = -1, n = 1;
		float scale1;
		int32_t zero1;
		float *scale = &scale1;
		int32_t *zero = &zero1;
		double d;
		int64_t z;
		if (accept(p, ':')) {
			if (!parse_float(p, &d) || !expect(p, ',') || !parse_int(p, &z))
				return -1;
			scale1 = (float)d;
			zero1 = (int32_t)z;
		} else {
			int64_t ax;
			if (!keyword(p, "axis") || !expect(p, '=') || !parse_int(p, &ax) || !expect(p, ':'))
				return -1;
			if (ax < 0 || ax >= rank)
				return perr(p, "quantization axis out of range"), -1;
			axis = (int)ax;
			n = (int)dims[axis];
			scale = ir_arena_alloc(p->g->arena, (n + 1) * sizeof *scale);
			zero = ir_arena_alloc(p->g->arena, (n + 1) * sizeof *zero);
			if (!scale || !zero)
				return perr(p, "out of memory"), -1;
			if (!expect(p, '['))
				return -1;
			for (int i = 0; i < n; i++) {
				if ((i && !expect(p, ',')) || !parse_float(p, &d))
					return -1;
				scale[i] = (float)d;
			}
			if (!expect(p, ']') || !expect(p, ',') || !expect(p, '['))
				return -1;
			for (int i = 0; i < n; i++) {
				if ((i && !expect(p, ',')) || !parse_int(p, &z))
					return -1;
				zero[i] = (int32_t)z;
			}
			if (!expect(p, ']'))
				return -1;
		}
		if (!expect(p, '}'))
			return -1;
		q = ir_quant(p->g, axis, n, scale, zero);
		if (!q)
			return perr(p, "out of memory"), -1;
	}
	TypeId t = ir_type(p->g, dt, rank, dims, q);
	if (t < 0)
		perr(p, "out of memory");
	return t;
}

static bool parse_attr(P *p, Attr *a)
{
	if (!word(p))
		return false;
	a->name = ir_arena_strdup(p->g->arena, p->tok);
	if (!a->name || !expect(p, '='))
		return false;
	skip(p);
	if (peek(p, '"')) {
		if (!string(p))
			return false;
		*a = ir_astr(a->name, ir_arena_strdup(p->g->arena, p->str));
		return a->s != NULL;
	}
	bool floats = false;
	if (p->s + 1 < p->end && p->s[0] == 'f' && p->s[1] == '[') {
		p->s++;
		floats = true;
	}
	if (accept(p, '[')) {
		int cap = 8, n = 0;
		int64_t *iv = floats ? NULL : malloc(cap * sizeof *iv);
		double *fv = floats ? malloc(cap * sizeof *fv) : NULL;
		bool ok = iv || fv;
		while (ok && !accept(p, ']')) {
			if (n && !expect(p, ',')) {
				ok = false;
				break;
			}
			if (n == cap) {
				cap *= 2;
				void *nv = floats ? realloc(fv, cap * sizeof *fv) : realloc(iv, cap * sizeof *iv);
				if (!nv) {
					ok = false;
					break;
				}
				if (floats)
					fv = nv;
				else
					iv = nv;
			}
			ok = floats ? parse_float(p, &fv[n]) : parse_int(p, &iv[n]);
			n++;
		}
		if (ok) {
			/* Copy into the arena (ir_add_node copies again). */
			if (floats) {
				double *c = ir_arena_alloc(p->g->arena, (n + 1) * sizeof *c);
				if ((ok = c != NULL))
					memcpy(c, fv, n * sizeof *c);
				*a = ir_afloats(a->name, c, n);
			} else {
				int64_t *c = ir_arena_alloc(p->g->arena, (n + 1) * sizeof *c);
				if ((ok = c != NULL))
					memcpy(c, iv, n * sizeof *c);
				*a = ir_aints(a->name, c, n);
			}
		}
		free(iv);
		free(fv);
		return ok || perr(p, "bad attribute list");
	}
	if (!word(p))
		return false;
	char *e;
	if (strpbrk(p->tok, ".en")) {  /* floats always print with '.', 'e', or as inf/nan */
		float x = strtof(p->tok, &e);
		if (*e)
			return perr(p, "'%s' is not a number", p->tok);
		*a = ir_af(a->name, x);
	} else {
		errno = 0;
		long long x = strtoll(p->tok, &e, 10);
		if (errno || *e)
			return perr(p, "'%s' is not an integer", p->tok);
		*a = ir_ai(a->name, x);
	}
	return true;
}

static ValueId lookup(P *p, const char *name)
{
	ValueId v = ir_find_value(p->g, name);
	if (v < 0)
		perr(p, "'%%%s' is used before it is defined", name);
	return v;
}

static bool define_check(P *p, const char *name)
{
	if (ir_find_value(p->g, name) >= 0)
		return perr(p, "'%%%s' is defined twice", name);
	return true;
}

typedef struct Blob {
	ValueId v;
	int64_t id;
} Blob;

static bool parse_node(P *p, const char *name, TypeId t)
{
	Op op = ir_op_from_name(p->tok);
	if (op == OP_COUNT)
		return perr(p, "unknown op '%s'", p->tok);
	if (!expect(p, '('))
		return false;
	ValueId in[70];
	int nin = 0;
	while (!accept(p, ')')) {
		if (nin && !expect(p, ','))
			return false;
		if (nin == 64)
			return perr(p, "too many operands");
		if (accept(p, '_'))
			in[nin++] = -1;
		else {
			if (!vname(p))
				return false;
			if ((in[nin++] = lookup(p, p->str)) < 0)
				return false;
		}
	}
	Attr attrs[32];
	int nattr = 0;
	if (accept(p, '{')) {
		while (!accept(p, '}')) {
			if (nattr && !expect(p, ','))
				return false;
			if (nattr == 32)
				return perr(p, "too many attributes");
			if (!parse_attr(p, &attrs[nattr++]))
				return false;
		}
	}
	if (!keyword(p, "loc") || !expect(p, '(') || !string(p))
		return false;
	char *node_name = strdup(p->str);
	if (!node_name || !expect(p, ',') || !string(p) || !expect(p, ')')) {
		free(node_name);
		return false;
	}
	Diag d;
	diag_init(&d);
	TypeId inferred = ir_infer_type(p->g, op, node_name, in, nin, attrs, nattr, &d);
	if (inferred < 0) {
		perr(p, "%s", d.nmsg ? d.msgs[0] : "invalid node");
		diag_free(&d);
		free(node_name);
		return false;
	}
	diag_free(&d);
	if (inferred != t) {
		char a[160], b[160];
		free(node_name);
		return perr(p, "'%%%s' is declared %s but %s produces %s", name, ir_type_str(ir_type_get(p->g, t), a, sizeof a),
			    ir_ops[op].name, ir_type_str(ir_type_get(p->g, inferred), b, sizeof b));
	}
	NodeId n = ir_add_node(p->g, op, node_name, in, nin, attrs, nattr, name, t);
	free(node_name);
	if (n < 0)
		return perr(p, "out of memory");
	p->g->nodes.v[n].src_op = ir_arena_strdup(p->g->arena, p->str);
	return p->g->nodes.v[n].src_op || perr(p, "out of memory");
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool parse_graph(P *p, Blob **blobs, int *nblobs)
{
	if (!keyword(p, "kiln") || !word(p))
		return false;
	if (strcmp(p->tok, "1"))
		return perr(p, "unsupported .kir version '%s'", p->tok);
	if (!keyword(p, "graph") || !expect(p, '@'))
		return false;
	if (peek(p, '"')) {
		if (!string(p))
			return false;
	} else {
		if (!word(p))
			return false;
		free(p->str);
		p->str = strdup(p->tok);
	}
	p->g->name = ir_arena_strdup(p->g->arena, p->str ? p->str : "model");
	if (!expect(p, '{'))
		return false;
	int cap = 0;
	for (;;) {
		if (accept(p, '}'))
			break;
		if (peek(p, 'o')) {
			if (!keyword(p, "output"))
				return false;
			do {
				if (!vname(p))
					return false;
				ValueId v = lookup(p, p->str);
				if (v < 0 || !ir_mark_output(p->g, v))
					return perr(p, "bad output");
			} while (accept(p, ','));
			continue;
		}
		if (!vname(p))
			return false;
		char *name = strdup(p->str);
		if (!name)
			return perr(p, "out of memory");
		bool ok = define_check(p, name) && expect(p, ':');
		TypeId t = ok ? parse_type(p) : -1;
		ok = t >= 0 && expect(p, '=') && word(p);
		if (ok && !strcmp(p->tok, "input")) {
			ok = ir_add_input(p->g, name, t) >= 0 || perr(p, "out of memory");
		} else if (ok && !strcmp(p->tok, "const")) {
			int64_t id;
			ok = expect(p, '@') && parse_int(p, &id);
			ValueId v = ok ? ir_add_const(p->g, name, t, NULL) : -1;
			if (ok && v < 0)
				ok = perr(p, "out of memory");
			if (ok) {
				if (*nblobs == cap) {
					cap = cap ? cap * 2 : 16;
					Blob *nb = realloc(*blobs, cap * sizeof *nb);
					if (!nb) {
						free(name);
						return perr(p, "out of memory");
					}
					*blobs = nb;
				}
				(*blobs)[(*nblobs)++] = (Blob){v, id};
			}
		} else if (ok) {
			ok = parse_node(p, name, t);
		}
		free(name);
		if (!ok)
			return false;
	}
	/* Data blobs: data @N = x"hex" */
	skip(p);
	while (p->s < p->end) {
		int64_t id;
		if (!keyword(p, "data") || !expect(p, '@') || !parse_int(p, &id) || !expect(p, '=') || !keyword(p, "x") ||
		    !expect(p, '"'))
			return false;
		Blob *b = NULL;
		for (int i = 0; i < *nblobs; i++)
			if ((*blobs)[i].id == id)
				b = &(*blobs)[i];
		if (!b)
			return perr(p, "data @%lld belongs to no constant", (long long)id);
		Value *v = ir_value(p->g, b->v);
		int64_t bytes = ir_type_bytes(ir_type_get(p->g, v->type));
		const char *q = memchr(p->s, '"', p->end - p->s);
		if (!q)
			return perr(p, "unterminated data");
		if ((q - p->s) != 2 * bytes)
			return perr(p, "data @%lld has %lld bytes, '%%%s' needs %lld", (long long)id,
				    (long long)((q - p->s) / 2), v->name, (long long)bytes);
		unsigned char *dst = (unsigned char *)v->data;
		for (int64_t k = 0; k < bytes; k++) {
			int hi = hexval(p->s[2 * k]), lo = hexval(p->s[2 * k + 1]);
			if (hi < 0 || lo < 0)
				return perr(p, "bad hex digit in data @%lld", (long long)id);
			dst[k] = (unsigned char)(hi << 4 | lo);
		}
		b->id = -1;  /* used */
		p->s = q + 1;
		skip(p);
	}
	for (int i = 0; i < *nblobs; i++)
		if ((*blobs)[i].id >= 0)
			return perr(p, "constant '%%%s' has no data", ir_value(p->g, (*blobs)[i].v)->name);
	return true;
}

Graph *ir_parse(const char *text, size_t len, const char *file, Diag *d)
{
	Graph *g = ir_graph_new("model");
	if (!g) {
		diag_error(d, file, NULL, NULL, "out of memory");
		return NULL;
	}
	g->file = ir_arena_strdup(g->arena, file ? file : "");
	P p = {.s = text, .end = text + len, .file = file, .line = 1, .d = d, .g = g};
	Blob *blobs = NULL;
	int nblobs = 0;
	bool ok = g->file && parse_graph(&p, &blobs, &nblobs);
	free(blobs);
	free(p.str);
	if (!ok) {
		if (!p.failed)
			diag_error(d, file, NULL, NULL, "out of memory");
		ir_graph_free(g);
		return NULL;
	}
	return g;
}
