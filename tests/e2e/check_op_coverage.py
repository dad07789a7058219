#!/usr/bin/env python3
"""Every op of ir/ops.def has a test of its own: some passing case of the
op tests (test_ops.py, against ONNX Runtime), of the ONNX backend node
tests (run_conformance.py) or of the quantized-op tests (test_qop.py)
compiles it.  Each of those writes the IR ops
its passing cases compiled to an ops-tested.txt; this reads them.  An op
row that arrives without a test fails here, by name.

    check_op_coverage.py SRC_DIR OPS_TESTED.txt...
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kilntest as kt

# IR ops no ONNX model imports to: a pass makes them, and their own tests
# cover them (the .kir tests and test_kernels.py, against the plain lowerings).
MADE_BY_PASSES = {"fused_ew": "fuse", "relayout": "layout"}


def main():
    src, lists = sys.argv[1], sys.argv[2:]
    seen = set()
    for p in lists:
        if not os.path.exists(p):
            sys.exit(f"check_op_coverage: {p} is missing (its test did not finish)")
        with open(p) as f:
            seen |= {l.strip() for l in f if l.strip()}
    ops = kt.registry_ops(src)
    missing = [op for op in ops if op not in seen and op not in MADE_BY_PASSES]
    if missing:
        print("ops without a passing test of their own: " + " ".join(missing))
        print("0 passed, 1 failed")
        sys.exit(1)
    print(f"all {len(ops)} ops of ir/ops.def are compiled by a passing test "
          f"({len(MADE_BY_PASSES)} made only by passes, tested by theirs)")
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
