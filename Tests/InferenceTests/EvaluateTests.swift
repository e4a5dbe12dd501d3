import Formats
import Foundation
import GeoInferTestSupport
import GeoRaster
import Inference
import Testing

/// `geoinfer evaluate`: its AP agrees with pycocotools on real NEON labels and on random scenes
/// built to provoke ties and the per-image detection limit; every ground-truth format gives the
/// same scores, including a GeoPackage in a CRS other than the raster's.
@Suite(.serialized) struct EvaluateTests {
    static let sample = Fixtures.root.appendingPathComponent(".deps/samples/OSBS_029.tif").path
    static let labels = Fixtures.root.appendingPathComponent(".deps/samples/OSBS_029.csv").path

    static func evaluate(_ predictions: String, _ truth: String, _ extra: [String] = []) async throws -> EvaluationReport {
        let out = Fixtures.temporaryDirectory("eval").appendingPathComponent("report.json")
        let r = try await Fixtures.run(Fixtures.geoinferExecutable, ["evaluate", predictions, truth, "--json", out.path] + extra)
        guard r.status == 0 else { throw TestFailure(description: "evaluate failed: \(r.stderr)") }
        return try JSONDecoder().decode(EvaluationReport.self, from: Data(contentsOf: out))
    }

    static func pycocotools(_ predictions: String, _ truth: String, maxDets: Int = 100) async throws -> (ap: Double, ap50: Double) {
        let r = try await Fixtures.run(
            Fixtures.python,
            [
                Fixtures.root.appendingPathComponent("scripts/testing/coco_eval.py").path, predictions, truth,
                "--max-dets", "\(maxDets)",
            ])
        guard r.status == 0, let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Double],
            let ap = json["ap"], let ap50 = json["ap50"]
        else { throw TestFailure(description: "coco_eval.py failed: \(r.stderr)") }
        return (ap, ap50)
    }

    /// The default model's detections on OSBS_029, once for the suite (a task: the first test to
    /// ask starts it, the others wait for it without holding a thread).
    static let osbsRun = Task { () async throws -> String in
        let out = Fixtures.temporaryDirectory("osbs-eval").path
        let r = try await Fixtures.run(Fixtures.geoinferExecutable, ["detect", sample, "--out", out])
        guard r.status == 0 else { throw TestFailure(description: "detect failed: \(r.stderr)") }
        return out
    }
    static var osbs: String { get async throws { try await osbsRun.value } }

    @Test func apAgreesWithPycocotoolsOnNEONLabels() async throws {
        let ours = try await Self.evaluate(Self.osbs, Self.labels)
        let theirs = try await Self.pycocotools(Self.osbs + "/coco.json", Self.labels)
        #expect(
            abs((ours.pooled.ap ?? -1) - theirs.ap) < 1e-12 && abs((ours.pooled.ap50 ?? -1) - theirs.ap50) < 1e-12,
            "\(ours.pooled) vs \(theirs)")
        #expect(ours.pooled.ground_truth == 61)
        #expect(ours.per_file["OSBS_029.tif"] == ours.pooled)
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6])
    func apAgreesWithPycocotoolsOnRandomScenes(seed: UInt64) async throws {
        // Three images; whole-pixel boxes (IoUs equal to thresholds happen), scores on a coarse
        // grid (ties), and up to 180 predictions an image (past the limit of 100).
        var rng = SplitMix(seed: seed)
        let dir = Fixtures.temporaryDirectory("eval-random")
        var images: [[String: Any]] = []
        var annotations: [[String: Any]] = []
        var csv = "image_path,xmin,ymin,xmax,ymax,label\n"
        for i in 1...3 {
            let name = "scene\(i).tif"
            images.append(["id": i, "file_name": name, "width": 500, "height": 500])
            for _ in 0..<(20 + rng.index() % 100) {
                let x = Double(rng.index() % 460)
                let y = Double(rng.index() % 460)
                let w = Double(5 + rng.index() % 35)
                let h = Double(5 + rng.index() % 35)
                csv += "\(name),\(Int(x)),\(Int(y)),\(Int(x + w)),\(Int(y + h)),Tree\n"
                if rng.index() % 4 != 0 {
                    let jitter = { Double(rng.index() % 7) - 3 }
                    annotations.append([
                        "image_id": i, "category_id": 1, "bbox": [x + jitter(), y + jitter(), w + jitter(), h + jitter()],
                        "score": Double(rng.index() % 20) / 20 + 0.05,
                    ])
                }
            }
            for _ in 0..<(rng.index() % 80) {
                annotations.append([
                    "image_id": i, "category_id": 1,
                    "bbox": [
                        Double(rng.index() % 480), Double(rng.index() % 480), Double(4 + rng.index() % 20), Double(4 + rng.index() % 20),
                    ],
                    "score": Double(rng.index() % 20) / 20 + 0.05,
                ])
            }
        }
        let coco = dir.appendingPathComponent("coco.json")
        let truth = dir.appendingPathComponent("truth.csv")
        try JSONSerialization.data(withJSONObject: [
            "images": images, "annotations": annotations, "categories": [["id": 1, "name": "tree"]],
        ]).write(to: coco)
        try Data(csv.utf8).write(to: truth)
        for maxDets in [100, 1000] {
            let ours = try await Self.evaluate(coco.path, truth.path, ["--max-detections", "\(maxDets)"])
            let theirs = try await Self.pycocotools(coco.path, truth.path, maxDets: maxDets)
            #expect(
                abs((ours.pooled.ap ?? -1) - theirs.ap) < 1e-12, "seed \(seed) maxDets \(maxDets): \(ours.pooled.ap ?? -1) vs \(theirs.ap)")
            #expect(
                abs((ours.pooled.ap50 ?? -1) - theirs.ap50) < 1e-12,
                "seed \(seed) maxDets \(maxDets): \(ours.pooled.ap50 ?? -1) vs \(theirs.ap50)")
        }
    }

    @Test func everyGroundTruthFormatGivesTheSameScores() async throws {
        let dir = Fixtures.temporaryDirectory("eval-formats")
        let rows = try String(contentsOfFile: Self.labels, encoding: .utf8).split(whereSeparator: \.isNewline).dropFirst().map {
            $0.split(separator: ",")
        }
        let boxes = rows.map { r in (x1: Double(r[1])!, y1: Double(r[2])!, x2: Double(r[3])!, y2: Double(r[4])!, label: String(r[5])) }
        // COCO ground truth.
        let coco = dir.appendingPathComponent("truth_coco.json")
        let anns = boxes.enumerated().map { i, b in
            ["id": i + 1, "image_id": 7, "category_id": 3, "bbox": [b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1]] as [String: Any]
        }
        try JSONSerialization.data(withJSONObject: [
            "images": [["id": 7, "file_name": "OSBS_029.tif", "width": 400, "height": 400]],
            "annotations": anns, "categories": [["id": 3, "name": "Tree"]],
        ]).write(to: coco)
        // GeoJSON polygons in the raster's CRS, then a GeoPackage of them in WGS84.
        let gt = try #require(try Raster(path: Self.sample).info.geoTransform)
        let features = boxes.map { b -> String in
            let ring = [(b.x1, b.y1), (b.x2, b.y1), (b.x2, b.y2), (b.x1, b.y2), (b.x1, b.y1)].map { gt.apply(x: $0.0, y: $0.1) }
            return
                #"{"type": "Feature", "properties": {"label": "\#(b.label)"}, "geometry": {"type": "Polygon", "coordinates": [[\#(ring.map { "[\($0.x), \($0.y)]" }.joined(separator: ","))]]}}"#
        }
        let geojson = dir.appendingPathComponent("truth.geojson")
        try Data(
            #"{"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:32617"}}, "features": [\#(features.joined(separator: ","))]}"#
                .utf8
        ).write(to: geojson)
        let gpkg = dir.appendingPathComponent("truth_wgs84.gpkg")
        let converted = try await Fixtures.run("/usr/bin/ogr2ogr", ["-f", "GPKG", "-t_srs", "EPSG:4326", gpkg.path, geojson.path])
        try #require(converted.status == 0, "\(converted.stderr)")

        let reference = try await Self.evaluate(Self.osbs, Self.labels)
        let voc = Fixtures.root.appendingPathComponent(".deps/samples/OSBS_029.xml").path
        for truth in [voc, coco.path, geojson.path, gpkg.path] {
            let r = try await Self.evaluate(Self.osbs, truth)
            #expect(r.pooled.ground_truth == reference.pooled.ground_truth, "\(truth)")
            #expect(r.pooled.matches.map(\.true_positives) == reference.pooled.matches.map(\.true_positives), "\(truth)")
            #expect(
                abs((r.pooled.ap ?? -1) - (reference.pooled.ap ?? -2)) < 1e-6,
                "\(truth): \(r.pooled.ap ?? -1) vs \(reference.pooled.ap ?? -1)")
        }
    }

    @Test func detectWithGroundTruthKeepsTheScoresInItsMetadata() async throws {
        let out = Fixtures.temporaryDirectory("detect-gt")
        let r = try await Fixtures.run(
            Fixtures.geoinferExecutable, ["detect", Self.sample, "--out", out.path, "--ground-truth", Self.labels])
        try #require(r.status == 0, "\(r.stderr)")
        let meta = try JSONDecoder().decode(RunMetadata.self, from: Data(contentsOf: out.appendingPathComponent("metadata.json")))
        let evaluation = try #require(meta.evaluation)
        #expect(evaluation.ground_truth_file == "OSBS_029.csv")
        #expect(evaluation.pooled == (try await Self.evaluate(Self.osbs, Self.labels)).pooled)
        let missing = try await Fixtures.run(
            Fixtures.geoinferExecutable, ["detect", Self.sample, "--out", out.path, "--ground-truth", "/nonexistent.csv"])
        #expect(missing.status != 0 && missing.stderr.contains("does not exist"))
    }

    @Test func unreadableGroundTruthIsRefusedSayingWhere() async throws {
        let dir = Fixtures.temporaryDirectory("eval-bad")
        let csv = dir.appendingPathComponent("bad.csv")
        try Data("image_path,xmin,ymin,xmax,ymax,label\nOSBS_029.tif,1,2,x,4,Tree\n".utf8).write(to: csv)
        let r = try await Fixtures.run(Fixtures.geoinferExecutable, ["evaluate", Self.osbs, csv.path])
        #expect(r.status != 0 && r.stderr.contains("line 2"), "\(r.stderr)")
        let header = dir.appendingPathComponent("header.csv")
        try Data("name,a,b\n".utf8).write(to: header)
        #expect(try await Fixtures.run(Fixtures.geoinferExecutable, ["evaluate", Self.osbs, header.path]).stderr.contains("image_path"))
        let notes = dir.appendingPathComponent("notes.txt")
        try Data("nothing".utf8).write(to: notes)
        #expect(try await Fixtures.run(Fixtures.geoinferExecutable, ["evaluate", Self.osbs, notes.path]).status != 0)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
}
