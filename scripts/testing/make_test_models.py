#!/usr/bin/env python3
"""Builds tiny ONNX detectors whose detections are exactly predictable, for GeoInfer's tests.

Usage: make_test_models.py OUT_DIR [--size 64]

Every model reads a [B, 3, S, S] float input normalised as pixel / 255 and "detects" marker pixels:
  channel 0 = score s (0 elsewhere), channel 1 = box width / 255, channel 2 = box height / 255.
A marker at tile pixel (x, y) yields the box centred on the pixel's centre (x + 0.5, y + 0.5) with that
width and height, class "large" when s > 0.7 and "small" otherwise, with score s.

  yolo.onnx         raw layout [B, 4+C, A] (A = S*S anchors), manifest embedded in metadata_props
  yolo_clip.onnx    same, but boxes are clipped to the tile (as real detectors do): objects cut at
                    tile borders, for the IoS merge tests
  boxes.onnx        post-NMS layout: boxes [B,N,4] (x1,y1,x2,y2), scores [B,N], labels [B,N] int64
  yolo_sidecar.onnx no embedded manifest; yolo_sidecar.json beside it says band_order [3, 2, 1]
  yolo_10cm.onnx    yolo.onnx for 0.1 m rasters (gsd_m 0.1): markers burnt into real 10 cm imagery
  bench.onnx        a small convolutional network (realistic compute per tile) with a yolo head,
                    for benchmarks (not exactly predictable)
"""
import argparse
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CLASSES = ["small", "large"]


def manifest(size, layout, band_order=(1, 2, 3), gsd=1.0):
    m = {
        "name": "test-markers", "version": "1.0.0", "classes": CLASSES,
        "input_width": size, "input_height": size, "input_name": "images",
        "band_order": list(band_order),
        "normalization": {"scale": 1.0 / 255.0, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
        "gsd_m": gsd, "output_layout": layout, "score_threshold": 0.25, "iou_threshold": 0.5,
    }
    if layout == "boxes_scores_labels":
        m["outputs"] = {"boxes": "boxes", "scores": "scores", "labels": "labels"}
    return m


def const(name, array, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(array, dtype=dtype), name)


def marker_graph(size, clip):
    """Nodes computing cx, cy, w, h ([B,1,A] each) and the class scores s0, s1."""
    a = size * size
    ys, xs = np.mgrid[0:size, 0:size]
    inits = [
        const("shape_b3a", [0, 3, -1], np.int64),
        const("cx_grid", (xs.reshape(1, 1, a) + 0.5)),
        const("cy_grid", (ys.reshape(1, 1, a) + 0.5)),
        const("k255", [255.0]), const("half", [0.5]), const("zero", [0.0]),
        const("thr", [0.7]),
        const("s0", [0], np.int64), const("s1", [1], np.int64), const("s2", [2], np.int64), const("s3", [3], np.int64),
        const("ax1", [1], np.int64),
    ]
    if clip:
        inits.append(const("limit", [float(size)]))
    n = [
        helper.make_node("Reshape", ["images", "shape_b3a"], ["flat"]),
        helper.make_node("Slice", ["flat", "s0", "s1", "ax1"], ["score"]),
        helper.make_node("Slice", ["flat", "s1", "s2", "ax1"], ["wn"]),
        helper.make_node("Slice", ["flat", "s2", "s3", "ax1"], ["hn"]),
        helper.make_node("Mul", ["wn", "k255"], ["w_raw"]),
        helper.make_node("Mul", ["hn", "k255"], ["h_raw"]),
        # broadcast the grids to the batch: grid + 0 * score
        helper.make_node("Mul", ["score", "zero"], ["zeros"]),
        helper.make_node("Add", ["cx_grid", "zeros"], ["cx_raw"]),
        helper.make_node("Add", ["cy_grid", "zeros"], ["cy_raw"]),
        helper.make_node("Greater", ["score", "thr"], ["is_large"]),
        helper.make_node("Cast", ["is_large"], ["large_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["score", "large_f"], ["score_large"]),
        helper.make_node("Sub", ["score", "score_large"], ["score_small"]),
    ]
    for axis, c, s in (("x", "cx_raw", "w_raw"), ("y", "cy_raw", "h_raw")):
        n += [
            helper.make_node("Mul", [s, "half"], [f"h{axis}"]),
            helper.make_node("Sub", [c, f"h{axis}"], [f"{axis}1_raw"]),
            helper.make_node("Add", [c, f"h{axis}"], [f"{axis}2_raw"]),
        ]
        if clip:
            n += [
                helper.make_node("Max", [f"{axis}1_raw", "zero"], [f"{axis}1"]),
                helper.make_node("Min", [f"{axis}2_raw", "limit"], [f"{axis}2"]),
            ]
        else:
            n += [
                helper.make_node("Identity", [f"{axis}1_raw"], [f"{axis}1"]),
                helper.make_node("Identity", [f"{axis}2_raw"], [f"{axis}2"]),
            ]
        n += [
            helper.make_node("Add", [f"{axis}1", f"{axis}2"], [f"{axis}sum"]),
            helper.make_node("Mul", [f"{axis}sum", "half"], [f"c{axis}"]),
            helper.make_node("Sub", [f"{axis}2", f"{axis}1"], ["w" if axis == "x" else "h"]),
        ]
    return n, inits


def save(graph, path, meta, embed=True):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="geoinfer-tests")
    model.ir_version = 8
    if embed:
        helper.set_model_props(model, {"geoinfer.manifest": json.dumps(meta)})
    onnx.checker.check_model(model)
    onnx.save(model, path)


def image_input(size):
    return helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, size, size])


def yolo(size, clip):
    nodes, inits = marker_graph(size, clip)
    nodes.append(helper.make_node("Concat", ["cx", "cy", "w", "h", "score_small", "score_large"], ["output0"], axis=1))
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 4 + len(CLASSES), size * size])
    return helper.make_graph(nodes, "markers_yolo", [image_input(size)], [out], inits)


def boxes(size, k=16):
    nodes, inits = marker_graph(size, False)
    inits += [const("shape_ba", [0, -1], np.int64), const("k", [k], np.int64), const("ax2", [2], np.int64)]
    nodes += [
        helper.make_node("Reshape", ["score", "shape_ba"], ["score_flat"]),
        helper.make_node("TopK", ["score_flat", "k"], ["scores", "idx"], axis=1),
        helper.make_node("Greater", ["scores", "thr"], ["lab_b"]),
        helper.make_node("Cast", ["lab_b"], ["labels"], to=TensorProto.INT64),
    ]
    for name in ("x1", "y1", "x2", "y2"):
        nodes += [
            helper.make_node("Reshape", [name, "shape_ba"], [f"{name}_flat"]),
            helper.make_node("GatherElements", [f"{name}_flat", "idx"], [f"{name}_k"], axis=1),
            helper.make_node("Unsqueeze", [f"{name}_k", "ax2"], [f"{name}_u"]),
        ]
    nodes.append(helper.make_node("Concat", ["x1_u", "y1_u", "x2_u", "y2_u"], ["boxes"], axis=2))
    outs = [
        helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["batch", k, 4]),
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", k]),
        helper.make_tensor_value_info("labels", TensorProto.INT64, ["batch", k]),
    ]
    return helper.make_graph(nodes, "markers_boxes", [image_input(size)], outs, inits)


def bench(size, width=32, stride=8):
    """conv stem to stride 8, a few 3x3 convs, then a yolo head with sigmoid scores."""
    rng = np.random.default_rng(0)
    inits, nodes = [], []
    x, cin = "images", 3
    layers = [(16, 2), (32, 2), (width, 2), (width, 1), (width, 1)]
    for i, (cout, s) in enumerate(layers):
        w = rng.normal(0, np.sqrt(2.0 / (cin * 9)), (cout, cin, 3, 3)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(np.zeros(cout, np.float32), f"b{i}")]
        nodes += [helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1], strides=[s, s]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        x, cin = f"r{i}", cout
    g = size // stride
    a = g * g
    wh = rng.normal(0, 0.01, (5, cin, 1, 1)).astype(np.float32)
    ys, xs = np.mgrid[0:g, 0:g]
    inits += [numpy_helper.from_array(wh, "wh"), numpy_helper.from_array(np.zeros(5, np.float32), "bh"),
              const("shape_b5a", [0, 5, -1], np.int64),
              const("grid", np.stack([(xs.reshape(-1) + 0.5) * stride, (ys.reshape(-1) + 0.5) * stride]).reshape(1, 2, a)),
              const("s0", [0], np.int64), const("s2", [2], np.int64), const("s4", [4], np.int64), const("s5", [5], np.int64),
              const("ax1", [1], np.int64), const("sz", [float(stride * 4)])]
    nodes += [
        helper.make_node("Conv", [x, "wh", "bh"], ["head"]),
        helper.make_node("Reshape", ["head", "shape_b5a"], ["hf"]),
        helper.make_node("Slice", ["hf", "s0", "s2", "ax1"], ["off"]),
        helper.make_node("Add", ["off", "grid"], ["cxy"]),
        helper.make_node("Slice", ["hf", "s2", "s4", "ax1"], ["lwh"]),
        helper.make_node("Exp", ["lwh"], ["ewh"]),
        helper.make_node("Mul", ["ewh", "sz"], ["wh_px"]),
        helper.make_node("Slice", ["hf", "s4", "s5", "ax1"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["prob"]),
        helper.make_node("Concat", ["cxy", "wh_px", "prob"], ["output0"], axis=1),
    ]
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 5, a])
    return helper.make_graph(nodes, "bench_yolo", [image_input(size)], [out], inits)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--bench-size", type=int, default=512)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    s = args.size
    save(yolo(s, False), os.path.join(args.out, "yolo.onnx"), manifest(s, "yolo"))
    save(yolo(s, True), os.path.join(args.out, "yolo_clip.onnx"), manifest(s, "yolo"))
    save(boxes(s), os.path.join(args.out, "boxes.onnx"), manifest(s, "boxes_scores_labels"))
    save(yolo(s, False), os.path.join(args.out, "yolo_sidecar.onnx"), None, embed=False)
    save(yolo(s, False), os.path.join(args.out, "yolo_10cm.onnx"), manifest(s, "yolo", gsd=0.1))
    # Registry tests: another version of test-markers (at half the resolution, so its tile plan
    # differs) and a model of another name.
    v2 = manifest(s, "yolo", gsd=0.5)
    v2["version"] = "2.0.0"
    save(yolo(s, False), os.path.join(args.out, "markers_v2.onnx"), v2)
    named = manifest(s, "boxes_scores_labels")
    named["name"] = "test-boxes"
    save(boxes(s), os.path.join(args.out, "boxes_named.onnx"), named)
    with open(os.path.join(args.out, "yolo_sidecar.json"), "w") as f:
        json.dump(manifest(s, "yolo", band_order=(3, 2, 1)), f)
    bm = manifest(args.bench_size, "yolo")
    bm.update({"name": "bench-conv", "classes": ["object"], "score_threshold": 0.5, "gsd_m": 0.1})
    save(bench(args.bench_size), os.path.join(args.out, "bench.onnx"), bm)


if __name__ == "__main__":
    main()
