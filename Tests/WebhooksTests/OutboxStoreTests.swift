import Foundation
import JobStoreSQLite
import Jobs
import Testing
import Webhooks

/// The outbox's contract on the SQLite store: the delivery appears with the final state, leases
/// keep two deliverers apart, a stale deliverer cannot overwrite, and redelivery keeps the id.
@Suite struct OutboxStoreTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func store() throws -> SQLiteJobStore {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return try SQLiteJobStore(
            path: dir.appendingPathComponent("db.sqlite").path,
            events: WebhookEvents(publicURL: "http://127.0.0.1:8000", modelName: "m", modelVersion: "1"))
    }

    func finishedJob(_ s: SQLiteJobStore, webhook: String?) async throws -> String {
        let id = UUID().uuidString.lowercased()
        _ = try await s.jobCreate(
            JobCreate(
                id: id, createdAt: t0, webhookURL: webhook, idempotencyKey: nil, scoreThreshold: nil, overlap: nil,
                modelName: "m",
                files: [.init(originalName: "a.tif", name: "a.tif", storedPath: "a", sizeBytes: 1, sha256: "", tilesTotal: 1)]))
        let claim = try #require(try await s.fileClaimNext(owner: "w", lease: 30, now: t0))
        _ = try await s.fileFinish(
            claim, outcome: .succeeded(result: Data("{}".utf8), detections: 2, classCounts: ["tree": 2], seconds: 1), now: t0)
        #expect(try await s.deliveryList(job: id).deliveries.isEmpty)
        _ = try await s.jobFinalize(id, now: t0)
        return id
    }

    @Test func deliveryIsWrittenWithTheFinalStateOnlyWhenThereIsAReceiver() async throws {
        let s = try store()
        let id = try await finishedJob(s, webhook: "https://203.0.113.10/h")
        let list = try await s.deliveryList(job: id).deliveries
        #expect(list.count == 1)
        #expect(list[0].event == "job.completed" && list[0].status == .pending)
        // Finalizing again (a second worker, a restart) writes nothing more.
        _ = try await s.jobFinalize(id, now: t0)
        #expect(try await s.deliveryList(job: id).deliveries.count == 1)
        let quiet = try await finishedJob(s, webhook: nil)
        #expect(try await s.deliveryList(job: quiet).deliveries.isEmpty)
    }

    @Test func leasesRetriesAndStaleOwners() async throws {
        let s = try store()
        let id = try await finishedJob(s, webhook: "https://203.0.113.10/h")
        let a = try #require(try await s.deliveryClaimNext(owner: "a", lease: 10, now: t0))
        #expect(try await s.deliveryClaimNext(owner: "b", lease: 10, now: t0.addingTimeInterval(5)) == nil)
        // a's lease expires (a crashed mid-attempt): b takes the same delivery, same id.
        let b = try #require(try await s.deliveryClaimNext(owner: "b", lease: 10, now: t0.addingTimeInterval(11)))
        #expect(b.id == a.id)
        let next = t0.addingTimeInterval(60)
        #expect(
            try await s.deliveryRecord(
                b, attempt: .init(deliveryID: b.id, number: 1, at: t0, statusCode: 500, error: "HTTP 500", seconds: 0.1),
                decision: .retry(next: next)))
        // a comes back late: its attempt is kept for the audit but changes nothing.
        #expect(
            try await !s.deliveryRecord(
                a, attempt: .init(deliveryID: a.id, number: 1, at: t0, statusCode: 200, error: nil, seconds: 9),
                decision: .delivered))
        var (deliveries, attempts) = try await s.deliveryList(job: id)
        #expect(
            deliveries[0].status == .pending && deliveries[0].step == 1 && deliveries[0].attempts == 1
                && deliveries[0].nextAttemptAt == next)
        #expect(attempts.count == 2)
        #expect(try await s.deliveryClaimNext(owner: "c", lease: 10, now: next.addingTimeInterval(-1)) == nil)
        let c = try #require(try await s.deliveryClaimNext(owner: "c", lease: 10, now: next))
        #expect(
            try await s.deliveryRecord(
                c, attempt: .init(deliveryID: c.id, number: 2, at: next, statusCode: 410, error: "HTTP 410", seconds: 0.1),
                decision: .stop))
        #expect(try await s.deliveryClaimNext(owner: "d", lease: 10, now: next.addingTimeInterval(1e6)) == nil)
        // Redelivery: same id, fresh schedule, due now.
        let r = try #require(try await s.deliveryRedeliver(job: id, now: next.addingTimeInterval(100)))
        #expect(r.id == a.id && r.status == .pending && r.step == 0)
        let e = try #require(try await s.deliveryClaimNext(owner: "e", lease: 10, now: next.addingTimeInterval(100)))
        #expect(
            try await s.deliveryRecord(
                e, attempt: .init(deliveryID: e.id, number: 3, at: next, statusCode: 204, error: nil, seconds: 0.1),
                decision: .delivered))
        (deliveries, attempts) = try await s.deliveryList(job: id)
        #expect(deliveries[0].status == .delivered && deliveries[0].deliveredAt != nil && deliveries[0].attempts == 3)
        #expect(attempts.map(\.statusCode) == [500, 200, 410, 204])
    }

    @Test func cancellingWritesTheCancelledEvent() async throws {
        let s = try store()
        let id = UUID().uuidString.lowercased()
        _ = try await s.jobCreate(
            JobCreate(
                id: id, createdAt: t0, webhookURL: "https://203.0.113.10/h", idempotencyKey: nil, scoreThreshold: nil,
                overlap: nil, modelName: "m",
                files: [.init(originalName: "a.tif", name: "a.tif", storedPath: "a", sizeBytes: 1, sha256: "", tilesTotal: 1)]))
        _ = try await s.jobCancel(id, now: t0)
        #expect(try await s.deliveryList(job: id).deliveries.map(\.event) == ["job.cancelled"])
    }
}
