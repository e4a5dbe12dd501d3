import Foundation
import Hummingbird
import Inference
import Jobs
import Storage

/// Which buckets `POST /jobs` may read for a caller: the operator's list for every key; the
/// mirror bucket (every key's uploads) and unlisted buckets only for admin keys and the local operator.
struct BucketInputPolicy: Sendable {
    /// `GEOINFER_INPUT_BUCKETS` (nil: not set).
    let allowed: Set<String>?
    /// The mirror bucket (nil: none).
    let mirror: String?

    func mayRead(bucket: String, caller: APIKeyRecord?) -> Bool {
        let privileged = caller == nil || caller?.scope == .admin
        if bucket == mirror { return privileged }
        return allowed?.contains(bucket) ?? privileged
    }
}

/// `POST /jobs`: a job over rasters already in a bucket, given as gs:// URIs of objects or of
/// prefixes (`gs://bucket/prefix/`, expanded to its `.tif`/`.tiff` objects). Nothing is copied
/// through the API: workers read each object from the bucket.
extension UploadHandler {
    struct BucketJobRequest: Decodable {
        var inputs: [String]?
        var stac: STACSource?
        var webhook_url: String?
        var webhook_secret: String?
        var model: String?
        var score_threshold: Double?
        var overlap: Double?
        var formats: TextList?
        var out_crs: String?
        var output_prefix: String?
        var nms: String?
        /// `gs://bucket/labels.gpkg`: ground truth to score the results against at the end.
        var ground_truth: String?
    }

    /// A list given as one comma-separated string or as an array of strings.
    struct TextList: Decodable {
        var text: String
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) { text = s } else { text = try c.decode([String].self).joined(separator: ",") }
        }
    }

    func handleBucketJob(_ request: Request, key apiKey: APIKeyRecord?) async throws -> Response {
        let owner = apiKey?.id
        let limits = self.limits.narrowed(by: apiKey)
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type",
                #"send application/json: {"inputs": ["gs://bucket/a.tif", "gs://bucket/prefix/"]} (uploads go to POST /upload)"#)
        }
        let key = try idempotencyKey(request, owner: owner)
        let body = try await Routes.jsonBody(request, upTo: 4 << 20)
        let parsed: BucketJobRequest
        do {
            parsed = try JSONDecoder().decode(BucketJobRequest.self, from: body)
        } catch {
            throw APIError(
                .badRequest, "invalid_json", #"the body must be JSON like {"inputs": ["gs://bucket/a.tif"]}: "# + Self.short(error))
        }
        for text in (parsed.inputs ?? [])
            + [
                parsed.webhook_url, parsed.webhook_secret, parsed.model, parsed.formats?.text, parsed.out_crs, parsed.output_prefix,
                parsed.nms, parsed.ground_truth,
            ].compactMap({ $0 })
        {
            try HostileText.check(text, "a value in the body")
        }
        var fields: [String: String] = [:]
        fields["webhook_url"] = parsed.webhook_url
        fields["webhook_secret"] = parsed.webhook_secret
        fields["model"] = parsed.model
        fields["score_threshold"] = parsed.score_threshold.map { "\($0)" }
        fields["overlap"] = parsed.overlap.map { "\($0)" }
        fields["formats"] = parsed.formats?.text
        fields["out_crs"] = parsed.out_crs
        fields["output_prefix"] = parsed.output_prefix
        fields["nms"] = parsed.nms
        fields["ground_truth"] = parsed.ground_truth
        // The numbers go on as numbers; their text stands in the request's fingerprint only.
        let settings = try await checkedSettings(fields, numbers: (parsed.score_threshold, parsed.overlap))
        // A STAC document by URL stands in the fingerprint by its URL and asset; one given inline by its hrefs.
        var stacItems: [String] = []
        if let stac = parsed.stac {
            stacItems = ["stac.asset=\(stac.asset)", "stac.url=\(stac.url ?? "")"]
            if let document = stac.document {
                stacItems += ((try? STACInputs.inputs(document, asset: stac.asset, base: nil, limit: .max)) ?? []).map {
                    "\($0.name)=\($0.href)"
                }
            }
        }
        let fingerprint = Self.fingerprint("bucket", settings: fields, items: (parsed.inputs ?? []) + stacItems)
        if let key, let job = try await store.jobFind(idempotencyKey: key) {
            return try sameRequest(job, fingerprint)
        }
        // The STAC items' assets join the inputs, each to be named after its item.
        var stacFound: [(name: String, href: String)] = []
        if let stac = parsed.stac { stacFound = try await stacInputs(stac, limit: limits.filesPerRequest) }
        let allInputs = (parsed.inputs ?? []) + stacFound.map(\.href)
        var preferredNames: [String: String] = [:]
        for found in stacFound { preferredNames[found.href] = found.name }
        guard !allInputs.isEmpty else {
            throw APIError(
                .badRequest, "no_inputs",
                "inputs is empty: give gs:// URIs of GeoTIFFs or of prefixes ending in '/', http(s) URLs, or a stac source")
        }
        let (bucketInputs, urlTexts) = (allInputs.filter { !URLInputPolicy.isURL($0) }, allInputs.filter(URLInputPolicy.isURL))
        guard allInputs.count <= limits.filesPerRequest else {
            throw APIError(
                .contentTooLarge, "too_many_files",
                "\(allInputs.count) inputs, more than the \(limits.filesPerRequest) objects a request may name; split them over several jobs"
            )
        }
        let urlFiles = try await checkURLInputs(urlTexts)
        let buckets: any BucketResolver
        switch self.buckets {
        case .success(let b): buckets = b
        case .failure where bucketInputs.isEmpty: buckets = NoBuckets()
        case .failure(let error):
            throw APIError(.unprocessableContent, "gcs_not_configured", "this server cannot read from GCS: \(error.description)")
        }
        var uris: [GSURI] = []
        var bad: [APIError.FileProblem] = []
        for text in bucketInputs {
            do { uris.append(try GSURI(text)) } catch let e as StorageError {
                bad.append(.init(name: String(text.prefix(300)), error: e.description))
            }
        }
        guard bad.isEmpty else {
            throw APIError(
                .unprocessableContent, "invalid_inputs",
                "\(bad.count) inputs are not gs:// URIs: \(bad.map(\.name).joined(separator: ", "))", files: bad)
        }
        // The same URI twice is one input: it is listed or looked up once.
        var distinct = Set<String>()
        uris = uris.filter { distinct.insert($0.description).inserted }
        // Each input names at least one object: more inputs than a request may name is refused before any lookup.
        guard uris.count <= limits.filesPerRequest else {
            throw APIError(
                .contentTooLarge, "too_many_files",
                "\(uris.count) inputs, more than the \(limits.filesPerRequest) objects a request may name; split them over several jobs")
        }
        let refused = uris.filter { !inputs.mayRead(bucket: $0.bucket, caller: apiKey) }
        guard refused.isEmpty else {
            throw APIError(
                .forbidden, "bucket_not_allowed",
                "this key may not read \(Set(refused.map(\.bucket)).sorted().map { "gs://\($0)" }.joined(separator: ", ")): ask the operator to list the bucket in GEOINFER_INPUT_BUCKETS",
                files: refused.prefix(100).map { .init(name: $0.description, error: "bucket not allowed for this key") })
        }
        let objects = uris.isEmpty ? [] : try await expand(uris, buckets: buckets, limits: limits)
        guard objects.count + urlFiles.count <= limits.filesPerRequest else {
            throw APIError(
                .contentTooLarge, "too_many_files",
                "the inputs name \(objects.count + urlFiles.count) rasters, more than the \(limits.filesPerRequest) a request may; split them over several jobs"
            )
        }
        var taken = UniqueNames()
        let files =
            objects.map { uri, info in
                JobCreate.NewFile(
                    originalName: uri.description,
                    name: taken.add(preferredNames[uri.description] ?? (uri.name as NSString).lastPathComponent),
                    storedPath: uri.description, sizeBytes: Int(info.size), sha256: "", tilesTotal: 1)
            }
            + urlFiles.map { text, url, size in
                let last = URL(string: url)?.lastPathComponent ?? "input.tif"
                return JobCreate.NewFile(
                    originalName: url, name: taken.add(preferredNames[text] ?? (last.isEmpty || last == "/" ? "input.tif" : last)),
                    storedPath: url, sizeBytes: Int(size), sha256: "", tilesTotal: 1)
            }
        var create = settings.job(id: UUID().uuidString.lowercased(), key: key, owner: owner, fingerprint: fingerprint, files: files)
        if let text = parsed.ground_truth, !text.isEmpty {
            let uri = try await checkGroundTruth(text, caller: apiKey)
            create.groundTruth = uri.description
            create.groundTruthName = FileNames.sanitize((uri.name as NSString).lastPathComponent)
        }
        let (job, created) = try await store.jobCreate(create)
        guard created else { return try sameRequest(job, fingerprint) }
        return accepted(job, message: "\(files.count) objects accepted from the bucket")
    }

    /// A ground-truth object named in `POST /jobs`: a gs:// URI of a file `geoinfer evaluate` reads
    /// as one, in a bucket the caller may read, that exists and is at most 64 MiB. Its contents are
    /// read when the job ends (a file that then cannot be read leaves the job's scores out, saying why).
    private func checkGroundTruth(_ text: String, caller: APIKeyRecord?) async throws -> GSURI {
        let uri: GSURI
        do { uri = try GSURI(text) } catch {
            throw APIError(
                .unprocessableContent, "invalid_ground_truth", "ground_truth must be the gs:// URI of one object (got \(text.prefix(200)))")
        }
        _ = try Self.groundTruthExtension(uri.isPrefix ? "" : uri.name, what: "object")
        guard inputs.mayRead(bucket: uri.bucket, caller: caller) else {
            throw APIError(
                .forbidden, "bucket_not_allowed",
                "this key may not read gs://\(uri.bucket): ask the operator to list the bucket in GEOINFER_INPUT_BUCKETS")
        }
        guard case .success(let buckets) = self.buckets else {
            throw APIError(.unprocessableContent, "gcs_not_configured", "this server cannot read from GCS")
        }
        let info: BlobInfo?
        do { info = try await buckets.store(bucket: uri.bucket).info(uri.name) } catch let error as StorageError {
            throw APIError(.serviceUnavailable, "bucket_unavailable", "the bucket could not be read: \(error.description.prefix(200))")
        }
        guard let info else { throw APIError(.unprocessableContent, "invalid_ground_truth", "ground_truth \(uri) does not exist") }
        guard info.size <= Self.maxGroundTruthBytes else {
            throw APIError(.contentTooLarge, "ground_truth_too_large", "ground_truth is larger than \(Self.maxGroundTruthBytes >> 20) MiB")
        }
        return uri
    }

    /// Every object the URIs name, prefixes expanded, duplicates dropped, each checked to exist,
    /// to be within the size limit and to start like a TIFF.
    private func expand(_ uris: [GSURI], buckets: any BucketResolver, limits: ServerConfiguration.Limits) async throws -> [(
        GSURI, BlobInfo
    )] {
        var found: [(GSURI, BlobInfo)] = []
        var seen = Set<String>()
        var problems: [APIError.FileProblem] = []
        do {
            for uri in uris {
                let store = try buckets.store(bucket: uri.bucket)
                let infos: [BlobInfo]
                if uri.isPrefix {
                    // The listing stops past the file limit: a prefix over millions of objects costs no more than that.
                    let room = limits.filesPerRequest - found.count
                    let listed = try await store.list(
                        prefix: uri.name, keep: { ["tif", "tiff"].contains(($0 as NSString).pathExtension.lowercased()) },
                        limit: max(0, room))
                    if listed.truncated {
                        throw APIError(
                            .contentTooLarge, "too_many_files",
                            "the inputs name more than \(limits.filesPerRequest) objects; split them over several jobs")
                    }
                    infos = listed.items
                    if infos.isEmpty { problems.append(.init(name: uri.description, error: "no .tif or .tiff objects under this prefix")) }
                } else if let info = try await store.info(uri.name) {
                    infos = [info]
                } else {
                    problems.append(.init(name: uri.description, error: "no such object in the bucket"))
                    infos = []
                }
                for info in infos where seen.insert("\(uri.bucket)/\(info.name)").inserted {
                    found.append((GSURI(bucket: uri.bucket, name: info.name), info))
                }
                guard found.count <= limits.filesPerRequest else {
                    throw APIError(
                        .contentTooLarge, "too_many_files",
                        "the inputs name more than \(limits.filesPerRequest) objects; split them over several jobs")
                }
            }
            guard problems.isEmpty else {
                // The first 100 are named: an answer stays small however many inputs were missing.
                throw APIError(
                    .unprocessableContent, "missing_inputs",
                    "\(problems.count) inputs name nothing to process: \(problems.prefix(100).map(\.name).joined(separator: ", "))\(problems.count > 100 ? ", …" : "")",
                    files: Array(problems.prefix(100)))
            }
            for (uri, info) in found where info.size > limits.bytesPerFile {
                problems.append(
                    .init(name: uri.description, error: "\(info.size) bytes is over the limit of \(limits.bytesPerFile) bytes per file"))
            }
            guard problems.isEmpty else {
                throw APIError(.contentTooLarge, "file_too_large", "\(problems.count) objects are too large", files: problems)
            }
            problems = try await Self.checkMagic(found, buckets: buckets)
            guard problems.isEmpty else {
                throw APIError(
                    .badRequest, "invalid_files",
                    "\(problems.count) of \(found.count) objects are not TIFFs: \(problems.map(\.name).joined(separator: ", ")); nothing was accepted",
                    files: problems)
            }
        } catch let error as StorageError {
            switch error {
            case .unavailable: throw APIError(.serviceUnavailable, "bucket_unavailable", "\(error.description); submit again later")
            default: throw APIError(.unprocessableContent, "bucket_error", error.description)
            }
        }
        return found
    }

    /// Whether `bytes` start like a TIFF: `II*\0`, `MM\0*`, or for BigTIFF `II+\0` / `MM\0+`.
    static func isTIFFHeader(_ bytes: some Sequence<UInt8>) -> Bool {
        let magics: Set<[UInt8]> = [[0x49, 0x49, 0x2A, 0], [0x4D, 0x4D, 0, 0x2A], [0x49, 0x49, 0x2B, 0], [0x4D, 0x4D, 0, 0x2B]]
        return magics.contains(Array(bytes.prefix(4)))
    }

    /// Reads the first 4 bytes of each object (8 at a time) and checks they start a TIFF.
    static func checkMagic(_ objects: [(GSURI, BlobInfo)], buckets: any BucketResolver) async throws -> [APIError.FileProblem] {
        try await withThrowingTaskGroup(of: APIError.FileProblem?.self) { group in
            var next = 0
            var problems: [APIError.FileProblem] = []
            func add() throws {
                let (uri, info) = objects[next]
                next += 1
                let store = try buckets.store(bucket: uri.bucket)
                group.addTask {
                    guard info.size >= 8 else { return .init(name: uri.description, error: "only \(info.size) bytes: not a GeoTIFF") }
                    let head = try await store.read(uri.name, range: 0..<4)
                    return isTIFFHeader(head)
                        ? nil
                        : .init(
                            name: uri.description,
                            error: "not a TIFF (the first bytes are not a TIFF header): convert it with gdal_translate -of GTiff")
                }
            }
            while next < min(8, objects.count) { try add() }
            while let result = try await group.next() {
                if let result { problems.append(result) }
                if next < objects.count { try add() }
            }
            return problems.sorted { $0.name < $1.name }
        }
    }
}
