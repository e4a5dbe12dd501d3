/// How a raster is cut into model-sized tiles. Pure geometry, testable without GDAL.
///
/// The raster is first brought to the model's ground sample distance (its "grid": `gridWidth` ×
/// `gridHeight`, `scaleX`/`scaleY` grid pixels per raster pixel, 1 when no resampling is needed).
/// Tiles of the model's input size step across the grid with the requested overlap; the last tile
/// in each row and column is shifted inward to end exactly at the edge, so nothing at the border
/// is lost and no tile runs past the raster (only a raster smaller than one tile is padded).
public struct TilePlan: Sendable, Equatable {
    /// One tile of a plan: where it lies on the grid and how much of it holds raster data.
    public struct Tile: Sendable, Equatable {
        /// Position in plan order (row-major).
        public let index: Int
        /// Left edge on the grid, in grid pixels; (`x`, `y`) is the tile's top-left corner.
        public let x: Int
        /// Top edge on the grid, in grid pixels.
        public let y: Int
        /// Columns of the tile that hold raster data: `tileWidth`, less only when the grid is narrower than a tile
        /// (the rest is padding).
        public let validWidth: Int
        /// Rows of the tile that hold raster data: `tileHeight`, less only when the grid is shorter than a tile.
        public let validHeight: Int
    }

    /// The raster's width in its own pixels.
    public let rasterWidth: Int
    /// The raster's height in its own pixels.
    public let rasterHeight: Int
    /// The raster's width at the model's resolution, in grid pixels (`rasterWidth` × scale, rounded, at least 1).
    public let gridWidth: Int
    /// The raster's height at the model's resolution, in grid pixels (`rasterHeight` × scale, rounded, at least 1).
    public let gridHeight: Int
    /// Width of every tile on the grid, in pixels: the model's input width.
    public let tileWidth: Int
    /// Height of every tile on the grid, in pixels: the model's input height.
    public let tileHeight: Int
    /// Grid pixels per raster pixel across: `gridWidth` / `rasterWidth` (1 when not resampled).
    public let scaleX: Double
    /// Grid pixels per raster pixel down: `gridHeight` / `rasterHeight` (1 when not resampled).
    public let scaleY: Double
    /// Left edges of the tile columns on the grid, ascending; the last is `gridWidth - tileWidth`, or 0 when the
    /// grid is no wider than a tile.
    public let xs: [Int]
    /// Top edges of the tile rows on the grid, ascending; the last is `gridHeight - tileHeight`, or 0 when the
    /// grid is no taller than a tile.
    public let ys: [Int]

    /// Tiles one plan may hold (4,194,304): a 10-gigapixel raster in 64-pixel tiles fits; a
    /// raster whose geotransform says its pixels are kilometres wide does not.
    public static let maxTiles = 1 << 22

    /// Plans tiles of `tileWidth` × `tileHeight` with `overlap` (fraction of the tile, 0 ≤ overlap < 1)
    /// over a raster of `rasterWidth` × `rasterHeight`, resampled by `scale` (grid px per raster px).
    /// Throws when an argument is out of range, or when the resampled grid holds more than
    /// `maxGridPixels` pixels or the plan more than ``maxTiles`` tiles: what the model would be fed,
    /// not the raster's own size, bounds the work.
    public init(
        rasterWidth: Int, rasterHeight: Int, tileWidth: Int, tileHeight: Int, overlap: Double, scale: Double = 1,
        maxGridPixels: Int = 10_000_000_000
    ) throws(InferenceError) {
        guard rasterWidth > 0, rasterHeight > 0 else {
            throw .plan("the raster is \(rasterWidth) × \(rasterHeight) pixels: nothing to tile")
        }
        guard tileWidth > 0, tileHeight > 0 else { throw .plan("the model's input is \(tileWidth) × \(tileHeight) pixels") }
        guard overlap.isFinite, overlap >= 0, overlap < 1 else {
            throw .plan("overlap must be at least 0 and less than 1 (got \(overlap))")
        }
        guard scale.isFinite, scale > 0 else { throw .plan("the resampling factor to the model's resolution is \(scale)") }
        // In Double first: an absurd pixel size must not overflow Int on the way.
        let w = max(1, (Double(rasterWidth) * scale).rounded())
        let h = max(1, (Double(rasterHeight) * scale).rounded())
        guard w * h <= Double(maxGridPixels) else {
            throw .plan(
                "resampled to the model's resolution the raster would be \(Self.count(w)) × \(Self.count(h)) pixels, more than the limit of \(maxGridPixels)"
            )
        }
        self.rasterWidth = rasterWidth
        self.rasterHeight = rasterHeight
        self.tileWidth = tileWidth
        self.tileHeight = tileHeight
        gridWidth = Int(w)
        gridHeight = Int(h)
        scaleX = Double(gridWidth) / Double(rasterWidth)
        scaleY = Double(gridHeight) / Double(rasterHeight)
        let across = TilePlan.startCount(length: gridWidth, tile: tileWidth, overlap: overlap)
        let down = TilePlan.startCount(length: gridHeight, tile: tileHeight, overlap: overlap)
        let (tiles, overflow) = across.multipliedReportingOverflow(by: down)
        guard !overflow, tiles <= Self.maxTiles else {
            throw .plan("the raster would be cut into \(across) × \(down) tiles, more than the limit of \(Self.maxTiles) a file")
        }
        xs = TilePlan.starts(length: gridWidth, tile: tileWidth, overlap: overlap)
        ys = TilePlan.starts(length: gridHeight, tile: tileHeight, overlap: overlap)
    }

    /// A pixel count as people read it (no exponent for any size a raster can have).
    private static func count(_ v: Double) -> String { v < 1e15 ? String(Int(v)) : "\(v)" }

    /// How many origins ``starts(length:tile:overlap:)`` gives, without building them.
    static func startCount(length: Int, tile: Int, overlap: Double) -> Int {
        guard length > tile else { return 1 }
        let stride = max(1, Int((Double(tile) * (1 - overlap)).rounded(.down)))
        return (length - tile + stride - 1) / stride + 1
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

    /// The number of tiles, columns × rows: at least 1 and at most ``maxTiles``.
    public var count: Int { xs.count * ys.count }

    /// The tile at `index` in plan order (row-major); `index` must be in `0..<count`.
    public func tile(_ index: Int) -> Tile {
        let x = xs[index % xs.count]
        let y = ys[index / xs.count]
        return Tile(index: index, x: x, y: y, validWidth: min(tileWidth, gridWidth - x), validHeight: min(tileHeight, gridHeight - y))
    }

    /// The raster-pixel rectangle a tile's valid part covers (fractional when resampling).
    public func sourceRect(_ t: Tile) -> (x: Double, y: Double, width: Double, height: Double) {
        (Double(t.x) / scaleX, Double(t.y) / scaleY, Double(t.validWidth) / scaleX, Double(t.validHeight) / scaleY)
    }

    /// Maps a box in a tile's input pixels to the original raster's pixels.
    public func toRaster(_ b: Box, in t: Tile) -> Box {
        Box(
            x1: (b.x1 + Double(t.x)) / scaleX, y1: (b.y1 + Double(t.y)) / scaleY,
            x2: (b.x2 + Double(t.x)) / scaleX, y2: (b.y2 + Double(t.y)) / scaleY)
    }
}
