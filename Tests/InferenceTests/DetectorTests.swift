import Formats
import Foundation
import GeoInferTestSupport
import GeoRaster
import Inference
import Synchronization
import Testing

/// Helpers shared by the detector suites.
enum Run {
    static func detector(_ model: String, _ configure: (inout DetectionOptions) -> Void = { _ in }) async throws -> Detector {
        let loaded = try await Model.load(path: Fixtures.model(model), options: SessionOptions(threads: 1))
        var options = DetectionOptions()
        configure(&options)
        return try Detector(model: loaded, options: options)
    }

    /// Boxes rounded to 1/1000 px and sorted, for exact comparison.
    static func boxes(_ r: FileResult) -> [[Double]] {
        r.detections.map { g in
            let b = g.detection.box
            return [b.x1, b.y1, b.x2, b.y2, Double(g.detection.classIndex)].map { ($0 * 1000).rounded() / 1000 }
        }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    static func expected(_ markers: [Marker], width: Int, height: Int) -> [[Double]] {
        markers.map { m in
            let b = m.expectedBox(rasterWidth: width, rasterHeight: height)
            return [b.x1, b.y1, b.x2, b.y2, Double(m.classIndex)].map { ($0 * 1000).rounded() / 1000 }
        }.sorted { $0.lexicographicallyPrecedes($1) }
    }
}

@Suite struct DetectorTests {
    /// 300 × 200 px, 64 px tiles with 20% overlap (tile origins x 0, 51, 102, 153, 204, 236 and y 0, 51, 102, 136).
    static let markers = [
        Marker(x: 10, y: 10, score: 200, width: 16, height: 12),
        Marker(x: 50, y: 30, score: 150, width: 20, height: 20),  // box straddles the border of tiles 0 and 1
        Marker(x: 63, y: 100, score: 220, width: 30, height: 10),  // in two overlapping tiles: found twice, merged
        Marker(x: 299, y: 199, score: 180, width: 40, height: 40),  // bottom-right corner: clipped to the raster
        Marker(x: 0, y: 150, score: 120, width: 10, height: 10),  // left edge
        Marker(x: 150, y: 100, score: 240, width: 100, height: 60),  // box larger than a tile
        Marker(x: 236, y: 136, score: 90, width: 8, height: 8),  // on the shifted edge tiles' corner
    ]

    struct Layout: Sendable, CustomTestStringConvertible {
        var name: String
        var driver = "GTiff"
        var options: [String]
        var type: RasterDataType
        var bands: Int
        var testDescription: String { name }
    }

    static let layouts = [
        Layout(name: "tiled DEFLATE uint8 RGB", options: ["TILED=YES", "COMPRESS=DEFLATE"], type: .byte, bands: 3),
        Layout(name: "striped LZW uint16 RGB", options: ["COMPRESS=LZW"], type: .uint16, bands: 3),
        Layout(name: "tiled float32 RGBA", options: ["TILED=YES", "BLOCKXSIZE=32", "BLOCKYSIZE=32"], type: .float32, bands: 4),
        Layout(name: "COG DEFLATE uint8 RGB", driver: "COG", options: ["COMPRESS=DEFLATE", "BLOCKSIZE=128"], type: .byte, bands: 3),
    ]

    @Test(arguments: ["yolo", "boxes"], layouts)
    func exactBoxesAfterTilingAndMerging(model: String, layout: Layout) async throws {
        let dir = Fixtures.temporaryDirectory("detect")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("scene.tif").path
        var raster = SyntheticRaster(width: 300, height: 200)
        raster.markers = Self.markers
        raster.bands = layout.bands
        raster.dataType = layout.type
        raster.driver = layout.driver
        raster.creationOptions = layout.options
        try raster.write(to: path)

        let result = try await Run.detector(model).detect(path: path)
        #expect(Run.boxes(result) == Run.expected(Self.markers, width: 300, height: 200))
        #expect(result.tiles.planned == 24)
        #expect(result.tiles.run + result.tiles.skipped == 24)
        // Scores come through exactly (markers hold score × 255).
        let scores = Set(result.detections.map { ($0.detection.score * 255).rounded() })
        #expect(scores == Set(Self.markers.map { Float($0.score) }))
    }

    @Test func blankTilesAreSkippedWithoutChangingResults() async throws {
        let dir = Fixtures.temporaryDirectory("blank")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("scene.tif").path
        var raster = SyntheticRaster(width: 300, height: 200)
        raster.markers = Self.markers
        try raster.write(to: path)

        let skipping = try await Run.detector("yolo").detect(path: path)
        let all = try await Run.detector("yolo") { $0.skipBlankTiles = false }.detect(path: path)
        #expect(Run.boxes(skipping) == Run.boxes(all))
        #expect(all.tiles.run == 24 && all.tiles.skipped == 0)
        // Only tiles holding a marker pixel differ from a uniform background.
        let plan = try TilePlan(rasterWidth: 300, rasterHeight: 200, tileWidth: 64, tileHeight: 64, overlap: 0.2)
        let withMarker = (0..<plan.count).map(plan.tile).filter { t in
            Self.markers.contains { $0.x >= t.x && $0.x < t.x + 64 && $0.y >= t.y && $0.y < t.y + 64 }
        }.count
        #expect(skipping.tiles.run == withMarker)
        #expect(skipping.tiles.skipped == 24 - withMarker)
    }

    @Test func nodataTilesAreSkipped() async throws {
        let dir = Fixtures.temporaryDirectory("nodata")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("scene.tif").path
        var raster = SyntheticRaster(width: 300, height: 200)
        raster.dataType = .float32
        raster.nodata = -9999
        raster.background = 3  // bands 2 and 3 hold 3 outside markers; band 1 holds 0
        raster.nodataRects = [Window(x: 0, y: 0, width: 120, height: 200)]
        raster.markers = [Marker(x: 200, y: 100, width: 20, height: 20)]
        try raster.write(to: path)
        let result = try await Run.detector("yolo") { $0.skipBlankTiles = true }.detect(path: path)
        #expect(Run.boxes(result) == Run.expected(raster.markers, width: 300, height: 200))
        // Columns at x 0 and 51 lie wholly in the nodata strip (0..<120): 2 × 4 tiles at least are skipped.
        #expect(result.tiles.skipped >= 8)
        #expect(result.info.nodata == [-9999, -9999, -9999])
    }

    @Test func rasterSmallerThanATile() async throws {
        let dir = Fixtures.temporaryDirectory("small")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("tiny.tif").path
        var raster = SyntheticRaster(width: 40, height: 30)
        raster.markers = [Marker(x: 20, y: 15, width: 10, height: 6), Marker(x: 39, y: 29, width: 12, height: 12)]
        try raster.write(to: path)
        let result = try await Run.detector("yolo").detect(path: path)
        #expect(result.tiles.planned == 1)
        #expect(Run.boxes(result) == Run.expected(raster.markers, width: 40, height: 30))
    }

    /// A raster at 0.5 m runs on the model's 1 m grid and its boxes come back in 0.5 m pixels.
    @Test func resamplesToTheModelGSD() async throws {
        let dir = Fixtures.temporaryDirectory("gsd")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("fine.tif").path
        var raster = SyntheticRaster(width: 400, height: 300)
        raster.pixelSize = 0.5
        raster.markerBlock = 2  // 2 × 2 raster pixels average to one model pixel
        raster.markers = [Marker(x: 40, y: 40, width: 20, height: 10), Marker(x: 300, y: 150, score: 250, width: 30, height: 30)]
        try raster.write(to: path)
        let result = try await Run.detector("yolo").detect(path: path)
        #expect(abs(result.resampleFactor - 0.5) < 1e-9)
        #expect(
            try result.tiles.planned
                == TilePlan(rasterWidth: 400, rasterHeight: 300, tileWidth: 64, tileHeight: 64, overlap: 0.2, scale: 0.5).count)
        // Model pixel (20, 20), centre 20.5, box 20 × 10 model px = 40 × 20 raster px centred at 41.
        #expect(Run.boxes(result) == [[21, 31, 61, 51, 1], [271, 121, 331, 181, 1]])
    }

    @Test func singleBandRasterFeedsEveryChannel() async throws {
        let dir = Fixtures.temporaryDirectory("grey")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("grey.tif").path
        var raster = SyntheticRaster(width: 300, height: 200)
        raster.bands = 1
        raster.markers = [Marker(x: 100, y: 100, score: 80, width: 0, height: 0)]
        try raster.write(to: path)
        let result = try await Run.detector("yolo").detect(path: path)
        // Band 1 = 80 feeds score, width and height: an 80 × 80 box.
        #expect(Run.boxes(result) == [[60.5, 60.5, 140.5, 140.5, 0]])
        #expect(result.warnings.contains { $0.contains("single-band") })
    }

    /// A model without an embedded manifest reads the sidecar JSON, whose band order is [3, 2, 1].
    @Test func sidecarManifestAndBandOrder() async throws {
        let dir = Fixtures.temporaryDirectory("sidecar")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bgr.tif").path
        var raster = SyntheticRaster(width: 200, height: 150)
        // Band 1 = 100 → box height, band 2 = 30 → width, band 3 = 200 → score.
        raster.markers = [Marker(x: 80, y: 60, score: 100, width: 30, height: 200)]
        try raster.write(to: path)
        let detector = try await Run.detector("yolo_sidecar")
        #expect(detector.model.manifest.bandOrder == [3, 2, 1])
        let result = try await detector.detect(path: path)
        #expect(Run.boxes(result) == [[65.5, 10.5, 95.5, 110.5, 1]])
    }

    /// With a model that clips boxes to its tile, an object on a tile border is found whole in one
    /// tile and cut in the next: IoU keeps both, IoS merges the cut box into the whole one.
    @Test func iosMergesBoxesCutAtTileBorders() async throws {
        let dir = Fixtures.temporaryDirectory("ios")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("border.tif").path
        var raster = SyntheticRaster(width: 300, height: 200)
        raster.markers = [Marker(x: 51, y: 20, width: 24, height: 10)]  // tile 1 starts at x 51
        try raster.write(to: path)
        let iou = try await Run.detector("yolo_clip") { $0.iouThreshold = 0.6 }.detect(path: path)
        #expect(Run.boxes(iou) == [[39.5, 15.5, 63.5, 25.5, 1], [51, 15.5, 63.5, 25.5, 1]])
        let ios = try await Run.detector("yolo_clip") {
            $0.iouThreshold = 0.6
            $0.nmsMetric = .ios
        }.detect(path: path)
        #expect(Run.boxes(ios) == [[39.5, 15.5, 63.5, 25.5, 1]])
    }

    @Test func scoreThresholdAndProgress() async throws {
        let dir = Fixtures.temporaryDirectory("progress")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("scene.tif").path
        var raster = SyntheticRaster(width: 300, height: 200)
        raster.markers = Self.markers
        try raster.write(to: path)
        let seen = ProgressLog()
        let result = try await Run.detector("yolo") {
            $0.scoreThreshold = 0.6
            $0.batchSize = 3
        }.detect(path: path) { seen.append($0) }
        #expect(Run.boxes(result) == Run.expected(Self.markers.filter { Double($0.score) / 255 >= 0.6 }, width: 300, height: 200))
        let updates = seen.all
        #expect(updates.count == 8)  // 24 tiles in batches of 3
        #expect(updates.map(\.tilesDone) == Array(stride(from: 3, through: 24, by: 3)))
        #expect(updates.allSatisfy { $0.tilesTotal == 24 && $0.file == "scene.tif" })
    }

    @Test func cancellationStopsTheRun() async throws {
        let dir = Fixtures.temporaryDirectory("cancel")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("big.tif").path
        var raster = SyntheticRaster(width: 3000, height: 3000)
        raster.markers = (0..<300).map { Marker(x: ($0 * 97) % 3000, y: ($0 * 61) % 3000, width: 10, height: 10) }
        try raster.write(to: path)
        let detector = try await Run.detector("yolo") { $0.batchSize = 1 }
        let seen = ProgressLog()
        let released = Flag()
        let task = Task {
            try await detector.detect(path: path) { p in
                seen.append(p)
                // The first batch is held until the test has cancelled: the run is mid-file then, whatever
                // the machine's speed. (A sleep cut short by the cancel is not an error here: the run
                // itself must notice it.)
                while !released.isSet { try? await Task.sleep(for: .milliseconds(1)) }
            }
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while seen.all.isEmpty {
            guard ContinuousClock.now < deadline else {
                released.set()
                task.cancel()
                Issue.record("no batch finished within 60 s")
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        task.cancel()
        released.set()
        await #expect(throws: CancellationError.self) { try await task.value }
        // It stopped before its next batch.
        #expect(seen.all.map(\.tilesDone) == [1], "\(seen.all)")
        #expect(seen.all.first.map { $0.tilesDone < $0.tilesTotal } == true)
    }
}

final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

final class ProgressLog: Sendable {
    private let items = Mutex<[TileProgress]>([])
    func append(_ p: TileProgress) { items.withLock { $0.append(p) } }
    var all: [TileProgress] { items.withLock { $0 } }
}
