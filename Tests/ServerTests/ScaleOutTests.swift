import Foundation
import GeoInferTestSupport
import Testing

/// `geoinfer worker` processes on PostgreSQL, as a user runs them.
final class WorkerProcess {
    let process = Process()
    let log: URL

    init(databaseURL: String, dataDir: URL, model: String = Fixtures.model("yolo"), environment: [String: String] = [:]) throws {
        log = dataDir.appendingPathComponent("worker-\(UUID().uuidString.prefix(6)).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.executableURL = URL(fileURLWithPath: Fixtures.geoinferExecutable)
        process.arguments = ["worker", "--concurrency", "1", "--data-dir", dataDir.path, "--model", model, "--threads", "1"]
        process.environment = ProcessInfo.processInfo.environment.merging([
            "DATABASE_URL": databaseURL, "GEOINFER_ENV_FILE": "", "GEOINFER_LOG_LEVEL": "info", "GEOINFER_LEASE_SECONDS": "3",
        ]) { $1 }.merging(environment) { $1 }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    var pid: Int32 { process.processIdentifier }

    /// Waits until the worker's log contains one of `texts`; fails after `timeout` saying what it waited for.
    func waitLog(_ texts: [String], timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if texts.contains(where: output.contains) { return }
            guard process.isRunning else { throw TestFailure("the worker exited before it logged any of \(texts): \(output.suffix(3000))") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("the worker did not log any of \(texts) within \(timeout): \(output.suffix(3000))")
    }

    func kill9() {
        if let stuck = process.killAndWait() { Issue.record("the worker: \(stuck)") }
    }

    deinit { kill9() }
}

@Suite(.serialized) struct ScaleOutTests {
    /// Small files, one marker each: failpoints, not file sizes, hold a worker where a test needs it.
    func smallForm(_ count: Int) throws -> Multipart {
        var form = Multipart()
        for i in 0..<count {
            form.file(
                "part\(i).tif", try Scenes.raster(width: 150, height: 100, markers: [Marker(x: 10 + i * 15, y: 40, width: 10, height: 10)]))
        }
        return form
    }

    /// A worker's outcome for a file it no longer owns: stopped by its heartbeat, or discarded by the store.
    static let staleEnds = ["file stopped: job cancelled or lease lost", "outcome discarded: the file's lease moved"]

    /// An API process without workers on `url`, with the 3 s leases the workers here use.
    func apiOnly(_ url: String, _ extra: [String: String] = [:]) -> [String: String] {
        ["DATABASE_URL": url, "GEOINFER_WORKERS": "0", "GEOINFER_LEASE_SECONDS": "3"].merging(extra) { $1 }
    }

    func expectEachFileOnce(_ server: ServerProcess, _ id: String, count: Int) async throws {
        let coco = try await server.get("/results/\(id)/coco.json").json
        #expect((coco["images"] as? [[String: Any]] ?? []).compactMap { $0["file_name"] as? String } == (0..<count).map { "part\($0).tif" })
        let anns = coco["annotations"] as? [[String: Any]] ?? []
        #expect(anns.count == count)
        #expect(Set(anns.compactMap { $0["image_id"] as? Int }) == Set(1...count))
    }

    @Test func twoAPIsAndTwoWorkersShareOnePostgresQueue() async throws {
        let cluster = try await PostgresCluster.make()
        let url = try await cluster.freshDatabase()
        let dataDir = Fixtures.temporaryDirectory("scale")
        let env = apiOnly(url)
        let api1 = try await ServerProcess(environment: env, dataDir: dataDir)
        defer { api1.stop() }
        let api2 = try await ServerProcess(environment: env, dataDir: dataDir)
        defer { api2.stop() }
        // Each worker pauses before recording its first file: both hold one before either goes on,
        // so the work is shared however the machine schedules them (one worker may start long after
        // the other). Leases outlast the wait, so a paused worker keeps its file.
        let gate = FailpointGate()
        let workers = try (0..<2).map { _ in
            try WorkerProcess(
                databaseURL: url, dataDir: dataDir,
                environment: gate.environment(["worker.before_finish": "1*pause"]).merging(["GEOINFER_LEASE_SECONDS": "300"]) { $1 })
        }
        let count = 6
        let accepted = try await api1.upload(try smallForm(count))
        let id = try #require(accepted.json["job_id"] as? String, "\(accepted.text)")
        var paused: [FailpointGate.Paused] = []
        for w in workers {
            paused.append(
                try await gate.waitPaused("worker.before_finish", pid: w.pid, alive: { w.process.isRunning }, diagnostics: { w.output }))
        }
        for p in paused { try gate.release(p) }
        let final = try await api2.waitFinal(id)
        #expect(final["status"] as? String == "completed", "\(workers.map(\.output))")
        // Both APIs answer the same status, from the one database.
        let s1 = try await api1.get("/status/\(id)").json
        let s2 = try await api2.get("/status/\(id)").json
        #expect(
            s1["status"] as? String == s2["status"] as? String && s1["processed_files"] as? Int == count
                && s2["updated_at"] as? String == s1["updated_at"] as? String)
        try await expectEachFileOnce(api2, id, count: count)
        // The work was shared: both workers finished files.
        // (Info lines reach the log within 50 ms: give the last one that long.)
        var done = workers.map { $0.output.components(separatedBy: "file done").count - 1 }
        let deadline = ContinuousClock.now + .seconds(30)
        while done.reduce(0, +) < count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            done = workers.map { $0.output.components(separatedBy: "file done").count - 1 }
        }
        #expect(done.allSatisfy { $0 >= 1 } && done.reduce(0, +) == count, "\(done)")
    }

    @Test func aKilledWorkersFileMovesAndAFrozenWorkerWritesNothingStale() async throws {
        let cluster = try await PostgresCluster.make()
        let url = try await cluster.freshDatabase()
        let dataDir = Fixtures.temporaryDirectory("scale-faults")
        let api = try await ServerProcess(environment: apiOnly(url), dataDir: dataDir)
        defer { api.stop() }
        let count = 4
        let id = try #require(try await api.upload(try smallForm(count)).json["job_id"] as? String)
        // Both workers pause after their first batch, each holding a file: kill one, freeze the other.
        let gate = FailpointGate()
        let armed = gate.environment(["worker.after_batch": "1*pause"])
        let victim = try WorkerProcess(databaseURL: url, dataDir: dataDir, environment: armed)
        let frozen = try WorkerProcess(databaseURL: url, dataDir: dataDir, environment: armed)
        try await gate.waitPaused(
            "worker.after_batch", pid: victim.pid, alive: { victim.process.isRunning }, diagnostics: { victim.output })
        let held = try await gate.waitPaused(
            "worker.after_batch", pid: frozen.pid, alive: { frozen.process.isRunning }, diagnostics: { frozen.output })
        victim.kill9()
        frozen.signal(SIGSTOP)
        // Released while frozen: when it wakes it goes on from the middle of its file.
        try gate.release(held)
        let rescuer = try WorkerProcess(databaseURL: url, dataDir: dataDir)
        let final = try await api.waitFinal(id, timeout: .seconds(180))
        #expect(final["status"] as? String == "completed", "\(rescuer.output)")
        let before = try await api.get("/results/\(id)/coco.json").text
        // The frozen worker wakes up after its lease moved on: its late result is discarded.
        frozen.signal(SIGCONT)
        // A store operation is bounded (10 s), so if the frozen worker's connections did not survive
        // the freeze it says it could not record the outcome; either way it records nothing.
        try await frozen.waitLog(Self.staleEnds + ["could not record the file's outcome"])
        try await expectEachFileOnce(api, id, count: count)
        #expect(try await api.get("/results/\(id)/coco.json").text == before, "nothing stale was written")
        let files = try await api.get("/jobs/\(id)").json["files"] as? [[String: Any]] ?? []
        #expect(files.allSatisfy { $0["status"] as? String == "succeeded" })
        #expect(files.filter { ($0["attempts"] as? Int ?? 0) >= 2 }.count >= 2, "\(files.map { $0["attempts"] ?? "?" })")
        frozen.kill9()
    }

    @Test func aWorkerCutOffFromTheDatabaseLosesItsFileAndWritesNothingStale() async throws {
        let cluster = try await PostgresCluster.make()
        let url = try await cluster.freshDatabase()
        // The worker reaches PostgreSQL through a proxy that can go silent (its connections blocked,
        // nothing closed), while the worker process itself keeps running.
        let proxy = try await GCSEmulators.pythonPeer("tcp_proxy.py", ["--upstream", "127.0.0.1:\(cluster.port)"])
        defer { proxy.stop() }
        let proxied = url.replacingOccurrences(of: ":\(cluster.port)/", with: ":\(proxy.port)/")
        let dataDir = Fixtures.temporaryDirectory("scale-cutoff")
        let api = try await ServerProcess(environment: apiOnly(url), dataDir: dataDir)
        defer { api.stop() }
        let count = 3
        let id = try #require(try await api.upload(try smallForm(count)).json["job_id"] as? String)
        // The worker pauses after its first batch: it holds a file when the network goes silent.
        let gate = FailpointGate()
        let cutOff = try WorkerProcess(
            databaseURL: proxied, dataDir: dataDir, environment: gate.environment(["worker.after_batch": "1*pause"]))
        let paused = try await gate.waitPaused(
            "worker.after_batch", pid: cutOff.pid, alive: { cutOff.process.isRunning }, diagnostics: { cutOff.output })
        proxy.signal(SIGUSR1)
        let file = try #require(
            paused.context.split(separator: " ").first { $0.hasPrefix("file=") }.map { String($0.dropFirst(5)) }, "\(paused)")
        // Cut off, it goes on with its file and cannot record it.
        try gate.release(paused)
        let rescuer = try WorkerProcess(databaseURL: url, dataDir: dataDir)
        let final = try await api.waitFinal(id, timeout: .seconds(180))
        #expect(final["status"] as? String == "completed", "\(rescuer.output)")
        let before = try await api.get("/results/\(id)/coco.json").text
        // The network comes back: the cut-off worker learns that its lease moved on and writes nothing.
        proxy.signal(SIGUSR2)
        try await cutOff.waitLog(Self.staleEnds + ["could not record the file's outcome"])
        #expect(cutOff.process.isRunning, "the cut-off worker keeps running: \(cutOff.output)")
        try await expectEachFileOnce(api, id, count: count)
        #expect(try await api.get("/results/\(id)/coco.json").text == before, "nothing stale was written")
        let files = try await api.get("/jobs/\(id)").json["files"] as? [[String: Any]] ?? []
        let moved = files.first { $0["name"] as? String == file }
        #expect(moved?["status"] as? String == "succeeded" && (moved?["attempts"] as? Int ?? 0) >= 2, "\(String(describing: moved))")
        #expect((try await api.get("/status/\(id)").json["status"] as? String) == "completed")
    }
}
