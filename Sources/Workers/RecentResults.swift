import Foundation
import Synchronization

/// The results this process's workers recorded lately, kept decoded so that the job's finalize
/// takes them as they are instead of decoding the stored JSON again (about half a millisecond a
/// file). A kept result is used only when its stored bytes are the ones kept: a file that another
/// worker ran again since is decoded from the store.
///
/// Bounded: at most `maxBytes` of encoded results in all (by default 64 MiB, some 10,000 files of a
/// few dozen detections each; the decoded copies take about as much again). Past that the jobs
/// kept longest are forgotten first, and a single job larger than the bound keeps only its first
/// files. A job finalized by another process is forgotten only so.
final class RecentResults<Value: Sendable>: Sendable {
    private let limit: Int
    private let state = Mutex(State())

    private struct State {
        /// Each job's kept results by file id.
        var jobs: [String: [Int64: (data: Data, result: Value)]] = [:]
        /// Jobs in the order their first result was kept.
        var order: [String] = []
        var bytes = 0
    }

    init(maxBytes: Int = 64 << 20) { limit = maxBytes }

    /// Keeps `result`, whose stored encoding is `data`, for `file` of `job`.
    func keep(job: String, file: Int64, data: Data, result: Value) {
        guard data.count <= limit else { return }
        state.withLock { s in
            // What keeping it adds: a file kept again gives back its former bytes.
            let added = data.count - (s.jobs[job]?[file]?.data.count ?? 0)
            // The jobs kept longest make room first, but never the job being kept.
            while s.bytes + added > limit, let oldest = s.order.first, oldest != job {
                s.order.removeFirst()
                s.bytes -= s.jobs.removeValue(forKey: oldest)?.values.reduce(0) { $0 + $1.data.count } ?? 0
            }
            guard s.bytes + added <= limit else { return }
            if s.jobs[job] == nil { s.order.append(job) }
            s.bytes += added
            s.jobs[job, default: [:]][file] = (data, result)
        }
    }

    /// Takes the job's kept results out: the decoded result of each stored one whose bytes are the
    /// ones kept, nil for the others.
    func take(job: String, stored: [(file: Int64?, data: Data)]) -> [Value?] {
        let kept = state.withLock { s -> [Int64: (data: Data, result: Value)] in
            guard let kept = s.jobs.removeValue(forKey: job) else { return [:] }
            s.order.removeAll { $0 == job }
            s.bytes -= kept.values.reduce(0) { $0 + $1.data.count }
            return kept
        }
        return stored.map { entry in
            guard let id = entry.file, let hit = kept[id], hit.data == entry.data else { return nil }
            return hit.result
        }
    }

    /// Encoded bytes kept now.
    var keptBytes: Int { state.withLock { $0.bytes } }
}
