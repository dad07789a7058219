/* The target descriptors: one row per machine kiln compiles for, and the
 * vector width a cpu/feature override implies. */
#include "targets.h"

#include <string.h>

static const Target targets[] = {
	/* name, LLVM triple, arch, cpu, features, vec_bytes, vec_regs, fma, cross_cc, qemu */
	{"x86_64-linux-gnu", "x86_64-unknown-linux-gnu", "x86_64", "x86-64", "", 16, 16, false, "cc", NULL},
	{"aarch64-linux-gnu", "aarch64-unknown-linux-gnu", "aarch64", "generic", "+neon,+fp-armv8", 16, 32, true,
	 "aarch64-linux-gnu-gcc", "qemu-aarch64"},
	/* rv64gc, lp64d: no vectors, scalar loops. */
	{"riscv64-linux-gnu", "riscv64-unknown-linux-gnu", "riscv64", "generic-rv64", "+m,+a,+f,+d,+c", 4, 32, true,
	 "riscv64-linux-gnu-gcc", "qemu-riscv64"},
	/* Cortex-M bare metal: Thumb-2 objects (static relocations), no
	 * toolchain or runner in the tests yet.  M4F/M7: single-precision FPU,
	 * hard-float ABI; M3: no FPU, soft float. */
	{"armv7m-none-eabi", "thumbv7m-none-unknown-eabi", "thumb", "cortex-m3", "+thumb-mode", 4, 0, false, NULL, NULL},
	{"thumbv7em-none-eabihf", "thumbv7em-none-unknown-eabihf", "thumb", "cortex-m4", "+vfp4d16sp,+thumb-mode", 4, 16,
	 true, NULL, NULL},
};

#define NTARGETS (sizeof targets / sizeof targets[0])

static const Target *const all[] = {&targets[0], &targets[1], &targets[2], &targets[3], &targets[4], NULL};

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
	/* Cortex-M spellings. */
	if (has_prefix(name, "thumbv7m") || has_prefix(name, "armv7m") || !strcmp(name, "cortex-m3"))
		return &targets[3];
	if (has_prefix(name, "thumbv7em") || has_prefix(name, "armv7em") || !strcmp(name, "cortex-m4"))
		return &targets[4];
	return NULL;
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
