public import Foundation
import NIOCore
import NIOFoundationCompat

/// Where and how to reach a bucket.
public struct GCSConfiguration: Sendable {
    /// The bucket's name, checked against GCS's naming rules.
    public var bucket: String
    /// `https://storage.googleapis.com`, or an emulator's address.
    public var endpoint: String
    /// Resumable upload chunk: a multiple of 256 KiB (default 8 MiB).
    public var chunkSize: Int = 8 << 20
    /// Files up to this size go in one request (default 8 MiB); larger ones are resumable.
    public var singleRequestLimit: Int = 8 << 20
    /// Objects per page when listing (default 1000, GCS's maximum).
    public var listPageSize = 1000
    /// Time limit of one HTTP exchange (default 120 s).
    public var requestTimeout: TimeInterval = 120
    /// How its operations retry (default: `RetryPolicy()`, a 120 s deadline).
    public var retry = RetryPolicy()

    /// Checks `bucket` against the naming rules and `endpoint` (an address without a scheme gets `http://`);
    /// throws `StorageError.configuration`.
    public init(bucket: String, endpoint: String = "https://storage.googleapis.com") throws {
        try Self.validate(bucket: bucket)
        self.bucket = bucket
        var e = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        if !e.contains("://") { e = "http://" + e }
        guard let url = URL(string: e), url.host != nil, ["http", "https"].contains(url.scheme ?? "") else {
            throw StorageError.configuration("the storage endpoint '\(endpoint)' is not an http(s) URL")
        }
        self.endpoint = e
    }

    /// The endpoint from the environment: `STORAGE_EMULATOR_HOST`, else `GEOINFER_GCS_ENDPOINT`, else Google's.
    public static func endpoint(environment env: [String: String]) -> String {
        if let e = env["STORAGE_EMULATOR_HOST"], !e.isEmpty { return e }
        if let e = env["GEOINFER_GCS_ENDPOINT"], !e.isEmpty { return e }
        return "https://storage.googleapis.com"
    }

    /// Sets `chunkSize`; throws `StorageError.configuration` unless `bytes` is a positive multiple of 256 KiB.
    public mutating func setChunkSize(_ bytes: Int) throws {
        guard bytes > 0, bytes % (256 << 10) == 0 else {
            throw StorageError.configuration("the upload chunk size must be a positive multiple of 262144 bytes (256 KiB); got \(bytes)")
        }
        chunkSize = bytes
    }

    /// GCS bucket naming rules: 3–63 characters (222 with dots), lowercase letters, digits, `-`, `_`
    /// and `.`, starting and ending with a letter or digit, not an IP address, no `goog` prefix.
    public static func validate(bucket: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-_.")
        let ok =
            (3...(bucket.contains(".") ? 222 : 63)).contains(bucket.count)
            && bucket.allSatisfy(allowed.contains)
            && bucket.first.map { $0.isLetter || $0.isNumber } == true
            && bucket.last.map { $0.isLetter || $0.isNumber } == true
            && !bucket.hasPrefix("goog") && !bucket.contains("google")
            && bucket.split(separator: ".").allSatisfy { (1...63).contains($0.count) }
            && !bucket.split(separator: ".").allSatisfy({ Int($0) != nil })
        guard ok else {
            throw StorageError.configuration(
                "'\(bucket)' is not a valid bucket name: use 3-63 lowercase letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
            )
        }
    }
}

/// A bucket through the GCS JSON API. Uploads are verified by CRC32C and guarded by
/// `ifGenerationMatch=0`, so a retry never duplicates or overwrites; large files go resumable in
/// chunks and resume from the byte the server reports after a failure.
public final class GCSBlobStore: BlobStore {
    /// The bucket, endpoint, sizes, timeout and retry policy.
    public let config: GCSConfiguration
    let http: HTTPTransport
    let credentials: any TokenProvider

    /// A store for `config.bucket` whose requests carry `credentials`' token; makes no request.
    public init(config: GCSConfiguration, credentials: any TokenProvider, http: HTTPTransport) {
        self.config = config
        self.credentials = credentials
        self.http = http
    }

    /// The bucket's name.
    public var bucket: String { config.bucket }
    /// `gs://bucket/name`.
    public func uri(for name: String) -> String { "gs://\(config.bucket)/\(name)" }

    // MARK: Requests

    static func encode(_ name: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name
    }

    var bucketURL: String { "\(config.endpoint)/storage/v1/b/\(Self.encode(config.bucket))" }
    func objectURL(_ name: String) -> String { "\(bucketURL)/o/\(Self.encode(name))" }

    /// The JSON API's media download, which honours `Range` (what GDAL's /vsicurl/ sends), with a
    /// fresh token from this store's credentials.
    public func rangeReadURL(_ name: String) async throws -> (url: String, bearerToken: String?)? {
        (objectURL(name) + "?alt=media", try await credentials.token())
    }
    var uploadURL: String { "\(config.endpoint)/upload/storage/v1/b/\(Self.encode(config.bucket))/o" }

    /// One authorised exchange; retryable statuses become `TransientFailure` (for `withRetries`).
    func exchange(
        _ method: String, _ url: String, headers: [(String, String)] = [], body: Data? = nil,
        transient: Bool = true
    ) async throws -> HTTPAnswer {
        try await exchange(method, url, headers: headers, buffer: body.map { ByteBuffer(data: $0) }, transient: transient)
    }

    func exchange(
        _ method: String, _ url: String, headers: [(String, String)] = [], buffer: ByteBuffer?,
        transient: Bool = true
    ) async throws -> HTTPAnswer {
        var all = headers
        if let token = try await credentials.token() { all.append(("Authorization", "Bearer \(token)")) }
        let answer = try await http.send(method, url, headers: all, buffer: buffer, timeout: config.requestTimeout)
        if transient && RetryPolicy.retryable(status: answer.status) {
            throw TransientFailure(description: "HTTP \(answer.status): \(answer.message)")
        }
        return answer
    }

    /// An exchange with retries, and a JSON answer for 2xx.
    func call(_ operation: String, _ method: String, _ url: String, json: Any? = nil) async throws -> (status: Int, json: [String: Any]) {
        let body = try json.map { try JSONSerialization.data(withJSONObject: $0, options: .sortedKeys) }
        let answer = try await withRetries(operation, policy: config.retry) { _ in
            try await exchange(method, url, headers: body == nil ? [] : [("Content-Type", "application/json")], body: body)
        }
        guard (200..<300).contains(answer.status) else {
            throw StorageError.http(status: answer.status, operation: operation, message: answer.message)
        }
        let parsed = answer.body.isEmpty ? [:] : (try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any]) ?? [:]
        return (answer.status, parsed)
    }

    static func info(_ json: [String: Any]) -> BlobInfo {
        let size = (json["size"] as? String).flatMap { Int64($0) } ?? (json["size"] as? NSNumber)?.int64Value ?? 0
        let generation = (json["generation"] as? String) ?? (json["generation"] as? NSNumber)?.stringValue
        let updated = (json["updated"] as? String).flatMap(parseTimestamp)
        return BlobInfo(
            name: json["name"] as? String ?? "", size: size, crc32c: json["crc32c"] as? String, generation: generation,
            contentType: json["contentType"] as? String, metadata: json["metadata"] as? [String: String] ?? [:],
            updated: updated)
    }

    // MARK: BlobStore

    /// The object's description; nil on 404, `StorageError` for other failures once retries are spent.
    public func info(_ name: String) async throws -> BlobInfo? {
        let answer = try await withRetries("get \(name)", policy: config.retry) { _ in try await exchange("GET", objectURL(name)) }
        if answer.status == 404 { return nil }
        guard answer.status == 200, let json = try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any] else {
            throw StorageError.http(status: answer.status, operation: "get \(name)", message: answer.message)
        }
        return Self.info(json)
    }

    /// Every object under `prefix`, in name order, through every page of the listing.
    public func list(prefix: String) async throws -> [BlobInfo] {
        try await list(prefix: prefix, keep: { _ in true }, limit: .max).items
    }

    /// Lists `listPageSize` objects a request and stops at the first page that takes the kept count past `limit` (`truncated`).
    public func list(prefix: String, keep: @Sendable (String) -> Bool, limit: Int) async throws -> (items: [BlobInfo], truncated: Bool) {
        var out: [BlobInfo] = []
        var pageToken: String?
        repeat {
            var url = "\(bucketURL)/o?prefix=\(Self.encode(prefix))&maxResults=\(config.listPageSize)"
            if let pageToken { url += "&pageToken=\(Self.encode(pageToken))" }
            let (_, json) = try await call("list \(prefix)", "GET", url)
            out += (json["items"] as? [[String: Any]] ?? []).map(Self.info).filter { keep($0.name) }
            if out.count > limit { return (Array(out.sorted { $0.name < $1.name }.prefix(limit)), true) }
            pageToken = json["nextPageToken"] as? String
        } while pageToken != nil
        return (out.sorted { $0.name < $1.name }, false)
    }

    /// Deletes the object; false on 404, `StorageError` for other failures once retries are spent.
    public func delete(_ name: String) async throws -> Bool {
        let answer = try await withRetries("delete \(name)", policy: config.retry) { _ in try await exchange("DELETE", objectURL(name)) }
        if answer.status == 404 { return false }
        guard (200..<300).contains(answer.status) else {
            throw StorageError.http(status: answer.status, operation: "delete \(name)", message: answer.message)
        }
        return true
    }

    /// Bytes `range` by a ranged GET, cut at the object's end (empty past it); throws `StorageError.notFound`.
    public func read(_ name: String, range: Range<Int64>) async throws -> Data {
        guard !range.isEmpty else { return Data() }
        let answer = try await withRetries("read \(name)", policy: config.retry) { _ in
            try await exchange(
                "GET", objectURL(name) + "?alt=media", headers: [("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")])
        }
        switch answer.status {
        case 206: return answer.body
        case 200:  // A server that ignores Range sends everything.
            let lower = Int(min(range.lowerBound, Int64(answer.body.count)))
            let upper = Int(min(range.upperBound, Int64(answer.body.count)))
            return answer.body.subdata(in: lower..<upper)
        case 416: return Data()
        case 404: throw StorageError.notFound(name)
        default: throw StorageError.http(status: answer.status, operation: "read \(name)", message: answer.message)
        }
    }

    /// Downloads the generation `info` reports to `file` (replaced atomically), fetching again within the retry deadline
    /// when its size or CRC32C differs; throws `StorageError.notFound` when absent.
    public func download(_ name: String, to file: URL) async throws -> BlobInfo {
        guard let info = try await info(name) else { throw StorageError.notFound(name) }
        let temp = file.deletingLastPathComponent().appending(path: ".\(file.lastPathComponent).\(UUID().uuidString).part")
        defer { try? FileManager.default.removeItem(at: temp) }
        var url = objectURL(name) + "?alt=media"
        if let generation = info.generation { url += "&generation=\(generation)" }
        try await withRetries("download \(name)", policy: config.retry) { _ in
            var headers: [(String, String)] = []
            if let token = try await credentials.token() { headers.append(("Authorization", "Bearer \(token)")) }
            let (answer, crc, bytes) = try await http.download(
                url, headers: headers, to: temp, timeout: max(config.requestTimeout, Double(info.size) / 1e6))
            if RetryPolicy.retryable(status: answer.status) {
                throw TransientFailure(description: "HTTP \(answer.status): \(answer.message)")
            }
            if answer.status == 404 { throw StorageError.notFound(name) }
            guard (200..<300).contains(answer.status) else {
                throw StorageError.http(status: answer.status, operation: "download \(name)", message: answer.message)
            }
            if let expected = info.crc32c, expected != CRC32C.base64(crc) || bytes != info.size {
                // A corrupted or cut transfer: fetch it again.
                throw TransientFailure(
                    description: StorageError.checksumMismatch(name: name, expected: expected, actual: CRC32C.base64(crc)).description)
            }
        }
        try moveReplacing(temp, to: file)
        return info
    }

    /// Uploads in one request up to `singleRequestLimit` bytes, resumable in `chunkSize` chunks above it;
    /// never overwrites, as `BlobStore.put` says.
    public func put(file: URL, as name: String, contentType: String, metadata: [String: String]) async throws -> BlobInfo {
        let (crc, size) = try fileChecksum(file)
        let object: [String: Any] = ["name": name, "contentType": contentType, "metadata": metadata, "crc32c": CRC32C.base64(crc)]
        let stored: BlobInfo
        if size <= Int64(config.singleRequestLimit) {
            stored = try await uploadInOneRequest(file: file, object: object, name: name)
        } else {
            stored = try await uploadResumable(file: file, size: size, object: object, name: name, contentType: contentType)
        }
        guard stored.crc32c == CRC32C.base64(crc) else {
            // The object of that name holds other bytes: a different file went there first, or the
            // transfer was corrupted and the server did not check.
            throw StorageError.checksumMismatch(name: name, expected: CRC32C.base64(crc), actual: stored.crc32c ?? "none")
        }
        return stored
    }

    /// The object already stored under `name` after a 412 (ifGenerationMatch=0 failed): the same
    /// bytes mean an earlier attempt succeeded; other bytes are a conflict.
    private func existing(_ name: String, crc32c: Any?) async throws -> BlobInfo {
        guard let found = try await info(name) else { throw StorageError.alreadyExists(name) }
        guard found.crc32c == crc32c as? String else { throw StorageError.alreadyExists(name) }
        return found
    }

    /// `uploadType=multipart`: the metadata and the bytes in one request.
    private func uploadInOneRequest(file: URL, object: [String: Any], name: String) async throws -> BlobInfo {
        guard let data = FileManager.default.contents(atPath: file.path) else { throw StorageError.local("cannot read \(file.path)") }
        let boundary = "geoinfer-\(UUID().uuidString)"
        var body = Data("--\(boundary)\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".utf8)
        body += try JSONSerialization.data(withJSONObject: object, options: .sortedKeys)
        body += Data("\r\n--\(boundary)\r\nContent-Type: \(object["contentType"] as? String ?? "application/octet-stream")\r\n\r\n".utf8)
        body += data
        body += Data("\r\n--\(boundary)--\r\n".utf8)
        let answer = try await withRetries("upload \(name)", policy: config.retry) { _ in
            try await exchange(
                "POST", "\(uploadURL)?uploadType=multipart&ifGenerationMatch=0",
                headers: [("Content-Type", "multipart/related; boundary=\(boundary)")], body: body)
        }
        return try await finished(answer, name: name, object: object)
    }

    /// The object from a final upload answer (2xx), or the existing one after a 412.
    private func finished(_ answer: HTTPAnswer, name: String, object: [String: Any]) async throws -> BlobInfo {
        if answer.status == 412 { return try await existing(name, crc32c: object["crc32c"]) }
        guard (200..<300).contains(answer.status), let json = try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any] else {
            if answer.status == 400, answer.message.lowercased().contains("crc32c") || answer.message.lowercased().contains("hash") {
                throw StorageError.checksumMismatch(name: name, expected: object["crc32c"] as? String ?? "", actual: answer.message)
            }
            throw StorageError.http(status: answer.status, operation: "upload \(name)", message: answer.message)
        }
        return Self.info(json)
    }

    /// Starts a resumable session; returns its URI.
    private func startSession(object: [String: Any], name: String, size: Int64, contentType: String) async throws -> String {
        let body = try JSONSerialization.data(withJSONObject: object, options: .sortedKeys)
        let answer = try await withRetries("start upload of \(name)", policy: config.retry) { _ in
            try await exchange(
                "POST", "\(uploadURL)?uploadType=resumable&ifGenerationMatch=0",
                headers: [
                    ("Content-Type", "application/json; charset=UTF-8"), ("X-Upload-Content-Type", contentType),
                    ("X-Upload-Content-Length", "\(size)"),
                ], body: body)
        }
        if answer.status == 412 { throw StorageError.alreadyExists(name) }
        guard (200..<300).contains(answer.status), let location = answer.header("Location") else {
            throw StorageError.http(status: answer.status, operation: "start upload of \(name)", message: answer.message)
        }
        return location
    }

    /// What a resumable session said: done (with the object), or persisted up to `next`.
    private enum SessionState {
        case done(HTTPAnswer)
        case persisted(next: Int64)
        case gone
    }

    private func state(of answer: HTTPAnswer) throws -> SessionState {
        switch answer.status {
        case 200, 201, 412: return .done(answer)
        case 308:
            // `Range: bytes=0-N` names the last persisted byte; no header means nothing persisted.
            guard let range = answer.header("Range"), let last = range.split(separator: "-").last.flatMap({ Int64($0) }) else {
                return .persisted(next: 0)
            }
            return .persisted(next: last + 1)
        case 404, 410: return .gone
        default:
            if RetryPolicy.retryable(status: answer.status) {
                throw TransientFailure(description: "HTTP \(answer.status): \(answer.message)")
            }
            return .done(answer)
        }
    }

    /// Chunks of `chunkSize` with `Content-Range`. After a failed chunk the session is asked how
    /// much it holds (`Content-Range: bytes */TOTAL`) and the upload resumes there; a session that
    /// is gone (404/410) starts over; a lost final answer shows up as a finished session or a 412
    /// on the object, resolved by comparing checksums.
    private func uploadResumable(file: URL, size: Int64, object: [String: Any], name: String, contentType: String) async throws -> BlobInfo
    {
        let fd = open(file.path, O_RDONLY)
        guard fd >= 0 else { throw StorageError.local("cannot read \(file.path)") }
        defer { close(fd) }
        var chunk = ByteBuffer()
        var restarts = 0
        var session: String
        do {
            session = try await startSession(object: object, name: name, size: size, contentType: contentType)
        } catch StorageError.alreadyExists {
            return try await existing(name, crc32c: object["crc32c"])
        }
        var offset: Int64 = 0
        var failures = 0
        var failingSince: Date?
        while true {
            do {
                let end = min(offset + Int64(config.chunkSize), size)
                try readChunk(fd: fd, offset: offset, count: Int(end - offset), into: &chunk)
                let answer = try await exchange(
                    "PUT", session, headers: [("Content-Range", "bytes \(offset)-\(end - 1)/\(size)")], buffer: chunk)
                switch try state(of: answer) {
                case .done(let answer): return try await finished(answer, name: name, object: object)
                case .persisted(let next):
                    if next > offset {
                        failures = 0
                        failingSince = nil
                    }
                    offset = next
                case .gone:
                    // The session ended: maybe it finished and its answer was lost; else start again.
                    if let found = try await info(name), found.crc32c == object["crc32c"] as? String { return found }
                    guard restarts < 3 else {
                        throw StorageError.http(
                            status: answer.status, operation: "upload \(name)", message: "the upload session keeps expiring")
                    }
                    restarts += 1
                    session = try await startSession(object: object, name: name, size: size, contentType: contentType)
                    offset = 0
                }
            } catch let error where error is TransientFailure || isTransientTransportError(error) {
                // Wait, then ask the session where it stands.
                let since = failingSince ?? Date()
                failingSince = since
                let wait = config.retry.backoff(failures)
                failures += 1
                guard Date().timeIntervalSince(since) + wait < config.retry.deadline else {
                    throw StorageError.unavailable(operation: "upload \(name)", lastError: "\(error)")
                }
                try await Task.sleep(for: .milliseconds(Int64(wait * 1000)))
                do {
                    let answer = try await exchange("PUT", session, headers: [("Content-Range", "bytes */\(size)")])
                    switch try state(of: answer) {
                    case .done(let answer): return try await finished(answer, name: name, object: object)
                    case .persisted(let next): offset = next
                    case .gone:
                        if let found = try await info(name), found.crc32c == object["crc32c"] as? String { return found }
                        restarts += 1
                        guard restarts <= 3 else {
                            throw StorageError.unavailable(operation: "upload \(name)", lastError: "the upload session keeps expiring")
                        }
                        session = try await startSession(object: object, name: name, size: size, contentType: contentType)
                        offset = 0
                    }
                } catch let error where error is TransientFailure || isTransientTransportError(error) {
                    continue  // still failing: back off again, then ask again
                } catch StorageError.alreadyExists {
                    return try await existing(name, crc32c: object["crc32c"])
                }
            }
        }
    }
}

/// RFC 3339 timestamps as GCS writes them, with or without fractional seconds.
func parseTimestamp(_ text: String) -> Date? {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let d = f.date(from: text) { return d }
    f.formatOptions = [.withInternetDateTime]
    return f.date(from: text)
}
