#!/usr/bin/env python3
"""Scale-out benchmarks (`make bench`), on a PostgreSQL 15 cluster started on loopback:

1. Queue overhead: `geoinfer bench-queue` claims and completes 10,000 no-op files with 4 workers,
   on PostgreSQL and on SQLite, in the same run: files/s.
2. A 200-file real job (the default model, 1024x1024 GeoTIFFs at 0.1 m, 9 tiles each) through
   `serve --workers 0` and 1 `geoinfer worker` process (1 inference thread), then 2: wall time from
   the upload's 202 to the job's end (workers already started), the speed-up, and the per-file
   overhead (wall time x workers / files, minus the mean detection time the workers recorded per
   file). `--job-only` skips part 1.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchlib import EXE, ROOT, free_port
PG = "/usr/lib/postgresql/15/bin"


def as_owner(cmd):
    return (["/usr/sbin/runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []) + cmd


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def main():
    work = tempfile.mkdtemp(prefix="geoinfer-bench-scale-", dir="/tmp")
    os.chmod(work, 0o777)
    port = free_port()
    data = os.path.join(work, "pg")
    subprocess.run(as_owner([f"{PG}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync"]), check=True, capture_output=True)
    subprocess.run(as_owner([f"{PG}/pg_ctl", "-D", data, "-l", os.path.join(work, "pg.log"), "-w", "-o",
                             f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={work}", "start"]),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    procs = []
    try:
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c", "CREATE DATABASE bench"], check=True, capture_output=True)
        url = f"postgres://postgres@127.0.0.1:{port}/bench?sslmode=disable"
        base_env = dict(os.environ, GEOINFER_ENV_FILE="", GEOINFER_LOG_LEVEL="warning")
        results = {"queue_10000_noop_files_4_workers": {}}
        for name, env in [] if "--job-only" in sys.argv else [("sqlite", base_env), ("postgresql", dict(base_env, DATABASE_URL=url))]:
            r = subprocess.run([EXE, "bench-queue", "--files", "10000", "--workers", "4"], env=env, capture_output=True, text=True, check=True)
            results["queue_10000_noop_files_4_workers"][name] = json.loads(r.stdout)
            print(f"queue on {name}: {r.stdout.strip()}", file=sys.stderr, flush=True)

        images = os.path.join(work, "images")
        os.makedirs(images)
        for i in range(200):
            subprocess.run(["gdal_create", "-q", "-of", "GTiff", "-outsize", "1024", "1024", "-bands", "3", "-ot", "Byte", "-burn", str(40 + i % 100),
                            "-a_srs", "EPSG:32617", "-a_ullr", str(400000 + i * 200), "3300102.4", str(400102.4 + i * 200), "3300000",
                            os.path.join(images, f"img{i:03d}.tif")], check=True)
        runs = {}
        for workers in ((2, 1) if "--reverse" in sys.argv else (1, 2)):
            dbname = f"job{workers}"
            subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c", f"CREATE DATABASE {dbname}"], check=True, capture_output=True)
            env = dict(base_env, DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/{dbname}?sslmode=disable", GEOINFER_WORKERS="0")
            datadir = os.path.join(work, f"data{workers}")
            api_port = free_port()
            api = subprocess.Popen([EXE, "serve", "--port", str(api_port), "--data-dir", datadir], env=env, cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(api)
            for _ in range(300):
                try:
                    get(f"http://127.0.0.1:{api_port}/healthz")
                    break
                except Exception:
                    time.sleep(0.1)
            # Workers start first (model loaded, waiting on LISTEN); the clock runs from the upload's
            # 202 to the job's end, so start-up is not counted.
            ws = [subprocess.Popen([EXE, "worker", "--concurrency", "1", "--threads", "1", "--data-dir", datadir], env=env, cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]
            procs += ws
            time.sleep(5)
            args = ["curl", "-s", "-f"] + sum([["-F", f"files=@{os.path.join(images, n)}"] for n in sorted(os.listdir(images))], [])
            job = json.loads(subprocess.run(args + [f"http://127.0.0.1:{api_port}/upload"], capture_output=True, text=True, check=True).stdout)["job_id"]
            start = time.perf_counter()
            while get(f"http://127.0.0.1:{api_port}/status/{job}")["status"] not in ("completed", "completed_with_errors", "failed"):
                time.sleep(0.1)
            wall = time.perf_counter() - start
            detail = get(f"http://127.0.0.1:{api_port}/jobs/{job}")
            detect = sum(f.get("seconds") or 0 for f in detail["files"]) / len(detail["files"])
            runs[workers] = {"status": detail["status"], "wall_seconds": round(wall, 2), "files_per_second": round(200 / wall, 2),
                             "mean_detection_seconds_per_file": round(detect, 4),
                             "overhead_seconds_per_file": round(wall * workers / 200 - detect, 4)}
            print(f"200-file job, {workers} worker process(es): {runs[workers]}", file=sys.stderr, flush=True)
            for p in ws + [api]:
                p.terminate()
                p.wait(timeout=30)
        runs["speedup_2_vs_1"] = round(runs[1]["wall_seconds"] / runs[2]["wall_seconds"], 2)
        results["job_200_files_default_model"] = runs
        print(json.dumps(results, indent=2))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        subprocess.run(as_owner([f"{PG}/pg_ctl", "-D", data, "-m", "immediate", "stop"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
