public import Foundation

/// A model in the registry: one version of one named detector, its file kept under the data
/// directory (and, with a mirror bucket, at the same name in the bucket), with what its manifest
/// says and the metrics it was registered with. The pair (`name`, `version`) is unique; a
/// version's file never changes (its SHA-256 is part of the row).
public struct ModelRecord: Codable, Sendable, Equatable {
    /// The model's name (see ``ModelReference``).
    public var name: String
    /// The version, unique within `name`; ordered by ``VersionOrder``.
    public var version: String
    /// The SHA-256 of the ONNX file.
    public var sha256: String
    /// Where the file lies, relative to the data directory (`models/{name}/{version}/model.onnx`);
    /// the mirror bucket holds it under the same name.
    public var path: String
    /// The ONNX file's size in bytes.
    public var sizeBytes: Int
    /// The model's manifest (JSON), so that a process without the file can plan tiles.
    public var manifest: String
    /// Validation metrics given when the model was added (JSON object; nil: none).
    public var metrics: String?
    /// When the version was registered.
    public var addedAt: Date

    /// A registry row from its columns.
    public init(
        name: String, version: String, sha256: String, path: String, sizeBytes: Int, manifest: String, metrics: String?, addedAt: Date
    ) {
        self.name = name
        self.version = version
        self.sha256 = sha256
        self.path = path
        self.sizeBytes = sizeBytes
        self.manifest = manifest
        self.metrics = metrics
        self.addedAt = addedAt
    }

    /// `name@version`.
    public var reference: String { "\(name)@\(version)" }

    /// Where a model's file is kept, relative to the data directory and in the mirror bucket.
    public static func storedPath(name: String, version: String) -> String { "models/\(name)/\(version)/model.onnx" }
}

/// Why the registry refused a change.
public enum ModelRegistryError: Error, Equatable, CustomStringConvertible {
    /// `name@version` is registered with another file.
    case conflict(reference: String, sha256: String)
    /// Jobs that are not final use the version.
    case inUse(reference: String, jobs: Int)

    /// The refusal, worded for the caller, with what to do instead.
    public var description: String {
        switch self {
        case .conflict(let reference, let sha256):
            "\(reference) is already registered with another file (sha256 \(sha256.prefix(12))…): give the new one another version"
        case .inUse(let reference, let jobs):
            "\(reference) is used by \(jobs) job(s) that are not finished: remove it once they are, or cancel them"
        }
    }
}

/// A model as a caller names it: `name` or `name@version`. Names and versions are 1 to 64
/// characters of letters, digits, `.`, `_` and `-`, starting with a letter or digit, so they are
/// safe as folder names and object names.
public struct ModelReference: Sendable, Equatable, CustomStringConvertible {
    /// The model's name.
    public let name: String
    /// nil: the highest version of `name`.
    public let version: String?

    /// A name or version that breaks the naming rule.
    public struct Invalid: Error, Equatable, CustomStringConvertible {
        /// The rule that was broken, worded for the caller.
        public let description: String
    }

    /// Checks both parts; throws ``Invalid`` when either is not a valid name or version.
    public init(name: String, version: String?) throws(Invalid) {
        guard Self.isValidPart(name) else { throw Invalid(description: Self.rule("name")) }
        if let version, !Self.isValidPart(version) { throw Invalid(description: Self.rule("version")) }
        self.name = name
        self.version = version
    }

    /// Parses `name` or `name@version`.
    public init(parsing text: String) throws(Invalid) {
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        try self.init(name: String(parts[0]), version: parts.count == 2 ? String(parts[1]) : nil)
    }

    /// `name`, or `name@version` when a version is given.
    public var description: String { version.map { "\(name)@\($0)" } ?? name }

    /// Whether `part` may be a model's name or version.
    public static func isValidPart(_ part: String) -> Bool {
        let bytes = Array(part.utf8)
        guard (1...64).contains(bytes.count), let first = bytes.first, isAlphanumeric(first) else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    private static func isAlphanumeric(_ b: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
    }

    private static func rule(_ what: String) -> String {
        "a model is named name or name@version; its \(what) must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    }
}

/// The order of versions: dot- or dash-separated parts, numbers compared as numbers (`1.10` after
/// `1.9`), other parts as text; a version that is a prefix of another comes first.
public enum VersionOrder {
    /// Whether version `a` comes before version `b`.
    public static func less(_ a: String, _ b: String) -> Bool {
        let pa = parts(a)
        let pb = parts(b)
        for (x, y) in zip(pa, pb) where x != y {
            switch (UInt64(x), UInt64(y)) {
            case (let u?, let v?): return u < v
            case (_?, nil): return true
            case (nil, _?): return false
            case (nil, nil): return x < y
            }
        }
        return pa.count < pb.count
    }

    private static func parts(_ v: String) -> [Substring] { v.split(whereSeparator: { $0 == "." || $0 == "-" }) }
}
