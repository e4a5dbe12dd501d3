public import Foundation

/// A webhook delivery's state. Raw values are stable: they are stored and returned by the API.
///
/// - `pending`: waiting for its next attempt at `nextAttemptAt`, or being attempted by the
///   deliverer holding its lease. Written in the same transaction that makes the job final.
/// - `delivered`: the receiver answered 2xx. Final.
/// - `failed`: every attempt of the retry schedule failed. Final until redelivered.
/// - `stopped`: the receiver answered 410 Gone: it asked never to be called again. Final until redelivered.
public enum DeliveryStatus: String, Codable, Sendable, CaseIterable {
    case pending, delivered, failed, stopped
}

/// One event for one receiver: the outbox row. Its `id` is the `webhook-id` header, the same on
/// every attempt, so receivers can drop duplicates.
public struct WebhookDelivery: Codable, Sendable, Equatable {
    public var id: String
    public var jobID: String
    /// `job.completed`, `job.completed_with_errors`, `job.failed`, `job.cancelled`.
    public var event: String
    public var url: String
    /// The body, fixed when the event is written: every attempt sends the same bytes.
    public var payload: Data
    /// The job's own signing secret, when it was submitted with one (else the server's secrets sign).
    public var secret: String?
    public var status: DeliveryStatus
    /// Attempts made, over the delivery's whole life.
    public var attempts: Int
    /// Position in the retry schedule (reset by a redelivery).
    public var step: Int
    public var nextAttemptAt: Date?
    public var leaseOwner: String?
    public var leaseExpiresAt: Date?
    public var lastStatusCode: Int?
    public var lastError: String?
    public var createdAt: Date
    public var deliveredAt: Date?

    public init(id: String, jobID: String, event: String, url: String, payload: Data, secret: String?, createdAt: Date) {
        self.id = id
        self.jobID = jobID
        self.event = event
        self.url = url
        self.payload = payload
        self.secret = secret
        self.status = .pending
        self.attempts = 0
        self.step = 0
        self.nextAttemptAt = createdAt
        self.createdAt = createdAt
    }
}

/// One attempt at a delivery, kept for the job's audit.
public struct WebhookAttempt: Codable, Sendable, Equatable {
    public var id: Int64?
    public var deliveryID: String
    /// 1 for the first attempt.
    public var number: Int
    public var at: Date
    /// The receiver's HTTP status; nil when no response came (refused, timed out, reset).
    public var statusCode: Int?
    public var error: String?
    public var seconds: Double

    public init(deliveryID: String, number: Int, at: Date, statusCode: Int?, error: String?, seconds: Double) {
        self.deliveryID = deliveryID
        self.number = number
        self.at = at
        self.statusCode = statusCode
        self.error = error
        self.seconds = seconds
    }
}

/// What an attempt decided for its delivery.
public enum DeliveryDecision: Sendable, Equatable {
    /// 2xx: done.
    case delivered
    /// Try again at `next` (the schedule's next step).
    case retry(next: Date)
    /// The schedule ran out: failed for good (until redelivered).
    case giveUp
    /// 410 Gone: the receiver asked to stop.
    case stop
}

/// Renders the event of a job that just became final. The store calls it inside the transaction
/// that records the final state, so the event is durable exactly when the state is.
public protocol JobEventRenderer: Sendable {
    /// The delivery to write, or nil when the job has no receiver.
    func finalEvent(job: JobRecord, files: [FileRecord], now: Date) throws -> WebhookDelivery?
    /// Percent steps at which running jobs send `job.progress` (0: never).
    var progressStep: Double { get }
    /// The progress event of a running job that just passed a step.
    func progressEvent(job: JobRecord, now: Date) throws -> WebhookDelivery?
}
