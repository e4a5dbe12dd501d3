import Foundation
import HTTPTypes
import Testing

@testable import Server

/// The route table (from which the 405 answers are built) and the OpenAPI document list the same
/// paths and methods: a route added to one and not the other fails here.
@Suite struct RouteTableTests {
    @Test func theOpenAPIDocumentListsExactlyTheRoutes() throws {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let methods: Set<String> = ["get", "post", "put", "patch", "delete", "options", "head", "trace"]
        let documented = Set(
            paths.flatMap { path, operations in operations.keys.filter(methods.contains).map { "\($0.uppercased()) \(path)" } })
        let routed = Set(
            Routes.table.flatMap { route in
                route.methods.map { "\($0.rawValue) \(Self.openAPIPath(route.path))" }
            })
        #expect(
            routed == documented,
            "only routed: \(routed.subtracting(documented).sorted()); only documented: \(documented.subtracting(routed).sorted())")
    }

    /// `jobs/:id` → `/jobs/{job_id}`, `keys/:id` → `/keys/{key_id}`, `:file` → `{file}`, `:name` → `{name}`.
    static func openAPIPath(_ route: String) -> String {
        guard route != "/" else { return "/" }
        let parts = route.split(separator: "/").map { part -> String in
            switch part {
            case ":id": return route.hasPrefix("keys/") ? "{key_id}" : "{job_id}"
            case ":file": return "{file}"
            case ":name": return "{name}"
            default: return String(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }
}
