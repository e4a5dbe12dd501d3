import Foundation
import GeoInferTestSupport
import GeoRaster
import Testing

@Suite struct GeoreferencingTests {
    @Test func geoTransformRoundTrips() throws {
        let gt = try #require(GeoTransform([1000, 0.5, 0.1, 2000, 0.05, -0.5]))
        let p = gt.apply(x: 12.25, y: 7.5)
        let back = gt.invert(x: p.x, y: p.y)
        #expect(abs(back.x - 12.25) < 1e-9 && abs(back.y - 7.5) < 1e-9)
        #expect(GeoTransform([0, 0, 0, 0, 0, 0]) == nil)
        #expect(GeoTransform([1, 2, 3]) == nil)
    }

    /// Pixel → UTM → WGS84 agrees with GDAL's own command-line transform of the same pixels.
    @Test func wgs84MatchesGdaltransform() async throws {
        let dir = Fixtures.temporaryDirectory("gdaltransform")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("utm.tif").path
        var r = SyntheticRaster(width: 300, height: 200)
        r.pixelSize = 0.1
        try r.write(to: path)
        let raster = try Raster(path: path)
        let transformer = try #require(try raster.makeWGS84Transformer())
        let gt = try #require(raster.info.geoTransform)
        let pixels: [(Double, Double)] = [(0, 0), (300, 0), (300, 200), (0, 200), (123.5, 77.25)]
        let ours = try transformer.toWGS84(pixels.map { gt.apply(x: $0.0, y: $0.1) })

        let theirs = try await Fixtures.gdalTransformToWGS84(raster: path, pixels: pixels)
        #expect(theirs.count == pixels.count)
        for (a, b) in zip(ours, theirs) {
            #expect(abs(a.lon - b[0]) < 1e-9 && abs(a.lat - b[1]) < 1e-9, "ours \(a) gdal \(b)")
        }
        // Sanity: UTM 17N easting 500000 is the central meridian, -81°.
        #expect(abs(ours[0].lon - -81) < 1e-6)
    }

    /// GSD of a geographic raster is in metres at its centre latitude.
    @Test func geographicGSDInMetres() throws {
        let dir = Fixtures.temporaryDirectory("geo")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("wgs84.tif").path
        var r = SyntheticRaster(width: 100, height: 100)
        r.epsg = 4326
        r.origin = (10.0, 60.0)  // at 60°N a degree of longitude is about half a degree of latitude
        r.pixelSize = 1e-5
        try r.write(to: path)
        let info = try Raster(path: path).info
        #expect(info.isGeographic)
        #expect(info.epsg == 4326)
        // 1e-5° ≈ 1.117 m north-south and ≈ 0.558 m east-west at 60°N: mean ≈ 0.838 m.
        let gsd = try #require(info.gsdMetres)
        #expect(abs(gsd - 0.838) < 0.005, "gsd \(gsd)")
    }
}
