"""Load an artifact's (hash-checked) library into this process: the right code, and freed again.

Two traps in the obvious ``tvm.runtime.load_module(path)``:
- it keeps every module alive for the life of the process (tvm_ffi's ``keep_module_alive``), so
  each load/run/delete cycle leaked the library's constants (~77 KB for a tiny MLP, ~620 KB for
  PP-OCR cls; issue 13 item 9);
- dlopen() matches an already loaded library by the path string alone, so loading an artifact
  recompiled in place (``--force``) while the old library was still loaded ran the *old* code.
So each library is opened through a private symlink named after its sha256: the same name means
the same bytes, a new build gets a new name, and the module is released with its last user.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path

from edgec.errors import ArtifactError

_LINKS: Path | None = None
_LOCK = threading.Lock()  # Sessions may be created from several threads at once


def _links_dir() -> Path:
    global _LINKS
    with _LOCK:
        if _LINKS is None or not _LINKS.is_dir():
            _LINKS = Path(tempfile.mkdtemp(prefix="edgec-libs-"))
            atexit.register(_remove, _LINKS, os.getpid())
        return _LINKS


def _remove(folder: Path, owner: int) -> None:
    if os.getpid() == owner:  # a forked child exiting leaves its parent's links alone
        shutil.rmtree(folder, ignore_errors=True)


def load_library(path: Path, sha256: str):
    """The TVM module of the library at ``path`` (whose sha256 the manifest check established)."""
    import tvm_ffi

    if path.suffix == ".so":
        with open(path, "rb") as f:
            if f.read(4) != b"\x7fELF":
                raise ArtifactError(f"{path} is not an ELF shared library")
    link = _links_dir() / f"{sha256}{path.suffix}"
    tmp = link.with_name(f".{link.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        os.symlink(path.resolve(), tmp)
        os.replace(tmp, link)  # points at this artifact's file now; same name = same bytes
        return tvm_ffi.load_module(str(link), keep_module_alive=False)
    except Exception as e:  # noqa: BLE001 - dlopen and TVM's loader raise assorted types
        msg = str(e).strip().splitlines()
        raise ArtifactError(f"cannot load {path}: {msg[-1][:300] if msg else type(e).__name__}",
                            hint="is it an edgec library for this machine? recompile it") from None
    finally:
        tmp.unlink(missing_ok=True)
