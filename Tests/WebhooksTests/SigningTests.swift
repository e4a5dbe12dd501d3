import Foundation
import Testing

@testable import Webhooks

@Suite struct SigningTests {
    // The example of the Standard Webhooks specification (and of its reference libraries' tests).
    let specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    let specID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    let specTimestamp = 1_614_265_330
    let specBody = Data(#"{"test": 2432232314}"#.utf8)

    @Test func matchesTheSpecificationsExample() throws {
        let signer = WebhookSigner(secrets: [try WebhookSecret(specSecret)])
        #expect(signer.signature(id: specID, timestamp: specTimestamp, body: specBody) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test func rotationSignsWithEverySecretAndEitherVerifies() throws {
        let old = try WebhookSecret(specSecret)
        let new = WebhookSecret.generate()
        let both = WebhookSigner(secrets: [new, old])
        let header = both.signature(id: "msg_1", timestamp: 1_700_000_000, body: Data("{}".utf8))
        let parts = header.split(separator: " ")
        #expect(parts.count == 2 && parts.allSatisfy { $0.hasPrefix("v1,") })
        let now = Date(timeIntervalSince1970: 1_700_000_010)
        #expect(
            WebhookSigner(secrets: [old]).verify(id: "msg_1", timestamp: 1_700_000_000, body: Data("{}".utf8), header: header, now: now))
        #expect(
            WebhookSigner(secrets: [new]).verify(id: "msg_1", timestamp: 1_700_000_000, body: Data("{}".utf8), header: header, now: now))
        // Another body, id or timestamp, or a stale timestamp, does not verify.
        #expect(!both.verify(id: "msg_1", timestamp: 1_700_000_000, body: Data("{ }".utf8), header: header, now: now))
        #expect(!both.verify(id: "msg_2", timestamp: 1_700_000_000, body: Data("{}".utf8), header: header, now: now))
        #expect(!both.verify(id: "msg_1", timestamp: 1_700_000_001, body: Data("{}".utf8), header: header, now: now))
        #expect(
            !both.verify(id: "msg_1", timestamp: 1_700_000_000, body: Data("{}".utf8), header: header, now: now.addingTimeInterval(600)))
    }

    @Test func generatedSecretsRoundTripAndNeverPrint() throws {
        let s = WebhookSecret.generate()
        #expect(s.text.hasPrefix("whsec_"))
        #expect(try WebhookSecret(s.text) == s)
        #expect(s != WebhookSecret.generate())
        #expect(!"\(s)".contains(s.text.dropFirst(6)))
    }

    @Test(arguments: ["", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_not base64!", "whsec_c2hvcnQ="])
    func badSecretsAreRefused(_ text: String) {
        #expect(throws: WebhookError.self) { try WebhookSecret(text) }
    }

    @Test func unpaddedBase64IsAccepted() throws {
        // 25 key bytes: base64 needs padding, which some tools leave off.
        let padded = "whsec_" + Data(repeating: 7, count: 25).base64EncodedString()
        #expect(padded.hasSuffix("="))
        #expect(try WebhookSecret(String(padded.prefix { $0 != "=" })) == WebhookSecret(padded))
    }
}
