import Foundation
import GeoInferTestSupport
import NIOHTTP1
import Storage
import Testing

@testable import Server

/// gs:// inputs that are Cloud Optimized GeoTIFFs are read in place by range requests, with the
/// service's own credentials; other rasters are downloaded as before. fake-gcs-server holds the
/// bucket, behind the logging proxy (which records each request's Authorization), and a real
/// OAuth2 token endpoint signs the service account's tokens.
@Suite(.serialized) struct CloudInputTests {
    /// A new bucket `name` in the emulator, and a store on it without credentials.
    static func bucket(_ name: String, at emulator: PeerProcess, http: HTTPTransport) async throws -> GCSBlobStore {
        let created = try await http.send(
            "POST", "\(emulator.address)/storage/v1/b", headers: [("Content-Type", "application/json")],
            body: Data(#"{"name": "\#(name)"}"#.utf8))
        guard created.status == 200 else { throw TestFailure("cannot create the bucket \(name): \(created.status)") }
        return GCSBlobStore(
            config: try GCSConfiguration(bucket: name, endpoint: emulator.address), credentials: NoCredentials(), http: http)
    }

    /// `scene` as a DEFLATE-compressed COG in `dir`, with more GDAL creation `options`.
    static func cog(of scene: String, in dir: URL, options: [String] = []) async throws -> URL {
        let cog = dir.appendingPathComponent("scene_cog.tif")
        try await MosaicTests.check(
            Fixtures.run("/usr/bin/gdal_translate", ["-q", "-of", "COG", "-co", "COMPRESS=DEFLATE"] + options + [scene, cog.path]))
        return cog
    }

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
        let scene = try await MosaicTests.scene(in: dir)
        let cog = try await Self.cog(of: scene, in: dir, options: ["-co", "BLOCKSIZE=128"])
        let http = HTTPTransport()
        defer { Task { await http.shutdown() } }
        let store = try await Self.bucket("cogs", at: emulator, http: http)
        let cogInfo = try await store.put(file: cog, as: "in/scene_cog.tif")
        _ = try await store.put(file: URL(fileURLWithPath: scene), as: "in/scene_strip.tif")

        let gate = FailpointGate()
        let server = try await ServerProcess(
            model: Fixtures.model("yolo_10cm"),
            environment: gate.environment(["worker.after_batch": "pause"]).merging([
                "GEOINFER_GCS_ENDPOINT": proxy.address, "GOOGLE_APPLICATION_CREDENTIALS": key.path, "GEOINFER_WORKERS": "1",
            ]) { $1 })
        defer { server.stop() }
        let accepted = try await server.request(
            .POST, "/jobs", headers: [("Content-Type", "application/json")],
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
        let log =
            try JSONSerialization.jsonObject(with: try await http.send("GET", "\(proxy.address)/__proxy/log").body) as? [[String: Any]]
            ?? []
        let reads = log.filter { ($0["path"] as? String)?.contains("scene_cog.tif?alt=media") == true }
        #expect(!reads.isEmpty)
        #expect(reads.allSatisfy { ($0["authorization"] as? String)?.hasPrefix("Bearer ya29.test-") == true }, "\(reads)")
    }

    @Test func aFailedRangeReadGivesTheFileAnotherAttempt() async throws {
        // The bucket answers 503 to the COG's first block reads (after the submit check and
        // GDAL's header read), more times than GDAL retries: the attempt fails, and a later one,
        // with the bucket answering again, succeeds. A local file that fails to read fails once.
        let dir = Fixtures.temporaryDirectory("cog-retry")
        let emulator = try await GCSEmulators.fakeGCSServer()
        defer { emulator.stop() }
        let proxy = try await GCSEmulators.pythonPeer("fault_proxy.py", ["--upstream", emulator.address])
        defer { proxy.stop() }
        let scene = try await MosaicTests.scene(in: dir)
        let cog = try await Self.cog(of: scene, in: dir, options: ["-co", "BLOCKSIZE=128"])
        let http = HTTPTransport()
        defer { Task { await http.shutdown() } }
        let store = try await Self.bucket("cogs", at: emulator, http: http)
        _ = try await store.put(file: cog, as: "scene_cog.tif")
        let rule = #"{"method": "GET", "path_contains": "scene_cog.tif?alt=media", "action": {"status": 503}, "times": 6, "skip": 2}"#
        let scripted = try await http.send(
            "POST", "\(proxy.address)/__proxy/script", headers: [("Content-Type", "application/json")], body: Data(rule.utf8))
        try #require(scripted.status == 200)
        let server = try await ServerProcess(
            model: Fixtures.model("yolo_10cm"),
            environment: [
                "STORAGE_EMULATOR_HOST": proxy.address, "GDAL_HTTP_MAX_RETRY": "1", "GDAL_HTTP_RETRY_DELAY": "0.1",
            ])
        defer { server.stop() }
        let accepted = try await server.request(
            .POST, "/jobs", headers: [("Content-Type", "application/json")],
            body: Data(#"{"inputs": ["gs://cogs/scene_cog.tif"]}"#.utf8))
        try #require(accepted.status == 202, "\(accepted.text)")
        let id = try #require(accepted.json["job_id"] as? String)
        #expect(try await server.waitFinal(id)["status"] as? String == "completed")
        let file = try #require((try await server.get("/jobs/\(id)").json["files"] as? [[String: Any]])?.first)
        let log =
            try JSONSerialization.jsonObject(with: try await http.send("GET", "\(proxy.address)/__proxy/log").body) as? [[String: Any]]
            ?? []
        #expect(
            file["attempts"] as? Int == 2 && file["detections"] as? Int == 10,
            "\(file) \(log.map { "\($0["method"] ?? "") \($0["outcome"] ?? "")" })")
        #expect(log.filter { ($0["outcome"] as? String) == "status:503" }.count == 6, "the bucket refused six reads")
    }

    @Test func httpInputsAreReadInPlaceOnlyFromTheOperatorsPrefixes() async throws {
        let dir = Fixtures.temporaryDirectory("url-inputs")
        let emulator = try await GCSEmulators.fakeGCSServer()
        defer { emulator.stop() }
        let scene = try await MosaicTests.scene(in: dir)
        let cog = try await Self.cog(of: scene, in: dir)
        let notes = dir.appendingPathComponent("notes.txt")
        try Data("not a tiff".utf8).write(to: notes)
        let http = HTTPTransport()
        defer { Task { await http.shutdown() } }
        let store = try await Self.bucket("cogs", at: emulator, http: http)
        _ = try await store.put(file: cog, as: "scene_cog.tif")
        _ = try await store.put(file: URL(fileURLWithPath: scene), as: "scene_strip.tif")
        _ = try await store.put(file: notes, as: "notes.tif")
        _ = try await store.put(file: cog, as: "scene_cog2.tif")
        // The emulator's media URLs stand for any web server that answers range requests.
        let prefix = "\(emulator.address)/download/storage/v1/b/cogs/o/"
        func url(_ name: String) -> String { prefix + name + "?alt=media" }
        let collection =
            #"{"type": "FeatureCollection", "features": [\#(STACInputsTests.item("west 1", ["visual": url("scene_cog.tif")])), \#(STACInputsTests.item("east-2", ["visual": url("scene_cog2.tif")]))]}"#
        let items = dir.appendingPathComponent("items.json")
        try Data(collection.utf8).write(to: items)
        _ = try await store.put(file: items, as: "items.json")

        let server = try await ServerProcess(model: Fixtures.model("yolo_10cm"), environment: ["GEOINFER_URL_INPUTS": prefix])
        defer { server.stop() }
        func post(_ inputs: [String]) async throws -> Reply {
            let body = try JSONSerialization.data(withJSONObject: ["inputs": inputs, "formats": ["geojson", "gpkg"]])
            return try await server.request(.POST, "/jobs", headers: [("Content-Type", "application/json")], body: body)
        }
        let accepted = try await post([url("scene_cog.tif"), url("scene_strip.tif")])
        try #require(accepted.status == 202, "\(accepted.text)")
        let id = try #require(accepted.json["job_id"] as? String)
        let final = try await server.waitFinal(id)
        #expect(final["status"] as? String == "completed_with_errors", "\(final)")
        let detail = try await server.get("/jobs/\(id)").json
        #expect(detail["formats"] as? [String] == ["geojson", "gpkg"], "formats given as a JSON list")
        let files = try #require(detail["files"] as? [[String: Any]])
        #expect(files.first?["status"] as? String == "succeeded" && files.first?["detections"] as? Int == 10, "\(files)")
        // A file that is not a COG is refused by the worker, once: it would be the same file next time.
        #expect(files.last?["status"] as? String == "failed" && files.last?["attempts"] as? Int == 1, "\(files)")
        #expect((files.last?["error"] as? String)?.contains("not a Cloud Optimized GeoTIFF") == true, "\(files)")
        let meta = try await server.get("/results/\(id)/metadata.json").json
        #expect(((meta["inputs"] as? [[String: Any]])?.first?["bytes_read"] as? Int ?? 0) > 0, "\(meta)")
        #expect(try server.files(in: "temp").isEmpty)

        // A STAC ItemCollection, by URL and inline: one input per item, named after it.
        for stac in [#"{"url": "\#(url("items.json"))", "asset": "visual"}"#, #"{"document": \#(collection), "asset": "visual"}"#] {
            let r = try await server.request(
                .POST, "/jobs", headers: [("Content-Type", "application/json")], body: Data(#"{"stac": \#(stac)}"#.utf8))
            try #require(r.status == 202, "\(r.text)")
            let stacJob = try #require(r.json["job_id"] as? String)
            #expect(try await server.waitFinal(stacJob)["status"] as? String == "completed")
            let stacFiles = try #require(try await server.get("/jobs/\(stacJob)").json["files"] as? [[String: Any]])
            #expect(stacFiles.map { $0["name"] as? String } == ["west_1.tif", "east-2.tif"], "\(stacFiles)")
            #expect(stacFiles.map { $0["detections"] as? Int } == [10, 10])
        }
        let noAsset = try await server.request(
            .POST, "/jobs", headers: [("Content-Type", "application/json")],
            body: Data(#"{"stac": {"document": \#(collection), "asset": "nir"}}"#.utf8))
        #expect(noAsset.status == 422 && noAsset.errorCode == "invalid_stac" && noAsset.errorMessage.contains("west 1"), "\(noAsset.text)")

        // Refused before anything is created: outside the prefixes, a path that climbs out of one,
        // a file that is not a TIFF, a fragment.
        let outside = try await post(["\(emulator.address)/download/storage/v1/b/other/o/a.tif?alt=media"])
        #expect(outside.status == 403 && outside.errorCode == "url_not_allowed", "\(outside.text)")
        let climbing = try await post([prefix + "%2E%2E/%2E%2E/other/o/a.tif"])
        #expect(climbing.status == 403 && climbing.errorCode == "url_not_allowed", "\(climbing.text)")
        let notTIFF = try await post([url("notes.tif")])
        #expect(notTIFF.status == 400 && notTIFF.errorCode == "invalid_files", "\(notTIFF.text)")
        let fragment = try await post([url("scene_cog.tif") + "#x"])
        #expect(fragment.status == 422, "\(fragment.text)")
        let jobs = try await server.get("/jobs").json["jobs"] as? [Any]
        #expect(jobs?.count == 3)

        // A prefix that names its host (here one that is loopback) still has to resolve to public
        // addresses; and a server with no prefixes reads no URL at all.
        let named = try await ServerProcess(environment: [
            "GEOINFER_URL_INPUTS": prefix.replacingOccurrences(of: "127.0.0.1", with: "localhost")
        ])
        defer { named.stop() }
        let loopback = try await named.request(
            .POST, "/jobs", headers: [("Content-Type", "application/json")],
            body: Data(#"{"inputs": ["\#(url("scene_cog.tif").replacingOccurrences(of: "127.0.0.1", with: "localhost"))"]}"#.utf8))
        #expect(loopback.status == 403 && loopback.errorMessage.contains("public address"), "\(loopback.text)")
        let plain = try await ServerProcess()
        defer { plain.stop() }
        let none = try await plain.request(
            .POST, "/jobs", headers: [("Content-Type", "application/json")],
            body: Data(#"{"inputs": ["\#(url("scene_cog.tif"))"]}"#.utf8))
        #expect(none.status == 403 && none.errorCode == "url_inputs_not_allowed", "\(none.text)")
    }
}

/// A job's result documents also written under the caller's `output_prefix`, in a bucket the
/// operator allows, through the outbox (fake-gcs-server holds the buckets; no mirror bucket).
@Suite(.serialized) struct OutputPrefixTests {
    @Test func aJobsDocumentsAreAlsoWrittenUnderItsOutputPrefix() async throws {
        let emulator = try await GCSEmulators.fakeGCSServer()
        defer { emulator.stop() }
        let http = HTTPTransport()
        defer { Task { await http.shutdown() } }
        let bucket = try await CloudInputTests.bucket("results-out", at: emulator, http: http)
        let privateBucket = try await CloudInputTests.bucket("private", at: emulator, http: http)
        let server = try await ServerProcess(environment: [
            "STORAGE_EMULATOR_HOST": emulator.address, "GEOINFER_OUTPUT_BUCKETS": "results-out",
        ])
        defer { server.stop() }
        func submit(_ prefix: String) async throws -> Reply {
            var form = Multipart()
            form.file("a.tif", try Scenes.raster())
            form.field("formats", "geojson,gpkg")
            form.field("output_prefix", prefix)
            return try await server.upload(form)
        }
        let accepted = try await submit("gs://results-out/runs/a/")
        try #require(accepted.status == 202, "\(accepted.text)")
        let id = try #require(accepted.json["job_id"] as? String)
        #expect(try await server.waitFinal(id)["status"] as? String == "completed")
        var storage: [String: Any] = [:]
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            storage = try await server.get("/jobs/\(id)").json["storage"] as? [String: Any] ?? [:]
            if let objects = storage["objects"] as? [Any], !objects.isEmpty, storage["synced"] as? Int == objects.count { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let expected = ["detections.geojson", "detections_merged.geojson", "detections.gpkg", "metadata.json"]
        #expect(storage["bucket"] as? String == "gs://results-out/runs/a/")
        #expect(storage["synced"] as? Int == expected.count, "\(storage)")
        #expect(
            Set((storage["objects"] as? [[String: Any]] ?? []).compactMap { $0["uri"] as? String })
                == Set(expected.map { "gs://results-out/runs/a/\($0)" }))
        #expect(try await server.get("/jobs/\(id)").json["output_prefix"] as? String == "gs://results-out/runs/a/")

        // In the bucket, byte for byte the server's own documents.
        let listed = try await bucket.list(prefix: "runs/a/")
        #expect(Set(listed.map(\.name)) == Set(expected.map { "runs/a/\($0)" }))
        for name in expected {
            let local = try Data(contentsOf: server.dataDir.appendingPathComponent("results/\(id)_\(name)"))
            let size = Int64(local.count)
            #expect(try await bucket.read("runs/a/\(name)", range: 0..<size) == local, "\(name)")
        }
        #expect(try await privateBucket.list(prefix: "").isEmpty)

        // Only the buckets the operator lists, and only as a prefix.
        let other = try await submit("gs://private/x/")
        #expect(other.status == 403 && other.errorCode == "output_bucket_not_allowed", "\(other.text)")
        for bad in ["gs://results-out/no-slash", "s3://results-out/x/", "gs://results-out/a/../b/"] {
            let r = try await submit(bad)
            #expect(r.status == 422 && r.errorCode == "invalid_output_prefix", "\(bad): \(r.text)")
        }
    }
}

/// STAC documents to inputs: items, collections, relative hrefs, and every way a document can be wrong.
@Suite struct STACInputsTests {
    static func item(_ id: String, _ assets: [String: String]) -> String {
        let list = assets.map { #""\#($0.key)": {"href": "\#($0.value)", "type": "image/tiff"}"# }.joined(separator: ",")
        return #"{"type": "Feature", "stac_version": "1.0.0", "id": "\#(id)", "geometry": null, "properties": {}, "assets": {\#(list)}}"#
    }

    static func document(_ json: String) throws -> STACDocument {
        try JSONDecoder().decode(STACDocument.self, from: Data(json.utf8))
    }

    @Test func itemsAndCollectionsGiveOneInputPerItem() throws {
        let one = try Self.document(Self.item("scene-1", ["visual": "gs://b/scene1.tif", "nir": "gs://b/nir.tif"]))
        let found = try STACInputs.inputs(one, asset: "visual", base: nil, limit: 10)
        #expect(found.map(\.name) == ["scene-1.tif"] && found.map(\.href) == ["gs://b/scene1.tif"])
        let collection = try Self.document(
            #"{"type": "FeatureCollection", "features": [\#(Self.item("a", ["visual": "https://x.org/cogs/a.tif"])), \#(Self.item("b", ["visual": "b.tif"]))]}"#
        )
        let resolved = try STACInputs.inputs(collection, asset: "visual", base: URL(string: "https://x.org/cogs/items.json"), limit: 10)
        #expect(resolved.map(\.href) == ["https://x.org/cogs/a.tif", "https://x.org/cogs/b.tif"])
    }

    @Test func aDocumentThatCannotNameInputsIsRefusedSayingWhy() throws {
        let collection = try Self.document(
            #"{"type": "FeatureCollection", "features": [\#(Self.item("a", ["visual": "gs://b/a.tif"])), \#(Self.item("b", ["nir": "gs://b/n.tif"]))]}"#
        )
        #expect(throws: STACProblem(message: "item b has no asset 'visual' (its assets: nir)")) {
            try STACInputs.inputs(collection, asset: "visual", base: nil, limit: 10)
        }
        #expect(throws: STACProblem(message: "the ItemCollection has 2 items, more than the 1 files a request may name")) {
            try STACInputs.inputs(collection, asset: "visual", base: nil, limit: 1)
        }
        let relative = try Self.document(Self.item("r", ["visual": "r.tif"]))
        #expect(throws: STACProblem.self) { try STACInputs.inputs(relative, asset: "visual", base: nil, limit: 10) }
        let local = try Self.document(Self.item("f", ["visual": "file:///etc/passwd"]))
        #expect(throws: STACProblem.self) {
            try STACInputs.inputs(local, asset: "visual", base: URL(string: "https://x.org/a/items.json"), limit: 10)
        }
        #expect(throws: STACProblem.self) {
            try STACInputs.inputs(try Self.document(#"{"type": "Catalog"}"#), asset: "visual", base: nil, limit: 10)
        }
        #expect(throws: STACProblem.self) {
            try STACInputs.inputs(
                try Self.document(#"{"type": "FeatureCollection", "features": []}"#), asset: "visual", base: nil, limit: 10)
        }
    }
}
