"""The folders edgec writes (artifacts, bundles): checked before any work is done, built in a
staging folder next to them and renamed into place, and with --force only ever replacing a
folder that holds nothing but files edgec itself wrote there.

What edgec wrote is what the folder's own record lists: an artifact's manifest.json (a valid
edgec manifest) names its files, a bundle's bundle.json names its files. Anything else in the
folder -- a user's index.html, a results folder, a symlink -- makes --force refuse.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from edgec.errors import UserInputError

_VIRTUAL = ("/proc", "/sys", "/dev")


def check_destination(out: Path, what: str) -> None:
    """Fail now, before minutes of work, when ``out`` cannot become a folder: it is a file, lies
    under a file, in a virtual filesystem (/proc, /sys, /dev) or in a folder we cannot write."""
    resolved = Path(os.path.abspath(out))
    try:
        resolved = out.resolve()
    except (OSError, RuntimeError):  # a symlink loop: reported below as not writable
        pass
    for v in _VIRTUAL:
        if resolved == Path(v) or Path(v) in resolved.parents:
            raise UserInputError(f"cannot write the {what} to {out}: it is in {v}, a virtual filesystem",
                                 hint="choose a folder on a disk, e.g. -o out/model")
    if out.exists() and not out.is_dir():
        raise UserInputError(f"output {out} exists and is a file; refusing to overwrite it")
    parent = resolved.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UserInputError(f"cannot write the {what} to {out}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserInputError(f"cannot write the {what} to {out}: {parent} is not writable")


def extras(out: Path, listed: set[str]) -> list[str]:
    """Entries under ``out`` that are not among ``listed`` (relative POSIX paths of files) or the
    folders holding them; symlinks and special files always count."""
    folders = {str(Path(f).parent.as_posix()) for f in listed}
    folders |= {p for f in folders for p in _prefixes(f)}
    found = []
    for root, dirs, files in os.walk(out, followlinks=False):
        for name in dirs + files:
            p = Path(root) / name
            rel = p.relative_to(out).as_posix()
            if p.is_symlink() or (p.is_dir() and rel not in folders) or (not p.is_dir() and
                                                                         (rel not in listed or not p.is_file())):
                found.append(rel)
        dirs[:] = [d for d in dirs if (Path(root) / d).relative_to(out).as_posix() in folders]
    return sorted(found)


def _prefixes(folder: str) -> list[str]:
    parts = folder.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def prepare(out: Path, force: bool, what: str, owned: Callable[[Path], set[str]]) -> None:
    """Check ``out`` before any work: writable, and empty or (with ``force``) holding only what
    ``owned(out)`` lists as edgec's (owned raises UserInputError when the folder has no valid
    edgec record)."""
    check_destination(out, what)
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise UserInputError(f"output directory {out} already exists and is not empty",
                                 hint=f"pass --force (force=True) to replace an earlier edgec {what}")
        check_owned(out, what, owned)


def check_owned(out: Path, what: str, owned: Callable[[Path], set[str]]) -> None:
    """Raise unless every entry of ``out`` is one edgec wrote there (see the module docstring)."""
    listed = owned(out)
    left = extras(out, listed)
    if left:
        shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
        raise UserInputError(f"refusing to replace {out} even with --force: it holds files edgec did not write "
                             f"there ({shown})", hint=f"move them away, or write the {what} to another folder")


def replace(staging: Path, out: Path, what: str, owned: Callable[[Path], set[str]]) -> None:
    """Move the finished ``staging`` folder to ``out``; an existing ``out`` (checked again now:
    files may have appeared during the build) is moved aside first and deleted last."""
    old = None
    if out.exists():
        check_owned(out, what, owned)
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        os.replace(out, old / "x")
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def artifact_files(out: Path) -> set[str]:
    """Files an earlier edgec artifact in ``out`` lists as its own (manifest.json included)."""
    from edgec.runtime.manifest import MANIFEST, parse_manifest, SCHEMA_VERSION
    from edgec.runtime.files import MANIFEST_LIMIT, read_bytes
    from edgec.errors import ArtifactError

    mpath = out / MANIFEST
    if not mpath.is_file() or mpath.is_symlink():
        raise UserInputError(f"{out} is not an edgec artifact (no {MANIFEST}); refusing to replace it even with --force")
    try:
        data = read_bytes(mpath, "manifest", MANIFEST_LIMIT)
        raw = json.loads(data)
        if isinstance(raw, dict) and raw.get("schema_version") == 1:  # before the self-hash: its file list
            files = raw["files"]
            assert isinstance(files, dict) and "edgec" in raw["versions"]
        else:
            files = parse_manifest(data, mpath).files
    except (UserInputError, ArtifactError, ValueError, KeyError, TypeError, AssertionError, RecursionError):
        raise UserInputError(f"{out} holds a {MANIFEST} that is not a valid edgec manifest (schema "
                             f"{SCHEMA_VERSION}); refusing to replace it even with --force") from None
    return set(files) | {MANIFEST}


BUNDLE_RECORD = "bundle.json"


def bundle_files(out: Path) -> set[str]:
    """Files an earlier edgec bundle in ``out`` lists as its own (bundle.json's ``files``)."""
    rec = out / BUNDLE_RECORD
    try:
        files = json.loads(rec.read_text())["files"] if rec.is_file() and not rec.is_symlink() else None
        assert isinstance(files, list) and all(isinstance(f, str) for f in files)
    except (OSError, ValueError, KeyError, TypeError, AssertionError, RecursionError):
        files = None
    if files is None:
        raise UserInputError(f"{out} is not an edgec bundle (no valid {BUNDLE_RECORD}); refusing to replace it "
                             "even with --force")
    return set(files) | {BUNDLE_RECORD}
