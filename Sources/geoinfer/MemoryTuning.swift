import CMalloc

/// glibc's allocator tuned for processes that run files one after another: each file allocates
/// and frees the same few buffers of several megabytes (tiles, the quicklook, decoded strips). By
/// default glibc serves such sizes with fresh `mmap`s, or trims them from the heap when freed, so
/// every file pays page faults on memory it had a moment before (about 2 ms of CPU a file in a
/// profile of 1,000 drone tiles: BENCHMARKS.md). Kept in the heap instead, they are reused. The
/// cost: the process keeps up to 512 MiB of freed memory mapped instead of giving it back at once.
enum MemoryTuning {
    static func apply() {
        // Allocations up to 64 MiB come from the heap, and up to 512 MiB of free heap stays mapped.
        _ = geoinfer_keep_freed_memory(64 << 20, 512 << 20)
    }
}
