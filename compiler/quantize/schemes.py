"""The quantization schemes by name. Adding one: a file with ``fn(model, calib, options, verbose)
-> ModelProto``, an entry here, a test in tests/compiler/test_quantize.py."""
from __future__ import annotations

from edgec.compiler.quantize.options import Int8Options, WeightOptions
from edgec.compiler.registry import Entry, Registry

SCHEMES = Registry("quantization scheme", "--quantize/--mode")
SCHEMES.add(Entry("int8", Int8Options, "edgec.compiler.quantize.int8:quantize_int8",
                  "static post-training int8, QDQ ONNX (calibrated); int8 kernels where the target has them",
                  needs_calib=True))
SCHEMES.add(Entry("int8-weights", WeightOptions, "edgec.compiler.quantize.weights:int8_weights_scheme",
                  "weights stored as int8; compute stays float"))
SCHEMES.add(Entry("fp16", WeightOptions, "edgec.compiler.quantize.weights:fp16_weights_scheme",
                  "weights stored as fp16; compute stays float"))
