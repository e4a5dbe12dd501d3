import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Makes the answer to a request that cannot be parsed as HTTP (a 200 KiB header, thousands of
/// headers, a malformed request line) JSON like every other error. Hummingbird answers such a
/// request itself, with an empty 400; this handler, placed after the HTTP codec, sees the parse
/// error go by and gives that 400 a JSON body.
final class ParseErrorJSONHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var parseFailed = false
    private static let body =
        #"{"error":{"code":"malformed_request","message":"the request is not valid HTTP/1.1, or its headers are too large or too many (at most 80 KiB and 1,000 headers)"}}"#

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError { parseFailed = true }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard parseFailed, case .head(var head) = unwrapOutboundIn(data), head.status == .badRequest else {
            context.write(data, promise: promise)
            return
        }
        parseFailed = false
        let body = ByteBuffer(string: Self.body)
        head.headerFields[.contentType] = "application/json"
        head.headerFields[.contentLength] = String(body.readableBytes)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: promise)
    }
}
