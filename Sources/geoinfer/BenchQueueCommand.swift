import ArgumentParser
import Formats
import Foundation
import Inference
import JobStorePostgres
import JobStoreSQLite
import Jobs
import Logging

/// `geoinfer bench-queue`: the job store's queue overhead, without any detection: one job of N
/// no-op files, claimed and completed by W concurrent workers, on DATABASE_URL or a fresh SQLite file.
struct BenchQueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-queue",
        abstract: "Measure the job store's queue: claim and complete N no-op files with W workers; prints JSON.")

    @Option(help: "Files in the job.") var files = 10_000
    @Option(help: "Concurrent workers.") var workers = 4

    func run() async throws {
        let env = try await Environment.load()
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        if let url = env["DATABASE_URL"], !url.isEmpty {
            let store = try await PostgresJobStore.open(url: url, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.run() }
                try await measure(store, name: "postgresql")
                group.cancelAll()
            }
        } else {
            let dir = FileManager.default.temporaryDirectory.appending(path: "geoinfer-bench-queue-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            try await measure(try SQLiteJobStore(path: dir.appending(path: "queue.sqlite").path), name: "sqlite")
        }
    }

    private func measure(_ store: any JobStore, name: String) async throws {
        let id = UUID().uuidString.lowercased()
        let created = ContinuousClock.now
        _ = try await store.jobCreate(
            JobCreate(
                id: id, createdAt: Date(), webhookURL: nil, idempotencyKey: nil, scoreThreshold: nil,
                overlap: nil, modelName: "none",
                files: (0..<files).map {
                    .init(
                        originalName: "f\($0).tif", name: "f\($0).tif", storedPath: "uploads/\(id)_f\($0).tif", sizeBytes: 1, sha256: "",
                        tilesTotal: 1)
                }))
        let createSeconds = (ContinuousClock.now - created).seconds
        let started = ContinuousClock.now
        let done = try await withThrowingTaskGroup(of: Int.self) { group in
            for w in 0..<workers {
                group.addTask {
                    var n = 0
                    while let claim = try await store.fileClaimNext(owner: "bench-\(w)", lease: 60, now: Date()) {
                        _ = try await store.fileFinish(
                            claim, outcome: .succeeded(result: Data("{}".utf8), detections: 0, classCounts: [:], seconds: 0), now: Date())
                        n += 1
                    }
                    return n
                }
            }
            return try await group.reduce(0, +)
        }
        let seconds = (ContinuousClock.now - started).seconds
        let result: [String: Any] = [
            "store": name, "files": done, "workers": workers, "create_seconds": (createSeconds * 1000).rounded() / 1000,
            "seconds": (seconds * 1000).rounded() / 1000, "files_per_second": (Double(done) / seconds).rounded(),
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: .sortedKeys), as: UTF8.self))
    }
}
