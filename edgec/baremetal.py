"""Run a bare-metal micro artifact (model.a) here: link it with runtime/micro into an image for an
Arm MPS2 board, run it once under qemu-system-arm, read the outputs it prints over semihosting.

The inputs are compiled into the image (a microcontroller has no file system); outputs come back
as hex bytes, exactly. Correctness only: qemu's timing says nothing about a microcontroller.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from edgec.errors import ArtifactError, ToolchainError
from edgec.runtime.micro_build import MICRO_SRC, bare_metal_cflags
from edgec.targets import trusted_tools

# cpu -> (qemu machine, linker script): boards qemu-system-arm models
BOARDS = {"cortex-m33": ("mps2-an505", "mps2_an505.ld")}
TIMEOUT_S = 300


def _tools(target: dict) -> tuple[str, list[str]]:
    """gcc and the qemu command from edgec's own target database (never from the manifest)."""
    known = trusted_tools(target)
    cpu = str(target.get("cpu", ""))
    if known is None or cpu not in BOARDS:
        raise ToolchainError(f"edgec has no emulated board for {cpu or target.get('triple')!r} "
                             f"(known: {', '.join(BOARDS)})")
    cc = known.toolchain.cxx.replace("g++", "gcc")
    for tool, pkg in ((cc, known.toolchain.package), (known.emulator.command, known.emulator.package)):
        if shutil.which(tool) is None:
            raise ToolchainError(f"'{tool}' is not installed", hint=f"apt-get install {pkg} (make setup does this)")
    machine = BOARDS[cpu][0]
    return cc, [known.emulator.command, "-machine", machine, "-cpu", cpu, "-nographic", "-monitor", "none",
                "-serial", "none", "-semihosting-config", "enable=on,target=native"]


def runtime_code_bytes(target: dict) -> int:
    """Bytes of code and data the micro runtime itself adds to a microcontroller image
    (``runtime.c`` + ``pool.c`` as the image compiles them; the model's kernels, plan and weights
    excluded): what `edgec bench` reports as the runtime on a bare-metal target."""
    known = trusted_tools(target)
    if known is None:
        raise ToolchainError(f"edgec knows no compiler for {target.get('triple')!r}")
    cc = known.toolchain.cxx.replace("g++", "gcc")
    size = cc[:-3] + "size" if cc.endswith("gcc") else "size"
    total = 0
    with tempfile.TemporaryDirectory(prefix="edgec-bm-size-") as tmp:
        for src in ("runtime.c", "pool.c"):
            obj = Path(tmp) / (src + ".o")
            proc = subprocess.run([cc, *bare_metal_cflags(target), "-O2", "-std=c99", "-DEDGEC_BARE_METAL",
                                   f"-I{MICRO_SRC}", "-c", str(MICRO_SRC / src), "-o", str(obj)],
                                  capture_output=True, text=True)
            if proc.returncode:
                raise ToolchainError(f"compiling runtime/micro/{src} for {target.get('cpu')} failed:\n{proc.stderr[-1000:]}")
            out = subprocess.run([size, str(obj)], capture_output=True, text=True, check=True).stdout
            text, data = out.splitlines()[1].split()[:2]  # text data bss dec hex filename
            total += int(text) + int(data)
    return total


def _input_source(arrays: list[np.ndarray]) -> str:
    lines = []
    for i, a in enumerate(arrays):
        data = np.ascontiguousarray(a).tobytes() or b"\0"
        lines.append(f"static const unsigned char in{i}[] __attribute__((aligned(64))) = {{"
                     + ",".join(map(str, data)) + "};")
    names = ", ".join(f"in{i}" for i in range(len(arrays))) or "0"
    return "\n".join(lines) + f"\nconst unsigned char* const edgec_input_data[] = {{{names}}};\n"


def build_image(art, arrays: list[np.ndarray], folder: Path) -> tuple[Path, list[str]]:
    """The ELF image running ``art`` on ``arrays``; returns it and the qemu command."""
    target = art.manifest.target
    cc, qemu = _tools(target)
    (folder / "edgec_input.c").write_text(_input_source(arrays))
    bm = MICRO_SRC / "baremetal"
    image = folder / "image.elf"
    cmd = [cc, *bare_metal_cflags(target), "-O2", "-std=c99", "-DEDGEC_BARE_METAL", f"-I{MICRO_SRC}",
           "-T", str(bm / BOARDS[target["cpu"]][1]), "-nostartfiles", "--specs=rdimon.specs",
           "-Wl,--no-warn-rwx-segments", "-Wl,--gc-sections", "-o", str(image), str(folder / "edgec_input.c"),
           str(MICRO_SRC / "runtime.c"), str(MICRO_SRC / "pool.c"), str(bm / "startup.c"), str(bm / "main.c"),
           str(art.library), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise ArtifactError(f"linking the bare-metal image failed:\n{proc.stderr[-2000:]}")
    return image, qemu + ["-kernel", str(image)]


def run_baremetal(art, feeds: dict) -> dict[str, np.ndarray]:
    from edgec.runtime.session import check_feeds, check_outputs, output_specs

    check_feeds(art.manifest.inputs, feeds)
    arrays = [feeds[t.name] for t in art.manifest.inputs]
    with tempfile.TemporaryDirectory(prefix="edgec-bm-") as tmp:
        _, cmd = build_image(art, arrays, Path(tmp))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ArtifactError(f"the bare-metal image did not finish within {TIMEOUT_S} s under qemu") from None
    lines = proc.stdout.splitlines()
    if proc.returncode or "edgec-done" not in lines:
        raise ArtifactError(f"the bare-metal image failed (exit {proc.returncode}): {(proc.stdout + proc.stderr)[-500:]}")
    outs = []
    for line in lines:
        if line.startswith("output "):
            _, _, dtype, hexdata = line.split(" ", 3)
            outs.append(np.frombuffer(bytes.fromhex(hexdata), dtype=np.dtype(dtype)))
    specs = output_specs(art.manifest.outputs)
    shaped = [o.reshape(s[1]) if o.size == int(np.prod(s[1])) else o for o, s in zip(outs, specs)]
    return check_outputs(specs, shaped, f"artifact {art.path}")
