import Jobs

/// Awaits a task's value for at most `limit`; past it the task is cancelled and the wait fails,
/// saying what it waited for. For a task whose end the test does not control directly (a stream
/// the server should end, a request the server should close). The wait ends at the limit even
/// when the task ignores its cancellation (a query waiting for a server that never answers).
public func value<T: Sendable>(of task: Task<T, any Error>, within limit: Duration, _ what: String) async throws -> T {
    guard let value = try await TaskDeadline.first(of: task, within: limit, expire: {}) else {
        throw DeadlineExceeded(description: "\(what) did not happen within \(limit)")
    }
    return value
}

/// A wait that ran past its deadline, with what it waited for.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public let description: String
}

/// Tries `attempt` until it succeeds, at most until `limit` has passed, pausing `pause` between
/// tries; past the limit the wait fails, saying what it waited for and how the last try failed.
/// For a state the system reaches on its own after a fault ends (a pool that reconnects), where
/// one try may still meet the fault's tail.
public func eventually<T: Sendable>(
    within limit: Duration, pause: Duration = .milliseconds(200), _ what: String, _ attempt: @Sendable () async throws -> T
) async throws -> T {
    let deadline = ContinuousClock.now + limit
    var last: (any Error)?
    repeat {
        do { return try await attempt() } catch { last = error }
        try await Task.sleep(for: pause)
    } while ContinuousClock.now < deadline
    throw DeadlineExceeded(description: "\(what) did not happen within \(limit); the last try failed: \(String(describing: last))")
}
