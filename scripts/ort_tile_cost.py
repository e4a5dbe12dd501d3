#!/usr/bin/env python3
"""What one drone tile costs ONNX Runtime alone: `scripts/ort_tile_cost.py`.

Runs the default model on the benchmark's real tiles (built by `bench_drone.py`: cut, resampled and
normalised as GeoInfer feeds them) in one session of one intra-op thread, as each of `serve`'s and
`detect`'s workers runs, and prints the CPU time a tile takes at several batch sizes. Two such
sessions on two cores bound what any reader can reach: tiles × this cost ÷ 2 (BENCHMARKS.md).

Environment: ORT_TILE_COST_TILES (60: tiles timed per batch size), ORT_TILE_COST_BATCHES (1,2,4,8).
"""
import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_drone  # noqa: E402


def main():
    work = os.path.join(bench_drone.ROOT, ".build", "bench")
    os.makedirs(work, exist_ok=True)
    srcs, _ = bench_drone.dataset(work)
    manifest = json.load(open(os.path.join(os.path.dirname(bench_drone.MODEL), "model.json")))
    tiles = [bench_drone.normalised_tile(s, manifest, work) for s in srcs if not os.path.basename(s).startswith("blank")]
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(bench_drone.MODEL, so, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    count = int(os.environ.get("ORT_TILE_COST_TILES", "60"))
    result = {"onnxruntime": ort.__version__, "threads": 1, "ms_cpu_per_tile": {}}
    for batch in [int(b) for b in os.environ.get("ORT_TILE_COST_BATCHES", "1,2,4,8").split(",")]:
        order = [tiles[i % len(tiles)] for i in range(count)]
        batches = [np.stack(order[i:i + batch]) for i in range(0, count, batch)]
        session.run(None, {name: batches[0]})
        t = time.process_time()
        for b in batches:
            session.run(None, {name: b})
        result["ms_cpu_per_tile"][str(batch)] = round(1000 * (time.process_time() - t) / count, 2)
        print(f"batch {batch}: {result['ms_cpu_per_tile'][str(batch)]} ms of CPU a tile", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
