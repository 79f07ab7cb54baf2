#ifndef GATEWAY_SQLITE_TUNING_H
#define GATEWAY_SQLITE_TUNING_H

/* sqlite3_config is variadic, which Swift cannot call: this wrapper does. Call once,
 * before the first connection is opened. Returns 1 if the settings took effect. */
int gw_sqlite_configure(void);

#endif
