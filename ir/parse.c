/* The IR parser: reads the .kir text that ir_print writes (docs/ir.md).
 * Hostile input gets a "FILE:LINE:COL: reason" diagnostic, never a crash;
 * every node's declared type is checked against its shape rule. */
#include "ir.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_OPERANDS = 64, NUM_MAX = 64 };

typedef enum TokKind { TK_EOF, TK_WORD, TK_STR, TK_PUNCT } TokKind;

typedef struct Tok {
	TokKind kind;
	const char *s;        /* TK_WORD: text in the input (not terminated) */
	size_t n;             /* TK_WORD: length */
	char c;               /* TK_PUNCT: the character */
	long line, col;
} Tok;

/* Name -> value id, open addressing; scratch memory, not the arena. */
typedef struct NameMap {
	const char **key;
	ValueId *val;
	size_t cap, n;
} NameMap;

typedef struct ConstRef {
	int64_t id;           /* the @N of const @N */
	ValueId v;
	long line, col;
	bool filled;
} ConstRef;

typedef struct P {
	const char *s, *end, *file;
	const char *line_start;
	long line;
	Diag *d;
	Graph *g;
	bool failed;          /* first error recorded; later ones suppressed */
	Tok tok;              /* lookahead */
	bool have;            /* tok is valid */
	char *str;            /* decoded TK_STR (malloc), NUL-terminated */
	size_t str_n, str_cap;
	NameMap names;
	ConstRef *consts;
	int nconsts, consts_cap;
	int64_t const_bytes;  /* sum of the constants' sizes so far */
} P;

/* ---- errors ---------------------------------------------------------------- */

static bool error_at(P *p, long line, long col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static bool error_at(P *p, long line, long col, const char *fmt, ...)
{
	if (p->failed)
		return false;
	p->failed = true;
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	/* The position is part of the file prefix, so diag_error gets no file. */
	if (p->file && *p->file)
		diag_error(p->d, NULL, NULL, NULL, "%s:%ld:%ld: %s", p->file, line, col, buf);
	else
		diag_error(p->d, NULL, NULL, NULL, "%ld:%ld: %s", line, col, buf);
	return false;
}

#define error_tok(p, ...) error_at((p), (p)->tok.line, (p)->tok.col, __VA_ARGS__)

/* Quoted, truncated text of a token for messages. */
static const char *describe(P *p, char *buf, size_t n)
{
	const Tok *t = &p->tok;
	if (t->kind == TK_EOF)
		return "end of file";
	if (t->kind == TK_STR)
		return "a string";
	if (t->kind == TK_WORD) {
		snprintf(buf, n, "'%.*s%s'", (int)(t->n > 40 ? 40 : t->n), t->s, t->n > 40 ? "..." : "");
		return buf;
	}
	unsigned char c = (unsigned char)t->c;
	if (c > 32 && c < 127)
		snprintf(buf, n, "'%c'", c);
	else
		snprintf(buf, n, "byte 0x%02x", c);
	return buf;
}

/* ---- lexer ------------------------------------------------------------------ */

static bool is_word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
	       c == '-' || c == '+';
}

static long col_of(P *p) { return (long)(p->s - p->line_start) + 1; }

static void newline(P *p)
{
	p->line++;
	p->s++;
	p->line_start = p->s;
}

/* Whitespace and # comments. */
static void skip_space(P *p)
{
	while (p->s < p->end) {
		char c = *p->s;
		if (c == '\n')
			newline(p);
		else if (c == ' ' || c == '\t' || c == '\r')
			p->s++;
		else if (c == '#')
			while (p->s < p->end && *p->s != '\n')
				p->s++;
		else
			break;
	}
}

static bool str_push(P *p, char c)
{
	if (p->str_n + 1 >= p->str_cap) {
		size_t ncap = p->str_cap ? p->str_cap * 2 : 64;
		char *ns = realloc(p->str, ncap);
		if (!ns)
			return error_tok(p, "out of memory");
		p->str = ns;
		p->str_cap = ncap;
	}
	p->str[p->str_n++] = c;
	p->str[p->str_n] = 0;
	return true;
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

/* A "..." literal into p->str; p->s is at the opening quote. */
static bool lex_string(P *p)
{
	p->s++;
	p->str_n = 0;
	if (!str_push(p, 0))
		return false;
	p->str_n = 0;
	for (;;) {
		if (p->s >= p->end || *p->s == '\n')
			return error_tok(p, "unterminated string");
		char c = *p->s++;
		if (c == '"')
			return true;
		if (c == '\\') {
			long col = col_of(p) - 1;
			if (p->s >= p->end)
				return error_tok(p, "unterminated string");
			c = *p->s++;
			if (c == 'x') {
				int hi = p->end - p->s >= 2 ? hexval(p->s[0]) : -1, lo = hi >= 0 ? hexval(p->s[1]) : -1;
				if (lo < 0)
					return error_at(p, p->line, col, "\\x must be followed by two hex digits");
				c = (char)(hi << 4 | lo);
				p->s += 2;
			} else if (c == 'n')
				c = '\n';
			else if (c == 't')
				c = '\t';
			else if (c != '"' && c != '\\')
				return error_at(p, p->line, col, "unknown escape in a string");
			if (c == 0)
				return error_at(p, p->line, col, "a string cannot contain a NUL byte");
		}
		if (!str_push(p, c))
			return false;
	}
}

static Tok *peek(P *p)
{
	if (p->have)
		return &p->tok;
	skip_space(p);
	Tok *t = &p->tok;
	*t = (Tok){.line = p->line, .col = col_of(p)};
	p->have = true;
	if (p->s >= p->end) {
		t->kind = TK_EOF;
	} else if (*p->s == '"') {
		t->kind = TK_STR;
		if (!lex_string(p))
			t->kind = TK_EOF;   /* error already recorded */
	} else if (is_word_char(*p->s)) {
		t->kind = TK_WORD;
		t->s = p->s;
		while (p->s < p->end && is_word_char(*p->s))
			p->s++;
		t->n = (size_t)(p->s - t->s);
	} else {
		t->kind = TK_PUNCT;
		t->c = *p->s++;
	}
	return t;
}

static void next(P *p) { p->have = false; }

static bool is_punct(P *p, char c)
{
	Tok *t = peek(p);
	return t->kind == TK_PUNCT && t->c == c;
}

static bool accept(P *p, char c)
{
	if (!is_punct(p, c))
		return false;
	next(p);
	return true;
}

static bool expect(P *p, char c, const char *what)
{
	if (accept(p, c))
		return true;
	char b[64];
	if (p->failed)
		return false;
	return error_tok(p, "expected '%c'%s%s, found %s", c, what ? " " : "", what ? what : "", describe(p, b, sizeof b));
}

static bool is_word(P *p, const char *w)
{
	Tok *t = peek(p);
	return t->kind == TK_WORD && t->n == strlen(w) && memcmp(t->s, w, t->n) == 0;
}

static bool keyword(P *p, const char *w)
{
	if (is_word(p, w)) {
		next(p);
		return true;
	}
	char b[64];
	if (p->failed)
		return false;
	return error_tok(p, "expected '%s', found %s", w, describe(p, b, sizeof b));
}

/* The current word into buf (NUL-terminated); false if too long. */
static bool word_text(P *p, char *buf, size_t n, const char *what)
{
	Tok *t = peek(p);
	char b[64];
	if (t->kind != TK_WORD)
		return p->failed ? false : error_tok(p, "expected %s, found %s", what, describe(p, b, sizeof b));
	if (t->n >= n)
		return error_tok(p, "%s %s is too long", what, describe(p, b, sizeof b));
	memcpy(buf, t->s, t->n);
	buf[t->n] = 0;
	return true;
}

/* ---- numbers ------------------------------------------------------------------ */

static bool all_digits(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Checked decimal integer in [lo, hi]. */
static bool parse_int(P *p, int64_t *v, int64_t lo, int64_t hi, const char *what)
{
	char buf[NUM_MAX];
	if (!word_text(p, buf, sizeof buf, what))
		return false;
	char *e;
	errno = 0;
	long long x = strtoll(buf, &e, 10);
	if (!all_digits(buf) || *e)
		return error_tok(p, "%s '%s' is not an integer", what, buf);
	if (errno == ERANGE || x < lo || x > hi)
		return error_tok(p, "%s %s is out of range [%lld, %lld]", what, buf, (long long)lo, (long long)hi);
	*v = x;
	next(p);
	return true;
}

/* A float32 (inf, -inf and nan spelled out), widened to double. */
static bool parse_float(P *p, double *v, const char *what)
{
	char buf[NUM_MAX];
	if (!word_text(p, buf, sizeof buf, what))
		return false;
	char *e;
	errno = 0;
	float x = strtof(buf, &e);
	if (e == buf || *e)
		return error_tok(p, "%s '%s' is not a number", what, buf);
	if (errno == ERANGE && isinf(x))
		return error_tok(p, "%s %s is out of float32 range", what, buf);
	*v = x;
	next(p);
	return true;
}

/* ---- names --------------------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static ValueId names_find(const NameMap *m, const char *name)
{
	if (!m->cap)
		return -1;
	for (size_t i = hash_str(name) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->key[i])
			return -1;
		if (strcmp(m->key[i], name) == 0)
			return m->val[i];
	}
}

/* key must outlive the map (it is the arena copy of the value's name). */
static bool names_add(NameMap *m, const char *key, ValueId v)
{
	if (2 * (m->n + 1) > m->cap) {
		size_t ncap = m->cap ? 2 * m->cap : 64;
		const char **nk = calloc(ncap, sizeof *nk);
		ValueId *nv = calloc(ncap, sizeof *nv);
		if (!nk || !nv) {
			free(nk);
			free(nv);
			return false;
		}
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->key[i])
				continue;
			size_t j = hash_str(m->key[i]) & (ncap - 1);
			while (nk[j])
				j = (j + 1) & (ncap - 1);
			nk[j] = m->key[i];
			nv[j] = m->val[i];
		}
		free(m->key);
		free(m->val);
		m->key = nk;
		m->val = nv;
		m->cap = ncap;
	}
	size_t i = hash_str(key) & (m->cap - 1);
	while (m->key[i])
		i = (i + 1) & (m->cap - 1);
	m->key[i] = key;
	m->val[i] = v;
	m->n++;
	return true;
}

/* A bare word or a string into p->str. */
static bool name_text(P *p, const char *what)
{
	Tok *t = peek(p);
	if (t->kind == TK_STR) {
		next(p);
	} else if (t->kind == TK_WORD) {
		p->str_n = 0;
		for (size_t i = 0; i < t->n; i++)
			if (!str_push(p, t->s[i]))
				return false;
		next(p);
	} else {
		char b[64];
		return p->failed ? false : error_tok(p, "expected %s, found %s", what, describe(p, b, sizeof b));
	}
	return true;
}

/* %name into p->str (a copy the caller may keep is made by the caller). */
static bool value_name(P *p)
{
	if (!expect(p, '%', "before a value name"))
		return false;
	long line = p->tok.line, col = p->tok.col;
	if (!name_text(p, "a value name"))
		return false;
	if (!p->str_n)
		return error_at(p, line, col, "a value name cannot be empty");
	return true;
}

/* %name of an already defined value. */
static bool value_use(P *p, ValueId *v)
{
	long line = peek(p)->line, col = p->tok.col;
	if (!value_name(p))
		return false;
	*v = names_find(&p->names, p->str);
	if (*v < 0)
		return error_at(p, line, col, "'%%%.200s' is used before it is defined", p->str);
	return true;
}

/* ---- types --------------------------------------------------------------------- */

/* A list "[" x ("," x)* "]" of floats or ints into a malloc'd array. */
static bool parse_list(P *p, bool floats, void **out, int *count, const char *what)
{
	*out = NULL;
	*count = 0;
	if (!expect(p, '[', NULL))
		return false;
	size_t cap = 0, n = 0, elem = floats ? sizeof(double) : sizeof(int64_t);
	char *buf = NULL;
	while (!accept(p, ']')) {
		if (n && !expect(p, ',', NULL))
			goto fail;
		if (n == (size_t)INT32_MAX / 2) {
			error_tok(p, "%s has too many values", what);
			goto fail;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 8;
			char *nb = realloc(buf, cap * elem);
			if (!nb) {
				error_tok(p, "out of memory");
				goto fail;
			}
			buf = nb;
		}
		bool ok = floats ? parse_float(p, (double *)buf + n, what)
				 : parse_int(p, (int64_t *)buf + n, INT64_MIN, INT64_MAX, what);
		if (!ok)
			goto fail;
		n++;
	}
	*out = buf;
	*count = (int)n;
	return true;
fail:
	free(buf);
	return false;
}

/* {q: SCALE, ZERO} or {q axis=A: [SCALES], [ZEROS]} after a type. */
static const Quant *parse_quant(P *p, int rank, const int64_t *dims)
{
	long line = p->tok.line, col = p->tok.col;
	if (!keyword(p, "q"))
		return NULL;
	const Quant *q = NULL;
	if (accept(p, ':')) {
		double s;
		int64_t z;
		if (!parse_float(p, &s, "quantization scale") || !expect(p, ',', "after the scale") ||
		    !parse_int(p, &z, INT32_MIN, INT32_MAX, "zero point"))
			return NULL;
		float sf = (float)s;
		int32_t zf = (int32_t)z;
		q = ir_quant(p->g, -1, 1, &sf, &zf);
	} else {
		int64_t axis;
		double *sc = NULL;
		int64_t *zp = NULL;
		int ns = 0, nz = 0;
		if (!keyword(p, "axis") || !expect(p, '=', "after 'axis'") ||
		    !parse_int(p, &axis, 0, IR_MAX_RANK - 1, "quantization axis") || !expect(p, ':', "after the axis"))
			return NULL;
		if (axis >= rank)
			return error_at(p, line, col, "quantization axis %lld is out of range for rank %d", (long long)axis,
					rank), NULL;
		bool ok = parse_list(p, true, (void **)&sc, &ns, "scales") && expect(p, ',', "after the scales") &&
			  parse_list(p, false, (void **)&zp, &nz, "zero points");
		if (ok && (ns != dims[axis] || nz != dims[axis]))
			ok = error_at(p, line, col, "per-axis quantization has %d scales and %d zero points; axis %lld has %lld",
				      ns, nz, (long long)axis, (long long)dims[axis]);
		for (int i = 0; ok && i < nz; i++)
			if (zp[i] < INT32_MIN || zp[i] > INT32_MAX)
				ok = error_at(p, line, col, "zero point %lld is out of int32 range", (long long)zp[i]);
		float *sf = ok ? malloc((ns + 1) * sizeof *sf) : NULL;
		int32_t *zf = ok ? malloc((nz + 1) * sizeof *zf) : NULL;
		if (ok && (!sf || !zf))
			ok = error_at(p, line, col, "out of memory");
		if (ok) {
			if (ns == 0)
				ok = error_at(p, line, col, "per-axis quantization along an empty axis");
			for (int i = 0; ok && i < ns; i++) {
				sf[i] = (float)sc[i];
				zf[i] = (int32_t)zp[i];
			}
		}
		if (ok)
			q = ir_quant(p->g, (int)axis, ns, sf, zf);
		free(sc);
		free(zp);
		free(sf);
		free(zf);
		if (!ok)
			return NULL;
	}
	if (!q)
		return error_at(p, line, col, "out of memory"), NULL;
	if (!expect(p, '}', "after the quantization"))
		return NULL;
	return q;
}

static bool is_word_prefix(P *p, const char *w)
{
	Tok *t = peek(p);
	return t->kind == TK_WORD && t->n > strlen(w) && memcmp(t->s, w, strlen(w)) == 0;
}

/* nchw<B>c} after a type's '{': the channel block B (0 on error). */
static int parse_layout(P *p)
{
	char w[24], *end;
	if (!word_text(p, w, sizeof w, "a layout"))
		return 0;
	long b = strtol(w + 4, &end, 10);
	if (end == w + 4 || strcmp(end, "c") || b < 2 || b > 64 || (b & (b - 1)))
		return error_tok(p, "unknown layout '%s' (expected nchw<B>c, B a power of two from 2 to 64)", w), 0;
	next(p);
	return expect(p, '}', "after the layout") ? (int)b : 0;
}

/* DTYPE "[" dims "]" quant? layout? */
static TypeId parse_type(P *p)
{
	char name[16];
	long line = peek(p)->line, col = p->tok.col;
	if (!word_text(p, name, sizeof name, "a dtype"))
		return -1;
	DType dt = ir_dtype_from_name(name);
	if (dt == DT_UNDEF)
		return error_tok(p, "unknown dtype '%s'", name), -1;
	next(p);
	if (!expect(p, '[', "after the dtype"))
		return -1;
	int64_t dims[IR_MAX_RANK];
	int rank = 0;
	while (!accept(p, ']')) {
		if (rank && !expect(p, ',', "between dimensions"))
			return -1;
		if (rank == IR_MAX_RANK)
			return error_tok(p, "rank exceeds %d", IR_MAX_RANK), -1;
		if (!parse_int(p, &dims[rank], 0, INT64_MAX, "dimension"))
			return -1;
		rank++;
	}
	int64_t n = ir_shape_numel(rank, dims);
	if (n < 0 || n > INT64_MAX / 16)
		return error_at(p, line, col, "shape has too many elements"), -1;
	const Quant *q = NULL;
	int block = 0;
	while (accept(p, '{')) {
		if (!block && is_word_prefix(p, "nchw")) {
			if (!(block = parse_layout(p)))
				return -1;
		} else if (block || q || !(q = parse_quant(p, rank, dims)))
			return block || q ? error_tok(p, "a type has one quantization, then one layout"), -1 : -1;
	}
	TypeId t = ir_type(p->g, dt, rank, dims, q);
	if (t >= 0 && block) {
		Type x = *ir_type_get(p->g, t);
		if (!ir_block_ok(&x, block))
			return error_at(p, line, col, "layout nchw%dc needs an f32 [N, C, H, W] with C a multiple of %d", block,
					block), -1;
		t = ir_type_blocked(p->g, t, block);
	}
	if (t < 0)
		error_at(p, line, col, "out of memory");
	return t;
}

/* ---- nodes ---------------------------------------------------------------------- */

/* NAME "=" value; arrays are malloc'd, owned by the caller's cleanup. */
static bool parse_attr(P *p, Attr *a, const Attr *prev, int nprev)
{
	long line = peek(p)->line, col = p->tok.col;
	if (!name_text(p, "an attribute name"))
		return false;
	if (!p->str_n)
		return error_at(p, line, col, "an attribute name cannot be empty");
	for (int i = 0; i < nprev; i++)
		if (!strcmp(prev[i].name, p->str))
			return error_at(p, line, col, "attribute '%.100s' is given twice", p->str);
	const char *name = ir_arena_strdup(p->g->arena, p->str);
	if (!name)
		return error_at(p, line, col, "out of memory");
	if (!expect(p, '=', "after the attribute name"))
		return false;
	Tok *t = peek(p);
	if (t->kind == TK_STR) {
		const char *s = ir_arena_strdup(p->g->arena, p->str);
		if (!s)
			return error_tok(p, "out of memory");
		next(p);
		*a = ir_astr(name, s);
		return true;
	}
	if (is_punct(p, '[') || is_word(p, "f")) {
		bool floats = is_word(p, "f");
		if (floats)
			next(p);
		void *v;
		int n;
		if (!parse_list(p, floats, &v, &n, floats ? "float list" : "int list"))
			return false;
		*a = floats ? ir_afloats(name, v, n) : ir_aints(name, v, n);
		return true;
	}
	char buf[NUM_MAX];
	if (!word_text(p, buf, sizeof buf, "an attribute value"))
		return false;
	if (all_digits(buf)) {
		int64_t i;
		if (!parse_int(p, &i, INT64_MIN, INT64_MAX, "attribute value"))
			return false;
		*a = ir_ai(name, i);
	} else {
		double f;
		if (!parse_float(p, &f, "attribute value"))
			return false;
		*a = ir_af(name, f);
	}
	return true;
}

static void free_attrs(Attr *attrs, int n)
{
	for (int i = 0; i < n; i++) {
		if (attrs[i].kind == ATTR_INTS)
			free(attrs[i].ints);
		else if (attrs[i].kind == ATTR_FLOATS)
			free(attrs[i].floats);
	}
	free(attrs);
}

/* OP "(" operands ")" attrs? loc?  for the result `name` of declared type t;
 * the op word is the current token. */
static bool parse_node(P *p, const char *name, TypeId t, long line, long col)
{
	char opname[32];
	if (!word_text(p, opname, sizeof opname, "an op name"))
		return false;
	Op op = ir_op_from_name(opname);
	if (op == OP_COUNT)
		return error_tok(p, "unknown op '%s'", opname);
	next(p);
	if (!expect(p, '(', "after the op name"))
		return false;
	ValueId in[MAX_OPERANDS];
	int nin = 0;
	while (!accept(p, ')')) {
		if (nin && !expect(p, ',', "between operands"))
			return false;
		if (nin == MAX_OPERANDS)
			return error_tok(p, "more than %d operands", MAX_OPERANDS);
		if (is_word(p, "_")) {
			next(p);
			in[nin++] = -1;
		} else if (!value_use(p, &in[nin++]))
			return false;
	}
	Attr *attrs = NULL;
	int nattr = 0, cap = 0;
	bool ok = true;
	if (accept(p, '{')) {
		while (ok && !accept(p, '}')) {
			if (nattr && !(ok = expect(p, ',', "between attributes")))
				break;
			if (nattr == cap) {
				cap = cap ? 2 * cap : 8;
				Attr *na = cap < 4096 ? realloc(attrs, cap * sizeof *na) : NULL;
				if (!na) {
					ok = error_tok(p, "too many attributes");
					break;
				}
				attrs = na;
			}
			attrs[nattr] = (Attr){.kind = ATTR_INT};
			ok = parse_attr(p, &attrs[nattr], attrs, nattr);
			nattr += ok;
		}
	}
	char *node_name = NULL;
	const char *src_op = ir_ops[op].onnx[0] ? ir_ops[op].onnx : ir_ops[op].name;
	if (ok && is_word(p, "loc")) {
		next(p);
		ok = expect(p, '(', "after 'loc'") && name_text(p, "the node name");
		if (ok && !(node_name = strdup(p->str)))
			ok = error_tok(p, "out of memory");
		ok = ok && expect(p, ',', "after the node name") && name_text(p, "the source op");
		if (ok && !(src_op = ir_arena_strdup(p->g->arena, p->str)))
			ok = error_tok(p, "out of memory");
		ok = ok && expect(p, ')', "after the source op");
	}
	if (ok) {
		/* Run the shape rule with no file so its message nests under our position. */
		Diag d;
		diag_init(&d);
		const char *file = p->g->file;
		p->g->file = NULL;
		TypeId inferred = ir_infer_result(p->g, op, node_name ? node_name : "", in, nin, attrs, nattr, t, &d);
		p->g->file = file;
		if (inferred < 0) {
			ok = error_at(p, line, col, "%s", d.nmsg ? d.msgs[0] : "invalid node");
		} else if (ir_type_blocked(p->g, inferred, ir_type_get(p->g, t)->block) != t) {
			char a[160], b[160];
			ok = error_at(p, line, col, "node '%.200s' (%s): '%%%.200s' is declared %s but %s produces %s",
				      node_name ? node_name : "", src_op, name, ir_type_str(ir_type_get(p->g, t), a, sizeof a),
				      ir_ops[op].name, ir_type_str(ir_type_get(p->g, inferred), b, sizeof b));
		}
		diag_free(&d);
	}
	if (ok) {
		NodeId n = ir_add_node(p->g, op, node_name ? node_name : "", in, nin, attrs, nattr, name, t);
		if (n < 0)
			ok = error_at(p, line, col, "out of memory");
		else {
			p->g->nodes.v[n].src_op = src_op;
			const char *why = ir_layout_error(p->g, &p->g->nodes.v[n]);
			if (why)
				ok = error_at(p, line, col, "node '%.200s' (%s): layout: %s", node_name ? node_name : "", src_op, why);
			ok = ok && (names_add(&p->names, ir_value(p->g, p->g->nodes.v[n].out)->name, p->g->nodes.v[n].out) ||
				    error_at(p, line, col, "out of memory"));
		}
	}
	free(node_name);
	free_attrs(attrs, nattr);
	return ok;
}

/* ---- statements -------------------------------------------------------------------- */

static bool add_const_ref(P *p, int64_t id, ValueId v, long line, long col)
{
	if (p->nconsts == p->consts_cap) {
		int ncap = p->consts_cap ? 2 * p->consts_cap : 16;
		ConstRef *nc = realloc(p->consts, ncap * sizeof *nc);
		if (!nc)
			return error_at(p, line, col, "out of memory");
		p->consts = nc;
		p->consts_cap = ncap;
	}
	p->consts[p->nconsts++] = (ConstRef){id, v, line, col, false};
	return true;
}

/* "input" or "const @N" after "%name : TYPE =". */
static bool parse_leaf(P *p, const char *name, TypeId t, bool is_const, long line, long col)
{
	ValueId v;
	int64_t id = 0;
	if (is_const) {
		if (!expect(p, '@', "after 'const'") || !parse_int(p, &id, 0, INT64_MAX, "data id"))
			return false;
		/* All data follows the graph as two hex digits a byte: refuse
		 * sizes the rest of the text cannot hold before allocating them. */
		int64_t bytes = ir_type_bytes(ir_type_get(p->g, t));
		if (bytes > (p->end - p->s) / 2 - p->const_bytes)
			return error_at(p, line, col, "constant '%%%.200s' needs %lld bytes of data; the file is too short",
					name, (long long)bytes);
		p->const_bytes += bytes;
		v = ir_add_const(p->g, name, t, NULL);
	} else {
		v = ir_add_input(p->g, name, t);
	}
	if (v < 0 || !names_add(&p->names, ir_value(p->g, v)->name, v))
		return error_at(p, line, col, "out of memory");
	return !is_const || add_const_ref(p, id, v, line, col);
}

/* %name ":" TYPE "=" (input | const @N | OP(...) ...) */
static bool parse_def(P *p)
{
	long line = peek(p)->line, col = p->tok.col;
	if (!value_name(p))
		return false;
	char *name = strdup(p->str);
	if (!name)
		return error_at(p, line, col, "out of memory");
	bool ok;
	if (names_find(&p->names, name) >= 0) {
		ok = error_at(p, line, col, "'%%%.200s' is defined twice", name);
	} else {
		TypeId t = expect(p, ':', "after the value name") ? parse_type(p) : -1;
		ok = t >= 0 && expect(p, '=', "after the type");
		if (ok && (is_word(p, "input") || is_word(p, "const")) && ir_type_get(p->g, t)->block)
			ok = error_at(p, line, col, "'%%%.200s': graph inputs and constants are row-major (no layout)", name);
		if (ok && is_word(p, "input")) {
			next(p);
			ok = parse_leaf(p, name, t, false, line, col);
		} else if (ok && is_word(p, "const")) {
			next(p);
			ok = parse_leaf(p, name, t, true, line, col);
		} else if (ok) {
			ok = parse_node(p, name, t, line, col);
		}
	}
	free(name);
	return ok;
}

static bool parse_outputs(P *p)
{
	next(p);  /* "output" */
	do {
		ValueId v;
		long line = peek(p)->line, col = p->tok.col;
		if (!value_use(p, &v))
			return false;
		if (ir_value_type(p->g, v)->block)
			return error_at(p, line, col, "graph outputs are row-major: '%%%.200s' is in channel blocks",
					ir_value(p->g, v)->name);
		if (!ir_mark_output(p->g, v))
			return error_at(p, line, col, "out of memory");
	} while (accept(p, ','));
	return true;
}

static int cmp_const(const void *a, const void *b)
{
	const ConstRef *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* data @N = x"HEX" with whitespace allowed between hex digits. */
static bool parse_data(P *p)
{
	long line = peek(p)->line, col = p->tok.col;
	int64_t id;
	if (!keyword(p, "data") || !expect(p, '@', "after 'data'") || !parse_int(p, &id, 0, INT64_MAX, "data id") ||
	    !expect(p, '=', "after the data id") || !keyword(p, "x"))
		return false;
	/* The hex body is read straight from the text, not through tokens. */
	if (p->have)
		die("lookahead pending before hex data");
	if (p->s >= p->end || *p->s != '"')
		return error_at(p, p->line, col_of(p), "expected '\"' to open the hex data");
	p->s++;
	ConstRef key = {.id = id}, *c = p->nconsts ? bsearch(&key, p->consts, p->nconsts, sizeof key, cmp_const) : NULL;
	if (!c)
		return error_at(p, line, col, "data @%lld belongs to no constant", (long long)id);
	if (c->filled)
		return error_at(p, line, col, "data @%lld is given twice", (long long)id);
	Value *v = ir_value(p->g, c->v);
	int64_t bytes = ir_type_bytes(ir_type_get(p->g, v->type)), k = 0;
	unsigned char *dst = (unsigned char *)v->data;
	int hi = -1;
	for (;;) {
		if (p->s >= p->end)
			return error_at(p, line, col, "data @%lld is not terminated by '\"'", (long long)id);
		char ch = *p->s;
		if (ch == '"')
			break;
		if (ch == '\n') {
			newline(p);
			continue;
		}
		if (ch == ' ' || ch == '\t' || ch == '\r') {
			p->s++;
			continue;
		}
		int h = hexval(ch);
		if (h < 0)
			return error_at(p, p->line, col_of(p), "bad hex digit in data @%lld", (long long)id);
		if (hi < 0) {
			hi = h;
		} else {
			if (k >= bytes)
				return error_at(p, line, col, "data @%lld has more than the %lld bytes '%%%.200s' needs",
						(long long)id, (long long)bytes, v->name);
			dst[k++] = (unsigned char)(hi << 4 | h);
			hi = -1;
		}
		p->s++;
	}
	p->s++;
	if (hi >= 0)
		return error_at(p, line, col, "data @%lld has an odd number of hex digits", (long long)id);
	if (k != bytes)
		return error_at(p, line, col, "data @%lld has %lld bytes, '%%%.200s' needs %lld", (long long)id,
				(long long)k, v->name, (long long)bytes);
	c->filled = true;
	return true;
}

static bool parse_file(P *p)
{
	if (!keyword(p, "kiln"))
		return false;
	if (!is_word(p, "1")) {
		char b[64];
		return p->failed ? false : error_tok(p, "unsupported .kir version %s (this kiln reads 1)",
						     describe(p, b, sizeof b));
	}
	next(p);
	if (!keyword(p, "graph") || !expect(p, '@', "before the graph name") || !name_text(p, "the graph name"))
		return false;
	p->g->name = ir_arena_strdup(p->g->arena, p->str);
	if (!p->g->name)
		return error_tok(p, "out of memory");
	if (!expect(p, '{', "to open the graph"))
		return false;
	while (!accept(p, '}')) {
		bool ok;
		if (is_word(p, "output"))
			ok = parse_outputs(p);
		else if (is_punct(p, '%'))
			ok = parse_def(p);
		else {
			char b[64];
			ok = p->failed ? false
				       : error_tok(p, "expected a definition '%%name : type = ...', 'output' or '}', found %s",
						   describe(p, b, sizeof b));
		}
		if (!ok)
			return false;
	}
	if (p->nconsts)
		qsort(p->consts, p->nconsts, sizeof *p->consts, cmp_const);
	for (int i = 1; i < p->nconsts; i++)
		if (p->consts[i].id == p->consts[i - 1].id) {
			const ConstRef *c = p->consts[i].line > p->consts[i - 1].line ? &p->consts[i] : &p->consts[i - 1];
			return error_at(p, c->line, c->col, "const @%lld is used by two constants", (long long)c->id);
		}
	while (peek(p)->kind != TK_EOF)
		if (!parse_data(p))
			return false;
	if (p->failed)
		return false;
	for (int i = 0; i < p->nconsts; i++)
		if (!p->consts[i].filled)
			return error_at(p, p->consts[i].line, p->consts[i].col, "constant '%%%.200s' has no data @%lld",
					ir_value(p->g, p->consts[i].v)->name, (long long)p->consts[i].id);
	return true;
}

Graph *ir_parse(const char *text, size_t len, const char *file, Diag *d)
{
	Graph *g = ir_graph_new("model");
	const char *gfile = g ? ir_arena_strdup(g->arena, file ? file : "") : NULL;
	if (!gfile) {
		ir_graph_free(g);
		diag_error(d, file, NULL, NULL, "out of memory");
		return NULL;
	}
	g->file = gfile;
	P p = {.s = text, .end = text + len, .file = file, .line_start = text, .line = 1, .d = d, .g = g};
	bool ok = text ? parse_file(&p) : error_at(&p, 1, 1, "no text");
	free(p.str);
	free(p.names.key);
	free(p.names.val);
	free(p.consts);
	if (!ok) {
		if (!p.failed)
			diag_error(d, file, NULL, NULL, "out of memory");
		ir_graph_free(g);
		return NULL;
	}
	return g;
}
