import Foundation
import Hummingbird
import Logging

/// Leaflet, for the dashboard's map: read once at start from the folder Debian's `libjs-leaflet`
/// installs (`GEOINFER_LEAFLET_DIR`), kept in memory, and served at `/assets/leaflet/`. Nothing is
/// fetched from the internet, so the map works on an air-gapped network. Without the package the
/// dashboard still works, and says why it has no map.
struct MapAssets: Sendable {
    /// Where `libjs-leaflet` puts Leaflet.
    static let defaultDirectory = URL(fileURLWithPath: "/usr/share/javascript/leaflet")

    /// Served name → file in the package, with its media type. Only these names are served.
    static let files: [String: (file: String, type: String)] = [
        "leaflet.js": ("leaflet.min.js", "text/javascript; charset=utf-8"),
        "leaflet.css": ("leaflet.css", "text/css; charset=utf-8"),
        "images/layers.png": ("images/layers.png", "image/png"),
        "images/layers-2x.png": ("images/layers-2x.png", "image/png"),
        "images/marker-icon.png": ("images/marker-icon.png", "image/png"),
        "images/marker-icon-2x.png": ("images/marker-icon-2x.png", "image/png"),
        "images/marker-shadow.png": ("images/marker-shadow.png", "image/png"),
    ]

    private let loaded: [String: (type: String, bytes: ByteBuffer)]
    /// Why there is no map (nil: Leaflet is here).
    let missing: String?

    /// Reads every file from `directory`; any one missing leaves the map off, with the reason.
    init(directory: URL, logger: Logger) {
        var loaded: [String: (type: String, bytes: ByteBuffer)] = [:]
        var missing: String?
        for (name, entry) in Self.files {
            let path = directory.appending(path: entry.file).path
            guard let data = FileManager.default.contents(atPath: path) else {
                missing =
                    "the dashboard's map library is not installed on the server: install Debian's libjs-leaflet, or set GEOINFER_LEAFLET_DIR"
                break
            }
            loaded[name] = (entry.type, ByteBuffer(bytes: data))
        }
        if let missing {
            // The path goes to the operator's log only; the answer to clients does not name it.
            logger.warning("the dashboard has no map", metadata: ["reason": .string(missing), "directory": .string(directory.path)])
            self.loaded = [:]
        } else {
            self.loaded = loaded
        }
        self.missing = missing
    }

    /// The file served as `name`, or 404.
    func response(_ name: String) throws -> Response {
        guard let file = loaded[name] else {
            if let missing { throw APIError(.notFound, "not_found", missing) }
            throw APIError.notFound("asset \(name.prefix(100))")
        }
        return Response(
            status: .ok, headers: [.contentType: file.type, .cacheControl: "max-age=86400"], body: .init(byteBuffer: file.bytes))
    }
}
