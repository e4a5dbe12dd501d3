import Failpoints
import Formats
public import Foundation
public import GeoRaster
public import Inference
public import Jobs
public import Logging
import Metrics
public import ServiceLifecycle
public import Storage
import Synchronization

/// How workers run.
public struct WorkerConfiguration: Sendable {
    /// Files processed at once (default: one per core).
    public var concurrency: Int = ProcessInfo.processInfo.activeProcessorCount
    /// How long a claim holds a file without a heartbeat (default 30 s); an expired lease puts the file back in play.
    public var lease: TimeInterval = 30
    /// Attempts before a file that keeps failing for transient reasons is marked failed (default 3).
    public var maxAttempts: Int = 3
    /// How long an idle worker waits before looking for work again (default 0.25 s).
    public var idlePoll: TimeInterval = 0.25
    /// ONNX Runtime intra-op threads of each worker's session, and the device (default: the cores
    /// shared out between the workers, at least 1 each; see ``defaultThreads(cores:workers:)``).
    public var threads: Int = WorkerConfiguration.defaultThreads(
        cores: ProcessInfo.processInfo.activeProcessorCount,
        workers: ProcessInfo.processInfo.activeProcessorCount)
    /// Where the sessions run (default: the CPU).
    public var device: Device = .cpu
    /// The bucket that mirrors the data directory, named in the metadata documents (nil: none).
    public var mirrorBucket: String?
    /// Where claims, leases and heartbeats read the time (default: the system's).
    public var clock: any WallClock = SystemWallClock()
    /// The longest side of each file's quicklook JPEG, drawn from the tiles as they are read
    /// (default 384; 0: no quicklooks).
    public var quicklookSize: Int = Quicklook.defaultMaxSize
    /// Read gs:// inputs that are Cloud Optimized GeoTIFFs in place by range requests instead of
    /// downloading them whole (default on).
    public var readCOGInPlace = true
    /// How long a worker waits for the mirror's copy of a file uploaded to another machine before
    /// the attempt fails (default 600 s).
    public var mirrorWait: TimeInterval = 600
    /// Registered model versions each worker process keeps loaded besides its default model
    /// (default 2; the least recently used is unloaded first).
    public var modelCacheSize = 2
    /// Checks an http(s) input before it is read (the operator's URL prefixes and the address
    /// rule); nil: this worker reads no http(s) inputs.
    public var checkURLInput: (@Sendable (String) async throws -> Void)?

    /// The defaults.
    public init() {}

    /// The intra-op threads each worker's session gets by default: the cores shared out between
    /// the workers, at least 1 each. Each worker reads a file, then runs its tiles on its own
    /// session, so with one worker and one thread per core every core is busy either reading or
    /// inferring and none is shared by two threads; ONNX Runtime's own parallelism is the less
    /// efficient of the two on small tiles (see BENCHMARKS.md).
    public static func defaultThreads(cores: Int, workers: Int) -> Int {
        max(1, max(1, cores) / max(1, workers))
    }
}

/// Workers that claim files from the job store, run the detector, record results, and write the
/// job's documents when its last file finishes. A ServiceLifecycle service: on graceful shutdown
/// workers stop claiming and hand their files back.
public final class WorkerPool: Service {
    let store: any JobStore
    /// The default model, and the registered versions jobs ask for.
    let models: ModelCache
    let layout: DataLayout
    let config: WorkerConfiguration
    let logger: Logger
    let buckets: (any BucketResolver)?
    let id = "worker-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))"
    /// The results recorded here lately, for the finalize of their job.
    let recent = RecentResults<FileResult>()

    /// `buckets` reads inputs submitted as gs:// URIs.
    public init(
        store: any JobStore, model: Model, layout: DataLayout, config: WorkerConfiguration, logger: Logger,
        buckets: (any BucketResolver)? = nil
    ) {
        self.buckets = buckets
        self.store = store
        self.models = ModelCache(
            defaultModel: model, capacity: config.modelCacheSize,
            options: SessionOptions(threads: config.threads, device: config.device), lanes: config.concurrency, layout: layout,
            store: store, mirrorBucket: config.mirrorBucket, buckets: buckets)
        self.layout = layout
        self.config = config
        self.logger = logger
    }

    /// Finalizes the jobs a crash left without documents, then runs ``WorkerConfiguration/concurrency``
    /// workers until graceful shutdown.
    public func run() async throws {
        // Jobs whose last file finished just before a crash still get their documents.
        for job in try await store.jobsAwaitingFinalize() { await finalize(job.id) }
        await withDiscardingTaskGroup { group in
            for n in 0..<config.concurrency {
                group.addTask { await self.loop(worker: "\(self.id)-\(n)", lane: n) }
            }
        }
    }

    /// One worker: claims a file at a time and runs it on the model's session for `lane`.
    private func loop(worker: String, lane: Int) async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    if let claim = try await self.store.fileClaimNext(owner: worker, lease: self.config.lease, now: self.config.clock.now())
                    {
                        await self.process(claim, lane: lane)
                    } else {
                        await self.store.waitForWork(upTo: .milliseconds(Int64(self.config.idlePoll * 1000)))
                        try Task.checkCancellation()
                    }
                } catch is CancellationError {
                    return
                } catch {
                    self.logger.error("job store unavailable", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    /// Runs one claimed file, heartbeating its lease and progress, and records the outcome.
    func process(_ claim: FileClaim, lane: Int = 0) async {
        let file = claim.file
        var log = logger
        log[metadataKey: "job_id"] = .string(claim.job.id)
        log[metadataKey: "file"] = .string(file.name)
        let started = ContinuousClock.now
        let options = DetectionOptions(job: claim.job)
        let tilesDone = Locked(0)
        let stop = Locked(false)
        let heartbeatEvery = min(config.lease / 3, 0.5)
        let context = "job=\(claim.job.id) file=\(file.name)"
        let fileLog = log
        let outcome: FileOutcome?
        var decoded: FileResult?
        do {
            try await Failpoint.hit("worker.after_claim", context: context)
            // Small uploads here get only their thumbnail now; their quicklook is drawn on first
            // request (`Pictures` in the API).
            let onRequest = config.quicklookSize > 0 && Self.drawnOnRequest(file, layout: layout) != nil
            let quicklookSize = onRequest ? min(config.quicklookSize, Quicklook.thumbnailSize) : config.quicklookSize
            // The model, the input and the detection all run under the heartbeats: a long download
            // (or a wait for the mirror's copy of an upload) keeps the lease like detection does.
            let (output, manifest) = try await withThrowingTaskGroup(of: (Detector.Output, ModelManifest)?.self) { group in
                group.addTask {
                    let model = try await self.models.model(for: claim.job)
                    let detector = try Detector(model: model, options: options, lane: lane)
                    let path = try await self.input(claim, options: options, manifest: model.manifest, shouldStop: { stop.value })
                    defer {
                        if path.hasPrefix(self.layout.temp.path) { try? FileManager.default.removeItem(atPath: path) }
                        if RemoteRaster.isRemote(path) { RemoteRaster.close(path) }
                    }
                    do {
                        // An upload read where it was stored was hashed as it was received.
                        let known = !file.sha256.isEmpty && path == self.layout.url(file.storedPath).path ? file.sha256 : nil
                        let output = try await detector.run(
                            path: path, quicklook: quicklookSize > 0 ? quicklookSize : nil, sha256: known,
                            progress: { p in
                                tilesDone.value = p.tilesDone
                                try await Failpoint.hit("worker.after_batch", context: "\(context) tiles_done=\(p.tilesDone)")
                            }, shouldStop: { stop.value })
                        return (output, model.manifest)
                    } catch let error as RasterError where RemoteRaster.isRemote(path) {
                        // Read by range requests: a failed read may be the network's (GDAL has already
                        // retried it), so the file gets another attempt, unlike a local file that fails.
                        throw URLInputError(isRetryable: true, description: "reading \(file.name) by range requests: \(error.reason)")
                    }
                }
                group.addTask {
                    // Heartbeats renew the lease and publish progress; a lost lease or a cancelled job stops the run.
                    while !Task.isCancelled {
                        try await Task.sleep(for: .seconds(heartbeatEvery))
                        let done = tilesDone.value
                        let held =
                            (try? await self.store.fileHeartbeat(
                                claim, tilesDone: done, lease: self.config.lease, now: self.config.clock.now())) ?? true
                        if !held, !stop.value {
                            fileLog.info("file stopping: job cancelled or lease lost")
                            stop.value = true
                        }
                    }
                    return nil
                }
                defer { group.cancelAll() }
                while let next = try await group.next() {
                    if let result = next { return result }
                }
                throw CancellationError()
            }
            var result = output.result
            result.info.fileName = file.name
            if result.bytesRead != nil { result.sizeBytes = file.sizeBytes }
            if let pixels = output.quicklook {
                writeQuicklook(claim: claim, pixels: pixels, result: result, thumbnailOnly: onRequest, log: log)
            }
            let data = try result.jsonData()
            decoded = result
            outcome = .succeeded(
                result: data, detections: result.detections.count,
                classCounts: result.classCounts(classes: manifest.classes),
                seconds: (ContinuousClock.now - started).seconds)
            log.info("file done", metadata: ["detections": "\(result.detections.count)"])
        } catch is CancellationError where stop.value {
            // The job was cancelled or the lease moved to another worker: nothing to record.
            log.info("file stopped: job cancelled or lease lost")
            outcome = nil
        } catch is CancellationError {
            // Shutting down: hand the file back for the next worker.
            outcome = .failed(error: "interrupted by shutdown", retryable: true, maxAttempts: .max)
        } catch let error as any FileAttemptError {
            // The error says whether another attempt could succeed.
            log.warning(
                "file attempt failed", metadata: ["error": "\(error)", "attempt": "\(claim.attempt)", "retryable": "\(error.isRetryable)"])
            let message = error is StorageError ? "reading \(file.storedPath): \(error)" : error.description
            outcome = .failed(error: message, retryable: error.isRetryable, maxAttempts: config.maxAttempts)
        } catch {
            // Anything else (a store that did not answer, say) is worth another attempt.
            log.warning("file attempt failed", metadata: ["error": "\(error)", "attempt": "\(claim.attempt)"])
            outcome = .failed(error: "\(error)", retryable: true, maxAttempts: config.maxAttempts)
        }
        guard let outcome else { return }
        do {
            try await Failpoint.hit("worker.before_finish", context: context)
        } catch {
            // An error here stands for a store that cannot be reached: the lease expires and the file runs again.
            log.error("could not record the file's outcome; its lease will expire and it will run again", metadata: ["error": "\(error)"])
            return
        }
        switch outcome {
        case .succeeded(_, _, _, let seconds):
            Counter(label: "geoinfer_files_processed_total", dimensions: [("outcome", "succeeded")]).increment()
            Counter(label: "geoinfer_tiles_processed_total").increment(by: file.tilesTotal)
            Timer(label: "geoinfer_file_inference_seconds").recordSeconds(seconds)
        case .failed(_, let retryable, let maxAttempts):
            let final = !retryable || claim.attempt >= maxAttempts
            Counter(label: "geoinfer_files_processed_total", dimensions: [("outcome", final ? "failed" : "retried")]).increment()
        }
        do {
            guard let job = try await store.fileFinish(claim, outcome: outcome, now: config.clock.now()) else {
                log.info("outcome discarded: the file's lease moved to another worker or the job was cancelled")
                // A job that is gone (a streamed upload that failed) keeps no pictures drawn for it;
                // a store that cannot say now leaves them to the next start's sweep.
                if case .some(.none) = try? await store.jobGet(claim.job.id) { layout.removeFiles(ofJob: claim.job.id) }
                return
            }
            if case .succeeded(let data, _, _, _) = outcome, let decoded, let id = file.id {
                recent.keep(job: job.id, file: id, data: data, result: decoded)
            }
            // A job still receiving its upload waits for the rest of its files.
            if job.awaitsFinalize { await finalize(job.id) }
        } catch {
            log.error("could not record the file's outcome; its lease will expire and it will run again", metadata: ["error": "\(error)"])
        }
    }

    /// The local path of the claim's raster: the stored upload, or for a gs:// input a copy in
    /// `temp/` fetched from the bucket (checked by CRC32C), whose tile count then goes to the store.
    private func input(_ claim: FileClaim, options: DetectionOptions, manifest: ModelManifest, shouldStop: @Sendable () -> Bool)
        async throws -> String
    {
        let file = claim.file
        var source = file.storedPath
        if source.hasPrefix("https://") || source.hasPrefix("http://") {
            // Checked again here (the host's addresses may have changed since submit).
            guard let check = config.checkURLInput else {
                throw StorageError.configuration("this worker reads no http(s) inputs; set GEOINFER_URL_INPUTS as on the API")
            }
            try await check(source)
            switch try await inPlace(url: source, bearerToken: nil, claim: claim, options: options, manifest: manifest) {
            case .cog(let path): return path
            case .notCOG:
                throw URLInputError(
                    isRetryable: false,
                    description:
                        "\(file.name) is not a Cloud Optimized GeoTIFF: http(s) inputs are read in place only (convert it with gdal_translate -of COG)"
                )
            case .unreadable(let reason):
                throw URLInputError(isRetryable: true, description: "\(file.name) could not be read by range requests: \(reason)")
            }
        }
        if !source.hasPrefix("gs://") {
            let local = layout.url(source)
            if FileManager.default.fileExists(atPath: local.path) { return local.path }
            // Uploaded to an API process on another machine: read its copy in the mirror bucket.
            guard let bucket = config.mirrorBucket else {
                throw StorageError.configuration(
                    "the upload \(source) is not on this machine, and there is no mirror bucket to read it from (set ENABLE_GCP_UPLOAD and GCP_BUCKET_NAME, or share the data directory)"
                )
            }
            source = "gs://\(bucket)/\(source)"
        }
        guard let buckets else { throw StorageError.configuration("this worker has no access to GCS to read \(source)") }
        let uri = try GSURI(source)
        // A COG is read in place; anything else (or a COG GDAL cannot open that way) is downloaded.
        if file.storedPath.hasPrefix("gs://"), config.readCOGInPlace,
            let access = try await buckets.store(bucket: uri.bucket).rangeReadURL(uri.name),
            case .cog(let path) = try await inPlace(
                url: access.url, bearerToken: access.bearerToken, claim: claim, options: options, manifest: manifest)
        {
            return path
        }
        let local = layout.tempEntry("input", "\(claim.job.id)_\(file.name)")
        if !file.storedPath.hasPrefix("gs://") {
            // Uploaded to another machine, whose mirror copies it to the bucket: wait for the copy.
            try await waitForMirrorCopy(uri, in: buckets, job: claim.job.id, shouldStop: shouldStop)
        }
        _ = try await buckets.store(bucket: uri.bucket).download(uri.name, to: local)
        do {
            let raster = try Raster(path: local.path, maxPixels: options.maxPixels)
            let tiles = try manifest.tilePlan(for: raster.info, overlap: options.overlap, maxPixels: options.maxPixels).count
            _ = try await store.fileSetTiles(claim, tilesTotal: tiles, footprint: raster.footprint(), now: config.clock.now())
            return local.path
        } catch {
            // The copy is the caller's to remove only once this returns it.
            try? FileManager.default.removeItem(at: local)
            throw error
        }
    }

    /// Scores the job's results against its ground truth into the metadata (`evaluation`); a
    /// ground truth that cannot be read or fetched leaves a warning there instead of failing the job.
    private func score(_ report: inout DetectionReport, against truth: String, job: JobRecord, files: [FileResult], records: [FileRecord])
        async
    {
        let label = job.groundTruthName ?? (truth as NSString).lastPathComponent
        var local: URL?
        do {
            var source = truth
            if !truth.hasPrefix("gs://") {
                if FileManager.default.fileExists(atPath: layout.url(truth).path) {
                    local = layout.url(truth)
                } else if let bucket = config.mirrorBucket {
                    source = "gs://\(bucket)/\(truth)"
                } else {
                    throw StorageError.configuration("\(truth) is not on this machine and there is no mirror bucket")
                }
            }
            if local == nil {
                guard let buckets else { throw StorageError.configuration("this worker has no access to GCS to read \(source)") }
                let uri = try GSURI(source)
                let temp = layout.tempEntry("truth", "\(job.id).\((truth as NSString).pathExtension)")
                _ = try await buckets.store(bucket: uri.bucket).download(uri.name, to: temp)
                local = temp
            }
            defer { if let local, local.path.hasPrefix(layout.temp.path) { try? FileManager.default.removeItem(at: local) } }
            // Labels name files as they were submitted; the results use the stored names.
            let aliases = Dictionary(
                records.map { ($0.name, (($0.originalName as NSString).lastPathComponent)) }, uniquingKeysWith: { first, _ in first })
            report.evaluation = try EvaluationInputs.score(
                files, classes: report.model.manifest.classes, groundTruth: local?.path ?? "", label: label, aliases: aliases)
        } catch {
            let reason = "\(error)".replacingOccurrences(of: local?.path ?? "\u{0}", with: label)
            logger.warning("the job's ground truth could not be scored", metadata: ["job_id": .string(job.id), "error": .string(reason)])
            report.warnings.append("ground truth \(label) could not be scored: \(reason.prefix(300))")
        }
    }

    /// Waits until the mirror bucket holds `uri`, looking again after 0.25 s, then longer (at most
    /// 5 s apart), for at most ``WorkerConfiguration/mirrorWait`` (six times that while the job is
    /// still receiving its upload, whose files are copied only once it is sealed); the
    /// heartbeats keep the lease meanwhile. Past that, the attempt fails and the file goes back to
    /// the queue.
    private func waitForMirrorCopy(_ uri: GSURI, in buckets: any BucketResolver, job: String, shouldStop: @Sendable () -> Bool)
        async throws
    {
        let bucket = try buckets.store(bucket: uri.bucket)
        var deadline = ContinuousClock.now + .seconds(config.mirrorWait)
        var extended = 0
        var pause = Duration.milliseconds(250)
        while try await bucket.info(uri.name) == nil {
            guard !shouldStop() else { throw CancellationError() }
            // A job still receiving its upload has it copied once the upload ends: waited for up to
            // six times as long, so a worker is never held for ever by an upload that never ends.
            if ContinuousClock.now + pause >= deadline, extended < 5, try await store.jobGet(job)?.receiving != nil {
                deadline = ContinuousClock.now + .seconds(config.mirrorWait)
                extended += 1
            }
            guard ContinuousClock.now + pause < deadline else {
                throw StorageError.unavailable(
                    operation: "read \(uri.name)", lastError: "not in the mirror bucket after \(Int(config.mirrorWait)) s of waiting")
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(5))
        }
    }

    /// What opening a raster in place found.
    enum InPlace {
        /// A Cloud Optimized GeoTIFF: its `/vsicurl/` path, tile count and footprint already stored.
        case cog(String)
        /// A raster of another layout (read whole instead).
        case notCOG
        /// It could not be opened by range requests: GDAL's reason.
        case unreadable(String)
    }

    /// Opens `url` by range requests (with `bearerToken`, if any); for a Cloud Optimized GeoTIFF,
    /// stores its tile count and footprint and returns its `/vsicurl/` path.
    private func inPlace(url: String, bearerToken: String?, claim: FileClaim, options: DetectionOptions, manifest: ModelManifest)
        async throws -> InPlace
    {
        let remote = RemoteRaster(url: url, bearerToken: bearerToken)
        let raster: Raster
        do {
            raster = try Raster(path: remote.path, maxPixels: options.maxPixels)
        } catch {
            remote.close()
            return .unreadable(error.reason)
        }
        guard raster.layout == "COG" else {
            remote.close()
            return .notCOG
        }
        let tiles = try manifest.tilePlan(for: raster.info, overlap: options.overlap, maxPixels: options.maxPixels).count
        _ = try await store.fileSetTiles(claim, tilesTotal: tiles, footprint: raster.footprint(), now: config.clock.now())
        return .cog(remote.path)
    }

    /// The file drawn small with its detections, from the pixels the detector kept as it read the
    /// tiles (no read of its own), as a JPEG. A quicklook that cannot be made is logged and
    /// skipped: it never fails the file.
    private func writeQuicklook(claim: FileClaim, pixels: QuicklookPixels, result: FileResult, thumbnailOnly: Bool, log: Logger) {
        let target = layout.url(layout.quicklookPath(job: claim.job.id, name: claim.file.name))
        let thumbnail = layout.url(layout.thumbnailPath(job: claim.job.id, name: claim.file.name))
        do {
            try FileManager.default.createDirectory(at: thumbnail.deletingLastPathComponent(), withIntermediateDirectories: true)
            if thumbnailOnly {
                // The picture drawn small is the thumbnail itself (no boxes, as thumbnails have none).
                try Quicklook.write(pixels, boxes: [], to: thumbnail.path)
                return
            }
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Quicklook.write(pixels, boxes: result.quicklookBoxes, to: target.path, thumbnail: thumbnail.path)
        } catch {
            log.warning("could not write the quicklook", metadata: ["error": "\(error)"])
        }
    }

    /// Merges the files' detections across seams and writes the job's result documents in its
    /// formats, then marks it final with the merged layer's count.
    func finalize(_ jobID: String) async {
        let started = ContinuousClock.now
        var steps: [(String, Duration)] = []
        func step(_ name: String) { steps.append((name, ContinuousClock.now - started)) }
        do {
            guard let job = try await store.jobGet(jobID), job.awaitsFinalize else { return }
            let stored = try await store.fileResults(jobID)
            step("read")
            // Those this process recorded are kept decoded; the others are decoded here.
            let kept = recent.take(job: jobID, stored: stored.map { ($0.file.id, $0.result) })
            let files = try Self.decodeResults(stored.map(\.result), kept: kept, as: FileResult.self)
            step("decode")
            let options = DetectionOptions(job: job)
            let model = try await models.file(for: job)
            var report = DetectionReport(
                model: model, options: options, threads: config.threads, device: config.device,
                files: files, createdAt: config.clock.now())
            report.jobID = jobID
            report.outCRS = job.outCRS
            let (metric, threshold) = (options.nmsMetric, options.resolvedIoU(model.manifest))
            // The seam merge runs while COCO and the per-file GeoJSON are written.
            let (unmerged, merged) = try report.writeUnmerged(
                to: layout.results, formats: job.outputFormats, prefix: layout.resultPrefix(job: jobID),
                meanwhile: { MergedLayer.merge(files: files, metric: metric, threshold: threshold) })
            report.merged = merged
            step("merge")
            let records = try await store.jobFiles(jobID)
            if let truth = job.groundTruth { await score(&report, against: truth, job: job, files: files, records: records) }
            let documents = ResultDocument.written(formats: job.outputFormats, merged: report.merged != nil)
            // The mirror's copies, and the job's own copies of its documents under its output prefix.
            let objects =
                mirrorObjects(job: jobID, files: records, documents: documents)
                + (job.outputPrefix.map { prefix in
                    documents.map {
                        MirrorRequest(
                            name: prefix + $0.fileName, metadata: ["job_id": jobID],
                            source: "results/\(layout.resultPrefix(job: jobID))\($0.fileName)", origin: layout.instance)
                    }
                } ?? [])
            // The metadata names every bucket copy: the mirror's, and those under the output prefix.
            let copies = objects.filter { config.mirrorBucket != nil || $0.isOutputCopy }
            if let label = config.mirrorBucket.map({ "gs://\($0)" }) ?? job.outputPrefix {
                report.storage = .init(
                    bucket: label,
                    objects: copies.map {
                        .init(name: $0.name, uri: $0.isOutputCopy ? $0.name : "gs://\(config.mirrorBucket ?? "")/\($0.name)")
                    })
            }
            step("files")
            let written =
                try unmerged + report.writeMerged(to: layout.results, formats: job.outputFormats, prefix: layout.resultPrefix(job: jobID))
            // On disk before the job is final: a power loss never leaves a completed job without its documents.
            guard DiskSync.sync(files: written.map(\.path), directories: [layout.results.path]) else {
                throw StorageError.unavailable(operation: "sync the job's documents", lastError: "the disk refused")
            }
            step("write")
            try await Failpoint.hit("finalize.before_commit", context: "job=\(jobID)")
            let final = try await store.jobFinalize(
                jobID, now: config.clock.now(), objects: objects.filter { !$0.name.hasPrefix("uploads/") },
                mergedDetections: report.merged?.detections.count)
            if final?.status == .cancelled {
                // Cancelled while the documents were written: a cancelled job has no results.
                for document in ResultDocument.allCases {
                    try? FileManager.default.removeItem(at: layout.result(job: jobID, file: document.fileName))
                }
            }
            step("commit")
            logger.info(
                "job finished",
                metadata: [
                    "job_id": .string(jobID), "status": "\(final?.status.rawValue ?? "?")",
                    "steps": "\(steps.map { "\($0.0) \($0.1)" }.joined(separator: ", "))",
                ])
        } catch {
            logger.error(
                "could not write the job's results; retried at the next start", metadata: ["job_id": .string(jobID), "error": "\(error)"])
        }
    }
}

extension WorkerPool {
    /// Uploads of at most this many bytes (16 MiB) stored on this machine get their quicklook drawn
    /// on first request instead of while they run (their thumbnail is drawn while they run).
    public static let picturesOnRequestMaxBytes = 16 << 20

    /// The path of the upload to draw `file`'s quicklook from on request, when it is drawn so: a
    /// small file (at most ``picturesOnRequestMaxBytes``, so a reduced read of it costs a few
    /// milliseconds) whose raster is an upload stored in `layout`. Nil: its worker draws it from
    /// the tiles it reads (a large raster, an input read from a bucket or by URL, an upload on
    /// another machine).
    public static func drawnOnRequest(_ file: FileRecord, layout: DataLayout) -> String? {
        guard file.sizeBytes <= picturesOnRequestMaxBytes, file.storedPath.hasPrefix("uploads/") else { return nil }
        let path = layout.url(file.storedPath).path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// The files' results in order: those in `kept` as they are, the others decoded, a share of
    /// them on each core.
    static func decodeResults<Value: Decodable & Sendable>(_ stored: [Data], kept: [Value?], as type: Value.Type) throws
        -> [Value]
    {
        let missing = stored.indices.filter { $0 >= kept.count || kept[$0] == nil }
        let parts = min(max(1, ProcessInfo.processInfo.activeProcessorCount), max(1, missing.count / 64))
        let decoded = Mutex([[Value]?](repeating: nil, count: parts))
        try SideBySide.run(parts) { part in
            let decoder = JSONDecoder()
            let range = (missing.count * part / parts)..<(missing.count * (part + 1) / parts)
            let share = try missing[range].map { try decoder.decode(Value.self, from: stored[$0]) }
            decoded.withLock { $0[part] = share }
        }
        var all = stored.indices.map { $0 < kept.count ? kept[$0] : nil }
        for (i, result) in zip(missing, decoded.withLock { $0.flatMap { $0 ?? [] } }) { all[i] = result }
        let results = all.compactMap { $0 }
        guard results.count == stored.count else { throw ResultsIncomplete(stored: stored.count, decoded: results.count) }
        return results
    }

    /// Fewer results came out than were stored (a share of the decoding was lost).
    struct ResultsIncomplete: Error, CustomStringConvertible {
        let stored: Int
        let decoded: Int
        var description: String { "\(decoded) of \(stored) stored results were decoded" }
    }

    /// Every object of a finished job that belongs in the bucket: its uploads (mirrored since
    /// submit), its result documents, and the quicklooks and thumbnails that were written.
    func mirrorObjects(job: String, files: [FileRecord], documents: [ResultDocument]) -> [MirrorRequest] {
        let uploads = files.filter { !$0.storedPath.hasPrefix("gs://") }.map { MirrorRequest(name: $0.storedPath) }
        let documents = documents.map {
            MirrorRequest(
                name: "results/\(layout.resultPrefix(job: job))\($0.fileName)", metadata: ["job_id": job], origin: layout.instance)
        }
        let quicklooks = files.filter { $0.status == .succeeded }
            .flatMap { [layout.quicklookPath(job: job, name: $0.name), layout.thumbnailPath(job: job, name: $0.name)] }
            .filter { FileManager.default.fileExists(atPath: layout.url($0).path) }
            .map { MirrorRequest(name: $0, metadata: ["job_id": job], origin: layout.instance) }
        return uploads + documents + quicklooks
    }
}

/// An error that knows whether another attempt at the same file could succeed. Errors the worker
/// does not know (a store that did not answer) are retried.
public protocol FileAttemptError: Error, CustomStringConvertible {
    var isRetryable: Bool { get }
}

extension InferenceError: FileAttemptError {}

/// An http(s) input that cannot be read in place: not a COG (final), or not answering (retried).
struct URLInputError: FileAttemptError {
    let isRetryable: Bool
    let description: String
}
extension StorageError: FileAttemptError {}
extension RasterError: FileAttemptError {
    /// A raster GDAL cannot open or read is the same raster next time.
    public var isRetryable: Bool { false }
}

extension DetectionOptions {
    /// The settings a job was submitted with: resolved and stored at submit (jobs from before
    /// that stored only what was given, and take today's defaults for the rest).
    init(job: JobRecord) {
        self.init()
        overlap = job.overlap ?? overlap
        scoreThreshold = job.scoreThreshold
        nmsMetric = job.nmsMetric.flatMap(OverlapMetric.init(rawValue:)) ?? nmsMetric
    }
}

/// A value shared between tasks behind a lock.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    var value: Value {
        get { mutex.withLock { $0 } }
        set { mutex.withLock { $0 = newValue } }
    }
}
