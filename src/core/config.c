/* Configuration loader: the main file and one YAML job file per job, via libyaml. */
#include "core/config.h"
#include "core/output.h"
#include "core/record.h"

#include <ctype.h>
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errno.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <yaml.h>

#include "base/buf.h"
#include "gf_config.h"
#include "base/util.h"

#define MAX_FILE_BYTES ((size_t)1024 * 1024)
#define MAX_KEYS 24                 /* most keys in one section */
#define NAME_MAX_LEN 64
#define SHOW_MAX 80                 /* longest value quoted back in a message */
#define DURATION_MAX_MS ((int64_t)3650 * 86400 * 1000) /* 10 years: no overflow downstream */
#define MSG_MAX 4096                /* cap on message fragments built in buffers */
#define MAX_DEPTH 16                /* deepest nesting of mappings/sequences accepted */

/* Enums are written through an int pointer (see set_value). */
_Static_assert(sizeof(enum gf_compress) == sizeof(int), "enum gf_compress is not int-sized");
_Static_assert(sizeof(enum gf_on_removed) == sizeof(int), "enum gf_on_removed is not int-sized");
_Static_assert(sizeof(enum gf_log_level) == sizeof(int), "enum gf_log_level is not int-sized");

/* K_PARTNERS: a mapping from partner id to a mapping of sub's keys (the
 * main file's 'partners'), into cfg->partners. */
enum ktype { K_STRING, K_BOOL, K_INT, K_INT64, K_DURATION, K_ENUM, K_FLAGS, K_LIST, K_SECTION, K_PARTNERS };

enum {
	KF_REQUIRED = 1 << 0,
	KF_NONEMPTY = 1 << 1,
	KF_SECRET = 1 << 2,   /* never quote the value back in a message */
};

struct enum_val {
	const char *name;
	int value;
};

struct section;

/* One key of a section: like pgbouncer's config table, the single place that
 * says what a key is called, what it holds, its default and where it goes. */
struct key {
	const char *name;
	enum ktype type;
	unsigned flags;
	const char *def;                 /* default, parsed like a value from a file */
	int64_t min, max;                /* K_INT, K_INT64, K_DURATION */
	const struct enum_val *enums;    /* K_ENUM, K_FLAGS (bits, ORed; an unsigned), NULL-terminated */
	/* K_STRING, each item of a K_LIST (a struct gf_strv): extra validation;
	 * on failure append "must …, got …" to why. */
	int (*check)(const char *v, struct gf_buf *why);
	const struct section *sub;       /* K_SECTION; K_PARTNERS: the keys of one entry */
	size_t offset;                   /* field in the target struct (all sections share it) */
};

struct walk;

struct section {
	const char *name;                /* NULL: the top level */
	const struct key *keys;
	size_t n_keys;
	/* Cross-key checks once every key is set; vals[i] is the value node of
	 * keys[i] (NULL if absent); where is the section's position. */
	int (*validate)(struct walk *w, void *obj, yaml_node_t *const *vals, const yaml_mark_t *where);
};

/* State of one file being parsed. */
struct walk {
	const char *path;
	const char *name_hint;           /* expected job name, or NULL */
	yaml_document_t *doc;
	struct gf_config_error *err;
	bool have_jobs_dir_mark;         /* main file: where jobs_dir was given */
	yaml_mark_t jobs_dir_mark;
	bool have_mode;                  /* the file's permission bits are known (loaded from disk) */
	mode_t mode;
};

/* ---- messages ---------------------------------------------------------- */

static int verror(struct gf_config_error *err, const char *path, const yaml_mark_t *m,
                  const char *fmt, va_list ap) GF_PRINTF(4, 0);
static int verror(struct gf_config_error *err, const char *path, const yaml_mark_t *m,
                  const char *fmt, va_list ap)
{
	size_t line = m ? m->line + 1 : 1, col = m ? m->column + 1 : 1;
	int n = snprintf(err->text, sizeof(err->text), "%s:%zu:%zu: ", path, line, col);
	if (n >= 0 && (size_t)n < sizeof(err->text))
		vsnprintf(err->text + n, sizeof(err->text) - (size_t)n, fmt, ap);
	return -GF_E_CONFIG;
}

static int set_error(struct gf_config_error *err, const char *path, const yaml_mark_t *m,
                     const char *fmt, ...) GF_PRINTF(4, 5);
static int set_error(struct gf_config_error *err, const char *path, const yaml_mark_t *m,
                     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = verror(err, path, m, fmt, ap);
	va_end(ap);
	return r;
}

/* Error at mark m (NULL: 1:1) of the file being walked. */
static int fail(struct walk *w, const yaml_mark_t *m, const char *fmt, ...) GF_PRINTF(3, 4);
static int fail(struct walk *w, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = verror(w->err, w->path, m, fmt, ap);
	va_end(ap);
	return r;
}

/* Append a value for a message: 'text' (escaped, shortened) or "an empty value". */
static void show(struct gf_buf *b, const char *s, size_t len)
{
	if (len == 0) {
		gf_buf_puts(b, "an empty value");
		return;
	}
	gf_buf_puts(b, "'");
	size_t i = 0, shown = 0;
	while (i < len && shown < SHOW_MAX) {
		unsigned char c = (unsigned char)s[i];
		size_t n = 1;
		if (c >= 0xc0) /* keep a UTF-8 sequence whole */
			while (i + n < len && ((unsigned char)s[i + n] & 0xc0) == 0x80)
				n++;
		if (c == '\'' || c == '\\')
			gf_buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			gf_buf_printf(b, "\\x%02x", c);
		else
			gf_buf_append(b, s + i, n);
		i += n;
		shown++;
	}
	gf_buf_puts(b, i < len ? "...'" : "'");
}

static void fmt_duration(int64_t ms, char *out, size_t size)
{
	static const struct { int64_t ms; const char *unit; } units[] = {
		{ 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" },
	};
	for (size_t i = 0; i < GF_ARRAY_SIZE(units); i++)
		if (ms != 0 && ms % units[i].ms == 0) {
			snprintf(out, size, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	snprintf(out, size, "%lldms", (long long)ms);
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a sequence";
	default: return "a single value";
	}
}

static void list_keys(struct gf_buf *b, const struct section *s, bool required_only)
{
	bool first = true;
	for (size_t i = 0; i < s->n_keys; i++) {
		if (required_only && !(s->keys[i].flags & KF_REQUIRED))
			continue;
		gf_buf_printf(b, "%s%s", first ? "" : ", ", s->keys[i].name);
		first = false;
	}
}

/* What a key expects, for "'key' must be <this>, got …". */
static void describe(struct gf_buf *b, const struct key *k)
{
	char d[32];
	switch (k->type) {
	case K_STRING:
		gf_buf_puts(b, k->flags & KF_NONEMPTY ? "a non-empty text value" : "a text value");
		break;
	case K_BOOL:
		gf_buf_puts(b, "true or false (or yes/no, on/off)");
		break;
	case K_INT:
	case K_INT64:
		gf_buf_printf(b, "an integer from %lld to %lld", (long long)k->min, (long long)k->max);
		break;
	case K_DURATION:
		if (k->min == 0) {
			gf_buf_puts(b, "a duration of 0 or more");
		} else if (k->min == 1) {
			gf_buf_puts(b, "a duration greater than 0");
		} else {
			fmt_duration(k->min, d, sizeof(d));
			gf_buf_printf(b, "a duration of at least %s", d);
		}
		gf_buf_puts(b, " (like 30s, 10m, 2h or 14d; a plain number means seconds)");
		break;
	case K_ENUM:
		gf_buf_puts(b, "one of: ");
		for (const struct enum_val *e = k->enums; e->name; e++)
			gf_buf_printf(b, "%s%s", e == k->enums ? "" : ", ", e->name);
		break;
	case K_LIST:
		gf_buf_puts(b, "a list of one or more different non-empty text values");
		break;
	case K_FLAGS:
		gf_buf_puts(b, "a list of any of: ");
		for (const struct enum_val *e = k->enums; e->name; e++)
			gf_buf_printf(b, "%s%s", e == k->enums ? "" : ", ", e->name);
		break;
	case K_SECTION:
		gf_buf_puts(b, "a mapping with keys ");
		list_keys(b, k->sub, false);
		break;
	case K_PARTNERS:
		gf_buf_puts(b, "a mapping from partner id (a-z, 0-9, '_' and '-') to a mapping with keys ");
		list_keys(b, k->sub, false);
		break;
	}
}

/* ---- value checks for strings -------------------------------------------- */

static bool is_ident(const char *v)
{
	if (!*v)
		return false;
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return false;
	return true;
}

static int check_job_name(const char *v, struct gf_buf *why)
{
	if (is_ident(v) && strlen(v) <= NAME_MAX_LEN)
		return 0;
	gf_buf_printf(why, "must be 1 to %d characters from a-z, 0-9, '_' and '-', got ", NAME_MAX_LEN);
	show(why, v, strlen(v));
	return -EINVAL;
}

static int check_partner(const char *v, struct gf_buf *why)
{
	if (is_ident(v))
		return 0;
	gf_buf_puts(why, "must consist of a-z, 0-9, '_' and '-' only, got ");
	show(why, v, strlen(v));
	return -EINVAL;
}

/* A partner's address (partners.ID.email): the rule of gf_check_email. */
static int check_email(const char *v, struct gf_buf *why)
{
	char rule[256];
	if (gf_check_email(v, rule, sizeof(rule)) == 0)
		return 0;
	gf_buf_printf(why, "must be an e-mail address (%s), got ", rule);
	show(why, v, strlen(v));
	return -EINVAL;
}

static int check_format(const char *v, struct gf_buf *why)
{
	if (gf_output_find(v))
		return 0;
	gf_buf_puts(why, "must be one of: ");
	gf_buf_puts(why, gf_output_names());
	gf_buf_puts(why, ", got ");
	show(why, v, strlen(v));
	return -EINVAL;
}

/* What libcurl makes of a URL: 0 when it can read it, else -EINVAL with the
 * reason appended to why (without the value: it may hold a password). *user
 * and *password say whether the URL has a user name / a non-empty password. */
static int url_parts(const char *v, struct gf_buf *why, bool *user, bool *password)
{
	*user = *password = false;
	CURLU *u = curl_url();
	if (!u) {
		gf_buf_puts(why, "could not be checked (out of memory)");
		return -ENOMEM;
	}
	CURLUcode uc = curl_url_set(u, CURLUPART_URL, v, CURLU_NON_SUPPORT_SCHEME);
	if (uc != CURLUE_OK) {
		gf_buf_printf(why, "must be a URL libcurl can read (%s)", curl_url_strerror(uc));
		curl_url_cleanup(u);
		return -EINVAL;
	}
	char *part = NULL;
	if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK && part) {
		*user = true;
		curl_free(part);
		part = NULL;
	}
	if (curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK && part) {
		*password = *part != '\0';
		explicit_bzero(part, strlen(part));
		curl_free(part);
	}
	curl_url_cleanup(u);
	return 0;
}

/* A URL in a configuration file must not carry a password (guestflow(1),
 * Secrets); where says where that credential belongs instead. */
static int check_url_secret(const char *v, struct gf_buf *why, const char *where)
{
	bool user, password;
	int r = url_parts(v, why, &user, &password);
	if (r < 0)
		return r;
	if (!password)
		return 0;
	gf_buf_printf(why, "must not hold a password (the user:password@ part of the URL): %s", where);
	return -EINVAL;
}

static int check_endpoint(const char *v, struct gf_buf *why)
{
	const char *rest = NULL;
	if (strncmp(v, "https://", 8) == 0)
		rest = v + 8;
	else if (strncmp(v, "http://", 7) == 0)
		rest = v + 7;
	else if (strncmp(v, "sftp://", 7) == 0)
		rest = v + 7; /* (which scheme the format takes: validate_job) */

	if (!rest)
		gf_buf_puts(why, "must start with https:// (or sftp:// for visits-csv), got ");
	else if (*rest == '\0' || *rest == '/')
		gf_buf_puts(why, "must name a host after the scheme, got ");
	else if (strpbrk(v, " \t\r\n\v\f"))
		gf_buf_puts(why, "must not contain spaces, got ");
	else if (strchr(v, '?'))
		gf_buf_puts(why, "must not have a query string ('?'): the hotel id and access key "
		                 "are added to each request, got ");
	else if (strchr(v, '#'))
		gf_buf_puts(why, "must not have a fragment ('#'), got ");
	else {
		for (const unsigned char *p = (const unsigned char *)v; *p; p++)
			if (*p < 0x20 || *p == 0x7f) {
				gf_buf_puts(why, "must not contain control characters, got ");
				show(why, v, strlen(v));
				return -EINVAL;
			}
		return check_url_secret(v, why, "a connection's credentials are given with "
		                                "'guestflow connection add'");
	}
	show(why, v, strlen(v));
	return -EINVAL;
}

/* A URL for libcurl with one of the schemes, no white space or controls. */
static int check_url_scheme(const char *v, struct gf_buf *why, const char *const *schemes, const char *expect)
{
	bool scheme = false;
	for (const char *const *s = schemes; *s; s++)
		scheme |= strncmp(v, *s, strlen(*s)) == 0 && v[strlen(*s)] != '\0';
	bool clean = true;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		clean &= *p > 0x20 && *p != 0x7f;
	if (scheme && clean)
		return 0;
	gf_buf_puts(why, scheme ? "must not contain spaces or control characters" : expect);
	return -EINVAL;
}

static int check_ping_url(const char *v, struct gf_buf *why)
{
	static const char *const schemes[] = { "http://", "https://", NULL };
	int r = check_url_scheme(v, why, schemes, "must start with http:// or https://");
	if (r < 0) {
		gf_buf_puts(why, ", got ");
		show(why, v, strlen(v));
		return r;
	}
	return check_url_secret(v, why, "use a ping URL that needs no password");
}

/* Secret (it may hold a user name): the value is never quoted back. */
static int check_smtp_url(const char *v, struct gf_buf *why)
{
	static const char *const schemes[] = { "smtp://", "smtps://", NULL };
	int r = check_url_scheme(v, why, schemes, "must start with smtp:// or smtps://");
	if (r < 0)
		return r;
	return check_url_secret(v, why, "put the SMTP password in the file named by "
	                                "alerting.smtp_password_file or in the systemd credential "
	                                "smtp-password");
}

/* http.proxy: a proxy URL libcurl takes (CURLOPT_PROXY), with its scheme
 * spelt out so that the kind of proxy is never guessed, and no credentials:
 * the value is never quoted back in case it holds some. */
static int check_proxy(const char *v, struct gf_buf *why)
{
	static const char *const schemes[] = { "http://", "https://", "socks4://", "socks4a://",
	                                       "socks5://", "socks5h://", NULL };
	int r = check_url_scheme(v, why, schemes, "must start with http://, https://, socks4://, "
	                                          "socks4a://, socks5:// or socks5h://");
	if (r < 0)
		return r;
	bool user, password;
	if ((r = url_parts(v, why, &user, &password)) < 0)
		return r;
	if (!user && !password)
		return 0;
	gf_buf_puts(why, "must not hold a user name or password: guestflow uses proxies that need no "
	                 "credentials (a proxy that admits this host by its address)");
	return -EINVAL;
}

/* http.no_proxy: libcurl's CURLOPT_NOPROXY list, "host,.domain,10.0.0.0/8"
 * or "*"; entries may be separated by ", " (normalised in validate_http). */
static int check_no_proxy(const char *v, struct gf_buf *why)
{
	for (const char *p = v; *p;) {
		p += strspn(p, " ");
		size_t n = strcspn(p, ",");
		size_t t = n;
		while (t > 0 && p[t - 1] == ' ')
			t--;
		bool clean = t > 0;
		for (size_t i = 0; i < t; i++)
			clean &= p[i] > 0x20 && p[i] < 0x7f;
		if (!clean) {
			gf_buf_puts(why, "must be a comma-separated list of host names, domains (.example.com), "
			                 "IP addresses or networks (10.0.0.0/8), or *, without empty entries, "
			                 "got ");
			show(why, v, strlen(v));
			return -EINVAL;
		}
		p += n;
		if (*p == ',' && *++p == '\0') {
			gf_buf_puts(why, "must not end with a comma, got ");
			show(why, v, strlen(v));
			return -EINVAL;
		}
	}
	return 0;
}

static int check_language(const char *v, struct gf_buf *why)
{
	if (v[0] >= 'a' && v[0] <= 'z' && v[1] >= 'a' && v[1] <= 'z' && v[2] == '\0')
		return 0;
	gf_buf_puts(why, "must be a two-letter lower-case ISO 639-1 code such as en or de, got ");
	show(why, v, strlen(v));
	return -EINVAL;
}

/* Placeholders a history message may use (expanded by template.c). */
static const char *const placeholders[] = {
	"partner", "job", "batch", "booking_no", "hotel_id", "run_id", "date",
};

/* A template whose placeholders are among names[n]. */
static int check_placeholders(const char *v, const char *const *names, size_t n, struct gf_buf *why)
{
	for (const char *p = v; *p; p++) {
		if (*p == '}') {
			gf_buf_puts(why, "has a '}' without a matching '{' (placeholders look like {partner})");
			return -EINVAL;
		}
		if (*p != '{')
			continue;
		const char *end = p + 1 + strcspn(p + 1, "{}");
		if (*end != '}') {
			gf_buf_puts(why, "has a '{' that is not closed by '}' (placeholders look like {partner})");
			return -EINVAL;
		}
		size_t len = (size_t)(end - p - 1);
		bool known = false;
		for (size_t i = 0; i < n; i++)
			if (strlen(names[i]) == len && strncmp(p + 1, names[i], len) == 0)
				known = true;
		if (!known) {
			gf_buf_puts(why, "has an unknown placeholder ");
			show(why, p, len + 2);
			gf_buf_puts(why, " (expected one of: ");
			for (size_t i = 0; i < n; i++)
				gf_buf_printf(why, "%s{%s}", i ? ", " : "", names[i]);
			gf_buf_puts(why, ")");
			return -EINVAL;
		}
		p = end;
	}
	return 0;
}

static int check_template(const char *v, struct gf_buf *why)
{
	return check_placeholders(v, placeholders, GF_ARRAY_SIZE(placeholders), why);
}

/* Placeholders of the entry written for a partner's event (pull.c). */
static const char *const event_placeholders[] = { "partner", "job", "booking_no", "event", "at", "reason" };

static int check_event_template(const char *v, struct gf_buf *why)
{
	return check_placeholders(v, event_placeholders, GF_ARRAY_SIZE(event_placeholders), why);
}

/* ---- the tables ------------------------------------------------------------ */

#define J(f) offsetof(struct gf_job, f)
#define C(f) offsetof(struct gf_config, f)
#define STR(n, fl, d, chk, off) \
	{ .name = (n), .type = K_STRING, .flags = (fl), .def = (d), .check = (chk), .offset = (off) }
#define BOOLEAN(n, d, off) { .name = (n), .type = K_BOOL, .def = (d), .offset = (off) }
#define INT(n, d, lo, hi, off) \
	{ .name = (n), .type = K_INT, .def = (d), .min = (lo), .max = (hi), .offset = (off) }
#define INT64(n, d, lo, hi, off) \
	{ .name = (n), .type = K_INT64, .def = (d), .min = (lo), .max = (hi), .offset = (off) }
#define DURATION(n, d, lo, off) \
	{ .name = (n), .type = K_DURATION, .def = (d), .min = (lo), .max = DURATION_MAX_MS, .offset = (off) }
#define ENUM(n, d, vals, off) { .name = (n), .type = K_ENUM, .def = (d), .enums = (vals), .offset = (off) }
#define FLAGS(n, vals, off) { .name = (n), .type = K_FLAGS, .enums = (vals), .offset = (off) }
#define LIST(n, d, chk, off) { .name = (n), .type = K_LIST, .def = (d), .check = (chk), .offset = (off) }
#define SECTION(n, s) { .name = (n), .type = K_SECTION, .sub = &(s) }
#define PARTNERS(n, s) { .name = (n), .type = K_PARTNERS, .sub = &(s) }
#define KEYS(t) (t), GF_ARRAY_SIZE(t)

static const struct enum_val compress_vals[] = {
	{ "none", GF_COMPRESS_NONE }, { "gzip", GF_COMPRESS_GZIP }, { NULL, 0 },
};
static const struct enum_val on_removed_vals[] = {
	{ "keep", GF_ON_REMOVED_KEEP }, { "deactivate", GF_ON_REMOVED_DEACTIVATE }, { NULL, 0 },
};
static const struct enum_val omit_vals[] = {
	{ "first_name", GF_OMIT_FIRST_NAME }, { "gender", GF_OMIT_GENDER }, { "language", GF_OMIT_LANGUAGE },
	{ "status", GF_OMIT_STATUS }, { "arrival", GF_OMIT_ARRIVAL }, { NULL, 0 },
};
static const struct enum_val level_vals[] = {
	{ "error", GF_LOG_ERROR }, { "warn", GF_LOG_WARN }, { "info", GF_LOG_INFO },
	{ "debug", GF_LOG_DEBUG }, { NULL, 0 },
};

static int validate_job(struct walk *w, void *obj, yaml_node_t *const *vals, const yaml_mark_t *where);
static int validate_retry(struct walk *w, void *obj, yaml_node_t *const *vals, const yaml_mark_t *where);
static int validate_main(struct walk *w, void *obj, yaml_node_t *const *vals, const yaml_mark_t *where);
static int validate_http(struct walk *w, void *obj, yaml_node_t *const *vals, const yaml_mark_t *where);
static int validate_database(struct walk *w, void *obj, yaml_node_t *const *vals, const yaml_mark_t *where);
static int validate_alerting(struct walk *w, void *obj, yaml_node_t *const *vals, const yaml_mark_t *where);

/* A PMS status as selection.statuses lists it: compared with the source
 * view's exactly, so white space around it would match nothing. */
static int check_status(const char *v, struct gf_buf *why)
{
	size_t n = strlen(v);
	if (n && !strchr(" \t\r\n", v[0]) && !strchr(" \t\r\n", v[n - 1]))
		return 0;
	gf_buf_puts(why, "must be a status as the source view gives it, without white space around it"
	            " (statuses are compared exactly; trim them in the view), got ");
	show(why, v, n);
	return -EINVAL;
}

/* schedule: a systemd calendar expression, written into a unit file by
 * 'guestflow timers': one line of printable text (a new line would add
 * directives of its own). 'guestflow timers' checks the expression itself
 * with systemd-analyze. */
static int check_schedule(const char *v, struct gf_buf *why)
{
	size_t n = strlen(v);
	bool ok = n && v[0] != ' ' && v[n - 1] != ' ';
	for (size_t i = 0; i < n && ok; i++)
		ok = (unsigned char)v[i] >= 0x20 && v[i] != 0x7f;
	if (ok)
		return 0;
	gf_buf_puts(why, "must be a systemd calendar expression on one line, without control characters or"
	            " spaces around it (e.g. \"*-*-* 03:15:00\" or daily), got ");
	show(why, v, n);
	return -EINVAL;
}

static const struct key selection_keys[] = {
	DURATION("window", "14d", 1, J(window_ms)),
	LIST("statuses", "checked_out", check_status, J(statuses)),
	STR("default_language", KF_NONEMPTY, "en", check_language, J(default_language)),
};
static const struct section selection_section = { "selection", KEYS(selection_keys), NULL };

static const struct key retention_keys[] = {
	DURATION("deliveries", "400d", 86400000, J(retention_ms)),
	/* (at least 30 days: an event the partner reports again after its row
	 * is gone is stored as a new one; a re-read comes days, not months,
	 * after the first, when the cursor or an acknowledgement was lost) */
	DURATION("events", "400d", (int64_t)30 * 86400000, J(events_retention_ms)),
};
static const struct section retention_section = { "retention", KEYS(retention_keys), NULL };

static const struct key batch_keys[] = {
	INT("max_records", "500", 1, 10000, J(max_records)),
	INT("in_flight", "4", 1, 64, J(in_flight)),
	ENUM("compress", "gzip", compress_vals, J(compress)),
	INT("gzip_level", "1", 1, 9, J(gzip_level)),
};
static const struct section batch_section = { "batch", KEYS(batch_keys), NULL };

static const struct key fields_keys[] = {
	FLAGS("omit", omit_vals, J(omit)),
};
static const struct section fields_section = { "fields", KEYS(fields_keys), NULL };

static const struct key http_keys[] = {
	DURATION("connect_timeout", "10s", 1, J(connect_timeout_ms)),
	DURATION("timeout", "120s", 1, J(timeout_ms)),
	INT64("low_speed_limit", "100", 0, INT32_MAX, J(low_speed_limit)),
	DURATION("low_speed_time", "30s", 1, J(low_speed_time_ms)),
	STR("ca_file", KF_NONEMPTY, NULL, NULL, J(ca_file)),
	INT64("max_reply_bytes", "1048576", 1024, 67108864, J(max_reply_bytes)),
	STR("proxy", KF_NONEMPTY | KF_SECRET, NULL, check_proxy, J(proxy)),
	STR("no_proxy", KF_NONEMPTY, NULL, check_no_proxy, J(no_proxy)),
};
static const struct section http_section = { "http", KEYS(http_keys), validate_http };

/* The job's SFTP account (visits-csv): validate_job checks it whole. */
static const struct key sftp_keys[] = {
	STR("user", KF_NONEMPTY, NULL, NULL, J(sftp_user)),
	STR("private_key_file", KF_NONEMPTY, NULL, NULL, J(sftp_private_key_file)),
	STR("password_file", KF_NONEMPTY, NULL, NULL, J(sftp_password_file)),
	STR("known_hosts_file", KF_NONEMPTY, NULL, NULL, J(sftp_known_hosts_file)),
};
static const struct section sftp_section = { "sftp", KEYS(sftp_keys), NULL };

static const struct key retry_keys[] = {
	INT("max_attempts", "8", 1, 100, J(max_attempts)),
	DURATION("backoff_initial", "30s", 1, J(backoff_initial_ms)),
	DURATION("backoff_max", "6h", 1, J(backoff_max_ms)),
	DURATION("retry_after_max", "1h", 1, J(retry_after_max_ms)),
	DURATION("linger", "2m", 0, J(linger_ms)),
};
static const struct section retry_section = { "retry", KEYS(retry_keys), validate_retry };

static const struct key ping_keys[] = {
	STR("start", KF_NONEMPTY, NULL, check_ping_url, J(ping_start)),
	STR("success", KF_NONEMPTY, NULL, check_ping_url, J(ping_success)),
	STR("failure", KF_NONEMPTY, NULL, check_ping_url, J(ping_failure)),
};
static const struct section ping_section = { "ping", KEYS(ping_keys), NULL };

/* The entries 'guestflow pull' writes, one per event type (seed 004's
 * status updates); the defaults say what happened, when and through what. */
static const struct key event_keys[] = {
	STR("invited", KF_NONEMPTY, "{partner} invited the guest to review ({at}, job {job})", check_event_template,
	    J(event_message[0])),
	STR("bounced", KF_NONEMPTY, "{partner}: the guest's e-mail address bounced; no partner is sent it again"
	    " ({at}, job {job})", check_event_template, J(event_message[1])),
	STR("reviewed", KF_NONEMPTY, "{partner}: the guest wrote a review ({at}, job {job})", check_event_template,
	    J(event_message[2])),
	STR("unsubscribed", KF_NONEMPTY, "{partner}: the guest unsubscribed; no partner is sent the address again"
	    " ({at}, job {job})", check_event_template, J(event_message[3])),
	STR("rejected", KF_NONEMPTY, "{partner} could not import the guest: {reason} ({at}, job {job})",
	    check_event_template, J(event_message[4])),
};
static const struct section events_section = { "events", KEYS(event_keys), NULL };

static const struct key history_keys[] = {
	STR("message", KF_REQUIRED | KF_NONEMPTY, NULL, check_template, J(history_message)),
	SECTION("events", events_section),
};
static const struct section history_section = { "history", KEYS(history_keys), NULL };

static const struct key job_keys[] = {
	STR("name", KF_REQUIRED | KF_NONEMPTY, NULL, check_job_name, J(name)),
	STR("description", 0, NULL, NULL, J(description)),
	BOOLEAN("enabled", "true", J(enabled)),
	STR("partner", KF_REQUIRED | KF_NONEMPTY, NULL, check_partner, J(partner)),
	STR("format", KF_REQUIRED | KF_NONEMPTY, NULL, check_format, J(format)),
	STR("endpoint", KF_REQUIRED | KF_NONEMPTY, NULL, check_endpoint, J(endpoint)),
	BOOLEAN("allow_insecure_http", "false", J(allow_insecure_http)),
	STR("schedule", KF_NONEMPTY, "daily", check_schedule, J(schedule)),
	SECTION("selection", selection_section),
	SECTION("batch", batch_section),
	SECTION("http", http_section),
	SECTION("sftp", sftp_section),
	SECTION("retry", retry_section),
	DURATION("lease", "10m", 10000, J(lease_ms)),
	DURATION("stop_timeout", "30s", 0, J(stop_timeout_ms)),
	SECTION("ping", ping_section),
	SECTION("history", history_section),
	SECTION("retention", retention_section),
	SECTION("fields", fields_section),
	ENUM("on_removed", "keep", on_removed_vals, J(on_removed)),
};
static const struct section job_section = { NULL, KEYS(job_keys), validate_job };

static const struct key database_keys[] = {
	STR("conninfo", KF_REQUIRED | KF_NONEMPTY | KF_SECRET, NULL, NULL, C(conninfo)),
	/* (at most what PostgreSQL's lock_timeout takes, INT_MAX ms, in whole
	 * days; at least what guestflow's own sessions may wait for one another) */
	{ .name = "lock_timeout", .type = K_DURATION, .def = "10s", .min = 100, .max = (int64_t)24 * 86400 * 1000,
	  .offset = C(lock_timeout_ms) },
};
static const struct section database_section = { "database", KEYS(database_keys), validate_database };

static const struct key logging_keys[] = {
	ENUM("level", "info", level_vals, C(log_level)),
};
static const struct section logging_section = { "logging", KEYS(logging_keys), NULL };

static const struct key api_log_keys[] = {
	DURATION("retention", "90d", 86400000, C(api_log_retention_ms)),
};
static const struct section api_log_section = { "api_log", KEYS(api_log_keys), NULL };

static const struct key alerting_keys[] = {
	STR("smtp_url", KF_NONEMPTY | KF_SECRET, NULL, check_smtp_url, C(smtp_url)),
	STR("smtp_user", KF_NONEMPTY, NULL, NULL, C(smtp_user)),
	STR("smtp_password_file", KF_NONEMPTY, NULL, NULL, C(smtp_password_file)),
	STR("from", KF_NONEMPTY, "guestflow@localhost", NULL, C(mail_from)),
	INT("failed_runs", "3", 1, 1000, C(failed_runs)),
	INT("failed_pulls", "3", 1, 1000, C(failed_pulls)),
};
static const struct section alerting_section = { "alerting", KEYS(alerting_keys), validate_alerting };

static const struct key metrics_keys[] = {
	STR("textfile_dir", KF_NONEMPTY, NULL, NULL, C(metrics_dir)),
};
static const struct section metrics_section = { "metrics", KEYS(metrics_keys), NULL };

/* secrets.key_file: the key that encrypts the access keys stored in the
 * database (src/core/secret.c); absolute, since guestflow runs from anywhere. */
static int check_key_file(const char *v, struct gf_buf *why)
{
	if (v[0] == '/')
		return 0;
	gf_buf_puts(why, "must be an absolute path, got ");
	show(why, v, strlen(v));
	return -EINVAL;
}
static const struct key secrets_keys[] = {
	STR("key_file", KF_NONEMPTY, GF_SECRETS_KEY_FILE_DEFAULT, check_key_file, C(secrets_key_file)),
};
static const struct section secrets_section = { "secrets", KEYS(secrets_keys), NULL };

/* partners.ID: where the partner hears of its connections' changes (issue
 * 17 item 5), unless a connection names its own address. */
#define P(f) offsetof(struct gf_partner_address, f)
static const struct key partner_keys[] = {
	STR("email", KF_REQUIRED | KF_NONEMPTY, NULL, check_email, P(email)),
};
#undef P
static const struct section partner_section = { "partners", KEYS(partner_keys), NULL };

static const struct key main_keys[] = {
	SECTION("database", database_section),
	STR("jobs_dir", KF_NONEMPTY, "jobs.d", NULL, C(jobs_dir)),
	SECTION("logging", logging_section),
	SECTION("api_log", api_log_section),
	SECTION("alerting", alerting_section),
	SECTION("metrics", metrics_section),
	SECTION("secrets", secrets_section),
	PARTNERS("partners", partner_section),
};
static const struct section main_section = { NULL, KEYS(main_keys), validate_main };

/* ---- the tables, printed -------------------------------------------------- */

static bool section_required(const struct section *s);

/* A duration in the largest unit that writes it exactly (the file's syntax). */
static void print_duration(FILE *out, int64_t ms)
{
	static const struct { const char *unit; int64_t ms; } units[] = {
		{ "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 },
	};
	for (size_t i = 0; i < GF_ARRAY_SIZE(units); i++)
		if (ms && ms % units[i].ms == 0) {
			fprintf(out, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	fprintf(out, ms ? "%lldms" : "%lld", (long long)ms);
}

static void print_section_keys(FILE *out, const char *scope, const char *prefix, const struct section *s)
{
	for (size_t i = 0; i < s->n_keys; i++) {
		const struct key *k = &s->keys[i];
		char path[256];
		snprintf(path, sizeof(path), "%s%s", prefix, k->name);
		static const char *const types[] = { "string", "boolean", "integer", "integer", "duration", "enum",
		                                     "flags", "list", "section", "map" };
		bool required = k->flags & KF_REQUIRED || (k->type == K_SECTION && section_required(k->sub));
		fprintf(out, "%s\t%s\t%s\t%s\t%s\t", scope, path, types[k->type], required ? "required" : "optional",
		        k->def ? k->def : "");
		switch (k->type) {
		case K_INT:
		case K_INT64:
			fprintf(out, "%lld..%lld", (long long)k->min, (long long)k->max);
			break;
		case K_DURATION:
			fputs("at least ", out);
			print_duration(out, k->min);
			break;
		case K_ENUM:
		case K_FLAGS:
			for (const struct enum_val *e = k->enums; e->name; e++)
				fprintf(out, "%s%s", e == k->enums ? "" : "|", e->name);
			break;
		default:
			break;
		}
		fputc('\n', out);
		char sub[sizeof(path) + 4];
		if (k->type == K_SECTION) {
			snprintf(sub, sizeof(sub), "%s.", path);
			print_section_keys(out, scope, sub, k->sub);
		} else if (k->type == K_PARTNERS) {
			snprintf(sub, sizeof(sub), "%s.*.", path);
			print_section_keys(out, scope, sub, k->sub);
		}
	}
}

void gf_config_print_keys(FILE *out)
{
	print_section_keys(out, "main", "", &main_section);
	print_section_keys(out, "job", "", &job_section);
}

/* ---- setting values ------------------------------------------------------- */

static void *field(void *obj, const struct key *k)
{
	return (char *)obj + k->offset;
}

static bool section_required(const struct section *s)
{
	for (size_t i = 0; i < s->n_keys; i++)
		if (s->keys[i].flags & KF_REQUIRED)
			return true;
	return false;
}

static bool key_required(const struct key *k)
{
	return k->type == K_SECTION ? section_required(k->sub) : (k->flags & KF_REQUIRED) != 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };
	for (size_t i = 0; i < GF_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Convert s and store it in obj; on error append "must …, got …" to why. */
static int set_value(const struct key *k, void *obj, const char *s, struct gf_buf *why)
{
	int64_t v = 0;
	int r = 0;

	switch (k->type) {
	case K_STRING: {
		if ((k->flags & KF_NONEMPTY) && s[strspn(s, " \t\r\n")] == '\0') {
			gf_buf_puts(why, "must not be empty");
			return -EINVAL;
		}
		if (k->check && (r = k->check(s, why)) < 0)
			return r;
		char **p = field(obj, k);
		free(*p);
		*p = gf_xstrdup(s);
		return 0;
	}
	case K_BOOL: {
		bool b;
		if (parse_bool(s, &b) < 0)
			break;
		*(bool *)field(obj, k) = b;
		return 0;
	}
	case K_INT:
	case K_INT64:
		if (gf_parse_int64(s, &v) < 0 || v < k->min || v > k->max)
			break;
		if (k->type == K_INT)
			*(int *)field(obj, k) = (int)v;
		else
			*(int64_t *)field(obj, k) = v;
		return 0;
	case K_DURATION:
		r = gf_parse_duration_ms(s, &v);
		if (r == -ERANGE || (r == 0 && v > k->max)) {
			char d[32];
			fmt_duration(k->max, d, sizeof(d));
			gf_buf_printf(why, "must be a duration of at most %s, got ", d);
			show(why, s, strlen(s));
			return -EINVAL;
		}
		if (r < 0 || v < k->min)
			break;
		*(int64_t *)field(obj, k) = v;
		return 0;
	case K_ENUM:
		for (const struct enum_val *e = k->enums; e->name; e++)
			if (strcmp(s, e->name) == 0) {
				*(int *)field(obj, k) = e->value;
				return 0;
			}
		break;
	case K_LIST: {
		/* a scalar is a list of one (walk_value takes sequences) */
		if (s[strspn(s, " \t\r\n")] == '\0')
			break;
		if (strchr(s, ',')) {
			gf_buf_puts(why, "must be a list, written [a, b] or one item a line, got ");
			show(why, s, strlen(s));
			return -EINVAL;
		}
		if (k->check && (r = k->check(s, why)) < 0)
			return r;
		struct gf_strv *l = field(obj, k);
		gf_strv_free(l);
		l->v = gf_xcalloc(2, sizeof(*l->v));
		l->v[0] = gf_xstrdup(s);
		l->n = 1;
		return 0;
	}
	case K_FLAGS:
		/* a list, one scalar at a time (walk_value); "" is the empty list */
		if (!*s) {
			*(unsigned *)field(obj, k) = 0;
			return 0;
		}
		break;
	case K_SECTION:
	case K_PARTNERS:
		return -EINVAL; /* not a scalar; handled by the walker */
	}
	gf_buf_puts(why, "must be ");
	describe(why, k);
	gf_buf_puts(why, ", got ");
	if (k->flags & KF_SECRET)
		gf_buf_puts(why, "a value not shown here");
	else
		show(why, s, strlen(s));
	return -EINVAL;
}

static void apply_defaults(const struct section *s, void *obj)
{
	for (size_t i = 0; i < s->n_keys; i++) {
		const struct key *k = &s->keys[i];
		if (k->type == K_SECTION) {
			apply_defaults(k->sub, obj);
		} else if (k->def) {
			_cleanup_buf_ struct gf_buf why = GF_BUF_INIT(MSG_MAX);
			if (set_value(k, obj, k->def, &why) < 0)
				abort(); /* a bad default in the table above */
		}
	}
}

static void free_strings(const struct section *s, void *obj)
{
	for (size_t i = 0; i < s->n_keys; i++) {
		const struct key *k = &s->keys[i];
		if (k->type == K_SECTION)
			free_strings(k->sub, obj);
		else if (k->type == K_STRING)
			*(char **)field(obj, k) = gf_free(*(char **)field(obj, k));
		else if (k->type == K_LIST)
			gf_strv_free(field(obj, k));
	}
}

/* ---- walking the document -------------------------------------------------- */

static yaml_node_t *get_node(struct walk *w, int id)
{
	return yaml_document_get_node(w->doc, id);
}

/* A plain empty value, "~" or "null": the key is there but holds nothing. */
static bool is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = (const char *)n->data.scalar.value;
	return n->data.scalar.length == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static int walk_section(struct walk *w, const struct section *s, void *obj, yaml_node_t *map,
                        const yaml_mark_t *where);

/* A K_LIST given as a sequence: every item a non-empty scalar that passes
 * the key's check, none twice, at least one. */
static int walk_list(struct walk *w, const struct key *k, void *obj, yaml_node_t *val)
{
	_cleanup_buf_ struct gf_buf why = GF_BUF_INIT(MSG_MAX);
	size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
	struct gf_strv l = { gf_xcalloc(n + 1, sizeof(*l.v)), 0 };
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		yaml_node_t *e = get_node(w, val->data.sequence.items.start[i]);
		const yaml_mark_t *at = e ? &e->start_mark : &val->start_mark;
		if (!e || e->type != YAML_SCALAR_NODE || is_null(e)) {
			r = fail(w, at, "'%s' must be %s, got %s", k->name, "a list of non-empty text values",
			         e ? node_kind(e) : "nothing");
			break;
		}
		const char *s = (const char *)e->data.scalar.value;
		if (strlen(s) != e->data.scalar.length) {
			r = fail(w, at, "'%s' must not contain NUL characters", k->name);
			break;
		}
		if (s[strspn(s, " \t\r\n")] == '\0') {
			r = fail(w, at, "'%s' must not hold an empty item", k->name);
			break;
		}
		if (k->check && k->check(s, &why) < 0) {
			r = fail(w, at, "'%s' %s", k->name, gf_buf_str(&why));
			break;
		}
		for (size_t j = 0; j < l.n; j++)
			if (strcmp(l.v[j], s) == 0) {
				show(&why, s, strlen(s));
				r = fail(w, at, "'%s' lists %s twice", k->name, gf_buf_str(&why));
				break;
			}
		if (r == 0)
			l.v[l.n++] = gf_xstrdup(s);
	}
	if (r == 0 && l.n == 0)
		r = fail(w, &val->start_mark, "'%s' must list at least one value", k->name);
	if (r < 0) {
		gf_strv_free(&l);
		return r;
	}
	gf_strv_free(field(obj, k));
	*(struct gf_strv *)field(obj, k) = l;
	return 0;
}

/* partners: each partner id once, each entry walked as a section of its
 * own into cfg->partners. */
static int walk_partners(struct walk *w, const struct key *k, struct gf_config *cfg, yaml_node_t *val)
{
	_cleanup_buf_ struct gf_buf why = GF_BUF_INIT(MSG_MAX);
	if (is_null(val))
		return 0;
	if (val->type != YAML_MAPPING_NODE) {
		describe(&why, k);
		return fail(w, &val->start_mark, "'%s' must be %s, got %s", k->name, gf_buf_str(&why), node_kind(val));
	}
	for (yaml_node_pair_t *pair = val->data.mapping.pairs.start; pair < val->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = get_node(w, pair->key), *vn = get_node(w, pair->value);
		if (!kn || !vn)
			return fail(w, &val->start_mark, "malformed mapping");
		if (kn->type != YAML_SCALAR_NODE)
			return fail(w, &kn->start_mark, "a partner id in 'partners' must be a plain name, got %s",
			            node_kind(kn));
		const char *id = (const char *)kn->data.scalar.value;
		if (strlen(id) != kn->data.scalar.length || check_partner(id, &why) < 0)
			return fail(w, &kn->start_mark, "a partner id in 'partners' %s",
			            why.len ? gf_buf_str(&why) : "must not contain NUL characters");
		for (size_t i = 0; i < cfg->n_partners; i++)
			if (strcmp(cfg->partners[i].partner, id) == 0)
				return fail(w, &kn->start_mark, "duplicate partner '%s' in 'partners'", id);
		if (vn->type != YAML_MAPPING_NODE) {
			list_keys(&why, k->sub, false);
			return fail(w, &vn->start_mark, "'partners.%s' must be a mapping with keys %s, got %s", id,
			            gf_buf_str(&why), is_null(vn) ? "nothing" : node_kind(vn));
		}
		cfg->partners = gf_xrealloc(cfg->partners, (cfg->n_partners + 1) * sizeof(*cfg->partners));
		struct gf_partner_address *p = &cfg->partners[cfg->n_partners++];
		*p = (struct gf_partner_address){ .partner = gf_xstrdup(id) };
		int r = walk_section(w, k->sub, p, vn, &kn->start_mark);
		if (r < 0)
			return r;
	}
	return 0;
}

static int walk_value(struct walk *w, const struct key *k, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	_cleanup_buf_ struct gf_buf why = GF_BUF_INIT(MSG_MAX);

	if (k->type == K_PARTNERS)
		return walk_partners(w, k, obj, val);

	if (k->type == K_SECTION) {
		if (val->type == YAML_MAPPING_NODE)
			return walk_section(w, k->sub, obj, val, &key->start_mark);
		if (is_null(val))
			return walk_section(w, k->sub, obj, NULL, &key->start_mark);
		describe(&why, k);
		return fail(w, &val->start_mark, "'%s' must be %s, got %s", k->name, gf_buf_str(&why),
		            node_kind(val));
	}

	if (k->type == K_FLAGS && val->type == YAML_SEQUENCE_NODE) {
		unsigned bits = 0;
		for (yaml_node_item_t *it = val->data.sequence.items.start; it < val->data.sequence.items.top; it++) {
			yaml_node_t *e = get_node(w, *it);
			const struct enum_val *v = NULL;
			for (const struct enum_val *x = k->enums; e && e->type == YAML_SCALAR_NODE && x->name; x++)
				if (strlen(x->name) == e->data.scalar.length &&
				    memcmp(x->name, e->data.scalar.value, e->data.scalar.length) == 0)
					v = x;
			if (!v) {
				describe(&why, k);
				gf_buf_puts(&why, ", got ");
				if (e && e->type == YAML_SCALAR_NODE)
					show(&why, (const char *)e->data.scalar.value, e->data.scalar.length);
				else
					gf_buf_puts(&why, e ? node_kind(e) : "nothing");
				return fail(w, e ? &e->start_mark : &val->start_mark, "'%s' must be %s", k->name,
				            gf_buf_str(&why));
			}
			bits |= (unsigned)v->value;
		}
		*(unsigned *)field(obj, k) = bits;
		return 0;
	}
	if (k->type == K_LIST && val->type == YAML_SEQUENCE_NODE)
		return walk_list(w, k, obj, val);
	if (val->type != YAML_SCALAR_NODE) {
		describe(&why, k);
		return fail(w, &val->start_mark, "'%s' must be %s, got %s", k->name, gf_buf_str(&why),
		            node_kind(val));
	}
	const char *s = (const char *)val->data.scalar.value;
	if (strlen(s) != val->data.scalar.length)
		return fail(w, &val->start_mark, "'%s' must not contain NUL characters", k->name);
	if (is_null(val))
		s = "";
	if (set_value(k, obj, s, &why) < 0)
		return fail(w, &val->start_mark, "'%s' %s", k->name, gf_buf_str(&why));
	return 0;
}

/* Walk one mapping (map NULL: the section was omitted or left empty). */
static int walk_section(struct walk *w, const struct section *s, void *obj, yaml_node_t *map,
                        const yaml_mark_t *where)
{
	yaml_node_t *keys[MAX_KEYS] = { NULL }, *vals[MAX_KEYS] = { NULL };
	_cleanup_buf_ struct gf_buf b = GF_BUF_INIT(MSG_MAX);
	int r;

	if (s->n_keys > MAX_KEYS)
		abort(); /* raise MAX_KEYS */

	for (yaml_node_pair_t *pair = map ? map->data.mapping.pairs.start : NULL;
	     map && pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = get_node(w, pair->key), *vn = get_node(w, pair->value);
		if (!kn || !vn)
			return fail(w, &map->start_mark, "malformed mapping");
		if (kn->type != YAML_SCALAR_NODE)
			return fail(w, &kn->start_mark, "a key must be a plain name, got %s", node_kind(kn));
		const char *name = (const char *)kn->data.scalar.value;

		size_t i = 0;
		while (i < s->n_keys && !(strlen(name) == kn->data.scalar.length &&
		                          strcmp(name, s->keys[i].name) == 0))
			i++;
		if (i == s->n_keys) {
			show(&b, name, kn->data.scalar.length);
			gf_buf_puts(&b, s->name ? " in '" : " at the top level");
			if (s->name)
				gf_buf_printf(&b, "%s'", s->name);
			gf_buf_puts(&b, " (expected one of: ");
			list_keys(&b, s, false);
			return fail(w, &kn->start_mark, "unknown key %s)", gf_buf_str(&b));
		}
		if (keys[i])
			return fail(w, &kn->start_mark, "duplicate key '%s' %s%s%s (first given at line %zu)",
			            name, s->name ? "in '" : "at the top level", s->name ? s->name : "",
			            s->name ? "'" : "", keys[i]->start_mark.line + 1);
		keys[i] = kn;
		vals[i] = vn;
		if ((r = walk_value(w, &s->keys[i], obj, kn, vn)) < 0)
			return r;
	}

	for (size_t i = 0; i < s->n_keys; i++) {
		const struct key *k = &s->keys[i];
		if (keys[i] || !key_required(k))
			continue;
		if (s->name)
			gf_buf_printf(&b, " in '%s'", s->name);
		if (k->type == K_SECTION) {
			gf_buf_puts(&b, " (a mapping with ");
			list_keys(&b, k->sub, true);
			gf_buf_puts(&b, ")");
		}
		return fail(w, where, "missing required key '%s'%s", k->name, gf_buf_str(&b));
	}

	return s->validate ? s->validate(w, obj, vals, where) : 0;
}

static size_t key_index(const struct section *s, const char *name)
{
	for (size_t i = 0; i < s->n_keys; i++)
		if (strcmp(s->keys[i].name, name) == 0)
			return i;
	abort(); /* a name missing from the table */
}

/* The value node of key name in the mapping map (NULL when absent). */
static yaml_node_t *mapping_value(struct walk *w, yaml_node_t *map, const char *name)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = get_node(w, pair->key);
		if (kn && kn->type == YAML_SCALAR_NODE && strcmp((const char *)kn->data.scalar.value, name) == 0)
			return get_node(w, pair->value);
	}
	return NULL;
}

static bool plain_http(const char *url)
{
	return url && strncmp(url, "http://", 7) == 0;
}

/* Partner endpoints and pings go over TLS: the access key travels in the
 * endpoint's URL. Plain http:// is for a test partner on the same machine,
 * and only when the job says so. */
static int check_insecure_http(struct walk *w, const struct gf_job *job, yaml_node_t *const *vals,
                               const yaml_mark_t *where)
{
	static const char allow[] = "plain http:// is allowed only with 'allow_insecure_http: true', "
	                            "meant for a test partner on this machine";
	if (job->allow_insecure_http)
		return 0;
	if (plain_http(job->endpoint)) {
		yaml_node_t *n = vals[key_index(&job_section, "endpoint")];
		return fail(w, n ? &n->start_mark : where, "'endpoint' must start with https:// (the access "
		            "keys travel in its URL): %s", allow);
	}
	const struct { const char *key; const char *url; } pings[] = {
		{ "start", job->ping_start }, { "success", job->ping_success }, { "failure", job->ping_failure },
	};
	for (size_t i = 0; i < GF_ARRAY_SIZE(pings); i++) {
		if (!plain_http(pings[i].url))
			continue;
		yaml_node_t *n = mapping_value(w, vals[key_index(&job_section, "ping")], pings[i].key);
		return fail(w, n ? &n->start_mark : where, "'%s' in 'ping' must start with https://: %s",
		            pings[i].key, allow);
	}
	return 0;
}

/* The endpoint's scheme is the format's, and a format sent over SFTP has
 * its account: a user, a private key or a password file (one of them), and
 * the known_hosts file that the server's host key must be in (never
 * learned); the files readable now. A format over HTTPS has no sftp
 * section. */
static int check_transport(struct walk *w, const struct gf_job *job, yaml_node_t *const *vals,
                           const yaml_mark_t *where)
{
	yaml_node_t *ep = vals[key_index(&job_section, "endpoint")];
	yaml_node_t *sec = vals[key_index(&job_section, "sftp")];
	bool sftp = strcmp(job->output->scheme, "sftp") == 0;
	bool is_sftp_url = strncmp(job->endpoint, "sftp://", 7) == 0;
	if (sftp != is_sftp_url)
		return fail(w, ep ? &ep->start_mark : where, "'endpoint' of a %s job must start with %s, got %s",
		            job->output->name, sftp ? "sftp://" : "https://", job->endpoint);
	if (!sftp) {
		if (sec)
			return fail(w, &sec->start_mark, "'sftp' is for a format sent over SFTP (visits-csv), not %s",
			            job->output->name);
		return 0;
	}
	size_t l = strlen(job->endpoint);
	if (job->endpoint[l - 1] != '/')
		return fail(w, ep ? &ep->start_mark : where, "'endpoint' of a %s job names a directory: it ends"
		            " with '/' (sftp://host[:port]/path/to/dir/), got %s", job->output->name, job->endpoint);
	if (strchr(job->endpoint + 7, '@') && strchr(job->endpoint + 7, '@') < strchr(job->endpoint + 7, '/'))
		return fail(w, ep ? &ep->start_mark : where, "'endpoint' names no user: the account is 'sftp.user'"
		            " (and its key or password file)");
	if (!sec)
		return fail(w, where, "a %s job needs an 'sftp' section: user, private_key_file or password_file,"
		            " known_hosts_file", job->output->name);
	if (!job->sftp_user || !job->sftp_known_hosts_file)
		return fail(w, &sec->start_mark, "'sftp' needs '%s' (the server's host key is always checked against"
		            " a known_hosts file, never learned)", job->sftp_user ? "known_hosts_file" : "user");
	if (!job->sftp_private_key_file == !job->sftp_password_file)
		return fail(w, &sec->start_mark, "'sftp' needs one of 'private_key_file' and 'password_file'%s",
		            job->sftp_private_key_file ? ", not both" : "");
	const struct { const char *key, *path; } files[] = {
		{ "known_hosts_file", job->sftp_known_hosts_file },
		{ "private_key_file", job->sftp_private_key_file },
		{ "password_file", job->sftp_password_file },
	};
	for (size_t i = 0; i < GF_ARRAY_SIZE(files); i++)
		if (files[i].path && access(files[i].path, R_OK) < 0) {
			int e = errno;
			yaml_node_t *n = mapping_value(w, sec, files[i].key);
			return fail(w, n ? &n->start_mark : &sec->start_mark, "'sftp.%s' %s cannot be read: %s",
			            files[i].key, files[i].path, strerror(e));
		}
	if (job->sftp_password_file) {
		char *pw = NULL;
		int r = gf_read_first_line(job->sftp_password_file, &pw);
		if (pw) {
			explicit_bzero(pw, strlen(pw));
			free(pw);
		}
		if (r < 0) {
			yaml_node_t *n = mapping_value(w, sec, "password_file");
			return fail(w, n ? &n->start_mark : &sec->start_mark, "'sftp.password_file' %s %s",
			            job->sftp_password_file, r == -ENODATA ? "holds no password on its first line" :
			            "cannot be read");
		}
	}
	return 0;
}

static int validate_job(struct walk *w, void *obj, yaml_node_t *const *vals, const yaml_mark_t *where)
{
	struct gf_job *job = obj;
	job->output = gf_output_find(job->format); /* (check_format: one of them) */
	/* Fields the format cannot do without (its schema requires them). */
	unsigned cannot = job->output ? job->omit & ~job->output->omittable : 0;
	if (cannot) {
		yaml_node_t *at = vals[key_index(&job_section, "fields")];
		const char *name = "?";
		for (const struct enum_val *e = omit_vals; e->name; e++)
			if (cannot & (unsigned)e->value) {
				name = e->name;
				break;
			}
		return fail(w, at ? &at->start_mark : where,
		            "'fields.omit' cannot leave out %s in %s: the format requires it (its contract, README"
		            " \"Partner formats\")", name, job->output->name);
	}
	if (job->output) {
		int r = check_transport(w, job, vals, where);
		if (r < 0)
			return r;
	}
	/* The format's own limit on a request (PARTNERS.md "largest batch"). */
	if (job->output && job->output->max_records && job->max_records > job->output->max_records) {
		yaml_node_t *at = vals[key_index(&job_section, "batch")];
		return fail(w, at ? &at->start_mark : where,
		            "'batch.max_records' (%d) is more than a %s request may hold (%lld guests)",
		            job->max_records, job->output->name, (long long)job->output->max_records);
	}
	/* A request still running when its lease ends could be sent twice at once. */
	if (job->lease_ms <= job->timeout_ms + job->connect_timeout_ms) {
		yaml_node_t *at = vals[key_index(&job_section, "lease")];
		return fail(w, at ? &at->start_mark : where,
		            "'lease' (%lld s) must be longer than http.timeout plus http.connect_timeout (%lld s)",
		            (long long)(job->lease_ms / 1000),
		            (long long)((job->timeout_ms + job->connect_timeout_ms) / 1000));
	}
	/* A delivery purged while its booking may still be planned would be
	 * planned, and sent, again. */
	if (job->retention_ms <= job->window_ms) {
		yaml_node_t *at = vals[key_index(&job_section, "retention")];
		if (!at)
			at = vals[key_index(&job_section, "selection")];
		char a[32], b[32];
		fmt_duration(job->retention_ms, a, sizeof(a));
		fmt_duration(job->window_ms, b, sizeof(b));
		return fail(w, at ? &at->start_mark : where,
		            "'retention.deliveries' (%s) must be longer than 'selection.window' (%s): a delivery"
		            " purged while its booking is still inside the window would be sent again", a, b);
	}
	if (w->name_hint && strcmp(job->name, w->name_hint) != 0) {
		_cleanup_buf_ struct gf_buf b = GF_BUF_INIT(MSG_MAX);
		show(&b, w->name_hint, strlen(w->name_hint));
		return fail(w, &vals[key_index(&job_section, "name")]->start_mark,
		            "'name' is '%s' but must equal the file name without .yaml (%s)", job->name,
		            gf_buf_str(&b));
	}
	return check_insecure_http(w, job, vals, where);
}

static int validate_retry(struct walk *w, void *obj, yaml_node_t *const *vals, const yaml_mark_t *where)
{
	const struct gf_job *job = obj;
	if (job->backoff_max_ms >= job->backoff_initial_ms)
		return 0;
	yaml_node_t *n = vals[key_index(&retry_section, "backoff_max")];
	if (!n)
		n = vals[key_index(&retry_section, "backoff_initial")];
	char a[32], b[32];
	fmt_duration(job->backoff_max_ms, a, sizeof(a));
	fmt_duration(job->backoff_initial_ms, b, sizeof(b));
	return fail(w, n ? &n->start_mark : where,
	            "'backoff_max' (%s) must not be less than 'backoff_initial' (%s)", a, b);
}

static int validate_http(struct walk *w, void *obj, yaml_node_t *const *vals, const yaml_mark_t *where)
{
	struct gf_job *job = obj;
	(void)where;
	if (!job->no_proxy)
		return 0;
	if (!job->proxy)
		return fail(w, &vals[key_index(&http_section, "no_proxy")]->start_mark,
		            "'no_proxy' in 'http' has no effect without 'proxy': guestflow uses a proxy only "
		            "when http.proxy names one (http_proxy, https_proxy, all_proxy and no_proxy in "
		            "the environment are ignored)");
	/* libcurl's list has no spaces; "a, b" is written as "a,b". */
	char *d = job->no_proxy;
	for (const char *p = job->no_proxy; *p; p++)
		if (*p != ' ')
			*d++ = *p;
	*d = '\0';
	return 0;
}

/* libpq's own rule for PQconnectdbParams(expand_dbname): a value with '=' or
 * a URI prefix is a connection string, anything else a database name. */
static bool is_conn_string(const char *v)
{
	return strchr(v, '=') || strncmp(v, "postgresql://", 13) == 0 || strncmp(v, "postgres://", 11) == 0;
}

/* A libpq message about a connection string, its first line, with every
 * "quoted" part left out: libpq quotes the pieces it could not read, and a
 * piece of a malformed string may be a password. */
static void hide_quoted(struct gf_buf *b, const char *msg)
{
	const char *p = msg;
	while (*p && *p != '\n') {
		const char *close = *p == '"' ? strchr(p + 1, '"') : NULL;
		if (!close) {
			gf_buf_append(b, p++, 1);
			continue;
		}
		/* A lone punctuation mark ("=", "]") is libpq's own syntax: kept. */
		bool syntax = close == p + 2 && ispunct((unsigned char)p[1]);
		gf_buf_append(b, syntax ? p : "\"...\"", syntax ? 3 : 5);
		p = close + 1;
	}
}

/* database.conninfo: parsed by libpq itself (PQconninfoParse), as
 * gf_db_connect() will use it. A password is refused whatever the file's
 * mode: libpq takes it from PGPASSFILE, PGPASSWORD or the systemd credential
 * instead. Another secret option (libpq marks them with dispchar '*': today
 * sslpassword, the client key's pass phrase, which libpq takes from nowhere
 * else) is accepted only in a file that group and others cannot read. */
static int validate_database(struct walk *w, void *obj, yaml_node_t *const *vals, const yaml_mark_t *where)
{
	const struct gf_config *cfg = obj;
	yaml_node_t *n = vals[key_index(&database_section, "conninfo")];
	const yaml_mark_t *at = n ? &n->start_mark : where;
	if (!cfg->conninfo || !is_conn_string(cfg->conninfo))
		return 0;

	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(cfg->conninfo, &perr);
	if (!opts) {
		_cleanup_buf_ struct gf_buf b = GF_BUF_INIT(MSG_MAX);
		hide_quoted(&b, perr ? perr : "out of memory");
		PQfreemem(perr);
		return fail(w, at, "'conninfo' is not a connection string libpq can read: %s (the parts libpq "
		            "quoted are not shown here: they could be part of a password)", gf_buf_str(&b));
	}
	bool password = false;
	char secret[64] = "";
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val)
			continue;
		if (*o->val && o->dispchar && strchr(o->dispchar, '*')) {
			if (strcmp(o->keyword, "password") == 0)
				password = true;
			else if (!*secret)
				snprintf(secret, sizeof(secret), "%s", o->keyword);
		}
		explicit_bzero(o->val, strlen(o->val));
	}
	PQconninfoFree(opts);

	_cleanup_buf_ struct gf_buf mode = GF_BUF_INIT(MSG_MAX);
	bool readable = w->have_mode && (w->mode & (S_IRGRP | S_IROTH));
	if (readable)
		gf_buf_printf(&mode, "%s is readable by group or others (mode %04o)", w->path,
		              (unsigned)(w->mode & 07777));
	if (password)
		return fail(w, at, "'conninfo' must not hold a password (the libpq keyword 'password', the "
		            "password of a URI's user part or its ?password=): libpq reads it from the file "
		            "named by PGPASSFILE (the systemd credential pgpass), PGPASSWORD or ~/.pgpass%s%s%s",
		            readable ? "; " : "", gf_buf_str(&mode),
		            readable ? ": take that password as known and change it" : "");
	if (*secret && readable)
		return fail(w, at, "'conninfo' holds a secret (libpq keyword %s) but %s: make it readable by "
		            "its owner only (chmod 600 %s)", secret, gf_buf_str(&mode), w->path);
	return 0;
}

/* SMTP authentication: the user in the URL or smtp_user, the password only
 * from a file (smtp_password_file or the systemd credential smtp-password),
 * read when a mail is sent. */
static int validate_alerting(struct walk *w, void *obj, yaml_node_t *const *vals, const yaml_mark_t *where)
{
	const struct gf_config *cfg = obj;
	yaml_node_t *user = vals[key_index(&alerting_section, "smtp_user")];
	yaml_node_t *pwf = vals[key_index(&alerting_section, "smtp_password_file")];
	(void)where;
	if (!cfg->smtp_url) {
		yaml_node_t *n = user ? user : pwf;
		if (!n)
			return 0;
		return fail(w, &n->start_mark, "'%s' in 'alerting' has no effect without 'smtp_url'",
		            n == user ? "smtp_user" : "smtp_password_file");
	}
	_cleanup_buf_ struct gf_buf why = GF_BUF_INIT(MSG_MAX);
	bool url_user = false, url_password = false;
	(void)url_parts(cfg->smtp_url, &why, &url_user, &url_password); /* read before, in check_smtp_url */
	if (url_user && user)
		return fail(w, &user->start_mark, "'smtp_user' in 'alerting' and the user part of 'smtp_url' "
		            "both name the SMTP user: keep one");
	if (pwf && !url_user && !user)
		return fail(w, &pwf->start_mark, "'smtp_password_file' in 'alerting' needs a user: set "
		            "alerting.smtp_user (or the user part of smtp_url)");
	return 0;
}

static int validate_main(struct walk *w, void *obj, yaml_node_t *const *vals, const yaml_mark_t *where)
{
	yaml_node_t *n = vals[key_index(&main_section, "jobs_dir")];
	if (n) {
		w->have_jobs_dir_mark = true;
		w->jobs_dir_mark = n->start_mark;
	}
	return 0;
}

/* ---- libyaml ------------------------------------------------------------- */

static void parser_freep(yaml_parser_t *p) { yaml_parser_delete(p); }
static void document_freep(yaml_document_t *d) { yaml_document_delete(d); }
static void event_freep(yaml_event_t *e) { yaml_event_delete(e); }

static int syntax_error(struct walk *w, const yaml_parser_t *p, const char *data, size_t len)
{
	yaml_mark_t m = p->problem_mark;
	const char *problem = p->problem ? p->problem : "invalid YAML";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return fail(w, NULL, "out of memory while parsing");
	case YAML_READER_ERROR:
		/* The reader only knows the byte offset: work out line and column. */
		m.line = m.column = 0;
		for (size_t i = 0; i < p->problem_offset && i < len; i++) {
			if (data[i] == '\n') {
				m.line++;
				m.column = 0;
			} else if (((unsigned char)data[i] & 0xc0) != 0x80) {
				m.column++;
			}
		}
		if (p->problem_value != -1)
			return fail(w, &m, "%s (byte 0x%02x): the file must be UTF-8 text", problem,
			            (unsigned)p->problem_value & 0xffu);
		return fail(w, &m, "%s: the file must be UTF-8 text", problem);
	default:
		if (p->context)
			return fail(w, &m, "%s (%s at line %zu, column %zu)", problem, p->context,
			            p->context_mark.line + 1, p->context_mark.column + 1);
		return fail(w, &m, "%s", problem);
	}
}

/* Reject what the loader would silently accept but we do not want: aliases
 * (shared and even cyclic nodes — no billion laughs), anchors, several
 * documents in one file and deep nesting (libyaml's scanner is quadratic in
 * the flow nesting depth: a 1 MiB "[[[[…" takes minutes; stopping at the first
 * event past MAX_DEPTH bounds the work). Also reports syntax errors. */
static int prescan(struct walk *w, const char *data, size_t len)
{
	_cleanup_(parser_freep) yaml_parser_t p;
	unsigned docs = 0, depth = 0;

	memset(&p, 0, sizeof(p));
	if (!yaml_parser_initialize(&p))
		return fail(w, NULL, "out of memory while parsing");
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);

	for (;;) {
		_cleanup_(event_freep) yaml_event_t ev;
		if (!yaml_parser_parse(&p, &ev)) {
			memset(&ev, 0, sizeof(ev));
			return syntax_error(w, &p, data, len);
		}
		const yaml_char_t *anchor = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			return 0;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				return fail(w, &ev.start_mark, "only one YAML document is allowed in a file");
			break;
		case YAML_ALIAS_EVENT:
			return fail(w, &ev.start_mark, "aliases (*%.64s) are not supported: write the value out",
			            (const char *)ev.data.alias.anchor);
		case YAML_SCALAR_EVENT:
			anchor = ev.data.scalar.anchor;
			break;
		case YAML_SEQUENCE_START_EVENT:
			anchor = ev.data.sequence_start.anchor;
			depth++;
			break;
		case YAML_MAPPING_START_EVENT:
			anchor = ev.data.mapping_start.anchor;
			depth++;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		if (anchor)
			return fail(w, &ev.start_mark, "anchors (&%.64s) are not supported: write the value out",
			            (const char *)anchor);
		if (depth > MAX_DEPTH)
			return fail(w, &ev.start_mark, "values are nested more than %d levels deep",
			            MAX_DEPTH);
	}
}

/* Parse data as one YAML mapping and walk it with the table of top. */
static int parse_yaml(struct walk *w, const char *data, size_t len, const struct section *top, void *obj)
{
	_cleanup_buf_ struct gf_buf b = GF_BUF_INIT(MSG_MAX);
	int r;

	list_keys(&b, top, false);
	if (len == 0)
		return fail(w, NULL, "file is empty (expected a mapping with keys %s)", gf_buf_str(&b));
	if ((r = prescan(w, data, len)) < 0)
		return r;

	_cleanup_(parser_freep) yaml_parser_t p;
	_cleanup_(document_freep) yaml_document_t doc;
	memset(&p, 0, sizeof(p));
	memset(&doc, 0, sizeof(doc));
	if (!yaml_parser_initialize(&p))
		return fail(w, NULL, "out of memory while parsing");
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
	if (!yaml_parser_load(&p, &doc)) {
		memset(&doc, 0, sizeof(doc)); /* libyaml already freed it */
		return syntax_error(w, &p, data, len);
	}
	w->doc = &doc;

	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root || is_null(root))
		r = fail(w, NULL, "file is empty (expected a mapping with keys %s)", gf_buf_str(&b));
	else if (root->type != YAML_MAPPING_NODE)
		r = fail(w, &root->start_mark, "expected a mapping with keys %s at the top level, got %s",
		         gf_buf_str(&b), node_kind(root));
	else
		r = walk_section(w, top, obj, root, NULL);
	w->doc = NULL;
	return r;
}

/* Read a config file (at most 1 MiB) or fill err; *mode gets its
 * permission bits (mode may be NULL). */
static int read_config_file(const char *path, char **data, size_t *len, mode_t *mode,
                            struct gf_config_error *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return set_error(err, path, NULL, "cannot read file: %s", gf_strerror(errno));
	if (!S_ISREG(st.st_mode))
		return set_error(err, path, NULL, "cannot read file: not a regular file");
	if ((uint64_t)st.st_size > MAX_FILE_BYTES)
		return set_error(err, path, NULL, "file is larger than 1 MiB; refusing to load it");
	/* One byte more than allowed so that a file grown since stat() is caught. */
	int r = gf_read_file(path, MAX_FILE_BYTES + 1, data, len);
	if (r == -GF_E_TOO_BIG)
		return set_error(err, path, NULL, "file is larger than 1 MiB; refusing to load it");
	if (r < 0)
		return set_error(err, path, NULL, "cannot read file: %s", gf_strerror(r));
	if (mode)
		*mode = st.st_mode;
	return 0;
}

/* ---- jobs ---------------------------------------------------------------- */

void gf_strv_free(struct gf_strv *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	l->v = gf_free(l->v);
	l->n = 0;
}

void gf_job_free(struct gf_job *job)
{
	if (!job)
		return;
	free_strings(&job_section, job);
	free(job->path);
	free(job);
}

static void job_freep(struct gf_job **j) { gf_job_free(*j); }

int gf_job_parse(const char *data, size_t len, const char *path, const char *name_hint,
                 struct gf_job **out, struct gf_config_error *err)
{
	struct gf_config_error dummy;
	if (!err)
		err = &dummy;
	err->text[0] = '\0';
	if (!path)
		path = "(job)";

	_cleanup_(job_freep) struct gf_job *job = gf_xcalloc(1, sizeof(*job));
	apply_defaults(&job_section, job);
	job->path = gf_xstrdup(path);

	struct walk w = { .path = path, .name_hint = name_hint, .err = err };
	int r = parse_yaml(&w, data, len, &job_section, job);
	if (r < 0)
		return r;
	*out = job;
	job = NULL;
	return 0;
}

/* The job name a file must hold: its base name without ".yaml". */
static char *name_from_path(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".yaml") == 0)
		n -= 5;
	return gf_xstrndup(base, n);
}

int gf_job_load(const char *path, struct gf_job **out, struct gf_config_error *err)
{
	struct gf_config_error dummy;
	if (!err)
		err = &dummy;
	err->text[0] = '\0';

	_cleanup_free_ char *data = NULL;
	_cleanup_free_ char *hint = name_from_path(path);
	size_t len = 0;
	int r = read_config_file(path, &data, &len, NULL, err);
	if (r < 0)
		return r;
	return gf_job_parse(data, len, path, hint, out, err);
}

/* ---- the main file ------------------------------------------------------ */

void gf_config_free(struct gf_config *cfg)
{
	if (!cfg)
		return;
	free_strings(&main_section, cfg);
	for (size_t i = 0; i < cfg->n_partners; i++) {
		free(cfg->partners[i].partner);
		free(cfg->partners[i].email);
	}
	free(cfg->partners);
	for (size_t i = 0; i < cfg->n_jobs; i++)
		gf_job_free(cfg->jobs[i]);
	free(cfg->jobs);
	for (size_t i = 0; i < cfg->n_unread_job_files; i++)
		free(cfg->unread_job_files[i]);
	free(cfg->unread_job_files);
	free(cfg->path);
	free(cfg);
}

static void config_freep(struct gf_config **c) { gf_config_free(*c); }

static int config_parse(const char *data, size_t len, const char *path, const mode_t *mode,
                        struct gf_config **out, struct gf_config_error *err, struct walk *w)
{
	err->text[0] = '\0';
	if (!path)
		path = "(config)";

	_cleanup_(config_freep) struct gf_config *cfg = gf_xcalloc(1, sizeof(*cfg));
	apply_defaults(&main_section, cfg);
	cfg->path = gf_xstrdup(path);

	*w = (struct walk){ .path = path, .err = err, .have_mode = mode != NULL, .mode = mode ? *mode : 0 };
	int r = parse_yaml(w, data, len, &main_section, cfg);
	if (r < 0)
		return r;

	/* A relative jobs_dir is relative to the main file, not to the cwd. */
	const char *slash = strrchr(path, '/');
	if (cfg->jobs_dir[0] != '/' && slash) {
		char *abs = gf_xasprintf("%.*s/%s", (int)(slash - path), path, cfg->jobs_dir);
		free(cfg->jobs_dir);
		cfg->jobs_dir = abs;
	}
	*out = cfg;
	cfg = NULL;
	return 0;
}

int gf_config_parse(const char *data, size_t len, const char *path, struct gf_config **out,
                    struct gf_config_error *err)
{
	struct gf_config_error dummy;
	struct walk w;
	return config_parse(data, len, path, NULL, out, err ? err : &dummy, &w);
}

static int cmp_job_name(const void *key, const void *elem)
{
	return strcmp(key, (*(struct gf_job *const *)elem)->name);
}

const struct gf_job *gf_config_find_job(const struct gf_config *cfg, const char *name)
{
	if (!cfg || !name || cfg->n_jobs == 0)
		return NULL;
	struct gf_job **j = bsearch(name, cfg->jobs, cfg->n_jobs, sizeof(*cfg->jobs), cmp_job_name);
	return j ? *j : NULL;
}

const struct gf_job *gf_config_twin_job(const struct gf_config *cfg, const struct gf_job *job)
{
	for (size_t i = 0; cfg && i < cfg->n_jobs; i++) {
		const struct gf_job *o = cfg->jobs[i];
		if (o == job || !o->enabled || strcmp(o->partner, job->partner) != 0 ||
		    strcmp(o->format, job->format) != 0 || strcmp(o->endpoint, job->endpoint) != 0)
			continue;
		for (size_t a = 0; a < job->statuses.n; a++)
			for (size_t b = 0; b < o->statuses.n; b++)
				if (strcmp(job->statuses.v[a], o->statuses.v[b]) == 0)
					return o;
	}
	return NULL;
}

int gf_config_add_job(struct gf_config *cfg, struct gf_job *job, struct gf_config_error *err)
{
	struct gf_config_error dummy;
	if (!err)
		err = &dummy;
	size_t i = 0;
	while (i < cfg->n_jobs && strcmp(cfg->jobs[i]->name, job->name) < 0)
		i++;
	if (i < cfg->n_jobs && strcmp(cfg->jobs[i]->name, job->name) == 0)
		return set_error(err, job->path ? job->path : "(job)", NULL,
		                 "duplicate job name '%s' (also defined in %s)", job->name,
		                 cfg->jobs[i]->path ? cfg->jobs[i]->path : "(job)");
	/* A connection holds the credentials of one format: its partner's jobs
	 * all send that one. */
	for (size_t k = 0; k < cfg->n_jobs; k++)
		if (strcmp(cfg->jobs[k]->partner, job->partner) == 0 && cfg->jobs[k]->output != job->output)
			return set_error(err, job->path ? job->path : "(job)", NULL,
			                 "job '%s' sends %s to partner '%s', which job '%s' (%s) sends %s: a partner's"
			                 " connections hold the credentials of one format, so all its jobs must use it",
			                 job->name, job->format, job->partner, cfg->jobs[k]->name,
			                 cfg->jobs[k]->path ? cfg->jobs[k]->path : "(job)", cfg->jobs[k]->format);
	cfg->jobs = gf_xrealloc(cfg->jobs, (cfg->n_jobs + 1) * sizeof(*cfg->jobs));
	memmove(cfg->jobs + i + 1, cfg->jobs + i, (cfg->n_jobs - i) * sizeof(*cfg->jobs));
	cfg->jobs[i] = job;
	cfg->n_jobs++;
	return 0;
}

struct names {
	char **v;
	size_t n;
};

static void names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

static void dir_closep(DIR **d)
{
	if (*d)
		closedir(*d);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Job file names in dir: "*.yaml", not hidden, sorted (byte order). */
/* A name a job file may have been meant to have: *.yml, or .yaml in
 * another case. */
static bool looks_like_job_file(const char *name, size_t n)
{
	return name[0] != '.' && ((n > 4 && strcasecmp(name + n - 4, ".yml") == 0) ||
	                          (n > 5 && strcasecmp(name + n - 5, ".yaml") == 0));
}

/* The job files of dir (*.yaml) into out, and into odd the names that look
 * like one and are not read. */
static int list_job_files(const char *dir, struct names *out, struct names *odd)
{
	_cleanup_(dir_closep) DIR *d = opendir(dir);
	if (!d)
		return -errno;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno)
				return -errno;
			break;
		}
		size_t n = strlen(de->d_name);
		if (de->d_name[0] == '.' || n <= 5 || strcmp(de->d_name + n - 5, ".yaml") != 0) {
			if (looks_like_job_file(de->d_name, n)) {
				odd->v = gf_xrealloc(odd->v, (odd->n + 1) * sizeof(*odd->v));
				odd->v[odd->n++] = gf_xstrdup(de->d_name);
			}
			continue;
		}
		out->v = gf_xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
		out->v[out->n++] = gf_xstrdup(de->d_name);
	}
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_str);
	if (odd->n)
		qsort(odd->v, odd->n, sizeof(*odd->v), cmp_str);
	return 0;
}

int gf_config_load(const char *path, struct gf_config **out, struct gf_config_error *err)
{
	struct gf_config_error dummy;
	if (!err)
		err = &dummy;
	err->text[0] = '\0';

	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	mode_t mode = 0;
	int r = read_config_file(path, &data, &len, &mode, err);
	if (r < 0)
		return r;

	_cleanup_(config_freep) struct gf_config *cfg = NULL;
	struct walk w;
	if ((r = config_parse(data, len, path, &mode, &cfg, err, &w)) < 0)
		return r;
	const yaml_mark_t *dir_mark = w.have_jobs_dir_mark ? &w.jobs_dir_mark : NULL;

	_cleanup_(names_free) struct names files = { NULL, 0 };
	_cleanup_(names_free) struct names odd = { NULL, 0 };
	r = list_job_files(cfg->jobs_dir, &files, &odd);
	if (r == -ENOENT)
		return set_error(err, path, dir_mark, "jobs directory '%s' does not exist", cfg->jobs_dir);
	if (r < 0)
		return set_error(err, path, dir_mark, "cannot read jobs directory '%s': %s", cfg->jobs_dir,
		                 gf_strerror(r));

	size_t dl = strlen(cfg->jobs_dir);
	while (dl > 0 && cfg->jobs_dir[dl - 1] == '/')
		dl--; /* "/" becomes "", so files are "/x.yaml" */
	for (size_t i = 0; i < files.n; i++) {
		_cleanup_free_ char *jpath = gf_xasprintf("%.*s/%s", (int)dl, cfg->jobs_dir, files.v[i]);
		_cleanup_(job_freep) struct gf_job *job = NULL;
		if ((r = gf_job_load(jpath, &job, err)) < 0)
			return r;
		if ((r = gf_config_add_job(cfg, job, err)) < 0)
			return r;
		job = NULL;
	}
	cfg->unread_job_files = gf_xcalloc(odd.n ? odd.n : 1, sizeof(*cfg->unread_job_files));
	for (size_t i = 0; i < odd.n; i++)
		cfg->unread_job_files[cfg->n_unread_job_files++] = gf_xasprintf("%.*s/%s", (int)dl, cfg->jobs_dir, odd.v[i]);
	*out = cfg;
	cfg = NULL;
	return 0;
}

const char *gf_config_default_path(const char *explicit_path)
{
	if (explicit_path && *explicit_path)
		return explicit_path;
	const char *env = getenv("GUESTFLOW_CONFIG");
	if (env && *env)
		return env;
	return GF_SYSCONFDIR "/guestflow.yaml";
}

const char **gf_config_partner_jobs(const struct gf_config *cfg, const char *partner, size_t *n)
{
	const char **jobs = gf_xcalloc(cfg->n_jobs ? cfg->n_jobs : 1, sizeof(*jobs));
	*n = 0;
	for (size_t i = 0; i < cfg->n_jobs; i++)
		if (strcmp(cfg->jobs[i]->partner, partner) == 0)
			jobs[(*n)++] = cfg->jobs[i]->name;
	return jobs;
}

const char *gf_config_partner_email(const struct gf_config *cfg, const char *partner)
{
	for (size_t i = 0; i < cfg->n_partners; i++)
		if (strcmp(cfg->partners[i].partner, partner) == 0)
			return cfg->partners[i].email;
	return NULL;
}
