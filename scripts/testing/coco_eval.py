#!/usr/bin/env python3
"""pycocotools' COCOeval on a GeoInfer coco.json against DeepForest-CSV ground truth, for the
evaluate test: prints {"ap": …, "ap50": …} (class-agnostic: one category on each side).

    coco_eval.py PREDICTIONS_COCO_JSON GROUND_TRUTH_CSV [--max-dets 100]
"""
import argparse
import contextlib
import csv
import io
import json
import os

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

p = argparse.ArgumentParser()
p.add_argument("predictions")
p.add_argument("truth")
p.add_argument("--max-dets", type=int, default=100)
args = p.parse_args()
pred = json.load(open(args.predictions))
images = [{"id": i["id"], "file_name": i["file_name"], "width": i["width"], "height": i["height"]} for i in pred["images"]]
by_name = {i["file_name"]: i["id"] for i in images}
anns = []
with open(args.truth) as f:
    for row in csv.DictReader(f):
        name = os.path.basename(row["image_path"])
        if name not in by_name:
            continue
        x1, y1, x2, y2 = (float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
        anns.append({"id": len(anns) + 1, "image_id": by_name[name], "category_id": 1, "iscrowd": 0,
                     "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)})
dets = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": a["score"]} for a in pred["annotations"]]
gt = COCO()
gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "object"}]}
with contextlib.redirect_stdout(io.StringIO()):
    gt.createIndex()
    dt = gt.loadRes(dets)
    ev = COCOeval(gt, dt, "bbox")
    ev.params.maxDets = [1, 10, args.max_dets]
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
# From COCOeval's precision array at the last maxDets (its summarize() reads stats[0] at a fixed 100).
precision = ev.eval["precision"][:, :, :, 0, -1]
def mean(a):
    a = a[a > -1]
    return float(a.mean()) if a.size else -1.0
print(json.dumps({"ap": mean(precision), "ap50": mean(precision[0]), "summarize_ap": float(ev.stats[0])}))
