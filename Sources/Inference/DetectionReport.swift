public import Formats
public import Foundation
import GeoRaster
import Synchronization

/// Builds the COCO, GeoJSON and metadata documents of a run over one or more rasters.
/// Image ids are 1-based in the order of `files`.
public struct DetectionReport: Sendable {
    /// The model the run used, named in every document with its digest.
    public var model: ModelFile
    /// The run's settings; the metadata's `parameters` show them resolved against the manifest.
    public var options: DetectionOptions
    /// Intra-op threads per session, as the metadata's `parameters` record it.
    public var threads: Int
    /// Where inference ran, as the metadata's `parameters` record it.
    public var device: Device
    /// Each raster's result; their order gives the image ids (from 1) in every document.
    public var files: [FileResult]
    /// When the run was made: the documents' timestamp (ISO 8601).
    public var createdAt: Date
    /// The bucket copies to name in the metadata document.
    public var storage: RunMetadata.StorageCopies?
    /// The detections merged across files (``MergedLayer/merge(files:metric:threshold:)``); when
    /// set, the merged documents are written beside the per-file ones.
    public var merged: MergedLayer?
    /// The job the run is for (an attribute of the GIS layers' features).
    public var jobID: String?
    /// The GIS layers' CRS (`EPSG:n`); nil: the merged layer's (most files' CRS).
    public var outCRS: String?
    /// Scores against ground truth, kept in the metadata document.
    public var evaluation: EvaluationReport?
    /// What the user should know about the run as a whole (beside each file's own warnings).
    public var warnings: [String] = []

    /// A report of `files`; the optional parts (storage, merged layer, job, CRS, evaluation, warnings) are set
    /// afterwards.
    public init(model: ModelFile, options: DetectionOptions, threads: Int, device: Device, files: [FileResult], createdAt: Date = Date()) {
        self.model = model
        self.options = options
        self.threads = threads
        self.device = device
        self.files = files
        self.createdAt = createdAt
    }

    private var timestamp: String { createdAt.formatted(.iso8601) }

    /// The COCO document: one image per file and one category per manifest class (ids from 1 for both), and
    /// `[x, y, w, h]` boxes in raster pixels to 1/1000, with `geo_bbox` in the raster's CRS when georeferenced.
    public func coco() -> COCODocument {
        let m = model.manifest
        var doc = COCODocument(
            info: .init(
                description: "GeoInfer detections (\(m.name) \(m.version))", version: GeoInferVersion.current, date_created: timestamp),
            categories: m.classes.enumerated().map { .init(id: $0.offset + 1, name: $0.element) })
        var annotationID = 1
        for (i, f) in files.enumerated() {
            let imageID = i + 1
            let crs = f.info.epsg.map { "EPSG:\($0)" } ?? f.info.crsWKT
            doc.images.append(
                .init(
                    id: imageID, file_name: f.info.fileName, width: f.info.width, height: f.info.height,
                    crs: f.info.isGeoreferenced ? crs : nil,
                    geotransform: f.info.isGeoreferenced ? f.info.geoTransform?.coefficients : nil,
                    gsd_m: f.info.gsdMetres, georeferenced: f.info.isGeoreferenced))
            for g in f.detections {
                let b = g.detection.box
                doc.annotations.append(
                    .init(
                        id: annotationID, image_id: imageID, category_id: g.detection.classIndex + 1,
                        bbox: [b.x1, b.y1, b.width, b.height].map(Self.round),
                        score: Self.round(Double(g.detection.score)), geo_bbox: g.crsBox))
                annotationID += 1
            }
        }
        return doc
    }

    /// Every detection as a WGS84 polygon with its class, score, file and pixel box; detections of a file
    /// without georeferencing are left out.
    public func geoJSON() -> GeoJSONFeatureCollection {
        let classes = model.manifest.classes
        var features: [GeoJSONFeatureCollection.Feature] = []
        for (i, f) in files.enumerated() {
            for g in f.detections {
                guard let corners = g.wgs84Corners else { continue }
                let b = g.detection.box
                features.append(
                    .init(
                        geometry: .init(ring: corners.map { (lon: $0.lon, lat: $0.lat) }),
                        properties: .init(
                            class: classes[g.detection.classIndex], category_id: g.detection.classIndex + 1,
                            score: Self.round(Double(g.detection.score)), source_file: f.info.fileName, image_id: i + 1,
                            pixel_bbox: [b.x1, b.y1, b.width, b.height].map(Self.round))))
            }
        }
        return GeoJSONFeatureCollection(features: features)
    }

    /// The merged layer as GeoJSON (empty without one).
    public func mergedGeoJSON() -> GeoJSONFeatureCollection {
        let classes = model.manifest.classes
        let features = (merged?.detections ?? []).map { m -> GeoJSONFeatureCollection.Feature in
            let first = m.parts[0]
            let pixel = m.parts.count == 1 ? files[first.file].detections[first.detection].detection.box : nil
            return .init(
                geometry: .init(ring: m.wgs84Corners.map { (lon: $0.lon, lat: $0.lat) }),
                properties: .init(
                    class: Self.className(classes, m.classIndex), category_id: m.classIndex + 1,
                    score: Self.round(Double(m.score)), source_file: files[first.file].info.fileName,
                    image_id: first.file + 1, pixel_bbox: pixel.map { [$0.x1, $0.y1, $0.width, $0.height].map(Self.round) },
                    source_files: m.fileNames(in: files), parts: m.parts.count))
        }
        return GeoJSONFeatureCollection(features: features)
    }

    static func className(_ classes: [String], _ index: Int) -> String {
        classes.indices.contains(index) ? classes[index] : "class_\(index)"
    }

    /// The metadata document: inputs, model, resolved parameters, totals, software versions and warnings, with
    /// the storage copies, merge summary and evaluation when set.
    public func metadata() -> RunMetadata {
        let m = model.manifest
        let perClass = files.reduce(into: [String: Int]()) { sum, f in sum.merge(f.classCounts(classes: m.classes), uniquingKeysWith: +) }
        let inputs = files.enumerated().map { i, f in
            var input = RunMetadata.Input(
                file_name: f.info.fileName, image_id: i + 1, sha256: f.sha256, size_bytes: f.sizeBytes, driver: f.info.driver,
                width: f.info.width, height: f.info.height, band_count: f.info.bandCount, data_type: f.info.dataType,
                nodata: f.info.nodata, crs_epsg: f.info.epsg, georeferenced: f.info.isGeoreferenced, gsd_m: f.info.gsdMetres,
                resample_factor: f.resampleFactor, tiles: f.tiles, detections: f.detections.count, timings_s: f.timings,
                warnings: f.warnings)
            input.bytes_read = f.bytesRead
            return input
        }
        let tiles = RunMetadata.Tiles(
            planned: files.map(\.tiles.planned).reduce(0, +), skipped: files.map(\.tiles.skipped).reduce(0, +),
            run: files.map(\.tiles.run).reduce(0, +))
        let sum = { (k: KeyPath<RunMetadata.Timings, Double>) in files.map { $0.timings[keyPath: k] }.reduce(0, +) }
        var doc = RunMetadata(
            created_at: timestamp, inputs: inputs,
            model: .init(
                name: m.name, version: m.version, sha256: model.sha256, classes: m.classes,
                input_size: [m.inputHeight, m.inputWidth], gsd_m: m.gsdMetres, output_layout: m.outputLayout.rawValue),
            parameters: .init(
                overlap: options.overlap, score_threshold: options.resolvedScore(m), iou_threshold: options.resolvedIoU(m),
                nms_metric: options.nmsMetric.rawValue, max_detections: options.maxDetections,
                batch_size: options.batchSize, threads: threads, device: device.rawValue),
            totals: .init(
                files: files.count, detections: files.map(\.detections.count).reduce(0, +), per_class: perClass, tiles: tiles,
                timings_s: .init(
                    hash: sum(\.hash), read: sum(\.read), inference: sum(\.inference), merge: sum(\.merge), total: sum(\.total))),
            software: .init(geoinfer: GeoInferVersion.current, gdal: gdalVersion, onnxruntime: ONNXRuntime.version),
            warnings: files.flatMap { f in f.warnings.map { "\(f.info.fileName): \($0)" } } + warnings)
        doc.storage = storage
        doc.merge = merged?.summary
        doc.evaluation = evaluation
        return doc
    }

    /// Writes the chosen documents into `directory` (created if needed) as `prefix` + file name,
    /// each atomically, and returns their paths. The metadata document is always written.
    public func write(to directory: URL, formats: Set<OutputFormat>, prefix: String = "") throws -> [URL] {
        try writeUnmerged(to: directory, formats: formats, prefix: prefix, meanwhile: {}).written
            + writeMerged(to: directory, formats: formats, prefix: prefix)
    }

    /// The documents that never hold the merged layer, in the order they are written.
    static let unmerged: [ResultDocument] = [.coco, .geojson]

    /// Writes the chosen documents that never hold the merged layer (COCO, the per-file GeoJSON),
    /// each on a core of its own, while `meanwhile` runs on another, and returns their paths and
    /// what `meanwhile` returned. The seam merge runs there: it need not wait for these documents,
    /// nor they for it (a large job's merge and these documents took most of the time its results
    /// took to write, one after the other). ``writeMerged(to:formats:prefix:)`` writes the rest.
    public func writeUnmerged<T: Sendable>(
        to directory: URL, formats: Set<OutputFormat>, prefix: String = "", meanwhile: @Sendable () throws -> T
    ) throws -> (written: [URL], value: T) {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let documents = ResultDocument.written(formats: formats, merged: false).filter(Self.unmerged.contains)
        let value = Mutex<T?>(nil)
        try SideBySide.run(documents.count + 1) { i in
            guard i < documents.count else {
                let got = try meanwhile()
                value.withLock { $0 = got }
                return
            }
            let url = directory.appending(path: prefix + documents[i].fileName)
            switch documents[i] {
            case .coco: try Self.encoder.encode(coco()).write(to: url, options: .atomic)
            default: try Self.encoder.encode(geoJSON()).write(to: url, options: .atomic)
            }
        }
        guard let got = value.withLock({ $0 }) else { throw CancellationError() }
        return (documents.map { directory.appending(path: prefix + $0.fileName) }, got)
    }

    /// Writes the chosen documents that ``writeUnmerged(to:formats:prefix:meanwhile:)`` does not:
    /// the merged layer's (when ``merged`` is set), the metadata (always) and the GIS formats; the
    /// JSON ones each on a core of its own. Returns their paths.
    public func writeMerged(to directory: URL, formats: Set<OutputFormat>, prefix: String = "") throws -> [URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let documents = ResultDocument.written(formats: formats, merged: merged != nil).filter { !Self.unmerged.contains($0) }
        let json = documents.filter { [.mergedGeoJSON, .metadata].contains($0) }
        try SideBySide.run(json.count) { i in
            let url = directory.appending(path: prefix + json[i].fileName)
            switch json[i] {
            case .mergedGeoJSON: try Self.encoder.encode(mergedGeoJSON()).write(to: url, options: .atomic)
            default: try Self.encoder.encode(metadata()).write(to: url, options: .atomic)
            }
        }
        var written: [URL] = []
        var built: GISLayers?
        func gisLayers() throws -> GISLayers {
            if let built { return built }
            let layers = try self.gisLayers()
            built = layers
            return layers
        }
        for document in documents {
            let url = directory.appending(path: prefix + document.fileName)
            switch document {
            case .coco, .geojson, .mergedGeoJSON, .metadata: break
            case .geoPackage:
                let layers = try gisLayers()
                try VectorWriter.write(
                    path: url.path, driver: .geoPackage, crs: layers.crs,
                    layers: [layers.merged, layers.perFile].compactMap { $0 })
            case .flatGeobuf:
                let layers = try gisLayers()
                try VectorWriter.write(path: url.path, driver: .flatGeobuf, crs: layers.crs, layers: [layers.perFile])
            case .mergedFlatGeobuf:
                let layers = try gisLayers()
                guard let mergedLayer = layers.merged else { continue }
                try VectorWriter.write(path: url.path, driver: .flatGeobuf, crs: layers.crs, layers: [mergedLayer])
            }
            written.append(url)
        }
        return written
    }

    /// The documents' JSON: sorted keys, slashes as they are.
    private static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// Pixel values to 1/1000 of a pixel: enough for any use, and stable documents.
    static func round(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }
}

/// Work spread over the cores, each index once, the caller waiting for all of it.
public enum SideBySide {
    /// Runs `body` for each of `0..<count` side by side, then throws the first error one threw.
    public static func run(_ count: Int, _ body: @Sendable (Int) throws -> Void) throws {
        let first = Mutex<(any Error)?>(nil)
        DispatchQueue.concurrentPerform(iterations: count) { i in
            do { try body(i) } catch { first.withLock { $0 = $0 ?? error } }
        }
        if let error = first.withLock({ $0 }) { throw error }
    }
}
