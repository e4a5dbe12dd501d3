import Foundation
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A streaming `multipart/form-data` parser (RFC 7578, RFC 2046 §5.1). Bytes go in as they arrive,
/// in chunks of any size; events come out in order: a part's headers, its body as slices of the
/// input (no copy, except the few bytes that straddle two chunks), then the part's end. The body
/// scan looks for the delimiter with `memchr` and `memcmp`, so a 1 GiB part costs about a memory
/// pass. Used by one task at a time.
struct MultipartStream {
    enum Event {
        case header(name: String, value: String)
        case body(ByteBuffer)
        case partComplete
    }

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    private enum State { case preamble, afterDelimiter, headers, body, epilogue }

    static let maxHeaderBytes = 16 * 1024
    private static let cr: UInt8 = 13, lf: UInt8 = 10, dash: UInt8 = 45

    /// `CRLF--boundary`: what ends every body (and the preamble).
    private let delimiter: [UInt8]
    private var state = State.preamble
    /// Body or preamble bytes that may begin a delimiter split over two chunks (fewer than
    /// `delimiter.count`). It starts as CRLF, as if the stream began with a line break, so that a
    /// first delimiter at byte 0 is found like any other.
    private var carry: [UInt8] = [cr, lf]
    /// The bytes after a delimiter, until its line ends (or `--` closes the body).
    private var lead: [UInt8] = []
    /// A part's header block so far, starting with the CRLF that ended the delimiter line.
    private var headerBlock: [UInt8] = []

    /// Whether the closing delimiter (`--boundary--`) has been seen: a body that ends without it
    /// was cut off.
    var isComplete: Bool { state == .epilogue }

    init(boundary: String) {
        delimiter = Array("\r\n--\(boundary)".utf8)
    }

    mutating func feed(_ input: ByteBuffer, _ emit: (Event) throws -> Void) throws {
        var chunk = input
        while chunk.readableBytes > 0 {
            switch state {
            case .preamble, .body:
                let inBody = state == .body
                guard try scan(&chunk, emitting: inBody, emit) else { return }
                if inBody { try emit(.partComplete) }
                state = .afterDelimiter
                lead = []
            case .afterDelimiter:
                try readLead(&chunk)
            case .headers:
                try readHeaders(&chunk, emit)
            case .epilogue:
                return
            }
        }
    }

    /// After `--boundary`: `--` closes the body; otherwise optional spaces or tabs, then CRLF,
    /// start the next part.
    private mutating func readLead(_ chunk: inout ByteBuffer) throws {
        while state == .afterDelimiter, let byte = chunk.readInteger(as: UInt8.self) {
            lead.append(byte)
            if lead == [Self.dash, Self.dash] {
                state = .epilogue
            } else if byte == Self.lf {
                guard lead.count >= 2, lead[lead.count - 2] == Self.cr, lead.dropLast(2).allSatisfy({ $0 == 32 || $0 == 9 }) else {
                    throw Malformed(description: "a boundary line has unexpected bytes after the boundary")
                }
                state = .headers
                headerBlock = [Self.cr, Self.lf]
            } else if lead.count > 64 || (lead.count == 1 ? ![Self.dash, Self.cr, 32, 9].contains(byte) : lead[0] == Self.dash) {
                throw Malformed(description: "a boundary line has unexpected bytes after the boundary")
            }
        }
    }

    /// Collects a part's headers up to the blank line, then reports them.
    private mutating func readHeaders(_ chunk: inout ByteBuffer, _ emit: (Event) throws -> Void) throws {
        while state == .headers, let byte = chunk.readInteger(as: UInt8.self) {
            headerBlock.append(byte)
            let n = headerBlock.count
            if byte == Self.lf, n >= 4, headerBlock[n - 2] == Self.cr, headerBlock[n - 3] == Self.lf, headerBlock[n - 4] == Self.cr {
                let text = String(decoding: headerBlock[2..<(n - 2)], as: UTF8.self)
                for line in text.split(separator: "\r\n", omittingEmptySubsequences: true) {
                    guard let colon = line.firstIndex(of: ":") else {
                        throw Malformed(description: "a part header line has no ':'")
                    }
                    try emit(
                        .header(
                            name: line[..<colon].trimmingCharacters(in: .whitespaces),
                            value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
                }
                headerBlock = []
                carry = []
                state = .body
            } else if n > Self.maxHeaderBytes {
                throw Malformed(description: "a part's headers are longer than \(Self.maxHeaderBytes) bytes")
            }
        }
    }

    /// Scans body (or preamble) bytes for the delimiter. Returns true when it was found: the bytes
    /// before it were emitted and `chunk` now starts after it. Returns false when `chunk` was used
    /// up; its last bytes that could begin a delimiter wait in `carry`.
    private mutating func scan(_ chunk: inout ByteBuffer, emitting: Bool, _ emit: (Event) throws -> Void) throws -> Bool {
        let d = delimiter
        if !carry.isEmpty {
            // A delimiter that starts in `carry` ends within the chunk's first d.count - 1 bytes.
            let extra = min(chunk.readableBytes, d.count - 1)
            let joined = carry + chunk.getBytes(at: chunk.readerIndex, length: extra)!
            let match = joined.withUnsafeBytes { Self.find(d, in: $0) }
            if let p = match, p < carry.count {
                if emitting, p > 0 { try emit(.body(ByteBuffer(bytes: carry[..<p]))) }
                chunk.moveReaderIndex(forwardBy: p + d.count - carry.count)
                carry = []
                return true
            }
            if match == nil, extra < d.count - 1 {
                // The chunk is too short to decide: keep what may still begin a delimiter.
                chunk.moveReaderIndex(forwardBy: extra)
                let keep = joined.withUnsafeBytes { Self.delimiterPrefixSuffix(d, in: $0) }
                if emitting, joined.count > keep { try emit(.body(ByteBuffer(bytes: joined[..<(joined.count - keep)]))) }
                carry = Array(joined.suffix(keep))
                return false
            }
            if emitting { try emit(.body(ByteBuffer(bytes: carry))) }
            carry = []
        }
        let match = chunk.withUnsafeReadableBytes { Self.find(d, in: $0) }
        if let q = match {
            if emitting, q > 0 { try emit(.body(chunk.getSlice(at: chunk.readerIndex, length: q)!)) }
            chunk.moveReaderIndex(forwardBy: q + d.count)
            return true
        }
        let keep = chunk.withUnsafeReadableBytes { Self.delimiterPrefixSuffix(d, in: $0) }
        let n = chunk.readableBytes - keep
        if emitting, n > 0 { try emit(.body(chunk.getSlice(at: chunk.readerIndex, length: n)!)) }
        carry = chunk.getBytes(at: chunk.readerIndex + n, length: keep)!
        chunk.moveReaderIndex(to: chunk.writerIndex)
        return false
    }

    /// The first complete occurrence of `needle` (which starts with CR) in `bytes`.
    static func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer) -> Int? {
        guard let base = bytes.baseAddress, bytes.count >= needle.count else { return nil }
        let last = bytes.count - needle.count
        var i = 0
        return needle.withUnsafeBytes { n -> Int? in
            while i <= last {
                guard let hit = memchr(base + i, Int32(needle[0]), last - i + 1) else { return nil }
                let at = base.distance(to: UnsafeRawPointer(hit))
                if memcmp(base + at, n.baseAddress!, needle.count) == 0 { return at }
                i = at + 1
            }
            return nil
        }
    }

    /// The length of the longest suffix of `bytes` that is a proper prefix of `needle`.
    static func delimiterPrefixSuffix(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer) -> Int {
        let start = max(0, bytes.count - (needle.count - 1))
        for i in start..<bytes.count where bytes[i] == needle[0] {
            let k = bytes.count - i
            if (0..<k).allSatisfy({ bytes[i + $0] == needle[$0] }) { return k }
        }
        return 0
    }
}
