"""The source tree is the import tree: setup.py's one rule maps every package folder, data files
are package data found through importlib.resources, and the README names files that exist."""
import re
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup_packages() -> list[str]:
    return runpy.run_path(str(ROOT / "setup.py"), run_name="setup")["packages"]()


def test_every_package_folder_is_mapped():
    found = set(_setup_packages())
    expected = {"edgec"}
    for init in ROOT.glob("*/**/__init__.py"):
        rel = init.parent.relative_to(ROOT)
        if rel.parts[0] in ("compiler", "runtime", "models", "targets"):
            expected.add("edgec." + ".".join(rel.parts))
        elif rel.parts[0] == "edgec":
            expected.add(".".join(rel.parts))
    assert expected == found


def test_shipped_data_is_package_data():
    from edgec import models
    from edgec.bundle import NATIVE_SRC
    from edgec.compiler.tuning import SHIPPED_DB_DIR
    from edgec.models.digits import MODEL
    from edgec.targets import available

    assert "rpi4" in available() and models.registry() and MODEL.exists()
    assert (NATIVE_SRC / "edgec_run.cc").exists() and any(SHIPPED_DB_DIR.glob("*.json"))


def test_readme_names_files_that_exist():
    text = (ROOT / "README.md").read_text()
    names = set(re.findall(r"`([\w.-]+(?:/[\w.-]+)+\.(?:py|toml|md|sh|json|cc|h|txt))`", text))
    assert names, "the pattern found no file names"
    missing = sorted(n for n in names if not (ROOT / n).exists())
    assert not missing, missing


TOP = ("edgec", "compiler", "runtime", "models", "targets", "tests", "tools", "docs")
# a path under a top-level folder, anywhere in the text (code blocks and tables too): file, folder or glob
_PATH = re.compile(r"(?<![\w./-])((?:%s)/[\w./*-]*[\w*/])" % "|".join(TOP))
# a bare source file name in backticks (`epilogue.py`): some file in the tree has it
_BARE = re.compile(r"`([\w-]+\.(?:py|toml|cc|h|c|sh))`")


def named_paths(text: str) -> tuple[set[str], set[str]]:
    """(paths under a top-level folder, bare file names) that ``text`` names; NAME is a placeholder."""
    paths = {p.rstrip("/.") for p in _PATH.findall(text) if "NAME" not in p}
    return paths, {b for b in _BARE.findall(text) if "NAME" not in b}


def missing_paths(text: str) -> list[str]:
    paths, bare = named_paths(text)
    gone = [p for p in paths if not (any(ROOT.glob(p)) if "*" in p else (ROOT / p).exists())]
    have = {f.name for top in TOP for f in (ROOT / top).rglob("*") if f.is_file()} | {f.name for f in ROOT.iterdir()}
    return sorted(gone + [b for b in bare if b not in have])


def test_the_path_check_sees_a_missing_file():
    text = "`compiler/driver.py` and compiler/no_such.py, runtime/micro/, `registry.py` and `nowhere.py`"
    assert named_paths(text)[0] == {"compiler/driver.py", "compiler/no_such.py", "runtime/micro"}
    assert missing_paths(text) == ["compiler/no_such.py", "nowhere.py"]


def test_readme_and_architecture_name_files_that_exist():
    for doc in ("README.md", "docs/architecture.md"):
        missing = missing_paths((ROOT / doc).read_text())
        assert not missing, f"{doc} names {missing}"
