import Foundation
import GeoInferTestSupport
import Testing

/// `geoinfer submit`, `status`, `watch` and `results` against a real server.
@Suite(.serialized) struct ClientTests {
    @Test func submitWaitStatusResults() async throws {
        let server = try await ServerProcess()
        defer { server.stop() }
        let dir = Fixtures.temporaryDirectory("client")
        let inputs = dir.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: inputs.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try Scenes.raster().write(to: inputs.appendingPathComponent("one.tif"))
        try Scenes.raster(markers: [Marker(x: 70, y: 50, width: 10, height: 10)]).write(to: inputs.appendingPathComponent("sub/two.TIFF"))
        try Data("ignored".utf8).write(to: inputs.appendingPathComponent("notes.txt"))
        let exe = Fixtures.geoinferExecutable

        let submit = try await Fixtures.run(
            exe, ["submit", inputs.path, "--server", server.base, "--wait", "--webhook", "https://203.0.113.10/h"])
        #expect(submit.status == 0, "\(submit.stderr)")
        let id = submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.count == 36)
        #expect(submit.stderr.contains("completed: 2/2 files, 0 failed"), "\(submit.stderr)")

        let status = try await Fixtures.run(exe, ["status", id], environment: ["GEOINFER_SERVER": server.base])
        #expect(status.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        #expect(json?["status"] as? String == "completed")
        #expect((json?["files"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["one.tif", "two.TIFF"])

        let watch = try await Fixtures.run(exe, ["watch", id, "--server", server.base])
        #expect(watch.status == 0 && watch.stderr.contains("completed"))

        let out = dir.appendingPathComponent("out")
        let results = try await Fixtures.run(exe, ["results", id, "--server", server.base, "--out", out.path])
        #expect(results.status == 0, "\(results.stderr)")
        let coco = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("\(id)_coco.json"))) as? [String: Any]
        #expect((coco?["annotations"] as? [Any])?.count == 2)

        // Errors say what to do.
        let bad = try await Fixtures.run(exe, ["status", "nope", "--server", server.base])
        #expect(bad.status != 0 && bad.stderr.contains("not_found"))
        let down = try await Fixtures.run(exe, ["status", id, "--server", "http://127.0.0.1:\(try ServerProcess.freePort())"])
        #expect(down.status != 0 && down.stderr.contains("is `geoinfer serve` running there?"))
        let empty = try await Fixtures.run(
            exe, ["submit", dir.appendingPathComponent("in/sub").path + "/../../nothing", "--server", server.base])
        #expect(empty.status != 0)
    }

    @Test func submitReportsRejectedFiles() async throws {
        let server = try await ServerProcess()
        defer { server.stop() }
        let dir = Fixtures.temporaryDirectory("client-bad")
        try Data().write(to: dir.appendingPathComponent("empty.tif"))
        let r = try await Fixtures.run(Fixtures.geoinferExecutable, ["submit", dir.path, "--server", server.base])
        #expect(r.status != 0)
        #expect(r.stderr.contains("invalid_files") && r.stderr.contains("empty.tif"), "\(r.stderr)")
    }
}
