#!/usr/bin/env python3
"""What a -nostdlib link needs from kiln's objects, for every target at
every -O: the undefined symbols and the unwind sections of each object.

  - no symbol beyond memcpy, memset and memmove, except the compiler-runtime
    helpers docs/cli.md lists for the core (soft float without an FPU,
    division without a divider) and, for a model that itself divides int64
    values or converts int64 <-> float, the int64 helpers on 32-bit cores;
    never libm (sqrtf, expf ...), never double-precision helpers;
  - no unwind tables: no .eh_frame, no .ARM.extab, and on ARM no .ARM.exidx
    entry that references a personality routine (EXIDX_CANTUNWIND markers
    carry no relocation to one);
  - a --cpu that contradicts the target's ABI is refused with one
    `kiln: error:` line and no output file.

The allowed lists are written here, apart from targets.c, so a list widened
there by mistake fails here.

    scan_objects.py KILN WORKDIR [--quick]"""
import argparse
import fnmatch
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import models  # noqa: E402

LLVM = "/usr/lib/llvm-19/bin"
MEM = {"memcpy", "memset", "memmove"}
ARM_SOFT = ["__aeabi_fadd", "__aeabi_fsub", "__aeabi_frsub", "__aeabi_fmul", "__aeabi_fdiv", "__aeabi_fcmp*",
            "__aeabi_cfcmp*", "__aeabi_cfrcmple", "__aeabi_f2iz", "__aeabi_f2uiz", "__aeabi_i2f", "__aeabi_ui2f"]
ARM_NODIV = ["__aeabi_idiv", "__aeabi_uidiv", "__aeabi_idivmod", "__aeabi_uidivmod", "__aeabi_lmul", "__aeabi_llsl",
             "__aeabi_llsr", "__aeabi_lasr"]
ARM_I64 = ["__aeabi_ldivmod", "__aeabi_uldivmod", "__aeabi_l2f", "__aeabi_ul2f", "__aeabi_f2lz", "__aeabi_f2ulz"]
RV_SOFT = ["__addsf3", "__subsf3", "__mulsf3", "__divsf3", "__eqsf2", "__nesf2", "__ltsf2", "__lesf2", "__gtsf2",
           "__gesf2", "__unordsf2", "__fixsfsi", "__fixunssfsi", "__floatsisf", "__floatunsisf"]
RV_I64 = ["__divdi3", "__moddi3", "__udivdi3", "__umoddi3", "__floatdisf", "__floatundisf", "__fixsfdi",
          "__fixunssfdi"]

# target, cpus (the first is the default), 32-bit, allowed helpers per cpu
TARGETS = [
    ("x86_64-linux-gnu", [None], False, {}),
    ("aarch64-linux-gnu", [None], False, {}),
    ("riscv64-linux-gnu", [None], False, {}),
    ("armv6m-none-eabi", ["cortex-m0", "cortex-m0plus"], True, {"*": ARM_SOFT + ARM_NODIV}),
    ("armv7m-none-eabi", ["cortex-m3"], True, {"*": ARM_SOFT}),
    ("thumbv7em-none-eabihf", ["cortex-m4", "cortex-m7"], True, {}),
    ("thumbv8m.main-none-eabihf", ["cortex-m33"], True, {}),
    ("thumbv8.1m.main-none-eabihf", ["cortex-m55"], True, {}),
    ("riscv32-unknown-elf", ["rv32imac", "rv32imafc", "rv32imc"], True,
     {"rv32imac": RV_SOFT, "rv32imc": RV_SOFT}),
]
I64 = {"arm": ARM_I64, "riscv32": RV_I64}

# cpu: a --target that must refuse it (its float ABI or instruction set)
CONTRADICTIONS = [
    ("thumbv7em-none-eabihf", "cortex-m0"),   # Thumb-1, no FPU, in a hard-float object
    ("thumbv7em-none-eabihf", "cortex-m3"),   # no FPU for the hard-float ABI
    ("thumbv8m.main-none-eabihf", "cortex-m23"),
    ("armv6m-none-eabi", "cortex-m4"),        # Thumb-2 in an ARMv6-M object
    ("armv7m-none-eabi", "cortex-m4"),
    ("riscv32-unknown-elf", "cortex-m4"),
    ("riscv32-unknown-elf", "generic-rv64"),
]


class Failure(Exception):
    pass


def run(cmd, ok=(0,)):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    if p.returncode not in ok:
        raise Failure(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}{p.stderr}")
    return p


def allowed(name, lists):
    return name in MEM or any(fnmatch.fnmatchcase(name, pat) for lst in lists for pat in lst)


def scan(obj, target, lists):
    """The problems of one object: a list of strings."""
    bad = []
    und = [ln.split()[-1] for ln in run([f"{LLVM}/llvm-nm", "-u", obj]).stdout.splitlines() if ln.strip()]
    extra = sorted(s for s in und if not allowed(s, lists))
    if extra:
        bad.append(f"undefined {extra}")
    sections = run([f"{LLVM}/llvm-readelf", "-S", "-W", obj]).stdout
    for sec in (".eh_frame", ".ARM.extab"):
        if f" {sec}" in sections:
            bad.append(f"has {sec}")
    if ".ARM.exidx" in sections:
        # relocations of .ARM.exidx may name the code (section symbols)
        # but not a personality routine
        rel = run([f"{LLVM}/llvm-readelf", "-r", "-W", obj]).stdout
        cur, names = None, set()
        for ln in rel.splitlines():
            if ln.startswith("Relocation section"):
                cur = ln
            elif cur and ".ARM.exidx" in cur and ln.strip() and ln.split()[0][:1] in "0123456789abcdef" \
                    and len(ln.split()) >= 5:
                names.add(ln.split()[4])
        personal = sorted(n for n in names if "unwind" in n or "personality" in n or n.startswith("__gxx"))
        if personal:
            bad.append(f".ARM.exidx references {personal}")
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kiln")
    ap.add_argument("work")
    ap.add_argument("--quick", action="store_true", help="-O0 and -O3 only")
    a = ap.parse_args()
    work = os.path.join(a.work, "scan")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    sweep, sweep64 = os.path.join(work, "sweep.onnx"), os.path.join(work, "sweep64.onnx")
    models.libcall_sweep(sweep)
    models.libcall_sweep(sweep64, int64=True)
    dscnn, dscnn8 = os.path.join(work, "dscnn.onnx"), os.path.join(work, "dscnn_int8.onnx")
    models.dscnn_float(dscnn, ch=16, blocks=1)  # the same lowerings as the full one, compiled faster
    models.quantize_qdq(dscnn, dscnn8, [models.dscnn_input(s) for s in range(4)])
    digits = os.path.join(SRC, "examples", "digits", "digits.onnx")
    levels = ["-O0", "-O3"] if a.quick else ["-O0", "-O1", "-O2", "-O3"]
    passed = failed = 0

    def check(label, model, target, cpu, level, lists):
        nonlocal passed, failed
        obj = os.path.join(work, "o.o")
        cmd = [a.kiln, "compile", model, "-o", obj, "--target", target, level, "--name", "m"]
        if cpu:
            cmd += ["--cpu", cpu]
        try:
            run(cmd)
            bad = scan(obj, target, lists)
        except Failure as e:
            bad = [str(e)]
        if bad:
            failed += 1
            print(f"FAIL {label} {target} {cpu or ''} {level}: {'; '.join(bad)}", flush=True)
        else:
            passed += 1

    for target, cpus, bits32, helpers in TARGETS:
        arch = "riscv32" if target.startswith("riscv32") else "arm" if bits32 else None
        for i, cpu in enumerate(cpus):
            lists = [helpers.get(cpu, helpers.get("*", []))]
            # the default cpu at every level with every model; other cpus at -O2 with the sweep
            for level in (levels if i == 0 else ["-O2"]):
                n0 = failed
                check("sweep", sweep, target, cpu, level, lists)
                if i == 0:
                    check("sweep64", sweep64, target, cpu, level, lists + ([I64[arch]] if arch else []))
                    if level in ("-O0", "-O3"):
                        for label, m in (("dscnn", dscnn), ("dscnn_int8", dscnn8), ("digits", digits)):
                            check(label, m, target, cpu, level, lists)
                print(f"{'PASS' if failed == n0 else 'FAIL'} {target} {cpu or '(default)'} {level}", flush=True)

    for target, cpu in CONTRADICTIONS:
        out = os.path.join(work, "refused.o")
        if os.path.exists(out):
            os.unlink(out)
        p = run([a.kiln, "compile", sweep, "-o", out, "--target", target, "--cpu", cpu], ok=(0, 1, 2))
        lines = p.stderr.strip().splitlines()
        if p.returncode == 1 and len(lines) == 1 and lines[0].startswith("kiln: error: ") and cpu in lines[0] \
                and not os.path.exists(out) and not os.path.exists(out[:-2] + ".h"):
            passed += 1
            print(f"PASS refused: --target {target} --cpu {cpu}: {lines[0]}", flush=True)
        else:
            failed += 1
            print(f"FAIL --target {target} --cpu {cpu}: exit {p.returncode}, stderr {p.stderr!r}", flush=True)

    # `kiln targets` and `kiln --help targets`: every target with its CPUs, vector width and float ABI
    for cmd in (["targets"], ["--help", "targets"]):
        listing = run([a.kiln, *cmd]).stdout
        rows = {ln.split()[0]: ln for ln in listing.splitlines() if ln and not ln[0].isspace()}
        missing = [t for t, cpus, _, _ in TARGETS
                   if t not in rows or not all(c in rows[t] for c in cpus if c)
                   or not any(w in rows[t] for w in ("scalar", "-bit"))
                   or not any(w in rows[t] for w in ("hard", "soft", "lp64d", "per CPU"))]
        if missing:
            failed += 1
            print(f"FAIL kiln {' '.join(cmd)}: no complete row for {missing}", flush=True)
        else:
            passed += 1
            print(f"PASS kiln {' '.join(cmd)} lists every target", flush=True)

    print(f"\n{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
