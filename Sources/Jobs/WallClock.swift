public import Foundation
import Synchronization

/// Where time-based job logic reads the time: claims, leases, heartbeats, retry schedules.
/// Injected so that in-process tests move time by hand instead of sleeping.
public protocol WallClock: Sendable {
    func now() -> Date
}

/// The system's time.
public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A clock that only moves when told to: for tests.
public final class ManualWallClock: WallClock {
    private let current: Mutex<Date>

    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = Mutex(start) }

    public func now() -> Date { current.withLock { $0 } }

    /// Moves the clock forward by `seconds`.
    public func advance(by seconds: TimeInterval) { current.withLock { $0 += seconds } }
}
