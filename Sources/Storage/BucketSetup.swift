import Foundation

/// The state `geoinfer gcs setup-bucket` brings a bucket to: its location, uniform bucket-level
/// access, public access prevention enforced, and lifecycle rules — objects to NEARLINE at 30 days
/// and COLDLINE at 90, `temp/` objects deleted after a day, incomplete multipart uploads aborted
/// after 7 days. Rules already on the bucket are kept.
public struct BucketSetup: Sendable {
    /// The bucket's location, uppercased (e.g. `US`, `EUROPE-WEST1`); an existing bucket keeps its own.
    public var location: String
    /// The project a missing bucket is created in (`GCP_PROJECT` or `--project`); nil: a missing bucket is an error.
    public var project: String?

    /// `location` is uppercased; `project` is needed only to create a bucket that does not exist.
    public init(location: String, project: String?) {
        self.location = location.uppercased()
        self.project = project
    }

    /// The lifecycle rules the bucket gets, in the JSON API's form.
    public static var lifecycleRules: [[String: Any]] {
        [
            [
                "action": ["type": "SetStorageClass", "storageClass": "NEARLINE"],
                "condition": ["age": 30, "matchesStorageClass": ["STANDARD"]],
            ],
            [
                "action": ["type": "SetStorageClass", "storageClass": "COLDLINE"],
                "condition": ["age": 90, "matchesStorageClass": ["STANDARD", "NEARLINE"]],
            ],
            ["action": ["type": "Delete"], "condition": ["age": 1, "matchesPrefix": ["temp/"]]],
            ["action": ["type": "AbortIncompleteMultipartUpload"], "condition": ["age": 7]],
        ]
    }

    static var iamConfiguration: [String: Any] {
        [
            "uniformBucketLevelAccess": ["enabled": true],
            "publicAccessPrevention": "enforced",
        ]
    }

    /// One request the set-up makes (or would make, with `--dry-run`).
    public struct Step: Sendable {
        /// `POST` (create the bucket) or `PATCH` (update it).
        public var method: String
        /// The JSON API URL the request goes to.
        public var url: String
        /// The request body: JSON, pretty-printed with sorted keys.
        public var body: String
        /// What the step changes, in words.
        public var summary: [String]
    }

    /// The steps that bring `current` (nil: the bucket does not exist) to the wanted state.
    public func plan(bucket: String, current: [String: Any]?, bucketURL: String, endpoint: String) throws -> (
        steps: [Step], notes: [String]
    ) {
        guard let current else {
            guard let project, !project.isEmpty else {
                throw StorageError.configuration("the bucket \(bucket) does not exist; set GCP_PROJECT (or --project) to create it")
            }
            let body: [String: Any] = [
                "name": bucket, "location": location, "iamConfiguration": Self.iamConfiguration,
                "lifecycle": ["rule": Self.lifecycleRules],
            ]
            return (
                [
                    Step(
                        method: "POST", url: "\(endpoint)/storage/v1/b?project=\(GCSBlobStore.encode(project))", body: try Self.json(body),
                        summary: [
                            "create bucket \(bucket) in \(location)", "enable uniform bucket-level access",
                            "enforce public access prevention",
                        ] + Self.lifecycleRules.map(Self.describe))
                ], []
            )
        }
        var patch: [String: Any] = [:]
        var summary: [String] = []
        var notes: [String] = []
        if let have = current["location"] as? String, have.uppercased() != location {
            notes.append("the bucket is in \(have), not \(location); a bucket's location cannot change (kept as is)")
        }
        let iam = current["iamConfiguration"] as? [String: Any] ?? [:]
        let ubla = (iam["uniformBucketLevelAccess"] as? [String: Any])?["enabled"] as? Bool ?? false
        let pap = iam["publicAccessPrevention"] as? String
        if !ubla || pap != "enforced" {
            patch["iamConfiguration"] = Self.iamConfiguration
            if !ubla { summary.append("enable uniform bucket-level access") }
            if pap != "enforced" { summary.append("enforce public access prevention") }
        }
        let rules = (current["lifecycle"] as? [String: Any])?["rule"] as? [[String: Any]] ?? []
        let missing = Self.lifecycleRules.filter { wanted in !rules.contains { Self.matches($0, wanted) } }
        if !missing.isEmpty {
            patch["lifecycle"] = ["rule": rules + missing]
            summary += missing.map(Self.describe)
        }
        guard !patch.isEmpty else { return ([], notes) }
        return ([Step(method: "PATCH", url: bucketURL, body: try Self.json(patch), summary: summary)], notes)
    }

    /// One lifecycle rule in words, e.g. `lifecycle: to NEARLINE after 30 days`.
    public static func describe(_ rule: [String: Any]) -> String {
        let action = rule["action"] as? [String: Any] ?? [:]
        let condition = rule["condition"] as? [String: Any] ?? [:]
        let age = condition["age"].map { "\($0)" } ?? "?"
        switch action["type"] as? String {
        case "SetStorageClass": return "lifecycle: to \(action["storageClass"] ?? "?") after \(age) days"
        case "Delete":
            return
                "lifecycle: delete \((condition["matchesPrefix"] as? [String])?.joined(separator: ", ") ?? "objects") after \(age) day(s)"
        case "AbortIncompleteMultipartUpload": return "lifecycle: abort incomplete multipart uploads after \(age) days"
        default: return "lifecycle: \(action)"
        }
    }

    static func json(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self)
    }

    /// Whether `have` says at least what `want` says: every key of `want` present with an equal
    /// value (lists compared as sets), extra keys on the bucket ignored.
    static func matches(_ have: Any?, _ want: Any) -> Bool {
        switch want {
        case let w as [String: Any]:
            guard let h = have as? [String: Any] else { return false }
            return w.allSatisfy { matches(h[$0.key], $0.value) }
        case let w as [Any]:
            guard let h = have as? [Any] else { return false }
            return Set(w.map { "\($0)" }) == Set(h.map { "\($0)" })
        default:
            guard let have else { return false }
            return "\(have)" == "\(want)"
        }
    }
}

extension GCSBlobStore {
    /// The bucket's resource, nil when it does not exist.
    public func bucketResource() async throws -> [String: Any]? {
        let answer = try await withRetries("get bucket \(bucket)", policy: config.retry) { _ in try await exchange("GET", bucketURL) }
        if answer.status == 404 { return nil }
        guard answer.status == 200, let json = try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any] else {
            throw StorageError.http(status: answer.status, operation: "get bucket \(bucket)", message: answer.message)
        }
        return json
    }

    /// Brings the bucket to `setup`'s state; with `dryRun` only plans. Returns the steps (made or planned) and notes.
    public func setUp(_ setup: BucketSetup, dryRun: Bool) async throws -> (steps: [BucketSetup.Step], notes: [String]) {
        let current = try await bucketResource()
        let plan = try setup.plan(bucket: bucket, current: current, bucketURL: bucketURL, endpoint: config.endpoint)
        if !dryRun {
            for step in plan.steps {
                let body = try JSONSerialization.jsonObject(with: Data(step.body.utf8))
                _ = try await call("\(step.method == "POST" ? "create" : "update") bucket \(bucket)", step.method, step.url, json: body)
            }
        }
        return plan
    }

    /// Whether the bucket answers (for readiness): nil when it does, else why not.
    public func probe() async -> String? {
        do {
            let answer = try await exchange("GET", bucketURL, transient: false)
            return answer.status == 200 ? nil : "HTTP \(answer.status): \(answer.message)"
        } catch {
            return "\(error)"
        }
    }
}
