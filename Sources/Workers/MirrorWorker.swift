import Failpoints
public import Foundation
public import Jobs
public import Logging
import Metrics
public import ServiceLifecycle
public import Storage

/// How the mirror worker runs.
public struct MirrorConfiguration: Sendable {
    /// Objects uploaded at once (default 4).
    public var concurrency = 4
    /// A claim's lease, renewed every third of it while an upload runs (default 60 s).
    public var lease: TimeInterval = 60
    /// Wait before retrying a failed object: doubled from `firstRetry` up to `maxRetry` (default 2 s to 5 min).
    public var firstRetry: TimeInterval = 2
    /// The longest wait between two attempts at an object (default 300 s).
    public var maxRetry: TimeInterval = 300
    /// How often an idle worker looks for work (default 0.5 s).
    public var idlePoll: TimeInterval = 0.5
    /// Where leases and retry times read the time (default: the system's).
    public var clock: any WallClock = SystemWallClock()

    /// The defaults.
    public init() {}

    /// When to try again after `attempts` failed attempts, with ±10% jitter.
    func retryDelay(attempts: Int) -> TimeInterval {
        let base = min(maxRetry, firstRetry * pow(2, Double(min(max(attempts - 1, 0), 20))))
        return base * Double.random(in: 0.9...1.1)
    }
}

/// Copies every stored upload and result to the bucket from the mirror outbox: the local copy is
/// written first and stays the source, so a bucket outage never fails a job; objects are retried
/// until they sync, across restarts. A ServiceLifecycle service beside the API and the workers.
public final class MirrorWorker: Service {
    let store: any JobStore
    /// The mirror bucket (nil: no mirror, only jobs' output copies).
    let bucket: (any BlobStore)?
    /// The buckets of jobs' output prefixes.
    let buckets: (any BucketResolver)?
    let layout: DataLayout
    let config: MirrorConfiguration
    let logger: Logger
    let id = "mirror-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))"

    /// The process id in a lease owner this worker names (`mirror-PID-…`); nil for any other name.
    static func processID(ofOwner owner: String) -> Int32? {
        let parts = owner.split(separator: "-")
        guard parts.count >= 3, parts[0] == "mirror" else { return nil }
        return Int32(parts[1])
    }

    /// A worker that copies the rows of `store` whose files are in `layout`: to `bucket` (the
    /// mirror; nil: none) under their names, and to the buckets `buckets` reaches for jobs' output
    /// prefixes.
    public init(
        store: any JobStore, bucket: (any BlobStore)?, buckets: (any BucketResolver)? = nil, layout: DataLayout,
        config: MirrorConfiguration, logger: Logger
    ) {
        self.store = store
        self.bucket = bucket
        self.buckets = buckets
        self.layout = layout
        self.config = config
        self.logger = logger
    }

    /// Copies objects until graceful shutdown; an object being copied then is handed back when its
    /// lease expires.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for n in 0..<self.config.concurrency {
                    group.addTask { await self.loop(worker: "\(self.id)-\(n)") }
                }
            }
        }
    }

    private func loop(worker: String) async {
        while !Task.isCancelled {
            do {
                if let claim = try await store.mirrorClaimNext(
                    owner: worker, origin: layout.instance, lease: config.lease, now: config.clock.now())
                {
                    await sync(claim)
                } else {
                    try await Task.sleep(for: .milliseconds(Int64(config.idlePoll * 1000)))
                }
            } catch is CancellationError {
                return
            } catch {
                logger.error("job store unavailable", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Uploads one object, renewing its lease meanwhile, and records the outcome.
    func sync(_ claim: MirrorObject) async {
        var log = logger
        log[metadataKey: "job_id"] = .string(claim.jobID)
        log[metadataKey: "object"] = .string(claim.name)
        let file = layout.url(claim.source ?? claim.name)
        let outcome: MirrorOutcome
        guard FileManager.default.fileExists(atPath: file.path) else {
            log.error("cannot mirror: the local file is gone")
            _ = try? await store.mirrorRecord(
                claim, outcome: .failed(error: "the local file \(claim.source ?? claim.name) is gone", retryAt: nil),
                now: config.clock.now())
            return
        }
        // The mirror bucket under the same name, or a job's output prefix by its gs:// URI.
        let target: any BlobStore
        let objectName: String
        do {
            if claim.isOutputCopy {
                let uri = try GSURI(claim.name)
                guard let buckets else { throw StorageError.configuration("this process has no GCS access for \(uri.bucket)") }
                (target, objectName) = (try buckets.store(bucket: uri.bucket), uri.name)
            } else {
                guard let bucket else { throw StorageError.configuration("no mirror bucket") }
                (target, objectName) = (bucket, claim.name)
            }
        } catch {
            log.error("cannot copy: no bucket for it", metadata: ["error": "\(error)"])
            _ = try? await store.mirrorRecord(claim, outcome: .failed(error: "\(error)", retryAt: nil), now: config.clock.now())
            return
        }
        do {
            let stored = try await withThrowingTaskGroup(of: BlobInfo?.self) { group in
                group.addTask {
                    try await Failpoint.hit("mirror.before_upload", context: "job=\(claim.jobID) object=\(claim.name)")
                    if claim.replace { _ = try await target.delete(objectName) }
                    return try await target.put(
                        file: file, as: objectName, contentType: ContentType.guess(objectName), metadata: claim.metadata)
                }
                group.addTask {
                    while true {
                        try await Task.sleep(for: .milliseconds(Int64(self.config.lease / 3 * 1000)))
                        guard try await self.store.mirrorRenew(claim, lease: self.config.lease, now: self.config.clock.now()) else {
                            throw CancellationError()
                        }
                    }
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let info = first else { throw CancellationError() }
                return info
            }
            outcome = .synced(sizeBytes: stored.size, crc32c: stored.crc32c, generation: stored.generation)
            Counter(label: "geoinfer_mirror_objects_total", dimensions: [("outcome", "synced")]).increment()
            Counter(label: "geoinfer_mirror_bytes_total").increment(by: Int(stored.size))
            log.debug("mirrored", metadata: ["bytes": "\(stored.size)"])
        } catch is CancellationError {
            return  // shutting down or the lease moved on: the row stays due for the next claim
        } catch let error as StorageError {
            let retry = error.isRetryable ? config.clock.now().addingTimeInterval(config.retryDelay(attempts: claim.attempts + 1)) : nil
            outcome = .failed(error: error.description, retryAt: retry)
            Counter(label: "geoinfer_mirror_objects_total", dimensions: [("outcome", retry == nil ? "failed" : "retried")]).increment()
            log.warning("mirror attempt failed", metadata: ["error": "\(error)", "retry": "\(retry != nil)"])
        } catch {
            let retry = config.clock.now().addingTimeInterval(config.retryDelay(attempts: claim.attempts + 1))
            outcome = .failed(error: "\(error)", retryAt: retry)
            Counter(label: "geoinfer_mirror_objects_total", dimensions: [("outcome", "retried")]).increment()
            log.warning("mirror attempt failed", metadata: ["error": "\(error)"])
        }
        do {
            _ = try await store.mirrorRecord(claim, outcome: outcome, now: config.clock.now())
        } catch {
            log.error("could not record the mirror outcome; the object is uploaded again after its lease", metadata: ["error": "\(error)"])
        }
    }
}
