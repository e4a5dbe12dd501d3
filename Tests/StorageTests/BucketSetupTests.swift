import Foundation
import GeoInferTestSupport
import Storage
import Testing

@Suite("Bucket set-up")
struct BucketSetupTests {
    @Test("creates the bucket, brings it to the wanted state, and a second run changes nothing")
    func idempotent() async throws {
        let emulator = try await GCSEmulators.gcpStorageEmulator()
        let http = HTTPTransport()
        defer { Task { await http.shutdown() } }
        var config = try GCSConfiguration(bucket: "geo-setup", endpoint: emulator.address)
        config.retry = fastRetry
        let store = GCSBlobStore(config: config, credentials: NoCredentials(), http: http)
        let setup = BucketSetup(location: "us-central1", project: "test")

        // Dry run: the plan is a create, and nothing happens.
        let dry = try await store.setUp(setup, dryRun: true)
        #expect(dry.steps.map(\.method) == ["POST"])
        #expect(dry.steps[0].body.contains("\"publicAccessPrevention\" : \"enforced\""))
        let before = try await store.bucketResource()
        #expect(before == nil)

        var runs = 0
        while try await !store.setUp(setup, dryRun: false).steps.isEmpty {
            runs += 1
            try #require(runs <= 2, "set-up did not converge")
        }
        let bucket = try #require(try await store.bucketResource())
        let iam = try #require(bucket["iamConfiguration"] as? [String: Any])
        #expect((iam["uniformBucketLevelAccess"] as? [String: Any])?["enabled"] as? Bool == true)
        #expect(iam["publicAccessPrevention"] as? String == "enforced")
        let rules = (bucket["lifecycle"] as? [String: Any])?["rule"] as? [[String: Any]] ?? []
        #expect(rules.count == 4)
        for wanted in BucketSetup.lifecycleRules {
            #expect(rules.contains { BucketSetup.describe($0) == BucketSetup.describe(wanted) })
        }
        #expect(try await store.setUp(setup, dryRun: false).steps.isEmpty)

        // A rule someone added by hand is kept when a missing one is put back.
        let custom: [String: Any] = ["action": ["type": "Delete"], "condition": ["age": 400]]
        _ = try await http.send(
            "PATCH", "\(emulator.address)/storage/v1/b/geo-setup", headers: [("Content-Type", "application/json")],
            body: try JSONSerialization.data(withJSONObject: ["lifecycle": ["rule": Array(rules.prefix(3)) + [custom]]]))
        let fix = try await store.setUp(setup, dryRun: false)
        #expect(fix.steps.map(\.summary) == [["lifecycle: abort incomplete multipart uploads after 7 days"]])
        let after = (try await store.bucketResource()?["lifecycle"] as? [String: Any])?["rule"] as? [[String: Any]] ?? []
        #expect(after.count == 5)
    }

    @Test("bucket names are checked before any request")
    func names() throws {
        for bad in ["ab", "UPPER", "-start", "end-", "google-x", "goog-bucket", "192.168.1.1", String(repeating: "a", count: 64), "a b"] {
            #expect(throws: StorageError.self, "\(bad)") { try GCSConfiguration.validate(bucket: bad) }
        }
        for good in ["geo-bucket", "a.b.c", "my_bucket-1", "aya-internship-mlops-bucket"] {
            #expect(throws: Never.self) { try GCSConfiguration.validate(bucket: good) }
        }
        #expect(throws: StorageError.self) { try GSURI("s3://x/y") }
        #expect(try GSURI("gs://geo-bucket/a/b.tif") == GSURI(bucket: "geo-bucket", name: "a/b.tif"))
        #expect(try GSURI("gs://geo-bucket/a/").isPrefix)
        #expect(try GSURI("gs://geo-bucket").isPrefix)
    }
}
