"""Opens a job on the dashboard's map in headless Chromium (Debian's package, through Playwright),
with every request to anything but the server refused, and prints what a person would have seen,
as JSON, for the test suite to check:

    python map_check.py BASE_URL JOB_ID SCREENSHOT.png EXPECTED_FILES

It opens BASE_URL/?job=JOB_ID, waits for the job's footprints, records their states, then (with
GEOINFER_FAILPOINT_DIR set, the server pausing at `worker.after_batch`) releases the paused
batches one at a time until every footprint shows `succeeded` on the page, live, recording each
new set of states with how many times the page had loaded the footprints document by then. It then waits
for every quicklook overlay and detection box, reads where each is drawn, opens a detection's
popup, clicks a footprint to zoom to it, and saves a screenshot.
"""
import json
import os
import shutil
import sys
import time
from urllib.parse import urlparse

from playwright.sync_api import sync_playwright

base, job, shot, expected = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3], int(sys.argv[4])
origin = urlparse(base)
chromium = shutil.which("chromium") or shutil.which("chromium-browser")
gate = os.environ.get("GEOINFER_FAILPOINT_DIR")
out = {"blocked": [], "states_first": [], "states_seen": []}


def fail(message):
    print(message, file=sys.stderr)
    print(json.dumps(out))
    sys.exit(1)


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # The network is the server and nothing else: any other request is refused and recorded.
    def gatekeeper(route):
        u = urlparse(route.request.url)
        if (u.scheme, u.hostname, u.port) == (origin.scheme, origin.hostname, origin.port) or u.scheme in ("blob", "data"):
            route.continue_()
        else:
            out["blocked"].append(route.request.url)
            route.abort()
    page.route("**/*", gatekeeper)

    page.goto(f"{base}/?job={job}")
    page.wait_for_selector(f'#map[data-footprints="{expected}"]', timeout=60000)
    states = lambda: page.eval_on_selector_all("path.footprint", "ps => ps.map(p => [p.dataset.file, p.dataset.state])")
    out["states_first"] = states()

    # Each new set of states, with how many times the page had loaded the footprints by then: a
    # change seen while that is still 1 came from the job's event stream alone.
    loads = lambda: int(page.get_attribute("#map", "data-footprint-loads") or 0)
    deadline = time.time() + 120
    while True:
        now = states()
        if now != (out["states_seen"][-1]["states"] if out["states_seen"] else None):
            out["states_seen"].append({"states": now, "footprint_loads": loads()})
        if len(now) == expected and all(s == "succeeded" for _, s in now):
            break
        if time.time() > deadline:
            fail(f"the footprints did not all turn succeeded within 120 s: {now}")
        if gate:
            paused = sorted(f for f in os.listdir(gate) if f.startswith("worker.after_batch.") and f.endswith(".paused"))
            if paused:
                os.remove(os.path.join(gate, paused[0]))
        time.sleep(0.05)

    page.wait_for_selector(f'#map[data-quicklooks="{expected}"]', timeout=60000)
    page.wait_for_selector("#map[data-detections]", timeout=60000)
    out["detections_drawn"] = int(page.get_attribute("#map", "data-detections"))
    out["det_paths"] = page.eval_on_selector_all("path.det", "ps => ps.length")
    rect = "e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }"
    # Each picture's corners on the page: its pane's origin plus its CSS matrix applied to the
    # image's own corners (the test compares them with GDAL's corners projected independently).
    corners = """i => {
      const m = new DOMMatrix(getComputedStyle(i).transform), o = i.parentElement.getBoundingClientRect();
      const w = i.offsetWidth, h = i.offsetHeight;
      return [[0, 0], [w, 0], [w, h], [0, h]].map(([x, y]) => { const p = m.transformPoint(new DOMPoint(x, y)); return [o.left + p.x, o.top + p.y]; });
    }"""
    out["overlays"] = page.eval_on_selector_all(
        "img.ql", f"is => is.map(i => ({{file: i.dataset.file, bbox: JSON.parse(i.dataset.bbox), rect: ({rect})(i), corners: ({corners})(i), loaded: i.naturalWidth > 0}}))")
    out["map_rect"] = page.eval_on_selector("#map", rect)
    out["map_view"] = json.loads(page.get_attribute("#map", "data-view"))
    out["footprints"] = page.eval_on_selector_all("path.footprint", f"ps => ps.map(p => ({{file: p.dataset.file, rect: ({rect})(p)}}))")
    out["layers"] = page.eval_on_selector_all(".leaflet-control-layers-overlays label", "ls => ls.map(l => l.textContent.trim())")

    # A detection's popup names its class, score and file.
    first = page.query_selector("path.det")
    if first:
        first.dispatch_event("click")
        page.wait_for_selector(".leaflet-popup-content", timeout=10000)
        out["popup"] = page.text_content(".leaflet-popup-content")
        page.click(".leaflet-popup-close-button")

    # Clicking a footprint zooms the map to that file.
    before = page.get_attribute("#map", "data-view")
    out["view_before"] = json.loads(before)
    target = out["footprints"][0]["file"]
    page.eval_on_selector(f'path.footprint[data-file="{target}"]', "p => p.dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    page.wait_for_function("before => document.getElementById('map').dataset.view !== before", arg=before, timeout=10000)
    out["zoomed_to"] = target
    out["view_after"] = json.loads(page.get_attribute("#map", "data-view"))
    out["url"] = page.url
    page.screenshot(path=shot, full_page=True)
    out["errors"] = errors
    browser.close()
print(json.dumps(out))
