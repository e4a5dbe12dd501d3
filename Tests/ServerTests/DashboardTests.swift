import Foundation
import NIOHTTP1
import GeoInferTestSupport
import Testing

/// The dashboard in a real browser: headless Chromium (Debian's package) driven by Playwright.
@Suite(.serialized) struct DashboardTests {
    @Test func servesThePageWithAStrictPolicy() async throws {
        let server = try await ServerProcess()
        defer { server.stop() }
        let page = try await server.request(.GET, "/", headers: [("Accept", "text/html")])
        #expect(page.status == 200)
        #expect(page.text.contains("<title>GeoInfer</title>"))
        #expect(page.headers.contains { $0.0.lowercased() == "content-security-policy" && $0.1.contains("default-src 'self'") })
        // API data reaches the page only as text, never as markup.
        #expect(!page.text.contains("innerHTML"))
    }

    @Test func aJobsProgressMovesAndItsQuicklookAppears() async throws {
        // The worker pauses after every batch; the page script releases each pause only once the
        // page has shown a new value, so the bar's steps are seen whatever the machine's speed.
        let gate = FailpointGate()
        let server = try await ServerProcess(environment: gate.environment(["worker.after_batch": "pause"]))
        defer { server.stop() }
        let inputs = Fixtures.temporaryDirectory("inputs")
        let large = inputs.appendingPathComponent("large.tif"), small = inputs.appendingPathComponent("small.tif")
        try Scenes.raster(width: 240, height: 240, markers: (0..<30).map { Marker(x: ($0 * 97) % 230, y: ($0 * 61) % 230, width: 9, height: 9) })
            .write(to: large)
        try Scenes.raster().write(to: small)
        let shot = server.dataDir.appendingPathComponent("dashboard.png")
        let r = try Fixtures.run(Fixtures.python, [Fixtures.root.appendingPathComponent("scripts/testing/dashboard_check.py").path,
                                                   server.base + "/", shot.path, large.path, small.path],
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
}
