/* Logging: one key=value line per event on stderr, journald-friendly. */
#ifndef GF_LOG_H
#define GF_LOG_H

#include <stdint.h>

#include "base/util.h"

enum gf_log_level { GF_LOG_ERROR, GF_LOG_WARN, GF_LOG_INFO, GF_LOG_DEBUG };

void gf_log_set_level(enum gf_log_level level);
enum gf_log_level gf_log_get_level(void);
/* "error", "warn", "info", "debug"; -EINVAL otherwise. */
int gf_log_parse_level(const char *s, enum gf_log_level *out);
/* Job and run id added to every line from now on (job NULL: none). */
void gf_log_set_context(const char *job, int64_t run_id);

/* Writes "level=L [run_id=R job=J] event=E <fields>"; fields is a printf
 * format producing key=value pairs. Values that may hold spaces or quotes go
 * through gf_log_q(). */
void gf_log(enum gf_log_level level, const char *event, const char *fields, ...) GF_PRINTF(3, 4);

/* Quote a value for a key=value line: returns s itself when it needs no
 * quoting, else a quoted, escaped copy kept in a small ring of four
 * thread-local slots (valid for the next three calls only). In the copy,
 * '"' and '\\' are escaped, a newline is \n, other control characters and
 * invalid UTF-8 bytes are \xHH, C1 controls, bidi controls (U+202A..U+202E,
 * U+2066..U+2069, ...) and line separators \uHHHH: nothing in it can move a
 * terminal's cursor, change its colours or reorder what it shows. The value
 * of an access_key parameter is shown as ***. Truncated at 512 bytes. */
const char *gf_log_q(const char *s);

/* The same for text shown on a terminal by explain, status and log: s itself
 * when it is safe text as it is (valid UTF-8 without anything escaped above,
 * at most 4096 bytes), else the quoted, escaped copy (its own ring of four
 * slots). Plain text with spaces stays readable; anything else is quoted, so
 * that an escape is never mistaken for the text. */
const char *gf_log_qt(const char *s);
/* As gf_log_qt (term) or gf_log_q, unless s begins or ends with white space
 * or holds a character a terminal shows as nothing or as a plain space
 * (gf_text_cp_blank): then always quoted, those characters as \uHHHH, so
 * that "checked_out " or "checked_out\u200b" never looks like
 * "checked_out" (explain). Valid until the fourth call after. */
const char *gf_log_qv(const char *s, bool term);

#define gf_error(ev, ...) gf_log(GF_LOG_ERROR, ev, __VA_ARGS__)
#define gf_warn(ev, ...) gf_log(GF_LOG_WARN, ev, __VA_ARGS__)
#define gf_info(ev, ...) gf_log(GF_LOG_INFO, ev, __VA_ARGS__)
#define gf_debug(ev, ...) gf_log(GF_LOG_DEBUG, ev, __VA_ARGS__)

#endif
