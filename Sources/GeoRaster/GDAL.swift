internal import CGDAL

/// The one door to GDAL: registration, quiet error capture, and turning GDAL's per-thread last
/// error into a Swift value. Every GDAL call that can fail goes through ``GDAL/call(_:)``.
enum GDAL {
    /// GDAL needs its drivers registered once per process; GDAL's own error printing is replaced by
    /// capture, so messages reach the caller as ``RasterError``s instead of stderr.
    private static let registration: Bool = {
        GDALAllRegister()
        CPLSetErrorHandler(CPLQuietErrorHandler)
        // Keep GDAL's block cache bounded so memory does not grow with raster size.
        CPLSetConfigOption("GDAL_CACHEMAX", "256")
        // Opening a file must not list its directory (GDAL does, to look for side-car files):
        // uploads share a few large directories, so each open would cost O(files there). Side-cars
        // are still found by name (a .tfw or .aux.xml beside a raster keeps working).
        if CPLGetConfigOption("GDAL_DISABLE_READDIR_ON_OPEN", nil) == nil {
            CPLSetConfigOption("GDAL_DISABLE_READDIR_ON_OPEN", "TRUE")
        }
        // Bytes fetched by range requests, per file, for rasters read in place (``RemoteRaster``).
        CPLSetConfigOption("CPL_VSIL_NETWORK_STATS_ENABLED", "YES")
        // Range requests of rasters read in place: retried on 429/5xx and timeouts, with a bound.
        for (key, value) in [("GDAL_HTTP_MAX_RETRY", "4"), ("GDAL_HTTP_RETRY_DELAY", "1"), ("GDAL_HTTP_TIMEOUT", "120")]
        where CPLGetConfigOption(key, nil) == nil {
            CPLSetConfigOption(key, value)
        }
        return true
    }()

    static func register() { _ = registration }

    /// Runs `body` with GDAL's last-error state cleared, and returns that state afterwards.
    /// GDAL keeps its last error per OS thread; `body` is synchronous, so it stays on one thread.
    static func call<T>(_ body: () -> T) -> (value: T, error: String?) {
        register()
        CPLErrorReset()
        let value = body()
        let type = CPLGetLastErrorType()
        if type == CE_Failure || type == CE_Fatal {
            return (value, String(cString: CPLGetLastErrorMsg()))
        }
        return (value, nil)
    }

    /// The GDAL release, e.g. "3.6.2".
    static var version: String {
        register()
        return String(cString: GDALVersionInfo("RELEASE_NAME"))
    }
}

/// The GDAL library version, e.g. "3.6.2".
public var gdalVersion: String { GDAL.version }
