import Foundation

/// Making files durable: `fsync` of files and of the folders that name them, so that what the
/// service has answered for survives a power loss. Each call waits for the disk on the calling
/// thread.
public enum DiskSync {
    /// `fsync` of a file, or of a folder after entries were made or renamed in it: false when it
    /// cannot be opened or the disk refuses.
    public static func sync(_ path: String, directory: Bool = false) -> Bool {
        let fd = open(path, directory ? O_RDONLY | O_DIRECTORY : O_RDONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return fsync(fd) == 0
    }

    /// `files`, then `directories`, synced one after another: false when one failed.
    public static func sync(files: [String], directories: [String]) -> Bool {
        files.allSatisfy { sync($0) } && directories.allSatisfy { sync($0, directory: true) }
    }
}
