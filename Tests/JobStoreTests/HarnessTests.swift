import Foundation
import GeoInferTestSupport
import Synchronization
import Testing

/// The test harness itself: the ports it hands out and the threads its blocking work takes.
@Suite struct HarnessTests {
    /// The kernel may give back a port it just gave, before the first taker has bound it.
    @Test func freePortNeverHandsOutAPortTwice() throws {
        let ports = try (0..<300).map { _ in try PeerProcess.freePort() }
        #expect(Set(ports).count == ports.count)
    }

    /// A peer whose port another process holds is not taken for started because the port answers.
    @Test func aPeerOnAPortHeldByAnotherProcessIsNotTakenForStarted() async throws {
        let port = try PeerProcess.freePort()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0 && listen(fd, 8) == 0, "a listener of the test process on \(port)")
        // Seen as PeerProcess looks for a peer's own listener. Under a loaded suite one first look
        // missed it (cause not found); each look says what it found, and it is looked for again.
        try await eventually(within: .seconds(10), "the test process's listener on \(port) to show in /proc") {
            guard PeerProcess.listens(pid: getpid(), port: port) else {
                throw PeerError(
                    """
                    descriptor \(fd) is \
                    \((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) ?? "closed"), \
                    the listener's inode \(PeerProcess.listenerInode(port: port) ?? "absent from /proc/net/tcp")
                    """)
            }
        }
        do {
            let peer = try await PeerProcess(
                "tcp_proxy.py", executable: Fixtures.python,
                arguments: [
                    Fixtures.root.appending(path: "scripts/testing/tcp_proxy.py").path, "--port", "{port}", "--upstream", "127.0.0.1:9",
                ],
                port: port)
            peer.stop()
            Issue.record("the peer was taken for started on a port the test process holds")
        } catch {
            #expect("\(error)".contains("taken by another process"), "\(error)")
        }
    }

    /// Work that holds its thread (a child to wait for) runs beside the cooperative pool: with more
    /// such waits than the pool has threads (as many as cores), a task still runs.
    @Test func blockingWorkLeavesThePoolFree() async throws {
        final class Gate: Sendable {
            let semaphore = DispatchSemaphore(value: 0)
            /// More than the pool has threads on any machine these tests run on.
            let waits = 64
            /// Whether the waits were released, and whether the task ran before that.
            let state = Mutex<(opened: Bool, ranFirst: Bool)>((false, false))
            func open() {
                guard
                    state.withLock({ s in
                        defer { s.opened = true }
                        return !s.opened
                    })
                else { return }
                for _ in 0..<waits { semaphore.signal() }
            }
        }
        let gate = Gate()
        let blocked = (0..<gate.waits).map { _ in Task { try await Fixtures.onOwnThread { gate.semaphore.wait() } } }
        // Should the pool be held after all, the waits are released at a deadline, and it shows.
        Thread {
            Thread.sleep(forTimeInterval: 120)
            gate.open()
        }.start()
        await Task.detached { gate.state.withLock { $0.ranFirst = !$0.opened } }.value
        gate.open()
        for task in blocked { try await task.value }
        #expect(gate.state.withLock { $0.ranFirst }, "a task ran only once the blocked waits were released")
    }
}
