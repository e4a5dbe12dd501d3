import ArgumentParser
import Formats
import Foundation
import Inference
import Jobs
import Server
import Storage
import Workers

struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Manage the model registry in a server's job store: the models jobs name with `model` (name or name@version).",
        discussion: """
            Registered files are kept under the data directory (models/NAME/VERSION/model.onnx) and, when \
            ENABLE_GCP_UPLOAD and GCP_BUCKET_NAME are set, at the same name in the mirror bucket, from which \
            workers on other machines fetch them.
            """,
        subcommands: [ModelsListCommand.self, ModelsShowCommand.self, ModelsAddCommand.self, ModelsRemoveCommand.self])

    /// The catalog the server offers: its default model (`--model`, `GEOINFER_MODEL` or the bundled
    /// one) and the registry in `store`.
    static func catalog(store: any JobStore, data: DataDirOption, model: String?) async throws -> ModelCatalog {
        guard let path = model ?? Model.defaultPath() else {
            throw ValidationError("the default model was not found; pass --model PATH or set GEOINFER_MODEL")
        }
        do {
            return ModelCatalog(
                defaultModel: try ModelFile.read(path: path), store: store, layout: try DataLayout(root: try await data.resolvedURL()))
        } catch let error as InferenceError {
            throw ValidationError(error.description)
        }
    }

    static func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

struct ModelsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "The default model and every registered version.")

    @OptionGroup var data: DataDirOption
    @Option(help: "The server's default model (GEOINFER_MODEL; default models/tree-crowns/tree-crowns.onnx).") var model: String?
    @Flag(help: "Print JSON, as GET /models answers.") var json = false

    func run() async throws {
        let (data, model, json) = (data, model, json)
        try await data.withStore { store in
            let entries = try await ModelsCommand.catalog(store: store, data: data, model: model).entries().map(ModelBody.init)
            if json {
                struct Body: Encodable { let models: [ModelBody] }
                try ModelsCommand.printJSON(Body(models: entries))
                return
            }
            let rows =
                [["MODEL", "SHA256", "CLASSES", "GSD", "AP50", "ADDED"]]
                + entries.map { m in
                    [
                        m.reference + (m.default ? " (default)" : ""), String(m.sha256.prefix(12)), m.classes.joined(separator: ","),
                        m.gsd_m.map { String(format: "%.3g m", $0) } ?? "-", m.metrics?.ap50.map { String(format: "%.3f", $0) } ?? "-",
                        m.added_at.map { $0.formatted(.iso8601) } ?? "-",
                    ]
                }
            let widths = (0..<6).map { c in rows.map { $0[c].count }.max() ?? 0 }
            for row in rows {
                print(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
            }
        }
    }
}

struct ModelsShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Every version of a model, or one, as JSON.")

    @Argument(help: "name or name@version.") var reference: String
    @OptionGroup var data: DataDirOption
    @Option(help: "The server's default model (GEOINFER_MODEL; default models/tree-crowns/tree-crowns.onnx).") var model: String?

    func run() async throws {
        let wanted: ModelReference
        do { wanted = try ModelReference(parsing: reference) } catch { throw ValidationError(error.description) }
        let (data, model) = (data, model)
        try await data.withStore { store in
            let found = try await ModelsCommand.catalog(store: store, data: data, model: model).entries()
                .filter { $0.name == wanted.name && (wanted.version == nil || $0.version == wanted.version) }
            guard !found.isEmpty else { throw ValidationError("no model \(wanted) is registered (geoinfer models list)") }
            try ModelsCommand.printJSON(found.map(ModelBody.init))
        }
    }
}

struct ModelsAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Register an ONNX model under the name and version its manifest gives (geoinfer model-info shows them).",
        discussion: """
            The file is copied to the data directory, and to the mirror bucket when one is configured, then \
            recorded in the job store. Adding the same file again changes nothing; another file under a \
            registered name and version is refused: give it a new version.
            """)

    @Argument(help: "The ONNX model (with its manifest embedded, or a model.json beside it).") var path: String
    @Option(help: "Validation scores to keep with it: the JSON report of geoinfer evaluate --json.") var metrics: String?
    @OptionGroup var data: DataDirOption

    func run() async throws {
        let file: ModelFile
        do { file = try ModelFile.read(path: path) } catch { throw ValidationError(error.description) }
        let m = file.manifest
        guard ModelReference.isValidPart(m.name), ModelReference.isValidPart(m.version) else {
            throw ValidationError(
                "the manifest's name '\(m.name.prefix(80))' and version '\(m.version.prefix(80))' must each be 1 to 64 letters, digits, '.', '_' or '-'"
            )
        }
        if let defaultPath = Model.defaultPath(), let builtIn = try? ModelFile.read(path: defaultPath),
            builtIn.manifest.name == m.name, builtIn.manifest.version == m.version, builtIn.sha256 != file.sha256
        {
            throw ValidationError("\(m.name)@\(m.version) is the default model's name and version; give this file another version")
        }
        var scores: String?
        if let metrics {
            guard let data = FileManager.default.contents(atPath: metrics),
                let report = try? JSONDecoder().decode(EvaluationReport.self, from: data)
            else {
                throw ValidationError("--metrics must be the JSON report of geoinfer evaluate --json (\(metrics) is not)")
            }
            scores = String(decoding: try JSONEncoder().encode(report.pooled), as: UTF8.self)
        }
        let relative = ModelRecord.storedPath(name: m.name, version: m.version)
        let root = try await data.resolvedURL()
        let layout = try DataLayout(root: root)
        let target = layout.url(relative)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let record = ModelRecord(
            name: m.name, version: m.version, sha256: file.sha256, path: relative, sizeBytes: size,
            manifest: String(decoding: try JSONEncoder().encode(m), as: UTF8.self), metrics: scores, addedAt: Date())
        // The file first (here, then in the bucket), the row last: a row always has its file.
        if (try? FileDigest.sha256(path: target.path)) != file.sha256 {
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            let staging = layout.tempEntry("model", UUID().uuidString)
            defer { try? FileManager.default.removeItem(at: staging) }
            try FileManager.default.copyItem(at: URL(fileURLWithPath: path), to: staging)
            guard rename(staging.path, target.path) == 0 else { throw ValidationError("cannot write \(target.path): errno \(errno)") }
        }
        let env = try await Environment.load()
        let cloud = try ServeCommand.cloudConfiguration(env)
        if let bucket = cloud.mirrorBucket {
            let store = try cloud.access.get().gcs(bucket: bucket)
            let existing = try await store.info(relative)
            if existing == nil {
                _ = try await store.put(
                    file: target, as: relative, contentType: "application/octet-stream", metadata: ["sha256": file.sha256])
            }
            print("copied to gs://\(bucket)/\(relative)")
        }
        let (added, created) = try await data.withStore { store in
            do { return try await store.modelAdd(record) } catch let error as ModelRegistryError {
                throw ValidationError(error.description)
            }
        }
        print(
            created ? "registered \(added.reference) (sha256 \(added.sha256))" : "\(added.reference) is already registered with this file")
    }
}

struct ModelsRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a registered version (refused while unfinished jobs use it).")

    @Argument(help: "name@version.") var reference: String
    @OptionGroup var data: DataDirOption

    func run() async throws {
        let wanted: ModelReference
        do { wanted = try ModelReference(parsing: reference) } catch { throw ValidationError(error.description) }
        guard let version = wanted.version else { throw ValidationError("name the version to remove: NAME@VERSION") }
        let removed = try await data.withStore { store in
            do { return try await store.modelRemove(name: wanted.name, version: version) } catch let error as ModelRegistryError {
                throw ValidationError(error.description)
            }
        }
        guard let removed else { throw ValidationError("no model \(wanted) is registered (geoinfer models list)") }
        let layout = try DataLayout(root: try await data.resolvedURL())
        try? FileManager.default.removeItem(at: layout.url(removed.path).deletingLastPathComponent())
        let cloud = try ServeCommand.cloudConfiguration(try await Environment.load())
        if let bucket = cloud.mirrorBucket {
            _ = try await cloud.access.get().gcs(bucket: bucket).delete(removed.path)
        }
        print("removed \(removed.reference)")
    }
}
