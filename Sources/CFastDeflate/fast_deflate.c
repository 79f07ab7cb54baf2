#include "fast_deflate.h"

#include <stdlib.h>

#if __has_include(<isa-l/igzip_lib.h>) && __has_include(<isa-l/crc.h>)
#include <dlfcn.h>
#include <pthread.h>
#include <isa-l/igzip_lib.h>
#include <isa-l/crc.h>

/* The library's functions, looked up once. */
static struct {
    void (*deflate_init)(struct isal_zstream *);
    int (*deflate)(struct isal_zstream *);
    uint32_t (*crc32)(uint32_t, const unsigned char *, uint64_t);
    int loaded;
} isal;

static pthread_once_t isal_once = PTHREAD_ONCE_INIT;

static void load_isal(void) {
    /* Never closed: the functions are used for the life of the process. */
    void *library = dlopen("libisal.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!library) return;
    isal.deflate_init = (void (*)(struct isal_zstream *))dlsym(library, "isal_deflate_init");
    isal.deflate = (int (*)(struct isal_zstream *))dlsym(library, "isal_deflate");
    isal.crc32 = (uint32_t (*)(uint32_t, const unsigned char *, uint64_t))dlsym(library, "crc32_gzip_refl");
    isal.loaded = isal.deflate_init && isal.deflate && isal.crc32;
}

int gw_fast_deflate_available(void) {
    pthread_once(&isal_once, load_isal);
    return isal.loaded;
}

struct gw_fast_deflate {
    struct isal_zstream stream;
    uint8_t *level_buffer;
};

gw_fast_deflate *gw_fast_deflate_new(int level) {
    if (!gw_fast_deflate_available() || level < 1 || level > 3) return NULL;
    gw_fast_deflate *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    static const uint32_t sizes[] = {0, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT, ISAL_DEF_LVL3_DEFAULT};
    s->level_buffer = malloc(sizes[level]);
    if (!s->level_buffer) { free(s); return NULL; }
    isal.deflate_init(&s->stream);
    s->stream.level = (uint32_t)level;
    s->stream.level_buf = s->level_buffer;
    s->stream.level_buf_size = sizes[level];
    s->stream.gzip_flag = IGZIP_DEFLATE;  /* raw deflate: ZIP's method 8 */
    s->stream.flush = NO_FLUSH;
    return s;
}

int gw_fast_deflate_step(gw_fast_deflate *s, const uint8_t **next_in, size_t *avail_in,
                         uint8_t **next_out, size_t *avail_out, int final) {
    /* ISA-L counts in 32 bits: hand it at most 1 GB at a time. */
    const size_t cap = (size_t)1 << 30;
    for (;;) {
        uint32_t in = (uint32_t)(*avail_in < cap ? *avail_in : cap);
        uint32_t out = (uint32_t)(*avail_out < cap ? *avail_out : cap);
        s->stream.next_in = (uint8_t *)*next_in;
        s->stream.avail_in = in;
        s->stream.next_out = *next_out;
        s->stream.avail_out = out;
        /* Only the last piece of the last input ends the stream. */
        s->stream.end_of_stream = (uint16_t)(final && in == *avail_in);
        if (isal.deflate(&s->stream) != COMP_OK) return -1;
        size_t used = in - s->stream.avail_in, written = out - s->stream.avail_out;
        *next_in += used;
        *avail_in -= used;
        *next_out += written;
        *avail_out -= written;
        if (s->stream.internal_state.state == ZSTATE_END) return 1;
        if (*avail_out == 0) return 0;
        if (*avail_in == 0 && !final) return 0;
        if (used == 0 && written == 0) return -1;  /* no progress with room on both sides */
    }
}

int gw_fast_deflate_run(gw_fast_deflate *s, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
                        size_t *written) {
    *written = 0;
    if (in_len > ((size_t)1 << 30) || out_cap > ((size_t)1 << 31)) return -1;
    uint32_t level = s->stream.level, size = s->stream.level_buf_size;
    isal.deflate_init(&s->stream);
    s->stream.level = level;
    s->stream.level_buf = s->level_buffer;
    s->stream.level_buf_size = size;
    s->stream.gzip_flag = IGZIP_DEFLATE;
    s->stream.flush = SYNC_FLUSH;
    s->stream.end_of_stream = 0;
    s->stream.next_in = (uint8_t *)in;
    s->stream.avail_in = (uint32_t)in_len;
    s->stream.next_out = out;
    s->stream.avail_out = (uint32_t)out_cap;
    if (isal.deflate(&s->stream) != COMP_OK) return -1;
    /* All input taken and room left over: the flush is complete. */
    if (s->stream.avail_in != 0 || s->stream.avail_out == 0) return -2;
    *written = out_cap - s->stream.avail_out;
    return 0;
}

void gw_fast_deflate_free(gw_fast_deflate *s) {
    if (!s) return;
    free(s->level_buffer);
    free(s);
}

uint32_t gw_fast_crc32(uint32_t crc, const uint8_t *bytes, size_t count) {
    if (!gw_fast_deflate_available()) return 0;
    return isal.crc32(crc, bytes, count);
}

#else  /* built without ISA-L's header: the zlib path runs */

int gw_fast_deflate_available(void) { return 0; }
gw_fast_deflate *gw_fast_deflate_new(int level) { (void)level; return NULL; }
int gw_fast_deflate_step(gw_fast_deflate *s, const uint8_t **next_in, size_t *avail_in,
                         uint8_t **next_out, size_t *avail_out, int final) {
    (void)s; (void)next_in; (void)avail_in; (void)next_out; (void)avail_out; (void)final;
    return -1;
}
int gw_fast_deflate_run(gw_fast_deflate *s, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
                        size_t *written) {
    (void)s; (void)in; (void)in_len; (void)out; (void)out_cap;
    *written = 0;
    return -1;
}
void gw_fast_deflate_free(gw_fast_deflate *s) { (void)s; }
uint32_t gw_fast_crc32(uint32_t crc, const uint8_t *bytes, size_t count) { (void)crc; (void)bytes; (void)count; return 0; }

#endif
