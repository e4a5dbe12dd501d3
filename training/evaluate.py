"""Evaluate the exported model on the held-out images exactly as GeoInfer runs it.

Writes models/tree-crowns/metrics.json, the quicklooks and MODEL_CARD.md
(rendered from training/MODEL_CARD.template.md).
"""
from __future__ import annotations

import json
import os
import platform
import time

import numpy as np
import onnxruntime as ort
import torch
from PIL import Image, ImageDraw

import dataset
import geoinfer_ref
import metrics

MODEL_DIR = os.environ.get("GEOINFER_MODEL_DIR", os.path.join(dataset.HERE, "..", "models", "tree-crowns"))
AP_SCORE_FLOOR = 0.05  # detections kept for the COCO ranking metrics
PRED_COLOUR = (255, 40, 200)  # magenta
TRUE_COLOUR = (0, 230, 255)  # cyan


def session(path: str, threads: int) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def grid_baseline(w: int, h: int, bw: float, bh: float) -> np.ndarray:
    """A crown-sized box on every cell of a crown-sized grid, all score 0.5."""
    out = []
    y = 0.0
    while y + bh <= h + 1e-6:
        x = 0.0
        while x + bw <= w + 1e-6:
            out.append([x, y, x + bw, y + bh, 0.5])
            x += bw
        y += bh
    return np.asarray(out, np.float64).reshape(-1, 5)


def latency(path: str, threads: int, runs: int = 30) -> dict:
    s = session(path, threads)
    x = np.random.default_rng(0).normal(size=(1, 3, 512, 512)).astype(np.float32)
    for _ in range(5):
        s.run(None, {"images": x})
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        s.run(None, {"images": x})
        ts.append((time.perf_counter() - t) * 1000)
    return {"median_ms": float(np.median(ts)), "p90_ms": float(np.percentile(ts, 90)), "runs": runs}


def quicklook(s, dets, path: str, max_side: int = 1100) -> None:
    im = Image.fromarray(s.image)
    d = ImageDraw.Draw(im)
    for b in s.boxes:
        d.rectangle([float(v) for v in b[:4]], outline=TRUE_COLOUR, width=2)
    for b in dets:
        d.rectangle([float(v) for v in b[:4]], outline=PRED_COLOUR, width=2)
    scale = min(1.0, max_side / max(im.size))
    if scale < 1.0:
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
    im = im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    im.save(path, optimize=True)


def fmt(v: float) -> str:
    return f"{v:.3f}"


def main() -> None:
    model = os.path.join(MODEL_DIR, "tree-crowns.onnx")
    sess = session(model, 1)
    man = geoinfer_ref.load_manifest(sess)
    with open(os.path.join(MODEL_DIR, "model.json")) as f:
        assert json.loads(f.read()) == man, "model.json differs from the embedded manifest"
    thr, iou = man["score_threshold"], man["iou_threshold"]
    train = dataset.train_samples()
    tb = np.concatenate([s.boxes for s in train])
    med_w, med_h = float(np.median(tb[:, 2] - tb[:, 0])), float(np.median(tb[:, 3] - tb[:, 1]))

    sets = {}
    pooled_model, pooled_base, pooled_pr, pooled_pr_base, pooled_raw = [], [], [], [], []
    for s in dataset.test_samples():
        h, w = s.image.shape[:2]
        dets = np.asarray([d[:5] for d in geoinfer_ref.detect(sess, s.image, man, score_threshold=AP_SCORE_FLOOR)])
        dets = dets.reshape(-1, 5)
        at_thr = dets[dets[:, 4] >= thr]
        base = grid_baseline(w, h, med_w, med_h)
        item, item_b = (w, h, s.boxes, dets), (w, h, s.boxes, base)
        sets[s.name] = {
            "size": [w, h], "n_true": int(len(s.boxes)),
            "model": {**metrics.coco_ap([item]), **metrics.precision_recall([(at_thr[:, :4], s.boxes)], 0.4)},
            "baseline": {**metrics.coco_ap([item_b]), **metrics.precision_recall([(base[:, :4], s.boxes)], 0.4)},
        }
        pooled_model.append(item), pooled_base.append(item_b), pooled_raw.append((dets, s.boxes))
        pooled_pr.append((at_thr[:, :4], s.boxes)), pooled_pr_base.append((base[:, :4], s.boxes))
        quicklook(s, at_thr, os.path.join(MODEL_DIR, f"quicklook_{s.name}.png"))
        print(s.name, json.dumps(sets[s.name]), flush=True)
    sets["all held-out"] = {
        "n_true": int(sum(len(g) for _, g in pooled_pr)),
        "model": {**metrics.coco_ap(pooled_model), **metrics.precision_recall(pooled_pr, 0.4)},
        "baseline": {**metrics.coco_ap(pooled_base), **metrics.precision_recall(pooled_pr_base, 0.4)},
    }
    # informative only: the default threshold is NOT chosen from this sweep
    sweep = []
    for t in (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5):
        pr = metrics.precision_recall([(d[d[:, 4] >= t, :4], g) for d, g in pooled_raw], 0.4)
        sweep.append({"score_threshold": t, "precision": pr["precision"], "recall": pr["recall"], "f1": pr["f1"]})
    # same rules on the training images, to show the generalisation gap
    train_pr = []
    for s in train:
        d = np.asarray([x[:5] for x in geoinfer_ref.detect(sess, s.image, man)]).reshape(-1, 5)
        train_pr.append((d[:, :4], s.boxes))
    ck = torch.load(os.environ.get("GEOINFER_CKPT", os.path.join(dataset.HERE, "work", "treenet.pt")), map_location="cpu")
    result = {
        "score_threshold": thr, "iou_threshold": iou, "ap_score_floor": AP_SCORE_FLOOR,
        "baseline_box_px": [med_w, med_h],
        "sets": sets,
        "held_out_threshold_sweep": sweep,
        "train_images_pr_at_threshold": metrics.precision_recall(train_pr, 0.4),
        "latency_512_tile": {"1_thread": latency(model, 1), "2_threads": latency(model, 2)},
        "train_wall_s": ck["train_wall_s"], "train_threads": ck["threads"], "train_args": ck["args"],
        "model_bytes": os.path.getsize(model),
        "params": int(sum(v.numel() for k, v in ck["state_dict"].items() if "running" not in k and "num_batches" not in k)),
        "versions": {"torch": torch.__version__, "onnxruntime": ort.__version__, "python": platform.python_version()},
        "cpu": platform.processor() or platform.machine(),
    }
    # fixture for the engine's integration test: the reference detections on OSBS_029.tif
    osbs = dataset.read_image(os.path.join(dataset.DATA_DIR, "OSBS_029.tif"))
    ref = geoinfer_ref.detect(sess, osbs, man)
    with open(os.path.join(MODEL_DIR, "reference_OSBS_029.json"), "w") as f:
        json.dump({"image": "OSBS_029.tif (deepforest 2.1.0 wheel, deepforest/data/)",
                   "how": "training/geoinfer_ref.py detect(), manifest defaults, overlap 0.2, "
                          "pixels read as stored (GDAL nodata=255 NOT masked)",
                   "score_threshold": thr, "iou_threshold": iou, "overlap": 0.2,
                   "detections": [{"x1": d[0], "y1": d[1], "x2": d[2], "y2": d[3], "score": d[4], "class": d[5]}
                                  for d in ref]}, f, indent=1)
    with open(os.path.join(MODEL_DIR, "metrics.json"), "w") as f:
        json.dump(result, f, indent=2)
    render_card(result)
    print(json.dumps(result["sets"]["all held-out"]), flush=True)


def render_card(r: dict) -> None:
    rows, brow = [], []
    for name, v in r["sets"].items():
        m, b = v["model"], v["baseline"]
        rows.append(f"| {name} | {v['n_true']} | {fmt(m['mAP'])} | {fmt(m['AP50'])} | {fmt(m['precision'])} | "
                    f"{fmt(m['recall'])} | {m['n_pred']} |")
        brow.append(f"| {name} | {fmt(b['mAP'])} | {fmt(b['AP50'])} | {fmt(b['precision'])} | {fmt(b['recall'])} | "
                    f"{b['n_pred']} |")
    sweep = "\n".join(f"| {x['score_threshold']:.2f} | {fmt(x['precision'])} | {fmt(x['recall'])} | {fmt(x['f1'])} |"
                      for x in r["held_out_threshold_sweep"])
    tr = r["train_images_pr_at_threshold"]
    lat = r["latency_512_tile"]
    subs = {
        "{{MODEL_TABLE}}": "\n".join(rows),
        "{{SWEEP_TABLE}}": sweep,
        "{{BASELINE_TABLE}}": "\n".join(brow),
        "{{SCORE_THRESHOLD}}": str(r["score_threshold"]),
        "{{IOU_THRESHOLD}}": str(r["iou_threshold"]),
        "{{AP_FLOOR}}": str(r["ap_score_floor"]),
        "{{BASE_W}}": f"{r['baseline_box_px'][0]:.0f}",
        "{{BASE_H}}": f"{r['baseline_box_px'][1]:.0f}",
        "{{TRAIN_P}}": fmt(tr["precision"]), "{{TRAIN_R}}": fmt(tr["recall"]),
        "{{LAT1}}": f"{lat['1_thread']['median_ms']:.1f}", "{{LAT2}}": f"{lat['2_threads']['median_ms']:.1f}",
        "{{LAT1_P90}}": f"{lat['1_thread']['p90_ms']:.1f}", "{{LAT2_P90}}": f"{lat['2_threads']['p90_ms']:.1f}",
        "{{TRAIN_MIN}}": f"{r['train_wall_s'] / 60:.1f}", "{{TRAIN_THREADS}}": str(r["train_threads"]),
        "{{ITERS}}": str(r["train_args"]["iters"]), "{{BATCH}}": str(r["train_args"]["batch"]),
        "{{CROP}}": str(r["train_args"]["crop"]), "{{SEED}}": str(r["train_args"]["seed"]),
        "{{MODEL_KB}}": f"{r['model_bytes'] / 1024:.0f}", "{{PARAMS}}": f"{r['params']:,}",
        "{{TORCH}}": r["versions"]["torch"], "{{ORT}}": r["versions"]["onnxruntime"],
        "{{ALL_P}}": fmt(r["sets"]["all held-out"]["model"]["precision"]),
        "{{ALL_R}}": fmt(r["sets"]["all held-out"]["model"]["recall"]),
    }
    with open(os.path.join(dataset.HERE, "MODEL_CARD.template.md")) as f:
        text = f.read()
    for k, v in subs.items():
        text = text.replace(k, v)
    with open(os.path.join(MODEL_DIR, "MODEL_CARD.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
