import Formats
import Foundation
import HTTPTypes
import Hummingbird
import Inference
import Jobs
import Logging
import Storage
import Workers

/// The HTTP API. Every route answers JSON; errors are `{"error": {"code", "message"}}`.
struct Routes: Sendable {
    let store: any JobStore
    let layout: DataLayout
    let upload: UploadHandler
    /// The bucket that mirrors the data directory (nil: none).
    let mirror: GCSBlobStore?
    /// How often server-sent events look for changes (default 0.25 s).
    let eventsPoll: Duration
    let logger: Logger
    /// `/readyz` fails when the data directory has less free space than this.
    let minFreeBytes: Int64
    /// Whether every call but health, metrics and the OpenAPI document needs an API key.
    let requireKeys: Bool
    /// Request rate and uploads in flight, per key.
    let limits: CallerLimits
    /// Leaflet's files for the dashboard's map.
    let assets: MapAssets
    /// Quicklooks and thumbnails drawn on their first request.
    let pictures: Pictures

    func register(on router: Router<BasicRequestContext>) {
        registerJobs(on: router)
        registerResults(on: router)
        registerOperations(on: router)
        registerKeys(on: router)
        registerModels(on: router)
        // Other methods on known paths: 405 with the allowed ones, not 404.
        let allowed = Self.table
        for (path, methods) in allowed {
            for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete, .options, .trace, HTTPRequest.Method("QUERY")!]
            where !methods.contains(method) {
                router.on(RouterPath(path), method: method) { _, _ -> Response in
                    var error = APIError(
                        .methodNotAllowed, "method_not_allowed",
                        "\(method.rawValue) is not allowed here; use \(methods.map(\.rawValue).joined(separator: ", "))")
                    error.headers[.allow] = methods.map(\.rawValue).joined(separator: ", ")
                    throw error
                }
            }
        }
    }

    /// Every route: its path (Hummingbird's syntax) and methods. The 405 answers are built from it,
    /// and a test checks the OpenAPI document lists exactly these.
    static let table: [(path: String, methods: [HTTPRequest.Method])] = fixedRoutes + resultRoutes

    private static let resultRoutes: [(path: String, methods: [HTTPRequest.Method])] =
        ResultDocument.allCases.map { (path: "results/:id/" + $0.fileName, methods: [HTTPRequest.Method.get]) }

    private static let fixedRoutes: [(path: String, methods: [HTTPRequest.Method])] = [
        ("upload", [.post]), ("status/:id", [.get]), ("jobs", [.get, .post]), ("jobs/:id", [.get, .delete]),
        ("jobs/:id/retry", [.post]), ("jobs/:id/webhook/redeliver", [.post]), ("jobs/:id/events", [.get]),
        ("results/:id/quicklooks/:file", [.get]),
        ("results/:id/thumbnails/:file", [.get]), ("results/:id/footprints.geojson", [.get]),
        ("assets/leaflet/:file", [.get]), ("assets/leaflet/images/:file", [.get]), ("openapi.json", [.get]),
        ("healthz", [.get]), ("readyz", [.get]), ("metrics", [.get]), ("/", [.get]),
        ("keys", [.get, .post]), ("keys/:id", [.delete]), ("models", [.get]), ("models/:name", [.get]),
    ]

    /// Reads result documents and quicklooks from disk in chunks.
    static let files = FileIO()

    /// Maps every error to an API error: store failures are 503, the rest 500, never a stack trace.
    func guarded(_ context: BasicRequestContext, _ body: () async throws -> Response) async throws -> Response {
        do { return try await body() } catch let e as APIError { throw e } catch let e as HTTPError {
            throw e  // Hummingbird's own (a file gone between the check and the read): JSONErrorMiddleware answers it.
        } catch is CancellationError {
            throw APIError(.serviceUnavailable, "shutting_down", "the server is shutting down; retry shortly")
        } catch let error as JobStoreUnavailable {
            context.logger.error("job store unavailable", metadata: ["error": "\(error)"])
            throw APIError(
                .serviceUnavailable, "store_unavailable", "the job database is unreachable right now; nothing was changed, retry shortly")
        } catch {
            // The request's own logger: the line carries its request id.
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            throw APIError(.internalServerError, "internal", "the request failed on the server; it has been logged")
        }
    }

    /// The caller, from `Authorization: Bearer KEY`. Without a key: anonymous where keys are
    /// optional, else 401.
    func caller(_ request: Request, cost: Double = 1) async throws -> Caller {
        guard let header = request.headers[.authorization] else {
            guard !requireKeys else {
                throw APIError.unauthorized(
                    "this server needs an API key: send Authorization: Bearer KEY (an operator makes one with geoinfer keys create)")
            }
            return .anonymous
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty, parts[1].count <= 200 else {
            throw APIError.unauthorized("the Authorization header must be 'Bearer KEY'")
        }
        guard let key = try await store.keyFind(hash: APIKeys.hash(String(parts[1]))) else {
            throw APIError.unauthorized("unknown or revoked API key")
        }
        if cost > 0, let wait = limits.take(key.id, cost: cost) {
            var e = APIError(
                .tooManyRequests, "rate_limited",
                "too many requests for this key (\(limits.rate) a second); retry after the Retry-After seconds")
            e.headers[.retryAfter] = "\(Int(wait.rounded(.up)))"
            throw e
        }
        return .key(key)
    }

    /// The job named in the path, if the caller may see it; another key's job is 404, as if it did not exist.
    /// `cost`: what the request takes from the key's request rate (1: a request; 0: nothing).
    func job(_ request: Request, _ context: BasicRequestContext, cost: Double = 1) async throws -> JobRecord {
        let who = try await caller(request, cost: cost)
        let id = try context.parameters.require("id")
        guard HostileText.isID(id), let j = try await store.jobGet(id.lowercased()), who.maySee(j) else {
            throw APIError.notFound("job \(HostileText.isID(id) ? id : "with that id")")
        }
        return j
    }

}
