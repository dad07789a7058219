"""The int8 tests' oracle: onnx's reference evaluator, with every quantized
op computed in float64 from its specification, DequantizeLinear -> op ->
QuantizeLinear, rounding half to even and saturating only at the end.

Why float64: a quantized network amplifies rounding.  One difference in
the last bit upstream flips a requantized value, and the flip spreads.
Measured on MobileNetV2 QDQ (int8_models' crops): two correct float32
evaluations, onnx's evaluator and onnxruntime without optimizations, or
the evaluator in float32 and in float64, differ by up to 8 quanta, half
the outputs more than one apart.  In float64 the reference is exact up to
each requantization's rounding, which exact integer kernels match but at
ties.  onnxruntime is no oracle for the QOperator format either: on an
AVX2 machine without VNNI its u8 x s8 kernels (vpmaddubsw) saturate pairs
of products (ResNet-18 QOperator: up to 19 quanta from the float64
reference of the same quantization in QDQ form).

Here: DequantizeLinear in float64 (it also stands in for opsets 10 and 13,
which onnx 1.17's evaluator lacks); QLinearConv and QLinearMatMul (onnx
1.17's QLinearConv applies per-channel weight scales along the wrong axis);
the com.microsoft ops onnxruntime's quantizer writes in QOperator format
(QLinearAdd, QLinearMul, QLinearGlobalAveragePool, QLinearConcat,
QLinearSigmoid, QLinearLeakyRelu, QGemm) and DynamicQuantizeLSTM (with
exact integer products, which onnxruntime's AVX2 kernel lacks: its class
says).  A model with another com.microsoft op needs onnxruntime: `covers`
says."""
import numpy as np
from onnx.reference.op_run import OpRun
from onnx.reference.ops_optimized.op_conv_optimized import _conv_implementation_im2col


def _f64(v):
    return np.asarray(v, dtype=np.float64)


def _along(v, rank, axis):
    """A per-axis vector shaped to broadcast along `axis` of a rank-`rank`
    tensor; a scalar (or one element) as it is."""
    v = _f64(v)
    if v.size <= 1:
        return v.reshape(())
    shape = [1] * rank
    shape[axis % rank] = v.size
    return v.reshape(shape)


def dq(x, scale, zp=None, axis=1):
    """DequantizeLinear in float64."""
    y = x.astype(np.float64)
    if zp is not None:
        y = y - _along(zp, x.ndim, axis)
    return y * _along(scale, x.ndim, axis)


def q(x, scale, zp):
    """QuantizeLinear of a float64 tensor: x / scale rounded half to even,
    plus the zero point, saturated to the zero point's type (per tensor)."""
    info = np.iinfo(zp.dtype)
    y = np.rint(_f64(x) / _f64(scale).reshape(())) + _f64(zp).reshape(())
    return np.clip(y, info.min, info.max).astype(zp.dtype)


class DequantizeLinear(OpRun):
    op_domain = ""

    def _run(self, x, x_scale, x_zero_point=None, axis=None, block_size=None):
        if block_size:
            raise NotImplementedError("blocked DequantizeLinear")
        return (dq(x, x_scale, x_zero_point, 1 if axis is None else axis),)


class QLinearConv(OpRun):
    op_domain = ""

    def _run(self, x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B=None, auto_pad=None, dilations=None,
             group=None, kernel_shape=None, pads=None, strides=None):
        X, W = dq(x, x_scale, x_zp), dq(w, w_scale, w_zp, 0)
        bias = None if B is None else B.astype(np.float64) * _f64(x_scale) * _f64(w_scale)
        Y = _conv_implementation_im2col(X, W, bias, auto_pad or self.auto_pad, dilations or self.dilations,
                                 group or self.group, kernel_shape or self.kernel_shape, pads or self.pads,
                                 strides or self.strides)
        return (q(Y, y_scale, y_zp),)


class QLinearMatMul(OpRun):
    op_domain = ""

    def _run(self, a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp):
        return (q(np.matmul(dq(a, a_scale, a_zp, -1), dq(b, b_scale, b_zp, -1)), y_scale, y_zp),)


class _Microsoft(OpRun):
    op_domain = "com.microsoft"

    def attr(self, name, default):
        return getattr(self, name, default)


class QLinearAdd(_Microsoft):
    def _run(self, a, a_s, a_zp, b, b_s, b_zp, c_s, c_zp):
        return (q(dq(a, a_s, a_zp) + dq(b, b_s, b_zp), c_s, c_zp),)


class QLinearMul(_Microsoft):
    def _run(self, a, a_s, a_zp, b, b_s, b_zp, c_s, c_zp):
        return (q(dq(a, a_s, a_zp) * dq(b, b_s, b_zp), c_s, c_zp),)


class QLinearGlobalAveragePool(_Microsoft):
    def _run(self, x, x_s, x_zp, y_s, y_zp, **_):
        axes = tuple(range(1, x.ndim - 1)) if self.attr("channels_last", 0) else tuple(range(2, x.ndim))
        return (q(dq(x, x_s, x_zp).mean(axis=axes, keepdims=True), y_s, y_zp),)


class QLinearConcat(_Microsoft):
    def _run(self, y_s, y_zp, *xs, **_):
        parts = [dq(xs[i], xs[i + 1], xs[i + 2]) for i in range(0, len(xs), 3)]
        return (q(np.concatenate(parts, axis=self.attr("axis", 0)), y_s, y_zp),)


class QLinearSigmoid(_Microsoft):
    def _run(self, x, x_s, x_zp, y_s, y_zp):
        return (q(1 / (1 + np.exp(-dq(x, x_s, x_zp))), y_s, y_zp),)


class QLinearLeakyRelu(_Microsoft):
    def _run(self, x, x_s, x_zp, y_s, y_zp, **_):
        v = dq(x, x_s, x_zp)
        return (q(np.where(v >= 0, v, self.attr("alpha", 0.01) * v), y_s, y_zp),)


class QGemm(_Microsoft):
    """Y = alpha A'B' + C, C int32 at scale a_s * b_s (zero point 0);
    quantized when y_scale is given, else float32."""

    def _run(self, a, a_s, a_zp, b, b_s, b_zp, c=None, y_s=None, y_zp=None, **_):
        ta, tb = self.attr("transA", 0), self.attr("transB", 0)
        A = dq(a, a_s, a_zp)
        B = dq(b, b_s, b_zp, 0 if tb else 1)  # per output column
        y = self.attr("alpha", 1.0) * (A.T if ta else A) @ (B.T if tb else B)
        if c is not None:
            y = y + c.astype(np.float64) * _f64(a_s) * _f64(b_s).reshape(-1)
        if y_s is None:
            return (y.astype(np.float32),)
        return (q(y, y_s, y_zp if y_zp is not None else np.zeros((), np.uint8)),)


def dynamic_quantize(x):
    """onnxruntime's run-time quantization of a float32 block (its
    GetQuantizationParameter, DynamicQuantizeLinear's arithmetic): u8 over
    the range of x widened to hold 0, scale 1 when that range is empty."""
    x = np.asarray(x, np.float32)
    lo, hi = np.float32(min(x.min(), 0)), np.float32(max(x.max(), 0))
    scale = np.float32(1) if hi == lo else np.float32((hi - lo) / np.float32(255))
    zp = np.clip(np.rint(-lo / scale), 0, 255)
    return np.clip(np.rint(x / scale) + zp, 0, 255).astype(np.int64), scale, int(zp)


def int_product(a, w, w_scale, w_zp):
    """a (float32 [rows, K]) quantized at run time times int8 w [K, N], the
    products summed exactly in integers, scaled to float32 by the
    activation's scale times the weights' (one, or one per column)."""
    aq, sa, za = dynamic_quantize(a)
    acc = (aq - za) @ (w.astype(np.int64) - np.asarray(w_zp, np.int64).reshape(-1))
    return acc.astype(np.float32) * (sa * np.asarray(w_scale, np.float32).reshape(-1))


def dynamic_quantize_lstm(X, W, R, B=None, h0=None, c0=None, W_scale=None, W_zp=None, R_scale=None, R_zp=None,
                          direction="forward", input_forget=0):
    """onnxruntime's DynamicQuantizeLSTM (W [dirs, in, 4h], R [dirs, h, 4h]
    8-bit; gates i, o, f, c), as its CPU kernel computes it, in float32, but
    with exact integer products: per direction X quantized at run time
    once for all steps, the hidden state before each step; gates = X W +
    H R + (Wb + Rb).  onnxruntime itself is no oracle here: on an AVX2 CPU
    without VNNI its u8 x s8 kernel (vpmaddubsw) saturates pairs of
    products at 16 bits, and int8 weights of full range overflow them
    (lstm_dyn: a numpy copy of that saturation gives onnxruntime's outputs
    to 2e-7, the exact products differ by up to 0.02 in Y after 16 steps).
    Default activations, no sequence_lens, peepholes or clip.  Returns Y,
    Y_h, Y_c."""
    X = np.asarray(X, np.float32)
    S, Bt, _ = X.shape
    dirs, h = W.shape[0], R.shape[1]
    sig = lambda v: np.float32(1) / (np.float32(1) + np.exp(-v))
    Y = np.zeros((S, dirs, Bt, h), np.float32)
    Yh, Yc = np.zeros((dirs, Bt, h), np.float32), np.zeros((dirs, Bt, h), np.float32)
    per = lambda v, d: np.reshape(v, (dirs, -1))[d]
    for d in range(dirs):
        back = direction == "reverse" or d == 1
        bias = np.zeros(4 * h, np.float32) if B is None else (B[d, :4 * h] + B[d, 4 * h:]).astype(np.float32)
        H = np.zeros((Bt, h), np.float32) if h0 is None else np.asarray(h0[d], np.float32)
        C = np.zeros((Bt, h), np.float32) if c0 is None else np.asarray(c0[d], np.float32)
        steps = list(range(S - 1, -1, -1) if back else range(S))
        xs = np.stack([X[t] for t in steps]).reshape(S * Bt, -1)
        XW = int_product(xs, W[d], per(W_scale, d), per(W_zp, d)).reshape(S, Bt, 4 * h)
        for k, t in enumerate(steps):
            g = XW[k] + int_product(H, R[d], per(R_scale, d), per(R_zp, d))
            g = g + bias
            i, o, f, c = (g[:, j * h:(j + 1) * h] for j in range(4))
            it = sig(i)
            ft = np.float32(1) - it if input_forget else sig(f)
            C = ft * C + it * np.tanh(c)
            H = sig(o) * np.tanh(C)
            Y[t, d] = H
        Yh[d], Yc[d] = H, C
    return Y, Yh, Yc


class DynamicQuantizeLSTM(_Microsoft):
    """dynamic_quantize_lstm as an operator of the evaluator."""

    def _run(self, X, W, R, B=None, seq_lens=None, h0=None, c0=None, P=None, W_scale=None, W_zp=None, R_scale=None,
             R_zp=None, **_):
        if seq_lens is not None or P is not None or self.attr("activations", None) or self.attr("clip", None):
            raise NotImplementedError("DynamicQuantizeLSTM with sequence_lens, peepholes, activations or clip")
        direction = self.attr("direction", "forward")
        direction = direction.decode() if isinstance(direction, bytes) else direction
        return dynamic_quantize_lstm(X, W, R, B, h0, c0, W_scale, W_zp, R_scale, R_zp, direction,
                                     self.attr("input_forget", 0))


OPS = [DequantizeLinear, QLinearConv, QLinearMatMul, QLinearAdd, QLinearMul, QLinearGlobalAveragePool,
       QLinearConcat, QLinearSigmoid, QLinearLeakyRelu, QGemm, DynamicQuantizeLSTM]


def covers(model):
    """Whether the evaluator with OPS runs every node of the model."""
    ms = {c.__name__ for c in OPS if c.op_domain == "com.microsoft"}
    return all(n.domain in ("", "ai.onnx") or (n.domain == "com.microsoft" and n.op_type in ms)
               for n in model.graph.node)


def widen_float_constants(model):
    """float32 initializers and Constant values to float64, so that float
    ops reading a float64 result and a constant (GELU's Div by sqrt 2,
    LayerNorm's scale) see one type: the evaluator checks."""
    from onnx import TensorProto, numpy_helper

    def widen(t):
        if t.data_type == TensorProto.FLOAT:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64), t.name))

    for t in model.graph.initializer:
        widen(t)
    for n in model.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.HasField("t"):
                    widen(a.t)


def evaluator(model):
    """onnx's ReferenceEvaluator for a quantized model (a ModelProto,
    modified: see widen_float_constants), computing as described above."""
    from onnx.reference import ReferenceEvaluator
    # (quantize_dynamic's float graph stays float32, as it runs: its
    # DynamicQuantizeLinear scales are float32 values)
    if any(n.op_type in ("DequantizeLinear", "QLinearConv", "QLinearMatMul") or
           (n.domain == "com.microsoft" and n.op_type != "DynamicQuantizeLSTM") for n in model.graph.node):
        widen_float_constants(model)
    return ReferenceEvaluator(model, new_ops=OPS)
