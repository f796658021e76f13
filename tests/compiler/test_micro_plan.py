"""compiler/micro/plan.py: the lowered main as a static plan (arena offsets, aliases, outputs)."""
from __future__ import annotations

import numpy as np
import pytest

from edgec.compiler.driver import CompileOptions, import_model
from edgec.compiler.micro import NotPlannable, build_plan, lower_for_micro
from edgec.compiler.micro.plan import ALIGN, _place
from edgec.compiler.schedules import relax_pipeline
from edgec.compiler.source import load_source as resolve_model
from edgec.compiler.tvm_target import resolve
from edgec.models.tiny import tiny_cnn, tiny_transformer
from edgec.targets import load_target


def _lowered(model):
    tgt = resolve(load_target("host"))
    mod, *_ = import_model(resolve_model(model), CompileOptions())
    return lower_for_micro(mod, tgt, relax_pipeline(tgt, "default", {}, None))


def _kernel_calls(mod) -> int:
    from tvm import ir

    return sum(isinstance(getattr(b.value, "op", None), ir.GlobalVar)
               for blk in mod["main"].body.blocks for b in blk.bindings)


@pytest.fixture(scope="module")
def cnn_plan():
    mod = _lowered(tiny_cnn(batch=1))
    return mod, build_plan(mod)


def test_every_kernel_call_is_in_the_plan_in_order(cnn_plan):
    mod, plan = cnn_plan
    assert len(plan.calls) == _kernel_calls(mod) == 7
    assert plan.calls[-1].kernel == "softmax"
    assert plan.inputs == [0] and len(plan.outputs) == 1


def test_tensors_sit_aligned_inside_the_arena(cnn_plan):
    _, plan = cnn_plan
    arena = [t for t in plan.tensors if t.where == "arena"]
    assert arena and all(t.offset % ALIGN == 0 and t.offset + t.nbytes <= plan.arena_bytes for t in arena)
    weights = [t for t in plan.tensors if t.where == "weights"]
    assert all(t.offset % ALIGN == 0 and t.offset + t.nbytes <= plan.weights_bytes for t in weights)
    assert sum(a.nbytes for _, a in plan.weights) <= plan.weights_bytes


def test_reshape_is_an_alias_not_a_copy(cnn_plan):
    mod, plan = cnn_plan
    assert "vm.builtin.reshape" in mod["main"].script()
    by_offset: dict = {}
    for t in plan.tensors:
        if t.where == "arena":
            by_offset.setdefault((t.storage, t.offset), set()).add(t.shape)
    assert any({(1, 1, 1, 16), (1, 16)} <= shapes for shapes in by_offset.values())


def test_storages_with_disjoint_lifetimes_share_bytes():
    offsets, total = _place([[1000, 0, 2], [1000, 3, 5], [500, 1, 4]])
    assert offsets[0] == offsets[1]  # [0, 2] and [3, 5] never live together
    assert total == 1024 + 512
    plan = build_plan(_lowered(tiny_transformer()))
    assert plan.arena_bytes < sum(t.nbytes for t in plan.tensors if t.where == "arena")


def test_symbolic_shapes_are_not_plannable():
    import tvm
    from tvm import relax

    n = tvm.tirx.Var("n", "int64")
    x = relax.Var("x", relax.TensorType([n, 4], "float32"))
    bb = relax.BlockBuilder()
    with bb.function("main", [x]):
        bb.emit_func_output(x)
    with pytest.raises(NotPlannable, match="run time"):
        build_plan(bb.get())


def test_outputs_that_are_inputs_or_repeated_get_their_own_copy():
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in ("r", "same", "r2")]
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Identity", ["x"], ["same"]),
                           helper.make_node("Identity", ["r"], ["r2"])], "g", [x], outs)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    plan = build_plan(_lowered(model))
    assert len(plan.outputs) == 3 and len(set(plan.outputs)) == 3
    assert all(plan.tensors[i].where == "arena" for i in plan.outputs)
    copies = [c for c in plan.calls if c.kernel is None]
    assert len(copies) == 2  # x itself, and r a second time
    assert np.all([plan.tensors[c.args[0][1]].where == "arena" for c in copies])


def test_equal_constants_share_one_copy_in_the_weights():
    """An unrolled recurrence leaves one Constant object per step for the same matrix: the blob
    holds it once (silero-vad-seq's 32 copies of a 256 KB weight made micro slower than the VM)."""
    from tvm import relax

    w = np.arange(12, dtype="float32").reshape(3, 4)
    consts = [relax.const(w.copy()), relax.const(w.copy()), relax.const(w + 1), relax.const(np.int64(7))]
    assert not consts[0].same_as(consts[1])
    x = relax.Var("x", relax.TensorType([3, 4], "float32"))
    bb = relax.BlockBuilder()
    with bb.function("main", [x]):
        bb.emit_func_output(relax.Tuple(consts))
    plan = build_plan(bb.get())
    assert len(plan.weights) == 3 and plan.weights[2][1].shape == ()  # w, w + 1, the 0-d scalar
    sources = [c.args[1][1] for c in plan.calls]
    assert sources[0] == sources[1] != sources[2]
    assert plan.weights_bytes == 3 * ALIGN
