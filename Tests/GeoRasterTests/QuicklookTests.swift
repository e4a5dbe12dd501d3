import Foundation
import GeoInferTestSupport
import GeoRaster
import Testing

@Suite struct QuicklookTests {
    func rgb(_ png: String, _ x: Int, _ y: Int) throws -> [Float] {
        try Raster(path: png).read(window: Window(x: x, y: y, width: 1, height: 1))
    }

    @Test func drawsBoxesAtFullSizeForSmallRasters() throws {
        let dir = Fixtures.temporaryDirectory("ql")
        let tif = dir.appendingPathComponent("s.tif").path
        let png = dir.appendingPathComponent("s.png").path
        try SyntheticRaster(width: 300, height: 200).write(to: tif)
        let size = try Quicklook.write(
            raster: Raster(path: tif), bands: [1, 2, 3],
            boxes: [
                QuicklookBox(x1: 40, y1: 30, x2: 100, y2: 80, classIndex: 0),
                QuicklookBox(x1: 150, y1: 100, x2: 200, y2: 150, classIndex: 1),
            ], to: png)
        #expect(size == (300, 200))
        let written = try Raster(path: png)
        #expect(written.info.driver == "PNG" && written.info.width == 300 && written.info.height == 200 && written.info.bandCount == 3)
        #expect(try rgb(png, 40, 30) == [255, 0, 0])
        #expect(try rgb(png, 100, 55) == [255, 0, 0])
        #expect(try rgb(png, 175, 150) == [0, 255, 255])
        #expect(try rgb(png, 70, 55) != [255, 0, 0], "inside the box is the image, not the outline")
    }

    @Test func downsamplesLargeRastersAndScalesBoxes() throws {
        let dir = Fixtures.temporaryDirectory("ql")
        let tif = dir.appendingPathComponent("big.tif").path
        let png = dir.appendingPathComponent("big.png").path
        try SyntheticRaster(width: 3000, height: 2000).write(to: tif)
        let size = try Quicklook.write(
            raster: Raster(path: tif), bands: [1, 2, 3],
            boxes: [QuicklookBox(x1: 900, y1: 600, x2: 1500, y2: 1200, classIndex: 0)], to: png, maxSize: 1024)
        #expect(size == (1024, 683))
        // 900 × 1024/3000 = 307.2 → column 307, rows 204.8…409.6.
        #expect(try rgb(png, 307, 300) == [255, 0, 0])
        #expect(try rgb(png, 400, 204) == [255, 0, 0])
        #expect(try rgb(png, 400, 300) != [255, 0, 0])
    }

    /// The cheap read of a JPEG-compressed GeoTIFF (libjpeg's scaled decode, bytes averaged here)
    /// gives the picture GDAL's average gives, to within the JPEG's own error, at the same size; a
    /// raster it does not apply to (DEFLATE) is read the usual way.
    @Test(arguments: [(1041, 1041, 384), (2000, 700, 384), (900, 500, 128)])
    func fastReadOfAJPEGTiffMatchesTheAverage(width: Int, height: Int, maxSize: Int) async throws {
        let dir = Fixtures.temporaryDirectory("ql-fast")
        let plain = dir.appendingPathComponent("plain.tif").path
        let jpeg = dir.appendingPathComponent("jpeg.tif").path
        var scene = SyntheticRaster(width: width, height: height)
        scene.markers = [Marker(x: width / 3, y: height / 3, width: width / 5, height: height / 5)]
        try scene.write(to: plain)
        let made = try await Fixtures.run(
            "/usr/bin/gdal_translate", ["-q", "-co", "COMPRESS=JPEG", "-co", "PHOTOMETRIC=YCBCR", "-co", "JPEG_QUALITY=95", plain, jpeg])
        try #require(made.status == 0, "\(made.stderr)")
        let raster = try Raster(path: jpeg)
        #expect(raster.hasJPEGReducedDecode)
        let fast = try Quicklook.readFast(raster: raster, bands: [1, 2, 3], maxSize: maxSize)
        let slow = try Quicklook.read(raster: raster, bands: [1, 2, 3], maxSize: maxSize)
        #expect(fast.width == slow.width && fast.height == slow.height && fast.values.count == slow.values.count)
        let meanError = zip(fast.values, slow.values).map { abs($0 - $1) }.reduce(0, +) / Float(max(1, fast.values.count))
        #expect(meanError < 4, "mean difference \(meanError) of 255")
        #expect(fast.values != slow.values, "the JPEG's scaled decode was used, not GDAL's average")
        let fallback = try Quicklook.readFast(raster: Raster(path: plain), bands: [1, 2, 3], maxSize: maxSize)
        let plainSlow = try Quicklook.read(raster: Raster(path: plain), bands: [1, 2, 3], maxSize: maxSize)
        #expect(fallback.values == plainSlow.values)
    }

    @Test func singleBandShowsAsGrey() throws {
        let dir = Fixtures.temporaryDirectory("ql")
        let tif = dir.appendingPathComponent("g.tif").path
        let png = dir.appendingPathComponent("g.png").path
        var r = SyntheticRaster(width: 64, height: 64)
        r.bands = 1
        try r.write(to: tif)
        try Quicklook.write(raster: Raster(path: tif), bands: [1], boxes: [], to: png)
        let px = try rgb(png, 10, 10)
        #expect(px[0] == px[1] && px[1] == px[2])
    }

    /// The thumbnail is the quicklook without its boxes, at most 128 px: a left half of one value and
    /// a right half of another stay exactly those values away from the seam, and no box is drawn.
    @Test func thumbnailIsTheQuicklookSmallWithoutBoxes() throws {
        let dir = Fixtures.temporaryDirectory("thumb")
        defer { try? FileManager.default.removeItem(at: dir) }
        var pixels = QuicklookPixels(rasterWidth: 1000, rasterHeight: 500, maxSize: 512)
        let (w, h) = (pixels.width, pixels.height)
        #expect((w, h) == (512, 256))
        for b in 0..<3 {
            for y in 0..<h {
                for x in 0..<w { pixels.values[b * w * h + y * w + x] = x < w / 2 ? 10 : 200 }
            }
        }
        let look = dir.appendingPathComponent("q.png").path
        let thumb = dir.appendingPathComponent("t.png").path
        try Quicklook.write(pixels, boxes: [QuicklookBox(x1: 100, y1: 100, x2: 300, y2: 300, classIndex: 0)], to: look, thumbnail: thumb)
        let t = try Raster(path: thumb)
        #expect(t.info.width == 128 && t.info.height == 64)
        // The box shows in the quicklook (red outline) but not in the thumbnail.
        #expect(try rgb(look, Int(100 * 0.512), 80) == [255, 0, 0])
        let left = try rgb(thumb, 10, 30)
        let right = try rgb(thumb, 120, 30)
        #expect(left[0] == left[1] && left[1] == left[2] && right[0] == right[1])
        #expect(left[0] < right[0])
        // Away from the seam each half is one flat value: averaging never blurs a flat area.
        #expect(try (0..<60).allSatisfy { try rgb(thumb, $0, 20) == left })
        #expect(try (68..<128).allSatisfy { try rgb(thumb, $0, 50) == right })
    }
}
