internal import CGDAL
import Foundation

/// How GDAL resamples when a read changes resolution.
public enum Resampling: String, Sendable, Codable {
    case nearest, bilinear, cubic, average

    var gdal: GDALRIOResampleAlg {
        switch self {
        case .nearest: GRIORA_NearestNeighbour
        case .bilinear: GRIORA_Bilinear
        case .cubic: GRIORA_Cubic
        case .average: GRIORA_Average
        }
    }
}

/// An open raster. Owns its GDAL dataset handle, closed on deinit. Not `Sendable`: a GDAL dataset
/// may be used by one thread at a time, so each task opens its own.
public final class Raster {
    private let handle: GDALDatasetH
    /// The path given to ``init(path:maxPixels:)``.
    public let path: String
    /// Size, bands, type, nodata and georeferencing, read once at open.
    public let info: RasterInfo
    /// The blocks decoded straight through libjpeg (``JPEGBlocks``), opened on the first reduced
    /// read that can use them; `.some(nil)` once the file was found not to suit.
    private var jpegBlocks: JPEGBlocks??
    /// How many reads ``readBytes(window:outWidth:outHeight:bands:into:offset:rowStride:bandStride:)``
    /// served through libjpeg directly rather than GDAL.
    public private(set) var directJPEGReads = 0

    /// The default pixel limit: 10 gigapixels (100,000 × 100,000).
    public static let defaultMaxPixels = 10_000_000_000

    /// Opens `path` read-only. Throws ``RasterError`` when the file is missing, not a raster, or
    /// has more than `maxPixels` pixels.
    public init(path: String, maxPixels: Int = Raster.defaultMaxPixels) throws(RasterError) {
        let name = (path as NSString).lastPathComponent
        guard RemoteRaster.isRemote(path) || FileManager.default.fileExists(atPath: path) else { throw .notFound(name) }
        let opened = try Raster.open(path, name: name)
        handle = opened
        self.path = path
        do {
            info = try Raster.readInfo(opened, name: name)
        } catch {
            GDALClose(opened)
            throw error
        }
        guard info.pixelCount <= maxPixels else { throw .tooLarge(name, pixels: info.pixelCount, limit: maxPixels) }
    }

    /// Opens `path` again for another task, taking `info` from an earlier open of the same file
    /// instead of reading it again: GDAL builds a GeoTIFF's CRS through PROJ on every open that asks
    /// for it, which costs more than the open itself. Throws when the file no longer has the size
    /// and bands `info` gives.
    public init(path: String, info: RasterInfo) throws(RasterError) {
        let name = info.fileName
        let opened = try Raster.open(path, name: name)
        guard Int(GDALGetRasterXSize(opened)) == info.width, Int(GDALGetRasterYSize(opened)) == info.height,
            Int(GDALGetRasterCount(opened)) == info.bandCount
        else {
            GDALClose(opened)
            throw .notARaster(name, "it changed while it was being read")
        }
        handle = opened
        self.path = path
        self.info = info
    }

    deinit { GDALClose(handle) }

    /// GDAL's read-only handle on `path`; GDAL's message, with the path shown as `name`, when it refuses.
    private static func open(_ path: String, name: String) throws(RasterError) -> GDALDatasetH {
        let flags = UInt32(GDAL_OF_RASTER) | UInt32(GDAL_OF_READONLY) | UInt32(GDAL_OF_VERBOSE_ERROR)
        let (opened, error) = RemoteRaster.withRequestHeaders(path) { GDAL.call { GDALOpenEx(path, flags, nil, nil, nil) } }
        guard let opened else { throw .notARaster(name, error?.replacingOccurrences(of: path, with: name)) }
        return opened
    }

    /// GDAL's name for the file's layout (`COG` for a Cloud Optimized GeoTIFF), nil when it names none.
    public var layout: String? {
        GDALGetMetadataItem(handle, "LAYOUT", "IMAGE_STRUCTURE").map { String(cString: $0) }
    }

    private static func readInfo(_ ds: GDALDatasetH, name: String) throws(RasterError) -> RasterInfo {
        let width = Int(GDALGetRasterXSize(ds))
        let height = Int(GDALGetRasterYSize(ds))
        let bands = Int(GDALGetRasterCount(ds))
        guard width > 0, height > 0, bands > 0, let band1 = GDALGetRasterBand(ds, 1) else {
            throw .notARaster(name, "it has no raster bands")
        }
        var nodata: [Double?] = []
        for b in 1...bands {
            var has: Int32 = 0
            let value = GDALGetRasterNoDataValue(GDALGetRasterBand(ds, Int32(b)), &has)
            nodata.append(has != 0 ? value : nil)
        }
        var bw: Int32 = 0
        var bh: Int32 = 0
        GDALGetBlockSize(band1, &bw, &bh)
        let driver = GDALGetDatasetDriver(ds).map { String(cString: GDALGetDriverShortName($0)) } ?? "unknown"

        var coefficients = [Double](repeating: 0, count: 6)
        let gtOK = GDAL.call { coefficients.withUnsafeMutableBufferPointer { GDALGetGeoTransform(ds, $0.baseAddress) } }.value == CE_None
        let transform = gtOK ? GeoTransform(coefficients) : nil

        var wkt: String?
        var epsg: Int?
        var geographic = false
        var unit = 1.0
        if let srs = GDALGetSpatialRef(ds) {
            var out: UnsafeMutablePointer<CChar>?
            if OSRExportToWkt(srs, &out) == OGRERR_NONE, let out {
                wkt = String(cString: out)
                geo_cpl_free(out)
            }
            geographic = OSRIsGeographic(srs) != 0
            if !geographic { unit = OSRGetLinearUnits(srs, nil) }
            epsg = Raster.epsgCode(srs)
        }
        var gsd: Double?
        if let transform, wkt != nil {
            var centreLat = 0.0
            if geographic {
                centreLat = Raster.centreLatitude(ds, transform: transform, width: width, height: height) ?? 0
            }
            gsd = RasterInfo.gsd(transform: transform, isGeographic: geographic, linearUnitMetres: unit, centreLatitude: centreLat)
        }
        return RasterInfo(
            fileName: name, driver: driver, width: width, height: height, bandCount: bands,
            dataType: String(cString: GDALGetDataTypeName(GDALGetRasterDataType(band1))),
            nodata: nodata, crsWKT: wkt, epsg: epsg, isGeographic: geographic, linearUnitMetres: unit,
            geoTransform: transform, gsdMetres: gsd, blockWidth: Int(bw), blockHeight: Int(bh))
    }

    /// The EPSG code of `srs`, identifying it when the file does not say (GDAL's AutoIdentifyEPSG on a clone).
    private static func epsgCode(_ srs: OGRSpatialReferenceH) -> Int? {
        func code(_ s: OGRSpatialReferenceH, _ key: String?) -> Int? {
            guard let auth = OSRGetAuthorityName(s, key), String(cString: auth) == "EPSG",
                let c = OSRGetAuthorityCode(s, key)
            else { return nil }
            return Int(String(cString: c))
        }
        if let c = code(srs, nil) { return c }
        guard let clone = OSRClone(srs) else { return nil }
        defer { OSRDestroySpatialReference(clone) }
        _ = GDAL.call { OSRAutoIdentifyEPSG(clone) }
        return code(clone, nil)
    }

    /// Latitude of the raster's centre, in degrees, for a geographic CRS.
    private static func centreLatitude(_ ds: GDALDatasetH, transform: GeoTransform, width: Int, height: Int) -> Double? {
        guard let srs = GDALGetSpatialRef(ds), let t = try? CoordinateTransformer(sourceSRS: srs) else { return nil }
        let centre = transform.apply(x: Double(width) / 2, y: Double(height) / 2)
        return try? t.toWGS84(x: centre.x, y: centre.y).lat
    }

    /// A transformer from this raster's CRS to WGS84 (lon, lat), nil when the raster has no CRS.
    public func makeWGS84Transformer() throws(RasterError) -> CoordinateTransformer? {
        guard let srs = GDALGetSpatialRef(handle) else { return nil }
        do { return try CoordinateTransformer(sourceSRS: srs) } catch { throw .unsupported(info.fileName, "\(error)") }
    }

    /// Reads `bands` (1-based) of the source rectangle (`x`, `y`, `width`, `height` in this raster's
    /// pixels, fractional allowed) resampled to `outWidth` × `outHeight`, as Float32, band-sequential
    /// (all of band 1, then band 2, ...), into `buffer` starting at `offset`, with rows `rowStride`
    /// floats apart and bands `bandStride` floats apart. The caller's buffer may be larger than the
    /// read (a tile padded past the raster's edge).
    public func read(
        x: Double, y: Double, width: Double, height: Double,
        outWidth: Int, outHeight: Int, bands: [Int], resampling: Resampling,
        into buffer: UnsafeMutableBufferPointer<Float>, offset: Int, rowStride: Int, bandStride: Int
    ) throws(RasterError) {
        try checkRead(
            x: x, y: y, width: width, height: height, outWidth: outWidth, outHeight: outHeight, bands: bands,
            capacity: buffer.count, offset: offset, rowStride: rowStride, bandStride: bandStride)
        try rasterIO(
            x: x, y: y, width: width, height: height, outWidth: outWidth, outHeight: outHeight, bands: bands,
            resampling: resampling, base: UnsafeMutableRawPointer(buffer.baseAddress! + offset), type: GDT_Float32,
            elementSize: MemoryLayout<Float>.stride, rowStride: rowStride, bandStride: bandStride)
    }

    /// Reads `bands` of the whole-pixel `window` as bytes (values outside 0–255 are clamped by
    /// GDAL), band-sequential, into `buffer` from `offset`, rows `rowStride` bytes apart and bands
    /// `bandStride` bytes apart, at full resolution unless `outWidth` × `outHeight` asks for less
    /// (nearest: meant for a size an overview has, which GDAL then reads instead). For 8-bit rasters
    /// this is the cheapest read there is: no conversion and no resampling.
    ///
    /// On a local JPEG-compressed GeoTIFF without overviews, a window from a corner on the grid of 2,
    /// 4 or 8 read at that fraction of its size (rounded up) is libjpeg's scaled decode of the
    /// blocks, read straight through libjpeg (``JPEGBlocks``): the pixels of GDAL's implicit overview
    /// of that reduction, also where GDAL would sample a finer one (a small raster or a narrow window).
    public func readBytes(
        window: Window, outWidth: Int? = nil, outHeight: Int? = nil, bands: [Int],
        into buffer: UnsafeMutableBufferPointer<UInt8>, offset: Int,
        rowStride: Int, bandStride: Int
    ) throws(RasterError) {
        let (x, y, w, h) = (Double(window.x), Double(window.y), Double(window.width), Double(window.height))
        let (ow, oh) = (outWidth ?? window.width, outHeight ?? window.height)
        try checkRead(
            x: x, y: y, width: w, height: h, outWidth: ow, outHeight: oh, bands: bands,
            capacity: buffer.count, offset: offset, rowStride: rowStride, bandStride: bandStride)
        // A read of a JPEG-reduced size (libjpeg's: the window divided by 2, 4 or 8, rounded up, from
        // a corner on that grid) is decoded straight through libjpeg where the file allows it; a
        // block libjpeg does not read cleanly sends the whole read through GDAL, which reports it.
        if let k = [2, 4, 8].first(where: {
            window.x % $0 == 0 && window.y % $0 == 0 && ow == (window.width + $0 - 1) / $0 && oh == (window.height + $0 - 1) / $0
        }), let blocks = directBlocks(),
            blocks.read(
                reduction: k, x: window.x / k, y: window.y / k, outWidth: ow, outHeight: oh, bands: bands,
                into: buffer.baseAddress! + offset, rowStride: rowStride, bandStride: bandStride) == nil
        {
            directJPEGReads += 1
            return
        }
        try rasterIO(
            x: x, y: y, width: w, height: h, outWidth: ow, outHeight: oh, bands: bands,
            resampling: .nearest, base: UnsafeMutableRawPointer(buffer.baseAddress! + offset), type: GDT_Byte,
            elementSize: 1, rowStride: rowStride, bandStride: bandStride)
    }

    /// Whether the raster is a JPEG-compressed GeoTIFF, which GDAL decodes at 1/2, 1/4 or 1/8
    /// resolution for the price of little more than the entropy decoding (libjpeg's DCT scaling,
    /// exposed as implicit overviews on reads that ask for less than full resolution).
    public var hasJPEGReducedDecode: Bool {
        guard info.driver == "GTiff", let value = GDALGetMetadataItem(handle, "COMPRESSION", "IMAGE_STRUCTURE") else { return false }
        let compression = String(cString: value).uppercased()
        return compression == "JPEG" || compression == "YCBCR JPEG"
    }

    /// The file's blocks for libjpeg's reduced decode: a local JPEG-compressed GeoTIFF without
    /// overviews (GDAL would read those instead) whose size and bands are those GDAL sees.
    private func directBlocks() -> JPEGBlocks? {
        if let opened = jpegBlocks { return opened }
        let blocks =
            hasJPEGReducedDecode && overviewCount == 0 && !path.hasPrefix("/vsi") && !RemoteRaster.isRemote(path)
            ? JPEGBlocks(path: path).flatMap {
                $0.width == info.width && $0.height == info.height && $0.samples == info.bandCount ? $0 : nil
            } : nil
        jpegBlocks = .some(blocks)
        return blocks
    }

    /// How many overviews (reduced-resolution copies GDAL reads instead of the full image) band 1 has.
    public var overviewCount: Int {
        guard let band = GDALGetRasterBand(handle, 1) else { return 0 }
        return Int(GDALGetOverviewCount(band))
    }

    private func checkRead(
        x: Double, y: Double, width: Double, height: Double, outWidth: Int, outHeight: Int, bands: [Int],
        capacity: Int, offset: Int, rowStride: Int, bandStride: Int
    ) throws(RasterError) {
        guard outWidth > 0, outHeight > 0, !bands.isEmpty, offset >= 0, rowStride >= outWidth, bandStride >= 0,
            bands.allSatisfy({ $0 >= 1 && $0 <= info.bandCount }),
            x >= 0, y >= 0, width > 0, height > 0,
            x + width <= Double(info.width) + 1e-6, y + height <= Double(info.height) + 1e-6,
            offset + (bands.count - 1) * bandStride + (outHeight - 1) * rowStride + outWidth <= capacity
        else {
            throw .invalidArgument(
                info.fileName, "read of \(width)x\(height)+\(x)+\(y) → \(outWidth)x\(outHeight) bands \(bands) out of range")
        }
    }

    private func rasterIO(
        x: Double, y: Double, width: Double, height: Double, outWidth: Int, outHeight: Int, bands: [Int],
        resampling: Resampling, base: UnsafeMutableRawPointer, type: GDALDataType, elementSize: Int,
        rowStride: Int, bandStride: Int
    ) throws(RasterError) {
        // GDAL wants an integer window that contains the floating one.
        let x0 = Int(x.rounded(.down))
        let y0 = Int(y.rounded(.down))
        let x1 = min(info.width, Int((x + width - 1e-9).rounded(.up)))
        let y1 = min(info.height, Int((y + height - 1e-9).rounded(.up)))
        let exact = x == Double(x0) && y == Double(y0) && width == Double(x1 - x0) && height == Double(y1 - y0)
        var extra = geo_rasterio_extra(resampling.gdal, exact ? 0 : 1, x, y, width, height)
        var bandMap = bands.map { Int32($0) }
        let (status, error) = RemoteRaster.withRequestHeaders(path) {
            GDAL.call {
                GDALDatasetRasterIOEx(
                    handle, GF_Read, Int32(x0), Int32(y0), Int32(x1 - x0), Int32(y1 - y0),
                    base, Int32(outWidth), Int32(outHeight), type,
                    Int32(bands.count), &bandMap,
                    Int64(elementSize), Int64(rowStride * elementSize), Int64(bandStride * elementSize), &extra)
            }
        }
        guard status == CE_None else {
            // GDAL names the full path; errors name the file only.
            throw .corrupt(info.fileName, (error ?? "read failed").replacingOccurrences(of: path, with: info.fileName))
        }
    }

    /// Reads a whole window at full resolution into a new band-sequential array.
    public func read(window: Window, bands: [Int]? = nil) throws(RasterError) -> [Float] {
        let bands = bands ?? Array(1...info.bandCount)
        var out = [Float](repeating: 0, count: window.width * window.height * bands.count)
        try out.withUnsafeMutableBufferPointer { (buf) throws(RasterError) in
            try read(
                x: Double(window.x), y: Double(window.y), width: Double(window.width), height: Double(window.height),
                outWidth: window.width, outHeight: window.height, bands: bands, resampling: .nearest,
                into: buf, offset: 0, rowStride: window.width, bandStride: window.width * window.height)
        }
        return out
    }

    /// Checks the raster's data can be decoded where truncation shows first: the last block of
    /// every band, and the first. Cheap (two blocks), so it runs on every upload.
    public func verify() throws(RasterError) {
        let lastX = info.width - 1
        let lastY = info.height - 1
        for (px, py) in [(0, 0), (lastX, lastY)] {
            _ = try read(window: Window(x: px, y: py, width: 1, height: 1))
        }
    }
}
