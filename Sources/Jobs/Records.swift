public import Formats
public import Foundation

/// A job as stored: one row per upload request.
public struct JobRecord: Codable, Sendable, Equatable {
    /// The job's public id.
    public var id: String
    /// The job's state (see ``JobStatus``).
    public var status: JobStatus
    /// When the job was submitted.
    public var createdAt: Date
    /// When the row last changed (claim, progress, finish, cancel, retry).
    public var updatedAt: Date
    /// When the job became final (nil while queued or running, and again after a retry).
    public var finishedAt: Date?
    /// Where to send the end-of-job event (validated at submit).
    public var webhookURL: String?
    /// The job's own `whsec_` signing secret, if it was given one (never shown by the API).
    public var webhookSecret: String?
    /// The client's `Idempotency-Key` (nil: none sent): submitting again with it returns this job.
    public var idempotencyKey: String?
    /// A digest of the request that used `idempotencyKey`: the same key with another request is refused.
    public var idempotencyFingerprint: String?
    /// The API key that submitted the job (nil when none was needed).
    public var ownerKeyID: String?
    /// Detection settings chosen at submit (nil: the model's defaults).
    public var scoreThreshold: Double?
    /// Fraction of a tile shared with its neighbour, chosen at submit (nil: the default).
    public var overlap: Double?
    /// The name of the model the job runs (its manifest's name).
    public var modelName: String
    /// How many files the job has.
    public var totalFiles: Int
    /// Files that succeeded.
    public var succeededFiles: Int
    /// Files that failed for good (back to 0 on a retry).
    public var failedFiles: Int
    /// Tiles planned over all files, and tiles done (failed files count as done).
    public var tilesTotal: Int
    /// Tiles done over all files (failed files count as done; equal to `tilesTotal` once the job is finalized).
    public var tilesDone: Int
    /// How many claims the job's files have had: the fairness key (fewest claims first).
    public var claims: Int
    /// The last progress step announced by a `job.progress` webhook (0: none yet).
    public var progressNotified: Int = 0
    /// The result formats chosen at submit, comma-separated (`coco,geojson,gpkg,fgb`; nil: COCO
    /// and GeoJSON), and the CRS of the GIS layers (`EPSG:n`; nil: the rasters' own).
    public var formats: String?
    /// The CRS of the GIS layers, `EPSG:n` (nil: the rasters' own).
    public var outCRS: String?
    /// `gs://bucket/prefix/` where the job's result documents are also written (nil: none).
    public var outputPrefix: String?
    /// How overlap is measured when boxes are suppressed, within a file and across files (`iou`
    /// or `ios`; nil: `iou`).
    public var nmsMetric: String?
    /// Objects in the layer merged across files, once the job is final (nil before, or when no
    /// file is georeferenced).
    public var mergedDetections: Int?
    /// The model's version and the SHA-256 of its file, resolved at submit (nil: jobs from before
    /// the registry, which run on the default model).
    public var modelVersion: String?
    /// The SHA-256 of the model's file (nil: a job from before the registry).
    public var modelSHA256: String?
    /// Ground truth the job's results are scored against at the end: an upload's stored path
    /// (`uploads/{job}_ground_truth.{ext}`) or a `gs://` URI, and the name it was given under.
    public var groundTruth: String?
    /// The name the ground truth was uploaded under (nil: no ground truth).
    public var groundTruthName: String?
    /// The upload still adding files to the job, as ``JobCreate/receiving`` names it; nil once its
    /// last file is in (and for every job not made by a streamed upload). A job that is receiving
    /// is never finalized, sends no progress events and can be discarded.
    public var receiving: String?

    /// 0–100, weighted by tiles.
    public var progress: Double {
        if status.hasResults { return 100 }
        guard tilesTotal > 0 else { return 0 }
        return (Double(min(tilesDone, tilesTotal)) / Double(tilesTotal) * 1000).rounded() / 10
    }

    /// Files finished, succeeded or failed (cancelled ones not counted).
    public var processedFiles: Int { succeededFiles + failedFiles }

    /// A job row from its columns; the others (formats, CRS, output prefix, NMS metric, merged count, model version,
    /// ground truth) start nil.
    public init(
        id: String, status: JobStatus, createdAt: Date, updatedAt: Date, finishedAt: Date?, webhookURL: String?,
        webhookSecret: String?, idempotencyKey: String?, ownerKeyID: String? = nil, scoreThreshold: Double?, overlap: Double?,
        modelName: String, totalFiles: Int, succeededFiles: Int, failedFiles: Int, tilesTotal: Int, tilesDone: Int, claims: Int,
        progressNotified: Int = 0, idempotencyFingerprint: String? = nil
    ) {
        self.id = id
        self.idempotencyFingerprint = idempotencyFingerprint
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.finishedAt = finishedAt
        self.webhookURL = webhookURL
        self.webhookSecret = webhookSecret
        self.idempotencyKey = idempotencyKey
        self.ownerKeyID = ownerKeyID
        self.scoreThreshold = scoreThreshold
        self.overlap = overlap
        self.modelName = modelName
        self.totalFiles = totalFiles
        self.succeededFiles = succeededFiles
        self.failedFiles = failedFiles
        self.tilesTotal = tilesTotal
        self.tilesDone = tilesDone
        self.claims = claims
        self.progressNotified = progressNotified
    }
}

/// One uploaded file of a job.
public struct FileRecord: Codable, Sendable, Equatable {
    /// The row's id, assigned by the store (nil until inserted).
    public var id: Int64?
    /// The job the file belongs to.
    public var jobID: String
    /// Position in the job (image id in the results is ordinal + 1).
    public var ordinal: Int
    /// The name as the client sent it (kept for the audit).
    public var originalName: String
    /// The sanitised name, unique within the job.
    public var name: String
    /// Path of the stored upload relative to the data directory.
    public var storedPath: String
    /// The file's size in bytes.
    public var sizeBytes: Int
    /// Hex SHA-256 of the upload (empty for a bucket input, which is not read at submit).
    public var sha256: String
    /// The file's state (see ``FileStatus``).
    public var status: FileStatus
    /// Claims so far, each one attempt, counted against the retry limit (back to 0 on a job retry).
    public var attempts: Int
    /// The worker holding the file's lease while it runs (nil: none).
    public var leaseOwner: String?
    /// When that lease ends unless renewed; past it, another worker may claim the file (nil: no lease).
    public var leaseExpiresAt: Date?
    /// Tiles planned for the file (at least 1; a bucket input's 1 is replaced once its worker reads the header).
    public var tilesTotal: Int
    /// Tiles done in the current attempt (all of them once the file succeeded or failed).
    public var tilesDone: Int
    /// Objects detected (0 until the file succeeds).
    public var detections: Int
    /// Detections per class name (nil until the file succeeds).
    public var classCounts: [String: Int]?
    /// The last failure's message, kept while a retryable failure waits in the queue (nil: no failure, or the file succeeded).
    public var error: String?
    /// When the current or last attempt was claimed (nil: never claimed).
    public var startedAt: Date?
    /// When the file succeeded, failed for good or was cancelled (nil: not finished).
    public var finishedAt: Date?
    /// Seconds the last successful run took.
    public var seconds: Double?
    /// Where the raster lies in WGS84, from its header when it was checked (nil: not georeferenced,
    /// or not read yet for a bucket input).
    public var footprint: Footprint?

    /// A file row from its columns; `footprint` defaults to nil.
    public init(
        id: Int64?, jobID: String, ordinal: Int, originalName: String, name: String, storedPath: String, sizeBytes: Int,
        sha256: String, status: FileStatus, attempts: Int, leaseOwner: String?, leaseExpiresAt: Date?, tilesTotal: Int,
        tilesDone: Int, detections: Int, classCounts: [String: Int]?, error: String?, startedAt: Date?, finishedAt: Date?,
        seconds: Double?, footprint: Footprint? = nil
    ) {
        self.footprint = footprint
        self.id = id
        self.jobID = jobID
        self.ordinal = ordinal
        self.originalName = originalName
        self.name = name
        self.storedPath = storedPath
        self.sizeBytes = sizeBytes
        self.sha256 = sha256
        self.status = status
        self.attempts = attempts
        self.leaseOwner = leaseOwner
        self.leaseExpiresAt = leaseExpiresAt
        self.tilesTotal = tilesTotal
        self.tilesDone = tilesDone
        self.detections = detections
        self.classCounts = classCounts
        self.error = error
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.seconds = seconds
    }
}

/// What a worker holds while it processes a file: the file, its job's settings, and its lease.
public struct FileClaim: Sendable, Equatable {
    /// The claimed file, as it is after the claim.
    public var file: FileRecord
    /// The file's job, as it is after the claim.
    public var job: JobRecord
    /// The worker holding the lease.
    public var owner: String
    /// The attempt this claim is: the file's ``FileRecord/attempts`` after the claim.
    public var attempt: Int

    /// A claim of `file` by `owner`.
    public init(file: FileRecord, job: JobRecord, owner: String, attempt: Int) {
        self.file = file
        self.job = job
        self.owner = owner
        self.attempt = attempt
    }
}

extension Sequence where Element == FileRecord {
    /// Detections per class name over these files.
    public var classTotals: [String: Int] {
        reduce(into: [:]) { sum, f in for (name, n) in f.classCounts ?? [:] { sum[name, default: 0] += n } }
    }
}

extension JobRecord {
    /// The result formats chosen at submit (COCO and GeoJSON when none were named).
    public var outputFormats: Set<OutputFormat> {
        formats.flatMap { try? OutputFormat.parseList($0) } ?? OutputFormat.defaults
    }

    /// The result documents the job has once final: its formats', with the merged layer's when the
    /// merge found georeferenced files.
    public var resultDocuments: [ResultDocument] {
        ResultDocument.written(formats: outputFormats, merged: mergedDetections != nil)
    }
}
