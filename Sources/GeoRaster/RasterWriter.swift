internal import CGDAL
import Foundation

/// Pixel data types GeoInfer writes.
public enum RasterDataType: String, Sendable, CaseIterable {
    case byte = "Byte"
    case uint16 = "UInt16"
    case int16 = "Int16"
    case float32 = "Float32"

    var gdal: GDALDataType {
        switch self {
        case .byte: GDT_Byte
        case .uint16: GDT_UInt16
        case .int16: GDT_Int16
        case .float32: GDT_Float32
        }
    }
}

/// Writes a raster window by window. GeoTIFFs are written in place (memory stays bounded);
/// formats GDAL only writes by copy (COG, PNG) are assembled in memory and copied on ``finish()``.
public final class RasterWriter {
    private var handle: GDALDatasetH?
    private let path: String
    private let driver: String
    private let creationOptions: [String]
    /// Width of the raster in pixels.
    public let width: Int
    /// Height of the raster in pixels.
    public let height: Int
    /// Number of bands; each write gives values for all of them.
    public let bandCount: Int

    /// Creates `path` with the GDAL driver `driver` ("GTiff", "COG", "PNG", ...) and its creation
    /// options (e.g. `["TILED=YES", "COMPRESS=DEFLATE"]`). `epsg` and `geoTransform` georeference it.
    public init(
        path: String, width: Int, height: Int, bandCount: Int, dataType: RasterDataType,
        driver: String = "GTiff", creationOptions: [String] = [],
        geoTransform: GeoTransform? = nil, epsg: Int? = nil, nodata: Double? = nil
    ) throws(RasterError) {
        GDAL.register()
        let name = (path as NSString).lastPathComponent
        self.path = path
        self.driver = driver
        self.creationOptions = creationOptions
        self.width = width
        self.height = height
        self.bandCount = bandCount
        let direct = driver == "GTiff"
        guard let drv = GDALGetDriverByName(direct ? "GTiff" : "MEM") else {
            throw .unsupported(name, "GDAL has no \(driver) driver")
        }
        let (ds, error) = withCStringList(direct ? creationOptions : []) { opts in
            GDAL.call { GDALCreate(drv, direct ? path : "", Int32(width), Int32(height), Int32(bandCount), dataType.gdal, opts) }
        }
        guard let ds else { throw .writeFailed(name, error ?? "create failed") }
        handle = ds
        if var gt = geoTransform?.coefficients { _ = GDALSetGeoTransform(ds, &gt) }
        if let epsg, let srs = OSRNewSpatialReference(nil) {
            defer { OSRDestroySpatialReference(srs) }
            if OSRImportFromEPSG(srs, Int32(epsg)) == OGRERR_NONE { _ = GDALSetSpatialRef(ds, srs) }
        }
        if let nodata {
            for b in 1...bandCount { _ = GDALSetRasterNoDataValue(GDALGetRasterBand(ds, Int32(b)), nodata) }
        }
    }

    deinit { if let handle { GDALClose(handle) } }

    /// Writes band-sequential Float32 `data` (all bands) into `window`; GDAL converts to the file's type.
    public func write(window: Window, data: [Float]) throws(RasterError) {
        try write(window: window, values: data, type: GDT_Float32, what: "values")
    }

    /// Writes band-sequential 8-bit `bytes` (all bands) into `window`.
    public func write(window: Window, bytes: [UInt8]) throws(RasterError) {
        try write(window: window, values: bytes, type: GDT_Byte, what: "bytes")
    }

    /// Writes band-sequential `values` of GDAL type `type` into `window` (GDAL only reads them).
    private func write<Value>(window: Window, values: [Value], type: GDALDataType, what: String) throws(RasterError) {
        let name = (path as NSString).lastPathComponent
        guard let handle, values.count == window.width * window.height * bandCount else {
            throw .invalidArgument(name, "write of \(values.count) \(what) into \(window) with \(bandCount) bands")
        }
        var bands = (1...bandCount).map { Int32($0) }
        let (status, error) = GDAL.call {
            values.withUnsafeBytes { raw in
                GDALDatasetRasterIO(
                    handle, GF_Write, Int32(window.x), Int32(window.y), Int32(window.width), Int32(window.height),
                    UnsafeMutableRawPointer(mutating: raw.baseAddress), Int32(window.width), Int32(window.height), type,
                    Int32(bandCount), &bands, 0, 0, 0)
            }
        }
        guard status == CE_None else { throw .writeFailed(name, error ?? "write failed") }
    }

    /// Flushes and closes the file (copying to the target format when it is written by copy).
    public func finish() throws(RasterError) {
        guard let ds = handle else { return }
        handle = nil
        let name = (path as NSString).lastPathComponent
        if driver == "GTiff" {
            let error = GDAL.call { GDALClose(ds) }.error
            if let error { throw .writeFailed(name, error) }
            return
        }
        defer { GDALClose(ds) }
        guard let drv = GDALGetDriverByName(driver) else { throw .unsupported(name, "GDAL has no \(driver) driver") }
        let (out, error) = withCStringList(creationOptions) { opts in
            GDAL.call { GDALCreateCopy(drv, path, ds, 0, opts, nil, nil) }
        }
        guard let out else { throw .writeFailed(name, error ?? "copy failed") }
        GDALClose(out)
    }
}

/// Calls `body` with a NULL-terminated C array of C strings.
func withCStringList<T>(_ strings: [String], _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> T) -> T {
    if strings.isEmpty { return body(nil) }
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) } + [nil]
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeMutableBufferPointer { body($0.baseAddress) }
}
