import GeoInferTestSupport
import Mosaic
import Testing

/// The seam merge on mosaics built in memory: objects placed anywhere over a grid of files that
/// abut or overlap, each file "detecting" exactly the part of each object inside it (cut at its
/// border, as a detector clipping to its raster does). The merge must give back one box per
/// object, equal to the object.
@Suite struct SeamMergeTests {
    /// A grid of `columns` × `rows` files of `size` pixels, neighbours sharing `overlap` pixels.
    struct Grid {
        var origin: (x: Double, y: Double)
        var pixel: Double
        var size: Int
        var overlap: Int
        var columns: Int
        var rows: Int

        var step: Int { size - overlap }
        var widthPixels: Int { columns * step + overlap }
        var heightPixels: Int { rows * step + overlap }

        /// File (c, r)'s geotransform: north-up, row 0 at the top.
        func geoTransform(_ c: Int, _ r: Int) -> [Double] {
            [origin.x + Double(c * step) * pixel, pixel, 0, origin.y - Double(r * step) * pixel, 0, -pixel]
        }

        func extent(_ c: Int, _ r: Int) -> MapRect {
            let gt = geoTransform(c, r)
            return MapRect(minX: gt[0], minY: gt[3] - Double(size) * pixel, maxX: gt[0] + Double(size) * pixel, maxY: gt[3])
        }

        /// Mosaic pixel box → map rectangle.
        func rect(_ x1: Int, _ y1: Int, _ x2: Int, _ y2: Int) -> MapRect {
            MapRect(
                minX: origin.x + Double(x1) * pixel, minY: origin.y - Double(y2) * pixel,
                maxX: origin.x + Double(x2) * pixel, maxY: origin.y - Double(y1) * pixel)
        }
    }

    /// What each file sees of `objects` (mosaic pixel boxes x1, y1, x2, y2): the clipped part, with
    /// the sides on the file's border found from its pixel box as the service finds them.
    static func detect(_ grid: Grid, _ objects: [(Int, Int, Int, Int)], rng: inout SplitMix)
        -> (files: [SeamFile], detections: [SeamDetection])
    {
        var files: [SeamFile] = []
        var detections: [SeamDetection] = []
        for r in 0..<grid.rows {
            for c in 0..<grid.columns {
                let index = files.count
                files.append(SeamFile(extent: grid.extent(c, r), pixelSize: grid.pixel))
                let (fx, fy) = (c * grid.step, r * grid.step)
                for o in objects {
                    let x1 = max(o.0, fx) - fx
                    let y1 = max(o.1, fy) - fy
                    let x2 = min(o.2, fx + grid.size) - fx
                    let y2 = min(o.3, fy + grid.size) - fy
                    guard x2 > x1, y2 > y1 else { continue }
                    let cut = CutSides(
                        pixelBox: Double(x1), Double(y1), Double(x2), Double(y2), width: grid.size, height: grid.size,
                        tolerance: 2, geoTransform: grid.geoTransform(c, r))
                    detections.append(
                        SeamDetection(
                            file: index, box: grid.rect(fx + x1, fy + y1, fx + x2, fy + y2),
                            score: Float(rng.next(0.3, 1)), classIndex: 0, cut: cut))
                }
            }
        }
        return (files, detections)
    }

    /// Objects that never end within `margin` pixels of a file border nor of each other: each
    /// crosses a border clearly or stays clear of it, as real cut objects do.
    static func objects(_ grid: Grid, count: Int, margin: Int, rng: inout SplitMix) -> [(Int, Int, Int, Int)] {
        var lines: Set<Int> = []
        for k in 0...max(grid.columns, grid.rows) { lines.formUnion([k * grid.step, k * grid.step + grid.size]) }
        func clear(_ a: Int, _ b: Int) -> Bool { lines.allSatisfy { abs(a - $0) > margin && abs(b - $0) > margin } }
        var placed: [(Int, Int, Int, Int)] = []
        var attempts = 0
        while placed.count < count, attempts < count * 200 {
            attempts += 1
            let w = 4 + rng.index() % 24
            let h = 4 + rng.index() % 24
            let x = rng.index() % (grid.widthPixels - w)
            let y = rng.index() % (grid.heightPixels - h)
            let o = (x, y, x + w, y + h)
            guard clear(o.0, o.2), clear(o.1, o.3) else { continue }
            let apart = placed.allSatisfy { p in
                o.0 > p.2 + margin || p.0 > o.2 + margin || o.1 > p.3 + margin || p.1 > o.3 + margin
            }
            if apart { placed.append(o) }
        }
        return placed
    }

    @Test(arguments: [0, 9, 30])
    func everyObjectComesBackOnceWholeOverAbuttingAndOverlappingFiles(overlap: Int) throws {
        for seed in UInt64(1)...40 {
            var rng = SplitMix(seed: seed &* 7919 &+ UInt64(overlap))
            let grid = Grid(
                origin: (rng.next(-1e6, 1e6), rng.next(-1e6, 1e6)), pixel: rng.next(0.05, 3), size: 100,
                overlap: overlap, columns: 2 + rng.index() % 3, rows: 2 + rng.index() % 3)
            let objects = Self.objects(grid, count: 40, margin: 5, rng: &rng)
            let (files, detections) = Self.detect(grid, objects, rng: &rng)
            let merged = SeamMerge(metric: seed % 2 == 0 ? .iou : .ios, threshold: 0.5, seamTolerance: 2).merge(
                files: files, detections: detections)
            let expected = objects.map { grid.rect($0.0, $0.1, $0.2, $0.3) }
            let tolerance = grid.pixel * 1e-6
            func same(_ a: MapRect, _ b: MapRect) -> Bool {
                abs(a.minX - b.minX) <= tolerance && abs(a.minY - b.minY) <= tolerance
                    && abs(a.maxX - b.maxX) <= tolerance && abs(a.maxY - b.maxY) <= tolerance
            }
            #expect(
                merged.count == objects.count,
                "seed \(seed): \(merged.count) merged for \(objects.count) objects from \(detections.count) detections")
            for o in expected {
                #expect(merged.count { same($0.box, o) } == 1, "seed \(seed): object \(o) not found exactly once")
            }
            // Every detection is accounted for exactly once: as a part or as a dropped duplicate.
            let accounted = merged.flatMap { $0.parts + $0.duplicates }.sorted()
            #expect(accounted == Array(detections.indices), "seed \(seed)")
            if overlap == 0 {
                #expect(merged.allSatisfy { $0.duplicates.isEmpty }, "abutting files have no duplicates")
            }
        }
    }

    @Test func partsAtAFourFileCornerBecomeOneBox() {
        let grid = Grid(origin: (500_000, 4_000_000), pixel: 0.1, size: 100, overlap: 0, columns: 2, rows: 2)
        var rng = SplitMix(seed: 3)
        let (files, detections) = Self.detect(grid, [(90, 85, 112, 110)], rng: &rng)
        #expect(detections.count == 4)
        let merged = SeamMerge().merge(files: files, detections: detections)
        #expect(merged.count == 1)
        #expect(merged.first?.parts == [0, 1, 2, 3])
        #expect(merged.first?.box == grid.rect(90, 85, 112, 110))
        #expect(merged.first?.score == detections.map(\.score).max())
    }

    @Test func neighboursThatMerelyTouchASeamStayApart() {
        // Two objects meeting at the seam, each wholly in its own file: not cut, so not joined.
        let grid = Grid(origin: (0, 0), pixel: 1, size: 100, overlap: 0, columns: 2, rows: 1)
        let files = [SeamFile(extent: grid.extent(0, 0), pixelSize: 1), SeamFile(extent: grid.extent(1, 0), pixelSize: 1)]
        let west = SeamDetection(file: 0, box: grid.rect(80, 10, 99, 30), score: 0.9, classIndex: 0, cut: [])
        let east = SeamDetection(file: 1, box: grid.rect(101, 10, 120, 30), score: 0.9, classIndex: 0, cut: [])
        #expect(SeamMerge().merge(files: files, detections: [west, east]).count == 2)
        // The same two parts cut at the seam but of different classes: two objects.
        var a = west
        var b = east
        a.box = grid.rect(80, 10, 100, 30)
        a.cut = .east
        b.box = grid.rect(100, 10, 120, 30)
        b.cut = .west
        b.classIndex = 1
        #expect(SeamMerge().merge(files: files, detections: [a, b]).count == 2)
        // Cut at the seam but side by side along it (no common extent): two objects.
        b.classIndex = 0
        b.box = grid.rect(100, 40, 120, 60)
        #expect(SeamMerge().merge(files: files, detections: [a, b]).count == 2)
        b.box = grid.rect(100, 12, 120, 32)
        #expect(SeamMerge().merge(files: files, detections: [a, b]).count == 1)
    }

    @Test func oneFileIsLeftAsItIs() {
        var rng = SplitMix(seed: 11)
        let files = [SeamFile(extent: MapRect(minX: 0, minY: 0, maxX: 100, maxY: 100), pixelSize: 1)]
        let detections = (0..<200).map { _ in
            let x = rng.next(0, 90)
            let y = rng.next(0, 90)
            return SeamDetection(
                file: 0, box: MapRect(minX: x, minY: y, maxX: x + 10, maxY: y + 10), score: 0.5, classIndex: 0,
                cut: [.east])
        }
        let merged = SeamMerge().merge(files: files, detections: detections)
        #expect(merged.map(\.box) == detections.map(\.box))
        #expect(merged.map(\.parts) == detections.indices.map { [$0] })
    }

    @Test func hostileCoordinatesPassThroughWithoutTrapping() {
        let files = [
            SeamFile(extent: MapRect(minX: 0, minY: 0, maxX: 100, maxY: 100), pixelSize: 1),
            SeamFile(extent: MapRect(minX: .nan, minY: 0, maxX: .infinity, maxY: 100), pixelSize: .nan),
            SeamFile(extent: MapRect(minX: 100, minY: 0, maxX: 1e308, maxY: 1e308), pixelSize: 1e300),
        ]
        let detections = [
            SeamDetection(file: 0, box: MapRect(minX: 90, minY: 10, maxX: 100, maxY: 20), score: 1, classIndex: 0, cut: .east),
            SeamDetection(file: 1, box: MapRect(minX: .nan, minY: 0, maxX: 1, maxY: 1), score: 1, classIndex: 0, cut: .west),
            SeamDetection(file: 2, box: MapRect(minX: 100, minY: 10, maxX: 1e308, maxY: 20), score: 1, classIndex: 0, cut: .west),
            SeamDetection(file: 7, box: MapRect(minX: 0, minY: 0, maxX: 1, maxY: 1), score: 1, classIndex: 0),
            SeamDetection(file: -1, box: MapRect(minX: -1e308, minY: -1e308, maxX: 1e308, maxY: 1e308), score: 1, classIndex: 0),
        ]
        let merged = SeamMerge().merge(files: files, detections: detections)
        let accounted = merged.flatMap { $0.parts + $0.duplicates }.sorted()
        #expect(accounted == Array(detections.indices))
    }

    @Test func cutSidesFollowTheGeotransform() {
        let north = [0.0, 1, 0, 100, 0, -1]
        let south = [0.0, 1, 0, 0, 0, 1]
        let flipped = [100.0, -1, 0, 100, 0, -1]
        #expect(CutSides(pixelBox: 0, 5, 10, 15, width: 50, height: 50, tolerance: 1, geoTransform: north) == .west)
        #expect(CutSides(pixelBox: 40, 0, 50, 15, width: 50, height: 50, tolerance: 1, geoTransform: north) == [.east, .north])
        #expect(CutSides(pixelBox: 5, 45, 10, 50, width: 50, height: 50, tolerance: 1, geoTransform: south) == .north)
        #expect(CutSides(pixelBox: 0, 5, 10, 15, width: 50, height: 50, tolerance: 1, geoTransform: flipped) == .east)
        // A grid turned 90°: columns run south.
        #expect(CutSides(pixelBox: 45, 5, 50, 15, width: 50, height: 50, tolerance: 1, geoTransform: [0, 0, 1, 0, -1, 0]) == .south)
        #expect(CutSides(pixelBox: 0, 0, 50, 50, width: 50, height: 50, tolerance: 1, geoTransform: [0, .nan, 0, 0, 0, 1]).isEmpty)
        #expect(CutSides(pixelBox: 0, 0, 50, 50, width: 50, height: 50, tolerance: 1, geoTransform: [0, 0, 0, 0, 0, 0]).isEmpty)
    }
}
