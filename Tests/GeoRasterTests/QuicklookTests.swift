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
        let tif = dir.appendingPathComponent("s.tif").path, png = dir.appendingPathComponent("s.png").path
        try SyntheticRaster(width: 300, height: 200).write(to: tif)
        let size = try Quicklook.write(raster: Raster(path: tif), bands: [1, 2, 3],
                                       boxes: [QuicklookBox(x1: 40, y1: 30, x2: 100, y2: 80, classIndex: 0),
                                               QuicklookBox(x1: 150, y1: 100, x2: 200, y2: 150, classIndex: 1)], to: png)
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
        let tif = dir.appendingPathComponent("big.tif").path, png = dir.appendingPathComponent("big.png").path
        try SyntheticRaster(width: 3000, height: 2000).write(to: tif)
        let size = try Quicklook.write(raster: Raster(path: tif), bands: [1, 2, 3],
                                       boxes: [QuicklookBox(x1: 900, y1: 600, x2: 1500, y2: 1200, classIndex: 0)], to: png, maxSize: 1024)
        #expect(size == (1024, 683))
        // 900 × 1024/3000 = 307.2 → column 307, rows 204.8…409.6.
        #expect(try rgb(png, 307, 300) == [255, 0, 0])
        #expect(try rgb(png, 400, 204) == [255, 0, 0])
        #expect(try rgb(png, 400, 300) != [255, 0, 0])
    }

    @Test func singleBandShowsAsGrey() throws {
        let dir = Fixtures.temporaryDirectory("ql")
        let tif = dir.appendingPathComponent("g.tif").path, png = dir.appendingPathComponent("g.png").path
        var r = SyntheticRaster(width: 64, height: 64)
        r.bands = 1
        try r.write(to: tif)
        try Quicklook.write(raster: Raster(path: tif), bands: [1], boxes: [], to: png)
        let px = try rgb(png, 10, 10)
        #expect(px[0] == px[1] && px[1] == px[2])
    }
}
