"""Shared fixtures. Zoo models are fetched once into the user's cache (EDGEC_CACHE respected)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgec.models.tiny import tiny_cnn, tiny_mlp, tiny_transformer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory) -> dict:
    """The three tiny models compiled once for the host: name -> (model, artifact)."""
    import edgec

    out = {}
    base = tmp_path_factory.mktemp("tiny")
    for name, model, shapes in [("cnn", tiny_cnn(), {"x": (1, 3, 32, 32)}), ("mlp", tiny_mlp(), {}),
                                ("transformer", tiny_transformer(), {})]:
        out[name] = (model, edgec.compile(model, out=base / name, input_shapes=shapes))
    return out


@pytest.fixture(scope="session")
def vm_mlp(tmp_path_factory):
    """The tiny MLP compiled for the host on TVM's VM runtime (the default is micro where it
    applies): for the tests of what is specific to the VM artifact (libtvm_runtime, its checks)."""
    import edgec

    return edgec.compile(tiny_mlp(), out=tmp_path_factory.mktemp("vm") / "mlp", runtime="vm")


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real `edgec` CLI in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "edgec.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd)
