import Foundation

/// A box to draw on a quicklook, in the source raster's pixels, with a class index that picks its colour.
public struct QuicklookBox: Sendable, Equatable {
    /// Left, top, right and bottom edges in the source raster's pixels (x1 ≤ x2, y1 ≤ y2); a box with a non-finite edge is not drawn.
    public var x1, y1, x2, y2: Double
    /// Picks the outline colour from ``Quicklook/palette``, cycled; any integer, negative included.
    public var classIndex: Int

    /// A box from (`x1`, `y1`) to (`x2`, `y2`) in the source raster's pixels, outlined in the colour of `classIndex`.
    public init(x1: Double, y1: Double, x2: Double, y2: Double, classIndex: Int) {
        self.x1 = x1
        self.y1 = y1
        self.x2 = x2
        self.y2 = y2
        self.classIndex = classIndex
    }
}

/// A raster seen small: three planes of raw pixel values (red, green, blue; one band repeated for
/// grey), `width` × `height`, band-sequential. NaN marks a pixel nothing was read for.
public struct QuicklookPixels: Sendable {
    /// The picture's width in pixels (at least 1).
    public let width: Int
    /// The picture's height in pixels (at least 1).
    public let height: Int
    /// The raster's size, to place boxes given in its pixels.
    public let rasterWidth: Int
    /// The raster's height in pixels (at least 1).
    public let rasterHeight: Int
    /// `3 × width × height` raw values: the red, green and blue planes in turn, each row by row; NaN where nothing was read.
    public var values: [Float]
    /// Each plane's nodata value, shown black.
    public var nodata: [Float?]

    /// An empty picture (all NaN) of the size ``Quicklook/size(rasterWidth:rasterHeight:maxSize:)`` gives.
    public init(rasterWidth: Int, rasterHeight: Int, maxSize: Int, nodata: [Float?] = [nil, nil, nil]) {
        let size = Quicklook.size(rasterWidth: rasterWidth, rasterHeight: rasterHeight, maxSize: maxSize)
        width = size.width
        height = size.height
        self.rasterWidth = max(1, rasterWidth)
        self.rasterHeight = max(1, rasterHeight)
        values = [Float](repeating: .nan, count: width * height * 3)
        self.nodata = nodata.count == 3 ? nodata : [nil, nil, nil]
    }
}

/// A small picture of a raster with its detections drawn, for people to look at: made from a
/// reduced-resolution read (the detector's own tiles, or a decimated GDAL read), stretched per
/// band between its 2nd and 98th percentiles, boxes drawn as outlines, written by GDAL as JPEG
/// (PNG when the path ends in `.png`).
public enum Quicklook {
    /// The longest side of a quicklook unless told otherwise.
    public static let defaultMaxSize = 384
    /// Outline colours by class index (cycled): red, cyan, yellow, magenta, green, orange.
    public static let palette: [(UInt8, UInt8, UInt8)] = [
        (255, 0, 0), (0, 255, 255), (255, 255, 0), (255, 0, 255), (0, 255, 0), (255, 128, 0),
    ]

    /// The picture's size: at most `maxSize` on the longer side, never larger than the raster.
    public static func size(rasterWidth: Int, rasterHeight: Int, maxSize: Int) -> (width: Int, height: Int) {
        let w = max(1, rasterWidth)
        let h = max(1, rasterHeight)
        let scale = min(1, Double(max(1, maxSize)) / Double(max(w, h)))
        return (max(1, min(w, Int((Double(w) * scale).rounded()))), max(1, min(h, Int((Double(h) * scale).rounded()))))
    }

    /// Reads `raster` downsampled by GDAL to at most `maxSize` on its longer side (never at full size
    /// unless the raster is that small). `bands` are the 1-based bands shown as red, green and blue;
    /// one band shows as grey.
    public static func read(raster: Raster, bands: [Int], maxSize: Int = defaultMaxSize) throws(RasterError) -> QuicklookPixels {
        let info = raster.info
        let shown = (bands.count >= 3 ? Array(bands.prefix(3)) : [bands.first ?? 1, bands.first ?? 1, bands.first ?? 1])
            .map { min(max($0, 1), info.bandCount) }
        let nodata = shown.map { info.nodata(band: $0).map { Float($0) } }
        var pixels = QuicklookPixels(rasterWidth: info.width, rasterHeight: info.height, maxSize: maxSize, nodata: nodata)
        let (w, h) = (pixels.width, pixels.height)
        let reduced = w < info.width || h < info.height
        try pixels.values.withUnsafeMutableBufferPointer { (buf) throws(RasterError) in
            try raster.read(
                x: 0, y: 0, width: Double(info.width), height: Double(info.height), outWidth: w, outHeight: h,
                bands: shown, resampling: reduced ? .average : .nearest, into: buf, offset: 0, rowStride: w, bandStride: w * h)
        }
        return pixels
    }

    /// Reads an 8-bit raster small for the price of its reduced decode: a JPEG-compressed GeoTIFF
    /// is decoded by libjpeg at 1/2, 1/4 or 1/8 scale (the largest that is still at least the
    /// picture's size), and the bytes are area-averaged to the picture here, with no conversion to
    /// Float by GDAL. On drone tiles it is several times cheaper than ``read(raster:bands:maxSize:)``,
    /// which any other raster (another type, nodata, another compression, overviews) is read by.
    public static func readFast(raster: Raster, bands: [Int], maxSize: Int = defaultMaxSize) throws(RasterError) -> QuicklookPixels {
        let info = raster.info
        let shown = (bands.count >= 3 ? Array(bands.prefix(3)) : [bands.first ?? 1, bands.first ?? 1, bands.first ?? 1])
            .map { min(max($0, 1), info.bandCount) }
        let target = size(rasterWidth: info.width, rasterHeight: info.height, maxSize: maxSize)
        let finest = Double(max(info.width, info.height)) / Double(max(target.width, target.height))
        guard info.dataType == "Byte", raster.hasJPEGReducedDecode, raster.overviewCount == 0,
            shown.allSatisfy({ info.nodata(band: $0) == nil }), finest >= 2,
            let reduction = [8, 4, 2].first(where: { Double($0) <= finest })
        else { return try read(raster: raster, bands: bands, maxSize: maxSize) }
        // libjpeg's scaled sizes: the full size divided and rounded up.
        let (w, h) = ((info.width + reduction - 1) / reduction, (info.height + reduction - 1) / reduction)
        var bytes = [UInt8](repeating: 0, count: w * h * 3)
        try bytes.withUnsafeMutableBufferPointer { (buf) throws(RasterError) in
            try raster.readBytes(
                window: Window(x: 0, y: 0, width: info.width, height: info.height), outWidth: w, outHeight: h, bands: shown,
                into: buf, offset: 0, rowStride: w, bandStride: w * h)
        }
        let small = shrink(bytes, width: w, height: h, to: target)
        var pixels = QuicklookPixels(rasterWidth: info.width, rasterHeight: info.height, maxSize: maxSize, nodata: [nil, nil, nil])
        guard pixels.width * pixels.height * 3 == small.count else { return try read(raster: raster, bands: bands, maxSize: maxSize) }
        pixels.values = small.map { Float($0) }
        return pixels
    }

    /// Reads `raster` small (``read(raster:bands:maxSize:)``) and writes it with `boxes` drawn.
    @discardableResult
    public static func write(
        raster: Raster, bands: [Int], boxes: [QuicklookBox], to path: String,
        maxSize: Int = defaultMaxSize
    ) throws(RasterError) -> (width: Int, height: Int) {
        try write(read(raster: raster, bands: bands, maxSize: maxSize), boxes: boxes, to: path)
    }

    /// The longest side of a thumbnail: what a map shows of a file seen from far away.
    public static let thumbnailSize = 128

    /// Stretches `pixels`, draws `boxes` (in the raster's pixels) and writes the picture to `path`:
    /// PNG when the path ends in `.png`, JPEG (quality 75) otherwise. With `thumbnail`, the same
    /// picture without boxes, area-averaged to at most ``thumbnailSize`` on its longer side, is
    /// written there too (a few kilobytes; a map of thousands of files loads these until it zooms
    /// in). Returns the picture's size.
    @discardableResult
    public static func write(
        _ pixels: QuicklookPixels, boxes: [QuicklookBox], to path: String,
        thumbnail: String? = nil
    ) throws(RasterError) -> (width: Int, height: Int) {
        let (w, h) = (pixels.width, pixels.height)
        let plane = w * h
        guard pixels.values.count == plane * 3 else {
            throw .invalidArgument(
                (path as NSString).lastPathComponent, "a quicklook of \(w) × \(h) needs \(plane * 3) values, not \(pixels.values.count)")
        }
        var bytes = [UInt8](repeating: 0, count: plane * 3)
        pixels.values.withUnsafeBufferPointer { values in
            bytes.withUnsafeMutableBufferPointer { out in
                for b in 0..<3 {
                    stretch(
                        UnsafeBufferPointer(rebasing: values[(b * plane)..<((b + 1) * plane)]),
                        into: UnsafeMutableBufferPointer(rebasing: out[(b * plane)..<((b + 1) * plane)]), nodata: pixels.nodata[b])
                }
            }
        }
        if let thumbnail {
            let small = size(rasterWidth: w, rasterHeight: h, maxSize: thumbnailSize)
            try encode(shrink(bytes, width: w, height: h, to: small), width: small.width, height: small.height, to: thumbnail)
        }
        let sx = Double(w) / Double(pixels.rasterWidth)
        let sy = Double(h) / Double(pixels.rasterHeight)
        // Two pixels thick where the picture is large enough to show it.
        let thickness = max(w, h) >= 256 ? 2 : 1
        func set(_ x: Int, _ y: Int, _ colour: (UInt8, UInt8, UInt8)) {
            guard x >= 0, y >= 0, x < w, y < h else { return }
            bytes[y * w + x] = colour.0
            bytes[plane + y * w + x] = colour.1
            bytes[2 * plane + y * w + x] = colour.2
        }
        for box in boxes where [box.x1, box.y1, box.x2, box.y2].allSatisfy(\.isFinite) {
            let c = palette[abs(box.classIndex % palette.count)]
            // Clamped to the picture first: a box far outside it draws nothing and costs nothing.
            func px(_ v: Double, _ s: Double, _ limit: Int) -> Int { Int(max(-1, min(Double(limit), (v * s).rounded(.down)))) }
            let x1 = px(box.x1, sx, w)
            let x2 = px(box.x2, sx, w)
            let y1 = px(box.y1, sy, h)
            let y2 = px(box.y2, sy, h)
            for t in 0..<thickness {
                for x in x1...max(x1, x2) {
                    set(x, y1 + t, c)
                    set(x, y2 - t, c)
                }
                for y in y1...max(y1, y2) {
                    set(x1 + t, y, c)
                    set(x2 - t, y, c)
                }
            }
        }
        try encode(bytes, width: w, height: h, to: path)
        return (w, h)
    }

    /// Writes three byte planes as a picture: PNG when the path ends in `.png`, JPEG (quality 75) otherwise.
    static func encode(_ bytes: [UInt8], width w: Int, height h: Int, to path: String) throws(RasterError) {
        let png = path.lowercased().hasSuffix(".png")
        let writer = try RasterWriter(
            path: path, width: w, height: h, bandCount: 3, dataType: .byte, driver: png ? "PNG" : "JPEG",
            creationOptions: png ? [] : ["QUALITY=75"])
        try writer.write(window: Window(x: 0, y: 0, width: w, height: h), bytes: bytes)
        try writer.finish()
    }

    /// Three byte planes of `width` × `height` area-averaged to `to` (no larger): each output pixel
    /// is the mean of the source pixels whose centres fall in it.
    static func shrink(_ bytes: [UInt8], width w: Int, height h: Int, to size: (width: Int, height: Int)) -> [UInt8] {
        let (tw, th) = (max(1, min(w, size.width)), max(1, min(h, size.height)))
        let plane = w * h
        let small = tw * th
        guard bytes.count >= plane * 3 else { return [UInt8](repeating: 0, count: small * 3) }
        // The output column and row of each source column and row.
        let column = (0..<w).map { min(tw - 1, $0 * tw / w) }
        let row = (0..<h).map { min(th - 1, $0 * th / h) }
        var sums = [UInt32](repeating: 0, count: small * 3)
        var counts = [UInt32](repeating: 0, count: small)
        var out = [UInt8](repeating: 0, count: small * 3)
        // One pass over the source, no bounds checks: about a millisecond for 512 × 512 × 3.
        bytes.withUnsafeBufferPointer { src in
            sums.withUnsafeMutableBufferPointer { sum in
                counts.withUnsafeMutableBufferPointer { count in
                    column.withUnsafeBufferPointer { col in
                        for y in 0..<h {
                            let r = row[y] * tw
                            let line = y * w
                            for x in 0..<w {
                                let o = r + col[x]
                                let i = line + x
                                count[o] &+= 1
                                sum[o] &+= UInt32(src[i])
                                sum[small + o] &+= UInt32(src[plane + i])
                                sum[2 * small + o] &+= UInt32(src[2 * plane + i])
                            }
                        }
                    }
                    out.withUnsafeMutableBufferPointer { dst in
                        for o in 0..<small where count[o] > 0 {
                            let n = count[o]
                            for b in 0..<3 { dst[b * small + o] = UInt8(truncatingIfNeeded: (sum[b * small + o] + n / 2) / n) }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Maps the band's 2nd–98th percentile range onto 0–255, rounded, into `out` (nodata and unread
    /// pixels become 0). The percentiles come from a 4096-bin histogram of at most about 16,000
    /// evenly spread pixels between their extremes: no sort, and one full pass only, to map.
    static func stretch(_ band: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<UInt8>, nodata: Float?) {
        // NaN never equals anything, so one comparison with `nd` tests for nodata or for nothing.
        let nd = nodata ?? .nan
        let step = max(1, band.count / 16_384)
        var lo = Float.infinity
        var hi = -Float.infinity
        var count = 0
        for i in stride(from: 0, to: band.count, by: step) {
            let v = band[i]
            guard v.isFinite, v != nd else { continue }
            lo = min(lo, v)
            hi = max(hi, v)
            count += 1
        }
        guard count > 0 else {
            for i in out.indices { out[i] = 0 }
            return
        }
        let first = lo
        if hi > lo {
            let bins = 4096
            let perBin = Float(bins) / (hi - lo)
            var histogram = [Int](repeating: 0, count: bins)
            histogram.withUnsafeMutableBufferPointer { h in
                for i in stride(from: 0, to: band.count, by: step) {
                    let v = band[i]
                    guard v.isFinite, v != nd else { continue }
                    h[min(bins - 1, Int((v - lo) * perBin))] += 1
                }
            }
            // The value at rank p·(n−1), as the lower edge of the bin holding it.
            func percentile(_ p: Double) -> Float {
                let rank = Int(Double(count - 1) * p)
                var seen = 0
                for (i, n) in histogram.enumerated() {
                    seen += n
                    if seen > rank { return lo + Float(i) / perBin }
                }
                return hi
            }
            (lo, hi) = (percentile(0.02), percentile(0.98))
        }
        let gain = 255 / (hi > lo ? hi - lo : max(1, first))
        let base = hi > lo ? lo : 0
        // Branch-free, so the compiler vectorises it (six times faster than a checked conversion):
        // NaN fails `x > 0` and shows as 0, infinities clamp to 0 or 255, nodata is masked out.
        // Adding 2^23 leaves round(x) in the low mantissa bits, for any x in 0…255.
        for i in band.indices {
            let v = band[i]
            let x = (v - base) * gain
            let clamped = x > 0 ? (x < 255 ? x : 255) : 0
            let rounded = (clamped + 8_388_608).bitPattern & 0xFF
            out[i] = v != nd ? UInt8(truncatingIfNeeded: rounded) : 0
        }
    }
}
