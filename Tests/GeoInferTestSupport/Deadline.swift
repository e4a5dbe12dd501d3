import Synchronization

/// Awaits a task's value for at most `limit`; past it the task is cancelled and the wait fails,
/// saying what it waited for. For a task whose end the test does not control directly (a stream
/// the server should end, a request the server should close). The wait ends at the limit even
/// when the task ignores its cancellation (a query waiting for a server that never answers).
public func value<T: Sendable>(of task: Task<T, any Error>, within limit: Duration, _ what: String) async throws -> T {
    let waiter = Mutex<CheckedContinuation<T, any Error>?>(nil)
    let finish: @Sendable (Result<T, any Error>) -> Bool = { result in
        guard
            let continuation = waiter.withLock({ w in
                defer { w = nil }
                return w
            })
        else { return false }
        continuation.resume(with: result)
        return true
    }
    return try await withCheckedThrowingContinuation { continuation in
        waiter.withLock { $0 = continuation }
        Task { _ = finish(await task.result) }
        Task {
            try? await Task.sleep(for: limit)
            if finish(.failure(DeadlineExceeded(description: "\(what) did not happen within \(limit)"))) { task.cancel() }
        }
    }
}

/// A wait that ran past its deadline, with what it waited for.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public let description: String
}
