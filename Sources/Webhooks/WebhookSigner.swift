import Crypto
public import Foundation

/// A Standard Webhooks signing secret: `whsec_` followed by base64 key bytes.
public struct WebhookSecret: Sendable, Equatable, CustomStringConvertible {
    let key: [UInt8]

    /// Parses `whsec_…`; the base64 may be unpadded. Keys of 16 to 128 bytes are accepted.
    public init(_ text: String) throws(WebhookError) {
        guard text.hasPrefix("whsec_") else { throw .invalidSecret("must start with 'whsec_'") }
        var b64 = String(text.dropFirst(6))
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64) else { throw .invalidSecret("is not valid base64 after 'whsec_'") }
        guard (16...128).contains(data.count) else { throw .invalidSecret("has \(data.count) key bytes") }
        key = [UInt8](data)
    }

    init(key: [UInt8]) { self.key = key }

    /// The secret kept in a file (surrounding whitespace ignored), or nil when there is no such file.
    public static func load(from path: String) throws(WebhookError) -> WebhookSecret? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        do { return try WebhookSecret(text.trimmingCharacters(in: .whitespacesAndNewlines)) } catch {
            throw WebhookError(error.code, "\(path): \(error.description)")
        }
    }

    /// A new random secret of 32 bytes.
    public static func generate() -> WebhookSecret {
        WebhookSecret(key: SymmetricKey(size: .bits256).withUnsafeBytes { [UInt8]($0) })
    }

    /// The `whsec_` form, to give to the receiver.
    public var text: String { "whsec_" + Data(key).base64EncodedString() }

    /// Never the key itself, so a secret cannot leak into a log by interpolation.
    public var description: String { "whsec_<redacted>" }
}

/// Signs webhook requests as Standard Webhooks 1.0 describes: the signature of
/// `{webhook-id}.{webhook-timestamp}.{body}` is base64 HMAC-SHA256 with each secret, prefixed `v1,`,
/// space-separated when several secrets are in use (during a rotation).
public struct WebhookSigner: Sendable {
    /// Never empty; each secret adds one `v1,` signature.
    public let secrets: [WebhookSecret]

    /// `secrets` must not be empty (a precondition, not a thrown error).
    public init(secrets: [WebhookSecret]) {
        precondition(!secrets.isEmpty, "a signer needs a secret")
        self.secrets = secrets
    }

    /// The `webhook-signature` header value.
    public func signature(id: String, timestamp: Int, body: Data) -> String {
        var content = Data("\(id).\(timestamp).".utf8)
        content.append(body)
        return secrets.map { secret in
            let mac = HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: secret.key))
            return "v1," + Data(mac).base64EncodedString()
        }.joined(separator: " ")
    }

    /// The three Standard Webhooks headers for one attempt.
    public func headers(id: String, timestamp: Date, body: Data) -> [(name: String, value: String)] {
        let seconds = Int(timestamp.timeIntervalSince1970.rounded(.down))
        return [
            ("webhook-id", id), ("webhook-timestamp", "\(seconds)"),
            ("webhook-signature", signature(id: id, timestamp: seconds, body: body)),
        ]
    }

    /// Whether `header` holds a valid `v1` signature by one of the secrets, and the timestamp is
    /// within `tolerance` of `now` (replay protection, as receivers do).
    public func verify(id: String, timestamp: Int, body: Data, header: String, now: Date = Date(), tolerance: TimeInterval = 300) -> Bool {
        guard abs(now.timeIntervalSince1970 - Double(timestamp)) <= tolerance else { return false }
        var content = Data("\(id).\(timestamp).".utf8)
        content.append(body)
        let offered = header.split(separator: " ").compactMap { part -> Data? in
            guard part.hasPrefix("v1,") else { return nil }
            return Data(base64Encoded: String(part.dropFirst(3)))
        }
        return secrets.contains { secret in
            offered.contains { HMAC<SHA256>.isValidAuthenticationCode($0, authenticating: content, using: SymmetricKey(data: secret.key)) }
        }
    }
}

/// The original prototype's signing scheme, kept for its receivers: `X-Signature: sha256=<hex
/// HMAC-SHA256(secret, "{timestamp}." + body)>`, `X-Signature-Timestamp` (Unix seconds) and
/// `X-Signature-Version: v1`. The secret is the UTF-8 of `WEBHOOK_SIGNING_SECRET`, as it used it.
public struct PrototypeSecret: Sendable, CustomStringConvertible {
    let key: [UInt8]

    /// At least 16 characters, as a shared secret should be.
    public init(_ text: String) throws(WebhookError) {
        guard text.utf8.count >= 16, text.utf8.count <= 1024 else {
            throw WebhookError("invalid_webhook_secret", "WEBHOOK_SIGNING_SECRET must be 16 to 1024 bytes long")
        }
        key = Array(text.utf8)
    }

    /// The `X-Signature` value: `sha256=` and the lowercase hex HMAC-SHA256 of `{timestamp}.{body}`, with
    /// `timestamp` in Unix seconds.
    public func signature(timestamp: Int, body: Data) -> String {
        var content = Data("\(timestamp).".utf8)
        content.append(body)
        return "sha256="
            + HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: key)).map { String(format: "%02x", $0) }.joined()
    }

    /// The three `X-Signature` headers for one attempt, `timestamp` rounded down to whole Unix seconds.
    public func headers(timestamp: Date, body: Data) -> [(name: String, value: String)] {
        let seconds = Int(timestamp.timeIntervalSince1970.rounded(.down))
        return [
            ("X-Signature", signature(timestamp: seconds, body: body)), ("X-Signature-Timestamp", "\(seconds)"),
            ("X-Signature-Version", "v1"),
        ]
    }

    /// Never the secret itself.
    public var description: String { "<redacted>" }
}
