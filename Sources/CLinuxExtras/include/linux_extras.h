#ifndef GW_LINUX_EXTRAS_H
#define GW_LINUX_EXTRAS_H

#include <stddef.h>

/* glibc functions that Swift's Glibc module does not import (they need _GNU_SOURCE or
   <malloc.h>), wrapped one to one. */

/* malloc_trim(0): gives the heap's free memory back to the operating system. After a task
   that held large buffers the arenas would otherwise stay at their peak for the life of
   the process. */
void gw_release_free_memory(void);

/* memmem: the first occurrence of needle in haystack, in time linear in both (glibc uses
   the two-way algorithm), or NULL. */
const void *gw_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len);

#endif
