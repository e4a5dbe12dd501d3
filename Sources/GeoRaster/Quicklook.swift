import Foundation

/// A box to draw on a quicklook, in the source raster's pixels, with a class index that picks its colour.
public struct QuicklookBox: Sendable, Equatable {
    public var x1, y1, x2, y2: Double
    public var classIndex: Int

    public init(x1: Double, y1: Double, x2: Double, y2: Double, classIndex: Int) {
        self.x1 = x1
        self.y1 = y1
        self.x2 = x2
        self.y2 = y2
        self.classIndex = classIndex
    }
}

/// A small RGB picture of a raster with its detections drawn, for people to look at: the raster
/// is read downsampled by GDAL (never at full size), stretched per band between its 2nd and 98th
/// percentiles, boxes are drawn as outlines, and GDAL writes the PNG.
public enum Quicklook {
    /// Outline colours by class index (cycled): red, cyan, yellow, magenta, green, orange.
    public static let palette: [(UInt8, UInt8, UInt8)] = [(255, 0, 0), (0, 255, 255), (255, 255, 0), (255, 0, 255), (0, 255, 0), (255, 128, 0)]

    /// Writes a PNG of at most `maxSize` pixels on its longer side (never upsampled) to `path`.
    /// `bands` are the 1-based bands shown as red, green and blue (one band shows as grey).
    /// Returns the picture's size.
    @discardableResult
    public static func write(raster: Raster, bands: [Int], boxes: [QuicklookBox], to path: String, maxSize: Int = 1024) throws(RasterError) -> (width: Int, height: Int) {
        let info = raster.info
        let scale = min(1, Double(maxSize) / Double(max(info.width, info.height)))
        let w = max(1, Int((Double(info.width) * scale).rounded())), h = max(1, Int((Double(info.height) * scale).rounded()))
        let shown = (bands.count >= 3 ? Array(bands.prefix(3)) : [bands.first ?? 1, bands.first ?? 1, bands.first ?? 1])
            .map { min(max($0, 1), info.bandCount) }
        var pixels = [Float](repeating: 0, count: w * h * 3)
        try pixels.withUnsafeMutableBufferPointer { (buf) throws(RasterError) in
            try raster.read(x: 0, y: 0, width: Double(info.width), height: Double(info.height), outWidth: w, outHeight: h,
                            bands: shown, resampling: scale < 1 ? .average : .nearest, into: buf, offset: 0, rowStride: w, bandStride: w * h)
        }
        for b in 0..<3 {
            let nodata = info.nodata.indices.contains(shown[b] - 1) ? info.nodata[shown[b] - 1] : nil
            stretch(&pixels[(b * w * h)..<((b + 1) * w * h)], nodata: nodata.map { Float($0) })
        }
        for box in boxes {
            let c = palette[box.classIndex % palette.count]
            let colour = [Float(c.0), Float(c.1), Float(c.2)]
            let x1 = Int((box.x1 * scale).rounded(.down)), x2 = Int((box.x2 * scale).rounded(.down))
            let y1 = Int((box.y1 * scale).rounded(.down)), y2 = Int((box.y2 * scale).rounded(.down))
            // Two pixels thick where the picture is large enough to show it.
            let thickness = max(w, h) >= 256 ? 2 : 1
            for t in 0..<thickness {
                for x in x1...max(x1, x2) {
                    set(&pixels, x, y1 + t, colour, w, h)
                    set(&pixels, x, y2 - t, colour, w, h)
                }
                for y in y1...max(y1, y2) {
                    set(&pixels, x1 + t, y, colour, w, h)
                    set(&pixels, x2 - t, y, colour, w, h)
                }
            }
        }
        let writer = try RasterWriter(path: path, width: w, height: h, bandCount: 3, dataType: .byte, driver: "PNG")
        try writer.write(window: Window(x: 0, y: 0, width: w, height: h), data: pixels)
        try writer.finish()
        return (w, h)
    }

    private static func set(_ p: inout [Float], _ x: Int, _ y: Int, _ colour: [Float], _ w: Int, _ h: Int) {
        guard x >= 0, y >= 0, x < w, y < h else { return }
        for b in 0..<3 { p[b * w * h + y * w + x] = colour[b] }
    }

    /// Maps the band's 2nd–98th percentile range onto 0–255 (nodata becomes 0).
    static func stretch(_ band: inout ArraySlice<Float>, nodata: Float?) {
        let valid = band.filter { $0.isFinite && $0 != nodata }.sorted()
        guard let first = valid.first else {
            for i in band.indices { band[i] = 0 }
            return
        }
        let lo = valid[Int(Double(valid.count - 1) * 0.02)], hi = valid[Int(Double(valid.count - 1) * 0.98)]
        let span = hi > lo ? hi - lo : max(1, first)
        for i in band.indices {
            let v = band[i]
            band[i] = !v.isFinite || v == nodata ? 0 : min(255, max(0, ((v - (hi > lo ? lo : 0)) / span * 255).rounded()))
        }
    }
}
