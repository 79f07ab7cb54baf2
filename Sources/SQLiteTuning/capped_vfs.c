/* A VFS that caps SQLite's temporary files: a query's sort or temporary b-tree spills to
 * files SQLite deletes as it opens them (invisible to du), and nothing else bounds them.
 * One ORDER BY over generated rows wrote 2 GB in 8 seconds. Every method forwards to the
 * default VFS; a write past `cap` bytes in a temporary file fails with SQLITE_FULL, which
 * ends the query with "database or disk is full". */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include "sqlite_tuning.h"

typedef struct GwFile {
  sqlite3_file base;
  sqlite3_int64 cap; /* 0: a database file, not capped */
  sqlite3_file *real;
} GwFile;

static sqlite3_vfs *base_vfs;

/* One VFS per cap in use (a process may run gateways with different settings, as the
 * tests do): each keeps its cap in pAppData. */
#define MAX_CAPS 16
static struct {
  sqlite3_int64 cap;
  char name[48];
  sqlite3_vfs vfs;
} capped[MAX_CAPS];
static int capped_count;
static pthread_mutex_t capped_lock = PTHREAD_MUTEX_INITIALIZER;

#define REAL(f) (((GwFile *)(f))->real)

static int gwClose(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
static int gwRead(sqlite3_file *f, void *b, int n, sqlite3_int64 o) { return REAL(f)->pMethods->xRead(REAL(f), b, n, o); }
static int gwWrite(sqlite3_file *f, const void *b, int n, sqlite3_int64 o) {
  GwFile *g = (GwFile *)f;
  if (g->cap > 0 && o + n > g->cap) return SQLITE_FULL;
  return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int gwTruncate(sqlite3_file *f, sqlite3_int64 size) { return REAL(f)->pMethods->xTruncate(REAL(f), size); }
static int gwSync(sqlite3_file *f, int flags) { return REAL(f)->pMethods->xSync(REAL(f), flags); }
static int gwFileSize(sqlite3_file *f, sqlite3_int64 *size) { return REAL(f)->pMethods->xFileSize(REAL(f), size); }
static int gwLock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int gwUnlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int gwCheckReservedLock(sqlite3_file *f, int *out) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out); }
static int gwFileControl(sqlite3_file *f, int op, void *arg) { return REAL(f)->pMethods->xFileControl(REAL(f), op, arg); }
static int gwSectorSize(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int gwDeviceCharacteristics(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int gwShmMap(sqlite3_file *f, int region, int size, int extend, void volatile **out) {
  if (REAL(f)->pMethods->iVersion < 2 || !REAL(f)->pMethods->xShmMap) return SQLITE_IOERR;
  return REAL(f)->pMethods->xShmMap(REAL(f), region, size, extend, out);
}
static int gwShmLock(sqlite3_file *f, int offset, int n, int flags) {
  if (REAL(f)->pMethods->iVersion < 2 || !REAL(f)->pMethods->xShmLock) return SQLITE_IOERR;
  return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}
static void gwShmBarrier(sqlite3_file *f) {
  if (REAL(f)->pMethods->iVersion >= 2 && REAL(f)->pMethods->xShmBarrier) REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int gwShmUnmap(sqlite3_file *f, int deleteFlag) {
  if (REAL(f)->pMethods->iVersion < 2 || !REAL(f)->pMethods->xShmUnmap) return SQLITE_OK;
  return REAL(f)->pMethods->xShmUnmap(REAL(f), deleteFlag);
}
static int gwFetch(sqlite3_file *f, sqlite3_int64 o, int n, void **out) {
  if (REAL(f)->pMethods->iVersion < 3 || !REAL(f)->pMethods->xFetch) { *out = 0; return SQLITE_OK; }
  return REAL(f)->pMethods->xFetch(REAL(f), o, n, out);
}
static int gwUnfetch(sqlite3_file *f, sqlite3_int64 o, void *p) {
  if (REAL(f)->pMethods->iVersion < 3 || !REAL(f)->pMethods->xUnfetch) return SQLITE_OK;
  return REAL(f)->pMethods->xUnfetch(REAL(f), o, p);
}

static const sqlite3_io_methods gw_io_methods = {
  3, gwClose, gwRead, gwWrite, gwTruncate, gwSync, gwFileSize, gwLock, gwUnlock, gwCheckReservedLock,
  gwFileControl, gwSectorSize, gwDeviceCharacteristics, gwShmMap, gwShmLock, gwShmBarrier, gwShmUnmap,
  gwFetch, gwUnfetch,
};

static int gwOpen(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *outFlags) {
  sqlite3_int64 temp_cap = *(const sqlite3_int64 *)vfs->pAppData;
  GwFile *g = (GwFile *)f;
  g->real = (sqlite3_file *)&g[1];
  int rc = base_vfs->xOpen(base_vfs, name, g->real, flags, outFlags);
  if (rc != SQLITE_OK) {
    f->pMethods = 0;
    return rc;
  }
  int temporary = flags & (SQLITE_OPEN_TEMP_JOURNAL | SQLITE_OPEN_TEMP_DB | SQLITE_OPEN_SUBJOURNAL | SQLITE_OPEN_TRANSIENT_DB);
  g->cap = (temporary || name == 0) ? temp_cap : 0;
  f->pMethods = &gw_io_methods;
  return SQLITE_OK;
}

static int gwDelete(sqlite3_vfs *v, const char *n, int sync) { (void)v; return base_vfs->xDelete(base_vfs, n, sync); }
static int gwAccess(sqlite3_vfs *v, const char *n, int flags, int *out) { (void)v; return base_vfs->xAccess(base_vfs, n, flags, out); }
static int gwFullPathname(sqlite3_vfs *v, const char *n, int size, char *out) { (void)v; return base_vfs->xFullPathname(base_vfs, n, size, out); }
static void *gwDlOpen(sqlite3_vfs *v, const char *n) { (void)v; (void)n; return 0; } /* no extensions here */
static void gwDlError(sqlite3_vfs *v, int size, char *out) { (void)v; if (size > 0) out[0] = 0; }
static void (*gwDlSym(sqlite3_vfs *v, void *h, const char *s))(void) { (void)v; (void)h; (void)s; return 0; }
static void gwDlClose(sqlite3_vfs *v, void *h) { (void)v; (void)h; }
static int gwRandomness(sqlite3_vfs *v, int n, char *out) { (void)v; return base_vfs->xRandomness(base_vfs, n, out); }
static int gwSleep(sqlite3_vfs *v, int us) { (void)v; return base_vfs->xSleep(base_vfs, us); }
static int gwCurrentTime(sqlite3_vfs *v, double *out) { (void)v; return base_vfs->xCurrentTime(base_vfs, out); }
static int gwGetLastError(sqlite3_vfs *v, int n, char *out) { (void)v; return base_vfs->xGetLastError ? base_vfs->xGetLastError(base_vfs, n, out) : 0; }
static int gwCurrentTimeInt64(sqlite3_vfs *v, sqlite3_int64 *out) { (void)v; return base_vfs->xCurrentTimeInt64(base_vfs, out); }

const char *gw_sqlite_capped_vfs(sqlite3_int64 max_temp_bytes) {
  pthread_mutex_lock(&capped_lock);
  const char *found = 0;
  for (int i = 0; i < capped_count && !found; i++) {
    if (capped[i].cap == max_temp_bytes) found = capped[i].name;
  }
  if (!found && capped_count < MAX_CAPS) {
    if (!base_vfs) base_vfs = sqlite3_vfs_find(0);
    if (base_vfs && base_vfs->iVersion >= 2) {
      int i = capped_count;
      capped[i].cap = max_temp_bytes;
      snprintf(capped[i].name, sizeof capped[i].name, "gw-capped-%lld", (long long)max_temp_bytes);
      sqlite3_vfs *v = &capped[i].vfs;
      memset(v, 0, sizeof *v);
      v->iVersion = 2;
      v->szOsFile = (int)sizeof(GwFile) + base_vfs->szOsFile;
      v->mxPathname = base_vfs->mxPathname;
      v->zName = capped[i].name;
      v->pAppData = &capped[i].cap;
      v->xOpen = gwOpen;
      v->xDelete = gwDelete;
      v->xAccess = gwAccess;
      v->xFullPathname = gwFullPathname;
      v->xDlOpen = gwDlOpen;
      v->xDlError = gwDlError;
      v->xDlSym = gwDlSym;
      v->xDlClose = gwDlClose;
      v->xRandomness = gwRandomness;
      v->xSleep = gwSleep;
      v->xCurrentTime = gwCurrentTime;
      v->xGetLastError = gwGetLastError;
      v->xCurrentTimeInt64 = gwCurrentTimeInt64;
      if (sqlite3_vfs_register(v, 0) == SQLITE_OK) {
        capped_count++;
        found = capped[i].name;
      }
    }
  }
  pthread_mutex_unlock(&capped_lock);
  return found;
}
