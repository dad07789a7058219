#!/usr/bin/env python3
"""Property test of the graph passes: the pipeline never changes what a
model computes.  Random small ONNX graphs (fixed seeds) -- chains and DAGs
of Conv, Gemm, MatMul, Add, Mul, Relu, LeakyRelu, Sigmoid, Reshape,
Transpose, Concat, Softmax, BatchNormalization, MaxPool and
GlobalAveragePool (channel counts that the layout pass blocks among
them), with weights that are constant subgraphs
(Constant nodes, transposes, reshapes, arithmetic on constants: what
`fold` evaluates), shapes computed by Shape/Gather/Concat programs,
identical nodes and identical constants (what `cse` merges) beside near
twins that differ in one attribute (what it must not merge), values read
twice, intermediates that are also graph outputs, and outputs computed
from constants alone -- run through `kiln run` at -O0 (no graph passes), at
-O2 and at -O2 with --layout=blocks on the same inputs; every output must keep its name and agree
within 1e-5 relative (kilntest.rel_err).  ONNX Runtime checks the -O0 result (1e-4, relative
to max(1, the largest magnitude)), so a generator mistake cannot pass as
agreement.

    test_passes_property.py KILN WORKDIR [--graphs N] [--seed S] [--jobs J]"""
import argparse
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kilntest as kt

MAX_ELEMS = 6000  # per tensor: keeps every graph fast to compile and run


class Gen:
    """One random graph.  pool: run-time values as (name, shape)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.inputs = [], [], []
        self.pool = []
        self.const_outs = []
        self.n = 0
        self.arrays = []  # constants made so far, for identical copies

    # -- helpers ---------------------------------------------------------

    def coin(self, p):
        return self.rng.random() < p

    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def fresh(self, what):
        self.n += 1
        return f"{what}_{self.n}"

    def node(self, op, ins, **attrs):
        out = self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    def array(self, shape, scale=0.5):
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def i64(self, vals):
        """A Constant node holding an i64 vector."""
        return self.node("Constant", [], value=numpy_helper.from_array(np.array(vals, np.int64)))

    # -- constant subgraphs ----------------------------------------------

    def leaf(self, shape, scale):
        """An initializer or a Constant node; sometimes a byte-identical copy
        of an earlier constant under another name (cse merges those)."""
        same = [a for a in self.arrays if a.shape == tuple(shape)]
        a = self.pick(same) if same and self.coin(0.3) else self.array(shape, scale)
        self.arrays.append(a)
        if self.coin(0.5):
            name = self.fresh("w")
            self.inits.append(numpy_helper.from_array(a, name))
            return name
        return self.node("Constant", [], value=numpy_helper.from_array(a))

    def const(self, shape, scale=0.5, depth=0):
        """A value of this shape computed from constants alone."""
        shape = list(shape)
        k = int(self.rng.integers(8)) if depth < 2 else 0
        if k == 1:  # scaled
            return self.node("Mul", [self.const(shape, scale, depth + 1), self.leaf([], 1.0)])
        if k == 2 and len(shape) >= 2:  # transposed
            perm = list(self.rng.permutation(len(shape)))
            inv = list(np.argsort(perm))
            src = self.const([shape[i] for i in inv], scale, depth + 1)
            return self.node("Transpose", [src], perm=[int(p) for p in perm])
        if k == 3:  # reshaped from a flat vector, shape from a Constant
            src = self.const([int(np.prod(shape))], scale, depth + 1)
            return self.node("Reshape", [src, self.i64(shape)])
        if k == 4:  # sum, or a unary op
            a = self.const(shape, scale, depth + 1)
            if self.coin(0.5):
                return self.node("Add", [a, self.const(shape, scale, depth + 1)])
            return self.node(self.pick(["Sigmoid", "Relu"]), [a])
        if k == 5 and shape and shape[0] >= 2:  # joined
            h = int(self.rng.integers(1, shape[0]))
            a = self.const([h] + shape[1:], scale, depth + 1)
            b = self.const([shape[0] - h] + shape[1:], scale, depth + 1)
            return self.node("Concat", [a, b], axis=0)
        return self.leaf(shape, scale)

    def positive(self, shape):
        """A constant expression >= 0.4 (BatchNormalization variances)."""
        half = self.node("Constant", [], value=numpy_helper.from_array(np.array(0.4, np.float32)))
        return self.node("Add", [self.node("Abs", [self.const(shape)]), half])

    # -- run-time ops: each takes (name, shape) and returns one, or None --

    def conv(self, v):
        x, s = v
        if len(s) != 4:
            return None
        c, h, w = s[1], s[2], s[3]
        k = self.pick([1, 3]) if min(h, w) >= 3 else 1
        group = c if self.coin(0.25) else 2 if c % 32 == 0 and self.coin(0.4) else 1
        # channel counts the layout pass blocks by a vector width (16, 32)
        # beside small ones it cannot; groups of 16 channels and more
        if group == 2:
            m = self.pick([32, 64])
        else:
            m = c if group > 1 else self.pick([16, 32]) if self.coin(0.5) else int(self.rng.integers(2, 7))
        pad = k // 2 if self.coin(0.7) else 0
        ins = [x, self.const([m, c // group, k, k], 0.4)]
        if self.coin(0.6):
            ins.append(self.const([m]))
        y = self.node("Conv", ins, kernel_shape=[k, k], pads=[pad] * 4, group=group)
        shape = [s[0], m, h - k + 1 + 2 * pad, w - k + 1 + 2 * pad]
        if self.coin(0.4):
            y, shape = self.batchnorm((y, shape))
        if self.coin(0.5):
            y = self.node(self.pick(["Relu", "Sigmoid"]), [y])
        return y, shape

    def pooling(self, v):
        x, s = v
        if len(s) != 4:
            return None
        if self.coin(0.3):
            return self.node("GlobalAveragePool", [x]), s[:2] + [1, 1]
        k, st = self.pick([2, 3]), self.pick([1, 2])
        pad = int(self.coin(0.5)) if k == 3 else 0
        oh, ow = ((d + 2 * pad - k) // st + 1 for d in s[2:])
        if oh < 1 or ow < 1:
            return None
        return self.node("MaxPool", [x], kernel_shape=[k, k], strides=[st, st], pads=[pad] * 4), s[:2] + [oh, ow]

    def batchnorm(self, v):
        x, s = v
        if len(s) != 4:
            return None
        c = [s[1]]
        return self.node("BatchNormalization", [x, self.const(c), self.const(c), self.const(c), self.positive(c)],
                         epsilon=float(self.pick([1e-5, 1e-3]))), s

    def gemm(self, v):
        x, s = v
        if len(s) != 2:
            return None
        m = int(self.rng.integers(2, 9))
        tb = int(self.coin(0.5))
        ins = [x, self.const([m, s[1]] if tb else [s[1], m], 0.4)]
        if self.coin(0.6):
            ins.append(self.const(self.pick([[m], [1, m], [s[0], m]])))
        attrs = {"transB": tb}
        if self.coin(0.3):
            attrs["alpha"] = float(self.pick([0.5, 2.0]))
            attrs["beta"] = float(self.pick([0.5, 1.5]))
        y = self.node("Gemm", ins, **attrs)
        if self.coin(0.4):
            y = self.node("Relu", [y])
        return y, [s[0], m]

    def matmul(self, v):
        x, s = v
        if len(s) == 2 and self.coin(0.5):
            # two run-time operands: x times another value's transpose
            other = [p for p in self.pool if p[1] == s]
            y, _ = self.pick(other)
            return self.node("MatMul", [x, self.node("Transpose", [y], perm=[1, 0])]), [s[0], s[0]]
        m = int(self.rng.integers(2, 9))
        return self.node("MatMul", [x, self.const([s[-1], m], 0.4)]), s[:-1] + [m]

    def binary(self, v):
        x, s = v
        op = self.pick(["Add", "Mul"])
        same = [p for p in self.pool if p[1] == s]
        r = self.rng.random()
        if r < 0.4 and same:
            other = self.pick(same)[0]  # may be x itself: a value read twice
        elif r < 0.7:
            other = self.const([s[1], 1, 1] if len(s) == 4 else [s[-1]])  # broadcast
        else:
            other = self.const(s)
        ins = [x, other] if self.coin(0.5) else [other, x]
        return self.node(op, ins), s

    def unary(self, v):
        if self.coin(0.3):
            return self.node("LeakyRelu", [v[0]], alpha=float(self.pick([0.1, 0.2]))), v[1]
        return self.node(self.pick(["Relu", "Sigmoid"]), [v[0]]), v[1]

    def reshape(self, v):
        x, s = v
        if len(s) == 4:
            if self.coin(0.5):
                # the shape comes from a shape program: Shape -> Gather -> Concat
                n = self.node("Gather", [self.node("Shape", [x]), self.i64([0])], axis=0)
                shape = self.node("Concat", [n, self.i64([-1])], axis=0)
            else:
                shape = self.i64([s[0], -1])
            return self.node("Reshape", [x, shape]), [s[0], s[1] * s[2] * s[3]]
        f = s[1]
        for c in (4, 3, 2):
            if f % c == 0 and f > c:
                shape = [s[0], c, f // c, 1] if self.coin(0.5) else [s[0], c, 1, f // c]
                return self.node("Reshape", [x, self.i64(shape)]), shape
        return self.node("Reshape", [x, self.i64([s[0], f, 1, 1])]), [s[0], f, 1, 1]

    def transpose(self, v):
        x, s = v
        perm = [int(p) for p in self.rng.permutation(len(s))]
        return self.node("Transpose", [x], perm=perm), [s[p] for p in perm]

    def concat(self, v):
        x, s = v
        axis = 1
        fits = [p for p in self.pool if len(p[1]) == len(s) and p[1][:axis] == s[:axis] and p[1][axis + 1:] == s[axis + 1:]]
        y, t = self.pick(fits) if fits and self.coin(0.7) else (x, s)  # else x twice
        out = list(s)
        out[axis] += t[axis]
        if self.coin(0.3):  # a constant third part
            k = int(self.rng.integers(1, 3))
            cs = list(s)
            cs[axis] = k
            out[axis] += k
            return self.node("Concat", [x, y, self.const(cs)], axis=axis), out
        return self.node("Concat", [x, y], axis=axis), out

    def softmax(self, v):
        x, s = v
        return self.node("Softmax", [x], axis=int(self.pick([-1, 1]))), s

    def duplicate(self, v):
        """An earlier run-time node again, as a separate node whose result
        stays in use: cse merges it.  Or a near twin that cse must keep
        apart: the same op and operands with another perm or axis, or a
        Concat with its operands swapped."""
        ops = ("Relu", "Sigmoid", "LeakyRelu", "Transpose", "Softmax", "Concat", "Add", "Mul", "MatMul", "Gemm")
        made = {p[0]: p[1] for p in self.pool}
        seen = [n for n in self.nodes if n.op_type in ops and n.output[0] in made]
        if not seen:
            return None
        n = seen[-1] if self.coin(0.5) else self.pick(seen)
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        ins, shape = list(n.input), made[n.output[0]]
        if self.coin(0.5):
            if n.op_type == "Transpose":
                perm = [int(p) for p in self.rng.permutation(len(shape))]
                attrs["perm"], shape = perm, [made[ins[0]][p] for p in perm]
            elif n.op_type == "Softmax":
                attrs["axis"] = 1 if attrs["axis"] == -1 else -1
            elif n.op_type == "LeakyRelu":
                attrs["alpha"] = 0.3
            elif n.op_type == "Gemm":
                attrs["alpha"] = attrs.get("alpha", 1.0) + 0.25
            elif n.op_type == "Concat" and len(ins) == 2:
                ins.reverse()
        out = self.fresh(n.op_type.lower())
        self.nodes.append(helper.make_node(n.op_type, ins, [out], name=out, **attrs))
        return out, shape

    # -- the graph -----------------------------------------------------------

    def build(self):
        c, h, w = (int(self.rng.integers(a, b)) for a, b in ((1, 5), (3, 8), (3, 8)))
        self.inputs.append(("x", [1, c, h, w]))
        self.pool.append(("x", [1, c, h, w]))
        if self.coin(0.4):
            f = int(self.rng.integers(2, 9))
            self.inputs.append(("z", [int(self.rng.integers(1, 4)), f]))
            self.pool.append(self.inputs[-1])
        ops = [self.conv, self.conv, self.gemm, self.matmul, self.binary, self.binary, self.unary, self.reshape,
               self.reshape, self.transpose, self.concat, self.softmax, self.batchnorm, self.duplicate, self.duplicate,
               self.pooling]
        steps = int(self.rng.integers(3, 14))
        dag = self.coin(0.6)
        tries = 0
        while steps and tries < 200:
            tries += 1
            v = self.pick(self.pool) if dag and self.coin(0.5) else self.pool[-1]
            r = self.pick(ops)(v)
            if r is None or int(np.prod(r[1])) > MAX_ELEMS or len(r[1]) > 4:
                continue
            self.pool.append(r)
            steps -= 1
        # Every value nothing reads is an output (the last five), so little
        # of the graph is dead code.
        read = {i for n in self.nodes for i in n.input}
        inputs = dict(self.inputs)
        outs = [p[0] for p in self.pool if p[0] not in read and p[0] not in inputs][-5:] or [self.pool[-1][0]]
        for _ in range(int(self.rng.integers(0, 3))):  # intermediates that are outputs too
            name = self.pick(self.pool)[0]
            if name not in outs and name not in inputs:
                outs.append(name)
        if self.coin(0.2):  # an output computed from constants alone
            outs.append(self.node("Sigmoid", [self.const([int(self.rng.integers(1, 6))])]))
        return self.model(outs)

    def model(self, outs):
        g = helper.make_graph(self.nodes, "prop",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in self.inputs],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs],
                              self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = 7
        return onnx.shape_inference.infer_shapes(m, strict_mode=True)


def kiln_run(kiln, path, ins, out_dir, opt, n_out):
    shutil.rmtree(out_dir, ignore_errors=True)
    kt.run([kiln, "run", path] + opt.split() + ["--output-dir", out_dir, "--input"] + ins)
    outs = []
    for i in range(n_out):
        t = onnx.TensorProto()
        with open(os.path.join(out_dir, f"output_{i}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        outs.append((t.name, numpy_helper.to_array(t)))
    return outs


def check(kiln, work, seed):
    d = os.path.join(work, f"g{seed}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    m = Gen(seed).build()
    path = os.path.join(d, "model.onnx")
    onnx.save(m, path)
    rng = np.random.default_rng(seed + 1)
    xs, files = [], []
    for i, inp in enumerate(m.graph.input):
        x = rng.uniform(-1, 1, [dim.dim_value for dim in inp.type.tensor_type.shape.dim]).astype(np.float32)
        files.append(os.path.join(d, f"input_{i}.npy"))
        np.save(files[-1], x)
        xs.append(x)
    n_out = len(m.graph.output)
    o0 = kiln_run(kiln, path, files, os.path.join(d, "O0"), "-O0", n_out)
    o2 = kiln_run(kiln, path, files, os.path.join(d, "O2"), "-O2", n_out)
    # and with every value the layout pass can block in channel blocks
    # (relayouts from graph inputs, into graph outputs, for row-major readers)
    ob = kiln_run(kiln, path, files, os.path.join(d, "O2b"), "-O2 --layout=blocks", n_out)
    ref = kt.ort_run(path, xs)
    err = max(kt.rel_err(b, a) for o in (o2, ob) for (_, a), (_, b) in zip(o0, o))
    # Against ONNX Runtime, tiny outputs are compared on an absolute scale:
    # the two sigmoids differ by ~1e-3 relative far out in the tail.
    err_ort = max(kt.rel_err(a, r) * min(1.0, float(np.abs(r).max(initial=0))) for (_, a), r in zip(o0, ref))
    names = [n for n, _ in o0] == [n for n, _ in o2] == [n for n, _ in ob] == [o.name for o in m.graph.output]
    ok = err <= 1e-5 and err_ort <= 1e-4 and names
    ops = sorted({n.op_type for n in m.graph.node})
    blocked = "{nchw" in kt.run([kiln, "dump", "--layout=blocks", path]).stdout
    detail = (f"({len(m.graph.node)} nodes, {n_out} outputs{', blocks' if blocked else ''}; "
              f"-O2 vs -O0 {err:.1e}, -O0 vs ORT {err_ort:.1e})")
    if not names:
        detail += " output names differ"
    if not ok:
        detail += f" ops {','.join(ops)}; model {path}"
    return f"graph {seed}", ok, detail


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kiln")
    ap.add_argument("workdir")
    ap.add_argument("--graphs", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0, help="first seed; graph i uses seed + i")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    t0 = time.time()

    def one(seed):
        try:
            return check(a.kiln, a.workdir, seed)
        except kt.Failure as e:
            return f"graph {seed}", False, str(e).strip().replace("\n", "\n    ")
        except Exception as e:  # a generator or oracle problem fails this graph only
            return f"graph {seed}", False, f"{type(e).__name__}: {e}"

    with ThreadPoolExecutor(a.jobs) as ex:
        results = list(ex.map(one, range(a.seed, a.seed + a.graphs)))
    print(f"{a.graphs} random graphs in {time.time() - t0:.1f} s")
    sys.exit(kt.report(results))


if __name__ == "__main__":
    main()
