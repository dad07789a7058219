/* The expression of a fused elementwise node (op fused_ew, attr expr):
 * parsing, printing, and which ops may appear in one.  Grammar:
 *   expr := '%' INT | OP ['[' NAME '=' NUM {',' NAME '=' NUM} ']'] '(' expr {',' expr} ')'
 * OP is an op's text name; %i is operand i; numbers with a '.', 'e',
 * "inf" or "nan" are float attributes, the rest ints. */
#include "ir.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool ir_ew_fusable(Op op)
{
	/* f32 in, f32 out only: no casts, tests, comparisons, logic or bits. */
	static const Op no[] = {OP_CAST, OP_WHERE, OP_EXPAND, OP_NOT, OP_AND, OP_OR, OP_XOR, OP_BITWISE_NOT,
				OP_BITWISE_AND, OP_BITWISE_OR, OP_BITWISE_XOR, OP_BIT_SHIFT, OP_EQUAL, OP_LESS,
				OP_LESS_EQUAL, OP_GREATER, OP_GREATER_EQUAL, OP_ISNAN, OP_ISINF};
	if (op >= OP_COUNT || !(ir_ops[op].flags & OPF_EW))
		return false;
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		if (op == no[i])
			return false;
	return true;
}

typedef struct P {
	const char *s;
	int nin;
	IrEwExpr *e;
	char *err;
	size_t errn;
	size_t pool;  /* bytes of e->names used */
	int depth;    /* nesting, bounded: a hostile expr must not exhaust the stack */
} P;

static bool fail(P *p, const char *why)
{
	snprintf(p->err, p->errn, "expr: %s at '%.16s'", why, p->s);
	return false;
}

static void skip(P *p)
{
	while (*p->s == ' ')
		p->s++;
}

static const char *word(P *p, char *buf, size_t n)
{
	size_t k = 0;
	while (isalnum((unsigned char)*p->s) || *p->s == '_') {
		if (k + 1 < n)
			buf[k++] = *p->s;
		p->s++;
	}
	buf[k] = 0;
	return buf;
}

static int term(P *p);

static bool attrs(P *p, IrEwTerm *t)
{
	p->s++;  /* '[' */
	for (;;) {
		skip(p);
		char name[32];
		if (!*word(p, name, sizeof name))
			return fail(p, "attribute name expected");
		if (t->nattr == IR_EW_MAXATTR)
			return fail(p, "too many attributes");
		size_t len = strlen(name) + 1;
		if (p->pool + len > sizeof p->e->names)
			return fail(p, "attribute names too long");
		char *dst = p->e->names + p->pool;
		memcpy(dst, name, len);
		p->pool += len;
		skip(p);
		if (*p->s++ != '=')
			return fail(p, "'=' expected");
		skip(p);
		const char *num = p->s;
		char *end;
		double f = strtod(num, &end);
		if (end == num)
			return fail(p, "number expected");
		bool isf = false;
		for (const char *q = num; q < end; q++)
			isf |= *q == '.' || *q == 'e' || *q == 'E' || *q == 'n' || *q == 'N' || *q == 'i' || *q == 'I';
		p->s = end;
		Attr *a = &t->attr[t->nattr++];
		*a = isf ? ir_af(dst, f) : ir_ai(dst, strtoll(num, NULL, 10));
		skip(p);
		if (*p->s == ']') {
			p->s++;
			return true;
		}
		if (*p->s++ != ',')
			return fail(p, "',' or ']' expected");
	}
}

/* Parses one term and its children; returns its index or -1. */
static int term(P *p)
{
	skip(p);
	IrEwExpr *e = p->e;
	if (e->n == IR_EW_MAX || p->depth >= IR_EW_MAX)
		return fail(p, "too many terms"), -1;
	IrEwTerm t = {.op = OP_COUNT};
	if (*p->s == '%') {
		p->s++;
		char *end;
		long i = strtol(p->s, &end, 10);
		if (end == p->s || i < 0 || i >= p->nin)
			return fail(p, "operand index out of range"), -1;
		p->s = end;
		t.leaf = (int)i;
		e->t[e->n] = t;
		return e->n++;
	}
	char name[32];
	const char *at = p->s;
	t.op = ir_op_from_name(word(p, name, sizeof name));
	if (!ir_ew_fusable(t.op)) {
		p->s = at;
		return fail(p, "not an elementwise op that fuses"), -1;
	}
	if (*p->s == '[' && !attrs(p, &t))
		return -1;
	if (*p->s++ != '(')
		return fail(p, "'(' expected"), -1;
	for (;;) {
		if (t.nkid == 3)
			return fail(p, "too many operands"), -1;
		p->depth++;
		int k = term(p);
		p->depth--;
		if (k < 0)
			return -1;
		t.kid[t.nkid++] = k;
		skip(p);
		if (*p->s == ')') {
			p->s++;
			break;
		}
		if (*p->s++ != ',')
			return fail(p, "',' or ')' expected"), -1;
	}
	if (t.nkid < ir_ops[t.op].min_in || t.nkid > ir_ops[t.op].max_in)
		return fail(p, "wrong operand count"), -1;
	if (e->n == IR_EW_MAX)
		return fail(p, "too many terms"), -1;
	e->t[e->n] = t;
	return e->n++;
}

bool ir_ew_parse(const char *s, int nin, IrEwExpr *e, char *err, size_t errn)
{
	P p = {s, nin, e, err, errn, 0, 0};
	e->n = 0;
	if (term(&p) < 0)
		return false;
	skip(&p);
	if (*p.s)
		return fail(&p, "trailing text");
	return true;
}

static bool put(char **b, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool put(char **b, size_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(*b, *n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= *n)
		return false;
	*b += k;
	*n -= (size_t)k;
	return true;
}

static bool print_term(const IrEwExpr *e, int i, char **b, size_t *n)
{
	const IrEwTerm *t = &e->t[i];
	if (t->op == OP_COUNT)
		return put(b, n, "%%%d", t->leaf);
	if (!put(b, n, "%s", ir_ops[t->op].name))
		return false;
	for (int a = 0; a < t->nattr; a++) {
		const Attr *at = &t->attr[a];
		if (at->kind == ATTR_INT) {
			if (!put(b, n, "%s%s=%lld", a ? "," : "[", at->name, (long long)at->i))
				return false;
			continue;
		}
		/* 9 digits round-trip an f32; an integral value gets ".0" so it
		 * parses back as a float. */
		char num[32];
		snprintf(num, sizeof num, "%.9g", at->f);
		if (!put(b, n, "%s%s=%s%s", a ? "," : "[", at->name, num, strpbrk(num, ".eEnNiI") ? "" : ".0"))
			return false;
	}
	if (t->nattr && !put(b, n, "]"))
		return false;
	if (!put(b, n, "("))
		return false;
	for (int k = 0; k < t->nkid; k++)
		if ((k && !put(b, n, ", ")) || !print_term(e, t->kid[k], b, n))
			return false;
	return put(b, n, ")");
}

bool ir_ew_print(const IrEwExpr *e, char *buf, size_t n)
{
	return e->n > 0 && print_term(e, e->n - 1, &buf, &n);
}
