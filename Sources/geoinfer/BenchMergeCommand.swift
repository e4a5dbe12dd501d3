import ArgumentParser
import Formats
import Foundation
import GeoRaster
import Inference

/// `geoinfer bench-merge`: the seam merge of a large mosaic job, in memory: a grid of abutting
/// files over which objects are scattered, each file holding the parts of the objects inside it
/// (cut at its border, as a detector clipping to its raster does), merged as `finalize` merges
/// them. The baseline in the same run is the detector's own NMS over the same number of boxes.
struct BenchMergeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-merge",
        abstract: "Measure the merge of detections across files (time and memory) on a synthetic mosaic; prints JSON.")

    @Option(help: "Files along each side of the grid (files = side²).") var side = 100
    @Option(help: "Objects scattered over the mosaic.") var objects = 1_000_000
    @Option(help: "Pixels along each side of a file.") var filePixels = 1_000
    @Option(help: "Random seed.") var seed: UInt64 = 1

    func run() async throws {
        guard (1...1_000).contains(side), (1...20_000_000).contains(objects), (64...100_000).contains(filePixels) else {
            throw ValidationError("--side 1...1000, --objects 1...20000000, --file-pixels 64...100000")
        }
        let pixel = 0.1
        let origin = (x: 400_000.0, y: 3_300_000.0)
        // Objects over the whole mosaic, 8 to 40 pixels a side, each sent to every file it touches.
        var rng = SeededGenerator(seed: seed)
        let total = side * filePixels
        var perFile = [[GeoDetection]](repeating: [], count: side * side)
        var wholeBoxes: [Detection] = []
        wholeBoxes.reserveCapacity(objects)
        for _ in 0..<objects {
            let w = Double.random(in: 8...40, using: &rng)
            let h = Double.random(in: 8...40, using: &rng)
            let x = Double.random(in: 0...(Double(total) - w), using: &rng)
            let y = Double.random(in: 0...(Double(total) - h), using: &rng)
            let score = Float.random(in: 0.3...1, using: &rng)
            wholeBoxes.append(Detection(box: Box(x1: x, y1: y, x2: x + w, y2: y + h), score: score, classIndex: 0))
            let c0 = Int(x) / filePixels
            let c1 = min(side - 1, Int(x + w) / filePixels)
            let r0 = Int(y) / filePixels
            let r1 = min(side - 1, Int(y + h) / filePixels)
            for r in r0...r1 {
                for c in c0...c1 {
                    let fx = Double(c * filePixels)
                    let fy = Double(r * filePixels)
                    let box = Box(
                        x1: max(x, fx) - fx, y1: max(y, fy) - fy, x2: min(x + w, fx + Double(filePixels)) - fx,
                        y2: min(y + h, fy + Double(filePixels)) - fy)
                    guard box.width > 0, box.height > 0 else { continue }
                    let crs = [
                        origin.x + (fx + box.x1) * pixel, origin.y - (fy + box.y2) * pixel,
                        origin.x + (fx + box.x2) * pixel, origin.y - (fy + box.y1) * pixel,
                    ]
                    let corner = LonLat(lon: crs[0], lat: crs[1])  // placeholder: the merge reuses known corners as they are
                    perFile[r * side + c].append(
                        GeoDetection(
                            detection: Detection(box: box, score: score, classIndex: 0), crsBox: crs,
                            wgs84Corners: [corner, corner, corner, corner]))
                }
            }
        }
        let template = try Self.template()
        var files: [FileResult] = []
        files.reserveCapacity(side * side)
        for r in 0..<side {
            for c in 0..<side {
                var f = template
                f.info.fileName = "tile_\(r)_\(c).tif"
                f.info.width = filePixels
                f.info.height = filePixels
                f.info.geoTransform = GeoTransform([
                    origin.x + Double(c * filePixels) * pixel, pixel, 0,
                    origin.y - Double(r * filePixels) * pixel, 0, -pixel,
                ])
                f.detections = perFile[r * side + c]
                files.append(f)
            }
        }
        perFile = []
        let detections = files.map(\.detections.count).reduce(0, +)
        let rssBefore = Self.maxRSS()
        let clock = ContinuousClock()
        let t0 = clock.now
        guard let merged = MergedLayer.merge(files: files, metric: .iou, threshold: 0.5) else {
            throw ValidationError("no georeferenced file")
        }
        let mergeSeconds = (clock.now - t0).seconds
        let rssAfter = Self.maxRSS()
        let t1 = clock.now
        let nms = NonMaximumSuppression.apply(wholeBoxes, threshold: 0.5)
        let nmsSeconds = (clock.now - t1).seconds
        let report: [String: Any] = [
            "files": files.count, "objects": objects, "detections": detections, "merged": merged.detections.count,
            "joined": merged.joined, "duplicates_dropped": merged.duplicatesDropped,
            "merge_seconds": (mergeSeconds * 1000).rounded() / 1000,
            "baseline_nms_seconds": (nmsSeconds * 1000).rounded() / 1000, "baseline_nms_kept": nms.count,
            "merge_over_nms": (mergeSeconds / max(nmsSeconds, 1e-9) * 100).rounded() / 100,
            "max_rss_mib_before_merge": rssBefore >> 20, "max_rss_mib_after_merge": rssAfter >> 20,
        ]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    /// A file result to copy (a georeferenced 3-band raster in UTM 17N).
    static func template() throws -> FileResult {
        let json = #"""
            {"path": "tile.tif", "sha256": "", "sizeBytes": 0, "detections": [], "resampleFactor": 1, "warnings": [],
             "tiles": {"planned": 0, "skipped": 0, "run": 0}, "timings": {"hash": 0, "read": 0, "inference": 0, "merge": 0, "total": 0},
             "info": {"fileName": "tile.tif", "driver": "GTiff", "width": 1000, "height": 1000, "bandCount": 3, "dataType": "Byte",
                      "nodata": [null, null, null], "crsWKT": "EPSG:32617", "epsg": 32617, "isGeographic": false, "linearUnitMetres": 1,
                      "geoTransform": {"coefficients": [0, 0.1, 0, 0, 0, -0.1]}, "gsdMetres": 0.1, "blockWidth": 256, "blockHeight": 256}}
            """#
        return try JSONDecoder().decode(FileResult.self, from: Data(json.utf8))
    }

    /// The process's peak resident memory in bytes.
    static func maxRSS() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }
}

/// SplitMix64, for benchmark data that is the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
