import Foundation
import GeoInferTestSupport
import Logging
import NIOHTTP1
import Server
import Testing

/// Every bad upload gets a clear JSON error and leaves nothing behind: no job, no stored file.
@Suite(.serialized) struct BadInputTests {
    func expectNothingLeft(_ server: some HTTPService) async throws {
        #expect((try await server.get("/jobs").json["jobs"] as? [Any])?.isEmpty == true)
        #expect(try server.files(in: "uploads").isEmpty)
        #expect(try server.files(in: "temp").isEmpty)
    }

    @Test func malformedRequests() async throws {
        try await InProcessServer.with { server in
            let good = try Scenes.raster()

            let json = try await server.request(.POST, "/upload", headers: [("Content-Type", "application/json")], body: Data("{}".utf8))
            #expect(json.status == 415 && json.errorCode == "unsupported_media_type")
            let noBoundary = try await server.request(
                .POST, "/upload", headers: [("Content-Type", "multipart/form-data")], body: Data("x".utf8))
            #expect(noBoundary.status == 400 && noBoundary.errorCode == "missing_boundary")

            var form = Multipart()
            form.file("a.tif", good)
            let cut = form.body(closed: false).prefix(form.body.count / 2)
            let truncated = try await server.request(.POST, "/upload", headers: [("Content-Type", form.contentType)], body: Data(cut))
            #expect(truncated.status == 400 && truncated.errorCode == "truncated_body", "\(truncated.text)")

            var noFiles = Multipart()
            noFiles.field("webhook_url", "https://203.0.113.10/h")
            #expect(try await server.upload(noFiles).errorCode == "no_files")

            var unknown = Multipart()
            unknown.file("a.tif", good)
            unknown.field("colour", "blue")
            let u = try await server.upload(unknown)
            #expect(u.status == 400 && u.errorCode == "unknown_field")
            try await expectNothingLeft(server)
        }
    }

    @Test func badFilesAreNamedAndNothingIsAccepted() async throws {
        try await InProcessServer.with { server in
            var form = Multipart()
            form.file("good.tif", try Scenes.raster())
            form.file("empty.tif", Data())
            form.file("notes.tif", Data("just some text".utf8))
            let png: Data = try {
                let dir = Fixtures.temporaryDirectory("png")
                var r = SyntheticRaster(width: 20, height: 20)
                r.driver = "PNG"
                r.creationOptions = []
                r.epsg = nil
                try r.write(to: dir.appendingPathComponent("p.png").path)
                return try Data(contentsOf: dir.appendingPathComponent("p.png"))
            }()
            form.file("photo.tif", png)
            let reply = try await server.upload(form)
            #expect(reply.status == 400 && reply.errorCode == "invalid_files", "\(reply.text)")
            let problems = ((reply.json["error"] as? [String: Any])?["files"] as? [[String: String]]) ?? []
            #expect(problems.map { $0["name"] } == ["empty.tif", "notes.tif", "photo.tif"])
            #expect(problems[0]["error"]?.contains("0 bytes") == true)
            #expect(problems[1]["error"]?.contains("not a raster") == true)
            #expect(problems[2]["error"]?.contains("not a GeoTIFF") == true)
            #expect(reply.errorMessage.contains("nothing was accepted"))
            #expect(!reply.text.contains(server.dataDir.path), "errors must not reveal server paths")
            try await expectNothingLeft(server)
        }
    }

    @Test func hostileAndDuplicateNamesAreSanitised() async throws {
        try await InProcessServer.with { server in
            let good = try Scenes.raster()
            var form = Multipart()
            // A NUL in a name is refused before anything is stored (400): PostgreSQL could not keep it.
            var nul = Multipart()
            nul.file("nul\u{0}byte.tif", good)
            let refused = try await server.upload(nul)
            #expect(refused.status == 400 && refused.errorCode == "control_characters", "\(refused.text)")
            for name in ["../../etc/passwd.tif", "/abs/path/x.tif", "nul_byte.tif", "ＦＵＬＬ wide é.tif", "x.tif", "X.TIF", "..hidden.tif"] {
                form.file(name, good)
            }
            let reply = try await server.upload(form)
            #expect(reply.status == 202, "\(reply.text)")
            let id = try #require(reply.json["job_id"] as? String)
            let files = try #require(try await server.get("/jobs/\(id)").json["files"] as? [[String: Any]])
            let names = files.compactMap { $0["name"] as? String }
            #expect(names.count == 7 && Set(names.map { $0.lowercased() }).count == 7)
            #expect(names[0] == "passwd.tif" && names[1] == "x.tif" && names[5] != names[4])
            for n in names { #expect(!n.contains("/") && !n.contains("\u{0}") && !n.hasPrefix(".") && !n.isEmpty) }
            // The originals are kept for the audit.
            #expect(files[0]["original_name"] as? String == "../../etc/passwd.tif")
            // Everything stayed inside uploads/.
            #expect(try server.files(in: "uploads").count == 7)
            #expect(!FileManager.default.fileExists(atPath: server.dataDir.appendingPathComponent("etc").path))
            _ = try await server.waitFinal(id)
        }
    }

    @Test func invalidSettingsAndUnknownJobs() async throws {
        try await InProcessServer.with { server in
            let good = try Scenes.raster()
            for (field, value, code) in [
                ("webhook_url", "ftp://example.com/x", "invalid_webhook_url"),
                ("webhook_url", "not a url", "invalid_webhook_url"),
                ("score_threshold", "2", "invalid_score_threshold"),
                ("overlap", "abc", "invalid_overlap"),
                ("model", "other-model", "unknown_model"),
            ] {
                var form = Multipart()
                form.file("a.tif", good)
                form.field(field, value)
                let r = try await server.upload(form)
                #expect(r.status == 422 && r.errorCode == code, "\(field)=\(value): \(r.text)")
            }
            var form = Multipart()
            form.file("a.tif", good)
            #expect(try await server.upload(form, query: "?webhook_url=javascript:alert(1)").status == 422)
            for path in ["/status/nope", "/jobs/nope", "/jobs/nope/events", "/results/nope/coco.json"] {
                let r = try await server.get(path)
                #expect(r.status == 404 && r.errorCode == "not_found", "\(path)")
            }
            #expect(try await server.request(.DELETE, "/jobs/nope").status == 404)
            try await expectNothingLeft(server)
        }
    }

    @Test func limitsAnswer413() async throws {
        let good = try Scenes.raster()
        let settings: (inout ServerConfiguration) throws -> Void = {
            $0.limits.filesPerRequest = 2
            $0.limits.bytesPerFile = Int64(good.count + 10)
        }
        try await InProcessServer.with(configure: settings) { server in
            var many = Multipart()
            for i in 0..<3 { many.file("f\(i).tif", good) }
            let r1 = try await server.upload(many)
            #expect(r1.status == 413 && r1.errorCode == "too_many_files")
            var big = Multipart()
            big.file("big.tif", try Scenes.raster(width: 400, height: 400))
            let r2 = try await server.upload(big)
            #expect(r2.status == 413 && r2.errorCode == "file_too_large")
            try await expectNothingLeft(server)
        }
    }

    /// A client that disconnects mid-upload leaves nothing behind.
    @Test func clientDisconnectMidUpload() async throws {
        try await InProcessServer.with(logLevel: .info) { server in
            var form = Multipart()
            form.file("a.tif", try Scenes.raster(width: 1000, height: 1000))
            let body = form.body
            let script = """
                import socket, sys
                s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                head = "POST /upload HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: %s\\r\\nContent-Length: %d\\r\\n\\r\\n" % (sys.argv[2], int(sys.argv[3]))
                s.sendall(head.encode())
                s.sendall(open(sys.argv[4], "rb").read())
                s.close()
                """
            let partial = Fixtures.temporaryDirectory("partial").appendingPathComponent("body.bin")
            try body.prefix(body.count / 3).write(to: partial)
            let r = try await Fixtures.python(script, ["\(server.port)", form.contentType, "\(body.count)", partial.path])
            #expect(r.status == 0, "\(r.stderr)")
            // The request's log line is written once its handler, clean-up included, has finished.
            try await server.waitLog(#""path":"/upload""#)
            try await expectNothingLeft(server)
            // And the server still serves.
            #expect(try await server.get("/jobs").status == 200)
        }
    }

    /// Partial uploads left by a crash are removed at the next start.
    @Test func staleUploadsAreCleanedAtStart() async throws {
        let data = Fixtures.temporaryDirectory("stale")
        let stale = data.appendingPathComponent("temp/upload-crashed")
        try FileManager.default.createDirectory(at: stale, withIntermediateDirectories: true)
        try Data(repeating: 1, count: 1000).write(to: stale.appendingPathComponent("half.tif"))
        // A bucket copy of a worker that is gone, and one of a process still running (this one): only the first goes.
        let gone = data.appendingPathComponent("temp/input-\(Int32.max)-job_a.tif")
        let live = data.appendingPathComponent("temp/upload-\(ProcessInfo.processInfo.processIdentifier)-inflight")
        try Data(repeating: 2, count: 10).write(to: gone)
        try FileManager.default.createDirectory(at: live, withIntermediateDirectories: true)
        // An upload moved into place an hour ago whose job was never committed, and a fresh one (its commit may be on its way).
        try FileManager.default.createDirectory(at: data.appendingPathComponent("uploads"), withIntermediateDirectories: true)
        let orphan = data.appendingPathComponent("uploads/3f2a3c1e-0000-4000-8000-000000000001_a.tif")
        let fresh = data.appendingPathComponent("uploads/3f2a3c1e-0000-4000-8000-000000000002_a.tif")
        try Data(repeating: 3, count: 10).write(to: orphan)
        try Data(repeating: 3, count: 10).write(to: fresh)
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-3600)], ofItemAtPath: orphan.path)
        // Pictures of a job that does not exist (drawn just after its streamed upload was discarded).
        let pictures = data.appendingPathComponent("results/3f2a3c1e-0000-4000-8000-000000000003")
        try FileManager.default.createDirectory(at: pictures.appendingPathComponent("quicklooks"), withIntermediateDirectories: true)
        try Data(repeating: 4, count: 10).write(to: pictures.appendingPathComponent("quicklooks/a.tif.jpg"))
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-3600)], ofItemAtPath: pictures.path)
        try await InProcessServer.with(dataDir: data) { server in
            // The sweep runs beside the store's service, so it may finish just after the server answers.
            let deadline = ContinuousClock.now + .seconds(30)
            while [stale, gone, orphan, pictures].contains(where: { FileManager.default.fileExists(atPath: $0.path) }),
                ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(!FileManager.default.fileExists(atPath: stale.path), "the crashed upload's folder was still there after 30 s")
            #expect(!FileManager.default.fileExists(atPath: gone.path), "the gone worker's bucket copy was still there after 30 s")
            #expect(FileManager.default.fileExists(atPath: live.path))
            #expect(!FileManager.default.fileExists(atPath: orphan.path), "the uncommitted upload was still there after 30 s")
            #expect(!FileManager.default.fileExists(atPath: pictures.path), "the gone job's pictures were still there after 30 s")
            #expect(FileManager.default.fileExists(atPath: fresh.path))
            try FileManager.default.removeItem(at: live)
            try FileManager.default.removeItem(at: fresh)
            try await expectNothingLeft(server)
        }
    }

    /// Requests that once stopped the whole server: names whose extension is longer than the name
    /// cap, and small GeoTIFFs whose pixel size makes the resampled raster absurd. Each answers a
    /// JSON 4xx (or the file is accepted under a safe name), the server stays up, nothing is left.
    @Test func hostileNamesAndPixelSizesNeverStopTheServer() async throws {
        try await InProcessServer.with { server in
            let good = try Scenes.raster()
            var named = Multipart()
            named.file("x." + String(repeating: "b", count: 130), good)
            named.file("x." + String(repeating: "b", count: 119), good)
            let accepted = try await server.upload(named)
            #expect(accepted.status == 202, "\(accepted.text)")
            let id = try #require(accepted.json["job_id"] as? String)
            _ = try await server.waitFinal(id)
            let files = try #require(try await server.get("/jobs/\(id)").json["files"] as? [[String: Any]])
            for f in files {
                let name = try #require(f["name"] as? String)
                #expect(name.count <= 120 && !name.hasPrefix("."), "\(name)")
                // The links the job document gives answer.
                if let link = f["quicklook"] as? String, let path = URL(string: link)?.path {
                    #expect(try await server.get(path).status == 200, "\(link)")
                }
            }
            for path in [
                "/results/\(id)/quicklooks/x.\(String(repeating: "b", count: 130)).jpg",
                "/results/\(id)/quicklooks/\(String(repeating: ".", count: 200))",
                "/results/\(id)/quicklooks/%00.jpg",
            ] {
                let r = try await server.get(path)
                #expect((400..<500).contains(r.status) && r.errorCode != nil, "\(path.prefix(60)): \(r.status) \(r.text)")
            }
            for pixel in [1e4, 1e30] {
                var form = Multipart()
                var raster = SyntheticRaster(width: 64, height: 64)
                raster.pixelSize = pixel
                let dir = Fixtures.temporaryDirectory("absurd")
                try raster.write(to: dir.appendingPathComponent("a.tif").path)
                form.file("absurd.tif", try Data(contentsOf: dir.appendingPathComponent("a.tif")))
                let r = try await server.upload(form)
                #expect(r.status == 400 && r.errorCode == "invalid_files", "\(pixel): \(r.text)")
                #expect(r.errorMessage.contains("absurd.tif"), "\(r.text)")
            }
            #expect(server.isRunning)
            #expect(try await server.get("/jobs").status == 200)
            #expect(try server.files(in: "temp").isEmpty)
        }
    }
}
