#include "cmalloc.h"
#if defined(__GLIBC__)
#include <malloc.h>
int geoinfer_keep_freed_memory(int mmap_threshold, int trim_threshold, int arena_max) {
    int ok = mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1;
    if (arena_max > 0) ok = ok && mallopt(M_ARENA_MAX, arena_max) == 1;
    return ok;
}
#else
int geoinfer_keep_freed_memory(int mmap_threshold, int trim_threshold, int arena_max) {
    (void)mmap_threshold; (void)trim_threshold; (void)arena_max;
    return 0;
}
#endif
