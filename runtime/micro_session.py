"""Session for artifacts compiled with ``--runtime micro``: the model library runs on edgec's own C
runtime (runtime/micro, through ctypes); no TVM runtime is loaded.

Per call: inputs that are C-contiguous and 64-byte aligned are handed over by pointer, others
copied once by the runtime; outputs are copied out of the arena (which the next run reuses).
The runtime checks manifest.json and the library's sha256 again before it loads any model code.
"""
from __future__ import annotations

import ctypes
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from edgec.errors import ArtifactError
from edgec.runtime.host import check as check_host
from edgec.runtime.manifest import read_manifest
from edgec.runtime.session import Session, check_outputs, output_specs
from edgec.runtime.threads import configure_threads

_LIB = None
_LIB_LOCK = threading.Lock()
_ERR_LEN = 1024
_ZERO_COPY_BYTES = 1 << 16  # below this, a copy costs less than asking numpy for the address


def _aligned(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A zeroed array at a 64-byte aligned address. A zero-size one gets one element's bytes
    behind it: numpy moves an empty view's data pointer, and the runtime wants an aligned one."""
    n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buf = np.zeros(max(n, dtype.itemsize) + 64, np.uint8)
    off = -buf.ctypes.data % 64
    if n == 0:
        return np.ndarray(shape, dtype, buffer=buf, offset=off)
    return buf[off:off + n].view(dtype).reshape(shape)


def runtime_library() -> ctypes.CDLL:
    """libedgec_micro.so for this machine (built on first use, runtime/micro_build.py)."""
    global _LIB
    with _LIB_LOCK:
        if _LIB is None:
            from edgec.runtime.micro_build import build

            lib = ctypes.CDLL(str(build() / "libedgec_micro.so"))
            p, i, sz = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
            lib.edgec_load_threads.restype = p
            lib.edgec_load_threads.argtypes = [ctypes.c_char_p, i, ctypes.c_char_p, sz]
            lib.edgec_bind_input.argtypes = [p, i, p, ctypes.c_char_p, sz]
            lib.edgec_set_input.argtypes = [p, i, p, ctypes.POINTER(ctypes.c_int64), i, ctypes.c_char_p,
                                            ctypes.c_char_p, sz]
            lib.edgec_run.argtypes = [p, ctypes.c_char_p, sz]
            lib.edgec_get_output.argtypes = [p, i, ctypes.POINTER(p), p, p, p]
            lib.edgec_num_outputs.argtypes = [p]
            for fn in (lib.edgec_input_info, lib.edgec_output_info):
                fn.argtypes = [p, i, p, p, p, p]
            lib.edgec_run_timed.argtypes = [p, ctypes.POINTER(ctypes.c_double), ctypes.c_char_p, sz]
            lib.edgec_num_calls.argtypes = [p]
            lib.edgec_call_name.argtypes = [p, i]
            lib.edgec_call_name.restype = ctypes.c_char_p
            lib.edgec_free.argtypes = [p]
            lib.edgec_memory.argtypes = [p] + [ctypes.POINTER(ctypes.c_uint64)] * 3
            _LIB = lib
        return _LIB


class MicroSession(Session):
    """``Session.run({"x": array}) -> {"out": array}`` on the micro runtime."""

    def __init__(self, path: "str | Path", threads: int | None = None) -> None:  # not Session's: no VM
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        check_host(self.manifest.target, f"artifact {self.path}")
        self.requested_threads = configure_threads(threads)
        self._lib = runtime_library()
        self._err = ctypes.create_string_buffer(_ERR_LEN)
        with open(self.path / self.manifest.library, "rb") as f:  # a regular file: read_manifest checked it
            if f.read(4) != b"\x7fELF":
                raise ArtifactError(f"{self.path / self.manifest.library} is not an ELF shared library")
        lib_path = str(self.path / self.manifest.library).encode()
        self._m = self._lib.edgec_load_threads(lib_path, self.requested_threads, self._err, _ERR_LEN)
        if not self._m:
            raise ArtifactError(f"artifact {self.path}: {self._err.value.decode(errors='replace')}")
        self._gpu = False
        self._lock = threading.Lock()
        self._specs = [(t.name, t.shape, np.dtype(t.dtype)) for t in self.manifest.inputs]
        self._names = {t.name for t in self.manifest.inputs}
        self._where = f"artifact {self.path}"
        self._out_specs = output_specs(self.manifest.outputs)
        # What the library itself says: inputs must be what the manifest promises (the kernels read
        # exactly that many bytes); outputs are viewed with the library's own shapes and dtypes,
        # then held to the manifest after every run (check_outputs), as on the VM path.
        for i, (name, shape, dtype) in enumerate(self._specs):
            lib_shape, lib_dtype = self._info(self._lib.edgec_input_info, i)
            if (lib_shape, lib_dtype) != (shape, dtype):
                raise ArtifactError(f"{self._where}: input '{name}' is {lib_dtype}{list(lib_shape)} in the library, "
                                    f"the manifest promises {dtype}{list(shape)}")
        self._outs = []  # views of the arena: fixed for the life of the model
        for i in range(self._lib.edgec_num_outputs(self._m)):
            shape, dtype = self._info(self._lib.edgec_output_info, i)
            ptr = ctypes.c_void_p()
            self._lib.edgec_get_output(self._m, i, ctypes.byref(ptr), None, None, None)
            count = int(np.prod(shape, dtype=np.int64))
            buf = (ctypes.c_char * max(count * dtype.itemsize, 1)).from_address(ptr.value)
            self._outs.append(np.frombuffer(buf, dtype=dtype, count=count).reshape(shape))
        # Each input has an aligned staging array bound once: a small input is copied into it with
        # numpy (~1 us); a large one that is already aligned is bound by pointer instead (no copy).
        self._staging = [_aligned(shape, dtype) for _, shape, dtype in self._specs]
        self._bound = [0] * len(self._specs)
        for i, st in enumerate(self._staging):
            self._bind_ptr(i, st)

    def _info(self, fn, i: int) -> tuple[tuple[int, ...], np.dtype]:
        shape, ndim, dtype = ctypes.POINTER(ctypes.c_int64)(), ctypes.c_int(), ctypes.c_char_p()
        if fn(self._m, i, None, ctypes.byref(shape), ctypes.byref(ndim), ctypes.byref(dtype)):
            raise ArtifactError(f"{self._where}: the library has no tensor {i}")
        try:
            dt = np.dtype(dtype.value.decode())
        except TypeError:
            raise ArtifactError(f"{self._where}: the library's tensor {i} has dtype {dtype.value!r}") from None
        return tuple(int(shape[k]) for k in range(ndim.value)), dt

    def memory(self) -> dict[str, int]:
        """Bytes of the arena, the weights and the per-thread workspace."""
        vals = [ctypes.c_uint64() for _ in range(3)]
        self._lib.edgec_memory(self._m, *(ctypes.byref(v) for v in vals))
        return dict(zip(("arena_bytes", "weights_bytes", "workspace_bytes"), (v.value for v in vals)))

    def _bind_ptr(self, i: int, a: np.ndarray) -> None:
        addr = a.__array_interface__["data"][0]
        if addr != self._bound[i]:
            if self._lib.edgec_bind_input(self._m, i, addr, self._err, _ERR_LEN):
                raise ArtifactError(f"{self._where}: {self._err.value.decode(errors='replace')}")
            self._bound[i] = addr

    def _bind(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Inputs into the runtime; returns the arrays it reads from (keep them alive until the run ends)."""
        used = []
        for i, a in enumerate(arrays):
            if a.size == 0:
                a = self._staging[i]  # nothing to copy; its pointer is aligned
                self._bind_ptr(i, a)
            elif a.nbytes >= _ZERO_COPY_BYTES and a.flags.c_contiguous and a.__array_interface__["data"][0] % 64 == 0:
                self._bind_ptr(i, a)
            else:
                a = self._staging[i]
                np.copyto(a, arrays[i])
                self._bind_ptr(i, a)
            used.append(a)
        return used

    def _run_once(self) -> None:
        if self._lib.edgec_run(self._m, self._err, _ERR_LEN):
            raise ArtifactError(f"{self._where}: the model failed while running: "
                                f"{self._err.value.decode(errors='replace')[:300]}")

    def run(self, feeds: dict) -> dict[str, np.ndarray]:
        """Run once; inputs are checked against the manifest's names, shapes and dtypes."""
        arrays = self._check(feeds)
        with self._lock:
            used = self._bind(arrays)  # noqa: F841 - alive while the run reads them
            self._run_once()
            outs = [o.copy() for o in self._outs]
        return check_outputs(self._out_specs, outs, self._where)

    def kernels_call(self, feeds: dict) -> Callable[[], None]:
        """A zero-argument run of the plan on ``feeds`` bound once, with no checks and no output
        copies: the micro counterpart of calling the VM's main on device tensors, for benchmarks
        of the kernels themselves (edgec.benchmark.kernels_call). Small inputs are copied into the
        session's staging arrays once: a Session.run in between may leave other values there."""
        arrays = self._bind(self._check(feeds))

        def call() -> None:
            for i, a in enumerate(arrays):  # a pointer compare unless a Session.run bound others meanwhile
                self._bind_ptr(i, a)
            self._run_once()

        return call

    def time(self, feeds: dict, repeat: int = 20, warmup: int = 3) -> list[float]:
        """Wall-clock seconds of ``repeat`` runs after ``warmup`` (inputs bound once)."""
        times = []
        with self._lock:
            arrays = self._bind(self._check(feeds))  # noqa: F841 - alive while the runs read them
            for _ in range(warmup):
                self._run_once()
            for _ in range(repeat):
                t0 = time.perf_counter()
                self._run_once()
                times.append(time.perf_counter() - t0)
        return times

    def profile(self, feeds: dict, runs: int = 5) -> list[tuple[str, float]]:
        """Per call of the plan, in order: (kernel, mean CPU seconds of the calling thread per run)
        over ``runs`` runs after one warm-up (at 1 thread every kernel runs on that thread)."""
        n = self._lib.edgec_num_calls(self._m)
        seconds = (ctypes.c_double * max(n, 1))()
        with self._lock:
            arrays = self._bind(self._check(feeds))  # noqa: F841 - alive while the runs read them
            self._run_once()
            for _ in range(runs):
                if self._lib.edgec_run_timed(self._m, seconds, self._err, _ERR_LEN):
                    raise ArtifactError(f"{self._where}: the model failed while running: "
                                        f"{self._err.value.decode(errors='replace')[:300]}")
        return [(self._lib.edgec_call_name(self._m, i).decode(), seconds[i] / runs) for i in range(n)]

    def __del__(self) -> None:
        m, self._m = getattr(self, "_m", None), None
        if m and _LIB is not None:
            _LIB.edgec_free(m)
