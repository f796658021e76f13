"""inspect(): what is in a model file or an artifact directory, as a plain dict."""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np

from edgec.runtime.manifest import read_manifest


def _declared_bytes(t) -> int:
    """Bytes an initializer declares (dims x element size); 0 for a type numpy has no size for."""
    from onnx import helper

    try:
        size = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
    except (KeyError, TypeError, ValueError):
        size = 0
    return math.prod(max(int(d), 0) for d in t.dims) * size


def inspect(path_or_model, input_shapes: dict | None = None) -> dict:
    p = Path(str(path_or_model)) if not hasattr(path_or_model, "SerializeToString") else None
    if p is not None and p.is_dir():  # a folder is an artifact or nothing (read_manifest says which)
        m = read_manifest(p)
        size = sum((p / f).stat().st_size for f in m.files)
        return {"kind": "artifact", "path": str(p), "bytes": size,
                "manifest": {"schema_version": m.schema_version, "target": m.target,
                             "inputs": [t.to_dict() for t in m.inputs], "outputs": [t.to_dict() for t in m.outputs],
                             "library": m.library, "files": m.files, "compile_options": m.compile_options,
                             "source_model": m.source_model, "versions": m.versions}}
    from edgec.sources import resolve_model

    src = resolve_model(path_or_model)
    if src.format == "onnx":
        from edgec.compiler.passes.fix_input_shapes import dims, graph_inputs

        g = src.onnx.graph
        params = sum(math.prod(t.dims) for t in g.initializer)
        ops = Counter(n.op_type for n in g.node)
        pbytes = sum(_declared_bytes(t) for t in g.initializer)  # from dims: no data is decoded
        ins = [{"name": vi.name, "shape": dims(vi)} for vi in graph_inputs(src.onnx)]
        outs = [{"name": o.name, "shape": [d.dim_value or d.dim_param or "?" for d in o.type.tensor_type.shape.dim]}
                for o in g.output]
        opset = {o.domain or "ai.onnx": o.version for o in src.onnx.opset_import}
        meta = {kv.key: (kv.value[:60] + "..." if len(kv.value) > 60 else kv.value) for kv in src.onnx.metadata_props}
        return {"kind": "model", "format": "onnx", "path": src.path, "sha256": src.sha256, "opset": opset,
                "inputs": ins, "outputs": outs, "nodes": len(g.node), "ops": dict(ops.most_common()),
                "params": params, "params_bytes": pbytes, "metadata": meta}
    t = src.tflite
    ops = Counter(k for k, _ in t.op_names())
    return {"kind": "model", "format": "tflite", "path": src.path, "sha256": src.sha256,
            "inputs": [{"name": n, "shape": list(s), "dtype": d} for n, s, d in t.io()],
            "outputs": [{"name": n, "shape": list(s), "dtype": d} for n, s, d in t.io(True)],
            "nodes": sum(ops.values()), "ops": dict(ops.most_common()), "bytes": len(src.data)}
