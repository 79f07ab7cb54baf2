/* Tests of gateway_plugin_helpers.h: every helper against known answers, and the config
 * reader against 200,000 mutated documents (run under AddressSanitizer by the test suite).
 * Prints "ok N checks" and exits 0, or names the first failed check and exits 1. */
#include "gateway_plugin_helpers.h"

static int checks, failures;

#define CHECK(cond)                                                        \
  do {                                                                     \
    checks++;                                                              \
    if (!(cond)) {                                                         \
      failures++;                                                          \
      fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond);  \
    }                                                                      \
  } while (0)

#define CHECK_TEXT(text, expected)                                                            \
  do {                                                                                        \
    checks++;                                                                                 \
    if (strcmp((text).data ? (text).data : "", expected)) {                                   \
      failures++;                                                                             \
      fprintf(stderr, "%s:%d: got '%s', expected '%s'\n", __FILE__, __LINE__, (text).data, expected); \
    }                                                                                         \
  } while (0)

static void config_reads(void) {
  const char *doc = "{\"count\": 42, \"name\": \"caf\\u00e9 \\ud83d\\ude00\\n\", \"ratio\": 0.5, \"on\": true,"
                    " \"auth\": {\"user\": \"bob\", \"deep\": {\"n\": -9223372036854775808}}, \"none\": null, \"big\": 1e400}";
  size_t len = strlen(doc);
  gw_error err = {{0}};
  int64_t n = -1;
  CHECK(gw_config_int64(doc, len, "count", &n, GW_REQUIRED, &err) == GW_OK && n == 42);
  CHECK(gw_config_int64(doc, len, "auth.deep.n", &n, GW_REQUIRED, &err) == GW_OK && n == INT64_MIN);
  n = 7;
  CHECK(gw_config_int64(doc, len, "missing", &n, GW_OPTIONAL, &err) == GW_OK && n == 7);
  CHECK(gw_config_int64(doc, len, "none", &n, GW_OPTIONAL, &err) == GW_OK && n == 7);
  CHECK(gw_config_int64(doc, len, "missing", &n, GW_REQUIRED, &err) == GW_INVALID_CONFIG);
  CHECK(strstr(err.message, "missing required field 'missing'") != NULL);
  CHECK(gw_config_int64(doc, len, "ratio", &n, GW_REQUIRED, &err) == GW_INVALID_CONFIG);
  CHECK(strstr(err.message, "'ratio' must be an integer") != NULL);
  CHECK(gw_config_int64(doc, len, "name.x", &n, GW_REQUIRED, &err) == GW_INVALID_CONFIG);
  CHECK(strstr(err.message, "'name' must be an object") != NULL);
  CHECK(gw_config_int64("{\"n\": 9223372036854775808}", 26, "n", &n, GW_REQUIRED, &err) == GW_INVALID_CONFIG);
  char name[32];
  CHECK(gw_config_string(doc, len, "name", name, sizeof name, GW_REQUIRED, &err) == GW_OK);
  CHECK(!strcmp(name, "caf\xc3\xa9 \xf0\x9f\x98\x80\n"));
  CHECK(gw_config_string(doc, len, "auth.user", name, sizeof name, GW_REQUIRED, &err) == GW_OK && !strcmp(name, "bob"));
  CHECK(gw_config_string(doc, len, "name", name, 4, GW_REQUIRED, &err) == GW_INVALID_CONFIG);
  CHECK(strstr(err.message, "longer than 3 bytes") != NULL);
  CHECK(gw_config_string(doc, len, "count", name, sizeof name, GW_REQUIRED, &err) == GW_INVALID_CONFIG);
  CHECK(gw_config_string("{\"s\":\"a\\u0000b\"}", 15, "s", name, sizeof name, GW_REQUIRED, &err) == GW_INVALID_CONFIG);
  double d = 0;
  CHECK(gw_config_double(doc, len, "ratio", &d, GW_REQUIRED, &err) == GW_OK && d == 0.5);
  CHECK(gw_config_double(doc, len, "count", &d, GW_REQUIRED, &err) == GW_OK && d == 42);
  CHECK(gw_config_double(doc, len, "big", &d, GW_REQUIRED, &err) == GW_INVALID_CONFIG);
  int on = 0;
  CHECK(gw_config_bool(doc, len, "on", &on, GW_REQUIRED, &err) == GW_OK && on == 1);
  CHECK(gw_config_bool(doc, len, "count", &on, GW_REQUIRED, &err) == GW_INVALID_CONFIG);
  /* Not JSON, not an object, trailing bytes, too deep. */
  const char *bad[] = {"", "[1]", "{\"a\":1} x", "{\"a\":}", "{\"a\":01}", "{\"a\":\"\x01\"}", "{'a':1}", "{\"a\":1,}"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    CHECK(gw_config_int64(bad[i], strlen(bad[i]), "a", &n, GW_OPTIONAL, &err) == GW_INVALID_CONFIG);
  char deep[300];
  memset(deep, '[', sizeof deep);
  memcpy(deep, "{\"a\":", 5);
  CHECK(gw_config_int64(deep, sizeof deep, "a", &n, GW_OPTIONAL, &err) == GW_INVALID_CONFIG);
  /* The last of two equal keys wins; a key with an escape matches its decoded form. */
  CHECK(gw_config_int64("{\"a\":1,\"a\":2}", 13, "a", &n, GW_REQUIRED, &err) == GW_OK && n == 2);
  CHECK(gw_config_int64("{\"a\\tb\":3}", 10, "a\tb", &n, GW_REQUIRED, &err) == GW_OK && n == 3);
  /* A null parent is an absent field; a refused string leaves the caller's default. */
  n = 5;
  CHECK(gw_config_int64("{\"auth\": null}", 14, "auth.port", &n, GW_OPTIONAL, &err) == GW_OK && n == 5);
  strcpy(name, "default");
  CHECK(gw_config_string(doc, len, "name", name, 4, GW_REQUIRED, &err) == GW_INVALID_CONFIG && !strcmp(name, "default"));
  strcpy(name, "default");
  CHECK(gw_config_string("{\"s\":\"ab\\u0000\"}", 16, "s", name, sizeof name, GW_REQUIRED, &err) == GW_INVALID_CONFIG && !strcmp(name, "default"));
  /* A NULL document (no config at all) has no fields. */
  CHECK(gw_config_int64(NULL, 0, "a", &n, GW_OPTIONAL, &err) == GW_OK);
}

/* Mutated documents must never read out of bounds (ASan watches) and never crash. */
static void config_mutations(void) {
  const char *seeds[] = {"{\"count\": 42, \"name\": \"x\\u00e9\", \"a\": {\"b\": [1, 2.5e3, true, null]}}",
                         "{\"s\":\"\\ud83d\\ude00\",\"n\":-0.0}", "{}"};
  unsigned state = 12345;
  char buf[256];
  for (int round = 0; round < 200000; round++) {
    const char *seed = seeds[round % 3];
    size_t len = strlen(seed);
    memcpy(buf, seed, len);
    int edits = 1 + round % 4;
    for (int e = 0; e < edits; e++) {
      state = state * 1103515245u + 12345u;
      size_t at = (state >> 8) % (len ? len : 1);
      unsigned op = (state >> 4) % 3;
      if (op == 0 && len) buf[at] = (char)(state >> 16);
      else if (op == 1 && len < sizeof buf - 1) { memmove(buf + at + 1, buf + at, len - at); buf[at] = "{}[]\",:\\u0e-."[(state >> 16) % 14]; len++; }
      else if (len) { memmove(buf + at, buf + at + 1, len - at - 1); len--; }
    }
    /* Exactly `len` bytes in their own allocation: a read past the end is caught. */
    char *doc = malloc(len ? len : 1);
    memcpy(doc, buf, len);
    gw_error err = {{0}};
    int64_t n;
    double d;
    int b;
    char s[16];
    gw_config_int64(doc, len, "count", &n, GW_OPTIONAL, &err);
    gw_config_double(doc, len, "a.b", &d, GW_OPTIONAL, &err);
    gw_config_bool(doc, len, "n", &b, GW_OPTIONAL, &err);
    gw_config_string(doc, len, "name", s, sizeof s, GW_OPTIONAL, &err);
    gw_config_string(doc, len, "s", s, sizeof s, GW_OPTIONAL, &err);
    free(doc);
  }
  checks++;
}

static gw_status text_of(gw_text *out, struct ArrowSchema *schema, struct ArrowArray *batch, int col, int64_t row, int json) {
  gw_error err = {{0}};
  gw_text_clear(out);
  return gw_append_value(out, schema->children[col]->format, batch->children[col], row, json, &err);
}

/* Decimal columns from text and from unscaled integers, read back by the same header's readers
 * (which the gateway's own tests compare with pyarrow). */
static void build_decimals(void) {
  const char *names[] = {"price", "wide"};
  const char *formats[] = {"d:10,2", "d:40,3,256"};
  gw_batch_builder b;
  gw_error err = {{0}};
  CHECK(gw_batch_init(&b, 2, names, formats, &err) == GW_OK);
  const char *prices[] = {"12.5", "-0.01", "123", ".25", "+7.10", "99999999.99", "1.2300"};
  const char *wides[] = {"1234567890123456789012345678901234567.891", "-1", "0", "-0.5", "2", "3", "4"};
  for (int r = 0; r < 7; r++) {
    gw_append_decimal_text(&b, 0, prices[r], strlen(prices[r]));
    gw_append_decimal_text(&b, 1, wides[r], strlen(wides[r]));
  }
  gw_append_decimal(&b, 0, -1250);
  gw_append_null(&b, 1);
  gw_append_decimal(&b, 0, INT64_MIN / 1000000000 * 1000000000 / 1000000000);
  gw_append_decimal(&b, 1, INT64_MIN);
  struct ArrowArray batch;
  struct ArrowSchema schema;
  CHECK(gw_batch_finish(&b, &batch, &err) == GW_OK && batch.length == 9);
  CHECK(gw_batch_schema(&b, &schema, &err) == GW_OK && !strcmp(schema.children[1]->format, "d:40,3,256"));
  gw_text t = {0};
  const char *expect_prices[] = {"12.50", "-0.01", "123.00", "0.25", "7.10", "99999999.99", "1.23", "-12.50", "-92233720.36"};
  const char *expect_wides[] = {"1234567890123456789012345678901234567.891", "-1.000", "0.000", "-0.500", "2.000", "3.000", "4.000", "", "-9223372036854775.808"};
  for (int r = 0; r < 9; r++) {
    text_of(&t, &schema, &batch, 0, r, 0); CHECK_TEXT(t, expect_prices[r]);
    text_of(&t, &schema, &batch, 1, r, 0); CHECK_TEXT(t, expect_wides[r]);
  }
  text_of(&t, &schema, &batch, 1, 7, 1); CHECK_TEXT(t, "null");
  batch.release(&batch);
  schema.release(&schema);
  /* Refused, never rounded or cut: more decimals than the scale, more digits than the precision. */
  gw_append_decimal_text(&b, 0, "1.234", 5);
  gw_append_decimal_text(&b, 1, "1", 1);
  CHECK(gw_batch_finish(&b, &batch, &err) == GW_INVALID_ARGUMENT && strstr(err.message, "'1.234' has more than 2 decimals"));
  gw_batch_free(&b);
  const char *bad[] = {"123456789.00", "12345678901", "", "-", "1e5", "1.2.3", "--1"};
  for (int i = 0; i < 7; i++) {
    CHECK(gw_batch_init(&b, 2, names, formats, &err) == GW_OK);
    gw_append_decimal_text(&b, 0, bad[i], strlen(bad[i]));
    gw_append_decimal_text(&b, 1, "1", 1);
    CHECK(gw_batch_finish(&b, &batch, &err) == GW_INVALID_ARGUMENT);
    gw_batch_free(&b);
  }
  CHECK(gw_batch_init(&b, 2, names, formats, &err) == GW_OK);
  gw_append_decimal(&b, 0, 10000000000LL); /* 11 digits into precision 10 */
  gw_append_decimal(&b, 1, 1);
  CHECK(gw_batch_finish(&b, &batch, &err) == GW_INVALID_ARGUMENT && strstr(err.message, "more than 10 digits"));
  gw_batch_free(&b);
  /* A decimal into another kind of column, and another kind into a decimal column. */
  const char *mixed[] = {"l"};
  CHECK(gw_batch_init(&b, 1, names, mixed, &err) == GW_OK);
  gw_append_decimal(&b, 0, 1);
  CHECK(gw_batch_finish(&b, &batch, &err) == GW_INTERNAL && strstr(err.message, "takes no decimals"));
  gw_batch_free(&b);
  gw_text_free(&t);
}

static void build_and_read(void) {
  const char *names[] = {"i", "u", "t", "b", "d", "ts", "tz", "f", "bin", "s8"};
  const char *formats[] = {"l", "u", "tdD", "b", "g", "tsu:", "tsm:UTC", "f", "z", "c"};
  gw_batch_builder b;
  gw_error err = {{0}};
  CHECK(gw_batch_init(&b, 10, names, formats, &err) == GW_OK);
  for (int64_t r = 0; r < 3000; r++) {
    gw_append_int(&b, 0, r - 1);
    if (r % 7 == 3) gw_append_null(&b, 1); else gw_append_cstr(&b, 1, r == 0 ? "tab\t\"q\"" : "x");
    gw_append_int(&b, 2, r == 0 ? 19723 : -719468);
    gw_append_bool(&b, 3, r % 2);
    gw_append_double(&b, 4, r == 0 ? 0.1 : r == 1 ? 1e300 / 1e-300 : 2.5);
    gw_append_int(&b, 5, r == 0 ? 1700000000123456LL : -1);
    gw_append_int(&b, 6, 86399999);
    gw_append_double(&b, 7, 1.5);
    gw_append_text(&b, 8, "\x00\xff", 2);
    gw_append_int(&b, 9, -128);
  }
  struct ArrowArray batch;
  struct ArrowSchema schema;
  CHECK(gw_batch_finish(&b, &batch, &err) == GW_OK && batch.length == 3000 && batch.n_children == 10);
  CHECK(gw_batch_schema(&b, &schema, &err) == GW_OK && schema.n_children == 10);
  CHECK(gw_check_schema(&schema, &err) == GW_OK);
  CHECK(batch.children[1]->null_count == 429 && batch.children[0]->null_count == 0 && batch.children[0]->buffers[0] == NULL);
  gw_text t = {0};
  text_of(&t, &schema, &batch, 0, 0, 0); CHECK_TEXT(t, "-1");
  text_of(&t, &schema, &batch, 1, 0, 1); CHECK_TEXT(t, "\"tab\\t\\\"q\\\"\"");
  text_of(&t, &schema, &batch, 1, 3, 1); CHECK_TEXT(t, "null");
  text_of(&t, &schema, &batch, 1, 3, 0); CHECK_TEXT(t, "");
  CHECK(gw_value_is_null("u", batch.children[1], 3) && !gw_value_is_null("u", batch.children[1], 4));
  gw_fields fields;
  CHECK(gw_fields_copy(&fields, &schema, &err) == GW_OK && fields.n == 10 && !strcmp(fields.names[6], "tz") && !strcmp(fields.formats[6], "tsm:UTC"));
  gw_fields_free(&fields);
  text_of(&t, &schema, &batch, 2, 0, 0); CHECK_TEXT(t, "2024-01-01");
  text_of(&t, &schema, &batch, 2, 1, 1); CHECK_TEXT(t, "\"0000-03-01\"");
  text_of(&t, &schema, &batch, 3, 1, 0); CHECK_TEXT(t, "true");
  text_of(&t, &schema, &batch, 4, 0, 0); CHECK_TEXT(t, "0.1");
  text_of(&t, &schema, &batch, 4, 1, 0); CHECK_TEXT(t, "Infinity");
  text_of(&t, &schema, &batch, 4, 1, 1); CHECK_TEXT(t, "null");
  text_of(&t, &schema, &batch, 5, 0, 0); CHECK_TEXT(t, "2023-11-14T22:13:20.123456");
  text_of(&t, &schema, &batch, 5, 1, 0); CHECK_TEXT(t, "1969-12-31T23:59:59.999999");
  text_of(&t, &schema, &batch, 6, 0, 1); CHECK_TEXT(t, "\"1970-01-01T23:59:59.999Z\"");
  text_of(&t, &schema, &batch, 7, 0, 0); CHECK_TEXT(t, "1.5");
  text_of(&t, &schema, &batch, 8, 0, 0); CHECK_TEXT(t, "00ff");
  text_of(&t, &schema, &batch, 8, 0, 1); CHECK_TEXT(t, "[0,255]");
  text_of(&t, &schema, &batch, 9, 0, 0); CHECK_TEXT(t, "-128");
  /* A sliced column: offset 2 reads row 2. */
  batch.children[0]->offset = 2;
  text_of(&t, &schema, &batch, 0, 0, 0); CHECK_TEXT(t, "1");
  batch.children[0]->offset = 0;
  batch.release(&batch);
  schema.release(&schema);
  CHECK(batch.release == NULL && schema.release == NULL);

  /* Out of range, wrong kind, uneven columns: kept and reported by finish. */
  gw_append_int(&b, 9, 128);
  CHECK(gw_batch_finish(&b, &batch, &err) == GW_INVALID_ARGUMENT && strstr(err.message, "128 does not fit c"));
  gw_batch_free(&b);
  CHECK(gw_batch_init(&b, 2, names, formats, &err) == GW_OK);
  gw_append_int(&b, 0, 1);
  CHECK(gw_batch_finish(&b, &batch, &err) == GW_INTERNAL && strstr(err.message, "column 'u' has 0 values"));
  gw_batch_free(&b);
  const char *odd[] = {"+l"};
  CHECK(gw_batch_init(&b, 1, names, odd, &err) == GW_UNSUPPORTED && strstr(err.message, "'+l'"));
  /* The whole uint64 range. */
  const char *unames[] = {"u"}, *uformats[] = {"L"};
  CHECK(gw_batch_init(&b, 1, unames, uformats, &err) == GW_OK);
  gw_append_uint64(&b, 0, UINT64_MAX);
  CHECK(gw_batch_finish(&b, &batch, &err) == GW_OK && ((const uint64_t *)batch.children[0]->buffers[1])[0] == UINT64_MAX);
  batch.release(&batch);
  gw_batch_free(&b);
  /* An empty batch has buffers too. */
  CHECK(gw_batch_init(&b, 2, names, formats, &err) == GW_OK);
  CHECK(gw_batch_finish(&b, &batch, &err) == GW_OK && batch.length == 0 && batch.children[1]->buffers[1] != NULL);
  batch.release(&batch);
  gw_batch_free(&b);
  gw_text_free(&t);
}

static void decimals(void) {
  struct { const char *format; int64_t lo; int64_t hi; const char *text; } cases[] = {
      {"d:10,2", 12345, 0, "123.45"},   {"d:10,2", -12345, -1, "-123.45"}, {"d:10,4", 5, 0, "0.0005"},
      {"d:10,0", 0, 0, "0"},            {"d:10,-2", 7, 0, "700"},          {"d:38,0", 0, 1, "18446744073709551616"},
      {"d:38,0", 0, INT64_MIN, "-170141183460469231731687303715884105728"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int64_t words[2] = {cases[i].lo, cases[i].hi};
    const void *buffers[2] = {NULL, words};
    struct ArrowArray column = {.length = 1, .n_buffers = 2, .buffers = buffers};
    gw_text t = {0};
    gw_error err = {{0}};
    CHECK(gw_append_value(&t, cases[i].format, &column, 0, 0, &err) == GW_OK);
    CHECK_TEXT(t, cases[i].text);
    gw_text_free(&t);
  }
  uint64_t words256[4] = {UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX};
  const void *buffers[2] = {NULL, words256};
  struct ArrowArray column = {.length = 1, .n_buffers = 2, .buffers = buffers};
  gw_text t = {0};
  gw_error err = {{0}};
  CHECK(gw_append_value(&t, "d:76,1,256", &column, 0, 1, &err) == GW_OK);
  CHECK_TEXT(t, "-0.1");
  /* Formats the readers do not know are refused before any read (they would be read with
   * the wrong layout): 32-bit times, durations, decimal32/64, absurd scales. */
  int64_t one[4] = {1, 0, 0, 0};
  const void *small[2] = {NULL, one};
  struct ArrowArray tiny = {.length = 1, .n_buffers = 2, .buffers = small};
  const char *refused[] = {"tts", "tDs", "tiM", "d:10,2,64", "d:9,2,32", "d:5,-2147483648", "d:5,2000000000", "d:", "ll", ""};
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
    gw_text_clear(&t);
    CHECK(gw_append_value(&t, refused[i], &tiny, 0, 0, &err) == GW_UNSUPPORTED && !gw_format_known(refused[i]));
  }
  /* Floats in the fewest digits that read back (a float32 as a float32). */
  float f01 = 0.1f;
  double third = 1.0 / 3, tiny_d = 5e-324;
  const void *fb[2] = {NULL, &f01}, *db[2] = {NULL, &third}, *tb[2] = {NULL, &tiny_d};
  struct ArrowArray fa = {.length = 1, .n_buffers = 2, .buffers = fb}, da = {.length = 1, .n_buffers = 2, .buffers = db},
                    ta = {.length = 1, .n_buffers = 2, .buffers = tb};
  gw_text_clear(&t); CHECK(gw_append_value(&t, "f", &fa, 0, 0, &err) == GW_OK); CHECK_TEXT(t, "0.1");
  gw_text_clear(&t); CHECK(gw_append_value(&t, "g", &da, 0, 0, &err) == GW_OK); CHECK_TEXT(t, "0.3333333333333333");
  gw_text_clear(&t); CHECK(gw_append_value(&t, "g", &ta, 0, 0, &err) == GW_OK); CHECK_TEXT(t, "4.94065645841247e-324");
  struct ArrowSchema list = {.format = "+l", .name = "tags"};
  struct ArrowSchema *children[] = {&list};
  struct ArrowSchema schema = {.format = "+s", .name = "", .n_children = 1, .children = children};
  CHECK(gw_check_schema(&schema, &err) == GW_UNSUPPORTED && strstr(err.message, "column 'tags' has Arrow type '+l'"));
  gw_fields fields;
  CHECK(gw_fields_copy(&fields, &schema, &err) == GW_UNSUPPORTED && fields.n == 0);
  gw_text_free(&t);
}

typedef struct { int calls; int fail_at; } fill_state;

static gw_status fill(void *state, gw_batch_builder *batch, gw_error *err) {
  fill_state *s = state;
  if (++s->calls == s->fail_at) return gw_fail(err, GW_UNAVAILABLE, "page %d: remote said 503", s->calls);
  for (int i = 0; i < (s->calls <= 2 ? 100 : 0); i++) gw_append_int(batch, 0, i);
  return GW_OK;
}

static int freed;
static void free_state(void *state) { freed++; free(state); }

static void streams(void) {
  const char *names[] = {"n"};
  const char *formats[] = {"l"};
  for (int fail_at = 0; fail_at <= 2; fail_at += 2) {
    fill_state *s = calloc(1, sizeof *s);
    s->fail_at = fail_at;
    struct ArrowArrayStream stream;
    gw_error err = {{0}};
    CHECK(gw_stream_init(&stream, NULL, NULL, 1, names, formats, fill, s, free_state, &err) == GW_OK);
    struct ArrowSchema schema;
    CHECK(stream.get_schema(&stream, &schema) == 0 && schema.n_children == 1 && !strcmp(schema.children[0]->format, "l"));
    schema.release(&schema);
    int64_t rows = 0;
    int rc = 0;
    for (;;) {
      struct ArrowArray batch;
      rc = stream.get_next(&stream, &batch);
      if (rc || !batch.release) break;
      rows += batch.length;
      batch.release(&batch);
    }
    if (fail_at == 0) CHECK(rc == 0 && rows == 200);
    else CHECK(rc == EIO && rows == 100 && !strcmp(stream.get_last_error(&stream), "page 2: remote said 503"));
    stream.release(&stream);
  }
  CHECK(freed == 2);
  gw_error err = {{0}};
  struct ArrowArrayStream stream;
  const char *bad[] = {"+m"};
  CHECK(gw_stream_init(&stream, NULL, NULL, 1, names, bad, fill, calloc(1, sizeof(fill_state)), free_state, &err) == GW_UNSUPPORTED);
  CHECK(freed == 3);
}

int main(void) {
  config_reads();
  config_mutations();
  build_and_read();
  build_decimals();
  decimals();
  streams();
  if (failures) {
    fprintf(stderr, "%d of %d checks failed\n", failures, checks);
    return 1;
  }
  printf("ok %d checks\n", checks);
  return 0;
}
