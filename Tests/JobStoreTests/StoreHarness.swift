import Foundation
import GeoInferTestSupport
import JobStorePostgres
import JobStoreSQLite
import Jobs
import Logging
import Testing

/// The stores every contract test runs against.
enum StoreKind: String, CaseIterable, CustomStringConvertible, Sendable {
    case memory, sqlite, postgres
    var description: String { rawValue }
}

/// One PostgreSQL cluster for the whole test process; each test gets its own database.
let sharedCluster = Task { try await PostgresCluster.make() }

/// Runs `body` with a fresh, migrated store of `kind` (a PostgreSQL store's pool runs meanwhile).
func withStore<T: Sendable>(
    _ kind: StoreKind, events: (any JobEventRenderer)? = nil, mirror: Bool = false,
    _ body: @escaping @Sendable (any JobStore) async throws -> T
) async throws -> T {
    switch kind {
    case .memory:
        return try await body(InMemoryJobStore(events: events, mirror: mirror))
    case .sqlite:
        let dir = Fixtures.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(at: dir) }
        return try await body(try SQLiteJobStore(path: dir.appendingPathComponent("jobs.sqlite").path, events: events, mirror: mirror))
    case .postgres:
        let url = try await sharedCluster.value.freshDatabase()
        var logger = Logger(label: "test")
        logger.logLevel = .error
        // The cluster is ours and running: generous bounds, for a machine loaded by the whole suite.
        // These tests are about what the stores do, not how fast: the store runs in the test
        // process, where the suite's other work can hold it up past the product's 10 s.
        let store = try await PostgresJobStore.open(
            url: url, events: events, mirror: mirror, logger: logger, reachWithin: .seconds(120), operationLimit: .seconds(120))
        // The store's run (its pool and listener) beside the body, then cancelled; a run that did
        // not end would hold the test for ever, so its end has a limit and says what it waited for.
        let runner = Task { try await store.run() }
        let result: Result<T, any Error>
        do { result = .success(try await body(store)) } catch { result = .failure(error) }
        runner.cancel()
        do {
            try await value(
                of: Task { () async throws in _ = await runner.result }, within: .seconds(30),
                "the PostgreSQL store's run ending once cancelled")
        } catch {
            Issue.record(error)  // beside the body's own outcome, not instead of it
        }
        return try result.get()
    }
}

/// A job of `files` one-tile files.
func newJob(
    _ id: String = UUID().uuidString.lowercased(), files: Int, at: Date = Date(), webhook: String? = nil,
    key: String? = nil, owner: String? = nil
) -> JobCreate {
    JobCreate(
        id: id, createdAt: at, webhookURL: webhook, idempotencyKey: key, ownerKeyID: owner, scoreThreshold: nil, overlap: nil,
        modelName: "m",
        files: (0..<files).map {
            .init(
                originalName: "f\($0).tif", name: "f\($0).tif", storedPath: "uploads/\(id)_f\($0).tif", sizeBytes: 10,
                sha256: "abc", tilesTotal: 1)
        })
}

let success = FileOutcome.succeeded(result: Data(#"{"ok":true}"#.utf8), detections: 2, classCounts: ["tree": 2], seconds: 0.5)

/// A new job of one file, whose file a worker claims and finishes at `now`: it awaits finalization.
func processedJob(_ id: String, in store: any JobStore, now: Date) async throws {
    _ = try await store.jobCreate(newJob(id, files: 1))
    let claim = try #require(try await store.fileClaimNext(owner: "w", lease: 30, now: now))
    _ = try await store.fileFinish(claim, outcome: success, now: now)
}

/// Renders a fixed final event, so tests see the outbox rows the stores write.
struct TestEvents: JobEventRenderer {
    var progressStep: Double = 0
    func finalEvent(job: JobRecord, files: [FileRecord], now: Date) throws -> WebhookDelivery? {
        WebhookDelivery(
            id: "msg_\(job.id)", jobID: job.id, event: "job.\(job.status.rawValue)", url: job.webhookURL ?? "",
            payload: Data("{\"files\":\(files.count)}".utf8), secret: nil, createdAt: now)
    }
    func progressEvent(job: JobRecord, now: Date) throws -> WebhookDelivery? {
        WebhookDelivery(
            id: "msg_p\(job.progressNotified)_\(job.id)", jobID: job.id, event: "job.progress", url: job.webhookURL ?? "",
            payload: Data("{}".utf8), secret: nil, createdAt: now)
    }
}
