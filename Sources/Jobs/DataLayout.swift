public import Foundation

/// Where a job's files live under the data directory (the same names are used in the bucket):
/// `uploads/{job}_{name}`, `results/{job}_coco.json`, `results/{job}_detections.geojson`,
/// `results/{job}_metadata.json`, `results/{job}/quicklooks/{name}.jpg`, `results/{job}/thumbnails/{name}.jpg`, and `temp/` for uploads in flight.
public struct DataLayout: Sendable {
    /// The data directory, as a standardised file URL.
    public let root: URL
    /// This data directory's identity (a UUID kept in `instance_id`, made on first use): mirror
    /// rows name the directory that holds their file, so that in a deployment whose machines each
    /// have their own, only the one that has a file copies it to the bucket.
    public let instance: String

    /// Opens the data directory at `root`: makes `uploads/`, `results/` and `temp/` when missing, and reads or makes `instance_id`.
    public init(root: URL) throws {
        self.root = root.standardizedFileURL
        for sub in ["uploads", "results", "temp"] {
            try FileManager.default.createDirectory(at: self.root.appending(path: sub), withIntermediateDirectories: true)
        }
        instance = try Self.instance(in: self.root)
    }

    /// Reads `instance_id`, or makes it: written under another name, then linked into place, so
    /// two processes starting together agree on the first one's.
    static func instance(in root: URL) throws -> String {
        let path = root.appending(path: "instance_id").path
        func read() -> String? {
            FileManager.default.contents(atPath: path)
                .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
                .flatMap { UUID(uuidString: $0) == nil ? nil : $0 }
        }
        if let known = read() { return known }
        let staging = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))"
        guard FileManager.default.createFile(atPath: staging, contents: Data((UUID().uuidString.lowercased() + "\n").utf8)) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: staging])
        }
        defer { unlink(staging) }
        if link(staging, path) != 0, errno != EEXIST { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        guard let made = read() else { throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: path]) }
        return made
    }

    /// The embedded SQLite store's file: `geoinfer.sqlite` in the root.
    public var databasePath: String { root.appending(path: "geoinfer.sqlite").path }
    /// The `temp/` folder, for uploads in flight and other entries owned by a process (``tempEntry(_:_:)``).
    public var temp: URL { root.appending(path: "temp") }
    /// A `temp/` entry owned by this process: `KIND-PID-REST` (`upload`, `input`, `model`, `truth`), so that a process
    /// starting later removes it only once its owner is gone (``StartupSweep``).
    public func tempEntry(_ kind: String, _ rest: String) -> URL {
        temp.appending(path: "\(kind)-\(ProcessInfo.processInfo.processIdentifier)-\(rest)")
    }
    /// The `results/` folder.
    public var results: URL { root.appending(path: "results") }

    /// The upload's path relative to the root.
    public func uploadPath(job: String, name: String) -> String { "uploads/\(job)_\(name)" }
    /// The URL of a path relative to the root.
    public func url(_ relative: String) -> URL { root.appending(path: relative) }
    /// The prefix of a job's result documents' names in `results/`: `{job}_`.
    public func resultPrefix(job: String) -> String { "\(job)_" }
    /// A job's result document: `results/{job}_{file}`.
    public func result(job: String, file: String) -> URL { results.appending(path: "\(job)_\(file)") }
    /// The quicklook of one file of a job: `results/{job}/quicklooks/{name}.jpg`.
    public func quicklookPath(job: String, name: String) -> String { "results/\(job)/quicklooks/\(name).jpg" }
    /// The quicklook's thumbnail (at most 128 px, no boxes): `results/{job}/thumbnails/{name}.jpg`.
    public func thumbnailPath(job: String, name: String) -> String { "results/\(job)/thumbnails/\(name).jpg" }

    /// Removes every file a job has here: its uploads, its result documents and its pictures
    /// (a discarded job's). Returns how many entries went.
    @discardableResult
    public func removeFiles(ofJob job: String) -> Int {
        let fm = FileManager.default
        var removed = 0
        for (folder, prefix) in [(url("uploads"), "\(job)_"), (results, resultPrefix(job: job))] {
            for entry in (try? fm.contentsOfDirectory(atPath: folder.path)) ?? [] where entry.hasPrefix(prefix) {
                if (try? fm.removeItem(at: folder.appending(path: entry))) != nil { removed += 1 }
            }
        }
        if (try? fm.removeItem(at: results.appending(path: job))) != nil { removed += 1 }
        return removed
    }
}

/// Makes a client's file name safe to store: the last path component only, no control or NUL
/// characters, no leading dots, a limited alphabet, at most 120 characters, and `.tif` kept.
/// Unique within a job: duplicates get `-2`, `-3`, ...
public enum FileNames {
    /// The longest name kept (120 characters).
    public static let maxLength = 120
    /// The longest extension kept as one (16 characters); a longer "extension" is part of the name.
    static let maxExtension = 16

    /// The safe name for a client's file name (`file` when nothing safe is left); not yet unique within the job (``UniqueNames``).
    public static func sanitize(_ original: String) -> String {
        let last = original.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        var out = ""
        for scalar in last.precomposedStringWithCanonicalMapping.unicodeScalars {
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", ".", "-", "_": out.unicodeScalars.append(scalar)
            case " ": out += "_"
            default: if scalar.properties.isAlphabetic || scalar.properties.numericType != nil { out += "_" }
            }
        }
        while out.hasPrefix(".") || out.hasPrefix("-") { out.removeFirst() }
        out = fit(out, suffix: "")
        return out.isEmpty ? "file" : out
    }

    /// `name` with `suffix` put before its extension, within ``maxLength``: the stem is cut, a short
    /// extension kept. `name` has no leading dot, and neither has the result.
    static func fit(_ name: String, suffix: String) -> String {
        let ext = (name as NSString).pathExtension
        let keepExtension = !ext.isEmpty && ext.count <= maxExtension && ext.count + 1 < name.count
        let stem = keepExtension ? String(name.dropLast(ext.count + 1)) : name
        let tail = suffix + (keepExtension ? "." + ext : "")
        return String(stem.prefix(max(1, maxLength - tail.count))) + tail
    }

}

/// The names of one job's files: each sanitised, and made unique (case-insensitively) with `-2`,
/// `-3`, ... before the extension, still within ``FileNames/maxLength``. Ten thousand files of
/// one name cost ten thousand steps, not fifty million: the next suffix of each name is kept.
public struct UniqueNames: Sendable {
    private var taken: Set<String> = []
    private var next: [String: Int] = [:]

    /// No names given yet.
    public init() {}

    /// Names given so far.
    public var count: Int { taken.count }

    /// The stored name for `original`.
    public mutating func add(_ original: String) -> String {
        let base = FileNames.sanitize(original)
        let key = base.lowercased()
        var name = base
        if taken.contains(key) {
            var n = next[key, default: 2]
            repeat {
                name = FileNames.fit(base, suffix: "-\(n)")
                n += 1
            } while taken.contains(name.lowercased())
            next[key] = n
        }
        taken.insert(name.lowercased())
        return name
    }
}
