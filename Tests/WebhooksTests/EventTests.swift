import Foundation
import Testing
import Webhooks

@testable import Jobs

@Suite struct EventTests {
    let created = Date(timeIntervalSince1970: 1_800_000_000)

    func job(status: JobStatus, total: Int, succeeded: Int, failed: Int, webhook: String? = "https://203.0.113.10/h") -> JobRecord {
        JobRecord(
            id: "job-1", status: status, createdAt: created, updatedAt: created, finishedAt: created.addingTimeInterval(12.5),
            webhookURL: webhook, webhookSecret: nil, idempotencyKey: nil, scoreThreshold: nil, overlap: nil, modelName: "m",
            totalFiles: total, succeededFiles: succeeded, failedFiles: failed, tilesTotal: 0, tilesDone: 0, claims: 0)
    }

    func file(_ i: Int, status: FileStatus, counts: [String: Int]?) -> FileRecord {
        FileRecord(
            id: Int64(i), jobID: "job-1", ordinal: i, originalName: "f\(i).tif", name: "f\(i).tif", storedPath: "", sizeBytes: 1,
            sha256: "", status: status, attempts: 1, leaseOwner: nil, leaseExpiresAt: nil, tilesTotal: 1, tilesDone: 1,
            detections: counts?.values.reduce(0, +) ?? 0, classCounts: counts, error: nil, startedAt: nil, finishedAt: nil, seconds: nil)
    }

    @Test func namesTheResultsCopiesInTheMirrorBucket() throws {
        let plain = WebhookEvents(publicURL: "https://geo.example.com", modelName: "m", modelVersion: "1")
        let mirrored = WebhookEvents(publicURL: "https://geo.example.com", modelName: "m", modelVersion: "1", mirrorBucket: "geo-bucket")
        let done = job(status: .completed, total: 1, succeeded: 1, failed: 0)
        let files = [file(0, status: .succeeded, counts: ["tree": 1])]
        func data(_ e: WebhookEvents, _ j: JobRecord) throws -> [String: Any] {
            let d = try #require(try e.finalEvent(job: j, files: files, now: created))
            return try #require((try JSONSerialization.jsonObject(with: d.payload) as? [String: Any])?["data"] as? [String: Any])
        }
        #expect(try data(plain, done)["gcs"] == nil)
        let gcs = try #require(try data(mirrored, done)["gcs"] as? [String: String])
        #expect(
            gcs == [
                "bucket": "gs://geo-bucket", "coco": "gs://geo-bucket/results/job-1_coco.json",
                "geojson": "gs://geo-bucket/results/job-1_detections.geojson", "metadata": "gs://geo-bucket/results/job-1_metadata.json",
            ])
        #expect(try data(mirrored, job(status: .cancelled, total: 1, succeeded: 0, failed: 0))["gcs"] == nil)
    }

    @Test func carriesCountsLinksAndThePrototypesFields() throws {
        let events = WebhookEvents(publicURL: "https://geo.example.com/", modelName: "tree-crowns", modelVersion: "1.0.0")
        let files = [
            file(0, status: .succeeded, counts: ["tree": 3, "snag": 1]), file(1, status: .succeeded, counts: ["tree": 2]),
            file(2, status: .failed, counts: nil),
        ]
        let d = try #require(
            try events.finalEvent(job: job(status: .completedWithErrors, total: 3, succeeded: 2, failed: 1), files: files, now: created))
        #expect(d.event == "job.completed_with_errors")
        #expect(d.id.hasPrefix("msg_") && d.status == .pending && d.nextAttemptAt == created)
        let body = try #require(try JSONSerialization.jsonObject(with: d.payload) as? [String: Any])
        #expect(body["type"] as? String == "job.completed_with_errors")
        #expect(body["event"] as? String == "processing_completed")
        #expect(body["job_id"] as? String == "job-1")
        let summary = try #require(body["summary"] as? [String: Any])
        #expect(summary["total_files_uploaded"] as? Int == 3)
        #expect(summary["files_successfully_processed"] as? Int == 2)
        #expect(summary["success_rate_percentage"] as? Double == 66.7)
        #expect((body["results"] as? [String: Any])?["download_url"] as? String == "https://geo.example.com/results/job-1/coco.json")
        let data = try #require(body["data"] as? [String: Any])
        #expect(data["files"] as? [String: Int] == ["total": 3, "succeeded": 2, "failed": 1, "cancelled": 0])
        let detections = try #require(data["detections"] as? [String: Any])
        #expect(detections["total"] as? Int == 6)
        #expect(detections["by_class"] as? [String: Int] == ["tree": 5, "snag": 1])
        #expect(data["model"] as? [String: String] == ["name": "tree-crowns", "version": "1.0.0"])
        #expect((data["timings"] as? [String: Any])?["seconds"] as? Double == 12.5)
        // A job that chose a registered model names it, not the server's default.
        var chose = job(status: .completed, total: 3, succeeded: 3, failed: 0)
        chose.modelName = "palms"
        chose.modelVersion = "2.1.0"
        let other = try #require(try events.finalEvent(job: chose, files: files, now: created))
        let otherData = (try JSONSerialization.jsonObject(with: other.payload) as? [String: Any])?["data"] as? [String: Any]
        #expect(otherData?["model"] as? [String: String] == ["name": "palms", "version": "2.1.0"])
    }

    @Test func staysThinForHugeJobs() throws {
        let events = WebhookEvents(publicURL: "http://127.0.0.1:8000", modelName: "m", modelVersion: "1")
        let files = (0..<10_000).map { file($0, status: .succeeded, counts: ["tree": 40]) }
        let d = try #require(
            try events.finalEvent(job: job(status: .completed, total: 10_000, succeeded: 10_000, failed: 0), files: files, now: created))
        #expect(d.payload.count < 20_000)
        #expect(String(decoding: d.payload, as: UTF8.self).contains(#""by_class":{"tree":400000}"#))
    }

    @Test func cancelledJobsHaveNoResultLinksAndJobsWithoutReceiverNoEvent() throws {
        let events = WebhookEvents(publicURL: "http://127.0.0.1:8000", modelName: "m", modelVersion: "1")
        let d = try #require(
            try events.finalEvent(
                job: job(status: .cancelled, total: 2, succeeded: 0, failed: 0),
                files: [file(0, status: .cancelled, counts: nil)], now: created))
        let body = try #require(try JSONSerialization.jsonObject(with: d.payload) as? [String: Any])
        #expect(body["event"] as? String == "processing_cancelled")
        #expect((body["results"] as? [String: Any])?["download_url"] == nil)
        #expect(
            try events.finalEvent(job: job(status: .completed, total: 1, succeeded: 1, failed: 0, webhook: nil), files: [], now: created)
                == nil)
    }
}
