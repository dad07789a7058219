"""Trained models and real data for the post-training quantization tests
(test_ptq.py): scikit-learn's 8x8 handwritten digits (1797 images, bundled
with the package), split as examples/digits/train.py splits them, and

  digits  examples/digits/digits.onnx (a small CNN, BatchNorm folded);
  dscnn   a depthwise-separable CNN (MobileNet-style blocks: depthwise 3x3
          and pointwise 1x1 convolutions, BatchNorm, ReLU6, global average
          pool), trained here with a fixed seed and cached in WORKDIR.

write_data() writes calib/ (a batch of training images as one .npy: kiln
splits it along axis 0) and eval/ (the held-out images and labels.npy)."""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
DIGITS = os.path.join(SRC, "examples", "digits", "digits.onnx")
VERSION = "1"  # bump when the training below changes


def digits_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None, :, :]
    y = d.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)


def write_data(work, ncalib=256):
    xtr, xte, ytr, yte = digits_split()
    cal, ev = os.path.join(work, "calib"), os.path.join(work, "eval")
    os.makedirs(cal, exist_ok=True)
    os.makedirs(ev, exist_ok=True)
    np.save(os.path.join(cal, "train.npy"), xtr[:ncalib])
    np.save(os.path.join(ev, "test.npy"), xte)
    np.save(os.path.join(ev, "labels.npy"), yte)
    return cal, ev, xte, yte


def dscnn(work):
    """The depthwise-separable CNN as ONNX (trained once, then cached)."""
    path = os.path.join(work, f"dscnn-v{VERSION}.onnx")
    if os.path.exists(path):
        return path
    import torch
    import torch.nn as nn
    torch.manual_seed(0)
    torch.set_num_threads(1)

    def block(cin, cout, stride):
        return [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU6(),
                nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6()]

    net = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                        nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
                        *block(16, 32, 2), *block(32, 64, 1), *block(64, 64, 2),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    xtr, xte, ytr, yte = digits_split()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    for epoch in range(30):
        net.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = (net(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean()
    print(f"dscnn: test accuracy (PyTorch) {acc:.4f}")
    tmp = path + ".tmp"
    torch.onnx.export(net, torch.zeros(1, 1, 8, 8), tmp, input_names=["image"], output_names=["logits"],
                      opset_version=13, dynamo=False)
    os.replace(tmp, path)
    return path
