"""The int8 model set of issue 12, built the way a user builds it: a float
ONNX export from PyTorch, quantized by onnxruntime.quantization
(quantize_static in QDQ format with per-channel int8 weights, in QOperator
format, and quantize_dynamic).  The tests (test_int8.py) and the benchmark
(bench/bench.py) share it.  Needs torch, torchvision and scikit-learn.

Data.  The small models (a DS-CNN keyword-spotting net, a transformer
encoder, an LSTM) are trained here for a few seconds each on scikit-learn's
bundled 8x8 handwritten digits, upsampled to their input shapes, so their
calibration and test inputs are real and their accuracy means something.
torchvision's pretrained weights cannot be downloaded on the project's
machines, so the image models (ResNet-18, MobileNetV2, SqueezeNet 1.1,
EfficientNet-B0) keep torchvision's deterministic random initialization
(seed 0) with their BatchNorm statistics re-estimated on crops of the two
photographs scikit-learn ships (load_sample_images), so that activations
have realistic ranges and the calibration sees realistic distributions.
Random weights are fine for bit-level agreement with an oracle; they say
nothing about accuracy.

Everything is generated once into a cache folder (the build tree's) and
reused while this file, zoo.py and the package versions are unchanged.

    spec(name) -> Spec;  get(name, cache) -> Built (paths and inputs)"""
import fcntl
import hashlib
import json
import os
from collections import namedtuple

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

# name: (float model, format, activation type, heavy)
#   format: "qdq" quantize_static, QDQ, per-channel QInt8 weights
#           "qop" quantize_static, QOperator, per-channel QInt8 weights
#           "dyn" quantize_dynamic, QInt8 weights
#   activation type: "u8" QUInt8, "s8" QInt8 (dynamic: always uint8, by its definition)
#   heavy: an image model, tested on its own (ctest label int8-heavy)
Spec = namedtuple("Spec", "float fmt act heavy")
SPECS = {
    "resnet18_qdq": Spec("resnet18", "qdq", "u8", True),
    "resnet18_qop": Spec("resnet18", "qop", "u8", True),
    "mobilenet_v2_qdq": Spec("mobilenet_v2", "qdq", "s8", True),
    "squeezenet1_1_qdq": Spec("squeezenet1_1", "qdq", "u8", True),
    "efficientnet_b0_qdq": Spec("efficientnet_b0", "qdq", "s8", True),
    "kws_dscnn_qdq": Spec("kws_dscnn", "qdq", "s8", False),
    "kws_dscnn_qop": Spec("kws_dscnn", "qop", "u8", False),
    "transformer_qdq": Spec("transformer", "qdq", "u8", False),
    "transformer_dyn": Spec("transformer", "dyn", "u8", False),
    "lstm_dyn": Spec("lstm", "dyn", "u8", False),
}
ALL = list(SPECS)
SMALL = [n for n in ALL if not SPECS[n].heavy]
HEAVY = [n for n in ALL if SPECS[n].heavy]
TRAINED = {"kws_dscnn", "transformer", "lstm"}
IMAGE = {"resnet18", "mobilenet_v2", "squeezenet1_1", "efficientnet_b0"}
OPSET = {"resnet18": 13, "mobilenet_v2": 13, "squeezenet1_1": 13, "kws_dscnn": 13,
         "efficientnet_b0": 17, "transformer": 17, "lstm": 17}
N_INPUTS = 3  # test inputs per model (held-out digits, or crops not used in calibration)
N_CALIB = 32  # calibration inputs per model

# float: the float ONNX export; int8: the quantized model; inputs: test
# inputs (each a list with one array per graph input); eval_x, eval_y:
# held-out inputs and labels for the trained models (else None);
# float_acc: the float model's accuracy on them (PyTorch).
Built = namedtuple("Built", "float int8 inputs eval_x eval_y float_acc")


def spec(name):
    return SPECS[name]


# ---------------------------------------------------------------- data

def _digits():
    """scikit-learn's digits in [0, 1], split as examples/digits/train.py does."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)
    return train_test_split(x, d.target.astype(np.int64), test_size=0.2, random_state=0, stratify=d.target)


def _resize(x, shape):
    """[N, 8, 8] -> [N, 1, *shape], bilinear."""
    import torch
    t = torch.from_numpy(x)[:, None]
    return torch.nn.functional.interpolate(t, size=shape, mode="bilinear", align_corners=False).numpy()


def _digits_as(name, x):
    """Digits shaped as each small model's input: a 49x10 'spectrogram' for
    the DS-CNN, 16 time steps (rows) of 16 features for the sequence models."""
    if name == "kws_dscnn":
        return _resize(x, (49, 10))
    return _resize(x, (16, 16))[:, 0]


def _photo_crops(n, seed):
    """n ImageNet-normalized 224x224 crops (random size, position and flip)
    of scikit-learn's two sample photographs, [n, 3, 224, 224]."""
    import torch
    from sklearn.datasets import load_sample_images
    imgs = [torch.from_numpy(i.astype(np.float32) / 255).permute(2, 0, 1) for i in load_sample_images().images]
    rng = np.random.default_rng(seed)
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    out = []
    for k in range(n):
        img = imgs[k % len(imgs)]
        h, w = img.shape[1:]
        s = int(rng.integers(160, min(h, w) + 1))
        y0, x0 = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        c = img[:, y0:y0 + s, x0:x0 + s][None]
        c = torch.nn.functional.interpolate(c, size=(224, 224), mode="bilinear", align_corners=False)[0]
        if rng.random() < 0.5:
            c = c.flip(2)
        out.append(((c - mean) / std).numpy())
    return np.stack(out).astype(np.float32)


# ---------------------------------------------------------------- float models

def _small_net(name):
    import torch.nn as nn
    import zoo
    if name == "kws_dscnn":  # DS-CNN-S: conv 10x4 stride 2, 4 depthwise-separable blocks, avg pool, fc
        return zoo.KwsDsCnn(ch=64, blocks=4, classes=10)
    if name == "transformer":  # 16 tokens (rows) of 16 features
        return zoo.TransformerClassifier(seq=16, classes=10, features=16)
    # One direction, 2 layers; hidden 64 (at 32 the float biases would be
    # an eighth of the weight bytes and no int8 object could reach 0.27x).
    return zoo.RnnClassifier(nn.LSTM, False, features=16, hidden=64, classes=10)


def _train(name):
    """A few epochs of Adam on the digits (seconds each on one core);
    returns (model in eval mode, calibration inputs, test inputs, held-out
    inputs and labels, float accuracy on them)."""
    import torch
    import torch.nn as nn
    torch.manual_seed(0)
    xtr, xte, ytr, yte = _digits()
    xtr, xte = _digits_as(name, xtr), _digits_as(name, xte)
    net = _small_net(name)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    for _ in range({"kws_dscnn": 5, "transformer": 8, "lstm": 10}[name]):
        net.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = float((net(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean())
    calib = xtr[:N_CALIB]
    return net, calib, xte[:N_INPUTS], xte, yte, acc


def _image_net(name):
    """torchvision's random initialization (seed 0) with BatchNorm running
    statistics re-estimated on photo crops: 4 batches of 8, cumulative
    average, the rest of the model in eval mode."""
    import torch
    import torch.nn as nn
    import torchvision.models as tvm
    torch.manual_seed(0)
    net = getattr(tvm, name)(weights=None).eval()
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    crops = torch.from_numpy(_photo_crops(32, seed=1))
    with torch.no_grad():
        for i in range(0, 32, 8):
            net(crops[i:i + 8])
    net.eval()
    return net


def _export_float(name, d):
    """The float model and its data, in d: float.onnx, data.npz.  One
    thread: on a machine busy with other tests, torch's thread pool spends
    most of its time waiting (the digits models trained 20x slower)."""
    import torch
    torch.set_num_threads(1)
    if name in TRAINED:
        net, calib, inputs, ex, ey, acc = _train(name)
    else:
        net = _image_net(name)
        calib = _photo_crops(N_CALIB, seed=2)
        inputs = _photo_crops(N_INPUTS, seed=3)
        ex = ey = None
        acc = None
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # the fused encoder path has no ONNX export
    try:
        with torch.no_grad():
            torch.onnx.export(net, torch.from_numpy(inputs[:1]), os.path.join(d, "float.onnx"),
                              input_names=["input"], output_names=["output"], opset_version=OPSET[name], dynamo=False)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
    extra = {} if ex is None else {"eval_x": ex, "eval_y": ey}
    np.savez(os.path.join(d, "data.npz"), calib=calib, inputs=inputs, **extra)
    with open(os.path.join(d, "info.json"), "w") as f:
        json.dump({"float_acc": acc}, f)


# ---------------------------------------------------------------- quantizing

class _Reader:
    """onnxruntime.quantization's CalibrationDataReader over an array."""

    def __init__(self, xs):
        self.it = iter([{"input": x[None]} for x in xs])

    def get_next(self):
        return next(self.it, None)

    def rewind(self):  # not needed by MinMax; part of the interface
        pass


def _quantize(name, fdir, path):
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    s = SPECS[name]
    pre = path + ".pre.onnx"
    # What onnxruntime's quantization guide asks for first: shape inference
    # and its basic graph optimizations.  The shapes are static, so ONNX's
    # own shape inference is enough; the symbolic one fails on the
    # transformer's computed Reshape shapes.
    quant_pre_process(os.path.join(fdir, "float.onnx"), pre, skip_symbolic_shape=True)
    try:
        if s.fmt == "dyn":
            quantize_dynamic(pre, path, weight_type=QuantType.QInt8)
        else:
            calib = np.load(os.path.join(fdir, "data.npz"))["calib"]
            act = QuantType.QUInt8 if s.act == "u8" else QuantType.QInt8
            quantize_static(pre, path, _Reader(calib),
                            quant_format=QuantFormat.QDQ if s.fmt == "qdq" else QuantFormat.QOperator,
                            per_channel=True, activation_type=act, weight_type=QuantType.QInt8)
    finally:
        for p in (pre, pre + ".data"):
            if os.path.exists(p):
                os.remove(p)


# ---------------------------------------------------------------- cache

def _key():
    """What the cached models depend on: this file, zoo.py, the packages."""
    import onnx
    import onnxruntime
    import torch
    h = hashlib.sha256()
    for f in ("int8_models.py", "zoo.py"):
        with open(os.path.join(HERE, f), "rb") as fh:
            h.update(fh.read())
    h.update(f"{onnx.__version__} {onnxruntime.__version__} {torch.__version__}".encode())
    return h.hexdigest()[:16]


def _cached(d, make):
    """Run make(d) unless d holds a stamp for the current key; one process
    at a time (ctest runs several of the int8 tests in parallel)."""
    os.makedirs(d, exist_ok=True)
    stamp = os.path.join(d, ".stamp")
    with open(os.path.join(d, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        key = _key()
        if not (os.path.exists(stamp) and open(stamp).read() == key):
            if os.path.exists(stamp):
                os.remove(stamp)
            make(d)
            with open(stamp, "w") as f:
                f.write(key)


def get(name, cache):
    """The float export and the quantized model of `name`, generated into
    cache/float/<float name>/ and cache/<name>/ unless already there."""
    s = SPECS[name]
    fdir = os.path.join(cache, "float", s.float)
    _cached(fdir, lambda d: _export_float(s.float, d))
    qdir = os.path.join(cache, name)
    _cached(qdir, lambda d: _quantize(name, fdir, os.path.join(d, name + ".onnx")))
    data = np.load(os.path.join(fdir, "data.npz"))
    info = json.load(open(os.path.join(fdir, "info.json")))
    return Built(os.path.join(fdir, "float.onnx"), os.path.join(qdir, name + ".onnx"),
                 [[x[None]] for x in data["inputs"]],
                 data["eval_x"] if "eval_x" in data else None, data["eval_y"] if "eval_y" in data else None,
                 info["float_acc"])
