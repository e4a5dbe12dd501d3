import Formats
import Foundation
import HTTPTypes
import Hummingbird
import Inference
import Jobs
import Logging
import Storage
import Workers

/// The dashboard and its map's assets, health, readiness, metrics and the OpenAPI document.
extension Routes {
    func registerOperations(on router: Router<BasicRequestContext>) {
        router.get("/") { request, _ in
            // Browsers get the dashboard; other clients (the prototype's scripts among them) a JSON index.
            guard request.headers[.accept]?.lowercased().contains("text/html") == true else {
                return JSON.response(RootIndex.current)
            }
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/html; charset=utf-8",
                    .contentSecurityPolicy:
                        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:",
                    .cacheControl: "no-cache",
                ], body: .init(byteBuffer: ByteBuffer(string: Dashboard.html)))
        }
        // Leaflet for the dashboard's map, from the server itself (no internet needed).
        router.get("assets/leaflet/:file") { _, context in try assets.response(try context.parameters.require("file")) }
        router.get("assets/leaflet/images/:file") { _, context in try assets.response("images/" + (try context.parameters.require("file")))
        }
        router.get("healthz") { _, _ in JSON.response(["status": "ok"]) }
        router.get("readyz") { _, _ in await readiness() }
        router.get("metrics") { _, context in
            try await guarded(context) {
                Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: try await Telemetry.exposition(store: store))))
            }
        }
        router.get("openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
    }

    /// Whether this process can take work: the job store answers, the model is loaded, and the
    /// data directory has room. 503 with the failing checks otherwise.
    func readiness() async -> Response {
        struct Check: Encodable {
            let ok: Bool
            let detail: String
        }
        var checks: [String: Check] = [:]
        do {
            let (jobs, _) = try await store.counts()
            checks["job_store"] = Check(ok: true, detail: "\(jobs.values.reduce(0, +)) jobs")
        } catch {
            logger.error("readiness: job store unavailable", metadata: ["error": "\(error)"])
            checks["job_store"] = Check(ok: false, detail: "the job store does not answer; see the server log")
        }
        checks["model"] = Check(
            ok: true, detail: "\(upload.models.defaultModel.manifest.name) \(upload.models.defaultModel.manifest.version)")
        if let free = Self.freeBytes(layout.root.path) {
            checks["disk"] = Check(
                ok: free >= minFreeBytes,
                detail: "\(free >> 20) MiB free in the data directory (at least \(minFreeBytes >> 20) MiB wanted)")
        } else {
            checks["disk"] = Check(ok: false, detail: "cannot read the data directory's free space")
        }
        if let mirror {
            // Informational: a bucket outage delays mirroring but takes no work away, so it never fails readiness.
            let problem = await mirror.probe()
            // The bucket is not named: /readyz answers anyone, and the name is where every key's uploads are.
            if let problem { logger.warning("readiness: the mirror bucket is unreachable", metadata: ["error": .string(problem)]) }
            checks["bucket"] = Check(
                ok: true,
                detail: problem == nil
                    ? "the mirror bucket is reachable"
                    : "the mirror bucket is unreachable (objects wait in the mirror outbox); see the server log")
        }
        let ready = checks.values.allSatisfy(\.ok)
        struct Body: Encodable {
            let status: String
            let checks: [String: Check]
        }
        return JSON.response(Body(status: ready ? "ready" : "not_ready", checks: checks), status: ready ? .ok : .serviceUnavailable)
    }

    static func freeBytes(_ path: String) -> Int64? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }
}
