#!/usr/bin/env python3
"""Post-training quantization (kiln compile --quantize int8, kiln quantize) on
trained models with real data: the digits CNN and a depthwise-separable CNN
(tests/e2e/ptq_models.py), calibrated on training images, measured on the
held-out ones.

  - digits: int8 top-1 accuracy within 0.3 points of float on the held-out
    set, weights <= 0.27x of the float object's; the report's accuracies are
    what the compiled object and onnxruntime's float run give;
  - kiln quantize writes a QDQ model that onnxruntime runs to within one
    quantum of kiln's int8 object, and compiling it gives the same object;
  - every --calib-method clips inside the min/max range, and some clip;
  - --max-accuracy-drop holds on the held-out set, the same choice twice;
  - without --eval the report says the measure is not independent;
  - bad calibration data: one `kiln: error:` line and no output.

    test_ptq.py KILN WORKDIR"""
import argparse
import shutil
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kilntest as kt  # noqa: E402
import ptq_models as pm  # noqa: E402


def kiln(K, *args, ok=True):
    p = subprocess.run([K, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if ok and p.returncode != 0:
        raise kt.Failure(f"kiln {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    return p


def run_object(argv, d, xs):
    """The compiled classifier's outputs for each example of xs."""
    return np.stack([kt.run_harness(argv, d, [x[None]], [(np.float32, (1, 10))])[0][0] for x in xs])


def load(path):
    with open(path) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kiln")
    ap.add_argument("work")
    a = ap.parse_args()
    K, W = os.path.abspath(a.kiln), os.path.abspath(a.work)
    os.makedirs(W, exist_ok=True)
    cal, ev, xte, yte = pm.write_data(W)
    q = ["--quantize", "int8", "--calib", cal]
    results = []

    def case(name, fn):
        try:
            detail = fn()
            results.append((name, True, detail or ""))
        except (kt.Failure, AssertionError) as e:
            results.append((name, False, str(e)))

    # ---- digits: accuracy, weights, the report against the object ----
    dq = os.path.join(W, "digits-q")
    os.makedirs(dq, exist_ok=True)
    state = {}

    def digits():
        frep, qrep = os.path.join(dq, "float.json"), os.path.join(dq, "int8.json")
        kiln(K, "compile", pm.DIGITS, "-o", os.path.join(dq, "float.o"), "--report", frep)
        argv = kt.compile_model(K, pm.DIGITS, dq, "digits_q", extra=q + ["--eval", ev, "--report", qrep])
        state["argv"] = argv
        f, r = load(frep), load(qrep)
        p = r["ptq"]
        ratio = r["weights_bytes"] / f["weights_bytes"]
        lw = p["totals"]["layer_weight_bytes"] / p["totals"]["layer_weight_bytes_float"]
        assert p["independent"] and p["evaluation_examples"] == len(yte), p
        assert p["accuracy_drop"] <= 0.3, f"int8 top-1 drop {p['accuracy_drop']:.2f} points > 0.3"
        assert ratio <= 0.27, f"weights {ratio:.3f}x of float > 0.27x"
        assert lw <= 0.25 + 1e-9, f"layer weights {lw:.3f}x of float"
        assert r["quantization"]["integer_nodes"] >= 5 and not r["quantization"]["float_nodes"], r["quantization"]
        # The report's figures are the object's and the float model's.
        out = run_object(argv, dq, xte)
        state["out"] = out
        acc_q = 100.0 * (out.argmax(1) == yte).mean()
        ref = np.concatenate([kt.ort_run(pm.DIGITS, [x[None]])[0] for x in xte])
        acc_f = 100.0 * (ref.argmax(1) == yte).mean()
        assert abs(acc_q - p["top1_accuracy_quantized"]) < 1e-3, (acc_q, p["top1_accuracy_quantized"])
        assert abs(acc_f - p["top1_accuracy_float"]) < 1e-3, (acc_f, p["top1_accuracy_float"])
        return (f"method {p['method']}: float {acc_f:.2f}%, int8 {acc_q:.2f}% (drop {p['accuracy_drop']:.2f}), "
                f"agreement {p['top1_agreement']:.2f}%, logits SQNR {p['outputs'][0]['sqnr_db']:.1f} dB, "
                f"weights {ratio:.3f}x (conv/gemm weights {lw:.3f}x)")

    case("digits.accuracy", digits)

    def quantize():
        qm = os.path.join(dq, "digits_q.onnx")
        kiln(K, "quantize", pm.DIGITS, "-o", qm, "--calib", cal, "--eval", ev)
        import onnx
        onnx.checker.check_model(onnx.load(qm))
        ort = np.concatenate([kt.ort_run(qm, [x[None]])[0] for x in xte])
        out = state["out"]
        step = max(l["scale"] for l in load(os.path.join(dq, "int8.json"))["ptq"]["layers"] if l["op"] == "gemm")
        diff = np.abs(ort - out) / step
        assert diff.max() <= 1 + 1e-3, f"onnxruntime and kiln differ by {diff.max():.2f} quanta"
        agree = (ort.argmax(1) == out.argmax(1)).mean()
        # Compiling the QDQ model gives the object --quantize gave.
        d2 = os.path.join(W, "digits-qdq")
        os.makedirs(d2, exist_ok=True)
        kt.compile_model(K, qm, d2, "digits_q")
        same = open(os.path.join(d2, "digits_q.o"), "rb").read() == open(os.path.join(dq, "digits_q.o"), "rb").read()
        assert same, "compiling the QDQ model gives another object than --quantize"
        return f"onnxruntime within {diff.max():.2f} quanta, top-1 agreement {100 * agree:.2f}%; same object bytes"

    case("digits.quantize_onnx", quantize)

    def aarch64():
        # i8 activations for Arm; calibration and evaluation ran on the
        # host, and the object under qemu gives the accuracy they reported.
        if not shutil.which("qemu-aarch64") or not shutil.which("aarch64-linux-gnu-gcc"):
            return "skipped: no qemu-aarch64 or aarch64-linux-gnu-gcc"
        d = os.path.join(W, "digits-aarch64")
        os.makedirs(d, exist_ok=True)
        rep = os.path.join(d, "r.json")
        argv = kt.compile_model(K, pm.DIGITS, d, "digits_q", target="aarch64-linux-gnu",
                                extra=q + ["--eval", ev, "--report", rep])
        p = load(rep)["ptq"]
        assert p["activations"].startswith("i8"), p["activations"]
        out = run_object(argv, d, xte)
        acc = 100.0 * (out.argmax(1) == yte).mean()
        assert abs(acc - p["top1_accuracy_quantized"]) < 1e-3, (acc, p["top1_accuracy_quantized"])
        return f"i8 activations, {acc:.2f}% under qemu-aarch64 as reported"

    case("digits.aarch64", aarch64)

    def op_roles():
        # Every role of the pass in one small graph (random weights: this
        # checks structure, not accuracy): a residual add, a concat, a
        # sigmoid table, a global average pool, a matmul, a softmax output.
        import onnx
        from onnx import TensorProto as TP, helper as oh, numpy_helper as nh
        rng = np.random.default_rng(3)
        inits = [nh.from_array((rng.standard_normal(s) * 0.3).astype(np.float32), n) for n, s in
                 (("w1", (8, 1, 3, 3)), ("w2", (8, 8, 3, 3)), ("b2", (8,)), ("wm", (16, 10)))]
        nodes = [oh.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
                 oh.make_node("Relu", ["c1"], ["r1"]),
                 oh.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
                 oh.make_node("Add", ["c2", "r1"], ["a"]),
                 oh.make_node("Sigmoid", ["r1"], ["s"]),
                 oh.make_node("Concat", ["a", "s"], ["cat"], axis=1),
                 oh.make_node("GlobalAveragePool", ["cat"], ["gap"]),
                 oh.make_node("Flatten", ["gap"], ["flat"]),
                 oh.make_node("MatMul", ["flat", "wm"], ["mm"]),
                 oh.make_node("Softmax", ["mm"], ["y"], axis=-1)]
        g = oh.make_graph(nodes, "roles", [oh.make_tensor_value_info("x", TP.FLOAT, [1, 1, 6, 6])],
                          [oh.make_tensor_value_info("y", TP.FLOAT, [1, 10])], inits)
        d = os.path.join(W, "roles")
        os.makedirs(os.path.join(d, "calib"), exist_ok=True)
        m = os.path.join(d, "roles.onnx")
        onnx.save(oh.make_model(g, opset_imports=[oh.make_opsetid("", 13)]), m)
        np.save(os.path.join(d, "calib", "x.npy"), rng.standard_normal((64, 1, 6, 6)).astype(np.float32))
        rep = os.path.join(d, "r.json")
        kiln(K, "compile", m, "-o", os.path.join(d, "roles.o"), "--quantize", "int8", "--calib",
             os.path.join(d, "calib"), "--report", rep, "--name", "roles")
        r = load(rep)
        qz = r["quantization"]
        assert not qz["float_nodes"], qz["float_nodes"]
        ops = {n["op"] for n in r["nodes"]}
        for op in ("conv", "add", "lut", "concat", "global_avgpool", "matmul", "softmax"):
            assert op in ops, f"no {op} in the compiled graph: {sorted(ops)}"
        sq = r["ptq"]["outputs"][0]["sqnr_db"]
        assert sq > 20, f"softmax output SQNR {sq:.1f} dB"
        qm = os.path.join(d, "roles_q.onnx")
        kiln(K, "quantize", m, "-o", qm, "--calib", os.path.join(d, "calib"))
        onnx.checker.check_model(onnx.load(qm))
        kt.ort_run(qm, [np.zeros((1, 1, 6, 6), np.float32)])
        kiln(K, "compile", qm, "-o", os.path.join(d, "from_qdq.o"), "--name", "roles")
        same = open(os.path.join(d, "from_qdq.o"), "rb").read() == open(os.path.join(d, "roles.o"), "rb").read()
        assert same, "compiling the QDQ model gives another object"
        return f"{qz['integer_nodes']} integer nodes, none in float; softmax SQNR {sq:.1f} dB; same object from the QDQ model"

    case("roles", op_roles)

    # ---- the depthwise-separable CNN: methods, budget ----
    ds = pm.dscnn(W)
    dd = os.path.join(W, "dscnn")
    os.makedirs(dd, exist_ok=True)

    def methods():
        first = {}
        for m in ("minmax", "percentile", "mse", "entropy"):
            rep = os.path.join(dd, f"{m}.json")
            kiln(K, "compile", ds, "-o", os.path.join(dd, f"{m}.o"), *q, "--eval", ev, "--calib-method", m,
                 "--report", rep)
            p = load(rep)["ptq"]
            assert p["method"] == m, p["method"]
            first[m] = ({l["node"]: l["scale"] for l in p["layers"] if "scale" in l}, p)
        mm = first["minmax"][0]
        clipped = []
        for m in ("percentile", "mse", "entropy"):
            s = first[m][0]
            assert s.keys() == mm.keys(), (m, s.keys())
            wider = [k for k in s if s[k] > mm[k] * (1 + 1e-6)]
            assert not wider, f"{m} widens the min/max range of {wider}"
            clipped.append(f"{m} {sum(s[k] < mm[k] * (1 - 1e-6) for k in s)}/{len(s)} clipped")
            assert any(s[k] < mm[k] * (1 - 1e-6) for k in s), f"{m} clips nothing"
        drops = ", ".join(f"{m} {first[m][1]['accuracy_drop']:.2f}" for m in first)
        return "drops " + drops + "; " + ", ".join(clipped)

    case("dscnn.methods", methods)

    def ds_quantize():
        # A model with Constant nodes and an omitted optional input (Resize).
        qm = os.path.join(dd, "dscnn_q.onnx")
        kiln(K, "quantize", ds, "-o", qm, *q[2:], "--calib-method", "mse", "--eval", ev)
        import onnx
        onnx.checker.check_model(onnx.load(qm))
        ort = np.concatenate([kt.ort_run(qm, [x[None]])[0] for x in xte])
        acc = 100.0 * (ort.argmax(1) == yte).mean()
        kiln(K, "compile", qm, "-o", os.path.join(dd, "from_qdq.o"), "--name", "dscnn")
        obj = open(os.path.join(dd, "from_qdq.o"), "rb").read()
        kiln(K, "compile", ds, "-o", os.path.join(dd, "mse_named.o"), *q, "--eval", ev, "--calib-method", "mse",
             "--name", "dscnn")
        assert obj == open(os.path.join(dd, "mse_named.o"), "rb").read(), "another object than --quantize's"
        return f"onnxruntime top-1 {acc:.2f}% on the QDQ model; same object bytes"

    case("dscnn.quantize_onnx", ds_quantize)

    def budget():
        got = []
        for run in range(2):
            rep = os.path.join(dd, f"budget{run}.json")
            kiln(K, "compile", ds, "-o", os.path.join(dd, f"budget{run}.o"), *q, "--eval", ev,
                 "--calib-method", "entropy", "--max-accuracy-drop", "0", "--report", rep, "--name", "dscnn")
            p = load(rep)["ptq"]
            assert p["accuracy_drop"] <= 0, f"drop {p['accuracy_drop']} > 0 on the held-out set"
            got.append((p["float_nodes"], open(os.path.join(dd, f"budget{run}.o"), "rb").read()))
        assert got[0] == got[1], "two runs chose differently"
        e = load(os.path.join(dd, "entropy.json"))["ptq"]
        assert e["accuracy_drop"] > 0, "the budget test needs a case that starts outside it"
        return f"entropy drop {e['accuracy_drop']:.2f} -> {p['accuracy_drop']:.2f} with {p['float_nodes']} in float"

    case("dscnn.max_accuracy_drop", budget)

    def no_eval():
        rep = os.path.join(dd, "noeval.json")
        r = kiln(K, "compile", ds, "-o", os.path.join(dd, "noeval.o"), *q, "--calib-method", "minmax", "--report", rep)
        p = load(rep)["ptq"]
        assert not p["independent"] and "not an independent" in p["note"], p
        assert "not an independent measure" in r.stderr, r.stderr
        return f"calibration-set agreement {p['top1_agreement']:.2f}%"

    case("dscnn.no_eval", no_eval)

    # ---- errors ----
    def errors():
        bad = os.path.join(W, "bad-calib")
        os.makedirs(bad, exist_ok=True)
        np.save(os.path.join(bad, "x.npy"), np.zeros((3, 5), np.float32))
        out = os.path.join(W, "err.o")
        cases = [
            (["compile", pm.DIGITS, "-o", out, "--quantize", "int8"], "--calib DIR"),
            (["compile", pm.DIGITS, "-o", out, *q, "--calib-method", "best"], "--calib-method 'best'"),
            (["compile", pm.DIGITS, "-o", out, "--quantize", "int8", "--calib", bad], "input 'image' is f32[1,1,8,8]"),
            (["compile", pm.DIGITS, "-o", out, "--calib", cal], "go with --quantize int8"),
            (["quantize", pm.DIGITS, "-o", os.path.join(W, "err.onnx"), "--calib", os.path.join(W, "nowhere")],
             "cannot open"),
        ]
        for args, want in cases:
            if os.path.exists(out):
                os.remove(out)
            r = kiln(K, *args, ok=False)
            lines = r.stderr.strip().splitlines()
            assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith("kiln: error:") and want in lines[0], \
                f"kiln {' '.join(args)}: {r.returncode} {r.stderr!r}"
            assert not os.path.exists(out) and not os.path.exists(os.path.join(W, "err.onnx")), "an output was written"
        return f"{len(cases)} cases"

    case("errors", errors)
    return kt.report(results)


if __name__ == "__main__":
    sys.exit(main())
