import Formats
import Foundation
import Inference
import Synchronization

/// Per-caller limits: a token bucket for requests and a cap on uploads in flight. Callers are API
/// keys; anonymous local callers (loopback without keys) are not limited.
final class CallerLimits: Sendable {
    /// Requests a second a key may make on average (0: no limit).
    let rate: Double
    /// Requests a key may make at once before the rate applies.
    let burst: Double
    /// Uploads a key may have in flight at once (0: no limit).
    let maxUploads: Int

    private struct Bucket {
        var tokens: Double
        var last: ContinuousClock.Instant
    }
    /// Event streams open at once, in all and per key.
    let maxStreams: Int
    let maxStreamsPerKey: Int

    private let buckets = Mutex<[String: Bucket]>([:])
    private let uploads = Mutex<[String: Int]>([:])
    private let streams = Mutex<(total: Int, perKey: [String: Int])>((0, [:]))

    init(rate: Double, burst: Double, maxUploads: Int, maxStreams: Int = .max, maxStreamsPerKey: Int = .max) {
        self.rate = rate
        self.burst = max(1, burst)
        self.maxUploads = maxUploads
        self.maxStreams = maxStreams
        self.maxStreamsPerKey = maxStreamsPerKey
    }

    /// Counts an event stream in (`caller` nil: the anonymous local operator, counted in the total
    /// only); false when over either limit.
    func beginStream(_ caller: String?) -> Bool {
        streams.withLock { s in
            guard s.total < maxStreams else { return false }
            if let caller {
                guard s.perKey[caller, default: 0] < maxStreamsPerKey else { return false }
                s.perKey[caller, default: 0] += 1
            }
            s.total += 1
            return true
        }
    }

    func endStream(_ caller: String?) {
        streams.withLock { s in
            s.total = max(0, s.total - 1)
            if let caller {
                s.perKey[caller, default: 1] -= 1
                if s.perKey[caller, default: 0] <= 0 { s.perKey[caller] = nil }
            }
        }
    }

    /// Event streams open now.
    var openStreams: Int { streams.withLock { $0.total } }

    /// What reading one quicklook or thumbnail takes from the request rate: a fiftieth of a
    /// request (at the default 20 a second, a key may load 1,000 pictures a second, in bursts of
    /// 5,000), so a map of a thousand files loads without meeting 429s.
    static let pictureCost = 0.02

    /// Takes `cost` tokens (a request: 1) for `caller`; nil when allowed, else the seconds until
    /// there are enough.
    func take(_ caller: String, cost: Double = 1, now: ContinuousClock.Instant = .now) -> Double? {
        guard rate > 0 else { return nil }
        return buckets.withLock { all in
            var b = all[caller] ?? Bucket(tokens: burst, last: now)
            let elapsed = now - b.last
            b.tokens = min(burst, b.tokens + elapsed.seconds * rate)
            b.last = now
            defer { all[caller] = b }
            // A hair of slack: fifty pictures of 0.02 add up to a token, whatever the rounding.
            if b.tokens + 1e-9 >= cost {
                b.tokens = max(0, b.tokens - cost)
                return nil
            }
            return (cost - b.tokens) / rate
        }
    }

    /// Counts an upload in; false when the caller already has `maxUploads` in flight.
    func beginUpload(_ caller: String) -> Bool {
        guard maxUploads > 0 else { return true }
        return uploads.withLock { all in
            guard all[caller, default: 0] < maxUploads else { return false }
            all[caller, default: 0] += 1
            return true
        }
    }

    func endUpload(_ caller: String) {
        guard maxUploads > 0 else { return }
        uploads.withLock { all in
            all[caller, default: 1] -= 1
            if all[caller] == 0 { all[caller] = nil }
        }
    }
}
