#!/usr/bin/env python3
"""kiln bisect against known faults.  KILN_FAULT=NODE@WHERE (a test-only
switch read in codegen/cg_lower.c) perturbs one node's result in one of the
two builds; bisect must name exactly that node, exit 1, and its --emit-kir
file must reproduce the divergence with kiln alone (and agree without the
fault).  Without a fault the builds must agree (exit 0).

    test_bisect.py KILN WORKDIR --against O0|aarch64-linux-gnu|riscv64-linux-gnu [--models a,b]
    test_bisect.py KILN WORKDIR --against float

--against O0 and TARGET: zoo models (tests/e2e/zoo.py), faults in three
nodes spread over each (the first, middle and last the optimized build
computes).  --against float: a small CNN whose third layer multiplies by a
mask with one element of 40 (a sparse outlier, so per-tensor u8 steps are
coarse there); bisect must name that layer first and put the worst SQNR at
or after it, and so must the QDQ model kiln quantize writes (its integer
build against its float form)."""
import argparse
import os
import re
import subprocess
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kilntest as kt

warnings.filterwarnings("ignore")

ROW = re.compile(r"^\s*(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)(.*)$")
FIRST = re.compile(r"^first past tolerance: node '([^']*)'", re.M)
WORST = re.compile(r"^worst SQNR: node '([^']*)'", re.M)


def bisect(kiln, model, inputs, against, fault=None, extra=()):
    env = dict(os.environ)
    env.pop("KILN_FAULT", None)
    if fault:
        env["KILN_FAULT"] = fault
    cmd = [kiln, "bisect", model, "--input", *inputs, "--against", against, *extra]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if p.returncode not in (0, 1):
        raise kt.Failure(f"kiln bisect failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}{p.stderr}")
    return p.returncode, p.stdout


def rows(text):
    """The compared rows: (index, node the build computes it with, SQNR)."""
    out = []
    for line in text.splitlines():
        m = ROW.match(line)
        if not m or m.group(4) == "-" or m.group(1) == "#":
            continue
        by = re.search(r"computed by '([^']*)'", m.group(7))
        out.append((int(m.group(1)), by.group(1) if by else m.group(2), float(m.group(6))))
    return out


def first_named(text):
    m = FIRST.search(text)
    return m.group(1) if m else None


def fault_cases(kiln, workdir, name, path, x_path, against):
    where = "opt" if against == "O0" else against.split("-")[0]
    results = []
    rc, text = bisect(kiln, path, [x_path], against)
    results.append((f"{name} vs {against}: no fault", rc == 0 and first_named(text) is None,
                    "" if rc == 0 else "\n" + text))
    comp = [r for r in rows(text) if r[1]]
    if not comp:
        return results + [(f"{name} vs {against}", False, "no compared rows in\n" + text)]
    picks = []
    for r in (comp[0], comp[len(comp) // 2], comp[-1]):
        if r[1] not in picks:
            picks.append(r[1])
    for i, node in enumerate(picks):
        kir = os.path.join(workdir, f"{name}-{against}-{i}.kir")
        rc, text = bisect(kiln, path, [x_path], against, f"{node}@{where}", ["--emit-kir", kir])
        got = first_named(text)
        ok = rc == 1 and got == node
        detail = f"named {got!r}" + ("" if ok else "\n" + text)
        if ok and i == 0:
            # The neighbourhood alone reproduces it, and agrees without the fault.
            m = re.search(r"reproduce with: kiln bisect (.*)$", text, re.M)
            args = m.group(1).split() if m else []
            ins = [args[k + 1] for k in range(len(args)) if args[k] == "--input"]
            rc1, t1 = bisect(kiln, kir, ins, against, f"{node}@{where}")
            rc0, t0 = bisect(kiln, kir, ins, against)
            ok = rc1 == 1 and first_named(t1) == node and rc0 == 0
            detail += f"; {os.path.basename(kir)}: " + ("reproduces" if ok else f"did not reproduce\n{t1}\n{t0}")
        results.append((f"{name} vs {against}: fault in {node}", ok, detail))
    if against == "O0":
        # Every blockable value blocked: tapped values get relayouts to rows,
        # and the node named is still the one that computes the value.
        node = picks[len(picks) // 2]
        rc, text = bisect(kiln, path, [x_path], against, f"{node}@{where}", ["--layout", "blocks"])
        got = first_named(text)
        ok = rc == 1 and got == node
        results.append((f"{name} vs {against} --layout blocks: fault in {node}", ok,
                        f"named {got!r}" + ("" if ok else "\n" + text)))
    return results


def zoo_main(a):
    import zoo
    results = []
    for name in a.models.split(","):
        d = os.path.join(a.workdir, name)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, name + ".onnx")
        try:
            x, _ = zoo.export(name, path)
            x_path = os.path.join(d, "x.npy")
            np.save(x_path, x)
            results += fault_cases(a.kiln, d, name, path, x_path, a.against)
        except kt.Failure as e:
            results.append((f"{name} vs {a.against}", False, str(e)))
    return kt.report(results)


def spike_model(path):
    """conv_a -> relu_a -> spike (x * mask, one mask element 40) -> conv_b ->
    relu_b -> global average pool -> flatten -> fc."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    r = np.random.default_rng(7)
    mask = np.ones((1, 8, 12, 12), np.float32)
    mask[0, 3, 5, 6] = 40.0
    inits = [numpy_helper.from_array((r.standard_normal(s) * k).astype(np.float32), n) for n, s, k in [
        ("wa", (8, 4, 3, 3), 0.3), ("ba", (8,), 0.1), ("wb", (8, 8, 1, 1), 0.4), ("bb", (8,), 0.1),
        ("wf", (5, 8), 0.5), ("bf", (5,), 0.1)]] + [numpy_helper.from_array(mask, "mask")]
    nodes = [
        helper.make_node("Conv", ["x", "wa", "ba"], ["a"], name="conv_a", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["ar"], name="relu_a"),
        helper.make_node("Mul", ["ar", "mask"], ["s"], name="spike"),
        helper.make_node("Conv", ["s", "wb", "bb"], ["b"], name="conv_b"),
        helper.make_node("Relu", ["b"], ["br"], name="relu_b"),
        helper.make_node("GlobalAveragePool", ["br"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], name="fc", transB=1),
    ]
    g = helper.make_graph(nodes, "spike", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 12, 12])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    onnx.save(m, path)


def float_main(a):
    d = os.path.join(a.workdir, "spike")
    calib = os.path.join(d, "calib")
    os.makedirs(calib, exist_ok=True)
    path = os.path.join(d, "spike.onnx")
    spike_model(path)
    r = np.random.default_rng(11)
    for i in range(8):
        np.save(os.path.join(calib, f"x{i}.npy"), r.standard_normal((1, 4, 12, 12)).astype(np.float32))
    x_path = os.path.join(d, "x.npy")
    np.save(x_path, r.standard_normal((1, 4, 12, 12)).astype(np.float32))
    results = []
    try:
        kir = os.path.join(d, "spike.kir")
        rc, text = bisect(a.kiln, path, [x_path], "float",
                          extra=["--quantize", "int8", "--calib", calib, "--calib-method", "minmax", "--tolerance", "25",
                                 "--emit-kir", kir])
        order = ["conv_a", "relu_a", "spike", "conv_b", "relu_b", "pool", "flatten", "fc"]
        sq = {}
        for line in text.splitlines():
            m = ROW.match(line)
            if m and m.group(4) != "-" and m.group(1) != "#":
                sq[m.group(2)] = float(m.group(6))
        first = first_named(text)
        worst = WORST.search(text)
        worst = worst.group(1) if worst else None
        before = [sq[n] for n in ("conv_a", "relu_a") if n in sq]
        ok = (rc == 1 and first == "spike" and worst in order[order.index("spike"):] and before
              and min(before) > sq.get("spike", 99) + 10)
        results.append(("spike: int8 vs float", ok, f"first {first!r}, worst {worst!r}, SQNR {sq}" + ("" if ok else "\n" + text)))
        # The neighbourhood (QDQ form, quantized with the model's scales) alone.
        m = re.search(r"reproduce with: kiln bisect (.*)$", text, re.M)
        args = m.group(1).split() if m else []
        ins = [args[k + 1] for k in range(len(args)) if args[k] == "--input"]
        rc1, t1 = bisect(a.kiln, kir, ins, "float", extra=["--tolerance", "25"]) if ins else (None, text)
        results.append(("spike.kir reproduces", rc1 == 1 and first_named(t1) == "spike", "" if rc1 == 1 else "\n" + t1))
        # Without the outlier layer's effect: a loose floor passes.
        rc, text = bisect(a.kiln, path, [x_path], "float",
                          extra=["--quantize", "int8", "--calib", calib, "--calib-method", "minmax", "--tolerance", "0"])
        results.append(("spike: int8 vs float, floor 0 dB", rc == 0, "" if rc == 0 else "\n" + text))
        # The same decisions as a QDQ model (kiln quantize): its integer
        # build against its float form names the same layer.
        q = os.path.join(d, "spike_q.onnx")
        kt.run([a.kiln, "quantize", path, "--calib", calib, "--calib-method", "minmax", "-o", q])
        rc, text = bisect(a.kiln, q, [x_path], "float", extra=["--tolerance", "25"])
        first = first_named(text)
        results.append(("spike_q (QDQ): integer vs float form", rc == 1 and first == "spike",
                        f"first {first!r}" + ("" if rc == 1 and first == "spike" else "\n" + text)))
        # Bad use: one `kiln: error:` line, exit 2 (not 1, which means the builds parted).
        for what, args in [("no --against", [path, "--input", x_path]),
                           ("two inputs for one", [path, "--input", x_path, x_path, "--against", "O0"]),
                           ("float without quantization", [path, "--input", x_path, "--against", "float"]),
                           ("unknown target", [path, "--input", x_path, "--against", "vax-dec-vms"])]:
            p = subprocess.run([a.kiln, "bisect", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            lines = p.stderr.strip().splitlines()
            ok = p.returncode == 2 and len(lines) == 1 and lines[0].startswith("kiln: error: ")
            results.append((f"bisect error: {what}", ok, f"exit {p.returncode}: {p.stderr.strip()}"))
    except kt.Failure as e:
        results.append(("spike: int8 vs float", False, str(e)))
    return kt.report(results)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kiln")
    ap.add_argument("workdir")
    ap.add_argument("--against", default="O0")
    ap.add_argument("--models", default="kws_dscnn,autoencoder,unet")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    sys.exit(float_main(a) if a.against == "float" else zoo_main(a))


if __name__ == "__main__":
    main()
