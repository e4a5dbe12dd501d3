import Foundation
import GeoInferTestSupport
import Jobs
import Testing

@testable import JobStoreSQLite

/// SQLite commits what a caller was told is accepted so that a power loss keeps it (the log is on
/// disk before `COMMIT` returns), and lets only a worker's progress go without that wait: its
/// file's lease makes a lost claim or finish good by running the file again.
@Suite struct DurabilityTests {
    @Test func acceptedWorkIsCommittedToDiskAndWorkerProgressIsNot() async throws {
        let dir = Fixtures.temporaryDirectory("durable")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteJobStore(path: dir.appendingPathComponent("jobs.sqlite").path)
        let full = 2
        let normal = 1
        let now = Date()

        _ = try await store.jobCreate(newJob("j", files: 2))
        #expect(try await store.writerSafetyLevel() == full, "a job's creation")
        let claim = try #require(try await store.fileClaimNext(owner: "w", lease: 30, now: now))
        #expect(try await store.writerSafetyLevel() == normal, "a claim")
        #expect(try await store.fileHeartbeat(claim, tilesDone: 0, lease: 30, now: now))
        #expect(try await store.writerSafetyLevel() == normal, "a heartbeat")
        _ = try await store.fileFinish(claim, outcome: success, now: now)
        #expect(try await store.writerSafetyLevel() == normal, "a file's outcome")
        let second = try #require(try await store.fileClaimNext(owner: "w", lease: 30, now: now))
        _ = try await store.fileFinish(second, outcome: success, now: now)
        #expect(try await store.jobFinalize("j", now: now)?.status == .completed)
        #expect(try await store.writerSafetyLevel() == full, "a job's end")
        _ = try await store.jobCreate(newJob("c", files: 1))
        _ = try await store.fileClaimNext(owner: "w", lease: 30, now: now)
        _ = try await store.jobCancel("c", now: now)
        #expect(try await store.writerSafetyLevel() == full, "a cancel")

        // A streamed upload: its files while it is receiving need no wait, its seal does.
        var receiving = newJob("r", files: 1)
        receiving.receiving = "instance/1/token"
        _ = try await store.jobCreate(receiving)
        #expect(try await store.writerSafetyLevel() == normal, "a job made while its upload streams")
        let more = newJob("r", files: 2).files.enumerated().dropFirst().map { $0.element.record(job: "r", ordinal: $0.offset) }
        _ = try await store.jobAddFiles("r", more, seal: nil, now: now)
        #expect(try await store.writerSafetyLevel() == normal, "files added while receiving")
        _ = try await store.jobAddFiles("r", [], seal: JobSeal(origin: nil), now: now)
        #expect(try await store.writerSafetyLevel() == full, "the seal")
    }
}
