internal import CONNXRuntime
import Foundation

/// An ONNX Runtime session. An actor: the ORT handles it owns are used by one caller at a time,
/// and ORT's own intra-op threads do the parallel work.
public actor ONNXSession: InferenceSession {
    private let handles: ORTSessionHandles
    /// The model's input names, in order.
    public nonisolated let inputNames: [String]
    /// The model's output names, in order.
    public nonisolated let outputNames: [String]
    /// The first input's shape (-1 for dynamic dimensions).
    public nonisolated let inputShape: [Int]
    /// Custom metadata (`metadata_props`) value under `geoinfer.manifest`, if any.
    public nonisolated let embeddedManifest: String?

    /// Opens `path` with `options`. Throws when the library, the model or the device is unavailable.
    public init(path: String, options: SessionOptions = .init()) throws(InferenceError) {
        let handles = try ORTSessionHandles(path: path, options: options)
        inputNames = handles.inputNames
        outputNames = handles.outputNames
        inputShape = handles.inputShape
        embeddedManifest = handles.embeddedManifest
        self.handles = handles
    }

    /// Runs the model on `input` and returns every output, converted to Float32.
    public func run(_ input: Tensor) throws(InferenceError) -> [String: Tensor] {
        try handles.run(input)
    }
}

/// The ORT handles of one session, released on deinit. Not `Sendable`: only ``ONNXSession`` holds it.
final class ORTSessionHandles {
    private let env: OpaquePointer
    private let session: OpaquePointer
    private let memoryInfo: OpaquePointer
    let inputNames: [String]
    let outputNames: [String]
    let inputShape: [Int]
    let embeddedManifest: String?

    init(path: String, options: SessionOptions) throws(InferenceError) {
        try ONNXRuntime.load(libraryPath: options.libraryPath)
        let api = try ONNXRuntime.api
        guard FileManager.default.isReadableFile(atPath: path) else { throw .model(path, "not found or not readable") }

        var env: OpaquePointer?
        try ONNXRuntime.check(api.CreateEnv(ORT_LOGGING_LEVEL_ERROR, "geoinfer", &env), "CreateEnv", as: InferenceError.runtime)
        var opts: OpaquePointer?
        try ONNXRuntime.check(api.CreateSessionOptions(&opts), "CreateSessionOptions")
        defer { api.ReleaseSessionOptions(opts) }
        try ONNXRuntime.check(api.SetIntraOpNumThreads(opts, Int32(max(1, options.threads))), "SetIntraOpNumThreads")
        try ONNXRuntime.check(api.SetInterOpNumThreads(opts, 1), "SetInterOpNumThreads")
        // Spinning threads burn the cores the raster reader needs on small machines.
        try ONNXRuntime.check(api.AddSessionConfigEntry(opts, "session.intra_op.allow_spinning", "0"), "allow_spinning")
        try ONNXRuntime.check(api.AddSessionConfigEntry(opts, "session.inter_op.allow_spinning", "0"), "allow_spinning")
        try ONNXRuntime.check(api.SetSessionGraphOptimizationLevel(opts, ORT_ENABLE_ALL), "SetSessionGraphOptimizationLevel")
        if options.device == .cuda {
            var cuda: OpaquePointer?
            try ONNXRuntime.check(api.CreateCUDAProviderOptions(&cuda), "CUDA provider options", as: InferenceError.device)
            defer { api.ReleaseCUDAProviderOptions(cuda) }
            try ONNXRuntime.check(api.SessionOptionsAppendExecutionProvider_CUDA_V2(opts, cuda), "CUDA", as: InferenceError.device)
        }
        var session: OpaquePointer?
        do {
            try ONNXRuntime.check(api.CreateSession(env, path, opts, &session), "load", as: { InferenceError.model(path, $0) })
        } catch {
            api.ReleaseEnv(env)
            throw error
        }
        var memoryInfo: OpaquePointer?
        try ONNXRuntime.check(api.CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &memoryInfo), "CreateCpuMemoryInfo")
        self.env = env!
        self.session = session!
        self.memoryInfo = memoryInfo!

        var allocator: UnsafeMutablePointer<OrtAllocator>?
        try ONNXRuntime.check(api.GetAllocatorWithDefaultOptions(&allocator), "allocator")
        func names(
            _ count: (OpaquePointer?, UnsafeMutablePointer<Int>?) -> OpaquePointer?,
            _ name: (OpaquePointer?, Int, UnsafeMutablePointer<OrtAllocator>?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) ->
                OpaquePointer?
        ) throws(InferenceError) -> [String] {
            var n = 0
            try ONNXRuntime.check(count(session, &n), "count")
            var result: [String] = []
            for i in 0..<n {
                var p: UnsafeMutablePointer<CChar>?
                try ONNXRuntime.check(name(session, i, allocator, &p), "name")
                result.append(String(cString: p!))
                _ = api.AllocatorFree(allocator, p)
            }
            return result
        }
        inputNames = try names(api.SessionGetInputCount, api.SessionGetInputName)
        outputNames = try names(api.SessionGetOutputCount, api.SessionGetOutputName)
        guard !inputNames.isEmpty, !outputNames.isEmpty else { throw .model(path, "the model has no inputs or no outputs") }

        var typeInfo: OpaquePointer?
        try ONNXRuntime.check(api.SessionGetInputTypeInfo(session, 0, &typeInfo), "input type")
        defer { api.ReleaseTypeInfo(typeInfo) }
        var tensorInfo: OpaquePointer?
        try ONNXRuntime.check(api.CastTypeInfoToTensorInfo(typeInfo, &tensorInfo), "input tensor info")
        inputShape = try ORTSessionHandles.dimensions(api, tensorInfo)

        var metadata: OpaquePointer?
        try ONNXRuntime.check(api.SessionGetModelMetadata(session, &metadata), "metadata")
        defer { api.ReleaseModelMetadata(metadata) }
        var value: UnsafeMutablePointer<CChar>?
        try ONNXRuntime.check(api.ModelMetadataLookupCustomMetadataMap(metadata, allocator, "geoinfer.manifest", &value), "metadata lookup")
        if let value {
            embeddedManifest = String(cString: value)
            _ = api.AllocatorFree(allocator, value)
        } else {
            embeddedManifest = nil
        }
    }

    deinit {
        guard let api = geo_ort_api()?.pointee else { return }
        api.ReleaseMemoryInfo(memoryInfo)
        api.ReleaseSession(session)
        api.ReleaseEnv(env)
    }

    private static func dimensions(_ api: OrtApi, _ info: OpaquePointer?) throws(InferenceError) -> [Int] {
        var count = 0
        try ONNXRuntime.check(api.GetDimensionsCount(info, &count), "dimensions")
        var dims = [Int64](repeating: 0, count: count)
        try ONNXRuntime.check(api.GetDimensions(info, &dims, count), "dimensions")
        return dims.map { Int($0) }
    }

    func run(_ input: Tensor) throws(InferenceError) -> [String: Tensor] {
        let api = try ONNXRuntime.api
        var shape = input.shape.map { Int64($0) }
        var outputs = [OpaquePointer?](repeating: nil, count: outputNames.count)
        let (created, ran): (OpaquePointer?, OpaquePointer?) = input.values.withUnsafeBytes { raw in
            // ORT reads an input and never writes it, so the tensor wraps the caller's values as
            // they are (no copy of the batch); they stay pinned until the run returns.
            var value: OpaquePointer?
            let created = api.CreateTensorWithDataAsOrtValue(
                memoryInfo, UnsafeMutableRawPointer(mutating: raw.baseAddress), raw.count, &shape, shape.count,
                ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &value)
            guard created == nil else { return (created, nil) }
            defer { api.ReleaseValue(value) }
            let ran = withCStrings(inputNames.prefix(1).map { $0 }) { inNames in
                withCStrings(outputNames) { outNames in
                    var inputs: [OpaquePointer?] = [value]
                    return api.Run(session, nil, inNames, &inputs, 1, outNames, outputNames.count, &outputs)
                }
            }
            return (nil, ran)
        }
        defer { for o in outputs { api.ReleaseValue(o) } }
        try ONNXRuntime.check(created, "input tensor")
        try ONNXRuntime.check(ran, "Run")

        var result: [String: Tensor] = [:]
        for (name, output) in zip(outputNames, outputs) {
            var info: OpaquePointer?
            try ONNXRuntime.check(api.GetTensorTypeAndShape(output, &info), "output shape")
            defer { api.ReleaseTensorTypeAndShapeInfo(info) }
            let dims = try ORTSessionHandles.dimensions(api, info)
            var type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED
            try ONNXRuntime.check(api.GetTensorElementType(info, &type), "output type")
            var raw: UnsafeMutableRawPointer?
            try ONNXRuntime.check(api.GetTensorMutableData(output, &raw), "output data")
            let n = dims.reduce(1, *)
            var values = [Float](repeating: 0, count: n)
            if n > 0, let raw {
                switch type {
                case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
                    values.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: n * 4)) }
                case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64:
                    let p = raw.assumingMemoryBound(to: Int64.self)
                    for i in 0..<n { values[i] = Float(p[i]) }
                case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
                    let p = raw.assumingMemoryBound(to: Int32.self)
                    for i in 0..<n { values[i] = Float(p[i]) }
                case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE:
                    let p = raw.assumingMemoryBound(to: Double.self)
                    for i in 0..<n { values[i] = Float(p[i]) }
                default:
                    throw .run("output \(name) has an unsupported element type (\(type.rawValue)); use float32 or int64")
                }
            }
            result[name] = Tensor(shape: dims, values: values)
        }
        return result
    }
}

/// Calls `body` with a C array of C strings that lives for the call.
func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
    let owned = strings.map { strdup($0) }
    defer { for p in owned { free(p) } }
    let pointers: [UnsafePointer<CChar>?] = owned.map { UnsafePointer($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
