import Foundation
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

    /// One read of the queued or running jobs whose succeeded and failed files add up to all of them.
    public func jobsAwaitingFinalize() async throws -> [JobRecord] {
        try await read { [self] c in
            try await records(
                JobRecord.self,
                #"""
                SELECT row_to_json(j)::text FROM jobs j
                WHERE "status" IN ('queued', 'running') AND "succeededFiles" + "failedFiles" = "totalFiles"
                  AND "receiving" IS NULL
                """#, on: c)
        }
    }

    /// One read: the jobs still receiving their uploads, oldest first.
    public func jobsReceiving() async throws -> [JobRecord] {
        try await read { [self] c in
            try await records(
                JobRecord.self, #"SELECT row_to_json(j)::text FROM jobs j WHERE "receiving" IS NOT NULL ORDER BY "createdAt""#, on: c)
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
