#!/usr/bin/env python3
"""Workspace size: kiln's plan vs TensorFlow Lite Micro's greedy-by-size
planner applied to the same exported graph.

The TFLM figure is computed here the way its GreedyMemoryPlanner works: every
intermediate tensor of the ONNX graph (one per node output, in the exported
node order) lives from the node that writes it to the last node that reads
it; buffers are placed largest first at the lowest 16-byte-aligned offset
that overlaps no simultaneously live buffer.  Graph inputs and outputs are
left out on both sides (kiln's caller provides them), which favours TFLM.
kiln's figures come from `kiln compile --report`.

    bench/memory_plan.py KILN MODEL.onnx...  (or --zoo to export the zoo models)"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import shape_inference


def tflm_greedy(model_path):
    m = shape_inference.infer_shapes(onnx.load(model_path), strict_mode=True)
    g = m.graph
    sizes = {}
    for vi in list(g.value_info) + list(g.output):
        t = vi.type.tensor_type
        n = int(np.prod([d.dim_value for d in t.shape.dim])) if t.shape.dim else 1
        sizes[vi.name] = n * onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).itemsize
    outputs = {o.name for o in g.output}
    first, last = {}, {}
    for i, node in enumerate(g.node):
        for x in node.input:
            if x in first:
                last[x] = i
        for y in node.output:
            if y and y not in outputs and y in sizes:
                first[y] = i
                last[y] = i
    bufs = sorted(first, key=lambda t: (-sizes[t], first[t]))
    placed = []
    total = 0
    for t in bufs:
        size = (sizes[t] + 15) // 16 * 16
        live = sorted((o, s) for (u, o, s) in placed if first[u] <= last[t] and first[t] <= last[u])
        off = 0
        for o, s in live:
            if o - off >= size:
                break
            off = max(off, o + s)
        placed.append((t, off, size))
        total = max(total, off + size)
    return total, len(g.node)


def kiln_plan(kiln, model_path):
    with tempfile.TemporaryDirectory() as d:
        r = os.path.join(d, "r.json")
        subprocess.run([kiln, "compile", model_path, "-o", os.path.join(d, "m.o"), "--report", r], check=True)
        rep = json.load(open(r))
    return rep["workspace_bytes"], rep["workspace_lower_bound_bytes"], rep["nodes_compiled"]


def main():
    kiln, paths = sys.argv[1], sys.argv[2:]
    if paths == ["--zoo"]:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
        import warnings
        warnings.filterwarnings("ignore")
        import zoo
        tmp = tempfile.mkdtemp()
        paths = []
        for name in ("resnet18", "mobilenet_v2", "squeezenet1_1"):
            p = os.path.join(tmp, name + ".onnx")
            zoo.export(name, p)
            paths.append(p)
    print("| model | ONNX nodes | kiln nodes | TFLM greedy bytes | kiln workspace bytes | kiln / TFLM | kiln lower bound bytes |")
    print("|---|---|---|---|---|---|---|")
    for p in paths:
        tflm, nodes = tflm_greedy(p)
        ws, lb, kn = kiln_plan(kiln, p)
        print(f"| {os.path.basename(p)} | {nodes} | {kn} | {tflm} | {ws} | {ws / tflm:.2f} | {lb} |")


if __name__ == "__main__":
    main()
