"""On the GPU machine: load each CUDA artifact with edgec's runtime, compare with ORT-CPU outputs
computed at build time, time it (device-synchronised), write results.json to $OUT."""
import json
import os
import time
import numpy as np
import edgec
from pathlib import Path
res = {}
for npz in sorted(Path(os.environ.get("EDGEC_ARTS", ".dev/arts")).glob("*.npz")):
    name = npz.stem
    d = np.load(npz)
    feeds = {k[2:]: d[k] for k in d.files if k.startswith("x_")}
    try:
        t0 = time.time()
        s = edgec.load(npz.with_suffix(""))
        load_s = time.time() - t0
        out = s.run(feeds)
        errs = {}
        for k in d.files:
            if k.startswith("y_"):
                a, r = out[k[2:]].astype(np.float64), d[k].astype(np.float64)
                errs[k[2:]] = float(np.linalg.norm(a - r) / max(np.linalg.norm(r), 1e-30))
        ts = s.time(feeds, repeat=200 if "det" not in name else 50, warmup=10)
        res[name] = {"rel_l2": errs, "median_ms": 1e3 * float(np.median(ts)), "min_ms": 1e3 * float(np.min(ts)),
                     "load_s": load_s}
    except Exception as e:  # report and go on
        res[name] = {"error": f"{type(e).__name__}: {e}"[:2000]}
    print(name, json.dumps(res[name]), flush=True)
Path(os.environ.get("OUT", ".")).joinpath("results.json").write_text(json.dumps(res, indent=2))
