/*
 * An exporter plugin in C on gateway_plugin_helpers.h: rows as tab-separated text, one file
 * per export (base_name.tsv) or several when max_rows_per_file is given.
 *   config: {"header": bool (default true; an export may set it per request),
 *            "null_text": string (default ""), "max_rows_per_file": integer}
 * Tabs, newlines and backslashes inside values are written as \t, \n, \r and \\.
 */
#include <stdlib.h>
#include "gateway_plugin_helpers.h"

typedef struct {
  gw_host_ctx *ctx;
  char dir[4096], base[256], null_text[64];
  int header;
  int64_t max_rows, rows_in_file, files;
  FILE *out;
  gw_fields fields;
  gw_text line, value;
} tsv_t;

static const gw_host_api *host;

static gw_status tsv_open(gw_host_ctx *ctx, const char *config, size_t len, const char *output_dir, const char *base_name,
                          void **inst, gw_error *err) {
  tsv_t *t = calloc(1, sizeof *t);
  if (!t) return gw_fail(err, GW_INTERNAL, "out of memory");
  t->ctx = ctx;
  t->header = 1;
  if (gw_config_bool(config, len, "header", &t->header, GW_OPTIONAL, err) != GW_OK ||
      gw_config_string(config, len, "null_text", t->null_text, sizeof t->null_text, GW_OPTIONAL, err) != GW_OK ||
      gw_config_int64(config, len, "max_rows_per_file", &t->max_rows, GW_OPTIONAL, err) != GW_OK) {
    free(t);
    return GW_INVALID_CONFIG;
  }
  if (t->max_rows < 0) {
    free(t);
    return gw_fail(err, GW_INVALID_CONFIG, "field 'max_rows_per_file' must be >= 0");
  }
  if (snprintf(t->dir, sizeof t->dir, "%s", output_dir) >= (int)sizeof t->dir ||
      snprintf(t->base, sizeof t->base, "%s", base_name) >= (int)sizeof t->base) {
    free(t);
    return gw_fail(err, GW_INVALID_ARGUMENT, "output path too long");
  }
  *inst = t;
  return GW_OK;
}

static gw_status tsv_close_file(tsv_t *t, gw_error *err) {
  if (!t->out) return GW_OK;
  int failed = ferror(t->out) | fclose(t->out);
  t->out = NULL;
  return failed ? gw_fail(err, GW_IO, "writing %s/%s.tsv failed", t->dir, t->base) : GW_OK;
}

/* Starts the next file (base.tsv, or base-N.tsv when files are split) with its header. */
static gw_status tsv_next_file(tsv_t *t, gw_error *err) {
  gw_status status = tsv_close_file(t, err);
  if (status != GW_OK) return status;
  char path[4500];
  t->files++;
  if (t->max_rows > 0) snprintf(path, sizeof path, "%s/%s-%lld.tsv", t->dir, t->base, (long long)t->files);
  else snprintf(path, sizeof path, "%s/%s.tsv", t->dir, t->base);
  t->out = fopen(path, "wx");
  if (!t->out) return gw_fail(err, GW_IO, "cannot create %s", path);
  t->rows_in_file = 0;
  for (int64_t c = 0; t->header && c < t->fields.n; c++)
    fprintf(t->out, c ? "\t%s" : "%s", t->fields.names[c]);
  if (t->header) fputc('\n', t->out);
  return GW_OK;
}

static gw_status tsv_begin(void *inst, const struct ArrowSchema *schema, gw_error *err) {
  tsv_t *t = inst;
  gw_status status = gw_fields_copy(&t->fields, schema, err);
  return status == GW_OK ? tsv_next_file(t, err) : status;
}

static void tsv_escape(gw_text *line, const gw_text *value) {
  for (size_t i = 0; i < value->len; i++) {
    char c = value->data[i];
    if (c == '\t') gw_text_append(line, "\\t", 2);
    else if (c == '\n') gw_text_append(line, "\\n", 2);
    else if (c == '\r') gw_text_append(line, "\\r", 2);
    else if (c == '\\') gw_text_append(line, "\\\\", 2);
    else gw_text_append_char(line, c);
  }
}

static gw_status tsv_write(void *inst, const struct ArrowArray *batch, gw_error *err) {
  tsv_t *t = inst;
  if (host->is_cancelled(t->ctx)) return gw_fail(err, GW_CANCELLED, "cancelled");
  for (int64_t row = 0; row < batch->length; row++) {
    if (t->max_rows > 0 && t->rows_in_file >= t->max_rows) {
      gw_status status = tsv_next_file(t, err);
      if (status != GW_OK) return status;
    }
    gw_text_clear(&t->line);
    for (int64_t c = 0; c < t->fields.n; c++) {
      if (c) gw_text_append_char(&t->line, '\t');
      if (gw_value_is_null(t->fields.formats[c], batch->children[c], row)) {
        gw_text_append_str(&t->line, t->null_text);
        continue;
      }
      gw_text_clear(&t->value);
      gw_status status = gw_append_value(&t->value, t->fields.formats[c], batch->children[c], row, 0, err);
      if (status != GW_OK) return status;
      tsv_escape(&t->line, &t->value);
    }
    gw_text_append_char(&t->line, '\n');
    if (t->line.failed || t->value.failed) return gw_fail(err, GW_INTERNAL, "out of memory");
    if (fwrite(t->line.data, 1, t->line.len, t->out) != t->line.len) return gw_fail(err, GW_IO, "writing failed");
    t->rows_in_file++;
  }
  return GW_OK;
}

static gw_status tsv_finish(void *inst, gw_error *err) { return tsv_close_file(inst, err); }

static void tsv_close(void *inst) {
  tsv_t *t = inst;
  if (t->out) fclose(t->out);
  gw_fields_free(&t->fields);
  gw_text_free(&t->line);
  gw_text_free(&t->value);
  free(t);
}

static const gw_exporter_vtable exporter = {sizeof exporter, "TSV", "tsv", tsv_open, tsv_begin,
                                            tsv_write, tsv_finish, tsv_close};
static const gw_plugin_descriptor descriptor = {
    .struct_size = sizeof descriptor, .abi_major = GW_ABI_MAJOR, .abi_minor = GW_ABI_MINOR,
    .id = "fixture.tsv", .version = "1.0.0", .description = "Rows as tab-separated text (a C fixture).",
    .kinds = GW_KIND_EXPORTER,
    .config_schema_json = "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
                          "\"header\":{\"type\":\"boolean\",\"per_request\":true},"
                          "\"null_text\":{\"type\":\"string\",\"maxLength\":63},"
                          "\"max_rows_per_file\":{\"type\":\"integer\",\"minimum\":0}}}",
    .example_config_json = "{\"null_text\": \"\\\\N\"}",
    .exporter = &exporter};

const gw_plugin_descriptor *gw_plugin_init_v1(const gw_host_api *h, gw_error *err) {
  (void)err;
  host = h;
  return &descriptor;
}
