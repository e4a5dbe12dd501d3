import AsyncHTTPClient
import Foundation
import GeoInferTestSupport
import NIOCore
import NIOHTTP1
import Server
import Testing

/// API keys: required when configured (and by default off loopback), stored as hashes, jobs
/// visible only to the key that made them (and admins), revocation at once.
@Suite(.serialized) struct AccessTests {
    func makeKey(_ dir: URL, _ name: String, admin: Bool = false, extra: [String] = []) async throws -> (key: String, id: String) {
        let r = try await Fixtures.run(
            Fixtures.geoinferExecutable, ["keys", "create", "--name", name, "--data-dir", dir.path] + (admin ? ["--admin"] : []) + extra)
        guard r.status == 0, let id = r.stderr.split(separator: " ").dropFirst().first else {
            throw TestFailure("keys create: \(r.stderr)")
        }
        return (r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), String(id))
    }

    func auth(_ key: String) -> [(String, String)] { [("Authorization", "Bearer \(key)")] }

    @Test func keysAreRequiredByDefaultOffLoopback() {
        var c = ServerConfiguration()
        #expect(!c.keysRequired)
        c.host = "0.0.0.0"
        #expect(c.keysRequired)
        c.requireAPIKeys = false
        #expect(!c.keysRequired)
        c.host = "::1"
        c.requireAPIKeys = true
        #expect(c.keysRequired)
    }

    @Test func jobsBelongToTheirKey() async throws {
        let dir = Fixtures.temporaryDirectory("server")
        let alice = try await makeKey(dir, "alice")
        let bob = try await makeKey(dir, "bob")
        let root = try await makeKey(dir, "ops", admin: true)
        #expect(alice.key.hasPrefix("gik_") && alice.key.count > 40 && alice.key != bob.key)
        let server = try await ServerProcess(environment: ["GEOINFER_REQUIRE_API_KEYS": "true"], dataDir: dir)
        defer { server.stop() }

        let anonymous = try await server.get("/jobs")
        #expect(anonymous.status == 401 && anonymous.errorCode == "unauthorized")
        #expect(anonymous.headers.contains { $0.0.lowercased() == "www-authenticate" && $0.1 == "Bearer" })
        #expect(try await server.request(.GET, "/jobs", headers: auth("gik_not-a-key")).status == 401)
        #expect(try await server.request(.GET, "/jobs", headers: [("Authorization", "Basic abc")]).status == 401)
        for open in ["/healthz", "/readyz", "/openapi.json", "/metrics"] { #expect(try await server.get(open).status == 200, "\(open)") }

        var form = Multipart()
        form.file("a.tif", try Scenes.raster())
        #expect(try await server.upload(form).status == 401, "no key, no upload")
        let created = try await server.upload(form, headers: auth(alice.key) + [("Idempotency-Key", "same")])
        let job = try #require(created.json["job_id"] as? String, "\(created.text)")
        // The same Idempotency-Key from another key is another job.
        let bobs = try await server.upload(form, headers: auth(bob.key) + [("Idempotency-Key", "same")])
        let bobJob = try #require(bobs.json["job_id"] as? String)
        #expect(bobJob != job)

        #expect(try await server.request(.GET, "/status/\(job)", headers: auth(alice.key)).status == 200)
        #expect(try await server.request(.GET, "/status/\(job)", headers: auth(bob.key)).status == 404)
        #expect(try await server.request(.GET, "/jobs/\(job)", headers: auth(bob.key)).status == 404)
        #expect(try await server.request(.DELETE, "/jobs/\(job)", headers: auth(bob.key)).status == 404)
        #expect(try await server.request(.GET, "/results/\(job)/footprints.geojson", headers: auth(bob.key)).status == 404)
        #expect(try await server.request(.GET, "/results/\(job)/footprints.geojson", headers: auth(alice.key)).status == 200)
        // The map's library is public, like the page that loads it.
        #expect(try await server.get("/assets/leaflet/leaflet.js").status == 200)
        #expect(try await server.request(.GET, "/status/\(job)", headers: auth(root.key)).status == 200)
        let bobList = try await server.request(.GET, "/jobs", headers: auth(bob.key)).json["jobs"] as? [[String: Any]] ?? []
        #expect(bobList.compactMap { $0["job_id"] as? String } == [bobJob])
        let all = try await server.request(.GET, "/jobs", headers: auth(root.key)).json["jobs"] as? [[String: Any]] ?? []
        #expect(Set(all.compactMap { $0["job_id"] as? String }) == [job, bobJob])

        // Only hashes are stored.
        let db = try Data(contentsOf: dir.appendingPathComponent("geoinfer.sqlite"))
        #expect(db.range(of: Data(alice.key.utf8)) == nil)
        let list = try await Fixtures.run(Fixtures.geoinferExecutable, ["keys", "list", "--data-dir", dir.path])
        #expect(list.stdout.contains(alice.id) && list.stdout.contains("admin") && !list.stdout.contains(alice.key))

        // Revoked: refused at once.
        let revoke = try await Fixtures.run(Fixtures.geoinferExecutable, ["keys", "revoke", alice.id, "--data-dir", dir.path])
        #expect(revoke.status == 0, "\(revoke.stderr)")
        #expect(try await server.request(.GET, "/status/\(job)", headers: auth(alice.key)).status == 401)
        #expect(try await Fixtures.run(Fixtures.geoinferExecutable, ["keys", "revoke", "key_nope", "--data-dir", dir.path]).status != 0)

        // The CLI client carries the key.
        let inputs = Fixtures.temporaryDirectory("inputs")
        try Scenes.raster().write(to: inputs.appendingPathComponent("c.tif"))
        let denied = try await Fixtures.run(Fixtures.geoinferExecutable, ["submit", inputs.path, "--server", server.base])
        #expect(denied.status != 0 && denied.stderr.contains("API key"), "\(denied.stderr)")
        let submitted = try await Fixtures.run(
            Fixtures.geoinferExecutable, ["submit", inputs.path, "--server", server.base, "--wait"],
            environment: ["GEOINFER_API_KEY": bob.key])
        #expect(submitted.status == 0, "\(submitted.stdout)\(submitted.stderr)")
    }

    @Test func eachKeyHasItsOwnRateAndUploadLimits() async throws {
        let dir = Fixtures.temporaryDirectory("server")
        let a = try await makeKey(dir, "a")
        let b = try await makeKey(dir, "b")
        let c = try await makeKey(dir, "c")
        let d = try await makeKey(dir, "d")
        // One token every 100 s: no token comes back while the test runs, however slow the machine.
        // (Tokens coming back at the rate: CallerLimitsTests, on instants the test chooses.)
        // The first upload pauses once it holds its key's slot, so the second meets it in flight.
        let gate = FailpointGate()
        let server = try await ServerProcess(
            environment: [
                "GEOINFER_RATE_LIMIT": "0.01", "GEOINFER_RATE_BURST": "3",
                "GEOINFER_MAX_CONCURRENT_UPLOADS": "1",
            ]
            .merging(gate.environment(["upload.after_start": "1*pause"])) { $1 }, dataDir: dir)
        defer { server.stop() }
        var codes: [Int] = []
        for _ in 0..<4 { codes.append(try await server.request(.GET, "/jobs", headers: auth(a.key)).status) }
        #expect(codes == [200, 200, 200, 429])
        let limited = try await server.request(.GET, "/jobs", headers: auth(a.key))
        #expect(limited.status == 429 && limited.errorCode == "rate_limited")
        let retryAfter = limited.headers.first { $0.0.lowercased() == "retry-after" }.flatMap { Int($0.1) }
        // The next token is about 100 s away (less the moments the requests took).
        #expect((90...100).contains(retryAfter ?? 0), "\(String(describing: retryAfter))")
        #expect(try await server.request(.GET, "/jobs", headers: auth(b.key)).status == 200, "another key has its own bucket")
        #expect(try await server.get("/jobs").status == 200, "the local operator without a key is not limited")

        // One upload in flight per key: a second one from the same key waits its turn (429).
        var form = Multipart()
        form.file("a.tif", try Scenes.raster())
        let (url, contentType, body, key) = (server.base + "/jobs", form.contentType, form.body, c.key)
        let first = Task {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: contentType)
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
            request.body = .bytes(ByteBuffer(bytes: body))
            return Int(try await testClient.execute(request, timeout: .seconds(120)).status.code)
        }
        let held = try await gate.waitPaused("upload.after_start", alive: { server.isRunning }, diagnostics: { server.serverLog })
        let second = try await server.upload(form, headers: auth(c.key))
        #expect(second.status == 429 && second.errorCode == "too_many_uploads", "\(second.text)")
        let other = try await server.upload(form, headers: auth(d.key))
        #expect(other.status == 202, "another key may upload meanwhile")
        try gate.release(held)
        #expect(try await value(of: first, within: .seconds(120), "the held upload's answer") == 202)
        #expect(try await server.upload(form, headers: auth(c.key)).status == 202, "the slot is free again")

        // A picture takes a fiftieth of a request (a map of a thousand files loads a thousand): with
        // the upload's token gone, the two left pay for 100 pictures. Tokens only come back (a
        // picture's worth every 2 s), so at least 99 pass before the first 429, and one comes
        // long before the 400th (that would take 10 minutes of refill).
        let job = try #require(other.json["job_id"] as? String)
        _ = try await server.waitFinal(job)
        var passed = 0
        var stopped = false
        for i in 0..<400 {
            let status = try await server.request(
                .GET, "/results/\(job)/\(i % 2 == 0 ? "quicklooks" : "thumbnails")/a.tif.jpg", headers: auth(d.key)
            ).status
            if status == 429 {
                stopped = true
                break
            }
            #expect(status == 200)
            passed += 1
        }
        #expect(stopped && passed >= 99, "\(passed) pictures before the first 429")
        // Less than a picture's worth is left: a request waits too.
        #expect(try await server.request(.GET, "/jobs/\(job)", headers: auth(d.key)).status == 429)
    }

    @Test func aKeysOwnUploadLimitsNarrowTheServers() async throws {
        let smallData = try Scenes.raster()
        let bigData = try Scenes.raster(
            width: 1200, height: 1200, markers: (0..<200).map { Marker(x: ($0 * 97) % 1200, y: ($0 * 61) % 1200, width: 9, height: 9) })
        try #require(bigData.count > smallData.count + 1)
        let dir = Fixtures.temporaryDirectory("server")
        let small = try await makeKey(dir, "small", extra: ["--max-files", "1", "--max-file-bytes", "\(smallData.count + 1)"])
        let plain = try await makeKey(dir, "plain")
        #expect(
            try await Fixtures.run(Fixtures.geoinferExecutable, ["keys", "list", "--data-dir", dir.path]).stdout.contains("max-files=1"))
        // The keys above are in the data directory's SQLite file: the service keeps its jobs there too.
        let onDisk: (inout ServerConfiguration) -> Void = { $0.jobsInMemory = false }
        try await InProcessServer.with(dataDir: dir, configure: onDisk) { server in
            var two = Multipart()
            two.file("a.tif", smallData)
            two.file("b.tif", smallData)
            let tooMany = try await server.upload(two, headers: auth(small.key))
            #expect(tooMany.status == 413 && tooMany.errorCode == "too_many_files", "\(tooMany.text)")
            var big = Multipart()
            big.file("big.tif", bigData)
            let tooLarge = try await server.upload(big, headers: auth(small.key))
            #expect(tooLarge.status == 413 && tooLarge.errorCode == "file_too_large", "\(tooLarge.text)")
            var one = Multipart()
            one.file("a.tif", smallData)
            #expect(try await server.upload(one, headers: auth(small.key)).status == 202, "within its limits")
            #expect(try await server.upload(two, headers: auth(plain.key)).status == 202)
            #expect(try await server.upload(big, headers: auth(plain.key)).status == 202)
            #expect(try server.files(in: "uploads").count == 4, "nothing of the refused uploads is kept")
        }
    }
}
