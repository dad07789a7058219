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
    for n in g.node:
        for i, v in enumerate(n.input):
            if v == q.output[0]:
                n.input[i] = x.name
    x.type.tensor_type.elem_type = TP.INT8
    y = g.output[0]
    dq = next(n for n in g.node if n.op_type == "DequantizeLinear" and n.output[0] == y.name)
    for n in g.node:
        for i, v in enumerate(n.output):
            if v == dq.input[0]:
                n.output[i] = y.name
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
