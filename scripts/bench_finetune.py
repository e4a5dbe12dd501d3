"""Fine-tuning benchmark: `geoinfer train` from the default model on part of a site's labels,
scored on the rest by the engine, before and after, with the training time.

Sites the default model never saw in training (it was trained on two YELL crops): OSBS_029
(Florida) and SOAP_061 (California), each split in halves: the left half trains, the right half
validates (`--val-fraction 0.5`). Data: the labelled NEON images of the deepforest wheel
(`training/fetch_data.sh`, checked by SHA-256). SOAP_061's labels say alive or dead: every label
is trained and scored as a tree (`--one-class`), as the default model's card scores it.

    .venv/bin/python scripts/bench_finetune.py [--iters 600] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEOINFER = os.path.join(ROOT, ".build", "release", "geoinfer")
DATA = os.path.join(ROOT, "training", "data")
CASES = [("OSBS_029", "OSBS_029.tif", "OSBS_029.xml"), ("SOAP_061", "SOAP_061.png", "SOAP_061.xml")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    subprocess.run(["bash", os.path.join(ROOT, "training", "fetch_data.sh")], check=True)
    rows = []
    for name, image, labels in CASES:
        out = tempfile.mkdtemp(prefix=f"bench-finetune-{name}-")
        cmd = [GEOINFER, "train", os.path.join(DATA, image), "--labels", os.path.join(DATA, labels), "--out", out,
               "--val-fraction", "0.5", "--iters", str(args.iters), "--threads", str(args.threads), "--one-class"]
        print("$", " ".join(cmd), flush=True)
        started = time.monotonic()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.monotonic() - started
        with open(os.path.join(out, "evaluation.json")) as f:
            after = json.load(f)["pooled"]
        with open(os.path.join(out, "evaluation_before.json")) as f:
            before = json.load(f)["pooled"]
        with open(os.path.join(out, "training.json")) as f:
            log = json.load(f)
        rows.append((name, before, after, log, wall))
    print()
    print("| site (left half → right half) | val boxes | AP50 before | AP50 after | AP before | AP after | F1@0.4 before | F1@0.4 after | iterations (best) | training s | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, before, after, log, wall in rows:
        def f1(p):
            return next((m["f1"] for m in p["matches"] if abs(m["iou_threshold"] - 0.4) < 1e-9), float("nan"))
        print(f"| {name} | {after['ground_truth']} | {before['ap50']:.3f} | {after['ap50']:.3f} | {before['ap']:.3f} | "
              f"{after['ap']:.3f} | {f1(before):.3f} | {f1(after):.3f} | {log['iterations_run']} ({log['best_iter']}) | "
              f"{log['seconds']:.0f} | {wall:.0f} |")


if __name__ == "__main__":
    sys.exit(main())
