"""Model importers: ONNX and TFLite into TVM Relax."""
