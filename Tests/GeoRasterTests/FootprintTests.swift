import Formats
import Foundation
import GeoInferTestSupport
import GeoRaster
import Testing

/// Where a file lies on the map: properties of the outline over random grids, and GDAL's own
/// transform of a real UTM raster.
@Suite struct FootprintTests {
    /// Degrees are kept to 1e-7.
    static let tolerance = 1.5e-7

    /// In a geographic CRS (lon/lat already), any affine grid's box is exactly its corners' extent,
    /// holds every corner, and the corners run top-left, top-right, bottom-right, bottom-left.
    @Test func boxHoldsTheGridForRandomAffineGrids() throws {
        var rng = SplitMix(seed: 0xF007)
        for _ in 0..<500 {
            let w = Int(rng.next(1, 5000))
            let h = Int(rng.next(1, 5000))
            let size = rng.next(1e-6, 0.01)
            let shear = rng.index() % 3 == 0 ? rng.next(-size / 2, size / 2) : 0
            let x0 = rng.next(-170, 120)
            let y0 = rng.next(-30, 80)
            let c = [x0, size, shear, y0, shear / 3, -size]
            let t = try #require(GeoTransform(c))
            let f = try #require(
                Footprint.of(
                    width: w, height: h, pixelToMap: { t.apply(x: $0, y: $1) },
                    toWGS84: { $0.map { (lon: $0.0, lat: $0.1) } }))
            let expected = [(0.0, 0.0), (Double(w), 0), (Double(w), Double(h)), (0, Double(h))].map { t.apply(x: $0.0, y: $0.1) }
            for (corner, e) in zip(f.corners, expected) {
                #expect(abs(corner[0] - e.x) < Self.tolerance && abs(corner[1] - e.y) < Self.tolerance, "\(c) \(w)×\(h)")
            }
            let xs = expected.map(\.x)
            let ys = expected.map(\.y)
            let box = [xs.min()!, ys.min()!, xs.max()!, ys.max()!]
            #expect(zip(f.bbox, box).allSatisfy { abs($0 - $1) < Self.tolerance }, "\(f.bbox) \(box)")
        }
    }

    /// A projection that bows the edges outwards: the box takes the bulge, not just the corners.
    @Test func boxFollowsCurvedEdges() throws {
        let t = try #require(GeoTransform([0, 1, 0, 0, 0, -1]))
        // x stays, y bulges by 0.1 at the middle of the top and bottom edges.
        let f = try #require(
            Footprint.of(
                width: 100, height: 100, pixelToMap: { t.apply(x: $0, y: $1) },
                toWGS84: { points in
                    points.map { (lon: $0.0 / 1000, lat: $0.1 / 1000 + 0.1 * sin(Double.pi * $0.0 / 100) * ($0.1 == 0 ? 1 : -1)) }
                }))
        #expect(f.bbox[3] > 0.099 && f.bbox[1] < -0.199)
        #expect(f.corners.map { $0[1] }.max()! < 1e-9)
    }

    /// A grid across the antimeridian gets one box 0.2° wide, not one around the world.
    @Test func antimeridianDoesNotWrapTheBox() throws {
        let t = try #require(GeoTransform([179.9, 0.001, 0, 1, 0, -0.001]))
        let f = try #require(
            Footprint.of(
                width: 200, height: 100, pixelToMap: { t.apply(x: $0, y: $1) },
                toWGS84: { points in
                    points.map { (lon: $0.0 > 180 ? $0.0 - 360 : $0.0, lat: $0.1) }
                }))
        #expect(abs(f.bbox[0] - 179.9) < Self.tolerance && abs(f.bbox[2] - 180.1) < Self.tolerance, "\(f.bbox)")
        #expect(f.bbox[2] - f.bbox[0] < 0.3)
    }

    /// A grid centred on the North Pole (polar stereographic, say): its edges go once around the
    /// globe, so no longitude range holds it. No footprint rather than a band around the world.
    @Test func aGridAroundAPoleHasNone() throws {
        let t = try #require(GeoTransform([-100, 1, 0, 100, 0, -1]))
        let f = Footprint.of(
            width: 200, height: 200, pixelToMap: { t.apply(x: $0, y: $1) },
            toWGS84: { points in
                points.map { (lon: atan2($0.1, $0.0) * 180 / .pi, lat: 90 - ($0.0 * $0.0 + $0.1 * $0.1).squareRoot() / 100) }
            })
        #expect(f == nil)
        // The same grid beside the pole (not around it) has one.
        let beside = try #require(GeoTransform([100, 1, 0, 100, 0, -1]))
        #expect(
            Footprint.of(
                width: 200, height: 200, pixelToMap: { beside.apply(x: $0, y: $1) },
                toWGS84: { points in
                    points.map { (lon: atan2($0.1, $0.0) * 180 / .pi, lat: 90 - ($0.0 * $0.0 + $0.1 * $0.1).squareRoot() / 100) }
                }) != nil)
    }

    /// Hostile headers: no size, points the CRS cannot convert, or that land off the Earth: no
    /// footprint, never a trap.
    @Test func impossibleOutlinesGiveNone() throws {
        let t = try #require(GeoTransform([0, 1, 0, 0, 0, -1]))
        let map: (Double, Double) -> (x: Double, y: Double) = { t.apply(x: $0, y: $1) }
        struct Refused: Error {}
        #expect(Footprint.of(width: 0, height: 10, pixelToMap: map, toWGS84: { $0.map { (lon: $0.0, lat: $0.1) } }) == nil)
        #expect(Footprint.of(width: 10, height: -1, pixelToMap: map, toWGS84: { $0.map { (lon: $0.0, lat: $0.1) } }) == nil)
        #expect(Footprint.of(width: 10, height: 10, pixelToMap: map, toWGS84: { _ in throw Refused() }) == nil)
        #expect(Footprint.of(width: 10, height: 10, pixelToMap: map, toWGS84: { $0.map { _ in (lon: 0, lat: .nan) } }) == nil)
        #expect(Footprint.of(width: 10, height: 10, pixelToMap: map, toWGS84: { $0.map { (lon: $0.0, lat: 91) } }) == nil)
        #expect(
            Footprint.of(width: 10, height: 10, pixelToMap: map, toWGS84: { Array($0.dropLast().map { (lon: $0.0, lat: $0.1) }) }) == nil)
        #expect(
            Footprint.of(width: 10, height: 10, pixelToMap: { _, _ in (.infinity, 0) }, toWGS84: { $0.map { (lon: $0.0, lat: $0.1) } })
                == nil)
    }

    /// A UTM raster's footprint agrees with GDAL's command-line transform of its corners; a raster
    /// without georeferencing has none.
    @Test func utmFootprintMatchesGdaltransform() async throws {
        let dir = Fixtures.temporaryDirectory("footprint")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("utm.tif").path
        var synthetic = SyntheticRaster(width: 300, height: 200)
        synthetic.origin = (612_345, 3_301_000)
        synthetic.pixelSize = 0.5
        try synthetic.write(to: path)
        let f = try #require(try Raster(path: path).footprint())
        let gdal = try await Fixtures.gdalTransformToWGS84(raster: path, pixels: [(0, 0), (300, 0), (300, 200), (0, 200)])
        for (mine, theirs) in zip(f.corners, gdal) {
            #expect(abs(mine[0] - theirs[0]) < 1e-6 && abs(mine[1] - theirs[1]) < 1e-6, "\(mine) \(theirs)")
        }
        #expect(f.bbox[0] <= gdal.map { $0[0] }.min()! + 1e-7 && f.bbox[2] >= gdal.map { $0[0] }.max()! - 1e-7)
        var plain = SyntheticRaster(width: 50, height: 50)
        plain.epsg = nil
        let bare = dir.appendingPathComponent("bare.tif").path
        try plain.write(to: bare)
        #expect(try Raster(path: bare).footprint() == nil)
    }
}
