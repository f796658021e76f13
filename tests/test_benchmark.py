"""edgec bench: native, over TVM RPC (loopback server on the host, and the aarch64 server under
qemu) and emulated, with table, JSON and plot. No timing is asserted, only that it is measured."""
import json
import socket
import subprocess
import time

import onnx
import pytest

import edgec
from edgec.benchmark import alternate, bench_targets
from edgec.models.tiny import tiny_mlp
from tests.conftest import run_cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(bundle, prefix=()) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    proc = subprocess.Popen([*prefix, str(bundle / "edgec-rpc-server"), "--host", "127.0.0.1", "--port", str(port),
                             "--once"], cwd=bundle, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # printed once listening
    assert "listening" in line, proc.stderr.read()
    return proc, port


def test_alternate_measures_every_runner():
    calls = {"a": 0, "b": 0}

    def a():
        calls["a"] += 1

    def b():
        calls["b"] += 1
        time.sleep(0.001)

    stats = alternate({"a": a, "b": b}, runs=3, rounds=2, warmup=1, settle_s=0)
    assert stats["a"].runs == 6 and stats["b"].runs == 6
    assert stats["b"].median_ms >= 1.0 > stats["a"].median_ms


def test_bench_native_and_emulated_with_plot_and_json(tmp_path):
    p = tmp_path / "mlp.onnx"
    onnx.save(tiny_mlp(), p)
    proc = run_cli("bench", str(p), "-t", "host", "-t", "rpi4", "--runs", "5", "--json", "--plot", str(tmp_path / "b.png"))
    assert proc.returncode == 0, proc.stderr
    rows = {r["target"]: r for r in json.loads(proc.stdout)}
    assert rows["host"]["where"] == "native" and rows["host"]["latency"]["runs"] == 5
    assert 0 < rows["host"]["peak_memory_mb"] < 500
    assert rows["rpi4"]["where"] == "emulated" and rows["rpi4"]["latency"] is None
    assert all(r["rel_l2_error"] <= 1e-4 for r in rows.values())
    assert (tmp_path / "b.png").stat().st_size > 5000
    # the default runtime (micro) and its bytes per target, as `edgec inspect` / `package` report them
    for row in rows.values():
        sizes = row["sizes"]
        assert row["runtime"] == "micro", row
        assert set(sizes) == {"runtime_bytes", "kernels_bytes", "weights_bytes", "arena_bytes", "workspace_bytes"}
        assert 0 < sizes["runtime_bytes"] <= 64 * 1024 and sizes["kernels_bytes"] > 0
        assert sizes["weights_bytes"] >= 4 * 17226 and sizes["arena_bytes"] >= 4 * 4 * 10  # tiny_mlp's weights; y
    # the micro runner's own peak memory (VmHWM), not the Python process that launched it
    assert rows["host"]["peak_memory_mb"] < 64


def test_bench_table_has_the_bytes_per_target(tmp_path):
    p = tmp_path / "mlp.onnx"
    onnx.save(tiny_mlp(), p)
    proc = run_cli("bench", str(p), "-t", "host", "--runs", "3")
    assert proc.returncode == 0, proc.stderr
    head = "target  runtime  runtime KB  kernels+plan KB  weights KB  arena KB  workspace KB/thread"
    lines = [" ".join(line.split()) for line in proc.stdout.splitlines()]
    row = lines[lines.index(" ".join(head.split())) + 1].split()
    assert row[:2] == ["host", "micro"] and float(row[4]) >= 68.9, proc.stdout  # weights: 17,226 floats


def test_a_micro_artifact_is_not_sent_over_rpc(tmp_path):
    """An RPC server runs TVM modules: a micro artifact is refused with how to get a VM one."""
    from edgec.errors import UserInputError
    from edgec.runners import runner_for

    art = edgec.compile(tiny_mlp(), out=tmp_path / "m")
    with pytest.raises(UserInputError, match="micro-runtime artifact") as e:
        runner_for(art, rpc="127.0.0.1:9")
    assert "--runtime vm" in e.value.hint


@pytest.mark.parametrize("target", ["host", "rpi4"])
def test_bench_over_rpc_against_native_server(target, tmp_path):
    from edgec.runners import bundle_for

    art = edgec.compile(tiny_mlp(), target=target, out=tmp_path / "art", runtime="vm")  # bundle with the RPC server
    bundle = bundle_for(art)
    prefix = ("qemu-aarch64", "-L", "/usr/aarch64-linux-gnu") if target == "rpi4" else ()
    server, port = _start_server(bundle, prefix)
    try:
        rows = bench_targets(tiny_mlp(), [target], runs=3, rpc=f"127.0.0.1:{port}", out_dir=tmp_path / "b", verbose=False)
    finally:
        server.wait(timeout=60)
    r = rows[0]
    assert r.where == f"rpc 127.0.0.1:{port}" and r.latency is not None and r.latency.runs == 3
    assert r.runtime == "vm" and r.sizes is None  # compiled for the VM: the server runs TVM modules
    assert r.rel_l2_error <= 1e-4
