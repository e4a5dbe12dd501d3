public import Formats
public import Foundation
import Hummingbird
import Inference
import Jobs
public import Workers

/// One model version as `GET /models` and `geoinfer models list --json` show it.
public struct ModelBody: Encodable, Sendable {
    /// The model's name, from its manifest.
    public let name: String
    /// The model's version, from its manifest.
    public let version: String
    /// `name@version`, as a job names it.
    public let reference: String
    /// SHA-256 of the ONNX file, lowercase hex.
    public let sha256: String
    /// The server's default model: what a job without `model` runs.
    public let `default`: Bool
    /// The class names, in the order of the model's 0-based class indices.
    public let classes: [String]
    /// Metres per pixel the model was trained at; nil: rasters run at their native resolution.
    public let gsd_m: Double?
    /// Width of the model's input, in pixels.
    public let input_width: Int
    /// Height of the model's input, in pixels.
    public let input_height: Int
    /// The score threshold the manifest recommends; nil: the default 0.25 applies.
    public let score_threshold: Double?
    /// The NMS IoU threshold the manifest recommends; nil: the default 0.5 applies.
    public let iou_threshold: Double?
    /// The manifest's description, nil when it has none.
    public let description: String?
    /// Size of the registered file in bytes; nil for a default model that is not registered.
    public let size_bytes: Int?
    /// When this version was registered; nil for a default model that is not registered.
    public let added_at: Date?
    /// Pooled scores on the validation data it was registered with (`geoinfer evaluate`).
    public let metrics: EvalScores?

    /// The catalog entry as the API shows it; metrics that do not decode are left out (nil).
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
