/*
 * A sink plugin written in C (ABI 1.2), for the tests: it appends rows to a file as
 * tab-separated lines, and only at commit, so an aborted run leaves the file as it was.
 *
 * Config: {"path": "/absolute/file.tsv"}. A row whose int64 column "qty" is negative is
 * reported refused (host->reject_row) and not written: a destination's validation error.
 * Build flags:
 *   -DFIXTURE_FAIL_COMMIT   commit fails with GW_UNAVAILABLE (the destination went away)
 *   -DFIXTURE_CRASH_IN_WRITE its second write_batch dereferences NULL (run it in a worker)
 *   -DFIXTURE_LYING_REJECTS each refused row is reported 50 times, and rows it was never
 *                           given (-1, 10^12) are reported refused too: counts from outside lie
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_plugin.h"

static const gw_host_api *host_api;

typedef struct {
  gw_host_ctx *ctx;
  char path[512];
  char *buffer; /* lines written since begin, not yet committed */
  size_t len, cap;
  int64_t n_columns;
  char formats[64][16];
  char names[64][64];
  int64_t rows_seen; /* rows since begin: a refused row is named by its position */
} sink;

static void set_error(gw_error *err, const char *message) {
  snprintf(err->message, GW_ERROR_MESSAGE_SIZE, "%s", message);
}

static int append(sink *s, const char *text, size_t n) {
  if (s->len + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 4096;
    while (cap < s->len + n + 1) cap *= 2;
    char *grown = realloc(s->buffer, cap);
    if (!grown) return 0;
    s->buffer = grown;
    s->cap = cap;
  }
  memcpy(s->buffer + s->len, text, n);
  s->len += n;
  return 1;
}

static gw_status sink_open(gw_host_ctx *ctx, const char *config, size_t len, void **instance, gw_error *err) {
  /* The config is not NUL-terminated by contract: copy it before searching it. */
  char text[1024];
  if (len >= sizeof text) {
    set_error(err, "config is too long");
    return GW_INVALID_CONFIG;
  }
  memcpy(text, config, len);
  text[len] = 0;
  const char *key = strstr(text, "\"path\"");
  const char *start = key ? strchr(key + 6, '"') : NULL;
  const char *end = start ? strchr(start + 1, '"') : NULL;
  if (!start || !end || end - start - 1 <= 0 || (size_t)(end - start) >= 512 || start[1] != '/') {
    set_error(err, "config.path is required: an absolute file path");
    return GW_INVALID_CONFIG;
  }
  sink *s = calloc(1, sizeof *s);
  if (!s) {
    set_error(err, "out of memory");
    return GW_INTERNAL;
  }
  s->ctx = ctx;
  memcpy(s->path, start + 1, (size_t)(end - start - 1));
  *instance = s;
  return GW_OK;
}

static gw_status sink_begin(void *instance, const struct ArrowSchema *schema, gw_error *err) {
  sink *s = instance;
  if (schema->n_children > 64) {
    set_error(err, "at most 64 columns");
    return GW_INVALID_ARGUMENT;
  }
  s->n_columns = schema->n_children;
  for (int64_t i = 0; i < schema->n_children; i++) {
    snprintf(s->formats[i], sizeof s->formats[i], "%s", schema->children[i]->format);
    snprintf(s->names[i], sizeof s->names[i], "%s", schema->children[i]->name ? schema->children[i]->name : "");
  }
  s->len = 0;
  s->rows_seen = 0;
  return GW_OK;
}

static int is_null(const struct ArrowArray *column, int64_t row) {
  const uint8_t *validity = column->n_buffers > 0 ? column->buffers[0] : NULL;
  if (!validity) return 0;
  int64_t i = row + column->offset;
  return !(validity[i / 8] & (1 << (i % 8)));
}

static gw_status sink_write(void *instance, const struct ArrowArray *batch, gw_error *err) {
  sink *s = instance;
#ifdef FIXTURE_CRASH_IN_WRITE
  if (s->rows_seen > 0) {
    volatile int *nowhere = NULL;
    *nowhere = 1;
  }
#endif
  if (batch->n_children != s->n_columns) {
    set_error(err, "the batch's columns differ from the schema's");
    return GW_INVALID_ARGUMENT;
  }
  for (int64_t row = 0; row < batch->length; row++, s->rows_seen++) {
    char line[4096];
    size_t used = 0;
    int refused = 0;
    for (int64_t c = 0; c < s->n_columns && used < sizeof line - 64; c++) {
      const struct ArrowArray *column = batch->children[c];
      int64_t i = row + column->offset;
      const char *f = s->formats[c];
      if (c > 0) line[used++] = '\t';
      if (is_null(column, row)) {
        used += (size_t)snprintf(line + used, sizeof line - used, "null");
      } else if (strcmp(f, "l") == 0) {
        int64_t v = ((const int64_t *)column->buffers[1])[i];
        if (v < 0 && strcmp(s->names[c], "qty") == 0) refused = 1;
        used += (size_t)snprintf(line + used, sizeof line - used, "%lld", (long long)v);
      } else if (strcmp(f, "g") == 0) {
        used += (size_t)snprintf(line + used, sizeof line - used, "%g", ((const double *)column->buffers[1])[i]);
      } else if (strcmp(f, "u") == 0) {
        const int32_t *offsets = column->buffers[1];
        const char *data = column->buffers[2];
        int32_t n = offsets[i + 1] - offsets[i];
        if (n < 0 || (size_t)n > sizeof line - used - 64) n = 0;
        memcpy(line + used, data + offsets[i], (size_t)n);
        used += (size_t)n;
      } else {
        used += (size_t)snprintf(line + used, sizeof line - used, "?");
      }
    }
    if (refused) {
#ifdef FIXTURE_LYING_REJECTS
      for (int k = 0; k < 49; k++) host_api->reject_row(s->ctx, s->rows_seen, "qty must not be negative");
      host_api->reject_row(s->ctx, -1, "a row before the first");
      host_api->reject_row(s->ctx, 1000000000000LL, "a row never written");
#endif
      host_api->reject_row(s->ctx, s->rows_seen, "qty must not be negative");
      continue;
    }
    line[used++] = '\n';
    if (!append(s, line, used)) {
      set_error(err, "out of memory");
      return GW_INTERNAL;
    }
  }
  return GW_OK;
}

static gw_status sink_commit(void *instance, gw_error *err) {
  sink *s = instance;
#ifdef FIXTURE_FAIL_COMMIT
  (void)s;
  set_error(err, "the destination went away");
  return GW_UNAVAILABLE;
#else
  FILE *file = fopen(s->path, "a");
  if (!file) {
    set_error(err, "cannot open the output file");
    return GW_IO;
  }
  size_t written = s->len ? fwrite(s->buffer, 1, s->len, file) : 0;
  int closed = fclose(file);
  if (written != s->len || closed != 0) {
    set_error(err, "writing the output file failed");
    return GW_IO;
  }
  s->len = 0;
  return GW_OK;
#endif
}

static void sink_abort(void *instance) {
  sink *s = instance;
  s->len = 0;
}

static void sink_close(void *instance) {
  sink *s = instance;
  free(s->buffer);
  free(s);
}

static const gw_sink_vtable sink_table = {
    sizeof(gw_sink_vtable), sink_open, sink_begin, sink_write, sink_commit, sink_abort, sink_close,
};

static const gw_plugin_descriptor descriptor = {
    sizeof(gw_plugin_descriptor),
    GW_ABI_MAJOR,
    GW_ABI_MINOR,
    "fixture.sink",
    "1.0.0",
    "A fixture sink written in C: rows into a TSV file at commit.",
    GW_KIND_SINK,
    "{\"type\":\"object\",\"required\":[\"path\"],\"properties\":{\"path\":{\"type\":\"string\"}}}",
    "{\"path\": \"/tmp/gateway-fixture-sink.tsv\"}",
    NULL,
    NULL,
    NULL,
    &sink_table,
};

const gw_plugin_descriptor *gw_plugin_init_v1(const gw_host_api *host, gw_error *err) {
  if (host->abi_major != GW_ABI_MAJOR || host->struct_size < offsetof(gw_host_api, reject_row) + sizeof host->reject_row) {
    set_error(err, "this sink needs a gateway speaking ABI 1.2");
    return NULL;
  }
  host_api = host;
  return &descriptor;
}
