public import Foundation
public import Jobs
public import Logging
public import ServiceLifecycle

/// What a crash leaves behind, removed when any process (API or worker) starts: `temp/` entries of
/// processes that are gone (partial uploads, inputs copied from the bucket), stored uploads whose
/// job was never committed, jobs whose streamed upload a crash cut off, and pictures of jobs that
/// no longer exist.
public enum StartupSweep {
    /// Whether a process with this id runs on this machine.
    static func isAlive(_ pid: Int32) -> Bool { pid > 0 && (kill(pid, 0) == 0 || errno == EPERM) }

    /// An upload moved into place is committed within moments; one older than this whose job does
    /// not exist was cut off by a crash between the move and the commit.
    static let orphanAge: TimeInterval = 600

    /// Removes `temp/` entries of processes that are gone and uploads older than ``orphanAge`` whose
    /// job does not exist, logging how many; a store that does not answer leaves the uploads alone.
    public static func run(layout: DataLayout, store: any JobStore, logger: Logger, now: Date = Date()) async {
        let fm = FileManager.default
        var removed = 0
        for entry in (try? fm.contentsOfDirectory(atPath: layout.temp.path)) ?? []
        where ["upload-", "input-", "model-", "truth-"].contains(where: entry.hasPrefix) {
            let parts = entry.split(separator: "-", maxSplits: 2)
            // Names from before owners were recorded carry no process id: nobody owns them any more.
            if parts.count == 3, let pid = Int32(parts[1]), isAlive(pid) { continue }
            if (try? fm.removeItem(at: layout.temp.appending(path: entry))) != nil { removed += 1 }
        }
        // Jobs made while their upload streamed in, whose receiving process on this data directory
        // is gone: the upload never ended, so the job is discarded with its files.
        let me = ProcessInfo.processInfo.processIdentifier
        for job in (try? await store.jobsReceiving()) ?? [] {
            guard let owner = job.receiving.flatMap(ReceivingUpload.parse), owner.instance == layout.instance,
                owner.processID == me ? owner.token != ReceivingUpload.processToken : !isAlive(owner.processID),
                (try? await store.jobDiscard(job.id)) == true
            else { continue }
            removed += layout.removeFiles(ofJob: job.id)
            logger.notice("discarded a job whose upload a crash cut off", metadata: ["job_id": .string(job.id)])
        }
        let uploads = layout.root.appending(path: "uploads")
        var byJob: [String: [String]] = [:]
        for entry in (try? fm.contentsOfDirectory(atPath: uploads.path)) ?? [] {
            guard let cut = entry.firstIndex(of: "_") else { continue }
            byJob[String(entry[..<cut]), default: []].append(entry)
        }
        for (job, entries) in byJob {
            guard (try? await store.jobGet(job)) == .some(nil) else { continue }  // a job, or the store did not answer: keep
            for entry in entries {
                let url = uploads.appending(path: entry)
                let modified = (try? fm.attributesOfItem(atPath: url.path)[.modificationDate] as? Date) ?? now
                if now.timeIntervalSince(modified) > orphanAge, (try? fm.removeItem(at: url)) != nil { removed += 1 }
            }
        }
        // Pictures of a job that no longer exists: a worker may draw a file's quicklook just after its
        // streamed job was discarded.
        for entry in (try? fm.contentsOfDirectory(atPath: layout.results.path)) ?? [] where !entry.contains("_") {
            let url = layout.results.appending(path: entry)
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue,
                (try? await store.jobGet(entry)) == .some(nil)
            else { continue }
            let modified = (try? fm.attributesOfItem(atPath: url.path)[.modificationDate] as? Date) ?? now
            if now.timeIntervalSince(modified) > orphanAge, (try? fm.removeItem(at: url)) != nil { removed += 1 }
        }
        if removed > 0 { logger.notice("removed what an earlier crash left behind", metadata: ["entries": "\(removed)"]) }
        // Copies to the bucket that a crashed process of this data directory was making: released
        // now, rather than when their leases expire (a minute later by default). A data directory
        // belongs to one machine, so its copiers' process ids are this machine's.
        let released = try? await store.mirrorReleaseLeases(origin: layout.instance) { owner in
            guard let pid = MirrorWorker.processID(ofOwner: owner) else { return false }
            return pid != me && !isAlive(pid)
        }
        if let released, released > 0 {
            logger.notice("copies a crashed process was making go again", metadata: ["objects": "\(released)"])
        }
    }
}

/// The sweep as a one-shot service that runs beside the job store's own service. A PostgreSQL store
/// answers only once its service runs, so a sweep run while the process was still being built
/// waited on it for every job found in `uploads/` (10 s for one job in a logged test run). It
/// returns when done, and the service group carries on (`GeoInferServer.run` runs it with
/// `successTerminationBehavior: .ignore`).
public struct StartupSweepService: Service {
    let layout: DataLayout
    let store: any JobStore
    let logger: Logger

    /// A sweep of `layout` that asks `store` which jobs exist.
    public init(layout: DataLayout, store: any JobStore, logger: Logger) {
        self.layout = layout
        self.store = store
        self.logger = logger
    }

    /// Sweeps once and returns.
    public func run() async {
        await StartupSweep.run(layout: layout, store: store, logger: logger)
    }
}
