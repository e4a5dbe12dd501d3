import Foundation
import GeoInferTestSupport
import GeoRaster
import Inference
import Testing

/// The default tree-crown model on the real NEON sample, checked against Python's onnxruntime with
/// the reference pre- and post-processing in training/geoinfer_ref.py.
@Suite struct DefaultModelTests {
    static let modelPath = Fixtures.root.appendingPathComponent("models/tree-crowns/tree-crowns.onnx").path
    static let sample = Fixtures.root.appendingPathComponent(".deps/samples/OSBS_029.tif").path

    @Test func defaultModelIsFoundAndDescribed() async throws {
        #expect(Model.defaultPath().map { URL(fileURLWithPath: $0).standardizedFileURL.path } == Self.modelPath)
        let model = try await Model.load(path: Self.modelPath, options: SessionOptions(threads: 1))
        #expect(model.manifest.name == "tree-crowns")
        #expect(model.manifest.classes == ["tree"])
        #expect(model.manifest.gsdMetres == 0.1)
        #expect(model.manifest.inputWidth == 512 && model.manifest.inputHeight == 512)
    }

    @Test func osbsMatchesPythonOnnxRuntime() async throws {
        let model = try await Model.load(path: Self.modelPath, options: SessionOptions(threads: 2))
        let result = try await Detector(model: model, options: DetectionOptions()).detect(path: Self.sample)
        #expect(result.info.epsg == 32617 && abs(result.info.gsdMetres! - 0.1) < 1e-9)
        #expect(result.resampleFactor == 1)

        // Python: GDAL dumps the pixels (band-interleaved), numpy + onnxruntime + geoinfer_ref detect.
        let dir = Fixtures.temporaryDirectory("osbs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let raw = dir.appendingPathComponent("osbs.bip").path
        let dump = try await Fixtures.run("/usr/bin/gdal_translate", ["-q", "-of", "ENVI", "-co", "INTERLEAVE=BIP", Self.sample, raw])
        #expect(dump.status == 0, "\(dump.stderr)")
        let reference = try await Fixtures.python(
            """
            import json, sys
            sys.path.insert(0, sys.argv[1])
            import numpy as np, onnxruntime as ort
            import geoinfer_ref
            so = ort.SessionOptions(); so.intra_op_num_threads = 2
            s = ort.InferenceSession(sys.argv[2], so, providers=["CPUExecutionProvider"])
            img = np.fromfile(sys.argv[3], np.uint8).reshape(\(result.info.height), \(result.info.width), 3)
            print(json.dumps([list(d) for d in geoinfer_ref.detect(s, img)]))
            """, [Fixtures.root.appendingPathComponent("training").path, Self.modelPath, raw])
        #expect(reference.status == 0, "\(reference.stderr)")
        let theirs = try JSONDecoder().decode([[Double]].self, from: Data(reference.stdout.utf8))
            .sorted { $0[4] > $1[4] }
        let ours = result.detections.map(\.detection).sorted { $0.score > $1.score }
        #expect(ours.count == theirs.count)
        #expect(ours.count >= 10, "the model should find trees in OSBS_029 (61 labelled crowns)")
        // Same boxes within 1 px: match each of ours to the nearest reference box.
        var unmatched = theirs
        for d in ours {
            let b = d.box
            let distance = { (t: [Double]) in max(abs(t[0] - b.x1), abs(t[1] - b.y1), abs(t[2] - b.x2), abs(t[3] - b.y2)) }
            guard let best = unmatched.indices.min(by: { distance(unmatched[$0]) < distance(unmatched[$1]) }) else { break }
            #expect(distance(unmatched[best]) <= 1.0, "box \(b) has no reference within 1 px")
            #expect(abs(unmatched[best][4] - Double(d.score)) < 1e-3)
            unmatched.remove(at: best)
        }
    }
}
