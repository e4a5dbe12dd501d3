import Formats
import Foundation
import Inference
import Synchronization

/// Writes to stderr: log lines, errors, and a progress bar redrawn in place on a terminal.
final class Console: Sendable {
    let isTerminal = isatty(STDERR_FILENO) != 0

    func log(_ line: String) { write(line + "\n") }
    func error(_ line: String) { write(line + "\n") }

    func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// Tiles done / total, rate and ETA. On a terminal one line redrawn in place; otherwise a plain
/// log line at each 10% step.
final class ProgressBar: Sendable {
    private struct State {
        var started = ContinuousClock.now
        var lastStep = -1
        var lastDraw = ContinuousClock.now - .seconds(1)
        var drawn = false
    }

    private let console: Console
    private let label: String
    private let unit: String
    private let state = Mutex(State())

    init(console: Console, label: String, unit: String = "tiles") {
        self.console = console
        self.label = label
        self.unit = unit
    }

    func update(_ p: TileProgress) {
        let line: String? = state.withLock { s in
            let elapsed = (ContinuousClock.now - s.started).seconds
            let rate = elapsed > 0 ? Double(p.tilesDone) / elapsed : 0
            let eta = rate > 0 ? Double(p.tilesTotal - p.tilesDone) / rate : 0
            let fraction = p.tilesTotal > 0 ? Double(p.tilesDone) / Double(p.tilesTotal) : 1
            let stats = "\(p.tilesDone)/\(p.tilesTotal) \(unit)  \(String(format: "%.1f", rate)) \(unit)/s  ETA \(Self.format(eta))"
            if console.isTerminal {
                // Redraw at most 10 times a second, and always at the end.
                guard ContinuousClock.now - s.lastDraw > .milliseconds(100) || p.tilesDone == p.tilesTotal else { return nil }
                s.lastDraw = .now
                s.drawn = true
                let width = 30
                let filled = Int(fraction * Double(width))
                return "\r\(label) [" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] " + stats
                    + "\u{1B}[K"
            }
            let step = Int(fraction * 10)
            guard step > s.lastStep else { return nil }
            s.lastStep = step
            return "\(label): \(stats)\n"
        }
        if let line { console.write(line) }
    }

    func finish() {
        let drawn = state.withLock { $0.drawn }
        if drawn { console.write("\n") }
    }

    private static func format(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? "\(t / 3600)h\(t % 3600 / 60)m" : t >= 60 ? "\(t / 60)m\(t % 60)s" : "\(t)s"
    }
}
