import Formats
import Foundation
import HTTPTypes
import Hummingbird
import Inference
import Jobs
import Logging
import Storage
import Workers

/// The job routes: `POST /upload`, `POST /jobs` (multipart or JSON), `GET /jobs`, `GET /status/{id}`,
/// `GET`/`DELETE /jobs/{id}`, retry, webhook redelivery and the server-sent events.
extension Routes {
    func registerJobs(on router: Router<BasicRequestContext>) {
        // The original prototype's clients check for 200 here; new clients use POST /jobs (202).
        router.post("upload") { request, context in
            try await guarded(context) {
                var response = try await uploadFiles(request)
                response.status = .ok
                return response
            }
        }
        router.get("status/:id") { request, context in
            try await guarded(context) { StatusBody(try await job(request, context)).response }
        }
        router.get("jobs") { request, context in try await guarded(context) { try await list(request) } }
        router.post("jobs") { request, context in
            try await guarded(context) {
                // Multipart: files uploaded in the request, as POST /upload but answered 202. JSON: bucket inputs.
                if request.headers[.contentType]?.lowercased().hasPrefix("multipart/") == true { return try await uploadFiles(request) }
                let who = try await caller(request)
                guard case .key(let apiKey) = who else { return try await upload.handleBucketJob(request, key: nil) }
                return try await upload.handleBucketJob(request, key: apiKey)
            }
        }
        router.get("jobs/:id") { request, context in
            try await guarded(context) {
                let j = try await job(request, context)
                let (deliveries, attempts) = try await store.deliveryList(job: j.id)
                var copies: JobDetailBody.Storage?
                if let mirror {
                    copies = JobDetailBody.Storage(
                        bucket: "gs://\(mirror.bucket)", uri: mirror.uri(for:), objects: try await store.mirrorList(job: j.id))
                } else if let prefix = j.outputPrefix {
                    copies = JobDetailBody.Storage(bucket: prefix, uri: { $0 }, objects: try await store.mirrorList(job: j.id))
                }
                return JSON.response(
                    JobDetailBody(
                        j, files: try await store.jobFiles(j.id), deliveries: deliveries, attempts: attempts,
                        storage: copies))
            }
        }
        router.delete("jobs/:id") { request, context in
            try await guarded(context) {
                let id = try await job(request, context).id
                guard let j = try await store.jobCancel(id, now: Date()) else { throw APIError.notFound("job") }
                guard j.status == .cancelled else {
                    throw APIError(.conflict, "already_finished", "job \(id) already finished as \(j.status.rawValue); nothing to cancel")
                }
                return JSON.response(StatusBody(j))
            }
        }
        router.post("jobs/:id/retry") { request, context in
            try await guarded(context) {
                let before = try await job(request, context)
                guard before.status == .failed || before.status == .completedWithErrors else {
                    throw APIError(
                        .conflict, "nothing_to_retry",
                        "only jobs that finished with failed files can be retried (this one is \(before.status.rawValue))")
                }
                guard let j = try await store.jobRetryFailed(before.id, now: Date()) else { throw APIError.notFound("job") }
                return JSON.response(StatusBody(j), status: .accepted)
            }
        }
        router.post("jobs/:id/webhook/redeliver") { request, context in
            try await guarded(context) {
                let j = try await job(request, context)
                guard j.webhookURL != nil else {
                    throw APIError(.conflict, "no_webhook", "job \(j.id) was submitted without a webhook_url; there is nothing to deliver")
                }
                guard j.status.isFinal else {
                    throw APIError(.conflict, "not_finished", "job \(j.id) is \(j.status.rawValue): its webhook is sent when it finishes")
                }
                guard let d = try await store.deliveryRedeliver(job: j.id, now: Date()) else {
                    throw APIError.notFound("webhook delivery of job \(j.id)")
                }
                return JSON.response(JobDetailBody.Delivery(d, attempts: []), status: .accepted)
            }
        }
        router.get("jobs/:id/events") { request, context in
            try await guarded(context) {
                let j = try await job(request, context)
                let owner: String? = if case .key(let k) = try await caller(request, cost: 0) { k.id } else { nil }
                guard limits.beginStream(owner) else {
                    var e = APIError(
                        .tooManyRequests, "too_many_streams",
                        "too many event streams open (at most \(limits.maxStreams) in all, \(limits.maxStreamsPerKey) per key); close one or poll GET /status/{id}"
                    )
                    e.headers[.retryAfter] = "5"
                    throw e
                }
                return try await events(j, release: { limits.endStream(owner) })
            }
        }
    }

    /// A job from the files in a multipart request, within the caller's upload slots: 202 Accepted.
    func uploadFiles(_ request: Request) async throws -> Response {
        let who = try await caller(request)
        guard case .key(let apiKey) = who else { return try await upload.handle(request, key: nil) }
        let owner = apiKey.id
        guard limits.beginUpload(owner) else {
            var e = APIError(
                .tooManyRequests, "too_many_uploads",
                "this key already has \(limits.maxUploads) uploads in flight; wait for one to finish")
            e.headers[.retryAfter] = "5"
            throw e
        }
        defer { limits.endUpload(owner) }
        return try await upload.handle(request, key: apiKey)
    }

    func list(_ request: Request) async throws -> Response {
        let who = try await caller(request)
        let q = request.uri.queryParameters
        var status: JobStatus?
        if let s = q.get("status") {
            guard let parsed = JobStatus(rawValue: s) else {
                throw APIError(
                    .badRequest, "invalid_status", "status must be one of \(JobStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            status = parsed
        }
        var limit = 50
        if let l = q.get("limit") {
            guard let parsed = Int(l), (1...500).contains(parsed) else {
                throw APIError(.badRequest, "invalid_limit", "limit must be 1 to 500")
            }
            limit = parsed
        }
        var after: JobRecord?
        if let cursor = q.get("cursor") {
            guard HostileText.isID(cursor), let j = try await store.jobGet(cursor), who.maySee(j) else {
                throw APIError(
                    .notFound, "cursor_not_found", "cursor must be the next_cursor of a previous page (that job no longer exists)")
            }
            after = j
        }
        let jobs = try await store.jobList(status: status, limit: limit, after: after, owner: who.listFilter)
        return JSON.response(JobListBody(jobs: jobs.map(StatusBody.init), next_cursor: jobs.count == limit ? jobs.last?.id : nil))
    }

    /// Server-sent events: `progress` when the job's counts change, `state` when a file's status
    /// changes (every file's at the start), `file` when a file finishes, and `done` when the job is
    /// final (then the stream ends).
    func events(_ start: JobRecord, release: @escaping @Sendable () -> Void) async throws -> Response {
        let store = self.store
        let poll = eventsPoll
        let body = ResponseBody { writer in
            // The slot is given back however the stream ends: done, client gone, or shutdown.
            defer { release() }
            var lastProgress: String?
            var seenStates: [String: FileStatus] = [:]
            var idle = ContinuousClock.now
            while !Task.isCancelled {
                guard let j = try await store.jobGet(start.id) else { break }
                let progress = String(decoding: try JSON.encoder.encode(StatusBody(j)), as: UTF8.self)
                var out = ""
                // `state`: every file's status when the stream starts, then each change, with its
                // pictures once it has them (the map follows a running job from these alone);
                // `file` as well when the change is to a final status.
                for f in try await store.jobFiles(j.id) where seenStates[f.name] != f.status {
                    let state = FileState(
                        name: f.name, status: f.status.rawValue, quicklook: quicklookURL(j, f),
                        thumbnail: quicklookURL(j, f, "thumbnails"))
                    out += "event: state\ndata: \(String(decoding: try JSON.encoder.encode(state), as: UTF8.self))\n\n"
                    if f.status.isFinal {
                        let payload: [String: String] = [
                            "name": f.name, "status": f.status.rawValue, "error": f.error ?? "",
                            "detections": "\(f.detections)",
                        ]
                        out += "event: file\ndata: \(String(decoding: try JSON.encoder.encode(payload), as: UTF8.self))\n\n"
                    }
                    seenStates[f.name] = f.status
                }
                if progress != lastProgress {
                    out += "event: progress\ndata: \(progress)\n\n"
                    lastProgress = progress
                }
                if j.status.isFinal { out += "event: done\ndata: \(progress)\n\n" }
                if out.isEmpty, ContinuousClock.now - idle > .seconds(15) { out = ": keep-alive\n\n" }
                if !out.isEmpty {
                    try await writer.write(ByteBuffer(string: out))
                    idle = .now
                }
                if j.status.isFinal { break }
                try await Task.sleep(for: poll)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }
}
