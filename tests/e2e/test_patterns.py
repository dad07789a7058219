#!/usr/bin/env python3
"""The patterns pass on what PyTorch really exports: small modules (LayerNorm,
GELU in both forms, GELU written out as Hugging Face's NewGELU, softmax
written out, stable and not) and the zoo's transformer, exported at opsets
below 17 where LayerNorm and GELU arrive as primitive subgraphs.  Each is
compiled by kiln and compared with ONNX Runtime to 1e-5 relative, and the
compiled IR must hold exactly the expected ops: the pattern was recognized
whole, or (the unstable softmax) left alone.

    test_patterns.py KILN WORKDIR"""
import argparse
import math
import os
import re
import shutil
import sys
import warnings

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kilntest as kt  # noqa: E402
import zoo  # noqa: E402

warnings.filterwarnings("ignore")


class Lambda(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return self.f(x)


def new_gelu(x):
    """Hugging Face's NewGELU: 0.5 first, torch.pow."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def softmax_stable(x):
    e = torch.exp(x - x.amax(dim=1, keepdim=True))
    return e / e.sum(dim=1, keepdim=True)


def softmax_unstable(x):
    e = torch.exp(x)
    return e / e.sum(dim=-1, keepdim=True)


def mlp():
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(24, 40), nn.GELU(), nn.Linear(40, 24), nn.LayerNorm(24))


def ln(*a, **kw):
    torch.manual_seed(4)
    m = nn.LayerNorm(*a, **kw)
    if kw.get("elementwise_affine", True):  # not the default ones and zeros
        with torch.no_grad():
            m.weight.normal_()
            m.bias.normal_()
    return m


# name: (module, input shape, opset, {op: count in the compiled IR}, ops that must be gone)
CASES = {
    "layernorm": (lambda: ln(37), (2, 5, 37), 13, {"layer_norm": 1}, ["reduce_mean", "sqrt"]),
    "layernorm_two_axes": (lambda: ln((5, 12)), (3, 5, 12), 11, {"layer_norm": 1}, ["reduce_mean"]),
    "layernorm_no_affine": (lambda: ln(16, elementwise_affine=False), (4, 16), 13, {"layer_norm": 1}, ["div"]),
    "gelu_erf": (lambda: nn.GELU(), (3, 50), 13, {"gelu": 1}, ["erf"]),
    "gelu_tanh": (lambda: nn.GELU(approximate="tanh"), (3, 50), 13, {"gelu": 1}, ["tanh"]),
    "gelu_new": (lambda: Lambda(new_gelu), (2, 3, 17), 13, {"gelu": 1}, ["tanh", "pow"]),
    "softmax_stable": (lambda: Lambda(softmax_stable), (2, 9, 4), 13, {"softmax": 1}, ["exp"]),
    "softmax_unstable": (lambda: Lambda(softmax_unstable), (3, 11), 13, {"exp": 1, "reduce_sum": 1, "div": 1}, ["softmax"]),
    "mlp_opset11": (mlp, (5, 24), 11, {"gelu": 1, "layer_norm": 1}, ["erf", "sqrt"]),
}


def ops_of(kiln, path):
    """Op name -> count in the IR kiln compiles: the nodes' ops, their fused
    activations (act="gelu" counts as a gelu) and the ops inside fused_ew
    expressions."""
    counts = {}
    for line in kt.run([kiln, "dump", path]).stdout.splitlines():
        m = re.match(r"  %\S+ : \S+ = ([a-z_]+)\(", line)
        if not m:
            continue
        ops = [m.group(1)] + re.findall(r'act="([a-z_]+)"', line)
        for expr in re.findall(r'expr="([^"]*)"', line):
            ops += re.findall(r"([a-z_]+)(?:\[[^\]]*\])?\(", expr)  # gelu[tanh=0](...)
        for op in ops:
            counts[op] = counts.get(op, 0) + 1
    return counts


def check_ops(kiln, path, want, gone):
    got = ops_of(kiln, path)
    bad = [f"{op} x{got.get(op, 0)} (want {n})" for op, n in want.items() if got.get(op, 0) != n]
    bad += [f"{op} x{got[op]} (want none)" for op in gone if got.get(op)]
    return "; ".join(bad)


def run_case(kiln, d, name, build, shape, opset, want, gone):
    m = build().eval()
    x = torch.from_numpy(np.random.default_rng(7).standard_normal(shape).astype(np.float32))
    path = os.path.join(d, "model.onnx")
    with torch.no_grad():
        torch.onnx.export(m, x, path, input_names=["x"], output_names=["y"], opset_version=opset, dynamo=False)
    return compare(kiln, d, path, x.numpy(), want, gone)


def compare(kiln, d, path, x, want, gone):
    (ref,) = kt.ort_run(path, [x])
    exe = kt.compile_model(kiln, path, d, "m")
    (out,) = kt.run_harness(exe, d, [x], [(ref.dtype, ref.shape)])
    err = kt.rel_err(out, ref)
    bad = check_ops(kiln, path, want, gone)
    return err <= 1e-5 and not bad, f"(rel err {err:.2e} vs ONNX Runtime){' ops: ' + bad if bad else ''}"


def transformer(kiln, d):
    """The zoo's transformer at opset 14 (the lowest its attention exports
    at): every LayerNorm arrives written out, and all of them, both GELUs
    and both softmaxes are recognized."""
    path = os.path.join(d, "transformer.onnx")
    x, _ = zoo.export("transformer", path, opset=14)
    # (the one reduce_mean left is the mean over tokens before the head)
    return compare(kiln, d, path, x, {"layer_norm": 4, "gelu": 2, "softmax": 2, "reduce_mean": 1}, ["erf", "sqrt", "pow"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kiln")
    ap.add_argument("workdir")
    a = ap.parse_args()
    results = []
    for name, case in list(CASES.items()) + [("transformer_opset14", None)]:
        d = os.path.join(a.workdir, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        try:
            ok, detail = run_case(a.kiln, d, name, *case) if case else transformer(a.kiln, d)
            results.append((name, ok, detail))
        except Exception as e:  # an export or oracle problem fails this case only
            results.append((name, False, f"{type(e).__name__}: {e}"))
    sys.exit(kt.report(results))


if __name__ == "__main__":
    main()
