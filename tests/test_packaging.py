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
