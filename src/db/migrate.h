/* Creating and upgrading the guestflow schema from the embedded migrations. */
#ifndef GF_MIGRATE_H
#define GF_MIGRATE_H

#include <libpq-fe.h>

/* The schema version this binary knows (the highest embedded migration). */
int gf_schema_version_known(void);

/* Apply every missing migration, each in its own transaction, recorded in
 * guestflow.schema_migrations; then install the reference source adapters when
 * the pms schema exists and no adapter is installed yet. *applied counts the
 * migrations applied (0: already up to date). Refuses (-GF_E_SCHEMA) a
 * database whose schema is newer than this binary. */
int gf_migrate(PGconn *c, int *applied, int *adapters_installed);

/* Check before a run: schema present and exactly this binary's version, and
 * the source adapters present. Logs a clear message and returns -GF_E_SCHEMA
 * otherwise. */
int gf_schema_check(PGconn *c);
/* Its two halves: guestflow's own schema (present, this binary's version),
 * then the source adapters (gf_schema_check() is both). A run whose adapters
 * are missing or of the wrong shape can still record itself and escalate. */
int gf_schema_check_own(PGconn *c);
int gf_adapter_check(PGconn *c);
/* The database's schema version, without a word logged: -1 when there is
 * no guestflow schema, or a negative error (< -1) on a database error. */
int gf_schema_version(PGconn *c);

#endif
