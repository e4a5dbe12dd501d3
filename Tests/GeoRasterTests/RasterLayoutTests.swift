import Foundation
import GeoInferTestSupport
import GeoRaster
import Testing

/// Every layout GeoInfer promises to read, written by GDAL at test time, read back exactly.
@Suite struct RasterLayoutTests {
    struct Layout: CustomTestStringConvertible, Sendable {
        var name: String
        var driver = "GTiff"
        var options: [String]
        var type: RasterDataType
        var bands: Int
        var lossy = false
        var tiled: Bool
        var testDescription: String { name }
    }

    static let layouts: [Layout] = [
        Layout(name: "tiled DEFLATE uint8 x3", options: ["TILED=YES", "COMPRESS=DEFLATE"], type: .byte, bands: 3, tiled: true),
        Layout(name: "striped LZW uint16 x1", options: ["COMPRESS=LZW"], type: .uint16, bands: 1, tiled: false),
        Layout(name: "striped uncompressed float32 x4", options: [], type: .float32, bands: 4, tiled: false),
        Layout(
            name: "tiled LZW int16 x3", options: ["TILED=YES", "COMPRESS=LZW", "BLOCKXSIZE=32", "BLOCKYSIZE=32"], type: .int16, bands: 3,
            tiled: true),
        Layout(
            name: "tiled JPEG uint8 x3", options: ["TILED=YES", "COMPRESS=JPEG", "JPEG_QUALITY=95"], type: .byte, bands: 3, lossy: true,
            tiled: true),
        Layout(name: "tiled ZSTD float32 x1", options: ["TILED=YES", "COMPRESS=ZSTD"], type: .float32, bands: 1, tiled: true),
        Layout(
            name: "BigTIFF tiled DEFLATE uint8 x3", options: ["TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=YES"], type: .byte, bands: 3,
            tiled: true),
        Layout(
            name: "COG DEFLATE uint8 x3", driver: "COG", options: ["COMPRESS=DEFLATE", "BLOCKSIZE=64"], type: .byte, bands: 3, tiled: true),
    ]

    /// A smooth pattern, different per band, within every type's range.
    static func value(_ x: Int, _ y: Int, _ b: Int) -> Float { Float((x * 3 + y * 5 + b * 40) % 200) }

    @Test(arguments: layouts)
    func readsBackWhatWasWritten(_ layout: Layout) throws {
        let dir = Fixtures.temporaryDirectory("layout")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("r.tif").path
        let (w, h) = (150, 97)
        let writer = try RasterWriter(
            path: path, width: w, height: h, bandCount: layout.bands, dataType: layout.type, driver: layout.driver,
            creationOptions: layout.options, geoTransform: GeoTransform([500_000, 0.5, 0, 3_300_000, 0, -0.5]), epsg: 32617)
        var data = [Float](repeating: 0, count: w * h * layout.bands)
        for b in 0..<layout.bands { for y in 0..<h { for x in 0..<w { data[b * w * h + y * w + x] = Self.value(x, y, b) } } }
        try writer.write(window: Window(x: 0, y: 0, width: w, height: h), data: data)
        try writer.finish()

        let raster = try Raster(path: path)
        let info = raster.info
        #expect(info.width == w && info.height == h && info.bandCount == layout.bands)
        #expect(info.dataType == layout.type.rawValue)
        #expect(info.epsg == 32617)
        #expect(info.isGeoreferenced)
        #expect(abs(info.gsdMetres! - 0.5) < 1e-9)
        // Tiled files have square blocks; striped ones whole rows.
        if layout.tiled { #expect(info.blockHeight == info.blockWidth && info.blockHeight > 1) } else { #expect(info.blockWidth == w) }
        try raster.verify()

        let window = Window(x: 37, y: 11, width: 64, height: 50)
        let read = try raster.read(window: window)
        var maxError: Float = 0
        var sumError: Float = 0
        for b in 0..<layout.bands {
            for y in 0..<window.height {
                for x in 0..<window.width {
                    let got = read[b * window.width * window.height + y * window.width + x]
                    let e = abs(got - Self.value(x + window.x, y + window.y, b))
                    maxError = max(maxError, e)
                    sumError += e
                }
            }
        }
        // JPEG is lossy (ringing at the pattern's steps); every other codec gives back exactly what was written.
        if layout.lossy {
            #expect(sumError / Float(read.count) < 10, "mean error \(sumError / Float(read.count))")
        } else {
            #expect(maxError == 0, "max error \(maxError)")
        }
    }

    @Test func resampledReadAveragesBlocks() throws {
        let dir = Fixtures.temporaryDirectory("resample")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("r.tif").path
        let writer = try RasterWriter(path: path, width: 8, height: 8, bandCount: 1, dataType: .float32)
        try writer.write(window: Window(x: 0, y: 0, width: 8, height: 8), data: (0..<64).map { Float($0) })
        try writer.finish()
        let raster = try Raster(path: path)
        var out = [Float](repeating: -1, count: 16)
        try out.withUnsafeMutableBufferPointer { buf in
            try raster.read(
                x: 0, y: 0, width: 8, height: 8, outWidth: 4, outHeight: 4, bands: [1], resampling: .average,
                into: buf, offset: 0, rowStride: 4, bandStride: 16)
        }
        // Each output pixel is the mean of a 2x2 block: (v + v+1 + v+8 + v+9) / 4 = v + 4.5.
        var expected: [Float] = []
        for i in 0..<16 {
            let topLeft = (i / 4) * 16 + (i % 4) * 2
            expected.append(Float(topLeft) + 4.5)
        }
        #expect(out == expected)
    }

    @Test func rasterMissingCRSIsNotGeoreferenced() throws {
        let dir = Fixtures.temporaryDirectory("nocrs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("plain.tif").path
        var r = SyntheticRaster(width: 40, height: 30)
        r.epsg = nil
        try r.write(to: path)
        let info = try Raster(path: path).info
        #expect(!info.isGeoreferenced)
        #expect(info.gsdMetres == nil)
        #expect(info.epsg == nil)
    }
}
