import Foundation
import GeoInferTestSupport
import Testing

@testable import Formats
@testable import GeoRaster
@testable import Inference

/// Each file's result is written by hand (`FileResult.jsonData()`): the same document as
/// `JSONEncoder` writes for the same values, whatever the values.
@Suite struct ResultJSONTests {
    /// `JSONEncoder` orders an object's keys by hash (a different order each process), so whole
    /// documents are compared parsed; `sameValues` compares the text of every kind of value.
    @Test func theSameDocumentAsJSONEncoderOnRandomResults() throws {
        var rng = SplitMix(seed: 0x4A53_4F4E)
        for round in 0..<2000 {
            let result = Self.result(&rng)
            let expected = try Self.canonical(JSONEncoder().encode(result))
            let written = try result.jsonData()
            #expect(
                try Self.canonical(written) == expected,
                "round \(round): \(String(decoding: written, as: UTF8.self)) differs from JSONEncoder's \(expected)")
            // And it reads back as the value written.
            let back = try JSONDecoder().decode(FileResult.self, from: written)
            #expect(try back.jsonData() == written, "round \(round): the result read back writes differently")
        }
    }

    /// Numbers, strings and nulls in arrays (whose order `JSONEncoder` keeps): the same bytes.
    @Test func sameValues() throws {
        var rng = SplitMix(seed: 0x5641_4C55)
        for round in 0..<2000 {
            let numbers = (0..<8).map { _ in Self.number(&rng) }
            let scores = (0..<8).map { _ in Self.score(&rng) }
            let texts = (0..<8).map { _ in Self.text(&rng) }
            let optionals = (0..<4).map { _ in Self.maybe(&rng, Self.number) }
            let integers = (0..<4).map { _ in Int.random(in: Int.min...Int.max, using: &rng) }
            var out = JSONOutput()
            out.beginArray()
            out.beginArray()
            for n in numbers { try out.value(n) }
            out.endArray()
            out.beginArray()
            for s in scores { try out.value(s) }
            out.endArray()
            out.beginArray()
            for t in texts { out.value(t) }
            out.endArray()
            out.beginArray()
            for o in optionals {
                if let o { try out.value(o) } else { out.null() }
            }
            out.endArray()
            out.beginArray()
            for i in integers { out.value(i) }
            out.endArray()
            out.endArray()
            struct Values: Encodable {
                let numbers: [Double]
                let scores: [Float]
                let texts: [String]
                let optionals: [Double?]
                let integers: [Int]
                func encode(to encoder: any Encoder) throws {
                    var c = encoder.unkeyedContainer()
                    try c.encode(numbers)
                    try c.encode(scores)
                    try c.encode(texts)
                    try c.encode(optionals)
                    try c.encode(integers)
                }
            }
            let expected = try JSONEncoder().encode(
                Values(numbers: numbers, scores: scores, texts: texts, optionals: optionals, integers: integers))
            #expect(
                out.data == expected,
                "round \(round): \(String(decoding: out.bytes, as: UTF8.self)) against \(String(decoding: expected, as: UTF8.self))")
        }
    }

    /// A document with its keys sorted, for comparing documents whose keys come in other orders.
    static func canonical(_ data: Data) throws -> String {
        let object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        return String(
            decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
    }

    @Test func aNumberThatIsNotFiniteIsRefusedAsJSONEncoderRefusesIt() throws {
        var rng = SplitMix(seed: 7)
        for bad in [Double.nan, .infinity, -.infinity] {
            var result = Self.result(&rng)
            result.timings.total = bad
            #expect(throws: EncodingError.self) { try JSONEncoder().encode(result) }
            #expect(throws: EncodingError.self) { try result.jsonData() }
            result = Self.result(&rng)
            result.detections = [
                GeoDetection(
                    detection: Detection(box: Box(x1: 0, y1: 0, x2: 1, y2: 1), score: Float(bad), classIndex: 0), crsBox: nil,
                    wgs84Corners: nil)
            ]
            #expect(throws: EncodingError.self) { try JSONEncoder().encode(result) }
            #expect(throws: EncodingError.self) { try result.jsonData() }
        }
    }

    @Test func writerSeparatesNestedContainers() {
        var out = JSONOutput()
        out.beginArray()
        out.beginObject()
        out.endObject()
        out.beginArray()
        out.endArray()
        out.value(1)
        out.null()
        out.beginObject()
        out.field("a", true)
        out.field("b", [String]())
        out.endObject()
        out.endArray()
        #expect(String(decoding: out.bytes, as: UTF8.self) == #"[{},[],1,null,{"a":true,"b":[]}]"#)
    }

    // MARK: - Random values

    static let alphabet: [String] = [
        "a", "Z", "0", " ", "/", "\"", "\\", "\n", "\r", "\t", "\u{8}", "\u{C}", "\u{0}", "\u{1}", "\u{1F}", "\u{7F}", "é", "🌳",
        "\u{2028}", "\u{FEFF}", ".", "-", "_", ":",
    ]

    static func text(_ rng: inout SplitMix) -> String {
        String((0..<Int.random(in: 0...12, using: &rng)).map { _ in Character(alphabet.randomElement(using: &rng) ?? "a") })
    }

    static func number(_ rng: inout SplitMix) -> Double {
        switch rng.index() % 8 {
        case 0:
            return [0, -0.0, 1, -1, 0.1, 0.5, 1e-7, 1e22, 123_456_789, .greatestFiniteMagnitude, .leastNonzeroMagnitude][
                rng.index() % 11]
        case 1: return Double(Int.random(in: -1_000_000...1_000_000, using: &rng))
        case 2: return rng.next(-180, 180)
        case 3: return rng.next(0, 2000)
        case 4: return rng.next(-1, 1) * 1e-9
        case 5: return rng.next(-1, 1) * 1e17
        default:
            let bits = Double(bitPattern: rng.next())
            return bits.isFinite ? bits : 2.5
        }
    }

    static func score(_ rng: inout SplitMix) -> Float {
        switch rng.index() % 4 {
        case 0: return [0, 1, 0.5, 1e-8, -0.0][rng.index() % 5]
        case 1:
            let bits = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            return bits.isFinite ? bits : 0.25
        default: return Float(rng.next(0, 1))
        }
    }

    static func maybe<T>(_ rng: inout SplitMix, _ make: (inout SplitMix) -> T) -> T? {
        rng.index() % 3 == 0 ? nil : make(&rng)
    }

    static func result(_ rng: inout SplitMix) -> FileResult {
        let info = RasterInfo(
            fileName: text(&rng), driver: text(&rng), width: Int.random(in: 1...100_000, using: &rng),
            height: Int.random(in: 1...100_000, using: &rng), bandCount: Int.random(in: 1...8, using: &rng), dataType: text(&rng),
            nodata: (0..<Int.random(in: 0...4, using: &rng)).map { _ in maybe(&rng, number) }, crsWKT: maybe(&rng, text),
            epsg: maybe(&rng) { Int.random(in: 0...100_000, using: &$0) }, isGeographic: rng.index() % 2 == 0,
            linearUnitMetres: number(&rng),
            geoTransform: maybe(&rng) { r in GeoTransform([number(&r), 0.05, 0, number(&r), 0, -0.05]) } ?? nil,
            gsdMetres: maybe(&rng, number), blockWidth: Int.random(in: 1...4096, using: &rng),
            blockHeight: Int.random(in: 1...4096, using: &rng))
        let detections = (0..<Int.random(in: 0...6, using: &rng)).map { _ in
            GeoDetection(
                detection: Detection(
                    box: Box(x1: number(&rng), y1: number(&rng), x2: number(&rng), y2: number(&rng)), score: score(&rng),
                    classIndex: Int.random(in: -3...1000, using: &rng)),
                crsBox: maybe(&rng) { r in (0..<4).map { _ in number(&r) } },
                wgs84Corners: maybe(&rng) { r in (0..<4).map { _ in LonLat(lon: number(&r), lat: number(&r)) } })
        }
        return FileResult(
            path: text(&rng), info: info, sha256: text(&rng), sizeBytes: Int.random(in: 0...Int.max, using: &rng),
            detections: detections,
            tiles: .init(
                planned: Int.random(in: 0...10_000, using: &rng), skipped: Int.random(in: 0...10_000, using: &rng),
                run: Int.random(in: 0...10_000, using: &rng)),
            timings: .init(hash: number(&rng), read: number(&rng), inference: number(&rng), merge: number(&rng), total: number(&rng)),
            resampleFactor: number(&rng), warnings: (0..<Int.random(in: 0...3, using: &rng)).map { _ in text(&rng) },
            bytesRead: maybe(&rng) { Int.random(in: Int.min...Int.max, using: &$0) })
    }
}
