import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// One HTTP exchange with a fully read answer.
public struct HTTPAnswer: Sendable {
    /// The HTTP status code.
    public var status: Int
    /// The response headers, in the order received.
    public var headers: [(name: String, value: String)]
    /// The whole response body.
    public var body: Data

    /// The first value of header `name`, matched case-insensitively; nil when absent.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// The error message in a GCS/OAuth JSON error body, else the start of the body.
    var message: String {
        if let json = try? JSONSerialization.jsonObject(with: body) as? [String: Any] {
            if let e = json["error"] as? [String: Any], let m = e["message"] as? String { return m }
            if let e = json["error"] as? String {
                return [e, json["error_description"] as? String].compactMap { $0 }.joined(separator: ": ")
            }
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "no message" : text
    }
}

/// The HTTP client the storage code shares: async-http-client with connection reuse, a short
/// connect timeout, and no silent retries of refused connections (the retry policy decides).
public final class HTTPTransport: Sendable {
    let client: HTTPClient

    /// A client that gives up connecting after `connectTimeout` seconds (default 5), follows no redirects and never decompresses.
    public init(connectTimeout: TimeInterval = 5) {
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .milliseconds(Int64(connectTimeout * 1000)))
        config.redirectConfiguration = .disallow
        config.connectionPool.retryConnectionEstablishment = false
        config.decompression = .disabled
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    /// Closes the client and its connections; errors are ignored.
    public func shutdown() async {
        try? await client.shutdown()
    }

    // A transport that is simply dropped (a CLI command's) still closes its client: the future
    // keeps the client alive until its connections are closed.
    deinit {
        _ = client.shutdown()
    }

    /// One request: `timeout` covers the whole exchange in seconds (default 60), and a body over `maxResponseBytes`
    /// (default 32 MiB) throws. Every status is returned, not thrown.
    public func send(
        _ method: String, _ url: String, headers: [(String, String)] = [], body: Data? = nil,
        timeout: TimeInterval = 60, maxResponseBytes: Int = 32 << 20
    ) async throws -> HTTPAnswer {
        try await send(
            method, url, headers: headers, buffer: body.map { ByteBuffer(data: $0) }, timeout: timeout,
            maxResponseBytes: maxResponseBytes)
    }

    /// The same with the body in a `ByteBuffer` (no copy: resumable chunks are read straight into one).
    func send(
        _ method: String, _ url: String, headers: [(String, String)], buffer body: ByteBuffer?,
        timeout: TimeInterval, maxResponseBytes: Int = 32 << 20
    ) async throws -> HTTPAnswer {
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.body = .bytes(body)
        } else if ["PUT", "POST", "PATCH"].contains(method) {
            request.headers.replaceOrAdd(name: "Content-Length", value: "0")
        }
        let response = try await client.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
        let buffer = try await response.body.collect(upTo: maxResponseBytes)
        return HTTPAnswer(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            body: Data(buffer: buffer))
    }

    /// Streams the answer's body to `file` (replaced), computing its CRC32C on the way. Returns the
    /// status, headers and checksum; the file holds the body only for 2xx answers.
    func download(_ url: String, headers: [(String, String)], to file: URL, timeout: TimeInterval) async throws
        -> (answer: HTTPAnswer, crc32c: UInt32, bytes: Int64)
    {
        var request = HTTPClientRequest(url: url)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await client.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
        let status = Int(response.status.code)
        let headers = response.headers.map { ($0.name, $0.value) }
        guard (200..<300).contains(status) else {
            let buffer = try await response.body.collect(upTo: 1 << 20)
            return (HTTPAnswer(status: status, headers: headers, body: Data(buffer: buffer)), 0, 0)
        }
        guard FileManager.default.createFile(atPath: file.path, contents: nil), let handle = try? FileHandle(forWritingTo: file) else {
            throw StorageError.local("cannot write \(file.path)")
        }
        defer { try? handle.close() }
        var crc = CRC32C()
        var bytes: Int64 = 0
        for try await chunk in response.body {
            chunk.withUnsafeReadableBytes { crc.update($0) }
            try handle.write(contentsOf: Data(buffer: chunk))
            bytes += Int64(chunk.readableBytes)
        }
        return (HTTPAnswer(status: status, headers: headers, body: Data()), crc.value, bytes)
    }
}

/// Reads `count` bytes at `offset` of an open file straight into a buffer (reusing its storage
/// when nothing else holds it).
func readChunk(fd: Int32, offset: Int64, count: Int, into buffer: inout ByteBuffer) throws {
    buffer.clear(minimumCapacity: count)
    var done = 0
    while done < count {
        let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count - done) { raw in
            pread(fd, raw.baseAddress, count - done, off_t(offset) + off_t(done))
        }
        guard n > 0 else {
            throw StorageError.local(
                n == 0 ? "the file got shorter while it was uploaded" : "read failed: \(String(cString: strerror(errno)))")
        }
        done += n
    }
}

/// Whether a transport error is worth retrying: everything but a malformed URL (timeouts, resets,
/// refused connections, TLS failures during an outage).
func isTransientTransportError(_ error: any Error) -> Bool {
    if let e = error as? HTTPClientError { return ![.invalidURL, .emptyHost, .emptyScheme].contains(e) }
    return !(error is StorageError) && !(error is CancellationError)
}
