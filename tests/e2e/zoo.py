"""The model zoo the tests and benchmarks share: PyTorch models with random
weights (fixed seeds), exported the way users export them (torch.onnx,
TorchScript exporter, opset 13).  Needs torch and torchvision."""
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
    else:
        raise KeyError(name)
    _randomize_bn(m, 1)
    m.eval()
    x = torch.from_numpy(np.random.default_rng(42).standard_normal(shape).astype(np.float32))
    return m, x


def export(name, path, opset=13):
    """Export to ONNX; returns (input array, torch output array)."""
    m, x = build(name)
    with torch.no_grad():
        y = m(x).numpy()
        torch.onnx.export(m, x, path, input_names=["input"], output_names=["output"],
                          opset_version=opset, dynamo=False)
    return x.numpy(), y


ALL = ["resnet18", "mobilenet_v2", "squeezenet1_1", "kws_dscnn", "autoencoder"]
SMALL = ["kws_dscnn", "autoencoder"]
