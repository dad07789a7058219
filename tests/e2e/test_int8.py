#!/usr/bin/env python3
"""The int8 tier (issue 12's "done when"): each model of int8_models.py,
quantized by onnxruntime.quantization, through kiln, checked four ways.

- numerics: the compiled object (linked with harness.c) on a few real or
  realistic inputs, and `kiln run` on the first (the same bytes), against
  the oracle: the ONNX reference evaluator with every quantized op
  computed in float64 (int8_reference.py, which says why; for
  DynamicQuantizeLSTM, which the evaluator lacks, its f32 arithmetic with
  exact integer products, as onnxruntime computes it but without its AVX2
  kernel's saturation), or onnxruntime with every graph optimization off
  for a model with another op int8_reference lacks.  Outputs are compared in quanta of the final
  scale (the last DequantizeLinear's, or for quantize_dynamic's float
  output the scale of the last integer product, activation scale x weight
  scale, read from the oracle): within one quantum on >= 99.9% of the
  elements and never more than two apart.  Outputs of a DequantizeLinear (and data
  movement after it) must also be whole quanta, so nothing float comes
  after it.
- weights: the report's weights_bytes of the int8 object <= 0.27x the
  float model's (the same float export, compiled by the same kiln), and
  the object's read-only data (every .rodata* section, `size -A`) <= 0.30x.
- float nodes: `kiln compile --report`'s "quantization" object counts the
  integer nodes and names every node left in float, and `kiln check` (exit
  0) prints the same nodes as notes, `kiln: note: FILE: node 'NAME' (OP)
  runs in float: WHY`.  Each named node exists in the model with that op;
  none is a quantized op (QLinearConv, QGemm, MatMulInteger, ...), nor an
  op the issue promises in integer (Conv, Gemm, MatMul, Add, Mul, Concat,
  pools, Reshape/Transpose/Flatten, Sigmoid/Tanh/HardSwish/Softmax, and a
  Relu/Clip folded into one of them) standing between DequantizeLinear and
  QuantizeLinear; there are at least as many integer nodes as quantized
  convolutions and matrix products.
- accuracy (the models trained on digits): the compiled object, linked
  with the C harness, classifies the held-out digits no more than two
  points worse than the float model in PyTorch.

    test_int8.py KILN WORKDIR [--models a,b,...] [--cache DIR]"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import int8_models
import int8_reference
import kilntest as kt

warnings.filterwarnings("ignore")

# Issue 12's bounds, as written: the object's weight bytes <= 0.27x the
# float model's, .rodata <= 0.30x (stated there for the DS-CNN; here for
# all).  Tight for the DS-CNN: its int8 weights and int32 biases alone are
# 0.2696x its float weights and biases, so any per-channel requantization
# constant counted among the weights puts it over 0.27.
WEIGHTS_RATIO = 0.27
RODATA_RATIO = 0.30
# ONNX ops that are quantized by construction: never in float.  (Quantize-
# and DequantizeLinear are the edges of the integer path: one left where a
# float reader needs it is no fault.)
QUANTIZED_OPS = {"QLinearConv", "QLinearMatMul", "MatMulInteger",
                 "ConvInteger", "DynamicQuantizeLinear", "QLinearAdd", "QLinearMul", "QLinearConcat",
                 "QLinearGlobalAveragePool", "QLinearAveragePool", "QLinearLeakyRelu", "QLinearSigmoid",
                 "QLinearSoftmax", "QGemm", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "DynamicQuantizeLSTM"}
# Ops the rewrite turns into integer ops when they stand between
# DequantizeLinear and QuantizeLinear.
QDQ_OPS = {"Conv", "Gemm", "MatMul", "Add", "Mul", "Concat", "MaxPool", "AveragePool", "GlobalAveragePool",
           "GlobalMaxPool", "Reshape", "Transpose", "Flatten", "Sigmoid", "Tanh", "HardSwish", "Softmax"}
FOLDED_ACTS = {"Relu", "Clip"}  # into the saturation bounds of the op before them
PRODUCTS = {"Conv", "Gemm", "MatMul", "QLinearConv", "QLinearMatMul", "QGemm", "MatMulInteger", "ConvInteger"}
MOVES = {"Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Identity"}  # keep values as they are
NOTE = re.compile(r"^kiln: note: (?P<file>.+): node '(?P<node>.*)' \((?P<op>\w+)\) runs in float: (?P<why>.+)$")


# ---------------------------------------------------------------- the model

class Graph:
    """Producers and consumers of the quantized ONNX graph's values."""

    def __init__(self, model):
        self.model = model
        g = model.graph
        self.nodes = list(g.node)
        self.inits = {t.name for t in g.initializer}
        self.outputs = [o.name for o in g.output]
        self.producer = {o: n for n in g.node for o in n.output}
        self.consumers = {}
        for n in g.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)

    def output_dtype(self):
        """The numpy dtype of graph output 0 (the oracle may compute wider)."""
        from onnx import helper
        return helper.tensor_dtype_to_np_dtype(self.model.graph.output[0].type.tensor_type.elem_type)

    def made_by(self, v, ops):
        n = self.producer.get(v)
        return n is not None and n.op_type in ops

    def ends_in_q(self, v):
        """Every reader of v is a QuantizeLinear, or a Relu/Clip whose
        readers are (the activation folds into the requantization)."""
        readers = self.consumers.get(v, [])
        if not readers or v in self.outputs:
            return False
        return all(r.op_type == "QuantizeLinear" or (r.op_type in FOLDED_ACTS and self.ends_in_q(r.output[0]))
                   for r in readers)

    def qdq_wrapped(self, n):
        """n reads only DequantizeLinear results (and constants) and its
        result goes only to QuantizeLinear."""
        ins = [i for i in n.input if i and i not in self.inits]
        return bool(ins) and all(self.made_by(i, {"DequantizeLinear"}) for i in ins) and self.ends_in_q(n.output[0])

    def must_be_integer(self):
        """Names of the nodes issue 12 promises in integer code."""
        out = set()
        for n in self.nodes:
            if n.op_type in QUANTIZED_OPS or (n.op_type in QDQ_OPS and self.qdq_wrapped(n)):
                out.add(n.name)
                v = n.output[0]  # the Relu/Clip chain it folds
                while len(self.consumers.get(v, [])) == 1 and self.consumers[v][0].op_type in FOLDED_ACTS:
                    out.add(self.consumers[v][0].name)
                    v = self.consumers[v][0].output[0]
        return out

    def final_scale(self):
        """How the graph output is made: ("dq", scale array) for a last
        DequantizeLinear (data movement after it aside), ("dyn", value name) for quantize_dynamic's
        Cast(MatMulInteger) * scale [+ bias], whose scale is computed at run
        time (the oracle is asked for it)."""
        from onnx import numpy_helper
        n = self.producer[self.outputs[0]]
        while n.op_type in MOVES and n.input[0] in self.producer:
            n = self.producer[n.input[0]]
        if n.op_type == "DequantizeLinear":
            init = {t.name: t for t in self.model.graph.initializer}
            if n.input[1] not in init:
                raise kt.Failure(f"the last DequantizeLinear's scale '{n.input[1]}' is not a constant")
            return "dq", numpy_helper.to_array(init[n.input[1]]).astype(np.float64)
        if n.op_type == "Add":  # the bias
            n = next((self.producer[i] for i in n.input if i in self.producer), None)
        if n is not None and n.op_type == "Mul":
            for a, b in (n.input, n.input[::-1]):
                if self.made_by(a, {"Cast"}) and self.made_by(self.producer[a].input[0], {"MatMulInteger"}):
                    return "dyn", b
        raise kt.Failure("cannot tell the output's scale: it is neither a DequantizeLinear nor "
                         "Cast(MatMulInteger) * scale [+ bias]")


def load_graph(path):
    import onnx
    return Graph(onnx.load(path))


# ---------------------------------------------------------------- numerics

def oracle_kind(g):
    """"ref" (int8_reference: onnx's evaluator, quantized ops in float64)
    unless the model has ops it lacks, which only onnxruntime runs ("ort")."""
    return "ref" if int8_reference.covers(g.model) else "ort"


class Oracle:
    """The reference run of the quantized model, with the value holding the
    output's run-time scale (quantize_dynamic) added to its outputs."""

    def __init__(self, kind, path, extra, workdir):
        import onnx
        self.kind = kind
        m = onnx.load(path)
        if extra:
            m.graph.output.append(onnx.helper.make_tensor_value_info(extra, onnx.TensorProto.FLOAT, None))
        if kind == "ref":
            self.ev = int8_reference.evaluator(m)
        else:
            self.path = os.path.join(workdir, "oracle.onnx")
            onnx.save(m, self.path)

    def run(self, inputs):
        if self.kind == "ref":
            feed = {i: x for i, x in zip(self.ev.input_names, inputs)}
            return self.ev.run(None, feed)
        return kt.ort_run(self.path, inputs)


def kiln_run(kiln, path, inputs, d):
    """`kiln run` on one set of inputs; returns output 0."""
    import onnx
    from onnx import numpy_helper
    files = []
    for i, x in enumerate(inputs):
        files.append(os.path.join(d, f"input_{i}.npy"))
        np.save(files[-1], x)
    out = os.path.join(d, "out")
    kt.run([kiln, "run", path, "--input"] + files + ["--output-dir", out])
    return numpy_helper.to_array(onnx.load_tensor(os.path.join(out, "output_0.pb")))


def check_numerics(kiln, name, b, g, exe, d):
    """The compiled object (through the C harness) on every test input
    against the oracle, and `kiln run` on the first input, which must give
    the object's bytes."""
    kind = oracle_kind(g)
    how, scale = g.final_scale()
    oracle = Oracle(kind, b.int8, scale if how == "dyn" else None, d)
    diffs = []
    for k, inputs in enumerate(b.inputs):
        ref = oracle.run(inputs)
        want = ref[0].astype(np.float64)
        (out,) = kt.run_harness(exe, d, inputs, [(g.output_dtype(), ref[0].shape)])
        if k == 0:
            dk = os.path.join(d, "run")
            os.makedirs(dk, exist_ok=True)
            jit = kiln_run(kiln, b.int8, inputs, dk)
            if jit.shape != out.shape or jit.tobytes() != out.tobytes():
                raise kt.Failure("`kiln run` and the compiled object give different outputs on input 0")
        got = out.astype(np.float64)
        q = scale if how == "dq" else np.float64(ref[-1])
        if not np.isfinite(got).all():
            raise kt.Failure(f"input {k}: kiln's output is not finite")
        if how == "dq":
            frac = np.abs(got / q - np.round(got / q)).max()
            if frac > 1e-3:
                raise kt.Failure(f"input {k}: kiln's output is not a whole number of quanta of the last "
                                 f"DequantizeLinear's scale {q} (off by {frac:.3f} quanta)")
        diffs.append((np.abs(got - want) / q).ravel())
    dq = np.concatenate(diffs)
    within1 = float(np.mean(dq <= 1 + 1e-3))
    worst = float(dq.max())
    equal = float(np.mean(dq <= 1e-3))
    detail = (f"{dq.size} elements over {len(b.inputs)} inputs vs {oracle_name(kind)}: {100 * equal:.2f}% equal, "
              f"{100 * within1:.2f}% within 1 quantum, worst {worst:.2f} quanta"
              f" ({'last DequantizeLinear' if how == 'dq' else 'activation x weight scale of the last product'})")
    return within1 >= 0.999 and worst <= 2 + 1e-3, detail


def oracle_name(kind):
    return "onnx.reference with int8_reference's ops" if kind == "ref" else "onnxruntime ORT_DISABLE_ALL"


# ---------------------------------------------------------------- objects

def rodata_bytes(obj):
    """Bytes in the object's read-only data sections (.rodata*, .lrodata*)."""
    total = 0
    for line in kt.run(["size", "-A", obj]).stdout.splitlines():
        f = line.split()
        if len(f) >= 2 and re.match(r"^\.l?rodata", f[0]):
            total += int(f[1])
    return total


def check_weights(fobj, frep, qobj, qrep):
    wf, wq = frep["weights_bytes"], qrep["weights_bytes"]
    rf, rq = rodata_bytes(fobj), rodata_bytes(qobj)
    detail = (f"weights_bytes {wq} vs float {wf} ({wq / wf:.3f}x, bound {WEIGHTS_RATIO}); "
              f".rodata {rq} vs {rf} ({rq / rf:.3f}x, bound {RODATA_RATIO})")
    return wq <= WEIGHTS_RATIO * wf and rq <= RODATA_RATIO * rf, detail


def check_float_nodes(kiln, path, g, rep):
    """The report's quantization summary, kiln check's notes, and the ops
    that must not be among them."""
    if "quantization" not in rep:
        raise kt.Failure("the report has no \"quantization\" object (integer_nodes, float_nodes)")
    qz = rep["quantization"]
    if not isinstance(qz.get("integer_nodes"), int) or not isinstance(qz.get("float_nodes"), list):
        raise kt.Failure(f"\"quantization\" lacks integer_nodes (int) or float_nodes (list): {qz}")
    named = []
    for e in qz["float_nodes"]:
        if not all(isinstance(e.get(k), str) for k in ("node", "op", "why")) or not e["why"].strip():
            raise kt.Failure(f"a float_nodes entry lacks node, op or why: {e}")
        named.append((e["node"], e["op"]))
    p = subprocess.run([kiln, "check", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise kt.Failure(f"kiln check exited {p.returncode}:\n{(p.stdout + p.stderr).strip()}")
    notes = []
    for line in (p.stdout + p.stderr).splitlines():
        if line.startswith("kiln: note:"):
            m = NOTE.match(line)
            if not m:
                raise kt.Failure(f"kiln check: a note not of the form \"kiln: note: FILE: node 'NAME' (OP) "
                                 f"runs in float: WHY\": {line}")
            notes.append((m["node"], m["op"]))
    if sorted(notes) != sorted(named):
        raise kt.Failure(f"kiln check's notes {sorted(notes)} differ from the report's float_nodes {sorted(named)}")
    ops = {n.name: n.op_type for n in g.nodes}
    bad = [f"'{n}' ({op}): no such node" for n, op in named if n not in ops]
    bad += [f"'{n}' ({op}): the model says {ops[n]}" for n, op in named if n in ops and ops[n] != op]
    must = g.must_be_integer()
    bad += [f"'{n}' ({op}): quantized, must run in integer" for n, op in named if n in must]
    products = sum(1 for n in g.nodes if n.name in must and n.op_type in PRODUCTS)
    if qz["integer_nodes"] < products:
        bad.append(f"integer_nodes {qz['integer_nodes']} < {products} quantized convolutions and matrix products")
    if bad:
        raise kt.Failure("float_nodes: " + "; ".join(bad))
    return True, (f"{qz['integer_nodes']} integer nodes, {len(named)} in float"
                  + (f" ({', '.join(sorted({op for _, op in named}))})" if named else ""))


def check_accuracy(b, exe, d):
    """The compiled object on every held-out digit."""
    right = 0
    for x, label in zip(b.eval_x, b.eval_y):
        (y,) = kt.run_harness(exe, d, [x[None]], [(np.float32, (1, 10))])
        right += int(y.argmax() == label)
    acc = right / len(b.eval_y)
    return acc >= b.float_acc - 0.02, (f"int8 object {100 * acc:.1f}% on {len(b.eval_y)} held-out digits, "
                                       f"float model (PyTorch) {100 * b.float_acc:.1f}%")


# ---------------------------------------------------------------- driver

def test_model(kiln, name, workdir, cache, results):
    d = os.path.join(workdir, name)
    os.makedirs(d, exist_ok=True)
    t0 = time.perf_counter()
    b = int8_models.get(name, cache)
    t_gen = time.perf_counter() - t0
    g = load_graph(b.int8)

    def step(what, fn):
        t = time.perf_counter()
        try:
            ok, detail = fn()
        except (kt.Failure, OSError) as e:
            ok, detail = False, str(e)
        except Exception as e:  # the oracle or the tooling: still this check's failure
            ok, detail = False, f"{type(e).__name__}: {e}"
        results.append((f"{name}: {what}", ok, f"({time.perf_counter() - t:.1f} s) {detail}"))
        return ok

    # The float model as kiln compiles it, for the weight bytes; the int8
    # model once, with its report, linked with the C harness.
    c = {}

    def compile_both():
        frep, qrep = os.path.join(d, "float.json"), os.path.join(d, "int8.json")
        kt.run([kiln, "compile", b.float, "-o", os.path.join(d, "float.o"), "--report", frep])
        c["exe"] = kt.compile_model(kiln, b.int8, d, "int8", extra=["--report", qrep])
        c["frep"], c["qrep"] = json.load(open(frep)), json.load(open(qrep))
        return True, f"the float and the int8 model (models generated or found in {t_gen:.1f} s)"

    compiled = step("compile", compile_both)
    checks = [("numerics", lambda: check_numerics(kiln, name, b, g, c["exe"], d)),
              ("weights", lambda: check_weights(os.path.join(d, "float.o"), c["frep"], os.path.join(d, "int8.o"),
                                                c["qrep"])),
              ("float nodes", lambda: check_float_nodes(kiln, b.int8, g, c["qrep"]))]
    if b.eval_x is not None:
        checks.append(("accuracy", lambda: check_accuracy(b, c["exe"], d)))
    for what, fn in checks:
        if compiled:
            step(what, fn)
        else:  # said, not skipped: each check fails with the reason
            results.append((f"{name}: {what}", False, "not run: the models did not compile"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kiln")
    ap.add_argument("workdir")
    ap.add_argument("--models", default=",".join(int8_models.SMALL))
    ap.add_argument("--cache", help="where the generated models are kept (default WORKDIR/../int8-models)")
    a = ap.parse_args()
    cache = a.cache or os.path.join(os.path.dirname(os.path.abspath(a.workdir)), "int8-models")
    results = []
    for name in a.models.split(","):
        if name not in int8_models.SPECS:
            sys.exit(f"test_int8.py: unknown model '{name}' (known: {', '.join(int8_models.ALL)})")
        t = time.perf_counter()
        test_model(a.kiln, name, a.workdir, cache, results)
        print(f"{name}: {time.perf_counter() - t:.1f} s", flush=True)
    sys.exit(kt.report(results))


if __name__ == "__main__":
    main()
