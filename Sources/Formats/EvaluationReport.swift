/// Precision, recall and F1 at one IoU threshold, from one-to-one matches made highest IoU first
/// (a match needs IoU above the threshold), as NeonTreeEvaluation and DeepForest count them.
public struct MatchScores: Sendable, Equatable, Codable {
    public var iou_threshold: Double
    public var true_positives: Int
    public var precision: Double
    public var recall: Double
    public var f1: Double

    public init(iou_threshold: Double, true_positives: Int, precision: Double, recall: Double, f1: Double) {
        self.iou_threshold = iou_threshold
        self.true_positives = true_positives
        self.precision = precision
        self.recall = recall
        self.f1 = f1
    }
}

/// The scores of one set of images and classes.
public struct EvalScores: Sendable, Equatable, Codable {
    public var ground_truth: Int
    public var predictions: Int
    /// COCO AP (mean over IoU 0.50:0.05:0.95 and classes) and AP at IoU 0.5, computed as
    /// pycocotools' COCOeval computes them (101-point interpolation, at most `max_detections`
    /// per image); nil when there is no ground truth.
    public var ap: Double?
    public var ap50: Double?
    public var matches: [MatchScores]

    public init(ground_truth: Int, predictions: Int, ap: Double?, ap50: Double?, matches: [MatchScores]) {
        self.ground_truth = ground_truth
        self.predictions = predictions
        self.ap = ap
        self.ap50 = ap50
        self.matches = matches
    }
}

/// What `geoinfer evaluate` reports: pooled over every image and class, per class, and per file.
public struct EvaluationReport: Sendable, Equatable, Codable {
    public var pooled: EvalScores
    public var per_class: [String: EvalScores]
    public var per_file: [String: EvalScores]
    public var max_detections: Int
    /// True when ground truth and predictions each have one class, compared whatever their names.
    public var class_agnostic: Bool
    /// The ground truth it was scored against (a file name).
    public var ground_truth_file: String?

    public init(
        pooled: EvalScores, per_class: [String: EvalScores], per_file: [String: EvalScores], max_detections: Int, class_agnostic: Bool
    ) {
        self.pooled = pooled
        self.per_class = per_class
        self.per_file = per_file
        self.max_detections = max_detections
        self.class_agnostic = class_agnostic
    }
}
