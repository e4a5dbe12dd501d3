import Crypto
import Foundation
import GeoRaster

/// A detector ready to run: its sessions, its manifest and the SHA-256 of its file.
public struct Model: Sendable {
    /// The ONNX file the sessions were loaded from.
    public let path: String
    /// The model's manifest; its channels and input size were checked against the model's input at load.
    public let manifest: ModelManifest
    /// The SHA-256 of the model file, as lowercase hex.
    public let sha256: String
    /// One ONNX Runtime session per lane: files in different lanes run their tiles at the same time,
    /// each session on its own intra-op threads (``SessionOptions/threads``).
    public let sessions: [any InferenceSession]
    /// The first lane's session.
    public var session: any InferenceSession { sessions[0] }

    /// The session of `lane` (lanes beyond the sessions loaded share them round-robin).
    public func session(lane: Int) -> any InferenceSession { sessions[abs(lane % sessions.count)] }

    /// The default model's path relative to GeoInfer's folder.
    public static let defaultRelativePath = "models/tree-crowns/tree-crowns.onnx"

    /// Finds the default model: `GEOINFER_MODEL`, else `models/tree-crowns/tree-crowns.onnx` in a
    /// folder above the working directory or the executable.
    public static func defaultPath() -> String? {
        if let env = ProcessInfo.processInfo.environment["GEOINFER_MODEL"], !env.isEmpty { return env }
        return ResourceLocator.find(defaultRelativePath)
    }

    /// What the file says of the model (manifest and digest), without the sessions.
    public var file: ModelFile { ModelFile(path: path, manifest: manifest, sha256: sha256) }

    /// Loads the ONNX model at `path`, with `lanes` sessions (at least 1). The manifest comes from
    /// the model's `metadata_props` (`geoinfer.manifest`) or, when absent, from a sidecar
    /// `model.json` (or `<model>.json`) beside it (``ModelFile``).
    public static func load(path: String, options: SessionOptions = .init(), lanes: Int = 1) async throws(InferenceError) -> Model {
        try await load(file: ModelFile.read(path: path), options: options, lanes: lanes)
    }

    /// Loads the model `file` describes (already read: its manifest and digest are not read again).
    public static func load(file: ModelFile, options: SessionOptions = .init(), lanes: Int = 1) async throws(InferenceError) -> Model {
        let path = file.path
        let manifest = file.manifest
        let session = try ONNXSession(path: path, options: options)
        var sessions: [any InferenceSession] = [session]
        for _ in 1..<max(1, lanes) { sessions.append(try ONNXSession(path: path, options: options)) }
        let shape = session.inputShape
        guard shape.count == 4 else { throw .manifest("the model's input has rank \(shape.count); expected [B, C, H, W]") }
        for (axis, want, key) in [
            (1, manifest.channels, "band_order"), (2, manifest.inputHeight, "input_height"), (3, manifest.inputWidth, "input_width"),
        ]
        where shape[axis] > 0 && shape[axis] != want {
            throw .manifest("`\(key)` says \(want) but the model's input dimension \(axis) is \(shape[axis])")
        }
        return Model(path: path, manifest: manifest, sha256: file.sha256, sessions: sessions)
    }

    static func manifest(embedded: String?, modelPath: String) throws(InferenceError) -> ModelManifest {
        let dir = (modelPath as NSString).deletingLastPathComponent
        let sidecars = [((modelPath as NSString).deletingPathExtension) + ".json", (dir as NSString).appendingPathComponent("model.json")]
        let data: Data
        if let embedded {
            data = Data(embedded.utf8)
        } else if let sidecar = sidecars.first(where: { FileManager.default.fileExists(atPath: $0) }),
            let d = FileManager.default.contents(atPath: sidecar)
        {
            data = d
        } else {
            throw .manifest(
                "none found in the model's metadata_props or beside it (\(sidecars.map { ($0 as NSString).lastPathComponent }.joined(separator: ", ")))"
            )
        }
        let manifest: ModelManifest
        do { manifest = try JSONDecoder().decode(ModelManifest.self, from: data) } catch {
            throw .manifest("not valid: \(error)")
        }
        try manifest.validate()
        return manifest
    }
}

/// Streaming SHA-256 of files (1 MiB at a time: memory does not grow with file size).
public enum FileDigest {
    /// The SHA-256 of the file at `path`, as lowercase hex; throws when the file cannot be opened or read.
    public static func sha256(path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: (path as NSString).lastPathComponent])
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return hasher.finalize().lowercaseHex
    }
}

/// GeoInfer's own version, written into every metadata document.
public enum GeoInferVersion {
    /// GeoInfer's version, as the metadata document's `software.geoinfer` and COCO's `info.version` give it.
    public static let current = "0.1.0"
}

extension Sequence where Element == UInt8 {
    /// Lowercase hexadecimal, two digits a byte (digests as people and tools print them).
    public var lowercaseHex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
