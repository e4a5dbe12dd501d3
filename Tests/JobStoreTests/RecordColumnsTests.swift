import Formats
import Foundation
import GRDB
import GeoInferTestSupport
import Jobs
import Testing

@testable import JobStoreSQLite

/// The job and file rows, whose columns the SQLite store writes out by hand: every field comes
/// back as it was stored, set or nil.
@Suite struct RecordColumnsTests {
    /// A time whose fraction of a second is a whole number of milliseconds that binary floating
    /// point holds exactly (dates are kept to the millisecond, as text): it comes back equal.
    static func at(_ seconds: Double) -> Date { Date(timeIntervalSince1970: seconds) }

    static func fullJob(_ id: String) -> JobRecord {
        var job = JobRecord(
            id: id, status: .running, createdAt: at(1_800_000_000.125), updatedAt: at(1_800_000_001.5),
            finishedAt: at(1_800_000_002.75), webhookURL: "https://example.com/hook", webhookSecret: "s3cret",
            idempotencyKey: "key-1", ownerKeyID: "key_abc", scoreThreshold: 0.35, overlap: 0.125, modelName: "trees",
            totalFiles: 7, succeededFiles: 3, failedFiles: 1, tilesTotal: 70, tilesDone: 41, claims: 5, progressNotified: 2,
            idempotencyFingerprint: "fp")
        job.formats = "coco,geojson"
        job.outCRS = "EPSG:32630"
        job.outputPrefix = "gs://b/out/"
        job.nmsMetric = "ios"
        job.mergedDetections = 12
        job.modelVersion = "3"
        job.modelSHA256 = String(repeating: "a", count: 64)
        job.groundTruth = "uploads/j_.ground_truth.csv"
        job.groundTruthName = "truth.csv"
        job.receiving = "instance/12/token"
        return job
    }

    static func fullFile(job: String) -> FileRecord {
        FileRecord(
            id: nil, jobID: job, ordinal: 4, originalName: "a b/ü.tif", name: "a_b_u.tif", storedPath: "uploads/j_a_b_u.tif",
            sizeBytes: 318_000, sha256: String(repeating: "b", count: 64), status: .succeeded, attempts: 2, leaseOwner: "worker-1",
            leaseExpiresAt: at(1_800_000_003.5), tilesTotal: 9, tilesDone: 9, detections: 18, classCounts: ["tree": 15, "palm": 3],
            error: "an earlier attempt failed", startedAt: at(1_800_000_002.25), finishedAt: at(1_800_000_004.75), seconds: 0.0457,
            footprint: Footprint(corners: [[-3.5, 40.25], [-3.4, 40.25], [-3.4, 40.2], [-3.5, 40.2]], bbox: [-3.5, 40.2, -3.4, 40.25]))
    }

    @Test func everyColumnComesBackSetOrNil() async throws {
        let dir = Fixtures.temporaryDirectory("columns")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteJobStore(path: dir.appendingPathComponent("jobs.sqlite").path)
        let job = Self.fullJob("j")
        var file = Self.fullFile(job: "j")
        var bare = file
        bare.ordinal = 5
        bare.name = "bare.tif"
        (bare.leaseOwner, bare.leaseExpiresAt, bare.classCounts, bare.error) = (nil, nil, nil, nil)
        (bare.startedAt, bare.finishedAt, bare.seconds, bare.footprint) = (nil, nil, nil, nil)
        let rows = [file, bare]
        try await store.transaction(bulk: false) { tx in try await tx.insert(job, files: rows) }
        #expect(try await store.jobGet("j") == job)
        let files = try await store.jobFiles("j")
        file.id = files.first?.id
        bare.id = files.last?.id
        #expect(files == [file, bare])

        // A job with every optional column nil, changed and read back in a transaction.
        var plain = JobRecord(
            id: "p", status: .queued, createdAt: Self.at(1_800_000_000), updatedAt: Self.at(1_800_000_000), finishedAt: nil,
            webhookURL: nil, webhookSecret: nil, idempotencyKey: nil, scoreThreshold: nil, overlap: nil, modelName: "m",
            totalFiles: 0, succeededFiles: 0, failedFiles: 0, tilesTotal: 0, tilesDone: 0, claims: 0)
        let fresh = plain
        try await store.transaction(bulk: false) { tx in try await tx.insert(fresh, files: []) }
        plain.claims = 9
        plain.status = .cancelled
        let written = plain
        let read = try await store.transaction(bulk: false) { tx in
            try await tx.update(written)
            return try await tx.lockJob("p")
        }
        #expect(read == plain)
    }
}

/// Times are written as text by arithmetic (`StoredTime`): the same text as GRDB's own formatter,
/// so rows written either way compare and sort alike.
@Suite struct StoredTimeTests {
    @Test func theSameTextAsGRDBsFormatter() throws {
        var rng = SplitMix(seed: 0x5449_4D45)
        var checked = 0
        func check(_ date: Date) {
            let ours = StoredTime(date).databaseValue
            let theirs = date.databaseValue
            #expect(ours == theirs, "\(date.timeIntervalSinceReferenceDate): \(ours) against GRDB's \(theirs)")
            checked += 1
        }
        // Whole milliseconds and the instants either side of them, in every era the store sees.
        for _ in 0..<20_000 {
            let seconds: Double =
                switch rng.index() % 4 {
                case 0: rng.next(0, 253_402_300_799)  // 1970 to 9999
                case 1: rng.next(1_700_000_000, 1_900_000_000)  // now-ish
                case 2: (rng.next(1_700_000_000, 1_900_000_000) * 1000).rounded() / 1000  // whole milliseconds
                default: Double(Int.random(in: 0...4_102_444_800, using: &rng))  // whole seconds to 2100
                }
            let date = Date(timeIntervalSince1970: seconds)
            check(date)
            check(Date(timeIntervalSinceReferenceDate: date.timeIntervalSinceReferenceDate.nextUp))
            check(Date(timeIntervalSinceReferenceDate: date.timeIntervalSinceReferenceDate.nextDown))
        }
        // Day, month, leap-year and century edges.
        for text in ["1970-01-01", "1999-12-31", "2000-02-29", "2000-03-01", "2100-02-28", "2100-03-01", "2400-02-29", "9999-12-31"] {
            let parts = text.split(separator: "-").compactMap { Int($0) }
            var utc = Calendar(identifier: .gregorian)
            utc.timeZone = TimeZone(secondsFromGMT: 0) ?? utc.timeZone
            let day = try #require(utc.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2])))
            for offset in [0, 0.001, 0.999, 86_399.999, -0.001] { check(day.addingTimeInterval(offset)) }
        }
        #expect(checked > 60_000)
    }

    @Test func outsideItsRangeGRDBsFormatterWritesIt() {
        for date in [Date(timeIntervalSince1970: -1), Date(timeIntervalSince1970: -20_000_000_000), Date.distantPast] {
            #expect(StoredTime.text(date) == nil)
            #expect(StoredTime(date).databaseValue == date.databaseValue)
        }
        // 4001-01-01, in its range.
        #expect(StoredTime(Date.distantFuture).databaseValue == Date.distantFuture.databaseValue)
    }

    @Test func readsBackAsTheDateToTheMillisecond() {
        let date = Date(timeIntervalSince1970: 1_800_000_000.125)
        #expect(StoredTime.fromDatabaseValue(StoredTime(date).databaseValue)?.date == date)
    }
}

/// The file row's JSON columns are written directly: the same text as `FileRecord.jsonText`
/// (`JSONEncoder` with sorted keys) writes, whatever the values.
@Suite struct JSONColumnsTests {
    @Test func theSameTextAsJSONEncoderWithSortedKeys() throws {
        var rng = SplitMix(seed: 0x434F_4C53)
        let names = ["tree", "palm", "Tree", "a", "B", "class_10", "class_9", "é", "e", "z", "🌳", "a b", "a/b", "\"", "\\", "\u{1}", ""]
        func number() -> Double {
            switch rng.index() % 4 {
            case 0: Double(Int.random(in: -180...180, using: &rng))
            case 1: rng.next(-180, 180)
            case 2: [0, -0.0, 1e-9, 1e21, .greatestFiniteMagnitude][rng.index() % 5]
            default: rng.next(-1, 1) * 1e-5
            }
        }
        for round in 0..<3000 {
            let footprint = Footprint(
                corners: (0..<Int.random(in: 0...5, using: &rng)).map { _ in (0..<Int.random(in: 0...3, using: &rng)).map { _ in number() }
                },
                bbox: (0..<Int.random(in: 0...4, using: &rng)).map { _ in number() })
            #expect(try FileRecord.footprintText(footprint) == FileRecord.jsonText(footprint), "round \(round)")
            var counts: [String: Int] = [:]
            for _ in 0..<Int.random(in: 0...6, using: &rng) {
                counts[names[rng.index() % names.count], default: 0] += Int.random(in: 1...10_000, using: &rng)
            }
            #expect(try FileRecord.classCountsText(counts) == FileRecord.jsonText(counts), "round \(round): \(counts)")
        }
    }
}
