import Synchronization

/// Waiting for a task with a deadline that holds even when the task does not end on
/// cancellation (a database query waiting for a server that never answers, say).
public enum TaskDeadline {
    /// `work`'s value, or nil once `limit` has passed. At the limit, or when the caller is
    /// cancelled, `work` is cancelled and `expire` runs (it should end what `work` waits on, such
    /// as a connection); a cancelled caller then gets whatever `work` ends with. Past the limit
    /// nothing waits for `work` to end; what it had already done (a commit the server received)
    /// stands.
    public static func first<T: Sendable>(
        of work: Task<T, any Error>, within limit: Duration, expire: @escaping @Sendable () -> Void
    ) async throws -> T? {
        let waiter = Mutex<CheckedContinuation<T?, any Error>?>(nil)
        let finish: @Sendable (Result<T?, any Error>) -> Bool = { result in
            guard
                let continuation = waiter.withLock({ w in
                    defer { w = nil }
                    return w
                })
            else { return false }
            continuation.resume(with: result)
            return true
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiter.withLock { $0 = continuation }
                let timer = Task {
                    guard (try? await Task.sleep(for: limit)) != nil else { return }
                    if finish(.success(nil)) {
                        work.cancel()
                        expire()
                    }
                }
                Task {
                    let result = await work.result
                    timer.cancel()
                    _ = finish(result.map { $0 })
                }
            }
        } onCancel: {
            work.cancel()
            expire()
        }
    }
}
