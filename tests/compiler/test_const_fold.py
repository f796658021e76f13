"""compiler/kernels/const_fold.py: layout ops and constant arithmetic fold in numpy; what numpy
does not cover still folds through TVM's FoldConstant; nothing non-constant is touched."""
import numpy as np
import tvm
from tvm import relax

from edgec.compiler.kernels.const_fold import fold_constants_fast


def _module(body):
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((2, 3), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(body(bb, x))
        bb.emit_func_output(out)
    return bb.get()


def _calls(mod) -> list[str]:
    names = []
    relax.analysis.post_order_visit(mod["main"], lambda e: names.append(e.op.name)
                                    if isinstance(e, relax.Call) and isinstance(e.op, tvm.ir.Op) else None)
    return names


def test_layout_chain_and_arithmetic_fold_to_one_constant():
    w = np.arange(6, dtype=np.float32).reshape(3, 2)

    def body(bb, x):
        t = bb.emit(relax.op.permute_dims(relax.const(w), [1, 0]))            # [2, 3]
        t = bb.emit(relax.op.multiply(t, relax.const(np.full((2, 3), 2, np.float32))))
        t = bb.emit(relax.op.expand_dims(t, [0]))                             # [1, 2, 3]
        t = bb.emit(relax.op.reshape(t, (2, 3)))
        return relax.op.add(x, t)

    mod = fold_constants_fast()(_module(body))
    assert _calls(mod) == ["relax.add"], _calls(mod)
    ex = tvm.compile(mod, target="llvm")
    vm = relax.VirtualMachine(ex, tvm.cpu())
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(vm["main"](tvm.runtime.tensor(x)).numpy(), x + w.T * 2)


def test_op_numpy_does_not_cover_still_folds_through_tvm():
    def body(bb, x):
        s = bb.emit(relax.op.sqrt(relax.const(np.full((2, 3), 4, np.float32))))
        return relax.op.add(x, s)

    mod = fold_constants_fast()(_module(body))
    assert _calls(mod) == ["relax.add"], _calls(mod)


def test_calls_on_variables_are_left_alone():
    def body(bb, x):
        return relax.op.permute_dims(x, [1, 0])

    mod = fold_constants_fast()(_module(body))
    assert _calls(mod) == ["relax.permute_dims"]
