/// The audit document written beside the detections: what went in (with hashes), which model and
/// settings ran, what the tiler did, how long each stage took, and the software versions.
public struct RunMetadata: Codable, Sendable, Equatable {
    public var created_at: String
    public var inputs: [Input]
    public var model: Model
    public var parameters: Parameters
    public var totals: Totals
    public var software: Software
    /// Anything the user should know ("no georeferencing: boxes are in pixel space", ...).
    public var warnings: [String]
    /// Where the job's inputs and results are mirrored in the bucket (absent without a bucket).
    public var storage: StorageCopies?
    /// The merge of detections across files in map coordinates (absent when no file is georeferenced).
    public var merge: Merge?
    /// The scores against ground truth given with the run (`--ground-truth`; absent otherwise).
    public var evaluation: EvaluationReport?

    /// What the seam merge did: the layer `detections_merged` holds `detections` objects.
    public struct Merge: Codable, Sendable, Equatable {
        /// The CRS the merge ran in (`EPSG:n`, or WKT for a CRS without a code): most files' CRS.
        public var crs: String
        public var detections: Int
        /// Objects made of parts joined across the lines where files meet.
        public var joined: Int
        /// Detections dropped as duplicates of one found by an overlapping file.
        public var duplicates_dropped: Int
        /// Files whose detections are not in the merged layer (no georeferencing).
        public var excluded_files: [String]
        public var metric: String
        public var threshold: Double
        public init(
            crs: String, detections: Int, joined: Int, duplicates_dropped: Int, excluded_files: [String], metric: String, threshold: Double
        ) {
            self.crs = crs
            self.detections = detections
            self.joined = joined
            self.duplicates_dropped = duplicates_dropped
            self.excluded_files = excluded_files
            self.metric = metric
            self.threshold = threshold
        }
    }

    /// The bucket copies of a job's objects: `gs://` URIs by object name. Their sync state is live
    /// in `GET /jobs/{id}`.
    public struct StorageCopies: Codable, Sendable, Equatable {
        public var bucket: String
        public var objects: [Object]
        public struct Object: Codable, Sendable, Equatable {
            public var name: String
            public var uri: String
            public init(name: String, uri: String) {
                self.name = name
                self.uri = uri
            }
        }
        public init(bucket: String, objects: [Object]) {
            self.bucket = bucket
            self.objects = objects
        }
    }

    public init(
        created_at: String, inputs: [Input], model: Model, parameters: Parameters, totals: Totals, software: Software, warnings: [String]
    ) {
        self.created_at = created_at
        self.inputs = inputs
        self.model = model
        self.parameters = parameters
        self.totals = totals
        self.software = software
        self.warnings = warnings
    }

    public struct Input: Codable, Sendable, Equatable {
        public var file_name: String
        public var image_id: Int
        public var sha256: String
        public var size_bytes: Int
        public var driver: String
        public var width: Int
        public var height: Int
        public var band_count: Int
        public var data_type: String
        public var nodata: [Double?]
        public var crs_epsg: Int?
        public var georeferenced: Bool
        public var gsd_m: Double?
        /// Ratio of the model's grid to the raster's (1 when no resampling was needed).
        public var resample_factor: Double
        /// For a Cloud Optimized GeoTIFF read in place from its bucket: the bytes fetched by range
        /// requests (absent for a file read whole).
        public var bytes_read: Int?
        public var tiles: Tiles
        public var detections: Int
        public var timings_s: Timings
        public var warnings: [String]
        public init(
            file_name: String, image_id: Int, sha256: String, size_bytes: Int, driver: String, width: Int, height: Int, band_count: Int,
            data_type: String, nodata: [Double?], crs_epsg: Int?, georeferenced: Bool, gsd_m: Double?, resample_factor: Double,
            tiles: Tiles, detections: Int, timings_s: Timings, warnings: [String]
        ) {
            self.file_name = file_name
            self.image_id = image_id
            self.sha256 = sha256
            self.size_bytes = size_bytes
            self.driver = driver
            self.width = width
            self.height = height
            self.band_count = band_count
            self.data_type = data_type
            self.nodata = nodata
            self.crs_epsg = crs_epsg
            self.georeferenced = georeferenced
            self.gsd_m = gsd_m
            self.resample_factor = resample_factor
            self.tiles = tiles
            self.detections = detections
            self.timings_s = timings_s
            self.warnings = warnings
        }
    }

    public struct Tiles: Codable, Sendable, Equatable {
        public var planned: Int
        public var skipped: Int
        public var run: Int
        public init(planned: Int, skipped: Int, run: Int) {
            self.planned = planned
            self.skipped = skipped
            self.run = run
        }
    }

    /// Seconds spent in each stage.
    public struct Timings: Codable, Sendable, Equatable {
        public var hash: Double
        public var read: Double
        public var inference: Double
        public var merge: Double
        public var total: Double
        public init(hash: Double = 0, read: Double = 0, inference: Double = 0, merge: Double = 0, total: Double = 0) {
            self.hash = hash
            self.read = read
            self.inference = inference
            self.merge = merge
            self.total = total
        }
    }

    public struct Model: Codable, Sendable, Equatable {
        public var name: String
        public var version: String
        public var sha256: String
        public var classes: [String]
        public var input_size: [Int]
        public var gsd_m: Double?
        public var output_layout: String
        public init(
            name: String, version: String, sha256: String, classes: [String], input_size: [Int], gsd_m: Double?, output_layout: String
        ) {
            self.name = name
            self.version = version
            self.sha256 = sha256
            self.classes = classes
            self.input_size = input_size
            self.gsd_m = gsd_m
            self.output_layout = output_layout
        }
    }

    public struct Parameters: Codable, Sendable, Equatable {
        public var overlap: Double
        public var score_threshold: Double
        public var iou_threshold: Double
        public var nms_metric: String
        public var max_detections: Int
        public var batch_size: Int
        public var threads: Int
        public var device: String
        public init(
            overlap: Double, score_threshold: Double, iou_threshold: Double, nms_metric: String, max_detections: Int, batch_size: Int,
            threads: Int, device: String
        ) {
            self.overlap = overlap
            self.score_threshold = score_threshold
            self.iou_threshold = iou_threshold
            self.nms_metric = nms_metric
            self.max_detections = max_detections
            self.batch_size = batch_size
            self.threads = threads
            self.device = device
        }
    }

    public struct Totals: Codable, Sendable, Equatable {
        public var files: Int
        public var detections: Int
        /// Detections per class name.
        public var per_class: [String: Int]
        public var tiles: Tiles
        public var timings_s: Timings
        public init(files: Int, detections: Int, per_class: [String: Int], tiles: Tiles, timings_s: Timings) {
            self.files = files
            self.detections = detections
            self.per_class = per_class
            self.tiles = tiles
            self.timings_s = timings_s
        }
    }

    public struct Software: Codable, Sendable, Equatable {
        public var geoinfer: String
        public var gdal: String
        public var onnxruntime: String
        public init(geoinfer: String, gdal: String, onnxruntime: String) {
            self.geoinfer = geoinfer
            self.gdal = gdal
            self.onnxruntime = onnxruntime
        }
    }
}
