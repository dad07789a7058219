/* The target descriptors: one row per machine kiln compiles for. */
#include "targets.h"

#include <string.h>

static const Target targets[] = {
	{"x86_64-linux-gnu", "x86_64-unknown-linux-gnu", "x86_64", "x86-64", "", 16, 16, false, "cc", NULL},
	{"aarch64-linux-gnu", "aarch64-unknown-linux-gnu", "aarch64", "generic", "+neon,+fp-armv8", 16, 32, true,
	 "aarch64-linux-gnu-gcc", "qemu-aarch64"},
	{"riscv64-linux-gnu", "riscv64-unknown-linux-gnu", "riscv64", "generic-rv64", "+m,+a,+f,+d,+c", 4, 32, true,
	 "riscv64-linux-gnu-gcc", "qemu-riscv64"},
	/* Cortex-M4F/M7 bare metal: Thumb-2, single-precision FPU, hard-float ABI. */
	{"thumbv7em-none-eabihf", "thumbv7em-none-unknown-eabihf", "thumb", "cortex-m4", "+vfp4d16sp,+thumb-mode", 4, 16, true,
	 NULL, NULL},
};

static const Target *const all[] = {&targets[0], &targets[1], &targets[2], &targets[3], NULL};

const Target *const *tgt_all(void) { return all; }

const Target *tgt_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		const Target *t = &targets[i];
		if (!strcmp(name, t->name) || !strcmp(name, t->triple) || !strcmp(name, t->arch))
			return t;
		/* Any vendor: ARCH-*-linux-gnu. */
		size_t al = strlen(t->arch);
		const char *tail = strrchr(name, '-');
		if (!strncmp(name, t->arch, al) && name[al] == '-' && tail && !strcmp(tail, "-gnu") &&
		    strstr(name, "-linux-"))
			return t;
	}
	return NULL;
}

int tgt_vec_bytes(const Target *t, const char *cpu, const char *features)
{
	int v = t->vec_bytes;
	const char *f = features ? features : "";
	if (!strcmp(t->arch, "x86_64")) {
		if (strstr(f, "+avx2") || strstr(f, "+avx,") || (cpu && (strstr(cpu, "haswell") || strstr(cpu, "znver") ||
							      strstr(cpu, "skylake") || strstr(cpu, "x86-64-v3"))))
			v = 32;
		if (strstr(f, "+avx512f") || (cpu && (strstr(cpu, "avx512") || strstr(cpu, "x86-64-v4"))))
			v = 64;
		if (strstr(f, "-avx512f") && v == 64)
			v = 32;
		if (strstr(f, "-avx2") && v == 32)
			v = 16;
	}
	if (!strcmp(t->arch, "riscv64") && strstr(f, "+v"))
		v = 16;
	return v;
}
