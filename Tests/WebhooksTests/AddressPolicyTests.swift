import Foundation
import Synchronization
import Testing

@testable import Webhooks

@Suite struct AddressPolicyTests {
    @Test(arguments: [
        "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.18.0.1",
        "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
        "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1",
    ])
    func nonPublicAddresses(_ text: String) throws {
        let ip = try #require(IPAddress(text))
        #expect(ip.nonPublicReason != nil)
    }

    @Test(arguments: [
        "8.8.8.8", "1.1.1.1", "203.0.113.10", "172.32.0.1", "100.128.0.1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "2002:0808:0808::1",
    ])
    func publicAddresses(_ text: String) throws {
        let ip = try #require(IPAddress(text))
        #expect(ip.nonPublicReason == nil)
    }

    @Test func reasonsNameTheRange() throws {
        #expect(IPAddress("169.254.169.254")?.nonPublicReason?.contains("metadata") == true)
        #expect(IPAddress("127.0.0.1")?.nonPublicReason?.contains("loopback") == true)
        #expect(IPAddress("fd00::1")?.nonPublicReason?.contains("unique-local") == true)
    }

    @Test(arguments: [
        "http://127.0.0.1:8080/hook", "http://localhost/hook", "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook", "http://[::ffff:127.0.0.1]/", "http://2130706433/", "http://0x7f.1/", "http://0/",
        "https://10.0.0.5/x", "http://192.168.0.10:9000/",
    ])
    func privateTargetsAreRefused(_ url: String) async {
        await #expect(throws: WebhookError.self) { _ = try await WebhookAddressPolicy().check(url) }
    }

    @Test(arguments: [
        "ftp://203.0.113.10/x", "javascript:alert(1)", "not a url", "http://user:pw@203.0.113.10/", "https:///nohost", "/relative",
    ])
    func malformedURLsAreRefused(_ url: String) async {
        await #expect(throws: WebhookError.self) { _ = try await WebhookAddressPolicy().check(url) }
    }

    @Test func publicLiteralPassesAndKeepsTheAddress() async throws {
        let t = try await WebhookAddressPolicy().check("https://203.0.113.10:8443/hooks?x=1")
        #expect(t.address == IPAddress("203.0.113.10"))
        #expect(t.host == "203.0.113.10")
    }

    @Test func allowlistOpensOnlyWhatItNames() async throws {
        let policy = try WebhookAddressPolicy(allowlist: ["127.0.0.1", "10.0.0.0/8", "hooks.internal"])
        #expect(try await policy.check("http://127.0.0.1:9/x").address == IPAddress("127.0.0.1"))
        #expect(try await policy.check("http://10.200.1.1/x").address == IPAddress("10.200.1.1"))
        await #expect(throws: WebhookError.self) { _ = try await policy.check("http://127.0.0.2/x") }
        await #expect(throws: WebhookError.self) { _ = try await policy.check("http://169.254.169.254/") }
        await #expect(throws: WebhookError.self) { _ = try await policy.check("http://192.168.1.1/") }
        #expect(throws: WebhookError.self) { _ = try WebhookAddressPolicy(allowlist: ["10.0.0.0/99"]) }
    }

    @Test func localhostResolvesAndIsCheckedByAddress() async throws {
        // getaddrinfo gives loopback for localhost: refused, and allowed once 127.0.0.0/8 and ::1 are.
        await #expect(throws: WebhookError.self) { _ = try await WebhookAddressPolicy().check("http://localhost:1/") }
        let t = try await WebhookAddressPolicy(allowlist: ["127.0.0.0/8", "::1"]).check("http://localhost:1/")
        #expect(t.address.nonPublicReason?.contains("loopback") == true)
        #expect(t.host == "localhost")
    }

    @Test func refusalSaysWhyWithoutTheAddress() async throws {
        do {
            _ = try await WebhookAddressPolicy().check("http://localhost/")
            Issue.record("localhost was accepted")
        } catch {
            #expect(error.code == "webhook_url_refused")
            #expect(error.description.contains("loopback"))
            #expect(error.description.contains("GEOINFER_WEBHOOK_ALLOWLIST"))
        }
    }

    // MARK: IPv6 forms that carry an IPv4 address

    /// The report's four IPv4 targets: dotted, as two hex words, and as a Teredo client carries
    /// them (every bit inverted).
    static let embeddedTargets: [(dotted: String, high: String, low: String, teredoHigh: String, teredoLow: String)] = [
        ("127.0.0.1", "7f00", "0001", "80ff", "fffe"),
        ("10.0.0.1", "0a00", "0001", "f5ff", "fffe"),
        ("169.254.169.254", "a9fe", "a9fe", "5601", "5601"),
        ("192.168.1.1", "c0a8", "0101", "3f57", "fefe"),
    ]

    /// Every IPv6 form that carries one of those targets (mapped, translated, compatible, NAT64,
    /// local-use NAT64, 6to4, Teredo client and server), zero-compressed, written out and upper-case.
    static let carriersOfNonPublicV4: [String] = embeddedTargets.flatMap { t -> [String] in
        let (d, h, l) = (t.dotted, t.high, t.low)
        let teredoClient = "\(t.teredoHigh):\(t.teredoLow)"
        return [
            "::ffff:\(d)", "::ffff:\(h):\(l)", "::ffff:\(h):\(l)".uppercased(), "0:0:0:0:0:ffff:\(h):\(l)",
            "0000:0000:0000:0000:0000:ffff:\(h):\(l)".uppercased(),
            "::ffff:0:\(h):\(l)", "::ffff:0:\(d)", "::ffff:0:\(h):\(l)".uppercased(), "0:0:0:0:ffff:0:\(h):\(l)",
            "::\(d)", "::\(h):\(l)",
            "64:ff9b::\(d)", "64:ff9b::\(h):\(l)", "0064:ff9b:0000:0000:0000:0000:\(h):\(l)".uppercased(),
            "64:ff9b:1::\(d)", "64:ff9b:1::\(h):\(l)".uppercased(),
            "2002:\(h):\(l)::", "2002:\(h):\(l)::1", "2002:\(h):\(l):0:0:0:0:1".uppercased(),
            "2001:0:808:808::\(teredoClient)", "2001:0000:0808:0808:0000:0000:\(teredoClient)".uppercased(),
            "2001:0:\(h):\(l)::f7f7:f7f7", "2001::\(h):\(l):0:0:f7f7:f7f7".uppercased(),
        ]
    }

    /// The error `check` answers for `url`, or nil if it accepted it.
    static func refusal(of url: String, by policy: WebhookAddressPolicy) async -> WebhookError? {
        do throws(WebhookError) {
            _ = try await policy.check(url)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: AddressPolicyTests.carriersOfNonPublicV4)
    func ipv6FormsCarryingANonPublicV4AreNotPublic(_ text: String) throws {
        let ip = try #require(IPAddress(text))
        #expect(ip.nonPublicReason != nil)
    }

    @Test(arguments: AddressPolicyTests.carriersOfNonPublicV4)
    func urlsWithThoseFormsAreRefusedForWhereTheyLead(_ text: String) async throws {
        let policy = try WebhookAddressPolicy()
        let error = await Self.refusal(of: "http://[\(text)]/", by: policy)
        // Refused for the address, not for a spelling the URL parser did not take.
        #expect(error?.code == "webhook_url_refused")
    }

    @Test func theReportedTranslatedLoopbackIsRefused() async throws {
        let policy = try WebhookAddressPolicy()
        let error = await Self.refusal(of: "http://[::ffff:0:7f00:1]/", by: policy)
        #expect(error?.code == "webhook_url_refused")
        #expect(error?.description.contains("IPv4-translated") == true)
        #expect(error?.description.contains("loopback") == true)
    }

    @Test(arguments: [
        ("::ffff:7f00:1", "IPv4-mapped"), ("::ffff:0:7f00:1", "IPv4-translated"), ("::7f00:1", "IPv4-compatible"),
        ("64:ff9b::a9fe:a9fe", "NAT64 address embedding a link-local"), ("64:ff9b:1::808:808", "local-use NAT64"),
        ("2002:c0a8:101::1", "6to4 address embedding a private"),
        ("2001:0:808:808::80ff:fffe", "client is a loopback"), ("2001:0:a00:1::f7f7:f7f7", "server is a private"),
    ])
    func reasonsNameTheFormAndWhatItCarries(_ text: String, _ words: String) throws {
        let reason = try #require(IPAddress(text)?.nonPublicReason)
        #expect(reason.contains(words))
    }

    @Test(arguments: ["64:ff9b:1::808:808", "64:ff9b:1:ffff::1", "64:FF9B:1::"])
    func localUseNAT64IsRefusedWhole(_ text: String) throws {
        let ip = try #require(IPAddress(text))
        #expect(ip.nonPublicReason?.contains("local-use NAT64") == true)
    }

    @Test(arguments: [
        "::ffff:8.8.8.8", "::ffff:808:808", "::FFFF:0:8.8.8.8", "::8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
        "2001:0:808:808::f7f7:f7f7",
    ])
    func formsCarryingAPublicV4Pass(_ text: String) async throws {
        let ip = try #require(IPAddress(text))
        #expect(ip.nonPublicReason == nil)
        let target = try await WebhookAddressPolicy().check("http://[\(text)]/")
        #expect(target.address == ip)
    }

    // MARK: DNS answers and the resolution deadline

    @Test func resolvedAnswersFaceTheSameRules() async throws {
        let carried = try #require(IPAddress("::ffff:0:7f00:1"))
        let policy = try WebhookAddressPolicy(
            allowlist: [], resolveTimeout: .seconds(600),
            resolver: { (_: String) throws(WebhookError) -> [IPAddress] in
                [carried]
            })
        let error = await Self.refusal(of: "https://hooks.example.com/x", by: policy)
        #expect(error?.code == "webhook_url_refused")
        #expect(error?.description.contains("loopback") == true)
    }

    @Test func aPublicResolvedAnswerIsTheTarget() async throws {
        let public8 = try #require(IPAddress("8.8.8.8"))
        let policy = try WebhookAddressPolicy(
            allowlist: [], resolveTimeout: .seconds(600),
            resolver: { (_: String) throws(WebhookError) -> [IPAddress] in
                [public8]
            })
        let target = try await policy.check("https://hooks.example.com/x")
        #expect(target.address == public8)
        #expect(target.host == "hooks.example.com")
    }

    @Test func aResolverThatNeverAnswersIsCutOffAtTheDeadline() async throws {
        let dns = SilentResolver()
        defer { dns.release() }
        let policy = try WebhookAddressPolicy(
            allowlist: [], resolveTimeout: .milliseconds(50),
            resolver: { (host: String) throws(WebhookError) -> [IPAddress] in
                try dns.resolve(host)
            })
        // The resolver answers only once released, after the check: only the deadline can end it.
        let error = await Self.refusal(of: "https://hooks.example.com/x", by: policy)
        // Not refused as forbidden: unresolved, which a submit accepts and each delivery checks again.
        #expect(error?.code == WebhookError.unresolvedCode && error?.isUnresolvedHost == true)
        #expect(error?.description.contains("did not resolve within 0.05 s") == true)
    }

    @Test func cancellingTheCheckEndsTheWait() async throws {
        let dns = SilentResolver()
        defer { dns.release() }
        let policy = try WebhookAddressPolicy(
            allowlist: [], resolveTimeout: .seconds(600),
            resolver: { (host: String) throws(WebhookError) -> [IPAddress] in
                try dns.resolve(host)
            })
        let check = Task { await Self.refusal(of: "https://hooks.example.com/x", by: policy) }
        check.cancel()
        let error = await check.value
        #expect(error?.description.contains("cancelled") == true)
    }

    @Test func loopbackNamesAreRefusedWhateverTheResolverSays() async throws {
        // A resolver that knows no names: the refusal must not depend on DNS.
        let policy = try WebhookAddressPolicy(
            allowlist: [], resolveTimeout: .seconds(5),
            resolver: { (host: String) throws(WebhookError) -> [IPAddress] in
                throw .unresolved("host \(host) could not be resolved")
            })
        for url in ["http://localhost./h", "http://LOCALHOST/h", "http://api.localhost/h", "http://localhost../h"] {
            let error = await Self.refusal(of: url, by: policy)
            #expect(error?.code == "webhook_url_refused", "\(url): \(String(describing: error))")
        }
        // Any other name that does not resolve is only unresolved (accepted at submit, checked at delivery).
        #expect(await Self.refusal(of: "http://hooks.example.invalid/h", by: policy)?.isUnresolvedHost == true)
    }

    /// These once reached the socket layer at delivery and stopped the whole process (a port past
    /// 65535), or slipped past the checks as unresolvable names. Each is refused by its form, at
    /// submit and again at every delivery attempt (both go through `check`).
    @Test func malformedHostsAndPortsAreRefusedByForm() async throws {
        let policy = try WebhookAddressPolicy()
        for url in [
            "https://93.184.216.34:99999/", "http://93.184.216.34:65536/", "http://[2606:2800:220:1:248:1893:25c8:1946]:70000/hook",
            "http://93.184.216.34:0/", "http://[::1%2F]/", "http://[fe80::1%25eth0]/", "http://93.184.216.34/ space",
            "http://93.184.216.34/\ttab",
        ] {
            let error = await Self.refusal(of: url, by: policy)
            #expect(error?.code == "invalid_webhook_url", "\(url): \(String(describing: error))")
        }
        for url in ["http://metadata.google.internal/computeMetadata/v1/", "http://METADATA.google.internal./x", "http://metadata/x"] {
            let error = await Self.refusal(of: url, by: policy)
            #expect(error?.code == "webhook_url_refused", "\(url): \(String(describing: error))")
        }
    }

    @Test func deadlinesReadAsSeconds() {
        #expect(WebhookAddressPolicy.secondsText(.seconds(5)) == "5")
        #expect(WebhookAddressPolicy.secondsText(.milliseconds(250)) == "0.25")
    }
}

/// A DNS server that never answers: `resolve` holds its thread until the test releases it, so
/// the deadline, not the machine's speed, decides the outcome.
private final class SilentResolver: Sendable {
    private let released = Atomic<Bool>(false)

    func resolve(_ host: String) throws(WebhookError) -> [IPAddress] {
        while !released.load(ordering: .acquiring) { Thread.sleep(forTimeInterval: 0.001) }
        throw .refused("host \(host) was released unanswered")
    }

    func release() { released.store(true, ordering: .releasing) }
}
