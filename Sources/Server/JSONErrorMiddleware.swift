import Hummingbird

/// Every answer is JSON: errors the router or Hummingbird raise themselves (an unknown route, a
/// body over a collect limit) become `{"error": {"code", "message"}}` like the API's own.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            var mapped: APIError
            switch error.status {
            case .notFound:
                mapped = APIError(
                    .notFound, "not_found", "no such route: \(request.method.rawValue) \(request.uri.path.prefix(200)) (see /openapi.json)")
            case .contentTooLarge:
                mapped = APIError(.contentTooLarge, "body_too_large", "the request body is too large for this route")
            default:
                mapped = APIError(
                    error.status, "http_\(error.status.code)", error.body.map { String($0.prefix(300)) } ?? error.status.reasonPhrase)
            }
            mapped.headers = error.headers
            throw mapped
        }
    }
}
