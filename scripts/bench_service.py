#!/usr/bin/env python3
"""Service benchmarks (`make bench`): upload ingest and status latency of `geoinfer serve`.

1. Ingest: a 1 GiB GeoTIFF (three rounds, medians), and 1,000 small GeoTIFFs in one request,
   uploaded with curl to a server running with no workers (API only); MB/s against `cat` writing
   the same bytes to the same disk (then `sync`) in the same run; the server's peak RSS (VmHWM).
2. `GET /status/{id}` under wrk (2 threads, 32 connections, 10 s): requests/s and p99 latency.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import EXE, ROOT, free_port


def vm_hwm_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0


def timed(cmd, **kw):
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return time.perf_counter() - t, r


def main():
    work = tempfile.mkdtemp(prefix="geoinfer-bench-", dir=os.path.join(ROOT, ".build"))
    try:
        run(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work):
    models = os.path.join(work, "models")
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts/testing/make_test_models.py"), models], check=True, capture_output=True)
    big = os.path.join(work, "big.tif")
    side = 18919  # 18919² × 3 bytes ≈ 1 GiB, uncompressed
    subprocess.run(["gdal_create", "-q", "-of", "GTiff", "-outsize", str(side), str(side), "-bands", "3", "-ot", "Byte",
                    "-burn", "7", "-a_srs", "EPSG:32617", "-a_ullr", "400000", "3301891.9", "401891.9", "3300000", big], check=True)
    small_dir = os.path.join(work, "small")
    os.makedirs(small_dir)
    subprocess.run(["gdal_create", "-q", "-of", "GTiff", "-outsize", "64", "64", "-bands", "3", "-ot", "Byte", "-burn", "9",
                    "-a_srs", "EPSG:32617", "-a_ullr", "400000", "3300064", "400064", "3300000", os.path.join(small_dir, "t.tif")], check=True)
    smalls = [os.path.join(small_dir, "t.tif")]
    for i in range(1, 1000):
        p = os.path.join(small_dir, f"t{i:04d}.tif")
        shutil.copyfile(smalls[0], p)
        smalls.append(p)

    port = free_port()
    data = os.path.join(work, "data")
    server = subprocess.Popen([EXE, "serve", "--port", str(port), "--data-dir", data, "--model", os.path.join(models, "yolo.onnx"),
                               "--workers", "0", "--threads", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            if subprocess.run(["curl", "-sf", base + "/openapi.json"], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        results = {}
        # Status latency first, before the big writes leave the disk busy: one small job, polled.
        r = subprocess.run(["curl", "-sf", "-F", f"files=@{smalls[0]}", base + "/upload"], capture_output=True, text=True)
        job = json.loads(r.stdout)["job_id"]
        if shutil.which("wrk"):
            def wrk(path):
                w = subprocess.run(["wrk", "-t2", "-c32", "-d10s", "--latency", base + path], capture_output=True, text=True).stdout
                rps = float(re.search(r"Requests/sec:\s+([\d.]+)", w).group(1))
                p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", w)
                return {"requests_per_s": rps, "p99_ms": round(float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)], 2)}
            # Baseline in the same run: /healthz answers a constant and touches nothing, so it shows
            # what the machine, wrk and the HTTP stack allow; then /status.
            results["status"] = {"healthz_baseline": wrk("/healthz"), "status": wrk(f"/status/{job}")}
            results["status"]["rps_ratio_to_baseline"] = round(results["status"]["status"]["requests_per_s"] / results["status"]["healthz_baseline"]["requests_per_s"], 3)
        else:
            results["status"] = "wrk not installed (apt-get install wrk)"
        # 1 GiB file, three rounds of: cat baseline (then sync: the bytes on disk), upload (the
        # server fsyncs each file before its 202). Both read the input from the page cache. The
        # disk's pace varies a lot between runs, so the figures are medians of the rounds.
        size = os.path.getsize(big)
        cats, ups = [], []
        for _ in range(3):
            cat_s, _ = timed(["sh", "-c", f"cat '{big}' > '{data}/cat.bin' && sync '{data}/cat.bin'"])
            os.remove(f"{data}/cat.bin")
            up_s, r = timed(["curl", "-sf", "-F", f"files=@{big}", base + "/upload"])
            job = json.loads(r.stdout)["job_id"]
            for name in os.listdir(os.path.join(data, "uploads")):
                if name.startswith(job):
                    os.remove(os.path.join(data, "uploads", name))
            cats.append(size / 1e6 / cat_s)
            ups.append(size / 1e6 / up_s)
        median = lambda xs: sorted(xs)[len(xs) // 2]
        results["big"] = {"bytes": size, "cat_mb_s": round(median(cats), 1), "upload_mb_s": round(median(ups), 1),
                          "ratio": round(median(ups) / median(cats), 3),
                          "rounds": [{"cat_mb_s": round(c, 1), "upload_mb_s": round(u, 1)} for c, u in zip(cats, ups)],
                          "server_peak_rss_mib": round(vm_hwm_mib(server.pid))}
        # 1,000 small files in one request.
        total = sum(os.path.getsize(p) for p in smalls)
        cat_s, _ = timed(["sh", "-c", f"cat {small_dir}/*.tif > '{data}/cat.bin' && sync '{data}/cat.bin'"])
        os.remove(f"{data}/cat.bin")
        args = ["curl", "-sf"]
        for p in smalls:
            args += ["-F", f"files=@{p}"]
        up_s, r = timed(args + [base + "/upload"])
        assert json.loads(r.stdout)["total_files"] == 1000, r.stdout
        results["small"] = {"files": 1000, "bytes": total, "cat_mb_s": round(total / 1e6 / cat_s, 1),
                            "upload_mb_s": round(total / 1e6 / up_s, 1), "ratio": round(cat_s / up_s, 3),
                            "upload_s": round(up_s, 2), "server_peak_rss_mib": round(vm_hwm_mib(server.pid))}
        print(json.dumps(results, indent=2))
        with open(os.path.join(ROOT, ".build", "bench", "service.json"), "w") as f:
            json.dump(results, f, indent=2)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
