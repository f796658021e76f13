"""One Runner interface: in-process and the native bundle runner give the same outputs for the same
feeds, check the feeds the same way, and report per-run times that one summary turns into
statistics (p10 is the 10th percentile, not the minimum)."""
import numpy as np
import pytest

from edgec.errors import InputSpecError
from edgec.runners import BundleRunner, InProcessRunner, runner_for


def test_in_process_and_native_bundle_agree(tiny_artifacts):
    _, art = tiny_artifacts["mlp"]
    x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    here = runner_for(art)
    native = runner_for(art, native=True)
    assert isinstance(here, InProcessRunner) and isinstance(native, BundleRunner)
    a, b = here.run({"x": x}, repeat=3), native.run({"x": x}, repeat=12)
    np.testing.assert_allclose(a.outputs["y"], b.outputs["y"], rtol=1e-5, atol=1e-6)
    assert (a.where, b.where) == ("host", "native") and len(a.times_s) == 3 and len(b.times_s) == 12
    lat = b.latency
    assert lat.runs == 12 and lat.p10_ms == pytest.approx(np.percentile(np.array(b.times_s) * 1e3, 10), rel=1e-6)
    assert lat.min_ms <= lat.p10_ms <= lat.median_ms <= lat.p90_ms


@pytest.mark.parametrize("native", [False, True])
def test_every_runner_checks_feeds(tiny_artifacts, native):
    _, art = tiny_artifacts["mlp"]
    with pytest.raises(InputSpecError):
        runner_for(art, native=native).run({"x": np.zeros((4, 63), np.float32)})


def test_micro_bundle_reports_every_run(tmp_path):
    """runtime/micro's edgec-run prints per-run times as the C++ one does."""
    import edgec
    from edgec.models.tiny import tiny_mlp

    art = edgec.compile(tiny_mlp(), out=tmp_path / "m", runtime="micro")
    res = runner_for(art, native=True).run({"x": np.ones((4, 64), np.float32)}, repeat=5)
    assert len(res.times_s) == 5 and res.latency.runs == 5
