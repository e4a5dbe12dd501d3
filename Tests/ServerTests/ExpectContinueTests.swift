import Foundation
import GeoInferTestSupport
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Server

#if canImport(Glibc)
    import Glibc
#endif

/// `Expect: 100-continue`: a client that waits for `100 Continue` before its body (curl does, for
/// bodies over 1 MiB) gets it as its head arrives, and then the route's own answer.
@Suite struct ExpectContinueTests {
    func head(_ version: HTTPVersion, expect: String?) -> HTTPServerRequestPart {
        var headers = HTTPHeaders([("Host", "h"), ("Content-Length", "4")])
        if let expect { headers.add(name: "Expect", value: expect) }
        return .head(HTTPRequestHead(version: version, method: .POST, uri: "/jobs", headers: headers))
    }

    /// The parts the handler sent back, and the head it passed on.
    func run(_ part: HTTPServerRequestPart) throws -> (answers: [HTTPServerResponsePart], passed: HTTPRequestHead?) {
        let channel = EmbeddedChannel(handler: ExpectContinueHandler())
        try channel.writeInbound(part)
        var answers: [HTTPServerResponsePart] = []
        while let answer = try channel.readOutbound(as: HTTPServerResponsePart.self) { answers.append(answer) }
        guard case .head(let passed) = try channel.readInbound(as: HTTPServerRequestPart.self) else { return (answers, nil) }
        return (answers, passed)
    }

    @Test(arguments: ["100-continue", "100-Continue", "100-CONTINUE"])
    func http11AskingForItGetsContinueAndTheExpectationIsNotPassedOn(_ value: String) throws {
        let (answers, passed) = try run(head(.http1_1, expect: value))
        guard answers.count == 1, case .head(let interim) = answers[0] else {
            Issue.record("expected one 100 Continue head, got \(answers)")
            return
        }
        #expect(interim.status == .continue && interim.version == .http1_1)
        #expect(passed?.headers["expect"].isEmpty == true)
        #expect(passed?.headers["content-length"] == ["4"])
    }

    @Test func http10OrNoOrAnotherExpectationGetsNothing() throws {
        for (version, expect) in [(HTTPVersion.http1_0, "100-continue"), (.http1_1, nil), (.http1_1, "something-else")] {
            let (answers, passed) = try run(head(version, expect: expect))
            #expect(answers.isEmpty, "\(version) \(expect ?? "-"): \(answers)")
            #expect(passed?.uri == "/jobs")
        }
        // Body parts go by untouched.
        let channel = EmbeddedChannel(handler: ExpectContinueHandler())
        try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: "data")))
        guard case .body(let body) = try channel.readInbound(as: HTTPServerRequestPart.self) else {
            Issue.record("the body part was not passed on")
            return
        }
        #expect(String(buffer: body) == "data")
    }

    /// Through the service's own pipeline, over a socket: the interim answer comes before the
    /// body is sent, then the upload's own answer once it is.
    @Test func theServiceAnswersContinueBeforeTheBodyThenTheUpload() async throws {
        let server = try await InProcessServer()
        var form = Multipart()
        form.file("a.tif", try Scenes.raster())
        let body = form.body
        let head =
            "POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: \(form.contentType)\r\n"
            + "Content-Length: \(body.count)\r\nExpect: 100-continue\r\n\r\n"
        let port = server.port
        let (interim, final) = try await Fixtures.onOwnThread { try RawHTTP.exchange(port: port, head: head, body: body) }
        try await server.stop()
        #expect(interim.hasPrefix("HTTP/1.1 100 Continue\r\n"), "the first answer was \(interim.debugDescription)")
        #expect(final.hasPrefix("HTTP/1.1 202 "), "the upload's answer was \(final.prefix(300).debugDescription)")
        #expect(final.contains("\"job_id\""))
    }
}

/// A client on a blocking socket that waits for `100 Continue` before its body, as curl does
/// (without curl's one-second give-up: a missing answer fails after 60 s instead).
enum RawHTTP {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Sends `head`, reads an interim answer (up to its blank line), sends `body` once that
    /// answer is `100 Continue`, then reads the final answer until the server closes or its
    /// `Content-Length` is complete.
    static func exchange(port: Int, head: String, body: Data) throws -> (interim: String, final: String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
        defer { close(fd) }
        var limit = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect: \(errno)") }
        try send(fd, Data(head.utf8))
        var received = Data()
        let interim = try readHead(fd, into: &received)
        guard interim.hasPrefix("HTTP/1.1 100 ") else { return (interim, interim + String(decoding: received, as: UTF8.self)) }
        try send(fd, body)
        let finalHead = try readHead(fd, into: &received)
        let length =
            finalHead.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? Int.max
        while received.count < length {
            guard let chunk = try recvSome(fd) else { break }
            received.append(chunk)
        }
        return (interim, finalHead + String(decoding: received, as: UTF8.self))
    }

    /// Bytes up to and including the first blank line; what came after stays in `received`.
    static func readHead(_ fd: Int32, into received: inout Data) throws -> String {
        let blank = Data("\r\n\r\n".utf8)
        while true {
            if let end = received.range(of: blank) {
                let head = String(decoding: received[..<end.upperBound], as: UTF8.self)
                received = Data(received[end.upperBound...])
                return head
            }
            guard let chunk = try recvSome(fd) else {
                throw Failure(description: "the connection closed after \(received.count) bytes of a head")
            }
            received.append(chunk)
        }
    }

    /// Some bytes, nil at the end of the stream; throws when none came within the socket's limit.
    static func recvSome(_ fd: Int32) throws -> Data? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &buffer, buffer.count, 0)
        if n < 0 { throw Failure(description: "no answer within 60 s (recv: \(errno))") }
        return n == 0 ? nil : Data(buffer[0..<n])
    }

    static func send(_ fd: Int32, _ data: Data) throws {
        var sent = 0
        while sent < data.count {
            let n = data.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, data.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send: \(errno)") }
            sent += n
        }
    }
}
