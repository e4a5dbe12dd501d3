import Foundation
import GeoInferTestSupport
import Jobs
import Testing

/// Models registered with `geoinfer models add` and chosen per job, on one server.
@Suite struct ModelRegistryTests {
    func sha256(_ path: String) async throws -> String {
        String(try await Fixtures.run("/usr/bin/sha256sum", [path]).stdout.prefix(64))
    }

    func models(_ arguments: [String], dataDir: URL) async throws -> Fixtures.ProcessResult {
        try await Fixtures.run(
            Fixtures.geoinferExecutable, ["models"] + arguments + ["--data-dir", dataDir.path], environment: ["GEOINFER_ENV_FILE": ""])
    }

    @Test func twoRegisteredModelsEachRunTheirOwnJobsOnOneServer() async throws {
        let server = try await ServerProcess()
        defer { server.stop() }
        // Registered while the server runs: no restart needed.
        let v2 = Fixtures.model("markers_v2")
        let named = Fixtures.model("boxes_named")
        for path in [v2, named] {
            let added = try await models(["add", path], dataDir: server.dataDir)
            #expect(added.status == 0 && added.stdout.contains("registered"), "\(added.stderr)")
        }
        // Again: nothing changes.
        let again = try await models(["add", v2], dataDir: server.dataDir)
        #expect(again.status == 0 && again.stdout.contains("already registered"), "\(again.stderr)")
        #expect(
            FileManager.default.contentsEqual(
                atPath: server.dataDir.appendingPathComponent("models/test-markers/2.0.0/model.onnx").path, andPath: v2))

        let listed = try #require(try await server.get("/models").json["models"] as? [[String: Any]])
        #expect(listed.map { $0["reference"] as? String } == ["test-markers@1.0.0", "test-boxes@1.0.0", "test-markers@2.0.0"])
        #expect(listed.map { $0["default"] as? Bool } == [true, false, false])
        let digests = [try await sha256(server.model), try await sha256(named), try await sha256(v2)]
        #expect(listed.map { $0["sha256"] as? String } == digests)
        #expect(listed[2]["gsd_m"] as? Double == 0.5)
        let versions = try await server.get("/models/test-markers").json["versions"] as? [[String: Any]]
        #expect(versions?.map { $0["version"] as? String } == ["1.0.0", "2.0.0"])
        #expect(try await server.get("/models/nope").status == 404)
        #expect(try await server.get("/models/..%2F..%2Fetc").status == 404)

        // Three jobs over the same raster: the name alone (its highest version), name@version, none (the default).
        let raster = try Scenes.raster(markers: [Marker(x: 40, y: 30, width: 12, height: 8)])
        var ids: [String: String] = [:]
        for choice in ["test-markers", "test-boxes@1.0.0", ""] {
            var form = Multipart()
            form.file("scene.tif", raster)
            if !choice.isEmpty { form.field("model", choice) }
            let accepted = try await server.upload(form)
            #expect(accepted.status == 202, "\(accepted.text)")
            ids[choice] = try #require(accepted.json["job_id"] as? String)
        }
        let expected: [String: (name: String, version: String, path: String)] = [
            "test-markers": ("test-markers", "2.0.0", v2), "test-boxes@1.0.0": ("test-boxes", "1.0.0", named),
            "": ("test-markers", "1.0.0", server.model),
        ]
        var tiles: [String: Int] = [:]
        for (choice, id) in ids {
            let want = try #require(expected[choice])
            let final = try await server.waitFinal(id)
            #expect(final["status"] as? String == "completed", "\(choice): \(final)")
            let detail = try await server.get("/jobs/\(id)").json
            #expect(detail["model"] as? String == want.name && detail["model_version"] as? String == want.version, "\(choice)")
            #expect(detail["model_sha256"] as? String == (try await sha256(want.path)), "\(choice)")
            tiles[choice] = detail["tiles_total"] as? Int
            let meta = try await server.get("/results/\(id)/metadata.json").json
            let model = try #require(meta["model"] as? [String: Any])
            #expect(model["name"] as? String == want.name && model["version"] as? String == want.version, "\(choice)")
            #expect(model["sha256"] as? String == (try await sha256(want.path)), "\(choice)")
        }
        // The tile plan follows the chosen model's resolution (0.5 m against 1 m: four times the tiles).
        #expect(tiles["test-markers"] == 4 * (tiles[""] ?? 0) && (tiles[""] ?? 0) > 0, "\(tiles)")

        // Names nobody registered, and hostile ones, are refused at submit.
        for bad in ["nope", "test-markers@9.9.9", "../../etc/passwd", "a@b@c", String(repeating: "x", count: 500)] {
            var form = Multipart()
            form.file("scene.tif", raster)
            form.field("model", bad)
            let refused = try await server.upload(form)
            #expect(refused.status == 422 && refused.text.contains("unknown_model"), "\(bad.prefix(20)): \(refused.text)")
        }

        // A finished job no longer holds its model: it can go, and is no longer offered.
        let removed = try await models(["remove", "test-boxes@1.0.0"], dataDir: server.dataDir)
        #expect(removed.status == 0, "\(removed.stderr)")
        let after = try #require(try await server.get("/models").json["models"] as? [[String: Any]])
        #expect(after.map { $0["reference"] as? String } == ["test-markers@1.0.0", "test-markers@2.0.0"])
        #expect(
            !FileManager.default.fileExists(
                atPath: server.dataDir.appendingPathComponent("models/test-boxes").appendingPathComponent("1.0.0").path))
        let listing = try await models(["list"], dataDir: server.dataDir)
        #expect(listing.status == 0 && listing.stdout.contains("test-markers@2.0.0"), "\(listing.stderr)")
    }

    @Test func aModelWhoseFileIsGoneFailsItsFilesAndTheJobStillEnds() async throws {
        let server = try await ServerProcess()
        defer { server.stop() }
        #expect(try await models(["add", Fixtures.model("boxes_named")], dataDir: server.dataDir).status == 0)
        // The file disappears from the only machine (no mirror bucket to fetch it from).
        try FileManager.default.removeItem(at: server.dataDir.appendingPathComponent("models/test-boxes/1.0.0/model.onnx"))
        var form = Multipart()
        form.file("scene.tif", try Scenes.raster(markers: [Marker(x: 40, y: 30, width: 12, height: 8)]))
        form.field("model", "test-boxes")
        let accepted = try await server.upload(form)
        let id = try #require(accepted.json["job_id"] as? String, "\(accepted.text)")
        #expect(try await server.waitFinal(id)["status"] as? String == "failed")
        let file = (try await server.get("/jobs/\(id)").json["files"] as? [[String: Any]])?.first
        #expect(file?["attempts"] as? Int == 1, "not worth another attempt: \(String(describing: file))")
        #expect(
            (file?["error"] as? String)?.contains("model test-boxes@1.0.0 is not on this machine") == true, "\(String(describing: file))")
        // Its documents name the model it was submitted with.
        let model = try await server.get("/results/\(id)/metadata.json").json["model"] as? [String: Any]
        #expect(model?["name"] as? String == "test-boxes", "\(String(describing: model))")
    }

    @Test func anotherFileUnderARegisteredVersionIsRefused() async throws {
        let dir = Fixtures.temporaryDirectory("registry")
        #expect(try await models(["add", Fixtures.model("markers_v2")], dataDir: dir).status == 0)
        // Same name and version (test-markers@2.0.0), other bytes.
        let other = dir.appendingPathComponent("other.onnx")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: Fixtures.model("markers_v2")))
        bytes.append(contentsOf: [0xA0, 0x01, 0x00])  // a field ONNX does not use (20, varint 0) at the end
        try bytes.write(to: other)
        let refused = try await models(["add", other.path], dataDir: dir)
        #expect(
            refused.status != 0 && refused.stderr.contains("already registered with another file"), "\(refused.stdout) \(refused.stderr)")
        let removeWithoutVersion = try await models(["remove", "test-markers"], dataDir: dir)
        #expect(removeWithoutVersion.status != 0 && removeWithoutVersion.stderr.contains("NAME@VERSION"))
    }
}

@Suite struct ModelReferenceTests {
    @Test func namesAndVersionsAreSafeAsFolderAndObjectNames() throws {
        #expect(try ModelReference(parsing: "palms") == ModelReference(name: "palms", version: nil))
        #expect(try ModelReference(parsing: "palms@1.2.0-rc1") == ModelReference(name: "palms", version: "1.2.0-rc1"))
        for bad in ["", "@1", "palms@", "../x", "a/b", ".hidden", "a@b@c", "x\u{0}y", "é", String(repeating: "a", count: 65), "-x"] {
            #expect(throws: ModelReference.Invalid.self, "\(bad.debugDescription)") { try ModelReference(parsing: bad) }
        }
        // Random text never traps, and whatever parses is made of the allowed characters only.
        var rng = SplitMix(seed: 7)
        let alphabet = Array("aZ9._-@/\\ \u{0}é%")
        for _ in 0..<2000 {
            let text = String((0..<Int(rng.next() % 12)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
            if let parsed = try? ModelReference(parsing: text) {
                #expect(ModelReference.isValidPart(parsed.name) && parsed.version.map(ModelReference.isValidPart) ?? true)
                #expect(parsed.description == text)
            }
        }
    }

    @Test func versionsOrderNumericallyThenAsText() {
        let sorted = ["1.10", "1.9", "1.9.1", "2", "1.0-rc1", "1.0", "10"].sorted(by: VersionOrder.less)
        #expect(sorted == ["1.0", "1.0-rc1", "1.9", "1.9.1", "1.10", "2", "10"])
        #expect(!VersionOrder.less("1.0", "1.0"))
    }
}
