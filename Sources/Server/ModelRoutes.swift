public import Formats
public import Foundation
import Hummingbird
import Inference
import Jobs
public import Workers

/// One model version as `GET /models` and `geoinfer models list --json` show it.
public struct ModelBody: Encodable, Sendable {
    public let name: String
    public let version: String
    /// `name@version`, as a job names it.
    public let reference: String
    public let sha256: String
    /// The server's default model: what a job without `model` runs.
    public let `default`: Bool
    public let classes: [String]
    public let gsd_m: Double?
    public let input_width: Int
    public let input_height: Int
    public let score_threshold: Double?
    public let iou_threshold: Double?
    public let description: String?
    public let size_bytes: Int?
    public let added_at: Date?
    /// Pooled scores on the validation data it was registered with (`geoinfer evaluate`).
    public let metrics: EvalScores?

    public init(_ e: ModelCatalog.Entry) {
        let m = e.file.manifest
        name = m.name
        version = m.version
        reference = "\(m.name)@\(m.version)"
        sha256 = e.file.sha256
        self.default = e.isDefault
        classes = m.classes
        gsd_m = m.gsdMetres
        input_width = m.inputWidth
        input_height = m.inputHeight
        score_threshold = m.scoreThreshold
        iou_threshold = m.iouThreshold
        description = m.description
        size_bytes = e.record?.sizeBytes
        added_at = e.record?.addedAt
        metrics = e.record?.metrics.flatMap { try? JSONDecoder().decode(EvalScores.self, from: Data($0.utf8)) }
    }
}

/// `GET /models` and `GET /models/{name}`: the models jobs may name in `model`, each version with
/// its digest, classes, resolution and the metrics it was registered with.
extension Routes {
    func registerModels(on router: Router<BasicRequestContext>) {
        router.get("models") { request, context in
            try await guarded(context) {
                _ = try await caller(request)
                struct Body: Encodable { let models: [ModelBody] }
                return JSON.response(Body(models: try await upload.models.entries().map(ModelBody.init)))
            }
        }
        router.get("models/:name") { request, context in
            try await guarded(context) {
                _ = try await caller(request)
                let name = try context.parameters.require("name")
                let versions = ModelReference.isValidPart(name) ? try await upload.models.entries().filter { $0.name == name } : []
                guard !versions.isEmpty else {
                    throw APIError.notFound("model \(ModelReference.isValidPart(name) ? name : "with that name") (GET /models lists them)")
                }
                struct Body: Encodable {
                    let name: String
                    let versions: [ModelBody]
                }
                return JSON.response(Body(name: name, versions: versions.map(ModelBody.init)))
            }
        }
    }
}
