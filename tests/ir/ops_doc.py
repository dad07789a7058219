#!/usr/bin/env python3
"""Generate the op tables of docs/ir.md from ir/ops.def and ir/act.def,
the registries themselves, so the docs cannot drift from the code.

    ops_doc.py SRC_DIR           rewrite docs/ir.md's generated sections
    ops_doc.py SRC_DIR --check   exit 1 (naming the fix) if they are stale

A section sits between '<!-- generated: NAME ... -->' and '<!-- end NAME -->'."""
import re
import sys

FLAGS = [("OPF_EW", "elementwise"), ("OPF_UNARY", "unary"), ("OPF_FUSE_HEAD", "fusion head"),
         ("OPF_FUSE_TAIL", "fusable tail"), ("OPF_QUANT", "integer form"), ("OPF_VIEW", "view"),
         ("OPF_F32", "f32 only")]


def c_args(line, macro):
    """The comma-separated arguments of MACRO(...) on one line, strings kept whole."""
    m = re.match(r"\s*%s\((.*)\)\s*$" % macro, line)
    if not m:
        return None
    return [a.strip() for a in re.findall(r'\s*("(?:[^"\\]|\\.)*"|[^,]+)', m.group(1))]


def unquote(s):
    return s[1:-1].replace('\\"', '"') if s.startswith('"') else s


def registry_rows(src, name="ops"):
    """The rows of ir/ops.def (OP) or ir/act.def (ACT), each a list of its
    macro's arguments as written."""
    macro = {"ops": "OP", "act": "ACT"}[name]
    with open("%s/ir/%s.def" % (src, name)) as f:
        return [a for a in (c_args(line, macro) for line in f) if a]


def ops_table(src):
    rows = ["| op | ONNX | operands | kind | semantics |", "|---|---|---|---|---|"]
    for _, text, onnx, lo, hi, flags, sem in registry_rows(src):
        names = [n for f, n in FLAGS if f in flags]
        arity = lo if lo == hi else "%s to %s" % (lo, hi)
        sem = unquote(sem).replace("|", "\\|")
        rows.append("| `%s` | %s | %s | %s | %s |" % (unquote(text), unquote(onnx) or "", arity,
                                                    ", ".join(names), sem))
    return rows


def acts_table(src):
    rows = ["| `act` | from | parameters (on the head) |", "|---|---|---|"]
    for _, name, op, sel, val, p0, d0, p1, d1 in registry_rows(src, "act"):
        frm = "a pattern" if op == "OP_COUNT" else "`%s`" % op[3:].lower()
        if sel != "NULL":
            frm += " with %s=%s" % (unquote(sel), val)
        ps = ["`act_%s` (default %s)" % (unquote(p), d.replace("INFINITY", "inf")) for p, d in ((p0, d0), (p1, d1)) if p != "NULL"]
        rows.append("| `%s` | %s | %s |" % (unquote(name), frm, ", ".join(ps)))
    return rows


def render(src, text):
    for name, rows in (("ops", ops_table(src)), ("acts", acts_table(src))):
        pat = re.compile(r"(<!-- generated: %s [^>]*-->\n).*?(<!-- end %s -->)" % (name, name), re.S)
        if not pat.search(text):
            sys.exit("ops_doc.py: docs/ir.md has no '<!-- generated: %s' section" % name)
        text = pat.sub(lambda m: m.group(1) + "\n".join(rows) + "\n" + m.group(2), text)
    return text


def main():
    src = sys.argv[1]
    path = src + "/docs/ir.md"
    old = open(path).read()
    new = render(src, old)
    if "--check" in sys.argv:
        if new != old:
            sys.exit("docs/ir.md: the op tables are stale; run 'python3 tests/ir/ops_doc.py .' "
                     "to regenerate them from ir/ops.def and ir/act.def")
        print("docs/ir.md: op tables match ir/ops.def and ir/act.def")
        return
    if new != old:
        open(path, "w").write(new)


if __name__ == "__main__":
    main()
