import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Answers a request that asks for it (`Expect: 100-continue`, HTTP/1.1) with `100 Continue` as
/// its head arrives, so the client sends its body at once. curl asks so for every body over 1 MiB,
/// then waits a second for the answer before it sends the body anyway: every large upload began
/// with a second of nothing (BENCHMARKS.md). The final answer comes as for any request, once the
/// route has run. A request of HTTP/1.0 asking so is answered without it, as RFC 9110 (10.1.1)
/// requires, and an expectation other than `100-continue` is ignored, as it allows.
///
/// Sits in front of the HTTP/1 to HTTP types codec, where the request's version is still known;
/// ``Installer``, among Hummingbird's additional handlers (which come after that codec), puts it
/// there.
final class ExpectContinueHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), Self.expectsContinue(head.headers) else {
            context.fireChannelRead(data)
            return
        }
        // Answered here: nothing after this handler acts on the expectation again.
        head.headers.remove(name: "expect")
        if head.version.major == 1, head.version.minor >= 1 {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
        }
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    /// Whether the headers hold the `100-continue` expectation (its value is case-insensitive).
    static func expectsContinue(_ headers: HTTPHeaders) -> Bool {
        headers[canonicalForm: "expect"].contains { $0.lowercased() == "100-continue" }
    }

    /// Puts an ``ExpectContinueHandler`` in front of the channel's HTTP/1 to HTTP types codec as it
    /// is added (after that codec), and otherwise passes everything on.
    final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart
        typealias InboundOut = HTTPRequestPart

        func handlerAdded(context: ChannelHandlerContext) {
            let pipeline = context.pipeline.syncOperations
            guard let codec = try? pipeline.handler(type: HTTP1ToHTTPServerCodec.self) else { return }
            try? pipeline.addHandler(ExpectContinueHandler(), position: .before(codec))
        }
    }
}
