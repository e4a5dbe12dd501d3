"""Export the trained TreeNet to ONNX with GeoInfer's manifest.

1. Export ExportWrapper (opset 17, dynamic batch, fixed 512x512) and check
   onnxruntime against PyTorch.
2. Pick the recommended score threshold on the TRAINING images only (best F1
   at IoU 0.4 through geoinfer_ref.detect); the held-out images never tune
   anything.
3. Embed the manifest under metadata_props["geoinfer.manifest"] and write the
   same JSON beside the model as model.json.

finetune.py reuses manifest(), export_model() (steps 1-3) and calibrate() with
its own samples, classes and log (its stdout carries JSON lines only).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch

import dataset
import geoinfer_ref
import metrics
from model import ExportWrapper, TreeNet

SIZE = 512
IOU_THRESHOLD = 0.4
MODEL_DIR = os.path.join(dataset.HERE, "..", "models", "tree-crowns")
DEFAULT_DESCRIPTION = (
    "Single-class tree-crown detector for RGB aerial imagery at about 0.1 m/pixel. "
    "Small CenterNet-style network (stride 8, 4096 anchors per 512x512 tile) trained "
    "from scratch on NEON imagery shipped with the deepforest package. Output [B,5,4096]: "
    "cx, cy, w, h in input pixels and a peak-filtered tree score in [0,1]; no NMS inside. "
    "See MODEL_CARD.md.")
DEFAULT_LICENSE = (
    "Model weights: MIT. Training data: NEON AOP imagery and crown labels as shipped in "
    "the deepforest 2.1.0 wheel (MIT, Copyright (c) 2019 Ben Weinstein); NEON data are "
    "released under CC0 1.0.")


def manifest(mean, std, score_threshold: float, iou_threshold: float, *, name: str = "tree-crowns",
             version: str = "1.0.0", classes=("tree",), gsd_m: float = 0.1, band_order=(1, 2, 3),
             scale: float = 1 / 255, description: str = DEFAULT_DESCRIPTION,
             license: str | None = DEFAULT_LICENSE, training_data: dict | None = None) -> dict:
    """The GeoInfer manifest; the defaults describe the default tree-crown model."""
    man = {
        "name": name,
        "version": version,
        "classes": list(classes),
        "input_width": SIZE,
        "input_height": SIZE,
        "input_name": "images",
        "band_order": list(band_order),
        "normalization": {"scale": scale, "mean": list(mean), "std": list(std)},
        "gsd_m": gsd_m,
        "output_layout": "yolo",
        "score_threshold": score_threshold,
        "iou_threshold": iou_threshold,
        "description": description,
    }
    if license is not None:
        man["license"] = license
    man["sha256_of_training_data"] = dataset.data_sha256() if training_data is None else training_data
    return man


def write_onnx(net: TreeNet, path: str, log=print) -> None:
    wrapper = ExportWrapper(net, SIZE).eval()
    dummy = torch.zeros(1, 3, SIZE, SIZE)
    torch.onnx.export(wrapper, (dummy,), path, dynamo=False, opset_version=17,
                      input_names=["images"], output_names=["output0"],
                      dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}},
                      do_constant_folding=True)
    m = onnx.load(path)
    # the traced flatten leaves symbolic output dims; state the real ones
    dims = m.graph.output[0].type.tensor_type.shape.dim
    dims[0].dim_param = "batch"
    rows = 4 + net.heat.out_channels
    dims[1].dim_value = rows
    dims[2].dim_value = (SIZE // 8) ** 2
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = wrapper(x).numpy()
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"images": x.numpy()})[0]
    assert got.shape == (2, rows, (SIZE // 8) ** 2), got.shape
    err = np.abs(got[:, :4] - ref[:, :4]).max()
    log(f"onnx vs torch max abs box diff {err:.2e}")
    assert err < 1e-2, err


def set_manifest(path: str, man: dict) -> str:
    text = json.dumps(man, indent=2)
    m = onnx.load(path)
    del m.metadata_props[:]
    p = m.metadata_props.add()
    p.key, p.value = "geoinfer.manifest", text
    m.producer_name = "geoinfer-training"
    m.doc_string = man["description"]
    onnx.save(m, path)
    return text


def calibrate(path: str, man: dict, samples=None, log=print) -> float:
    """Best-F1 score threshold (IoU 0.4) on `samples` (default: the default model's training images).

    Sample boxes are N x 4, or N x 5 with a 0-based class index in column 4; with several classes
    a prediction only matches a box of its own class.
    """
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    runs = []
    for s in dataset.train_samples() if samples is None else samples:
        d = geoinfer_ref.detect(sess, s.image, man, score_threshold=0.05, iou_threshold=man["iou_threshold"])
        p = np.asarray([x[:6] for x in d], dtype=np.float64).reshape(-1, 6)
        gcls = s.boxes[:, 4] if s.boxes.shape[1] > 4 else np.zeros(len(s.boxes))
        for c in range(len(man["classes"])):
            runs.append((p[p[:, 5] == c, :5], s.boxes[gcls == c, :4]))
    best = (0.0, 0.3)
    for t in np.round(np.arange(0.10, 0.71, 0.05), 2):
        pairs = [(p[p[:, 4] >= t, :4], g) for p, g in runs]
        f1 = metrics.precision_recall(pairs, 0.4)["f1"]
        log(f"  train-image F1@IoU0.4 at score {t:.2f}: {f1:.3f}")
        if f1 > best[0] + 1e-9:
            best = (f1, float(t))
    return best[1]


def export_model(net: TreeNet, path: str, man: dict, calib_samples=None, score_threshold: float | None = None,
                 log=print) -> tuple[dict, str]:
    """ONNX + embedded manifest at `path`, model.json beside it; the threshold is calibrated
    on `calib_samples` unless given. Returns the final manifest and the file's sha256."""
    write_onnx(net, path, log)
    set_manifest(path, man)
    man["score_threshold"] = calibrate(path, man, calib_samples, log) if score_threshold is None else score_threshold
    text = set_manifest(path, man)
    with open(os.path.join(os.path.dirname(path), "model.json"), "w") as f:
        f.write(text)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return man, digest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=os.path.join(dataset.HERE, "work", "treenet.pt"))
    ap.add_argument("--out", default=os.path.join(MODEL_DIR, "tree-crowns.onnx"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    ck = torch.load(args.ckpt, map_location="cpu")
    net = TreeNet()
    net.load_state_dict(ck["state_dict"])
    net.eval()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    man, digest = export_model(net, args.out, manifest(ck["mean"], ck["std"], 0.3, IOU_THRESHOLD))
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes, sha256 {digest}); "
          f"score_threshold {man['score_threshold']}", flush=True)


if __name__ == "__main__":
    main()
