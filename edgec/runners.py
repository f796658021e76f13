"""Runners: the one interface every way of running an artifact goes through, returning one
RunResult (outputs, per-run times, where it ran). `edgec run`, `edgec verify` and `edgec bench`
pick one with ``runner_for``:

  InProcessRunner  edgec.runtime.Session in this process (the host)
  BundleRunner     the device bundle's native runner (edgec-run) in a child process, under
                   qemu-user for a cross-compiled artifact (emulated: correctness only, its
                   timings are never reported as device latency)
  RPCRunner        a device running edgec-rpc-server (or a TVM RPC tracker), over TVM RPC
  BareMetalRunner  a microcontroller image under qemu-system-arm (edgec/baremetal.py)
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgec.benchmark import LatencyStats, summarize
from edgec.errors import ArtifactError, ToolchainError, UserInputError
from edgec.models import cache_dir
from edgec.runtime.artifact import Artifact
from edgec.runtime.host import is_foreign
from edgec.targets import trusted_tools


def emulator_command(target: dict) -> list[str]:
    """qemu-user and its sysroot for a foreign artifact, from edgec's own target database (the
    manifest's target only says which architecture): an artifact never chooses a command."""
    if not is_foreign(target):
        return []
    known = trusted_tools(target)
    emu = known.emulator if known else None
    if not emu or not emu.command:
        raise ToolchainError(f"edgec knows no emulator for {target.get('triple')!r} (target {target.get('name')!r}); "
                             "run the bundle on the device")
    if shutil.which(emu.command) is None:
        raise ToolchainError(f"emulator '{emu.command}' is not installed",
                             hint=f"apt-get install {emu.package or 'qemu-user'} (make setup does this)")
    return [emu.command] + (["-L", emu.sysroot] if emu.sysroot else [])


def bundle_for(art: Artifact, quiet: bool = True) -> Path:
    """The artifact's device bundle, built once and cached by the manifest's hash."""
    from edgec.bundle import native_sources_hash, package

    manifest = (art.path / "manifest.json").read_bytes()  # checked by Artifact.open
    from edgec.runtime.micro_build import sources_hash

    key = hashlib.sha256(manifest + native_sources_hash().encode() + sources_hash().encode()).hexdigest()[:16]
    out = cache_dir() / "bundles" / key
    if not (out / "edgec-run").exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        package(art, out, force=True, quiet=quiet)
    return out


@dataclass
class RunResult:
    outputs: dict[str, np.ndarray]
    where: str  # "host", "native", "emulated (qemu-aarch64)", "rpc HOST:PORT"
    times_s: list[float] = field(default_factory=list)  # one per timed run
    peak_memory_mb: float | None = None  # the native runner's peak RSS
    emulated: bool = False  # times measure the emulator, not the device

    @property
    def latency(self) -> LatencyStats | None:
        """Statistics of the timed runs; None when nothing was timed or the run was emulated."""
        return summarize(self.times_s) if self.times_s and not self.emulated else None


class Runner:
    """Runs one artifact: ``run(feeds, repeat)`` checks the feeds against the manifest, returns
    the outputs of one run (held to the manifest) and, with ``repeat``, the times of that many
    more runs after warm-up."""

    where = ""

    def __init__(self, art: Artifact) -> None:
        self.art = art

    def run(self, feeds: dict, repeat: int = 0) -> RunResult:
        raise NotImplementedError


class InProcessRunner(Runner):
    where = "host"

    def __init__(self, art: Artifact, threads: int | None = None) -> None:
        super().__init__(art)
        self.session = art.load(threads=threads)

    def run(self, feeds: dict, repeat: int = 0) -> RunResult:
        outputs = self.session.run(feeds)
        return RunResult(outputs, self.where, self.session.time(feeds, repeat=repeat) if repeat else [])


class BundleRunner(Runner):
    """edgec-run from the artifact's device bundle; under qemu-user when the artifact is foreign
    (or ``emulate``), natively otherwise."""

    def __init__(self, art: Artifact, threads: int | None = None, emulate: bool = False) -> None:
        super().__init__(art)
        self.threads = threads
        self.emulated = emulate or is_foreign(art.manifest.target)
        self.prefix = emulator_command(art.manifest.target) if self.emulated else []
        self.where = f"emulated ({(self.prefix or ['natively'])[0]})" if self.emulated else "native"

    def run(self, feeds: dict, repeat: int = 0) -> RunResult:
        from edgec.runtime.session import check_feeds
        from edgec.runtime.threads import configure_threads

        art = self.art
        check_feeds(art.manifest.inputs, feeds)
        bundle = bundle_for(art)
        with tempfile.TemporaryDirectory(prefix="edgec-run-") as tmp:
            cmd = self.prefix + [str(bundle / "edgec-run"), str(bundle / art.manifest.library)]
            for i, spec in enumerate(art.manifest.inputs):
                np.save(Path(tmp) / f"in{i}.npy", np.ascontiguousarray(feeds[spec.name]))
                cmd += ["--input", str(Path(tmp) / f"in{i}.npy")]
            cmd += ["--output-dir", tmp]
            if repeat:
                cmd += ["--repeat", str(repeat)]
            threads = self.threads if self.emulated else configure_threads(self.threads)
            if threads:
                cmd += ["--threads", str(threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                raise ArtifactError(f"the device runner failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
            outputs = _read_outputs(art, Path(tmp))
        res = RunResult(outputs, self.where, emulated=self.emulated)
        if repeat:
            timing = json.loads(proc.stdout.strip().splitlines()[-1])
            res.times_s = [ms / 1e3 for ms in timing["times_ms"]]  # both edgec-run's (native, micro) print them
            peak_kb = timing.get("peak_rss_kb", -1)  # the runner's own VmHWM: ru_maxrss would count our fork
            res.peak_memory_mb = peak_kb / 1024.0 if peak_kb > 0 else None
        return res


class RPCRunner(Runner):
    """The artifact's library uploaded to a device over TVM RPC (edgec-rpc-server, or a device a
    tracker hands out under ``key``) and run there."""

    def __init__(self, art: Artifact, rpc: str | None = None, tracker: str | None = None, key: str = "edgec") -> None:
        super().__init__(art)
        self.rpc, self.tracker, self.key = rpc, tracker, key
        self.where = f"rpc {tracker or rpc}"

    def run(self, feeds: dict, repeat: int = 0) -> RunResult:
        from edgec.runtime.rpc import connect, run_remote
        from edgec.runtime.session import check_feeds

        check_feeds(self.art.manifest.inputs, feeds)
        remote = connect(self.rpc, self.tracker, self.key)
        what = f"running {self.art.path.name} ({self.art.manifest.target.get('name')})"
        return run_remote(what, lambda: self._measure(remote, feeds, repeat))

    def _measure(self, remote, feeds: dict, repeat: int) -> RunResult:
        import tvm
        import tvm.runtime.vm

        art = self.art
        remote.upload(str(art.library))
        dev = remote.cpu()
        vm = tvm.runtime.vm.VirtualMachine(remote.load_module(art.manifest.library), dev)
        args = [tvm.runtime.tensor(feeds[s.name], dev) for s in art.manifest.inputs]
        out = vm["main"](*args)
        outs = [out] if hasattr(out, "numpy") else list(out)
        res = RunResult({o.name: v.numpy() for o, v in zip(art.manifest.outputs, outs)}, self.where)
        if repeat:
            res.times_s = list(vm.time_evaluator("main", dev, number=1, repeat=repeat, min_repeat_ms=0)(*args).results)
        return res


class BareMetalRunner(Runner):
    """A microcontroller artifact (model.a) linked into an image with runtime/micro and run once
    under qemu-system-arm (edgec/baremetal.py): correctness only, no timing."""

    where = "emulated (qemu-system-arm)"

    def run(self, feeds: dict, repeat: int = 0) -> RunResult:
        from edgec.baremetal import run_baremetal

        return RunResult(run_baremetal(self.art, feeds), self.where, emulated=True)


def runner_for(art: Artifact, *, threads: int | None = None, emulate: bool = False, native: bool = False,
               rpc: str | None = None, tracker: str | None = None, key: str = "edgec") -> Runner:
    """The runner for ``art``: over RPC when given an address, the bundle's native runner for a
    foreign artifact (emulated), with ``emulate`` or with ``native`` (a child process, its peak
    memory measured), else in this process."""
    from edgec.runtime.micro_build import is_bare_metal

    if rpc or tracker:
        if art.manifest.compile_options.get("runtime") == "micro":
            raise UserInputError(f"{art.path} is a micro-runtime artifact: an RPC server runs TVM modules only "
                                 "(a micro bundle carries edgec-run, no server)",
                                 hint="compile it with --runtime vm to run it over RPC (edgec bench --rpc/--tracker "
                                      "does this itself)")
        return RPCRunner(art, rpc, tracker, key)
    if is_bare_metal(str(art.manifest.target.get("triple", ""))):
        return BareMetalRunner(art)
    if emulate or native or is_foreign(art.manifest.target):
        return BundleRunner(art, threads, emulate)
    return InProcessRunner(art, threads)


def run_bundle(art: Artifact, feeds: dict, repeat: int = 0, threads: int | None = None) -> tuple[dict, list[float]]:
    """(outputs, per-run seconds) from the bundle's runner (under qemu for a cross target)."""
    res = BundleRunner(art, threads).run(feeds, repeat)
    return res.outputs, res.times_s


def run_emulated(art: Artifact, feeds: dict) -> dict:
    return runner_for(art, emulate=True).run(feeds).outputs


def _read_outputs(art: Artifact, folder: Path) -> dict[str, np.ndarray]:
    """The runner's N.npy files, held to the manifest's output count, shapes and dtypes."""
    from edgec.runtime.session import check_outputs, output_specs

    written = sorted(p.name for p in folder.glob("[0-9]*.npy"))
    arrays = []
    for i in range(len(written)):
        try:
            arrays.append(np.load(folder / f"{i}.npy", allow_pickle=False))
        except (OSError, ValueError) as e:
            raise ArtifactError(f"the device runner wrote an unreadable output {i}.npy: {e}") from None
    return check_outputs(output_specs(art.manifest.outputs), arrays, f"artifact {art.path}")
