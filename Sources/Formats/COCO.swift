/// A COCO detection document (the format pycocotools loads), extended with georeferencing:
/// each image carries its CRS, geotransform and ground sample distance, and each annotation its
/// box in the raster's CRS.
public struct COCODocument: Codable, Sendable, Equatable {
    public var info: Info
    public var images: [Image]
    public var annotations: [Annotation]
    public var categories: [Category]

    public init(info: Info, images: [Image] = [], annotations: [Annotation] = [], categories: [Category]) {
        self.info = info
        self.images = images
        self.annotations = annotations
        self.categories = categories
    }

    public struct Info: Codable, Sendable, Equatable {
        public var description: String
        public var version: String
        public var date_created: String
        public init(description: String, version: String, date_created: String) {
            self.description = description
            self.version = version
            self.date_created = date_created
        }
    }

    /// One raster. `width`/`height` are the original raster's, whatever resolution the model ran at.
    public struct Image: Codable, Sendable, Equatable {
        public var id: Int
        public var file_name: String
        public var width: Int
        public var height: Int
        /// The raster's CRS as "EPSG:n" when known, else its WKT; nil without georeferencing.
        public var crs: String?
        /// GDAL's six geotransform coefficients; nil without georeferencing.
        public var geotransform: [Double]?
        public var gsd_m: Double?
        public var georeferenced: Bool
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

    public struct Annotation: Codable, Sendable, Equatable {
        public var id: Int
        public var image_id: Int
        /// 1-based, as COCO expects; see `categories`.
        public var category_id: Int
        /// [x, y, width, height] in the original raster's pixels.
        public var bbox: [Double]
        public var area: Double
        public var score: Double
        public var iscrowd: Int
        /// The box as one polygon [x1, y1, x2, y1, x2, y2, x1, y2].
        public var segmentation: [[Double]]
        /// [minX, minY, maxX, maxY] in the raster's CRS; nil without georeferencing.
        public var geo_bbox: [Double]?
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

    public struct Category: Codable, Sendable, Equatable {
        public var id: Int
        public var name: String
        public var supercategory: String
        public init(id: Int, name: String, supercategory: String = "object") {
            self.id = id
            self.name = name
            self.supercategory = supercategory
        }
    }
}
