import Foundation
public import Hummingbird

/// An error answered as JSON `{"error": {"code", "message"}}` with its HTTP status. Messages say
/// what to do; they never contain paths, stack traces or secrets.
public struct APIError: Error, HTTPResponseError, CustomStringConvertible {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    /// Per-file problems of an upload, when there are any.
    public let files: [FileProblem]?
    public var headers: HTTPFields = [:]

    public struct FileProblem: Codable, Sendable {
        public var name: String
        public var error: String
    }

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, files: [FileProblem]? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.files = files
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    private struct Body: Encodable {
        struct Inner: Encodable {
            let code: String
            let message: String
            let files: [FileProblem]?
        }
        let error: Inner
    }

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
