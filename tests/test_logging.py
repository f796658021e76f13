"""One `edgec` logger: the library prints nothing unless asked and never touches the root logger;
verbose=True shows progress on stderr; the CLI's -q / --json keep stderr to warnings."""
import logging

import onnx

import edgec
from edgec.models.tiny import tiny_mlp
from tests.conftest import run_cli


def _root_state():
    root = logging.getLogger()
    return root.level, list(root.handlers)


def test_library_is_silent_and_leaves_the_root_logger_alone(tmp_path, capfd):
    before = _root_state()
    edgec.compile(tiny_mlp(), out=tmp_path / "a")
    assert capfd.readouterr().err == ""
    assert _root_state() == before
    edgec.compile(tiny_mlp(), out=tmp_path / "b", verbose=True)
    err = capfd.readouterr().err
    assert "[edgec] imported onnx model" in err and "[edgec] built model.so" in err, err
    assert _root_state() == before


def test_an_application_handler_gets_the_records_instead(tmp_path, capfd):
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    logger = logging.getLogger("edgec")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        edgec.compile(tiny_mlp(), out=tmp_path / "a", verbose=True)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert any(m.startswith("built model.so") for m in seen), seen
    assert capfd.readouterr().err == ""  # verbose=True adds no second, stderr copy


def test_quantize_never_touches_the_root_logger(monkeypatch):
    """ORT's quantizer logs through module-level logging.warning(); edgec routes those calls to
    its own logger instead of changing the root logger's level or handlers, even briefly."""
    import numpy as np

    root = logging.getLogger()
    before = _root_state()
    touched = []
    for name in ("setLevel", "addHandler", "removeHandler"):
        real = getattr(root, name)
        monkeypatch.setattr(root, name, lambda *a, _n=name, _r=real: (touched.append(_n), _r(*a))[1])
    feeds = [{"x": np.random.default_rng(i).standard_normal((4, 64)).astype(np.float32)} for i in range(4)]
    edgec.quantize(tiny_mlp(), "int8", calib=feeds)
    assert touched == [] and _root_state() == before


def test_cli_levels(tmp_path):
    p = tmp_path / "m.onnx"
    onnx.save(tiny_mlp(), p)
    loud = run_cli("compile", str(p), "-o", str(tmp_path / "a"))
    assert loud.returncode == 0 and "[edgec] built model.so" in loud.stderr, loud.stderr
    quiet = run_cli("-q", "compile", str(p), "-o", str(tmp_path / "b"))
    assert quiet.returncode == 0 and "[edgec]" not in quiet.stderr, quiet.stderr
    js = run_cli("compile", str(p), "-o", str(tmp_path / "c"), "--json")
    assert js.returncode == 0 and "[edgec]" not in js.stderr, js.stderr
    debug = run_cli("-v", "compile", str(p), "-o", str(tmp_path / "d"))
    assert debug.returncode == 0 and "[edgec] pass" in debug.stderr


def print_calls(py) -> list[int]:
    """Line numbers of calls to the builtin print in a Python file (console.print is not one)."""
    import ast

    tree = ast.parse(py.read_text())
    return [n.lineno for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"]


def test_library_code_never_prints(tmp_path):
    """Library modules log; only the CLI writes to stdout/stderr (and it does so through rich)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    (tmp_path / "x.py").write_text("def f():\n    print('hi')\n    console.print('ok')\n")
    assert print_calls(tmp_path / "x.py") == [2]  # the check sees a print and only that
    bad = [f"{py.relative_to(root)}:{line}"
           for folder in ("edgec", "compiler", "runtime", "models", "targets")
           for py in sorted((root / folder).rglob("*.py")) for line in print_calls(py)]
    assert not bad, bad
