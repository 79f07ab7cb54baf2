#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "linux_extras.h"

void gw_release_free_memory(void) { malloc_trim(0); }

void gw_tune_malloc_for_serving(void) {
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_MMAP_THRESHOLD, 16 << 20);
}

const void *gw_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len) {
    return memmem(haystack, haystack_len, needle, needle_len);
}

/* Pages probed per system call. */
#define GW_PROBE_BATCH 1024

static int probe_with_pipe(uintptr_t begin, uintptr_t first, uintptr_t last, size_t page) {
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static int fds[2] = {-1, -1};
    int result = 1;
    pthread_mutex_lock(&lock);
    if (fds[0] < 0 && pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        fds[0] = fds[1] = -1;
        pthread_mutex_unlock(&lock);
        return -1;
    }
    for (uintptr_t at = first; at <= last; at += page) {
        char sink;
        ssize_t n = write(fds[1], (const void *)(at < begin ? begin : at), 1);
        if (n != 1) {
            result = errno == EFAULT ? 0 : -1;
            break;
        }
        if (read(fds[0], &sink, 1) != 1) {
            result = -1;
            break;
        }
        if (at > UINTPTR_MAX - page) break;
    }
    pthread_mutex_unlock(&lock);
    return result;
}

int gw_memory_readable(const void *start, size_t length) {
    if (length == 0) return 1;
    uintptr_t begin = (uintptr_t)start;
    if (begin == 0 || length - 1 > UINTPTR_MAX - begin) return 0;
    uintptr_t end = begin + (length - 1); /* the last byte */
    long sysconf_page = sysconf(_SC_PAGESIZE);
    size_t page = sysconf_page > 0 ? (size_t)sysconf_page : 4096;
    uintptr_t first = begin & ~(uintptr_t)(page - 1);
    uintptr_t last = end & ~(uintptr_t)(page - 1);
    struct iovec remote[GW_PROBE_BATCH];
    char bytes[GW_PROBE_BATCH];
    struct iovec local = {bytes, 0};
    pid_t self = getpid();
    uintptr_t at = first;
    for (;;) {
        size_t n = 0;
        /* One byte of each page: the range's own first byte for the first page. */
        while (n < GW_PROBE_BATCH) {
            remote[n].iov_base = (void *)(at < begin ? begin : at);
            remote[n].iov_len = 1;
            n++;
            if (at == last) break;
            at += page;
        }
        local.iov_len = n;
        ssize_t got = process_vm_readv(self, &local, 1, remote, n, 0);
        if (got < 0) {
            if (errno == EFAULT) return 0;
            if (errno == ENOSYS || errno == EPERM || errno == EACCES) return probe_with_pipe(begin, first, last, page);
            return -1;
        }
        if ((size_t)got != n) return 0; /* stopped at the first page it could not read */
        if (remote[n - 1].iov_base == (void *)(last < begin ? begin : last)) return 1;
    }
}
