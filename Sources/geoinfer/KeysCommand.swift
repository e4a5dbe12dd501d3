import ArgumentParser
import Foundation
import JobStorePostgres
import JobStoreSQLite
import Jobs
import Logging
import Server

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Manage API keys in a server's job store: PostgreSQL when DATABASE_URL is set, else its data directory.",
        subcommands: [KeysCreateCommand.self, KeysListCommand.self, KeysRevokeCommand.self])
}

struct DataDirOption: ParsableArguments {
    @Option(
        name: .customLong("data-dir"),
        help: "The server's data folder, when it keeps its jobs in SQLite (GEOINFER_DATA_DIR; default ./data).")
    var dataDir: String?

    @Option(
        name: .customLong("database-url"), help: "The server's PostgreSQL job store (DATABASE_URL; default: SQLite in the data folder).")
    var databaseURL: String?

    /// The folder: --data-dir, else GEOINFER_DATA_DIR, else ./data.
    var url: URL { URL(fileURLWithPath: dataDir ?? ProcessInfo.processInfo.environment["GEOINFER_DATA_DIR"] ?? "data") }

    /// The data folder `serve` uses with the same settings: --data-dir, else GEOINFER_DATA_DIR
    /// (environment or `.env`), else ./data.
    func resolvedURL() async throws -> URL {
        if let dataDir { return URL(fileURLWithPath: dataDir) }
        return URL(fileURLWithPath: try await Environment.load()["GEOINFER_DATA_DIR"] ?? "data")
    }

    /// Runs `body` on the job store `serve` and `worker` use with the same settings: PostgreSQL
    /// when `--database-url` or `DATABASE_URL` (environment or `.env`) names one, else the SQLite
    /// file in `--data-dir`, `GEOINFER_DATA_DIR` or ./data.
    func withStore<T: Sendable>(_ body: @escaping @Sendable (any JobStore) async throws -> T) async throws -> T {
        let env = try await Environment.load()
        if let url = databaseURL ?? env["DATABASE_URL"].flatMap({ $0.isEmpty ? nil : $0 }) {
            var logger = Logger(label: "geoinfer.keys")
            logger.logLevel = .warning
            let store: PostgresJobStore
            do {
                store = try await PostgresJobStore.open(url: url, logger: logger)
            } catch {
                throw ValidationError(
                    "cannot open the PostgreSQL job store named by DATABASE_URL: \(String(describing: error).prefix(300))")
            }
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await store.run()
                    return nil
                }
                group.addTask { try await body(store) }
                defer { group.cancelAll() }
                while let next = try await group.next() { if let value = next { return value } }
                throw ValidationError("the PostgreSQL job store stopped")
            }
        }
        let layout = try DataLayout(root: URL(fileURLWithPath: dataDir ?? env["GEOINFER_DATA_DIR"] ?? "data"))
        return try await body(try SQLiteJobStore(path: layout.databasePath))
    }
}

struct KeysCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Make a key and print it once (only its hash is kept).")

    @Option(help: "Who or what the key is for.")
    var name: String

    @Flag(help: "The key sees and manages every job, not only its own.")
    var admin = false

    @Option(name: .customLong("max-files"), help: "Most files in one upload by this key (default: the server's limit).")
    var maxFiles: Int?

    @Option(name: .customLong("max-file-bytes"), help: "Largest file this key may upload (default: the server's limit).")
    var maxFileBytes: Int64?

    @Option(name: .customLong("max-request-bytes"), help: "Largest upload request by this key (default: the server's limit).")
    var maxRequestBytes: Int64?

    @OptionGroup var data: DataDirOption

    func run() async throws {
        guard !name.isEmpty, name.count <= 100 else { throw ValidationError("--name must be 1 to 100 characters") }
        for (flag, v) in [
            ("--max-files", maxFiles.map(Int64.init)), ("--max-file-bytes", maxFileBytes), ("--max-request-bytes", maxRequestBytes),
        ] {
            if let v, v <= 0 { throw ValidationError("\(flag) must be positive") }
        }
        var (key, record) = APIKeys.make(name: name, scope: admin ? .admin : .user)
        record.maxFiles = maxFiles
        record.maxFileBytes = maxFileBytes
        record.maxRequestBytes = maxRequestBytes
        try await data.withStore { [record] in try await $0.keyCreate(record) }
        print(key)
        FileHandle.standardError.write(
            Data("created \(record.id) (\(record.scope.rawValue)) for \(name); the key above is shown only now\n".utf8))
    }
}

struct KeysListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List keys (id, scope, prefix, name, state).")

    @OptionGroup var data: DataDirOption

    func run() async throws {
        for k in try await data.withStore({ try await $0.keyList() }) {
            let state = k.revokedAt.map { "revoked \($0.formatted(.iso8601))" } ?? "active"
            var limits: [String] = []
            if let n = k.maxFiles { limits.append("max-files=\(n)") }
            if let n = k.maxFileBytes { limits.append("max-file-bytes=\(n)") }
            if let n = k.maxRequestBytes { limits.append("max-request-bytes=\(n)") }
            print(
                "\(k.id)\t\(k.scope.rawValue)\t\(k.prefix)…\t\(k.name)\t\(state)"
                    + (limits.isEmpty ? "" : "\t" + limits.joined(separator: " ")))
        }
    }
}

struct KeysRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a key by id: it stops working at once.")

    @Argument(help: "The key's id (key_…), as `keys list` shows it.")
    var id: String

    @OptionGroup var data: DataDirOption

    func run() async throws {
        guard let k = try await data.withStore({ [id] in try await $0.keyRevoke(id: id, now: Date()) }) else {
            throw ValidationError("no key \(id); see geoinfer keys list")
        }
        print("revoked \(k.id) (\(k.name))")
    }
}
