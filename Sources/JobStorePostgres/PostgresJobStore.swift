import Foundation
public import Jobs
public import Logging
import NIOCore
import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// The job store for scale-out: PostgreSQL through postgres-nio. Same contract as the SQLite store
/// (one transaction per method); claims take rows with `FOR UPDATE SKIP LOCKED`, so any number of
/// worker processes share the queue; new work is announced with `NOTIFY geoinfer_work`, so idle
/// workers wait instead of polling. A ServiceLifecycle service: `run()` keeps the connection pool
/// and the listener going.
public final class PostgresJobStore: JobStoreDriver, Service {
    let client: PostgresClient
    let logger: Logger
    /// Renders the webhook deliveries of jobs that progress and end (none when nil).
    public let events: (any JobEventRenderer)?
    /// Whether every stored upload and result gets a mirror row.
    public let mirrors: Bool
    private let columns: Mutex<[String: [String]]> = Mutex([:])
    private let signal = WorkSignal()
    private let listening = Mutex(false)
    static let channel = "geoinfer_work"

    private init(
        configuration: PostgresClient.Configuration, columns: [String: [String]], events: (any JobEventRenderer)?,
        mirror: Bool, operationLimit: Duration, logger: Logger
    ) {
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.operationLimit = operationLimit
        self.columns.withLock { $0 = columns }
        self.events = events
        self.mirrors = mirror
        self.logger = logger
    }

    /// Connects to `url` (`postgres://user:password@host:port/database`, `?sslmode=disable|prefer|require`),
    /// applies the migrations not yet applied, and returns the store. Its connection pool works
    /// once `run()` runs (in the same ServiceGroup as the services that use it).
    /// `reachWithin` bounds reaching the server (a wrong address fails start-up rather than hanging);
    /// the migrations that follow are bounded work of their own and get no timer, so a server that
    /// answers slowly under load still starts. `operationLimit` bounds each operation after that
    /// (see `defaultOperationLimit`).
    public static func open(
        url: String, events: (any JobEventRenderer)? = nil, mirror: Bool = false, logger: Logger,
        reachWithin: Duration = .seconds(30), operationLimit: Duration = defaultOperationLimit
    ) async throws -> PostgresJobStore {
        let configuration = try Self.configuration(url)
        let setup = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let columns = try await withThrowingTaskGroup(of: [String: [String]]?.self) { group in
            group.addTask {
                await setup.run()
                return nil
            }
            group.addTask {
                try await withThrowingTaskGroup(of: Void.self) { reach in
                    reach.addTask { try await setup.query("SELECT 1", logger: logger) }
                    reach.addTask {
                        try await Task.sleep(for: reachWithin)
                        throw PostgresStoreError(
                            "cannot reach PostgreSQL at \(configuration.host ?? "?"):\(configuration.port ?? 5432) within \(reachWithin); check DATABASE_URL and that the server runs"
                        )
                    }
                    defer { reach.cancelAll() }
                    try await reach.next()
                }
                return try await migrate(setup, logger: logger)
            }
            defer { group.cancelAll() }
            while let result = try await group.next() { if let columns = result { return columns } }
            throw PostgresStoreError("the migration did not finish")
        }
        return PostgresJobStore(
            configuration: configuration, columns: columns, events: events, mirror: mirror, operationLimit: operationLimit,
            logger: logger)
    }

    static func configuration(_ url: String) throws -> PostgresClient.Configuration {
        guard let c = URLComponents(string: url), ["postgres", "postgresql"].contains(c.scheme ?? ""), let host = c.host, !host.isEmpty
        else {
            throw PostgresStoreError("DATABASE_URL must look like postgres://user:password@host:5432/database")
        }
        let mode = c.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
        let tls: PostgresClient.Configuration.TLS
        switch mode {
        case "disable": tls = .disable
        case "require", "verify-full", "verify-ca": tls = .require(.makeClientConfiguration())
        default: tls = .prefer(.makeClientConfiguration())
        }
        var config = PostgresClient.Configuration(
            host: host, port: c.port ?? 5432, username: c.user ?? "postgres",
            password: c.password, database: String(c.path.dropFirst()).nilIfEmpty, tls: tls)
        config.options.connectTimeout = .seconds(5)
        // Every transaction here lasts milliseconds. A process frozen in the middle of one (stopped,
        // swapped out, paused in a debugger) would hold its row locks, and with them every claim of
        // that job, until its connection dies: the server ends such a session after 15 s instead.
        config.options.additionalStartupParameters = [("idle_in_transaction_session_timeout", "15s")]
        return config
    }

    /// Runs the pool and the listener until the process shuts down. ServiceLifecycle shuts services
    /// down in reverse order, and the store is listed first, so it goes last: workers hand their
    /// files back through it before the pool closes.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask { await cancelWhenGracefulShutdown { await self.listen() } }
        }
    }

    /// Keeps a connection listening for `NOTIFY geoinfer_work`, reconnecting after an outage.
    private func listen() async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.channel) { notifications in
                        // Called once PostgreSQL confirmed the LISTEN: from here no notification is missed.
                        self.listening.withLock { $0 = true }
                        defer { self.listening.withLock { $0 = false } }
                        for try await _ in notifications { self.signal.fire() }
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                logger.warning("listening for new work failed; retrying", metadata: ["error": "\(String(reflecting: error).prefix(300))"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// True while the store's connection listens for new work (false before it connects and during an outage).
    public var isListening: Bool { listening.withLock { $0 } }

    /// LISTEN/NOTIFY: returns as soon as `NOTIFY geoinfer_work` arrives after the call began (new or requeued
    /// files), else after `limit` (a notification sent while the listener is down is missed).
    public func waitForWork(upTo limit: Duration) async {
        await signal.wait(upTo: limit)
    }

    /// Applies the migrations not yet recorded, in one transaction, one process at a time (an
    /// advisory lock), then returns each table's columns.
    static func migrate(_ client: PostgresClient, logger: Logger) async throws -> [String: [String]] {
        do {
            try await client.withTransaction(logger: logger) { c in
                try await c.query("SELECT pg_advisory_xact_lock(4242)", logger: logger)
                try await c.query(
                    #"CREATE TABLE IF NOT EXISTS geoinfer_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"#,
                    logger: logger)
                var applied = Set<String>()
                for try await (name, ) in try await c.query("SELECT name FROM geoinfer_migrations", logger: logger).decode((String,).self) {
                    applied.insert(name)
                }
                for migration in Schema.migrations where !applied.contains(migration.name) {
                    for statement in migration.sql { try await c.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                    try await c.query("INSERT INTO geoinfer_migrations (name) VALUES (\(migration.name))", logger: logger)
                }
            }
        } catch let error as PostgresTransactionError {
            throw PostgresStoreError(
                "cannot prepare the database: \(String(reflecting: error.closureError ?? error.beginError ?? error).prefix(400))")
        }
        var found: [String: [String]] = [:]
        let rows = try await client.query(
            """
            SELECT table_name::text, column_name::text FROM information_schema.columns
            WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position
            """, logger: logger)
        for try await (table, column) in rows.decode((String, String).self) { found[table, default: []].append(column) }
        return found
    }

    // MARK: Plumbing

    /// How long an operation may take, waiting for a connection included. While PostgreSQL is
    /// unreachable the pool would hold requests until its circuit breaker trips (60 s); callers
    /// get `JobStoreUnavailable` after this instead (the API answers 503).
    let operationLimit: Duration
    /// `operationLimit` unless `open` is given another (the tests, whose process also runs the
    /// whole suite, give their stores more).
    public static let defaultOperationLimit: Duration = .seconds(10)

    /// One transaction of the driver's operations, on a pooled connection; `bulk` gets 120 s
    /// (a job of many thousand files is one large insert), anything else `operationLimit`. Every
    /// transaction is durable (the server's `synchronous_commit`), `durable` or not.
    public func transaction<T: Sendable>(
        bulk: Bool, durable: Bool, _ body: @escaping @Sendable (PostgresJobStore.Transaction) async throws -> T
    )
        async throws -> T
    {
        try await inTransaction(limit: bulk ? .seconds(120) : operationLimit) { [self] c in
            try await body(Transaction(store: self, c: c))
        }
    }

    /// One transaction, within `limit` (else `operationLimit`); retried when PostgreSQL reports a
    /// deadlock or a serialization failure.
    func inTransaction<T: Sendable>(limit: Duration? = nil, _ body: @escaping @Sendable (PostgresConnection) async throws -> T)
        async throws -> T
    {
        try await bounded(limit ?? operationLimit) { inUse in
            var attempt = 0
            while true {
                attempt += 1
                do {
                    return try await self.client.withConnection { c in
                        try await inUse.holding(c) { try await c.withTransaction(logger: self.logger) { c in try await body(c) } }
                    }
                } catch let error as PostgresTransactionError {
                    let inner = error.closureError ?? error.commitError ?? error.beginError
                    if let psql = inner as? PSQLError, let state = psql.serverInfo?[.sqlState], ["40P01", "40001"].contains(state),
                        attempt < 8
                    {
                        try await Task.sleep(for: .milliseconds(Int64.random(in: 5...50) * Int64(attempt)))
                        continue
                    }
                    throw inner ?? error
                }
            }
        }
    }

    /// Reads on one pooled connection.
    func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await bounded(operationLimit) { inUse in
            try await self.client.withConnection { c in try await inUse.holding(c) { try await body(c) } }
        }
    }

    /// Runs `operation` within `limit`; errors that mean "PostgreSQL is out of reach" become
    /// `JobStoreUnavailable`. The caller's wait ends at the limit whatever the operation does: a
    /// query in flight does not end when its task is cancelled (postgres-nio waits for the
    /// server's answer), and a connection still being opened has no deadline past its TCP connect.
    /// So at the limit the operation is cancelled (a wait for a pooled connection ends), the
    /// connection it holds is closed (its query fails at once; a connection handed to it later is
    /// closed before any statement), and the caller gets `JobStoreUnavailable` without waiting for
    /// either. A server that never answers (a silent network, a session stuck behind a lock)
    /// cannot hold the caller past the limit. The outcome is then unknown, as with any timeout: a
    /// commit the server had already received stands.
    private func bounded<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable (ConnectionInUse) async throws -> T)
        async throws -> T
    {
        let inUse = ConnectionInUse()
        let work = Task { try await operation(inUse) }
        do {
            guard
                let value = try await TaskDeadline.first(of: work, within: limit, expire: { inUse.close() })
            else {
                throw JobStoreUnavailable("PostgreSQL did not answer within \(limit): check that it runs and is reachable (DATABASE_URL)")
            }
            return value
        } catch let error where Self.meansUnreachable(error) {
            throw JobStoreUnavailable(
                "PostgreSQL is unreachable (\(String(describing: error).prefix(200))): check that it runs and is reachable (DATABASE_URL)")
        }
    }

    static func meansUnreachable(_ error: any Error) -> Bool {
        if let psql = error as? PSQLError {
            if psql.code == .server {
                // Connection exceptions (class 08) and operator intervention: shutdown, cannot connect now (57P).
                let state = psql.serverInfo?[.sqlState] ?? ""
                return state.hasPrefix("08") || state.hasPrefix("57P")
            }
            return [.connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed].contains(psql.code)
        }
        // The pool's own errors (its circuit breaker open, say); its module is not public API.
        return String(reflecting: type(of: error)).contains("ConnectionPoolError")
    }

    static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .secondsSince1970
        return d
    }

    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .secondsSince1970
        return e
    }

    /// Rows of a query whose one column is a row as JSON text (`row_to_json(t)::text`).
    func records<T: Decodable>(_ type: T.Type, _ query: PostgresQuery, on c: PostgresConnection) async throws -> [T] {
        let decoder = Self.decoder()
        var out: [T] = []
        for try await (text, ) in try await c.query(query, logger: logger).decode((String,).self) {
            out.append(try decoder.decode(T.self, from: Data(text.utf8)))
        }
        return out
    }

    func record<T: Decodable>(_ type: T.Type, _ query: PostgresQuery, on c: PostgresConnection) async throws -> T? {
        try await records(type, query, on: c).first
    }

    /// Inserts records (their JSON keys, over all of them, name the columns; a key absent from every
    /// record takes the column default, one absent from some is NULL there).
    /// Returns the generated ids, in order.
    @discardableResult
    func insert<T: Encodable>(_ table: String, _ values: [T], on c: PostgresConnection) async throws -> [Int64] {
        let hasID = { (keys: [String]) in (self.columns.withLock { $0[table] } ?? []).contains("id") && !keys.contains("id") }
        guard let query = try Self.insertQuery(table, values, then: { hasID($0) ? " RETURNING \"id\"" : "" }) else { return [] }
        let rows = try await c.query(query.sql, logger: logger)
        var ids: [Int64] = []
        if hasID(query.keys) { for try await (id, ) in rows.decode((Int64,).self) { ids.append(id) } }
        return ids
    }

    /// Inserts the records whose `key` column (unique, text) no row holds; returns the keys inserted.
    func insert<T: Encodable>(_ table: String, _ values: [T], ifAbsentBy key: String, on c: PostgresConnection) async throws -> [String] {
        guard let query = try Self.insertQuery(table, values, then: { _ in " ON CONFLICT (\"\(key)\") DO NOTHING RETURNING \"\(key)\"" })
        else { return [] }
        var inserted: [String] = []
        for try await (value, ) in try await c.query(query.sql, logger: logger).decode((String,).self) { inserted.append(value) }
        return inserted
    }

    /// `INSERT INTO table (columns) SELECT … FROM json_populate_recordset(…)` of the records (the JSON
    /// a bound parameter), followed by what `then` returns for the columns it names.
    private static func insertQuery<T: Encodable>(_ table: String, _ values: [T], then: ([String]) -> String) throws -> (
        sql: PostgresQuery, keys: [String]
    )? {
        guard !values.isEmpty else { return nil }
        let encoded = try encoder().encode(values)
        // Every key any record has (an optional absent from the first one may be set in another).
        let objects = try JSONSerialization.jsonObject(with: encoded) as? [[String: Any]] ?? []
        let keys = objects.reduce(into: Set<String>()) { $0.formUnion($1.keys) }.sorted()
        let list = keys.map { "\"\($0)\"" }.joined(separator: ", ")
        let json = String(decoding: encoded, as: UTF8.self)
        let head = "INSERT INTO \"\(table)\" (\(list)) SELECT \(list) FROM json_populate_recordset(NULL::\"\(table)\", "
        let query: PostgresQuery = "\(unescaped: head)\(json)::json)\(unescaped: then(keys))"
        return (query, keys)
    }

    /// Writes every column of a record (absent optional keys become NULL), by its key column.
    func update<T: Encodable>(_ table: String, _ value: T, key: String = "id", on c: PostgresConnection) async throws {
        let cols = (columns.withLock { $0[table] } ?? []).filter { $0 != key }
        let list = cols.map { "\"\($0)\"" }.joined(separator: ", ")
        let json = String(decoding: try Self.encoder().encode(value), as: UTF8.self)
        let query: PostgresQuery = """
            UPDATE "\(unescaped: table)" SET (\(unescaped: list)) = (SELECT \(unescaped: list) FROM json_populate_record(NULL::"\(unescaped: table)", \(json)::json))
            WHERE "\(unescaped: key)" = (SELECT "\(unescaped: key)" FROM json_populate_record(NULL::"\(unescaped: table)", \(json)::json))
            """
        try await c.query(query, logger: logger)
    }

    func notifyWork(on c: PostgresConnection) async throws {
        try await c.query("NOTIFY geoinfer_work", logger: logger)
    }
}

struct PostgresStoreError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}

/// The pooled connection an operation is using, so that ``PostgresJobStore``'s time limit can close
/// it: the pool then replaces it, and the query waiting on it fails instead of waiting for an answer.
final class ConnectionInUse: Sendable {
    private let state = Mutex<(connection: PostgresConnection?, closed: Bool)>((nil, false))

    /// Runs `body` with `connection` registered; a connection registered after ``close()`` is closed at once.
    func holding<T>(_ connection: PostgresConnection, _ body: () async throws -> T) async throws -> T {
        let closed = state.withLock { s in
            s.connection = connection
            return s.closed
        }
        if closed { _ = connection.close() as EventLoopFuture<Void> }
        defer { state.withLock { $0.connection = nil } }
        return try await body()
    }

    /// Closes the registered connection, if any, and any registered later.
    func close() {
        let connection = state.withLock { s in
            s.closed = true
            return s.connection
        }
        _ = connection?.close() as EventLoopFuture<Void>?
    }
}
