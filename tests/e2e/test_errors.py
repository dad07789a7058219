#!/usr/bin/env python3
"""Every class of bad input gets one clear error: a line
`kiln: error: FILE: node 'NAME' (OP): reason` (or the graph-level form),
exit status 1, no crash, and no output file left behind.

    test_errors.py KILN WORKDIR"""
import os
import random
import re
import shutil
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
    return c


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
        problems = []
        if p.returncode != 1:
            problems.append(f"exit status {p.returncode}, want 1")
        if len(lines) != 1 or not lines[0].startswith("kiln: error: "):
            problems.append(f"want one 'kiln: error:' line, got {lines!r}")
        elif not re.search(pattern, lines[0]):
            problems.append(f"message {lines[0]!r} does not match /{pattern}/")
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
    sys.exit(kt.report(results))


if __name__ == "__main__":
    main()
