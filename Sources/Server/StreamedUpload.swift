import Foundation
import Inference
import Jobs
import Synchronization

/// A job made while its upload still streams in, so that workers start on the first files while
/// the rest arrive. Each file is checked with GDAL as soon as its part has ended (one check per
/// core); the checked files join the job in the order they were sent, all but the latest one, which
/// waits for the next file or for the end of the body. That file keeps the job from being finished
/// before its upload is ([`JobRecord/receiving`]). At the end of the body the upload is sealed with
/// its last file and the settings used only at the job's end (which may come after the files), or,
/// when anything went wrong (a file GDAL refuses, a setting that changes how files run sent after
/// the first file, a body cut off), the job is discarded with everything it had, and the request is
/// answered as if nothing had streamed: the same 4xx, or the whole upload made into a job at once.
///
/// Started only for a request without an `Idempotency-Key` whose settings, as known when its first
/// file has arrived, are valid.
final class StreamedUpload: Sendable {
    /// The job's id (made when its first files are added).
    let jobID: String
    /// The settings as they were when streaming started (query and the fields before the first file).
    let settings: [String: String]
    private let parsed: UploadHandler.Settings
    private let owner: String?
    private let store: any JobStore
    private let layout: DataLayout
    private let dir: URL
    private let maxPixels: Int
    private let gate = SerialGate()
    private let state = Mutex(State())

    private struct State {
        /// Each received file's verdict, by its place in the request.
        var verdicts: [Int: UploadHandler.FileCheck] = [:]
        /// The first file not yet taken in order.
        var next = 0
        /// Accepted files taken in order but not yet in the job (the last one is held back).
        var pending: [(ordinal: Int, file: JobCreate.NewFile)] = []
        /// Whether the job exists in the store.
        var created = false
        /// Whether any file was linked into `uploads/` (or the job may exist).
        var touched = false
        /// Why the stream stopped adding files (the job is then discarded at the end).
        var stopped: String?
    }

    init(
        jobID: String, settings: [String: String], parsed: UploadHandler.Settings, owner: String?, store: any JobStore,
        layout: DataLayout, dir: URL, maxPixels: Int
    ) {
        self.jobID = jobID
        self.settings = settings
        self.parsed = parsed
        self.owner = owner
        self.store = store
        self.layout = layout
        self.dir = dir
        self.maxPixels = maxPixels
    }

    /// Checks the received file at `index` and adds the files now complete in order.
    func offer(_ index: Int, _ file: UploadState.Received) async {
        var verdict = await UploadHandler.checkOffPool(
            file, path: dir.appending(path: file.name).path, maxPixels: maxPixels, model: parsed.model,
            overlap: parsed.detection.overlap)
        if HostileText.hasControl(file.originalName) {
            // Refused at the end with the request's own error; never stored meanwhile.
            verdict = .refused(.init(name: FileNames.sanitize(file.originalName), error: "control characters in the name"))
        }
        state.withLock { $0.verdicts[index] = verdict }
        try? await gate.run { await self.add() }
    }

    /// Every file's verdict, in order, when each of `count` files has one.
    func verdicts(count: Int) -> [UploadHandler.FileCheck]? {
        state.withLock { s in
            let all = (0..<count).compactMap { s.verdicts[$0] }
            return all.count == count ? all : nil
        }
    }

    /// Whether the job exists and every file so far went into it (or waits to).
    var isIntact: Bool { state.withLock { $0.created && $0.stopped == nil } }

    /// Adds the held-back file and seals the job (its ground truth, and the settings used at its
    /// end as the whole request gave them): the job as it is now, or nil when no job was made (the
    /// caller makes the job at once) or the stream stopped.
    ///
    /// The held-back files and the seal go in one transaction: a worker that finishes every file
    /// in between would otherwise find the job still receiving, and nobody would finalize it.
    /// Every file (synced as it was checked), and the folder that names them, is on disk before the
    /// seal: an accepted upload survives a power loss (a job still receiving is discarded after a
    /// crash anyway, so the folder is synced once, here, not with each file added).
    func seal(count: Int, _ seal: JobSeal) async throws -> JobRecord? {
        try await gate.run {
            let (batch, created) = take(sealing: true)
            let (stopped, taken) = state.withLock { ($0.stopped, $0.next) }
            guard created, stopped == nil, taken == count else { return nil }
            let rows = try link(batch).map { $0.file.record(job: jobID, ordinal: $0.ordinal) }
            guard DiskSync.sync(layout.url("uploads").path, directory: true) else { throw APIError.storageUnavailable }
            return try await store.jobAddFiles(jobID, rows, seal: seal, now: Date())
        }
    }

    /// Deletes the job and its files here (a failed, cut-off or restarted upload). Runs to its end
    /// even when the request's task is cancelled.
    func discard() async {
        let (store, layout, jobID, gate) = (store, layout, jobID, gate)
        let touched = state.withLock { s in
            s.stopped = s.stopped ?? "discarded"
            return s.touched
        }
        guard touched else { return }
        let removed = await Task.detached { await Self.discard(jobID, store: store, layout: layout, gate: gate) }.value
        guard !removed else { return }
        // The store did not answer: tried again in the background, so the request's answer does
        // not wait for it (its uploads stay until the job is gone).
        Task.detached {
            for _ in 0..<120 {
                try? await Task.sleep(for: .seconds(5))
                if await Self.discard(jobID, store: store, layout: layout, gate: gate) { return }
            }
        }
    }

    /// Deletes the job if it is still receiving, and its files once the store says it is gone.
    /// True when that is settled (deleted, or gone already, or kept: sealed after all, its files
    /// with it); false when the store could not answer.
    private static func discard(_ jobID: String, store: any JobStore, layout: DataLayout, gate: SerialGate) async -> Bool {
        (try? await gate.run { () async throws -> Bool in
            // A seal whose answer was lost may have committed: such a job is kept whole.
            var gone = try await store.jobDiscard(jobID)
            if !gone { gone = try await store.jobGet(jobID) == nil }
            if gone { layout.removeFiles(ofJob: jobID) }
            return true
        }) ?? false
    }

    /// Takes the files now complete in order, all but the last one (which waits for the next file
    /// or the seal), and adds them; the first ones make the job.
    private func add() async {
        let (batch, created) = take(sealing: false)
        guard !batch.isEmpty else { return }
        do {
            let files = try link(batch)
            if created {
                _ = try await store.jobAddFiles(
                    jobID, files.map { $0.file.record(job: jobID, ordinal: $0.ordinal) }, seal: nil, now: Date())
            } else {
                var create = parsed.job(id: jobID, key: nil, owner: owner, fingerprint: nil, files: files.map(\.file))
                create.origin = layout.instance
                create.receiving = ReceivingUpload.owner(instance: layout.instance)
                _ = try await store.jobCreate(create)
                state.withLock { $0.created = true }
            }
        } catch {
            state.withLock { $0.stopped = "\(error)" }
        }
    }

    /// The accepted files now complete in order: all of them when `sealing`, else all but the last.
    /// A refused file stops the stream.
    private func take(sealing: Bool) -> (batch: [(ordinal: Int, file: JobCreate.NewFile)], created: Bool) {
        state.withLock { s -> ([(ordinal: Int, file: JobCreate.NewFile)], Bool) in
            guard s.stopped == nil else { return ([], s.created) }
            while let verdict = s.verdicts[s.next] {
                guard case .accepted(let file) = verdict else {
                    s.stopped = "a file was refused"
                    return ([], s.created)
                }
                s.pending.append((s.next, file))
                s.next += 1
            }
            let take = sealing ? s.pending.count : max(0, s.pending.count - 1)
            let batch = Array(s.pending.prefix(take))
            s.pending.removeFirst(take)
            return (batch, s.created)
        }
    }

    /// Links the files into `uploads/` under the job (their stored paths set); the folder is synced
    /// with the seal. Linked, not moved: the request's folder keeps every file until it ends, so a
    /// discarded stream can still make the job at once from it.
    private func link(_ batch: [(ordinal: Int, file: JobCreate.NewFile)]) throws -> [(ordinal: Int, file: JobCreate.NewFile)] {
        guard !batch.isEmpty else { return [] }
        state.withLock { $0.touched = true }
        var linked = batch
        for i in linked.indices {
            let relative = layout.uploadPath(job: jobID, name: linked[i].file.name)
            try FileManager.default.linkItem(at: dir.appending(path: linked[i].file.name), to: layout.url(relative))
            linked[i].file.storedPath = relative
        }
        return linked
    }
}
