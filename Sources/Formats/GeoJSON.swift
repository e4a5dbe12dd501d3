/// An RFC 7946 FeatureCollection of detection boxes as WGS84 (lon, lat) polygons.
public struct GeoJSONFeatureCollection: Codable, Sendable, Equatable {
    /// GeoJSON's `type` member: always "FeatureCollection".
    public var type = "FeatureCollection"
    /// One feature per detection placed on the Earth; detections in rasters without georeferencing are left out.
    public var features: [Feature]

    /// A FeatureCollection of `features`, in the given order.
    public init(features: [Feature]) { self.features = features }

    /// One detection: its box as a polygon, and its class, score and source raster in `properties`.
    public struct Feature: Codable, Sendable, Equatable {
        /// GeoJSON's `type` member: always "Feature".
        public var type = "Feature"
        /// The box's four corners in WGS84; a box from a projected raster need not be a rectangle in degrees.
        public var geometry: Polygon
        /// What was detected, how sure the model is, and in which raster.
        public var properties: Properties
        /// A feature from its polygon and properties.
        public init(geometry: Polygon, properties: Properties) {
            self.geometry = geometry
            self.properties = properties
        }
    }

    /// A polygon with one exterior ring, counter-clockwise and closed (RFC 7946 §3.1.6).
    public struct Polygon: Codable, Sendable, Equatable {
        /// GeoJSON's `type` member: always "Polygon".
        public var type = "Polygon"
        /// One ring of [lon, lat] positions in degrees, counter-clockwise, its first position repeated last.
        public var coordinates: [[[Double]]]

        /// Builds the ring from corner points in any winding; it is closed and made counter-clockwise.
        public init(ring points: [(lon: Double, lat: Double)]) {
            var ring = points.map { [$0.lon, $0.lat] }
            // Shoelace sum: positive for counter-clockwise in lon/lat axes.
            var twiceArea = 0.0
            for i in 0..<ring.count {
                let a = ring[i]
                let b = ring[(i + 1) % ring.count]
                twiceArea += a[0] * b[1] - b[0] * a[1]
            }
            if twiceArea < 0 { ring.reverse() }
            if let first = ring.first, ring.last != first { ring.append(first) }
            coordinates = [ring]
        }
    }

    /// A feature's attributes; the per-file and merged layers use the same names.
    public struct Properties: Codable, Sendable, Equatable {
        /// The class's name in the model's class list.
        public var `class`: String
        /// The class's 1-based id, as in the COCO document's categories.
        public var category_id: Int
        /// The model's confidence in the detection, at least the run's score threshold.
        public var score: Double
        /// The file name of the raster the detection was found in (in the merged layer, that of its first part).
        public var source_file: String
        /// The COCO image id of `source_file`: its 1-based position in the run.
        public var image_id: Int
        /// [x, y, width, height] in the source raster's pixels (absent for an object joined from
        /// parts in several files).
        public var pixel_bbox: [Double]?
        /// In the merged layer: every file the object was found in (its parts and the duplicates
        /// dropped), `source_file` first.
        public var source_files: [String]?
        /// In the merged layer: how many parts, cut where files meet, the box joins.
        public var parts: Int?
        /// A feature's attributes; `source_files` and `parts` are for the merged layer only (nil: absent).
        public init(
            class: String, category_id: Int, score: Double, source_file: String, image_id: Int, pixel_bbox: [Double]?,
            source_files: [String]? = nil, parts: Int? = nil
        ) {
            self.class = `class`
            self.category_id = category_id
            self.score = score
            self.source_file = source_file
            self.image_id = image_id
            self.pixel_bbox = pixel_bbox
            self.source_files = source_files
            self.parts = parts
        }
    }
}
