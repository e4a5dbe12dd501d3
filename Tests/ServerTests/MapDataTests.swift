import Foundation
import GeoInferTestSupport
import GeoRaster
import NIOHTTP1
import Server
import Testing

/// What the dashboard's map reads: each file's footprint (from its header, when it was checked),
/// the job's footprints as GeoJSON, and Leaflet served by the server itself.
@Suite struct MapDataTests {
    @Test func footprintsComeFromTheHeaderAndServeAsGeoJSON() async throws {
        try await InProcessServer.with { server in
            let dir = Fixtures.temporaryDirectory("footprints")
            defer { try? FileManager.default.removeItem(at: dir) }
            var placed = SyntheticRaster(width: 150, height: 100)
            placed.origin = (431_000, 3_295_000)
            placed.pixelSize = 0.1
            var bare = SyntheticRaster(width: 80, height: 60)
            bare.epsg = nil
            let placedPath = dir.appendingPathComponent("placed.tif").path
            let barePath = dir.appendingPathComponent("bare.tif").path
            try placed.write(to: placedPath)
            try bare.write(to: barePath)
            var form = Multipart()
            form.file("placed.tif", try Data(contentsOf: URL(fileURLWithPath: placedPath)))
            form.file("bare.tif", try Data(contentsOf: URL(fileURLWithPath: barePath)))
            let id = try #require(try await server.upload(form).json["job_id"] as? String)

            // Known as soon as the upload is accepted, whatever the worker has done.
            let files = try await server.get("/jobs/\(id)").json["files"] as? [[String: Any]] ?? []
            #expect(files.count == 2)
            let corners = try await Fixtures.gdalTransformToWGS84(raster: placedPath, pixels: [(0, 0), (150, 0), (150, 100), (0, 100)])
            let expected = [
                corners.map { $0[0] }.min()!, corners.map { $0[1] }.min()!, corners.map { $0[0] }.max()!, corners.map { $0[1] }.max()!,
            ]
            let bbox = files.first?["bbox"] as? [Double] ?? []
            #expect(bbox.count == 4 && zip(bbox, expected).allSatisfy { abs($0 - $1) < 1e-6 }, "\(bbox) vs \(expected)")
            let polygon = files.first?["footprint"] as? [String: Any] ?? [:]
            let ring = (polygon["coordinates"] as? [[[Double]]])?.first ?? []
            #expect(polygon["type"] as? String == "Polygon" && ring.count == 5 && ring.first == ring.last)
            for corner in corners {
                #expect(ring.contains { abs($0[0] - corner[0]) < 1e-6 && abs($0[1] - corner[1]) < 1e-6 }, "\(corner) in \(ring)")
            }
            #expect(files.last?["bbox"] == nil && files.last?["footprint"] == nil)

            let geojson = try await server.get("/results/\(id)/footprints.geojson")
            #expect(geojson.status == 200)
            #expect(geojson.headers.contains { $0.0.lowercased() == "content-type" && $0.1 == "application/geo+json" })
            let features = geojson.json["features"] as? [[String: Any]] ?? []
            // The file without georeferencing is not on the map.
            #expect(features.count == 1)
            let properties = features.first?["properties"] as? [String: Any] ?? [:]
            #expect(properties["name"] as? String == "placed.tif" && properties["status"] is String)
            #expect(features.first?["bbox"] as? [Double] == bbox)
            _ = try await server.waitFinal(id)
            let done = try await server.get("/results/\(id)/footprints.geojson").json["features"] as? [[String: Any]] ?? []
            let after = done.first?["properties"] as? [String: Any] ?? [:]
            #expect(
                after["status"] as? String == "succeeded" && after["quicklook"] as? String == "/results/\(id)/quicklooks/placed.tif.jpg")
            // The thumbnail the map shows from far away: a JPEG of at most 128 px.
            let thumbnailURL = try #require(after["thumbnail"] as? String)
            #expect(thumbnailURL == "/results/\(id)/thumbnails/placed.tif.jpg")
            let thumbnail = try await server.get(thumbnailURL)
            #expect(thumbnail.status == 200 && thumbnail.body.prefix(3) == Data([0xFF, 0xD8, 0xFF]))
            #expect(try await server.get(try #require(after["quicklook"] as? String)).status == 200)
            let small = try Raster(path: server.dataDir.appendingPathComponent("results/\(id)/thumbnails/placed.tif.jpg").path).info
            let look = try Raster(path: server.dataDir.appendingPathComponent("results/\(id)/quicklooks/placed.tif.jpg").path).info
            // The thumbnail (drawn while the file ran, at the grid the model sees, here 10× coarser) is
            // never larger than 128 px nor than the quicklook (drawn on request from the upload).
            #expect(
                max(small.width, small.height) <= 128 && small.width <= look.width && small.height <= look.height && small.width > 0,
                "\(small.width)×\(small.height) of \(look.width)×\(look.height)")
            for bad in ["placed.tif", "..%2Fquicklooks%2Fplaced.tif.jpg", "bare.tif.jpg.jpg"] {
                #expect(try await server.get("/results/\(id)/thumbnails/\(bad)").status == 404, "\(bad)")
            }
            #expect(try await server.get("/results/00000000-0000-0000-0000-000000000000/footprints.geojson").status == 404)
        }
    }

    @Test func leafletIsServedFromTheServerAndOnlyItsOwnFiles() async throws {
        try await InProcessServer.with { server in
            let js = try await server.get("/assets/leaflet/leaflet.js")
            #expect(js.status == 200 && js.text.contains("Leaflet"))
            #expect(js.headers.contains { $0.0.lowercased() == "content-type" && $0.1.hasPrefix("text/javascript") })
            #expect(try await server.get("/assets/leaflet/leaflet.css").status == 200)
            #expect(try await server.get("/assets/leaflet/images/layers.png").status == 200)
            for other in [
                "/assets/leaflet/leaflet.js.map", "/assets/leaflet/..%2F..%2Fetc%2Fpasswd", "/assets/leaflet/images/..%2Fleaflet.js",
                "/assets/leaflet/copyright",
            ] {
                let r = try await server.get(other)
                #expect(r.status == 404 && r.errorCode == "not_found", "\(other): \(r.status)")
            }
            let post = try await server.request(.POST, "/assets/leaflet/leaflet.js")
            #expect(post.status == 405)
            // The page loads it from the server, and the policy allows nothing from anywhere else.
            let page = try await server.request(.GET, "/", headers: [("Accept", "text/html")])
            #expect(page.text.contains(#"<script src="/assets/leaflet/leaflet.js"></script>"#))
            let policy = page.headers.first { $0.0.lowercased() == "content-security-policy" }?.1 ?? ""
            #expect(policy.contains("default-src 'self'") && !policy.contains("http"))
        }
    }

    /// Without Leaflet on the server, the dashboard still works and the asset answers say why.
    @Test func withoutLeafletTheMapSaysWhy() async throws {
        let noLeaflet: (inout ServerConfiguration) -> Void = { $0.mapLibraryDirectory = URL(fileURLWithPath: "/nonexistent/leaflet") }
        try await InProcessServer.with(configure: noLeaflet) { server in
            let js = try await server.get("/assets/leaflet/leaflet.js")
            #expect(js.status == 404 && js.text.contains("libjs-leaflet"), "\(js.text)")
            #expect(try await server.request(.GET, "/", headers: [("Accept", "text/html")]).status == 200)
            try await server.waitLog("the dashboard has no map")
        }
    }
}
