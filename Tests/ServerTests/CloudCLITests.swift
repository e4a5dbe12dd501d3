import Foundation
import GeoInferTestSupport
import Storage
import Testing

/// `geoinfer init`, `geoinfer gcs setup-bucket|ls` and `geoinfer submit gs://...` as a user runs
/// them, against gcp-storage-emulator, with settings from a `.env` file.
@Suite(.serialized) struct CloudCLITests {
    let exe = Fixtures.geoinferExecutable

    @Test func initWritesADotEnvAndNeverOverwritesIt() async throws {
        let dir = Fixtures.temporaryDirectory("init")
        let key = dir.appendingPathComponent("key.json")
        try Data("{}".utf8).write(to: key)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: key.path)
        let env = dir.appendingPathComponent(".env")
        let args = [
            "init", "--path", env.path, "--bucket", "geo-bucket", "--region", "europe-west1", "--project", "my-project",
            "--credentials", key.path, "--enable-upload", "true",
        ]
        let first = try await Fixtures.run(exe, args)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("can be read by other users") && first.stderr.contains("chmod 600"))
        let text = try String(contentsOf: env, encoding: .utf8)
        for line in [
            "ENABLE_GCP_UPLOAD=true", "GCP_BUCKET_NAME=geo-bucket", "GCP_BUCKET_REGION=europe-west1", "GCP_PROJECT=my-project",
            "GOOGLE_APPLICATION_CREDENTIALS=\(key.path)",
        ] {
            #expect(text.contains(line + "\n"), "\(line)")
        }
        #expect((try FileManager.default.attributesOfItem(atPath: env.path)[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        let again = try await Fixtures.run(exe, args.map { $0 == "geo-bucket" ? "other-bucket" : $0 })
        #expect(again.status != 0)
        #expect(again.stderr.contains("exists; pass --force"))
        #expect(try String(contentsOf: env, encoding: .utf8) == text)
        let forced = try await Fixtures.run(exe, args.map { $0 == "geo-bucket" ? "other-bucket" : $0 } + ["--force"])
        #expect(forced.status == 0)
        #expect(try String(contentsOf: env, encoding: .utf8).contains("GCP_BUCKET_NAME=other-bucket"))

        let badName = try await Fixtures.run(
            exe, ["init", "--path", dir.appendingPathComponent("x.env").path, "--bucket", "Bad_Bucket", "--enable-upload", "true"])
        #expect(badName.status != 0 && badName.stderr.contains("not a valid bucket name"))
        let noKey = try await Fixtures.run(
            exe,
            [
                "init", "--path", dir.appendingPathComponent("y.env").path, "--bucket", "geo-bucket",
                "--credentials", "/nonexistent/key.json", "--region", "us", "--project", "p", "--enable-upload", "true",
            ])
        #expect(noKey.status != 0 && noKey.stderr.contains("does not exist"))
    }

    @Test func setupBucketAndListAJobsObjectsWithSettingsFromDotEnv() async throws {
        let emulator = try await GCSEmulators.gcpStorageEmulator()
        defer { emulator.stop() }
        let dir = Fixtures.temporaryDirectory("gcs-cli")
        let dotenv = dir.appendingPathComponent("settings.env")
        try Data(
            "GCP_BUCKET_NAME=geo-cli\nGCP_BUCKET_REGION=europe-west4\nGCP_PROJECT=test\nSTORAGE_EMULATOR_HOST=\(emulator.address)\n".utf8
        ).write(to: dotenv)
        let env = ["GEOINFER_ENV_FILE": dotenv.path]

        let dry = try await Fixtures.run(exe, ["gcs", "setup-bucket", "--dry-run"], environment: env)
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("would send POST \(emulator.address)/storage/v1/b?project=test"))
        #expect(dry.stdout.contains("lifecycle: to NEARLINE after 30 days") && dry.stdout.contains("\"location\" : \"EUROPE-WEST4\""))
        let made = try await Fixtures.run(exe, ["gcs", "setup-bucket"], environment: env)
        #expect(made.status == 0 && made.stdout.contains("created gs://geo-cli"), "\(made.stdout) \(made.stderr)")
        // The emulator keeps lifecycle rules only when patched, so the second run may patch them; the third changes nothing.
        _ = try await Fixtures.run(exe, ["gcs", "setup-bucket"], environment: env)
        let third = try await Fixtures.run(exe, ["gcs", "setup-bucket"], environment: env)
        #expect(third.stdout.contains("already has the wanted settings; nothing changed"), "\(third.stdout)")

        let http = HTTPTransport()
        defer { Task { await http.shutdown() } }
        let store = GCSBlobStore(
            config: try GCSConfiguration(bucket: "geo-cli", endpoint: emulator.address), credentials: NoCredentials(), http: http)
        let file = dir.appendingPathComponent("a.tif")
        try Data(repeating: 7, count: 1234).write(to: file)
        for name in ["uploads/job-1_a.tif", "results/job-1_coco.json", "results/job-1/quicklooks/a.tif.png", "uploads/job-2_a.tif"] {
            _ = try await store.put(file: file, as: name)
        }
        let ls = try await Fixtures.run(exe, ["gcs", "ls", "job-1"], environment: env)
        #expect(ls.status == 0, "\(ls.stderr)")
        let lines = ls.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.allSatisfy { $0.hasPrefix("1234 ") && $0.contains("gs://geo-cli/") && !$0.contains("job-2") })
        let none = try await Fixtures.run(exe, ["gcs", "ls", "job-9"], environment: env)
        #expect(none.status != 0 && none.stderr.contains("no objects of job job-9"))
        let noBucket = try await Fixtures.run(exe, ["gcs", "ls", "job-1"], environment: ["GEOINFER_ENV_FILE": ""])
        #expect(noBucket.status != 0 && noBucket.stderr.contains("GCP_BUCKET_NAME"))
    }

    @Test func submitGsURIsFollowsTheJob() async throws {
        let emulator = try await GCSEmulators.gcpStorageEmulator()
        defer { emulator.stop() }
        let http = HTTPTransport()
        defer { Task { await http.shutdown() } }
        _ = try await http.send(
            "POST", "\(emulator.address)/storage/v1/b?project=test", headers: [("Content-Type", "application/json")],
            body: Data(#"{"name": "geo-submit"}"#.utf8))
        let store = GCSBlobStore(
            config: try GCSConfiguration(bucket: "geo-submit", endpoint: emulator.address), credentials: NoCredentials(), http: http)
        let file = Fixtures.temporaryDirectory("submit-gs").appendingPathComponent("s.tif")
        try Scenes.raster().write(to: file)
        _ = try await store.put(file: file, as: "flights/day1/s.tif")

        let server = try await ServerProcess(environment: ["STORAGE_EMULATOR_HOST": emulator.address])
        defer { server.stop() }
        let r = try await Fixtures.run(exe, ["submit", "gs://geo-submit/flights/", "--server", server.base, "--wait"])
        #expect(r.status == 0, "\(r.stderr)")
        let id = r.stdout.split(separator: "\n").first.map(String.init) ?? ""
        let detail = try await server.get("/jobs/\(id)").json
        #expect(detail["status"] as? String == "completed")
        #expect((detail["files"] as? [[String: Any]])?.first?["source"] as? String == "gs://geo-submit/flights/day1/s.tif")
        let mixed = try await Fixtures.run(exe, ["submit", "gs://geo-submit/flights/", file.path, "--server", server.base])
        #expect(mixed.status != 0 && mixed.stderr.contains("not both"))
    }
}
