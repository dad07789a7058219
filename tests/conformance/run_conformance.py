#!/usr/bin/env python3
"""The ONNX backend node tests through `kiln run --test-dir`.

Generates every node test case of the installed onnx package (model.onnx
plus test_data_set_*/input_*.pb, output_*.pb), cached under WORKDIR per onnx
version, runs kiln on each, and writes a Markdown report: pass, fail or
unsupported per test with the reason, and the totals.

The test fails if kiln crashes on any case (a signal or an exit status
other than 0 and 1), if an error line is not of the promised form, or if
fewer in-scope tests pass than the floor below (so regressions show).  A
passing case must also print -> parse -> print its IR to the same bytes.

    run_conformance.py KILN WORKDIR REPORT.md [--jobs N]"""
import argparse
import concurrent.futures as cf
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import kilntest as kt

# Raise this as coverage grows; it guards against regressions.
PASS_FLOOR = 1150

TRAINING_OPS = ("adagrad", "adam", "momentum", "gradient")

# Tests whose expected data kiln deliberately does not reproduce, by name
# prefix, with the reason (shown in the report).
EXPLAINED = {
    "test_cast_FLOAT_to_BFLOAT16": "onnx 1.17's test data truncates to bfloat16; kiln rounds to nearest even, "
                                   "as PyTorch and ONNX Runtime do (the spec leaves the rounding open)",
    "test_castlike_FLOAT_to_BFLOAT16": "as test_cast_FLOAT_to_BFLOAT16",
    "test_qlinearmatmul_": "the expected outputs wrap around int8 (e.g. -236 stored as 20); the spec and kiln "
                           "saturate to [-128, 127]",
    "test_gridsample_bicubic": "the expected values are printed to four decimals (-0.1406); kiln's -0.140625 is "
                               "what onnx's own reference implementation computes",
    "test_averagepool_3d_dilations_large_count_include_pad_is_1_ceil_mode_is_True":
        "with ceil_mode the last windows run past the padding; the reference counts those positions in the "
        "divisor, kiln counts only positions inside the padded input",
}


def explained(test):
    for prefix, why in EXPLAINED.items():
        if test.startswith(prefix):
            return why
    return None


def generate(root):
    import onnx
    from onnx import numpy_helper
    from onnx.backend.test.case import node
    stamp = os.path.join(root, f".generated-onnx-{onnx.__version__}-v2")
    if os.path.exists(stamp):
        return onnx.__version__
    os.makedirs(root, exist_ok=True)
    for case in node.collect_testcases(None):
        d = os.path.join(root, case.name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        for i, (ins, outs) in enumerate(case.data_sets):
            s = os.path.join(d, f"test_data_set_{i}")
            os.makedirs(s, exist_ok=True)
            for kind, vals, infos in (("input", ins, case.model.graph.input), ("output", outs, case.model.graph.output)):
                for j, x in enumerate(vals):
                    path = os.path.join(s, f"{kind}_{j}.pb")
                    try:
                        t = x if isinstance(x, onnx.TensorProto) else numpy_helper.from_array(x)
                        if j < len(infos):
                            t.name = infos[j].name  # kiln run binds constant inputs by name
                    except Exception:
                        t = onnx.TensorProto()  # sequences/maps/optionals: out of scope anyway
                    with open(path, "wb") as f:
                        f.write(t.SerializeToString())
    open(stamp, "w").close()
    return onnx.__version__


def out_of_scope(path):
    """Sequences, maps, optionals, strings, training-only ops."""
    import onnx
    name = os.path.basename(path)
    if any(t in name for t in TRAINING_OPS):
        return "training-only op"
    m = onnx.load(os.path.join(path, "model.onnx"))
    for vi in list(m.graph.input) + list(m.graph.output):
        t = vi.type
        if not t.HasField("tensor_type"):
            return "sequence, map or optional value"
        if t.tensor_type.elem_type == onnx.TensorProto.STRING:
            return "string tensor"
    return None


def roundtrip(kiln, path):
    """The compiled graph printed, parsed and printed again gives the same
    bytes (models whose inputs `kiln run` binds as constants are skipped:
    they do not import on their own)."""
    first = subprocess.run([kiln, "dump", os.path.join(path, "model.onnx")], capture_output=True, text=True)
    if first.returncode != 0:
        return True
    kir = os.path.join(path, "roundtrip.kir")
    with open(kir, "w") as f:
        f.write(first.stdout)
    second = subprocess.run([kiln, "dump", "--passes=none", kir], capture_output=True, text=True)
    with open(kir, "w") as f:
        f.write(second.stdout)
    third = subprocess.run([kiln, "dump", "--passes=none", kir], capture_output=True, text=True)
    return second.returncode == 0 and second.stdout == third.stdout


def compiled_ops(kiln, path):
    """The IR ops of a passing case, as imported and as compiled."""
    ops = set()
    for passes in (["--passes=none"], []):
        p = subprocess.run([kiln, "dump"] + passes + [os.path.join(path, "model.onnx")], capture_output=True, text=True)
        ops |= kt.ir_ops_in(p.stdout)
    return ops


def run_one(kiln, path):
    scope = out_of_scope(path)
    if scope:
        return "out of scope", scope
    try:
        p = subprocess.run([kiln, "run", "--test-dir", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, errors="replace", timeout=120)
    except subprocess.TimeoutExpired:
        return "fail", "timed out after 120 s"
    if p.returncode not in (0, 1):
        return "crash", f"exit status {p.returncode}: {p.stderr.strip()[-300:]}"
    if p.returncode == 0:
        return ("pass", "") if roundtrip(kiln, path) else ("fail", "kiln dump: print -> parse -> print differs")
    fails = [l for l in p.stdout.splitlines() if l.startswith("FAIL")]
    if fails:
        return "fail", fails[0]
    errs = [l for l in p.stderr.splitlines() if l.strip()]
    if not errs or not errs[0].startswith("kiln: error: "):
        return "crash", f"no error line: {p.stderr.strip()[-300:]}"
    msg = errs[0][len("kiln: error: "):]
    msg = msg.replace(path + "/", "")
    if "internal" in msg:
        return "crash", msg
    return "unsupported", msg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kiln")
    ap.add_argument("workdir")
    ap.add_argument("report")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    root = os.path.join(a.workdir, "node")
    version = generate(root)
    tests = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    with cf.ThreadPoolExecutor(a.jobs) as ex:
        results = list(ex.map(lambda t: (t,) + run_one(a.kiln, os.path.join(root, t)), tests))
    count = {k: sum(1 for r in results if r[1] == k) for k in ("pass", "fail", "unsupported", "out of scope", "crash")}
    in_scope = len(results) - count["out of scope"]
    pct = 100.0 * count["pass"] / in_scope if in_scope else 0
    with open(a.report + ".tmp", "w") as f:
        f.write("# ONNX conformance: backend node tests\n\n")
        f.write(f"Generated by `make test` (ctest label `conformance`) from the node test cases of onnx {version}, "
                "each run through `kiln run --test-dir` (relative tolerance 1e-4, absolute 1e-5); a pass also "
                "needs the compiled IR to print, parse and print again to the same bytes.\n\n")
        f.write(f"**{count['pass']} of {in_scope} in-scope tests pass ({pct:.1f}%).** "
                f"{count['fail']} fail, {count['unsupported']} are refused with an error naming what kiln does not "
                f"support, {count['crash']} crash; {count['out of scope']} are out of scope (sequences, maps, "
                "optionals, strings, training-only ops).\n\n")
        fails = [(t, why) for t, res, why in results if res == "fail"]
        if fails:
            f.write("## Failures\n\n")
            for t, why in fails:
                f.write(f"- `{t}`: {explained(t) or 'not yet explained: ' + re.sub(chr(92) + 's+', ' ', why)}\n")
            f.write("\n")
        refused = {}
        for t, res, why in results:
            if res == "unsupported":
                m = re.search(r"\((\w+)\): (.*)$", why.strip())
                key = f"{m.group(1)}: {m.group(2)}" if m else why.strip()
                key = re.sub(r"'[^']*'", "'...'", key) if "constant" in key else key
                refused.setdefault(key[:160], []).append(t)
        if refused:
            f.write("## Refusals, grouped by reason\n\n| reason | tests |\n|---|---|\n")
            for key, ts in sorted(refused.items(), key=lambda kv: -len(kv[1])):
                f.write(f"| {key.replace('|', chr(92) + '|')} | {len(ts)} |\n")
            f.write("\n")
        f.write("## Every test\n\n")
        f.write("| test | result | reason |\n|---|---|---|\n")
        for t, res, why in results:
            why = re.sub(r"\s+", " ", why).replace("|", "\\|")
            f.write(f"| {t} | {res} | {why} |\n")
    os.replace(a.report + ".tmp", a.report)
    # The IR ops the passing cases compile, for the every-op check
    # (tests/e2e/check_op_coverage.py).
    ops = set()
    for t, res, _ in results:
        if res == "pass":
            ops |= compiled_ops(a.kiln, os.path.join(root, t))
    with open(os.path.join(a.workdir, "ops-tested.txt"), "w") as f:
        f.write("\n".join(sorted(ops)) + "\n")
    print(f"onnx {version}: {count}; {pct:.1f}% of in-scope tests pass")
    bad = [r for r in results if r[1] == "crash"]
    for t, _, why in bad[:20]:
        print(f"CRASH {t}: {why}")
    if bad or count["pass"] < PASS_FLOOR:
        print(f"conformance: {len(bad)} crashes; {count['pass']} passes (floor {PASS_FLOOR})")
        sys.exit(1)


if __name__ == "__main__":
    main()
