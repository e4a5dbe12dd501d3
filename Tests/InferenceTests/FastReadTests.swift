import Foundation
import GeoInferTestSupport
import GeoRaster
import Testing

@testable import Inference

/// The 8-bit read path (bytes at full or JPEG-reduced resolution, area-averaged here) and the
/// quicklook drawn from the tiles as they are read.
@Suite struct FastReadTests {
    /// A manifest that passes pixels through unchanged (scale 1, mean 0, std 1), at 0.1 m.
    static let identity = ModelManifest(
        name: "identity", version: "1", classes: ["x"], inputWidth: 512, inputHeight: 512,
        bandOrder: [1, 2, 3], normalization: .init(scale: 1, mean: [0, 0, 0], std: [1, 1, 1]),
        gsdMetres: 0.1, outputLayout: .yolo)

    /// A textured 8-bit RGB raster, `side` × `side` at `gsd` m: smooth waves plus seeded noise, so
    /// every resampler has something to get wrong.
    static func textured(_ path: String, side: Int, gsd: Double, options: [String], seed: UInt64 = 7, constant: Float? = nil) throws {
        var rng = SplitMix(seed: seed)
        let writer = try RasterWriter(
            path: path, width: side, height: side, bandCount: 3, dataType: .byte, creationOptions: options,
            geoTransform: GeoTransform([400_000, gsd, 0, 5_000_000, 0, -gsd]), epsg: 32630)
        var data = [Float](repeating: 0, count: side * side * 3)
        for b in 0..<3 {
            for y in 0..<side {
                for x in 0..<side {
                    let wave = 90 * sin(Double(x) / Double(9 + 4 * b)) * cos(Double(y) / 13)
                    data[b * side * side + y * side + x] = constant ?? Float(max(0, min(255, 128 + wave + rng.next(-30, 30))))
                }
            }
        }
        try writer.write(window: Window(x: 0, y: 0, width: side, height: side), data: data)
        try writer.finish()
    }

    /// Tile 0 of `path` as the tile reader reads it (raw values: the identity manifest), and as
    /// GDAL's own `average` read gives it, over the tile's valid part.
    static func tileAndGDAL(_ path: String) throws -> (reader: TileReader, ours: [Float], gdal: [Float], valid: (Int, Int)) {
        let raster = try Raster(path: path)
        let scale = TileReader.scale(for: identity, info: raster.info).scale
        let plan = try TilePlan(
            rasterWidth: raster.info.width, rasterHeight: raster.info.height, tileWidth: 512, tileHeight: 512,
            overlap: 0.2, scale: scale)
        let reader = TileReader(raster: raster, plan: plan, manifest: identity, bands: [1, 2, 3], skipBlank: false)
        let tile = plan.tile(0)
        let batch = try reader.read([tile][...])
        let input = try #require(batch.input)
        var ours: [Float] = []
        var gdal = [Float](repeating: 0, count: 3 * tile.validWidth * tile.validHeight)
        for c in 0..<3 {
            for y in 0..<tile.validHeight {
                let row = c * 512 * 512 + y * 512
                ours += input.values[row..<(row + tile.validWidth)]
            }
        }
        let src = plan.sourceRect(tile)
        let other = try Raster(path: path)
        try gdal.withUnsafeMutableBufferPointer { buf in
            try other.read(
                x: src.x, y: src.y, width: src.width, height: src.height, outWidth: tile.validWidth, outHeight: tile.validHeight,
                bands: [1, 2, 3], resampling: .average, into: buf, offset: 0, rowStride: tile.validWidth,
                bandStride: tile.validWidth * tile.validHeight)
        }
        return (reader, ours, gdal, (tile.validWidth, tile.validHeight))
    }

    static func differences(_ a: [Float], _ b: [Float]) -> (mean: Float, max: Float) {
        let d = zip(a, b).map { abs($0 - $1) }
        return (d.reduce(0, +) / Float(max(1, d.count)), d.max() ?? 0)
    }

    @Test func tapsAreAreaWeightsThatSumToOneAndStayInTheWindow() {
        var rng = SplitMix(seed: 16)
        for _ in 0..<2_000 {
            let windowStart = Int(rng.next(0, 5_000))
            let windowLength = Int(rng.next(1, 3_000))
            let origin = Double(windowStart) + rng.next(0, 0.999)
            let length = rng.next(0.001, Double(windowStart + windowLength) - origin)
            let outLength = max(1, Int(rng.next(1, max(1.5, length * rng.next(0.1, 1.5)))))
            let taps = AreaResampler.taps(
                origin: origin, length: length, outLength: outLength, windowStart: windowStart, windowLength: windowLength)
            #expect(taps.start.count == outLength)
            let step = length / Double(outLength)
            for o in 0..<outLength {
                let w = taps.weights[(o * taps.count)..<((o + 1) * taps.count)]
                #expect(w.reduce(0, +) == AreaResampler.one, "output \(o): weights \(Array(w))")
                #expect(w.allSatisfy { $0 >= 0 })
                #expect(taps.start[o] >= 0 && taps.start[o] + taps.count <= windowLength)
                // Each weight is the share of the source pixel the output pixel covers, to a step.
                let a = origin + Double(o) * step
                let b = a + step
                for k in 0..<taps.count {
                    let p = Double(windowStart + taps.start[o] + k)
                    let cover = max(0, min(b, p + 1) - max(a, p)) / step
                    #expect(
                        abs(Double(w[w.startIndex + k]) / Double(AreaResampler.one) - cover) <= 1.0001 / Double(AreaResampler.one),
                        "origin \(origin) length \(length) out \(outLength) output \(o) tap \(k)")
                }
            }
        }
    }

    @Test func aConstantAreaStaysExactlyConstant() {
        var rng = SplitMix(seed: 17)
        for _ in 0..<200 {
            let (w, h) = (Int(rng.next(2, 300)), Int(rng.next(2, 300)))
            let (ow, oh) = (max(1, Int(Double(w) * rng.next(0.12, 1))), max(1, Int(Double(h) * rng.next(0.12, 1))))
            let value = UInt8(Int(rng.next(0, 256)))
            let resampler = AreaResampler(
                columns: AreaResampler.taps(origin: 0, length: Double(w), outLength: ow, windowStart: 0, windowLength: w),
                rows: AreaResampler.taps(origin: 0, length: Double(h), outLength: oh, windowStart: 0, windowLength: h),
                sourceWidth: w, sourceHeight: h)
            let source = [UInt8](repeating: value, count: w * h)
            var out = [Float](repeating: -1, count: ow * oh)
            var scratch = [Int32](repeating: 0, count: w)
            source.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { o in
                    scratch.withUnsafeMutableBufferPointer {
                        resampler.resample(s.baseAddress!, into: o.baseAddress!, rowStride: ow, scratch: $0.baseAddress!)
                    }
                }
            }
            #expect(out.allSatisfy { $0 == Float(value) }, "\(w)x\(h) → \(ow)x\(oh) of \(value)")
        }
    }

    /// A window of one value a band is filled with it, as resampling it gives exactly (above):
    /// the tile's valid part holds each band's value, its padding 0.
    @Test func aWindowOfOneValueABandIsFilledWithIt() throws {
        let dir = Fixtures.temporaryDirectory("fastread")
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, options, value) in [
            ("deflate.tif", ["TILED=YES", "COMPRESS=DEFLATE"], Float(37)), ("jpeg.tif", ["COMPRESS=JPEG", "PHOTOMETRIC=YCBCR"], 255),
        ] {
            let tif = dir.appendingPathComponent(name).path
            try Self.textured(tif, side: 1041, gsd: 0.048, options: options, constant: value)
            let (reader, ours, _, valid) = try Self.tileAndGDAL(tif)
            #expect(reader.readsBytes)
            #expect(valid == (500, 500))
            #expect(ours.count == 3 * 500 * 500 && ours.allSatisfy { $0 == value }, "\(name): \(Set(ours).sorted().prefix(5))")
            let raster = try Raster(path: tif)
            let plan = try TilePlan(rasterWidth: 1041, rasterHeight: 1041, tileWidth: 512, tileHeight: 512, overlap: 0.2, scale: 0.48)
            let input = try #require(
                try TileReader(raster: raster, plan: plan, manifest: Self.identity, bands: [1, 2, 3], skipBlank: false)
                    .read([plan.tile(0)][...]).input)
            for c in 0..<3 {
                for y in 0..<512 {
                    let row = input.values[(c * 512 * 512 + y * 512)..<(c * 512 * 512 + y * 512 + 512)]
                    #expect(row.enumerated().allSatisfy { x, v in x < 500 && y < 500 ? v == value : v == 0 }, "\(name) band \(c) row \(y)")
                }
            }
        }
        let bytes: [UInt8] = [5, 5, 5, 9, 9, 9, 1, 1, 2]
        bytes.withUnsafeBufferPointer {
            #expect(TileReader.constantPlanes($0, plane: 3, count: 2) == [5, 9])
            #expect(TileReader.constantPlanes($0, plane: 3, count: 3) == nil)
            #expect(TileReader.constantPlanes($0, plane: 3, count: 4) == nil)
        }
    }

    @Test func theBytePathMatchesGDALsAverage() throws {
        let dir = Fixtures.temporaryDirectory("fastread")
        let tif = dir.appendingPathComponent("deflate.tif").path
        try Self.textured(tif, side: 1041, gsd: 0.048, options: ["TILED=YES", "COMPRESS=DEFLATE"])
        let (reader, ours, gdal, valid) = try Self.tileAndGDAL(tif)
        #expect(reader.readsBytes && reader.decodeReduction == 1)
        #expect(valid == (500, 500))
        let d = Self.differences(ours, gdal)
        // Within a grey level everywhere: GDAL weighs the pixels cut by a fractional window a little
        // differently (its `average` is not an exact area average), which the tap test above pins down.
        #expect(d.mean < 0.5, "mean \(d.mean) max \(d.max)")
        #expect(d.max < 2, "mean \(d.mean) max \(d.max)")
    }

    @Test func jpegTilesAreDecodedAtHalfSizeAndStayCloseToTheFullAverage() throws {
        let dir = Fixtures.temporaryDirectory("fastread")
        let tif = dir.appendingPathComponent("jpeg.tif").path
        try Self.textured(tif, side: 1041, gsd: 0.048, options: ["COMPRESS=JPEG", "PHOTOMETRIC=YCBCR", "JPEG_QUALITY=90"])
        let (reader, ours, gdal, _) = try Self.tileAndGDAL(tif)
        #expect(reader.readsBytes && reader.decodeReduction == 2)
        let d = Self.differences(ours, gdal)
        // libjpeg's half-size decode filters the noise differently from a box average of the full
        // decode, by a few grey levels a pixel; the picture's brightness is the same.
        #expect(d.mean < 5, "mean \(d.mean) max \(d.max)")
        let brightness = (ours.reduce(0, +) / Float(ours.count), gdal.reduce(0, +) / Float(gdal.count))
        #expect(abs(brightness.0 - brightness.1) < 0.5, "\(brightness)")
        // A blank JPEG tile stays blank, so it is still skipped.
        let blank = dir.appendingPathComponent("blank.tif").path
        try Self.textured(blank, side: 1041, gsd: 0.048, options: ["COMPRESS=JPEG", "PHOTOMETRIC=YCBCR"], constant: 255)
        let raster = try Raster(path: blank)
        let plan = try TilePlan(rasterWidth: 1041, rasterHeight: 1041, tileWidth: 512, tileHeight: 512, overlap: 0.2, scale: 0.48)
        let skipping = TileReader(raster: raster, plan: plan, manifest: Self.identity, bands: [1, 2, 3], skipBlank: true)
        #expect(skipping.decodeReduction == 2)
        #expect(try skipping.read([plan.tile(0)][...]).skipped == 1)
    }

    @Test func rastersGDALShouldReadItselfKeepItsPath() throws {
        let dir = Fixtures.temporaryDirectory("fastread")
        // 16-bit, nodata, upsampling, or overviews: GDAL resamples (the byte path would be wrong or slower).
        let cases: [(String, [String], (inout SyntheticRaster) -> Void)] = [
            (
                "u16.tif", ["TILED=YES"],
                {
                    $0.dataType = .uint16
                    $0.pixelSize = 0.048
                }
            ),
            (
                "nodata.tif", ["TILED=YES"],
                {
                    $0.nodata = 0
                    $0.pixelSize = 0.048
                }
            ),
            ("coarse.tif", ["TILED=YES"], { $0.pixelSize = 0.2 }),
        ]
        for (name, options, configure) in cases {
            let path = dir.appendingPathComponent(name).path
            var r = SyntheticRaster(width: 300, height: 300)
            r.creationOptions = options
            configure(&r)
            try r.write(to: path)
            let raster = try Raster(path: path)
            let plan = try TilePlan(
                rasterWidth: 300, rasterHeight: 300, tileWidth: 512, tileHeight: 512, overlap: 0.2,
                scale: TileReader.scale(for: Self.identity, info: raster.info).scale)
            #expect(
                !TileReader(raster: raster, plan: plan, manifest: Self.identity, bands: [1, 2, 3], skipBlank: true).readsBytes, "\(name)")
        }
    }

    @Test func theQuicklookIsDrawnFromTheTilesOfEveryPartOfTheRaster() async throws {
        let dir = Fixtures.temporaryDirectory("fastread")
        // 3000 × 2000 at the `boxes` model's 1 m: thousands of small tiles; the picture is 512 × 341
        // and every pixel of it comes from some tile.
        let tif = dir.appendingPathComponent("wide.tif").path
        var r = SyntheticRaster(width: 3000, height: 2000)
        r.background = 90
        r.markers = [Marker(x: 1500, y: 1000, score: 200, width: 40, height: 40)]
        r.markerBlock = 4
        try r.write(to: tif)
        let detector = try await Run.detector("boxes")
        let out = try await detector.run(path: tif, quicklook: 512)
        let pixels = try #require(out.quicklook)
        #expect(pixels.width == 512 && pixels.height == 341)
        #expect(pixels.values.allSatisfy { !$0.isNaN }, "every picture pixel was drawn")
        // Its grey levels agree with GDAL's own reduced read of the raster.
        let reference = try Quicklook.read(raster: Raster(path: tif), bands: [1, 2, 3], maxSize: 512)
        #expect(reference.width == pixels.width && reference.height == pixels.height)
        let d = Self.differences(pixels.values, reference.values)
        #expect(d.mean < 2, "mean \(d.mean) max \(d.max)")
        // Written as a JPEG: small, at most 512 px.
        let jpg = dir.appendingPathComponent("wide.jpg").path
        let size = try Quicklook.write(
            pixels,
            boxes: out.result.detections.map {
                QuicklookBox(
                    x1: $0.detection.box.x1, y1: $0.detection.box.y1, x2: $0.detection.box.x2, y2: $0.detection.box.y2, classIndex: 0)
            }, to: jpg)
        #expect(size == (512, 341))
        let written = try Raster(path: jpg).info
        #expect(written.driver == "JPEG" && written.width == 512)
        #expect((try FileManager.default.attributesOfItem(atPath: jpg)[.size] as? Int ?? .max) < 100_000)
        // No picture when none is asked for.
        #expect(try await detector.run(path: tif, quicklook: nil).quicklook == nil)
    }
}
