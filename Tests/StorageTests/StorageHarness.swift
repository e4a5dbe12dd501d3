import Foundation
import GeoInferTestSupport
import Storage

/// Retries fast enough for tests: short backoffs. The overall deadline is generous, because the
/// tests that use it expect the operation to succeed after scripted faults; with a deadline of
/// 5 s, a loaded machine (a slow emulator) made retries give up before the fault script ran out.
/// The test of giving up sets its own deadline.
let fastRetry = RetryPolicy(initialBackoff: 0.05, maxBackoff: 0.2, deadline: 120)

/// A running emulator with a bucket.
final class TestBucket {
    let emulator: PeerProcess
    let http = HTTPTransport()
    let name: String

    init(_ emulator: PeerProcess, name: String = "geo-bucket") async throws {
        self.emulator = emulator
        self.name = name
        let answer = try await http.send(
            "POST", "\(emulator.address)/storage/v1/b?project=test", headers: [("Content-Type", "application/json")],
            body: Data(#"{"name": "\#(name)"}"#.utf8))
        guard answer.status == 200 else { throw PeerError("cannot create the bucket: HTTP \(answer.status)") }
    }

    static func gcpStorageEmulator() async throws -> TestBucket { try await TestBucket(try await GCSEmulators.gcpStorageEmulator()) }
    static func fakeGCSServer() async throws -> TestBucket { try await TestBucket(try await GCSEmulators.fakeGCSServer()) }

    /// A store on the bucket, through `endpoint` (default: the emulator itself), with small chunks.
    func store(
        endpoint: String? = nil, credentials: any TokenProvider = NoCredentials(), chunk: Int = 256 << 10,
        retry: RetryPolicy = fastRetry
    ) throws -> GCSBlobStore {
        var config = try GCSConfiguration(bucket: name, endpoint: endpoint ?? emulator.address)
        try config.setChunkSize(chunk)
        config.singleRequestLimit = chunk
        config.retry = retry
        return GCSBlobStore(config: config, credentials: credentials, http: http)
    }

    deinit {
        emulator.stop()
        let http = self.http
        Task { await http.shutdown() }
    }
}

/// The fault-injecting proxy (scripts/testing/fault_proxy.py) in front of an emulator.
final class FaultProxy {
    let peer: PeerProcess
    let http = HTTPTransport()

    init(upstream: String) async throws {
        peer = try await GCSEmulators.pythonPeer("fault_proxy.py", ["--upstream", upstream])
    }

    var address: String { peer.address }

    func script(_ rules: [[String: Any]]) async throws {
        _ = try await http.send("POST", "\(address)/__proxy/script", body: try JSONSerialization.data(withJSONObject: rules))
    }

    func set(offline: Bool) async throws {
        _ = try await http.send("POST", "\(address)/__proxy/\(offline ? "offline" : "online")")
    }

    struct Entry: Decodable {
        let method: String
        let path: String
        let authorization: String?
        let content_range: String?
        let body_bytes: Int
        let outcome: String
    }

    func log() async throws -> [Entry] {
        try JSONDecoder().decode([Entry].self, from: try await http.send("GET", "\(address)/__proxy/log").body)
    }

    deinit {
        peer.stop()
        let http = self.http
        Task { await http.shutdown() }
    }
}

/// A file of `count` random bytes in a new temporary folder.
func randomFile(_ count: Int, name: String = "data.bin") throws -> URL {
    let dir = Fixtures.temporaryDirectory("blob")
    let url = dir.appendingPathComponent(name)
    var bytes = [UInt8](repeating: 0, count: count)
    for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
    try Data(bytes).write(to: url)
    return url
}

/// What the official google-cloud-storage client sees under a prefix (scripts/testing/gcs_crosscheck.py).
struct CrossCheck: Decodable {
    struct Object: Decodable {
        let name: String
        let size: Int
        let crc32c: String?
        let crc32c_of_content: String
        let metadata: [String: String]?
        let content_type: String?
    }
    let objects: [Object]

    static func run(endpoint: String, bucket: String, prefix: String) async throws -> CrossCheck {
        let r = try await Fixtures.run(
            Fixtures.python,
            [
                Fixtures.root.appendingPathComponent("scripts/testing/gcs_crosscheck.py").path,
                "--endpoint", endpoint, "--bucket", bucket, "--prefix", prefix,
            ])
        guard r.status == 0 else { throw PeerError("gcs_crosscheck.py failed: \(r.stderr)") }
        return try JSONDecoder().decode(CrossCheck.self, from: Data(r.stdout.utf8))
    }
}
