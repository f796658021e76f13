"""Link kernels + plan + weights + the model glue into one library with the target's C compiler."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from edgec.compiler.micro.plan import NotPlannable
from edgec.errors import EdgecError, ToolchainError
from edgec.runtime.micro_build import MICRO_SRC, bare_metal_cflags, is_bare_metal, page_size_flags
from edgec.targets import Target

# Only the plan is exported: kernels, glue and the weights stay local to the library, so two
# models (or TVM's own runtime) in one process never bind each other's symbols.
_VERSION_SCRIPT = "{ global: edgec_model_plan; local: *; };\n"


def c_compiler(target: Target) -> str:
    """The C compiler for ``target``: the cross g++ named by its TOML with gcc in its place, or
    the host's cc."""
    if not target.is_cross:
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise ToolchainError("no C compiler (cc) on this machine", hint="apt-get install gcc (make setup does this)")
        return cc
    cxx = target.toolchain.cxx
    cc = cxx[:-3] + "gcc" if cxx.endswith("g++") else cxx
    if not cc or shutil.which(cc) is None:
        # The TOML's package (a cross g++) brings its gcc as a dependency: name what `make setup` installs.
        pkg = target.toolchain.package or "a cross gcc"
        raise ToolchainError(f"cross C compiler '{cc}' for target {target.name} is not installed",
                             hint=f"apt-get install {pkg} (make setup does this)")
    return cc


def archive_model(target: Target, folder: Path, out: Path) -> None:
    """Bare metal: kernels + plan + glue + weights as one static archive (model.a), to link into
    an image with runtime/micro (see edgec/baremetal.py)."""
    cc = c_compiler(target)
    shutil.copy2(MICRO_SRC / "model_glue.c", folder / "model_glue.c")
    objs = []
    for src in ("plan.c", "model_glue.c", "weights.S"):
        obj = src.rsplit(".", 1)[0] + ".o"
        proc = subprocess.run([cc, *bare_metal_cflags(target), "-O2", "-std=c99", "-Wall", "-Wextra", f"-I{MICRO_SRC}",
                               "-c", src, "-o", obj], cwd=folder, capture_output=True, text=True)
        if proc.returncode:
            raise EdgecError(f"compiling the micro model for {target.name} failed:\n{proc.stderr[-2000:]}")
        objs.append(obj)
    ar = cc[:-3] + "ar" if cc.endswith("gcc") else "ar"
    out.unlink(missing_ok=True)
    proc = subprocess.run([ar, "rcs", str(out), "kernels.o", *objs], cwd=folder, capture_output=True, text=True)
    if proc.returncode:
        raise EdgecError(f"archiving the micro model failed: {proc.stderr[-2000:]}")


def link_model(target: Target, folder: Path, out: Path) -> None:
    """folder holds kernels.o, plan.c, weights.S and weights.bin; writes the library ``out``."""
    cc = c_compiler(target)
    (folder / "exports.map").write_text(_VERSION_SCRIPT)
    shutil.copy2(MICRO_SRC / "model_glue.c", folder / "model_glue.c")
    cmd = [cc, "-shared", "-fPIC", "-O2", "-std=c99", "-Wall", "-Wextra", f"-I{MICRO_SRC}", "-o", str(out),
           "kernels.o", "plan.c", "model_glue.c", "weights.S", "-Wl,--version-script=exports.map", "-Wl,--gc-sections", "-Wl,-z,defs",
           "-s", "-lm", *page_size_flags(cc)]
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
    missing = sorted(set(re.findall(r"undefined reference to `([^']+)'", proc.stderr)))
    if proc.returncode and missing:  # a kernel calls into a library the micro runtime does not have
        raise NotPlannable(f"the kernels need {', '.join(missing[:5])}, which only TVM's runtime provides")
    if proc.returncode:
        raise EdgecError(f"linking the micro model library failed ({Path(cc).name}):\n{proc.stderr[-2000:]}")
