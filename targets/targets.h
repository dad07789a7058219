/* Target descriptors: what codegen needs to know about a machine, one
 * table row each (targets.c).  No LLVM here: codegen turns these into
 * target machines. */
#ifndef KILN_TARGETS_H
#define KILN_TARGETS_H

#include <stdbool.h>
#include <stddef.h>

/* One CPU a target accepts: targets whose ABI a CPU could contradict
 * (bare metal: hard-float argument passing needs an FPU, Thumb-1 cannot run
 * Thumb-2) list theirs, and --cpu must name one. */
typedef struct TargetCpu {
	const char *name;       /* what --cpu (or --target) accepts */
	const char *llvm_cpu;   /* LLVM's -mcpu for it */
	const char *features;   /* added to the target's features, or "" */
	bool fpu;               /* single-precision floating point in hardware */
	const char *abi;        /* RISC-V target-abi for it, or NULL: the target's */
	const char *note;       /* for `kiln targets` */
} TargetCpu;

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
	bool bare_metal;        /* no OS: static relocations, no unwind tables */
	bool fpu;               /* the default cpu has a single-precision FPU */
	const char *float_abi;  /* how floats cross calls: "hard", "soft", or the RISC-V ABI name */
	const char *abi;        /* RISC-V target-abi module flag, NULL elsewhere */
	const TargetCpu *cpus;  /* the CPUs --cpu may name (first: the default), NULL-name terminated;
				 * NULL: any CPU LLVM knows for the arch */
	const char *helpers;    /* the compiler-runtime helpers its objects may call (beyond memcpy,
				 * memset, memmove): comma-separated names, a trailing '*' a prefix */
	const char *helpers64;  /* more of them, only where the model itself computes in int64
				 * (division, int64 <-> float): 32-bit cores */
} Target;

/* Look up by name or by triple ("x86_64-unknown-linux-gnu" matches the
 * x86_64 row).  NULL if unknown. */
const Target *tgt_find(const char *name);
/* The CPU a target spelling implies ("cortex-m7", "rv32imafc": that CPU of
 * its target), NULL for a plain target name. */
const char *tgt_implied_cpu(const Target *t, const char *name);
/* The row of t's CPU list that cpu names (NULL: the default); NULL when t
 * lists none or cpu is not among them. */
const TargetCpu *tgt_cpu(const Target *t, const char *cpu);
/* Can t take --cpu cpu?  If not, why (one line) in why. */
bool tgt_check_cpu(const Target *t, const char *cpu, char *why, size_t n);
/* Is name in the helper list (Target.helpers, .helpers64)? */
bool tgt_helper_in(const char *list, const char *name);
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
