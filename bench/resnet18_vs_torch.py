#!/usr/bin/env python3
"""ResNet-18, batch 1, one thread: kiln's object in a C harness vs PyTorch
frozen TorchScript (torch.jit.freeze + optimize_for_inference), measured
side by side in one run.  Prints median latencies and their ratio.

    bench/resnet18_vs_torch.py KILN [--runs N] [--models a,b]"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "e2e"))
warnings.filterwarnings("ignore")


def torch_latency(model, x, runs):
    import torch
    torch.set_num_threads(1)
    with torch.no_grad():
        f = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))
        for _ in range(5):
            f(x)
        t = []
        for _ in range(runs):
            t0 = time.perf_counter()
            f(x)
            t.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(t))


def kiln_latency(kiln, name, path, work, runs):
    obj = os.path.join(work, name + ".o")
    t0 = time.perf_counter()
    subprocess.run([kiln, "compile", path, "-o", obj], check=True)
    compile_s = time.perf_counter() - t0
    exe = os.path.join(work, name + ".bench")
    subprocess.run(["cc", "-O2", "-std=gnu11", f"-DMODEL={name}", "-I", os.path.join(SRC, "runtime"),
                    "-include", "kiln.h", "-include", os.path.join(work, name + ".h"),
                    os.path.join(HERE, "bench_main.c"), obj, "-o", exe], check=True)
    out = subprocess.run([exe, str(runs)], check=True, stdout=subprocess.PIPE, text=True).stdout.split()
    return float(out[0]), compile_s


def main():
    import zoo
    ap = argparse.ArgumentParser()
    ap.add_argument("kiln")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--models", default="resnet18")
    a = ap.parse_args()
    cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][:1]
    print(f"CPU: {cpu[0] if cpu else '?'}; batch 1, one thread, median of {a.runs} runs\n")
    print("| model | kiln ms | PyTorch ms | kiln / PyTorch | kiln compile s |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        for name in a.models.split(","):
            path = os.path.join(work, name + ".onnx")
            zoo.export(name, path)
            m, x = zoo.build(name)
            k, cs = kiln_latency(a.kiln, name, path, work, a.runs)
            t = torch_latency(m, x, a.runs)
            print(f"| {name} | {k:.2f} | {t:.2f} | {k / t:.2f}x | {cs:.1f} |", flush=True)


if __name__ == "__main__":
    main()
