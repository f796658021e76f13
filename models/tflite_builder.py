"""A small TFLite model writer (the `tflite` schema's flatbuffer builders): tensors, constant
buffers (sparse ones too), builtin and custom ops, one subgraph. Tests and tools/fuzz_seeds.py
build their tiny TFLite models with it, as models/tiny.py builds the ONNX ones; every index is
taken as given, so a caller can also build models that are wrong on purpose."""
from __future__ import annotations

import flatbuffers
import numpy as np
import tflite

F32, F16 = 0, 1  # TensorType values


class TFLiteBuilder:
    """Collects tensors, buffers and ops, then ``build`` writes the flatbuffer. Buffer 0 is the
    empty one TFLite expects; tensors with data get the next buffer."""

    def __init__(self) -> None:
        self.tensors: list[dict] = []
        self.buffers: list[bytes] = [b""]
        self.codes: list[tuple] = []
        self.ops: list[dict] = []

    def tensor(self, name, shape, dtype=F32, data: np.ndarray | bytes | None = None, sparsity=None,
               buffer: int | None = None) -> int:
        """A tensor's index; ``data`` goes into a new buffer, which ``buffer`` (any index) overrides."""
        buf = 0
        if data is not None:
            self.buffers.append(data if isinstance(data, bytes) else np.ascontiguousarray(data).tobytes())
            buf = len(self.buffers) - 1
        buf = buf if buffer is None else buffer
        self.tensors.append(dict(name=name, shape=list(shape), dtype=dtype, buffer=buf, sparsity=sparsity))
        return len(self.tensors) - 1

    def const(self, name, value: np.ndarray) -> int:
        dtype = {np.dtype(np.float32): F32, np.dtype(np.float16): F16}[value.dtype]
        return self.tensor(name, value.shape, dtype, value)

    def op(self, code: int, inputs, outputs, custom: str | None = None, version: int = 1,
           custom_options: bytes = b"", options=None) -> None:
        key = (code, custom, version)
        if key not in self.codes:
            self.codes.append(key)
        self.ops.append(dict(code=self.codes.index(key), inputs=list(inputs), outputs=list(outputs),
                             custom_options=custom_options, options=options))

    @staticmethod
    def _ints(b, values, dtype=np.int32):
        return b.CreateNumpyVector(np.asarray(values, dtype=dtype))

    def _index_vector(self, b, values, kind):
        name = {1: "Int32Vector", 2: "Uint16Vector", 3: "Uint8Vector"}[kind]
        vec = self._ints(b, values, {1: np.int32, 2: np.uint16, 3: np.uint8}[kind])
        getattr(tflite, name + "Start")(b)
        getattr(tflite, name + "AddValues")(b, vec)
        return getattr(tflite, name + "End")(b)

    def _sparsity(self, b, sp):
        dims = []
        for lev in sp["levels"]:
            if lev[0] == "dense":
                tflite.DimensionMetadataStart(b)
                tflite.DimensionMetadataAddFormat(b, 0)
                tflite.DimensionMetadataAddDenseSize(b, lev[1])
            else:
                _, seg, idx, seg_kind, idx_kind = lev
                s, i = self._index_vector(b, seg, seg_kind), self._index_vector(b, idx, idx_kind)
                tflite.DimensionMetadataStart(b)
                tflite.DimensionMetadataAddFormat(b, 1)
                tflite.DimensionMetadataAddArraySegmentsType(b, seg_kind)
                tflite.DimensionMetadataAddArraySegments(b, s)
                tflite.DimensionMetadataAddArrayIndicesType(b, idx_kind)
                tflite.DimensionMetadataAddArrayIndices(b, i)
            dims.append(tflite.DimensionMetadataEnd(b))
        order = self._ints(b, sp["traversal_order"])
        bmap = self._ints(b, sp["block_map"]) if sp["block_map"] else None
        tflite.SparsityParametersStartDimMetadataVector(b, len(dims))
        for d in reversed(dims):
            b.PrependUOffsetTRelative(d)
        dims_vec = b.EndVector()
        tflite.SparsityParametersStart(b)
        tflite.SparsityParametersAddTraversalOrder(b, order)
        if bmap is not None:
            tflite.SparsityParametersAddBlockMap(b, bmap)
        tflite.SparsityParametersAddDimMetadata(b, dims_vec)
        return tflite.SparsityParametersEnd(b)

    @staticmethod
    def _table_vector(b, start_fn, items):
        start_fn(b, len(items))
        for it in reversed(items):
            b.PrependUOffsetTRelative(it)
        return b.EndVector()

    def build(self, inputs, outputs, version: int = 3, description: str = "edgec test") -> bytes:
        """The model's bytes: one subgraph "main" with these input and output tensor indices."""
        b = flatbuffers.Builder(4096)
        bufs = []
        for data in self.buffers:
            vec = None
            if data:
                b.StartVector(1, len(data), 16)
                b.head -= len(data)
                b.Bytes[b.head:b.head + len(data)] = data
                b.vectorNumElems = len(data)
                vec = b.EndVector()
            tflite.BufferStart(b)
            if vec is not None:
                tflite.BufferAddData(b, vec)
            bufs.append(tflite.BufferEnd(b))
        tens = []
        for t in self.tensors:
            name, shape = b.CreateString(t["name"]), self._ints(b, t["shape"])
            sp = self._sparsity(b, t["sparsity"]) if t["sparsity"] else None
            tflite.TensorStart(b)
            tflite.TensorAddShape(b, shape)
            tflite.TensorAddType(b, t["dtype"])
            tflite.TensorAddBuffer(b, t["buffer"])
            tflite.TensorAddName(b, name)
            if sp is not None:
                tflite.TensorAddSparsity(b, sp)
            tens.append(tflite.TensorEnd(b))
        codes = []
        for code, custom, op_version in self.codes:
            cname = b.CreateString(custom) if custom else None
            tflite.OperatorCodeStart(b)
            tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            tflite.OperatorCodeAddBuiltinCode(b, code)
            tflite.OperatorCodeAddVersion(b, op_version)
            if cname is not None:
                tflite.OperatorCodeAddCustomCode(b, cname)
            codes.append(tflite.OperatorCodeEnd(b))
        ops = []
        for o in self.ops:
            ins, outs = self._ints(b, o["inputs"]), self._ints(b, o["outputs"])
            copts = b.CreateNumpyVector(np.frombuffer(o["custom_options"], np.uint8)) if o["custom_options"] else None
            opts = o["options"](b) if o["options"] else None
            tflite.OperatorStart(b)
            tflite.OperatorAddOpcodeIndex(b, o["code"])
            tflite.OperatorAddInputs(b, ins)
            tflite.OperatorAddOutputs(b, outs)
            if opts is not None:
                tflite.OperatorAddBuiltinOptionsType(b, opts[0])
                tflite.OperatorAddBuiltinOptions(b, opts[1])
            if copts is not None:
                tflite.OperatorAddCustomOptions(b, copts)
                tflite.OperatorAddCustomOptionsFormat(b, 0)
            ops.append(tflite.OperatorEnd(b))
        t_vec = self._table_vector(b, tflite.SubGraphStartTensorsVector, tens)
        o_vec = self._table_vector(b, tflite.SubGraphStartOperatorsVector, ops)
        i_vec, out_vec = self._ints(b, inputs), self._ints(b, outputs)
        sg_name = b.CreateString("main")
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, t_vec)
        tflite.SubGraphAddInputs(b, i_vec)
        tflite.SubGraphAddOutputs(b, out_vec)
        tflite.SubGraphAddOperators(b, o_vec)
        tflite.SubGraphAddName(b, sg_name)
        sg = tflite.SubGraphEnd(b)
        c_vec = self._table_vector(b, tflite.ModelStartOperatorCodesVector, codes)
        s_vec = self._table_vector(b, tflite.ModelStartSubgraphsVector, [sg])
        b_vec = self._table_vector(b, tflite.ModelStartBuffersVector, bufs)
        desc = b.CreateString(description)
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, version)
        tflite.ModelAddOperatorCodes(b, c_vec)
        tflite.ModelAddSubgraphs(b, s_vec)
        tflite.ModelAddDescription(b, desc)
        tflite.ModelAddBuffers(b, b_vec)
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())

