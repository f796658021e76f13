"""Reference runtimes that compiled models are checked against: ONNX Runtime for ONNX, LiteRT
(ai-edge-litert, falling back to tflite_runtime where only that is installed) for TFLite."""
from __future__ import annotations

import numpy as np

from edgec.errors import EdgecError


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
    name = "onnxruntime"

    def __init__(self, data: bytes, threads: int = 0) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
        so.log_severity_level = 3
        self.sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [o.name for o in self.sess.get_outputs()]
        return dict(zip(names, self.sess.run(names, feeds)))


class LiteRTRef:
    name = "litert"

    def __init__(self, data: bytes, threads: int = 0) -> None:
        self.interp = litert_interpreter_class()(model_content=data, num_threads=threads or None)
        self.interp.allocate_tensors()

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for d in self.interp.get_input_details():
            self.interp.set_tensor(d["index"], feeds[d["name"]])
        self.interp.invoke()
        return {d["name"]: self.interp.get_tensor(d["index"]).copy() for d in self.interp.get_output_details()}


def reference_for(fmt: str, data: bytes, threads: int = 0):
    return OnnxRuntimeRef(data, threads) if fmt == "onnx" else LiteRTRef(data, threads)


def ort_session(model):
    """An ONNX Runtime CPU session for an onnx.ModelProto, warnings off."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def ort_runner(model):
    """``run(feeds) -> first output`` for an onnx.ModelProto on ONNX Runtime's CPU provider."""
    sess = ort_session(model)
    return lambda feeds: sess.run(None, feeds)[0]
