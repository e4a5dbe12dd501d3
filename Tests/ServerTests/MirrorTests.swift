import Foundation
import GeoInferTestSupport
import NIOHTTP1
import Storage
import Testing

/// The bucket mirror and jobs over bucket objects, with a real server, gcp-storage-emulator
/// behind the fault proxy, and the official client to check what landed in the bucket.
@Suite struct MirrorTests {
    /// An emulator with the bucket `geo-mirror`, behind a proxy that can take it offline.
    final class Bucket {
        let emulator: PeerProcess
        let proxy: PeerProcess
        let http = HTTPTransport()
        let name = "geo-mirror"

        init() async throws {
            emulator = try await GCSEmulators.gcpStorageEmulator()
            proxy = try await GCSEmulators.pythonPeer("fault_proxy.py", ["--upstream", emulator.address])
            let created = try await http.send(
                "POST", "\(emulator.address)/storage/v1/b?project=test", headers: [("Content-Type", "application/json")],
                body: Data(#"{"name": "geo-mirror"}"#.utf8))
            guard created.status == 200 else { throw TestFailure("cannot create the bucket: \(created.status)") }
        }

        var serverEnvironment: [String: String] {
            [
                "ENABLE_GCP_UPLOAD": "true", "GCP_BUCKET_NAME": name, "STORAGE_EMULATOR_HOST": proxy.address,
                "GEOINFER_GCS_RETRY_SECONDS": "2",
            ]
        }

        func offline(_ down: Bool) async throws {
            _ = try await http.send("POST", "\(proxy.address)/__proxy/\(down ? "offline" : "online")")
        }

        func store() throws -> GCSBlobStore {
            var config = try GCSConfiguration(bucket: name, endpoint: emulator.address)
            config.retry = RetryPolicy(initialBackoff: 0.05, maxBackoff: 0.2, deadline: 5)
            return GCSBlobStore(config: config, credentials: NoCredentials(), http: http)
        }

        deinit {
            proxy.stop()
            emulator.stop()
            let http = self.http
            Task { await http.shutdown() }
        }
    }

    /// Polls `GET /jobs/{id}` until every object of the job is synced.
    func waitSynced(_ server: ServerProcess, _ id: String, timeout: Duration = .seconds(60)) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let storage = try await server.get("/jobs/\(id)").json["storage"] as? [String: Any] ?? [:]
            if let objects = storage["objects"] as? [[String: Any]], !objects.isEmpty, storage["synced"] as? Int == objects.count {
                return storage
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestFailure("job \(id) did not sync: \(try await server.get("/jobs/\(id)").text)\n\(server.serverLog)")
    }

    @Test func everyUploadAndResultIsMirroredWithChecksumsAndMetadata() async throws {
        let bucket = try await Bucket()
        let server = try await ServerProcess(environment: bucket.serverEnvironment)
        defer { server.stop() }
        var form = Multipart()
        form.file("a.tif", try Scenes.raster())
        form.file("../b ü.tif", try Scenes.raster(markers: []))
        form.field("formats", "coco,geojson,gpkg,fgb")
        let accepted = try await server.upload(form)
        let id = try #require(accepted.json["job_id"] as? String, "\(accepted.text)")
        #expect(try await server.waitFinal(id)["status"] as? String == "completed")
        // Pictures are drawn on their first request, then copied like the rest.
        for picture in ["quicklooks/a.tif.jpg", "quicklooks/b__.tif.jpg", "thumbnails/a.tif.jpg", "thumbnails/b__.tif.jpg"] {
            #expect(try await server.get("/results/\(id)/\(picture)").status == 200, "\(picture)")
        }
        let storage = try await waitSynced(server, id)
        #expect(storage["bucket"] as? String == "gs://geo-mirror")
        let names = Set((storage["objects"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String })
        let expected: Set<String> = [
            "uploads/\(id)_a.tif", "uploads/\(id)_b__.tif", "results/\(id)_coco.json", "results/\(id)_detections.geojson",
            "results/\(id)_detections_merged.geojson", "results/\(id)_detections.gpkg", "results/\(id)_detections.fgb",
            "results/\(id)_detections_merged.fgb",
            "results/\(id)_metadata.json", "results/\(id)/quicklooks/a.tif.jpg", "results/\(id)/quicklooks/b__.tif.jpg",
            "results/\(id)/thumbnails/a.tif.jpg", "results/\(id)/thumbnails/b__.tif.jpg",
        ]
        #expect(names == expected)

        // What the official client finds in the bucket is byte for byte the local copy.
        let check = try await CrossCheckResult.run(endpoint: bucket.emulator.address, bucket: bucket.name, prefix: "")
        #expect(check.count == expected.count)
        for object in check {
            let local = try Data(contentsOf: server.dataDir.appendingPathComponent(object.name))
            #expect(object.crc32c == CRC32C.base64(CRC32C.checksum(local)), "\(object.name)")
            #expect(object.crc32c_of_content == object.crc32c)
        }
        let upload = try #require(check.first { $0.name == "uploads/\(id)_a.tif" })
        #expect(upload.metadata?["job_id"] == id)
        #expect(upload.metadata?["original_name"] == "a.tif")
        #expect(upload.metadata?["sha256"]?.count == 64)
        // The metadata document names the bucket copies.
        let meta = try await server.get("/results/\(id)/metadata.json").json
        let copies = try #require(meta["storage"] as? [String: Any])
        #expect(copies["bucket"] as? String == "gs://geo-mirror")
        #expect(
            (copies["objects"] as? [[String: Any]])?.contains { $0["uri"] as? String == "gs://geo-mirror/results/\(id)_coco.json" } == true)
        #expect(try await server.get("/metrics").text.contains(#"geoinfer_mirror_objects{state="synced"} \#(expected.count)"#))
        let ready = try await server.get("/readyz").json
        // Reachable, and not named: /readyz answers anyone, and the bucket holds every key's uploads.
        let bucketCheck = ((ready["checks"] as? [String: Any])?["bucket"] as? [String: Any])?["detail"] as? String
        #expect(bucketCheck == "the mirror bucket is reachable")
        #expect(!(try await server.get("/readyz").text.contains("geo-mirror")))
    }

    /// Scale-out with a registered model: the operator adds it from a third machine, the API
    /// (without the file) plans the job from the stored manifest, and a worker with its own data
    /// directory fetches the file from the mirror bucket, checks its digest and runs it.
    @Test func aWorkerOnAnotherMachineFetchesARegisteredModelFromTheBucket() async throws {
        let bucket = try await Bucket()
        let cluster = try await PostgresCluster.make()
        let url = try await cluster.freshDatabase()
        let shared = bucket.serverEnvironment.merging(["DATABASE_URL": url]) { $1 }
        let operatorDir = Fixtures.temporaryDirectory("operator")
        let named = Fixtures.model("boxes_named")
        let added = try await Fixtures.run(
            "/bin/sh", ["-c", "cd '\(operatorDir.path)' && '\(Fixtures.geoinferExecutable)' models add '\(named)'"],
            environment: shared.merging(["GEOINFER_ENV_FILE": ""]) { $1 })
        #expect(added.status == 0 && added.stdout.contains("gs://geo-mirror/models/test-boxes/1.0.0/model.onnx"), "\(added.stderr)")
        let api = try await ServerProcess(environment: shared.merging(["GEOINFER_WORKERS": "0"]) { $1 })
        defer { api.stop() }
        let workerDir = Fixtures.temporaryDirectory("worker")
        let worker = try WorkerProcess(databaseURL: url, dataDir: workerDir, environment: shared)
        defer { worker.kill9() }
        var form = Multipart()
        form.file("a.tif", try Scenes.raster())
        form.field("model", "test-boxes")
        let accepted = try await api.upload(form)
        let id = try #require(accepted.json["job_id"] as? String, "\(accepted.text)")
        let final = try await api.waitFinal(id)
        #expect(final["status"] as? String == "completed", "\(worker.output.suffix(2000))")
        // The documents are on the worker's disk; the API serves them once the worker's mirror has copied them.
        var meta = try await api.get("/results/\(id)/metadata.json")
        let deadline = ContinuousClock.now + .seconds(60)
        while meta.status == 404, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            meta = try await api.get("/results/\(id)/metadata.json")
        }
        #expect(
            meta.status == 200, "the worker's copy of metadata.json did not reach the bucket within 60 s: \(worker.output.suffix(2000))")
        let model = meta.json["model"] as? [String: Any]
        #expect(model?["name"] as? String == "test-boxes" && model?["output_layout"] as? String == "boxes_scores_labels", "\(meta.text)")
        let fetched = workerDir.appendingPathComponent("models/test-boxes/1.0.0/model.onnx")
        #expect(FileManager.default.contentsEqual(atPath: fetched.path, andPath: named))
        #expect(!FileManager.default.fileExists(atPath: api.dataDir.appendingPathComponent("models").path), "the API never needed the file")
    }

    @Test func aBucketOutageNeverFailsAJobAndNothingIsLostAcrossARestart() async throws {
        let bucket = try await Bucket()
        try await bucket.offline(true)
        let server = try await ServerProcess(environment: bucket.serverEnvironment)
        defer { server.stop() }
        var form = Multipart()
        form.file("a.tif", try Scenes.raster())
        let accepted = try await server.upload(form)
        let id = try #require(accepted.json["job_id"] as? String, "\(accepted.text)")
        #expect(try await server.waitFinal(id)["status"] as? String == "completed")
        // The job is done and its results are served; the copies wait, with the error shown.
        #expect(try await server.get("/results/\(id)/coco.json").status == 200)
        #expect(try await server.get("/results/\(id)/quicklooks/a.tif.jpg").status == 200)
        var failed: [[String: Any]] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let objects = (try await server.get("/jobs/\(id)").json["storage"] as? [String: Any])?["objects"] as? [[String: Any]] ?? []
            failed = objects.filter { $0["status"] as? String == "failed" }
            // The upload, four documents (with the merged layer), the quicklook and its thumbnail.
            if failed.count == 7 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(failed.count == 7)
        #expect(failed.allSatisfy { ($0["error"] as? String)?.contains("unreachable") == true && $0["next_attempt_at"] is String })
        let ready = try await server.get("/readyz")
        #expect(ready.status == 200)
        #expect(ready.text.contains("unreachable"))

        // A crash while the bucket is down, a restart, then the bucket comes back: everything syncs once.
        server.kill9()
        try await server.start()
        try await bucket.offline(false)
        let storage = try await waitSynced(server, id, timeout: .seconds(90))
        // The upload, four documents (with the merged layer), the quicklook and its thumbnail.
        #expect(storage["synced"] as? Int == 7)
        let names = try await bucket.store().list(prefix: "").map(\.name)
        #expect(names.count == 7)
        #expect(names.contains("results/\(id)_detections_merged.geojson"))
        #expect(names.contains("uploads/\(id)_a.tif"))
    }

    @Test func jobsReadRastersFromTheBucketWithoutUploadingThem() async throws {
        let bucket = try await Bucket()
        let store = try bucket.store()
        let dir = Fixtures.temporaryDirectory("gs-inputs")
        for (i, markers) in [
            [Marker(x: 40, y: 30, width: 12, height: 8)],
            [Marker(x: 10, y: 10, width: 6, height: 6), Marker(x: 100, y: 60, width: 16, height: 16)],
        ].enumerated() {
            let file = dir.appendingPathComponent("scene\(i).tif")
            try Scenes.raster(markers: markers).write(to: file)
            _ = try await store.put(file: file, as: "inputs/scene\(i).tif")
        }
        let notes = dir.appendingPathComponent("notes.tif")
        try Data("not a tiff at all".utf8).write(to: notes)
        _ = try await store.put(file: notes, as: "other/notes.tif")
        _ = try await store.put(file: notes, as: "inputs/readme.txt")
        let truth = dir.appendingPathComponent("truth.csv")
        try
            "image_path,xmin,ymin,xmax,ymax,label\nscene0.tif,34,26,46,34,small\nscene1.tif,7,7,13,13,small\nscene1.tif,92,52,108,68,large\n"
            .write(to: truth, atomically: true, encoding: .utf8)
        _ = try await store.put(file: truth, as: "labels/truth.csv")

        // Mirroring off: the bucket is only read.
        let server = try await ServerProcess(environment: ["STORAGE_EMULATOR_HOST": bucket.emulator.address])
        defer { server.stop() }
        let post = { (body: String) in
            try await server.request(.POST, "/jobs", headers: [("Content-Type", "application/json")], body: Data(body.utf8))
        }
        let accepted = try await post(
            #"{"inputs": ["gs://geo-mirror/inputs/"], "score_threshold": 0.3, "ground_truth": "gs://geo-mirror/labels/truth.csv"}"#)
        #expect(accepted.status == 202, "\(accepted.text)")
        let id = try #require(accepted.json["job_id"] as? String)
        #expect(accepted.json["total_files"] as? Int == 2)
        let final = try await server.waitFinal(id)
        let detail = try await server.get("/jobs/\(id)").json
        #expect(final["status"] as? String == "completed", "\(detail)")
        // JSON numbers resolve like form fields: given as given, the rest from the model's defaults.
        #expect(detail["score_threshold"] as? Double == 0.3 && detail["overlap"] as? Double == 0.2, "\(detail)")
        let files = detail["files"] as? [[String: Any]] ?? []
        #expect(files.map { $0["source"] as? String } == ["gs://geo-mirror/inputs/scene0.tif", "gs://geo-mirror/inputs/scene1.tif"])
        #expect(files.map { $0["detections"] as? Int } == [1, 2])
        #expect(files.allSatisfy { ($0["tiles_total"] as? Int ?? 0) >= 1 })
        // The worker that read each raster also placed it on the map.
        #expect(files.allSatisfy { ($0["bbox"] as? [Double])?.count == 4 && $0["footprint"] is [String: Any] }, "\(files)")
        let coco = try await server.get("/results/\(id)/coco.json").json
        #expect((coco["images"] as? [[String: Any]])?.map { $0["file_name"] as? String } == ["scene0.tif", "scene1.tif"])
        // The ground truth in the bucket scored the results when the job ended.
        let evaluation = try await server.get("/results/\(id)/metadata.json").json["evaluation"] as? [String: Any]
        #expect((evaluation?["pooled"] as? [String: Any])?["ground_truth"] as? Int == 3, "\(String(describing: evaluation))")
        #expect(evaluation?["ground_truth_file"] as? String == "truth.csv")
        let noTruth = try await post(#"{"inputs": ["gs://geo-mirror/inputs/"], "ground_truth": "gs://geo-mirror/labels/none.csv"}"#)
        #expect(noTruth.status == 422 && noTruth.errorCode == "invalid_ground_truth", "\(noTruth.text)")
        let notLabels = try await post(#"{"inputs": ["gs://geo-mirror/inputs/"], "ground_truth": "gs://geo-mirror/inputs/scene0.tif"}"#)
        #expect(notLabels.status == 422 && notLabels.errorCode == "invalid_ground_truth", "\(notLabels.text)")
        // Nothing was copied into the server's uploads, and the worker's copies are gone.
        #expect(try server.files(in: "uploads").isEmpty)
        #expect(try server.files(in: "temp").isEmpty)

        // Bad inputs: each named, nothing created.
        let notTIFF = try await post(#"{"inputs": ["gs://geo-mirror/other/notes.tif", "gs://geo-mirror/inputs/scene0.tif"]}"#)
        #expect(notTIFF.status == 400)
        #expect(notTIFF.errorCode == "invalid_files")
        #expect(notTIFF.errorMessage.contains("gs://geo-mirror/other/notes.tif"))
        let missing = try await post(#"{"inputs": ["gs://geo-mirror/nothing.tif", "gs://geo-mirror/empty/"]}"#)
        #expect(missing.status == 422)
        #expect(missing.errorCode == "missing_inputs")
        let badURI = try await post(#"{"inputs": ["s3://geo-mirror/a.tif"]}"#)
        #expect(badURI.status == 422 && badURI.errorCode == "invalid_inputs")
        let badJSON = try await post("{")
        #expect(badJSON.status == 400 && badJSON.errorCode == "invalid_json")
        let form = try await server.request(.POST, "/jobs", headers: [("Content-Type", "text/plain")], body: Data("x".utf8))
        #expect(form.status == 415)
        // The same object twice is one input.
        let twice = try await post(
            #"{"inputs": ["gs://geo-mirror/inputs/scene0.tif", "gs://geo-mirror/inputs/scene0.tif", "gs://geo-mirror/inputs/"]}"#)
        #expect(twice.status == 202 && twice.json["total_files"] as? Int == 2, "\(twice.text)")
        let jobs = try await server.get("/jobs").json["jobs"] as? [[String: Any]] ?? []
        #expect(jobs.count == 2)

        // A prefix with more objects than a request may name: refused, the listing stopped at the limit.
        let small = try await ServerProcess(environment: ["STORAGE_EMULATOR_HOST": bucket.emulator.address, "GEOINFER_MAX_FILES": "1"])
        defer { small.stop() }
        let many = try await small.request(
            .POST, "/jobs", headers: [("Content-Type", "application/json")],
            body: Data(#"{"inputs": ["gs://geo-mirror/inputs/"]}"#.utf8))
        #expect(many.status == 413 && many.errorCode == "too_many_files", "\(many.text)")
        // More inputs than a request may name: refused before any lookup.
        let inputs = (0..<2).map { #""gs://geo-mirror/missing\#($0).tif""# }.joined(separator: ", ")
        let tooMany = try await small.request(
            .POST, "/jobs", headers: [("Content-Type", "application/json")], body: Data(#"{"inputs": [\#(inputs)]}"#.utf8))
        #expect(tooMany.status == 413 && tooMany.errorCode == "too_many_files", "\(tooMany.text)")
    }
}

/// What the official client sees in the bucket (scripts/testing/gcs_crosscheck.py).
struct CrossCheckResult: Decodable {
    let name: String
    let crc32c: String?
    let crc32c_of_content: String
    let metadata: [String: String]?

    static func run(endpoint: String, bucket: String, prefix: String) async throws -> [CrossCheckResult] {
        struct Doc: Decodable { let objects: [CrossCheckResult] }
        let r = try await Fixtures.run(
            Fixtures.python,
            [
                Fixtures.root.appendingPathComponent("scripts/testing/gcs_crosscheck.py").path,
                "--endpoint", endpoint, "--bucket", bucket, "--prefix", prefix,
            ])
        guard r.status == 0 else { throw TestFailure("gcs_crosscheck.py failed: \(r.stderr)") }
        return try JSONDecoder().decode(Doc.self, from: Data(r.stdout.utf8)).objects
    }
}
