public import Foundation

/// When to try a failed delivery again: a fixed, growing list of delays (exponential in effect),
/// each spread by random jitter so that many receivers coming back at once are not all hit in the
/// same second.
public struct RetrySchedule: Sendable, Equatable {
    /// Delays after the 1st, 2nd, … failed attempt; when they run out the delivery fails for good.
    public var delays: [TimeInterval]
    /// Each delay is multiplied by a random factor in [1 − jitter, 1 + jitter] (default 0.1).
    public var jitter: Double

    /// About 5 s, 30 s, 2 m, 10 m, 30 m, 1 h, 3 h, 6 h, 12 h and 24 h: 11 attempts over about two days.
    public static let standard = RetrySchedule(delays: [5, 30, 120, 600, 1800, 3600, 10800, 21600, 43200, 86400], jitter: 0.1)

    /// The longest `Retry-After` honoured (one day).
    public static let longestRetryAfter: TimeInterval = 86400

    /// `delays` in seconds; `jitter` a fraction (0: the delays exactly).
    public init(delays: [TimeInterval], jitter: Double = 0.1) {
        self.delays = delays
        self.jitter = jitter
    }

    /// Parses a comma-separated list of durations such as `5s,30s,2m,10m,1h,1d` (a bare number is seconds).
    public init(parsing text: String, jitter: Double = 0.1) throws(WebhookError) {
        var delays: [TimeInterval] = []
        for item in text.split(separator: ",") {
            let t = item.trimmingCharacters(in: .whitespaces).lowercased()
            let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
            let unit = units.first { t.hasSuffix($0.0) && Double(t.dropLast($0.0.count)) != nil }
            let number = unit.map { Double(t.dropLast($0.0.count)) } ?? Double(t)
            let seconds = (number ?? -1) * (unit?.1 ?? 1)
            guard seconds.isFinite, seconds >= 0, seconds <= 7 * 86400 else {
                throw WebhookError(
                    "invalid_retry_schedule",
                    "GEOINFER_WEBHOOK_RETRY_SCHEDULE item '\(t.prefix(20))' is not a duration like 5s, 2m, 1h or 1d (at most 7d)")
            }
            delays.append(seconds)
        }
        self.init(delays: delays, jitter: jitter)
    }

    /// When attempt `step + 1` failed at `now`: the next attempt's time, never before what the
    /// receiver asked for in `Retry-After`; nil when the schedule has run out.
    public func next(
        after step: Int, now: Date, retryAfter: TimeInterval? = nil,
        random: (ClosedRange<Double>) -> Double = { Double.random(in: $0) }
    ) -> Date? {
        guard delays.indices.contains(step) else { return nil }
        let base = delays[step] * (jitter > 0 ? random((1 - jitter)...(1 + jitter)) : 1)
        // Retry-After is honoured up to a day, so a receiver cannot park a delivery for ever.
        let asked = min(retryAfter ?? 0, Self.longestRetryAfter)
        return now.addingTimeInterval(max(base, asked))
    }

    /// A `Retry-After` header's delay: delta-seconds or an HTTP date.
    public static func retryAfter(_ header: String?, now: Date) -> TimeInterval? {
        guard let header = header?.trimmingCharacters(in: .whitespaces), !header.isEmpty else { return nil }
        if let seconds = Int(header) { return seconds >= 0 ? TimeInterval(seconds) : nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: header) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }
}
