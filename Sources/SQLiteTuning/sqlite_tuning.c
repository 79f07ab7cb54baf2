#include <sqlite3.h>
#include "sqlite_tuning.h"

int gw_sqlite_configure(void) {
  /* Memory statistics take a global mutex on every allocation; the gateway never reads
   * them, and bulk inserts allocate per row. */
  return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
}
