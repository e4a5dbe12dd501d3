import Foundation
import GeoInferTestSupport
import GeoRaster
import NIOHTTP1
import Server
import Testing

/// The dashboard in a real browser: headless Chromium (Debian's package) driven by Playwright.
@Suite(.serialized) struct DashboardTests {
    @Test func servesThePageWithAStrictPolicy() async throws {
        try await InProcessServer.with { server in
            let page = try await server.request(.GET, "/", headers: [("Accept", "text/html")])
            #expect(page.status == 200)
            #expect(page.text.contains("<title>GeoInfer</title>"))
            #expect(page.headers.contains { $0.0.lowercased() == "content-security-policy" && $0.1.contains("default-src 'self'") })
            // API data reaches the page only as text, never as markup.
            #expect(!page.text.contains("innerHTML"))
        }
    }

    @Test func aJobsProgressMovesAndItsQuicklookAppears() async throws {
        // The worker pauses after every batch; the page script releases each pause only once the
        // page has shown a new value, so the bar's steps are seen whatever the machine's speed.
        let gate = FailpointGate()
        let server = try await ServerProcess(environment: gate.environment(["worker.after_batch": "pause"]))
        defer { server.stop() }
        let inputs = Fixtures.temporaryDirectory("inputs")
        let large = inputs.appendingPathComponent("large.tif")
        let small = inputs.appendingPathComponent("small.tif")
        try Scenes.raster(
            width: 240, height: 240, markers: (0..<30).map { Marker(x: ($0 * 97) % 230, y: ($0 * 61) % 230, width: 9, height: 9) }
        )
        .write(to: large)
        try Scenes.raster().write(to: small)
        let shot = server.dataDir.appendingPathComponent("dashboard.png")
        let r = try await Fixtures.run(
            Fixtures.python,
            [
                Fixtures.root.appendingPathComponent("scripts/testing/dashboard_check.py").path,
                server.base + "/", shot.path, large.path, small.path,
            ],
            environment: ["GEOINFER_FAILPOINT_DIR": gate.dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        let seen = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)\(r.stderr)")
        let id = try #require(seen["job"] as? String)
        // The job the page made is a real one, with both files.
        #expect(try await server.get("/status/\(id)").json["total_files"] as? Int == 2)
        let progress = seen["progress"] as? [Double] ?? []
        let statuses = seen["statuses"] as? [String] ?? []
        #expect(statuses.last == "completed", "\(statuses) \(r.stderr)")
        // The bar moved while the page watched: a value between the ends, then a higher one.
        let firstPartial = progress.firstIndex { $0 > 0 && $0 < 100 }
        #expect(firstPartial != nil, "\(progress)")
        if let i = firstPartial { #expect(progress[(i + 1)...].contains { $0 > progress[i] }, "\(progress)") }
        #expect(progress.last == 100)
        #expect((seen["quicklook_width"] as? Int ?? 0) > 0)
        #expect(seen["detail_job"] as? String == id)
        #expect(Set(seen["files_listed"] as? [String] ?? []) == ["large.tif", "small.tif"])
        #expect((seen["errors"] as? [String] ?? ["?"]).isEmpty, "page errors: \(seen["errors"] ?? "")")
        // Keep the screenshot as an artefact of the run.
        let artefacts = Fixtures.root.appendingPathComponent("test-artifacts")
        try FileManager.default.createDirectory(at: artefacts, withIntermediateDirectories: true)
        let kept = artefacts.appendingPathComponent("dashboard.png")
        try? FileManager.default.removeItem(at: kept)
        try FileManager.default.copyItem(at: shot, to: kept)
        #expect(try Data(contentsOf: kept).prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
    }

    /// Four adjacent georeferenced files opened straight from the URL: their footprints follow the
    /// job live, their quicklooks lie where the rasters lie and join into one mosaic, every
    /// detection is a box, and nothing but the server is ever asked for anything.
    @Test func aJobOpensOnTheMapByURL() async throws {
        let gate = FailpointGate()
        let server = try await ServerProcess(
            environment: gate.environment(["worker.after_batch": "pause"]).merging(["GEOINFER_WORKERS": "1"]) { $1 })
        defer { server.stop() }
        let dir = Fixtures.temporaryDirectory("map")
        defer { try? FileManager.default.removeItem(at: dir) }
        // A 2 × 2 mosaic of 120 m tiles at 1 m, markers inside each, 2.4° east of the UTM zone's
        // central meridian: the grid is turned about 1.2° against north, so a picture laid on a
        // north-up box would miss its corners by 4 px at this zoom.
        var form = Multipart()
        var paths: [String: String] = [:]
        for row in 0..<2 {
            for column in 0..<2 {
                var r = SyntheticRaster(width: 120, height: 120)
                r.origin = (730_000 + Double(column) * 120, 3_300_000 - Double(row) * 120)
                r.markers = (0..<3).map { Marker(x: 20 + $0 * 35 + column * 5, y: 25 + $0 * 30 + row * 7, width: 10, height: 10) }
                let name = "tile_\(row)_\(column).tif"
                let path = dir.appendingPathComponent(name).path
                try r.write(to: path)
                paths[name] = path
                form.file(name, try Data(contentsOf: URL(fileURLWithPath: path)))
            }
        }
        let id = try #require(try await server.upload(form).json["job_id"] as? String)
        // The page opens with the worker paused in the first file: one footprint running, the rest queued.
        _ = try await gate.waitPaused("worker.after_batch", alive: { server.isRunning }, diagnostics: { server.serverLog })
        let shot = server.dataDir.appendingPathComponent("map.png")
        let r = try await Fixtures.run(
            Fixtures.python,
            [
                Fixtures.root.appendingPathComponent("scripts/testing/map_check.py").path,
                server.base, id, shot.path, "4",
            ],
            environment: ["GEOINFER_FAILPOINT_DIR": gate.dir.path])
        let seen = try #require((try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any], "\(r.stdout)\(r.stderr)")
        #expect(r.status == 0, "\(r.stderr)")
        #expect((seen["blocked"] as? [String])?.isEmpty == true, "asked beyond the server: \(seen["blocked"] ?? "")")
        #expect((seen["errors"] as? [String] ?? ["?"]).isEmpty, "page errors: \(seen["errors"] ?? "")")
        #expect((seen["url"] as? String)?.hasSuffix("/?job=\(id)") == true)

        // Live states: first one running and three queued, then every one succeeded, with steps
        // between; at least one step (some succeeded, some not) came from the event stream alone,
        // before the page had loaded the footprints a second time.
        let first = (seen["states_first"] as? [[String]] ?? []).map { $0.last ?? "" }
        #expect(first.sorted() == ["queued", "queued", "queued", "running"], "\(first)")
        let steps = (seen["states_seen"] as? [[String: Any]] ?? []).map {
            (states: ($0["states"] as? [[String]] ?? []).map { $0.last ?? "" }, loads: $0["footprint_loads"] as? Int ?? 0)
        }
        #expect(steps.count >= 3, "\(steps)")
        #expect(steps.last?.states == Array(repeating: "succeeded", count: 4), "\(steps)")
        #expect(steps.contains { $0.loads == 1 && $0.states.contains("succeeded") && $0.states.contains("running") }, "\(steps)")

        // Each quicklook overlay is placed at its raster's WGS84 bounds (GDAL's own transform), drawn
        // over its footprint, and its four corners land on the raster's corners: GDAL's, projected
        // to the page here (Web Mercator over the view the page reports).
        let view = seen["map_view"] as? [Double] ?? []
        let page = seen["map_rect"] as? [Double] ?? []
        func onPage(_ lon: Double, _ lat: Double) -> [Double] {
            func y(_ lat: Double) -> Double { log(tan(.pi / 4 + lat * .pi / 360)) }
            guard view.count == 4, page.count == 4 else { return [0, 0] }
            return [
                page[0] + (lon - view[0]) / (view[2] - view[0]) * (page[2] - page[0]),
                page[1] + (y(view[3]) - y(lat)) / (y(view[3]) - y(view[1])) * (page[3] - page[1]),
            ]
        }
        var placed: [String: [[Double]]] = [:]
        let overlays = seen["overlays"] as? [[String: Any]] ?? []
        let footprints = Dictionary(
            (seen["footprints"] as? [[String: Any]] ?? []).map { ($0["file"] as? String ?? "", $0["rect"] as? [Double] ?? []) }
        ) { a, _ in a }
        #expect(overlays.count == 4 && footprints.count == 4)
        for o in overlays {
            let name = o["file"] as? String ?? ""
            let bbox = o["bbox"] as? [Double] ?? []
            let rect = o["rect"] as? [Double] ?? []
            #expect(o["loaded"] as? Bool == true, "\(name)")
            let path = try #require(paths[name], "\(name)")
            let corners = try await Fixtures.gdalTransformToWGS84(raster: path, pixels: [(0, 0), (120, 0), (120, 120), (0, 120)])
            let expected = [
                corners.map { $0[0] }.min()!, corners.map { $0[1] }.min()!, corners.map { $0[0] }.max()!, corners.map { $0[1] }.max()!,
            ]
            #expect(bbox.count == 4 && zip(bbox, expected).allSatisfy { abs($0 - $1) < 1e-6 }, "\(name): \(bbox) vs \(expected)")
            let outline = footprints[name] ?? []
            #expect(
                rect.count == 4 && outline.count == 4 && zip(rect, outline).allSatisfy { abs($0 - $1) < 2.5 },
                "\(name): \(rect) vs \(outline)")
            let drawn = o["corners"] as? [[Double]] ?? []
            let truth = corners.map { onPage($0[0], $0[1]) }
            #expect(
                drawn.count == 4 && zip(drawn, truth).allSatisfy { abs($0[0] - $1[0]) < 1 && abs($0[1] - $1[1]) < 1 },
                "\(name): \(drawn) vs \(truth)")
            placed[name] = drawn
        }
        // The grid is turned: the pictures' top edges are not level (the test would prove nothing otherwise).
        if let a = placed["tile_0_0.tif"], a.count == 4 { #expect(abs(a[1][1] - a[0][1]) > 2, "\(a)") }
        // Neighbours meet corner to corner on screen: one mosaic, no gap and no overlap.
        if let a = placed["tile_0_0.tif"], let b = placed["tile_0_1.tif"], let c = placed["tile_1_0.tif"], a.count == 4, b.count == 4,
            c.count == 4
        {
            #expect(abs(a[1][0] - b[0][0]) < 1 && abs(a[1][1] - b[0][1]) < 1 && abs(a[2][0] - b[3][0]) < 1, "\(a) \(b)")
            #expect(abs(a[3][0] - c[0][0]) < 1 && abs(a[3][1] - c[0][1]) < 1 && abs(a[2][1] - c[1][1]) < 1, "\(a) \(c)")
        }

        // One box per detection, with its class, score and file in a popup.
        let job = try await server.get("/jobs/\(id)").json
        let detections = try #require(job["detections"] as? Int)
        #expect(detections >= 4)
        #expect(seen["detections_drawn"] as? Int == detections && seen["det_paths"] as? Int == detections)
        let popup = seen["popup"] as? String ?? ""
        #expect(popup.contains("score") && paths.keys.contains { popup.contains($0) }, "\(popup)")
        #expect(seen["layers"] as? [String] == ["Footprints", "Quicklooks", "Detections"])

        // A click on a footprint zooms to that file: the view holds it and is narrower than the whole job.
        let before = seen["view_before"] as? [Double] ?? []
        let after = seen["view_after"] as? [Double] ?? []
        let target = try #require(overlays.first { $0["file"] as? String == seen["zoomed_to"] as? String }?["bbox"] as? [Double])
        #expect(after.count == 4 && before.count == 4)
        if after.count == 4, before.count == 4 {
            #expect(after[0] <= target[0] && after[1] <= target[1] && after[2] >= target[2] && after[3] >= target[3], "\(after) \(target)")
            #expect((after[2] - after[0]) < (before[2] - before[0]) / 1.5, "\(after) \(before)")
        }
        let artefacts = Fixtures.root.appendingPathComponent("test-artifacts")
        try FileManager.default.createDirectory(at: artefacts, withIntermediateDirectories: true)
        let kept = artefacts.appendingPathComponent("dashboard-map.png")
        try? FileManager.default.removeItem(at: kept)
        try FileManager.default.copyItem(at: shot, to: kept)
    }
}
