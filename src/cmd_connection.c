/* guestflow connection: add, list, show and change the status of connections. */
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cmd.h"
#include "connection.h"
#include "db.h"

static const char help[] =
	"Usage: guestflow [-c FILE] connection add PROPERTY PARTNER --hotel-id ID\n"
	"       guestflow [-c FILE] connection list\n"
	"       guestflow [-c FILE] connection show|activate|deactivate|stop PROPERTY PARTNER\n"
	"\n"
	"add         creates a connection in status 'setup'; the access key is read\n"
	"            from standard input (one line; not echoed on a terminal), never\n"
	"            from the command line\n"
	"list        property, partner, hotel id and status of every connection\n"
	"show        one connection and its status history (never the access key)\n"
	"activate    makes a connection 'live': only live connections receive data\n"
	"deactivate  the property ends the connection: no more data flows\n"
	"stop        the partner stopped serving a live connection\n";

/* Read the access key from stdin: one line, without echo on a terminal. */
static int read_secret(char *out, size_t outlen)
{
	bool tty = isatty(STDIN_FILENO);
	struct termios old, quiet;
	if (tty) {
		fprintf(stderr, "Access key: ");
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		} else {
			tty = false;
		}
	}
	char *ok = fgets(out, (int)outlen, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (!ok)
		return -EINVAL;
	size_t n = strlen(out);
	if (n == outlen - 1 && out[n - 1] != '\n')
		return -E2BIG;
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			return -EINVAL;
	return n ? 0 : -EINVAL;
}

static int with_db(const struct gf_cmd_ctx *ctx, PGconn **db)
{
	struct gf_config *cfg = NULL;
	int r = gf_cmd_open(ctx, &cfg, db);
	gf_config_free(cfg);
	return r;
}

static int cmd_add(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	const char *hotel = NULL;
	const char *pos[2];
	int npos = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--hotel-id") == 0 && i + 1 < argc)
			hotel = argv[++i];
		else if (strncmp(argv[i], "--hotel-id=", 11) == 0)
			hotel = argv[i] + 11;
		else if (argv[i][0] == '-' || npos == 2) {
			fprintf(stderr, "guestflow connection add: unexpected argument '%s'\n%s", argv[i], help);
			return GF_EXIT_USAGE;
		} else
			pos[npos++] = argv[i];
	}
	if (npos != 2 || !hotel || !*hotel) {
		fprintf(stderr, "guestflow connection add: needs PROPERTY PARTNER --hotel-id ID\n");
		return GF_EXIT_USAGE;
	}
	for (const char *p = pos[1]; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')) {
			fprintf(stderr, "guestflow connection add: partner '%s' may hold only a-z, 0-9, '-' and '_'\n", pos[1]);
			return GF_EXIT_DATAERR;
		}
	char key[4096];
	int r = read_secret(key, sizeof(key));
	if (r < 0) {
		explicit_bzero(key, sizeof(key));
		fprintf(stderr, "guestflow connection add: no access key on standard input (one line, no control characters)\n");
		return GF_EXIT_DATAERR;
	}
	PGconn *db = NULL;
	r = with_db(ctx, &db);
	if (r) {
		explicit_bzero(key, sizeof(key));
		return r;
	}
	r = gf_connection_add(db, pos[0], pos[1], hotel, key);
	explicit_bzero(key, sizeof(key));
	PQfinish(db);
	if (r == -EEXIST) {
		fprintf(stderr, "guestflow connection add: %s already has a connection to %s\n", pos[0], pos[1]);
		return GF_EXIT_DATAERR;
	}
	if (r < 0)
		return gf_cmd_db_error(r);
	printf("connection %s -> %s added (status setup); make it live with: guestflow connection activate %s %s\n",
	       pos[0], pos[1], pos[0], pos[1]);
	return 0;
}

int gf_cmd_connection(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, help))
		return 0;
	if (argc < 2) {
		fputs(help, stderr);
		return GF_EXIT_USAGE;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "add") == 0)
		return cmd_add(argc, argv, ctx);
	PGconn *db = NULL;
	int r;
	if (strcmp(sub, "list") == 0) {
		if (argc != 2) {
			fputs(help, stderr);
			return GF_EXIT_USAGE;
		}
		if ((r = with_db(ctx, &db)))
			return r;
		r = gf_connection_list(db, stdout);
		PQfinish(db);
		return r < 0 ? gf_cmd_db_error(r) : 0;
	}
	static const struct { const char *verb, *status, *note; } moves[] = {
		{ "activate", "live", "activated" },
		{ "deactivate", "deactivated", "deactivated by the property" },
		{ "stop", "stopped", "stopped by the partner" },
	};
	bool show = strcmp(sub, "show") == 0;
	int m = -1;
	for (size_t i = 0; i < GF_ARRAY_SIZE(moves); i++)
		if (strcmp(sub, moves[i].verb) == 0)
			m = (int)i;
	if ((!show && m < 0) || argc != 4) {
		fprintf(stderr, "guestflow connection: unknown or incomplete command\n%s", help);
		return GF_EXIT_USAGE;
	}
	if ((r = with_db(ctx, &db)))
		return r;
	if (show)
		r = gf_connection_show(db, argv[2], argv[3], stdout);
	else
		r = gf_connection_set_status(db, argv[2], argv[3], moves[m].status, moves[m].note);
	PQfinish(db);
	if (r == -ENOENT) {
		fprintf(stderr, "guestflow connection %s: no connection %s -> %s\n", sub, argv[2], argv[3]);
		return GF_EXIT_DATAERR;
	}
	if (r == -EPERM) {
		fprintf(stderr, "guestflow connection %s: only a live connection can be stopped\n", sub);
		return GF_EXIT_DATAERR;
	}
	if (r < 0)
		return gf_cmd_db_error(r);
	if (!show)
		printf("connection %s -> %s is now %s\n", argv[2], argv[3], moves[m].status);
	return 0;
}
