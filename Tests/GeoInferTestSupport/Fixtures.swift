public import Foundation
import Synchronization

/// Paths and helpers shared by the test suites: the package root, the Python test peers set up by
/// scripts/setup.sh, the generated test models, temporary folders and subprocesses.
public enum Fixtures {
    /// The package's root folder.
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The Python interpreter of the test peers' virtual environment.
    public static var python: String { root.appendingPathComponent(".venv/bin/python").path }

    /// The folder of test models built by scripts/testing/make_test_models.py: the one
    /// `GEOINFER_TEST_MODELS` names (scripts/run_tests.sh makes them before the tests start), else
    /// built here once per test process, holding every test that needs one until it is done.
    public static let testModels: URL = {
        if let made = ProcessInfo.processInfo.environment["GEOINFER_TEST_MODELS"], !made.isEmpty {
            return URL(fileURLWithPath: made)
        }
        let dir = root.appendingPathComponent(".build/test-fixtures/models-\(ProcessInfo.processInfo.processIdentifier)")
        let result = try! runBlocking(python, [root.appendingPathComponent("scripts/testing/make_test_models.py").path, dir.path])
        precondition(result.status == 0, "make_test_models.py failed: \(result.stderr)")
        return dir
    }()

    /// A path to one of the test models ("yolo", "yolo_clip", "boxes", "yolo_sidecar", "bench").
    public static func model(_ name: String) -> String { testModels.appendingPathComponent("\(name).onnx").path }

    /// A new empty temporary folder.
    public static func temporaryDirectory(_ label: String = "test") -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("geoinfer-\(label)-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    public struct ProcessResult: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `executable` with `arguments` to completion and returns its exit status and output,
    /// holding the calling thread meanwhile. Not public: a test runs on the cooperative pool (as
    /// many threads as cores), and while two of them wait here nothing else in the test process
    /// moves, so a store's or a service's own deadline elapses with its work done but not yet
    /// resumed. Tests use the async `run`, which waits on a thread of its own.
    static func runBlocking(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws
        -> ProcessResult
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes concurrently so a full pipe never blocks the child.
        let errData = LockedData()
        let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        // Its output ended: the exit follows at once (a bound all the same, never a hang).
        if let stuck = process.waitExit(within: .seconds(60)) { throw PeerError(stuck) }
        while !errData.isSet { usleep(1000) }
        return ProcessResult(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData.value, as: UTF8.self))
    }

    /// Runs `executable` with `arguments` to completion and returns its exit status and output. The
    /// child is awaited on a thread of its own, so no thread of the test process's cooperative pool
    /// is held while it runs (a service or store in the test process needs those threads to answer
    /// and to keep its own deadlines, whether or not the child talks to it).
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) async throws
        -> ProcessResult
    {
        try await onOwnThread { try runBlocking(executable, arguments, environment: environment) }
    }

    /// `body`, which holds its thread (a child to wait for, a tool to run), on a thread of its own
    /// rather than on one of the cooperative pool's few.
    public static func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    /// Runs a Python snippet with the test peers' interpreter; arguments land in sys.argv[1:].
    @discardableResult
    public static func python(_ code: String, _ arguments: [String] = []) async throws -> ProcessResult {
        try await run(python, ["-c", code] + arguments)
    }

    /// The built `geoinfer` executable beside the test bundle.
    public static var geoinferExecutable: String {
        var dir = Bundle.main.bundleURL
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("geoinfer").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return root.appendingPathComponent(".build/debug/geoinfer").path
    }
}

final class LockedData: Sendable {
    private let state = Mutex<(Data, Bool)>((Data(), false))
    func set(_ d: Data) { state.withLock { $0 = (d, true) } }
    var isSet: Bool { state.withLock { $0.1 } }
    var value: Data { state.withLock { $0.0 } }
}

extension Fixtures {
    /// GDAL's own transform (the `gdaltransform` command) of pixel positions of `raster` to WGS84:
    /// one [lon, lat] per point, for checking GeoInfer's georeferencing against GDAL.
    public static func gdalTransformToWGS84(raster: String, pixels: [(Double, Double)]) async throws -> [[Double]] {
        let input = temporaryDirectory("gdaltransform").appendingPathComponent("pixels.txt")
        defer { try? FileManager.default.removeItem(at: input.deletingLastPathComponent()) }
        try pixels.map { "\($0.0) \($0.1)\n" }.joined().write(to: input, atomically: true, encoding: .utf8)
        // -output_xy with an EPSG:4326 target prints lon lat (traditional GIS order).
        let result = try await run("/bin/sh", ["-c", "gdaltransform -output_xy -t_srs EPSG:4326 '\(raster)' < '\(input.path)'"])
        guard result.status == 0 else { throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: result.stderr]) }
        return result.stdout.split(separator: "\n").map { $0.split(separator: " ").compactMap { Double($0) } }
    }
}
