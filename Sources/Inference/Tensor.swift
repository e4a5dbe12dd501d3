/// A dense Float32 tensor: shape and row-major values. Integer model outputs are converted.
public struct Tensor: Sendable, Equatable {
    /// Dimensions, outermost first (`[B, C, H, W]` for a model's input).
    public var shape: [Int]
    /// The elements in row-major order, as many as the product of `shape`.
    public var values: [Float]

    /// A tensor of `shape` holding `values` in row-major order; traps unless `values` has exactly as many
    /// elements as `shape` holds.
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        self.values = values
    }
}

/// Where inference runs.
public enum Device: String, Sendable, Codable, CaseIterable {
    case cpu, cuda
}

/// How a session is created.
public struct SessionOptions: Sendable {
    /// Threads for one operator (ONNX Runtime's intra-op pool); spinning is turned off. Default 2.
    public var threads: Int = 2
    /// CPU by default; `.cuda` needs a GPU build of ONNX Runtime.
    public var device: Device = .cpu
    /// The ONNX Runtime library to load; found automatically when nil.
    public var libraryPath: String?

    /// Options as each property describes them; nothing is checked until a session is made (fewer than 1
    /// thread counts as 1).
    public init(threads: Int = 2, device: Device = .cpu, libraryPath: String? = nil) {
        self.threads = threads
        self.device = device
        self.libraryPath = libraryPath
    }
}

/// Runs a model on a batch. A protocol so the pipeline can be driven by another engine.
public protocol InferenceSession: Sendable {
    /// Runs the model on `input` (`[B, C, H, W]`) and returns its outputs by name.
    func run(_ input: Tensor) async throws(InferenceError) -> [String: Tensor]
}
