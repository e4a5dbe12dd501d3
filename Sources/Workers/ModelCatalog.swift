import Foundation
public import Inference
public import Jobs

/// The models a server offers: its default model (the one it was started with) and the versions in
/// the registry. Resolves what a caller names (`name` or `name@version`) to one model file at
/// submit, from the registry's rows alone: a process without the files (an API process on another
/// machine) plans tiles from the stored manifests.
public struct ModelCatalog: Sendable {
    /// The model the server was started with: what a job that names none runs.
    public let defaultModel: ModelFile
    let store: any JobStore
    let layout: DataLayout

    /// The catalog of `defaultModel` and the registry in `store`; registered files are kept under `layout`.
    public init(defaultModel: ModelFile, store: any JobStore, layout: DataLayout) {
        self.defaultModel = defaultModel
        self.store = store
        self.layout = layout
    }

    /// One model on offer.
    public struct Entry: Sendable {
        /// What the model's file says: manifest, digest, and where this process keeps it.
        public let file: ModelFile
        /// The registry's row (nil for the default model when it is not registered).
        public let record: ModelRecord?
        /// Whether it is the server's default model.
        public let isDefault: Bool
        /// The manifest's name.
        public var name: String { file.manifest.name }
        /// The manifest's version.
        public var version: String { file.manifest.version }
    }

    /// Why a named model cannot be used.
    public struct Unknown: Error, CustomStringConvertible {
        /// What was asked for and, for a name nothing is registered under, what there is.
        public let description: String
    }

    /// The default model, then every registered version by name and age. A registered version
    /// with the default model's name and version is the default model.
    public func entries() async throws -> [Entry] {
        var out = [Entry(file: defaultModel, record: nil, isDefault: true)]
        for record in try await store.modelList() {
            if record.name == defaultModel.manifest.name, record.version == defaultModel.manifest.version {
                out[0] = Entry(file: defaultModel, record: record, isDefault: true)
                continue
            }
            guard let file = file(of: record) else { continue }
            out.append(Entry(file: file, record: record, isDefault: false))
        }
        return out
    }

    /// The model a job runs: the default when `text` is nil or empty, else the named version, or
    /// the highest version of the name.
    public func resolve(_ text: String?) async throws -> ModelFile {
        guard let text, !text.isEmpty else { return defaultModel }
        let reference: ModelReference
        do { reference = try ModelReference(parsing: text) } catch { throw Unknown(description: error.description) }
        let all = try await entries()
        let named = all.filter { $0.name == reference.name }
        let chosen =
            reference.version.map { v in named.first { $0.version == v } }
            ?? named.max { VersionOrder.less($0.version, $1.version) }
        guard let chosen else {
            let offered = all.prefix(20).map { "\($0.name)@\($0.version)" }.joined(separator: ", ")
            throw Unknown(description: "model '\(reference)' is not registered on this server; available: \(offered)")
        }
        return chosen.file
    }

    /// What a registered version's row says of its file (the path where this process keeps it).
    func file(of record: ModelRecord) -> ModelFile? {
        guard let manifest = try? JSONDecoder().decode(ModelManifest.self, from: Data(record.manifest.utf8)) else { return nil }
        return ModelFile(path: layout.url(record.path).path, manifest: manifest, sha256: record.sha256)
    }
}
