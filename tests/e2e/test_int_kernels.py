#!/usr/bin/env python3
"""The int8 kernels of AArch64 and rv64gcv (codegen/cg_int_arm.c,
cg_int_rvv.c) under qemu-user, bit for bit: each quantized conv, gemm and
matmul (a .kir graph of one node, u8/i8 in and out) is compiled with the
target's kernels and with the plain lowerings (KILN_CG_REFERENCE=1), both
run by the harness under qemu, and both must equal, byte for byte, the
result computed here with numpy and ir/requant.c's ir_requantize (built
from the source and called through ctypes).  Shapes are awkward on
purpose: K not a multiple of 4, 8 or 16, M and N primes and 1, strides,
dilations, asymmetric pads, 1-D convs, a flattened 1x1 over several
bands, rows over several bands; u8 and i8 activations, weights per
tensor and per channel (u8 ones with their own zero points), relu and
clip; and weights at the extremes with inputs at theirs: all -128 (so
two products in i16 would overflow: the AArch64 kernel without sdot must
take its unpaired step) and -128/-127 never paired as two -128 (its
paired step, 32640 in an i16).
The kernel's assembly must hold its instructions (sdot for a dotprod
cpu; smull + sadalp without, and smlal exactly when the weights are
pair-safe; vsext.vf2 + vwmacc.vx on i16 for RVV) and differ from the
plain lowering's (the kernel ran).  Then test_qdq.py's models run
through qemu the same way (for the dotprod cpu only those of conv, gemm
and matmul): the kernels' build equal to the plain one and both within
test_qdq's tolerance of the ONNX reference evaluator.

    test_int_kernels.py KILN WORKDIR --config C [--only substring]

Configs: aarch64-dotprod (--cpu cortex-a76), aarch64 (--cpu cortex-a53),
riscv64v (rv64gcv, run on VLEN 128 and 256)."""
import argparse
import ctypes
import os
import re
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kilntest as kt  # noqa: E402

RNG = np.random.default_rng(2024)

# name: (kilntest target, extra kiln args, the qemu -cpu options to run
#        under (None: kilntest's), patterns the kernel's asm must hold (with
#        the least K, in units, they need: a single unit from zero leaves no
#        accumulate), the paired step's pattern)
CONFIGS = {
    "aarch64-dotprod": ("aarch64-linux-gnu", ["--cpu", "cortex-a76"], [None],
                        [(r"\bsdot\s+v\d+\.4s, v\d+\.16b, v\d+\.(16b|4b\[\d\])", 1)], None),
    "aarch64": ("aarch64-linux-gnu", ["--cpu", "cortex-a53"], [None],
                [(r"\bsmull2?\s+v\d+\.8h, v\d+\.(8|16)b", 1), (r"\bsad(al|dl)p\s+v\d+\.4s, v\d+\.8h", 1)],
                r"\bsmlal2?\s+v\d+\.8h, v\d+\.(8|16)b"),
    # (RVV mnemonics carry the element width the last vsetvli set: see
    # sew_marked; vwmacc.vx@e16 is i16 x i16 -> i32)
    "riscv64v": ("riscv64-linux-gnu+v", [], [None, ["-cpu", "rv64,v=true,vlen=256"]],
                 [(r"\bvsext\.vf2@e16\b", 2), (r"\bvwmacc\.vx@e16\b", 2)], None),
}
NOT_DOTPROD = r"\b[su]dot\b"
# The ops with kernels: the only ones whose code the dotprod cpu changes
# (its QDQ run skips the others, which the aarch64 config runs).
KERNEL_OPS = ("conv", "gemm", "matmul")

# ---- ir_requantize from the source -------------------------------------------------------------


class Requant(ctypes.Structure):
    _fields_ = [("mult", ctypes.c_int32), ("shift", ctypes.c_int)]


def load_requant(work):
    """ir/requant.c as a shared library (ir_requant_of, ir_requantize)."""
    so = os.path.join(work, "requant.so")
    kt.run(["cc", "-shared", "-fPIC", "-O1", "-I", os.path.join(kt.SRC, "ir"), os.path.join(kt.SRC, "ir", "requant.c"),
            "-o", so, "-lm"])
    lib = ctypes.CDLL(so)
    lib.ir_requant_of.argtypes = [ctypes.c_double, ctypes.POINTER(Requant)]
    lib.ir_requant_of.restype = ctypes.c_bool
    lib.ir_requantize.argtypes = [ctypes.c_int32, Requant, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32]
    lib.ir_requantize.restype = ctypes.c_int32
    return lib


def requantize(lib, acc, r, zy, lo, hi):
    """ir_requantize of every accumulator acc[:, k, ...] by the multiplier
    of r[k] (or of r[0] for all), as kiln makes it: ir_requant_of of the
    ratio of f32 scales computed in double."""
    out = np.empty(acc.shape, np.int32)
    qs = []
    for rk in r:
        q = Requant()
        assert lib.ir_requant_of(float(rk), ctypes.byref(q)), rk
        qs.append(q)
    it = np.nditer(acc, flags=["multi_index"])
    for a in it:
        a = int(a)
        assert -2**31 <= a < 2**31, "the test's accumulators must fit int32"
        idx = it.multi_index
        out[idx] = lib.ir_requantize(a, qs[idx[1] if len(qs) > 1 else 0], zy, lo, hi)
    return out


def act_bounds(dt, sy, zy, act):
    """cg_int_bounds: the dtype's range narrowed by relu or clip(lo, hi),
    the bounds quantized as QuantizeLinear does (f32 division, rint)."""
    lo, hi = (-128, 127) if dt == "i8" else (0, 255)

    def qb(v, lo, hi):
        r = float(np.rint(np.float32(v) / np.float32(sy))) + zy
        return int(min(max(r, lo), hi))
    if act and act[0] == "clip":
        hi = qb(act[2], lo, hi)
        lo = qb(act[1], lo, hi)
    elif act == ("relu",):
        lo = qb(0.0, lo, hi)
    return lo, hi


# ---- the .kir text -------------------------------------------------------------------------------

def f9(v):
    """An f32 as the .kir text writes it: 9 digits, always a float."""
    s = f"{float(np.float32(v)):.9g}"
    return s if any(ch in s for ch in ".en") else s + ".0"


def qtype(dt, shape, scale, zero, axis=None):
    dims = ",".join(str(d) for d in shape)
    if axis is None:
        return f"{dt}[{dims}]{{q: {f9(scale)}, {int(zero)}}}"
    return (f"{dt}[{dims}]{{q axis={axis}: [{', '.join(f9(s) for s in scale)}], "
            f"[{', '.join(str(int(z)) for z in zero)}]}}")


def hexdata(a):
    return np.ascontiguousarray(a).tobytes().hex()


def kir(x_t, consts, node, y_t):
    """One node over input %x and constants [(name, type, array)]."""
    lines = ["kiln 1", "graph @t {", f"  %x : {x_t} = input"]
    lines += [f"  %{nm} : {t} = const @{i}" for i, (nm, t, _) in enumerate(consts)]
    lines += [f"  %y : {y_t} = {node}", "  output %y", "}"]
    lines += [f'data @{i} = x"{hexdata(a)}"' for i, (_, _, a) in enumerate(consts)]
    return "\n".join(lines) + "\n"


def act_attrs(act):
    if not act:
        return ""
    if act[0] == "relu":
        return ', act="relu"'
    return f', act="clip", act_min={f9(act[1])}, act_max={f9(act[2])}'


# ---- data ------------------------------------------------------------------------------------------

NPT = {"u8": np.uint8, "i8": np.int8}


def activations(dt, shape, extreme=False):
    lo, hi = (0, 255) if dt == "u8" else (-128, 127)
    if extreme:
        return RNG.choice([lo, hi], size=shape).astype(NPT[dt])
    return RNG.integers(lo, hi + 1, size=shape).astype(NPT[dt])


def weights(dt, shape, axis, per_channel, mode, kpos=None):
    """Integers, zero points (per channel along axis, or one): u8 weights
    get zero points around 128 and values with w - z in s8; mode "min"
    makes every w - z -128 (no pair is safe), "extreme" -128 or 127 at
    random (some pairs are not), "near" -128 where kpos % 3 == 0 and -127
    elsewhere: with kpos the position along K, two units next to each
    other in the packing (quads or single bytes of K) are never both -128
    (for a conv: c + tap with 12 channels), and a pair's products reach
    32640; "small" in [-2, 2] (with a large `spread`, an accumulator off by one shows)."""
    nch = shape[axis] if per_channel else 1
    if dt == "u8":
        z = RNG.integers(118, 139, size=nch) if per_channel and mode in ("random", "small") else np.full(nch, 128)
    else:
        z = np.zeros(nch, np.int64)
    zb = np.expand_dims(z, tuple(i for i in range(len(shape)) if i != axis)) if per_channel else z[0]
    if mode == "min":
        c = np.full(shape, -128)
    elif mode == "near":
        c = np.where(kpos % 3 == 0, -128, -127)
    elif mode == "small":
        c = RNG.integers(-2, 3, size=shape)
    elif mode == "extreme":
        c = RNG.choice([-128, 127], size=shape)
    else:
        c = RNG.integers(-128, 128, size=shape)
    w = c + zb
    lo, hi = (0, 255) if dt == "u8" else (-128, 127)
    return np.clip(w, lo, hi).astype(NPT[dt]), z


def scales(n, base):
    return (base * RNG.uniform(0.5, 1.5, size=n)).astype(np.float32)


def expected(lib, acc, sx, sw, ydt, zy, act, spread):
    """The result of accumulators acc (channels on axis 1) at scales sx,
    sw[channel]: its scale sy spreads them over about `spread` quanta, the
    clip bounds of act are given in quanta.  (y, sy, act in reals)."""
    sy = np.float32(float(sx) * float(np.mean(sw)) * max(float(acc.std()), 1.0) / spread)
    act = act and act[:1] + tuple(float(np.float32(a * sy)) for a in act[1:])
    lo, hi = act_bounds(ydt, sy, zy, act)
    r = [float(sx) * float(s) / float(sy) for s in sw]
    return requantize(lib, acc, r, zy, lo, hi).astype(NPT[ydt]), sy, act


def pair_safe(wq):
    """Are centred weights wq ([channel][unit of K][4]: K in quads, as the
    AArch64 kernels pack them) pair-safe: no byte where units 2j and 2j+1
    of a channel are both -128?"""
    n = wq.shape[1] // 2 * 2
    return not ((wq[:, 0:n:2] == -128) & (wq[:, 1:n:2] == -128)).any()


def quads(w, axis):
    """w ([channel][K along `axis` + 1...]) as [channel][units][4], K zero
    padded to whole quads."""
    w = np.moveaxis(w, axis, -1).reshape(w.shape[0], -1, w.shape[axis])  # [channel][rest][K-part]
    pad = -w.shape[2] % 4
    return np.pad(w, [(0, 0), (0, 0), (0, pad)]).reshape(w.shape[0], w.shape[1], -1, 4).reshape(w.shape[0], -1, 4)


# ---- the cases -------------------------------------------------------------------------------------

class Case:
    """A graph, its input and expected output; `safe`: its weights are
    pair-safe, and K its reduction's length (a single unit has no pair)."""
    def __init__(self, name, text, x, y_ref, y_dt, safe, K):
        self.name, self.text, self.x, self.y_ref, self.y_dt, self.safe, self.K = name, text, x, y_ref, y_dt, safe, K


def conv_case(lib, name, xdt, wdt, xshape, M, k, strides=None, pads=None, dil=None, per_channel=True, act=None,
              zx=None, wmode="random", xextreme=False, bias=True, spread=40):
    nsp = len(xshape) - 2
    k = list(k)
    strides, dil = strides or [1] * nsp, dil or [1] * nsp
    pads = pads or [0] * (2 * nsp)
    C = xshape[1]
    x = activations(xdt, xshape, xextreme)
    zx = zx if zx is not None else (128 if xdt == "u8" else -3)
    idx = np.indices([M, C] + k)
    taps = idx[2] * k[1] + idx[3] if nsp == 2 else idx[2]
    w, zw = weights(wdt, [M, C] + k, 0, per_channel, wmode, idx[1] + taps)
    b = RNG.integers(-3000, 3001, size=M).astype(np.int32)
    out_sp = [(xshape[2 + i] + pads[i] + pads[nsp + i] - dil[i] * (k[i] - 1) - 1) // strides[i] + 1 for i in range(nsp)]
    # the accumulators: (x - z_x)(w - z_w) over the taps inside x (padding is z_x)
    xc = x.astype(np.int64) - zx
    xp = np.pad(xc, [(0, 0), (0, 0)] + [(pads[i], pads[nsp + i]) for i in range(nsp)])
    zwb = zw.reshape([-1] + [1] * (nsp + 1)) if per_channel else zw[0]
    wc = w.astype(np.int64) - zwb
    acc = np.zeros([xshape[0], M] + out_sp, np.int64) + (b.reshape([1, M] + [1] * nsp) if bias else 0)
    for tap in np.ndindex(*k):
        sl = tuple(slice(tap[i] * dil[i], tap[i] * dil[i] + strides[i] * (out_sp[i] - 1) + 1, strides[i]) for i in range(nsp))
        patch = xp[(slice(None), slice(None)) + sl]
        acc += np.einsum("nc...,mc->nm...", patch, wc[(slice(None), slice(None)) + tap])
    sx, ydt, zy = np.float32(0.02), xdt, 60 if xdt == "u8" else -7
    sw = scales(M if per_channel else 1, 0.01)
    y, sy, act = expected(lib, acc, sx, sw, ydt, zy, act, spread)
    consts = [("w", qtype(wdt, w.shape, sw, zw, 0) if per_channel else qtype(wdt, w.shape, sw[0], zw[0]), w)]
    operands = "%x, %w" + (", %b" if bias else "")
    if bias:
        consts.append(("b", f"i32[{M}]", b))
    attrs = (f"strides=[{', '.join(map(str, strides))}], pads=[{', '.join(map(str, pads))}], "
             f"dilations=[{', '.join(map(str, dil))}], group=1" + act_attrs(act))
    text = kir(qtype(xdt, xshape, sx, zx), consts, f"conv({operands}) {{{attrs}}}", qtype(ydt, y.shape, sy, zy))
    # the AArch64 packing: K as [tap][quad of channels]
    safe = pair_safe(quads(wc.reshape(M, C, -1), 1))
    assert {"near": safe, "min": not safe, "extreme": not safe}.get(wmode, True), name  # what the case is for
    return Case(name, text, x, y, ydt, safe, C * int(np.prod(k)))


def mm_case(lib, name, op, xdt, wdt, ashape, K, N, trans_b=False, per_channel=True, act=None, bias="row",
            wmode="random", xextreme=False, b_rank=2, spread=40):
    x = activations(xdt, ashape, xextreme)
    zx = 128 if xdt == "u8" else 1
    if b_rank == 1:
        w, zw = weights(wdt, [K], 0, False, wmode)
        wkn = w.reshape(K, 1)
        per_channel = False
    else:
        wshape = [N, K] if trans_b else [K, N]
        w, zw = weights(wdt, wshape, 0 if trans_b else 1, per_channel, wmode, np.indices(wshape)[1 if trans_b else 0])
        wkn = w.T if trans_b else w
    zwn = zw if per_channel else np.full(N, zw[0])
    wc = wkn.astype(np.int64) - zwn.reshape(1, N)
    acc = (x.astype(np.int64) - zx).reshape(-1, K) @ wc
    cb = None
    if op == "gemm" and bias:
        cb = RNG.integers(-3000, 3001, size=(1, N) if bias == "row" else (N,)).astype(np.int32)
        acc = acc + cb.reshape(1, N)
    sx, ydt, zy = np.float32(0.05), xdt, 100 if xdt == "u8" else 3
    sw = scales(N if per_channel else 1, 0.01)
    y, sy, act = expected(lib, acc, sx, sw, ydt, zy, act, spread)  # per column: axis 1 of [rows, N]
    yshape = list(ashape[:-1]) + ([N] if b_rank == 2 else [])
    y = y.reshape(yshape)
    axis = (0 if trans_b else 1)
    wt = qtype(wdt, w.shape, sw, zw, axis) if per_channel else qtype(wdt, w.shape, sw[0], zw[0])
    consts = [("w", wt, w)]
    if op == "gemm":
        operands = "%x, %w" + (", %c" if cb is not None else "")
        if cb is not None:
            consts.append(("c", f"i32[{','.join(map(str, cb.shape))}]", cb))
        node = f"gemm({operands}) {{alpha=1.0, beta=1.0, trans_a=0, trans_b={int(trans_b)}{act_attrs(act)}}}"
    else:
        node = f"matmul(%x, %w)" + (f" {{{act_attrs(act)[2:]}}}" if act else "")
    text = kir(qtype(xdt, ashape, sx, zx), consts, node, qtype(ydt, yshape, sy, zy))
    safe = pair_safe(quads(wc.T, 1))
    assert {"near": safe, "min": not safe, "extreme": not safe}.get(wmode, True), name
    return Case(name, text, x, y, ydt, safe, K)


def cases(lib):
    P1 = [1, 1, 1, 1]
    c = [
        conv_case(lib, "conv_u8_pc_3x3_pad", "u8", "i8", (1, 5, 9, 11), 7, (3, 3), pads=P1),
        conv_case(lib, "conv_i8_pt_s2_asym_relu", "i8", "i8", (1, 3, 10, 13), 13, (3, 3), strides=[2, 2],
                  pads=[1, 0, 2, 1], per_channel=False, act=("relu",)),
        conv_case(lib, "conv_u8w_zero_points_5x5_clip", "u8", "u8", (1, 13, 7, 7), 17, (5, 5), pads=[2, 2, 2, 2],
                  act=("clip", -30.4, 45.5), zx=0),
        conv_case(lib, "conv_i8_1x1_flat", "i8", "i8", (1, 17, 6, 9), 19, (1, 1), zx=-128),
        conv_case(lib, "conv_m1_c1", "u8", "i8", (1, 1, 8, 8), 1, (3, 3), zx=255),
        conv_case(lib, "conv_dilated_3x2", "u8", "i8", (1, 4, 13, 17), 5, (3, 2), dil=[2, 3], pads=[2, 0, 1, 3]),
        conv_case(lib, "conv_1d_s3", "i8", "i8", (2, 6, 41), 11, (5,), strides=[3], pads=[2, 2], act=("relu",)),
        conv_case(lib, "conv_batch2_wide_rows", "u8", "i8", (2, 16, 5, 67), 8, (3, 3), pads=P1, bias=False),
        conv_case(lib, "conv_s2_wide_odd", "i8", "u8", (1, 7, 9, 45), 6, (3, 3), strides=[2, 2], pads=P1),
        conv_case(lib, "conv_bands_c32", "u8", "i8", (1, 32, 40, 40), 24, (3, 3), pads=P1, act=("clip", -20.5, 33)),
        conv_case(lib, "conv_1x1_flat_bands", "i8", "i8", (1, 64, 50, 50), 3, (1, 1)),
        conv_case(lib, "conv_extreme_all_min", "u8", "i8", (1, 5, 7, 9), 5, (3, 3), pads=P1, wmode="min",
                  xextreme=True, zx=128),
        conv_case(lib, "conv_extreme_i8_all_min", "i8", "i8", (1, 9, 6, 6), 4, (3, 3), wmode="min", xextreme=True,
                  zx=0),
        conv_case(lib, "conv_extreme_near_limit", "i8", "i8", (1, 12, 6, 7), 3, (3, 3), pads=P1, wmode="near",
                  xextreme=True, zx=0),
        conv_case(lib, "conv_extreme_u8_weights", "u8", "u8", (1, 6, 5, 5), 7, (3, 3), wmode="extreme",
                  xextreme=True, zx=255),
        conv_case(lib, "conv_small_weights_one_off_shows", "u8", "i8", (1, 5, 8, 9), 6, (3, 3), strides=[2, 1],
                  pads=[1, 2, 0, 1], wmode="small", spread=600, zx=77),
        mm_case(lib, "gemm_small_weights_one_off_shows", "gemm", "u8", "i8", (5, 21), 21, 11, wmode="small",
                spread=600),
        mm_case(lib, "gemm_u8_tb_pc", "gemm", "u8", "i8", (7, 37), 37, 17, trans_b=True),
        mm_case(lib, "gemm_i8_gemv_pt_relu", "gemm", "i8", "i8", (1, 129), 129, 31, per_channel=False, act=("relu",),
                bias="vec"),
        mm_case(lib, "gemm_n1", "gemm", "u8", "u8", (5, 13), 13, 1),
        mm_case(lib, "gemm_no_trans_clip", "gemm", "i8", "i8", (9, 11), 11, 40, act=("clip", -50.2, 70.7)),
        mm_case(lib, "gemm_k1", "gemm", "u8", "i8", (3, 1), 1, 5, bias=None),
        mm_case(lib, "gemm_tall", "gemm", "i8", "u8", (67, 5), 5, 9, trans_b=True),
        mm_case(lib, "gemm_extreme_all_min", "gemm", "u8", "i8", (4, 23), 23, 13, wmode="min", xextreme=True),
        mm_case(lib, "gemm_extreme_near_limit", "gemm", "i8", "i8", (6, 30), 30, 7, trans_b=True, wmode="near",
                xextreme=True),
        mm_case(lib, "matmul_batch_relu", "matmul", "u8", "i8", (3, 5, 7), 7, 19, act=("relu",)),
        mm_case(lib, "matmul_vector", "matmul", "i8", "i8", (1, 1, 23), 23, 1),
        mm_case(lib, "matmul_b_1d", "matmul", "u8", "i8", (4, 6), 6, 1, b_rank=1),
        mm_case(lib, "matmul_k16_n16", "matmul", "i8", "u8", (2, 3, 16), 16, 16),
    ]
    return c


# ---- running ------------------------------------------------------------------------------------------

def asm_of(kiln, path, target, extra):
    args = kt.KILN_TARGET_ARGS.get(target, ["--target", target])
    return kt.run([kiln, "compile", path, "--emit", "asm", "-o", "-"] + args + list(extra)).stdout


def builds(kiln, path, d, target, extra, inputs, out_specs, qemus):
    """The outputs of the kernels' build and of the plain one (each under
    every qemu cpu), and their assembly."""
    outs, asm = {}, {}
    base = kt.TARGETS[target][1]
    for ref in ("0", "1"):
        os.environ["KILN_CG_REFERENCE"] = ref
        try:
            asm[ref] = asm_of(kiln, path, target, extra)
            exe = kt.compile_model(kiln, path, d, f"m{ref}", target, extra)
        finally:
            os.environ.pop("KILN_CG_REFERENCE", None)
        for qi, cpu in enumerate(qemus):
            argv = exe if cpu is None else [base[0]] + cpu + exe[len(base):]
            outs[(ref, qi)] = kt.run_harness(argv, d, inputs, out_specs)
    return outs, asm


def sew_marked(asm):
    """RISC-V assembly with each vector mnemonic marked by the element
    width in force (vwmacc.vx@e8: i8 x i8 -> i16; @e32 would be the
    requantization's i32 x i32 -> i64), read from the vsetvli before it."""
    out, sew = [], "e?"
    for ln in asm.splitlines():
        m = re.search(r"\bvseti?vli\s+\w+,\s*\w+,\s*(e\d+)", ln)
        if m:
            sew = m.group(1)
        ln = re.sub(r"^(\s*)(v[a-z0-9.]+)(\s)", lambda g: f"{g.group(1)}{g.group(2)}@{sew}{g.group(3)}", ln)
        out.append(ln)
    return "\n".join(out)


def check_asm(cfg, asm, case):
    _, _, _, want, pair_pat = CONFIGS[cfg]
    if asm["0"] == asm["1"]:
        return "the kernels' build is the plain lowering's (no kernel took the node)"
    asm = {k: sew_marked(v) for k, v in asm.items()} if cfg.startswith("riscv") else asm
    units = case.K if cfg.startswith("riscv") else -(-case.K // 4)  # K in bytes, or in quads
    for p, least in want:
        if units >= least and not re.search(p, asm["0"]):
            return f"the kernel's assembly lacks /{p}/"
    if cfg == "aarch64" and re.search(NOT_DOTPROD, asm["0"]):
        return "sdot/udot in code for a cpu without the dot-product extension"
    if pair_pat:
        paired = case.safe and units > 1
        has = bool(re.search(pair_pat, asm["0"]))
        if has != paired:
            return f"the paired step ({pair_pat}) {'missing on pair-safe' if paired else 'taken on unsafe'} weights"
    return None


def run_case(kiln, work, cfg, case):
    target, extra, qemus = CONFIGS[cfg][:3]
    d = os.path.join(work, case.name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    path = os.path.join(d, "model.kir")
    with open(path, "w") as f:
        f.write(case.text)
    outs, asm = builds(kiln, path, d, target, extra, [case.x], [(np.dtype(NPT[case.y_dt]), case.y_ref.shape)], qemus)
    why = check_asm(cfg, asm, case)
    if why:
        return why
    for (ref, qi), (y,) in outs.items():
        if not np.array_equal(y, case.y_ref):
            bad = np.argwhere(y != case.y_ref)
            i = tuple(bad[0])
            return (f"{'plain' if ref == '1' else 'kernel'} build{' (qemu ' + ' '.join(qemus[qi]) + ')' if qemus[qi] else ''}: "
                    f"{len(bad)} of {y.size} bytes differ from ir_requantize's, first at {i}: {y[i]} vs {case.y_ref[i]}")
    return None


def dot_choice(kiln, work, case):
    """Which AArch64 cpus and feature lists get sdot (targets.c's
    tgt_arm_has): the list decides when it names dotprod, else the cpu."""
    path = os.path.join(work, "dot_choice.kir")
    with open(path, "w") as f:
        f.write(case.text)
    for extra, want in (([], False), (["--cpu", "neoverse-n1"], True), (["--cpu", "cortex-a55"], True),
                        (["--cpu", "cortex-a76", "--features", "-dotprod"], False),
                        (["--cpu", "cortex-a53", "--features", "+dotprod"], True)):
        asm = asm_of(kiln, path, "aarch64-linux-gnu", extra)
        smull = re.search(CONFIGS["aarch64"][3][0][0], asm)  # the kernel's i8 x i8 -> i16
        if bool(re.search(r"\bsdot\b", asm)) != want or bool(smull) == want:
            return f"{' '.join(extra) or 'the default cpu'}: sdot expected {'' if want else 'not '}to be chosen"
    return None


def run_qdq(kiln, work, cfg, name, case):
    """A test_qdq.py model: kernels' build == plain build, both near the
    ONNX reference evaluator as test_qdq.py asks."""
    import test_qdq as tq
    from onnx.reference import ReferenceEvaluator
    import onnx
    target, extra, qemus = CONFIGS[cfg][:3]
    build, int_op, quantum = case
    d = os.path.join(work, "qdq_" + name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    b = tq.Builder()
    inputs, out = build(b)
    path = os.path.join(d, "model.onnx")
    m = b.model(inputs, out, path)
    m = onnx.shape_inference.infer_shapes(m)
    feeds = {nm: (RNG.standard_normal(shp) * 1.5).astype(np.float32) for nm, shp in inputs}
    ref = ReferenceEvaluator(onnx.load(path)).run(None, feeds)[0]
    outs, asm = builds(kiln, path, d, target, extra, list(feeds.values()), [(np.dtype(np.float32), ref.shape)], qemus)
    first = outs[("1", 0)][0]
    for key, (y,) in outs.items():
        if not np.array_equal(y, first):
            return f"build {key} differs from the plain lowering's"
    dq = np.rint(np.abs(first.astype(np.float64) - ref.astype(np.float64)) / quantum)
    if dq.max() > 2 or (dq > 1).sum() > 0.001 * dq.size:
        return f"{int((dq > 1).sum())} of {dq.size} elements off by more than a quantum, at most {dq.max():.0f}"
    return "" if asm["0"] == asm["1"] else "(kernel)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kiln")
    ap.add_argument("workdir")
    ap.add_argument("--config", required=True, choices=sorted(CONFIGS))
    ap.add_argument("--only", default="")
    ap.add_argument("--no-qdq", action="store_true")
    a = ap.parse_args()
    work = os.path.join(a.workdir, a.config)
    os.makedirs(work, exist_ok=True)
    lib = load_requant(work)
    results, todo = [], cases(lib)
    if a.config == "aarch64" and a.only in "dot_choice":
        try:
            why = dot_choice(a.kiln, work, todo[0])
        except kt.Failure as e:
            why = str(e)
        results.append(("dot_choice", why is None, why or ""))
    for case in todo:
        if a.only not in case.name:
            continue
        try:
            why = run_case(a.kiln, work, a.config, case)
        except kt.Failure as e:
            why = str(e)
        results.append((case.name, why is None, why or ""))
    if not a.no_qdq:
        import test_qdq as tq
        for name, case in tq.CASES.items():
            if a.only not in "qdq_" + name or (a.config == "aarch64-dotprod" and case[1] not in KERNEL_OPS):
                continue
            try:
                why = run_qdq(a.kiln, work, a.config, name, case)
            except kt.Failure as e:
                why = str(e)
            results.append(("qdq_" + name, why in ("", "(kernel)"), why))
    sys.exit(kt.report(results))


if __name__ == "__main__":
    main()
