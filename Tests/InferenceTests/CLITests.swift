import Formats
import Foundation
import GeoInferTestSupport
import Testing

/// `geoinfer detect` as a user runs it: good and bad files together, errors that say what to do.
@Suite struct CLITests {
    let dir = Fixtures.temporaryDirectory("cli")

    @Test func badFilesAreReportedAndGoodOnesStillProcessed() async throws {
        let good = dir.appendingPathComponent("good.tif").path
        var r = SyntheticRaster(width: 120, height: 90)
        r.markers = [Marker(x: 30, y: 30, width: 10, height: 10)]
        try r.write(to: good)
        let empty = dir.appendingPathComponent("empty.tif").path
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        let text = dir.appendingPathComponent("notes.tif").path
        try "not a raster".write(toFile: text, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out").path

        let result = try await Fixtures.run(
            Fixtures.geoinferExecutable,
            ["detect", empty, good, text, "--model", Fixtures.model("yolo"), "--out", out, "--threads", "1"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("empty.tif: not a raster GDAL can read"))
        #expect(result.stderr.contains("notes.tif: not a raster GDAL can read"))
        #expect(result.stderr.contains("2 of 3 files failed"))
        #expect(result.stderr.contains("good.tif: 1 detections"))
        let coco = try JSONDecoder().decode(COCODocument.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/coco.json")))
        #expect(coco.images.map(\.file_name) == ["good.tif"])
        #expect(coco.annotations.map(\.bbox) == [[25.5, 25.5, 10, 10]])
        // Not on a terminal: plain progress lines, no carriage returns.
        #expect(result.stderr.contains("good.tif: 2/2 tiles") || result.stderr.contains("tiles"))
        #expect(!result.stderr.contains("\r"))
    }

    @Test func filesRunSideBySideKeepTheirOrder() async throws {
        // Eight files of different sizes on three workers: they finish out of order, the
        // documents list them in the order given, with the same detections as one worker gives.
        var paths: [String] = []
        for i in 0..<8 {
            let path = dir.appendingPathComponent("f\(i).tif").path
            var r = SyntheticRaster(width: 64 + (7 - i) * 40, height: 90)
            r.markers = [Marker(x: 20 + i, y: 30, width: 10, height: 10)]
            try r.write(to: path)
            paths.append(path)
        }
        var documents: [COCODocument] = []
        for workers in ["3", "1"] {
            let out = dir.appendingPathComponent("out-\(workers)").path
            let result = try await Fixtures.run(
                Fixtures.geoinferExecutable,
                ["detect"] + paths + ["--model", Fixtures.model("yolo"), "--out", out, "--workers", workers])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains("\(workers) workers × "), "\(result.stderr)")
            documents.append(try JSONDecoder().decode(COCODocument.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/coco.json"))))
        }
        #expect(documents[0].images.map(\.file_name) == (0..<8).map { "f\($0).tif" })
        #expect(documents[0].annotations.map(\.bbox) == documents[1].annotations.map(\.bbox))
        #expect(documents[0].annotations.map(\.image_id) == Array(1...8))
        let refused = try await Fixtures.run(
            Fixtures.geoinferExecutable, ["detect", paths[0], "--workers", "0", "--model", Fixtures.model("yolo")])
        #expect(refused.status != 0 && refused.stderr.contains("--workers must be 1 to 256"))
    }

    @Test func invalidOptionsAreRefusedBeforeAnyWork() async throws {
        let cases: [([String], String)] = [
            (["--formats", "coco,shapefile"], "--formats must be a comma-separated list of coco, geojson, gpkg, fgb"),
            (["--out-crs", "EPSG:0"], "--out-crs must be EPSG:n"),
            (["--nms", "soft"], "--nms must be iou or ios"),
            (["--overlap", "0.95"], "--overlap must be between 0 and 0.9"),
            (["--device", "tpu"], "--device must be cpu or cuda"),
            (["--model", "/nonexistent/model.onnx"], "not found or not readable"),
        ]
        for (args, message) in cases {
            let result = try await Fixtures.run(
                Fixtures.geoinferExecutable,
                ["detect", "x.tif", "--model", Fixtures.model("yolo")] + args + ["--out", dir.path])
            #expect(result.status != 0, "\(args)")
            #expect(result.stderr.contains(message), "\(args): \(result.stderr)")
        }
    }

    @Test func missingDefaultModelSaysHowToFixIt() async throws {
        let result = try await Fixtures.run(
            Fixtures.geoinferExecutable, ["detect", "x.tif"],
            environment: ["GEOINFER_MODEL": dir.appendingPathComponent("none.onnx").path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("none.onnx") && result.stderr.contains("not found"))
    }
}
