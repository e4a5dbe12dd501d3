public import Foundation

/// A blob store in a local folder: the reference implementation of `BlobStore`, and the layout
/// of the data directory. Custom metadata and content types are kept beside the objects in
/// `.blobmeta/{name}.json`.
public struct LocalBlobStore: BlobStore {
    /// The folder, as a standardized file URL.
    public let root: URL

    /// Uses `root`, creating it and its parents when missing; throws when it cannot.
    public init(root: URL) throws {
        self.root = root.standardizedFileURL
        try FileManager.default.createDirectory(at: self.root, withIntermediateDirectories: true)
    }

    /// `file:///root/name`.
    public func uri(for name: String) -> String { root.appending(path: name).absoluteString }

    private struct Sidecar: Codable {
        var contentType: String
        var metadata: [String: String]
        var crc32c: String
    }

    private func path(_ name: String) throws -> URL {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard !name.isEmpty, !name.hasPrefix("/"), !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." || $0 == ".blobmeta" }),
            !name.contains("\0")
        else {
            throw StorageError.configuration("invalid object name '\(name)'")
        }
        return root.appending(path: name)
    }

    private func sidecar(_ name: String) -> URL { root.appending(path: ".blobmeta/\(name).json") }

    /// Copies `file` in as `name`, with its content type, metadata and CRC32C in the sidecar; never overwrites,
    /// as `BlobStore.put` says. Throws `StorageError.configuration` for an invalid name.
    public func put(file: URL, as name: String, contentType: String, metadata: [String: String]) async throws -> BlobInfo {
        let target = try path(name)
        let (crc, _) = try fileChecksum(file)
        if let existing = try await info(name) {
            guard existing.crc32c == CRC32C.base64(crc) else { throw StorageError.alreadyExists(name) }
            return existing
        }
        let fm = FileManager.default
        try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temp = target.deletingLastPathComponent().appending(path: ".\(target.lastPathComponent).\(UUID().uuidString).part")
        do {
            try fm.copyItem(at: file, to: temp)
            let side = Sidecar(contentType: contentType, metadata: metadata, crc32c: CRC32C.base64(crc))
            try fm.createDirectory(at: sidecar(name).deletingLastPathComponent(), withIntermediateDirectories: true)
            try JSONEncoder().encode(side).write(to: sidecar(name), options: .atomic)
            try moveReplacing(temp, to: target)
        } catch {
            try? fm.removeItem(at: temp)
            throw StorageError.local("cannot store \(name): \(error.localizedDescription)")
        }
        guard let stored = try await info(name) else { throw StorageError.local("\(name) vanished after it was stored") }
        return stored
    }

    /// Size, CRC32C, content type and metadata from the file and its sidecar (computed or guessed without one); nil when absent.
    public func info(_ name: String) async throws -> BlobInfo? {
        let url = try path(name)
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: url.path),
            (attrs[.type] as? FileAttributeType) == .typeRegular
        else { return nil }
        let side = (try? Data(contentsOf: sidecar(name))).flatMap { try? JSONDecoder().decode(Sidecar.self, from: $0) }
        let crc = try side?.crc32c ?? CRC32C.base64(fileChecksum(url).crc32c)
        return BlobInfo(
            name: name, size: (attrs[.size] as? NSNumber)?.int64Value ?? 0, crc32c: crc,
            contentType: side?.contentType ?? ContentType.guess(name), metadata: side?.metadata ?? [:],
            updated: attrs[.modificationDate] as? Date)
    }

    /// Copies the object to `file` (replaced atomically), checking its CRC32C; throws `StorageError.notFound` when absent.
    public func download(_ name: String, to file: URL) async throws -> BlobInfo {
        guard let info = try await info(name) else { throw StorageError.notFound(name) }
        let fm = FileManager.default
        let temp = file.deletingLastPathComponent().appending(path: ".\(file.lastPathComponent).\(UUID().uuidString).part")
        do {
            try fm.copyItem(at: try path(name), to: temp)
            guard CRC32C.base64(try fileChecksum(temp).crc32c) == info.crc32c else {
                throw StorageError.checksumMismatch(name: name, expected: info.crc32c ?? "", actual: "local copy differs")
            }
            try moveReplacing(temp, to: file)
        } catch {
            try? fm.removeItem(at: temp)
            throw error
        }
        return info
    }

    /// Bytes `range` of the file, fewer at its end; throws `StorageError.notFound` when absent.
    public func read(_ name: String, range: Range<Int64>) async throws -> Data {
        guard let handle = try? FileHandle(forReadingFrom: try path(name)) else { throw StorageError.notFound(name) }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(range.lowerBound))
        return try handle.read(upToCount: Int(range.count)) ?? Data()
    }

    /// Every object whose name starts with `prefix`, in name order; sidecars and unfinished `.part` files are skipped.
    public func list(prefix: String) async throws -> [BlobInfo] {
        var names: [String] = []
        var stack = [""]
        let fm = FileManager.default
        while let dir = stack.popLast() {
            let url = dir.isEmpty ? root : root.appending(path: dir)
            for entry in (try? fm.contentsOfDirectory(atPath: url.path)) ?? [] where entry != ".blobmeta" && !entry.hasSuffix(".part") {
                let name = dir.isEmpty ? entry : "\(dir)/\(entry)"
                var isDir: ObjCBool = false
                _ = fm.fileExists(atPath: root.appending(path: name).path, isDirectory: &isDir)
                if isDir.boolValue { stack.append(name) } else if name.hasPrefix(prefix) { names.append(name) }
            }
        }
        var out: [BlobInfo] = []
        for name in names.sorted() { if let i = try await info(name) { out.append(i) } }
        return out
    }

    /// Removes the file and its sidecar; false when it was not there.
    public func delete(_ name: String) async throws -> Bool {
        let url = try path(name)
        guard FileManager.default.fileExists(atPath: url.path) else { return false }
        try FileManager.default.removeItem(at: url)
        try? FileManager.default.removeItem(at: sidecar(name))
        return true
    }
}
