#!/usr/bin/env python3
"""The qdq pass and the integer lowerings on the patterns quantizers write:
one small QDQ model per pattern (QuantizeLinear -> DequantizeLinear around
each op, as onnxruntime's quantize_static, NNCF and PyTorch export them),
u8 and i8, per-tensor and per-channel weights, odd shapes.  Each must
compile with the op in its integer form (the compiled IR holds the
expected integer op and no float op of that kind), and its outputs must
equal the ONNX reference evaluator's within one quantum on >= 99.9% of the
elements and never differ by more than two; with the target's kernels and
with the plain lowerings (KILN_CG_REFERENCE=1).

    test_qdq.py KILN WORKDIR"""
import argparse
import json
import os
import re
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper as oh
from onnx import numpy_helper as nh
from onnx.reference import ReferenceEvaluator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kilntest as kt  # noqa: E402

RNG = np.random.default_rng(7)
SEEN = set()  # the IR ops the compiled cases hold, for check_op_coverage.py
NP = {TP.UINT8: np.uint8, TP.INT8: np.int8}


class Builder:
    """A QDQ graph under construction: float tensors with quantize/dequantize pairs."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, base):
        self.n += 1
        return f"{base}{self.n}"

    def const(self, arr, base="c"):
        nm = self.name(base)
        self.inits.append(nh.from_array(np.asarray(arr), nm))
        return nm

    def qdq(self, x, scale, zero, dt=TP.UINT8, axis=None):
        """x -> QuantizeLinear -> DequantizeLinear, the quantization as constants."""
        s = self.const(np.asarray(scale, np.float32), "s")
        z = self.const(np.asarray(zero, NP[dt]), "z")
        kw = {} if axis is None else {"axis": axis}
        q, d = self.name("q"), self.name("d")
        self.nodes.append(oh.make_node("QuantizeLinear", [x, s, z], [q], **kw))
        self.nodes.append(oh.make_node("DequantizeLinear", [q, s, z], [d], **kw))
        return d

    def weights(self, shape, axis, dt=TP.INT8, per_channel=True, zero=0):
        """A quantized constant (integers, scales) read through DequantizeLinear."""
        n = shape[axis] if per_channel else 1
        lo, hi = (-127, 127) if dt == TP.INT8 else (0, 255)
        w = RNG.integers(lo, hi + 1, size=shape).astype(NP[dt])
        s = self.const((RNG.uniform(0.002, 0.02, size=n) if per_channel else np.array(0.01)).astype(np.float32), "ws")
        z = self.const(np.full(n, zero, NP[dt]) if per_channel else np.array(zero, NP[dt]), "wz")
        wq, d = self.const(w, "w"), self.name("wd")
        kw = {"axis": axis} if per_channel else {}
        self.nodes.append(oh.make_node("DequantizeLinear", [wq, s, z], [d], **kw))
        return d

    def bias(self, n):
        return self.const(RNG.uniform(-0.5, 0.5, size=n).astype(np.float32), "b")

    def op(self, op, ins, **attrs):
        out = self.name(op.lower())
        self.nodes.append(oh.make_node(op, ins, [out], **attrs))
        return out

    def model(self, inputs, out, path):
        ins = [oh.make_tensor_value_info(nm, TP.FLOAT, shp) for nm, shp in inputs]
        outs = [oh.make_tensor_value_info(out, TP.FLOAT, None)]
        g = oh.make_graph(self.nodes, "g", ins, outs, self.inits)
        m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 19)])
        onnx.save(m, path)
        return m


# Each case: name -> (build(b) returning (inputs, output), the integer op the IR must hold,
# the output's quantum (its final scale))
def conv_case(dt, per_channel, group, stride, pad, k, cin, cout, hw, act=None, zero_w=0):
    def build(b):
        x = b.qdq("x", 0.03, 128 if dt == TP.UINT8 else 3, dt)
        w = b.weights([cout, cin // group, k, k], 0, per_channel=per_channel, zero=zero_w)
        y = b.op("Conv", [x, w, b.bias(cout)], strides=[stride, stride], pads=[pad] * 4, group=group)
        if act == "relu":
            y = b.op("Relu", [y])
        elif act == "clip":
            y = b.op("Clip", [y, b.const(np.float32(-0.3)), b.const(np.float32(0.4))])
        return [("x", [1, cin, hw, hw])], b.qdq(y, 0.02, 0 if act == "relu" else (7 if dt == TP.UINT8 else -5), dt)
    return build, "conv", 0.02


def gemm_case(dt, trans_b, m, k, n):
    def build(b):
        x = b.qdq("x", 0.05, 120 if dt == TP.UINT8 else 1, dt)
        w = b.weights([n, k] if trans_b else [k, n], 0 if trans_b else 1)
        y = b.op("Gemm", [x, w, b.bias(n)], transB=trans_b)
        return [("x", [m, k])], b.qdq(y, 0.04, 100 if dt == TP.UINT8 else 0, dt)
    return build, "gemm", 0.04


def matmul_case(dt, ashape, bshape, both_act):
    def build(b):
        x = b.qdq("x", 0.05, 128 if dt == TP.UINT8 else 0, dt)
        if both_act:
            w = b.qdq("w", 0.04, 130 if dt == TP.UINT8 else -2, dt)
            ins = [("x", ashape), ("w", bshape)]
        else:
            w = b.weights(bshape, len(bshape) - 1)
            ins = [("x", ashape)]
        y = b.op("MatMul", [x, w])
        return ins, b.qdq(y, 0.1, 128 if dt == TP.UINT8 else 0, dt)
    return build, "matmul", 0.1


def binary_case(op, dt, ashape, bshape):
    def build(b):
        x = b.qdq("x", 0.05, 128 if dt == TP.UINT8 else 0, dt)
        w = b.qdq("w", 0.02, 100 if dt == TP.UINT8 else 9, dt)
        y = b.op(op, [x, w])
        return [("x", ashape), ("w", bshape)], b.qdq(y, 0.06 if op == "Add" else 0.01, 128 if dt == TP.UINT8 else -1, dt)
    return build, op.lower(), 0.06 if op == "Add" else 0.01


def pool_case(op, dt, shape, **attrs):
    def build(b):
        x = b.qdq("x", 0.05, 128 if dt == TP.UINT8 else 0, dt)
        y = b.op(op, [x], **attrs)
        s = 0.05 if op.endswith("MaxPool") else 0.03
        return [("x", shape)], b.qdq(y, s, 128 if dt == TP.UINT8 else 0, dt)
    kind = {"MaxPool": "maxpool", "AveragePool": "avgpool", "GlobalAveragePool": "global_avgpool",
            "GlobalMaxPool": "global_maxpool"}[op]
    return build, kind, 0.05 if op.endswith("MaxPool") else 0.03


def unary_case(op, dt, **attrs):
    def build(b):
        x = b.qdq("x", 0.04, 128 if dt == TP.UINT8 else 0, dt)
        y = b.op(op, [x], **attrs)
        return [("x", [2, 5, 7])], b.qdq(y, 1 / 128, 128 if dt == TP.UINT8 else 0, dt)
    return build, "lut", 1 / 128


def softmax_case(dt, shape, axis, scale):
    def build(b):
        x = b.qdq("x", scale, 128 if dt == TP.UINT8 else 0, dt)
        y = b.op("Softmax", [x], axis=axis)
        return [("x", shape)], b.qdq(y, 1 / 256, 0 if dt == TP.UINT8 else -128, dt)
    return build, "softmax", 1 / 256


def concat_case(dt):
    def build(b):
        x = b.qdq("x", 0.05, 128 if dt == TP.UINT8 else 0, dt)
        w = b.qdq("w", 0.02, 100 if dt == TP.UINT8 else 9, dt)
        y = b.op("Concat", [x, w], axis=1)
        y = b.op("Reshape", [b.qdq(y, 0.04, 110 if dt == TP.UINT8 else 2, dt), b.const(np.array([1, -1]))])
        return [("x", [1, 3, 4, 5]), ("w", [1, 2, 4, 5])], b.qdq(y, 0.05, 128 if dt == TP.UINT8 else 0, dt)
    return build, "concat", 0.05


U8, I8 = TP.UINT8, TP.INT8
CASES = {
    "conv_u8_pc": conv_case(U8, True, 1, 1, 1, 3, 5, 7, 9),
    "conv_i8_pt_relu": conv_case(I8, False, 1, 2, 1, 3, 3, 11, 10, act="relu"),
    "conv_u8_dw_clip": conv_case(U8, True, 6, 1, 1, 3, 6, 6, 7, act="clip"),
    "conv_i8_1x1": conv_case(I8, True, 1, 1, 0, 1, 13, 17, 5),
    "conv_u8_group_s2": conv_case(U8, True, 2, 2, 2, 5, 4, 6, 11),
    "gemm_u8_tb": gemm_case(U8, 1, 3, 37, 10),
    "gemm_i8": gemm_case(I8, 0, 1, 16, 13),
    "matmul_u8_w": matmul_case(U8, [2, 3, 19], [19, 7], False),
    "matmul_i8_act": matmul_case(I8, [2, 4, 8], [2, 8, 5], True),
    "add_u8_bcast": binary_case("Add", U8, [2, 3, 5], [3, 1]),
    "add_i8": binary_case("Add", I8, [4, 9], [4, 9]),
    "mul_u8": binary_case("Mul", U8, [2, 7], [1, 7]),
    "mul_i8_bcast": binary_case("Mul", I8, [3, 4, 2], [2]),
    "maxpool_u8": pool_case("MaxPool", U8, [1, 3, 9, 9], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    "globalmax_i8": pool_case("GlobalMaxPool", I8, [1, 5, 3, 4]),
    "avgpool_u8": pool_case("AveragePool", U8, [1, 3, 9, 9], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    "avgpool_i8_incl": pool_case("AveragePool", I8, [1, 2, 7, 6], kernel_shape=[2, 3], pads=[1, 1, 0, 1],
                                 count_include_pad=1, ceil_mode=1),
    "globalavg_u8": pool_case("GlobalAveragePool", U8, [1, 6, 5, 5]),
    "sigmoid_u8": unary_case("Sigmoid", U8),
    "tanh_i8": unary_case("Tanh", I8),
    "hardswish_u8": unary_case("HardSwish", U8),
    "leakyrelu_i8": unary_case("LeakyRelu", I8, alpha=0.1),
    "softmax_u8": softmax_case(U8, [3, 10], -1, 0.1),
    "softmax_i8_axis1": softmax_case(I8, [2, 7, 5], 1, 0.05),
    "softmax_long": softmax_case(I8, [2, 1000], -1, 0.02),
    "concat_requant_u8": concat_case(U8),
    "concat_requant_i8": concat_case(I8),
}


def run_case(kiln, name, case, work):
    build, int_op, quantum = case
    b = Builder()
    inputs, out = build(b)
    path = os.path.join(work, name + ".onnx")
    b.model(inputs, out, path)
    ir = subprocess.run([kiln, "dump", path], capture_output=True, text=True)
    if ir.returncode:
        return f"kiln dump failed: {ir.stderr.strip()}"
    ops = kt.ir_ops_in(ir.stdout)
    SEEN.update(ops)
    if int_op not in ops:
        return f"no integer {int_op} in the IR: {sorted(ops)}"
    float_left = [ln for ln in ir.stdout.splitlines() if f"= {int_op}(" in ln and ": f32[" in ln.split("=")[0]]
    if float_left:
        return f"{int_op} left in float: {float_left[0].strip()}"
    feeds, args = {}, [kiln, "run", path, "--output-dir", os.path.join(work, name + ".out")]
    for i, (nm, shp) in enumerate(inputs):
        feeds[nm] = (RNG.standard_normal(shp) * 1.5).astype(np.float32)
        np.save(os.path.join(work, f"{name}.in{i}.npy"), feeds[nm])
        args += ["--input", os.path.join(work, f"{name}.in{i}.npy")]
    ref = ReferenceEvaluator(onnx.load(path)).run(None, feeds)[0]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode:
        return f"kiln run failed: {r.stderr.strip()}"
    t = onnx.TensorProto()
    with open(os.path.join(work, name + ".out", "output_0.pb"), "rb") as f:
        t.ParseFromString(f.read())
    got = nh.to_array(t)
    # In quanta of the output: the float reference rounds ties of the
    # rescale either way (its products round first), so one quantum apart
    # is agreement; more than one may happen on at most 0.1%, more than two never.
    return kt.within_quanta(got, ref, quantum) or None


NOTE = re.compile(r"^kiln: note: .*: node '(?P<node>.*)' \((?P<op>\w+)\) runs in float: .+$")


def float_nodes_agree(kiln, work):
    """`kiln check` (qdq and dce only) and `kiln compile --report` (the whole
    pipeline, which fuses GELU's Div, Erf, Add and Muls into one node) name
    the same nodes left in float, GELU's Div among them; None or why not."""
    b = Builder()
    x = b.qdq("x", 0.05, 128)
    d = b.op("Div", [x, b.const(np.float32(np.sqrt(2)))])
    e = b.op("Add", [b.op("Erf", [d]), b.const(np.float32(1))])
    y = b.op("Mul", [b.op("Mul", [x, e]), b.const(np.float32(0.5))])
    path = os.path.join(work, "gelu_float_nodes.onnx")
    b.model([("x", [3, 8])], b.qdq(y, 0.03, 10), path)
    p = subprocess.run([kiln, "check", path], capture_output=True, text=True)
    if p.returncode:
        return f"kiln check failed: {p.stderr.strip()}"
    notes = sorted((m["node"], m["op"]) for m in map(NOTE.match, p.stderr.splitlines()) if m)
    rep = os.path.join(work, "gelu_float_nodes.json")
    p = subprocess.run([kiln, "compile", path, "-o", os.path.join(work, "gelu.o"), "--report", rep],
                       capture_output=True, text=True)
    if p.returncode:
        return f"kiln compile failed: {p.stderr.strip()}"
    with open(rep) as f:
        named = sorted((e["node"], e["op"]) for e in json.load(f)["quantization"]["float_nodes"])
    if notes != named:
        return f"kiln check names {notes}, the report {named}"
    if not any(op == "Div" for _, op in named):
        return f"GELU's Div is not named as float: {named}"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kiln")
    ap.add_argument("work")
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    results = []
    # Each case with the target's kernels, then with the plain lowerings only.
    for ref in ("0", "1"):
        os.environ["KILN_CG_REFERENCE"] = ref
        for name, case in CASES.items():
            if a.only and a.only not in name:
                continue
            why = run_case(a.kiln, name, case, a.work)
            results.append((name + (" (reference)" if ref == "1" else ""), why is None, why or ""))
    if not a.only:
        why = float_nodes_agree(a.kiln, a.work)
        results.append(("float nodes: kiln check = --report (GELU)", why is None, why or ""))
    if not a.only and all(ok for _, ok, _ in results):
        with open(os.path.join(a.work, "ops-tested.txt"), "w") as f:
            f.write("\n".join(sorted(SEEN)) + "\n")
    return kt.report(results)


if __name__ == "__main__":
    sys.exit(main())
