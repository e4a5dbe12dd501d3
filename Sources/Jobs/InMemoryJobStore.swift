import Formats
public import Foundation
import Synchronization

/// The job store in this process's memory: the same contract as the SQLite and PostgreSQL stores
/// (the same driver operations over its own primitives, one transaction at a time), nothing kept
/// when the process ends. For tests that run the service in-process and for trying the API without
/// a data directory; never for work that must survive a restart.
public final class InMemoryJobStore: JobStoreDriver {
    fileprivate struct State {
        var jobs: [String: JobRecord] = [:]
        /// Each job's file ids in ordinal order.
        var jobFiles: [String: [Int64]] = [:]
        var files: [Int64: FileRecord] = [:]
        var results: [Int64: Data] = [:]
        var deliveries: [String: WebhookDelivery] = [:]
        var attempts: [WebhookAttempt] = []
        var keys: [String: APIKeyRecord] = [:]
        var models: [String: ModelRecord] = [:]
        var mirror: [Int64: MirrorObject] = [:]
        var nextID: Int64 = 0

        mutating func newID() -> Int64 {
            nextID += 1
            return nextID
        }

        func files(of job: String) -> [FileRecord] { (jobFiles[job] ?? []).compactMap { files[$0] } }
    }

    private let state = Mutex(State())
    /// Transactions, and the writes that are one step, one at a time.
    private let gate = SerialGate()
    /// Wakes idle workers when a transaction queued files.
    private let signal = WorkSignal()
    /// Renders the webhook deliveries of jobs that progress and end (none when nil).
    public let events: (any JobEventRenderer)?
    /// Whether every stored upload and result gets a mirror row.
    public let mirrors: Bool

    /// An empty store. `events` renders the webhook deliveries of jobs that progress and end (none
    /// when nil); with `mirror`, every stored upload and result gets a mirror row.
    public init(events: (any JobEventRenderer)? = nil, mirror: Bool = false) {
        self.events = events
        self.mirrors = mirror
    }

    /// Runs `body` on a copy of the state and keeps the copy only when `body` returns: a
    /// transaction that throws leaves nothing half done, as a rolled-back one.
    public func transaction<T: Sendable>(bulk: Bool, durable: Bool, _ body: @escaping @Sendable (Transaction) async throws -> T)
        async throws -> T
    {
        try await gate.run {
            let tx = Transaction(state.withLock { $0 })
            let value = try await body(tx)
            state.withLock { $0 = tx.s }
            if tx.queuedWork { signal.fire() }
            return value
        }
    }

    /// Returns when a transaction queues files (a new job, files added or put back), else after `limit`.
    public func waitForWork(upTo limit: Duration) async {
        await signal.wait(upTo: limit)
    }

    /// Idle workers waiting for work now.
    public var idleWaiters: Int { signal.waiting }

    /// A write that is one step, in turn with the transactions.
    private func step<T: Sendable>(_ body: @escaping @Sendable (inout State) throws -> T) async throws -> T {
        try await gate.run { try state.withLock { try body(&$0) } }
    }

    private static func expired(_ file: FileRecord, now: Date) -> Bool {
        file.status == .running && (file.leaseExpiresAt.map { $0 < now } ?? false)
    }

    // MARK: Reads

    /// The job as stored now.
    public func jobGet(_ id: String) async throws -> JobRecord? { state.withLock { $0.jobs[id] } }

    /// Finds the job whatever its state.
    public func jobFind(idempotencyKey: String) async throws -> JobRecord? {
        state.withLock { s in s.jobs.values.first { $0.idempotencyKey == idempotencyKey } }
    }

    /// Ordered by `createdAt`, then id, both descending.
    public func jobList(status: JobStatus?, limit: Int, after: JobRecord?, owner: String?) async throws -> [JobRecord] {
        state.withLock { s in
            let newestFirst: (JobRecord, JobRecord) -> Bool = { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
            return Array(
                s.jobs.values.filter { job in
                    (status == nil || job.status == status) && (owner == nil || job.ownerKeyID == owner)
                        && (after.map { newestFirst($0, job) } ?? true)
                }
                .sorted(by: newestFirst).prefix(max(0, limit)))
        }
    }

    /// The job's files in ordinal order (none when the job is unknown).
    public func jobFiles(_ id: String) async throws -> [FileRecord] { state.withLock { $0.files(of: id) } }

    /// The queued or running jobs whose succeeded and failed files add up to all of them.
    public func jobsAwaitingFinalize() async throws -> [JobRecord] {
        state.withLock { s in s.jobs.values.filter(\.awaitsFinalize).sorted { $0.createdAt < $1.createdAt } }
    }

    /// The file of that name and its result.
    public func file(ofJob jobID: String, named name: String) async throws -> (file: FileRecord, result: Data?)? {
        state.withLock { s in s.files(of: jobID).first { $0.name == name }.map { f in (f, f.id.flatMap { s.results[$0] }) } }
    }

    /// The jobs still receiving their uploads, oldest first.
    public func jobsReceiving() async throws -> [JobRecord] {
        state.withLock { s in s.jobs.values.filter { $0.receiving != nil }.sorted { $0.createdAt < $1.createdAt } }
    }

    /// The job's succeeded files with their result documents, in ordinal order.
    public func fileResults(_ jobID: String) async throws -> [(file: FileRecord, result: Data)] {
        state.withLock { s in
            s.files(of: jobID).filter { $0.status == .succeeded }.compactMap { f in f.id.flatMap { s.results[$0] }.map { (f, $0) } }
        }
    }

    /// Jobs and files by state; a state with no rows is absent.
    public func counts() async throws -> (jobs: [JobStatus: Int], files: [FileStatus: Int]) {
        state.withLock { s in
            (
                Dictionary(grouping: s.jobs.values, by: \.status).mapValues(\.count),
                Dictionary(grouping: s.files.values, by: \.status).mapValues(\.count)
            )
        }
    }

    /// Ordered by `createdAt`, then id.
    public func keyList() async throws -> [APIKeyRecord] {
        state.withLock { s in s.keys.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) } }
    }

    /// A revoked key is not found.
    public func keyFind(hash: String) async throws -> APIKeyRecord? {
        state.withLock { s in s.keys.values.first { $0.hash == hash && $0.revokedAt == nil } }
    }

    /// Ordered by name, then `addedAt`, then version.
    public func modelList() async throws -> [ModelRecord] {
        state.withLock { s in s.models.values.sorted { ($0.name, $0.addedAt, $0.version) < ($1.name, $1.addedAt, $1.version) } }
    }

    /// The job's deliveries by `createdAt`, then id; the attempts in the order they were made.
    public func deliveryList(job: String) async throws -> (deliveries: [WebhookDelivery], attempts: [WebhookAttempt]) {
        state.withLock { s in
            let deliveries = s.deliveries.values.filter { $0.jobID == job }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
            let ids = Set(deliveries.map(\.id))
            return (deliveries, s.attempts.filter { ids.contains($0.deliveryID) })
        }
    }

    /// The job's objects in row id order.
    public func mirrorList(job: String) async throws -> [MirrorObject] {
        state.withLock { s in s.mirror.values.filter { $0.jobID == job }.sorted { ($0.id ?? 0) < ($1.id ?? 0) } }
    }

    /// Objects by state; a state with no objects is absent.
    public func mirrorCounts() async throws -> [MirrorStatus: Int] {
        state.withLock { s in Dictionary(grouping: s.mirror.values, by: \.status).mapValues(\.count) }
    }

    // MARK: Writes of one step

    /// Throws when the id or the hash is stored already (both unique).
    public func keyCreate(_ key: APIKeyRecord) async throws {
        try await step { s in
            guard s.keys[key.id] == nil, !s.keys.values.contains(where: { $0.hash == key.hash }) else {
                throw InMemoryStoreError("an API key with this id or hash exists already")
            }
            s.keys[key.id] = key
        }
    }

    /// Leases the earliest due delivery (pending, due, not leased) to `owner`.
    public func deliveryClaimNext(owner: String, lease: TimeInterval, now: Date) async throws -> WebhookDelivery? {
        try await step { s in
            let due = s.deliveries.values.filter { d in
                d.status == .pending && (d.nextAttemptAt.map { $0 <= now } ?? false) && (d.leaseExpiresAt.map { $0 < now } ?? true)
            }
            guard var d = due.min(by: { ($0.nextAttemptAt ?? now, $0.id) < ($1.nextAttemptAt ?? now, $1.id) }) else { return nil }
            d.leaseOwner = owner
            d.leaseExpiresAt = now.addingTimeInterval(lease)
            s.deliveries[d.id] = d
            return d
        }
    }

    /// Leases the earliest due object (not synced, due, not leased, of `origin` or of none) to `owner`.
    public func mirrorClaimNext(owner: String, origin: String, lease: TimeInterval, now: Date) async throws -> MirrorObject? {
        try await step { s in
            let due = s.mirror.values.filter { o in
                o.status != .synced && (o.nextAttemptAt.map { $0 <= now } ?? false) && (o.leaseExpiresAt.map { $0 < now } ?? true)
                    && (o.origin == nil || o.origin == origin)
            }
            guard var o = due.min(by: { ($0.nextAttemptAt ?? now, $0.id ?? 0) < ($1.nextAttemptAt ?? now, $1.id ?? 0) }), let id = o.id
            else { return nil }
            o.leaseOwner = owner
            o.leaseExpiresAt = now.addingTimeInterval(lease)
            s.mirror[id] = o
            return o
        }
    }

    /// Renews while `leaseOwner` still matches.
    public func mirrorRenew(_ claim: MirrorObject, lease: TimeInterval, now: Date) async throws -> Bool {
        try await step { s in
            guard let id = claim.id, let owner = claim.leaseOwner, var o = s.mirror[id], o.leaseOwner == owner else { return false }
            o.leaseExpiresAt = now.addingTimeInterval(lease)
            s.mirror[id] = o
            return true
        }
    }

    // MARK: Transaction primitives

    /// One transaction's view: a copy of the state that `transaction` keeps when the body returns.
    /// Refuses what a database's keys would refuse (a duplicate id, an attempt of no delivery).
    public final class Transaction: JobStoreTransaction {
        fileprivate var s: State
        /// Whether the transaction queued files: idle workers are woken once it is kept.
        fileprivate var queuedWork = false

        fileprivate init(_ s: State) { self.s = s }

        /// The job.
        public func lockJob(_ id: String) async throws -> JobRecord? { s.jobs[id] }
        /// The fairest job with work.
        public func lockFairestJobWithWork(now: Date, excluding: Set<String>) async throws -> JobRecord? {
            s.jobs.values.filter { job in
                JobStatus.claimable.contains(job.status) && !excluding.contains(job.id)
                    && s.files(of: job.id).contains { $0.status == .queued || InMemoryJobStore.expired($0, now: now) }
            }
            .min { ($0.claims, $0.createdAt, $0.id) < ($1.claims, $1.createdAt, $1.id) }
        }
        /// Nothing to do: transactions run one at a time.
        public func lockIdempotencyKey(_ key: String) async throws {}
        /// The job created with this key.
        public func job(idempotencyKey: String) async throws -> JobRecord? {
            s.jobs.values.first { $0.idempotencyKey == idempotencyKey }
        }
        /// Inserts the job and its files, numbering the files.
        public func insert(_ job: JobRecord, files: [FileRecord]) async throws {
            guard s.jobs[job.id] == nil else { throw InMemoryStoreError("a job \(job.id) exists already") }
            s.jobs[job.id] = job
            s.jobFiles[job.id] = files.map { row in
                var row = row
                let id = s.newID()
                row.id = id
                s.files[id] = row
                return id
            }
        }
        /// Inserts files of a job that exists, numbering them.
        public func insert(files: [FileRecord]) async throws {
            for var row in files {
                guard s.jobs[row.jobID] != nil else { throw InMemoryStoreError("no job \(row.jobID) for a file") }
                let id = s.newID()
                row.id = id
                s.files[id] = row
                s.jobFiles[row.jobID, default: []].append(id)
            }
        }
        /// Deletes the job and what belongs to it, as a database's cascades would.
        public func delete(job id: String) async throws {
            for fileID in s.jobFiles[id] ?? [] {
                s.files[fileID] = nil
                s.results[fileID] = nil
            }
            s.jobFiles[id] = nil
            s.jobs[id] = nil
            let deliveries = Set(s.deliveries.values.filter { $0.jobID == id }.map(\.id))
            s.deliveries = s.deliveries.filter { !deliveries.contains($0.key) }
            s.attempts.removeAll { deliveries.contains($0.deliveryID) }
            s.mirror = s.mirror.filter { $0.value.jobID != id }
        }
        /// Replaces the job.
        public func update(_ job: JobRecord) async throws { s.jobs[job.id] = job }
        /// The job's files in ordinal order.
        public func files(ofJob id: String) async throws -> [FileRecord] { s.files(of: id) }
        /// The sum of `tilesTotal` over the job's files in these states.
        public func tilesTotal(ofJob id: String, in statuses: [FileStatus]) async throws -> Int {
            s.files(of: id).filter { statuses.contains($0.status) }.map(\.tilesTotal).reduce(0, +)
        }
        /// Applies the change to each of the job's files in its states.
        public func update(filesOfJob id: String, _ change: FileBulkChange) async throws {
            for fileID in s.jobFiles[id] ?? [] {
                guard var file = s.files[fileID], change.apply(to: &file) else { continue }
                s.files[fileID] = file
            }
        }
        /// The number of jobs in these states that use the version.
        public func countJobs(model name: String, version: String, in statuses: [JobStatus]) async throws -> Int {
            s.jobs.values.filter { $0.modelName == name && $0.modelVersion == version && statuses.contains($0.status) }.count
        }
        /// Idle workers are woken once the transaction is kept.
        public func notifyWork() async throws { queuedWork = true }
        /// The job and the file.
        public func lockJobAndFile(job: String, file: Int64) async throws -> (job: JobRecord, file: FileRecord)? {
            guard let j = s.jobs[job], let f = s.files[file], f.jobID == job else { return nil }
            return (j, f)
        }
        /// The file of the job that the first selector to find one names.
        public func firstFile(ofJob id: String, _ selectors: [FileSelector]) async throws -> FileRecord? {
            let files = s.files(of: id)
            for selector in selectors {
                let found: FileRecord? =
                    switch selector {
                    case .leaseExpired(let now): files.first { InMemoryJobStore.expired($0, now: now) }
                    case .queued: files.first { $0.status == .queued }
                    }
                if let found { return found }
            }
            return nil
        }
        /// Replaces the file.
        public func update(_ file: FileRecord) async throws {
            guard let id = file.id, s.files[id] != nil else { throw InMemoryStoreError("no file \(file.id ?? -1) to update") }
            s.files[id] = file
        }
        /// Keeps the result document.
        public func keepResult(_ result: Data, file id: Int64) async throws { s.results[id] = result }
        /// Inserts the delivery.
        public func insert(_ delivery: WebhookDelivery) async throws {
            guard s.deliveries[delivery.id] == nil else { throw InMemoryStoreError("a delivery \(delivery.id) exists already") }
            s.deliveries[delivery.id] = delivery
        }
        /// The delivery.
        public func lockDelivery(_ id: String) async throws -> WebhookDelivery? { s.deliveries[id] }
        /// The job's newest delivery.
        public func lockNewestDelivery(ofJob id: String) async throws -> WebhookDelivery? {
            s.deliveries.values.filter { $0.jobID == id }.max { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        }
        /// Replaces the delivery.
        public func update(_ delivery: WebhookDelivery) async throws { s.deliveries[delivery.id] = delivery }
        /// Appends the attempt, numbering it.
        public func insert(_ attempt: WebhookAttempt) async throws {
            guard s.deliveries[attempt.deliveryID] != nil else {
                throw InMemoryStoreError("no delivery \(attempt.deliveryID) to record an attempt of")
            }
            var a = attempt
            a.id = s.newID()
            s.attempts.append(a)
        }
        /// The mirror rows of these names.
        public func lockMirrorObjects(named names: [String]) async throws -> [MirrorObject] {
            let wanted = Set(names)
            return s.mirror.values.filter { wanted.contains($0.name) }
        }
        /// The mirror row.
        public func lockMirrorObject(_ id: Int64) async throws -> MirrorObject? { s.mirror[id] }
        /// The leased rows of `origin` not synced.
        public func lockLeasedMirrorObjects(origin: String) async throws -> [MirrorObject] {
            s.mirror.values.filter { $0.origin == origin && $0.leaseOwner != nil && $0.status != .synced }.sorted {
                ($0.id ?? 0) < ($1.id ?? 0)
            }
        }
        /// Inserts the rows of new names, numbering them; returns the names held already.
        public func insertIfAbsent(_ objects: [MirrorObject]) async throws -> [String] {
            var held = Set(s.mirror.values.map(\.name))
            var present: [String] = []
            for object in objects {
                guard !held.contains(object.name) else {
                    present.append(object.name)
                    continue
                }
                held.insert(object.name)
                var row = object
                let id = s.newID()
                row.id = id
                s.mirror[id] = row
            }
            return present
        }
        /// Replaces the mirror row.
        public func update(_ object: MirrorObject) async throws {
            guard let id = object.id else { throw InMemoryStoreError("a mirror row without an id") }
            s.mirror[id] = object
        }
        /// The key.
        public func lockKey(_ id: String) async throws -> APIKeyRecord? { s.keys[id] }
        /// Replaces the key.
        public func update(_ key: APIKeyRecord) async throws { s.keys[key.id] = key }
        /// Inserts the version unless it is registered.
        public func insertIfAbsent(_ model: ModelRecord) async throws -> Bool {
            guard s.models[model.reference] == nil else { return false }
            s.models[model.reference] = model
            return true
        }
        /// The version.
        public func lockModel(name: String, version: String) async throws -> ModelRecord? { s.models["\(name)@\(version)"] }
        /// Deletes the version.
        public func delete(_ model: ModelRecord) async throws { s.models[model.reference] = nil }
    }
}

/// A write the in-memory store refuses, as a database would refuse it (a duplicate key).
public struct InMemoryStoreError: Error, CustomStringConvertible {
    /// What was refused.
    public let description: String
    init(_ description: String) { self.description = description }
}
