import Foundation
import GeoRaster

/// The detections as GIS layers: `detections` (every file's, as found) and `detections_merged`
/// (one box per object across files), polygons in one CRS with score, class, file, job and model
/// as attributes.
struct GISLayers {
    /// The layers' CRS (`EPSG:n` or WKT); nil when no file is georeferenced (the layers are then empty).
    var crs: String?
    var perFile: VectorLayer
    var merged: VectorLayer?
}

extension DetectionReport {
    /// The fields of both layers, in order; the merged layer adds `parts` and `files`.
    static let layerFields: [(name: String, kind: VectorValue)] = [
        ("score", .real(0)), ("class", .text("")), ("category_id", .integer(0)), ("file", .text("")), ("image_id", .integer(0)),
        ("job", .text("")), ("model", .text("")),
    ]

    /// Builds both layers in `outCRS`, else the merged layer's CRS, else most files' CRS. A file
    /// whose CRS cannot be converted to the layers' is left out of them.
    func gisLayers() throws -> GISLayers {
        let classes = model.manifest.classes
        let modelName = "\(model.manifest.name)@\(model.manifest.version)"
        let crs = outCRS ?? merged?.crs ?? MergedLayer.commonCRS(files)
        var converters: [String: CoordinateTransformer] = [:]
        /// Points from `source` CRS into the layers' CRS.
        func convert(_ points: [(Double, Double)], from source: String) throws -> [(x: Double, y: Double)] {
            guard let crs, source != crs else { return points.map { (x: $0.0, y: $0.1) } }
            let converter = try converters[source] ?? CoordinateTransformer(from: source, to: crs)
            converters[source] = converter
            return try converter.apply(points)
        }
        func attributes(score: Float, classIndex: Int, file: Int) -> [String: VectorValue] {
            var a: [String: VectorValue] = [
                "score": .real(Self.round(Double(score))), "class": .text(Self.className(classes, classIndex)),
                "category_id": .integer(classIndex + 1), "file": .text(files[file].info.fileName), "image_id": .integer(file + 1),
                "model": .text(modelName),
            ]
            if let jobID { a["job"] = .text(jobID) }
            return a
        }
        var perFile: [VectorFeature] = []
        if crs != nil {
            for (i, f) in files.enumerated() {
                guard let source = MergedLayer.crsKey(f.info), let gt = f.info.geoTransform, !f.detections.isEmpty else { continue }
                let corners = gt.corners(of: f.detections.map(\.detection.box))
                guard let placed = try? convert(corners, from: source) else { continue }
                for (d, g) in f.detections.enumerated() {
                    perFile.append(
                        VectorFeature(
                            ring: Array(placed[(d * 4)..<(d * 4 + 4)]),
                            attributes: attributes(score: g.detection.score, classIndex: g.detection.classIndex, file: i)))
                }
            }
        }
        var mergedFeatures: [VectorFeature]?
        if let merged {
            var features: [VectorFeature] = []
            let corners = merged.detections.flatMap { m -> [(Double, Double)] in
                let b = m.crsBox
                return [(b[0], b[3]), (b[2], b[3]), (b[2], b[1]), (b[0], b[1])]
            }
            if let placed = try? convert(corners, from: merged.crs) {
                for (k, m) in merged.detections.enumerated() {
                    var a = attributes(score: m.score, classIndex: m.classIndex, file: m.parts[0].file)
                    a["parts"] = .integer(m.parts.count)
                    a["files"] = .text(m.fileNames(in: files).joined(separator: ","))
                    features.append(VectorFeature(ring: Array(placed[(k * 4)..<(k * 4 + 4)]), attributes: a))
                }
            }
            mergedFeatures = features
        }
        return GISLayers(
            crs: crs, perFile: VectorLayer(name: "detections", fields: Self.layerFields, features: perFile),
            merged: mergedFeatures.map {
                VectorLayer(
                    name: "detections_merged", fields: Self.layerFields + [("parts", .integer(0)), ("files", .text(""))], features: $0)
            })
    }
}
