"""A short fixed-seed round of tools/fuzz.py (mutated ONNX/TFLite models, tampered artifacts, bad
.npy files for the native runner, bad Session.run inputs, hostile RPC clients): every family runs,
and no case crashes, hangs, ends in exit 70 or a traceback, has a tampered artifact accepted or
runs a manifest's command."""
import json
import subprocess
import sys

from tests.conftest import REPO


def test_short_fuzz_round_finds_nothing(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "fuzz.py"), "--minutes", "0.5", "--seed", "1",
                           "--out", str(tmp_path / "fuzz"), "--json"], capture_output=True, text=True, timeout=600)
    out = proc.stdout
    summary = json.loads(out[out.index("{\n"):])
    assert summary["failures"] == 0 and proc.returncode == 0, out[-4000:] + proc.stderr[-2000:]
    assert set(summary["families"]) == {"onnx", "tflite", "artifact", "native", "session", "rpc"}
    assert summary["cases"] >= 50, summary
