#ifndef GEOINFER_CMALLOC_H
#define GEOINFER_CMALLOC_H
/* glibc allocator tuning (mallopt is in <malloc.h>, which Swift's Glibc module leaves out).
   Returns 1 when every setting took, 0 otherwise (and always 0 outside glibc). An arena_max of 0
   leaves glibc's number of arenas as it is. */
int geoinfer_keep_freed_memory(int mmap_threshold, int trim_threshold, int arena_max);
#endif
