import Foundation
import GeoInferTestSupport
import GeoRaster
import Testing

/// Reduced reads of JPEG-compressed TIFFs decoded straight through libjpeg give libjpeg's scaled
/// decode, the pixels of GDAL's implicit overview of the same reduction, in every layout the direct
/// path takes; anything it does not take (or cannot decode) still goes through GDAL.
///
/// GDAL is the reference only for whole-image reads of a raster large enough to have the
/// reduction's implicit overview (GDAL offers 1/k when a side is at least 128·k pixels). For a
/// window, GDAL picks its overview by the window's ratio and may then sample a finer one (a window
/// 43 pixels wide read 6 wide is sampled from the 1/4 overview, not decoded at 1/8); the direct read
/// of a window is instead checked against the same crop of its whole-image read. In a tiled file,
/// GDAL reads the partial tiles at the right and bottom edges by sampling the tile's full-resolution
/// decode (its JPEG driver picks no overview for, say, 19 pixels read 10 wide), so there GDAL is the
/// reference only for the whole tiles; the direct read decodes the edge tiles as every other one.
@Suite struct JPEGBlocksTests {
    struct Layout: CustomStringConvertible, Sendable {
        var name: String
        var options: [String]
        var bands: Int
        /// The tile side for a tiled layout, nil for strips.
        var tile: Int? = nil
        var description: String { name }
    }

    static let layouts = [
        Layout(name: "striped YCbCr", options: ["COMPRESS=JPEG", "PHOTOMETRIC=YCBCR"], bands: 3),
        Layout(name: "striped RGB", options: ["COMPRESS=JPEG", "PHOTOMETRIC=RGB"], bands: 3),
        Layout(
            name: "tiled YCbCr", options: ["COMPRESS=JPEG", "PHOTOMETRIC=YCBCR", "TILED=YES", "BLOCKXSIZE=64", "BLOCKYSIZE=64"], bands: 3,
            tile: 64),
        Layout(name: "striped grey", options: ["COMPRESS=JPEG", "BLOCKYSIZE=16"], bands: 1),
        // One strip of the whole odd height: not a multiple of any reduction, and still read directly.
        Layout(name: "one strip YCbCr", options: ["COMPRESS=JPEG", "PHOTOMETRIC=YCBCR", "BLOCKYSIZE=389"], bands: 3),
    ]

    static func write(_ path: String, width: Int, height: Int, bands: Int, options: [String], driver: String = "GTiff") throws {
        let writer = try RasterWriter(
            path: path, width: width, height: height, bandCount: bands, dataType: .byte, driver: driver, creationOptions: options,
            geoTransform: GeoTransform([400_000, 0.05, 0, 5_000_000, 0, -0.05]), epsg: 32630)
        var rng = SplitMix(seed: 11)
        var data = [Float](repeating: 0, count: width * height * bands)
        for b in 0..<bands {
            let period = Double(7 + 3 * b)
            for y in 0..<height {
                let row = cos(Double(y) / 11)
                for x in 0..<width {
                    let wave = 80 * sin(Double(x) / period) * row
                    data[b * width * height + y * width + x] = Float(max(0, min(255, 128 + wave + rng.next(-25, 25))))
                }
            }
        }
        try writer.write(window: Window(x: 0, y: 0, width: width, height: height), data: data)
        try writer.finish()
    }

    /// `window` of `raster` reduced by `k` (libjpeg's size: divided, rounded up) through
    /// ``Raster/readBytes``, band-sequential.
    static func bytes(_ raster: Raster, _ window: Window, k: Int, bands: [Int]) throws -> (values: [UInt8], w: Int, h: Int) {
        let (ow, oh) = ((window.width + k - 1) / k, (window.height + k - 1) / k)
        var bytes = [UInt8](repeating: 0, count: ow * oh * bands.count)
        try bytes.withUnsafeMutableBufferPointer { buf in
            try raster.readBytes(
                window: window, outWidth: ow, outHeight: oh, bands: bands, into: buf, offset: 0, rowStride: ow, bandStride: ow * oh)
        }
        return (bytes, ow, oh)
    }

    /// GDAL's own Float32 read of the whole raster at `width` × `height` (nearest: GDAL reads its
    /// implicit overview of that size).
    static func gdal(_ raster: Raster, width: Int, height: Int, bands: [Int]) throws -> [Float] {
        var values = [Float](repeating: 0, count: width * height * bands.count)
        try values.withUnsafeMutableBufferPointer { buf in
            try raster.read(
                x: 0, y: 0, width: Double(raster.info.width), height: Double(raster.info.height), outWidth: width, outHeight: height,
                bands: bands, resampling: .nearest, into: buf, offset: 0, rowStride: width, bandStride: width * height)
        }
        return values
    }

    @Test(arguments: layouts)
    func reducedReadsAreLibjpegsScaledDecode(_ layout: Layout) throws {
        let dir = Fixtures.temporaryDirectory("jpegblocks")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("r.tif").path
        // Odd sizes (partial JPEG blocks at the right and bottom, a short last strip), and a side of
        // at least 1,024 so that GDAL has its 1/8 overview too.
        let (width, height) = (1043, 389)
        try Self.write(path, width: width, height: height, bands: layout.bands, options: layout.options)
        let raster = try Raster(path: path)
        #expect(raster.hasJPEGReducedDecode)
        let orders = layout.bands == 3 ? [[1, 2, 3], [3, 1, 2], [2, 2, 2]] : [[1], [1, 1, 1]]
        var rng = SplitMix(seed: 5)
        var reads = 0
        for k in [2, 4, 8] {
            let whole = Window(x: 0, y: 0, width: width, height: height)
            for bands in orders {
                let full = try Self.bytes(raster, whole, k: k, bands: bands)
                reads += 1
                #expect(raster.directJPEGReads == reads, "k=\(k) bands \(bands): the whole raster was not read directly")
                let reference = try Self.gdal(raster, width: full.w, height: full.h, bands: bands)
                // The part GDAL reads from its overview: everything, or the whole tiles.
                let (cw, ch) = layout.tile.map { (width / $0 * $0 / k, height / $0 * $0 / k) } ?? (full.w, full.h)
                var differing = 0
                for i in 0..<full.values.count where i % full.w < cw && i / full.w % full.h < ch {
                    if Float(full.values[i]) != reference[i] { differing += 1 }
                }
                #expect(
                    differing == 0, "k=\(k) bands \(bands): \(differing) of \(reference.count) pixels differ from GDAL's 1/\(k) overview")
                // Windows from corners on the reduction's grid, narrow or wide, reaching the far
                // edges or not: each the same crop of the whole read.
                for _ in 0..<10 {
                    let x = Int(rng.next(0, Double(width - 2))) / k * k
                    let y = Int(rng.next(0, Double(height - 2))) / k * k
                    let w = rng.next(0, 1) < 0.5 ? width - x : Int(rng.next(1, Double(width - x)))
                    let h = rng.next(0, 1) < 0.5 ? height - y : Int(rng.next(1, Double(height - y)))
                    let window = Window(x: x, y: y, width: w, height: h)
                    let got = try Self.bytes(raster, window, k: k, bands: bands)
                    reads += 1
                    #expect(raster.directJPEGReads == reads, "k=\(k) \(window) bands \(bands) was not read directly")
                    var crop = [UInt8]()
                    crop.reserveCapacity(got.values.count)
                    for b in 0..<bands.count {
                        for row in 0..<got.h {
                            let start = b * full.w * full.h + (y / k + row) * full.w + x / k
                            crop.append(contentsOf: full.values[start..<start + got.w])
                        }
                    }
                    let off = zip(got.values, crop).filter { $0.0 != $0.1 }.count
                    #expect(off == 0, "k=\(k) \(window) bands \(bands): \(off) of \(crop.count) pixels differ from the whole read's")
                }
            }
        }
    }

    @Test func otherSizesAndFilesGoThroughGDAL() throws {
        let dir = Fixtures.temporaryDirectory("jpegblocks")
        defer { try? FileManager.default.removeItem(at: dir) }
        let jpeg = dir.appendingPathComponent("j.tif").path
        try Self.write(jpeg, width: 200, height: 150, bands: 3, options: ["COMPRESS=JPEG"])
        let raster = try Raster(path: jpeg)
        var buf = [UInt8](repeating: 0, count: 200 * 150 * 3)
        try buf.withUnsafeMutableBufferPointer { b in
            // Full resolution, a size that is no reduction, and a corner off the reduction's grid.
            try raster.readBytes(
                window: Window(x: 0, y: 0, width: 200, height: 150), bands: [1, 2, 3], into: b, offset: 0, rowStride: 200,
                bandStride: 30_000)
            try raster.readBytes(
                window: Window(x: 0, y: 0, width: 200, height: 150), outWidth: 67, outHeight: 50, bands: [1, 2, 3], into: b, offset: 0,
                rowStride: 67, bandStride: 3_350)
            try raster.readBytes(
                window: Window(x: 3, y: 0, width: 196, height: 150), outWidth: 98, outHeight: 75, bands: [1, 2, 3], into: b, offset: 0,
                rowStride: 98, bandStride: 7_350)
        }
        #expect(raster.directJPEGReads == 0)
        let deflate = dir.appendingPathComponent("d.tif").path
        try Self.write(deflate, width: 200, height: 150, bands: 3, options: ["COMPRESS=DEFLATE"])
        let other = try Raster(path: deflate)
        try buf.withUnsafeMutableBufferPointer { b in
            try other.readBytes(
                window: Window(x: 0, y: 0, width: 200, height: 150), outWidth: 100, outHeight: 75, bands: [1, 2, 3], into: b, offset: 0,
                rowStride: 100, bandStride: 7_500)
        }
        #expect(other.directJPEGReads == 0)
    }

    /// A little-endian TIFF of one grey strip holding `strip`, a whole JPEG stream.
    static func singleStripJPEGTIFF(width: Int, height: Int, strip: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = Array("II".utf8)
        func put(_ value: Int, _ size: Int) { for i in 0..<size { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * i))) } }
        put(42, 2)
        put(8, 4)
        // Tag, type (3 SHORT, 4 LONG), value: width, height, 8 bits, JPEG, grey, the strip's offset,
        // one sample, all rows in the strip, the strip's length.
        let entries: [(Int, Int, Int)] = [
            (256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 7), (262, 3, 1), (273, 4, 8 + 2 + 9 * 12 + 4),
            (277, 3, 1), (278, 4, height), (279, 4, strip.count),
        ]
        put(entries.count, 2)
        for (tag, type, value) in entries {
            put(tag, 2)
            put(type, 2)
            put(1, 4)
            put(value, 4)
        }
        put(0, 4)
        return bytes + strip
    }

    /// A block coded as a progressive JPEG, which GDAL reads (libtiff stops one at 100 scans), is left
    /// to GDAL: the direct path decodes sequential blocks only, whose work follows from their size.
    @Test func progressiveBlocksGoThroughGDAL() throws {
        let dir = Fixtures.temporaryDirectory("jpegblocks")
        defer { try? FileManager.default.removeItem(at: dir) }
        // A 96 × 64 grey JPEG written by GDAL's JPEG driver with `options`, as the one strip of a TIFF.
        func wrapped(_ name: String, options: [String]) throws -> Raster {
            let jpeg = dir.appendingPathComponent("\(name).jpg").path
            try Self.write(jpeg, width: 96, height: 64, bands: 1, options: options, driver: "JPEG")
            let stream = try [UInt8](Data(contentsOf: URL(fileURLWithPath: jpeg)))
            let path = dir.appendingPathComponent("\(name).tif").path
            try Data(Self.singleStripJPEGTIFF(width: 96, height: 64, strip: stream)).write(to: URL(fileURLWithPath: path))
            return try Raster(path: path)
        }
        let raster = try wrapped("p", options: ["PROGRESSIVE=ON"])
        #expect(raster.hasJPEGReducedDecode)
        let got = try Self.bytes(raster, Window(x: 0, y: 0, width: 96, height: 64), k: 2, bands: [1])
        #expect(raster.directJPEGReads == 0)
        #expect(got.values.contains { $0 != 0 }, "GDAL read the progressive strip")
        // The same stream made sequential is read directly: the file itself suits the direct path.
        let other = try wrapped("s", options: [])
        _ = try Self.bytes(other, Window(x: 0, y: 0, width: 96, height: 64), k: 2, bands: [1])
        #expect(other.directJPEGReads == 1)
    }

    /// A file whose JPEG data is damaged after it was opened: the direct read refuses it and GDAL's
    /// read reports it as a typed error; nothing traps.
    @Test func damagedDataIsNeverReadDirectly() throws {
        let dir = Fixtures.temporaryDirectory("jpegblocks")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bad.tif").path
        try Self.write(path, width: 256, height: 256, bands: 3, options: ["COMPRESS=JPEG", "PHOTOMETRIC=YCBCR"])
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        // Overwrite the middle of the compressed data (past the header and directory at the start).
        for i in (bytes.count / 3)..<(bytes.count * 2 / 3) { bytes[i] = 0xFF }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        // Whether GDAL then fails or patches over the damage as libjpeg does, it is its answer
        // (or a typed error), never a direct read of a damaged block.
        guard let raster = try? Raster(path: path) else { return }
        var buf = [UInt8](repeating: 0, count: 128 * 128 * 3)
        _ = try? buf.withUnsafeMutableBufferPointer { (b) throws(RasterError) in
            try raster.readBytes(
                window: Window(x: 0, y: 0, width: 256, height: 256), outWidth: 128, outHeight: 128, bands: [1, 2, 3], into: b, offset: 0,
                rowStride: 128, bandStride: 128 * 128)
        }
        #expect(raster.directJPEGReads == 0)
    }
}
