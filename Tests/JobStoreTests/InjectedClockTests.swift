import Foundation
import GeoInferTestSupport
import JobStoreSQLite
import Jobs
import Logging
import Storage
import Testing

@testable import Workers

/// The mirror worker reads time from the clock it is given: a retry comes due when the test moves
/// that clock, not when the machine's clock gets there.
@Suite struct InjectedClockTests {
    @Test func aFailedMirrorUploadComesDueByTheInjectedClock() async throws {
        let dir = Fixtures.temporaryDirectory("clock")
        defer { try? FileManager.default.removeItem(at: dir) }
        let layout = try DataLayout(root: dir.appendingPathComponent("data"))
        let store = try SQLiteJobStore(path: layout.databasePath, mirror: true)
        _ = try await store.jobCreate(newJob("j", files: 1))
        try Data("II*\u{0}".utf8).write(to: layout.url("uploads/j_f0.tif"))
        // A bucket that cannot take the object: where its folder `uploads` should be is a file (a real write error).
        let bucketRoot = dir.appendingPathComponent("bucket")
        try FileManager.default.createDirectory(at: bucketRoot, withIntermediateDirectories: true)
        try Data().write(to: bucketRoot.appendingPathComponent("uploads"))
        // The manual clock starts in 2027, later than the machine's: a worker reading the system's time
        // would schedule the retry in the manual clock's past, and the object would be due at once.
        let clock = ManualWallClock()
        var config = MirrorConfiguration()
        config.clock = clock
        config.firstRetry = 60
        let worker = MirrorWorker(
            store: store, bucket: try LocalBlobStore(root: bucketRoot), layout: layout, config: config,
            logger: Logger(label: "test"))
        let claim = try #require(try await store.mirrorClaimNext(owner: "m", origin: "here", lease: 30, now: clock.now()))
        await worker.sync(claim)
        #expect(try await store.mirrorList(job: "j").first?.status == .failed)
        // Due 60 s (±10 %) after the failure by the worker's clock: not at 50 s, at 70 s.
        clock.advance(by: 50)
        #expect(try await store.mirrorClaimNext(owner: "m", origin: "here", lease: 30, now: clock.now()) == nil)
        clock.advance(by: 20)
        #expect(try await store.mirrorClaimNext(owner: "m", origin: "here", lease: 30, now: clock.now())?.name == "uploads/j_f0.tif")
    }
}
