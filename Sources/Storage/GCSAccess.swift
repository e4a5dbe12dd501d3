import Foundation

/// A `gs://bucket/name` address.
public struct GSURI: Sendable, Equatable, CustomStringConvertible {
    /// The bucket's name.
    public var bucket: String
    /// The object name, or a prefix when it ends with `/` (empty: the whole bucket).
    public var name: String

    /// The address as given, unchecked (`init(_:)` checks).
    public init(bucket: String, name: String) {
        self.bucket = bucket
        self.name = name
    }

    /// Parses `gs://bucket/name`; throws with what is wrong.
    public init(_ text: String) throws {
        guard text.hasPrefix("gs://") else { throw StorageError.configuration("'\(text)' is not a gs:// URI (gs://bucket/path/file.tif)") }
        let rest = text.dropFirst(5)
        let bucket = String(rest.prefix { $0 != "/" })
        try GCSConfiguration.validate(bucket: bucket)
        let name = String(rest.dropFirst(bucket.count + (rest.count > bucket.count ? 1 : 0)))
        guard !name.contains("\0"), !name.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }), name.utf8.count <= 1024 else {
            throw StorageError.configuration("'\(text)' has an invalid object name")
        }
        self.bucket = bucket
        self.name = name
    }

    /// Whether `name` is a prefix (empty or ending in `/`) rather than one object.
    public var isPrefix: Bool { name.isEmpty || name.hasSuffix("/") }
    /// `gs://bucket/name`.
    public var description: String { "gs://\(bucket)/\(name)" }
}

/// Gives a blob store for any bucket (inputs may live in another bucket than the mirror's).
public protocol BucketResolver: Sendable {
    func store(bucket: String) throws -> any BlobStore
}

/// GCS with one endpoint, one set of credentials and one HTTP client for every bucket.
public struct GCSAccess: BucketResolver {
    /// The JSON API's address as configured: Google's, or an emulator's (`STORAGE_EMULATOR_HOST`, `GEOINFER_GCS_ENDPOINT`).
    public let endpoint: String
    /// Where each request's bearer token comes from.
    public let credentials: any TokenProvider
    /// The HTTP client every bucket's store shares.
    public let http: HTTPTransport
    /// Resumable upload chunk and single-request limit in bytes, a multiple of 256 KiB (default 8 MiB).
    public var chunkSize: Int
    /// How each store's operations retry (default: `RetryPolicy()`, a 120 s deadline).
    public var retry: RetryPolicy

    /// An access with these settings; nothing is checked until `gcs(bucket:)`.
    public init(
        endpoint: String, credentials: any TokenProvider, http: HTTPTransport, chunkSize: Int = 8 << 20,
        retry: RetryPolicy = RetryPolicy()
    ) {
        self.endpoint = endpoint
        self.credentials = credentials
        self.http = http
        self.chunkSize = chunkSize
        self.retry = retry
    }

    /// From the environment: `STORAGE_EMULATOR_HOST` or `GEOINFER_GCS_ENDPOINT`, the credential
    /// chain, `GEOINFER_GCS_CHUNK_BYTES`, and `GEOINFER_GCS_RETRY_SECONDS` (how long one operation
    /// retries before it is reported failed, default 30 s; the mirror outbox retries later anyway).
    public static func from(environment env: [String: String], http: HTTPTransport) throws -> GCSAccess {
        var chunk = 8 << 20
        if let text = env["GEOINFER_GCS_CHUNK_BYTES"], !text.isEmpty {
            guard let n = Int(text), n > 0, n % (256 << 10) == 0 else {
                throw StorageError.configuration("GEOINFER_GCS_CHUNK_BYTES must be a positive multiple of 262144 (256 KiB); got '\(text)'")
            }
            chunk = n
        }
        var retry = RetryPolicy(deadline: 30)
        if let text = env["GEOINFER_GCS_RETRY_SECONDS"], !text.isEmpty {
            guard let n = Double(text), n > 0, n <= 3600 else {
                throw StorageError.configuration("GEOINFER_GCS_RETRY_SECONDS must be a number of seconds from 0 to 3600; got '\(text)'")
            }
            retry.deadline = n
            retry.maxBackoff = min(retry.maxBackoff, max(n / 4, 0.1))
            retry.initialBackoff = min(retry.initialBackoff, max(n / 10, 0.05))
        }
        let endpoint = GCSConfiguration.endpoint(environment: env)
        _ = try GCSConfiguration(bucket: "validation-only", endpoint: endpoint)
        return GCSAccess(
            endpoint: endpoint, credentials: try Credentials.resolve(environment: env, http: http), http: http, chunkSize: chunk,
            retry: retry)
    }

    /// A store for `bucket` with this endpoint, credentials, chunk size and retries; throws `StorageError.configuration`
    /// when the bucket name, endpoint or chunk size is invalid.
    public func gcs(bucket: String) throws -> GCSBlobStore {
        var config = try GCSConfiguration(bucket: bucket, endpoint: endpoint)
        try config.setChunkSize(chunkSize)
        config.singleRequestLimit = chunkSize
        config.retry = retry
        return GCSBlobStore(config: config, credentials: credentials, http: http)
    }

    /// `gcs(bucket:)` as any `BlobStore`.
    public func store(bucket: String) throws -> any BlobStore { try gcs(bucket: bucket) }
}
