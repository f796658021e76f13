"""Reference runtimes that compiled models are checked against: ONNX Runtime for ONNX, LiteRT
(ai-edge-litert, falling back to tflite_runtime where only that is installed) for TFLite."""
from __future__ import annotations

import numpy as np

from edgec.compiler.ort_session import QDQ_OPS, QOPERATOR_OPS, is_quantized, model_proto, ort_session  # noqa: F401
from edgec.errors import EdgecError, ModelFormatError


def litert_interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise EdgecError("no TFLite runtime installed", hint="pip install ai-edge-litert") from None
    return Interpreter


class OnnxRuntimeRef:
    """ONNX Runtime on an ONNX model's bytes; quantized models run host-independently (see
    ort_session). ``qdq=False`` keeps ORT's own int8 kernels (a speed peer, not a reference)."""

    def __init__(self, data: bytes, threads: int = 0, qdq: bool | None = None) -> None:
        try:
            self.sess = ort_session(data, qdq=qdq, threads=threads)
        except EdgecError:
            raise
        except Exception as e:  # noqa: BLE001 - ORT raises its own Fail/NotImplemented/InvalidGraph types
            raise _refused("ONNX Runtime", "load", e) from None
        self.name = "onnxruntime (QDQ as float)" if self.sess.edgec_qdq else "onnxruntime"

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [o.name for o in self.sess.get_outputs()]
        try:
            return dict(zip(names, self.sess.run(names, feeds)))
        except Exception as e:  # noqa: BLE001
            raise _refused("ONNX Runtime", "run", e) from None


def _refused(runtime: str, what: str, e: Exception) -> ModelFormatError:
    """The reference runtime cannot run the source model: a clear error, not a traceback."""
    msg = " ".join(str(e).split())[:400] or type(e).__name__
    return ModelFormatError(f"{runtime} cannot {what} the source model, so edgec cannot check the compiled one "
                            f"against it: {msg}", hint="the model may use an op or opset the reference does not "
                            "support; `edgec run` still runs the artifact")


class LiteRTRef:
    name = "litert"

    def __init__(self, data: bytes, threads: int = 0) -> None:
        cls = litert_interpreter_class()
        kwargs = {}
        custom = _mediapipe_custom_ops(data)
        if custom:  # MediaPipe's own kernels for its custom ops (edgec/mediapipe_kernels.py)
            from ai_edge_litert.interpreter import InterpreterWithCustomOps

            from edgec.mediapipe_kernels import registerer_for

            cls, kwargs = InterpreterWithCustomOps, {"custom_op_registerers": [registerer_for(custom)]}
        try:
            self.interp = cls(model_content=data, num_threads=threads or None, **kwargs)
            self.interp.allocate_tensors()
        except Exception as e:  # noqa: BLE001 - LiteRT raises ValueError/RuntimeError
            raise _refused("LiteRT", "load", e) from None

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            for d in self.interp.get_input_details():
                self.interp.set_tensor(d["index"], feeds[d["name"]])
            self.interp.invoke()
        except Exception as e:  # noqa: BLE001
            raise _refused("LiteRT", "run", e) from None
        return {d["name"]: self.interp.get_tensor(d["index"]).copy() for d in self.interp.get_output_details()}


def _mediapipe_custom_ops(data: bytes) -> dict[str, set[int]]:
    """The model's MediaPipe custom ops (name -> versions); {} for other models or unreadable bytes."""
    from edgec.mediapipe_kernels import custom_ops_of, is_mediapipe_op

    try:
        return {n: v for n, v in custom_ops_of(data).items() if is_mediapipe_op(n)}
    except Exception:  # noqa: BLE001 - not a flatbuffer: LiteRT itself reports that below
        return {}


# the reference runtime of each frontend (compiler/frontends/registry.py), by format name
REFERENCES = {"onnx": OnnxRuntimeRef, "tflite": LiteRTRef}


def reference_for(fmt: str, data: bytes, threads: int = 0, qdq: bool | None = None):
    """The reference runtime for a model's bytes; ``qdq``: see ort_session (ONNX only)."""
    if fmt not in REFERENCES:
        raise ModelFormatError(f"no reference runtime for {fmt!r} models; edgec has one for {', '.join(REFERENCES)}")
    return OnnxRuntimeRef(data, threads, qdq) if fmt == "onnx" else REFERENCES[fmt](data, threads)


_LAYOUT_OPS = frozenset({"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Identity"})


def quantized_output_scales(model) -> dict[str, float]:
    """{graph output: its quantization step} for outputs that come out of a DequantizeLinear with a
    constant scale (through reshapes/transposes only): values on that grid. Per-channel: the
    largest step."""
    from onnx import numpy_helper

    proto = model_proto(model)
    consts = {t.name: t for t in proto.graph.initializer}
    consts |= {n.output[0]: a.t for n in proto.graph.node if n.op_type == "Constant" for a in n.attribute
               if a.name == "value"}
    producer = {o: n for n in proto.graph.node for o in n.output}
    scales = {}
    for out in proto.graph.output:
        node = producer.get(out.name)
        while node is not None and node.op_type in _LAYOUT_OPS:
            node = producer.get(node.input[0])
        if node is not None and node.op_type == "DequantizeLinear" and node.input[1] in consts:
            scales[out.name] = float(np.abs(numpy_helper.to_array(consts[node.input[1]])).max())
    return scales


def ort_runner(model, qdq: bool | None = None):
    """``run(feeds) -> first output`` for an ONNX model on ONNX Runtime's CPU provider (quantized
    models host-independently, see ort_session)."""
    sess = ort_session(model, qdq=qdq)
    return lambda feeds: sess.run(None, feeds)[0]
