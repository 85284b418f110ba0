/* Small shared helpers: cleanup attributes, error codes, array sizes, time. */
#ifndef GF_UTIL_H
#define GF_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

#define GF_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define GF_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define GF_UNUSED __attribute__((unused))

/* Error codes beyond errno, returned negated like errno values. */
enum {
	GF_E_BASE = 1000,
	GF_E_CONFIG,      /* configuration is invalid */
	GF_E_DB,          /* database error */
	GF_E_DB_LOST,     /* connection to the database lost */
	GF_E_SCHEMA,      /* database schema missing, too old or too new */
	GF_E_DATA,        /* bad input data */
	GF_E_RENDER,      /* a record could not be rendered */
	GF_E_REPLY,       /* a partner reply could not be understood */
	GF_E_TOO_BIG,     /* a buffer reached its cap */
	GF_E_INTERRUPTED, /* stopped by a signal */
};

/* Exit codes (sysexits.h values; DESIGN.md section 5). */
enum {
	GF_EXIT_OK = 0,
	GF_EXIT_PARTIAL = 1,
	GF_EXIT_USAGE = 64,
	GF_EXIT_DATAERR = 65,
	GF_EXIT_UNAVAILABLE = 69,
	GF_EXIT_SOFTWARE = 70,
	GF_EXIT_CANTCREAT = 73,
	GF_EXIT_IOERR = 74,
	GF_EXIT_TEMPFAIL = 75,
	GF_EXIT_CONFIG = 78,
};

/* free() that takes NULL and returns NULL, for p = gf_free(p). */
static inline void *gf_free(void *p)
{
	free(p);
	return NULL;
}

static inline void gf_freep(void *p)
{
	free(*(void **)p);
	*(void **)p = NULL;
}
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(gf_freep)

/* Allocation that aborts on failure: out of memory is not recoverable here. */
_Noreturn void gf_oom(void);
void *gf_xmalloc(size_t n);
void *gf_xcalloc(size_t n, size_t size);
void *gf_xrealloc(void *p, size_t n);
char *gf_xstrdup(const char *s);
char *gf_xstrndup(const char *s, size_t n);
char *gf_xasprintf(const char *fmt, ...) GF_PRINTF(1, 2);

/* Monotonic and wall clocks in milliseconds. */
int64_t gf_now_mono_ms(void);
int64_t gf_now_wall_ms(void);

/* Parse a duration: "500ms", "30s", "10m", "2h", "14d" or a plain number of
 * seconds. Returns 0 and sets *ms, or -EINVAL. */
int gf_parse_duration_ms(const char *s, int64_t *ms);

/* Strict decimal integer parse of the whole string; -EINVAL or -ERANGE. */
int gf_parse_int64(const char *s, int64_t *out);

/* A whole number from the environment variable name, within [min, max];
 * def when it is unset. A value that is not a whole number or lies outside
 * the range is not used: a warning names the variable, the value, the range
 * and the default, and def is returned (a stray setting must not change
 * how a nightly run behaves, nor overflow what is computed from it). */
int64_t gf_env_number(const char *name, int64_t min, int64_t max, int64_t def);

/* Replace path with data as a whole: a temporary file beside it, of a name
 * nobody can guess (".NAME.XXXXXX", hidden from the readers of *.prom,
 * *.conf or cron.d), created by mkstemp (O_EXCL: never through a symlink or
 * into a file someone planted), given mode, written, flushed to disk, then
 * renamed over path (rename replaces a symlink at path itself, never its
 * target). 0 or -errno; nothing is left behind on failure. */
int gf_replace_file(const char *path, const char *data, size_t len, mode_t mode);

/* Whole file into a NUL-terminated buffer (caller frees), at most max bytes. */
int gf_read_file(const char *path, size_t max, char **out, size_t *len);

/* The first line of a file, without its CR LF or LF (caller frees): 0, or
 * -errno, or -ENODATA when that line is empty. */
int gf_read_first_line(const char *path, char **out);

/* snprintf into a reason buffer; does nothing when why is NULL or whylen 0. */
void gf_set_why(char *why, size_t whylen, const char *fmt, ...) GF_PRINTF(3, 4);

/* 0 when s is an e-mail address as guestflow takes one (a partner's, for
 * its notices): something@domain, one '@', printable ASCII without spaces
 * or the characters that end an address in a header (<>(),;:"\\), at most
 * 254 characters (the longest SMTP carries), the
 * rule of migration 0009's CHECKs. Else -EINVAL with why (the address not
 * quoted: it may hold the characters refused). */
int gf_check_email(const char *s, char *why, size_t whylen);

/* Human message for an error code (errno or GF_E_*), never NULL. */
const char *gf_strerror(int err);

#endif
