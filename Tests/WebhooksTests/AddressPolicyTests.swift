import Foundation
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

    @Test(arguments: ["8.8.8.8", "1.1.1.1", "203.0.113.10", "172.32.0.1", "100.128.0.1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "2002:0808:0808::1"])
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

    @Test(arguments: ["ftp://203.0.113.10/x", "javascript:alert(1)", "not a url", "http://user:pw@203.0.113.10/", "https:///nohost", "/relative"])
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
}
