"""Drives the dashboard in headless Chromium (Debian's package, through Playwright) and prints
what a person would have seen, as JSON, for the test suite to check:

    python dashboard_check.py URL SCREENSHOT.png FILE.tif...

It opens the page, uploads the files through its form, waits for the new job's row, samples its
progress bar until the job ends, opens the job, waits for a quicklook image to load, and saves a
screenshot.

With GEOINFER_FAILPOINT_DIR set (the server pausing at `worker.after_batch`), it releases each
paused batch only once the bar shows a value it has not shown before, so every step of the job is
seen on the page however fast or slow the machine is.
"""
import json
import os
import shutil
import sys
import time

from playwright.sync_api import sync_playwright

url, shot, files = sys.argv[1], sys.argv[2], sys.argv[3:]
chromium = shutil.which("chromium") or shutil.which("chromium-browser")
out = {"progress": [], "statuses": []}
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("#upload", state="attached")
    page.set_input_files("#files", files)
    page.click("button[type=submit]")
    page.wait_for_function("() => document.getElementById('upload-state').textContent.startsWith('accepted: job ')", timeout=60000)
    job = page.text_content("#upload-state").split("accepted: job ")[1].strip()
    out["job"] = job
    row = page.wait_for_selector(f'tr[data-job="{job}"]', timeout=20000)
    gate = os.environ.get("GEOINFER_FAILPOINT_DIR")
    released_at = 0  # the bar's value when the last pause was released
    deadline = time.time() + 120
    while time.time() < deadline:
        status = row.get_attribute("data-status")
        value = page.eval_on_selector(f'tr[data-job="{job}"] progress', "p => p.value")
        out["progress"].append(value)
        out["statuses"].append(status)
        if status in ("completed", "completed_with_errors", "failed", "cancelled"):
            break
        if gate and value > released_at:
            paused = sorted(f for f in os.listdir(gate) if f.startswith("worker.after_batch.") and f.endswith(".paused"))
            if paused:
                os.remove(os.path.join(gate, paused[0]))
                released_at = value
        time.sleep(0.05)
    else:
        print(f"the job did not end within 120 s; last progress {out['progress'][-1:]}, statuses {out['statuses'][-1:]}", file=sys.stderr)
    row.click()
    img = page.wait_for_selector("img.quicklook", timeout=20000)
    page.wait_for_function("() => { const i = document.querySelector('img.quicklook'); return i && i.complete && i.naturalWidth > 0; }", timeout=20000)
    out["quicklook_width"] = img.evaluate("i => i.naturalWidth")
    out["detail_job"] = page.get_attribute("#detail", "data-job")
    out["files_listed"] = page.eval_on_selector_all("#detail tr[data-file]", "rows => rows.map(r => r.dataset.file)")
    page.screenshot(path=shot, full_page=True)
    out["errors"] = errors
    browser.close()
print(json.dumps(out))
