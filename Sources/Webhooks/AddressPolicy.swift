public import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A webhook URL that passed the address policy, with the address it was checked against: the
/// deliverer connects to exactly that address, so a DNS answer that changes between the check and
/// the connection (DNS rebinding) cannot send the request elsewhere.
public struct WebhookTarget: Sendable, Equatable {
    public let url: URL
    /// The host as written in the URL (sent as `Host`, and used for TLS).
    public let host: String
    /// The checked IP address to connect to.
    public let address: IPAddress
}

/// The SSRF guard: webhooks go only to http(s) URLs whose host resolves to public addresses,
/// unless the allowlist names the host, the address or its range.
public struct WebhookAddressPolicy: Sendable {
    private let hosts: Set<String>
    private let ranges: [IPRange]

    /// `allowlist` entries are host names (exact, any case), IP addresses or CIDR ranges, e.g.
    /// `127.0.0.1`, `10.0.0.0/8`, `hooks.internal`.
    public init(allowlist: [String] = []) throws(WebhookError) {
        var hosts = Set<String>()
        var ranges: [IPRange] = []
        for raw in allowlist {
            let entry = raw.trimmingCharacters(in: .whitespaces).lowercased()
            guard !entry.isEmpty else { continue }
            if let range = IPRange(entry) {
                ranges.append(range)
            } else if entry.contains("/") {
                throw WebhookError("invalid_allowlist", "GEOINFER_WEBHOOK_ALLOWLIST entry '\(entry)' is not a valid CIDR range (e.g. 10.0.0.0/8)")
            } else {
                hosts.insert(entry)
            }
        }
        self.hosts = hosts
        self.ranges = ranges
    }

    /// Checks a URL's form, resolves its host and checks every address. Throws a `WebhookError`
    /// whose message says why and what to do.
    public func check(_ text: String) async throws(WebhookError) -> WebhookTarget {
        let (url, host) = try Self.parse(text)
        let addresses: [IPAddress]
        if let literal = IPAddress(host) {
            addresses = [literal]
        } else {
            addresses = try await Self.resolve(host)
        }
        let allowedHost = hosts.contains(host.lowercased())
        for address in addresses where !allowedHost && !ranges.contains(where: { $0.contains(address) }) {
            if let reason = address.nonPublicReason {
                throw .refused("host \(host) resolves to \(reason); webhooks go only to public addresses (an operator can allow it with GEOINFER_WEBHOOK_ALLOWLIST)")
            }
        }
        return WebhookTarget(url: url, host: host, address: addresses[0])
    }

    /// The URL and its host, if its form is acceptable: absolute http(s), a host, no credentials.
    public static func parse(_ text: String) throws(WebhookError) -> (URL, String) {
        guard text.utf8.count <= 2048 else { throw .invalidURL("is longer than 2048 bytes") }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased() else {
            throw .invalidURL("must be an absolute http(s) URL, e.g. https://example.com/hooks/geoinfer")
        }
        guard scheme == "http" || scheme == "https" else { throw .invalidURL("must use http or https (got \(scheme.prefix(20)))") }
        guard url.user == nil, url.password == nil else {
            throw .invalidURL("must not contain credentials; give the receiver a webhook secret to check signatures instead")
        }
        guard var host = url.host, !host.isEmpty else { throw .invalidURL("has no host") }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (url, host)
    }

    /// All addresses of a host name, in resolver order (getaddrinfo, off the async executors).
    static func resolve(_ host: String) async throws(WebhookError) -> [IPAddress] {
        let result: Result<[IPAddress], WebhookError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var hints = addrinfo()
                hints.ai_family = AF_UNSPEC
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var list: UnsafeMutablePointer<addrinfo>?
                let rc = getaddrinfo(host, nil, &hints, &list)
                guard rc == 0, let first = list else {
                    continuation.resume(returning: .failure(.refused("host \(host.prefix(253)) could not be resolved (\(String(cString: gai_strerror(rc)))); check the host name")))
                    return
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
                out = out.filter { seen.insert($0).inserted }
                continuation.resume(returning: out.isEmpty ? .failure(.refused("host \(host.prefix(253)) has no IP address")) : .success(out))
            }
        }
        return try result.get()
    }
}
