public import Foundation
import GRDB
public import Jobs

extension SQLiteJobStore {
    /// One write transaction's primitives over the writer connection. The first step opens the
    /// transaction (`BEGIN IMMEDIATE`); writes wait and go with the next step that reads, or with
    /// the `COMMIT`, so a transaction costs one access to the writer per read, not per statement.
    /// Rows are not locked one by one: the transaction holds the database's write lock, and the
    /// transactions of this process run one at a time.
    public final class Transaction: JobStoreTransaction {
        private let pool: DatabasePool
        private var pending: [@Sendable (Database) throws -> Void] = []
        private var begun = false
        private let durable: Bool
        /// Whether the transaction queued files: idle workers are woken once it commits.
        private(set) var queuedWork = false
        /// Called when another process held the write lock as the transaction opened.
        private let lockBusy: @Sendable () -> Void

        init(pool: DatabasePool, durable: Bool, lockBusy: @escaping @Sendable () -> Void = {}) {
            self.pool = pool
            self.durable = durable
            self.lockBusy = lockBusy
        }

        /// One access to the writer: the transaction opened if it is not yet, the waiting writes, then `body`.
        ///
        /// Each access runs on the calling thread: no hand-off to the writer's thread and back,
        /// which a worker paid several times a file (BENCHMARKS.md). This process's transactions
        /// run one at a time, so the writer's queue is free, and once the transaction is open its
        /// lock is held and a step waits for nothing but SQLite. Two waits go to the writer's
        /// queue instead, while this task is suspended: opening the transaction while another
        /// process holds the write lock (up to the busy timeout), and a durable commit, which
        /// waits for the disk.
        private func access<T: Sendable>(onWriterQueue: Bool = false, _ body: @escaping @Sendable (Database) throws -> T)
            async throws -> T
        {
            let writes = pending
            let begin = !begun
            let durable = durable
            pending = []
            begun = true
            if !onWriterQueue {
                // Refused when the caller is cancelled, as the writer's queue refuses it.
                try Task.checkCancellation()
                let done = try Self.inPlace(pool) { db -> InPlace<T> in
                    if begin, try !SQLiteJobStore.beginIfFree(db, durable: durable) { return .lockBusy }
                    for write in writes { try write(db) }
                    return .done(try body(db))
                }
                if case .done(let value) = done { return value }
                lockBusy()
            }
            return try await pool.writeWithoutTransaction { db in
                if begin { try SQLiteJobStore.begin(db, durable: durable) }
                for write in writes { try write(db) }
                return try body(db)
            }
        }

        /// What an access on the calling thread came to.
        private enum InPlace<T> {
            case done(T)
            /// Another process held the write lock: nothing ran.
            case lockBusy
        }

        /// `body` on the writer connection, on the calling thread when the writer's queue is free.
        private static func inPlace<T>(_ pool: DatabasePool, _ body: (Database) throws -> T) throws -> T {
            try pool.writeWithoutTransaction(body)
        }

        /// A write that goes with the next access.
        private func write(_ body: @escaping @Sendable (Database) throws -> Void) { pending.append(body) }

        /// The waiting writes and `COMMIT` (a durable one on the writer's queue: it waits for the disk).
        func commit() async throws { try await access(onWriterQueue: durable) { db in try db.commit() } }

        /// The job.
        public func lockJob(_ id: String) async throws -> JobRecord? {
            try await access { db in try Self.job(id, db) }
        }

        /// The fairest job with work, in one access: each step an index lookup.
        public func lockFairestJobWithWork(now: Date, excluding: Set<String>) async throws -> JobRecord? {
            let skip = excluding.isEmpty ? "" : "AND j.id NOT IN (\(excluding.map { _ in "?" }.joined(separator: ", ")))"
            let arguments = StatementArguments([StoredTime(now)]) + StatementArguments(excluding.sorted())
            return try await access { db in
                try JobRecord.fetchOne(
                    db.cachedStatement(
                        sql: """
                            SELECT j.* FROM jobs j
                            WHERE j.status IN ('queued', 'running')
                              AND (EXISTS (SELECT 1 FROM files f WHERE f.jobID = j.id AND f.status = 'queued')
                                   OR EXISTS (SELECT 1 FROM files f WHERE f.jobID = j.id AND f.status = 'running' AND f.leaseExpiresAt < ?))
                              \(skip)
                            ORDER BY j.claims ASC, j.createdAt ASC, j.id ASC
                            LIMIT 1
                            """), arguments: arguments)
            }
        }

        /// The job row through a statement compiled once a connection.
        private static func job(_ id: String, _ db: Database) throws -> JobRecord? {
            try JobRecord.fetchOne(db.cachedStatement(sql: "SELECT * FROM jobs WHERE id = ?"), arguments: [id])
        }

        /// Nothing to do: write transactions are serialised.
        public func lockIdempotencyKey(_ key: String) async throws {}

        /// The job created with this key.
        public func job(idempotencyKey: String) async throws -> JobRecord? {
            try await access { db in try JobRecord.filter(Column("idempotencyKey") == idempotencyKey).fetchOne(db) }
        }

        /// Inserts the job and its files.
        public func insert(_ job: JobRecord, files: [FileRecord]) async throws {
            write { db in
                try job.insert(db)
                for var row in files { try row.insert(db) }
            }
        }

        /// Inserts files of a job that exists.
        public func insert(files: [FileRecord]) async throws {
            write { db in for var row in files { try row.insert(db) } }
        }

        /// Deletes the job; its rows in other tables go by their foreign keys' cascades.
        public func delete(job id: String) async throws {
            write { db in try db.execute(sql: "DELETE FROM jobs WHERE id = ?", arguments: [id]) }
        }

        /// Writes every column of the job.
        public func update(_ job: JobRecord) async throws {
            write { db in try job.update(db) }
        }

        /// The job's files in ordinal order.
        public func files(ofJob id: String) async throws -> [FileRecord] {
            try await access { db in try FileRecord.filter(Column("jobID") == id).order(Column("ordinal")).fetchAll(db) }
        }

        /// The sum of `tilesTotal` over the job's files in these states.
        public func tilesTotal(ofJob id: String, in statuses: [FileStatus]) async throws -> Int {
            try await access { db in
                try FileRecord.filter(Column("jobID") == id && statuses.contains(Column("status")))
                    .select(sum(Column("tilesTotal")), as: Int?.self).fetchOne(db).flatMap { $0 } ?? 0
            }
        }

        /// One `UPDATE` of the job's files in the change's states.
        public func update(filesOfJob id: String, _ change: FileBulkChange) async throws {
            guard !change.set.isEmpty, !change.from.isEmpty else { return }
            let assignments = change.set.map { "\($0.column) = ?" }.joined(separator: ", ")
            let states = change.from.map { _ in "?" }.joined(separator: ", ")
            let arguments =
                StatementArguments(change.set.map { Self.databaseValue($0.value) }) + [id]
                + StatementArguments(change.from.map(\.rawValue))
            write { db in
                try db.execute(sql: "UPDATE files SET \(assignments) WHERE jobID = ? AND status IN (\(states))", arguments: arguments)
            }
        }

        private static func databaseValue(_ value: FileField.Value) -> DatabaseValue {
            switch value {
            case .text(let s): s.databaseValue
            case .integer(let n): n.databaseValue
            case .time(let d): d.map(StoredTime.init).databaseValue
            }
        }

        /// The number of jobs in these states that use the version.
        public func countJobs(model name: String, version: String, in statuses: [JobStatus]) async throws -> Int {
            try await access { db in
                try JobRecord.filter(
                    Column("modelName") == name && Column("modelVersion") == version && statuses.contains(Column("status"))
                ).fetchCount(db)
            }
        }

        /// Idle workers of this process are woken once the transaction commits.
        public func notifyWork() async throws { queuedWork = true }

        /// The job and the file, in one access.
        public func lockJobAndFile(job: String, file: Int64) async throws -> (job: JobRecord, file: FileRecord)? {
            let found = try await access { db -> Pair? in
                guard let j = try Self.job(job, db),
                    let f = try FileRecord.fetchOne(db.cachedStatement(sql: "SELECT * FROM files WHERE id = ?"), arguments: [file]),
                    f.jobID == job
                else {
                    return nil
                }
                return Pair(job: j, file: f)
            }
            return found.map { ($0.job, $0.file) }
        }

        private struct Pair: Sendable {
            let job: JobRecord
            let file: FileRecord
        }

        /// The file of the job that the first selector to find one names, in one access: each
        /// selector an index lookup whatever the job's size.
        public func firstFile(ofJob id: String, _ selectors: [FileSelector]) async throws -> FileRecord? {
            try await access { db in
                for selector in selectors {
                    let found =
                        switch selector {
                        case .leaseExpired(let now):
                            try FileRecord.fetchOne(
                                db.cachedStatement(
                                    sql:
                                        "SELECT * FROM files WHERE jobID = ? AND status = ? AND leaseExpiresAt < ? ORDER BY ordinal LIMIT 1"
                                ),
                                arguments: [id, FileStatus.running, StoredTime(now)])
                        case .queued:
                            try FileRecord.fetchOne(
                                db.cachedStatement(sql: "SELECT * FROM files WHERE jobID = ? AND status = ? ORDER BY ordinal LIMIT 1"),
                                arguments: [id, FileStatus.queued])
                        }
                    if let found { return found }
                }
                return nil
            }
        }

        /// Writes every column of the file.
        public func update(_ file: FileRecord) async throws {
            write { db in try file.update(db) }
        }

        /// Keeps the result document, replacing one kept before.
        public func keepResult(_ result: Data, file id: Int64) async throws {
            write { db in
                try db.cachedStatement(sql: "INSERT OR REPLACE INTO fileResults (fileID, result) VALUES (?, ?)").execute(arguments: [
                    id, result,
                ])
            }
        }

        /// Inserts the delivery.
        public func insert(_ delivery: WebhookDelivery) async throws {
            write { db in try delivery.insert(db) }
        }

        /// The delivery.
        public func lockDelivery(_ id: String) async throws -> WebhookDelivery? {
            try await access { db in try WebhookDelivery.fetchOne(db, key: id) }
        }

        /// The job's newest delivery.
        public func lockNewestDelivery(ofJob id: String) async throws -> WebhookDelivery? {
            try await access { db in
                try WebhookDelivery.filter(Column("jobID") == id).order(Column("createdAt").desc, Column("id").desc).fetchOne(db)
            }
        }

        /// Writes every column of the delivery.
        public func update(_ delivery: WebhookDelivery) async throws {
            write { db in try delivery.update(db) }
        }

        /// Inserts the attempt (its delivery must exist: a foreign key).
        public func insert(_ attempt: WebhookAttempt) async throws {
            write { db in
                var a = attempt
                try a.insert(db)
            }
        }

        /// The mirror rows of these names, 500 names a query.
        public func lockMirrorObjects(named names: [String]) async throws -> [MirrorObject] {
            try await access { db in
                try stride(from: 0, to: names.count, by: 500).flatMap { start in
                    try MirrorObject.filter(names[start..<min(start + 500, names.count)].contains(Column("name"))).fetchAll(db)
                }
            }
        }

        /// The leased rows of `origin` not synced.
        public func lockLeasedMirrorObjects(origin: String) async throws -> [MirrorObject] {
            try await access { db in
                try MirrorObject.filter(
                    Column("origin") == origin && Column("leaseOwner") != nil && Column("status") != MirrorStatus.synced
                ).order(Column("id")).fetchAll(db)
            }
        }

        /// The mirror row.
        public func lockMirrorObject(_ id: Int64) async throws -> MirrorObject? {
            try await access { db in try MirrorObject.fetchOne(db, key: id) }
        }

        /// `INSERT OR IGNORE` on the name, in one access; returns the names held already.
        public func insertIfAbsent(_ objects: [MirrorObject]) async throws -> [String] {
            guard !objects.isEmpty else { return [] }
            return try await access { db in
                var present: [String] = []
                for var row in objects {
                    try row.insert(db, onConflict: .ignore)
                    if db.changesCount == 0 { present.append(row.name) }
                }
                return present
            }
        }

        /// Writes every column of the mirror row.
        public func update(_ object: MirrorObject) async throws {
            write { db in try object.update(db) }
        }

        /// The key.
        public func lockKey(_ id: String) async throws -> APIKeyRecord? {
            try await access { db in try APIKeyRecord.fetchOne(db, key: id) }
        }

        /// Writes every column of the key.
        public func update(_ key: APIKeyRecord) async throws {
            write { db in try key.update(db) }
        }

        /// `INSERT OR IGNORE` on the name and version.
        public func insertIfAbsent(_ model: ModelRecord) async throws -> Bool {
            try await access { db in
                try model.insert(db, onConflict: .ignore)
                return db.changesCount > 0
            }
        }

        /// The version.
        public func lockModel(name: String, version: String) async throws -> ModelRecord? {
            try await access { db in try ModelRecord.filter(Column("name") == name && Column("version") == version).fetchOne(db) }
        }

        /// Deletes the version.
        public func delete(_ model: ModelRecord) async throws {
            write { db in _ = try model.delete(db) }
        }
    }
}
