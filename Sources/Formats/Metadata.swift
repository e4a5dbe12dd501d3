/// The audit document written beside the detections: what went in (with hashes), which model and
/// settings ran, what the tiler did, how long each stage took, and the software versions.
public struct RunMetadata: Codable, Sendable, Equatable {
    /// When the run's report was made, ISO 8601 in UTC.
    public var created_at: String
    /// One entry per raster with results, in image-id order.
    public var inputs: [Input]
    /// The model that ran: its name, version, file hash, and what it reads and writes.
    public var model: Model
    /// The detection settings the run used, defaults resolved.
    public var parameters: Parameters
    /// Counts and timings summed over every input.
    public var totals: Totals
    /// The versions of GeoInfer, GDAL and ONNX Runtime that ran.
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
        /// Objects in the merged layer, after joining parts and dropping duplicates.
        public var detections: Int
        /// Objects made of parts joined across the lines where files meet.
        public var joined: Int
        /// Detections dropped as duplicates of one found by an overlapping file.
        public var duplicates_dropped: Int
        /// Files whose detections are not in the merged layer (no georeferencing).
        public var excluded_files: [String]
        /// How overlap between boxes of different files was measured: "iou" or "ios".
        public var metric: String
        /// The overlap above which boxes of different files are one object (the run's NMS IoU threshold).
        public var threshold: Double
        /// A merge summary from its fields.
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
        /// The mirror bucket as `gs://name`, or without a mirror the job's output prefix (`gs://bucket/prefix/`).
        public var bucket: String
        /// Every copy: in the mirror, the job's uploads, result documents, quicklooks and thumbnails; and the result
        /// documents under its output prefix.
        public var objects: [Object]
        /// One bucket copy of one of the job's objects.
        public struct Object: Codable, Sendable, Equatable {
            /// The object's name in the mirror bucket; for a copy under the output prefix, its `gs://` URI.
            public var name: String
            /// The copy's full `gs://` URI.
            public var uri: String
            /// A copy from its name and URI.
            public init(name: String, uri: String) {
                self.name = name
                self.uri = uri
            }
        }
        /// The copies `objects`, under `bucket`.
        public init(bucket: String, objects: [Object]) {
            self.bucket = bucket
            self.objects = objects
        }
    }

    /// A document from its parts; `storage`, `merge` and `evaluation` start nil, for the caller to set when the run has them.
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

    /// One raster of the run: what it is, how it was tiled, what was found in it, and how long it took.
    public struct Input: Codable, Sendable, Equatable {
        /// The raster's file name without its directory (in a job, the file's name there, unique within the job).
        public var file_name: String
        /// The raster's image id in the COCO and GeoJSON documents: its 1-based position in the run.
        public var image_id: Int
        /// Lowercase hex SHA-256 of the file; empty for a raster read in place from a bucket, which is not hashed.
        public var sha256: String
        /// The file's size in bytes (0 for a raster read in place outside a job, whose size is not known).
        public var size_bytes: Int
        /// GDAL's short driver name ("GTiff", "PNG", ...).
        public var driver: String
        /// Width in pixels (columns).
        public var width: Int
        /// Height in pixels (rows).
        public var height: Int
        /// Number of bands.
        public var band_count: Int
        /// GDAL's name for the first band's data type ("Byte", "UInt16", "Float32", ...).
        public var data_type: String
        /// Each band's nodata value, in band order; null where a band has none.
        public var nodata: [Double?]
        /// The EPSG code of the raster's CRS; nil without a CRS, or when GDAL finds no code for it.
        public var crs_epsg: Int?
        /// Whether the raster has both a CRS and a geotransform; when false its boxes stay in pixel space.
        public var georeferenced: Bool
        /// Ground sample distance in metres (mean of the x and y pixel sizes); nil without georeferencing.
        public var gsd_m: Double?
        /// Ratio of the model's grid to the raster's (1 when no resampling was needed).
        public var resample_factor: Double
        /// For a Cloud Optimized GeoTIFF read in place from its bucket: the bytes fetched by range
        /// requests (absent for a file read whole).
        public var bytes_read: Int?
        /// The raster's tiles: planned, skipped as blank, and run.
        public var tiles: Tiles
        /// Detections kept for the raster, after NMS and the `max_detections` cap.
        public var detections: Int
        /// Seconds spent on the raster, stage by stage.
        public var timings_s: Timings
        /// What the user should know about this raster (one band fed to every channel, unknown ground sample
        /// distance, no georeferencing).
        public var warnings: [String]
        /// An input entry from its fields; `bytes_read` starts nil, for a raster read by range requests to set.
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

    /// Tile counts of one raster, or summed over the run's.
    public struct Tiles: Codable, Sendable, Equatable {
        /// Tiles in the plan that covers the raster.
        public var planned: Int
        /// Tiles not run because they were blank (all nodata or a single value).
        public var skipped: Int
        /// Tiles the model ran on.
        public var run: Int
        /// Tile counts from their fields.
        public init(planned: Int, skipped: Int, run: Int) {
            self.planned = planned
            self.skipped = skipped
            self.run = run
        }
    }

    /// Seconds spent in each stage.
    public struct Timings: Codable, Sendable, Equatable {
        /// Waiting for the file's SHA-256 once detection was done (hashing runs alongside reading).
        public var hash: Double
        /// Reading and normalising tiles, summed over batches; it overlaps inference.
        public var read: Double
        /// Running the model, summed over batches.
        public var inference: Double
        /// The raster's final NMS, and placing its boxes in its CRS and in WGS84.
        public var merge: Double
        /// The raster from opening to result, wall clock; stages overlap, so they need not add up to it.
        public var total: Double
        /// Timings from their fields, each 0 unless given.
        public init(hash: Double = 0, read: Double = 0, inference: Double = 0, merge: Double = 0, total: Double = 0) {
            self.hash = hash
            self.read = read
            self.inference = inference
            self.merge = merge
            self.total = total
        }
    }

    /// The model that ran, as its manifest describes it.
    public struct Model: Codable, Sendable, Equatable {
        /// The model's name in its manifest.
        public var name: String
        /// The model's version in its manifest.
        public var version: String
        /// Hex SHA-256 of the model's file.
        public var sha256: String
        /// Class names in index order: class index i is COCO category id i + 1.
        public var classes: [String]
        /// The model's input size in pixels, as [height, width].
        public var input_size: [Int]
        /// Metres per pixel the model was trained at (rasters more than 10% off are resampled to it); nil:
        /// rasters run at their native resolution.
        public var gsd_m: Double?
        /// How the model's outputs are laid out: "yolo" or "boxes_scores_labels".
        public var output_layout: String
        /// A model entry from its fields.
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

    /// The detection settings the run used, defaults resolved over the model's recommendations.
    public struct Parameters: Codable, Sendable, Equatable {
        /// Fraction of a tile shared with its neighbour, 0 to 0.9.
        public var overlap: Double
        /// The lowest score kept: detections scoring less were dropped.
        public var score_threshold: Double
        /// Overlap above which NMS suppressed the lower-scoring of two boxes of a class (also the merge's threshold).
        public var iou_threshold: Double
        /// How NMS measured overlap: "iou" (over the union) or "ios" (over the smaller box).
        public var nms_metric: String
        /// The most detections kept per raster.
        public var max_detections: Int
        /// Tiles per inference call.
        public var batch_size: Int
        /// ONNX Runtime intra-op threads of each worker.
        public var threads: Int
        /// Where the model ran: "cpu" or "cuda".
        public var device: String
        /// Parameters from their fields.
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

    /// The run as a whole: counts and timings summed over every input.
    public struct Totals: Codable, Sendable, Equatable {
        /// Rasters with results: the entries of `inputs`.
        public var files: Int
        /// Detections over every raster, before any merge across files.
        public var detections: Int
        /// Detections per class name.
        public var per_class: [String: Int]
        /// Tile counts summed over every raster.
        public var tiles: Tiles
        /// Each stage's seconds summed over every raster (rasters that ran side by side count in full).
        public var timings_s: Timings
        /// Totals from their fields.
        public init(files: Int, detections: Int, per_class: [String: Int], tiles: Tiles, timings_s: Timings) {
            self.files = files
            self.detections = detections
            self.per_class = per_class
            self.tiles = tiles
            self.timings_s = timings_s
        }
    }

    /// The versions of the software that ran.
    public struct Software: Codable, Sendable, Equatable {
        /// GeoInfer's version (e.g. "0.1.0").
        public var geoinfer: String
        /// The GDAL release (e.g. "3.6.2").
        public var gdal: String
        /// The ONNX Runtime library's version (e.g. "1.32.0"), or "not loaded".
        public var onnxruntime: String
        /// Versions from their fields.
        public init(geoinfer: String, gdal: String, onnxruntime: String) {
            self.geoinfer = geoinfer
            self.gdal = gdal
            self.onnxruntime = onnxruntime
        }
    }
}
