#!/usr/bin/env python3
"""Int8 accuracy on real models and data made here, float vs int8: digits top-1, PP-OCRv4 rec
character error rate on rendered text lines, PP-OCRv4 det IoU of binarized text maps on rendered
pages, PP-OCR cls accuracy. Each int8 model is run twice: by ONNX Runtime running the QDQ model as
written (DequantizeLinear -> float op -> QuantizeLinear, optimizations off: the model's own
accuracy, the same on every CPU -- ORT's fused int8 kernels saturate on AVX2 without VNNI, see
edgec/reference.py) and by edgec (the QDQ model compiled for this host: int8 kernels, speed guard on).

    python tools/quant_eval.py [--method minmax|percentile|entropy] [--calib 32] [--no-edgec]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import onnx
from edgec.reference import ort_runner as _ort

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="minmax")
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("--out", default=str(REPO / "bench-results" / "quant.json"))
    ap.add_argument("--no-edgec", action="store_true", help="only ONNX Runtime on the QDQ models")
    a = ap.parse_args()
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="edgec-quant-eval-"))

    def _edgec(model, name, drop=False):
        """run(feeds) -> first output of ``model`` compiled by edgec for this host."""
        import edgec

        sess = edgec.compile(model, out=tmp / name, force=True, drop_fake_quant=drop).load()
        return lambda feeds: next(iter(sess.run(feeds).values()))

    from edgec.compiler.quantize import Int8Options, quantize
    from edgec.models import digits, fetch, ocr_eval, samples
    from edgec.optimize import cleaned_onnx

    opts = Int8Options(method=a.method)
    rows = {}
    m = onnx.load(digits.MODEL)
    q = quantize(m, "int8", digits.calibration_set(128), opts).model
    rows["digits"] = {"float_top1": digits.accuracy(_ort(m)), "int8_top1": digits.accuracy(_ort(q))}
    if not a.no_edgec:
        rows["digits"]["edgec_int8_top1"] = digits.accuracy(_edgec(q, "digits"))
    print(f"[quant_eval] digits {rows['digits']}", file=sys.stderr, flush=True)

    rec, _ = cleaned_onnx("ppocr-rec")
    charset = ocr_eval.rec_charset(onnx.load(fetch("ppocr-rec", quiet=True)))
    calib = ocr_eval.calibration_feeds("ppocr-rec", a.calib)
    qrec = quantize(rec, "int8", calib, opts).model
    data = ocr_eval.rec_dataset(300)
    rows["ppocr-rec"] = {"float_cer": ocr_eval.cer(_ort(rec), data, charset), "int8_cer": ocr_eval.cer(_ort(qrec), data, charset)}
    if not a.no_edgec:
        rows["ppocr-rec"]["edgec_int8_cer"] = ocr_eval.cer(_edgec(qrec, "rec"), data, charset)
        rows["ppocr-rec"]["edgec_int8_dropfq_cer"] = ocr_eval.cer(_edgec(qrec, "rec-d", True), data, charset)
    print(f"[quant_eval] rec {rows['ppocr-rec']}", file=sys.stderr, flush=True)

    det, _ = cleaned_onnx("ppocr-det")
    pages = [{"x": samples.text_page((1, 3, 640, 640), seed=s)} for s in range(a.calib // 4 + 4)]
    qdet = quantize(det, "int8", pages[4:], opts).model
    rows["ppocr-det"] = {"iou_int8_vs_float": ocr_eval.det_iou(_ort(det), _ort(qdet), pages[:4])}
    if not a.no_edgec:
        rows["ppocr-det"]["edgec_iou_int8_vs_float"] = ocr_eval.det_iou(_ort(det), _edgec(qdet, "det"), pages[:4])
        rows["ppocr-det"]["edgec_iou_int8_dropfq_vs_float"] = ocr_eval.det_iou(_ort(det), _edgec(qdet, "det-d", True),
                                                                               pages[:4])
    print(f"[quant_eval] det {rows['ppocr-det']}", file=sys.stderr, flush=True)

    cls, _ = cleaned_onnx("ppocr-cls")
    cdata = ocr_eval.cls_dataset(200)
    qcls = quantize(cls, "int8", ocr_eval.calibration_feeds("ppocr-cls", a.calib), opts).model
    rows["ppocr-cls"] = {"float_top1": ocr_eval.cls_accuracy(_ort(cls), cdata), "int8_top1": ocr_eval.cls_accuracy(_ort(qcls), cdata),
                         "agreement": ocr_eval.agreement(_ort(cls), _ort(qcls), cdata)}
    if not a.no_edgec:
        rows["ppocr-cls"]["edgec_int8_top1"] = ocr_eval.cls_accuracy(_edgec(qcls, "cls"), cdata)
        rows["ppocr-cls"]["edgec_int8_dropfq_top1"] = ocr_eval.cls_accuracy(_edgec(qcls, "cls-d", True), cdata)
    print(json.dumps(rows, indent=2))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
