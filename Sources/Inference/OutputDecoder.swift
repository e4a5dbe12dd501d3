/// Turns a batch's raw model outputs into per-tile detections in tile input pixels, keeping those
/// scoring at least `scoreThreshold`.
struct OutputDecoder: Sendable {
    let manifest: ModelManifest
    let scoreThreshold: Float

    func decode(_ outputs: [String: Tensor], batch: Int) throws(InferenceError) -> [[Detection]] {
        switch manifest.outputLayout {
        case .yolo: try decodeYOLO(outputs, batch: batch)
        case .boxesScoresLabels: try decodeBoxes(outputs, batch: batch)
        }
    }

    /// `[B, 4+C, A]`: cx, cy, w, h, then class scores; the best class of each anchor is kept.
    /// A `[B, A, 4+C]` output (the transposed export) is accepted too.
    private func decodeYOLO(_ outputs: [String: Tensor], batch: Int) throws(InferenceError) -> [[Detection]] {
        guard outputs.count == 1 || outputs.values.contains(where: { $0.shape.count == 3 }),
            let t = outputs.values.first(where: { $0.shape.count == 3 })
        else {
            throw .run("the yolo layout needs one output [B, 4+C, A]; got \(outputs.mapValues(\.shape))")
        }
        let c = manifest.classes.count
        let rows = 4 + c
        let transposed: Bool
        if t.shape[1] == rows {
            transposed = false
        } else if t.shape[2] == rows {
            transposed = true
        } else {
            throw .run("output shape \(t.shape) does not match 4 + \(c) classes")
        }
        guard t.shape[0] == batch else { throw .run("output batch \(t.shape[0]) differs from input batch \(batch)") }
        let anchors = transposed ? t.shape[1] : t.shape[2]
        var result: [[Detection]] = []
        t.values.withUnsafeBufferPointer { v in
            for b in 0..<batch {
                let base = b * rows * anchors
                // value of (row r, anchor a)
                @inline(__always) func at(_ r: Int, _ a: Int) -> Float {
                    transposed ? v[base + a * rows + r] : v[base + r * anchors + a]
                }
                var found: [Detection] = []
                for a in 0..<anchors {
                    var best: Float = -1
                    var bestClass = 0
                    for k in 0..<c {
                        let s = at(4 + k, a)
                        if s > best {
                            best = s
                            bestClass = k
                        }
                    }
                    guard best >= scoreThreshold, best.isFinite else { continue }
                    let cx = Double(at(0, a))
                    let cy = Double(at(1, a))
                    let w = Double(at(2, a))
                    let h = Double(at(3, a))
                    guard w > 0, h > 0 else { continue }
                    found.append(
                        Detection(
                            box: Box(x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2),
                            score: min(best, 1), classIndex: bestClass))
                }
                result.append(found)
            }
        }
        return result
    }

    /// `boxes [B,N,4]`, `scores [B,N]`, `labels [B,N]`, already suppressed by the model.
    private func decodeBoxes(_ outputs: [String: Tensor], batch: Int) throws(InferenceError) -> [[Detection]] {
        let names = manifest.outputs ?? .init(boxes: "boxes", scores: "scores", labels: "labels")
        guard let boxes = outputs[names.boxes], let scores = outputs[names.scores], let labels = outputs[names.labels] else {
            throw .run(
                "the boxes_scores_labels layout needs outputs \(names.boxes), \(names.scores), \(names.labels); got \(outputs.keys.sorted())"
            )
        }
        guard boxes.shape.count == 3, boxes.shape[2] == 4, boxes.shape[0] == batch,
            scores.shape == Array(boxes.shape.prefix(2)), labels.shape == scores.shape
        else {
            throw .run("boxes \(boxes.shape), scores \(scores.shape), labels \(labels.shape) are not [B,N,4], [B,N], [B,N]")
        }
        let n = boxes.shape[1]
        var result: [[Detection]] = []
        for b in 0..<batch {
            var found: [Detection] = []
            for i in 0..<n {
                let s = scores.values[b * n + i]
                guard s >= scoreThreshold, s.isFinite else { continue }
                let label = Int(labels.values[b * n + i])
                guard label >= 0, label < manifest.classes.count else {
                    throw .run("label \(label) is outside the manifest's \(manifest.classes.count) classes")
                }
                let o = (b * n + i) * 4
                let box = Box(
                    x1: Double(boxes.values[o]), y1: Double(boxes.values[o + 1]),
                    x2: Double(boxes.values[o + 2]), y2: Double(boxes.values[o + 3]))
                guard box.area > 0 else { continue }
                found.append(Detection(box: box, score: min(s, 1), classIndex: label))
            }
            result.append(found)
        }
        return result
    }
}
