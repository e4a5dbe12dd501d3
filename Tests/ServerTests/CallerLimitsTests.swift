import Testing

@testable import Server

/// The token bucket on instants the test chooses: no sleeping, no dependence on the machine's speed.
@Suite struct CallerLimitsTests {
    let start = ContinuousClock.now

    @Test func aBurstThenTheRateWithTheWaitUntilTheNextToken() {
        let limits = CallerLimits(rate: 2, burst: 3, maxUploads: 0)
        #expect((0..<3).map { _ in limits.take("a", now: start) } == [nil, nil, nil])
        // Empty: the next token is half a second away at 2 a second.
        #expect(limits.take("a", now: start) == 0.5)
        #expect(limits.take("a", now: start + .milliseconds(250)) == 0.25)
        // Tokens come back at the rate.
        #expect(limits.take("a", now: start + .milliseconds(500)) == nil)
        #expect(limits.take("a", now: start + .milliseconds(500)) != nil)
        // Never more than the burst, however long the key was idle.
        let later = start + .seconds(3600)
        #expect((0..<3).map { _ in limits.take("a", now: later) } == [nil, nil, nil])
        #expect(limits.take("a", now: later) != nil)
        // Another key has its own bucket.
        #expect(limits.take("b", now: start) == nil)
    }

    /// A picture takes a fiftieth of a request: fifty of them cost what one request does.
    @Test func picturesCostAFiftiethOfARequest() {
        let limits = CallerLimits(rate: 2, burst: 1, maxUploads: 0)
        let cost = CallerLimits.pictureCost
        #expect((0..<50).allSatisfy { _ in limits.take("a", cost: cost, now: start) == nil })
        // The bucket is empty (up to rounding): the next picture waits for a fiftieth of a token.
        let wait = limits.take("a", cost: cost, now: start)
        #expect(wait != nil && wait! > 0 && wait! <= cost / 2 + 1e-9, "\(String(describing: wait))")
        #expect(limits.take("a", now: start) != nil, "and a request waits too")
    }

    @Test func noRateMeansNoLimit() {
        let limits = CallerLimits(rate: 0, burst: 1, maxUploads: 0)
        #expect((0..<100).allSatisfy { _ in limits.take("a", now: start) == nil })
    }

    @Test func uploadsInFlightPerKey() {
        let limits = CallerLimits(rate: 0, burst: 1, maxUploads: 1)
        #expect(limits.beginUpload("a"))
        #expect(!limits.beginUpload("a"))
        #expect(limits.beginUpload("b"))
        limits.endUpload("a")
        #expect(limits.beginUpload("a"))
    }
}
