/// A COCO detection document (the format pycocotools loads), extended with georeferencing:
/// each image carries its CRS, geotransform and ground sample distance, and each annotation its
/// box in the raster's CRS.
public struct COCODocument: Codable, Sendable, Equatable {
    /// The document's header (COCO's `info`): what wrote it and when.
    public var info: Info
    /// One entry per raster of the run, in run order.
    public var images: [Image]
    /// Every detection of every raster, by image in run order.
    public var annotations: [Annotation]
    /// The model's classes in its order: class index i has id i + 1.
    public var categories: [Category]

    /// A document from its parts; images and annotations default to none, to be appended raster by raster.
    public init(info: Info, images: [Image] = [], annotations: [Annotation] = [], categories: [Category]) {
        self.info = info
        self.images = images
        self.annotations = annotations
        self.categories = categories
    }

    /// COCO's `info` block: which run wrote the document, and when.
    public struct Info: Codable, Sendable, Equatable {
        /// What the document holds: "GeoInfer detections (<model name> <model version>)".
        public var description: String
        /// The version of GeoInfer that wrote the document (e.g. "0.1.0").
        public var version: String
        /// When the run's report was made, ISO 8601 in UTC (e.g. "2027-01-15T08:00:00Z").
        public var date_created: String
        /// An `info` block from its three fields.
        public init(description: String, version: String, date_created: String) {
            self.description = description
            self.version = version
            self.date_created = date_created
        }
    }

    /// One raster. `width`/`height` are the original raster's, whatever resolution the model ran at.
    public struct Image: Codable, Sendable, Equatable {
        /// The image's id: its 1-based position in the run. Annotations refer to it as `image_id`.
        public var id: Int
        /// The raster's file name without its directory (in a job, the file's name there, unique within the job).
        public var file_name: String
        /// The raster's width in pixels (columns).
        public var width: Int
        /// The raster's height in pixels (rows).
        public var height: Int
        /// The raster's CRS as "EPSG:n" when known, else its WKT; nil without georeferencing.
        public var crs: String?
        /// GDAL's six geotransform coefficients; nil without georeferencing.
        public var geotransform: [Double]?
        /// Ground sample distance in metres (mean of the x and y pixel sizes); nil without georeferencing.
        public var gsd_m: Double?
        /// Whether the raster has both a CRS and a geotransform; when false its boxes stay in pixel space.
        public var georeferenced: Bool
        /// An image entry from its fields; `crs`, `geotransform` and `gsd_m` are nil for a raster without georeferencing.
        public init(
            id: Int, file_name: String, width: Int, height: Int, crs: String?, geotransform: [Double]?, gsd_m: Double?, georeferenced: Bool
        ) {
            self.id = id
            self.file_name = file_name
            self.width = width
            self.height = height
            self.crs = crs
            self.geotransform = geotransform
            self.gsd_m = gsd_m
            self.georeferenced = georeferenced
        }
    }

    /// One detection: its box in the raster's pixels (and in its CRS when georeferenced), class and score.
    public struct Annotation: Codable, Sendable, Equatable {
        /// The detection's id, from 1, unique within the document.
        public var id: Int
        /// The `id` of the image the detection was found in.
        public var image_id: Int
        /// 1-based, as COCO expects; see `categories`.
        public var category_id: Int
        /// [x, y, width, height] in the original raster's pixels.
        public var bbox: [Double]
        /// The box's area in square pixels: `bbox` width × height.
        public var area: Double
        /// The model's confidence in the detection, at least the run's score threshold.
        public var score: Double
        /// COCO's crowd flag: always 0, as each detection is one object.
        public var iscrowd: Int
        /// The box as one polygon [x1, y1, x2, y1, x2, y2, x1, y2].
        public var segmentation: [[Double]]
        /// [minX, minY, maxX, maxY] in the raster's CRS; nil without georeferencing.
        public var geo_bbox: [Double]?
        /// An annotation from its pixel box: `area`, `segmentation` and `iscrowd` are derived from it.
        /// `bbox` must hold four numbers.
        public init(id: Int, image_id: Int, category_id: Int, bbox: [Double], score: Double, geo_bbox: [Double]?) {
            self.id = id
            self.image_id = image_id
            self.category_id = category_id
            self.bbox = bbox
            self.area = bbox[2] * bbox[3]
            self.score = score
            self.iscrowd = 0
            let (x, y, w, h) = (bbox[0], bbox[1], bbox[2], bbox[3])
            self.segmentation = [[x, y, x + w, y, x + w, y + h, x, y + h]]
            self.geo_bbox = geo_bbox
        }
    }

    /// One of the model's classes, as COCO lists it.
    public struct Category: Codable, Sendable, Equatable {
        /// The class's id: its index in the model's class list, plus 1.
        public var id: Int
        /// The class's name in the model's manifest.
        public var name: String
        /// COCO's parent class: "object" unless given.
        public var supercategory: String
        /// A category; its supercategory defaults to "object".
        public init(id: Int, name: String, supercategory: String = "object") {
            self.id = id
            self.name = name
            self.supercategory = supercategory
        }
    }
}
