#!/usr/bin/env python3
"""kiln vs ONNX Runtime vs PyTorch, batch 1, one thread, side by side.

Per model (tests/e2e/zoo.py builders, random weights): kiln's object from
`kiln compile -O3` linked into bench_main.c and timed in C; ONNX Runtime
(one intra- and one inter-op thread, ORT_ENABLE_ALL); PyTorch frozen
TorchScript through torch.jit.optimize_for_inference, one thread.  The
engines run in alternating rounds (the order rotating each round) so that
machine noise hits all of them alike; medians and minima over all rounds.
Also the core's FP32 peak (peak_flops.c), kiln's achieved GFLOP/s and
compile times (plus ResNet-50's).  Writes docs/performance.md and
docs/performance.png.

The int8 rows (issue 12; --int8, ResNet-18 and MobileNetV2 by default):
the QDQ model of tests/e2e/int8_models.py (onnxruntime's quantize_static,
per-channel int8 weights) and the float model it was quantized from, each
compiled by kiln and run by ONNX Runtime (ORT_ENABLE_ALL, one thread), all
four in the same alternating rounds; medians with the 10th-90th percentile
spread, and the instruction set kiln's int8 object uses, read from its
disassembly.  A script, not a test: nothing here passes or fails
on a timing.

With --vs OTHER_KILN a second kiln build (say, the commit before a change)
joins the same alternating rounds, and a before/after table of latency and
compile time is printed (docs are not written then).

    bench/bench.py KILN [--models a,b] [--int8 a,b] [--runs N] [--rounds R] [--docs DIR] [--vs KILN2]"""
import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings

# One thread everywhere, before torch or onnxruntime load their pools.
for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[v] = "1"

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "e2e"))
warnings.filterwarnings("ignore")

MODELS = ["resnet18", "mobilenet_v2", "squeezenet1_1", "efficientnet_b0", "kws_dscnn", "autoencoder",
          "transformer", "lstm"]
ENGINES = ["kiln", "ORT", "PyTorch"]
INT8 = ["resnet18", "mobilenet_v2"]  # int8_models.py's <name>_qdq
INT8_ENGINES = ["kiln int8", "kiln float", "ORT int8", "ORT float"]


# The clock of every engine's runs: the wall clock, or (--cpu-time) the
# running thread's CPU time, for machines shared with other load (every
# engine runs single-threaded on the timing thread).
CLOCK = time.perf_counter


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, **kw).stdout


# ---------------------------------------------------------------- engines

class Kiln:
    """The compiled object in bench_main.c's serve mode: one process, kept
    alive across rounds; each round asks it for n timed runs."""

    def __init__(self, kiln, name, onnx_path, x, work, opt):
        obj = os.path.join(work, name + ".o")
        report = os.path.join(work, name + ".json")
        t0 = time.perf_counter()
        subprocess.run([kiln, "compile", onnx_path, "-o", obj, opt, "--report", report], check=True)
        self.compile_s = time.perf_counter() - t0
        self.macs = json.load(open(report))["macs"]
        exe = os.path.join(work, name + ".bench")
        subprocess.run(["cc", "-O2", "-std=gnu11", f"-DMODEL={name}", "-I", os.path.join(SRC, "runtime"),
                        "-include", "kiln.h", "-include", os.path.join(work, name + ".h"),
                        os.path.join(HERE, "bench_main.c"), obj, "-o", exe], check=True)
        inp = os.path.join(work, name + ".in")
        self.outpath = os.path.join(work, name + ".out")
        np.ascontiguousarray(x).tofile(inp)
        self.p = subprocess.Popen([exe, "-s", "-o", self.outpath, inp], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        if self.p.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{name}: kiln harness failed to start")

    def output(self, like):
        return np.fromfile(self.outpath, dtype=like.dtype).reshape(like.shape)

    def time(self, n):
        self.p.stdin.write(f"{n}\n")
        self.p.stdin.flush()
        return [float(t) for t in self.p.stdout.readline().split()]

    def close(self):
        self.p.stdin.close()
        self.p.wait()


class Ort:
    """ONNX Runtime through an IOBinding with preallocated output, so a run
    is one C++ call with no per-call allocation on the Python side."""

    def __init__(self, onnx_path, x, y):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.s = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        self.x, self.y = np.ascontiguousarray(x), np.empty_like(y)
        self.b = self.s.io_binding()
        self.b.bind_cpu_input(self.s.get_inputs()[0].name, self.x)
        self.b.bind_output(self.s.get_outputs()[0].name, "cpu", 0, self.y.dtype, self.y.shape,
                           self.y.__array_interface__["data"][0])
        for _ in range(5):
            self.s.run_with_iobinding(self.b)

    def output(self, like):
        return self.y

    def time(self, n):
        t = []
        for _ in range(n):
            t0 = CLOCK()
            self.s.run_with_iobinding(self.b)
            t.append((CLOCK() - t0) * 1e3)
        return t

    def close(self):
        pass


class Torch:
    """Frozen TorchScript (trace, freeze, optimize_for_inference)."""

    def __init__(self, model, x):
        import torch
        self.torch = torch
        self.x = x
        with torch.no_grad():
            f = torch.jit.freeze(torch.jit.trace(model, x))
            try:
                self.f = torch.jit.optimize_for_inference(f)
                self.note = ""
            except Exception as e:  # keep the frozen module, say so
                self.f, self.note = f, f"optimize_for_inference failed ({type(e).__name__}); frozen only"
            for _ in range(5):
                self.out = self.f(x)

    def output(self, like):
        return self.out.numpy()

    def time(self, n):
        t = []
        with self.torch.no_grad():
            for _ in range(n):
                t0 = CLOCK()
                self.f(self.x)
                t.append((CLOCK() - t0) * 1e3)
        return t

    def close(self):
        pass


# ---------------------------------------------------------------- machine

def peak_gflops(work):
    exe = os.path.join(work, "peak_flops")
    subprocess.run(["gcc", "-O3", "-march=native", os.path.join(HERE, "peak_flops.c"), "-o", exe], check=True)
    best, line = 0.0, ""
    for _ in range(3):  # a ceiling: the best of three, each itself a best of seven
        out = sh([exe]).strip()
        g = float(out.split()[0])
        if g > best:
            best, line = g, out
    return best, line.split(" (")[0].split(" ", 2)[2]


def cpu_info():
    fields = {}
    for l in open("/proc/cpuinfo"):
        if ":" in l:
            k, v = (s.strip() for s in l.split(":", 1))
            fields.setdefault(k, v)
    flags = set(fields.get("flags", "").split())
    isa = ", ".join(f for f in ("avx2", "fma", "avx_vnni", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
                                "avx512_fp16", "amx_tile")
                    if f in flags)
    return (f"{fields.get('model name', '?')} (family {fields.get('cpu family', '?')}, model "
            f"{fields.get('model', '?')}, stepping {fields.get('stepping', '?')}), {fields.get('cpu MHz', '?')} MHz "
            f"reported, {os.cpu_count()} logical CPUs; {isa}")


def versions(kiln):
    import onnxruntime
    import torch
    llvm = "19"
    for c in ("llvm-config-19", "llvm-config"):
        try:
            llvm = sh([c, "--version"]).strip()
            break
        except (OSError, subprocess.CalledProcessError):
            pass
    return {"kiln": sh([kiln, "--version"]).strip().split()[-1], "LLVM": llvm,
            "ONNX Runtime": onnxruntime.__version__, "PyTorch": torch.__version__,
            "Python": platform.python_version(), "NumPy": np.__version__,
            "gcc": sh(["gcc", "-dumpfullversion"]).strip(), "Linux": platform.release()}


# ---------------------------------------------------------------- measuring

def measure(engines, runs, rounds):
    """Alternating rounds: each engine does ceil(runs/rounds) runs per round,
    the order rotating, so a burst of noise lands on all of them."""
    per = math.ceil(runs / rounds)
    t = {e: [] for e in engines}
    order = list(engines)
    for r in range(rounds):
        for e in order:
            t[e] += engines[e].time(per)
        order = order[1:] + order[:1]
    # (median, minimum, runs, 10th and 90th percentile)
    return {e: (float(np.median(v)), float(np.min(v)), len(v), float(np.percentile(v, 10)),
                float(np.percentile(v, 90))) for e, v in t.items()}


def max_err(a, b):
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def export_resnet50(path):
    import torch
    import torchvision.models as tvm
    torch.manual_seed(0)
    m = tvm.resnet50(weights=None).eval()
    with torch.no_grad():
        torch.onnx.export(m, torch.randn(1, 3, 224, 224), path, input_names=["input"], output_names=["output"],
                          opset_version=17, dynamo=False)


def bench_model(a, name, work):
    import zoo
    path = os.path.join(work, name + ".onnx")
    x, y = zoo.export(name, path)
    m, xt = zoo.build(name)
    k = Kiln(a.kiln, name, path, x, work, "-O3")
    eng = {"kiln": k, "ORT": Ort(path, x, y), "PyTorch": Torch(m, xt)}
    if a.vs:
        eng["vs"] = Kiln(a.vs, name + "_vs", path, x, work, "-O3")
    errs = {e: max_err(eng[e].output(y), y) for e in eng}
    # Size the run count from a short probe: >= a.runs, more for tiny models
    # (up to about a second per engine), all engines the same count.
    probe = max(float(np.median(eng[e].time(3))) for e in eng)
    runs = max(a.runs, min(a.max_runs, int(a.budget_ms / max(probe, 1e-3))))
    res = measure(eng, runs, a.rounds)
    for e in eng.values():
        e.close()
    return {"name": name, "macs": k.macs, "compile_s": k.compile_s, "res": res, "errs": errs,
            "ref_scale": float(np.max(np.abs(y))), "note": eng["PyTorch"].note,
            "vs_compile_s": eng["vs"].compile_s if a.vs else None}


def int8_isa(obj):
    """Which integer dot-product instructions kiln's object uses, from its
    disassembly: vpdpbusd on zmm (AVX-512 VNNI), on ymm/xmm with a VEX
    encoding (AVX-VNNI) or an EVEX one (AVX-512 VL VNNI), vpmaddubsw (the
    AVX2 / AVX-512 BW sequence), else none (int8 computed in float)."""
    counts = {}
    for line in sh(["objdump", "-d", "--no-show-raw-insn", obj]).splitlines():
        f = line.split("\t")  # "  addr:", the instruction (no raw bytes column)
        if len(f) < 2:
            continue
        ins = f[-1].strip()
        op = ins.split()[0] if ins else ""
        if op in ("vpdpbusd", "vpdpbusds", "{vex}"):
            kind = "zmm" if "zmm" in ins else "vex" if op == "{vex}" else "evex"
            counts[f"vpdpbusd {kind}"] = counts.get(f"vpdpbusd {kind}", 0) + 1
        elif op in ("vpmaddubsw", "pmaddubsw"):
            kind = "zmm" if "zmm" in ins else "ymm" if "ymm" in ins else "xmm"
            counts[f"vpmaddubsw {kind}"] = counts.get(f"vpmaddubsw {kind}", 0) + 1
        elif op.startswith("vfmadd"):
            counts["vfmadd"] = counts.get("vfmadd", 0) + 1
    n = lambda k: counts.get(k, 0)
    if n("vpdpbusd zmm"):
        name = "AVX-512 VNNI"
    elif n("vpdpbusd vex"):
        name = "AVX-VNNI"
    elif n("vpdpbusd evex"):
        name = "AVX-512 VL VNNI"
    elif n("vpmaddubsw zmm"):
        name = "AVX-512 BW (vpmaddubsw)"
    elif n("vpmaddubsw ymm") or n("vpmaddubsw xmm"):
        name = "AVX2 (vpmaddubsw)"
    else:
        name = "none (no integer dot-product instructions: int8 computed in float)"
    return name, ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())) or "none of the counted instructions"


def int8_oracle(path, work):
    """The tests' oracle for the int8 model (tests/e2e/int8_reference.py:
    onnx's reference evaluator, the quantized ops in float64) and a
    function giving an output's largest error from it in quanta of the last
    DequantizeLinear's scale."""
    import test_int8
    g = test_int8.load_graph(path)
    how, q = g.final_scale()
    oracle = test_int8.Oracle(test_int8.oracle_kind(g), path, None, work)
    return oracle, lambda x, got: max_err(got, oracle.run([x])[0]) / float(q)


def bench_int8(a, name, work):
    """kiln int8, kiln float, ORT int8 and ORT float on one model, in the
    same rounds."""
    import int8_models
    b = int8_models.get(name + "_qdq", a.int8_cache)
    x = b.inputs[0][0]
    oracle, quanta = int8_oracle(b.int8, work)
    y = oracle.run([x])[0].astype(np.float32)
    kq = Kiln(a.kiln, name + "_int8", b.int8, x, work, "-O3")
    kf = Kiln(a.kiln, name + "_float", b.float, x, work, "-O3")
    eng = {"kiln int8": kq, "kiln float": kf, "ORT int8": Ort(b.int8, x, y), "ORT float": Ort(b.float, x, y)}
    errs = {e: quanta(x, eng[e].output(y)) for e in ("kiln int8", "ORT int8")}
    probe = max(float(np.median(eng[e].time(3))) for e in eng)
    runs = max(a.runs, min(a.max_runs, int(a.budget_ms / max(probe, 1e-3))))
    res = measure(eng, runs, a.rounds)
    for e in eng.values():
        e.close()
    isa, counts = int8_isa(os.path.join(work, name + "_int8.o"))
    return {"name": name, "res": res, "errs": errs, "isa": isa, "counts": counts,
            "compile_s": {"kiln int8": kq.compile_s, "kiln float": kf.compile_s}}


def int8_table(rows):
    out = ["| model | kiln int8 ms | kiln float ms | ORT int8 ms | ORT float ms | kiln float / kiln int8 | "
           "ORT int8 / kiln int8 | kiln int8 ISA |", "|---|--:|--:|--:|--:|--:|--:|---|"]
    for r in rows:
        res = r["res"]
        cells = [f"{fmt_ms(res[e][0])} ({fmt_ms(res[e][3])}-{fmt_ms(res[e][4])})" for e in INT8_ENGINES]
        out.append(f"| {r['name']} | {' | '.join(cells)} | {res['kiln float'][0] / res['kiln int8'][0]:.2f} | "
                   f"{res['ORT int8'][0] / res['kiln int8'][0]:.2f} | {r['isa']} |")
    return out


def int8_detail(rows):
    out = ["| model | runs | kiln int8 err | ORT int8 err | kiln int8 compile s | kiln float compile s | "
           "instructions in kiln's int8 object |", "|---|--:|--:|--:|--:|--:|---|"]
    for r in rows:
        out.append(f"| {r['name']} | {r['res']['kiln int8'][2]} | {r['errs']['kiln int8']:.2f} | "
                   f"{r['errs']['ORT int8']:.2f} | {r['compile_s']['kiln int8']:.2f} | "
                   f"{r['compile_s']['kiln float']:.2f} | {r['counts']} |")
    return out


def vs_table(rows):
    """Before/after: the --vs build against KILN, from the same rounds."""
    out = ["| model | kiln ms | --vs ms | kiln / --vs | kiln compile s | --vs compile s |",
           "|---|--:|--:|--:|--:|--:|"]
    for r in rows:
        k, v = r["res"]["kiln"], r["res"]["vs"]
        out.append(f"| {r['name']} | {fmt_ms(k[0])} ({fmt_ms(k[1])}) | {fmt_ms(v[0])} ({fmt_ms(v[1])}) | "
                   f"{k[0] / v[0]:.3f} | {r['compile_s']:.2f} | {r['vs_compile_s']:.2f} |")
    out.append(f"| geometric mean | | | {geomean([r['res']['kiln'][0] / r['res']['vs'][0] for r in rows]):.3f} | "
               f"{geomean([r['compile_s'] for r in rows]):.2f} | {geomean([r['vs_compile_s'] for r in rows]):.2f} |")
    return out


# ---------------------------------------------------------------- reporting

def geomean(v):
    return math.exp(sum(math.log(x) for x in v) / len(v))


def fmt_macs(m):
    return f"{m / 1e9:.2f} G" if m >= 1e9 else f"{m / 1e6:.1f} M" if m >= 1e6 else f"{m / 1e3:.0f} k"


def fmt_ms(v):
    return f"{v:.4f}" if v < 0.1 else f"{v:.3f}" if v < 1 else f"{v:.2f}"


def table(rows, peak):
    out = ["| model | MACs | kiln ms | ORT ms | PyTorch ms | kiln / best other | kiln GFLOP/s | % of peak |",
           "|---|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        med = {e: r["res"][e][0] for e in ENGINES}
        mn = {e: r["res"][e][1] for e in ENGINES}
        best = min(med["ORT"], med["PyTorch"])
        g = 2 * r["macs"] / (med["kiln"] * 1e-3) * 1e-9
        cells = [f"{fmt_ms(med[e])} ({fmt_ms(mn[e])})" for e in ENGINES]
        out.append(f"| {r['name']} | {fmt_macs(r['macs'])} | {' | '.join(cells)} | {med['kiln'] / best:.2f} | "
                   f"{g:.1f} | {100 * g / peak:.1f}% |")
    return out


def summary(rows, peak):
    med = lambda r, e: r["res"][e][0]
    gm = {"ORT": geomean([med(r, "kiln") / med(r, "ORT") for r in rows]),
          "PyTorch": geomean([med(r, "kiln") / med(r, "PyTorch") for r in rows]),
          "best": geomean([med(r, "kiln") / min(med(r, "ORT"), med(r, "PyTorch")) for r in rows])}
    pct = geomean([200 * r["macs"] / (med(r, "kiln") * 1e-3) * 1e-9 / peak for r in rows])
    return gm, pct


def plot(rows, path, deps):
    if deps:  # appended: the venv's numpy, already loaded, stays the one used
        sys.path.append(os.path.abspath(deps))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib not available: no chart written")
        return False
    names = [r["name"] for r in rows]
    fig, ax = plt.subplots(figsize=(10, 4.8))
    w = 0.27
    colors = {"kiln": "#d95f02", "ORT": "#1b9e77", "PyTorch": "#7570b3"}
    for i, e in enumerate(ENGINES):
        xs = [j + (i - 1) * w for j in range(len(rows))]
        ys = [r["res"][e][0] for r in rows]
        ax.bar(xs, ys, w, label=e, color=colors[e])
        for xx, yy in zip(xs, ys):
            ax.text(xx, yy * 1.08, fmt_ms(yy), ha="center", va="bottom", fontsize=6, rotation=90)
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)), names, rotation=20, ha="right")
    ax.set_ylabel("median latency, ms (log scale)")
    ax.set_title("Batch 1, one thread: kiln vs ONNX Runtime vs PyTorch TorchScript (lower is better)")
    lo = min(r["res"][e][0] for r in rows for e in ENGINES)
    hi = max(r["res"][e][0] for r in rows for e in ENGINES)
    ax.set_ylim(lo / 2, hi * 4)
    ax.legend()
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def write_doc(path, a, rows, peaks, isa, cpu, vers, r50, load, png, int8_rows):
    peak = max(peaks)
    gm, pct = summary(rows, peak)
    L = ["# Performance", "",
         "Generated by `make bench` (`bench/bench.py`); do not edit by hand. Timings are from one run on the",
         "machine below and move by several percent between runs on a shared machine; compare engines",
         "within a row, which were measured in the same run.", "",
         f"- Date: {datetime.date.today().isoformat()}",
         f"- CPU: {cpu}",
         f"- Load average when the run started: {load}",
         "- Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
         f"- FP32 peak of one core: **{peak:.1f} GFLOP/s** ({isa} FMA loop, `bench/peak_flops.c`, "
         f"gcc -O3 -march=native; best of 21 trials before the models ({peaks[0]:.1f}) and 21 after "
         f"({peaks[1]:.1f}), the higher taken)", "",
         "## Latency, batch 1, one thread", "",
         "Median (minimum) in milliseconds. Random weights (`tests/e2e/zoo.py`). **kiln**: the object from",
         "`kiln compile -O3` (host CPU features) linked into `bench/bench_main.c`, timed in C around",
         "`NAME_run`. **ORT**: ONNX Runtime, CPU provider, intra/inter-op threads 1, ORT_ENABLE_ALL, run",
         "through an IOBinding with a preallocated output. **PyTorch**: `torch.jit.trace`, `torch.jit.freeze`,",
         "`torch.jit.optimize_for_inference`, `torch.set_num_threads(1)`. ORT and PyTorch are timed in Python",
         "around the call, which adds their binding's few microseconds: it matters only for the tiny models.",
         f"The engines ran interleaved, {a.rounds} rounds per model with the order rotating each round;",
         "each engine got the same number of timed runs (at least "
         f"{a.runs}, more for small models; see the last column of the detail table), after warm-up.",
         "`kiln / best other` is kiln's median over the faster of the other two (below 1: kiln is faster).",
         "GFLOP/s is 2 x MACs (from `kiln compile --report`) over kiln's median latency.", ""]
    L += table(rows, peak)
    L += ["", "Geometric means of kiln's median latency over the others' (below 1: kiln is faster):", "",
          f"- kiln / ONNX Runtime: **{gm['ORT']:.2f}**",
          f"- kiln / PyTorch: **{gm['PyTorch']:.2f}**",
          f"- kiln / best of the two, per model: **{gm['best']:.2f}**",
          f"- kiln's share of the FP32 peak (geometric mean): **{pct:.1f}%**", ""]
    if png:
        L += ["![Latency per model and engine](performance.png)", ""]
    L += ["## Compile time", "",
          "Wall clock of `kiln compile` (import, passes, LLVM codegen, object and header written; the",
          "`--report` included), one run each.", "",
          "| model | -O level | kiln compile s |", "|---|---|--:|"]
    L += [f"| {r['name']} | -O3 | {r['compile_s']:.2f} |" for r in rows]
    if r50:
        L += [f"| resnet50 (torchvision, {fmt_macs(r50['macs'])} MACs) | default (-O3) | {r50['compile_s']:.2f} |"]
    L += ["", "## Detail", "",
          "Runs per engine, and the largest absolute difference of each engine's output from PyTorch eager",
          "(the export's reference) on the benchmark input.", "",
          "| model | runs | kiln err | ORT err | PyTorch err | note |", "|---|--:|--:|--:|--:|---|"]
    for r in rows:
        L.append(f"| {r['name']} | {r['res']['kiln'][2]} | " +
                 " | ".join(f"{r['errs'][e]:.1e}" for e in ENGINES) + f" | {r['note']} |")
    if int8_rows:
        L += ["", "## int8, batch 1, one thread", "",
              "Median (10th-90th percentile) in milliseconds. The models are `tests/e2e/int8_models.py`'s: the",
              "torchvision network with random weights and BatchNorm statistics re-estimated on photo crops,",
              "exported to ONNX (the **float** model), and that model quantized by onnxruntime's",
              "`quantize_static` in QDQ format with per-channel int8 weights, calibrated on 32 crops (the",
              "**int8** model; uint8 activations for ResNet-18, int8 for MobileNetV2). **kiln int8** and",
              "**kiln float**: each model's object from `kiln compile -O3` for the host CPU, timed in C as",
              "above. **ORT int8** and **ORT float**: ONNX Runtime on the same two files, ORT_ENABLE_ALL,",
              "one thread, as above. All four ran interleaved in the same rounds, on one 224x224 crop.",
              "`kiln float / kiln int8` and `ORT int8 / kiln int8` above 1 mean kiln's int8 build is faster.",
              "The ISA column names the integer dot-product instructions found in the disassembly of kiln's",
              "int8 object (`objdump -d`: vpdpbusd on zmm is AVX-512 VNNI, VEX-encoded AVX-VNNI, vpmaddubsw",
              "the AVX2 sequence); \"none\" means the quantized ops were computed in float.", ""]
        L += int8_table(int8_rows)
        L += ["", "Largest output error on the benchmark input, in quanta of the last DequantizeLinear's scale,",
              "against the int8 tests' oracle (onnx's reference evaluator with the quantized ops computed in",
              "float64; `tests/e2e/int8_reference.py` says why), and compile times.", ""]
        L += int8_detail(int8_rows)
    L += ["", "Reproduce: `make bench` (or `bench/run.sh build`); `bench/bench.py build/bin/kiln --help`",
          "for the options. Close other heavy work first.", ""]
    # The firmware section is measured by `ctest -R firmware`, not here: keep it.
    try:
        with open(path) as f:
            old = f.read()
        k = old.find("\n## Firmware")
        if k >= 0:
            L += [old[k + 1:].rstrip("\n"), ""]
    except OSError:
        pass
    with open(path, "w") as f:
        f.write("\n".join(L))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kiln")
    ap.add_argument("--models", default=",".join(MODELS), help="float models (zoo.py); empty for none")
    ap.add_argument("--int8", default=",".join(INT8),
                    help="models timed as int8 and float by kiln and ORT (int8_models.py <name>_qdq); empty for none")
    ap.add_argument("--int8-cache", help="where int8_models.py keeps its models (default: the build tree's, "
                    "KILN/../../e2e/int8-models, shared with the tests)")
    ap.add_argument("--runs", type=int, default=30, help="minimum timed runs per engine (default 30)")
    ap.add_argument("--max-runs", type=int, default=1000, help="cap for small models (default 1000)")
    ap.add_argument("--budget-ms", type=float, default=2000,
                    help="timed ms per engine to aim for, within --runs..--max-runs (default 2000)")
    ap.add_argument("--rounds", type=int, default=10, help="interleaved rounds per model (default 10)")
    ap.add_argument("--no-resnet50", action="store_true", help="skip the ResNet-50 compile time")
    ap.add_argument("--plot-deps", help="a folder with matplotlib (pip --target) to append to sys.path")
    ap.add_argument("--docs", help="write performance.md and performance.png into this folder")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time runs in the running thread's CPU time, not the wall clock (a shared machine)")
    ap.add_argument("--vs", help="a second kiln binary timed in the same rounds (before/after a change)")
    a = ap.parse_args()
    if a.cpu_time:
        global CLOCK
        CLOCK = time.thread_time
        os.environ["KILN_BENCH_CLOCK"] = "thread"
    if a.vs:
        a.docs = None
    a.runs = max(a.runs, 1)
    a.int8_cache = a.int8_cache or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(a.kiln))), "e2e",
                                                "int8-models")
    import torch
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    cpu = cpu_info()
    vers = versions(a.kiln)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        peak, isa = peak_gflops(work)
        print(f"CPU: {cpu}\nload average {load}\n{', '.join(f'{k} {v}' for k, v in vers.items())}")
        print(f"FP32 peak, one core: {peak:.1f} GFLOP/s ({isa})\n", flush=True)
        for name in filter(None, a.models.split(",")):
            log(f"{name}: exporting, compiling, timing...")
            r = bench_model(a, name, work)
            rows.append(r)
            med = {e: r["res"][e][0] for e in ENGINES}
            log(f"  {name}: " + ", ".join(f"{e} {med[e]:.3f} ms" for e in ENGINES) +
                f"; kiln compile {r['compile_s']:.2f} s; max err " +
                ", ".join(f"{e} {r['errs'][e]:.1e}" for e in ENGINES))
            if r["errs"]["kiln"] > 1e-3 * max(1.0, r["ref_scale"]):
                log(f"  warning: kiln's output differs from PyTorch's by {r['errs']['kiln']:.2e}")
        int8_rows = []
        for name in filter(None, a.int8.split(",")):
            log(f"{name} int8: quantizing (or cached), compiling, timing...")
            r = bench_int8(a, name, work)
            int8_rows.append(r)
            log(f"  {name}: " + ", ".join(f"{e} {r['res'][e][0]:.3f} ms" for e in INT8_ENGINES) +
                f"; kiln's int8 object: {r['isa']} ({r['counts']})")
        # Again at the end: on a shared or virtual machine the clock a core
        # gets varies over minutes; the higher of the two is the ceiling.
        peak_end, _ = peak_gflops(work)
        log(f"FP32 peak again at the end: {peak_end:.1f} GFLOP/s")
        peaks = (peak, peak_end)
        peak = max(peaks)
        r50 = None
        if not a.no_resnet50:
            log("resnet50: exporting, compiling at the default -O level...")
            p = os.path.join(work, "resnet50.onnx")
            export_resnet50(p)
            rep = os.path.join(work, "resnet50.json")
            t0 = time.perf_counter()
            subprocess.run([a.kiln, "compile", p, "-o", os.path.join(work, "resnet50.o"), "--report", rep], check=True)
            r50 = {"compile_s": time.perf_counter() - t0, "macs": json.load(open(rep))["macs"]}
    if rows:
        print("\n".join(table(rows, peak)))
        gm, pct = summary(rows, peak)
        print(f"\ngeometric mean kiln/ORT {gm['ORT']:.2f}, kiln/PyTorch {gm['PyTorch']:.2f}, "
              f"kiln/best {gm['best']:.2f}; kiln at {pct:.1f}% of peak (geometric mean)")
        print("\nkiln compile time, s: " + ", ".join(f"{r['name']} {r['compile_s']:.2f}" for r in rows) +
              (f", resnet50 (default -O) {r50['compile_s']:.2f}" if r50 else ""))
    if int8_rows:
        print("\nint8, median (10th-90th percentile) ms, same rounds:")
        print("\n".join(int8_table(int8_rows)))
        print("\n".join(int8_detail(int8_rows)))
    if a.vs and not rows:
        log("--vs times the float models only: none were run (--models empty)")
    elif a.vs:
        print(f"\nkiln = {a.kiln}, --vs = {a.vs}, same rounds (median (min) ms):")
        print("\n".join(vs_table(rows)))
    if a.docs:
        png = plot(rows, os.path.join(a.docs, "performance.png"), a.plot_deps)
        write_doc(os.path.join(a.docs, "performance.md"), a, rows, peaks, isa, cpu, vers, r50, load, png,
                  int8_rows)
        print(f"\nwrote {os.path.join(a.docs, 'performance.md')}" + (" and performance.png" if png else ""))


if __name__ == "__main__":
    main()
