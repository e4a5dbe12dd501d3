import Foundation
public import Hummingbird

/// An error answered as JSON `{"error": {"code", "message"}}` with its HTTP status. Messages say
/// what to do; they never contain paths, stack traces or secrets.
public struct APIError: Error, HTTPResponseError, CustomStringConvertible {
    /// The HTTP status answered.
    public let status: HTTPResponse.Status
    /// Machine-readable error code (`not_found`, `unauthorized`, …): the body's `error.code`.
    public let code: String
    /// What went wrong and what to do: the body's `error.message`.
    public let message: String
    /// Per-file problems of an upload, when there are any.
    public let files: [FileProblem]?
    /// Extra response headers (`WWW-Authenticate`, `Retry-After`, `Allow`); none by default.
    public var headers: HTTPFields = [:]

    /// One refused file of an upload and why.
    public struct FileProblem: Codable, Sendable {
        /// The file's name as uploaded.
        public var name: String
        /// Why the file was refused, and what to do.
        public var error: String
    }

    /// An error with `status`, `code` and `message`; `files` lists an upload's refused files (nil: none).
    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, files: [FileProblem]? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.files = files
    }

    /// `{status} {code}: {message}`, for logs.
    public var description: String { "\(status.code) \(code): \(message)" }

    private struct Body: Encodable {
        struct Inner: Encodable {
            let code: String
            let message: String
            let files: [FileProblem]?
        }
        let error: Inner
    }

    /// The JSON body `{"error": {"code", "message", "files"}}` with `status` and `headers`.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSON.response(Body(error: .init(code: code, message: message, files: files)), status: status)
        response.headers.append(contentsOf: headers)
        return response
    }

    static func notFound(_ what: String) -> APIError { APIError(.notFound, "not_found", "\(what) not found") }

    /// An upload the server could not write to its disk.
    static var storageUnavailable: APIError {
        APIError(.internalServerError, "storage_unavailable", "the server could not store the upload (disk full or not writable)")
    }

    static func unauthorized(_ message: String) -> APIError {
        var e = APIError(.unauthorized, "unauthorized", message)
        e.headers[.wwwAuthenticate] = "Bearer"
        return e
    }
}

/// JSON responses with ISO 8601 dates and stable key order.
enum JSON {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok, contentType: String = "application/json") -> Response {
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":{"code":"internal","message":"encoding failed"}}"#.utf8)
        return Response(status: status, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
