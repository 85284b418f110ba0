/* Alert e-mails to the alert contacts, the failed-runs condition, contacts. */
#include "core/notify.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alert.h"
#include "base/buf.h"
#include "db/db.h"
#include "core/jsonout.h"
#include "transport/http.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/signals.h"
#include "base/text.h"

#define PASSWORD_MAX 4096           /* a password file bigger than this is not one */

/* The exit code failed_runs() is given for a run found lost. */
#define EXIT_LOST (-1)

/* The job's last alerting.failed_runs runs that ended (recorded their end,
 * or were found lost: gf_notify_lost_runs) all failed: the alert raised;
 * a run that ended well clears it. */
static int failed_runs(PGconn *c, const struct gf_config *cfg, const struct gf_job *job, int64_t run_id,
                       int exit_code)
{
	if (exit_code == 0 || exit_code == 1)
		return gf_alert_clear(c, job->name, 0, "failed_runs");
	char n[16];
	snprintf(n, sizeof(n), "%d", cfg->failed_runs);
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "failed_runs",
		"SELECT count(*) FILTER (WHERE exit_code IN (69, 70, 75, 78) OR finished_at IS NULL), count(*) FROM ("
		"  SELECT exit_code, finished_at FROM guestflow.runs"
		"   WHERE job = $1 AND (finished_at IS NOT NULL OR lost_at IS NOT NULL)"
		"   ORDER BY id DESC LIMIT $2::int) t", 2, (const char *[]){ job->name, n });
	if (!r)
		return err;
	if (gf_db_get_int(r, 0, 0) < cfg->failed_runs)
		return 0;
	char msg[512];
	if (exit_code == EXIT_LOST)
		snprintf(msg, sizeof(msg), "the last %d runs of %s failed (the latest ended without recording its end:"
		         " killed, or its host restarted)", cfg->failed_runs, job->name);
	else
		snprintf(msg, sizeof(msg), "the last %d runs of %s failed (the latest with exit %d)", cfg->failed_runs,
		         job->name, exit_code);
	return gf_alert_raise(c, job->name, 0, "failed_runs", msg, run_id);
}

static const char *advice(const char *kind)
{
	if (strcmp(kind, "auth_failed") == 0)
		return "Check the connection's id and secret with the partner (or, for an alert of\n"
		       "the whole job, the job's own account: its sftp section), then update them;\n"
		       "its deliveries stay pending and go with the next run.";
	if (strcmp(kind, "dead_deliveries") == 0)
		return "Find the cause in 'guestflow log --errors', fix it, then run\n"
		       "'guestflow rerun JOB --dead' to put the deliveries back in the queue.";
	if (strcmp(kind, "history_refused") == 0)
		return "The partner has these guests; only the entries on their bookings are missing.\n"
		       "'guestflow log --errors' has what the PMS said (a column too short, the\n"
		       "adapter's write_history raising). Fix the PMS or the adapter: each run of the\n"
		       "job writes the entries owed ('guestflow explain' names each booking), and\n"
		       "this alert clears once none is.";
	if (strcmp(kind, "bookings_not_planned") == 0)
		return "The PMS's view of its properties (guestflow.source_properties) raises an\n"
		       "error for some property ('guestflow log --errors' has the database's\n"
		       "message): fix the view or the property's row. Until then its guests are\n"
		       "neither sent nor rejected; the first run after the fix sends them, and this\n"
		       "alert clears.";
	if (strcmp(kind, "connection_stopped") == 0)
		return "The connection was stopped: by the partner, or by guestflow because the PMS\n"
		       "no longer allows the property's guests to be exported ('guestflow connection\n"
		       "show' says which). Its guests are not sent meanwhile; once that is over, make\n"
		       "it live with 'guestflow connection activate'.";
	if (strcmp(kind, "connection_deactivated") == 0)
		return "The property ended this connection, withdrew its consent, or is gone from the\n"
		       "PMS ('guestflow connection show' says which). Its guests are not sent; nothing\n"
		       "to do unless that was a mistake: then record consent again and 'guestflow\n"
		       "connection activate'.";
	if (strcmp(kind, "pull_failed") == 0)
		return "The partner's event feed of this connection could not be read (the reason\n"
		       "above; 'guestflow pull' in the journal has each failure). Bounces and\n"
		       "unsubscribes the partner reports reach the suppression list only once it is\n"
		       "read: ask the partner, or check the connection's credentials. The next pull\n"
		       "that reads the feed clears this alert.";
	if (strcmp(kind, "partner_unreachable") == 0)
		return "Check the partner's status and the network path to the endpoint; deliveries stay\n"
		       "pending and are retried with backoff until retry.max_attempts.";
	return "See 'guestflow status' and 'guestflow log --errors', and the journal of the run\n"
	       "('journalctl -u guestflow@JOB'); exit codes are in 'guestflow run --help'.";
}

struct upload {
	const char *data;
	size_t len, pos;
};

static size_t read_cb(char *buf, size_t size, size_t n, void *ud)
{
	struct upload *u = ud;
	size_t want = size * n, left = u->len - u->pos;
	if (want > left)
		want = left;
	memcpy(buf, u->data + u->pos, want);
	u->pos += want;
	return want;
}

/* The hosts that are this machine whatever the resolver says: the literal
 * loopback addresses 127.0.0.1 and ::1, and localhost. Deliberately narrow:
 * anything else (127.0.0.2 included) is treated as across a network. */
static bool loopback_host(const char *h)
{
	return strcasecmp(h, "localhost") == 0 || strcmp(h, "127.0.0.1") == 0 || strcmp(h, "[::1]") == 0 ||
	       strcmp(h, "::1") == 0;
}

int gf_smtp_tls(const char *url, long *use_ssl)
{
	CURLU *u = curl_url();
	if (!u)
		return -ENOMEM;
	char *scheme = NULL, *host = NULL;
	int r = -EINVAL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		r = 0;
		if (strcmp(scheme, "smtps") == 0)
			*use_ssl = CURLUSESSL_ALL; /* TLS from the first byte; ALL as well, for clarity */
		else if (strcmp(scheme, "smtp") == 0)
			*use_ssl = loopback_host(host) ? CURLUSESSL_TRY : CURLUSESSL_ALL;
		else
			r = -EINVAL;
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

/* smtp_url without its user part (into *plain) and that user (*user, NULL
 * when there is none), both new strings. */
static int split_user(const char *url, char **plain, char **user)
{
	*plain = *user = NULL;
	CURLU *u = curl_url();
	if (!u)
		return -ENOMEM;
	char *s = NULL;
	int r = -EINVAL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK) {
		if (curl_url_get(u, CURLUPART_USER, &s, CURLU_URLDECODE) == CURLUE_OK && s) {
			*user = gf_xstrdup(s);
			curl_free(s);
			s = NULL;
		}
		if (curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
		    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
		    curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
			*plain = gf_xstrdup(s);
			curl_free(s);
			r = 0;
		}
	}
	curl_url_cleanup(u);
	if (r < 0)
		*user = gf_free(*user);
	return r;
}

/* Where the SMTP password comes from: alerting.smtp_password_file, else the
 * systemd credential (LoadCredential=smtp-password:...), else nowhere. */
static char *password_source(const struct gf_config *cfg)
{
	if (cfg->smtp_password_file)
		return gf_xstrdup(cfg->smtp_password_file);
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	if (!dir || !*dir)
		return NULL;
	char *path = gf_xasprintf("%s/smtp-password", dir);
	if (access(path, F_OK) == 0)
		return path;
	free(path);
	return NULL;
}

static int read_password(const char *path, char **out, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		int e = -errno;
		snprintf(err, errlen, "cannot read the SMTP password file %s: %s", path, gf_strerror(e));
		return e;
	}
	if (st.st_mode & S_IROTH) {
		snprintf(err, errlen, "the SMTP password file %s is readable by others (mode %04o): "
		         "chmod o-r it, and take the password as known", path, (unsigned)(st.st_mode & 07777));
		return -EACCES;
	}
	char *data = NULL;
	size_t len = 0;
	int r = gf_read_file(path, PASSWORD_MAX, &data, &len);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the SMTP password file %s: %s", path,
		         r == -GF_E_TOO_BIG ? "larger than 4096 bytes" : gf_strerror(r));
		return r;
	}
	/* The file's one line; its line end is not part of the password. */
	if (len > 0 && data[len - 1] == '\n')
		len--;
	if (len > 0 && data[len - 1] == '\r')
		len--;
	if (len == 0 || memchr(data, '\0', len) || memchr(data, '\n', len)) {
		explicit_bzero(data, len);
		free(data);
		snprintf(err, errlen, "the SMTP password file %s must hold the password on one line", path);
		return -EINVAL;
	}
	data[len] = '\0';
	*out = data;
	return 0;
}

int gf_smtp_credentials(const struct gf_config *cfg, char **user, char **password, char **source,
                        char *err, size_t errlen)
{
	*user = *password = *source = NULL;
	_cleanup_free_ char *plain = NULL, *url_user = NULL;
	if (!cfg->smtp_url)
		return 0;
	if (split_user(cfg->smtp_url, &plain, &url_user) < 0) {
		snprintf(err, errlen, "alerting.smtp_url cannot be read as a URL");
		return -EINVAL;
	}
	const char *u = cfg->smtp_user ? cfg->smtp_user : url_user;
	_cleanup_free_ char *src = password_source(cfg);
	if (!u && !src)
		return 0;
	if (!u) {
		snprintf(err, errlen, "an SMTP password is in %s but no SMTP user is set: set alerting.smtp_user", src);
		return -EINVAL;
	}
	if (!src) {
		snprintf(err, errlen, "SMTP user '%s' but no password: name a file with alerting.smtp_password_file "
		         "or give the service the systemd credential smtp-password", u);
		return -EINVAL;
	}
	char *pw = NULL;
	int r = read_password(src, &pw, err, errlen);
	if (r < 0)
		return r;
	*user = gf_xstrdup(u);
	*password = pw;
	*source = src;
	src = NULL;
	return 0;
}

static void password_free(char **p)
{
	if (*p) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
	}
}

static int smtp_send(const struct gf_config *cfg, const char *const *rcpts, size_t n_rcpts, const char *msg,
                     char *err, size_t errlen)
{
	long use_ssl = CURLUSESSL_ALL;
	_cleanup_free_ char *url = NULL, *url_user = NULL, *user = NULL, *source = NULL;
	_cleanup_(password_free) char *password = NULL;
	if (gf_smtp_tls(cfg->smtp_url, &use_ssl) < 0 || split_user(cfg->smtp_url, &url, &url_user) < 0) {
		snprintf(err, errlen, "alerting.smtp_url cannot be read as a URL");
		return -EINVAL;
	}
	int r = gf_smtp_credentials(cfg, &user, &password, &source, err, errlen);
	if (r < 0)
		return r;
	CURL *e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	/* Never by a proxy (there is no configuration for one), TLS 1.2 at
	 * least, the server's certificate verified against the system store. */
	if (gf_http_secure(e, "smtp,smtps", NULL, NULL, NULL) < 0 ||
	    curl_easy_setopt(e, CURLOPT_USE_SSL, use_ssl) != CURLE_OK) {
		curl_easy_cleanup(e);
		snprintf(err, errlen, "libcurl refused the transport options (TLS 1.2, STARTTLS)");
		return -EPROTONOSUPPORT;
	}
	struct curl_slist *to = NULL;
	for (size_t i = 0; i < n_rcpts; i++) {
		/* (whole, however long: never cut into another address) */
		_cleanup_free_ char *addr = gf_xasprintf("<%s>", rcpts[i]);
		to = curl_slist_append(to, addr);
	}
	_cleanup_free_ char *from = gf_xasprintf("<%s>", cfg->mail_from);
	struct upload u = { msg, strlen(msg), 0 };
	char ebuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(e, CURLOPT_URL, url);
	if (user) {
		curl_easy_setopt(e, CURLOPT_USERNAME, user);
		curl_easy_setopt(e, CURLOPT_PASSWORD, password);
	}
	curl_easy_setopt(e, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(e, CURLOPT_MAIL_RCPT, to);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(e, CURLOPT_READDATA, &u);
	curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
	/* each answer of the server too: the QUIT after an accepted mail is
	 * waited for in curl_easy_cleanup(), outside CURLOPT_TIMEOUT_MS
	 * (libcurl's default there is 120 s) */
	curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT, 30L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ebuf);
	CURLcode rc = curl_easy_perform(e);
	long code = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK && code > 0)
		snprintf(err, errlen, "%s: %s (the server's last reply: %ld)", curl_easy_strerror(rc),
		         ebuf[0] ? ebuf : "no details", code);
	else if (rc != CURLE_OK)
		snprintf(err, errlen, "%s: %s", curl_easy_strerror(rc), ebuf[0] ? ebuf : "no details");
	curl_slist_free_all(to);
	curl_easy_cleanup(e);
	if (rc == CURLE_OK)
		return 0;
	/* No server that answers (no reply at all), one closing its service
	 * (421) or refusing our login: every message's. Anything else the
	 * server did with this one (a refusal, a connection dropped mid-way)
	 * is this message's. */
	return code == 0 || code == 421 || rc == CURLE_LOGIN_DENIED ? -EHOSTUNREACH : -EIO;
}

#define BODY_LINE_MAX 900
#define SUBJECT_FOLD 900

/* ' subject' into m: as it is when it is printable ASCII (folded at a
 * space before SUBJECT_FOLD), else as
 * RFC 2047 encoded words (UTF-8, base64, each 60 characters at most, one a
 * folded line): a header of any length and any text stays within the line
 * limit and reaches every mail reader as it was written. */
static void subject_words(struct gf_buf *m, const char *s)
{
	size_t len = strlen(s), run = 0;
	bool plain = true;
	for (size_t i = 0; plain && i < len; i++) {
		plain = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f && !(s[i] == '=' && s[i + 1] == '?');
		run = s[i] == ' ' ? 0 : run + 1;
		plain = plain && run < SUBJECT_FOLD;
	}
	if (plain) {
		/* folded (CRLF before a space) where the next word would take
		 * the line past SUBJECT_FOLD */
		gf_buf_puts(m, " ");
		size_t col = sizeof("Subject: ") - 1;
		for (size_t i = 0; i < len; i++) {
			if (s[i] == ' ' && i > 0 && col + 1 + strcspn(s + i + 1, " ") > SUBJECT_FOLD) {
				gf_buf_puts(m, "\r\n");
				col = 0;
			}
			gf_buf_append(m, s + i, 1);
			col++;
		}
		return;
	}
	size_t i = 0;
	bool first = true;
	while (i < len) {
		/* 36 bytes at most (48 base64 characters: a word of 60, and the
		 * first line with "Subject: " 70, within RFC 2047's 76), whole
		 * characters */
		size_t n = len - i < 36 ? len - i : 36;
		while (n > 4 && i + n < len && ((unsigned char)s[i + n] & 0xC0) == 0x80)
			n--;
		gf_buf_puts(m, first ? " =?UTF-8?B?" : "\r\n =?UTF-8?B?");
		first = false;
		unsigned char word[64];
		int w = EVP_EncodeBlock(word, (const unsigned char *)s + i, (int)n);
		gf_buf_append(m, word, (size_t)w);
		gf_buf_puts(m, "?=");
		i += n;
	}
}

/* A whole message into m: the headers (from cfg's alerting.from to
 * to[n_to]; subject made safe text here), then the body with CRLF line ends
 * and a line starting with '.' given another (SMTP). id names it in its
 * Message-ID. */
static void compose(struct gf_buf *m, const struct gf_config *cfg, const char *const *to, size_t n_to,
                    const char *subject_raw, const char *id, const char *body)
{
	char host[256] = "localhost", date[64];
	gethostname(host, sizeof(host) - 1);
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	_cleanup_free_ char *subject = gf_text_safe_dup(subject_raw, NULL, GF_TEXT_MAX);
	gf_buf_printf(m, "Date: %s\r\nFrom: guestflow <%s>\r\nTo: ", date, cfg->mail_from);
	for (size_t i = 0; i < n_to; i++)
		gf_buf_printf(m, "%s<%s>", i ? ", " : "", to[i]);
	gf_buf_puts(m, "\r\nSubject:");
	subject_words(m, subject);
	gf_buf_printf(m, "\r\nMessage-ID: <guestflow-%s@%s>\r\n"
	              "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	              "Content-Transfer-Encoding: 8bit\r\n\r\n", id, host);
	/* Lines of at most BODY_LINE_MAX bytes (RFC 5322's 998, with room),
	 * a longer one broken at a character boundary; a line starting with
	 * '.' given another (SMTP). */
	size_t col = 0;
	for (const char *p = body; *p; p++) {
		if (*p != '\n' && col >= BODY_LINE_MAX - 4 && ((unsigned char)*p & 0xC0) != 0x80) {
			gf_buf_puts(m, "\r\n");
			col = 0;
		}
		if (col == 0 && *p == '.')
			gf_buf_puts(m, ".");
		if (*p == '\n') {
			gf_buf_puts(m, "\r\n");
			col = 0;
		} else {
			gf_buf_append(m, p, 1);
			col++;
		}
	}
}

/* mail_event(): the server failed (not an address): the other alerts wait. */
#define MAIL_SERVER_DOWN 2

/* One alert, taken (mail_event), mailed to its contacts: 1, 0 when not (no
 * contact, every address refused), MAIL_SERVER_DOWN, or a database error. */
static int mail_taken(PGconn *c, const struct gf_config *cfg, const struct gf_job *job, PGresult *ev, int row)
{
	const char *id = PQgetvalue(ev, row, 0);
	int err;
	_cleanup_pgresult_ PGresult *rcpts = gf_db_query(c, &err, "alert_recipients",
		"SELECT DISTINCT k.email FROM guestflow.contacts k, guestflow.alert_events e"
		" WHERE e.id = $1::bigint AND (k.job IS NULL OR k.job = e.job)"
		/* every role used (seed 002): alert contacts hear of every alert;
		 * technical ones of what needs a hand on the connection; the
		 * escalation contacts of a job failing night after night */
		"   AND (k.role = 'alert'"
		"        OR (k.role = 'technical' AND e.kind IN ('auth_failed', 'connection_invalid',"
		"                                                 'connection_stopped', 'connection_deactivated',"
		"                                                 'pull_failed'))"
		"        OR (k.role = 'escalation' AND e.kind = 'failed_runs'))"
		"   AND (k.connection_id IS NULL OR e.connection_id IS NULL OR k.connection_id = e.connection_id)"
		" ORDER BY 1", 1, (const char *[]){ id });
	if (!rcpts)
		return err;
	const char *kind = PQgetvalue(ev, row, 1);
	if (PQntuples(rcpts) == 0) {
		gf_warn("alert_no_contacts", "alert=%s kind=%s msg=%s", id, kind,
		        gf_log_q("no contact for this alert, job or connection: add one with 'guestflow contact add'"));
		return 0;
	}
	char host[256] = "localhost";
	gethostname(host, sizeof(host) - 1);
	/* What comes from the database goes into the mail as safe text
	 * (text.h): no control character (so no CR/LF that could add a header
	 * or end the message), nothing that reorders what a mail reader shows,
	 * every access_key value blanked. Stored messages are that already;
	 * older ones may not be. */
	_cleanup_free_ char *conn = gf_text_safe_dup(PQgetisnull(ev, row, 3) ? "all connections of the job" :
		PQgetvalue(ev, row, 3), NULL, GF_TEXT_MAX);
	_cleanup_free_ char *what = gf_text_safe_dup(PQgetvalue(ev, row, 4), NULL, 2 * GF_TEXT_MAX);
	_cleanup_free_ char *subject = gf_xasprintf("[guestflow] %s: %s (%s)", job->name, kind, conn);
	_cleanup_free_ char *body = gf_xasprintf(
		"guestflow on %s raised an alert.\n\nJob:        %s (partner %s)\nConnection: %s\n"
		"Alert:      %s (event %s, raised %s, run %s)\nWhat failed: %s\n\nWhat to do:\n%s\n\n"
		"Details: guestflow status %s; guestflow log --job %s --errors\n"
		"You get one e-mail per condition; the next comes only after it has cleared.\n",
		host, job->name, job->partner, conn, kind, id, PQgetvalue(ev, row, 2),
		PQgetisnull(ev, row, 5) ? "-" : PQgetvalue(ev, row, 5), what, advice(kind),
		job->name, job->name);
	size_t n_to = (size_t)PQntuples(rcpts);
	_cleanup_free_ const char **to = gf_xcalloc(n_to, sizeof(*to));
	for (size_t i = 0; i < n_to; i++)
		to[i] = PQgetvalue(rcpts, (int)i, 0);
	_cleanup_free_ char *msgid = gf_xasprintf("alert-%s", id);
	struct gf_buf m = GF_BUF_INIT((size_t)1 << 20);
	compose(&m, cfg, to, n_to, subject, msgid, body);
	/* One envelope per recipient: an address the server refuses (a
	 * contact who left: 550) costs that contact the mail, never the
	 * others theirs. */
	char why[512] = "";
	size_t accepted = 0, refused = 0;
	int r = 0;
	for (size_t i = 0; i < n_to; i++) {
		r = smtp_send(cfg, &to[i], 1, gf_buf_str(&m), why, sizeof(why));
		if (r == 0) {
			accepted++;
		} else if (r == -EIO) {
			refused++;
			gf_warn("alert_recipient_refused", "alert=%s kind=%s to=%s error=%s msg=%s", id, kind, gf_log_q(to[i]),
			        gf_log_q(why), gf_log_q("the mail server refused this contact's address; the other contacts"
			                                " get the alert: correct it with 'guestflow contact edit'"));
		} else {
			break; /* the server, not the address: every message's */
		}
	}
	gf_buf_free(&m);
	if (accepted == 0) {
		gf_error("alert_mail_failed", "alert=%s kind=%s error=%s", id, kind, gf_log_q(why));
		/* tried again after the next run */
		return r < 0 && r != -EIO ? MAIL_SERVER_DOWN : 0;
	}
	if (r < 0 && r != -EIO)
		gf_warn("alert_mail_failed", "alert=%s kind=%s error=%s msg=%s", id, kind, gf_log_q(why),
		        gf_log_q("the mail server failed after some contacts got the alert; the others do not get it"));
	r = gf_db_exec(c, "alert_notified", "UPDATE guestflow.alert_events SET notified_at = now() WHERE id = $1::bigint",
	               1, (const char *[]){ id });
	if (r == 0)
		gf_info("alert_mailed", "alert=%s kind=%s recipients=%zu refused=%zu", id, kind, accepted, refused);
	return r < 0 ? r : 1;
}

/* How long a process may take to mail one alert (every contact's envelope,
 * each bounded by the SMTP timeouts) before another takes it over. */
#define MAIL_TAKE "10 minutes"

/* One alert mailed, unless another process has taken it (several workers
 * ending together, or one mailing now): taken for MAIL_TAKE in a statement
 * of its own (no transaction open while the server answers), let go after
 * (told or not). Returns as mail_taken(), 0 when another has it. */
static int mail_event(PGconn *c, const struct gf_config *cfg, const struct gf_job *job, PGresult *ev, int row)
{
	const char *id = PQgetvalue(ev, row, 0);
	int err;
	_cleanup_pgresult_ PGresult *take = gf_db_query(c, &err, "alert_take",
		"UPDATE guestflow.alert_events SET mailing_until = now() + interval '" MAIL_TAKE "'"
		" WHERE id = $1::bigint AND notified_at IS NULL AND cleared_at IS NULL"
		"   AND (mailing_until IS NULL OR mailing_until < now()) RETURNING id", 1, (const char *[]){ id });
	if (!take)
		return err;
	if (PQntuples(take) == 0) {
		gf_info("alert_mailed_elsewhere", "alert=%s msg=%s", id,
		        gf_log_q("another process is mailing this alert, or has"));
		return 0;
	}
	int r = mail_taken(c, cfg, job, ev, row);
	int lr = gf_db_exec(c, "alert_let_go", "UPDATE guestflow.alert_events SET mailing_until = NULL WHERE id = $1::bigint",
	                    1, (const char *[]){ id });
	return r < 0 ? r : lr < 0 ? lr : r;
}

/* What a notice calls a change (seed 000's words), and what it means for
 * the partner. */
static void change_words(const char *from, const char *to, const char **change, const char **meaning)
{
	if (!from && strcmp(to, "setup") == 0) {
		*change = "requested";
		*meaning = "The property asks to be connected (status setup). No guest data is sent until the\n"
		           "connection is live.";
	} else if (strcmp(to, "live") == 0) {
		*change = "activated";
		*meaning = "The connection is live: guest data is sent from now on.";
	} else if (strcmp(to, "deactivated") == 0) {
		*change = "deactivated";
		*meaning = "The connection has ended: no more guest data is sent.";
	} else if (strcmp(to, "stopped") == 0) {
		*change = "stopped";
		*meaning = "The connection is stopped: no guest data is sent until it is activated again.";
	} else {
		*change = "changed";
		*meaning = "The connection's status changed.";
	}
}

/* The property's name as the PMS gives it (guestflow.source_properties),
 * or NULL: no view (yet), no row, or the view failing, none of which may
 * keep the partner from being told. Outside any transaction. */
static char *property_name(PGconn *c, const char *property)
{
	int err;
	_cleanup_pgresult_ PGresult *v = gf_db_query(c, &err, "notice_view",
		"SELECT to_regclass('guestflow.source_properties') IS NOT NULL", 0, NULL);
	if (!v || PQgetvalue(v, 0, 0)[0] != 't')
		return NULL;
	_cleanup_pgresult_ PGresult *n = gf_db_query(c, &err, "notice_property_name",
		"SELECT name::text FROM guestflow.source_properties WHERE property_id::text = $1 AND name IS NOT NULL"
		" LIMIT 1", 1, &property);
	if (!n || PQntuples(n) == 0 || !*PQgetvalue(n, 0, 0))
		return NULL;
	return gf_text_safe_dup(PQgetvalue(n, 0, 0), NULL, GF_TEXT_MAX);
}

/* Mail the notice of entry n (claimed, row 0 of it) to its partner_to. 0
 * sent; < 0 with why when the SMTP server did not take it. */
static int mail_notice(const struct gf_config *cfg, PGresult *n, const char *name, char *why,
                       size_t whylen)
{
	const char *id = PQgetvalue(n, 0, 0), *to = PQgetvalue(n, 0, 9);
	/* (the address met gf_check_email when it was stored, by CHECK: again
	 * here, since it goes into a header and the envelope) */
	if (gf_check_email(to, why, whylen) < 0)
		return -EINVAL;
	const char *change, *meaning;
	change_words(PQgetisnull(n, 0, 4) ? NULL : PQgetvalue(n, 0, 4), PQgetvalue(n, 0, 5), &change, &meaning);
	/* database text as safe text (text.h): no CR/LF that could add a
	 * header or end the message, nothing that reorders what is shown */
	_cleanup_free_ char *property = gf_text_safe_dup(PQgetvalue(n, 0, 1), NULL, GF_TEXT_MAX);
	_cleanup_free_ char *partner = gf_text_safe_dup(PQgetvalue(n, 0, 2), NULL, GF_TEXT_MAX);
	_cleanup_free_ char *hotel = gf_text_safe_dup(PQgetvalue(n, 0, 3), NULL, GF_TEXT_MAX);
	_cleanup_free_ char *note = gf_text_safe_dup(PQgetvalue(n, 0, 8), NULL, 2 * GF_TEXT_MAX);
	bool ended = strcmp(change, "stopped") == 0 || strcmp(change, "deactivated") == 0;
	_cleanup_free_ char *subject = gf_xasprintf("guestflow: %s connection %s (%s)", property, change, partner);
	_cleanup_free_ char *body = gf_xasprintf(
		"The connection of a property to %s was %s.\n\n"
		"Property:   %s%s%s%s\nHotel id:   %s (the property's id at %s)\nChange:     %s (%s -> %s)\n"
		"When:       %s\n%s%s%s\n%s\n\n"
		"This is the one e-mail about this change (activity log entry %s), sent by\n"
		"guestflow for the property to the partner's contact address.\n",
		partner, change, property, name ? " (" : "", name ? name : "", name ? ")" : "", hotel, partner,
		change, PQgetisnull(n, 0, 4) ? "new" : PQgetvalue(n, 0, 4), PQgetvalue(n, 0, 5), PQgetvalue(n, 0, 6),
		ended ? "Reason:     " : "", ended ? note : "", ended ? "\n" : "", meaning, id);
	_cleanup_free_ char *msgid = gf_xasprintf("notice-%s", id);
	_cleanup_buf_ struct gf_buf m = GF_BUF_INIT((size_t)1 << 20);
	compose(&m, cfg, &to, 1, subject, msgid, body);
	return smtp_send(cfg, &to, 1, gf_buf_str(&m), why, whylen);
}

int gf_notify_partners(PGconn *c, const struct gf_config *cfg, const char *partner, const char *property,
                       struct gf_notice_tally *t)
{
	*t = (struct gf_notice_tally){ 0 };
	int err;
	if (!cfg->smtp_url) {
		_cleanup_pgresult_ PGresult *w = gf_db_query(c, &err, "notice_waiting",
			"SELECT count(*) FROM guestflow.connection_events e JOIN guestflow.connections c ON c.id = e.connection_id"
			" WHERE e.partner_notice AND e.partner_to IS NOT NULL AND e.partner_told_at IS NULL"
			"   AND c.partner = $1 AND ($2::text IS NULL OR c.property_id = $2)", 2,
			(const char *[]){ partner, property });
		if (!w)
			return err;
		t->waiting = (int)gf_db_get_int(w, 0, 0);
		return 0;
	}
	char after[32] = "0";
	for (;;) {
		/* The next notice to send, past those tried in this call (each is
		 * tried once a call: a failing server is not hammered), the
		 * oldest of its connection not told yet (the partner hears of the
		 * changes in the order they were made), taken for a while in a
		 * statement of its own: no transaction stays open while the SMTP
		 * server answers, and another process sending meanwhile skips it.
		 * The attempt is counted when it starts: one cut short (a crash,
		 * a lost session) shows. */
		_cleanup_pgresult_ PGresult *n = gf_db_query(c, &err, "notice_take",
			"WITH t AS (SELECT e.id FROM guestflow.connection_events e"
			"             JOIN guestflow.connections c ON c.id = e.connection_id"
			"            WHERE e.partner_notice AND e.partner_to IS NOT NULL AND e.partner_told_at IS NULL"
			"              AND c.partner = $1 AND ($2::text IS NULL OR c.property_id = $2) AND e.id > $3::bigint"
			"              AND NOT EXISTS (SELECT 1 FROM guestflow.connection_events o"
			"                               WHERE o.connection_id = e.connection_id AND o.partner_notice"
			"                                 AND o.partner_to IS NOT NULL AND o.partner_told_at IS NULL"
			"                                 AND o.id < e.id)"
			"              AND (e.partner_sending_until IS NULL OR e.partner_sending_until < now())"
			"            ORDER BY e.id LIMIT 1 FOR UPDATE OF e SKIP LOCKED)"
			" UPDATE guestflow.connection_events e SET partner_attempts = e.partner_attempts + 1,"
			"        partner_error = 'sending: no result recorded (the sender stopped before it had one)',"
			"        partner_sending_until = now() + interval '5 minutes'"
			"   FROM t, guestflow.connections c"
			"  WHERE e.id = t.id AND c.id = e.connection_id"
			" RETURNING e.id, c.property_id, c.partner, c.id_at_partner, e.from_status, e.to_status,"
			"        to_char(e.at, 'YYYY-MM-DD HH24:MI:SS TZ'), e.actor, coalesce(e.note, ''), e.partner_to,"
			"        e.partner_sending_until::text", 3,
			(const char *[]){ partner, property, after });
		if (!n)
			return err;
		if (PQntuples(n) == 0) {
			/* none left, or the next one is another process's: the
			 * rest after it waits for the next command or run */
			return 0;
		}
		snprintf(after, sizeof(after), "%s", PQgetvalue(n, 0, 0));
		_cleanup_free_ char *name = property_name(c, PQgetvalue(n, 0, 1));
		char why[512] = "";
		int sent = mail_notice(cfg, n, name, why, sizeof(why));
		int r;
		/* (only while it is still this process's: a lease that ran out
		 * and was taken by another is that one's to record) */
		const char *lease = PQgetvalue(n, 0, 10);
		if (sent == 0)
			r = gf_db_exec(c, "notice_told", "UPDATE guestflow.connection_events SET partner_told_at = now(),"
			               " partner_error = NULL, partner_sending_until = NULL"
			               " WHERE id = $1::bigint AND partner_sending_until = $2::timestamptz",
			               2, (const char *[]){ after, lease });
		else
			/* the connection's own address, when one was set while this
			 * was being sent, is where the next attempt goes */
			r = gf_db_exec(c, "notice_failed", "UPDATE guestflow.connection_events e SET partner_error = $2,"
			               " partner_sending_until = NULL,"
			               " partner_to = coalesce((SELECT partner_email FROM guestflow.connections c"
			               "                        WHERE c.id = e.connection_id), e.partner_to)"
			               " WHERE e.id = $1::bigint AND e.partner_told_at IS NULL"
			               "   AND e.partner_sending_until = $3::timestamptz",
			               3, (const char *[]){ after, why, lease });
		if (r < 0)
			return r;
		if (sent == 0) {
			t->sent++;
			gf_info("partner_told", "entry=%s partner=%s property=%s to=%s", after, gf_log_q(partner),
			        gf_log_q(PQgetvalue(n, 0, 1)), gf_log_q(PQgetvalue(n, 0, 9)));
			continue;
		}
		t->failed++;
		snprintf(t->why, sizeof(t->why), "%s", why);
		gf_error("partner_notice_failed", "entry=%s partner=%s property=%s to=%s error=%s", after,
		         gf_log_q(partner), gf_log_q(PQgetvalue(n, 0, 1)), gf_log_q(PQgetvalue(n, 0, 9)), gf_log_q(why));
		/* No server that answers: the others wait for the next command or
		 * run rather than each costing the same timeout now. */
		if (sent == -EHOSTUNREACH)
			return 0;
	}
}

/* The job's alerts not told yet, mailed to their contacts; stoppable: a
 * stop signal ends the mailing (at a run's start: the rest goes after it). */
static int mail_unnotified(PGconn *c, const struct gf_config *cfg, const struct gf_job *job, bool stoppable,
                           int *sent)
{
	int r = 0;
	int err;
	_cleanup_pgresult_ PGresult *ev = gf_db_query(c, &err, "alerts_unnotified",
		"SELECT e.id, e.kind, to_char(e.raised_at, 'YYYY-MM-DD HH24:MI:SS TZ'),"
		"       c.property_id || ' (hotel id ' || c.id_at_partner || ')', e.message, e.run_id"
		"  FROM guestflow.alert_events e LEFT JOIN guestflow.connections c ON c.id = e.connection_id"
		" WHERE e.job = $1 AND e.cleared_at IS NULL AND e.notified_at IS NULL"
		"   AND (e.mailing_until IS NULL OR e.mailing_until < now()) ORDER BY e.id",
		1, (const char *[]){ job->name });
	if (!ev)
		return err;
	for (int i = 0; i < PQntuples(ev) && !(stoppable && gf_signals_stop); i++) {
		r = mail_event(c, cfg, job, ev, i);
		if (r == MAIL_SERVER_DOWN)
			break; /* (the others: after the next run, not a timeout each now) */
		if (r < 0)
			return r;
		*sent += r;
	}
	return 0;
}

int gf_notify_alerts(PGconn *c, const struct gf_config *cfg, const struct gf_job *job, int *sent)
{
	*sent = 0;
	return cfg->smtp_url ? mail_unnotified(c, cfg, job, true, sent) : 0;
}

int gf_notify_after_run(PGconn *c, const struct gf_config *cfg, const struct gf_job *job, int64_t run_id,
                        int exit_code, int *sent)
{
	*sent = 0;
	int r = failed_runs(c, cfg, job, run_id, exit_code);
	if (r < 0 || !cfg->smtp_url)
		return r;
	r = mail_unnotified(c, cfg, job, false, sent);
	if (r < 0)
		return r;
	/* The partner hears of what is still untold: a change made when its
	 * mail could not go, or the run's own automatic stop. */
	struct gf_notice_tally t;
	r = gf_notify_partners(c, cfg, job->partner, NULL, &t);
	*sent += t.sent;
	return r;
}

/* Runs of the job on this host that have not recorded their end: the run
 * of each, its pid, its process (gf_proc_self) and its start. */
static const char UNENDED_SQL[] =
	"SELECT id, pid, process, to_char(started_at, 'YYYY-MM-DD HH24:MI:SS TZ')"
	"  FROM guestflow.runs WHERE job = $1 AND host = $2 AND id <> $3::bigint"
	"   AND finished_at IS NULL AND lost_at IS NULL ORDER BY id";

int gf_notify_lost_runs(PGconn *c, const struct gf_config *cfg, const struct gf_job *job, int64_t run_id,
                        const char *host, int *lost)
{
	*lost = 0;
	char me[32];
	snprintf(me, sizeof(me), "%lld", (long long)run_id);
	int err;
	_cleanup_pgresult_ PGresult *u = gf_db_query(c, &err, "runs_unended", UNENDED_SQL, 3,
	                                             (const char *[]){ job->name, host, me });
	if (!u)
		return err;
	for (int i = 0; i < PQntuples(u); i++) {
		long pid = (long)gf_db_get_int(u, i, 1);
		if (gf_proc_state(host, pid, gf_db_get(u, i, 2)) != GF_PROC_DEAD)
			continue; /* (still going: a run beside this one) */
		/* Its process is gone: the leases it held (their token names
		 * the run) end now, so that this run takes its batches over
		 * (sent again under their keys) instead of waiting for them to
		 * run out, the next night with a nightly timer. */
		_cleanup_pgresult_ PGresult *m = gf_db_query(c, &err, "run_lost",
			"WITH r AS ("
			"  UPDATE guestflow.runs SET lost_at = now(),"
			"         message = 'ended without recording its end (killed, or its host restarted): its process '"
			"                   || pid || ' was gone when run ' || $2 || ' started'"
			"   WHERE id = $1::bigint AND finished_at IS NULL AND lost_at IS NULL RETURNING id"
			"), l AS ("
			"  UPDATE guestflow.batches b SET lease_until = now() FROM r"
			"   WHERE b.job = $3 AND b.state = 'open' AND b.lease_until > now()"
			"     AND b.lease_token LIKE r.id || '.%' RETURNING b.id"
			") SELECT r.id, (SELECT count(*) FROM l) FROM r", 3,
			(const char *[]){ gf_db_get(u, i, 0), me, job->name });
		if (!m)
			return err;
		if (PQntuples(m) == 0)
			continue; /* (another run found it first) */
		(*lost)++;
		gf_warn("run_lost", "run=%s pid=%ld started=%s batches_taken_over=%s msg=%s", gf_db_get(u, i, 0), pid,
		        gf_log_q(gf_db_get(u, i, 3)), PQgetvalue(m, 0, 1),
		        gf_log_q("that run ended without recording its end (killed, or its host restarted); the batches"
		                 " it held are sent again under their keys by this run, its other deliveries by this run or"
		                 " the next, as after any crash"));
	}
	if (*lost == 0)
		return 0;
	/* Told now, not after this run: this one may end the same way. */
	int r = failed_runs(c, cfg, job, run_id, EXIT_LOST);
	int sent = 0;
	if (r == 0 && cfg->smtp_url)
		r = mail_unnotified(c, cfg, job, true, &sent);
	return r;
}

/* A time zone PostgreSQL knows, as it spells it ('utc' is UTC, as for SET
 * TIME ZONE), NULL for none: not the tz database's pseudo-zones, which name
 * no place ('Factory': "local time zone must be set", posixrules and
 * localtime: files of the installation). */
#define SQL_ZONE_OF(p) \
	"(SELECT z.name FROM pg_timezone_names z WHERE lower(z.name) = lower(" p ")" \
	"   AND z.name NOT IN ('Factory', 'posixrules', 'localtime') ORDER BY z.name = " p " DESC, z.name LIMIT 1)"

/* -EINVAL unless zone is a time zone PostgreSQL knows (by name). */
static int check_zone(PGconn *c, const char *zone)
{
	if (!zone)
		return 0;
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "contact_zone",
		"SELECT " SQL_ZONE_OF("$1::text") " IS NOT NULL", 1, &zone);
	if (!r)
		return err;
	return PQgetvalue(r, 0, 0)[0] == 't' ? 0 : -EINVAL;
}

int gf_contact_check_hours(const char *s, char *why, size_t whylen)
{
	/* HH:MM-HH:MM, every H and M a digit (sscanf alone takes signs and
	 * spaces) */
	static const char form[] = "dd:dd-dd:dd";
	bool shaped = strlen(s) == sizeof(form) - 1;
	for (size_t i = 0; shaped && form[i]; i++)
		shaped = form[i] == 'd' ? (s[i] >= '0' && s[i] <= '9') : s[i] == form[i];
	int h1 = 0, m1 = 0, h2 = 0, m2 = 0;
	if (shaped)
		sscanf(s, "%2d:%2d-%2d:%2d", &h1, &m1, &h2, &m2);
	if (!shaped || h1 > 23 || m1 > 59 || h2 > 24 || m2 > 59 || (h2 == 24 && m2 != 0)) {
		gf_set_why(why, whylen, "support hours are HH:MM-HH:MM, every day, from 00:00 to 24:00 (an end before"
		           " the start spans midnight), such as 08:00-18:00");
		return -EINVAL;
	}
	if (h1 * 60 + m1 == (h2 % 24) * 60 + m2) {
		gf_set_why(why, whylen, "support hours that end when they start hold no time at all (for the whole day:"
		           " 00:00-24:00, or no --hours)");
		return -EINVAL;
	}
	return 0;
}

int gf_contact_add(PGconn *c, const struct gf_contact *k, int64_t *id)
{
	int r = check_zone(c, k->time_zone);
	if (r < 0)
		return r;
	int err;
	_cleanup_pgresult_ PGresult *q = gf_db_query(c, &err, "contact_add",
		"INSERT INTO guestflow.contacts (role, email, name, job, connection_id, support_hours, time_zone)"
		" SELECT $1, $2, $3, $4, c.id, $7, " SQL_ZONE_OF("$8::text") " FROM (SELECT NULL) x"
		"   LEFT JOIN guestflow.connections c ON c.property_id = $5 AND c.partner = $6"
		"  WHERE $5::text IS NULL OR c.id IS NOT NULL RETURNING id", 8,
		(const char *[]){ k->role, k->email, k->name, k->job, k->property, k->partner, k->hours, k->time_zone });
	if (!q)
		return err;
	if (PQntuples(q) == 0)
		return -ENOENT;
	*id = gf_db_get_int(q, 0, 0);
	return 0;
}

int gf_contact_edit(PGconn *c, const char *id, const struct gf_contact *k)
{
	int r = check_zone(c, k->time_zone);
	if (r < 0)
		return r;
	int err;
	if (k->hours && !k->time_zone) {
		_cleanup_pgresult_ PGresult *z = gf_db_query(c, &err, "contact_zone_of",
			"SELECT time_zone IS NOT NULL FROM guestflow.contacts WHERE id = $1::bigint", 1, &id);
		if (!z)
			return err;
		if (PQntuples(z) == 0)
			return -ENOENT;
		if (PQgetvalue(z, 0, 0)[0] != 't')
			return -EDOM;
	}
	_cleanup_pgresult_ PGresult *q = gf_db_query(c, &err, "contact_edit",
		"UPDATE guestflow.contacts SET role = coalesce($2, role), email = coalesce($3, email),"
		"       name = coalesce($4, name),"
		"       support_hours = CASE WHEN $7::bool THEN NULL ELSE coalesce($5, support_hours) END,"
		"       time_zone = CASE WHEN $7::bool THEN NULL ELSE coalesce(" SQL_ZONE_OF("$6::text") ", time_zone) END"
		" WHERE id = $1::bigint RETURNING id", 7,
		(const char *[]){ id, k->role, k->email, k->name, k->hours, k->time_zone, k->clear_hours ? "t" : "f" });
	if (!q)
		return err;
	return PQntuples(q) ? 0 : -ENOENT;
}

int gf_contact_list(PGconn *c, json_t *doc, FILE *out)
{
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "contact_list",
		"SELECT k.id, k.role, k.email, coalesce(k.name, ''), coalesce(k.job, '*'),"
		"       coalesce(c.property_id || '/' || c.partner, '*'),"
		"       coalesce(k.support_hours || ' ' || k.time_zone, k.time_zone, '*'),"
		/* (7..) for --json: the values, NULL where the table shows '*' */
		"       k.name, k.job, c.property_id, c.partner, k.support_hours, k.time_zone"
		"  FROM guestflow.contacts k LEFT JOIN guestflow.connections c ON c.id = k.connection_id"
		" ORDER BY k.role, k.job NULLS FIRST, k.id", 0, NULL);
	if (!r)
		return err;
	if (doc) {
		json_t *a = gf_json_arr();
		for (int i = 0; i < PQntuples(r); i++) {
			json_t *o = gf_json_obj();
			gf_json_set(o, "id", gf_json_col_num(r, i, 0));
			gf_json_set(o, "role", gf_json_col_text(r, i, 1));
			gf_json_set(o, "email", gf_json_col_text(r, i, 2));
			gf_json_set(o, "name", gf_json_col_text(r, i, 7));
			/* null: every job, every connection; hours null: any time */
			gf_json_set(o, "job", gf_json_col_text(r, i, 8));
			json_t *k = gf_json_null();
			if (!PQgetisnull(r, i, 9)) {
				json_decref(k);
				k = gf_json_obj();
				gf_json_set(k, "property", gf_json_col_text(r, i, 9));
				gf_json_set(k, "partner", gf_json_col_text(r, i, 10));
			}
			gf_json_set(o, "connection", k);
			gf_json_set(o, "hours", gf_json_col_text(r, i, 11));
			gf_json_set(o, "time_zone", gf_json_col_text(r, i, 12));
			gf_json_add(a, o);
		}
		gf_json_set(doc, "contacts", a);
		return 0;
	}
	fprintf(out, "%-5s %-11s %-32s %-20s %-16s %-24s %s\n", "ID", "ROLE", "E-MAIL", "NAME", "JOB", "CONNECTION",
	        "HOURS");
	/* database text escaped as in the logs: nothing in it drives the terminal */
	for (int i = 0; i < PQntuples(r); i++) {
		fprintf(out, "%-5s %-11s %-32s ", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), gf_log_qt(PQgetvalue(r, i, 2)));
		fprintf(out, "%-20s %-16s ", gf_log_qt(PQgetvalue(r, i, 3)), gf_log_qt(PQgetvalue(r, i, 4)));
		fprintf(out, "%-24s %s\n", gf_log_qt(PQgetvalue(r, i, 5)), gf_log_qt(PQgetvalue(r, i, 6)));
	}
	return 0;
}

int gf_contact_remove(PGconn *c, const char *id)
{
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "contact_remove",
		"DELETE FROM guestflow.contacts WHERE id = $1::bigint RETURNING id", 1, (const char *[]){ id });
	if (!r)
		return err;
	return PQntuples(r) ? 0 : -ENOENT;
}
