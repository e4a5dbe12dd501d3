public import Foundation

/// An object in a blob store.
public struct BlobInfo: Sendable, Equatable, Codable {
    /// The object's name in the store (`uploads/...`, `results/...`).
    public var name: String
    /// Size in bytes.
    public var size: Int64
    /// CRC32C of the content, base64 of the big-endian bytes (GCS's form).
    public var crc32c: String?
    /// GCS's object generation (nil for local files).
    public var generation: String?
    /// The object's MIME type; nil when the store gave none.
    public var contentType: String?
    /// Custom metadata (job id, original file name, SHA-256).
    public var metadata: [String: String]
    /// When the object was last written; nil when unknown.
    public var updated: Date?

    /// An object's description; `generation`, `contentType` and `updated` default to nil, `metadata` to empty.
    public init(
        name: String, size: Int64, crc32c: String?, generation: String? = nil, contentType: String? = nil,
        metadata: [String: String] = [:], updated: Date? = nil
    ) {
        self.name = name
        self.size = size
        self.crc32c = crc32c
        self.generation = generation
        self.contentType = contentType
        self.metadata = metadata
        self.updated = updated
    }
}

/// Where objects are kept, by name (`uploads/{job}_{file}.tif`, `results/...`). Implementations:
/// `LocalBlobStore` (a folder) and `GCSBlobStore` (a bucket). Every write is verified by CRC32C.
public protocol BlobStore: Sendable {
    /// `gs://bucket/name` or `file:///root/name`.
    func uri(for name: String) -> String
    /// Stores a local file as `name`. Never overwrites: when an object of that name with the same
    /// CRC32C exists, that object is returned (a retried upload is a no-op); with a different
    /// CRC32C it throws `alreadyExists`.
    func put(file: URL, as name: String, contentType: String, metadata: [String: String]) async throws -> BlobInfo
    /// The object's description, nil when absent.
    func info(_ name: String) async throws -> BlobInfo?
    /// Downloads the object to a local file (replaced atomically), verifying its CRC32C.
    func download(_ name: String, to file: URL) async throws -> BlobInfo
    /// Bytes `range` of the object.
    func read(_ name: String, range: Range<Int64>) async throws -> Data
    /// Every object whose name starts with `prefix`, in name order.
    func list(prefix: String) async throws -> [BlobInfo]
    /// Objects under `prefix` whose names `keep` accepts, stopping once more than `limit` are
    /// found (`truncated` then true): a listing of a huge bucket costs no more than the limit.
    func list(prefix: String, keep: @Sendable (String) -> Bool, limit: Int) async throws -> (items: [BlobInfo], truncated: Bool)
    /// Deletes the object; false when it was not there.
    func delete(_ name: String) async throws -> Bool
    /// An HTTP(S) URL that serves the object's bytes with range requests, and the bearer token
    /// that authorises it (nil: none needed); nil when the store has no such URL.
    func rangeReadURL(_ name: String) async throws -> (url: String, bearerToken: String?)?
}

extension BlobStore {
    /// Default: nil, the store has no URL for range reads.
    public func rangeReadURL(_ name: String) async throws -> (url: String, bearerToken: String?)? { nil }

    /// Default: filters the whole `list(prefix:)`, so it costs a full listing; stores that page override it.
    public func list(prefix: String, keep: @Sendable (String) -> Bool, limit: Int) async throws -> (items: [BlobInfo], truncated: Bool) {
        let kept = try await list(prefix: prefix).filter { keep($0.name) }
        return (Array(kept.prefix(limit)), kept.count > limit)
    }

    /// Stores `file` as `name` with the content type its extension suggests and no metadata.
    public func put(file: URL, as name: String) async throws -> BlobInfo {
        try await put(file: file, as: name, contentType: ContentType.guess(name), metadata: [:])
    }
}

/// Content types of the objects GeoInfer stores.
public enum ContentType {
    /// The MIME type for `name`'s extension: TIFF, JSON, GeoJSON or PNG, else `application/octet-stream`.
    public static func guess(_ name: String) -> String {
        switch (name as NSString).pathExtension.lowercased() {
        case "tif", "tiff": "image/tiff"
        case "json": "application/json"
        case "geojson": "application/geo+json"
        case "png": "image/png"
        default: "application/octet-stream"
        }
    }
}

/// CRC32C and size of a local file, read in 1 MiB blocks.
public func fileChecksum(_ url: URL) throws -> (crc32c: UInt32, size: Int64) {
    guard let handle = try? FileHandle(forReadingFrom: url) else { throw StorageError.local("cannot read \(url.path)") }
    defer { try? handle.close() }
    var crc = CRC32C()
    var size: Int64 = 0
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
        crc.update(chunk)
        size += Int64(chunk.count)
    }
    return (crc.value, size)
}

/// Moves `source` to `target`, replacing what is there (a rename within one file system).
func moveReplacing(_ source: URL, to target: URL) throws {
    guard rename(source.path, target.path) == 0 else {
        throw StorageError.local("cannot move \(source.lastPathComponent) to \(target.path): \(String(cString: strerror(errno)))")
    }
}
