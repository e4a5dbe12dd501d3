/// GDAL's affine geotransform: map = origin + pixel · (a, b; d, e), pixel corner anchored
/// (pixel (0, 0) is the top-left corner of the top-left pixel).
public struct GeoTransform: Sendable, Equatable, Codable {
    /// x of the top-left corner, pixel width, row rotation, y of the top-left corner, column rotation, pixel height (negative for north-up).
    public var coefficients: [Double]

    /// Creates a transform from GDAL's six coefficients; returns nil when they are not invertible.
    public init?(_ c: [Double]) {
        guard c.count == 6, c.allSatisfy(\.isFinite), c[1] * c[5] - c[2] * c[4] != 0 else { return nil }
        coefficients = c
    }

    /// Map coordinates of the pixel-space point (x, y) (corner-anchored, fractional allowed).
    public func apply(x: Double, y: Double) -> (x: Double, y: Double) {
        let c = coefficients
        return (c[0] + x * c[1] + y * c[2], c[3] + x * c[4] + y * c[5])
    }

    /// Pixel-space point of the map coordinates (x, y).
    public func invert(x: Double, y: Double) -> (x: Double, y: Double) {
        let c = coefficients
        let det = c[1] * c[5] - c[2] * c[4]
        let dx = x - c[0]
        let dy = y - c[3]
        return ((dx * c[5] - dy * c[2]) / det, (dy * c[1] - dx * c[4]) / det)
    }

    /// Length of one pixel step along x and along y, in map units.
    public var pixelSize: (x: Double, y: Double) {
        let c = coefficients
        return ((c[1] * c[1] + c[4] * c[4]).squareRoot(), (c[2] * c[2] + c[5] * c[5]).squareRoot())
    }
}
