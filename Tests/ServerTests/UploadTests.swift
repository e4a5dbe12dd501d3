import AsyncHTTPClient
import Foundation
import GeoInferTestSupport
import GeoRaster
import Inference
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// The job service over real HTTP: upload, process, follow, download.
@Suite(.serialized) struct JobServiceTests {
    @Test func uploadProcessAndDownloadResults() async throws {
        try await InProcessServer.with { server in
            var form = Multipart()
            let markers = [
                [Marker(x: 40, y: 30, width: 12, height: 8)], [Marker(x: 100, y: 60, score: 220, width: 20, height: 10)],
                [Marker(x: 10, y: 10, width: 6, height: 6), Marker(x: 140, y: 90, width: 16, height: 16)],
            ]
            let rasters = try markers.map { try Scenes.raster(markers: $0) }
            for (i, r) in rasters.enumerated() { form.file("scene\(i).tif", r) }
            form.field("webhook_url", "https://203.0.113.10/hook")
            let accepted = try await server.upload(form)
            #expect(accepted.status == 202, "\(accepted.text)")
            let id = try #require(accepted.json["job_id"] as? String)
            // Queued, or running when its first files started while the upload streamed in.
            #expect(["queued", "running"].contains(accepted.json["status"] as? String), "\(accepted.text)")
            #expect(accepted.json["created_at"] is String)
            #expect(accepted.headers.contains { $0.0.lowercased() == "location" && $0.1 == "/jobs/\(id)" })

            let final = try await server.waitFinal(id)
            #expect(final["status"] as? String == "completed")
            #expect(final["progress"] as? Double == 100)
            #expect(final["total_files"] as? Int == 3 && final["processed_files"] as? Int == 3 && final["failed_files"] as? Int == 0)

            let detail = try await server.get("/jobs/\(id)").json
            let files = try #require(detail["files"] as? [[String: Any]])
            #expect(files.map { $0["name"] as? String } == ["scene0.tif", "scene1.tif", "scene2.tif"])
            #expect(files.map { $0["detections"] as? Int } == [1, 1, 2])
            #expect(files.allSatisfy { $0["status"] as? String == "succeeded" })
            // Each stored upload holds exactly the bytes sent, and its SHA-256 is sha256sum's.
            for (i, file) in files.enumerated() {
                let stored = server.dataDir.appendingPathComponent("uploads/\(id)_scene\(i).tif")
                #expect(try Data(contentsOf: stored) == rasters[i])
                let sum = try await Fixtures.run("/usr/bin/sha256sum", [stored.path])
                #expect(sum.status == 0, "\(sum.stderr)")
                #expect(file["sha256"] as? String == sum.stdout.split(separator: " ").first.map(String.init))
            }
            #expect(detail["webhook_url"] as? String == "https://203.0.113.10/hook")

            let coco = try await server.get("/results/\(id)/coco.json").json
            let images = try #require(coco["images"] as? [[String: Any]])
            #expect(images.map { $0["file_name"] as? String } == ["scene0.tif", "scene1.tif", "scene2.tif"])
            let boxes = (coco["annotations"] as? [[String: Any]] ?? []).map { $0["bbox"] as? [Double] ?? [] }
            #expect(boxes.contains([34.5, 26.5, 12, 8]) && boxes.contains([90.5, 55.5, 20, 10]) && boxes.count == 4)
            let geo = try await server.get("/results/\(id)/detections.geojson")
            #expect(geo.status == 200 && (geo.json["features"] as? [Any])?.count == 4)
            let meta = try await server.get("/results/\(id)/metadata.json").json
            #expect((meta["inputs"] as? [[String: Any]])?.count == 3)
            // Uploads and results live where the layout says.
            #expect(Set(try server.files(in: "uploads")) == Set((0..<3).map { "\(id)_scene\($0).tif" }))
            let documents = ["\(id)_coco.json", "\(id)_detections.geojson", "\(id)_detections_merged.geojson", "\(id)_metadata.json"]
            // A small upload's thumbnail is drawn while it runs; its quicklook when first asked for, then kept.
            let before = try server.files(in: "results")
            #expect(Set(before) == Set(documents + (0..<3).map { "\(id)/thumbnails/scene\($0).tif.jpg" }), "\(before)")
            for i in 0..<3 {
                let look = try await server.get("/results/\(id)/quicklooks/scene\(i).tif.jpg")
                #expect(look.status == 200 && look.body.prefix(3) == Data([0xFF, 0xD8, 0xFF]), "\(look.status) \(look.text.prefix(300))")
            }
            #expect(
                Set(try server.files(in: "results"))
                    == Set(
                        ["\(id)_coco.json", "\(id)_detections.geojson", "\(id)_detections_merged.geojson", "\(id)_metadata.json"]
                            + (0..<3).map { "\(id)/quicklooks/scene\($0).tif.jpg" }
                            + (0..<3).map { "\(id)/thumbnails/scene\($0).tif.jpg" }))
            #expect(try server.files(in: "temp").isEmpty)
        }
    }

    @Test func idempotencyKeyReturnsTheSameJob() async throws {
        let server = try await ServerProcess()
        defer { server.stop() }
        var form = Multipart()
        form.file("a.tif", try Scenes.raster())
        let first = try await server.upload(form, headers: [("Idempotency-Key", "key-123")])
        let second = try await server.upload(form, headers: [("Idempotency-Key", "key-123")])
        #expect(first.status == 202 && second.status == 202)
        #expect(first.json["job_id"] as? String == second.json["job_id"] as? String)
        // The same key for another request: another file, or the same file with another setting.
        var other = Multipart()
        other.file("b.tif", try Scenes.raster(width: 120, height: 90))
        var setting = form
        setting.field("overlap", "0.3")
        for changed in [other, setting] {
            let reused = try await server.upload(changed, headers: [("Idempotency-Key", "key-123")])
            #expect(reused.status == 422 && reused.errorCode == "idempotency_key_reused", "\(reused.text)")
        }
        // Keys are scoped by structure: an API key's "x" and the local operator's "KEY_ID:x" never meet.
        let made = try await Fixtures.run(
            Fixtures.geoinferExecutable, ["keys", "create", "--name", "k", "--data-dir", server.dataDir.path])
        let apiKey = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let keyID = try #require(made.stderr.split(separator: " ").dropFirst().first.map(String.init), "\(made.stderr)")
        let keyed = try await server.upload(form, headers: [("Idempotency-Key", "x"), ("Authorization", "Bearer \(apiKey)")])
        let lookalike = try await server.upload(form, headers: [("Idempotency-Key", "\(keyID):x")])
        #expect(keyed.status == 202 && lookalike.status == 202, "\(keyed.text) \(lookalike.text)")
        #expect(lookalike.json["job_id"] as? String != keyed.json["job_id"] as? String)
        let jobs = try await server.get("/jobs").json["jobs"] as? [Any]
        #expect(jobs?.count == 3)
        #expect(try server.files(in: "uploads").count == 3)
    }

    /// Settings resolve once, at submit, over the model's defaults; the job shows and runs the
    /// resolved values, and its tile count is the plan of exactly those (form, query, CLI).
    @Test func settingsAreResolvedAtSubmitAndShownAsRun() async throws {
        let server = try await ServerProcess()
        defer { server.stop() }
        let manifest = try ModelFile.read(path: Fixtures.model("yolo")).manifest
        let dir = Fixtures.temporaryDirectory("settings")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("a.tif")
        try Scenes.raster(width: 400, height: 300).write(to: path)
        let info = try Raster(path: path.path).info
        var form = Multipart()
        form.file("a.tif", try Data(contentsOf: path))
        func shown(_ id: String) async throws -> (score: Double?, overlap: Double?, tiles: Int?) {
            let j = try await server.get("/jobs/\(id)").json
            return (j["score_threshold"] as? Double, j["overlap"] as? Double, j["tiles_total"] as? Int)
        }
        let plain = try #require(try await server.upload(form).json["job_id"] as? String)
        let defaults = try await shown(plain)
        #expect(defaults.score == (manifest.scoreThreshold ?? 0.25) && defaults.overlap == 0.2, "\(defaults)")
        let plannedByDefault = try manifest.tilePlan(for: info, overlap: 0.2).count
        #expect(defaults.tiles == plannedByDefault)
        var given = form
        given.field("overlap", "0.5")
        given.field("score_threshold", "0.3")
        let set = try #require(try await server.upload(given).json["job_id"] as? String)
        let chosen = try await shown(set)
        let planned = try manifest.tilePlan(for: info, overlap: 0.5).count
        #expect(chosen.score == 0.3 && chosen.overlap == 0.5 && chosen.tiles == planned, "\(chosen)")
        #expect((chosen.tiles ?? 0) > (defaults.tiles ?? 0), "more overlap, more tiles")
        let queried = try #require(try await server.upload(form, query: "?overlap=0.4").json["job_id"] as? String)
        #expect(try await shown(queried).overlap == 0.4)
        // The command-line client sends them too.
        let cli = try await Fixtures.run(
            Fixtures.geoinferExecutable, ["submit", path.path, "--server", server.base, "--overlap", "0.6", "--score-threshold", "0.45"])
        #expect(cli.status == 0, "\(cli.stderr)")
        let fromCLI = try await shown(cli.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(fromCLI.score == 0.45 && fromCLI.overlap == 0.6, "\(fromCLI)")
        let refused = try await Fixtures.run(
            Fixtures.geoinferExecutable, ["submit", path.path, "--server", server.base, "--overlap", "0.95"])
        #expect(refused.status != 0 && refused.stderr.contains("overlap must be a number between 0 and 0.9"), "\(refused.stderr)")
        #expect(try await server.waitFinal(set)["status"] as? String == "completed")
        let parameters = try await server.get("/results/\(set)/metadata.json").json["parameters"] as? [String: Any] ?? [:]
        #expect(
            parameters["overlap"] as? Double == 0.5 && parameters["score_threshold"] as? Double == 0.3, "the run used them: \(parameters)")
    }

    @Test func eventsStreamProgressFilesAndDone() async throws {
        // The worker pauses after its first batch until the stream is open: the stream sees the job
        // move, not just its end, however fast the machine.
        let gate = FailpointGate()
        let server = try await ServerProcess(
            environment: gate.environment(["worker.after_batch": "1*pause"]).merging(["GEOINFER_LOG_LEVEL": "info"]) { $1 })
        defer { server.stop() }
        var form = Multipart()
        let grid = (0..<6).flatMap { row in (0..<6).map { col in Marker(x: col * 50 + 5, y: row * 50 + 5, width: 8, height: 8) } }
        form.file("big.tif", try Scenes.raster(width: 300, height: 300, markers: grid))
        form.file("small.tif", try Scenes.raster())
        let id = try #require(try await server.upload(form).json["job_id"] as? String)
        let paused = try await gate.waitPaused("worker.after_batch", alive: { server.isRunning }, diagnostics: { server.serverLog })
        let received = ReceivedText()
        let response = try await testClient.execute(
            HTTPClientRequest(url: server.base + "/jobs/\(id)/events"), timeout: .seconds(120))
        let reading = Task {
            for try await chunk in response.body { received.append(String(buffer: chunk)) }
        }
        // The stream has shown the job mid-file before the worker goes on.
        let deadline = ContinuousClock.now + .seconds(60)
        while !received.text.contains("event: progress") {
            guard ContinuousClock.now < deadline else { throw TestFailure("no progress event within 60 s: \(received.text)") }
            try await Task.sleep(for: .milliseconds(10))
        }
        try gate.release(paused)
        try await value(of: reading, within: .seconds(120), "the end of the event stream")
        let stream = Reply(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            body: Data(received.text.utf8))
        #expect(stream.status == 200)
        #expect(stream.headers.contains { $0.0.lowercased() == "content-type" && $0.1 == "text/event-stream" })
        let events = stream.text.components(separatedBy: "\n\n").compactMap { $0.split(separator: "\n").first.map(String.init) }
        #expect(events.filter { $0 == "event: file" }.count == 2)
        // `state`: both files' states at the start (the paused one running), then each change, with
        // the pictures' URLs once a file has succeeded.
        let states = stream.text.components(separatedBy: "\n\n").filter { $0.hasPrefix("event: state\n") }
        #expect(states.count >= 3, "\(states)")
        #expect(states.prefix(2).contains { $0.contains(#""name":"big.tif""#) && $0.contains(#""status":"running""#) }, "\(states)")
        #expect(
            states.filter { $0.contains(#""status":"succeeded""#) && $0.contains("/quicklooks/") && $0.contains("/thumbnails/") }.count
                == 2, "\(states)")
        #expect(events.filter { $0 == "event: progress" }.count >= 2)
        #expect(events.last == "event: done")
        #expect(stream.text.contains("\"status\":\"completed\""))
    }

    @Test func listsJobsNewestFirstWithPagination() async throws {
        try await InProcessServer.with { server in
            var ids: [String] = []
            for _ in 0..<3 {
                var form = Multipart()
                form.file("a.tif", try Scenes.raster())
                ids.append(try #require(try await server.upload(form).json["job_id"] as? String))
            }
            for id in ids { _ = try await server.waitFinal(id) }
            let page1 = try await server.get("/jobs?limit=2").json
            let first = (page1["jobs"] as? [[String: Any]])?.map { $0["job_id"] as? String }
            #expect(first == [ids[2], ids[1]])
            let cursor = try #require(page1["next_cursor"] as? String)
            let page2 = try await server.get("/jobs?limit=2&cursor=\(cursor)").json
            #expect((page2["jobs"] as? [[String: Any]])?.map { $0["job_id"] as? String } == [ids[0]])
            #expect((try await server.get("/jobs?status=completed").json["jobs"] as? [Any])?.count == 3)
            #expect((try await server.get("/jobs?status=running").json["jobs"] as? [Any])?.count == 0)
            #expect(try await server.get("/jobs?status=bogus").status == 400)
        }
    }
}

/// Text a streaming reader appends to while the test reads it.
final class ReceivedText: Sendable {
    private let value = Mutex("")
    func append(_ s: String) { value.withLock { $0 += s } }
    var text: String { value.withLock { $0 } }
}
