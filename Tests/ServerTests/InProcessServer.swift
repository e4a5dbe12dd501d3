import Foundation
import GeoInferTestSupport
import Jobs
import Logging
import NIOHTTP1
import Server
import ServiceLifecycle
import Storage
import Synchronization
import Workers

/// The service built in the test process by the same builder as `geoinfer serve`
/// (`GeoInferServer.build`), on a free loopback port, with its jobs in memory
/// (`InMemoryJobStore`) and its log kept for failure messages. For tests that need only the
/// HTTP API and the workers; a test that kills, freezes or restarts the service, reads its
/// process log or runs it against a database uses ``ServerProcess``.
final class InProcessServer: HTTPService {
    let port: Int
    let dataDir: URL
    private let group: ServiceGroup
    private let running: Task<Void, any Error>
    let log: LogLines
    private let ended: Flag

    var serverLog: String { log.text }
    /// Whether the services still run (false once the group ended, by a stop or a failure).
    var isRunning: Bool { !ended.isSet }
    var exitDescription: String { ended.isSet ? "its services ended" : "running" }

    /// `configure` changes the defaults: one worker with one ONNX Runtime thread, as
    /// `ServerProcess` runs; `logLevel` is the least a line must be to be kept (warnings by default,
    /// as `ServerProcess` logs).
    init(
        model: String = Fixtures.model("yolo"), dataDir: URL? = nil, logLevel: Logger.Level = .warning,
        configure: (inout ServerConfiguration) throws -> Void = { _ in }
    ) async throws {
        let dataDir = dataDir ?? Fixtures.temporaryDirectory("in-process")
        // A free port can be taken by another test's server between the choice and the bind: the
        // service then ends at once, saying the address is in use, and starts again on another.
        var attempt = 0
        while true {
            attempt += 1
            let port = try PeerProcess.freePort()
            var config = ServerConfiguration()
            config.port = port
            config.dataDirectory = dataDir
            config.modelPath = model
            config.jobsInMemory = true
            config.workers.concurrency = 1
            config.workers.threads = 1
            // GCS as `serve` sees it from the same environment.
            config.cloud.access = Result { try GCSAccess.from(environment: ProcessInfo.processInfo.environment, http: HTTPTransport()) }
                .mapError { $0 as? StorageError ?? .configuration("\($0)") }
            try configure(&config)
            let lines = LogLines()
            var logger = Logger(label: "geoinfer") { label in JSONLogHandler(label: label, write: { lines.append($0) }) }
            logger.logLevel = logLevel
            let built = try await GeoInferServer.build(config, logger: logger)
            // No shutdown limits: past them ServiceLifecycle ends the process, here the whole test run.
            // `stop()` bounds its own wait instead.
            let group = GeoInferServer.serviceGroup(built, logger: logger, signals: [], boundedShutdown: false)
            let ended = Flag()
            let running = Task {
                defer { ended.set() }
                try await group.run()
            }
            // Ready when it answers, as `ServerProcess` waits.
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline, !ended.isSet {
                if let r = try? await Self.request(.GET, "http://127.0.0.1:\(port)/openapi.json"), r.status == 200 {
                    (self.port, self.dataDir, self.group, self.running, self.log, self.ended) = (
                        port, dataDir, group, running, lines, ended
                    )
                    return
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            await group.triggerGracefulShutdown()
            let why: String
            switch await running.result {
            case .failure(let error): why = "\(error)"
            case .success: why = ended.isSet ? "its services ended" : "running"
            }
            if ended.isSet, why.lowercased().contains("in use"), attempt < 5 { continue }
            throw TestFailure(
                "the in-process server \(ended.isSet ? "stopped before it answered (\(why))" : "did not answer within 60 s"): \(lines.text)"
            )
        }
    }

    /// Graceful shutdown, as on SIGTERM; returns once every service has ended, or throws when
    /// they have not within 120 s (a loaded machine running the whole suite is slow to stop).
    func stop() async throws {
        await group.triggerGracefulShutdown()
        let running = self.running
        let ended = Task { () async throws -> Bool in
            _ = await running.result
            return true
        }
        _ = try await value(of: ended, within: .seconds(120), "the in-process server's shutdown")
    }
}

/// Log lines kept in memory.
final class LogLines: Sendable {
    private let lines = Mutex("")
    func append(_ line: String) { lines.withLock { $0 += line } }
    var text: String { lines.withLock { $0 } }
}

extension InProcessServer {
    /// Runs `body` with a new in-process server, and stops it afterwards, whether `body` threw or not.
    static func with<T>(
        model: String = Fixtures.model("yolo"), dataDir: URL? = nil, logLevel: Logger.Level = .warning,
        configure: (inout ServerConfiguration) throws -> Void = { _ in }, _ body: (InProcessServer) async throws -> T
    ) async throws -> T {
        let server = try await InProcessServer(model: model, dataDir: dataDir, logLevel: logLevel, configure: configure)
        do {
            let value = try await body(server)
            try await server.stop()
            return value
        } catch {
            try? await server.stop()
            FileHandle.standardError.write(
                Data("the in-process server's log, its last 6000 characters:\n\(server.log.text.suffix(6000))\n".utf8))
            throw error
        }
    }
}

/// A flag set once, read from any task.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
