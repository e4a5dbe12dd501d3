import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1

/// One signed POST to a checked address.
public struct WebhookRequest: Sendable {
    /// Where to post: the URL, and the checked address to connect to.
    public var target: WebhookTarget
    /// Headers to add, in order (the signature headers).
    public var headers: [(name: String, value: String)]
    /// The JSON payload, sent as is.
    public var body: Data
    /// The whole exchange's limit (default 15 s).
    public var timeout: TimeInterval

    /// `timeout` in seconds.
    public init(target: WebhookTarget, headers: [(name: String, value: String)], body: Data, timeout: TimeInterval = 15) {
        self.target = target
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// What came back: a status and its `Retry-After`, or the transport error when nothing did.
public struct WebhookResponse: Sendable, Equatable {
    /// The HTTP status; nil when no response came back.
    public var statusCode: Int?
    /// The `Retry-After` header as sent, unparsed; nil when absent.
    public var retryAfter: String?
    /// Why no response came back (transport error, timeout, refused address); nil when one did.
    public var error: String?

    /// Every part defaults to nil.
    public init(statusCode: Int? = nil, retryAfter: String? = nil, error: String? = nil) {
        self.statusCode = statusCode
        self.retryAfter = retryAfter
        self.error = error
    }
}

/// Sends webhook requests (a seam for tests of faults a real receiver cannot produce).
public protocol WebhookSender: Sendable {
    /// Posts the request once, following no redirects; a failure comes back in `error`, never thrown.
    func send(_ request: WebhookRequest) async -> WebhookResponse
}

/// Sends over HTTP(S) with async-http-client: connects to the checked address (the URL's host
/// still names the `Host` header and the TLS server name), never follows redirects, and gives up
/// after the timeout.
public struct HTTPWebhookSender: WebhookSender {
    /// Holds no state: each `send` uses a client of its own.
    public init() {}

    /// Posts once; connecting may take at most 10 s of the request's timeout. A timeout or transport failure
    /// comes back in `error` as a short text without URLs or headers.
    public func send(_ request: WebhookRequest) async -> WebhookResponse {
        var config = HTTPClient.Configuration()
        config.redirectConfiguration = .disallow
        config.dnsOverride = [request.target.host: request.target.address.description]
        config.timeout = .init(connect: .seconds(Int64(min(request.timeout, 10))), read: .seconds(Int64(request.timeout)))
        config.decompression = .disabled
        // A refused connection is an answer: fail the attempt now and let the schedule retry it.
        config.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        let response = await exchange(request, client: client)
        try? await client.shutdown()
        return response
    }

    private func exchange(_ request: WebhookRequest, client: HTTPClient) async -> WebhookResponse {
        var http = HTTPClientRequest(url: request.target.url.absoluteString)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        http.headers.add(name: "User-Agent", value: "GeoInfer-Webhooks/1.0")
        for h in request.headers { http.headers.add(name: h.name, value: h.value) }
        http.body = .bytes(ByteBuffer(bytes: request.body))
        do {
            let response = try await client.execute(http, timeout: .milliseconds(Int64(request.timeout * 1000)))
            // The body is read (and dropped) so the exchange completes; a receiver cannot make us hold much.
            _ = try? await response.body.collect(upTo: 64 << 10)
            return WebhookResponse(statusCode: Int(response.status.code), retryAfter: response.headers.first(name: "Retry-After"))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return WebhookResponse(error: "timed out after \(Int(request.timeout)) s")
        } catch {
            return WebhookResponse(error: Self.describe(error))
        }
    }

    /// A short transport error without URLs or headers.
    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        if let e = error as? HTTPClientError { return "HTTP client error: \(e.shortDescription)" }
        if let e = error as? IOError { return "connection failed: \(e.description)" }
        return "connection failed: \(text.prefix(200))"
    }
}
