"""Fuzz edgec: mutated models, tampered artifacts, bad .npy files and bad inputs, for N minutes.

    python tools/fuzz.py --minutes 30              # all families, seed 0
    python tools/fuzz.py --cases 2000 --seed 7 --families native,session --json

Families (tools/fuzz_mutate.py makes the cases, tools/fuzz_seeds.py the seed models):
  onnx      mutated ONNX graphs -> `edgec compile` (and sometimes verify / inspect)
  tflite    a TFLite model built with wrong fields, or its bytes mutated -> compile (+ verify)
  artifact  a compiled artifact tampered with -> run / verify / inspect / package
  native    bad .npy files, bad arguments and tampered bundles -> the native runner edgec-run
  session   strange values for Session.run (wrong names, types, shapes, dtypes, layouts)
  rpc       hostile clients of edgec-rpc-server: mangled handshakes, garbage into the RPC loop,
            file names leaving its folder (tools/fuzz_rpc.py); a good client must still be served

Python cases run in a child process (tools/fuzz_worker.py) with a memory cap (--mem-gb) and a
timeout per case; a dead child is a crash, a timeout a hang. A case fails on a crash, a hang, exit
70 or a traceback, a tampered artifact that is not refused (exit 6), or a command from a manifest
being run. Exit 8 (verification failed on a mutated model) is reported, not failed. Failing cases
are kept under OUT/failures/ with their files and a case.json to reproduce them. Exit status 1
when anything failed.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

FAMILIES = {"onnx": 3, "tflite": 2, "artifact": 3, "native": 3, "session": 3, "rpc": 2}  # weights per case
CLEAN = {0, 1, 2, 3, 4, 5, 6, 7, 8}  # exit codes of a correct result or a clear EdgecError
RESTART_EVERY = 250


class Worker:
    """The in-process case runner (tools/fuzz_worker.py) in a child process."""

    def __init__(self, mem_gb: float, log: Path) -> None:
        self.mem_gb, self.log, self.proc, self.count = mem_gb, log, None, 0

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "EDGEC_DEBUG"}
        env |= {"EDGEC_FUZZ_MEM_GB": str(self.mem_gb), "EDGEC_FUZZ_LOG": str(self.log), "TVM_NUM_THREADS": "1",
                "EDGEC_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
        self.proc = subprocess.Popen([sys.executable, str(HERE / "fuzz_worker.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
        self.count = 0
        if self._read(180) != {"ready": True}:
            raise SystemExit(f"fuzz worker did not start (see {self.log})")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def _read(self, timeout: float):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return "hang"
        line = self.proc.stdout.readline()
        return json.loads(line) if line else "crash"

    def run(self, case: dict, timeout: float) -> dict:
        if self.proc is None or self.proc.poll() is not None or self.count >= RESTART_EVERY:
            self.stop()
            self.start()
        self.count += 1
        try:
            self.proc.stdin.write(json.dumps(case) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        res = self._read(timeout)
        if isinstance(res, str):  # crash or hang: the process is done for
            if res == "crash":
                self.proc.wait()
                res = {"rc": "crash", "err": f"worker died: exit {self.proc.returncode}"}
            else:
                res = {"rc": "hang", "err": f"no answer within {timeout:.0f} s"}
            self.stop()
        return res


def classify(res: dict, must_refuse: bool = False) -> str:
    rc, err = res.get("rc"), res.get("err", "") + res.get("out", "")
    if rc in ("crash", "hang"):
        return rc
    if isinstance(rc, int) and rc < 0 or "terminate called" in err or "Aborted" in err or rc in (134, 139):
        return "crash"
    if rc == 70 or "Traceback" in err or "internal error" in err:
        return "traceback"
    if rc not in CLEAN:
        return "bad-exit"
    if must_refuse and rc != 6:
        return "accepted-tampering"
    return "mismatch" if rc == 8 else "ok"


FAILURES = {"crash", "hang", "traceback", "bad-exit", "accepted-tampering", "ran-manifest-command"}


def _cross_ready() -> bool:
    """True when an aarch64 bundle can be made in seconds (its native build is cached): only then
    do tampered manifests retarget to aarch64 (else one case would spend minutes in cmake)."""
    import hashlib

    from edgec.bundle import native_sources_hash
    from edgec.models import cache_dir
    from edgec.targets import load_target

    cxx = load_target("rpi4").toolchain.cxx
    key = hashlib.sha256(f"aarch64 {cxx} {native_sources_hash()}".encode()).hexdigest()[:12]
    return (cache_dir() / "native" / f"aarch64-{key}" / "edgec-run").exists() and shutil.which("qemu-aarch64") is not None


class Fuzzer:
    def __init__(self, args) -> None:
        self.args, self.out = args, Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.worker = Worker(args.mem_gb, self.out / "worker.log")
        self.stats: dict[str, Counter] = defaultdict(Counter)
        self.codes: dict[str, Counter] = defaultdict(Counter)
        self.messages: dict[str, Counter] = defaultdict(Counter)  # first error lines: what the cases reach
        self.failures: list[dict] = []

    # setup ------------------------------------------------------------------------------------
    def setup(self) -> None:
        import onnx

        import edgec
        from edgec.bundle import package
        from edgec.models.tiny import tiny_mlp
        from fuzz_seeds import onnx_seeds

        base = self.out / "base"  # made afresh: a base from an older edgec would fail every case
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        onnx.save(tiny_mlp(), base / "mlp.onnx")
        # Both runtimes edgec.load can pick: edgec's micro runtime (the default for small models; its
        # bundle has a C runner and no TVM) and TVM's VM (its bundle also has edgec-rpc-server).
        self.pairs = []
        for runtime in ("micro", "vm"):
            art = edgec.compile(str(base / "mlp.onnx"), out=base / f"art-{runtime}", runtime=runtime)
            self.pairs.append((art.path, package(art, base / f"bundle-{runtime}", quiet=True).path))
        self.seeds = onnx_seeds()
        self.evil = self.out / "evil.sh"
        self.mark = self.out / "PWNED"
        self.evil.write_text(f"#!/bin/sh\ntouch '{self.mark}'\n")
        self.evil.chmod(0o755)
        self.mark.unlink(missing_ok=True)
        self.cross_ready = _cross_ready()
        from fuzz_rpc import RpcTarget

        self.rpc = RpcTarget(self.pairs[1][1], self.out)

    # families ---------------------------------------------------------------------------------
    def case_onnx(self, r: random.Random, d: Path) -> tuple[list[dict], str, bool]:
        from fuzz_mutate import mutate_onnx

        name, model, extra = r.choice(self.seeds)
        data, note = mutate_onnx(model, r)
        (d / "model.onnx").write_bytes(data)
        return self._compile_cases(d / "model.onnx", d, extra, r), f"{name}: {note}", False

    def case_tflite(self, r: random.Random, d: Path):
        from fuzz_mutate import mutate_tflite

        data, note = mutate_tflite(r)
        (d / "model.tflite").write_bytes(data)
        return self._compile_cases(d / "model.tflite", d, [], r), note, False

    def _compile_cases(self, path: Path, d: Path, extra: list[str], r: random.Random) -> list[dict]:
        if r.random() < 0.15:
            return [{"kind": "cli", "argv": ["inspect", str(path)]}]
        cases = [{"kind": "cli", "argv": ["compile", str(path), "-o", str(d / "art"), "-q", *extra]}]
        if r.random() < 0.3:
            cases.append({"kind": "cli", "argv": ["verify", str(d / "art")], "if_exists": str(d / "art")})
        return cases

    def case_artifact(self, r: random.Random, d: Path):
        from fuzz_mutate import tamper_artifact

        art = r.choice(self.pairs)[0]
        note, must_refuse = tamper_artifact(art, d / "art", r, self.evil, self.cross_ready)
        cmd = r.choices(["run", "verify", "inspect", "package"], weights=[4, 3, 3, 1])[0]
        argv = [cmd, str(d / "art")] + (["-o", str(d / "bundle")] if cmd == "package" else [])
        if cmd == "verify":
            argv += ["--model", str(art.parent / "mlp.onnx")]
        return [{"kind": "cli", "argv": argv}], f"{cmd}: {note}", must_refuse

    def case_session(self, r: random.Random, d: Path):
        art = r.choice(self.pairs)[0]
        return [{"kind": "session", "artifact": str(art), "seed": r.randrange(1 << 30)}], f"session {art.name}", False

    def case_native(self, r: random.Random, d: Path):
        """Returns argv lists for edgec-run (run here, not in the worker)."""
        import numpy as np

        from fuzz_mutate import mutate_npy, tamper_artifact

        np.save(d / "good.npy", np.ones((4, 64), np.float32))
        (d / "out").mkdir()
        kind = r.randrange(3)
        art, bundle = r.choice(self.pairs)
        lib, must_refuse = str(bundle / "model.so"), False
        inputs = ["--input", str(d / "good.npy")]
        args = ["--output-dir", str(d / "out")]
        if kind == 0:
            data, note = mutate_npy(r)
            (d / "bad.npy").write_bytes(data)
            inputs = ["--input", str(d / "bad.npy")]
        elif kind == 1:
            opt = r.choice(["--repeat", "--threads", "--output-dir", "--input", "--bogus"])
            val = r.choice(["-1", "0", "1", "3", "1000000001", "9" * 30, "x", "", str(d / "missing"), str(d / "good.npy"),
                            str(d), "/dev/null", "/proc/self/mem"])
            args = [opt, val] if r.random() < 0.9 else [opt]
            note = f"args {args}"
        else:
            note, must_refuse = tamper_artifact(art, d / "b", r, self.evil)
            for f in ("libtvm_runtime.so", "libtvm_ffi.so", "libedgec_runtime.so", "edgec-run"):
                if (bundle / f).exists():
                    os.symlink(bundle / f, d / "b" / f)
            lib = str(d / "b" / "model.so")
            note = f"bundle {note}"
        return [[str(bundle / "edgec-run"), lib, *inputs, *args]], f"{bundle.name} {note}", must_refuse

    def case_rpc(self, r: random.Random, d: Path):
        from fuzz_rpc import make_plan

        plan = make_plan(r, r.randrange(1 << 30))
        return [{"kind": "rpc", "plan": plan}], f"rpc {plan['kind']}", False

    # running ----------------------------------------------------------------------------------
    def run_case(self, family: str, index: int) -> None:
        r = random.Random(self.args.seed * 1_000_003 + index)
        d = self.out / "cases" / f"{family}-{index}"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        cases, note, must_refuse = getattr(self, f"case_{family}")(r, d)
        verdicts, results = [], []
        for c in cases:
            if isinstance(c, list):
                res = self._native(c, d)
            elif c["kind"] == "rpc":
                res = self.rpc.run(c["plan"])
            else:
                if c.get("if_exists") and not Path(c["if_exists"]).exists():
                    continue
                timeout = 300 if c.get("argv", [""])[0] in ("compile", "verify", "package") else 60
                res = self.worker.run({"id": index, **c}, timeout)
            results.append(res)
            verdicts.append(classify(res, must_refuse))
            self.codes[family][str(res.get("rc"))] += 1
            first = next((ln for ln in str(res.get("err", "")).splitlines() if ln.startswith("error:")), "")
            self.messages[family][first.replace(str(d), "<case>").replace(str(self.out), "<out>")[:90]] += 1
        if self.mark.exists():
            verdicts.append("ran-manifest-command")
            self.mark.unlink()
        worst = next((v for v in verdicts if v in FAILURES), "mismatch" if "mismatch" in verdicts else "ok")
        self.stats[family]["cases"] += 1
        self.stats[family][worst] += 1
        if worst in FAILURES or worst == "mismatch":
            keep = self.out / "failures" / f"{family}-{index}"
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(d, keep, symlinks=True)
            rec = {"family": family, "index": index, "seed": self.args.seed, "verdict": worst, "note": note,
                   "cases": cases, "results": results}
            (keep / "case.json").write_text(json.dumps(rec, indent=2, default=str))
            if worst in FAILURES:
                self.failures.append(rec)
                print(f"FAIL {worst} {family}-{index}: {note}\n  {str(results[-1].get('err'))[-300:]}", flush=True)
        shutil.rmtree(d, ignore_errors=True)

    def _native(self, argv: list[str], d: Path) -> dict:
        try:
            p = subprocess.run(argv, cwd=d, capture_output=True, text=True, timeout=60, env={},
                               errors="replace")
            return {"rc": p.returncode, "err": p.stderr[-2000:], "out": p.stdout[-500:]}
        except subprocess.TimeoutExpired:
            return {"rc": "hang", "err": "edgec-run did not finish within 60 s"}

    def replay(self, folder: Path) -> int:
        """Run the kept failures of an earlier run again (their files were kept with them); the
        number that still fail."""
        still = 0
        for rec_path in sorted((folder / "failures").glob("*/case.json")):
            rec = json.loads(rec_path.read_text())
            if rec["verdict"] == "mismatch":
                continue
            here, was = str(rec_path.parent), str(folder / "cases" / rec_path.parent.name)
            verdicts = []
            for c in rec["cases"]:
                # this edgec's base (artifacts, bundles, runners) instead of the one the case ran with
                c = json.loads(json.dumps(c).replace(was, here).replace(str(folder / "base"), str(self.out / "base")))
                res = (self._native(c, rec_path.parent) if isinstance(c, list) else self.rpc.run(c["plan"])
                       if c["kind"] == "rpc" else self.worker.run({"id": 0, **c}, 300))
                verdicts.append(classify(res, must_refuse=rec["verdict"] == "accepted-tampering"))
            bad = [v for v in verdicts if v in FAILURES]
            still += bool(bad)
            print(f"{rec_path.parent.name}: was {rec['verdict']}, now {bad[0] if bad else 'ok'}", flush=True)
        self.worker.stop()
        self.rpc.stop()
        return still

    def loop(self) -> None:
        fams = [f for f in self.args.families.split(",") if f]
        unknown = set(fams) - set(FAMILIES)
        if unknown:
            raise SystemExit(f"unknown families {sorted(unknown)}; known: {sorted(FAMILIES)}")
        sched = random.Random(self.args.seed)
        deadline = time.monotonic() + self.args.minutes * 60 if self.args.minutes else float("inf")
        index = 0
        # every family at least once, then by weight
        order = list(fams)
        while time.monotonic() < deadline and (not self.args.cases or index < self.args.cases):
            family = order.pop(0) if order else sched.choices(fams, weights=[FAMILIES[f] for f in fams])[0]
            self.run_case(family, index)
            index += 1
            if index % 100 == 0 and not self.args.json:
                print(f"[fuzz] {index} cases, {len(self.failures)} failures", flush=True)
        self.worker.stop()
        self.rpc.stop()

    def summary(self) -> dict:
        total = Counter()
        for c in self.stats.values():
            total.update(c)
        return {"seed": self.args.seed, "cases": total["cases"], "failures": len(self.failures),
                "crashes": total["crash"], "hangs": total["hang"], "tracebacks": total["traceback"],
                "accepted_tampering": total["accepted-tampering"], "ran_manifest_command": total["ran-manifest-command"],
                "bad_exit": total["bad-exit"], "mismatches": total["mismatch"],
                "families": {f: dict(c) for f, c in self.stats.items()},
                "exit_codes": {f: dict(c) for f, c in self.codes.items()},
                "top_errors": {f: dict(c.most_common(8)) for f, c in self.messages.items()},
                "rpc_sessions_ended_by_signal": self.rpc.session_signals(), "out": str(self.out)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=0.0, help="stop after this long (default: --cases)")
    ap.add_argument("--cases", type=int, default=0, help="stop after this many cases")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--mem-gb", type=float, default=4.0, help="address-space cap of the worker (0: none)")
    ap.add_argument("--out", default=None, help="work folder (default /tmp/edgec-fuzz-SEED); failures kept there")
    ap.add_argument("--nice", type=int, default=19, help="run at this niceness (shared machines)")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--replay", default=None, help="re-run the failures kept in an earlier run's folder")
    args = ap.parse_args(argv)
    if not args.minutes and not args.cases:
        args.minutes = 5.0
    args.out = args.out or f"/tmp/edgec-fuzz-{args.seed}"
    if args.nice:
        os.nice(args.nice)
    fz = Fuzzer(args)
    fz.setup()
    if args.replay:
        return 1 if fz.replay(Path(args.replay)) else 0
    t0 = time.monotonic()
    try:
        fz.loop()
    finally:
        fz.worker.stop()
        fz.rpc.stop()
    s = fz.summary() | {"seconds": round(time.monotonic() - t0, 1)}
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        print(f"{s['cases']} cases in {s['seconds']} s: {s['crashes']} crashes, {s['hangs']} hangs, "
              f"{s['tracebacks']} tracebacks/exit 70, {s['accepted_tampering']} accepted tamperings, "
              f"{s['ran_manifest_command']} manifest commands run, {s['bad_exit']} other exits, "
              f"{s['mismatches']} verify mismatches (reported)")
        for f, c in s["families"].items():
            print(f"  {f:<9} {dict(c)}  exit codes {s['exit_codes'].get(f)}")
    return 1 if s["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
