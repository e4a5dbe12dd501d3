"""Reference pre- and post-processing for GeoInfer's "yolo" output layout.

This is the Python twin of the Swift engine's tiler + decoder + NMS, used to
evaluate the default model and as the oracle in the Swift integration test.
It needs only numpy and onnxruntime.

Exact rules (the Swift side must match them):

* Bands: channel c of the model input is raster band ``band_order[c]`` (1-based)
  of the image, i.e. column ``band_order[c] - 1`` of ``image_hwc_uint8``.
* Normalisation: ``(pixel * scale - mean[c]) / std[c]`` in float32.
* Tile plan (per axis, image size ``L``, tile ``T``): step ``S = floor(T * (1 -
  overlap))`` (409 px for T = 512, overlap 0.2); origins ``0, S, 2S, ...`` while
  ``origin + T < L``, then one last origin ``L - T`` (the edge tile is shifted
  inward, never past the edge). When ``L <= T`` the only origin is 0 and the
  tile is padded at the bottom/right with pixel value 0 (before normalisation).
* Decode: output ``[B, 4 + C, A]``; for anchor ``a`` rows 0..3 are cx, cy, w, h
  in tile pixels, rows 4.. are class scores in [0, 1]. A detection is
  (anchor, best class) with ``score >= score_threshold``; its box is
  ``x1 = cx - w/2, y1 = cy - h/2, x2 = cx + w/2, y2 = cy + h/2``, shifted by the
  tile origin and clipped to the image (``0..W``, ``0..H``); boxes left with
  zero width or height are dropped.
* NMS: greedy, per class, boxes sorted by score descending (stable, so ties
  keep tile-then-anchor order); a box is suppressed when its IoU with a kept
  box is ``> iou_threshold`` (IoU on continuous coordinates, no +1). It runs
  within each tile and then once more over the union of all tiles.
"""
from __future__ import annotations

import json
import math

import numpy as np

Detection = tuple[float, float, float, float, float, int]


def load_manifest(session) -> dict:
    meta = session.get_modelmeta().custom_metadata_map
    return json.loads(meta["geoinfer.manifest"])


def tile_origins(length: int, tile: int, overlap: float) -> list[int]:
    if length <= tile:
        return [0]
    step = max(1, int(math.floor(tile * (1.0 - overlap))))
    out = []
    o = 0
    while o + tile < length:
        out.append(o)
        o += step
    out.append(length - tile)
    return out


def preprocess(tile_hwc_uint8: np.ndarray, manifest: dict) -> np.ndarray:
    norm = manifest["normalization"]
    bands = [b - 1 for b in manifest["band_order"]]
    x = tile_hwc_uint8[:, :, bands].astype(np.float32) * np.float32(norm["scale"])
    x = (x - np.asarray(norm["mean"], np.float32)) / np.asarray(norm["std"], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def iou_one_to_many(b: np.ndarray, bs: np.ndarray) -> np.ndarray:
    ix1 = np.maximum(b[0], bs[:, 0])
    iy1 = np.maximum(b[1], bs[:, 1])
    ix2 = np.minimum(b[2], bs[:, 2])
    iy2 = np.minimum(b[3], bs[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = (b[2] - b[0]) * (b[3] - b[1])
    areas = (bs[:, 2] - bs[:, 0]) * (bs[:, 3] - bs[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(dets: list[Detection], iou_threshold: float) -> list[Detection]:
    if not dets:
        return []
    arr = np.asarray([d[:5] for d in dets], dtype=np.float64)
    cls = np.asarray([d[5] for d in dets])
    order = np.argsort(-arr[:, 4], kind="stable")
    keep: list[int] = []
    suppressed = np.zeros(len(dets), bool)
    for pos, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        rest = order[pos + 1:]
        rest = rest[(~suppressed[rest]) & (cls[rest] == cls[i])]
        if len(rest):
            ious = iou_one_to_many(arr[i, :4], arr[rest, :4])
            suppressed[rest[ious > iou_threshold]] = True
    return [dets[i] for i in keep]


def decode(out: np.ndarray, x0: int, y0: int, width: int, height: int,
           score_threshold: float) -> list[Detection]:
    """One tile's output [4 + C, A] -> thresholded, shifted, clipped boxes."""
    scores = out[4:]
    cls = scores.argmax(0)
    best = scores[cls, np.arange(scores.shape[1])]
    dets: list[Detection] = []
    for a in np.nonzero(best >= score_threshold)[0]:
        cx, cy, w, h = (float(v) for v in out[:4, a])
        x1 = min(max(cx - w / 2 + x0, 0.0), float(width))
        y1 = min(max(cy - h / 2 + y0, 0.0), float(height))
        x2 = min(max(cx + w / 2 + x0, 0.0), float(width))
        y2 = min(max(cy + h / 2 + y0, 0.0), float(height))
        if x2 > x1 and y2 > y1:
            dets.append((x1, y1, x2, y2, float(best[a]), int(cls[a])))
    return dets


def detect(session, image_hwc_uint8: np.ndarray, manifest: dict | None = None, overlap: float = 0.2,
           score_threshold: float | None = None, iou_threshold: float | None = None,
           batch_size: int = 4) -> list[Detection]:
    """Detections (x1, y1, x2, y2, score, class) in full-image pixel coordinates."""
    manifest = manifest or load_manifest(session)
    st = manifest["score_threshold"] if score_threshold is None else score_threshold
    it = manifest["iou_threshold"] if iou_threshold is None else iou_threshold
    tw, th = manifest["input_width"], manifest["input_height"]
    H, W = image_hwc_uint8.shape[:2]
    origins = [(x, y) for y in tile_origins(H, th, overlap) for x in tile_origins(W, tw, overlap)]
    input_name = manifest.get("input_name") or session.get_inputs()[0].name
    merged: list[Detection] = []
    for start in range(0, len(origins), batch_size):
        chunk = origins[start:start + batch_size]
        batch = []
        for x, y in chunk:
            tile = np.zeros((th, tw, image_hwc_uint8.shape[2]), np.uint8)
            part = image_hwc_uint8[y:y + th, x:x + tw]
            tile[:part.shape[0], :part.shape[1]] = part
            batch.append(preprocess(tile, manifest))
        outs = session.run(None, {input_name: np.stack(batch)})[0]
        for (x, y), out in zip(chunk, outs):
            merged.extend(nms(decode(out, x, y, W, H, st), it))
    return nms(merged, it)
