"""MediaPipe's own CPU kernels for its TFLite custom ops, registered into LiteRT, so that models
using them (face_landmark_with_attention: TransformTensorBilinear, Landmarks2TransformMatrix,
TransformLandmarks; selfie_segmentation: Convolution2DTransposeBias) can be verified against
the reference implementation rather than against a re-implementation of our own.

The kernels are the ones the `mediapipe` wheel ships inside ``mediapipe/python/_framework_bindings``
(its TFLite op resolver). They are not exported, so they are found by name in the library's
symbol table (ELF .symtab) and called through ctypes: each ``Register...()`` returns a static
``TfLiteRegistration``; LiteRT's ``MutableOpResolver::AddCustom`` (also found by symbol) adds it
to the interpreter's resolver through ``InterpreterWithCustomOps(custom_op_registerers=...)``.
TfLiteContext/TfLiteNode/TfLiteTensor are TFLite's stable C structs, which is what makes kernels
built against MediaPipe's TFLite run inside LiteRT's.

Where the library comes from, first found: ``EDGEC_MEDIAPIPE_LIB`` (the .so, or a directory or
wheel holding it), an installed ``mediapipe`` package (located, not imported), or the edgec cache,
filled on first use by ``pip download mediapipe==0.10.14`` (the wheel the zoo's MediaPipe models
come from). Linux x86-64/aarch64 CPython only (the wheel's platforms).
"""
from __future__ import annotations

import ctypes
import glob
import logging
import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from edgec.errors import EdgecError
from edgec.log import shows_progress

log = logging.getLogger(__name__)

MEDIAPIPE_VERSION = "0.10.14"
_LIB_GLOB = "_framework_bindings*.so"

# custom op name -> (registration function's mangled name, op versions that kernel implements)
KERNELS = {
    "Convolution2DTransposeBias": ("_ZN9mediapipe17tflite_operations34RegisterConvolution2DTransposeBiasEv", (1,)),
    "TransformTensorBilinear": ("_ZN9mediapipe17tflite_operations33RegisterTransformTensorBilinearV2Ev", (2,)),
    "Landmarks2TransformMatrix": ("_ZN9mediapipe17tflite_operations36RegisterLandmarksToTransformMatrixV2Ev", (2,)),
    "TransformLandmarks": ("_ZN9mediapipe17tflite_operations28RegisterTransformLandmarksV2Ev", (2,)),
    "MaxPoolingWithArgmax2D": ("_ZN9mediapipe17tflite_operations30RegisterMaxPoolingWithArgmax2DEv", (1,)),
    "MaxUnpooling2D": ("_ZN9mediapipe17tflite_operations22RegisterMaxUnpooling2DEv", (1,)),
}
_ADD_CUSTOM = "_ZN6tflite17MutableOpResolver9AddCustomEPKcPK18TfLiteRegistrationi"
_LITERT_LIB = "libpywrap_litert_common.so"
_LITERT_ANCHOR = "Wrapped_PyInit__pywrap_litert_interpreter_wrapper"  # exported: gives the load bias


class MediaPipeKernelsError(EdgecError):
    exit_code = 7  # a missing tool/library, like a missing toolchain


def custom_ops_of(data: bytes) -> dict[str, set[int]]:
    """Custom op name -> versions, for every custom operator code of a TFLite model."""
    import tflite

    m = tflite.Model.GetRootAsModel(data, 0)
    out: dict[str, set[int]] = {}
    for i in range(m.OperatorCodesLength()):
        code = m.OperatorCodes(i)
        if code.CustomCode():
            out.setdefault(code.CustomCode().decode(errors="replace"), set()).add(int(code.Version() or 1))
    return out


# --- ELF symbol tables -------------------------------------------------------------------------

def elf_symbols(path: Path, names: set[str], dynamic: bool = False) -> dict[str, int]:
    """st_value of each of ``names`` defined in the ELF64 little-endian file's .symtab (or .dynsym)."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise MediaPipeKernelsError(f"{path} is not a 64-bit little-endian ELF library")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    want_type = 11 if dynamic else 2  # SHT_DYNSYM / SHT_SYMTAB
    wanted = {n.encode(): n for n in names}
    found: dict[str, int] = {}
    for sh in sections:
        if sh[1] != want_type:
            continue
        off, size, link, entsize = sh[4], sh[5], sh[6], sh[9] or 24
        str_off = sections[link][4]
        for pos in range(off, off + size, entsize):
            st_name, _info, _other, shndx, value, _size = struct.unpack_from("<IBBHQQ", data, pos)
            if not st_name or not shndx or not value:
                continue
            end = data.index(b"\0", str_off + st_name)
            name = data[str_off + st_name:end]
            if name in wanted:
                found[wanted[name]] = value
    return found


# --- finding MediaPipe's library ---------------------------------------------------------------

def _lib_in(path: Path) -> Path | None:
    if path.is_file() and path.suffix == ".so":
        return path
    if path.is_dir():
        hits = sorted(glob.glob(str(path / "**" / _LIB_GLOB), recursive=True))
        return Path(hits[0]) if hits else None
    return None


def _extract(wheel: Path, dest: Path) -> Path:
    """The library and the mediapipe.libs/ it links against, out of a wheel, into ``dest``."""
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest.parent))
    try:
        with zipfile.ZipFile(wheel) as z:
            members = [n for n in z.namelist() if (n.startswith("mediapipe/python/_framework_bindings")
                                                    or n.startswith("mediapipe.libs/"))]
            if not any(n.startswith("mediapipe/python/") for n in members):
                raise MediaPipeKernelsError(f"{wheel.name} holds no mediapipe/python/{_LIB_GLOB}")
            for n in members:
                z.extract(n, tmp)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _lib_in(dest)


def _cache_dest() -> Path:
    from edgec.models import cache_dir

    py = f"py{sys.version_info[0]}{sys.version_info[1]}"
    return cache_dir() / "mediapipe-kernels" / f"mediapipe-{MEDIAPIPE_VERSION}-{py}"


@shows_progress("quiet")
def fetch_mediapipe_library(quiet: bool = False) -> Path:
    """pip download mediapipe==MEDIAPIPE_VERSION (no deps) and cache its op library."""
    dest = _cache_dest()
    if (lib := _lib_in(dest)) is not None:
        return lib
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info(f"fetching MediaPipe's TFLite kernels: pip download mediapipe=={MEDIAPIPE_VERSION} ...")
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=dest.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
               "-d", tmp, f"mediapipe=={MEDIAPIPE_VERSION}"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            err = (proc.stderr or proc.stdout).strip().splitlines()
            raise MediaPipeKernelsError(
                f"could not download mediapipe=={MEDIAPIPE_VERSION} for its TFLite kernels: "
                f"{err[-1] if err else 'no wheel'}",
                hint="set EDGEC_MEDIAPIPE_LIB to a mediapipe wheel or its _framework_bindings .so")
        return _extract(wheels[0], dest)


def mediapipe_library(fetch: bool = True) -> Path:
    env = os.environ.get("EDGEC_MEDIAPIPE_LIB")
    if env:
        p = Path(env).expanduser()
        lib = _lib_in(p) if not (p.is_file() and p.suffix == ".whl") else None
        if lib is None and p.is_file() and p.suffix == ".whl":
            dest = _cache_dest().with_name(p.stem)
            dest.parent.mkdir(parents=True, exist_ok=True)
            lib = _lib_in(dest) or _extract(p, dest)
        if lib is None:
            raise MediaPipeKernelsError(f"EDGEC_MEDIAPIPE_LIB={env} holds no mediapipe {_LIB_GLOB}")
        return lib
    spec = importlib.util.find_spec("mediapipe")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            if (lib := _lib_in(Path(loc) / "python")) is not None:
                return lib
    if (lib := _lib_in(_cache_dest())) is not None or not fetch:
        if lib is None:
            raise MediaPipeKernelsError("MediaPipe's TFLite kernels are not available")
        return lib
    return fetch_mediapipe_library()


# --- registration ------------------------------------------------------------------------------

class _Registration(ctypes.Structure):
    # TfLiteRegistration: init, free, prepare, invoke, profiling_string, then fields LiteRT's
    # version may have added since MediaPipe's (builtin_code, custom_name, version,
    # registration_external, async_kernel, inplace_operator, ...): zero, with room to spare.
    _fields_ = [("fns", ctypes.c_void_p * 5), ("rest", ctypes.c_uint64 * 16)]


_state: dict = {}


def _load(lib: Path):
    if _state.get("lib") == lib:
        return _state
    try:
        return _load_unchecked(lib)
    except MediaPipeKernelsError:
        raise
    except (OSError, ValueError, AttributeError, struct.error, ImportError) as e:
        raise MediaPipeKernelsError(f"cannot load MediaPipe's TFLite kernels from {lib}: {type(e).__name__}: {e}",
                                    hint="EDGEC_MEDIAPIPE_LIB may point at another mediapipe build; "
                                    f"edgec expects mediapipe {MEDIAPIPE_VERSION}") from None


def _load_unchecked(lib: Path):
    import ai_edge_litert.interpreter  # noqa: F401 - loads LiteRT's library first

    litert = Path(ai_edge_litert.interpreter.__file__).with_name(_LITERT_LIB)
    sym = elf_symbols(litert, {_ADD_CUSTOM, _LITERT_ANCHOR})
    dyn = elf_symbols(litert, {_LITERT_ANCHOR}, dynamic=True)
    if _ADD_CUSTOM not in sym or _LITERT_ANCHOR not in dyn:
        raise MediaPipeKernelsError(f"this LiteRT build ({litert}) does not expose MutableOpResolver::AddCustom")
    handle = ctypes.CDLL(str(litert), mode=os.RTLD_NOLOAD)
    bias = ctypes.cast(getattr(handle, _LITERT_ANCHOR), ctypes.c_void_p).value - dyn[_LITERT_ANCHOR]
    add_custom = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int)(
        bias + sym[_ADD_CUSTOM])

    mp_dyn = elf_symbols(lib, {"PyInit__framework_bindings"}, dynamic=True)
    mp_sym = elf_symbols(lib, {fn for fn, _ in KERNELS.values()})
    if "PyInit__framework_bindings" not in mp_dyn:
        raise MediaPipeKernelsError(f"{lib} is not MediaPipe's _framework_bindings library")
    mp = ctypes.CDLL(str(lib))  # RTLD_LOCAL: its statically linked TFLite/absl/protobuf stay private
    mp_bias = ctypes.cast(mp.PyInit__framework_bindings, ctypes.c_void_p).value - mp_dyn["PyInit__framework_bindings"]
    regs = {}
    for name, (fn, versions) in KERNELS.items():
        if fn not in mp_sym:
            continue
        register = ctypes.CFUNCTYPE(ctypes.c_void_p)(mp_bias + mp_sym[fn])  # returns a static TfLiteRegistration*
        src = ctypes.cast(register(), ctypes.POINTER(ctypes.c_void_p * 5))
        reg = _Registration()
        reg.fns[:] = list(src.contents)
        regs[name] = (reg, versions)
    _state.update(lib=lib, add_custom=add_custom, regs=regs, handles=(handle, mp))
    return _state


def registerer_for(custom: dict[str, set[int]], lib: Path | None = None):
    """A LiteRT ``custom_op_registerers`` entry adding MediaPipe's kernels for the custom ops (and
    versions) in ``custom``; raises when one of them has no MediaPipe kernel."""
    st = _load(lib or mediapipe_library())
    missing = sorted(f"{n} v{v}" for n, vs in custom.items() for v in vs
                     if n not in st["regs"] or v not in st["regs"][n][1])
    if missing:
        raise MediaPipeKernelsError(f"MediaPipe {MEDIAPIPE_VERSION} has no CPU kernel for {', '.join(missing)}")
    names = {n: ctypes.create_string_buffer(n.encode()) for n in custom}
    _state.setdefault("names", []).append(names)  # kept alive: the resolver stores the pointer

    def register(resolver: int) -> None:
        for n, vs in custom.items():
            reg = st["regs"][n][0]
            for v in sorted(vs):
                st["add_custom"](resolver, names[n], ctypes.addressof(reg), v)

    return register


def is_mediapipe_op(name: str) -> bool:
    return name in KERNELS
