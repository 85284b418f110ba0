/* guestflow db migrate: create or upgrade the guestflow schema. */
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"
#include "db/db.h"
#include "db/migrate.h"

static const char help[] =
	"Usage: guestflow [-c FILE] db migrate\n"
	"\n"
	"Creates or upgrades the guestflow schema in the configured database from the\n"
	"migrations built into this binary, each in its own transaction, recorded in\n"
	"guestflow.schema_migrations. A second run does nothing. A database migrated by\n"
	"a newer guestflow is refused. When the reference PMS schema (pms.*) exists and\n"
	"no source adapter is installed yet, the reference adapters are installed.\n";

int gf_cmd_db(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, help))
		return 0;
	if (argc != 2 || strcmp(argv[1], "migrate") != 0) {
		fputs(help, stderr);
		return GF_EXIT_USAGE;
	}
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	int r = gf_cmd_open(ctx, &cfg, &db);
	gf_config_free(cfg);
	if (r)
		return r;
	int applied = 0, adapters = 0;
	r = gf_migrate(db, &applied, &adapters);
	PQfinish(db);
	if (r == -GF_E_SCHEMA) {
		fprintf(stderr, "guestflow db migrate: refusing: the database schema is newer than this guestflow (version %d)"
		        " or was migrated by an unreleased development version (the error above says which)\n",
		        gf_schema_version_known());
		return GF_EXIT_CONFIG;
	}
	if (r < 0) {
		fprintf(stderr, "guestflow db migrate: failed: %s\n", gf_strerror(r));
		return gf_cmd_db_error(r);
	}
	if (applied)
		printf("applied %d migration%s; schema at version %d\n", applied, applied == 1 ? "" : "s",
		       gf_schema_version_known());
	else
		printf("schema up to date at version %d\n", gf_schema_version_known());
	if (adapters)
		printf("installed the reference source adapters (guestflow.source_bookings, guestflow.write_history)\n");
	return 0;
}
