import Foundation
import Hummingbird
import Jobs
import Logging
import NIOCore

/// `POST /keys`, `GET /keys`, `DELETE /keys/{id}`: API keys managed over HTTP by an admin key (or
/// by the local operator on a server that needs no keys), so a cluster on PostgreSQL needs no
/// shell on a machine with the database to make its keys after the first.
extension Routes {
    /// What `POST /keys` takes.
    struct KeyCreateRequest: Decodable {
        var name: String
        var admin: Bool?
        var max_files: Int?
        var max_file_bytes: Int64?
        var max_request_bytes: Int64?
    }

    /// A key as listed: never its secret or hash.
    struct KeyBody: Encodable {
        let id: String
        let name: String
        let scope: String
        let prefix: String
        let created_at: Date
        let revoked_at: Date?
        let max_files: Int?
        let max_file_bytes: Int64?
        let max_request_bytes: Int64?
        /// The key itself: only in the answer to `POST /keys`, once.
        let key: String?

        init(_ k: APIKeyRecord, key: String? = nil) {
            id = k.id
            name = k.name
            scope = k.scope.rawValue
            prefix = k.prefix
            created_at = k.createdAt
            revoked_at = k.revokedAt
            max_files = k.maxFiles
            max_file_bytes = k.maxFileBytes
            max_request_bytes = k.maxRequestBytes
            self.key = key
        }
    }

    func registerKeys(on router: Router<BasicRequestContext>) {
        router.post("keys") { request, context in
            try await guarded(context) {
                try await requireAdmin(request)
                let body = try await Self.jsonBody(request, upTo: 16 << 10)
                let parsed: KeyCreateRequest
                do {
                    parsed = try JSONDecoder().decode(KeyCreateRequest.self, from: body)
                } catch {
                    throw APIError(
                        .badRequest, "invalid_json",
                        #"the body must be JSON like {"name": "ci", "admin": false}: "# + UploadHandler.short(error))
                }
                let name = parsed.name
                guard (1...100).contains(name.count), !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
                else {
                    throw APIError(.badRequest, "invalid_name", "name must be 1 to 100 characters, none of them control characters")
                }
                for (field, value) in [
                    ("max_files", parsed.max_files.map(Int64.init)), ("max_file_bytes", parsed.max_file_bytes),
                    ("max_request_bytes", parsed.max_request_bytes),
                ] {
                    if let value, value <= 0 { throw APIError(.badRequest, "invalid_limit", "\(field) must be positive") }
                }
                var (key, record) = APIKeys.make(name: name, scope: parsed.admin == true ? .admin : .user)
                record.maxFiles = parsed.max_files
                record.maxFileBytes = parsed.max_file_bytes
                record.maxRequestBytes = parsed.max_request_bytes
                try await store.keyCreate(record)
                context.logger.notice("API key created", metadata: ["key_id": .string(record.id), "scope": .string(record.scope.rawValue)])
                return JSON.response(KeyBody(record, key: key), status: .created)
            }
        }
        router.get("keys") { request, context in
            try await guarded(context) {
                try await requireAdmin(request)
                struct Body: Encodable { let keys: [KeyBody] }
                return JSON.response(Body(keys: try await store.keyList().map { KeyBody($0) }))
            }
        }
        router.delete("keys/:id") { request, context in
            try await guarded(context) {
                try await requireAdmin(request)
                let id = try context.parameters.require("id")
                guard HostileText.isID(id), let k = try await store.keyRevoke(id: id, now: Date()) else {
                    throw APIError.notFound("key \(HostileText.isID(id) ? id : "with that id")")
                }
                context.logger.notice("API key revoked", metadata: ["key_id": .string(k.id)])
                return JSON.response(KeyBody(k))
            }
        }
    }

    /// Admin keys pass; so does the local operator where no key is required. Others: 403.
    private func requireAdmin(_ request: Request) async throws {
        switch try await caller(request) {
        case .anonymous: return
        case .key(let k) where k.scope == .admin: return
        case .key: throw APIError(.forbidden, "admin_only", "managing keys needs an admin key")
        }
    }

    /// The request's JSON body, at most `limit` bytes (more: 413).
    static func jsonBody(_ request: Request, upTo limit: Int) async throws -> Data {
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            throw APIError(.unsupportedMediaType, "unsupported_media_type", "send the body as application/json")
        }
        do {
            return Data(try await request.body.collect(upTo: limit).readableBytesView)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "body_too_large", "the body is over \(limit) bytes")
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, "body_too_large", "the body is over \(limit) bytes")
        }
    }
}
