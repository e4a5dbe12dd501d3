import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

@testable import Server

/// The idle limit, on a channel whose time the test moves: only time the server spends asking
/// the client for bytes counts.
@Suite struct ClientIdleHandlerTests {
    let limit = TimeAmount.seconds(60)

    /// A channel with the handler, active (as a new connection is).
    func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: ClientIdleHandler(limit: .seconds(60)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    let head = HTTPRequestPart.head(HTTPRequest(method: .post, scheme: "http", authority: "h", path: "/jobs"))
    let body = HTTPRequestPart.body(ByteBuffer(string: "part"))

    @Test func aConnectionThatNeverSendsARequestIsClosed() throws {
        let channel = try channel()
        channel.read()
        channel.embeddedEventLoop.advanceTime(by: limit - .seconds(1))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test func aClientThatStopsSendingItsBodyIsClosedALimitAfterItsLastPart() throws {
        let channel = try channel()
        channel.read()
        try channel.writeInbound(head)
        channel.read()
        channel.embeddedEventLoop.advanceTime(by: .seconds(50))
        try channel.writeInbound(body)
        channel.read()
        channel.embeddedEventLoop.advanceTime(by: .seconds(50))
        #expect(channel.isActive, "closed 50 s after a part")
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(!channel.isActive)
    }

    @Test func aBodyTheServerHoldsBackIsNotIdle() throws {
        let channel = try channel()
        channel.read()
        try channel.writeInbound(head)
        channel.read()
        try channel.writeInbound(body)
        // The service asks for no more (its checks are busy): its own wait, however long.
        channel.embeddedEventLoop.advanceTime(by: .seconds(600))
        #expect(channel.isActive)
        // It asks again: the client's wait starts then.
        channel.read()
        channel.embeddedEventLoop.advanceTime(by: limit - .seconds(1))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test func anAnswerInTheMakingIsNotIdleAndTheNextRequestsWaitStartsAtItsEnd() throws {
        let channel = try channel()
        channel.read()
        try channel.writeInbound(head)
        try channel.writeInbound(HTTPRequestPart.end(nil))
        // A read is asked for while the answer streams (an event stream, say).
        channel.read()
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        channel.embeddedEventLoop.advanceTime(by: .seconds(600))
        #expect(channel.isActive)
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: limit - .seconds(1))
        #expect(channel.isActive, "closed before a limit had passed since the answer's end")
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }
}
