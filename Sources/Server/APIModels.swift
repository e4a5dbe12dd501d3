import Formats
import Foundation
import Hummingbird
import Inference
import Jobs
import Storage

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

    /// The same document as `JSON.response(self)` (sorted keys, ISO 8601 seconds), written by hand:
    /// this is the route clients poll, and Foundation's encoder was a tenth of its cost.
    var response: Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
    }

    var json: String {
        var out = "{\"created_at\":\"\(ISO8601Seconds.string(created_at))\",\"failed_files\":\(failed_files),\"job_id\":"
        JSONLogHandler.append(job_id, to: &out)
        out += ",\"processed_files\":\(processed_files),\"progress\":\(progress.isFinite ? progress : 0),\"status\":"
        JSONLogHandler.append(status, to: &out)
        out += ",\"total_files\":\(total_files),\"updated_at\":\"\(ISO8601Seconds.string(updated_at))\"}"
        return out
    }
}

/// `2026-11-28T03:29:07Z`: what `JSONEncoder`'s `.iso8601` dates look like (UTC, whole seconds).
enum ISO8601Seconds {
    static func string(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let year = Int(parts.tm_year) + 1900
        let y = year < 1000 ? String(repeating: "0", count: 4 - String(year).count) + String(year) : String(year)
        return "\(y)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
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
    /// The version of the model and the SHA-256 of its file (nil for jobs from before the registry).
    let model_version: String?
    let model_sha256: String?
    /// The ground truth the results are scored against when the job ends (its name as given).
    let ground_truth: String?
    /// True while the job's upload still streams in: more files may join it, and it does not end before they have.
    let receiving: Bool
    let score_threshold: Double?
    /// How overlapping boxes are measured when suppressed, within and across files.
    let nms: String
    let overlap: Double?
    let webhook_url: String?
    let tiles_total: Int
    let tiles_done: Int
    let detections: Int
    let detections_by_class: [String: Int]
    /// Objects in the layer merged across files, once the job is final (absent without georeferencing).
    let detections_merged: Int?
    /// The result formats chosen at submit, and the GIS layers' CRS (absent: the rasters' own).
    let formats: [String]
    let out_crs: String?
    /// Where the job's result documents are also written (absent: nowhere else).
    let output_prefix: String?
    let results: Results?
    let webhook: Webhook?
    /// The job's copies in the bucket (absent without one).
    let storage: Storage?
    let files: [File]

    /// Every object of the job in the mirror outbox, with its gs:// URI and sync state.
    struct Storage: Encodable {
        let bucket: String
        let pending: Int
        let synced: Int
        let failed: Int
        let objects: [Object]

        struct Object: Encodable {
            let name: String
            let uri: String
            let status: String
            let attempts: Int
            let error: String?
            let next_attempt_at: Date?
            let synced_at: Date?
            let size_bytes: Int64?
            let crc32c: String?
        }

        /// `bucket`: the mirror bucket, or without one the job's output prefix.
        init(bucket: String, uri: @escaping (String) -> String, objects: [MirrorObject]) {
            self.bucket = bucket
            pending = objects.filter { $0.status == .pending }.count
            synced = objects.filter { $0.status == .synced }.count
            failed = objects.filter { $0.status == .failed }.count
            self.objects = objects.map {
                Object(
                    name: $0.name, uri: $0.isOutputCopy ? $0.name : uri($0.name), status: $0.status.rawValue,
                    attempts: $0.attempts,
                    error: $0.lastError, next_attempt_at: $0.status == .synced ? nil : $0.nextAttemptAt, synced_at: $0.syncedAt,
                    size_bytes: $0.sizeBytes, crc32c: $0.crc32c)
            }
        }
    }

    /// The job's webhook: where it goes and every delivery with its attempts.
    struct Webhook: Encodable {
        let url: String
        /// True when the job was given its own signing secret (the secret itself is never shown).
        let own_secret: Bool
        let deliveries: [Delivery]
    }

    struct Delivery: Encodable {
        let webhook_id: String
        let event: String
        let status: String
        let attempts: Int
        let last_status_code: Int?
        let last_error: String?
        let next_attempt_at: Date?
        let delivered_at: Date?
        let created_at: Date
        let history: [Attempt]

        init(_ d: WebhookDelivery, attempts: [WebhookAttempt]) {
            webhook_id = d.id
            event = d.event
            status = d.status.rawValue
            self.attempts = d.attempts
            last_status_code = d.lastStatusCode
            last_error = d.lastError
            next_attempt_at = d.status == .pending ? d.nextAttemptAt : nil
            delivered_at = d.deliveredAt
            created_at = d.createdAt
            history = attempts.filter { $0.deliveryID == d.id }.map {
                Attempt(attempt: $0.number, at: $0.at, status_code: $0.statusCode, error: $0.error, seconds: $0.seconds)
            }
        }
    }

    struct Attempt: Encodable {
        let attempt: Int
        let at: Date
        let status_code: Int?
        let error: String?
        let seconds: Double
    }

    /// A link to each result document the job has: those of its formats, the merged layer's when it has one.
    struct Results: Encodable {
        var coco: String?
        var geojson: String?
        var detections_merged: String?
        var gpkg: String?
        var fgb: String?
        var fgb_merged: String?
        var metadata = ""

        init(_ j: JobRecord) {
            for document in j.resultDocuments {
                let url = "/results/\(j.id)/\(document.fileName)"
                switch document {
                case .coco: coco = url
                case .geojson: geojson = url
                case .mergedGeoJSON: detections_merged = url
                case .geoPackage: gpkg = url
                case .flatGeobuf: fgb = url
                case .mergedFlatGeobuf: fgb_merged = url
                case .metadata: metadata = url
                }
            }
        }
    }

    struct File: Encodable {
        let name: String
        let original_name: String
        /// The gs:// URI the file is read from, for jobs over a bucket (else absent).
        let source: String?
        let status: String
        let attempts: Int
        let error: String?
        let size_bytes: Int
        let sha256: String
        let tiles_total: Int
        let tiles_done: Int
        let detections: Int
        let detections_by_class: [String: Int]?
        /// The quicklook JPEG's URL, once the file has succeeded.
        let quicklook: String?
        /// Its thumbnail's URL (at most 128 px, no boxes), once the file has succeeded.
        let thumbnail: String?
        /// Where the file lies: a WGS84 polygon (its four corners) and [west, south, east, north];
        /// nil for a file without georeferencing (or a bucket input not yet read).
        let footprint: GeoJSONFeatureCollection.Polygon?
        let bbox: [Double]?
        let started_at: Date?
        let finished_at: Date?
        let seconds: Double?
    }

    init(_ j: JobRecord, files: [FileRecord], deliveries: [WebhookDelivery], attempts: [WebhookAttempt], storage: Storage? = nil) {
        self.storage = storage
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
        model_version = j.modelVersion
        model_sha256 = j.modelSHA256
        ground_truth = j.groundTruthName
        receiving = j.receiving != nil
        score_threshold = j.scoreThreshold
        nms = j.nmsMetric ?? OverlapMetric.iou.rawValue
        overlap = j.overlap
        webhook_url = j.webhookURL
        tiles_total = j.tilesTotal
        tiles_done = j.tilesDone
        detections = files.map(\.detections).reduce(0, +)
        detections_by_class = files.classTotals
        detections_merged = j.mergedDetections
        formats = OutputFormat.listText(j.outputFormats).split(separator: ",").map(String.init)
        out_crs = j.outCRS
        output_prefix = j.outputPrefix
        results = j.status.hasResults ? Results(j) : nil
        webhook = j.webhookURL.map { url in
            Webhook(url: url, own_secret: j.webhookSecret != nil, deliveries: deliveries.map { Delivery($0, attempts: attempts) })
        }
        self.files = files.map {
            File(
                name: $0.name, original_name: $0.originalName, source: $0.storedPath.hasPrefix("gs://") ? $0.storedPath : nil,
                status: $0.status.rawValue, attempts: $0.attempts, error: $0.error,
                size_bytes: $0.sizeBytes, sha256: $0.sha256, tiles_total: $0.tilesTotal, tiles_done: $0.tilesDone,
                detections: $0.detections, detections_by_class: $0.classCounts,
                quicklook: quicklookURL(j, $0), thumbnail: quicklookURL(j, $0, "thumbnails"), footprint: $0.footprint.map(Self.polygon),
                bbox: $0.footprint?.bbox,
                started_at: $0.startedAt, finished_at: $0.finishedAt, seconds: $0.seconds)
        }
    }
}

/// The URL of a file's quicklook (or of its thumbnail, in `thumbnails`), once it has succeeded.
func quicklookURL(_ j: JobRecord, _ f: FileRecord, _ folder: String = "quicklooks") -> String? {
    f.status == .succeeded ? "/results/\(j.id)/\(folder)/\(f.name).jpg" : nil
}

extension JobDetailBody {
    /// A footprint's corners as a closed, counter-clockwise GeoJSON polygon.
    static func polygon(_ f: Footprint) -> GeoJSONFeatureCollection.Polygon {
        GeoJSONFeatureCollection.Polygon(ring: f.corners.compactMap { $0.count == 2 ? (lon: $0[0], lat: $0[1]) : nil })
    }
}

/// A `state` server-sent event: a file's status, and its pictures' URLs once it has succeeded.
struct FileState: Encodable {
    let name: String
    let status: String
    let quicklook: String?
    let thumbnail: String?
}

/// `GET /results/{id}/footprints.geojson`: one feature per georeferenced file of the job, with its
/// state, detections and quicklook, for the dashboard's map (and any GIS).
struct FootprintCollection: Encodable {
    let type = "FeatureCollection"
    let features: [Feature]

    struct Feature: Encodable {
        let type = "Feature"
        let bbox: [Double]
        let geometry: GeoJSONFeatureCollection.Polygon
        let properties: Properties
    }

    struct Properties: Encodable {
        let name: String
        let status: String
        let detections: Int
        let quicklook: String?
        let thumbnail: String?
        let error: String?
        /// [lon, lat] of the raster's top-left, top-right, bottom-right and bottom-left corners, in
        /// that order (the polygon's ring is counter-clockwise and says nothing of which is which):
        /// where a picture of the file goes.
        let corners: [[Double]]
    }

    init(job: JobRecord, files: [FileRecord]) {
        features = files.compactMap { f in
            f.footprint.map {
                Feature(
                    bbox: $0.bbox, geometry: JobDetailBody.polygon($0),
                    properties: Properties(
                        name: f.name, status: f.status.rawValue, detections: f.detections,
                        quicklook: quicklookURL(job, f), thumbnail: quicklookURL(job, f, "thumbnails"),
                        error: f.error, corners: $0.corners))
            }
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
