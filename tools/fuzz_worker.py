"""tools/fuzz.py's child process: runs cases in-process (TVM and the model zoo stay imported, so a
compile costs ~1 s instead of ~4), one JSON line in and one out per case, under a memory cap.
A crash or hang kills only this process; the parent notices, records the case and starts another.

Case lines: {"id", "kind": "cli", "argv": [...]} runs `edgec ARGV` as the CLI would (exit code,
stdout and stderr captured); {"id", "kind": "session", "artifact", "seed"} calls Session.run with
a strange input (tools/fuzz_mutate.session_feeds).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import random
import resource
import sys
import traceback


def _cli(argv: list[str]) -> dict:
    from edgec.cli import main

    out, err = io.StringIO(), io.StringIO()
    rc = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:  # noqa: BLE001 - main() lets nothing out but SystemExit: this is a finding
            traceback.print_exc()
            rc = 70
    return {"rc": rc, "out": out.getvalue()[-2000:], "err": err.getvalue()[-4000:]}


_SESSIONS: dict = {}


def _session(artifact: str, seed: int) -> dict:
    import edgec
    from edgec.errors import InputSpecError
    from fuzz_mutate import session_feeds

    sess = _SESSIONS.get(artifact) or _SESSIONS.setdefault(artifact, edgec.load(artifact, threads=1))
    spec = sess.inputs[0]
    feeds, note = session_feeds(spec.shape, spec.name, random.Random(seed))
    try:
        out = sess.run(feeds)
        want = {o.name: o.shape for o in sess.outputs}
        ok = {k: tuple(v.shape) for k, v in out.items()} == want
        return {"rc": 0 if ok else 70, "err": "" if ok else f"outputs {out.keys()} do not match {want}", "note": note}
    except InputSpecError as e:
        return {"rc": 5, "err": f"error: {e}", "note": note}
    except BaseException:  # noqa: BLE001 - anything but InputSpecError is a finding
        return {"rc": 70, "err": traceback.format_exc()[-4000:], "note": note}


def main() -> None:
    mem_gb = float(os.environ.get("EDGEC_FUZZ_MEM_GB", "4"))
    if mem_gb > 0:
        cap = int(mem_gb * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    proto = os.fdopen(os.dup(1), "w", buffering=1)  # protocol; stray C-level prints go to the log
    log = os.open(os.environ.get("EDGEC_FUZZ_LOG", os.devnull), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import edgec.compiler.driver  # noqa: F401 - warm: TVM and onnx loaded before the first case

    proto.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        case = json.loads(line)
        res = _cli(case["argv"]) if case["kind"] == "cli" else _session(case["artifact"], case["seed"])
        proto.write(json.dumps({"id": case["id"], **res}) + "\n")


if __name__ == "__main__":
    main()
