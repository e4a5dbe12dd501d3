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
    public var id: Int64?
    public var jobID: String
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
    public var status: MirrorStatus
    /// Custom metadata stored with the object (job id, original file name, SHA-256).
    public var metadata: [String: String]
    /// The bucket may already hold an older version (a result rewritten after a retry): replace it.
    public var replace: Bool
    public var attempts: Int
    public var nextAttemptAt: Date?
    public var leaseOwner: String?
    public var leaseExpiresAt: Date?
    public var lastError: String?
    public var sizeBytes: Int64?
    public var crc32c: String?
    public var generation: String?
    public var createdAt: Date
    public var syncedAt: Date?

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
    case synced(sizeBytes: Int64, crc32c: String?, generation: String?)
    /// `retryAt` nil: do not retry.
    case failed(error: String, retryAt: Date?)
}

/// An object to mirror, named when its job writes it.
public struct MirrorRequest: Sendable, Equatable {
    public var name: String
    public var metadata: [String: String]
    /// The local path when `name` is a `gs://` URI outside the mirror bucket.
    public var source: String?
    /// The data directory that holds the file (``DataLayout/instance``).
    public var origin: String?
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
