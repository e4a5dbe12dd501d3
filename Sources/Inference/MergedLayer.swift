public import Formats
import Foundation
import GeoRaster
import Mosaic

/// Which detection of which file: the image index (0-based, the order of the run's files) and
/// the detection's index in that file's result.
public struct DetectionRef: Sendable, Equatable, Codable {
    /// Index of the file in the run's files, 0-based.
    public var file: Int
    /// Index of the detection in that file's `detections`.
    public var detection: Int
}

/// One object of the merged layer.
public struct MergedGeoDetection: Sendable, Equatable {
    /// [minX, minY, maxX, maxY] in the layer's CRS.
    public var crsBox: [Double]
    /// The box's four corners in WGS84, clockwise from the top-left (north-west) corner.
    public var wgs84Corners: [LonLat]
    /// The highest score among its parts, in [0, 1].
    public var score: Float
    /// The class all its parts share: a 0-based index into the manifest's classes.
    public var classIndex: Int
    /// The detections it is made of: one, or the parts of an object joined across seams.
    public var parts: [DetectionRef]
    /// Detections of overlapping files dropped as the same object.
    public var duplicates: [DetectionRef]

    /// The names of the files it was found in (its parts', then its duplicates'), each once.
    public func fileNames(in files: [FileResult]) -> [String] {
        var names: [String] = []
        for ref in parts + duplicates where !names.contains(files[ref.file].info.fileName) {
            names.append(files[ref.file].info.fileName)
        }
        return names
    }
}

/// A run's detections merged across files in map coordinates (see ``SeamMerge``): what a user of
/// an orthomosaic cut into many files expects, one box per object however the files were cut.
public struct MergedLayer: Sendable {
    /// The CRS of `crsBox`: most files' CRS, as `EPSG:n` (or WKT when it has no code).
    public var crs: String
    /// The layer's objects: one box each, however many files saw it.
    public var detections: [MergedGeoDetection]
    /// Files whose detections are not in the layer: not georeferenced, or in a CRS that cannot be
    /// converted to the layer's.
    public var excludedFiles: [String]
    /// How the overlap of boxes from different files was measured.
    public var metric: OverlapMetric
    /// Overlap under `metric` above which boxes from different files were taken as one object.
    public var threshold: Double

    /// Objects joined from parts found in different files.
    public var joined: Int { detections.count { $0.parts.count > 1 } }
    /// Detections dropped as duplicates.
    public var duplicatesDropped: Int { detections.map(\.duplicates.count).reduce(0, +) }

    /// Parts closer to their file's border than this, in model-grid pixels, are cut by it.
    public static let seamTolerance = 3.0

    /// Merges `files`' detections: boxes from different files that overlap by more than
    /// `threshold` under `metric` are one object, parts cut by a seam are joined. Nil when no file
    /// is georeferenced.
    public static func merge(files: [FileResult], metric: OverlapMetric, threshold: Double) -> MergedLayer? {
        guard let crs = commonCRS(files) else { return nil }
        var seamFiles: [SeamFile] = []
        var inputs: [SeamDetection] = []
        var refs: [DetectionRef] = []
        var excluded: [String] = []
        var converters: [String: CoordinateTransformer] = [:]
        for (i, f) in files.enumerated() {
            guard let key = crsKey(f.info), let gt = f.info.geoTransform, f.info.width > 0, f.info.height > 0 else {
                excluded.append(f.info.fileName)
                continue
            }
            do {
                let toLayer: ([(Double, Double)]) throws -> [(x: Double, y: Double)]
                if key == crs {
                    toLayer = { $0.map { (x: $0.0, y: $0.1) } }
                } else {
                    let converter = try converters[key] ?? CoordinateTransformer(from: key, to: crs)
                    converters[key] = converter
                    toLayer = { try converter.apply($0) }
                }
                let (w, h) = (Double(f.info.width), Double(f.info.height))
                let corners = try toLayer(gt.corners(of: [Box(x1: 0, y1: 0, x2: w, y2: h)]))
                guard let extent = MapRect(points: corners) else { throw MergeFailure() }
                let fileIndex = seamFiles.count
                seamFiles.append(SeamFile(extent: extent, pixelSize: max(extent.width / w, extent.height / h)))
                // A grid coarser than the raster (factor < 1) makes the model's boxes coarser too.
                let tolerance = seamTolerance / min(max(f.resampleFactor, .leastNonzeroMagnitude), 1)
                let points = gt.corners(of: f.detections.map(\.detection.box))
                let placed = points.isEmpty ? [] : try toLayer(points)
                for (d, g) in f.detections.enumerated() {
                    guard let box = MapRect(points: Array(placed[(d * 4)..<(d * 4 + 4)])) else { continue }
                    let b = g.detection.box
                    inputs.append(
                        SeamDetection(
                            file: fileIndex, box: box, score: g.detection.score, classIndex: g.detection.classIndex,
                            cut: CutSides(
                                pixelBox: b.x1, b.y1, b.x2, b.y2, width: f.info.width, height: f.info.height,
                                tolerance: tolerance, geoTransform: gt.coefficients)))
                    refs.append(DetectionRef(file: i, detection: d))
                }
            } catch {
                excluded.append(f.info.fileName)
            }
        }
        let merge = SeamMerge(metric: metric == .ios ? .ios : .iou, threshold: threshold, seamTolerance: seamTolerance)
        let merged = merge.merge(files: seamFiles, detections: inputs)
        let toWGS84 = try? CoordinateTransformer(from: crs, to: "EPSG:4326")
        var detections: [MergedGeoDetection] = []
        detections.reserveCapacity(merged.count)
        for m in merged {
            let parts = m.parts.map { refs[$0] }
            let corners: [LonLat]
            if parts.count == 1, let known = files[parts[0].file].detections[parts[0].detection].wgs84Corners {
                corners = known
            } else {
                let b = m.box
                guard let lonlat = try? toWGS84?.toWGS84([(b.minX, b.maxY), (b.maxX, b.maxY), (b.maxX, b.minY), (b.minX, b.minY)]) else {
                    continue
                }
                corners = lonlat.map { LonLat(lon: $0.lon, lat: $0.lat) }
            }
            detections.append(
                MergedGeoDetection(
                    crsBox: [m.box.minX, m.box.minY, m.box.maxX, m.box.maxY], wgs84Corners: corners, score: m.score,
                    classIndex: m.classIndex, parts: parts, duplicates: m.duplicates.map { refs[$0] }))
        }
        return MergedLayer(crs: crs, detections: detections, excludedFiles: excluded, metric: metric, threshold: threshold)
    }

    /// What the metadata document says of the merge.
    public var summary: RunMetadata.Merge {
        .init(
            crs: crs, detections: detections.count, joined: joined, duplicates_dropped: duplicatesDropped,
            excluded_files: excludedFiles, metric: metric.rawValue, threshold: threshold)
    }

    /// The CRS of most georeferenced files (the first file's among equals).
    static func commonCRS(_ files: [FileResult]) -> String? {
        var counts: [String: Int] = [:]
        var order: [String] = []
        for f in files {
            guard let key = crsKey(f.info) else { continue }
            if counts[key] == nil { order.append(key) }
            counts[key, default: 0] += 1
        }
        let most = counts.values.max() ?? 0
        return order.first { counts[$0] == most }
    }

    /// `EPSG:n` when GDAL found a code, else the WKT; nil without georeferencing.
    static func crsKey(_ info: RasterInfo) -> String? {
        guard info.isGeoreferenced else { return nil }
        return info.epsg.map { "EPSG:\($0)" } ?? info.crsWKT
    }

    private struct MergeFailure: Error {}
}
