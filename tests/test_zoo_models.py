"""The real zoo models compile for the host and match their reference runtime (rel-L2 <= 1e-4).

Slow (each compiles a real model): deselect with -m 'not slow' in the inner loop."""
import pytest

import edgec
from edgec.verification import DEFAULT_RTOL_L2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ppocr-cls", "ppocr-rec", "ppocr-det", "blazeface",
                                  "lcnet-orient",  # MobileNetV3-style classifier (depthwise, SE, hard-swish)
                                  "minilm-l3",  # transformer encoder: int64 token ids + padding mask
                                  "silero-vad",  # LSTM + If on the pinned scalar sr
                                  "silero-vad-seq",  # LSTM over 32 steps
                                  "yolov8n-320",  # C2f/Split, SPPF, nearest upsampling, DFL softmax head
                                  "ddddocr-ocr"])  # CRNN: convs + bidirectional LSTM over 64 steps
def test_zoo_model_compiles_and_verifies(name, tmp_path):
    art = edgec.compile(name, target="host", out=tmp_path / name)
    res = edgec.verify(art)
    assert res.reference == ("litert" if edgec.models.get(name).format == "tflite" else "onnxruntime")
    assert res.rel_l2_error <= DEFAULT_RTOL_L2, res
    assert res.passed


@pytest.mark.slow
def test_rec_int8_is_smaller_keeps_accuracy_and_runs_int8_kernels(tmp_path):
    import onnx
    import tvm

    from edgec.compiler.driver import CompileOptions, import_model
    from edgec.compiler.int8 import dot_isa
    from edgec.sources import resolve_model
    from edgec.compiler.weights import weight_bytes
    from edgec.models import fetch, ocr_eval
    from edgec.optimize import cleaned_onnx
    from edgec.reference import ort_runner

    calib = [f for f, _ in ocr_eval.rec_dataset(32, seed=900)]
    art = edgec.compile("ppocr-rec", out=tmp_path / "q", quantize="int8", calib=calib)
    host = tvm.target.Target({"kind": "llvm", "mcpu": tvm.target.codegen.llvm_get_system_cpu()})
    if dot_isa(host) is not None:
        assert art.manifest.compile_options["int8"]["int8_layers"] >= 25
        fmod, *_ = import_model(resolve_model("ppocr-rec", fetch_quiet=True), CompileOptions())
        assert art.manifest.compile_options["weight_bytes"] <= 0.3 * weight_bytes(fmod)
    assert edgec.verify(art).passed
    charset = ocr_eval.rec_charset(onnx.load(fetch("ppocr-rec", quiet=True)))
    data = ocr_eval.rec_dataset(40)
    sess = art.load()
    cer_q = ocr_eval.cer(lambda f: next(iter(sess.run(f).values())), data, charset)
    cer_f = ocr_eval.cer(ort_runner(cleaned_onnx("ppocr-rec")[0]), data, charset)
    assert cer_q - cer_f <= 0.02, (cer_f, cer_q)
