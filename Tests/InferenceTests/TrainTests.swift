import Foundation
import GeoInferTestSupport
import Testing

/// `geoinfer train` for a few iterations on a small labelled NEON raster (the full fine-tune is a
/// benchmark): PyTorch in its own environment, the loss falls, the model it writes runs in the engine.
@Suite(.serialized) struct TrainTests {
    static let sample = Fixtures.root.appendingPathComponent(".deps/samples/OSBS_029.tif").path
    static let voc = Fixtures.root.appendingPathComponent(".deps/samples/OSBS_029.xml").path

    @Test func aFewIterationsLowerTheLossAndTheModelRunsInTheEngine() async throws {
        let out = Fixtures.temporaryDirectory("train")
        let trained = try await Fixtures.run(
            Fixtures.geoinferExecutable,
            [
                "train", Self.sample, "--labels", Self.voc, "--out", out.path, "--iters", "30", "--eval-every", "10", "--name",
                "crowns-osbs",
                "--version", "0.1.0",
            ])
        #expect(trained.status == 0, "\(trained.stdout.suffix(2000))\n\(trained.stderr.suffix(3000))")
        // The loss, from the training log: the last iterations well below the first ones.
        let log = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("training.json"))) as? [String: Any])
        let losses = try #require(log["loss"] as? [[String: Any]]).compactMap { $0["loss"] as? Double }
        #expect(losses.count >= 20, "\(losses)")
        let first = losses.prefix(5).reduce(0, +) / 5
        let last = losses.suffix(5).reduce(0, +) / 5
        #expect(last < 0.85 * first, "loss \(first) → \(last)")
        // Its manifest names it as asked, with the labels' class in the starting model's spelling.
        let info = try await Fixtures.run(Fixtures.geoinferExecutable, ["model-info", out.appendingPathComponent("model.onnx").path])
        #expect(info.status == 0 && info.stdout.contains("crowns-osbs") && info.stdout.contains("0.1.0"), "\(info.stdout) \(info.stderr)")
        #expect(info.stdout.contains("\"tree\""), "\(info.stdout)")
        // The engine runs it, and it finds crowns.
        let detected = out.appendingPathComponent("detected")
        let run = try await Fixtures.run(
            Fixtures.geoinferExecutable,
            ["detect", Self.sample, "--model", out.appendingPathComponent("model.onnx").path, "--out", detected.path, "--threads", "1"])
        #expect(run.status == 0, "\(run.stderr)")
        let coco = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: detected.appendingPathComponent("coco.json"))) as? [String: Any])
        #expect((coco["annotations"] as? [Any])?.isEmpty == false)
        // Its scores against the validation strip, before and after, and a model card naming them.
        for name in ["evaluation.json", "evaluation_before.json", "MODEL_CARD.md", "model.json"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), "\(name)")
        }
        let card = try String(contentsOf: out.appendingPathComponent("MODEL_CARD.md"), encoding: .utf8)
        #expect(card.contains("| starting model |") && card.contains("| this model |") && card.contains("Fine-tuned from tree-crowns"))
    }

    @Test func labelsThatNameNoRasterAndBadSettingsAreRefusedWithoutTraining() async throws {
        let out = Fixtures.temporaryDirectory("train-bad")
        let csv = out.appendingPathComponent("labels.csv")
        try "image_path,xmin,ymin,xmax,ymax,label\nother.tif,1,1,20,20,tree\n".write(to: csv, atomically: true, encoding: .utf8)
        let unmatched = try await Fixtures.run(
            Fixtures.geoinferExecutable, ["train", Self.sample, "--labels", csv.path, "--out", out.path, "--iters", "5"])
        #expect(unmatched.status != 0 && unmatched.stderr.contains("the labels name none of the rasters"), "\(unmatched.stderr)")
        for bad in [["--iters", "0"], ["--val-fraction", "2"], ["--version", "../x"], ["--device", "tpu"], ["--gsd", "nan"]] {
            let refused = try await Fixtures.run(
                Fixtures.geoinferExecutable, ["train", Self.sample, "--labels", Self.voc, "--out", out.path] + bad)
            #expect(refused.status != 0 && refused.stderr.contains("must"), "\(bad): \(refused.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("model.onnx").path))
    }
}
