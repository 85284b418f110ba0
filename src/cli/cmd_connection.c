/* guestflow connection: add, list, show and change the status of connections. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "core/connection.h"
#include "core/conntest.h"
#include "core/jsonout.h"
#include "core/notify.h"
#include "core/output.h"
#include "db/db.h"
#include "base/log.h"
#include "core/secret.h"

static const char help[] =
	"Usage: guestflow [-c FILE] connection add PROPERTY PARTNER (--hotel-id ID | --property-id ID)\n"
	"                               [--partner-email ADDR]\n"
	"       guestflow [-c FILE] connection set-partner-email PROPERTY PARTNER (ADDR | --clear)\n"
	"       guestflow [-c FILE] connection set-credentials|set-key PROPERTY PARTNER\n"
	"       guestflow [-c FILE] connection test PROPERTY PARTNER [--job NAME]\n"
	"       guestflow [-c FILE] connection rekey\n"
	"       guestflow [-c FILE] connection list [--json]\n"
	"       guestflow [-c FILE] connection consent PROPERTY PARTNER --by NAME\n"
	"                               (--terms-version V | --withdraw)\n"
	"       guestflow [-c FILE] connection activate PROPERTY PARTNER [--force --reason TEXT]\n"
	"       guestflow [-c FILE] connection show PROPERTY PARTNER [--json]\n"
	"       guestflow [-c FILE] connection deactivate|stop PROPERTY PARTNER\n"
	"\n"
	"add         creates a connection in status 'setup', with the id and secret\n"
	"            its partner's format takes: review-xml --hotel-id and an access\n"
	"            key, guest-json --property-id and an API token, visits-csv\n"
	"            --hotel-id alone (the job holds the SFTP account); a secret is\n"
	"            read from standard input (one line; not echoed on a terminal),\n"
	"            never from the command line. --partner-email ADDR: where the\n"
	"            partner hears of this connection's changes, instead of\n"
	"            partners.PARTNER.email of the main file\n"
	"set-partner-email  sets (or --clear removes) that address; recorded in\n"
	"            the connection's events\n"
	"set-credentials  (or set-key) replaces a connection's secret (access key or\n"
	"            API token), read from standard input as for add; recorded in the\n"
	"            connection's events (without the secret)\n"
	"test        the partner's test call with the stored credentials, through\n"
	"            every job that sends to the partner (or --job NAME): one verdict\n"
	"            line each, with what to do, recorded on the connection (show).\n"
	"            Exit 0 ok, 77 credentials refused, 67 unknown hotel or property\n"
	"            id, 79 TLS certificate or SSH host key refused, 69 unreachable\n"
	"            (DNS, refused, timeout), 76 unexpected reply; 75 and nothing\n"
	"            recorded when the secret was replaced while it ran\n"
	"rekey       rotates the key that encrypts the stored secrets: a new key\n"
	"            in secrets.key_file, the previous one kept as FILE.old, every\n"
	"            secret re-encrypted in one transaction\n"
	"list        property, partner, id at the partner (hotel or property id) and\n"
	"            status of every connection; --json: one JSON document\n"
	"show        one connection and its status history (never its secret), and\n"
	"            for each change whether and when the partner was told; --json:\n"
	"            one JSON document (guestflow(1), JSON OUTPUT)\n"
	"consent     records who (--by) accepted which terms of the partner\n"
	"            (--terms-version), and when; newer terms replace the consent in\n"
	"            force. --withdraw ends it and deactivates the connection\n"
	"activate    makes a connection 'live' (only live connections receive data)\n"
	"            through the go-live gate: consent in force, an alert and a\n"
	"            technical contact covering it, and a connection test that\n"
	"            succeeded in the last 24 hours; exit 65 listing every item\n"
	"            missing. --force --reason TEXT goes live all the same, the\n"
	"            reason and the items missing recorded in its events\n"
	"deactivate  the property ends the connection: no more data flows\n"
	"stop        the partner stopped serving a live connection\n"
	"\n"
	"The partner is told: add (requested), activate, deactivate, stop and a\n"
	"withdrawn consent each e-mail the partner once (its connection's address,\n"
	"else partners.PARTNER.email of the main file), naming the property, the\n"
	"hotel id and the change, through alerting.smtp_url. A mail that cannot go\n"
	"leaves the change made, a warning, and the notice waiting in the activity\n"
	"log: the next connection command or run of the partner's job sends it.\n"
	"\n"
	"A secret (access key, API token) is 8 to 8192 printable ASCII characters\n"
	"(0x21-0x7E: no spaces); see guestflow(1).\n"
	"A property id and a hotel id are valid UTF-8 without control characters or\n"
	"bidi controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), and\n"
	"not only spaces. What is shown from the database is escaped as in the logs.\n"
	"Secrets are stored encrypted with the key in secrets.key_file (created on\n"
	"first use). Exit 65 when a value is refused, 78 when the key file is missing\n"
	"or wrong.\n";

/* A secret read from standard input, in memory of our own: every copy of
 * it is wiped before it is freed (secret_free()). */
struct secret {
	char *s;
	size_t len, cap;
};

/* The most read for one: a guard against an input that never ends (a file
 * given by mistake, /dev/zero), not a partner's rule; no contract states a
 * length, and no partner issues a secret anywhere near it. */
#define SECRET_READ_MAX (1u << 20)

static void secret_free(struct secret *k)
{
	if (k->s) {
		explicit_bzero(k->s, k->cap);
		free(k->s);
	}
	*k = (struct secret){ 0 };
}

static void secret_push(struct secret *k, char c)
{
	if (k->len + 1 >= k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 256;
		char *n = gf_xcalloc(1, cap);
		if (k->s) {
			memcpy(n, k->s, k->len);
			explicit_bzero(k->s, k->cap);
			free(k->s);
		}
		k->s = n;
		k->cap = cap;
	}
	k->s[k->len++] = c;
	k->s[k->len] = '\0';
}

/* Read a secret (label: "access key", "API token") from stdin: one line
 * (CR LF or LF), without echo on a terminal. 0 and the secret in k;
 * -ENODATA when there is none; -E2BIG when the line is longer than
 * SECRET_READ_MAX (nothing more of it is read). The rule it must meet is
 * checked by the caller. */
static int read_secret(const char *label, struct secret *k)
{
	bool tty = isatty(STDIN_FILENO);
	struct termios old, quiet;
	if (tty) {
		fprintf(stderr, "%c%s: ", toupper((unsigned char)label[0]), label + 1);
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		} else {
			tty = false;
		}
	}
	bool too_long = false, any = false;
	int c;
	/* Unbuffered, so that no copy of the secret is left in stdio's buffer
	 * (a secret is one short line: a read per byte costs nothing). */
	setvbuf(stdin, NULL, _IONBF, 0);
	while (!too_long && (c = getchar()) != EOF && c != '\n') {
		any = true;
		if (k->len <= SECRET_READ_MAX)  /* (and a CR before the LF) */
			secret_push(k, (char)c);
		else
			too_long = true;
	}
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (k->len && k->s[k->len - 1] == '\r')
		k->s[--k->len] = '\0';
	if (too_long)
		return -E2BIG;
	return any || k->len ? 0 : -ENODATA;
}

/* The secret from stdin, checked by the output's rule (out NULL: no job
 * sends to the partner yet, so the rule every output's starts with): 0,
 * or an exit code after saying why (k wiped). */
static int read_secret_checked(const char *verb, const struct gf_output *out, struct secret *k)
{
	const char *label = out ? out->secret_label : "secret";
	int r = read_secret(label, k);
	if (r == -ENODATA || (r == 0 && k->len == 0)) {
		secret_free(k);
		fprintf(stderr, "guestflow connection %s: no %s on standard input (one line)\n", verb, label);
		return GF_EXIT_DATAERR;
	}
	if (r == -E2BIG) {
		secret_free(k);
		fprintf(stderr, "guestflow connection %s: %s refused: a line of more than %u bytes is not one\n", verb,
		        label, SECRET_READ_MAX);
		return GF_EXIT_DATAERR;
	}
	char why[256];
	if ((out ? out->check_secret(k->s, k->len, why, sizeof(why))
	         : gf_output_check_secret_text(k->s, k->len, why, sizeof(why))) < 0) {
		secret_free(k);
		fprintf(stderr, "guestflow connection %s: %s refused: %s\n", verb, label, why);
		return GF_EXIT_DATAERR;
	}
	return 0;
}

static int with_db(const struct gf_cmd_ctx *ctx, PGconn **db)
{
	struct gf_config *cfg = NULL;
	int r = gf_cmd_open_current(ctx, &cfg, db);
	gf_config_free(cfg);
	return r;
}

/* Mail the untold notices of the connection (gf_notify_partners) after
 * its change is committed; what happened said once the change is. Never
 * an error: the change is made whatever the mail does. */
static void tell_partner(PGconn *db, const struct gf_config *cfg, const char *property, const char *partner,
                         struct gf_notice_tally *t)
{
	int r = gf_notify_partners(db, cfg, partner, property, t);
	if (r < 0 && !t->failed) {
		t->failed = 1;
		snprintf(t->why, sizeof(t->why), "database error: %s", gf_strerror(r));
	}
}

static void report_told(const char *verb, const struct gf_notice_tally *t)
{
	if (t->sent)
		printf("the partner was told by e-mail\n");
	if (t->waiting)
		fprintf(stderr, "guestflow connection %s: the partner is not told yet: alerting.smtp_url is not set in"
		        " the main file; the notice waits in the activity log ('connection show')\n", verb);
	if (t->failed)
		fprintf(stderr, "guestflow connection %s: warning: the partner could not be told (%s); the change is"
		        " made, and the notice waits in the activity log ('connection show') for the next connection"
		        " command or run of the partner's job\n", verb, gf_log_qt(t->why));
}

/* The database with the key for the stored access keys: 0, or an exit code. */
static int with_secrets(const struct gf_cmd_ctx *ctx, const char *verb, PGconn **db)
{
	struct gf_config *cfg = NULL;
	int r = gf_cmd_open_current(ctx, &cfg, db);
	if (r)
		return r;
	r = gf_cmd_open_secrets(cfg, *db, verb);
	gf_config_free(cfg);
	if (r) {
		PQfinish(*db);
		*db = NULL;
	}
	return r;
}

/* The output of the jobs that send to partner (NULL: no job names it yet);
 * -1 when two of them name different formats. */
static int partner_output(const struct gf_config *cfg, const char *partner, const struct gf_output **out,
                          const struct gf_job **by)
{
	*out = NULL;
	*by = NULL;
	for (size_t i = 0; i < cfg->n_jobs; i++) {
		const struct gf_job *j = cfg->jobs[i];
		if (strcmp(j->partner, partner) != 0)
			continue;
		if (*out && *out != j->output) {
			fprintf(stderr, "guestflow connection add: partner %s is sent two formats, %s by job %s and %s by"
			        " job %s; a connection holds the credentials of one: give the partner's jobs one format\n",
			        partner, (*out)->name, (*by)->name, j->output->name, j->name);
			return -1;
		}
		*out = j->output;
		*by = j;
	}
	return 0;
}

static int cmd_add(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	const char *id = NULL, *opt = NULL, *email = NULL;
	const char *pos[2];
	int npos = 0;
	static const char *const opts[] = { "--hotel-id", "--property-id" };
	for (int i = 2; i < argc; i++) {
		bool taken = false;
		if (strcmp(argv[i], "--partner-email") == 0 && i + 1 < argc && !email) {
			email = argv[++i];
			continue;
		}
		if (strncmp(argv[i], "--partner-email=", 16) == 0 && !email) {
			email = argv[i] + 16;
			continue;
		}
		for (size_t o = 0; o < 2 && !taken; o++) {
			size_t l = strlen(opts[o]);
			if (strcmp(argv[i], opts[o]) == 0 && i + 1 < argc && !id) {
				id = argv[++i];
				opt = opts[o];
				taken = true;
			} else if (strncmp(argv[i], opts[o], l) == 0 && argv[i][l] == '=' && !id) {
				id = argv[i] + l + 1;
				opt = opts[o];
				taken = true;
			}
		}
		if (taken)
			continue;
		if (argv[i][0] == '-' || npos == 2) {
			fprintf(stderr, "guestflow connection add: unexpected argument '%s'\n%s", argv[i], help);
			return GF_EXIT_USAGE;
		}
		pos[npos++] = argv[i];
	}
	if (npos != 2 || !id) {
		fprintf(stderr, "guestflow connection add: needs PROPERTY PARTNER and --hotel-id ID or --property-id ID"
		        " (as the partner's format names it)\n");
		return GF_EXIT_USAGE;
	}
	char why[512];
	if (gf_connection_check_property(pos[0], why, sizeof(why)) < 0) {
		/* not quoted back: it may hold the very characters refused */
		fprintf(stderr, "guestflow connection add: PROPERTY refused: %s\n", why);
		return GF_EXIT_DATAERR;
	}
	for (const char *p = pos[1]; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')) {
			fprintf(stderr, "guestflow connection add: partner %s may hold only a-z, 0-9, '-' and '_'\n",
			        gf_log_qt(pos[1]));
			return GF_EXIT_DATAERR;
		}
	if (email && gf_check_email(email, why, sizeof(why)) < 0) {
		fprintf(stderr, "guestflow connection add: --partner-email refused: %s\n", why);
		return GF_EXIT_DATAERR;
	}
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	int r = gf_cmd_open_current(ctx, &cfg, &db);
	if (r)
		return r;
	/* The credentials a connection takes are its partner's format's. */
	const struct gf_output *out;
	const struct gf_job *by;
	if (partner_output(cfg, pos[1], &out, &by) < 0) {
		r = GF_EXIT_CONFIG;
	} else if (out && strcmp(opt, out->id_option) != 0) {
		fprintf(stderr, "guestflow connection add: partner %s is sent %s (job %s), whose connections take"
		        " %s ID%s%s%s, not %s\n", pos[1], out->name, by->name, out->id_option,
		        out->secret_label ? " and the " : "", out->secret_label ? out->secret_label : "",
		        out->secret_label ? " on standard input" : "", opt);
		r = GF_EXIT_USAGE;
	} else if (gf_connection_check_id_at_partner(id, why, sizeof(why)) < 0 ||
	           (out && out->check_id(id, why, sizeof(why)) < 0)) {
		/* not quoted back: it may hold the very characters refused */
		fprintf(stderr, "guestflow connection add: %s refused: %s\n", opt, why);
		r = GF_EXIT_DATAERR;
	}
	struct secret key = { 0 };
	/* A format whose connections have no secret (the job holds the
	 * account): nothing is read from standard input. */
	bool secret = !out || out->secret_label;
	r = r || !secret ? r : read_secret_checked("add", out, &key);
	r = r || !secret ? r : gf_cmd_open_secrets(cfg, db, "add");
	if (r) {
		gf_config_free(cfg);
		secret_free(&key);
		PQfinish(db);
		return r;
	}
	r = gf_connection_add(db, pos[0], pos[1], id, secret ? key.s : NULL, email,
	                      gf_config_partner_email(cfg, pos[1]));
	secret_free(&key);
	if (secret)
		gf_secret_close();
	struct gf_notice_tally told = { 0 };
	if (r == 0)
		tell_partner(db, cfg, pos[0], pos[1], &told);
	gf_config_free(cfg);
	PQfinish(db);
	if (r == -EEXIST) {
		fprintf(stderr, "guestflow connection add: %s already has a connection to %s\n", pos[0], pos[1]);
		return GF_EXIT_DATAERR;
	}
	if (r < 0)
		return gf_cmd_db_error(r);
	printf("connection %s -> %s added (status setup); make it live with: guestflow connection activate %s %s\n",
	       pos[0], pos[1], pos[0], pos[1]);
	report_told("add", &told);
	return 0;
}

static int cmd_set_key(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (argc != 4 || argv[2][0] == '-' || argv[3][0] == '-') {
		fprintf(stderr, "guestflow connection %s: needs PROPERTY PARTNER (the secret on standard input)\n",
		        argv[1]);
		return GF_EXIT_USAGE;
	}
	/* (a format whose connections have no secret takes none) */
	struct gf_config *cfg = NULL;
	PGconn *db0 = NULL;
	int r = gf_cmd_open_current(ctx, &cfg, &db0);
	if (r)
		return r;
	PQfinish(db0);
	const struct gf_output *out;
	const struct gf_job *by;
	r = partner_output(cfg, argv[3], &out, &by) < 0 ? GF_EXIT_CONFIG : 0;
	if (r == 0 && out && !out->secret_label) {
		fprintf(stderr, "guestflow connection %s: partner %s is sent %s (job %s), whose"
		        " connections hold no secret: the job holds the account (its sftp section)\n",
		        argv[1], gf_log_qt(argv[3]), out->name, by->name);
		r = GF_EXIT_USAGE;
	}
	/* (no job sends to the partner yet: its connections' secret is
	 * named as review-xml's was before there were others) */
	const char *what = out ? out->secret_label : "access key";
	struct secret key = { 0 };
	r = r ? r : read_secret_checked(argv[1], out, &key);
	gf_config_free(cfg);
	if (r)
		return r;
	PGconn *db = NULL;
	r = with_secrets(ctx, argv[1], &db);
	if (r) {
		secret_free(&key);
		return r;
	}
	r = gf_connection_set_secret(db, argv[2], argv[3], key.s, what);
	secret_free(&key);
	PQfinish(db);
	gf_secret_close();
	if (r == -ENOENT) {
		fprintf(stderr, "guestflow connection %s: no connection %s -> %s\n", argv[1], gf_log_qt(argv[2]),
		        gf_log_qt(argv[3]));
		return GF_EXIT_DATAERR;
	}
	if (r < 0)
		return gf_cmd_db_error(r);
	printf("connection %s -> %s: %s replaced (stored encrypted); the next run uses it\n", gf_log_qt(argv[2]),
	       gf_log_qt(argv[3]), what);
	return 0;
}

/* What an operator does about a verdict. */
static void advice(enum gf_test_verdict v, const struct gf_job *job, const char *property, const char *partner)
{
	const struct gf_output *o = job->output;
	switch (v) {
	case GF_TEST_OK:
		return;
	case GF_TEST_CREDENTIALS:
		if (o->secret_label)
			printf("; check the %s with the partner and set it with 'guestflow connection set-credentials %s"
			       " %s'", o->secret_label, gf_log_qt(property), gf_log_qt(partner));
		else
			printf("; check job %s's sftp section (user, private_key_file or password_file) with the partner",
			       job->name);
		return;
	case GF_TEST_UNKNOWN_ID:
		printf("; check the %s with the partner (a wrong one: 'connection add' the right one), and job %s's"
		       " endpoint (a wrong address is refused the same way)", o->id_label, job->name);
		return;
	case GF_TEST_PEER_REFUSED:
		printf("; not connected: check the partner's %s with the partner before trusting it (job %s's %s)",
		       strcmp(o->scheme, "sftp") == 0 ? "SSH host key" : "TLS certificate", job->name,
		       strcmp(o->scheme, "sftp") == 0 ? "sftp.known_hosts_file" : "http.ca_file, or the system's CA store");
		return;
	case GF_TEST_UNREACHABLE:
		printf("; check job %s's endpoint, DNS, the firewall and the proxy, or ask the partner whether it is down",
		       job->name);
		return;
	case GF_TEST_UNEXPECTED:
		printf("; check job %s's endpoint (the partner's address for %s), and send the partner this line",
		       job->name, o->name);
		return;
	}
}

/* connection test PROPERTY PARTNER [--job NAME]: the test call of every
 * job that sends to the partner (or of the one named), with the stored
 * credentials; one verdict line each, recorded on the connection. */
static int cmd_test(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	const char *only = NULL;
	if (argc == 6 && strcmp(argv[4], "--job") == 0)
		only = argv[5];
	else if (argc == 5 && strncmp(argv[4], "--job=", 6) == 0)
		only = argv[4] + 6;
	if (only && !*only) {
		fprintf(stderr, "guestflow connection test: --job needs a job name\n");
		return GF_EXIT_USAGE;
	}
	if ((argc != 4 && !only) || argv[2][0] == '-' || argv[3][0] == '-') {
		fprintf(stderr, "guestflow connection test: needs PROPERTY PARTNER [--job NAME]\n");
		return GF_EXIT_USAGE;
	}
	const char *property = argv[2], *partner = argv[3];
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	_cleanup_pgresult_ PGresult *c = NULL;
	int r = gf_cmd_open_current(ctx, &cfg, &db);
	if (r)
		return r;
	size_t n_jobs = 0;
	for (size_t i = 0; i < cfg->n_jobs; i++)
		n_jobs += strcmp(cfg->jobs[i]->partner, partner) == 0 && (!only || strcmp(cfg->jobs[i]->name, only) == 0);
	if (n_jobs == 0) {
		if (only)
			fprintf(stderr, "guestflow connection test: no job %s sends to partner %s\n", gf_log_qt(only),
			        gf_log_qt(partner));
		else
			fprintf(stderr, "guestflow connection test: no job sends to partner %s: a connection is tested"
			        " through its job's endpoint and format\n", gf_log_qt(partner));
		r = GF_EXIT_CONFIG;
		goto out;
	}
	if ((r = gf_cmd_open_secrets(cfg, db, "connection test")))
		goto out;
	int err;
	c = gf_db_query(db, &err, "conntest_connection",
		"SELECT id, id_at_partner, encode(secret_enc, 'hex') FROM guestflow.connections"
		" WHERE property_id = $1 AND partner = $2", 2, (const char *[]){ property, partner });
	if (!c) {
		r = gf_cmd_db_error(err);
		goto out;
	}
	if (PQntuples(c) == 0) {
		fprintf(stderr, "guestflow connection test: no connection %s -> %s\n", gf_log_qt(property),
		        gf_log_qt(partner));
		r = GF_EXIT_DATAERR;
		goto out;
	}
	int64_t id = gf_db_get_int(c, 0, 0);
	char *secret = NULL;
	if (!PQgetisnull(c, 0, 2) && gf_secret_unseal(id, gf_db_get(c, 0, 2), &secret) < 0) {
		fprintf(stderr, "guestflow connection test: the stored secret of %s -> %s cannot be decrypted (see the"
		        " log line above): set it again with 'connection set-credentials'\n", gf_log_qt(property),
		        gf_log_qt(partner));
		r = GF_EXIT_CONFIG;
		goto out;
	}
	struct gf_output_target t = { .partner_id = gf_db_get(c, 0, 1), .secret = secret };
	struct gf_conntest worst = { .verdict = GF_TEST_OK };
	bool any = false;
	/* the jobs whose test passed: their auth_failed alerts clear */
	const char **ok_jobs = gf_xcalloc(cfg->n_jobs + 1, sizeof(*ok_jobs));
	size_t n_ok = 0;
	for (size_t i = 0; i < cfg->n_jobs && r == 0; i++) {
		const struct gf_job *job = cfg->jobs[i];
		if (strcmp(job->partner, partner) != 0 || (only && strcmp(job->name, only) != 0))
			continue;
		if (!secret && job->output->secret_label) {
			printf("connection test %s -> %s (job %s, %s): credentials_refused: no %s is stored",
			       gf_log_qt(property), gf_log_qt(partner), job->name, job->output->name,
			       job->output->secret_label);
			advice(GF_TEST_CREDENTIALS, job, property, partner);
			printf("\n");
			worst = (struct gf_conntest){ .verdict = GF_TEST_CREDENTIALS };
			snprintf(worst.why, sizeof(worst.why), "no %s stored", job->output->secret_label);
			any = true;
			continue;
		}
		struct gf_conntest res;
		char why[128];
		if (job->output->check_id(t.partner_id, why, sizeof(why)) < 0) {
			res = (struct gf_conntest){ .verdict = GF_TEST_UNKNOWN_ID };
			snprintf(res.why, sizeof(res.why), "the %s cannot be sent as %s takes it: %s", job->output->id_label,
			         job->output->name, why);
		} else if (gf_conntest_run(job, &t, &res) < 0) {
			fprintf(stderr, "guestflow connection test: could not start the test call of job %s\n", job->name);
			r = GF_EXIT_SOFTWARE;
			break;
		}
		printf("connection test %s -> %s (job %s, %s, %s %s): %s", gf_log_qt(property), gf_log_qt(partner),
		       job->name, job->output->name, job->output->id_label, gf_log_qt(t.partner_id),
		       gf_conntest_name(res.verdict));
		if (res.verdict == GF_TEST_OK) {
			printf(" in %lld ms", (long long)res.latency_ms);
			ok_jobs[n_ok++] = job->name;
		}
		printf(": %s", res.why);
		advice(res.verdict, job, property, partner);
		printf("\n");
		if (!any || res.verdict > worst.verdict) {
			worst = res;
			if (n_jobs > 1) /* (which job the recorded verdict is of) */
				gf_set_why(worst.why, sizeof(worst.why), "job %s: %s", job->name, res.why);
		}
		any = true;
	}
	if (secret) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	fflush(stdout);
	if (r == 0 && any) {
		int rr = gf_conntest_record(db, id, PQgetisnull(c, 0, 2) ? NULL : PQgetvalue(c, 0, 2), &worst, ok_jobs,
		                            n_ok);
		if (rr == -ESTALE || rr == -ENOENT) {
			fprintf(stderr, "guestflow connection test: %s -> %s %s while the test ran: its result is not"
			        " recorded; test again\n", gf_log_qt(property), gf_log_qt(partner),
			        rr == -ENOENT ? "was removed" : "had its secret replaced");
			r = GF_EXIT_TEMPFAIL;
		} else if (rr < 0) {
			r = gf_cmd_db_error(rr);
		} else {
			r = gf_conntest_exit_code(worst.verdict);
		}
	}
	free(ok_jobs);
out:
	gf_secret_close();
	gf_config_free(cfg);
	PQfinish(db);
	return r;
}

static int cmd_rekey(int argc, const struct gf_cmd_ctx *ctx)
{
	if (argc != 2) {
		fputs(help, stderr);
		return GF_EXIT_USAGE;
	}
	PGconn *db = NULL;
	int r = with_secrets(ctx, "rekey", &db);
	if (r)
		return r;
	struct gf_secret_error err = { { 0 } };
	int64_t n = 0;
	r = gf_secret_rekey(db, &n, &err);
	PQfinish(db);
	if (r < 0) {
		gf_secret_close();
		fprintf(stderr, "guestflow connection rekey: %s\n", err.text[0] ? err.text : gf_strerror(r));
		return r == -GF_E_CONFIG ? GF_EXIT_CONFIG : r == -GF_E_DATA ? GF_EXIT_DATAERR : gf_cmd_db_error(r);
	}
	printf("rekeyed: %lld secret%s re-encrypted under key %d in %s; the previous key is in %s.old"
	       " (keep it as long as you keep database backups from before now); copy %s to every other"
	       " host that runs guestflow against this database\n",
	       (long long)n, n == 1 ? "" : "s", gf_secret_key_id(), gf_secret_source(), gf_secret_source(),
	       gf_secret_source());
	gf_secret_close();
	return 0;
}

/* A value of an option that is shown in the connection's events: text
 * (valid UTF-8, no control or bidi characters), not only spaces. */
static int check_text_option(const char *verb, const char *opt, const char *v)
{
	char why[512];
	if (gf_connection_check_text(v, why, sizeof(why)) < 0) {
		fprintf(stderr, "guestflow connection %s: %s refused: %s\n", verb, opt, why);
		return GF_EXIT_DATAERR;
	}
	return 0;
}

static int cmd_consent(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	const char *by = NULL, *version = NULL, *pos[2];
	bool withdraw = false;
	int npos = 0;
	for (int i = 2; i < argc; i++) {
		/* (a value that starts with '-' is an option forgotten its value) */
		if (strcmp(argv[i], "--by") == 0 && i + 1 < argc && !by && argv[i + 1][0] != '-')
			by = argv[++i];
		else if (strcmp(argv[i], "--terms-version") == 0 && i + 1 < argc && !version && argv[i + 1][0] != '-')
			version = argv[++i];
		else if (strcmp(argv[i], "--withdraw") == 0)
			withdraw = true;
		else if (argv[i][0] != '-' && npos < 2)
			pos[npos++] = argv[i];
		else {
			fprintf(stderr, "guestflow connection consent: unexpected argument '%s'\n%s", argv[i], help);
			return GF_EXIT_USAGE;
		}
	}
	if (npos != 2 || !by || withdraw == (version != NULL)) {
		fprintf(stderr, "guestflow connection consent: needs PROPERTY PARTNER --by NAME and either"
		        " --terms-version V or --withdraw\n");
		return GF_EXIT_USAGE;
	}
	int r = check_text_option("consent", "--by", by);
	if (!r && version)
		r = check_text_option("consent", "--terms-version", version);
	if (r)
		return r;
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	if ((r = gf_cmd_open_current(ctx, &cfg, &db)))
		return r;
	size_t n;
	const char **jobs = gf_config_partner_jobs(cfg, pos[1], &n);
	bool already = false;
	r = withdraw ? gf_connection_consent_withdraw(db, pos[0], pos[1], by, jobs, n,
	                                              gf_config_partner_email(cfg, pos[1]))
	             : gf_connection_consent(db, pos[0], pos[1], by, version, &already);
	free(jobs);
	struct gf_notice_tally told = { 0 };
	if (r >= 0 && withdraw)
		tell_partner(db, cfg, pos[0], pos[1], &told);
	gf_config_free(cfg);
	PQfinish(db);
	if (r == -ENOENT) {
		fprintf(stderr, "guestflow connection consent: no connection %s -> %s\n", gf_log_qt(pos[0]),
		        gf_log_qt(pos[1]));
		return GF_EXIT_DATAERR;
	}
	if (r < 0)
		return gf_cmd_db_error(r);
	if (withdraw)
		printf("connection %s -> %s: consent %swithdrawn by %s; the connection is deactivated\n",
		       gf_log_qt(pos[0]), gf_log_qt(pos[1]), r == 1 ? "(none was in force) " : "", gf_log_qt(by));
	else if (already)
		printf("connection %s -> %s: terms %s are already the consent in force; nothing changed\n",
		       gf_log_qt(pos[0]), gf_log_qt(pos[1]), gf_log_qt(version));
	else
		printf("connection %s -> %s: terms %s accepted by %s, recorded\n", gf_log_qt(pos[0]),
		       gf_log_qt(pos[1]), gf_log_qt(version), gf_log_qt(by));
	report_told("consent", &told);
	return 0;
}

static int cmd_activate(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	const char *reason = NULL, *pos[2];
	bool force = false;
	int npos = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0)
			force = true;
		else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc && !reason && argv[i + 1][0] != '-')
			reason = argv[++i];
		else if (argv[i][0] != '-' && npos < 2)
			pos[npos++] = argv[i];
		else {
			fprintf(stderr, "guestflow connection activate: unexpected argument '%s'\n%s", argv[i], help);
			return GF_EXIT_USAGE;
		}
	}
	if (npos != 2 || force != (reason != NULL)) {
		fprintf(stderr, "guestflow connection activate: needs PROPERTY PARTNER, and --force only with"
		        " --reason TEXT (recorded in the connection's events)\n");
		return GF_EXIT_USAGE;
	}
	int r = reason ? check_text_option("activate", "--reason", reason) : 0;
	if (r)
		return r;
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	if ((r = gf_cmd_open_current(ctx, &cfg, &db)))
		return r;
	/* the jobs whose contacts cover the partner's connections */
	size_t n;
	const char **jobs = gf_config_partner_jobs(cfg, pos[1], &n);
	_cleanup_buf_ struct gf_buf missing = GF_BUF_INIT(SIZE_MAX);
	r = gf_connection_activate(db, pos[0], pos[1], jobs, n, reason, gf_config_partner_email(cfg, pos[1]),
	                           &missing);
	free(jobs);
	struct gf_notice_tally told = { 0 };
	if (r >= 0)
		tell_partner(db, cfg, pos[0], pos[1], &told);
	gf_config_free(cfg);
	PQfinish(db);
	if (r == -ENOENT) {
		fprintf(stderr, "guestflow connection activate: no connection %s -> %s\n", gf_log_qt(pos[0]),
		        gf_log_qt(pos[1]));
		return GF_EXIT_DATAERR;
	}
	if (r == -EACCES) {
		fprintf(stderr, "guestflow connection activate: %s -> %s cannot go live yet:\n", gf_log_qt(pos[0]),
		        gf_log_qt(pos[1]));
		for (const char *l = gf_buf_str(&missing); *l;) {
			const char *e = strchr(l, '\n');
			size_t len = e ? (size_t)(e - l) : strlen(l);
			fprintf(stderr, "  - %.*s\n", (int)len, l);
			l += len + (e ? 1 : 0);
		}
		fprintf(stderr, "(or, knowing why, --force --reason TEXT)\n");
		return GF_EXIT_DATAERR;
	}
	if (r < 0)
		return gf_cmd_db_error(r);
	if (r == 1)
		printf("connection %s -> %s is live already; nothing changed%s\n", gf_log_qt(pos[0]), gf_log_qt(pos[1]),
		       reason ? " and the reason not recorded" : "");
	else if (missing.len)
		printf("connection %s -> %s is now live, forced past: %s", gf_log_qt(pos[0]), gf_log_qt(pos[1]),
		       gf_buf_str(&missing));
	else
		printf("connection %s -> %s is now live\n", gf_log_qt(pos[0]), gf_log_qt(pos[1]));
	report_told("activate", &told);
	return 0;
}

/* connection set-partner-email PROPERTY PARTNER (ADDR | --clear) */
static int cmd_set_partner_email(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	bool clear = argc == 5 && strcmp(argv[4], "--clear") == 0;
	if (argc != 5 || argv[2][0] == '-' || argv[3][0] == '-' || (argv[4][0] == '-' && !clear)) {
		fprintf(stderr, "guestflow connection set-partner-email: needs PROPERTY PARTNER and ADDR or --clear\n");
		return GF_EXIT_USAGE;
	}
	const char *email = clear ? NULL : argv[4];
	char why[256];
	if (email && gf_check_email(email, why, sizeof(why)) < 0) {
		fprintf(stderr, "guestflow connection set-partner-email: ADDR refused: %s\n", why);
		return GF_EXIT_DATAERR;
	}
	PGconn *db = NULL;
	struct gf_config *cfg = NULL;
	int r = gf_cmd_open_current(ctx, &cfg, &db);
	if (r)
		return r;
	bool same = false;
	int repointed = 0;
	_cleanup_free_ char *config_addr = gf_config_partner_email(cfg, argv[3]) ?
		gf_xstrdup(gf_config_partner_email(cfg, argv[3])) : NULL;
	r = gf_connection_set_partner_email(db, argv[2], argv[3], email, config_addr, &same, &repointed);
	struct gf_notice_tally told = { 0 };
	if (r == 0 && repointed > 0)
		tell_partner(db, cfg, argv[2], argv[3], &told);
	PQfinish(db);
	gf_config_free(cfg);
	if (r == -ENOENT) {
		fprintf(stderr, "guestflow connection set-partner-email: no connection %s -> %s\n", gf_log_qt(argv[2]),
		        gf_log_qt(argv[3]));
		return GF_EXIT_DATAERR;
	}
	if (r < 0)
		return gf_cmd_db_error(r);
	if (same)
		printf("connection %s -> %s: the partner's address is that already; nothing changed\n",
		       gf_log_qt(argv[2]), gf_log_qt(argv[3]));
	else if (email)
		printf("connection %s -> %s: the partner hears of its changes at %s\n", gf_log_qt(argv[2]),
		       gf_log_qt(argv[3]), email);
	else if (config_addr)
		printf("connection %s -> %s: its own partner address removed; partners.%s.email of the main file"
		       " (%s) applies\n", gf_log_qt(argv[2]), gf_log_qt(argv[3]), gf_log_qt(argv[3]), config_addr);
	else
		printf("connection %s -> %s: its own partner address removed, and the main file has no"
		       " partners.%s.email: the partner is not told of later changes (the ones not told yet keep"
		       " their address)\n", gf_log_qt(argv[2]), gf_log_qt(argv[3]), gf_log_qt(argv[3]));
	if (repointed > 0) {
		printf("%d change%s the partner was not told of yet go%s to the new address\n", repointed,
		       repointed == 1 ? "" : "s", repointed == 1 ? "es" : "");
		report_told("set-partner-email", &told);
	}
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
	if (strcmp(sub, "set-credentials") == 0 || strcmp(sub, "set-key") == 0)
		return cmd_set_key(argc, argv, ctx);
	if (strcmp(sub, "rekey") == 0)
		return cmd_rekey(argc, ctx);
	if (strcmp(sub, "test") == 0)
		return cmd_test(argc, argv, ctx);
	if (strcmp(sub, "consent") == 0)
		return cmd_consent(argc, argv, ctx);
	if (strcmp(sub, "activate") == 0)
		return cmd_activate(argc, argv, ctx);
	if (strcmp(sub, "set-partner-email") == 0)
		return cmd_set_partner_email(argc, argv, ctx);
	PGconn *db = NULL;
	int r;
	bool show = strcmp(sub, "show") == 0, json = false;
	if (show || strcmp(sub, "list") == 0) {
		/* --json anywhere after the verb; the other arguments in order */
		int n = 2;
		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--json") != 0)
				argv[n++] = argv[i];
			else if (gf_cmd_json_opt("connection", &json))
				return GF_EXIT_USAGE;
		}
		argc = n;
	}
	if (strcmp(sub, "list") == 0) {
		if (argc != 2) {
			fputs(help, stderr);
			return GF_EXIT_USAGE;
		}
		if ((r = with_db(ctx, &db)))
			return r;
		json_t *doc = json ? gf_json_doc() : NULL;
		r = gf_connection_list(db, doc, stdout);
		PQfinish(db);
		if (r < 0) {
			json_decref(doc);
			return gf_cmd_db_error(r);
		}
		return doc ? gf_cmd_print_json("connection list", doc) : 0;
	}
	static const struct { const char *verb, *status, *note; } moves[] = {
		{ "deactivate", "deactivated", "deactivated by the property" },
		{ "stop", "stopped", "stopped by the partner" },
	};
	int m = -1;
	for (size_t i = 0; i < GF_ARRAY_SIZE(moves); i++)
		if (strcmp(sub, moves[i].verb) == 0)
			m = (int)i;
	if ((!show && m < 0) || argc != 4) {
		fprintf(stderr, "guestflow connection: unknown or incomplete command\n%s", help);
		return GF_EXIT_USAGE;
	}
	struct gf_config *cfg = NULL;
	if ((r = gf_cmd_open_current(ctx, &cfg, &db)))
		return r;
	struct gf_notice_tally told = { 0 };
	json_t *doc = json ? gf_json_doc() : NULL;
	if (show) {
		/* named as the partner's format names them (a partner no job
		 * sends to yet: as review-xml, the first format) */
		const struct gf_output *out;
		const struct gf_job *by;
		if (partner_output(cfg, argv[3], &out, &by) < 0 || !out)
			out = NULL;
		r = gf_connection_show(db, argv[2], argv[3], out ? out->id_label : "hotel id",
		                       out ? out->secret_label : "access key", doc, stdout);
	} else {
		size_t n;
		const char **jobs = gf_config_partner_jobs(cfg, argv[3], &n);
		r = gf_connection_set_status(db, argv[2], argv[3], moves[m].status, moves[m].note, jobs, n,
		                             gf_config_partner_email(cfg, argv[3]));
		free(jobs);
		if (r >= 0)
			tell_partner(db, cfg, argv[2], argv[3], &told);
	}
	gf_config_free(cfg);
	PQfinish(db);
	if (r < 0)
		doc = gf_free_json(doc);
	if (r == -ENOENT) {
		fprintf(stderr, "guestflow connection %s: no connection %s -> %s\n", sub, gf_log_qt(argv[2]),
		        gf_log_qt(argv[3]));
		return GF_EXIT_DATAERR;
	}
	if (r == -EPERM) {
		fprintf(stderr, "guestflow connection %s: only a live connection can be stopped\n", sub);
		return GF_EXIT_DATAERR;
	}
	if (r < 0)
		return gf_cmd_db_error(r);
	if (!show) {
		printf("connection %s -> %s is now %s\n", gf_log_qt(argv[2]), gf_log_qt(argv[3]), moves[m].status);
		report_told(sub, &told);
	}
	return doc ? gf_cmd_print_json("connection show", doc) : 0;
}
