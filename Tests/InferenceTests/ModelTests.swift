import Foundation
import GeoInferTestSupport
import Inference
import Testing

@Suite struct ModelTests {
    @Test func embeddedManifestIsRead() async throws {
        let model = try await Model.load(path: Fixtures.model("boxes"), options: SessionOptions(threads: 1))
        #expect(model.manifest.outputLayout == .boxesScoresLabels)
        #expect(model.manifest.classes == ["small", "large"])
        #expect(model.manifest.inputWidth == 64 && model.manifest.gsdMetres == 1)
        #expect(model.sha256.count == 64)
    }

    @Test func modelWithoutManifestIsRefused() async throws {
        let dir = Fixtures.temporaryDirectory("nomanifest")
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = dir.appendingPathComponent("bare.onnx")
        try FileManager.default.copyItem(atPath: Fixtures.model("yolo_sidecar"), toPath: copy.path)
        await #expect {
            _ = try await Model.load(path: copy.path)
        } throws: { error in
            "\(error)".contains("model manifest: none found") && "\(error)".contains("model.json")
        }
    }

    @Test func manifestThatContradictsTheModelIsRefused() async throws {
        let dir = Fixtures.temporaryDirectory("badmanifest")
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = dir.appendingPathComponent("m.onnx")
        try FileManager.default.copyItem(atPath: Fixtures.model("yolo_sidecar"), toPath: copy.path)
        var json = try String(contentsOf: Fixtures.testModels.appendingPathComponent("yolo_sidecar.json"), encoding: .utf8)
        json = json.replacingOccurrences(of: "\"input_width\": 64", with: "\"input_width\": 128")
        try json.write(to: dir.appendingPathComponent("m.json"), atomically: true, encoding: .utf8)
        await #expect {
            _ = try await Model.load(path: copy.path)
        } throws: { error in
            "\(error)".contains("`input_width` says 128")
        }
    }

    @Test func manifestValidationNamesTheField() {
        var m = ModelManifest(
            name: "m", version: "1", classes: ["a"], inputWidth: 64, inputHeight: 64, bandOrder: [1, 2, 3],
            normalization: .init(scale: 1, mean: [0, 0, 0], std: [1, 1, 1]), gsdMetres: 0.1, outputLayout: .yolo)
        #expect(throws: Never.self) { try m.validate() }
        m.normalization.std = [1, 0, 1]
        #expect { try m.validate() } throws: { "\($0)".contains("std") }
        m.normalization.std = [1, 1]
        #expect { try m.validate() } throws: { "\($0)".contains("one value per band") }
        m.normalization.std = [1, 1, 1]
        m.classes = []
        #expect { try m.validate() } throws: { "\($0)".contains("`classes`") }
    }

    @Test func missingModelFileAndBadOptions() async throws {
        await #expect { _ = try await Model.load(path: "/nonexistent/m.onnx") } throws: { "\($0)".contains("not found") }
        let model = try await Model.load(path: Fixtures.model("yolo"), options: SessionOptions(threads: 1))
        var options = DetectionOptions()
        options.overlap = 0.95
        #expect { _ = try Detector(model: model, options: options) } throws: { "\($0)".contains("--overlap") }
    }

    /// The CPU library has no CUDA provider: asking for it is a clear error, not a silent CPU run.
    @Test func cudaWithoutAGPUBuildIsAClearError() async throws {
        await #expect {
            _ = try await Model.load(path: Fixtures.model("yolo"), options: SessionOptions(threads: 1, device: .cuda))
        } throws: { error in
            "\(error)".contains("execution provider unavailable") && "\(error)".contains("--device cpu")
        }
    }
}
