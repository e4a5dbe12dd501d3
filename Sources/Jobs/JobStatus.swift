/// A job's state. Raw values are stable: they are stored and returned by the API.
///
/// - `queued`: accepted and durable; no file has been claimed yet. Moved on by the first worker claim.
/// - `running`: at least one file claimed; ends when every file is finished, or on cancel.
/// - `completed`: every file succeeded. Final.
/// - `completed_with_errors`: some files failed, some succeeded. Final; `POST /jobs/{id}/retry` re-queues the failed ones.
/// - `failed`: every file failed. Final; retry as above.
/// - `cancelled`: stopped by `DELETE /jobs/{id}`; workers stop within one batch. Final.
public enum JobStatus: String, Codable, Sendable, CaseIterable {
    case queued, running, completed
    case completedWithErrors = "completed_with_errors"
    case failed, cancelled

    /// Whether no more work happens on the job (until a retry).
    public var isFinal: Bool {
        switch self {
        case .queued, .running: false
        case .completed, .completedWithErrors, .failed, .cancelled: true
        }
    }

    /// Whether the job has result documents: it finished, other than by being cancelled.
    public var hasResults: Bool { self == .completed || self == .completedWithErrors || self == .failed }

    /// The final state of a job whose files all finished.
    public static func finished(succeeded: Int, failed: Int) -> JobStatus {
        failed == 0 ? .completed : succeeded == 0 ? .failed : .completedWithErrors
    }
}

/// A file's state within its job.
///
/// - `queued`: waiting for a worker (also after a lease expired or a retry).
/// - `running`: claimed by a worker holding a lease it renews; an expired lease puts the file back in play.
/// - `succeeded`, `failed`: final for this attempt; `failed` keeps its error.
/// - `cancelled`: its job was cancelled before it finished.
public enum FileStatus: String, Codable, Sendable, CaseIterable {
    case queued, running, succeeded, failed, cancelled

    /// Whether no more work happens on the file (until a retry of its job requeues a failed one).
    public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}
