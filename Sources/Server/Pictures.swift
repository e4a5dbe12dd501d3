import Foundation
import GeoRaster
import Inference
import Jobs
import Workers

/// Quicklooks drawn on their first request, for the small files whose raster is an upload kept in
/// this data directory: workers draw only their thumbnails (128 px, what the map shows from far
/// away) while the job runs (``WorkerPool/drawnOnRequest(_:layout:)``), so that a job of
/// thousands of drone tiles spends little on pictures nobody may look at closely. Each quicklook is
/// drawn once from a reduced-resolution read of the upload (libjpeg's scaled decode, area-averaged
/// bytes: ``Quicklook/readFast(raster:bands:maxSize:)``), with the file's detections from its
/// stored result, and kept beside the pictures workers draw; later requests read the file. A
/// missing thumbnail is drawn the same way.
struct Pictures: Sendable {
    let store: any JobStore
    let layout: DataLayout
    /// The longest side of a quicklook (`GEOINFER_QUICKLOOK_SIZE`; 0: none).
    let maxSize: Int
    /// At most one picture drawn at a time per two cores: a draw holds one of the threads every
    /// request runs on while GDAL reads, so the rest of the API keeps some.
    let slots = SerialGate(holders: ProcessInfo.processInfo.activeProcessorCount / 2)

    /// Draws the file's quicklook (and its thumbnail, when that is missing too) when `wanted` is
    /// missing and this process can draw it (the file succeeded and its upload is here); otherwise
    /// leaves the pictures as they are.
    func drawIfMissing(job: String, name: String, wanted: URL) async throws {
        let quicklook = layout.url(layout.quicklookPath(job: job, name: name))
        let thumbnail = layout.url(layout.thumbnailPath(job: job, name: name))
        func drawn() -> Bool { FileManager.default.fileExists(atPath: wanted.path) }
        guard maxSize > 0, !drawn(), let (file, result) = try await store.file(ofJob: job, named: name),
            file.status == .succeeded, let result, let source = WorkerPool.drawnOnRequest(file, layout: layout)
        else { return }
        let maxSize = maxSize
        let drewThumbnail = try await slots.run { () throws -> Bool? in
            // Another request may have drawn it while this one waited.
            guard !drawn() else { return nil }
            let boxes = try JSONDecoder().decode(FileResult.self, from: result).quicklookBoxes
            let raster = try Raster(path: source)
            let pixels = try Quicklook.readFast(raster: raster, bands: raster.info.bandCount >= 3 ? [1, 2, 3] : [1], maxSize: maxSize)
            for folder in [quicklook, thumbnail] {
                try FileManager.default.createDirectory(at: folder.deletingLastPathComponent(), withIntermediateDirectories: true)
            }
            // Written under other names, then renamed: a reader never sees half a picture.
            let part = ".part-\(UUID().uuidString)"
            let (q, t) = (quicklook.path + part, thumbnail.path + part)
            defer { for p in [q, t] { unlink(p) } }
            let withThumbnail = !FileManager.default.fileExists(atPath: thumbnail.path)
            try Quicklook.write(pixels, boxes: boxes, to: q, thumbnail: withThumbnail ? t : nil)
            guard !withThumbnail || rename(t, thumbnail.path) == 0, rename(q, quicklook.path) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: quicklook.path])
            }
            return withThumbnail
        }
        // Copied to the mirror bucket like the pictures workers draw.
        guard let drewThumbnail else { return }
        let layout = layout
        try await store.mirrorEnqueue(
            job: job,
            ([layout.quicklookPath(job: job, name: name)] + (drewThumbnail ? [layout.thumbnailPath(job: job, name: name)] : [])).map {
                MirrorRequest(name: $0, metadata: ["job_id": job], origin: layout.instance)
            }, now: Date())
    }
}
