internal import CGDAL
import Foundation
import Synchronization

/// A raster read in place over HTTP(S) by range requests (GDAL's `/vsicurl/`): only the header and
/// the blocks read are fetched. Its `Authorization` header is kept here by path and handed to GDAL
/// as a thread-local setting around each call that may fetch (open and reads), so concurrent reads
/// with different tokens never mix and no token is left in GDAL's global configuration.
public struct RemoteRaster: Sendable {
    /// The path to open with ``Raster/init(path:maxPixels:)``.
    public let path: String

    private static let headers = Mutex<[String: String]>([:])

    /// Prepares `url` to be read with `bearerToken` (nil: no authorisation header).
    public init(url: String, bearerToken: String?) {
        GDAL.register()
        path = "/vsicurl/" + url
        let path = self.path
        Self.headers.withLock { $0[path] = bearerToken.map { "Authorization: Bearer \($0)" } }
    }

    /// Whether `path` is a raster read in place (never a caller's text: only this type makes them).
    public static func isRemote(_ path: String) -> Bool { path.hasPrefix("/vsicurl/http") }

    /// Drops the token and GDAL's cached blocks of this URL.
    public func close() { Self.close(path) }

    /// The same by path, for the holder of a path from ``path``.
    public static func close(_ path: String) {
        guard isRemote(path) else { return }
        headers.withLock { open in
            open.removeValue(forKey: path)
            // GDAL keeps statistics for every file it ever fetched: forget them whenever no remote
            // read is open (under the lock, so no read starts meanwhile), so a long-running worker
            // does not grow with the files it has read.
            if open.isEmpty { VSINetworkStatsReset() }
        }
        VSICurlPartialClearCache(path)
    }

    /// Runs `body` (synchronous GDAL calls on `path`) with the path's request headers set for this
    /// thread only.
    static func withRequestHeaders<T>(_ path: String, _ body: () -> T) -> T {
        guard isRemote(path), let header = headers.withLock({ $0[path] }) else { return body() }
        CPLSetThreadLocalConfigOption("GDAL_HTTP_HEADERS", header)
        defer { CPLSetThreadLocalConfigOption("GDAL_HTTP_HEADERS", nil) }
        return body()
    }

    /// Bytes fetched for `path` since it was opened (GET requests of GDAL's network statistics);
    /// ask before ``close()``.
    public static func bytesRead(_ path: String) -> Int {
        guard let json = VSINetworkStatsGetAsSerializedJSON(nil) else { return 0 }
        defer { geo_cpl_free(json) }
        guard let stats = try? JSONSerialization.jsonObject(with: Data(String(cString: json).utf8)) as? [String: Any],
            let handlers = stats["handlers"] as? [String: Any], let curl = handlers["vsicurl"] as? [String: Any],
            let files = curl["files"] as? [String: Any], let file = files[path] as? [String: Any],
            let methods = file["methods"] as? [String: Any], let get = methods["GET"] as? [String: Any]
        else { return 0 }
        return (get["downloaded_bytes"] as? Int) ?? 0
    }
}
