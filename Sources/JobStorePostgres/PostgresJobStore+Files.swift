public import Formats
public import Foundation
public import Jobs
import PostgresNIO

extension PostgresJobStore {
    /// The claimed file, locked, if the claim still holds it.
    private func held(_ claim: FileClaim, on c: PostgresConnection) async throws -> FileRecord? {
        guard let id = claim.file.id else { return nil }
        return try await record(
            FileRecord.self,
            #"""
            SELECT row_to_json(f)::text FROM files f
            WHERE "id" = \#(id) AND "status" = 'running' AND "leaseOwner" = \#(claim.owner) AND "attempts" = \#(claim.attempt)
            FOR UPDATE
            """#, on: c)
    }

    /// SKIP LOCKED: tries the 8 fairest jobs with work, each in its own transaction, and skips files another
    /// process holds; nil when none of them yields a file.
    public func fileClaimNext(owner: String, lease: TimeInterval, now: Date) async throws -> FileClaim? {
        // The fairest jobs with work (fewest claims, then oldest); each is tried in its own
        // transaction until one yields a file. Locks are taken job first, then file, the order every
        // writer uses: a file row locked by the claim's SKIP LOCKED scan (PostgreSQL keeps the lock
        // on a row that failed its recheck) can then never hold up a worker finishing that file.
        let candidates = try await read { [self] c in
            var ids: [String] = []
            let rows = try await c.query(
                #"""
                SELECT j."id" FROM jobs j
                WHERE j."status" IN ('queued', 'running')
                  AND (EXISTS (SELECT 1 FROM files f WHERE f."jobID" = j."id" AND f."status" = 'queued')
                       OR EXISTS (SELECT 1 FROM files f WHERE f."jobID" = j."id" AND f."status" = 'running' AND f."leaseExpiresAt" < \#(Self.t(now))))
                ORDER BY j."claims" ASC, j."createdAt" ASC, j."id" ASC
                LIMIT 8
                """#, logger: logger)
            for try await (id, ) in rows.decode((String,).self) { ids.append(id) }
            return ids
        }
        for jobID in candidates {
            let claim = try await transaction { [self] c -> FileClaim? in
                guard var job = try await lockJob(jobID, on: c), job.status == .queued || job.status == .running else { return nil }
                // A file whose lease expired first, else the first queued one: each an index lookup.
                var found = try await record(
                    FileRecord.self,
                    #"""
                    SELECT row_to_json(f)::text FROM files f
                    WHERE "jobID" = \#(jobID) AND "status" = 'running' AND "leaseExpiresAt" < \#(Self.t(now))
                    ORDER BY "ordinal" LIMIT 1 FOR UPDATE SKIP LOCKED
                    """#, on: c)
                if found == nil {
                    found = try await record(
                        FileRecord.self,
                        #"""
                        SELECT row_to_json(f)::text FROM files f WHERE "jobID" = \#(jobID) AND "status" = 'queued'
                        ORDER BY "ordinal" LIMIT 1 FOR UPDATE SKIP LOCKED
                        """#, on: c)
                }
                guard var file = found else { return nil }
                FileTransition.claim(&file, job: &job, owner: owner, lease: lease, now: now)
                try await update("jobs", job, on: c)
                try await update("files", file, on: c)
                return FileClaim(file: file, job: job, owner: owner, attempt: file.attempts)
            }
            if let claim { return claim }
        }
        return nil
    }

    /// One transaction locking the job, then the file (the order every writer takes); false when the claim no
    /// longer holds the file.
    public func fileSetTiles(_ claim: FileClaim, tilesTotal: Int, footprint: Footprint?, now: Date) async throws -> Bool {
        try await transaction { [self] c in
            guard var job = try await lockJob(claim.job.id, on: c), var file = try await held(claim, on: c) else { return false }
            FileTransition.setTiles(&file, job: &job, total: tilesTotal, footprint: footprint, now: now)
            try await update("jobs", job, on: c)
            try await update("files", file, on: c)
            return true
        }
    }

    /// One transaction locking the job, then the file; writes the job's `job.progress` delivery when its progress
    /// passes a new step.
    public func fileHeartbeat(_ claim: FileClaim, tilesDone: Int, lease: TimeInterval, now: Date) async throws -> Bool {
        try await transaction { [self] c in
            // The job first, then the file: the order every writer takes.
            guard var job = try await lockJob(claim.job.id, on: c), var file = try await held(claim, on: c), !job.status.isFinal else {
                return false
            }
            FileTransition.heartbeat(&file, job: &job, tilesDone: tilesDone, lease: lease, now: now)
            try await enqueueProgressEvent(&job, now: now, on: c)
            try await update("jobs", job, on: c)
            try await update("files", file, on: c)
            return true
        }
    }

    /// One transaction locking the job, then the file; a retryable failure put back in the queue is announced with
    /// `NOTIFY geoinfer_work`.
    public func fileFinish(_ claim: FileClaim, outcome: FileOutcome, now: Date) async throws -> JobRecord? {
        try await transaction { [self] c in
            guard var job = try await lockJob(claim.job.id, on: c), var file = try await held(claim, on: c) else { return nil }
            let requeued = FileTransition.finish(&file, job: &job, outcome: outcome, now: now)
            if case .succeeded(let result, _, _, _) = outcome {
                try await c.query(
                    #"""
                    INSERT INTO "fileResults" ("fileID", "result") VALUES (\#(file.id), \#(ByteBuffer(bytes: result)))
                    ON CONFLICT ("fileID") DO UPDATE SET "result" = EXCLUDED."result"
                    """#, logger: logger)
            }
            try await enqueueProgressEvent(&job, now: now, on: c)
            try await update("jobs", job, on: c)
            try await update("files", file, on: c)
            if requeued { try await notifyWork(on: c) }
            return job
        }
    }

    /// One read; a succeeded file whose result is missing is left out.
    public func fileResults(_ jobID: String) async throws -> [(file: FileRecord, result: Data)] {
        try await read { [self] c in
            let files = try await records(
                FileRecord.self,
                #"""
                SELECT row_to_json(f)::text FROM files f WHERE "jobID" = \#(jobID) AND "status" = 'succeeded' ORDER BY "ordinal"
                """#, on: c)
            var results: [Int64: Data] = [:]
            let rows = try await c.query(
                #"""
                SELECT r."fileID", r."result" FROM "fileResults" r JOIN files f ON f."id" = r."fileID"
                WHERE f."jobID" = \#(jobID) AND f."status" = 'succeeded'
                """#, logger: logger)
            for try await (id, bytes) in rows.decode((Int64, ByteBuffer).self) { results[id] = Data(bytes.readableBytesView) }
            return files.compactMap { f in f.id.flatMap { results[$0] }.map { (f, $0) } }
        }
    }
}
