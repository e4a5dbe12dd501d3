public import Formats
public import Foundation

/// What a new job needs: its settings and its files, already stored under the data directory.
public struct JobCreate: Sendable {
    /// The job's new public id.
    public var id: String
    /// When the job was submitted.
    public var createdAt: Date
    /// Where to send the job's webhook events (validated at submit; nil: none).
    public var webhookURL: String?
    /// The job's own `whsec_` signing secret (nil: the server's secrets sign).
    public var webhookSecret: String?
    /// The client's `Idempotency-Key` (nil: none sent).
    public var idempotencyKey: String?
    /// A digest of the request, kept with `idempotencyKey` (nil: none).
    public var idempotencyFingerprint: String?
    /// The API key that submits the job (nil: no key, on a server that does not require one).
    public var ownerKeyID: String?
    /// The minimum score kept (nil: the model's default).
    public var scoreThreshold: Double?
    /// Fraction of a tile shared with its neighbour (nil: the default).
    public var overlap: Double?
    /// The name of the model to run (its manifest's name).
    public var modelName: String
    /// The files, in submission order.
    public var files: [NewFile]
    /// The result formats (comma-separated, validated at submit; nil: COCO and GeoJSON) and the
    /// GIS layers' CRS (`EPSG:n`; nil: the rasters' own).
    public var formats: String?
    /// The CRS of the GIS layers, `EPSG:n` (nil: the rasters' own).
    public var outCRS: String?
    /// `gs://bucket/prefix/` for copies of the result documents (validated at submit).
    public var outputPrefix: String?
    /// `iou` or `ios` (nil: `iou`).
    public var nmsMetric: String?
    /// The data directory the uploads were stored in (``DataLayout/instance``): only a process on
    /// it can copy them to the mirror bucket.
    public var origin: String?
    /// The model's version and file digest, resolved at submit (nil: the server's default model).
    public var modelVersion: String?
    /// The SHA-256 of the model's file (nil: the server's default model).
    public var modelSHA256: String?
    /// Ground truth to score the results against (stored path or `gs://` URI) and its given name.
    public var groundTruth: String?
    /// The name the ground truth was uploaded under (nil: no ground truth).
    public var groundTruthName: String?
    /// Set when the job is made while its upload still streams in: who adds the rest of its files
    /// (``ReceivingUpload``). Its files are claimable at once; it is finalized only once sealed
    /// (``JobStore/jobAddFiles(_:_:seal:now:)``), and its uploads are mirrored from then on.
    public var receiving: String?

    /// One file of the new job.
    public struct NewFile: Sendable {
        /// The name as the client sent it.
        public var originalName: String
        /// The sanitised name, unique within the job (``UniqueNames``).
        public var name: String
        /// Path of the stored upload relative to the data directory, or the input's `gs://` URI.
        public var storedPath: String
        /// The file's size in bytes.
        public var sizeBytes: Int
        /// Hex SHA-256 of the upload (empty for a bucket input).
        public var sha256: String
        /// Tiles planned at submit (1 for a bucket input, until its worker reads the header).
        public var tilesTotal: Int
        /// Where the raster lies, when its header was read at submit.
        public var footprint: Footprint?
        /// A new file; `footprint` nil when its header was not read.
        public init(
            originalName: String, name: String, storedPath: String, sizeBytes: Int, sha256: String, tilesTotal: Int,
            footprint: Footprint? = nil
        ) {
            self.footprint = footprint
            self.originalName = originalName
            self.name = name
            self.storedPath = storedPath
            self.sizeBytes = sizeBytes
            self.sha256 = sha256
            self.tilesTotal = tilesTotal
        }
    }

    /// A new job; the settings not listed here start nil.
    public init(
        id: String, createdAt: Date, webhookURL: String?, webhookSecret: String? = nil, idempotencyKey: String?,
        ownerKeyID: String? = nil, scoreThreshold: Double?, overlap: Double?, modelName: String, files: [NewFile]
    ) {
        self.ownerKeyID = ownerKeyID
        self.id = id
        self.createdAt = createdAt
        self.webhookURL = webhookURL
        self.webhookSecret = webhookSecret
        self.idempotencyKey = idempotencyKey
        self.scoreThreshold = scoreThreshold
        self.overlap = overlap
        self.modelName = modelName
        self.files = files
    }
}

/// What a streamed upload's last step gives its job (``JobStore/jobAddFiles(_:_:seal:now:)``).
public struct JobSeal: Sendable {
    /// Ground truth stored with the upload, and the name it was sent under (nil: none).
    public var groundTruth: String?
    /// The name the ground truth was sent under.
    public var groundTruthName: String?
    /// The data directory holding the uploads (``DataLayout/instance``), for their mirror rows.
    public var origin: String?
    /// The settings used only once the job ends, as the whole request gave them (a client may send
    /// them after its files): the webhook's URL and secret, the result formats, the GIS layers' CRS
    /// and the output prefix. Nil leaves a setting as the job was made with.
    public var finalSettings: FinalSettings?

    /// The settings a job uses only once it ends (``JobRecord`` fields of the same names).
    public struct FinalSettings: Sendable, Equatable {
        public var webhookURL, webhookSecret, formats, outCRS, outputPrefix: String?
        /// These settings.
        public init(webhookURL: String?, webhookSecret: String?, formats: String?, outCRS: String?, outputPrefix: String?) {
            self.webhookURL = webhookURL
            self.webhookSecret = webhookSecret
            self.formats = formats
            self.outCRS = outCRS
            self.outputPrefix = outputPrefix
        }
    }

    /// A seal with no ground truth.
    public init(groundTruth: String? = nil, groundTruthName: String? = nil, origin: String?, finalSettings: FinalSettings? = nil) {
        self.groundTruth = groundTruth
        self.groundTruthName = groundTruthName
        self.origin = origin
        self.finalSettings = finalSettings
    }
}

/// Files were offered to a job that is no longer receiving its upload (sealed, or made whole).
public struct JobNotReceiving: Error, CustomStringConvertible {
    /// The job's id.
    public let job: String
    /// Says which job.
    public var description: String { "job \(job) is not receiving an upload" }
}

/// The owner a streamed upload writes in ``JobCreate/receiving``: the data directory it stores
/// into, its process id and a token made when that process started, so that a process starting on
/// the same data directory can tell whether the upload's process is gone (``parse(_:)``); the
/// token tells a restarted process that got the same id (a container's PID 1) from the one that
/// made the job.
public enum ReceivingUpload {
    /// This process's token, made once when it starts.
    public static let processToken = String(UUID().uuidString.lowercased().prefix(8))

    /// `INSTANCE/PID/TOKEN`: by default this process's.
    public static func owner(
        instance: String, processID: Int32 = ProcessInfo.processInfo.processIdentifier, token: String = processToken
    ) -> String {
        "\(instance)/\(processID)/\(token)"
    }

    /// The data directory, process id and token an owner names; nil for one of another form.
    public static func parse(_ owner: String) -> (instance: String, processID: Int32, token: String)? {
        let parts = owner.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3, let pid = Int32(parts[parts.count - 2]) else { return nil }
        return (parts.dropLast(2).joined(separator: "/"), pid, String(parts[parts.count - 1]))
    }
}

/// How a worker's attempt at a file ended.
public enum FileOutcome: Sendable {
    /// Detection finished; `result` is the encoded per-file result kept for the job's documents.
    case succeeded(result: Data, detections: Int, classCounts: [String: Int], seconds: Double)
    /// Detection failed. `retryable` errors go back to the queue until `maxAttempts`; others fail at once.
    case failed(error: String, retryable: Bool, maxAttempts: Int)
}

/// The durable state of jobs and files. Every method is one transaction. Implementations: SQLite
/// (`JobStoreSQLite`, the embedded default), PostgreSQL (`JobStorePostgres`) and
/// ``InMemoryJobStore`` (nothing kept past the process); all three pass the same contract tests.
public protocol JobStore: Sendable {
    /// Creates a job with its files in one transaction. When `idempotencyKey` was used before,
    /// nothing is created and the earlier job is returned with `created == false`.
    func jobCreate(_ params: JobCreate) async throws -> (job: JobRecord, created: Bool)
    /// The job with this id; nil if unknown.
    func jobGet(_ id: String) async throws -> JobRecord?
    /// The job submitted with this idempotency key; nil if none.
    func jobFind(idempotencyKey: String) async throws -> JobRecord?
    /// Newest first; `after` is the last job of the previous page (keyset pagination); `owner`
    /// keeps only the jobs of that API key.
    func jobList(status: JobStatus?, limit: Int, after: JobRecord?, owner: String?) async throws -> [JobRecord]
    /// A job's files, in ordinal order.
    func jobFiles(_ id: String) async throws -> [FileRecord]
    /// Cancels a job that is not final: its unfinished files are cancelled, and its webhook delivery
    /// is written in the same transaction. Returns the job, nil if unknown.
    func jobCancel(_ id: String, now: Date) async throws -> JobRecord?
    /// Puts a final job's failed files back in the queue. Returns the job, nil if unknown.
    func jobRetryFailed(_ id: String, now: Date) async throws -> JobRecord?
    /// Jobs whose files are all finished but whose results are not yet written (after a crash too).
    func jobsAwaitingFinalize() async throws -> [JobRecord]
    /// Adds files to a job that is still receiving its upload, after those it has (`files` carry
    /// their ordinals); with `seal`, the upload is complete: the job stops receiving, takes the
    /// seal's ground truth and final settings, and its uploads get their mirror rows. Files added to
    /// a job cancelled meanwhile are cancelled too. Nil when the job is unknown; throws
    /// ``JobNotReceiving`` for a job that is not receiving.
    func jobAddFiles(_ id: String, _ files: [FileRecord], seal: JobSeal?, now: Date) async throws -> JobRecord?
    /// Deletes a job that is still receiving, with its files and their results (an upload that
    /// failed or was cut off after its first files were in). False when unknown or not receiving.
    func jobDiscard(_ id: String) async throws -> Bool
    /// The jobs still receiving their uploads (a crash of the receiving process leaves them so).
    func jobsReceiving() async throws -> [JobRecord]
    /// Marks a job whose files are all finished with its final state, and writes its webhook
    /// delivery (if it has a receiver) and the mirror rows of the documents it wrote (when the
    /// store mirrors) in the same transaction.
    func jobFinalize(_ id: String, now: Date, objects: [MirrorRequest], mergedDetections: Int?) async throws -> JobRecord?

    /// Records the tile count and footprint of a file learned only when its worker opened it
    /// (inputs read from a bucket); the job's total follows. False when the claim was lost.
    func fileSetTiles(_ claim: FileClaim, tilesTotal: Int, footprint: Footprint?, now: Date) async throws -> Bool

    /// Waits until new work may be there (a store that can announce it returns early), at most `limit`.
    func waitForWork(upTo limit: Duration) async

    /// Claims the next file to run for `lease`, fairly across jobs (the job with the fewest claims
    /// first): a queued file, or a running one whose lease expired.
    func fileClaimNext(owner: String, lease: TimeInterval, now: Date) async throws -> FileClaim?
    /// Renews the lease and records progress; false when the lease is lost or the job was cancelled
    /// (the worker must stop).
    func fileHeartbeat(_ claim: FileClaim, tilesDone: Int, lease: TimeInterval, now: Date) async throws -> Bool
    /// Records the outcome of a claim. Returns nil when the lease was lost meanwhile (the result is
    /// discarded: another worker owns the file), else the job after the update.
    func fileFinish(_ claim: FileClaim, outcome: FileOutcome, now: Date) async throws -> JobRecord?
    /// The encoded results of a job's succeeded files, in ordinal order.
    func fileResults(_ jobID: String) async throws -> [(file: FileRecord, result: Data)]
    /// One file of a job by its stored name, with its result once it has succeeded; nil when the
    /// job has no such file.
    func file(ofJob jobID: String, named name: String) async throws -> (file: FileRecord, result: Data?)?

    /// How many jobs are in each state, and files in each state (for metrics and readiness).
    func counts() async throws -> (jobs: [JobStatus: Int], files: [FileStatus: Int])

    /// Stores a new API key (its hash only).
    func keyCreate(_ key: APIKeyRecord) async throws
    /// Every key, revoked ones included, oldest first.
    func keyList() async throws -> [APIKeyRecord]
    /// Registers a model version. When `name@version` is there already with the same file,
    /// nothing changes and the row is returned with `created == false`; with another file it is
    /// refused (``ModelRegistryError/conflict(reference:sha256:)``).
    func modelAdd(_ model: ModelRecord) async throws -> (model: ModelRecord, created: Bool)
    /// Every registered model version, by name, then oldest first.
    func modelList() async throws -> [ModelRecord]
    /// Removes a version; nil when unknown. Refused while jobs that are not final use it
    /// (``ModelRegistryError/inUse(reference:jobs:)``).
    func modelRemove(name: String, version: String) async throws -> ModelRecord?

    /// Revokes a key by id; nil when unknown.
    func keyRevoke(id: String, now: Date) async throws -> APIKeyRecord?
    /// The live (not revoked) key with this hash.
    func keyFind(hash: String) async throws -> APIKeyRecord?

    /// Claims the next delivery that is due, for `lease` (its attempt must end within it).
    func deliveryClaimNext(owner: String, lease: TimeInterval, now: Date) async throws -> WebhookDelivery?
    /// Records an attempt and what it decided. Returns false when the lease was lost meanwhile
    /// (the attempt is still recorded; the state is left to the new owner).
    func deliveryRecord(_ claim: WebhookDelivery, attempt: WebhookAttempt, decision: DeliveryDecision) async throws -> Bool
    /// A job's deliveries, oldest first, and all their attempts.
    func deliveryList(job: String) async throws -> (deliveries: [WebhookDelivery], attempts: [WebhookAttempt])
    /// Sends a job's latest delivery again, now, with a fresh retry schedule and the same id.
    /// Returns nil when the job has no delivery.
    func deliveryRedeliver(job: String, now: Date) async throws -> WebhookDelivery?

    /// Claims the next object to copy to the bucket that is due, for `lease`, among those whose
    /// file is in the data directory `origin` (or whose origin is not known).
    func mirrorClaimNext(owner: String, origin: String, lease: TimeInterval, now: Date) async throws -> MirrorObject?
    /// Extends the claim's lease while a long upload runs; false when it was lost.
    func mirrorRenew(_ claim: MirrorObject, lease: TimeInterval, now: Date) async throws -> Bool
    /// Records an attempt's outcome; false when the lease was lost meanwhile.
    func mirrorRecord(_ claim: MirrorObject, outcome: MirrorOutcome, now: Date) async throws -> Bool
    /// A job's objects, in the order they were written.
    func mirrorList(job: String) async throws -> [MirrorObject]
    /// Writes the mirror rows of objects stored outside a transition (quicklooks drawn on request,
    /// while the job runs or after it ended), when the store mirrors; a name some row holds
    /// already is copied again.
    func mirrorEnqueue(job: String, _ requests: [MirrorRequest], now: Date) async throws
    /// Releases the leases on mirror rows of `origin` whose owner `gone` says has ended (a process of
    /// this data directory that crashed while copying), so they are copied again at once instead of
    /// when their lease expires; returns how many.
    func mirrorReleaseLeases(origin: String, heldBy gone: @escaping @Sendable (String) -> Bool) async throws -> Int
    /// Objects in each mirror state, over all jobs.
    func mirrorCounts() async throws -> [MirrorStatus: Int]
}

extension JobStore {
    /// Without announcements, waiting for work is sleeping: idle workers look again after `limit`.
    public func waitForWork(upTo limit: Duration) async {
        try? await Task.sleep(for: limit)
    }

    /// Finalizes a job with no mirror rows to write and no merged layer.
    public func jobFinalize(_ id: String, now: Date) async throws -> JobRecord? {
        try await jobFinalize(id, now: now, objects: [], mergedDetections: nil)
    }

    /// Finalizes a job, writing the mirror rows of `objects`, with no merged layer.
    public func jobFinalize(_ id: String, now: Date, objects: [MirrorRequest]) async throws -> JobRecord? {
        try await jobFinalize(id, now: now, objects: objects, mergedDetections: nil)
    }
}

/// The job store cannot be reached now (its database is down or out of reach): nothing was
/// changed, and the same call may succeed later. The API answers 503.
public struct JobStoreUnavailable: Error, CustomStringConvertible {
    /// What could not be reached and what to check, worded for the operator.
    public let description: String
    /// An unavailable store, with what could not be reached.
    public init(_ description: String) { self.description = description }
}
