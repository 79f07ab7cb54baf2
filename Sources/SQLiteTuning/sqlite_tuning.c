#include <sqlite3.h>
#include "sqlite_tuning.h"

int gw_sqlite_configure(void) {
  /* Memory statistics take a global mutex on every allocation; the gateway never reads
   * them, and bulk inserts allocate per row. */
  return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
}

int gw_sqlite_strict_quotes(sqlite3 *db) {
  return sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, (int *)0) == SQLITE_OK
      && sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)0) == SQLITE_OK;
}
