import Foundation
import GeoInferTestSupport
import Storage
import Testing

/// Uploads through a proxy that cuts connections and answers errors, in front of
/// gcp-storage-emulator (the emulator whose resumable sessions behave like GCS's).
@Suite("GCS faults", .serialized)
struct FaultTests {
    @Test("a chunk cut mid-transfer: the session is asked where it stands and the upload resumes there")
    func resumeAfterCut() async throws {
        let bucket = try await TestBucket.gcpStorageEmulator()
        let proxy = try await FaultProxy(upstream: bucket.emulator.address)
        let store = try bucket.store(endpoint: proxy.address)
        // Five chunks of 256 KiB; the third is cut after 100,000 bytes.
        let file = try randomFile(5 * 262_144 - 1000)
        try await proxy.script([["method": "PUT", "path_contains": "upload_id", "skip": 2, "action": ["cut_after": 100_000]]])
        let stored = try await store.put(file: file, as: "uploads/cut.tif")
        let bytes = try Data(contentsOf: file)
        #expect(stored.crc32c == CRC32C.base64(CRC32C.checksum(bytes)))
        #expect(stored.size == Int64(bytes.count))

        let puts = try await proxy.log().filter { $0.method == "PUT" }
        #expect(puts.map(\.outcome).contains("cut"))
        // After the cut: a status query, then the upload goes on from the byte the session reported.
        let cut = try #require(puts.firstIndex { $0.outcome == "cut" })
        #expect(puts[cut + 1].content_range == "bytes */\(bytes.count)")
        #expect(puts[cut + 2].content_range?.hasPrefix("bytes 524288-") == true)
        let check = try await CrossCheck.run(endpoint: bucket.emulator.address, bucket: bucket.name, prefix: "uploads/cut.tif")
        #expect(check.objects.first?.crc32c_of_content == stored.crc32c)
    }

    @Test("503s and a lost final answer: retried with backoff, resolved by checking the object")
    func errorsAndLostAnswer() async throws {
        let bucket = try await TestBucket.gcpStorageEmulator()
        let proxy = try await FaultProxy(upstream: bucket.emulator.address)
        let store = try bucket.store(endpoint: proxy.address)
        let small = try randomFile(5000)
        try await proxy.script([["method": "POST", "action": ["status": 503], "times": 2]])
        let a = try await store.put(file: small, as: "results/a.json")
        #expect(a.crc32c == CRC32C.base64(try fileChecksum(small).crc32c))
        #expect(try await proxy.log().map(\.outcome) == ["status:503", "status:503", "forwarded:200"])

        // The last chunk is stored but its answer never arrives.
        let big = try randomFile(3 * 262_144)
        try await proxy.script([["method": "PUT", "path_contains": "upload_id", "skip": 2, "action": ["drop_response": true]]])
        let b = try await store.put(file: big, as: "uploads/lost.tif")
        #expect(b.crc32c == CRC32C.base64(try fileChecksum(big).crc32c))
        #expect(try await proxy.log().contains { $0.outcome == "dropped" })
        #expect(try await store.list(prefix: "uploads/").map(\.name) == ["uploads/lost.tif"])
    }

    @Test("bytes corrupted on the way: the server refuses them by CRC32C and the error says so")
    func corrupted() async throws {
        let bucket = try await TestBucket.gcpStorageEmulator()
        let proxy = try await FaultProxy(upstream: bucket.emulator.address)
        let store = try bucket.store(endpoint: proxy.address)
        let file = try randomFile(5000)
        try await proxy.script([["method": "POST", "action": ["corrupt": true]]])
        await #expect {
            _ = try await store.put(file: file, as: "results/c.json")
        } throws: { error in
            guard let e = error as? StorageError, case .checksumMismatch = e else { return false }
            return e.isRetryable
        }
        #expect(try await store.info("results/c.json") == nil)
        // The retry (as the mirror worker makes it) stores the right bytes.
        let stored = try await store.put(file: file, as: "results/c.json")
        #expect(stored.crc32c == CRC32C.base64(try fileChecksum(file).crc32c))
    }

    @Test("an unreachable bucket fails within the deadline with a clear, retryable error")
    func unreachable() async throws {
        var config = try GCSConfiguration(bucket: "geo-bucket", endpoint: "http://127.0.0.1:\(try PeerProcess.freePort())")
        config.retry = RetryPolicy(initialBackoff: 0.05, maxBackoff: 0.2, deadline: 1)
        let http = HTTPTransport()
        defer { Task { await http.shutdown() } }
        let store = GCSBlobStore(config: config, credentials: NoCredentials(), http: http)
        let started = Date()
        do {
            _ = try await store.put(file: try randomFile(100), as: "uploads/x.tif")
            Issue.record("the upload should have failed")
        } catch let error as StorageError {
            guard case .unavailable = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(error.isRetryable)
            #expect(error.description.contains("unreachable"))
        }
        #expect(Date().timeIntervalSince(started) < 10)
    }
}
