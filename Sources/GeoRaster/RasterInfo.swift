/// What a raster is: its size, bands, type, nodata and georeferencing. A value, safe to pass anywhere.
public struct RasterInfo: Sendable, Equatable, Codable {
    /// The file's name (last path component).
    public var fileName: String
    /// GDAL's short driver name ("GTiff", "PNG", ...).
    public var driver: String
    /// Width in pixels (columns); positive for an opened raster.
    public var width: Int
    /// Height in pixels (rows); positive for an opened raster.
    public var height: Int
    /// Number of bands, numbered from 1; at least 1 for an opened raster.
    public var bandCount: Int
    /// GDAL's name for the first band's data type ("Byte", "UInt16", "Float32", ...).
    public var dataType: String
    /// The nodata value of each band, nil where a band has none.
    public var nodata: [Double?]
    /// The raster's coordinate reference system as WKT, nil when it has none.
    public var crsWKT: String?
    /// The EPSG code of the CRS when GDAL can identify one.
    public var epsg: Int?
    /// Whether the CRS is geographic (degrees) rather than projected.
    public var isGeographic: Bool
    /// Metres per linear unit of a projected CRS (1 for metres, 0.3048 for feet).
    public var linearUnitMetres: Double
    /// The affine transform from pixels to CRS coordinates, nil when the raster has none.
    public var geoTransform: GeoTransform?
    /// Ground sample distance in metres (mean of x and y pixel sizes; for geographic CRSs at the
    /// raster's centre latitude), nil without georeferencing.
    public var gsdMetres: Double?
    /// The natural block size of band 1 (tile size of a tiled TIFF, one or more rows for a striped one).
    public var blockWidth: Int
    /// Rows per block of band 1 (see ``blockWidth``).
    public var blockHeight: Int

    /// The nodata value of 1-based `band`, nil where the band has none or does not exist.
    public func nodata(band: Int) -> Double? {
        nodata.indices.contains(band - 1) ? nodata[band - 1] : nil
    }

    /// Whether pixels can be placed on the Earth: both a CRS and a geotransform.
    public var isGeoreferenced: Bool { crsWKT != nil && geoTransform != nil }
    /// `width` × `height`: pixels per band, the number checked against ``Raster``'s pixel limit.
    public var pixelCount: Int { width * height }
}

extension RasterInfo {
    /// Metres per degree of latitude and of longitude at `latitude` (WGS84 ellipsoid series).
    static func metresPerDegree(latitude: Double) -> (lat: Double, lon: Double) {
        let phi = latitude * .pi / 180
        let lat = 111_132.92 - 559.82 * cos(2 * phi) + 1.175 * cos(4 * phi) - 0.0023 * cos(6 * phi)
        let lon = 111_412.84 * cos(phi) - 93.5 * cos(3 * phi) + 0.118 * cos(5 * phi)
        return (lat, lon)
    }

    /// Ground sample distance in metres for a geotransform in a CRS with the given units.
    static func gsd(transform: GeoTransform, isGeographic: Bool, linearUnitMetres: Double, centreLatitude: Double) -> Double {
        let size = transform.pixelSize
        if isGeographic {
            let m = metresPerDegree(latitude: centreLatitude)
            return (size.x * m.lon + size.y * m.lat) / 2
        }
        return (size.x + size.y) / 2 * linearUnitMetres
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
