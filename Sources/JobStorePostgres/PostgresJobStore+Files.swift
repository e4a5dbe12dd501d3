public import Foundation
public import Jobs
import PostgresNIO

extension PostgresJobStore {
    /// The claimed file, locked, if the claim still holds it.
    private func held(_ claim: FileClaim, on c: PostgresConnection) async throws -> FileRecord? {
        guard let id = claim.file.id else { return nil }
        return try await record(FileRecord.self, #"""
            SELECT row_to_json(f)::text FROM files f
            WHERE "id" = \#(id) AND "status" = 'running' AND "leaseOwner" = \#(claim.owner) AND "attempts" = \#(claim.attempt)
            FOR UPDATE
            """#, on: c)
    }

    public func fileClaimNext(owner: String, lease: TimeInterval, now: Date) async throws -> FileClaim? {
        try await transaction { c in
            // Fair across jobs (fewest claims first); rows another worker is claiming are skipped, not waited for.
            guard var file = try await record(FileRecord.self, #"""
                SELECT row_to_json(f)::text FROM files f JOIN jobs j ON j."id" = f."jobID"
                WHERE j."status" IN ('queued', 'running')
                  AND (f."status" = 'queued' OR (f."status" = 'running' AND f."leaseExpiresAt" < \#(Self.t(now))))
                ORDER BY j."claims" ASC, j."createdAt" ASC, f."ordinal" ASC
                LIMIT 1 FOR UPDATE OF f SKIP LOCKED
                """#, on: c) else { return nil }
            guard var job = try await lockJob(file.jobID, on: c), !job.status.isFinal else { return nil }
            // A rescued file starts over: its partial progress leaves the job's count.
            job.tilesDone -= file.tilesDone
            job.claims += 1
            if job.status == .queued { job.status = .running }
            job.updatedAt = now
            try await update("jobs", job, on: c)
            file.status = .running
            file.attempts += 1
            file.leaseOwner = owner
            file.leaseExpiresAt = now.addingTimeInterval(lease)
            file.tilesDone = 0
            file.startedAt = now
            try await update("files", file, on: c)
            return FileClaim(file: file, job: job, owner: owner, attempt: file.attempts)
        }
    }

    public func fileSetTiles(_ claim: FileClaim, tilesTotal: Int, now: Date) async throws -> Bool {
        try await transaction { c in
            guard var job = try await lockJob(claim.job.id, on: c), var file = try await held(claim, on: c) else { return false }
            let total = max(tilesTotal, 1)
            job.tilesTotal += total - file.tilesTotal
            job.updatedAt = now
            try await update("jobs", job, on: c)
            file.tilesTotal = total
            try await update("files", file, on: c)
            return true
        }
    }

    public func fileHeartbeat(_ claim: FileClaim, tilesDone: Int, lease: TimeInterval, now: Date) async throws -> Bool {
        try await transaction { c in
            // The job first, then the file: the order every writer takes.
            guard var job = try await lockJob(claim.job.id, on: c), var file = try await held(claim, on: c), !job.status.isFinal else {
                return false
            }
            let done = min(tilesDone, file.tilesTotal)
            job.tilesDone += done - file.tilesDone
            job.updatedAt = now
            try await enqueueProgressEvent(&job, now: now, on: c)
            try await update("jobs", job, on: c)
            file.tilesDone = done
            file.leaseExpiresAt = now.addingTimeInterval(lease)
            try await update("files", file, on: c)
            return true
        }
    }

    public func fileFinish(_ claim: FileClaim, outcome: FileOutcome, now: Date) async throws -> JobRecord? {
        try await transaction { c in
            guard var job = try await lockJob(claim.job.id, on: c), var file = try await held(claim, on: c) else { return nil }
            file.leaseOwner = nil
            file.leaseExpiresAt = nil
            var requeued = false
            switch outcome {
            case .succeeded(let result, let detections, let classCounts, let seconds):
                job.tilesDone += file.tilesTotal - file.tilesDone
                job.succeededFiles += 1
                file.status = .succeeded
                file.tilesDone = file.tilesTotal
                file.detections = detections
                file.classCounts = classCounts
                file.seconds = seconds
                file.error = nil
                file.finishedAt = now
                try await c.query(#"""
                    INSERT INTO "fileResults" ("fileID", "result") VALUES (\#(file.id), \#(ByteBuffer(bytes: result)))
                    ON CONFLICT ("fileID") DO UPDATE SET "result" = EXCLUDED."result"
                    """#, logger: logger)
            case .failed(let error, let retryable, let maxAttempts):
                file.error = error
                if retryable && file.attempts < maxAttempts {
                    job.tilesDone -= file.tilesDone
                    file.status = .queued
                    file.tilesDone = 0
                    requeued = true
                } else {
                    job.tilesDone += file.tilesTotal - file.tilesDone
                    job.failedFiles += 1
                    file.status = .failed
                    file.tilesDone = file.tilesTotal
                    file.finishedAt = now
                }
            }
            job.updatedAt = now
            try await enqueueProgressEvent(&job, now: now, on: c)
            try await update("jobs", job, on: c)
            try await update("files", file, on: c)
            if requeued { try await notifyWork(on: c) }
            return job
        }
    }

    public func fileResults(_ jobID: String) async throws -> [(file: FileRecord, result: Data)] {
        try await client.withConnection { c in
            let files = try await records(FileRecord.self, #"""
                SELECT row_to_json(f)::text FROM files f WHERE "jobID" = \#(jobID) AND "status" = 'succeeded' ORDER BY "ordinal"
                """#, on: c)
            var results: [Int64: Data] = [:]
            let rows = try await c.query(#"""
                SELECT r."fileID", r."result" FROM "fileResults" r JOIN files f ON f."id" = r."fileID"
                WHERE f."jobID" = \#(jobID) AND f."status" = 'succeeded'
                """#, logger: logger)
            for try await (id, bytes) in rows.decode((Int64, ByteBuffer).self) { results[id] = Data(bytes.readableBytesView) }
            return files.compactMap { f in f.id.flatMap { results[$0] }.map { (f, $0) } }
        }
    }
}
