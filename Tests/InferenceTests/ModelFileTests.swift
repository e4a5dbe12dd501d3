import Foundation
import GeoInferTestSupport
import Testing

@testable import Inference

/// What a model's file says without ONNX Runtime: the manifest read from the protobuf agrees with
/// what ONNX Runtime itself reads, and no file, however broken, makes the reader trap.
@Suite struct ModelFileTests {
    @Test(arguments: ["yolo", "yolo_clip", "boxes", "yolo_sidecar", "bench"])
    func manifestAgreesWithONNXRuntime(name: String) async throws {
        let path = Fixtures.model(name)
        let file = try ModelFile.read(path: path)
        let session = try ONNXSession(path: path, options: SessionOptions(threads: 1))
        // ONNX Runtime's own reading of metadata_props, where the model embeds its manifest.
        if let embedded = session.embeddedManifest {
            #expect(file.manifest == (try JSONDecoder().decode(ModelManifest.self, from: Data(embedded.utf8))))
            #expect(try ONNXMetadata.value(forKey: "geoinfer.manifest", inModelAt: path) == embedded)
        } else {
            #expect(
                try ONNXMetadata.value(forKey: "geoinfer.manifest", inModelAt: path) == nil,
                "\(name) has a sidecar, not an embedded manifest")
        }
        let model = try await Model.load(path: path, options: SessionOptions(threads: 1))
        #expect(model.file == file)
    }

    @Test func theDefaultModelToo() async throws {
        let path = try #require(Model.defaultPath())
        let file = try ModelFile.read(path: path)
        let session = try ONNXSession(path: path, options: SessionOptions(threads: 1))
        #expect(try ONNXMetadata.value(forKey: "geoinfer.manifest", inModelAt: path) == session.embeddedManifest)
        #expect(file.manifest.name == "tree-crowns" && file.sha256.count == 64)
    }

    /// Truncated models, random bytes and bytes that are not a model: an error or no manifest,
    /// never a trap, and never a read past the end.
    @Test func brokenFilesAreErrorsNeverTraps() throws {
        let dir = Fixtures.temporaryDirectory("modelfile")
        defer { try? FileManager.default.removeItem(at: dir) }
        let real = try Data(contentsOf: URL(fileURLWithPath: Fixtures.model("yolo")))
        var rng = SplitMix(seed: 0x0_0CC5)
        var cases: [Data] = [
            Data(), Data([0x72]), Data([0x72, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            Data([0x0B]), Data(repeating: 0xFF, count: 40), Data("not a model".utf8),
        ]
        for cut in [1, 2, 10, real.count / 3, real.count / 2, real.count - 1] { cases.append(real.prefix(cut)) }
        for _ in 0..<300 { cases.append(Data((0..<(rng.index() % 200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })) }
        // A real model with bytes flipped at random places.
        for _ in 0..<100 {
            var d = real
            for _ in 0..<3 { d[rng.index() % d.count] = UInt8(truncatingIfNeeded: rng.next()) }
            cases.append(d)
        }
        let path = dir.appendingPathComponent("m.onnx").path
        var refused = 0
        for data in cases {
            try data.write(to: URL(fileURLWithPath: path))
            do { _ = try ONNXMetadata.value(forKey: "geoinfer.manifest", inModelAt: path) } catch { refused += 1 }
            // Typed throws: whatever goes wrong is an InferenceError with a reason.
            do { _ = try ModelFile.read(path: path) } catch { #expect(!error.reason.isEmpty) }
        }
        #expect(refused > 0)
        #expect(throws: InferenceError.self) { try ModelFile.read(path: dir.appendingPathComponent("absent.onnx").path) }
    }
}
