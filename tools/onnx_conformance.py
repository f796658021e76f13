"""Run ONNX's backend *node* test cases through edgec (edgec.backend) and report per op.

    python tools/onnx_conformance.py                          # all cases (~30-60 min on 2 cores)
    python tools/onnx_conformance.py --only Conv,Relu --json conf.json
    python tools/onnx_conformance.py --limit 50 --timeout 30 --cases test_relu,test_add

The onnx wheel does not ship the node test data, so the cases are regenerated from onnx's own
case generators (``onnx.backend.test.case.node.collect_testcases``, what
``onnx/backend/test/cmd_tools.py generate-data`` writes to disk). Each case is compiled with
``edgec.compile`` (every graph input fed at run time, shapes pinned from the model's value infos)
and run with ``edgec.load(...).run`` in a forked child with a timeout, then compared with the
expected outputs like onnx's backend runner does (same dtype and shape, ``assert_allclose`` with the
case's rtol/atol: 1e-3 / 1e-7).

Classes: pass; fail (ran, wrong numbers/shape/dtype); error (a clear EdgecError: unsupported
operator, model edgec cannot compile ...); crash (anything else: an internal exception, a signal,
or an EdgecError that only wraps one: "TVM's ONNX importer failed: 'num_heads'"); timeout. "core" cases are those whose op is in the default ONNX domain (ai.onnx). Exit status 0.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter, defaultdict
from pathlib import Path

CLASSES = ("pass", "fail", "error", "crash", "timeout")


def collect(only: set[str] | None = None, names: set[str] | None = None) -> list[dict]:
    """The node test cases: [{name, op, domain, core, model, inputs, outputs, rtol, atol}]."""
    warnings.filterwarnings("ignore")
    import numpy as np  # noqa: F401
    from onnx.backend.test.case import node as node_cases

    cases = node_cases.collect_testcases()
    by_name = dict(node_cases._existing_names)  # base case name -> the NodeProto it tests
    out = []
    for c in cases:
        base = c.name.split("_expanded")[0]
        node = by_name.get(base) or c.model.graph.node[0]
        op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
        if only and node.op_type not in only and op not in only:
            continue
        if names and c.name not in names:
            continue
        inputs, outputs = c.data_sets[0]
        out.append({"name": c.name, "op": op, "domain": node.domain, "core": node.domain in ("", "ai.onnx"),
                    "expanded": "_expanded" in c.name, "model": c.model, "inputs": list(inputs),
                    "outputs": list(outputs), "rtol": c.rtol, "atol": c.atol})
    return out


def _to_numpy(x):
    import numpy as np
    from onnx import TensorProto, numpy_helper

    if isinstance(x, TensorProto):
        return numpy_helper.to_array(x)
    if isinstance(x, (list, tuple)) or x is None:
        return x  # sequences / optionals: edgec refuses these models at compile time
    return np.asarray(x)


def compare(got, expected, rtol: float, atol: float) -> str | None:
    """None when ``got`` matches like onnx's backend runner requires, else what differs."""
    import numpy as np

    if len(got) != len(expected):
        return f"{len(got)} outputs, expected {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        e = _to_numpy(e)
        if not isinstance(e, np.ndarray):
            return f"output {i}: expected a {type(e).__name__}, not a tensor"
        g = np.asarray(g)
        if g.dtype != e.dtype:
            return f"output {i}: dtype {g.dtype}, expected {e.dtype}"
        if g.shape != e.shape:
            return f"output {i}: shape {list(g.shape)}, expected {list(e.shape)}"
        if e.dtype.kind in "OUS":
            if not np.array_equal(g, e):
                return f"output {i}: values differ"
            continue
        try:
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)
        except AssertionError as err:
            lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
            detail = "; ".join(ln for ln in lines if ln.startswith(("Mismatched", "Max absolute", "Max relative")))
            return f"output {i}: values differ ({detail or 'not close'})"
    return None


# An EdgecError that only wraps an internal exception (no op, no node, no way past it) is a crash.
INTERNAL = ("TVM's ONNX importer failed",)


def classify_error(message: str) -> str:
    return "crash" if message.startswith(INTERNAL) else "error"


def run_case(case: dict) -> dict:
    """Compile + run + compare one case (in the child). Returns {cls, message}."""
    from edgec.backend import EdgecBackend
    from edgec.errors import EdgecError

    try:
        rep = EdgecBackend.prepare(case["model"])
        try:
            got = rep.run([_to_numpy(x) for x in case["inputs"]])
        finally:
            rep.close()
    except EdgecError as e:
        return {"cls": classify_error(str(e)), "kind": type(e).__name__, "message": str(e).splitlines()[0][:300]}
    except Exception as e:  # noqa: BLE001 - an internal error is what this tool reports
        tb = traceback.format_exc().strip().splitlines()
        return {"cls": "crash", "kind": type(e).__name__, "message": f"{type(e).__name__}: {e}".splitlines()[0][:300],
                "where": tb[-3].strip() if len(tb) >= 3 else ""}
    diff = compare(list(got), case["outputs"], case["rtol"], case["atol"])
    if diff:
        return {"cls": "fail", "kind": "mismatch", "message": diff[:300]}
    return {"cls": "pass", "kind": "", "message": ""}


def run_forked(case: dict, timeout: float, workdir: Path) -> dict:
    """run_case in a forked child (compiler already imported by the parent) with a timeout."""
    casedir = Path(tempfile.mkdtemp(prefix="case-", dir=workdir))
    log = casedir / "log.txt"
    r, w = os.pipe()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            os.setpgid(0, 0)
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            tempfile.tempdir = str(casedir)
            res = run_case(case)
        except BaseException as e:  # noqa: BLE001
            res = {"cls": "crash", "kind": type(e).__name__, "message": f"{type(e).__name__}: {e}"[:300]}
        data = pickle.dumps(res)
        with os.fdopen(w, "wb") as f:
            f.write(data)
        os._exit(0)
    os.close(w)
    chunks, deadline, res = [], t0 + timeout, None
    with os.fdopen(r, "rb") as f:
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            ready, _, _ = select.select([f], [], [], left)
            if ready:
                b = os.read(f.fileno(), 1 << 16)
                if not b:
                    break
                chunks.append(b)
    if time.perf_counter() >= deadline and not chunks:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        res = {"cls": "timeout", "kind": "timeout", "message": f"no result within {timeout:.0f}s"}
    else:
        _, status = os.waitpid(pid, 0)
        if chunks:
            try:
                res = pickle.loads(b"".join(chunks))
            except Exception:  # noqa: BLE001
                res = None
        if res is None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            sig = -os.waitstatus_to_exitcode(status) if os.WIFSIGNALED(status) else None
            what = f"killed by signal {signal.Signals(sig).name}" if sig else f"exit {os.waitstatus_to_exitcode(status)}"
            res = {"cls": "crash", "kind": "signal" if sig else "exit", "message": f"{what}: {' '.join(tail)}"[:300]}
    res["seconds"] = round(time.perf_counter() - t0, 2)
    shutil.rmtree(casedir, ignore_errors=True)
    return res


def summarize(results: list[dict]) -> dict:
    total = Counter(r["cls"] for r in results)
    core = Counter(r["cls"] for r in results if r["core"])
    by_op: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        by_op[r["op"]][r["cls"]] += 1
    return {"total": len(results), "counts": {c: total[c] for c in CLASSES},
            "core_total": sum(core.values()), "core_counts": {c: core[c] for c in CLASSES},
            "by_op": {op: {c: n[c] for c in CLASSES if n[c]} for op, n in sorted(by_op.items())}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated op types (Conv,Relu,...)")
    ap.add_argument("--cases", help="comma-separated case names (test_relu,...)")
    ap.add_argument("--limit", type=int, help="run at most N cases")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per case (default 30)")
    ap.add_argument("--json", help="write every case's result and the summary here")
    ap.add_argument("--quiet", action="store_true", help="no line per case")
    a = ap.parse_args(argv)

    only = {s.strip() for s in a.only.split(",") if s.strip()} if a.only else None
    names = {s.strip() for s in a.cases.split(",") if s.strip()} if a.cases else None
    cases = collect(only, names)
    if a.limit:
        cases = cases[: a.limit]
    os.environ.setdefault("TVM_NUM_THREADS", "1")
    os.environ.setdefault("EDGEC_NUM_THREADS", "1")
    import edgec.backend  # noqa: F401 - import the compiler once; every child forks with it loaded
    import edgec.compiler.driver  # noqa: F401

    workdir = Path(tempfile.mkdtemp(prefix="edgec-conformance-"))
    results = []
    t0 = time.perf_counter()
    try:
        for i, case in enumerate(cases):
            res = run_forked(case, a.timeout, workdir)
            row = {k: case[k] for k in ("name", "op", "core", "expanded")} | res
            results.append(row)
            if not a.quiet:
                msg = f"  {res['message']}" if res["message"] else ""
                print(f"[{i + 1}/{len(cases)}] {res['cls']:7s} {case['name']} ({res['seconds']}s){msg}", flush=True)
            if a.json and (i + 1) % 50 == 0:  # partial results survive an interrupted run
                _write_json(a.json, results, time.perf_counter() - t0)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    s = summarize(results)
    print("\nper op (pass/total; fail, error, crash, timeout):")
    for op, n in s["by_op"].items():
        tot = sum(n.values())
        rest = ", ".join(f"{c} {n[c]}" for c in CLASSES[1:] if n.get(c))
        print(f"  {op:40s} {n.get('pass', 0):3d}/{tot:<3d} {rest}")
    c, cc = s["counts"], s["core_counts"]
    print(f"\nall cases: {c['pass']}/{s['total']} pass; " + ", ".join(f"{k} {c[k]}" for k in CLASSES[1:]))
    print(f"core (ai.onnx) cases: {cc['pass']}/{s['core_total']} pass; " + ", ".join(f"{k} {cc[k]}" for k in CLASSES[1:]))
    print(f"time: {time.perf_counter() - t0:.0f}s")
    if a.json:
        _write_json(a.json, results, time.perf_counter() - t0)
    return 0


def _write_json(path: str, results: list[dict], seconds: float) -> None:
    import edgec
    import onnx
    import tvm

    doc = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
           "cpus": os.cpu_count(), "versions": {"edgec": edgec.__version__, "onnx": onnx.__version__,
                                                "tvm": tvm.__version__},
           "seconds": round(seconds, 1), "summary": summarize(results), "cases": results}
    Path(path).write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    sys.exit(main())
