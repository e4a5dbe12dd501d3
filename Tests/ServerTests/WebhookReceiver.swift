import AsyncHTTPClient
import Foundation
import GeoInferTestSupport
import NIOCore
import NIOFoundationCompat
import Testing

/// A real HTTP webhook receiver (scripts/testing/webhook_receiver.py) that verifies every request
/// with the reference `standardwebhooks` package and answers as scripted.
final class WebhookReceiver {
    let port: Int
    let secrets: [String]
    /// The original prototype's `WEBHOOK_SIGNING_SECRET`, to check its `X-Signature` scheme too (nil: not checked).
    let prototypeSecret: String?
    private var process: Process?

    var url: String { "http://127.0.0.1:\(port)/hooks/geoinfer" }

    /// Reserves a port; `start` opens it (so tests can begin with the receiver down).
    init(secrets: [String], prototypeSecret: String? = nil) throws {
        self.port = try ServerProcess.freePort()
        self.secrets = secrets
        self.prototypeSecret = prototypeSecret
    }

    func start(script: [String] = []) async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Fixtures.python)
        p.arguments =
            [
                Fixtures.root.appendingPathComponent("scripts/testing/webhook_receiver.py").path, "--port", "\(port)",
                "--script", script.joined(separator: ","),
            ] + secrets.flatMap { ["--secret", $0] }
            + (prototypeSecret.map { ["--prototype-secret", $0] } ?? [])
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            // Its own answer: another process may hold the port.
            if PeerProcess.listens(pid: p.processIdentifier, port: port), (try? await log()) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure(
            PeerProcess.listenerInode(port: port) != nil && !p.isRunning
                ? "webhook receiver: port \(port) is held by another process" : "webhook receiver did not start")
    }

    /// SIGKILL: a child started from the test process may inherit a blocked SIGTERM.
    func stop() {
        if let stuck = process?.killAndWait() { Issue.record("the webhook receiver: \(stuck)") }
    }

    deinit { stop() }

    struct Receipt: Decodable {
        let path: String
        let at: Double
        let answer: Int
        let webhook_id: String?
        let webhook_timestamp: String?
        let webhook_signature: String?
        let content_type: String?
        /// Index of the secret that verified the signature; nil when none did.
        let verified_by: Int?
        let verify_errors: [String]
        let body: String
        /// The prototype's signature checked and valid (nil: not checked).
        let prototype_valid: Bool?

        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:] }
    }

    func log() async throws -> [Receipt] {
        let resp = try await testClient.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/_log"), timeout: .seconds(5))
        let body = try await resp.body.collect(upTo: 16 << 20)
        return try JSONDecoder().decode([Receipt].self, from: Data(buffer: body))
    }
}

extension HTTPService {
    /// The job's webhook section of `GET /jobs/{id}`.
    func webhook(_ job: String) async throws -> [String: Any] {
        try await get("/jobs/\(job)").json["webhook"] as? [String: Any] ?? [:]
    }

    func deliveries(_ job: String) async throws -> [[String: Any]] {
        try await webhook(job)["deliveries"] as? [[String: Any]] ?? []
    }

    /// Polls the job's first delivery until `condition` holds.
    @discardableResult
    func waitDelivery(_ job: String, timeout: Duration = .seconds(60), _ condition: ([String: Any]) -> Bool) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard isRunning else {
                throw TestFailure("server exited (\(exitDescription)) while waiting for the delivery of job \(job):\n\(serverLog)")
            }
            if let d = try await deliveries(job).first, condition(d) { return d }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("delivery of job \(job) never reached the expected state: \(try await webhook(job))\n\(serverLog)")
    }

    /// Uploads one small raster with the given form fields and returns the job id.
    func submitOne(_ fields: [(String, String)]) async throws -> String {
        var form = Multipart()
        form.file("scene.tif", try Scenes.raster())
        for (k, v) in fields { form.field(k, v) }
        let r = try await upload(form)
        guard r.status == 202, let id = r.json["job_id"] as? String else { throw TestFailure("upload refused: \(r.text)") }
        return id
    }
}
