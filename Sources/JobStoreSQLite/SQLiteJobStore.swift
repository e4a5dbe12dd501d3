import Formats
public import Foundation
public import GRDB
public import Jobs
import Synchronization

extension JobStatus: DatabaseValueConvertible {}
extension FileStatus: DatabaseValueConvertible {}

extension JobRecord: FetchableRecord, PersistableRecord {
    /// The SQLite table of jobs.
    public static let databaseTableName = "jobs"
}

extension FileRecord: FetchableRecord, MutablePersistableRecord {
    /// The SQLite table of files (their result documents are in `fileResults`).
    public static let databaseTableName = "files"
    /// Keeps the row id SQLite assigned, so the new file can be updated by it.
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension DeliveryStatus: DatabaseValueConvertible {}
extension APIKeyScope: DatabaseValueConvertible {}

extension APIKeyRecord: FetchableRecord, PersistableRecord {
    /// The SQLite table of API keys (their hashes only).
    public static let databaseTableName = "apiKeys"
}

extension ModelRecord: FetchableRecord, PersistableRecord {
    /// The SQLite table of registered model versions.
    public static let databaseTableName = "models"
}

extension WebhookDelivery: FetchableRecord, PersistableRecord {
    /// The SQLite table of the webhook outbox.
    public static let databaseTableName = "webhookDeliveries"
}

/// An outbox row that workers lease.
protocol LeasedRow: FetchableRecord, MutablePersistableRecord, Sendable {
    var leaseOwner: String? { get set }
    var leaseExpiresAt: Date? { get set }
}

extension WebhookDelivery: LeasedRow {}
extension MirrorObject: LeasedRow {}

extension MirrorStatus: DatabaseValueConvertible {}

extension MirrorObject: FetchableRecord, MutablePersistableRecord {
    /// The SQLite table of the mirror outbox.
    public static let databaseTableName = "mirrorObjects"
    /// Keeps the row id SQLite assigned to the new mirror row.
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension WebhookAttempt: FetchableRecord, MutablePersistableRecord {
    /// The SQLite table of each delivery's attempts.
    public static let databaseTableName = "webhookAttempts"
    /// Keeps the row id SQLite assigned to the new attempt.
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// The embedded job store: one SQLite file (WAL mode) through GRDB. Safe for one process with many
/// workers; every method is one serialized write transaction or a concurrent read.
public final class SQLiteJobStore: JobStoreDriver {
    private let pool: DatabasePool
    /// Renders the webhook deliveries of jobs that progress and end (none when nil).
    public let events: (any JobEventRenderer)?
    /// Whether every stored upload and result gets a mirror row.
    public let mirrors: Bool
    /// Write transactions of this process, one at a time (another process waits on SQLite's lock).
    private let gate = SerialGate()
    /// Wakes this process's idle workers when a commit queued files (workers in other processes
    /// on the same file look again after their poll interval).
    private let signal = WorkSignal()
    /// See ``writeLockWaits``.
    private let lockWaits = Mutex(0)
    /// Jobs read lately, so that polling `GET /status` costs no database read. Every write in this
    /// process goes through `write` or `transaction`, which empty it after their commit; an entry is only kept if no
    /// write committed while it was being read (the generation did not move). Another process on
    /// the same file (`geoinfer worker` beside `serve --workers 0`) writes without telling this
    /// one, so an entry also expires after `recentLifetime`.
    private let recent = Mutex(RecentJobs())
    /// How long a job read lately answers `jobGet` from memory: the longest a write by another process on the
    /// same file can go unseen.
    public static let recentLifetime: Duration = .milliseconds(100)

    private struct RecentJobs {
        var generation = 0
        var jobs: [String: (job: JobRecord, at: ContinuousClock.Instant)] = [:]
    }

    /// Opens (creating and migrating) the database at `path`. `events` renders the webhook
    /// delivery of each job that becomes final (none when nil). With `mirror`, every stored
    /// upload and result gets a mirror row for the bucket, in the transaction that records it.
    public init(path: String, events: (any JobEventRenderer)? = nil, mirror: Bool = false) throws {
        self.events = events
        self.mirrors = mirror
        var config = Configuration()
        config.busyMode = .timeout(Self.busyTimeout)
        // A transaction's steps are separate accesses to the writer (`transaction`).
        config.allowsUnsafeTransactions = true
        // Errors and logs never show statement arguments (file names, URLs).
        config.publicStatementArguments = false
        pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
    }

    /// One write transaction of one access, in turn with the others (`durable`: see
    /// ``begin(_:durable:)``); afterwards the jobs read since the last write are forgotten.
    private func write<T: Sendable>(durable: Bool = true, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await gate.run {
            defer { forgetRecentJobs() }
            return try await pool.writeWithoutTransaction { db in
                try Self.begin(db, durable: durable)
                do {
                    let value = try body(db)
                    try db.commit()
                    return value
                } catch {
                    try? db.rollback()
                    throw error
                }
            }
        }
    }

    /// One `BEGIN IMMEDIATE … COMMIT` transaction whose steps are separate accesses to the writer
    /// connection, in turn with the other writes of this process; rolled back when `body` throws
    /// or the caller is cancelled. Afterwards the jobs read since the last write are forgotten.
    public func transaction<T: Sendable>(bulk: Bool, durable: Bool, _ body: @escaping @Sendable (Transaction) async throws -> T)
        async throws -> T
    {
        try await gate.run {
            defer { forgetRecentJobs() }
            let tx = Transaction(pool: pool, durable: durable, lockBusy: { self.lockWaits.withLock { $0 += 1 } })
            do {
                let value = try await body(tx)
                try await tx.commit()
                if tx.queuedWork { signal.fire() }
                return value
            } catch {
                await rollback()
                throw error
            }
        }
    }

    /// Returns when a commit of this process queues files (a new job, files added or put back),
    /// else after `limit`.
    public func waitForWork(upTo limit: Duration) async {
        await signal.wait(upTo: limit)
    }

    /// Idle workers waiting for work now.
    public var idleWaiters: Int { signal.waiting }

    /// Transactions that found another process holding the write lock as they opened, and waited
    /// for it on the writer's queue.
    public var writeLockWaits: Int { lockWaits.withLock { $0 } }

    /// Rolls back an open transaction from a task of its own: an access from a cancelled task is
    /// refused, and the transaction would stay open.
    private func rollback() async {
        let pool = pool
        await Task {
            try? await pool.writeWithoutTransaction { db in if db.isInsideTransaction { try db.rollback() } }
        }.value
    }

    /// `BEGIN IMMEDIATE` on the writer, after rolling back a transaction left open there (by a
    /// step that was interrupted and whose rollback failed). A `durable` transaction's `COMMIT`
    /// waits until its log is on disk, so a power loss keeps it (`synchronous = FULL`); the others
    /// do not wait (`NORMAL`, the write-ahead log's usual level): a power loss may take them back,
    /// never a crash of the process, and a later durable commit makes them durable too. The
    /// level can only be set outside a transaction, so each transaction sets its own.
    static func begin(_ db: Database, durable: Bool) throws {
        if db.isInsideTransaction { try db.rollback() }
        try db.cachedStatement(sql: durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL").execute()
        try db.beginTransaction(.immediate)
    }

    /// How long opening a write transaction waits for another process's write lock (seconds).
    static let busyTimeout: TimeInterval = 10

    /// ``begin(_:durable:)`` without waiting: false, with no transaction open, when another
    /// process holds the write lock.
    static func beginIfFree(_ db: Database, durable: Bool) throws -> Bool {
        try db.cachedStatement(sql: "PRAGMA busy_timeout = 0").execute()
        defer { try? db.cachedStatement(sql: "PRAGMA busy_timeout = \(Int(busyTimeout * 1000))").execute() }
        do {
            try begin(db, durable: durable)
            return true
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && !db.isInsideTransaction {
            return false
        }
    }

    /// The writer's safety level now (`PRAGMA synchronous`: 1 normal, 2 full): the level the last
    /// transaction committed at.
    func writerSafetyLevel() async throws -> Int {
        try await gate.run { try await pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 } }
    }

    private func forgetRecentJobs() {
        recent.withLock {
            $0.generation += 1
            $0.jobs.removeAll(keepingCapacity: true)
        }
    }

    /// Ordered, named migrations; each runs in its own transaction and is recorded once applied.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-jobs-files") { db in
            try db.create(table: "jobs") { t in
                t.primaryKey("id", .text)
                t.column("status", .text).notNull().indexed()
                t.column("createdAt", .datetime).notNull().indexed()
                t.column("updatedAt", .datetime).notNull()
                t.column("finishedAt", .datetime)
                t.column("webhookURL", .text)
                t.column("idempotencyKey", .text).unique()
                t.column("scoreThreshold", .double)
                t.column("overlap", .double)
                t.column("modelName", .text).notNull()
                t.column("totalFiles", .integer).notNull()
                t.column("succeededFiles", .integer).notNull()
                t.column("failedFiles", .integer).notNull()
                t.column("tilesTotal", .integer).notNull()
                t.column("tilesDone", .integer).notNull()
                t.column("claims", .integer).notNull()
            }
            try db.create(table: "files") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("jobID", .text).notNull().references("jobs", onDelete: .cascade)
                t.column("ordinal", .integer).notNull()
                t.column("originalName", .text).notNull()
                t.column("name", .text).notNull()
                t.column("storedPath", .text).notNull()
                t.column("sizeBytes", .integer).notNull()
                t.column("sha256", .text).notNull()
                t.column("status", .text).notNull()
                t.column("attempts", .integer).notNull()
                t.column("leaseOwner", .text)
                t.column("leaseExpiresAt", .datetime)
                t.column("tilesTotal", .integer).notNull()
                t.column("tilesDone", .integer).notNull()
                t.column("detections", .integer).notNull()
                t.column("error", .text)
                t.column("startedAt", .datetime)
                t.column("finishedAt", .datetime)
                t.column("seconds", .double)
                t.uniqueKey(["jobID", "ordinal"])
                t.uniqueKey(["jobID", "name"])
            }
            try db.create(index: "files_claim", on: "files", columns: ["status", "leaseExpiresAt"])
            try db.create(table: "fileResults") { t in
                t.primaryKey("fileID", .integer).references("files", onDelete: .cascade)
                t.column("result", .blob).notNull()
            }
        }
        m.registerMigration("v2-webhooks") { db in
            try db.alter(table: "jobs") { t in t.add(column: "webhookSecret", .text) }
            try db.alter(table: "files") { t in t.add(column: "classCounts", .text) }
            try db.create(table: "webhookDeliveries") { t in
                t.primaryKey("id", .text)
                t.column("jobID", .text).notNull().indexed().references("jobs", onDelete: .cascade)
                t.column("event", .text).notNull()
                t.column("url", .text).notNull()
                t.column("payload", .blob).notNull()
                t.column("secret", .text)
                t.column("status", .text).notNull()
                t.column("attempts", .integer).notNull()
                t.column("step", .integer).notNull()
                t.column("nextAttemptAt", .datetime)
                t.column("leaseOwner", .text)
                t.column("leaseExpiresAt", .datetime)
                t.column("lastStatusCode", .integer)
                t.column("lastError", .text)
                t.column("createdAt", .datetime).notNull()
                t.column("deliveredAt", .datetime)
            }
            try db.create(index: "webhookDeliveries_due", on: "webhookDeliveries", columns: ["status", "nextAttemptAt"])
            try db.create(table: "webhookAttempts") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("deliveryID", .text).notNull().indexed().references("webhookDeliveries", onDelete: .cascade)
                t.column("number", .integer).notNull()
                t.column("at", .datetime).notNull()
                t.column("statusCode", .integer)
                t.column("error", .text)
                t.column("seconds", .double).notNull()
            }
        }
        m.registerMigration("v3-api-keys") { db in
            try db.create(table: "apiKeys") { t in
                t.primaryKey("id", .text)
                t.column("name", .text).notNull()
                t.column("scope", .text).notNull()
                t.column("hash", .text).notNull().unique()
                t.column("prefix", .text).notNull()
                t.column("createdAt", .datetime).notNull()
                t.column("revokedAt", .datetime)
            }
            try db.alter(table: "jobs") { t in t.add(column: "ownerKeyID", .text).indexed() }
        }
        m.registerMigration("v4-key-limits") { db in
            try db.alter(table: "apiKeys") { t in
                t.add(column: "maxFiles", .integer)
                t.add(column: "maxFileBytes", .integer)
                t.add(column: "maxRequestBytes", .integer)
            }
        }
        m.registerMigration("v5-progress-events") { db in
            try db.alter(table: "jobs") { t in t.add(column: "progressNotified", .integer).notNull().defaults(to: 0) }
        }
        m.registerMigration("v6-mirror") { db in
            try db.create(table: "mirrorObjects") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("jobID", .text).notNull().indexed().references("jobs", onDelete: .cascade)
                t.column("name", .text).notNull().unique()
                t.column("status", .text).notNull()
                t.column("metadata", .text).notNull()
                t.column("replace", .boolean).notNull()
                t.column("attempts", .integer).notNull()
                t.column("nextAttemptAt", .datetime)
                t.column("leaseOwner", .text)
                t.column("leaseExpiresAt", .datetime)
                t.column("lastError", .text)
                t.column("sizeBytes", .integer)
                t.column("crc32c", .text)
                t.column("generation", .text)
                t.column("createdAt", .datetime).notNull()
                t.column("syncedAt", .datetime)
            }
            try db.create(index: "mirrorObjects_due", on: "mirrorObjects", columns: ["nextAttemptAt"])
        }
        // A claim finds the next file of one job through this index, whatever the job's size.
        m.registerMigration("v7-claim-index") { db in
            try db.create(index: "files_job_claim", on: "files", columns: ["jobID", "status", "ordinal"])
        }
        m.registerMigration("v8-idempotency-fingerprint") { db in
            try db.alter(table: "jobs") { t in t.add(column: "idempotencyFingerprint", .text) }
        }
        // Where each file lies in WGS84 (JSON), for the dashboard's map.
        m.registerMigration("v9-file-footprint") { db in
            try db.alter(table: "files") { t in t.add(column: "footprint", .text) }
        }
        m.registerMigration("v10-result-formats") { db in
            try db.alter(table: "jobs") { t in
                t.add(column: "formats", .text)
                t.add(column: "outCRS", .text)
                t.add(column: "mergedDetections", .integer)
                t.add(column: "outputPrefix", .text)
                t.add(column: "nmsMetric", .text)
            }
            try db.alter(table: "mirrorObjects") { t in t.add(column: "source", .text) }
        }
        // The model registry, and the model version each job runs.
        m.registerMigration("v11-model-registry") { db in
            try db.create(table: "models") { t in
                t.column("name", .text).notNull()
                t.column("version", .text).notNull()
                t.column("sha256", .text).notNull()
                t.column("path", .text).notNull()
                t.column("sizeBytes", .integer).notNull()
                t.column("manifest", .text).notNull()
                t.column("metrics", .text)
                t.column("addedAt", .datetime).notNull()
                t.primaryKey(["name", "version"])
            }
            try db.alter(table: "jobs") { t in
                t.add(column: "modelVersion", .text)
                t.add(column: "modelSHA256", .text)
            }
        }
        // The data directory that holds each mirrored file.
        m.registerMigration("v12-mirror-origin") { db in
            try db.alter(table: "mirrorObjects") { t in t.add(column: "origin", .text) }
        }
        // Ground truth a job's results are scored against.
        m.registerMigration("v13-ground-truth") { db in
            try db.alter(table: "jobs") { t in
                t.add(column: "groundTruth", .text)
                t.add(column: "groundTruthName", .text)
            }
        }
        // The upload still adding files to a job made while it streams in.
        m.registerMigration("v14-receiving") { db in
            try db.alter(table: "jobs") { t in t.add(column: "receiving", .text) }
        }
        return m
    }

    /// Answers from memory when the job was read within `recentLifetime` and no write in this process came
    /// since; else a concurrent read.
    public func jobGet(_ id: String) async throws -> JobRecord? {
        let now = ContinuousClock.now
        let (generation, known) = recent.withLock { ($0.generation, $0.jobs[id]) }
        if let known, now - known.at < Self.recentLifetime { return known.job }
        let job = try await pool.read { db in
            try JobRecord.fetchOne(db.cachedStatement(sql: "SELECT * FROM jobs WHERE id = ?"), arguments: [id])
        }
        if let job {
            recent.withLock { r in
                guard r.generation == generation else { return }
                if r.jobs.count >= 10_000 { r.jobs.removeAll(keepingCapacity: true) }
                r.jobs[id] = (job, now)
            }
        }
        return job
    }

    /// A concurrent read; finds the job whatever its state.
    public func jobFind(idempotencyKey: String) async throws -> JobRecord? {
        try await pool.read { db in try JobRecord.filter(Column("idempotencyKey") == idempotencyKey).fetchOne(db) }
    }

    /// A concurrent read, ordered by `createdAt`, then id, both descending.
    public func jobList(status: JobStatus?, limit: Int, after: JobRecord?, owner: String?) async throws -> [JobRecord] {
        try await pool.read { db in
            var request = JobRecord.order(Column("createdAt").desc, Column("id").desc).limit(limit)
            if let status { request = request.filter(Column("status") == status) }
            if let owner { request = request.filter(Column("ownerKeyID") == owner) }
            if let after {
                request = request.filter(
                    Column("createdAt") < after.createdAt
                        || (Column("createdAt") == after.createdAt && Column("id") < after.id))
            }
            return try request.fetchAll(db)
        }
    }

    /// A concurrent read: the job's files in ordinal order (none when the job is unknown).
    public func jobFiles(_ id: String) async throws -> [FileRecord] {
        try await pool.read { db in try FileRecord.filter(Column("jobID") == id).order(Column("ordinal")).fetchAll(db) }
    }

    /// A concurrent read of the queued or running jobs whose succeeded and failed files add up to all of them.
    public func jobsAwaitingFinalize() async throws -> [JobRecord] {
        try await pool.read { db in
            try JobRecord.fetchAll(
                db,
                sql: """
                    SELECT * FROM jobs WHERE status IN ('queued', 'running') AND succeededFiles + failedFiles = totalFiles
                      AND receiving IS NULL
                    """)
        }
    }

    /// A concurrent read of the file of that name and its result.
    public func file(ofJob jobID: String, named name: String) async throws -> (file: FileRecord, result: Data?)? {
        try await pool.read { db in
            guard let f = try FileRecord.filter(Column("jobID") == jobID && Column("name") == name).fetchOne(db) else { return nil }
            return (f, try Data.fetchOne(db, sql: "SELECT result FROM fileResults WHERE fileID = ?", arguments: [f.id]))
        }
    }

    /// A concurrent read of the jobs still receiving their uploads, oldest first.
    public func jobsReceiving() async throws -> [JobRecord] {
        try await pool.read { db in
            try JobRecord.fetchAll(db, sql: "SELECT * FROM jobs WHERE receiving IS NOT NULL ORDER BY createdAt")
        }
    }

    /// A concurrent read; a succeeded file whose result is missing is left out.
    public func fileResults(_ jobID: String) async throws -> [(file: FileRecord, result: Data)] {
        try await pool.read { db in
            let files = try FileRecord.filter(Column("jobID") == jobID && Column("status") == FileStatus.succeeded)
                .order(Column("ordinal")).fetchAll(db)
            return try files.compactMap { f in
                try Data.fetchOne(db, sql: "SELECT result FROM fileResults WHERE fileID = ?", arguments: [f.id]).map { (f, $0) }
            }
        }
    }

    /// A delivery that may be attempted at `?` (now, given twice): pending, due, and not leased.
    private static let due = "status = 'pending' AND nextAttemptAt <= ? AND (leaseExpiresAt IS NULL OR leaseExpiresAt < ?)"

    /// A concurrent read first, so idle pollers take no write lock; then the earliest due delivery is leased in one
    /// write transaction.
    public func deliveryClaimNext(owner: String, lease: TimeInterval, now: Date) async throws -> WebhookDelivery? {
        try await claimDue(WebhookDelivery.self, due: Self.due, order: "nextAttemptAt", owner: owner, lease: lease, now: now)
    }

    /// Leases the first due row of an outbox to `owner`. Idle pollers cost little: a concurrent
    /// read answers "nothing due" without taking the write lock.
    private func claimDue<Leased: LeasedRow>(
        _ type: Leased.Type, due: String, order: String, owner: String, lease: TimeInterval,
        now: Date, extra: [String] = []
    ) async throws -> Leased? {
        let table = Leased.databaseTableName
        let arguments = StatementArguments([StoredTime(now), StoredTime(now)]) + StatementArguments(extra)
        let any = try await pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM \(table) WHERE \(due))", arguments: arguments) ?? false
        }
        guard any else { return nil }
        // A lease lost in a power loss is taken again.
        return try await write(durable: false) { db in
            guard
                var row = try Leased.fetchOne(
                    db, sql: "SELECT * FROM \(table) WHERE \(due) ORDER BY \(order) LIMIT 1", arguments: arguments)
            else {
                return nil
            }
            row.leaseOwner = owner
            row.leaseExpiresAt = now.addingTimeInterval(lease)
            try row.update(db)
            return row
        }
    }

    /// A concurrent read; the attempts in the order they were made.
    public func deliveryList(job: String) async throws -> (deliveries: [WebhookDelivery], attempts: [WebhookAttempt]) {
        try await pool.read { db in
            let deliveries = try WebhookDelivery.filter(Column("jobID") == job).order(Column("createdAt"), Column("id")).fetchAll(db)
            let attempts = try WebhookAttempt.fetchAll(
                db,
                sql: """
                    SELECT a.* FROM webhookAttempts a JOIN webhookDeliveries d ON d.id = a.deliveryID
                    WHERE d.jobID = ? ORDER BY a.id
                    """, arguments: [job])
            return (deliveries, attempts)
        }
    }

    /// A concurrent read; a state with no rows is absent.
    public func counts() async throws -> (jobs: [JobStatus: Int], files: [FileStatus: Int]) {
        try await pool.read { db in
            var jobs: [JobStatus: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM jobs GROUP BY status") {
                if let s = JobStatus(rawValue: row["status"]) { jobs[s] = row["n"] }
            }
            var files: [FileStatus: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM files GROUP BY status") {
                if let s = FileStatus(rawValue: row["status"]) { files[s] = row["n"] }
            }
            return (jobs, files)
        }
    }

    /// One write transaction; throws when the id or the hash is stored already (both unique).
    public func keyCreate(_ key: APIKeyRecord) async throws {
        try await write { db in try key.insert(db) }
    }

    /// A concurrent read, ordered by `createdAt`, then id.
    public func keyList() async throws -> [APIKeyRecord] {
        try await pool.read { db in try APIKeyRecord.order(Column("createdAt"), Column("id")).fetchAll(db) }
    }

    // MARK: Model registry

    /// A concurrent read, ordered by name, then `addedAt`, then version.
    public func modelList() async throws -> [ModelRecord] {
        try await pool.read { db in try ModelRecord.order(Column("name"), Column("addedAt"), Column("version")).fetchAll(db) }
    }

    /// A concurrent read; a revoked key is not found.
    public func keyFind(hash: String) async throws -> APIKeyRecord? {
        try await pool.read { db in
            try APIKeyRecord.filter(Column("hash") == hash && Column("revokedAt") == nil).fetchOne(db)
        }
    }

    // MARK: Mirror outbox

    /// An object that may be uploaded at `?` (now, given twice): due, not synced, and not leased.
    private static let mirrorDue = "status != 'synced' AND nextAttemptAt <= ? AND (leaseExpiresAt IS NULL OR leaseExpiresAt < ?)"

    /// A concurrent read first, so idle pollers take no write lock; then the earliest due object that is not synced
    /// is leased in one write transaction.
    public func mirrorClaimNext(owner: String, origin: String, lease: TimeInterval, now: Date) async throws -> MirrorObject? {
        try await claimDue(
            MirrorObject.self, due: Self.mirrorDue + " AND (origin IS NULL OR origin = ?)", order: "nextAttemptAt, id", owner: owner,
            lease: lease, now: now, extra: [origin])
    }

    /// One write transaction; renews while `leaseOwner` still matches (an expired lease nobody took over still counts).
    public func mirrorRenew(_ claim: MirrorObject, lease: TimeInterval, now: Date) async throws -> Bool {
        try await write(durable: false) { db in
            try db.execute(
                sql: "UPDATE mirrorObjects SET leaseExpiresAt = ? WHERE id = ? AND leaseOwner = ?",
                arguments: [now.addingTimeInterval(lease), claim.id, claim.leaseOwner])
            return db.changesCount > 0
        }
    }

    /// A concurrent read, in row id order.
    public func mirrorList(job: String) async throws -> [MirrorObject] {
        try await pool.read { db in try MirrorObject.filter(Column("jobID") == job).order(Column("id")).fetchAll(db) }
    }

    /// A concurrent read; a state with no objects is absent.
    public func mirrorCounts() async throws -> [MirrorStatus: Int] {
        try await pool.read { db in
            var out: [MirrorStatus: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM mirrorObjects GROUP BY status") {
                if let s = MirrorStatus(rawValue: row["status"]) { out[s] = row["n"] }
            }
            return out
        }
    }
}
