import Formats
import Foundation
import HTTPTypes
import Hummingbird
import Inference
import Jobs
import Logging
import Storage
import Workers

/// A job's results: its documents, its footprints, and each file's quicklook and thumbnail.
extension Routes {
    func registerResults(on router: Router<BasicRequestContext>) {
        for document in ResultDocument.allCases {
            router.get("results/:id/\(document.fileName)") { request, context in
                try await guarded(context) { try await result(try await job(request, context), document, context: context) }
            }
        }
        router.get("results/:id/footprints.geojson") { request, context in
            // Live at any stage of the job: where each file lies, its state and its quicklook.
            try await guarded(context) {
                let j = try await job(request, context)
                return JSON.response(
                    FootprintCollection(job: j, files: try await store.jobFiles(j.id)), contentType: "application/geo+json")
            }
        }
        for (folder, what, path) in [("quicklooks", "quicklook", layout.quicklookPath), ("thumbnails", "thumbnail", layout.thumbnailPath)] {
            router.get("results/:id/\(folder)/:file") { request, context in
                try await guarded(context) {
                    // A picture costs a fiftieth of a request: a map of a thousand files loads a thousand.
                    let j = try await job(request, context, cost: CallerLimits.pictureCost)
                    let requested = try context.parameters.require("file")
                    // Stored names are sanitised; a name that is not its own sanitised form (`../`, `/`, a leading dot)
                    // is no file of this job, so nothing outside the job's folder is reachable.
                    let name = String(requested.dropLast(4))
                    let file = layout.url(path(j.id, name)).path
                    let valid = requested.hasSuffix(".jpg") && FileNames.sanitize(name) == name
                    if valid, !FileManager.default.fileExists(atPath: file) {
                        do {
                            try await pictures.drawIfMissing(job: j.id, name: name, wanted: URL(fileURLWithPath: file))
                        } catch let error as JobStoreUnavailable {
                            throw error
                        } catch {
                            logger.warning("could not draw a picture", metadata: ["job_id": .string(j.id), "error": "\(error)"])
                        }
                    }
                    guard valid, FileManager.default.fileExists(atPath: file) else {
                        throw APIError.notFound(
                            "\(what) \(requested.prefix(130)) of job \(j.id) (\(folder) exist for files that succeeded)")
                    }
                    return Response(
                        status: .ok, headers: [.contentType: "image/jpeg", .cacheControl: "max-age=3600"],
                        body: try await Self.files.loadFile(path: file, context: context))
                }
            }
        }
    }

    func result(_ j: JobRecord, _ document: ResultDocument, context: BasicRequestContext) async throws -> Response {
        guard j.status.hasResults else {
            throw APIError(
                .conflict, "not_ready", "job \(j.id) is \(j.status.rawValue): results exist once it has finished (see GET /status/\(j.id))")
        }
        guard j.resultDocuments.contains(document) else {
            let merged = document == .mergedGeoJSON || document == .mergedFlatGeobuf
            throw APIError.notFound(
                merged && j.mergedDetections == nil
                    ? "\(document.fileName) of job \(j.id): no file of the job is georeferenced, so there is no merged layer"
                    : "\(document.fileName) of job \(j.id): the job's formats are \(OutputFormat.listText(j.outputFormats)) (choose formats when submitting)"
            )
        }
        let url = layout.result(job: j.id, file: document.fileName)
        if !FileManager.default.fileExists(atPath: url.path), let mirror {
            // Written by a worker on another machine: fetched once from the bucket, then served locally.
            _ = try? await mirror.download("results/\(url.lastPathComponent)", to: url)
        }
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw APIError.notFound("results of job \(j.id)\(mirror == nil ? "" : " (not here and not yet in the bucket)")")
        }
        // Streamed from disk in chunks: a large job's documents are never held whole in memory.
        return Response(
            status: .ok, headers: [.contentType: document.contentType],
            body: try await Self.files.loadFile(path: url.path, context: context))
    }
}
