import Foundation
import GeoInferTestSupport
import NIOHTTP1
import Server
import Storage
import Testing
import Webhooks

/// The original prototype's client scripts and webhook receiver, driven as they drive a server
/// (the same requests, headers and checks, written anew here): `sample_test.py`,
/// `improved_sample_test.py` and `test_real_files.py` upload with `requests` and a
/// `webhook_url=http://example.com/webhook`, check for 200 and poll `/status/{id}`;
/// `test_gcp_uploads.py` then looks for every upload and result in the bucket; `test_pipeline.py`
/// starts with `GET /`; `webhook_receiver.py` checks the prototype's `X-Signature`.
@Suite(.serialized) struct PrototypeClientTests {
    /// What Python's `requests` sends with every call.
    static let requestsHeaders = [("Accept", "*/*"), ("User-Agent", "python-requests/2.31.0")]
    static let prototypeSecret = "prototype-signing-secret-0123456789"

    /// `requests.post(API_BASE + "/upload", files=[('files', (name, f, 'image/tiff')), ...], data={'webhook_url': ...})`.
    func prototypeUpload(_ server: some HTTPService, files: [(String, Data)], webhook: String) async throws -> Reply {
        var form = Multipart()
        for (name, data) in files { form.file(name, data) }
        form.field("webhook_url", webhook)
        return try await server.request(
            .POST, "/upload", headers: Self.requestsHeaders + [("Content-Type", form.contentType)], body: form.body)
    }

    /// The scripts' loop: GET /status/{id} until completed or failed, printing progress and files.
    func prototypePoll(_ server: some HTTPService, _ id: String) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let r = try await server.request(.GET, "/status/\(id)", headers: Self.requestsHeaders)
            #expect(r.status == 200)
            let s = r.json
            // Every field the scripts print.
            #expect(s["status"] is String && s["progress"] is Double && s["processed_files"] is Int && s["total_files"] is Int, "\(s)")
            if let status = s["status"] as? String, ["completed", "completed_with_errors", "failed"].contains(status) { return s }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("job \(id) did not finish within 120 s: \(server.serverLog.suffix(2000))")
    }

    @Test func theUploadScriptsGet200AndFollowTheirJob() async throws {
        try await InProcessServer.with { server in
            // The scripts' webhook host: refused only if it resolves to a forbidden address; here it may not resolve at all.
            let r = try await prototypeUpload(
                server, files: [("image1.tif", try Scenes.raster()), ("image2.tif", try Scenes.raster())],
                webhook: "http://example.com/webhook")
            #expect(r.status == 200, "\(r.text)")
            let id = try #require(r.json["job_id"] as? String)
            #expect(r.json["status"] is String && r.json["message"] is String)
            let final = try await prototypePoll(server, id)
            #expect(final["status"] as? String == "completed" && final["processed_files"] as? Int == 2 && final["total_files"] as? Int == 2)
            #expect(final["progress"] as? Double == 100)
        }
    }

    @Test func thePipelineScriptReadsTheIndexAsJSON() async throws {
        try await InProcessServer.with { server in
            let index = try await server.request(.GET, "/", headers: Self.requestsHeaders)
            #expect(index.status == 200)
            #expect(index.headers.contains { $0.0.lowercased() == "content-type" && $0.1.hasPrefix("application/json") })
            #expect(
                index.json["message"] is String && index.json["version"] is String && index.json["endpoints"] is [String: Any],
                "\(index.text)")
            #expect(index.json["openapi"] as? String == "/openapi.json")
            // A browser still gets the dashboard.
            let page = try await server.request(.GET, "/", headers: [("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")])
            #expect(page.status == 200 && page.text.contains("<title>GeoInfer</title>"))
        }
    }

    @Test func theReceiverVerifiesThePrototypeSignatureAndReadsItsFields() async throws {
        let receiver = try WebhookReceiver(secrets: [WebhookTests.serverSecret], prototypeSecret: Self.prototypeSecret)
        defer { receiver.stop() }
        try await receiver.start()
        let bucket = try await MirrorTests.Bucket()
        let server = try await ServerProcess(
            environment: bucket.serverEnvironment.merging([
                "GEOINFER_WEBHOOK_SECRET": WebhookTests.serverSecret, "WEBHOOK_SIGNING_SECRET": Self.prototypeSecret,
                "GEOINFER_WEBHOOK_ALLOWLIST": "127.0.0.1",
            ]) { $1 })
        defer { server.stop() }
        let r = try await prototypeUpload(server, files: [("image1.tif", try Scenes.raster())], webhook: receiver.url)
        #expect(r.status == 200, "\(r.text)")
        let id = try #require(r.json["job_id"] as? String)
        _ = try await prototypePoll(server, id)
        let delivered = try await server.waitDelivery(id) { $0["status"] as? String == "delivered" }
        #expect(delivered["attempts"] as? Int == 1)
        let receipt = try #require(try await receiver.log().first)
        #expect(receipt.prototype_valid == true, "Signature valid: False")
        #expect(receipt.verified_by == 0, "the Standard Webhooks signature stays")
        // The fields the prototype's receiver printed.
        let body = receipt.json
        #expect(body["event"] as? String == "processing_completed" && body["job_id"] as? String == id)
        let results = try #require(body["results"] as? [String: Any])
        #expect(results["coco_format_file"] as? String == "results/\(id)_coco.json")
        #expect(results["gcs_path"] as? String == "gs://geo-mirror/results/\(id)_coco.json")
        #expect((body["summary"] as? [String: Any])?["total_files_uploaded"] as? Int == 1)

        // test_gcp_uploads.py: the upload and the results in the bucket.
        _ = try await MirrorTests().waitSynced(server, id, timeout: .seconds(90))
        let names = Set(try await bucket.store().list(prefix: "").map(\.name))
        #expect(names.isSuperset(of: ["uploads/\(id)_image1.tif", "results/\(id)_coco.json", "results/\(id)_metadata.json"]), "\(names)")
    }

    /// A webhook host that does not resolve does not refuse the upload; its delivery fails with why.
    @Test func anUnresolvableWebhookHostFailsItsDeliveryNotTheUpload() async throws {
        let settings: (inout ServerConfiguration) throws -> Void = { $0.webhooks.schedule = try RetrySchedule(parsing: "1s") }
        try await InProcessServer.with(configure: settings) { server in
            // .invalid never resolves (RFC 2606).
            let r = try await prototypeUpload(
                server, files: [("image1.tif", try Scenes.raster())], webhook: "http://geoinfer-no-such-host.invalid/webhook")
            #expect(r.status == 200, "\(r.text)")
            let id = try #require(r.json["job_id"] as? String)
            _ = try await prototypePoll(server, id)
            let failed = try await server.waitDelivery(id) { $0["status"] as? String == "failed" }
            #expect((failed["last_error"] as? String ?? "").contains("resolve"), "\(failed)")
            // Forbidden literal addresses and bad syntax are still refused at submit.
            for url in ["http://127.0.0.1:9/h", "http://[::ffff:0:7f00:1]/", "ftp://example.com/x"] {
                let refused = try await prototypeUpload(server, files: [("a.tif", try Scenes.raster())], webhook: url)
                #expect(refused.status == 422, "\(url): \(refused.text)")
            }
        }
    }
}
