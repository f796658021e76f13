"""TFLite in: parse the flatbuffer with the `tflite` package, check ops, import with TVM Relax."""
from __future__ import annotations

from dataclasses import dataclass

from edgec.errors import ModelFormatError, UnsupportedOperatorError

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


def check_tflite_ops(m: TFLiteModel) -> None:
    supported = _convert_map_keys()
    bad: dict[str, str] = {}
    for kind, tensor in m.op_names():
        if kind not in supported and kind not in bad:
            bad[kind] = tensor
    if bad:
        raise UnsupportedOperatorError(bad, "TFLite")


def _convert_map_keys() -> set[str]:
    """The converter's op table is built in __init__; read it from a throwaway instance."""
    from tvm.relax.frontend.tflite.tflite_frontend import OperatorConverter

    conv = OperatorConverter.__new__(OperatorConverter)
    try:
        OperatorConverter.__init__(conv, None, None, None, None)
    except Exception:  # noqa: BLE001 - __init__ touches the model after building the map
        pass
    return set(getattr(conv, "convert_map", {}))


def tflite_to_relax(m: TFLiteModel):
    from tvm.relax.frontend.tflite import from_tflite

    check_tflite_ops(m)
    shapes = {n: s for n, s, _ in m.io()}
    dtypes = {n: d for n, _, d in m.io()}
    try:
        return from_tflite(m.model, shape_dict=shapes, dtype_dict=dtypes)
    except Exception as e:
        msg = str(e).strip().splitlines()
        raise ModelFormatError(f"TVM's TFLite importer failed: {msg[-1] if msg else type(e).__name__}") from None
