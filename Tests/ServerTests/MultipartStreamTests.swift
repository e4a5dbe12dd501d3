import Foundation
import GeoInferTestSupport
import NIOCore
import Testing

@testable import Server

/// The streaming multipart parser: the same parts whatever the chunking, delimiters found across
/// chunk edges, near-delimiters left in bodies, and malformed or cut-off bodies refused.
@Suite struct MultipartStreamTests {
    /// Thousands of hostile bodies: a valid body with bytes flipped, cut, repeated or spliced, and
    /// plain noise, fed in random chunks. The parser never traps; it answers parts or `Malformed`,
    /// and never yields more body bytes than it was fed.
    @Test func anyBytesGiveEventsOrMalformedNeverATrap() throws {
        // Seeded: the same cases on every run, so a failure can be replayed.
        var rng = SplitMix(seed: 0x6D75_6C74)
        let boundary = "b0undary"
        let valid = body(
            boundary: boundary, parts: [("files", "a.tif", Array(repeating: 9, count: 300)), ("webhook_url", nil, Array("x".utf8))])
        let alphabet: [UInt8] = Array("--b0undary\r\n:; =\"".utf8) + [0, 255, 10, 13]
        var malformed = 0
        var complete = 0
        for round in 0..<3000 {
            var bytes = valid
            switch round % 4 {
            case 0:
                for _ in 0..<Int.random(in: 1...8, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = alphabet.randomElement(using: &rng) ?? 0
                }
            case 1:
                bytes =
                    Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
                    + Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
            case 2: bytes = (0..<Int.random(in: 0...600, using: &rng)).map { _ in alphabet.randomElement(using: &rng) ?? 0 }
            default: bytes.insert(contentsOf: Array("\r\n--b0undary".utf8), at: Int.random(in: 0...bytes.count, using: &rng))
            }
            let chunks = (0..<8).map { _ in Int.random(in: 1...97, using: &rng) }
            do {
                let (parts, done) = try parse(bytes, boundary: boundary, chunks: chunks)
                #expect(parts.reduce(0) { $0 + $1.body.count } <= bytes.count)
                if done { complete += 1 }
            } catch is MultipartStream.Malformed {
                malformed += 1
            }
        }
        // Both outcomes were reached.
        #expect(malformed > 100 && complete > 100, "malformed \(malformed), complete \(complete)")
    }

    struct Part: Equatable {
        var headers: [String: String] = [:]
        var body: [UInt8] = []
    }

    /// Parses `bytes` fed in chunks of the given sizes (cycled); returns the parts and whether the
    /// closing delimiter was seen.
    func parse(_ bytes: [UInt8], boundary: String, chunks: [Int]) throws -> (parts: [Part], complete: Bool) {
        var parser = MultipartStream(boundary: boundary)
        var parts: [Part] = []
        var current = Part()
        var offset = 0
        var i = 0
        while offset < bytes.count {
            let n = min(max(chunks[i % chunks.count], 1), bytes.count - offset)
            i += 1
            try parser.feed(ByteBuffer(bytes: bytes[offset..<(offset + n)])) { event in
                switch event {
                case .header(let name, let value): current.headers[name.lowercased()] = value
                case .body(let b): current.body += Array(b.readableBytesView)
                case .partComplete:
                    parts.append(current)
                    current = Part()
                }
            }
            offset += n
        }
        return (parts, parser.isComplete)
    }

    func body(boundary: String, parts: [(name: String, filename: String?, data: [UInt8])], preamble: String = "", epilogue: String = "")
        -> [UInt8]
    {
        var out = Array(preamble.utf8)
        for p in parts {
            out += Array("--\(boundary)\r\n".utf8)
            var disposition = "form-data; name=\"\(p.name)\""
            if let f = p.filename { disposition += "; filename=\"\(f)\"" }
            out += Array("Content-Disposition: \(disposition)\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
            out += p.data
            out += Array("\r\n".utf8)
        }
        out += Array("--\(boundary)--\r\n\(epilogue)".utf8)
        return out
    }

    @Test func samePartsWhateverTheChunking() throws {
        let boundary = "XyZ-boundary-123"
        var rng = SystemRandomNumberGenerator()
        // Bodies full of near-delimiters: CR, CRLF, CRLF--, CRLF--XyZ-bound (a prefix), and the
        // boundary text without its leading CRLF.
        let tricky = Array("a\r\r\n\r\n-\r\n--\r\n--XyZ-bound--XyZ-boundary-123 end\r".utf8)
        let random = (0..<5000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let parts: [(name: String, filename: String?, data: [UInt8])] = [
            ("files", "a.tif", tricky), ("files", "b.tif", random), ("files", "empty.tif", []),
            ("webhook_url", nil, Array("https://example.com/h".utf8)), ("files", "c.tif", Array(repeating: 13, count: 300)),
        ]
        let bytes = body(boundary: boundary, parts: parts, preamble: "ignored preamble\r\n", epilogue: "ignored epilogue")
        let expected = parts.map { $0.data }
        for chunking in [[bytes.count], [1], [2], [3], [7, 1, 19], [17], [64], [1000, 1], [4096]] {
            let (got, complete) = try parse(bytes, boundary: boundary, chunks: chunking)
            #expect(got.map(\.body) == expected, "chunking \(chunking)")
            #expect(complete, "chunking \(chunking)")
            #expect(got.first?.headers["content-disposition"] == "form-data; name=\"files\"; filename=\"a.tif\"")
            #expect(got.last?.headers["content-type"] == "application/octet-stream")
        }
        // Random chunk sizes, many times.
        for _ in 0..<50 {
            let chunking = (0..<20).map { _ in Int.random(in: 1...200, using: &rng) }
            let (got, complete) = try parse(bytes, boundary: boundary, chunks: chunking)
            #expect(got.map(\.body) == expected && complete, "chunking \(chunking)")
        }
    }

    @Test func aBodyThatStopsEarlyIsNotComplete() throws {
        let boundary = "b0undary"
        let bytes = body(boundary: boundary, parts: [("files", "a.tif", Array(repeating: 7, count: 1000))])
        for cut in [0, 5, 60, 500, bytes.count - 5] {
            let (_, complete) = try parse(Array(bytes.prefix(cut)), boundary: boundary, chunks: [33])
            #expect(!complete, "cut at \(cut)")
        }
        // A body whose last part is never closed (no closing delimiter at all).
        let open = Array("--b0undary\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.tif\"\r\n\r\nabc".utf8)
        let (parts, complete) = try parse(open, boundary: boundary, chunks: [4])
        #expect(parts.isEmpty && !complete)
    }

    @Test func malformedBodiesAreRefused() throws {
        let boundary = "b0undary"
        // Garbage after a boundary instead of a line break.
        #expect(throws: MultipartStream.Malformed.self) {
            _ = try parse(
                Array("--b0undaryXX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--b0undary--".utf8), boundary: boundary,
                chunks: [5])
        }
        // A header line without a colon.
        #expect(throws: MultipartStream.Malformed.self) {
            _ = try parse(Array("--b0undary\r\nnot a header\r\n\r\nv\r\n--b0undary--".utf8), boundary: boundary, chunks: [5])
        }
        // Headers that never end.
        let endless = Array("--b0undary\r\nX-Long: ".utf8) + Array(repeating: UInt8(ascii: "a"), count: MultipartStream.maxHeaderBytes + 10)
        #expect(throws: MultipartStream.Malformed.self) { _ = try parse(endless, boundary: boundary, chunks: [1000]) }
        // Transport padding after a boundary is allowed.
        let padded = Array("--b0undary \t\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n--b0undary--".utf8)
        let (parts, complete) = try parse(padded, boundary: boundary, chunks: [3])
        #expect(parts.map(\.body) == [Array("value".utf8)] && complete)
    }
}
