/* Test support for the inline math (cg_math.c): each builder JIT-compiled
 * alone, or all of them compiled to one object to list what it links to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Object.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "cg_internal.h"

/* ---- test support -------------------------------------------------------
 * tests/unit/test_math.c measures the builders of cg_math.c against libm.  Only
 * codegen/ sees llvm-c (the test targets do not get its include path), so
 * the test reaches them through these functions, declared in
 * cg_internal.h and repeated in the test. */

typedef LLVMValueRef (*MathFn1)(Cg *, LLVMValueRef);

/* cg_sqrt as a core without an FPU gets it (integer steps), on the host. */
static LLVMValueRef sqrt_soft(Cg *c, LLVMValueRef x)
{
	c->soft_float = true;
	LLVMValueRef r = cg_sqrt(c, x);
	c->soft_float = false;
	return r;
}
typedef LLVMValueRef (*MathFn2)(Cg *, LLVMValueRef, LLVMValueRef);

static const struct {
	const char *name;
	MathFn1 f1;
	MathFn2 f2;
} math_fns[] = {
	{"sin", cg_sin, NULL}, {"cos", cg_cos, NULL}, {"tan", cg_tan, NULL},
	{"asin", cg_asin, NULL}, {"acos", cg_acos, NULL}, {"atan", cg_atan, NULL},
	{"sinh", cg_sinh, NULL}, {"cosh", cg_cosh, NULL}, {"asinh", cg_asinh, NULL},
	{"acosh", cg_acosh, NULL}, {"atanh", cg_atanh, NULL}, {"erf", cg_erf, NULL},
	{"pow", NULL, cg_pow}, {"round_even", cg_round_even, NULL}, {"fmod", NULL, cg_fmod},
	{"sqrt_soft", sqrt_soft, NULL},
};
#define NMATH (int)(sizeof math_fns / sizeof math_fns[0])

struct CgMathJit {
	LLVMOrcLLJITRef jit;
	CgMathFn fn;
};

static char *dup_msg(const char *s)
{
	char *d = malloc(strlen(s) + 1);
	if (d)
		strcpy(d, s);
	return d;
}

static char *take_error(LLVMErrorRef e)
{
	char *s = LLVMGetErrorMessage(e);
	char *d = dup_msg(s);
	LLVMDisposeErrorMessage(s);
	return d;
}

/* Adds void kiln_math_NAME(const float *x, const float *y, float *out),
 * applying math_fns[i] to `lanes` floats (1: the scalar form). */
static void build_kernel(Cg *c, int i, int lanes)
{
	LLVMTypeRef ty = lanes > 1 ? LLVMVectorType(c->f32, (unsigned)lanes) : c->f32;
	LLVMTypeRef params[3] = {c->ptr, c->ptr, c->ptr};
	char name[64];
	snprintf(name, sizeof name, "kiln_math_%s", math_fns[i].name);
	c->fn = LLVMAddFunction(c->mod, name, LLVMFunctionType(LLVMVoidTypeInContext(c->ctx), params, 3, 0));
	LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, c->fn, "entry"));
	LLVMValueRef v[2];
	for (int j = 0; j < 2; j++) {
		v[j] = LLVMBuildLoad2(c->b, ty, LLVMGetParam(c->fn, (unsigned)j), "");
		LLVMSetAlignment(v[j], 4);  /* the caller's arrays are only float-aligned */
	}
	LLVMValueRef r = math_fns[i].f1 ? math_fns[i].f1(c, v[0]) : math_fns[i].f2(c, v[0], v[1]);
	LLVMSetAlignment(LLVMBuildStore(c->b, r, LLVMGetParam(c->fn, 2)), 4);
	LLVMBuildRetVoid(c->b);
}

static void test_cg_init(Cg *c, LLVMContextRef ctx)
{
	memset(c, 0, sizeof *c);
	c->ctx = ctx;
	c->mod = LLVMModuleCreateWithNameInContext("kiln_math", ctx);
	c->b = LLVMCreateBuilderInContext(ctx);
	c->f32 = LLVMFloatTypeInContext(ctx);
	c->i8 = LLVMInt8TypeInContext(ctx);
	c->i32 = LLVMInt32TypeInContext(ctx);
	c->i64 = LLVMInt64TypeInContext(ctx);
	c->ptr = LLVMPointerTypeInContext(ctx, 0);
}

/* Target machine for triple/cpu/features, NULL each meaning the host's. */
static LLVMTargetMachineRef test_tm(const char *triple, const char *cpu, const char *features, char **err)
{
	static bool inited;
	if (!inited) {
		LLVMInitializeAllTargetInfos();
		LLVMInitializeAllTargets();
		LLVMInitializeAllTargetMCs();
		LLVMInitializeAllAsmPrinters();
		inited = true;
	}
	char *ht = LLVMGetDefaultTargetTriple(), *hc = LLVMGetHostCPUName(), *hf = LLVMGetHostCPUFeatures();
	const char *tr = triple ? triple : ht;
	LLVMTargetRef t;
	LLVMTargetMachineRef tm = NULL;
	char *msg = NULL;
	if (LLVMGetTargetFromTriple(tr, &t, &msg)) {
		*err = dup_msg(msg ? msg : "unknown triple");
	} else {
		tm = LLVMCreateTargetMachine(t, tr, cpu ? cpu : hc, features ? features : cpu ? "" : hf,
					     LLVMCodeGenLevelAggressive, LLVMRelocPIC, LLVMCodeModelDefault);
		if (!tm)
			*err = dup_msg("cannot create the target machine");
	}
	LLVMDisposeMessage(msg);
	LLVMDisposeMessage(ht);
	LLVMDisposeMessage(hc);
	LLVMDisposeMessage(hf);
	return tm;
}

/* Verify, then the -O2 pipeline the driver uses for kiln -O2. */
static bool test_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, char **err)
{
	char *msg = NULL;
	if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
		*err = dup_msg(msg ? msg : "invalid module");
		LLVMDisposeMessage(msg);
		return false;
	}
	LLVMDisposeMessage(msg);
	LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
	LLVMPassBuilderOptionsSetLoopVectorization(po, 1);
	LLVMPassBuilderOptionsSetSLPVectorization(po, 1);
	LLVMErrorRef e = LLVMRunPasses(mod, "default<O2>", tm, po);
	LLVMDisposePassBuilderOptions(po);
	if (e) {
		*err = take_error(e);
		return false;
	}
	return true;
}

static int find_math(const char *name)
{
	for (int i = 0; i < NMATH; i++)
		if (!strcmp(math_fns[i].name, name))
			return i;
	return -1;
}

CgMathJit *cg_math_jit(const char *name, int lanes, const char *cpu, char **ir, char **err)
{
	*err = NULL;
	int i = find_math(name);
	if (i < 0) {
		*err = dup_msg("no such math function");
		return NULL;
	}
	LLVMTargetMachineRef tm = test_tm(NULL, cpu, NULL, err);
	if (!tm)
		return NULL;
	LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
	Cg c;
	test_cg_init(&c, LLVMOrcThreadSafeContextGetContext(tsc));
	build_kernel(&c, i, lanes);
	LLVMDisposeBuilder(c.b);
	CgMathJit *j = calloc(1, sizeof *j);
	if (!j || !test_optimize(c.mod, tm, err)) {
		if (!*err)
			*err = dup_msg("out of memory");
		free(j);
		LLVMDisposeModule(c.mod);
		LLVMOrcDisposeThreadSafeContext(tsc);
		LLVMDisposeTargetMachine(tm);
		return NULL;
	}
	if (ir) {
		char *s = LLVMPrintModuleToString(c.mod);
		*ir = dup_msg(s);
		LLVMDisposeMessage(s);
	}
	LLVMOrcLLJITBuilderRef jb = LLVMOrcCreateLLJITBuilder();
	LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(jb, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm));
	LLVMErrorRef e = LLVMOrcCreateLLJIT(&j->jit, jb);
	if (!e)
		e = LLVMOrcLLJITAddLLVMIRModule(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit),
						LLVMOrcCreateNewThreadSafeModule(c.mod, tsc));
	else
		LLVMDisposeModule(c.mod);
	LLVMOrcDisposeThreadSafeContext(tsc);
	char sym[64];
	snprintf(sym, sizeof sym, "kiln_math_%s", name);
	LLVMOrcExecutorAddress addr = 0;
	if (!e)
		e = LLVMOrcLLJITLookup(j->jit, &addr, sym);
	if (e) {
		*err = take_error(e);
		cg_math_jit_free(j);
		return NULL;
	}
	j->fn = (CgMathFn)(uintptr_t)addr;
	return j;
}

CgMathFn cg_math_jit_fn(CgMathJit *j) { return j->fn; }

void cg_math_jit_free(CgMathJit *j)
{
	if (!j)
		return;
	if (j->jit) {
		LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->jit);
		if (e)
			LLVMConsumeError(e);
	}
	free(j);
}

/* Appends the names of o's undefined symbols to *out (space-separated). */
static bool list_undefined(LLVMBinaryRef o, char **out)
{
	size_t len = 0;
	*out = dup_msg("");
	LLVMSymbolIteratorRef s = LLVMObjectFileCopySymbolIterator(o);
	LLVMSectionIteratorRef sec = LLVMObjectFileCopySectionIterator(o);
	for (; *out && !LLVMObjectFileIsSymbolIteratorAtEnd(o, s); LLVMMoveToNextSymbol(s)) {
		const char *name = LLVMGetSymbolName(s);
		LLVMMoveToContainingSection(sec, s);
		/* No section and a name: something the linker must find elsewhere
		 * (the file symbol is nameless here, the module having no source
		 * file name). */
		if (!name || !*name || !LLVMObjectFileIsSectionIteratorAtEnd(o, sec))
			continue;
		char *grown = realloc(*out, len + strlen(name) + 2);
		if (!grown) {
			free(*out);
			*out = NULL;
			break;
		}
		*out = grown;
		len += (size_t)sprintf(*out + len, "%s%s", len ? " " : "", name);
	}
	LLVMDisposeSectionIterator(sec);
	LLVMDisposeSymbolIterator(s);
	return *out != NULL;
}

char *cg_math_undefined(const char *triple, const char *cpu, const char *features, int lanes, char **err)
{
	*err = NULL;
	LLVMTargetMachineRef tm = test_tm(triple, cpu, features, err);
	if (!tm)
		return NULL;
	LLVMContextRef ctx = LLVMContextCreate();
	Cg c;
	test_cg_init(&c, ctx);
	LLVMSetSourceFileName(c.mod, "", 0);
	for (int i = 0; i < NMATH; i++)
		build_kernel(&c, i, lanes);
	LLVMDisposeBuilder(c.b);
	char *out = NULL, *msg = NULL;
	LLVMMemoryBufferRef buf = NULL;
	if (test_optimize(c.mod, tm, err)) {
		if (LLVMTargetMachineEmitToMemoryBuffer(tm, c.mod, LLVMObjectFile, &msg, &buf)) {
			*err = dup_msg(msg ? msg : "cannot emit");
		} else {
			LLVMBinaryRef o = LLVMCreateBinary(buf, ctx, &msg);
			if (!o)
				*err = dup_msg(msg ? msg : "cannot read the object back");
			else if (!list_undefined(o, &out))
				*err = dup_msg("out of memory");
			if (o)
				LLVMDisposeBinary(o);
			LLVMDisposeMemoryBuffer(buf);
		}
	}
	LLVMDisposeMessage(msg);
	LLVMDisposeModule(c.mod);
	LLVMContextDispose(ctx);
	LLVMDisposeTargetMachine(tm);
	return out;
}
