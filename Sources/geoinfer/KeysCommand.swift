import ArgumentParser
import Foundation
import Jobs
import Server

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Manage API keys in a server's job store (run where its data directory is).",
        subcommands: [KeysCreateCommand.self, KeysListCommand.self, KeysRevokeCommand.self])
}

struct DataDirOption: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The server's data folder (GEOINFER_DATA_DIR; default ./data).")
    var dataDir: String?

    /// The folder: --data-dir, else GEOINFER_DATA_DIR, else ./data.
    var url: URL { URL(fileURLWithPath: dataDir ?? ProcessInfo.processInfo.environment["GEOINFER_DATA_DIR"] ?? "data") }

    func store() throws -> SQLiteJobStore {
        let layout = try DataLayout(root: url)
        return try SQLiteJobStore(path: layout.databasePath)
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
        for (flag, v) in [("--max-files", maxFiles.map(Int64.init)), ("--max-file-bytes", maxFileBytes), ("--max-request-bytes", maxRequestBytes)] {
            if let v, v <= 0 { throw ValidationError("\(flag) must be positive") }
        }
        var (key, record) = APIKeys.make(name: name, scope: admin ? .admin : .user)
        record.maxFiles = maxFiles
        record.maxFileBytes = maxFileBytes
        record.maxRequestBytes = maxRequestBytes
        try await data.store().keyCreate(record)
        print(key)
        FileHandle.standardError.write(Data("created \(record.id) (\(record.scope.rawValue)) for \(name); the key above is shown only now\n".utf8))
    }
}

struct KeysListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List keys (id, scope, prefix, name, state).")

    @OptionGroup var data: DataDirOption

    func run() async throws {
        for k in try await data.store().keyList() {
            let state = k.revokedAt.map { "revoked \($0.formatted(.iso8601))" } ?? "active"
            var limits: [String] = []
            if let n = k.maxFiles { limits.append("max-files=\(n)") }
            if let n = k.maxFileBytes { limits.append("max-file-bytes=\(n)") }
            if let n = k.maxRequestBytes { limits.append("max-request-bytes=\(n)") }
            print("\(k.id)\t\(k.scope.rawValue)\t\(k.prefix)…\t\(k.name)\t\(state)" + (limits.isEmpty ? "" : "\t" + limits.joined(separator: " ")))
        }
    }
}

struct KeysRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a key by id: it stops working at once.")

    @Argument(help: "The key's id (key_…), as `keys list` shows it.")
    var id: String

    @OptionGroup var data: DataDirOption

    func run() async throws {
        guard let k = try await data.store().keyRevoke(id: id, now: Date()) else { throw ValidationError("no key \(id); see geoinfer keys list") }
        print("revoked \(k.id) (\(k.name))")
    }
}
