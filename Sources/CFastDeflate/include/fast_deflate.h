#ifndef GW_FAST_DEFLATE_H
#define GW_FAST_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

/* Raw deflate and CRC-32 through Intel's ISA-L (igzip), when the machine has it.

   Why: ISA-L's level-1 deflate runs at ~3x the speed of zlib's level 1 on sheet XML, with a
   smaller result, and its CRC-32 at ~10x; the XLSX exporter's time is mostly deflate.
   How it is optional: the build uses ISA-L's header when it is installed (Debian:
   libisal-dev) and the library is opened at run time (libisal.so.2), so the gateway builds
   and runs without it and ZipWriter falls back to zlib. Nothing here links against ISA-L.

   Ownership: a gw_fast_deflate is owned by its caller from gw_fast_deflate_new until
   gw_fast_deflate_free, and used by one thread at a time. Buffers passed in are borrowed
   for the call only. */

typedef struct gw_fast_deflate gw_fast_deflate;

/* 1 when ISA-L was built in and its library loads on this machine; 0 otherwise. */
int gw_fast_deflate_available(void);

/* A raw deflate stream at ISA-L level 1 to 3, or NULL (not available, out of memory). */
gw_fast_deflate *gw_fast_deflate_new(int level);

/* Compresses from next_in (avail_in bytes) into next_out (avail_out bytes), advancing all four, until
   the input is used up or the output is full. With final set, the input is the stream's
   last: call again with more output space until the result is 1 (the stream ended).
   Returns 0 (call again when there is more input or output space), 1 (ended), -1 (error). */
int gw_fast_deflate_step(gw_fast_deflate *stream, const uint8_t **next_in, size_t *avail_in,
                         uint8_t **next_out, size_t *avail_out, int final);

void gw_fast_deflate_free(gw_fast_deflate *stream);

/* Deflates in_len bytes from in as a run of its own: the stream is reset first (no
   back-references to earlier input) and the run ends with a sync flush (byte-aligned, not
   final), so runs made by several streams concatenate into one valid raw deflate stream.
   Writes at most out_cap bytes to out and sets *written. Returns 0, -1 on an error, -2 when
   out_cap was too small (give at least in_len + in_len / 16 + 1024). */
int gw_fast_deflate_run(gw_fast_deflate *stream, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
                        size_t *written);

/* CRC-32 (the ZIP and gzip one), continued from crc (0 to start). Only when available. */
uint32_t gw_fast_crc32(uint32_t crc, const uint8_t *bytes, size_t count);

#endif
