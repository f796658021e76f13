"""Load a compiled artifact and run it, with only the TVM *runtime* library.

This module must not import edgec.compiler, onnx or the TVM compiler (tests enforce it), so that
it can run on a device where only libtvm_runtime is installed; set ``TVM_USE_RUNTIME_LIB=1``
there so that ``import tvm`` skips the compiler library.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from edgec.errors import ArtifactError, InputSpecError
from edgec.runtime.host import check as check_host
from edgec.runtime.library import load_library
from edgec.runtime.manifest import Manifest, TensorSpec, read_manifest
from edgec.runtime.threads import configure_threads


def _tvm_runtime():
    import tvm.runtime  # noqa: PLC0415 - heavy, import only when a model is loaded
    import tvm.runtime.vm

    return tvm


class Session:
    """A loaded artifact ready to run: ``Session.run({"x": array}) -> {"out": array}``."""

    def __new__(cls, path: "str | Path" = "", threads: int | None = None):
        """An artifact compiled for the micro runtime gets a MicroSession (runtime/micro_session.py)."""
        if cls is Session and _runtime_of(Path(path)) == "micro":
            from edgec.runtime.micro_session import MicroSession

            return super().__new__(MicroSession)
        return super().__new__(cls)

    def __init__(self, path: "str | Path", threads: int | None = None) -> None:
        self.path = Path(path)
        self.manifest: Manifest = read_manifest(self.path)
        target = self.manifest.target
        gpu = target.get("kind", "llvm") == "cuda"
        check_host(target, f"artifact {self.path}")  # this machine's CPU, read now (runtime/host.py)
        self.requested_threads = configure_threads(threads)
        tvm = _tvm_runtime()
        self._tvm = tvm
        if gpu:
            from edgec.runtime.cuda_kernels import gpu_available, install_precompiled_kernels

            if not gpu_available():
                raise ArtifactError(f"artifact {self.path} needs an NVIDIA GPU ({target.get('arch')}) and its driver; "
                                    "none is visible here", hint="run it on the GPU machine")
            install_precompiled_kernels(self.path)
        # hash-checked by read_manifest; loaded under its digest and released with this Session
        lib = load_library(self.path / self.manifest.library, self.manifest.files[self.manifest.library])
        self._gpu = gpu
        self._dev = tvm.cuda(0) if gpu else tvm.cpu()
        self._vm = tvm.runtime.vm.VirtualMachine(lib, self._dev)
        self._main = self._vm["main"]
        # One VM per Session: TVM's VM is not re-entrant (8 threads sharing one crashed), so calls
        # are serialised; uncontended, the lock costs well under a microsecond. Use one Session
        # per thread for parallel inference.
        self._lock = threading.Lock()
        self._staging: dict[int, np.ndarray] = {}  # input index -> 64-byte-aligned buffer, reused
        self._specs = [(t.name, t.shape, np.dtype(t.dtype)) for t in self.manifest.inputs]
        self._where = f"artifact {self.path}"
        self._out_specs = output_specs(self.manifest.outputs)
        self._names = {t.name for t in self.manifest.inputs}
        import tvm_ffi

        self._from_dlpack = tvm_ffi.from_dlpack

    @property
    def inputs(self) -> list[TensorSpec]:
        return self.manifest.inputs

    @property
    def outputs(self) -> list[TensorSpec]:
        return self.manifest.outputs

    def _check(self, feeds: dict) -> list[np.ndarray]:
        if not isinstance(feeds, dict):
            raise InputSpecError("inputs must be a dict of input name -> array")
        if feeds.keys() != self._names:
            names = [t.name for t in self.inputs]
            unknown = sorted(map(str, set(feeds) - set(names)))
            missing = [n for n in names if n not in feeds]
            raise InputSpecError(
                f"input names do not match the model: unknown {unknown}, missing {missing}; "
                f"the model takes {self._signature()}")
        arrays = []
        for name, shape, dtype in self._specs:
            a = feeds[name]
            if not isinstance(a, np.ndarray):
                try:
                    a = np.asarray(a)
                except Exception as e:  # noqa: BLE001 - ragged lists, objects without __array__ ...
                    raise InputSpecError(f"input '{name}' is not an array ({type(e).__name__}: {str(e)[:100]})") from None
            if a.shape != shape:
                raise InputSpecError(f"input '{name}' has shape {tuple(a.shape)}, the model expects {shape}",
                                     hint="recompile with --input-shape for another shape")
            if a.dtype != dtype:
                raise InputSpecError(f"input '{name}' has dtype {a.dtype}, the model expects {dtype}")
            arrays.append(a)
        return arrays

    def _device_tensor(self, a: np.ndarray, index: int):
        """CPU: the array itself when it is C-contiguous and 64-byte aligned (the kernels' vector
        loads assume TVM's alignment), else a copy into this input's aligned staging buffer, both
        handed over by DLPack; ~2 us where tvm.runtime.tensor() allocates and copies in ~40-90 us.
        numpy aligns to 16 bytes, so most callers' arrays take the copy: the buffer is made once
        (a fresh allocation per call cost its page faults: 77 us for a 1.2 MB input). Called under
        the lock, since the buffer is shared by calls."""
        if self._gpu:
            return self._tvm.runtime.tensor(np.ascontiguousarray(a), self._dev)
        if not (a.flags.c_contiguous and a.flags.writeable and a.__array_interface__["data"][0] % 64 == 0):
            b = self._staging.get(index)
            if b is None or b.shape != a.shape or b.dtype != a.dtype:
                buf = np.empty(a.nbytes + 64, np.uint8)
                off = -buf.ctypes.data % 64
                b = self._staging[index] = buf[off:off + a.nbytes].view(a.dtype).reshape(a.shape)
            b[...] = a
            a = b
        try:
            return self._from_dlpack(a)
        except Exception:  # noqa: BLE001 - a dtype DLPack cannot carry: the copying path
            return self._tvm.runtime.tensor(np.ascontiguousarray(a), self._dev)

    def _signature(self) -> str:
        return ", ".join(f"{t.name}: {t.dtype}{list(t.shape)}" for t in self.inputs)

    def run(self, feeds: dict) -> dict[str, np.ndarray]:
        """Run once; inputs are checked against the manifest's names, shapes and dtypes."""
        arrays_in = self._check(feeds)
        with self._lock:
            out = self._call_locked([self._device_tensor(a, i) for i, a in enumerate(arrays_in)])
            outs = [out] if hasattr(out, "numpy") else list(out)
            # The VM allocates outputs afresh on every call, so numpy may own them without a copy;
            # an output that is a staging buffer (an identity model) is copied: the next call
            # would overwrite it.
            arrays = [o.numpy() for o in outs] if self._gpu else [self._own(_to_numpy(o)) for o in outs]
        return check_outputs(self._out_specs, arrays, self._where)

    def _own(self, a: np.ndarray) -> np.ndarray:
        return a.copy() if any(np.may_share_memory(a, b) for b in self._staging.values()) else a

    def _call(self, args: list):
        """main(*args) under the lock; a failure inside the VM is the artifact's (ArtifactError)."""
        with self._lock:
            return self._call_locked(args)

    def _call_locked(self, args: list):
        try:
            return self._main(*args)
        except Exception as e:  # noqa: BLE001 - TVM raises its own types from inside the VM
            msg = str(e).strip().splitlines()
            raise ArtifactError(f"{self._where}: the model failed while running: "
                                f"{msg[-1][:300] if msg else type(e).__name__}") from None

    def time(self, feeds: dict, repeat: int = 20, warmup: int = 3) -> list[float]:
        """Wall-clock seconds of ``repeat`` runs after ``warmup`` (inputs already on device; on a GPU
        each run ends with a device sync, or only the kernel launches would be timed)."""
        args = [self._tvm.runtime.tensor(np.ascontiguousarray(a), self._dev) for a in self._check(feeds)]
        for _ in range(warmup):
            self._call(args)
        if self._gpu:
            self._dev.sync()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            self._call(args)
            if self._gpu:
                self._dev.sync()
            times.append(time.perf_counter() - t0)
        return times


def _runtime_of(path: Path) -> str:
    """The manifest's compile_options.runtime, read only to choose the Session class: the chosen
    class checks the manifest in full (a malformed one is reported there)."""
    import json

    from edgec.errors import EdgecError
    from edgec.runtime.files import MANIFEST_LIMIT, read_bytes

    try:
        opts = json.loads(read_bytes(path / "manifest.json", "manifest", MANIFEST_LIMIT)).get("compile_options") or {}
        return opts.get("runtime", "vm") if isinstance(opts, dict) else "vm"
    except (EdgecError, OSError, ValueError, AttributeError):
        return "vm"


def _to_numpy(o) -> np.ndarray:
    try:
        return np.from_dlpack(o)
    except (TypeError, BufferError, RuntimeError):  # a dtype numpy's DLPack import does not take
        return o.numpy()


def check_feeds(specs: list[TensorSpec], feeds: dict) -> None:
    """Raise InputSpecError unless ``feeds`` has exactly the inputs ``specs`` name, with their
    shapes and dtypes (for paths that do not go through Session.run: reference, emulator)."""
    if not isinstance(feeds, dict):
        raise InputSpecError("inputs must be a dict of input name -> array")
    names = [t.name for t in specs]
    if set(feeds) != set(names):
        raise InputSpecError(f"input names do not match the model: got {sorted(map(str, feeds))}, the model takes {names}")
    for t in specs:
        a = feeds[t.name]
        shape, dtype = tuple(getattr(a, "shape", ())), getattr(a, "dtype", None)
        if not isinstance(a, np.ndarray) or shape != t.shape or dtype != np.dtype(t.dtype):
            raise InputSpecError(f"input '{t.name}' is {dtype}{list(shape)}, the model expects {t.dtype}{list(t.shape)}")


def output_specs(specs: list[TensorSpec]) -> list[tuple[str, tuple[int, ...], np.dtype]]:
    """(name, shape, numpy dtype) per output, computed once for check_outputs."""
    return [(t.name, t.shape, np.dtype(t.dtype)) for t in specs]


def check_outputs(specs: list[tuple[str, tuple[int, ...], np.dtype]], arrays: list, where: str) -> dict[str, np.ndarray]:
    """``{name: array}`` after holding what the library returned to the manifest's promise
    (``output_specs``): count, shapes and dtypes; ~1 us. A mismatch means library and manifest do
    not belong together."""
    if len(arrays) != len(specs):
        raise ArtifactError(f"{where}: the library returned {len(arrays)} output(s), the manifest promises {len(specs)}")
    out = {}
    for (name, shape, dtype), a in zip(specs, arrays):
        if a.shape != shape or a.dtype != dtype:
            raise ArtifactError(f"{where}: output '{name}' is {a.dtype}{list(a.shape)}, the manifest promises "
                                f"{dtype}{list(shape)}")
        out[name] = a
    return out


def load(path: "str | Path", threads: int | None = None) -> Session:
    """Load an artifact directory (hashes checked) for running on this machine."""
    return Session(path, threads=threads)
