import Foundation
import GeoInferTestSupport
import NIOHTTP1
import Storage
import Testing

/// gs:// inputs that are Cloud Optimized GeoTIFFs are read in place by range requests, with the
/// service's own credentials; other rasters are downloaded as before. fake-gcs-server holds the
/// bucket, behind the logging proxy (which records each request's Authorization), and a real
/// OAuth2 token endpoint signs the service account's tokens.
@Suite(.serialized) struct CloudInputTests {
    @Test func aCOGInTheBucketIsReadInPlaceWithTheServicesCredentials() async throws {
        let dir = Fixtures.temporaryDirectory("cog")
        let emulator = try await GCSEmulators.fakeGCSServer()
        defer { emulator.stop() }
        let proxy = try await GCSEmulators.pythonPeer("fault_proxy.py", ["--upstream", emulator.address])
        defer { proxy.stop() }
        let key = dir.appendingPathComponent("key.json")
        let tokens = try await GCSEmulators.pythonPeer("token_server.py", ["--write-key-file", key.path])
        defer { tokens.stop() }
        let deadline = ContinuousClock.now + .seconds(10)
        while (try? JSONSerialization.jsonObject(with: Data(contentsOf: key))) == nil {
            guard ContinuousClock.now < deadline else { throw TestFailure("token_server.py did not write its key file") }
            try await Task.sleep(for: .milliseconds(50))
        }

        // The same scene as a COG and as a plain striped GeoTIFF.
        let scene = try MosaicTests.scene(in: dir)
        let cog = dir.appendingPathComponent("scene_cog.tif")
        try MosaicTests.check(Fixtures.run("/usr/bin/gdal_translate", ["-q", "-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "BLOCKSIZE=128", scene, cog.path]))
        let http = HTTPTransport()
        defer { Task { await http.shutdown() } }
        let created = try await http.send("POST", "\(emulator.address)/storage/v1/b", headers: [("Content-Type", "application/json")],
                                          body: Data(#"{"name": "cogs"}"#.utf8))
        try #require(created.status == 200, "cannot create the bucket: \(created.status)")
        let store = GCSBlobStore(config: try GCSConfiguration(bucket: "cogs", endpoint: emulator.address), credentials: NoCredentials(), http: http)
        let cogInfo = try await store.put(file: cog, as: "in/scene_cog.tif")
        _ = try await store.put(file: URL(fileURLWithPath: scene), as: "in/scene_strip.tif")

        let gate = FailpointGate()
        let server = try await ServerProcess(model: Fixtures.model("yolo_10cm"), environment: gate.environment(["worker.after_batch": "pause"]).merging([
            "GEOINFER_GCS_ENDPOINT": proxy.address, "GOOGLE_APPLICATION_CREDENTIALS": key.path, "GEOINFER_WORKERS": "1",
        ]) { $1 })
        defer { server.stop() }
        let accepted = try await server.request(.POST, "/jobs", headers: [("Content-Type", "application/json")],
                                                body: Data(#"{"inputs": ["gs://cogs/in/scene_cog.tif", "gs://cogs/in/scene_strip.tif"]}"#.utf8))
        try #require(accepted.status == 202, "\(accepted.text)")
        let id = try #require(accepted.json["job_id"] as? String)

        // Paused after the first batch of each file: the COG has no copy in temp/, the other one has.
        let alive = { server.isRunning }
        var first = try await gate.waitPaused("worker.after_batch", timeout: .seconds(60), alive: alive)
        #expect(first.context.contains("scene_cog.tif"), "\(first)")
        #expect(try server.files(in: "temp").isEmpty, "nothing of the COG is written to temp/")
        try gate.release(first)
        while true {
            first = try await gate.waitPaused("worker.after_batch", timeout: .seconds(60), alive: alive)
            if first.context.contains("scene_strip.tif") { break }
            try gate.release(first)
        }
        #expect(try server.files(in: "temp").count == 1, "the striped GeoTIFF is downloaded whole, as before")
        try gate.release(first)
        var final: [String: Any] = [:]
        let end = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < end {
            for hit in gate.paused("worker.after_batch") { try gate.release(hit) }
            final = try await server.get("/status/\(id)").json
            if (final["status"] as? String).map({ ["completed", "completed_with_errors", "failed"].contains($0) }) == true { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let summary = try await server.get("/jobs/\(id)").text
        #expect(final["status"] as? String == "completed", "\(summary)")

        // Both give the same detections; the metadata reports the bytes the COG's reads fetched.
        let detail = try await server.get("/jobs/\(id)").json
        let files = try #require(detail["files"] as? [[String: Any]])
        #expect(files.map { $0["detections"] as? Int } == [10, 10], "\(files)")
        #expect(files.allSatisfy { ($0["bbox"] as? [Double])?.count == 4 }, "the worker placed both files on the map")
        let meta = try await server.get("/results/\(id)/metadata.json").json
        let inputs = try #require(meta["inputs"] as? [[String: Any]])
        let readBytes = try #require(inputs.first?["bytes_read"] as? Int, "\(inputs)")
        #expect(readBytes > 0 && readBytes <= Int(cogInfo.size), "\(readBytes) of \(cogInfo.size) bytes")
        #expect(inputs.first?["size_bytes"] as? Int == Int(cogInfo.size))
        #expect(inputs.last?["bytes_read"] == nil)
        #expect(try server.files(in: "temp").isEmpty)

        // Every request for the COG's bytes carried the service account's token.
        let log = try JSONSerialization.jsonObject(with: try await http.send("GET", "\(proxy.address)/__proxy/log").body) as? [[String: Any]] ?? []
        let reads = log.filter { ($0["path"] as? String)?.contains("scene_cog.tif?alt=media") == true }
        #expect(!reads.isEmpty)
        #expect(reads.allSatisfy { ($0["authorization"] as? String)?.hasPrefix("Bearer ya29.test-") == true }, "\(reads)")
    }
}
