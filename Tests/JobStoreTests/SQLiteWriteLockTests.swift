import Foundation
import GRDB
import GeoInferTestSupport
import Jobs
import Testing

@testable import JobStoreSQLite

/// SQLite only: a transaction's steps run on the calling thread, except that opening one while
/// another process holds the write lock waits for it on the writer's queue (up to the busy timeout)
/// instead of failing or holding the thread.
@Suite struct SQLiteWriteLockTests {
    /// Another process's connection to the same file, holding the write lock until `release`.
    final class OtherProcess: Sendable {
        let queue: DatabaseQueue
        init(path: String) throws {
            var config = Configuration()
            config.allowsUnsafeTransactions = true
            queue = try DatabaseQueue(path: path, configuration: config)
        }
        func hold() throws { try queue.writeWithoutTransaction { try $0.beginTransaction(.immediate) } }
        func release() throws { try queue.writeWithoutTransaction { try $0.commit() } }
    }

    @Test func openingWithoutWaitingSaysBusyLeavesNothingOpenAndKeepsTheTimeout() throws {
        let dir = Fixtures.temporaryDirectory("writelock")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("jobs.sqlite").path
        _ = try SQLiteJobStore(path: path)
        let other = try OtherProcess(path: path)
        let mine = try DatabaseQueue(path: path)
        try other.hold()
        let busy = try mine.writeWithoutTransaction { db throws -> (opened: Bool, open: Bool, timeout: Int?) in
            (try SQLiteJobStore.beginIfFree(db, durable: false), db.isInsideTransaction, try Int.fetchOne(db, sql: "PRAGMA busy_timeout"))
        }
        #expect(!busy.opened && !busy.open, "opened a transaction while another process held the write lock")
        #expect(busy.timeout == Int(SQLiteJobStore.busyTimeout * 1000))
        try other.release()
        let free = try mine.writeWithoutTransaction { db throws -> (opened: Bool, open: Bool, synchronous: Int?, timeout: Int?) in
            let opened = try SQLiteJobStore.beginIfFree(db, durable: true)
            let open = db.isInsideTransaction
            defer { try? db.rollback() }
            return (opened, open, try Int.fetchOne(db, sql: "PRAGMA synchronous"), try Int.fetchOne(db, sql: "PRAGMA busy_timeout"))
        }
        #expect(free.opened && free.open)
        #expect(free.synchronous == 2, "a durable transaction commits at synchronous = FULL")
        #expect(free.timeout == Int(SQLiteJobStore.busyTimeout * 1000))
    }

    @Test func aTransactionWaitsForAnotherProcesssLockThenCommits() async throws {
        let dir = Fixtures.temporaryDirectory("writelock")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("jobs.sqlite").path
        let store = try SQLiteJobStore(path: path)
        let job = newJob(files: 2)
        _ = try await store.jobCreate(job)
        let other = try OtherProcess(path: path)
        try other.hold()
        // A claim, whose transaction opens while the other process holds the lock.
        let claiming = Task { try await store.fileClaimNext(owner: "w", lease: 60, now: Date()) }
        try await eventually(within: .seconds(60), "the claim to find the write lock held") {
            guard store.writeLockWaits == 1 else { throw PeerError("\(store.writeLockWaits) transactions waited for the lock") }
        }
        try other.release()
        let claim = try #require(try await value(of: claiming, within: .seconds(60), "the claim to commit once the lock was free"))
        #expect(claim.file.ordinal == 0)
        // Committed: the next claim, opened with the lock free, takes the other file without waiting.
        let next = try #require(try await store.fileClaimNext(owner: "w", lease: 60, now: Date()))
        #expect(next.file.ordinal == 1)
        #expect(store.writeLockWaits == 1)
        #expect(try await store.jobGet(job.id)?.status == .running)
    }
}
