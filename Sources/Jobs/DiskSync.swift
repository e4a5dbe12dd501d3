import Foundation
import Synchronization

/// Making files durable: `fsync` of files and of the folders that name them, so that what the
/// service has answered for survives a power loss.
public enum DiskSync {
    /// `fsync` of a file, or of a folder after entries were made or renamed in it: false when it
    /// cannot be opened or the disk refuses.
    public static func sync(_ path: String, directory: Bool = false) -> Bool {
        let fd = open(path, directory ? O_RDONLY | O_DIRECTORY : O_RDONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return fsync(fd) == 0
    }

    /// `files`, then `directories`, synced on threads of their own (so that waiting for the disk
    /// holds none of the few threads that run tasks), a few files at a time: false when one failed.
    public static func sync(files: [String], directories: [String]) async -> Bool {
        await withCheckedContinuation { done in
            DispatchQueue.global(qos: .utility).async {
                let failed = Mutex(false)
                // The disk takes several writes at once; each wait is for the disk, not a core.
                let lanes = min(8, files.count)
                if lanes > 0 {
                    DispatchQueue.concurrentPerform(iterations: lanes) { lane in
                        for i in stride(from: lane, to: files.count, by: lanes) where !sync(files[i]) {
                            failed.withLock { $0 = true }
                        }
                    }
                }
                let ok = !failed.withLock { $0 } && directories.allSatisfy { sync($0, directory: true) }
                done.resume(returning: ok)
            }
        }
    }
}
