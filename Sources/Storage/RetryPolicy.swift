public import Foundation

/// GCS's retry strategy: 408, 429, 5xx, timeouts and resets are retried with truncated exponential
/// backoff and full jitter until an overall deadline; anything else is final.
public struct RetryPolicy: Sendable {
    /// First backoff (default 1 s), doubled each time up to `maxBackoff` (default 32 s).
    public var initialBackoff: TimeInterval = 1
    /// The longest wait between two attempts, in seconds (default 32).
    public var maxBackoff: TimeInterval = 32
    /// How long one operation keeps retrying (default 120 s); progress on a resumable upload restarts it.
    public var deadline: TimeInterval = 120

    /// Backoffs and deadline in seconds (defaults 1, 32 and 120).
    public init(initialBackoff: TimeInterval = 1, maxBackoff: TimeInterval = 32, deadline: TimeInterval = 120) {
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.deadline = deadline
    }

    /// Whether an HTTP status is worth retrying: 408, 429 and every 5xx.
    public static func retryable(status: Int) -> Bool { status == 408 || status == 429 || status >= 500 }

    /// The wait before retry number `n` (0-based): uniformly random up to the capped exponential.
    func backoff(_ n: Int) -> TimeInterval {
        let cap = min(maxBackoff, initialBackoff * pow(2, Double(min(n, 30))))
        return Double.random(in: (cap / 2)...cap)
    }
}

/// A failure that the retry loop may retry: a retryable HTTP status or a transport error.
struct TransientFailure: Error, CustomStringConvertible {
    var description: String
}

/// Retries what `body` throws as `TransientFailure` (or a transport error) under `policy`.
/// `progress` lets long operations restart the deadline when they advance.
func withRetries<T: Sendable>(
    _ operation: String, policy: RetryPolicy,
    _ body: (_ attempt: Int) async throws -> T
) async throws -> T {
    var attempt = 0
    let start = Date()
    while true {
        do {
            return try await body(attempt)
        } catch let error as TransientFailure {
            try await pause(operation, policy: policy, attempt: attempt, start: start, error: error.description)
        } catch  where isTransientTransportError(error) {
            try await pause(operation, policy: policy, attempt: attempt, start: start, error: "\(error)")
        }
        attempt += 1
    }
}

private func pause(_ operation: String, policy: RetryPolicy, attempt: Int, start: Date, error: String) async throws {
    let wait = policy.backoff(attempt)
    guard Date().timeIntervalSince(start) + wait < policy.deadline else {
        throw StorageError.unavailable(operation: operation, lastError: error)
    }
    try await Task.sleep(for: .milliseconds(Int64(wait * 1000)))
}
