import Foundation
import GeoRaster

/// A batch of tiles read and normalised, ready for the model.
struct TileBatch: Sendable {
    /// Tiles in `input`, in order (blank tiles are left out).
    var tiles: [TilePlan.Tile]
    /// `[tiles.count, C, H, W]`, nil when every tile of the batch was blank.
    var input: Tensor?
    /// How many tiles of this batch were skipped as blank.
    var skipped: Int
    var readSeconds: Double
}

/// Reads tiles from a raster into normalised model input. Lives in one task (it owns a `Raster`
/// and its scratch buffers).
struct TileReader {
    let raster: Raster
    let plan: TilePlan
    let manifest: ModelManifest
    /// Raster bands feeding each model channel.
    let bands: [Int]
    let skipBlank: Bool
    /// Where the reader draws the raster small as it goes (a quicklook that costs no read of its own).
    let preview: PreviewCanvas?
    /// Whether tiles are read as bytes at full resolution and averaged here rather than by GDAL:
    /// 8-bit bands without nodata, shrunk by up to 8 times, from a raster without overviews (which
    /// GDAL reads instead of the full image). GDAL's `average` converts every source pixel to
    /// Float32 first and costs twice a JPEG decode on drone tiles; this costs a fraction of one.
    let readsBytes: Bool
    /// How much smaller than full resolution the 8-bit path decodes: for a JPEG-compressed GeoTIFF
    /// the largest of 2, 4 and 8 that stays at least as fine as the grid the tiles are cut from
    /// (libjpeg's DCT scaling), else 1.
    let decodeReduction: Int
    /// Full-resolution bytes and a row of sums, reused from tile to tile by the 8-bit path.
    private let scratch = Scratch()

    init(raster: Raster, plan: TilePlan, manifest: ModelManifest, bands: [Int], skipBlank: Bool, preview: PreviewCanvas? = nil) {
        self.raster = raster
        self.plan = plan
        self.manifest = manifest
        self.bands = bands
        self.skipBlank = skipBlank
        self.preview = preview
        // Decided once for the raster, not per batch.
        let info = raster.info
        readsBytes =
            info.dataType == "Byte" && plan.scaleX < 1 && plan.scaleY < 1 && plan.scaleX >= 0.125 && plan.scaleY >= 0.125
            && bands.allSatisfy { info.nodata(band: $0) == nil } && raster.overviewCount == 0
        let finest = 1 / max(plan.scaleX, plan.scaleY)
        decodeReduction = readsBytes && raster.hasJPEGReducedDecode ? ([8, 4, 2].first { Double($0) <= finest } ?? 1) : 1
    }

    final class Scratch {
        var bytes: [UInt8] = []
        var row: [Int32] = []
    }

    /// Which raster bands feed the model: the manifest's order, or band 1 repeated for a
    /// single-band raster. Throws when the raster lacks a band the model needs.
    static func bands(for manifest: ModelManifest, info: RasterInfo) throws(InferenceError) -> (bands: [Int], warning: String?) {
        if manifest.bandOrder.allSatisfy({ $0 <= info.bandCount }) { return (manifest.bandOrder, nil) }
        if info.bandCount == 1 {
            return (
                Array(repeating: 1, count: manifest.channels),
                "single-band raster: band 1 fed to all \(manifest.channels) model channels"
            )
        }
        throw .options(
            "\(info.fileName) has \(info.bandCount) bands but the model reads bands \(manifest.bandOrder); convert it with gdal_translate -b"
        )
    }

    /// The grid scale that brings the raster to the model's GSD, and why when it is 1.
    static func scale(for manifest: ModelManifest, info: RasterInfo) -> (scale: Double, warning: String?) {
        guard let modelGSD = manifest.gsdMetres else { return (1, nil) }
        guard let gsd = info.gsdMetres, gsd > 0 else {
            return (
                1, "ground sample distance unknown: the raster ran at its native resolution, not resampled to the model's \(modelGSD) m"
            )
        }
        let factor = gsd / modelGSD
        return abs(factor - 1) > 0.1 ? (factor, nil) : (1, nil)
    }

    func read(_ tiles: ArraySlice<TilePlan.Tile>) throws -> TileBatch {
        let start = DispatchTime.now().uptimeNanoseconds
        let c = bands.count
        let h = plan.tileHeight
        let w = plan.tileWidth
        let tileSize = c * h * w
        var data = [Float](repeating: 0, count: tiles.count * tileSize)
        var kept: [TilePlan.Tile] = []
        let resampling: Resampling = plan.scaleX < 1 ? .average : .bilinear
        let nodata = bands.map { raster.info.nodata(band: $0) }
        let norm = manifest.normalization
        let nodataFill = TileReader.nodataToZero(nodata, scale: norm.scale)
        try data.withUnsafeMutableBufferPointer { buf in
            for tile in tiles {
                try Task.checkCancellation()
                let offset = kept.count * tileSize
                if readsBytes {
                    try readAveragingBytes(tile, into: buf, offset: offset, reduction: decodeReduction)
                } else {
                    let src = plan.sourceRect(tile)
                    try raster.read(
                        x: src.x, y: src.y, width: src.width, height: src.height,
                        outWidth: tile.validWidth, outHeight: tile.validHeight, bands: bands, resampling: resampling,
                        into: buf, offset: offset, rowStride: w, bandStride: h * w)
                }
                preview?.draw(tile, from: buf, offset: offset, rowStride: w, bandStride: h * w)
                if skipBlank && TileReader.isBlank(buf, offset: offset, tile: tile, width: w, height: h, channels: c, nodata: nodata) {
                    // Leave the slot to the next tile.
                    for i in offset..<(offset + tileSize) { buf[i] = 0 }
                    continue
                }
                if let fill = nodataFill {
                    TileReader.zeroNodata(buf, offset: offset, planeSize: h * w, channels: c, nodata: fill)
                }
                // Padding past the raster's edge is 0 too.
                for ch in 0..<c {
                    let scale = Float(norm.scale)
                    let mean = Float(norm.mean[ch])
                    let std = Float(norm.std[ch])
                    let base = offset + ch * h * w
                    for i in base..<(base + h * w) { buf[i] = (buf[i] * scale - mean) / std }
                }
                kept.append(tile)
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        guard !kept.isEmpty else { return TileBatch(tiles: [], input: nil, skipped: tiles.count, readSeconds: seconds) }
        data.removeLast((tiles.count - kept.count) * tileSize)
        return TileBatch(
            tiles: kept, input: Tensor(shape: [kept.count, c, h, w], values: data),
            skipped: tiles.count - kept.count, readSeconds: seconds)
    }

    /// Reads the tile's source window as bytes (at full resolution, or reduced by
    /// ``decodeReduction`` where the format decodes that for less) and area-averages it onto the
    /// tile's valid part, band by band.
    private func readAveragingBytes(
        _ tile: TilePlan.Tile, into buf: UnsafeMutableBufferPointer<Float>, offset: Int,
        reduction k: Int
    ) throws {
        let info = raster.info
        let src = plan.sourceRect(tile)
        // The window in full-resolution pixels, aligned to the reduction so that each decoded
        // pixel is exactly one k × k block (the last one along an edge may be a partial block).
        let x0 = max(0, Int(src.x.rounded(.down))) / k * k
        let y0 = max(0, Int(src.y.rounded(.down))) / k * k
        let x1 = min(info.width, Int((src.x + src.width - 1e-9).rounded(.up)))
        let y1 = min(info.height, Int((src.y + src.height - 1e-9).rounded(.up)))
        let fullW = max(1, x1 - x0)
        let fullH = max(1, y1 - y0)
        let ww = (fullW + k - 1) / k
        let wh = (fullH + k - 1) / k
        let kd = Double(k)
        let resampler = AreaResampler(
            columns: AreaResampler.taps(
                origin: src.x / kd, length: src.width / kd, outLength: tile.validWidth, windowStart: x0 / k, windowLength: ww),
            rows: AreaResampler.taps(
                origin: src.y / kd, length: src.height / kd, outLength: tile.validHeight, windowStart: y0 / k, windowLength: wh),
            sourceWidth: ww, sourceHeight: wh)
        let plane = ww * wh
        if scratch.bytes.count < plane * bands.count { scratch.bytes = [UInt8](repeating: 0, count: plane * bands.count) }
        if scratch.row.count < ww { scratch.row = [Int32](repeating: 0, count: ww) }
        let (h, w) = (plan.tileHeight, plan.tileWidth)
        try scratch.bytes.withUnsafeMutableBufferPointer { bytes in
            try raster.readBytes(
                window: Window(x: x0, y: y0, width: fullW, height: fullH), outWidth: ww, outHeight: wh, bands: bands,
                into: bytes, offset: 0, rowStride: ww, bandStride: plane)
            // A window of one value a band (a blank tile) averages to exactly that value (the
            // weights sum to one exactly): filled with it, without the resampling.
            if let values = Self.constantPlanes(UnsafeBufferPointer(bytes), plane: plane, count: bands.count) {
                for (ch, value) in values.enumerated() {
                    let base = buf.baseAddress! + offset + ch * h * w
                    for y in 0..<tile.validHeight { (base + y * w).update(repeating: Float(value), count: tile.validWidth) }
                }
                return
            }
            scratch.row.withUnsafeMutableBufferPointer { row in
                for ch in 0..<bands.count {
                    resampler.resample(
                        UnsafePointer(bytes.baseAddress! + ch * plane), into: buf.baseAddress! + offset + ch * h * w,
                        rowStride: w, scratch: row.baseAddress!)
                }
            }
        }
    }

    /// The one value of each of the `count` planes of `plane` bytes, or nil when a plane holds two.
    static func constantPlanes(_ bytes: UnsafeBufferPointer<UInt8>, plane: Int, count: Int) -> [UInt8]? {
        guard plane > 0, bytes.count >= plane * count else { return nil }
        var values: [UInt8] = []
        for p in 0..<count {
            let first = bytes[p * plane]
            for i in (p * plane + 1)..<((p + 1) * plane) where bytes[i] != first { return nil }
            values.append(first)
        }
        return values
    }

    /// The per-channel nodata values to replace with 0, or nil to pass pixels through unchanged.
    /// Nodata inside the model's input range (e.g. 255 in 8-bit imagery read with scale 1/255) may
    /// be a real bright pixel and is passed through; nodata outside it (-9999, NaN, 65535 for an
    /// 8-bit model) would feed the model values it never saw, so such pixels become 0.
    static func nodataToZero(_ nodata: [Double?], scale: Double) -> [Float]? {
        let top = 1 / abs(scale)
        guard nodata.allSatisfy({ $0 != nil }) else { return nil }
        let values = nodata.map { $0! }
        guard values.contains(where: { !($0 >= 0 && $0 <= top) }) else { return nil }
        return values.map { Float($0) }
    }

    /// Sets to 0 the pixels whose every channel holds its nodata value.
    static func zeroNodata(_ buf: UnsafeMutableBufferPointer<Float>, offset: Int, planeSize: Int, channels: Int, nodata: [Float]) {
        func isNodata(_ v: Float, _ nd: Float) -> Bool { v == nd || (nd.isNaN && v.isNaN) }
        for i in 0..<planeSize where (0..<channels).allSatisfy({ isNodata(buf[offset + $0 * planeSize + i], nodata[$0]) }) {
            for ch in 0..<channels { buf[offset + ch * planeSize + i] = 0 }
        }
    }

    /// Whether every band of the tile's valid part holds one value, ignoring nodata pixels
    /// (a tile that is all nodata is blank too).
    static func isBlank(
        _ buf: UnsafeMutableBufferPointer<Float>, offset: Int, tile: TilePlan.Tile,
        width: Int, height: Int, channels: Int, nodata: [Double?]
    ) -> Bool {
        for ch in 0..<channels {
            let nd = nodata[ch].map { Float($0) }
            var first: Float?
            for row in 0..<tile.validHeight {
                let start = offset + ch * width * height + row * width
                for i in start..<(start + tile.validWidth) {
                    let v = buf[i]
                    if let nd, v == nd || (nd.isNaN && v.isNaN) { continue }
                    if let f = first { if v != f { return false } } else { first = v }
                }
            }
        }
        return true
    }
}
