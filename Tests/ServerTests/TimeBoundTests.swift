import Foundation
import GeoInferTestSupport
import Testing

/// Tests that assert a bound in wall-clock time. `make test` runs them on their own, after the
/// rest of the suite, so the bound measures the service and not the other tests beside it.
@Suite(.serialized) struct TimeBoundTests {
    let scale = ScaleOutTests()

    @Test func postgresDownForTenSecondsMidJob() async throws {
        let cluster = try await PostgresCluster.make()
        let url = try await cluster.freshDatabase()
        let dataDir = Fixtures.temporaryDirectory("scale-outage")
        let api = try await ServerProcess(environment: scale.apiOnly(url, ["GEOINFER_LOG_LEVEL": "debug"]), dataDir: dataDir)
        defer { api.kill9() }
        // The worker pauses once, mid-file: the database goes down while the job is surely running.
        let gate = FailpointGate()
        let worker = try WorkerProcess(databaseURL: url, dataDir: dataDir, environment: gate.environment(["worker.after_batch": "1*pause"]))
        let count = 4
        let id = try #require(try await api.upload(try scale.smallForm(count)).json["job_id"] as? String)
        let paused = try await gate.waitPaused(
            "worker.after_batch", pid: worker.pid, alive: { worker.process.isRunning }, diagnostics: { worker.output })
        try await cluster.stop()
        try gate.release(paused)
        let asked = ContinuousClock.now
        let during = try await api.get("/status/\(id)")
        // A clear 503 within the store's 10 s limit, not a request held until the pool gives up.
        #expect(during.status == 503 && during.errorCode == "store_unavailable", "\(during.text)")
        #expect(ContinuousClock.now - asked < .seconds(15))
        try await Task.sleep(for: .seconds(10))
        try await cluster.start()
        let final = try await api.waitFinal(id, timeout: .seconds(180))
        #expect(final["status"] as? String == "completed", "\(worker.output)")
        try await scale.expectEachFileOnce(api, id, count: count)
        #expect(api.isRunning)
        #expect(worker.process.isRunning)
        // SIGTERM after an outage: the API exits (the harness records an issue past 20 s).
        api.stop(within: 20)
        #expect(!api.isRunning)
    }
}
