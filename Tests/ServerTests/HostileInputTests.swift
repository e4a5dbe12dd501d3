import Foundation
import GeoInferTestSupport
import NIOHTTP1
import Testing

/// Hostile and malformed requests over real HTTP against one server. Each case must get its
/// expected 4xx with a JSON error body; after each the server still answers, and nothing is left
/// in `temp/` or `uploads/`.
@Suite(.serialized) struct HostileInputTests {
    struct Case: CustomStringConvertible {
        let name: String
        let method: HTTPMethod
        let path: String
        var headers: [(String, String)] = []
        var body: Data?
        let status: Int
        /// The error code expected (nil: any code, as long as there is one).
        var code: String?
        var description: String { name }
    }

    static func form(_ build: (inout Multipart) -> Void) -> (headers: [(String, String)], body: Data) {
        var m = Multipart()
        build(&m)
        return ([("Content-Type", m.contentType)], m.body)
    }

    static func raster(pixel: Double = 1, width: Int = 64, height: Int = 64) throws -> Data {
        var r = SyntheticRaster(width: width, height: height)
        r.pixelSize = pixel
        let dir = Fixtures.temporaryDirectory("hostile")
        defer { try? FileManager.default.removeItem(at: dir) }
        try r.write(to: dir.appendingPathComponent("r.tif").path)
        return try Data(contentsOf: dir.appendingPathComponent("r.tif"))
    }

    static func cases() throws -> [Case] {
        let good = try Scenes.raster()
        let unknownJob = "3f2a3c1e-0000-4000-8000-000000000000"
        let json = [("Content-Type", "application/json")]
        func upload(
            _ name: String, status: Int, code: String?, query: String = "", extraHeaders: [(String, String)] = [],
            _ build: (inout Multipart) -> Void
        ) -> Case {
            let f = form(build)
            return Case(
                name: name, method: .POST, path: "/upload" + query, headers: f.headers + extraHeaders, body: f.body, status: status,
                code: code)
        }
        func jobs(_ name: String, _ body: String, status: Int, code: String?) -> Case {
            Case(name: name, method: .POST, path: "/jobs", headers: json, body: Data(body.utf8), status: status, code: code)
        }
        func keys(_ name: String, _ body: String, status: Int, code: String?, type: String = "application/json") -> Case {
            Case(
                name: name, method: .POST, path: "/keys", headers: [("Content-Type", type)], body: Data(body.utf8), status: status,
                code: code)
        }
        let long = String(repeating: "b", count: 130)
        var all: [Case] = [
            // Routes and ids.
            Case(name: "unknown route", method: .GET, path: "/nope", status: 404, code: "not_found"),
            Case(name: "unknown nested route", method: .GET, path: "/jobs/\(unknownJob)/nope/deeper", status: 404, code: "not_found"),
            Case(name: "dot-dot in a job id", method: .GET, path: "/jobs/..%2F..%2Fetc", status: 404, code: "not_found"),
            Case(name: "overlong job id", method: .GET, path: "/jobs/" + String(repeating: "a", count: 65), status: 404, code: "not_found"),
            Case(name: "NUL in a job id", method: .GET, path: "/jobs/ab%00cd", status: 404, code: "not_found"),
            Case(name: "NUL in a status id", method: .GET, path: "/status/%00", status: 404, code: "not_found"),
            Case(name: "unicode job id", method: .GET, path: "/jobs/%C3%A9t%C3%A9", status: 404, code: "not_found"),
            Case(name: "unknown job", method: .GET, path: "/jobs/\(unknownJob)", status: 404, code: "not_found"),
            Case(name: "unknown job's events", method: .GET, path: "/jobs/\(unknownJob)/events", status: 404, code: "not_found"),
            Case(name: "cancel an unknown job", method: .DELETE, path: "/jobs/\(unknownJob)", status: 404, code: "not_found"),
            Case(name: "retry an unknown job", method: .POST, path: "/jobs/\(unknownJob)/retry", status: 404, code: "not_found"),
            Case(
                name: "redeliver for an unknown job", method: .POST, path: "/jobs/\(unknownJob)/webhook/redeliver", status: 404,
                code: "not_found"),
            Case(name: "results of an unknown job", method: .GET, path: "/results/\(unknownJob)/coco.json", status: 404, code: "not_found"),
            Case(
                name: "quicklook with a long extension", method: .GET, path: "/results/\(unknownJob)/quicklooks/x.\(long).jpg", status: 404,
                code: "not_found"),
            Case(
                name: "quicklook escaping its folder", method: .GET, path: "/results/\(unknownJob)/quicklooks/..%2F..%2Fgeoinfer.sqlite",
                status: 404, code: "not_found"),
            // Listing.
            Case(name: "NUL cursor", method: .GET, path: "/jobs?cursor=%00", status: 404, code: "cursor_not_found"),
            Case(
                name: "overlong cursor", method: .GET, path: "/jobs?cursor=" + String(repeating: "c", count: 500), status: 404,
                code: "cursor_not_found"),
            Case(name: "negative limit", method: .GET, path: "/jobs?limit=-1", status: 400, code: "invalid_limit"),
            Case(name: "huge limit", method: .GET, path: "/jobs?limit=99999999999999999999999", status: 400, code: "invalid_limit"),
            Case(name: "text limit", method: .GET, path: "/jobs?limit=ten", status: 400, code: "invalid_limit"),
            Case(name: "NUL status filter", method: .GET, path: "/jobs?status=%00", status: 400, code: "invalid_status"),
            Case(name: "unknown status filter", method: .GET, path: "/jobs?status=" + long, status: 400, code: "invalid_status"),
            // Methods.
            Case(name: "PUT /upload", method: .PUT, path: "/upload", status: 405, code: "method_not_allowed"),
            Case(name: "PATCH /jobs", method: .PATCH, path: "/jobs", status: 405, code: "method_not_allowed"),
            Case(name: "POST /healthz", method: .POST, path: "/healthz", status: 405, code: "method_not_allowed"),
            Case(name: "PUT /keys", method: .PUT, path: "/keys", status: 405, code: "method_not_allowed"),
            // Authorization headers (a key is optional here, but a bad one is never ignored).
            Case(
                name: "basic auth", method: .GET, path: "/jobs", headers: [("Authorization", "Basic dXNlcjpwYXNz")], status: 401,
                code: "unauthorized"),
            Case(
                name: "overlong bearer", method: .GET, path: "/jobs",
                headers: [("Authorization", "Bearer " + String(repeating: "k", count: 300))], status: 401, code: "unauthorized"),
            Case(
                name: "unknown key", method: .GET, path: "/jobs", headers: [("Authorization", "Bearer gik_nope")], status: 401,
                code: "unauthorized"),
            Case(
                name: "empty bearer", method: .GET, path: "/jobs", headers: [("Authorization", "Bearer ")], status: 401,
                code: "unauthorized"),
            // Upload framing.
            Case(
                name: "upload as JSON", method: .POST, path: "/upload", headers: json, body: Data("{}".utf8), status: 415,
                code: "unsupported_media_type"),
            Case(
                name: "upload without a boundary", method: .POST, path: "/upload", headers: [("Content-Type", "multipart/form-data")],
                body: Data("x".utf8), status: 400, code: "missing_boundary"),
            Case(
                name: "upload with a 200-character boundary", method: .POST, path: "/upload",
                headers: [("Content-Type", "multipart/form-data; boundary=" + String(repeating: "z", count: 200))], body: Data("x".utf8),
                status: 400, code: nil),
            Case(
                name: "upload of garbage", method: .POST, path: "/upload", headers: [("Content-Type", "multipart/form-data; boundary=abc")],
                body: Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }), status: 400, code: nil),
            Case(
                name: "upload with an empty body", method: .POST, path: "/upload",
                headers: [("Content-Type", "multipart/form-data; boundary=abc")], body: Data(), status: 400, code: nil),
            upload("unknown field", status: 400, code: "unknown_field") {
                $0.file("a.tif", good)
                $0.field("colour", "blue")
            },
            upload("field over 8 KiB", status: 413, code: "field_too_large") {
                $0.file("a.tif", good)
                $0.field("webhook_url", String(repeating: "h", count: 9000))
            },
            upload("no files", status: 400, code: "no_files") { $0.field("overlap", "0.1") },
            upload("NUL in a file name", status: 400, code: "control_characters") { $0.file("a\u{0}.tif", good) },
            upload("escape in a file name", status: 400, code: "control_characters") { $0.file("a\u{1B}[31m.tif", good) },
            upload("NUL in a field", status: 400, code: "control_characters") {
                $0.file("a.tif", good)
                $0.field("model", "x\u{0}")
            },
            upload("file name with a 130-character extension and a bad file", status: 400, code: "invalid_files") {
                $0.file("x." + long, Data("not a tiff".utf8))
            },
            // Settings.
            upload("NaN score", status: 422, code: "invalid_score_threshold") {
                $0.file("a.tif", good)
                $0.field("score_threshold", "nan")
            },
            upload("infinite score", status: 422, code: "invalid_score_threshold") {
                $0.file("a.tif", good)
                $0.field("score_threshold", "1e309")
            },
            upload("negative score", status: 422, code: "invalid_score_threshold") {
                $0.file("a.tif", good)
                $0.field("score_threshold", "-0.5")
            },
            upload("overlap 0.95", status: 422, code: "invalid_overlap") {
                $0.file("a.tif", good)
                $0.field("overlap", "0.95")
            },
            upload("NaN overlap", status: 422, code: "invalid_overlap") {
                $0.file("a.tif", good)
                $0.field("overlap", "NaN")
            },
            upload("unknown model", status: 422, code: "unknown_model") {
                $0.file("a.tif", good)
                $0.field("model", long)
            },
            upload("javascript webhook", status: 422, code: nil) {
                $0.file("a.tif", good)
                $0.field("webhook_url", "javascript:alert(1)")
            },
            upload("loopback webhook", status: 422, code: nil) {
                $0.file("a.tif", good)
                $0.field("webhook_url", "http://127.0.0.1:9/h")
            },
            upload("metadata-server webhook", status: 422, code: nil) {
                $0.file("a.tif", good)
                $0.field("webhook_url", "http://169.254.169.254/computeMetadata/v1/")
            },
            upload("IPv4-mapped loopback webhook", status: 422, code: nil) {
                $0.file("a.tif", good)
                $0.field("webhook_url", "http://[::ffff:0:7f00:1]/")
            },
            upload("IPv4-mapped dotted loopback webhook", status: 422, code: nil) {
                $0.file("a.tif", good)
                $0.field("webhook_url", "http://[::ffff:127.0.0.1]/")
            },
            upload("webhook port 99999", status: 422, code: "invalid_webhook_url") {
                $0.file("a.tif", good)
                $0.field("webhook_url", "https://93.184.216.34:99999/")
            },
            upload("webhook IPv6 port 70000", status: 422, code: "invalid_webhook_url") {
                $0.file("a.tif", good)
                $0.field("webhook_url", "http://[2606:2800:220:1:248:1893:25c8:1946]:70000/hook")
            },
            upload("webhook zone id", status: 422, code: "invalid_webhook_url") {
                $0.file("a.tif", good)
                $0.field("webhook_url", "http://[::1%2F]/")
            },
            upload("webhook metadata name", status: 422, code: "webhook_url_refused") {
                $0.file("a.tif", good)
                $0.field("webhook_url", "http://metadata.google.internal/computeMetadata/")
            },
            upload("webhook localhost.", status: 422, code: "webhook_url_refused") {
                $0.file("a.tif", good)
                $0.field("webhook_url", "http://localhost./")
            },
            upload("formats over 8 KiB", status: 413, code: "field_too_large") {
                $0.file("a.tif", good)
                $0.field("formats", String(repeating: "coco,", count: 2000))
            },
            upload("NUL in formats", status: 400, code: "control_characters") {
                $0.file("a.tif", good)
                $0.field("formats", "coco\u{0},gpkg")
            },
            upload("formats of commas only", status: 422, code: "invalid_formats") {
                $0.file("a.tif", good)
                $0.field("formats", ",,,")
            },
            upload("out_crs NaN", status: 422, code: "invalid_out_crs") {
                $0.file("a.tif", good)
                $0.field("out_crs", "EPSG:NaN")
            },
            upload("negative out_crs", status: 422, code: "invalid_out_crs") {
                $0.file("a.tif", good)
                $0.field("out_crs", "EPSG:-4326")
            },
            upload("out_crs past Int", status: 422, code: "invalid_out_crs") {
                $0.file("a.tif", good)
                $0.field("out_crs", "EPSG:99999999999999999999999999")
            },
            upload("nms NaN", status: 422, code: "invalid_nms") {
                $0.file("a.tif", good)
                $0.field("nms", "NaN")
            },
            upload("output_prefix without a bucket", status: 422, code: "invalid_output_prefix") {
                $0.file("a.tif", good)
                $0.field("output_prefix", "gs://")
            },
            upload("output_prefix in a bucket not allowed", status: 403, code: "output_bucket_not_allowed") {
                $0.file("a.tif", good)
                $0.field("output_prefix", "gs://some-bucket/\(String(repeating: "a/", count: 400))")
            },
            upload("NUL in output_prefix", status: 400, code: "control_characters") {
                $0.file("a.tif", good)
                $0.field("output_prefix", "gs://some-bucket/a\u{0}/")
            },
            upload("NUL in model", status: 400, code: "control_characters") {
                $0.file("a.tif", good)
                $0.field("model", "test-markers\u{0}")
            },
            upload("model as a path", status: 422, code: "unknown_model") {
                $0.file("a.tif", good)
                $0.field("model", "../../models/x.onnx")
            },
            upload("model with two versions", status: 422, code: "unknown_model") {
                $0.file("a.tif", good)
                $0.field("model", "test-markers@1.0.0@2")
            },
            upload("model over 8 KiB", status: 413, code: "field_too_large") {
                $0.file("a.tif", good)
                $0.field("model", String(repeating: "m", count: 9000))
            },
            upload("ground_truth of no label format", status: 422, code: "invalid_ground_truth") {
                $0.file("a.tif", good)
                $0.file("labels.tif", good, field: "ground_truth")
            },
            upload("ground_truth as a text field", status: 400, code: "unknown_field") {
                $0.file("a.tif", good)
                $0.field("ground_truth", "image_path,xmin,ymin,xmax,ymax,label")
            },
            upload("ground_truth with a NUL name", status: 400, code: "control_characters") {
                $0.file("a.tif", good)
                $0.file("labels\u{0}.csv", Data("image_path,xmin,ymin,xmax,ymax,label\n".utf8), field: "ground_truth")
            },
            upload("short webhook secret", status: 422, code: nil) {
                $0.file("a.tif", good)
                $0.field("webhook_secret", "whsec_x")
            },
            upload("secret in the URL", status: 400, code: "secret_in_url", query: "?webhook_secret=whsec_abc") { $0.file("a.tif", good) },
            upload(
                "overlong Idempotency-Key", status: 400, code: "invalid_idempotency_key",
                extraHeaders: [("Idempotency-Key", String(repeating: "i", count: 201))]
            ) { $0.file("a.tif", good) },
            upload(
                "tab in Idempotency-Key", status: 400, code: "invalid_idempotency_key",
                extraHeaders: [("Idempotency-Key", "a\tb")]
            ) { $0.file("a.tif", good) },
            // Files.
            upload("empty file", status: 400, code: "invalid_files") { $0.file("a.tif", Data()) },
            upload("text as a TIFF", status: 400, code: "invalid_files") { $0.file("a.tif", Data("II*\u{0}hello".utf8)) },
            upload("truncated TIFF", status: 400, code: "invalid_files") { $0.file("a.tif", good.prefix(200)) },
            upload("a good file beside a bad one", status: 400, code: "invalid_files") {
                $0.file("a.tif", good)
                $0.file("b.tif", Data([0x89, 0x50, 0x4E, 0x47]))
            },
            // Bucket jobs.
            Case(
                name: "bucket job as text", method: .POST, path: "/jobs", headers: [("Content-Type", "text/plain")], body: Data("x".utf8),
                status: 415, code: "unsupported_media_type"),
            jobs("bucket job, invalid JSON", "{inputs:", status: 400, code: "invalid_json"),
            jobs("bucket job, a JSON array", "[]", status: 400, code: "invalid_json"),
            jobs(
                "bucket job, a string for a number", #"{"inputs": ["gs://b/a.tif"], "overlap": "0.1"}"#, status: 400, code: "invalid_json"),
            jobs("bucket job, 100,000 nested arrays", String(repeating: "[", count: 100_000), status: 400, code: "invalid_json"),
            jobs("bucket job, no inputs", #"{"inputs": []}"#, status: 400, code: "no_inputs"),
            jobs("bucket job, NUL in an input", #"{"inputs": ["gs://b/a\u0000.tif"]}"#, status: 400, code: "control_characters"),
            jobs("bucket job, an invalid bucket name", #"{"inputs": ["gs://b/a.tif"]}"#, status: 422, code: "invalid_inputs"),
            jobs(
                "bucket job, NUL in ground_truth", #"{"inputs": ["gs://b/a.tif"], "ground_truth": "gs://b/l\u0000.csv"}"#, status: 400,
                code: "control_characters"),
            jobs("bucket job, NaN overlap", #"{"inputs": ["gs://b/a.tif"], "overlap": NaN}"#, status: 400, code: "invalid_json"),
            jobs(
                "bucket job, 5 MiB body", #"{"inputs": ["# + String(repeating: #""gs://b/a.tif","#, count: 400_000) + #""gs://b/a.tif"]}"#,
                status: 413, code: "body_too_large"),
            // Keys.
            keys("key as text", "x", status: 415, code: "unsupported_media_type", type: "text/plain"),
            keys("key, invalid JSON", "{", status: 400, code: "invalid_json"),
            keys("key, empty name", #"{"name": ""}"#, status: 400, code: "invalid_name"),
            keys("key, NUL in the name", #"{"name": "a\u0000b"}"#, status: 400, code: "invalid_name"),
            keys(
                "key, 101-character name", #"{"name": ""# + String(repeating: "n", count: 101) + #""}"#, status: 400, code: "invalid_name"),
            keys("key, negative max_files", #"{"name": "a", "max_files": -1}"#, status: 400, code: "invalid_limit"),
            keys("key, huge max_files", #"{"name": "a", "max_files": 1e400}"#, status: 400, code: "invalid_json"),
            keys("key, 1 MiB body", #"{"name": ""# + String(repeating: "n", count: 1 << 20) + #""}"#, status: 413, code: "body_too_large"),
            Case(name: "revoke a key with NUL", method: .DELETE, path: "/keys/key_%00", status: 404, code: "not_found"),
            Case(name: "a model named with NUL", method: .GET, path: "/models/a%00b", status: 404, code: "not_found"),
            Case(
                name: "a 2,000-character model name", method: .GET, path: "/models/" + String(repeating: "m", count: 2000), status: 404,
                code: "not_found"),
            Case(name: "revoke an unknown key", method: .DELETE, path: "/keys/key_00000000", status: 404, code: "not_found"),
        ]
        // Rasters whose pixel size makes the resampled raster absurd.
        for pixel in [1e4, 1e8, 1e30] {
            let data = try raster(pixel: pixel)
            all.append(upload("pixel size \(pixel) m", status: 400, code: "invalid_files") { $0.file("absurd.tif", data) })
        }
        return all
    }

    @Test func everyHostileRequestGetsAJSON4xxAndLeavesNothing() async throws {
        try await InProcessServer.with { server in
            let cases = try Self.cases()
            #expect(cases.count >= 60)
            for c in cases {
                let r = try await server.request(c.method, c.path, headers: c.headers, body: c.body)
                #expect(r.status == c.status, "\(c): \(r.status) \(r.text.prefix(300))")
                #expect(r.headers.contains { $0.0.lowercased() == "content-type" && $0.1.hasPrefix("application/json") }, "\(c): not JSON")
                #expect(r.errorCode != nil && !r.errorMessage.isEmpty, "\(c): no JSON error body: \(r.text.prefix(300))")
                if let code = c.code { #expect(r.errorCode == code, "\(c): \(r.text.prefix(300))") }
                guard server.isRunning else {
                    Issue.record("the server died on \(c): \(server.serverLog.suffix(2000))")
                    return
                }
                #expect(try await server.get("/healthz").status == 200, "\(c): the server stopped answering")
                #expect(try server.files(in: "temp").isEmpty && server.files(in: "uploads").isEmpty, "\(c): files left behind")
            }
            #expect((try await server.get("/jobs").json["jobs"] as? [Any])?.isEmpty == true, "no hostile request made a job")
            #expect(!server.serverLog.contains("\"level\":\"error\""), "no request failed on the server: \(server.serverLog.suffix(2000))")
        }
    }

    /// Requests that are not HTTP a parser accepts still get a JSON answer, and the server stays up.
    @Test func unparseableRequestsGetJSON() async throws {
        try await InProcessServer.with { server in
            let script = """
                import socket, sys, json
                port = int(sys.argv[1])
                cases = {
                    "200 KiB header": b"GET /jobs HTTP/1.1\\r\\nHost: x\\r\\nX-Big: " + b"a" * 200 * 1024 + b"\\r\\n\\r\\n",
                    "2,000 headers": b"GET /jobs HTTP/1.1\\r\\nHost: x\\r\\n" + b"".join(b"X-H%d: v\\r\\n" % i for i in range(2000)) + b"\\r\\n",
                    "garbage request line": b"\\x00\\x01\\x02 nonsense\\r\\n\\r\\n",
                    "bad version": b"GET / HTTP/9.9\\r\\n\\r\\n",
                }
                out = {}
                for name, raw in cases.items():
                    s = socket.create_connection(("127.0.0.1", port), timeout=30)
                    try:
                        s.sendall(raw)
                    except OSError:
                        pass
                    data = b""
                    try:
                        while True:
                            chunk = s.recv(65536)
                            if not chunk:
                                break
                            data += chunk
                    except OSError:
                        pass
                    s.close()
                    head, _, body = data.partition(b"\\r\\n\\r\\n")
                    out[name] = {"status": head.split(b" ")[1].decode() if head.count(b" ") else "", "head": head.decode("latin-1"), "body": body.decode("latin-1")}
                print(json.dumps(out))
                """
            let r = try await Fixtures.python(script, ["\(server.port)"])
            #expect(r.status == 0, "\(r.stderr)")
            let answers = try #require(
                try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: [String: String]], "\(r.stdout)")
            #expect(answers.count == 4)
            for (name, answer) in answers {
                #expect(answer["status"]?.hasPrefix("4") == true, "\(name): \(answer["head"] ?? "")")
                let body = try? JSONSerialization.jsonObject(with: Data((answer["body"] ?? "").utf8)) as? [String: Any]
                #expect(
                    (body?["error"] as? [String: Any])?["code"] is String,
                    "\(name): not a JSON error: \(answer["head"] ?? "") \(answer["body"] ?? "")")
                #expect(answer["head"]?.lowercased().contains("content-type: application/json") == true, "\(name)")
            }
            #expect(server.isRunning)
            #expect(try await server.get("/healthz").status == 200)
        }
    }
}
