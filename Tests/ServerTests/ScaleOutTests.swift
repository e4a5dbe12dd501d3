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

    func kill9() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { kill9() }
}

@Suite(.serialized) struct ScaleOutTests {
    /// Files that keep a worker busy for a while: low-score texture in every tile, one real marker each.
    func busyForm(_ count: Int) throws -> Multipart {
        var form = Multipart()
        let texture = (0..<14).flatMap { r in (0..<18).map { c in Marker(x: c * 50 + 25, y: r * 50 + 25, score: 20, width: 4, height: 4) } }
        for i in 0..<count {
            form.file("part\(i).tif", try Scenes.raster(width: 900, height: 700, markers: texture + [Marker(x: 10 + i * 50, y: 300, width: 10, height: 10)]))
        }
        return form
    }

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
        let cluster = try PostgresCluster()
        let url = try cluster.freshDatabase()
        let dataDir = Fixtures.temporaryDirectory("scale")
        let env = apiOnly(url)
        let api1 = try await ServerProcess(environment: env, dataDir: dataDir)
        defer { api1.stop() }
        let api2 = try await ServerProcess(environment: env, dataDir: dataDir)
        defer { api2.stop() }
        let workers = try (0..<2).map { _ in try WorkerProcess(databaseURL: url, dataDir: dataDir) }
        let count = 6
        let accepted = try await api1.upload(try busyForm(count))
        let id = try #require(accepted.json["job_id"] as? String, "\(accepted.text)")
        let final = try await api2.waitFinal(id)
        #expect(final["status"] as? String == "completed", "\(workers.map(\.output))")
        // Both APIs answer the same status, from the one database.
        let s1 = try await api1.get("/status/\(id)").json, s2 = try await api2.get("/status/\(id)").json
        #expect(s1["status"] as? String == s2["status"] as? String && s1["processed_files"] as? Int == count
                && s2["updated_at"] as? String == s1["updated_at"] as? String)
        try await expectEachFileOnce(api2, id, count: count)
        // The work was shared: both workers finished files.
        // (Info lines reach the log within 50 ms: give the last one that long.)
        var done = workers.map { $0.output.components(separatedBy: "file done").count - 1 }
        for _ in 0..<20 where done.reduce(0, +) < count {
            try await Task.sleep(for: .milliseconds(100))
            done = workers.map { $0.output.components(separatedBy: "file done").count - 1 }
        }
        #expect(done.allSatisfy { $0 >= 1 } && done.reduce(0, +) == count, "\(done)")
    }

    @Test func aKilledWorkersFileMovesAndAFrozenWorkerWritesNothingStale() async throws {
        let cluster = try PostgresCluster()
        let url = try cluster.freshDatabase()
        let dataDir = Fixtures.temporaryDirectory("scale-faults")
        let api = try await ServerProcess(environment: apiOnly(url), dataDir: dataDir)
        defer { api.stop() }
        let count = 4
        let id = try #require(try await api.upload(try busyForm(count)).json["job_id"] as? String)
        let victim = try WorkerProcess(databaseURL: url, dataDir: dataDir)
        let frozen = try WorkerProcess(databaseURL: url, dataDir: dataDir)
        // Wait until both hold a file, then kill one and freeze the other (its connections stall).
        for _ in 0..<300 {
            let files = try await api.get("/jobs/\(id)").json["files"] as? [[String: Any]] ?? []
            if files.filter({ $0["status"] as? String == "running" }).count >= 2 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        victim.kill9()
        frozen.signal(SIGSTOP)
        let rescuer = try WorkerProcess(databaseURL: url, dataDir: dataDir)
        let final = try await api.waitFinal(id, timeout: .seconds(180))
        #expect(final["status"] as? String == "completed", "\(rescuer.output)")
        // The frozen worker wakes up after its lease moved on: its late result is discarded.
        frozen.signal(SIGCONT)
        try await Task.sleep(for: .seconds(4))
        try await expectEachFileOnce(api, id, count: count)
        let files = try await api.get("/jobs/\(id)").json["files"] as? [[String: Any]] ?? []
        #expect(files.allSatisfy { $0["status"] as? String == "succeeded" })
        #expect(files.filter { ($0["attempts"] as? Int ?? 0) >= 2 }.count >= 2, "\(files.map { $0["attempts"] ?? "?" })")
        frozen.kill9()
    }

    @Test func aWorkerCutOffFromTheDatabaseLosesItsFileAndWritesNothingStale() async throws {
        let cluster = try PostgresCluster()
        let url = try cluster.freshDatabase()
        // The worker reaches PostgreSQL through a proxy that can go silent (its connections blocked,
        // nothing closed), while the worker process itself keeps running.
        let proxy = try await GCSEmulators.pythonPeer("tcp_proxy.py", ["--upstream", "127.0.0.1:\(cluster.port)"])
        defer { proxy.stop() }
        let proxied = url.replacingOccurrences(of: ":\(cluster.port)/", with: ":\(proxy.port)/")
        let dataDir = Fixtures.temporaryDirectory("scale-cutoff")
        let api = try await ServerProcess(environment: apiOnly(url), dataDir: dataDir)
        defer { api.stop() }
        let count = 3
        let id = try #require(try await api.upload(try busyForm(count)).json["job_id"] as? String)
        let cutOff = try WorkerProcess(databaseURL: proxied, dataDir: dataDir)
        // Cut it off while it holds a file. Once cut off it can change nothing, so a file still
        // running then is its own; if it finished the file in between, try again on its next one.
        var held: String?
        for _ in 0..<300 where held == nil {
            let files = try await api.get("/jobs/\(id)").json["files"] as? [[String: Any]] ?? []
            if files.contains(where: { $0["status"] as? String == "running" }) {
                proxy.signal(SIGUSR1)
                try await Task.sleep(for: .milliseconds(300))
                let now = try await api.get("/jobs/\(id)").json["files"] as? [[String: Any]] ?? []
                held = now.first { $0["status"] as? String == "running" }?["name"] as? String
                if held == nil { proxy.signal(SIGUSR2) }
            }
            if held == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let file = try #require(held, "the worker never held a file when cut off: \(cutOff.output)")
        let rescuer = try WorkerProcess(databaseURL: url, dataDir: dataDir)
        let final = try await api.waitFinal(id, timeout: .seconds(180))
        #expect(final["status"] as? String == "completed", "\(rescuer.output)")
        let before = try await api.get("/results/\(id)/coco.json").text
        // The network comes back: the cut-off worker learns that its lease moved on and writes nothing.
        proxy.signal(SIGUSR2)
        let deadline = ContinuousClock.now + .seconds(30)
        while !cutOff.output.contains("lease lost"), !cutOff.output.contains("file done"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        try await Task.sleep(for: .seconds(2))
        #expect(cutOff.process.isRunning, "the cut-off worker keeps running: \(cutOff.output)")
        try await expectEachFileOnce(api, id, count: count)
        #expect(try await api.get("/results/\(id)/coco.json").text == before, "nothing stale was written")
        let files = try await api.get("/jobs/\(id)").json["files"] as? [[String: Any]] ?? []
        let moved = files.first { $0["name"] as? String == file }
        #expect(moved?["status"] as? String == "succeeded" && (moved?["attempts"] as? Int ?? 0) >= 2, "\(String(describing: moved))")
        #expect((try await api.get("/status/\(id)").json["status"] as? String) == "completed")
    }

    @Test func postgresDownForTenSecondsMidJob() async throws {
        let cluster = try PostgresCluster()
        let url = try cluster.freshDatabase()
        let dataDir = Fixtures.temporaryDirectory("scale-outage")
        let api = try await ServerProcess(environment: apiOnly(url, ["GEOINFER_LOG_LEVEL": "debug"]), dataDir: dataDir)
        defer { api.kill9() }
        let worker = try WorkerProcess(databaseURL: url, dataDir: dataDir)
        let count = 4
        let id = try #require(try await api.upload(try busyForm(count)).json["job_id"] as? String)
        for _ in 0..<300 {
            if (try await api.get("/status/\(id)").json["status"] as? String) == "running" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        try cluster.stop()
        let asked = ContinuousClock.now
        let during = try await api.get("/status/\(id)")
        // A clear 503 within the store's 10 s limit, not a request held until the pool gives up.
        #expect(during.status == 503 && during.errorCode == "store_unavailable", "\(during.text)")
        #expect(ContinuousClock.now - asked < .seconds(15))
        try await Task.sleep(for: .seconds(10))
        try cluster.start()
        let final = try await api.waitFinal(id, timeout: .seconds(180))
        #expect(final["status"] as? String == "completed", "\(worker.output)")
        try await expectEachFileOnce(api, id, count: count)
        #expect(api.isRunning)
        #expect(worker.process.isRunning)
        // SIGTERM after an outage: the API exits (the harness records an issue past 20 s).
        api.stop()
        #expect(!api.isRunning)
    }
}
