import ArgumentParser
import Foundation
import Webhooks

struct WebhookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook",
        abstract: "Webhook tools: send a signed test event, make a signing secret.",
        subcommands: [WebhookTestCommand.self, WebhookSecretCommand.self])
}

struct WebhookTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Send a signed `webhook.test` event to URL, as the server would, and show the answer.",
        discussion: """
            The URL passes the same address check as at submit (GEOINFER_WEBHOOK_ALLOWLIST applies). The \
            secret is --secret, else GEOINFER_WEBHOOK_SECRET, else the server's generated one in DATA_DIR/webhook_secret.
            """)

    @Argument(help: "The receiver's URL.")
    var url: String

    @Option(help: "The whsec_ secret to sign with.")
    var secret: String?

    @OptionGroup var data: DataDirOption

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        var config = try ServeCommand.webhookConfiguration(env)
        if let secret {
            config.secrets = [try WebhookSecret(secret)]
        } else if config.secrets.isEmpty {
            let path = data.url.appending(path: "webhook_secret").path
            guard let stored = try WebhookSecret.load(from: path) else {
                throw ValidationError(
                    "no secret: pass --secret whsec_…, set GEOINFER_WEBHOOK_SECRET, or run where the server's data folder is (\(path) not found)"
                )
            }
            config.secrets = [stored]
        }
        let target: WebhookTarget
        do {
            target = try await WebhookAddressPolicy(allowlist: config.allowlist).check(url)
        } catch {
            throw ValidationError(error.description)
        }
        let body = try WebhookEvents.testBody(now: Date())
        let id = "msg_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let headers = WebhookSigner(secrets: config.secrets).headers(id: id, timestamp: Date(), body: body)
        let response = await HTTPWebhookSender().send(WebhookRequest(target: target, headers: headers, body: body, timeout: config.timeout))
        print("POST \(url) (connected to \(target.address))")
        for h in headers { print("  \(h.name): \(h.value)") }
        if let code = response.statusCode {
            print("answer: HTTP \(code)")
            guard (200..<300).contains(code) else { throw ExitCode(1) }
        } else {
            print("no answer: \(response.error ?? "unknown error")")
            throw ExitCode(1)
        }
    }
}

struct WebhookSecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret",
        abstract: "Print a new random whsec_ signing secret (for GEOINFER_WEBHOOK_SECRET or a job's webhook_secret).")

    func run() {
        print(WebhookSecret.generate().text)
    }
}
