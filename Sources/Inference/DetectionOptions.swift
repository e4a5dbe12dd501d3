/// Settings of one detection run. Defaults suit aerial imagery with the default model.
public struct DetectionOptions: Sendable, Equatable {
    /// Fraction of a tile shared with its neighbour (default 0.2). Must be in [0, 0.9].
    public var overlap: Double = 0.2
    /// Minimum score kept; nil uses the model manifest's recommendation, else 0.25.
    public var scoreThreshold: Double?
    /// Overlap above which NMS suppresses the lower-scoring box; nil uses the manifest's, else 0.5.
    public var iouThreshold: Double?
    /// How overlap is measured in NMS (default IoU; IoS also merges boxes cut at tile borders).
    public var nmsMetric: OverlapMetric = .iou
    /// Most detections kept per raster (default 100,000).
    public var maxDetections: Int = 100_000
    /// Tiles per inference call (default 4).
    public var batchSize: Int = 4
    /// Skip tiles that are all nodata or a single value (default true).
    public var skipBlankTiles: Bool = true
    /// Rasters with more pixels are refused (default 10 gigapixels).
    public var maxPixels: Int = 10_000_000_000

    /// Every option at its default, as each property says.
    public init() {}

    /// Checks the values; the message names the option to fix.
    public func validate() throws(InferenceError) {
        guard JobSettings.overlaps.contains(overlap) else { throw .options("--overlap must be between 0 and 0.9 (got \(overlap))") }
        if let s = scoreThreshold, !JobSettings.scoreThresholds.contains(s) {
            throw .options("--score-threshold must be between 0 and 1 (got \(s))")
        }
        if let i = iouThreshold, !(0...1).contains(i) { throw .options("--iou must be between 0 and 1 (got \(i))") }
        guard (1...1024).contains(batchSize) else { throw .options("--batch must be between 1 and 1024 (got \(batchSize))") }
        guard maxDetections > 0 else { throw .options("--max-detections must be positive") }
        guard maxPixels > 0 else { throw .options("--max-pixels must be positive") }
    }

    func resolvedScore(_ m: ModelManifest) -> Double { scoreThreshold ?? m.scoreThreshold ?? 0.25 }
    /// The NMS IoU threshold a run of `m` uses: `iouThreshold`, else the manifest's, else 0.5.
    public func resolvedIoU(_ m: ModelManifest) -> Double { iouThreshold ?? m.iouThreshold ?? 0.5 }
}

/// A job's detection settings: what the caller asked for (nil: not given) resolved once, when the
/// job is submitted, over the model's defaults, and checked with one range per field. The job
/// stores the resolved values, so its run (and its tile count) use exactly what was accepted,
/// whatever a default is by then.
public struct JobSettings: Sendable, Equatable {
    /// Minimum score kept, in [0, 1]: the requested value, else the model's default (its manifest's, else 0.25).
    public var scoreThreshold: Double
    /// Fraction of a tile shared with its neighbour, in [0, 0.9]: the requested value, else 0.2.
    public var overlap: Double

    /// The one range of `scoreThreshold`, for every way a job is submitted and for `detect`.
    public static let scoreThresholds: ClosedRange<Double> = 0...1
    /// The one range of `overlap`, for every way a job is submitted and for `detect`.
    public static let overlaps: ClosedRange<Double> = 0...0.9

    /// A value out of its range, or not a number: `field` is its name in the API.
    public struct Invalid: Error, Sendable, Equatable {
        /// The field's name in the API: `score_threshold` or `overlap`.
        public let field: String
        /// A sentence for the caller, naming the field and its range.
        public let message: String
    }

    /// Resolves the requested values over the defaults of `manifest`.
    public init(scoreThreshold: Double?, overlap: Double?, manifest: ModelManifest) throws(Invalid) {
        let defaults = DetectionOptions()
        let score = scoreThreshold ?? defaults.resolvedScore(manifest)
        let overlap = overlap ?? defaults.overlap
        guard score.isFinite, Self.scoreThresholds.contains(score) else {
            throw Invalid(field: "score_threshold", message: "score_threshold must be a number between 0 and 1")
        }
        guard overlap.isFinite, Self.overlaps.contains(overlap) else {
            throw Invalid(field: "overlap", message: "overlap must be a number between 0 and 0.9")
        }
        self.scoreThreshold = score
        self.overlap = overlap
    }

    /// The same from text (form fields, query parameters): absent or empty is "not given", and
    /// anything that is not a number is refused like a number out of range (as NaN).
    public init(scoreThreshold: String?, overlap: String?, manifest: ModelManifest) throws(Invalid) {
        func number(_ text: String?) -> Double? {
            guard let text, !text.isEmpty else { return nil }
            return Double(text) ?? .nan
        }
        try self.init(scoreThreshold: number(scoreThreshold), overlap: number(overlap), manifest: manifest)
    }
}

/// Progress through one raster, reported after each batch.
public struct TileProgress: Sendable, Equatable {
    /// The raster's file name (last path component).
    public var file: String
    /// Tiles dealt with so far, run or skipped as blank; `tilesTotal` once the raster is done.
    public var tilesDone: Int
    /// The number of tiles in the raster's plan.
    public var tilesTotal: Int

    /// Progress from its parts as given.
    public init(file: String, tilesDone: Int, tilesTotal: Int) {
        self.file = file
        self.tilesDone = tilesDone
        self.tilesTotal = tilesTotal
    }
}
