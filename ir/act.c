/* The activation registry (act.def) as a table, and reading an activation
 * off a node: a standalone op, or a head's fused epilogue. */
#include "act.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const ActInfo ir_acts[ACT_COUNT] = {
#define ACT(e, nm, o, s, sv, p0, d0, p1, d1) [ACT_##e] = {nm, o, s, sv, {p0, p1}, {d0, d1}},
#include "act.def"
#undef ACT
};

ActKind ir_act_find(const char *s)
{
	for (int k = 1; s && k < ACT_COUNT; k++)
		if (!strcmp(ir_acts[k].name, s))
			return (ActKind)k;
	return ACT_NONE;
}

const char *ir_act_param_attr(ActKind k, int i, char *buf, size_t len)
{
	snprintf(buf, len, "act_%s", ir_acts[k].param[i]);
	return buf;
}

Act ir_act_of_op(const Node *n)
{
	Act a = {ACT_NONE};
	for (int k = 1; k < ACT_COUNT; k++) {
		const ActInfo *ai = &ir_acts[k];
		if (ai->op != n->op || (ai->sel && ir_attr_int(n, ai->sel, 0) != ai->sel_val))
			continue;
		a.k = (ActKind)k;
		for (int i = 0; i < 2; i++)
			if (ai->param[i])
				a.p[i] = ir_attr_float(n, ai->param[i], ai->dflt[i]);
		break;
	}
	return a;
}

Act ir_act_of_epilogue(const Node *n)
{
	Act a = {ir_act_find(ir_attr_str(n, "act", NULL))};
	char buf[32];
	for (int i = 0; i < 2; i++)
		if (a.k && ir_acts[a.k].param[i])
			a.p[i] = ir_attr_float(n, ir_act_param_attr(a.k, i, buf, sizeof buf), ir_acts[a.k].dflt[i]);
	return a;
}
