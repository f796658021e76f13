"""An artifact is a trust boundary (issue 13): the manifest covers itself, names only files inside
its folder, never chooses a command, and what the library returns is held to it. Tampering that
keeps every hash consistent (as an attacker would, with runtime.manifest.seal) is refused too."""
import json
import os
import re
import shutil

import numpy as np
import pytest

import edgec
from edgec.errors import ArtifactError
from edgec.runtime.manifest import read_manifest, seal


@pytest.fixture
def art_copy(tiny_artifacts, tmp_path):
    _, art = tiny_artifacts["mlp"]
    d = tmp_path / "art"
    shutil.copytree(art.path, d)
    return d


def _edit(d, mutate, reseal: bool = True) -> None:
    m = json.loads((d / "manifest.json").read_text())
    mutate(m)
    (d / "manifest.json").write_text(seal(m) if reseal else json.dumps(m, indent=2, sort_keys=True) + "\n")


def test_manifest_is_covered_by_its_own_hash(art_copy):
    read_manifest(art_copy)
    text = (art_copy / "manifest.json").read_text()
    (art_copy / "manifest.json").write_text(text.replace('"shape": [\n        4,', '"shape": [\n        2,', 1))
    with pytest.raises(ArtifactError, match="was modified: its content does not match its manifest_sha256"):
        edgec.load(art_copy)
    _edit(art_copy, lambda m: m.pop("manifest_sha256"), reseal=False)
    with pytest.raises(ArtifactError, match="has no manifest_sha256"):
        edgec.load(art_copy)


@pytest.mark.parametrize("where, value", [
    ("library", "../evil.so"), ("library", "/etc/hostname"), ("files", "../../etc/hostname"),
    ("files", "/etc/hostname"), ("files", "a/../../x"), ("files", "sub\\..\\x"),
])
def test_paths_outside_the_artifact_are_refused(art_copy, where, value):
    digest = "0" * 64

    def mutate(m):
        m["files"][value] = digest
        if where == "library":
            m["library"] = value

    _edit(art_copy, mutate)
    with pytest.raises(ArtifactError, match="outside the artifact directory|not a relative file name"):
        edgec.load(art_copy)


def test_symlinked_files_are_refused(art_copy, tmp_path):
    outside = tmp_path / "outside.so"
    shutil.copy(art_copy / "model.so", outside)
    (art_copy / "model.so").unlink()
    os.symlink(outside, art_copy / "model.so")
    with pytest.raises(ArtifactError, match="symlink"):
        edgec.load(art_copy)


_OUTPUT_EDITS = [
    (lambda m: m["outputs"][0].update(shape=[4, 11]), "output 'y' is float32[4, 10], the manifest promises float32[4, 11]"),
    (lambda m: m["outputs"][0].update(dtype="int32"), "output 'y' is float32[4, 10], the manifest promises int32"),
    (lambda m: m["outputs"].append({"name": "z", "shape": [1], "dtype": "float32"}), "returned 1 output(s), the manifest promises 2"),
]


@pytest.mark.parametrize("mutate, fragment", _OUTPUT_EDITS)
def test_outputs_are_checked_against_the_manifest_after_every_run(vm_mlp, tmp_path, mutate, fragment):
    """TVM's VM returns what the library computed: held to the manifest after every run."""
    d = tmp_path / "art"
    shutil.copytree(vm_mlp.path, d)
    _edit(d, mutate)
    sess = edgec.load(d)
    with pytest.raises(ArtifactError, match=re.escape(fragment)):
        sess.run({"x": np.zeros((4, 64), np.float32)})


@pytest.mark.parametrize("mutate, fragment", [
    *_OUTPUT_EDITS[:2], (_OUTPUT_EDITS[2][0], "the library has 1 outputs, the manifest promises 2")])
def test_micro_outputs_are_checked_against_the_plan_at_load(art_copy, mutate, fragment):
    """The micro library states its outputs in its plan: a manifest that differs is refused at load."""
    assert read_manifest(art_copy).compile_options["runtime"] == "micro"
    _edit(art_copy, mutate)
    with pytest.raises(ArtifactError, match=re.escape(fragment)):
        edgec.load(art_copy)


def test_a_library_that_is_not_elf_is_an_artifact_error(art_copy):
    from edgec.runtime.manifest import sha256_file

    (art_copy / "model.so").write_bytes(b"#!/bin/sh\necho hi\n" * 10)
    _edit(art_copy, lambda m: m["files"].update({"model.so": sha256_file(art_copy / "model.so")}))
    with pytest.raises(ArtifactError, match="not an ELF shared library"):
        edgec.load(art_copy)


@pytest.mark.parametrize("mutate, fragment", [
    (lambda m: m["inputs"][0].update(dtype="float33"), "dtype of 'x' is 'float33'"),
    (lambda m: m["inputs"][0].update(shape=[4, -1]), "non-negative integers"),
    (lambda m: m.update(files=["model.so"]), "'files' must be a dict"),
    (lambda m: m.update(schema_version=1), "schema 1; this edgec reads schema 2"),
    (lambda m: m.update(target={}), "target.name must be a non-empty string"),  # found by tools/fuzz.py
    (lambda m: m["target"].pop("triple"), "target.triple is required"),
    (lambda m: m["target"].update(requires=[1]), "target.requires must be an object"),
    (lambda m: m.update(source_model={}), "source_model must hold format"),
    (lambda m: m["compile_options"].update(input_ranges={"x": [0, "1"]}), "input_ranges must map"),
    (lambda m: m["compile_options"].update(input_ranges=[]), "input_ranges must map"),  # found by tools/fuzz.py
])
def test_manifest_fields_are_type_checked(art_copy, mutate, fragment):
    _edit(art_copy, mutate)
    with pytest.raises(ArtifactError, match=fragment):
        read_manifest(art_copy)


def test_commands_come_from_edgecs_target_database_never_the_manifest():
    """A manifest naming its own emulator or cross compiler gets edgec's qemu and g++ for its
    architecture instead (the manifest says which architecture, nothing more)."""
    from edgec.bundle import _cross_compiler
    from edgec.runners import emulator_command

    evil = {"name": "rpi4", "triple": "aarch64-linux-gnu", "requires": {"machine": "aarch64", "cpu_features": []},
            "emulator": {"command": "/tmp/evil", "sysroot": "/"}, "toolchain": {"cxx": "/tmp/evil-g++"}}
    assert _cross_compiler(evil) == "aarch64-linux-gnu-g++"
    assert _cross_compiler(evil | {"name": "mine"}) == "aarch64-linux-gnu-g++"
    if shutil.which("qemu-aarch64"):
        assert emulator_command(evil) == ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"]
    with pytest.raises(edgec.EdgecError, match="knows no"):
        _cross_compiler({"name": "x", "triple": "mips-linux-gnu"})
