import Formats
import Foundation
import HTTPTypes
import Hummingbird
import Inference
import Jobs
import Logging
import Storage
import Workers

/// The HTTP API. Every route answers JSON; errors are `{"error": {"code", "message"}}`.
struct Routes: Sendable {
    let store: any JobStore
    let layout: DataLayout
    let upload: UploadHandler
    /// The bucket that mirrors the data directory (nil: none).
    let mirror: GCSBlobStore?
    /// How often server-sent events look for changes (default 0.25 s).
    let eventsPoll: Duration
    let logger: Logger
    /// `/readyz` fails when the data directory has less free space than this.
    let minFreeBytes: Int64
    /// Whether every call but health, metrics and the OpenAPI document needs an API key.
    let requireKeys: Bool
    /// Request rate and uploads in flight, per key.
    let limits: CallerLimits
    /// Leaflet's files for the dashboard's map.
    let assets: MapAssets

    func register(on router: Router<BasicRequestContext>) {
        // The original prototype's clients check for 200 here; new clients use POST /jobs (202).
        router.post("upload") { request, context in
            try await guarded(context) {
                var response = try await uploadFiles(request)
                response.status = .ok
                return response
            }
        }
        router.get("status/:id") { request, context in
            try await guarded(context) { StatusBody(try await job(request, context)).response }
        }
        router.get("jobs") { request, context in try await guarded(context) { try await list(request) } }
        router.post("jobs") { request, context in
            try await guarded(context) {
                // Multipart: files uploaded in the request, as POST /upload but answered 202. JSON: bucket inputs.
                if request.headers[.contentType]?.lowercased().hasPrefix("multipart/") == true { return try await uploadFiles(request) }
                let who = try await caller(request)
                guard case .key(let apiKey) = who else { return try await upload.handleBucketJob(request, key: nil) }
                return try await upload.handleBucketJob(request, key: apiKey)
            }
        }
        router.get("jobs/:id") { request, context in
            try await guarded(context) {
                let j = try await job(request, context)
                let (deliveries, attempts) = try await store.deliveryList(job: j.id)
                var copies: JobDetailBody.Storage?
                if let mirror {
                    copies = JobDetailBody.Storage(
                        bucket: "gs://\(mirror.bucket)", uri: mirror.uri(for:), objects: try await store.mirrorList(job: j.id))
                } else if let prefix = j.outputPrefix {
                    copies = JobDetailBody.Storage(bucket: prefix, uri: { $0 }, objects: try await store.mirrorList(job: j.id))
                }
                return JSON.response(
                    JobDetailBody(
                        j, files: try await store.jobFiles(j.id), deliveries: deliveries, attempts: attempts,
                        storage: copies))
            }
        }
        router.delete("jobs/:id") { request, context in
            try await guarded(context) {
                let id = try await job(request, context).id
                guard let j = try await store.jobCancel(id, now: Date()) else { throw APIError.notFound("job") }
                guard j.status == .cancelled else {
                    throw APIError(.conflict, "already_finished", "job \(id) already finished as \(j.status.rawValue); nothing to cancel")
                }
                return JSON.response(StatusBody(j))
            }
        }
        router.post("jobs/:id/retry") { request, context in
            try await guarded(context) {
                let before = try await job(request, context)
                guard before.status == .failed || before.status == .completedWithErrors else {
                    throw APIError(
                        .conflict, "nothing_to_retry",
                        "only jobs that finished with failed files can be retried (this one is \(before.status.rawValue))")
                }
                guard let j = try await store.jobRetryFailed(before.id, now: Date()) else { throw APIError.notFound("job") }
                return JSON.response(StatusBody(j), status: .accepted)
            }
        }
        router.post("jobs/:id/webhook/redeliver") { request, context in
            try await guarded(context) {
                let j = try await job(request, context)
                guard j.webhookURL != nil else {
                    throw APIError(.conflict, "no_webhook", "job \(j.id) was submitted without a webhook_url; there is nothing to deliver")
                }
                guard j.status.isFinal else {
                    throw APIError(.conflict, "not_finished", "job \(j.id) is \(j.status.rawValue): its webhook is sent when it finishes")
                }
                guard let d = try await store.deliveryRedeliver(job: j.id, now: Date()) else {
                    throw APIError.notFound("webhook delivery of job \(j.id)")
                }
                return JSON.response(JobDetailBody.Delivery(d, attempts: []), status: .accepted)
            }
        }
        router.get("jobs/:id/events") { request, context in
            try await guarded(context) {
                let j = try await job(request, context)
                let owner: String? = if case .key(let k) = try await caller(request, cost: 0) { k.id } else { nil }
                guard limits.beginStream(owner) else {
                    var e = APIError(
                        .tooManyRequests, "too_many_streams",
                        "too many event streams open (at most \(limits.maxStreams) in all, \(limits.maxStreamsPerKey) per key); close one or poll GET /status/{id}"
                    )
                    e.headers[.retryAfter] = "5"
                    throw e
                }
                return try await events(j, release: { limits.endStream(owner) })
            }
        }
        for document in ResultDocument.allCases {
            router.get("results/:id/\(document.fileName)") { request, context in
                try await guarded(context) { try await result(try await job(request, context), document, context: context) }
            }
        }
        router.get("results/:id/footprints.geojson") { request, context in
            // Live at any stage of the job: where each file lies, its state and its quicklook.
            try await guarded(context) {
                let j = try await job(request, context)
                return JSON.response(
                    FootprintCollection(job: j, files: try await store.jobFiles(j.id)), contentType: "application/geo+json")
            }
        }
        for (folder, what, path) in [("quicklooks", "quicklook", layout.quicklookPath), ("thumbnails", "thumbnail", layout.thumbnailPath)] {
            router.get("results/:id/\(folder)/:file") { request, context in
                try await guarded(context) {
                    // A picture costs a fiftieth of a request: a map of a thousand files loads a thousand.
                    let j = try await job(request, context, cost: CallerLimits.pictureCost)
                    let requested = try context.parameters.require("file")
                    // Stored names are sanitised; a name that is not its own sanitised form (`../`, `/`, a leading dot)
                    // is no file of this job, so nothing outside the job's folder is reachable.
                    let name = String(requested.dropLast(4))
                    let file = layout.url(path(j.id, name)).path
                    guard requested.hasSuffix(".jpg"), FileNames.sanitize(name) == name, FileManager.default.fileExists(atPath: file) else {
                        throw APIError.notFound(
                            "\(what) \(requested.prefix(130)) of job \(j.id) (\(folder) exist for files that succeeded)")
                    }
                    return Response(
                        status: .ok, headers: [.contentType: "image/jpeg", .cacheControl: "max-age=3600"],
                        body: try await Self.files.loadFile(path: file, context: context))
                }
            }
        }
        router.get("/") { request, _ in
            // Browsers get the dashboard; other clients (the prototype's scripts among them) a JSON index.
            guard request.headers[.accept]?.lowercased().contains("text/html") == true else {
                return JSON.response(RootIndex.current)
            }
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/html; charset=utf-8",
                    .contentSecurityPolicy:
                        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:",
                    .cacheControl: "no-cache",
                ], body: .init(byteBuffer: ByteBuffer(string: Dashboard.html)))
        }
        // Leaflet for the dashboard's map, from the server itself (no internet needed).
        router.get("assets/leaflet/:file") { _, context in try assets.response(try context.parameters.require("file")) }
        router.get("assets/leaflet/images/:file") { _, context in try assets.response("images/" + (try context.parameters.require("file")))
        }
        registerKeys(on: router)
        registerModels(on: router)
        router.get("healthz") { _, _ in JSON.response(["status": "ok"]) }
        router.get("readyz") { _, _ in await readiness() }
        router.get("metrics") { _, context in
            try await guarded(context) {
                Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: try await Telemetry.exposition(store: store))))
            }
        }
        router.get("openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        // Other methods on known paths: 405 with the allowed ones, not 404.
        let allowed = Self.table
        for (path, methods) in allowed {
            for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete, .options, .trace, HTTPRequest.Method("QUERY")!]
            where !methods.contains(method) {
                router.on(RouterPath(path), method: method) { _, _ -> Response in
                    var error = APIError(
                        .methodNotAllowed, "method_not_allowed",
                        "\(method.rawValue) is not allowed here; use \(methods.map(\.rawValue).joined(separator: ", "))")
                    error.headers[.allow] = methods.map(\.rawValue).joined(separator: ", ")
                    throw error
                }
            }
        }
    }

    /// Every route: its path (Hummingbird's syntax) and methods. The 405 answers are built from it,
    /// and a test checks the OpenAPI document lists exactly these.
    static let table: [(path: String, methods: [HTTPRequest.Method])] = fixedRoutes + resultRoutes

    private static let resultRoutes: [(path: String, methods: [HTTPRequest.Method])] =
        ResultDocument.allCases.map { (path: "results/:id/" + $0.fileName, methods: [HTTPRequest.Method.get]) }

    private static let fixedRoutes: [(path: String, methods: [HTTPRequest.Method])] = [
        ("upload", [.post]), ("status/:id", [.get]), ("jobs", [.get, .post]), ("jobs/:id", [.get, .delete]),
        ("jobs/:id/retry", [.post]), ("jobs/:id/webhook/redeliver", [.post]), ("jobs/:id/events", [.get]),
        ("results/:id/quicklooks/:file", [.get]),
        ("results/:id/thumbnails/:file", [.get]), ("results/:id/footprints.geojson", [.get]),
        ("assets/leaflet/:file", [.get]), ("assets/leaflet/images/:file", [.get]), ("openapi.json", [.get]),
        ("healthz", [.get]), ("readyz", [.get]), ("metrics", [.get]), ("/", [.get]),
        ("keys", [.get, .post]), ("keys/:id", [.delete]), ("models", [.get]), ("models/:name", [.get]),
    ]

    /// A job from the files in a multipart request, within the caller's upload slots: 202 Accepted.
    private func uploadFiles(_ request: Request) async throws -> Response {
        let who = try await caller(request)
        guard case .key(let apiKey) = who else { return try await upload.handle(request, key: nil) }
        let owner = apiKey.id
        guard limits.beginUpload(owner) else {
            var e = APIError(
                .tooManyRequests, "too_many_uploads",
                "this key already has \(limits.maxUploads) uploads in flight; wait for one to finish")
            e.headers[.retryAfter] = "5"
            throw e
        }
        defer { limits.endUpload(owner) }
        return try await upload.handle(request, key: apiKey)
    }

    /// Whether this process can take work: the job store answers, the model is loaded, and the
    /// data directory has room. 503 with the failing checks otherwise.
    private func readiness() async -> Response {
        struct Check: Encodable {
            let ok: Bool
            let detail: String
        }
        var checks: [String: Check] = [:]
        do {
            let (jobs, _) = try await store.counts()
            checks["job_store"] = Check(ok: true, detail: "\(jobs.values.reduce(0, +)) jobs")
        } catch {
            logger.error("readiness: job store unavailable", metadata: ["error": "\(error)"])
            checks["job_store"] = Check(ok: false, detail: "the job store does not answer; see the server log")
        }
        checks["model"] = Check(
            ok: true, detail: "\(upload.models.defaultModel.manifest.name) \(upload.models.defaultModel.manifest.version)")
        if let free = Self.freeBytes(layout.root.path) {
            checks["disk"] = Check(
                ok: free >= minFreeBytes,
                detail: "\(free >> 20) MiB free in the data directory (at least \(minFreeBytes >> 20) MiB wanted)")
        } else {
            checks["disk"] = Check(ok: false, detail: "cannot read the data directory's free space")
        }
        if let mirror {
            // Informational: a bucket outage delays mirroring but takes no work away, so it never fails readiness.
            let problem = await mirror.probe()
            // The bucket is not named: /readyz answers anyone, and the name is where every key's uploads are.
            if let problem { logger.warning("readiness: the mirror bucket is unreachable", metadata: ["error": .string(problem)]) }
            checks["bucket"] = Check(
                ok: true,
                detail: problem == nil
                    ? "the mirror bucket is reachable"
                    : "the mirror bucket is unreachable (objects wait in the mirror outbox); see the server log")
        }
        let ready = checks.values.allSatisfy(\.ok)
        struct Body: Encodable {
            let status: String
            let checks: [String: Check]
        }
        return JSON.response(Body(status: ready ? "ready" : "not_ready", checks: checks), status: ready ? .ok : .serviceUnavailable)
    }

    /// Reads result documents and quicklooks from disk in chunks.
    static let files = FileIO()

    static func freeBytes(_ path: String) -> Int64? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }

    /// Maps every error to an API error: store failures are 503, the rest 500, never a stack trace.
    func guarded(_ context: BasicRequestContext, _ body: () async throws -> Response) async throws -> Response {
        do { return try await body() } catch let e as APIError { throw e } catch let e as HTTPError {
            throw e  // Hummingbird's own (a file gone between the check and the read): JSONErrorMiddleware answers it.
        } catch is CancellationError {
            throw APIError(.serviceUnavailable, "shutting_down", "the server is shutting down; retry shortly")
        } catch let error as JobStoreUnavailable {
            context.logger.error("job store unavailable", metadata: ["error": "\(error)"])
            throw APIError(
                .serviceUnavailable, "store_unavailable", "the job database is unreachable right now; nothing was changed, retry shortly")
        } catch {
            // The request's own logger: the line carries its request id.
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            throw APIError(.internalServerError, "internal", "the request failed on the server; it has been logged")
        }
    }

    /// The caller, from `Authorization: Bearer KEY`. Without a key: anonymous where keys are
    /// optional, else 401.
    func caller(_ request: Request, cost: Double = 1) async throws -> Caller {
        guard let header = request.headers[.authorization] else {
            guard !requireKeys else {
                throw APIError.unauthorized(
                    "this server needs an API key: send Authorization: Bearer KEY (an operator makes one with geoinfer keys create)")
            }
            return .anonymous
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty, parts[1].count <= 200 else {
            throw APIError.unauthorized("the Authorization header must be 'Bearer KEY'")
        }
        guard let key = try await store.keyFind(hash: APIKeys.hash(String(parts[1]))) else {
            throw APIError.unauthorized("unknown or revoked API key")
        }
        if cost > 0, let wait = limits.take(key.id, cost: cost) {
            var e = APIError(
                .tooManyRequests, "rate_limited",
                "too many requests for this key (\(limits.rate) a second); retry after the Retry-After seconds")
            e.headers[.retryAfter] = "\(Int(wait.rounded(.up)))"
            throw e
        }
        return .key(key)
    }

    /// The job named in the path, if the caller may see it; another key's job is 404, as if it did not exist.
    /// `cost`: what the request takes from the key's request rate (1: a request; 0: nothing).
    private func job(_ request: Request, _ context: BasicRequestContext, cost: Double = 1) async throws -> JobRecord {
        let who = try await caller(request, cost: cost)
        let id = try context.parameters.require("id")
        guard HostileText.isID(id), let j = try await store.jobGet(id.lowercased()), who.maySee(j) else {
            throw APIError.notFound("job \(HostileText.isID(id) ? id : "with that id")")
        }
        return j
    }

    private func list(_ request: Request) async throws -> Response {
        let who = try await caller(request)
        let q = request.uri.queryParameters
        var status: JobStatus?
        if let s = q.get("status") {
            guard let parsed = JobStatus(rawValue: s) else {
                throw APIError(
                    .badRequest, "invalid_status", "status must be one of \(JobStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            status = parsed
        }
        var limit = 50
        if let l = q.get("limit") {
            guard let parsed = Int(l), (1...500).contains(parsed) else {
                throw APIError(.badRequest, "invalid_limit", "limit must be 1 to 500")
            }
            limit = parsed
        }
        var after: JobRecord?
        if let cursor = q.get("cursor") {
            guard HostileText.isID(cursor), let j = try await store.jobGet(cursor), who.maySee(j) else {
                throw APIError(
                    .notFound, "cursor_not_found", "cursor must be the next_cursor of a previous page (that job no longer exists)")
            }
            after = j
        }
        let jobs = try await store.jobList(status: status, limit: limit, after: after, owner: who.listFilter)
        return JSON.response(JobListBody(jobs: jobs.map(StatusBody.init), next_cursor: jobs.count == limit ? jobs.last?.id : nil))
    }

    private func result(_ j: JobRecord, _ document: ResultDocument, context: BasicRequestContext) async throws -> Response {
        guard j.status.hasResults else {
            throw APIError(
                .conflict, "not_ready", "job \(j.id) is \(j.status.rawValue): results exist once it has finished (see GET /status/\(j.id))")
        }
        guard j.resultDocuments.contains(document) else {
            let merged = document == .mergedGeoJSON || document == .mergedFlatGeobuf
            throw APIError.notFound(
                merged && j.mergedDetections == nil
                    ? "\(document.fileName) of job \(j.id): no file of the job is georeferenced, so there is no merged layer"
                    : "\(document.fileName) of job \(j.id): the job's formats are \(OutputFormat.listText(j.outputFormats)) (choose formats when submitting)"
            )
        }
        let url = layout.result(job: j.id, file: document.fileName)
        if !FileManager.default.fileExists(atPath: url.path), let mirror {
            // Written by a worker on another machine: fetched once from the bucket, then served locally.
            _ = try? await mirror.download("results/\(url.lastPathComponent)", to: url)
        }
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw APIError.notFound("results of job \(j.id)\(mirror == nil ? "" : " (not here and not yet in the bucket)")")
        }
        // Streamed from disk in chunks: a large job's documents are never held whole in memory.
        return Response(
            status: .ok, headers: [.contentType: document.contentType],
            body: try await Self.files.loadFile(path: url.path, context: context))
    }

    /// Server-sent events: `progress` when the job's counts change, `state` when a file's status
    /// changes (every file's at the start), `file` when a file finishes, and `done` when the job is
    /// final (then the stream ends).
    private func events(_ start: JobRecord, release: @escaping @Sendable () -> Void) async throws -> Response {
        let store = self.store
        let poll = eventsPoll
        let body = ResponseBody { writer in
            // The slot is given back however the stream ends: done, client gone, or shutdown.
            defer { release() }
            var lastProgress: String?
            var seenStates: [String: FileStatus] = [:]
            var idle = ContinuousClock.now
            while !Task.isCancelled {
                guard let j = try await store.jobGet(start.id) else { break }
                let progress = String(decoding: try JSON.encoder.encode(StatusBody(j)), as: UTF8.self)
                var out = ""
                // `state`: every file's status when the stream starts, then each change, with its
                // pictures once it has them (the map follows a running job from these alone);
                // `file` as well when the change is to a final status.
                for f in try await store.jobFiles(j.id) where seenStates[f.name] != f.status {
                    let state = FileState(
                        name: f.name, status: f.status.rawValue, quicklook: quicklookURL(j, f),
                        thumbnail: quicklookURL(j, f, "thumbnails"))
                    out += "event: state\ndata: \(String(decoding: try JSON.encoder.encode(state), as: UTF8.self))\n\n"
                    if f.status.isFinal {
                        let payload: [String: String] = [
                            "name": f.name, "status": f.status.rawValue, "error": f.error ?? "",
                            "detections": "\(f.detections)",
                        ]
                        out += "event: file\ndata: \(String(decoding: try JSON.encoder.encode(payload), as: UTF8.self))\n\n"
                    }
                    seenStates[f.name] = f.status
                }
                if progress != lastProgress {
                    out += "event: progress\ndata: \(progress)\n\n"
                    lastProgress = progress
                }
                if j.status.isFinal { out += "event: done\ndata: \(progress)\n\n" }
                if out.isEmpty, ContinuousClock.now - idle > .seconds(15) { out = ": keep-alive\n\n" }
                if !out.isEmpty {
                    try await writer.write(ByteBuffer(string: out))
                    idle = .now
                }
                if j.status.isFinal { break }
                try await Task.sleep(for: poll)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }
}
