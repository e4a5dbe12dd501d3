import Formats
import Foundation
import GeoInferTestSupport
import GeoRaster
import Inference
import Testing

/// The written documents: COCO that pycocotools loads and evaluates, RFC 7946 GeoJSON whose
/// corners agree with GDAL, and a metadata document with hashes and counts.
@Suite struct ReportTests {
    let dir = Fixtures.temporaryDirectory("report")

    func writeScenes() throws -> (utm: String, wgs84: String, plain: String) {
        var utm = SyntheticRaster(width: 300, height: 200)
        utm.markers = DetectorTests.markers
        let utmPath = dir.appendingPathComponent("utm.tif").path
        try utm.write(to: utmPath)

        var geo = SyntheticRaster(width: 200, height: 150)
        geo.epsg = 4326
        geo.origin = (-81.0, 0.001)
        geo.pixelSize = 1.0 / 111_320  // ≈ 1 m at the equator: no resampling
        geo.markers = [Marker(x: 20, y: 30, width: 10, height: 8)]
        let geoPath = dir.appendingPathComponent("wgs84.tif").path
        try geo.write(to: geoPath)

        var plain = SyntheticRaster(width: 100, height: 80)
        plain.epsg = nil
        plain.driver = "PNG"
        plain.creationOptions = []
        plain.markers = [Marker(x: 50, y: 40, width: 12, height: 12)]
        let plainPath = dir.appendingPathComponent("photo.tif").path  // a PNG named .tif
        try plain.write(to: plainPath)
        return (utmPath, geoPath, plainPath)
    }

    func report() async throws -> (DetectionReport, [URL]) {
        let scenes = try writeScenes()
        let detector = try await Run.detector("yolo")
        var files: [FileResult] = []
        for p in [scenes.utm, scenes.wgs84, scenes.plain] { files.append(try await detector.detect(path: p)) }
        let report = DetectionReport(model: detector.model.file, options: detector.options, threads: 1, device: .cpu, files: files)
        let urls = try report.write(to: dir.appendingPathComponent("out"), formats: [.coco, .geojson])
        return (report, urls)
    }

    /// The documents written in two parts, the unmerged ones while the seam merge runs and then
    /// the rest, are those written in one go after the merge, byte for byte; an error of the work
    /// run meanwhile is the write's error.
    @Test func writingWhileTheMergeRunsWritesTheSameDocuments() async throws {
        let (report, _) = try await report()
        let formats: Set<OutputFormat> = [.coco, .geojson, .gpkg]
        let files = report.files
        let merge: @Sendable () -> MergedLayer? = { MergedLayer.merge(files: files, metric: .iou, threshold: 0.5) }
        var first = report
        first.merged = merge()
        #expect(first.merged != nil, "the scenes hold georeferenced files: there is a merged layer to write")
        let together = try first.write(to: dir.appendingPathComponent("together"), formats: formats)
        let (unmerged, merged) = try report.writeUnmerged(to: dir.appendingPathComponent("split"), formats: formats, meanwhile: merge)
        var second = report
        second.merged = merged
        let split = try unmerged + second.writeMerged(to: dir.appendingPathComponent("split"), formats: formats)
        #expect(split.map(\.lastPathComponent) == together.map(\.lastPathComponent))
        #expect(
            Set(split.map(\.lastPathComponent)).isSuperset(of: [
                "coco.json", "detections.geojson", "detections_merged.geojson", "metadata.json",
            ]))
        for (a, b) in zip(together, split) where a.pathExtension != "gpkg" {
            #expect(try Data(contentsOf: a) == Data(contentsOf: b), "\(a.lastPathComponent) differs")
        }
        struct Refused: Error {}
        #expect(throws: Refused.self) {
            _ = try report.writeUnmerged(
                to: dir.appendingPathComponent("refused"), formats: formats, meanwhile: { () throws -> Int in throw Refused() })
        }
    }

    @Test func cocoLoadsAndEvaluatesInPycocotools() async throws {
        let (report, urls) = try await report()
        #expect(urls.map(\.lastPathComponent) == ["coco.json", "detections.geojson", "metadata.json"])
        let coco = report.coco()
        #expect(coco.images.map(\.id) == [1, 2, 3])
        #expect(coco.categories.map(\.name) == ["small", "large"] && coco.categories.map(\.id) == [1, 2])
        #expect(coco.annotations.count == DetectorTests.markers.count + 2)
        #expect(Set(coco.annotations.map(\.id)).count == coco.annotations.count)
        // The detections are exact, so scoring them as results against themselves as ground truth
        // must give AP 1.0: pycocotools reads every field the way GeoInfer means it.
        let check = try await Fixtures.python(
            """
            import json, sys
            from pycocotools.coco import COCO
            from pycocotools.cocoeval import COCOeval
            gt = COCO(sys.argv[1])
            dets = gt.loadRes(json.load(open(sys.argv[1]))["annotations"])
            e = COCOeval(gt, dets, "bbox"); e.evaluate(); e.accumulate(); e.summarize()
            print("RESULT", len(gt.getImgIds()), len(gt.getAnnIds()), round(e.stats[0], 6), round(e.stats[1], 6))
            """, [urls[0].path])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("RESULT 3 \(coco.annotations.count) 1.0 1.0"), "\(check.stdout)")
    }

    @Test func cocoCarriesGeoreferencing() async throws {
        let (report, _) = try await report()
        let coco = report.coco()
        let utm = coco.images[0]
        #expect(utm.crs == "EPSG:32617" && utm.georeferenced && utm.gsd_m == 1)
        #expect(utm.geotransform == [500_000, 1, 0, 3_300_000, 0, -1])
        for a in coco.annotations where a.image_id == 1 {
            let g = try #require(a.geo_bbox)
            // x grows east, y grows down in pixels and north in UTM.
            #expect(g == [500_000 + a.bbox[0], 3_300_000 - a.bbox[1] - a.bbox[3], 500_000 + a.bbox[0] + a.bbox[2], 3_300_000 - a.bbox[1]])
            #expect(a.area == a.bbox[2] * a.bbox[3] && a.iscrowd == 0)
            #expect(a.segmentation[0].count == 8)
        }
        let plain = coco.images[2]
        #expect(!plain.georeferenced && plain.crs == nil && plain.geotransform == nil)
        #expect(coco.annotations.filter { $0.image_id == 3 }.allSatisfy { $0.geo_bbox == nil })
        #expect(coco.annotations.contains { $0.image_id == 3 && $0.bbox == [44.5, 34.5, 12, 12] })
    }

    @Test func geoJSONIsRFC7946AndAgreesWithGDAL() async throws {
        let (report, urls) = try await report()
        let fc = report.geoJSON()
        // Features only for georeferenced rasters.
        #expect(fc.features.count == DetectorTests.markers.count + 1)
        #expect(Set(fc.features.map(\.properties.source_file)) == ["utm.tif", "wgs84.tif"])
        for f in fc.features {
            let ring = f.geometry.coordinates[0]
            #expect(ring.count == 5 && ring.first == ring.last)
            var twiceArea = 0.0
            for i in 0..<4 { twiceArea += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1] }
            #expect(twiceArea > 0, "exterior ring must be counter-clockwise")
        }
        // The EPSG:4326 raster: corners are the geotransform itself.
        let geo = try #require(fc.features.first { $0.properties.source_file == "wgs84.tif" })
        let px = 1.0 / 111_320
        let lons = geo.geometry.coordinates[0].map { $0[0] }
        let lats = geo.geometry.coordinates[0].map { $0[1] }
        #expect(abs(lons.min()! - (-81.0 + 15.5 * px)) < 1e-12 && abs(lons.max()! - (-81.0 + 25.5 * px)) < 1e-12)
        #expect(abs(lats.max()! - (0.001 - 26.5 * px)) < 1e-12 && abs(lats.min()! - (0.001 - 34.5 * px)) < 1e-12)

        // The UTM raster: every corner agrees with gdaltransform of the same pixel.
        let utmPath = dir.appendingPathComponent("utm.tif").path
        let utmFeatures = fc.features.filter { $0.properties.source_file == "utm.tif" }
        var pixels: [(Double, Double)] = []
        for f in utmFeatures {
            let b = try #require(f.properties.pixel_bbox)
            pixels += [(b[0], b[1]), (b[0] + b[2], b[1]), (b[0] + b[2], b[1] + b[3]), (b[0], b[1] + b[3])]
        }
        let theirs = try await Fixtures.gdalTransformToWGS84(raster: utmPath, pixels: pixels)
        #expect(theirs.count == utmFeatures.count * 4)
        for (i, f) in utmFeatures.enumerated() {
            let ours = Set(f.geometry.coordinates[0].dropLast().map { [($0[0] * 1e9).rounded(), ($0[1] * 1e9).rounded()] })
            let gdalCorners = Set(theirs[(i * 4)..<(i * 4 + 4)].map { [($0[0] * 1e9).rounded(), ($0[1] * 1e9).rounded()] })
            #expect(ours == gdalCorners)
        }
        // And the file on disk is the same document.
        let decoded = try JSONDecoder().decode(GeoJSONFeatureCollection.self, from: Data(contentsOf: urls[1]))
        #expect(decoded == fc)
    }

    @Test func metadataAuditsInputsModelAndTiles() async throws {
        let (report, urls) = try await report()
        let meta = try JSONDecoder().decode(RunMetadata.self, from: Data(contentsOf: urls[2]))
        #expect(meta == report.metadata())
        let sha = try await Fixtures.run("/usr/bin/sha256sum", [dir.appendingPathComponent("utm.tif").path]).stdout.prefix(64)
        #expect(meta.inputs[0].sha256 == String(sha))
        #expect(meta.model.sha256 == String(try await Fixtures.run("/usr/bin/sha256sum", [Fixtures.model("yolo")]).stdout.prefix(64)))
        #expect(meta.model.name == "test-markers" && meta.model.output_layout == "yolo")
        #expect(meta.inputs[0].tiles.planned == 24)
        #expect(meta.totals.detections == DetectorTests.markers.count + 2)
        #expect(meta.totals.per_class.values.reduce(0, +) == meta.totals.detections)
        #expect(meta.totals.tiles.planned == meta.inputs.map(\.tiles.planned).reduce(0, +))
        #expect(meta.inputs[2].georeferenced == false)
        #expect(meta.warnings.contains { $0.hasPrefix("photo.tif: no georeferencing") })
        #expect(meta.software.gdal.hasPrefix("3.") && meta.software.onnxruntime == "1.32.0")
        #expect(meta.parameters.score_threshold == 0.25 && meta.parameters.overlap == 0.2)
    }
}
