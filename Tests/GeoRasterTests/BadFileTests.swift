import Foundation
import GeoInferTestSupport
import GeoRaster
import Testing

/// Each bad input gives its clear error (or documented behaviour), never a crash.
@Suite struct BadFileTests {
    let dir = Fixtures.temporaryDirectory("bad")

    func expectError(_ path: String, kind: String, mentioning words: [String]) {
        do {
            let raster = try Raster(path: path)
            try raster.verify()
            Issue.record("expected \(kind) for \(path)")
        } catch {
            #expect(error.kind == kind, "\(error)")
            #expect(error.file == (path as NSString).lastPathComponent)
            for w in words { #expect(error.description.contains(w), "\(error.description) lacks \(w)") }
            // Never a full path: file names only.
            #expect(!error.description.contains(dir.path))
        }
    }

    @Test func zeroBytes() throws {
        let path = dir.appendingPathComponent("empty.tif").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        expectError(path, kind: "not_a_raster", mentioning: ["empty.tif", "GeoTIFF"])
    }

    @Test func randomBytesNamedTif() throws {
        let path = dir.appendingPathComponent("noise.tif").path
        var g = SystemRandomNumberGenerator()
        #expect(FileManager.default.createFile(atPath: path, contents: Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &g) })))
        expectError(path, kind: "not_a_raster", mentioning: ["noise.tif"])
    }

    @Test func missingFile() {
        expectError(dir.appendingPathComponent("nope.tif").path, kind: "not_found", mentioning: ["nope.tif"])
    }

    @Test func truncatedGeoTIFF() throws {
        let path = dir.appendingPathComponent("cut.tif").path
        var r = SyntheticRaster(width: 512, height: 512)
        r.creationOptions = ["TILED=YES"]  // uncompressed: the header survives, the last tiles do not
        r.markers = (0..<50).map { Marker(x: $0 * 10, y: $0 * 10, width: 5, height: 5) }
        try r.write(to: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        expectError(path, kind: "corrupt", mentioning: ["cut.tif", "truncated or corrupt"])
    }

    @Test func pngRenamedTifOpensWithoutGeoreferencing() throws {
        let path = dir.appendingPathComponent("photo.tif").path
        var r = SyntheticRaster(width: 64, height: 48)
        r.driver = "PNG"
        r.creationOptions = []
        r.epsg = nil
        try r.write(to: path)
        let raster = try Raster(path: path)
        #expect(raster.info.driver == "PNG")
        #expect(!raster.info.isGeoreferenced)
        try raster.verify()
    }

    @Test func largerThanThePixelLimit() throws {
        let path = dir.appendingPathComponent("big.tif").path
        try SyntheticRaster(width: 200, height: 100).write(to: path)
        do {
            _ = try Raster(path: path, maxPixels: 19_999)
            Issue.record("expected too_large")
        } catch {
            #expect(error.kind == "too_large")
            #expect(error.description.contains("20000 pixels") && error.description.contains("--max-pixels"))
        }
        #expect(try Raster(path: path, maxPixels: 20_000).info.pixelCount == 20_000)
    }
}
