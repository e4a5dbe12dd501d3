import Crypto
import Foundation
import _CryptoExtras

/// Gives the bearer token for each request to GCS; nil means no `Authorization` header (emulators).
public protocol TokenProvider: Sendable {
    func token() async throws -> String?
    /// What the credentials are, for logs and `geoinfer gcs` output (never the secret).
    var summary: String { get }
}

/// No credentials: for `STORAGE_EMULATOR_HOST`.
public struct NoCredentials: TokenProvider {
    /// Credentials that add no token.
    public init() {}
    /// Always nil: requests go without an `Authorization` header.
    public func token() async throws -> String? { nil }
    /// `none (emulator)`.
    public var summary: String { "none (emulator)" }
}

/// An OAuth2 access token and when to stop using it.
struct AccessToken: Sendable {
    var value: String
    var expires: Date
}

/// Caches one token and refreshes it 5 minutes before it expires (or halfway for short-lived
/// tokens); concurrent callers during a refresh share one request to the token endpoint.
actor TokenCache {
    private var current: AccessToken?
    private var refreshing: Task<AccessToken, any Error>?
    private let fetch: @Sendable () async throws -> AccessToken

    init(fetch: @escaping @Sendable () async throws -> AccessToken) { self.fetch = fetch }

    func token(now: Date = Date()) async throws -> String {
        if let current, current.expires > now { return current.value }
        if let refreshing { return try await refreshing.value.value }
        let task = Task { try await fetch() }
        refreshing = task
        defer { refreshing = nil }
        let fresh = try await task.value
        current = fresh
        return fresh.value
    }

    /// Parses a token endpoint's answer: `{access_token, expires_in, token_type}`.
    static func parse(_ answer: HTTPAnswer, from endpoint: String, now: Date = Date()) throws -> AccessToken {
        guard answer.status == 200 else {
            throw StorageError.credentials("the token endpoint \(endpoint) refused: HTTP \(answer.status): \(answer.message)")
        }
        guard let json = try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any],
            let value = json["access_token"] as? String, !value.isEmpty
        else {
            throw StorageError.credentials("the token endpoint \(endpoint) answered without an access_token")
        }
        let lifetime = (json["expires_in"] as? NSNumber)?.doubleValue ?? 3600
        let margin = lifetime > 600 ? 300 : lifetime / 2
        return AccessToken(value: value, expires: now.addingTimeInterval(lifetime - margin))
    }
}

/// The OAuth2 scope tokens are asked for by default: read and write access to Cloud Storage.
public let storageScope = "https://www.googleapis.com/auth/devstorage.read_write"

/// A service-account key file (`"type": "service_account"`): an RS256-signed JWT is exchanged at
/// the key's `token_uri` for an access token.
public struct ServiceAccountCredentials: TokenProvider {
    /// The service account's address (`client_email`), shown in `summary`.
    public let clientEmail: String
    let keyID: String?
    let tokenURI: String
    let privateKey: _RSA.Signing.PrivateKey
    let scope: String
    let cache: TokenCache

    /// Reads `client_email`, `private_key` (RSA, PEM), and optional `private_key_id` and `token_uri` (default Google's)
    /// from a key file's JSON; throws `StorageError.credentials` when they are missing or bad. Makes no request.
    public init(json: [String: Any], http: HTTPTransport, scope: String = storageScope) throws {
        guard let email = json["client_email"] as? String, let pem = json["private_key"] as? String else {
            throw StorageError.credentials("the service-account key has no client_email or private_key")
        }
        do {
            privateKey = try _RSA.Signing.PrivateKey(pemRepresentation: pem)
        } catch {
            throw StorageError.credentials("the service-account key's private_key is not an RSA key in PEM form")
        }
        clientEmail = email
        keyID = json["private_key_id"] as? String
        let uri = json["token_uri"] as? String ?? "https://oauth2.googleapis.com/token"
        tokenURI = uri
        self.scope = scope
        let key = privateKey
        let kid = keyID
        cache = TokenCache {
            let assertion = try Self.jwt(key: key, keyID: kid, email: email, audience: uri, scope: scope, now: Date())
            let body = "grant_type=\(formEncode("urn:ietf:params:oauth:grant-type:jwt-bearer"))&assertion=\(assertion)"
            let answer = try await http.send(
                "POST", uri, headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: Data(body.utf8), timeout: 30)
            return try TokenCache.parse(answer, from: uri)
        }
    }

    /// A cached access token, fetched with a freshly signed JWT when it nears expiry; throws `StorageError.credentials` when refused.
    public func token() async throws -> String? { try await cache.token() }
    /// `service account {client_email}`.
    public var summary: String { "service account \(clientEmail)" }

    /// `base64url(header).base64url(claims).base64url(RS256 signature)`, valid for one hour.
    static func jwt(key: _RSA.Signing.PrivateKey, keyID: String?, email: String, audience: String, scope: String, now: Date) throws
        -> String
    {
        var header: [String: String] = ["alg": "RS256", "typ": "JWT"]
        if let keyID { header["kid"] = keyID }
        let iat = Int(now.timeIntervalSince1970)
        let claims: [String: Any] = ["iss": email, "scope": scope, "aud": audience, "iat": iat, "exp": iat + 3600]
        let h = try JSONSerialization.data(withJSONObject: header, options: .sortedKeys).base64URL
        let c = try JSONSerialization.data(withJSONObject: claims, options: .sortedKeys).base64URL
        let input = Data("\(h).\(c)".utf8)
        let signature = try key.signature(for: input, padding: .insecurePKCS1v1_5)
        return "\(h).\(c).\(signature.rawRepresentation.base64URL)"
    }
}

/// gcloud's application-default credentials (`"type": "authorized_user"`): a refresh token.
public struct AuthorizedUserCredentials: TokenProvider {
    let cache: TokenCache

    /// Reads `client_id`, `client_secret`, `refresh_token` and optional `token_uri` (default Google's) from gcloud's JSON;
    /// throws `StorageError.credentials` when one is missing. Makes no request.
    public init(json: [String: Any], http: HTTPTransport) throws {
        guard let id = json["client_id"] as? String, let secret = json["client_secret"] as? String,
            let refresh = json["refresh_token"] as? String
        else {
            throw StorageError.credentials(
                "the authorized_user credentials lack client_id, client_secret or refresh_token; run gcloud auth application-default login")
        }
        let uri = json["token_uri"] as? String ?? "https://oauth2.googleapis.com/token"
        cache = TokenCache {
            let body = ["grant_type": "refresh_token", "client_id": id, "client_secret": secret, "refresh_token": refresh]
                .sorted { $0.key < $1.key }.map { "\($0.key)=\(formEncode($0.value))" }.joined(separator: "&")
            let answer = try await http.send(
                "POST", uri, headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: Data(body.utf8), timeout: 30)
            return try TokenCache.parse(answer, from: uri)
        }
    }

    /// A cached access token, refreshed with the refresh token when it nears expiry; throws `StorageError.credentials` when refused.
    public func token() async throws -> String? { try await cache.token() }
    /// The kind of credentials, without the account or any secret.
    public var summary: String { "gcloud application-default credentials (authorized_user)" }
}

/// The metadata server of GCE, Cloud Run and GKE (`GCE_METADATA_HOST` overrides its address).
public struct MetadataServerCredentials: TokenProvider {
    let host: String
    let cache: TokenCache

    /// Tokens from the metadata server at `host` (`host[:port]`, reached over plain HTTP). Makes no request.
    public init(host: String, http: HTTPTransport) {
        self.host = host
        let url = "http://\(host)/computeMetadata/v1/instance/service-accounts/default/token"
        cache = TokenCache {
            let answer: HTTPAnswer
            do {
                answer = try await http.send("GET", url, headers: [("Metadata-Flavor", "Google")], timeout: 5)
            } catch {
                throw StorageError.credentials(
                    """
                    no credentials found: GOOGLE_APPLICATION_CREDENTIALS is not set, there is no gcloud \
                    application-default login, and the metadata server \(host) is not reachable. Set \
                    GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or run gcloud auth application-default login
                    """)
            }
            return try TokenCache.parse(answer, from: url)
        }
    }

    /// A cached token of the instance's default service account; throws `StorageError.credentials` when the server is unreachable.
    public func token() async throws -> String? { try await cache.token() }
    /// `metadata server {host}`.
    public var summary: String { "metadata server \(host)" }
}

/// Application Default Credentials, in Google's order.
public enum Credentials {
    /// `STORAGE_EMULATOR_HOST` → none; `GOOGLE_APPLICATION_CREDENTIALS` → that key file; gcloud's
    /// `application_default_credentials.json` → it; else the metadata server.
    public static func resolve(environment env: [String: String], http: HTTPTransport) throws -> any TokenProvider {
        if let emulator = env["STORAGE_EMULATOR_HOST"], !emulator.isEmpty { return NoCredentials() }
        if let path = env["GOOGLE_APPLICATION_CREDENTIALS"], !path.isEmpty {
            guard FileManager.default.fileExists(atPath: path) else {
                throw StorageError.credentials("GOOGLE_APPLICATION_CREDENTIALS names \(path), which does not exist")
            }
            return try fromFile(path, http: http)
        }
        let gcloud =
            env["CLOUDSDK_CONFIG"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appending(path: ".config/gcloud")
        let adc = gcloud.appending(path: "application_default_credentials.json").path
        if FileManager.default.fileExists(atPath: adc) { return try fromFile(adc, http: http) }
        return MetadataServerCredentials(host: env["GCE_METADATA_HOST"] ?? "metadata.google.internal", http: http)
    }

    static func fromFile(_ path: String, http: HTTPTransport) throws -> any TokenProvider {
        guard let data = FileManager.default.contents(atPath: path),
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            throw StorageError.credentials("\(path) is not readable JSON credentials")
        }
        switch json["type"] as? String {
        case "service_account": return try ServiceAccountCredentials(json: json, http: http)
        case "authorized_user": return try AuthorizedUserCredentials(json: json, http: http)
        case let other:
            throw StorageError.credentials(
                "\(path) holds credentials of type '\(other ?? "none")'; use a service_account key or authorized_user credentials")
        }
    }
}

extension Data {
    var base64URL: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

/// `application/x-www-form-urlencoded` value encoding.
func formEncode(_ s: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
}
