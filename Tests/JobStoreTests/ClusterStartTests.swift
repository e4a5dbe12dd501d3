import Foundation
import GeoInferTestSupport
import Testing

/// The PostgreSQL server the tests start gets nothing the test process has open. It outlives the
/// tool that started it, so whatever it kept stayed open as long as it ran: another test's pipe
/// to its child (read until its end) or the socket by which `Process` learns that a child ended,
/// and that test waited for ever.
@Suite struct ClusterStartTests {
    @Test func theServerKeepsNoDescriptorOfTheTestProcess() async throws {
        // A pipe open while the cluster starts, as another test's pipe to its child would be.
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { for end in ends { close(end) } }
        let held = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(ends[1])")
        let cluster = try await PostgresCluster.make()
        let pid = try #require(cluster.serverPID, "the cluster's postmaster.pid")
        let open = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")
        }
        #expect(!open.isEmpty, "the server's descriptors could not be read")
        #expect(!open.contains(held), "the server holds the test process's \(held): \(open)")
    }
}
