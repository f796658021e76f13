"""TFLite in: parse the flatbuffer with the `tflite` package, check ops, import with TVM Relax."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from edgec.errors import EdgecError, ModelFormatError, UnsupportedOperatorError

_TFL_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8"}


@dataclass
class TFLiteModel:
    data: bytes
    model: object  # tflite.Model

    @property
    def subgraph(self):
        return self.model.Subgraphs(0)

    def io(self, outputs: bool = False) -> list[tuple[str, tuple[int, ...], str]]:
        sg = self.subgraph
        idx = [sg.Outputs(i) for i in range(sg.OutputsLength())] if outputs else \
            [sg.Inputs(i) for i in range(sg.InputsLength())]
        res = []
        for i in idx:
            t = sg.Tensors(i)
            res.append((t.Name().decode(), tuple(int(x) for x in t.ShapeAsNumpy()), _TFL_DTYPES.get(t.Type(), "?")))
        return res

    def op_names(self) -> list[tuple[str, str]]:
        """(op type, name of its first output tensor) for every operator."""
        from tflite.BuiltinOperator import BuiltinOperator

        names = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
        sg, out = self.subgraph, []
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            kind = names.get(builtin, str(builtin))
            if kind == "CUSTOM":
                kind = "CUSTOM:" + (code.CustomCode() or b"?").decode()
            tensor = sg.Tensors(op.Outputs(0)).Name().decode() if op.OutputsLength() else f"op{i}"
            out.append((kind, tensor))
        return out


def parse_tflite(data: bytes, where: str) -> TFLiteModel:
    import tflite

    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        m = TFLiteModel(data, model)
        if model.SubgraphsLength() < 1:
            raise ValueError("no subgraph")
        m.io(), m.io(True), m.op_names()
        for b in range(model.BuffersLength()):
            model.Buffers(b).DataLength()
    except Exception as e:  # flatbuffers raise struct.error / IndexError on truncated data
        raise ModelFormatError(f"{where} is not a valid TFLite model ({type(e).__name__}: {e}); "
                               "the file may be truncated or corrupt") from None
    return m


def _custom_versions(m: TFLiteModel) -> dict[str, set[int]]:
    """Custom op name -> the versions its operator codes declare."""
    out: dict[str, set[int]] = {}
    for i in range(m.model.OperatorCodesLength()):
        code = m.model.OperatorCodes(i)
        if code.CustomCode():
            out.setdefault(code.CustomCode().decode(errors="replace"), set()).add(int(code.Version() or 1))
    return out


def check_tflite_ops(m: TFLiteModel) -> None:
    from edgec.compiler.frontends.tflite_mediapipe import CUSTOM_OPS

    supported = _convert_map_keys()
    versions = _custom_versions(m)
    bad: dict[str, str] = {}
    for kind, tensor in m.op_names():
        if kind.startswith("CUSTOM:") and kind[7:] in CUSTOM_OPS:
            known = CUSTOM_OPS[kind[7:]][0]
            extra = sorted(versions.get(kind[7:], {1}) - known)
            if extra:
                kind = f"{kind} (version {extra[0]}; edgec implements {', '.join(map(str, sorted(known)))})"
        if kind not in supported and kind not in bad:
            bad[kind] = tensor
    if bad:
        raise UnsupportedOperatorError(bad, "TFLite")


def _convert_map_keys() -> set[str]:
    """The converter's op table is built in __init__; read it from a throwaway instance."""
    cls = _converter_class()
    conv = cls.__new__(cls)
    try:
        cls.__init__(conv, None, None, None, None)
    except Exception:  # noqa: BLE001 - __init__ touches the model after building the map
        pass
    from edgec.compiler.frontends.tflite_mediapipe import CUSTOM_OPS

    return set(getattr(conv, "convert_map", {})) | {"DENSIFY"} | {"CUSTOM:" + n for n in CUSTOM_OPS}


class TFLiteOpError(Exception):
    """A TVM converter failed on one operator: carries the op type and its first output's name."""

    def __init__(self, kind: str, tensor: str, err: BaseException) -> None:
        msg = str(err).strip().splitlines()
        super().__init__(f"{kind} (output '{tensor}'): {msg[-1] if msg else type(err).__name__}")
        self.kind, self.tensor, self.err = kind, tensor, err


_CONVERTER = None


def _converter_class():
    """TVM's OperatorConverter plus what edgec adds: sparse constants (DENSIFY) feeding fp16
    DEQUANTIZE, MediaPipe's custom ops, and errors that name the operator they came from."""
    global _CONVERTER
    if _CONVERTER is not None:
        return _CONVERTER
    from tflite.BuiltinOperator import BuiltinOperator
    from tflite.TensorType import TensorType
    from tvm import relax
    from tvm.relax.frontend.tflite.tflite_frontend import OperatorConverter, get_tensor_name

    from edgec.compiler.frontends.tflite_densify import densify_tensor
    from edgec.compiler.frontends.tflite_mediapipe import CUSTOM_OPS

    class EdgecOperatorConverter(OperatorConverter):
        # tensor index -> value of a tensor computed from shapes and constants (tflite_static.py);
        # set per model on a subclass by tflite_to_relax
        static_values: dict = {}

        def __init__(self, model, subgraph, exp_tab, ctx, conversion_state=None):
            super().__init__(model, subgraph, exp_tab, ctx, conversion_state)
            self.convert_map["DENSIFY"] = self.convert_densify
            self.convert_map["DEQUANTIZE"] = self.convert_dequantize
            for name, (_, fn) in CUSTOM_OPS.items():
                self.convert_map["CUSTOM:" + name] = (lambda f: lambda op: f(self, op, self._op_version(op)))(fn)
            self.convert_map = {k: self._named(k, f) for k, f in self.convert_map.items()}

        def _named(self, kind, fn):
            def run(op):
                outs = [int(o) for o in op.OutputsAsNumpy()] if op.OutputsLength() else []
                if outs and all(o in self.static_values for o in outs):
                    # computed from shapes and constants only: its value, not its ops
                    for o in outs:
                        self.set_prefetched_node(o, self.static_values[o])
                    return None
                try:
                    return fn(op=op)
                except TFLiteOpError:
                    raise
                except EdgecError:
                    raise
                except Exception as e:  # noqa: BLE001 - TVM converters raise anything
                    outs = op.OutputsAsNumpy() if op.OutputsLength() else []
                    tensor = get_tensor_name(self.subgraph, int(outs[0])) if len(outs) else "?"
                    raise TFLiteOpError(kind, tensor, e) from e
            return run

        def _op_version(self, op) -> int:
            return int(self.model.OperatorCodes(op.OpcodeIndex()).Version() or 1)

        def get_op_code_str(self, op):
            code = self.model.OperatorCodes(op.OpcodeIndex())
            if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == BuiltinOperator.CUSTOM:
                key = "CUSTOM:" + (code.CustomCode() or b"").decode(errors="replace")
                if key in self.convert_map:
                    return key
            return super().get_op_code_str(op)

        def convert_densify(self, op):
            """The sparse constant, densified now (as TFLite does at load time), is the output:
            prefetched for converters that read constant weights, and a constant expression."""
            (inp,) = self.get_input_tensors(op)[:1]
            (out,) = self.get_output_tensors(op)[:1]
            if inp.tensor.Sparsity() is None:
                raise ModelFormatError(f"DENSIFY input '{get_tensor_name(self.subgraph, inp.tensor_idx)}' "
                                       "has no sparsity metadata")
            dense = densify_tensor(inp.tensor, inp.buffer, self.get_tensor_type_as_numpy(inp))
            self.set_prefetched_node(out.tensor_idx, dense)
            return self.exp_tab.new_const(dense, dtype=str(dense.dtype), source_name=out.tensor.Name())

        def convert_dequantize(self, op):
            """fp16 constants whose value is prefetched (DENSIFY outputs) the way TVM converts a
            buffer-backed fp16 constant: an fp16 constant cast to float32."""
            (inp,) = self.get_input_tensors(op)[:1]
            if inp.tensor.Type() == TensorType.FLOAT16 and self.is_prefetched(inp.tensor_idx):
                value = self.get_prefetched_node(inp.tensor_idx)
                const = self.exp_tab.new_const(value, dtype="float16", source_name=inp.tensor.Name())
                return relax.op.astype(const, "float32")
            return super().convert_dequantize(op)

        def convert_expand_dims(self, op):
            """TVM 0.27's converter calls relax.op.expand_dims with a third argument it does not
            take (every EXPAND_DIMS failed: openWakeWord's melspectrogram.tflite)."""
            inp, axis_t = self.get_input_tensors(op)[:2]
            axis = np.asarray(self.get_tensor_value(axis_t)).reshape(-1)
            if axis.size != 1:
                raise ModelFormatError("EXPAND_DIMS takes one axis")
            return relax.op.expand_dims(self.get_tensor_expr(inp), int(axis[0]))

        def get_tensor_value(self, tensor_wrapper, is_sparse=False):
            """A parameter computed from shapes and constants (tflite_static.py) reads as the
            constant it is; anything else as TVM reads it, from the tensor's buffer."""
            value = self.static_values.get(tensor_wrapper.tensor_idx)
            if value is not None and not tensor_wrapper.buffer.DataLength():
                return value
            return super().get_tensor_value(tensor_wrapper, is_sparse)

        def convert_batch_matmul(self, op):
            """TVM's converter reads both operands as expressions; a constant operand (a weight
            or a mel filter bank stored in the model) has none yet: registered here first."""
            for t in self.get_input_tensors(op)[:2]:
                if not self.has_expr(t.tensor_idx):
                    self.exp_tab.set_expr(get_tensor_name(self.subgraph, t.tensor_idx), self.get_tensor_expr(t))
            return super().convert_batch_matmul(op)

    _CONVERTER = EdgecOperatorConverter
    return _CONVERTER


def tflite_to_relax(m: TFLiteModel):
    from tvm.relax.frontend.tflite import from_tflite

    check_tflite_ops(m)
    shapes = {n: s for n, s, _ in m.io()}
    dtypes = {n: d for n, _, d in m.io()}
    from edgec.compiler.frontends.tflite_static import static_values

    converter = type("EdgecOperatorConverterForModel", (_converter_class(),),
                     {"static_values": static_values(m.data, m.model)})
    try:
        return from_tflite(m.model, shape_dict=shapes, dtype_dict=dtypes, op_converter=converter)
    except EdgecError:
        raise
    except Exception as e:
        if os.environ.get("EDGEC_DEBUG"):  # the CLI then prints the converter's traceback
            raise
        if isinstance(e, TFLiteOpError):
            raise ModelFormatError(f"TVM's TFLite importer failed on {e}",
                                   hint="EDGEC_DEBUG=1 shows TVM's traceback; please report the model") from None
        msg = str(e).strip().splitlines()
        raise ModelFormatError(f"TVM's TFLite importer failed: {msg[-1] if msg else type(e).__name__}") from None
