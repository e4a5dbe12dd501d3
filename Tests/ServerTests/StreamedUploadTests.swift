import AsyncHTTPClient
import Foundation
import GeoInferTestSupport
import JobStoreSQLite
import Jobs
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Server
import Testing

/// `POST /upload` makes its job while the files still arrive, when the request has no
/// Idempotency-Key and its settings come first: workers run the first files before the body has
/// ended, the job never ends before its upload has, and an upload that fails later leaves nothing,
/// as one that failed at once would. Each test holds the body back at a point it chooses (the
/// client feeds it in stages), so nothing depends on how fast the machine is.
@Suite struct StreamedUploadTests {
    /// A request whose body the test feeds piece by piece (chunked), and its reply once it ends.
    struct StagedUpload {
        let reply: Task<Reply, any Error>
        let feed: AsyncStream<ByteBuffer>.Continuation

        init(_ server: some HTTPService, _ form: Multipart, path: String = "/upload") {
            let (stream, feed) = AsyncStream<ByteBuffer>.makeStream()
            var request = HTTPClientRequest(url: server.base + path)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: form.contentType)
            request.body = .stream(stream, length: .unknown)
            reply = Task {
                let response = try await testClient.execute(request, timeout: .seconds(120))
                let bytes = try await response.body.collect(upTo: 1 << 20)
                return Reply(status: Int(response.status.code), headers: [], body: Data(buffer: bytes))
            }
            self.feed = feed
        }

        func send(_ data: Data) { feed.yield(ByteBuffer(bytes: data)) }

        /// Ends the body and waits for the reply.
        func end() async throws -> Reply {
            feed.finish()
            return try await value(of: reply, within: .seconds(120), "the upload's reply")
        }
    }

    /// The body of `form` up to the point where its first `parts` parts have ended: the opening
    /// of the next part's delimiter, which is what tells the server a part is complete.
    static func through(_ form: Multipart, parts: Int) -> Data {
        var first = form
        first.parts = Array(form.parts.prefix(parts))
        return first.body(closed: false) + Data("--\(form.boundary)\r\n".utf8)
    }

    /// The only job listed, once one is, and its detail.
    static func streamedJob(_ server: some HTTPService, _ what: String, until: @escaping @Sendable ([String: Any]) -> Bool)
        async throws -> [String: Any]
    {
        let base = server.base
        let found = try await eventually(within: .seconds(60), pause: .milliseconds(50), what) { () -> String in
            let jobs = try await InProcessServer.request(.GET, base + "/jobs").json["jobs"] as? [[String: Any]] ?? []
            guard jobs.count == 1, let id = jobs[0]["job_id"] as? String else { throw TestFailure("jobs listed: \(jobs.count)") }
            let detail = try await InProcessServer.request(.GET, base + "/jobs/\(id)")
            guard until(detail.json) else { throw TestFailure("the job is \(detail.text.prefix(2000))") }
            return detail.text
        }
        return (try? JSONSerialization.jsonObject(with: Data(found.utf8)) as? [String: Any]) ?? [:]
    }

    static func fileStatuses(_ job: [String: Any]) -> [String] {
        (job["files"] as? [[String: Any]] ?? []).map { $0["status"] as? String ?? "?" }
    }

    func expectNothingLeft(_ server: some HTTPService) async throws {
        #expect((try await server.get("/jobs").json["jobs"] as? [Any])?.isEmpty == true)
        #expect(try server.files(in: "uploads").isEmpty)
        #expect(try server.files(in: "temp").isEmpty)
        #expect(try server.files(in: "results").isEmpty)
    }

    func form(files: Int, scoreThreshold: String? = "0.3") throws -> Multipart {
        var form = Multipart()
        if let scoreThreshold { form.field("score_threshold", scoreThreshold) }
        let raster = try Scenes.raster()
        for i in 0..<files { form.file("tile_\(i).tif", raster) }
        return form
    }

    @Test func theFirstFilesRunWhileTheRestArriveAndTheJobEndsOnlyAfterItsUpload() async throws {
        try await InProcessServer.with { server in
            var form = try form(files: 3)
            // Settings used only at the end may come last: the job that streamed takes them.
            form.field("formats", "coco")
            let upload = StagedUpload(server, form)
            defer { upload.feed.finish() }
            upload.send(Self.through(form, parts: 3))  // the field and two files
            // The first file joins the job and runs; the second waits for the third or the end.
            let early = try await Self.streamedJob(server, "the first file to succeed before the upload ends") {
                ($0["receiving"] as? Bool) == true && Self.fileStatuses($0) == ["succeeded"]
            }
            #expect(early["status"] as? String == "running", "a receiving job with all its files done must not end: \(early)")
            #expect(early["score_threshold"] as? Double == 0.3)
            upload.send(form.body.suffix(from: Self.through(form, parts: 3).count))
            let reply = try await upload.end()
            #expect(reply.status == 200 || reply.status == 202, "\(reply.text)")
            let id = try #require(reply.json["job_id"] as? String)
            #expect(id == early["job_id"] as? String, "the reply names the job that streamed")
            #expect(reply.json["total_files"] as? Int == 3)
            let final = try await server.waitFinal(id)
            #expect(final["status"] as? String == "completed", "\(final)")
            let detail = try await server.get("/jobs/\(id)").json
            #expect(detail["receiving"] as? Bool == false)
            #expect(detail["formats"] as? [String] == ["coco"])
            #expect(try await server.get("/results/\(id)/coco.json").status == 200)
            #expect(try await server.get("/results/\(id)/detections.geojson").status == 404)
            #expect(Self.fileStatuses(detail) == ["succeeded", "succeeded", "succeeded"])
            #expect(
                (detail["files"] as? [[String: Any]] ?? []).map { $0["name"] as? String } == ["tile_0.tif", "tile_1.tif", "tile_2.tif"])
        }
    }

    @Test func anUploadCutOffAfterItsFirstFilesRanLeavesNothing() async throws {
        try await InProcessServer.with { server in
            let form = try form(files: 3)
            let upload = StagedUpload(server, form)
            upload.send(Self.through(form, parts: 3))
            _ = try await Self.streamedJob(server, "the first file to succeed before the upload ends") {
                Self.fileStatuses($0) == ["succeeded"]
            }
            // The body ends without its closing boundary.
            let reply = try await upload.end()
            #expect(reply.status == 400 && reply.errorCode == "truncated_body", "\(reply.text)")
            try await expectNothingLeft(server)
        }
    }

    @Test func aFileGDALRefusesAfterTheJobStartedLeavesNothing() async throws {
        try await InProcessServer.with { server in
            var form = try form(files: 2)
            form.file("notes.tif", Data("not a raster".utf8))
            form.file("tile_3.tif", try Scenes.raster())
            let upload = StagedUpload(server, form)
            upload.send(Self.through(form, parts: 3))
            _ = try await Self.streamedJob(server, "the first file to succeed before the upload ends") {
                Self.fileStatuses($0) == ["succeeded"]
            }
            upload.send(form.body.suffix(from: Self.through(form, parts: 3).count))
            let reply = try await upload.end()
            #expect(reply.status == 400 && reply.errorCode == "invalid_files", "\(reply.text)")
            #expect(reply.errorMessage.contains("notes.tif") && reply.errorMessage.contains("nothing was accepted"), "\(reply.text)")
            try await expectNothingLeft(server)
        }
    }

    @Test func aSettingSentAfterTheFirstFilesStillAppliesToTheWholeJob() async throws {
        try await InProcessServer.with { server in
            var form = try form(files: 2, scoreThreshold: nil)
            form.field("score_threshold", "0.9")
            form.file("tile_2.tif", try Scenes.raster())
            let upload = StagedUpload(server, form)
            upload.send(Self.through(form, parts: 2))
            let early = try await Self.streamedJob(server, "the first file to succeed before the setting arrives") {
                Self.fileStatuses($0) == ["succeeded"]
            }
            upload.send(form.body.suffix(from: Self.through(form, parts: 2).count))
            let reply = try await upload.end()
            #expect(reply.status == 200 || reply.status == 202, "\(reply.text)")
            let id = try #require(reply.json["job_id"] as? String)
            #expect(id != early["job_id"] as? String, "the job that streamed with other settings is not the one kept")
            #expect(try await server.get("/jobs/\(try #require(early["job_id"] as? String))").status == 404)
            _ = try await server.waitFinal(id)
            let detail = try await server.get("/jobs/\(id)").json
            #expect(detail["score_threshold"] as? Double == 0.9)
            #expect(Self.fileStatuses(detail) == ["succeeded", "succeeded", "succeeded"])
            #expect((try await server.get("/jobs").json["jobs"] as? [Any])?.count == 1)
            #expect(try server.files(in: "uploads").filter { !$0.hasPrefix(id) }.isEmpty)
        }
    }

    @Test func aJobWhoseReceivingProcessIsGoneIsDiscardedAtTheNextStart() async throws {
        let data = Fixtures.temporaryDirectory("receiving")
        let layout = try DataLayout(root: data)
        do {
            let store = try SQLiteJobStore(path: layout.databasePath)
            // A process that is gone; this process before a restart that gave it the same id (a
            // container's PID 1: another token); and this process (the token it has).
            let me = ProcessInfo.processInfo.processIdentifier
            for (id, pid, token) in [("gone", Int32.max, "a"), ("restarted", me, "before"), ("live", me, ReceivingUpload.processToken)] {
                var create = JobCreate(
                    id: id, createdAt: Date(), webhookURL: nil, idempotencyKey: nil, scoreThreshold: nil, overlap: nil, modelName: "m",
                    files: [
                        .init(
                            originalName: "a.tif", name: "a.tif", storedPath: "uploads/\(id)_a.tif", sizeBytes: 3, sha256: "", tilesTotal: 1
                        )
                    ])
                create.receiving = ReceivingUpload.owner(instance: layout.instance, processID: pid, token: token)
                _ = try await store.jobCreate(create)
                try Data("abc".utf8).write(to: layout.url("uploads/\(id)_a.tif"))
            }
        }
        let configure: (inout ServerConfiguration) throws -> Void = { $0.jobsInMemory = false }
        try await InProcessServer.with(dataDir: data, configure: configure) { server in
            let base = server.base
            _ = try await eventually(within: .seconds(30), "the cut-off uploads' jobs to be discarded") {
                for id in ["gone", "restarted"] {
                    let status = try await InProcessServer.request(.GET, base + "/jobs/\(id)").status
                    guard status == 404 else { throw TestFailure("GET /jobs/\(id): \(status)") }
                }
            }
            #expect(!FileManager.default.fileExists(atPath: layout.url("uploads/gone_a.tif").path))
            #expect(!FileManager.default.fileExists(atPath: layout.url("uploads/restarted_a.tif").path))
            // The upload of a process still running (this one) is not touched.
            #expect(try await server.get("/jobs/live").status == 200)
            #expect(FileManager.default.fileExists(atPath: layout.url("uploads/live_a.tif").path))
        }
    }
}
