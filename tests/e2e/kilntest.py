"""Shared helpers for kiln's end-to-end tests: compile a model with kiln,
link it with harness.c through the generated header, run it (natively or
under qemu-user), and compare with a reference."""
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))

TARGETS = {
    # name: (cc, qemu prefix)
    "host": (["cc"], []),
    "x86_64-linux-gnu": (["cc"], []),  # generic x86-64: SSE2 only
    "x86_64-linux-gnu+avx2": (["cc"], []),  # --cpu haswell: AVX2 + FMA, 16 registers of 8 floats
    "aarch64-linux-gnu": (["aarch64-linux-gnu-gcc", "-static"], ["qemu-aarch64"]),
    "riscv64-linux-gnu": (["riscv64-linux-gnu-gcc", "-static"], ["qemu-riscv64"]),
    # rv64gcv: kiln's object with the vector extension (128-bit vectors,
    # auto-vectorized by LLVM), run on qemu's RVV 1.0 cpu.
    "riscv64-linux-gnu+v": (["riscv64-linux-gnu-gcc", "-static"], ["qemu-riscv64", "-cpu", "rv64,v=true,vlen=128"]),
}
# Test targets that are a kiln target plus options.
KILN_TARGET_ARGS = {
    "x86_64-linux-gnu+avx2": ["--target", "x86_64-linux-gnu", "--cpu", "haswell"],
    "riscv64-linux-gnu+v": ["--target", "riscv64-linux-gnu", "--features", "+v"],
}


class Failure(Exception):
    pass


def run(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if p.returncode != 0:
        raise Failure(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}{p.stderr}")
    return p


def check_unsupported(kiln, model_path, target="host"):
    """`kiln check`'s complaints about a model, or "" if it is all supported:
    a first line counting the unsupported ops by type, then kiln's own lines."""
    cmd = [kiln, "check", model_path] + (["--target", target] if target != "host" else [])
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode == 0:
        return ""
    text = (p.stdout + p.stderr).strip()
    ops = {}
    for op in re.findall(r"\((\w+)\): unsupported op$", text, re.M):
        ops[op] = ops.get(op, 0) + 1
    head = ", ".join(f"{op} x{n}" for op, n in ops.items()) or "none"
    return f"unsupported ops: {head}\n{text or f'kiln check exited {p.returncode}'}"


def compile_model(kiln, model_path, workdir, name, target="host", extra=()):
    """kiln compile + link the harness; returns the executable's argv prefix."""
    obj = os.path.join(workdir, name + ".o")
    cmd = [kiln, "compile", model_path, "-o", obj]
    if target != "host":
        cmd += KILN_TARGET_ARGS.get(target, ["--target", target])
    run(cmd + list(extra))
    hdr = os.path.join(workdir, name + ".h")
    if not os.path.exists(hdr):
        raise Failure(f"kiln compile did not write {hdr}")
    # The object needs nothing but memcpy/memset/memmove: no libm, no libc.
    undefined = set(run(["nm", "-u", obj]).stdout.split()) - {"U", "memcpy", "memset", "memmove"}
    if undefined:
        raise Failure(f"{obj} needs symbols besides memcpy/memset: {sorted(undefined)}")
    cc, qemu = TARGETS[target]
    exe = os.path.join(workdir, name + ".exe")
    run(cc + ["-O1", "-std=c11", "-D_ISOC11_SOURCE", f"-DMODEL={name}",
              "-I", os.path.join(SRC, "runtime"), "-include", "kiln.h", "-include", hdr,
              os.path.join(HERE, "harness.c"), os.path.join(SRC, "runtime", "kiln_pthread.c"), obj, "-o", exe,
              "-pthread"])
    return qemu + [exe]


def run_harness(argv, workdir, inputs, out_specs):
    for i, x in enumerate(inputs):
        np.ascontiguousarray(x).tofile(os.path.join(workdir, f"input_{i}.bin"))
    run(argv + [workdir])
    outs = []
    for i, (dtype, shape) in enumerate(out_specs):
        outs.append(np.fromfile(os.path.join(workdir, f"output_{i}.bin"), dtype=dtype).reshape(shape))
    return outs


def rel_err(got, ref):
    """Largest absolute difference relative to the reference's largest finite
    magnitude.  NaN must meet NaN and an infinity the same infinity."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        return float("inf")
    if got.size == 0:
        return 0.0
    if (np.isnan(got) != np.isnan(ref)).any():
        return float("inf")
    differ = ~np.isnan(ref) & (got != ref)
    if not differ.any():
        return 0.0
    if (np.isinf(ref[differ]) | np.isinf(got[differ])).any():
        return float("inf")
    finite = np.isfinite(ref)
    scale = max(np.abs(ref[finite]).max() if finite.any() else 0.0, 1e-6)
    return float(np.abs(got[differ] - ref[differ]).max() / scale)


def ort_run(model_path, inputs):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    feed = {i.name: x for i, x in zip(s.get_inputs(), inputs)}
    return s.run(None, feed)


def roundtrip(kiln, path, d):
    """The IR as imported and as optimized prints, parses and prints again
    to the same bytes.  Both are left in d (imported.kir, optimized.kir)."""
    for passes, kir in ((["--passes=none"], "imported.kir"), ([], "optimized.kir")):
        first = run([kiln, "dump"] + passes + [path]).stdout
        kir = os.path.join(d, kir)
        with open(kir, "w") as f:
            f.write(first)
        again = run([kiln, "dump", "--passes=none", kir]).stdout
        if first != again or not first:
            return False
    return True


def report(results):
    """results: list of (name, ok, detail). Prints a table, returns exit code."""
    bad = 0
    for name, ok, detail in results:
        print(f"{'PASS' if ok else 'FAIL'} {name} {detail}")
        bad += not ok
    print(f"{len(results) - bad}/{len(results)} passed")
    return 1 if bad else 0


def within_quanta(got, ref, unit=1.0):
    """'' when got is within one quantum of ref on >= 99.9% of elements and
    never more than two, else why not."""
    d = np.abs(got.astype(np.float64) - ref.astype(np.float64)) / unit
    bad1, worst = float((d > 1 + 1e-3).mean()), float(d.max()) if d.size else 0.0
    if bad1 > 0.001 or worst > 2 + 1e-3:
        return f"{bad1:.2%} off by more than one quantum, worst {worst:.2f}"
    return ""


def ir_ops_in(text):
    """The IR op names a .kir text uses."""
    return set(re.findall(r"= ([a-z_0-9]+)\(", text))


def registry_ops(src):
    """Every op of ir/ops.def by its text name (read as the docs generator
    reads it, tests/ir/ops_doc.py)."""
    sys.path.insert(0, os.path.join(src, "tests", "ir"))
    import ops_doc
    return [ops_doc.unquote(row[1]) for row in ops_doc.registry_rows(src)]
