/// What the engine must know about a detector to feed it and read it: classes, input size, bands,
/// normalisation, ground sample distance and output layout. Read from the ONNX file's
/// `metadata_props` (key `geoinfer.manifest`, a JSON string) or a sidecar `model.json`.
public struct ModelManifest: Codable, Sendable, Equatable {
    /// How the model's outputs are laid out.
    public enum OutputLayout: String, Codable, Sendable {
        /// One output `[B, 4+C, A]`: per anchor cx, cy, w, h (input pixels) then C class scores in [0, 1],
        /// as YOLOv8/YOLO11 exports write it. The engine thresholds and runs NMS.
        case yolo
        /// Three outputs after NMS: `boxes [B,N,4]` (x1, y1, x2, y2 input pixels), `scores [B,N]`,
        /// `labels [B,N]` (0-based class indices).
        case boxesScoresLabels = "boxes_scores_labels"
    }

    /// Per-channel normalisation: `(pixel * scale - mean[c]) / std[c]`.
    public struct Normalization: Codable, Sendable, Equatable {
        public var scale: Double
        public var mean: [Double]
        public var std: [Double]
        public init(scale: Double, mean: [Double], std: [Double]) {
            self.scale = scale
            self.mean = mean
            self.std = std
        }
    }

    /// Names of the three outputs of the `boxes_scores_labels` layout.
    public struct OutputNames: Codable, Sendable, Equatable {
        public var boxes: String
        public var scores: String
        public var labels: String
    }

    public var name: String
    public var version: String
    public var classes: [String]
    public var inputWidth: Int
    public var inputHeight: Int
    /// The input tensor's name; the model's first input when absent.
    public var inputName: String?
    /// 1-based raster bands feeding channels 0, 1, 2, ... (e.g. [1, 2, 3] for RGB).
    public var bandOrder: [Int]
    public var normalization: Normalization
    /// Metres per pixel the model was trained at; rasters more than 10% off are resampled to it.
    /// Absent: rasters run at their native resolution.
    public var gsdMetres: Double?
    public var outputLayout: OutputLayout
    public var outputs: OutputNames?
    /// The score threshold the model's authors recommend (default 0.25 when absent).
    public var scoreThreshold: Double?
    /// The NMS IoU threshold the model's authors recommend (default 0.5 when absent).
    public var iouThreshold: Double?
    public var description: String?
    public var license: String?

    enum CodingKeys: String, CodingKey {
        case name, version, classes, description, license, normalization, outputs
        case inputWidth = "input_width"
        case inputHeight = "input_height"
        case inputName = "input_name"
        case bandOrder = "band_order"
        case gsdMetres = "gsd_m"
        case outputLayout = "output_layout"
        case scoreThreshold = "score_threshold"
        case iouThreshold = "iou_threshold"
    }

    public init(
        name: String, version: String, classes: [String], inputWidth: Int, inputHeight: Int, inputName: String? = nil,
        bandOrder: [Int], normalization: Normalization, gsdMetres: Double?, outputLayout: OutputLayout,
        outputs: OutputNames? = nil, scoreThreshold: Double? = nil, iouThreshold: Double? = nil
    ) {
        self.name = name
        self.version = version
        self.classes = classes
        self.inputWidth = inputWidth
        self.inputHeight = inputHeight
        self.inputName = inputName
        self.bandOrder = bandOrder
        self.normalization = normalization
        self.gsdMetres = gsdMetres
        self.outputLayout = outputLayout
        self.outputs = outputs
        self.scoreThreshold = scoreThreshold
        self.iouThreshold = iouThreshold
    }

    /// Number of input channels (one per entry of `bandOrder`).
    public var channels: Int { bandOrder.count }

    /// Checks the fields agree with each other; the message says which field to fix.
    public func validate() throws(InferenceError) {
        func fail(_ s: String) -> InferenceError { .manifest(s) }
        guard !name.isEmpty else { throw fail("`name` is empty") }
        guard !classes.isEmpty else { throw fail("`classes` is empty") }
        guard inputWidth > 0, inputHeight > 0, inputWidth <= 8192, inputHeight <= 8192 else {
            throw fail("`input_width`/`input_height` must be between 1 and 8192")
        }
        guard !bandOrder.isEmpty, bandOrder.allSatisfy({ $0 >= 1 }) else { throw fail("`band_order` must list 1-based bands") }
        guard normalization.mean.count == channels, normalization.std.count == channels else {
            throw fail("`normalization.mean` and `.std` need one value per band in `band_order` (\(channels))")
        }
        guard normalization.std.allSatisfy({ $0 != 0 && $0.isFinite }), normalization.scale.isFinite, normalization.scale != 0 else {
            throw fail("`normalization.scale` and every `std` must be finite and non-zero")
        }
        if let g = gsdMetres, !(g > 0 && g.isFinite) { throw fail("`gsd_m` must be positive") }
        for (key, t) in [("score_threshold", scoreThreshold), ("iou_threshold", iouThreshold)] {
            if let t, !(0...1).contains(t) { throw fail("`\(key)` must be in [0, 1]") }
        }
    }
}
