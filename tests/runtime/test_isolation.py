"""edgec.runtime runs artifacts with the TVM runtime library alone: no compiler, no onnx.

In TVM_USE_RUNTIME_LIB=1 mode `import tvm` still imports thin Python wrappers (tvm.te, tvm.tirx)
but maps only libtvm_runtime and libtvm_ffi; the compiler library libtvm.so and tvm.relax stay out.
"""
import ast
import json
import subprocess
import sys
from pathlib import Path

RUNTIME_DIR = Path(__file__).resolve().parents[2] / "runtime"

CHILD = r"""
import json, sys
import numpy as np
import edgec.runtime as rt
y = rt.load(sys.argv[1]).run({"x": np.zeros((4, 64), np.float32)})["y"]
mods = sorted(m for m in sys.modules if m.split(".")[0] in ("onnx", "onnxruntime", "ai_edge_litert")
              or m.startswith(("edgec.compiler", "tvm.relax")))
libs = sorted({line.split()[-1].rsplit("/", 1)[-1] for line in open("/proc/self/maps") if "libtvm" in line})
print(json.dumps({"shape": list(y.shape), "modules": mods, "libs": libs}))
"""


def _run_child(art) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(art.path)], capture_output=True, text=True,
                          env={"TVM_USE_RUNTIME_LIB": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["shape"] == [4, 10]
    assert out["modules"] == []
    return out


def test_runtime_runs_without_compiler_or_onnx(vm_mlp):
    libs = _run_child(vm_mlp)["libs"]
    assert "libtvm_runtime.so" in libs
    assert not any("compiler" in lib for lib in libs), libs  # libtvm_compiler.so


def test_micro_artifact_runs_without_any_tvm_library(tiny_artifacts):
    """The default artifact on the host is a micro one: no TVM library is mapped at all."""
    _, art = tiny_artifacts["mlp"]
    assert art.manifest.compile_options["runtime"] == "micro"
    assert _run_child(art)["libs"] == []


def test_runtime_sources_do_not_import_compiler():
    forbidden = ("edgec.compiler", "onnx", "onnxruntime", "tvm.relax", "tvm.te", "tvm.tirx")
    for py in RUNTIME_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(py.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for n in names:
                assert not any(n == f or n.startswith(f + ".") for f in forbidden), f"{py} imports {n}"
