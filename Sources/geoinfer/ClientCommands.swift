import ArgumentParser
import AsyncHTTPClient
import Foundation
import Inference
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Upload GeoTIFFs (files or folders) to a GeoInfer server as one job.")

    @Argument(
        help:
            "GeoTIFF files, or folders searched for *.tif / *.tiff; or gs:// URIs of objects or prefixes (read from the bucket, not uploaded)."
    )
    var paths: [String]

    @OptionGroup var server: ServerOption

    @Option(help: "URL to notify when the job ends.")
    var webhook: String?

    @Option(name: .customLong("webhook-secret"), help: "This job's own whsec_ signing secret (default: the server's).")
    var webhookSecret: String?

    @Option(name: .customLong("idempotency-key"), help: "Retrying with the same key returns the same job instead of a new one.")
    var idempotencyKey: String?

    @Option(name: .customLong("score-threshold"), help: "Minimum score kept, 0 to 1 (default: the model's).")
    var scoreThreshold: Double?

    @Option(help: "Fraction of a tile shared with its neighbour, 0 to 0.9 (default 0.2).")
    var overlap: Double?

    @Option(help: "Comma-separated result formats among coco, geojson, gpkg, fgb (default coco,geojson).")
    var formats: String?

    @Option(name: .customLong("out-crs"), help: "CRS of the GeoPackage and FlatGeobuf layers, as EPSG:n (default: most rasters' CRS).")
    var outCRS: String?

    @Option(name: .customLong("output-prefix"), help: "gs://bucket/prefix/ where the server also writes the job's result documents.")
    var outputPrefix: String?

    @Option(help: "iou or ios: how overlapping boxes are measured when suppressed, within a file and across files (default iou).")
    var nms: String?

    @Option(help: "The model to run: name or name@version, as GET /models lists them (default: the server's default model).")
    var model: String?

    @Option(
        name: .customLong("ground-truth"),
        help:
            "Labels to score the results against when the job ends (CSV, VOC XML, COCO JSON, GeoJSON, GeoPackage, FlatGeobuf; a gs:// URI for bucket inputs); the scores go in metadata.json."
    )
    var groundTruth: String?

    @Flag(help: "Follow processing until the job ends (like `watch`).")
    var wait = false

    func run() async throws {
        let client = server.client
        if paths.contains(where: Self.isRemote) { return try await submitFromBucket(client) }
        let files = try Self.collect(paths)
        guard !files.isEmpty else { throw ValidationError("no .tif/.tiff files found in \(paths.joined(separator: " "))") }
        let console = Console()
        try await client.probe()
        let bar = ProgressBar(console: console, label: "upload \(files.count) files", unit: "MiB")
        var fields: [(String, String)] = []
        if let webhook { fields.append(("webhook_url", webhook)) }
        if let webhookSecret { fields.append(("webhook_secret", webhookSecret)) }
        if let scoreThreshold { fields.append(("score_threshold", "\(scoreThreshold)")) }
        if let overlap { fields.append(("overlap", "\(overlap)")) }
        if let formats { fields.append(("formats", formats)) }
        if let outCRS { fields.append(("out_crs", outCRS)) }
        if let outputPrefix { fields.append(("output_prefix", outputPrefix)) }
        if let nms { fields.append(("nms", nms)) }
        if let model { fields.append(("model", model)) }
        var truth: URL?
        if let groundTruth {
            guard FileManager.default.fileExists(atPath: groundTruth) else {
                throw ValidationError("--ground-truth \(groundTruth) does not exist")
            }
            truth = URL(fileURLWithPath: groundTruth)
        }
        let total = try MultipartFileBody(files: files, fields: fields, groundTruth: truth, progress: { _ in }).length()
        // Progress in MiB sent.
        let counted = MultipartFileBody(
            files: files, fields: fields, groundTruth: truth,
            progress: { sent in
                bar.update(TileProgress(file: "", tilesDone: Int(sent >> 20), tilesTotal: Int(max(1, total >> 20))))
            })
        var request = client.request(client.base + "/jobs")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: counted.contentType)
        if let idempotencyKey { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        request.body = .stream(counted, length: .known(total))
        let (status, body) = try await client.send(request, timeout: .hours(24))
        bar.finish()
        try await accepted(status, body, refusal: "upload refused", client: client, console: console)
    }

    /// Prints the new job's id from a 202, then follows it with `--wait`; anything else fails with the server's message.
    private func accepted(_ status: Int, _ body: Data, refusal: String, client: APIClient, console: Console) async throws {
        guard status == 202, let json = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let id = json["job_id"] as? String
        else {
            console.error("\(refusal) (\(status)): \(APIClient.message(body))")
            throw ExitCode.failure
        }
        print(id)
        console.log("job \(id): \(json["message"] ?? "")")
        if wait { try await WatchCommand.follow(client: client, id: id, console: console) }
    }

    /// A raster the server reads itself: a gs:// URI or an http(s) URL.
    static func isRemote(_ path: String) -> Bool {
        path.hasPrefix("gs://") || path.hasPrefix("https://") || path.hasPrefix("http://")
    }

    /// `POST /jobs` with the gs:// URIs and http(s) URLs: the server reads the rasters where they are.
    private func submitFromBucket(_ client: APIClient) async throws {
        guard paths.allSatisfy(Self.isRemote) else {
            throw ValidationError("give either local files or gs:// URIs and http(s) URLs, not both (they make two jobs)")
        }
        let console = Console()
        var body: [String: Any] = ["inputs": paths]
        if let webhook { body["webhook_url"] = webhook }
        if let webhookSecret { body["webhook_secret"] = webhookSecret }
        if let scoreThreshold { body["score_threshold"] = scoreThreshold }
        if let overlap { body["overlap"] = overlap }
        if let formats { body["formats"] = formats }
        if let outCRS { body["out_crs"] = outCRS }
        if let outputPrefix { body["output_prefix"] = outputPrefix }
        if let nms { body["nms"] = nms }
        if let model { body["model"] = model }
        if let groundTruth { body["ground_truth"] = groundTruth }
        var request = client.request(client.base + "/jobs")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let idempotencyKey { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
        let (status, reply) = try await client.send(request, timeout: .minutes(10))
        try await accepted(status, reply, refusal: "job refused", client: client, console: console)
    }

    static func collect(_ paths: [String]) throws -> [URL] {
        var out: [URL] = []
        for p in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else { throw ValidationError("\(p) does not exist") }
            if isDir.boolValue {
                let items = FileManager.default.enumerator(atPath: p)?.allObjects as? [String] ?? []
                out += items.filter { ["tif", "tiff"].contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
                    .map { URL(fileURLWithPath: p).appending(path: $0) }
            } else {
                out.append(URL(fileURLWithPath: p))
            }
        }
        return out
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Print a job's status as JSON.")

    @Argument(help: "Job id.")
    var job: String

    @OptionGroup var server: ServerOption

    func run() async throws {
        let client = server.client
        let (status, body) = try await client.get("/jobs/\(job)")
        guard status == 200 else {
            Console().error("\(status) \(APIClient.message(body))")
            throw ExitCode.failure
        }
        print(String(decoding: body, as: UTF8.self))
    }
}

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract:
            "Follow a job's progress (server-sent events) until it ends. Exit status: 0 completed, 2 completed with errors, 1 otherwise.")

    @Argument(help: "Job id.")
    var job: String

    @OptionGroup var server: ServerOption

    func run() async throws {
        try await Self.follow(client: server.client, id: job, console: Console())
    }

    static func follow(client: APIClient, id: String, console: Console) async throws {
        try await client.probe()
        let request = client.request(client.base + "/jobs/\(id)/events")
        let response = try await APIClient.http.execute(request, timeout: .hours(24 * 7))
        guard response.status.code == 200 else {
            let body = try await response.body.collect(upTo: 1 << 20)
            console.error("\(response.status.code) \(APIClient.message(Data(buffer: body)))")
            throw ExitCode.failure
        }
        let bar = ProgressBar(console: console, label: "job \(id.prefix(8))", unit: "%")
        var pending = ""
        var final: [String: Any] = [:]
        for try await chunk in response.body {
            pending += String(buffer: chunk)
            while let range = pending.range(of: "\n\n") {
                let event = String(pending[..<range.lowerBound])
                pending.removeSubrange(..<range.upperBound)
                var name = ""
                var data = ""
                for line in event.split(separator: "\n") {
                    if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                    if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
                }
                let json = (try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any]) ?? [:]
                switch name {
                case "progress", "done":
                    let p = json["progress"] as? Double ?? 0
                    bar.update(TileProgress(file: "", tilesDone: Int(p.rounded()), tilesTotal: 100))
                    if name == "done" { final = json }
                case "file" where json["status"] as? String == "failed":
                    bar.finish()
                    console.error("\(json["name"] ?? ""): failed: \(json["error"] ?? "")")
                default: break
                }
            }
        }
        bar.finish()
        let status = final["status"] as? String ?? "unknown"
        console.log(
            "job \(id) \(status): \(final["processed_files"] ?? 0)/\(final["total_files"] ?? 0) files, \(final["failed_files"] ?? 0) failed"
        )
        switch status {
        case "completed": return
        case "completed_with_errors": throw ExitCode(2)
        default: throw ExitCode.failure
        }
    }
}

struct ResultsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "results", abstract: "Download a finished job's COCO, GeoJSON and metadata documents.")

    @Argument(help: "Job id.")
    var job: String

    @OptionGroup var server: ServerOption

    @Option(help: "Output folder.")
    var out: String = "."

    func run() async throws {
        let client = server.client
        let dir = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // The documents the job has (its formats, and the merged layer when it has one).
        let (jobStatus, jobBody) = try await client.get("/jobs/\(job)")
        guard jobStatus == 200, let json = try? JSONSerialization.jsonObject(with: jobBody) as? [String: Any] else {
            Console().error("job \(job): \(jobStatus) \(APIClient.message(jobBody))")
            throw ExitCode.failure
        }
        guard let links = json["results"] as? [String: String] else {
            Console().error("job \(job) is \(json["status"] ?? "not finished"): results exist once it has finished")
            throw ExitCode.failure
        }
        let names = links.values.compactMap { $0.split(separator: "/").last.map(String.init) }.sorted()
        for name in names {
            let (status, body) = try await client.get("/results/\(job)/\(name)")
            guard status == 200 else {
                Console().error("\(name): \(status) \(APIClient.message(body))")
                throw ExitCode.failure
            }
            let url = dir.appending(path: "\(job)_\(name)")
            try body.write(to: url, options: .atomic)
            print(url.path)
        }
    }
}

/// `--server`, shared by the client commands.
struct ServerOption: ParsableArguments {
    @Option(name: .customLong("server"), help: "Server URL (GEOINFER_SERVER, else API_BASE, else http://127.0.0.1:8000).")
    var url: String?

    @Option(name: .customLong("api-key"), help: "API key, sent as Authorization: Bearer (GEOINFER_API_KEY).")
    var apiKey: String?

    var client: APIClient {
        APIClient(
            base: APIClient.base(url),
            apiKey: apiKey ?? ProcessInfo.processInfo.environment["GEOINFER_API_KEY"].flatMap { $0.isEmpty ? nil : $0 })
    }
}
