/* Target descriptors: what codegen needs to know about a machine, one
 * table row each (targets.c).  No LLVM here: codegen turns these into
 * target machines. */
#ifndef KILN_TARGETS_H
#define KILN_TARGETS_H

#include <stdbool.h>

typedef struct Target {
	const char *name;       /* what --target accepts, e.g. "aarch64-linux-gnu" */
	const char *triple;     /* LLVM triple */
	const char *arch;       /* "x86_64", "aarch64", "riscv64", "arm" */
	const char *cpu;        /* default -mcpu */
	const char *features;   /* default feature string, e.g. "+neon" */
	int vec_bytes;          /* native float vector width with default features */
	int vec_regs;           /* architectural vector registers */
	bool fma;               /* fused multiply-add available by default */
	const char *cross_cc;   /* C compiler for tests linking this target, or NULL */
	const char *qemu;       /* qemu-user binary to run it, or NULL for the host */
} Target;

/* Look up by name or by triple ("x86_64-unknown-linux-gnu" matches the
 * x86_64 row).  NULL if unknown. */
const Target *tgt_find(const char *name);
/* All descriptors, NULL-terminated, for --help and tests. */
const Target *const *tgt_all(void);
/* Vector width in bytes implied by a target with the given cpu/feature
 * overrides (features like "+avx2,-avx512f"; cpu names like "haswell"). */
int tgt_vec_bytes(const Target *t, const char *cpu, const char *features);
/* Does an x86-64 cpu (an LLVM name) with a feature list ("+f,-g", later
 * entries win) have feature f ("avx2", "avx512bw", "avx512vnni",
 * "avxvnni")?  The list decides when it names f, else the cpu tables: the
 * integer kernels pick their dot-product instructions by it. */
bool tgt_x86_has(const char *cpu, const char *features, const char *f);
/* The same for an AArch64 cpu and f = "dotprod" (sdot/udot). */
bool tgt_arm_has(const char *cpu, const char *features, const char *f);

#endif
