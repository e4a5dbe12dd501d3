import Foundation
import Hummingbird
import HummingbirdCore
public import Inference
import JobStorePostgres
import JobStoreSQLite
public import Jobs
public import Logging
public import ServiceLifecycle
import Storage
public import UnixSignals
import Webhooks
import Workers

/// Builds GeoInfer's services from a configuration: the job store, the HTTP application and the
/// in-process workers. `geoinfer serve` and the tests use this one builder.
public enum GeoInferServer {
    /// What `build` made: the job store, the data layout, the model, and the services to run.
    public struct Services: Sendable {
        /// The job store: PostgreSQL with `databaseURL`, else SQLite under the data directory.
        public let store: any JobStore
        /// Where jobs' files live under the data directory.
        public let layout: DataLayout
        /// The model as its file describes it (every process).
        public let modelFile: ModelFile
        /// The model with its ONNX Runtime sessions: only in a process with workers.
        public let model: Model?
        /// Everything that runs, for one `ServiceGroup` with graceful shutdown on SIGTERM/SIGINT.
        public let services: [any Service]
    }

    /// `api` false builds a worker process (`geoinfer worker`): no HTTP server, the workers and the
    /// outbox deliverers only.
    public static func build(_ config: ServerConfiguration, logger: Logger, api: Bool = true) async throws -> Services {
        try config.validate()
        let layout = try DataLayout(root: config.dataDirectory)
        guard let modelPath = config.modelPath ?? Model.defaultPath() else {
            throw ConfigurationError(
                "no --model given and the default model (\(Model.defaultRelativePath)) was not found; pass --model PATH or set GEOINFER_MODEL"
            )
        }
        // Accepting jobs needs only what the file says (manifest, digest): a process without workers
        // never loads ONNX Runtime. With workers, one session each: they run their files side by side.
        let modelFile = try ModelFile.read(path: modelPath)
        let model =
            config.workers.concurrency > 0
            ? try await Model.load(
                file: modelFile, options: SessionOptions(threads: config.workers.threads, device: config.workers.device),
                lanes: config.workers.concurrency)
            : nil
        var webhooks = config.webhooks
        if webhooks.secrets.isEmpty { webhooks.secrets = [try loadOrCreateSecret(layout: layout, logger: logger)] }
        let events = WebhookEvents(
            publicURL: config.publicURL ?? "http://\(config.host):\(config.port)",
            modelName: modelFile.manifest.name, modelVersion: modelFile.manifest.version,
            progressStep: webhooks.progressStep, mirrorBucket: config.cloud.mirrorBucket)
        let store: any JobStore
        var storeServices: [any Service] = []
        if config.jobsInMemory {
            store = InMemoryJobStore(events: events, mirror: config.cloud.mirrorBucket != nil)
        } else if let url = config.databaseURL {
            do {
                let postgres = try await PostgresJobStore.open(
                    url: url, events: events, mirror: config.cloud.mirrorBucket != nil, logger: logger)
                store = postgres
                storeServices = [postgres]
            } catch {
                throw ConfigurationError("DATABASE_URL: \(error)")
            }
        } else {
            store = try SQLiteJobStore(path: layout.databasePath, events: events, mirror: config.cloud.mirrorBucket != nil)
        }
        var mirrorStore: GCSBlobStore?
        if let bucket = config.cloud.mirrorBucket {
            do {
                mirrorStore = try config.cloud.access.get().gcs(bucket: bucket)
            } catch {
                throw ConfigurationError("ENABLE_GCP_UPLOAD is on but GCS cannot be used: \(error)")
            }
        }
        let policy: WebhookAddressPolicy
        let deliverer: WebhookDeliverer
        do {
            policy = try WebhookAddressPolicy(allowlist: webhooks.allowlist)
            deliverer = try WebhookDeliverer(store: store, config: webhooks, logger: logger)
        } catch {
            throw ConfigurationError(error.description)
        }
        let access = config.cloud.access
        let urlInputs: URLInputPolicy
        do { urlInputs = try URLInputPolicy(prefixes: config.cloud.urlInputs) } catch { throw ConfigurationError(error.description) }
        let upload = UploadHandler(
            store: store, layout: layout, models: ModelCatalog(defaultModel: modelFile, store: store, layout: layout),
            limits: config.limits, webhookPolicy: policy,
            buckets: access.map { $0 as any BucketResolver },
            inputs: BucketInputPolicy(allowed: config.cloud.inputBuckets, mirror: config.cloud.mirrorBucket),
            urlInputs: urlInputs, outputBuckets: config.cloud.outputBuckets)
        let routes = Routes(
            store: store, layout: layout, upload: upload, mirror: mirrorStore, eventsPoll: .milliseconds(250), logger: logger,
            minFreeBytes: config.minFreeBytes, requireKeys: config.keysRequired,
            limits: CallerLimits(
                rate: config.limits.requestsPerSecond, burst: config.limits.requestBurst,
                maxUploads: config.limits.uploadsInFlight, maxStreams: config.limits.eventStreams,
                maxStreamsPerKey: config.limits.eventStreamsPerKey),
            assets: MapAssets(directory: config.mapLibraryDirectory, logger: logger),
            pictures: Pictures(store: store, layout: layout, maxSize: config.workers.quicklookSize))
        let idleLimit = config.limits.idleTimeout
        let router = Router()
        // Every request is counted and timed by route and status, and logged with its request id.
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: RequestLogMiddleware())
        router.add(middleware: JSONErrorMiddleware())
        routes.register(on: router)
        let app = Application(
            router: router,
            server: .http1(
                configuration: .init(
                    // The idle limit is ClientIdleHandler's, which counts only the time the server
                    // waits for the client (Hummingbird's own counts a body the server holds back).
                    // `100 Continue` answered as the head arrives (ExpectContinueHandler).
                    additionalChannelHandlers: [
                        ExpectContinueHandler.Installer(), ParseErrorJSONHandler(), ClientIdleHandler(limit: idleLimit),
                    ],
                    idleTimeout: nil)),
            configuration: .init(
                address: .hostname(config.host, port: config.port), serverName: "GeoInfer",
                availableConnectionsDelegate: MaximumAvailableConnections(config.limits.maxConnections, logger: logger)),
            logger: logger)
        // What a crash left (partial uploads, bucket copies, uploads never committed) goes, in every
        // process type, once the store's own service runs.
        var services: [any Service] =
            storeServices + [StartupSweepService(layout: layout, store: store, logger: logger)]
            + (api ? [app, deliverer] : [deliverer])
        if let model {
            var workers = config.workers
            workers.mirrorBucket = config.cloud.mirrorBucket
            if urlInputs.isEnabled { workers.checkURLInput = { url in try await urlInputs.check(url) } }
            services.append(
                WorkerPool(
                    store: store, model: model, layout: layout, config: workers, logger: logger,
                    buckets: try? access.get()))
        }
        if let mirrorStore {
            if let problem = await mirrorStore.probe() {
                logger.warning(
                    "the bucket does not answer; uploads and results wait in the mirror outbox until it does",
                    metadata: ["bucket": .string(mirrorStore.bucket), "error": .string(problem)])
            }
        }
        // One outbox worker copies to the mirror bucket and to jobs' output prefixes alike.
        if mirrorStore != nil || !config.cloud.outputBuckets.isEmpty {
            services.append(
                MirrorWorker(
                    store: store, bucket: mirrorStore, buckets: try? access.get(), layout: layout,
                    config: config.cloud.mirror, logger: logger))
        }
        return Services(store: store, layout: layout, modelFile: modelFile, model: model, services: services)
    }

    /// The server's webhook secret when none is configured: made once, kept (owner-only) in the
    /// data directory so that receivers keep verifying across restarts.
    static func loadOrCreateSecret(layout: DataLayout, logger: Logger) throws -> WebhookSecret {
        let path = layout.root.appending(path: "webhook_secret").path
        do {
            if let stored = try WebhookSecret.load(from: path) { return stored }
        } catch {
            throw ConfigurationError(error.description)
        }
        let secret = WebhookSecret.generate()
        // Written whole under another name, then renamed: a crash never leaves a half-written secret.
        let staging = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        guard
            FileManager.default.createFile(
                atPath: staging, contents: Data((secret.text + "\n").utf8), attributes: [.posixPermissions: 0o600]),
            rename(staging, path) == 0
        else {
            try? FileManager.default.removeItem(atPath: staging)
            throw ConfigurationError("cannot write \(path): check that the data directory is writable")
        }
        logger.notice(
            "generated a webhook signing secret; give it to your receivers (set GEOINFER_WEBHOOK_SECRET to use your own)",
            metadata: ["file": .string(path)])
        return secret
    }

    /// Runs the services until SIGTERM or SIGINT, then shuts down gracefully: the HTTP server stops
    /// accepting, workers hand back their files, outboxes stop, the store closes last. A shutdown
    /// still going after `gracefulShutdownLimit` (a database connection stuck mid-attempt, say) is
    /// escalated to cancellation, and the process ends at most `cancellationLimit` later, so an
    /// orchestrator's SIGTERM is never left hanging.
    public static func run(_ built: Services, logger: Logger) async throws {
        try await serviceGroup(built, logger: logger, signals: [.sigterm, .sigint]).run()
    }

    /// The group that runs the built services, shut down gracefully on `signals` (or by
    /// `triggerGracefulShutdown()`, as a program that embeds the service does). With
    /// `boundedShutdown`, the limits of ``run(_:logger:)`` apply, and ServiceLifecycle ends the
    /// process when cancellation outlasts them; a program that embeds the service and must outlive
    /// it passes false and bounds its own wait.
    public static func serviceGroup(_ built: Services, logger: Logger, signals: [UnixSignal], boundedShutdown: Bool = true)
        -> ServiceGroup
    {
        // The start-up sweep is the one service that ends on its own; the rest run until shutdown.
        let services = built.services.map { service in
            ServiceGroupConfiguration.ServiceConfiguration(
                service: service,
                successTerminationBehavior: service is StartupSweepService ? .ignore : .cancelGroup)
        }
        var configuration = ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: signals, logger: logger)
        if boundedShutdown {
            configuration.maximumGracefulShutdownDuration = gracefulShutdownLimit
            configuration.maximumCancellationDuration = cancellationLimit
        }
        return ServiceGroup(configuration: configuration)
    }

    /// How long a graceful shutdown may run before it is escalated to cancellation (10 s).
    public static let gracefulShutdownLimit: Duration = .seconds(10)
    /// How long the services may take to end once cancelled (5 s).
    public static let cancellationLimit: Duration = .seconds(5)
}
