public import Formats
public import Foundation

// The state changes of the records, shared by every `JobStore`. A store reads and locks the rows
// in its own way, applies one of these, and writes the rows back in the same transaction; keeping
// the rules here means the SQLite and PostgreSQL stores cannot drift apart.

extension JobCreate {
    /// The job row a new job starts as.
    public var jobRecord: JobRecord {
        var job = JobRecord(
            id: id, status: .queued, createdAt: createdAt, updatedAt: createdAt, finishedAt: nil,
            webhookURL: webhookURL, webhookSecret: webhookSecret, idempotencyKey: idempotencyKey, ownerKeyID: ownerKeyID,
            scoreThreshold: scoreThreshold, overlap: overlap, modelName: modelName, totalFiles: files.count,
            succeededFiles: 0, failedFiles: 0, tilesTotal: files.map(\.tilesTotal).reduce(0, +), tilesDone: 0, claims: 0,
            idempotencyFingerprint: idempotencyFingerprint)
        job.formats = formats
        job.outCRS = outCRS
        job.outputPrefix = outputPrefix
        job.nmsMetric = nmsMetric
        job.modelVersion = modelVersion
        job.modelSHA256 = modelSHA256
        job.groundTruth = groundTruth
        job.groundTruthName = groundTruthName
        job.receiving = receiving
        return job
    }

    /// The file rows, queued, in submission order.
    public var fileRecords: [FileRecord] {
        files.enumerated().map { i, f in f.record(job: id, ordinal: i) }
    }

    /// The uploads to copy to the mirror bucket (inputs read from a bucket are there already).
    public var uploadMirrorRequests: [MirrorRequest] {
        Self.uploadMirrorRequests(
            job: id, files: fileRecords, groundTruth: groundTruth, groundTruthName: groundTruthName, origin: origin)
    }

    /// The mirror rows of a job's uploads and of its uploaded ground truth (inputs read from a
    /// bucket are there already).
    public static func uploadMirrorRequests(
        job id: String, files: [FileRecord], groundTruth: String?, groundTruthName: String?, origin: String?
    ) -> [MirrorRequest] {
        files.filter { !$0.storedPath.hasPrefix("gs://") }.map {
            MirrorRequest(
                name: $0.storedPath, metadata: ["job_id": id, "original_name": $0.originalName, "sha256": $0.sha256], origin: origin)
        }
            + (groundTruth.flatMap { $0.hasPrefix("gs://") ? nil : $0 }.map {
                [MirrorRequest(name: $0, metadata: ["job_id": id, "original_name": groundTruthName ?? ""], origin: origin)]
            } ?? [])
    }
}

extension JobCreate.NewFile {
    /// The file's row, queued, at `ordinal` in job `job`.
    public func record(job: String, ordinal: Int) -> FileRecord {
        FileRecord(
            id: nil, jobID: job, ordinal: ordinal, originalName: originalName, name: name, storedPath: storedPath,
            sizeBytes: sizeBytes, sha256: sha256, status: .queued, attempts: 0, leaseOwner: nil, leaseExpiresAt: nil,
            tilesTotal: tilesTotal, tilesDone: 0, detections: 0, classCounts: nil, error: nil, startedAt: nil,
            finishedAt: nil, seconds: nil, footprint: footprint)
    }
}

/// What happens to a file and its job as workers take, advance and finish it.
public enum FileTransition {
    /// `owner` takes `file` (queued, or running under an expired lease). A rescued file starts
    /// over: its partial progress leaves the job's count.
    public static func claim(_ file: inout FileRecord, job: inout JobRecord, owner: String, lease: TimeInterval, now: Date) {
        job.tilesDone -= file.tilesDone
        job.claims += 1
        if job.status == .queued { job.status = .running }
        job.updatedAt = now
        file.status = .running
        file.attempts += 1
        file.leaseOwner = owner
        file.leaseExpiresAt = now.addingTimeInterval(lease)
        file.tilesDone = 0
        file.startedAt = now
    }

    /// The worker read the file's header (a raster read from a bucket, say): its real tile count
    /// and where it lies.
    public static func setTiles(_ file: inout FileRecord, job: inout JobRecord, total tilesTotal: Int, footprint: Footprint?, now: Date) {
        let total = max(tilesTotal, 1)
        file.footprint = footprint
        job.tilesTotal += total - file.tilesTotal
        job.updatedAt = now
        file.tilesTotal = total
    }

    /// Progress, and the lease extended.
    public static func heartbeat(_ file: inout FileRecord, job: inout JobRecord, tilesDone: Int, lease: TimeInterval, now: Date) {
        let done = min(tilesDone, file.tilesTotal)
        job.tilesDone += done - file.tilesDone
        job.updatedAt = now
        file.tilesDone = done
        file.leaseExpiresAt = now.addingTimeInterval(lease)
    }

    /// The worker's outcome. Returns true when the file went back to the queue (a retryable
    /// failure with attempts left). The store keeps a success's result document itself.
    @discardableResult
    public static func finish(_ file: inout FileRecord, job: inout JobRecord, outcome: FileOutcome, now: Date) -> Bool {
        file.leaseOwner = nil
        file.leaseExpiresAt = nil
        job.updatedAt = now
        switch outcome {
        case .succeeded(_, let detections, let classCounts, let seconds):
            job.tilesDone += file.tilesTotal - file.tilesDone
            job.succeededFiles += 1
            file.status = .succeeded
            file.tilesDone = file.tilesTotal
            file.detections = detections
            file.classCounts = classCounts
            file.seconds = seconds
            file.error = nil
            file.finishedAt = now
            return false
        case .failed(let error, let retryable, let maxAttempts):
            file.error = error
            if retryable && file.attempts < maxAttempts {
                job.tilesDone -= file.tilesDone
                file.status = .queued
                file.tilesDone = 0
                return true
            }
            job.tilesDone += file.tilesTotal - file.tilesDone
            job.failedFiles += 1
            file.status = .failed
            file.tilesDone = file.tilesTotal
            file.finishedAt = now
            return false
        }
    }
}

extension JobRecord {
    /// Cancelled; the store marks its queued and running files cancelled in the same transaction.
    public mutating func cancel(now: Date) {
        status = .cancelled
        updatedAt = now
        finishedAt = now
    }

    /// Failed files go back to the queue; `failedTiles` is their tile count, which leaves the
    /// progress. The store requeues the files in the same transaction.
    public mutating func retryFailed(failedTiles: Int, now: Date) {
        tilesDone -= failedTiles
        failedFiles = 0
        mergedDetections = nil
        status = succeededFiles > 0 ? .running : .queued
        finishedAt = nil
        updatedAt = now
    }

    /// Every file processed: the final state.
    public mutating func finalize(now: Date, mergedDetections: Int? = nil) {
        status = JobStatus.finished(succeeded: succeededFiles, failed: failedFiles)
        self.mergedDetections = mergedDetections
        tilesDone = tilesTotal
        finishedAt = now
        updatedAt = now
    }

    /// Whether a retry applies (a final job with failed files).
    public var canRetryFailed: Bool { status == .failed || status == .completedWithErrors }

    /// Whether every file is processed and the job is not final yet.
    public var awaitsFinalize: Bool { !status.isFinal && processedFiles == totalFiles && receiving == nil }

    /// Takes files that a streamed upload adds: counted in the totals, cancelled at once when the
    /// job was cancelled meanwhile (the caller inserts `files` as returned).
    public mutating func add(_ files: [FileRecord], now: Date) -> [FileRecord] {
        totalFiles += files.count
        tilesTotal += files.map(\.tilesTotal).reduce(0, +)
        updatedAt = now
        guard status == .cancelled else { return files }
        return files.map { f in
            var f = f
            f.status = .cancelled
            f.finishedAt = now
            return f
        }
    }
}

extension JobEventRenderer {
    /// The `job.progress` delivery to write when the job's progress has just passed a new step, and
    /// the step recorded in `job.progressNotified` (the caller saves the job).
    public func progressDelivery(for job: inout JobRecord, now: Date) throws -> WebhookDelivery? {
        guard progressStep > 0, job.webhookURL != nil, !job.status.isFinal, job.receiving == nil else { return nil }
        let reached = Int(job.progress / progressStep)
        guard reached > job.progressNotified, job.progress < 100 else { return nil }
        job.progressNotified = reached
        return try progressEvent(job: job, now: now)
    }
}

extension WebhookDelivery {
    /// Whether `claim`'s lease still holds this delivery.
    public func isHeld(by claim: WebhookDelivery) -> Bool { status == .pending && leaseOwner == claim.leaseOwner }

    /// One attempt made, and what to do next.
    public mutating func record(_ attempt: WebhookAttempt, decision: DeliveryDecision) {
        attempts += 1
        lastStatusCode = attempt.statusCode
        lastError = attempt.error
        leaseOwner = nil
        leaseExpiresAt = nil
        switch decision {
        case .delivered:
            status = .delivered
            deliveredAt = attempt.at
            nextAttemptAt = nil
        case .retry(let next):
            step += 1
            nextAttemptAt = next
        case .giveUp:
            status = .failed
            nextAttemptAt = nil
        case .stop:
            status = .stopped
            nextAttemptAt = nil
        }
    }

    /// Sent again from the start of the schedule (`POST /jobs/{id}/webhook/redeliver`).
    public mutating func rearm(now: Date) {
        status = .pending
        step = 0
        nextAttemptAt = now
        leaseOwner = nil
        leaseExpiresAt = nil
    }
}

extension MirrorObject {
    /// The row a newly stored object starts as: pending, due at `now`.
    public init(request: MirrorRequest, job: String, now: Date) {
        self.init(jobID: job, name: request.name, metadata: request.metadata, createdAt: now)
        source = request.source
        origin = request.origin
    }

    /// The object under this name was stored again (by `job`): it is copied again, replacing what
    /// the bucket holds, whatever became of the last copy.
    public mutating func rearm(for request: MirrorRequest, job: String, now: Date) {
        jobID = job
        source = request.source
        origin = request.origin
        status = .pending
        replace = true
        metadata = request.metadata
        nextAttemptAt = now
        lastError = nil
        leaseOwner = nil
        leaseExpiresAt = nil
    }

    /// Whether `claim`'s lease still holds this object.
    public func isHeld(by claim: MirrorObject) -> Bool { leaseOwner == claim.leaseOwner && status != .synced }

    /// Its lease dropped: the next claim may take it at once.
    public mutating func releaseLease() {
        leaseOwner = nil
        leaseExpiresAt = nil
    }

    /// One upload tried.
    public mutating func record(_ outcome: MirrorOutcome, now: Date) {
        attempts += 1
        leaseOwner = nil
        leaseExpiresAt = nil
        switch outcome {
        case .synced(let size, let crc, let generation):
            status = .synced
            sizeBytes = size
            crc32c = crc
            self.generation = generation
            syncedAt = now
            nextAttemptAt = nil
            lastError = nil
            replace = false
        case .failed(let error, let retryAt):
            status = .failed
            lastError = error
            nextAttemptAt = retryAt
        }
    }
}
