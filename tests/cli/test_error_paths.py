"""Issue 13: every path that used to end in exit 70 (internal error) or a traceback, and the ways
--force and special files could hurt a user, now give one clear 'error:' line and an exit code."""
import json
import os
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper, numpy_helper

from edgec.errors import (ArtifactError, InputSpecError, ModelFormatError, UnsupportedOperatorError,
                          UserInputError)
from edgec.models.tiny import tiny_mlp
from tests.cli.test_errors import assert_clean_error
from tests.conftest import run_cli

vi = helper.make_tensor_value_info


def _save(path, nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.save(m, path)
    return path


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    d = tmp_path_factory.mktemp("paths")
    onnx.save(tiny_mlp(), d / "mlp.onnx")
    proc = run_cli("compile", str(d / "mlp.onnx"), "-o", str(d / "art"), "-q")
    assert proc.returncode == 0, proc.stderr
    return d


# --force replaces only what edgec wrote -------------------------------------------------------

def test_force_never_deletes_a_folder_edgec_did_not_make(mlp, tmp_path):
    w = tmp_path / "w"
    w.mkdir()
    (w / "manifest.json").write_text("{}")
    (w / "index.html").write_text("x")
    assert_clean_error(run_cli("compile", str(mlp / "mlp.onnx"), "-o", str(w), "--force"), UserInputError.exit_code,
                       "not a valid edgec manifest", "refusing to replace it even with --force")
    assert (w / "index.html").read_text() == "x"


def test_force_keeps_user_files_next_to_an_artifact(mlp, tmp_path):
    art = tmp_path / "art"
    shutil.copytree(mlp / "art", art)
    (art / "notes.txt").write_text("mine")
    (art / "results").mkdir()
    (art / "results" / "run1.npz").write_bytes(b"data")
    assert_clean_error(run_cli("compile", str(mlp / "mlp.onnx"), "-o", str(art), "--force"), UserInputError.exit_code,
                       "holds files edgec did not write there (notes.txt, results)")
    assert (art / "notes.txt").read_text() == "mine"
    (art / "notes.txt").unlink()
    shutil.rmtree(art / "results")
    ok = run_cli("compile", str(mlp / "mlp.onnx"), "-o", str(art), "--force", "-q")  # only edgec's files: replaced
    assert ok.returncode == 0, ok.stderr
    assert not list(tmp_path.glob(".art.*"))  # no staging or old copies left behind


def test_force_on_a_bundle_keeps_user_files(mlp, tmp_path):
    b = tmp_path / "bundle"
    assert run_cli("package", str(mlp / "art"), "-o", str(b)).returncode == 0
    assert "files" in json.loads((b / "bundle.json").read_text())
    np.save(b / "x.npy", np.zeros((4, 64), np.float32))  # the README tells users to put inputs here
    assert_clean_error(run_cli("package", str(mlp / "art"), "-o", str(b), "--force"), UserInputError.exit_code,
                       "holds files edgec did not write there (x.npy)")
    assert (b / "x.npy").exists()
    (b / "x.npy").unlink()
    assert run_cli("package", str(mlp / "art"), "-o", str(b), "--force").returncode == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "edgec-run").write_text("not ours")
    assert_clean_error(run_cli("package", str(mlp / "art"), "-o", str(other), "--force"), UserInputError.exit_code,
                       "not an edgec bundle")


# output paths, checked before any work ----------------------------------------------------------

@pytest.mark.parametrize("out, fragment", [("FILE/sub", "is a file, not a folder"), ("/proc/edgec-out", "in /proc"),
                                           ("FILE", "exists and is a file")])
def test_output_path_is_checked_before_importing(tmp_path, out, fragment):
    f = tmp_path / "afile"
    f.write_text("x")
    # the model does not exist: the output path is reported first, so it was checked before the import
    proc = run_cli("compile", str(tmp_path / "missing.onnx"), "-o", out.replace("FILE", str(f)))
    assert_clean_error(proc, UserInputError.exit_code, fragment)


def test_outputs_in_a_missing_folder(mlp, tmp_path):
    assert_clean_error(run_cli("run", str(mlp / "art"), "--outputs", str(tmp_path / "no" / "such" / "r.npz")),
                       UserInputError.exit_code, "is not a folder")


# special and oversized files ------------------------------------------------------------------

@pytest.mark.parametrize("cmd", [["compile", "PATH", "-o", "OUT"], ["inspect", "PATH"]])
def test_fifo_and_device_models_are_refused(tmp_path, cmd):
    fifo = tmp_path / "m.onnx"
    os.mkfifo(fifo)
    for path, kind in ((fifo, "a FIFO"), ("/dev/zero", "a device")):
        args = [str(path) if a == "PATH" else str(tmp_path / "o") if a == "OUT" else a for a in cmd]
        assert_clean_error(run_cli(*args), UserInputError.exit_code, kind, "regular files only")


def test_fifo_inputs_and_oversized_models_are_refused(mlp, tmp_path):
    fifo = tmp_path / "in.npz"
    os.mkfifo(fifo)
    assert_clean_error(run_cli("run", str(mlp / "art"), "--inputs", str(fifo)), UserInputError.exit_code, "a FIFO")
    big = tmp_path / "big.onnx"
    with open(big, "wb") as f:  # sparse: no disk used
        f.truncate(5 << 30)
    assert_clean_error(run_cli("compile", str(big), "-o", str(tmp_path / "o")), UserInputError.exit_code,
                       "is 5.0 GiB; edgec reads at most 4.0 GiB")


def test_npy_header_promising_more_than_the_file_holds(mlp, tmp_path):
    p = tmp_path / "x.npy"
    np.save(p, np.zeros((4, 64), np.float32))
    p.write_bytes(p.read_bytes()[:-100])
    assert_clean_error(run_cli("run", str(mlp / "art"), "--inputs", str(p)), UserInputError.exit_code, "truncated")


# models that used to end in exit 70 --------------------------------------------------------------

def test_nonzero_data_dependent_shape(tmp_path):
    p = _save(tmp_path / "nz.onnx", [helper.make_node("NonZero", ["x"], ["y"], name="nz")], [vi("x", T.FLOAT, [2, 4])],
              [vi("y", T.INT64, [2, None])])
    assert_clean_error(run_cli("compile", str(p), "-o", str(tmp_path / "o")), UnsupportedOperatorError.exit_code,
                       "NonZero", "data-dependent output shapes")


def test_dimension_of_2_to_the_31(tmp_path):
    p = _save(tmp_path / "big.onnx", [helper.make_node("Relu", ["x"], ["y"])], [vi("x", T.FLOAT, [2**31, 2])],
              [vi("y", T.FLOAT, [2**31, 2])])
    assert_clean_error(run_cli("compile", str(p), "-o", str(tmp_path / "o")), UserInputError.exit_code,
                       "dimensions up to 2^31-1")


def test_bool_input_to_conv(tmp_path):
    w = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    p = _save(tmp_path / "b.onnx", [helper.make_node("Conv", ["x", "w"], ["y"])], [vi("x", T.BOOL, [1, 1, 5, 5])],
              [vi("y", T.FLOAT, [1, 2, 3, 3])], [w])
    assert_clean_error(run_cli("compile", str(p), "-o", str(tmp_path / "o")), ModelFormatError.exit_code,
                       "Conv", "unsupported type: tensor(bool)")


def test_corrupt_initializer_and_constant(tmp_path):
    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    w.raw_data = w.raw_data[:20]
    p = _save(tmp_path / "w.onnx", [helper.make_node("Neg", ["w"], ["n"]), helper.make_node("MatMul", ["x", "n"], ["y"])],
              [vi("x", T.FLOAT, [2, 4])], [vi("y", T.FLOAT, [2, 4])], [w])
    assert_clean_error(run_cli("compile", str(p), "-o", str(tmp_path / "o")), ModelFormatError.exit_code, "name: w)")
    from edgec.compiler.passes import PassContext
    from edgec.compiler.passes.fold_constants import fold_constants

    model = onnx.load(p)  # past the checker (a ModelProto built in code): the pass says the same
    with pytest.raises(ModelFormatError, match="initializer 'w' is corrupt"):
        fold_constants(model, PassContext())


def test_initializer_with_more_data_than_its_dims(tmp_path):  # found by tools/fuzz.py (inspect: exit 70)
    w = numpy_helper.from_array(np.ones((4,), np.float32), "w")
    w.raw_data = w.raw_data + b"\x01" * 28
    p = _save(tmp_path / "w.onnx", [helper.make_node("Add", ["x", "w"], ["y"])], [vi("x", T.FLOAT, [4])],
              [vi("y", T.FLOAT, [4])], [w])
    proc = run_cli("inspect", str(p))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert_clean_error(run_cli("compile", str(p), "-o", str(tmp_path / "o")), ModelFormatError.exit_code, "'w'")


def test_a_constant_too_large_to_fold(tmp_path):
    one = numpy_helper.from_array(np.array([1.0], np.float32), "one")
    shp = numpy_helper.from_array(np.array([1 << 34], np.int64), "shp")  # 64 GiB
    p = _save(tmp_path / "c.onnx", [helper.make_node("Expand", ["one", "shp"], ["c"]),
                                     helper.make_node("ReduceSum", ["c"], ["s"], keepdims=0),
                                     helper.make_node("Add", ["x", "s"], ["y"])],
              [vi("x", T.FLOAT, [1])], [vi("y", T.FLOAT, [1])], [one, shp])
    proc = run_cli("compile", str(p), "-o", str(tmp_path / "o"))
    assert proc.returncode in (UserInputError.exit_code, ModelFormatError.exit_code), proc.stderr
    assert_clean_error(proc, proc.returncode, "out of memory")


@pytest.mark.parametrize("opset", [1, 99])
def test_opsets_outside_what_onnx_and_ort_support(tmp_path, opset):
    p = _save(tmp_path / "o.onnx", [helper.make_node("Relu", ["x"], ["y"])], [vi("x", T.FLOAT, [2, 4])],
              [vi("y", T.FLOAT, [2, 4])], opset=opset)
    assert_clean_error(run_cli("compile", str(p), "-o", str(tmp_path / "o")), ModelFormatError.exit_code,
                       f"uses ONNX opset {opset}", "reads opsets 7 to")


@pytest.mark.parametrize("fields, code, fragment", [
    ({"x_shape": [-2, 4]}, ModelFormatError.exit_code, "negative dimension"),  # was exit 70 (found by tools/fuzz.py)
    ({"w_bytes": 47}, ModelFormatError.exit_code, ""),
    ({"op_inputs": (0, 99, 2)}, ModelFormatError.exit_code, ""),
])
def test_malformed_tflite_models(tmp_path, fields, code, fragment):
    import sys

    from tests.conftest import REPO

    sys.path.insert(0, str(REPO / "tools"))
    from fuzz_seeds import tiny_tflite

    p = tmp_path / "m.tflite"
    p.write_bytes(tiny_tflite(**fields))
    assert_clean_error(run_cli("compile", str(p), "-o", str(tmp_path / "o")), code, fragment)


def test_integer_pow_compiles_and_matches_ort(tmp_path):  # found by tools/fuzz.py (TVM InternalError, exit 70)
    """Was refused by name; converter_forms now computes it in double and casts back (as ONNX defines it)."""
    two = numpy_helper.from_array(np.array(2, np.int32), "two")
    p = _save(tmp_path / "p.onnx", [helper.make_node("Cast", ["x"], ["i"], to=T.INT32),
                                     helper.make_node("Pow", ["i", "two"], ["y"], name="square")],
              [vi("x", T.FLOAT, [2, 4])], [vi("y", T.INT32, [2, 4])], [two])
    assert run_cli("compile", str(p), "-o", str(tmp_path / "o"), "-q").returncode == 0
    v = run_cli("verify", str(tmp_path / "o"), "--json")
    assert v.returncode == 0 and json.loads(v.stdout)["passed"], v.stdout + v.stderr


def test_empty_name_for_a_required_input(tmp_path):  # found by tools/fuzz.py: TVM's importer segfaulted
    p = _save(tmp_path / "c.onnx", [helper.make_node("Concat", ["", "x"], ["y"], axis=0, name="cat")],
              [vi("x", T.FLOAT, [2, 4])], [vi("y", T.FLOAT, [2, 4])])
    assert_clean_error(run_cli("compile", str(p), "-o", str(tmp_path / "o")), ModelFormatError.exit_code,
                       "node 'cat' (Concat) leaves its required input 0 empty")
    clip = _save(tmp_path / "clip.onnx", [helper.make_node("Clip", ["x", "", "hi"], ["y"])], [vi("x", T.FLOAT, [2, 4])],
                 [vi("y", T.FLOAT, [2, 4])], [numpy_helper.from_array(np.array(1.0, np.float32), "hi")])
    assert run_cli("compile", str(clip), "-o", str(tmp_path / "o2"), "-q").returncode == 0  # optional: fine


def test_split_with_one_output_compiles_and_matches_ort(tmp_path):  # found by tools/fuzz.py (was exit 70)
    p = _save(tmp_path / "s.onnx", [helper.make_node("Split", ["x"], ["s"], axis=1),
                                     helper.make_node("Relu", ["s"], ["y"])],
              [vi("x", T.FLOAT, [2, 5])], [vi("y", T.FLOAT, [2, 5])])
    assert run_cli("compile", str(p), "-o", str(tmp_path / "o"), "-q").returncode == 0
    v = run_cli("verify", str(tmp_path / "o"), "--json")
    assert v.returncode == 0 and json.loads(v.stdout)["passed"], v.stdout + v.stderr


def test_undefined_input_element_type(tmp_path):  # found by tools/fuzz.py (was KeyError, exit 70)
    p = _save(tmp_path / "u.onnx", [helper.make_node("Relu", ["x"], ["y"])],
              [vi("x", T.FLOAT, [2, 4]), vi("extra", T.UNDEFINED, [3])], [vi("y", T.FLOAT, [2, 4])])
    assert_clean_error(run_cli("compile", str(p), "-o", str(tmp_path / "o")), ModelFormatError.exit_code,
                       "input 'extra' has element type UNDEFINED")


def test_division_by_a_constant_zero_compiles_and_matches_ort(tmp_path):
    """TVM refused x / 0.0 ('Divide by zero', exit 70; found by tools/fuzz.py); the div_by_zero pass
    multiplies by the reciprocal instead: +-inf and NaN exactly where ONNX Runtime has them."""
    c = numpy_helper.from_array(np.array([2.0, 0.0, -0.0, 4.0], np.float32), "c")
    p = _save(tmp_path / "d.onnx", [helper.make_node("Div", ["x", "c"], ["y"])], [vi("x", T.FLOAT, [3, 4])],
              [vi("y", T.FLOAT, [3, 4])], [c])
    assert run_cli("compile", str(p), "-o", str(tmp_path / "o"), "-q").returncode == 0
    x = np.array([[1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, -1.0], [0.0, 0.0, 0.0, 0.0]], np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    v = run_cli("verify", str(tmp_path / "o"), "--inputs", str(tmp_path / "in.npz"), "--json")
    assert v.returncode == 0 and json.loads(v.stdout)["passed"], v.stdout + v.stderr


def test_reference_runtime_refusing_the_model_is_a_clear_error():
    from edgec.reference import reference_for

    with pytest.raises(ModelFormatError, match="ONNX Runtime cannot load the source model"):
        reference_for("onnx", b"\x08\x07not really a model")
    with pytest.raises(ModelFormatError, match="LiteRT cannot load the source model"):
        reference_for("tflite", b"\x00\x00\x00\x00TFL3" + b"\x00" * 64)


# broken artifacts -----------------------------------------------------------------------------

def _tamper(mlp, tmp_path, mutate):
    d = tmp_path / "copy"
    shutil.copytree(mlp / "art", d)
    mutate(d)
    return d


@pytest.mark.parametrize("cmd", ["run", "verify", "inspect", "package"])
@pytest.mark.parametrize("mutate, fragment", [
    (lambda d: ((d / "manifest.json").unlink(), (d / "manifest.json").mkdir()), "is a directory"),
    (lambda d: (d / "manifest.json").write_text("[" * 100000 + "]" * 100000), "corrupt"),
    (lambda d: (d / "manifest.json").write_text(
        (d / "manifest.json").read_text().replace('"dtype": "float32"', '"dtype": "float99"', 1)), "was modified"),
])
def test_broken_manifests_are_artifact_errors_everywhere(mlp, tmp_path, cmd, mutate, fragment):
    d = _tamper(mlp, tmp_path, mutate)
    args = [cmd, str(d)] + (["-o", str(tmp_path / "b")] if cmd == "package" else [])
    assert_clean_error(run_cli(*args), ArtifactError.exit_code, fragment)


def test_bogus_dtype_and_non_elf_library_with_consistent_hashes(mlp, tmp_path):
    from edgec.runtime.manifest import seal, sha256_file

    def bogus(d):
        m = json.loads((d / "manifest.json").read_text())
        m["outputs"][0]["dtype"] = "float99"
        (d / "manifest.json").write_text(seal(m))

    assert_clean_error(run_cli("run", str(_tamper(mlp, tmp_path / "a", bogus))), ArtifactError.exit_code,
                       "dtype of 'y' is 'float99'")

    def not_elf(d):
        (d / "model.so").write_text("just text\n")
        m = json.loads((d / "manifest.json").read_text())
        m["files"]["model.so"] = sha256_file(d / "model.so")
        (d / "manifest.json").write_text(seal(m))

    assert_clean_error(run_cli("run", str(_tamper(mlp, tmp_path / "b", not_elf))), ArtifactError.exit_code,
                       "not an ELF shared library")


@pytest.mark.parametrize("feeds, fragment", [
    ({"x": np.zeros((4, 64), np.float32), "extra": np.zeros(1)}, "input names do not match"),
    ({"x": np.zeros((4, 64), np.int32)}, "the model expects float32[4, 64]"),
])
def test_verify_checks_given_inputs_before_the_reference(mlp, tmp_path, feeds, fragment):
    np.savez(tmp_path / "in.npz", **feeds)
    assert_clean_error(run_cli("verify", str(mlp / "art"), "--inputs", str(tmp_path / "in.npz")),
                       InputSpecError.exit_code, fragment)


def test_bad_repeat_and_threads_are_usage_errors(mlp):
    for args in (["--repeat", "-1"], ["--threads", "0"]):
        proc = run_cli("run", str(mlp / "art"), *args)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr


def test_package_never_copies_a_library_from_outside_the_artifact(mlp, tmp_path):
    """Issue 13 item 3: `"library": "../evil.so"` with its matching hash was copied into the bundle."""
    from edgec.runtime.manifest import seal, sha256_file

    evil = tmp_path / "evil.so"
    shutil.copy(mlp / "art" / "model.so", evil)

    def outside(d):
        m = json.loads((d / "manifest.json").read_text())
        m["library"] = "../evil.so"
        m["files"]["../evil.so"] = sha256_file(evil)
        (d / "manifest.json").write_text(seal(m))

    d = _tamper(mlp, tmp_path, outside)
    assert_clean_error(run_cli("package", str(d), "-o", str(tmp_path / "b")), ArtifactError.exit_code,
                       "outside the artifact directory")
    assert not (tmp_path / "b").exists()


def test_verify_survives_a_model_that_crashes_onnx_runtime(tmp_path):  # found by tools/fuzz.py (verify: SIGSEGV)
    """ORT segfaults creating a session for a LayerNormalization whose bias is '' (omitted); the
    reference gets the same model with trailing omitted inputs left out, as ONNX defines it."""
    w = numpy_helper.from_array(np.ones((4,), np.float32), "s")
    p = _save(tmp_path / "ln.onnx", [helper.make_node("LayerNormalization", ["x", "s", ""], ["y"], axis=-1)],
              [vi("x", T.FLOAT, [3, 4])], [vi("y", T.FLOAT, [3, 4])], [w])
    assert run_cli("compile", str(p), "-o", str(tmp_path / "o"), "-q").returncode == 0
    v = run_cli("verify", str(tmp_path / "o"), "--json")
    assert v.returncode == 0 and json.loads(v.stdout)["passed"], v.stdout + v.stderr
