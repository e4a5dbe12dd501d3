import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address as bytes (4 or 16), with the ranges a webhook must never reach.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
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

    public var isV4: Bool { bytes.count == 4 }

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

    /// The IPv4 address carried inside an IPv6 one (mapped, compatible, NAT64 or 6to4), if any.
    var embeddedV4: IPAddress? {
        guard !isV4 else { return nil }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && ((bytes[10] == 0xFF && bytes[11] == 0xFF) || (bytes[10] == 0 && bytes[11] == 0)) {
            // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible; :: and ::1 are handled as such first).
            return IPAddress(bytes: Array(bytes[12..<16]))
        }
        if matches(Self.nat64, prefix: 96) { return IPAddress(bytes: Array(bytes[12..<16])) }
        if bytes[0] == 0x20 && bytes[1] == 0x02 { return IPAddress(bytes: Array(bytes[2..<6])) }
        return nil
    }

    private static let nat64 = IPAddress("64:ff9b::")!

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
    ]
    private static let blocked: [(IPAddress, Int, String)] = (blockedV4 + blockedV6).map { (IPAddress($0.0)!, $0.1, $0.2) }

    /// Why a webhook must not reach this address (loopback, link-local, private, unique-local,
    /// multicast, reserved), or nil for a public address.
    public var nonPublicReason: String? {
        for (network, prefix, reason) in Self.blocked where matches(network, prefix: prefix) { return reason }
        return embeddedV4?.nonPublicReason
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
