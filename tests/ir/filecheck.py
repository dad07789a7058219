#!/usr/bin/env python3
"""kiln's IR text tests: a small FileCheck.  Each tests/ir/*.kir file holds
its own commands and expectations in comments (which the .kir parser
ignores):

    # RUN: %kiln dump --passes=fuse %s          run; output must match the CHECKs
    # RUN: not %kiln compile %s -o %t.o         must exit non-zero (stdout+stderr checked)
    # CHECK: text       next line (at or after the last match) containing text
    # CHECK-NEXT: text  the line right after the last match contains text
    # CHECK-NOT: text   no line between the last match and the next match contains text

Several RUN lines concatenate their output.  %kiln is the driver, %s the
test file, %t a per-test temporary path.

    filecheck.py KILN TESTDIR WORKDIR"""
import glob
import os
import shlex
import subprocess
import sys


def check(lines, checks):
    pos = 0
    pending_not = []
    for kind, text, lineno in checks:
        if kind == "CHECK-NOT":
            pending_not.append((text, lineno))
            continue
        if kind == "CHECK-NEXT":
            found = pos if pos < len(lines) and text in lines[pos] else None
        else:
            found = next((i for i in range(pos, len(lines)) if text in lines[i]), None)
        if found is None:
            return f"line {lineno}: {kind}: '{text}' not found after output line {pos}"
        for nt, nl in pending_not:
            for i in range(pos, found):
                if nt in lines[i]:
                    return f"line {nl}: CHECK-NOT: '{nt}' found at output line {i}: {lines[i]}"
        pending_not = []
        pos = found + 1
    for nt, nl in pending_not:
        for i in range(pos, len(lines)):
            if nt in lines[i]:
                return f"line {nl}: CHECK-NOT: '{nt}' found at output line {i}: {lines[i]}"
    return None


def run_test(kiln, path, work):
    runs, checks = [], []
    for n, line in enumerate(open(path), 1):
        line = line.strip()
        for kind in ("RUN", "CHECK-NEXT", "CHECK-NOT", "CHECK"):
            tag = f"# {kind}:"
            if line.startswith(tag):
                body = line[len(tag):].strip()
                (runs if kind == "RUN" else checks).append((kind, body, n) if kind != "RUN" else body)
                break
    if not runs or not checks:
        return "no RUN or no CHECK lines"
    tmp = os.path.join(work, os.path.basename(path))
    out = []
    for cmd in runs:
        expect_fail = cmd.startswith("not ")
        if expect_fail:
            cmd = cmd[4:]
        args = [a.replace("%kiln", kiln).replace("%s", path).replace("%t", tmp) for a in shlex.split(cmd)]
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if expect_fail != (p.returncode != 0) or p.returncode < 0:
            return f"'{cmd}' exited with {p.returncode}:\n{p.stderr}"
        out += (p.stdout + p.stderr).splitlines()
    return check(out, checks)


def main():
    kiln, tests, work = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(work, exist_ok=True)
    bad = 0
    files = sorted(glob.glob(os.path.join(tests, "*.kir")))
    for f in files:
        err = run_test(kiln, f, work)
        print(f"{'PASS' if not err else 'FAIL'} {os.path.basename(f)}{'' if not err else ': ' + err}")
        bad += err is not None
    print(f"{len(files) - bad}/{len(files)} passed")
    sys.exit(1 if bad or not files else 0)


if __name__ == "__main__":
    main()
