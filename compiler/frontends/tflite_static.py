"""Values of TFLite tensors that are computed in the graph but depend on no input data.

Why: TF's converter leaves shape arithmetic in the graph (SHAPE -> STRIDED_SLICE -> SUB -> PACK
feeding a SLICE's size or a RESHAPE's shape); TVM's TFLite importer reads such parameters from
the tensor's buffer, which a computed tensor does not have ("a bytes-like object is required":
word_activation_recognition's audio front end). With the inputs' shapes fixed these tensors are
constants. Which ones: every tensor whose producers reach only constant buffers and SHAPE ops
(whose output depends on the shape alone). Their values: LiteRT, the reference runtime, runs the
model once on zeros with every tensor kept, and they are read from it - the interpreter that
defines the model's semantics computes them, not a re-implementation of TFLite's ops.
"""
from __future__ import annotations

import warnings

import numpy as np

# ops whose output may differ between runs on the same inputs, or that have state
_IMPURE = {"RANDOM_UNIFORM", "RANDOM_STANDARD_NORMAL", "MULTINOMIAL", "VAR_HANDLE", "READ_VARIABLE",
           "ASSIGN_VARIABLE", "CALL_ONCE", "WHILE", "IF", "CUSTOM"}
MAX_ELEMENTS = 1024  # parameters, not activations
_INT_TYPES = {2, 4}  # TensorType INT32, INT64


def static_tensors(model) -> set[int]:
    """Indices of tensors of subgraph 0 that are computed from constants and shapes only."""
    from tflite.BuiltinOperator import BuiltinOperator

    names = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
    sg = model.Subgraphs(0)
    const = {i for i in range(sg.TensorsLength())
             if sg.Tensors(i).Buffer() and model.Buffers(sg.Tensors(i).Buffer()).DataLength()}
    known = set(const)
    computed: set[int] = set()
    for k in range(sg.OperatorsLength()):
        op = sg.Operators(k)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
        ins = [int(i) for i in op.InputsAsNumpy() if i >= 0] if op.InputsLength() else []
        outs = [int(i) for i in op.OutputsAsNumpy()] if op.OutputsLength() else []
        if kind in _IMPURE:
            continue
        if kind == "SHAPE" or (ins and all(i in known for i in ins)):
            for o in outs:
                known.add(o)
                computed.add(o)
    outputs = {sg.Outputs(i) for i in range(sg.OutputsLength())}
    # integer tensors only: shape arithmetic; a float one computed from constants is a weight
    # (DEQUANTIZE of fp16, DENSIFY), which the importer handles itself
    return {i for i in computed - outputs
            if sg.Tensors(i).Type() in _INT_TYPES and int(np.prod(sg.Tensors(i).ShapeAsNumpy())) <= MAX_ELEMENTS}


def static_values(data: bytes, model) -> dict[int, np.ndarray]:
    """{tensor index: value} for the computed tensors :func:`static_tensors` finds; empty when
    there are none, or when LiteRT is missing or cannot run the model (custom ops): the importer
    then reports what it cannot read."""
    try:
        wanted = static_tensors(model)
    except Exception:  # noqa: BLE001 - a malformed flatbuffer: the importer's checks say what is wrong
        return {}
    if not wanted:
        return {}
    try:  # (edgec.reference sits above the compiler: the same lookup, here)
        from ai_edge_litert import interpreter as lite
    except ImportError:
        try:
            from tflite_runtime import interpreter as lite
        except ImportError:  # no LiteRT here: the importer's own error stands
            return {}
    try:
        with warnings.catch_warnings():  # "preserve_all_tensors is for debugging": it is what we want
            warnings.simplefilter("ignore")
            # no XNNPACK delegate: it would keep the tensors inside its partitions to itself
            it = lite.Interpreter(model_content=data, experimental_preserve_all_tensors=True,
                                  experimental_op_resolver_type=lite.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        it.allocate_tensors()
        for d in it.get_input_details():
            it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
        it.invoke()
        return {i: np.array(it.get_tensor(i)) for i in wanted}
    except Exception:  # noqa: BLE001 - LiteRT refuses the model (custom ops): the importer's errors stand
        return {}
