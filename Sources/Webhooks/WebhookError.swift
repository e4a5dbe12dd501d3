/// Why a webhook URL, secret or setting was refused. The message says what to do; it never
/// contains a secret.
public struct WebhookError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A stable code for the API (`invalid_webhook_url`, `webhook_url_refused`, `invalid_webhook_secret`, …).
    public let code: String
    /// What was refused and what to do, for people; never contains a secret.
    public let description: String

    init(_ code: String, _ description: String) {
        self.code = code
        self.description = description
    }

    static func invalidURL(_ why: String) -> WebhookError {
        WebhookError("invalid_webhook_url", "webhook_url \(why)")
    }

    static func refused(_ why: String) -> WebhookError {
        WebhookError("webhook_url_refused", "webhook_url \(why)")
    }

    /// The host name did not resolve (no answer, no address, or not in time): the address is not
    /// known to be forbidden, so a job is accepted and each delivery attempt checks again.
    static func unresolved(_ why: String) -> WebhookError {
        WebhookError(unresolvedCode, "webhook_url \(why)")
    }

    /// The code of an error raised only because the host did not resolve (a later attempt checks again).
    public static let unresolvedCode = "webhook_host_unresolved"

    /// Whether the URL was refused only because its host did not resolve right now.
    public var isUnresolvedHost: Bool { code == Self.unresolvedCode }

    static func invalidSecret(_ why: String) -> WebhookError {
        WebhookError(
            "invalid_webhook_secret",
            "webhook secret \(why): use 'whsec_' followed by the base64 of 24 to 64 random bytes (geoinfer webhook secret makes one)")
    }
}
