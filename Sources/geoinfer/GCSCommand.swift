import ArgumentParser
import Foundation
import Storage

/// `geoinfer gcs`: the bucket GeoInfer mirrors to.
struct GCSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gcs",
        abstract: "Set up and inspect the Google Cloud Storage bucket.",
        subcommands: [SetupBucketCommand.self, ListCommand.self, CopyCommand.self])
}

/// The bucket and the GCS access the gcs commands share, from flags over the environment and `.env`.
struct BucketOptions: ParsableArguments {
    @Option(help: "Bucket name (GCP_BUCKET_NAME).")
    var bucket: String?

    func open() async throws -> (GCSBlobStore, [String: String]) {
        let env = try await Environment.load()
        guard let name = bucket ?? env["GCP_BUCKET_NAME"], !name.isEmpty else {
            throw ValidationError("no bucket: pass --bucket or set GCP_BUCKET_NAME (geoinfer init writes it to .env)")
        }
        do {
            let access = try GCSAccess.from(environment: env, http: HTTPTransport())
            return (try access.gcs(bucket: name), env)
        } catch let error as StorageError {
            throw ValidationError(error.description)
        }
    }
}

struct SetupBucketCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup-bucket",
        abstract: "Create the bucket, or bring an existing one to the wanted state (safe to run again).",
        discussion: """
            Location as given; uniform bucket-level access; public access prevention enforced; lifecycle \
            rules: to NEARLINE at 30 days, to COLDLINE at 90 days, delete temp/ objects after 1 day, abort \
            incomplete multipart uploads after 7 days. Lifecycle rules already on the bucket are kept.
            """)

    @OptionGroup var target: BucketOptions

    @Option(help: "Location for a new bucket (GCP_BUCKET_REGION; default us-central1).")
    var location: String?

    @Option(help: "Project that owns a new bucket (GCP_PROJECT).")
    var project: String?

    @Flag(name: .customLong("dry-run"), help: "Print the requests that would be sent, and change nothing.")
    var dryRun = false

    func run() async throws {
        let (store, env) = try await target.open()
        let setup = BucketSetup(
            location: location ?? env["GCP_BUCKET_REGION"].flatMap { $0.isEmpty ? nil : $0 } ?? "us-central1",
            project: project ?? env["GCP_PROJECT"])
        let (steps, notes): ([BucketSetup.Step], [String])
        do {
            (steps, notes) = try await store.setUp(setup, dryRun: dryRun)
        } catch let error as StorageError {
            throw ValidationError(error.description)
        }
        for note in notes { FileHandle.standardError.write(Data("warning: \(note)\n".utf8)) }
        if steps.isEmpty {
            print("gs://\(store.bucket) already has the wanted settings; nothing changed")
            return
        }
        for step in steps {
            print(
                dryRun ? "would send \(step.method) \(step.url)" : "\(step.method == "POST" ? "created" : "updated") gs://\(store.bucket):")
            for line in step.summary { print("  - \(line)") }
            if dryRun { print(step.body) }
        }
    }
}

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List a job's objects in the bucket.")

    @Argument(help: "Job id.")
    var job: String

    @OptionGroup var target: BucketOptions

    func run() async throws {
        let (store, _) = try await target.open()
        guard job.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }), !job.isEmpty else {
            throw ValidationError("'\(job)' is not a job id")
        }
        var objects: [BlobInfo] = []
        do {
            for prefix in ["uploads/\(job)_", "results/\(job)_", "results/\(job)/"] {
                objects += try await store.list(prefix: prefix)
            }
        } catch let error as StorageError {
            throw ValidationError(error.description)
        }
        guard !objects.isEmpty else {
            FileHandle.standardError.write(Data("no objects of job \(job) in gs://\(store.bucket)\n".utf8))
            throw ExitCode.failure
        }
        for o in objects.sorted(by: { $0.name < $1.name }) {
            print("\(String(o.size).padding(toLength: 12, withPad: " ", startingAt: 0)) \(o.crc32c ?? "-")  \(store.uri(for: o.name))")
        }
    }
}

struct CopyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cp",
        abstract: "Copy a local file to gs://bucket/name, or an object to a local file, checked by CRC32C.",
        discussion:
            "Large files go in resumable chunks (GEOINFER_GCS_CHUNK_BYTES). An object is never overwritten: the same bytes already there succeed, other bytes fail."
    )

    @Argument(help: "Source: a local file or gs://bucket/name.") var source: String
    @Argument(help: "Destination: gs://bucket/name or a local file.") var destination: String

    func run() async throws {
        let env = try await Environment.load()
        let http = HTTPTransport()
        defer { Task { await http.shutdown() } }
        do {
            let access = try GCSAccess.from(environment: env, http: http)
            let started = Date()
            let info: BlobInfo
            switch (source.hasPrefix("gs://"), destination.hasPrefix("gs://")) {
            case (false, true):
                let to = try GSURI(destination)
                guard !to.isPrefix else { throw ValidationError("name the object: \(destination) ends with '/'") }
                guard FileManager.default.fileExists(atPath: source) else { throw ValidationError("\(source) does not exist") }
                info = try await access.gcs(bucket: to.bucket).put(file: URL(fileURLWithPath: source), as: to.name)
            case (true, false):
                let from = try GSURI(source)
                info = try await access.gcs(bucket: from.bucket).download(from.name, to: URL(fileURLWithPath: destination))
            default:
                throw ValidationError("copy between a local file and a gs:// URI (one of each)")
            }
            let seconds = Date().timeIntervalSince(started)
            print(
                "\(info.size) bytes in \(String(format: "%.2f", seconds)) s (\(String(format: "%.1f", Double(info.size) / 1e6 / max(seconds, 1e-6))) MB/s), crc32c \(info.crc32c ?? "-")"
            )
        } catch let error as StorageError {
            throw ValidationError(error.description)
        }
    }
}

/// `geoinfer init`: writes the `.env` that `serve` and the gcs commands read.
struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a .env with the GCS settings, from flags or prompts.",
        discussion: "Never overwrites an existing file without --force. Checks that the key file exists and warns when others can read it.")

    @Option(help: "Bucket name (GCP_BUCKET_NAME).") var bucket: String?
    @Option(help: "Bucket location (GCP_BUCKET_REGION; default us-central1).") var region: String?
    @Option(help: "Project id (GCP_PROJECT).") var project: String?
    @Option(help: "Service-account key file (GOOGLE_APPLICATION_CREDENTIALS); empty for gcloud or metadata-server credentials.")
    var credentials: String?
    @Option(name: .customLong("enable-upload"), help: "Mirror uploads and results to the bucket (ENABLE_GCP_UPLOAD; default true).")
    var enableUpload: Bool?
    @Option(help: "File to write.") var path = ".env"
    @Flag(help: "Replace an existing file.") var force = false

    func run() async throws {
        if FileManager.default.fileExists(atPath: path) && !force {
            throw ValidationError("\(path) exists; pass --force to replace it")
        }
        let interactive = isatty(0) != 0
        func ask(_ question: String, _ given: String?, default value: String) -> String {
            if let given { return given }
            guard interactive else { return value }
            print("\(question) [\(value)]: ", terminator: "")
            let answer = readLine()?.trimmingCharacters(in: .whitespaces) ?? ""
            return answer.isEmpty ? value : answer
        }
        let bucket = ask("Bucket name", self.bucket, default: "")
        guard !bucket.isEmpty else { throw ValidationError("a bucket name is needed: pass --bucket") }
        do { try GCSConfiguration.validate(bucket: bucket) } catch let e as StorageError { throw ValidationError(e.description) }
        let region = ask("Bucket location", self.region, default: "us-central1")
        let project = ask("Project id (needed to create the bucket)", self.project, default: "")
        let key = ask("Service-account key file (empty: gcloud or metadata server)", credentials, default: "")
        let enable =
            enableUpload
            ?? (["y", "yes", "true", "1"].contains(
                ask("Mirror uploads and results to the bucket? (yes/no)", nil, default: "yes").lowercased()))
        if !key.isEmpty {
            guard let attrs = try? FileManager.default.attributesOfItem(atPath: key) else {
                throw ValidationError("the key file \(key) does not exist")
            }
            if let mode = (attrs[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0 {
                FileHandle.standardError.write(
                    Data("warning: \(key) can be read by other users (mode \(String(mode, radix: 8))); run chmod 600 \(key)\n".utf8))
            }
        }
        let quote = { (v: String) in
            v.contains(where: { " #\"'$".contains($0) }) ? "\"\(v.replacingOccurrences(of: "\"", with: "\\\""))\"" : v
        }
        var lines = ["# GeoInfer settings, read by geoinfer serve and geoinfer gcs (the environment wins over this file)."]
        lines.append("ENABLE_GCP_UPLOAD=\(enable)")
        lines.append("GCP_BUCKET_NAME=\(quote(bucket))")
        lines.append("GCP_BUCKET_REGION=\(quote(region))")
        if !project.isEmpty { lines.append("GCP_PROJECT=\(quote(project))") }
        if !key.isEmpty { lines.append("GOOGLE_APPLICATION_CREDENTIALS=\(quote(key))") }
        let text = lines.joined(separator: "\n") + "\n"
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write \(path)")
        }
        print("wrote \(path); next: geoinfer gcs setup-bucket, then geoinfer serve")
    }
}
