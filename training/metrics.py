"""Box matching for the NeonTreeEvaluation-style precision/recall and COCO AP."""
from __future__ import annotations

import contextlib
import io

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    aa = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    ab = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = aa[:, None] + ab[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def true_positives(pred: np.ndarray, gt: np.ndarray, iou_thr: float = 0.4) -> int:
    """One-to-one matching, highest IoU first; a match counts when IoU > iou_thr.

    DeepForest's evaluate() uses the Hungarian assignment on IoU; greedy
    highest-IoU-first matching gives the same count whenever crowns do not
    compete for one prediction, and at most a few matches fewer otherwise.
    """
    if len(pred) == 0 or len(gt) == 0:
        return 0
    m = iou_matrix(pred, gt)
    pi, gi = np.nonzero(m > iou_thr)
    order = np.argsort(-m[pi, gi], kind="stable")
    used_p, used_g, tp = set(), set(), 0
    for k in order:
        p, g = int(pi[k]), int(gi[k])
        if p in used_p or g in used_g:
            continue
        used_p.add(p), used_g.add(g)
        tp += 1
    return tp


def precision_recall(pairs, iou_thr: float = 0.4) -> dict:
    """pairs: list of (pred_boxes Nx4, gt_boxes Mx4) pooled over images."""
    tp = sum(true_positives(p, g, iou_thr) for p, g in pairs)
    npred = sum(len(p) for p, _ in pairs)
    ngt = sum(len(g) for _, g in pairs)
    prec = tp / npred if npred else 0.0
    rec = tp / ngt if ngt else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"tp": tp, "n_pred": npred, "n_gt": ngt, "precision": prec, "recall": rec, "f1": f1}


def coco_ap(items, num_classes: int = 1) -> dict:
    """items: list of (width, height, gt Mx4, pred Nx5 [x1,y1,x2,y2,score]) or, with several classes,
    gt Mx5 (class index in column 4) and pred Nx6 (class in column 5). An optional fifth element
    per item lists ignore regions (Kx4, or Kx5 with a class): COCO "crowd" boxes, so detections
    on them count neither as hits nor as false positives. AP averages over classes with boxes."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def cat(row, col):
        return int(row[col]) + 1 if len(row) > col else 1

    images, anns, dets = [], [], []
    for i, item in enumerate(items, start=1):
        w, h, gt, pred = item[:4]
        ignore = item[4] if len(item) > 4 else ()
        images.append({"id": i, "width": int(w), "height": int(h)})
        for b, crowd in [(b, 0) for b in gt] + [(b, 1) for b in ignore]:
            bw, bh = float(b[2] - b[0]), float(b[3] - b[1])
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": cat(b, 4), "iscrowd": crowd,
                         "bbox": [float(b[0]), float(b[1]), bw, bh], "area": bw * bh})
        for p in pred:
            dets.append({"image_id": i, "category_id": cat(p, 5), "score": float(p[4]),
                         "bbox": [float(p[0]), float(p[1]), float(p[2] - p[0]), float(p[3] - p[1])]})
    gt = COCO()
    categories = [{"id": 1, "name": "tree"}] if num_classes == 1 else \
        [{"id": c + 1, "name": f"class{c}"} for c in range(num_classes)]
    gt.dataset = {"images": images, "annotations": anns, "categories": categories}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        if not dets:
            return {"mAP": 0.0, "AP50": 0.0, "AP75": 0.0, "AR100": 0.0}
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    s = ev.stats
    return {"mAP": float(s[0]), "AP50": float(s[1]), "AP75": float(s[2]), "AR100": float(s[8])}
