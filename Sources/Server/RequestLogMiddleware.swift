import Formats
import Hummingbird
import Inference
import Logging

/// Logs one line per request with its request id, method, path, status and duration. Unlike
/// Hummingbird's request logger it leaves out the query string, which may carry webhook URLs
/// with tokens in them.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            log(request, context, status: Int(response.status.code), start: start)
            return response
        } catch {
            log(request, context, status: Int((error as? any HTTPResponseError)?.status.code ?? 500), start: start)
            throw error
        }
    }

    private func log(_ request: Request, _ context: Context, status: Int, start: ContinuousClock.Instant) {
        let ms = ((ContinuousClock.now - start).seconds * 10_000).rounded() / 10
        context.logger.log(
            level: status >= 500 ? .error : .info, "request",
            metadata: [
                "method": .string(request.method.rawValue), "path": .string(request.uri.path),
                "status": .stringConvertible(status), "ms": .stringConvertible(ms),
            ])
    }
}
