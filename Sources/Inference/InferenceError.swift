/// An error from the inference engine: loading ONNX Runtime, reading a model or its manifest,
/// or running it. Says what to do about it.
public struct InferenceError: Error, CustomStringConvertible, Sendable {
    enum Code: String, Sendable { case runtime, model, manifest, run, device, options, plan }

    let code: Code
    /// What went wrong.
    public let reason: String
    /// What the user can do about it.
    public let remedy: String

    init(_ code: Code, _ reason: String, remedy: String) {
        self.code = code
        self.reason = reason
        self.remedy = remedy
    }

    /// The reason, followed by the remedy when there is one: what a log or the command line shows.
    public var description: String { remedy.isEmpty ? reason : "\(reason). \(remedy)" }

    static func runtime(_ reason: String) -> InferenceError {
        .init(
            .runtime, "ONNX Runtime could not be loaded: \(reason)",
            remedy: "Run `make setup` (or scripts/setup.sh), or point GEOINFER_ORT_LIBRARY at libonnxruntime.so")
    }
    static func model(_ path: String, _ reason: String) -> InferenceError {
        .init(.model, "model \(path): \(reason)", remedy: "Check --model points at a readable ONNX file")
    }
    static func manifest(_ reason: String) -> InferenceError {
        .init(
            .manifest, "model manifest: \(reason)",
            remedy: "Embed a `geoinfer.manifest` JSON in the ONNX metadata_props or put a model.json beside the model (see README, Models)")
    }
    static func run(_ reason: String) -> InferenceError {
        .init(.run, "inference failed: \(reason)", remedy: "Check the model's input size and layout match its manifest")
    }
    static func device(_ reason: String) -> InferenceError {
        .init(
            .device, "execution provider unavailable: \(reason)",
            remedy: "Use --device cpu, or point GEOINFER_ORT_LIBRARY at a GPU build of ONNX Runtime (onnxruntime-gpu) with CUDA installed")
    }
    /// The raster cannot be cut into tiles within the limits: no attempt will succeed with this file.
    public var isFileRefused: Bool { code == .plan }
    /// Whether another attempt at the same file could succeed: only a failed run (memory, a
    /// device that went away). A file that cannot be planned, an option out of range or a model
    /// that cannot be read fails the same way every time.
    public var isRetryable: Bool { code == .run }

    static func plan(_ reason: String) -> InferenceError {
        .init(
            .plan, reason,
            remedy:
                "Check the raster's pixel size (its geotransform) is right; split a large raster into smaller files (gdal_retile.py) or raise --max-pixels"
        )
    }
    static func options(_ reason: String) -> InferenceError {
        .init(.options, "invalid option: \(reason)", remedy: "")
    }
}
