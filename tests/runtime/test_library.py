"""Loading a library (runtime/library.py): released with its Session, so load/run/delete cycles do
not grow the process (issue 13 item 9: every load used to stay alive, ~77 KB each for this MLP),
and an artifact recompiled in place runs its new code, not the old one dlopen() still had."""
import gc

import numpy as np
import onnxruntime as ort
import pytest

import edgec
from edgec.models.tiny import tiny_mlp


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


@pytest.mark.parametrize("runtime", ["vm", "micro"])
@pytest.mark.parametrize("cycles", [3000, pytest.param(10000, marks=pytest.mark.slow)])  # 10,000: issue 13 "done when"
def test_load_run_delete_cycles_do_not_grow_the_process(tmp_path, runtime, cycles):
    art = edgec.compile(tiny_mlp(), out=tmp_path / runtime, runtime=runtime)
    assert art.manifest.compile_options["runtime"] == runtime
    x = np.ones((4, 64), np.float32)

    def cycle():
        s = edgec.load(art.path, threads=1)
        s.run({"x": x})
        del s

    for _ in range(100):
        cycle()
    gc.collect()
    before = _rss_kb()
    for _ in range(cycles):
        cycle()
    gc.collect()
    grown = _rss_kb() - before
    print(f"RSS grew {grown} KB over {cycles} load/run/delete cycles ({runtime})")
    assert grown < 1024, f"{grown} KB over {cycles} cycles"  # was ~230 MB over 3000


def test_an_artifact_recompiled_in_place_runs_its_new_code(tmp_path):
    x = np.random.default_rng(0).normal(size=(4, 64)).astype(np.float32)
    keep = []
    for seed in (1, 2):
        model = tiny_mlp(seed=seed)
        art = edgec.compile(model, out=tmp_path / "a", force=True)
        sess = edgec.load(art.path)
        keep.append(sess)  # the old library stays loaded while the new one is loaded
        ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        np.testing.assert_allclose(sess.run({"x": x})["y"], ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(keep[0].run({"x": x})["y"], ort.InferenceSession(
        tiny_mlp(seed=1).SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0], rtol=1e-4,
        atol=1e-6)
