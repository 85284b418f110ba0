/* guestflow: moves guest data from a hotel PMS database to partner platforms. */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <libxml/parser.h>
#include <openssl/crypto.h>
#include <yaml.h>
#include <zlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "gf_config.h"
#include "base/log.h"

static const char usage[] =
	"Usage: guestflow [-c FILE] COMMAND [ARGS...]\n"
	"\n"
	"Moves guest data from a hotel PMS database (PostgreSQL) to partner platforms.\n"
	"\n"
	"Commands:\n"
	"  db migrate                     create or upgrade the guestflow schema\n"
	"  db rename-job OLD NEW [--force]\n"
	"                                 carry a renamed job's record (deliveries, runs...)\n"
	"                                 over to its new name\n"
	"  db forget-job JOB [--force]    delete the record of a job removed from the\n"
	"                                 configuration\n"
	"  check-config [--keys]          validate the main file and every job (--keys:\n"
	"                                 list every key of the files instead)\n"
	"  timers [--unit-dir DIR | --cron FILE]\n"
	"                                 write each job's schedule: into its systemd\n"
	"                                 timer drop-in (or the cron file)\n"
	"  run JOB [--dry-run [--json]] [--limit N]\n"
	"                                 run a job: plan, send in batches, write history\n"
	"  rerun JOB (--booking NO... | --from DATE --to DATE | --dead) [--force] [--no-run]\n"
	"                                 send bookings again by hand\n"
	"  explain BOOKING_NO [--job JOB] [--json]\n"
	"                                 why was this guest (not) sent?\n"
	"  status [JOB] [--json]          last run and queue per job and connection\n"
	"  log [--job J] [--connection P] [--since WHEN] [--errors] [--limit N] [--json]\n"
	"      | log --purge\n"
	"                                 the API-call log\n"
	"  purge [JOB]                    delete deliveries and partner events past the\n"
	"                                 job's retention.deliveries and retention.events\n"
	"  pull [JOB]                     the partners' events: history entries, suppression list\n"
	"  suppression list [EMAIL] [--json] | suppression remove EMAIL --reason TEXT [--force]\n"
	"                                 the addresses no job sends (bounced, unsubscribed),\n"
	"                                 and lifting one by hand\n"
	"  status-map set PARTNER PMS_STATUS PARTNER_STATUS\n"
	"  status-map list [PARTNER] | status-map remove PARTNER PMS_STATUS\n"
	"                                 what a PMS status is sent as (others than the\n"
	"                                 reference ones: not sent until mapped)\n"
	"  contact add EMAIL --role alert|technical|escalation [--job J] [--connection P PARTNER]\n"
	"  contact edit ID [--email E] [--role R] [--name N] [--hours H --time-zone Z | --no-hours]\n"
	"  contact list [--json] | contact remove ID\n"
	"                                 who hears about problems (and when)\n"
	"  connection add PROPERTY PARTNER --hotel-id ID | --property-id ID [--partner-email A]\n"
	"                                 (as the partner's format names it; the access key\n"
	"                                 or API token on stdin; visits-csv: none)\n"
	"  connection set-partner-email PROPERTY PARTNER ADDR | --clear\n"
	"                                 where the partner is told of the connection's\n"
	"                                 changes (else partners.PARTNER.email)\n"
	"  connection set-credentials PROPERTY PARTNER   replace that secret (on stdin)\n"
	"  connection test PROPERTY PARTNER [--job JOB]   the partner's test call with the\n"
	"                                 stored credentials: one verdict line, its exit code\n"
	"  connection rekey               rotate the key that encrypts the access keys\n"
	"  connection list [--json]       list connections (never the access key)\n"
	"  connection consent PROPERTY PARTNER --by NAME --terms-version V | --withdraw\n"
	"                                 who accepted which terms (withdrawn: deactivated)\n"
	"  connection activate PROPERTY PARTNER [--force --reason TEXT]\n"
	"                                 live, once consent, an alert and a technical\n"
	"                                 contact and a test in the last 24 h are there\n"
	"  connection show PROPERTY PARTNER [--json]\n"
	"  connection deactivate|stop PROPERTY PARTNER\n"
	"                                 (add, activate, deactivate, stop and a withdrawn\n"
	"                                 consent e-mail the partner once; show says when)\n"
	"\n"
	"Options:\n"
	"  -c, --config FILE   main configuration file (default: $GUESTFLOW_CONFIG,\n"
	"                      else " GF_SYSCONFDIR "/guestflow.yaml)\n"
	"  -h, --help          show this help (COMMAND --help: that command's)\n"
	"      --version       print the version and those of the libraries it runs with\n"
	"\n"
	"The --json documents: guestflow(1), JSON OUTPUT.\n"
	"\n"
	"Exit codes (guestflow(1), EXIT STATUS): 0 done (run: all due delivered, or\n"
	"waiting for a stopped connection); 1 run: some records rejected or dead,\n"
	"pending deliveries of a live connection, or a connection held; 64 usage\n"
	"error; 65 bad input; 69 no partner reachable; 70 internal error; 74 the\n"
	"output not written (standard output, a --json document); 75 cut short\n"
	"(signal, database lost), retry later; 78 configuration error.\n";

static const struct {
	const char *verb;
	int (*fn)(int, char **, const struct gf_cmd_ctx *);
} verbs[] = {
	{ "db", gf_cmd_db },
	{ "check-config", gf_cmd_check_config },
	{ "run", gf_cmd_run },
	{ "connection", gf_cmd_connection },
	{ "pull", gf_cmd_pull },
	{ "rerun", gf_cmd_rerun },
	{ "explain", gf_cmd_explain },
	{ "status", gf_cmd_status },
	{ "log", gf_cmd_log },
	{ "contact", gf_cmd_contact },
	{ "purge", gf_cmd_purge },
	{ "status-map", gf_cmd_status_map },
	{ "suppression", gf_cmd_suppression },
	{ "timers", gf_cmd_timers },
};

/* The libraries this process runs with (their versions as loaded, not as
 * built against): what a bug report needs. */
static void print_libraries(void)
{
	int pq = PQlibVersion();
	long xml = strtol(xmlParserVersion, NULL, 10);
	const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
	printf("libpq %d.%d\nlibcurl %s (%s)\nlibxml2 %ld.%ld.%ld\nlibyaml %s\nzlib %s\njansson %s\nlibcrypto %s\n",
	       pq / 10000, pq % 10000, curl->version, curl->ssl_version ? curl->ssl_version : "no TLS",
	       xml / 10000, xml / 100 % 100, xml % 100, yaml_get_version_string(), zlibVersion(),
	       jansson_version_str(), OpenSSL_version(OPENSSL_VERSION));
}

/* Standard output, as the commands print to it: stdio over descriptor 1
 * through a writer that keeps the error of a write that failed (glibc
 * drops a buffer it could not write, and a later flush with nothing left
 * succeeds: by the time the command ends, the error would be lost). */
static int stdout_fd = STDOUT_FILENO; /* -1: closed when guestflow started */
static int stdout_errno;

#ifdef __GLIBC__
static ssize_t stdout_write(void *cookie, const char *buf, size_t size)
{
	(void)cookie;
	size_t done = 0;
	while (done < size) {
		ssize_t w = stdout_fd < 0 ? (errno = EBADF, -1) : write(stdout_fd, buf + done, size - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			stdout_errno = w < 0 ? errno : EIO;
			break;
		}
		done += (size_t)w;
	}
	/* (short: stdio marks the stream's error) */
	return (ssize_t)done;
}

static int stdout_close(void *cookie)
{
	(void)cookie;
	if (stdout_fd < 0) {
		errno = EBADF;
		return -1;
	}
	return close(stdout_fd);
}
#endif

static void open_stdout(void)
{
	if (fcntl(STDOUT_FILENO, F_GETFD) < 0 && errno == EBADF) {
		/* Closed: what the command opens next (the database's socket)
		 * must not take its place and receive the output. */
		stdout_fd = -1;
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (fd >= 0 && fd != STDOUT_FILENO) {
			(void)dup2(fd, STDOUT_FILENO);
			if (fd > STDERR_FILENO)
				close(fd);
		}
	}
#ifdef __GLIBC__
	FILE *f = fopencookie(NULL, "w", (cookie_io_functions_t){ .write = stdout_write, .close = stdout_close });
	if (!f)
		return; /* (stdio's own stream: a failed write's error unnamed) */
	(void)setvbuf(f, NULL, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF, BUFSIZ);
	stdout = f;
#endif
}

/* Standard output once the command is done, as coreutils' close_stdout():
 * what the command printed reached the file or pipe (flushed, no write of
 * it failed, closed), or the command exits 74 (EXIT STATUS) saying why on
 * stderr. A command that failed keeps its own exit code (74: a --json
 * document, whose command said why already). A standard output closed
 * that the command wrote nothing to is no error. A reader gone kills a
 * command by SIGPIPE as before; where that is ignored (run, --json), it is
 * EPIPE here. */
static int close_stdout(const char *verb, int code)
{
	errno = 0;
	bool failed = fflush(stdout) != 0 || ferror(stdout);
	int err = stdout_errno ? stdout_errno : errno;
	errno = 0;
	if (fclose(stdout) != 0 && !failed && errno != EBADF) {
		failed = true;
		err = errno;
	}
	if (!failed)
		return code;
	if (code != GF_EXIT_IOERR)
		fprintf(stderr, "guestflow%s%s: cannot write standard output: %s\n", verb ? " " : "", verb ? verb : "",
		        gf_strerror(err ? err : EIO));
	return code == GF_EXIT_OK ? GF_EXIT_IOERR : code;
}

/* The command line: the command's exit code (*verb_out: the command, once
 * known). */
static int run_command(int argc, char **argv, const char **verb_out)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	/* Before anything reads a key: this process may hold partner access
	 * keys and the key that decrypts them, so it never leaves a core dump
	 * (with a core limit of 0, none even where fs.suid_dumpable would write
	 * one for root) and cannot be attached to or have its memory read
	 * through /proc by other processes of the same user. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
	/* Before anything opens a file or prints. */
	open_stdout();
	/* libcurl and OpenSSL write the TLS session secrets of every connection
	 * to the file SSLKEYLOGFILE names: whoever reads it and the traffic
	 * reads the access keys. Like a proxy, not something the environment
	 * decides; gone before anything starts TLS (curl_global_init). */
	const char *keylog = getenv("SSLKEYLOGFILE");
	if (keylog) {
		gf_warn("env_ignored", "name=SSLKEYLOGFILE value=%s msg=%s", gf_log_q(keylog),
		        gf_log_q("TLS session secrets are never written to a file: the variable is unset"));
		unsetenv("SSLKEYLOGFILE");
	}
	struct gf_cmd_ctx ctx = { 0 };
	int c;
	/* '+': stop at the first non-option, the command. */
	while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': ctx.config_path = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		case 'V':
			printf("guestflow %s\n", GF_VERSION);
#if GF_FAULT_INJECTION
			printf("test build: the GUESTFLOW_FAULT crash-test hook is compiled in (not for production)\n");
#endif
			print_libraries();
			return 0;
		default: fputs(usage, stderr); return GF_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return GF_EXIT_USAGE;
	}
#ifdef __GLIBC__
	/* A batch's large buffers (result set, XML, gzip body: a few hundred
	 * KiB at 500 records) are mapped and unmapped with the batch. glibc
	 * otherwise raises this threshold to the largest block freed and serves
	 * such blocks from the heap, which then stays at its high-water mark:
	 * the process grew with the size of the night (issue #5, flat memory). */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
#endif
	/* Once, before anything else touches libxml2. */
	xmlInitParser();
	const char *verb = *verb_out = argv[optind];
	for (size_t i = 0; i < GF_ARRAY_SIZE(verbs); i++)
		if (strcmp(verb, verbs[i].verb) == 0)
			return verbs[i].fn(argc - optind, argv + optind, &ctx);
	fprintf(stderr, "guestflow: unknown command '%s'\n\n%s", verb, usage);
	return GF_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	const char *verb = NULL;
	int code = run_command(argc, argv, &verb);
	return close_stdout(verb, code);
}
