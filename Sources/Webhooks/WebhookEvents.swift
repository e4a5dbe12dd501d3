public import Foundation
public import Jobs

/// Renders the end-of-job event. The body is thin (well under 20 kB whatever the job's size):
/// counts, per-class detection totals, links and timings, never the detections themselves. It
/// carries the Standard Webhooks envelope (`type`, `timestamp`, `data`) and, at the top level,
/// the fields the original prototype's receivers read (`event`, `job_id`, `status`, `summary`,
/// `results.download_url`).
public struct WebhookEvents: JobEventRenderer {
    /// The API's address as receivers reach it, for absolute result URLs (no trailing slash).
    public let publicURL: String
    public let modelName: String
    public let modelVersion: String
    /// Percent steps at which running jobs send `job.progress` (default 0: never).
    public let progressStep: Double
    /// The mirror bucket: events then name the results' `gs://` URIs too.
    public let mirrorBucket: String?

    public init(publicURL: String, modelName: String, modelVersion: String, progressStep: Double = 0, mirrorBucket: String? = nil) {
        self.progressStep = progressStep
        self.mirrorBucket = mirrorBucket
        var base = publicURL
        while base.hasSuffix("/") { base.removeLast() }
        self.publicURL = base
        self.modelName = modelName
        self.modelVersion = modelVersion
    }

    public func finalEvent(job: JobRecord, files: [FileRecord], now: Date) throws -> WebhookDelivery? {
        guard let url = job.webhookURL else { return nil }
        let event = "job.\(job.status.rawValue)"
        let payload = try Self.encoder.encode(body(job: job, files: files, type: event, now: now))
        return WebhookDelivery(id: Self.newID(), jobID: job.id, event: event, url: url, payload: payload, secret: job.webhookSecret, createdAt: now)
    }

    public func progressEvent(job: JobRecord, now: Date) throws -> WebhookDelivery? {
        guard let url = job.webhookURL else { return nil }
        struct Progress: Encodable {
            let type = "job.progress"
            let timestamp: Date
            let data: DataPart
            let event = "processing_progress"
            let job_id: String
            let status: String
            let progress: Double
            struct DataPart: Encodable {
                let job_id, status: String
                let progress: Double
                let files: [String: Int]
                let job: String
            }
        }
        let body = Progress(timestamp: now, data: .init(job_id: job.id, status: job.status.rawValue, progress: job.progress,
                                                        files: ["total": job.totalFiles, "succeeded": job.succeededFiles, "failed": job.failedFiles],
                                                        job: "\(publicURL)/jobs/\(job.id)"),
                            job_id: job.id, status: job.status.rawValue, progress: job.progress)
        return WebhookDelivery(id: Self.newID(), jobID: job.id, event: "job.progress", url: url, payload: try Self.encoder.encode(body),
                               secret: job.webhookSecret, createdAt: now)
    }

    static func newID() -> String { "msg_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "") }

    /// A signed test event, for `geoinfer webhook test`.
    public static func testBody(now: Date) throws -> Data {
        struct Test: Encodable {
            let type = "webhook.test"
            let timestamp: Date
            let data = ["message": "GeoInfer webhook test: if you verified this signature, your receiver is ready."]
        }
        return try encoder.encode(Test(timestamp: now))
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    func body(job: JobRecord, files: [FileRecord], type: String, now: Date) -> Body {
        let byClass = files.classTotals
        let hasResults = job.status != .cancelled
        let links = hasResults ? Body.Links(
            job: "\(publicURL)/jobs/\(job.id)", coco: "\(publicURL)/results/\(job.id)/coco.json",
            geojson: "\(publicURL)/results/\(job.id)/detections.geojson", metadata: "\(publicURL)/results/\(job.id)/metadata.json")
            : Body.Links(job: "\(publicURL)/jobs/\(job.id)", coco: nil, geojson: nil, metadata: nil)
        let processed = job.succeededFiles + job.failedFiles
        let data = Body.DataPart(
            job_id: job.id, status: job.status.rawValue,
            files: .init(total: job.totalFiles, succeeded: job.succeededFiles, failed: job.failedFiles,
                         cancelled: files.filter { $0.status == .cancelled }.count),
            detections: .init(total: byClass.values.reduce(0, +), by_class: byClass),
            results: links,
            timings: .init(created_at: job.createdAt, finished_at: job.finishedAt ?? now,
                           seconds: ((job.finishedAt ?? now).timeIntervalSince(job.createdAt) * 1000).rounded() / 1000),
            model: .init(name: modelName, version: modelVersion),
            gcs: hasResults ? mirrorBucket.map { b in
                Body.GCS(bucket: "gs://\(b)", coco: "gs://\(b)/results/\(job.id)_coco.json",
                         geojson: "gs://\(b)/results/\(job.id)_detections.geojson", metadata: "gs://\(b)/results/\(job.id)_metadata.json")
            } : nil)
        let legacyEvent: String = switch job.status {
        case .completed, .completedWithErrors: "processing_completed"
        case .cancelled: "processing_cancelled"
        default: "processing_failed"
        }
        let rate = job.totalFiles > 0 ? (Double(job.succeededFiles) / Double(job.totalFiles) * 1000).rounded() / 10 : 0
        return Body(type: type, timestamp: now, data: data, event: legacyEvent, job_id: job.id, status: job.status.rawValue,
                    summary: .init(total_files_uploaded: job.totalFiles, files_successfully_processed: job.succeededFiles,
                                   files_processed: processed, success_rate_percentage: rate),
                    results: .init(download_url: links.coco, geojson_url: links.geojson, metadata_url: links.metadata,
                                   coco_format_file: hasResults ? "results/\(job.id)_coco.json" : nil,
                                   gcs_path: hasResults ? mirrorBucket.map { "gs://\($0)/results/\(job.id)_coco.json" } : nil))
    }

    struct Body: Encodable {
        let type: String
        let timestamp: Date
        let data: DataPart
        // The prototype's fields.
        let event: String
        let job_id: String
        let status: String
        let summary: Summary
        let results: Legacy

        struct DataPart: Encodable {
            let job_id: String
            let status: String
            let files: Files
            let detections: Detections
            let results: Links
            let timings: Timings
            let model: ModelInfo
            /// The results' copies in the mirror bucket (they sync shortly after the event is written).
            let gcs: GCS?
        }
        struct GCS: Encodable { let bucket, coco, geojson, metadata: String }
        struct Files: Encodable { let total, succeeded, failed, cancelled: Int }
        struct Detections: Encodable {
            let total: Int
            let by_class: [String: Int]
        }
        struct Links: Encodable {
            let job: String
            let coco, geojson, metadata: String?
        }
        struct Timings: Encodable {
            let created_at, finished_at: Date
            let seconds: Double
        }
        struct ModelInfo: Encodable { let name, version: String }
        struct Summary: Encodable {
            let total_files_uploaded, files_successfully_processed, files_processed: Int
            let success_rate_percentage: Double
        }
        struct Legacy: Encodable {
            let download_url, geojson_url, metadata_url: String?
            /// The COCO document's place in the storage layout, and its copy in the bucket (nil without one).
            let coco_format_file, gcs_path: String?
        }
    }
}
