public import Formats
public import Foundation

/// A job as stored: one row per upload request.
public struct JobRecord: Codable, Sendable, Equatable {
    public var id: String
    public var status: JobStatus
    public var createdAt: Date
    public var updatedAt: Date
    public var finishedAt: Date?
    /// Where to send the end-of-job event (validated at submit).
    public var webhookURL: String?
    /// The job's own `whsec_` signing secret, if it was given one (never shown by the API).
    public var webhookSecret: String?
    public var idempotencyKey: String?
    /// A digest of the request that used `idempotencyKey`: the same key with another request is refused.
    public var idempotencyFingerprint: String?
    /// The API key that submitted the job (nil when none was needed).
    public var ownerKeyID: String?
    /// Detection settings chosen at submit (nil: the model's defaults).
    public var scoreThreshold: Double?
    public var overlap: Double?
    public var modelName: String
    public var totalFiles: Int
    public var succeededFiles: Int
    public var failedFiles: Int
    /// Tiles planned over all files, and tiles done (failed files count as done).
    public var tilesTotal: Int
    public var tilesDone: Int
    /// How many claims the job's files have had: the fairness key (fewest claims first).
    public var claims: Int
    /// The last progress step announced by a `job.progress` webhook (0: none yet).
    public var progressNotified: Int = 0
    /// The result formats chosen at submit, comma-separated (`coco,geojson,gpkg,fgb`; nil: COCO
    /// and GeoJSON), and the CRS of the GIS layers (`EPSG:n`; nil: the rasters' own).
    public var formats: String?
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
    public var modelSHA256: String?
    /// Ground truth the job's results are scored against at the end: an upload's stored path
    /// (`uploads/{job}_ground_truth.{ext}`) or a `gs://` URI, and the name it was given under.
    public var groundTruth: String?
    public var groundTruthName: String?

    /// 0–100, weighted by tiles.
    public var progress: Double {
        if status.hasResults { return 100 }
        guard tilesTotal > 0 else { return 0 }
        return (Double(min(tilesDone, tilesTotal)) / Double(tilesTotal) * 1000).rounded() / 10
    }

    public var processedFiles: Int { succeededFiles + failedFiles }

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
    public var id: Int64?
    public var jobID: String
    /// Position in the job (image id in the results is ordinal + 1).
    public var ordinal: Int
    /// The name as the client sent it (kept for the audit).
    public var originalName: String
    /// The sanitised name, unique within the job.
    public var name: String
    /// Path of the stored upload relative to the data directory.
    public var storedPath: String
    public var sizeBytes: Int
    public var sha256: String
    public var status: FileStatus
    public var attempts: Int
    public var leaseOwner: String?
    public var leaseExpiresAt: Date?
    public var tilesTotal: Int
    public var tilesDone: Int
    public var detections: Int
    /// Detections per class name (nil until the file succeeds).
    public var classCounts: [String: Int]?
    public var error: String?
    public var startedAt: Date?
    public var finishedAt: Date?
    /// Seconds the last successful run took.
    public var seconds: Double?
    /// Where the raster lies in WGS84, from its header when it was checked (nil: not georeferenced,
    /// or not read yet for a bucket input).
    public var footprint: Footprint?

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
    public var file: FileRecord
    public var job: JobRecord
    public var owner: String
    public var attempt: Int

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
