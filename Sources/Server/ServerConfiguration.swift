public import Foundation
import Jobs
public import Storage
public import Webhooks
public import Workers

/// Settings of `geoinfer serve`. Defaults give a zero set-up local service.
public struct ServerConfiguration: Sendable {
    /// Address to listen on (default 127.0.0.1).
    public var host = "127.0.0.1"
    /// Port (default 8000).
    public var port = 8000
    /// Folder for the database, uploads and results (default `data` in the working directory).
    public var dataDirectory = URL(fileURLWithPath: "data")
    /// The model's path (default: the default model).
    public var modelPath: String?
    /// Workers inside the server process.
    public var workers = WorkerConfiguration()
    /// Upload limits: requests over them are refused with 413.
    public var limits = Limits()
    /// Webhook signing, address policy and retries. With no secret configured, one is generated
    /// on first start and kept in `webhook_secret` in the data directory.
    public var webhooks = WebhookConfiguration()
    /// Whether calls need an API key (default nil: required unless the server listens on loopback only).
    public var requireAPIKeys: Bool?
    /// Whether keys are required with this configuration.
    public var keysRequired: Bool { requireAPIKeys ?? !["127.0.0.1", "::1", "localhost"].contains(host.lowercased()) }
    /// `/readyz` reports not ready when the data directory has less free space (default 1 GiB).
    public var minFreeBytes: Int64 = 1 << 30
    /// The API's address as webhook receivers should reach it, for result links in events
    /// (default `http://{host}:{port}`).
    public var publicURL: String?
    /// `postgres://…`: the PostgreSQL job store shared by API and worker processes (nil: SQLite
    /// under the data directory).
    public var databaseURL: String?
    /// Keep jobs in this process's memory only (``InMemoryJobStore``) instead of a database: for
    /// running the service inside another program, such as its tests. Nothing survives a restart,
    /// and no other process sees the jobs. Not available from the command line.
    public var jobsInMemory = false
    /// Where Leaflet's files are, for the dashboard's map (`GEOINFER_LEAFLET_DIR`; default where
    /// Debian's `libjs-leaflet` installs them).
    public var mapLibraryDirectory = MapAssets.defaultDirectory
    /// Google Cloud Storage: reading gs:// inputs and, with a bucket, mirroring every stored object.
    public var cloud = CloudConfiguration()

    /// Google Cloud Storage settings; the defaults use no GCS at all.
    public struct CloudConfiguration: Sendable {
        /// The GCS endpoint and credentials, or why there are none (`POST /jobs` then answers 422).
        public var access: Result<GCSAccess, StorageError> = .failure(.configuration("GCS access is not configured"))
        /// The bucket that mirrors every upload and result (`ENABLE_GCP_UPLOAD` with `GCP_BUCKET_NAME`); nil: none.
        public var mirrorBucket: String?
        /// Buckets `POST /jobs` may read for any key (`GEOINFER_INPUT_BUCKETS`); nil: none for user
        /// keys, any for admin keys and the local operator. The mirror bucket holds every key's
        /// uploads, so only admin keys and the local operator read it, listed or not.
        public var inputBuckets: Set<String>?
        /// The http(s) URL prefixes jobs may read rasters from (`GEOINFER_URL_INPUTS`; none by default).
        public var urlInputs: [String] = []
        /// The buckets a job's `output_prefix` may name (`GEOINFER_OUTPUT_BUCKETS`; none by default).
        public var outputBuckets: Set<String> = []
        /// How the mirror outbox copies objects to `mirrorBucket` (`GEOINFER_MIRROR_CONCURRENCY` uploads at once, default 4).
        public var mirror = MirrorConfiguration()
        /// The defaults: no GCS access, no mirror bucket, no URL inputs, no output buckets.
        public init() {}
    }

    /// Limits on requests, uploads, connections and event streams.
    public struct Limits: Sendable {
        /// Most files in one upload request (default 10,000).
        public var filesPerRequest = 10_000
        /// Largest single file (default 20 GiB).
        public var bytesPerFile: Int64 = 20 << 30
        /// Largest request body (default 100 GiB).
        public var bytesPerRequest: Int64 = 100 << 30
        /// Largest raster accepted, in pixels (default 10 gigapixels).
        public var pixelsPerFile = 10_000_000_000
        /// Requests a second per API key, on average (default 20; 0: no limit). Over it: 429 with Retry-After.
        public var requestsPerSecond: Double = 20
        /// Requests a key may make at once before the rate applies (default 100).
        public var requestBurst: Double = 100
        /// Uploads per API key in flight at once (default 4; 0: no limit). Over it: 429.
        public var uploadsInFlight = 4
        /// A connection that sends nothing for this long while its request is being read, or
        /// between requests, is closed (default 60 s): a stalled upload gives back its slot.
        public var idleTimeout: Duration = .seconds(60)
        /// Connections open at once (default 1024); past it new ones wait to be accepted.
        public var maxConnections = 1024
        /// Server-sent event streams (`/jobs/{id}/events`) open at once (default 256) and per API
        /// key (default 16). Over either: 429.
        public var eventStreams = 256
        /// Event streams one API key may hold open at once (default 16; `GEOINFER_MAX_EVENT_STREAMS_PER_KEY`). Over it: 429.
        public var eventStreamsPerKey = 16
        /// The defaults.
        public init() {}
    }

    /// The defaults: a local service on 127.0.0.1:8000 with its data in `./data` and no API keys required.
    public init() {}

    /// Checks cross-field rules once; the message says how to fix them.
    public func validate() throws {
        guard (0...65535).contains(port) else { throw ConfigurationError("--port must be between 0 and 65535") }
        guard !jobsInMemory || databaseURL == nil else {
            throw ConfigurationError("jobs are kept either in memory or in the database DATABASE_URL names, not both")
        }
        // Each worker loads its own ONNX Runtime session: a typo must not try to load thousands.
        guard (0...256).contains(workers.concurrency) else {
            throw ConfigurationError("--workers must be 0 to 256 (got \(workers.concurrency))")
        }
        guard (1...1024).contains(workers.threads) else { throw ConfigurationError("--threads must be 1 to 1024 (got \(workers.threads))") }
        guard workers.lease >= 1 else { throw ConfigurationError("GEOINFER_LEASE_SECONDS must be at least 1") }
        guard webhooks.timeout > 0, webhooks.concurrency >= 1 else {
            throw ConfigurationError("GEOINFER_WEBHOOK_TIMEOUT_SECONDS must be positive")
        }
        if let publicURL {
            guard let u = URL(string: publicURL), ["http", "https"].contains(u.scheme?.lowercased() ?? ""), u.host != nil else {
                throw ConfigurationError("GEOINFER_PUBLIC_URL must be an absolute http(s) URL such as https://geoinfer.example.com")
            }
        }
        guard limits.requestsPerSecond >= 0, limits.requestBurst >= 1, limits.uploadsInFlight >= 0 else {
            throw ConfigurationError(
                "GEOINFER_RATE_LIMIT and GEOINFER_MAX_CONCURRENT_UPLOADS must be 0 (no limit) or more, GEOINFER_RATE_BURST at least 1")
        }
        guard limits.idleTimeout > .zero, limits.maxConnections >= 1, limits.eventStreams >= 1, limits.eventStreamsPerKey >= 1 else {
            throw ConfigurationError(
                "GEOINFER_IDLE_TIMEOUT_SECONDS, GEOINFER_MAX_CONNECTIONS, GEOINFER_MAX_EVENT_STREAMS and GEOINFER_MAX_EVENT_STREAMS_PER_KEY must be positive"
            )
        }
        guard limits.filesPerRequest > 0, limits.bytesPerFile > 0, limits.bytesPerRequest > 0 else {
            throw ConfigurationError("upload limits must be positive")
        }
    }
}

/// A configuration the server cannot start with; `description` says what to change.
public struct ConfigurationError: Error, CustomStringConvertible {
    /// What is wrong and how to fix it, as `geoinfer serve` prints it.
    public let description: String
    /// An error with the message `description`.
    public init(_ description: String) { self.description = description }
}

extension ServerConfiguration.Limits {
    /// These limits, lowered to a key's own where it has them.
    func narrowed(by key: APIKeyRecord?) -> Self {
        var l = self
        if let n = key?.maxFiles { l.filesPerRequest = min(l.filesPerRequest, n) }
        if let n = key?.maxFileBytes { l.bytesPerFile = min(l.bytesPerFile, n) }
        if let n = key?.maxRequestBytes { l.bytesPerRequest = min(l.bytesPerRequest, n) }
        return l
    }
}
