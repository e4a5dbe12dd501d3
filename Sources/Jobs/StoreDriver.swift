public import Formats
public import Foundation
import Synchronization

// A job store is a driver: database primitives (read, lock, insert, update rows) inside one
// transaction, plus the reads and single-statement leases that need no rule. Every operation that
// moves a state is written once, in `JobStoreDriver`'s extension below, over those primitives and
// the transitions of `Transitions.swift`; the in-memory, SQLite and PostgreSQL stores differ only
// in how they reach their rows.

/// Which file of a job a claim looks for.
public enum FileSelector: Sendable, Equatable {
    /// The first (by ordinal) running file whose lease expired before the date.
    case leaseExpired(before: Date)
    /// The first (by ordinal) queued file.
    case queued
}

/// One column of a file row set to a value, as a bulk change writes it.
public enum FileField: Sendable, Equatable {
    /// The file's state.
    case status(FileStatus)
    /// Attempts made.
    case attempts(Int)
    /// Tiles done.
    case tilesDone(Int)
    /// The last error.
    case error(String?)
    /// The worker holding the lease.
    case leaseOwner(String?)
    /// When the lease ends.
    case leaseExpiresAt(Date?)
    /// When the file became final.
    case finishedAt(Date?)

    /// The value as a database binds it.
    public enum Value: Sendable, Equatable {
        /// Text, or NULL.
        case text(String?)
        /// An integer.
        case integer(Int)
        /// A time, or NULL.
        case time(Date?)
    }

    /// The column's name: the record's property name.
    public var column: String {
        switch self {
        case .status: "status"
        case .attempts: "attempts"
        case .tilesDone: "tilesDone"
        case .error: "error"
        case .leaseOwner: "leaseOwner"
        case .leaseExpiresAt: "leaseExpiresAt"
        case .finishedAt: "finishedAt"
        }
    }

    /// The value to bind.
    public var value: Value {
        switch self {
        case .status(let s): .text(s.rawValue)
        case .attempts(let n), .tilesDone(let n): .integer(n)
        case .error(let s), .leaseOwner(let s): .text(s)
        case .leaseExpiresAt(let d), .finishedAt(let d): .time(d)
        }
    }

    /// Sets the field on a record, as the database does on its row.
    public func apply(to file: inout FileRecord) {
        switch self {
        case .status(let s): file.status = s
        case .attempts(let n): file.attempts = n
        case .tilesDone(let n): file.tilesDone = n
        case .error(let s): file.error = s
        case .leaseOwner(let s): file.leaseOwner = s
        case .leaseExpiresAt(let d): file.leaseExpiresAt = d
        case .finishedAt(let d): file.finishedAt = d
        }
    }
}

/// One change to every file of a job that is in one of some states: a single statement in a
/// database, however many files the job has.
public struct FileBulkChange: Sendable, Equatable {
    /// The states of the files it changes.
    public let from: [FileStatus]
    /// What it sets on each of them.
    public let set: [FileField]

    /// The change of `from` files to `set`.
    public init(from: [FileStatus], set: [FileField]) {
        self.from = from
        self.set = set
    }

    /// Applies the change to a file in one of the `from` states; returns whether it did.
    @discardableResult
    public func apply(to file: inout FileRecord) -> Bool {
        guard from.contains(file.status) else { return false }
        for field in set { field.apply(to: &file) }
        return true
    }

    /// A job is cancelled: its queued and running files are cancelled and their leases dropped.
    public static func cancel(now: Date) -> FileBulkChange {
        FileBulkChange(from: [.queued, .running], set: [.status(.cancelled), .leaseOwner(nil), .leaseExpiresAt(nil), .finishedAt(now)])
    }

    /// A job's failed files are retried: back in the queue with their attempts and progress reset.
    public static let requeueFailed = FileBulkChange(
        from: [.failed], set: [.status(.queued), .attempts(0), .error(nil), .tilesDone(0), .finishedAt(nil)])
}

extension FileRecord {
    /// Whether `claim` still holds the file: running, under the claim's owner and attempt.
    public func isHeld(by claim: FileClaim) -> Bool {
        id == claim.file.id && status == .running && leaseOwner == claim.owner && attempts == claim.attempt
    }
}

extension JobStatus {
    /// The states in which a job's files can be claimed.
    public static let claimable: [JobStatus] = [.queued, .running]
}

/// The database primitives one transaction offers. None of them decides a state: each reads,
/// locks (where the database locks rows), inserts or updates rows as it is told. A `lock…` read
/// holds its rows until the transaction ends where the database has row locks; the embedded
/// stores serialise whole transactions instead.
public protocol JobStoreTransaction {
    /// The job, locked.
    func lockJob(_ id: String) async throws -> JobRecord?
    /// The job a claim takes from next, locked: queued or running, with a file to claim at `now`
    /// (queued, or running under an expired lease), the fairest first (fewest claims, then oldest,
    /// then id), and none of `excluding`. Where rows are locked, the job may have changed while
    /// the lock was awaited: the caller checks it again.
    func lockFairestJobWithWork(now: Date, excluding: Set<String>) async throws -> JobRecord?
    /// Makes a second transaction with this idempotency key wait for this one (where transactions
    /// run concurrently).
    func lockIdempotencyKey(_ key: String) async throws
    /// The job created with this idempotency key.
    func job(idempotencyKey: String) async throws -> JobRecord?
    /// Inserts a job and its files; throws when the id exists already (here, or at a later step
    /// of the transaction where writes wait for the next read).
    func insert(_ job: JobRecord, files: [FileRecord]) async throws
    /// Inserts files of a job that exists.
    func insert(files: [FileRecord]) async throws
    /// Deletes the job; its files, results, deliveries and mirror rows go with it.
    func delete(job id: String) async throws
    /// Writes every column of the job.
    func update(_ job: JobRecord) async throws
    /// The job's files in ordinal order.
    func files(ofJob id: String) async throws -> [FileRecord]
    /// The sum of `tilesTotal` over the job's files in these states.
    func tilesTotal(ofJob id: String, in statuses: [FileStatus]) async throws -> Int
    /// Applies `change` to the job's files in its `from` states.
    func update(filesOfJob id: String, _ change: FileBulkChange) async throws
    /// The number of jobs in these states that use the model version.
    func countJobs(model name: String, version: String, in statuses: [JobStatus]) async throws -> Int
    /// Tells idle workers there is work, once the transaction commits (where they listen).
    func notifyWork() async throws

    /// The job, then the file, locked in that order (the order every writer takes); nil when
    /// either is missing or the file is not the job's.
    func lockJobAndFile(job: String, file: Int64) async throws -> (job: JobRecord, file: FileRecord)?
    /// The file of the job that the first selector to find one names, locked; a file whose row
    /// another transaction has locked is skipped (where rows are locked; as claimers of one job
    /// first queue on its row, that happens only when another writer locks files on their own).
    func firstFile(ofJob id: String, _ selectors: [FileSelector]) async throws -> FileRecord?
    /// Writes every column of the file.
    func update(_ file: FileRecord) async throws
    /// Keeps a file's result document (replacing one kept before).
    func keepResult(_ result: Data, file id: Int64) async throws

    /// Inserts a webhook delivery; throws when its id exists already (here or at a later step).
    func insert(_ delivery: WebhookDelivery) async throws
    /// The delivery, locked.
    func lockDelivery(_ id: String) async throws -> WebhookDelivery?
    /// The job's newest delivery (by `createdAt`, then id), locked.
    func lockNewestDelivery(ofJob id: String) async throws -> WebhookDelivery?
    /// Writes every column of the delivery.
    func update(_ delivery: WebhookDelivery) async throws
    /// Inserts an attempt; throws when its delivery does not exist (here or at a later step).
    func insert(_ attempt: WebhookAttempt) async throws

    /// The mirror rows of these object names, locked.
    func lockMirrorObjects(named names: [String]) async throws -> [MirrorObject]
    /// The mirror row, locked.
    func lockMirrorObject(_ id: Int64) async throws -> MirrorObject?
    /// The rows of `origin` that are not synced and carry a lease (expired or not), locked.
    func lockLeasedMirrorObjects(origin: String) async throws -> [MirrorObject]
    /// Inserts the mirror rows whose names no row holds; returns the names a row held already. A
    /// concurrent insert of one of the names waits for the other transaction, then finds its row.
    func insertIfAbsent(_ objects: [MirrorObject]) async throws -> [String]
    /// Writes every column of the mirror row.
    func update(_ object: MirrorObject) async throws

    /// The API key, locked.
    func lockKey(_ id: String) async throws -> APIKeyRecord?
    /// Writes every column of the key.
    func update(_ key: APIKeyRecord) async throws
    /// Inserts the model version unless one with its name and version exists; returns whether it
    /// did. A concurrent insert of the same version waits for this one's outcome.
    func insertIfAbsent(_ model: ModelRecord) async throws -> Bool
    /// The model version, locked.
    func lockModel(name: String, version: String) async throws -> ModelRecord?
    /// Deletes the model version.
    func delete(_ model: ModelRecord) async throws
}

/// A job store written as a driver: it opens transactions over its primitives and answers the
/// reads; the state-changing operations of `JobStore` come from this protocol's extension, the
/// same for every driver.
public protocol JobStoreDriver: JobStore {
    /// One transaction's primitives.
    associatedtype Transaction: JobStoreTransaction
    /// Renders the webhook deliveries of jobs that progress and end (none when nil).
    var events: (any JobEventRenderer)? { get }
    /// Whether every stored upload and result gets a mirror row.
    var mirrors: Bool { get }
    /// Runs `body` in one transaction: all its writes commit together, or none when it throws.
    /// `bulk` marks a transaction that may write many rows (a job of many files), which gets a
    /// longer time limit where there is one. A transaction that is not `durable` may be lost with
    /// the last few others in a power loss (never in a crash of the process), where that is
    /// cheaper. Only what something else makes good is not durable: a worker's progress (its
    /// file's lease runs it again), an outbox's leases and attempts (the row is due again: a
    /// webhook may then be delivered twice, as at-least-once delivery allows), and files added to
    /// a job still receiving (discarded after a restart). `body` may run again when the database
    /// asks for a retry.
    func transaction<T: Sendable>(bulk: Bool, durable: Bool, _ body: @escaping @Sendable (Transaction) async throws -> T)
        async throws -> T
}

extension JobStoreDriver {
    /// A durable transaction: once it returns, a power loss keeps it.
    public func transaction<T: Sendable>(bulk: Bool, _ body: @escaping @Sendable (Transaction) async throws -> T) async throws -> T {
        try await transaction(bulk: bulk, durable: true, body)
    }
}

extension JobStoreDriver {
    /// One transaction: the idempotency check and the insert see the same state; with `mirrors`,
    /// the uploads' mirror rows are written in it too.
    public func jobCreate(_ p: JobCreate) async throws -> (job: JobRecord, created: Bool) {
        let mirrors = mirrors
        // A job still receiving its upload is discarded after a restart: its seal is durable.
        return try await transaction(bulk: true, durable: p.receiving == nil) { tx in
            if let key = p.idempotencyKey {
                try await tx.lockIdempotencyKey(key)
                if let existing = try await tx.job(idempotencyKey: key) { return (existing, false) }
            }
            let job = p.jobRecord
            try await tx.insert(job, files: p.fileRecords)
            // A streamed upload's files are mirrored once it is sealed: a discarded one leaves no copies.
            if mirrors, p.receiving == nil { try await Self.enqueueMirror(tx, job: p.id, p.uploadMirrorRequests, now: p.createdAt) }
            try await tx.notifyWork()
            return (job, true)
        }
    }

    /// One transaction holding the job: the files are inserted and counted, and a seal ends the
    /// receiving with the uploads' mirror rows.
    public func jobAddFiles(_ id: String, _ files: [FileRecord], seal: JobSeal?, now: Date) async throws -> JobRecord? {
        let mirrors = mirrors
        // Files added to a job still receiving need not survive a power loss (the job is discarded
        // after a restart); the seal, which the upload's answer waits for, must.
        return try await transaction(bulk: true, durable: seal != nil) { tx in
            guard var job = try await tx.lockJob(id) else { return nil }
            guard job.receiving != nil else { throw JobNotReceiving(job: id) }
            let rows = job.add(files, now: now)
            if !rows.isEmpty { try await tx.insert(files: rows) }
            if let seal {
                job.receiving = nil
                job.groundTruth = seal.groundTruth
                job.groundTruthName = seal.groundTruthName
                if let s = seal.finalSettings {
                    (job.webhookURL, job.webhookSecret, job.formats) = (s.webhookURL, s.webhookSecret, s.formats)
                    (job.outCRS, job.outputPrefix) = (s.outCRS, s.outputPrefix)
                }
                if mirrors {
                    let uploads = JobCreate.uploadMirrorRequests(
                        job: id, files: try await tx.files(ofJob: id), groundTruth: seal.groundTruth,
                        groundTruthName: seal.groundTruthName, origin: seal.origin)
                    try await Self.enqueueMirror(tx, job: id, uploads, now: now)
                }
            }
            try await tx.update(job)
            if !job.status.isFinal { try await tx.notifyWork() }
            return job
        }
    }

    /// One transaction; nothing when the store does not mirror.
    public func mirrorEnqueue(job: String, _ requests: [MirrorRequest], now: Date) async throws {
        guard mirrors, !requests.isEmpty else { return }
        try await transaction(bulk: false) { tx in try await Self.enqueueMirror(tx, job: job, requests, now: now) }
    }

    /// One transaction holding the job; only a job still receiving is deleted.
    public func jobDiscard(_ id: String) async throws -> Bool {
        try await transaction(bulk: true) { tx in
            guard let job = try await tx.lockJob(id), job.receiving != nil else { return false }
            try await tx.delete(job: id)
            return true
        }
    }

    /// One transaction holding the job; a job already final is returned unchanged.
    public func jobCancel(_ id: String, now: Date) async throws -> JobRecord? {
        try await transaction(bulk: false) { tx in
            guard var job = try await tx.lockJob(id) else { return nil }
            guard !job.status.isFinal else { return job }
            try await tx.update(filesOfJob: id, .cancel(now: now))
            job.cancel(now: now)
            try await tx.update(job)
            try await enqueueFinalEvent(tx, job, now: now)
            return job
        }
    }

    /// One transaction holding the job: failed files go back to the queue with their attempts and
    /// progress reset. A job that cannot be retried is returned unchanged.
    public func jobRetryFailed(_ id: String, now: Date) async throws -> JobRecord? {
        try await transaction(bulk: false) { tx in
            guard var job = try await tx.lockJob(id) else { return nil }
            guard job.canRetryFailed else { return job }
            let change = FileBulkChange.requeueFailed
            let tiles = try await tx.tilesTotal(ofJob: id, in: change.from)
            try await tx.update(filesOfJob: id, change)
            job.retryFailed(failedTiles: tiles, now: now)
            try await tx.update(job)
            try await tx.notifyWork()
            return job
        }
    }

    /// One transaction holding the job; a job not awaiting finalization is returned unchanged.
    /// Copies to the job's own output prefix are queued even when the store does not mirror.
    public func jobFinalize(_ id: String, now: Date, objects: [MirrorRequest], mergedDetections: Int?) async throws -> JobRecord? {
        let copies = objects.filter { mirrors || $0.isOutputCopy }
        return try await transaction(bulk: false) { tx in
            guard var job = try await tx.lockJob(id) else { return nil }
            guard job.awaitsFinalize else { return job }
            job.finalize(now: now, mergedDetections: mergedDetections)
            try await tx.update(job)
            try await enqueueFinalEvent(tx, job, now: now)
            try await Self.enqueueMirror(tx, job: id, copies, now: now)
            return job
        }
    }

    /// The fairest job with work, chosen and locked inside the claim's transaction (so claims made
    /// one after another see each other's counts), then its first file whose lease expired, else
    /// its first queued one. A job that yields no file after all (another claimer took its last one
    /// while this one waited) is passed over, up to 8 of them. Locks are taken job first, then
    /// file, the order every writer uses.
    public func fileClaimNext(owner: String, lease: TimeInterval, now: Date) async throws -> FileClaim? {
        var passed: Set<String> = []
        while passed.count < 8 {
            let excluding = passed
            let attempt = try await transaction(bulk: false, durable: false) { tx -> ClaimAttempt in
                guard var job = try await tx.lockFairestJobWithWork(now: now, excluding: excluding) else { return .noWork }
                guard JobStatus.claimable.contains(job.status),
                    var file = try await tx.firstFile(ofJob: job.id, [.leaseExpired(before: now), .queued])
                else { return .passed(job.id) }
                FileTransition.claim(&file, job: &job, owner: owner, lease: lease, now: now)
                try await tx.update(job)
                try await tx.update(file)
                return .claimed(FileClaim(file: file, job: job, owner: owner, attempt: file.attempts))
            }
            switch attempt {
            case .claimed(let claim): return claim
            case .noWork: return nil
            case .passed(let id): passed.insert(id)
            }
        }
        return nil
    }

    /// One transaction holding the job, then the file; false when the claim no longer holds the file.
    public func fileSetTiles(_ claim: FileClaim, tilesTotal: Int, footprint: Footprint?, now: Date) async throws -> Bool {
        try await transaction(bulk: false, durable: false) { tx in
            guard case (var job, var file)? = try await Self.held(tx, claim) else { return false }
            FileTransition.setTiles(&file, job: &job, total: tilesTotal, footprint: footprint, now: now)
            try await tx.update(job)
            try await tx.update(file)
            return true
        }
    }

    /// One transaction holding the job, then the file; writes the job's `job.progress` delivery when
    /// its progress passes a new step. False when the claim no longer holds the file or the job is final.
    public func fileHeartbeat(_ claim: FileClaim, tilesDone: Int, lease: TimeInterval, now: Date) async throws -> Bool {
        try await transaction(bulk: false, durable: false) { tx in
            guard case (var job, var file)? = try await Self.held(tx, claim), !job.status.isFinal else { return false }
            FileTransition.heartbeat(&file, job: &job, tilesDone: tilesDone, lease: lease, now: now)
            try await enqueueProgressEvent(tx, &job, now: now)
            try await tx.update(job)
            try await tx.update(file)
            return true
        }
    }

    /// One transaction holding the job, then the file: keeps a success's result document, updates
    /// the file and the job, and writes a `job.progress` delivery when the progress passes a new
    /// step; a retryable failure put back in the queue is announced to idle workers.
    public func fileFinish(_ claim: FileClaim, outcome: FileOutcome, now: Date) async throws -> JobRecord? {
        try await transaction(bulk: false, durable: false) { tx in
            guard case (var job, var file)? = try await Self.held(tx, claim), let fileID = file.id else { return nil }
            let requeued = FileTransition.finish(&file, job: &job, outcome: outcome, now: now)
            if case .succeeded(let result, _, _, _) = outcome { try await tx.keepResult(result, file: fileID) }
            try await enqueueProgressEvent(tx, &job, now: now)
            try await tx.update(job)
            try await tx.update(file)
            if requeued { try await tx.notifyWork() }
            return job
        }
    }

    /// One transaction; a key revoked already keeps its first `revokedAt`.
    public func keyRevoke(id: String, now: Date) async throws -> APIKeyRecord? {
        try await transaction(bulk: false) { tx in
            guard var key = try await tx.lockKey(id) else { return nil }
            if key.revokedAt == nil {
                key.revokedAt = now
                try await tx.update(key)
            }
            return key
        }
    }

    /// One transaction, so of two adds of one version only the first creates it; another file
    /// under a registered version is refused.
    public func modelAdd(_ model: ModelRecord) async throws -> (model: ModelRecord, created: Bool) {
        try await transaction(bulk: false) { tx in
            if try await tx.insertIfAbsent(model) { return (model, true) }
            guard let existing = try await tx.lockModel(name: model.name, version: model.version) else {
                throw JobStoreUnavailable("\(model.reference) was neither added nor found; try again")
            }
            guard existing.sha256 == model.sha256 else {
                throw ModelRegistryError.conflict(reference: existing.reference, sha256: existing.sha256)
            }
            return (existing, false)
        }
    }

    /// One transaction holding the version: refused while a job that is not final uses it.
    public func modelRemove(name: String, version: String) async throws -> ModelRecord? {
        try await transaction(bulk: false) { tx in
            guard let model = try await tx.lockModel(name: name, version: version) else { return nil }
            let using = try await tx.countJobs(model: name, version: version, in: JobStatus.allCases.filter { !$0.isFinal })
            guard using == 0 else { throw ModelRegistryError.inUse(reference: model.reference, jobs: using) }
            try await tx.delete(model)
            return model
        }
    }

    /// One transaction holding the delivery; the attempt is kept before the lease is checked.
    public func deliveryRecord(_ claim: WebhookDelivery, attempt: WebhookAttempt, decision: DeliveryDecision) async throws -> Bool {
        try await transaction(bulk: false, durable: false) { tx in
            try await tx.insert(attempt)
            guard var d = try await tx.lockDelivery(claim.id), d.isHeld(by: claim) else { return false }
            d.record(attempt, decision: decision)
            try await tx.update(d)
            return true
        }
    }

    /// One transaction holding the job's newest delivery (by `createdAt`, then id), sent again from
    /// the start; its lease is dropped.
    public func deliveryRedeliver(job: String, now: Date) async throws -> WebhookDelivery? {
        try await transaction(bulk: false) { tx in
            guard var d = try await tx.lockNewestDelivery(ofJob: job) else { return nil }
            d.rearm(now: now)
            try await tx.update(d)
            return d
        }
    }

    /// One transaction holding the object; the lease is released whatever the outcome.
    public func mirrorRecord(_ claim: MirrorObject, outcome: MirrorOutcome, now: Date) async throws -> Bool {
        guard let id = claim.id else { return false }
        return try await transaction(bulk: false, durable: false) { tx in
            guard var o = try await tx.lockMirrorObject(id), o.isHeld(by: claim) else { return false }
            o.record(outcome, now: now)
            try await tx.update(o)
            return true
        }
    }

    /// One transaction over the leased rows of `origin`.
    public func mirrorReleaseLeases(origin: String, heldBy gone: @escaping @Sendable (String) -> Bool) async throws -> Int {
        try await transaction(bulk: false, durable: false) { tx in
            var released = 0
            for var row in try await tx.lockLeasedMirrorObjects(origin: origin) where row.leaseOwner.map(gone) ?? false {
                row.releaseLease()
                try await tx.update(row)
                released += 1
            }
            return released
        }
    }

    // MARK: Shared steps

    /// The claimed file's job and the file, locked in that order, if the claim still holds the file.
    private static func held(_ tx: Transaction, _ claim: FileClaim) async throws -> (JobRecord, FileRecord)? {
        guard let fileID = claim.file.id, let (job, file) = try await tx.lockJobAndFile(job: claim.job.id, file: fileID),
            file.isHeld(by: claim)
        else { return nil }
        return (job, file)
    }

    /// Writes a `job.progress` delivery when the job's progress has passed a new step; updates
    /// `job.progressNotified` (the caller saves the job).
    private func enqueueProgressEvent(_ tx: Transaction, _ job: inout JobRecord, now: Date) async throws {
        if let delivery = try events?.progressDelivery(for: &job, now: now) { try await tx.insert(delivery) }
    }

    /// Writes the delivery of a job that became final, with its files as they are now.
    private func enqueueFinalEvent(_ tx: Transaction, _ job: JobRecord, now: Date) async throws {
        guard let events, job.webhookURL != nil else { return }
        if let delivery = try events.finalEvent(job: job, files: try await tx.files(ofJob: job.id), now: now) {
            try await tx.insert(delivery)
        }
    }

    /// Writes the mirror row of each stored object; a name some row holds already (mirrored
    /// before, just now by a concurrent transaction, or earlier in this same list) is re-armed:
    /// copied again, replacing what the bucket holds, as the last request for it says.
    private static func enqueueMirror(_ tx: Transaction, job: String, _ requests: [MirrorRequest], now: Date) async throws {
        var last: [String: MirrorRequest] = [:]
        var firsts: [MirrorRequest] = []
        var repeated: [String] = []
        for request in requests {
            if last[request.name] == nil { firsts.append(request) } else { repeated.append(request.name) }
            last[request.name] = request
        }
        guard !firsts.isEmpty else { return }
        var held = Set(try await tx.insertIfAbsent(firsts.map { MirrorObject(request: $0, job: job, now: now) }))
        held.formUnion(repeated)
        guard !held.isEmpty else { return }
        for var row in try await tx.lockMirrorObjects(named: held.sorted()) {
            guard let request = last[row.name] else { continue }
            row.rearm(for: request, job: job, now: now)
            try await tx.update(row)
        }
    }
}

/// How one claim transaction ended.
private enum ClaimAttempt: Sendable {
    case claimed(FileClaim)
    case noWork
    case passed(String)
}

/// One holder at a time (or a set number), in the order they came; a waiter is suspended, never a
/// blocked thread. The embedded stores run their transactions through one, so a transaction's
/// steps can suspend without another transaction's writes coming between them; the API draws
/// quicklooks through one of a few holders. Not reentrant: a body that enters the same gate again
/// may wait for itself for ever.
public final class SerialGate: Sendable {
    private struct State: ~Copyable {
        /// How many more holders may go in now.
        var free: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Mutex<State>

    /// A gate nobody holds, that `holders` may hold at once (1: one at a time; at least 1).
    public init(holders: Int = 1) { state = Mutex(State(free: max(1, holders))) }

    /// Runs `body` once a place is free, in the order the callers came; the next waiter goes in as
    /// it returns or throws. Waiting is not cancelled.
    public func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let enter = state.withLock { s in
                guard s.free > 0 else {
                    s.waiters.append(waiter)
                    return false
                }
                s.free -= 1
                return true
            }
            if enter { waiter.resume() }
        }
        defer {
            let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
                guard !s.waiters.isEmpty else {
                    s.free += 1
                    return nil
                }
                return s.waiters.removeFirst()
            }
            next?.resume()
        }
        return try await body()
    }
}
