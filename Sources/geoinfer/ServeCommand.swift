import ArgumentParser
import Failpoints
import Foundation
import Inference
import Jobs
import Logging
import Server
import Storage
import Webhooks
import Workers

/// `--model` and `--threads`, the same for `serve` and `worker`.
struct ModelRuntimeOptions: ParsableArguments {
    @Option(help: "ONNX model (GEOINFER_MODEL; default models/tree-crowns/tree-crowns.onnx).")
    var model: String?

    @Option(
        help:
            "ONNX Runtime intra-op threads of each worker (GEOINFER_THREADS; default: the cores shared out between the workers, at least 1)."
    )
    var threads: Int?
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the job service: HTTP API, durable SQLite job store and in-process workers.",
        discussion: "Every option can also be set by the environment variable named in its help; the flag wins."
    )

    @Option(help: "Address to listen on (GEOINFER_HOST).")
    var host: String?

    @Option(help: "Port (GEOINFER_PORT).")
    var port: Int?

    @Option(name: .customLong("data-dir"), help: "Folder for the database, uploads and results (GEOINFER_DATA_DIR; default ./data).")
    var dataDir: String?

    @Option(help: "In-process workers; 0 serves the API only (GEOINFER_WORKERS; default: one per core).")
    var workers: Int?

    @OptionGroup var runtime: ModelRuntimeOptions

    func run() async throws {
        let env = try await Environment.load()
        let config = try Self.configuration(
            env, host: host, port: port, dataDir: dataDir, model: runtime.model, workers: workers, threads: runtime.threads)
        let logger = try Self.startLogging(env)
        try await Self.launch(config, logger: logger, api: true) { built in
            if config.databaseURL == nil, config.keysRequired, try await built.store.keyList().allSatisfy({ $0.revokedAt != nil }) {
                logger.warning(
                    "API keys are required but none is active: every call will get 401; make one with geoinfer keys create --data-dir \(built.layout.root.path)"
                )
            }
            logger.info(
                "GeoInfer listening on http://\(config.host):\(config.port) (data in \(built.layout.root.path), model \(built.modelFile.manifest.name) \(built.modelFile.manifest.version), \(config.workers.concurrency) workers, job store \(config.databaseURL == nil ? "SQLite" : "PostgreSQL"))"
            )
        }
    }

    /// Builds the services (with the HTTP API or without) and runs them until SIGTERM or SIGINT;
    /// `announce` runs once they are built. Configuration problems become usage errors.
    static func launch(
        _ config: ServerConfiguration, logger: Logger, api: Bool,
        announce: (GeoInferServer.Services) async throws -> Void
    ) async throws {
        do {
            try Failpoint.validateEnvironment()
            MemoryTuning.apply()
            let built = try await GeoInferServer.build(config, logger: logger, api: api)
            try await announce(built)
            try await GeoInferServer.run(built, logger: logger)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        } catch let error as InferenceError {
            throw ValidationError(error.description)
        } catch let error as FailpointError {
            throw ValidationError(error.description)
        }
    }

    /// The service's settings: flags over the environment (and `.env`) over the defaults.
    static func configuration(
        _ env: [String: String], host: String?, port: Int?, dataDir: String?, model: String?, workers: Int?,
        threads: Int?
    ) throws -> ServerConfiguration {
        var config = ServerConfiguration()
        config.host = host ?? env["GEOINFER_HOST"] ?? config.host
        config.port = try port ?? Self.int(env, "GEOINFER_PORT") ?? config.port
        config.dataDirectory = URL(fileURLWithPath: dataDir ?? env["GEOINFER_DATA_DIR"] ?? "data")
        config.modelPath = model
        config.workers.concurrency = try workers ?? Self.int(env, "GEOINFER_WORKERS") ?? config.workers.concurrency
        config.workers.threads =
            try threads ?? Self.int(env, "GEOINFER_THREADS")
            ?? WorkerConfiguration.defaultThreads(cores: ProcessInfo.processInfo.activeProcessorCount, workers: config.workers.concurrency)
        if let url = env["DATABASE_URL"], !url.isEmpty {
            guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
                throw ValidationError("DATABASE_URL must be a postgres:// URL (unset it to use SQLite under the data directory)")
            }
            config.databaseURL = url
        }
        if let lease = try Self.int(env, "GEOINFER_LEASE_SECONDS") { config.workers.lease = TimeInterval(lease) }
        if let attempts = try Self.int(env, "GEOINFER_MAX_ATTEMPTS") { config.workers.maxAttempts = attempts }
        if let size = try Self.int(env, "GEOINFER_QUICKLOOK_SIZE") {
            guard size >= 0, size <= 4096 else {
                throw ValidationError("GEOINFER_QUICKLOOK_SIZE must be 0 (no quicklooks) to 4096 pixels (got \(size))")
            }
            config.workers.quicklookSize = size
        }
        if let inPlace = try Self.bool(env, "GEOINFER_COG_IN_PLACE") { config.workers.readCOGInPlace = inPlace }
        if let n = try Self.int(env, "GEOINFER_MODEL_CACHE") {
            guard (0...64).contains(n) else {
                throw ValidationError("GEOINFER_MODEL_CACHE must be 0 to 64 registered models kept loaded per worker process (got \(n))")
            }
            config.workers.modelCacheSize = n
        }
        if let n = try Self.int(env, "GEOINFER_MAX_FILES") { config.limits.filesPerRequest = n }
        if let n = try Self.int(env, "GEOINFER_MAX_FILE_BYTES") { config.limits.bytesPerFile = Int64(n) }
        if let n = try Self.int(env, "GEOINFER_MAX_REQUEST_BYTES") { config.limits.bytesPerRequest = Int64(n) }
        config.publicURL = env["GEOINFER_PUBLIC_URL"].flatMap { $0.isEmpty ? nil : $0 }
        do {
            config.webhooks = try Self.webhookConfiguration(env)
        } catch let error as WebhookError {
            throw ValidationError(error.description)
        }

        config.cloud = try Self.cloudConfiguration(env)
        if let n = try Self.int(env, "GEOINFER_MIN_FREE_BYTES") { config.minFreeBytes = Int64(n) }
        if let r = try Self.number(env, "GEOINFER_RATE_LIMIT") { config.limits.requestsPerSecond = r }
        if let n = try Self.int(env, "GEOINFER_RATE_BURST") { config.limits.requestBurst = Double(n) }
        if let n = try Self.int(env, "GEOINFER_MAX_CONCURRENT_UPLOADS") { config.limits.uploadsInFlight = n }
        if let t = try Self.number(env, "GEOINFER_IDLE_TIMEOUT_SECONDS") {
            guard t > 0, t <= 86_400 else {
                throw ValidationError("GEOINFER_IDLE_TIMEOUT_SECONDS must be more than 0 and at most 86400 (got \(t))")
            }
            config.limits.idleTimeout = .milliseconds(Int64(t * 1000))
        }
        if let n = try Self.int(env, "GEOINFER_MAX_CONNECTIONS") { config.limits.maxConnections = n }
        if let n = try Self.int(env, "GEOINFER_MAX_EVENT_STREAMS") { config.limits.eventStreams = n }
        if let n = try Self.int(env, "GEOINFER_MAX_EVENT_STREAMS_PER_KEY") { config.limits.eventStreamsPerKey = n }
        if let b = try Self.bool(env, "GEOINFER_REQUIRE_API_KEYS") { config.requireAPIKeys = b }
        if let dir = env["GEOINFER_LEAFLET_DIR"], !dir.isEmpty { config.mapLibraryDirectory = URL(fileURLWithPath: dir) }
        return config
    }

    /// Logging and metrics as GEOINFER_LOG_LEVEL and GEOINFER_LOG_FORMAT say.
    static func startLogging(_ env: [String: String]) throws -> Logger {
        let level = env["GEOINFER_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        if let format = env["GEOINFER_LOG_FORMAT"], !["json", "text"].contains(format) {
            throw ValidationError("GEOINFER_LOG_FORMAT must be json or text (got '\(format)')")
        }
        Telemetry.bootstrapLogging(format: env["GEOINFER_LOG_FORMAT"], level: level)
        Telemetry.bootstrapMetrics()
        var logger = Logger(label: "geoinfer")
        logger.logLevel = level
        return logger
    }

    /// Webhook settings from GEOINFER_WEBHOOK_* (shared with `geoinfer webhook test`).
    static func webhookConfiguration(_ env: [String: String]) throws -> WebhookConfiguration {
        var w = WebhookConfiguration()
        if let secrets = env["GEOINFER_WEBHOOK_SECRET"], !secrets.isEmpty {
            w.secrets = try secrets.split(whereSeparator: { $0 == " " || $0 == "," }).map { try WebhookSecret(String($0)) }
        }
        if let legacy = env["WEBHOOK_SIGNING_SECRET"], !legacy.isEmpty { w.prototypeSecret = try PrototypeSecret(legacy) }
        w.allowlist = (env["GEOINFER_WEBHOOK_ALLOWLIST"] ?? "").split(separator: ",").map(String.init)
        if let s = env["GEOINFER_WEBHOOK_RETRY_SCHEDULE"], !s.isEmpty { w.schedule = try RetrySchedule(parsing: s) }
        if let t = env["GEOINFER_WEBHOOK_TIMEOUT_SECONDS"], !t.isEmpty {
            guard let v = Double(t), v > 0, v <= 300 else {
                throw ValidationError("GEOINFER_WEBHOOK_TIMEOUT_SECONDS must be a number of seconds from 0 to 300 (got '\(t)')")
            }
            w.timeout = v
        }
        if let n = try int(env, "GEOINFER_WEBHOOK_CONCURRENCY") {
            guard (1...256).contains(n) else {
                throw ValidationError("GEOINFER_WEBHOOK_CONCURRENCY must be 1 to 256 deliveries at once (got \(n))")
            }
            w.concurrency = n
        }
        if let p = env["GEOINFER_WEBHOOK_PROGRESS_STEP"], !p.isEmpty {
            guard let v = Double(p), (0...100).contains(v) else {
                throw ValidationError("GEOINFER_WEBHOOK_PROGRESS_STEP must be a percentage from 0 (off) to 100 (got '\(p)')")
            }
            w.progressStep = v
        }
        return w
    }

    /// GCS settings: the endpoint and credentials for gs:// inputs, and with `ENABLE_GCP_UPLOAD`
    /// the bucket that mirrors every upload and result.
    static func cloudConfiguration(_ env: [String: String]) throws -> ServerConfiguration.CloudConfiguration {
        var cloud = ServerConfiguration.CloudConfiguration()
        cloud.access = Result { try GCSAccess.from(environment: env, http: HTTPTransport()) }
            .mapError { $0 as? StorageError ?? .configuration("\($0)") }
        if try bool(env, "ENABLE_GCP_UPLOAD") == true {
            guard let bucket = env["GCP_BUCKET_NAME"], !bucket.isEmpty else {
                throw ValidationError(
                    "ENABLE_GCP_UPLOAD is true but GCP_BUCKET_NAME is not set: name the bucket (make one with geoinfer gcs setup-bucket), or set ENABLE_GCP_UPLOAD=false"
                )
            }
            do {
                try GCSConfiguration.validate(bucket: bucket)
                _ = try cloud.access.get()
            } catch let error as StorageError {
                throw ValidationError("ENABLE_GCP_UPLOAD is true but \(error.description)")
            }
            cloud.mirrorBucket = bucket
        }
        if let names = try bucketList(env, "GEOINFER_INPUT_BUCKETS") { cloud.inputBuckets = names }
        if let names = try bucketList(env, "GEOINFER_OUTPUT_BUCKETS") {
            if !names.isEmpty, case .failure(let error) = cloud.access {
                throw ValidationError("GEOINFER_OUTPUT_BUCKETS is set but GCS cannot be used: \(error.description)")
            }
            cloud.outputBuckets = names
        }
        if let list = env["GEOINFER_URL_INPUTS"] {
            let prefixes = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            do { _ = try URLInputPolicy(prefixes: prefixes) } catch { throw ValidationError(error.description) }
            cloud.urlInputs = prefixes
        }
        if let n = try int(env, "GEOINFER_MIRROR_CONCURRENCY") {
            guard (1...64).contains(n) else { throw ValidationError("GEOINFER_MIRROR_CONCURRENCY must be 1 to 64 (got \(n))") }
            cloud.mirror.concurrency = n
        }
        return cloud
    }

    /// A comma-separated list of bucket names, each checked; nil when `key` is not set.
    static func bucketList(_ env: [String: String], _ key: String) throws -> Set<String>? {
        guard let list = env[key] else { return nil }
        let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for name in names {
            do { try GCSConfiguration.validate(bucket: name) } catch let error as StorageError {
                throw ValidationError("\(key): \(error.description)")
            }
        }
        return Set(names)
    }

    static func bool(_ env: [String: String], _ key: String) throws -> Bool? {
        guard let v = env[key], !v.isEmpty else { return nil }
        guard let b = ["true": true, "1": true, "yes": true, "false": false, "0": false, "no": false][v.lowercased()] else {
            throw ValidationError("\(key) must be true or false (got '\(v)')")
        }
        return b
    }

    /// A finite decimal number such as `0.5` (NaN and infinities are refused).
    static func number(_ env: [String: String], _ key: String) throws -> Double? {
        guard let v = env[key], !v.isEmpty else { return nil }
        guard let n = Double(v), n.isFinite else { throw ValidationError("\(key) must be a number (got '\(v)')") }
        return n
    }

    static func int(_ env: [String: String], _ key: String) throws -> Int? {
        guard let v = env[key], !v.isEmpty else { return nil }
        guard let n = Int(v) else { throw ValidationError("\(key) must be an integer (got '\(v)')") }
        return n
    }
}
