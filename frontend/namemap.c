/* The importer's string -> int hash map (value names, constants), in the
 * graph's arena. */
#include "importer.h"

#include <stdlib.h>
#include <string.h>

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

bool fe_nm_init(NameMap *m, Arena *a)
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

bool fe_nm_put(NameMap *m, const char *k, int v)
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

int fe_nm_get(const NameMap *m, const char *k, int dflt)
{
	int i = nm_find(m, k);
	return m->key[i] ? m->val[i] : dflt;
}

bool fe_nm_has(const NameMap *m, const char *k) { return m->key[nm_find(m, k)] != NULL; }

