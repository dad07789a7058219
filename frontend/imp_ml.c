/* Classical ML: the ai.onnx.ml domain (Binarizer, ArrayFeatureExtractor)
 * and TfIdfVectorizer. */
#include "importer.h"

/* Binarizer(threshold) -> cast(x > threshold) to x's dtype */
static bool imp_binarizer(Ctx *c, const ValueId *in, int nin)
{
	DType dt = vtype(c, in[0])->dt;
	ValueId gt = fe_binary(c, OP_GREATER, in[0], fe_scalar(c, dt, sa_float(c->sn, "threshold", 0)), NULL);
	return fe_define(c, gt < 0 ? -1 : fe_cast_to(c, gt, dt, c->sn->out[0]));
}

/* ArrayFeatureExtractor(x, indices) -> gather along the last axis */
static bool imp_array_feature_extractor(Ctx *c, const ValueId *in, int nin)
{
	int r = vtype(c, in[0])->rank;
	if (r < 1)
		return fe_fail(c, "input must have rank >= 1");
	Attr a = ir_ai("axis", r - 1);
	return fe_emit_out(c, OP_GATHER, in, 2, &a, 1);
}

/* TfIdfVectorizer over integer tokens -> tfidf: the pool's n-grams of the counted
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
		return fe_fail(c, "pool_int64s, ngram_counts and ngram_indexes are required (string pools are not supported)");
	if (mode < 0 || lo < 1 || hi < lo || hi > 64 || skip < 0)
		return fe_fail(c, "bad mode, gram lengths or max_skip_count");
	int64_t width = 0;
	for (int i = 0; i < ni; i++)
		width = index[i] + 1 > width ? index[i] + 1 : width;
	int64_t *grams = ir_arena_alloc(c->g->arena, (size_t)(np * hi + 1) * sizeof *grams);
	int64_t *sizes = ir_arena_alloc(c->g->arena, (size_t)(np + 1) * sizeof *sizes);
	int64_t *outix = ir_arena_alloc(c->g->arena, (size_t)(np + 1) * sizeof *outix);
	if (!grams || !sizes || !outix)
		return fe_oom(c);
	int G = 0, id = 0;
	for (int i = 0; i < nc; i++) {
		int64_t n = i + 1, start = counts[i], end = i + 1 < nc ? counts[i + 1] : np;
		if (start < 0 || end > np || end < start || (end - start) % n)
			return fe_fail(c, "ngram_counts do not split the pool into %lld-grams", (long long)n);
		for (int64_t p = start; p < end; p += n, id++) {
			if (id >= ni)
				return fe_fail(c, "fewer ngram_indexes than n-grams");
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
		return fe_fail(c, "no n-gram of the counted lengths");
	Attr a[8] = {ir_aints("grams", grams, G * (int)hi), ir_aints("sizes", sizes, G), ir_aints("index", outix, G),
		     ir_afloats("weights", w, nw), ir_ai("width", width), ir_ai("maxn", hi), ir_ai("skip", skip),
		     ir_ai("mode", mode)};
	return fe_emit_out(c, OP_TFIDF, in, 1, a, 8);
}

const OpSpec imp_ml_ops[] = {
	{"TfIdfVectorizer", 9, 22, 1, 1, 1, 0, imp_tfidf,
	 {{"max_gram_length", SA_INT}, {"min_gram_length", SA_INT}, {"max_skip_count", SA_INT}, {"mode", SA_STRING},
	  {"ngram_counts", SA_INTS}, {"ngram_indexes", SA_INTS}, {"pool_int64s", SA_INTS}, {"weights", SA_FLOATS}}},
	{"Binarizer", 1, 22, 1, 1, 1, 0, imp_binarizer, {{"threshold", SA_FLOAT}}, false, "ai.onnx.ml"},
	{"ArrayFeatureExtractor", 1, 22, 2, 2, 1, 0, imp_array_feature_extractor, {{0}}, false, "ai.onnx.ml"},
	{NULL},
};
