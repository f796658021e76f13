"""Mutators for tools/fuzz.py: every function takes a ``random.Random`` and returns the mutated
thing plus a short description of what it did (kept in failure reports to reproduce a case)."""
from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

ODD_INTS = [0, 1, 2, 3, -1, -2, 7, 64, 255, 2**15, 2**31 - 1, 2**31, 2**32, 2**62, -(2**31)]
ONNX_OPS = ["Relu", "Sigmoid", "Add", "Mul", "Sub", "Div", "MatMul", "Conv", "MaxPool", "AveragePool", "Concat",
            "Reshape", "Transpose", "Softmax", "Gather", "Slice", "ReduceMean", "ReduceMax", "Clip", "Pad", "Resize",
            "Cast", "Split", "Flatten", "Gemm", "BatchNormalization", "GlobalAveragePool", "Where", "Expand",
            "Tile", "Squeeze", "Unsqueeze", "TopK", "NonZero", "Shape", "Size", "ConstantOfShape", "Range", "Einsum",
            "ConvTranspose", "LSTM", "Loop", "If", "Identity", "Dropout", "Erf", "Pow", "Sqrt", "Log", "Exp",
            "LayerNormalization", "InstanceNormalization", "DepthToSpace", "ArgMax", "Max", "Min", "Not", "Equal",
            "QuantizeLinear", "DequantizeLinear", "QLinearConv", "StringNormalizer", "Bogus"]


def _copy(m: onnx.ModelProto) -> onnx.ModelProto:
    c = onnx.ModelProto()
    c.CopyFrom(m)
    return c


def _names(g) -> list[str]:
    return [i.name for i in g.input] + [t.name for t in g.initializer] + [o for n in g.node for o in n.output]


def _m_input_dim(m, r):
    vis = list(m.graph.input) + list(m.graph.output)
    dims = [d for v in vis for d in v.type.tensor_type.shape.dim]
    if not dims:
        return "no dims"
    d = r.choice(dims)
    if r.random() < 0.2:
        d.dim_param = r.choice(["N", "batch", ""])
        return f"dim_param {d.dim_param!r}"
    d.dim_value = r.choice(ODD_INTS)
    return f"dim {d.dim_value}"


def _m_input_dtype(m, r):
    vis = list(m.graph.input) + list(m.graph.output)
    v = r.choice(vis)
    v.type.tensor_type.elem_type = r.choice(list(TensorProto.DataType.values()))
    return f"{v.name} dtype {v.type.tensor_type.elem_type}"


def _m_opset(m, r):
    m.opset_import[0].version = r.choice([0, 1, 6, 7, 9, 11, 13, 17, 19, 21, 23, 28, 29, 99, 10**6])
    if r.random() < 0.2:
        m.opset_import.add(domain=r.choice(["com.microsoft", "ai.onnx.ml", "x"]), version=r.choice([1, 99]))
    return f"opset {m.opset_import[0].version}"


def _m_drop_node(m, r):
    if len(m.graph.node) < 2:
        return "kept"
    i = r.randrange(len(m.graph.node))
    del m.graph.node[i]
    return f"dropped node {i}"


def _m_dup_node(m, r):
    n = r.choice(m.graph.node)
    m.graph.node.insert(r.randrange(len(m.graph.node) + 1), n)
    return f"duplicated {n.op_type}"


def _m_shuffle(m, r):
    nodes = list(m.graph.node)
    r.shuffle(nodes)
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    return "shuffled nodes"


def _m_rewire(m, r):
    n = r.choice(m.graph.node)
    if not n.input:
        return "no inputs"
    i = r.randrange(len(n.input))
    n.input[i] = r.choice(_names(m.graph) + ["", "nowhere"])
    return f"{n.op_type} input {i} -> {n.input[i]!r}"


def _m_op_type(m, r):
    n = r.choice(m.graph.node)
    old, n.op_type = n.op_type, r.choice(ONNX_OPS)
    return f"{old} -> {n.op_type}"


def _m_attribute(m, r):
    nodes = [n for n in m.graph.node if n.attribute]
    if not nodes or r.random() < 0.2:
        n = r.choice(m.graph.node)
        n.attribute.append(helper.make_attribute(r.choice(["axis", "perm", "pads", "bogus", "to"]),
                                                 r.choice([r.choice(ODD_INTS), [r.choice(ODD_INTS)] * r.randint(0, 6)])))
        return f"added attribute to {n.op_type}"
    n = r.choice(nodes)
    a = r.choice(n.attribute)
    if a.type == onnx.AttributeProto.INT:
        a.i = r.choice(ODD_INTS)
    elif a.type == onnx.AttributeProto.INTS:
        vals = list(a.ints) or [1]
        del a.ints[:]
        a.ints.extend(r.choice([[], vals[:-1], vals + [r.choice(ODD_INTS)], [r.choice(ODD_INTS) for _ in vals]]))
    elif a.type == onnx.AttributeProto.FLOAT:
        a.f = r.choice([0.0, -1.0, float("nan"), float("inf"), 1e30])
    else:
        n.attribute.remove(a)
        return f"removed {a.name} of {n.op_type}"
    return f"{n.op_type}.{a.name} changed"


def _m_initializer(m, r):
    if not m.graph.initializer:
        return "no initializers"
    t = r.choice(m.graph.initializer)
    what = r.randrange(5)
    if what == 0 and t.dims:
        t.dims[r.randrange(len(t.dims))] = r.choice(ODD_INTS)
    elif what == 1 and t.raw_data:
        t.raw_data = t.raw_data[:r.randrange(len(t.raw_data) + 1)] + (b"\x01" * r.choice([0, 3, 64]))
    elif what == 2:
        t.data_type = r.choice(list(TensorProto.DataType.values()))
    elif what == 3:
        t.data_location = TensorProto.EXTERNAL
        t.external_data.add(key="location", value=r.choice(["../../etc/hostname", "/dev/zero", "missing.bin"]))
    else:
        t.name = r.choice(_names(m.graph))
    return f"initializer {t.name} mutation {what}"


def _m_outputs(m, r):
    g = m.graph
    what = r.randrange(3)
    if what == 0 and len(g.output) > 0:
        del g.output[r.randrange(len(g.output))]
    elif what == 1:
        g.output.append(helper.make_tensor_value_info(r.choice(_names(g) + ["nowhere"]), TensorProto.FLOAT, None))
    else:
        g.input.append(helper.make_tensor_value_info("extra", r.choice([1, 6, 7, 9]), [r.choice(ODD_INTS)]))
    return f"io mutation {what}"


def _m_domain(m, r):
    n = r.choice(m.graph.node)
    n.domain = r.choice(["com.microsoft", "ai.onnx.ml", "x.y", "ai.onnx"])
    return f"{n.op_type} domain {n.domain}"


def _m_constant(m, r):
    shape = [r.choice([0, 1, 3, 2**20, 2**31]) for _ in range(r.randint(0, 3))]
    t = onnx.TensorProto(name="k", data_type=r.choice([1, 6, 7, 9, 10]), dims=shape, raw_data=b"\0" * r.choice([0, 4, 8]))
    n = r.choice(m.graph.node)
    m.graph.node.insert(0, helper.make_node("Constant", [], ["k"], value=t))
    if n.input:
        n.input[r.randrange(len(n.input))] = "k"
    return f"constant {shape}"


UNARY = ["Relu", "Sigmoid", "Tanh", "Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Erf",
         "Softplus", "HardSigmoid", "HardSwish", "LeakyRelu", "Elu", "Selu", "Identity", "Sign", "Round", "Sin"]
BINARY = ["Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "PRelu"]


def _mild_op(m, r):
    """An op swapped for one of the same arity: the graph stays valid, the numbers change."""
    n = r.choice(m.graph.node)
    pool = UNARY if n.op_type in UNARY else BINARY if n.op_type in BINARY else None
    if pool is None:
        return _mild_values(m, r)
    old, n.op_type = n.op_type, r.choice(pool)
    del n.attribute[:]
    return f"{old} -> {n.op_type}"


def _mild_values(m, r):
    """Weights with NaN, inf, huge, tiny (denormal) or zero values."""
    from onnx import numpy_helper

    floats = [t for t in m.graph.initializer if t.data_type == TensorProto.FLOAT]
    if not floats:
        return "no float weights"
    t = r.choice(floats)
    a = numpy_helper.to_array(t).copy()
    if a.size:
        v = r.choice([np.nan, np.inf, -np.inf, 3e38, 1e-45, 0.0, -0.0])
        a.flat[r.randrange(a.size)] = v if r.random() < 0.7 else a.flat[0]
        if r.random() < 0.2:
            a[...] = v
    t.CopyFrom(numpy_helper.from_array(a, t.name))
    return f"weights of {t.name}"


def _mild_attribute(m, r):
    """An int attribute nudged to a nearby value (axes, kernel sizes, pads, strides, perms)."""
    nodes = [n for n in m.graph.node if any(a.type in (onnx.AttributeProto.INT, onnx.AttributeProto.INTS)
                                            for a in n.attribute)]
    if not nodes:
        return _mild_values(m, r)
    n = r.choice(nodes)
    a = r.choice([a for a in n.attribute if a.type in (onnx.AttributeProto.INT, onnx.AttributeProto.INTS)])
    if a.type == onnx.AttributeProto.INT:
        a.i = a.i + r.choice([-2, -1, 1, 2])
    else:
        vals = list(a.ints)
        if vals:
            vals[r.randrange(len(vals))] += r.choice([-1, 1])
            r.shuffle(vals) if r.random() < 0.3 else None
        del a.ints[:]
        a.ints.extend(vals)
    return f"{n.op_type}.{a.name} nudged"


def _mild_dims(m, r):
    """The input's batch or spatial size changed consistently-ish (a small positive value)."""
    v = r.choice(list(m.graph.input))
    dims = v.type.tensor_type.shape.dim
    if not dims:
        return "no dims"
    d = dims[r.randrange(len(dims))]
    d.dim_value = r.choice([1, 2, 3, 5, 8, 16])
    for o in m.graph.output:  # let shape inference decide the outputs
        o.type.tensor_type.ClearField("shape")
    return f"{v.name} dim -> {d.dim_value}"


def _mild_opset(m, r):
    m.opset_import[0].version = r.choice([11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21])
    return f"opset {m.opset_import[0].version}"


def _mild_insert(m, r):
    """An elementwise op inserted after a node's output."""
    n = r.choice(m.graph.node)
    out = n.output[0]
    new = f"{out}_fz"
    for other in m.graph.node:
        for i, x in enumerate(other.input):
            if x == out:
                other.input[i] = new
    for o in m.graph.output:
        if o.name == out:
            o.name = new
    at = list(m.graph.node).index(n) + 1
    m.graph.node.insert(at, helper.make_node(r.choice(UNARY[:12]), [out], [new]))
    return f"inserted after {n.op_type}"


MILD = [_mild_op, _mild_values, _mild_attribute, _mild_dims, _mild_opset, _mild_insert]

STRUCTURAL = [_m_input_dim, _m_input_dtype, _m_opset, _m_drop_node, _m_dup_node, _m_shuffle, _m_rewire, _m_op_type,
              _m_attribute, _m_initializer, _m_outputs, _m_domain, _m_constant]


def mutate_bytes(data: bytes, r: random.Random, region: int | None = None) -> tuple[bytes, str]:
    """Flip, truncate, insert or repeat bytes (in the first ``region`` bytes if given)."""
    b = bytearray(data)
    span = min(len(b), region or len(b)) or 1
    what = r.randrange(4)
    if what == 0:
        for _ in range(r.randint(1, 8)):
            if b:
                b[r.randrange(span)] ^= 1 << r.randrange(8)
    elif what == 1:
        b = b[:r.randrange(len(b) + 1)]
    elif what == 2:
        at = r.randrange(span)
        b[at:at] = bytes(r.randrange(256) for _ in range(r.randint(1, 16)))
    else:
        at = r.randrange(span)
        b[at:at] = b[at:at + r.randint(1, 64)] * r.randint(2, 8)
    return bytes(b), f"bytes mutation {what}"


def mutate_onnx(model: onnx.ModelProto, r: random.Random) -> tuple[bytes, str]:
    """Structural mutations (1-3) and, one case in five, byte-level ones on top."""
    m = _copy(model)
    notes = []
    pool = MILD if r.random() < 0.6 else STRUCTURAL  # mild ones keep the graph valid and reach TVM
    for fn in r.sample(pool, r.randint(1, 2 if pool is MILD else 3)):
        try:
            notes.append(fn(m, r))
        except (ValueError, TypeError, IndexError, OverflowError) as e:  # protobuf refused the value: a no-op
            notes.append(f"{fn.__name__} skipped ({type(e).__name__})")
    data = m.SerializeToString()
    if r.random() < 0.2:
        data, note = mutate_bytes(data, r)
        notes.append(note)
    return data, "; ".join(notes)


def mutate_tflite(r: random.Random) -> tuple[bytes, str]:
    """The tiny TFLite seed built with wrong fields, or its bytes mutated."""
    from fuzz_seeds import tiny_tflite

    if r.random() < 0.5:
        kw = r.choice([
            {"tensor_type": r.randrange(20)}, {"opcode": r.randrange(210)}, {"op_inputs": (0, r.choice([-1, 9, 99]), 2)},
            {"op_outputs": (r.choice([-1, 0, 7]),)}, {"x_shape": [r.choice(ODD_INTS[:8]), r.choice([0, -1, 4, 5])]},
            {"w_bytes": r.choice([0, 4, 47, 49, 4096])}, {"buffer_index": r.choice([-1, 0, 2, 3, 999])},
            {"version": r.choice([0, 1, 2, 99])}, {"activation": r.randrange(10)},
            {"inp": r.choice([1, 4, 300]), "out": r.choice([1, 3, 17])}])
        try:
            return tiny_tflite(**kw), f"tflite fields {kw}"
        except Exception as e:  # noqa: BLE001 - the builder refused: fall back to bytes
            note = f"builder refused {kw}: {type(e).__name__}"
    else:
        note = ""
    data, what = mutate_bytes(tiny_tflite(), r)
    return data, f"{note} {what}".strip()


def mutate_npy(r: random.Random) -> tuple[bytes, str]:
    """An .npy for the native runner: the right tensor with a mutated header or data."""
    import io

    buf = io.BytesIO()
    np.save(buf, np.ones((4, 64), r.choice([np.float32, np.float32, np.float64, np.int8, np.bool_, np.float16])))
    data = buf.getvalue()
    hlen = 10 + int.from_bytes(data[8:10], "little")
    what = r.randrange(5)
    if what == 0:
        return mutate_bytes(data, r, region=hlen)
    if what == 1:
        header = data[10:hlen].decode("latin1")
        header = header.replace("(4, 64)", r.choice(["(4, 64, 1)", "(-4, 64)", "(4,)", "()", "(99999999999999, 99999)",
                                                     "(4, 64", "(a, b)", "(0, 64)", "(4,,64)", "(4, 64.5)"]))
        header = header.replace("'<f4'", r.choice(["'<f4'", "'>f4'", "'<c8'", "'|O'", "'<U4'", "''", "'<f4"]))
        body = header.encode("latin1")
        return data[:8] + len(body).to_bytes(2, "little") + body + data[hlen:], f"header {header.strip()}"
    if what == 2:
        return data[:r.randrange(len(data))], "truncated"
    if what == 3:
        return bytes(r.randrange(256) for _ in range(r.randint(0, 200))), "garbage"
    return data[:6] + bytes([r.choice([0, 1, 2, 3, 9]), 0]) + data[8:], "version byte"


def session_feeds(spec_shape: tuple, name: str, r: random.Random):
    """A strange value for Session.run: wrong names, types, shapes, dtypes, layouts."""
    good = np.ones(spec_shape, np.float32)
    choice = r.randrange(16)
    values = [
        lambda: {name: good},
        lambda: {name: good.astype(r.choice([np.float64, np.float16, np.int32, np.int8, np.bool_, np.complex64]))},
        lambda: {name: good.astype(">f4")},
        lambda: {name: np.ones(spec_shape[::-1], np.float32)},
        lambda: {name: np.ones((0,) + tuple(spec_shape[1:]), np.float32)},
        lambda: {name: good.tolist()},
        lambda: {name: [[1, 2], [3]]},
        lambda: {name: "text"},
        lambda: {name: None},
        lambda: {name: object()},
        lambda: {name: np.asfortranarray(good)},
        lambda: {name: np.full(spec_shape, np.nan, np.float32)},
        lambda: {name: good, "extra": good},
        lambda: {1: good, name: good},
        lambda: [good],
        lambda: {name: np.ones(spec_shape, dtype=[("a", np.float32)])},
    ]
    return values[choice](), f"session feed {choice}"


def tamper_artifact(src: Path, dst: Path, r: random.Random, evil: Path, foreign: bool = True) -> tuple[str, bool]:
    """Copy artifact ``src`` to ``dst`` and tamper with it. Returns (description, must_refuse):
    must_refuse cases (a changed byte anywhere without re-sealing, a missing or swapped file) must
    end in exit 6. ``evil`` is a script that must never run (its commands go into the manifest)."""
    from edgec.runtime.manifest import seal

    shutil.copytree(src, dst)
    lib, man = dst / "model.so", dst / "manifest.json"
    what = r.randrange(10)
    if what == 0:
        data, note = mutate_bytes(lib.read_bytes(), r)
        if data == lib.read_bytes():
            data = data + b"\0"
        lib.write_bytes(data)
        return f"library {note}", True
    if what == 1:
        data, note = mutate_bytes(man.read_bytes(), r)
        if data == man.read_bytes():
            data = data[:-2]
        man.write_bytes(data)
        return f"manifest {note}", True
    if what == 2:
        lib.unlink()
        kind = r.randrange(4)
        if kind == 1:
            lib.mkdir()
        elif kind == 2:
            os.mkfifo(lib)
        elif kind == 3:
            os.symlink(src / "model.so", lib)
        return f"library replaced ({kind})", True
    if what == 3:
        man.unlink()
        if r.random() < 0.5:
            man.mkdir()
        return "manifest removed", True
    m = json.loads(man.read_text())
    if what == 4:
        m["library"] = r.choice(["../model.so", "/etc/hostname", "model.so/", "./model.so", "", "nope.so", 7, None])
        note = f"library {m['library']!r}"
    elif what == 5:
        m["files"][r.choice(["../../etc/hostname", "/etc/passwd", "a/../b", "x\\y", "sub/f"])] = "0" * 64
        note = "files entry outside"
    elif what == 6:
        t = r.choice(m["inputs"] + m["outputs"])
        key = r.choice(["shape", "dtype", "name"])
        t[key] = r.choice({"shape": [[], [4], [4, 64, 1], [-1, 64], [2**31, 1], ["4", 64], [4.5, 64], None],
                           "dtype": ["float16", "float99", "int8", "", None, 3, "object"],
                           "name": ["", "y", "x", None, 5, "é"]}[key])
        note = f"tensor {key} -> {t[key]!r}"
    elif what == 7:
        group = r.choice(["inputs", "outputs"])
        m[group] = r.choice([[], m[group] * 2, None, {}, "x"])
        note = f"{group} count"
    elif what == 8:
        t = m["target"]
        t["emulator"] = {"command": str(evil), "sysroot": str(evil), "package": ""}
        t["toolchain"] = {"cxx": str(evil), "package": ""}
        if foreign and r.random() < 0.5:  # run/verify then go through qemu and an aarch64 bundle
            t["triple"], t["requires"] = "aarch64-linux-gnu", {"machine": "aarch64", "cpu_features": []}
        note = "commands in the manifest"
    elif r.random() < 0.5:
        key = r.choice(["target", "compile_options", "source_model", "versions", "schema_version", "files"])
        m[key] = r.choice([None, [], "x", 1, {"a": json.loads("[" * 80 + "]" * 80)}, {}])
        note = f"{key} -> junk"
    else:  # one nested field that edgec reads back
        junk = r.choice([None, [], "x", -1, 1e308, float("inf"), {}, [1, 2, 3], {"x": "text_line"}, {"x": [5, -5]},
                         {"x": [0, float("inf")]}, {"x": "no-such-sample"}])
        where, key = r.choice([("target", "requires"), ("target", "name"), ("target", "kind"), ("target", "cpu"),
                               ("source_model", "format"), ("source_model", "sha256"), ("source_model", "path"),
                               ("compile_options", "input_ranges"), ("compile_options", "input_samples"),
                               ("compile_options", "weight_bytes"), ("compile_options", "int8"),
                               ("compile_options", "qdq"), ("versions", "edgec")])
        if isinstance(m.get(where), dict):
            m[where][key] = junk
        note = f"{where}.{key} -> {junk!r}"
    man.write_text(seal(m))
    return f"resealed: {note}", False
