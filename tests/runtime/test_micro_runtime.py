"""runtime/micro: the C runtime and the Python session on it, on the tiny models, on this machine."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgec
from edgec.errors import ArtifactError
from edgec.models.tiny import tiny_cnn, tiny_mlp, tiny_transformer
from edgec.runtime.manifest import seal
from edgec.runtime.micro_build import MICRO_SRC, RUNNER_SOURCES, RUNTIME_SOURCES, build, host_cc
from edgec.runtime.micro_session import MicroSession
from tests.conftest import run_cli

C_TESTS = Path(__file__).resolve().parent / "micro_c"


@pytest.fixture(scope="module")
def micro(tmp_path_factory) -> dict:
    """name -> (model, micro artifact, VM artifact) for the three tiny models."""
    base = tmp_path_factory.mktemp("micro")
    out = {}
    for name, model in [("cnn", tiny_cnn(batch=1)), ("mlp", tiny_mlp()), ("transformer", tiny_transformer())]:
        out[name] = (model, edgec.compile(model, out=base / name, runtime="micro"),
                     edgec.compile(model, out=base / f"{name}-vm", runtime="vm"))
    return out


def _feeds(art, seed=0):
    rng = np.random.default_rng(seed)
    return {t.name: rng.uniform(-1, 1, t.shape).astype(t.dtype) for t in art.manifest.inputs}


def _rel_l2(a, b) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


@pytest.mark.parametrize("name", ["cnn", "mlp", "transformer"])
def test_micro_matches_onnxruntime_and_the_vm(micro, name):
    import onnxruntime as ort

    model, art, vm_art = micro[name]
    assert art.manifest.compile_options["runtime"] == "micro"
    assert vm_art.manifest.compile_options["runtime"] == "vm"
    sess, vm = edgec.load(art.path), edgec.load(vm_art.path)
    assert isinstance(sess, MicroSession) and not isinstance(vm, MicroSession)
    feeds = _feeds(art)
    ref = ort.InferenceSession(model.SerializeToString()).run(None, feeds)
    got, vm_got = sess.run(feeds), vm.run(feeds)
    for (k, v), r in zip(got.items(), ref):
        assert _rel_l2(v, r) <= 1e-4
        np.testing.assert_allclose(v, vm_got[k], rtol=1e-5, atol=1e-6)


def test_unaligned_and_strided_inputs_are_copied(micro):
    _, art, _ = micro["cnn"]
    sess = edgec.load(art.path)
    x = _feeds(art)["x"]
    want = sess.run({"x": x})["probs"]
    buf = np.empty(x.nbytes + 4, np.uint8)[4:].view(np.float32).reshape(x.shape)  # 4 bytes off alignment
    buf[...] = x
    np.testing.assert_array_equal(sess.run({"x": buf})["probs"], want)
    wide = np.zeros((1, 3, 32, 64), np.float32)
    wide[..., ::2] = x
    np.testing.assert_array_equal(sess.run({"x": wide[..., ::2]})["probs"], want)


def test_outputs_belong_to_the_caller(micro):
    _, art, _ = micro["mlp"]
    sess = edgec.load(art.path)
    a = sess.run(_feeds(art, 1))["y"]
    b = sess.run(_feeds(art, 2))["y"]
    assert not np.shares_memory(a, b) and not np.array_equal(a, b)


def test_kernels_call_runs_the_plan_without_session_run(micro, monkeypatch):
    """edgec.benchmark.kernels_call (tools/shape_grid.py, op_grid.py) times the plan itself on a
    micro session, as it times the VM's main: no checks, no output copies, same results."""
    from edgec.benchmark import kernels_call

    _, art, _ = micro["cnn"]
    sess = edgec.load(art.path)
    feeds = _feeds(art, 3)
    want = sess.run(feeds)["probs"]
    sess.run(_feeds(art, 4))  # other values in the arena
    call = kernels_call(sess, feeds)
    monkeypatch.setattr(sess, "run", lambda _feeds: pytest.fail("went through Session.run"))
    call()
    call()
    np.testing.assert_array_equal(sess._outs[0], want)


def test_memory_is_reported_and_fixed(micro):
    _, art, _ = micro["cnn"]
    mem = edgec.load(art.path).memory()
    opts = art.manifest.compile_options["micro"]
    assert mem["arena_bytes"] == opts["arena_bytes"] > 0
    assert mem["weights_bytes"] == opts["weights_bytes"] > 0
    assert mem["workspace_bytes"] == opts["workspace_bytes"] > 0  # the first conv pads into a workspace


def test_profile_times_every_call_of_the_plan(micro):
    """Session.profile (edgec_run_timed): one entry per plan call, in order, named by its kernel."""
    _, art, _ = micro["cnn"]
    sess = edgec.load(art.path, threads=1)
    rows = sess.profile(_feeds(art), runs=3)
    assert len(rows) == art.manifest.compile_options["micro"]["calls"]
    assert rows[-1][0] == "softmax" and all(s >= 0 for _, s in rows) and sum(s for _, s in rows) > 0
    np.testing.assert_array_equal(sess.run(_feeds(art))["probs"], edgec.load(art.path).run(_feeds(art))["probs"])


def test_no_tvm_runtime_is_loaded(micro):
    _, art, _ = micro["mlp"]
    child = ("import json, sys, numpy as np, edgec.runtime as rt\n"
             "y = rt.load(sys.argv[1]).run({'x': np.zeros((4, 64), np.float32)})['y']\n"
             "libs = sorted({l.split()[-1].rsplit('/', 1)[-1] for l in open('/proc/self/maps') if 'libtvm' in l})\n"
             "print(json.dumps({'shape': list(y.shape), 'libs': libs}))")
    proc = subprocess.run([sys.executable, "-c", child, str(art.path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"shape": [4, 10], "libs": []}


def test_runtime_sources_are_warning_clean(tmp_path):
    cc = host_cc()
    for src in RUNTIME_SOURCES + RUNNER_SOURCES + ("model_glue.c",):
        proc = subprocess.run([cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-c", str(MICRO_SRC / src),
                               "-o", str(tmp_path / "x.o")], capture_output=True, text=True)
        assert proc.returncode == 0, f"{src}: {proc.stderr}"


def test_plan_abi_matches_the_tvm_ffi_headers(tmp_path):
    import tvm_ffi

    include = Path(tvm_ffi.__file__).parent / "include"
    proc = subprocess.run([host_cc(), "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{include}", f"-I{MICRO_SRC}",
                           "-c", str(C_TESTS / "abi_check.c"), "-o", str(tmp_path / "abi.o")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("threads", [1, 2])
def test_runs_allocate_nothing(micro, tmp_path, threads):
    exe = tmp_path / "count_mallocs"
    srcs = [str(MICRO_SRC / s) for s in RUNTIME_SOURCES]
    subprocess.run([host_cc(), "-std=c99", "-O2", f"-I{MICRO_SRC}", "-o", str(exe), str(C_TESTS / "count_mallocs.c"),
                    *srcs, "-pthread", "-ldl"], check=True, capture_output=True)
    for name in ("cnn", "transformer"):  # cnn asks for a workspace, transformer has 15 calls
        _, art, _ = micro[name]
        proc = subprocess.run([str(exe), str(art.path / "model.so"), str(threads), "50"], capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["allocations_during_runs", "0"]


def test_count_mallocs_counts(micro, tmp_path):
    """The counter itself sees allocations (a test that cannot fail proves nothing): loading does."""
    exe = tmp_path / "count_load"
    src = (C_TESTS / "count_mallocs.c").read_text().replace(
        "  m = edgec_load_threads(", "  counting = 1;\n  m = edgec_load_threads(").replace(
        "  if (edgec_run(m, err, sizeof err)) { fprintf", "  counting = 0; count = count > 0 ? count : -1;\n"
        "  printf(\"allocations_during_load %ld\\n\", count); count = 0;\n  if (edgec_run(m, err, sizeof err)) { fprintf")
    (tmp_path / "c.c").write_text(src)
    subprocess.run([host_cc(), "-std=c99", f"-I{MICRO_SRC}", "-o", str(exe), str(tmp_path / "c.c"),
                    *(str(MICRO_SRC / s) for s in RUNTIME_SOURCES), "-pthread", "-ldl"], check=True, capture_output=True)
    _, art, _ = micro["mlp"]
    out = subprocess.run([str(exe), str(art.path / "model.so"), "1", "1"], capture_output=True, text=True).stdout
    assert int(out.split()[1]) > 0


def _copy(art, dest: Path) -> Path:
    shutil.copytree(art.path, dest)
    return dest


def _runner(folder: Path) -> subprocess.CompletedProcess:
    x = folder / "x.npy"
    np.save(x, np.zeros((4, 64), np.float32))
    return subprocess.run([str(build() / "edgec-run"), str(folder / "model.so"), "--input", str(x)],
                          capture_output=True, text=True)


def test_runner_runs_an_intact_artifact(micro, tmp_path):
    _, art, _ = micro["mlp"]
    proc = _runner(_copy(art, tmp_path / "a"))
    assert proc.returncode == 0, proc.stderr


def test_tampered_library_is_refused_before_it_is_loaded(micro, tmp_path):
    """A library whose constructor would leave a marker: neither the runner nor Python loads it."""
    _, art, _ = micro["mlp"]
    folder = _copy(art, tmp_path / "a")
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.c"
    evil.write_text('#include <stdio.h>\n__attribute__((constructor)) static void f(void) '
                    f'{{ FILE* f = fopen("{marker}", "w"); if (f) fclose(f); }}\n')
    subprocess.run([host_cc(), "-shared", "-fPIC", "-o", str(folder / "model.so"), str(evil)], check=True)
    proc = _runner(folder)
    assert proc.returncode == 6 and "sha256" in proc.stderr
    with pytest.raises(ArtifactError):
        edgec.load(folder)
    assert not marker.exists()


def test_tampered_manifest_is_refused(micro, tmp_path):
    _, art, _ = micro["mlp"]
    folder = _copy(art, tmp_path / "a")
    text = (folder / "manifest.json").read_text().replace('"arena_bytes": ', '"arena_bytes": 1')
    (folder / "manifest.json").write_text(text)
    proc = _runner(folder)
    assert proc.returncode == 6 and "manifest_sha256" in proc.stderr


def test_runner_refuses_a_vm_artifact(micro, tmp_path):
    _, _, vm_art = micro["mlp"]
    proc = _runner(_copy(vm_art, tmp_path / "vm"))
    assert proc.returncode == 6 and "not compiled for the micro runtime" in proc.stderr


def test_resealed_manifest_naming_other_runtime_is_refused(micro, tmp_path):
    _, art, _ = micro["mlp"]
    folder = _copy(art, tmp_path / "a")
    d = json.loads((folder / "manifest.json").read_text())
    d["compile_options"]["runtime"] = "vm"
    (folder / "manifest.json").write_text(seal(d))
    assert _runner(folder).returncode == 6


def test_cli_compile_inspect_package(tmp_path):
    src = tmp_path / "mlp.onnx"
    src.write_bytes(tiny_mlp().SerializeToString())
    proc = run_cli("compile", str(src), "-o", str(tmp_path / "art"), "--runtime", "micro", "-q")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("inspect", str(tmp_path / "art"))
    assert "runtime micro: arena" in proc.stdout
    proc = run_cli("package", str(tmp_path / "art"), "-o", str(tmp_path / "bundle"))
    assert proc.returncode == 0, proc.stderr
    assert "micro runtime: runner" in proc.stdout and "arena" in proc.stdout
    rec = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
    assert rec["runtime"] == "micro" and rec["sizes"]["weights_bytes"] > 0 and rec["sizes"]["runtime_bytes"] > 0
    files = sorted(p.name for p in (tmp_path / "bundle").iterdir())
    assert files == ["README.txt", "bundle.json", "edgec-run", "manifest.json", "model.so"]


def test_manifest_and_library_signatures_must_agree(micro, tmp_path):
    """A re-sealed manifest promising another input shape would make the kernels read past the
    caller's buffer: refused at load (by the C loader, and by MicroSession). Output shapes come
    from the library and are held to the manifest."""
    _, art, _ = micro["mlp"]
    folder = _copy(art, tmp_path / "a")
    d = json.loads((folder / "manifest.json").read_text())
    d["inputs"][0]["shape"] = [8, 64]
    (folder / "manifest.json").write_text(seal(d))
    with pytest.raises(ArtifactError, match=r"input 'x' is float32\[4, 64\]"):
        edgec.load(folder)
    d["inputs"][0]["shape"], d["outputs"][0]["shape"] = [4, 64], [4, 11]
    (folder / "manifest.json").write_text(seal(d))
    with pytest.raises(ArtifactError, match=r"output 'y' is float32\[4, 10\], the manifest promises"):
        edgec.load(folder).run({"x": np.zeros((4, 64), np.float32)})


def test_each_model_in_one_process_runs_its_own_library(micro):
    """dlopen() matches loaded libraries by path string: loading through /proc/self/fd/N gave the
    second model the first one's code (the descriptor number is reused). Fresh process, fixed order."""
    child = ("import sys, numpy as np, edgec\n"
             "alive = []\n"
             "for p in sys.argv[1:]:\n"
             "    s = edgec.load(p)\n"
             "    alive.append(s)\n"
             "    feeds = {t.name: np.zeros(t.shape, t.dtype) for t in s.inputs}\n"
             "    print(p.rsplit('/', 1)[-1], [list(v.shape) for v in s.run(feeds).values()])\n")
    paths = [str(micro[n][1].path) for n in ("mlp", "cnn", "transformer", "mlp")]
    proc = subprocess.run([sys.executable, "-c", child, *paths], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:4] == ["mlp [[4, 10]]", "cnn [[1, 10]]", "transformer [[1, 16, 32]]",
                                           "mlp [[4, 10]]"]


@pytest.mark.parametrize("requires, fragment", [
    ({"machine": "riscv64", "cpu_features": []}, "is riscv64 code; this machine is"),
    ({"cpu_features": ["avx2", "edgec-test-feature"]}, "edgec-test-feature (unknown to this runner)"),
])
def test_runner_checks_the_cpu_before_loading(micro, tmp_path, requires, fragment):
    _, art, _ = micro["mlp"]
    folder = _copy(art, tmp_path / "a")
    d = json.loads((folder / "manifest.json").read_text())
    d["target"]["requires"] = d["target"]["requires"] | requires
    (folder / "manifest.json").write_text(seal(d))
    proc = _runner(folder)
    assert proc.returncode == 6 and fragment in proc.stderr, proc.stderr


def test_a_forked_child_runs_without_the_parents_workers(micro):
    _, art, _ = micro["cnn"]
    child = ("import os, sys, numpy as np, edgec\n"
             "s = edgec.load(sys.argv[1], threads=2)\n"
             "x = {'x': np.ones((1, 3, 32, 32), np.float32)}\n"
             "want = s.run(x)['probs']\n"
             "pid = os.fork()\n"
             "if pid == 0:\n"
             "    os._exit(0 if np.array_equal(s.run(x)['probs'], want) else 3)\n"
             "print(os.waitpid(pid, 0)[1])\n")
    proc = subprocess.run([sys.executable, "-c", child, str(art.path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0"
