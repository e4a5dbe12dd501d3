/// How overlap between two boxes is measured when suppressing duplicates.
public enum OverlapMetric: String, Sendable, Codable, CaseIterable {
    /// Intersection over union: the usual NMS.
    case iou
    /// Intersection over the smaller box's area: also merges a box cut at a tile border into the
    /// whole box found by the neighbouring tile.
    case ios
}

/// Greedy class-wise non-maximum suppression over any number of boxes. A uniform grid indexes the
/// boxes kept so far, so each candidate is compared only with kept boxes near it: large rasters
/// with hundreds of thousands of detections merge in near-linear time.
public enum NonMaximumSuppression {
    /// Keeps, per class, each box that overlaps no higher-scoring kept box by more than `threshold`,
    /// then the best `maxDetections`. Ties in score keep the earlier box. Output is sorted by score.
    public static func apply(
        _ detections: [Detection], threshold: Double, metric: OverlapMetric = .iou,
        maxDetections: Int = .max
    ) -> [Detection] {
        guard !detections.isEmpty else { return [] }
        let order = detections.indices.sorted {
            detections[$0].score != detections[$1].score ? detections[$0].score > detections[$1].score : $0 < $1
        }
        // Cell size: twice the median box side keeps neighbour lists short without missing overlaps
        // (a box is registered in every cell it touches).
        let sides = detections.map { max($0.box.width, $0.box.height) }.sorted()
        let cell = max(1, sides[sides.count / 2] * 2)
        var grid: [GridKey: [Int]] = [:]
        var kept: [Int] = []
        for i in order {
            let d = detections[i]
            let cells = GridKey.cells(d.box, cell: cell, classIndex: d.classIndex)
            var suppressed = false
            var seen = Set<Int>()
            search: for key in cells {
                for k in grid[key] ?? [] where seen.insert(k).inserted {
                    if overlap(d.box, detections[k].box, metric) > threshold {
                        suppressed = true
                        break search
                    }
                }
            }
            if suppressed { continue }
            kept.append(i)
            for key in cells { grid[key, default: []].append(i) }
            if kept.count >= maxDetections { break }
        }
        return kept.map { detections[$0] }
    }

    /// The overlap of `a` and `b` under `metric`, in [0, 1].
    public static func overlap(_ a: Box, _ b: Box, _ metric: OverlapMetric) -> Double {
        let inter = a.intersection(b)
        guard inter > 0 else { return 0 }
        switch metric {
        case .iou: return inter / (a.area + b.area - inter)
        case .ios: return inter / max(min(a.area, b.area), .leastNonzeroMagnitude)
        }
    }

    private struct GridKey: Hashable {
        let cx: Int, cy: Int, classIndex: Int

        static func cells(_ b: Box, cell: Double, classIndex: Int) -> [GridKey] {
            let x0 = Int((b.x1 / cell).rounded(.down))
            let x1 = Int((b.x2 / cell).rounded(.down))
            let y0 = Int((b.y1 / cell).rounded(.down))
            let y1 = Int((b.y2 / cell).rounded(.down))
            var keys: [GridKey] = []
            keys.reserveCapacity((x1 - x0 + 1) * (y1 - y0 + 1))
            for y in y0...y1 { for x in x0...x1 { keys.append(GridKey(cx: x, cy: y, classIndex: classIndex)) } }
            return keys
        }
    }
}
