import Formats
public import Foundation
public import Jobs
import PostgresNIO

extension PostgresJobStore {
    /// One read; a succeeded file whose result is missing is left out.
    public func fileResults(_ jobID: String) async throws -> [(file: FileRecord, result: Data)] {
        try await read { [self] c in
            let files = try await records(
                FileRecord.self,
                #"""
                SELECT row_to_json(f)::text FROM files f WHERE "jobID" = \#(jobID) AND "status" = 'succeeded' ORDER BY "ordinal"
                """#, on: c)
            var results: [Int64: Data] = [:]
            let rows = try await c.query(
                #"""
                SELECT r."fileID", r."result" FROM "fileResults" r JOIN files f ON f."id" = r."fileID"
                WHERE f."jobID" = \#(jobID) AND f."status" = 'succeeded'
                """#, logger: logger)
            for try await (id, bytes) in rows.decode((Int64, ByteBuffer).self) { results[id] = Data(bytes.readableBytesView) }
            return files.compactMap { f in f.id.flatMap { results[$0] }.map { (f, $0) } }
        }
    }
}
