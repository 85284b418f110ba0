/* SQL embedded into the binary at build time (tools/embed_sql.py). */
#ifndef GF_EMBEDDED_SQL_H
#define GF_EMBEDDED_SQL_H

#include <stddef.h>

struct gf_migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct gf_migration gf_migrations[];
extern const size_t gf_n_migrations;
/* schemas/sql/reference/adapters.sql: the default source adapters over the
 * reference PMS schema. */
extern const char gf_sql_adapters[];
/* schemas/sql/reference/adapter_properties.sql: the reference
 * guestflow.source_properties over pms.properties. */
extern const char gf_sql_adapter_properties[];

#endif
