import Foundation
import GeoInferTestSupport
import Storage
import Testing
import _CryptoExtras

/// Application Default Credentials against a real local token endpoint
/// (scripts/testing/token_server.py) that verifies each JWT with the public half of a key pair
/// it generated at start; requests go through the proxy, whose log shows the bearer tokens.
@Suite("GCS credentials", .serialized)
struct CredentialTests {
    let dir = Fixtures.temporaryDirectory("creds")

    func tokenServer(_ extra: [String] = []) async throws -> (PeerProcess, URL) {
        let key = dir.appendingPathComponent("key-\(UUID().uuidString.prefix(6)).json")
        let server = try await GCSEmulators.pythonPeer("token_server.py", ["--write-key-file", key.path] + extra)
        // The key file is written as the server starts; wait until it is complete.
        for _ in 0..<100 where (try? JSONSerialization.jsonObject(with: Data(contentsOf: key))) == nil {
            try await Task.sleep(for: .milliseconds(50))
        }
        return (server, key)
    }

    func issued(_ server: PeerProcess) async throws -> [[String: Any]] {
        let http = HTTPTransport()
        defer { Task { await http.shutdown() } }
        let answer = try await http.send("GET", "\(server.address)/log")
        return (try JSONSerialization.jsonObject(with: answer.body) as? [String: Any])?["issued"] as? [[String: Any]] ?? []
    }

    @Test("service-account key: an RS256 JWT is exchanged for a token, cached across requests")
    func serviceAccount() async throws {
        let (server, key) = try await tokenServer()
        defer { server.stop() }
        let bucket = try await TestBucket.gcpStorageEmulator()
        let proxy = try await FaultProxy(upstream: bucket.emulator.address)
        let credentials = try Credentials.resolve(environment: ["GOOGLE_APPLICATION_CREDENTIALS": key.path], http: bucket.http)
        #expect(credentials.summary == "service account sa@test.iam.gserviceaccount.com")
        let store = try bucket.store(endpoint: proxy.address, credentials: credentials)
        _ = try await store.put(file: try randomFile(1000), as: "a.tif")
        _ = try await store.put(file: try randomFile(600_000), as: "b.tif")
        #expect(try await store.list(prefix: "").count == 2)
        let log = try await proxy.log()
        #expect(log.count >= 5)
        #expect(log.allSatisfy { $0.authorization == "Bearer ya29.test-1" })
        #expect(try await issued(server).count == 1)
    }

    @Test("a key the endpoint does not know is refused with a clear error")
    func wrongKey() async throws {
        let (server, key) = try await tokenServer()
        defer { server.stop() }
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: key)) as? [String: Any])
        json["private_key"] = try _RSA.Signing.PrivateKey(keySize: .bits2048).pemRepresentation
        let forged = dir.appendingPathComponent("forged.json")
        try JSONSerialization.data(withJSONObject: json).write(to: forged)
        let http = HTTPTransport()
        defer { Task { await http.shutdown() } }
        let credentials = try Credentials.resolve(environment: ["GOOGLE_APPLICATION_CREDENTIALS": forged.path], http: http)
        await #expect {
            _ = try await credentials.token()
        } throws: { error in
            guard case StorageError.credentials(let message) = error else { return false }
            return message.contains("refused") && message.contains("signature")
        }
        #expect(try await issued(server).isEmpty)
    }

    @Test("gcloud's authorized_user file and the metadata server, in ADC order")
    func chain() async throws {
        let (server, _) = try await tokenServer(["--refresh-token", "r1", "--client-id", "c1", "--client-secret", "s1"])
        defer { server.stop() }
        let http = HTTPTransport()
        defer { Task { await http.shutdown() } }
        let gcloud = dir.appendingPathComponent("gcloud")
        try FileManager.default.createDirectory(at: gcloud, withIntermediateDirectories: true)
        let adc = [
            "type": "authorized_user", "client_id": "c1", "client_secret": "s1", "refresh_token": "r1",
            "token_uri": "\(server.address)/token",
        ]
        try JSONSerialization.data(withJSONObject: adc).write(to: gcloud.appendingPathComponent("application_default_credentials.json"))
        let user = try Credentials.resolve(environment: ["CLOUDSDK_CONFIG": gcloud.path], http: http)
        #expect(user.summary.contains("authorized_user"))
        #expect(try await user.token()?.hasPrefix("ya29.test-") == true)

        let metadata = try Credentials.resolve(
            environment: [
                "CLOUDSDK_CONFIG": dir.appendingPathComponent("none").path,
                "GCE_METADATA_HOST": "127.0.0.1:\(server.port)",
            ], http: http)
        #expect(metadata.summary.contains("metadata server"))
        #expect(try await metadata.token()?.hasPrefix("ya29.test-") == true)
        #expect(try await issued(server).count == 2)

        // The emulator needs no credentials; a missing key file is named.
        #expect(try Credentials.resolve(environment: ["STORAGE_EMULATOR_HOST": "127.0.0.1:1"], http: http) is NoCredentials)
        #expect(throws: StorageError.credentials("GOOGLE_APPLICATION_CREDENTIALS names /nonexistent/key.json, which does not exist")) {
            try Credentials.resolve(environment: ["GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/key.json"], http: http)
        }
        // No credentials anywhere: the metadata server's absence is explained.
        let none = try Credentials.resolve(
            environment: [
                "CLOUDSDK_CONFIG": dir.appendingPathComponent("none").path,
                "GCE_METADATA_HOST": "127.0.0.1:\(try PeerProcess.freePort())",
            ], http: http)
        await #expect {
            _ = try await none.token()
        } throws: { error in "\(error)".contains("GOOGLE_APPLICATION_CREDENTIALS") }
    }
}
