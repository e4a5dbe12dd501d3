public import Foundation

/// A stored object's copy in the bucket. Raw values are stable: they are stored and returned by the API.
///
/// - `pending`: waiting for its first upload (or being uploaded by the mirror worker holding its lease).
/// - `synced`: in the bucket, with the same CRC32C as the local file. Final.
/// - `failed`: the last attempt failed (`lastError`); retried at `nextAttemptAt`, or never when
///   that is nil (the local file is gone, or the bucket holds other bytes under the name).
public enum MirrorStatus: String, Codable, Sendable, CaseIterable {
    case pending, synced, failed
}

/// One object to copy to a bucket: the mirror outbox row. `name` is the path under the data
/// directory and the object name in the mirror bucket alike (`uploads/{job}_{file}`,
/// `results/...`), or for a copy elsewhere (a job's `output_prefix`) the object's `gs://` URI,
/// with `source` the local path.
public struct MirrorObject: Codable, Sendable, Equatable {
    /// The row's id, assigned by the store (nil until inserted).
    public var id: Int64?
    /// The job the object belongs to.
    public var jobID: String
    /// The object's name in the mirror bucket (its path under the data directory), or the `gs://` URI of an output copy.
    public var name: String
    /// The local path under the data directory when it is not `name`.
    public var source: String?
    /// The data directory that holds the local file (``DataLayout/instance``): only a process on
    /// it copies the object. nil: any process (rows from before origins were kept).
    public var origin: String?

    /// Whether the copy goes to a job's output prefix (`name` is its `gs://` URI) rather than to
    /// the mirror bucket under `name`.
    public var isOutputCopy: Bool { Self.isOutputCopy(name) }

    static func isOutputCopy(_ name: String) -> Bool { name.hasPrefix("gs://") }
    /// Where the copy stands (see ``MirrorStatus``).
    public var status: MirrorStatus
    /// Custom metadata stored with the object (job id, original file name, SHA-256).
    public var metadata: [String: String]
    /// The bucket may already hold an older version (a result rewritten after a retry): replace it.
    public var replace: Bool
    /// Uploads tried so far.
    public var attempts: Int
    /// When the next upload is due (`createdAt` at first; nil: synced, or not to be retried).
    public var nextAttemptAt: Date?
    /// The mirror worker holding the object's lease (nil: none).
    public var leaseOwner: String?
    /// When that lease ends unless renewed; past it, another worker may claim the object (nil: no lease).
    public var leaseExpiresAt: Date?
    /// Why the last upload failed (nil: none failed yet, or the object is synced).
    public var lastError: String?
    /// The uploaded object's size in bytes (nil until synced).
    public var sizeBytes: Int64?
    /// The uploaded object's CRC32C as the bucket reports it (nil until synced, or when the bucket gave none).
    public var crc32c: String?
    /// The bucket's generation of the uploaded object (nil until synced, or when the store has none).
    public var generation: String?
    /// When the row was written.
    public var createdAt: Date
    /// When the object was last synced (nil: not yet).
    public var syncedAt: Date?

    /// A pending object, due at once (at `createdAt`), with no source or origin yet.
    public init(jobID: String, name: String, metadata: [String: String], createdAt: Date) {
        self.jobID = jobID
        self.name = name
        self.status = .pending
        self.metadata = metadata
        self.replace = false
        self.attempts = 0
        self.nextAttemptAt = createdAt
        self.createdAt = createdAt
    }
}

/// What an upload attempt came to.
public enum MirrorOutcome: Sendable {
    /// In the bucket: its size in bytes, and the CRC32C and generation the bucket reports (nil: none given).
    case synced(sizeBytes: Int64, crc32c: String?, generation: String?)
    /// `retryAt` nil: do not retry.
    case failed(error: String, retryAt: Date?)
}

/// An object to mirror, named when its job writes it.
public struct MirrorRequest: Sendable, Equatable {
    /// The object's name: a path under the data directory (the same name in the mirror bucket), or a `gs://` URI.
    public var name: String
    /// Custom metadata stored with the object (job id, original file name, SHA-256).
    public var metadata: [String: String]
    /// The local path when `name` is a `gs://` URI outside the mirror bucket.
    public var source: String?
    /// The data directory that holds the file (``DataLayout/instance``).
    public var origin: String?
    /// An object to mirror; metadata, source and origin are empty or nil unless given.
    public init(name: String, metadata: [String: String] = [:], source: String? = nil, origin: String? = nil) {
        self.name = name
        self.metadata = metadata
        self.source = source
        self.origin = origin
    }

    /// Whether the copy goes to a bucket of its own (`name` is a `gs://` URI), which the outbox
    /// holds even when the mirror is off.
    public var isOutputCopy: Bool { MirrorObject.isOutputCopy(name) }
}
