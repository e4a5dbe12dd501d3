import Foundation
import GeoRaster
import Inference
import Jobs
import Synchronization
import Workers

/// Quicklooks and thumbnails drawn on their first request, for the small files whose raster is an
/// upload kept in this data directory: workers draw none for those while the job runs
/// (``WorkerPool/drawnOnRequest(_:layout:)``), so that a job of thousands of drone tiles spends
/// nothing on pictures nobody may look at. Each picture is drawn once from a reduced-resolution
/// read of the upload (GDAL's overviews, libjpeg's scaled decode), with the file's detections from
/// its stored result, and kept beside the pictures workers draw; later requests read the file.
struct Pictures: Sendable {
    let store: any JobStore
    let layout: DataLayout
    /// The longest side of a quicklook (`GEOINFER_QUICKLOOK_SIZE`; 0: none).
    let maxSize: Int
    /// At most one picture drawn per core at a time.
    let slots = DrawSlots(ProcessInfo.processInfo.activeProcessorCount)

    /// Draws the file's quicklook and thumbnail when they are missing and this process can draw them
    /// (the file succeeded and its upload is here); otherwise leaves them as they are.
    func drawIfMissing(job: String, name: String) async throws {
        let quicklook = layout.url(layout.quicklookPath(job: job, name: name))
        let thumbnail = layout.url(layout.thumbnailPath(job: job, name: name))
        func drawn() -> Bool {
            FileManager.default.fileExists(atPath: quicklook.path) && FileManager.default.fileExists(atPath: thumbnail.path)
        }
        guard maxSize > 0, !drawn(), let (file, result) = try await store.file(ofJob: job, named: name),
            file.status == .succeeded, let result, let source = WorkerPool.drawnOnRequest(file, layout: layout)
        else { return }
        let maxSize = maxSize
        try await slots.run {
            // Another request may have drawn them while this one waited.
            guard !drawn() else { return }
            let boxes = try JSONDecoder().decode(FileResult.self, from: result).quicklookBoxes
            let raster = try Raster(path: source)
            let pixels = try Quicklook.read(raster: raster, bands: raster.info.bandCount >= 3 ? [1, 2, 3] : [1], maxSize: maxSize)
            for folder in [quicklook, thumbnail] {
                try FileManager.default.createDirectory(at: folder.deletingLastPathComponent(), withIntermediateDirectories: true)
            }
            // Written under other names, then renamed: a reader never sees half a picture.
            let part = ".part-\(UUID().uuidString)"
            let (q, t) = (quicklook.path + part, thumbnail.path + part)
            defer { for p in [q, t] { unlink(p) } }
            try Quicklook.write(pixels, boxes: boxes, to: q, thumbnail: t)
            guard rename(t, thumbnail.path) == 0, rename(q, quicklook.path) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: quicklook.path])
            }
        }
        // Copied to the mirror bucket like the pictures workers draw.
        let layout = layout
        try await store.mirrorEnqueue(
            job: job,
            [layout.quicklookPath(job: job, name: name), layout.thumbnailPath(job: job, name: name)].map {
                MirrorRequest(name: $0, metadata: ["job_id": job], origin: layout.instance)
            }, now: Date())
    }
}

/// A count of slots, waited for in turn: at most `count` bodies run at once.
final class DrawSlots: Sendable {
    private struct State: ~Copyable {
        var free: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Mutex<State>

    init(_ count: Int) { state = Mutex(State(free: max(1, count))) }

    func run<T: Sendable>(_ body: () throws -> T) async throws -> T {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s in
                guard s.free > 0 else {
                    s.waiters.append(waiter)
                    return false
                }
                s.free -= 1
                return true
            }
            if now { waiter.resume() }
        }
        defer {
            let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
                guard !s.waiters.isEmpty else {
                    s.free += 1
                    return nil
                }
                return s.waiters.removeFirst()
            }
            next?.resume()
        }
        return try body()
    }
}
