import Foundation
import Jobs

/// `GET /status/{id}`: the prototype's status document.
struct StatusBody: Encodable {
    let job_id: String
    let status: String
    let progress: Double
    let total_files: Int
    let processed_files: Int
    let failed_files: Int
    let created_at: Date
    let updated_at: Date

    init(_ j: JobRecord) {
        job_id = j.id
        status = j.status.rawValue
        progress = j.progress
        total_files = j.totalFiles
        processed_files = j.processedFiles
        failed_files = j.failedFiles
        created_at = j.createdAt
        updated_at = j.updatedAt
    }
}

/// `GET /jobs/{id}`: the job with every file's state and the result links.
struct JobDetailBody: Encodable {
    let job_id: String
    let status: String
    let progress: Double
    let total_files: Int
    let processed_files: Int
    let succeeded_files: Int
    let failed_files: Int
    let created_at: Date
    let updated_at: Date
    let finished_at: Date?
    let model: String
    let score_threshold: Double?
    let overlap: Double?
    let webhook_url: String?
    let tiles_total: Int
    let tiles_done: Int
    let detections: Int
    let results: Results?
    let files: [File]

    struct Results: Encodable {
        let coco: String
        let geojson: String
        let metadata: String
    }

    struct File: Encodable {
        let name: String
        let original_name: String
        let status: String
        let attempts: Int
        let error: String?
        let size_bytes: Int
        let sha256: String
        let tiles_total: Int
        let tiles_done: Int
        let detections: Int
        let started_at: Date?
        let finished_at: Date?
        let seconds: Double?
    }

    init(_ j: JobRecord, files: [FileRecord]) {
        job_id = j.id
        status = j.status.rawValue
        progress = j.progress
        total_files = j.totalFiles
        processed_files = j.processedFiles
        succeeded_files = j.succeededFiles
        failed_files = j.failedFiles
        created_at = j.createdAt
        updated_at = j.updatedAt
        finished_at = j.finishedAt
        model = j.modelName
        score_threshold = j.scoreThreshold
        overlap = j.overlap
        webhook_url = j.webhookURL
        tiles_total = j.tilesTotal
        tiles_done = j.tilesDone
        detections = files.map(\.detections).reduce(0, +)
        let hasResults = j.status == .completed || j.status == .completedWithErrors || j.status == .failed
        results = hasResults ? Results(coco: "/results/\(j.id)/coco.json", geojson: "/results/\(j.id)/detections.geojson",
                                       metadata: "/results/\(j.id)/metadata.json") : nil
        self.files = files.map {
            File(name: $0.name, original_name: $0.originalName, status: $0.status.rawValue, attempts: $0.attempts, error: $0.error,
                 size_bytes: $0.sizeBytes, sha256: $0.sha256, tiles_total: $0.tilesTotal, tiles_done: $0.tilesDone,
                 detections: $0.detections, started_at: $0.startedAt, finished_at: $0.finishedAt, seconds: $0.seconds)
        }
    }
}

struct JobListBody: Encodable {
    let jobs: [StatusBody]
    /// null on the last page (encoded explicitly: clients test for it).
    let next_cursor: String?

    enum CodingKeys: String, CodingKey { case jobs, next_cursor }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(jobs, forKey: .jobs)
        try c.encode(next_cursor, forKey: .next_cursor)
    }
}
