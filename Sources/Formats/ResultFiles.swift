import Foundation

/// The result formats a run can be asked for. The metadata document is always written.
public enum OutputFormat: String, Sendable, CaseIterable, Codable {
    case coco, geojson, gpkg, fgb, metadata

    /// A list of formats that names none, or one that does not exist.
    public struct Invalid: Error, Sendable, Equatable {
        /// Why the list was refused, naming the formats accepted; fit to show to the client.
        public let message: String
    }

    /// COCO and GeoJSON: what a job writes when it names no formats.
    public static let defaults: Set<OutputFormat> = [.coco, .geojson]

    /// The documents of this format; with a merged layer, the merged ones too.
    public func documents(merged: Bool) -> [ResultDocument] {
        switch self {
        case .coco: [.coco]
        case .geojson: merged ? [.geojson, .mergedGeoJSON] : [.geojson]
        case .gpkg: [.geoPackage]
        case .fgb: merged ? [.flatGeobuf, .mergedFlatGeobuf] : [.flatGeobuf]
        case .metadata: [.metadata]
        }
    }

    /// Formats from a comma-separated list (`coco,geojson,gpkg,fgb`; `metadata` is always
    /// written and may be named); an unknown name or an empty list is refused.
    public static func parseList(_ text: String) throws(Invalid) -> Set<OutputFormat> {
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        var chosen = Set<OutputFormat>()
        for name in names {
            guard let f = OutputFormat(rawValue: name) else {
                throw Invalid(message: "formats must be a comma-separated list of coco, geojson, gpkg, fgb")
            }
            chosen.insert(f)
        }
        chosen.remove(.metadata)
        guard !chosen.isEmpty else {
            throw Invalid(message: "formats must name at least one of coco, geojson, gpkg, fgb")
        }
        return chosen
    }

    /// The canonical list text of `formats` (in the order of `allCases`, without metadata).
    public static func listText(_ formats: Set<OutputFormat>) -> String {
        allCases.filter { formats.contains($0) && $0 != .metadata }.map(\.rawValue).joined(separator: ",")
    }
}

/// One result file of a run, by its name under `results/` (a job's are prefixed with its id).
public enum ResultDocument: String, Sendable, CaseIterable {
    case coco = "coco.json"
    case geojson = "detections.geojson"
    case mergedGeoJSON = "detections_merged.geojson"
    case geoPackage = "detections.gpkg"
    case flatGeobuf = "detections.fgb"
    case mergedFlatGeobuf = "detections_merged.fgb"
    case metadata = "metadata.json"

    /// The document's file name (its raw value), before a job's `{job}_` prefix.
    public var fileName: String { rawValue }

    /// The media type the document is served with.
    public var contentType: String {
        switch self {
        case .coco, .metadata: "application/json"
        case .geojson, .mergedGeoJSON: "application/geo+json"
        case .geoPackage: "application/geopackage+sqlite3"
        case .flatGeobuf, .mergedFlatGeobuf: "application/vnd.flatgeobuf"
        }
    }

    /// The documents a run with `formats` writes (metadata always); the merged ones only with a merged layer.
    public static func written(formats: Set<OutputFormat>, merged: Bool) -> [ResultDocument] {
        let all = Set(formats.union([.metadata]).flatMap { $0.documents(merged: merged) })
        return allCases.filter(all.contains)
    }
}

extension Duration {
    /// The duration in seconds.
    public var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}
