import Foundation
import GeoInferTestSupport
import NIOHTTP1
import Server
import Testing
import Webhooks
import Workers

/// Webhook delivery end to end: the service (in the test process, or a process where a test kills
/// or restarts it), a real receiver on loopback that verifies every signature with the reference
/// `standardwebhooks` package.
@Suite struct WebhookTests {
    static let serverSecret = "whsec_" + Data((0..<32).map { UInt8($0) }).base64EncodedString()
    static let jobSecret = "whsec_" + Data((0..<32).map { UInt8(255 - $0) }).base64EncodedString()

    /// Runs `body` with an in-process server that may call loopback, retrying quickly.
    func withServer<T>(
        schedule: String = "1s,1s,1s,1s,1s,1s,1s,1s", timeout: TimeInterval = 15, allow: Bool = true, workers: Int = 1,
        progressStep: Double = 0, _ body: (InProcessServer) async throws -> T
    ) async throws -> T {
        try await InProcessServer.with(
            configure: { c in
                c.webhooks.secrets = [try WebhookSecret(Self.serverSecret)]
                c.webhooks.allowlist = allow ? ["127.0.0.1"] : []
                c.webhooks.schedule = try RetrySchedule(parsing: schedule)
                c.webhooks.timeout = timeout
                c.webhooks.progressStep = progressStep
                c.workers.concurrency = workers
            }, body)
    }

    /// A server process that may call loopback, retrying quickly: for the tests that kill or
    /// restart it.
    func server(
        schedule: String = "1s,1s,1s,1s,1s,1s,1s,1s", timeout: String = "15", allow: Bool = true, workers: Int = 1,
        dataDir: URL? = nil, progressStep: Int = 0, extra: [String: String] = [:]
    ) async throws -> ServerProcess {
        try await ServerProcess(
            environment: [
                "GEOINFER_WEBHOOK_SECRET": Self.serverSecret, "GEOINFER_WEBHOOK_ALLOWLIST": allow ? "127.0.0.1" : "",
                "GEOINFER_WEBHOOK_RETRY_SCHEDULE": schedule, "GEOINFER_WEBHOOK_TIMEOUT_SECONDS": timeout, "GEOINFER_WORKERS": "\(workers)",
                "GEOINFER_WEBHOOK_PROGRESS_STEP": "\(progressStep)",
            ].merging(extra) { $1 }, dataDir: dataDir)
    }

    @Test func receiverDownThenUpGetsItOnceSignedWithTheSameID() async throws {
        let receiver = try WebhookReceiver(secrets: [Self.serverSecret])
        defer { receiver.stop() }
        // A schedule long enough for the receiver to start on a loaded machine.
        try await withServer(schedule: "1s,1s,1s,2s,3s,5s,10s,15s,20s") { server in
            let job = try await server.submitOne([("webhook_url", receiver.url)])
            // Down: connection refused, retried.
            let failing = try await server.waitDelivery(job) { ($0["attempts"] as? Int ?? 0) >= 2 }
            #expect(failing["status"] as? String == "pending")
            #expect((failing["last_error"] as? String ?? "").contains("refused"), "\(failing)")
            #expect(failing["next_attempt_at"] != nil)
            try await receiver.start()
            let done = try await server.waitDelivery(job) { $0["status"] as? String == "delivered" }
            #expect(done["last_status_code"] as? Int == 200)
            #expect(done["delivered_at"] != nil && done["next_attempt_at"] == nil)
            let history = try #require(done["history"] as? [[String: Any]])
            #expect(history.count == done["attempts"] as? Int)
            #expect(history.dropLast().allSatisfy { $0["status_code"] == nil && $0["error"] != nil })

            let receipts = try await receiver.log()
            #expect(receipts.count == 1)
            let r = try #require(receipts.first)
            #expect(r.verified_by == 0, "\(r.verify_errors)")
            #expect(r.webhook_id == done["webhook_id"] as? String)
            #expect(r.path == "/hooks/geoinfer" && r.content_type == "application/json")
            let body = r.json
            #expect(body["type"] as? String == "job.completed")
            #expect(body["event"] as? String == "processing_completed")
            #expect(body["job_id"] as? String == job)
            #expect((body["summary"] as? [String: Any])?["files_successfully_processed"] as? Int == 1)
            #expect((body["results"] as? [String: Any])?["download_url"] as? String == "\(server.base)/results/\(job)/coco.json")
            let data = try #require(body["data"] as? [String: Any])
            #expect((data["detections"] as? [String: Any])?["total"] as? Int == 1)
            #expect((data["detections"] as? [String: Any])?["merged"] as? Int == 1, "the merged layer's count")
            // The links in the event work.
            #expect(try await server.get("/results/\(job)/coco.json").status == 200)
            let merged = try #require((data["results"] as? [String: Any])?["detections_merged"] as? String)
            #expect(merged == "\(server.base)/results/\(job)/detections_merged.geojson")
            #expect(try await server.get("/results/\(job)/detections_merged.geojson").status == 200)
        }
    }

    @Test func serverErrorsAreRetriedHonouringRetryAfterThenDelivered() async throws {
        let receiver = try WebhookReceiver(secrets: [Self.serverSecret])
        defer { receiver.stop() }
        try await receiver.start(script: ["500", "500", "503+ra=3", "200"])
        try await withServer { server in
            let job = try await server.submitOne([("webhook_url", receiver.url)])
            let done = try await server.waitDelivery(job) { $0["status"] as? String == "delivered" }
            let history = try #require(done["history"] as? [[String: Any]])
            #expect(history.map { $0["status_code"] as? Int } == [500, 500, 503, 200])
            let receipts = try await receiver.log()
            #expect(receipts.map(\.answer) == [500, 500, 503, 200])
            #expect(Set(receipts.compactMap(\.webhook_id)) == [done["webhook_id"] as? String])
            #expect(receipts.allSatisfy { $0.verified_by == 0 })
            // The schedule says 1 s; the receiver asked for 3 s and got at least that.
            #expect(receipts[3].at - receipts[2].at >= 2.9)
            #expect(receipts[1].at - receipts[0].at >= 0.85)
            // Every attempt is signed afresh; the body never changes.
            #expect(Set(receipts.map(\.body)).count == 1)
        }
    }

    @Test func goneStopsForGoodUntilRedelivered() async throws {
        let receiver = try WebhookReceiver(secrets: [Self.serverSecret])
        defer { receiver.stop() }
        try await receiver.start(script: ["410"])
        try await withServer { server in
            let job = try await server.submitOne([("webhook_url", receiver.url)])
            let stopped = try await server.waitDelivery(job) { $0["status"] as? String == "stopped" }
            #expect(stopped["attempts"] as? Int == 1)
            try await Task.sleep(for: .seconds(3))
            #expect(try await receiver.log().count == 1)

            let r = try await server.request(.POST, "/jobs/\(job)/webhook/redeliver")
            #expect(r.status == 202, "\(r.text)")
            #expect(r.json["webhook_id"] as? String == stopped["webhook_id"] as? String)
            let done = try await server.waitDelivery(job) { $0["status"] as? String == "delivered" }
            #expect(done["attempts"] as? Int == 2)
            let receipts = try await receiver.log()
            #expect(receipts.map(\.answer) == [410, 200])
            #expect(receipts[0].webhook_id == receipts[1].webhook_id)
        }
    }

    @Test func slowReceiversTimeOutAndRedirectsAreNotFollowed() async throws {
        let receiver = try WebhookReceiver(secrets: [Self.serverSecret])
        defer { receiver.stop() }
        // The first answer would take 30 s: the attempt's 1 s timeout ends it long before, however
        // slowly a loaded machine runs the test.
        try await receiver.start(script: ["sleep=30", "302", "200"])
        try await withServer(timeout: 1) { server in
            let job = try await server.submitOne([("webhook_url", receiver.url)])
            let done = try await server.waitDelivery(job) { $0["status"] as? String == "delivered" }
            let history = try #require(done["history"] as? [[String: Any]])
            #expect(history.count == 3)
            #expect((history[0]["error"] as? String ?? "").contains("timed out"), "\(history[0])")
            #expect(history[0]["seconds"] as? Double ?? 99 < 20, "cut off by the timeout, not answered after 30 s")
            #expect(history[1]["status_code"] as? Int == 302)
            #expect((history[1]["error"] as? String ?? "").contains("redirect"))
            let receipts = try await receiver.log()
            #expect(receipts.count == 3)
            #expect(!receipts.contains { $0.path == "/redirected" })
        }
    }

    @Test func killedMidRetryStillDeliversExactlyOnce() async throws {
        let receiver = try WebhookReceiver(secrets: [Self.serverSecret])
        defer { receiver.stop() }
        try await receiver.start(script: ["500"])
        // The deliverer (one delivery at a time) pauses once its first attempt, a 500, is recorded
        // and the retry scheduled, so the kill lands between the two attempts whatever the
        // machine's speed.
        let gate = FailpointGate()
        let server = try await server(
            extra: gate.environment(["webhook.after_record": "1*pause"]).merging(["GEOINFER_WEBHOOK_CONCURRENCY": "1"]) { $1 })
        defer { server.stop() }
        let job = try await server.submitOne([("webhook_url", receiver.url)])
        let paused = try await gate.waitPaused("webhook.after_record", alive: { server.isRunning }, diagnostics: { server.serverLog })
        #expect(paused.context.contains("attempt=1"), "\(paused)")
        let first = try #require(try await server.deliveries(job).first)
        #expect(first["attempts"] as? Int == 1 && first["status"] as? String == "pending", "\(first)")
        server.kill9()
        try await server.start()
        let done = try await server.waitDelivery(job) { $0["status"] as? String == "delivered" }
        // The restarted server pauses after its first record too: let it go.
        gate.releaseAll("webhook.after_record")
        #expect(done["webhook_id"] as? String == first["webhook_id"] as? String)
        let receipts = try await receiver.log()
        #expect(receipts.filter { $0.answer == 200 }.count == 1)
        #expect(receipts.map(\.answer) == [500, 200])
        #expect(Set(receipts.compactMap(\.webhook_id)).count == 1)
    }

    @Test func aJobsOwnSecretSignsItsCancelledEvent() async throws {
        let receiver = try WebhookReceiver(secrets: [Self.serverSecret, Self.jobSecret])
        defer { receiver.stop() }
        try await receiver.start()
        // No workers: the job stays queued until it is cancelled.
        try await withServer(workers: 0) { server in
            let job = try await server.submitOne([("webhook_url", receiver.url), ("webhook_secret", Self.jobSecret)])
            #expect(try await server.webhook(job)["own_secret"] as? Bool == true)
            #expect(!(try await server.get("/jobs/\(job)").text.contains(Self.jobSecret.dropFirst(6))))
            #expect(try await server.request(.DELETE, "/jobs/\(job)").status == 200)
            _ = try await server.waitDelivery(job) { $0["status"] as? String == "delivered" }
            let r = try #require(try await receiver.log().first)
            #expect(r.verified_by == 1, "signed with the job's secret only: \(r.verify_errors)")
            #expect(r.json["type"] as? String == "job.cancelled")
            #expect(r.json["event"] as? String == "processing_cancelled")
        }
    }

    @Test func addressIsCheckedAgainAtDelivery() async throws {
        // Accepted while loopback was allowed; by delivery time it is not: nothing is sent.
        let receiver = try WebhookReceiver(secrets: [Self.serverSecret])
        defer { receiver.stop() }
        try await receiver.start()
        let first = try await server(workers: 0)
        let job = try await first.submitOne([("webhook_url", receiver.url)])
        first.stop()
        let second = try await server(allow: false, dataDir: first.dataDir)
        defer { second.stop() }
        let failing = try await second.waitDelivery(job) { ($0["attempts"] as? Int ?? 0) >= 2 }
        #expect((failing["last_error"] as? String ?? "").contains("loopback"), "\(failing)")
        #expect(try await receiver.log().isEmpty)
    }

    @Test func privateAndMetadataAddressesAreRefusedAtSubmit() async throws {
        try await withServer(allow: false) { server in
            for url in [
                "http://127.0.0.1:8080/h", "http://localhost/h", "http://169.254.169.254/latest/meta-data/", "http://[::1]/h",
                "http://10.0.0.7/h", "http://192.168.1.20/h", "http://[fd00::1]/h", "http://2130706433/h", "http://[::ffff:127.0.0.1]/h",
            ] {
                var form = Multipart()
                form.file("a.tif", try Scenes.raster())
                form.field("webhook_url", url)
                let r = try await server.upload(form)
                #expect(r.status == 422 && r.errorCode == "webhook_url_refused", "\(url): \(r.text)")
            }
            var form = Multipart()
            form.file("a.tif", try Scenes.raster())
            form.field("webhook_url", "https://203.0.113.10/h")
            form.field("webhook_secret", "not-a-secret")
            let bad = try await server.upload(form)
            #expect(bad.status == 422 && bad.errorCode == "invalid_webhook_secret", "\(bad.text)")
            var inQuery = Multipart()
            inQuery.file("a.tif", try Scenes.raster())
            let leaked = try await server.upload(
                inQuery, query: "?webhook_secret=\(Self.jobSecret.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)")
            #expect(leaked.status == 400 && leaked.errorCode == "secret_in_url", "\(leaked.text)")
            #expect(try server.files(in: "uploads").isEmpty)
        }
    }

    @Test func cliSendsASignedTestEvent() async throws {
        let receiver = try WebhookReceiver(secrets: [Self.serverSecret])
        defer { receiver.stop() }
        try await receiver.start()
        let exe = Fixtures.geoinferExecutable
        let ok = try await Fixtures.run(
            exe, ["webhook", "test", receiver.url, "--secret", Self.serverSecret],
            environment: ["GEOINFER_WEBHOOK_ALLOWLIST": "127.0.0.1"])
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        #expect(ok.stdout.contains("HTTP 200"))
        let r = try #require(try await receiver.log().first)
        #expect(r.verified_by == 0 && r.json["type"] as? String == "webhook.test")
        let refused = try await Fixtures.run(
            exe, ["webhook", "test", receiver.url, "--secret", Self.serverSecret], environment: ["GEOINFER_WEBHOOK_ALLOWLIST": ""])
        #expect(refused.status != 0 && refused.stderr.contains("loopback"), "\(refused.stderr)")
        let secret = try await Fixtures.run(exe, ["webhook", "secret"])
        #expect(secret.stdout.hasPrefix("whsec_") && secret.stdout.count > 40)
    }

    @Test func progressEventsAtConfiguredSteps() async throws {
        let receiver = try WebhookReceiver(secrets: [Self.serverSecret])
        defer { receiver.stop() }
        try await receiver.start()
        try await withServer(progressStep: 25) { server in
            var form = Multipart()
            for i in 0..<4 { form.file("s\(i).tif", try Scenes.raster()) }
            form.field("webhook_url", receiver.url)
            let job = try #require(try await server.upload(form).json["job_id"] as? String)
            _ = try await server.waitFinal(job)
            let deadline = ContinuousClock.now + .seconds(30)
            var receipts: [WebhookReceiver.Receipt] = []
            while ContinuousClock.now < deadline {
                receipts = try await receiver.log()
                if receipts.count >= 4 { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            try await Task.sleep(for: .seconds(1))
            receipts = try await receiver.log()
            let progress = receipts.filter { $0.json["type"] as? String == "job.progress" }
            // Four one-tile files: the job passes 25, 50 and 75 %; 100 % is the final event instead.
            #expect(Set(progress.compactMap { $0.json["progress"] as? Double }) == [25, 50, 75], "\(receipts.map(\.body))")
            #expect(progress.count == 3)
            #expect(progress.allSatisfy { $0.verified_by == 0 && $0.json["event"] as? String == "processing_progress" })
            #expect(receipts.filter { $0.json["type"] as? String == "job.completed" }.count == 1)
            #expect(Set(receipts.compactMap(\.webhook_id)).count == receipts.count, "each event has its own id")
        }
    }
}
