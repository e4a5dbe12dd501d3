import Foundation
import GeoInferTestSupport
import GeoRaster
import Server
import Testing
import Workers

/// Health checks, Prometheus metrics and structured logs of a running server.
@Suite(.serialized) struct OperationsTests {
    @Test func healthAndReadiness() async throws {
        try await InProcessServer.with { server in
            let health = try await server.get("/healthz")
            #expect(health.status == 200 && health.json["status"] as? String == "ok")
            let ready = try await server.get("/readyz")
            #expect(ready.status == 200, "\(ready.text)")
            #expect(ready.json["status"] as? String == "ready")
            let checks = try #require(ready.json["checks"] as? [String: [String: Any]])
            #expect(Set(checks.keys) == ["job_store", "model", "disk"])
            #expect(checks.values.allSatisfy { $0["ok"] as? Bool == true })
            let modelDetail = checks["model"]?["detail"] as? String
            #expect(modelDetail?.contains("test-markers") == true)

        }
        // A data directory short of space is not ready, and says why.
        let settings: (inout ServerConfiguration) throws -> Void = { $0.minFreeBytes = 1 << 60 }
        try await InProcessServer.with(configure: settings) { full in
            let notReady = try await full.get("/readyz")
            #expect(notReady.status == 503 && notReady.json["status"] as? String == "not_ready")
            let disk = try #require((notReady.json["checks"] as? [String: [String: Any]])?["disk"])
            let diskDetail = disk["detail"] as? String
            #expect(disk["ok"] as? Bool == false)
            #expect(diskDetail?.contains("MiB free") == true)
            #expect(try await full.get("/healthz").status == 200)
        }
    }

    @Test func metricsParseAsPrometheusAndCountTheWork() async throws {
        let server = try await ServerProcess()
        defer { server.stop() }
        var form = Multipart()
        form.file("a.tif", try Scenes.raster())
        form.file(
            "b.tif", try Scenes.raster(markers: [Marker(x: 20, y: 20, width: 10, height: 10), Marker(x: 90, y: 60, width: 10, height: 10)]))
        let id = try #require(try await server.upload(form).json["job_id"] as? String)
        _ = try await server.waitFinal(id)
        _ = try await server.get("/status/nope")
        let metrics = try await server.get("/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.headers.contains { $0.0.lowercased() == "content-type" && $0.1.hasPrefix("text/plain") })
        // The reference parser (prometheus_client) reads it; print the samples we check.
        let file = server.dataDir.appendingPathComponent("metrics.txt")
        try metrics.body.write(to: file)
        let parsed = try await Fixtures.python(
            """
            import sys, json
            from prometheus_client.parser import text_string_to_metric_families
            out = {}
            for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
                for s in fam.samples:
                    key = s.name + "{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}"
                    out[key] = s.value
            print(json.dumps(out))
            """, [file.path])
        #expect(parsed.status == 0, "\(parsed.stderr)\n\(metrics.text)")
        let samples = try #require(try JSONSerialization.jsonObject(with: Data(parsed.stdout.utf8)) as? [String: Double])
        #expect(samples["geoinfer_files_processed_total{outcome=succeeded}"] == 2)
        #expect(samples["geoinfer_jobs{state=completed}"] == 1)
        #expect(samples["geoinfer_jobs{state=running}"] == 0)
        #expect(samples["geoinfer_queue_files{}"] == 0)
        #expect(samples["geoinfer_file_inference_seconds_count{}"] == 2)
        #expect((samples["geoinfer_tiles_processed_total{}"] ?? 0) >= 2)
        // HTTP requests by route and status.
        #expect(
            samples.keys.contains { $0.hasPrefix("hb_requests_total{") && $0.contains("http_route=/jobs") && $0.contains("=202") },
            "\(samples.keys.sorted())")
        #expect(
            samples.keys.contains {
                $0.hasPrefix("hb_request_errors_total{") && $0.contains("http_route=/status/{id}") && $0.contains("=404")
            })
        #expect(samples.keys.contains { $0.hasPrefix("http_server_request_duration_count{") && $0.contains("/status/{id}") })
    }

    @Test func logsAreJSONWithRequestIDsAndNoSecrets() async throws {
        let secret = "whsec_" + Data((0..<32).map { UInt8($0 * 3) }).base64EncodedString()
        let server = try await ServerProcess(environment: ["GEOINFER_LOG_LEVEL": "info", "GEOINFER_WEBHOOK_SECRET": secret])
        defer { server.stop() }
        let jobSecret = "whsec_" + Data((0..<32).map { UInt8($0 * 5 % 251) }).base64EncodedString()
        var form = Multipart()
        form.file("a.tif", try Scenes.raster())
        form.field("webhook_secret", jobSecret)
        let r = try await server.upload(form, query: "?webhook_url=https%3A%2F%2F203.0.113.10%2Fh%3Ftoken%3Dsupersecrettoken")
        let id = try #require(r.json["job_id"] as? String, "\(r.text)")
        _ = try await server.waitFinal(id)
        // The job ended with a webhook to an unreachable address: at least one failed attempt is logged.
        let deadline = ContinuousClock.now + .seconds(30)
        while !server.serverLog.contains("webhook attempt failed"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        let lines = server.serverLog.split(separator: "\n")
        #expect(lines.count > 3)
        let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }
        #expect(objects.count == lines.count, "every line is a JSON object")
        let requests = objects.filter { $0["message"] == "request" }
        let uploadLogged = requests.contains { line in
            line["path"] == "/jobs" && line["status"] == "202" && (line["hb.request.id"]?.count ?? 0) > 8
        }
        #expect(uploadLogged, "a request line with its request id")
        #expect(objects.contains { $0["job_id"] == id && $0["message"] == "job finished" })
        #expect(objects.contains { $0["job_id"] == id && $0["webhook_id"] != nil })
        let log = server.serverLog
        for leak in [secret, String(secret.dropFirst(6)), jobSecret, String(jobSecret.dropFirst(6)), "supersecrettoken"] {
            #expect(!log.contains(leak), "the log contains a secret or token")
        }
    }

    /// A process that only accepts jobs plans their tiles from the model's manifest: ONNX Runtime
    /// is never loaded into it (its library is not among the process's mappings), and the plan is
    /// the one a process with workers makes. A process with workers does map it: the check can fail.
    @Test func anAPIOnlyProcessNeverLoadsONNXRuntime() async throws {
        var form = Multipart()
        form.file("a.tif", try Scenes.raster(width: 700, height: 300))
        let api = try await ServerProcess(environment: ["GEOINFER_WORKERS": "0"])
        defer { api.stop() }
        let queued = try #require(try await api.upload(form).json["job_id"] as? String)
        let planned = try await api.get("/jobs/\(queued)").json
        #expect(planned["status"] as? String == "queued")
        #expect(try await api.get("/readyz").status == 200)
        let maps = try String(contentsOfFile: "/proc/\(api.pid)/maps", encoding: .utf8)
        #expect(!maps.contains("libonnxruntime"), "an API-only process mapped ONNX Runtime")

        let full = try await ServerProcess()
        defer { full.stop() }
        let done = try #require(try await full.upload(form).json["job_id"] as? String)
        #expect(try await full.waitFinal(done)["status"] as? String == "completed")
        let ran = try await full.get("/jobs/\(done)").json
        #expect(
            (planned["tiles_total"] as? Int ?? 0) > 1 && planned["tiles_total"] as? Int == ran["tiles_total"] as? Int, "\(planned) \(ran)")
        #expect(try String(contentsOfFile: "/proc/\(full.pid)/maps", encoding: .utf8).contains("libonnxruntime"))
    }

    @Test func quicklookSizeIsASettingAndZeroMeansNone() async throws {
        var form = Multipart()
        form.file("a.tif", try Scenes.raster())
        let smallLooks: (inout ServerConfiguration) throws -> Void = { $0.workers.quicklookSize = 48 }
        try await InProcessServer.with(configure: smallLooks) { small in
            let id = try #require(try await small.upload(form).json["job_id"] as? String)
            #expect(try await small.waitFinal(id)["status"] as? String == "completed")
            #expect(try await small.get("/results/\(id)/quicklooks/a.tif.jpg").status == 200)
            let look = try Raster(path: small.dataDir.appendingPathComponent("results/\(id)/quicklooks/a.tif.jpg").path).info
            #expect(max(look.width, look.height) == 48)
        }
        let noLooks: (inout ServerConfiguration) throws -> Void = { $0.workers.quicklookSize = 0 }
        try await InProcessServer.with(configure: noLooks) { none in
            let other = try #require(try await none.upload(form).json["job_id"] as? String)
            #expect(try await none.waitFinal(other)["status"] as? String == "completed")
            #expect(try await none.get("/results/\(other)/quicklooks/a.tif.jpg").status == 404)
            #expect(try await none.get("/results/\(other)/thumbnails/a.tif.jpg").status == 404)
            #expect(!FileManager.default.fileExists(atPath: none.dataDir.appendingPathComponent("results/\(other)/quicklooks").path))
            #expect(!FileManager.default.fileExists(atPath: none.dataDir.appendingPathComponent("results/\(other)/thumbnails").path))
        }

        // Settings out of range stop the service at start, saying which.
        let refused: [([String: String], String)] = [
            (["GEOINFER_QUICKLOOK_SIZE": "-1"], "GEOINFER_QUICKLOOK_SIZE"),
            (["GEOINFER_QUICKLOOK_SIZE": "4097"], "GEOINFER_QUICKLOOK_SIZE"),
            (["GEOINFER_QUICKLOOK_SIZE": "big"], "GEOINFER_QUICKLOOK_SIZE"),
            (["GEOINFER_WORKERS": "100000"], "--workers must be 0 to 256"),
            (["GEOINFER_WEBHOOK_CONCURRENCY": "0"], "GEOINFER_WEBHOOK_CONCURRENCY must be 1 to 256"),
            (["GEOINFER_THREADS": "0"], "--threads must be 1 to 1024"),
        ]
        for (env, message) in refused {
            let r = try await Fixtures.run(
                Fixtures.geoinferExecutable, ["serve", "--port", "1", "--data-dir", Fixtures.temporaryDirectory("refused").path],
                environment: env.merging(["GEOINFER_ENV_FILE": ""]) { $1 })
            #expect(r.status != 0 && r.stderr.contains(message), "\(env): \(r.stderr)")
        }
    }

    @Test func quicklooksAreServedForTheJobsOwnFilesOnly() async throws {
        try await InProcessServer.with { server in
            var form = Multipart()
            form.file("a.tif", try Scenes.raster())
            form.file("b.tif", try Scenes.raster())
            let id = try #require(try await server.upload(form).json["job_id"] as? String)
            _ = try await server.waitFinal(id)
            let files = try #require(try await server.get("/jobs/\(id)").json["files"] as? [[String: Any]])
            let link = try #require(files.first?["quicklook"] as? String)
            #expect(link == "/results/\(id)/quicklooks/a.tif.jpg")
            let jpeg = try await server.get(link)
            #expect(jpeg.status == 200)
            #expect(jpeg.body.prefix(3) == Data([0xFF, 0xD8, 0xFF]))
            #expect(jpeg.headers.contains { $0.0.lowercased() == "content-type" && $0.1 == "image/jpeg" })
            #expect(try server.files(in: "results").contains("\(id)/quicklooks/a.tif.jpg"))
            // Small: at most 384 px a side by default, never larger than the file it shows.
            let input = try Raster(path: server.dataDir.appendingPathComponent("uploads/\(id)_a.tif").path).info
            let look = try Raster(path: server.dataDir.appendingPathComponent("results/\(id)/quicklooks/a.tif.jpg").path).info
            #expect(look.driver == "JPEG" && look.bandCount == 3)
            #expect(
                max(look.width, look.height) <= 384 && look.width <= input.width && look.height <= input.height,
                "\(look.width)x\(look.height)")
            for bad in ["nope.tif.jpg", "a.tif", "a.tif.png", "..%2F..%2Fgeoinfer.sqlite", "%2E%2E%2Fa.tif.jpg"] {
                let r = try await server.get("/results/\(id)/quicklooks/\(bad)")
                #expect(r.status == 404 && r.errorCode == "not_found", "\(bad): \(r.status)")
            }
        }
    }
}
