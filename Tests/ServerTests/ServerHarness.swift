import AsyncHTTPClient
import Foundation
import GeoInferTestSupport
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Testing

/// The tests' HTTP client. `HTTPClient.shared` ends a request that has received nothing for 90 s
/// once its body is sent (the read timeout of its configuration), whatever limit the request was
/// given: an upload answered only when most of its files have run failed that way under load. Here
/// only each request's own limit decides. It lives as long as the test process.
let testClient: HTTPClient = {
    var configuration = HTTPClient.Configuration.singletonConfiguration
    configuration.timeout.read = nil
    return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
}()

/// A real `geoinfer serve` process on a free loopback port with its own data directory.
final class ServerProcess: HTTPService {
    private(set) var port: Int
    let dataDir: URL
    private var process: Process
    let environment: [String: String]
    let model: String

    init(model: String = Fixtures.model("yolo"), environment: [String: String] = [:], dataDir: URL? = nil) async throws {
        self.port = try Self.freePort()
        self.dataDir = dataDir ?? Fixtures.temporaryDirectory("server")
        self.environment = environment
        self.model = model
        self.process = Process()
        // A port another process took first (between `freePort` and the server's bind) is given
        // up for another one.
        for attempt in 1...5 {
            do {
                try await start()
                return
            } catch let error as TestFailure
                where attempt < 5 && PeerProcess.listenerInode(port: port) != nil && !process.isRunning
                && serverLog.lowercased().contains("in use")
            {
                reportStuck("geoinfer serve found port \(port) taken (\(error.description.suffix(200))); trying another port")
                port = try Self.freePort()
            }
        }
    }

    func start() async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Fixtures.geoinferExecutable)
        p.arguments = ["serve", "--port", "\(port)", "--data-dir", dataDir.path, "--model", model, "--threads", "1"]
        p.environment = ProcessInfo.processInfo.environment.merging([
            "GEOINFER_WORKERS": "1", "GEOINFER_LOG_LEVEL": "warning", "GEOINFER_ENV_FILE": "",
        ]) { $1 }
        .merging(environment) { $1 }
        let log = dataDir.appendingPathComponent("server.log")
        guard FileManager.default.createFile(atPath: log.path, contents: nil) else { throw TestFailure("cannot create \(log.path)") }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        process = p
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            // Its own answer: another process may hold the port.
            if PeerProcess.listens(pid: p.processIdentifier, port: port), let r = try? await get("/openapi.json"), r.status == 200 {
                return
            }
            guard p.isRunning else { throw TestFailure("server exited: \(serverLog)") }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("server did not start: \(serverLog)")
    }

    var serverLog: String { (try? String(contentsOf: dataDir.appendingPathComponent("server.log"), encoding: .utf8)) ?? "" }

    /// SIGKILL: no chance to clean up, as in a crash.
    func kill9() {
        if let stuck = process.killAndWait() { Issue.record("the server: \(stuck)") }
    }

    var isRunning: Bool { process.isRunning }

    /// The process id, to match a paused failpoint to this server.
    var pid: Int32 { process.processIdentifier }

    /// How the process ended, for failure messages.
    var exitDescription: String {
        process.isRunning ? "running" : "\(process.terminationReason == .uncaughtSignal ? "signal" : "exit") \(process.terminationStatus)"
    }

    /// SIGTERM, then SIGKILL if it has not exited within `limit` (a test must never hang on a stuck
    /// server). The server bounds its own shutdown at 15 s; the default leaves room for a loaded
    /// machine, and `TimeBoundTests`, which run alone, hold it to 20 s.
    func stop(within limit: TimeInterval = 60) {
        guard process.isRunning else { return }
        process.terminate()
        if process.waitExit(within: .seconds(limit)) != nil {
            Issue.record("the server did not exit within \(Int(limit)) s of SIGTERM: \(serverLog.suffix(2000))")
        }
        kill9()
    }

    /// A server a test left running does not outlive the test process.
    deinit { _ = process.killAndWait() }

    static func freePort() throws -> Int { try PeerProcess.freePort() }

}

/// A running GeoInfer service the tests talk to over HTTP: a `geoinfer serve` process
/// (``ServerProcess``) or the service built in the test process (``InProcessServer``).
protocol HTTPService {
    /// The loopback port it listens on.
    var port: Int { get }
    /// The service's data directory.
    var dataDir: URL { get }
    /// What the service logged so far, for failure messages.
    var serverLog: String { get }
    /// Whether the service still runs.
    var isRunning: Bool { get }
    /// How it ended, for failure messages ("running" while it runs).
    var exitDescription: String { get }
}

/// A reply, read whole.
struct Reply: Sendable {
    let status: Int
    let headers: [(String, String)]
    let body: Data
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
    var text: String { String(decoding: body, as: UTF8.self) }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    var errorMessage: String { (json["error"] as? [String: Any])?["message"] as? String ?? "" }
}

extension HTTPService {
    /// `http://127.0.0.1:PORT`.
    var base: String { "http://127.0.0.1:\(port)" }

    /// Waits until the server's log contains `text`; fails after `timeout` saying what it waited for.
    func waitLog(_ text: String, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if serverLog.contains(text) { return }
            guard isRunning else {
                throw TestFailure("the server ended (\(exitDescription)) before it logged '\(text)': \(serverLog.suffix(3000))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("the server did not log '\(text)' within \(timeout): \(serverLog.suffix(3000))")
    }

    func request(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: Data? = nil, within limit: Duration = .seconds(120)
    ) async throws -> Reply {
        try await Self.request(method, base + path, headers: headers, body: body, within: limit)
    }

    /// The same, by URL: for a task that runs beside the test (a `ServerProcess` stays with the test).
    /// `limit` bounds the answer's head and, separately, its body: a hang, not the machine's pace.
    static func request(
        _ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: Data? = nil, within limit: Duration = .seconds(120)
    ) async throws -> Reply {
        var req = HTTPClientRequest(url: url)
        req.method = method
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let body { req.body = .bytes(ByteBuffer(bytes: body)) }
        // The client's limit ends with the answer's head; the body has a limit of its own.
        let resp = try await testClient.execute(req, timeout: .init(limit))
        let bytes = try await value(
            of: Task { try await resp.body.collect(upTo: 512 << 20) }, within: limit, "the body of \(method) \(url)")
        return Reply(status: Int(resp.status.code), headers: resp.headers.map { ($0.name, $0.value) }, body: Data(buffer: bytes))
    }

    func get(_ path: String) async throws -> Reply { try await request(.GET, path) }

    /// A multipart `POST /jobs`, as new clients upload (202). The original prototype's `POST /upload`
    /// (200) is driven by PrototypeClientTests.
    func upload(
        _ form: Multipart, query: String = "", headers: [(String, String)] = [], within limit: Duration = .seconds(120)
    ) async throws -> Reply {
        try await request(.POST, "/jobs" + query, headers: [("Content-Type", form.contentType)] + headers, body: form.body, within: limit)
    }

    /// Polls `GET /status/{id}` until the job is final.
    func waitFinal(_ id: String, timeout: Duration = .seconds(120)) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let s = try await get("/status/\(id)").json
            if let status = s["status"] as? String, ["completed", "completed_with_errors", "failed", "cancelled"].contains(status) {
                return s
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("job \(id) did not finish: \(try await get("/jobs/\(id)").text)\n\(serverLog)")
    }

    /// Files in a data sub-folder (recursively), to check nothing was left behind. Throws when the
    /// folder cannot be read, so an unreadable folder never passes for an empty one.
    func files(in sub: String) throws -> [String] {
        let dir = dataDir.appendingPathComponent(sub)
        var out: [String] = []
        func walk(_ relative: String) throws {
            let path = relative.isEmpty ? dir.path : dir.appendingPathComponent(relative).path
            for name in try FileManager.default.contentsOfDirectory(atPath: path) {
                let child = relative.isEmpty ? name : relative + "/" + name
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: dir.appendingPathComponent(child).path, isDirectory: &isDir) else { continue }
                if isDir.boolValue { try walk(child) } else { out.append(child) }
            }
        }
        try walk("")
        return out
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A multipart/form-data body built by hand, so tests can also build broken ones.
struct Multipart {
    let boundary = "geoinfer-test-\(UUID().uuidString)"
    var parts: [(headers: String, data: Data)] = []

    mutating func file(_ filename: String, _ data: Data, field: String = "files") {
        let escaped = filename.replacingOccurrences(of: "\"", with: "\\\"")
        parts.append(("Content-Disposition: form-data; name=\"\(field)\"; filename=\"\(escaped)\"\r\nContent-Type: image/tiff\r\n", data))
    }

    mutating func field(_ name: String, _ value: String) {
        parts.append(("Content-Disposition: form-data; name=\"\(name)\"\r\n", Data(value.utf8)))
    }

    var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    var body: Data { body(closed: true) }

    func body(closed: Bool) -> Data {
        var d = Data()
        for p in parts {
            d.append(Data("--\(boundary)\r\n\(p.headers)\r\n".utf8))
            d.append(p.data)
            d.append(Data("\r\n".utf8))
        }
        if closed { d.append(Data("--\(boundary)--\r\n".utf8)) }
        return d
    }
}

enum Scenes {
    /// A small GeoTIFF with markers the test model finds exactly.
    static func raster(width: Int = 150, height: Int = 100, markers: [Marker] = [Marker(x: 40, y: 30, width: 12, height: 8)]) throws -> Data
    {
        let dir = Fixtures.temporaryDirectory("scene")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("s.tif").path
        var r = SyntheticRaster(width: width, height: height)
        r.markers = markers
        try r.write(to: path)
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }
}
