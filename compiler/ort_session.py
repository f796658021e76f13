"""The one place that makes ONNX Runtime sessions: verification's reference, the accuracy metric
of prune/quantize, activation capture for calibration and pruning all run ORT through here, so
quantized models run the same way (host-independently) everywhere."""
from __future__ import annotations

QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
QOPERATOR_OPS = frozenset({"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"})


def is_quantized(model) -> bool:
    """True for an int8 model: QDQ (Quantize/DequantizeLinear) or QOperator (QLinearConv...)."""
    return any(n.op_type in QDQ_OPS | QOPERATOR_OPS for n in model.graph.node)


def model_proto(model):
    """A ModelProto from a ModelProto, its bytes or a path."""
    import onnx

    if hasattr(model, "SerializeToString"):
        return model
    return onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(str(model))


def _drop_trailing_empty_inputs(proto):
    """The same model with each node's trailing omitted optional inputs ('') left out, which ONNX
    defines as equivalent: ORT 1.32 segfaults creating a session for a LayerNormalization whose
    bias is '' (found by tools/fuzz.py; `edgec verify` died with it)."""
    def trailing(nodes) -> bool:
        return any(n.input and n.input[-1] == "" for n in nodes)

    if not trailing(proto.graph.node):
        return proto
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(proto)
    for n in out.graph.node:
        while n.input and n.input[-1] == "":
            n.input.pop()
    return out


def ort_session(model, qdq: bool | None = None, threads: int = 0):
    """An ONNX Runtime CPU session (warnings off) for a ModelProto, its bytes or a path.

    ``qdq`` (default: whether the model is quantized) makes the result the same on every CPU:
    graph optimizations off, so ORT runs each QDQ group as written -- DequantizeLinear -> float
    op -> QuantizeLinear, the float emulation that defines a QDQ model. Optimized, ORT fuses the
    group into its own int8 kernel, whose result depends on the host: on AVX2 without VNNI it
    multiplies with vpmaddubsw, whose int16 pair sums saturate with full-range int8 weights
    (digits top-1 0.960 there vs 0.978 exact), on AVX-512 VNNI it does not. QOperator models
    (QLinearConv runs those kernels even unoptimized) are first spelled as QDQ, the same
    arithmetic (compiler/passes/qoperator_to_qdq.py). The session's ``edgec_qdq`` says which."""
    import onnxruntime as ort

    proto = _drop_trailing_empty_inputs(model_proto(model))
    exact = is_quantized(proto) if qdq is None else qdq
    if exact and any(n.op_type in QOPERATOR_OPS for n in proto.graph.node):
        from edgec.compiler.passes import PassContext
        from edgec.compiler.passes.qoperator_to_qdq import qoperator_to_qdq

        proto = qoperator_to_qdq(proto, PassContext())[0]
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
    if exact:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"])
    sess.edgec_qdq = exact
    return sess
