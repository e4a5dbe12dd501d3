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
        /// Multiplies every raw pixel value first (1/255 takes 8-bit imagery to [0, 1]); must be finite and non-zero.
        public var scale: Double
        /// Subtracted from each channel after scaling: one value per entry of `bandOrder`.
        public var mean: [Double]
        /// Divides each channel last: one value per entry of `bandOrder`, each finite and non-zero.
        public var std: [Double]
        /// Normalisation from its parts, unchecked: ``ModelManifest/validate()`` checks them against the bands.
        public init(scale: Double, mean: [Double], std: [Double]) {
            self.scale = scale
            self.mean = mean
            self.std = std
        }
    }

    /// Names of the three outputs of the `boxes_scores_labels` layout.
    public struct OutputNames: Codable, Sendable, Equatable {
        /// Name of the `[B, N, 4]` boxes output (x1, y1, x2, y2 in input pixels).
        public var boxes: String
        /// Name of the `[B, N]` scores output.
        public var scores: String
        /// Name of the `[B, N]` labels output (0-based class indices).
        public var labels: String
    }

    /// The model's name; with `version`, how jobs and the registry name it (`name@version`). Must not be empty.
    public var name: String
    /// The model's version, as registered and as every run's metadata names it.
    public var version: String
    /// Class names: a detection's class index is its position in this list. Must not be empty.
    public var classes: [String]
    /// Width of the model's input in pixels (must be 1 to 8192): the width of every tile.
    public var inputWidth: Int
    /// Height of the model's input in pixels (must be 1 to 8192): the height of every tile.
    public var inputHeight: Int
    /// The input tensor's name; the model's first input when absent.
    public var inputName: String?
    /// 1-based raster bands feeding channels 0, 1, 2, ... (e.g. [1, 2, 3] for RGB).
    public var bandOrder: [Int]
    /// How raster values become the model's input values, channel by channel.
    public var normalization: Normalization
    /// Metres per pixel the model was trained at; rasters more than 10% off are resampled to it.
    /// Absent: rasters run at their native resolution.
    public var gsdMetres: Double?
    /// How the model's outputs are laid out, and so how they are decoded.
    public var outputLayout: OutputLayout
    /// Output names for the `boxes_scores_labels` layout; nil: `boxes`, `scores` and `labels`. Unused by `yolo`.
    public var outputs: OutputNames?
    /// The score threshold the model's authors recommend (default 0.25 when absent).
    public var scoreThreshold: Double?
    /// The NMS IoU threshold the model's authors recommend (default 0.5 when absent).
    public var iouThreshold: Double?
    /// A free-text description of the model for people (`GET /models` shows it); nil when absent.
    public var description: String?
    /// The model's licence, as free text; nil when absent. It travels with the manifest; nothing acts on it.
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

    /// A manifest from its fields, unchecked: ``validate()`` says whether they agree.
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
