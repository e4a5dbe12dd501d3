public import Foundation
public import Jobs
import PostgresNIO

extension PostgresJobStore {
    /// One transaction's primitives on its connection. A `lock…` read takes the rows with
    /// `FOR UPDATE`, so claimers of one job queue on its row (every writer locks the job before
    /// its files); a claim's file is taken with `SKIP LOCKED`.
    public struct Transaction: JobStoreTransaction {
        let store: PostgresJobStore
        let c: PostgresConnection

        private func record<T: Decodable>(_ type: T.Type, _ query: PostgresQuery) async throws -> T? {
            try await store.record(type, query, on: c)
        }

        private func records<T: Decodable>(_ type: T.Type, _ query: PostgresQuery) async throws -> [T] {
            try await store.records(type, query, on: c)
        }

        private func count(_ query: PostgresQuery) async throws -> Int {
            var n = 0
            for try await (value, ) in try await c.query(query, logger: store.logger).decode((Int64,).self) { n = Int(value) }
            return n
        }

        /// The job, `FOR UPDATE`.
        public func lockJob(_ id: String) async throws -> JobRecord? {
            try await store.lockJob(id, on: c)
        }

        /// The fairest job with work, chosen by a plain read, then locked `FOR UPDATE` (the caller
        /// checks it again: another claimer may have taken its last file meanwhile).
        public func lockFairestJobWithWork(now: Date, excluding: Set<String>) async throws -> JobRecord? {
            var id: String?
            let rows = try await c.query(
                #"""
                SELECT j."id" FROM jobs j
                WHERE j."status" IN ('queued', 'running') AND NOT (j."id" = ANY(\#(excluding.sorted())))
                  AND (EXISTS (SELECT 1 FROM files f WHERE f."jobID" = j."id" AND f."status" = 'queued')
                       OR EXISTS (SELECT 1 FROM files f WHERE f."jobID" = j."id" AND f."status" = 'running' AND f."leaseExpiresAt" < \#(PostgresJobStore.t(now))))
                ORDER BY j."claims" ASC, j."createdAt" ASC, j."id" ASC
                LIMIT 1
                """#, logger: store.logger)
            for try await (found, ) in rows.decode((String,).self) { id = found }
            guard let id else { return nil }
            return try await store.lockJob(id, on: c)
        }

        /// A transaction-scoped advisory lock on the key: a second request with it waits for this
        /// transaction, then finds its job.
        public func lockIdempotencyKey(_ key: String) async throws {
            try await c.query("SELECT pg_advisory_xact_lock(hashtext(\(key)))", logger: store.logger)
        }

        /// The job created with this key.
        public func job(idempotencyKey: String) async throws -> JobRecord? {
            try await record(JobRecord.self, #"SELECT row_to_json(j)::text FROM jobs j WHERE "idempotencyKey" = \#(idempotencyKey)"#)
        }

        /// Inserts the job, then its files 2,000 at a time.
        public func insert(_ job: JobRecord, files: [FileRecord]) async throws {
            try await store.insert("jobs", [job], on: c)
            try await insert(files: files)
        }

        /// Inserts files of a job that exists.
        public func insert(files: [FileRecord]) async throws {
            for batch in stride(from: 0, to: files.count, by: 2000) {
                try await store.insert("files", Array(files[batch..<min(batch + 2000, files.count)]), on: c)
            }
        }

        /// Deletes the job; its rows in other tables go by their foreign keys' cascades.
        public func delete(job id: String) async throws {
            try await c.query(#"DELETE FROM jobs WHERE "id" = \#(id)"#, logger: store.logger)
        }

        /// Writes every column of the job.
        public func update(_ job: JobRecord) async throws { try await store.update("jobs", job, on: c) }

        /// The job's files in ordinal order.
        public func files(ofJob id: String) async throws -> [FileRecord] { try await store.filesOf(id, on: c) }

        /// The sum of `tilesTotal` over the job's files in these states.
        public func tilesTotal(ofJob id: String, in statuses: [FileStatus]) async throws -> Int {
            try await count(
                #"""
                SELECT COALESCE(SUM("tilesTotal"), 0)::bigint FROM files WHERE "jobID" = \#(id) AND "status" = ANY(\#(statuses.map(\.rawValue)))
                """#)
        }

        /// One `UPDATE` of the job's files in the change's states.
        public func update(filesOfJob id: String, _ change: FileBulkChange) async throws {
            guard !change.set.isEmpty, !change.from.isEmpty else { return }
            var binds = PostgresBindings()
            for field in change.set {
                switch field.value {
                case .text(let s): binds.append(s)
                case .integer(let n): binds.append(n)
                case .time(let d): binds.append(d.map(PostgresJobStore.t))
                }
            }
            binds.append(id)
            binds.append(change.from.map(\.rawValue))
            let n = change.set.count
            let assignments = change.set.enumerated().map { i, field in "\"\(field.column)\" = $\(i + 1)" }.joined(separator: ", ")
            try await c.query(
                PostgresQuery(
                    unsafeSQL: #"UPDATE files SET \#(assignments) WHERE "jobID" = $\#(n + 1) AND "status" = ANY($\#(n + 2))"#, binds: binds),
                logger: store.logger)
        }

        /// The number of jobs in these states that use the version.
        public func countJobs(model name: String, version: String, in statuses: [JobStatus]) async throws -> Int {
            try await count(
                #"""
                SELECT count(*) FROM jobs WHERE "modelName" = \#(name) AND "modelVersion" = \#(version) AND "status" = ANY(\#(statuses.map(\.rawValue)))
                """#)
        }

        /// `NOTIFY geoinfer_work`, delivered when the transaction commits.
        public func notifyWork() async throws { try await store.notifyWork(on: c) }

        /// The job, then the file, `FOR UPDATE`.
        public func lockJobAndFile(job: String, file: Int64) async throws -> (job: JobRecord, file: FileRecord)? {
            guard let j = try await store.lockJob(job, on: c),
                let f = try await record(FileRecord.self, #"SELECT row_to_json(f)::text FROM files f WHERE "id" = \#(file) FOR UPDATE"#),
                f.jobID == job
            else { return nil }
            return (j, f)
        }

        /// The file of the job that the first selector to find one names, `FOR UPDATE SKIP LOCKED`:
        /// each an index lookup, and a file another process is claiming is passed over.
        public func firstFile(ofJob id: String, _ selectors: [FileSelector]) async throws -> FileRecord? {
            for selector in selectors {
                let found =
                    switch selector {
                    case .leaseExpired(let now):
                        try await record(
                            FileRecord.self,
                            #"""
                            SELECT row_to_json(f)::text FROM files f
                            WHERE "jobID" = \#(id) AND "status" = \#(FileStatus.running.rawValue) AND "leaseExpiresAt" < \#(PostgresJobStore.t(now))
                            ORDER BY "ordinal" LIMIT 1 FOR UPDATE SKIP LOCKED
                            """#)
                    case .queued:
                        try await record(
                            FileRecord.self,
                            #"""
                            SELECT row_to_json(f)::text FROM files f WHERE "jobID" = \#(id) AND "status" = \#(FileStatus.queued.rawValue)
                            ORDER BY "ordinal" LIMIT 1 FOR UPDATE SKIP LOCKED
                            """#)
                    }
                if let found { return found }
            }
            return nil
        }

        /// Writes every column of the file.
        public func update(_ file: FileRecord) async throws { try await store.update("files", file, on: c) }

        /// Keeps the result document, replacing one kept before.
        public func keepResult(_ result: Data, file id: Int64) async throws {
            try await c.query(
                #"""
                INSERT INTO "fileResults" ("fileID", "result") VALUES (\#(id), \#(ByteBuffer(bytes: result)))
                ON CONFLICT ("fileID") DO UPDATE SET "result" = EXCLUDED."result"
                """#, logger: store.logger)
        }

        /// Inserts the delivery.
        public func insert(_ delivery: WebhookDelivery) async throws { try await store.insert("webhookDeliveries", [delivery], on: c) }

        /// The delivery, `FOR UPDATE`.
        public func lockDelivery(_ id: String) async throws -> WebhookDelivery? {
            try await record(
                WebhookDelivery.self, #"SELECT row_to_json(d)::text FROM "webhookDeliveries" d WHERE "id" = \#(id) FOR UPDATE"#)
        }

        /// The job's newest delivery, `FOR UPDATE`.
        public func lockNewestDelivery(ofJob id: String) async throws -> WebhookDelivery? {
            try await record(
                WebhookDelivery.self,
                #"""
                SELECT row_to_json(d)::text FROM "webhookDeliveries" d WHERE "jobID" = \#(id) ORDER BY "createdAt" DESC, "id" DESC LIMIT 1 FOR UPDATE
                """#)
        }

        /// Writes every column of the delivery.
        public func update(_ delivery: WebhookDelivery) async throws { try await store.update("webhookDeliveries", delivery, on: c) }

        /// Inserts the attempt (its delivery must exist: a foreign key).
        public func insert(_ attempt: WebhookAttempt) async throws { try await store.insert("webhookAttempts", [attempt], on: c) }

        /// The mirror rows of these names, `FOR UPDATE`.
        public func lockMirrorObjects(named names: [String]) async throws -> [MirrorObject] {
            guard !names.isEmpty else { return [] }
            return try await records(
                MirrorObject.self, #"SELECT row_to_json(m)::text FROM "mirrorObjects" m WHERE "name" = ANY(\#(names)) FOR UPDATE"#)
        }

        /// The leased rows of `origin` not synced, `FOR UPDATE`.
        public func lockLeasedMirrorObjects(origin: String) async throws -> [MirrorObject] {
            try await records(
                MirrorObject.self,
                #"""
                SELECT row_to_json(m)::text FROM "mirrorObjects" m
                WHERE "origin" = \#(origin) AND "leaseOwner" IS NOT NULL AND "status" <> \#(MirrorStatus.synced.rawValue)
                ORDER BY "id" FOR UPDATE
                """#)
        }

        /// The mirror row, `FOR UPDATE`.
        public func lockMirrorObject(_ id: Int64) async throws -> MirrorObject? {
            try await record(MirrorObject.self, #"SELECT row_to_json(m)::text FROM "mirrorObjects" m WHERE "id" = \#(id) FOR UPDATE"#)
        }

        /// `INSERT … ON CONFLICT ("name") DO NOTHING`, 2,000 rows at a time; returns the names held
        /// already (a name another transaction is inserting waits for its outcome).
        public func insertIfAbsent(_ objects: [MirrorObject]) async throws -> [String] {
            var inserted = Set<String>()
            for batch in stride(from: 0, to: objects.count, by: 2000) {
                let names = try await store.insert(
                    "mirrorObjects", Array(objects[batch..<min(batch + 2000, objects.count)]), ifAbsentBy: "name", on: c)
                inserted.formUnion(names)
            }
            return objects.map(\.name).filter { !inserted.contains($0) }
        }

        /// Writes every column of the mirror row.
        public func update(_ object: MirrorObject) async throws { try await store.update("mirrorObjects", object, on: c) }

        /// The key, `FOR UPDATE`.
        public func lockKey(_ id: String) async throws -> APIKeyRecord? {
            try await record(APIKeyRecord.self, #"SELECT row_to_json(k)::text FROM "apiKeys" k WHERE "id" = \#(id) FOR UPDATE"#)
        }

        /// Writes every column of the key.
        public func update(_ key: APIKeyRecord) async throws { try await store.update("apiKeys", key, on: c) }

        /// `INSERT … ON CONFLICT DO NOTHING`: of two transactions adding one version, the second waits
        /// for the first and inserts nothing once it commits.
        public func insertIfAbsent(_ model: ModelRecord) async throws -> Bool {
            let json = String(decoding: try PostgresJobStore.encoder().encode(model), as: UTF8.self)
            let inserted = try await records(
                ModelRecord.self,
                #"""
                INSERT INTO models SELECT * FROM json_populate_record(NULL::models, \#(json)::json)
                ON CONFLICT ("name", "version") DO NOTHING RETURNING row_to_json(models)::text
                """#)
            return !inserted.isEmpty
        }

        /// The version, `FOR UPDATE`.
        public func lockModel(name: String, version: String) async throws -> ModelRecord? {
            try await record(
                ModelRecord.self,
                #"SELECT row_to_json(m)::text FROM models m WHERE "name" = \#(name) AND "version" = \#(version) FOR UPDATE"#)
        }

        /// Deletes the version.
        public func delete(_ model: ModelRecord) async throws {
            try await c.query(#"DELETE FROM models WHERE "name" = \#(model.name) AND "version" = \#(model.version)"#, logger: store.logger)
        }
    }
}
