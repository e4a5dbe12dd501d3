import Formats
import Foundation
public import GRDB
public import Jobs

// The columns of the two rows every file's claim and outcome read and write, written out instead
// of derived through `Codable`: GRDB's `Codable` records cost about half of the store's CPU time
// per file. Stored as GRDB stores them through `Codable` (dates as its UTC text, written by
// `StoredTime`; the JSON columns as JSON text), so rows written by either read the same.

extension JobRecord {
    /// A job from its row; a missing or mistyped column throws.
    public init(row: Row) throws {
        self.init(
            id: try row.decode(forColumn: "id"), status: try row.decode(forColumn: "status"),
            createdAt: try row.decode(forColumn: "createdAt"), updatedAt: try row.decode(forColumn: "updatedAt"),
            finishedAt: try row.decode(forColumn: "finishedAt"), webhookURL: try row.decode(forColumn: "webhookURL"),
            webhookSecret: try row.decode(forColumn: "webhookSecret"), idempotencyKey: try row.decode(forColumn: "idempotencyKey"),
            ownerKeyID: try row.decode(forColumn: "ownerKeyID"), scoreThreshold: try row.decode(forColumn: "scoreThreshold"),
            overlap: try row.decode(forColumn: "overlap"), modelName: try row.decode(forColumn: "modelName"),
            totalFiles: try row.decode(forColumn: "totalFiles"), succeededFiles: try row.decode(forColumn: "succeededFiles"),
            failedFiles: try row.decode(forColumn: "failedFiles"), tilesTotal: try row.decode(forColumn: "tilesTotal"),
            tilesDone: try row.decode(forColumn: "tilesDone"), claims: try row.decode(forColumn: "claims"),
            progressNotified: try row.decode(forColumn: "progressNotified"),
            idempotencyFingerprint: try row.decode(forColumn: "idempotencyFingerprint"))
        formats = try row.decode(forColumn: "formats")
        outCRS = try row.decode(forColumn: "outCRS")
        outputPrefix = try row.decode(forColumn: "outputPrefix")
        nmsMetric = try row.decode(forColumn: "nmsMetric")
        mergedDetections = try row.decode(forColumn: "mergedDetections")
        modelVersion = try row.decode(forColumn: "modelVersion")
        modelSHA256 = try row.decode(forColumn: "modelSHA256")
        groundTruth = try row.decode(forColumn: "groundTruth")
        groundTruthName = try row.decode(forColumn: "groundTruthName")
        receiving = try row.decode(forColumn: "receiving")
    }

    /// The job's columns.
    public func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["status"] = status
        container["createdAt"] = StoredTime(createdAt)
        container["updatedAt"] = StoredTime(updatedAt)
        container["finishedAt"] = finishedAt.map(StoredTime.init)
        container["webhookURL"] = webhookURL
        container["webhookSecret"] = webhookSecret
        container["idempotencyKey"] = idempotencyKey
        container["idempotencyFingerprint"] = idempotencyFingerprint
        container["ownerKeyID"] = ownerKeyID
        container["scoreThreshold"] = scoreThreshold
        container["overlap"] = overlap
        container["modelName"] = modelName
        container["totalFiles"] = totalFiles
        container["succeededFiles"] = succeededFiles
        container["failedFiles"] = failedFiles
        container["tilesTotal"] = tilesTotal
        container["tilesDone"] = tilesDone
        container["claims"] = claims
        container["progressNotified"] = progressNotified
        container["formats"] = formats
        container["outCRS"] = outCRS
        container["outputPrefix"] = outputPrefix
        container["nmsMetric"] = nmsMetric
        container["mergedDetections"] = mergedDetections
        container["modelVersion"] = modelVersion
        container["modelSHA256"] = modelSHA256
        container["groundTruth"] = groundTruth
        container["groundTruthName"] = groundTruthName
        container["receiving"] = receiving
    }
}

extension FileRecord {
    /// A file from its row; a missing or mistyped column, or a JSON column that does not parse, throws.
    public init(row: Row) throws {
        self.init(
            id: try row.decode(forColumn: "id"), jobID: try row.decode(forColumn: "jobID"), ordinal: try row.decode(forColumn: "ordinal"),
            originalName: try row.decode(forColumn: "originalName"), name: try row.decode(forColumn: "name"),
            storedPath: try row.decode(forColumn: "storedPath"), sizeBytes: try row.decode(forColumn: "sizeBytes"),
            sha256: try row.decode(forColumn: "sha256"), status: try row.decode(forColumn: "status"),
            attempts: try row.decode(forColumn: "attempts"), leaseOwner: try row.decode(forColumn: "leaseOwner"),
            leaseExpiresAt: try row.decode(forColumn: "leaseExpiresAt"), tilesTotal: try row.decode(forColumn: "tilesTotal"),
            tilesDone: try row.decode(forColumn: "tilesDone"), detections: try row.decode(forColumn: "detections"),
            classCounts: try Self.json([String: Int].self, row, "classCounts"), error: try row.decode(forColumn: "error"),
            startedAt: try row.decode(forColumn: "startedAt"), finishedAt: try row.decode(forColumn: "finishedAt"),
            seconds: try row.decode(forColumn: "seconds"), footprint: try Self.json(Footprint.self, row, "footprint"))
    }

    /// The file's columns (without `id` while it has none: SQLite assigns it).
    public func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["jobID"] = jobID
        container["ordinal"] = ordinal
        container["originalName"] = originalName
        container["name"] = name
        container["storedPath"] = storedPath
        container["sizeBytes"] = sizeBytes
        container["sha256"] = sha256
        container["status"] = status
        container["attempts"] = attempts
        container["leaseOwner"] = leaseOwner
        container["leaseExpiresAt"] = leaseExpiresAt.map(StoredTime.init)
        container["tilesTotal"] = tilesTotal
        container["tilesDone"] = tilesDone
        container["detections"] = detections
        container["classCounts"] = classCounts.map(Self.classCountsText)
        container["error"] = error
        container["startedAt"] = startedAt.map(StoredTime.init)
        container["finishedAt"] = finishedAt.map(StoredTime.init)
        container["seconds"] = seconds
        container["footprint"] = try footprint.map(Self.footprintText)
    }

    /// A JSON column as GRDB writes one for a `Codable` record: sorted keys, as text.
    static func jsonText<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.nonConformingFloatEncodingStrategy = .throw
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// The footprint column: the text ``jsonText(_:)`` writes for it (tested against it), written
    /// directly (every write of the file's row writes it again).
    static func footprintText(_ footprint: Footprint) throws(EncodingError) -> String {
        var out = JSONOutput(capacity: 512)
        out.beginObject()
        try out.field("bbox", footprint.bbox)
        out.key("corners")
        out.beginArray()
        for corner in footprint.corners { try out.value(corner) }
        out.endArray()
        out.endObject()
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// The class counts column: the text ``jsonText(_:)`` writes for it (tested against it).
    static func classCountsText(_ counts: [String: Int]) -> String {
        var out = JSONOutput(capacity: 64)
        out.beginObject()
        for name in counts.keys.sorted() { out.field(name, counts[name]) }
        out.endObject()
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// A JSON column's value, nil when the column is NULL.
    static func json<T: Decodable>(_ type: T.Type, _ row: Row, _ column: String) throws -> T? {
        guard let text: String = try row.decode(forColumn: column) else { return nil }
        return try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
}
