#ifndef GW_LINUX_EXTRAS_H
#define GW_LINUX_EXTRAS_H

#include <stddef.h>

/* glibc functions that Swift's Glibc module does not import (they need _GNU_SOURCE or
   <malloc.h>), wrapped one to one. */

/* malloc_trim(0): gives the heap's free memory back to the operating system. After a task
   that held large buffers the arenas would otherwise stay at their peak for the life of
   the process. */
void gw_release_free_memory(void);

/* Keeps glibc from handing memory back after every request: a server's threads free and
   allocate the same few megabytes per request, and glibc's defaults (trim a thread arena's
   heap past 128 KB free, mmap each block from 128 KB up, both thresholds moving with use)
   made that an madvise or munmap per request, each a TLB shootdown on every core: about a
   fifth of a small query's CPU (bench/small_requests.py: 5,500 to 6,900 a second). Free
   memory is still given back, by gw_release_free_memory after large tasks and every minute.
   Sets M_TRIM_THRESHOLD 64 MB and M_MMAP_THRESHOLD 16 MB; call once, at start. */
void gw_tune_malloc_for_serving(void);

/* memmem: the first occurrence of needle in haystack, in time linear in both (glibc uses
   the two-way algorithm), or NULL. */
const void *gw_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len);

/* 1 when every byte of [start, start + length) can be read by this process, 0 when some
   page of it cannot (unmapped, or mapped without read permission), without touching it: a
   read there would kill the process with SIGSEGV. The host checks the buffers a plugin's
   Arrow arrays point at with it before reading them (their sizes are not in the C data
   interface). One byte per page is probed (permissions are per page) through
   process_vm_readv on this process, IOV_MAX pages a call; where that system call is not
   allowed (a seccomp filter), through writing each page's byte into a pipe. -1 when neither
   can tell (the check cannot be made). A length of 0 is readable. */
int gw_memory_readable(const void *start, size_t length);

#endif
