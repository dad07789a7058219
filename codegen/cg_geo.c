/* What the conv and pool lowerings share: the window geometry (1-D as 2-D),
 * which layouts the vector kernels take, the output ranges whose windows
 * stay inside the input, and a task's share of channel blocks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* A task's share [lo, hi) of nblk channel blocks (cg_part_range), the
 * last of which (index full) may be partial: where the loop over the
 * whole blocks ends, and whether block `full` is this task's. */
LLVMValueRef cg_part_whole_end(Cg *c, LLVMValueRef hi, int64_t full)
{
	return LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSGT, hi, cg_i64(c, full), ""), cg_i64(c, full), hi, "");
}

LLVMValueRef cg_part_owns(Cg *c, LLVMValueRef lo, LLVMValueRef hi, int64_t full)
{
	return LLVMBuildAnd(c->b, LLVMBuildICmp(c->b, LLVMIntSLE, lo, cg_i64(c, full), ""),
			    LLVMBuildICmp(c->b, LLVMIntSGT, hi, cg_i64(c, full), ""), "");
}

Geo cg_geometry(Cg *c, const Node *n, bool conv)
{
	const Type *x = cg_ty(c, n->in[0]), *y = cg_ty(c, n->out);
	int nsp = x->rank - 2, cnt;
	const int64_t *st = ir_attr_ints(n, "strides", &cnt), *pd = ir_attr_ints(n, "pads", &cnt),
		      *dl = ir_attr_ints(n, "dilations", &cnt);
	const int64_t *k = conv ? NULL : ir_attr_ints(n, "kernel", &cnt);
	Geo g = {.N = x->dims[0], .C = x->dims[1], .M = y->dims[1], .group = ir_attr_int(n, "group", 1)};
	if (nsp == 1) {
		g.H = g.OH = g.KH = g.sh = g.dh = 1;
		g.W = x->dims[2];
		g.OW = y->dims[2];
		g.KW = conv ? cg_ty(c, n->in[1])->dims[2] : k[0];
		g.sw = st[0];
		g.dw = dl[0];
		g.pw = pd[0];
		g.pe_w = pd[1];
	} else {
		g.H = x->dims[2];
		g.W = x->dims[3];
		g.OH = y->dims[2];
		g.OW = y->dims[3];
		g.KH = conv ? cg_ty(c, n->in[1])->dims[2] : k[0];
		g.KW = conv ? cg_ty(c, n->in[1])->dims[3] : k[1];
		g.sh = st[0];
		g.sw = st[1];
		g.dh = dl[0];
		g.dw = dl[1];
		g.ph = pd[0];
		g.pw = pd[1];
		g.pe_h = pd[2];
		g.pe_w = pd[3];
	}
	return g;
}

/* Are the channel-blocked operands and result of conv or pool n (if any)
 * in blocks of one vector, as the vectorized kernels read them? */
bool cg_blocks_native(Cg *c, const Node *n)
{
	for (int i = -1; i < n->nin; i++) {
		ValueId v = i < 0 ? n->out : n->in[i];
		if (v >= 0 && cg_ty(c, v)->block && cg_ty(c, v)->block != c->lanes)
			return false;
	}
	return true;
}

bool cg_any_blocked(Cg *c, const Node *n)
{
	bool b = cg_ty(c, n->out)->block;
	for (int i = 0; i < n->nin; i++)
		b |= n->in[i] >= 0 && cg_ty(c, n->in[i])->block;
	return b;
}

/* Output positions [lo, hi) along one spatial dim whose windows stay
 * inside the input. */
void cg_interior(int64_t in, int64_t out, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t *lo, int64_t *hi)
{
	int64_t last = in - 1 - (k - 1) * d + pb;
	*lo = (pb + s - 1) / s;
	*hi = last < 0 ? 0 : last / s + 1;
	if (*hi > out)
		*hi = out;
	if (*lo > *hi)
		*lo = *hi;
}
