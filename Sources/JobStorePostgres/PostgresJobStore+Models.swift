import Foundation
public import Jobs
import PostgresNIO

extension PostgresJobStore {
    // MARK: Model registry

    /// One read, ordered by name, then `addedAt`, then version.
    public func modelList() async throws -> [ModelRecord] {
        try await read { [self] c in
            try await records(ModelRecord.self, #"SELECT row_to_json(m)::text FROM models m ORDER BY "name", "addedAt", "version""#, on: c)
        }
    }

}
