import Inference
import Testing

@Suite struct TilePlanTests {
    @Test func edgeTilesShiftInward() {
        let plan = TilePlan(rasterWidth: 300, rasterHeight: 200, tileWidth: 64, tileHeight: 64, overlap: 0.2)
        // stride = floor(64 · 0.8) = 51; the last tile ends exactly at the edge.
        #expect(plan.xs == [0, 51, 102, 153, 204, 236])
        #expect(plan.ys == [0, 51, 102, 136])
        #expect(plan.count == 24)
        for i in 0..<plan.count {
            let t = plan.tile(i)
            #expect(t.validWidth == 64 && t.validHeight == 64)
            #expect(t.x + 64 <= 300 && t.y + 64 <= 200)
        }
    }

    @Test func everyPixelIsCoveredWithAtLeastTheOverlap() {
        for (length, tile, overlap) in [(1000, 512, 0.2), (513, 512, 0.0), (4096, 256, 0.5), (777, 100, 0.1)] {
            let xs = TilePlan(rasterWidth: length, rasterHeight: 1, tileWidth: tile, tileHeight: 1, overlap: overlap).xs
            #expect(xs.first == 0 && xs.last! + tile == length)
            for (a, b) in zip(xs, xs.dropFirst()) {
                #expect(b > a)
                #expect(a + tile - b >= Int((overlap * Double(tile)).rounded()), "gap between \(a) and \(b)")
            }
        }
    }

    @Test func rasterSmallerThanATileIsPadded() {
        let plan = TilePlan(rasterWidth: 40, rasterHeight: 30, tileWidth: 64, tileHeight: 64, overlap: 0.2)
        #expect(plan.count == 1)
        let t = plan.tile(0)
        #expect(t.validWidth == 40 && t.validHeight == 30)
    }

    @Test func resamplingMapsBoxesBackToRasterPixels() {
        // Raster at 0.5 m, model at 1 m: the grid is half the size.
        let plan = TilePlan(rasterWidth: 300, rasterHeight: 200, tileWidth: 64, tileHeight: 64, overlap: 0.2, scale: 0.5)
        #expect(plan.gridWidth == 150 && plan.gridHeight == 100)
        let t = plan.tile(1)
        let src = plan.sourceRect(t)
        #expect(src.x == Double(t.x) * 2 && src.width == 128)
        let b = plan.toRaster(Box(x1: 10, y1: 20, x2: 30, y2: 25), in: t)
        #expect(b == Box(x1: Double(t.x + 10) * 2, y1: 40, x2: Double(t.x + 30) * 2, y2: 50))
    }
}
