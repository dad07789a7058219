#!/usr/bin/env python3
"""Real models: torchvision and MLPerf-Tiny-style networks, a U-Net, a
transformer encoder, LSTM/GRU classifiers (random weights, exported by
torch.onnx) and an If graph, compiled by kiln, linked with the C harness,
and compared with PyTorch's own output (ONNX Runtime's for the If graph)
to 1e-4 relative.  A model kiln refuses fails with `kiln check`'s list.

    test_zoo.py KILN WORKDIR [--target T] [--models a,b,...]"""
import argparse
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kilntest as kt
import zoo

warnings.filterwarnings("ignore")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kiln")
    ap.add_argument("workdir")
    ap.add_argument("--target", default="host")
    ap.add_argument("--models", default=",".join(zoo.ALL))
    a = ap.parse_args()
    results = []
    for name in a.models.split(","):
        d = os.path.join(a.workdir, name)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, name + ".onnx")
        try:
            x, y = zoo.export(name, path)
            unsupported = kt.check_unsupported(a.kiln, path, a.target)
            if unsupported:
                raise kt.Failure(f"kiln check refuses {name}.onnx:\n{unsupported}")
            exe = kt.compile_model(a.kiln, path, d, name, a.target)
            (out,) = kt.run_harness(exe, d, [x], [(y.dtype, y.shape)])
            err = kt.rel_err(out, y)
            ok, detail = err <= 1e-4, f"(rel err {err:.2e} vs {zoo.reference(name)})"
            if ok and a.target == "host" and not kt.roundtrip(a.kiln, path, d):
                ok, detail = False, "kiln dump: print -> parse -> print is not byte-identical"
            results.append((f"{name}@{a.target}", ok, detail))
        except kt.Failure as e:
            results.append((f"{name}@{a.target}", False, str(e)))
    sys.exit(kt.report(results))


if __name__ == "__main__":
    main()
