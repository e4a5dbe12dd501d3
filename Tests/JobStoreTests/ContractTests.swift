import Formats
import Foundation
import GeoInferTestSupport
import JobStoreSQLite
import Jobs
import Logging
import PostgresNIO
import Testing

@testable import JobStorePostgres

/// One contract, every store: SQLite (embedded) and PostgreSQL (scale-out) must agree.
@Suite("JobStore contract")
struct ContractTests {
    @Test("jobs: create, idempotency, get, list newest first with keyset pages and owners", arguments: StoreKind.allCases)
    func jobs(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            for i in 0..<5 {
                let (job, created) = try await store.jobCreate(
                    newJob("job-\(i)", files: 2, at: t0.addingTimeInterval(Double(i)), owner: i % 2 == 0 ? "k1" : "k2"))
                #expect(created && job.status == .queued && job.totalFiles == 2 && job.tilesTotal == 2)
            }
            let (first, created) = try await store.jobCreate(newJob("job-x", files: 1, at: t0.addingTimeInterval(10), key: "idem"))
            #expect(created)
            let (again, createdAgain) = try await store.jobCreate(newJob("job-y", files: 3, key: "idem"))
            #expect(!createdAgain && again.id == first.id)
            #expect(try await store.jobFind(idempotencyKey: "idem")?.id == "job-x")
            #expect(try await store.jobGet("job-y") == nil)
            #expect(try await store.jobGet("job-3")?.createdAt == t0.addingTimeInterval(3))

            let page1 = try await store.jobList(status: .queued, limit: 3, after: nil, owner: nil)
            #expect(page1.map(\.id) == ["job-x", "job-4", "job-3"])
            let page2 = try await store.jobList(status: .queued, limit: 3, after: page1.last, owner: nil)
            #expect(page2.map(\.id) == ["job-2", "job-1", "job-0"])
            #expect(try await store.jobList(status: nil, limit: 10, after: nil, owner: "k1").map(\.id) == ["job-4", "job-2", "job-0"])
            #expect(try await store.jobList(status: .running, limit: 10, after: nil, owner: nil).isEmpty)
            let files = try await store.jobFiles("job-1")
            #expect(files.map(\.name) == ["f0.tif", "f1.tif"] && files.allSatisfy { $0.status == .queued && $0.id != nil })
            let counts = try await store.counts()
            #expect(counts.jobs[.queued] == 6 && counts.files[.queued] == 11)
        }
    }

    @Test(
        "footprints: kept per file at create (some files without one), and set by the worker that reads a bucket input",
        arguments: StoreKind.allCases)
    func footprints(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let here = Footprint(
                corners: [[-81, 29.8], [-80.99, 29.8], [-80.99, 29.79], [-81, 29.79]], bbox: [-81, 29.79, -80.99, 29.8])
            var job = newJob("fp", files: 3)
            // The first file has none: a store must not take its columns from the first row alone.
            job.files[1].footprint = here
            job.files[2].footprint = Footprint(
                corners: [[179.9, -1], [180.1, -1], [180.1, -1.1], [179.9, -1.1]], bbox: [179.9, -1.1, 180.1, -1])
            _ = try await store.jobCreate(job)
            let files = try await store.jobFiles("fp")
            #expect(files.map(\.footprint) == [nil, here, job.files[2].footprint])
            let claim = try #require(try await store.fileClaimNext(owner: "w", lease: 30, now: Date()))
            #expect(claim.file.footprint == nil)
            #expect(try await store.fileSetTiles(claim, tilesTotal: 4, footprint: here, now: Date()))
            let after = try await store.jobFiles("fp")
            #expect(after[0].footprint == here && after[0].tilesTotal == 4)
            #expect(try await store.jobGet("fp")?.tilesTotal == 6)
        }
    }

    @Test("a file by its name with its result; mirror rows of pictures drawn after the end", arguments: StoreKind.allCases)
    func fileByName(kind: StoreKind) async throws {
        try await withStore(kind, mirror: true) { store in
            let now = Date()
            try await processedJob("n", in: store, now: now)
            let found = try #require(try await store.file(ofJob: "n", named: "f0.tif"))
            #expect(found.file.status == .succeeded && found.result == Data(#"{"ok":true}"#.utf8))
            #expect(try await store.file(ofJob: "n", named: "f1.tif") == nil)
            #expect(try await store.file(ofJob: "other", named: "f0.tif") == nil)
            _ = try await store.jobFinalize("n", now: now)
            let pictures = ["results/n/quicklooks/f0.tif.jpg", "results/n/thumbnails/f0.tif.jpg"]
            try await store.mirrorEnqueue(job: "n", pictures.map { MirrorRequest(name: $0, origin: "here") }, now: now)
            try await store.mirrorEnqueue(job: "n", pictures.map { MirrorRequest(name: $0, origin: "here") }, now: now)
            let rows = try await store.mirrorList(job: "n").filter { $0.name.hasPrefix("results/n/") }
            #expect(rows.map(\.name) == pictures && rows.allSatisfy { $0.status == .pending })
        }
    }

    @Test(
        "a job made while its upload streams: files join it in order, it never ends before its seal, a discard removes it",
        arguments: StoreKind.allCases)
    func receivingJob(kind: StoreKind) async throws {
        try await withStore(kind, events: TestEvents(progressStep: 10), mirror: true) { store in
            let now = Date()
            var create = newJob("r", files: 1, webhook: "https://203.0.113.1/h")
            create.receiving = ReceivingUpload.owner(instance: "here", processID: 4242)
            create.origin = "here"
            _ = try await store.jobCreate(create)
            #expect(try await store.jobsReceiving().map(\.id) == ["r"])
            #expect(try await store.mirrorList(job: "r").isEmpty, "uploads are mirrored once the upload is sealed")
            // Its one file runs and finishes: the job waits for the rest, and sends no progress event.
            let a = try #require(try await store.fileClaimNext(owner: "w", lease: 30, now: now))
            let afterA = try #require(try await store.fileFinish(a, outcome: success, now: now))
            #expect(afterA.processedFiles == afterA.totalFiles && !afterA.awaitsFinalize && afterA.status == .running)
            #expect(try await store.jobsAwaitingFinalize().isEmpty)
            #expect(try await store.jobFinalize("r", now: now)?.status == .running)
            #expect(try await store.deliveryList(job: "r").deliveries.isEmpty)
            // Two more files join, in order, and are claimable.
            let more = newJob("r", files: 3).files.enumerated().dropFirst().map { $0.element.record(job: "r", ordinal: $0.offset) }
            let added = try #require(try await store.jobAddFiles("r", more, seal: nil, now: now))
            #expect(added.totalFiles == 3 && added.tilesTotal == 3 && added.receiving != nil)
            #expect(try await store.jobFiles("r").map(\.name) == ["f0.tif", "f1.tif", "f2.tif"])
            let b = try #require(try await store.fileClaimNext(owner: "w", lease: 30, now: now))
            #expect(b.file.name == "f1.tif")
            // The seal ends the receiving and mirrors every upload with the ground truth.
            let sealed = try #require(
                try await store.jobAddFiles(
                    "r", [], seal: JobSeal(groundTruth: "uploads/r_.ground_truth.csv", groundTruthName: "t.csv", origin: "here"),
                    now: now))
            #expect(sealed.receiving == nil && sealed.groundTruthName == "t.csv")
            #expect(try await store.jobsReceiving().isEmpty)
            #expect(
                try await store.mirrorList(job: "r").map(\.name) == [
                    "uploads/r_f0.tif", "uploads/r_f1.tif", "uploads/r_f2.tif", "uploads/r_.ground_truth.csv",
                ])
            await #expect(throws: JobNotReceiving.self) { _ = try await store.jobAddFiles("r", [], seal: nil, now: now) }
            #expect(try await store.jobDiscard("r") == false, "a sealed job is never discarded")
            _ = try await store.fileFinish(b, outcome: success, now: now)
            let c = try #require(try await store.fileClaimNext(owner: "w", lease: 30, now: now))
            #expect(try await store.fileFinish(c, outcome: success, now: now)?.awaitsFinalize == true)

            // Another receiving job is discarded with its files and results; its worker's claim is gone.
            var other = newJob("d", files: 2)
            other.receiving = "here/4243"
            _ = try await store.jobCreate(other)
            let d = try #require(try await store.fileClaimNext(owner: "w", lease: 30, now: now))
            _ = try await store.fileFinish(d, outcome: success, now: now)
            let e = try #require(try await store.fileClaimNext(owner: "w", lease: 30, now: now))
            #expect(try await store.jobDiscard("d"))
            #expect(try await store.jobGet("d") == nil)
            #expect(try await store.jobFiles("d").isEmpty)
            #expect(try await store.fileResults("d").isEmpty)
            #expect(try await store.fileHeartbeat(e, tilesDone: 1, lease: 30, now: now) == false)
            #expect(try await store.fileFinish(e, outcome: success, now: now) == nil)
            #expect(try await store.jobAddFiles("d", [], seal: nil, now: now) == nil)
            #expect(try await store.jobDiscard("d") == false)

            // Files that join a job cancelled meanwhile are cancelled too.
            var cancelled = newJob("x", files: 1)
            cancelled.receiving = "here/4244"
            _ = try await store.jobCreate(cancelled)
            _ = try await store.jobCancel("x", now: now)
            let late = newJob("x", files: 2).files.enumerated().dropFirst().map { $0.element.record(job: "x", ordinal: $0.offset) }
            let x = try #require(try await store.jobAddFiles("x", late, seal: JobSeal(origin: "here"), now: now))
            #expect(x.status == .cancelled && x.totalFiles == 2)
            #expect(try await store.jobFiles("x").map(\.status) == [.cancelled, .cancelled])
        }
    }

    @Test("a file's life: claim, heartbeat, finish, results, finalize with its webhook event", arguments: StoreKind.allCases)
    func lifecycle(kind: StoreKind) async throws {
        try await withStore(kind, events: TestEvents()) { store in
            _ = try await store.jobCreate(newJob("j", files: 2, webhook: "https://203.0.113.1/h"))
            let now = Date()
            let a = try #require(try await store.fileClaimNext(owner: "w1", lease: 30, now: now))
            #expect(a.job.status == .running && a.attempt == 1 && a.file.leaseOwner == "w1")
            #expect(try await store.fileHeartbeat(a, tilesDone: 1, lease: 30, now: now))
            #expect(try await store.jobGet("j")?.tilesDone == 1)
            let afterA = try #require(try await store.fileFinish(a, outcome: success, now: now))
            #expect(afterA.succeededFiles == 1 && afterA.processedFiles == 1)
            let b = try #require(try await store.fileClaimNext(owner: "w1", lease: 30, now: now))
            #expect(b.file.id != a.file.id)
            #expect(try await store.fileClaimNext(owner: "w2", lease: 30, now: now) == nil)
            _ = try await store.fileFinish(b, outcome: .failed(error: "corrupt", retryable: false, maxAttempts: 3), now: now)
            #expect(try await store.jobsAwaitingFinalize().map(\.id) == ["j"])
            let results = try await store.fileResults("j")
            #expect(results.count == 1 && results[0].result == Data(#"{"ok":true}"#.utf8) && results[0].file.classCounts == ["tree": 2])
            let final = try #require(try await store.jobFinalize("j", now: now))
            #expect(final.status == .completedWithErrors && final.progress == 100)
            #expect(try await store.jobsAwaitingFinalize().isEmpty)
            let (deliveries, _) = try await store.deliveryList(job: "j")
            #expect(deliveries.map(\.event) == ["job.completed_with_errors"])
            #expect(deliveries.first?.payload == Data(#"{"files":2}"#.utf8))
            // Retry puts the failed file back.
            let retried = try #require(try await store.jobRetryFailed("j", now: now))
            #expect(retried.status == .running && retried.failedFiles == 0)
            let c = try #require(try await store.fileClaimNext(owner: "w3", lease: 30, now: now))
            #expect(c.file.id == b.file.id && c.attempt == 1)
        }
    }

    @Test("fairness: a 1-file job submitted after a big one is not starved", arguments: StoreKind.allCases)
    func fairness(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let t0 = Date()
            _ = try await store.jobCreate(newJob("big", files: 20, at: t0))
            _ = try await store.jobCreate(newJob("small", files: 1, at: t0.addingTimeInterval(1)))
            let first = try #require(try await store.fileClaimNext(owner: "w", lease: 30, now: t0))
            let second = try #require(try await store.fileClaimNext(owner: "w", lease: 30, now: t0))
            #expect(first.job.id == "big" && second.job.id == "small")
        }
    }

    /// The embedded stores run claims one at a time, each seeing the counts of the one before, so
    /// claims made at once alternate between jobs exactly. (PostgreSQL's run concurrently: one that
    /// chose a job while another held it takes from it after that one, so its fairness across
    /// claims made at the same instant is approximate.)
    @Test("fairness under contention: claims made at once alternate between the jobs", arguments: [StoreKind.memory, .sqlite])
    func fairnessUnderContention(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let t0 = Date()
            _ = try await store.jobCreate(newJob("a", files: 6, at: t0))
            _ = try await store.jobCreate(newJob("b", files: 6, at: t0.addingTimeInterval(1)))
            let claims = try await withThrowingTaskGroup(of: FileClaim?.self) { group in
                for w in 0..<4 { group.addTask { try await store.fileClaimNext(owner: "w\(w)", lease: 30, now: t0) } }
                return try await group.reduce(into: [FileClaim]()) { if let c = $1 { $0.append(c) } }
            }
            #expect(
                claims.filter { $0.job.id == "a" }.count == 2 && claims.filter { $0.job.id == "b" }.count == 2, "\(claims.map(\.job.id))")
        }
    }

    @Test("leases: an expired claim moves to another worker, whose result wins; the stale one is discarded", arguments: StoreKind.allCases)
    func leases(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.jobCreate(newJob("j", files: 1))
            let t0 = Date()
            let stale = try #require(try await store.fileClaimNext(owner: "w1", lease: 5, now: t0))
            #expect(try await store.fileClaimNext(owner: "w2", lease: 5, now: t0.addingTimeInterval(4)) == nil)
            let fresh = try #require(try await store.fileClaimNext(owner: "w2", lease: 5, now: t0.addingTimeInterval(6)))
            #expect(fresh.file.id == stale.file.id && fresh.attempt == 2)
            #expect(try await store.fileHeartbeat(stale, tilesDone: 1, lease: 5, now: t0.addingTimeInterval(6)) == false)
            #expect(try await store.fileFinish(stale, outcome: success, now: t0.addingTimeInterval(7)) == nil)
            let job = try #require(try await store.fileFinish(fresh, outcome: success, now: t0.addingTimeInterval(7)))
            #expect(job.succeededFiles == 1)
            #expect(try await store.fileResults("j").count == 1)
        }
    }

    @Test("attempts: transient failures retry up to the limit, then the file fails with its last error", arguments: StoreKind.allCases)
    func attempts(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.jobCreate(newJob("j", files: 1))
            for attempt in 1...3 {
                let claim = try #require(try await store.fileClaimNext(owner: "w", lease: 30, now: Date()))
                #expect(claim.attempt == attempt)
                _ = try await store.fileFinish(
                    claim, outcome: .failed(error: "timeout \(attempt)", retryable: true, maxAttempts: 3), now: Date())
            }
            #expect(try await store.fileClaimNext(owner: "w", lease: 30, now: Date()) == nil)
            let file = try #require(try await store.jobFiles("j").first)
            #expect(file.status == .failed && file.error == "timeout 3" && file.attempts == 3)
            #expect(try await store.jobFinalize("j", now: Date())?.status == .failed)
        }
    }

    @Test("cancel: unfinished files stop, a worker's heartbeat learns it, the event is written", arguments: StoreKind.allCases)
    func cancel(kind: StoreKind) async throws {
        try await withStore(kind, events: TestEvents()) { store in
            _ = try await store.jobCreate(newJob("j", files: 3, webhook: "https://203.0.113.1/h"))
            let claim = try #require(try await store.fileClaimNext(owner: "w", lease: 30, now: Date()))
            let cancelled = try #require(try await store.jobCancel("j", now: Date()))
            #expect(cancelled.status == .cancelled)
            #expect(try await store.fileHeartbeat(claim, tilesDone: 1, lease: 30, now: Date()) == false)
            #expect(try await store.fileClaimNext(owner: "w", lease: 30, now: Date()) == nil)
            #expect(try await store.jobFiles("j").allSatisfy { $0.status == .cancelled })
            #expect(try await store.deliveryList(job: "j").deliveries.map(\.event) == ["job.cancelled"])
            #expect(try await store.jobCancel("nope", now: Date()) == nil)
        }
    }

    @Test("webhook outbox: claim when due, lease, record attempts, redeliver", arguments: StoreKind.allCases)
    func webhookOutbox(kind: StoreKind) async throws {
        try await withStore(kind, events: TestEvents()) { store in
            _ = try await store.jobCreate(newJob("j", files: 1, webhook: "https://203.0.113.1/h"))
            _ = try await store.jobCancel("j", now: Date())
            let t0 = Date().addingTimeInterval(1)
            let d = try #require(try await store.deliveryClaimNext(owner: "d1", lease: 30, now: t0))
            #expect(try await store.deliveryClaimNext(owner: "d2", lease: 30, now: t0) == nil)
            let attempt = WebhookAttempt(deliveryID: d.id, number: 1, at: t0, statusCode: 500, error: nil, seconds: 0.1)
            #expect(try await store.deliveryRecord(d, attempt: attempt, decision: .retry(next: t0.addingTimeInterval(60))))
            #expect(try await store.deliveryClaimNext(owner: "d2", lease: 30, now: t0.addingTimeInterval(30)) == nil)
            let again = try #require(try await store.deliveryClaimNext(owner: "d2", lease: 30, now: t0.addingTimeInterval(61)))
            // A stale deliverer's attempt is kept for the audit but decides nothing.
            #expect(try await store.deliveryRecord(d, attempt: attempt, decision: .delivered) == false)
            let ok = WebhookAttempt(deliveryID: d.id, number: 2, at: t0.addingTimeInterval(62), statusCode: 200, error: nil, seconds: 0.1)
            #expect(try await store.deliveryRecord(again, attempt: ok, decision: .delivered))
            let (deliveries, attempts) = try await store.deliveryList(job: "j")
            #expect(deliveries.first?.status == .delivered && deliveries.first?.attempts == 2 && attempts.count == 3)
            let redelivered = try #require(try await store.deliveryRedeliver(job: "j", now: t0.addingTimeInterval(100)))
            #expect(redelivered.id == d.id && redelivered.status == .pending && redelivered.step == 0)
        }
    }

    @Test("API keys: stored by hash, found until revoked", arguments: StoreKind.allCases)
    func keys(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            var key = APIKeyRecord(
                id: "key1", name: "ci", scope: .user, hash: "h1", prefix: "gi_abc", createdAt: Date(timeIntervalSince1970: 1_800_000_000))
            key.maxFiles = 10
            key.maxRequestBytes = 1 << 40
            try await store.keyCreate(key)
            #expect(try await store.keyFind(hash: "h1") == key)
            #expect(try await store.keyRevoke(id: "key1", now: Date())?.revokedAt != nil)
            #expect(try await store.keyFind(hash: "h1") == nil)
            #expect(try await store.keyList().map(\.id) == ["key1"])
            #expect(try await store.keyRevoke(id: "nope", now: Date()) == nil)
        }
    }

    @Test(
        "model registry: add (again: unchanged; another file: refused), list by name and age, remove refused while a job uses it",
        arguments: StoreKind.allCases)
    func modelRegistry(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            func model(_ name: String, _ version: String, sha: String, at: Double) -> ModelRecord {
                ModelRecord(
                    name: name, version: version, sha256: sha, path: ModelRecord.storedPath(name: name, version: version), sizeBytes: 1234,
                    manifest: #"{"name":"\#(name)"}"#, metrics: version == "1.0" ? #"{"ap50":0.5}"# : nil,
                    addedAt: t0.addingTimeInterval(at))
            }
            let palms = model("palms", "1.0", sha: "aa", at: 2)
            #expect(try await store.modelAdd(palms) == (palms, true))
            #expect(try await store.modelAdd(model("palms", "1.0", sha: "aa", at: 9)) == (palms, false))
            await #expect(throws: ModelRegistryError.conflict(reference: "palms@1.0", sha256: "aa")) {
                try await store.modelAdd(model("palms", "1.0", sha: "bb", at: 3))
            }
            _ = try await store.modelAdd(model("palms", "1.1", sha: "cc", at: 4))
            _ = try await store.modelAdd(model("cars", "2", sha: "dd", at: 5))
            #expect(try await store.modelList().map(\.reference) == ["cars@2", "palms@1.0", "palms@1.1"])
            #expect(try await store.modelList()[1] == palms)

            var job = newJob("uses-palms", files: 1)
            job.modelName = "palms"
            job.modelVersion = "1.1"
            job.modelSHA256 = "cc"
            _ = try await store.jobCreate(job)
            #expect(
                try await store.jobGet("uses-palms").map { [$0.modelName, $0.modelVersion, $0.modelSHA256] } == ["palms", "1.1", "cc"])
            await #expect(throws: ModelRegistryError.inUse(reference: "palms@1.1", jobs: 1)) {
                try await store.modelRemove(name: "palms", version: "1.1")
            }
            _ = try await store.jobCancel("uses-palms", now: t0.addingTimeInterval(10))
            #expect(try await store.modelRemove(name: "palms", version: "1.1")?.sha256 == "cc")
            #expect(try await store.modelRemove(name: "palms", version: "1.1") == nil)
            #expect(try await store.modelList().map(\.reference) == ["cars@2", "palms@1.0"])
        }
    }

    @Test(
        "mirror origins: a row is copied only by a process on the data directory that holds its file; rows without one by any",
        arguments: StoreKind.allCases)
    func mirrorOrigins(kind: StoreKind) async throws {
        try await withStore(kind, mirror: true) { store in
            var job = newJob("api", files: 1)
            job.origin = "api-disk"
            _ = try await store.jobCreate(job)
            // Well after both jobs' rows come due, however slowly the test runs.
            let t0 = Date().addingTimeInterval(3600)
            #expect(try await store.mirrorClaimNext(owner: "w", origin: "worker-disk", lease: 30, now: t0) == nil)
            let mine = try #require(try await store.mirrorClaimNext(owner: "a", origin: "api-disk", lease: 30, now: t0))
            #expect(mine.name == "uploads/api_f0.tif" && mine.origin == "api-disk")
            _ = try await store.jobCreate(newJob("old", files: 1))
            #expect(try await store.mirrorClaimNext(owner: "w", origin: "worker-disk", lease: 30, now: t0)?.name == "uploads/old_f0.tif")
        }
    }

    @Test(
        "mirror leases of a gone copier: released for its own data directory only, the others' kept", arguments: StoreKind.allCases)
    func mirrorLeasesOfAGoneCopier(kind: StoreKind) async throws {
        try await withStore(kind, mirror: true) { store in
            for (id, origin) in [("here1", "here"), ("here2", "here"), ("here3", "here"), ("there", "elsewhere")] {
                var job = newJob(id, files: 1)
                job.origin = origin
                _ = try await store.jobCreate(job)
            }
            let t0 = Date().addingTimeInterval(3600)
            let gone = try #require(try await store.mirrorClaimNext(owner: "gone-1", origin: "here", lease: 60, now: t0))
            let alive = try #require(try await store.mirrorClaimNext(owner: "alive-1", origin: "here", lease: 60, now: t0))
            let far = try #require(try await store.mirrorClaimNext(owner: "gone-2", origin: "elsewhere", lease: 60, now: t0))
            // Everything of "here" is leased or waiting; nothing can be claimed by another copier until a lease ends.
            let waiting = try #require(try await store.mirrorClaimNext(owner: "alive-2", origin: "here", lease: 60, now: t0))
            #expect(try await store.mirrorClaimNext(owner: "next", origin: "here", lease: 60, now: t0) == nil)
            let released = try await store.mirrorReleaseLeases(origin: "here") { $0.hasPrefix("gone-") }
            #expect(released == 1)
            // The gone copier's object is claimed at once, long before its lease would end; the living one's is not.
            let again = try #require(try await store.mirrorClaimNext(owner: "next", origin: "here", lease: 60, now: t0))
            #expect(again.id == gone.id)
            #expect(try await store.mirrorClaimNext(owner: "next", origin: "here", lease: 60, now: t0) == nil)
            // The gone copier's late outcome no longer counts; the others' still do.
            #expect(
                try await store.mirrorRecord(gone, outcome: .synced(sizeBytes: 1, crc32c: "AAAAAA==", generation: "1"), now: t0) == false)
            #expect(try await store.mirrorRecord(alive, outcome: .synced(sizeBytes: 1, crc32c: "AAAAAA==", generation: "1"), now: t0))
            #expect(try await store.mirrorRecord(waiting, outcome: .synced(sizeBytes: 1, crc32c: "AAAAAA==", generation: "1"), now: t0))
            // Another data directory's lease is not this one's to release.
            #expect(try await store.mirrorRecord(far, outcome: .synced(sizeBytes: 1, crc32c: "AAAAAA==", generation: "1"), now: t0))
        }
    }

    @Test("mirror outbox: uploads at submit, results at finalize, retries, re-arming a rewritten result", arguments: StoreKind.allCases)
    func mirrorOutbox(kind: StoreKind) async throws {
        try await withStore(kind, mirror: true) { store in
            _ = try await store.jobCreate(newJob("j", files: 2))
            #expect(try await store.mirrorList(job: "j").map(\.name) == ["uploads/j_f0.tif", "uploads/j_f1.tif"])
            #expect(try await store.mirrorList(job: "j").first?.metadata["original_name"] == "f0.tif")
            let t0 = Date().addingTimeInterval(1)
            let a = try #require(try await store.mirrorClaimNext(owner: "m1", origin: "here", lease: 30, now: t0))
            let b = try #require(try await store.mirrorClaimNext(owner: "m2", origin: "here", lease: 30, now: t0))
            #expect(a.name != b.name)
            #expect(try await store.mirrorClaimNext(owner: "m3", origin: "here", lease: 30, now: t0) == nil)
            #expect(try await store.mirrorRenew(a, lease: 30, now: t0))
            #expect(try await store.mirrorRecord(a, outcome: .synced(sizeBytes: 10, crc32c: "AAAAAA==", generation: "1"), now: t0))
            #expect(try await store.mirrorRecord(b, outcome: .failed(error: "bucket down", retryAt: t0.addingTimeInterval(5)), now: t0))
            #expect(try await store.mirrorClaimNext(owner: "m3", origin: "here", lease: 30, now: t0.addingTimeInterval(1)) == nil)
            #expect(try await store.mirrorClaimNext(owner: "m3", origin: "here", lease: 30, now: t0.addingTimeInterval(6))?.name == b.name)
            for claim in [
                try await store.fileClaimNext(owner: "w", lease: 30, now: t0),
                try await store.fileClaimNext(owner: "w", lease: 30, now: t0),
            ] {
                _ = try await store.fileFinish(try #require(claim), outcome: success, now: t0)
            }
            _ = try await store.jobFinalize(
                "j", now: t0, objects: [MirrorRequest(name: "results/j_coco.json"), MirrorRequest(name: "uploads/j_f0.tif")])
            let objects = try await store.mirrorList(job: "j")
            #expect(objects.map(\.name) == ["uploads/j_f0.tif", "uploads/j_f1.tif", "results/j_coco.json"])
            #expect(objects[0].status == .pending && objects[0].replace)
            let counts = try await store.mirrorCounts()
            #expect(counts[.pending] == 2 && counts[.failed] == 1)
        }
    }

    @Test(
        "a job's output copies: in the outbox with their source even when the mirror is off, and taken over by a later job of the same prefix",
        arguments: StoreKind.allCases)
    func outputCopies(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let t0 = Date()
            for id in ["j1", "j2"] {
                try await processedJob(id, in: store, now: t0)
                let copy = MirrorRequest(name: "gs://out/runs/coco.json", metadata: ["job_id": id], source: "results/\(id)_coco.json")
                _ = try await store.jobFinalize(
                    id, now: t0, objects: [MirrorRequest(name: "results/\(id)_coco.json"), copy], mergedDetections: 3)
            }
            #expect(try await store.jobGet("j1")?.mergedDetections == 3)
            // The mirror is off: only the output copy is kept, and the second job's took it over.
            #expect(try await store.mirrorList(job: "j1").isEmpty)
            let objects = try await store.mirrorList(job: "j2")
            #expect(objects.map(\.name) == ["gs://out/runs/coco.json"])
            #expect(objects.first?.source == "results/j2_coco.json" && objects.first?.replace == true && objects.first?.status == .pending)
            let claimed = try #require(
                try await store.mirrorClaimNext(owner: "m", origin: "here", lease: 30, now: t0.addingTimeInterval(1)))
            #expect(claimed.source == "results/j2_coco.json")
        }
    }

    @Test(
        "output copies under contention: eight jobs of one prefix finalized at once all end, one row a name",
        arguments: StoreKind.allCases)
    func outputCopiesUnderContention(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let t0 = Date()
            let ids = (0..<8).map { "j\($0)" }
            for id in ids {
                try await processedJob(id, in: store, now: t0)
            }
            // Every job writes the same two names: in a database whose transactions overlap, the
            // first insert of a name makes the others wait, then re-arm its row.
            let finals = try await withThrowingTaskGroup(of: JobRecord?.self) { group in
                for id in ids {
                    group.addTask {
                        try await store.jobFinalize(
                            id, now: t0,
                            objects: ["coco.json", "detections.geojson"].map {
                                MirrorRequest(name: "gs://out/shared/\($0)", metadata: ["job_id": id], source: "results/\(id)_\($0)")
                            })
                    }
                }
                return try await group.reduce(into: [JobRecord?]()) { $0.append($1) }
            }
            #expect(finals.count == 8 && finals.allSatisfy { $0?.status == .completed })
            var rows: [MirrorObject] = []
            for id in ids { rows += try await store.mirrorList(job: id) }
            #expect(rows.map(\.name).sorted() == ["gs://out/shared/coco.json", "gs://out/shared/detections.geojson"])
            // Each row names the job that wrote it last, and its source is that job's file.
            for row in rows { #expect(row.source?.hasPrefix("results/\(row.jobID)_") == true) }
        }
    }

    @Test("claims under contention: four workers, forty files, each file claimed once", arguments: StoreKind.allCases)
    func contention(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.jobCreate(newJob("j", files: 40))
            let claimed = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for w in 0..<4 {
                    group.addTask {
                        var mine: [Int64] = []
                        while let claim = try await store.fileClaimNext(owner: "w\(w)", lease: 30, now: Date()) {
                            mine.append(claim.file.id ?? -1)
                            _ = try await store.fileFinish(claim, outcome: success, now: Date())
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: [Int64]()) { $0 += $1 }
            }
            #expect(claimed.count == 40 && Set(claimed).count == 40)
            #expect(try await store.jobGet("j")?.succeededFiles == 40)
        }
    }
}

/// The embedded stores: an idle worker of the same process is woken by the commit that queued
/// files, not by its poll interval running out.
@Suite struct EmbeddedWakeUpTests {
    @Test(arguments: [StoreKind.memory, .sqlite])
    func anIdleWorkerWakesWhenFilesAreQueued(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let idle: @Sendable () -> Int = {
                (store as? SQLiteJobStore)?.idleWaiters ?? (store as? InMemoryJobStore)?.idleWaiters ?? -1
            }
            func parked(_ what: String) async throws {
                try await eventually(within: .seconds(60), what) {
                    guard idle() == 1 else { throw PeerError("\(idle()) waiters parked") }
                }
            }
            // A limit no run reaches: only the commit ends this wait within the deadline below.
            let waiting = Task { () async throws in await store.waitForWork(upTo: .seconds(3600)) }
            try await parked("the idle worker to park")
            let job = newJob(files: 1)
            _ = try await store.jobCreate(job)
            try await value(of: waiting, within: .seconds(60), "the idle worker to wake when the job was created")
            // A commit that queues no file wakes nobody.
            let quiet = Task { () async throws in await store.waitForWork(upTo: .seconds(3600)) }
            try await parked("the second wait to park")
            _ = try await store.jobCancel(job.id, now: Date())
            #expect(idle() == 1, "cancelling a job queued nothing, yet the idle worker was woken")
            quiet.cancel()
            try await value(of: quiet, within: .seconds(60), "the cancelled wait to end")
        }
    }
}

/// PostgreSQL only: idle workers wait on `NOTIFY geoinfer_work` instead of polling.
@Suite struct PostgresWakeUpTests {
    @Test func anIdleWorkerWakesWhenAJobArrivesNotWhenItsWaitRunsOut() async throws {
        try await withStore(.postgres) { store in
            // The listener connects in the background: wait until PostgreSQL confirmed its LISTEN.
            let postgres = try #require(store as? PostgresJobStore)
            let listenDeadline = ContinuousClock.now + .seconds(60)
            while !postgres.isListening {
                guard ContinuousClock.now < listenDeadline else { throw PeerError("the store did not start listening within 60 s") }
                try await Task.sleep(for: .milliseconds(10))
            }
            let started = ContinuousClock.now
            async let waited: Void = store.waitForWork(upTo: .seconds(60))
            try await Task.sleep(for: .milliseconds(200))
            _ = try await store.jobCreate(newJob(files: 1))
            await waited
            let took = ContinuousClock.now - started
            #expect(took < .seconds(30), "woken by the notification, not by the 60 s limit (\(took))")
            // Without a notification the wait lasts its limit.
            let quiet = ContinuousClock.now
            await store.waitForWork(upTo: .milliseconds(300))
            #expect(ContinuousClock.now - quiet >= .milliseconds(300))
        }
    }
}

/// SQLite only: `jobGet` answers from memory between writes, and still sees what another process
/// (another store on the same file) wrote.
@Suite struct SQLiteRecentJobsTests {
    @Test func ownWritesShowAtOnceAndAnotherProcesssWritesWithinTheLifetime() async throws {
        let dir = Fixtures.temporaryDirectory("recent")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("jobs.sqlite").path
        let api = try SQLiteJobStore(path: path)
        let other = try SQLiteJobStore(path: path)
        let job = newJob(files: 2)
        _ = try await api.jobCreate(job)
        #expect(try await api.jobGet(job.id)?.status == .queued)
        // This store's own write: seen at once.
        _ = try await api.jobCancel(job.id, now: Date())
        #expect(try await api.jobGet(job.id)?.status == .cancelled)
        // Another store's write: seen once the remembered copy expires.
        let second = newJob(files: 1)
        _ = try await api.jobCreate(second)
        #expect(try await api.jobGet(second.id)?.status == .queued)
        _ = try await other.jobCancel(second.id, now: Date())
        try await Task.sleep(for: SQLiteJobStore.recentLifetime + .milliseconds(50))
        #expect(try await api.jobGet(second.id)?.status == .cancelled)
    }
}

/// PostgreSQL only: a server that is not there fails `open` within its bound, saying so.
@Suite struct PostgresOpenTests {
    /// A frozen process cannot hold a job's rows for ever: the server ends a session idle inside a
    /// transaction after 15 s (the store's connections say so themselves).
    @Test func sessionsIdleInATransactionAreEndedByTheServer() async throws {
        try await withStore(.postgres) { store in
            let store = try #require(store as? PostgresJobStore)
            let value = try await store.read { c in
                var out = ""
                for try await (v, ) in try await c.query("SHOW idle_in_transaction_session_timeout", logger: Logger(label: "test")).decode(
                    (String,).self)
                { out = v }
                return out
            }
            #expect(value == "15s")
        }
    }

    @Test func anUnreachableServerFailsWithinTheBound() async throws {
        let port = try PeerProcess.freePort()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        // The message is the bound's own: it, not the client, ended the wait.
        await #expect {
            _ = try await PostgresJobStore.open(
                url: "postgres://geoinfer@127.0.0.1:\(port)/none?sslmode=disable", logger: logger,
                reachWithin: .seconds(2))
        } throws: { "\($0)".contains("cannot reach PostgreSQL at 127.0.0.1:\(port)") }
    }
}

/// PostgreSQL only: a network that goes silent (nothing closed, nothing answered) cannot hold a
/// store operation past its bound, though postgres-nio's queries do not end when cancelled.
@Suite struct PostgresSilenceTests {
    @Test func anOperationOnASilentNetworkFailsWithinItsBoundAndTheStoreRecovers() async throws {
        let cluster = try await sharedCluster.value
        let url = try await cluster.freshDatabase()
        let proxy = try await GCSEmulators.pythonPeer("tcp_proxy.py", ["--upstream", "127.0.0.1:\(cluster.port)"])
        defer { proxy.stop() }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let store = try await PostgresJobStore.open(
            url: url.replacingOccurrences(of: ":\(cluster.port)/", with: ":\(proxy.port)/"), logger: logger, reachWithin: .seconds(120))
        let running = Task { try await store.run() }
        defer { running.cancel() }
        let job = try await store.jobCreate(newJob(files: 1)).job
        proxy.signal(SIGUSR1)
        // The read and the transaction each wait on a connection whose server never answers.
        let read = Task { try await store.jobGet(job.id) }
        let write = Task { try await store.jobCancel(job.id, now: Date()) }
        for (task, what) in [(read, "a read"), (write, "a cancel")] as [(Task<JobRecord?, any Error>, String)] {
            do {
                let answer = try await value(of: task, within: .seconds(120), "\(what) on a silent network to end")
                Issue.record("\(what) on a silent network answered: \(String(describing: answer))")
            } catch {
                #expect(error is JobStoreUnavailable, "\(what): \(error)")
            }
        }
        // The network comes back: the pool replaces the closed connections and the store answers.
        // A try right at that moment may still meet the pool's failed connection attempts (it
        // fails fast, as unavailable), so the store is given until a deadline to answer.
        proxy.signal(SIGUSR2)
        let answer = try await eventually(within: .seconds(60), "the store to answer once the network flows again") {
            try await store.jobGet(job.id)
        }
        #expect(answer?.id == job.id)
    }
}
