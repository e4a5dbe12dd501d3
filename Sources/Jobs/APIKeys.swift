public import Foundation

/// Who may call the API. Only the SHA-256 of the key is stored; the key itself is shown once,
/// when it is made.
public struct APIKeyRecord: Codable, Sendable, Equatable {
    /// A short public id (`key_…`), for listing and revoking.
    public var id: String
    /// A name for people, given when the key is made.
    public var name: String
    /// `user` (sees its own jobs) or `admin` (sees every job).
    public var scope: APIKeyScope
    /// Hex SHA-256 of the key.
    public var hash: String
    /// The key's first characters, to recognise it in a list.
    public var prefix: String
    /// When the key was made.
    public var createdAt: Date
    /// When the key was revoked (nil: live).
    public var revokedAt: Date?
    /// The key's own upload limits, below the server's (nil: the server's).
    public var maxFiles: Int?
    /// The key's largest file in bytes (nil: the server's limit).
    public var maxFileBytes: Int64?
    /// The key's largest upload request in bytes (nil: the server's limit).
    public var maxRequestBytes: Int64?

    /// A live key with the server's upload limits.
    public init(id: String, name: String, scope: APIKeyScope, hash: String, prefix: String, createdAt: Date) {
        self.id = id
        self.name = name
        self.scope = scope
        self.hash = hash
        self.prefix = prefix
        self.createdAt = createdAt
    }
}

/// What a key may see. Raw values are stored.
public enum APIKeyScope: String, Codable, Sendable, CaseIterable {
    case user, admin
}
