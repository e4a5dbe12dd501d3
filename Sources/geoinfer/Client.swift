import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// A small client of GeoInfer's HTTP API for the `submit`, `status`, `watch` and `results` commands.
struct APIClient {
    let base: String
    /// Sent as `Authorization: Bearer` when set.
    var apiKey: String?

    /// A request to `url` carrying the API key.
    func request(_ url: String) -> HTTPClientRequest {
        var r = HTTPClientRequest(url: url)
        if let apiKey { r.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        return r
    }

    /// `--server`, else GEOINFER_SERVER, else API_BASE (the original prototype's variable), else http://127.0.0.1:8000.
    static func base(_ flag: String?) -> String {
        let env = ProcessInfo.processInfo.environment
        var b = flag ?? env["GEOINFER_SERVER"] ?? env["API_BASE"] ?? "http://127.0.0.1:8000"
        while b.hasSuffix("/") { b.removeLast() }
        return b
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// GET a path; returns status and body. Error bodies are turned into their message.
    func get(_ path: String) async throws -> (status: Int, body: Data) {
        try await send(request(base + path), timeout: .seconds(15))
    }

    /// Fails fast (5 s) when the server is not there, before a long upload or watch.
    func probe() async throws {
        _ = try await send(HTTPClientRequest(url: base + "/openapi.json"), timeout: .seconds(5))
    }

    /// The commands' HTTP client. `HTTPClient.shared` ends a request that has received nothing for
    /// 90 s once its body is sent, whatever the request's own limit: the server answers an upload
    /// once it has read and checked every file, and the last megabytes of a large upload may wait in
    /// socket buffers for longer than that on a busy server, so `submit` could fail after its job had
    /// been accepted. Here a request ends at its own limit, or after 10 minutes without a byte (an
    /// event stream sends one every 15 s).
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.timeout.read = .minutes(10)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    func send(_ request: HTTPClientRequest, timeout: TimeAmount = .seconds(60)) async throws -> (status: Int, body: Data) {
        let response: HTTPClientResponse
        do { response = try await Self.http.execute(request, timeout: timeout) } catch {
            throw Failure(description: "cannot reach \(base) (\(error)); is `geoinfer serve` running there?")
        }
        let body = try await response.body.collect(upTo: 1 << 30)
        return (Int(response.status.code), Data(buffer: body))
    }

    /// The API's error message from a JSON error body, or the raw text.
    static func message(_ body: Data) -> String {
        if let json = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let e = json["error"] as? [String: Any] {
            var text = "\(e["code"] ?? "error"): \(e["message"] ?? "")"
            for f in e["files"] as? [[String: Any]] ?? [] { text += "\n  \(f["name"] ?? ""): \(f["error"] ?? "")" }
            return text
        }
        return String(decoding: body.prefix(500), as: UTF8.self)
    }

    func json(_ path: String) async throws -> [String: Any] {
        let (status, body) = try await get(path)
        guard status == 200 else { throw Failure(description: "\(status) \(Self.message(body))") }
        return (try JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:]
    }
}

/// A multipart/form-data body streamed from files on disk, 1 MiB at a time.
struct MultipartFileBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let boundary = "geoinfer-\(UUID().uuidString)"
    let files: [URL]
    let fields: [(String, String)]
    /// A ground-truth file, sent last as the part `ground_truth`.
    var groundTruth: URL? = nil
    let progress: @Sendable (Int64) -> Void

    var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    /// Every file part: the rasters as `files`, then the ground truth.
    private var parts: [(name: String, file: URL)] { files.map { ("files", $0) } + (groundTruth.map { [("ground_truth", $0)] } ?? []) }

    private func header(_ part: (name: String, file: URL)) -> String {
        let name = part.file.lastPathComponent.replacingOccurrences(of: "\"", with: "%22")
        let type = part.name == "files" ? "image/tiff" : "application/octet-stream"
        return
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\"; filename=\"\(name)\"\r\nContent-Type: \(type)\r\n\r\n"
    }

    private var prologue: String {
        fields.map { "--\(boundary)\r\nContent-Disposition: form-data; name=\"\($0.0)\"\r\n\r\n\($0.1)\r\n" }.joined()
    }

    private var epilogue: String { "--\(boundary)--\r\n" }

    /// The exact body length, so the upload has a Content-Length.
    func length() throws -> Int64 {
        var total = Int64(prologue.utf8.count + epilogue.utf8.count)
        for part in parts {
            let size = try FileManager.default.attributesOfItem(atPath: part.file.path)[.size] as? Int64 ?? 0
            total += Int64(header(part).utf8.count) + size + 2
        }
        return total
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let body: MultipartFileBody
        var index = -1
        var handle: FileHandle?
        var done = false
        var sent: Int64 = 0

        mutating func next() async throws -> ByteBuffer? {
            guard !done else { return nil }
            if index == -1 {
                index = 0
                return emit(ByteBuffer(string: body.prologue))
            }
            let parts = body.parts
            while index < parts.count {
                if let h = handle {
                    if let chunk = try h.read(upToCount: 1 << 20), !chunk.isEmpty { return emit(ByteBuffer(data: chunk)) }
                    try h.close()
                    handle = nil
                    index += 1
                    return emit(ByteBuffer(string: "\r\n"))
                }
                let part = parts[index]
                guard let h = FileHandle(forReadingAtPath: part.file.path) else {
                    throw APIClient.Failure(description: "cannot read \(part.file.path)")
                }
                handle = h
                return emit(ByteBuffer(string: body.header(part)))
            }
            done = true
            return emit(ByteBuffer(string: body.epilogue))
        }

        private mutating func emit(_ b: ByteBuffer) -> ByteBuffer {
            sent += Int64(b.readableBytes)
            body.progress(sent)
            return b
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: self) }
}
