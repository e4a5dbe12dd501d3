public import Foundation
import Synchronization

/// Where time-based job logic reads the time: claims, leases, heartbeats, retry schedules.
/// Injected so that in-process tests move time by hand instead of sleeping.
public protocol WallClock: Sendable {
    /// The current time.
    func now() -> Date
}

/// The system's time.
public struct SystemWallClock: WallClock {
    /// The system's clock.
    public init() {}
    /// The system's current time.
    public func now() -> Date { Date() }
}

/// A clock that only moves when told to: for tests.
public final class ManualWallClock: WallClock {
    private let current: Mutex<Date>

    /// A clock stopped at `start` (by default 2027-01-15 08:00 UTC).
    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = Mutex(start) }

    /// The clock's current time; it moves only by ``advance(by:)``.
    public func now() -> Date { current.withLock { $0 } }

    /// Moves the clock forward by `seconds`.
    public func advance(by seconds: TimeInterval) { current.withLock { $0 += seconds } }
}
