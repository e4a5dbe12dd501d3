import Foundation
import Inference
import Jobs
import Storage

/// The models a worker process has loaded: its default model, always, and at most `capacity`
/// registered versions, the least recently used going first. A version is loaded once however
/// many workers ask for it at the same time. A version whose file is not on this machine is
/// fetched from the mirror bucket (where `geoinfer models add` put it) and checked against the
/// SHA-256 the job was submitted with.
actor ModelCache {
    private let defaultModel: Model
    private let capacity: Int
    private let options: SessionOptions
    private let lanes: Int
    private let layout: DataLayout
    /// The registry, for what a version's manifest says without its file.
    private let store: any JobStore
    private let mirrorBucket: String?
    private let buckets: (any BucketResolver)?
    private var loaded: [String: (model: Model, used: UInt64)] = [:]
    private var loading: [String: Task<Model, any Error>] = [:]
    private var tick: UInt64 = 0

    init(
        defaultModel: Model, capacity: Int, options: SessionOptions, lanes: Int, layout: DataLayout, store: any JobStore,
        mirrorBucket: String?, buckets: (any BucketResolver)?
    ) {
        self.store = store
        self.defaultModel = defaultModel
        self.capacity = max(0, capacity)
        self.options = options
        self.lanes = lanes
        self.layout = layout
        self.mirrorBucket = mirrorBucket
        self.buckets = buckets
    }

    /// The model `job` was submitted with.
    func model(for job: JobRecord) async throws -> Model {
        guard let sha = job.modelSHA256, let version = job.modelVersion, sha != defaultModel.sha256 else { return defaultModel }
        tick += 1
        if let hit = loaded[sha] {
            loaded[sha] = (hit.model, tick)
            return hit.model
        }
        if let pending = loading[sha] { return try await pending.value }
        let task = Task { [options, lanes] in
            let file = try await self.localFile(name: job.modelName, version: version, sha256: sha)
            return try await Model.load(file: file, options: options, lanes: lanes)
        }
        loading[sha] = task
        defer { loading[sha] = nil }
        let model = try await task.value
        if capacity > 0 {
            if loaded.count >= capacity, let oldest = loaded.min(by: { $0.value.used < $1.value.used })?.key {
                loaded[oldest] = nil
            }
            loaded[sha] = (model, tick)
        }
        return model
    }

    /// What the file of `job`'s model says (for its documents), without loading it.
    func file(for job: JobRecord) async throws -> ModelFile {
        guard let sha = job.modelSHA256, let version = job.modelVersion, sha != defaultModel.sha256 else { return defaultModel.file }
        if let hit = loaded[sha] { return hit.model.file }
        // The registry's row says what the file says: a job whose files all failed to load the
        // model (its file missing here, say) still gets its documents.
        if let row = try await store.modelList().first(where: { $0.name == job.modelName && $0.version == version && $0.sha256 == sha }),
            let manifest = try? JSONDecoder().decode(ModelManifest.self, from: Data(row.manifest.utf8))
        {
            return ModelFile(path: layout.url(row.path).path, manifest: manifest, sha256: sha)
        }
        return try await localFile(name: job.modelName, version: version, sha256: sha)
    }

    /// The version's file on this machine, fetched from the mirror bucket when absent, and checked.
    private func localFile(name: String, version: String, sha256: String) async throws -> ModelFile {
        let relative = ModelRecord.storedPath(name: name, version: version)
        let local = layout.url(relative)
        if !FileManager.default.fileExists(atPath: local.path) {
            guard let mirrorBucket, let buckets else {
                throw ModelUnavailable(
                    isRetryable: false,
                    description:
                        "model \(name)@\(version) is not on this machine (\(relative)) and there is no mirror bucket to fetch it from; share the data directory or set ENABLE_GCP_UPLOAD and GCP_BUCKET_NAME"
                )
            }
            try FileManager.default.createDirectory(at: local.deletingLastPathComponent(), withIntermediateDirectories: true)
            let staging = layout.tempEntry("model", "\(sha256.prefix(16))-\(UUID().uuidString.prefix(8))")
            defer { try? FileManager.default.removeItem(at: staging) }
            do {
                _ = try await buckets.store(bucket: mirrorBucket).download(relative, to: staging)
            } catch StorageError.notFound {
                throw ModelUnavailable(
                    isRetryable: false,
                    description: "model \(name)@\(version) is in neither this machine's data directory nor gs://\(mirrorBucket)/\(relative)"
                )
            }
            guard (try? FileDigest.sha256(path: staging.path)) == sha256 else {
                throw ModelUnavailable(
                    isRetryable: false,
                    description: "the copy of model \(name)@\(version) in gs://\(mirrorBucket) is not the file the job was submitted with")
            }
            // Another process may have put it in place meanwhile: the same bytes, so either wins.
            if rename(staging.path, local.path) != 0, !FileManager.default.fileExists(atPath: local.path) {
                throw ModelUnavailable(
                    isRetryable: true, description: "cannot keep model \(name)@\(version) at \(relative): errno \(errno)")
            }
        }
        let file = try ModelFile.read(path: local.path)
        guard file.sha256 == sha256 else {
            throw ModelUnavailable(
                isRetryable: false,
                description: "the file of model \(name)@\(version) changed since the job was submitted (its SHA-256 differs)")
        }
        return file
    }
}

/// A job's model that cannot be loaded on this worker.
struct ModelUnavailable: FileAttemptError {
    let isRetryable: Bool
    let description: String
}
