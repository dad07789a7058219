#!/usr/bin/env python3
"""Every optimized kernel against the plain lowering (KILN_CG_REFERENCE=1)
on random inputs of awkward shapes: prime sizes, 1x1, channel counts that
are not a multiple of the vector width, single rows and columns, images
small enough for the whole-image tiling and wide enough for row tiles,
fused residuals and activations.  Both objects are compiled for the same
target and run by the same harness (natively or under qemu-user).

    test_kernels.py KILN WORKDIR [--target T] [--only substring]"""
import argparse
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kilntest as kt  # noqa: E402

rng = np.random.default_rng(11)
F = TensorProto.FLOAT


def rnd(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def model(nodes, x_shape, inits, opset=14):
    g = helper.make_graph(nodes, "k", [helper.make_tensor_value_info("x", F, x_shape)],
                          [helper.make_tensor_value_info("y", F, None)],
                          [numpy_helper.from_array(a, n) for n, a in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    return onnx.shape_inference.infer_shapes(m, strict_mode=True)


def conv(x, w, act=None, residual=False, **attrs):
    """Conv (+ residual Add of a second conv of the same shape) (+ act)."""
    inits = [("w", rnd(*w, scale=0.3)), ("b", rnd(w[0]))]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], **attrs)]
    last = "c"
    if residual:
        inits.append(("w2", rnd(*w, scale=0.3)))
        nodes += [helper.make_node("Conv", ["x", "w2"], ["c2"], **attrs), helper.make_node("Add", ["c", "c2"], ["s"])]
        last = "s"
    if act == "Silu":  # x * sigmoid(x), fused as one epilogue
        nodes += [helper.make_node("Sigmoid", [last], ["sg"]), helper.make_node("Mul", [last, "sg"], ["a"])]
        last = "a"
    elif act:
        nodes.append(helper.make_node(act, [last], ["a"]))
        last = "a"
    nodes.append(helper.make_node("Identity", [last], ["y"]))
    return model(nodes, x, inits)


def maxpool(x, **attrs):
    return model([helper.make_node("MaxPool", ["x"], ["y"], **attrs)], x, [])


def gemm(m, k, n, trans_b=1):
    w = rnd(n, k, scale=0.3) if trans_b else rnd(k, n, scale=0.3)
    return model([helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=trans_b),
                  helper.make_node("Relu", ["g"], ["y"])], (m, k), [("w", w), ("b", rnd(n))])


def matmul(xs, ws):
    return model([helper.make_node("MatMul", ["x", "w"], ["y"])], xs, [("w", rnd(*ws, scale=0.3))])


def layernorm(xs, axis, scale, bias):
    """LayerNormalization with constant scale (and bias) of the given shapes."""
    inits = [("s", rnd(*scale))] + ([("b", rnd(*bias))] if bias else [])
    return model([helper.make_node("LayerNormalization", ["x", "s"] + (["b"] if bias else []), ["y"], axis=axis)],
                 xs, inits, opset=17)


def chain(x, layers, tail=None, more_inits=()):
    """A chain of layers over x: ("conv", M, k, attrs..., act) convs (3x3 or
    1x1, with bias), ("dw", k, attrs, act) depthwise, ("pool", attrs) max
    pools, ("res", i) adds the result of layer i (a residual), ("se", r)
    squeeze-and-excitation (global pool, two 1x1 convs, sigmoid, a
    per-channel product).  Values between the layers are what the layout
    pass keeps in channel blocks; tail(last) adds the graph's last nodes."""
    nodes, inits, outs = [], list(more_inits), []
    C, last = x[1], "x"
    for i, (kind, *a) in enumerate(layers):
        o = f"l{i}"
        if kind == "conv":
            M, k, attrs, act = a
            inits += [(f"w{i}", rnd(M, C, k, k, scale=0.3)), (f"b{i}", rnd(M))]
            nodes.append(helper.make_node("Conv", [last, f"w{i}", f"b{i}"], [o], **attrs))
            C = M
        elif kind == "dw":
            k, attrs, act = a
            inits += [(f"w{i}", rnd(C, 1, k, k, scale=0.3)), (f"b{i}", rnd(C))]
            nodes.append(helper.make_node("Conv", [last, f"w{i}", f"b{i}"], [o], group=C, **attrs))
        elif kind == "pool":
            act = None
            nodes.append(helper.make_node("MaxPool", [last], [o], **a[0]))
        elif kind == "res":
            act = "Relu"
            nodes.append(helper.make_node("Add", [last, outs[a[0]]], [o]))
        elif kind == "se":
            r, act = a[0], None
            inits += [(f"wa{i}", rnd(r, C, 1, 1, scale=0.3)), (f"wb{i}", rnd(C, r, 1, 1, scale=0.3))]
            nodes += [helper.make_node("GlobalAveragePool", [last], [f"g{i}"]),
                      helper.make_node("Conv", [f"g{i}", f"wa{i}"], [f"ga{i}"]),
                      helper.make_node("Relu", [f"ga{i}"], [f"gr{i}"]),
                      helper.make_node("Conv", [f"gr{i}", f"wb{i}"], [f"gb{i}"]),
                      helper.make_node("Sigmoid", [f"gb{i}"], [f"gs{i}"]),
                      helper.make_node("Mul", [last, f"gs{i}"], [o])]
        if act:
            nodes.append(helper.make_node(act, [o], [o + "a"]))
            o += "a"
        outs.append(o)
        last = o
    nodes += tail(last) if tail else [helper.make_node("Identity", [last], ["y"])]
    return model(nodes, x, inits)


P1 = {"pads": [1, 1, 1, 1]}


def cases():
    c = {}
    # channel-blocked layouts (nchw<L>c between the layers; channel counts
    # multiples of 16 so that every target's vectors block them): a plain
    # image into blocks and blocks back out, depthwise and pools over
    # blocks with borders, strides, dilations and odd sizes, residuals,
    # squeeze-and-excitation's per-channel product, a concat of blocks,
    # and a row-major reader that needs a relayout
    c["layout_conv_chain"] = chain((1, 3, 13, 11), [("conv", 32, 3, P1, "Relu"), ("conv", 16, 3, {"strides": [2, 2]}, None),
                                                    ("conv", 48, 1, {}, "Sigmoid")])
    c["layout_dw_residual"] = chain((1, 16, 11, 7), [("conv", 32, 1, {}, "Relu"), ("dw", 3, P1, "Clip"),
                                                     ("conv", 32, 1, {}, None), ("res", 0),
                                                     ("dw", 3, {"strides": [2, 2], "pads": [1, 1, 1, 1]}, "Relu"),
                                                     ("conv", 16, 3, {"dilations": [2, 2], "pads": [2, 2, 2, 2]}, None)])
    c["layout_dw_5x5_wide"] = chain((2, 16, 5, 67), [("conv", 16, 1, {}, "Relu"), ("dw", 5, {"pads": [2, 2, 2, 2]}, "Relu"),
                                                     ("dw", 3, {"dilations": [1, 2], "pads": [0, 2, 1, 1]}, None),
                                                     ("conv", 32, 1, {}, None)])
    c["layout_pool_se"] = chain((1, 16, 15, 13), [("conv", 32, 3, P1, "Relu"),
                                                  ("pool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
                                                  ("se", 8), ("pool", {"kernel_shape": [2, 3], "pads": [1, 0, 0, 2]}),
                                                  ("conv", 16, 1, {}, None)])
    # a grouped conv (and a depthwise one with a channel multiplier) with a
    # fused residual from a blocked depthwise conv: rows, residual included
    for name, (g, m) in {"layout_grouped_residual": (2, 32), "layout_multiplier_residual": (32, 64)}.items():
        c[name] = model([helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
                         helper.make_node("Conv", ["c1", "wd"], ["d"], group=32, pads=[1, 1, 1, 1]),
                         helper.make_node("Conv", ["d", "wg"], ["cg"], group=g, pads=[1, 1, 1, 1]),
                         helper.make_node("Conv", ["d", "wr"], ["dr"]),
                         helper.make_node("Add", ["cg", "dr"], ["s"]),
                         helper.make_node("Relu", ["s"], ["y"])], (1, 16, 6, 7),
                        [("w1", rnd(32, 16, 3, 3, scale=0.2)), ("wd", rnd(32, 1, 3, 3, scale=0.5)),
                         ("wg", rnd(m, 32 // g, 3, 3, scale=0.2)), ("wr", rnd(m, 32, 1, 1, scale=0.2))])
    # grouped convs whose groups are whole blocks read and write blocks
    # (one with a residual; with 8-channel groups the result is in blocks
    # on 8- and 4-lane targets, rows on 16)
    c["layout_grouped_blocks"] = model([
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "wg2"], ["g2"], group=2, pads=[1, 1, 1, 1], strides=[1, 2]),
        helper.make_node("Conv", ["g2", "wg4"], ["g4"], group=4, pads=[0, 1, 0, 1]),
        helper.make_node("Conv", ["g4", "wg8"], ["g8"], group=2, pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["g8", "g4"], ["s"]),
        helper.make_node("Relu", ["s"], ["y"])], (1, 16, 9, 13),
        [("w1", rnd(32, 16, 3, 3, scale=0.2)), ("wg2", rnd(64, 16, 3, 3, scale=0.2)),
         ("wg4", rnd(32, 16, 1, 3, scale=0.2)), ("wg8", rnd(32, 16, 3, 3, scale=0.2))])
    # a channel multiplier of 16 (groups of one input channel, 16 outputs):
    # the result in blocks, through the blocked kernel's groups
    c["layout_multiplier_blocks"] = model([
        helper.make_node("Conv", ["x", "wm"], ["c1"], group=2, pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["y"])], (2, 2, 9, 7),
        [("wm", rnd(32, 1, 3, 3, scale=0.5)), ("w2", rnd(8, 32, 1, 1, scale=0.3))])
    c["layout_concat_relayout"] = chain((1, 16, 6, 9), [("conv", 32, 3, P1, "Relu"), ("conv", 16, 1, {}, "Relu")],
                                        lambda last: [helper.make_node("Conv", ["l0a", "wc"], ["c2"], pads=[1, 1, 1, 1]),
                                                      helper.make_node("Concat", [last, "c2"], ["cat"], axis=1),
                                                      helper.make_node("Transpose", ["cat"], ["y"], perm=[0, 2, 3, 1])],
                                        [("wc", rnd(32, 32, 3, 3, scale=0.3))])
    # blocked direct convolution: channel remainders, 1x1, strides, dilations,
    # whole-image tiles (small images) and row tiles (wide ones)
    c["conv_prime_channels"] = conv((1, 7, 13, 11), (13, 7, 3, 3), pads=[1, 1, 1, 1])
    c["conv_1x1_odd"] = conv((1, 17, 5, 7), (19, 17, 1, 1))
    c["conv_stride2_relu"] = conv((1, 5, 23, 19), (11, 5, 3, 3), "Relu", strides=[2, 2], pads=[1, 1, 1, 1])
    c["conv_dilated_asym"] = conv((1, 3, 17, 29), (9, 3, 3, 2), dilations=[2, 3], pads=[2, 0, 1, 3])
    c["conv_tiny_image_residual"] = conv((1, 33, 3, 3), (37, 33, 3, 3), "Relu", residual=True, pads=[1, 1, 1, 1])
    c["conv_single_row"] = conv((1, 6, 1, 31), (10, 6, 1, 3), pads=[0, 1, 0, 1])
    c["conv_single_column"] = conv((1, 6, 29, 1), (10, 6, 3, 1), pads=[1, 0, 1, 0])
    c["conv_wide_row_clip"] = conv((1, 4, 5, 67), (24, 4, 3, 3), "Sigmoid", pads=[1, 1, 1, 1])
    c["conv_groups_remainder"] = conv((1, 12, 9, 10), (18, 4, 3, 3), group=3, pads=[1, 1, 1, 1])
    c["conv_1d_prime"] = conv((2, 5, 41), (7, 5, 5), pads=[2, 2], strides=[3])
    c["conv_batch2_7x7"] = conv((2, 3, 19, 17), (8, 3, 7, 7), strides=[2, 2], pads=[3, 3, 3, 3])
    # depthwise: multipliers, strides, borders, 5x5, tiny and prime widths
    c["dw_3x3_prime"] = conv((1, 13, 11, 17), (13, 1, 3, 3), group=13, pads=[1, 1, 1, 1])
    c["dw_stride2_odd"] = conv((1, 9, 15, 21), (9, 1, 3, 3), "Relu", group=9, strides=[2, 2], pads=[1, 1, 1, 1])
    c["dw_5x5_mult2"] = conv((1, 5, 12, 13), (10, 1, 5, 5), group=5, pads=[2, 2, 2, 2])
    c["dw_width1"] = conv((1, 6, 9, 1), (6, 1, 3, 1), group=6, pads=[1, 0, 1, 0])
    c["dw_narrow_residual"] = conv((1, 7, 4, 3), (7, 1, 3, 3), "Relu", residual=True, group=7, pads=[1, 1, 1, 1])
    c["dw_1d"] = conv((1, 11, 37), (11, 1, 5), group=11, pads=[2, 2])
    # 1x1 convolutions vectorized along the pixels: tails, partial channel
    # blocks, groups, residuals, images narrower than a tile
    c["pw_expand_k16"] = conv((1, 16, 23, 29), (37, 16, 1, 1), "Relu")
    c["pw_residual_clip"] = conv((1, 24, 11, 13), (24, 24, 1, 1), "Clip", residual=True)
    c["pw_groups"] = conv((1, 12, 9, 7), (21, 4, 1, 1), group=3)
    c["pw_one_vector"] = conv((1, 64, 4, 5), (13, 64, 1, 1), "Sigmoid")
    c["pw_silu"] = conv((1, 16, 9, 9), (40, 16, 1, 1), "Silu")
    # input channels in blocks (partial sums in the output between them)
    c["pw_kblocks_residual"] = conv((1, 150, 9, 11), (29, 150, 1, 1), "Relu", residual=True)
    c["pw_kblocks_tail_overlap"] = conv((1, 200, 6, 11), (13, 200, 1, 1), "Clip")
    c["dw_hard_swish"] = conv((1, 24, 7, 7), (24, 1, 5, 5), "HardSwish", group=24, pads=[2, 2, 2, 2])
    c["conv_hard_sigmoid"] = conv((1, 5, 12, 12), (7, 5, 3, 3), "HardSigmoid", pads=[1, 1, 1, 1])
    c["conv_silu_residual"] = conv((1, 8, 6, 6), (8, 8, 3, 3), "Silu", residual=True, pads=[1, 1, 1, 1])
    # depthwise over narrow planes, vectorized across rows (constant shuffles)
    c["dw_plane_kws"] = conv((1, 13, 25, 5), (13, 1, 3, 3), "Relu", group=13, pads=[1, 1, 1, 1])
    c["dw_plane_7x7_5x5_residual"] = conv((1, 6, 7, 7), (6, 1, 5, 5), "Relu", residual=True, group=6, pads=[2, 2, 2, 2])
    c["dw_plane_asym_mult3"] = conv((1, 5, 11, 6), (15, 1, 3, 3), group=5, pads=[0, 1, 2, 0])
    # (stride 2 spreads a chunk's taps past two vectors: the plane form
    # declines it and the row form with its stride-2 shuffles runs)
    c["dw_narrow_stride2_rows"] = conv((1, 7, 9, 8), (7, 1, 3, 3), group=7, strides=[2, 2], pads=[1, 1, 1, 1])
    c["dw_plane_dilated"] = conv((1, 3, 13, 6), (3, 1, 3, 3), group=3, dilations=[2, 2], pads=[2, 2, 2, 2])
    # max pools through the depthwise kernel: strides, ceil mode, padding,
    # narrow planes, dilation, 1-D
    c["maxpool_s2_ceil"] = maxpool((1, 5, 23, 29), kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    c["maxpool_pads_plane"] = maxpool((1, 6, 13, 6), kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    c["maxpool_dilated_asym"] = maxpool((1, 3, 17, 20), kernel_shape=[2, 3], dilations=[2, 1], pads=[1, 0, 0, 2])
    c["maxpool_1d"] = maxpool((1, 4, 41), kernel_shape=[4], strides=[3], pads=[1, 1])
    # softmax over contiguous rows in whole vectors (tails, one vector, a
    # row shorter than a vector takes the plain loop)
    c["softmax_rows_tail"] = model([helper.make_node("Softmax", ["x"], ["y"], axis=-1)], (3, 4, 37), [])
    c["softmax_rows_exact"] = model([helper.make_node("Softmax", ["x"], ["y"], axis=1)], (5, 64), [])
    c["softmax_rows_short"] = model([helper.make_node("Softmax", ["x"], ["y"], axis=-1)], (7, 3), [])
    # transposed convolution by output phases: U-Net's 2x2 stride 2, pads
    # and output padding, dilation, groups, a stride with taps for only some
    # phases (k < s), a batch
    ct = lambda x, w, **a: model([helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], **a)], x,
                                 [("w", rnd(*w, scale=0.3)), ("b", rnd(w[1] * a.get("group", 1)))])
    c["convt_2x2_s2"] = ct((1, 16, 9, 7), (16, 8, 2, 2), strides=[2, 2])
    c["convt_3x3_s2_pads_outpad"] = ct((1, 5, 6, 11), (5, 7, 3, 3), strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1])
    c["convt_dilated_groups"] = ct((2, 6, 5, 8), (6, 2, 3, 2), strides=[1, 2], dilations=[2, 1], group=3, pads=[2, 0, 1, 1])
    c["convt_k2_s3"] = ct((1, 3, 4, 5), (3, 4, 2, 2), strides=[3, 3])
    # packed GEMM and GEMV; matmul with a batch
    c["gemm_prime"] = gemm(7, 13, 17)
    c["gemm_gemv"] = gemm(1, 129, 31)
    c["gemm_narrow_n"] = gemm(5, 64, 3)
    c["gemm_no_trans"] = gemm(9, 11, 40, trans_b=0)
    c["gemm_tall"] = gemm(67, 5, 9)
    c["matmul_batch"] = matmul((3, 5, 7), (7, 19))
    c["matmul_vector"] = matmul((1, 1, 23), (23, 1))
    # matmul with a transpose folded in: runtime B^T (dot products along k,
    # vector + tail, and K shorter than a vector), A^T times packed B
    xxt = lambda xs: model([helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
                            helper.make_node("MatMul", ["x", "t"], ["y"])], xs, [])
    c["matmul_x_xt"] = xxt((2, 7, 37))
    c["matmul_x_xt_short_k"] = xxt((3, 5, 3))
    c["matmul_transa_packed"] = model([helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
                                       helper.make_node("MatMul", ["t", "w"], ["y"])], (3, 11, 5), [("w", rnd(11, 19))])
    # layer norm: rows shorter than a vector, prime lengths (vector + tail),
    # one element, a scalar scale, several normalized axes
    c["layernorm_prime"] = layernorm((3, 5, 37), -1, (37,), (37,))
    c["layernorm_short_rows"] = layernorm((7, 3), 1, (3,), None)
    c["layernorm_one"] = layernorm((4, 1), -1, (1,), (1,))
    c["layernorm_scalar_scale"] = layernorm((2, 67), 1, (1,), (67,))
    c["layernorm_two_axes"] = layernorm((2, 3, 16, 5), 2, (16, 5), (16, 5))
    return c


def run_one(kiln, work, target, name, m):
    d = os.path.join(work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    path = os.path.join(d, "model.onnx")
    onnx.save(m, path)
    x = rnd(*[v.dim_value for v in m.graph.input[0].type.tensor_type.shape.dim])
    outs = []
    # layout cases also run row-major (-O1: no layout pass) as a third
    # opinion, and must really have values in channel blocks at -O3
    builds = [("0", ()), ("1", ())] + ([("1", ("-O1",))] if name.startswith("layout_") else [])
    if name.startswith("layout_"):
        args = kt.KILN_TARGET_ARGS.get(target, ["--target", target]) if target != "host" else []
        kir = kt.run([kiln, "dump", path] + args).stdout
        if "{nchw" not in kir:
            raise kt.Failure("the layout pass put no value in channel blocks")
    for i, (ref, extra) in enumerate(builds):
        os.environ["KILN_CG_REFERENCE"] = ref
        exe = kt.compile_model(kiln, path, d, f"k{i}", target, extra)
        y_shape = tuple(v.dim_value for v in m.graph.output[0].type.tensor_type.shape.dim)
        (y,) = kt.run_harness(exe, d, [x], [(np.dtype(np.float32), y_shape)])
        outs.append(y)
    os.environ.pop("KILN_CG_REFERENCE", None)
    return max(kt.rel_err(outs[0], o) for o in outs[1:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kiln")
    ap.add_argument("workdir")
    ap.add_argument("--target", default="host")
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    if a.target.endswith("+avx2") and " avx2 " not in open("/proc/cpuinfo").read().replace("\n", " "):
        print("SKIP: this host cannot run AVX2 code")  # the objects would die of SIGILL
        return
    bad = skipped = 0
    todo = {n: m for n, m in cases().items() if a.only in n}
    for name, m in todo.items():
        try:
            err = run_one(a.kiln, a.workdir, a.target, name, m)
            ok = err <= 1e-5
            print(f"{'PASS' if ok else 'FAIL'} {name} (optimized vs plain: rel err {err:.2e})")
        except kt.Failure as e:
            if a.target.endswith("+v") and "decode_save_opc: Assertion" in str(e):
                # Debian 12's qemu 7.2 asserts while translating some RVV
                # code (an emulator defect: a bad instruction would be
                # SIGILL); the case cannot be run there, say so.
                print(f"SKIP {name}: qemu-riscv64 7.2 aborted in its RVV translator (decode_save_opc)")
                skipped += 1
                continue
            ok = False
            print(f"FAIL {name}: {e}")
        bad += not ok
    print(f"{len(todo) - bad - skipped}/{len(todo)} kernels agree with the plain lowering on {a.target}"
          + (f" ({skipped} could not run under qemu)" if skipped else ""))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
