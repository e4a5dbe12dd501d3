"""Labelled NEON imagery from the deepforest wheel, split by image.

Train: 2019_YELL_2_528000_4978000_image_crop2 (whole) and the left part of
2019_YELL_2_541000_4977000_image_crop. Test: OSBS_029 and SOAP_061 (other
sites) and the right 25 % of the second YELL crop. A 40 px (4 m) gap separates
the YELL training region from its held-out region so that no crown is seen on
both sides of the split.
"""
from __future__ import annotations

import hashlib
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np
from PIL import Image

Image.MAX_IMAGE_PIXELS = None

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.environ.get("GEOINFER_TRAIN_DATA", os.path.join(HERE, "data"))

YELL_A = "2019_YELL_2_528000_4978000_image_crop2"
YELL_B = "2019_YELL_2_541000_4977000_image_crop"
HOLDOUT_FRACTION = 0.25  # right quarter of YELL_B is held out
GAP_PX = 40


@dataclass
class Sample:
    name: str
    image: np.ndarray  # H x W x 3 uint8, RGB (raster bands 1, 2, 3)
    boxes: np.ndarray  # N x 4 float32, x1 y1 x2 y2 in image pixels


def read_voc(path: str) -> np.ndarray:
    root = ET.parse(path).getroot()
    out = []
    for obj in root.iter("object"):
        bb = obj.find("bndbox")
        out.append([float(bb.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")])
    return np.asarray(out, dtype=np.float32).reshape(-1, 4)


def read_image(path: str) -> np.ndarray:
    im = Image.open(path)
    arr = np.asarray(im.convert("RGB") if im.mode != "RGB" else im, dtype=np.uint8)
    return np.ascontiguousarray(arr[:, :, :3])


def _load(name: str, image_ext: str = ".png") -> Sample:
    img = read_image(os.path.join(DATA_DIR, name + image_ext))
    boxes = read_voc(os.path.join(DATA_DIR, name + ".xml"))
    return Sample(name, img, boxes)


def _crop_x(s: Sample, x0: int, x1: int, name: str) -> Sample:
    """Keep boxes whose centre lies in [x0, x1), clip them, shift to crop."""
    b = s.boxes
    cx = (b[:, 0] + b[:, 2]) / 2
    keep = (cx >= x0) & (cx < x1)
    b = b[keep].copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], x0, x1) - x0
    return Sample(name, np.ascontiguousarray(s.image[:, x0:x1]), b)


def yell_b_split(s: Sample) -> tuple[Sample, Sample]:
    w = s.image.shape[1]
    cut = int(round(w * (1 - HOLDOUT_FRACTION)))
    train = _crop_x(s, 0, cut - GAP_PX, YELL_B + "_train")
    test = _crop_x(s, cut, w, YELL_B + "_right25")
    return train, test


def train_samples() -> list[Sample]:
    a = _load(YELL_A)
    b_train, _ = yell_b_split(_load(YELL_B))
    return [a, b_train]


def test_samples() -> list[Sample]:
    _, b_test = yell_b_split(_load(YELL_B))
    return [_load("OSBS_029", ".tif"), _load("SOAP_061"), b_test]


def data_sha256() -> dict[str, str]:
    out = {}
    for name in sorted(os.listdir(DATA_DIR)):
        if name.startswith(("2019_YELL", "OSBS_029", "SOAP_061")) and not name.endswith(".csv"):
            with open(os.path.join(DATA_DIR, name), "rb") as f:
                out[name] = hashlib.sha256(f.read()).hexdigest()
    return out
