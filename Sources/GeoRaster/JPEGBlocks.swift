internal import CJPEGTIFF

/// The blocks of a JPEG-compressed TIFF decoded straight through libjpeg at 1/2, 1/4 or 1/8 of full
/// resolution (DCT scaling), a strip or tile at a time (`Sources/CJPEGTIFF`). GDAL reads the same
/// pixels through an implicit overview that opens an in-memory JPEG dataset for every block it
/// decodes; on 1041 × 1041 drone tiles in 16-row strips that costs about as much again as libjpeg's
/// own work (BENCHMARKS.md). Owned by one ``Raster`` and used by one thread at a time.
final class JPEGBlocks {
    private let handle: OpaquePointer
    let width: Int
    let height: Int
    let samples: Int

    /// Nil when `path` is not a TIFF whose layout is read here (see `jpegtiff.h`).
    init?(path: String) {
        guard let handle = geoinfer_jpegtiff_open(path) else { return nil }
        self.handle = handle
        var (w, h, s): (Int32, Int32, Int32) = (0, 0, 0)
        geoinfer_jpegtiff_shape(handle, &w, &h, &s)
        (width, height, samples) = (Int(w), Int(h), Int(s))
    }

    deinit { geoinfer_jpegtiff_close(handle) }

    /// Decodes `bands` (1-based) of the pixels [`x`, `x + outWidth`) × [`y`, `y + outHeight`) of the
    /// image reduced by `reduction` into `base`, band-sequential. Nil when done; otherwise why not.
    func read(
        reduction: Int, x: Int, y: Int, outWidth: Int, outHeight: Int, bands: [Int],
        into base: UnsafeMutablePointer<UInt8>, rowStride: Int, bandStride: Int
    ) -> String? {
        var message = [CChar](repeating: 0, count: 256)
        let indices = bands.map { Int32(clamping: $0) }
        let status = message.withUnsafeMutableBufferPointer { err in
            geoinfer_jpegtiff_read(
                handle, Int32(clamping: reduction), Int32(clamping: x), Int32(clamping: y), Int32(clamping: outWidth),
                Int32(clamping: outHeight), indices, Int32(clamping: indices.count), base, rowStride, bandStride,
                err.baseAddress, Int32(err.count))
        }
        guard status != 0 else { return nil }
        return String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
