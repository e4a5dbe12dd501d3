import Crypto
import Failpoints
import Formats
import Foundation
import GeoRaster
import HTTPTypes
import Hummingbird
import Inference
import Jobs
import NIOPosix
import Storage
import Webhooks
import Workers

/// `POST /upload`: streams a multipart body to disk part by part (memory does not grow with file
/// size or count), checks every file with GDAL, and answers 202 once the job holds them all. A
/// request without an `Idempotency-Key` whose settings come before its files makes its job while
/// the files still arrive, and workers start on them at once (``StreamedUpload``); otherwise the
/// files are moved into place and the job committed with them in one transaction at the end. A
/// rejected or cut-off request leaves nothing behind either way.
struct UploadHandler: Sendable {
    let store: any JobStore
    let layout: DataLayout
    /// The models a job may name, by manifest and digest: enough to plan tiles (the API never
    /// loads ONNX Runtime).
    let models: ModelCatalog
    let limits: ServerConfiguration.Limits
    /// The SSRF guard every `webhook_url` passes at submit (and again at each delivery).
    let webhookPolicy: WebhookAddressPolicy
    /// Reads inputs given as gs:// URIs (`POST /jobs`); nil without GCS access, with why.
    let buckets: Result<any BucketResolver, StorageError>
    /// Which buckets each caller may name in `POST /jobs`.
    let inputs: BucketInputPolicy
    /// Which http(s) URLs `POST /jobs` may name (none unless an operator lists prefixes).
    let urlInputs: URLInputPolicy
    /// The buckets a job's `output_prefix` may name (`GEOINFER_OUTPUT_BUCKETS`; none by default).
    let outputBuckets: Set<String>
    /// The client that reads the first bytes of each http(s) input at submit (no redirects).
    let http = HTTPTransport()

    static let fields: Set<String> = [
        "webhook_url", "webhook_secret", "model", "score_threshold", "overlap", "nms", "formats", "out_crs", "output_prefix",
    ]
    /// The largest ground-truth file a job takes (64 MiB).
    static let maxGroundTruthBytes: Int64 = 64 << 20

    /// The extension of a ground-truth file a job takes, lowercased; 422 naming `what` otherwise.
    static func groundTruthExtension(_ name: String, what: String) throws -> String {
        let ext = (name as NSString).pathExtension.lowercased()
        guard EvaluationInputs.jobExtensions.contains(ext) else {
            throw APIError(
                .unprocessableContent, "invalid_ground_truth",
                "ground_truth must be a \(EvaluationInputs.jobExtensions.sorted().joined(separator: ", ")) \(what)")
        }
        return ext
    }

    /// Checks an uploaded ground-truth file: an extension `geoinfer evaluate` reads as one file,
    /// and contents it can read (422 otherwise, naming the file as sent, never the server's path).
    static func checkGroundTruth(_ path: URL, name: String) throws -> String {
        let ext = try groundTruthExtension(name, what: "file (got '\(FileNames.sanitize(name))')")
        let typed = path.appendingPathExtension(ext)
        do { try FileManager.default.moveItem(at: path, to: typed) } catch {
            throw APIError.storageUnavailable
        }
        guard DiskSync.sync(typed.path) else {
            throw APIError.storageUnavailable
        }
        do { _ = try EvaluationInputs.groundTruth(typed.path, for: []) } catch {
            let message = error.description.replacingOccurrences(of: typed.path, with: FileNames.sanitize(name))
            throw APIError(.unprocessableContent, "invalid_ground_truth", "ground_truth: \(message.prefix(300))")
        }
        return ext
    }

    /// The settings that change how each file runs. A streamed job whose request sends one of these
    /// after its first files is made again; the others are used only once the job ends, and its
    /// seal takes them as the whole request gave them.
    static let perFileFields: Set<String> = ["model", "score_threshold", "overlap", "nms"]

    /// The per-file settings among `settings`.
    static func perFile(_ settings: [String: String]) -> [String: String] { settings.filter { perFileFields.contains($0.key) } }

    /// Settings also read from the query string (a secret is not: query strings end up in logs).
    static let queryFields: Set<String> = [
        "webhook_url", "model", "score_threshold", "overlap", "nms", "formats", "out_crs", "output_prefix",
    ]

    /// `key` is the API key the job will belong to; its own limits narrow the server's.
    func handle(_ request: Request, key apiKey: APIKeyRecord?) async throws -> Response {
        let owner = apiKey?.id
        try await Failpoint.hit("upload.after_start", context: "key=\(owner ?? "-")")
        let limits = self.limits.narrowed(by: apiKey)
        let key = try idempotencyKey(request, owner: owner)
        guard request.uri.queryParameters.get("webhook_secret") == nil else {
            throw APIError(
                .badRequest, "secret_in_url",
                "send webhook_secret as a form field, not in the URL (URLs end up in logs); then make a new secret, this one is exposed")
        }
        let boundary = try Self.boundary(request.headers[.contentType])
        // Query parameters first; form fields of the same name override them.
        var settings: [String: String] = [:]
        for name in Self.queryFields { if let v = request.uri.queryParameters.get(name) { settings[name] = v } }

        let dir = layout.tempEntry("upload", UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        let (state, streamed) = try await receive(
            request, boundary: boundary, into: dir, limits: limits,
            streaming: key == nil ? StreamStart(settings: settings, owner: owner, dir: dir, maxPixels: limits.pixelsPerFile) : nil)
        do {
            return try await finish(
                state, streamed: streamed, settings: settings, key: key, owner: owner, dir: dir, limits: limits)
        } catch {
            await streamed?.discard()
            throw error
        }
    }

    /// What a request needs to start streaming its job.
    struct StreamStart {
        var settings: [String: String]
        var owner: String?
        var dir: URL
        var maxPixels: Int
    }

    /// The job of a fully received upload: the streamed one sealed, or one made at once.
    private func finish(
        _ state: UploadState, streamed: StreamedUpload?, settings: [String: String], key: String?, owner: String?, dir: URL,
        limits: ServerConfiguration.Limits
    ) async throws -> Response {
        var settings = settings
        for f in state.files { try HostileText.check(f.originalName, "the file name '\(FileNames.sanitize(f.originalName))'") }
        if let name = state.groundTruthName { try HostileText.check(name, "the ground_truth file name '\(FileNames.sanitize(name))'") }
        for (name, value) in state.fields { try HostileText.check(value, "form field '\(name)'") }
        for (name, value) in settings { try HostileText.check(value, "query parameter '\(name)'") }
        settings.merge(state.fields) { $1 }
        let parsed = try await checkedSettings(settings)
        guard !state.files.isEmpty else {
            throw APIError(.badRequest, "no_files", "no files received: send each GeoTIFF as a part named 'files'")
        }
        let groundTruthExtension = try state.groundTruthName.map { try Self.checkGroundTruth(state.groundTruthFile, name: $0) }
        // A retry with the same Idempotency-Key gets the job it made, once its body shows it is the same request.
        let fingerprint = Self.fingerprint(
            "upload", settings: settings,
            items: state.files.map { "\($0.originalName)\t\($0.sha256)" } + (state.groundTruthName.map { ["ground_truth\t\($0)"] } ?? []))
        if let key, let job = try await store.jobFind(idempotencyKey: key) {
            return try sameRequest(job, fingerprint)
        }

        // Every file is checked with GDAL before anything is accepted, a few at a time (one per core),
        // as it arrived when the job streamed with these same settings.
        // The plan the worker will run: the job stores these same resolved settings.
        let sameSettings = streamed.map { Self.perFile($0.settings) == Self.perFile(settings) } ?? false
        let checks: [FileCheck]
        if sameSettings, let known = streamed?.verdicts(count: state.files.count) {
            checks = known
        } else {
            checks = try await Self.checkAll(
                state.files, dir: dir, maxPixels: limits.pixelsPerFile, model: parsed.model, overlap: parsed.detection.overlap)
        }
        var problems: [APIError.FileProblem] = []
        var newFiles: [JobCreate.NewFile] = []
        for check in checks {
            switch check {
            case .accepted(let f): newFiles.append(f)
            case .refused(let p): problems.append(p)
            }
        }
        guard problems.isEmpty else {
            let names = problems.map(\.name).joined(separator: ", ")
            throw APIError(
                .badRequest, "invalid_files",
                "\(problems.count) of \(state.files.count) files are not valid GeoTIFFs: \(names); nothing was accepted", files: problems)
        }

        if let streamed, sameSettings, streamed.isIntact {
            let groundTruthPath = try groundTruthExtension.map { try placeGroundTruth(state, ext: $0, job: streamed.jobID) }
            let name = state.groundTruthName.map(FileNames.sanitize)
            try await Failpoint.hit("upload.before_commit", context: "job=\(streamed.jobID)")
            let seal = JobSeal(
                groundTruth: groundTruthPath, groundTruthName: name, origin: layout.instance,
                finalSettings: .init(
                    webhookURL: parsed.webhookURL, webhookSecret: parsed.webhookSecret, formats: parsed.formats, outCRS: parsed.outCRS,
                    outputPrefix: parsed.outputPrefix))
            if let job = try await streamed.seal(count: state.files.count, seal) {
                return accepted(job, message: "\(newFiles.count) files accepted")
            }
            if let groundTruthPath, let ext = groundTruthExtension {
                try? FileManager.default.moveItem(at: layout.url(groundTruthPath), to: state.groundTruthFile.appendingPathExtension(ext))
            }
        }
        // The job is made at once: a streamed one that could not be kept goes first.
        await streamed?.discard()
        let jobID = UUID().uuidString.lowercased()
        var moved: [URL] = []
        var groundTruthPath: String?
        do {
            for i in newFiles.indices {
                let relative = layout.uploadPath(job: jobID, name: newFiles[i].name)
                try FileManager.default.moveItem(at: dir.appending(path: newFiles[i].name), to: layout.url(relative))
                moved.append(layout.url(relative))
                newFiles[i].storedPath = relative
            }
            if let ext = groundTruthExtension {
                let relative = try placeGroundTruth(state, ext: ext, job: jobID)
                moved.append(layout.url(relative))
                groundTruthPath = relative
            }
            // The renames too, before the job that points at them (the files were synced as they were checked).
            guard DiskSync.sync(layout.url("uploads").path, directory: true) else {
                throw APIError.storageUnavailable
            }
            try await Failpoint.hit("upload.before_commit", context: "job=\(jobID)")
            var create = parsed.job(id: jobID, key: key, owner: owner, fingerprint: fingerprint, files: newFiles)
            create.groundTruth = groundTruthPath
            create.groundTruthName = state.groundTruthName.map(FileNames.sanitize)
            // Only a process on this data directory can copy the uploads to the bucket.
            create.origin = layout.instance
            let (job, created) = try await store.jobCreate(create)
            guard created else {
                for url in moved { try? FileManager.default.removeItem(at: url) }
                return try sameRequest(job, fingerprint)
            }
            return accepted(job, message: "\(newFiles.count) files accepted")
        } catch let error as JobStoreUnavailable {
            // The job's commit may have landed before the store stopped answering: its uploads are
            // removed only once the store says it has no such job; if it cannot say, they stay for
            // the start-up sweep, which removes uploads no job names.
            let absent: Bool
            do { absent = try await store.jobGet(jobID) == nil } catch { absent = false }
            if absent { for url in moved { try? FileManager.default.removeItem(at: url) } }
            throw error
        } catch {
            for url in moved { try? FileManager.default.removeItem(at: url) }
            throw error
        }
    }

    /// Moves the checked ground truth (its extension `ext`) in with the job's uploads; its stored path.
    /// A leading dot: no uploaded raster's stored name can take it.
    private func placeGroundTruth(_ state: UploadState, ext: String, job: String) throws -> String {
        let relative = layout.uploadPath(job: job, name: ".ground_truth.\(ext)")
        try FileManager.default.moveItem(at: state.groundTruthFile.appendingPathExtension(ext), to: layout.url(relative))
        return relative
    }

    /// The request's `Idempotency-Key`, scoped to the API key (two keys may use the same value
    /// without meeting); nil when none was sent.
    func idempotencyKey(_ request: Request, owner: String?) throws -> String? {
        guard let given = request.headers[HTTPField.Name.idempotencyKey] else { return nil }
        guard !given.isEmpty, given.count <= 200, !HostileText.hasControl(given) else {
            throw APIError(
                .badRequest, "invalid_idempotency_key", "Idempotency-Key must be 1 to 200 characters, none of them control characters")
        }
        // Scoped by structure, not by joining strings: a key's id and an anonymous value can never meet.
        return owner.map { "k:\($0):\(given)" } ?? "a:\(given)"
    }

    /// A digest of what a request asks for: its kind, its settings (sorted) and its items in order.
    static func fingerprint(_ kind: String, settings: [String: String], items: [String]) -> String {
        var hasher = SHA256()
        hasher.update(data: Data((kind + "\n").utf8))
        for (k, v) in settings.sorted(by: { $0.key < $1.key }) { hasher.update(data: Data("\(k)=\(v)\n".utf8)) }
        for item in items { hasher.update(data: Data((item + "\n").utf8)) }
        return hasher.finalize().lowercaseHex
    }

    /// The answer to a request whose Idempotency-Key made `job`: the job again when the request is
    /// the same, 422 when the key is reused for another request.
    func sameRequest(_ job: JobRecord, _ fingerprint: String) throws -> Response {
        if let stored = job.idempotencyFingerprint, stored != fingerprint {
            throw APIError(
                .unprocessableContent, "idempotency_key_reused",
                "this Idempotency-Key was used for another request (job \(job.id)); use a new key for a new request")
        }
        return accepted(job, message: "already accepted under this Idempotency-Key")
    }

    /// The job's settings, parsed, with the webhook URL through the address policy and the
    /// job's own secret checked.
    func checkedSettings(_ settings: [String: String], numbers: (score: Double?, overlap: Double?)? = nil) async throws -> Settings {
        let model: ModelFile
        do { model = try await models.resolve(settings["model"]) } catch let error as ModelCatalog.Unknown {
            throw APIError(.unprocessableContent, "unknown_model", error.description)
        }
        var parsed = try Self.parseSettings(settings, numbers: numbers, model: model)
        if let text = settings["output_prefix"], !text.isEmpty {
            parsed.outputPrefix = try Self.outputPrefix(text, allowed: outputBuckets)
        }
        if let url = parsed.webhookURL {
            do { _ = try await webhookPolicy.check(url) } catch  where error.isUnresolvedHost {
                // Not known to be forbidden, only not resolvable now: each delivery attempt checks it again,
                // and a host that never resolves ends as a failed delivery with that error.
            } catch {
                throw APIError(.unprocessableContent, error.code, error.description)
            }
        }
        if let secret = settings["webhook_secret"], !secret.isEmpty {
            do { parsed.webhookSecret = try WebhookSecret(secret).text } catch {
                throw APIError(.unprocessableContent, error.code, error.description)
            }
        }
        return parsed
    }

    /// The verdict on one received file.
    enum FileCheck: Sendable {
        case accepted(JobCreate.NewFile)
        case refused(APIError.FileProblem)
    }

    /// Checks every received file, in order, with at most one check per core at a time.
    static func checkAll(
        _ files: [UploadState.Received], dir: URL, maxPixels: Int, model: ModelFile,
        overlap: Double
    ) async throws -> [FileCheck] {
        let width = max(1, ProcessInfo.processInfo.activeProcessorCount)
        var results = [FileCheck?](repeating: nil, count: files.count)
        try await withThrowingTaskGroup(of: (Int, FileCheck).self) { group in
            var next = 0
            func add() {
                let i = next
                let f = files[i]
                next += 1
                group.addTask {
                    (i, await checkOffPool(f, path: dir.appending(path: f.name).path, maxPixels: maxPixels, model: model, overlap: overlap))
                }
            }
            while next < min(width, files.count) { add() }
            while let (i, r) = try await group.next() {
                results[i] = r
                if next < files.count { add() }
            }
        }
        return results.compactMap { $0 }
    }

    /// ``check(_:path:maxPixels:model:overlap:)`` on NIO's thread pool for blocking work: a check
    /// ends with an `fsync` that waits for the disk, and on the cooperative pool (a thread per
    /// core, shared with the workers' reading and inference) that wait would leave a core idle.
    static func checkOffPool(
        _ f: UploadState.Received, path: String, maxPixels: Int, model: ModelFile, overlap: Double
    ) async -> FileCheck {
        do {
            return try await NIOThreadPool.singleton.runIfActive {
                check(f, path: path, maxPixels: maxPixels, model: model, overlap: overlap)
            }
        } catch {
            // The pool has been shut down (the process is ending): checked here instead.
            return check(f, path: path, maxPixels: maxPixels, model: model, overlap: overlap)
        }
    }

    /// Opens one received file with GDAL: a GeoTIFF whose first and last blocks decode, within the pixel limit.
    static func check(
        _ f: UploadState.Received, path: String, maxPixels: Int, model: ModelFile,
        overlap: Double
    ) -> FileCheck {
        guard f.bytes > 0 else {
            return .refused(.init(name: f.originalName, error: "empty file (0 bytes): upload the GeoTIFF's contents"))
        }
        do {
            let raster = try Raster(path: path, maxPixels: maxPixels)
            guard raster.info.driver == "GTiff" else {
                return .refused(
                    .init(
                        name: f.originalName,
                        error: "not a GeoTIFF (GDAL reads it as \(raster.info.driver)): convert it with gdal_translate -of GTiff"))
            }
            try raster.verify()
            // On disk before the job is committed: an accepted upload survives a power loss too.
            guard DiskSync.sync(path) else {
                return .refused(
                    .init(name: f.originalName, error: "the server could not write it to disk (disk full or failing); try again later"))
            }
            // Bounded by what the model will be fed: a small file with an absurd pixel size is refused here.
            let tiles = try model.manifest.tilePlan(for: raster.info, overlap: overlap, maxPixels: maxPixels).count
            return .accepted(
                .init(
                    originalName: f.originalName, name: f.name, storedPath: "", sizeBytes: Int(f.bytes), sha256: f.sha256,
                    tilesTotal: tiles,
                    footprint: raster.footprint()))
        } catch let error as RasterError {
            return .refused(.init(name: f.originalName, error: "\(error.reason). \(error.remedy)"))
        } catch {
            return .refused(.init(name: f.originalName, error: "\(error)"))
        }
    }

    func accepted(_ job: JobRecord, message: String) -> Response {
        struct Body: Encodable {
            let job_id: String
            let status: String
            let message: String
            let created_at: Date
            let total_files: Int
        }
        var response = JSON.response(
            Body(
                job_id: job.id, status: job.status.rawValue, message: message, created_at: job.createdAt,
                total_files: job.totalFiles), status: .accepted)
        response.headers[.location] = "/jobs/\(job.id)"
        return response
    }

    /// The multipart boundary of a `multipart/form-data` content type.
    static func boundary(_ contentType: String?) throws -> String {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data") else {
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type",
                "send multipart/form-data with each GeoTIFF in a part named 'files'")
        }
        let params = HeaderParameters.parse(contentType)
        guard let b = params["boundary"], !b.isEmpty, b.count <= 200 else {
            throw APIError(.badRequest, "missing_boundary", "the multipart/form-data content type has no boundary parameter")
        }
        return b
    }

    struct Settings: Sendable {
        /// The model the job runs (its manifest's defaults resolve the detection settings).
        var model: ModelFile
        var webhookURL: String?
        var webhookSecret: String?
        /// Score threshold and overlap, resolved over the model's defaults.
        var detection: JobSettings
        /// The result formats in their stored form (nil: COCO and GeoJSON), and the GIS layers' CRS.
        var formats: String?
        var outCRS: String?
        var outputPrefix: String?
        var nmsMetric: String?

        /// The job to create with these settings.
        func job(id: String, key: String?, owner: String?, fingerprint: String?, files: [JobCreate.NewFile]) -> JobCreate {
            var create = JobCreate(
                id: id, createdAt: Date(), webhookURL: webhookURL, webhookSecret: webhookSecret, idempotencyKey: key,
                ownerKeyID: owner, scoreThreshold: detection.scoreThreshold, overlap: detection.overlap,
                modelName: model.manifest.name, files: files)
            create.modelVersion = model.manifest.version
            create.modelSHA256 = model.sha256
            create.idempotencyFingerprint = key == nil ? nil : fingerprint
            create.formats = formats
            create.outCRS = outCRS
            create.outputPrefix = outputPrefix
            create.nmsMetric = nmsMetric
            return create
        }
    }

    /// The job's settings from text fields; `numbers` (a JSON body's score threshold and overlap)
    /// stand in for those two fields when given.
    /// A job's `output_prefix`: `gs://bucket/` or `gs://bucket/prefix/` in a bucket the operator
    /// allows (422 for its form, 403 for its bucket).
    static func outputPrefix(_ text: String, allowed: Set<String>) throws -> String {
        let uri: GSURI
        do { uri = try GSURI(text) } catch {
            throw APIError(
                .unprocessableContent, "invalid_output_prefix",
                "output_prefix must be gs://bucket/ or gs://bucket/prefix/ (got \(text.prefix(200)))")
        }
        guard uri.name.isEmpty || uri.name.hasSuffix("/"), !uri.name.split(separator: "/").contains(where: { $0 == "." || $0 == ".." })
        else {
            throw APIError(
                .unprocessableContent, "invalid_output_prefix",
                "output_prefix must end with '/' (documents are written under it by name) and have no . or .. segments")
        }
        guard allowed.contains(uri.bucket) else {
            throw APIError(
                .forbidden, "output_bucket_not_allowed",
                "this server writes no results to gs://\(uri.bucket); an operator can allow buckets with GEOINFER_OUTPUT_BUCKETS")
        }
        return "gs://\(uri.bucket)/\(uri.name)"
    }

    static func parseSettings(_ s: [String: String], numbers: (score: Double?, overlap: Double?)? = nil, model: ModelFile) throws
        -> Settings
    {
        let detection: JobSettings
        do {
            if let numbers {
                detection = try JobSettings(scoreThreshold: numbers.score, overlap: numbers.overlap, manifest: model.manifest)
            } else {
                detection = try JobSettings(scoreThreshold: s["score_threshold"], overlap: s["overlap"], manifest: model.manifest)
            }
        } catch {
            throw APIError(.unprocessableContent, "invalid_\(error.field)", error.message)
        }
        var out = Settings(model: model, detection: detection)
        if let text = s["nms"], !text.isEmpty {
            guard let metric = OverlapMetric(rawValue: text.lowercased()) else {
                throw APIError(
                    .unprocessableContent, "invalid_nms",
                    "nms must be iou (intersection over union) or ios (intersection over the smaller box)")
            }
            out.nmsMetric = metric.rawValue
        }
        if let text = s["formats"], !text.isEmpty {
            do { out.formats = OutputFormat.listText(try OutputFormat.parseList(text)) } catch {
                throw APIError(.unprocessableContent, "invalid_formats", error.message)
            }
        }
        if let text = s["out_crs"], !text.isEmpty {
            guard CRSName.isKnown(text), let code = CRSName.epsg(text) else {
                throw APIError(
                    .unprocessableContent, "invalid_out_crs",
                    "out_crs must be EPSG:n with a code GDAL knows (for example EPSG:4326 or EPSG:32633)")
            }
            out.outCRS = "EPSG:\(code)"
        }
        if let url = s["webhook_url"], !url.isEmpty {
            do { _ = try WebhookAddressPolicy.parse(url) } catch {
                throw APIError(.unprocessableContent, error.code, error.description)
            }
            out.webhookURL = url
        }
        return out
    }

    /// Streams the body through the multipart parser, writing file parts to `dir`. With `streaming`,
    /// the job starts once the first file has arrived (when the settings known by then are valid)
    /// and takes each file as its check ends; a request that fails meanwhile discards it.
    private func receive(
        _ request: Request, boundary: String, into dir: URL, limits: ServerConfiguration.Limits, streaming: StreamStart?
    ) async throws -> (UploadState, StreamedUpload?) {
        let state = UploadState(dir: dir, limits: limits)
        var parser = MultipartStream(boundary: boundary)
        var total: Int64 = 0
        var streamed: StreamedUpload?
        var start = streaming
        let width = max(1, ProcessInfo.processInfo.activeProcessorCount)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                var checking = 0
                for try await chunk in request.body {
                    total += Int64(chunk.readableBytes)
                    guard total <= limits.bytesPerRequest else {
                        throw APIError(
                            .contentTooLarge, "request_too_large",
                            "the request is larger than \(limits.bytesPerRequest) bytes: split the upload into several jobs")
                    }
                    try parser.feed(chunk) { event in
                        switch event {
                        case .header(let name, let value): state.header(name, value)
                        case .body(var buffer): state.body(&buffer)
                        case .partComplete: state.partComplete()
                        }
                    }
                    if let error = state.error { throw error }
                    for index in state.takeCompletedFiles() {
                        // The body waits here as it waits for a check.
                        try await Failpoint.hit("upload.after_file", context: "file=\(state.files[index].name)")
                        if streamed == nil, let s = start {
                            start = nil
                            streamed = await stream(s, fields: state.fields)
                        }
                        guard let streamed else { break }
                        // One check per core; the body waits meanwhile.
                        if checking >= width {
                            try await group.next()
                            checking -= 1
                        }
                        let file = state.files[index]
                        group.addTask { await streamed.offer(index, file) }
                        checking += 1
                    }
                }
                try await group.waitForAll()
            }
            state.close()
            guard parser.isComplete else {
                throw APIError(
                    .badRequest, "truncated_body",
                    "the multipart body ended before its closing boundary: the upload was cut off, nothing was accepted")
            }
        } catch {
            // A job that started streaming goes with the request.
            await streamed?.discard()
            switch error {
            case let error as APIError: throw error
            case is CancellationError: throw CancellationError()
            default:
                throw APIError(
                    .badRequest, "malformed_body", "the multipart body could not be read (\(Self.short(error))): nothing was accepted")
            }
        }
        return (state, streamed)
    }

    /// The streamed job of a request whose settings, as known now (the query and the fields sent
    /// before the first file), are valid; nil otherwise (the request is then judged at its end).
    private func stream(_ start: StreamStart, fields: [String: String]) async -> StreamedUpload? {
        var settings = start.settings
        settings.merge(fields) { $1 }
        guard settings.allSatisfy({ !HostileText.hasControl($0.value) }),
            let parsed = try? await checkedSettings(settings)
        else { return nil }
        return StreamedUpload(
            jobID: UUID().uuidString.lowercased(), settings: settings, parsed: parsed, owner: start.owner, store: store,
            layout: layout, dir: start.dir, maxPixels: start.maxPixels)
    }

    static func short(_ error: any Error) -> String { String(String(describing: error).prefix(200)) }
}

/// The parser's state while a request streams in. Used by one task only.
final class UploadState {
    struct Received: Sendable {
        var originalName: String
        var name: String
        var bytes: Int64
        var sha256: String
    }

    private enum Part {
        case file(index: Int, handle: FileHandle, hasher: SHA256, bytes: Int64)
        case groundTruth(handle: FileHandle, bytes: Int64)
        case field(name: String, data: Data)
        case skipped
    }

    let dir: URL
    let limits: ServerConfiguration.Limits
    var files: [Received] = []
    var fields: [String: String] = [:]
    /// The `ground_truth` part: its name as sent, kept in `dir` as ``groundTruthFile``.
    var groundTruthName: String?
    var groundTruthFile: URL { dir.appending(path: ".ground_truth") }
    var error: APIError?
    private var headers: [String: String] = [:]
    private var current: Part?
    private var usedNames = UniqueNames()
    private var completed: [Int] = []

    init(dir: URL, limits: ServerConfiguration.Limits) {
        self.dir = dir
        self.limits = limits
    }

    func header(_ name: String, _ value: String) { headers[name.lowercased()] = value }

    /// Starts the current part from its headers (on its first bytes, or at its end when empty).
    private func begin() -> Part {
        let disposition = HeaderParameters.parse(headers["content-disposition"] ?? "")
        let field = disposition["name"] ?? ""
        if field == "ground_truth",
            let filename = disposition["filename*"].flatMap(HeaderParameters.decodeExtended) ?? disposition["filename"]
        {
            guard groundTruthName == nil else {
                fail(APIError(.badRequest, "too_many_ground_truths", "send one ground_truth file per job"))
                return .skipped
            }
            guard let handle = create(groundTruthFile) else { return .skipped }
            groundTruthName = String(filename.prefix(1000))
            return .groundTruth(handle: handle, bytes: 0)
        }
        if let filename = disposition["filename*"].flatMap(HeaderParameters.decodeExtended) ?? disposition["filename"],
            field == "files" || !filename.isEmpty && field.isEmpty
        {
            guard files.count < limits.filesPerRequest else {
                fail(
                    APIError(
                        .contentTooLarge, "too_many_files",
                        "more than \(limits.filesPerRequest) files in one request: split the upload into several jobs"))
                return .skipped
            }
            let name = usedNames.add(filename)
            let url = dir.appending(path: name)
            guard let handle = create(url) else { return .skipped }
            files.append(Received(originalName: String(filename.prefix(1000)), name: name, bytes: 0, sha256: ""))
            return .file(index: files.count - 1, handle: handle, hasher: SHA256(), bytes: 0)
        }
        guard UploadHandler.fields.contains(field) else {
            fail(
                APIError(
                    .badRequest, "unknown_field",
                    "unknown form field '\(field.prefix(100))': send files as 'files' and settings as \(UploadHandler.fields.sorted().joined(separator: ", "))"
                ))
            return .skipped
        }
        return .field(name: field, data: Data())
    }

    func body(_ buffer: inout ByteBuffer) {
        guard error == nil else { return }
        if current == nil { current = begin() }
        switch current {
        case .file(let index, let handle, let hasher, let bytes)?:
            var digest: SHA256? = hasher
            let tooLarge = APIError(
                .contentTooLarge, "file_too_large", "\(files[index].originalName.prefix(200)) is larger than \(limits.bytesPerFile) bytes")
            guard let total = append(buffer, to: handle, after: bytes, limit: limits.bytesPerFile, tooLarge: tooLarge, hasher: &digest),
                let digest
            else { return }
            current = .file(index: index, handle: handle, hasher: digest, bytes: total)
        case .groundTruth(let handle, let bytes)?:
            var none: SHA256?
            let tooLarge = APIError(
                .contentTooLarge, "ground_truth_too_large",
                "the ground_truth file is larger than \(UploadHandler.maxGroundTruthBytes >> 20) MiB")
            guard
                let total = append(
                    buffer, to: handle, after: bytes, limit: UploadHandler.maxGroundTruthBytes, tooLarge: tooLarge, hasher: &none)
            else { return }
            current = .groundTruth(handle: handle, bytes: total)
        case .field(let name, var data)?:
            data.append(contentsOf: buffer.readableBytesView)
            guard data.count <= 8192 else {
                fail(APIError(.contentTooLarge, "field_too_large", "form field '\(name)' is longer than 8 KiB"))
                return
            }
            current = .field(name: name, data: data)
        default:
            break
        }
    }

    /// A new file for a part, or nil with the request failed (the disk is full or not writable).
    private func create(_ url: URL) -> FileHandle? {
        guard FileManager.default.createFile(atPath: url.path, contents: nil), let handle = try? FileHandle(forWritingTo: url) else {
            fail(.storageUnavailable)
            return nil
        }
        return handle
    }

    /// Writes `buffer` to a part's file that holds `bytes` already (and into `hasher`, if any): the
    /// new total, or nil with the request failed when it would pass `limit` or the disk refuses.
    private func append(
        _ buffer: ByteBuffer, to handle: FileHandle, after bytes: Int64, limit: Int64, tooLarge: APIError, hasher: inout SHA256?
    ) -> Int64? {
        let total = bytes + Int64(buffer.readableBytes)
        guard total <= limit else {
            fail(tooLarge)
            return nil
        }
        let written = buffer.withUnsafeReadableBytes { raw in
            hasher?.update(bufferPointer: raw)
            return (try? handle.write(contentsOf: raw)) != nil
        }
        guard written else {
            fail(.storageUnavailable)
            return nil
        }
        return total
    }

    /// The files whose parts ended since the last call, by their place in ``files``.
    func takeCompletedFiles() -> [Int] {
        defer { completed = [] }
        return completed
    }

    func partComplete() {
        if error == nil, current == nil { current = begin() }
        switch current {
        case .file(let index, let handle, let hasher, let bytes)?:
            try? handle.close()
            files[index].bytes = bytes
            files[index].sha256 = hasher.finalize().lowercaseHex
            if error == nil { completed.append(index) }
        case .groundTruth(let handle, _)?:
            try? handle.close()
        case .field(let name, let data)?:
            fields[name] = String(decoding: data, as: UTF8.self)
        default:
            break
        }
        current = nil
        headers = [:]
    }

    func close() {
        if case .file(_, let handle, _, _)? = current { try? handle.close() }
        if case .groundTruth(let handle, _)? = current { try? handle.close() }
    }

    private func fail(_ e: APIError) {
        if error == nil { error = e }
        close()
        current = .skipped
    }
}

/// Parameters of a header value like `form-data; name="files"; filename="a.tif"`.
enum HeaderParameters {
    static func parse(_ value: String) -> [String: String] {
        var result: [String: String] = [:]
        var parts: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for ch in value {
            if escaped {
                current.append(ch)
                escaped = false
                continue
            }
            if ch == "\\" && quoted {
                escaped = true
                continue
            }
            if ch == "\"" {
                quoted.toggle()
                continue
            }
            if ch == ";" && !quoted {
                parts.append(current)
                current = ""
                continue
            }
            current.append(ch)
        }
        parts.append(current)
        for p in parts.dropFirst() {
            guard let eq = p.firstIndex(of: "=") else { continue }
            let key = p[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let val = p[p.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            result[key] = val
        }
        return result
    }

    /// RFC 5987 `UTF-8''name%20here`.
    static func decodeExtended(_ value: String) -> String? {
        guard let r = value.range(of: "''") else { return nil }
        return String(value[r.upperBound...]).removingPercentEncoding
    }
}

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
}
