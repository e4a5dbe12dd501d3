public import Formats
public import Foundation
import Synchronization

/// The job store in this process's memory: the same contract as the SQLite and PostgreSQL stores
/// (each method one atomic step under one lock, the same transitions), nothing kept when the
/// process ends. For tests that run the service in-process and for trying the API without a data
/// directory; never for work that must survive a restart.
public final class InMemoryJobStore: JobStore {
    private struct State {
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

    /// Runs `body` on a copy of the state and keeps the copy only when `body` returns: a step that
    /// throws leaves nothing half done, as a rolled-back transaction.
    private func atomically<T>(_ body: (inout State) throws -> T) throws -> T {
        try state.withLock { s in
            var next = s
            let value = try body(&next)
            s = next
            return value
        }
    }
    private let events: (any JobEventRenderer)?
    private let mirrors: Bool

    /// An empty store. `events` renders the webhook deliveries of jobs that progress and end (none
    /// when nil); with `mirror`, every stored upload and result gets a mirror row.
    public init(events: (any JobEventRenderer)? = nil, mirror: Bool = false) {
        self.events = events
        self.mirrors = mirror
    }

    // MARK: Jobs

    /// Atomic: the idempotency check and the insert see the same state.
    public func jobCreate(_ p: JobCreate) async throws -> (job: JobRecord, created: Bool) {
        try atomically { s in
            if let key = p.idempotencyKey, let existing = s.jobs.values.first(where: { $0.idempotencyKey == key }) {
                return (existing, false)
            }
            guard s.jobs[p.id] == nil else { throw InMemoryStoreError("a job \(p.id) exists already") }
            let job = p.jobRecord
            s.jobs[p.id] = job
            s.jobFiles[p.id] = p.fileRecords.map { row in
                var row = row
                let id = s.newID()
                row.id = id
                s.files[id] = row
                return id
            }
            if mirrors { for request in p.uploadMirrorRequests { enqueueMirror(&s, job: p.id, request, now: p.createdAt) } }
            return (job, true)
        }
    }

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

    /// Atomic; a job already final is returned unchanged.
    public func jobCancel(_ id: String, now: Date) async throws -> JobRecord? {
        try atomically { s in
            guard var job = s.jobs[id] else { return nil }
            guard !job.status.isFinal else { return job }
            for fileID in s.jobFiles[id] ?? [] {
                guard var file = s.files[fileID], [.queued, .running].contains(file.status) else { continue }
                file.status = .cancelled
                file.leaseOwner = nil
                file.leaseExpiresAt = nil
                file.finishedAt = now
                s.files[fileID] = file
            }
            job.cancel(now: now)
            s.jobs[id] = job
            try enqueueFinalEvent(&s, job, now: now)
            return job
        }
    }

    /// Atomic: failed files go back to the queue with their attempts and progress reset. A job
    /// that cannot be retried is returned unchanged.
    public func jobRetryFailed(_ id: String, now: Date) async throws -> JobRecord? {
        state.withLock { s in
            guard var job = s.jobs[id] else { return nil }
            guard job.canRetryFailed else { return job }
            var tiles = 0
            for fileID in s.jobFiles[id] ?? [] {
                guard var file = s.files[fileID], file.status == .failed else { continue }
                tiles += file.tilesTotal
                file.status = .queued
                file.attempts = 0
                file.error = nil
                file.tilesDone = 0
                file.finishedAt = nil
                s.files[fileID] = file
            }
            job.retryFailed(failedTiles: tiles, now: now)
            s.jobs[id] = job
            return job
        }
    }

    /// The queued or running jobs whose succeeded and failed files add up to all of them.
    public func jobsAwaitingFinalize() async throws -> [JobRecord] {
        state.withLock { s in s.jobs.values.filter(\.awaitsFinalize).sorted { $0.createdAt < $1.createdAt } }
    }

    /// Atomic; a job not awaiting finalization is returned unchanged. Copies to the job's own
    /// output prefix are queued even when the store does not mirror.
    public func jobFinalize(_ id: String, now: Date, objects: [MirrorRequest], mergedDetections: Int?) async throws -> JobRecord? {
        try atomically { s in
            guard var job = s.jobs[id] else { return nil }
            guard job.awaitsFinalize else { return job }
            job.finalize(now: now, mergedDetections: mergedDetections)
            s.jobs[id] = job
            try enqueueFinalEvent(&s, job, now: now)
            for object in objects where mirrors || object.isOutputCopy { enqueueMirror(&s, job: id, object, now: now) }
            return job
        }
    }

    // MARK: Files

    /// Atomic: the fairest job with work (fewest claims, then oldest), then its first file whose
    /// lease expired, else its first queued one.
    public func fileClaimNext(owner: String, lease: TimeInterval, now: Date) async throws -> FileClaim? {
        state.withLock { s in
            let expired: (FileRecord) -> Bool = { $0.status == .running && ($0.leaseExpiresAt.map { $0 < now } ?? false) }
            let candidates = s.jobs.values.filter { job in
                [.queued, .running].contains(job.status)
                    && s.files(of: job.id).contains { $0.status == .queued || expired($0) }
            }
            guard
                var job = candidates.min(by: { ($0.claims, $0.createdAt, $0.id) < ($1.claims, $1.createdAt, $1.id) }),
                var file = s.files(of: job.id).first(where: expired) ?? s.files(of: job.id).first(where: { $0.status == .queued }),
                let fileID = file.id
            else { return nil }
            FileTransition.claim(&file, job: &job, owner: owner, lease: lease, now: now)
            s.jobs[job.id] = job
            s.files[fileID] = file
            return FileClaim(file: file, job: job, owner: owner, attempt: file.attempts)
        }
    }

    /// Atomic; false when the claim no longer holds the file.
    public func fileSetTiles(_ claim: FileClaim, tilesTotal: Int, footprint: Footprint?, now: Date) async throws -> Bool {
        state.withLock { s in
            guard var file = held(s, claim), let fileID = file.id, var job = s.jobs[file.jobID] else { return false }
            FileTransition.setTiles(&file, job: &job, total: tilesTotal, footprint: footprint, now: now)
            s.jobs[job.id] = job
            s.files[fileID] = file
            return true
        }
    }

    /// Atomic; writes the job's `job.progress` delivery when its progress passes a new step.
    public func fileHeartbeat(_ claim: FileClaim, tilesDone: Int, lease: TimeInterval, now: Date) async throws -> Bool {
        try atomically { s in
            guard var file = held(s, claim), let fileID = file.id, var job = s.jobs[file.jobID], !job.status.isFinal else {
                return false
            }
            FileTransition.heartbeat(&file, job: &job, tilesDone: tilesDone, lease: lease, now: now)
            try enqueueProgressEvent(&s, &job, now: now)
            s.jobs[job.id] = job
            s.files[fileID] = file
            return true
        }
    }

    /// Atomic: keeps a success's result document, updates the file and the job, and writes a
    /// `job.progress` delivery when the progress passes a new step.
    public func fileFinish(_ claim: FileClaim, outcome: FileOutcome, now: Date) async throws -> JobRecord? {
        try atomically { s in
            guard var file = held(s, claim), let fileID = file.id, var job = s.jobs[file.jobID] else { return nil }
            FileTransition.finish(&file, job: &job, outcome: outcome, now: now)
            if case .succeeded(let result, _, _, _) = outcome { s.results[fileID] = result }
            try enqueueProgressEvent(&s, &job, now: now)
            s.jobs[job.id] = job
            s.files[fileID] = file
            return job
        }
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

    // MARK: API keys

    /// Throws when the id or the hash is stored already (both unique).
    public func keyCreate(_ key: APIKeyRecord) async throws {
        try state.withLock { s in
            guard s.keys[key.id] == nil, !s.keys.values.contains(where: { $0.hash == key.hash }) else {
                throw InMemoryStoreError("an API key with this id or hash exists already")
            }
            s.keys[key.id] = key
        }
    }

    /// Ordered by `createdAt`, then id.
    public func keyList() async throws -> [APIKeyRecord] {
        state.withLock { s in s.keys.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) } }
    }

    /// A key revoked already keeps its first `revokedAt`.
    public func keyRevoke(id: String, now: Date) async throws -> APIKeyRecord? {
        state.withLock { s in
            guard var key = s.keys[id] else { return nil }
            if key.revokedAt == nil {
                key.revokedAt = now
                s.keys[id] = key
            }
            return key
        }
    }

    /// A revoked key is not found.
    public func keyFind(hash: String) async throws -> APIKeyRecord? {
        state.withLock { s in s.keys.values.first { $0.hash == hash && $0.revokedAt == nil } }
    }

    // MARK: Model registry

    /// Atomic, so two adds of one version cannot both create it; another file under a registered
    /// version is refused.
    public func modelAdd(_ model: ModelRecord) async throws -> (model: ModelRecord, created: Bool) {
        try state.withLock { s in
            if let existing = s.models[model.reference] {
                guard existing.sha256 == model.sha256 else {
                    throw ModelRegistryError.conflict(reference: existing.reference, sha256: existing.sha256)
                }
                return (existing, false)
            }
            s.models[model.reference] = model
            return (model, true)
        }
    }

    /// Ordered by name, then `addedAt`, then version.
    public func modelList() async throws -> [ModelRecord] {
        state.withLock { s in s.models.values.sorted { ($0.name, $0.addedAt, $0.version) < ($1.name, $1.addedAt, $1.version) } }
    }

    /// Atomic: refused while a queued or running job uses the version.
    public func modelRemove(name: String, version: String) async throws -> ModelRecord? {
        try state.withLock { s in
            let reference = "\(name)@\(version)"
            guard let model = s.models[reference] else { return nil }
            let using = s.jobs.values.filter { $0.modelName == name && $0.modelVersion == version && !$0.status.isFinal }.count
            guard using == 0 else { throw ModelRegistryError.inUse(reference: reference, jobs: using) }
            s.models[reference] = nil
            return model
        }
    }

    // MARK: Webhook outbox

    /// Leases the earliest due delivery (pending, due, not leased) to `owner`.
    public func deliveryClaimNext(owner: String, lease: TimeInterval, now: Date) async throws -> WebhookDelivery? {
        state.withLock { s in
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

    /// Atomic; the attempt is kept before the lease is checked.
    public func deliveryRecord(_ claim: WebhookDelivery, attempt: WebhookAttempt, decision: DeliveryDecision) async throws -> Bool {
        try state.withLock { s in
            guard s.deliveries[attempt.deliveryID] != nil else {
                throw InMemoryStoreError("no delivery \(attempt.deliveryID) to record an attempt of")
            }
            var a = attempt
            a.id = s.newID()
            s.attempts.append(a)
            guard var d = s.deliveries[claim.id], d.isHeld(by: claim) else { return false }
            d.record(attempt, decision: decision)
            s.deliveries[d.id] = d
            return true
        }
    }

    /// The job's deliveries by `createdAt`, then id; the attempts in the order they were made.
    public func deliveryList(job: String) async throws -> (deliveries: [WebhookDelivery], attempts: [WebhookAttempt]) {
        state.withLock { s in
            let deliveries = s.deliveries.values.filter { $0.jobID == job }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
            let ids = Set(deliveries.map(\.id))
            return (deliveries, s.attempts.filter { ids.contains($0.deliveryID) })
        }
    }

    /// The newest delivery (by `createdAt`, then id) sent again from the start; its lease is dropped.
    public func deliveryRedeliver(job: String, now: Date) async throws -> WebhookDelivery? {
        state.withLock { s in
            guard var d = s.deliveries.values.filter({ $0.jobID == job }).max(by: { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) })
            else { return nil }
            d.rearm(now: now)
            s.deliveries[d.id] = d
            return d
        }
    }

    // MARK: Mirror outbox

    /// Leases the earliest due object (not synced, due, not leased, of `origin` or of none) to `owner`.
    public func mirrorClaimNext(owner: String, origin: String, lease: TimeInterval, now: Date) async throws -> MirrorObject? {
        state.withLock { s in
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
        state.withLock { s in
            guard let id = claim.id, let owner = claim.leaseOwner, var o = s.mirror[id], o.leaseOwner == owner else { return false }
            o.leaseExpiresAt = now.addingTimeInterval(lease)
            s.mirror[id] = o
            return true
        }
    }

    /// Atomic; the lease is released whatever the outcome.
    public func mirrorRecord(_ claim: MirrorObject, outcome: MirrorOutcome, now: Date) async throws -> Bool {
        state.withLock { s in
            guard let id = claim.id, var o = s.mirror[id], o.isHeld(by: claim) else { return false }
            o.record(outcome, now: now)
            s.mirror[id] = o
            return true
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

    // MARK: Plumbing

    /// The claimed file if the claim still holds it, else nil.
    private func held(_ s: State, _ claim: FileClaim) -> FileRecord? {
        guard let id = claim.file.id, let file = s.files[id], file.status == .running, file.leaseOwner == claim.owner,
            file.attempts == claim.attempt
        else { return nil }
        return file
    }

    private func insert(_ s: inout State, _ delivery: WebhookDelivery) throws {
        guard s.deliveries[delivery.id] == nil else { throw InMemoryStoreError("a delivery \(delivery.id) exists already") }
        s.deliveries[delivery.id] = delivery
    }

    private func enqueueProgressEvent(_ s: inout State, _ job: inout JobRecord, now: Date) throws {
        if let delivery = try events?.progressDelivery(for: &job, now: now) { try insert(&s, delivery) }
    }

    private func enqueueFinalEvent(_ s: inout State, _ job: JobRecord, now: Date) throws {
        guard let events, job.webhookURL != nil else { return }
        if let delivery = try events.finalEvent(job: job, files: s.files(of: job.id), now: now) { try insert(&s, delivery) }
    }

    /// Writes (or, for a name already mirrored, re-arms) the mirror row of a stored object.
    private func enqueueMirror(_ s: inout State, job: String, _ request: MirrorRequest, now: Date) {
        if let id = s.mirror.first(where: { $0.value.name == request.name })?.key, var existing = s.mirror[id] {
            existing.rearm(for: request, job: job, now: now)
            s.mirror[id] = existing
        } else {
            var row = MirrorObject(request: request, job: job, now: now)
            let id = s.newID()
            row.id = id
            s.mirror[id] = row
        }
    }
}

/// A write the in-memory store refuses, as a database would refuse it (a duplicate key).
public struct InMemoryStoreError: Error, CustomStringConvertible {
    /// What was refused.
    public let description: String
    init(_ description: String) { self.description = description }
}
