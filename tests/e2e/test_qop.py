#!/usr/bin/env python3
"""The quantized operators (QLinear*, *Integer, QGemm, the com.microsoft
ops of onnxruntime.quantization) against ONNX Runtime with its graph
optimizations off: small models built by hand (odd shapes, per-channel
weights, u8 and i8, nonzero zero points, random data with fixed seeds) and
models onnxruntime.quantization itself writes (quantize_static in the
QOperator format, quantize_dynamic).  Each runs through `kiln run`.

    test_qop.py KILN WORKDIR [--only SUBSTR]

How close is close enough:
- integer outputs of the QLinear ops: within one quantum on >= 99.9% of
  the elements and never more than two.  Both sides compute the same real
  number before rounding it, in a different order (onnxruntime rescales an
  int32 accumulator by a float multiplier, or looks up a table; kiln
  dequantizes, computes in f32, quantizes), so a value that lands within
  f32 error of a rounding tie may round to the neighbour.  QLinearSoftmax
  is the extreme: onnxruntime multiplies by floor(1 / y_scale) instead of
  dividing by y_scale, an error below one quantum.
- ConvInteger and MatMulInteger: exact (their int32 accumulators stay
  below 2^24 here, where the f32 reference is exact).
- float outputs (QGemm without y_scale, DynamicQuantizeMatMul,
  MatMulIntegerToFloat): 1e-5 of the largest magnitude.  onnxruntime
  scales an exact int32 sum once; kiln sums f32 products of dequantized
  values, each product and partial sum rounded to 2^-24 relative, over at
  most 64 terms: below 64 * 6e-8 = 4e-6 of the terms' magnitude.
- a model that ends in DequantizeLinear: its float output measured in
  quanta of that DequantizeLinear's scale, as for integer outputs.
- DynamicQuantizeLSTM: against int8_reference's (X quantized at run time
  once, the hidden state before each step, exact integer products, f32
  gates) to 1e-5, and against onnxruntime's own op to 1e-4 (exact too with
  these 7-bit weights; with full-range int8 weights its AVX2 kernel is not,
  see int8_reference).
- MatMulInteger, ConvInteger, DynamicQuantizeMatMul, MatMulIntegerToFloat
  with a zero point or scale computed at run time: matmul_integer or
  conv_integer in the imported IR and no float matmul or conv; exact.
- onnxruntime's x86 u8 x s8 kernels add pairs of products in int16 with
  saturation, so int8 weights against u8 data keep to 7 bits (weights(),
  and reduce_range for quantize_static), as onnxruntime.quantization
  advises; with full-range weights onnxruntime itself is off by dozens of
  quanta.  Forms onnxruntime does not take (per-row zero points of a,
  per-channel ConvInteger zero points) are checked against numpy.

Besides the numbers, the imported IR (kiln dump --passes=none) must have
the QDQ shape when scales and zero points are constants: the dequantize
and quantize ops and no f32 rounding chain; with a scale computed at run
time the f32 chain instead, or matmul_integer for the products.  Inputs the specs do not allow get one error
line naming the node."""
import argparse
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto as TP, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import int8_reference
import kilntest as kt

F, U8, I8, I32 = TP.FLOAT, TP.UINT8, TP.INT8, TP.INT32
NP = {F: np.float32, U8: np.uint8, I8: np.int8, I32: np.int32}
rng = np.random.default_rng(20261203)

# What the imported IR must (and must not) contain.
WORK = "."  # the work directory (main)
QDQ = ({"quantize", "dequantize"}, {"round"})        # constant scales: the QDQ shape
ACC = ({"dequantize", "quantize", "qview"}, {"round"})  # *Integer: i32{q: 1, 0}, then plain i32
F32 = ({"dequantize"}, {"round"})                    # float result from dequantized operands
CHAIN = ({"round"}, {"quantize"})                    # a run-time scale: f32 arithmetic
INT = ({"matmul_integer"}, {"matmul", "gemm"})       # a run-time zero point or scale: the integer product


def ints(dt, *shape):
    info = np.iinfo(NP[dt])
    return rng.integers(info.min, info.max + 1, shape, dtype=NP[dt])


def weights(dt, *shape):
    """Weights for an 8-bit product.  int8 ones keep to 7 bits, as
    onnxruntime.quantization's reduce_range does: onnxruntime's x86 u8 x s8
    kernels add pairs of products in int16 with saturation, so full-range
    int8 weights against u8 data give it wrong sums."""
    return rng.integers(-63, 64, shape, dtype=np.int8) if dt == I8 else ints(dt, *shape)


def scalar(v, dt=F):
    return np.array(v, NP[dt])


def scales(n, lo=0.002, hi=0.02):
    return rng.uniform(lo, hi, n).astype(np.float32)


def zps(dt, n):
    return rng.integers(-20, 21, n).astype(NP[dt]) if dt == I8 else rng.integers(90, 160, n).astype(np.uint8)


def model(nodes, inputs, outputs, inits=(), opset=13):
    """inputs: (name, elem_type, shape); outputs: (name, elem_type)."""
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                          [helper.make_tensor_value_info(n, t, None) for n, t in outputs],
                          [numpy_helper.from_array(np.asarray(a), n) for n, a in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("com.microsoft", 1)])
    m.ir_version = 7
    return m


def ms(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, domain="com.microsoft", **attrs)


class Case:
    def __init__(self, m, feeds, ir=QDQ, exact=False, ftol=None, quanta=None, ref=None, loose=None, np_ref=None):
        self.m, self.feeds, self.ir, self.exact = m, feeds, ir, exact
        self.np_ref = np_ref    # a form onnxruntime (and onnx's evaluator) refuse: numpy computes the spec
        self.ftol = ftol        # float outputs: tolerance relative to the largest magnitude
        self.quanta = quanta    # float outputs measured in quanta of this scale
        self.ref = ref          # another model whose ONNX Runtime outputs are the reference
        self.loose = loose      # with ref: the model itself, to this tolerance, too


# ---- the standard domain --------------------------------------------------------------------

def qlinear_conv(xt, wt, xs, ws, per_channel, bias, **attrs):
    m_, c_ = ws[0], xs[1]
    sw = scales(m_) if per_channel else scales(1)[0]
    zw = np.zeros(m_, NP[wt]) if per_channel and wt == I8 else (zps(wt, m_) if per_channel else zps(wt, 1)[0])
    inits = [("sx", scalar(0.02)), ("zx", zps(xt, 1)[0]), ("w", weights(wt, *ws)), ("sw", sw), ("zw", zw),
             ("sy", scalar(0.05 * np.sqrt(c_ * np.prod(ws[2:])) / 8)), ("zy", zps(xt, 1)[0])]
    ins = ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy"]
    if bias:
        inits.append(("b", rng.integers(-3000, 3000, m_).astype(np.int32)))
        ins.append("b")
    return Case(model([helper.make_node("QLinearConv", ins, ["y"], **attrs)], [("x", xt, xs)], [("y", xt)], inits),
                [ints(xt, *xs)])


def qlinear_matmul(at, bt, sa_shape, sb_shape, a_shape, b_shape):
    n_rows, n_cols = a_shape[-2], b_shape[-1]
    sa = scales(n_rows) if sa_shape else scales(1)[0]
    za = zps(at, n_rows) if sa_shape else zps(at, 1)[0]
    sb = scales(n_cols) if sb_shape else scales(1)[0]
    zb = zps(bt, n_cols) if sb_shape else zps(bt, 1)[0]
    k = a_shape[-1]
    inits = [("sa", sa), ("za", za), ("b", weights(bt, *b_shape)), ("sb", sb), ("zb", zb),
             ("sy", scalar(0.01 * np.sqrt(k) * 10)), ("zy", zps(at, 1)[0])]
    return Case(model([helper.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"])],
                      [("a", at, a_shape)], [("y", at)], inits), [ints(at, *a_shape)])


def standard_cases():
    c = {}
    c["qlinear_conv_u8_i8_per_channel_bias"] = qlinear_conv(U8, I8, (1, 3, 11, 9), (5, 3, 3, 3), True, True, auto_pad="SAME_UPPER")
    c["qlinear_conv_i8_per_tensor_stride_group"] = qlinear_conv(I8, I8, (2, 4, 9, 10), (6, 2, 3, 2), False, False,
                                                                 strides=[2, 1], group=2, pads=[0, 1, 1, 0])
    c["qlinear_conv_u8_u8_dilated_bias"] = qlinear_conv(U8, U8, (1, 2, 13, 7), (3, 2, 3, 3), False, True,
                                                         dilations=[2, 1], pads=[2, 1, 2, 0])
    c["qlinear_matmul_u8_u8"] = qlinear_matmul(U8, U8, False, False, (7, 13), (13, 5))
    c["qlinear_matmul_i8_batch"] = qlinear_matmul(I8, I8, False, False, (2, 3, 11), (11, 6))
    c["qlinear_matmul_u8_i8_per_column"] = qlinear_matmul(U8, I8, False, True, (5, 17), (17, 7))
    # Per-row scales and zero points of a, which onnxruntime does not take.
    c["qlinear_matmul_per_row_a"] = k = qlinear_matmul(U8, U8, True, False, (6, 9), (9, 4))
    i = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in k.m.graph.initializer}
    k.np_ref = lambda f: [np.clip(np.rint(((f[0] - i["za"][:, None]) * i["sa"][:, None]) @ ((i["b"] - i["zb"]) * i["sb"])
                                          / i["sy"]) + i["zy"], 0, 255).astype(np.uint8)]
    # *Integer: exact int32 results, zero points per tensor, per row, per column
    c["matmul_integer_u8_i8"] = Case(model(
        [helper.make_node("MatMulInteger", ["a", "b", "za", "zb"], ["y"])], [("a", U8, (5, 37))], [("y", I32)],
        [("b", weights(I8, 37, 11)), ("za", scalar(131, U8)), ("zb", scalar(-3, I8))]), [ints(U8, 5, 37)], ACC, exact=True)
    b, za, zb = ints(U8, 200, 7), zps(U8, 6), zps(U8, 7)  # per row and column: numpy, as onnxruntime takes neither
    c["matmul_integer_per_row_column_k200"] = Case(model(
        [helper.make_node("MatMulInteger", ["a", "b", "za", "zb"], ["y"])], [("a", U8, (6, 200))], [("y", I32)],
        [("b", b), ("za", za), ("zb", zb)]), [ints(U8, 6, 200)], ACC, exact=True,
        np_ref=lambda f: [((f[0].astype(np.int64) - za[:, None]) @ (b.astype(np.int64) - zb)).astype(np.int32)])
    c["matmul_integer_i8_batch_no_zp"] = Case(model(
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"])], [("a", I8, (2, 3, 19)), ("b", I8, (19, 4))], [("y", I32)]),
        [ints(I8, 2, 3, 19), ints(I8, 19, 4)], ({"dequantize", "qview"}, {"round"}), exact=True)
    c["matmul_integer_runtime_zp"] = Case(model(  # a zero point from a graph input: matmul_integer
        [helper.make_node("MatMulInteger", ["a", "b", "za"], ["y"])], [("a", U8, (4, 23)), ("za", U8, ())], [("y", I32)],
        [("b", ints(U8, 23, 5))]), [ints(U8, 4, 23), scalar(77, U8)], ({"matmul_integer"}, {"qview", "round"}), exact=True)
    # Both operands and zero points at run time, i8, batched: no column sums to fold (the direct form),
    # K = 300: sums past 2^24, where only integer arithmetic is exact.
    c["matmul_integer_runtime_all_i8_batch_k300"] = Case(model(
        [helper.make_node("MatMulInteger", ["a", "b", "za", "zb"], ["y"])],
        [("a", I8, (2, 3, 300)), ("b", I8, (2, 300, 7)), ("za", I8, ()), ("zb", I8, ())], [("y", I32)]),
        [ints(I8, 2, 3, 300), ints(I8, 2, 300, 7), scalar(-5, I8), scalar(9, I8)], INT, exact=True)
    # A run-time za with constant per-column zb (the folded form), one row, K = 1000
    zbc = zps(U8, 6)
    c["matmul_integer_runtime_za_per_column_zb_k1000"] = Case(model(
        [helper.make_node("MatMulInteger", ["a", "b", "za", "zb"], ["y"])], [("a", U8, (1, 1000)), ("za", U8, ())], [("y", I32)],
        [("b", ints(U8, 1000, 6)), ("zb", zbc)]), [ints(U8, 1, 1000), scalar(201, U8)], INT, exact=True)
    # Per-channel weight zero points, which onnxruntime's ConvInteger does not take: the reference is its
    # float Conv of x - zx and w - zw (27 products of at most 255 * 255 per sum: exact in f32).
    w, zw = ints(U8, 4, 3, 3, 3), zps(U8, 4)
    attrs = dict(pads=[1, 0, 1, 2], strides=[1, 2])
    fconv = model([helper.make_node("Conv", ["x", "w"], ["y"], **attrs)], [("x", F, (1, 3, 8, 11))], [("y", F)],
                  [("w", (w.astype(np.float32) - zw[:, None, None, None]))])

    def conv_ref(f):
        d = os.path.join(WORK, "conv_integer_reference.onnx")
        onnx.save(fconv, d)
        return [np.rint(kt.ort_run(d, [f[0].astype(np.float32) - 129])[0]).astype(np.int32)]
    c["conv_integer_u8_per_channel_zp"] = Case(model(
        [helper.make_node("ConvInteger", ["x", "w", "zx", "zw"], ["y"], **attrs)], [("x", U8, (1, 3, 8, 11))], [("y", I32)],
        [("w", w), ("zx", scalar(129, U8)), ("zw", zw)]), [ints(U8, 1, 3, 8, 11)], ACC, exact=True, np_ref=conv_ref)
    c["conv_integer_no_zp_group"] = Case(model(
        [helper.make_node("ConvInteger", ["x", "w"], ["y"], group=2)], [("x", U8, (2, 4, 6, 5))], [("y", I32)],
        [("w", ints(U8, 6, 2, 2, 3))]), [ints(U8, 2, 4, 6, 5)], ({"dequantize", "qview"}, {"round"}), exact=True)
    # A run-time input zero point: conv_integer, exact against onnxruntime's ConvInteger
    # (u8 only there), strides, pads, groups; per-channel zw against numpy's float conv.
    c["conv_integer_runtime_zp_group_pads"] = Case(model(
        [helper.make_node("ConvInteger", ["x", "w", "zx", "zw"], ["y"], group=2, strides=[2, 1], pads=[1, 2, 0, 1])],
        [("x", U8, (2, 4, 7, 6)), ("zx", U8, ())], [("y", I32)], [("w", ints(U8, 6, 2, 3, 2)), ("zw", scalar(117, U8))]),
        [ints(U8, 2, 4, 7, 6), scalar(133, U8)], ({"conv_integer"}, {"conv", "qview"}), exact=True)
    w2, zw2 = ints(U8, 5, 3, 3, 3), zps(U8, 5)
    fconv2 = model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], [("x", F, (1, 3, 6, 5))], [("y", F)],
                   [("w", (w2.astype(np.float32) - zw2[:, None, None, None]))])

    def conv_ref2(f):
        d = os.path.join(WORK, "conv_integer_runtime_reference.onnx")
        onnx.save(fconv2, d)
        return [np.rint(kt.ort_run(d, [f[0].astype(np.float32) - f[1].astype(np.float32)])[0]).astype(np.int32)]
    c["conv_integer_runtime_zp_per_channel_zw"] = Case(model(
        [helper.make_node("ConvInteger", ["x", "w", "zx", "zw"], ["y"], pads=[1, 1, 1, 1])],
        [("x", U8, (1, 3, 6, 5)), ("zx", U8, ())], [("y", I32)], [("w", w2), ("zw", zw2)]),
        [ints(U8, 1, 3, 6, 5), scalar(90, U8)], ({"conv_integer"}, {"conv", "qview"}), exact=True, np_ref=conv_ref2)
    return c


# ---- com.microsoft ----------------------------------------------------------------------------

def qbinary(op, dt, sa, sb, zero_points=True):
    """zero_points False: all omitted, the reference the same model with
    explicit zeros (onnxruntime aborts on an omitted input before others)."""
    def m(zp):
        ins = ["a", "sa", "za" if zp else "", "b", "sb", "zb" if zp else "", "sc"] + (["zc"] if zp else [])
        inits = [("sa", scalar(0.03)), ("sb", scalar(0.011)), ("sc", scalar(0.04 if op == "QLinearAdd" else 0.2))]
        z = [zps(dt, 1)[0] for _ in range(3)] if zero_points else [scalar(0, dt)] * 3
        inits += [("za", z[0]), ("zb", z[1]), ("zc", z[2])] if zp else []
        return model([ms(op, ins, ["c"])], [("a", dt, sa), ("b", dt, sb)], [("c", dt)], inits)
    return Case(m(zero_points), [ints(dt, *sa), ints(dt, *sb)], ref=None if zero_points else m(True))


def qunary(op, dt, shape, zero_points=True, **attrs):
    """zero_points False: both omitted, the reference as in qbinary."""
    zx = zps(dt, 1)[0] if zero_points else scalar(0, dt)
    zy = (scalar(-128 if dt == I8 else 0, dt) if op == "QLinearSigmoid" else zps(dt, 1)[0]) if zero_points else scalar(0, dt)

    def m(zp):
        ins = ["x", "sx", "zx" if zp else "", "sy"] + (["zy"] if zp else [])
        inits = [("sx", scalar(0.05)), ("sy", scalar(0.0045 if op == "QLinearSigmoid" else 0.04))]
        inits += [("zx", zx), ("zy", zy)] if zp else []
        return model([ms(op, ins, ["y"], **attrs)], [("x", dt, shape)], [("y", dt)], inits)
    return Case(m(zero_points), [ints(dt, *shape)], ref=None if zero_points else m(True))


def qpool(op, dt, shape, channels_last=0, **attrs):
    inits = [("sx", scalar(0.03)), ("zx", zps(dt, 1)[0]), ("sy", scalar(0.02)), ("zy", zps(dt, 1)[0])]
    return Case(model([ms(op, ["x", "sx", "zx", "sy", "zy"], ["y"], channels_last=channels_last, **attrs)],
                      [("x", dt, shape)], [("y", dt)], inits), [ints(dt, *shape)])


def qsoftmax(dt, shape, opset, **attrs):
    inits = [("sx", scalar(0.06)), ("zx", zps(dt, 1)[0]), ("sy", scalar(1 / 256)), ("zy", scalar(-128 if dt == I8 else 0, dt))]
    return Case(model([ms("QLinearSoftmax", ["x", "sx", "zx", "sy", "zy"], ["y"], opset=opset, **attrs)],
                      [("x", dt, shape)], [("y", dt)], inits, opset=opset), [ints(dt, *shape)])


def qgemm(at, bt, m_, k, n, per_column, bias, quantized_out, trans_a=0, trans_b=0, alpha=1.0):
    sb = scales(n) if per_column else scales(1)[0]
    zb = np.zeros(n, NP[bt]) if per_column else zps(bt, 1)[0]
    inits = [("sa", scalar(0.025)), ("za", zps(at, 1)[0]), ("b", weights(bt, *((n, k) if trans_b else (k, n)))), ("sb", sb), ("zb", zb)]
    ins = ["a", "sa", "za", "b", "sb", "zb"]
    ins.append("c" if bias else "")
    if bias:
        inits.append(("c", rng.integers(-5000, 5000, n).astype(np.int32)))
    if quantized_out:
        ins += ["sy", "zy"]
        inits += [("sy", scalar(0.05 * alpha)), ("zy", zps(at, 1)[0])]
    while ins[-1] == "":
        ins.pop()
    node = ms("QGemm", ins, ["y"], transA=trans_a, transB=trans_b, alpha=alpha)
    a_shape = (k, m_) if trans_a else (m_, k)
    return Case(model([node], [("a", at, a_shape)], [("y", at if quantized_out else F)], inits), [ints(at, *a_shape)],
                QDQ if quantized_out else F32, ftol=None if quantized_out else 1e-5)


LSTM_IR = ({"matmul_integer"}, {"gemm", "matmul", "dequantize"})  # every product integer


def lstm_reference(m):
    """int8_reference's DynamicQuantizeLSTM (exact integer products) on the
    one-node model m's constants and the fed inputs, in m's input order."""
    node, init = m.graph.node[0], {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    names = [i.name for i in m.graph.input]
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    direction = attrs.get("direction", b"forward").decode()

    def run(feeds):
        v = {**init, **dict(zip(names, feeds))}
        get = lambda k: v.get(node.input[k]) if k < len(node.input) and node.input[k] else None
        return list(int8_reference.dynamic_quantize_lstm(get(0), get(1), get(2), get(3), get(5), get(6), get(8), get(9),
                                                         get(10), get(11), direction, attrs.get("input_forget", 0)))
    return run


def lstm_case(direction, per_channel, wt, states):
    """DynamicQuantizeLSTM with W [dirs, in, 4h] and R [dirs, h, 4h] quantized,
    against int8_reference's (integer products, X and the hidden state
    quantized at run time) and, to 1e-4, onnxruntime's own op (7-bit
    weights: its kernels are exact then)."""
    d = 2 if direction == "bidirectional" else 1
    S, B, I, H = 7, 3, 5, 4
    n = (d, 4 * H) if per_channel else (d,)
    ws, rs = rng.uniform(0.004, 0.012, n).astype(np.float32), rng.uniform(0.004, 0.012, n).astype(np.float32)
    # onnxruntime takes per-channel u8 zero points only when they are all one value
    wz = np.full(n, 131, np.uint8) if wt == U8 else np.zeros(n, np.int8)
    rz = np.full(n, 124, np.uint8) if wt == U8 else np.zeros(n, np.int8)
    # a float LSTM's weights (std 0.3), quantized

    def quantized(shape, s, z):
        sh = (d, 1, -1) if per_channel else (d, 1, 1)
        info = np.iinfo(NP[wt])
        v = np.rint(rng.standard_normal(shape) * 0.3 / s.reshape(sh)) + z.reshape(sh)
        return np.clip(v, -63 if wt == I8 else info.min, 63 if wt == I8 else info.max).astype(NP[wt])  # see weights()
    W, R = quantized((d, I, 4 * H), ws, wz), quantized((d, H, 4 * H), rs, rz)
    Bias = (rng.standard_normal((d, 8 * H)) * 0.3).astype(np.float32)
    opt = ["b", "", "h0", "c0"] if states else ["b"]
    qin = ["x", "w", "r"] + opt + [""] * (8 - 3 - len(opt)) + ["ws", "wz", "rs", "rz"]
    inputs = [("x", F, (S, B, I))] + ([("h0", F, (d, B, H)), ("c0", F, (d, B, H))] if states else [])
    outs = [("y", F), ("yh", F), ("yc", F)]
    q = model([ms("DynamicQuantizeLSTM", qin, ["y", "yh", "yc"], hidden_size=H, direction=direction)], inputs, outs,
              [("w", W), ("r", R), ("b", Bias), ("ws", ws), ("wz", wz), ("rs", rs), ("rz", rz)])
    feeds = [(rng.standard_normal((S, B, I))).astype(np.float32)]
    if states:
        feeds += [(rng.standard_normal((d, B, H)) * 0.5).astype(np.float32) for _ in range(2)]
    return Case(q, feeds, LSTM_IR, ftol=1e-5, np_ref=lstm_reference(q), loose=1e-4)


def microsoft_cases():
    c = {}
    c["qlinear_add_u8_broadcast"] = qbinary("QLinearAdd", U8, (2, 3, 5, 7), (3, 1, 7))
    c["qlinear_add_i8_no_zero_points"] = qbinary("QLinearAdd", I8, (4, 13), (4, 13), zero_points=False)
    c["qlinear_mul_i8_broadcast"] = qbinary("QLinearMul", I8, (3, 1, 11), (5, 11))
    c["qlinear_mul_u8"] = qbinary("QLinearMul", U8, (6, 9), (6, 9))
    for dt, nm in ((U8, "u8"), (I8, "i8")):
        parts = [(2, 3, 5), (2, 1, 5), (2, 4, 5)]
        ins, inits = ["sy", "zy"], [("sy", scalar(0.03)), ("zy", zps(dt, 1)[0])]
        for i in range(3):
            ins += [f"x{i}", f"s{i}", f"z{i}"]
            inits += [(f"s{i}", scalar([0.03, 0.017, 0.05][i])), (f"z{i}", zps(dt, 1)[0])]
        c[f"qlinear_concat_{nm}"] = Case(model([ms("QLinearConcat", ins, ["y"], axis=-2)],
                                               [(f"x{i}", dt, s) for i, s in enumerate(parts)], [("y", dt)], inits),
                                         [ints(dt, *s) for s in parts])
    c["qlinear_global_avgpool_u8"] = qpool("QLinearGlobalAveragePool", U8, (2, 5, 7, 3))
    c["qlinear_global_avgpool_i8_channels_last"] = qpool("QLinearGlobalAveragePool", I8, (2, 6, 5, 3), channels_last=1)
    c["qlinear_avgpool_u8_pads"] = qpool("QLinearAveragePool", U8, (1, 3, 9, 8), kernel_shape=[3, 2], strides=[2, 2],
                                         pads=[1, 0, 1, 1])
    c["qlinear_avgpool_i8_include_pad_ceil"] = qpool("QLinearAveragePool", I8, (2, 2, 7, 7), kernel_shape=[3, 3], strides=[2, 2],
                                                     pads=[1, 1, 1, 1], count_include_pad=1, ceil_mode=1)
    c["qlinear_avgpool_u8_channels_last"] = qpool("QLinearAveragePool", U8, (1, 6, 5, 4), channels_last=1, kernel_shape=[2, 3],
                                                  auto_pad="SAME_UPPER")
    c["qlinear_leaky_relu_u8"] = qunary("QLinearLeakyRelu", U8, (3, 7, 11), alpha=0.13)
    c["qlinear_leaky_relu_i8_default_alpha"] = qunary("QLinearLeakyRelu", I8, (5, 21))
    c["qlinear_sigmoid_u8"] = qunary("QLinearSigmoid", U8, (4, 9, 7))
    c["qlinear_sigmoid_i8_no_zero_points"] = qunary("QLinearSigmoid", I8, (300,), zero_points=False)
    c["qlinear_softmax_u8_opset13"] = qsoftmax(U8, (3, 4, 10), 13)
    c["qlinear_softmax_i8_axis1_opset13"] = qsoftmax(I8, (2, 9, 5), 13, axis=1)
    c["qlinear_softmax_u8_opset12_default_axis"] = qsoftmax(U8, (3, 2, 6), 12)
    c["qlinear_softmax_i8_opset12_axis1_coerced"] = qsoftmax(I8, (3, 2, 6), 12, axis=1)
    c["qgemm_u8_i8_per_column_bias_transb"] = qgemm(U8, I8, 5, 23, 7, True, True, True, trans_b=1)
    c["qgemm_i8_float_out_transa_alpha"] = qgemm(I8, I8, 4, 19, 6, False, True, False, trans_a=1, alpha=0.5)
    c["qgemm_u8_u8_no_bias"] = qgemm(U8, U8, 3, 31, 9, False, False, True)
    c["dynamic_quantize_matmul_i8_per_column_bias"] = Case(model(
        [ms("DynamicQuantizeMatMul", ["a", "b", "sb", "zb", "bias"], ["y"])], [("a", F, (2, 5, 29))], [("y", F)],
        [("b", weights(I8, 29, 7)), ("sb", scales(7)), ("zb", np.zeros(7, np.int8)), ("bias", rng.standard_normal(7).astype(np.float32))]),
        [rng.standard_normal((2, 5, 29)).astype(np.float32)], INT, ftol=1e-5)
    c["dynamic_quantize_matmul_u8"] = Case(model(
        [ms("DynamicQuantizeMatMul", ["a", "b", "sb", "zb"], ["y"])], [("a", F, (6, 17))], [("y", F)],
        [("b", ints(U8, 17, 3)), ("sb", scalar(0.01)), ("zb", scalar(121, U8))]),
        [(rng.standard_normal((6, 17)) + 0.7).astype(np.float32)], INT, ftol=1e-5)
    c["matmul_integer_to_float_zp_bias"] = Case(model(
        [ms("MatMulIntegerToFloat", ["a", "b", "sa", "sb", "za", "zb", "bias"], ["y"])], [("a", U8, (3, 4, 21))], [("y", F)],
        [("b", weights(I8, 21, 6)), ("sa", scalar(0.02)), ("sb", scales(6)), ("za", scalar(140, U8)), ("zb", np.zeros(6, np.int8)),
         ("bias", rng.standard_normal(6).astype(np.float32))]), [ints(U8, 3, 4, 21)], F32, ftol=1e-5)
    c["matmul_integer_to_float_runtime_scale"] = Case(model(  # a_scale from a graph input
        [ms("MatMulIntegerToFloat", ["a", "b", "sa", "sb"], ["y"])], [("a", I8, (5, 13)), ("sa", F, ())], [("y", F)],
        [("b", ints(I8, 13, 4)), ("sb", scalar(0.03))]), [ints(I8, 5, 13), scalar(0.07)], INT, ftol=1e-5)
    c["ms_quantize_dequantize_per_axis"] = Case(model(
        [ms("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1), ms("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1)],
        [("x", F, (2, 5, 3))], [("y", F), ("q", U8)], [("s", scales(5, 0.01, 0.05)), ("z", zps(U8, 5))]),
        [rng.standard_normal((2, 5, 3)).astype(np.float32)], QDQ, quanta=0.05)
    c["qlinear_mul_runtime_scale"] = Case(model(  # C_scale from a graph input: f32 ops
        [ms("QLinearMul", ["a", "sa", "za", "b", "sb", "zb", "sc", "zc"], ["c"])], [("a", U8, (3, 8)), ("b", U8, (3, 8)), ("sc", F, ())],
        [("c", U8)], [("sa", scalar(0.03)), ("za", scalar(120, U8)), ("sb", scalar(0.02)), ("zb", scalar(135, U8)), ("zc", scalar(128, U8))]),
        [ints(U8, 3, 8), ints(U8, 3, 8), scalar(0.01)], CHAIN)
    # A quantized result read by ONNX ops that work on its integers (MaxPool through f32, Cast):
    # they see the plain integers (a qview); Reshape keeps the quantization.
    c["quantized_value_into_plain_ops"] = Case(model(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
         helper.make_node("MaxPool", ["q"], ["p"], kernel_shape=[2, 2]), helper.make_node("Reshape", ["p", "shape"], ["r"]),
         helper.make_node("DequantizeLinear", ["r", "s", "z"], ["y"]), helper.make_node("Cast", ["q"], ["i"], to=I32)],
        [("x", F, (1, 3, 5, 7))], [("y", F), ("i", I32)],
        [("s", scalar(0.02)), ("z", scalar(-7, I8)), ("shape", np.array([3, 24], np.int64))]),
        [rng.standard_normal((1, 3, 5, 7)).astype(np.float32)], ({"quantize", "dequantize", "qview", "maxpool"}, {"round"}),
        quanta=0.02)
    c["dynamic_quantize_lstm_forward"] = lstm_case("forward", False, I8, False)
    c["dynamic_quantize_lstm_bidirectional_per_channel_u8"] = lstm_case("bidirectional", True, U8, True)
    return c


# ---- models onnxruntime.quantization writes ------------------------------------------------------

def float_nets():
    r = lambda *s: (rng.standard_normal(s) * 0.3).astype(np.float32)
    conv = model([
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[1, 1]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], strides=[2, 2]), helper.make_node("Add", ["c2", "c2b"], ["a"]),
        helper.make_node("Mul", ["a", "k"], ["mm"]), helper.make_node("AveragePool", ["mm"], ["ap"], kernel_shape=[2, 2]),
        helper.make_node("Sigmoid", ["ap"], ["sg"]), helper.make_node("LeakyRelu", ["sg"], ["lr"], alpha=0.2),
        helper.make_node("Concat", ["lr", "ap"], ["cc"], axis=1), helper.make_node("GlobalAveragePool", ["cc"], ["gp"]),
        helper.make_node("Flatten", ["gp"], ["f"]), helper.make_node("Gemm", ["f", "wg", "bg"], ["g"], transB=1),
        helper.make_node("Softmax", ["g"], ["y"])],
        [("x", F, [1, 3, 13, 11])], [("y", F)],
        [("w1", r(5, 3, 3, 3)), ("b1", r(5)), ("w2", r(7, 5, 3, 3)), ("b2", r(7)), ("c2b", r(1, 7, 1, 1)), ("k", r(1, 7, 1, 1)),
         ("wg", r(6, 14)), ("bg", r(6))])
    mm = model([helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["h"]),
                helper.make_node("Relu", ["h"], ["r"]), helper.make_node("Gemm", ["r", "w2", "b2"], ["y"])],
               [("x", F, [4, 17])], [("y", F)], [("w", r(17, 9)), ("b", r(9)), ("w2", r(9, 5)), ("b2", r(5))])
    H, I = 5, 4
    lstm = model([helper.make_node("LSTM", ["x", "W", "R", "B"], ["y", "yh", "yc"], hidden_size=H, direction="bidirectional")],
                 [("x", F, [6, 2, I])], [("y", F), ("yh", F), ("yc", F)],
                 [("W", r(2, 4 * H, I)), ("R", r(2, 4 * H, H)), ("B", r(2, 8 * H))])
    return conv, mm, lstm


def ort_quantized_cases(work):
    """quantize_static (QOperator) and quantize_dynamic on tiny float nets."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)
    import logging
    logging.disable(logging.WARNING)
    conv, mm, lstm = float_nets()
    d = os.path.join(work, "ort_float")
    os.makedirs(d, exist_ok=True)
    paths = {}
    for name, m in (("conv", conv), ("mm", mm), ("lstm", lstm)):
        paths[name] = os.path.join(d, name + ".onnx")
        onnx.save(m, paths[name])

    class Reader(CalibrationDataReader):
        def __init__(self, name, shape):
            self.it = iter([{name: rng.standard_normal(shape).astype(np.float32)} for _ in range(6)])

        def get_next(self):
            return next(self.it, None)

    c = {}
    for net, shape in (("conv", [1, 3, 13, 11]), ("mm", [4, 17])):
        for pc, at, wt in ((False, QuantType.QUInt8, QuantType.QInt8), (True, QuantType.QInt8, QuantType.QInt8),
                           (True, QuantType.QUInt8, QuantType.QUInt8)):
            name = f"ort_static_{net}_{'per_channel' if pc else 'per_tensor'}_{at.name}_{wt.name}"
            out = os.path.join(d, name + ".onnx")
            # reduce_range: 7-bit weights for u8 activations (see weights())
            quantize_static(paths[net], out, Reader("x", shape), quant_format=QuantFormat.QOperator, per_channel=pc,
                            activation_type=at, weight_type=wt, reduce_range=at == QuantType.QUInt8)
            m = onnx.load(out)
            last = [n for n in m.graph.node if n.output[0] == m.graph.output[0].name][0]
            sy = [numpy_helper.to_array(t) for t in m.graph.initializer if t.name == last.input[1]][0]
            c[name] = Case(m, [rng.standard_normal(shape).astype(np.float32)], QDQ, quanta=float(sy))
    for net, shape, wt in (("mm", [4, 17], QuantType.QInt8), ("conv", [1, 3, 13, 11], QuantType.QUInt8)):
        name = f"ort_dynamic_{net}_{wt.name}"
        out = os.path.join(d, name + ".onnx")
        quantize_dynamic(paths[net], out, weight_type=wt, reduce_range=wt == QuantType.QInt8)
        # DynamicQuantizeLinear's scale is computed at run time: f32 ops (round) beside the weights' dequantize
        # MatMulInteger and ConvInteger after DynamicQuantizeLinear: matmul_integer, conv_integer
        ir = INT if net == "mm" else ({"conv_integer"}, {"conv"})
        c[name] = Case(onnx.load(out), [rng.standard_normal(shape).astype(np.float32)], ir, ftol=1e-5)
    out = os.path.join(d, "ort_dynamic_lstm.onnx")
    quantize_dynamic(paths["lstm"], out, reduce_range=True)
    m = onnx.load(out)
    assert [n.op_type for n in m.graph.node] == ["DynamicQuantizeLSTM"], [n.op_type for n in m.graph.node]
    c["ort_dynamic_lstm"] = Case(m, [rng.standard_normal((6, 2, 4)).astype(np.float32)], LSTM_IR, ftol=1e-5,
                                 np_ref=lstm_reference(m), loose=1e-4)
    return c


def refusal_cases():
    """name -> (model, regex the one error line must match): inputs the ops'
    specs do not allow get `kiln: error: FILE: node 'NAME' (OP): reason`."""
    x = [("x", U8, (2, 3))]
    s, z = scalar(0.1), scalar(3, U8)
    c = {}
    c["qlinear_concat_not_triples"] = (model(
        [ms("QLinearConcat", ["s", "z", "x", "s", "z", "x", "s"], ["y"], axis=0, name="cat")], x, [("y", U8)], [("s", s), ("z", z)]),
        r"node 'cat' \(QLinearConcat\): takes Y_scale, Y_zero_point, then \(tensor, scale, zero point\) triples")
    c["qlinear_add_per_axis_scale"] = (model(
        [ms("QLinearAdd", ["x", "s3", "z", "x", "s", "z", "s", "z"], ["y"], name="add")], x, [("y", U8)],
        [("s", s), ("z", z), ("s3", np.full(3, 0.1, np.float32))]),
        r"node 'add' \(QLinearAdd\): input 1 \('s3'\) must be a scalar")
    c["qlinear_add_missing_b_scale"] = (model(
        [ms("QLinearAdd", ["x", "s", "z", "x", "", "z", "s", "z"], ["y"], name="add2")], x, [("y", U8)], [("s", s), ("z", z)]),
        r"node 'add2' \(QLinearAdd\): input 4 is required but empty")
    c["qlinear_softmax_no_opset"] = (model(
        [ms("QLinearSoftmax", ["x", "s", "z", "s", "z"], ["y"], name="sm")], x, [("y", U8)], [("s", s), ("z", z)]),
        r"node 'sm' \(QLinearSoftmax\): attribute 'opset' is required")
    c["qlinear_sigmoid_float_input"] = (model(
        [ms("QLinearSigmoid", ["f", "s", "z", "s", "z"], ["y"], name="sig")], [("f", F, (4,))], [("y", U8)], [("s", s), ("z", z)]),
        r"node 'sig' \(QLinearSigmoid\): X has dtype f32; QLinearSigmoid takes int8 or uint8")
    c["dynamic_quantize_lstm_no_scales"] = (model(
        [ms("DynamicQuantizeLSTM", ["f", "w", "w"], ["y"], hidden_size=1, name="lstm")], [("f", F, (2, 1, 3))], [("y", F)],
        [("w", ints(I8, 1, 3, 4))]),
        r"node 'lstm' \(DynamicQuantizeLSTM\): input 8 is required but empty")
    return c


def saved(work, name, m):
    """m saved as model.onnx in a fresh work/name; (the folder, the path)."""
    d = os.path.join(work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    path = os.path.join(d, "model.onnx")
    onnx.save(m, path)
    return d, path


def check_refusal(kiln, work, name, m, pattern):
    import re
    d, path = saved(work, name, m)
    p = subprocess.run([kiln, "dump", path], capture_output=True, text=True)
    lines = p.stderr.strip().splitlines()
    ok = p.returncode == 1 and len(lines) == 1 and re.search(r"^kiln: error: .*model\.onnx: " + pattern, lines[0])
    return bool(ok), "" if ok else f"exit {p.returncode}: {p.stderr.strip()}"


# ---- running and comparing -----------------------------------------------------------------------

def kiln_run(kiln, path, d, feeds, n_out):
    args = [kiln, "run", path, "--output-dir", os.path.join(d, "out")]
    for i, x in enumerate(feeds):
        p = os.path.join(d, f"input_{i}.npy")
        np.save(p, x)
        args += ["--input", p]
    kt.run(args)
    outs = []
    for i in range(n_out):
        t = onnx.TensorProto()
        with open(os.path.join(d, "out", f"output_{i}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        outs.append(numpy_helper.to_array(t))
    return outs


def compare(case, outs, refs):
    worst = 0.0
    for i, (g, r) in enumerate(zip(outs, refs)):
        if g.shape != r.shape or g.dtype != r.dtype:
            return f"output {i}: got {g.dtype}{list(g.shape)}, expected {r.dtype}{list(r.shape)}", worst
        if r.dtype.kind in "iu":
            if case.exact:
                why = "" if np.array_equal(g, r) else f"{int((g != r).sum())} of {r.size} differ"
            else:
                why = kt.within_quanta(g, r)
            worst = max(worst, float(np.abs(g.astype(np.int64) - r.astype(np.int64)).max()))
        elif case.quanta:
            why = kt.within_quanta(g, r, case.quanta)
            worst = max(worst, float(np.abs(g - r).max() / case.quanta))
        else:
            e = kt.rel_err(g, r)
            why = f"rel err {e:.2e} > {case.ftol}" if e > case.ftol else ""
            worst = max(worst, e)
        if why:
            return f"output {i}: {why}", worst
    return "", worst


def check_ir(kiln, path, want):
    must, must_not = want
    ops = kt.ir_ops_in(kt.run([kiln, "dump", "--passes=none", path]).stdout)
    missing, extra = must - ops, must_not & ops
    if missing or extra:
        return f"imported IR lacks {sorted(missing)} / has {sorted(extra)}: {sorted(ops)}"
    return ""


def run_case(kiln, work, name, case):
    d, path = saved(work, name, case.m)
    ref_path = path
    if case.ref is not None:
        ref_path = os.path.join(d, "reference.onnx")
        onnx.save(case.ref, ref_path)
    if case.np_ref:
        refs = case.np_ref(case.feeds)
    else:
        refs = kt.ort_run(ref_path, case.feeds)
    outs = kiln_run(kiln, path, d, case.feeds, len(refs))
    why, worst = compare(case, outs, refs)
    detail = f"(worst {worst:.3g})"
    if not why and case.loose:  # and the op itself, loosely (see the docstring)
        why, w2 = compare(Case(None, None, ftol=case.loose), outs, kt.ort_run(path, case.feeds))
        detail += f" (vs onnxruntime's own op {w2:.3g})"
    if not why:
        why = check_ir(kiln, path, case.ir)
    if not why and not kt.roundtrip(kiln, path, d):
        why = "kiln dump: print -> parse -> print is not byte-identical"
    return not why, why or detail, d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kiln")
    ap.add_argument("workdir")
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    global WORK
    WORK = a.workdir
    t0 = time.time()
    cases = {**standard_cases(), **microsoft_cases(), **ort_quantized_cases(a.workdir)}
    results = []
    seen = set()  # IR ops the passing cases compiled (tests/e2e/check_op_coverage.py)
    for name, case in cases.items():
        if a.only and a.only not in name:
            continue
        try:
            ok, detail, d = run_case(a.kiln, a.workdir, name, case)
            for kir in ("imported.kir", "optimized.kir"):
                if ok:
                    with open(os.path.join(d, kir)) as f:
                        seen |= kt.ir_ops_in(f.read())
        except kt.Failure as e:
            ok, detail = False, str(e).strip().replace("\n", "\n    ")
        except Exception as e:  # an oracle problem fails this case only
            ok, detail = False, f"{type(e).__name__}: {e}"
        results.append((name, ok, detail))
    for name, (m, pattern) in refusal_cases().items():
        if not a.only or a.only in name:
            results.append((name,) + check_refusal(a.kiln, a.workdir, name, m, pattern))
    if not a.only:
        with open(os.path.join(a.workdir, "ops-tested.txt"), "w") as f:
            f.write("\n".join(sorted(seen)) + "\n")
    print(f"{len(results)} cases in {time.time() - t0:.0f} s")
    sys.exit(kt.report(results))


if __name__ == "__main__":
    main()
