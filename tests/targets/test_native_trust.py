"""The native runner checks an artifact exactly as Python does before anything is loaded (the
manifest's own hash, the library's sha256, the signature), and refuses bad arguments and bad
.npy files with "error: ..." and an exit code, never an abort (issue 13)."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

import edgec
from edgec.models.tiny import tiny_mlp
from edgec.runtime.manifest import seal


@pytest.fixture(scope="module", params=["vm", "micro"])
def bundle(tmp_path_factory, request):
    """Both runners: the C++ one over TVM's runtime and the micro runtime's C one (issue 15)."""
    from edgec.bundle import package

    d = tmp_path_factory.mktemp("native")
    art = edgec.compile(tiny_mlp(), out=d / "art", runtime=request.param)
    b = package(art, d / "bundle", quiet=True)
    return b.path


@pytest.fixture
def fresh(bundle, tmp_path):
    d = tmp_path / "b"
    shutil.copytree(bundle, d, symlinks=True)
    np.save(d / "x.npy", np.ones((4, 64), np.float32))
    (d / "out").mkdir()
    return d


def _run(d, *args):
    return subprocess.run(["./edgec-run", "model.so", *args], cwd=d, capture_output=True, text=True, env={},
                          timeout=120)


def _clean(proc, code, fragment):
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "error: " in proc.stderr and fragment in proc.stderr, proc.stderr


def test_runs_and_writes_outputs(fresh):
    proc = _run(fresh, "--input", "x.npy", "--output-dir", "out")
    assert proc.returncode == 0, proc.stderr
    assert np.load(fresh / "out" / "0.npy").shape == (4, 10)


def test_patched_library_is_refused_before_loading(fresh):
    data = bytearray((fresh / "model.so").read_bytes())
    data[len(data) // 2] ^= 0x40  # one weight (or code) byte
    (fresh / "model.so").write_bytes(bytes(data))
    _clean(_run(fresh, "--input", "x.npy"), 6, "sha256 does not match")


def test_edited_manifest_is_refused(fresh):
    text = (fresh / "manifest.json").read_text()
    (fresh / "manifest.json").write_text(text.replace('"float32"', '"float16"', 1))
    _clean(_run(fresh, "--input", "x.npy"), 6, "was modified: its content does not match its manifest_sha256")


@pytest.mark.parametrize("mutate, fragment", [
    (lambda m: m.update(library="../model.so"), "points outside the artifact folder"),
    (lambda m: m["outputs"][0].update(shape=[4, 11]), "the manifest promises float32[4, 11]"),
    (lambda m: m["inputs"][0].update(dtype="float33"), "dtype is not a known dtype"),
    (lambda m: m.update(compile_options={"a": json.loads("[" * 100 + "]" * 100)}), "nested deeper than 64"),
])
def test_resealed_manifests_are_checked_like_python_does(fresh, mutate, fragment):
    m = json.loads((fresh / "manifest.json").read_text())
    mutate(m)
    (fresh / "manifest.json").write_text(seal(m))
    proc = _run(fresh, "--input", "x.npy")
    assert proc.returncode in (5, 6) and fragment in proc.stderr, proc.stderr


def test_missing_manifest_and_symlinked_library_are_refused(fresh, tmp_path):
    shutil.move(fresh / "model.so", tmp_path / "elsewhere.so")
    os.symlink(tmp_path / "elsewhere.so", fresh / "model.so")
    _clean(_run(fresh, "--input", "x.npy"), 6, "symlink")
    (fresh / "manifest.json").unlink()
    _clean(_run(fresh, "--input", "x.npy"), 6, "manifest.json not found")


@pytest.mark.parametrize("args, code, fragment", [
    (["--output-dir", "missing"], 2, "--output-dir missing does not exist"),
    (["--output-dir", "x.npy"], 2, "--output-dir x.npy is not a directory"),
    (["--repeat", "1000000000"], 2, "--repeat must be an integer from 0 to 1000000"),
    (["--repeat", "-3"], 2, "--repeat must be"),
    (["--repeat", "5x"], 2, "--repeat must be"),
    (["--threads", "0"], 2, "--threads must be"),
    (["--bogus", "1"], 2, "unknown option --bogus"),
    (["--input"], 2, "--input needs a value"),
])
def test_bad_arguments_are_refused_before_running(fresh, args, code, fragment):
    _clean(_run(fresh, "--input", "x.npy", *args), code, fragment)


def _npy(header: bytes, body: bytes = b"") -> bytes:
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + body


@pytest.mark.parametrize("content, fragment", [
    (_npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (4, 64), }\n", b"\0" * 16), "is truncated"),
    (_npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000000000, 1000000), }\n"), "overflows"),
    (_npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (-4, 64), }\n"), "bad .npy dimension"),
    (_npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (4, 64\n"), "unterminated value"),
    (_npy(b"{'descr': '<c8', 'fortran_order': False, 'shape': (4, 64), }\n"), "unsupported .npy dtype"),
    (_npy(b"{'descr"), ".npy header lacks"),
    (b"\x93NUMPY\x01\x00\xff\xff", "bad .npy header length"),
    (b"not an npy file at all", "is not a .npy file"),
    (_npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 64), }\n", b"\0" * 512), "the model expects float32[4, 64]"),
    (_npy(b"{'descr': '<i4', 'fortran_order': False, 'shape': (4, 64), }\n", b"\0" * 1024), "the model expects float32[4, 64]"),
])
def test_bad_npy_inputs_are_clear_errors(fresh, content, fragment):
    (fresh / "bad.npy").write_bytes(content)
    _clean(_run(fresh, "--input", "bad.npy"), 5, fragment)


def test_a_fifo_input_is_refused_without_hanging(fresh):
    os.mkfifo(fresh / "fifo.npy")
    _clean(_run(fresh, "--input", "fifo.npy"), 5, "not a regular file")
