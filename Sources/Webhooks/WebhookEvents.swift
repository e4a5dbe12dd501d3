import Formats
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
    /// The default model's name, reported for jobs that record no model version (from before the registry).
    public let modelName: String
    /// The default model's version, reported with `modelName`.
    public let modelVersion: String
    /// Percent steps at which running jobs send `job.progress` (default 0: never).
    public let progressStep: Double
    /// The mirror bucket: events then name the results' `gs://` URIs too.
    public let mirrorBucket: String?

    /// Trailing slashes are dropped from `publicURL`.
    public init(publicURL: String, modelName: String, modelVersion: String, progressStep: Double = 0, mirrorBucket: String? = nil) {
        self.progressStep = progressStep
        self.mirrorBucket = mirrorBucket
        var base = publicURL
        while base.hasSuffix("/") { base.removeLast() }
        self.publicURL = base
        self.modelName = modelName
        self.modelVersion = modelVersion
    }

    /// The `job.<status>` delivery (a new `msg_` id, the job's own secret if it has one), or nil when the job
    /// has no webhook URL. Throws only if the body cannot be encoded.
    public func finalEvent(job: JobRecord, files: [FileRecord], now: Date) throws -> WebhookDelivery? {
        guard let url = job.webhookURL else { return nil }
        let event = "job.\(job.status.rawValue)"
        let payload = try Self.encoder.encode(body(job: job, files: files, type: event, now: now))
        return WebhookDelivery(
            id: Self.newID(), jobID: job.id, event: event, url: url, payload: payload, secret: job.webhookSecret, createdAt: now)
    }

    /// A `job.progress` delivery with the job's percent done and file counts, or nil when the job has no
    /// webhook URL. Throws only if the body cannot be encoded.
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
        let body = Progress(
            timestamp: now,
            data: .init(
                job_id: job.id, status: job.status.rawValue, progress: job.progress,
                files: ["total": job.totalFiles, "succeeded": job.succeededFiles, "failed": job.failedFiles],
                job: "\(publicURL)/jobs/\(job.id)"),
            job_id: job.id, status: job.status.rawValue, progress: job.progress)
        return WebhookDelivery(
            id: Self.newID(), jobID: job.id, event: "job.progress", url: url, payload: try Self.encoder.encode(body),
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
        let documents = hasResults ? job.resultDocuments : []
        func link(_ document: ResultDocument) -> String? {
            documents.contains(document) ? "\(publicURL)/results/\(job.id)/\(document.fileName)" : nil
        }
        func object(_ document: ResultDocument) -> String? {
            guard documents.contains(document), let b = mirrorBucket else { return nil }
            return "gs://\(b)/results/\(job.id)_\(document.fileName)"
        }
        let links = Body.Links(
            job: "\(publicURL)/jobs/\(job.id)", coco: link(.coco), geojson: link(.geojson), metadata: link(.metadata),
            detections_merged: link(.mergedGeoJSON), gpkg: link(.geoPackage), fgb: link(.flatGeobuf),
            fgb_merged: link(.mergedFlatGeobuf))
        let processed = job.succeededFiles + job.failedFiles
        let data = Body.DataPart(
            job_id: job.id, status: job.status.rawValue,
            files: .init(
                total: job.totalFiles, succeeded: job.succeededFiles, failed: job.failedFiles,
                cancelled: files.filter { $0.status == .cancelled }.count),
            detections: .init(total: byClass.values.reduce(0, +), by_class: byClass, merged: job.mergedDetections),
            results: links,
            timings: .init(
                created_at: job.createdAt, finished_at: job.finishedAt ?? now,
                seconds: ((job.finishedAt ?? now).timeIntervalSince(job.createdAt) * 1000).rounded() / 1000),
            // The job's model; jobs from before the registry ran on the default model.
            model: job.modelVersion.map { .init(name: job.modelName, version: $0) } ?? .init(name: modelName, version: modelVersion),
            gcs: hasResults
                ? mirrorBucket.map { b in
                    Body.GCS(
                        bucket: "gs://\(b)", coco: object(.coco), geojson: object(.geojson), metadata: object(.metadata) ?? "",
                        detections_merged: object(.mergedGeoJSON), gpkg: object(.geoPackage), fgb: object(.flatGeobuf),
                        fgb_merged: object(.mergedFlatGeobuf))
                } : nil)
        let legacyEvent: String =
            switch job.status {
            case .completed, .completedWithErrors: "processing_completed"
            case .cancelled: "processing_cancelled"
            default: "processing_failed"
            }
        let rate = job.totalFiles > 0 ? (Double(job.succeededFiles) / Double(job.totalFiles) * 1000).rounded() / 10 : 0
        return Body(
            type: type, timestamp: now, data: data, event: legacyEvent, job_id: job.id, status: job.status.rawValue,
            summary: .init(
                total_files_uploaded: job.totalFiles, files_successfully_processed: job.succeededFiles,
                files_processed: processed, success_rate_percentage: rate),
            results: .init(
                download_url: links.coco, geojson_url: links.geojson, metadata_url: links.metadata,
                coco_format_file: link(.coco) == nil ? nil : "results/\(job.id)_coco.json",
                gcs_path: object(.coco)))
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
        struct GCS: Encodable {
            let bucket: String
            let coco, geojson: String?
            let metadata: String
            let detections_merged, gpkg, fgb, fgb_merged: String?
        }
        struct Files: Encodable { let total, succeeded, failed, cancelled: Int }
        struct Detections: Encodable {
            let total: Int
            let by_class: [String: Int]
            /// Objects in the layer merged across files (absent when no file is georeferenced).
            let merged: Int?
        }
        struct Links: Encodable {
            let job: String
            let coco, geojson, metadata: String?
            let detections_merged, gpkg, fgb, fgb_merged: String?
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
