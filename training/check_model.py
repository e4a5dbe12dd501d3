"""Check models/tree-crowns against the engine contract (no training, seconds).

python training/check_model.py [models/tree-crowns]
Needs numpy, onnx, onnxruntime. Exits non-zero with a message on any breach.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "models", "tree-crowns")
    path = os.path.join(d, "tree-crowns.onnx")
    assert os.path.getsize(path) <= 20 * 1024 * 1024, "model over 20 MB"
    m = onnx.load(path)
    onnx.checker.check_model(m)
    opset = max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
    assert opset >= 17, f"opset {opset} < 17"
    meta = {p.key: p.value for p in m.metadata_props}
    with open(os.path.join(d, "model.json")) as f:
        assert f.read() == meta["geoinfer.manifest"], "model.json differs from embedded manifest"
    man = json.loads(meta["geoinfer.manifest"])
    for k in ("name", "version", "classes", "input_width", "input_height", "input_name", "band_order",
              "normalization", "gsd_m", "output_layout", "score_threshold", "iou_threshold"):
        assert k in man, f"manifest lacks {k}"
    assert man["output_layout"] == "yolo" and man["classes"] == ["tree"]
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (inp,), (out,) = s.get_inputs(), s.get_outputs()
    assert inp.name == man["input_name"] == "images", inp.name
    assert inp.shape[1:] == [3, 512, 512] and not isinstance(inp.shape[0], int), inp.shape
    y = s.run(None, {"images": np.zeros((2, 3, 512, 512), np.float32)})[0]
    assert y.shape == (2, 4 + len(man["classes"]), 4096), y.shape
    assert 0.0 <= y[:, 4].min() and y[:, 4].max() <= 1.0
    print(f"ok: {path} opset {opset}, input {inp.name} {inp.shape}, output {out.name} {out.shape}")


if __name__ == "__main__":
    main()
