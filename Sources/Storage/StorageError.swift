/// What went wrong talking to a blob store, with what to do about it. Never carries credentials,
/// tokens or signed URLs.
public enum StorageError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The store answered with an HTTP error that retrying will not fix.
    case http(status: Int, operation: String, message: String)
    /// Retryable failures (timeouts, resets, 408/429/5xx) lasted past the deadline.
    case unavailable(operation: String, lastError: String)
    /// The object is not there.
    case notFound(String)
    /// `ifGenerationMatch=0`: an object of that name already exists.
    case alreadyExists(String)
    /// The bytes stored are not the bytes sent (CRC32C differs).
    case checksumMismatch(name: String, expected: String, actual: String)
    /// No usable credentials, or the token endpoint refused them.
    case credentials(String)
    /// A bad configuration value (bucket name, URI, chunk size).
    case configuration(String)
    /// A local file could not be read or written.
    case local(String)

    /// What went wrong, with a hint for 401, 403 and 404; never credentials.
    public var description: String {
        switch self {
        case .http(let status, let operation, let message):
            let hint =
                switch status {
                case 401: " (check the credentials: GOOGLE_APPLICATION_CREDENTIALS or gcloud auth application-default login)"
                case 403: " (the account lacks permission on the bucket: grant it roles/storage.objectAdmin)"
                case 404: " (does the bucket exist? create it with geoinfer gcs setup-bucket)"
                default: ""
                }
            return "\(operation): HTTP \(status): \(message)\(hint)"
        case .unavailable(let operation, let lastError):
            return "\(operation): the bucket is unreachable (\(lastError)); will retry"
        case .notFound(let name): return "\(name) not found in the bucket"
        case .alreadyExists(let name): return "\(name) already exists in the bucket"
        case .checksumMismatch(let name, let expected, let actual):
            return "\(name): CRC32C mismatch (sent \(expected), stored \(actual)); the upload was corrupted and is retried"
        case .credentials(let message): return "credentials: \(message)"
        case .configuration(let message): return message
        case .local(let message): return message
        }
    }

    /// Whether trying again later may succeed (outages, throttling, corrupted transfers, local
    /// files that are still being written are not retryable).
    public var isRetryable: Bool {
        switch self {
        case .unavailable, .checksumMismatch: true
        case .http(let status, _, _): status == 401 || status == 403 || status == 404 || status == 408 || status == 429 || status >= 500
        case .credentials: true
        case .notFound, .alreadyExists, .configuration, .local: false
        }
    }
}
