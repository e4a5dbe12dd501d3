import GeoRaster
import Synchronization

/// The raster drawn small while its tiles are read: each tile's pixels, as read and before they are
/// normalised, are sampled (nearest) onto a picture of at most `maxSize` on its longer side, never
/// larger than the raster nor than the grid the tiles are cut from. A quicklook made this way costs
/// no read of its own.
final class PreviewCanvas: Sendable {
    private let state: Mutex<QuicklookPixels>
    /// The grid column each picture column samples, and the grid row each picture row samples.
    private let gridColumn: [Int]
    private let gridRow: [Int]
    /// Which of the tile's channels each picture plane shows.
    private let planes: [Int]

    init(plan: TilePlan, channels: Int, maxSize: Int, nodata: [Float?]) {
        let cap = min(maxSize, max(plan.gridWidth, plan.gridHeight))
        let planes = channels >= 3 ? [0, 1, 2] : [0, 0, 0]
        let pixels = QuicklookPixels(
            rasterWidth: plan.rasterWidth, rasterHeight: plan.rasterHeight, maxSize: cap,
            nodata: planes.map { nodata.indices.contains($0) ? nodata[$0] : nil })
        gridColumn = (0..<pixels.width).map {
            min(plan.gridWidth - 1, Int((Double($0) + 0.5) * Double(plan.gridWidth) / Double(pixels.width)))
        }
        gridRow = (0..<pixels.height).map {
            min(plan.gridHeight - 1, Int((Double($0) + 0.5) * Double(plan.gridHeight) / Double(pixels.height)))
        }
        self.planes = planes
        state = Mutex(pixels)
    }

    /// The picture as drawn so far (NaN where no tile has been read).
    var pixels: QuicklookPixels { state.withLock { $0 } }

    /// Copies the picture pixels that fall in `tile`'s valid part from the tile's buffer (channel
    /// planes `bandStride` floats apart, rows `rowStride` apart, starting at `offset`).
    func draw(_ tile: TilePlan.Tile, from buf: UnsafeMutableBufferPointer<Float>, offset: Int, rowStride: Int, bandStride: Int) {
        let columns = gridColumn.indices.filter { gridColumn[$0] >= tile.x && gridColumn[$0] < tile.x + tile.validWidth }
        let rows = gridRow.indices.filter { gridRow[$0] >= tile.y && gridRow[$0] < tile.y + tile.validHeight }
        guard let c0 = columns.first, let c1 = columns.last, !rows.isEmpty else { return }
        state.withLock { p in
            let plane = p.width * p.height
            p.values.withUnsafeMutableBufferPointer { out in
                for (k, ch) in planes.enumerated() {
                    for py in rows {
                        let src = offset + ch * bandStride + (gridRow[py] - tile.y) * rowStride - tile.x
                        let dst = k * plane + py * p.width
                        for px in c0...c1 { out[dst + px] = buf[src + gridColumn[px]] }
                    }
                }
            }
        }
    }
}
