/// Where a raster lies on the Earth, in WGS84 degrees: its four corners and its bounding box.
/// Worked out once, when the file is checked, and kept with the file.
public struct Footprint: Codable, Sendable, Equatable {
    /// The corners of the pixel grid as [lon, lat]: top-left, top-right, bottom-right, bottom-left.
    /// Longitudes may pass 180 for a raster that crosses the antimeridian, so the ring never wraps.
    public var corners: [[Double]]
    /// [west, south, east, north], taken over points all along the edges (a projected edge can bow
    /// out beyond its corners), so it holds the whole raster.
    public var bbox: [Double]

    /// A footprint from its corners and bounding box, as given; ``of(width:height:pixelToMap:toWGS84:)`` works one out.
    public init(corners: [[Double]], bbox: [Double]) {
        self.corners = corners
        self.bbox = bbox
    }

    /// Points sampled along each edge for the bounding box, corners included.
    static let edgeSamples = 16

    /// The footprint of a `width` × `height` grid placed by `pixelToMap` (pixel corner coordinates
    /// to the raster's CRS), with `toWGS84` converting
    /// map coordinates to (lon, lat). Nil when any point cannot be converted, lands off the Earth
    /// (a hostile or broken header), or when the outline holds a pole: a file without a footprint
    /// is simply not on the map.
    public static func of(
        width: Int, height: Int, pixelToMap: (Double, Double) -> (x: Double, y: Double),
        toWGS84: ([(Double, Double)]) throws -> [(lon: Double, lat: Double)]
    ) -> Footprint? {
        guard width > 0, height > 0 else { return nil }
        let w = Double(width)
        let h = Double(height)
        let n = edgeSamples
        // Clockwise around the grid from the top-left corner; corners at 0, n, 2n, 3n.
        var pixels: [(Double, Double)] = []
        pixels.reserveCapacity(4 * n)
        for i in 0..<n { pixels.append((w * Double(i) / Double(n), 0)) }
        for i in 0..<n { pixels.append((w, h * Double(i) / Double(n))) }
        for i in 0..<n { pixels.append((w - w * Double(i) / Double(n), h)) }
        for i in 0..<n { pixels.append((0, h - h * Double(i) / Double(n))) }
        let map = pixels.map { pixelToMap($0.0, $0.1) }
        guard map.allSatisfy({ $0.x.isFinite && $0.y.isFinite }),
            let lonlat = try? toWGS84(map.map { ($0.x, $0.y) }), lonlat.count == map.count,
            lonlat.allSatisfy({ $0.lon.isFinite && (-90...90).contains($0.lat) && abs($0.lon) <= 540 })
        else { return nil }
        // Unwrap longitudes along the ring, so an edge across the antimeridian does not span the globe.
        var lons: [Double] = []
        lons.reserveCapacity(lonlat.count)
        for p in lonlat {
            var lon = p.lon
            if let last = lons.last {
                while lon - last > 180 { lon -= 360 }
                while lon - last < -180 { lon += 360 }
            }
            lons.append(lon)
        }
        // The ring must close where it started: one that went once around the globe holds a pole,
        // and no longitude range describes it. A ring that spans the whole globe is no outline either.
        guard let first = lons.first, let last = lons.last, abs(last - first) < 180,
            let west = lons.min(), let east = lons.max(), east - west < 360
        else { return nil }
        let shift = west < -180 ? 360.0 : (west >= 180 ? -360.0 : 0)
        let lats = lonlat.map(\.lat)
        let corners = [0, n, 2 * n, 3 * n].map { [round(lons[$0] + shift), round(lats[$0])] }
        return Footprint(
            corners: corners, bbox: [round(west + shift), round(lats.min() ?? 0), round(east + shift), round(lats.max() ?? 0)])
    }

    /// Degrees to 1e-7 (about a centimetre): the outline stays compact in JSON.
    static func round(_ v: Double) -> Double { (v * 1e7).rounded() / 1e7 }
}
