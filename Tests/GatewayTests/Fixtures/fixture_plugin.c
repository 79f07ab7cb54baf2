/*
 * Fixture plugins for the loader tests, all from this one file:
 *   (default)                  a good source "fixture.good": `rows` rows of (id int64, name utf8),
 *                              counts its reads in host state, reports progress
 *   -DFIXTURE_NO_ENTRY         exports no entry symbol
 *   -DFIXTURE_MAJOR=2          built for ABI 2 (exports gw_plugin_init_v2)
 *   -DFIXTURE_NEWER_MINOR      claims ABI 1.(GW_ABI_MINOR + 1)
 *   -DFIXTURE_ABI_1_1          built as for ABI 1.1: a descriptor as short as 1.1's
 *   -DFIXTURE_INIT_FAILS       init returns NULL with a reason
 *   -DFIXTURE_INIT_CRASHES     init dies of SIGSEGV (the process loading it dies with it)
 *   -DFIXTURE_LIE_LENGTH       its batches claim 50,000,000 rows over buffers of 4 values
 *   -DFIXTURE_LIE_OFFSET       a batch's last text offset lies 1 GB past its data buffer
 *   -DFIXTURE_OFFSETS_BACKWARDS  a batch's text offsets go backwards
 *   -DFIXTURE_HANG_IN_NEXT     get_next blocks for ever and ignores cancel
 *   -DFIXTURE_BAD_KIND         declares an unknown kind bit
 *   -DFIXTURE_VERSION='"2.0"'  the good plugin with another version string
 *   -DFIXTURE_ODD_TYPE         the good plugin declaring its name column as a duration ("tDs"),
 *                              a type the ABI does not name
 *   -DFIXTURE_PADDING          the good plugin with its code moved (a large function first), so
 *                              that a file overwritten in place maps other bytes at old addresses
 * Plugins that misbehave around their process (run them in a worker), each at its third batch:
 *   -DFIXTURE_PRINTS           writes lines to stdout and stderr at every batch
 *   -DFIXTURE_FORKS            forks a child that lives on for 5 s holding every descriptor
 *   -DFIXTURE_CLOSED_PIPE      writes to a pipe whose reader is gone (SIGPIPE, unless ignored)
 *   -DFIXTURE_CLOSES_FDS       closes every descriptor from 3 to 1023, which it did not open
 */
#define _POSIX_C_SOURCE 200809L /* sleep() under -std=c99 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway_plugin.h"

#ifndef FIXTURE_VERSION
#define FIXTURE_VERSION "1.0.0"
#endif

static const gw_host_api *host_api __attribute__((unused));

#ifdef FIXTURE_PADDING
/* 64 KB of code before everything else: every later function lands elsewhere. */
__attribute__((used, noinline)) static void fixture_padding(void) {
  __asm__ volatile(".fill 65536, 1, 0x90");
}
#endif

typedef struct {
  gw_host_ctx *ctx;
  long rows;
  long reads_before; /* reads counted in host state before this one */
} instance_t;

typedef struct {
  instance_t *inst;
  long next;
  int done;
} stream_state_t;

/* ---- Arrow: one batch of (id int64, name utf8), every buffer malloc'd ---- */

static void release_schema(struct ArrowSchema *s) {
  for (int64_t i = 0; i < s->n_children; i++) {
    if (s->children[i]->release) s->children[i]->release(s->children[i]);
    free(s->children[i]);
  }
  free(s->children);
  s->release = NULL;
}

static void release_child_schema(struct ArrowSchema *s) { s->release = NULL; }

static void release_array(struct ArrowArray *a) {
  for (int64_t i = 0; i < a->n_buffers; i++) free((void *)a->buffers[i]);
  free(a->buffers);
  for (int64_t i = 0; i < a->n_children; i++) {
    if (a->children[i]->release) a->children[i]->release(a->children[i]);
    free(a->children[i]);
  }
  free(a->children);
  a->release = NULL;
}

static void fill_schema(struct ArrowSchema *out) {
#ifdef FIXTURE_ODD_TYPE
  static const char *formats[2] = {"l", "tDs"};
#else
  static const char *formats[2] = {"l", "u"};
#endif
  static const char *names[2] = {"id", "name"};
  memset(out, 0, sizeof *out);
  out->format = "+s";
  out->name = "";
  out->n_children = 2;
  out->children = calloc(2, sizeof(struct ArrowSchema *));
  for (int i = 0; i < 2; i++) {
    struct ArrowSchema *c = calloc(1, sizeof *c);
    c->format = formats[i];
    c->name = names[i];
    c->flags = ARROW_FLAG_NULLABLE;
    c->release = release_child_schema;
    out->children[i] = c;
  }
  out->release = release_schema;
}

static struct ArrowArray *new_array(int64_t length, int64_t n_buffers) {
  struct ArrowArray *a = calloc(1, sizeof *a);
  a->length = length;
  a->n_buffers = n_buffers;
  a->buffers = calloc((size_t)n_buffers, sizeof(void *));
  a->release = release_array;
  return a;
}

static void fill_batch(struct ArrowArray *out, long first, long count) {
  struct ArrowArray *ids = new_array(count, 2);
  int64_t *values = malloc(sizeof(int64_t) * (size_t)(count ? count : 1));
  for (long i = 0; i < count; i++) values[i] = first + i;
  ids->buffers[1] = values;

  struct ArrowArray *names = new_array(count, 3);
  int32_t *offsets = malloc(sizeof(int32_t) * (size_t)(count + 1));
  char *data = malloc((size_t)(count * 24 + 1));
  offsets[0] = 0;
  for (long i = 0; i < count; i++) {
    int n = sprintf(data + offsets[i], "row %ld", first + i);
    offsets[i + 1] = offsets[i] + n;
  }
  names->buffers[1] = offsets;
  names->buffers[2] = data;

#ifdef FIXTURE_LIE_OFFSET
  if (count > 0) offsets[count] = 1 << 30;
#endif
#ifdef FIXTURE_OFFSETS_BACKWARDS
  if (count > 1) offsets[2] = offsets[1] - 3;
#endif
#ifdef FIXTURE_LIE_LENGTH
  ids->length = names->length = 50000000;
#endif
  struct ArrowArray *batch = new_array(count, 1);
#ifdef FIXTURE_LIE_LENGTH
  batch->length = 50000000;
#endif
  batch->n_children = 2;
  batch->children = calloc(2, sizeof(struct ArrowArray *));
  batch->children[0] = ids;
  batch->children[1] = names;
  *out = *batch; /* move the struct; the heap shell is freed below */
  free(batch);
}

/* ---- the stream ---- */

static int stream_get_schema(struct ArrowArrayStream *s, struct ArrowSchema *out) {
  (void)s;
  fill_schema(out);
  return 0;
}

static int stream_get_next(struct ArrowArrayStream *s, struct ArrowArray *out) {
  stream_state_t *st = s->private_data;
#ifdef FIXTURE_HANG_IN_NEXT
  for (;;) sleep(1); /* deaf to cancel: only a thread given up on gets past this */
#endif
  /* -DFIXTURE_CRASH_FIRST_READ / ABORT_FIRST_READ: the first read of an instance's life (as
     its host state counts them) dies at its third batch; later reads are fine. */
#ifdef FIXTURE_CRASH_FIRST_READ
  if (st->inst->reads_before == 0 && st->next >= 8) raise(SIGSEGV);
#endif
#ifdef FIXTURE_LEAK_PER_BATCH
  { /* 32 MiB a batch, touched and never freed: what a leak does to whoever hosts it */
    char *leak = malloc(32u << 20);
    memset(leak, 1, 32u << 20);
  }
#endif
#ifdef FIXTURE_CRASH_EVERY_READ
  if (st->next >= 8) raise(SIGSEGV);
#endif
#ifdef FIXTURE_ABORT_FIRST_READ
  if (st->inst->reads_before == 0 && st->next >= 8) abort();
#endif
#ifdef FIXTURE_PRINTS
  printf("fixture: a line on stdout before row %ld\n", st->next);
  fprintf(stderr, "fixture: a line on stderr before row %ld\n", st->next);
  fflush(stdout);
#endif
#ifdef FIXTURE_FORKS
  if (st->next == 8 && fork() == 0) {
    sleep(5);
    _exit(0);
  }
#endif
#ifdef FIXTURE_CLOSED_PIPE
  if (st->next == 8) {
    int ends[2];
    if (pipe(ends) == 0) {
      close(ends[0]);
      if (write(ends[1], "x", 1) < 0 && errno != EPIPE) return EIO;
      close(ends[1]);
    }
  }
#endif
#ifdef FIXTURE_CLOSES_FDS
  if (st->next == 8) {
    for (int fd = 3; fd < 1024; fd++) close(fd);
  }
#endif
  if (host_api->is_cancelled(st->inst->ctx)) return ECANCELED;
  if (st->done || st->next >= st->inst->rows) {
    memset(out, 0, sizeof *out); /* end of stream: release == NULL */
    st->done = 1;
    return 0;
  }
  long count = st->inst->rows - st->next < 4 ? st->inst->rows - st->next : 4;
  fill_batch(out, st->next, count);
  st->next += count;
  host_api->progress(st->inst->ctx, st->next, st->inst->rows, NULL);
  return 0;
}

static const char *stream_last_error(struct ArrowArrayStream *s) {
  (void)s;
  return "cancelled";
}

static void stream_release(struct ArrowArrayStream *s) {
  free(s->private_data);
  s->release = NULL;
}

/* ---- the source vtable ---- */

static gw_status src_open(gw_host_ctx *ctx, const char *config, size_t len, void **instance, gw_error *err) {
  (void)len;
  long rows = -1;
  /* A deliberately small parser: the config must be exactly {"rows": N}. */
  if (sscanf(config, " { \"rows\" : %ld }", &rows) != 1 || rows < 0) {
    snprintf(err->message, GW_ERROR_MESSAGE_SIZE, "config must be {\"rows\": N} with N >= 0");
    return GW_INVALID_CONFIG;
  }
  instance_t *inst = calloc(1, sizeof *inst);
  inst->ctx = ctx;
  inst->rows = rows;
  *instance = inst;
  return GW_OK;
}

static gw_status src_read(void *instance, const char *request, size_t len, struct ArrowArrayStream *out, gw_error *err) {
  instance_t *inst = instance;
  if (len == 0 || request[0] != '{') {
    snprintf(err->message, GW_ERROR_MESSAGE_SIZE, "request must be a JSON object");
    return GW_INVALID_ARGUMENT;
  }
  /* Count reads in host state, to prove the state service round-trips. */
  long reads = 0;
  gw_bytes previous;
  gw_error state_err = {{0}};
  if (host_api->state_get(inst->ctx, "reads", &previous, &state_err) == GW_OK) {
    char text[32] = {0};
    memcpy(text, previous.data, previous.len < 31 ? previous.len : 31);
    reads = atol(text);
    host_api->bytes_release(&previous);
  }
  inst->reads_before = reads;
  char text[32];
  int n = snprintf(text, sizeof text, "%ld", reads + 1);
  if (host_api->state_set(inst->ctx, "reads", (const uint8_t *)text, (size_t)n, err) != GW_OK) return GW_IO;
  host_api->log(inst->ctx, GW_LOG_INFO, "fixture read started");

  stream_state_t *st = calloc(1, sizeof *st);
  st->inst = inst;
  out->get_schema = stream_get_schema;
  out->get_next = stream_get_next;
  out->get_last_error = stream_last_error;
  out->release = stream_release;
  out->private_data = st;
  return GW_OK;
}

static gw_status src_finish(void *instance, gw_error *err) {
  (void)instance;
  (void)err;
  return GW_OK;
}

static void src_close(void *instance) { free(instance); }

static const gw_source_vtable source_table = {
    sizeof(gw_source_vtable), NULL, src_open, src_read, src_finish, src_close,
};

static const gw_plugin_descriptor descriptor __attribute__((unused)) = {
#ifdef FIXTURE_ABI_1_1
    offsetof(gw_plugin_descriptor, sink), /* a 1.1 descriptor ends before the sink table */
#else
    sizeof(gw_plugin_descriptor),
#endif
    GW_ABI_MAJOR,
#if defined(FIXTURE_NEWER_MINOR)
    GW_ABI_MINOR + 1,
#elif defined(FIXTURE_ABI_1_1)
    1,
#else
    GW_ABI_MINOR,
#endif
    "fixture.good",
    FIXTURE_VERSION,
    "A fixture source written in C.",
#ifdef FIXTURE_BAD_KIND
    GW_KIND_SOURCE | 0x100u,
#else
    GW_KIND_SOURCE,
#endif
    "{\"type\":\"object\",\"required\":[\"rows\"],\"properties\":{\"rows\":{\"type\":\"integer\"}}}",
    "{\"rows\": 10}",
    &source_table,
    NULL,
    NULL,
    NULL,
};

#if defined(FIXTURE_NO_ENTRY)
GW_EXPORT int not_a_gateway_plugin(void) { return 42; }
#elif defined(FIXTURE_MAJOR) && FIXTURE_MAJOR == 2
GW_EXPORT const gw_plugin_descriptor *gw_plugin_init_v2(const gw_host_api *host, gw_error *err) {
  (void)err;
  host_api = host;
  return &descriptor;
}
#else
const gw_plugin_descriptor *gw_plugin_init_v1(const gw_host_api *host, gw_error *err) {
#ifdef FIXTURE_INIT_CRASHES
  {
    volatile int *nowhere = NULL;
    *nowhere = 1;
  }
#endif
#ifdef FIXTURE_SLOW_INIT
  sleep(FIXTURE_SLOW_INIT); /* an init that takes its time (a license server, say) */
#endif
#ifdef FIXTURE_INIT_FAILS
  (void)host;
  snprintf(err->message, GW_ERROR_MESSAGE_SIZE, "license file /etc/fixture.lic not found");
  return NULL;
#else
  (void)err;
  if (host->abi_major != GW_ABI_MAJOR) return NULL;
  host_api = host;
  return &descriptor;
#endif
}
#endif
