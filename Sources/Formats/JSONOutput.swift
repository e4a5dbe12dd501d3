public import Foundation

/// A JSON document written value by value, each value as `JSONEncoder` at its default settings
/// writes it (`/` escaped, numbers as their shortest `description` without a trailing `.0`, a
/// non-finite number refused), an object's keys in the order written (where `JSONEncoder` orders
/// them by hash). For documents written once per file, where `JSONEncoder`'s generic machinery
/// costs more than the values themselves.
///
/// Keys and values alternate as the caller writes them; nothing checks that an object's keys and
/// values pair up, so each writer is tested against `JSONEncoder` on the same values.
public struct JSONOutput: Sendable {
    /// The document so far, UTF-8.
    public private(set) var bytes: [UInt8] = []
    /// Whether the next key or value follows another in its container (and takes a comma).
    private var follows = false

    /// An empty document with room for `capacity` bytes.
    public init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    /// The document as `Data`.
    public var data: Data { Data(bytes) }

    /// Opens an object.
    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        follows = false
    }

    /// Closes the object opened last.
    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        follows = true
    }

    /// Opens an array.
    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        follows = false
    }

    /// Closes the array opened last.
    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        follows = true
    }

    /// An object's key; its value comes next.
    public mutating func key(_ name: String) {
        separate()
        quoted(name)
        bytes.append(UInt8(ascii: ":"))
        follows = false
    }

    /// A string value.
    public mutating func value(_ text: String) {
        separate()
        quoted(text)
        follows = true
    }

    /// An integer value.
    public mutating func value(_ number: Int) {
        separate()
        bytes.append(contentsOf: number.description.utf8)
        follows = true
    }

    /// A Boolean value.
    public mutating func value(_ flag: Bool) {
        separate()
        bytes.append(contentsOf: (flag ? "true" : "false").utf8)
        follows = true
    }

    /// `null`.
    public mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
        follows = true
    }

    /// A number; NaN and infinities are refused as `JSONEncoder` refuses them.
    public mutating func value(_ number: Double) throws(EncodingError) {
        guard number.isFinite else { throw Self.nonConforming(number) }
        separate()
        var text = number.description
        text.withUTF8 { trimmed($0) }
        follows = true
    }

    /// A single-precision number, written as its own shortest form (as `JSONEncoder` writes a `Float`).
    public mutating func value(_ number: Float) throws(EncodingError) {
        guard number.isFinite else { throw Self.nonConforming(Double(number)) }
        separate()
        var text = number.description
        text.withUTF8 { trimmed($0) }
        follows = true
    }

    /// `key` and `value`, the pair left out when `value` is nil (as a synthesised `Encodable` does).
    public mutating func field(_ key: String, _ value: String?) {
        guard let value else { return }
        self.key(key)
        self.value(value)
    }

    /// `key` and `value`, left out when nil.
    public mutating func field(_ key: String, _ value: Int?) {
        guard let value else { return }
        self.key(key)
        self.value(value)
    }

    /// `key` and `value`, left out when nil.
    public mutating func field(_ key: String, _ value: Double?) throws(EncodingError) {
        guard let value else { return }
        self.key(key)
        try self.value(value)
    }

    /// `key` and `value`.
    public mutating func field(_ key: String, _ value: Bool) {
        self.key(key)
        self.value(value)
    }

    /// `key` and an array of numbers, left out when nil.
    public mutating func field(_ key: String, _ values: [Double]?) throws(EncodingError) {
        guard let values else { return }
        self.key(key)
        try value(values)
    }

    /// An array of numbers.
    public mutating func value(_ values: [Double]) throws(EncodingError) {
        beginArray()
        for v in values { try value(v) }
        endArray()
    }

    /// `key` and an array of strings.
    public mutating func field(_ key: String, _ values: [String]) {
        self.key(key)
        beginArray()
        for v in values { value(v) }
        endArray()
    }

    private mutating func separate() {
        if follows { bytes.append(UInt8(ascii: ",")) }
    }

    /// A number's description without a trailing ".0" (1.0 is written 1).
    private mutating func trimmed(_ text: UnsafeBufferPointer<UInt8>) {
        let count = text.count
        if count > 2, text[count - 2] == UInt8(ascii: "."), text[count - 1] == UInt8(ascii: "0") {
            bytes.append(contentsOf: text[..<(count - 2)])
        } else {
            bytes.append(contentsOf: text)
        }
    }

    /// `text` in quotes, escaped as `JSONEncoder` escapes strings.
    private mutating func quoted(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "/"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "/")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0..<0x20:
                bytes.append(contentsOf: [
                    UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), Self.hex(byte >> 4), Self.hex(byte & 0xF),
                ])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static func hex(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    private static func nonConforming(_ number: Double) -> EncodingError {
        EncodingError.invalidValue(
            number, .init(codingPath: [], debugDescription: "Unable to encode \(number) directly in JSON."))
    }
}
