import Foundation
import GeoInferTestSupport
import Testing

/// A job given ground truth: its metadata carries the same evaluation `geoinfer evaluate` makes of
/// its results; a ground truth that cannot be read is refused at submit, naming the file as sent.
@Suite struct GroundTruthJobTests {
    static let sample = Fixtures.root.appendingPathComponent(".deps/samples/OSBS_029.tif")
    static let labels = Fixtures.root.appendingPathComponent(".deps/samples/OSBS_029.csv")
    static let defaultModel = Fixtures.root.appendingPathComponent("models/tree-crowns/tree-crowns.onnx").path

    @Test func aJobScoresItsResultsAsEvaluateDoes() async throws {
        try await InProcessServer.with(model: Self.defaultModel) { server in
            var form = Multipart()
            // Uploaded under another name than the labels use: the stored name differs from it too.
            form.file("OSBS 029.tif", try Data(contentsOf: Self.sample))
            let csv = try String(contentsOf: Self.labels, encoding: .utf8).replacingOccurrences(of: "OSBS_029.tif", with: "OSBS 029.tif")
            form.file("neon labels.csv", Data(csv.utf8), field: "ground_truth")
            let accepted = try await server.upload(form)
            let id = try #require(accepted.json["job_id"] as? String, "\(accepted.text)")
            #expect(try await server.waitFinal(id)["status"] as? String == "completed")
            #expect(try await server.get("/jobs/\(id)").json["ground_truth"] as? String == "neon_labels.csv")
            let meta = try await server.get("/results/\(id)/metadata.json").json
            let evaluation = try #require(meta["evaluation"] as? [String: Any], "\(meta)")
            let pooled = try #require(evaluation["pooled"] as? [String: Any])
            #expect(pooled["ground_truth"] as? Int == 61)
            #expect(evaluation["ground_truth_file"] as? String == "neon_labels.csv")
            #expect((evaluation["per_file"] as? [String: Any])?.keys.sorted() == ["OSBS_029.tif"])

            // The same numbers as `geoinfer evaluate` on the job's results and the labels.
            let dir = Fixtures.temporaryDirectory("gt-job")
            try await server.get("/results/\(id)/coco.json").body.write(to: dir.appendingPathComponent("coco.json"))
            let renamed = dir.appendingPathComponent("labels.csv")
            try String(contentsOf: Self.labels, encoding: .utf8).write(to: renamed, atomically: true, encoding: .utf8)
            let report = dir.appendingPathComponent("report.json")
            let evaluated = try await Fixtures.run(
                Fixtures.geoinferExecutable,
                ["evaluate", dir.appendingPathComponent("coco.json").path, renamed.path, "--json", report.path])
            #expect(evaluated.status == 0, "\(evaluated.stderr)")
            let cli = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as? [String: Any])
            let cliPooled = try #require(cli["pooled"] as? [String: Any])
            for key in ["ground_truth", "predictions"] { #expect(cliPooled[key] as? Int == pooled[key] as? Int, "\(key)") }
            for key in ["ap", "ap50"] {
                let a = try #require(cliPooled[key] as? Double)
                let b = try #require(pooled[key] as? Double)
                #expect(abs(a - b) < 1e-12, "\(key): \(a) vs \(b)")
            }
        }
    }

    @Test func aGroundTruthThatCannotBeReadIsRefusedAtSubmit() async throws {
        try await InProcessServer.with { server in
            let raster = try Scenes.raster(markers: [Marker(x: 40, y: 30, width: 12, height: 8)])
            let cases: [(name: String, data: Data, status: Int, code: String)] = [
                ("labels.exe", Data("x".utf8), 422, "invalid_ground_truth"),
                ("labels.csv", Data("image_path,xmin\nbad".utf8), 422, "invalid_ground_truth"),
                ("labels.xml", Data("<annotation><object>".utf8), 422, "invalid_ground_truth"),
                ("labels.geojson", Data("{\"type\": \"nonsense\"".utf8), 422, "invalid_ground_truth"),
            ]
            for c in cases {
                var form = Multipart()
                form.file("scene.tif", raster)
                form.file(c.name, c.data, field: "ground_truth")
                let refused = try await server.upload(form)
                #expect(refused.status == c.status && refused.errorCode == c.code, "\(c.name): \(refused.text)")
                // The message names the file as sent, never a path on the server.
                #expect(!refused.text.contains(server.dataDir.path) && !refused.text.contains("/tmp/"), "\(c.name): \(refused.text)")
            }
            var twice = Multipart()
            twice.file("scene.tif", raster)
            twice.file("a.csv", try Data(contentsOf: Self.labels), field: "ground_truth")
            twice.file("b.csv", try Data(contentsOf: Self.labels), field: "ground_truth")
            let refused = try await server.upload(twice)
            #expect(refused.status == 400 && refused.errorCode == "too_many_ground_truths", "\(refused.text)")
            // Nothing was accepted.
            let jobs = try await server.get("/jobs").json["jobs"] as? [Any]
            #expect(jobs?.isEmpty ?? true, "\(String(describing: jobs))")
            #expect(try server.files(in: "uploads").isEmpty)
        }
    }
}
