/* The floor for reading a table out of SQLite: sqlite3_step and sqlite3_column_* over every
   row and column, nothing written anywhere. No reader of the same file can beat this loop.
     sqlite_floor DB "SELECT ..."   prints seconds=S rows=N */
#include <sqlite3.h>
#include <stdio.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    sqlite3 *db;
    sqlite3_stmt *st;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return 1;
    if (sqlite3_prepare_v2(db, argv[2], -1, &st, NULL) != SQLITE_OK) return 1;
    long rows = 0;
    double sink = 0;
    int n = sqlite3_column_count(st);
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int c = 0; c < n; c++) {
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_INTEGER: sink += (double)sqlite3_column_int64(st, c); break;
            case SQLITE_FLOAT: sink += sqlite3_column_double(st, c); break;
            case SQLITE_NULL: break;
            default: sink += (double)sqlite3_column_bytes(st, c) + (double)sqlite3_column_text(st, c)[0]; break;
            }
        }
        rows++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("seconds=%f rows=%ld sink=%g\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9, rows, sink);
    return 0;
}
