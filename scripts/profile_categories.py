#!/usr/bin/env python3
"""Where a profile's CPU went, by kind of work: `scripts/profile_categories.py PERF_DATA`.

Reads a `perf record -g` profile (for example of `BENCH_DRONE_RUNS=serve perf record -F 499 -g
-o serve.data -- .venv/bin/python scripts/bench_drone.py`) and puts each sample in the first
category below whose pattern one of its frames matches, so that the runs of `geoinfer detect`
and of `geoinfer serve` on the same files can be set side by side. Samples in ONNX Runtime are
the unit to compare runs made minutes apart on a machine whose pace drifts: both run the same
inference. Stacks through libraries built without frame pointers (libjpeg, libc, GDAL) often end
at their leaf; those samples are listed by library, so the categories are lower bounds. A sample
taken in libjpeg-turbo's SIMD routines has no callchain at all (`perf script` prints its header
alone); it is listed by the library its address is in, from a second `perf script -G` pass.
"""
import collections
import re
import subprocess
import sys

CATEGORIES = [
    ("ONNX Runtime", r"libonnxruntime"),
    ("detector: reading tiles (decode, resample)", r"TileReader|AreaResampler"),
    ("upload: receiving (multipart, SHA-256, writes)", r"UploadHandler.*receive|MultipartStream|UploadState"),
    ("upload: GDAL check of each file", r"UploadHandler.*check|StreamedUpload.*offer"),
    ("upload: the streamed job's adds, links and seal", r"StreamedUpload"),
    ("finalize (merge, documents)", r"WorkerPool.*finalize|DetectionReport|MergedLayer|decodeResults"),
    ("thumbnails and quicklooks", r"writeQuicklook|Quicklook|PreviewCanvas"),
    ("each file's result JSON", r"JSONEncoder|JSONOutput|jsonData"),
    ("job store (SQLite, GRDB)", r"SQLiteJobStore|GRDB|libsqlite3|StoreDriver|SerialGate"),
    ("detector: the rest (hash, georeferencing, NMS, open)", r"Detector|FileDigest|NonMaximum|OutputDecoder|libproj|Raster"),
    ("HTTP (Hummingbird, NIO)", r"Hummingbird|NIOPosix|NIOCore|NIOHTTP|SelectableEventLoop"),
    ("worker loop", r"WorkerPool"),
]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    fields = ["-F", "comm,tid,time,ip,sym,dso"]
    script = subprocess.run(["perf", "script", "-i", sys.argv[1], *fields], capture_output=True, text=True, check=True).stdout
    # Each sample's leaf library, by thread and time, for the samples without a callchain.
    leaves = {}
    for line in subprocess.run(["perf", "script", "-i", sys.argv[1], *fields, "-G"],
                               capture_output=True, text=True, check=True).stdout.split("\n"):
        key, dso = re.search(r"\s(\d+)\s+([\d.]+):", line), re.search(r"\(([^)]*)\)\s*$", line)
        if key and dso:
            leaves[key.groups()] = dso.group(1)
    counts, total = collections.Counter(), 0
    for block in script.split("\n\n"):
        lines = [l for l in block.split("\n") if l.strip()]
        if not lines:
            continue
        total += 1
        comm = lines[0].split()[0]
        if comm in ("python", "curl"):
            counts["the benchmark's own python and curl"] += 1
            continue
        if len(lines) == 1:
            key = re.search(r"\s(\d+)\s+([\d.]+):", lines[0])
            library = leaves.get(key.groups() if key else None, "?").split("/")[-1]
            counts["uncategorised, in " + ("the kernel" if "kernel" in library else library)] += 1
            continue
        text = "\n".join(lines)
        for name, pattern in CATEGORIES:
            if re.search(pattern, text):
                counts[name] += 1
                break
        else:
            leaf = re.search(r"\(([^)]*)\)\s*$", lines[1]) if len(lines) > 1 else None
            library = leaf.group(1).split("/")[-1] if leaf else "?"
            counts["uncategorised, in " + ("the kernel" if "kernel" in library else library)] += 1
    unit = counts["ONNX Runtime"] or 1
    program = total - counts["the benchmark's own python and curl"]
    print(f"{total} samples; the program's others per ONNX Runtime sample: {(program - unit) / unit:.3f}")
    for name, n in counts.most_common():
        print(f"{n:7d} {n / total:6.1%} {n / unit:6.3f}  {name}")


if __name__ == "__main__":
    main()
