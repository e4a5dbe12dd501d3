#ifndef GEOINFER_CMALLOC_H
#define GEOINFER_CMALLOC_H
/* glibc allocator tuning (mallopt is in <malloc.h>, which Swift's Glibc module leaves out).
   Returns 1 when both settings took, 0 otherwise (and always 0 outside glibc). */
int geoinfer_keep_freed_memory(int mmap_threshold, int trim_threshold);
#endif
