/* TfIdfVectorizer: for every pool n-gram (a row of a read-only table) and
 * every allowed skip distance, count the row positions where the n-gram
 * occurs; then weigh the counts.  Loops over the table, so a large pool
 * stays small code. */
#include <stdlib.h>

#include "cg_internal.h"

void cg_lower_tfidf(Cg *c, const Node *n)
{
	const Type *x = ir_value_type(c->g, n->in[0]);
	int cnt, G;
	const Attr *sa = ir_attr(n, "sizes");
	G = sa->n;
	const int64_t *sizes = sa->ints, *index = ir_attr_ints(n, "index", &cnt), *grams = ir_attr_ints(n, "grams", &cnt);
	const Attr *wa = ir_attr(n, "weights");
	int64_t C = ir_attr_int(n, "width", 1), maxn = ir_attr_int(n, "maxn", 1), skip = ir_attr_int(n, "skip", 0);
	int64_t mode = ir_attr_int(n, "mode", 0);
	int64_t B = x->rank == 2 ? x->dims[0] : 1, L = x->dims[x->rank - 1];
	LLVMTypeRef xt = LLVMIntTypeInContext(c->ctx, 8 * ir_dtype_size(x->dt));
	LLVMValueRef tg = cg_const_blob(c, "kiln.grams", grams, (size_t)(G * maxn) * sizeof *grams);
	LLVMValueRef ts = cg_const_blob(c, "kiln.sizes", sizes, (size_t)G * sizeof *sizes);
	LLVMValueRef ti = cg_const_blob(c, "kiln.index", index, (size_t)G * sizeof *index);
	float *wf = NULL;
	LLVMValueRef tw = NULL;
	if (wa && wa->n) {
		wf = calloc((size_t)wa->n, sizeof *wf);
		for (int i = 0; wf && i < wa->n; i++)
			wf[i] = (float)wa->floats[i];
		tw = cg_const_blob(c, "kiln.idf", wf, (size_t)wa->n * sizeof *wf);
		free(wf);
	}
	LLVMValueRef X = c->buf[n->in[0]], Y = c->buf[n->out];
	Loop lz;
	LLVMValueRef z = cg_loop_begin(c, &lz, cg_i64(c, 0), cg_i64(c, B * C));
	cg_storef(c, cg_f32(c, 0), Y, z);
	cg_loop_end(c, &lz, 1);
	LLVMValueRef count = cg_entry_alloca(c, c->i64);
	Loop lb, lg, ld, lst;
	LLVMValueRef b = cg_loop_begin(c, &lb, cg_i64(c, 0), cg_i64(c, B));
	LLVMValueRef row = LLVMBuildNSWMul(c->b, b, cg_i64(c, L), "");
	LLVMValueRef j = cg_loop_begin(c, &lg, cg_i64(c, 0), cg_i64(c, G));
	LLVMValueRef ng = LLVMBuildLoad2(c->b, c->i64, cg_gep(c, c->i64, ts, j), "");
	LLVMValueRef oi = LLVMBuildLoad2(c->b, c->i64, cg_gep(c, c->i64, ti, j), "");
	/* unigrams count once; longer n-grams at every skip distance */
	LLVMValueRef one = LLVMBuildICmp(c->b, LLVMIntEQ, ng, cg_i64(c, 1), "");
	LLVMValueRef dend = LLVMBuildSelect(c->b, one, cg_i64(c, 2), cg_i64(c, skip + 2), "");
	LLVMBuildStore(c->b, cg_i64(c, 0), count);
	LLVMValueRef d = cg_loop_begin(c, &ld, cg_i64(c, 1), dend);
	/* starts with the last token inside the row: s + d*(n-1) < L */
	LLVMValueRef span = LLVMBuildNSWMul(c->b, d, LLVMBuildNSWSub(c->b, ng, cg_i64(c, 1), ""), "");
	LLVMValueRef send = LLVMBuildNSWSub(c->b, cg_i64(c, L), span, "");
	send = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, send, cg_i64(c, 0), ""), cg_i64(c, 0), send, "");
	LLVMValueRef st = cg_loop_begin(c, &lst, cg_i64(c, 0), send);
	LLVMValueRef match = LLVMConstInt(LLVMInt1TypeInContext(c->ctx), 1, 0);
	for (int64_t k = 0; k < maxn; k++) {
		LLVMValueRef used = LLVMBuildICmp(c->b, LLVMIntSLT, cg_i64(c, k), ng, "");
		LLVMValueRef pos = LLVMBuildSelect(c->b, used, LLVMBuildNSWAdd(c->b, st, LLVMBuildNSWMul(c->b, d, cg_i64(c, k), ""), ""),
						   st, "");
		LLVMValueRef v = LLVMBuildLoad2(c->b, xt, cg_gep(c, xt, X, LLVMBuildNSWAdd(c->b, row, pos, "")), "");
		if (xt != c->i64)
			v = LLVMBuildSExt(c->b, v, c->i64, "");
		LLVMValueRef want = LLVMBuildLoad2(c->b, c->i64,
						   cg_gep(c, c->i64, tg, LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, j, cg_i64(c, maxn), ""), cg_i64(c, k), "")), "");
		LLVMValueRef eq = LLVMBuildOr(c->b, LLVMBuildNot(c->b, used, ""), LLVMBuildICmp(c->b, LLVMIntEQ, v, want, ""), "");
		match = LLVMBuildAnd(c->b, match, eq, "");
	}
	LLVMValueRef inc = LLVMBuildZExt(c->b, match, c->i64, "");
	LLVMBuildStore(c->b, LLVMBuildAdd(c->b, LLVMBuildLoad2(c->b, c->i64, count, ""), inc, ""), count);
	cg_loop_end(c, &lst, 1);
	cg_loop_end(c, &ld, 1);
	LLVMValueRef f = LLVMBuildSIToFP(c->b, LLVMBuildLoad2(c->b, c->i64, count, ""), c->f32, "");
	LLVMValueRef w = tw ? cg_loadf(c, tw, oi) : cg_f32(c, 1);
	if (mode == 1)  /* IDF: the weight where the n-gram occurs */
		f = LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOGT, f, cg_f32(c, 0), ""), w, cg_f32(c, 0), "");
	else if (mode == 2)
		f = LLVMBuildFMul(c->b, f, w, "");
	LLVMValueRef yo = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, b, cg_i64(c, C), ""), oi, "");
	cg_storef(c, LLVMBuildFAdd(c->b, cg_loadf(c, Y, yo), f, ""), Y, yo);
	cg_loop_end(c, &lg, 1);
	cg_loop_end(c, &lb, 1);
}
