"""Reading a file a user or an artifact names: regular files only, size-checked before reading.

Read whole, a FIFO hangs, /dev/zero fills memory and a directory gives an obscure OSError; each
becomes a clear EdgecError here instead. The file is opened non-blocking (so opening a FIFO
cannot hang) and its type and size come from fstat on that descriptor, before a byte is read.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from edgec.errors import EdgecError, UserInputError

GiB = 1 << 30
MODEL_LIMIT = 4 * GiB  # a model file (protobuf caps ONNX at 2 GiB; external data is separate)
INPUTS_LIMIT = 4 * GiB  # an .npz/.npy of inputs
MANIFEST_LIMIT = 16 << 20  # manifest.json: a few KB in practice


def _size_text(n: int) -> str:
    return f"{n / GiB:.1f} GiB" if n >= GiB else f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n} bytes"


def check_regular(st: os.stat_result, path: "str | Path", what: str, limit: int,
                  error: type[EdgecError] = UserInputError) -> None:
    """Raise ``error`` unless ``st`` describes a regular file of at most ``limit`` bytes."""
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{what} {path} is a directory, expected a file")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or
                stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise error(f"{what} {path} is {kind}; edgec reads regular files only")
    if st.st_size > limit:
        raise error(f"{what} {path} is {_size_text(st.st_size)}; edgec reads at most {_size_text(limit)}",
                    hint="is this the right file?")


def regular_file(path: "str | Path", what: str, limit: int, error: type[EdgecError] = UserInputError) -> int:
    """Check (without opening it) that ``path`` is a regular file within ``limit``; its size."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror}") from None
    check_regular(st, path, what, limit, error)
    return st.st_size


def read_bytes(path: "str | Path", what: str, limit: int, error: type[EdgecError] = UserInputError) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, else ``error`` with a clear message."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a directory, expected a file") from None
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        check_regular(st, path, what, limit, error)  # O_RDONLY opens a directory too: refused here
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(min(st.st_size, limit) + 1)  # read() allocates what it is asked for
        except OSError as e:
            raise error(f"cannot read {what} {path}: {e.strerror}") from None
    if len(data) > limit:  # grew while we read it
        raise error(f"{what} {path} is larger than {_size_text(limit)}; edgec reads at most that")
    return data


def load_arrays(path: "str | Path", what: str = "inputs", limit: int = INPUTS_LIMIT):
    """An .npy file as an array, or an .npz as {name: array}: a regular file within ``limit``,
    no pickles, and sizes checked before numpy allocates (an .npy header promising more data
    than the file holds, an .npz whose members unpack beyond ``limit``)."""
    import zipfile

    import numpy as np

    size = regular_file(path, what, limit)
    try:
        with open(path, "rb") as f:
            if f.read(6) == b"\x93NUMPY":
                f.seek(0)
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, dtype = read(f)
                need = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if need > size - f.tell():
                    raise UserInputError(f"{what} {path} is truncated: its header promises {need} bytes of "
                                         f"{dtype}{list(shape)}, the file holds {size - f.tell()}")
                f.seek(0)
                return np.load(f, allow_pickle=False)
        with zipfile.ZipFile(path) as z:
            unpacked = sum(i.file_size for i in z.infolist())
        if unpacked > limit:
            raise UserInputError(f"{what} {path} unpacks to {_size_text(unpacked)}; edgec reads at most "
                                 f"{_size_text(limit)}")
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except UserInputError:
        raise
    except Exception as e:  # noqa: BLE001 - numpy and zipfile raise many types for bad files
        raise UserInputError(f"cannot read {what} from {path}: {str(e)[:300] or type(e).__name__} "
                             "(expected .npz with one array per input name, or .npy)") from None
