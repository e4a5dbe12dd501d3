import CMalloc
import Foundation

/// glibc's allocator tuned for processes that run files one after another: each file allocates
/// and frees the same few buffers of several megabytes (tiles, the quicklook, decoded strips). By
/// default glibc serves such sizes with fresh `mmap`s, or trims them from the heap when freed, so
/// every file pays page faults on memory it had a moment before (about 2 ms of CPU a file in a
/// profile of 1,000 drone tiles: BENCHMARKS.md). Kept in the heap instead, they are reused. The
/// cost: the process keeps up to 512 MiB of freed memory mapped instead of giving it back at once.
///
/// The number of arenas is held to the number of cores. glibc's default (eight a core) gives the
/// server's many threads (HTTP event loops, the task pool, dispatch) arenas of their own; a thread's
/// arena whose memory is all freed is unmapped whatever the trim threshold, and mapped and faulted
/// in again by its next burst. In a profile of the 1,000-file job that churn was about 4% of the
/// server's CPU (BENCHMARKS.md). `MALLOC_ARENA_MAX` in the environment is left to glibc.
enum MemoryTuning {
    static func apply() {
        let arenas =
            ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil
            ? Int32(clamping: max(1, ProcessInfo.processInfo.activeProcessorCount)) : 0
        // Allocations up to 64 MiB come from the heap, and up to 512 MiB of free heap stays mapped.
        _ = geoinfer_keep_freed_memory(64 << 20, 512 << 20, arenas)
    }
}
