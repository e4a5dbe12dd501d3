public import Foundation
public import Jobs
import PostgresNIO

extension PostgresJobStore {
    // MARK: API keys

    /// One transaction; throws when the id or the hash is stored already (both unique).
    public func keyCreate(_ key: APIKeyRecord) async throws {
        _ = try await inTransaction { [self] c in try await insert("apiKeys", [key], on: c) }
    }

    /// One read, ordered by `createdAt`, then id.
    public func keyList() async throws -> [APIKeyRecord] {
        try await read { [self] c in
            try await records(APIKeyRecord.self, #"SELECT row_to_json(k)::text FROM "apiKeys" k ORDER BY "createdAt", "id""#, on: c)
        }
    }

    /// One read; a revoked key is not found.
    public func keyFind(hash: String) async throws -> APIKeyRecord? {
        try await read { [self] c in
            try await record(
                APIKeyRecord.self, #"SELECT row_to_json(k)::text FROM "apiKeys" k WHERE "hash" = \#(hash) AND "revokedAt" IS NULL"#, on: c)
        }
    }

    // MARK: Webhook outbox

    /// Leases the first due row of an outbox table; rows another process is leasing are skipped.
    private func claimDue<Row: Codable & Sendable>(
        _ type: Row.Type, table: String, due: String, order: String, owner: String,
        lease: TimeInterval, now: Date, extra: String? = nil
    ) async throws -> Row? {
        try await inTransaction { [self] c in
            var binds = try Self.binds(owner, Self.t(now.addingTimeInterval(lease)), Self.t(now))
            if let extra { binds.append(extra) }
            let query = PostgresQuery(
                unsafeSQL: """
                    UPDATE "\(table)" SET "leaseOwner" = $1, "leaseExpiresAt" = $2
                    WHERE "id" = (SELECT "id" FROM "\(table)" WHERE \(due) ORDER BY \(order) LIMIT 1 FOR UPDATE SKIP LOCKED)
                    RETURNING row_to_json("\(table)")::text
                    """, binds: binds)
            return try await record(Row.self, query, on: c)
        }
    }

    static func binds(_ owner: String, _ expires: Double, _ now: Double) throws -> PostgresBindings {
        var b = PostgresBindings()
        b.append(owner)
        b.append(expires)
        b.append(now)
        return b
    }

    /// SKIP LOCKED: one `UPDATE` leases the earliest due delivery, skipping rows another process is claiming, so
    /// claimers never wait on each other.
    public func deliveryClaimNext(owner: String, lease: TimeInterval, now: Date) async throws -> WebhookDelivery? {
        try await claimDue(
            WebhookDelivery.self, table: "webhookDeliveries",
            due: #""status" = 'pending' AND "nextAttemptAt" <= $3 AND ("leaseExpiresAt" IS NULL OR "leaseExpiresAt" < $3)"#,
            order: #""nextAttemptAt""#, owner: owner, lease: lease, now: now)
    }

    /// One read; the attempts in the order they were made.
    public func deliveryList(job: String) async throws -> (deliveries: [WebhookDelivery], attempts: [WebhookAttempt]) {
        try await read { [self] c in
            let deliveries = try await records(
                WebhookDelivery.self,
                #"""
                SELECT row_to_json(d)::text FROM "webhookDeliveries" d WHERE "jobID" = \#(job) ORDER BY "createdAt", "id"
                """#, on: c)
            let attempts = try await records(
                WebhookAttempt.self,
                #"""
                SELECT row_to_json(a)::text FROM "webhookAttempts" a JOIN "webhookDeliveries" d ON d."id" = a."deliveryID"
                WHERE d."jobID" = \#(job) ORDER BY a."id"
                """#, on: c)
            return (deliveries, attempts)
        }
    }

    // MARK: Mirror outbox

    /// SKIP LOCKED: one `UPDATE` leases the earliest due object that is not synced, skipping rows another process
    /// is claiming.
    public func mirrorClaimNext(owner: String, origin: String, lease: TimeInterval, now: Date) async throws -> MirrorObject? {
        try await claimDue(
            MirrorObject.self, table: "mirrorObjects",
            due:
                #""status" <> 'synced' AND "nextAttemptAt" <= $3 AND ("leaseExpiresAt" IS NULL OR "leaseExpiresAt" < $3) AND ("origin" IS NULL OR "origin" = $4)"#,
            order: #""nextAttemptAt", "id""#, owner: owner, lease: lease, now: now, extra: origin)
    }

    /// One transaction; renews while `leaseOwner` still matches (an expired lease nobody took over still counts).
    public func mirrorRenew(_ claim: MirrorObject, lease: TimeInterval, now: Date) async throws -> Bool {
        try await inTransaction { [self] c in
            let rows = try await c.query(
                #"""
                UPDATE "mirrorObjects" SET "leaseExpiresAt" = \#(Self.t(now.addingTimeInterval(lease)))
                WHERE "id" = \#(claim.id) AND "leaseOwner" = \#(claim.leaseOwner) RETURNING "id"
                """#, logger: logger)
            var any = false
            for try await _ in rows { any = true }
            return any
        }
    }

    /// One read, in row id order.
    public func mirrorList(job: String) async throws -> [MirrorObject] {
        try await read { [self] c in
            try await records(
                MirrorObject.self, #"SELECT row_to_json(m)::text FROM "mirrorObjects" m WHERE "jobID" = \#(job) ORDER BY "id""#, on: c)
        }
    }

    /// One read; a state with no objects is absent.
    public func mirrorCounts() async throws -> [MirrorStatus: Int] {
        try await read { [self] c in
            var out: [MirrorStatus: Int] = [:]
            for try await (s, n) in try await c.query(#"SELECT "status", COUNT(*) FROM "mirrorObjects" GROUP BY "status""#, logger: logger)
                .decode((String, Int64).self)
            {
                if let s = MirrorStatus(rawValue: s) { out[s] = Int(n) }
            }
            return out
        }
    }
}
