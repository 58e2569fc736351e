#ifndef COFFER_CSQLITE_SHIM_H
#define COFFER_CSQLITE_SHIM_H
#include <sqlite3.h>

/// sqlite3_db_config for the integer options (the C function is variadic,
/// which Swift cannot call).
static inline int coffer_sqlite3_db_config_flag(sqlite3 *db, int option, int value) {
    int applied = -1;
    int rc = sqlite3_db_config(db, option, value, &applied);
    return rc == SQLITE_OK && applied == value ? SQLITE_OK : (rc == SQLITE_OK ? SQLITE_ERROR : rc);
}
#endif
