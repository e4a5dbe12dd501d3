internal import CONNXRuntime
import Foundation

/// Loads the ONNX Runtime shared library once per process and is the one door every ORT call
/// goes through (``ONNXRuntime/check(_:)`` turns an `OrtStatus` into a Swift error).
public enum ONNXRuntime {
    /// Where the library is looked for, in order: the explicit path, `GEOINFER_ORT_LIBRARY`,
    /// `.deps/onnxruntime/lib` in a folder above the executable or the working directory (where
    /// `scripts/setup.sh` puts it), then the system's `libonnxruntime.so.1`.
    static func candidates(explicit: String?) -> [String] {
        var paths: [String] = []
        if let explicit, !explicit.isEmpty { return [explicit] }
        if let env = ProcessInfo.processInfo.environment["GEOINFER_ORT_LIBRARY"], !env.isEmpty { return [env] }
        let relative = ".deps/onnxruntime/lib/libonnxruntime.so.1"
        paths += ResourceLocator.find(relative).map { [$0] } ?? []
        paths.append("libonnxruntime.so.1")
        return paths
    }

    /// Loads the library (first call only) and returns its version string.
    @discardableResult
    public static func load(libraryPath: String? = nil) throws(InferenceError) -> String {
        if geo_ort_api() != nil { return version }
        var errors: [String] = []
        for path in candidates(explicit: libraryPath) {
            var buffer = [CChar](repeating: 0, count: 1024)
            if geo_ort_load(path, &buffer, Int32(buffer.count)) != nil { return version }
            errors.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        throw .runtime(errors.joined(separator: "; "))
    }

    /// The loaded library's version ("1.32.0"), or "not loaded".
    public static var version: String {
        geo_ort_version().map { String(cString: $0) } ?? "not loaded"
    }

    static var api: OrtApi {
        get throws(InferenceError) {
            guard let api = geo_ort_api() else { throw .runtime("not loaded") }
            return api.pointee
        }
    }

    /// Turns a returned `OrtStatus` into an ``InferenceError`` (releasing the status).
    static func check(_ status: OpaquePointer?, _ what: String, as make: (String) -> InferenceError = InferenceError.run)
        throws(InferenceError)
    {
        guard let status else { return }
        let api = try api
        let message = api.GetErrorMessage(status).map { String(cString: $0) } ?? "unknown error"
        api.ReleaseStatus(status)
        throw make("\(what): \(message)")
    }
}

/// Finds files shipped with GeoInfer (the ONNX Runtime library, the default model) by walking up
/// from the executable's folder and from the working directory.
public enum ResourceLocator {
    /// The first existing `base/relative` where base is the executable's folder or the working
    /// directory, or one of their parents.
    public static func find(_ relative: String) -> String? {
        let fm = FileManager.default
        var starts = [fm.currentDirectoryPath]
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append((exe as NSString).deletingLastPathComponent)
        } else {
            starts.append((CommandLine.arguments[0] as NSString).deletingLastPathComponent)
        }
        for start in starts {
            var dir = URL(fileURLWithPath: start).standardizedFileURL
            for _ in 0..<8 {
                let candidate = dir.appending(path: relative).path
                if fm.fileExists(atPath: candidate) { return candidate }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        return nil
    }
}
