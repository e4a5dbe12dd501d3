import ArgumentParser
import Foundation
import Inference
import Jobs
import Logging
import Server
import Workers

/// `geoinfer worker`: workers only, no HTTP API, on the job store that `serve --workers 0` uses.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run workers only (no HTTP API) on a shared job store: DATABASE_URL, or the SQLite store of --data-dir on this machine.",
        discussion: """
            Claims files, runs the detector, writes results, and also delivers webhooks and mirrors objects \
            to the bucket. On SIGTERM it stops claiming, finishes or hands back its files, and exits. Inputs \
            uploaded to an API process on another machine are read from the mirror bucket.
            """)

    @Option(help: "Files processed at once (GEOINFER_WORKERS; default: one per core).")
    var concurrency: Int?

    @Option(name: .customLong("data-dir"), help: "Folder for results and temporary copies (GEOINFER_DATA_DIR; default ./data).")
    var dataDir: String?

    @OptionGroup var runtime: ModelRuntimeOptions

    func run() async throws {
        let env = try await Environment.load()
        var config = try ServeCommand.configuration(
            env, host: nil, port: nil, dataDir: dataDir, model: runtime.model, workers: concurrency, threads: runtime.threads)
        config.workers.concurrency = max(1, config.workers.concurrency)
        let logger = try ServeCommand.startLogging(env)
        try await ServeCommand.launch(config, logger: logger, api: false) { built in
            logger.info(
                "GeoInfer worker: \(config.workers.concurrency) at once, model \(built.modelFile.manifest.name) \(built.modelFile.manifest.version), job store \(config.databaseURL == nil ? "SQLite in \(built.layout.root.path)" : "PostgreSQL")"
            )
        }
    }
}
