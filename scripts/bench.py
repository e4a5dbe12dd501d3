#!/usr/bin/env python3
"""GeoInfer benchmarks (`make bench`, release build). Every figure is a ratio against a baseline run
in the same invocation, or a peak memory reading.

1. Throughput: `geoinfer detect` end to end on a 10000 x 10000 RGB GeoTIFF (0.1 m) against raw ONNX
   Runtime (Python `onnxruntime`) running the same model on the same number of already-cut tiles,
   with the same batch size, threads and session settings. Megapixels/s = raster megapixels / seconds.
2. Memory: peak RSS of `geoinfer detect` on 10000^2 and 20000^2 rasters (streaming: it must not grow
   with raster size).

Environment: BENCH_SIZE (10000), BENCH_BIG (20000; 0 skips), BENCH_THREADS (2), BENCH_BATCH (4).
"""
import json
import os
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, ".build", "bench")
EXE = os.path.join(ROOT, ".build", "release", "geoinfer")
SAMPLE = os.path.join(ROOT, ".deps", "samples", "OSBS_029.tif")
SIZE = int(os.environ.get("BENCH_SIZE", "10000"))
BIG = int(os.environ.get("BENCH_BIG", "20000"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
BATCH = int(os.environ.get("BENCH_BATCH", "4"))


def raster(size):
    """The NEON sample upsampled to size x size, kept at 0.1 m per pixel (real texture, no blank tiles)."""
    path = os.path.join(WORK, f"neon_{size}.tif")
    if not os.path.exists(path):
        ext = size * 0.1
        subprocess.run(["gdal_translate", "-q", "-outsize", str(size), str(size), "-r", "bilinear",
                        "-a_ullr", "400000", str(3300000 + ext), str(400000 + ext), "3300000",
                        "-co", "TILED=YES", "-co", "COMPRESS=DEFLATE", "-co", "BIGTIFF=IF_SAFER", SAMPLE, path], check=True)
    return path


def geoinfer(model, path, out):
    """Runs geoinfer detect in a fresh wrapper process, so its max RSS is geoinfer's own."""
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
               "r = subprocess.run(sys.argv[1:]); dt = time.perf_counter() - t; "
               "print(dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    cmd = [EXE, "detect", path, "--model", model, "--out", out, "--threads", str(THREADS), "--batch", str(BATCH),
           "--formats", "coco"]
    res = subprocess.run([sys.executable, "-c", wrapper] + cmd, capture_output=True, text=True)
    seconds, rss_kb, rc = res.stdout.split()
    if rc != "0":
        sys.exit(f"geoinfer failed: {res.stderr}")
    meta = json.load(open(os.path.join(out, "metadata.json")))
    return float(seconds), int(rss_kb) / 1024, meta


def raw_ort(model, tiles, size):
    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    rng = np.random.default_rng(0)
    pool = [rng.random((BATCH, 3, size, size), dtype=np.float32) for _ in range(4)]  # already cut and normalised
    sess.run(None, {name: pool[0]})  # warm-up, as GeoInfer's first batch pays it too
    total, done, i = 0.0, 0, 0
    while done < tiles:
        n = min(BATCH, tiles - done)
        x = pool[i % len(pool)][:n]
        t = time.perf_counter()
        sess.run(None, {name: x})
        total += time.perf_counter() - t
        done += n
        i += 1
    return total


def main():
    os.makedirs(WORK, exist_ok=True)
    if not os.path.exists(EXE):
        sys.exit("build first: swift build -c release")
    models_dir = os.path.join(WORK, "models")
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts/testing/make_test_models.py"), models_dir], check=True,
                   capture_output=True)
    models = [("bench-conv (5 conv layers, stride 8)", os.path.join(models_dir, "bench.onnx"))]
    default = os.path.join(ROOT, "models/tree-crowns/tree-crowns.onnx")
    if os.path.exists(default):
        models.append(("tree-crowns (default model)", default))
    path = raster(SIZE)
    mp = SIZE * SIZE / 1e6
    results = {"size": SIZE, "threads": THREADS, "batch": BATCH, "models": []}
    print(f"raster {SIZE}x{SIZE} RGB uint8 (0.1 m), threads {THREADS}, batch {BATCH}, ONNX Runtime {ort.__version__}")
    for label, model in models:
        seconds, rss, meta = geoinfer(model, path, os.path.join(WORK, "out"))
        tiles = meta["totals"]["tiles"]["run"]
        size = meta["model"]["input_size"][0]
        ort_seconds = raw_ort(model, tiles, size)
        row = {"model": label, "tiles": tiles, "geoinfer_s": round(seconds, 2), "geoinfer_mp_s": round(mp / seconds, 2),
               "raw_ort_s": round(ort_seconds, 2), "raw_ort_mp_s": round(mp / ort_seconds, 2),
               "ratio": round(ort_seconds / seconds, 3), "peak_rss_mib": round(rss), "detections": meta["totals"]["detections"],
               "geoinfer_stage_s": meta["totals"]["timings_s"]}
        results["models"].append(row)
        print(f"{label}: {tiles} tiles; GeoInfer {row['geoinfer_mp_s']} MP/s ({seconds:.1f} s, peak RSS {rss:.0f} MiB), "
              f"raw ONNX Runtime {row['raw_ort_mp_s']} MP/s ({ort_seconds:.1f} s): GeoInfer = {row['ratio']}x raw")
    if BIG:
        big = raster(BIG)
        seconds, rss, meta = geoinfer(models[0][1], big, os.path.join(WORK, "out_big"))
        results["memory"] = {"size": BIG, "peak_rss_mib": round(rss), "seconds": round(seconds, 1),
                             "tiles": meta["totals"]["tiles"]["run"], "small_peak_rss_mib": results["models"][0]["peak_rss_mib"]}
        print(f"memory: {BIG}x{BIG} peak RSS {rss:.0f} MiB vs {SIZE}x{SIZE} {results['models'][0]['peak_rss_mib']} MiB "
              f"({seconds:.0f} s, {meta['totals']['tiles']['run']} tiles)")
    with open(os.path.join(WORK, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"results: {os.path.join(WORK, 'results.json')}")


if __name__ == "__main__":
    main()
