public import Foundation
import Synchronization

/// Named points in the worker, upload, finalize and outbox paths where a test can stop the process
/// at exactly the state it names: pause there until released, fail the operation, or exit at once.
///
/// Off unless `GEOINFER_FAILPOINTS` is set, and read only then: with it unset a hit is one load of
/// a global and one branch. The value is a `;`-separated list of `name=action`:
///
///     GEOINFER_FAILPOINTS="worker.after_batch=pause;upload.before_commit=1*error"
///
/// - `pause`: the hit creates `$GEOINFER_FAILPOINT_DIR/<name>.<pid>.<n>.paused` (its content is the
///   hit's context, such as the job and file) and waits until that file is removed.
/// - `error`: the operation fails with ``FailpointError``, as if the step itself had failed.
/// - `crash`: the process exits at once with status 86, with no clean-up, as in a power cut.
/// - `off`: nothing (the point is listed but inactive).
///
/// `N*action` acts on the first N hits only, then the point is off.
public enum Failpoint {
    /// Acts on the point `name` when `GEOINFER_FAILPOINTS` names it; otherwise returns at once.
    /// A paused hit ends with `CancellationError` when its task is cancelled (a shutdown).
    public static func hit(_ name: StaticString, context: @autoclosure () -> String = "") async throws {
        guard let registry = FailpointRegistry.shared else { return }
        try await registry.hit("\(name)", context: context())
    }

    /// Checks `GEOINFER_FAILPOINTS` (and the pause folder it needs) once at start-up, so a typo
    /// stops the process with a clear message instead of leaving a point silently off.
    public static func validateEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(FailpointError) {
        guard let spec = environment[FailpointRegistry.specVariable] else { return }
        let rules = try FailpointRegistry.parse(spec)
        if rules.values.contains(where: { $0.action == .pause }), (environment[FailpointRegistry.dirVariable] ?? "").isEmpty {
            throw FailpointError(
                message:
                    "\(FailpointRegistry.specVariable) pauses a point, so \(FailpointRegistry.dirVariable) must name the folder where pauses are announced"
            )
        }
    }
}

/// An operation failed because a failpoint said so, or `GEOINFER_FAILPOINTS` cannot be read.
public struct FailpointError: Error, CustomStringConvertible, Sendable {
    /// What failed: the failpoint's name and context, or what in `GEOINFER_FAILPOINTS` cannot be read.
    public let message: String
    /// The message.
    public var description: String { message }
}

/// The points and actions read from the environment, with how often each was hit.
final class FailpointRegistry: Sendable {
    static let specVariable = "GEOINFER_FAILPOINTS"
    static let dirVariable = "GEOINFER_FAILPOINT_DIR"

    /// Nil unless `GEOINFER_FAILPOINTS` is set and valid (checked at start by `validateEnvironment`).
    static let shared: FailpointRegistry? = {
        let env = ProcessInfo.processInfo.environment
        guard let spec = env[specVariable], let rules = try? parse(spec) else { return nil }
        return FailpointRegistry(rules: rules, dir: env[dirVariable].map { URL(fileURLWithPath: $0) })
    }()

    enum Action: String, Sendable { case pause, error, crash, off }

    struct Rule: Sendable, Equatable {
        var action: Action
        /// Hits left that act (nil: every hit).
        var remaining: Int?
    }

    private let rules: Mutex<[String: Rule]>
    private let hits = Mutex(0)
    private let dir: URL?

    init(rules: [String: Rule], dir: URL?) {
        self.rules = Mutex(rules)
        self.dir = dir
    }

    static func parse(_ spec: String) throws(FailpointError) -> [String: Rule] {
        var rules: [String: Rule] = [:]
        for entry in spec.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else {
                throw FailpointError(message: "\(specVariable): '\(entry)' is not name=action")
            }
            var actionText = Substring(parts[1])
            var remaining: Int?
            if let star = actionText.firstIndex(of: "*") {
                guard let n = Int(actionText[..<star]), n > 0 else {
                    throw FailpointError(message: "\(specVariable): '\(entry)': the count before '*' must be a positive whole number")
                }
                remaining = n
                actionText = actionText[actionText.index(after: star)...]
            }
            guard let action = Action(rawValue: String(actionText)) else {
                throw FailpointError(message: "\(specVariable): '\(entry)': the action must be pause, error, crash or off")
            }
            rules[parts[0]] = Rule(action: action, remaining: remaining)
        }
        return rules
    }

    func hit(_ name: String, context: String) async throws {
        let action: Action = rules.withLock { all in
            guard var rule = all[name] else { return .off }
            if let left = rule.remaining {
                if left <= 0 { return .off }
                rule.remaining = left - 1
                all[name] = rule
            }
            return rule.action
        }
        switch action {
        case .off:
            return
        case .error:
            throw FailpointError(message: "failpoint \(name)")
        case .crash:
            FileHandle.standardError.write(Data("failpoint \(name): crash\n".utf8))
            _exit(86)
        case .pause:
            try await pause(name, context: context)
        }
    }

    /// Announces the pause as a file and waits until a test removes it.
    private func pause(_ name: String, context: String) async throws {
        guard let dir else { return }
        let n = hits.withLock { count in
            count += 1
            return count
        }
        let marker = dir.appending(path: "\(name).\(ProcessInfo.processInfo.processIdentifier).\(n).paused")
        let staging = dir.appending(path: ".\(marker.lastPathComponent).tmp")
        try Data(context.utf8).write(to: staging)
        // Renamed into place so a test never reads a half-written context.
        try FileManager.default.moveItem(at: staging, to: marker)
        while FileManager.default.fileExists(atPath: marker.path) {
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
