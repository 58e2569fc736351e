#ifndef COFFER_CPOSTGRES_SHIM_H
#define COFFER_CPOSTGRES_SHIM_H
/* libpq, PostgreSQL's C client (libpq-dev): the shared backend's catalog and ledger. */
#include <libpq-fe.h>
#endif
