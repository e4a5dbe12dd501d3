/// A dense Float32 tensor: shape and row-major values. Integer model outputs are converted.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]

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
