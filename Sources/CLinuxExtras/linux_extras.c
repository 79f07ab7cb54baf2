#define _GNU_SOURCE
#include <malloc.h>
#include <string.h>
#include "linux_extras.h"

void gw_release_free_memory(void) { malloc_trim(0); }

const void *gw_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len) {
    return memmem(haystack, haystack_len, needle, needle_len);
}
