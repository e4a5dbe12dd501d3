/// An RFC 7946 FeatureCollection of detection boxes as WGS84 (lon, lat) polygons.
public struct GeoJSONFeatureCollection: Codable, Sendable, Equatable {
    public var type = "FeatureCollection"
    public var features: [Feature]

    public init(features: [Feature]) { self.features = features }

    public struct Feature: Codable, Sendable, Equatable {
        public var type = "Feature"
        public var geometry: Polygon
        public var properties: Properties
        public init(geometry: Polygon, properties: Properties) {
            self.geometry = geometry
            self.properties = properties
        }
    }

    /// A polygon with one exterior ring, counter-clockwise and closed (RFC 7946 §3.1.6).
    public struct Polygon: Codable, Sendable, Equatable {
        public var type = "Polygon"
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

    public struct Properties: Codable, Sendable, Equatable {
        public var `class`: String
        public var category_id: Int
        public var score: Double
        public var source_file: String
        public var image_id: Int
        /// [x, y, width, height] in the source raster's pixels (absent for an object joined from
        /// parts in several files).
        public var pixel_bbox: [Double]?
        /// In the merged layer: every file the object was found in (its parts and the duplicates
        /// dropped), `source_file` first.
        public var source_files: [String]?
        /// In the merged layer: how many parts, cut where files meet, the box joins.
        public var parts: Int?
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
