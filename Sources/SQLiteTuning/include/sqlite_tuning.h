#ifndef GATEWAY_SQLITE_TUNING_H
#define GATEWAY_SQLITE_TUNING_H

#include <sqlite3.h>

/* sqlite3_config is variadic, which Swift cannot call: this wrapper does. Call once,
 * before the first connection is opened. Returns 1 if the settings took effect. */
int gw_sqlite_configure(void);

/* Makes "name" always an identifier on `db` (sqlite3_db_config is variadic too). By default
 * SQLite reads a double-quoted name that matches no column as a string literal, so a
 * misspelt column in a query came back as its own name, in every row, with no error.
 * Returns 1 if both settings took effect. */
int gw_sqlite_strict_quotes(sqlite3 *db);

/* Replaces instr(), replace(), trim(), ltrim() and rtrim() on `db` with versions whose work
 * is linear in their arguments. SQLite's own compare the pattern at every position
 * (length of X times length of Y), and a single call runs to its end: a progress handler
 * cannot stop it, so one query of two megabyte strings held a core for minutes past its
 * time budget. Same results, NULL handling and UTF-8 character semantics.
 * Returns SQLITE_OK or an error code. */
int gw_sqlite_register_linear_functions(sqlite3 *db);

/* The name of a VFS that forwards to the default one and fails a write that would grow a
 * temporary file (a sort's spill, a temporary table) past max_temp_bytes; registered at
 * the first call for each cap (at most 16 caps). The read-only query connections open
 * with it. NULL if it could not be registered. The name lives as long as the process. */
const char *gw_sqlite_capped_vfs(sqlite3_int64 max_temp_bytes);

#endif
