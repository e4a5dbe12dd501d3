import ArgumentParser
import Formats
import Foundation
import Inference

/// `geoinfer evaluate PREDICTIONS GROUND_TRUTH`: precision, recall and F1 at IoU 0.4 and 0.5, and
/// COCO AP and AP50 as pycocotools computes them, per file, per class and pooled.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract:
            "Score a GeoInfer result against ground truth: precision, recall, F1 (IoU 0.4 and 0.5), COCO AP and AP50, per file, class and pooled.",
        discussion: """
            PREDICTIONS is a GeoInfer result folder (or its coco.json). GROUND_TRUTH is DeepForest's CSV \
            (image_path,xmin,ymin,xmax,ymax,label), Pascal VOC XML (a file or a folder), COCO JSON, or a \
            vector file (GeoJSON, GeoPackage, Shapefile, FlatGeobuf) of boxes or polygons in any CRS, \
            reprojected to each georeferenced image. Images are matched by file name.
            """)

    @Argument(help: "A GeoInfer result folder or its coco.json.") var predictions: String
    @Argument(help: "Ground truth: CSV, VOC XML (file or folder), COCO JSON, or a vector file.") var groundTruth: String
    @Option(help: "Write the full report as JSON to this file.") var json: String?
    @Option(name: .customLong("max-detections"), help: "Detections per image counted by AP (pycocotools' maxDets; default 100).")
    var maxDetections = 100

    func run() throws {
        guard (1...10_000_000).contains(maxDetections) else { throw ValidationError("--max-detections must be 1 to 10000000") }
        let report: EvaluationReport
        do {
            let images = try EvaluationInputs.predictions(predictions)
            let truth = try EvaluationInputs.groundTruth(groundTruth, for: images)
            let known = Set(images.map(\.name))
            let unmatched = truth.keys.filter { !known.contains($0) }.sorted()
            if !unmatched.isEmpty {
                FileHandle.standardError.write(
                    Data(
                        "note: ground truth for \(unmatched.count) images not in the predictions is ignored: \(unmatched.prefix(5).joined(separator: ", "))\n"
                            .utf8))
            }
            report = Evaluator.evaluate(
                images.map { EvalImage(name: $0.name, groundTruth: truth[$0.name] ?? [], predictions: $0.predictions) },
                maxDetections: maxDetections)
        } catch {
            throw ValidationError(error.description)
        }
        print(Self.table(report))
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json), options: .atomic)
        }
    }

    static func table(_ r: EvaluationReport) -> String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.3f", $0) } ?? "–" }
        func row(_ name: String, _ s: EvalScores) -> String {
            let m = s.matches
            let cells =
                [name, "\(s.ground_truth)", "\(s.predictions)"] + m.flatMap { [f($0.precision), f($0.recall), f($0.f1)] } + [
                    f(s.ap50), f(s.ap),
                ]
            return cells.joined(separator: "\t")
        }
        let header =
            ["", "truth", "predicted"] + Evaluator.matchThresholds.flatMap { t in ["P@\(t)", "R@\(t)", "F1@\(t)"] } + ["AP50", "AP"]
        var lines = [header.joined(separator: "\t"), row("pooled", r.pooled)]
        lines += r.per_class.sorted { $0.key < $1.key }.map { row("class \($0.key)", $0.value) }
        lines += r.per_file.sorted { $0.key < $1.key }.map { row($0.key, $0.value) }
        if r.class_agnostic { lines.append("(one class on each side: compared whatever their names)") }
        return lines.joined(separator: "\n")
    }
}
