/// An axis-aligned rectangle in map coordinates (a CRS's x and y, y growing north).
public struct MapRect: Sendable, Equatable, Hashable, Codable {
    /// The west edge (least x), in the CRS's units.
    public var minX: Double
    /// The south edge (least y).
    public var minY: Double
    /// The east edge (greatest x).
    public var maxX: Double
    /// The north edge (greatest y).
    public var maxY: Double

    /// The edges as given, unchecked; an inverted rectangle has no width, height or area.
    public init(minX: Double, minY: Double, maxX: Double, maxY: Double) {
        self.minX = minX
        self.minY = minY
        self.maxX = maxX
        self.maxY = maxY
    }

    /// The smallest rectangle holding every point; nil for no points or a non-finite coordinate.
    public init?(points: [(x: Double, y: Double)]) {
        guard let first = points.first else { return nil }
        var r = MapRect(minX: first.x, minY: first.y, maxX: first.x, maxY: first.y)
        for p in points {
            guard p.x.isFinite, p.y.isFinite else { return nil }
            r.minX = min(r.minX, p.x)
            r.minY = min(r.minY, p.y)
            r.maxX = max(r.maxX, p.x)
            r.maxY = max(r.maxY, p.y)
        }
        self = r
    }

    /// `maxX - minX`, or 0 when inverted.
    public var width: Double { max(0, maxX - minX) }
    /// `maxY - minY`, or 0 when inverted.
    public var height: Double { max(0, maxY - minY) }
    /// `width` × `height`, in squared map units (0 when inverted).
    public var area: Double { width * height }
    /// Whether no edge is NaN or infinite.
    public var isFinite: Bool { minX.isFinite && minY.isFinite && maxX.isFinite && maxY.isFinite }

    /// The area the two rectangles share, in squared map units; 0 when they only touch or lie apart.
    public func intersection(_ o: MapRect) -> Double {
        max(0, min(maxX, o.maxX) - max(minX, o.minX)) * max(0, min(maxY, o.maxY) - max(minY, o.minY))
    }

    /// Whether the two rectangles overlap or lie within `margin` of each other.
    public func near(_ o: MapRect, margin: Double) -> Bool {
        minX <= o.maxX + margin && o.minX <= maxX + margin && minY <= o.maxY + margin && o.minY <= maxY + margin
    }

    /// The smallest rectangle holding both.
    public func union(_ o: MapRect) -> MapRect {
        MapRect(minX: min(minX, o.minX), minY: min(minY, o.minY), maxX: max(maxX, o.maxX), maxY: max(maxY, o.maxY))
    }
}

/// The sides of a box that lie on its file's border: the object may go on beyond them, in the
/// neighbouring file. Named by map direction (east is +x, north is +y).
public struct CutSides: OptionSet, Sendable, Hashable, Codable {
    /// One bit per side: west 1, east 2, south 4, north 8.
    public let rawValue: UInt8
    /// The sides whose bits are set in `rawValue`.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The −x side.
    public static let west = CutSides(rawValue: 1)
    /// The +x side.
    public static let east = CutSides(rawValue: 2)
    /// The −y side.
    public static let south = CutSides(rawValue: 4)
    /// The +y side.
    public static let north = CutSides(rawValue: 8)

    /// The sides of pixel box (`x1`, `y1`)–(`x2`, `y2`) within `tolerance` pixels of the border of
    /// a `width` × `height` raster, turned to map directions by the raster's affine geotransform
    /// (GDAL order: x0, dx/dcol, dx/drow, y0, dy/dcol, dy/drow). A non-finite or degenerate
    /// geotransform gives no sides.
    public init(
        pixelBox x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, width: Int, height: Int,
        tolerance: Double, geoTransform gt: [Double]
    ) {
        self = []
        guard gt.count == 6, gt.allSatisfy(\.isFinite), width > 0, height > 0 else { return }
        // Where each pixel direction points on the map: +column and +row.
        func direction(_ dx: Double, _ dy: Double) -> (plus: CutSides, minus: CutSides)? {
            if abs(dx) >= abs(dy), dx != 0 { return dx > 0 ? (.east, .west) : (.west, .east) }
            if dy != 0 { return dy > 0 ? (.north, .south) : (.south, .north) }
            return nil
        }
        guard let column = direction(gt[1], gt[4]), let row = direction(gt[2], gt[5]) else { return }
        if x1 <= tolerance { insert(column.minus) }
        if x2 >= Double(width) - tolerance { insert(column.plus) }
        if y1 <= tolerance { insert(row.minus) }
        if y2 >= Double(height) - tolerance { insert(row.plus) }
    }
}

/// One input file of a merge: where it lies, in the merge's CRS.
public struct SeamFile: Sendable, Equatable {
    /// The file's extent (bounding rectangle of its four corners).
    public var extent: MapRect
    /// Map units per pixel (the larger of the two axes), for tolerances given in pixels.
    public var pixelSize: Double

    /// Unchecked here: a merge leaves the detections of a file whose extent is not finite, or whose pixel size
    /// is negative or not finite, unmerged.
    public init(extent: MapRect, pixelSize: Double) {
        self.extent = extent
        self.pixelSize = pixelSize
    }
}

/// One detection going into a merge.
public struct SeamDetection: Sendable, Equatable {
    /// Index into the merge's files.
    public var file: Int
    /// The box in the merge's CRS.
    public var box: MapRect
    /// The detector's confidence: the higher one wins between duplicates, the best part's is a joined box's.
    public var score: Float
    /// The detected class; boxes join or duplicate each other only within one class.
    public var classIndex: Int
    /// The box's sides on its file's border.
    public var cut: CutSides

    /// `cut` defaults to no sides: a box inside its file, which never joins across a seam.
    public init(file: Int, box: MapRect, score: Float, classIndex: Int, cut: CutSides = []) {
        self.file = file
        self.box = box
        self.score = score
        self.classIndex = classIndex
        self.cut = cut
    }
}

/// One detection of the merged result.
public struct MergedDetection: Sendable, Equatable {
    /// In the merge's CRS: the union of its parts.
    public var box: MapRect
    /// The highest score among its parts.
    public var score: Float
    /// The class all its parts share.
    public var classIndex: Int
    /// The input detections it stands for (indices into the merge's detections, ascending): one,
    /// or the parts of an object joined across seams.
    public var parts: [Int]
    /// Input detections from other files dropped as duplicates of this one.
    public var duplicates: [Int]
}

/// Merges detections of files that tile one mosaic, in map coordinates:
///
/// 1. **Joins.** Parts of one object cut by the line where two files meet are joined into one box
///    (the union of the parts, the best part's score). Two boxes from different files join when
///    they have the same class, each lies on its own file's border on facing sides (one's east on
///    the other's west, or north and south), they touch or overlap across that line (within
///    `seamTolerance` pixels) and they cover at least `seamOverlap` of the shorter one's extent
///    along the seam.
/// 2. **Duplicates.** Where files overlap, the same object is found in each: of two boxes from
///    different files (no file in common) with the same class whose overlap under `metric` is above
///    `threshold`, the lesser is dropped. A whole box is preferred to a joined one and both to a
///    part cut by its file's border, then the higher score; where either side is cut or joined
///    the overlap is the intersection over the smaller box, so a part gives way to the whole box
///    another file saw.
///
/// Detections within one file are never compared with each other (the detector already suppressed
/// them), and only detections near another file's extent are indexed at all, so the work is
/// near-linear in the number of detections: a uniform grid over file extents finds the
/// neighbours of each box, and a second grid over the boxes near seams finds candidate pairs.
public struct SeamMerge: Sendable {
    /// How two boxes' overlap is measured: `iou`, intersection over union; `ios`, intersection over the smaller
    /// box's area. Both are in [0, 1].
    public enum Metric: String, Sendable, Codable {
        case iou, ios
    }

    /// The measure between two whole boxes; a pair where either is cut or joined is always measured by `ios`.
    public var metric: Metric
    /// Overlap above which two boxes from different files are the same object.
    public var threshold: Double
    /// How close to its file's border (and to the other part) a part must lie, in pixels.
    public var seamTolerance: Double
    /// Share of the shorter part's extent along the seam the two parts must have in common.
    public var seamOverlap: Double

    /// By default IoU above 0.5 is a duplicate, and parts within 2 pixels sharing half the shorter one's extent
    /// along the seam join.
    public init(metric: Metric = .iou, threshold: Double = 0.5, seamTolerance: Double = 2, seamOverlap: Double = 0.5) {
        self.metric = metric
        self.threshold = threshold
        self.seamTolerance = seamTolerance
        self.seamOverlap = seamOverlap
    }

    /// The merged detections, in the order of their first part. Files or detections with
    /// non-finite coordinates are passed through unmerged; a detection naming a file out of range
    /// likewise.
    public func merge(files: [SeamFile], detections: [SeamDetection]) -> [MergedDetection] {
        let candidates = nearOtherFiles(files: files, detections: detections)
        var groups = UnionFind(count: detections.count)
        let index = BoxGrid(boxes: candidates.map { detections[$0].box })
        let reach = seamTolerance * (candidates.map { files[detections[$0].file].pixelSize }.max() ?? 0)
        // 1. Joins across seams.
        for (slot, i) in candidates.enumerated() {
            let a = detections[i]
            guard !a.cut.isEmpty else { continue }
            for otherSlot in index.neighbours(of: a.box, margin: reach) where otherSlot > slot {
                let j = candidates[otherSlot]
                let b = detections[j]
                if b.file != a.file, b.classIndex == a.classIndex, !b.cut.isEmpty, joins(a, b, files: files) {
                    groups.union(i, j)
                }
            }
        }
        // Gather groups: the members of each, in ascending order.
        var members: [Int: [Int]] = [:]
        for i in candidates { members[groups.find(i), default: []].append(i) }
        struct Entry {
            var box: MapRect
            var score: Float
            var classIndex: Int
            var parts: [Int]
            var files: Set<Int>
            /// 2: one uncut box; 1: parts joined across seams; 0: one part cut by its file's border.
            var rank: Int
        }
        var entries: [Entry] = members.values.map { parts in
            let sorted = parts.sorted()
            var box = detections[sorted[0]].box
            for p in sorted.dropFirst() { box = box.union(detections[p].box) }
            let best = sorted.map { detections[$0].score }.max() ?? 0
            return Entry(
                box: box, score: best, classIndex: detections[sorted[0]].classIndex, parts: sorted,
                files: Set(sorted.map { detections[$0].file }),
                rank: sorted.count > 1 ? 1 : detections[sorted[0]].cut.isEmpty ? 2 : 0)
        }
        // 2. Duplicates across files: whole boxes, then joined ones, then cut parts; then by score
        // and first part.
        entries.sort {
            if $0.rank != $1.rank { return $0.rank > $1.rank }
            if $0.score != $1.score { return $0.score > $1.score }
            return $0.parts[0] < $1.parts[0]
        }
        var kept: [Int] = []
        var duplicates: [Int: [Int]] = [:]
        var keptGrid = DynamicGrid(cell: BoxGrid.cellSize(entries.map(\.box)))
        for (e, entry) in entries.enumerated() {
            var owner: Int?
            for k in keptGrid.candidates(entry.box) {
                let other = entries[k]
                guard other.classIndex == entry.classIndex, other.files.isDisjoint(with: entry.files) else { continue }
                let measure: Metric = entry.rank == 2 && other.rank == 2 ? metric : .ios
                if Self.overlap(entry.box, other.box, measure) > threshold {
                    owner = k
                    break
                }
            }
            if let owner {
                duplicates[owner, default: []].append(contentsOf: entry.parts)
            } else {
                kept.append(e)
                keptGrid.insert(entry.box, id: e)
            }
        }
        let merged = Set(candidates)
        var result: [MergedDetection] = []
        result.reserveCapacity(detections.count - candidates.count + kept.count)
        for e in kept {
            let entry = entries[e]
            result.append(
                MergedDetection(
                    box: entry.box, score: entry.score, classIndex: entry.classIndex, parts: entry.parts,
                    duplicates: (duplicates[e] ?? []).sorted()))
        }
        for i in detections.indices where !merged.contains(i) {
            let d = detections[i]
            result.append(MergedDetection(box: d.box, score: d.score, classIndex: d.classIndex, parts: [i], duplicates: []))
        }
        result.sort { $0.parts[0] < $1.parts[0] }
        return result
    }

    /// The overlap of `a` and `b` under `metric`, in [0, 1].
    public static func overlap(_ a: MapRect, _ b: MapRect, _ metric: Metric) -> Double {
        let inter = a.intersection(b)
        guard inter > 0 else { return 0 }
        switch metric {
        case .iou: return inter / max(a.area + b.area - inter, .leastNonzeroMagnitude)
        case .ios: return inter / max(min(a.area, b.area), .leastNonzeroMagnitude)
        }
    }

    /// Whether `a` and `b` are parts of one object cut where their files meet.
    private func joins(_ a: SeamDetection, _ b: SeamDetection, files: [SeamFile]) -> Bool {
        let tolerance = seamTolerance * max(files[a.file].pixelSize, files[b.file].pixelSize)
        func alongSeam(_ lo1: Double, _ hi1: Double, _ lo2: Double, _ hi2: Double) -> Bool {
            let common = min(hi1, hi2) - max(lo1, lo2)
            let shorter = min(hi1 - lo1, hi2 - lo2)
            return shorter > 0 && common >= seamOverlap * shorter
        }
        // `west` is cut on its east side and `east` on its west side; they meet across a north-south line.
        func across(_ west: SeamDetection, _ east: SeamDetection) -> Bool {
            west.cut.contains(.east) && east.cut.contains(.west)
                && west.box.minX < east.box.minX && west.box.maxX < east.box.maxX
                && west.box.maxX >= east.box.minX - tolerance
                && alongSeam(west.box.minY, west.box.maxY, east.box.minY, east.box.maxY)
        }
        func stacked(_ south: SeamDetection, _ north: SeamDetection) -> Bool {
            south.cut.contains(.north) && north.cut.contains(.south)
                && south.box.minY < north.box.minY && south.box.maxY < north.box.maxY
                && south.box.maxY >= north.box.minY - tolerance
                && alongSeam(south.box.minX, south.box.maxX, north.box.minX, north.box.maxX)
        }
        return across(a, b) || across(b, a) || stacked(a, b) || stacked(b, a)
    }

    /// The detections within `seamTolerance` pixels of another file's extent: the only ones that
    /// can join or duplicate anything.
    private func nearOtherFiles(files: [SeamFile], detections: [SeamDetection]) -> [Int] {
        let usable = files.map { $0.extent.isFinite && $0.pixelSize.isFinite && $0.pixelSize >= 0 }
        let fileGrid = BoxGrid(boxes: files.map { $0.extent })
        var result: [Int] = []
        for (i, d) in detections.enumerated() {
            guard files.indices.contains(d.file), usable[d.file], d.box.isFinite else { continue }
            let margin = seamTolerance * files[d.file].pixelSize
            for f in fileGrid.neighbours(of: d.box, margin: margin) where f != d.file && usable[f] {
                if files[f].extent.near(d.box, margin: margin) {
                    result.append(i)
                    break
                }
            }
        }
        return result
    }
}

/// A uniform grid over a fixed set of rectangles: each is registered in every cell it covers
/// (cells sized from the median rectangle, and a rectangle spanning too many cells is kept on a
/// list every query sees), so a query visits only rectangles near it.
struct BoxGrid {
    private let cell: Double
    private var cells: [GridCell: [Int]] = [:]
    private var large: [Int] = []
    private let boxes: [MapRect]
    static let maxCellsPerBox = 64

    init(boxes: [MapRect]) {
        self.boxes = boxes
        cell = Self.cellSize(boxes)
        for (i, b) in boxes.enumerated() where b.isFinite {
            guard let covered = GridCell.covering(b, margin: 0, cell: cell, limit: Self.maxCellsPerBox) else {
                large.append(i)
                continue
            }
            for c in covered { cells[c, default: []].append(i) }
        }
    }

    /// Twice the median of the rectangles' longer sides (at least a tiny positive size).
    static func cellSize(_ boxes: [MapRect]) -> Double {
        let sides = boxes.filter(\.isFinite).map { max($0.width, $0.height) }.sorted()
        guard !sides.isEmpty else { return 1 }
        let median = sides[sides.count / 2] * 2
        return median.isFinite && median > 0 ? median : 1
    }

    /// The rectangles within `margin` of `box`, each once, ascending.
    func neighbours(of box: MapRect, margin: Double) -> [Int] {
        var found = Set(large)
        if let covered = GridCell.covering(box, margin: margin, cell: cell, limit: Self.maxCellsPerBox * 4) {
            for c in covered { found.formUnion(cells[c] ?? []) }
        } else {
            for (i, b) in boxes.enumerated() where b.isFinite { found.insert(i) }
        }
        return found.filter { boxes[$0].near(box, margin: margin) }.sorted()
    }
}

/// A grid that rectangles are added to as a merge keeps them.
struct DynamicGrid {
    private let cell: Double
    private var cells: [GridCell: [Int]] = [:]
    private var large: [Int] = []

    init(cell: Double) { self.cell = cell }

    mutating func insert(_ box: MapRect, id: Int) {
        guard let covered = GridCell.covering(box, margin: 0, cell: cell, limit: BoxGrid.maxCellsPerBox) else {
            large.append(id)
            return
        }
        for c in covered { cells[c, default: []].append(id) }
    }

    /// Ids whose rectangles may overlap `box`, in the order they were added.
    func candidates(_ box: MapRect) -> [Int] {
        var found = Set(large)
        if let covered = GridCell.covering(box, margin: 0, cell: cell, limit: BoxGrid.maxCellsPerBox * 4) {
            for c in covered { found.formUnion(cells[c] ?? []) }
        } else {
            for list in cells.values { found.formUnion(list) }
        }
        return found.sorted()
    }
}

struct GridCell: Hashable {
    let x: Int, y: Int

    /// The cells `box` (grown by `margin`) covers; nil when they are more than `limit` or the
    /// coordinates do not fit the grid.
    static func covering(_ box: MapRect, margin: Double, cell: Double, limit: Int) -> [GridCell]? {
        let bounds = Double(Int32.max)
        let x0 = ((box.minX - margin) / cell).rounded(.down)
        let x1 = ((box.maxX + margin) / cell).rounded(.down)
        let y0 = ((box.minY - margin) / cell).rounded(.down)
        let y1 = ((box.maxY + margin) / cell).rounded(.down)
        guard [x0, x1, y0, y1].allSatisfy({ $0.isFinite && abs($0) < bounds }) else { return nil }
        let (ix0, ix1, iy0, iy1) = (Int(x0), Int(x1), Int(y0), Int(y1))
        guard ix1 >= ix0, iy1 >= iy0, (ix1 - ix0 + 1) * (iy1 - iy0 + 1) <= limit else { return nil }
        var result: [GridCell] = []
        result.reserveCapacity((ix1 - ix0 + 1) * (iy1 - iy0 + 1))
        for x in ix0...ix1 {
            for y in iy0...iy1 { result.append(GridCell(x: x, y: y)) }
        }
        return result
    }
}

/// Disjoint sets over 0..<count with path halving and union by size.
struct UnionFind {
    private var parent: [Int]
    private var size: [Int]

    init(count: Int) {
        parent = Array(0..<count)
        size = Array(repeating: 1, count: count)
    }

    mutating func find(_ x: Int) -> Int {
        var x = x
        while parent[x] != x {
            parent[x] = parent[parent[x]]
            x = parent[x]
        }
        return x
    }

    mutating func union(_ a: Int, _ b: Int) {
        var (ra, rb) = (find(a), find(b))
        guard ra != rb else { return }
        if size[ra] < size[rb] { swap(&ra, &rb) }
        parent[rb] = ra
        size[ra] += size[rb]
    }
}
