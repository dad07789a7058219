#!/usr/bin/env python3
"""Train the digits demo CNN and export it for kiln.

Uses the 8x8 handwritten digits set that scikit-learn ships (1797 images).
Writes digits.onnx (opset 13) and the held-out test split as raw files
(test_images.f32: N x 1 x 8 x 8 float32, pixel values scaled to [0, 1];
test_labels.u8: N labels), so `make demo` needs no Python.

    python3 train.py            # needs torch, onnx, scikit-learn
"""
import os
import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))


class DigitsNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1, groups=32), nn.Conv2d(32, 64, 1),
            nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(64 * 2 * 2, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def main():
    torch.manual_seed(0)
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None, :, :]
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    net = DigitsNet()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    for epoch in range(40):
        net.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = (net(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean()
    print(f"test accuracy (PyTorch): {acc:.4f} on {len(yte)} images")
    torch.onnx.export(net, torch.zeros(1, 1, 8, 8), os.path.join(HERE, "digits.onnx"),
                      input_names=["image"], output_names=["logits"], opset_version=13,
                      dynamo=False)
    xte.astype("<f4").tofile(os.path.join(HERE, "test_images.f32"))
    yte.astype(np.uint8).tofile(os.path.join(HERE, "test_labels.u8"))


if __name__ == "__main__":
    main()
