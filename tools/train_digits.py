#!/usr/bin/env python3
"""Train the digits classifier used to evaluate quantization and pruning, and export it to ONNX.

scikit-learn's bundled 8x8 digits (1,797 images, no download): an MLP 64-256-128-10 trained with
sklearn, written as a plain ONNX graph (MatMul+Add+Relu ... Softmax) so edgec, ONNX Runtime and
the pruning/quantization passes all see ordinary operators. The split is fixed (seed 0, 25% test)
and shared with the evaluation code (edgec.models.digits).

    python tools/train_digits.py            # writes models/digits_mlp.onnx
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parents[1] / "models" / "digits_mlp.onnx"


def main() -> None:
    from sklearn.neural_network import MLPClassifier

    from edgec.models.digits import load_split

    xtr, xte, ytr, yte = load_split()
    clf = MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=400, random_state=0, alpha=1e-3)
    clf.fit(xtr, ytr)
    print(f"sklearn test accuracy: {clf.score(xte, yte):.4f}")
    nodes, inits, x = [], [], "x"
    for i, (w, b) in enumerate(zip(clf.coefs_, clf.intercepts_)):
        inits += [numpy_helper.from_array(w.astype(np.float32), f"w{i}"), numpy_helper.from_array(b.astype(np.float32), f"b{i}")]
        nodes += [helper.make_node("MatMul", [x, f"w{i}"], [f"mm{i}"], name=f"fc{i}"),
                  helper.make_node("Add", [f"mm{i}", f"b{i}"], [f"z{i}"], name=f"fc{i}_bias")]
        x = f"z{i}"
        if i < len(clf.coefs_) - 1:
            nodes.append(helper.make_node("Relu", [x], [f"h{i}"], name=f"relu{i}"))
            x = f"h{i}"
    nodes.append(helper.make_node("Softmax", [x], ["probs"], axis=-1, name="softmax"))
    g = helper.make_graph(nodes, "digits_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                          [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 10])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgec-tools")
    m.ir_version = 8
    m.metadata_props.append(onnx.StringStringEntryProto(key="preprocessing", value="pixels / 16.0, flattened 8x8"))
    onnx.checker.check_model(m)
    onnx.save(m, OUT)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
