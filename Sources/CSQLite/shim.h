#ifndef COFFER_CSQLITE_SHIM_H
#define COFFER_CSQLITE_SHIM_H
#include <sqlite3.h>
#endif
