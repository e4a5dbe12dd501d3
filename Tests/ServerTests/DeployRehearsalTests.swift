import Foundation
import GeoInferTestSupport
import NIOHTTP1
import Testing

/// README "Deploying at scale", followed step by step with real processes: PostgreSQL, an API
/// requiring keys, two workers, the first key made with `geoinfer keys create` exactly as
/// documented, later keys over HTTP, an upload and its results; and a second key that can neither
/// see nor read the first key's jobs or bucket objects.
@Suite(.serialized) struct DeployRehearsalTests {
    func auth(_ key: String) -> [(String, String)] { [("Authorization", "Bearer \(key)")] }

    @Test func theDocumentedScaleOutStepsWorkWithKeysRequired() async throws {
        let cluster = try await PostgresCluster.make()
        let url = try await cluster.freshDatabase()
        let dataDir = Fixtures.temporaryDirectory("rehearsal")
        let secret = try await Fixtures.run(Fixtures.geoinferExecutable, ["webhook", "secret"]).stdout.trimmingCharacters(
            in: .whitespacesAndNewlines)
        // The mirror bucket is named so that reading it through POST /jobs is refused to user keys;
        // its emulator address answers nothing (objects wait in the outbox, which never fails a job).
        let shared = [
            "DATABASE_URL": url, "GEOINFER_WEBHOOK_SECRET": secret, "ENABLE_GCP_UPLOAD": "true", "GCP_BUCKET_NAME": "geo-mirror",
            "STORAGE_EMULATOR_HOST": "127.0.0.1:9", "GEOINFER_GCS_RETRY_SECONDS": "0.5",
        ]
        let api = try await ServerProcess(
            environment: shared.merging(["GEOINFER_WORKERS": "0", "GEOINFER_REQUIRE_API_KEYS": "true"]) { $1 },
            dataDir: dataDir)
        defer { api.stop() }
        let workers = try (0..<2).map { _ in try WorkerProcess(databaseURL: url, dataDir: dataDir, environment: shared) }
        defer { for w in workers { w.kill9() } }

        // No way in without a key.
        #expect(try await api.get("/jobs").status == 401)
        // The first key: `geoinfer keys create` with DATABASE_URL, run where there is no data directory.
        let elsewhere = Fixtures.temporaryDirectory("operator")
        let made = try await Fixtures.run(
            "/bin/sh", ["-c", "cd '\(elsewhere.path)' && '\(Fixtures.geoinferExecutable)' keys create --name ops --admin"],
            environment: ["DATABASE_URL": url, "GEOINFER_ENV_FILE": ""])
        #expect(made.status == 0, "\(made.stderr)")
        let ops = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(
            !FileManager.default.fileExists(atPath: elsewhere.appendingPathComponent("data").path), "no SQLite store was made beside it")
        #expect(try await api.get("/jobs").status == 401)
        #expect(try await api.request(.GET, "/jobs", headers: auth(ops)).status == 200, "the documented key works")

        // Later keys over HTTP.
        func makeKey(_ name: String) async throws -> (key: String, id: String) {
            let r = try await api.request(
                .POST, "/keys", headers: auth(ops) + [("Content-Type", "application/json")], body: Data(#"{"name": "\#(name)"}"#.utf8))
            #expect(r.status == 201, "\(r.text)")
            return (try #require(r.json["key"] as? String), try #require(r.json["id"] as? String))
        }
        let a = try await makeKey("team-a")
        let b = try await makeKey("team-b")
        let listed = try await api.request(.GET, "/keys", headers: auth(ops))
        #expect(listed.status == 200 && !listed.text.contains(a.key) && !listed.text.contains("hash"), "keys are listed without secrets")
        let forbidden = try await api.request(
            .POST, "/keys", headers: auth(a.key) + [("Content-Type", "application/json")], body: Data(#"{"name": "x"}"#.utf8))
        #expect(forbidden.status == 403 && forbidden.errorCode == "admin_only")

        // Team A uploads; the two workers process it.
        var form = Multipart()
        for i in 0..<4 {
            form.file(
                "part\(i).tif", try Scenes.raster(width: 150, height: 100, markers: [Marker(x: 10 + i * 15, y: 40, width: 10, height: 10)]))
        }
        let accepted = try await api.upload(form, headers: auth(a.key))
        #expect(accepted.status == 202, "\(accepted.text)")
        let id = try #require(accepted.json["job_id"] as? String)
        let deadline = ContinuousClock.now + .seconds(120)
        var status = ""
        while ContinuousClock.now < deadline {
            status = try await api.request(.GET, "/status/\(id)", headers: auth(a.key)).json["status"] as? String ?? ""
            if ["completed", "completed_with_errors", "failed", "cancelled"].contains(status) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(status == "completed", "job \(id) did not complete within 120 s: \(workers.map(\.output))")
        let coco = try await api.request(.GET, "/results/\(id)/coco.json", headers: auth(a.key))
        #expect(coco.status == 200 && (coco.json["images"] as? [Any])?.count == 4)

        // Team B sees and reads nothing of it.
        for path in [
            "/status/\(id)", "/jobs/\(id)", "/jobs/\(id)/events", "/results/\(id)/coco.json", "/results/\(id)/detections.geojson",
            "/results/\(id)/metadata.json", "/results/\(id)/quicklooks/part0.tif.jpg",
        ] {
            let r = try await api.request(.GET, path, headers: auth(b.key))
            #expect(r.status == 404 && r.errorCode == "not_found", "\(path): \(r.status)")
        }
        #expect(try await api.request(.DELETE, "/jobs/\(id)", headers: auth(b.key)).status == 404)
        #expect(try await api.request(.POST, "/jobs/\(id)/retry", headers: auth(b.key)).status == 404)
        let bList = try await api.request(.GET, "/jobs", headers: auth(b.key))
        #expect(bList.status == 200 && !bList.text.contains(id))
        // Nor through the bucket: team A's upload in the mirror bucket, or any bucket not listed.
        for input in ["gs://geo-mirror/uploads/\(id)_part0.tif", "gs://geo-mirror/uploads/", "gs://someone-elses-bucket/a.tif"] {
            for key in [b.key, a.key] {
                let r = try await api.request(
                    .POST, "/jobs", headers: auth(key) + [("Content-Type", "application/json")],
                    body: Data(#"{"inputs": ["\#(input)"]}"#.utf8))
                #expect(r.status == 403 && r.errorCode == "bucket_not_allowed", "\(input): \(r.text)")
            }
        }
        // Revoked over HTTP: refused at once; `geoinfer keys list` on the same database shows it.
        #expect(try await api.request(.DELETE, "/keys/\(b.id)", headers: auth(ops)).status == 200)
        #expect(try await api.request(.GET, "/jobs", headers: auth(b.key)).status == 401)
        let list = try await Fixtures.run(
            Fixtures.geoinferExecutable, ["keys", "list"], environment: ["DATABASE_URL": url, "GEOINFER_ENV_FILE": ""])
        #expect(
            list.status == 0 && list.stdout.contains("ops") && list.stdout.contains(a.id) && list.stdout.contains("\(b.id)\tuser"),
            "\(list.stdout)\(list.stderr)")
        #expect(list.stdout.split(separator: "\n").contains { $0.hasPrefix(b.id) && $0.contains("revoked") })
        #expect(!api.serverLog.contains(ops) && !api.serverLog.contains(a.key) && !api.serverLog.contains(secret), "no secret in the log")
    }
}
