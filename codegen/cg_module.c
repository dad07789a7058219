/* Codegen driver: builds the LLVM module for a planned graph (NAME_run,
 * NAME_info, weight globals), optimizes it, and writes object/asm/IR files
 * or hands it to the JIT; each node through cg_lower_node (cg_lower.c).
 * The top of codegen: nothing below calls back into it. */
#define _POSIX_C_SOURCE 200809L
#include <llvm-c/Analysis.h>
#include <llvm-c/BitWriter.h>
#include <llvm-c/Error.h>
#include <llvm-c/Support.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg_internal.h"
#include "outfile.h"

/* ---- constants ---------------------------------------------------------------- */

static LLVMValueRef const_str(Cg *c, const char *s)
{
	LLVMValueRef init = LLVMConstStringInContext2(c->ctx, s, strlen(s), 0);
	LLVMValueRef g = LLVMAddGlobal(c->mod, LLVMTypeOf(init), "kiln.str");
	LLVMSetInitializer(g, init);
	LLVMSetGlobalConstant(g, 1);
	LLVMSetLinkage(g, LLVMPrivateLinkage);
	LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
	return g;
}

/* ---- the module ------------------------------------------------------------------ */

static bool init_llvm(void)
{
	static bool done;
	if (!done) {
		LLVMInitializeX86TargetInfo(); LLVMInitializeX86Target(); LLVMInitializeX86TargetMC();
		LLVMInitializeX86AsmPrinter(); LLVMInitializeX86AsmParser();
		LLVMInitializeAArch64TargetInfo(); LLVMInitializeAArch64Target(); LLVMInitializeAArch64TargetMC();
		LLVMInitializeAArch64AsmPrinter(); LLVMInitializeAArch64AsmParser();
		LLVMInitializeRISCVTargetInfo(); LLVMInitializeRISCVTarget(); LLVMInitializeRISCVTargetMC();
		LLVMInitializeRISCVAsmPrinter(); LLVMInitializeRISCVAsmParser();
		LLVMInitializeARMTargetInfo(); LLVMInitializeARMTarget(); LLVMInitializeARMTargetMC();
		LLVMInitializeARMAsmPrinter(); LLVMInitializeARMAsmParser();
		done = true;
	}
	return true;
}

typedef struct Machine {
	char *triple, *cpu, *features;
	LLVMTargetMachineRef tm;
	int vec_bytes;
	int vec_regs;   /* vector (or FP) registers */
	bool fpu;       /* single-precision float in hardware */
	bool bare;      /* bare metal: static relocations */
	const char *abi; /* RISC-V target-abi module flag, or NULL */
} Machine;

static void machine_free(Machine *m)
{
	if (m->tm)
		LLVMDisposeTargetMachine(m->tm);
	free(m->triple);
	free(m->cpu);
	free(m->features);
	memset(m, 0, sizeof *m);
}

static char *xstrdup(const char *s) { return strdup(s ? s : ""); }

/* The target's features with the user's --features after them (later
 * entries win, so "+v" adds to rv64gc and "-avx512f" removes from the
 * host's). */
static char *join_features(const char *base, const char *user)
{
	if (!user || !*user)
		return xstrdup(base);
	if (!*base)
		return xstrdup(user);
	size_t n = strlen(base) + strlen(user) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s,%s", base, user);
	return s;
}

/* The machine's triple, cpu, features and vector registers, without an
 * LLVM target machine yet. */
static void machine_describe(const CgOptions *o, Machine *m)
{
	memset(m, 0, sizeof *m);
	const Target *t = o->target;
	if (t) {
		/* A target with a CPU list: the row's LLVM cpu, its features
		 * and ABI (machine_new refuses a cpu outside the list). */
		const TargetCpu *row = tgt_cpu(t, o->cpu);
		char *base = row ? join_features(t->features, row->features) : xstrdup(t->features);
		m->triple = xstrdup(t->triple);
		m->cpu = xstrdup(row ? row->llvm_cpu : o->cpu ? o->cpu : t->cpu);
		m->features = join_features(base ? base : "", o->features);
		free(base);
		m->vec_bytes = tgt_vec_bytes(t, m->cpu, m->features);
		m->vec_regs = t->vec_regs;
		m->fpu = row ? row->fpu : t->fpu;
		m->bare = t->bare_metal;
		m->abi = row && row->abi ? row->abi : t->abi;
	} else {
		char *tr = LLVMGetDefaultTargetTriple(), *cpu = LLVMGetHostCPUName(), *f = LLVMGetHostCPUFeatures();
		m->triple = xstrdup(tr);
		m->cpu = xstrdup(o->cpu ? o->cpu : cpu);
		/* The host's features describe the host's cpu: another --cpu
		 * brings its own. */
		m->features = join_features(o->cpu ? "" : f, o->features);
		LLVMDisposeMessage(tr);
		LLVMDisposeMessage(cpu);
		LLVMDisposeMessage(f);
		const Target *ht = tgt_find(m->triple);
		m->vec_bytes = ht ? tgt_vec_bytes(ht, m->cpu, m->features) : 16;
		m->vec_regs = ht ? ht->vec_regs : 16;
		m->fpu = true;
	}
	if (m->vec_bytes == 64 && m->vec_regs < 32)  /* AVX-512 doubles the register file */
		m->vec_regs = 32;
}

int cg_vector_lanes(const CgOptions *o)
{
	Machine m;
	machine_describe(o, &m);
	int lanes = m.vec_bytes >= 16 ? m.vec_bytes / 4 : 0;
	machine_free(&m);
	return lanes;
}

static bool machine_new(const CgOptions *o, Machine *m, Diag *d)
{
	init_llvm();
	char why[512];
	if (o->target && !tgt_check_cpu(o->target, o->cpu, why, sizeof why)) {
		diag_error(d, NULL, NULL, NULL, "%s", why);
		memset(m, 0, sizeof *m);
		return false;
	}
	machine_describe(o, m);
	LLVMTargetRef target;
	char *msg = NULL;
	if (LLVMGetTargetFromTriple(m->triple, &target, &msg)) {
		diag_error(d, NULL, NULL, NULL, "unknown target triple '%s': %s", m->triple, msg ? msg : "");
		LLVMDisposeMessage(msg);
		machine_free(m);
		return false;
	}
	m->tm = LLVMCreateTargetMachine(target, m->triple, m->cpu, m->features,
					o->opt_level >= 2 ? LLVMCodeGenLevelAggressive : o->opt_level ? LLVMCodeGenLevelDefault : LLVMCodeGenLevelNone,
					/* PIC for hosted objects (PIE executables); bare metal
					 * (OS "none") links at fixed addresses. */
					m->bare ? LLVMRelocStatic : LLVMRelocPIC, LLVMCodeModelDefault);
	if (!m->tm) {
		diag_error(d, NULL, NULL, NULL, "cannot create a target machine for '%s' (cpu '%s')", m->triple, m->cpu);
		machine_free(m);
		return false;
	}
	return true;
}

/* Pointer to value v's buffer, emitted at the function's entry. */
static LLVMValueRef resolve_buf(Cg *c, ValueId v)
{
	if (c->buf[v])
		return c->buf[v];
	Graph *g = c->g;
	Value *val = &g->values.v[v];
	LLVMValueRef p = NULL;
	if (val->is_output) {
		for (int j = 0; j < g->outputs.n && !p; j++)
			if (g->outputs.v[j] == v && val->kind == VAL_NODE)
				p = LLVMBuildLoad2(c->b, c->ptr, cg_gep(c, c->ptr, c->args[1], cg_i64(c, j)), "out");
	}
	if (p) {
	} else if (val->kind == VAL_INPUT) {
		for (int j = 0; j < g->inputs.n; j++)
			if (g->inputs.v[j] == v)
				p = LLVMBuildLoad2(c->b, c->ptr, cg_gep(c, c->ptr, c->args[0], cg_i64(c, j)), "in");
	} else if (val->kind == VAL_CONST) {
		/* one global per constant, shared by every node function */
		const Type *t = ir_type_get(g, val->type);
		if (!c->cbuf[v])
			c->cbuf[v] = cg_const_blob(c, "kiln.w", val->data, (size_t)ir_type_bytes(t));
		p = c->cbuf[v];
	} else if (val->alias >= 0) {
		p = resolve_buf(c, val->alias);
		if (val->alias_off)  /* a concat operand written in its slice */
			p = cg_gep(c, c->i8, p, cg_i64(c, val->alias_off));
	} else {
		if (val->ws_offset < 0)
			die("value '%s' has no buffer in the memory plan", val->name);
		p = cg_gep(c, c->i8, c->args[2], cg_i64(c, val->ws_offset));
	}
	c->buf[v] = p;
	return p;
}

static LLVMValueRef info_tensors(Cg *c, LLVMTypeRef tinfo, const ValueId *ids, int n, const char *tag)
{
	Graph *g = c->g;
	LLVMValueRef *elems = calloc(n + 1, sizeof *elems);
	for (int i = 0; i < n; i++) {
		const Value *v = &g->values.v[ids[i]];
		const Type *t = ir_type_get(g, v->type);
		LLVMValueRef dims[IR_MAX_RANK + 1];
		for (int k = 0; k < t->rank; k++)
			dims[k] = LLVMConstInt(c->i64, t->dims[k], 0);
		LLVMValueRef shape_init = LLVMConstArray2(c->i64, dims, t->rank);
		LLVMValueRef shape = LLVMAddGlobal(c->mod, LLVMTypeOf(shape_init), tag);
		LLVMSetInitializer(shape, shape_init);
		LLVMSetGlobalConstant(shape, 1);
		LLVMSetLinkage(shape, LLVMPrivateLinkage);
		LLVMValueRef f[5] = {
			const_str(c, v->name), LLVMConstInt(c->i32, ir_dtype_onnx(t->dt), 0),
			LLVMConstInt(c->i32, t->rank, 0), shape, LLVMConstInt(c->i64, ir_type_bytes(t), 0),
		};
		elems[i] = LLVMConstNamedStruct(tinfo, f, 5);
	}
	LLVMValueRef arr_init = LLVMConstArray2(tinfo, elems, n);
	LLVMValueRef arr = LLVMAddGlobal(c->mod, LLVMTypeOf(arr_init), tag);
	LLVMSetInitializer(arr, arr_init);
	LLVMSetGlobalConstant(arr, 1);
	LLVMSetLinkage(arr, LLVMPrivateLinkage);
	free(elems);
	return arr;
}

/* NAME_info: the kiln_model_info struct of runtime/kiln.h. */
static void emit_info(Cg *c)
{
	LLVMTypeRef tinfo = LLVMStructCreateNamed(c->ctx, "kiln_tensor_info");
	LLVMTypeRef tf[5] = {c->ptr, c->i32, c->i32, c->ptr, c->i64};
	LLVMStructSetBody(tinfo, tf, 5, 0);
	LLVMTypeRef minfo = LLVMStructCreateNamed(c->ctx, "kiln_model_info");
	LLVMTypeRef mf[9] = {c->i32, c->ptr, c->i32, c->i32, c->ptr, c->ptr, c->i64, c->i64, c->ptr};
	LLVMStructSetBody(minfo, mf, 9, 0);
	LLVMValueRef f[9] = {
		LLVMConstInt(c->i32, 1, 0), const_str(c, c->o->name),
		LLVMConstInt(c->i32, c->g->inputs.n, 0), LLVMConstInt(c->i32, c->g->outputs.n, 0),
		info_tensors(c, tinfo, c->g->inputs.v, c->g->inputs.n, "kiln.in"),
		info_tensors(c, tinfo, c->g->outputs.v, c->g->outputs.n, "kiln.out"),
		LLVMConstInt(c->i64, c->g->ws_size, 0), LLVMConstInt(c->i64, c->g->ws_align, 0), c->fn,
	};
	char name[300];
	snprintf(name, sizeof name, "%s_info", c->o->name);
	LLVMValueRef gi = LLVMAddGlobal(c->mod, minfo, name);
	LLVMSetInitializer(gi, LLVMConstNamedStruct(minfo, f, 9));
	LLVMSetGlobalConstant(gi, 1);
}

/* Copy a graph output whose value is not written in place by its node
 * (an input, a constant, a view, or an output listed twice). */
static void emit_output_copies(Cg *c)
{
	Graph *g = c->g;
	for (int j = 0; j < g->outputs.n; j++) {
		ValueId v = g->outputs.v[j];
		const Value *val = &g->values.v[v];
		LLVMValueRef dst = LLVMBuildLoad2(c->b, c->ptr, cg_gep(c, c->ptr, c->args[1], cg_i64(c, j)), "");
		LLVMValueRef src = resolve_buf(c, v);
		bool first = true;
		for (int k = 0; k < j; k++)
			if (g->outputs.v[k] == v)
				first = false;
		if (val->kind == VAL_NODE && first)
			continue;  /* written in place */
		int64_t bytes = ir_type_bytes(ir_type_get(g, val->type));
		if (bytes > 0)
			LLVMBuildMemCpy(c->b, dst, 1, src, 1, cg_i64(c, bytes));
	}
}

/* NAME_run and the per-node functions: (inputs, outputs, workspace). */
static void set_fn_attrs(Cg *c, LLVMValueRef f, const Machine *m, bool node)
{
	const char *attrs[] = {"nounwind", "nofree", "nosync", "noinline"};
	for (size_t i = 0; i < sizeof attrs / sizeof attrs[0] - !node; i++) {
		unsigned kind = LLVMGetEnumAttributeKindForName(attrs[i], strlen(attrs[i]));
		LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(c->ctx, kind, 0));
	}
	/* The pointer arrays are only read and never kept; the workspace is
	 * scratch no input or output may overlap (the header says so), which
	 * lets LLVM keep workspace accesses apart from the tensors'. */
	static const struct { unsigned idx; const char *name; } pattrs[] = {
		{1, "nocapture"}, {1, "readonly"}, {2, "nocapture"}, {2, "readonly"}, {3, "nocapture"}, {3, "noalias"},
	};
	for (size_t i = 0; i < sizeof pattrs / sizeof pattrs[0]; i++) {
		unsigned kind = LLVMGetEnumAttributeKindForName(pattrs[i].name, strlen(pattrs[i].name));
		LLVMAddAttributeAtIndex(f, pattrs[i].idx, LLVMCreateEnumAttribute(c->ctx, kind, 0));
	}
	LLVMAddTargetDependentFunctionAttr(f, "target-cpu", m->cpu);
	LLVMAddTargetDependentFunctionAttr(f, "target-features", m->features);
}

/* The entry checks of NAME_run*: NULL arrays or entries (status 1), a
 * misaligned workspace (2).  Leaves the builder where the work begins. */
static void emit_arg_checks(Cg *c)
{
	Graph *g = c->g;
	LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "entry");
	LLVMBasicBlockRef bad_null = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "err_null");
	LLVMBasicBlockRef bad_align = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "err_align");
	LLVMPositionBuilderAtEnd(c->b, bad_null);
	LLVMBuildRet(c->b, LLVMConstInt(c->i32, 1, 0));
	LLVMPositionBuilderAtEnd(c->b, bad_align);
	LLVMBuildRet(c->b, LLVMConstInt(c->i32, 2, 0));
	LLVMPositionBuilderAtEnd(c->b, entry);
	LLVMValueRef null = LLVMConstNull(c->ptr);
	LLVMValueRef isnull = LLVMBuildOr(c->b, LLVMBuildICmp(c->b, LLVMIntEQ, c->args[0], null, ""),
					  LLVMBuildICmp(c->b, LLVMIntEQ, c->args[1], null, ""), "");
	if (g->ws_size > 0)
		isnull = LLVMBuildOr(c->b, isnull, LLVMBuildICmp(c->b, LLVMIntEQ, c->args[2], null, ""), "");
	LLVMBasicBlockRef ok1 = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "args");
	LLVMBuildCondBr(c->b, isnull, bad_null, ok1);
	LLVMPositionBuilderAtEnd(c->b, ok1);
	LLVMValueRef anynull = LLVMConstInt(LLVMInt1TypeInContext(c->ctx), 0, 0);
	for (int a = 0; a < 2; a++) {
		int n = a ? g->outputs.n : g->inputs.n;
		for (int i = 0; i < n; i++) {
			LLVMValueRef p = LLVMBuildLoad2(c->b, c->ptr, cg_gep(c, c->ptr, c->args[a], cg_i64(c, i)), "");
			anynull = LLVMBuildOr(c->b, anynull, LLVMBuildICmp(c->b, LLVMIntEQ, p, null, ""), "");
		}
	}
	LLVMBasicBlockRef ok2 = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "align");
	LLVMBuildCondBr(c->b, anynull, bad_null, ok2);
	LLVMPositionBuilderAtEnd(c->b, ok2);
	if (g->ws_size > 0) {
		LLVMValueRef addr = LLVMBuildPtrToInt(c->b, c->args[2], c->i64, "");
		LLVMValueRef mis = LLVMBuildICmp(c->b, LLVMIntNE, LLVMBuildAnd(c->b, addr, cg_i64(c, g->ws_align - 1), ""),
						 cg_i64(c, 0), "");
		LLVMBasicBlockRef ok3 = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "body");
		LLVMBuildCondBr(c->b, mis, bad_align, ok3);
		LLVMPositionBuilderAtEnd(c->b, ok3);
	}
}

static bool build_module(Cg *c, const Machine *m)
{
	Graph *g = c->g;
	if (!c->ctx)
		c->ctx = LLVMContextCreate();
	c->mod = LLVMModuleCreateWithNameInContext(c->o->name, c->ctx);
	LLVMSetTarget(c->mod, m->triple);
	LLVMTargetDataRef td = LLVMCreateTargetDataLayout(m->tm);
	char *dl = LLVMCopyStringRepOfTargetData(td);
	LLVMSetDataLayout(c->mod, dl);
	LLVMDisposeMessage(dl);
	LLVMDisposeTargetData(td);
	if (m->abi || strstr(m->triple, "riscv64")) {
		const char *name = m->abi ? m->abi : "lp64d";
		LLVMMetadataRef abi = LLVMMDStringInContext2(c->ctx, name, strlen(name));
		LLVMAddModuleFlag(c->mod, LLVMModuleFlagBehaviorError, "target-abi", 10, abi);
	}
	c->b = LLVMCreateBuilderInContext(c->ctx);
	c->f32 = LLVMFloatTypeInContext(c->ctx);
	c->i8 = LLVMInt8TypeInContext(c->ctx);
	c->i32 = LLVMInt32TypeInContext(c->ctx);
	c->i64 = LLVMInt64TypeInContext(c->ctx);
	c->ptr = LLVMPointerTypeInContext(c->ctx, 0);
	c->lanes = m->vec_bytes / 4 >= 4 ? m->vec_bytes / 4 : 4;
	c->vf = LLVMVectorType(c->f32, c->lanes);
	/* A vf the target has no vectors for is split into lanes scalars. */
	c->fregs = m->vec_bytes >= 16 ? m->vec_regs : m->vec_regs / c->lanes;
	c->soft_float = !m->fpu;
	c->reference = getenv("KILN_CG_REFERENCE") && *getenv("KILN_CG_REFERENCE") == '1';

	c->buf = calloc(g->values.n + 1, sizeof *c->buf);
	c->cbuf = calloc(g->values.n + 1, sizeof *c->cbuf);
	if (!c->buf || !c->cbuf)
		return false;
	/* kiln.body(inputs, outputs, workspace, par): every node in order, then
	 * the output copies; par NULL or one thread: all on the caller's. */
	LLVMTypeRef vt = LLVMVoidTypeInContext(c->ctx);
	LLVMTypeRef bparams[4] = {c->ptr, c->ptr, c->ptr, c->ptr};
	LLVMValueRef body = LLVMAddFunction(c->mod, "kiln.body", LLVMFunctionType(vt, bparams, 4, 0));
	LLVMSetLinkage(body, LLVMInternalLinkage);
	set_fn_attrs(c, body, m, true);
	LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, body, "entry"));
	c->fn = body;
	for (int i = 0; i < 3; i++)
		c->args[i] = LLVMGetParam(body, i);
	LLVMValueRef par = LLVMGetParam(body, 3);
	LLVMValueRef bargs[3] = {c->args[0], c->args[1], c->args[2]};
	/* Each node is its own internal function, called in order: the
	 * optimizer's cost stays per node (some of its passes are quadratic
	 * in a function's size), and a profile names the node.  Its last two
	 * parameters select a part of its work (part, nparts); nodes that can
	 * be split are run as nparts tasks through par->parallel_for. */
	LLVMTypeRef nparams[5] = {c->ptr, c->ptr, c->ptr, c->i64, c->i64};
	LLVMTypeRef nty = LLVMFunctionType(vt, nparams, 5, 0);
	LLVMTypeRef ptype[3] = {c->ptr, c->ptr, c->i32};  /* kiln_parallel */
	LLVMTypeRef pst = LLVMStructTypeInContext(c->ctx, ptype, 3, 0);
	LLVMTypeRef ctype[4] = {c->ptr, c->ptr, c->ptr, c->i64};  /* a task's context */
	LLVMTypeRef cst = LLVMStructTypeInContext(c->ctx, ctype, 4, 0);
	LLVMTypeRef tparams[2] = {c->ptr, c->i32};
	LLVMTypeRef tty = LLVMFunctionType(vt, tparams, 2, 0);
	LLVMTypeRef fparams[4] = {c->ptr, c->i32, c->ptr, c->ptr};
	LLVMTypeRef fty_pf = LLVMFunctionType(vt, fparams, 4, 0);
	for (int i = 0; i < g->nodes.n; i++) {
		const Node *n = &g->nodes.v[i];
		if (n->dead)
			continue;
		char nname[64];
		snprintf(nname, sizeof nname, "kiln.node.%d", i);
		LLVMValueRef f = LLVMAddFunction(c->mod, nname, nty);
		LLVMSetLinkage(f, LLVMInternalLinkage);
		set_fn_attrs(c, f, m, true);
		LLVMBasicBlockRef here = LLVMGetInsertBlock(c->b);
		c->fn = f;
		for (int k = 0; k < 3; k++)
			c->args[k] = LLVMGetParam(f, k);
		c->part = LLVMGetParam(f, 3);
		c->nparts = LLVMGetParam(f, 4);
		LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, f, "entry"));
		memset(c->buf, 0, (g->values.n + 1) * sizeof *c->buf);
		for (int k = 0; k < n->nin; k++)
			if (n->in[k] >= 0)
				resolve_buf(c, n->in[k]);
		resolve_buf(c, n->out);
		bool split = cg_node_splits(c, n);
		if (!cg_lower_node(c, n))
			return false;
		LLVMBuildRetVoid(c->b);
		LLVMValueRef task = NULL;
		if (split) {  /* kiln.task.N(ctx, i): part i of the node */
			snprintf(nname, sizeof nname, "kiln.task.%d", i);
			task = LLVMAddFunction(c->mod, nname, tty);
			LLVMSetLinkage(task, LLVMInternalLinkage);
			LLVMAddTargetDependentFunctionAttr(task, "target-cpu", m->cpu);
			LLVMAddTargetDependentFunctionAttr(task, "target-features", m->features);
			LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, task, "entry"));
			LLVMValueRef cx = LLVMGetParam(task, 0), a[5];
			for (int k = 0; k < 4; k++)
				a[k < 3 ? k : 4] = LLVMBuildLoad2(c->b, ctype[k], LLVMBuildStructGEP2(c->b, cst, cx, (unsigned)k, ""), "");
			a[3] = LLVMBuildSExt(c->b, LLVMGetParam(task, 1), c->i64, "");
			LLVMBuildCall2(c->b, nty, f, a, 5, "");
			LLVMBuildRetVoid(c->b);
		}
		c->fn = body;
		for (int k = 0; k < 3; k++)
			c->args[k] = bargs[k];
		LLVMPositionBuilderAtEnd(c->b, here);
		LLVMValueRef one[5] = {bargs[0], bargs[1], bargs[2], cg_i64(c, 0), cg_i64(c, 1)};
		if (!split) {
			LLVMBuildCall2(c->b, nty, f, one, 5, "");
			continue;
		}
		/* par && par->nthreads > 1: parallel_for(pool, nthreads, task, ctx) */
		LLVMBasicBlockRef chk = LLVMAppendBasicBlockInContext(c->ctx, body, "par");
		LLVMBasicBlockRef many = LLVMAppendBasicBlockInContext(c->ctx, body, "tasks");
		LLVMBasicBlockRef alone = LLVMAppendBasicBlockInContext(c->ctx, body, "alone");
		LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(c->ctx, body, "next");
		LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntEQ, par, LLVMConstNull(c->ptr), ""), alone, chk);
		LLVMPositionBuilderAtEnd(c->b, chk);
		LLVMValueRef nt = LLVMBuildLoad2(c->b, c->i32, LLVMBuildStructGEP2(c->b, pst, par, 2, ""), "");
		LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntSGT, nt, LLVMConstInt(c->i32, 1, 0), ""), many, alone);
		LLVMPositionBuilderAtEnd(c->b, many);
		LLVMValueRef cx = cg_entry_alloca(c, cst);
		for (int k = 0; k < 3; k++)
			LLVMBuildStore(c->b, bargs[k], LLVMBuildStructGEP2(c->b, cst, cx, (unsigned)k, ""));
		LLVMBuildStore(c->b, LLVMBuildSExt(c->b, nt, c->i64, ""), LLVMBuildStructGEP2(c->b, cst, cx, 3, ""));
		LLVMValueRef pf = LLVMBuildLoad2(c->b, c->ptr, LLVMBuildStructGEP2(c->b, pst, par, 0, ""), "");
		LLVMValueRef pool = LLVMBuildLoad2(c->b, c->ptr, LLVMBuildStructGEP2(c->b, pst, par, 1, ""), "");
		LLVMValueRef pa[4] = {pool, nt, task, cx};
		LLVMBuildCall2(c->b, fty_pf, pf, pa, 4, "");
		LLVMBuildBr(c->b, next);
		LLVMPositionBuilderAtEnd(c->b, alone);
		LLVMBuildCall2(c->b, nty, f, one, 5, "");
		LLVMBuildBr(c->b, next);
		LLVMPositionBuilderAtEnd(c->b, next);
	}
	memset(c->buf, 0, (g->values.n + 1) * sizeof *c->buf);
	emit_output_copies(c);
	LLVMBuildRetVoid(c->b);

	/* NAME_run and NAME_run_parallel: check the arguments, run the body. */
	LLVMValueRef entries[2];
	for (int e = 0; e < 2; e++) {
		char name[300];
		snprintf(name, sizeof name, e ? "%s_run_parallel" : "%s_run", c->o->name);
		LLVMTypeRef params[4] = {c->ptr, c->ptr, c->ptr, c->ptr};
		LLVMValueRef fn = LLVMAddFunction(c->mod, name, LLVMFunctionType(c->i32, params, e ? 4 : 3, 0));
		set_fn_attrs(c, fn, m, false);
		c->fn = fn;
		for (int i = 0; i < 3; i++)
			c->args[i] = LLVMGetParam(fn, i);
		emit_arg_checks(c);
		LLVMValueRef a[4] = {c->args[0], c->args[1], c->args[2], e ? LLVMGetParam(fn, 3) : LLVMConstNull(c->ptr)};
		LLVMBuildCall2(c->b, LLVMFunctionType(vt, bparams, 4, 0), body, a, 4, "");
		LLVMBuildRet(c->b, LLVMConstInt(c->i32, 0, 0));
		entries[e] = fn;
	}
	c->fn = entries[0];
	emit_info(c);
	/* Nothing kiln generates throws: every function says so, or LLVM
	 * gives it unwind tables (.eh_frame; on ARM an .ARM.exidx entry that
	 * references the C++ personality __aeabi_unwind_cpp_pr0, which a
	 * -nostdlib firmware link lacks) where no optimization infers it. */
	unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
	for (LLVMValueRef f = LLVMGetFirstFunction(c->mod); f; f = LLVMGetNextFunction(f))
		if (LLVMCountBasicBlocks(f))
			LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(c->ctx, nounwind, 0));

	char *msg = NULL;
	if (LLVMVerifyModule(c->mod, LLVMReturnStatusAction, &msg)) {
		diag_error(c->d, g->file, NULL, NULL, "internal: LLVM module verification failed: %.500s", msg ? msg : "");
		LLVMDisposeMessage(msg);
		return false;
	}
	LLVMDisposeMessage(msg);
	return true;
}

static bool optimize(Cg *c, const Machine *m)
{
	int o = c->o->opt_level;
	char pipeline[32];
	snprintf(pipeline, sizeof pipeline, "default<O%d>", o < 0 ? 0 : o > 3 ? 3 : o);
	LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
	LLVMPassBuilderOptionsSetLoopVectorization(po, o >= 2);
	LLVMPassBuilderOptionsSetSLPVectorization(po, o >= 2);
	LLVMPassBuilderOptionsSetLoopUnrolling(po, o >= 2);
	LLVMErrorRef e = LLVMRunPasses(c->mod, pipeline, m->tm, po);
	LLVMDisposePassBuilderOptions(po);
	if (e) {
		char *s = LLVMGetErrorMessage(e);
		diag_error(c->d, NULL, NULL, NULL, "internal: LLVM optimization failed: %s", s);
		LLVMDisposeErrorMessage(s);
		return false;
	}
	return true;
}

static void cg_dispose(Cg *c)
{
	free(c->buf);
	free(c->cbuf);
	if (c->b)
		LLVMDisposeBuilder(c->b);
	if (c->mod)
		LLVMDisposeModule(c->mod);
	if (c->ctx && !c->tsc)
		LLVMContextDispose(c->ctx);
	if (c->tsc)
		LLVMOrcDisposeThreadSafeContext(c->tsc);
	memset(c, 0, sizeof *c);
}

bool cg_check(const Graph *g, const CgOptions *o, Diag *d)
{
	int before = d->nerr;
	for (int i = 0; i < g->nodes.n; i++) {
		const Node *n = &g->nodes.v[i];
		const char *why = n->dead ? NULL : cg_unsupported(g, n);
		if (why)
			diag_node(d, g, n, "%s", why);
	}
	return d->nerr == before;
}

/* Object files: a section per function and per global (.text.NAME.F,
 * .rodata.NAME.G), so a firmware link with --gc-sections drops what it
 * does not call (NAME_run_parallel and its tasks, say); the weight blobs
 * in o->weights_section when given, for a linker script to place (external
 * flash: cg_const_blob sets it).  After optimization: it may add or
 * merge globals. */
/* Does a value of type t hold an address (a relocation when loaded)? */
static bool has_pointers(LLVMTypeRef t)
{
	switch (LLVMGetTypeKind(t)) {
	case LLVMPointerTypeKind:
		return true;
	case LLVMArrayTypeKind:
	case LLVMVectorTypeKind:
		return has_pointers(LLVMGetElementType(t));
	case LLVMStructTypeKind:
		for (unsigned i = 0; i < LLVMCountStructElementTypes(t); i++)
			if (has_pointers(LLVMStructGetTypeAtIndex(t, i)))
				return true;
		return false;
	default:
		return false;
	}
}

static void place_sections(Cg *c, bool pic)
{
	const char *P = c->o->name;
	char sec[512];
	for (LLVMValueRef f = LLVMGetFirstFunction(c->mod); f; f = LLVMGetNextFunction(f)) {
		if (!LLVMCountBasicBlocks(f))
			continue;
		const char *n = LLVMGetValueName(f);
		snprintf(sec, sizeof sec, strncmp(n, P, strlen(P)) ? ".text.%s.%s" : ".text.%.0s%s", P, n);
		LLVMSetSection(f, sec);
	}
	for (LLVMValueRef g = LLVMGetFirstGlobal(c->mod); g; g = LLVMGetNextGlobal(g)) {
		if (!LLVMGetInitializer(g) || !LLVMIsGlobalConstant(g))
			continue;
		const char *n = LLVMGetValueName(g), *has = LLVMGetSection(g);
		if (has && *has)  /* a weight blob in --weights-section (cg_const_blob) */
			continue;
		/* (a table of addresses in position-independent code is written
		 * by the loader's relocations: .data.rel.ro, read-only after
		 * them, as LLVM would place it; .rodata would fault) */
		bool rel = pic && has_pointers(LLVMGlobalGetValueType(g));
		const char *kind = rel ? ".data.rel.ro" : ".rodata";
		snprintf(sec, sizeof sec, strncmp(n, P, strlen(P)) ? "%s.%s.%s" : "%s.%.0s%s", kind, P, n);
		LLVMSetSection(g, sec);
	}
}

/* ---- stack size --------------------------------------------------------------------
 * Each function's frame comes from LLVM's prologue/epilogue inserter, which
 * reports it as an analysis remark ("N stack bytes in function 'F'") when
 * remarks of pass prologepilog are asked for; NAME_run's need is the
 * deepest chain of direct calls below it, frames added (plus the return
 * address where a call pushes one).  The runtime helpers a soft-float core
 * calls are not kiln's and not counted (the header says so). */

typedef struct Frames {
	int n, cap;
	char **name;
	int64_t *bytes;
	char *error;  /* the first error LLVM reported while emitting, which the handler would hide */
} Frames;

static void frame_remark(LLVMDiagnosticInfoRef di, void *ctx)
{
	Frames *fr = ctx;
	char *msg = LLVMGetDiagInfoDescription(di);  /* "<unknown>:0:0: 352 stack bytes in function 'F'" */
	if (LLVMGetDiagInfoSeverity(di) == LLVMDSError && !fr->error && msg)
		fr->error = strdup(msg);
	static const char tag[] = " stack bytes in function '";
	char *at = msg ? strstr(msg, tag) : NULL, *num = at;
	while (num && num > msg && num[-1] >= '0' && num[-1] <= '9')
		num--;
	long long bytes;
	char fn[256];
	if (at && num < at && sscanf(num, "%lld", &bytes) == 1 && sscanf(at + sizeof tag - 1, "%255[^']", fn) == 1) {
		if (fr->n == fr->cap) {
			int cap = fr->cap ? 2 * fr->cap : 64;
			char **nn = realloc(fr->name, cap * sizeof *nn);
			int64_t *nb = nn ? realloc(fr->bytes, cap * sizeof *nb) : NULL;
			if (nn)
				fr->name = nn;
			if (nb)
				fr->bytes = nb, fr->cap = cap;
		}
		if (fr->n < fr->cap && (fr->name[fr->n] = strdup(fn)))
			fr->bytes[fr->n++] = bytes;
	}
	LLVMDisposeMessage(msg);
}

static int64_t frame_of(const Frames *fr, const char *fn)
{
	for (int i = 0; i < fr->n; i++)
		if (!strcmp(fr->name[i], fn))
			return fr->bytes[i];
	return -1;
}

/* Deepest stack below f (its frame included); -1 if a frame is unknown.
 * depth guards against recursion, which kiln never generates. */
static int64_t stack_below(LLVMValueRef f, const Frames *fr, int ret_addr, int depth)
{
	size_t len;
	int64_t own = frame_of(fr, LLVMGetValueName2(f, &len));
	if (own < 0 || depth > 16)
		return -1;
	int64_t deepest = 0;
	for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(f); bb; bb = LLVMGetNextBasicBlock(bb))
		for (LLVMValueRef in = LLVMGetFirstInstruction(bb); in; in = LLVMGetNextInstruction(in)) {
			if (!LLVMIsACallInst(in))
				continue;
			LLVMValueRef callee = LLVMGetCalledValue(in);
			if (!LLVMIsAFunction(callee) || !LLVMCountBasicBlocks(callee))
				continue;  /* intrinsics, memcpy, runtime helpers; parallel_for is the caller's */
			int64_t below = stack_below(callee, fr, ret_addr, depth + 1);
			if (below < 0)
				return -1;
			if (below + ret_addr > deepest)
				deepest = below + ret_addr;
		}
	return own + deepest;
}

static void frames_free(Frames *fr)
{
	for (int i = 0; i < fr->n; i++)
		free(fr->name[i]);
	free(fr->name);
	free(fr->bytes);
	free(fr->error);
}

static void ask_frame_remarks(void)
{
	static bool done;
	if (!done) {
		const char *argv[] = {"kiln", "-pass-remarks-analysis=^prologepilog$"};
		LLVMParseCommandLineOptions(2, argv, NULL);
		done = true;
	}
}

bool cg_emit(Graph *g, const CgOptions *o, CgEmit kind, const char *path, Diag *d)
{
	if (g->ws_size < 0)
		die("cg_emit needs a planned graph");
	Machine m;
	if (!machine_new(o, &m, d))
		return false;
	Cg c = {.g = g, .o = o, .d = d};
	bool ok = build_module(&c, &m) && optimize(&c, &m);
	if (ok)
		place_sections(&c, !m.bare);
	/* Emitted to memory and written by us: LLVM's file streams report a
	 * full disk as "LLVM ERROR: IO failure on output stream" and exit,
	 * leaving the file behind. */
	if (ok) {
		char *msg = NULL, *text = NULL;
		LLVMMemoryBufferRef mb = NULL;
		const char *bytes = NULL;
		size_t n = 0;
		if (kind == EMIT_LLVM) {
			text = LLVMPrintModuleToString(c.mod);
			bytes = text, n = text ? strlen(text) : 0;
			ok = text != NULL;
		} else if (kind == EMIT_BC) {
			mb = LLVMWriteBitcodeToMemoryBuffer(c.mod);
			ok = mb != NULL;
		} else {
			Frames fr = {0};
			ask_frame_remarks();
			LLVMContextSetDiagnosticHandler(c.ctx, frame_remark, &fr);
			if (LLVMTargetMachineEmitToMemoryBuffer(m.tm, c.mod, kind == EMIT_ASM ? LLVMAssemblyFile : LLVMObjectFile,
								&msg, &mb)) {
				diag_error(d, path, NULL, NULL, "cannot emit: %s", msg ? msg : "");
				ok = false;
				mb = NULL;
			}
			LLVMContextSetDiagnosticHandler(c.ctx, NULL, NULL);
			if (ok && fr.error) {
				diag_error(d, path, NULL, NULL, "internal: LLVM: %.500s", fr.error);
				ok = false;
			}
			char run[300];
			snprintf(run, sizeof run, "%s_run", o->name);
			LLVMValueRef f = LLVMGetNamedFunction(c.mod, run);
			/* x86-64's call pushes the return address; the others keep it in a register */
			g->stack_size = f ? stack_below(f, &fr, strstr(m.triple, "x86_64") ? 8 : 0, 0) : -1;
			frames_free(&fr);
		}
		if (kind != EMIT_ASM && kind != EMIT_OBJ && !ok)
			diag_error(d, path, NULL, NULL, "out of memory");
		if (mb)
			bytes = LLVMGetBufferStart(mb), n = LLVMGetBufferSize(mb);
		if (ok && path)
			ok = ir_out_write(path, g->file, bytes, n, d);
		else if (ok && (fwrite(bytes, 1, n, stdout) != n || fflush(stdout) != 0)) {
			diag_error(d, NULL, NULL, NULL, "cannot write to stdout: %s", strerror(errno));
			ok = false;
		}
		LLVMDisposeMessage(msg);
		LLVMDisposeMessage(text);
		if (mb)
			LLVMDisposeMemoryBuffer(mb);
	}
	cg_dispose(&c);
	machine_free(&m);
	return ok;
}

/* ---- JIT --------------------------------------------------------------------------- */

struct CgJit {
	LLVMOrcLLJITRef jit;
	KilnRunFn fn;
	KilnRunParallelFn pfn;
};

static bool jit_error(Diag *d, LLVMErrorRef e)
{
	char *s = LLVMGetErrorMessage(e);
	diag_error(d, NULL, NULL, NULL, "internal: JIT: %s", s);
	LLVMDisposeErrorMessage(s);
	return false;
}

/* The address of NAME+suffix in the JIT; false with a diagnostic. */
static bool jit_lookup(LLVMOrcLLJITRef jit, const char *name, const char *suffix, LLVMOrcExecutorAddress *addr, Diag *d)
{
	char sym[300];
	snprintf(sym, sizeof sym, "%s%s", name, suffix);
	*addr = 0;
	LLVMErrorRef e = LLVMOrcLLJITLookup(jit, addr, sym);
	if (e)
		jit_error(d, e);
	return !e;
}

CgJit *cg_jit_new(Graph *g, const CgOptions *o, Diag *d)
{
	if (g->ws_size < 0)
		die("cg_jit_new needs a planned graph");
	CgOptions ho = *o;
	ho.target = NULL;
	ho.weights_section = NULL;
	Machine m;
	if (!machine_new(&ho, &m, d))
		return NULL;
	Cg c = {.g = g, .o = &ho, .d = d};
	/* The module must live in the JIT's thread-safe context. */
	c.tsc = LLVMOrcCreateNewThreadSafeContext();
	c.ctx = LLVMOrcThreadSafeContextGetContext(c.tsc);
	CgJit *j = calloc(1, sizeof *j);
	if (!j || !build_module(&c, &m) || !optimize(&c, &m)) {
		free(j);
		cg_dispose(&c);
		machine_free(&m);
		return NULL;
	}
	/* LLJIT owns its own target machine; give it ours via the builder. */
	LLVMOrcJITTargetMachineBuilderRef jtmb = LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(m.tm);
	m.tm = NULL;
	LLVMOrcLLJITBuilderRef jb = LLVMOrcCreateLLJITBuilder();
	LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(jb, jtmb);
	LLVMErrorRef e = LLVMOrcCreateLLJIT(&j->jit, jb);
	machine_free(&m);
	if (e) {
		jit_error(d, e);
		free(j);
		cg_dispose(&c);
		return NULL;
	}
	LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(c.mod, c.tsc);
	c.mod = NULL;  /* owned by tsm now */
	cg_dispose(&c);
	e = LLVMOrcLLJITAddLLVMIRModule(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit), tsm);
	if (e) {
		jit_error(d, e);
		LLVMOrcDisposeLLJIT(j->jit);
		free(j);
		return NULL;
	}
	LLVMOrcExecutorAddress run, par;
	if (!jit_lookup(j->jit, o->name, "_run", &run, d) || !jit_lookup(j->jit, o->name, "_run_parallel", &par, d)) {
		LLVMOrcDisposeLLJIT(j->jit);
		free(j);
		return NULL;
	}
	j->fn = (KilnRunFn)(uintptr_t)run;
	j->pfn = (KilnRunParallelFn)(uintptr_t)par;
	return j;
}

KilnRunFn cg_jit_fn(CgJit *j) { return j->fn; }
KilnRunParallelFn cg_jit_parallel_fn(CgJit *j) { return j->pfn; }

void cg_jit_free(CgJit *j)
{
	if (!j)
		return;
	LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->jit);
	if (e)
		LLVMConsumeError(e);
	free(j);
}

void cg_sanitize_name(const char *s, char *out, size_t outlen)
{
	const char *base = strrchr(s, '/');
	base = base ? base + 1 : s;
	size_t n = 0;
	if (outlen < 2)
		return;
	if (!(*base >= 'a' && *base <= 'z') && !(*base >= 'A' && *base <= 'Z') && *base != '_')
		out[n++] = '_';
	for (; *base && *base != '.' && n + 1 < outlen; base++) {
		char ch = *base;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
		out[n++] = ok ? ch : '_';
	}
	if (n == 1 && out[0] == '_')
		n = 0, memcpy(out, "model", 5), n = 5;
	out[n] = 0;
}
