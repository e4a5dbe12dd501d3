import AsyncAlgorithms
public import Formats
import Foundation
public import GeoRaster

/// One detection placed on the Earth.
public struct GeoDetection: Sendable, Equatable, Codable {
    /// The box in the original raster's pixels, its score and class.
    public var detection: Detection
    /// [minX, minY, maxX, maxY] in the raster's CRS; nil without georeferencing.
    public var crsBox: [Double]?
    /// The box's four corners in WGS84 (lon, lat), clockwise from top-left in pixel space; nil without georeferencing.
    public var wgs84Corners: [LonLat]?

    /// A detection with its placements as given (nil for a raster without georeferencing).
    public init(detection: Detection, crsBox: [Double]?, wgs84Corners: [LonLat]?) {
        self.detection = detection
        self.crsBox = crsBox
        self.wgs84Corners = wgs84Corners
    }
}

/// A WGS84 longitude/latitude pair in degrees.
public struct LonLat: Sendable, Equatable, Codable {
    /// Longitude in degrees, east positive.
    public var lon: Double
    /// Latitude in degrees, north positive.
    public var lat: Double

    /// A pair as given; nothing is checked or wrapped.
    public init(lon: Double, lat: Double) {
        self.lon = lon
        self.lat = lat
    }
}

/// What detection produced for one raster, with what the audit needs.
public struct FileResult: Sendable, Codable {
    /// The raster's path as given to the detector: a local file, or a `/vsicurl/` URL for a raster read in place.
    public var path: String
    /// What GDAL reports of the raster: size, bands, data type, nodata, CRS and georeferencing.
    public var info: RasterInfo
    /// The SHA-256 of the raster's file, as lowercase hex; empty for a raster read in place (it is not hashed).
    public var sha256: String
    /// The file's size in bytes; 0 for a raster read in place unless the caller sets it.
    public var sizeBytes: Int
    /// The detections left after NMS across tiles (at most ``DetectionOptions/maxDetections``), boxes in the raster's pixels.
    public var detections: [GeoDetection]
    /// Tiles planned, skipped as blank, and run through the model.
    public var tiles: RunMetadata.Tiles
    /// Seconds spent hashing, reading, running the model and merging, and in all.
    public var timings: RunMetadata.Timings
    /// Grid pixels per raster pixel (1 when no resampling was needed).
    public var resampleFactor: Double
    /// What the user should know about this file (bands fed, resolution, georeferencing), as sentences.
    public var warnings: [String]
    /// For a raster read in place by range requests: the bytes fetched (nil: read from a local file).
    public var bytesRead: Int?

    /// Detections per class name (`class_N` for an index the class list does not name).
    public func classCounts(classes: [String]) -> [String: Int] {
        detections.reduce(into: [:]) { counts, g in
            let i = g.detection.classIndex
            counts[DetectionReport.className(classes, i), default: 0] += 1
        }
    }
}

/// Runs a model over rasters, tile by tile: a reader task reads and normalises batches while the
/// model runs the previous one, so reading overlaps inference and memory stays at a few batches
/// whatever the raster's size.
public struct Detector: Sendable {
    /// The model run on every tile.
    public let model: Model
    /// The run's settings, checked when the detector was made.
    public let options: DetectionOptions
    /// Which of the model's sessions this detector runs on (see ``Model/session(lane:)``).
    public let lane: Int

    /// A detector running `model` with `options` on `lane`'s session; throws when an option is out of range.
    public init(model: Model, options: DetectionOptions, lane: Int = 0) throws(InferenceError) {
        try options.validate()
        self.model = model
        self.options = options
        self.lane = lane
    }

    /// Detects objects in the raster at `path`. `progress` is called after each batch; an error it
    /// throws ends the run. `shouldStop` is asked after it: when it answers true the run ends with
    /// `CancellationError`.
    public func detect(
        path: String, progress: @escaping @Sendable (TileProgress) async throws -> Void = { _ in },
        shouldStop: @escaping @Sendable () -> Bool = { false }
    ) async throws -> FileResult {
        try await run(path: path, quicklook: nil, progress: progress, shouldStop: shouldStop).result
    }

    /// What one run gives: the file's result, and the raster drawn small as its tiles were read
    /// when a quicklook was asked for.
    public struct Output: Sendable {
        /// The file's result, as ``detect(path:progress:shouldStop:)`` gives it.
        public var result: FileResult
        /// The raster drawn at most the asked size on its longer side; nil when no quicklook was asked for.
        public var quicklook: QuicklookPixels?
    }

    /// ``detect(path:progress:shouldStop:)``, also drawing the raster at most `quicklook` pixels on
    /// its longer side from the tiles as they are read (nil: no picture). `sha256`, when given, is
    /// the file's SHA-256 as its caller already computed it over the same bytes (an upload hashed as
    /// it was received): the file is then not read a second time to hash it.
    public func run(
        path: String, quicklook: Int?, sha256 known: String? = nil,
        progress: @escaping @Sendable (TileProgress) async throws -> Void = { _ in },
        shouldStop: @escaping @Sendable () -> Bool = { false }
    ) async throws -> Output {
        let clock = ContinuousClock()
        let started = clock.now
        let manifest = model.manifest
        let raster = try Raster(path: path, maxPixels: options.maxPixels)
        let info = raster.info
        var warnings: [String] = []
        let (bands, bandWarning) = try TileReader.bands(for: manifest, info: info)
        let (scale, scaleWarning) = TileReader.scale(for: manifest, info: info)
        warnings += [bandWarning, scaleWarning].compactMap { $0 }
        if !info.isGeoreferenced {
            warnings.append("no georeferencing: boxes are in pixel space and the file has no GeoJSON features")
        }
        let plan = try manifest.tilePlan(for: info, overlap: options.overlap, maxPixels: options.maxPixels)
        // A raster read in place is not hashed: that would fetch every byte the read avoids.
        let remote = RemoteRaster.isRemote(path)
        async let digest = remote ? "" : (known ?? FileDigest.sha256(path: path))
        let canvas = quicklook.map { size in
            PreviewCanvas(
                plan: plan, channels: bands.count, maxSize: max(1, size),
                nodata: bands.map { info.nodata(band: $0).map { Float($0) } })
        }

        let session = model.session(lane: lane)
        let channel = AsyncThrowingChannel<TileBatch, any Error>()
        let decoder = OutputDecoder(manifest: manifest, scoreThreshold: Float(options.resolvedScore(manifest)))
        let (batchSize, skipBlank) = (options.batchSize, options.skipBlankTiles)
        let (iouThreshold, nmsMetric) = (options.resolvedIoU(manifest), options.nmsMetric)
        var found: [Detection] = []
        var skipped = 0
        var run = 0
        var readSeconds = 0.0
        var inferSeconds = 0.0
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    // The reader opens its own handle (a GDAL dataset serves one thread at a time),
                    // with the info already read.
                    let reader = TileReader(
                        raster: try Raster(path: path, info: info), plan: plan,
                        manifest: manifest, bands: bands, skipBlank: skipBlank, preview: canvas)
                    // Tiles are made a batch at a time: a plan of millions of tiles costs no memory up front.
                    for start in stride(from: 0, to: plan.count, by: batchSize) {
                        try Task.checkCancellation()
                        let tiles = (start..<min(start + batchSize, plan.count)).map(plan.tile)
                        await channel.send(try reader.read(tiles[...]))
                    }
                    channel.finish()
                } catch {
                    channel.fail(error)
                }
            }
            var done = 0
            for try await batch in channel {
                try Task.checkCancellation()
                readSeconds += batch.readSeconds
                skipped += batch.skipped
                if let input = batch.input {
                    let t0 = clock.now
                    let outputs = try await session.run(input)
                    inferSeconds += (clock.now - t0).seconds
                    let perTile = try decoder.decode(outputs, batch: batch.tiles.count)
                    for (tile, dets) in zip(batch.tiles, perTile) {
                        let placed = dets.compactMap { d -> Detection? in
                            let box = plan.toRaster(d.box, in: tile).clipped(width: Double(info.width), height: Double(info.height))
                            return box.area > 0 ? Detection(box: box, score: d.score, classIndex: d.classIndex) : nil
                        }
                        // NMS within the tile first keeps what is held across tiles small.
                        found += NonMaximumSuppression.apply(placed, threshold: iouThreshold, metric: nmsMetric)
                    }
                    run += batch.tiles.count
                }
                done += batch.tiles.count + batch.skipped
                try await progress(TileProgress(file: info.fileName, tilesDone: done, tilesTotal: plan.count))
                if shouldStop() { throw CancellationError() }
            }
            try await group.waitForAll()
            // A cancelled channel ends its iteration quietly; the run must not pass for complete.
            try Task.checkCancellation()
        }

        let t0 = clock.now
        let merged = NonMaximumSuppression.apply(
            found, threshold: iouThreshold, metric: nmsMetric,
            maxDetections: options.maxDetections)
        let placed = try Detector.georeference(merged, raster: raster)
        let mergeSeconds = (clock.now - t0).seconds
        let hashStart = clock.now
        let sha = try await digest
        let size = remote ? 0 : ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
        let result = FileResult(
            path: path, info: info, sha256: sha, sizeBytes: size, detections: placed,
            tiles: .init(planned: plan.count, skipped: skipped, run: run),
            timings: .init(
                hash: (clock.now - hashStart).seconds, read: readSeconds, inference: inferSeconds,
                merge: mergeSeconds, total: (clock.now - started).seconds),
            resampleFactor: scale == 1 ? 1 : plan.scaleX, warnings: warnings, bytesRead: remote ? RemoteRaster.bytesRead(path) : nil)
        return Output(result: result, quicklook: canvas?.pixels)
    }

    /// Places pixel boxes in the raster's CRS and in WGS84 (all corners in one transform call).
    static func georeference(_ detections: [Detection], raster: Raster) throws -> [GeoDetection] {
        guard raster.info.isGeoreferenced, let gt = raster.info.geoTransform,
            let transformer = try raster.makeWGS84Transformer()
        else {
            return detections.map { GeoDetection(detection: $0, crsBox: nil, wgs84Corners: nil) }
        }
        let corners = gt.corners(of: detections.map(\.box))
        let lonlat = corners.isEmpty ? [] : try transformer.toWGS84(corners)
        return detections.enumerated().map { i, d in
            let c = corners[(i * 4)..<(i * 4 + 4)]
            let crsBox = [c.map(\.0).min()!, c.map(\.1).min()!, c.map(\.0).max()!, c.map(\.1).max()!]
            let ring = lonlat[(i * 4)..<(i * 4 + 4)].map { LonLat(lon: $0.lon, lat: $0.lat) }
            return GeoDetection(detection: d, crsBox: crsBox, wgs84Corners: ring)
        }
    }
}

extension FileResult {
    /// The detections as boxes to draw on a quicklook, in the raster's pixels.
    public var quicklookBoxes: [QuicklookBox] {
        detections.map {
            QuicklookBox(
                x1: $0.detection.box.x1, y1: $0.detection.box.y1, x2: $0.detection.box.x2, y2: $0.detection.box.y2,
                classIndex: $0.detection.classIndex)
        }
    }
}
