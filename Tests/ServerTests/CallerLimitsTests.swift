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
