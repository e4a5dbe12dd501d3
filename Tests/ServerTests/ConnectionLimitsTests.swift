import AsyncHTTPClient
import Foundation
import GeoInferTestSupport
import NIOCore
import NIOHTTP1
import Testing

/// What one caller can hold open: a stalled upload is closed after the idle timeout and gives its
/// slot back; event streams are capped.
@Suite(.serialized) struct ConnectionLimitsTests {
    func auth(_ key: String) -> [(String, String)] { [("Authorization", "Bearer \(key)")] }

    @Test func aStalledUploadIsClosedAndGivesItsSlotBack() async throws {
        let dir = Fixtures.temporaryDirectory("server")
        let made = try await Fixtures.run(Fixtures.geoinferExecutable, ["keys", "create", "--name", "k", "--data-dir", dir.path])
        let key = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let server = try await ServerProcess(
            environment: [
                "GEOINFER_IDLE_TIMEOUT_SECONDS": "1", "GEOINFER_MAX_CONCURRENT_UPLOADS": "1",
                "GEOINFER_LOG_LEVEL": "info",
            ], dataDir: dir)
        defer { server.stop() }
        var form = Multipart()
        form.file("a.tif", try Scenes.raster())
        let stalled = Stalled(server, form, headers: auth(key))
        defer { stalled.feed.finish() }
        // The server closes it for idling: its handler, which held the key's one upload slot (a refused
        // one would log 429), returns, and the request's log line is written after the slot is given back.
        try await server.waitLog(#""path":"/jobs""#)
        try await stalled.end()
        let line = server.serverLog.split(separator: "\n").first { $0.contains(#""path":"/jobs""#) } ?? ""
        #expect(line.contains(#""status":"400""#), "\(line)")
        // The slot is free: the same key uploads at once.
        let next = try await server.upload(form, headers: auth(key))
        #expect(next.status == 202, "\(next.text)")
        #expect(server.isRunning)
        #expect(try server.files(in: "temp").isEmpty)
    }

    /// An upload that sends its headers and a first piece, then nothing more: a half-open upload.
    struct Stalled {
        let feed: AsyncStream<ByteBuffer>.Continuation
        let answer: Task<Int, any Error>

        init(_ server: ServerProcess, _ form: Multipart, headers: [(String, String)] = []) {
            let body = form.body
            let (stream, feed) = AsyncStream<ByteBuffer>.makeStream()
            var request = HTTPClientRequest(url: server.base + "/jobs")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: form.contentType)
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            request.body = .stream(stream, length: .known(Int64(body.count)))
            let sent = request
            answer = Task { () -> Int in
                let response = try await testClient.execute(sent, timeout: .seconds(120))
                _ = try await response.body.collect(upTo: 1 << 20)
                return Int(response.status.code)
            }
            feed.yield(ByteBuffer(bytes: body.prefix(100)))
            self.feed = feed
        }

        /// Once the server has closed it: the client stops feeding, and its request ends (an
        /// error, or at most a 400).
        func end() async throws {
            feed.finish()
            do {
                let status = try await value(of: answer, within: .seconds(60), "the stalled upload's end")
                #expect(status == 400, "a stalled upload was answered \(status)")
            } catch let error as DeadlineExceeded {
                Issue.record("\(error)")
            } catch {
                // The connection was closed under it: the expected end.
            }
        }
    }

    /// The idle limit counts only time the server waits for the client. An upload whose body the
    /// server holds back (here at a failpoint, as while its files' checks are busy) is not idle,
    /// however long that lasts, though its bytes wait unread in the socket; a client that stops
    /// sending, at the same time, is closed.
    @Test func anUploadTheServerHoldsBackIsNotIdle() async throws {
        let gate = FailpointGate()
        let server = try await ServerProcess(
            environment: ["GEOINFER_IDLE_TIMEOUT_SECONDS": "1", "GEOINFER_LOG_LEVEL": "info"]
                .merging(gate.environment(["upload.after_file": "1*pause"])) { $1 })
        defer { server.stop() }
        // Far more than the server reads ahead once it stops taking the body (some 16 reads of 64 KiB).
        var form = Multipart()
        form.file("first.tif", try Scenes.raster())
        var raster = SyntheticRaster(width: 1000, height: 1000)
        raster.creationOptions = ["TILED=YES"]  // uncompressed: 3 MB each
        let path = Fixtures.temporaryDirectory("held").appending(path: "large.tif").path
        try raster.write(to: path)
        let large = try Data(contentsOf: URL(fileURLWithPath: path))
        for i in 0..<3 { form.file("large\(i).tif", large) }
        #expect(form.body.count > 8 << 20)
        let (url, type, body) = (server.base + "/jobs", form.contentType, form.body)
        let held = Task { try await ServerProcess.request(.POST, url, headers: [("Content-Type", type)], body: body) }
        let hit = try await gate.waitPaused("upload.after_file", alive: { server.isRunning }, diagnostics: { server.serverLog })
        // A client that goes silent now: once the server has closed it, the held upload has gone
        // unread at least as long, and counted as idle it would have been closed first.
        var small = Multipart()
        small.file("a.tif", try Scenes.raster())
        let stalled = Stalled(server, small)
        defer { stalled.feed.finish() }
        try await server.waitLog(#""path":"/jobs""#)
        try await stalled.end()
        try gate.release(hit)
        let reply = try await value(of: held, within: .seconds(120), "the held upload's answer")
        #expect(reply.status == 202 && reply.json["total_files"] as? Int == 4, "\(reply.text)")
    }

    @Test func eventStreamsAreCapped() async throws {
        let gate = FailpointGate()
        let server = try await ServerProcess(
            environment: gate.environment(["worker.after_batch": "pause"]).merging(["GEOINFER_MAX_EVENT_STREAMS": "2"]) { $1 })
        defer { server.stop() }
        var form = Multipart()
        form.file("a.tif", try Scenes.raster())
        let id = try #require(try await server.upload(form).json["job_id"] as? String)
        // The job stays running while the test holds its streams open.
        try await gate.waitPaused("worker.after_batch", alive: { server.isRunning }, diagnostics: { server.serverLog })
        var readers: [Task<Int, any Error>] = []
        for _ in 0..<2 {
            let response = try await testClient.execute(
                HTTPClientRequest(url: server.base + "/jobs/\(id)/events"), timeout: .seconds(120))
            #expect(response.status == .ok)
            readers.append(
                Task {
                    var bytes = 0
                    for try await chunk in response.body { bytes += chunk.readableBytes }
                    return bytes
                })
        }
        let third = try await server.get("/jobs/\(id)/events")
        #expect(third.status == 429 && third.errorCode == "too_many_streams", "\(third.text)")
        // The job ends, its streams end, and their slots come back.
        let releaser = Task {
            while !Task.isCancelled {
                gate.releaseAll("worker.after_batch")
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        defer { releaser.cancel() }
        _ = try await server.waitFinal(id)
        for reader in readers {
            #expect(try await value(of: reader, within: .seconds(60), "the end of an event stream of a finished job") > 0)
        }
        let deadline = ContinuousClock.now + .seconds(30)
        var again = try await server.get("/jobs/\(id)/events")
        while again.status == 429, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            again = try await server.get("/jobs/\(id)/events")
        }
        #expect(again.status == 200 && again.text.contains("event: done"), "\(again.status) \(again.text.prefix(200))")
    }
}
