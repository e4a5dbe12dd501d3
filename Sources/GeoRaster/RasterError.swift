/// An error opening or reading a raster. It names the file and says what to do about it.
/// Codes are private so new ones can be added without breaking callers.
public struct RasterError: Error, CustomStringConvertible, Equatable, Sendable {
    enum Code: String, Sendable {
        case notFound, notARaster, corrupt, tooLarge, unsupported, writeFailed, invalidArgument
    }

    let code: Code
    /// The file's name (last path component), never a full path with user directories.
    public let file: String
    /// What went wrong, including GDAL's own message when there is one.
    public let reason: String
    /// What the user can do about it.
    public let remedy: String

    init(_ code: Code, file: String, reason: String, remedy: String) {
        self.code = code
        self.file = file
        self.reason = reason
        self.remedy = remedy
    }

    /// The whole message, `file: reason. remedy`, for showing to the user.
    public var description: String { "\(file): \(reason). \(remedy)" }

    /// A short stable name for the kind of error ("not_a_raster", "corrupt", ...), for APIs and logs.
    public var kind: String {
        switch code {
        case .notFound: "not_found"
        case .notARaster: "not_a_raster"
        case .corrupt: "corrupt"
        case .tooLarge: "too_large"
        case .unsupported: "unsupported"
        case .writeFailed: "write_failed"
        case .invalidArgument: "invalid_argument"
        }
    }

    /// Equal when of the same kind for the same file; `reason` and `remedy` are not compared.
    public static func == (lhs: RasterError, rhs: RasterError) -> Bool { lhs.code == rhs.code && lhs.file == rhs.file }

    static func notFound(_ file: String) -> RasterError {
        .init(.notFound, file: file, reason: "file not found", remedy: "Check the path and that the file is readable.")
    }
    static func notARaster(_ file: String, _ detail: String?) -> RasterError {
        .init(
            .notARaster, file: file,
            reason: "not a raster GDAL can read" + (detail.map { " (\($0))" } ?? ""),
            remedy: "Upload a GeoTIFF (or another raster format GDAL reads); check the file is not empty or of another type.")
    }
    static func corrupt(_ file: String, _ detail: String) -> RasterError {
        .init(
            .corrupt, file: file, reason: "raster data is truncated or corrupt (\(detail))",
            remedy: "Re-export or re-upload the file; `gdalinfo -checksum` shows the same fault.")
    }
    static func tooLarge(_ file: String, pixels: Int, limit: Int) -> RasterError {
        .init(
            .tooLarge, file: file, reason: "raster has \(pixels) pixels, more than the limit of \(limit)",
            remedy: "Split the raster into smaller files (gdal_retile.py) or raise the pixel limit (--max-pixels).")
    }
    static func unsupported(_ file: String, _ detail: String) -> RasterError {
        .init(.unsupported, file: file, reason: detail, remedy: "Convert the raster with gdal_translate to a supported layout.")
    }
    static func writeFailed(_ file: String, _ detail: String) -> RasterError {
        .init(
            .writeFailed, file: file, reason: "could not write (\(detail))",
            remedy: "Check the output folder exists and is writable, and that the disk has space.")
    }
    static func invalidArgument(_ file: String, _ detail: String) -> RasterError {
        .init(.invalidArgument, file: file, reason: detail, remedy: "This is a bug in the caller; report it with the file.")
    }
}
