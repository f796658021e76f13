"""A device pool behind TVM's RPC tracker (issue 12): `python -m tvm.exec.rpc_tracker`, two
edgec-rpc-servers on this machine (kind "host") and one aarch64 edgec-rpc-server under
qemu-aarch64 (kind "rpi4") registered with it; `edgec bench` and `edgec tune` get their devices
from the tracker. A server in a pool lets in only the client the tracker sent."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

import edgec
from edgec.errors import EdgecError
from edgec.models.tiny import tiny_cnn, tiny_mlp
from tests.conftest import run_cli

pytestmark = pytest.mark.skipif(not (shutil.which("qemu-aarch64") and shutil.which("aarch64-linux-gnu-g++")),
                                reason="needs qemu-user and the aarch64 cross g++ (make setup installs them)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd, cwd=None) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _summary(tracker: str) -> dict:
    from tvm import rpc

    host, port = tracker.rsplit(":", 1)
    return rpc.connect_tracker(host, int(port)).summary()


def _wait_free(tracker: str, kinds: dict, procs, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        for p in procs:
            assert p.poll() is None, p.stderr.read()
        try:
            queues = _summary(tracker)["queue_info"]
            if all(queues.get(k, {}).get("free", 0) >= n for k, n in kinds.items()):
                return
        except Exception:  # noqa: BLE001 - the tracker is still starting
            pass
        time.sleep(0.5)
    raise AssertionError(f"devices did not register with the tracker: {kinds}")


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    from edgec.bundle import package
    from edgec.runners import emulator_command

    d = tmp_path_factory.mktemp("pool")
    bundles = {}
    for kind in ("host", "rpi4"):
        art = edgec.compile(tiny_mlp(), target=kind, out=d / f"art-{kind}", runtime="vm")  # VM bundles carry the server
        bundles[kind] = package(art, d / f"bundle-{kind}", quiet=True).path
    port = _free_port()
    tracker = f"127.0.0.1:{port}"
    procs = [_start([sys.executable, "-m", "tvm.exec.rpc_tracker", "--host", "127.0.0.1", "--port", str(port),
                     "--port-end", str(port + 1), "--silent"])]
    server = ["--port", "0", "--tracker", tracker, "--idle-timeout", "300"]
    for _ in range(2):
        procs.append(_start([str(bundles["host"] / "edgec-rpc-server"), *server, "--key", "host"], bundles["host"]))
    qemu = emulator_command(edgec.runtime.Artifact.open(d / "art-rpi4").manifest.target)
    procs.append(_start([*qemu, str(bundles["rpi4"] / "edgec-rpc-server"), *server, "--key", "rpi4"],
                        bundles["rpi4"]))
    try:
        _wait_free(tracker, {"host": 2, "rpi4": 1}, procs)
        yield {"tracker": tracker, "procs": procs, "bundles": bundles, "dir": d}
    finally:
        for p in reversed(procs):
            _stop(p)


def test_bench_gets_one_device_of_each_kind_from_the_tracker(pool, tmp_path):
    import onnx

    model = tmp_path / "mlp.onnx"
    onnx.save(tiny_mlp(), model)
    proc = run_cli("bench", str(model), "-t", "host", "-t", "rpi4", "--tracker", pool["tracker"], "--runs", "3",
                   "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(proc.stdout)
    assert [r["target"] for r in rows] == ["host", "rpi4"]
    for r in rows:
        assert r["where"] == f"rpc {pool['tracker']}"
        assert r["latency"]["runs"] == 3 and r["latency"]["median_ms"] > 0
        assert r["rel_l2_error"] < 1e-4, r  # the aarch64 code really ran (under qemu) and matched ORT
    _wait_free(pool["tracker"], {"host": 2, "rpi4": 1}, pool["procs"])  # all offered again afterwards


def test_a_server_in_a_pool_lets_in_only_the_client_the_tracker_sent(pool):
    from tvm import rpc

    summary = _summary(pool["tracker"])
    ports = {s["key"]: s["addr"][1] for s in summary["server_info"]}
    with pytest.raises(Exception, match="cannot find server that matches key"):  # its kind is no password
        rpc.connect("127.0.0.1", ports["server:host"], key="host", session_timeout=30)
    assert pool["procs"][1].poll() is None


def test_unknown_kind_and_no_tracker_are_clear_errors(pool):
    from edgec.runtime.rpc import connect

    with pytest.raises(EdgecError, match=r"has no device of kind 'rpi9' \(it has \['host', 'rpi4'\]\)"):
        connect(tracker=pool["tracker"], key="rpi9")
    with pytest.raises(EdgecError, match="cannot reach the RPC tracker"):
        connect(tracker=f"127.0.0.1:{_free_port()}", key="host")


def test_tune_for_the_board_measures_on_the_pool(pool, tmp_path):
    """rpi4 code cannot run here: tuning it without a device is refused, with the tracker its
    kernels are cross-linked, timed on the aarch64 server, and the database builds a correct model."""
    import onnx

    model = tiny_cnn(batch=1, size=16)
    onnx.save(model, tmp_path / "cnn.onnx")
    proc = run_cli("tune", str(tmp_path / "cnn.onnx"), "-t", "rpi4", "--db", str(tmp_path / "x.json"), "--budget", "5s")
    assert proc.returncode == 2 and "--tracker HOST:PORT" in proc.stderr, proc.stderr
    from edgec.compiler.tuning import tune

    db = tune(model, "rpi4", tmp_path / "db.json", budget_s=15, verbose=False, tracker=pool["tracker"])
    assert db.records, "no kernel was tuned on the pool"
    assert all(r.best_us <= r.default_us for r in db.records.values())
    art = edgec.compile(model, target="rpi4", out=tmp_path / "tuned", tuning_db=tmp_path / "db.json")
    assert art.manifest.compile_options["schedule_stats"].get("tuned", 0) >= 1
    res = edgec.verify(art, model)  # under qemu-aarch64
    assert res.passed, res


def test_tune_spreads_kernels_over_every_free_device_of_the_kind(pool, tmp_path, capsys):
    from edgec.compiler.tuning import tune
    from edgec.models.tiny import tiny_transformer

    db = tune(tiny_transformer(), "host", tmp_path / "db.json", budget_s=10, tracker=pool["tracker"])
    err = capsys.readouterr().err
    assert "measuring on 2 device(s)" in err, err
    assert len(db.records) == 2, err  # its two tunable kernels, one on each device
    for n in (1, 2):
        assert f"on host device {n} via {pool['tracker']}" in err, err
