public import Foundation

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum GCS keeps for every object.
/// Computed while streaming with slicing-by-8 tables; `base64` is the form the JSON API uses
/// (the four bytes big-endian).
public struct CRC32C: Sendable, Equatable {
    private var state: UInt32 = 0xFFFF_FFFF

    /// A checksum of no bytes yet (`value` 0).
    public init() {}

    /// The checksum of everything passed to `update` so far.
    public var value: UInt32 { ~state }

    /// The checksum as GCS writes it: base64 of the 4 bytes, most significant first.
    public var base64: String { Self.base64(value) }

    /// `value` as GCS writes it: base64 of its 4 bytes, most significant first.
    public static func base64(_ value: UInt32) -> String {
        withUnsafeBytes(of: value.bigEndian) { Data($0).base64EncodedString() }
    }

    /// Parses GCS's base64 form; nil when it is not 4 bytes of base64.
    public static func parse(base64: String) -> UInt32? {
        guard let data = Data(base64Encoded: base64), data.count == 4 else { return nil }
        return data.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The CRC32C of `data` in one call.
    public static func checksum(_ data: some DataProtocol) -> UInt32 {
        var crc = CRC32C()
        crc.update(data)
        return crc.value
    }

    /// Adds `data` to the checksum, one contiguous region at a time.
    public mutating func update(_ data: some DataProtocol) {
        for region in data.regions {
            region.withUnsafeBytes { update($0) }
        }
    }

    /// Adds the bytes of `buffer` to the checksum.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        var crc = state
        var count = buffer.count
        guard var p = buffer.baseAddress else { return }
        let t = Self.tables
        t.withUnsafeBufferPointer { t in
            while count >= 8 {
                let lo = p.loadUnaligned(as: UInt32.self).littleEndian ^ crc
                let hi = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
                crc =
                    t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                p += 8
                count -= 8
            }
            while count > 0 {
                crc = t[Int((crc ^ UInt32(p.load(as: UInt8.self))) & 0xFF)] ^ (crc >> 8)
                p += 1
                count -= 1
            }
        }
        state = crc
    }

    /// Eight 256-entry tables: table 0 is the byte-at-a-time table; table k advances k more zero bytes.
    private static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let prev = t[(k - 1) * 256 + i]
                t[k * 256 + i] = t[Int(prev & 0xFF)] ^ (prev >> 8)
            }
        }
        return t
    }()
}
