public import Formats

/// A box to evaluate, in one image's pixels: (x1, y1) top-left to (x2, y2) bottom-right, its class
/// name, and for a prediction its score.
public struct EvalBox: Sendable, Equatable, Codable {
    /// Left edge, in the image's pixels.
    public var x1: Double
    /// Top edge, in the image's pixels.
    public var y1: Double
    /// Right edge, in the image's pixels.
    public var x2: Double
    /// Bottom edge, in the image's pixels.
    public var y2: Double
    /// The class name; ``Evaluator`` compares names case-insensitively.
    public var label: String
    /// A prediction's confidence, which ranks it for AP; nil for ground truth (a prediction without one ranks as 0).
    public var score: Double?

    /// A box from its corners as given (not reordered); leave `score` nil for ground truth.
    public init(x1: Double, y1: Double, x2: Double, y2: Double, label: String, score: Double? = nil) {
        self.x1 = x1
        self.y1 = y1
        self.x2 = x2
        self.y2 = y2
        self.label = label
        self.score = score
    }

    var width: Double { x2 - x1 }
    var height: Double { y2 - y1 }

    /// COCO's box IoU: areas from width × height as given, no pixel added.
    func iou(_ o: EvalBox) -> Double {
        let iw = min(x2, o.x2) - max(x1, o.x1)
        let ih = min(y2, o.y2) - max(y1, o.y1)
        guard iw > 0, ih > 0 else { return 0 }
        let inter = iw * ih
        let union = width * height + o.width * o.height - inter
        return union > 0 ? inter / union : 0
    }
}

/// One image's ground truth and predictions.
public struct EvalImage: Sendable {
    /// The image's file name: ground truth and predictions are matched by it, and it keys the report's `per_file`.
    public var name: String
    /// The labelled boxes, in the image's pixels.
    public var groundTruth: [EvalBox]
    /// The predicted boxes, in the image's pixels, each with its score.
    public var predictions: [EvalBox]

    /// An image from its boxes as given.
    public init(name: String, groundTruth: [EvalBox], predictions: [EvalBox]) {
        self.name = name
        self.groundTruth = groundTruth
        self.predictions = predictions
    }
}

/// Scores predictions against ground truth: precision, recall and F1 from one-to-one matches, and COCO AP
/// and AP50 as pycocotools' `COCOeval` computes them. Stateless: safe to call from any thread.
public enum Evaluator {
    /// The IoU thresholds of the precision/recall/F1 figures.
    public static let matchThresholds = [0.4, 0.5]

    /// Evaluates `images`. Class names are compared case-insensitively; when the ground truth and
    /// the predictions each use a single class, they are compared whatever it is called.
    public static func evaluate(_ images: [EvalImage], maxDetections: Int = 100) -> EvaluationReport {
        let gtLabels = Set(images.flatMap { $0.groundTruth.map { $0.label.lowercased() } })
        let predLabels = Set(images.flatMap { $0.predictions.map { $0.label.lowercased() } })
        let agnostic = gtLabels.count == 1 && predLabels.count == 1 && gtLabels != predLabels
        let normalised = images.map { image in
            EvalImage(
                name: image.name,
                groundTruth: image.groundTruth.map {
                    var b = $0
                    b.label = agnostic ? "object" : b.label.lowercased()
                    return b
                },
                predictions: image.predictions.map {
                    var b = $0
                    b.label = agnostic ? "object" : b.label.lowercased()
                    return b
                })
        }
        let classes = Set(normalised.flatMap { $0.groundTruth.map(\.label) }).sorted()
        let limit = max(1, maxDetections)
        var perClass: [String: EvalScores] = [:]
        for c in Set(normalised.flatMap { $0.groundTruth.map(\.label) + $0.predictions.map(\.label) }).sorted() {
            perClass[c] = scores(normalised, classes: [c], maxDetections: limit)
        }
        var perFile: [String: EvalScores] = [:]
        for image in normalised {
            perFile[image.name] = scores([image], classes: classes, maxDetections: limit)
        }
        return EvaluationReport(
            pooled: scores(normalised, classes: classes, maxDetections: limit), per_class: perClass,
            per_file: perFile, max_detections: limit, class_agnostic: agnostic)
    }

    static func scores(_ images: [EvalImage], classes: [String], maxDetections: Int) -> EvalScores {
        let wanted = Set(classes)
        let gtCount = images.map { $0.groundTruth.count { wanted.contains($0.label) } }.reduce(0, +)
        let predCount = images.map { $0.predictions.count { wanted.contains($0.label) } }.reduce(0, +)
        let matches = matchThresholds.map { t -> MatchScores in
            var tp = 0
            for image in images {
                for c in classes {
                    tp += greedyMatches(image.predictions.filter { $0.label == c }, image.groundTruth.filter { $0.label == c }, above: t)
                }
            }
            let p = predCount > 0 ? Double(tp) / Double(predCount) : 0
            let r = gtCount > 0 ? Double(tp) / Double(gtCount) : 0
            return MatchScores(iou_threshold: t, true_positives: tp, precision: p, recall: r, f1: p + r > 0 ? 2 * p * r / (p + r) : 0)
        }
        let (ap, ap50) = cocoAP(images, classes: classes, maxDetections: maxDetections)
        return EvalScores(ground_truth: gtCount, predictions: predCount, ap: ap, ap50: ap50, matches: matches)
    }

    /// One-to-one matches with IoU above `threshold`, highest IoU first (ties in input order).
    static func greedyMatches(_ predictions: [EvalBox], _ truth: [EvalBox], above threshold: Double) -> Int {
        guard !predictions.isEmpty, !truth.isEmpty else { return 0 }
        var pairs: [(iou: Double, p: Int, g: Int)] = []
        for (p, pb) in predictions.enumerated() {
            for (g, gb) in truth.enumerated() {
                let v = pb.iou(gb)
                if v > threshold { pairs.append((v, p, g)) }
            }
        }
        // Stable: equal IoUs keep (prediction, truth) order, as numpy's stable argsort does.
        let order = pairs.indices.sorted { pairs[$0].iou != pairs[$1].iou ? pairs[$0].iou > pairs[$1].iou : $0 < $1 }
        var usedP = Set<Int>()
        var usedG = Set<Int>()
        var tp = 0
        for k in order where !usedP.contains(pairs[k].p) && !usedG.contains(pairs[k].g) {
            usedP.insert(pairs[k].p)
            usedG.insert(pairs[k].g)
            tp += 1
        }
        return tp
    }

    /// COCOeval's bbox AP (area "all", `maxDetections` per image): for each class and IoU
    /// threshold, detections of all images by score, matched per image as `evaluateImg` does,
    /// precision made monotone and read at 101 recall points. Classes without ground truth are
    /// left out; nil when no class has any.
    static func cocoAP(_ images: [EvalImage], classes: [String], maxDetections: Int) -> (ap: Double?, ap50: Double?) {
        // numpy.linspace's values, bit for bit (an IoU or recall equal to a threshold is common with
        // whole-pixel boxes, so the last bit decides): i × step + start, the last one exactly stop.
        let iouStep = (0.95 - 0.5) / 9
        let thresholds = (0..<10).map { $0 == 9 ? 0.95 : Double($0) * iouStep + 0.5 }
        let recallPoints = (0...100).map { $0 == 100 ? 1.0 : Double($0) * (1.0 / 100) + 0.0 }
        var byThreshold = [[Double]](repeating: [], count: thresholds.count)
        for c in classes {
            var npig = 0
            // Per threshold: (score, matched) of every detection kept, image by image.
            var dets = [[(score: Double, tp: Bool)]](repeating: [], count: thresholds.count)
            for image in images {
                let gts = image.groundTruth.filter { $0.label == c }
                npig += gts.count
                // Sorted by score, descending, stable (numpy mergesort), then the first maxDetections.
                let dts = Array(
                    image.predictions.filter { $0.label == c }.enumerated()
                        .sorted {
                            ($0.element.score ?? 0) != ($1.element.score ?? 0)
                                ? ($0.element.score ?? 0) > ($1.element.score ?? 0) : $0.offset < $1.offset
                        }
                        .map(\.element).prefix(maxDetections))
                guard !dts.isEmpty else { continue }
                let ious = dts.map { d in gts.map { d.iou($0) } }
                for (t, threshold) in thresholds.enumerated() {
                    var gtMatched = [Bool](repeating: false, count: gts.count)
                    for (d, det) in dts.enumerated() {
                        var best = min(threshold, 1 - 1e-10)
                        var match = -1
                        for g in gts.indices where !gtMatched[g] {
                            if ious[d][g] < best { continue }
                            best = ious[d][g]
                            match = g
                        }
                        if match >= 0 { gtMatched[match] = true }
                        dets[t].append((det.score ?? 0, match >= 0))
                    }
                }
            }
            guard npig > 0 else { continue }
            for t in thresholds.indices {
                // All images' detections by score (stable), cumulative true and false positives.
                let order = dets[t].indices.sorted {
                    dets[t][$0].score != dets[t][$1].score ? dets[t][$0].score > dets[t][$1].score : $0 < $1
                }
                var tp = 0.0
                var fp = 0.0
                var recall: [Double] = []
                var precision: [Double] = []
                for k in order {
                    if dets[t][k].tp { tp += 1 } else { fp += 1 }
                    recall.append(tp / Double(npig))
                    precision.append(tp / (tp + fp + Double.ulpOfOne))  // np.spacing(1), as COCOeval adds
                }
                // Monotone: each precision is the best at any higher recall.
                if precision.count > 1 {
                    for i in stride(from: precision.count - 1, to: 0, by: -1) where precision[i] > precision[i - 1] {
                        precision[i - 1] = precision[i]
                    }
                }
                var q = [Double](repeating: 0, count: recallPoints.count)
                var i = 0
                for (r, point) in recallPoints.enumerated() {
                    // numpy searchsorted(rc, point, side="left"): the first recall >= point.
                    while i < recall.count, recall[i] < point { i += 1 }
                    guard i < recall.count else { break }
                    q[r] = precision[i]
                }
                byThreshold[t].append(q.reduce(0, +) / Double(q.count))
            }
        }
        guard !byThreshold[0].isEmpty else { return (nil, nil) }
        let all = byThreshold.flatMap { $0 }
        return (all.reduce(0, +) / Double(all.count), byThreshold[0].reduce(0, +) / Double(byThreshold[0].count))
    }
}
