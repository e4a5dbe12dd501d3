public import Foundation
public import Jobs
import PostgresNIO

extension PostgresJobStore {
    /// Seconds since 1970, as the schema keeps times.
    static func t(_ date: Date) -> Double { date.timeIntervalSince1970 }

    func lockJob(_ id: String, on c: PostgresConnection) async throws -> JobRecord? {
        try await record(JobRecord.self, #"SELECT row_to_json(j)::text FROM jobs j WHERE "id" = \#(id) FOR UPDATE"#, on: c)
    }

    func filesOf(_ job: String, on c: PostgresConnection) async throws -> [FileRecord] {
        try await records(FileRecord.self, #"SELECT row_to_json(f)::text FROM files f WHERE "jobID" = \#(job) ORDER BY "ordinal""#, on: c)
    }

    func enqueueProgressEvent(_ job: inout JobRecord, now: Date, on c: PostgresConnection) async throws {
        if let d = try events?.progressDelivery(for: &job, now: now) { try await insert("webhookDeliveries", [d], on: c) }
    }

    func enqueueFinalEvent(_ job: JobRecord, now: Date, on c: PostgresConnection) async throws {
        guard let events, job.webhookURL != nil else { return }
        if let d = try events.finalEvent(job: job, files: try await filesOf(job.id, on: c), now: now) {
            try await insert("webhookDeliveries", [d], on: c)
        }
    }

    /// One transaction of up to 120 s (files are inserted 2,000 at a time); an advisory lock on the idempotency key
    /// makes a second request with that key wait for the first. Announces the work with `NOTIFY geoinfer_work`.
    public func jobCreate(_ p: JobCreate) async throws -> (job: JobRecord, created: Bool) {
        // A job of many thousand files is one large insert: it gets longer than other operations.
        try await transaction(limit: .seconds(120)) { [self] c in
            if let key = p.idempotencyKey {
                // Two requests with one key: the second waits for the first's row, then finds it.
                try await c.query("SELECT pg_advisory_xact_lock(hashtext(\(key)))", logger: logger)
                if let existing = try await record(
                    JobRecord.self, #"SELECT row_to_json(j)::text FROM jobs j WHERE "idempotencyKey" = \#(key)"#, on: c)
                {
                    return (existing, false)
                }
            }
            let job = p.jobRecord
            try await insert("jobs", [job], on: c)
            let rows = p.fileRecords
            for batch in stride(from: 0, to: rows.count, by: 2000) {
                try await insert("files", Array(rows[batch..<min(batch + 2000, rows.count)]), on: c)
            }
            if mirror { try await enqueueMirror(job: p.id, p.uploadMirrorRequests, now: p.createdAt, on: c) }
            try await notifyWork(on: c)
            return (job, true)
        }
    }

    /// One read on a pooled connection; nothing is cached, so every process's writes show at once.
    public func jobGet(_ id: String) async throws -> JobRecord? {
        try await read { [self] c in
            try await record(JobRecord.self, #"SELECT row_to_json(j)::text FROM jobs j WHERE "id" = \#(id)"#, on: c)
        }
    }

    /// One read; finds the job whatever its state.
    public func jobFind(idempotencyKey: String) async throws -> JobRecord? {
        try await read { [self] c in
            try await record(JobRecord.self, #"SELECT row_to_json(j)::text FROM jobs j WHERE "idempotencyKey" = \#(idempotencyKey)"#, on: c)
        }
    }

    /// One read, ordered by `createdAt`, then id, both descending.
    public func jobList(status: JobStatus?, limit: Int, after: JobRecord?, owner: String?) async throws -> [JobRecord] {
        let afterTime = after.map { Self.t($0.createdAt) }
        let afterID = after?.id
        return try await read { [self] c in
            try await records(
                JobRecord.self,
                #"""
                SELECT row_to_json(j)::text FROM jobs j
                WHERE (\#(status?.rawValue)::text IS NULL OR "status" = \#(status?.rawValue))
                  AND (\#(owner)::text IS NULL OR "ownerKeyID" = \#(owner))
                  AND (\#(afterTime)::double precision IS NULL OR "createdAt" < \#(afterTime) OR ("createdAt" = \#(afterTime) AND "id" < \#(afterID)))
                ORDER BY "createdAt" DESC, "id" DESC LIMIT \#(limit)
                """#, on: c)
        }
    }

    /// One read: the job's files in ordinal order (none when the job is unknown).
    public func jobFiles(_ id: String) async throws -> [FileRecord] {
        try await read { [self] c in try await filesOf(id, on: c) }
    }

    /// One transaction holding the job's row lock; a job already final is returned unchanged.
    public func jobCancel(_ id: String, now: Date) async throws -> JobRecord? {
        try await transaction { [self] c in
            guard var job = try await lockJob(id, on: c) else { return nil }
            guard !job.status.isFinal else { return job }
            try await c.query(
                #"""
                UPDATE files SET "status" = 'cancelled', "leaseOwner" = NULL, "leaseExpiresAt" = NULL, "finishedAt" = \#(Self.t(now))
                WHERE "jobID" = \#(id) AND "status" IN ('queued', 'running')
                """#, logger: logger)
            job.cancel(now: now)
            try await update("jobs", job, on: c)
            try await enqueueFinalEvent(job, now: now, on: c)
            return job
        }
    }

    /// One transaction holding the job's row lock; the files put back in the queue are announced with
    /// `NOTIFY geoinfer_work`. A job that cannot be retried is returned unchanged.
    public func jobRetryFailed(_ id: String, now: Date) async throws -> JobRecord? {
        try await transaction { [self] c in
            guard var job = try await lockJob(id, on: c) else { return nil }
            guard job.canRetryFailed else { return job }
            var tiles = 0
            for try await (n, ) in try await c.query(
                #"SELECT COALESCE(SUM("tilesTotal"), 0)::bigint FROM files WHERE "jobID" = \#(id) AND "status" = 'failed'"#,
                logger: logger
            ).decode((Int64,).self) { tiles = Int(n) }
            try await c.query(
                #"""
                UPDATE files SET "status" = 'queued', "attempts" = 0, "error" = NULL, "tilesDone" = 0, "finishedAt" = NULL
                WHERE "jobID" = \#(id) AND "status" = 'failed'
                """#, logger: logger)
            job.retryFailed(failedTiles: tiles, now: now)
            try await update("jobs", job, on: c)
            try await notifyWork(on: c)
            return job
        }
    }

    /// One read of the queued or running jobs whose succeeded and failed files add up to all of them.
    public func jobsAwaitingFinalize() async throws -> [JobRecord] {
        try await read { [self] c in
            try await records(
                JobRecord.self,
                #"""
                SELECT row_to_json(j)::text FROM jobs j
                WHERE "status" IN ('queued', 'running') AND "succeededFiles" + "failedFiles" = "totalFiles"
                """#, on: c)
        }
    }

    /// One transaction holding the job's row lock; a job not awaiting finalization is returned unchanged. Copies to
    /// the job's own output prefix are queued even when the store does not mirror.
    public func jobFinalize(_ id: String, now: Date, objects: [MirrorRequest], mergedDetections: Int?) async throws -> JobRecord? {
        try await transaction { [self] c in
            guard var job = try await lockJob(id, on: c) else { return nil }
            guard job.awaitsFinalize else { return job }
            job.finalize(now: now, mergedDetections: mergedDetections)
            try await update("jobs", job, on: c)
            try await enqueueFinalEvent(job, now: now, on: c)
            // Copies to a job's own output prefix go in the outbox even when the mirror is off.
            try await enqueueMirror(job: id, objects.filter { mirror || $0.isOutputCopy }, now: now, on: c)
            return job
        }
    }

    /// One read; a state with no rows is absent.
    public func counts() async throws -> (jobs: [JobStatus: Int], files: [FileStatus: Int]) {
        try await read { [self] c in
            var jobs: [JobStatus: Int] = [:]
            for try await (s, n) in try await c.query(#"SELECT "status", COUNT(*) FROM jobs GROUP BY "status""#, logger: logger).decode(
                (String, Int64).self)
            {
                if let s = JobStatus(rawValue: s) { jobs[s] = Int(n) }
            }
            var files: [FileStatus: Int] = [:]
            for try await (s, n) in try await c.query(#"SELECT "status", COUNT(*) FROM files GROUP BY "status""#, logger: logger).decode(
                (String, Int64).self)
            {
                if let s = FileStatus(rawValue: s) { files[s] = Int(n) }
            }
            return (jobs, files)
        }
    }
}
