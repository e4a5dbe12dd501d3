import Foundation
import GeoInferTestSupport
import Storage
import Testing

@Suite("CRC32C")
struct CRC32CTests {
    @Test("known vectors (RFC 3720 and the check value)")
    func vectors() {
        #expect(CRC32C.checksum(Data("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum(Data(repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum(Data(repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum(Data((0..<32).map { UInt8($0) })) == 0x46DD_794E)
        #expect(CRC32C.checksum(Data()) == 0)
        #expect(CRC32C.base64(0xE306_9283) == "4waSgw==")
        #expect(CRC32C.parse(base64: "4waSgw==") == 0xE306_9283)
        #expect(CRC32C.parse(base64: "not base64") == nil)
    }

    @Test("streaming in pieces gives the one-shot value at every split")
    func streaming() {
        let data = Data((0..<1000).map { _ in UInt8.random(in: 0...255) })
        let whole = CRC32C.checksum(data)
        for split in [0, 1, 7, 8, 9, 63, 500, 999, 1000] {
            var crc = CRC32C()
            crc.update(data.prefix(split))
            crc.update(data.dropFirst(split))
            #expect(crc.value == whole, "split at \(split)")
        }
    }

    @Test("agrees with google-crc32c on a 3 MB file")
    func reference() async throws {
        let dir = Fixtures.temporaryDirectory("crc")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("random.bin")
        try Data((0..<3_000_001).map { _ in UInt8.random(in: 0...255) }).write(to: file)
        let result = try await Fixtures.python(
            "import google_crc32c,sys; print(google_crc32c.value(open(sys.argv[1],'rb').read()))", [file.path])
        #expect(result.status == 0, "\(result.stderr)")
        let (crc, size) = try fileChecksum(file)
        #expect(size == 3_000_001)
        #expect(UInt32(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) == crc)
    }
}
