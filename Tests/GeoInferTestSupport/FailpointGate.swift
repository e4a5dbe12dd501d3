public import Foundation

/// The test's side of `GEOINFER_FAILPOINTS`: the environment that arms points in a process it
/// starts, and the folder where that process announces each paused hit, so the test can wait for
/// an exact state, act on it (cancel, kill, freeze), and then release it.
public struct FailpointGate: Sendable {
    /// Where paused hits appear as `<name>.<pid>.<n>.paused` files.
    public let dir: URL

    public init() {
        dir = Fixtures.temporaryDirectory("failpoints")
    }

    /// The environment for a process with these points armed, e.g. `["worker.after_batch": "pause"]`.
    public func environment(_ points: [String: String]) -> [String: String] {
        let spec = points.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";")
        return ["GEOINFER_FAILPOINTS": spec, "GEOINFER_FAILPOINT_DIR": dir.path]
    }

    /// One paused hit: which process, which hit, and what the process said about it.
    public struct Paused: Sendable, CustomStringConvertible {
        public let file: URL
        public let name: String
        public let pid: Int32
        public let context: String
        public var description: String { "\(name) in pid \(pid) (\(context))" }
    }

    /// Hits paused right now, oldest first.
    public func paused(_ name: String, pid: Int32? = nil) -> [Paused] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return entries.compactMap { entry -> (Int, Paused)? in
            guard entry.hasPrefix(name + "."), entry.hasSuffix(".paused") else { return nil }
            let rest = entry.dropFirst(name.count + 1).dropLast(".paused".count).split(separator: ".")
            guard rest.count == 2, let p = Int32(rest[0]), let n = Int(rest[1]), pid == nil || pid == p else { return nil }
            let url = dir.appendingPathComponent(entry)
            let context = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
            return (n, Paused(file: url, name: name, pid: p, context: context))
        }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Waits until a process (any, or `pid`) is paused at `name`; fails after `timeout` saying so.
    /// `alive` is asked on every look, so a process that died is reported at once, not at the deadline.
    @discardableResult
    public func waitPaused(
        _ name: String, pid: Int32? = nil, timeout: Duration = .seconds(60),
        alive: () -> Bool = { true }, diagnostics: () -> String = { "" }
    ) async throws -> Paused {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let hit = paused(name, pid: pid).first { return hit }
            guard alive() else { throw GateFailure("the process exited before it paused at \(name): \(diagnostics())") }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw GateFailure("no process paused at failpoint \(name)\(pid.map { " (pid \($0))" } ?? "") within \(timeout): \(diagnostics())")
    }

    /// Lets a paused hit go on.
    public func release(_ hit: Paused) throws {
        try FileManager.default.removeItem(at: hit.file)
    }

    /// Lets every hit paused at `name` go on.
    public func releaseAll(_ name: String) {
        for hit in paused(name) { try? release(hit) }
    }
}

/// A wait on a failpoint that ran out, with what it waited for.
public struct GateFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
