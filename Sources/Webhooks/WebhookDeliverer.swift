import Failpoints
import Formats
public import Foundation
public import Jobs
public import Logging
import Metrics
public import ServiceLifecycle

/// How webhooks are signed, checked and retried.
public struct WebhookConfiguration: Sendable {
    /// The server's signing secrets; all sign every request (several during a rotation). A job
    /// submitted with its own secret is signed with that one instead.
    public var secrets: [WebhookSecret] = []
    /// Delays between attempts (default about 5 s, 30 s, 2 m, 10 m, 30 m, 1 h, 3 h, 6 h, 12 h, 24 h).
    public var schedule = RetrySchedule.standard
    /// Limit on one attempt, connection to response (default 15 s).
    public var timeout: TimeInterval = 15
    /// Host names, addresses and CIDR ranges that may be reached although not public (default none).
    public var allowlist: [String] = []
    /// Deliveries attempted at once (default 4), so one slow receiver does not hold up the others.
    public var concurrency = 4
    /// How often an idle deliverer looks for due deliveries (default 0.5 s).
    public var poll: TimeInterval = 0.5
    /// Percent steps at which running jobs send `job.progress` events (default 0: none).
    public var progressStep: Double = 0
    /// The original prototype's signing secret (`WEBHOOK_SIGNING_SECRET`): when set, every request
    /// also carries its `X-Signature` headers, for receivers written for it (default nil: not sent).
    public var prototypeSecret: PrototypeSecret?

    /// The defaults above; `secrets` starts empty, which `WebhookDeliverer` refuses.
    public init() {}
}

/// Sends the outbox: claims due deliveries, checks the URL's address again (DNS may have changed
/// since submit), signs, posts, records the attempt and schedules the next one. A ServiceLifecycle
/// service; a delivery whose attempt is cut off by a crash is attempted again once its lease
/// expires, with the same `webhook-id`.
public final class WebhookDeliverer: Service {
    let store: any JobStore
    let config: WebhookConfiguration
    let policy: WebhookAddressPolicy
    let sender: any WebhookSender
    let logger: Logger
    let now: @Sendable () -> Date
    let id = "deliverer-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))"

    /// Throws `no_webhook_secret` when `config` has no secret, or `invalid_allowlist` for an allowlist entry that
    /// is not a valid CIDR range. `now` is the clock attempts are timed and scheduled by.
    public init(
        store: any JobStore, config: WebhookConfiguration, sender: any WebhookSender = HTTPWebhookSender(),
        logger: Logger, now: @escaping @Sendable () -> Date = { Date() }
    ) throws(WebhookError) {
        guard !config.secrets.isEmpty else { throw WebhookError("no_webhook_secret", "the deliverer needs a signing secret") }
        self.store = store
        self.config = config
        self.policy = try WebhookAddressPolicy(allowlist: config.allowlist)
        self.sender = sender
        self.logger = logger
        self.now = now
    }

    /// Runs `config.concurrency` delivery loops (at least one) until graceful shutdown or cancellation; a store
    /// error is logged and retried a second later, never thrown.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            for n in 0..<max(1, config.concurrency) {
                group.addTask { await self.loop(owner: "\(self.id)-\(n)") }
            }
        }
    }

    private func loop(owner: String) async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    // The lease outlasts the attempt's timeout, so no one else sends it meanwhile.
                    if let delivery = try await self.store.deliveryClaimNext(owner: owner, lease: self.config.timeout + 30, now: self.now())
                    {
                        await self.attempt(delivery)
                    } else {
                        try await Task.sleep(for: .seconds(self.config.poll))
                    }
                } catch is CancellationError {
                    return
                } catch {
                    self.logger.error("job store unavailable to the webhook deliverer", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    /// One attempt: check, sign, send, record, decide.
    func attempt(_ delivery: WebhookDelivery) async {
        var log = logger
        log[metadataKey: "job_id"] = .string(delivery.jobID)
        log[metadataKey: "webhook_id"] = .string(delivery.id)
        let started = now()
        let clock = ContinuousClock.now
        let response: WebhookResponse
        do {
            let target = try await policy.check(delivery.url)
            let signer = try WebhookSigner(secrets: delivery.secret.map { [try WebhookSecret($0)] } ?? config.secrets)
            let sentAt = now()
            var headers = signer.headers(id: delivery.id, timestamp: sentAt, body: delivery.payload)
            if let legacy = config.prototypeSecret { headers += legacy.headers(timestamp: sentAt, body: delivery.payload) }
            try await Failpoint.hit("webhook.before_send", context: "job=\(delivery.jobID) webhook=\(delivery.id)")
            response = await sender.send(WebhookRequest(target: target, headers: headers, body: delivery.payload, timeout: config.timeout))
        } catch let error as WebhookError {
            response = WebhookResponse(error: error.description)
        } catch {
            response = WebhookResponse(error: "\(error)")
        }
        let finished = now()
        let decision = Self.decide(response, step: delivery.step, schedule: config.schedule, now: finished)
        var error = response.error
        if let code = response.statusCode, !(200..<300).contains(code) {
            error = (300..<400).contains(code) ? "HTTP \(code): redirects are not followed; give the final URL" : "HTTP \(code)"
        }
        let attempt = WebhookAttempt(
            deliveryID: delivery.id, number: delivery.attempts + 1, at: started, statusCode: response.statusCode,
            error: error, seconds: ((ContinuousClock.now - clock).seconds * 1000).rounded() / 1000)
        do {
            _ = try await store.deliveryRecord(delivery, attempt: attempt, decision: decision)
        } catch {
            log.error(
                "could not record a webhook attempt; it will be attempted again when its lease expires", metadata: ["error": "\(error)"])
            return
        }
        try? await Failpoint.hit("webhook.after_record", context: "job=\(delivery.jobID) webhook=\(delivery.id) attempt=\(attempt.number)")
        let outcome =
            switch decision {
            case .delivered: "delivered"
            case .retry: "retry"
            case .giveUp: "failed"
            case .stop: "stopped"
            }
        Counter(label: "geoinfer_webhook_attempts_total", dimensions: [("outcome", outcome)]).increment()
        switch decision {
        case .delivered: log.info("webhook delivered", metadata: ["status": "\(response.statusCode ?? 0)", "attempt": "\(attempt.number)"])
        case .retry(let next):
            log.warning(
                "webhook attempt failed; will retry",
                metadata: ["error": "\(error ?? "")", "attempt": "\(attempt.number)", "next": "\(next)"])
        case .giveUp:
            log.error("webhook failed after its last attempt", metadata: ["error": "\(error ?? "")", "attempts": "\(attempt.number)"])
        case .stop: log.warning("webhook receiver answered 410 Gone; no more attempts")
        }
    }

    /// 2xx is delivered; 410 stops for good; anything else (3xx included: never followed) is
    /// retried on the schedule, not before `Retry-After`, until the schedule runs out.
    static func decide(_ response: WebhookResponse, step: Int, schedule: RetrySchedule, now: Date) -> DeliveryDecision {
        if let code = response.statusCode {
            if (200..<300).contains(code) { return .delivered }
            if code == 410 { return .stop }
        }
        let retryAfter = RetrySchedule.retryAfter(response.retryAfter, now: now)
        guard let next = schedule.next(after: step, now: now, retryAfter: retryAfter) else { return .giveUp }
        return .retry(next: next)
    }
}
