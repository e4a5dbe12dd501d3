public import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A webhook URL that passed the address policy, with the address it was checked against: the
/// deliverer connects to exactly that address, so a DNS answer that changes between the check and
/// the connection (DNS rebinding) cannot send the request elsewhere.
public struct WebhookTarget: Sendable, Equatable {
    /// The URL as given: absolute http(s), with a host and no credentials.
    public let url: URL
    /// The host as written in the URL (sent as `Host`, and used for TLS).
    public let host: String
    /// The checked IP address to connect to.
    public let address: IPAddress
}

/// Resolves a host name to its addresses, blocking the calling thread (the real one is
/// getaddrinfo). Tests pass their own so the deadline can be checked without a DNS server.
typealias HostResolver = @Sendable (String) throws(WebhookError) -> [IPAddress]

/// The SSRF guard: webhooks go only to http(s) URLs whose host resolves to public addresses,
/// unless the allowlist names the host, the address or its range.
public struct WebhookAddressPolicy: Sendable {
    private let hosts: Set<String>
    private let ranges: [IPRange]
    private let resolveTimeout: Duration
    private let resolver: HostResolver

    /// `allowlist` entries are host names (exact, any case), IP addresses or CIDR ranges, e.g.
    /// `127.0.0.1`, `10.0.0.0/8`, `hooks.internal`. A host name that has not resolved within
    /// `resolveTimeout` is refused, so a silent DNS server cannot hold a submit or a delivery.
    public init(allowlist: [String] = [], resolveTimeout: Duration = .seconds(5)) throws(WebhookError) {
        try self.init(allowlist: allowlist, resolveTimeout: resolveTimeout) { (host: String) throws(WebhookError) -> [IPAddress] in
            try WebhookAddressPolicy.systemResolve(host)
        }
    }

    /// The same policy with another resolver in place of getaddrinfo.
    init(allowlist: [String], resolveTimeout: Duration, resolver: @escaping HostResolver) throws(WebhookError) {
        var hosts = Set<String>()
        var ranges: [IPRange] = []
        for raw in allowlist {
            let entry = raw.trimmingCharacters(in: .whitespaces).lowercased()
            guard !entry.isEmpty else { continue }
            if let range = IPRange(entry) {
                ranges.append(range)
            } else if entry.contains("/") {
                throw WebhookError(
                    "invalid_allowlist", "GEOINFER_WEBHOOK_ALLOWLIST entry '\(entry)' is not a valid CIDR range (e.g. 10.0.0.0/8)")
            } else {
                hosts.insert(entry)
            }
        }
        self.hosts = hosts
        self.ranges = ranges
        self.resolveTimeout = resolveTimeout
        self.resolver = resolver
    }

    /// Checks a URL's form, resolves its host and checks every address. Throws a `WebhookError`
    /// whose message says why and what to do.
    public func check(_ text: String) async throws(WebhookError) -> WebhookTarget {
        let (url, host) = try Self.parse(text)
        // "localhost", "localhost." and "*.localhost" are loopback by definition (RFC 6761), whatever
        // a resolver says or fails to say: refused at once, not left for delivery time.
        var bare = host.lowercased()
        while bare.hasSuffix(".") { bare.removeLast() }
        if bare == "localhost" || bare.hasSuffix(".localhost") || Self.metadataNames.contains(bare),
            !hosts.contains(host.lowercased()), !hosts.contains(bare),
            !ranges.contains(where: { range in Self.loopbackV4.map(range.contains) ?? false })
        {
            throw .refused(
                "host \(host.prefix(253)) is a loopback or metadata-server name; webhooks go only to public addresses (an operator can allow it with GEOINFER_WEBHOOK_ALLOWLIST)"
            )
        }
        let addresses: [IPAddress]
        if let literal = IPAddress(host) {
            addresses = [literal]
        } else {
            addresses = try await Self.resolve(host, within: resolveTimeout, using: resolver)
        }
        let allowedHost = hosts.contains(host.lowercased())
        for address in addresses where !allowedHost && !ranges.contains(where: { $0.contains(address) }) {
            if let reason = address.nonPublicReason {
                throw .refused(
                    "host \(host) resolves to \(reason); webhooks go only to public addresses (an operator can allow it with GEOINFER_WEBHOOK_ALLOWLIST)"
                )
            }
        }
        return WebhookTarget(url: url, host: host, address: addresses[0])
    }

    private static let loopbackV4 = IPAddress("127.0.0.1")
    /// Cloud metadata servers' names (their address, 169.254.169.254, is refused as link-local).
    static let metadataNames: Set<String> = ["metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal"]

    /// The URL and its host, if its form is acceptable: absolute http(s), a host, no credentials.
    public static func parse(_ text: String) throws(WebhookError) -> (URL, String) {
        guard text.utf8.count <= 2048 else { throw .invalidURL("is longer than 2048 bytes") }
        guard !text.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control }) else {
            throw .invalidURL("must not contain spaces or control characters (percent-encode them)")
        }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased() else {
            throw .invalidURL("must be an absolute http(s) URL, e.g. https://example.com/hooks/geoinfer")
        }
        guard scheme == "http" || scheme == "https" else { throw .invalidURL("must use http or https (got \(scheme.prefix(20)))") }
        guard url.user == nil, url.password == nil else {
            throw .invalidURL("must not contain credentials; give the receiver a webhook secret to check signatures instead")
        }
        guard var host = url.host, !host.isEmpty else { throw .invalidURL("has no host") }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        // A port past 65535 cannot be connected to (and must never reach the socket layer).
        if let port = url.port, !(1...65535).contains(port) { throw .invalidURL("has port \(port); a port is 1 to 65535") }
        // A colon means an IPv6 literal: one that does not parse (a zone id, say) is refused, not resolved as a name.
        if host.contains(":"), IPAddress(host) == nil {
            throw .invalidURL("has an IPv6 address that cannot be read (zone ids are not allowed)")
        }
        return (url, host)
    }

    /// All addresses of a host name, in resolver order. The resolver blocks (getaddrinfo has no
    /// deadline of its own beyond resolv.conf's retries), so it runs on a thread of its own, off
    /// the cooperative pool, and its answer races `timeout` and the caller's cancellation: the
    /// first of the three is the answer; a resolver still stuck ends later and is ignored.
    static func resolve(_ host: String, within timeout: Duration, using resolver: @escaping HostResolver) async throws(WebhookError)
        -> [IPAddress]
    {
        let name = host.prefix(253)
        let timedOut = WebhookError.unresolved(
            "host \(name) did not resolve within \(secondsText(timeout)) s; check the host name and its DNS servers")
        let cancelled = WebhookError.refused("host \(name) was not resolved: the check was cancelled")
        let first = FirstAnswer()
        Thread.detachNewThread {
            let answer: FirstAnswer.Answer
            do throws(WebhookError) { answer = .success(try resolver(host)) } catch { answer = .failure(error) }
            first.offer(answer)
        }
        let deadline = Task {
            do { try await Task.sleep(for: timeout) } catch { return }
            first.offer(.failure(timedOut))
        }
        defer { deadline.cancel() }
        let answer = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in first.wait(continuation) }
        } onCancel: {
            first.offer(.failure(cancelled))
        }
        let addresses = try answer.get()
        guard !addresses.isEmpty else { throw .unresolved("host \(name) has no IP address") }
        return addresses
    }

    /// A deadline as people write it in seconds: `5`, `0.25`.
    static func secondsText(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        guard attoseconds != 0 else { return "\(seconds)" }
        return "\(Double(seconds) + Double(attoseconds) / 1e18)"
    }

    /// All addresses of a host name by getaddrinfo, in resolver order, without repeats. Blocks;
    /// `resolve` gives it its deadline.
    static func systemResolve(_ host: String) throws(WebhookError) -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &list)
        guard rc == 0, let first = list else {
            throw .unresolved("host \(host.prefix(253)) could not be resolved (\(String(cString: gai_strerror(rc)))); check the host name")
        }
        defer { freeaddrinfo(first) }
        var out: [IPAddress] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let n = node {
            if let sa = n.pointee.ai_addr {
                if n.pointee.ai_family == AF_INET {
                    sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in
                        var a = p.pointee.sin_addr
                        out.append(IPAddress(bytes: withUnsafeBytes(of: &a) { [UInt8]($0) }))
                    }
                } else if n.pointee.ai_family == AF_INET6 {
                    sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                        var a = p.pointee.sin6_addr
                        out.append(IPAddress(bytes: withUnsafeBytes(of: &a) { [UInt8]($0) }))
                    }
                }
            }
            node = n.pointee.ai_next
        }
        var seen = Set<IPAddress>()
        return out.filter { seen.insert($0).inserted }
    }
}

/// The first of several racing answers (resolver, deadline, cancellation), handed exactly once to
/// the waiting continuation, whether it arrives before or after the continuation does; later
/// answers are dropped, so no continuation is resumed twice or left waiting.
private final class FirstAnswer: Sendable {
    typealias Answer = Result<[IPAddress], WebhookError>

    private enum State {
        case empty
        case waiting(CheckedContinuation<Answer, Never>)
        case early(Answer)
        case done
    }

    private let state = Mutex<State>(.empty)

    /// Parks the continuation, or resumes it at once if an answer came first.
    func wait(_ continuation: CheckedContinuation<Answer, Never>) {
        let early: Answer? = state.withLock { current in
            switch current {
            case .empty:
                current = .waiting(continuation)
                return nil
            case .early(let answer):
                current = .done
                return answer
            case .waiting, .done:
                // One wait per lookup by construction; a second would get an answer, never a trap.
                return .failure(.refused("the host name lookup was already answered"))
            }
        }
        if let early { continuation.resume(returning: early) }
    }

    /// Hands `answer` over if it is the first; resumes outside the lock.
    func offer(_ answer: Answer) {
        let waiting: CheckedContinuation<Answer, Never>? = state.withLock { current in
            switch current {
            case .empty:
                current = .early(answer)
                return nil
            case .waiting(let continuation):
                current = .done
                return continuation
            case .early, .done:
                return nil
            }
        }
        waiting?.resume(returning: answer)
    }
}
