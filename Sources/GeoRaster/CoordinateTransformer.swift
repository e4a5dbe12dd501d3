internal import CGDAL

/// Transforms coordinates from a raster's CRS to WGS84 longitude/latitude (traditional GIS order).
/// Owns its OGR handles; not `Sendable` (OGR transformations are not thread-safe).
public final class CoordinateTransformer {
    private let transform: OGRCoordinateTransformationH
    private let target: OGRSpatialReferenceH
    private let source: OGRSpatialReferenceH

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(sourceSRS: OGRSpatialReferenceH) throws {
        GDAL.register()
        guard let src = OSRClone(sourceSRS) else { throw Failure(description: "cannot copy the raster's CRS") }
        guard let dst = OSRNewSpatialReference(nil) else {
            OSRDestroySpatialReference(src)
            throw Failure(description: "cannot create WGS84")
        }
        // Both ends in x/y = lon/lat order, whatever the CRS's official axis order says.
        OSRSetAxisMappingStrategy(src, OAMS_TRADITIONAL_GIS_ORDER)
        OSRSetAxisMappingStrategy(dst, OAMS_TRADITIONAL_GIS_ORDER)
        _ = OSRImportFromEPSG(dst, 4326)
        let (ct, error) = GDAL.call { OCTNewCoordinateTransformation(src, dst) }
        guard let ct else {
            OSRDestroySpatialReference(src)
            OSRDestroySpatialReference(dst)
            throw Failure(description: "no transformation from the raster's CRS to WGS84: \(error ?? "unknown")")
        }
        source = src
        target = dst
        transform = ct
    }

    /// Creates a transformer from the CRS `epsg` to WGS84.
    public convenience init(epsg: Int) throws {
        GDAL.register()
        guard let srs = OSRNewSpatialReference(nil) else { throw Failure(description: "cannot create a CRS") }
        defer { OSRDestroySpatialReference(srs) }
        guard OSRImportFromEPSG(srs, Int32(epsg)) == OGRERR_NONE else { throw Failure(description: "unknown EPSG code \(epsg)") }
        try self.init(sourceSRS: srs)
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

    /// WGS84 (lon, lat) of many points in one call.
    public func toWGS84(_ points: [(Double, Double)]) throws -> [(lon: Double, lat: Double)] {
        var xs = points.map(\.0), ys = points.map(\.1)
        var ok = [Int32](repeating: 0, count: points.count)
        let n = Int32(points.count)
        let all = GDAL.call {
            OCTTransformEx(transform, n, &xs, &ys, nil, &ok)
        }.value
        guard all != 0, ok.allSatisfy({ $0 != 0 }) else {
            throw Failure(description: "point outside the area where the raster's CRS can be converted to WGS84")
        }
        return zip(xs, ys).map { (lon: $0, lat: $1) }
    }
}
