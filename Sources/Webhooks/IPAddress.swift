import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IPv4 or IPv6 address as bytes (4 or 16), with the ranges a webhook must never reach.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// Network byte order: 4 bytes for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    /// Parses a literal address (`203.0.113.7`, `2001:db8::1`, with or without brackets).
    public init?(_ text: String) {
        var t = text
        if t.hasPrefix("["), t.hasSuffix("]") { t = String(t.dropFirst().dropLast()) }
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, t, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { [UInt8]($0) }
        } else if inet_pton(AF_INET6, t, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { [UInt8]($0) }
        } else {
            return nil
        }
    }

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// True for 4 bytes; an IPv4-mapped IPv6 address (16 bytes) is not IPv4 here.
    public var isV4: Bool { bytes.count == 4 }

    /// The usual text form (`203.0.113.7`, `2001:db8::1`), without brackets.
    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        var copy = bytes
        _ = inet_ntop(isV4 ? AF_INET : AF_INET6, &copy, &buffer, socklen_t(buffer.count))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether the first `prefix` bits equal those of `network` (same family only).
    func matches(_ network: IPAddress, prefix: Int) -> Bool {
        guard network.bytes.count == bytes.count else { return false }
        var left = prefix
        for (a, b) in zip(bytes, network.bytes) {
            guard left > 0 else { return true }
            let mask: UInt8 = left >= 8 ? 0xFF : ~(0xFF >> UInt8(left))
            if a & mask != b & mask { return false }
            left -= 8
        }
        return true
    }

    /// The IPv4 addresses an IPv6 address carries, each with the words that name where it sits.
    /// A packet to such an address can reach that IPv4 host (through this host's own dual stack,
    /// a NAT64 translator or a 6to4/Teredo relay), so each is judged by the IPv4 rules.
    var embeddedV4: [(form: String, address: IPAddress)] {
        guard !isV4 else { return [] }
        let last32 = IPAddress(bytes: Array(bytes[12..<16]))
        if matches(Self.mapped, prefix: 96) { return [("an IPv4-mapped IPv6 address embedding", last32)] }
        if matches(Self.translated, prefix: 96) { return [("an IPv4-translated IPv6 address embedding", last32)] }
        // :: and ::1 sit in this range too; the blocked list names them before this is asked.
        if matches(Self.compatible, prefix: 96) { return [("an IPv4-compatible IPv6 address embedding", last32)] }
        if matches(Self.nat64, prefix: 96) { return [("a NAT64 address embedding", last32)] }
        if matches(Self.sixToFour, prefix: 16) { return [("a 6to4 address embedding", IPAddress(bytes: Array(bytes[2..<6])))] }
        if matches(Self.teredo, prefix: 32) { return teredoV4 }
        return []
    }

    /// A Teredo address carries two IPv4 addresses: its server's in bits 32..63 and its client's,
    /// every bit inverted, in the last 32 bits; a relay may forward to either.
    private var teredoV4: [(form: String, address: IPAddress)] {
        [
            ("a Teredo address whose server is", IPAddress(bytes: Array(bytes[4..<8]))),
            ("a Teredo address whose client is", IPAddress(bytes: bytes[12..<16].map { ~$0 })),
        ]
    }

    private static let mapped = IPAddress("::ffff:0:0")!
    private static let translated = IPAddress("::ffff:0:0:0")!
    private static let compatible = IPAddress("::")!
    private static let nat64 = IPAddress("64:ff9b::")!
    private static let sixToFour = IPAddress("2002::")!
    private static let teredo = IPAddress("2001::")!

    private static let blockedV4: [(String, Int, String)] = [
        ("0.0.0.0", 8, "a 'this network' address"), ("10.0.0.0", 8, "a private address"),
        ("100.64.0.0", 10, "a shared (carrier-grade NAT) address"), ("127.0.0.0", 8, "a loopback address"),
        ("169.254.0.0", 16, "a link-local address (this range holds the cloud metadata server)"),
        ("172.16.0.0", 12, "a private address"), ("192.0.0.0", 24, "an IETF protocol address"),
        ("192.168.0.0", 16, "a private address"), ("198.18.0.0", 15, "a benchmarking address"),
        ("224.0.0.0", 4, "a multicast address"), ("240.0.0.0", 4, "a reserved address"),
    ]
    private static let blockedV6: [(String, Int, String)] = [
        ("::", 128, "the unspecified address"), ("::1", 128, "a loopback address"),
        ("fc00::", 7, "a unique-local (private) address"), ("fe80::", 10, "a link-local address"),
        ("fec0::", 10, "a site-local address"), ("ff00::", 8, "a multicast address"),
        // Local-use NAT64 (RFC 8215) translates to IPv4 hosts of the local network: refused whole.
        ("64:ff9b:1::", 48, "a local-use NAT64 address (it reaches IPv4 hosts of a local network)"),
    ]
    private static let blocked: [(IPAddress, Int, String)] = (blockedV4 + blockedV6).map { (IPAddress($0.0)!, $0.1, $0.2) }

    /// Why a webhook must not reach this address (loopback, link-local, private, unique-local,
    /// multicast, reserved, or an IPv6 form that carries such an IPv4 address), or nil for a
    /// public address. Literal hosts and DNS answers are both judged here, so every path agrees.
    public var nonPublicReason: String? {
        for (network, prefix, reason) in Self.blocked where matches(network, prefix: prefix) { return reason }
        for (form, v4) in embeddedV4 {
            if let reason = v4.nonPublicReason { return "\(form) \(reason)" }
        }
        return nil
    }
}

/// An address range, `10.0.0.0/8` or `fd00::/8`; a bare address is a range of one.
struct IPRange: Sendable, Hashable {
    let network: IPAddress
    let prefix: Int

    init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let address = IPAddress(parts[0]) else { return nil }
        let maxPrefix = address.isV4 ? 32 : 128
        if parts.count == 2 {
            guard let p = Int(parts[1]), (0...maxPrefix).contains(p) else { return nil }
            prefix = p
        } else {
            prefix = maxPrefix
        }
        network = address
    }

    func contains(_ address: IPAddress) -> Bool { address.matches(network, prefix: prefix) }
}
