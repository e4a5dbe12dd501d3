import Synchronization

/// Wakes idle workers when new work arrives (PostgreSQL's `NOTIFY geoinfer_work`, or a commit of
/// the embedded stores that queued files): each waiter parks on a continuation that `fire()`
/// resumes, or its time limit does.
public final class WorkSignal: Sendable {
    private struct State {
        var generation = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// A signal nobody waits on.
    public init() {}

    /// Waiters parked now (for tests that must know a waiter is there before they fire).
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Wakes every waiter parked now; a wait that began before and parks after returns at once too.
    public func fire() {
        let parked = state.withLock { s in
            s.generation += 1
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for waiter in parked { waiter.resume() }
    }

    /// Returns when a notification arrives after the call began, or when `limit` passes.
    public func wait(upTo limit: Duration) async {
        let (id, start) = state.withLock { s in
            s.nextID += 1
            return (s.nextID, s.generation)
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.park(id, since: start) }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll()
        }
    }

    private func park(_ id: UInt64, since start: Int) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.generation != start || Task.isCancelled { return true }
                    s.waiters[id] = waiter
                    return false
                }
                if now { waiter.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
