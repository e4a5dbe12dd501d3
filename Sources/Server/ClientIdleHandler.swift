import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose client has sent nothing for `limit` while the server was waiting
/// for it: between requests, or in the middle of a request's body (a stalled upload gives its
/// slot back).
///
/// Only time the server spends *asking* for bytes counts. An upload whose body the server has
/// stopped reading for a while (its files' checks are busy, and the body waits meanwhile) is not
/// idle, however long that lasts: no read is asked for, so none is missing. A connection whose
/// request has been read and whose answer is still being made or sent (an event stream) is not
/// idle either. Hummingbird's own idle timer counts from the last part read, whoever was waiting,
/// and so cut off a large upload on a loaded server while its bytes sat unread in the socket.
///
/// Placed after the HTTP codec: it sees request and response parts, and the reads the service
/// asks for on their way to the socket (the service's backpressure holds those back).
final class ClientIdleHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limit: TimeAmount
    /// Since when the server has asked for bytes and none have come (nil: not waiting).
    private var waitingSince: NIODeadline?
    /// A request whose head has been read and whose end has not.
    private var requestOpen = false
    /// Requests read whose answer has not ended.
    private var answersOwed = 0
    private var timer: Scheduled<Void>?

    init(limit: Duration) {
        let (seconds, attoseconds) = limit.components
        self.limit = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// Whether the time since `waitingSince` is the client's to answer for.
    private var clientsTurn: Bool { requestOpen || answersOwed == 0 }

    /// A new connection waits for its first request from the start.
    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startWaiting(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startWaiting(context)
        context.fireChannelActive()
    }

    private func startWaiting(_ context: ChannelHandlerContext) {
        if waitingSince == nil { waitingSince = context.eventLoop.now }
        arm(context)
    }

    func read(context: ChannelHandlerContext) {
        if waitingSince == nil {
            waitingSince = context.eventLoop.now
            arm(context)
        }
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        waitingSince = nil
        switch unwrapInboundIn(data) {
        case .head:
            requestOpen = true
            answersOwed += 1
        case .body: break
        case .end: requestOpen = false
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            answersOwed = max(0, answersOwed - 1)
            // The next request's wait starts now, not when the read for it was asked.
            if waitingSince != nil { waitingSince = context.eventLoop.now }
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    /// A check at the end of the current wait (one at a time; a check finding a later wait sets
    /// the next one).
    private func arm(_ context: ChannelHandlerContext) {
        guard timer == nil, let since = waitingSince else { return }
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: since + limit) { [self] in
            timer = nil
            guard let since = waitingSince else { return }
            if !clientsTurn {
                // The answer is the server's to finish: looked at again a limit later.
                waitingSince = context.eventLoop.now
                arm(context)
            } else if context.eventLoop.now >= since + limit {
                context.close(promise: nil)
            } else {
                arm(context)
            }
        }
    }
}
