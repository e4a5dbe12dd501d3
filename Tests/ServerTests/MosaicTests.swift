import Foundation
import GeoInferTestSupport
import GeoRaster
import Testing

/// A real aerial raster (NEON OSBS_029: UTM 17N, 0.1 m) with objects burnt in across the lines
/// where it is then cut, run whole and as a 2 × 2 mosaic of abutting files and of overlapping
/// files: the merged layer holds exactly the objects of the whole raster, while the files' own
/// detections count some twice or in halves. The GIS layers open in OGR with their CRS and
/// attributes.
@Suite(.serialized) struct MosaicTests {
    static let sample = Fixtures.root.appendingPathComponent(".deps/samples/OSBS_029.tif").path
    static let size = 400

    /// Marker objects (pixel pairs or squares straddling a line, so the whole raster sees one
    /// object and each side of the line a part): across the abutting cut's seams (200), the
    /// overlapping cut's file borders (160 and 240), at the four-file corner, and inside files.
    static let markers: [(Int, Int)] = [
        (199, 50), (200, 50),  // across x = 200
        (50, 199), (50, 200),  // across y = 200
        (199, 199), (200, 199), (199, 200), (200, 200),  // the corner of four files
        (159, 300), (160, 300),  // across x = 160
        (239, 100), (240, 100),  // across x = 240
        (320, 239), (320, 240),  // across y = 240
        (30, 30), (350, 350), (100, 330), (330, 120),  // inside
    ]

    /// The scene: OSBS_029 with band 1 (the test model's score) scaled below its threshold and its
    /// nodata value dropped (GDAL keeps nodata pixels at 255 through a scale), so the imagery itself
    /// finds nothing, and the markers burnt in with `gdal_rasterize` at their pixels' centres.
    static func scene(in dir: URL) async throws -> String {
        let scene = dir.appendingPathComponent("scene.tif").path
        try await check(
            Fixtures.run(
                "/usr/bin/gdal_translate", ["-q", "-ot", "Byte", "-a_nodata", "none", "-scale_1", "0", "255", "0", "50", sample, scene]))
        let gt = try #require(try Raster(path: scene).info.geoTransform?.coefficients)
        let points = markers.map { x, y in
            #"{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[\#(gt[0] + (Double(x) + 0.5) * gt[1]),\#(gt[3] + (Double(y) + 0.5) * gt[5])]}}"#
        }
        let geojson = dir.appendingPathComponent("markers.geojson")
        try Data(
            #"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:32617"}},"features":[\#(points.joined(separator: ","))]}"#
                .utf8
        ).write(to: geojson)
        try await check(
            Fixtures.run(
                "/usr/bin/gdal_rasterize",
                [
                    "-q", "-l", "markers", "-b", "1", "-b", "2", "-b", "3",
                    "-burn", "200", "-burn", "24", "-burn", "24", geojson.path, scene,
                ]))
        return scene
    }

    /// The scene cut into 2 × 2 files of `size` pixels at `step` apart (abutting when equal).
    static func cut(_ scene: String, size: Int, step: Int, into dir: URL) async throws -> [URL] {
        var files: [URL] = []
        for row in 0..<2 {
            for column in 0..<2 {
                let out = dir.appendingPathComponent("tile_\(row)_\(column).tif")
                try await check(
                    Fixtures.run(
                        "/usr/bin/gdal_translate",
                        ["-q", "-srcwin", "\(column * step)", "\(row * step)", "\(size)", "\(size)", scene, out.path]))
                files.append(out)
            }
        }
        return files
    }

    static func check(_ r: Fixtures.ProcessResult) throws {
        guard r.status == 0 else { throw TestFailure("GDAL tool failed: \(r.stderr)") }
    }

    /// Runs a job over `files` and returns its final `GET /jobs/{id}` document.
    static func run(_ server: some HTTPService, _ files: [URL], fields: [(String, String)] = []) async throws -> [String: Any] {
        var form = Multipart()
        for f in files { form.file(f.lastPathComponent, try Data(contentsOf: f)) }
        for (k, v) in fields { form.field(k, v) }
        let r: Reply
        do { r = try await server.upload(form) } catch {
            throw TestFailure("upload of \(files.map(\.lastPathComponent)): \(error)\n\(server.serverLog)")
        }
        try #require(r.status == 202, "\(r.text)")
        let id = try #require(r.json["job_id"] as? String)
        let final = try await server.waitFinal(id)
        #expect(final["status"] as? String == "completed", "\(final)")
        return try await server.get("/jobs/\(id)").json
    }

    /// A layer of a GIS file as GeoJSON, read by `ogr2ogr` (the features and their attributes).
    static func features(_ path: String, layer: String? = nil) async throws -> [[String: Any]] {
        let r = try await Fixtures.run("/usr/bin/ogr2ogr", ["-f", "GeoJSON", "/vsistdout/", path] + (layer.map { [$0] } ?? []))
        try check(r)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        return try #require(json["features"] as? [[String: Any]])
    }

    /// The bounding rectangle of a GeoJSON polygon feature.
    static func bounds(_ feature: [String: Any]) throws -> [Double] {
        let geometry = try #require(feature["geometry"] as? [String: Any])
        let ring = try #require((geometry["coordinates"] as? [[[Double]]])?.first)
        return [ring.map { $0[0] }.min()!, ring.map { $0[1] }.min()!, ring.map { $0[0] }.max()!, ring.map { $0[1] }.max()!]
    }

    @Test func aMosaicCutIntoFilesGivesTheObjectsOfTheWholeRaster() async throws {
        let dir = Fixtures.temporaryDirectory("mosaic")
        let scene = try await Self.scene(in: dir)
        try await InProcessServer.with(model: Fixtures.model("yolo_10cm")) { server in

            // The whole raster: one box per object, in its CRS (the COCO document's geo_bbox).
            let whole = try await Self.run(server, [URL(fileURLWithPath: scene)])
            let wholeID = try #require(whole["job_id"] as? String)
            let coco = try #require(try await server.get("/results/\(wholeID)/coco.json").json["annotations"] as? [[String: Any]])
            let objects = try coco.map { try #require($0["geo_bbox"] as? [Double]) }
            #expect(objects.count == 10, "the ten objects burnt in are found in the whole raster")
            #expect(whole["detections_merged"] as? Int == objects.count)

            for (label, size, step, crs) in [("abutting", 200, 200, nil), ("overlapping", 240, 160, "EPSG:4326")]
                as [(String, Int, Int, String?)]
            {
                let cutDir = dir.appendingPathComponent(label)
                try FileManager.default.createDirectory(at: cutDir, withIntermediateDirectories: true)
                var fields = [("formats", "coco,geojson,gpkg,fgb")]
                if let crs { fields += [("out_crs", crs), ("nms", "ios")] }
                let job = try await Self.run(server, try Self.cut(scene, size: size, step: step, into: cutDir), fields: fields)
                let id = try #require(job["job_id"] as? String)
                let perFile = try #require(job["detections"] as? Int)
                #expect(perFile > objects.count, "\(label): the files' own detections count cut objects more than once (\(perFile))")
                #expect(job["detections_merged"] as? Int == objects.count, "\(label): \(job["detections_merged"] ?? "none") merged")
                let links = try #require(job["results"] as? [String: String])
                #expect(Set(links.keys) == ["coco", "geojson", "detections_merged", "gpkg", "fgb", "fgb_merged", "metadata"])
                #expect(job["formats"] as? [String] == ["coco", "geojson", "gpkg", "fgb"])
                #expect(job["nms"] as? String == (crs == nil ? "iou" : "ios"))

                // The merged GeoJSON (WGS84) has one feature per object.
                let mergedGeoJSON = try await server.get("/results/\(id)/detections_merged.geojson")
                #expect(mergedGeoJSON.headers.contains { $0.0.lowercased() == "content-type" && $0.1 == "application/geo+json" })
                #expect((mergedGeoJSON.json["features"] as? [Any])?.count == objects.count)

                // The GeoPackage and FlatGeobuf files as a GIS opens them.
                var paths: [String: String] = [:]
                for name in ["detections.gpkg", "detections.fgb", "detections_merged.fgb"] {
                    let r = try await server.get("/results/\(id)/\(name)")
                    try #require(r.status == 200, "\(name): \(r.text)")
                    let path = cutDir.appendingPathComponent(name).path
                    try r.body.write(to: URL(fileURLWithPath: path))
                    paths[name] = path
                }
                let gpkg = try #require(paths["detections.gpkg"])
                let info = try await Fixtures.run("/usr/bin/ogrinfo", ["-so", "-al", gpkg])
                try Self.check(info)
                #expect(info.stdout.contains("Layer name: detections_merged") && info.stdout.contains("Layer name: detections"))
                let epsg = crs == nil ? "32617" : "4326"
                #expect(info.stdout.contains(#"ID["EPSG",\#(epsg)]"#), "\(label): layers in EPSG:\(epsg)")
                let merged = try await Self.features(gpkg, layer: "detections_merged")
                let files = try await Self.features(gpkg, layer: "detections")
                #expect(merged.count == objects.count)
                #expect(files.count == perFile)
                #expect(try await Self.features(try #require(paths["detections_merged.fgb"])).count == objects.count)
                #expect(try await Self.features(try #require(paths["detections.fgb"])).count == perFile)
                for f in merged + files {
                    let p = try #require(f["properties"] as? [String: Any])
                    #expect(p["job"] as? String == id)
                    #expect(p["model"] as? String == "test-markers@1.0.0")
                    #expect(p["class"] as? String == "large")
                    #expect((p["score"] as? Double).map { $0 > 0.7 && $0 <= 1 } == true)
                    #expect((p["file"] as? String)?.hasPrefix("tile_") == true)
                }
                #expect(
                    merged.contains { ($0["properties"] as? [String: Any])?["parts"] as? Int == 4 } == (step == size),
                    "\(label): the corner object is joined from four parts only where the files abut")

                // Each merged box is an object of the whole raster, within a pixel (two markers a pixel apart make one object).
                if crs == nil {
                    for object in objects {
                        let near = try merged.filter { f in
                            zip(try Self.bounds(f), object).allSatisfy { abs($0 - $1) <= 0.1 + 1e-6 }
                        }
                        #expect(near.count == 1, "\(label): object \(object) matched by \(near.count) merged boxes")
                    }
                } else {
                    for f in merged {
                        let b = try Self.bounds(f)
                        #expect(b[0] > -82.1 && b[2] < -81.9 && b[1] > 29.6 && b[3] < 29.8, "\(label): \(b) in degrees near OSBS")
                    }
                }
            }
        }
    }

    @Test func detectMergesFilesInDifferentCRSs() async throws {
        // The same scene twice: as it is (UTM 17N) and warped to UTM 16N at the same 0.1 m. Every
        // object is found in both; merged in the first file's CRS, each is one object.
        let dir = Fixtures.temporaryDirectory("mixed-crs")
        let scene = try await Self.scene(in: dir)
        let warped = dir.appendingPathComponent("zone16.tif").path
        try await Self.check(
            Fixtures.run("/usr/bin/gdalwarp", ["-q", "-t_srs", "EPSG:32616", "-tr", "0.1", "0.1", "-r", "near", scene, warped]))
        let out = dir.appendingPathComponent("out")
        let run = try await Fixtures.run(
            Fixtures.geoinferExecutable,
            [
                "detect", scene, warped, "--model", Fixtures.model("yolo_10cm"), "--out", out.path,
                "--merge", "--formats", "geojson,gpkg",
            ])
        try #require(run.status == 0, "\(run.stderr)")
        let merged =
            try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("detections_merged.geojson")))
            as? [String: Any]
        let features = try #require(merged?["features"] as? [[String: Any]])
        #expect(features.count == 10, "\(run.stderr)")
        #expect(features.allSatisfy { (($0["properties"] as? [String: Any])?["source_files"] as? [String])?.count == 2 })
        let gpkg = out.appendingPathComponent("detections.gpkg").path
        #expect(try await Self.features(gpkg, layer: "detections").count == 20)
        #expect(try await Self.features(gpkg, layer: "detections_merged").count == 10)
        let info = try await Fixtures.run("/usr/bin/ogrinfo", ["-so", gpkg, "detections"])
        #expect(info.stdout.contains(#"ID["EPSG",32617]"#), "the per-file layer is reprojected into the common CRS")
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("metadata.json"))) as? [String: Any]
        #expect((meta?["merge"] as? [String: Any])?["duplicates_dropped"] as? Int == 10)
    }

    @Test func formatsAndOutputCRSAreChecked() async throws {
        try await InProcessServer.with { server in
            for (field, value, code) in [
                ("formats", "coco,shapefile", "invalid_formats"), ("formats", ",", "invalid_formats"),
                ("out_crs", "EPSG:999999", "invalid_out_crs"), ("out_crs", "/etc/passwd", "invalid_out_crs"),
                ("out_crs", "+proj=longlat", "invalid_out_crs"), ("nms", "soft", "invalid_nms"),
            ] {
                var form = Multipart()
                form.file("a.tif", try Scenes.raster())
                form.field(field, value)
                let r = try await server.upload(form)
                #expect(r.status == 422 && r.errorCode == code, "\(field)=\(value): \(r.status) \(r.text)")
            }
            // A job without GIS formats has no GIS documents: 404 naming its formats.
            var form = Multipart()
            form.file("a.tif", try Scenes.raster())
            form.field("formats", "geojson")
            let r = try await server.upload(form)
            let id = try #require(r.json["job_id"] as? String)
            _ = try await server.waitFinal(id)
            let gpkg = try await server.get("/results/\(id)/detections.gpkg")
            #expect(gpkg.status == 404 && gpkg.errorMessage.contains("geojson"), "\(gpkg.text)")
            #expect(try await server.get("/results/\(id)/coco.json").status == 404)
            #expect(try await server.get("/results/\(id)/detections_merged.geojson").status == 200)
        }
    }
}
