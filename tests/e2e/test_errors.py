#!/usr/bin/env python3
"""Every class of bad input gets one clear error: a line
`kiln: error: FILE: node 'NAME' (OP): reason` (or the graph-level form),
exit status 1, no crash, and no output file left behind.

    test_errors.py KILN WORKDIR"""
import os
import random
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kilntest as kt

F = TensorProto.FLOAT


def mk(nodes, inputs, outputs, inits=(), opset=13, check=False):
    g = helper.make_graph(nodes, "g", inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    return m


def vi(name, shape, dt=F):
    return helper.make_tensor_value_info(name, dt, shape)


def good():
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    return mk([helper.make_node("Conv", ["x", "w"], ["c"], name="conv1"),
               helper.make_node("Relu", ["c"], ["y"], name="relu1")],
              [vi("x", [1, 3, 8, 8])], [vi("y", [1, 4, 6, 6])], [w])


def cases(work):
    """name -> (model bytes or None, extra kiln args, regex the error must match)."""
    c = {}
    data = good().SerializeToString()
    c["truncated_protobuf"] = (data[:len(data) // 2], [], r"model\.onnx: .*(protobuf|truncated|not a valid)")
    rnd = random.Random(7)
    c["corrupt_protobuf"] = (bytes(rnd.randrange(256) for _ in range(4000)), [], r"model\.onnx: ")
    c["empty_file"] = (b"", [], r"model\.onnx: ")
    m = good()
    m.graph.node[1].op_type = "FrobnicateV2"
    c["unknown_op"] = (m.SerializeToString(), [], r"model\.onnx: node 'relu1' \(FrobnicateV2\): .*(unsupported|unknown)")
    m = mk([helper.make_node("Add", ["a", "b"], ["y"], name="add_mixed")],
           [vi("a", [2, 3]), vi("b", [2, 3], TensorProto.INT64)], [vi("y", [2, 3])])
    c["wrong_dtype"] = (m.SerializeToString(), [], r"model\.onnx: node 'add_mixed' \(Add\): .*(dtype|type)")
    m = mk([helper.make_node("Conv", ["x", "w"], ["y"], name="conv_int")],
           [vi("x", [1, 3, 8, 8], TensorProto.INT32)], [vi("y", None)],
           [numpy_helper.from_array(np.ones((4, 3, 3, 3), np.int32), "w")])
    c["wrong_dtype_conv"] = (m.SerializeToString(), [], r"node 'conv_int' \(Conv\): .*(dtype|type|i32)")
    m = mk([helper.make_node("Add", ["a", "b"], ["y"], name="add_bad")],
           [vi("a", [2, 3]), vi("b", [4, 5])], [vi("y", None)])
    c["inconsistent_shapes"] = (m.SerializeToString(), [], r"node 'add_bad' \(Add\): .*(shape|broadcast)")
    m = mk([helper.make_node("Conv", ["x", "w"], ["y"], name="conv_chan")],
           [vi("x", [1, 3, 8, 8])], [vi("y", None)], [numpy_helper.from_array(np.ones((4, 5, 3, 3), np.float32), "w")])
    c["conv_channel_mismatch"] = (m.SerializeToString(), [], r"node 'conv_chan' \(Conv\): .*channel")
    m = mk([helper.make_node("Relu", ["t2"], ["t1"], name="r1"), helper.make_node("Relu", ["t1"], ["t2"], name="r2"),
            helper.make_node("Add", ["x", "t2"], ["y"], name="a")], [vi("x", [2])], [vi("y", [2])])
    c["cycle"] = (m.SerializeToString(), [], r"node '(r1|r2|a)' \(\w+\): .*cycle")
    m = mk([helper.make_node("Relu", ["x"], ["y"], name="r")], [vi("x", [1 << 40, 1 << 40, 1 << 40])], [vi("y", None)])
    c["dims_overflow"] = (m.SerializeToString(), [], r"model\.onnx: .*(overflow|too many|too large)")
    m = mk([helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")], [vi("x", [4])], [vi("y", None)],
           [numpy_helper.from_array(np.array([1 << 62, 8], np.int64), "s")])
    c["reshape_overflow"] = (m.SerializeToString(), [], r"node 'rs' \(Reshape\): ")
    # Attribute values that would make the compiler itself explode (found by fuzzing).
    m = mk([helper.make_node("LpPool", ["x"], ["y"], name="lp", kernel_shape=[2, 2], p=1 << 40)],
           [vi("x", [1, 2, 6, 6])], [vi("y", None)])
    c["lppool_huge_p"] = (m.SerializeToString(), [], r"node 'lp' \(LpPool\): p must be 1 to 64")
    m = mk([helper.make_node("ConstantOfShape", ["s"], ["y"], name="cos")], [], [vi("y", None)],
           [numpy_helper.from_array(np.array([1 << 20, 1 << 20], np.int64), "s")], opset=17)
    c["constant_of_shape_huge"] = (m.SerializeToString(), [], r"node 'cos' \(ConstantOfShape\): .*limited")

    def external(loc):
        t = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        t.external_data.add(key="location", value=loc)
        m = good()
        m.graph.initializer[0].CopyFrom(t)
        return m.SerializeToString()
    c["external_missing"] = (external("weights.bin"), [], r"model\.onnx: .*'w'.*(weights\.bin|missing|No such|cannot)")
    with open(os.path.join(work, "secret.bin"), "wb") as f:
        f.write(b"\0" * 432)
    c["external_escapes"] = (external("../secret.bin"), [], r"model\.onnx: .*'w'.*(outside|escape|leaves)")
    c["external_absolute"] = (external(os.path.join(work, "secret.bin")), [], r"model\.onnx: .*'w'.*(absolute|outside|escape|leaves)")
    c["unknown_target"] = (good().SerializeToString(), ["--target", "sparc-sun-solaris"], r"unknown target")
    c["unknown_layout"] = (good().SerializeToString(), ["--layout", "nhwc"], r"--layout 'nhwc': expected auto, rows or blocks")
    np.save(os.path.join(work, "c.npy"), np.zeros(3, np.float32))
    c["const_unknown_input"] = (good().SerializeToString(), ["--const", "nope=" + os.path.join(work, "c.npy")],
                                r"model\.onnx: --const nope: the model has no graph input of that name")
    c["const_wrong_shape"] = (good().SerializeToString(), ["--const", "x=" + os.path.join(work, "c.npy")],
                              r"model\.onnx: .*--const x= has rank 1, the input has rank 4")
    m = good()
    m.opset_import[0].version = 99
    c["unsupported_opset"] = (m.SerializeToString(), [], r"model\.onnx: .*opset")
    # Issue 17: operands the importer used to take on trust.
    for name, node, pattern in rnn_cases():
        m = mk([node], [vi("x", [3, 2, 5])], [vi("y", None)], rnn_weights(node))
        c[name] = (m.SerializeToString(), [], pattern)
    m = mk([helper.make_node("Range", ["a", "b", "d"], ["y"], name="rng")], [], [vi("y", None)],
           [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in (("a", 0), ("b", np.inf), ("d", 1e-30))])
    c["range_infinite"] = (m.SerializeToString(), [], r"node 'rng' \(Range\): limit is inf")
    m = mk([helper.make_node("Range", ["a", "b", "d"], ["y"], name="rng")], [], [vi("y", None)],
           [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in (("a", 0), ("b", 1), ("d", 1e-30))])
    c["range_huge"] = (m.SerializeToString(), [], r"node 'rng' \(Range\): the range has 1e\+30 elements")
    for bad in (7, -9):
        m = mk([helper.make_node("Gather", ["x", "i"], ["y"], name="gat", axis=1)], [vi("x", [2, 3])], [vi("y", None)],
               [numpy_helper.from_array(np.array([0, bad, 2], np.int64), "i")])
        c[f"gather_index_{bad}"] = (m.SerializeToString(), [], rf"node 'gat' \(Gather\): index {bad} is out of range "
                                    r"for axis 1 of size 3")
    m = mk([helper.make_node("Slice", ["x", "s", "e"], ["y"], name="sl")], [vi("x", [0, 1 << 62])], [vi("y", None)],
           [numpy_helper.from_array(np.array([0], np.int64), n) for n in ("s", "e")])
    c["empty_huge_dims"] = (m.SerializeToString(), [], r"model\.onnx: input 'x' shape \[0,4611686018427387904\] is too large")
    c["nested_if_3000"] = (nested_if(3000), [], r"model\.onnx: .*nested more than 100 deep")
    # Names from the model reach the terminal escaped, on one line.
    m = good()
    m.graph.node[1].name = "re\x1b[2Jlu\r\nkiln: ok\x07"
    m.graph.node[1].op_type = "Frob"
    c["name_escaped"] = (m.SerializeToString(), [], r"node 're\\x1b\[2Jlu\\x0d\\x0akiln: ok\\x07' \(Frob\)")
    return c


def one_error(p, lines, pattern):
    """What is wrong with a run that should fail with one error line."""
    problems = []
    if p.returncode != 1:
        problems.append(f"exit status {p.returncode}, want 1")
    if len(lines) != 1 or not lines[0].startswith("kiln: error: "):
        problems.append(f"want one 'kiln: error:' line, got {lines!r}")
    elif not re.search(pattern, lines[0]):
        problems.append(f"message {lines[0]!r} does not match /{pattern}/")
    return problems


def listing(d):
    """Every entry of d, hidden ones too, with its kind and bytes (links as
    their target)."""
    out = {}
    for f in sorted(os.listdir(d)):
        p = os.path.join(d, f)
        if os.path.islink(p):
            out[f] = ("link", os.readlink(p))
        elif stat.S_ISFIFO(os.lstat(p).st_mode):
            out[f] = ("fifo", None)
        elif os.path.isdir(p):
            out[f] = ("dir", listing(p))
        else:
            with open(p, "rb") as fh:
                out[f] = ("file", fh.read())
    return out


def output_cases(kiln, work):
    """Issue 17: where kiln writes.  Each case runs in a folder of its own;
    a refusal is one error line, exit 1, and the folder exactly as it was."""
    results = []
    kiln = os.path.abspath(kiln)
    model = good().SerializeToString()

    def case(name, setup, args, pattern, limit=None):
        d = os.path.join(work, "out_" + name)
        os.makedirs(d)
        with open(os.path.join(d, "m.onnx"), "wb") as f:
            f.write(model)
        setup(d)
        before = listing(d)

        def fsize():  # a full disk, without mounting one: writes past limit bytes fail
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        p = subprocess.run([kiln] + [a.replace("@", d) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, cwd=d, preexec_fn=fsize if limit else None)
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        problems = one_error(p, lines, pattern)
        after = listing(d)
        if "dump" in before:
            # The passes that ran leave their complete dumps (what one
            # wants when a compile fails); nothing empty, nothing hidden.
            dumps = after.get("dump", ("dir", {}))[1]
            bad = [f for f, (_, data) in dumps.items() if f.startswith(".") or not data]
            if bad:
                problems.append(f"partial or temporary dumps left: {bad}")
            after["dump"] = before["dump"]
        if after != before:
            problems.append(f"the folder changed: {sorted(set(after) ^ set(before))} added or removed, "
                            f"{[k for k in before if k in after and before[k] != after[k]]} rewritten")
        results.append(("output_" + name, not problems, "; ".join(problems) or f"-> {lines[0]}"))

    nothing = lambda d: None
    case("onto_input", nothing, ["compile", "@/m.onnx", "-o", "@/m.onnx"], r"m\.onnx: is the input model")
    case("report_onto_input", nothing, ["compile", "@/m.onnx", "-o", "@/x.o", "--report", "@/m.onnx"],
         r"m\.onnx: is the input model")
    case("kir_onto_input", lambda d: subprocess.run([kiln, "compile", d + "/m.onnx", "--emit", "kir", "-o", d + "/s.kir"]),
         ["compile", "@/s.kir", "--emit", "kir", "-o", "@/s.kir"], r"s\.kir: is the input model")

    def json_h(d):
        with open(os.path.join(d, "g.h"), "w") as f:
            f.write('{"kiln": 1, "inputs": [{"name": "x", "dtype": "f32", "shape": [3]}], '
                    '"nodes": [{"op": "Relu", "inputs": ["x"], "outputs": ["y"]}], "outputs": ["y"]}')
    case("header_onto_json_input", json_h, ["compile", "@/g.h", "-o", "@/g.o"], r"g\.h: is the input model")
    case("onto_fifo", lambda d: os.mkfifo(os.path.join(d, "f.o")), ["compile", "@/m.onnx", "-o", "@/f.o"],
         r"f\.o: exists and is not a regular file \(a fifo\)")
    case("report_onto_fifo", lambda d: os.mkfifo(os.path.join(d, "r.json")),
         ["compile", "@/m.onnx", "-o", "@/x.o", "--report", "@/r.json"], r"r\.json: exists and is not a regular file")

    def victim(d):
        with open(os.path.join(d, "victim"), "w") as f:
            f.write("precious")
        os.symlink("victim", os.path.join(d, "s.o"))
    case("onto_symlink", victim, ["compile", "@/m.onnx", "-o", "@/s.o"], r"s\.o: exists and is not a regular file "
         r"\(a symbolic link\)")
    case("two_outputs_one_file", nothing, ["compile", "@/m.onnx", "-o", "@/a.o", "--report", "@/a.h"],
         r"a\.h: is named for two outputs")
    # A full disk (a file size limit): kiln's own error, no temporary left.
    for emit in ("obj", "asm", "llvm", "bc", "kir"):
        case(f"disk_full_{emit}", nothing, ["compile", "@/m.onnx", "--emit", emit, "-o", "@/big.out"],
             r"big\.out: cannot write: File too large", limit=200)
    case("disk_full_report", nothing, ["compile", "@/m.onnx", "-o", "@/x.o", "--report", "@/r.json"],
         r"(r\.json|x\.o|x\.h): cannot write: File too large", limit=2500)
    case("disk_full_dump_dir", lambda d: os.makedirs(os.path.join(d, "dump")),
         ["compile", "@/m.onnx", "-o", "@/x.o", "--print-after-all", "--dump-dir", "@/dump"],
         r"cannot write: File too large", limit=700)

    # Planted symlinks at the names temporaries used to have are not followed.
    d = os.path.join(work, "out_planted")
    os.makedirs(d)
    with open(os.path.join(d, "m.onnx"), "wb") as f:
        f.write(model)
    with open(os.path.join(d, "victim"), "w") as f:
        f.write("precious")
    for n in ("x.o.kiln-tmp", "x.h.kiln-tmp", "r.json.kiln-tmp"):
        os.symlink("victim", os.path.join(d, n))
    p = subprocess.run([kiln, "compile", d + "/m.onnx", "-o", d + "/x.o", "--report", d + "/r.json"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with open(os.path.join(d, "victim")) as f:
        kept = f.read() == "precious"
    extra = [f for f in os.listdir(d) if f.startswith(".")]
    ok = p.returncode == 0 and kept and not extra and all(os.path.isfile(os.path.join(d, f)) for f in ("x.o", "x.h", "r.json"))
    results.append(("output_planted_symlinks", ok, f"exit {p.returncode}, victim kept {kept}, temporaries left {extra}"
                    + ("" if ok else p.stderr)))

    # The model's path goes into the header's comment: "*/" in it must not end it.
    d = os.path.join(work, "out_comment", "x*")
    os.makedirs(d)
    with open(os.path.join(d, "m.onnx"), "wb") as f:
        f.write(model)
    p = subprocess.run([kiln, "compile", d + "/m.onnx", "-o", d + "/m.o"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    q = subprocess.run(["cc", "-fsyntax-only", "-Werror", "-x", "c", d + "/m.h"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True) if p.returncode == 0 else p
    results.append(("header_comment_path", p.returncode == 0 and q.returncode == 0,
                    f"compile exit {p.returncode}, header compiles: {q.returncode == 0} {q.stderr[:300]}"))
    return results


def rnn_weights(node):
    """W, R, B, ... for a node whose operands are named after its role; shapes
    from the attribute 'hidden_size' and a made-up tag in the operand name."""
    h = 4
    g = {"LSTM": 4, "GRU": 3, "RNN": 1}[node.op_type]
    good_shapes = {"W": [1, g * h, 5], "R": [1, g * h, h], "B": [1, 2 * g * h], "h0": [1, 2, h], "c0": [1, 2, h],
                   "P": [1, 3 * h]}
    inits = []
    rng = np.random.default_rng(3)
    for name in node.input:
        if not name or name == "x":
            continue
        role, _, bad = name.partition(":")
        shape = [int(d) for d in bad.split("x")] if bad else good_shapes[role]
        inits.append(numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name))
    return inits


def rnn_cases():
    def node(op, ins, **kw):
        return helper.make_node(op, ["x"] + ins, ["y"], name=op.lower() + "1", hidden_size=4, **kw)
    return [
        ("lstm_r_flat", node("LSTM", ["W", "R:1x64"]), r"node 'lstm1' \(LSTM\): R has shape \[1,64\], expected \[1,16,4\]"),
        ("gru_b_short", node("GRU", ["W", "R", "B:1x12"]), r"node 'gru1' \(GRU\): B has shape \[1,12\], expected \[1,24\]"),
        ("rnn_h0_batch", node("RNN", ["W", "R", "B", "", "h0:1x3x4"]),
         r"node 'rnn1' \(RNN\): initial_h has shape \[1,3,4\], expected \[1,2,4\]"),
        ("lstm_c0_hidden", node("LSTM", ["W", "R", "B", "", "h0", "c0:1x2x2"]),
         r"node 'lstm1' \(LSTM\): initial_c has shape \[1,2,2\], expected \[1,2,4\]"),
        ("lstm_p_short", node("LSTM", ["W", "R", "B", "", "h0", "c0", "P:1x4"]),
         r"node 'lstm1' \(LSTM\): P has shape \[1,4\], expected \[1,12\]"),
        ("lstm_w_input", node("LSTM", ["W:1x16x7", "R"]), r"node 'lstm1' \(LSTM\): X has shape \[3,2,5\], expected \[3,2,7\]"),
        ("lstm_activation", node("LSTM", ["W", "R"], activations=["Foo", "Tanh", "Tanh"]),
         r"node 'lstm1' \(LSTM\): unsupported activation 'Foo'"),
    ]


def nested_if(depth):
    """A model of depth nested If then-branches, written as protobuf wire
    bytes (the Python protobuf library refuses to nest that deep)."""
    def varint(v):
        out = bytearray()
        while True:
            b, v = v & 0x7F, v >> 7
            out.append(b | (0x80 if v else 0))
            if not v:
                return bytes(out)

    def field(num, payload):
        return varint(num << 3 | 2) + varint(len(payload)) + payload

    def number(num, v):
        return varint(num << 3) + varint(v)
    g = b""
    for _ in range(depth):
        attr = field(1, b"then_branch") + number(20, 5) + field(6, g)
        g = field(1, field(1, b"c") + field(2, b"y") + field(4, b"If") + field(5, attr)) + field(2, b"g")
    return number(1, 7) + field(8, field(1, b"") + number(2, 13)) + field(7, g)


def main():
    kiln, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    results = []
    for name, (data, extra, pattern) in cases(work).items():
        d = os.path.join(work, name)
        os.makedirs(d)
        path = os.path.join(d, "model.onnx")
        with open(path, "wb") as f:
            f.write(data)
        out = os.path.join(d, "out.o")
        p = subprocess.run([kiln, "compile", path, "-o", out] + extra,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        left = [f for f in os.listdir(d) if f != "model.onnx"]
        problems = one_error(p, lines, pattern)
        if left:
            problems.append(f"left files behind: {left}")
        results.append((name, not problems, "; ".join(problems) or f"-> {lines[0]}"))
    # kiln check lists every unsupported op at once.
    m = mk([helper.make_node("Relu", ["x"], ["a"], name="ok1"),
            helper.make_node("Frob", ["a"], ["b"], name="bad1"),
            helper.make_node("Relu", ["b"], ["c"], name="ok2"),
            helper.make_node("Wibble", ["c"], ["d"], name="bad2"),
            helper.make_node("Zap", ["d"], ["y"], name="bad3")], [vi("x", [3])], [vi("y", [3])])
    path = os.path.join(work, "three_unsupported.onnx")
    onnx.save(m, path)
    p = subprocess.run([kiln, "check", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    text = p.stdout + p.stderr
    named = [n for n in ("bad1", "bad2", "bad3") if re.search(rf"node '{n}' \((Frob|Wibble|Zap)\)", text)]
    ok = p.returncode == 1 and len(named) == 3 and "ok1" not in text and "ok2" not in text
    results.append(("check_lists_all_three", ok, f"named {named}, exit {p.returncode}" + ("" if ok else f"\n{text}")))
    results += output_cases(kiln, work)
    # kiln check says each problem once (an LSTM's activation was reported
    # at every gate).
    name, node, pattern = rnn_cases()[-1]
    path = os.path.join(work, "check_once.onnx")
    onnx.save(mk([node], [vi("x", [3, 2, 5])], [vi("y", None)], rnn_weights(node)), path)
    p = subprocess.run([kiln, "check", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    ok = p.returncode == 1 and len(lines) == 1 and re.search(pattern, lines[0])
    results.append(("check_says_it_once", ok, f"exit {p.returncode}, {lines!r}"))
    sys.exit(kt.report(results))


if __name__ == "__main__":
    main()
