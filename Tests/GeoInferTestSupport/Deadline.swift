/// Awaits a task's value for at most `limit`; past it the task is cancelled and the wait fails,
/// saying what it waited for. For a task whose end the test does not control directly (a stream
/// the server should end, a request the server should close).
public func value<T: Sendable>(of task: Task<T, any Error>, within limit: Duration, _ what: String) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await task.value }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            task.cancel()
            throw DeadlineExceeded(description: "\(what) did not happen within \(limit)")
        }
        return value
    }
}

/// A wait that ran past its deadline, with what it waited for.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public let description: String
}
