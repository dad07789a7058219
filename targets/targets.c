/* The target descriptors: one row per machine kiln compiles for, and the
 * vector width a cpu/feature override implies. */
#include "targets.h"

#include <stdio.h>
#include <string.h>

/* The compiler-runtime helpers a core without an FPU calls for single-
 * precision arithmetic, comparisons and int32 conversions (libgcc and
 * compiler-rt both have them; docs/cli.md lists them).  Nothing in double. */
#define ARM_SOFT_FLOAT "__aeabi_fadd,__aeabi_fsub,__aeabi_frsub,__aeabi_fmul,__aeabi_fdiv,__aeabi_fcmp*," \
		       "__aeabi_cfcmp*,__aeabi_cfrcmple,__aeabi_f2iz,__aeabi_f2uiz,__aeabi_i2f,__aeabi_ui2f"
#define ARM_INT64 "__aeabi_ldivmod,__aeabi_uldivmod,__aeabi_l2f,__aeabi_ul2f,__aeabi_f2lz,__aeabi_f2ulz"
#define RV_INT64 "__divdi3,__moddi3,__udivdi3,__umoddi3,__floatdisf,__floatundisf,__fixsfdi,__fixunssfdi"
#define RV_SOFT_FLOAT "__addsf3,__subsf3,__mulsf3,__divsf3,__eqsf2,__nesf2,__ltsf2,__lesf2,__gtsf2,__gesf2," \
		      "__unordsf2,__fixsfsi,__fixunssfsi,__floatsisf,__floatunsisf"

/* name, LLVM cpu, features, fpu, RISC-V abi, note */
static const TargetCpu cm0[] = {
	{"cortex-m0", "cortex-m0", "", false, NULL, "ARMv6-M, no FPU, no divider"},
	{"cortex-m0plus", "cortex-m0plus", "", false, NULL, "ARMv6-M, no FPU, no divider"},
	{"cortex-m1", "cortex-m1", "", false, NULL, "ARMv6-M, no FPU, no divider"},
	{NULL},
};
static const TargetCpu cm3[] = {
	{"cortex-m3", "cortex-m3", "", false, NULL, "ARMv7-M, no FPU"},
	{NULL},
};
static const TargetCpu cm4[] = {
	{"cortex-m4", "cortex-m4", "", true, NULL, "ARMv7E-M, DSP, single-precision FPU"},
	{"cortex-m7", "cortex-m7", "", true, NULL, "ARMv7E-M, DSP, FPU (fpv5)"},
	{NULL},
};
static const TargetCpu cm33[] = {
	{"cortex-m33", "cortex-m33", "", true, NULL, "ARMv8-M mainline, DSP, single-precision FPU"},
	{"cortex-m35p", "cortex-m35p", "", true, NULL, "ARMv8-M mainline, DSP, single-precision FPU"},
	{NULL},
};
static const TargetCpu cm55[] = {
	{"cortex-m55", "cortex-m55", "", true, NULL, "ARMv8.1-M, MVE (Helium) integer and float, FPU"},
	{"cortex-m85", "cortex-m85", "", true, NULL, "ARMv8.1-M, MVE (Helium) integer and float, FPU"},
	{NULL},
};
static const TargetCpu rv32[] = {
	{"rv32imac", "generic-rv32", "+m,+a,+c", false, "ilp32", "soft float (ilp32)"},
	{"rv32imafc", "generic-rv32", "+m,+a,+f,+c", true, "ilp32f", "single-precision FPU, hard float (ilp32f)"},
	{"rv32imc", "generic-rv32", "+m,+c", false, "ilp32", "ESP32-C3 class, soft float (ilp32)"},
	{NULL},
};

static const Target targets[] = {
	/* name, LLVM triple, arch, cpu, features, vec_bytes, vec_regs, fma, cross_cc, qemu,
	 * bare_metal, fpu, float_abi, abi, cpus, helpers, helpers64 */
	{"x86_64-linux-gnu", "x86_64-unknown-linux-gnu", "x86_64", "x86-64", "", 16, 16, false, "cc", NULL,
	 false, true, "hard", NULL, NULL, "", ""},
	{"aarch64-linux-gnu", "aarch64-unknown-linux-gnu", "aarch64", "generic", "+neon,+fp-armv8", 16, 32, true,
	 "aarch64-linux-gnu-gcc", "qemu-aarch64", false, true, "hard", NULL, NULL, "", ""},
	/* rv64gc, lp64d: no vectors, scalar loops. */
	{"riscv64-linux-gnu", "riscv64-unknown-linux-gnu", "riscv64", "generic-rv64", "+m,+a,+f,+d,+c", 4, 32, true,
	 "riscv64-linux-gnu-gcc", "qemu-riscv64", false, true, "lp64d", "lp64d", NULL, "", ""},
	/* Cortex-M bare metal: Thumb objects, static relocations, run in the
	 * tests under qemu-system-arm (tests/firmware).  M0/M0+: Thumb-1, no
	 * FPU, no hardware divide; M3: no FPU, soft float; M4F/M7, M33 and
	 * M55: single-precision FPU, hard-float ABI; M55: MVE's 128-bit
	 * vectors (8 Q registers). */
	{"armv6m-none-eabi", "thumbv6m-none-unknown-eabi", "thumb", "cortex-m0", "+thumb-mode", 4, 0, false, NULL, NULL,
	 true, false, "soft", NULL, cm0,
	 /* no divide instruction, no 64-bit multiply or shift (the i64 index
	  * arithmetic, the integer kernels' requantization) */
	 ARM_SOFT_FLOAT ",__aeabi_idiv,__aeabi_uidiv,__aeabi_idivmod,__aeabi_uidivmod,__aeabi_lmul,__aeabi_llsl,"
	 "__aeabi_llsr,__aeabi_lasr", ARM_INT64},
	{"armv7m-none-eabi", "thumbv7m-none-unknown-eabi", "thumb", "cortex-m3", "+thumb-mode", 4, 0, false, NULL, NULL,
	 true, false, "soft", NULL, cm3, ARM_SOFT_FLOAT, ARM_INT64},
	{"thumbv7em-none-eabihf", "thumbv7em-none-unknown-eabihf", "thumb", "cortex-m4", "+vfp4d16sp,+thumb-mode", 4, 16,
	 true, NULL, NULL, true, true, "hard", NULL, cm4, "", ARM_INT64},
	{"thumbv8m.main-none-eabihf", "thumbv8m.main-none-unknown-eabihf", "thumb", "cortex-m33", "+thumb-mode", 4, 16,
	 true, NULL, NULL, true, true, "hard", NULL, cm33, "", ARM_INT64},
	{"thumbv8.1m.main-none-eabihf", "thumbv8.1m.main-none-unknown-eabihf", "thumb", "cortex-m55", "+thumb-mode", 4,
	 16, true, NULL, NULL, true, true, "hard", NULL, cm55, "", ARM_INT64},
	/* 32-bit RISC-V bare metal (qemu's virt in the tests): the CPU picks
	 * the extensions and the ABI. */
	{"riscv32-unknown-elf", "riscv32-unknown-unknown-elf", "riscv32", "rv32imac", "", 4, 0, false, NULL, NULL,
	 true, false, "ilp32 (rv32imafc: ilp32f)", "ilp32", rv32, RV_SOFT_FLOAT, RV_INT64},
};

#define NTARGETS (sizeof targets / sizeof targets[0])

static const Target *const all[] = {&targets[0], &targets[1], &targets[2], &targets[3], &targets[4],
				    &targets[5], &targets[6], &targets[7], &targets[8], NULL};
_Static_assert(sizeof all / sizeof all[0] == NTARGETS + 1, "every target row is listed");

const Target *const *tgt_all(void) { return all; }

static bool has_prefix(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

const Target *tgt_find(const char *name)
{
	if (!name || !*name)
		return NULL;
	for (size_t i = 0; i < NTARGETS; i++) {
		const Target *t = &targets[i];
		if (!strcmp(name, t->name) || !strcmp(name, t->triple))
			return t;
	}
	/* Full triples with any vendor: ARCH-VENDOR-linux-gnu, or the bare arch. */
	static const char *const linux_arch[] = {"x86_64", "aarch64", "riscv64"};
	for (size_t i = 0; i < 3; i++) {
		size_t al = strlen(linux_arch[i]);
		if (!strcmp(name, linux_arch[i]) ||
		    (has_prefix(name, linux_arch[i]) && name[al] == '-' && strstr(name, "-linux") &&
		     (strstr(name, "-gnu") || !strcmp(strstr(name, "-linux"), "-linux"))))
			return &targets[i];
	}
	if (!strcmp(name, "amd64") || has_prefix(name, "amd64-"))
		return strstr(name, "linux") || !strcmp(name, "amd64") ? &targets[0] : NULL;
	if (!strcmp(name, "arm64") || (has_prefix(name, "arm64-") && strstr(name, "linux")))
		return &targets[1];
	/* Cortex-M and RISC-V spellings: an architecture prefix, or a CPU
	 * name (which also picks that CPU: tgt_implied_cpu). */
	static const struct { const char *prefix; int row; } bare[] = {
		{"thumbv6m", 3}, {"armv6m", 3}, {"armv6-m", 3},
		{"thumbv7m", 4}, {"armv7m", 4}, {"armv7-m", 4},
		{"thumbv7em", 5}, {"armv7em", 5}, {"armv7e-m", 5},
		{"thumbv8m.main", 6}, {"armv8m.main", 6}, {"armv8-m.main", 6},
		{"thumbv8.1m.main", 7}, {"armv8.1m.main", 7}, {"armv8.1-m.main", 7},
		{"riscv32", 8}, {"rv32", 8},
	};
	for (size_t i = 0; i < sizeof bare / sizeof bare[0]; i++)
		if (has_prefix(name, bare[i].prefix) && (!strcmp(name, bare[i].prefix) || name[strlen(bare[i].prefix)] == '-'))
			return &targets[bare[i].row];
	for (size_t i = 0; i < NTARGETS; i++)
		if (tgt_implied_cpu(&targets[i], name))
			return &targets[i];
	return NULL;
}

const char *tgt_implied_cpu(const Target *t, const char *name)
{
	for (const TargetCpu *c = t->cpus; c && c->name; c++)
		if (!strcmp(name, c->name))
			return c->name;
	return NULL;
}

const TargetCpu *tgt_cpu(const Target *t, const char *cpu)
{
	if (!t->cpus)
		return NULL;
	if (!cpu)
		return &t->cpus[0];
	for (const TargetCpu *c = t->cpus; c->name; c++)
		if (!strcmp(cpu, c->name) || !strcmp(cpu, c->llvm_cpu) || (!strcmp(cpu, t->cpu) && c == t->cpus))
			return c;
	return NULL;
}

bool tgt_check_cpu(const Target *t, const char *cpu, char *why, size_t n)
{
	if (!cpu || !t->cpus || tgt_cpu(t, cpu))
		return true;
	/* Which target does the cpu belong to, if any: say so. */
	const Target *home = NULL;
	for (size_t i = 0; i < NTARGETS && !home; i++)
		if (tgt_implied_cpu(&targets[i], cpu))
			home = &targets[i];
	size_t k = (size_t)snprintf(why, n, "--cpu '%s' contradicts target '%s' (float ABI %s%s; its CPUs:", cpu, t->name,
				    t->float_abi, t->fpu ? ", which needs an FPU" : "");
	for (const TargetCpu *c = t->cpus; c->name && k < n; c++)
		k += (size_t)snprintf(why + k, n - k, "%s %s", c == t->cpus ? "" : ",", c->name);
	if (k < n)
		snprintf(why + k, n - k, home ? "); '%s' is a CPU of target '%s'" : ")%s%s", home ? cpu : "",
			 home ? home->name : "");
	return false;
}

bool tgt_helper_in(const char *list, const char *name)
{
	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len && p[len - 1] == '*' ? !strncmp(name, p, len - 1) : (strlen(name) == len && !strncmp(name, p, len)))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* Does the comma-separated feature list turn feature f on (+f) or off (-f)?
 * Later entries win, as in LLVM.  0 when not mentioned. */
static int feature(const char *list, const char *f)
{
	int state = 0;
	size_t fl = strlen(f);
	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == fl + 1 && (p[0] == '+' || p[0] == '-') && !strncmp(p + 1, f, fl))
			state = p[0] == '+' ? 1 : -1;
		p = end ? end + 1 : NULL;
	}
	return state;
}

static bool cpu_is(const char *cpu, const char *const *names)
{
	for (; *names; names++)
		if (!strcmp(cpu, *names))
			return true;
	return false;
}

int tgt_vec_bytes(const Target *t, const char *cpu, const char *features)
{
	int v = t->vec_bytes;
	const char *f = features ? features : "";
	if (!strcmp(t->arch, "x86_64")) {
		static const char *const avx512[] = {"skylake-avx512", "cascadelake", "cooperlake", "cannonlake",
						     "icelake-client", "icelake-server", "tigerlake", "rocketlake",
						     "sapphirerapids", "graniterapids", "graniterapids-d", "emeraldrapids",
						     "znver4", "znver5", "x86-64-v4", "knl", "knm", NULL};
		static const char *const avx[] = {"sandybridge", "ivybridge", "haswell", "broadwell", "skylake",
						  "alderlake", "raptorlake", "meteorlake", "arrowlake", "lunarlake",
						  "gracemont", "znver1", "znver2", "znver3", "bdver1", "bdver2", "bdver3",
						  "bdver4", "btver2", "x86-64-v3", NULL};
		if (cpu && cpu_is(cpu, avx512))
			v = 64;
		else if (cpu && cpu_is(cpu, avx))
			v = 32;
		if (feature(f, "avx") > 0 || feature(f, "avx2") > 0)
			v = v < 32 ? 32 : v;
		if (feature(f, "avx512f") > 0)
			v = 64;
		if (feature(f, "avx512f") < 0 && v == 64)
			v = 32;
		if ((feature(f, "avx") < 0 || feature(f, "avx2") < 0) && v > 16)
			v = feature(f, "avx") < 0 ? 16 : v;
	}
	if (!strcmp(t->arch, "aarch64") && feature(f, "neon") < 0)
		v = 4;
	if (!strcmp(t->arch, "riscv64") && feature(f, "v") > 0)
		v = 16;
	return v;
}

/* The x86 cpus (LLVM names) that have each feature the integer kernels ask
 * about; a cpu missing from a row lacks it, unless the features say so. */
static const char *const x86_avx512vnni[] = {"cascadelake", "cooperlake", "icelake-client", "icelake-server",
					     "tigerlake", "rocketlake", "sapphirerapids", "emeraldrapids",
					     "graniterapids", "graniterapids-d", "znver4", "znver5", NULL};
static const char *const x86_avxvnni[] = {"alderlake", "raptorlake", "meteorlake", "arrowlake", "arrowlake-s",
					  "lunarlake", "pantherlake", "gracemont", "sierraforest", "grandridge",
					  "clearwaterforest", "sapphirerapids", "emeraldrapids", "graniterapids",
					  "graniterapids-d", "znver5", NULL};
static const char *const x86_avx512bw[] = {"skylake-avx512", "cascadelake", "cooperlake", "cannonlake",
					   "icelake-client", "icelake-server", "tigerlake", "rocketlake",
					   "sapphirerapids", "emeraldrapids", "graniterapids", "graniterapids-d",
					   "znver4", "znver5", "x86-64-v4", NULL};
static const char *const x86_avx2[] = {"haswell", "broadwell", "skylake", "alderlake", "raptorlake", "meteorlake",
				       "arrowlake", "arrowlake-s", "lunarlake", "pantherlake", "gracemont",
				       "sierraforest", "grandridge", "clearwaterforest", "znver1", "znver2", "znver3",
				       "bdver4", "x86-64-v3", "knl", "knm", NULL};

bool tgt_x86_has(const char *cpu, const char *features, const char *f)
{
	int st = feature(features ? features : "", f);
	if (st)
		return st > 0;
	if (!cpu)
		return false;
	if (!strcmp(f, "avx512vnni"))
		return cpu_is(cpu, x86_avx512vnni);
	if (!strcmp(f, "avxvnni"))
		return cpu_is(cpu, x86_avxvnni);
	if (!strcmp(f, "avx512bw") || !strcmp(f, "avx512vl"))
		return cpu_is(cpu, x86_avx512bw);
	if (!strcmp(f, "avx2"))
		return cpu_is(cpu, x86_avx2) || cpu_is(cpu, x86_avx512bw);
	return false;
}

/* The AArch64 cpus (LLVM 19 names) with the dot-product extension (sdot,
 * udot): the integer kernels emit those instructions only for them or
 * for "+dotprod", since LLVM cannot select them for any other cpu. */
static const char *const arm_dotprod[] = {"cortex-a55", "cortex-a65", "cortex-a65ae", "cortex-a75", "cortex-a76",
					  "cortex-a76ae", "cortex-a77", "cortex-a78", "cortex-a78ae", "cortex-a78c",
					  "cortex-a510", "cortex-a520", "cortex-a520ae", "cortex-a710", "cortex-a715",
					  "cortex-a720", "cortex-a720ae", "cortex-a725", "cortex-r82", "cortex-r82ae",
					  "cortex-x1", "cortex-x1c", "cortex-x2", "cortex-x3", "cortex-x4", "cortex-x925",
					  "neoverse-e1", "neoverse-n1", "neoverse-n2", "neoverse-n3", "neoverse-v1",
					  "neoverse-v2", "neoverse-v3", "neoverse-v3ae", "neoverse-512tvb", "ampere1",
					  "ampere1a", "ampere1b", "apple-a13", "apple-a14", "apple-a15", "apple-a16",
					  "apple-a17", "apple-m4", "exynos-m4", "exynos-m5", "oryon-1", "saphira", "tsv110",
					  NULL};

bool tgt_arm_has(const char *cpu, const char *features, const char *f)
{
	int st = feature(features ? features : "", f);
	if (st)
		return st > 0;
	return cpu && !strcmp(f, "dotprod") && cpu_is(cpu, arm_dotprod);
}
