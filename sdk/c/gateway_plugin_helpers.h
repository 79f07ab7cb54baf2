/*
 * gateway_plugin_helpers.h: what every C plugin for the gateway would otherwise write itself.
 *
 * One file, no dependency but the C library and gateway_plugin.h; copy it next to your
 * plugin or add this folder to the include path (-I sdk/c). Every function is `static`, so
 * two plugins built from it never clash, and unused ones cost nothing.
 *
 *   1. LAYOUT CHECKS   compile-time checks of every table's size and offsets, per ABI
 *                      version: a plugin built with a wrong header or packing fails to build.
 *   2. ERRORS, TEXT    gw_fail() writes a message and returns a status; gw_text is a
 *                      growable byte buffer.
 *   3. CONFIG          read a config_json (or request_json) value by dotted path, with a
 *                      message naming the field when it is missing or of the wrong type.
 *   4. BUILDING ROWS   gw_batch_builder: append values column by column (validity included),
 *                      then hand the batch over as an ArrowArray whose release callback
 *                      frees everything.
 *   5. A SOURCE STREAM gw_stream_init(): an ArrowArrayStream that calls your fill function
 *                      for each batch, checks cancellation, and turns errors into the errno
 *                      and message the host expects.
 *   6. READING ROWS    for formats, exporters and sinks: null checks and every column type
 *                      of the ABI as text or as JSON.
 *
 * Why not nanoarrow: it is the better choice for a large plugin, and this file does not
 * compete with it; a plugin of 100 lines should not need a build system to vendor a library.
 *
 * Ownership follows gateway_plugin.h: whoever allocates releases. Nothing here keeps global
 * state, and nothing here is thread-safe on one object (one instance is never called from two
 * threads at once).
 */
#ifndef GATEWAY_PLUGIN_HELPERS_H
#define GATEWAY_PLUGIN_HELPERS_H

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_plugin.h"

#if defined(__GNUC__) || defined(__clang__)
#define GWH_FN static __attribute__((unused))
#define GWH_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define GWH_FN static
#define GWH_PRINTF(f, a)
#endif

/* ========================================================================================
 * 1. LAYOUT CHECKS. The sizes and offsets of every table as each ABI version defines them
 * on 64-bit Linux. Tables only grow at their end: a table's size at an older version is the
 * offset of the first field a later version added, which is what `struct_size` says when an
 * older plugin or host fills it. Define GW_NO_LAYOUT_CHECKS to leave them out.
 * ======================================================================================== */

/* The struct_size values of each version (GW_HOST_API_SIZE_1_0, …) are in gateway_plugin.h;
 * the checks below pin them, and every offset, to the numbers of 64-bit Linux. */

#ifndef GW_NO_LAYOUT_CHECKS
/* A C99 static assertion: the array size is negative when the condition is false. */
#define GWH_CHECK(name, cond) typedef char gwh_layout_##name[(cond) ? 1 : -1]
#define GWH_AT(t, f, n) GWH_CHECK(t##_##f, offsetof(t, f) == (n))
#define GWH_SIZE(t, n) GWH_CHECK(t##_size, sizeof(t) == (n))

GWH_CHECK(pointer_size, sizeof(void *) == 8);
typedef struct ArrowSchema gwh_arrow_schema;
typedef struct ArrowArray gwh_arrow_array;
typedef struct ArrowArrayStream gwh_arrow_stream;
GWH_SIZE(gwh_arrow_schema, 72);
GWH_SIZE(gwh_arrow_array, 80);
GWH_SIZE(gwh_arrow_stream, 40);

/* ABI 1.0: every table but the sink's. */
GWH_SIZE(gw_error, 1024);
GWH_SIZE(gw_http_header, 16);
GWH_SIZE(gw_http_request, 64);
GWH_AT(gw_http_request, method, 8);
GWH_AT(gw_http_request, url, 16);
GWH_AT(gw_http_request, headers, 24);
GWH_AT(gw_http_request, n_headers, 32);
GWH_AT(gw_http_request, body, 40);
GWH_AT(gw_http_request, body_len, 48);
GWH_AT(gw_http_request, timeout_ms, 56);
GWH_SIZE(gw_http_response, 48);
GWH_AT(gw_http_response, headers, 8);
GWH_AT(gw_http_response, n_headers, 16);
GWH_AT(gw_http_response, body, 24);
GWH_AT(gw_http_response, body_len, 32);
GWH_AT(gw_http_response, host_private, 40);
GWH_SIZE(gw_bytes, 24);
GWH_AT(gw_host_api, abi_major, 4);
GWH_AT(gw_host_api, abi_minor, 6);
GWH_AT(gw_host_api, log, 8);
GWH_AT(gw_host_api, http_request, 16);
GWH_AT(gw_host_api, http_response_release, 24);
GWH_AT(gw_host_api, state_get, 32);
GWH_AT(gw_host_api, state_set, 40);
GWH_AT(gw_host_api, state_delete, 48);
GWH_AT(gw_host_api, bytes_release, 56);
GWH_AT(gw_host_api, progress, 64);
GWH_AT(gw_host_api, is_cancelled, 72);
GWH_SIZE(gw_source_vtable, 48);
GWH_AT(gw_source_vtable, file_extensions, 8);
GWH_AT(gw_source_vtable, open, 16);
GWH_AT(gw_source_vtable, read, 24);
GWH_AT(gw_source_vtable, finish, 32);
GWH_AT(gw_source_vtable, close, 40);
GWH_SIZE(gw_byte_sink, 16);
GWH_AT(gw_byte_sink, write, 8);
GWH_AT(gw_format_vtable, name, 8);
GWH_AT(gw_format_vtable, media_type, 16);
GWH_AT(gw_format_vtable, open, 24);
GWH_AT(gw_format_vtable, begin, 32);
GWH_AT(gw_format_vtable, write_batch, 40);
GWH_AT(gw_format_vtable, finish, 48);
GWH_AT(gw_format_vtable, close, 56);
GWH_SIZE(gw_exporter_vtable, 64);
GWH_AT(gw_exporter_vtable, name, 8);
GWH_AT(gw_exporter_vtable, file_extension, 16);
GWH_AT(gw_exporter_vtable, open, 24);
GWH_AT(gw_exporter_vtable, begin, 32);
GWH_AT(gw_exporter_vtable, write_batch, 40);
GWH_AT(gw_exporter_vtable, finish, 48);
GWH_AT(gw_exporter_vtable, close, 56);
GWH_AT(gw_plugin_descriptor, abi_major, 4);
GWH_AT(gw_plugin_descriptor, abi_minor, 6);
GWH_AT(gw_plugin_descriptor, id, 8);
GWH_AT(gw_plugin_descriptor, version, 16);
GWH_AT(gw_plugin_descriptor, description, 24);
GWH_AT(gw_plugin_descriptor, kinds, 32);
GWH_AT(gw_plugin_descriptor, config_schema_json, 40);
GWH_AT(gw_plugin_descriptor, example_config_json, 48);
GWH_AT(gw_plugin_descriptor, source, 56);
GWH_AT(gw_plugin_descriptor, format, 64);
GWH_AT(gw_plugin_descriptor, exporter, 72);
GWH_CHECK(host_api_1_0, GW_HOST_API_SIZE_1_0 == 80);
#if GW_ABI_MINOR >= 3
GWH_CHECK(format_1_0, GW_FORMAT_VTABLE_SIZE_1_0 == 64);
#else
GWH_SIZE(gw_format_vtable, 64);
#endif
GWH_CHECK(descriptor_1_0, GW_DESCRIPTOR_SIZE_1_0 == 80);

/* ABI 1.1: shared services in the host table. */
#if GW_ABI_MINOR >= 1
GWH_AT(gw_host_api, shared_lock, 80);
GWH_AT(gw_host_api, shared_unlock, 88);
GWH_AT(gw_host_api, shared_state_get, 96);
GWH_AT(gw_host_api, shared_state_set, 104);
GWH_AT(gw_host_api, pace, 112);
GWH_CHECK(host_api_1_1, GW_HOST_API_SIZE_1_1 == 120);
#endif

/* ABI 1.2: the sink kind, reject_row. */
#if GW_ABI_MINOR >= 2
GWH_AT(gw_host_api, reject_row, 120);
GWH_CHECK(host_api_1_2, GW_HOST_API_SIZE_1_2 == 128);
GWH_SIZE(gw_sink_vtable, 56);
GWH_AT(gw_sink_vtable, open, 8);
GWH_AT(gw_sink_vtable, begin, 16);
GWH_AT(gw_sink_vtable, write_batch, 24);
GWH_AT(gw_sink_vtable, commit, 32);
GWH_AT(gw_sink_vtable, abort, 40);
GWH_AT(gw_sink_vtable, close, 48);
GWH_AT(gw_plugin_descriptor, sink, 80);
GWH_CHECK(descriptor_1_2, GW_DESCRIPTOR_SIZE_1_2 == 88);
#endif

/* ABI 1.3: a format's write_error. */
#if GW_ABI_MINOR >= 3
GWH_AT(gw_format_vtable, write_error, 64);
GWH_CHECK(format_1_3, GW_FORMAT_VTABLE_SIZE_1_3 == 72);
#endif
#endif /* GW_NO_LAYOUT_CHECKS */

/* ========================================================================================
 * 2. ERRORS AND TEXT
 * ======================================================================================== */

/* Writes a printf-style message into `err` (which may be NULL) and returns `status`:
 *     return gw_fail(err, GW_INVALID_CONFIG, "field 'rows' must be >= 0, not %lld", n); */
GWH_FN GWH_PRINTF(3, 4) gw_status gw_fail(gw_error *err, gw_status status, const char *format, ...) {
  if (err) {
    va_list args;
    va_start(args, format);
    vsnprintf(err->message, GW_ERROR_MESSAGE_SIZE, format, args);
    va_end(args);
  }
  return status;
}

/* A growable byte buffer, always NUL-terminated when data != NULL. Start it zeroed
 * (gw_text t = {0};) and free it with gw_text_free(). After an allocation failure `failed`
 * is 1 and further appends do nothing: check it once, where you use the text. */
typedef struct gw_text {
  char *data;
  size_t len;
  size_t cap;
  int failed;
} gw_text;

GWH_FN int gw_text_reserve(gw_text *t, size_t more) {
  if (t->failed) return 0;
  if (more > (size_t)-1 / 2 - t->len) return (t->failed = 1, 0);
  size_t need = t->len + more + 1;
  if (need <= t->cap) return 1;
  size_t cap = t->cap ? t->cap : 64;
  while (cap < need) cap *= 2;
  char *grown = realloc(t->data, cap);
  if (!grown) return (t->failed = 1, 0);
  t->data = grown;
  t->cap = cap;
  return 1;
}

GWH_FN void gw_text_append(gw_text *t, const void *bytes, size_t len) {
  if (!gw_text_reserve(t, len)) return;
  if (len) memcpy(t->data + t->len, bytes, len);
  t->len += len;
  t->data[t->len] = 0;
}

GWH_FN void gw_text_append_str(gw_text *t, const char *s) { gw_text_append(t, s, strlen(s)); }

GWH_FN void gw_text_append_char(gw_text *t, char c) { gw_text_append(t, &c, 1); }

/* Empties the text and keeps its memory for the next use. */
GWH_FN void gw_text_clear(gw_text *t) {
  t->len = 0;
  if (t->data) t->data[0] = 0;
}

GWH_FN void gw_text_free(gw_text *t) {
  free(t->data);
  memset(t, 0, sizeof *t);
}

/* `bytes` as a JSON string, quotes included. */
GWH_FN void gw_text_append_json_string(gw_text *t, const char *bytes, size_t len) {
  static const char hex[] = "0123456789abcdef";
  gw_text_append_char(t, '"');
  size_t run = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)bytes[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    gw_text_append(t, bytes + run, i - run);
    run = i + 1;
    char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
    if (c == '"' || c == '\\') { esc[1] = (char)c; gw_text_append(t, esc, 2); }
    else if (c == '\n') gw_text_append(t, "\\n", 2);
    else if (c == '\r') gw_text_append(t, "\\r", 2);
    else if (c == '\t') gw_text_append(t, "\\t", 2);
    else gw_text_append(t, esc, 6);
  }
  gw_text_append(t, bytes + run, len - run);
  gw_text_append_char(t, '"');
}

/* ========================================================================================
 * 3. CONFIG. config_json and request_json are JSON objects; these read one value by a
 * dotted path ("auth.user" is member "user" of member "auth"). Each returns GW_OK with *out
 * set when the value is there and of the right type; when it is absent (or null), GW_OK
 * with *out untouched if `required` is GW_OPTIONAL (so initialise *out with the default),
 * else GW_INVALID_CONFIG. A value of the wrong type, or a document that is not valid JSON,
 * is GW_INVALID_CONFIG. Every message names the field. Reading is bounded by `len` and by a
 * nesting depth of 64; nothing is allocated.
 * ======================================================================================== */

#define GW_OPTIONAL 0
#define GW_REQUIRED 1
#define GWH_JSON_DEPTH 64

GWH_FN const char *gwh_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

/* Past a string starting at its opening quote, or NULL if it is not a valid JSON string. */
GWH_FN const char *gwh_skip_string(const char *p, const char *end) {
  if (p >= end || *p != '"') return NULL;
  for (p++; p < end; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"') return p + 1;
    if (c < 0x20) return NULL;
    if (c != '\\') continue;
    if (++p >= end) return NULL;
    if (*p == 'u') {
      for (int i = 0; i < 4; i++) {
        if (++p >= end) return NULL;
        char h = *p;
        if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) return NULL;
      }
    } else if (!strchr("\"\\/bfnrt", *p) || *p == 0) {
      return NULL;
    }
  }
  return NULL;
}

GWH_FN const char *gwh_skip_number(const char *p, const char *end) {
  const char *start = p;
  if (p < end && *p == '-') p++;
  if (p >= end) return NULL;
  if (*p == '0') p++;
  else if (*p >= '1' && *p <= '9') while (p < end && *p >= '0' && *p <= '9') p++;
  else return NULL;
  if (p < end && *p == '.') {
    const char *digits = ++p;
    while (p < end && *p >= '0' && *p <= '9') p++;
    if (p == digits) return NULL;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    const char *digits = p;
    while (p < end && *p >= '0' && *p <= '9') p++;
    if (p == digits) return NULL;
  }
  return p > start ? p : NULL;
}

/* Past one JSON value (leading white space allowed), or NULL if it is not valid. */
GWH_FN const char *gwh_skip_value(const char *p, const char *end, int depth) {
  p = gwh_ws(p, end);
  if (p >= end || depth > GWH_JSON_DEPTH) return NULL;
  switch (*p) {
  case '"': return gwh_skip_string(p, end);
  case 't': return (end - p >= 4 && !memcmp(p, "true", 4)) ? p + 4 : NULL;
  case 'f': return (end - p >= 5 && !memcmp(p, "false", 5)) ? p + 5 : NULL;
  case 'n': return (end - p >= 4 && !memcmp(p, "null", 4)) ? p + 4 : NULL;
  case '[':
  case '{': {
    char close = *p == '[' ? ']' : '}';
    int object = *p == '{';
    p = gwh_ws(p + 1, end);
    if (p < end && *p == close) return p + 1;
    for (;;) {
      if (object) {
        p = gwh_skip_string(gwh_ws(p, end), end);
        if (!p) return NULL;
        p = gwh_ws(p, end);
        if (p >= end || *p != ':') return NULL;
        p++;
      }
      p = gwh_skip_value(p, end, depth + 1);
      if (!p) return NULL;
      p = gwh_ws(p, end);
      if (p >= end) return NULL;
      if (*p == close) return p + 1;
      if (*p != ',') return NULL;
      p++;
    }
  }
  default: return gwh_skip_number(p, end);
  }
}

/* 1 when the string token at `p` (quotes included) equals `key[0..key_len)`. Keys with
 * escapes are compared after decoding only for the simple escapes; a key needing \u is
 * never matched by a plain path segment, which is what a config reader needs. */
GWH_FN int gwh_key_equals(const char *p, const char *token_end, const char *key, size_t key_len) {
  const char *q = p + 1, *last = token_end - 1;
  size_t i = 0;
  while (q < last) {
    char c = *q++;
    if (c == '\\') {
      c = *q++;
      if (c == 'u') return 0;
      if (c == 'n') c = '\n'; else if (c == 't') c = '\t'; else if (c == 'r') c = '\r';
      else if (c == 'b') c = '\b'; else if (c == 'f') c = '\f';
    }
    if (i >= key_len || key[i] != c) return 0;
    i++;
  }
  return i == key_len;
}

/* Finds `path` in a JSON object. Returns 1 and the value's span, 0 when absent, -1 when the
 * document is not valid JSON, -2 when a segment before the last is not an object (the
 * segment's length is in *bad_len). */
GWH_FN int gwh_find(const char *json, size_t len, const char *path, const char **value, const char **value_end,
                    size_t *bad_len) {
  const char *end = json + len;
  const char *whole = gwh_skip_value(json, end, 0);
  if (!whole || gwh_ws(whole, end) != end) return -1;
  const char *p = gwh_ws(json, end);
  const char *segment = path;
  for (;;) {
    const char *dot = strchr(segment, '.');
    size_t seg_len = dot ? (size_t)(dot - segment) : strlen(segment);
    if (*p == 'n' && segment > path) return 0; /* a null parent: the field is absent */
    if (*p != '{') {
      *bad_len = (size_t)(segment - path) - (segment > path ? 1 : 0);
      return segment == path ? -1 : -2;
    }
    p = gwh_ws(p + 1, end);
    const char *found = NULL;
    while (p < end && *p == '"') {
      const char *key_end = gwh_skip_string(p, end);
      const char *v = gwh_ws(gwh_ws(key_end, end) + 1, end);
      const char *v_end = gwh_skip_value(v, end, 0);
      if (gwh_key_equals(p, key_end, segment, seg_len)) found = v; /* the last one wins, as in most readers */
      if (found == v && !dot) *value_end = v_end;
      p = gwh_ws(v_end, end);
      if (*p == ',') p = gwh_ws(p + 1, end);
    }
    if (!found) return 0;
    if (!dot) {
      *value = found;
      return 1;
    }
    p = found;
    segment = dot + 1;
  }
}

/* Looks `path` up and reports absence and document errors; 1 when found. */
GWH_FN int gwh_lookup(const char *json, size_t len, const char *path, int required, const char **v, const char **v_end,
                      gw_status *status, gw_error *err) {
  size_t bad = 0;
  *status = GW_OK;
  int found = json ? gwh_find(json, len, path, v, v_end, &bad) : 0;
  if (found == -1) *status = gw_fail(err, GW_INVALID_CONFIG, "the configuration is not a valid JSON object");
  if (found == -2) *status = gw_fail(err, GW_INVALID_CONFIG, "field '%.*s' must be an object", (int)bad, path);
  if (found == 1 && **v == 'n') found = 0; /* null is absent */
  if (found == 0 && required) *status = gw_fail(err, GW_INVALID_CONFIG, "missing required field '%s'", path);
  return found == 1;
}

/* Decodes the JSON string token [v, v_end) (quotes included) into out[0..n); with out NULL
 * only counts. Returns 0, or 1 when it holds a NUL. */
GWH_FN int gwh_decode_string(const char *v, const char *v_end, char *out, size_t *n_out) {
  size_t n = 0;
  for (const char *p = v + 1; p < v_end - 1;) {
    unsigned char bytes[4];
    size_t k = 0;
    if (*p != '\\') {
      bytes[k++] = (unsigned char)*p++; /* UTF-8 in the document is copied byte by byte */
    } else if (p[1] != 'u') {
      char e = p[1];
      p += 2;
      bytes[k++] = (unsigned char)(e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e);
    } else {
      unsigned long cp = strtoul((char[5]){p[2], p[3], p[4], p[5], 0}, NULL, 16);
      p += 6;
      if (cp >= 0xD800 && cp <= 0xDBFF && v_end - 1 - p >= 6 && p[0] == '\\' && p[1] == 'u') {
        unsigned long low = strtoul((char[5]){p[2], p[3], p[4], p[5], 0}, NULL, 16);
        if (low >= 0xDC00 && low <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          p += 6;
        }
      }
      if (cp == 0) return 1;
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD; /* a lone surrogate */
      if (cp < 0x80) bytes[k++] = (unsigned char)cp;
      else if (cp < 0x800) {
        bytes[k++] = (unsigned char)(0xC0 | (cp >> 6));
        bytes[k++] = (unsigned char)(0x80 | (cp & 63));
      } else if (cp < 0x10000) {
        bytes[k++] = (unsigned char)(0xE0 | (cp >> 12));
        bytes[k++] = (unsigned char)(0x80 | ((cp >> 6) & 63));
        bytes[k++] = (unsigned char)(0x80 | (cp & 63));
      } else {
        bytes[k++] = (unsigned char)(0xF0 | (cp >> 18));
        bytes[k++] = (unsigned char)(0x80 | ((cp >> 12) & 63));
        bytes[k++] = (unsigned char)(0x80 | ((cp >> 6) & 63));
        bytes[k++] = (unsigned char)(0x80 | (cp & 63));
      }
    }
    if (out) memcpy(out + n, bytes, k);
    n += k;
  }
  *n_out = n;
  return 0;
}

/* A string, decoded (escapes, \u surrogate pairs) into buf[0..cap), NUL-terminated. A value
 * that does not fit, or holds a NUL, is refused, and then buf is left as it was (your
 * default stays). */
GWH_FN gw_status gw_config_string(const char *json, size_t len, const char *path, char *buf, size_t cap, int required,
                                  gw_error *err) {
  const char *v, *v_end;
  gw_status status;
  if (!gwh_lookup(json, len, path, required, &v, &v_end, &status, err)) return status;
  if (*v != '"') return gw_fail(err, GW_INVALID_CONFIG, "field '%s' must be a string", path);
  size_t n = 0;
  if (gwh_decode_string(v, v_end, NULL, &n)) return gw_fail(err, GW_INVALID_CONFIG, "field '%s' must not contain NUL", path);
  if (n + 1 > cap) return gw_fail(err, GW_INVALID_CONFIG, "field '%s' is longer than %zu bytes", path, cap ? cap - 1 : 0);
  gwh_decode_string(v, v_end, buf, &n);
  buf[n] = 0;
  return GW_OK;
}

/* A whole number within int64 (1e3 and 2.0 are refused: say 1000 and 2). */
GWH_FN gw_status gw_config_int64(const char *json, size_t len, const char *path, int64_t *out, int required, gw_error *err) {
  const char *v, *v_end;
  gw_status status;
  if (!gwh_lookup(json, len, path, required, &v, &v_end, &status, err)) return status;
  const char *p = v;
  int negative = *p == '-';
  if (negative) p++;
  if (p >= v_end || *p < '0' || *p > '9') return gw_fail(err, GW_INVALID_CONFIG, "field '%s' must be an integer", path);
  uint64_t magnitude = 0;
  for (; p < v_end; p++) {
    if (*p < '0' || *p > '9') return gw_fail(err, GW_INVALID_CONFIG, "field '%s' must be an integer", path);
    unsigned digit = (unsigned)(*p - '0');
    if (magnitude > (UINT64_MAX - digit) / 10) return gw_fail(err, GW_INVALID_CONFIG, "field '%s' is out of range", path);
    magnitude = magnitude * 10 + digit;
  }
  if (magnitude > (uint64_t)INT64_MAX + (negative ? 1u : 0u))
    return gw_fail(err, GW_INVALID_CONFIG, "field '%s' is out of range", path);
  *out = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
  return GW_OK;
}

GWH_FN gw_status gw_config_double(const char *json, size_t len, const char *path, double *out, int required, gw_error *err) {
  const char *v, *v_end;
  gw_status status;
  if (!gwh_lookup(json, len, path, required, &v, &v_end, &status, err)) return status;
  char number[64];
  size_t n = (size_t)(v_end - v);
  if (*v == '"' || *v == '[' || *v == '{' || *v == 't' || *v == 'f' || n >= sizeof number)
    return gw_fail(err, GW_INVALID_CONFIG, "field '%s' must be a number", path);
  memcpy(number, v, n);
  number[n] = 0;
  double d = strtod(number, NULL);
  if (!isfinite(d)) return gw_fail(err, GW_INVALID_CONFIG, "field '%s' is out of range", path);
  *out = d;
  return GW_OK;
}

/* true or false, as 1 or 0. */
GWH_FN gw_status gw_config_bool(const char *json, size_t len, const char *path, int *out, int required, gw_error *err) {
  const char *v, *v_end;
  gw_status status;
  if (!gwh_lookup(json, len, path, required, &v, &v_end, &status, err)) return status;
  if (*v != 't' && *v != 'f') return gw_fail(err, GW_INVALID_CONFIG, "field '%s' must be true or false", path);
  *out = *v == 't';
  return GW_OK;
}

/* ========================================================================================
 * 4. BUILDING ROWS. A batch builder holds one column per field; append one value to every
 * column for each row, then gw_batch_finish() hands the rows over as a struct array and
 * starts the next batch empty. Column formats it builds: "b", "c" "s" "i" "l", "C" "S" "I" "L",
 * "f" "g", "u" "z", "tdD", "tdm", "tss:" "tsm:" "tsu:" "tsn:" with any zone, and decimals
 * "d:P,S" (128 bits) and "d:P,S,256" (gw_append_decimal_text, gw_append_decimal). Appends never
 * fail on the spot: the first problem (a value out of the column's range, a value of the
 * wrong kind, memory) is kept and returned by gw_batch_finish, so a fill loop stays short.
 * ======================================================================================== */

typedef struct gw_column {
  char *name;
  char *format;
  char kind;        /* 'b' bool, 'i' signed, 'u' unsigned, 'f' float, 't' text/binary, 'd' decimal */
  int width;        /* bytes per value for fixed-width columns */
  int precision, scale; /* decimals: digits in all, digits after the point */
  uint64_t limit[4];    /* decimals: 10^precision, the first magnitude that does not fit */
  int64_t length, capacity;
  int64_t null_count;
  uint8_t *validity; /* allocated at the first null */
  uint8_t *values;
  int32_t *offsets;  /* text and binary */
  int64_t data_len, data_cap;
} gw_column;

typedef struct gw_batch_builder {
  int64_t n_columns;
  gw_column *columns;
  gw_status status; /* the first problem, or GW_OK */
  char message[256];
} gw_batch_builder;

GWH_FN void gw_batch_free(gw_batch_builder *b) {
  for (int64_t i = 0; b->columns && i < b->n_columns; i++) {
    gw_column *c = &b->columns[i];
    free(c->name); free(c->format); free(c->validity); free(c->values); free(c->offsets);
  }
  free(b->columns);
  memset(b, 0, sizeof *b);
}

GWH_FN GWH_PRINTF(3, 4) void gwh_problem(gw_batch_builder *b, gw_status status, const char *format, ...) {
  if (b->status != GW_OK) return;
  b->status = status;
  va_list args;
  va_start(args, format);
  vsnprintf(b->message, sizeof b->message, format, args);
  va_end(args);
}

GWH_FN char *gwh_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *copy = malloc(n);
  if (copy) memcpy(copy, s, n);
  return copy;
}

GWH_FN int gwh_decimal(const char *f, int *scale); /* below, with the readers */
GWH_FN int gwh_mul10_add(uint64_t m[4], unsigned digit);

/* What a format string holds: kind and width, or 0 when the builder cannot build it. */
GWH_FN int gwh_build_kind(const char *f, char *kind, int *width) {
  static const char *fixed = "bcsilCSILfg";
  static const char kinds[] = "biiiiuuuuff";
  static const int widths[] = {0, 1, 2, 4, 8, 1, 2, 4, 8, 4, 8};
  if (f[0] && !f[1] && strchr(fixed, f[0])) {
    size_t at = (size_t)(strchr(fixed, f[0]) - fixed);
    *kind = kinds[at];
    *width = widths[at];
    return 1;
  }
  if (!strcmp(f, "u") || !strcmp(f, "z")) return (*kind = 't', *width = 0, 1);
  if (!strcmp(f, "tdD")) return (*kind = 'i', *width = 4, 1);
  if (!strcmp(f, "tdm")) return (*kind = 'i', *width = 8, 1);
  if (!strncmp(f, "ts", 2) && f[2] && strchr("smun", f[2]) && f[3] == ':') return (*kind = 'i', *width = 8, 1);
  int scale, words = gwh_decimal(f, &scale);
  if (words) return (*kind = 'd', *width = words * 8, 1);
  return 0;
}

/* Sets up `b` for columns named `names` with Arrow formats `formats` (both copied). */
GWH_FN gw_status gw_batch_init(gw_batch_builder *b, int64_t n_columns, const char *const names[],
                               const char *const formats[], gw_error *err) {
  memset(b, 0, sizeof *b);
  if (n_columns < 0 || n_columns > 100000) return gw_fail(err, GW_INVALID_ARGUMENT, "%lld columns", (long long)n_columns);
  b->columns = calloc((size_t)(n_columns ? n_columns : 1), sizeof(gw_column));
  if (!b->columns) return gw_fail(err, GW_INTERNAL, "out of memory");
  b->n_columns = n_columns;
  for (int64_t i = 0; i < n_columns; i++) {
    gw_column *c = &b->columns[i];
    if (!gwh_build_kind(formats[i], &c->kind, &c->width)) {
      gw_batch_free(b);
      return gw_fail(err, GW_UNSUPPORTED, "column '%s': cannot build Arrow format '%s'", names[i], formats[i]);
    }
    if (c->kind == 'd') {
      gwh_decimal(formats[i], &c->scale);
      c->precision = (int)strtol(formats[i] + 2, NULL, 10);
      /* Once per column, not per value: 10^precision (precision <= 76 fits 256 bits). */
      c->limit[0] = 1;
      for (int k = 0; k < c->precision; k++) gwh_mul10_add(c->limit, 0);
    }
    c->name = gwh_strdup(names[i]);
    c->format = gwh_strdup(formats[i]);
    if (!c->name || !c->format) {
      gw_batch_free(b);
      return gw_fail(err, GW_INTERNAL, "out of memory");
    }
  }
  return GW_OK;
}

/* Room for one more value in column `col`; 0 (and a problem recorded) if there is none. */
GWH_FN int gwh_room(gw_batch_builder *b, int64_t col) {
  if (col < 0 || col >= b->n_columns) {
    gwh_problem(b, GW_INTERNAL, "append to column %lld of %lld", (long long)col, (long long)b->n_columns);
    return 0;
  }
  gw_column *c = &b->columns[col];
  if (c->length < c->capacity) return 1;
  if (c->length >= INT32_MAX - 1) return (gwh_problem(b, GW_INTERNAL, "column '%s': batch too long", c->name), 0);
  int64_t cap = c->capacity ? c->capacity * 2 : 1024;
  size_t value_bytes = c->kind == 'b' ? (size_t)(cap + 7) / 8 : c->kind == 't' ? 0 : (size_t)cap * (size_t)c->width;
  uint8_t *values = value_bytes ? realloc(c->values, value_bytes) : c->values;
  if (value_bytes && !values) return (gwh_problem(b, GW_INTERNAL, "out of memory"), 0);
  c->values = values;
  if (c->kind == 't') {
    int32_t *offsets = realloc(c->offsets, sizeof(int32_t) * (size_t)(cap + 1));
    if (!offsets) return (gwh_problem(b, GW_INTERNAL, "out of memory"), 0);
    if (!c->offsets) offsets[0] = 0;
    c->offsets = offsets;
  }
  if (c->validity) {
    uint8_t *validity = realloc(c->validity, (size_t)(cap + 7) / 8);
    if (!validity) return (gwh_problem(b, GW_INTERNAL, "out of memory"), 0);
    c->validity = validity;
  }
  c->capacity = cap;
  return 1;
}

GWH_FN void gwh_set_bit(uint8_t *bits, int64_t i, int on) {
  if (on) bits[i / 8] |= (uint8_t)(1u << (i % 8));
  else bits[i / 8] &= (uint8_t)~(1u << (i % 8));
}

/* Marks the value being appended as valid, when the column already holds nulls. */
GWH_FN void gwh_valid(gw_column *c) {
  if (c->validity) gwh_set_bit(c->validity, c->length, 1);
}

GWH_FN void gw_append_null(gw_batch_builder *b, int64_t col) {
  if (!gwh_room(b, col)) return;
  gw_column *c = &b->columns[col];
  if (!c->validity) {
    c->validity = malloc((size_t)(c->capacity + 7) / 8);
    if (!c->validity) { gwh_problem(b, GW_INTERNAL, "out of memory"); return; }
    memset(c->validity, 0xFF, (size_t)(c->capacity + 7) / 8);
  }
  gwh_set_bit(c->validity, c->length, 0);
  if (c->kind == 't') c->offsets[c->length + 1] = c->offsets[c->length];
  else if (c->kind == 'b') gwh_set_bit(c->values, c->length, 0);
  else memset(c->values + c->length * c->width, 0, (size_t)c->width);
  c->null_count++;
  c->length++;
}

/* A whole number into an integer, date or timestamp column of any width. */
GWH_FN void gw_append_int(gw_batch_builder *b, int64_t col, int64_t v) {
  if (!gwh_room(b, col)) return;
  gw_column *c = &b->columns[col];
  if (c->kind != 'i' && c->kind != 'u') { gwh_problem(b, GW_INTERNAL, "column '%s' (%s) takes no integers", c->name, c->format); return; }
  int bits = c->width * 8;
  int fits = c->kind == 'u' ? v >= 0 && (bits == 64 || v < ((int64_t)1 << bits))
                            : bits == 64 || (v >= -((int64_t)1 << (bits - 1)) && v < ((int64_t)1 << (bits - 1)));
  if (!fits) { gwh_problem(b, GW_INVALID_ARGUMENT, "column '%s': %lld does not fit %s", c->name, (long long)v, c->format); return; }
  uint8_t *at = c->values + c->length * c->width;
  if (c->width == 1) { int8_t x = (int8_t)v; memcpy(at, &x, 1); }
  else if (c->width == 2) { int16_t x = (int16_t)v; memcpy(at, &x, 2); }
  else if (c->width == 4) { int32_t x = (int32_t)v; memcpy(at, &x, 4); }
  else memcpy(at, &v, 8);
  gwh_valid(c);
  c->length++;
}

/* A whole number into an unsigned column ("C" "S" "I" "L"): the whole uint64 range. */
GWH_FN void gw_append_uint64(gw_batch_builder *b, int64_t col, uint64_t v) {
  if (!gwh_room(b, col)) return;
  gw_column *c = &b->columns[col];
  if (c->kind != 'u') { gwh_problem(b, GW_INTERNAL, "column '%s' (%s) takes no unsigned integers", c->name, c->format); return; }
  if (c->width < 8 && v >= ((uint64_t)1 << (c->width * 8))) {
    gwh_problem(b, GW_INVALID_ARGUMENT, "column '%s': %llu does not fit %s", c->name, (unsigned long long)v, c->format);
    return;
  }
  uint8_t *at = c->values + c->length * c->width;
  if (c->width == 1) { uint8_t x = (uint8_t)v; memcpy(at, &x, 1); }
  else if (c->width == 2) { uint16_t x = (uint16_t)v; memcpy(at, &x, 2); }
  else if (c->width == 4) { uint32_t x = (uint32_t)v; memcpy(at, &x, 4); }
  else memcpy(at, &v, 8);
  gwh_valid(c);
  c->length++;
}

GWH_FN void gw_append_double(gw_batch_builder *b, int64_t col, double v) {
  if (!gwh_room(b, col)) return;
  gw_column *c = &b->columns[col];
  if (c->kind != 'f') { gwh_problem(b, GW_INTERNAL, "column '%s' (%s) takes no floating point", c->name, c->format); return; }
  if (c->width == 4) { float x = (float)v; memcpy(c->values + c->length * 4, &x, 4); }
  else memcpy(c->values + c->length * 8, &v, 8);
  gwh_valid(c);
  c->length++;
}

/* Decimals are built as a magnitude of four little-endian 64-bit words and a sign, checked
 * against the column's precision, and stored as two's complement in 2 or 4 words. */

/* magnitude = magnitude * 10 + digit; 0 when it no longer fits 256 bits. */
GWH_FN int gwh_mul10_add(uint64_t m[4], unsigned digit) {
  uint64_t carry = digit;
  for (int k = 0; k < 4; k++) {
    uint64_t lo = (m[k] & 0xffffffffu) * 10 + carry;
    uint64_t hi = (m[k] >> 32) * 10 + (lo >> 32);
    m[k] = (hi << 32) | (lo & 0xffffffffu);
    carry = hi >> 32;
  }
  return carry == 0;
}

GWH_FN void gwh_store_decimal(gw_batch_builder *b, gw_column *c, const uint64_t magnitude[4], int negative) {
  int below = 0;
  for (int k = 3; k >= 0; k--) {
    if (magnitude[k] != c->limit[k]) { below = magnitude[k] < c->limit[k]; break; }
  }
  if (!below) { gwh_problem(b, GW_INVALID_ARGUMENT, "column '%s': a value of more than %d digits does not fit %s", c->name, c->precision, c->format); return; }
  uint64_t words[4];
  uint64_t carry = 1;
  for (int k = 0; k < 4; k++) {
    words[k] = negative ? ~magnitude[k] + carry : magnitude[k];
    if (negative) carry = carry && words[k] == 0;
  }
  memcpy(c->values + c->length * c->width, words, (size_t)c->width);
  gwh_valid(c);
  c->length++;
}

GWH_FN gw_column *gwh_decimal_column(gw_batch_builder *b, int64_t col) {
  if (!gwh_room(b, col)) return NULL;
  gw_column *c = &b->columns[col];
  if (c->kind != 'd') { gwh_problem(b, GW_INTERNAL, "column '%s' (%s) takes no decimals", c->name, c->format); return NULL; }
  return c;
}

/* A decimal given unscaled: 12.50 in a "d:10,2" column is 1250. */
GWH_FN void gw_append_decimal(gw_batch_builder *b, int64_t col, int64_t unscaled) {
  gw_column *c = gwh_decimal_column(b, col);
  if (!c) return;
  uint64_t magnitude[4] = {unscaled < 0 ? 0 - (uint64_t)unscaled : (uint64_t)unscaled, 0, 0, 0};
  gwh_store_decimal(b, c, magnitude, unscaled < 0);
}

/* A decimal from its text: an optional sign, digits, an optional point and digits ("-12.5",
 * "3", ".25"). Fewer decimals than the column's scale are padded; more are refused (never
 * rounded), as are more digits than its precision. */
GWH_FN void gw_append_decimal_text(gw_batch_builder *b, int64_t col, const char *text, size_t len) {
  gw_column *c = gwh_decimal_column(b, col);
  if (!c) return;
  if (c->scale < 0) {
    gwh_problem(b, GW_UNSUPPORTED, "column '%s': decimals of negative scale are built with gw_append_decimal", c->name);
    return;
  }
  const char *p = text, *end = text + len;
  int negative = p < end && *p == '-';
  if (p < end && (*p == '-' || *p == '+')) p++;
  uint64_t magnitude[4] = {0, 0, 0, 0};
  int digits = 0, decimals = -1, fits = 1;
  for (; p < end; p++) {
    if (*p == '.' && decimals < 0) { decimals = 0; continue; }
    if (*p < '0' || *p > '9') { gwh_problem(b, GW_INVALID_ARGUMENT, "column '%s': '%.*s' is not a decimal", c->name, (int)(len > 64 ? 64 : len), text); return; }
    if (decimals >= 0) decimals++;
    digits++;
    if (decimals > c->scale) {
      if (*p != '0') { gwh_problem(b, GW_INVALID_ARGUMENT, "column '%s': '%.*s' has more than %d decimals (%s)", c->name, (int)(len > 64 ? 64 : len), text, c->scale, c->format); return; }
      continue; /* a trailing zero past the scale changes nothing */
    }
    fits = fits && gwh_mul10_add(magnitude, (unsigned)(*p - '0'));
  }
  if (digits == 0) { gwh_problem(b, GW_INVALID_ARGUMENT, "column '%s': '%.*s' is not a decimal", c->name, (int)(len > 64 ? 64 : len), text); return; }
  for (int i = decimals < 0 ? 0 : decimals; i < c->scale && fits; i++) fits = gwh_mul10_add(magnitude, 0);
  if (!fits) { gwh_problem(b, GW_INVALID_ARGUMENT, "column '%s': a value of more than %d digits does not fit %s", c->name, c->precision, c->format); return; }
  gwh_store_decimal(b, c, magnitude, negative);
}

GWH_FN void gw_append_bool(gw_batch_builder *b, int64_t col, int v) {
  if (!gwh_room(b, col)) return;
  gw_column *c = &b->columns[col];
  if (c->kind != 'b') { gwh_problem(b, GW_INTERNAL, "column '%s' (%s) takes no booleans", c->name, c->format); return; }
  gwh_set_bit(c->values, c->length, v != 0);
  gwh_valid(c);
  c->length++;
}

/* Bytes into a "u" (UTF-8: the caller makes sure they are) or "z" column. */
GWH_FN void gw_append_text(gw_batch_builder *b, int64_t col, const char *bytes, size_t len) {
  if (!gwh_room(b, col)) return;
  gw_column *c = &b->columns[col];
  if (c->kind != 't') { gwh_problem(b, GW_INTERNAL, "column '%s' (%s) takes no text", c->name, c->format); return; }
  if (len > (size_t)INT32_MAX - (size_t)c->data_len) { gwh_problem(b, GW_INVALID_ARGUMENT, "column '%s': batch holds more than 2 GB", c->name); return; }
  if (c->data_len + (int64_t)len > c->data_cap) {
    int64_t cap = c->data_cap ? c->data_cap : 4096;
    while (cap < c->data_len + (int64_t)len) cap *= 2;
    uint8_t *grown = realloc(c->values, (size_t)cap);
    if (!grown) { gwh_problem(b, GW_INTERNAL, "out of memory"); return; }
    c->values = grown;
    c->data_cap = cap;
  }
  if (len) memcpy(c->values + c->data_len, bytes, len);
  c->data_len += (int64_t)len;
  c->offsets[c->length + 1] = (int32_t)c->data_len;
  gwh_valid(c);
  c->length++;
}

/* A NUL-terminated string, or a null for NULL. */
GWH_FN void gw_append_cstr(gw_batch_builder *b, int64_t col, const char *s) {
  if (s) gw_append_text(b, col, s, strlen(s));
  else gw_append_null(b, col);
}

/* Rows appended since the last finish (the first column's count). */
GWH_FN int64_t gw_batch_rows(const gw_batch_builder *b) { return b->n_columns ? b->columns[0].length : 0; }

GWH_FN void gwh_release_array(struct ArrowArray *a) {
  for (int64_t i = 0; a->buffers && i < a->n_buffers; i++) free((void *)a->buffers[i]);
  free(a->buffers);
  for (int64_t i = 0; a->children && i < a->n_children; i++) {
    if (!a->children[i]) continue;
    if (a->children[i]->release) a->children[i]->release(a->children[i]);
    free(a->children[i]);
  }
  free(a->children);
  a->release = NULL;
}

GWH_FN int gwh_new_array(struct ArrowArray *a, int64_t length, int64_t n_buffers, int64_t n_children) {
  memset(a, 0, sizeof *a);
  a->length = length;
  a->n_buffers = n_buffers;
  a->n_children = n_children;
  a->buffers = calloc((size_t)n_buffers + 1, sizeof(void *));
  a->children = calloc((size_t)n_children + 1, sizeof(struct ArrowArray *));
  a->release = gwh_release_array;
  if (a->buffers && a->children) return 1;
  /* Released as empty: nothing to walk. */
  a->n_buffers = a->n_children = 0;
  return 0;
}

/* Moves column `c`'s buffers into `a` and leaves `c` empty. */
GWH_FN int gwh_column_array(gw_column *c, struct ArrowArray *a) {
  if (!gwh_new_array(a, c->length, c->kind == 't' ? 3 : 2, 0)) return 0;
  if (!c->values) c->values = malloc(1); /* a buffer of a column with no rows is still a buffer */
  if (c->kind == 't' && !c->offsets && (c->offsets = malloc(sizeof(int32_t)))) c->offsets[0] = 0;
  if (!c->values || (c->kind == 't' && !c->offsets)) return 0;
  a->null_count = c->null_count;
  a->buffers[0] = c->null_count ? c->validity : NULL;
  if (!c->null_count) free(c->validity);
  if (c->kind == 't') {
    a->buffers[1] = c->offsets;
    a->buffers[2] = c->values;
  } else {
    a->buffers[1] = c->values;
  }
  c->validity = NULL; c->values = NULL; c->offsets = NULL;
  c->length = c->capacity = c->null_count = c->data_len = c->data_cap = 0;
  return 1;
}

/* Hands the rows appended so far over as a struct array (owned by whoever receives `out`,
 * released through out->release) and starts an empty batch. Returns the first problem an
 * append met instead, and then `out` is left released. */
GWH_FN gw_status gw_batch_finish(gw_batch_builder *b, struct ArrowArray *out, gw_error *err) {
  memset(out, 0, sizeof *out);
  if (b->status != GW_OK) return gw_fail(err, b->status, "%s", b->message);
  int64_t rows = gw_batch_rows(b);
  for (int64_t i = 0; i < b->n_columns; i++) {
    if (b->columns[i].length != rows)
      return gw_fail(err, GW_INTERNAL, "column '%s' has %lld values, column '%s' %lld", b->columns[i].name,
                     (long long)b->columns[i].length, b->columns[0].name, (long long)rows);
  }
  if (!gwh_new_array(out, rows, 1, b->n_columns)) {
    if (out->release) out->release(out);
    return gw_fail(err, GW_INTERNAL, "out of memory");
  }
  for (int64_t i = 0; i < b->n_columns; i++) {
    struct ArrowArray *child = calloc(1, sizeof *child);
    out->children[i] = child;
    if (!child || !gwh_column_array(&b->columns[i], child)) {
      out->n_children = child ? i + 1 : i;
      out->release(out);
      return gw_fail(err, GW_INTERNAL, "out of memory");
    }
  }
  return GW_OK;
}

GWH_FN void gwh_release_schema(struct ArrowSchema *s) {
  for (int64_t i = 0; i < s->n_children; i++) {
    if (s->children[i]->release) s->children[i]->release(s->children[i]);
    free(s->children[i]);
  }
  free(s->children);
  free((void *)s->name);
  free((void *)s->format);
  s->release = NULL;
}

/* The builder's schema as a struct schema owned by `out` (names and formats copied). */
GWH_FN gw_status gw_batch_schema(const gw_batch_builder *b, struct ArrowSchema *out, gw_error *err) {
  memset(out, 0, sizeof *out);
  out->format = gwh_strdup("+s");
  out->name = gwh_strdup("");
  out->children = calloc((size_t)b->n_columns + 1, sizeof(struct ArrowSchema *));
  out->release = gwh_release_schema;
  int ok = out->format && out->name && out->children;
  for (int64_t i = 0; ok && i < b->n_columns; i++) {
    struct ArrowSchema *child = calloc(1, sizeof *child);
    if (!child) break;
    out->children[i] = child;
    out->n_children = i + 1;
    child->format = gwh_strdup(b->columns[i].format);
    child->name = gwh_strdup(b->columns[i].name);
    child->flags = ARROW_FLAG_NULLABLE;
    child->release = gwh_release_schema;
    ok = child->format && child->name;
  }
  if (ok && out->n_children == b->n_columns) return GW_OK;
  out->release(out);
  return gw_fail(err, GW_INTERNAL, "out of memory");
}

/* ========================================================================================
 * 5. A SOURCE STREAM. gw_stream_init() fills `out` (the host's ArrowArrayStream) with a
 * stream whose batches your `fill` function appends to a builder with the given columns:
 *
 *     static gw_status fill(void *state, gw_batch_builder *batch, gw_error *err);
 *
 * Append up to a batch's worth of rows (a few thousand) and return GW_OK; append none to end
 * the stream. So a fill that meets an empty page which is not the last (a remote API that
 * pages by cursor may send one) must fetch the next page itself before it returns: returning
 * no rows ends the stream, and the host then takes the read as complete. Return an error status with a message to fail it: the host then gets EIO (or
 * ECANCELED for GW_CANCELLED) and your message. With `host` and `ctx` given, the stream
 * checks is_cancelled() before each batch. `state` belongs to the stream from this call on:
 * `free_state` (may be NULL) is called when the host releases the stream, or at once when
 * this call fails. `names` and `formats` are copied.
 * ======================================================================================== */

typedef gw_status (*gw_fill_fn)(void *state, gw_batch_builder *batch, gw_error *err);

typedef struct gwh_stream {
  gw_batch_builder builder;
  gw_fill_fn fill;
  void *state;
  void (*free_state)(void *);
  const gw_host_api *host;
  gw_host_ctx *ctx;
  int ended;
  gw_error error;
} gwh_stream;

GWH_FN int gwh_stream_schema(struct ArrowArrayStream *s, struct ArrowSchema *out) {
  gwh_stream *st = s->private_data;
  return gw_batch_schema(&st->builder, out, &st->error) == GW_OK ? 0 : ENOMEM;
}

GWH_FN int gwh_stream_next(struct ArrowArrayStream *s, struct ArrowArray *out) {
  gwh_stream *st = s->private_data;
  memset(out, 0, sizeof *out); /* release == NULL: the end */
  if (st->ended) return 0;
  if (st->host && st->ctx && st->host->is_cancelled(st->ctx)) {
    gw_fail(&st->error, GW_CANCELLED, "cancelled");
    return ECANCELED;
  }
  gw_status status = st->fill(st->state, &st->builder, &st->error);
  if (status == GW_OK) status = gw_batch_finish(&st->builder, out, &st->error);
  if (status != GW_OK) {
    st->ended = 1;
    if (!st->error.message[0]) gw_fail(&st->error, status, "the source failed (status %d)", (int)status);
    return status == GW_CANCELLED ? ECANCELED : EIO;
  }
  if (out->length == 0) {
    out->release(out);
    st->ended = 1;
  }
  return 0;
}

GWH_FN const char *gwh_stream_error(struct ArrowArrayStream *s) {
  gwh_stream *st = s->private_data;
  return st->error.message[0] ? st->error.message : NULL;
}

GWH_FN void gwh_stream_release(struct ArrowArrayStream *s) {
  gwh_stream *st = s->private_data;
  if (st->free_state) st->free_state(st->state);
  gw_batch_free(&st->builder);
  free(st);
  s->release = NULL;
}

GWH_FN gw_status gw_stream_init(struct ArrowArrayStream *out, const gw_host_api *host, gw_host_ctx *ctx,
                                int64_t n_columns, const char *const names[], const char *const formats[],
                                gw_fill_fn fill, void *state, void (*free_state)(void *), gw_error *err) {
  gwh_stream *st = calloc(1, sizeof *st);
  gw_status status = st ? gw_batch_init(&st->builder, n_columns, names, formats, err)
                        : gw_fail(err, GW_INTERNAL, "out of memory");
  if (status != GW_OK) {
    free(st);
    if (free_state) free_state(state);
    return status;
  }
  st->fill = fill;
  st->state = state;
  st->free_state = free_state;
  st->host = host;
  st->ctx = ctx;
  out->get_schema = gwh_stream_schema;
  out->get_next = gwh_stream_next;
  out->get_last_error = gwh_stream_error;
  out->release = gwh_stream_release;
  out->private_data = st;
  return GW_OK;
}

/* ========================================================================================
 * 6. READING ROWS, for formats, exporters and sinks. The schema given to begin() is
 * borrowed for that call only: gw_fields_copy() keeps each column's name and format (and
 * refuses, naming the column, a type these readers do not know). Then for column `c` of a
 * batch, gw_append_value(out, fields.formats[c], batch->children[c], row, json, err) reads
 * row `row` (counted from 0 within the batch; the column's offset is added here) of any
 * type the ABI names:
 *
 *   text: integers and decimals in plain decimal notation, floats in the fewest digits that
 *         read back to the same value (see gwh_append_double; "NaN", "Infinity", "-Infinity"), booleans true/false,
 *         dates YYYY-MM-DD, timestamps YYYY-MM-DDTHH:MM:SS with the unit's fraction when it is
 *         not zero and a Z when the column has a zone, binary as lower-case hex.
 *   JSON: the same, strings and dates quoted, non-finite floats and nulls as null, binary as
 *         an array of bytes (as the host's own JSON does).
 *
 * Time zones: a timestamp column's values are instants since the epoch in UTC whatever its
 * zone, so no time-zone database is needed; the zone is a label for display.
 * ======================================================================================== */

/* A decimal format "d:P,S" or "d:P,S,BITS": its scale and width in 64-bit words (2 or 4),
 * or 0 when it is not one these readers take (precision 1..76, |scale| <= 76). */
GWH_FN int gwh_decimal(const char *f, int *scale) {
  if (strncmp(f, "d:", 2)) return 0;
  long parts[3] = {0, 0, 128};
  int n = 0;
  const char *p = f + 2;
  while (n < 3) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v < -1000 || v > 1000) return 0;
    parts[n++] = v;
    if (*end == 0) break;
    if (*end != ',') return 0;
    p = end + 1;
  }
  if (n < 2 || parts[0] < 1 || parts[0] > 76 || parts[1] < -76 || parts[1] > 76) return 0;
  if (parts[2] != 128 && parts[2] != 256) return 0;
  *scale = (int)parts[1];
  return parts[2] == 256 ? 4 : 2;
}

/* 1 when `format` is a column type these readers know (every type gateway_plugin.h names). */
GWH_FN int gw_format_known(const char *f) {
  char kind;
  int width, scale;
  return gwh_build_kind(f, &kind, &width) || !strcmp(f, "n") || gwh_decimal(f, &scale);
}

/* GW_OK when every column of a batch schema has a type the readers know; else
 * GW_UNSUPPORTED naming the column. */
GWH_FN gw_status gw_check_schema(const struct ArrowSchema *schema, gw_error *err) {
  if (!schema || !schema->format || strcmp(schema->format, "+s"))
    return gw_fail(err, GW_INVALID_ARGUMENT, "a batch schema is a struct (\"+s\")");
  for (int64_t i = 0; i < schema->n_children; i++) {
    const struct ArrowSchema *c = schema->children[i];
    if (!c->format || !gw_format_known(c->format))
      return gw_fail(err, GW_UNSUPPORTED, "column '%s' has Arrow type '%s', which this plugin cannot write",
                     c->name ? c->name : "", c->format ? c->format : "(none)");
  }
  return GW_OK;
}

/* The names and formats of a batch schema's columns, owned (copied from the schema). */
typedef struct gw_fields {
  int64_t n;
  char **names;
  char **formats;
} gw_fields;

GWH_FN void gw_fields_free(gw_fields *f) {
  for (int64_t i = 0; i < f->n; i++) {
    if (f->names) free(f->names[i]);
    if (f->formats) free(f->formats[i]);
  }
  free(f->names);
  free(f->formats);
  memset(f, 0, sizeof *f);
}

/* Copies what begin() needs to keep of `schema`; refuses column types the readers do not know. */
GWH_FN gw_status gw_fields_copy(gw_fields *out, const struct ArrowSchema *schema, gw_error *err) {
  memset(out, 0, sizeof *out);
  gw_status status = gw_check_schema(schema, err);
  if (status != GW_OK) return status;
  out->names = calloc((size_t)schema->n_children + 1, sizeof(char *));
  out->formats = calloc((size_t)schema->n_children + 1, sizeof(char *));
  if (!out->names || !out->formats) {
    gw_fields_free(out);
    return gw_fail(err, GW_INTERNAL, "out of memory");
  }
  for (int64_t i = 0; i < schema->n_children; i++) {
    out->n = i + 1;
    out->names[i] = gwh_strdup(schema->children[i]->name ? schema->children[i]->name : "");
    out->formats[i] = gwh_strdup(schema->children[i]->format);
    if (!out->names[i] || !out->formats[i]) {
      gw_fields_free(out);
      return gw_fail(err, GW_INTERNAL, "out of memory");
    }
  }
  return GW_OK;
}

GWH_FN int gw_value_is_null(const char *format, const struct ArrowArray *column, int64_t row) {
  if (!strcmp(format, "n")) return 1;
  const uint8_t *validity = column->n_buffers > 0 ? column->buffers[0] : NULL;
  if (!validity || column->null_count == 0) return 0;
  int64_t i = column->offset + row;
  return !(validity[i / 8] & (1u << (i % 8)));
}

/* Days since 1970-01-01 as a calendar date (H. Hinnant's civil_from_days), any int64. */
GWH_FN void gwh_append_date(gw_text *t, int64_t days) {
  /* Shifted into a range where the arithmetic below cannot overflow: 400-year cycles. */
  int64_t cycles = 0;
  const int64_t cycle_days = 146097;
  if (days > 1000000000000LL || days < -1000000000000LL) {
    cycles = days / cycle_days;
    days -= cycles * cycle_days;
  }
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400 + cycles * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) y++;
  char buf[48];
  int n = snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld", (long long)y, (long long)m, (long long)d);
  gw_text_append(t, buf, (size_t)n);
}

/* `value` in units of 10^-digits seconds since the epoch. */
GWH_FN void gwh_append_timestamp(gw_text *t, int64_t value, int digits) {
  int64_t per_second = 1;
  for (int i = 0; i < digits; i++) per_second *= 10;
  int64_t seconds = value / per_second, fraction = value % per_second;
  if (fraction < 0) { seconds--; fraction += per_second; }
  int64_t days = seconds / 86400, second_of_day = seconds % 86400;
  if (second_of_day < 0) { days--; second_of_day += 86400; }
  gwh_append_date(t, days);
  char buf[48];
  int n = snprintf(buf, sizeof buf, "T%02d:%02d:%02d", (int)(second_of_day / 3600), (int)(second_of_day / 60 % 60),
                   (int)(second_of_day % 60));
  if (fraction) n += snprintf(buf + n, sizeof buf - (size_t)n, ".%0*lld", digits, (long long)fraction);
  gw_text_append(t, buf, (size_t)n);
}

/* A little-endian two's complement integer of `words` 64-bit words, divided by 10^scale. */
GWH_FN void gwh_append_decimal(gw_text *t, const uint64_t *words, int n_words, int scale) {
  uint32_t limbs[8];
  int negative = (words[n_words - 1] >> 63) != 0;
  uint64_t carry = 1;
  for (int i = 0; i < n_words; i++) {
    uint64_t w = negative ? ~words[i] + carry : words[i];
    if (negative) carry = carry && w == 0;
    limbs[2 * i] = (uint32_t)w;
    limbs[2 * i + 1] = (uint32_t)(w >> 32);
  }
  char digits[100];
  int n = 0;
  int top = n_words * 2;
  while (top > 0 && limbs[top - 1] == 0) top--;
  while (top > 0) {
    uint64_t rem = 0;
    for (int i = top - 1; i >= 0; i--) {
      uint64_t cur = (rem << 32) | limbs[i];
      limbs[i] = (uint32_t)(cur / 10);
      rem = cur % 10;
    }
    digits[n++] = (char)('0' + rem);
    while (top > 0 && limbs[top - 1] == 0) top--;
  }
  if (n == 0) digits[n++] = '0';
  if (negative) gw_text_append_char(t, '-');
  if (scale <= 0) {
    for (int i = n - 1; i >= 0; i--) gw_text_append_char(t, digits[i]);
    for (int i = 0; i < -scale && !(n == 1 && digits[0] == '0'); i++) gw_text_append_char(t, '0');
    return;
  }
  if (n <= scale) {
    gw_text_append(t, "0.", 2);
    for (int i = 0; i < scale - n; i++) gw_text_append_char(t, '0');
    for (int i = n - 1; i >= 0; i--) gw_text_append_char(t, digits[i]);
    return;
  }
  for (int i = n - 1; i >= 0; i--) {
    gw_text_append_char(t, digits[i]);
    if (i == scale) gw_text_append_char(t, '.');
  }
}

/* The fewest significant digits from 15 up (a float32: from 6 up, compared as a float32) that
 * read back as the same value: 0.1f prints 0.1, 1.0/3 prints 0.3333333333333333. %g drops
 * trailing zeros, so values with a short decimal form print short; only denormals that a
 * shorter form would also reach keep 15 digits (5e-324 prints 4.94065645841247e-324). */
GWH_FN void gwh_append_double(gw_text *t, double d, int json, int single) {
  if (isnan(d) || isinf(d)) {
    gw_text_append_str(t, json ? "null" : isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
    return;
  }
  char buf[40];
  int n = 0;
  for (int digits = single ? 6 : 15; digits <= 17; digits++) {
    n = snprintf(buf, sizeof buf, "%.*g", digits, d);
    if (single ? strtof(buf, NULL) == (float)d : strtod(buf, NULL) == d) break;
  }
  gw_text_append(t, buf, (size_t)n);
}

/* Appends row `row` of `column` (of Arrow format `f`) to `out`: as JSON when `json` is 1, else as text (a null
 * appends nothing as text, "null" as JSON). GW_UNSUPPORTED for a type gw_format_known()
 * refuses. */
GWH_FN gw_status gw_append_value(gw_text *out, const char *f, const struct ArrowArray *column, int64_t row, int json,
                                 gw_error *err) {
  /* Refused before any read: a format read with the wrong layout would read past its buffer. */
  if (!gw_format_known(f)) return gw_fail(err, GW_UNSUPPORTED, "Arrow type '%s' cannot be written", f);
  if (gw_value_is_null(f, column, row)) {
    if (json) gw_text_append(out, "null", 4);
    return GW_OK;
  }
  int64_t i = column->offset + row;
  const void *values = column->n_buffers > 1 ? column->buffers[1] : NULL;
  char buf[32];
  int n = 0;
  if (!values) return gw_fail(err, GW_INVALID_ARGUMENT, "a column of type '%s' has no values buffer", f);
  switch (f[0]) {
  case 'b': gw_text_append_str(out, (((const uint8_t *)values)[i / 8] >> (i % 8)) & 1 ? "true" : "false"); return GW_OK;
  case 'c': n = snprintf(buf, sizeof buf, "%d", ((const int8_t *)values)[i]); break;
  case 's': n = snprintf(buf, sizeof buf, "%d", ((const int16_t *)values)[i]); break;
  case 'i': n = snprintf(buf, sizeof buf, "%d", ((const int32_t *)values)[i]); break;
  case 'l': n = snprintf(buf, sizeof buf, "%lld", (long long)((const int64_t *)values)[i]); break;
  case 'C': n = snprintf(buf, sizeof buf, "%u", ((const uint8_t *)values)[i]); break;
  case 'S': n = snprintf(buf, sizeof buf, "%u", ((const uint16_t *)values)[i]); break;
  case 'I': n = snprintf(buf, sizeof buf, "%u", ((const uint32_t *)values)[i]); break;
  case 'L': n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)((const uint64_t *)values)[i]); break;
  case 'f': gwh_append_double(out, ((const float *)values)[i], json, 1); return GW_OK;
  case 'g': gwh_append_double(out, ((const double *)values)[i], json, 0); return GW_OK;
  case 'd': {
    int scale = 0;
    int n_words = gwh_decimal(f, &scale);
    uint64_t words[4];
    memcpy(words, (const uint8_t *)values + i * n_words * 8, (size_t)n_words * 8);
    gwh_append_decimal(out, words, n_words, scale);
    return GW_OK;
  }
  case 't': {
    if (json) gw_text_append_char(out, '"');
    if (!strcmp(f, "tdD")) gwh_append_date(out, ((const int32_t *)values)[i]);
    else if (!strcmp(f, "tdm")) {
      int64_t ms = ((const int64_t *)values)[i];
      gwh_append_date(out, ms / 86400000 - (ms % 86400000 < 0));
    } else {
      int digits = f[2] == 's' ? 0 : f[2] == 'm' ? 3 : f[2] == 'u' ? 6 : 9;
      gwh_append_timestamp(out, ((const int64_t *)values)[i], digits);
      if (f[4]) gw_text_append_char(out, 'Z');
    }
    if (json) gw_text_append_char(out, '"');
    return GW_OK;
  }
  case 'u':
  case 'z': {
    const int32_t *offsets = values;
    const char *data = column->n_buffers > 2 ? column->buffers[2] : NULL;
    size_t len = (size_t)(offsets[i + 1] - offsets[i]);
    const char *bytes = data ? data + offsets[i] : "";
    if (f[0] == 'u') {
      if (json) gw_text_append_json_string(out, bytes, len);
      else gw_text_append(out, bytes, len);
      return GW_OK;
    }
    static const char hex[] = "0123456789abcdef";
    if (json) gw_text_append_char(out, '[');
    for (size_t k = 0; k < len; k++) {
      unsigned char byte = (unsigned char)bytes[k];
      if (json) {
        n = snprintf(buf, sizeof buf, k ? ",%u" : "%u", byte);
        gw_text_append(out, buf, (size_t)n);
      } else {
        char pair[2] = {hex[byte >> 4], hex[byte & 15]};
        gw_text_append(out, pair, 2);
      }
    }
    if (json) gw_text_append_char(out, ']');
    return GW_OK;
  }
  }
  if (n <= 0) return gw_fail(err, GW_UNSUPPORTED, "Arrow type '%s' cannot be written", f);
  gw_text_append(out, buf, (size_t)n);
  return GW_OK;
}

#endif /* GATEWAY_PLUGIN_HELPERS_H */
