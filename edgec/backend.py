"""ONNX backend interface (``onnx.backend.base.Backend``) over edgec's public API.

    import edgec.backend as backend
    rep = backend.prepare(model)            # edgec.compile(model, out=<temp dir>)
    outputs = rep.run([x, y])               # edgec.load(<temp dir>).run({...}); namedtupledict

Every graph input (initializers aside) is fed at run time. Input shapes are pinned from the
model's value infos; when a graph input has a symbolic or unknown dimension, compilation waits
for the first ``run`` and pins the shapes of the arrays given (and recompiles if they change).
edgec compiles static shapes, so an input that gives an op its shape parameters (Reshape's
shape, Slice's starts, a Reduce's axes, TopK's k, Resize's sizes: SHAPE_PARAMS) is pinned by
value the way a user would with ``--input-value``: compilation waits for the first ``run``, and
a later run with other values for those inputs recompiles.
Failures edgec expects stay ``EdgecError``s (unsupported operator, bad model, wrong inputs).
``tools/onnx_conformance.py`` runs ONNX's backend node tests through this module.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep, namedtupledict

import edgec
from edgec.compiler.passes.dtype_codec import carrier_np, from_bits
from edgec.compiler.passes.exotic_dtypes import graph_io_dtypes
from edgec.errors import InputSpecError, ModelFormatError, UserInputError


def _static_shape(vi: onnx.ValueInfoProto) -> tuple[int, ...] | None:
    t = vi.type.tensor_type
    if not vi.type.HasField("tensor_type") or not t.HasField("shape"):
        return None
    dims = []
    for d in t.shape.dim:
        if not d.HasField("dim_value") or d.dim_value < 0:
            return None
        dims.append(int(d.dim_value))
    return tuple(dims)


_REDUCE = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
           "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")
# op -> positions of the inputs that decide its output shape or axes (not data it computes on)
SHAPE_PARAMS: dict[str, tuple[int, ...]] = {
    "Reshape": (1,), "Expand": (1,), "Tile": (1,), "Slice": (1, 2, 3, 4), "Squeeze": (1,), "Unsqueeze": (1,),
    "Pad": (1, 3), "Resize": (1, 2, 3), "Upsample": (1,), "TopK": (1,), "OneHot": (1,), "ConstantOfShape": (0,),
    "Split": (1,), "Range": (0, 1, 2), "CenterCropPad": (1,), "CumSum": (1,), "CumProd": (1,), "Trilu": (1,), "Col2Im": (1, 2),
    "AffineGrid": (1,), "DFT": (1, 2), "STFT": (1, 3), "HannWindow": (0,), "HammingWindow": (0,),
    "BlackmanWindow": (0,), "MelWeightMatrix": (0, 1, 2, 3, 4), "Compress": (1,), "Loop": (0, 1),
    **{op: (1,) for op in _REDUCE}}


def shape_param_inputs(model: onnx.ModelProto) -> list[str]:
    """Graph inputs whose values reach an op's shape parameters (SHAPE_PARAMS), directly or through
    other nodes (a window size cast and fed to Range); Shape/Size read only their input's shape."""
    producer = {o: n for n in model.graph.node for o in n.output if o}
    reach: set[str] = set()
    todo = [n.input[i] for n in model.graph.node if n.domain in ("", "ai.onnx")
            for i in SHAPE_PARAMS.get(n.op_type, ()) if i < len(n.input) and n.input[i]]
    while todo:
        name = todo.pop()
        if name in reach:
            continue
        reach.add(name)
        node = producer.get(name)
        if node is not None and node.op_type not in ("Shape", "Size"):
            todo.extend(i for i in node.input if i)
    return [vi.name for vi in feed_inputs(model) if vi.name in reach]


def feed_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs fed at run time (ONNX IR < 4 also lists initializers as inputs: those are not)."""
    inits = {i.name for i in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in inits]


class EdgecBackendRep(BackendRep):
    """A prepared model: compiled into a temporary artifact folder, loaded with edgec.load."""

    def __init__(self, model: onnx.ModelProto, target: str = "host", **compile_kwargs: Any) -> None:
        self.model = model
        self.target = target
        self.compile_kwargs = compile_kwargs
        self.inputs = feed_inputs(model)
        self.output_names = [o.name for o in model.graph.output]
        self._tmp = Path(tempfile.mkdtemp(prefix="edgec-backend-"))
        self._session = None
        self._shapes: dict[str, tuple[int, ...]] | None = None
        self.exotic = graph_io_dtypes(model)  # bfloat16, float8, int4...: the artifact takes/returns their bits
        self.pinned = shape_param_inputs(model)  # compiled as constants: their values come with run()
        self._values: dict[str, bytes] | None = None
        self._n = 0
        for vi in [*self.inputs, *model.graph.output]:
            kind = vi.type.WhichOneof("value")
            if kind != "tensor_type":
                raise ModelFormatError(f"'{vi.name}' is a {(kind or 'untyped').replace('_type', '')} value: edgec "
                                       "compiles models whose inputs and outputs are tensors",
                                       hint="sequences, maps and optionals are not supported")
        shapes = {vi.name: _static_shape(vi) for vi in self.inputs}
        if all(s is not None for s in shapes.values()) and not self.pinned:
            self._compile(shapes, {})  # shapes known up front: compile now, as prepare() promises

    def _compile(self, shapes: dict[str, tuple[int, ...]], values: dict[str, np.ndarray]) -> None:
        self._n += 1
        out = self._tmp / f"artifact{self._n}"
        kwargs = dict(self.compile_kwargs)
        kwargs["input_shapes"] = {**{k: v for k, v in shapes.items() if k not in values},
                                  **kwargs.get("input_shapes", {})}
        if values:
            kwargs["input_values"] = {**values, **kwargs.get("input_values", {})}
        art = edgec.compile(self.model, target=self.target, out=out, **kwargs)
        self._session = edgec.load(art.path)
        self._shapes = shapes
        self._values = {k: v.tobytes() + str(v.shape).encode() for k, v in values.items()}

    def _feeds(self, inputs: Any) -> dict[str, np.ndarray]:
        if isinstance(inputs, dict):
            return {k: np.asarray(v) for k, v in inputs.items()}
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        inputs = list(inputs)
        if len(inputs) != len(self.inputs):
            raise InputSpecError(f"the model takes {len(self.inputs)} input(s) "
                                 f"({', '.join(vi.name for vi in self.inputs)}); {len(inputs)} given")
        feeds = {}
        for vi, a in zip(self.inputs, inputs):
            try:
                feeds[vi.name] = np.asarray(a)
            except ValueError as e:  # ragged lists
                raise InputSpecError(f"input '{vi.name}' is not an array: {e}") from None
        return feeds

    def run(self, inputs: Any, **kwargs: Any) -> tuple[Any, ...]:
        feeds = self._feeds(inputs)
        shapes = {k: tuple(v.shape) for k, v in feeds.items()}
        values = {k: feeds[k] for k in self.pinned if k in feeds}
        key = {k: v.tobytes() + str(v.shape).encode() for k, v in values.items()}
        if self._session is None or self._values != key or (self._shapes != shapes and any(
                _static_shape(vi) is None for vi in self.inputs)):
            self._compile(shapes, values)
        outs = self._session.run({k: self._bits(k, v) for k, v in feeds.items() if k not in values})
        outs = {k: from_bits(v, self.exotic[k]) if k in self.exotic else v for k, v in outs.items()}
        return namedtupledict("Outputs", self.output_names)(*[outs[n] for n in self.output_names])

    def _bits(self, name: str, a: np.ndarray) -> np.ndarray:
        """An input of a small dtype (bfloat16, float8, int4...) as the bits the artifact takes."""
        t = self.exotic.get(name)
        if t is None or a.dtype != onnx.helper.tensor_dtype_to_np_dtype(t):
            return a
        return np.ascontiguousarray(a).view(carrier_np(t))

    def close(self) -> None:
        self._session = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __del__(self) -> None:  # best effort: the temp folder goes with the rep
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class EdgecBackend(Backend):
    """onnx.backend.base.Backend for edgec; device "CPU" (the host target)."""

    @classmethod
    def is_compatible(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> bool:
        return cls.supports_device(device)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return str(device).upper().split(":")[0] == "CPU"

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> EdgecBackendRep:
        if not cls.supports_device(device):
            raise UserInputError(f"edgec.backend runs on device CPU, not {device!r}",
                                 hint="compile for other targets with edgec.compile(model, target=...)")
        if isinstance(model, (bytes, bytearray)):
            model = onnx.load_from_string(bytes(model))
        target = kwargs.pop("target", "host")
        return EdgecBackendRep(model, target, **kwargs)

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple[Any, ...]:
        rep = cls.prepare(model, device, **kwargs)
        try:
            return rep.run(inputs)
        finally:
            rep.close()

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Any, device: str = "CPU", outputs_info=None,
                 **kwargs: Any) -> tuple[Any, ...]:
        """One node on the given arrays: wrapped into a one-node model (latest opset) and compiled."""
        arrays = [np.asarray(a) for a in (inputs.values() if isinstance(inputs, dict) else inputs)]
        names = [n for n in node.input if n]
        vis = [onnx.helper.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
               for n, a in zip(names, arrays)]
        outs = [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.UNDEFINED, None) for n in node.output if n]
        graph = onnx.helper.make_graph([node], "run_node", vis, outs)
        model = onnx.helper.make_model(graph)
        model = onnx.shape_inference.infer_shapes(model)
        return cls.run_model(model, arrays, device, **kwargs)


prepare = EdgecBackend.prepare
run_model = EdgecBackend.run_model
run_node = EdgecBackend.run_node
supports_device = EdgecBackend.supports_device
is_compatible = EdgecBackend.is_compatible
