import Foundation
import GeoInferTestSupport
import Storage
import Testing

/// The `BlobStore` contract, run on a local folder and on both GCS emulators.
func checkContract(_ store: any BlobStore, large: Int) async throws {
    let small = try randomFile(1000)
    let big = try randomFile(large, name: "big.tif")
    let smallBytes = try Data(contentsOf: small)
    let bigBytes = try Data(contentsOf: big)
    let meta = ["job_id": "j1", "original_name": "Fancy name ü.tif", "sha256": "abc"]

    let a = try await store.put(file: small, as: "uploads/j1_a.tif", contentType: "image/tiff", metadata: meta)
    #expect(a.size == 1000)
    #expect(a.crc32c == CRC32C.base64(CRC32C.checksum(smallBytes)))
    let b = try await store.put(file: big, as: "uploads/j1_big file+1.tif", contentType: "image/tiff", metadata: meta)
    #expect(b.size == Int64(large))
    #expect(b.crc32c == CRC32C.base64(CRC32C.checksum(bigBytes)))

    let info = try #require(try await store.info("uploads/j1_big file+1.tif"))
    #expect(info.metadata == meta)
    #expect(info.contentType == "image/tiff")
    #expect(info.size == Int64(large))
    #expect(try await store.info("uploads/missing.tif") == nil)

    #expect(try await store.read("uploads/j1_big file+1.tif", range: 10..<20) == bigBytes.subdata(in: 10..<20))
    let copy = small.deletingLastPathComponent().appendingPathComponent("copy.bin")
    let got = try await store.download("uploads/j1_big file+1.tif", to: copy)
    #expect(try Data(contentsOf: copy) == bigBytes)
    #expect(got.crc32c == b.crc32c)

    // The same bytes again: a retried upload, answered with the stored object.
    let again = try await store.put(file: small, as: "uploads/j1_a.tif", contentType: "image/tiff", metadata: meta)
    #expect(again.crc32c == a.crc32c)

    _ = try await store.put(file: small, as: "results/j1_coco.json")
    #expect(try await store.list(prefix: "uploads/j1_").map(\.name) == ["uploads/j1_a.tif", "uploads/j1_big file+1.tif"])
    #expect(try await store.list(prefix: "results/").map(\.name) == ["results/j1_coco.json"])

    #expect(try await store.delete("uploads/j1_a.tif"))
    #expect(try await store.delete("uploads/j1_a.tif") == false)
    #expect(try await store.info("uploads/j1_a.tif") == nil)
    await #expect(throws: StorageError.notFound("uploads/j1_a.tif")) { try await store.download("uploads/j1_a.tif", to: copy) }
}

@Suite("Blob stores", .serialized)
struct BlobStoreTests {
    @Test("a local folder keeps the contract")
    func local() async throws {
        let store = try LocalBlobStore(root: Fixtures.temporaryDirectory("local-blobs"))
        try await checkContract(store, large: 700_000)
        await #expect(throws: StorageError.self) { try await store.put(file: try randomFile(10), as: "../escape.tif") }
    }

    @Test("gcp-storage-emulator: single-request and resumable uploads, ranged reads, checksums, cross-checked with the official client")
    func gcpStorageEmulator() async throws {
        let bucket = try await TestBucket.gcpStorageEmulator()
        let store = try bucket.store()
        // 700 kB in 256 KiB chunks: three chunks of a resumable session.
        try await checkContract(store, large: 700_000)
        let check = try await CrossCheck.run(endpoint: bucket.emulator.address, bucket: bucket.name, prefix: "")
        #expect(check.objects.map(\.name) == ["results/j1_coco.json", "uploads/j1_big file+1.tif"])
        for object in check.objects {
            #expect(object.crc32c == object.crc32c_of_content, "\(object.name)")
            let ours = try #require(try await store.info(object.name))
            #expect(ours.crc32c == object.crc32c)
        }
        #expect(check.objects.last?.metadata?["original_name"] == "Fancy name ü.tif")
    }

    @Test("fake-gcs-server: the contract, ifGenerationMatch=0 never overwrites, and listing follows pages")
    func fakeGCSServer() async throws {
        let bucket = try await TestBucket.fakeGCSServer()
        var config = try bucket.store().config
        config.listPageSize = 2
        let store = GCSBlobStore(config: config, credentials: NoCredentials(), http: bucket.http)
        try await checkContract(store, large: 200_000)
        // Another file under a taken name: refused, and the stored object is unchanged.
        let first = try await store.put(file: try randomFile(5000), as: "results/j2_coco.json")
        await #expect(throws: StorageError.alreadyExists("results/j2_coco.json")) {
            try await store.put(file: try randomFile(5000), as: "results/j2_coco.json")
        }
        #expect(try await store.info("results/j2_coco.json")?.crc32c == first.crc32c)
        for i in 0..<5 { _ = try await store.put(file: try randomFile(100), as: "temp/page-\(i)") }
        #expect(try await store.list(prefix: "temp/").map(\.name) == (0..<5).map { "temp/page-\($0)" })
    }
}
