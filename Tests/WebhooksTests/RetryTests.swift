import Foundation
import Jobs
import Testing

@testable import Webhooks

@Suite struct RetryTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func standardScheduleRunsAboutTwoDays() {
        let s = RetrySchedule.standard
        #expect(s.delays.count == 10)
        #expect(s.delays.first == 5 && s.delays.last == 86400)
        #expect(s.delays == s.delays.sorted())
    }

    @Test func parsesDurations() throws {
        #expect(try RetrySchedule(parsing: "500ms, 5s,2m,1h,1d,7").delays == [0.5, 5, 120, 3600, 86400, 7])
        #expect(throws: WebhookError.self) { try RetrySchedule(parsing: "5x") }
        #expect(throws: WebhookError.self) { try RetrySchedule(parsing: "-1s") }
        #expect(throws: WebhookError.self) { try RetrySchedule(parsing: "30d") }
    }

    @Test func jitterStaysWithinItsBand() {
        let s = RetrySchedule(delays: [100], jitter: 0.1)
        #expect(s.next(after: 0, now: now, random: { $0.lowerBound }) == now.addingTimeInterval(90))
        #expect(s.next(after: 0, now: now, random: { $0.upperBound }) == now.addingTimeInterval(110))
        for _ in 0..<100 {
            let d = s.next(after: 0, now: now)!.timeIntervalSince(now)
            #expect((90...110).contains(d))
        }
        #expect(s.next(after: 1, now: now) == nil)
    }

    @Test func retryAfterIsHonouredButBounded() {
        let s = RetrySchedule(delays: [5, 60], jitter: 0)
        #expect(s.next(after: 0, now: now, retryAfter: 30) == now.addingTimeInterval(30))
        #expect(s.next(after: 0, now: now, retryAfter: 1) == now.addingTimeInterval(5))
        #expect(s.next(after: 0, now: now, retryAfter: 1_000_000) == now.addingTimeInterval(86400))
    }

    @Test func parsesRetryAfter() {
        #expect(RetrySchedule.retryAfter("120", now: now) == 120)
        #expect(RetrySchedule.retryAfter(" 7 ", now: now) == 7)
        #expect(RetrySchedule.retryAfter("-3", now: now) == nil)
        #expect(RetrySchedule.retryAfter("soon", now: now) == nil)
        #expect(RetrySchedule.retryAfter(nil, now: now) == nil)
        // 1_800_000_000 is Fri, 15 Jan 2027 08:00:00 GMT.
        #expect(RetrySchedule.retryAfter("Fri, 15 Jan 2027 08:01:00 GMT", now: now) == 60)
    }

    @Test func decisions() {
        let s = RetrySchedule(delays: [5], jitter: 0)
        #expect(WebhookDeliverer.decide(.init(statusCode: 204), step: 0, schedule: s, now: now) == .delivered)
        #expect(WebhookDeliverer.decide(.init(statusCode: 410), step: 0, schedule: s, now: now) == .stop)
        #expect(WebhookDeliverer.decide(.init(statusCode: 500), step: 0, schedule: s, now: now) == .retry(next: now.addingTimeInterval(5)))
        #expect(WebhookDeliverer.decide(.init(statusCode: 301), step: 0, schedule: s, now: now) == .retry(next: now.addingTimeInterval(5)))
        #expect(WebhookDeliverer.decide(.init(statusCode: 404), step: 0, schedule: s, now: now) == .retry(next: now.addingTimeInterval(5)))
        #expect(
            WebhookDeliverer.decide(.init(error: "connection refused"), step: 0, schedule: s, now: now)
                == .retry(next: now.addingTimeInterval(5)))
        #expect(
            WebhookDeliverer.decide(
                .init(statusCode: 503, retryAfter: "3"), step: 0, schedule: RetrySchedule(delays: [1], jitter: 0), now: now)
                == .retry(next: now.addingTimeInterval(3)))
        #expect(WebhookDeliverer.decide(.init(statusCode: 500), step: 1, schedule: s, now: now) == .giveUp)
    }
}
