/*
 * A format plugin in C on gateway_plugin_helpers.h: rows as newline-delimited JSON.
 *   config: {"omit_nulls": bool, "line_end": "\n" | "\r\n"}, both optional, given by the
 *           administrator in plugins.config["fixture.ndjson"].
 * An empty stream writes nothing, which the ABI allows.
 *   -DFIXTURE_CRASH_IN_WRITE  write_batch dies of SIGSEGV (run it in a worker process)
 */
#include <signal.h>
#include <stdlib.h>
#include "gateway_plugin_helpers.h"

typedef struct {
  const gw_byte_sink *sink;
  int omit_nulls;
  char line_end[3];
  gw_fields fields; /* copied in begin(): the schema is borrowed for that call only */
  gw_text line;
} ndjson_t;

static gw_status nd_open(gw_host_ctx *ctx, const char *config, size_t len, const gw_byte_sink *sink, void **inst,
                         gw_error *err) {
  (void)ctx;
  ndjson_t *f = calloc(1, sizeof *f);
  if (!f) return gw_fail(err, GW_INTERNAL, "out of memory");
  strcpy(f->line_end, "\n");
  f->sink = sink;
  if (gw_config_bool(config, len, "omit_nulls", &f->omit_nulls, GW_OPTIONAL, err) != GW_OK ||
      gw_config_string(config, len, "line_end", f->line_end, sizeof f->line_end, GW_OPTIONAL, err) != GW_OK) {
    free(f);
    return GW_INVALID_CONFIG;
  }
  if (strcmp(f->line_end, "\n") && strcmp(f->line_end, "\r\n")) {
    free(f);
    return gw_fail(err, GW_INVALID_CONFIG, "field 'line_end' must be \"\\n\" or \"\\r\\n\"");
  }
  *inst = f;
  return GW_OK;
}

static gw_status nd_begin(void *inst, const struct ArrowSchema *schema, gw_error *err) {
  ndjson_t *f = inst;
  return gw_fields_copy(&f->fields, schema, err);
}

static gw_status nd_flush(ndjson_t *f, gw_error *err) {
  if (f->line.failed) return gw_fail(err, GW_INTERNAL, "out of memory");
  gw_status status = f->sink->write(f->sink->sink_private, (const uint8_t *)f->line.data, f->line.len);
  gw_text_clear(&f->line);
  return status == GW_OK ? GW_OK : gw_fail(err, status, "the client went away");
}

static gw_status nd_write(void *inst, const struct ArrowArray *batch, gw_error *err) {
  ndjson_t *f = inst;
#ifdef FIXTURE_CRASH_IN_WRITE
  raise(SIGSEGV);
#endif
  for (int64_t row = 0; row < batch->length; row++) {
    gw_text_append_char(&f->line, '{');
    int first = 1;
    for (int64_t c = 0; c < f->fields.n; c++) {
      if (f->omit_nulls && gw_value_is_null(f->fields.formats[c], batch->children[c], row)) continue;
      if (!first) gw_text_append_char(&f->line, ',');
      first = 0;
      gw_text_append_json_string(&f->line, f->fields.names[c], strlen(f->fields.names[c]));
      gw_text_append_char(&f->line, ':');
      gw_status status = gw_append_value(&f->line, f->fields.formats[c], batch->children[c], row, 1, err);
      if (status != GW_OK) return status;
    }
    gw_text_append_char(&f->line, '}');
    gw_text_append_str(&f->line, f->line_end);
    if (f->line.len >= 65536) {
      gw_status status = nd_flush(f, err);
      if (status != GW_OK) return status;
    }
  }
  return f->line.len ? nd_flush(f, err) : GW_OK;
}

static gw_status nd_finish(void *inst, gw_error *err) {
  (void)inst;
  (void)err;
  return GW_OK;
}

static void nd_close(void *inst) {
  ndjson_t *f = inst;
  gw_fields_free(&f->fields);
  gw_text_free(&f->line);
  free(f);
}

/* -DFIXTURE_FORMAT_NAME='"json"' names the format like the gateway's built-in one (refused). */
#ifndef FIXTURE_FORMAT_NAME
#define FIXTURE_FORMAT_NAME "ndjson"
#endif
/* -DFIXTURE_ABI_1_2: built as for ABI 1.2, whose format table ends before write_error. */
#ifdef FIXTURE_ABI_1_2
#define FORMAT_TABLE_SIZE offsetof(gw_format_vtable, write_error)
#define FIXTURE_MINOR 2
#else
#define FORMAT_TABLE_SIZE sizeof(gw_format_vtable)
#define FIXTURE_MINOR GW_ABI_MINOR
#endif
static const gw_format_vtable format = {FORMAT_TABLE_SIZE, FIXTURE_FORMAT_NAME, "application/x-ndjson", nd_open, nd_begin,
                                        nd_write, nd_finish, nd_close, NULL};
static const gw_plugin_descriptor descriptor = {
    .struct_size = sizeof descriptor, .abi_major = GW_ABI_MAJOR, .abi_minor = FIXTURE_MINOR,
    .id = "fixture.ndjson", .version = "1.0.0", .description = "Rows as newline-delimited JSON (a C fixture).",
    .kinds = GW_KIND_FORMAT,
    .config_schema_json = "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
                          "\"omit_nulls\":{\"type\":\"boolean\"},\"line_end\":{\"type\":\"string\",\"enum\":[\"\\n\",\"\\r\\n\"]}}}",
    .example_config_json = "{}",
    .format = &format};

const gw_plugin_descriptor *gw_plugin_init_v1(const gw_host_api *host, gw_error *err) {
  (void)host;
  (void)err;
  return &descriptor;
}
