/// The web dashboard at `/`: one page of HTML, CSS and plain JavaScript, no build step. It reads
/// the same API as every client (so API keys apply), follows running jobs through their
/// server-sent events, and never puts API data into the page as HTML (text nodes only), so file
/// names cannot inject markup.
enum Dashboard {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>GeoInfer</title>
        <link rel="stylesheet" href="/assets/leaflet/leaflet.css">
        <script src="/assets/leaflet/leaflet.js"></script>
        <style>
          body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2733; background: #f4f6f8; }
          header { background: #1d3b2a; color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: center; }
          header h1 { font-size: 18px; margin: 0; flex: 1; }
          header input { width: 280px; }
          main { padding: 16px 20px; display: grid; grid-template-columns: minmax(420px, 1fr) minmax(420px, 1.2fr); gap: 16px; }
          section { background: #fff; border-radius: 6px; padding: 12px 16px; box-shadow: 0 1px 2px #0002; }
          h2 { font-size: 15px; margin: 4px 0 10px; }
          table { width: 100%; border-collapse: collapse; }
          td, th { text-align: left; padding: 4px 6px; border-bottom: 1px solid #e5e8eb; vertical-align: middle; }
          tr.job { cursor: pointer; }
          tr.job.selected { background: #e8f3ec; }
          progress { width: 120px; }
          .st { font-weight: 600; }
          .st.completed { color: #1b7a3a; } .st.failed, .st.cancelled { color: #b3261e; } .st.completed_with_errors { color: #a15c00; }
          #drop { border: 2px dashed #9aa7b2; border-radius: 6px; padding: 18px; text-align: center; color: #55626e; }
          #drop.over { border-color: #1b7a3a; background: #eef8f1; }
          .quicklooks { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 10px; }
          .quicklooks figure { margin: 0; font-size: 12px; }
          .quicklooks img { width: 180px; height: 180px; object-fit: contain; background: #222; border-radius: 4px; }
          .muted { color: #6b7782; }
          #map { height: 460px; margin: 10px 0; border-radius: 4px; background: #d9e2e8; }
          #map.nomap { height: auto; padding: 10px; background: #f4f6f8; }
          .nomap-note { background: #fff; padding: 6px 10px; font-size: 13px; }
          .legend { font-size: 12px; margin: 0; }
          .legend span { display: inline-block; margin-right: 10px; }
          .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; vertical-align: -1px; }
          tr[data-file] { cursor: pointer; }
          tr[data-file].zoomed { background: #e8f3ec; }
          #error { color: #b3261e; white-space: pre-wrap; }
        </style>
        </head>
        <body>
        <header>
          <h1>GeoInfer</h1>
          <label>API key <input id="key" type="password" placeholder="only if the server requires one" autocomplete="off"></label>
        </header>
        <main>
          <div>
            <section>
              <h2>Upload GeoTIFFs</h2>
              <form id="upload">
                <div id="drop">Drop .tif files here, or <input id="files" type="file" multiple accept=".tif,.tiff,image/tiff"></div>
                <p><label>Webhook URL (optional) <input id="webhook" type="url" size="40"></label></p>
                <p><button type="submit">Upload</button> <progress id="sent" max="100" value="0" hidden></progress> <span id="upload-state" class="muted"></span></p>
              </form>
              <div id="error"></div>
            </section>
            <section>
              <h2>Jobs</h2>
              <table><thead><tr><th>Job</th><th>Status</th><th>Progress</th><th>Files</th><th>Created</th></tr></thead>
              <tbody id="jobs"></tbody></table>
            </section>
          </div>
          <section id="detail"><h2>Job</h2><p class="muted">Select a job to see its files on a map, with their detections and quicklooks.</p></section>
        </main>
        <script>
        "use strict";
        const keyInput = document.getElementById("key");
        keyInput.value = sessionStorage.getItem("geoinfer-key") || "";
        keyInput.addEventListener("change", () => { sessionStorage.setItem("geoinfer-key", keyInput.value.trim()); refresh(); });
        const headers = () => keyInput.value.trim() ? { "Authorization": "Bearer " + keyInput.value.trim() } : {};
        const final = s => ["completed", "completed_with_errors", "failed", "cancelled"].includes(s);
        const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
        const showError = text => { document.getElementById("error").textContent = text || ""; };
        let selected = null;
        const following = new Map();

        async function api(path) {
          const r = await fetch(path, { headers: headers() });
          const body = await r.json().catch(() => ({}));
          if (!r.ok) throw new Error((body.error && body.error.message) || ("HTTP " + r.status));
          return body;
        }

        // Runs fn `ms` after the first call for `key` of a burst, once: a burst of events costs one reload.
        const pending = new Map();
        function soon(key, fn, ms) {
          if (pending.has(key)) return;
          pending.set(key, setTimeout(() => { pending.delete(key); fn(); }, ms));
        }

        // Without a key the browser loads quicklooks itself (its own cache and loader: the whole
        // mosaic of a thousand-file job in about 3 s instead of 4.6 s, BENCHMARKS.md); with one, each
        // is fetched once with the key and shared by the map and the gallery, until another job is
        // opened (its blob URLs are then released). A failed fetch is not remembered.
        let looks = new Map();
        function quicklook(url) {
          if (!keyInput.value.trim()) return Promise.resolve(url);
          if (!looks.has(url)) {
            const cache = looks;
            cache.set(url, fetch(url, { headers: headers() }).then(r => r.ok ? r.blob() : null)
              .then(b => b ? URL.createObjectURL(b) : null).catch(() => null)
              .then(src => { if (!src) cache.delete(url); return src; }));
          }
          return looks.get(url);
        }
        function forgetQuicklooks() {
          const old = looks; looks = new Map();
          for (const p of old.values()) p.then(src => { if (src) URL.revokeObjectURL(src); });
        }
        const lazyLooks = new IntersectionObserver(entries => {
          for (const e of entries) {
            if (!e.isIntersecting) continue;
            const img = e.target; lazyLooks.unobserve(img);
            img.onerror = () => { img.closest("figure").hidden = true; };
            quicklook(img.dataset.src).then(src => { if (src) img.src = src; });
          }
        }, { rootMargin: "600px" });

        function row(job) {
          let tr = document.querySelector(`tr[data-job="${CSS.escape(job.job_id)}"]`);
          if (!tr) {
            tr = el("tr"); tr.className = "job"; tr.dataset.job = job.job_id;
            tr.append(el("td", job.job_id.slice(0, 8)), el("td"), el("td"), el("td"), el("td", new Date(job.created_at).toLocaleString()));
            tr.children[2].append(el("progress")); tr.children[2].append(el("span", "", "muted pct"));
            tr.addEventListener("click", () => select(job.job_id));
            document.getElementById("jobs").append(tr);
          }
          update(tr, job);
          return tr;
        }

        function update(tr, job) {
          tr.dataset.status = job.status;
          tr.dataset.progress = job.progress;
          tr.children[1].textContent = job.status.replaceAll("_", " ");
          tr.children[1].className = "st " + job.status;
          const bar = tr.querySelector("progress"); bar.max = 100; bar.value = job.progress;
          tr.querySelector(".pct").textContent = " " + job.progress.toFixed(1) + "%";
          tr.children[3].textContent = `${job.processed_files}/${job.total_files}` + (job.failed_files ? ` (${job.failed_files} failed)` : "");
          tr.classList.toggle("selected", job.job_id === selected);
        }

        async function follow(id) {
          if (following.has(id)) return;
          const ctl = new AbortController(); following.set(id, ctl);
          try {
            const r = await fetch(`/jobs/${encodeURIComponent(id)}/events`, { headers: headers(), signal: ctl.signal });
            const reader = r.body.getReader(); const dec = new TextDecoder(); let buf = "";
            for (;;) {
              const { value, done } = await reader.read(); if (done) break;
              buf += dec.decode(value, { stream: true });
              let i;
              while ((i = buf.indexOf("\n\n")) >= 0) {
                const block = buf.slice(0, i); buf = buf.slice(i + 2);
                const ev = (block.match(/^event: (.*)$/m) || [])[1]; const data = (block.match(/^data: (.*)$/m) || [])[1];
                if (!ev || !data) continue;
                const payload = JSON.parse(data);
                if (ev === "progress" || ev === "done") row(payload);
                if (ev === "state" && view && view.id === id) changed(view, payload);
                if ((ev === "file" || ev === "done") && id === selected) soon("show:" + id, () => showJob(id), ev === "done" ? 0 : 500);
              }
            }
          } catch (e) { /* the stream ends with the job, or on navigation */ }
          following.delete(id);
        }

        async function refresh() {
          try {
            const list = await api("/jobs?limit=50");
            showError("");
            for (const job of list.jobs.slice().reverse()) { const tr = row(job); document.getElementById("jobs").prepend(tr); if (!final(job.status)) follow(job.job_id); }
          } catch (e) { showError("Cannot list jobs: " + e.message); }
        }

        async function select(id) {
          selected = id;
          history.replaceState(null, "", "?job=" + encodeURIComponent(id));
          document.querySelectorAll("tr.job").forEach(tr => tr.classList.toggle("selected", tr.dataset.job === id));
          await showJob(id);
        }

        // --- the map: footprints coloured by state, quicklooks where they lie, detections over them ---

        // A picture laid on its raster's four corners (an affine map of the image onto them), not on a
        // north-up box: a grid turned against north (UTM away from its central meridian, a rotated
        // geotransform) lies exactly where it is, and neighbours meet at their seams. Hidden while the
        // map animates a zoom, then placed again.
        const Placed = typeof L === "undefined" ? null : L.ImageOverlay.extend({
          options: { className: "ql leaflet-zoom-hide" },
          _animateZoom() {},
          _reset() {
            const img = this._image, map = this._map, w = img.naturalWidth || 1, h = img.naturalHeight || 1;
            const [tl, tr, , bl] = this.options.corners.map(([lon, lat]) => map.latLngToLayerPoint([lat, lon]));
            img.style.width = w + "px"; img.style.height = h + "px"; img.style.transformOrigin = "0 0";
            img.style.transform = `matrix(${(tr.x - tl.x) / w}, ${(tr.y - tl.y) / w}, ${(bl.x - tl.x) / h}, ${(bl.y - tl.y) / h}, ${tl.x}, ${tl.y})`;
          },
        });
        const stateColour = { queued: "#8a96a3", running: "#1f6feb", succeeded: "#1b7a3a", failed: "#b3261e", cancelled: "#55626e" };
        const classColour = i => ["#ff7f0e", "#e377c2", "#17becf", "#ffd60a", "#d62728", "#9467bd", "#8c564b", "#2ca02c"][((i % 8) + 8) % 8];
        let view = null;

        function openMap(box, id) {
          if (view) { view.map.remove(); view.queue.length = 0; view = null; }
          forgetQuicklooks();
          if (typeof L === "undefined") {
            box.className = "nomap muted";
            box.textContent = "No map: the server has no Leaflet (install Debian's libjs-leaflet on it, or set GEOINFER_LEAFLET_DIR).";
            return;
          }
          const map = L.map(box, { attributionControl: false, zoomSnap: 0.25, maxZoom: 26 }).setView([0, 0], 2);
          for (const [pane, z] of [["quicklooks", 350], ["footprints", 410], ["detections", 420]]) map.createPane(pane).style.zIndex = z;
          const footprints = L.featureGroup().addTo(map), images = L.layerGroup().addTo(map), detections = L.featureGroup().addTo(map);
          L.control.layers(null, { "Footprints": footprints, "Quicklooks": images, "Detections": detections }, { collapsed: false }).addTo(map);
          L.control.scale().addTo(map);
          view = { id, map, box, footprints, images, detections, files: new Map(), queue: [], active: 0, loaded: 0, fitted: false, detectionsOf: null, note: null,
                    events: 0, footprintLoads: 0, ready: false };
          const v = view;
          const shown = () => {
            const b = map.getBounds();
            box.dataset.view = JSON.stringify([b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]);
            loadVisible(v);
          };
          map.on("moveend", shown);
          map.on("overlayadd", () => loadVisible(v));
          shown();
        }

        // A file's `state` event: its colour at once, and its picture once it has one. A file not on
        // the map yet (a bucket input gets its footprint when a worker first reads it) brings the
        // footprints again, at most once a second.
        function changed(v, e) {
          const f = v.files.get(e.name);
          if (!f) { if (e.status !== "queued") soon("footprints:" + v.id, () => { if (view === v) loadFootprints(v); }, 1000); return; }
          f.at = ++v.events;
          paint(f, e.status);
          if (e.quicklook && !f.quicklook) { f.quicklook = e.quicklook; f.thumbnail = e.thumbnail || null; soon("visible:" + v.id, () => loadVisible(v), 100); }
        }

        function paint(f, status) {
          f.status = status;
          const colour = stateColour[status] || "#55626e";
          f.poly.setStyle({ color: colour, fillColor: colour, fillOpacity: status === "succeeded" ? 0 : 0.2 });
          const e = f.poly.getElement(); if (e) e.dataset.state = status;
        }

        function zoomTo(name) {
          const f = view && view.files.get(name);
          document.querySelectorAll("#detail tr[data-file]").forEach(tr => tr.classList.toggle("zoomed", tr.dataset.file === name));
          if (f) view.map.fitBounds(f.bounds, { padding: [20, 20], animate: false });
        }

        // One compact GeoJSON of every file's footprint, state and quicklook.
        async function loadFootprints(v) {
          const asked = v.events;
          let fc;
          try { fc = await api(`/results/${encodeURIComponent(v.id)}/footprints.geojson`); } catch (e) { showError("Cannot load the footprints: " + e.message); return false; }
          if (view !== v) return false;
          for (const feature of fc.features) {
            const p = feature.properties;
            let f = v.files.get(p.name);
            if (!f) {
              const [w, s, e, n] = feature.bbox;
              const ring = feature.geometry.coordinates[0].map(([lon, lat]) => [lat, lon]);
              const poly = L.polygon(ring, { pane: "footprints", className: "footprint", weight: 2 });
              poly.bindTooltip(() => el("span", p.name));
              poly.on("click", () => zoomTo(p.name));
              f = { name: p.name, poly, bbox: feature.bbox, corners: p.corners, bounds: L.latLngBounds([s, w], [n, e]), status: null, quicklook: null, thumbnail: null,
                    overlay: null, level: 0, queued: 0, missing: new Set(), at: 0 };
              // The path exists only while the footprints are shown: labelled each time it is drawn.
              poly.on("add", () => { const e = poly.getElement(); if (e) { e.dataset.file = f.name; if (f.status) e.dataset.state = f.status; } });
              v.files.set(p.name, f);
              poly.addTo(v.footprints);
            }
            // An event newer than this snapshot wins.
            if (f.at <= asked) { paint(f, p.status); f.quicklook = p.quicklook; f.thumbnail = p.thumbnail; }
          }
          v.box.dataset.footprints = String(v.files.size);
          v.box.dataset.footprintLoads = String(++v.footprintLoads);
          if (!v.fitted && v.files.size) { v.map.fitBounds(v.footprints.getBounds(), { padding: [10, 10], animate: false }); v.fitted = true; }
          if (!v.files.size && !v.note) {
            // Nothing to place: say so rather than show an empty world.
            v.note = L.control({ position: "bottomleft" });
            v.note.onAdd = () => el("div", "None of this job's files has a place on the map: none is georeferenced (or the job was submitted before footprints were kept).", "leaflet-bar nomap-note");
            v.note.addTo(v.map);
          } else if (v.files.size && v.note) { v.note.remove(); v.note = null; }
          loadVisible(v);
          return true;
        }

        // Each file in view gets its thumbnail (128 px) while it is drawn no larger than that, and its
        // quicklook once it is; 64 in flight at a time (enough to keep the browser's connections busy,
        // few enough that what comes into view after a pan is not queued behind the rest).
        function loadVisible(v) {
          if (view !== v || !v.ready || !v.map.hasLayer(v.images)) return;
          // What waits is what is in view now: files that left the view are dropped from the queue.
          for (const f of v.queue) f.queued = 0;
          v.queue = [];
          const area = v.map.getBounds().pad(0.25);
          for (const f of v.files.values()) {
            if (!f.quicklook || f.queued || !area.intersects(f.bounds)) continue;
            const nw = v.map.latLngToContainerPoint(f.bounds.getNorthWest()), se = v.map.latLngToContainerPoint(f.bounds.getSouthEast());
            const small = Math.max(se.x - nw.x, se.y - nw.y) <= 128;
            const want = small && f.thumbnail && !f.missing.has(1) ? 1 : 2;
            if (want > f.level && !f.missing.has(want)) { f.queued = want; v.queue.push(f); }
          }
          pump(v);
        }

        function pump(v) {
          if (view !== v) { v.queue.length = 0; return; }
          while (v.active < 64 && v.queue.length) {
            const f = v.queue.shift(), level = f.queued; v.active++;
            quicklook(level === 1 ? f.thumbnail : f.quicklook).then(async src => {
              const img = src ? new Image() : null;
              if (img) { img.src = src; await new Promise(r => { img.onload = r; img.onerror = () => { img.src = ""; r(); }; }); }
              v.active--; f.queued = 0;
              if (!img || !img.naturalWidth) {
                f.missing.add(level);
                if (level === 1) loadVisible(v);  // no thumbnail (a job from before they existed): the quicklook instead
              } else if (view === v && level > f.level) {
                img.dataset.file = f.name; img.dataset.bbox = JSON.stringify(f.bbox); img.dataset.level = String(level);
                if (f.overlay) v.images.removeLayer(f.overlay); else v.box.dataset.quicklooks = String(++v.loaded);
                f.overlay = new Placed(img, f.bounds, { pane: "quicklooks", interactive: false, corners: f.corners }).addTo(v.images);
                f.level = level;
              }
              pump(v);
              // The view may have moved while these were loading (a zoom past 128 px, say): look again.
              if (!v.active && !v.queue.length) loadVisible(v);
            });
          }
        }

        // The job's detections as boxes coloured by class; SVG for a few thousand, canvas past that.
        async function loadDetections(v, job) {
          // The files' own boxes (what each quicklook shows); a job without GeoJSON has its merged layer only.
          const source = job.results && (job.results.geojson || job.results.detections_merged);
          if (!source || v.detectionsOf === job.updated_at) return;
          let fc;
          try { fc = await api(source); } catch (e) { showError("Cannot load the detections: " + e.message); return; }
          if (view !== v) return;
          v.detectionsOf = job.updated_at;
          v.detections.clearLayers();
          if (v.renderer) { v.renderer.remove(); v.renderer = null; }
          // Boxes come in -180…180; a file across the antimeridian has its footprint past 180, so its boxes go there too.
          for (const feature of fc.features) {
            const f = v.files.get(feature.properties.source_file);
            if (f && f.bbox[2] > 180) feature.geometry.coordinates = feature.geometry.coordinates.map(ring => ring.map(([lon, lat]) => [lon < 0 ? lon + 360 : lon, lat]));
          }
          const few = fc.features.length <= 3000;
          v.renderer = few ? L.svg({ pane: "detections" }) : L.canvas({ pane: "detections" });
          const layer = L.geoJSON(fc, {
            pane: "detections", className: "det", renderer: v.renderer,
            style: feature => ({ color: classColour(feature.properties.category_id), weight: 1.5, fillOpacity: 0.08 }),
            onEachFeature: (feature, l) => l.bindPopup(() => {
              const p = feature.properties, box = el("div");
              box.append(el("b", p.class), el("div", "score " + Number(p.score).toFixed(3)), el("div", "file " + p.source_file));
              return box;
            }),
          });
          layer.addTo(v.detections);
          if (few) layer.eachLayer(l => { const e = l.getElement(); if (e) { e.dataset.class = l.feature.properties.class; e.dataset.file = l.feature.properties.source_file; } });
          v.box.dataset.detections = String(fc.features.length);
        }

        async function showJob(id) {
          let job;
          try { job = await api(`/jobs/${encodeURIComponent(id)}`); } catch (e) { showError(e.message); return; }
          if (id !== selected) return;
          const d = document.getElementById("detail");
          if (d.dataset.job !== job.job_id) {
            const legend = el("p", undefined, "legend");
            for (const [state, colour] of Object.entries(stateColour)) { const s = el("span"); const i = el("i"); i.style.background = colour; s.append(i, state); legend.append(s); }
            d.replaceChildren(el("h2", "Job " + job.job_id), el("div", undefined, "facts"), legend, el("div"), el("div", undefined, "files"));
            d.children[3].id = "map";
            d.dataset.job = job.job_id;
            openMap(d.children[3], job.job_id);
          }
          if (!final(job.status)) follow(job.job_id);
          const facts = d.querySelector(".facts"); facts.replaceChildren();
          const line = el("p");
          line.append(el("span", job.status.replaceAll("_", " "), "st " + job.status),
            el("span", ` · ${job.succeeded_files} succeeded, ${job.failed_files} failed of ${job.total_files} · ${job.detections} detections · model ${job.model}`));
          facts.append(line);
          const classes = Object.entries(job.detections_by_class || {});
          if (classes.length) facts.append(el("p", "By class: " + classes.map(([k, v]) => `${k} ${v}`).join(", ")));
          if (job.results) {
            const links = el("p"); links.append("Results: ");
            for (const [name, href] of [["COCO", job.results.coco], ["GeoJSON", job.results.geojson],
                                        ["merged across files", job.results.detections_merged], ["GeoPackage", job.results.gpkg],
                                        ["FlatGeobuf", job.results.fgb], ["FlatGeobuf merged", job.results.fgb_merged],
                                        ["metadata", job.results.metadata],
                                        ["footprints", `/results/${encodeURIComponent(job.job_id)}/footprints.geojson`]]) {
              if (!href) continue;
              const a = el("a", name); a.href = href; a.download = ""; links.append(a, " ");
            }
            if (job.detections_merged != null) facts.append(el("p", `Merged across files: ${job.detections_merged} objects`));
            facts.append(links);
          }
          const t = el("table"); const head = el("tr");
          for (const h of ["File", "Status", "Detections", "By class", "Time"]) head.append(el("th", h));
          t.append(head);
          const gallery = el("div", undefined, "quicklooks");
          for (const f of job.files) {
            const tr = el("tr"); tr.dataset.file = f.name;
            tr.append(el("td", f.name), el("td", f.status + (f.error ? ": " + f.error : ""), "st " + f.status), el("td", String(f.detections)),
              el("td", Object.entries(f.detections_by_class || {}).map(([k, v]) => `${k} ${v}`).join(", ")),
              el("td", f.seconds != null ? f.seconds.toFixed(1) + " s" : ""));
            tr.addEventListener("click", () => zoomTo(f.name));
            t.append(tr);
            if (f.quicklook) {
              const fig = el("figure"); const img = el("img"); img.className = "quicklook"; img.alt = f.name; img.dataset.src = f.quicklook;
              lazyLooks.observe(img);
              fig.append(img, el("figcaption", f.name)); gallery.append(fig);
            }
          }
          d.querySelector(".files").replaceChildren(t, gallery);
          if (view && view.id === job.job_id) {
            const v = view;
            // Footprints once when the map opens and once when the job ends; between, `state` events
            // keep them (and their pictures) current.
            const stage = final(job.status) ? "final" : "running";
            if (v.footprintsAt !== stage && await loadFootprints(v)) v.footprintsAt = stage;
            await loadDetections(v, job);
            // Quicklooks after the footprints and boxes, so their thousand requests never hold those up.
            v.ready = true;
            loadVisible(v);
          }
        }

        const drop = document.getElementById("drop"); const filesInput = document.getElementById("files");
        let dropped = null;
        drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
        drop.addEventListener("dragleave", () => drop.classList.remove("over"));
        drop.addEventListener("drop", e => { e.preventDefault(); drop.classList.remove("over"); dropped = e.dataTransfer.files;
          document.getElementById("upload-state").textContent = dropped.length + " files ready"; });
        document.getElementById("upload").addEventListener("submit", e => {
          e.preventDefault();
          const files = dropped || filesInput.files;
          if (!files || !files.length) { showError("Choose or drop GeoTIFF files first."); return; }
          const form = new FormData();
          for (const f of files) form.append("files", f, f.name);
          const hook = document.getElementById("webhook").value.trim(); if (hook) form.append("webhook_url", hook);
          const xhr = new XMLHttpRequest(); const sent = document.getElementById("sent"); const state = document.getElementById("upload-state");
          xhr.open("POST", "/jobs");
          for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v);
          sent.hidden = false; sent.value = 0;
          xhr.upload.onprogress = ev => { if (ev.lengthComputable) sent.value = 100 * ev.loaded / ev.total; };
          xhr.onload = () => {
            let body = {}; try { body = JSON.parse(xhr.responseText); } catch (_) {}
            if (xhr.status === 202) { state.textContent = "accepted: job " + body.job_id; showError(""); dropped = null; filesInput.value = ""; refresh().then(() => select(body.job_id)); }
            else { state.textContent = ""; const err = body.error || {}; showError((err.message || "upload failed") + (err.files ? "\n" + err.files.map(f => f.name + ": " + f.error).join("\n") : "")); }
          };
          xhr.onerror = () => showError("The upload was cut off; nothing was kept. Try again.");
          xhr.send(form);
        });
        const wanted = new URLSearchParams(location.search).get("job");
        refresh().then(() => { if (wanted) select(wanted); });
        </script>
        </body>
        </html>
        """#
}
