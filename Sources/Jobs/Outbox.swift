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
    /// The delivery's id: its `webhook-id` header, the same on every attempt and kept by a redelivery.
    public var id: String
    /// The job the event is about.
    public var jobID: String
    /// `job.completed`, `job.completed_with_errors`, `job.failed`, `job.cancelled`, or `job.progress`.
    public var event: String
    /// The receiver's URL (the job's webhook URL when the event was written).
    public var url: String
    /// The body, fixed when the event is written: every attempt sends the same bytes.
    public var payload: Data
    /// The job's own signing secret, when it was submitted with one (else the server's secrets sign).
    public var secret: String?
    /// Where the delivery stands (see ``DeliveryStatus``).
    public var status: DeliveryStatus
    /// Attempts made, over the delivery's whole life.
    public var attempts: Int
    /// Position in the retry schedule (reset by a redelivery).
    public var step: Int
    /// When the next attempt is due (`createdAt` at first; nil: delivered, failed or stopped).
    public var nextAttemptAt: Date?
    /// The deliverer holding the delivery's lease (nil: none).
    public var leaseOwner: String?
    /// When that lease ends; past it, another deliverer may claim the delivery (nil: no lease).
    public var leaseExpiresAt: Date?
    /// The last attempt's HTTP status (nil: no attempt yet, or no response came).
    public var lastStatusCode: Int?
    /// Why the last attempt failed (nil: no attempt yet, or it was delivered).
    public var lastError: String?
    /// When the event was written, in the transaction that made the job final or recorded its progress.
    public var createdAt: Date
    /// When the receiver last answered 2xx (nil: never).
    public var deliveredAt: Date?

    /// A pending delivery, due at once (at `createdAt`), with no attempts made.
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
    /// The row's id, assigned by the store (nil until inserted).
    public var id: Int64?
    /// The delivery the attempt was for (``WebhookDelivery/id``).
    public var deliveryID: String
    /// 1 for the first attempt.
    public var number: Int
    /// When the attempt started.
    public var at: Date
    /// The receiver's HTTP status; nil when no response came (refused, timed out, reset).
    public var statusCode: Int?
    /// Why the attempt failed: the transport's error, or `HTTP {code}` for an answer other than 2xx (nil: delivered).
    public var error: String?
    /// How long the attempt took, in seconds (to the millisecond).
    public var seconds: Double

    /// An attempt as the deliverer made it; the store assigns ``id``.
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
