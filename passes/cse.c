/* Common subexpression elimination: constants with the same type and bytes
 * are one constant, and nodes with the same op, operands and attributes
 * compute the same value.  The first stays; readers of the others move to
 * it.  One sweep in execution order, operands renamed as it goes, so whole
 * duplicated chains merge at once. */
#include "passes.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ull;  /* FNV-1a */
	return h;
}

static uint64_t hash_int(uint64_t h, int64_t v) { return hash_bytes(h, &v, sizeof v); }

/* Big constants are hashed from about 4 KiB of samples: equal hashes are
 * confirmed by memcmp, so sampling only costs a comparison on collision. */
static uint64_t hash_const(const Graph *g, const Value *v, int64_t bytes)
{
	uint64_t h = hash_int(0xcbf29ce484222325ull, v->type);
	if (bytes <= 4096)
		return hash_bytes(h, v->data, (size_t)bytes);
	int64_t step = bytes / 512;
	for (int64_t k = 0; k + 8 <= bytes; k += step)
		h = hash_bytes(h, (const char *)v->data + k, 8);
	return hash_bytes(h, (const char *)v->data + bytes - 8, 8);
}

static bool same_attr(const Attr *a, const Attr *b)
{
	if (strcmp(a->name, b->name) || a->kind != b->kind)
		return false;
	switch (a->kind) {
	case ATTR_INT: return a->i == b->i;
	case ATTR_FLOAT: return !memcmp(&a->f, &b->f, sizeof a->f);  /* bits: -0.0 and NaN payloads count */
	case ATTR_INTS: return a->n == b->n && (!a->n || !memcmp(a->ints, b->ints, a->n * sizeof *a->ints));
	case ATTR_FLOATS: return a->n == b->n && (!a->n || !memcmp(a->floats, b->floats, a->n * sizeof *a->floats));
	case ATTR_STRING: return !strcmp(a->s, b->s);
	}
	return false;
}

static uint64_t hash_attr(const Attr *a)
{
	uint64_t h = hash_bytes(0xcbf29ce484222325ull, a->name, strlen(a->name));
	h = hash_int(h, a->kind);
	switch (a->kind) {
	case ATTR_INT: return hash_int(h, a->i);
	case ATTR_FLOAT: return hash_bytes(h, &a->f, sizeof a->f);
	case ATTR_INTS: return a->n ? hash_bytes(h, a->ints, a->n * sizeof *a->ints) : h;
	case ATTR_FLOATS: return a->n ? hash_bytes(h, a->floats, a->n * sizeof *a->floats) : h;
	case ATTR_STRING: return hash_bytes(h, a->s, strlen(a->s));
	}
	return h;
}

/* Attributes compare as sets: the same names with the same values. */
static bool same_attrs(const Node *a, const Node *b)
{
	if (a->nattr != b->nattr)
		return false;
	for (int i = 0; i < a->nattr; i++) {
		const Attr *o = ir_attr(b, a->attr[i].name);
		if (!o || !same_attr(&a->attr[i], o))
			return false;
	}
	return true;
}

/* add and mul are exactly commutative in IEEE arithmetic (and their
 * broadcasting is symmetric): add(a,b) and add(b,a) are one value. */
static bool commutes(const Node *n) { return (n->op == OP_ADD || n->op == OP_MUL) && n->nin == 2; }

static uint64_t hash_node(const Node *n)
{
	uint64_t h = hash_int(0xcbf29ce484222325ull, n->op);
	h = hash_int(h, n->nin);
	if (commutes(n)) {
		ValueId a = n->in[0] < n->in[1] ? n->in[0] : n->in[1], b = n->in[0] ^ n->in[1] ^ a;
		h = hash_int(hash_int(h, a), b);
	} else {
		for (int j = 0; j < n->nin; j++)
			h = hash_int(h, n->in[j]);
	}
	uint64_t ah = 0;  /* order-free: a sum over attributes */
	for (int i = 0; i < n->nattr; i++)
		ah += hash_attr(&n->attr[i]);
	return hash_int(h, (int64_t)ah);
}

static bool same_node(Graph *g, const Node *a, const Node *b)
{
	if (a->op != b->op || a->nin != b->nin || ir_value(g, a->out)->type != ir_value(g, b->out)->type)
		return false;
	bool same = !memcmp(a->in, b->in, a->nin * sizeof *a->in);
	if (!same && commutes(a))
		same = a->in[0] == b->in[1] && a->in[1] == b->in[0];
	return same && same_attrs(a, b);
}

/* dup computes what keep does: readers of dup read keep from now on
 * (rep).  A graph output keeps its name, so a duplicate that is an output
 * lends its name to keep; when both are outputs, both stay. */
static bool merge(Graph *g, ValueId keep, ValueId dup, ValueId *rep)
{
	Value *k = ir_value(g, keep), *d = ir_value(g, dup);
	if (d->is_output) {
		if (k->is_output)
			return false;
		k->name = d->name;  /* dup is unreferenced after this; compaction drops it */
		k->is_output = true;
	}
	rep[dup] = keep;
	return true;
}

/* Open addressing over ids; -1 is empty.  cap is a power of two. */
typedef struct Table {
	int *slot;
	uint64_t *hash;
	size_t mask;
} Table;

static bool table_init(Table *t, int n)
{
	size_t cap = 16;
	while (cap < 2 * (size_t)n)
		cap *= 2;
	t->slot = malloc(cap * sizeof *t->slot);
	t->hash = malloc(cap * sizeof *t->hash);
	t->mask = cap - 1;
	if (!t->slot || !t->hash)
		return false;
	memset(t->slot, 0xff, cap * sizeof *t->slot);
	return true;
}

static void table_free(Table *t)
{
	free(t->slot);
	free(t->hash);
}

bool pass_cse(Graph *g, PassCtx *cx)
{
	int nv = g->values.n, nn = g->nodes.n;
	ValueId *rep = malloc(((size_t)nv + 1) * sizeof *rep);
	Table tc = {0}, tn = {0};
	bool ok = rep && table_init(&tc, nv) && table_init(&tn, nn), changed = false;
	if (!ok) {
		diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
		goto out;
	}
	for (int v = 0; v < nv; v++)
		rep[v] = v;
	int nconsts = 0, nnodes = 0;
	for (int v = 0; v < nv; v++) {
		const Value *val = ir_value(g, v);
		if (val->kind != VAL_CONST || !val->data)
			continue;
		int64_t bytes = ir_type_bytes(ir_type_get(g, val->type));
		uint64_t h = hash_const(g, val, bytes);
		size_t s = h & tc.mask;
		for (; tc.slot[s] >= 0; s = (s + 1) & tc.mask) {
			const Value *o = ir_value(g, tc.slot[s]);
			if (tc.hash[s] == h && o->type == val->type && !memcmp(o->data, val->data, (size_t)bytes))
				break;
		}
		if (tc.slot[s] < 0) {
			tc.slot[s] = v;
			tc.hash[s] = h;
		} else {
			nconsts += merge(g, tc.slot[s], v, rep);
		}
	}
	for (int i = 0; i < nn; i++) {
		Node *n = &g->nodes.v[i];
		if (n->dead)
			continue;
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] >= 0)
				n->in[j] = rep[n->in[j]];
		uint64_t h = hash_node(n);
		size_t s = h & tn.mask;
		for (; tn.slot[s] >= 0; s = (s + 1) & tn.mask)
			if (tn.hash[s] == h && same_node(g, &g->nodes.v[tn.slot[s]], n))
				break;
		if (tn.slot[s] < 0) {
			tn.slot[s] = i;
			tn.hash[s] = h;
		} else if (merge(g, g->nodes.v[tn.slot[s]].out, n->out, rep)) {
			n->dead = true;
			nnodes++;
		}
	}
	for (int i = 0; i < g->outputs.n; i++) {
		g->outputs.v[i] = rep[g->outputs.v[i]];
		ir_value(g, g->outputs.v[i])->is_output = true;
	}
	changed = nconsts || nnodes;
	if (changed && !ir_compact(g)) {
		diag_error(cx->diag, g->file, NULL, NULL, "out of memory");
		goto out;
	}
	if (changed)
		pass_note(cx, "merged %d nodes, %d constants", nnodes, nconsts);
out:
	free(rep);
	table_free(&tc);
	table_free(&tn);
	return changed;
}
