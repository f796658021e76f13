"""The compiled artifact as a value: a directory plus its validated manifest."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgec.runtime.manifest import Manifest, read_manifest


@dataclass(frozen=True)
class Artifact:
    path: Path
    manifest: Manifest

    @classmethod
    def open(cls, path: "str | Path", check_files: bool = True) -> "Artifact":
        return cls(Path(path), read_manifest(Path(path), check_files=check_files))

    @property
    def library(self) -> Path:
        return self.path / self.manifest.library

    def load(self, threads: int | None = None):
        from edgec.runtime.session import Session

        return Session(self.path, threads=threads)
