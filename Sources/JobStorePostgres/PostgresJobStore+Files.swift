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

    /// One read: the file of that name and its result.
    public func file(ofJob jobID: String, named name: String) async throws -> (file: FileRecord, result: Data?)? {
        try await read { [self] c in
            guard
                let f = try await records(
                    FileRecord.self, #"SELECT row_to_json(f)::text FROM files f WHERE "jobID" = \#(jobID) AND "name" = \#(name)"#, on: c
                ).first, let id = f.id
            else { return nil }
            let rows = try await c.query(#"SELECT "result" FROM "fileResults" WHERE "fileID" = \#(id)"#, logger: logger)
            var result: Data?
            for try await bytes in rows.decode(ByteBuffer.self) { result = Data(bytes.readableBytesView) }
            return (f, result)
        }
    }
}
