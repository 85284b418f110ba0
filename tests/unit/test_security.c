/* Unit tests for the transport and secret helpers: libpq error redaction
 * (db.c), the SMTP TLS decision and credentials (notify.c), the transport
 * rules of every libcurl handle (http.c). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "db/db.h"
#include "transport/http.h"
#include "core/notify.h"
#include "tap.h"
#include "base/util.h"

static char tmpdir[] = "/tmp/gf-test-security-XXXXXX";

static const char *redact(PGconn *c, const char *conninfo, const char *msg)
{
	static char out[1024];
	gf_db_error_line(c, conninfo, msg, out, sizeof(out));
	return out;
}

static void test_db_redaction(void)
{
	/* Where libpq echoes a connection string. */
	is_str(redact(NULL, NULL, "invalid URI query parameter: \"postgresql://u:Pw9@h/db\""),
	       "invalid URI query parameter: \"postgresql://u:***@h/db\"", "URI user part");
	is_str(redact(NULL, NULL, "end of string in URI: \"postgres://u:P%40w@[::1/db\""),
	       "end of string in URI: \"postgres://u:***@[::1/db\"", "URI user part, percent-encoded");
	is_str(redact(NULL, NULL, "missing \"=\" in \"host=x password=Pw9 dbname=y\""),
	       "missing \"=\" in \"host=x password=*** dbname=y\"", "password= keyword");
	is_str(redact(NULL, NULL, "bad: host=x PASSWORD = 'P w\\'9' sslpassword=Q9&x=1"),
	       "bad: host=x PASSWORD = *** sslpassword=***&x=1", "quoted, upper case, sslpassword, query form");
	is_str(redact(NULL, NULL, "database \"x\" does not exist\nDETAIL: password=Pw9"),
	       "database \"x\" does not exist", "first line only, cut after redaction");
	is_str(redact(NULL, NULL, "password authentication failed for user \"gf\""),
	       "password authentication failed for user \"gf\"", "no value: left as it is");
	is_str(redact(NULL, NULL, "http://host/x and ://nothing@"), "http://host/x and ://nothing@",
	       "URLs without a password untouched");

	/* The values the connection string names, wherever they turn up. */
	is_str(redact(NULL, "host=h password=S3cret sslpassword=K3y", "got S3cret and K3y and S3cretS3cret"),
	       "got *** and *** and ******", "secret options of conninfo blanked everywhere");
	is_str(redact(NULL, "host=h password=***", "a *** and ****"), "a *** and ****",
	       "a password of '*' ends (the scan moves past each replacement)");
	is_str(redact(NULL, "host=h password=a", "a"), "***", "one-character password");
	is_str(redact(NULL, "not a conninfo", "left alone"), "left alone", "unreadable conninfo: patterns only");

	/* The values a connection holds, also from the environment. */
	setenv("PGPASSWORD", "Env-Pw9", 1);
	const char *keys[] = { "host", "dbname", "connect_timeout", NULL };
	const char *vals[] = { "/nonexistent-gf-socket-dir", "x", "1", NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 0);
	unsetenv("PGPASSWORD");
	ok(c && PQstatus(c) == CONNECTION_BAD, "connection to a missing socket fails");
	is_str(redact(c, NULL, "database nonexistent_Env-Pw9"), "database nonexistent_***",
	       "PGPASSWORD of the connection blanked");
	ok(strstr(redact(c, NULL, NULL), "nonexistent-gf-socket-dir") != NULL, "msg NULL: PQerrorMessage");
	PQfinish(c);

	char small[8];
	gf_db_error_line(NULL, NULL, "password=Pw9 and more", small, sizeof(small));
	is_str(small, "passwor", "cut to the buffer after redaction");
}

static void test_smtp_tls(void)
{
	static const struct { const char *url; int r; long use_ssl; } cases[] = {
		{ "smtp://127.0.0.1:25", 0, CURLUSESSL_TRY },
		{ "smtp://[::1]:2525", 0, CURLUSESSL_TRY },
		{ "smtp://LocalHost", 0, CURLUSESSL_TRY },
		{ "smtp://u@localhost:587", 0, CURLUSESSL_TRY },
		{ "smtp://127.0.0.2:25", 0, CURLUSESSL_ALL },
		{ "smtp://localhost.example", 0, CURLUSESSL_ALL },
		{ "smtp://mail.example:587", 0, CURLUSESSL_ALL },
		{ "smtp://10.0.0.1", 0, CURLUSESSL_ALL },
		{ "smtps://mail.example", 0, CURLUSESSL_ALL },
		{ "smtps://127.0.0.1", 0, CURLUSESSL_ALL },
		{ "http://mail.example", -EINVAL, 0 },
		{ "not a url", -EINVAL, 0 },
	};
	for (size_t i = 0; i < GF_ARRAY_SIZE(cases); i++) {
		long use_ssl = -1;
		int r = gf_smtp_tls(cases[i].url, &use_ssl);
		ok(r == cases[i].r && (r < 0 || use_ssl == cases[i].use_ssl), "smtp tls %s: %d %ld", cases[i].url, r,
		   use_ssl);
	}
}

static const char *write_file(const char *name, const char *text, mode_t mode)
{
	static char path[4][256];
	static unsigned slot;
	char *p = path[slot++ % 4];
	snprintf(p, sizeof(path[0]), "%s/%s", tmpdir, name);
	FILE *f = fopen(p, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		diag("cannot write %s", p);
		exit(2);
	}
	chmod(p, mode);
	return p;
}

static int creds(struct gf_config *cfg, char **user, char **pw, char *err)
{
	char *source = NULL;
	int r = gf_smtp_credentials(cfg, user, pw, &source, err, 512);
	free(source);
	return r;
}

static void test_smtp_credentials(void)
{
	struct gf_config cfg = { .smtp_url = "smtp://mail.example:587" };
	char *user = NULL, *pw = NULL, err[512] = "";

	unsetenv("CREDENTIALS_DIRECTORY");
	is_int(creds(&cfg, &user, &pw, err), 0, "no user, no password: no AUTH");
	ok(!user && !pw, "nothing returned");

	cfg.smtp_user = "gf";
	cfg.smtp_password_file = (char *)write_file("pw", "Pw 9\r\n", 0640);
	if (is_int(creds(&cfg, &user, &pw, err), 0, "user and password file")) {
		is_str(user, "gf", "user");
		is_str(pw, "Pw 9", "password without its line end");
	}
	free(user);
	free(pw);

	chmod(cfg.smtp_password_file, 0644);
	is_int(creds(&cfg, &user, &pw, err), -EACCES, "password file readable by others refused");
	ok(strstr(err, "is readable by others (mode 0644)") != NULL, "mode named: %s", err);
	write_file("pw", "a\nb\n", 0600);
	is_int(creds(&cfg, &user, &pw, err), -EINVAL, "two lines refused");
	write_file("pw", "\n", 0600);
	is_int(creds(&cfg, &user, &pw, err), -EINVAL, "empty password refused");
	unlink(cfg.smtp_password_file);
	ok(creds(&cfg, &user, &pw, err) < 0 && strstr(err, "cannot read the SMTP password file"),
	   "missing file: %s", err);

	/* The systemd credential, and the user from the URL. */
	cfg.smtp_password_file = NULL;
	is_int(creds(&cfg, &user, &pw, err), -EINVAL, "user without a password refused");
	ok(strstr(err, "SMTP user 'gf' but no password") != NULL, "%s", err);
	char *dir = gf_xasprintf("%s/creds", tmpdir);
	mkdir(dir, 0700);
	write_file("creds/smtp-password", "from-systemd", 0400);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	cfg.smtp_user = NULL;
	cfg.smtp_url = "smtp://alerts%40hotel@mail.example";
	if (is_int(creds(&cfg, &user, &pw, err), 0, "credential with the user from the URL")) {
		is_str(user, "alerts@hotel", "URL user, decoded");
		is_str(pw, "from-systemd", "password from $CREDENTIALS_DIRECTORY/smtp-password");
	}
	free(user);
	free(pw);
	cfg.smtp_url = "smtp://mail.example";
	is_int(creds(&cfg, &user, &pw, err), -EINVAL, "a password without a user refused");
	unsetenv("CREDENTIALS_DIRECTORY");
	char *p = gf_xasprintf("%s/smtp-password", dir);
	unlink(p);
	free(p);
	rmdir(dir);
	free(dir);
}

static void test_http_rules(void)
{
	CURL *e = curl_easy_init();
	is_int(gf_http_secure(e, "https", "/etc/ssl/certs/ca-certificates.crt", "http://proxy:3128", "localhost"),
	       0, "transport options accepted by libcurl");
	is_int(gf_http_secure(e, "smtp,smtps", NULL, NULL, NULL), 0, "transport options without a proxy");
	curl_easy_cleanup(e);

	struct gf_job job = { .endpoint = "http://127.0.0.1/x", .ping_start = "https://hc/s",
	                      .ping_failure = "http://hc/f" };
	const char *keys[4];
	size_t n = gf_http_insecure_urls(&job, keys, GF_ARRAY_SIZE(keys));
	ok(n == 2 && strcmp(keys[0], "endpoint") == 0 && strcmp(keys[1], "ping.failure") == 0,
	   "plain http:// URLs of a job named (%zu)", n);
	is_str(gf_http_protocols(&job), "https", "https only without the opt-in");
	job.allow_insecure_http = true;
	is_str(gf_http_protocols(&job), "http,https", "http too with allow_insecure_http");
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	test_db_redaction();
	test_smtp_tls();
	test_smtp_credentials();
	test_http_rules();
	char *pw = gf_xasprintf("%s/pw", tmpdir);
	unlink(pw);
	free(pw);
	rmdir(tmpdir);
	return done_testing();
}
