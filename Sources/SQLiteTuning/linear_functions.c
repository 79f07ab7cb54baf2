/* Linear-time instr, replace and trim for the read-only query connections: see
 * sqlite_tuning.h for why. Each follows SQLite's documented semantics
 * (https://sqlite.org/lang_corefunc.html): NULL in, NULL out; text positions counted in
 * UTF-8 characters; blobs compared as bytes. */
#define _GNU_SOURCE
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sqlite_tuning.h"

static int is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

/* instr(X, Y): 1-based position of the first Y in X (characters for text, bytes when both
 * are blobs), 0 when absent. */
static void gw_instr(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  int t0 = sqlite3_value_type(argv[0]), t1 = sqlite3_value_type(argv[1]);
  if (t0 == SQLITE_NULL || t1 == SQLITE_NULL) return;
  int blobs = t0 == SQLITE_BLOB && t1 == SQLITE_BLOB;
  const unsigned char *x, *y;
  int nx, ny;
  if (blobs) {
    x = sqlite3_value_blob(argv[0]); nx = sqlite3_value_bytes(argv[0]);
    y = sqlite3_value_blob(argv[1]); ny = sqlite3_value_bytes(argv[1]);
  } else {
    x = sqlite3_value_text(argv[0]); nx = sqlite3_value_bytes(argv[0]);
    y = sqlite3_value_text(argv[1]); ny = sqlite3_value_bytes(argv[1]);
  }
  if (ny == 0) { sqlite3_result_int64(ctx, 1); return; }
  if (!x || !y) { sqlite3_result_int64(ctx, 0); return; }
  const unsigned char *found = memmem(x, (size_t)nx, y, (size_t)ny);
  if (!found) { sqlite3_result_int64(ctx, 0); return; }
  sqlite3_int64 at = found - x;
  if (blobs) { sqlite3_result_int64(ctx, at + 1); return; }
  sqlite3_int64 chars = 0;
  for (sqlite3_int64 i = 0; i < at; i++) if (!is_continuation(x[i])) chars++;
  sqlite3_result_int64(ctx, chars + 1);
}

/* replace(X, Y, Z): every Y in X replaced by Z (text). */
static void gw_replace(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const unsigned char *x = sqlite3_value_text(argv[0]);
  if (!x) return;
  int nx = sqlite3_value_bytes(argv[0]);
  const unsigned char *y = sqlite3_value_text(argv[1]);
  if (!y) return;
  int ny = sqlite3_value_bytes(argv[1]);
  if (ny == 0) { sqlite3_result_value(ctx, argv[0]); return; }
  const unsigned char *z = sqlite3_value_text(argv[2]);
  if (!z) return;
  int nz = sqlite3_value_bytes(argv[2]);
  sqlite3_int64 limit = sqlite3_limit(sqlite3_context_db_handle(ctx), SQLITE_LIMIT_LENGTH, -1);
  sqlite3_int64 cap = nx + 1, used = 0;
  unsigned char *out = sqlite3_malloc64((sqlite3_uint64)cap);
  if (!out) { sqlite3_result_error_nomem(ctx); return; }
  const unsigned char *at = x, *end = x + nx;
  while (at < end) {
    const unsigned char *found = memmem(at, (size_t)(end - at), y, (size_t)ny);
    sqlite3_int64 keep = found ? found - at : end - at;
    sqlite3_int64 need = used + keep + (found ? nz : 0);
    if (need > limit) { sqlite3_free(out); sqlite3_result_error_toobig(ctx); return; }
    if (need + 1 > cap) {
      while (cap < need + 1) cap *= 2;
      unsigned char *bigger = sqlite3_realloc64(out, (sqlite3_uint64)cap);
      if (!bigger) { sqlite3_free(out); sqlite3_result_error_nomem(ctx); return; }
      out = bigger;
    }
    memcpy(out + used, at, (size_t)keep);
    used += keep;
    if (!found) break;
    memcpy(out + used, z, (size_t)nz);
    used += nz;
    at = found + ny;
  }
  sqlite3_result_text64(ctx, (const char *)out, (sqlite3_uint64)used, sqlite3_free, SQLITE_UTF8);
}

/* The UTF-8 character starting at s[i] (n bytes long), as its code point. */
static unsigned int decode(const unsigned char *s, int n, int i, int *len) {
  unsigned char c = s[i];
  int k = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  if (i + k > n) k = n - i;
  unsigned int v = k == 1 ? c : c & (0x3F >> (k - 1));
  for (int j = 1; j < k; j++) v = v << 6 | (s[i + j] & 0x3F);
  *len = k;
  return v;
}

static int compare_uint(const void *a, const void *b) {
  unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;
  return x < y ? -1 : x > y;
}

/* The characters of Y, sorted: membership in O(log m). */
typedef struct {
  unsigned int *chars;
  int count;
  unsigned char ascii[128];
} CharSet;

static int charset_init(CharSet *set, const unsigned char *y, int ny) {
  memset(set, 0, sizeof *set);
  set->chars = sqlite3_malloc64((sqlite3_uint64)(ny > 0 ? ny : 1) * sizeof(unsigned int));
  if (!set->chars) return 0;
  for (int i = 0; i < ny;) {
    int len;
    unsigned int c = decode(y, ny, i, &len);
    if (c < 128) set->ascii[c] = 1;
    set->chars[set->count++] = c;
    i += len;
  }
  qsort(set->chars, (size_t)set->count, sizeof(unsigned int), compare_uint);
  /* Distinct characters only: a long Y of few characters searches a short list. */
  int distinct = 0;
  for (int i = 0; i < set->count; i++) {
    if (distinct == 0 || set->chars[distinct - 1] != set->chars[i]) set->chars[distinct++] = set->chars[i];
  }
  set->count = distinct;
  return 1;
}

static int charset_has(const CharSet *set, unsigned int c) {
  if (c < 128) return set->ascii[c];
  return bsearch(&c, set->chars, (size_t)set->count, sizeof(unsigned int), compare_uint) != NULL;
}

/* trim/ltrim/rtrim(X[, Y]): the characters of Y (a space by default) removed from the
 * ends of X. user_data: 1 left, 2 right, 3 both. */
static void gw_trim(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const unsigned char *x = sqlite3_value_text(argv[0]);
  if (!x) return;
  int nx = sqlite3_value_bytes(argv[0]);
  const unsigned char *y = (const unsigned char *)" ";
  int ny = 1;
  if (argc == 2) {
    y = sqlite3_value_text(argv[1]);
    if (!y) return;
    ny = sqlite3_value_bytes(argv[1]);
  }
  int flags = (int)(intptr_t)sqlite3_user_data(ctx);
  CharSet set;
  if (!charset_init(&set, y, ny)) { sqlite3_result_error_nomem(ctx); return; }
  int start = 0, end = nx;
  if (flags & 1) {
    while (start < end) {
      int len;
      unsigned int c = decode(x, end, start, &len);
      if (!charset_has(&set, c)) break;
      start += len;
    }
  }
  if (flags & 2) {
    while (end > start) {
      int begin = end - 1;
      while (begin > start && is_continuation(x[begin])) begin--;
      int len;
      unsigned int c = decode(x, end, begin, &len);
      if (!charset_has(&set, c)) break;
      end = begin;
    }
  }
  sqlite3_free(set.chars);
  sqlite3_result_text(ctx, (const char *)x + start, end - start, SQLITE_TRANSIENT);
}

int gw_sqlite_register_linear_functions(sqlite3 *db) {
  int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  int rc = sqlite3_create_function_v2(db, "instr", 2, flags, NULL, gw_instr, NULL, NULL, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_create_function_v2(db, "replace", 3, flags, NULL, gw_replace, NULL, NULL, NULL);
  for (int argc = 1; argc <= 2 && rc == SQLITE_OK; argc++) {
    rc = sqlite3_create_function_v2(db, "ltrim", argc, flags, (void *)1, gw_trim, NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_create_function_v2(db, "rtrim", argc, flags, (void *)2, gw_trim, NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_create_function_v2(db, "trim", argc, flags, (void *)3, gw_trim, NULL, NULL, NULL);
  }
  return rc;
}
