"""The model zoo the tests and benchmarks share: PyTorch models with random
weights (fixed seeds), exported the way users export them (torch.onnx,
TorchScript exporter, static shapes; opset 13 for the first five, 17 for
the rest), plus one graph written with the onnx helper API (an If on a
constant condition) whose reference is ONNX Runtime.  Needs torch and
torchvision."""
import os

import numpy as np
import torch
import torch.nn as nn


def _randomize_bn(model, seed):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model


class KwsDsCnn(nn.Module):
    """Depthwise-separable keyword-spotting CNN (MLPerf Tiny DS-CNN shape)."""

    def __init__(self, ch=64, blocks=4, classes=12):
        super().__init__()
        layers = [nn.Conv2d(1, ch, (10, 4), stride=(2, 2), padding=(5, 1)), nn.BatchNorm2d(ch), nn.ReLU()]
        for _ in range(blocks):
            layers += [nn.Conv2d(ch, ch, 3, padding=1, groups=ch), nn.BatchNorm2d(ch), nn.ReLU(),
                       nn.Conv2d(ch, ch, 1), nn.BatchNorm2d(ch), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(ch, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class DenseAutoencoder(nn.Module):
    """Dense autoencoder with BatchNorm1d (MLPerf Tiny anomaly-detection shape)."""

    def __init__(self, n=640, hidden=128, code=8):
        super().__init__()
        dims = [n, hidden, hidden, hidden, hidden, code, hidden, hidden, hidden, hidden]
        layers = []
        for a, b in zip(dims, dims[1:]):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
        layers.append(nn.Linear(hidden, n))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class _ConvBnRelu(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class SmallUNet(nn.Module):
    """Three-level U-Net: MaxPool down; up through a ConvTranspose in the
    lower level and bilinear F.interpolate (align_corners False) in the
    upper one; Concat skip connections."""

    def __init__(self, cin=3, classes=2):
        super().__init__()
        self.enc1, self.enc2, self.mid = _ConvBnRelu(cin, 16), _ConvBnRelu(16, 32), _ConvBnRelu(32, 64)
        self.pool = nn.MaxPool2d(2)
        self.up2 = nn.ConvTranspose2d(64, 32, 2, stride=2)
        self.dec2 = _ConvBnRelu(64, 32)
        self.reduce1 = nn.Conv2d(32, 16, 1)
        self.dec1 = _ConvBnRelu(32, 16)
        self.head = nn.Conv2d(16, classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        m = self.mid(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        u1 = nn.functional.interpolate(self.reduce1(d2), scale_factor=2, mode="bilinear", align_corners=False)
        return self.head(self.dec1(torch.cat([u1, e1], 1)))


class TransformerClassifier(nn.Module):
    """Token ids -> Embedding + learned positions -> 2-layer post-norm
    TransformerEncoder (GELU) -> mean over tokens -> Linear.  With
    `features`, tokens are float vectors of that size and the embedding a
    Linear (the int8 tier's digits, row by row)."""

    def __init__(self, vocab=100, seq=16, d=64, heads=4, layers=2, classes=5, features=None):
        super().__init__()
        self.embed = nn.Linear(features, d) if features else nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(1, seq, d) * 0.1)
        layer = nn.TransformerEncoderLayer(d, heads, dim_feedforward=128, dropout=0.1, activation="gelu",
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, classes)

    def forward(self, ids):
        return self.head(self.encoder(self.embed(ids) + self.pos).mean(dim=1))


class RnnClassifier(nn.Module):
    """2-layer LSTM or GRU over [batch, time, features]; Linear on the last step."""

    def __init__(self, cell, bidirectional, features=16, hidden=32, classes=6):
        super().__init__()
        self.rnn = cell(features, hidden, num_layers=2, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(hidden * (2 if bidirectional else 1), classes)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1, :])


def _tv(ctor, **kw):
    return lambda: (ctor(weights=None, **kw), (1, 3, 224, 224))


def _builders():
    import torchvision.models as tvm
    return {
        "mobilenet_v3_small": _tv(tvm.mobilenet_v3_small),
        "shufflenet_v2_x0_5": _tv(tvm.shufflenet_v2_x0_5),
        "efficientnet_b0": _tv(tvm.efficientnet_b0),
        "regnet_y_400mf": _tv(tvm.regnet_y_400mf),
        "mnasnet0_5": _tv(tvm.mnasnet0_5),
        "unet": lambda: (SmallUNet(), (1, 3, 64, 64)),
        "transformer": lambda: (TransformerClassifier(), (1, 16)),
        "lstm": lambda: (RnnClassifier(nn.LSTM, False), (1, 20, 16)),
        "lstm_bidir": lambda: (RnnClassifier(nn.LSTM, True), (1, 20, 16)),
        "gru": lambda: (RnnClassifier(nn.GRU, False), (1, 20, 16)),
        "gru_bidir": lambda: (RnnClassifier(nn.GRU, True), (1, 20, 16)),
    }


def _export_if_const(path, opset):
    """x[1,8] -> If(true) -> If(false) -> Add, written with the onnx helper
    API: each If has a Constant bool condition and then/else branches that
    read outer-scope values (x and a weight), so taking the wrong branch
    changes the result.  The reference is ONNX Runtime."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    import kilntest
    rng = np.random.default_rng(7)
    F = TensorProto.FLOAT
    w1 = rng.standard_normal((8, 8)).astype(np.float32) * 0.5
    w2 = rng.standard_normal((8, 8)).astype(np.float32) * 0.5

    def branch(name, nodes, out):
        return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(out, F, [1, 8])])

    def cond(name, value):
        return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, TensorProto.BOOL, [], [value]))

    # If #1 (condition true): then = Relu(x @ w1), else = Sigmoid(x).
    then1 = branch("then1", [helper.make_node("MatMul", ["input", "w1"], ["t1a"]),
                             helper.make_node("Relu", ["t1a"], ["t1"])], "t1")
    else1 = branch("else1", [helper.make_node("Sigmoid", ["input"], ["e1"])], "e1")
    # If #2 (condition false): then = Neg(h), else = Tanh(h @ w2).
    then2 = branch("then2", [helper.make_node("Neg", ["h"], ["t2"])], "t2")
    else2 = branch("else2", [helper.make_node("MatMul", ["h", "w2"], ["e2a"]),
                             helper.make_node("Tanh", ["e2a"], ["e2"])], "e2")
    nodes = [cond("c1", True), helper.make_node("If", ["c1"], ["h"], name="if_true", then_branch=then1, else_branch=else1),
             cond("c2", False), helper.make_node("If", ["c2"], ["g"], name="if_false", then_branch=then2, else_branch=else2),
             helper.make_node("Add", ["g", "input"], ["output"])]
    graph = helper.make_graph(nodes, "if_const", [helper.make_tensor_value_info("input", F, [1, 8])],
                              [helper.make_tensor_value_info("output", F, [1, 8])],
                              [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)
    x = rng.standard_normal((1, 8)).astype(np.float32)
    (y,) = kilntest.ort_run(path, [x])
    # The oracle itself must have taken then1 and else2.
    want = np.tanh(np.maximum(x @ w1, 0) @ w2) + x
    if not np.allclose(y, want, rtol=1e-5, atol=1e-6):
        raise kilntest.Failure("ONNX Runtime's output for if_const does not match the branches it should take")
    return x, y


def build(name):
    """Returns (model in eval mode, example input)."""
    import torchvision.models as tvm
    torch.manual_seed(0)
    if name == "resnet18":
        m, shape = tvm.resnet18(weights=None), (1, 3, 224, 224)
    elif name == "mobilenet_v2":
        m, shape = tvm.mobilenet_v2(weights=None), (1, 3, 224, 224)
    elif name == "squeezenet1_1":
        m, shape = tvm.squeezenet1_1(weights=None), (1, 3, 224, 224)
    elif name == "kws_dscnn":
        m, shape = KwsDsCnn(), (1, 1, 49, 10)
    elif name == "autoencoder":
        m, shape = DenseAutoencoder(), (1, 640)
    elif name in _builders():
        m, shape = _builders()[name]()
    else:
        raise KeyError(name)
    _randomize_bn(m, 1)
    m.eval()
    rng = np.random.default_rng(42)
    if name == "transformer":  # token ids
        x = torch.from_numpy(rng.integers(0, m.embed.num_embeddings, shape, dtype=np.int64))
    else:
        x = torch.from_numpy(rng.standard_normal(shape).astype(np.float32))
    return m, x


def export(name, path, opset=None):
    """Export to ONNX; returns (input array, reference output array): PyTorch's
    output, or ONNX Runtime's for the models in ORT_REFERENCE."""
    if name == "if_const":
        return _export_if_const(path, opset or 17)
    m, x = build(name)
    # The fused transformer fast path (aten::_transformer_encoder_layer_fwd)
    # has no ONNX export; users turn it off to export, and so do we, for
    # the reference run too.
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            y = m(x).numpy()
            torch.onnx.export(m, x, path, input_names=["input"], output_names=["output"],
                              opset_version=opset or OPSET.get(name, 17), dynamo=False)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
    return x.numpy(), y


def reference(name):
    """Who computed export()'s reference output."""
    return "ONNX Runtime" if name in ORT_REFERENCE else "PyTorch"


ALL = ["resnet18", "mobilenet_v2", "squeezenet1_1", "kws_dscnn", "autoencoder"]
SMALL = ["kws_dscnn", "autoencoder"]
OPSET = {n: 13 for n in ALL}  # the rest: 17
# The coverage models, each its own ctest test (tests/CMakeLists.txt).
MORE = ["mobilenet_v3_small", "shufflenet_v2_x0_5", "efficientnet_b0", "regnet_y_400mf", "mnasnet0_5",
        "unet", "transformer", "lstm", "lstm_bidir", "gru", "gru_bidir", "if_const"]
ORT_REFERENCE = {"if_const"}
