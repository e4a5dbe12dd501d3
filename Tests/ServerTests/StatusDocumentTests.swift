import Foundation
import Jobs
import Testing

@testable import Server

/// `GET /status/{id}` is written by hand for speed: it must be the document Foundation's encoder
/// writes, field for field.
@Suite struct StatusDocumentTests {
    func object(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test(arguments: [
        (1_795_000_000.999, 0, 7, JobStatus.running),
        (0.0, 3, 3, .completed),
        (946_684_799.0, 0, 0, .queued),
        (253_402_300_799.0, 1, 2, .completedWithErrors),
    ])
    func handWrittenStatusEqualsTheEncodersDocument(seconds: Double, done: Int, total: Int, status: JobStatus) async throws {
        let created = Date(timeIntervalSince1970: seconds)
        let job = JobRecord(
            id: "5f0c\"quote\\back", status: status, createdAt: created, updatedAt: created.addingTimeInterval(61.5), finishedAt: nil,
            webhookURL: nil, webhookSecret: nil, idempotencyKey: nil, scoreThreshold: nil, overlap: nil, modelName: "m",
            totalFiles: total, succeededFiles: done, failedFiles: min(1, done), tilesTotal: 3, tilesDone: 1, claims: 0)
        let body = StatusBody(job)
        let mine = Data(body.json.utf8)
        let encoders = try JSON.encoder.encode(body)
        let a = try object(mine)
        let b = try object(encoders)
        #expect(Set(a.keys) == Set(b.keys))
        for key in b.keys where key != "progress" {
            #expect("\(a[key]!)" == "\(b[key]!)", "\(key): \(a[key]!) vs \(b[key]!)")
        }
        #expect((a["progress"] as? Double) == (b["progress"] as? Double))
    }
}
