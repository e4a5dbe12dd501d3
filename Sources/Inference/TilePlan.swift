/// How a raster is cut into model-sized tiles. Pure geometry, testable without GDAL.
///
/// The raster is first brought to the model's ground sample distance (its "grid": `gridWidth` ×
/// `gridHeight`, `scaleX`/`scaleY` grid pixels per raster pixel, 1 when no resampling is needed).
/// Tiles of the model's input size step across the grid with the requested overlap; the last tile
/// in each row and column is shifted inward to end exactly at the edge, so nothing at the border
/// is lost and no tile runs past the raster (only a raster smaller than one tile is padded).
public struct TilePlan: Sendable, Equatable {
    public struct Tile: Sendable, Equatable {
        /// Position in plan order (row-major).
        public let index: Int
        /// Top-left corner on the grid.
        public let x: Int
        public let y: Int
        /// The part of the tile that holds raster data (less than the tile only when the grid is smaller).
        public let validWidth: Int
        public let validHeight: Int
    }

    public let rasterWidth: Int
    public let rasterHeight: Int
    public let gridWidth: Int
    public let gridHeight: Int
    public let tileWidth: Int
    public let tileHeight: Int
    public let scaleX: Double
    public let scaleY: Double
    public let xs: [Int]
    public let ys: [Int]

    /// Plans tiles of `tileWidth` × `tileHeight` with `overlap` (fraction of the tile, 0 ≤ overlap < 1)
    /// over a raster of `rasterWidth` × `rasterHeight`, resampled by `scale` (grid px per raster px).
    public init(rasterWidth: Int, rasterHeight: Int, tileWidth: Int, tileHeight: Int, overlap: Double, scale: Double = 1) {
        precondition(rasterWidth > 0 && rasterHeight > 0 && tileWidth > 0 && tileHeight > 0)
        precondition(overlap >= 0 && overlap < 1 && scale > 0)
        self.rasterWidth = rasterWidth
        self.rasterHeight = rasterHeight
        self.tileWidth = tileWidth
        self.tileHeight = tileHeight
        gridWidth = max(1, Int((Double(rasterWidth) * scale).rounded()))
        gridHeight = max(1, Int((Double(rasterHeight) * scale).rounded()))
        scaleX = Double(gridWidth) / Double(rasterWidth)
        scaleY = Double(gridHeight) / Double(rasterHeight)
        xs = TilePlan.starts(length: gridWidth, tile: tileWidth, overlap: overlap)
        ys = TilePlan.starts(length: gridHeight, tile: tileHeight, overlap: overlap)
    }

    /// Tile origins along one axis: 0, stride, 2·stride, … and a last one at `length - tile`.
    static func starts(length: Int, tile: Int, overlap: Double) -> [Int] {
        guard length > tile else { return [0] }
        // floor(tile · (1 − overlap)): the overlap is never less than asked for.
        let stride = max(1, Int((Double(tile) * (1 - overlap)).rounded(.down)))
        var result = Array(Swift.stride(from: 0, to: length - tile, by: stride))
        result.append(length - tile)
        return result
    }

    public var count: Int { xs.count * ys.count }

    public func tile(_ index: Int) -> Tile {
        let x = xs[index % xs.count], y = ys[index / xs.count]
        return Tile(index: index, x: x, y: y, validWidth: min(tileWidth, gridWidth - x), validHeight: min(tileHeight, gridHeight - y))
    }

    /// The raster-pixel rectangle a tile's valid part covers (fractional when resampling).
    public func sourceRect(_ t: Tile) -> (x: Double, y: Double, width: Double, height: Double) {
        (Double(t.x) / scaleX, Double(t.y) / scaleY, Double(t.validWidth) / scaleX, Double(t.validHeight) / scaleY)
    }

    /// Maps a box in a tile's input pixels to the original raster's pixels.
    public func toRaster(_ b: Box, in t: Tile) -> Box {
        Box(x1: (b.x1 + Double(t.x)) / scaleX, y1: (b.y1 + Double(t.y)) / scaleY,
            x2: (b.x2 + Double(t.x)) / scaleX, y2: (b.y2 + Double(t.y)) / scaleY)
    }
}
