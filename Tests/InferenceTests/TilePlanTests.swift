import GeoInferTestSupport
import Inference
import Testing

@Suite struct TilePlanTests {
    @Test func edgeTilesShiftInward() throws {
        let plan = try TilePlan(rasterWidth: 300, rasterHeight: 200, tileWidth: 64, tileHeight: 64, overlap: 0.2)
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

    @Test func everyPixelIsCoveredWithAtLeastTheOverlap() throws {
        for (length, tile, overlap) in [(1000, 512, 0.2), (513, 512, 0.0), (4096, 256, 0.5), (777, 100, 0.1)] {
            let xs = try TilePlan(rasterWidth: length, rasterHeight: 1, tileWidth: tile, tileHeight: 1, overlap: overlap).xs
            #expect(xs.first == 0 && xs.last! + tile == length)
            for (a, b) in zip(xs, xs.dropFirst()) {
                #expect(b > a)
                #expect(a + tile - b >= Int((overlap * Double(tile)).rounded()), "gap between \(a) and \(b)")
            }
        }
    }

    @Test func rasterSmallerThanATileIsPadded() throws {
        let plan = try TilePlan(rasterWidth: 40, rasterHeight: 30, tileWidth: 64, tileHeight: 64, overlap: 0.2)
        #expect(plan.count == 1)
        let t = plan.tile(0)
        #expect(t.validWidth == 40 && t.validHeight == 30)
    }

    @Test func resamplingMapsBoxesBackToRasterPixels() throws {
        // Raster at 0.5 m, model at 1 m: the grid is half the size.
        let plan = try TilePlan(rasterWidth: 300, rasterHeight: 200, tileWidth: 64, tileHeight: 64, overlap: 0.2, scale: 0.5)
        #expect(plan.gridWidth == 150 && plan.gridHeight == 100)
        let t = plan.tile(1)
        let src = plan.sourceRect(t)
        #expect(src.x == Double(t.x) * 2 && src.width == 128)
        let b = plan.toRaster(Box(x1: 10, y1: 20, x2: 30, y2: 25), in: t)
        #expect(b == Box(x1: Double(t.x + 10) * 2, y1: 40, x2: Double(t.x + 30) * 2, y2: 50))
    }

    /// Thousands of random and adversarial inputs (NaN, infinities, zero, negative, absurd scales):
    /// never a trap; either a typed error or a plan whose every tile lies on the grid and whose
    /// tiles cover it, within the tile limit.
    @Test func anyInputGivesAValidPlanOrAnError() {
        var rng = SplitMix(seed: 0x5EED)
        let sizes = [Int.min, -1, 0, 1, 2, 63, 64, 65, 1000, 100_000, 1 << 31, Int.max]
        let doubles = [
            -Double.infinity, -1, -0.0, 0, 1e-300, 1e-9, 0.1, 0.5, 0.99, 0.999_999, 1, 2, 1e5, 1e30, .infinity, .nan,
            .greatestFiniteMagnitude, .leastNonzeroMagnitude,
        ]
        var planned = 0
        var refused = 0
        for _ in 0..<5000 {
            func size() -> Int { rng.index() % 3 == 0 ? sizes[rng.index() % sizes.count] : 1 + rng.index() % 5000 }
            func fraction() -> Double { rng.index() % 3 == 0 ? doubles[rng.index() % doubles.count] : Double(rng.index() % 1000) / 1000 }
            func factor() -> Double { rng.index() % 3 == 0 ? doubles[rng.index() % doubles.count] : Double(1 + rng.index() % 400) / 100 }
            let (w, h, tw, th) = (size(), size(), rng.index() % 2 == 0 ? 64 : size(), rng.index() % 2 == 0 ? 64 : size())
            let overlap = fraction()
            let scale = factor()
            do {
                let plan = try TilePlan(
                    rasterWidth: w, rasterHeight: h, tileWidth: tw, tileHeight: th, overlap: overlap, scale: scale,
                    maxGridPixels: 1 << 26)
                planned += 1
                #expect(plan.count >= 1 && plan.count <= TilePlan.maxTiles)
                #expect(plan.gridWidth * plan.gridHeight <= 1 << 26)
                for axis in [(plan.xs, plan.gridWidth, tw), (plan.ys, plan.gridHeight, th)] {
                    let (starts, length, tile) = axis
                    #expect(starts.first == 0 && starts == starts.sorted())
                    // Covered to the edge, never past it (only a grid smaller than a tile is padded).
                    #expect(length <= tile ? starts == [0] : starts.last == length - tile)
                    #expect(zip(starts, starts.dropFirst()).allSatisfy { $1 - $0 <= tile })
                }
            } catch {
                refused += 1
                #expect(!error.description.isEmpty)
            }
        }
        // Both paths were exercised.
        #expect(planned > 1000 && refused > 100, "planned \(planned), refused \(refused)")
    }

    /// The reported cases: a 64 × 64 raster whose pixels are 1e4 m or 1e30 m, for a 0.1 m model.
    @Test func absurdPixelSizesAreRefusedNotPlanned() {
        for scale in [1e5, 1e31, Double.infinity, .nan, 0, -1] {
            #expect(throws: InferenceError.self) {
                try TilePlan(rasterWidth: 64, rasterHeight: 64, tileWidth: 64, tileHeight: 64, overlap: 0.1, scale: scale)
            }
        }
        // Within the grid limit but past the tile limit.
        #expect(throws: InferenceError.self) {
            try TilePlan(rasterWidth: 100_000, rasterHeight: 100_000, tileWidth: 64, tileHeight: 64, overlap: 0.99)
        }
    }
}
