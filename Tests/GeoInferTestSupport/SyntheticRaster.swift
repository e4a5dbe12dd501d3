import Foundation
public import GeoRaster

/// A marker the test models detect: at raster pixel (`x`, `y`), band 1 holds `score` (0–255),
/// band 2 the box width and band 3 the box height, in pixels (0–255).
public struct Marker: Sendable, Equatable {
    public var x: Int
    public var y: Int
    public var score: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, score: Int = 200, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.score = score
        self.width = width
        self.height = height
    }

    /// The box the marker models predict, in the raster's pixels, clipped to the raster.
    public func expectedBox(rasterWidth: Int, rasterHeight: Int, scale: Double = 1) -> (x1: Double, y1: Double, x2: Double, y2: Double) {
        let cx = Double(x) + 0.5
        let cy = Double(y) + 0.5
        let w = Double(width) / scale
        let h = Double(height) / scale
        return (max(0, cx - w / 2), max(0, cy - h / 2), min(Double(rasterWidth), cx + w / 2), min(Double(rasterHeight), cy + h / 2))
    }

    /// "large" (class index 1) when score > 0.7 · 255, else "small" (0).
    public var classIndex: Int { Double(score) / 255 > 0.7 ? 1 : 0 }
}

/// Writes test rasters with GDAL: any size, type, band count, layout and compression, UTM or
/// geographic, with markers and nodata rectangles at known places. Written in strips, so large
/// rasters do not need their size in memory.
public struct SyntheticRaster: Sendable {
    public var width: Int
    public var height: Int
    public var bands: Int = 3
    public var dataType: RasterDataType = .byte
    public var driver: String = "GTiff"
    public var creationOptions: [String] = ["TILED=YES", "COMPRESS=DEFLATE"]
    /// EPSG code; nil writes no CRS or geotransform.
    public var epsg: Int? = 32617
    /// Top-left corner and pixel size in CRS units.
    public var origin: (x: Double, y: Double) = (500_000, 3_300_000)
    public var pixelSize: Double = 1.0
    public var nodata: Double?
    /// Rectangles filled with `nodata` in every band.
    public var nodataRects: [Window] = []
    public var markers: [Marker] = []
    /// Value of every non-marker pixel in bands 2... (band 1 stays 0 so nothing else is detected).
    public var background: Float = 0
    /// Markers drawn as `markerBlock` × `markerBlock` squares (for resampling tests).
    public var markerBlock: Int = 1

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    public var geoTransform: GeoTransform? {
        epsg == nil ? nil : GeoTransform([origin.x, pixelSize, 0, origin.y, 0, -pixelSize])
    }

    /// Writes the raster to `path`.
    public func write(to path: String) throws {
        let writer = try RasterWriter(
            path: path, width: width, height: height, bandCount: bands, dataType: dataType,
            driver: driver, creationOptions: creationOptions, geoTransform: geoTransform,
            epsg: epsg, nodata: nodata)
        let strip = max(1, min(height, 4_000_000 / max(1, width * bands)))
        for y0 in stride(from: 0, to: height, by: strip) {
            let rows = min(strip, height - y0)
            var data = [Float](repeating: 0, count: width * rows * bands)
            if bands > 1 {
                for i in (width * rows)..<data.count { data[i] = background }
            }
            for m in markers {
                for dy in 0..<markerBlock {
                    for dx in 0..<markerBlock {
                        let (px, py) = (m.x + dx, m.y + dy)
                        guard py >= y0, py < y0 + rows, px < width else { continue }
                        let values = [Float(m.score), Float(m.width), Float(m.height), 255]
                        for b in 0..<bands { data[b * width * rows + (py - y0) * width + px] = values[min(b, 3)] }
                    }
                }
            }
            if let nodata {
                for r in nodataRects {
                    for py in max(r.y, y0)..<min(r.y + r.height, y0 + rows) {
                        for px in r.x..<(r.x + r.width) {
                            for b in 0..<bands { data[b * width * rows + (py - y0) * width + px] = Float(nodata) }
                        }
                    }
                }
            }
            try writer.write(window: Window(x: 0, y: y0, width: width, height: rows), data: data)
        }
        try writer.finish()
    }
}
