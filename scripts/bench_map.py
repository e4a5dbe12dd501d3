#!/usr/bin/env python3
"""Map benchmark (`make bench`): a finished 1,000-file job of adjacent drone tiles opened on the
dashboard's map, in headless Chromium with every request to anything but the server refused.

The files: the drone benchmark's 13 source tiles (bench_drone.py: 1041 x 1041 JPEG GeoTIFFs at
0.048 m, ten of real imagery, three blank), copied to BENCH_MAP_FILES files (1,000) and each placed
on a 40-column grid of abutting 50 m squares (their ModelTiepoint rewritten), so the job is one
2 km x 1.25 km mosaic. `geoinfer serve` (release build, defaults) runs the job once.

Reported, from the same server and job, each in a fresh browser context (no shared cache):
1. Baseline: the same page origin fetching what the map needs with plain `fetch`, six at a time:
   the footprints GeoJSON, the detections GeoJSON and every thumbnail (what the map shows of a
   file drawn no larger than 128 px, as each is here); nothing drawn.
2. The map: from navigation to `/?job={id}` until all footprints are drawn, until every detection
   box is drawn, and until every quicklook in view (the whole job at the first zoom) has loaded;
   once as on a server without keys (the browser loads quicklooks itself), once with an API key in
   the page (each quicklook fetched with the key).
The ratio map ÷ baseline is what the map itself costs over moving its bytes.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import time

from benchlib import EXE, ROOT
from bench_drone import (GSD, SIDE, _ended, clear_serve_folders, get, retire_serve_folders, sources, start_server, upload,
                         wait_for)

FILES = int(os.environ.get("BENCH_MAP_FILES", "1000"))
COLUMNS = 40


def place(path, x, y):
    """Rewrites the GeoTIFF's ModelTiepointTag (33922) so its top-left corner is at (x, y)."""
    with open(path, "r+b") as f:
        head = f.read(8)
        order = "<" if head[:2] == b"II" else ">"
        (ifd,) = struct.unpack(order + "I", head[4:8])
        f.seek(ifd)
        (count,) = struct.unpack(order + "H", f.read(2))
        for i in range(count):
            f.seek(ifd + 2 + 12 * i)
            tag, kind, n, offset = struct.unpack(order + "HHII", f.read(12))
            if tag == 33922 and kind == 12 and n >= 6:
                f.seek(offset + 24)
                f.write(struct.pack(order + "dd", x, y))
                return
    sys.exit(f"{path}: no ModelTiepointTag")


def mosaic(work):
    folder = os.path.join(work, f"map_{FILES}")
    files = [os.path.join(folder, f"tile_{i // COLUMNS:03d}_{i % COLUMNS:03d}.tif") for i in range(FILES)]
    if not all(os.path.exists(f) for f in files):
        srcs = sources(work)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        for i, f in enumerate(files):
            shutil.copyfile(srcs[i % len(srcs)], f)
            place(f, 500000 + (i % COLUMNS) * SIDE * GSD, 4500000 - (i // COLUMNS) * SIDE * GSD)
    return files


BASELINE = """async ({job, files}) => {
  const t0 = performance.now();
  const fp = await (await fetch(`/results/${job}/footprints.geojson`)).json();
  const det = await (await fetch(`/results/${job}/detections.geojson`)).json();
  const urls = fp.features.map(f => f.properties.thumbnail).filter(Boolean);
  let next = 0, bytes = 0;
  async function lane() { while (next < urls.length) { const u = urls[next++]; bytes += (await (await fetch(u)).blob()).size; } }
  await Promise.all([lane(), lane(), lane(), lane(), lane(), lane()]);
  return {seconds: (performance.now() - t0) / 1000, footprints: fp.features.length, detections: det.features.length,
          thumbnails: urls.length, thumbnail_bytes: bytes};
}"""


def open_map(ctx, base, job, files, shot, key=None):
    """Opens the job on the map in a fresh context (with `key` in the page's key field, if given)."""
    if key:
        ctx.add_init_script(f"sessionStorage.setItem('geoinfer-key', {json.dumps(key)})")
    ctx.add_init_script("performance.setResourceTimingBufferSize(100000)")
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/?job={job}")
    at = lambda: page.evaluate("performance.now() / 1000")
    page.wait_for_selector(f'#map[data-footprints="{files}"]', timeout=120000)
    footprints = at()
    page.wait_for_selector("#map[data-detections]", timeout=120000)
    detections = at()
    page.wait_for_function(f"() => Number(document.getElementById('map').dataset.quicklooks || 0) >= {files}", timeout=300000, polling=50)
    quicklooks = at()
    out = {"footprints_s": round(footprints, 2), "detections_s": round(detections, 2), "all_quicklooks_s": round(quicklooks, 2),
           "detections": int(page.get_attribute("#map", "data-detections"))}
    # Where the time went: when the page's requests ran, from the browser's resource timing.
    out["requests"] = page.evaluate("""() => {
      const all = performance.getEntriesByType("resource"), s = v => Math.round(v) / 1000;
      const pick = part => all.filter(e => e.name.includes(part));
      const span = es => es.length ? {n: es.length, first_start_s: s(Math.min(...es.map(e => e.startTime))),
                                       last_end_s: s(Math.max(...es.map(e => e.responseEnd))),
                                       mean_ms: Math.round(es.reduce((a, e) => a + e.duration, 0) / es.length)} : null;
      return {job: span(pick("/jobs/").filter(e => !e.name.includes("/events"))), footprints: span(pick("footprints.geojson")),
              detections: span(pick("detections.geojson")), thumbnails: span(pick("/thumbnails/")), quicklooks: span(pick("/quicklooks/")),
              leaflet: span(pick("/assets/"))};
    }""")
    if shot:
        page.screenshot(path=shot)
    out["page_errors"] = errors
    return out


def browse(base, job, files, key, shot):
    from playwright.sync_api import sync_playwright
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    out = {}
    with sync_playwright() as p:
        # Every host but the server's address fails to resolve: no internet, and (unlike request
        # interception) no cost per request. Requests elsewhere are still seen and counted.
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
        blocked = []

        def context():
            c = browser.new_context(viewport={"width": 1400, "height": 1000})
            c.on("request", lambda r: None if r.url.startswith(base) or r.url.startswith(("blob:", "data:")) else blocked.append(r.url))
            return c

        ctx = context()
        page = ctx.new_page()
        page.goto(base + "/openapi.json")
        out["baseline"] = page.evaluate(BASELINE, {"job": job, "files": files})
        ctx.close()
        for label, k, s in (("map", None, shot), ("map_with_key", key, None)):
            ctx = context()
            out[label] = open_map(ctx, base, job, files, s, k)
            ctx.close()
        out["blocked"] = blocked
        browser.close()
    out["ratio_map_over_baseline"] = round(out["map"]["all_quicklooks_s"] / out["baseline"]["seconds"], 2)
    out["ratio_map_with_key_over_baseline"] = round(out["map_with_key"]["all_quicklooks_s"] / out["baseline"]["seconds"], 2)
    return out


def main():
    work = os.path.join(ROOT, ".build", "bench")
    os.makedirs(work, exist_ok=True)
    files = mosaic(work)
    data = os.path.join(work, "map_serve")
    # The last run's directory (and the drone benchmark's) retired, and the file system given time
    # to reuse the inodes of any removed before the job creates its 2,000 files (see bench_drone).
    clear_serve_folders(work)
    env = dict(os.environ, GEOINFER_ENV_FILE="", GEOINFER_LOG_LEVEL="warning")
    # An admin key, for the map as seen through a key (quicklooks fetched with it).
    key = subprocess.run([EXE, "keys", "create", "--name", "bench-map", "--admin", "--data-dir", data],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    server = None
    try:
        server, base = start_server(data, env, os.path.join(work, "map_serve.log"))
        t = time.perf_counter()
        job = upload(base, files, "/jobs")
        wait_for("the job to end", lambda: _ended(base, job))
        status = get(f"{base}/jobs/{job}")
        print(f"job {job}: {status['status']}, {status['detections']} detections, {time.perf_counter() - t:.1f} s", flush=True)
        result = browse(base, job, len(files), key, os.path.join(work, "map.png"))
    finally:
        if server:
            server.terminate()
            server.wait()
        retire_serve_folders(work)
    print("baseline (fetch only):", json.dumps(result["baseline"]))
    for label in ("map", "map_with_key"):
        print(f"{label}:", json.dumps({k: v for k, v in result[label].items() if k != "requests"}))
        print(f"{label} requests:", json.dumps(result[label]["requests"]))
    print("map ÷ baseline:", result["ratio_map_over_baseline"], "· with a key:", result["ratio_map_with_key_over_baseline"],
          "· blocked requests:", len(result["blocked"]))
    with open(os.path.join(work, "map.json"), "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
