import Foundation
import Hummingbird
import Jobs
public import Logging
import Metrics
import Prometheus
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Process-wide metrics and logs: Prometheus metrics through swift-metrics, and log lines as JSON
/// when they go to a file or a collector rather than a terminal.
public enum Telemetry {
    private static let bootstrapped = Mutex(false)

    /// Installs the Prometheus metrics factory (once per process; later calls do nothing).
    public static func bootstrapMetrics() {
        let first = bootstrapped.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        var factory = PrometheusMetricsFactory(registry: PrometheusMetricsFactory.defaultRegistry)
        // Prometheus names allow [a-zA-Z0-9_:]; Hummingbird's labels use dots.
        factory.nameAndLabelSanitizer = { name, labels in
            (sanitize(name), labels.map { (sanitize($0.0), $0.1) })
        }
        let slow: [Duration] = [
            .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
            .seconds(30), .seconds(60), .seconds(120), .seconds(300), .seconds(600),
        ]
        factory.durationHistogramBuckets["geoinfer_file_inference_seconds"] = slow
        MetricsSystem.bootstrap(factory)
    }

    static func sanitize(_ name: String) -> String {
        String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") ? $0 : "_" })
    }

    /// The Prometheus text exposition of every metric, after refreshing the gauges that are read
    /// from the job store (jobs by state, files waiting or running).
    static func exposition(store: any JobStore) async throws -> String {
        let (jobs, files) = try await store.counts()
        for state in JobStatus.allCases {
            Gauge(label: "geoinfer_jobs", dimensions: [("state", state.rawValue)]).record(jobs[state] ?? 0)
        }
        Gauge(label: "geoinfer_queue_files").record(files[.queued] ?? 0)
        Gauge(label: "geoinfer_running_files").record(files[.running] ?? 0)
        let mirror = try await store.mirrorCounts()
        for state in MirrorStatus.allCases {
            Gauge(label: "geoinfer_mirror_objects", dimensions: [("state", state.rawValue)]).record(mirror[state] ?? 0)
        }
        return PrometheusMetricsFactory.defaultRegistry.emitToString()
    }

    /// Chooses how log lines look: JSON (one object a line) when `format` says so, or when standard
    /// error is not a terminal and `format` is nil; plain text otherwise.
    public static func bootstrapLogging(format: String?, level: Logger.Level) {
        let json = format.map { $0.lowercased() == "json" } ?? (isatty(STDERR_FILENO) == 0)
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// Writes each log record as one JSON object on standard error: `time`, `level`, `message`,
/// `source`, and the metadata as fields (`job_id`, `webhook_id`, `hb.request.id`, …).
public struct JSONLogHandler: LogHandler {
    /// Fields written with every record; a record's own metadata wins on a clash.
    public var metadata: Logger.Metadata = [:]
    /// The lowest level written (default info).
    public var logLevel: Logger.Level = .info
    let label: String
    /// Where each line goes (nil: standard error, through ``LogSink``).
    let write: (@Sendable (String) -> Void)?

    /// A handler whose records carry `label` as their `logger` field, written to standard error.
    public init(label: String) {
        self.label = label
        self.write = nil
    }

    /// A handler whose records carry `label` as their `logger` field, each line (with its newline)
    /// handed to `write` at once: for a program that embeds the service and keeps its log.
    public init(label: String, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.write = write
    }

    /// One field of `metadata`; nil when it is not set.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes the record as one JSON line: on standard error warnings and above at once, the rest
    /// buffered (at most 50 ms); to the handler's own `write` at once. Metadata named `time`,
    /// `level`, `message`, `source` or `logger` is dropped.
    public func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("time", ISO8601Seconds.string(Date())), ("level", event.level.rawValue),
            ("message", event.message.description), ("source", event.source), ("logger", label),
        ]
        for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }).sorted(by: { $0.key < $1.key })
        where !["time", "level", "message", "source", "logger"].contains(k) {
            fields.append((k, "\(v)"))
        }
        // Built by hand: a JSONEncoder per line costs more than the rest of a small request.
        var line = "{"
        for (i, (k, v)) in fields.enumerated() {
            if i > 0 { line += "," }
            Self.append(k, to: &line)
            line += ":"
            Self.append(v, to: &line)
        }
        line += "}\n"
        if let write { write(line) } else { LogSink.standardError.write(line, now: event.level >= .warning) }
    }

    /// Appends `s` as a JSON string literal.
    static func append(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

/// Standard error with a buffer: lines of level info and below are collected and written every
/// 50 ms (or once 256 KiB wait) by one background thread, so a request does not pay for a `write`
/// system call per log line. Warnings and errors are written at once, after what is waiting, so
/// the order holds. Whatever waits is written at exit.
final class LogSink: Sendable {
    static let standardError: LogSink = {
        let sink = LogSink(fd: STDERR_FILENO)
        atexit { LogSink.standardError.flush() }
        Thread.detachNewThread {
            while true {
                usleep(50_000)
                LogSink.standardError.flush()
            }
        }
        return sink
    }()

    private let fd: Int32
    private let pending = Mutex<[UInt8]>([])

    private init(fd: Int32) { self.fd = fd }

    func write(_ line: String, now: Bool) {
        pending.withLock { buffer in
            buffer.append(contentsOf: line.utf8)
            if now || buffer.count >= 256 * 1024 { drain(&buffer) }
        }
    }

    func flush() { pending.withLock { drain(&$0) } }

    private func drain(_ buffer: inout [UInt8]) {
        guard !buffer.isEmpty else { return }
        buffer.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 {
                    if n < 0 && errno == EINTR { continue }
                    break
                }
                offset += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
