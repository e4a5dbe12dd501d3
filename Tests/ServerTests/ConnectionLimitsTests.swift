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
        let body = form.body
        // Headers and a first piece, then nothing more: a half-open upload.
        let (stream, feed) = AsyncStream<ByteBuffer>.makeStream()
        var stalled = HTTPClientRequest(url: server.base + "/jobs")
        stalled.method = .POST
        stalled.headers.add(name: "Content-Type", value: form.contentType)
        stalled.headers.add(name: "Authorization", value: "Bearer \(key)")
        stalled.body = .stream(stream, length: .known(Int64(body.count)))
        let first = Task { () -> Int in
            let response = try await HTTPClient.shared.execute(stalled, timeout: .seconds(120))
            _ = try await response.body.collect(upTo: 1 << 20)
            return Int(response.status.code)
        }
        feed.yield(ByteBuffer(bytes: body.prefix(100)))
        defer { feed.finish() }
        // The server closes it for idling: its handler, which held the key's one upload slot (a refused
        // one would log 429), returns, and the request's log line is written after the slot is given back.
        try await server.waitLog(#""path":"/jobs""#)
        // The client stops feeding; its request ends (an error, or at most a 400).
        feed.finish()
        do {
            let status = try await value(of: first, within: .seconds(60), "the stalled upload's end")
            #expect(status == 400, "a stalled upload was answered \(status)")
        } catch let error as DeadlineExceeded {
            Issue.record("\(error)")
        } catch {
            // The connection was closed under it: the expected end.
        }
        let line = server.serverLog.split(separator: "\n").first { $0.contains(#""path":"/jobs""#) } ?? ""
        #expect(line.contains(#""status":"400""#), "\(line)")
        // The slot is free: the same key uploads at once.
        let next = try await server.upload(form, headers: auth(key))
        #expect(next.status == 202, "\(next.text)")
        #expect(server.isRunning)
        #expect(try server.files(in: "temp").isEmpty)
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
            let response = try await HTTPClient.shared.execute(
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
