import Foundation
import GeoInferTestSupport
import Testing

/// No container engine runs here: the deployment files are checked against their published
/// schemas (the Compose Specification, and Kubernetes 1.30's, strict) by
/// scripts/testing/validate_deploy.py.
@Suite struct DeployTests {
    @Test func composeFileAndKubernetesManifestsMatchTheirSchemas() async throws {
        let r = try await Fixtures.run(Fixtures.python, [Fixtures.root.appendingPathComponent("scripts/testing/validate_deploy.py").path])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("validate_deploy: OK"), "\(r.stdout)")
    }

    @Test func aBrokenManifestIsCaught() async throws {
        let dir = Fixtures.temporaryDirectory("deploy")
        let original = try String(contentsOf: Fixtures.root.appendingPathComponent("deploy/kubernetes/worker-hpa.yaml"), encoding: .utf8)
        try original.replacingOccurrences(of: "minReplicas: 2", with: "minReplicas: \"two\"")
            .write(to: dir.appendingPathComponent("worker-hpa.yaml"), atomically: true, encoding: .utf8)
        let r = try await Fixtures.run(
            Fixtures.python,
            [
                Fixtures.root.appendingPathComponent("scripts/testing/validate_deploy.py").path,
                "--kubernetes-dir", dir.path,
            ])
        #expect(r.status != 0)
        #expect((r.stdout + r.stderr).contains("minReplicas"))
    }
}
