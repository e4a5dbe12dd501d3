import Foundation
public import GeoRaster

/// A model as its file describes it, without ONNX Runtime: the manifest (from the file's
/// `metadata_props`, read straight from its protobuf encoding, or a sidecar `model.json`) and the
/// file's SHA-256. A process that only accepts jobs (`serve --workers 0`) plans tiles from this and
/// never loads ONNX Runtime; ``Model`` adds the sessions.
public struct ModelFile: Sendable, Equatable {
    /// Where the model file is on this machine.
    public let path: String
    /// The model's manifest: what its file (or sidecar, or registry row) says.
    public let manifest: ModelManifest
    /// The SHA-256 of the file's bytes, as lowercase hex.
    public let sha256: String

    /// A model file whose manifest and digest are already known (a registry's row).
    public init(path: String, manifest: ModelManifest, sha256: String) {
        self.path = path
        self.manifest = manifest
        self.sha256 = sha256
    }

    /// Reads the manifest and digest of the ONNX model at `path`.
    public static func read(path: String) throws(InferenceError) -> ModelFile {
        guard FileManager.default.isReadableFile(atPath: path) else { throw .model(path, "not found or not readable") }
        let embedded: String?
        do {
            embedded = try ONNXMetadata.value(forKey: "geoinfer.manifest", inModelAt: path)
        } catch {
            throw .model(path, "not an ONNX model GeoInfer can read: \(error)")
        }
        let manifest = try Model.manifest(embedded: embedded, modelPath: path)
        let digest: String
        do { digest = try FileDigest.sha256(path: path) } catch { throw .model(path, "cannot read: \(error)") }
        return ModelFile(path: path, manifest: manifest, sha256: digest)
    }
}

extension ModelManifest {
    /// The tiles a raster is cut into with `overlap`: the one plan that the upload check, the
    /// worker reading a bucket input and the detector all use. Throws when the raster resampled to
    /// the model's resolution holds more than `maxPixels` pixels.
    public func tilePlan(for info: RasterInfo, overlap: Double, maxPixels: Int = Raster.defaultMaxPixels) throws(InferenceError) -> TilePlan
    {
        try TilePlan(
            rasterWidth: info.width, rasterHeight: info.height, tileWidth: inputWidth, tileHeight: inputHeight,
            overlap: overlap, scale: TileReader.scale(for: self, info: info).scale, maxGridPixels: maxPixels)
    }
}

/// One entry of an ONNX model's `metadata_props`, read from the file's protobuf encoding:
/// `ModelProto` field 14 holds `StringStringEntryProto` messages (`key` = 1, `value` = 2). Every
/// other field, the graph with its weights among them, is skipped by its length, so a model of
/// any size costs a few small reads.
enum ONNXMetadata {
    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    /// The value stored under `key`, nil when the model has none.
    static func value(forKey key: String, inModelAt path: String) throws -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw Malformed(description: "cannot open the file") }
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: 0)
        var offset: UInt64 = 0
        func byte() throws -> UInt8 {
            guard offset < size, let b = try handle.read(upToCount: 1)?.first else {
                throw Malformed(description: "ends inside a field at byte \(offset)")
            }
            offset += 1
            return b
        }
        func varint() throws -> UInt64 { try Self.varint(next: byte) }
        func skip(_ n: UInt64) throws {
            guard n <= size - offset else {
                throw Malformed(description: "a field of \(n) bytes runs past the end of the file at byte \(offset)")
            }
            offset += n
            try handle.seek(toOffset: offset)
        }
        while offset < size {
            let tag = try varint()
            switch (tag >> 3, tag & 7) {
            case (_, 0): _ = try varint()
            case (_, 1): try skip(8)
            case (_, 5): try skip(4)
            case (14, 2):
                let length = try varint()
                // A metadata entry is a few kilobytes; a larger one is not worth reading.
                guard length <= 16 << 20, length <= size - offset else {
                    throw Malformed(description: "a metadata entry of \(length) bytes at byte \(offset)")
                }
                guard let entry = try handle.read(upToCount: Int(length)), entry.count == Int(length) else {
                    throw Malformed(description: "ends inside a metadata entry at byte \(offset)")
                }
                offset += length
                if let (k, v) = try Self.entry(entry), k == key { return v }
            case (_, 2): try skip(try varint())
            case (let field, let wire):
                throw Malformed(description: "field \(field) has wire type \(wire), which an ONNX model does not use (byte \(offset))")
            }
        }
        return nil
    }

    /// A protobuf varint (at most 10 bytes) from `next`, one byte at a time.
    static func varint(next: () throws -> UInt8) throws -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: UInt64(0), to: 64, by: 7) {
            let b = try next()
            value |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return value }
        }
        throw Malformed(description: "a number longer than 10 bytes")
    }

    /// The key and value of one `StringStringEntryProto`.
    static func entry(_ data: Data) throws -> (String, String)? {
        let bytes = [UInt8](data)
        var i = 0
        var key: String?
        var value: String?
        func byte() throws -> UInt8 {
            guard i < bytes.count else { throw Malformed(description: "a metadata entry ends inside a number") }
            i += 1
            return bytes[i - 1]
        }
        while i < bytes.count {
            let tag = try varint(next: byte)
            guard tag & 7 == 2 else { throw Malformed(description: "a metadata entry holds a field that is not a string") }
            let length = try varint(next: byte)
            guard length <= UInt64(bytes.count - i) else { throw Malformed(description: "a metadata string runs past its entry") }
            let text = String(decoding: bytes[i..<(i + Int(length))], as: UTF8.self)
            i += Int(length)
            if tag >> 3 == 1 { key = text } else if tag >> 3 == 2 { value = text }
        }
        guard let key else { return nil }
        return (key, value ?? "")
    }
}
