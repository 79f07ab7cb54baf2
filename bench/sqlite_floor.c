/* The floor for reading a table out of SQLite: sqlite3_step and sqlite3_column_* over every
   row and column, nothing written anywhere. No reader of the same file can beat this loop.
   Opened as the gateway opens its files (no per-call mutex, no memory statistics).
     sqlite_floor DB "SELECT ..."                 prints seconds=S rows=N
   With THREADS and TABLE, the same loop on THREADS connections at once, each on its own
   thread, taking turns at ranges of 65,536 rowids ("SELECT ... WHERE rowid >= ? AND rowid <
   ?", chunk k on connection k % THREADS): what reading one table on several connections
   could give at best, rows kept in order chunk by chunk.
     sqlite_floor DB "SELECT ... FROM TABLE" THREADS TABLE */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK 65536

struct reader {
    const char *path;
    char sql[4096];
    int index, threads;
    long long max_rowid;
    long rows;
    double sink;
    int failed;
};

static void step_all(sqlite3_stmt *st, long *rows, double *sink) {
    int n = sqlite3_column_count(st);
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int c = 0; c < n; c++) {
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_INTEGER: *sink += (double)sqlite3_column_int64(st, c); break;
            case SQLITE_FLOAT: *sink += sqlite3_column_double(st, c); break;
            case SQLITE_NULL: break;
            default: *sink += (double)sqlite3_column_bytes(st, c) + (double)sqlite3_column_text(st, c)[0]; break;
            }
        }
        (*rows)++;
    }
}

static void *read_chunks(void *arg) {
    struct reader *r = arg;
    sqlite3 *db;
    sqlite3_stmt *st;
    if (sqlite3_open_v2(r->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, r->sql, -1, &st, NULL) != SQLITE_OK) {
        r->failed = 1;
        return NULL;
    }
    for (long long from = (long long)r->index * CHUNK; from <= r->max_rowid; from += (long long)r->threads * CHUNK) {
        sqlite3_bind_int64(st, 1, from);
        sqlite3_bind_int64(st, 2, from + CHUNK);
        step_all(st, &r->rows, &r->sink);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    long rows = 0;
    double sink = 0;
    if (argc >= 5) {
        int threads = atoi(argv[3]);
        if (threads < 1 || threads > 64) return 2;
        sqlite3 *db;
        sqlite3_stmt *st;
        char max_sql[512];
        snprintf(max_sql, sizeof max_sql, "SELECT max(rowid) FROM \"%s\"", argv[4]);
        if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return 1;
        if (sqlite3_prepare_v2(db, max_sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) return 1;
        long long max_rowid = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        struct reader readers[64];
        pthread_t ids[64];
        for (int t = 0; t < threads; t++) {
            readers[t] = (struct reader){.path = argv[1], .index = t, .threads = threads, .max_rowid = max_rowid};
            snprintf(readers[t].sql, sizeof readers[t].sql, "%s WHERE rowid >= ?1 AND rowid < ?2", argv[2]);
            pthread_create(&ids[t], NULL, read_chunks, &readers[t]);
        }
        for (int t = 0; t < threads; t++) {
            pthread_join(ids[t], NULL);
            if (readers[t].failed) return 1;
            rows += readers[t].rows;
            sink += readers[t].sink;
        }
    } else {
        sqlite3 *db;
        sqlite3_stmt *st;
        if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) return 1;
        if (sqlite3_prepare_v2(db, argv[2], -1, &st, NULL) != SQLITE_OK) return 1;
        step_all(st, &rows, &sink);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("seconds=%f rows=%ld sink=%g\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9, rows, sink);
    return 0;
}
