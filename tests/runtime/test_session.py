"""Session.run's zero-copy path: the same numbers for aligned, misaligned, strided and read-only
inputs; outputs that own their memory; and one Session shared by 8 threads giving the serial
result every time (it crashed before the lock)."""
import threading

import numpy as np
import pytest

import edgec
from edgec.models.tiny import tiny_mlp


def _mlp(tiny_artifacts):
    _, art = tiny_artifacts["mlp"]
    return edgec.load(art.path, threads=1)


def test_input_layouts_give_identical_outputs(tiny_artifacts):
    sess = _mlp(tiny_artifacts)
    spec = sess.inputs[0]
    x = np.random.default_rng(0).standard_normal(spec.shape).astype(np.float32)
    want = sess.run({spec.name: x.copy()})["y"]
    raw = np.empty(x.nbytes + 64 + 4, np.uint8)  # a deliberately misaligned buffer
    off = (-raw.ctypes.data % 64) + 4
    mis = raw[off:off + x.nbytes].view(np.float32).reshape(x.shape)
    mis[...] = x
    strided = np.asfortranarray(x)
    ro = x.copy()
    ro.setflags(write=False)
    for variant in (mis, strided, ro):
        np.testing.assert_array_equal(sess.run({spec.name: variant})["y"], want)


def test_outputs_are_independent_of_later_runs(tiny_artifacts):
    sess = _mlp(tiny_artifacts)
    spec = sess.inputs[0]
    x = np.ones(spec.shape, np.float32)
    first = sess.run({spec.name: x})["y"]
    keep = first.copy()
    sess.run({spec.name: -x})
    np.testing.assert_array_equal(first, keep)
    first[...] = 0  # writable, owned by numpy now
    np.testing.assert_array_equal(sess.run({spec.name: x})["y"], keep)


@pytest.fixture(scope="module", params=["vm", "micro"])
def mlp_by_runtime(request, tmp_path_factory):
    """The MLP on each runtime edgec.load can pick (TVM's VM, edgec's micro runtime)."""
    art = edgec.compile(tiny_mlp(), out=tmp_path_factory.mktemp("rt") / request.param, runtime=request.param)
    assert art.manifest.compile_options["runtime"] == request.param
    return art


def test_one_session_shared_by_eight_threads(mlp_by_runtime):
    sess = edgec.load(mlp_by_runtime.path, threads=1)
    spec = sess.inputs[0]
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal(spec.shape).astype(np.float32) for _ in range(8)]
    want = [sess.run({spec.name: x})["y"] for x in xs]
    bad, errors, runs = [], [], [0] * 8

    def hammer(i):
        try:
            for _ in range(1000):  # 8 x 1000 runs: issue 13 "done when"
                if not np.array_equal(sess.run({spec.name: xs[i]})["y"], want[i]):
                    bad.append(i)
                runs[i] += 1
        except Exception as e:  # noqa: BLE001 - an exception in a thread would otherwise only warn
            errors.append(f"thread {i}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert not bad and runs == [1000] * 8, (len(bad), runs)


def test_identity_output_is_not_the_reused_staging_buffer(tmp_path):
    """A misaligned input is copied into a staging buffer the Session reuses; a model that returns
    its input (an Identity) must not hand that buffer out, or the next run would overwrite the
    previous result."""
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "id",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    sess = edgec.load(edgec.compile(m, out=tmp_path / "a", runtime="vm").path, threads=1)
    raw = np.empty(4 * 8 * 4 + 64 + 4, np.uint8)
    off = (-raw.ctypes.data % 64) + 4
    x = raw[off:off + 128].view(np.float32).reshape(4, 8)
    x[...] = 1
    first = sess.run({"x": x})["y"]
    x[...] = 2
    second = sess.run({"x": x})["y"]
    assert (first == 1).all() and (second == 2).all()
