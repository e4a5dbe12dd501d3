/// Precision, recall and F1 at one IoU threshold, from one-to-one matches made highest IoU first
/// (a match needs IoU above the threshold), as NeonTreeEvaluation and DeepForest count them.
public struct MatchScores: Sendable, Equatable, Codable {
    /// The IoU a prediction and a ground-truth box must exceed to match (0.4 or 0.5 in GeoInfer's reports).
    public var iou_threshold: Double
    /// Predictions matched to a ground-truth box of their class, each box matched at most once.
    public var true_positives: Int
    /// `true_positives` over the predictions, 0 to 1 (0 when there are none).
    public var precision: Double
    /// `true_positives` over the ground-truth boxes, 0 to 1 (0 when there are none).
    public var recall: Double
    /// The harmonic mean of `precision` and `recall` (0 when both are 0).
    public var f1: Double

    /// Scores from their fields, as given.
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
    /// How many ground-truth boxes the set has.
    public var ground_truth: Int
    /// How many predicted boxes the set has, all of them (AP counts at most `max_detections` per image).
    public var predictions: Int
    /// COCO AP (mean over IoU 0.50:0.05:0.95 and classes) and AP at IoU 0.5, computed as
    /// pycocotools' COCOeval computes them (101-point interpolation, at most `max_detections`
    /// per image); nil when there is no ground truth.
    public var ap: Double?
    /// COCO AP at IoU 0.5 alone, computed as `ap` is; nil when there is no ground truth.
    public var ap50: Double?
    /// Precision, recall and F1 at each matching IoU threshold, in increasing order (0.4, then 0.5).
    public var matches: [MatchScores]

    /// Scores from their fields, as given.
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
    /// Every image and class together.
    public var pooled: EvalScores
    /// By class name, lowercased ("object" when `class_agnostic`): each class over every image, including
    /// classes found only in the predictions.
    public var per_class: [String: EvalScores]
    /// By image file name: each image alone, over the ground truth's classes.
    public var per_file: [String: EvalScores]
    /// The most predictions per image and class that AP counts, highest scores first (at least 1).
    public var max_detections: Int
    /// True when ground truth and predictions each have one class, compared whatever their names.
    public var class_agnostic: Bool
    /// The ground truth it was scored against (a file name).
    public var ground_truth_file: String?

    /// A report from its scores; `ground_truth_file` starts nil, for the caller to set when it has a name.
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
