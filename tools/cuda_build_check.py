"""Build side of the GPU check: compile CUDA (sm_90) artifacts of the tiny and OCR models into
.dev/arts and save ORT-CPU reference outputs next to them. Then on the GPU machine (runtime only:
the tvm package without libtvm_compiler, tvm-ffi for its Python, the edgec package tree):
    python tools/cuda_run_check.py   # loads each artifact, compares, times (synchronised)
See docs/targets.md for the exact commands used on an H200."""
import time

import numpy as np
import onnx

import edgec
from pathlib import Path
from edgec.models.tiny import TINY
from edgec.reference import ort_runner
from edgec.verification import default_inputs
out = Path(".dev/arts"); out.mkdir(parents=True, exist_ok=True)
models = {"tiny-mlp": TINY["tiny-mlp"](), "tiny-cnn": TINY["tiny-cnn"](batch=1), "tiny-transformer": TINY["tiny-transformer"](),
          "ppocr-cls": "ppocr-cls", "ppocr-rec": "ppocr-rec", "ppocr-det": "ppocr-det"}
for name, m in models.items():
    t0 = time.time()
    art = edgec.compile(m, target="cuda-sm90", out=out / name, force=True)
    feeds = default_inputs(art)
    from edgec.verification import _source_bytes
    fmt, data = _source_bytes(art, m if not isinstance(m, str) else None)
    ref = ort_runner(onnx.load_from_string(data))
    sess_out = {art.manifest.outputs[0].name: ref(feeds)}
    np.savez(out / f"{name}.npz", **{f"x_{k}": v for k, v in feeds.items()}, **{f"y_{k}": v for k, v in sess_out.items()})
    print(name, f"{time.time()-t0:.1f}s", sum(f.stat().st_size for f in (out / name).iterdir()) // 1024, "kB", flush=True)
