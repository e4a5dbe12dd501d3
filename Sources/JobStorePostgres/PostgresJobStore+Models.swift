import Foundation
public import Jobs
import PostgresNIO

extension PostgresJobStore {
    // MARK: Model registry

    /// One transaction; `INSERT … ON CONFLICT DO NOTHING`, so of two processes adding one version only the first
    /// creates it and the second compares against its row.
    public func modelAdd(_ model: ModelRecord) async throws -> (model: ModelRecord, created: Bool) {
        try await transaction { [self] c in
            // Two processes adding the same version: the second waits on the row lock, then sees the first's row.
            let inserted = try await records(
                ModelRecord.self,
                #"""
                INSERT INTO models SELECT * FROM json_populate_record(NULL::models, \#(String(decoding: try Self.encoder().encode(model), as: UTF8.self))::json)
                ON CONFLICT ("name", "version") DO NOTHING RETURNING row_to_json(models)::text
                """#, on: c)
            if let row = inserted.first { return (row, true) }
            guard
                let existing = try await record(
                    ModelRecord.self,
                    #"SELECT row_to_json(m)::text FROM models m WHERE "name" = \#(model.name) AND "version" = \#(model.version)"#, on: c)
            else {
                throw PostgresStoreError("\(model.reference) was neither added nor found")
            }
            guard existing.sha256 == model.sha256 else {
                throw ModelRegistryError.conflict(reference: existing.reference, sha256: existing.sha256)
            }
            return (existing, false)
        }
    }

    /// One read, ordered by name, then `addedAt`, then version.
    public func modelList() async throws -> [ModelRecord] {
        try await read { [self] c in
            try await records(ModelRecord.self, #"SELECT row_to_json(m)::text FROM models m ORDER BY "name", "addedAt", "version""#, on: c)
        }
    }

    /// One transaction holding the version's row lock; refused while queued or running jobs use it.
    public func modelRemove(name: String, version: String) async throws -> ModelRecord? {
        try await transaction { [self] c in
            guard
                let model = try await record(
                    ModelRecord.self,
                    #"SELECT row_to_json(m)::text FROM models m WHERE "name" = \#(name) AND "version" = \#(version) FOR UPDATE"#, on: c)
            else { return nil }
            var using = 0
            for try await (n, ) in try await c.query(
                #"""
                SELECT count(*) FROM jobs WHERE "modelName" = \#(name) AND "modelVersion" = \#(version) AND "status" IN ('queued', 'running')
                """#, logger: logger
            ).decode((Int64,).self) { using = Int(n) }
            guard using == 0 else { throw ModelRegistryError.inUse(reference: model.reference, jobs: using) }
            try await c.query(#"DELETE FROM models WHERE "name" = \#(name) AND "version" = \#(version)"#, logger: logger)
            return model
        }
    }
}
