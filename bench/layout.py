#!/usr/bin/env python3
"""What the layout pass buys: each model run by `kiln bench` (JIT, one
thread) with activations row-major (--layout=rows) and as the pass
chooses (--layout=auto), alternating in rounds in the same minutes so
machine noise hits both alike; medians of the rounds' medians.  Timings
are printed, never asserted.

    bench/layout.py KILN [--models a,b,...] [--rounds R] [--runs N]
    (the models are tests/e2e/zoo.py's, exported with random weights)"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import warnings

MODELS = ["resnet18", "mobilenet_v2", "squeezenet1_1", "efficientnet_b0", "kws_dscnn", "mobilenet_v3_small",
          "shufflenet_v2_x0_5", "mnasnet0_5", "regnet_y_400mf", "unet"]


def median_ms(kiln, path, layout, runs):
    out = subprocess.run([kiln, "bench", path, f"--layout={layout}", "--runs", str(runs)], check=True,
                         capture_output=True, text=True).stdout
    return float(re.search(r"median ([0-9.]+) ms", out).group(1))


def note(kiln, path):
    """The layout pass's note: how many values went into blocks."""
    with tempfile.TemporaryDirectory() as d:
        r = os.path.join(d, "r.json")
        subprocess.run([kiln, "compile", path, "-o", os.path.join(d, "m.o"), "--report", r], check=True)
        m = re.search(r'"name": "layout"[^}]*"note": "([^"]*)"', open(r).read())
    return m.group(1) if m else ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kiln")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=30)
    a = ap.parse_args()
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
    warnings.filterwarnings("ignore")
    import zoo
    tmp = tempfile.mkdtemp()
    print("| model | row-major ms | layout pass ms | ratio | what the pass did |")
    print("|---|--:|--:|--:|---|")
    for name in a.models.split(","):
        path = os.path.join(tmp, name + ".onnx")
        zoo.export(name, path)
        t = {"rows": [], "auto": []}
        for _ in range(a.rounds):
            for layout in t:
                t[layout].append(median_ms(a.kiln, path, layout, a.runs))
        rows, auto = statistics.median(t["rows"]), statistics.median(t["auto"])
        print(f"| {name} | {rows:.3f} | {auto:.3f} | {auto / rows:.2f} | {note(a.kiln, path)} |", flush=True)


if __name__ == "__main__":
    main()
