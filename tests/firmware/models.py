"""The firmware tests' models, built without torch: the DS-CNN
keyword-spotting network of tests/e2e/zoo.py (KwsDsCnn: MLPerf Tiny's
shape, 49x10 MFCC in, 64 channels, four depthwise-separable blocks, 12
classes) written with the onnx helper API, batch norms folded into the
convolutions as PyTorch's exporter folds them in eval mode, random weights
from a fixed seed; and its int8 form by onnxruntime's quantize_static (QDQ,
int8 activations, per-channel int8 weights, calibrated on a few inputs)."""
import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper as oh
from onnx import numpy_helper as nh

DSCNN_INPUT = (1, 1, 49, 10)


def _conv_bn(rng, cout, cin_g, kh, kw):
    """Conv weights and bias with a random batch norm folded in."""
    fan = cin_g * kh * kw
    w = rng.uniform(-1, 1, (cout, cin_g, kh, kw)).astype(np.float32) / np.sqrt(fan)
    b = rng.uniform(-1, 1, cout).astype(np.float32) / np.sqrt(fan)
    gamma = rng.uniform(0.75, 1.25, cout)
    beta = rng.standard_normal(cout) * 0.1
    mean = rng.standard_normal(cout) * 0.1
    var = rng.uniform(0.75, 1.25, cout)
    k = gamma / np.sqrt(var + 1e-5)
    return (w * k[:, None, None, None]).astype(np.float32), ((b - mean) * k + beta).astype(np.float32)


def dscnn_float(path, ch=64, blocks=4, classes=12, seed=0):
    """Write the float DS-CNN to path."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []

    def conv(x, name, cout, cin_g, k, stride, pads, group):
        w, b = _conv_bn(rng, cout, cin_g, *k)
        inits.extend([nh.from_array(w, name + ".w"), nh.from_array(b, name + ".b")])
        nodes.append(oh.make_node("Conv", [x, name + ".w", name + ".b"], [name], name=name, kernel_shape=list(k),
                                  strides=list(stride), pads=pads, group=group))
        nodes.append(oh.make_node("Relu", [name], [name + ".relu"], name=name + ".relu"))
        return name + ".relu"

    x = conv("input", "conv0", ch, 1, (10, 4), (2, 2), [5, 1, 5, 1], 1)
    for i in range(blocks):
        x = conv(x, f"dw{i}", ch, 1, (3, 3), (1, 1), [1, 1, 1, 1], ch)
        x = conv(x, f"pw{i}", ch, ch, (1, 1), (1, 1), [0, 0, 0, 0], 1)
    nodes.append(oh.make_node("GlobalAveragePool", [x], ["pool"], name="pool"))
    nodes.append(oh.make_node("Flatten", ["pool"], ["flat"], name="flat", axis=1))
    fw = (rng.uniform(-1, 1, (classes, ch)) / np.sqrt(ch)).astype(np.float32)
    fb = (rng.uniform(-1, 1, classes) / np.sqrt(ch)).astype(np.float32)
    inits.extend([nh.from_array(fw, "fc.w"), nh.from_array(fb, "fc.b")])
    nodes.append(oh.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["output"], name="fc", transB=1))
    g = oh.make_graph(nodes, "kws_dscnn", [oh.make_tensor_value_info("input", TP.FLOAT, list(DSCNN_INPUT))],
                      [oh.make_tensor_value_info("output", TP.FLOAT, [1, classes])], inits)
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)


def dscnn_input(seed):
    """One MFCC-like input: unit normal."""
    return np.random.default_rng(seed).standard_normal(DSCNN_INPUT).astype(np.float32)


def quantize_qdq(float_path, path, inputs):
    """onnxruntime's quantize_static: QDQ, int8 activations and per-channel
    int8 (symmetric) weights, calibrated (min/max) on inputs."""
    import logging

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process: the model has nothing to fold

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": x} for x in inputs])

        def get_next(self):
            return next(self.it, None)

    quantize_static(float_path, path, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)


def _rename(g, field, old, new):
    """Every node's input (or output) named old now names new."""
    for n in g.node:
        names = getattr(n, field)
        for i, v in enumerate(names):
            if v == old:
                names[i] = new


def int8_io(qdq_path, path):
    """The QDQ model with its first QuantizeLinear and last DequantizeLinear
    taken off, as firmware feeds it: int8 in, int8 out (no float left on
    the path, so a core without an FPU runs it).  Returns the input's
    (scale, zero point)."""
    m = onnx.load(qdq_path)
    g = m.graph
    inits = {t.name: nh.to_array(t) for t in g.initializer}
    x = g.input[0]
    q = next(n for n in g.node if n.op_type == "QuantizeLinear" and n.input[0] == x.name)
    _rename(g, "input", q.output[0], x.name)
    x.type.tensor_type.elem_type = TP.INT8
    y = g.output[0]
    dq = next(n for n in g.node if n.op_type == "DequantizeLinear" and n.output[0] == y.name)
    _rename(g, "output", dq.input[0], y.name)
    y.type.tensor_type.elem_type = TP.INT8
    keep = [n for n in g.node if n is not q and n is not dq]
    del g.node[:]
    g.node.extend(keep)
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return float(inits[q.input[1]]), int(inits[q.input[2]])


def quantize(x, scale, zero):
    """ONNX QuantizeLinear to int8: round half to even, saturate."""
    return np.clip(np.rint(x / np.float32(scale)) + zero, -128, 127).astype(np.int8)


# ---- single-op integer models for the kernel tests -------------------------------------------

_NP = {"i8": (np.int8, TP.INT8), "u8": (np.uint8, TP.UINT8)}


def _qdq_op(path, x_shape, dt, sx, zx, op, w, sw, zw, w_axis, bias, attrs, y_shape, sy, zy, relu):
    """int8/uint8 x -> DequantizeLinear -> op(x, DequantizeLinear(w) [, bias as
    DequantizeLinear of int32]) [-> Relu] -> QuantizeLinear -> y: what the
    qdq pass turns into one integer node."""
    npdt, tdt = _NP[dt]
    sw = np.asarray(sw, np.float32)
    inits = [nh.from_array(np.float32(sx), "sx"), nh.from_array(npdt(zx), "zx"), nh.from_array(w, "w"),
             nh.from_array(sw, "sw"), nh.from_array(np.asarray(zw, w.dtype).reshape(sw.shape), "zw"),
             nh.from_array(np.float32(sy), "sy"), nh.from_array(npdt(zy), "zy")]
    kw = {} if sw.ndim == 0 else {"axis": w_axis}
    nodes = [oh.make_node("DequantizeLinear", ["x", "sx", "zx"], ["xd"]),
             oh.make_node("DequantizeLinear", ["w", "sw", "zw"], ["wd"], **kw)]
    ins = ["xd", "wd"]
    if bias is not None:
        inits += [nh.from_array(bias.astype(np.int32), "b"), nh.from_array((np.float32(sx) * sw).astype(np.float32), "sb"),
                  nh.from_array(np.zeros(sw.shape, np.int32), "zb")]
        nodes.append(oh.make_node("DequantizeLinear", ["b", "sb", "zb"], ["bd"], **({} if sw.ndim == 0 else {"axis": 0})))
        ins.append("bd")
    nodes.append(oh.make_node(op, ins, ["yf"], **attrs))
    last = "yf"
    if relu:
        nodes.append(oh.make_node("Relu", ["yf"], ["yr"]))
        last = "yr"
    nodes.append(oh.make_node("QuantizeLinear", [last, "sy", "zy"], ["y"]))
    g = oh.make_graph(nodes, "k", [oh.make_tensor_value_info("x", tdt, list(x_shape))],
                      [oh.make_tensor_value_info("y", tdt, list(y_shape))], inits)
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 19)])
    onnx.checker.check_model(m)
    onnx.save(m, path)


def _conv_out(n, k, s, d, p0, p1):
    return (n + p0 + p1 - d * (k - 1) - 1) // s + 1


def conv_case(path, seed, dt, x_shape, m, k, stride=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1), group=1,
              per_channel=True, zw=0, relu=False, sx=0.04, sy=0.05, pow2=False, sw_spread=False, big_bias=False):
    """A quantized Conv of any rank-4 (or rank-3: k, stride, dil of one) geometry.  sw_spread: the
    channels' weight scales over a factor 2^10 (the largest multiplier near 0.3); big_bias:
    biases near 2^26 (scaled down by the output scale)."""
    rng = np.random.default_rng(seed)
    npdt = _NP[dt][0]
    nsp = len(x_shape) - 2
    cin = x_shape[1]
    w = rng.integers(-100, 101, size=(m, cin // group, *k)).astype(np.int8)
    sw = rng.uniform(0.002, 0.02, m).astype(np.float32) if per_channel else np.float32(0.01)
    if pow2:  # exact powers of two: multipliers on ties, the generic requantization
        sx, sw, sy = 2.0 ** -4, np.float32(2.0 ** -6), 2.0 ** -3
    bias = rng.integers(-3000, 3001, m).astype(np.int32)
    if sw_spread:
        sw = (0.02 * 2.0 ** (-10 * np.arange(m) / max(m - 1, 1))).astype(np.float32)
        sy = sx * 0.02 / 0.3
    if big_bias:
        bias = (rng.choice([-1, 1], m) * (2 ** 26 + rng.integers(0, 2 ** 20, m))).astype(np.int32)
        sy = sx * float(np.max(sw)) * 2 ** 19
    ys = [_conv_out(x_shape[2 + i], k[i], stride[i], dil[i], pads[i], pads[nsp + i]) for i in range(nsp)]
    zx, zy = (128, 120) if dt == "u8" else (3, -5)
    if relu:
        zy = 0 if dt == "u8" else -128
    _qdq_op(path, x_shape, dt, sx, zx, "Conv", w, sw, np.zeros(np.shape(sw), np.int8) + zw, 0, bias,
            dict(kernel_shape=list(k), strides=list(stride), pads=list(pads), dilations=list(dil), group=group),
            [x_shape[0], m, *ys], sy, zy, relu)
    lo, hi = np.iinfo(npdt).min, np.iinfo(npdt).max
    return rng.integers(lo, hi + 1, size=x_shape).astype(npdt)


def gemm_case(path, seed, dt, rows, k, n, trans_b=True, bias=True, op="Gemm", a_shape=None):
    """A quantized Gemm (B constant, per-column scales) or MatMul (a_shape: A's shape)."""
    rng = np.random.default_rng(seed)
    npdt = _NP[dt][0]
    w = rng.integers(-127, 128, size=(n, k) if trans_b else (k, n)).astype(np.int8)
    sw = rng.uniform(0.002, 0.02, n).astype(np.float32)
    zx, zy = (128, 100) if dt == "u8" else (-7, 2)
    a_shape = a_shape or (rows, k)
    y_shape = (*a_shape[:-1], n)
    attrs = dict(transB=1) if op == "Gemm" and trans_b else {}
    _qdq_op(path, a_shape, dt, 0.05, zx, op, w, sw, np.zeros(n, np.int8), 0 if trans_b else 1,
            rng.integers(-2000, 2001, n).astype(np.int32) if bias else None, attrs, y_shape, 0.1, zy, False)
    lo, hi = np.iinfo(npdt).min, np.iinfo(npdt).max
    return rng.integers(lo, hi + 1, size=a_shape).astype(npdt)


# ---- the library-call sweep ------------------------------------------------------------------

def libcall_sweep(path, seed=0, int64=False):
    """One float input through every lowering family that could reach for
    libm or a compiler helper (square roots, exp/log/trig polynomials,
    rounding, fmod, reductions, norms, pooling, resize, integer casts and
    division), each result a graph output so no pass can drop it.  The
    object-scan test compiles it for every target at every -O.  int64: the
    model's own 64-bit integer division and int64 <-> float casts instead,
    which a 32-bit core does with compiler-runtime helpers."""
    rng = np.random.default_rng(seed)
    x = oh.make_tensor_value_info("x", TP.FLOAT, [1, 4, 5, 7])
    nodes, inits, outs = [], [], []

    def out(name, op, ins, **attrs):
        nodes.append(oh.make_node(op, ins, [name], name=name, **attrs))
        outs.append(name)

    def init(name, a):
        inits.append(nh.from_array(np.asarray(a), name))
        return name

    nodes.append(oh.make_node("Abs", ["x"], ["ax"], name="ax"))
    for op in ["Sqrt", "Exp", "Log", "Sin", "Cos", "Tan", "Atan", "Tanh", "Sigmoid", "Erf", "Floor", "Ceil",
               "Round", "Reciprocal", "Softplus", "Elu", "Mish", "Sinh", "Asinh"]:
        out(op.lower(), op, ["ax" if op in ("Sqrt", "Log") else "x"])
    out("pow", "Pow", ["ax", init("p", np.float32(1.7))])
    out("fmod", "Mod", ["x", init("md", np.float32(0.3))], fmod=1)
    out("div", "Div", ["x", init("dv", rng.uniform(1, 2, (1, 4, 1, 1)).astype(np.float32))])
    out("softmax", "Softmax", ["x"], axis=-1)
    out("lsm", "LogSoftmax", ["x"], axis=1)
    out("ln", "LayerNormalization", ["x", init("lg", rng.uniform(0.5, 1.5, 7).astype(np.float32)),
                                     init("lb", rng.uniform(-1, 1, 7).astype(np.float32))], axis=-1)
    out("inorm", "InstanceNormalization", ["x", init("ig", np.ones(4, np.float32)), init("ib", np.zeros(4, np.float32))])
    out("l2", "ReduceL2", ["x", init("a23", np.array([2, 3], np.int64))], keepdims=1)
    out("lpn", "LpNormalization", ["x"], axis=1, p=2)
    out("mean", "ReduceMean", ["x", init("a3", np.array([3], np.int64))], keepdims=0)
    out("lse", "ReduceLogSumExp", ["x", init("a1", np.array([1], np.int64))], keepdims=1)
    out("maxp", "MaxPool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    out("avgp", "AveragePool", ["x"], kernel_shape=[2, 3], strides=[2, 2], pads=[0, 1, 1, 1], count_include_pad=0)
    out("lpp", "LpPool", ["x"], kernel_shape=[2, 2], p=2)
    out("resize", "Resize", ["x", "", init("rs", np.array([1, 1, 1.5, 0.75], np.float32))], mode="linear")
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    out("conv", "Conv", ["x", init("cw", w), init("cb", rng.standard_normal(6).astype(np.float32))], pads=[1, 1, 1, 1])
    nodes.append(oh.make_node("Reshape", ["x", init("rsh", np.array([4, 35], np.int64))], ["x2"], name="x2"))
    out("gemm", "Gemm", ["x2", init("gw", rng.standard_normal((35, 9)).astype(np.float32))])
    nodes.append(oh.make_node("Cast", ["x"], ["xi"], name="xi", to=TP.INT32))
    out("idiv", "Div", ["xi", init("id", np.array([3], np.int32))])
    out("imod", "Mod", ["xi", init("im", np.array([-5], np.int32))])
    out("argmax", "ArgMax", ["x"], axis=1, keepdims=0)
    if int64:
        del nodes[:], outs[:]
        nodes.append(oh.make_node("Cast", ["x"], ["xl"], name="xl", to=TP.INT64))
        out("ldiv", "Div", ["xl", init("ld", np.array([7], np.int64))])
        out("lmod", "Mod", ["xl", init("lo", np.array([-3], np.int64))])
        out("lmul", "Mul", ["xl", init("lm", np.array([1 << 33], np.int64))])
        out("tofl", "Cast", ["xl"], to=TP.FLOAT)
    out("cumsum", "CumSum", ["x", init("ca", np.array(3, np.int64))])
    g = oh.make_graph(nodes, "libcall_sweep", [x], [oh.make_tensor_value_info(o, TP.UNDEFINED, None) for o in outs],
                      inits)
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 18)])
    m.ir_version = 8
    m = onnx.shape_inference.infer_shapes(m)
    onnx.save(m, path)
