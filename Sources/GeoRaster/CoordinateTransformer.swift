internal import CGDAL

/// Transforms coordinates between two CRSs, by default from a raster's CRS to WGS84
/// longitude/latitude. Both ends use traditional GIS axis order (x/y, lon/lat). Owns its OGR
/// handles; not `Sendable` (OGR transformations are not thread-safe).
public final class CoordinateTransformer {
    private let transform: OGRCoordinateTransformationH
    private let target: OGRSpatialReferenceH
    private let source: OGRSpatialReferenceH

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// From `sourceSRS` to `targetSRS` (WGS84 when nil); both are copied.
    init(sourceSRS: OGRSpatialReferenceH, targetSRS: OGRSpatialReferenceH? = nil) throws {
        GDAL.register()
        guard let src = OSRClone(sourceSRS) else { throw Failure(description: "cannot copy the source CRS") }
        let dst: OGRSpatialReferenceH? = if let targetSRS { OSRClone(targetSRS) } else { OSRNewSpatialReference(nil) }
        guard let dst else {
            OSRDestroySpatialReference(src)
            throw Failure(description: "cannot create the target CRS")
        }
        OSRSetAxisMappingStrategy(src, OAMS_TRADITIONAL_GIS_ORDER)
        OSRSetAxisMappingStrategy(dst, OAMS_TRADITIONAL_GIS_ORDER)
        if targetSRS == nil { _ = OSRImportFromEPSG(dst, 4326) }
        let (ct, error) = GDAL.call { OCTNewCoordinateTransformation(src, dst) }
        guard let ct else {
            OSRDestroySpatialReference(src)
            OSRDestroySpatialReference(dst)
            throw Failure(description: "no transformation between the two CRSs: \(error ?? "unknown")")
        }
        source = src
        target = dst
        transform = ct
    }

    /// Creates a transformer from the CRS `epsg` to WGS84.
    public convenience init(epsg: Int) throws {
        let srs = try SpatialReference(epsg: epsg)
        try self.init(sourceSRS: srs.handle)
    }

    /// Creates a transformer between two CRSs given as WKT (from a raster) or `EPSG:n`.
    public convenience init(from sourceCRS: String, to targetCRS: String) throws {
        let src = try SpatialReference(definition: sourceCRS)
        let dst = try SpatialReference(definition: targetCRS)
        try self.init(sourceSRS: src.handle, targetSRS: dst.handle)
    }

    deinit {
        OCTDestroyCoordinateTransformation(transform)
        OSRDestroySpatialReference(source)
        OSRDestroySpatialReference(target)
    }

    /// WGS84 (lon, lat) of the point (x, y) in the source CRS.
    public func toWGS84(x: Double, y: Double) throws -> (lon: Double, lat: Double) {
        let out = try toWGS84([(x, y)])
        return out[0]
    }

    /// WGS84 (lon, lat) of many points in one call (for a transformer made with WGS84 as target).
    public func toWGS84(_ points: [(Double, Double)]) throws -> [(lon: Double, lat: Double)] {
        try apply(points).map { (lon: $0.x, lat: $0.y) }
    }

    /// The points in the target CRS, in one call; throws when any cannot be converted.
    public func apply(_ points: [(Double, Double)]) throws -> [(x: Double, y: Double)] {
        var xs = points.map(\.0)
        var ys = points.map(\.1)
        var ok = [Int32](repeating: 0, count: points.count)
        let n = Int32(points.count)
        let all = GDAL.call {
            OCTTransformEx(transform, n, &xs, &ys, nil, &ok)
        }.value
        guard all != 0, ok.allSatisfy({ $0 != 0 }) else {
            throw Failure(description: "point outside the area where the CRS can be converted")
        }
        return zip(xs, ys).map { (x: $0, y: $1) }
    }
}

/// An OGR spatial reference built only from WKT or `EPSG:n`: never from a file name or URL, so a
/// caller's text cannot make GDAL read anything.
final class SpatialReference {
    let handle: OGRSpatialReferenceH

    private init(handle: OGRSpatialReferenceH) { self.handle = handle }

    convenience init(epsg: Int) throws {
        GDAL.register()
        guard (1...999_999).contains(epsg), let srs = OSRNewSpatialReference(nil) else {
            throw CoordinateTransformer.Failure(description: "unknown EPSG code \(epsg)")
        }
        guard GDAL.call({ OSRImportFromEPSG(srs, Int32(epsg)) }).value == OGRERR_NONE else {
            OSRDestroySpatialReference(srs)
            throw CoordinateTransformer.Failure(description: "unknown EPSG code \(epsg)")
        }
        self.init(handle: srs)
    }

    convenience init(definition: String) throws {
        if let epsg = CRSName.epsg(definition) {
            try self.init(epsg: epsg)
            return
        }
        GDAL.register()
        guard let srs = OSRNewSpatialReference(nil) else { throw CoordinateTransformer.Failure(description: "cannot create a CRS") }
        let status = definition.withCString { text -> OGRErr in
            var cursor: UnsafeMutablePointer<CChar>? = UnsafeMutablePointer(mutating: text)
            return GDAL.call { OSRImportFromWkt(srs, &cursor) }.value
        }
        guard status == OGRERR_NONE else {
            OSRDestroySpatialReference(srs)
            throw CoordinateTransformer.Failure(description: "not a CRS GDAL can read")
        }
        self.init(handle: srs)
    }

    deinit { OSRDestroySpatialReference(handle) }

    /// The CRS as WKT (WKT1 as GDAL writes it for GeoPackage and FlatGeobuf layers).
    var wkt: String? {
        var out: UnsafeMutablePointer<CChar>?
        guard OSRExportToWkt(handle, &out) == OGRERR_NONE, let out else { return nil }
        defer { geo_cpl_free(out) }
        return String(cString: out)
    }
}

/// Names of CRSs as a caller gives them.
public enum CRSName {
    /// The code of `EPSG:n` (case-insensitive, n of 1 to 6 digits); nil for anything else.
    public static func epsg(_ text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].uppercased() == "EPSG", (1...6).contains(parts[1].count),
            parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let code = Int(parts[1]), code > 0
        else { return nil }
        return code
    }

    /// Whether GDAL knows the CRS `EPSG:n` named by `text`.
    public static func isKnown(_ text: String) -> Bool {
        guard let code = epsg(text) else { return false }
        return (try? SpatialReference(epsg: code)) != nil
    }
}
