"""Layers only point down: each package imports edgec modules of its own layer or below, never
above (imports inside functions count too). The order, bottom first:

  edgec.errors, edgec.log   error classes, logging helpers (import nothing of edgec)
  edgec.runtime  load and run artifacts (TVM runtime only; tests/runtime/test_isolation.py)
  edgec.targets  target data and its loader
  edgec.compiler SourceModel + CompileOptions -> Artifact
  edgec.models   the zoo, tiny models built in code
  edgec          the public API, CLI, steps around the compiler (prune, quantize), runners, bundles
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["edgec.errors", "edgec.log", "edgec.runtime", "edgec.targets", "edgec.compiler", "edgec.models", "edgec"]
FOLDERS = {"edgec.runtime": "runtime", "edgec.targets": "targets", "edgec.compiler": "compiler",
           "edgec.models": "models"}


def layer_of(module: str) -> int:
    """Index in LAYERS of an edgec module name (the longest matching prefix)."""
    best = None
    for i, name in enumerate(LAYERS):
        if module == name or module.startswith(name + "."):
            if best is None or len(name) > len(LAYERS[best]):
                best = i
    return best


def edgec_imports(py: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(py.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from edgec import outdir` names the module edgec.outdir
            names += [f"{node.module}.{a.name}" if node.module == "edgec" else node.module for a in node.names]
    return [n for n in names if n == "edgec" or n.startswith("edgec.")]


def violations(package: str, folder: Path) -> list[str]:
    mine = layer_of(package)
    bad = []
    for py in [folder] if folder.is_file() else sorted(folder.rglob("*.py")):
        for name in edgec_imports(py):
            if layer_of(name) > mine:
                bad.append(f"{py} imports {name} ({LAYERS[layer_of(name)]} is above {package})")
    return bad


def test_layer_of_names_the_right_layer():
    assert layer_of("edgec.compiler.int8.rewrite") == LAYERS.index("edgec.compiler")
    assert layer_of("edgec.errors") == 0 and layer_of("edgec.log") == 1
    assert layer_of("edgec.optimize") == LAYERS.index("edgec")
    assert layer_of("edgec") == LAYERS.index("edgec")


def test_packages_import_only_their_layer_or_below():
    bad = []
    for package, folder in FOLDERS.items():
        bad += violations(package, ROOT / folder)
    for bottom in ("errors.py", "log.py"):  # the bottom: no edgec import at all
        bad += [f"edgec/{bottom} imports {n}" for n in edgec_imports(ROOT / "edgec" / bottom)]
    assert not bad, "\n".join(bad)


def test_the_check_sees_an_upward_import(tmp_path):
    (tmp_path / "x.py").write_text("def f():\n    from edgec.optimize import prune_model\n    from edgec import outdir\n")
    assert len(violations("edgec.compiler", tmp_path)) == 2


def test_no_path_arithmetic_across_package_roots():
    """Files of another package are found through that package (its module's own folder, or
    importlib.resources), never by walking up from this file: installed, the folders of the
    design card are not siblings on disk (issue 11, point 5)."""
    bad = []
    for folder in ("edgec", "compiler", "runtime", "models", "targets"):
        for py in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(py.read_text())):
                if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                        and node.value.attr == "parents":
                    bad.append(f"{py.relative_to(ROOT)}:{node.lineno}")
    assert bad == [], bad
